"""Fault plans: deterministic per (seed, case, call), rates and weights honoured, windows and sequences."""

from __future__ import annotations

import itertools

import pytest

from harness import CLEAN, FaultUse, MixPlan, RatePlan, Rule, SequencePlan

HAIKU = FaultUse.of("haiku")
TRUNCATE = FaultUse.of("truncate")
STATUS_429 = FaultUse.of("http_status", {"status": 429})
STATUS_500 = FaultUse.of("http_status", {"status": 500})
KEYS = [(seed, case, call) for seed in (0, 1, 7) for case in range(5) for call in range(1, 5)]


def labels(uses: tuple[FaultUse, ...]) -> list[str]:
    """Fault labels of a chain."""
    return [u.label for u in uses]


def draws(plan: RatePlan | MixPlan, seed: int, cases: int = 200, calls: int = 10) -> list[tuple[str, ...]]:
    """The chain (as labels) of every (case, call) under ``seed``."""
    return [
        tuple(labels(plan.faults_for(seed, case, call)))
        for case, call in itertools.product(range(cases), range(1, calls + 1))
    ]


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plan",
    [
        RatePlan((Rule((HAIKU,), rate=0.3), Rule((STATUS_429,), rate=0.5))),
        MixPlan((Rule((HAIKU,), weight=1), Rule((STATUS_429,), weight=2), Rule((), weight=3))),
    ],
    ids=["rate", "mix"],
)
def test_same_key_same_chain_and_keys_are_independent(plan: RatePlan | MixPlan) -> None:
    first = [plan.faults_for(*key) for key in KEYS]
    # asked again, in reverse order: nothing depends on what was asked before
    again = [plan.faults_for(*key) for key in reversed(KEYS)][::-1]
    assert first == again
    assert draws(plan, 3) == draws(plan, 3)
    assert draws(plan, 3) != draws(plan, 4)
    # the case and the call both enter the key: swapping them changes the pattern
    by_case = [tuple(labels(plan.faults_for(3, n, 1))) for n in range(100)]
    by_call = [tuple(labels(plan.faults_for(3, 0, n + 1))) for n in range(100)]
    assert by_case != by_call


def test_an_equal_plan_built_twice_decides_the_same() -> None:
    build = lambda: RatePlan((Rule((FaultUse.of("haiku"),), rate=0.4),))  # noqa: E731
    assert draws(build(), 11) == draws(build(), 11)


# --- rates and weights --------------------------------------------------------------------------


def test_rates_are_honoured_over_many_calls() -> None:
    plan = RatePlan((Rule((HAIKU,), rate=0.1), Rule((STATUS_429,), rate=0.6), Rule((TRUNCATE,), rate=0.0)))
    chains = draws(plan, seed=2024, cases=400, calls=10)  # 4000 calls
    total = len(chains)
    haiku = sum("haiku" in c for c in chains) / total
    status = sum("http_status" in c for c in chains) / total
    # binomial standard deviations are 0.005 and 0.008: these bounds are ~5 sigma wide
    assert 0.075 <= haiku <= 0.125
    assert 0.56 <= status <= 0.64
    assert not any("truncate" in c for c in chains)
    # rules roll independently: both fire together about 0.1 * 0.6 of the time
    both = sum("haiku" in c and "http_status" in c for c in chains) / total
    assert 0.04 <= both <= 0.08
    # chains keep declaration order
    assert all(c == ("haiku", "http_status") for c in chains if len(c) == 2)


def test_rate_one_always_and_rate_zero_never() -> None:
    plan = RatePlan((Rule((HAIKU,), rate=1.0), Rule((STATUS_429,), rate=0.0)))
    assert set(draws(plan, seed=1, cases=50, calls=5)) == {("haiku",)}


def test_mix_weights_are_honoured_and_exactly_one_rule_fires() -> None:
    plan = MixPlan((Rule((HAIKU,), weight=1), Rule((STATUS_429, TRUNCATE), weight=3), Rule((), weight=6)))
    chains = draws(plan, seed=99, cases=400, calls=10)
    assert set(chains) == {("haiku",), ("http_status", "truncate"), ()}
    total = len(chains)
    assert 0.085 <= chains.count(("haiku",)) / total <= 0.115
    assert 0.27 <= chains.count(("http_status", "truncate")) / total <= 0.33
    assert 0.56 <= chains.count(()) / total <= 0.64


# --- call windows ---------------------------------------------------------------------------------


def test_first_limits_a_rate_rule_to_the_first_calls_of_each_case() -> None:
    plan = RatePlan((Rule((STATUS_429,), rate=1.0, first=2), Rule((HAIKU,), rate=1.0)))
    for case in range(10):
        chains = [labels(plan.faults_for(5, case, call)) for call in range(1, 6)]
        assert chains == [["http_status", "haiku"]] * 2 + [["haiku"]] * 3


def test_a_window_does_not_shift_the_other_rules_rolls() -> None:
    windowed = RatePlan((Rule((STATUS_429,), rate=0.5, first=1), Rule((HAIKU,), rate=0.5)))
    open_ended = RatePlan((Rule((STATUS_429,), rate=0.5), Rule((HAIKU,), rate=0.5)))
    for case, call in itertools.product(range(50), range(1, 6)):
        assert ("haiku" in labels(windowed.faults_for(8, case, call))) == (
            "haiku" in labels(open_ended.faults_for(8, case, call))
        )


def test_first_limits_a_mix_and_no_eligible_rule_means_clean() -> None:
    plan = MixPlan((Rule((STATUS_429,), weight=1, first=1),))
    for case in range(20):
        assert labels(plan.faults_for(0, case, 1)) == ["http_status"]
        assert plan.faults_for(0, case, 2) == ()
    mixed = MixPlan((Rule((STATUS_429,), weight=1, first=1), Rule((HAIKU,), weight=1)))
    assert {tuple(labels(mixed.faults_for(0, case, 2))) for case in range(50)} == {("haiku",)}


# --- sequences ------------------------------------------------------------------------------------

STEPS = (Rule((STATUS_429,)), Rule((STATUS_500,)), Rule(()))


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        ("clean", ["429", "500", "clean", "clean", "clean", "clean", "clean"]),
        ("repeat", ["429", "500", "clean", "429", "500", "clean", "429"]),
        ("last", ["429", "500", "clean", "clean", "clean", "clean", "clean"]),
    ],
)
def test_sequence_then_modes(then: str, expected: list[str]) -> None:
    plan = SequencePlan(STEPS, then=then)  # type: ignore[arg-type]
    for seed, case in [(0, 0), (3, 9)]:
        got = [_short(plan.faults_for(seed, case, call)) for call in range(1, 8)]
        assert got == expected


def test_sequence_last_keeps_repeating_a_faulty_last_step() -> None:
    plan = SequencePlan((Rule(()), Rule((STATUS_500,))), then="last")
    assert [_short(plan.faults_for(1, 1, call)) for call in range(1, 6)] == ["clean"] + ["500"] * 4


def test_plans_name_every_fault_they_can_serve() -> None:
    assert SequencePlan(STEPS).fault_names == frozenset({"http_status"})
    assert RatePlan((Rule((HAIKU, TRUNCATE)),)).fault_names == frozenset({"haiku", "truncate"})
    assert MixPlan((Rule(()),)).fault_names == frozenset()
    assert CLEAN.fault_names == frozenset()
    assert all(CLEAN.faults_for(*key) == () for key in KEYS)


def _short(uses: tuple[FaultUse, ...]) -> str:
    if not uses:
        return "clean"
    (use,) = uses
    return str(use.params.model_dump()["status"])
