"""The SLO gate of a load run: what was measured, judged with the scenario's SLOs (k6-style thresholds).

Same grammar and metric names as ``harness run`` (:mod:`harness.slo`), measured over the
whole run instead of per case:

- latency (``p50`` … ``p99``, ``mean_latency``, ``max_latency``): Locust's statistics of
  every pipeline request (wall seconds; Locust rounds response times above 100 ms to two
  significant digits);
- outcomes (``error_rate``, ``garbage_rate``, ``kept_rate``, ``schema_violations``,
  ``garbage_passed``, ``undeclared_errors``, ``timeouts``, ``crashes``, ``allowed_errors``):
  the :class:`Tally` of the harness's own contract check of every reply;
- ``calls_per_request`` and ``mean_calls_per_request``: model calls the fake provider
  served divided by pipeline requests answered — retry amplification. Under load the
  provider cannot tell which pipeline request a model call belongs to, so both are the
  run's ratio (``harness run``, one case at a time, reports the worst case for the first);
- ``peak_rss`` and ``rss_growth``: the target's process tree, sampled at 10 Hz (the slope
  is a least-squares fit over the whole run, in bytes per minute);
- ``rps``: pipeline requests answered per second of run time.

``peak_memory`` (tracemalloc) and ``tokens_per_request`` are in-process measures: under
load they are *skipped*, listed with the reason, never silently passed.

No Locust import here: the engine, the plain-Locust hooks and the reports share it.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.metrics import Unit
from harness.observation import Outcome
from harness.slo import SLO, Verdict

UNMEASURED: dict[str, str] = {
    "peak_memory": "tracemalloc measures in-process runs only; under load use peak_rss",
    "tokens_per_request": "token counts are per case in-process; not measured under load",
}
"""Metrics a load run cannot measure, with the reason shown in the report."""
NOT_KEPT = tuple(o for o in Outcome if o is not Outcome.KEPT)


@dataclass
class Tally:
    """The harness's count of pipeline replies by outcome, with the first example of each failure."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, outcome: Outcome, detail: str | None = None) -> None:
        """Count one reply."""
        self.counts[outcome.value] += 1
        if detail is not None and outcome.value not in self.examples:
            self.examples[outcome.value] = detail

    def count(self, outcome: Outcome) -> int:
        """Replies that ended in ``outcome``."""
        return self.counts[outcome.value]

    @property
    def requests(self) -> int:
        """Replies judged (every outcome)."""
        return sum(self.counts.values())

    @property
    def errors(self) -> int:
        """Replies that did not keep the contract."""
        return self.requests - self.count(Outcome.KEPT)

    def drain(self) -> dict[str, Any]:
        """The counts so far as plain data, then start from zero (a worker's report to the master)."""
        data = {"counts": dict(self.counts), "examples": dict(self.examples)}
        self.counts.clear()
        return data

    def merge(self, data: Mapping[str, Any] | None) -> None:
        """Add a worker's drained counts."""
        if not data:
            return
        self.counts.update({str(k): int(v) for k, v in data.get("counts", {}).items()})
        for outcome, detail in data.get("examples", {}).items():
            self.examples.setdefault(str(outcome), str(detail))

    def as_json(self) -> dict[str, Any]:
        """Counts per outcome (every outcome listed) and the first example of each failure."""
        return {
            "requests": self.requests,
            "outcomes": {o.value: self.count(o) for o in Outcome},
            "examples": dict(self.examples),
        }


@dataclass(frozen=True)
class Latency:
    """Latency statistics of the pipeline requests, in seconds (from Locust's aggregated entry)."""

    count: int = 0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    mean: float = 0.0
    max: float = 0.0


@dataclass
class RssSeries:
    """The target process tree's RSS over time: ``(seconds since start, bytes)`` at ~10 Hz."""

    points: list[tuple[float, int]] = field(default_factory=list)
    floor: int = 0
    """A high-water mark seen by a faster watcher (the memory cap's 100 Hz one) between samples."""

    def add(self, at: float, rss: int) -> None:
        """Record one sample."""
        self.points.append((at, rss))

    @property
    def peak(self) -> int:
        """The highest sample (0 before any), or the faster watcher's mark when higher."""
        return max(max((rss for _, rss in self.points), default=0), self.floor)

    def since(self, at: float) -> int | None:
        """The highest sample at or after ``at``, None when there is none."""
        recent = [rss for t, rss in self.points if t >= at]
        return max(recent) if recent else None

    @property
    def growth(self) -> float:
        """Least-squares slope in bytes per minute (0 with fewer than two instants)."""
        if len({t for t, _ in self.points}) < 2:
            return 0.0
        slope, _ = statistics.linear_regression(
            [t for t, _ in self.points], [float(rss) for _, rss in self.points]
        )
        return slope * 60.0


@dataclass
class Measures:
    """Every metric a load run measured (base units), and why the others were not."""

    values: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def measure(
    tally: Tally,
    latency: Latency,
    *,
    elapsed: float,
    model_calls: int | None = None,
    rss: RssSeries | None = None,
) -> Measures:
    """The run's metrics from the harness's tally, Locust's latency, the provider's count and the RSS."""
    found = Measures(missing=dict(UNMEASURED))
    values = found.values
    answered = tally.requests
    if latency.count:
        values.update(
            p50=latency.p50,
            p90=latency.p90,
            p95=latency.p95,
            p99=latency.p99,
            mean_latency=latency.mean,
            max_latency=latency.max,
        )
    for name, outcome in (
        ("schema_violations", Outcome.GARBAGE),
        ("garbage_passed", Outcome.GARBAGE),
        ("undeclared_errors", Outcome.UNDECLARED_ERROR),
        ("timeouts", Outcome.TIMEOUT),
        ("crashes", Outcome.CRASH),
        ("allowed_errors", Outcome.ALLOWED_ERROR),
    ):
        values[name] = float(tally.count(outcome))
    if answered:
        values["error_rate"] = tally.errors / answered
        values["garbage_rate"] = tally.count(Outcome.GARBAGE) / answered
        values["kept_rate"] = tally.count(Outcome.KEPT) / answered
        values["rps"] = answered / elapsed if elapsed > 0 else 0.0
        if model_calls is not None:
            values["calls_per_request"] = values["mean_calls_per_request"] = model_calls / answered
    if model_calls is None:
        reason = "the fake provider's model-call count was not available"
        found.missing.update(calls_per_request=reason, mean_calls_per_request=reason)
    if rss is not None and rss.points:
        values["peak_rss"] = float(rss.peak)
        values["rss_growth"] = rss.growth
    else:
        reason = "the target's process is not watched (a URL target the harness did not launch)"
        found.missing.update(peak_rss=reason, rss_growth=reason)
    return found


def judge(slos: Sequence[SLO], measures: Measures) -> tuple[list[Verdict], dict[str, str]]:
    """Each SLO judged (nothing measured is broken, as in ``harness run``); unmeasurable ones skipped."""
    verdicts: list[Verdict] = []
    skipped: dict[str, str] = {}
    for slo in slos:
        if slo.metric in UNMEASURED:
            skipped[slo.text] = UNMEASURED[slo.metric]
            continue
        value = measures.values.get(slo.metric)
        if value is None and slo.metric in measures.missing:
            skipped[slo.text] = measures.missing[slo.metric]
            continue
        passed = value is not None and slo.holds(value)
        verdicts.append(Verdict(slo, slo.metric, value, slo.limit, passed, [], slo.unit))
    return verdicts, skipped


TARGET_UP = SLO("target_exits == 0", "target_exits", "==", 0.0, Unit.COUNT, "0")
"""The implicit gate of every load run against a launched target: it must not die."""


def target_verdict(exits: int) -> Verdict:
    """The verdict of :data:`TARGET_UP` (broken when the target crashed or was OOM-killed)."""
    return Verdict(TARGET_UP, TARGET_UP.metric, float(exits), 0.0, exits == 0, [], Unit.COUNT)


class AbortWatch:
    """``abort_on_fail``: stop the run once an SLO has stayed broken for ``grace`` seconds."""

    def __init__(self, grace: float, only: Sequence[str] | None = None) -> None:
        self.grace = grace
        self.only = set(only) if only is not None else None
        self._since: dict[str, float] = {}

    def check(self, verdicts: Sequence[Verdict], now: float) -> str | None:
        """The reason to abort at ``now`` (seconds into the run), or None to carry on."""
        for verdict in verdicts:
            text = verdict.slo.text
            if self.only is not None and text not in self.only:
                continue
            if verdict.passed or verdict.measured is None:
                self._since.pop(text, None)
                continue
            since = self._since.setdefault(text, now)
            if now - since >= self.grace:
                return f"abort_on_fail: {verdict.describe()} (broken for {now - since:.0f}s)"
        return None
