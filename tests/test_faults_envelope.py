"""Envelope faults on envelopes rendered by the real dialects, checked field by field and through the SDKs."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from openai._streaming import SSEDecoder

import harness.dialects
import harness.faults.envelope  # noqa: F401  (registers the faults)
from harness.dialects import DIALECTS
from harness.dialects.base import Dialect
from harness.dialects.openai_chat import AZURE_LEADING_CHUNK, OpenAIChat
from harness.errors import FaultParamsError, UsageError
from harness.faults.base import FaultContext, FaultUse
from harness.faults.envelope import BrokenKind, break_json, supports
from harness.wire import Completion, Envelope, Finish, ModelRequest, SseEvent

OPENAI = DIALECTS.get("openai-chat")
ANTHROPIC = DIALECTS.get("anthropic-messages")
TEXT = '{"name": "Ada Lovelace", "age": 36, "active": true, "note": null}'
MESSAGES: Any = [{"role": "user", "content": "Sign up Ada"}]
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


def make_request(
    dialect: str, *, stream: bool = False, tool: bool = False, usage: bool = True
) -> ModelRequest:
    """A request parsed by the real dialect; OpenAI streams ask for the usage chunk unless ``usage``."""
    if dialect == "openai-chat":
        body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": usage}}
        if tool:
            body["tools"] = [{"type": "function", "function": {"name": "save", "parameters": SCHEMA}}]
            body["tool_choice"] = {"type": "function", "function": {"name": "save"}}
        return OPENAI.parse("/v1/chat/completions", json.dumps(body).encode(), {})
    body = {"model": "claude-x", "max_tokens": 256, "messages": MESSAGES, "stream": stream}
    if tool:
        body["tools"] = [{"name": "save", "input_schema": SCHEMA}]
        body["tool_choice"] = {"type": "tool", "name": "save"}
    return ANTHROPIC.parse("/v1/messages", json.dumps(body).encode(), {})


def render(
    dialect: str = "openai-chat", *, stream: bool = False, tool: bool = False, usage: bool = True
) -> tuple[Envelope, ModelRequest]:
    """A clean envelope from the real dialect."""
    request = make_request(dialect, stream=stream, tool=tool, usage=usage)
    completion = Completion(
        TEXT, Finish.STOP, tool_name="save" if tool else None, input_tokens=12, output_tokens=30
    )
    return DIALECTS.get(dialect).render(completion, request, random.Random(3)), request


def apply(name: str, params: dict[str, Any] | None, envelope: Envelope, request: ModelRequest) -> Envelope:
    """Apply fault ``name`` as the Responder does, checking the input is left alone."""
    before = copy.deepcopy(envelope)
    ctx = FaultContext(request, DIALECTS.get(request.dialect), random.Random(0))
    out = FaultUse.of(name, params).apply_to(envelope, ctx)
    assert envelope == before, f"{name} mutated its input"
    assert isinstance(out, Envelope)
    return out


def chunks(envelope: Envelope) -> list[dict[str, Any]]:
    """OpenAI stream chunks as the SDK's SSE decoder reads them from the serialised bytes."""
    reply = OPENAI.serialize(envelope)
    events = SSEDecoder().iter_bytes(iter([s.data for s in reply.segments]))
    return [e.json() for e in events if e.data != "[DONE]"]


def anthropic_events(envelope: Envelope) -> list[tuple[str | None, dict[str, Any]]]:
    """Anthropic (event name, payload) pairs as the SDK's SSE decoder reads them."""
    reply = ANTHROPIC.serialize(envelope)
    decoder = anthropic._streaming.SSEDecoder()
    return [(e.event, e.json()) for e in decoder.iter_bytes(iter([s.data for s in reply.segments]))]


def serving(dialect: Any, envelope: Envelope) -> httpx2.Client:
    """An httpx2 client whose every request is answered with ``envelope``, one body piece per segment."""

    def handler(_: httpx2.Request) -> httpx2.Response:
        reply = dialect.serialize(envelope)
        return httpx2.Response(
            reply.status, headers=reply.headers, content=iter([s.data for s in reply.segments])
        )

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def openai_client(envelope: Envelope) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", max_retries=0, http_client=serving(OPENAI, envelope))


def anthropic_client(envelope: Envelope) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, http_client=serving(ANTHROPIC, envelope))


def streamed_content(chunk_list: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunk_list if c["choices"])


# --------------------------------------------------------------------------- empty_choices


def test_empty_choices_in_an_openai_body() -> None:
    envelope, request = render()
    out = apply("empty_choices", None, envelope, request)
    assert out.body["choices"] == []
    completion = openai_client(out).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(IndexError):
        _ = completion.choices[0]


def test_empty_choices_leading_azure_chunk() -> None:
    envelope, request = render(stream=True)
    out = apply("empty_choices", None, envelope, request)
    got = chunks(out)
    assert got[0] == AZURE_LEADING_CHUNK
    assert got[1:] == chunks(envelope)
    stream = openai_client(out).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(IndexError):
        _ = next(iter(stream)).choices[0]


@pytest.mark.parametrize(("mode", "extra"), [("all", 0), ("both", 1)])
def test_empty_choices_on_every_chunk(mode: str, extra: int) -> None:
    envelope, request = render(stream=True)
    got = chunks(apply("empty_choices", {"mode": mode}, envelope, request))
    assert len(got) == len(chunks(envelope)) + extra
    assert all(c["choices"] == [] for c in got)


def test_empty_content_on_anthropic() -> None:
    envelope, request = render("anthropic-messages")
    assert apply("empty_choices", None, envelope, request).body["content"] == []
    streamed, stream_request = render("anthropic-messages", stream=True)
    names = [name for name, _ in anthropic_events(apply("empty_choices", None, streamed, stream_request))]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]


# --------------------------------------------------------------------------- null_content


def test_null_content_in_an_openai_body_and_stream() -> None:
    envelope, request = render()
    out = apply("null_content", None, envelope, request)
    assert out.body["choices"][0]["message"]["content"] is None
    completion = openai_client(out).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(TypeError):
        json.loads(completion.choices[0].message.content)  # type: ignore[arg-type]
    streamed, stream_request = render(stream=True)
    deltas = [
        c["choices"][0]["delta"]
        for c in chunks(apply("null_content", None, streamed, stream_request))
        if c["choices"]
    ]
    assert all(d.get("content") is None for d in deltas)
    assert sum("content" in d for d in deltas) == len(deltas) - 1  # every delta but the finish chunk's {}


def test_missing_content_key() -> None:
    streamed, request = render(stream=True)
    got = chunks(apply("null_content", {"form": "missing"}, streamed, request))
    assert all("content" not in c["choices"][0]["delta"] for c in got if c["choices"])


def test_null_content_beside_tool_calls() -> None:
    envelope, request = render(tool=True)
    message = apply("null_content", None, envelope, request).body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["function"]["arguments"] == TEXT


def test_null_content_on_anthropic() -> None:
    envelope, request = render("anthropic-messages")
    assert apply("null_content", None, envelope, request).body["content"] is None
    missing = apply("null_content", {"form": "missing"}, envelope, request).body["content"]
    assert missing == [{"type": "text"}]
    streamed, stream_request = render("anthropic-messages", stream=True)
    out = apply("null_content", None, streamed, stream_request)
    deltas = [p["delta"] for name, p in anthropic_events(out) if name == "content_block_delta"]
    assert deltas and all(d["text"] is None for d in deltas)
    client = anthropic_client(out)
    with (
        pytest.raises(TypeError),
        client.messages.stream(model="claude-x", max_tokens=9, messages=MESSAGES) as s,
    ):
        s.get_final_message()


# --------------------------------------------------------------------------- invalid_tool_arguments


def invalid(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def test_break_json_kinds() -> None:
    assert break_json(TEXT, "truncated") == TEXT[: len(TEXT) // 2]
    assert break_json(TEXT, "single_quoted") == TEXT.replace('"', "'")
    assert (
        break_json(TEXT, "python_repr") == "{'name': 'Ada Lovelace', 'age': 36, 'active': True, 'note': None}"
    )
    assert break_json("{}", "python_repr") == "{"  # repr of {} is valid JSON: falls back to truncation
    assert all(invalid(break_json(TEXT, kind)) for kind in ("truncated", "single_quoted", "python_repr"))


@pytest.mark.parametrize("kind", ["truncated", "single_quoted", "python_repr"])
def test_invalid_arguments_in_an_openai_body(kind: BrokenKind) -> None:
    envelope, request = render(tool=True)
    out = apply("invalid_tool_arguments", {"kind": kind}, envelope, request)
    call = out.body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == break_json(TEXT, kind)
    assert out.body["choices"][0]["finish_reason"] == "tool_calls"


def test_invalid_arguments_in_an_openai_stream_keep_the_fragment_layout() -> None:
    envelope, request = render(stream=True, tool=True)
    out = apply("invalid_tool_arguments", {"kind": "python_repr"}, envelope, request)

    def fragments(env: Envelope) -> list[str]:
        return [
            call["function"]["arguments"]
            for c in chunks(env)
            if c["choices"]
            for call in c["choices"][0]["delta"].get("tool_calls") or []
            if call["function"].get("arguments")
        ]

    assert "".join(fragments(out)) == break_json(TEXT, "python_repr")
    assert len(fragments(out)) == len(fragments(envelope))


def test_anthropic_tool_input_becomes_a_string() -> None:
    envelope, request = render("anthropic-messages", tool=True)
    block = apply("invalid_tool_arguments", None, envelope, request).body["content"][0]
    assert block["type"] == "tool_use"
    assert isinstance(block["input"], str) and invalid(block["input"])
    streamed, stream_request = render("anthropic-messages", stream=True, tool=True)
    out = apply("invalid_tool_arguments", {"kind": "single_quoted"}, streamed, stream_request)
    partial = "".join(
        p["delta"]["partial_json"] for name, p in anthropic_events(out) if name == "content_block_delta"
    )
    assert invalid(partial) and "'name'" in partial


@pytest.mark.parametrize(
    ("dialect", "stream"),
    [
        ("openai-chat", False),
        ("openai-chat", True),
        ("anthropic-messages", False),
        ("anthropic-messages", True),
    ],
)
def test_invalid_arguments_without_a_tool_call_is_a_no_op(dialect: str, stream: bool) -> None:
    envelope, request = render(dialect, stream=stream)
    assert apply("invalid_tool_arguments", None, envelope, request) == envelope


# --------------------------------------------------------------------------- missing_usage


def test_missing_usage_openai() -> None:
    envelope, request = render()
    out = apply("missing_usage", None, envelope, request)
    assert "usage" not in out.body
    assert openai_client(out).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).usage is None
    streamed, stream_request = render(stream=True)
    got = chunks(apply("missing_usage", None, streamed, stream_request))
    assert len(got) == len(chunks(streamed)) - 1
    assert all("usage" not in c and c["choices"] for c in got)


def test_missing_usage_anthropic() -> None:
    envelope, request = render("anthropic-messages")
    assert "usage" not in apply("missing_usage", None, envelope, request).body
    streamed, stream_request = render("anthropic-messages", stream=True)
    out = apply("missing_usage", None, streamed, stream_request)
    payloads = dict(anthropic_events(out))
    assert "usage" not in payloads["message_start"]["message"]
    assert "usage" not in payloads["message_delta"]


def test_missing_usage_takes_no_params() -> None:
    with pytest.raises(FaultParamsError, match="unknown key"):
        FaultUse.of("missing_usage", {"all": True})


# --------------------------------------------------------------------------- token_tax


def test_token_tax_openai_body() -> None:
    envelope, request = render()
    usage = apply("token_tax", None, envelope, request).body["usage"]
    assert usage["completion_tokens"] == 30 + 20_000
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 20_000
    assert usage["total_tokens"] == 12 + 30 + 20_000
    client = openai_client(apply("token_tax", {"reasoning_tokens": 0, "multiplier": 3}, envelope, request))
    parsed = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).usage
    assert parsed is not None and parsed.completion_tokens == 90


def test_token_tax_openai_stream_usage_chunk() -> None:
    streamed, request = render(stream=True)
    usage = chunks(apply("token_tax", {"reasoning_tokens": 500}, streamed, request))[-1]["usage"]
    assert (usage["completion_tokens"], usage["total_tokens"]) == (530, 542)
    no_usage, plain_request = render(stream=True, usage=False)
    assert apply("token_tax", None, no_usage, plain_request) == no_usage


def test_token_tax_anthropic() -> None:
    envelope, request = render("anthropic-messages")
    assert apply("token_tax", {"multiplier": 2}, envelope, request).body["usage"]["output_tokens"] == 20_060
    streamed, stream_request = render("anthropic-messages", stream=True)
    out = apply("token_tax", None, streamed, stream_request)
    payloads = dict(anthropic_events(out))
    assert payloads["message_delta"]["usage"]["output_tokens"] == 20_030
    assert payloads["message_start"]["message"]["usage"]["output_tokens"] == 1
    client = anthropic_client(out)
    with client.messages.stream(model="claude-x", max_tokens=9, messages=MESSAGES) as stream:
        assert stream.get_final_message().usage.output_tokens == 20_030


def test_token_tax_that_taxes_nothing_is_refused() -> None:
    with pytest.raises(FaultParamsError, match="nothing to inflate"):
        FaultUse.of("token_tax", {"reasoning_tokens": 0})


# --------------------------------------------------------------------------- error_in_200


def test_error_in_200_openai_body() -> None:
    envelope, request = render()
    out = apply("error_in_200", {"message": "boom"}, envelope, request)
    assert out.status == 200
    assert out.body["error"]["message"] == "boom" and out.body["error"]["type"] == "server_error"
    assert "choices" not in out.body
    assert out.headers["content-type"] == "application/json"


def test_error_in_200_anthropic_body_defaults_to_overloaded() -> None:
    envelope, request = render("anthropic-messages")
    body = apply("error_in_200", None, envelope, request).body
    assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"


def test_error_in_200_openai_stream_raises_after_the_first_events() -> None:
    streamed, request = render(stream=True)
    out = apply("error_in_200", {"after_events": 2, "message": "stream broke"}, streamed, request)
    assert out.events is not None and len(out.events) == 3
    assert out.events[-1].data["error"]["message"] == "stream broke"
    stream = openai_client(out).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    received: list[Any] = []
    with pytest.raises(openai.APIError, match="stream broke"):
        received.extend(stream)
    assert len(received) == 2


def test_error_in_200_anthropic_stream() -> None:
    streamed, request = render("anthropic-messages", stream=True)
    out = apply("error_in_200", {"after_events": 100}, streamed, request)
    names = [name for name, _ in anthropic_events(out)]
    assert names[-1] == "error" and "message_stop" not in names
    client = anthropic_client(out)
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error") as caught,
        client.messages.stream(model="claude-x", max_tokens=9, messages=MESSAGES) as stream,
    ):
        stream.get_final_message()
    assert caught.value.status_code == 200


# --------------------------------------------------------------------------- wrong_content_type


@pytest.mark.parametrize("stream", [False, True])
def test_wrong_content_type_survives_serialisation(stream: bool) -> None:
    envelope, request = render(stream=stream)
    out = apply("wrong_content_type", None, envelope, request)
    reply = OPENAI.serialize(out)
    assert reply.header("content-type") == "text/html; charset=utf-8"
    assert [k for k, _ in reply.headers].count("content-type") == 1
    assert reply.body == OPENAI.serialize(envelope).body
    custom = apply("wrong_content_type", {"content_type": "text/plain"}, envelope, request)
    assert custom.headers["content-type"] == "text/plain"


# --------------------------------------------------------------------------- content_filter


def test_content_filter_openai_body_cut_at_fraction() -> None:
    envelope, request = render()
    out = apply("content_filter", {"fraction": 0.5}, envelope, request)
    choice = out.body["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] == TEXT[: len(TEXT) // 2]
    whole = apply("content_filter", None, envelope, request)
    assert whole.body["choices"][0]["message"]["content"] == TEXT


def test_content_filter_openai_stream() -> None:
    streamed, request = render(stream=True)
    got = chunks(apply("content_filter", {"fraction": 0.4}, streamed, request))
    assert streamed_content(got) == TEXT[: int(len(TEXT) * 0.4)]
    finishes = [c["choices"][0]["finish_reason"] for c in got if c["choices"]]
    assert finishes[-1] == "content_filter" and finishes.count("content_filter") == 1
    assert len(got) < len(chunks(streamed))


def test_content_filter_anthropic_is_a_refusal() -> None:
    envelope, request = render("anthropic-messages")
    body = apply("content_filter", {"fraction": 0.25}, envelope, request).body
    assert body["stop_reason"] == "refusal"
    assert body["content"][0]["text"] == TEXT[: len(TEXT) // 4]
    streamed, stream_request = render("anthropic-messages", stream=True)
    out = apply("content_filter", {"fraction": 0.5}, streamed, stream_request)
    client = anthropic_client(out)
    with client.messages.stream(model="claude-x", max_tokens=9, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal"
    assert final.content[0].text == TEXT[: len(TEXT) // 2]  # type: ignore[union-attr]


# --------------------------------------------------------------------------- every fault


ALL = [
    "empty_choices",
    "null_content",
    "invalid_tool_arguments",
    "missing_usage",
    "token_tax",
    "error_in_200",
    "wrong_content_type",
    "content_filter",
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dialect", ["openai-chat", "anthropic-messages"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_fault_changes_the_reply_deterministically(name: str, dialect: str, stream: bool) -> None:
    envelope, request = render(dialect, stream=stream, tool=name == "invalid_tool_arguments")
    first = DIALECTS.get(dialect).serialize(apply(name, None, envelope, request))
    again = DIALECTS.get(dialect).serialize(apply(name, None, envelope, request))
    assert first == again
    assert first != DIALECTS.get(dialect).serialize(envelope)


@pytest.mark.parametrize("name", [n for n in ALL if n != "wrong_content_type"])
def test_unknown_dialect_is_a_usage_error(name: str) -> None:
    envelope, request = render()
    request.dialect = "gemini-generate"
    ctx = FaultContext(request, OPENAI, random.Random(0))
    with pytest.raises(UsageError, match=f"fault '{name}' does not support dialect 'gemini-generate'"):
        FaultUse.of(name).apply_to(envelope, ctx)


def test_a_stream_of_only_done_does_not_break_any_fault() -> None:
    done = Envelope(events=[SseEvent("[DONE]")])
    request = make_request("openai-chat", stream=True)
    for name in ALL:
        out = apply(name, None, done, request)
        assert out.events is not None and len(out.events) >= 1


def test_every_built_in_dialect_supports_every_envelope_fault() -> None:
    assert all(supports(name, dialect) for name in ALL for dialect in DIALECTS.items.values())


def test_a_dialect_without_the_hook_is_refused_when_serving() -> None:
    class BareChat(OpenAIChat):
        """openai-chat without the ``tax_usage`` hook."""

        name = "bare-chat"
        tax_usage = Dialect.tax_usage

    bare = BareChat()
    assert not supports("token_tax", bare) and supports("missing_usage", bare)
    envelope, request = render()
    request.dialect = "bare-chat"
    with pytest.raises(
        UsageError, match="fault 'token_tax' does not support dialect 'bare-chat'; supported: "
    ):
        FaultUse.of("token_tax").apply_to(envelope, FaultContext(request, bare, random.Random(0)))
    assert FaultUse.of("missing_usage").apply_to(envelope, FaultContext(request, bare, random.Random(0)))
