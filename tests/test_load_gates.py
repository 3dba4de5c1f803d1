"""The load gate without Locust: the tally, the measures, SLO verdicts, skipped metrics and abort_on_fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.load.gates import AbortWatch, Latency, RssSeries, Tally, judge, measure, target_verdict
from harness.observation import Outcome
from harness.slo import parse_slo

REPO = Path(__file__).resolve().parents[1]


def tally_of(**counts: int) -> Tally:
    tally = Tally()
    for name, count in counts.items():
        for _ in range(count):
            tally.add(Outcome(name), f"first {name}")
    return tally


def test_the_locust_free_modules_do_not_import_locust() -> None:
    # Locust monkey-patches the process on import: the gate, the plan and the package must not
    code = "import sys, harness.load, harness.load.gates, harness.load.plan; print('locust' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO
    )
    assert result.stdout.strip() == "False"


def test_tally_counts_outcomes_and_keeps_the_first_example() -> None:
    tally = tally_of(kept_contract=7, garbage_passed=2, allowed_error=1)
    assert (tally.requests, tally.errors, tally.count(Outcome.GARBAGE)) == (10, 3, 2)
    assert tally.examples["garbage_passed"] == "first garbage_passed"
    assert tally.as_json()["outcomes"]["timeout"] == 0


def test_a_worker_tally_drains_into_the_master() -> None:
    worker, master = tally_of(kept_contract=3, timeout=1), Tally()
    master.merge(worker.drain())
    master.merge(worker.drain())  # nothing new: counted once
    master.merge(None)
    assert (master.requests, master.count(Outcome.TIMEOUT), worker.requests) == (4, 1, 0)


def test_measures_come_from_tally_latency_provider_and_rss() -> None:
    rss = RssSeries()
    for second in range(5):
        rss.add(float(second), 100_000_000 + second * 1_000_000)
    found = measure(
        tally_of(kept_contract=8, undeclared_error=2),
        Latency(count=10, p50=0.1, p90=0.2, p95=0.3, p99=0.4, mean=0.15, max=0.5),
        elapsed=5.0,
        model_calls=15,
        rss=rss,
    )
    values = found.values
    assert values["p95"] == 0.3 and values["error_rate"] == pytest.approx(0.2)
    assert values["calls_per_request"] == values["mean_calls_per_request"] == pytest.approx(1.5)
    assert values["rps"] == pytest.approx(2.0) and values["undeclared_errors"] == 2
    assert values["peak_rss"] == 104_000_000
    assert values["rss_growth"] == pytest.approx(60_000_000)  # 1 MB/s
    rss.floor = 120_000_000  # the memory cap's faster watcher saw a spike between samples
    assert rss.peak == 120_000_000


def test_unmeasurable_slos_are_skipped_with_the_reason_not_passed() -> None:
    slos = [
        parse_slo(t) for t in ("peak_memory < 16MB", "peak_rss < 1GB", "p95 < 1s", "calls_per_request <= 2")
    ]
    verdicts, skipped = judge(slos, measure(Tally(), Latency(), elapsed=1.0))
    assert set(skipped) == {"peak_memory < 16MB", "peak_rss < 1GB", "calls_per_request <= 2"}
    assert "tracemalloc" in skipped["peak_memory < 16MB"]
    (p95,) = verdicts
    assert p95.measured is None and not p95.passed  # nothing measured is not a pass


def test_judge_keeps_the_scenario_order_and_the_limits() -> None:
    slos = [parse_slo("error_rate < 5%"), parse_slo("schema_violations == 0")]
    verdicts, _ = judge(slos, measure(tally_of(kept_contract=9, garbage_passed=1), Latency(), elapsed=1.0))
    assert [(v.slo.text, v.passed) for v in verdicts] == [
        ("error_rate < 5%", False),
        ("schema_violations == 0", False),
    ]
    assert verdicts[0].describe() == "error_rate < 5%: measured 10%, limit 5% — broken"


def test_target_verdict_breaks_when_the_target_died() -> None:
    assert target_verdict(0).passed
    died = target_verdict(1)
    assert not died.passed and died.describe() == "target_exits == 0: measured 1, limit 0 — broken"


def test_abort_waits_for_the_grace_period_and_forgives_a_recovery() -> None:
    slo = parse_slo("p95 < 1s")
    watch = AbortWatch(grace=3.0)

    def at(p95: float, now: float) -> str | None:
        verdicts, _ = judge([slo], measure(Tally(), Latency(count=1, p95=p95), elapsed=now))
        return watch.check(verdicts, now)

    assert at(2.0, 1.0) is None
    assert at(0.5, 2.0) is None  # recovered: the clock restarts
    assert at(2.0, 3.0) is None
    assert at(2.0, 5.0) is None
    reason = at(2.0, 6.0)
    assert reason is not None and reason.startswith("abort_on_fail: p95 < 1s: measured 2s")


def test_abort_only_watches_the_listed_slos() -> None:
    watch = AbortWatch(grace=0.0, only=["p99 < 1s"])
    slos = [parse_slo("p95 < 1s"), parse_slo("p99 < 1s")]
    verdicts, _ = judge(slos, measure(Tally(), Latency(count=1, p95=2.0, p99=0.5), elapsed=1.0))
    assert watch.check(verdicts, 1.0) is None
