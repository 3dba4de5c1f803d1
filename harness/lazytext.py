"""Text too large to hold, described by repeated runs and generated piece by piece when sent.

A 1 GiB ``huge_payload`` reply is a few short strings repeated millions of times. A
:class:`LazyText` keeps only those runs: its length, its slices (the dialect's stream
deltas) and its JSON-escaped byte size are known without building the text, and
:meth:`LazyText.json_chunks` yields the escaped UTF-8 bytes a bounded chunk at a time.
JSON string escaping is per character, so escaping chunk by chunk gives exactly the
bytes ``json.dumps`` gives for the whole string.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import AnyStr

CHUNK_CHARS = 1 << 18
"""Characters generated at a time (about one MiB of body per chunk)."""


Run = tuple[str, int, int, int]
"""``(source, start, stop, times)``: ``source[start:stop]`` repeated ``times`` times.

Slices share their source string, so the pieces of a split text cost no copies.
"""


@dataclass(frozen=True, slots=True)
class LazyText:
    """The text ``"".join(source[start:stop] * times for ... in runs)``, never built unless asked for."""

    runs: tuple[Run, ...]
    """The runs in order; pieces are short, times may be huge."""

    @classmethod
    def of(cls, *runs: tuple[str, int]) -> LazyText:
        """A lazy text from ``(piece, times)`` runs, empty ones dropped."""
        return cls(tuple((piece, 0, len(piece), times) for piece, times in runs if piece and times > 0))

    def __len__(self) -> int:
        return sum((stop - start) * times for _, start, stop, times in self.runs)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def __str__(self) -> str:
        return "".join(source[start:stop] * times for source, start, stop, times in self.runs)

    def __getitem__(self, key: slice) -> LazyText:
        """A slice (step 1) as another lazy text: the runs it covers, trimmed at both ends."""
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError("LazyText slices take no step")
        out: list[Run] = []
        pos = 0
        for run in self.runs:
            size = (run[2] - run[1]) * run[3]
            lo, hi = max(start - pos, 0), min(stop - pos, size)
            if lo < hi:
                out.extend(_cut_run(run, lo, hi))
            pos += size
            if pos >= stop:
                break
        return LazyText(tuple(r for r in out if r[1] < r[2] and r[3] > 0))

    def chunks(self, size: int = CHUNK_CHARS) -> Iterator[str]:
        """The text in pieces of at most ``size`` characters (about ``size`` unless a run ends)."""
        for source, start, stop, times in self.runs:
            yield from _repeat(source[start:stop], times, size, lambda text: text)

    def json_chunks(self, size: int = CHUNK_CHARS) -> Iterator[bytes]:
        """The text JSON-escaped (as ``json.dumps(..., ensure_ascii=False)`` inside the quotes), UTF-8.

        Each run's piece is escaped once and its bytes repeated: a gigabyte costs copies, not escaping.
        """
        for source, start, stop, times in self.runs:
            yield from _repeat(source[start:stop], times, size, lambda text: _escape(text).encode())

    def json_size(self) -> int:
        """Bytes of :meth:`json_chunks`, computed from the runs without generating the text."""
        return sum(_escaped_size(source, start, stop) * times for source, start, stop, times in self.runs)


def _repeat(piece: str, times: int, size: int, encode: Callable[[str], AnyStr]) -> Iterator[AnyStr]:
    """``encode(piece * times)`` in chunks of about ``size`` characters, each piece encoded once."""
    if len(piece) >= size:
        parts = [encode(piece[at : at + size]) for at in range(0, len(piece), size)]
        for _ in range(times):
            yield from parts
        return
    per = size // len(piece)
    full, rest = divmod(times, per)
    encoded = encode(piece)
    if full:
        block = encoded * per
        for _ in range(full):
            yield block
    if rest:
        yield encoded * rest


def _cut_run(run: Run, lo: int, hi: int) -> list[Run]:
    """Characters [lo, hi) of a run, as runs: a partial head, whole repeats, a partial tail."""
    source, start, stop, _ = run
    width = stop - start
    first, head = divmod(lo, width)
    last, tail = divmod(hi, width)
    if first == last:
        return [(source, start + head, start + tail, 1)]
    runs: list[Run] = []
    if head:
        runs.append((source, start + head, stop, 1))
        first += 1
    runs.append((source, start, stop, last - first))
    runs.append((source, start, start + tail, 1))
    return runs


def _escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _escaped_size(source: str, start: int, stop: int) -> int:
    """Bytes of ``source[start:stop]`` JSON-escaped; for ASCII sources, from counts of escaped characters."""
    extra = _ascii_escapes(source)
    if extra is None:
        return len(_escape(source[start:stop]).encode())
    positions, cost = extra
    added = cost[bisect.bisect_left(positions, stop)] - cost[bisect.bisect_left(positions, start)]
    return stop - start + added


@functools.lru_cache(maxsize=32)
def _ascii_escapes(source: str) -> tuple[list[int], list[int]] | None:
    """Where an ASCII source has characters JSON escapes, and the running count of bytes they add."""
    if not source.isascii():
        return None
    positions, cost, total = [], [0], 0
    for match in _ESCAPED.finditer(source):
        positions.append(match.start())
        total += len(_escape(match.group())) - 1
        cost.append(total)
    return positions, cost


_ESCAPED = re.compile(r'[\x00-\x1f"\\]')
