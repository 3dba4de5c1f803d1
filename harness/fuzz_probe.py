"""One fuzz example: the pipeline in-process, one fault chain on every model call, the outcome classified.

A :class:`Prober` keeps one interceptor active for a whole fuzz run and swaps its
Responder per example; each example gets a fresh case (call counter, clock, deadline),
runs through the regular runner (worker thread, case deadline, contract check) and
becomes a :class:`Trial`: outcome, exception type, what the pipeline received, and any
exception harness itself raised while serving.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from harness.case import CaseDeadlineExceeded, CaseState
from harness.faults.base import FaultUse
from harness.fuzz_case import FuzzCase, use_document
from harness.interception import Interceptor
from harness.memory import RssSampler
from harness.observation import Observation, Outcome
from harness.reports import BAD_OUTCOMES
from harness.responder import Responder
from harness.runner import run_case
from harness.target import PyTarget
from harness.wire import WireReply

BODY_LIMIT = 1 << 20
"""Bytes of each received body an example keeps (a runaway reply is cut, and its size kept)."""
ERROR_OUTCOMES = frozenset({Outcome.UNDECLARED_ERROR, Outcome.ALLOWED_ERROR})
"""Outcomes whose exception type is part of the failure's kind."""

Kind = tuple[Outcome, str | None]
"""How an example ended: its outcome and, for errors, the exception type's name."""


@dataclass(frozen=True)
class Received:
    """One model call of an example, as the pipeline got it."""

    call: int
    status: int
    stream: bool
    faults: tuple[str, ...]
    body: bytes
    """The first :data:`BODY_LIMIT` bytes served (all of them for any reply of sane size)."""
    size: int
    """Bytes served in all."""


@dataclass(frozen=True)
class Trial:
    """One example run: the chain, the reply seed, how the pipeline ended and what it received."""

    chain: tuple[FaultUse, ...]
    reply_seed: int
    outcome: Outcome
    error_type: str | None
    """The exception's class name, for (allowed or undeclared) errors."""
    detail: str
    """The error (``Type: message``) or the contract violation; empty when the contract held."""
    received: tuple[Received, ...]
    harness_error: str | None = None
    """``Type: message`` of an exception harness itself raised while serving (a bug in harness)."""

    @property
    def kind(self) -> Kind:
        """Outcome and exception type: what "fails the same way" compares."""
        return self.outcome, self.error_type

    @property
    def failing(self) -> bool:
        """True for garbage passed, undeclared errors, timeouts and crashes that harness did not cause."""
        return self.outcome in BAD_OUTCOMES and self.harness_error is None

    @property
    def names(self) -> tuple[str, ...]:
        """Fault names of the chain, in order."""
        return tuple(use.fault.name for use in self.chain)

    @property
    def labels(self) -> list[str]:
        """Fault labels with parameters, in order (``rename_keys(mapping={...})``)."""
        return [use.label for use in self.chain]


class Prober:
    """Runs examples against an in-process target: one interceptor, a fresh case and Responder each."""

    def __init__(self, case: FuzzCase, target: PyTarget) -> None:
        self.case = case
        self.scenario = case.scenario()
        self.target = target
        self.runs = 0
        self._interceptor = Interceptor(Responder(self.scenario.source), time_scale=0.0)
        self._memo: dict[tuple[str, int], Trial] = {}
        self._stuck: list[threading.Thread] = []
        self._rss: RssSampler | None = None
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def active(self) -> Iterator[Prober]:
        """Intercept model calls for the block; pipeline calls still running after it stay fenced off."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(self._interceptor)
            self._rss = stack.enter_context(RssSampler())
            stack.callback(self._fence_stuck)
            yield self

    def run(self, chain: Sequence[FaultUse], reply_seed: int) -> Trial:
        """Run the pipeline once: ``chain`` on every model call, the reply drawn from ``reply_seed``."""
        from harness.strategies import responder_for

        if self._rss is None:
            raise RuntimeError("Prober.run outside Prober.active()")
        chain = tuple(chain)
        errors: list[str] = []
        self._interceptor.responder = _Watched(
            responder_for(chain, self.scenario.source, seed=reply_seed), errors
        )
        state = CaseState(seed=reply_seed, index=0, deadline=self.scenario.case_timeout, time_scale=0.0)
        value = self.scenario.make_inputs(reply_seed, 1)[0]
        observation, stuck = run_case(self.scenario, self.target, state, value, self._rss, self._started)
        self.runs += 1
        if stuck is not None:
            self._stuck.append(stuck)
        received = tuple(
            Received(c.call, c.status, c.stream, tuple(c.faults), bytes(c.body[:BODY_LIMIT]), len(c.body))
            for c in state.snapshot()
        )
        detail = observation.error or observation.violation or ""
        harness_error = errors[0] if errors else None
        error_type = error_type_of(observation)
        return Trial(chain, reply_seed, observation.outcome, error_type, detail, received, harness_error)

    def run_cached(self, chain: Sequence[FaultUse], reply_seed: int) -> Trial:
        """:meth:`run`, remembered: shrinking asks about the same chain more than once."""
        key = (_chain_key(chain), reply_seed)
        if key not in self._memo:
            self._memo[key] = self.run(chain, reply_seed)
        return self._memo[key]

    def _fence_stuck(self) -> None:
        """Keep failing the model calls of abandoned cases until their threads end (never a real provider)."""
        alive = [t for t in self._stuck if t.is_alive()]
        if not alive:
            return
        guard = Interceptor(self._interceptor.responder, time_scale=0.0, only_abandoned=True).start()

        def release() -> None:
            for thread in alive:
                thread.join()
            guard.stop()

        threading.Thread(target=release, name="harness-fuzz-fence", daemon=True).start()


class _Watched(Responder):
    """A Responder that notes exceptions of its own (a fault or dialect bug) before they reach the pipeline.

    Such an exception surfaces in the pipeline as an error of the pipeline's; noting it
    here keeps harness's own bugs out of the pipeline's failure classes.
    """

    def __init__(self, inner: Responder, errors: list[str]) -> None:
        super().__init__(inner.source, inner.plan, seed=inner.seed)
        self._errors = errors

    def respond(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        case: CaseState,
        *,
        read_timeout: float | None = None,
    ) -> WireReply:
        """:meth:`Responder.respond`, its own exceptions noted and re-raised."""
        try:
            return super().respond(path, body, headers, case, read_timeout=read_timeout)
        except CaseDeadlineExceeded:
            raise
        except Exception as exc:
            self._errors.append(f"{type(exc).__name__}: {exc}")
            raise


def error_type_of(observation: Observation) -> str | None:
    """The exception's class name for an (allowed or undeclared) error; None for any other outcome."""
    if observation.outcome in ERROR_OUTCOMES and observation.error:
        return observation.error.partition(":")[0]  # the runner writes "Type: message"
    return None


def _chain_key(chain: Sequence[FaultUse]) -> str:
    return json.dumps([use_document(u) for u in chain], sort_keys=True)
