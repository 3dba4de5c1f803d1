"""Body surgery for transport faults: segments of a reply's body, and the SSE frames inside it.

A :class:`~harness.wire.WireReply` body is a list of :class:`~harness.wire.Segment` (bytes
sent after a delay). The helpers here edit the joined body bytes while keeping each
segment's delay at its place, and find SSE frames by parsing the bytes back (a frame ends
at a blank line), so stream faults compose with each other and with faults that
re-segment the body. Nothing here mutates its input.
"""

from __future__ import annotations

import json

from harness.dialects.base import Dialect
from harness.wire import Segment, SseEvent

# --------------------------------------------------------------------------- segments


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
    the end or the ending break) and dropped otherwise.
    """
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


def splice(segments: list[Segment], start: int, end: int, data: bytes) -> list[Segment]:
    """Replace body bytes [start, end) with ``data``; boundaries inside the span move to its end."""
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


def truncate(segments: list[Segment], size: int) -> list[Segment]:
    """The first ``size`` body bytes; segments starting at or after the cut are dropped, delays too."""
    kept = []
    for offset, seg in zip(offsets(segments), segments, strict=True):
        if offset >= size:
            break
        kept.append(Segment(seg.data[: size - offset], seg.delay))
    return kept


def split(segments: list[Segment], positions: list[int], gap: float = 0.0) -> list[Segment]:
    """Cut segments at body offsets ``positions``; each new piece waits ``gap`` seconds."""
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
