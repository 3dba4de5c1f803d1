"""SLO grammar, every metric, offending cases and verdict wording, on hand-built observations."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.metrics import METRICS, Unit, format_value
from harness.observation import ModelCall, Observation, Outcome
from harness.slo import SLO, evaluate_all, parse_slo

ALL_METRICS = [
    "p50",
    "p90",
    "p95",
    "p99",
    "max_latency",
    "mean_latency",
    "error_rate",
    "garbage_rate",
    "kept_rate",
    "schema_violations",
    "garbage_passed",
    "undeclared_errors",
    "timeouts",
    "crashes",
    "allowed_errors",
    "peak_memory",
    "peak_rss",
    "rss_growth",
    "calls_per_request",
    "mean_calls_per_request",
    "tokens_per_request",
    "rps",
]


def make(
    case: int,
    outcome: Outcome = Outcome.KEPT,
    *,
    latency: float = 0.1,
    memory: int = 0,
    rss: int = 0,
    calls: int = 1,
    tokens: int = 0,
    at: float = 0.0,
    seed: int = 7,
) -> Observation:
    """One observation with ``calls`` model calls sharing ``tokens`` output tokens on the first."""
    model_calls = [
        ModelCall(
            call=k + 1,
            faults=[],
            status=200,
            stream=False,
            injected_delay=0.0,
            bytes_served=10,
            body_preview="{}",
            output_tokens=tokens if k == 0 else 0,
        )
        for k in range(calls)
    ]
    return Observation(
        scenario="s",
        target="py:pkg.mod:fn",
        seed=seed,
        case=case,
        input=None,
        outcome=outcome,
        latency=latency,
        wall=latency,
        memory_peak=memory,
        rss_peak=rss,
        calls=model_calls,
        at=at,
    )


def measure(text: str, observations: list[Observation]) -> float:
    measured = parse_slo(text).evaluate(observations).measured
    assert measured is not None
    return measured


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit", "unit"),
    [
        ("p95 < 2s", "p95", "<", 2.0, Unit.DURATION),
        ("p99<=250ms", "p99", "<=", 0.25, Unit.DURATION),
        ("max_latency < 1.5m", "max_latency", "<", 90.0, Unit.DURATION),
        ("mean_latency < 3", "mean_latency", "<", 3.0, Unit.DURATION),
        ("error_rate < 5%", "error_rate", "<", 0.05, Unit.RATIO),
        ("kept_rate >= 0.95", "kept_rate", ">=", 0.95, Unit.RATIO),
        ("garbage_rate == 0%", "garbage_rate", "==", 0.0, Unit.RATIO),
        ("schema_violations == 0", "schema_violations", "==", 0.0, Unit.COUNT),
        ("timeouts != 3", "timeouts", "!=", 3.0, Unit.COUNT),
        ("peak_rss < 512MB", "peak_rss", "<", 512e6, Unit.SIZE),
        ("peak_memory <= 64KiB", "peak_memory", "<=", 65536.0, Unit.SIZE),
        ("rss_growth < 5MB/min", "rss_growth", "<", 5e6, Unit.RATE),
        ("calls_per_request <= 3", "calls_per_request", "<=", 3.0, Unit.NUMBER),
        ("mean_calls_per_request > 1.5", "mean_calls_per_request", ">", 1.5, Unit.NUMBER),
    ],
)
def test_parse_reads_metric_op_and_limit_in_base_units(
    text: str, metric: str, op: str, limit: float, unit: Unit
) -> None:
    slo = parse_slo(text)
    assert (slo.metric, slo.op, slo.unit) == (metric, op, unit)
    assert slo.limit == pytest.approx(limit)


def test_parse_normalises_spacing_and_keeps_the_value_as_written() -> None:
    slo = parse_slo("  p95<=250ms ")
    assert slo.text == "p95 <= 250ms"
    assert slo.value == "250ms"
    assert str(slo) == "p95 <= 250ms"


def test_every_metric_is_registered_with_a_one_line_description() -> None:
    assert sorted(ALL_METRICS) == list(METRICS)
    for name in METRICS:
        description = METRICS.get(name).description
        assert description.endswith(".") and "\n" not in description and description != name


NAMES = ", ".join(sorted(ALL_METRICS))
GRAMMAR = "expected '<metric> <op> <value>'"
DURATION = f"{GRAMMAR} with p95 taking a duration like 250ms, 2s, 1.5m or bare seconds"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p59 < 2s", f"{GRAMMAR} with metric one of {NAMES}; got 'p59 < 2s' (did you mean 'p99'?)"),
        ("latncy_p95 < 2s", f"{GRAMMAR} with metric one of {NAMES}; got 'latncy_p95 < 2s'"),
        (
            "error_rat < 5%",
            f"{GRAMMAR} with metric one of {NAMES}; got 'error_rat < 5%' (did you mean 'error_rate'?)",
        ),
        ("p95 = 2s", f"{GRAMMAR} with op one of < <= > >= == != followed by a value; got 'p95 = 2s'"),
        ("p95 <", f"{GRAMMAR} with op one of < <= > >= == != followed by a value; got 'p95 <'"),
        ("", f"{GRAMMAR} with metric one of {NAMES} and op one of < <= > >= == !=; got ''"),
        (
            "p95 < 5MB",
            f"{DURATION}; got 'p95 < 5MB'",
        ),
        (
            "p95 < -1",
            f"{DURATION}; got 'p95 < -1'",
        ),
        (
            "p95 < nan",
            f"{DURATION}; got 'p95 < nan'",
        ),
        (
            "error_rate < 5",
            f"{GRAMMAR} with error_rate taking a percentage like 5% or a fraction between 0 and 1; "
            "got 'error_rate < 5'",
        ),
        (
            "error_rate < 120%",
            f"{GRAMMAR} with error_rate taking a percentage like 5% or a fraction between 0 and 1; "
            "got 'error_rate < 120%'",
        ),
        (
            "schema_violations == 0.5",
            f"{GRAMMAR} with schema_violations taking a whole number like 0 or 3; "
            "got 'schema_violations == 0.5'",
        ),
        ("peak_rss < 2s", f"{GRAMMAR} with peak_rss taking a size like 512MB or 64KiB; got 'peak_rss < 2s'"),
        ("rss_growth < 5MB", f"{GRAMMAR} with rss_growth taking a rate like 5MB/min; got 'rss_growth < 5MB'"),
        (
            "calls_per_request <= many",
            f"{GRAMMAR} with calls_per_request taking a number like 3 or 1.5; "
            "got 'calls_per_request <= many'",
        ),
    ],
)
def test_bad_text_raises_one_precise_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_slo(text)
    assert str(info.value) == message
    assert "\n" not in message


# --- operators at the boundary ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "passed"),
    [("<", False), ("<=", True), (">", False), (">=", True), ("==", True), ("!=", False)],
)
def test_operators_at_exactly_the_limit(op: str, passed: bool) -> None:
    observations = [make(0, latency=2.0)]
    assert parse_slo(f"max_latency {op} 2s").evaluate(observations).passed is passed


def test_rate_limit_written_as_percent_equals_the_same_share_of_cases() -> None:
    observations = [make(i, Outcome.ALLOWED_ERROR if i < 1 else Outcome.KEPT) for i in range(20)]
    assert parse_slo("error_rate <= 5%").evaluate(observations).passed
    assert not parse_slo("error_rate < 5%").evaluate(observations).passed


# --- every metric --------------------------------------------------------------------------


def test_latency_percentiles_interpolate_between_ranks() -> None:
    observations = [make(i, latency=float(i + 1)) for i in range(10)]  # 1 … 10 seconds
    assert measure("p50 < 1s", observations) == pytest.approx(5.5)
    assert measure("p90 < 1s", observations) == pytest.approx(9.1)
    assert measure("p95 < 1s", observations) == pytest.approx(9.55)
    assert measure("p99 < 1s", observations) == pytest.approx(9.91)
    assert measure("max_latency < 1s", observations) == 10.0
    assert measure("mean_latency < 1s", observations) == pytest.approx(5.5)


def test_percentile_of_one_case_is_its_latency() -> None:
    assert measure("p99 < 1s", [make(0, latency=0.3)]) == pytest.approx(0.3)


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=50))
def test_percentiles_are_ordered_and_bounded(latencies: list[float]) -> None:
    observations = [make(i, latency=value) for i, value in enumerate(latencies)]
    values = [measure(f"{name} < 1s", observations) for name in ("p50", "p90", "p95", "p99", "max_latency")]
    assert min(latencies) - 1e-9 <= values[0]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(values))
    assert values[-1] == max(latencies)


def mixed() -> list[Observation]:
    outcomes = [
        Outcome.KEPT,
        Outcome.KEPT,
        Outcome.KEPT,
        Outcome.KEPT,
        Outcome.GARBAGE,
        Outcome.GARBAGE,
        Outcome.ALLOWED_ERROR,
        Outcome.UNDECLARED_ERROR,
        Outcome.TIMEOUT,
        Outcome.CRASH,
    ]
    return [make(i, outcome) for i, outcome in enumerate(outcomes)]


@pytest.mark.parametrize(
    ("text", "measured", "offending"),
    [
        ("error_rate < 5%", 0.6, ["7-4", "7-5", "7-6", "7-7", "7-8", "7-9"]),
        ("garbage_rate < 5%", 0.2, ["7-4", "7-5"]),
        ("kept_rate >= 90%", 0.4, ["7-4", "7-5", "7-6", "7-7", "7-8", "7-9"]),
        ("schema_violations == 0", 2.0, ["7-4", "7-5"]),
        ("garbage_passed == 0", 2.0, ["7-4", "7-5"]),
        ("undeclared_errors == 0", 1.0, ["7-7"]),
        ("timeouts == 0", 1.0, ["7-8"]),
        ("crashes == 0", 1.0, ["7-9"]),
        ("allowed_errors == 0", 1.0, ["7-6"]),
    ],
)
def test_outcome_metrics_count_and_name_their_cases(text: str, measured: float, offending: list[str]) -> None:
    verdict = parse_slo(text).evaluate(mixed())
    assert verdict.measured == pytest.approx(measured)
    assert not verdict.passed
    assert verdict.offending == offending


def test_memory_metrics_take_the_highest_case_and_name_cases_over_the_limit() -> None:
    observations = [make(0, memory=10_000, rss=400_000_000), make(1, memory=90_000, rss=600_000_000)]
    peak = parse_slo("peak_memory < 64KiB").evaluate(observations)
    assert (peak.measured, peak.passed, peak.offending) == (90_000, False, ["7-1"])
    rss = parse_slo("peak_rss < 512MB").evaluate(observations)
    assert (rss.measured, rss.passed, rss.offending) == (600_000_000, False, ["7-1"])


def test_rss_growth_is_the_least_squares_slope_per_minute() -> None:
    # 100 bytes per second of run time plus noise; by hand the noise tilts the fit by
    # sum((x - 15) * noise) / sum((x - 15) ** 2) = -500 / 500 = -1 B/s, so 99 B/s = 5940 B/min
    noise = [0, 50, -50, 0]
    observations = [make(i, rss=1_000_000 + 1000 * i + noise[i], at=i * 10.0) for i in range(4)]
    verdict = parse_slo("rss_growth < 5kB/min").evaluate(list(reversed(observations)))
    assert verdict.measured == pytest.approx(5940.0)
    assert not verdict.passed
    assert verdict.offending == []


def test_rss_growth_needs_two_instants() -> None:
    assert (
        measure("rss_growth < 1MB/min", [make(0, rss=10**9, at=5.0), make(1, rss=2 * 10**9, at=5.0)]) == 0.0
    )


def test_call_and_token_metrics() -> None:
    observations = [make(0, calls=1, tokens=100), make(1, calls=4, tokens=300), make(2, calls=1, tokens=200)]
    most = parse_slo("calls_per_request <= 3").evaluate(observations)
    assert (most.measured, most.passed, most.offending) == (4.0, False, ["7-1"])
    mean = parse_slo("mean_calls_per_request <= 1.5").evaluate(observations)
    assert (mean.measured, mean.passed, mean.offending) == (2.0, False, ["7-1"])
    tokens = parse_slo("tokens_per_request < 150").evaluate(observations)
    assert (tokens.measured, tokens.passed, tokens.offending) == (200.0, False, ["7-1", "7-2"])


def test_latency_offenders_are_the_cases_over_the_limit() -> None:
    observations = [make(i, latency=lat) for i, lat in enumerate([0.5, 15.2, 0.7, 3.0, 2.0])]
    verdict = parse_slo("p95 < 2s").evaluate(observations)
    assert not verdict.passed
    assert verdict.offending == ["7-1", "7-3", "7-4"]


def test_a_passed_verdict_names_no_cases() -> None:
    verdict = parse_slo("schema_violations <= 5").evaluate(mixed())
    assert verdict.passed and verdict.offending == []


# --- verdicts ------------------------------------------------------------------------------


def test_zero_observations_is_not_passed() -> None:
    verdict = parse_slo("p95 < 2s").evaluate([])
    assert verdict.measured is None
    assert not verdict.passed
    assert verdict.describe() == "p95 < 2s: no observations — broken"


def test_describe_names_measured_limit_and_cases() -> None:
    observations = [make(i, latency=lat) for i, lat in enumerate([15.2, 0.1, 16.0, 0.2, 0.3, 17.0])]
    verdict = parse_slo("max_latency < 2s").evaluate(observations)
    assert verdict.describe() == "max_latency < 2s: measured 17s, limit 2s — broken by 3 cases: 7-0, 7-2, 7-5"
    one = parse_slo("undeclared_errors == 0").evaluate(mixed())
    assert one.describe() == "undeclared_errors == 0: measured 1, limit 0 — broken by 1 case: 7-7"
    ok = parse_slo("error_rate < 90%").evaluate(mixed())
    assert ok.describe() == "error_rate < 90%: measured 60%, limit 90% — ok"


def test_describe_caps_the_case_list() -> None:
    observations = [make(i, Outcome.GARBAGE) for i in range(14)]
    text = parse_slo("garbage_passed == 0").evaluate(observations).describe()
    assert text.endswith("broken by 14 cases: 7-0, 7-1, 7-2, 7-3, 7-4, 7-5, 7-6, 7-7, 7-8, 7-9 and 4 more")


def test_describe_shows_sizes_in_the_units_family_the_limit_uses() -> None:
    observations = [make(0, rss=600 * 1024 * 1024)]
    assert (
        parse_slo("peak_rss < 512MiB")
        .evaluate(observations)
        .describe()
        .startswith("peak_rss < 512MiB: measured 600MiB, limit 512MiB")
    )
    assert "measured 629MB" in parse_slo("peak_rss < 512MB").evaluate(observations).describe()


def test_to_json_is_plain_data() -> None:
    verdict = parse_slo("schema_violations == 0").evaluate(mixed())
    assert verdict.to_json() == {
        "slo": "schema_violations == 0",
        "metric": "schema_violations",
        "op": "==",
        "measured": 2.0,
        "limit": 0.0,
        "unit": "count",
        "passed": False,
        "offending": ["7-4", "7-5"],
        "description": "schema_violations == 0: measured 2, limit 0 — broken by 2 cases: 7-4, 7-5",
    }


def test_evaluate_all_keeps_order() -> None:
    slos: list[SLO] = [parse_slo("p95 < 2s"), parse_slo("schema_violations == 0")]
    verdicts = evaluate_all(slos, mixed())
    assert [v.slo for v in verdicts] == slos
    assert [v.passed for v in verdicts] == [True, False]


@pytest.mark.parametrize(
    ("unit", "value", "text"),
    [
        (Unit.DURATION, 0.25, "250ms"),
        (Unit.DURATION, 15.234, "15.2s"),
        (Unit.DURATION, 150.0, "2.5m"),
        (Unit.RATIO, 0.0525, "5.25%"),
        (Unit.COUNT, 3.0, "3"),
        (Unit.SIZE, 512e6, "512MB"),
        (Unit.RATE, 5e6, "5MB/min"),
        (Unit.NUMBER, 1.5, "1.5"),
    ],
)
def test_format_value(unit: Unit, value: float, text: str) -> None:
    assert format_value(unit, value) == text
