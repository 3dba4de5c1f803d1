"""The reports of one load run, written into its folder: the harness's own and Locust's.

:func:`write_load_reports` writes, each file atomically (:mod:`harness.atomic`):

- ``report.json`` — versioned (:data:`LOAD_REPORT_VERSION`, ``"kind": "load"``): settings,
  verdicts, totals, the fault mix served and every one-second sample;
- ``junit.xml`` — one ``<testcase>`` per SLO (xfail entries as ``<skipped>``, strict);
- ``summary.md`` — verdicts, totals and fault mix for a CI job summary;
- ``report.html`` — self-contained: latency p50/p95/p99, requests/s and users, and the
  target's RSS over time, and the fault mix served, as inline SVG;
- ``samples.csv`` — the one-second samples as a table;

and, given the Locust ``Environment`` of the run (the master's, when distributed),
Locust's own ``locust.html`` report and its CSV statistics (``locust_stats.csv``,
``locust_failures.csv``, ``locust_exceptions.csv``; ``locust_stats_history.csv`` is
appended during the run by :func:`start_locust_csv`, as ``locust --csv`` does).

Only the Locust part imports Locust, and only when called: this module is safe to import
anywhere (no gevent monkey-patching).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from harness.atomic import write_bytes, write_text
from harness.load.model import LoadRun, LoadSample, ranked_faults
from harness.metrics import METRICS, Unit, format_value
from harness.reports import short_target
from harness.reports.html import TEMPLATES, _measured
from harness.reports.junit import _fail
from harness.reports.junit import _xml_text as _xml
from harness.reports.markdown import STATUS_MARK
from harness.slo import Verdict

__all__ = [
    "LOAD_REPORT_VERSION",
    "load_verdict_status",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_samples_csv",
    "report_data",
    "skipped_slos",
    "start_locust_csv",
    "write_load_reports",
    "write_locust_reports",
]

LOAD_REPORT_VERSION = 1
"""Bumped when a field of ``report.json`` changes meaning or goes away; new fields do not bump it."""
LOCUST_PREFIX = "locust"
"""File name prefix of Locust's own report and CSV files in the run's folder."""
_FAULT_ROWS = 15
_LATENCY_METRICS = frozenset({"p50", "p90", "p95", "p99", "max_latency", "mean_latency"})
_MEMORY_METRICS = frozenset({"peak_rss", "peak_memory"})

Render = Callable[[LoadRun], bytes]


def write_load_reports(run: LoadRun, folder: Path, environment: Any | None = None) -> dict[str, Path]:
    """Write every harness report (and Locust's, given its ``Environment``) into ``folder``; name → path.

    A writer that fails does not stop the others (a broken plot must not cost CI its
    junit.xml); the first failure is raised once the rest are written.
    """
    writers: dict[str, tuple[str, Render]] = {
        "json": ("report.json", render_json),
        "junit": ("junit.xml", render_junit),
        "markdown": ("summary.md", render_markdown),
        "samples": ("samples.csv", render_samples_csv),
        "html": ("report.html", render_html),
    }
    written: dict[str, Path] = {}
    errors: list[Exception] = []
    for name, (filename, render) in writers.items():
        try:
            written[name] = write_bytes(folder / filename, render(run))
        except Exception as exc:
            errors.append(exc)
    if environment is not None:
        try:
            written.update(write_locust_reports(environment, folder))
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    return written


SKIPPED_PREFIX = "skipped: "
"""Totals keys of this form also name a skipped SLO (``skipped: <slo>`` → reason)."""


def skipped_slos(run: LoadRun) -> dict[str, str]:
    """SLOs the run did not judge, with the reason: :attr:`LoadRun.skipped` and ``skipped: …`` totals."""
    found = {k.removeprefix(SKIPPED_PREFIX): str(v) for k, v in run.totals.items() if _is_skip_key(k)}
    return {**found, **run.skipped}


def _is_skip_key(key: object) -> bool:
    return isinstance(key, str) and key.startswith(SKIPPED_PREFIX)


def _plain_totals(run: LoadRun) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in run.totals.items() if not _is_skip_key(k)]


def load_verdict_status(run: LoadRun, verdict: Verdict) -> str:
    """One SLO's status: broken and expected → xfailed; held but expected → xpassed (strict)."""
    expected = run.xfail_reason is not None and verdict.slo.text in run.expected_broken
    if verdict.passed:
        return "xpassed" if expected else "passed"
    return "xfailed" if expected else "failed"


# --- report.json ----------------------------------------------------------------------------------


def render_json(run: LoadRun) -> bytes:
    """The run as indented JSON with sorted keys."""
    text = json.dumps(report_data(run), indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8", "backslashreplace")


def report_data(run: LoadRun) -> dict[str, Any]:
    """The run as JSON-ready data."""
    from harness import __version__

    settings = asdict(run.settings)
    settings["report_dir"] = str(run.settings.report_dir)
    xfail = None
    if run.xfail_reason is not None:
        xfail = {"reason": run.xfail_reason, "slos": list(run.expected_broken)}
    return {
        "version": LOAD_REPORT_VERSION,
        "kind": "load",
        "run": {
            "scenario": run.scenario,
            "description": run.description,
            "target": run.target,
            "started_at": run.started_at,
            "wall": run.wall,
            "command": run.command,
            "harness_version": __version__,
            "stopped_by": run.stopped_by,
            "target_exit": run.target_exit,
        },
        "settings": settings,
        "summary": {"ok": run.ok, "status": run.status},
        "xfail": xfail,
        "verdicts": [{**v.to_json(), "status": load_verdict_status(run, v)} for v in run.verdicts],
        "skipped": skipped_slos(run),
        "totals": run.totals,
        "faults_served": dict(sorted(run.faults_served.items())),
        "samples": [asdict(sample) for sample in run.samples],
    }


# --- junit.xml ------------------------------------------------------------------------------------


def render_junit(run: LoadRun) -> bytes:
    """The run as JUnit XML: one suite (the scenario), one test case per SLO."""
    suite = ET.Element("testsuite", name=f"load:{run.scenario}", time=f"{run.wall:.3f}")
    prefix = f"load:{run.scenario}[{short_target(run.target)}]"
    for verdict in run.verdicts:
        suite.append(_verdict_case(run, prefix, verdict))
    for text, reason in skipped_slos(run).items():
        case = ET.SubElement(suite, "testcase", name=_xml(f"{prefix} {text}"), classname=_xml(run.scenario))
        ET.SubElement(case, "skipped", message=_xml(f"not measured under load: {reason}"))
    if run.status in ("failed", "xpassed") and not any(c.find("failure") is not None for c in suite):
        case = ET.SubElement(suite, "testcase", name=_xml(prefix), classname=_xml(run.scenario))
        _fail(case, f"{run.status}: {run.xfail_reason or run.stopped_by}", _context(run))
    if not len(suite):
        ET.SubElement(suite, "testcase", name=_xml(prefix), classname=_xml(run.scenario))
    counts = {
        "tests": len(suite),
        "failures": sum(case.find("failure") is not None for case in suite),
        "errors": 0,
        "skipped": sum(case.find("skipped") is not None for case in suite),
    }
    for key, value in counts.items():
        suite.set(key, str(value))
    out = ET.SubElement(suite, "system-out")
    out.text = _xml(_context(run))
    root = ET.Element("testsuites", name="harness load", time=f"{run.wall:.3f}")
    root.append(suite)
    for key, value in counts.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _verdict_case(run: LoadRun, prefix: str, verdict: Verdict) -> ET.Element:
    case = ET.Element("testcase", name=_xml(f"{prefix} {verdict.slo.text}"), classname=_xml(run.scenario))
    status = load_verdict_status(run, verdict)
    if status == "failed":
        _fail(case, verdict.describe(), f"{verdict.describe()}\n{_context(run)}")
    elif status == "xpassed":
        _fail(case, f"XPASS(strict): expected to break ({run.xfail_reason}); {verdict.describe()}", "")
    elif status == "xfailed":
        ET.SubElement(case, "skipped", message=_xml(f"xfail: {run.xfail_reason}"))
    return case


def _context(run: LoadRun) -> str:
    """How the run ended and how to run it again: the tail of every failure text."""
    lines = [f"stopped by: {run.stopped_by}"]
    if run.target_exit:
        lines.append(f"target: {run.target_exit}")
    if run.command:
        lines.append(f"Reproduce with: {run.command}")
    return "\n".join(lines)


# --- summary.md -----------------------------------------------------------------------------------


def render_markdown(run: LoadRun) -> bytes:
    """The run as GitHub-flavoured Markdown."""
    return "\n".join(_markdown_lines(run)).encode("utf-8", "backslashreplace")


def _markdown_lines(run: LoadRun) -> Iterator[str]:
    settings = run.settings
    yield f"# harness load `{run.scenario}` × `{short_target(run.target)}`"
    yield ""
    yield f"**{STATUS_MARK.get(run.status, run.status)}** · {_how_long(run)} · stopped by {run.stopped_by}"
    yield ""
    workers = f", {settings.workers} workers" if settings.workers else ""
    yield (
        f"{settings.users} users at {settings.spawn_rate:g}/s for {settings.duration:g}s{workers}"
        f" · seed {settings.seed} · target `{run.target}`"
    )
    if run.target_exit:
        yield ""
        yield f"Target process: **{_cell(run.target_exit)}**"
    if run.xfail_reason is not None:
        yield ""
        yield f"Expected to break (xfail): {_cell(run.xfail_reason)}"
    yield ""
    yield "| SLO | measured | limit | status |"
    yield "|---|---:|---:|---|"
    for verdict in run.verdicts:
        status = load_verdict_status(run, verdict)
        yield (
            f"| `{verdict.slo.text}` | {_measured(verdict)} | {verdict.slo.value} "
            f"| {STATUS_MARK.get(status, status)} |"
        )
    for text, reason in skipped_slos(run).items():
        yield f"| `{text}` | - | - | ⏭️ skipped: {_cell(reason)} |"
    if not run.verdicts and not skipped_slos(run):
        yield "| (no SLOs) | | | |"
    yield ""
    yield from _markdown_totals(run)
    yield from _markdown_faults(run)
    if run.command:
        prefix = "Reproduce with" if not run.ok else "Run again with"
        yield f"{prefix}: `{run.command}`"
        yield ""


def _markdown_totals(run: LoadRun) -> Iterator[str]:
    if not run.totals:
        return
    yield "| total | value |"
    yield "|---|---:|"
    for key, value in _plain_totals(run):
        yield f"| {_cell(key)} | {_cell(format_total(key, value))} |"
    yield ""


def _markdown_faults(run: LoadRun) -> Iterator[str]:
    if not run.faults_served:
        return
    ranked = ranked_faults(run.faults_served)
    total = sum(run.faults_served.values()) or 1
    yield "| fault served | replies | share |"
    yield "|---|---:|---:|"
    for label, count in ranked[:_FAULT_ROWS]:
        yield f"| `{_cell(label)}` | {count} | {count / total:.1%} |"
    if len(ranked) > _FAULT_ROWS:
        yield f"| … {len(ranked) - _FAULT_ROWS} more in report.json | | |"
    yield ""


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _how_long(run: LoadRun) -> str:
    return f"{run.wall:.1f}s of {run.settings.duration:g}s"


# --- report.html ----------------------------------------------------------------------------------


def render_html(run: LoadRun) -> bytes:
    """The run as a self-contained HTML page with time-series plots and the fault mix."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    from markupsafe import Markup

    from harness import __version__
    from harness.load import plots

    latency_limits = _limits(run, _LATENCY_METRICS)
    memory_limits = _limits(run, _MEMORY_METRICS)
    svgs = {
        "latency": plots.latency_svg(run.samples, latency_limits, key="0"),
        "rps": plots.throughput_svg(run.samples, key="0"),
        "rss": plots.rss_svg(run.samples, memory_limits, key="0"),
        "faults": plots.fault_mix_svg(run.faults_served, key="0"),
    }
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    total = sum(run.faults_served.values()) or 1
    page = env.get_template("load_report.html.j2").render(
        run=run,
        version=__version__,
        target_short=short_target(run.target),
        verdicts=[
            {"verdict": v, "status": load_verdict_status(run, v), "measured": _measured(v)}
            for v in run.verdicts
        ],
        totals=[(key, format_total(key, value)) for key, value in _plain_totals(run)],
        skipped=skipped_slos(run),
        faults=[(label, count, f"{count / total:.1%}") for label, count in ranked_faults(run.faults_served)],
        # the SVG is generated by matplotlib from our own numbers
        plots={name: Markup(svg) if svg else None for name, svg in svgs.items()},
    )
    return page.encode("utf-8", "backslashreplace")


def _limits(run: LoadRun, metrics: frozenset[str]) -> list[tuple[str, float]]:
    return [(v.slo.text, v.limit) for v in run.verdicts if v.metric in metrics]


# --- samples.csv ----------------------------------------------------------------------------------


def render_samples_csv(run: LoadRun) -> bytes:
    """One row per one-second sample; the fault mix column as ``label=count;…``."""
    names = [f.name for f in fields(LoadSample)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for sample in run.samples:
        row = []
        for name in names:
            value = getattr(sample, name)
            if isinstance(value, dict):
                value = ";".join(f"{label}={count}" for label, count in sorted(value.items()))
            row.append("" if value is None else value)
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


# --- figures ----------------------------------------------------------------------------------------


def format_total(key: str, value: Any) -> str:
    """A total for people: SLO metric names in their unit (``p95`` → ``1.2s``), other numbers plainly."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    unit = METRICS.get(key).unit if key in METRICS else None
    if unit is not None:
        return format_value(unit, float(value))
    if key.endswith(("rss", "_bytes")):
        return format_value(Unit.SIZE, float(value))
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


# --- Locust's own reports ---------------------------------------------------------------------------


def write_locust_reports(environment: Any, folder: Path) -> dict[str, Path]:
    """Locust's HTML report and its final CSV statistics, from the run's ``Environment``; name → path."""
    from locust.html import get_html_report
    from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

    written = {
        "locust_html": write_text(folder / f"{LOCUST_PREFIX}.html", get_html_report(environment)),
    }
    table = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for name, dump in (
        ("stats", table.requests_csv),
        ("failures", table.failures_csv),
        ("exceptions", table.exceptions_csv),
    ):
        buffer = io.StringIO()
        dump(csv.writer(buffer))
        written[f"locust_{name}"] = write_text(folder / f"{LOCUST_PREFIX}_{name}.csv", buffer.getvalue())
    return written


def start_locust_csv(environment: Any, folder: Path) -> Callable[[], None]:
    """Start Locust's CSV writer (as ``locust --csv``) in a greenlet; returns the function that stops it.

    ``locust_stats_history.csv`` grows by one row a second during the run; the other CSV
    files it keeps rewriting are replaced by the atomic final ones :func:`write_locust_reports`
    writes after the stop.
    """
    import gevent
    from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = StatsCSVFileWriter(environment, PERCENTILES_TO_REPORT, str(folder / LOCUST_PREFIX))
    greenlet = gevent.spawn(writer.stats_writer)

    def stop() -> None:
        greenlet.kill(block=True)
        writer.close_files()

    return stop
