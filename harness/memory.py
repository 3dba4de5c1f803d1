"""Memory watch for in-process cases: tracemalloc switched on for a run, and a sampled RSS high-water mark."""

from __future__ import annotations

import contextlib
import threading
import tracemalloc
from collections.abc import Iterator

import psutil

SAMPLE_INTERVAL = 0.01
"""Seconds between RSS samples (100 Hz): short cases still get a few samples."""


class RssSampler:
    """Background thread sampling this process's RSS; keeps the high-water mark since the last reset."""

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self._process = psutil.Process()
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-rss", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> int:
        """Take one sample now and return the current high-water mark."""
        rss = self._process.memory_info().rss
        with self._lock:
            self._peak = max(self._peak, rss)
            return self._peak

    def reset(self) -> None:
        """Start a new high-water mark from the current RSS."""
        with self._lock:
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


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """Keep tracemalloc tracing for the block (started here only if it was not already on)."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        yield
    finally:
        if started_here:
            tracemalloc.stop()
