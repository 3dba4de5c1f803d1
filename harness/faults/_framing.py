"""Body surgery for transport faults: segments of a reply's body, and the SSE frames inside it.

A :class:`~harness.wire.WireReply` body is a list of :class:`~harness.wire.Segment` (bytes
sent after a delay). The helpers here edit the joined body bytes while keeping each
segment's delay at its place, and find SSE frames by parsing the bytes back (a frame ends
at a blank line), so stream faults compose with each other and with faults that
re-segment the body. Nothing here mutates its input.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass

from harness.dialects.base import Dialect
from harness.wire import Segment, Segments, SegmentStream, SseEvent, WireReply

# --------------------------------------------------------------------------- segments


def held(reply: WireReply) -> WireReply:
    """``reply`` with a lazy body built into a list of segments, for faults that edit the body as a whole.

    A lazy body (:class:`~harness.wire.SegmentStream`) exists only for a huge reply; the
    faults that must parse or re-cut all of it build it here, as they would an eager one.
    """
    if isinstance(reply.segments, SegmentStream):
        return dataclasses.replace(reply, segments=list(reply.segments))
    return reply


SMALL_FRAME = 1 << 16
"""Frames of a lazy body up to this size are kept and parsed by :func:`scan`; larger ones carry text."""
_HEAD = 512


@dataclass(frozen=True, slots=True)
class Scan:
    """What one pass over a lazy body found, without holding it: SSE frames, segment count, first size."""

    spans: list[tuple[int, int]]
    """(start, end) of each frame, as :func:`frames` finds them."""
    events: list[SseEvent | None]
    """Each frame parsed (:func:`parse_frame`); a frame over :data:`SMALL_FRAME` parsed from its head only."""
    segments: int
    """Number of segments."""
    first: int
    """Bytes of the first segment (0 without any)."""


def scan(stream: SegmentStream) -> Scan:
    """Generate a lazy body once, keeping only its frame layout and its small frames."""
    found = _Scanner()
    count, first = 0, 0
    for segment in stream:
        if not count:
            first = len(segment.data)
        count += 1
        found.feed(segment.data)
    found.close()
    return Scan(found.spans, found.events, count, first)


class _Scanner:
    """Splits a body fed in pieces into frames (ended by a blank line) as :func:`frames` does."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self.events: list[SseEvent | None] = []
        self.start = self.pos = 0
        self.kept = bytearray()
        self.head: bytes | None = None
        """The first bytes of a frame too large to keep (None while it is kept whole)."""
        self._last = 0

    def feed(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            joined = data[at] == 0x0A and self._ends_with_newline()
            blank = at - 1 if joined else data.find(b"\n\n", at)
            if blank < 0:
                self._take(data[at:])
                self.pos += len(data) - at
                return
            end = blank + 2
            self._take(data[at:end])
            self.pos += end - at
            self._close()
            at = end

    def close(self) -> None:
        if self.pos > self.start:
            self._close()

    def _ends_with_newline(self) -> bool:
        return self.pos > self.start and self._last == 0x0A

    def _take(self, piece: bytes) -> None:
        if piece:
            self._last = piece[-1]
        if self.head is None:
            self.kept += piece
            if len(self.kept) > SMALL_FRAME:
                self.head, self.kept = bytes(self.kept[:_HEAD]), bytearray()

    def _close(self) -> None:
        self.spans.append((self.start, self.pos))
        self.events.append(parse_frame(bytes(self.kept)) if self.head is None else _head_event(self.head))
        self.start, self.kept, self.head = self.pos, bytearray(), None


def _head_event(head: bytes) -> SseEvent:
    """A large frame as far as its ``event:`` line tells (its type): it carries text, never a finish."""
    for line in head.decode("utf-8", "replace").split("\n"):
        field, _, value = line.partition(":")
        if field == "event":
            name = value.removeprefix(" ")
            return SseEvent({"type": name}, name)
    return SseEvent({})


def drop_ranges(stream: SegmentStream, ranges: list[tuple[int, int]]) -> SegmentStream:
    """:func:`splice` with nothing for each range, lazily; an emptied segment passes its delay on."""
    ordered = sorted(ranges)
    removed = sum(end - start for start, end in ordered)

    def produce() -> Iterator[Segment]:
        carry, offset = 0.0, 0
        for segment in stream:
            data, end = segment.data, offset + len(segment.data)
            kept = b"".join(data[lo - offset : hi - offset] for lo, hi in _gaps(ordered, offset, end))
            offset = end
            if kept or not data:
                yield Segment(kept, segment.delay + carry)
                carry = 0.0
            else:
                carry += segment.delay
        if carry:
            yield Segment(b"", carry)

    return SegmentStream(produce, stream.size - removed, stream.delay)


def _gaps(ranges: list[tuple[int, int]], start: int, end: int) -> Iterator[tuple[int, int]]:
    """The parts of [start, end) outside ``ranges`` (sorted, disjoint)."""
    at = start
    for lo, hi in ranges:
        if hi <= at:
            continue
        if lo >= end:
            break
        if lo > at:
            yield at, lo
        at = max(at, hi)
    if at < end:
        yield at, end


def stall_stream(stream: SegmentStream, offset: int, fill: list[Segment], rest: float) -> SegmentStream:
    """The stream paused at byte ``offset``: ``fill`` segments, then ``rest`` more seconds, then the rest."""

    def produce() -> Iterator[Segment]:
        position, done = 0, False
        for segment in stream:
            data, delay = segment.data, segment.delay
            if not done and position < offset < position + len(data):
                yield Segment(data[: offset - position], delay)
                data, delay = data[offset - position :], 0.0
                position = offset
            if not done and position >= offset:
                yield from fill
                delay, done = delay + rest, True
            position += len(data)
            yield Segment(data, delay)
        if not done:
            yield from fill
            yield Segment(b"", rest)

    added = sum(len(s.data) for s in fill)
    return SegmentStream(produce, stream.size + added, stream.delay + sum(s.delay for s in fill) + rest)


def drip_stream(stream: SegmentStream, size: int, rate: float, first: int) -> SegmentStream:
    """The body cut every ``size`` bytes, each piece but the first waiting its own length at ``rate``.

    ``first``: bytes of the stream's first segment (from :func:`scan`), to know the total delay up front.
    """

    def produce() -> Iterator[Segment]:
        position, started = 0, False
        for segment in stream:
            data, delay = segment.data, segment.delay
            at = 0
            while True:
                cut = min(len(data), ((position + at) // size + 1) * size - position)
                piece = data[at:cut]
                yield Segment(piece, delay + (len(piece) / rate if started else 0.0))
                started, delay, at = True, 0.0, cut
                if at >= len(data):
                    break
            position += len(data)

    head = min(first, size)
    return SegmentStream(produce, stream.size, stream.delay + (stream.size - head) / rate)


def jitter_stream(stream: SegmentStream, delays: list[float]) -> SegmentStream:
    """Each segment after the first waits ``delays[i - 1]`` seconds more (one per segment after the first)."""

    def produce() -> Iterator[Segment]:
        for number, segment in enumerate(stream):
            extra = delays[number - 1] if number else 0.0
            yield Segment(segment.data, segment.delay + extra) if extra else segment

    return SegmentStream(produce, stream.size, stream.delay + sum(delays))


def truncate_stream(stream: SegmentStream, size: int) -> SegmentStream:
    """:func:`truncate` of a lazy body whose segments carry no delay, still lazy."""
    if stream.delay:
        raise ValueError("truncate_stream needs a body without delays")

    def produce() -> Iterator[Segment]:
        offset = 0
        for segment in stream:
            if offset >= size:
                return
            yield Segment(segment.data[: size - offset], segment.delay)
            offset += len(segment.data)

    return SegmentStream(produce, min(size, stream.size))


def as_list(segments: Segments) -> list[Segment]:
    """The segments as a list (a lazy body is built)."""
    return segments if isinstance(segments, list) else list(segments)


def offsets(segments: list[Segment]) -> list[int]:
    """Start offset of each segment in the joined body."""
    starts, pos = [], 0
    for seg in segments:
        starts.append(pos)
        pos += len(seg.data)
    return starts


def rebuild(body: bytes, bounds: list[tuple[int, float]]) -> list[Segment]:
    """Segments from body bytes and (start offset, delay) pairs; equal offsets merge, delays add.

    Only the last segment can be empty: it is kept when it carries a delay (a wait before
    the end or the ending break) and dropped otherwise. No bounds (a body already emptied,
    by ``stream_cut`` say) give no segments.
    """
    if not bounds:
        if body:
            raise ValueError("rebuild needs the offset of the first segment of a non-empty body")
        return []
    merged: list[tuple[int, float]] = []
    for offset, delay in sorted(bounds, key=lambda b: b[0]):
        if merged and merged[-1][0] == offset:
            merged[-1] = (offset, merged[-1][1] + delay)
        else:
            merged.append((offset, delay))
    if len(merged) > 1 and merged[-1] == (len(body), 0.0):
        merged.pop()
    ends = [o for o, _ in merged[1:]] + [len(body)]
    return [Segment(body[o:end], d) for (o, d), end in zip(merged, ends, strict=True)]


def splice(segments: Segments, start: int, end: int, data: bytes) -> list[Segment]:
    """Replace body bytes [start, end) with ``data``; boundaries inside the span move to its end."""
    segments = as_list(segments)
    body = b"".join(s.data for s in segments)
    new_body = body[:start] + data + body[end:]
    shift = len(data) - (end - start)
    bounds = []
    for offset, seg in zip(offsets(segments), segments, strict=True):
        if offset <= start:
            bounds.append((offset, seg.delay))
        elif offset >= end:
            bounds.append((offset + shift, seg.delay))
        else:
            bounds.append((start + len(data), seg.delay))
    return rebuild(new_body, bounds)


def truncate(segments: Segments, size: int) -> Segments:
    """The first ``size`` body bytes; segments starting at or after the cut are dropped, delays too.

    A lazy body without delays stays lazy (:func:`truncate_stream`); any other is built.
    """
    if isinstance(segments, SegmentStream) and not segments.delay:
        return truncate_stream(segments, size)
    segments = as_list(segments)
    kept = []
    for offset, seg in zip(offsets(segments), segments, strict=True):
        if offset >= size:
            break
        kept.append(Segment(seg.data[: size - offset], seg.delay))
    return kept


def split(segments: Segments, positions: list[int], gap: float = 0.0) -> list[Segment]:
    """Cut segments at body offsets ``positions``; each new piece waits ``gap`` seconds."""
    segments = as_list(segments)
    body = b"".join(s.data for s in segments)
    bounds = [(o, s.delay) for o, s in zip(offsets(segments), segments, strict=True)]
    existing = {o for o, _ in bounds}
    bounds += [(p, gap) for p in positions if 0 < p < len(body) and p not in existing]
    return rebuild(body, bounds)


# --------------------------------------------------------------------------- frames


def frames(body: bytes) -> list[tuple[int, int]]:
    """(start, end) of each SSE frame; a frame ends after its blank line, a trailing partial frame too."""
    spans, start = [], 0
    while start < len(body):
        blank = body.find(b"\n\n", start)
        end = len(body) if blank < 0 else blank + 2
        spans.append((start, end))
        start = end
    return spans


def parse_frame(frame: bytes) -> SseEvent | None:
    """The event a frame carries (JSON data decoded when it parses); None for comments and noise."""
    name, data = None, []
    for line in frame.decode("utf-8", "replace").split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if not data:
        return None
    text = "\n".join(data)
    try:
        return SseEvent(json.loads(text), name)
    except ValueError:
        return SseEvent(text, name)


def content_frames(body: bytes, spans: list[tuple[int, int]], dialect: Dialect) -> list[int]:
    """Indexes of frames that carry a JSON event and are not stream terminators."""
    out = []
    for index, (start, end) in enumerate(spans):
        event = parse_frame(body[start:end])
        if event is not None and isinstance(event.data, dict) and not dialect.is_stream_terminator(event):
            out.append(index)
    return out


_CLOSING_TYPES = frozenset(
    {
        "message_delta",
        "message_stop",
        "response.output_text.done",
        "response.refusal.done",
        "response.function_call_arguments.done",
    }
)
"""Event types after the content: Anthropic's finish, and the Responses events repeating the whole text."""


def closes(event: SseEvent, dialect: Dialect) -> bool:
    """True for frames that end a stream or carry its finish reason, final usage or (Responses) whole text."""
    if dialect.is_stream_terminator(event):
        return True
    data = event.data
    if not isinstance(data, dict):
        return False
    if data.get("type") in _CLOSING_TYPES:
        return True
    choices = data.get("choices")
    if choices == [] and data.get("usage"):
        return True
    return any(isinstance(c, dict) and c.get("finish_reason") for c in choices or [])
