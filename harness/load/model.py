"""The data a load run produces: settings, one sample per second, and the finished run.

Shared by the engine (which fills it), the live display (which shows each sample as it comes)
and the reports (which plot the samples and judge the run). Plain data, no Locust import, so
the reports and tests can use it without gevent's monkey-patching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.slo import Verdict


@dataclass(frozen=True)
class LoadSettings:
    """How hard and how long to push: users, spawn rate, duration, workers, seed, grace."""

    users: int = 10
    spawn_rate: float = 10.0
    duration: float = 30.0
    workers: int = 0
    seed: int = 0
    abort_grace: float | None = None
    report_dir: Path = Path("reports")
    run_id: str | None = None


@dataclass(frozen=True)
class LoadSample:
    """One second of the run as the live display and the time-series plots see it."""

    elapsed: float
    users: int
    requests: int
    rps: float
    p50: float | None
    p95: float | None
    p99: float | None
    errors: int
    garbage_passed: int
    model_calls: int
    rss: int | None
    faults_served: dict[str, int] = field(default_factory=dict)
    """Model replies served so far per fault label (``clean`` for none), for the live view."""


def ranked_faults(faults: Mapping[str, int]) -> list[tuple[str, int]]:
    """``(label, replies)`` pairs, most served first, ties in label order."""
    return sorted(faults.items(), key=lambda item: (-item[1], item[0]))


@dataclass
class LoadRun:
    """A finished (or stopped) load run: what was measured and why it ended."""

    scenario: str
    target: str
    settings: LoadSettings
    samples: list[LoadSample] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    faults_served: dict[str, int] = field(default_factory=dict)
    target_exit: str | None = None
    stopped_by: str = "duration"
    report_folder: Path | None = None
    description: str = ""
    """The scenario's description (the incident it reproduces), for the reports."""
    verdicts: list[Verdict] = field(default_factory=list)
    """Every SLO judged at the end of the run, in the scenario's order."""
    xfail_reason: str | None = None
    """The scenario's ``xfail`` reason for this target, if it has an entry."""
    expected_broken: list[str] = field(default_factory=list)
    """SLO texts the ``xfail`` entry expects to break."""
    started_at: str = ""
    """ISO 8601 time the run started."""
    wall: float = 0.0
    """Wall seconds from start to the last sample (or the stop)."""
    command: str = ""
    """The command that reruns this load test (ends every failure the harness prints)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """SLO text → why it was not judged (a metric a load run cannot measure)."""

    @property
    def status(self) -> str:
        """``passed`` / ``failed``, or with an xfail entry ``xfailed`` / ``xpassed`` (as ``harness run``)."""
        from harness.slo import status_of

        return status_of(self.verdicts, None if self.xfail_reason is None else self.expected_broken)

    @property
    def ok(self) -> bool:
        """True when the run passed, or broke exactly as its xfail entry declares."""
        return self.status in ("passed", "xfailed")
