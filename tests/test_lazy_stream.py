"""Huge replies stay lazy end to end: lazy text → lazy events → a SegmentStream pulled as it is sent.

Laziness is shown without timing: bytes generated are counted by pulling the segment
iterator, memory by tracemalloc, and the lazy bytes are compared with the eager ones.
"""

from __future__ import annotations

import hashlib
import json
import random
import tracemalloc
from collections.abc import Iterator
from itertools import islice
from typing import Any

import httpx
import openai
import pytest

from harness.case import CaseState
from harness.dialects import DIALECTS
from harness.dialects.base import SEGMENT_BYTES, json_parts
from harness.faults.base import FaultContext, FaultUse
from harness.faults.content_text import LAZY_MIN_CHARS
from harness.interception import intercept
from harness.lazytext import LazyText
from harness.plan import RatePlan, Rule
from harness.responder import Responder
from harness.server import ProviderServer
from harness.sources import InlineSource
from harness.wire import Completion, Finish, LazyBody, ModelRequest, Segment, SegmentStream, WireReply

RECORD = {"user_id": 42, "name": 'Ada "L" Lovelace', "city": "Zürich", "motto": "日本語\nok"}
TEXT = json.dumps(RECORD, ensure_ascii=False)
PATHS = {
    "openai-chat": "/v1/chat/completions",
    "anthropic-messages": "/v1/messages",
    "openai-responses": "/v1/responses",
}
MIB = 1 << 20
WIRE_MB = 40
"""Size of the huge reply sent over real sockets (above the lazy threshold, small enough to be quick)."""


def request_body(dialect: str, *, stream: bool, tool: bool = False) -> dict[str, Any]:
    """A minimal request of ``dialect``, optionally forcing a tool."""
    if dialect == "openai-responses":
        body: dict[str, Any] = {"model": "gpt-4o-mini", "input": "hi", "stream": stream}
        if tool:
            body["tools"] = [{"type": "function", "name": "save", "parameters": {"type": "object"}}]
            body["tool_choice"] = {"type": "function", "name": "save"}
        return body
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if dialect == "anthropic-messages":
        body["max_tokens"] = 64
        if tool:
            body["tools"] = [{"name": "save", "input_schema": {"type": "object"}}]
            body["tool_choice"] = {"type": "tool", "name": "save"}
    elif tool:
        body["tools"] = [{"type": "function", "function": {"name": "save", "parameters": {"type": "object"}}}]
        body["tool_choice"] = {"type": "function", "function": {"name": "save"}}
    return body


def parsed(dialect: str, *, stream: bool, tool: bool = False) -> ModelRequest:
    """The request as the dialect parses it."""
    raw = json.dumps(request_body(dialect, stream=stream, tool=tool)).encode()
    return DIALECTS.get(dialect).parse(PATHS[dialect], raw, {})


def huge_responder(size_mb: float, *extra: FaultUse) -> Responder:
    """Every call answered with a ``pad`` huge payload of ``size_mb`` MiB, then ``extra`` faults."""
    huge = FaultUse.of("huge_payload", {"size_mb": size_mb, "shape": "pad"})
    return Responder(InlineSource(TEXT), RatePlan((Rule((huge, *extra)),)), seed=5)


def respond(responder: Responder, dialect: str = "openai-chat", *, stream: bool = True) -> WireReply:
    """Call 1 of case 0."""
    raw = json.dumps(request_body(dialect, stream=stream)).encode()
    return responder.respond(PATHS[dialect], raw, {}, CaseState(seed=5, index=0, time_scale=0))


def huge_text(size_mb: float) -> LazyText:
    """The text ``huge_payload`` makes of TEXT."""
    ctx = FaultContext(parsed("openai-chat", stream=False), DIALECTS.get("openai-chat"), random.Random(0))
    done = FaultUse.of("huge_payload", {"size_mb": size_mb}).apply_to(Completion(TEXT), ctx)
    assert isinstance(done, Completion) and done.lazy_text is not None
    return done.lazy_text


# --------------------------------------------------------------------------- lazy text


def random_runs(rng: random.Random) -> LazyText:
    """Runs of short pieces with characters JSON must escape and multi-byte ones."""
    alphabet = 'ab"\\\n\té日\x01 '
    pieces = (
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(0, 5))
    )
    return LazyText.of(*((piece, rng.randint(0, 40)) for piece in pieces))


def test_lazy_text_slices_chunks_and_escapes_like_its_string() -> None:
    rng = random.Random(3)
    for _ in range(400):
        lazy = random_runs(rng)
        text = str(lazy)
        start, stop = sorted(rng.randint(0, len(text)) for _ in range(2))
        part = lazy[start:stop]
        assert len(lazy) == len(text) and str(part) == text[start:stop]
        assert "".join(lazy.chunks(rng.randint(1, 9))) == text
        escaped = json.dumps(text[start:stop], ensure_ascii=False)[1:-1].encode()
        assert b"".join(part.json_chunks(rng.randint(1, 9))) == escaped
        assert part.json_size() == len(escaped)


def test_json_parts_rebuild_the_compact_json() -> None:
    lazy = LazyText.of(('x"é', 5), ("\n", 2))
    value = {"a": [1, {"t": lazy, 2: None}], "b": "plain", "c": {"d": [lazy, 1.5]}}
    eager = {"a": [1, {"t": str(lazy), 2: None}], "b": "plain", "c": {"d": [str(lazy), 1.5]}}
    built = b"".join(p if isinstance(p, bytes) else b"".join(p.json_chunks()) for p in json_parts(value))
    assert built == json.dumps(eager, ensure_ascii=False, separators=(",", ":")).encode()


def test_a_lazy_body_answers_length_slices_search_and_equality_like_its_bytes() -> None:
    rng = random.Random(2)
    for _ in range(500):
        segments = [Segment(rng.randbytes(rng.randint(0, 9))) for _ in range(rng.randint(0, 6))]
        body = b"".join(s.data for s in segments)
        lazy = LazyBody(SegmentStream(lambda segments=segments: iter(segments), len(body)))
        start, stop = rng.randint(-12, 12), rng.randint(-12, 12)
        needle = rng.randbytes(rng.randint(0, 3))
        assert lazy[start:stop] == body[start:stop] and (needle in lazy) == (needle in body)
        assert lazy == body and len(lazy) == len(body) and bytes(lazy) == body


# --------------------------------------------------------------------------- dialects


@pytest.mark.parametrize("tool", [False, True], ids=["text", "tool"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", list(PATHS))
def test_lazy_serialisation_is_byte_and_segment_identical_for_a_small_text(
    dialect: str, stream: bool, tool: bool
) -> None:
    lazy = LazyText.of((TEXT[:-1], 1), (', "k": "v"', 300), ("}", 1))
    request = parsed(dialect, stream=stream, tool=tool)
    tool_name = request.forced_tool
    eager_completion = Completion(str(lazy), Finish.STOP, tool_name=tool_name, output_tokens=9)
    lazy_completion = Completion(None, Finish.STOP, tool_name=tool_name, output_tokens=9, lazy_text=lazy)
    target = DIALECTS.get(dialect)
    eager = target.serialize(target.render(eager_completion, request, random.Random(8)))
    served = target.serialize(target.render(lazy_completion, request, random.Random(8)), lazy=True)
    assert isinstance(served.segments, SegmentStream) and served.segments.size == eager.body_size
    assert [s.data for s in served.segments] == [s.data for s in eager.segments]
    assert served.headers == eager.headers and served.status == eager.status


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", list(PATHS))
def test_a_frame_over_the_segment_limit_goes_out_in_bounded_segments(dialect: str, stream: bool) -> None:
    lazy = LazyText.of((TEXT[:-1] + ', "items": [', 1), ('{"i":1,"v":"é"},', 200_000), ("{}]}", 1))
    request = parsed(dialect, stream=stream)
    target = DIALECTS.get(dialect)
    eager = target.serialize(target.render(Completion(str(lazy)), request, random.Random(2)))
    served = target.serialize(
        target.render(Completion(None, lazy_text=lazy), request, random.Random(2)), lazy=True
    )
    pieces = [s.data for s in served.segments]
    assert b"".join(pieces) == eager.body and served.body_size == len(eager.body)
    assert max(len(p) for p in pieces) < SEGMENT_BYTES + 2 * MIB
    if not stream:
        assert len(pieces) > 2  # the single 3 MiB body is not one write


# --------------------------------------------------------------------------- the Responder


def test_a_1_gib_reply_is_pulled_segment_by_segment_without_building_it() -> None:
    tracemalloc.start()
    try:
        reply = respond(huge_responder(1024))
        first = list(islice(iter(reply.segments), 4))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply.lazy and isinstance(reply.segments, SegmentStream)
    # Known up front, for content-length and the ledger.
    assert reply.body_size > 1024 * MIB
    assert sum(len(s.data) for s in first) < 32 * MIB  # four segments generated, not the gigabyte
    assert peak < 64 * MIB
    assert first[0].data.startswith(b'data: {"id":"chatcmpl-')


def test_the_served_call_log_keeps_a_lazy_body_with_its_length_and_prefix() -> None:
    state = CaseState(seed=5, index=0, time_scale=0)
    raw = json.dumps(request_body("openai-chat", stream=False)).encode()
    reply = huge_responder(WIRE_MB).respond(PATHS["openai-chat"], raw, {}, state)
    [served] = state.calls
    assert isinstance(served.body, LazyBody) and len(served.body) == reply.body_size
    body = reply.body
    assert (
        served.body[:300] == body[:300]
        and served.body == body
        and b'\\"items\\": [{\\"i\\":1000' in served.body
    )
    decoded = json.loads(body)
    content = decoded["choices"][0]["message"]["content"]
    assert len(content) == len(huge_text(WIRE_MB)) and json.loads(content)["user_id"] == 42


def test_below_the_threshold_huge_payload_stays_a_plain_string() -> None:
    ctx = FaultContext(parsed("openai-chat", stream=False), DIALECTS.get("openai-chat"), random.Random(0))
    small = FaultUse.of("huge_payload", {"size_mb": 1}).apply_to(Completion(TEXT), ctx)
    assert isinstance(small, Completion) and small.lazy_text is None and small.text is not None
    assert len(small.text) < LAZY_MIN_CHARS <= len(huge_text(WIRE_MB))


def test_a_later_content_fault_sees_the_built_text() -> None:
    wrapped = respond(huge_responder(WIRE_MB, FaultUse.of("markdown_fence", {})), stream=False)
    assert not wrapped.lazy
    content = json.loads(wrapped.body)["choices"][0]["message"]["content"]
    assert content.startswith("```") and len(content) > WIRE_MB * MIB


def test_transport_faults_work_on_a_lazy_reply() -> None:
    clean = respond(huge_responder(WIRE_MB))
    body = clean.body
    reset = respond(huge_responder(WIRE_MB, FaultUse.of("connection_reset", {"fraction": 0.25})))
    assert reset.lazy and reset.body == body[: len(body) // 4] and reset.ending == "reset"
    slow = respond(huge_responder(WIRE_MB, FaultUse.of("latency", {"seconds": 3})))
    assert slow.lazy and slow.head_delay == 3 and slow.total_delay == 3
    cut = respond(huge_responder(WIRE_MB, FaultUse.of("stream_cut", {})))
    assert cut.body == body.removesuffix(b"data: [DONE]\n\n")


# --------------------------------------------------------------------------- over the wire


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    """A fake provider whose every reply is a WIRE_MB huge payload."""
    with ProviderServer(huge_responder(WIRE_MB), time_scale=0, hold_cap=10.0) as running:
        yield running


def test_the_openai_sdk_streams_the_whole_huge_reply_from_a_real_server(server: ProviderServer) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-test", max_retries=0, timeout=60)
    length, head, finished = 0, "", False
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True):
        for choice in chunk.choices:
            piece = choice.delta.content or ""
            head += piece if len(head) < 64 else ""
            length += len(piece)
            finished = finished or choice.finish_reason == "stop"
    assert finished and length == len(huge_text(WIRE_MB)) and head.startswith(TEXT[:-1])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_over_the_wire_and_in_process_serve_the_same_bytes(server: ProviderServer, stream: bool) -> None:
    body = request_body("openai-chat", stream=stream)
    wire = hashlib.sha256()
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST", f"{server.url}/v1/chat/completions", json=body, headers={"x-harness-case": "5-0-1"}
        ) as response,
    ):
        declared = response.headers.get("content-length")
        for data in response.iter_raw():
            wire.update(data)
    local = hashlib.sha256()
    with (
        intercept(huge_responder(WIRE_MB)),
        httpx.Client() as http,
        http.stream("POST", "https://api.openai.com/v1/chat/completions", json=body) as response,
    ):
        assert response.headers.get("content-length") == declared
        for data in response.iter_raw():
            local.update(data)
    assert wire.hexdigest() == local.hexdigest()
    assert (declared is None) == stream


# --------------------------------------------------------------------------- transport faults, lazily

LAZY_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("stream_cut", {}),
    ("stream_cut", {"after_fraction": 0.4}),
    ("stream_stall", {}),
    ("stream_stall", {"after_events": 3, "seconds": 2.5, "keepalive": True, "keepalive_every": 1}),
    ("stream_stall", {"seconds": 4}),
    ("slow_drip", {"bytes_per_second": 50_000, "chunk_size": 7_000}),
    ("latency", {"distribution": "uniform", "low": 0.1, "high": 0.2, "per_chunk": True}),
    ("connection_reset", {"fraction": 0.6}),
]


@pytest.mark.parametrize("dialect", list(PATHS))
@pytest.mark.parametrize(
    ("name", "params"), LAZY_FAULTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LAZY_FAULTS)]
)
def test_stream_faults_edit_a_lazy_body_as_they_edit_the_built_one(
    dialect: str, name: str, params: dict[str, Any]
) -> None:
    # Two full-text frames of the Responses stream are over SMALL_FRAME: parsed from their head.
    lazy_text = LazyText.of((TEXT[:-1] + ', "items": [', 1), ('{"i":1,"v":"é"},', 9_000), ("{}]}", 1))
    request = parsed(dialect, stream=True)
    target = DIALECTS.get(dialect)
    envelope = target.render(Completion(None, lazy_text=lazy_text), request, random.Random(4))
    reply = target.serialize(envelope, lazy=True)
    built = WireReply(reply.status, reply.headers, list(reply.segments))
    use = FaultUse.of(name, params)
    lazy_out = use.apply_to(reply, FaultContext(request, target, random.Random(6)))
    eager_out = use.apply_to(built, FaultContext(request, target, random.Random(6)))
    assert isinstance(lazy_out, WireReply) and isinstance(eager_out, WireReply)
    assert isinstance(lazy_out.segments, SegmentStream)
    assert [(s.data, s.delay) for s in lazy_out.segments] == [(s.data, s.delay) for s in eager_out.segments]
    assert (lazy_out.ending, lazy_out.keepalive_every) == (eager_out.ending, eager_out.keepalive_every)
    assert lazy_out.body_size == len(eager_out.body)
    assert lazy_out.total_delay == pytest.approx(eager_out.total_delay)
