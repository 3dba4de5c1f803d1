"""Fault plans: which faults apply to model call ``k`` of case ``n``, decided from the seed.

Four shapes cover what game days and incident write-ups need:

- :class:`RatePlan` — each rule applies independently with its probability (``rate``),
  optionally only to the first N model calls of a case (``first``);
- :class:`MixPlan` — exactly one rule per call, chosen by weight (a rule with no faults is
  a clean reply: "70 % clean, 20 % 429, 10 % haiku");
- :class:`SequencePlan` — call 1 gets step 1, call 2 step 2, …: "429, 429, then clean";
- :data:`CLEAN` — nothing, ever.

Every choice comes from ``rng_for(seed, "plan", case, call)``, so the same (seed, case,
call) always gets the same chain, in-process or over the wire.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from harness.faults.base import FaultUse
from harness.seeding import rng_for


@dataclass(frozen=True, slots=True)
class Rule:
    """A chain of faults applied together, with its rate, weight and call window."""

    uses: tuple[FaultUse, ...]
    """The faults, applied together (an empty chain is a clean reply)."""
    rate: float = 1.0
    """Probability that the rule fires on a call (RatePlan)."""
    weight: float = 1.0
    """Relative weight (MixPlan)."""
    first: int | None = None
    """Only the first N model calls of each case are eligible (retries see the rest)."""

    def eligible(self, call: int) -> bool:
        """True when model call ``call`` (1-based) is inside the rule's window."""
        return self.first is None or call <= self.first


class FaultPlan(ABC):
    """Decides the fault chain for one model call."""

    @abstractmethod
    def faults_for(self, seed: int, case: int, call: int) -> tuple[FaultUse, ...]:
        """The faults for model call ``call`` (1-based) of case ``case`` under ``seed``."""

    @property
    @abstractmethod
    def fault_names(self) -> frozenset[str]:
        """Every fault name this plan can serve."""


@dataclass(frozen=True)
class RatePlan(FaultPlan):
    """Each rule fires independently with probability ``rate``; chains concatenate."""

    rules: tuple[Rule, ...]

    @functools.cached_property
    def certain(self) -> bool:
        """True when every rule's rate is 0 or 1: no roll can change the outcome."""
        return not any(0 < rule.rate < 1 for rule in self.rules)

    def faults_for(self, seed: int, case: int, call: int) -> tuple[FaultUse, ...]:
        """Roll once per rule, in declaration order."""
        if self.certain:
            # Rate 1 always fires, rate 0 never: no roll is drawn, so the plan's stream is never seeded.
            return tuple(
                use for rule in self.rules if rule.rate >= 1 and rule.eligible(call) for use in rule.uses
            )
        rng = rng_for(seed, "plan", case, call)
        chosen: list[FaultUse] = []
        for rule in self.rules:
            roll = rng.random()  # always drawn, so one rule's window does not shift the others
            if rule.eligible(call) and roll < rule.rate:
                chosen.extend(rule.uses)
        return tuple(chosen)

    @property
    def fault_names(self) -> frozenset[str]:
        """Names across all rules."""
        return _names(self.rules)


@dataclass(frozen=True)
class MixPlan(FaultPlan):
    """Exactly one rule per eligible call, chosen by weight."""

    rules: tuple[Rule, ...]

    def faults_for(self, seed: int, case: int, call: int) -> tuple[FaultUse, ...]:
        """Weighted choice among the rules whose window holds this call."""
        rng = rng_for(seed, "plan", case, call)
        eligible = [r for r in self.rules if r.eligible(call)]
        if not eligible:
            return ()
        (rule,) = rng.choices(eligible, weights=[r.weight for r in eligible])
        return rule.uses

    @property
    def fault_names(self) -> frozenset[str]:
        """Names across all rules."""
        return _names(self.rules)


@dataclass(frozen=True)
class SequencePlan(FaultPlan):
    """Step ``k`` for call ``k``; after the last step ``clean``, ``repeat`` the list or keep the ``last``."""

    steps: tuple[Rule, ...]
    then: Literal["clean", "repeat", "last"] = "clean"

    def faults_for(self, seed: int, case: int, call: int) -> tuple[FaultUse, ...]:
        """No randomness: the sequence is the plan."""
        index = call - 1
        if index >= len(self.steps):
            if self.then == "clean" or not self.steps:
                return ()
            index = index % len(self.steps) if self.then == "repeat" else len(self.steps) - 1
        return self.steps[index].uses

    @property
    def fault_names(self) -> frozenset[str]:
        """Names across all steps."""
        return _names(self.steps)


@dataclass(frozen=True)
class CleanPlan(FaultPlan):
    """Serve every call clean: the baseline."""

    def faults_for(self, seed: int, case: int, call: int) -> tuple[FaultUse, ...]:
        """Always the empty chain."""
        return ()

    @property
    def fault_names(self) -> frozenset[str]:
        """None."""
        return frozenset()


CLEAN = CleanPlan()
"""The plan that injects nothing."""


def _names(rules: tuple[Rule, ...]) -> frozenset[str]:
    return frozenset(u.fault.name for r in rules for u in r.uses)
