"""Socket faults: what a broken peer does to the connection itself, below HTTP.

``empty_reply`` and ``random_bytes`` replace the whole response with raw bytes
(:attr:`~harness.wire.WireReply.raw_response`): the fake provider server writes them on
the socket and closes it; in-process, the client gets the protocol error its HTTP parser
raises for those bytes. ``slow_drip`` re-segments the body so it trickles at a fixed
byte rate, on any reply. A status line and headers followed by silence is
``timeout(after_headers=true)`` (:mod:`~harness.faults.transport`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated

import pydantic

from harness.faults._framing import drip_stream, scan, split
from harness.faults.base import FaultContext, Layer, NoParams, Params, fault
from harness.wire import SegmentStream, WireReply


@fault("empty_reply", Layer.TRANSPORT)
def empty_reply(reply: WireReply, params: NoParams, ctx: FaultContext) -> WireReply:
    """The server accepts the request and closes without a byte (curl: "Empty reply from server").

    Load balancers and crashed workers do this; httpx raises ``RemoteProtocolError: Server
    disconnected without sending a response.`` and the SDKs retry it as a connection error.
    """
    return dataclasses.replace(reply, raw_response=b"", segments=[], ending=None, keepalive_every=None)


class RandomBytesParams(Params):
    """How many random bytes come back instead of a response."""

    size: Annotated[int, pydantic.Field(ge=1, le=1 << 20)] = 64
    """Number of bytes (drawn uniformly from 0-255) sent before the connection closes."""


@fault("random_bytes", Layer.TRANSPORT, params=RandomBytesParams)
def random_bytes(reply: WireReply, params: RandomBytesParams, ctx: FaultContext) -> WireReply:
    """Garbage instead of HTTP, then close: a TLS/plain-text mix-up, a wrong port, a broken proxy.

    The client's HTTP parser rejects the bytes ("illegal status line") or, when they hold
    no line break, reports that the server disconnected without a response.
    """
    noise = bytes(ctx.rng.randrange(256) for _ in range(params.size))
    return dataclasses.replace(reply, raw_response=noise, segments=[], ending=None, keepalive_every=None)


class SlowDripParams(Params):
    """The byte rate of the body and the size of each write."""

    bytes_per_second: Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)] = 100.0
    """Body bytes delivered per (scenario) second."""
    chunk_size: Annotated[int, pydantic.Field(ge=1)] | None = None
    """Bytes per write; None: a tenth of a second's worth (at least 1)."""


@fault("slow_drip", Layer.TRANSPORT, params=SlowDripParams)
def slow_drip(reply: WireReply, params: SlowDripParams, ctx: FaultContext) -> WireReply:
    """The body trickles in at a few bytes per second: a congested link or an overloaded proxy.

    Each chunk arrives often enough that a per-read timeout never fires, so only a total
    deadline bounds the call. Works on plain and streaming replies; existing delays are kept.
    A raw reply (``empty_reply``, ``random_bytes``) is left as it is: it has no HTTP body to
    re-cut (its bytes go out at once, then the connection closes).
    """
    if reply.raw_response is not None:
        return reply
    size = params.chunk_size or max(1, math.floor(params.bytes_per_second / 10))
    if isinstance(reply.segments, SegmentStream):
        first = scan(reply.segments).first
        return dataclasses.replace(
            reply, segments=drip_stream(reply.segments, size, params.bytes_per_second, first)
        )
    segments = split(reply.segments, list(range(size, reply.body_size, size)))
    # Each piece waits as long as its own bytes take at the rate: the body arrives at exactly that rate.
    dripped = [
        dataclasses.replace(s, delay=s.delay + (len(s.data) / params.bytes_per_second if i else 0.0))
        for i, s in enumerate(segments)
    ]
    return dataclasses.replace(reply, segments=dripped)
