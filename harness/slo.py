"""Service-level objectives: ``<metric> <op> <value>``, judged against observations.

Grammar (like k6 thresholds)::

    p95 < 2s    schema_violations == 0    error_rate < 5%    peak_rss < 512MB
    rss_growth < 5MB/min    calls_per_request <= 3

``op`` is one of ``< <= > >= == !=``. The value must fit the metric's unit: durations
(``250ms``, ``2s``, ``1.5m``, or bare seconds) for latency, sizes for memory, rates for
growth, a percentage or a fraction for rates of cases, whole numbers for counts.

An SLO over zero observations is **not passed**: there is nothing to show it holds, and a
run that observed nothing must not turn a build green. Its verdict says "no observations".
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.durations import parse_duration, parse_rate, parse_size
from harness.metrics import METRICS, Metric, Unit, format_value
from harness.observation import Observation
from harness.validation import suggest

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
"""The comparison operators an SLO may use."""

_SHAPE = re.compile(r"^\s*(?P<metric>\w+)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>\S(?:.*\S)?)\s*$")
_GRAMMAR = "expected '<metric> <op> <value>'"
_SHOWN_CASES = 10

_EXPECTED_VALUE = {
    Unit.DURATION: "a duration like 250ms, 2s, 1.5m or bare seconds",
    Unit.SIZE: "a size like 512MB or 64KiB",
    Unit.RATE: "a rate like 5MB/min",
    Unit.RATIO: "a percentage like 5% or a fraction between 0 and 1",
    Unit.COUNT: "a whole number like 0 or 3",
    Unit.NUMBER: "a number like 3 or 1.5",
}


@dataclass(frozen=True, slots=True)
class SLO:
    """One parsed objective: ``metric op limit``, with the limit in the metric's base unit."""

    text: str
    """Normalised text, ``<metric> <op> <value>`` with single spaces: use it to match SLOs by name."""
    metric: str
    op: str
    limit: float
    """Seconds, bytes, bytes/min, a fraction, a count or a plain number, by ``unit``."""
    unit: Unit
    value: str
    """The value as written (``2s``, ``512MB``, ``5%``), shown as the limit in verdicts."""

    def __str__(self) -> str:
        return self.text

    @property
    def binary_units(self) -> bool:
        """True when the value is written in IEC units (``KiB``, ``MiB``): show sizes the same way."""
        return "ib" in self.value.lower()

    def holds(self, measured: float) -> bool:
        """True when ``measured`` satisfies the objective."""
        return OPERATORS[self.op](measured, self.limit)

    def evaluate(self, observations: Sequence[Observation]) -> Verdict:
        """Measure the metric over ``observations`` and judge it; not passed when there are none."""
        if not observations:
            return Verdict(self, self.metric, None, self.limit, False, [], self.unit)
        found = METRICS.get(self.metric)
        measured = found.measure(observations)
        passed = self.holds(measured)
        offending = [] if passed else self._offending(found, observations)
        return Verdict(self, self.metric, measured, self.limit, passed, offending, self.unit)

    def _offending(self, found: Metric, observations: Sequence[Observation]) -> list[str]:
        if found.case_value is not None:
            case_value = found.case_value
            return [o.case_id for o in observations if not self.holds(case_value(o))]
        if found.counts is not None:
            counts = found.counts
            return [o.case_id for o in observations if counts(o)]
        return []


@dataclass(frozen=True, slots=True)
class Verdict:
    """An SLO judged: measured value, limit, whether it held, and the cases that broke it."""

    slo: SLO
    metric: str
    measured: float | None
    """``None`` when there were no observations."""
    limit: float
    passed: bool
    offending: list[str]
    """Case ids (``<seed>-<case>``) whose own value broke the limit, or that the metric counts."""
    unit: Unit

    def describe(self) -> str:
        """One line: ``p95 < 2s: measured 15.2s, limit 2s — broken by 3 cases: 7-2, 7-5, 7-9``."""
        if self.measured is None:
            return f"{self.slo.text}: no observations — broken"
        measured = format_value(self.unit, self.measured, binary=self.slo.binary_units)
        head = f"{self.slo.text}: measured {measured}, limit {self.slo.value}"
        if self.passed:
            return f"{head} — ok"
        if not self.offending:
            return f"{head} — broken"
        return f"{head} — broken by {_cases(self.offending)}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "slo": self.slo.text,
            "metric": self.metric,
            "op": self.slo.op,
            "measured": self.measured,
            "limit": self.limit,
            "unit": self.unit.value,
            "passed": self.passed,
            "offending": list(self.offending),
            "description": self.describe(),
        }


def _cases(case_ids: Sequence[str]) -> str:
    noun = "case" if len(case_ids) == 1 else "cases"
    shown = ", ".join(case_ids[:_SHOWN_CASES])
    more = f" and {len(case_ids) - _SHOWN_CASES} more" if len(case_ids) > _SHOWN_CASES else ""
    return f"{len(case_ids)} {noun}: {shown}{more}"


def parse_slo(text: str) -> SLO:
    """Parse ``<metric> <op> <value>``; ValueError with a one-line expectation on bad text."""
    match = _SHAPE.match(text)
    if match is None:
        head = re.split(r"\W", text.strip(), maxsplit=1)[0]
        ops = " ".join(OPERATORS)
        if head in METRICS:
            raise ValueError(f"{_GRAMMAR} with op one of {ops} followed by a value; got {text!r}")
        expected = f"{_GRAMMAR} with metric one of {_metric_names()} and op one of {ops}"
        raise ValueError(f"{expected}; got {text!r}{suggest(head, METRICS)}")
    name, op, value = match["metric"], match["op"], match["value"]
    if name not in METRICS:
        raise ValueError(
            f"{_GRAMMAR} with metric one of {_metric_names()}; got {text!r}{suggest(name, METRICS)}"
        )
    unit = METRICS.get(name).unit
    limit = _parse_value(unit, value)
    if limit is None:
        raise ValueError(f"{_GRAMMAR} with {name} taking {_EXPECTED_VALUE[unit]}; got {text!r}")
    return SLO(f"{name} {op} {value}", name, op, limit, unit, value)


def evaluate_all(slos: Sequence[SLO], observations: Sequence[Observation]) -> list[Verdict]:
    """Every SLO judged against the same observations, in order."""
    return [slo.evaluate(observations) for slo in slos]


def _metric_names() -> str:
    return ", ".join(METRICS)


def _parse_value(unit: Unit, value: str) -> float | None:
    """The value in the unit's base, or None when it does not fit the unit."""
    try:
        limit = _VALUE_PARSERS[unit](value)
    except (ValueError, InvalidOperation):
        return None
    return limit if limit is not None and math.isfinite(limit) else None


def _duration(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return parse_duration(value)
    return seconds if seconds >= 0 else None


def _ratio(value: str) -> float | None:
    if value.endswith("%"):
        percent = Decimal(value[:-1].strip())
        return float(percent / 100) if 0 <= percent <= 100 else None
    fraction = float(value)
    return fraction if 0 <= fraction <= 1 else None


def _count(value: str) -> float | None:
    return float(value) if value.isascii() and value.isdigit() else None


_VALUE_PARSERS: dict[Unit, Callable[[str], float | None]] = {
    Unit.DURATION: _duration,
    Unit.SIZE: lambda value: float(parse_size(value)),
    Unit.RATE: lambda value: float(parse_rate(value)),
    Unit.RATIO: _ratio,
    Unit.COUNT: _count,
    Unit.NUMBER: float,
}


def status_of(verdicts: Sequence[Verdict], expected_broken: Sequence[str] | None) -> str:
    """``passed``/``failed``, or for an xfail entry ``xfailed`` when exactly the expected SLOs broke."""
    broken = {v.slo.text for v in verdicts if not v.passed}
    if expected_broken is None:
        return "failed" if broken else "passed"
    if not broken:
        return "xpassed"
    return "xfailed" if broken == set(expected_broken) else "failed"
