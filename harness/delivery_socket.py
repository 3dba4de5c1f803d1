"""Play a :class:`~harness.wire.WireReply` on a real connection of the fake provider server.

The in-process delivery (:mod:`harness.delivery_http`) *simulates* what a client would
see; here the same fields are enacted on the socket, read the same way:

- ``head_delay`` and each ``Segment.delay``: real waits, ``time_scale`` real seconds per
  injected second, never longer than the server's ``hold_cap``;
- each segment is one ASGI body message, which uvicorn writes to the transport at once
  (one ``send`` per segment, TCP_NODELAY set on every connection), so ``split_utf8`` and
  ``slow_drip`` really split the bytes on the wire;
- a lazy body (:class:`~harness.wire.SegmentStream`, a huge reply) is generated one segment
  at a time in a worker thread, the next only after uvicorn's flow control let the previous
  one go: the server never holds more than a segment or two of it;
- framing is :func:`~harness.delivery_http.framed`: chunked for streams, else a
  content-length (larger than the body when the body breaks off);
- ``before_head`` RESET: ``SO_LINGER 0`` and an abort, a real RST before any byte (httpx:
  ``RemoteProtocolError: Server disconnected without sending a response.``);
- ``before_head`` HANG: the request is read, nothing is ever written; the connection is
  held until the client gives up (its read timeout) or ``hold_cap`` passes, then closed;
- ``before_head`` CONNECT_TIMEOUT cannot happen on a socket the server already accepted:
  it is held exactly like HANG, so the client's *read* (or total) timeout fires instead of
  its connect timeout — for the SDKs both are ``APITimeoutError``;
- ``ending`` RESET: after the last segment the connection is closed (FIN) without the
  terminating chunk or short of the declared content-length (httpx: ``RemoteProtocolError:
  peer closed connection without sending complete message body``). A FIN, not an RST:
  an RST would make the client's kernel report ``ECONNRESET`` (``ReadError``) and may
  discard bytes it has not read yet;
- ``ending`` HANG: silence — or :data:`~harness.wire.KEEPALIVE_COMMENT` every
  ``keepalive_every`` on chunked replies — until the client disconnects or ``hold_cap``;
- ``raw_response``: those bytes instead of an HTTP response, then close.

Getting at the socket: uvicorn does not put the transport in the ASGI scope. The server
runs uvicorn's own h11 protocol through a subclass (``uvicorn.Config(http=...)``) that
overrides only the asyncio ``Protocol`` callbacks ``connection_made`` / ``connection_lost``
to register each transport under its peer address; the ASGI app finds it through
``scope["client"]`` (the same address; proxy-header rewriting is switched off). This
touches no uvicorn internals beyond the class it subclasses and the asyncio interface,
so it survives uvicorn refactors of the request cycle. Without a transport (another ASGI
server), breaks degrade to ending the response early.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass, field

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from harness.delivery_http import framed
from harness.serving import Message, Receive, Send
from harness.wire import KEEPALIVE_COMMENT, Break, Segment, SegmentStream, WireReply

Peer = tuple[str, int]

MIN_KEEPALIVE = 0.01
"""Real seconds between keep-alive comments at least, whatever the time scale (no busy loop at 0)."""
DROP_WAIT = 5.0
"""Real seconds a closing connection may take to flush before it is aborted."""


class Transports:
    """The server's live connections by peer address, kept by :func:`protocol_class`'s protocol."""

    def __init__(self) -> None:
        self._by_peer: dict[Peer, asyncio.Transport] = {}

    def add(self, peer: Peer, transport: asyncio.Transport) -> None:
        """Register the transport of a new connection."""
        self._by_peer[peer] = transport

    def discard(self, peer: Peer, transport: asyncio.Transport) -> None:
        """Forget a closed connection (only if the address was not reused meanwhile)."""
        if self._by_peer.get(peer) is transport:
            del self._by_peer[peer]

    def for_scope(self, scope: Message) -> asyncio.Transport | None:
        """The transport carrying the request of an ASGI ``scope``, if known."""
        client = scope.get("client")
        if not client:
            return None
        return self._by_peer.get((client[0], client[1]))

    def __len__(self) -> int:
        return len(self._by_peer)


def protocol_class(transports: Transports) -> type[H11Protocol]:
    """uvicorn's h11 protocol, registering every connection's transport in ``transports``."""

    class HarnessH11Protocol(H11Protocol):
        """h11 protocol whose transports the ASGI app can reach (to reset or close them)."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            _no_delay(transport)
            if self.client:
                transports.add(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client:
                transports.discard(self.client, self.transport)
            super().connection_lost(exc)

    return HarnessH11Protocol


def _no_delay(transport: asyncio.Transport) -> None:
    """Send each write at once: asyncio sets TCP_NODELAY only on sockets created as IPPROTO_TCP.

    Without it a reply's headers and body (or two stream segments) wait on the client's
    delayed ACK, ~40 ms per request, and split frames may be merged again.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass(frozen=True, slots=True)
class Clock:
    """How injected seconds become real ones on this server."""

    time_scale: float = 1.0
    """Real seconds per injected second."""
    hold_cap: float = 120.0
    """No wait or hold lasts longer than this many real seconds."""

    def real(self, seconds: float) -> float:
        """Real seconds to wait for ``seconds`` of scenario time."""
        return min(seconds * self.time_scale, self.hold_cap)


@dataclass
class Channel:
    """One request's connection as the app sees it: ASGI send/receive plus the raw transport."""

    send: Send
    receive: Receive
    transport: asyncio.Transport | None
    closing: asyncio.Event
    """Set when the server shuts down: every wait ends at once."""
    gone: bool = field(default=False)
    """The client disconnected (or the server is closing)."""

    def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> Awaitable[None]:
        """Send the status line and ``headers`` (lower-case names, encoded)."""
        return self.send({"type": "http.response.start", "status": status, "headers": headers})

    def write(self, data: bytes) -> Awaitable[None]:
        """Send one piece of the body as its own write."""
        return self.send({"type": "http.response.body", "body": data, "more_body": True})

    def finish(self, data: bytes = b"") -> Awaitable[None]:
        """End the body normally (terminating chunk, or the declared length reached), after ``data``."""
        return self.send({"type": "http.response.body", "body": data, "more_body": False})

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` real seconds unless the client leaves first; True if it has left."""
        if self.gone:
            return True
        if seconds <= 0:
            return False
        receiving = asyncio.ensure_future(self.receive())
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            await asyncio.wait({receiving, closing}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiving, closing):
                task.cancel()
        if closing.done() and not closing.cancelled():
            self.gone = True
        elif receiving.done() and not receiving.cancelled():
            # After the request body only a disconnect can arrive.
            self.gone = receiving.result().get("type") == "http.disconnect"
        return self.gone

    async def drop(self, *, rst: bool) -> None:
        """Close the connection — an RST (nothing sent after) or a FIN after the queued bytes."""
        transport = self.transport
        if transport is None or (transport.is_closing() and not rst):
            return
        if rst:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
        # Wait for uvicorn to see the connection lost, so it neither logs nor answers a 500.
        if not await self.pause(DROP_WAIT):
            transport.abort()
            await self.pause(DROP_WAIT)

    def write_raw(self, data: bytes) -> None:
        """Bytes straight onto the connection, outside HTTP."""
        if self.transport is not None and data:
            self.transport.write(data)


async def play(reply: WireReply, channel: Channel, clock: Clock, *, chunked: bool) -> None:
    """Enact ``reply`` on ``channel``: timing, framing and breakage (see the module docstring)."""
    try:
        await _play(reply, channel, clock, chunked=chunked)
    except asyncio.CancelledError:
        # Server shutdown: leave no client waiting on a connection nobody serves.
        if channel.transport is not None:
            channel.transport.abort()
        raise


async def _play(reply: WireReply, channel: Channel, clock: Clock, *, chunked: bool) -> None:
    # Zero waits are skipped, not awaited: at time_scale 0 a reply is a few sends and nothing else.
    delay = clock.real(reply.head_delay)
    if delay > 0 and await channel.pause(delay):
        return
    if reply.raw_response is not None:
        channel.write_raw(reply.raw_response)
        await channel.drop(rst=False)
        return
    if reply.before_head is Break.RESET:
        await channel.drop(rst=True)
        return
    if reply.before_head is not None:  # HANG, and CONNECT_TIMEOUT held the same way
        await _hold(channel, clock)
        return
    headers, completes = _head(reply, chunked=chunked)
    await channel.start(reply.status, headers)
    segments = reply.segments
    if isinstance(segments, list):
        if await _send_all(channel, clock, segments, completes=completes):
            return
    elif await _send_lazy(channel, clock, segments, completes=completes):
        return
    if reply.ending is Break.RESET:
        await channel.drop(rst=False)
    elif reply.ending is Break.HANG:
        if chunked and reply.keepalive_every:
            await _keep_alive(channel, clock, reply.keepalive_every)
        else:
            await _hold(channel, clock)
    else:
        await _finish(channel)


async def _finish(channel: Channel) -> None:
    """End the body normally (terminating chunk, or the declared length reached)."""
    try:
        await channel.finish()
    except h11.LocalProtocolError:
        # A fault declared a content-length the body does not reach: the body breaks off.
        await channel.drop(rst=False)


def _head(reply: WireReply, *, chunked: bool) -> tuple[list[tuple[bytes, bytes]], bool]:
    """:func:`framed` headers, encoded; True if the body ends at its declared length."""
    headers, length = framed(reply, chunked=chunked)
    encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return encoded, length is not None and reply.ending is None and length == reply.body_size


async def _send_all(channel: Channel, clock: Clock, segments: list[Segment], *, completes: bool) -> bool:
    """Send a held body segment by segment; True when the reply is over (client gone, or body complete)."""
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if await _send(channel, clock, segment, last=completes and index == last):
            return True
    return completes and last >= 0


async def _send_lazy(channel: Channel, clock: Clock, segments: SegmentStream, *, completes: bool) -> bool:
    """:func:`_send_all` for a lazy body, generated a segment ahead of the one sent."""
    pending: Segment | None = None
    async with contextlib.aclosing(_segments(segments)) as generated:
        async for segment in generated:
            if pending is not None and await _send(channel, clock, pending, last=False):
                return True
            pending = segment
    if pending is None:
        return False
    return await _send(channel, clock, pending, last=completes) or completes


async def _send(channel: Channel, clock: Clock, segment: Segment, *, last: bool) -> bool:
    """Wait the segment's delay, then send it (ending the body when ``last``); True if the client left."""
    delay = clock.real(segment.delay)
    if delay > 0 and await channel.pause(delay):
        return True
    if last:
        # The same bytes as a write then a finish, in one ASGI message instead of two.
        await channel.finish(segment.data)
    elif segment.data:
        await channel.write(segment.data)
    return False


async def _segments(segments: SegmentStream) -> AsyncGenerator[Segment, None]:
    """A lazy body's segments, generated one at a time off the event loop.

    Each segment is generated only once the previous one was handed to the transport, which
    waits for the client to drain it (uvicorn's flow control): a huge body is never held whole.
    """
    produced = iter(segments)
    try:
        while True:
            generated = await asyncio.to_thread(next, produced, None)
            if generated is None:
                return
            yield generated
    finally:
        close = getattr(produced, "close", None)
        # Cancelled mid-step, the generator still runs in its thread and cannot be closed: it is dropped.
        with contextlib.suppress(ValueError):
            if close is not None:
                close()


async def _hold(channel: Channel, clock: Clock) -> None:
    """Send nothing until the client leaves; past the hold cap, close the connection."""
    if not await channel.pause(clock.hold_cap):
        await channel.drop(rst=False)


async def _keep_alive(channel: Channel, clock: Clock, every: float) -> None:
    """Send keep-alive comments until the client leaves; past the hold cap, close the connection."""
    interval = max(clock.real(every), MIN_KEEPALIVE)
    for _ in range(max(1, int(clock.hold_cap / interval))):
        if await channel.pause(interval):
            return
        await channel.write(KEEPALIVE_COMMENT)
    await channel.drop(rst=False)
