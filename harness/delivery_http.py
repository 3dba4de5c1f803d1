"""Turn a :class:`~harness.wire.WireReply` into an in-process ``httpx`` or ``httpx2`` response.

The reply's timing and breakage become *steps* — wait, send bytes, fail — planned once
(:func:`head_steps`, :func:`body_steps`) and played by a sync or an async driver, so
both client families and both I/O styles share one reading of the WireReply semantics.
Head steps run before the response is returned (the client's ``send`` sees them, and the
SDK retries them as it would a real connection error); body steps run while the client
iterates the body, so delays and mid-body breaks happen where they happen for real.
Every wait goes through the case clock (:meth:`~harness.case.CaseState.wait`), which
scales time and raises :class:`~harness.case.CaseDeadlineExceeded` at the deadline.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import h11
import httpx
import httpx2

from harness.case import CaseState
from harness.wire import KEEPALIVE_COMMENT, Break, WireReply

_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


class Failure(enum.Enum):
    """A client-side error a reply provokes; each family raises its own class for it."""

    READ_TIMEOUT = "ReadTimeout"
    CONNECT_TIMEOUT = "ConnectTimeout"
    PROTOCOL = "RemoteProtocolError"


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait this many seconds of scenario time (``math.inf``: until the case deadline)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Fail:
    """Raise the family's exception for ``failure`` with ``message``."""

    failure: Failure
    message: str


Step = Wait | Fail | bytes
"""One thing the delivery does: wait, fail, or hand the client some body bytes."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The client's own connect and read timeouts for one request (None: no limit)."""

    connect: float | None = None
    read: float | None = None

    @classmethod
    def of(cls, extensions: Mapping[str, Any]) -> Timeouts:
        """Read the ``timeout`` request extension both httpx families set."""
        timeout = extensions.get("timeout") or {}
        return cls(connect=timeout.get("connect"), read=timeout.get("read"))


def head_steps(reply: WireReply, timeouts: Timeouts) -> list[Step]:
    """What happens before the status line: injected delay, or a break with no response at all."""
    if reply.before_head is Break.CONNECT_TIMEOUT:
        return [Wait(_limit(timeouts.connect)), Fail(Failure.CONNECT_TIMEOUT, "timed out")]
    if reply.before_head is Break.HANG:
        return [Wait(_limit(timeouts.read)), Fail(Failure.READ_TIMEOUT, "timed out")]
    steps = _delay(reply.head_delay, timeouts.read)
    if reply.raw_response is not None:
        steps.append(Fail(Failure.PROTOCOL, raw_response_error(reply.raw_response)))
        return steps
    if reply.before_head is Break.RESET:
        steps.append(Fail(Failure.PROTOCOL, "Server disconnected without sending a response."))
    return steps


def raw_response_error(raw: bytes) -> str:
    """What an HTTP/1.1 client's h11 parser says about ``raw`` sent instead of a response, then EOF.

    Mirrors httpcore's read loop: h11 may reject the bytes outright ("illegal status line");
    if it is still waiting for a status line when the peer closes, the client reports
    "Server disconnected without sending a response.".
    """
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="POST", target="/", headers=[("host", "harness"), ("content-length", "0")]))
    conn.send(h11.EndOfMessage())
    if raw:
        conn.receive_data(raw)
    try:
        event = conn.next_event()
        if event is h11.NEED_DATA and conn.their_state is h11.SEND_RESPONSE:
            return "Server disconnected without sending a response."
        conn.receive_data(b"")
        while event is not h11.NEED_DATA and not isinstance(event, h11.ConnectionClosed):
            event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        return str(exc)
    return "peer closed connection without sending complete message body"


def body_steps(
    reply: WireReply, timeouts: Timeouts, *, chunked: bool, unbounded: bool = False
) -> Iterator[Step]:
    """The body as the client reads it: segment delays and bytes, then the ending (may never end).

    ``unbounded`` says the case neither sleeps nor has a deadline: a kept-alive stall could
    then only spin, so it becomes one endless wait (which the case clock refuses at once).
    """
    sent = 0
    for segment in reply.segments:
        yield from _delay(segment.delay, timeouts.read)
        if segment.data:
            sent += len(segment.data)
            yield segment.data
    if reply.ending is Break.RESET:
        yield Fail(Failure.PROTOCOL, _reset_message(chunked, sent, content_length(reply)))
    elif reply.ending is Break.HANG:
        if chunked and reply.keepalive_every:
            if unbounded:
                yield Wait(math.inf)
            # Comments keep the per-read timeout from firing: only the case deadline ends this.
            while True:
                yield from _delay(reply.keepalive_every, timeouts.read)
                yield KEEPALIVE_COMMENT
        yield Wait(_limit(timeouts.read))
        yield Fail(Failure.READ_TIMEOUT, "timed out")


def _delay(seconds: float, read_timeout: float | None) -> list[Step]:
    """Wait ``seconds``; a silence longer than the read timeout is a read timeout."""
    if read_timeout is not None and seconds > read_timeout:
        return [Wait(read_timeout), Fail(Failure.READ_TIMEOUT, "timed out")]
    return [Wait(seconds)] if seconds > 0 else []


def _limit(timeout: float | None) -> float:
    return math.inf if timeout is None else timeout


def _reset_message(chunked: bool, sent: int, expected: int) -> str:
    """h11's words for a body cut short (what httpx/httpx2 surface as RemoteProtocolError)."""
    prefix = "peer closed connection without sending complete message body"
    if chunked:
        return f"{prefix} (incomplete chunked read)"
    return f"{prefix} (received {sent} bytes, expected {expected})"


def is_chunked(reply: WireReply, stream: bool) -> bool:
    """True when the reply goes out as a stream (chunked) rather than with a content-length.

    Providers stream a 2xx answer to a request that asked for a stream (``stream``) and any
    event-stream body; error statuses come back as plain JSON with a length.
    """
    if reply.status < 300 and stream:
        return True
    return (reply.header("content-type") or "").lower().startswith("text/event-stream")


def _asks_for_stream(body: bytes) -> bool:
    # Without the key spelled out (or an escape that could spell it) nothing can ask for a
    # stream: skip decoding the body a second time on every non-streaming request.
    if b'"stream"' not in body and b"\\" not in body:
        return False
    try:
        decoded = json.loads(body)
    except ValueError:
        return False
    return isinstance(decoded, dict) and decoded.get("stream") is True


def response_headers(reply: WireReply, *, chunked: bool) -> list[tuple[str, str]]:
    """The reply's headers with the delivery's own framing header (length or chunked)."""
    return framed(reply, chunked=chunked)[0]


def framed(reply: WireReply, *, chunked: bool) -> tuple[list[tuple[str, str]], int | None]:
    """:func:`response_headers` (lower-case names) and the content-length they declare (None: chunked)."""
    headers: list[tuple[str, str]] = []
    declared: str | None = None
    for name, value in reply.headers:
        lowered = name.lower()
        if lowered not in _FRAMING_HEADERS:
            headers.append((lowered, value))
        elif lowered == "content-length" and declared is None:
            declared = value
    if chunked:
        headers.append(("transfer-encoding", "chunked"))
        return headers, None
    length = _declared_length(reply, declared)
    headers.append(("content-length", str(length)))
    return headers, length


def content_length(reply: WireReply) -> int:
    """The length a non-streamed reply declares: its body, or more when the body breaks off.

    A body that ends in a break was cut short, so it must declare more than it sends —
    otherwise the client would have had a complete message. A fault may declare the
    original length with its own ``content-length`` header.
    """
    return _declared_length(reply, reply.header("content-length"))


def _declared_length(reply: WireReply, declared: str | None) -> int:
    sent = reply.body_size
    length = int(declared) if declared is not None and declared.isdigit() else sent
    return max(length, sent + 1) if reply.ending is not None else length


class _SyncBody:
    """Plays body steps while the client iterates; closing stops the (maybe endless) body."""

    def __init__(self, steps: Iterator[Step], case: CaseState, family: Family, request: Any) -> None:
        self._chunks = _play(steps, case, family, request)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Stop sending: the client closed the response."""
        self._chunks.close()


class _AsyncBody:
    """Async twin of :class:`_SyncBody`."""

    def __init__(self, steps: Iterator[Step], case: CaseState, family: Family, request: Any) -> None:
        self._chunks = _aplay(steps, case, family, request)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def aclose(self) -> None:
        """Stop sending: the client closed the response."""
        await self._chunks.aclose()


class HttpxSyncBody(_SyncBody, httpx.SyncByteStream):
    """A streaming ``httpx`` response body driven by the case clock."""


class HttpxAsyncBody(_AsyncBody, httpx.AsyncByteStream):
    """A streaming ``httpx`` async response body driven by the case clock."""


class Httpx2SyncBody(_SyncBody, httpx2.SyncByteStream):
    """A streaming ``httpx2`` response body (``httpx2.Client`` asserts the stream type)."""


class Httpx2AsyncBody(_AsyncBody, httpx2.AsyncByteStream):
    """A streaming ``httpx2`` async response body."""


@dataclass(frozen=True)
class Family:
    """One HTTP client family: its module (exceptions, Response) and our body stream types."""

    name: str
    module: ModuleType
    sync_body: type[_SyncBody]
    async_body: type[_AsyncBody]

    def error(self, fail: Fail, request: Any) -> Exception:
        """This family's exception for ``fail``, bound to ``request`` as the client would bind it."""
        error_type: Callable[..., Exception] = getattr(self.module, fail.failure.value)
        return error_type(fail.message, request=request)


HTTPX = Family("httpx", httpx, HttpxSyncBody, HttpxAsyncBody)
"""httpx: openai 2.x, litellm, hand-written clients (reached through respx)."""
HTTPX2 = Family("httpx2", httpx2, Httpx2SyncBody, Httpx2AsyncBody)
"""httpx2: openai ≥ 3, anthropic ≥ 2 (reached through a patched transport lookup)."""


def deliver(family: Family, request: Any, reply: WireReply, case: CaseState, timeouts: Timeouts) -> Any:
    """Play the head now (blocking) and return a response whose body plays as it is read."""
    _run_head(head_steps(reply, timeouts), case, family, request)
    chunked = is_chunked(reply, _asks_for_stream(request.content))
    steps = body_steps(reply, timeouts, chunked=chunked, unbounded=_unbounded(case))
    body = family.sync_body(steps, case, family, request)
    return _response(family, request, reply, body, chunked)


async def deliver_async(
    family: Family, request: Any, reply: WireReply, case: CaseState, timeouts: Timeouts
) -> Any:
    """Async twin of :func:`deliver`: waits without blocking the event loop."""
    for step in head_steps(reply, timeouts):
        if isinstance(step, Wait):
            await case.async_wait(step.seconds)
        elif isinstance(step, Fail):
            raise family.error(step, request)
    chunked = is_chunked(reply, _asks_for_stream(request.content))
    steps = body_steps(reply, timeouts, chunked=chunked, unbounded=_unbounded(case))
    body = family.async_body(steps, case, family, request)
    return _response(family, request, reply, body, chunked)


def _unbounded(case: CaseState) -> bool:
    return case.deadline is None and case.time_scale == 0


def _response(family: Family, request: Any, reply: WireReply, body: object, chunked: bool) -> Any:
    return family.module.Response(
        reply.status,
        headers=response_headers(reply, chunked=chunked),
        stream=body,
        request=request,
        extensions={"http_version": b"HTTP/1.1"},
    )


def _run_head(steps: Iterable[Step], case: CaseState, family: Family, request: Any) -> None:
    for step in steps:
        if isinstance(step, Wait):
            case.wait(step.seconds)
        elif isinstance(step, Fail):
            raise family.error(step, request)


def _play(
    steps: Iterator[Step], case: CaseState, family: Family, request: Any
) -> Generator[bytes, None, None]:
    for step in steps:
        if isinstance(step, Wait):
            case.wait(step.seconds)
        elif isinstance(step, Fail):
            raise family.error(step, request)
        else:
            yield step


async def _aplay(
    steps: Iterator[Step], case: CaseState, family: Family, request: Any
) -> AsyncGenerator[bytes, None]:
    for step in steps:
        if isinstance(step, Wait):
            await case.async_wait(step.seconds)
        elif isinstance(step, Fail):
            raise family.error(step, request)
        else:
            yield step
