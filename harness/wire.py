"""Value objects that flow through the Responder: request → completion → envelope → wire reply.

The core never touches a socket: deliveries turn a :class:`WireReply` into bytes on a
socket (the fake provider server) or into an ``httpx``/``httpx2`` response (in-process).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.lazytext import LazyText

JSON = Any
"""A decoded JSON value."""

KEEPALIVE_COMMENT = b": keep-alive\n\n"
"""The SSE comment a stalled-but-alive stream sends (as proxies and providers do); SSE parsers ignore it."""


class Finish(enum.StrEnum):
    """Why the model stopped, independent of dialect; each dialect maps it to its own word."""

    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    REFUSAL = "refusal"


@dataclass(slots=True)
class ModelRequest:
    """One model call as the pipeline sent it, parsed by a dialect."""

    dialect: str
    """Name of the dialect that parsed the request (``openai-chat``, ``anthropic-messages``)."""
    path: str
    """URL path, e.g. ``/v1/chat/completions``."""
    body: dict[str, JSON]
    """The decoded JSON request body."""
    headers: dict[str, str] = field(default_factory=dict)
    """Request headers, lower-cased names."""
    model: str = "gpt-4o-mini"
    """Model name the pipeline asked for; echoed back in the reply."""
    stream: bool = False
    """Whether the pipeline asked for a server-sent-event stream."""
    include_usage: bool = False
    """OpenAI ``stream_options.include_usage``: add a usage chunk before ``[DONE]``."""
    response_schema: dict[str, JSON] | None = None
    """JSON Schema from ``response_format`` (OpenAI) or a forced tool's input schema."""
    forced_tool: str | None = None
    """Name of the tool the request forces; the reply then carries content as its arguments."""
    max_tokens: int | None = None
    """The request's output-token limit, if any."""
    read_timeout: float | None = None
    """The client's own read timeout in seconds (from the httpx request), when known."""
    prompt_text: str = ""
    """All prompt text concatenated; used for token estimates and cassette matching."""
    call: int = 1
    """1-based index of this model call within its case; set by the Responder (cassettes replay by it)."""


@dataclass(slots=True)
class Completion:
    """The model's answer before any envelope: what content faults transform."""

    text: str | None
    """Message content, or a forced tool call's arguments (a JSON string); None means null."""
    finish: Finish = Finish.STOP
    """Why the model stopped."""
    refusal: str | None = None
    """A refusal message (OpenAI ``message.refusal``; Anthropic ``stop_reason: refusal``)."""
    tool_name: str | None = None
    """When set, the text is rendered as this tool call's arguments."""
    input_tokens: int = 0
    """Prompt tokens reported in usage."""
    output_tokens: int = 0
    """Completion tokens reported in usage (reasoning tokens included, as providers do)."""
    reasoning_tokens: int = 0
    """Hidden reasoning tokens reported in usage details."""
    head_delay: float = 0.0
    """Recorded seconds before the reply's status line (cassette replay with recorded timing)."""
    chunk_times: tuple[float, ...] = ()
    """Recorded arrival times of a stream's chunks, seconds after the status line (cassette replay).

    The Responder spreads them over the rendered segments before transport faults apply.
    """
    lazy_text: LazyText | None = None
    """A text too large to hold (a huge ``huge_payload``): when set it *is* the text and ``text`` is None.

    Only the dialects read it (they stream it without building it); the Responder builds
    the plain ``text`` before any other fault that needs to see it.
    """


@dataclass(slots=True)
class SseEvent:
    """One server-sent event before framing: optional ``event:`` name and a ``data:`` payload."""

    data: JSON
    """A JSON object (serialised compactly), or a raw string sent as is (``[DONE]``)."""
    event: str | None = None
    """The ``event:`` line; OpenAI chat streams have none, Anthropic and Responses streams do."""


@dataclass(slots=True)
class Envelope:
    """The provider's JSON around the completion: what envelope faults transform."""

    status: int = 200
    """HTTP status."""
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers (lower-case names)."""
    body: JSON = None
    """Decoded JSON body of a non-streaming reply."""
    events: list[SseEvent] | None = None
    """The events of a streaming reply; None for a non-streaming one."""
    raw_body: bytes | None = None
    """Bytes that replace the serialised body wholesale (an HTML error page, say)."""

    @property
    def streaming(self) -> bool:
        """True when the envelope is a server-sent-event stream."""
        return self.events is not None


class Break(enum.StrEnum):
    """How a connection misbehaves at the transport layer."""

    RESET = "reset"
    """The peer closes the connection (RST / dropped peer)."""
    HANG = "hang"
    """Nothing more ever arrives; the client's read timeout or the case deadline ends it."""
    CONNECT_TIMEOUT = "connect_timeout"
    """The TCP connection is never established."""


@dataclass(slots=True)
class Segment:
    """A piece of the body, sent after waiting ``delay`` seconds."""

    data: bytes
    delay: float = 0.0


class SegmentStream:
    """A body too large to hold: its segments generated on demand, the same ones on every pass.

    ``size`` (body bytes) and ``delay`` (the sum of the segment delays) are known without
    generating anything, so content-length, ledgers and latency accounting never force a pass.
    """

    __slots__ = ("_produce", "delay", "size")

    def __init__(self, produce: Callable[[], Iterator[Segment]], size: int, delay: float = 0.0) -> None:
        self._produce = produce
        self.size = size
        """Total body bytes."""
        self.delay = delay
        """Seconds of waiting summed over the segments."""

    def __iter__(self) -> Iterator[Segment]:
        return self._produce()

    def __repr__(self) -> str:
        return f"SegmentStream(size={self.size}, delay={self.delay})"


Segments = list[Segment] | SegmentStream
"""A reply body: a list of segments, or a :class:`SegmentStream` generated as it is sent."""


class LazyBody:
    """A :class:`SegmentStream`'s bytes as a served-call log keeps them: length and prefixes, not bytes."""

    __slots__ = ("stream",)

    def __init__(self, stream: SegmentStream) -> None:
        self.stream = stream

    def __len__(self) -> int:
        return self.stream.size

    def __iter__(self) -> Iterator[bytes]:
        return (segment.data for segment in self.stream)

    def __bytes__(self) -> bytes:
        return b"".join(self)

    def __getitem__(self, key: slice) -> bytes:
        """A slice (step 1); generation stops at its end."""
        start, stop, step = key.indices(self.stream.size)
        if step != 1:
            raise ValueError("LazyBody slices take no step")
        wanted, offset = bytearray(), 0
        for chunk in self:
            if offset + len(chunk) > start and offset < stop:
                wanted += chunk[max(start - offset, 0) : stop - offset]
            offset += len(chunk)
            if offset >= stop:
                break
        return bytes(wanted)

    def __contains__(self, needle: bytes) -> bool:
        if not needle:
            return True
        keep = len(needle) - 1
        tail = b""
        for chunk in self:
            window = tail + chunk
            if needle in window:
                return True
            tail = window[-keep:] if keep else b""
        return False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyBody | bytes | bytearray):
            return len(self) == len(other) and bytes(self) == bytes(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyBody({self.stream.size} bytes)"


@dataclass(slots=True)
class WireReply:
    """Everything a delivery needs to put the reply on the wire, timing and breakage included."""

    status: int
    """HTTP status line."""
    headers: list[tuple[str, str]]
    """Response headers in order; duplicates allowed."""
    segments: Segments
    """The body in pieces: usually one segment when not streaming; a :class:`SegmentStream` when huge."""
    head_delay: float = 0.0
    """Seconds to wait before sending the status line and headers."""
    before_head: Break | None = None
    """A break before any byte of the response: reset, hang or connect timeout."""
    ending: Break | None = None
    """A break after the last segment: reset mid-body, or hang (stall)."""
    keepalive_every: float | None = None
    """While hanging mid-stream, send :data:`KEEPALIVE_COMMENT` this often (seconds)."""
    raw_response: bytes | None = None
    """Bytes sent instead of any HTTP response, then the connection closes (``b""``: an empty reply).

    Status, headers, segments and breaks are then ignored; only ``head_delay`` is kept (the
    wait before the bytes). In-process, the client gets the protocol error its parser raises.
    """
    case_id: str = ""
    """The case this reply belongs to (``x-harness-case``)."""
    faults: list[str] = field(default_factory=list)
    """Fault chain served, as ``name`` or ``name(k=v)`` labels (``x-harness-faults``)."""

    @property
    def body(self) -> bytes:
        """All body bytes joined (what the client gets if nothing breaks); builds a lazy body whole."""
        segments = self.segments
        if isinstance(segments, list) and len(segments) == 1:
            return segments[0].data
        return b"".join(s.data for s in segments)

    @property
    def lazy(self) -> bool:
        """True when the body is a :class:`SegmentStream`, generated as it is sent."""
        return isinstance(self.segments, SegmentStream)

    @property
    def body_size(self) -> int:
        """Body bytes, without generating a lazy body."""
        segments = self.segments
        if isinstance(segments, SegmentStream):
            return segments.size
        if len(segments) == 1:
            return len(segments[0].data)
        return sum(len(s.data) for s in segments)

    @property
    def served_body(self) -> bytes | LazyBody:
        """The body as a served-call log keeps it: the bytes, or a :class:`LazyBody` for a lazy one."""
        if isinstance(self.segments, SegmentStream):
            return LazyBody(self.segments)
        return self.body

    @property
    def total_delay(self) -> float:
        """Seconds of injected waiting in this reply, before and between segments."""
        segments = self.segments
        if isinstance(segments, SegmentStream):
            return self.head_delay + segments.delay
        if len(segments) == 1:
            return self.head_delay + segments[0].delay
        return self.head_delay + sum(s.delay for s in segments)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), if present."""
        lowered = name.lower()
        for key, value in self.headers:
            if key == lowered or key.lower() == lowered:
                return value
        return None
