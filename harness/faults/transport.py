"""Transport faults: status, headers, timing, stream framing and the connection itself.

Each fault takes a :class:`~harness.wire.WireReply` and returns a new one
(``dataclasses.replace`` with new lists; the input is never mutated). Timing is only
*described* here — ``head_delay``, per-segment ``delay``, ``before_head`` / ``ending``
breaks, ``keepalive_every`` — and the deliveries carry it out.

A reply counts as a stream when the request asked for one and the status is 2xx (an
``http_status`` fault earlier in the chain turns a stream into a plain error reply).
``stream_stall``, ``stream_cut``, ``malformed_sse`` and ``split_utf8`` only make sense for
streams: on any other reply — a raw one from ``empty_reply`` / ``random_bytes`` included —
they return it unchanged. ``latency``, ``timeout``,
``http_status`` and ``connection_reset`` work on both.

Stream faults find SSE frames by parsing the body back (frames end at a blank line; see
:mod:`~harness.faults._framing`), so they compose with each other and with faults that
re-segment the body; ``stream_cut`` asks the dialect which frames are terminators
(``Dialect.is_stream_terminator``).

A huge reply's body is lazy (:class:`~harness.wire.SegmentStream`). ``latency``,
``connection_reset``, ``stream_cut``, ``stream_stall`` and ``slow_drip`` edit it lazily —
one generation pass finds its frames when they need them, and the result is generated as it
is sent, byte for byte what the built body would give. ``malformed_sse`` and ``split_utf8``
build the body first, and so do ``connection_reset``, ``stream_cut`` and ``stream_stall`` when
an earlier fault gave it delays (``latency`` per chunk, ``slow_drip``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

import pydantic
from pydantic_core import PydanticCustomError

from harness.dialects.base import Dialect
from harness.faults import _framing as framing
from harness.faults.base import FaultContext, Layer, Params, fault
from harness.faults.distributions import Distribution, DistributionKind, build_distribution
from harness.faults.http_errors import RetryAfterForm, html_error_page, ratelimit_headers, retry_after_headers
from harness.wire import KEEPALIVE_COMMENT, Break, Envelope, Segment, SegmentStream, WireReply

Seconds = Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)]
"""A finite, non-negative number of seconds."""
Fraction = Annotated[float, pydantic.Field(ge=0, le=1)]
"""A share between 0 and 1."""


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("fault_params", message)


def _is_stream(reply: WireReply, ctx: FaultContext) -> bool:
    # A raw reply (empty_reply, random_bytes) is no HTTP response at all: it has no stream to edit.
    return ctx.request.stream and 200 <= reply.status < 300 and reply.raw_response is None


def _undelayed_stream(reply: WireReply) -> SegmentStream | None:
    """The reply's lazy body when it has no delays yet (the stream faults then edit it lazily)."""
    segments = reply.segments
    return segments if isinstance(segments, SegmentStream) and not segments.delay else None


# --------------------------------------------------------------------------- latency


class LatencyParams(Params):
    """Delay drawn from a distribution: ``distribution`` plus that distribution's own parameters."""

    distribution: DistributionKind = "fixed"
    """fixed (seconds) | uniform (low, high) | normal (mean, stddev) | lognormal (median, p99) | spikes."""
    seconds: Seconds | None = None
    low: Seconds | None = None
    high: Seconds | None = None
    mean: Seconds | None = None
    stddev: Seconds | None = None
    median: Seconds | None = None
    p99: Seconds | None = None
    base: Seconds | None = None
    """spikes: the usual delay."""
    spike_rate: Fraction | None = None
    """spikes: probability that a draw is a spike."""
    spike_seconds: tuple[Seconds, Seconds] | None = None
    """spikes: [low, high] of a spike's duration."""
    first_byte: bool = True
    """Delay the status line and headers (time to first byte) by one draw."""
    per_chunk: bool = False
    """Streams: also delay every segment after the first by its own draw (inter-chunk gaps)."""

    @pydantic.model_validator(mode="after")
    def _check(self) -> LatencyParams:
        if not (self.first_byte or self.per_chunk):
            raise _invalid("first_byte and per_chunk are both false: nothing to delay")
        try:
            self.build()
        except ValueError as exc:
            raise _invalid(str(exc)) from None
        return self

    def build(self) -> Distribution:
        """The distribution these parameters describe."""
        names = ("seconds", "low", "high", "mean", "stddev", "median", "p99", "base", "spike_rate")
        values: dict[str, Any] = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if self.spike_seconds is not None:
            values["spike_seconds"] = self.spike_seconds
        return build_distribution(self.distribution, values)


@fault("latency", Layer.TRANSPORT, params=LatencyParams)
def latency(reply: WireReply, params: LatencyParams, ctx: FaultContext) -> WireReply:
    """Slow provider: time to first byte (and optionally each stream chunk) drawn from a distribution.

    ``lognormal`` with median and p99 gives the heavy tail seen in production (most calls fast,
    a few 15-30 s); ``spikes`` gives a fixed base with rare uniform spikes. Delays add to any
    already present. ``per_chunk`` is a no-op on non-streaming replies (one body segment).
    """
    dist = params.build()
    head = reply.head_delay + (dist.sample(ctx.rng) if params.first_byte else 0.0)
    if not (params.per_chunk and _is_stream(reply, ctx)):
        # The segments are kept as they are (a lazy body stays lazy).
        return dataclasses.replace(reply, head_delay=head)
    if isinstance(reply.segments, SegmentStream):
        # One pass counts the segments; the draws are the ones an eager body would get, in order.
        count = framing.scan(reply.segments).segments
        delays = [dist.sample(ctx.rng) for _ in range(1, count)]
        return dataclasses.replace(
            reply, head_delay=head, segments=framing.jitter_stream(reply.segments, delays)
        )
    segments = list(reply.segments)
    for i in range(1, len(segments)):
        segments[i] = dataclasses.replace(segments[i], delay=segments[i].delay + dist.sample(ctx.rng))
    return dataclasses.replace(reply, head_delay=head, segments=segments)


# --------------------------------------------------------------------------- timeout


class TimeoutParams(Params):
    """Which timeout the client should hit."""

    phase: Literal["read", "connect"] = "read"
    """read: connected, nothing comes back; connect: the TCP connection never completes."""
    after_headers: bool = False
    """read only: status and headers arrive, then the body never does."""

    @pydantic.model_validator(mode="after")
    def _check(self) -> TimeoutParams:
        if self.phase == "connect" and self.after_headers:
            raise _invalid("after_headers needs phase 'read': a connect timeout sends no headers")
        return self


@fault("timeout", Layer.TRANSPORT, params=TimeoutParams)
def timeout(reply: WireReply, params: TimeoutParams, ctx: FaultContext) -> WireReply:
    """The reply never comes: the client's read (or connect) timeout must fire, or the pipeline hangs.

    SDK defaults are 600 s read / 5 s connect, so a pipeline without its own timeout hangs
    until the case deadline. ``after_headers`` sends a 200's headers and then nothing
    (``ending`` HANG with no body), which a client that only times out the connect misses.
    """
    if params.phase == "connect":
        return dataclasses.replace(
            reply, before_head=Break.CONNECT_TIMEOUT, segments=[], ending=None, keepalive_every=None
        )
    if params.after_headers:
        return dataclasses.replace(reply, segments=[], ending=Break.HANG, keepalive_every=None)
    return dataclasses.replace(reply, before_head=Break.HANG, segments=[], ending=None, keepalive_every=None)


# --------------------------------------------------------------------------- http_status


class HttpStatusParams(Params):
    """The error status, its body and the retry headers that come with it."""

    status: Annotated[int, pydantic.Field(ge=400, le=599)] = 429
    code: str | None = None
    """Provider error code (``rate_limit_exceeded`` / ``insufficient_quota``); None: dialect default."""
    error_type: str | None = None
    """Provider error type (``rate_limit_error``, ``overloaded_error``…); None: dialect default for status."""
    message: str | None = None
    """Error message; None: the provider's usual text for this status and code (from the dialect)."""
    html: bool | None = None
    """Serve a proxy's HTML error page instead of the provider's JSON; None: only for 502."""
    retry_after: Seconds | None = None
    """Seconds the server asks the client to wait (written in ``retry_after_form``)."""
    retry_after_form: RetryAfterForm | None = None
    """seconds | float | ms | http_date | absent | absurd; None: ``seconds`` if retry_after else absent."""
    should_retry: bool | None = None
    """Send ``x-should-retry: true|false`` (overrides the SDKs' status table)."""
    ratelimit_headers: bool | None = None
    """Send the provider's rate-limit headers (requests/tokens remaining 0); None: only for 429."""

    @pydantic.model_validator(mode="after")
    def _check(self) -> HttpStatusParams:
        if self.retry_after_form in {"absent", "absurd"} and self.retry_after is not None:
            raise _invalid(f"retry_after_form {self.retry_after_form!r} takes no retry_after value")
        return self

    @property
    def form(self) -> RetryAfterForm:
        """The retry-after form in effect."""
        if self.retry_after_form is not None:
            return self.retry_after_form
        return "seconds" if self.retry_after is not None else "absent"


@fault("http_status", Layer.TRANSPORT, params=HttpStatusParams)
def http_status(reply: WireReply, params: HttpStatusParams, ctx: FaultContext) -> WireReply:
    """An HTTP error instead of the reply: 429 storms, 5xx/529 overloads, a proxy's HTML 502, 4xx.

    The body is the provider's own error envelope (``Dialect.render_error``), or nginx's
    HTML page (``html``; the default for 502) whose raw text the SDK puts in the message.
    Retry headers follow ``retry_after_form``: ``retry-after: 2``, ``retry-after: 0.1``,
    ``retry-after-ms: 100``, an IMF-fixdate, none, or one day (``absurd``: above the SDKs'
    120 s cap, so they do not retry at all). Timing already on the reply (``head_delay``) is kept.
    """
    dialect: Dialect = ctx.dialect
    name = ctx.request.dialect
    html = params.status == 502 if params.html is None else params.html
    if html:
        envelope = Envelope(
            status=params.status,
            headers={"content-type": "text/html"},
            raw_body=html_error_page(params.status),
        )
    else:
        envelope = dialect.render_error(
            params.status, params.message or "", params.error_type, params.code, ctx.rng
        )
    error = dialect.serialize(envelope)
    headers = list(error.headers)
    wanted = params.ratelimit_headers if params.ratelimit_headers is not None else params.status == 429
    if wanted:
        headers += ratelimit_headers(name, params.retry_after if params.retry_after is not None else 1.0)
    headers += retry_after_headers(params.form, params.retry_after)
    if params.should_retry is not None:
        headers.append(("x-should-retry", "true" if params.should_retry else "false"))
    return dataclasses.replace(
        reply,
        status=params.status,
        headers=headers,
        segments=error.segments,
        ending=None,
        keepalive_every=None,
    )


# --------------------------------------------------------------------------- connection_reset


class ConnectionResetParams(Params):
    """Where the connection drops."""

    at: Literal["before_headers", "mid_body"] = "mid_body"
    fraction: Fraction | None = None
    """mid_body: share of the body bytes sent before the reset; None: drawn from the rng in [0.1, 0.9]."""

    @pydantic.model_validator(mode="after")
    def _check(self) -> ConnectionResetParams:
        if self.at == "before_headers" and self.fraction is not None:
            raise _invalid("fraction applies only to at: mid_body")
        return self


@fault("connection_reset", Layer.TRANSPORT, params=ConnectionResetParams)
def connection_reset(reply: WireReply, params: ConnectionResetParams, ctx: FaultContext) -> WireReply:
    """The peer drops the connection: before any byte, or mid-body (httpx RemoteProtocolError).

    Mid-body keeps the first ``fraction`` of the body bytes (splitting a segment if needed)
    and ends with a reset, on plain and streaming replies alike. The SDKs retry only a
    failure of the initial send, never a stream that breaks midway.
    """
    if params.at == "before_headers":
        return dataclasses.replace(
            reply, before_head=Break.RESET, segments=[], ending=None, keepalive_every=None
        )
    fraction = params.fraction if params.fraction is not None else ctx.rng.uniform(0.1, 0.9)
    size = math.floor(reply.body_size * fraction)
    return dataclasses.replace(
        reply, segments=framing.truncate(reply.segments, size), ending=Break.RESET, keepalive_every=None
    )


# --------------------------------------------------------------------------- stream_stall


class StreamStallParams(Params):
    """Where the stream stalls, for how long, and whether keep-alives hide it."""

    after_events: Annotated[int, pydantic.Field(ge=0)] | None = None
    """SSE events delivered before the stall; None: half of them."""
    seconds: Seconds | None = None
    """Length of the stall; None: forever (the rest of the stream never comes)."""
    keepalive: bool = False
    """Send ``: keep-alive`` comments during the stall, so a per-read timeout never fires."""
    keepalive_every: Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)] = 5.0
    """Seconds between keep-alive comments."""


@fault("stream_stall", Layer.TRANSPORT, params=StreamStallParams)
def stream_stall(reply: WireReply, params: StreamStallParams, ctx: FaultContext) -> WireReply:
    """A stream stops mid-way — for a while or forever — optionally kept alive by ``:`` comments.

    Forever: the events after ``after_events`` are dropped and the reply ends in HANG (with
    ``keepalive_every`` set when ``keepalive``: only a total deadline can end it). Finite:
    the next event waits ``seconds``; with ``keepalive`` the wait is filled with comment
    segments every ``keepalive_every`` seconds. No-op on non-streaming replies.
    """
    if not _is_stream(reply, ctx):
        return reply
    lazy = _undelayed_stream(reply)
    if lazy is None:
        reply = framing.held(reply)
    spans = framing.frames(reply.body) if lazy is None else framing.scan(lazy).spans
    count = len(spans) // 2 if params.after_events is None else min(params.after_events, len(spans))
    offset = spans[count - 1][1] if count else 0
    if lazy is not None:
        return _stall_lazily(reply, lazy, params, offset)
    if params.seconds is None:
        return dataclasses.replace(
            reply,
            segments=framing.truncate(reply.segments, offset),
            ending=Break.HANG,
            keepalive_every=params.keepalive_every if params.keepalive else None,
        )
    segments = framing.split(reply.segments, [offset])
    index = next((i for i, o in enumerate(framing.offsets(segments)) if o >= offset), len(segments))
    head, tail = segments[:index], segments[index:]
    fill, rest = _keepalive_fill(params, params.seconds)
    resumed = (
        [dataclasses.replace(tail[0], delay=tail[0].delay + rest), *tail[1:]]
        if tail
        else [Segment(b"", rest)]
    )
    return dataclasses.replace(reply, segments=[*head, *fill, *resumed])


def _keepalive_fill(params: StreamStallParams, seconds: float) -> tuple[list[Segment], float]:
    """The comment segments filling a stall of ``seconds``, and the wait left after them."""
    pings = math.ceil(seconds / params.keepalive_every) - 1 if params.keepalive else 0
    fill = [Segment(KEEPALIVE_COMMENT, params.keepalive_every) for _ in range(max(pings, 0))]
    return fill, seconds - len(fill) * params.keepalive_every


def _stall_lazily(
    reply: WireReply, stream: SegmentStream, params: StreamStallParams, offset: int
) -> WireReply:
    """:func:`stream_stall` on a lazy body (no delays yet): the same edit, still generated as it is sent."""
    if params.seconds is None:
        return dataclasses.replace(
            reply,
            segments=framing.truncate_stream(stream, offset),
            ending=Break.HANG,
            keepalive_every=params.keepalive_every if params.keepalive else None,
        )
    fill, rest = _keepalive_fill(params, params.seconds)
    return dataclasses.replace(reply, segments=framing.stall_stream(stream, offset, fill, rest))


# --------------------------------------------------------------------------- stream_cut


class StreamCutParams(Params):
    """How much of the stream arrives before it ends cleanly."""

    after_fraction: Fraction | None = None
    """None: drop only the terminator; else keep this share of the events before the finish one."""


@fault("stream_cut", Layer.TRANSPORT, params=StreamCutParams)
def stream_cut(reply: WireReply, params: StreamCutParams, ctx: FaultContext) -> WireReply:
    """A stream ends cleanly without its terminator (``[DONE]`` / ``message_stop``): no error, no finish.

    openai-python ends the loop silently. Implemented on the wire bytes (frames parsed back,
    terminators named by ``Dialect.is_stream_terminator``) so it composes with other
    transport faults. ``after_fraction`` cuts inside the content, before the finish reason
    and usage. No-op on non-streaming replies.
    """
    if not _is_stream(reply, ctx):
        return reply
    dialect: Dialect = ctx.dialect
    lazy = _undelayed_stream(reply)
    if lazy is not None:
        return _cut_lazily(reply, lazy, params, dialect)
    reply = framing.held(reply)
    body = reply.body
    spans = framing.frames(body)
    events = [framing.parse_frame(body[s:e]) for s, e in spans]
    if params.after_fraction is not None:
        content = next(
            (i for i, ev in enumerate(events) if ev is not None and framing.closes(ev, dialect)), len(spans)
        )
        keep = math.floor(content * params.after_fraction)
        return dataclasses.replace(
            reply, segments=framing.truncate(reply.segments, spans[keep - 1][1] if keep else 0)
        )
    segments = reply.segments
    for (start, end), event in reversed(list(zip(spans, events, strict=True))):
        if event is not None and dialect.is_stream_terminator(event):
            segments = framing.splice(segments, start, end, b"")
    return dataclasses.replace(reply, segments=segments)


def _cut_lazily(
    reply: WireReply, stream: SegmentStream, params: StreamCutParams, dialect: Dialect
) -> WireReply:
    """:func:`stream_cut` on a lazy body (no delays yet): frames found in one pass, the cut made lazily."""
    found = framing.scan(stream)
    pairs = list(zip(found.spans, found.events, strict=True))
    if params.after_fraction is not None:
        content = next(
            (i for i, (_, ev) in enumerate(pairs) if ev is not None and framing.closes(ev, dialect)),
            len(pairs),
        )
        keep = math.floor(content * params.after_fraction)
        return dataclasses.replace(
            reply, segments=framing.truncate_stream(stream, found.spans[keep - 1][1] if keep else 0)
        )
    ends = [span for span, ev in pairs if ev is not None and dialect.is_stream_terminator(ev)]
    return dataclasses.replace(reply, segments=framing.drop_ranges(stream, ends))


# --------------------------------------------------------------------------- malformed_sse

MalformedKind = Literal[
    "truncated_json", "missing_blank_line", "event_line_on_chat", "garbage", "no_data_prefix"
]
"""The ways ``malformed_sse`` can break a frame."""


class MalformedSseParams(Params):
    """Which frame breaks and how."""

    kind: MalformedKind = "truncated_json"
    at: Annotated[int, pydantic.Field(ge=0)] | None = None
    """Index of the SSE frame to break (clamped to the last); None: an rng-chosen content frame."""
    event_name: str = "message"
    """event_line_on_chat: the ``event:`` name added to a frame that has none."""


def _break_frame(frame: bytes, params: MalformedSseParams, ctx: FaultContext) -> bytes:
    """One frame, broken the way ``params.kind`` says."""
    if params.kind == "truncated_json":
        lines = frame.decode("utf-8", "replace").split("\n")
        index = next((i for i, line in enumerate(lines) if line.startswith("data:")), None)
        if index is None:
            return frame
        head, _, data = lines[index].partition(":")
        lines[index] = f"{head}:{data[: max(1, len(data) // 2)]}"
        return "\n".join(lines).encode()
    if params.kind == "missing_blank_line":
        return frame[:-1] if frame.endswith(b"\n\n") else frame
    if params.kind == "event_line_on_chat":
        raw = frame.split(b"\n")
        if any(line.startswith(b"event:") for line in raw):
            return b"\n".join(line for line in raw if not line.startswith(b"event:"))
        return f"event: {params.event_name}\n".encode() + frame
    if params.kind == "garbage":
        noise = bytes(ctx.rng.randrange(0x80, 0x100) for _ in range(ctx.rng.randint(16, 64)))
        return noise + b"\n\n"
    return b"\n".join(line.removeprefix(b"data: ") for line in frame.split(b"\n"))


@fault("malformed_sse", Layer.TRANSPORT, params=MalformedSseParams)
def malformed_sse(reply: WireReply, params: MalformedSseParams, ctx: FaultContext) -> WireReply:
    """One SSE frame is broken: truncated JSON, no blank line, a stray ``event:`` line, noise, no ``data:``.

    ``truncated_json``: the frame's JSON cut in half (``json.loads`` raises in the SDK).
    ``missing_blank_line``: the frame is glued to the next one (the SDK joins two ``data:``
    lines and fails; on the last frame it buffers and loses it). ``event_line_on_chat``: an
    ``event:`` line on a frame without one (OpenAI chat) — openai 3.x still parses it unless
    the name starts with ``thread.``; event-dispatching parsers drop the chunk — and on a
    frame that has one (Anthropic) the line is removed, so the anthropic SDK silently drops
    the event. ``garbage``: bytes ≥ 0x80 that are not UTF-8 (UnicodeDecodeError).
    ``no_data_prefix``: the JSON without ``data:`` (parsers ignore the line: content lost).
    No-op on non-streaming replies.
    """
    if not _is_stream(reply, ctx):
        return reply
    reply = framing.held(reply)
    body = reply.body
    spans = framing.frames(body)
    if not spans:
        return reply
    if params.at is not None:
        index = min(params.at, len(spans) - 1)
    else:
        eligible = framing.content_frames(body, spans, ctx.dialect)
        if params.kind == "missing_blank_line":
            eligible = [i for i in eligible if i < len(spans) - 1]
        if not eligible:
            return reply
        index = ctx.rng.choice(eligible)
    start, end = spans[index]
    broken = _break_frame(body[start:end], params, ctx)
    return dataclasses.replace(reply, segments=framing.splice(reply.segments, start, end, broken))


# --------------------------------------------------------------------------- split_utf8


class SplitUtf8Params(Params):
    """Which multi-byte characters are split, and the pause between the pieces."""

    every_n: Annotated[int, pydantic.Field(ge=1)] = 1
    """Split every n-th multi-byte character (1: all of them)."""
    gap: Seconds = 0.0
    """Seconds between the two halves; a few ms makes separate TCP reads likely over a real socket."""


@fault("split_utf8", Layer.TRANSPORT, params=SplitUtf8Params)
def split_utf8(reply: WireReply, params: SplitUtf8Params, ctx: FaultContext) -> WireReply:
    """Multi-byte UTF-8 characters split across stream chunks (per-chunk ``bytes.decode`` raises).

    Pure re-framing: the bytes are unchanged, only cut after the first byte of every
    ``every_n``-th multi-byte character. A body with none is cut at one rng-chosen byte
    inside every SSE frame instead (nothing is injected into the content). No-op on
    non-streaming replies.
    """
    if not _is_stream(reply, ctx):
        return reply
    reply = framing.held(reply)
    body = reply.body
    leads = [i for i, byte in enumerate(body) if byte >= 0xC0]
    if leads:
        positions = [p + 1 for p in leads[:: params.every_n]]
    else:
        positions = [ctx.rng.randrange(s + 1, e) for s, e in framing.frames(body) if e - s > 1]
    return dataclasses.replace(reply, segments=framing.split(reply.segments, positions, params.gap))
