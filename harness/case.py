"""Per-case state shared by the Responder, the deliveries and the runner.

A *case* is one pipeline call. Its state counts the model calls it made (so a fault plan
can say "429, 429, then clean"), logs what was served, and keeps the case's clock:
injected delays may be scaled down (``time_scale`` < 1) to run a 15 s latency scenario
in milliseconds, while latency is still reported in *scenario time* — wall time plus the
delay that was skipped. A case may carry a deadline (scenario time); waiting past it
raises :class:`CaseDeadlineExceeded`, which pipelines cannot swallow with ``except
Exception`` and the runner classifies as a hang.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import math
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness.wire import LazyBody


class CaseDeadlineExceeded(BaseException):
    """The case ran past its deadline: the pipeline would have hung. Not an ``Exception`` on purpose."""


@dataclass(slots=True)
class ServedCall:
    """One model call as served: what the pipeline asked and exactly what it got."""

    call: int
    """1-based index of the model call within its case."""
    dialect: str
    path: str
    stream: bool
    faults: list[str]
    """Labels of the faults applied, in order."""
    status: int
    body: bytes | LazyBody
    """The exact bytes served (before any break); a huge lazy reply's as a :class:`~harness.wire.LazyBody`."""
    injected_delay: float
    """Seconds of delay the faults injected (scenario time)."""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class CaseState:
    """Call counter, served-call log and clock of one case."""

    seed: int
    index: int
    """0-based case index within the run."""
    deadline: float | None = None
    """Seconds of scenario time the case may take; None for no limit."""
    time_scale: float = 1.0
    """Real seconds slept per injected second (0 = never sleep, account only)."""
    calls: list[ServedCall] = field(default_factory=list)
    skipped: float = 0.0
    """Injected seconds not slept because of ``time_scale``; added back to latency."""
    started: float = field(default_factory=time.perf_counter)
    abandoned: bool = False
    """Set by the runner when it gave up on the case; later model calls then fail at once."""
    memory: PipelineMemory | None = None
    """Allocation accounting that leaves out the fake provider's own bytes (runner-set)."""
    _issued: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def case_id(self) -> str:
        """``<seed>-<index>``: what ``x-harness-case`` carries."""
        return f"{self.seed}-{self.index}"

    def next_call(self) -> int:
        """Reserve the next 1-based call number (thread-safe: SDKs may retry from threads)."""
        with self._lock:
            self._issued += 1
            return self._issued

    def record(self, served: ServedCall) -> None:
        """Add a served call to the case log, kept in call order."""
        with self._lock:
            calls = self.calls
            if not calls or calls[-1].call <= served.call:
                calls.append(served)  # the usual order: no search
            else:
                bisect.insort(calls, served, key=_call_number)

    def snapshot(self) -> list[ServedCall]:
        """A copy of the case log, safe to read while a late worker may still append."""
        with self._lock:
            return list(self.calls)

    def elapsed(self) -> float:
        """Scenario-time seconds since the case started (wall time plus skipped delay)."""
        return time.perf_counter() - self.started + self.skipped

    def _plan_wait(self, seconds: float) -> tuple[float, bool]:
        """How many scenario seconds to wait for an injected delay, and whether the deadline ends it."""
        if self.abandoned:
            raise CaseDeadlineExceeded(f"case {self.case_id} was abandoned at its deadline")
        overrun = False
        if self.deadline is not None:
            remaining = max(0.0, self.deadline - self.elapsed())
            if seconds >= remaining:
                seconds, overrun = remaining, True
        if math.isinf(seconds):
            raise CaseDeadlineExceeded("waited forever: no deadline and no client timeout")
        return seconds, overrun

    def _credit(self, seconds: float, began: float, finished: bool) -> None:
        """Add the unslept part of a wait; an interrupted wait counts only the share it lasted."""
        real = seconds * self.time_scale
        share = 1.0 if finished or real == 0 else min(1.0, (time.perf_counter() - began) / real)
        with self._lock:
            self.skipped += share * (seconds - real)

    def wait(self, seconds: float) -> None:
        """Block for an injected delay (scaled); raise at the deadline."""
        seconds, overrun = self._plan_wait(seconds)
        began, finished = time.perf_counter(), False
        try:
            if seconds * self.time_scale > 0:
                time.sleep(seconds * self.time_scale)
            finished = True
        finally:
            self._credit(seconds, began, finished)
        if overrun:
            raise CaseDeadlineExceeded(f"case {self.case_id} passed its {self.deadline}s deadline")

    async def async_wait(self, seconds: float) -> None:
        """Async twin of :meth:`wait`; a cancelled wait credits only the time it really lasted."""
        seconds, overrun = self._plan_wait(seconds)
        began, finished = time.perf_counter(), False
        try:
            if seconds * self.time_scale > 0:
                await asyncio.sleep(seconds * self.time_scale)
            finished = True
        finally:
            self._credit(seconds, began, finished)
        if overrun:
            raise CaseDeadlineExceeded(f"case {self.case_id} passed its {self.deadline}s deadline")


def _call_number(served: ServedCall) -> int:
    return served.call


class PipelineMemory:
    """tracemalloc peak of a case without the fake provider's allocations.

    tracemalloc sees the whole process, and the Responder building a 16 MB reply (plus the
    copy kept in the case log) would otherwise count against the pipeline. Around each
    model call the Responder closes the pipeline's peak so far, then counts the bytes the
    call left allocated as the provider's and restarts the peak. It is an estimate: provider
    bytes freed while the pipeline still runs (a stream it abandons) can hide as much of the
    pipeline's own allocation, so it errs low, never counting the provider against the pipeline.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.base = tracemalloc.get_traced_memory()[0]
        self.provider_bytes = 0
        self.pipeline_peak = 0
        tracemalloc.reset_peak()

    def _close_period(self) -> int:
        current, peak = tracemalloc.get_traced_memory()
        self.pipeline_peak = max(self.pipeline_peak, peak - self.base - self.provider_bytes)
        return current

    @contextlib.contextmanager
    def provider(self) -> Iterator[None]:
        """Mark a block as the provider's: its allocations that remain are not the pipeline's."""
        with self._lock:
            before = self._close_period()
        try:
            yield
        finally:
            with self._lock:
                self.provider_bytes += max(0, tracemalloc.get_traced_memory()[0] - before)
                tracemalloc.reset_peak()

    def peak(self) -> int:
        """The pipeline's peak allocation in bytes over the case so far."""
        with self._lock:
            self._close_period()
            return max(0, self.pipeline_peak)


CURRENT_CASE: contextvars.ContextVar[CaseState | None] = contextvars.ContextVar("harness_case", default=None)
"""The case the running pipeline call belongs to; set by the runner, read by deliveries."""
