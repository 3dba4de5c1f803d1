"""Garbage collection for a process that serves replies: full collections only when they delay none.

CPython's full collection walks every tracked object while the event loop waits. With
2,000 connections open that is a pause of about 100 ms, and every injected delay that falls
due meanwhile ends that much late — the fake provider's latency is then wrong exactly when a
load test measures it. A process that only serves (``harness serve``) can do better:

- what start-up built (modules, the scenario, Faker's locale data) is frozen
  (:func:`gc.freeze`): no collection walks it again;
- the young generations stay with CPython: collecting them is cheap;
- the full collection is run from the event loop, when no request is in flight, or after
  :attr:`QuietCollector.max_interval` seconds regardless, so that a server which is never
  idle still frees old cycles.

Installing it changes the whole process's collector, so only a process that does nothing
else installs it; :meth:`QuietCollector.stop` puts everything back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable

NEVER = 2**31 - 1
"""A generation-2 threshold CPython never reaches: no automatic full collection."""


class QuietCollector:
    """Runs full collections from the event loop while ``busy()`` is False (or every ``max_interval`` s)."""

    def __init__(
        self, busy: Callable[[], bool], *, check_every: float = 1.0, max_interval: float = 30.0
    ) -> None:
        self.busy = busy
        self.check_every = check_every
        """Seconds between looks at ``busy``."""
        self.max_interval = max_interval
        """Longest time between two full collections, busy or not (seconds)."""
        self.collections = 0
        """Full collections run so far."""
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._last = time.monotonic()

    def start(self) -> None:
        """Freeze what exists, take full collections over from CPython and start collecting (on the loop)."""
        if self._task is not None:
            return
        gc.collect()
        gc.freeze()
        self._saved = gc.get_threshold()
        gc.set_threshold(self._saved[0], self._saved[1], NEVER)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="harness-collector")

    async def stop(self) -> None:
        """Stop collecting and give the collector back to CPython as it was."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._saved is not None:
            gc.set_threshold(*self._saved)
        gc.unfreeze()

    def tick(self, now: float) -> bool:
        """One look at the server: a full collection if it is idle or one is overdue; True if it collected."""
        if self.busy() and now - self._last < self.max_interval:
            return False
        gc.collect()
        self.collections += 1
        self._last = now
        return True

    async def _run(self) -> None:
        self._last = time.monotonic()
        while True:
            await asyncio.sleep(self.check_every)
            self.tick(time.monotonic())
