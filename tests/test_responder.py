"""The Responder: byte-identical replies per (seed, case, call), case headers, layer order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import CaseState, FaultContext, FaultUse, Layer, Responder, Rule, SchemaSource, SequencePlan
from harness.faults import Fault, NoParams
from harness.plan import RatePlan
from harness.wire import Completion, Envelope, WireReply

SCHEMA = {
    "type": "object",
    "properties": {
        "user_id": {"type": "integer", "minimum": 1},
        "name": {"type": "string"},
        "is_active": {"type": "boolean"},
    },
    "required": ["user_id", "name", "is_active"],
    "additionalProperties": False,
}
PATHS = {"openai-chat": "/v1/chat/completions", "anthropic-messages": "/v1/messages"}
CHAIN = (
    FaultUse.of("rename_keys", {"mapping": {"user_id": "UserID"}}),
    FaultUse.of("latency", {"seconds": 2}),
)
CHAIN_HEADER = "rename_keys(mapping={'user_id':'UserID'});latency(seconds=2.0)"


def request_body(dialect: str, stream: bool) -> bytes:
    """A minimal request of ``dialect``."""
    body: dict[str, Any] = {
        "model": "test-model",
        "messages": [{"role": "user", "content": "Sign up Ada Lovelace"}],
        "stream": stream,
    }
    if dialect == "anthropic-messages":
        body["max_tokens"] = 256
    return json.dumps(body).encode()


def responder(seed: int, uses: tuple[FaultUse, ...] = CHAIN) -> Responder:
    """Generated records with ``uses`` on every call."""
    return Responder(SchemaSource(SCHEMA), RatePlan((Rule(uses),)), seed=seed)


def serve(
    seed: int,
    dialect: str,
    stream: bool,
    *,
    case: int = 0,
    calls: int = 1,
    uses: tuple[FaultUse, ...] = CHAIN,
) -> list[WireReply]:
    """The first ``calls`` replies of a fresh case."""
    state = CaseState(seed=seed, index=case, time_scale=0)
    server = responder(seed, uses)
    return [server.respond(PATHS[dialect], request_body(dialect, stream), {}, state) for _ in range(calls)]


MODES = [(d, s) for d in PATHS for s in (False, True)]
MODE_IDS = [f"{d}-{'stream' if s else 'json'}" for d, s in MODES]


@pytest.mark.parametrize(("dialect", "stream"), MODES, ids=MODE_IDS)
def test_same_seed_case_and_call_give_byte_identical_replies(dialect: str, stream: bool) -> None:
    first = serve(3, dialect, stream, case=4, calls=3)
    again = serve(3, dialect, stream, case=4, calls=3)
    for one, other in zip(first, again, strict=True):
        assert one.body == other.body
        assert one.headers == other.headers
        assert [s.data for s in one.segments] == [s.data for s in other.segments]
        assert one == other  # status, timing and breaks too
    # the call index is part of the key: call 1, 2 and 3 of a case differ
    assert len({r.body for r in first}) == 3


@pytest.mark.parametrize(("dialect", "stream"), MODES, ids=MODE_IDS)
def test_case_headers_name_the_case_and_the_fault_chain(dialect: str, stream: bool) -> None:
    (reply,) = serve(3, dialect, stream, case=4)
    assert reply.header("x-harness-case") == "3-4"
    assert reply.header("x-harness-faults") == CHAIN_HEADER
    assert reply.case_id == "3-4"
    assert reply.faults == ["rename_keys(mapping={'user_id':'UserID'})", "latency(seconds=2.0)"]
    assert reply.head_delay == 2.0
    assert b"UserID" in reply.body
    assert (reply.header("content-type") or "").startswith(
        "text/event-stream" if stream else "application/json"
    )
    (clean,) = serve(3, dialect, stream, uses=())
    assert clean.header("x-harness-faults") == "clean"
    assert clean.header("x-harness-case") == "3-0"
    assert b"UserID" not in clean.body


@pytest.mark.parametrize(("dialect", "stream"), MODES, ids=MODE_IDS)
def test_a_different_seed_or_case_gives_a_different_reply(dialect: str, stream: bool) -> None:
    (base,) = serve(3, dialect, stream)
    (other_seed,) = serve(4, dialect, stream)
    (other_case,) = serve(3, dialect, stream, case=1)
    for other in (other_seed, other_case):
        assert other.body != base.body
        assert other.headers != base.headers  # provider ids and the case header
    assert other_seed.header("x-harness-case") == "4-0"


def test_every_served_call_is_logged_on_the_case() -> None:
    state = CaseState(seed=1, index=2, time_scale=0)
    server = responder(1)
    body = request_body("openai-chat", False)
    replies = [server.respond(PATHS["openai-chat"], body, {}, state) for _ in range(2)]
    assert [c.call for c in state.calls] == [1, 2]
    assert [c.body for c in state.calls] == [r.body for r in replies]
    assert all(c.faults == replies[0].faults for c in state.calls)
    assert all(c.dialect == "openai-chat" and c.status == 200 and not c.stream for c in state.calls)
    assert [c.injected_delay for c in state.calls] == [2.0, 2.0]
    assert all(c.input_tokens > 0 and c.output_tokens > 0 for c in state.calls)


def test_calls_logged_out_of_order_are_kept_in_call_order() -> None:
    """SDK retries may run in threads: a later call can finish first; the log stays by call number."""
    state = CaseState(seed=1, index=2, time_scale=0)
    server = responder(1)
    body = request_body("openai-chat", False)
    for _ in range(3):
        server.respond(PATHS["openai-chat"], body, {}, state)
    first, second, third = state.calls
    state.calls.clear()
    for served in (third, first, second):
        state.record(served)
    assert [c.call for c in state.calls] == [1, 2, 3]


def test_a_path_no_dialect_serves_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="/v1/embeddings"):
        responder(0).respond("/v1/embeddings", b"{}", {}, CaseState(seed=0, index=0))


def reply_text(reply: WireReply, stream: bool) -> str:
    """The message content of an openai-chat reply, deltas joined when streamed."""
    if not stream:
        return str(json.loads(reply.body)["choices"][0]["message"]["content"])
    events = [
        line.removeprefix("data: ") for line in reply.body.decode().splitlines() if line.startswith("data: {")
    ]
    return "".join(
        choice["delta"].get("content") or "" for event in events for choice in json.loads(event)["choices"]
    )


# --- layer order ------------------------------------------------------------------------------


def recording(name: str, layer: Layer, log: list[str]) -> FaultUse:
    """A fault of ``layer`` that logs its name when applied and marks what it touches."""

    def apply(target: Any, params: NoParams, ctx: FaultContext) -> Any:
        log.append(name)
        if isinstance(target, Completion):
            target.text = f"{target.text}<{name}>"
        elif isinstance(target, Envelope):
            target.headers[f"x-{name}"] = ",".join(log)
        else:
            assert isinstance(target, WireReply)
            target.headers.append((f"x-{name}", ",".join(log)))
        return target

    return FaultUse(Fault(name, layer, NoParams, apply, f"Test fault {name}."), NoParams())


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_faults_apply_content_then_envelope_then_transport_whatever_the_declared_order(stream: bool) -> None:
    log: list[str] = []
    declared = (
        recording("transport1", Layer.TRANSPORT, log),
        recording("envelope1", Layer.ENVELOPE, log),
        recording("content1", Layer.CONTENT, log),
        recording("transport2", Layer.TRANSPORT, log),
        recording("content2", Layer.CONTENT, log),
    )
    server = Responder(SchemaSource(SCHEMA), SequencePlan((Rule(declared),)), seed=0)
    reply = server.respond(
        PATHS["openai-chat"], request_body("openai-chat", stream), {}, CaseState(seed=0, index=0)
    )
    # by layer; within a layer, in declaration order
    assert log == ["content1", "content2", "envelope1", "transport1", "transport2"]
    assert reply.header("x-envelope1") == "content1,content2,envelope1"
    assert reply.header("x-transport2") == "content1,content2,envelope1,transport1,transport2"
    text = reply_text(reply, stream)
    assert "<content1>" in text and "<content2>" in text
    assert text.index("<content1>") < text.index("<content2>")
    # the header keeps the chain as declared: that is what a replay names
    assert reply.header("x-harness-faults") == "transport1;envelope1;content1;transport2;content2"


def test_a_real_content_fault_declared_after_a_transport_fault_still_shapes_the_body() -> None:
    fence_then_latency = (FaultUse.of("markdown_fence"), FaultUse.of("latency", {"seconds": 1}))
    latency_then_fence = tuple(reversed(fence_then_latency))
    (one,) = serve(6, "openai-chat", False, uses=fence_then_latency)
    (other,) = serve(6, "openai-chat", False, uses=latency_then_fence)
    for reply in (one, other):
        content = json.loads(reply.body)["choices"][0]["message"]["content"]
        assert content.startswith("```")
        assert reply.head_delay == 1.0
