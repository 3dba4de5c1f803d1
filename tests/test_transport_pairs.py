"""Every transport fault composes with every other: each ordered pair, through the Responder, per dialect."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

import harness.faults  # noqa: F401  (registers every fault)
from harness.case import CaseState
from harness.faults.base import FAULTS, FaultUse, Layer
from harness.plan import RatePlan, Rule
from harness.responder import Responder
from harness.sources import SchemaSource
from harness.wire import KEEPALIVE_COMMENT, Break, WireReply

SCHEMA = {
    "type": "object",
    "properties": {"user_id": {"type": "integer", "minimum": 1}, "name": {"type": "string"}},
    "required": ["user_id", "name"],
    "additionalProperties": False,
}
TRANSPORT = sorted(name for name, f in FAULTS.items.items() if f.layer is Layer.TRANSPORT)
PAIRS = list(itertools.product(TRANSPORT, repeat=2))
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "openai-chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Sign up Ada"}]}),
    "anthropic-messages": (
        "/v1/messages",
        {"max_tokens": 256, "messages": [{"role": "user", "content": "Sign up Ada"}]},
    ),
    "openai-responses": ("/v1/responses", {"input": "Sign up Ada"}),
}
"""One request per dialect; each is sent once streaming and once not."""


def serve(chain: tuple[FaultUse, ...], dialect: str, stream: bool, seed: int = 5) -> WireReply:
    """The first reply of a fresh case with ``chain`` applied, as the Responder serves it."""
    path, body = REQUESTS[dialect]
    request = json.dumps({"model": "test-model", **body, "stream": stream}).encode()
    responder = Responder(SchemaSource(SCHEMA), RatePlan((Rule(chain),)), seed=seed)
    return responder.respond(path, request, {}, CaseState(seed=seed, index=0, time_scale=0))


def test_every_transport_fault_is_in_the_pairs() -> None:
    assert {"empty_reply", "random_bytes", "slow_drip", "stream_stall", "stream_cut"} <= set(TRANSPORT)


@pytest.mark.parametrize("dialect", sorted(REQUESTS))
def test_every_ordered_pair_of_transport_faults_applies(dialect: str) -> None:
    for (first, second), stream in itertools.product(PAIRS, (False, True)):
        chain = (FaultUse.of(first), FaultUse.of(second))
        reply = serve(chain, dialect, stream)
        assert reply.faults == [first, second], (first, second, stream)
        assert reply.total_delay >= 0


@pytest.mark.parametrize(
    "pair",
    [("stream_cut", "stream_stall"), ("random_bytes", "slow_drip"), ("slow_drip", "stream_stall")],
    ids="-then-".join,
)
def test_a_pair_serves_the_same_bytes_and_timing_for_the_same_seed(pair: tuple[str, str]) -> None:
    chain = tuple(FaultUse.of(name) for name in pair)
    one, two = serve(chain, "openai-chat", True, seed=9), serve(chain, "openai-chat", True, seed=9)
    assert one.body == two.body and one.raw_response == two.raw_response
    assert [(s.data, s.delay) for s in one.segments] == [(s.data, s.delay) for s in two.segments]
    timing = [(r.ending, r.keepalive_every, r.head_delay) for r in (one, two)]
    assert timing[0] == timing[1]


def test_a_stall_after_a_stream_cut_to_nothing_keeps_the_headers_then_waits() -> None:
    chain = (
        FaultUse.of("stream_cut", {"after_fraction": 0}),
        FaultUse.of("stream_stall", {"seconds": 12, "keepalive": True}),
    )
    reply = serve(chain, "openai-chat", True)
    assert reply.status == 200 and reply.body == KEEPALIVE_COMMENT * 2
    assert sum(s.delay for s in reply.segments) == 12
    assert reply.ending is None


@pytest.mark.parametrize("socket_fault", ["empty_reply", "random_bytes"])
@pytest.mark.parametrize("body_fault", ["stream_stall", "slow_drip"])
def test_body_faults_leave_a_raw_reply_as_it_is(socket_fault: str, body_fault: str) -> None:
    alone = serve((FaultUse.of(socket_fault),), "openai-chat", True)
    both = serve((FaultUse.of(socket_fault), FaultUse.of(body_fault)), "openai-chat", True)
    assert both.raw_response == alone.raw_response is not None
    assert (both.head_delay, both.ending, both.body) == (alone.head_delay, alone.ending, b"")
    assert both.ending is not Break.HANG
