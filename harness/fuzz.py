"""Fuzzing: Hypothesis searches fault chains for the ways a pipeline breaks and shrinks each to its minimum.

A run has three steps, each deterministic for a given seed (no example database, a
fixed Hypothesis seed derived from ``--seed``, health checks and deadlines off):

1. **Search.** ``max_examples`` examples, each a fault chain from
   :func:`harness.strategies.fault_chains` plus a seed for the generated reply, run
   against the pipeline in-process on one input (the chain applies to every model call
   of the case) and classified with the runner's machinery: kept the contract, allowed
   error, garbage passed, undeclared error (with its exception type), timeout, crash.
2. **Grouping.** Failing examples are grouped by outcome, exception type and the set of
   faults in their chain. Groups are taken smallest chain first; a group whose failure a
   smaller known class already explains (same outcome and exception, a subset of its
   faults) is counted there.
3. **Shrinking.** Any other group's first example is reduced — faults deleted one at a
   time, then each parameter and the reply seed put back to its default, while it still
   fails the same way — and shrunk with :func:`hypothesis.find` over chains of only its
   faults with the predicate "fails with the same outcome and exception" (Hypothesis
   tries the simplest example first, then shrinks towards fewer faults, simpler
   parameters and reply seed 0). The simpler of the two — fewest faults, then fewest
   parameters off their defaults — is the class's minimal chain: "renaming keys alone
   lets garbage through".

Exceptions raised by harness itself while serving (a fault mishandling another fault's
output) are kept apart as harness errors: they are bugs to report, not the pipeline's.
Classes are keyed by outcome, exception type and the faults of the minimal chain, and
numbered in the order the search first met them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.dialects import DIALECTS
from harness.errors import UsageError
from harness.faults import FAULTS
from harness.faults.base import FaultUse
from harness.faults.envelope import supports
from harness.fuzz_case import FuzzCase, changed_params
from harness.fuzz_probe import Kind, Prober, Received, Trial
from harness.observation import Outcome
from harness.reports import BAD_OUTCOMES
from harness.seeding import derive_seed
from harness.target import PyTarget

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_MAX_FAULTS",
    "FailureClass",
    "FuzzResult",
    "FuzzSettings",
    "Prober",
    "Received",
    "Trial",
    "classify",
    "fault_names",
    "find_minimal",
    "fuzz",
    "harness_errors",
    "reduce_chain",
    "reset_params",
    "search",
    "shrink",
]

DEFAULT_MAX_EXAMPLES = 200
"""Search examples when ``--max-examples`` is not given."""
DEFAULT_MAX_FAULTS = 3
"""Longest fault chain the search generates."""
DEFAULT_SHRINK_EXAMPLES = 60
"""Generation budget of each class's shrink (Hypothesis then shrinks what it found)."""
REPLY_SEEDS = 1 << 16
"""Reply seeds are drawn from ``range(REPLY_SEEDS)``; they shrink towards 0."""


@dataclass(frozen=True)
class FuzzSettings:
    """How long and how widely to search; ``seed`` decides every choice."""

    seed: int = 0
    max_examples: int = DEFAULT_MAX_EXAMPLES
    max_faults: int = DEFAULT_MAX_FAULTS
    only: tuple[str, ...] = ()
    """Fault names to draw from (empty: every fault the provider supports)."""
    exclude: tuple[str, ...] = ()
    """Fault names never drawn."""
    shrink_examples: int = DEFAULT_SHRINK_EXAMPLES


@dataclass
class FailureClass:
    """A distinct way the pipeline fails: outcome, exception type and the minimal fault chain."""

    id: str
    minimal: Trial
    """The shrunk example: the simplest chain found that still fails this way."""
    found: Trial
    """The first search example that failed this way, before reduction and shrinking."""
    examples: int = 1
    """Search examples attributed to this class."""
    simplest: bool = True
    """False when the shrink could not find the failure again and the reduced chain was kept."""
    clean: Trial | None = None
    """The same reply seed with no fault: what the pipeline would have received (for showing the change)."""

    @property
    def kind(self) -> Kind:
        """Outcome and exception type."""
        return self.minimal.kind

    @property
    def names(self) -> tuple[str, ...]:
        """Fault names of the minimal chain."""
        return self.minimal.names


@dataclass
class FuzzResult:
    """What a fuzz run found."""

    target: str
    case: FuzzCase
    settings: FuzzSettings
    faults: list[str]
    """Fault names the search drew from."""
    examples: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    """Search examples per outcome."""
    classes: list[FailureClass] = field(default_factory=list)
    harness_errors: list[FailureClass] = field(default_factory=list)
    """Examples where harness itself raised while serving: bugs to report, not the pipeline's failures."""
    runs: int = 0
    """Pipeline calls in total (search, reduction and shrinking)."""
    search_seconds: float = 0.0
    shrink_seconds: float = 0.0

    @property
    def failing_examples(self) -> int:
        """Search examples that failed."""
        return sum(n for outcome, n in self.outcomes.items() if Outcome(outcome) in BAD_OUTCOMES) - sum(
            c.examples for c in self.harness_errors
        )


# --- the search -----------------------------------------------------------------------------------


def fault_names(case: FuzzCase, settings: FuzzSettings) -> list[str]:
    """Faults the search may draw: those the case's provider supports, narrowed by only/exclude."""
    known = list(FAULTS)
    for name in (*settings.only, *settings.exclude):
        if name not in known:
            raise UsageError(f"harness fuzz: unknown fault {name!r}; see `harness faults`")
    dialect = DIALECTS.get(case.provider)
    names = [n for n in known if supports(n, dialect) and n not in settings.exclude]
    if settings.only:
        names = [n for n in names if n in settings.only]
    if not names:
        raise UsageError("harness fuzz: no fault left to draw; loosen --only/--exclude")
    return sorted(names)


def _hypothesis_settings(max_examples: int, *, shrink: bool) -> Any:
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
    return settings(
        database=None,
        max_examples=max_examples,
        deadline=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        derandomize=False,
    )


def _examples(names: Sequence[str], *, min_size: int, max_size: int) -> Any:
    """Pairs of (fault chain, reply seed)."""
    from hypothesis import strategies as st

    from harness.strategies import fault_chains

    chains = fault_chains(min_size=min_size, max_size=max_size, names=list(names))
    return st.tuples(chains, st.integers(min_value=0, max_value=REPLY_SEEDS - 1))


def search(
    prober: Prober,
    names: Sequence[str],
    settings: FuzzSettings,
    on_example: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """Run ``settings.max_examples`` generated examples; every trial, in the order Hypothesis made them."""
    import hypothesis

    trials: list[Trial] = []
    strategy = _examples(names, min_size=0, max_size=settings.max_faults)

    @hypothesis.seed(derive_seed(settings.seed, "fuzz", "search"))
    @_hypothesis_settings(settings.max_examples, shrink=False)
    @hypothesis.given(strategy)
    def explore(example: tuple[tuple[FaultUse, ...], int]) -> None:
        trial = prober.run(*example)
        trials.append(trial)
        if on_example is not None:
            on_example(trial)

    explore()
    return trials


# --- from failing examples to classes --------------------------------------------------------------


@dataclass
class _Group:
    first: int
    trial: Trial
    count: int = 1


def _groups(trials: Sequence[Trial]) -> list[_Group]:
    """Failing trials by (kind, fault set), smallest chain first, then by first appearance."""
    groups: dict[tuple[Kind, frozenset[str]], _Group] = {}
    for index, trial in enumerate(trials):
        if not trial.failing:
            continue
        key = (trial.kind, frozenset(trial.names))
        if key in groups:
            groups[key].count += 1
        else:
            groups[key] = _Group(index, trial)
    return sorted(groups.values(), key=lambda g: (len(set(g.trial.names)), g.first))


def same_failure(attempt: Trial, trial: Trial) -> bool:
    """True when ``attempt`` fails as ``trial`` does: same outcome and exception, not harness's own error."""
    return attempt.kind == trial.kind and attempt.harness_error is None


def reduce_chain(prober: Prober, trial: Trial, keeps: Callable[[Trial], bool] | None = None) -> Trial:
    """Delete faults one at a time while ``keeps`` holds (default: fails the same way): a 1-minimal chain."""
    holds = keeps or (lambda attempt: same_failure(attempt, trial))
    current = trial
    position = 0
    while position < len(current.chain) and len(current.chain) > 1:
        candidate = current.chain[:position] + current.chain[position + 1 :]
        attempt = prober.run_cached(candidate, current.reply_seed)
        if holds(attempt):
            current = attempt
        else:
            position += 1
    return current


def reset_params(prober: Prober, trial: Trial) -> Trial:
    """Each parameter back to its default, and the reply seed to 0, wherever it still fails the same way."""
    current = trial
    for position in range(len(current.chain)):
        for name in sorted(changed_params(current.chain[position])):
            use = current.chain[position]
            params = changed_params(use)
            del params[name]
            try:
                simpler = FaultUse(use.fault, use.fault.parse_params(params))
            except UsageError:
                continue  # the parameters depend on each other: this one cannot go back alone
            chain = (*current.chain[:position], simpler, *current.chain[position + 1 :])
            attempt = prober.run_cached(chain, current.reply_seed)
            if same_failure(attempt, current):
                current = attempt
    if current.reply_seed:
        attempt = prober.run_cached(current.chain, 0)
        if same_failure(attempt, current):
            current = attempt
    return current


def simplicity(trial: Trial) -> tuple[int, int, int, int]:
    """Sort key of "simpler": fewer faults, fewer non-default parameters, shorter labels, lower reply seed."""
    changed = sum(len(changed_params(use)) for use in trial.chain)
    return len(trial.chain), changed, sum(len(label) for label in trial.labels), trial.reply_seed


def find_minimal(prober: Prober, trial: Trial, settings: FuzzSettings) -> Trial | None:
    """Hypothesis's minimal example over ``trial``'s faults that fails the same way (None if not met)."""
    import hypothesis
    from hypothesis.errors import NoSuchExample, Unsatisfiable

    names = sorted(set(trial.names))
    strategy = _examples(names, min_size=1, max_size=len(trial.chain))
    key = derive_seed(settings.seed, "fuzz", "shrink", trial.outcome.value, trial.error_type, *names)

    def same_kind(example: tuple[tuple[FaultUse, ...], int]) -> bool:
        return same_failure(prober.run_cached(*example), trial)

    try:
        chain, reply_seed = hypothesis.find(
            strategy,
            same_kind,
            settings=_hypothesis_settings(settings.shrink_examples, shrink=True),
            random=random.Random(key),
        )
    except (NoSuchExample, Unsatisfiable):
        return None
    return prober.run_cached(chain, reply_seed)


def shrink(prober: Prober, trial: Trial, settings: FuzzSettings) -> tuple[Trial, bool]:
    """The simplest example found that fails like ``trial``, and whether Hypothesis's shrink met it.

    Faults are deleted while the failure holds, parameters reset to their defaults, then
    :func:`hypothesis.find` over the remaining faults shrinks what defaults cannot express
    (a status that must be 5xx, a required mapping); the simpler of the two is kept.
    """
    if not trial.chain:
        clean = prober.run_cached((), 0)
        return (clean if same_failure(clean, trial) else trial), True
    reduced = reset_params(prober, reduce_chain(prober, trial))
    if simplicity(reduced)[1] == 0 and reduced.reply_seed == 0:
        return reduced, True  # defaults everywhere, fewest faults: nothing left to shrink
    found = find_minimal(prober, reduced, settings)
    if found is None:
        return reduced, False
    return min((found, reduced), key=simplicity), True  # ties go to Hypothesis


def classify(
    prober: Prober,
    trials: Sequence[Trial],
    settings: FuzzSettings,
    on_group: Callable[[int, int], None] | None = None,
) -> list[FailureClass]:
    """Distinct failure classes of the failing ``trials``, each shrunk to its minimal chain.

    ``on_group(done, total)`` is called after each group of failing examples is settled.
    """
    classes: dict[tuple[Kind, tuple[str, ...]], FailureClass] = {}
    firsts: dict[tuple[Kind, tuple[str, ...]], int] = {}
    groups = _groups(trials)
    for done, group in enumerate(groups, start=1):
        if on_group is not None:
            on_group(done - 1, len(groups))
        names = set(group.trial.names)
        explained = next(
            (c for c in classes.values() if c.kind == group.trial.kind and set(c.names) <= names), None
        )
        if explained is not None:
            explained.examples += group.count
            continue
        minimal, simplest = shrink(prober, group.trial, settings)
        key = (minimal.kind, minimal.names)
        if key in classes:
            classes[key].examples += group.count
            firsts[key] = min(firsts[key], group.first)
            continue
        classes[key] = FailureClass("", minimal, group.trial, group.count, simplest)
        firsts[key] = group.first
    if on_group is not None:
        on_group(len(groups), len(groups))
    ordered = sorted(classes, key=lambda k: firsts[k])
    for number, key in enumerate(ordered, start=1):
        classes[key].id = f"c{number}"
        classes[key].clean = prober.run_cached((), classes[key].minimal.reply_seed)
    return [classes[key] for key in ordered]


def harness_errors(prober: Prober, trials: Sequence[Trial]) -> list[FailureClass]:
    """Examples where harness raised while serving, one per error type and fault set, chains reduced."""
    found: dict[tuple[str, frozenset[str]], FailureClass] = {}
    for trial in trials:
        if trial.harness_error is None:
            continue
        key = (trial.harness_error.partition(":")[0], frozenset(trial.names))
        if key in found:
            found[key].examples += 1
            continue
        current = reduce_chain(prober, trial, lambda attempt: attempt.harness_error is not None)
        found[key] = FailureClass(f"h{len(found) + 1}", current, trial, 1, simplest=False)
    return list(found.values())


def fuzz(
    case: FuzzCase,
    target: PyTarget,
    settings: FuzzSettings = FuzzSettings(),
    *,
    on_example: Callable[[Trial], None] | None = None,
    on_group: Callable[[int, int], None] | None = None,
) -> FuzzResult:
    """Search, group and shrink: every distinct way ``target`` fails ``case`` under generated fault chains.

    ``on_example`` sees each search example as it ends, ``on_group(done, total)`` the shrinking.
    """
    names = fault_names(case, settings)
    result = FuzzResult(target=target.label, case=case, settings=settings, faults=names)
    prober = Prober(case, target)
    with prober.active():
        started = time.perf_counter()
        trials = search(prober, names, settings, on_example)
        result.search_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result.classes = classify(prober, trials, settings, on_group)
        result.harness_errors = harness_errors(prober, trials)
        result.shrink_seconds = time.perf_counter() - started
    result.examples = len(trials)
    result.runs = prober.runs
    result.outcomes = {outcome.value: 0 for outcome in Outcome}
    for trial in trials:
        result.outcomes[trial.outcome.value] += 1
    return result
