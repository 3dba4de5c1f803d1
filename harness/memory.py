"""Memory watch for in-process cases: tracemalloc peak and a sampled RSS high-water mark."""

from __future__ import annotations

import threading
import tracemalloc
from types import TracebackType

import psutil

SAMPLE_INTERVAL = 0.01
"""Seconds between RSS samples (100 Hz): short cases still get a few samples."""


class RssSampler:
    """Background thread sampling this process's RSS; keeps the high-water mark since the last reset."""

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self._process = psutil.Process()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-rss", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> int:
        """Take one sample now and return the current high-water mark."""
        rss = self._process.memory_info().rss
        self._peak = max(self._peak, rss)
        return self._peak

    def reset(self) -> None:
        """Start a new high-water mark from the current RSS."""
        self._peak = 0
        self.sample()

    @property
    def peak(self) -> int:
        """Highest RSS seen since the last reset, in bytes."""
        return self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class AllocationPeak:
    """tracemalloc peak during a block, relative to the traced size when it began."""

    def __init__(self) -> None:
        self.peak = 0
        self._started_here = False
        self._base = 0

    def __enter__(self) -> AllocationPeak:
        if not tracemalloc.is_tracing():
            tracemalloc.start()
            self._started_here = True
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.peak = max(0, tracemalloc.get_traced_memory()[1] - self._base)
        if self._started_here:
            tracemalloc.stop()
