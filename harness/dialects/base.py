"""What a dialect is: one provider wire format, parsed and rendered exactly.

A dialect turns request bytes into a :class:`~harness.wire.ModelRequest`, a
:class:`~harness.wire.Completion` into an :class:`~harness.wire.Envelope` (JSON body or
SSE events), provider error envelopes, and finally an envelope into a
:class:`~harness.wire.WireReply` (bytes in segments). It never sleeps and never touches
a socket. Every id and timestamp it invents comes from the ``rng`` it is given, so the
same seed renders byte-identical replies.
"""

from __future__ import annotations

import functools
import json
import math
import random
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from harness.jsontext import compact_json
from harness.lazytext import LazyText
from harness.registry import Registry
from harness.seeding import between
from harness.wire import (
    JSON,
    Completion,
    Envelope,
    ModelRequest,
    Segment,
    Segments,
    SegmentStream,
    SseEvent,
    WireReply,
)

Text = str | LazyText
"""Reply text as dialects render it: a string, or a :class:`~harness.lazytext.LazyText` streamed lazily."""

SEGMENT_BYTES = 1 << 18
"""A lazily serialised frame (or body) larger than this goes out in segments of about this size."""


class Dialect(ABC):
    """One provider wire format (``openai-chat``, ``anthropic-messages``, …)."""

    name: str
    """Registry name, as written in scenarios (``provider:``)."""
    paths: tuple[str, ...]
    """URL paths this dialect answers, e.g. ``("/v1/chat/completions",)``."""
    default_host: str
    """The provider's public host, intercepted in-process (``api.openai.com``)."""

    @abstractmethod
    def parse(self, path: str, body: bytes, headers: Mapping[str, str]) -> ModelRequest:
        """Parse a request; raises ``ValueError`` with a short reason when it is not this dialect's."""

    def request(
        self, path: str, data: dict[str, JSON], headers: Mapping[str, str], **fields: Any
    ) -> ModelRequest:
        """A parsed request with the fields every dialect reads the same way (headers, stream flag)."""
        return ModelRequest(
            dialect=self.name,
            path=path,
            body=data,
            headers={k.lower(): v for k, v in headers.items()},
            stream=data.get("stream") is True,
            **fields,
        )

    @abstractmethod
    def render(self, completion: Completion, request: ModelRequest, rng: random.Random) -> Envelope:
        """The provider's successful reply: a JSON body, or SSE events when ``request.stream``."""

    @abstractmethod
    def render_error(
        self, status: int, message: str, error_type: str | None, code: str | None, rng: random.Random
    ) -> Envelope:
        """The provider's own error envelope for ``status`` (body and headers, not streaming)."""

    @abstractmethod
    def stream_error_event(self, message: str, error_type: str | None) -> SseEvent:
        """An error delivered inside a 200 stream, as this provider sends it."""

    @abstractmethod
    def is_stream_terminator(self, event: SseEvent) -> bool:
        """True for the event(s) whose absence is a cut stream (``[DONE]``, ``message_stop``)."""

    @abstractmethod
    def reply_text(self, body: JSON) -> str | None:
        """The text content (or forced tool arguments) inside a rendered non-streaming body."""

    # Envelope hooks: the envelope faults call these on a private copy, which they edit in place.
    # A dialect that does not override one does not support that fault.

    in_band_error_status: int = 500
    """The status whose error body ``error_in_200`` serves inside a 200 by default."""

    def empty_output(self, envelope: Envelope, mode: str) -> None:
        """Empty the reply's output (``choices``, ``content``, ``output``); ``mode``: the stream variant."""
        raise NotImplementedError(f"{self.name} has no empty_output hook")

    def null_content(self, envelope: Envelope, form: str) -> None:
        """Make the reply's text JSON null (``form: null``) or drop its key (``form: missing``)."""
        raise NotImplementedError(f"{self.name} has no null_content hook")

    def break_tool_arguments(self, envelope: Envelope, breaker: Callable[[str], str]) -> None:
        """Replace each tool call's arguments by ``breaker(text)``, keeping the stream's fragment layout."""
        raise NotImplementedError(f"{self.name} has no break_tool_arguments hook")

    def strip_usage(self, envelope: Envelope) -> None:
        """Remove every ``usage`` the reply carries (body, usage chunk, lifecycle events)."""
        raise NotImplementedError(f"{self.name} has no strip_usage hook")

    def tax_usage(self, envelope: Envelope, reasoning_tokens: int, multiplier: float) -> None:
        """Inflate the final output-token counts: ``count * multiplier + reasoning_tokens``."""
        raise NotImplementedError(f"{self.name} has no tax_usage hook")

    def content_filtered(self, envelope: Envelope, fraction: float | None) -> None:
        """Stop the reply as the safety filter does, its text cut to ``fraction`` when given."""
        raise NotImplementedError(f"{self.name} has no content_filtered hook")

    def events_edited(self, events: list[SseEvent]) -> None:
        """Restore stream invariants (sequence numbers…) after a fault added or dropped events."""
        return

    def serialize(self, envelope: Envelope, *, lazy: bool = False) -> WireReply:
        """Frame an envelope as bytes: one JSON segment, or one segment per SSE event.

        ``lazy``: the envelope holds :class:`~harness.lazytext.LazyText` values; the body is
        then a :class:`~harness.wire.SegmentStream` with the same bytes, generated as it is
        sent, a frame (or body) over :data:`SEGMENT_BYTES` split into segments of about that size.
        """
        headers = dict(envelope.headers)
        segments: Segments
        if envelope.raw_body is not None:
            segments = [Segment(envelope.raw_body)]
        elif envelope.events is not None:
            headers.setdefault("content-type", "text/event-stream; charset=utf-8")
            if lazy:
                segments = lazy_segments([frame_parts(e) for e in envelope.events])
            else:
                segments = [Segment(frame_event(e)) for e in envelope.events]
        else:
            headers.setdefault("content-type", "application/json")
            body = envelope.body
            segments = lazy_segments([json_parts(body)]) if lazy else [Segment(dump_json(body))]
        return WireReply(status=envelope.status, headers=list(headers.items()), segments=segments)


def dump_json(value: JSON) -> bytes:
    """Compact UTF-8 JSON, non-ASCII kept raw (so multi-byte characters can be split)."""
    return compact_json(value).encode()


def frame_event(event: SseEvent) -> bytes:
    """One SSE frame: optional ``event:`` line, one ``data:`` line, blank line."""
    data = event.data if isinstance(event.data, str) else compact_json(event.data)
    if event.event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event.event}\ndata: {data}\n\n".encode()


Part = bytes | LazyText
"""A piece of a lazily serialised frame: bytes as they are, or a lazy text to JSON-escape."""


def text_of(completion: Completion) -> Text | None:
    """The completion's text as a dialect renders it: the lazy text when there is one."""
    return completion.lazy_text if completion.lazy_text is not None else completion.text


def json_parts(value: JSON) -> list[Part]:
    """``dump_json(value)`` as parts, each lazy text inside kept lazy (quoted by the parts around it)."""
    parts: list[Part] = []
    _json_parts(value, parts)
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def _json_parts(value: JSON, out: list[Part]) -> None:
    if isinstance(value, LazyText):
        out.extend((b'"', value, b'"'))
    elif not _has_lazy(value):
        out.append(dump_json(value))
    elif isinstance(value, dict):
        out.append(b"{")
        for number, (key, item) in enumerate(value.items()):
            # json.dumps's own spelling of the key (it converts non-string keys): '{"key":0}'[1:-1].
            out.append((b"," if number else b"") + dump_json({key: 0})[1:-2])
            _json_parts(item, out)
        out.append(b"}")
    else:
        out.append(b"[")
        for number, item in enumerate(value):
            if number:
                out.append(b",")
            _json_parts(item, out)
        out.append(b"]")


def _has_lazy(value: JSON) -> bool:
    if isinstance(value, LazyText):
        return True
    if isinstance(value, dict):
        return any(_has_lazy(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_lazy(v) for v in value)
    return False


def frame_parts(event: SseEvent) -> list[Part]:
    """:func:`frame_event` as parts, lazy texts kept lazy."""
    head = f"event: {event.event}\n" if event.event is not None else ""
    if isinstance(event.data, str):
        return [f"{head}data: {event.data}\n\n".encode()]
    return [f"{head}data: ".encode(), *json_parts(event.data), b"\n\n"]


def lazy_segments(frames: list[list[Part]]) -> SegmentStream:
    """Segments generated from frames of parts: a frame per segment, or several for a frame over the limit."""
    size = sum(len(p) if isinstance(p, bytes) else p.json_size() for parts in frames for p in parts)
    return SegmentStream(lambda: _frame_segments(frames), size)


def _frame_segments(frames: list[list[Part]]) -> Iterator[Segment]:
    for parts in frames:
        pending: list[bytes] = []
        held = 0
        for part in parts:
            for data in (part,) if isinstance(part, bytes) else part.json_chunks():
                pending.append(data)
                held += len(data)
                if held >= SEGMENT_BYTES:
                    yield Segment(b"".join(pending))
                    pending, held = [], 0
        if pending:
            yield Segment(b"".join(pending))


def spread(fragments: list[str], text: str) -> list[str]:
    """Spread ``text`` over pieces as long as ``fragments``; the last piece takes any excess."""
    out, pos = [], 0
    for i, fragment in enumerate(fragments):
        size = len(text) - pos if i == len(fragments) - 1 else len(fragment)
        out.append(text[pos : pos + size])
        pos += size
    return out


def blank(holder: dict[str, JSON], key: str, form: str) -> None:
    """``holder[key]`` set to null (``form: null``) or removed (``form: missing``)."""
    if form == "null":
        holder[key] = None
    else:
        holder.pop(key, None)


def cut(text: str, fraction: float) -> str:
    """The first ``fraction`` of ``text``."""
    return text[: math.floor(len(text) * fraction)]


Slot = tuple[dict[str, JSON], str]
"""A JSON object and the key inside it that holds a piece of text."""


def rewrite_fragments(holders: list[Slot], rewrite: Callable[[str], str]) -> None:
    """Rewrite the text spread over ``holder[key]`` fragments, keeping the fragment layout."""
    fragments = [str(holder[key]) for holder, key in holders]
    rewritten = rewrite("".join(fragments))
    for (holder, key), piece in zip(holders, spread(fragments, rewritten), strict=True):
        holder[key] = piece


def cut_stream(
    events: list[SseEvent], slot_of: Callable[[SseEvent], Slot | None], fraction: float
) -> list[SseEvent]:
    """Keep ``fraction`` of the streamed text; deltas past the cut are dropped, the one on it trimmed."""
    slots = [slot_of(e) for e in events]
    total = sum(len(str(s[0][s[1]])) for s in slots if s is not None)
    budget = math.floor(total * fraction)
    kept: list[SseEvent] = []
    for event, slot in zip(events, slots, strict=True):
        if slot is None:
            kept.append(event)
            continue
        holder, key = slot
        text = str(holder[key])
        if budget > 0:
            holder[key] = text[:budget]
            budget -= len(holder[key])
            kept.append(event)
    return kept


ALPHANUMERIC = string.ascii_letters + string.digits
"""Characters of provider ids (``chatcmpl-…``, ``msg_…``)."""

MAX_CHUNKS = 256
"""Most text pieces one streamed reply is split into; larger replies get larger pieces."""


def decode_body(body: bytes, required: tuple[str, ...]) -> dict[str, JSON]:
    """A request body as a JSON object with ``required`` fields; ``ValueError`` with a short reason if not."""
    try:
        decoded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("request body is not JSON") from None
    if not isinstance(decoded, dict):
        raise ValueError("request body is not a JSON object")
    missing = [name for name in required if name not in decoded]
    if missing:
        raise ValueError(f"request body lacks required field {missing[0]!r}")
    return decoded


def random_token(rng: random.Random, length: int, alphabet: str = ALPHANUMERIC) -> str:
    """``length`` characters drawn uniformly from an ASCII ``alphabet``: the tail of a provider id.

    Random bytes mapped through a table (a byte past the last whole multiple of the
    alphabet's size is dropped, so every character is equally likely): one draw for the
    whole token instead of one per character.
    """
    table, dropped = _token_table(alphabet)
    token = b""
    while len(token) < length:
        token += rng.randbytes(length).translate(table, dropped)
    return token[:length].decode("ascii")


@functools.lru_cache(maxsize=16)
def _token_table(alphabet: str) -> tuple[bytes, bytes]:
    """Byte → character of ``alphabet`` (cycled), and the bytes to drop so that the cycles are whole."""
    size = len(alphabet)
    usable = 256 - 256 % size
    table = bytes(ord(alphabet[b % size]) for b in range(256))
    return table, bytes(range(usable, 256))


def split_text(text: Text, rng: random.Random, *, low: int = 8, high: int = 16) -> list[Text]:
    """Split ``text`` into stream deltas of ``low`` to ``high`` characters, at most :data:`MAX_CHUNKS` pieces.

    Works on characters, so a multi-byte character is never cut (that is the ``split_utf8``
    fault's job); a lazy text splits into lazy slices, drawing from ``rng`` exactly as its string would.
    """
    floor = -(-len(text) // MAX_CHUNKS)
    pieces: list[Text] = []
    start = 0
    while start < len(text):
        size = max(floor, between(rng, low, high))
        pieces.append(text[start : start + size])
        start += size
    return pieces


DIALECTS: Registry[Dialect] = Registry("dialect")
"""Every dialect by name."""


_BY_PATH: dict[str, tuple[int, Dialect | None]] = {}
"""``dialect_for_path`` answers by path, each stamped with the registry size it was computed at."""
_BY_PATH_MAX = 1024
"""Most paths remembered (clients may send any path)."""


def dialect_for_path(path: str) -> Dialect | None:
    """The dialect answering ``path``, if any."""
    # Called twice per served request; a registration since the last look invalidates the answer.
    known = len(DIALECTS.items)
    cached = _BY_PATH.get(path)
    if cached is not None and cached[0] == known:
        return cached[1]
    found = next(
        (d for d in DIALECTS.items.values() if any(path.endswith(p) for p in d.paths)),
        None,
    )
    if len(_BY_PATH) >= _BY_PATH_MAX:
        _BY_PATH.clear()
    _BY_PATH[path] = (known, found)
    return found
