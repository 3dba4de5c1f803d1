"""Reports of one run, written under ``reports/<run-id>/``: JSON, JUnit XML, Markdown, HTML.

The runner hands over a :class:`RunReport`; :func:`write_reports` renders every registered
writer's file in memory and puts it in place atomically, so a reader (a CI step, a browser)
never sees half a report. Writers register in :data:`REPORT_WRITERS` with
:func:`report_writer`; the built-in ones are imported on first use, which keeps matplotlib
and Jinja2 out of ``import harness``.

Every failing case carries its seed, its fault chain and a one-line replay command.
"""

from __future__ import annotations

import importlib
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.atomic import write_bytes
from harness.metrics import percentile
from harness.observation import Observation, Outcome
from harness.registry import Registry
from harness.slo import Verdict

__all__ = [
    "REPORT_WRITERS",
    "FailingCase",
    "ReportWriter",
    "RunReport",
    "ScenarioResult",
    "fault_chain",
    "report_writer",
    "verdict_status",
    "write_reports",
]

STATUSES = ("passed", "failed", "xfailed", "xpassed")
"""Possible :attr:`ScenarioResult.status` values; ``failed`` and ``xpassed`` fail the run."""

BAD_OUTCOMES = frozenset({Outcome.GARBAGE, Outcome.UNDECLARED_ERROR, Outcome.TIMEOUT, Outcome.CRASH})
"""Outcomes that make a case a failing case whatever the SLOs say."""

_BUILTIN_WRITERS = ("json_report", "junit", "markdown", "html")


@dataclass(slots=True)
class ScenarioResult:
    """One scenario run against one target: verdicts, expected failures and the observations."""

    scenario: str
    description: str
    target: str
    """The target's label, as used in the scenario's ``xfail`` map."""
    verdicts: list[Verdict]
    xfail_reason: str | None
    expected_broken: list[str]
    """SLO texts expected to break for this target (xfail)."""
    status: str
    """One of :data:`STATUSES`."""
    observations: list[Observation] = field(default_factory=list)
    replay: str = ""
    """The command that reruns this scenario against this target with the same seed."""

    def outcome_counts(self) -> dict[str, int]:
        """Cases per outcome, every outcome present, in the order of :class:`Outcome`."""
        counts = {outcome.value: 0 for outcome in Outcome}
        for obs in self.observations:
            counts[obs.outcome.value] += 1
        return counts

    def latency_summary(self) -> dict[str, float | None]:
        """min, mean, p50, p90, p95, p99 and max latency in seconds (``None`` with no cases)."""
        values = [obs.latency for obs in self.observations]
        if not values:
            return dict.fromkeys(("min", "mean", "p50", "p90", "p95", "p99", "max"))
        summary: dict[str, float | None] = {"min": min(values), "mean": statistics.fmean(values)}
        summary.update({f"p{pct}": percentile(values, pct) for pct in (50, 90, 95, 99)})
        summary["max"] = max(values)
        return summary

    def failing_cases(self) -> list[FailingCase]:
        """Cases with a bad outcome or named by a broken SLO, in case order."""
        broken = [v for v in self.verdicts if not v.passed]
        offending = [(v.slo.text, set(v.offending)) for v in broken]
        failing = []
        for obs in self.observations:
            broke = [text for text, ids in offending if obs.case_id in ids]
            if broke or obs.outcome in BAD_OUTCOMES:
                failing.append(FailingCase(obs, broke))
        return failing


@dataclass(frozen=True, slots=True)
class FailingCase:
    """A case worth a look: its observation and the broken SLOs that name it."""

    observation: Observation
    broke: list[str]


@dataclass(slots=True)
class RunReport:
    """One ``harness run``: metadata and a result per scenario and target."""

    run_id: str
    started_at: str
    """ISO 8601 time the run started."""
    command: str
    """The command line, as typed."""
    seed: int | None
    """The ``--seed`` override, or ``None`` when each scenario used its own seed."""
    version: str
    """harness version."""
    duration: float
    """Wall seconds the run took."""
    results: list[ScenarioResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no result failed or passed unexpectedly (strict xfail)."""
        return all(r.status in ("passed", "xfailed") for r in self.results)

    def status_counts(self) -> dict[str, int]:
        """Results per status, every status present."""
        counts = dict.fromkeys(STATUSES, 0)
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts


def verdict_status(result: ScenarioResult, verdict: Verdict) -> str:
    """One SLO's status for one target: broken and expected → xfailed; held but expected → xpassed."""
    expected = verdict.slo.text in result.expected_broken
    if verdict.passed:
        return "xpassed" if expected else "passed"
    return "xfailed" if expected else "failed"


def fault_chain(obs: Observation) -> str:
    """The faults served to each model call: ``#1 http_status(status=429) [429] → #2 clean [200]``."""
    if not obs.calls:
        return "no model calls"
    return " → ".join(f"#{c.call} {'+'.join(c.faults) or 'clean'} [{c.status}]" for c in obs.calls)


Render = Callable[["RunReport"], bytes]
"""A writer's renderer: the whole file's bytes for a run."""


@dataclass(frozen=True, slots=True)
class ReportWriter:
    """A report format: its name, the file it writes and its renderer."""

    name: str
    filename: str
    render: Render


REPORT_WRITERS: Registry[ReportWriter] = Registry("report writer")
"""Every report format by name (``json``, ``junit``, ``markdown``, ``html``)."""


def report_writer(name: str, filename: str) -> Callable[[Render], Render]:
    """Register the decorated renderer as report format ``name`` writing ``filename``."""

    def decorate(render: Render) -> Render:
        REPORT_WRITERS.add(name, ReportWriter(name, filename, render))
        return render

    return decorate


def write_reports(report: RunReport, folder: Path, formats: Iterable[str] | None = None) -> dict[str, Path]:
    """Write each format (all registered by default) atomically into ``folder``; name → path.

    A writer that fails does not stop the others (a broken plot must not cost CI its
    junit.xml); the first failure is raised once the rest are written.
    """
    for module in _BUILTIN_WRITERS:
        importlib.import_module(f"{__name__}.{module}")
    names = list(REPORT_WRITERS) if formats is None else list(formats)
    writers = [REPORT_WRITERS.get(name) for name in names]
    written: dict[str, Path] = {}
    errors: list[Exception] = []
    for writer in writers:
        try:
            written[writer.name] = write_bytes(folder / writer.filename, writer.render(report))
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    return written


def results_by_scenario(results: Sequence[ScenarioResult]) -> dict[str, list[ScenarioResult]]:
    """Results grouped by scenario name, in first-seen order."""
    grouped: dict[str, list[ScenarioResult]] = {}
    for result in results:
        grouped.setdefault(result.scenario, []).append(result)
    return grouped


def short_target(label: str) -> str:
    """A compact target name for tables and test names: ``py:pkg.naive:extract`` → ``naive.extract``."""
    if not label.startswith("py:"):
        return label
    module, _, name = label.removeprefix("py:").partition(":")
    return f"{module.rsplit('.', 1)[-1]}.{name}" if name else module
