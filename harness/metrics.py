"""SLO metrics: one registry of named measures over observations, each with its unit.

A metric turns the observations of one scenario and target into one number. To name the
cases that broke an SLO it also knows either each case's own value (``case_value``:
latency, memory, model calls, tokens — a case offends when its own value breaks the
limit) or which cases it counts (``counts``: garbage, errors, timeouts — those cases
offend whenever the SLO breaks).
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.observation import Observation, Outcome
from harness.registry import Registry

Measure = Callable[[Sequence[Observation]], float]
"""A metric's aggregate over a non-empty list of observations."""


class Unit(enum.StrEnum):
    """What kind of value a metric measures, and so which SLO values it accepts."""

    DURATION = "duration"
    """Seconds; SLO values like ``250ms``, ``2s``, ``1.5m`` or bare seconds."""
    SIZE = "size"
    """Bytes; SLO values like ``512MB``, ``64KiB``."""
    RATE = "rate"
    """Bytes per minute; SLO values like ``5MB/min``."""
    RATIO = "ratio"
    """A share of cases in [0, 1]; SLO values like ``5%`` or ``0.05``."""
    COUNT = "count"
    """A number of cases; SLO values are whole numbers."""
    NUMBER = "number"
    """A plain number (model calls, tokens); SLO values are numbers."""


@dataclass(frozen=True, slots=True)
class Metric:
    """A named measure over observations, with its unit and how to find offending cases."""

    name: str
    unit: Unit
    measure: Measure
    description: str
    """One line, shown by ``harness slo --help`` and in the README."""
    case_value: Callable[[Observation], float] | None = None
    """A case's own value: the case offends when that value alone breaks the SLO's limit."""
    counts: Callable[[Observation], bool] | None = None
    """The cases this metric counts: they are the offending cases when the SLO breaks."""


METRICS: Registry[Metric] = Registry("metric")
"""Every SLO metric by name."""


def metric(
    name: str,
    unit: Unit,
    *,
    case_value: Callable[[Observation], float] | None = None,
    counts: Callable[[Observation], bool] | None = None,
) -> Callable[[Measure], Measure]:
    """Register the decorated function as metric ``name``; its first docstring line describes it."""

    def decorate(measure: Measure) -> Measure:
        description = (measure.__doc__ or name).strip().splitlines()[0]
        METRICS.add(name, Metric(name, unit, measure, description, case_value, counts))
        return measure

    return decorate


def percentile(values: Sequence[float], pct: int) -> float:
    """The ``pct``-th percentile (1 to 99) with linear interpolation between closest ranks."""
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _latency(obs: Observation) -> float:
    return obs.latency


def _latencies(observations: Sequence[Observation]) -> list[float]:
    return [o.latency for o in observations]


def _share(observations: Sequence[Observation], wanted: Callable[[Observation], bool]) -> float:
    return sum(1 for o in observations if wanted(o)) / len(observations)


def _count(observations: Sequence[Observation], wanted: Callable[[Observation], bool]) -> float:
    return float(sum(1 for o in observations if wanted(o)))


def _is(outcome: Outcome) -> Callable[[Observation], bool]:
    def check(obs: Observation) -> bool:
        return obs.outcome is outcome

    return check


def _not_kept(obs: Observation) -> bool:
    return obs.outcome is not Outcome.KEPT


_garbage = _is(Outcome.GARBAGE)
_undeclared = _is(Outcome.UNDECLARED_ERROR)
_timeout = _is(Outcome.TIMEOUT)
_crash = _is(Outcome.CRASH)
_allowed = _is(Outcome.ALLOWED_ERROR)


# --- latency (scenario-time seconds) -------------------------------------------------------


@metric("p50", Unit.DURATION, case_value=_latency)
def p50(observations: Sequence[Observation]) -> float:
    """Median latency per case (seconds)."""
    return percentile(_latencies(observations), 50)


@metric("p90", Unit.DURATION, case_value=_latency)
def p90(observations: Sequence[Observation]) -> float:
    """90th percentile latency per case (seconds)."""
    return percentile(_latencies(observations), 90)


@metric("p95", Unit.DURATION, case_value=_latency)
def p95(observations: Sequence[Observation]) -> float:
    """95th percentile latency per case (seconds)."""
    return percentile(_latencies(observations), 95)


@metric("p99", Unit.DURATION, case_value=_latency)
def p99(observations: Sequence[Observation]) -> float:
    """99th percentile latency per case (seconds)."""
    return percentile(_latencies(observations), 99)


@metric("max_latency", Unit.DURATION, case_value=_latency)
def max_latency(observations: Sequence[Observation]) -> float:
    """Slowest case's latency (seconds)."""
    return max(_latencies(observations))


@metric("mean_latency", Unit.DURATION, case_value=_latency)
def mean_latency(observations: Sequence[Observation]) -> float:
    """Mean latency per case (seconds)."""
    return statistics.fmean(_latencies(observations))


# --- outcomes ------------------------------------------------------------------------------


@metric("error_rate", Unit.RATIO, counts=_not_kept)
def error_rate(observations: Sequence[Observation]) -> float:
    """Share of cases that did not keep the contract (allowed errors, garbage, crashes, hangs)."""
    return _share(observations, _not_kept)


@metric("garbage_rate", Unit.RATIO, counts=_garbage)
def garbage_rate(observations: Sequence[Observation]) -> float:
    """Share of cases whose output broke the contract and was passed downstream."""
    return _share(observations, _garbage)


@metric("kept_rate", Unit.RATIO, counts=_not_kept)
def kept_rate(observations: Sequence[Observation]) -> float:
    """Share of cases whose output kept the contract."""
    return _share(observations, _is(Outcome.KEPT))


@metric("schema_violations", Unit.COUNT, counts=_garbage)
def schema_violations(observations: Sequence[Observation]) -> float:
    """Cases whose output broke the output contract (same count as garbage_passed)."""
    return _count(observations, _garbage)


@metric("garbage_passed", Unit.COUNT, counts=_garbage)
def garbage_passed(observations: Sequence[Observation]) -> float:
    """Cases that passed contract-breaking output downstream."""
    return _count(observations, _garbage)


@metric("undeclared_errors", Unit.COUNT, counts=_undeclared)
def undeclared_errors(observations: Sequence[Observation]) -> float:
    """Cases that raised an exception the contract does not declare."""
    return _count(observations, _undeclared)


@metric("timeouts", Unit.COUNT, counts=_timeout)
def timeouts(observations: Sequence[Observation]) -> float:
    """Cases that ran past the case deadline (hangs)."""
    return _count(observations, _timeout)


@metric("crashes", Unit.COUNT, counts=_crash)
def crashes(observations: Sequence[Observation]) -> float:
    """Cases whose pipeline process died (OOM kill, segfault)."""
    return _count(observations, _crash)


@metric("allowed_errors", Unit.COUNT, counts=_allowed)
def allowed_errors(observations: Sequence[Observation]) -> float:
    """Cases that ended in a declared clean error."""
    return _count(observations, _allowed)


# --- memory --------------------------------------------------------------------------------


def _memory_peak(obs: Observation) -> float:
    return float(obs.memory_peak)


def _rss_peak(obs: Observation) -> float:
    return float(obs.rss_peak)


@metric("peak_memory", Unit.SIZE, case_value=_memory_peak)
def peak_memory(observations: Sequence[Observation]) -> float:
    """Highest Python heap peak of any case (tracemalloc, bytes)."""
    return max(_memory_peak(o) for o in observations)


@metric("peak_rss", Unit.SIZE, case_value=_rss_peak)
def peak_rss(observations: Sequence[Observation]) -> float:
    """Highest resident set size sampled during any case (bytes)."""
    return max(_rss_peak(o) for o in observations)


@metric("rss_growth", Unit.RATE)
def rss_growth(observations: Sequence[Observation]) -> float:
    """Least-squares slope of RSS peak over run time (bytes/min); 0 with fewer than two instants."""
    points = sorted((o.at, float(o.rss_peak)) for o in observations)
    if len({at for at, _ in points}) < 2:
        return 0.0  # a slope needs two distinct instants; one instant shows no growth
    slope, _ = statistics.linear_regression([at for at, _ in points], [rss for _, rss in points])
    return slope * 60.0


# --- throughput ----------------------------------------------------------------------------


@metric("rps", Unit.NUMBER)
def rps(observations: Sequence[Observation]) -> float:
    """Pipeline requests answered per second of run time (throughput; load runs measure it over the run)."""
    start = min(o.at for o in observations)
    end = max(o.at + o.wall for o in observations)
    return len(observations) / (end - start) if end > start else 0.0


# --- model calls ---------------------------------------------------------------------------


def _model_calls(obs: Observation) -> float:
    return float(obs.model_calls)


def _tokens(obs: Observation) -> float:
    return float(obs.tokens)


@metric("calls_per_request", Unit.NUMBER, case_value=_model_calls)
def calls_per_request(observations: Sequence[Observation]) -> float:
    """Most model calls made by one case (retry amplification)."""
    return max(_model_calls(o) for o in observations)


@metric("mean_calls_per_request", Unit.NUMBER, case_value=_model_calls)
def mean_calls_per_request(observations: Sequence[Observation]) -> float:
    """Mean model calls per case."""
    return statistics.fmean(_model_calls(o) for o in observations)


@metric("tokens_per_request", Unit.NUMBER, case_value=_tokens)
def tokens_per_request(observations: Sequence[Observation]) -> float:
    """Mean input plus output tokens per case."""
    return statistics.fmean(_tokens(o) for o in observations)


# --- formatting ----------------------------------------------------------------------------


def format_value(unit: Unit, value: float, *, binary: bool = False) -> str:
    """``value`` for people: ``15.2s``, ``250ms``, ``4.2%``, ``3``, ``512MB`` (``MiB`` when ``binary``)."""
    if unit is Unit.DURATION:
        return _format_duration(value)
    if unit is Unit.SIZE:
        return _format_size(value, binary)
    if unit is Unit.RATE:
        return _format_size(value, binary) + "/min"
    if unit is Unit.RATIO:
        return f"{_number(value * 100)}%"
    if unit is Unit.COUNT:
        return str(round(value))
    return _number(value)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _format_duration(seconds: float) -> str:
    if seconds == 0:
        return "0s"
    if abs(seconds) < 1:
        return f"{_number(seconds * 1000)}ms"
    if abs(seconds) < 120:
        return f"{_number(seconds)}s"
    return f"{_number(seconds / 60)}m"


_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _format_size(size: float, binary: bool) -> str:
    step, names = (1024.0, _BINARY) if binary else (1000.0, _DECIMAL)
    scaled = size
    for name in names[:-1]:
        if abs(scaled) < step:
            return f"{_number(scaled)}{name}"
        scaled /= step
    return f"{_number(scaled)}{names[-1]}"
