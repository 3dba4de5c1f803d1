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
import contextvars
import math
import threading
import time
from dataclasses import dataclass, field


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
    body: bytes
    """The exact bytes served (before any break)."""
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
            self.calls.append(served)
            self.calls.sort(key=lambda c: c.call)

    def elapsed(self) -> float:
        """Scenario-time seconds since the case started (wall time plus skipped delay)."""
        return time.perf_counter() - self.started + self.skipped

    def _plan_wait(self, seconds: float) -> tuple[float, bool]:
        """How long to really sleep for an injected wait, and whether the deadline ends it."""
        overrun = False
        if self.deadline is not None:
            remaining = max(0.0, self.deadline - self.elapsed())
            if seconds >= remaining:
                seconds, overrun = remaining, True
        if math.isinf(seconds):
            raise CaseDeadlineExceeded("waited forever: no deadline and no client timeout")
        real = seconds * self.time_scale
        with self._lock:
            self.skipped += seconds - real
        return real, overrun

    def wait(self, seconds: float) -> None:
        """Block for an injected delay (scaled); raise at the deadline."""
        real, overrun = self._plan_wait(seconds)
        if real > 0:
            time.sleep(real)
        if overrun:
            raise CaseDeadlineExceeded(f"case {self.case_id} passed its {self.deadline}s deadline")

    async def async_wait(self, seconds: float) -> None:
        """Async twin of :meth:`wait`."""
        real, overrun = self._plan_wait(seconds)
        if real > 0:
            await asyncio.sleep(real)
        if overrun:
            raise CaseDeadlineExceeded(f"case {self.case_id} passed its {self.deadline}s deadline")


CURRENT_CASE: contextvars.ContextVar[CaseState | None] = contextvars.ContextVar("harness_case", default=None)
"""The case the running pipeline call belongs to; set by the runner, read by deliveries."""
