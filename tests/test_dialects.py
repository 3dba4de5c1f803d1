"""The two dialects against the installed SDKs: their pydantic types, and the real clients end to end."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import anthropic
import httpx2
import openai
import pydantic
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from harness.dialects import DIALECTS, Dialect, dialect_for_path
from harness.dialects.base import MAX_CHUNKS, split_text
from harness.wire import Completion, Envelope, Finish, ModelRequest, SseEvent

OPENAI = DIALECTS.get("openai-chat")
ANTHROPIC = DIALECTS.get("anthropic-messages")
STREAM_EVENT: pydantic.TypeAdapter[RawMessageStreamEvent] = pydantic.TypeAdapter(RawMessageStreamEvent)
USER_JSON = '{"name": "Ada Lovelace", "age": 36}'


class User(pydantic.BaseModel):
    """The structured output the SDK tests ask for."""

    name: str
    age: int


def completion(text: str | None = USER_JSON, **fields: Any) -> Completion:
    """A hand-made completion with plausible token counts."""
    return Completion(text, input_tokens=fields.pop("input_tokens", 12), output_tokens=9, **fields)


def openai_request(**body: Any) -> ModelRequest:
    """Parse an OpenAI request body made of sensible defaults plus ``body``."""
    full = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Sign up Ada"}], **body}
    return OPENAI.parse("/v1/chat/completions", json.dumps(full).encode(), {})


def anthropic_request(**body: Any) -> ModelRequest:
    """Parse an Anthropic request body made of sensible defaults plus ``body``."""
    full = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Sign up Ada"}],
        **body,
    }
    return ANTHROPIC.parse("/v1/messages", json.dumps(full).encode(), {})


class FakeProvider:
    """An httpx2 transport handler that answers with a dialect; records the parsed requests."""

    def __init__(self, dialect: Dialect, reply: Completion | None = None, *, seed: int = 0) -> None:
        self.dialect = dialect
        self.reply = reply or completion()
        self.seed = seed
        self.error: tuple[int, str | None] | None = None
        self.requests: list[ModelRequest] = []

    def __call__(self, http_request: httpx2.Request) -> httpx2.Response:
        request = self.dialect.parse(http_request.url.path, http_request.content, http_request.headers)
        self.requests.append(request)
        rng = random.Random(self.seed)
        if self.error is not None:
            envelope = self.dialect.render_error(self.error[0], "", None, self.error[1], rng)
        else:
            envelope = self.dialect.render(self.reply, request, rng)
        wire = self.dialect.serialize(envelope)
        # One body piece per segment, as the deliveries send them.
        content = iter([segment.data for segment in wire.segments])
        return httpx2.Response(wire.status, headers=wire.headers, content=content)

    def openai(self) -> openai.OpenAI:
        """A real OpenAI client talking to this provider."""
        http_client = httpx2.Client(transport=httpx2.MockTransport(self))
        return openai.OpenAI(api_key="sk-test", max_retries=0, http_client=http_client)

    def anthropic(self) -> anthropic.Anthropic:
        """A real Anthropic client talking to this provider."""
        http_client = httpx2.Client(transport=httpx2.MockTransport(self))
        return anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, http_client=http_client)


MESSAGES: Any = [{"role": "user", "content": "Sign up Ada Lovelace, 36"}]


# --- registry ---------------------------------------------------------------------------------


def test_both_dialects_are_registered_by_importing_the_package() -> None:
    assert {"openai-chat", "anthropic-messages"} <= set(DIALECTS)
    assert OPENAI.default_host == "api.openai.com"
    assert ANTHROPIC.default_host == "api.anthropic.com"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/chat/completions", "openai-chat"),
        ("/chat/completions", "openai-chat"),
        ("/openai/v1/chat/completions", "openai-chat"),
        ("/v1/messages", "anthropic-messages"),
    ],
)
def test_dialect_for_path(path: str, name: str) -> None:
    found = dialect_for_path(path)
    assert found is not None
    assert found.name == name


def test_dialect_for_unknown_path_is_none() -> None:
    assert dialect_for_path("/v1/embeddings") is None


# --- parse ------------------------------------------------------------------------------------


def test_openai_parse_reads_every_field_that_matters() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    body = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "Extract users."},
            {"role": "user", "content": [{"type": "text", "text": "Ada"}, {"type": "image_url"}]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "u", "strict": True, "schema": schema},
        },
        "max_tokens": 50,
        "max_completion_tokens": 100,
    }
    request = OPENAI.parse("/v1/chat/completions", json.dumps(body).encode(), {"X-Trace": "1"})
    assert (request.dialect, request.model, request.stream, request.include_usage) == (
        "openai-chat",
        "gpt-4.1",
        True,
        True,
    )
    assert request.response_schema == schema
    assert request.forced_tool is None
    assert request.max_tokens == 100
    assert request.prompt_text == "Extract users.\nAda"
    assert request.headers == {"x-trace": "1"}
    assert request.body == body


def test_openai_parse_defaults() -> None:
    request = openai_request(max_tokens=7, response_format={"type": "json_object"})
    assert (request.stream, request.include_usage, request.response_schema, request.max_tokens) == (
        False,
        False,
        None,
        7,
    )


@pytest.mark.parametrize("tool_choice", [{"type": "function", "function": {"name": "save_user"}}, "required"])
def test_openai_parse_forced_tool_takes_its_parameters_as_schema(tool_choice: Any) -> None:
    params = {"type": "object", "properties": {"age": {"type": "integer"}}}
    tools = [{"type": "function", "function": {"name": "save_user", "parameters": params}}]
    request = openai_request(tools=tools, tool_choice=tool_choice, response_format={"type": "json_object"})
    assert request.forced_tool == "save_user"
    assert request.response_schema == params


def test_openai_parse_auto_tool_choice_forces_nothing() -> None:
    tools = [{"type": "function", "function": {"name": "save_user", "parameters": {}}}]
    assert openai_request(tools=tools, tool_choice="auto").forced_tool is None


def test_anthropic_parse_reads_every_field_that_matters() -> None:
    input_schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    body = {
        "model": "claude-haiku-5-5",
        "max_tokens": 300,
        "stream": True,
        "system": [{"type": "text", "text": "Extract users."}],
        "messages": [
            {"role": "user", "content": "Ada"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "x", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
        ],
        "tools": [{"name": "save_user", "input_schema": input_schema}],
        "tool_choice": {"type": "tool", "name": "save_user"},
    }
    request = ANTHROPIC.parse("/v1/messages", json.dumps(body).encode(), {"Anthropic-Version": "2023-06-01"})
    assert (request.dialect, request.model, request.stream, request.max_tokens) == (
        "anthropic-messages",
        "claude-haiku-5-5",
        True,
        300,
    )
    assert (request.forced_tool, request.response_schema) == ("save_user", input_schema)
    assert request.prompt_text == "Extract users.\nAda\nok"
    assert request.headers == {"anthropic-version": "2023-06-01"}


def test_anthropic_parse_structured_output_schema() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    request = anthropic_request(output_config={"format": {"type": "json_schema", "schema": schema}})
    assert request.response_schema == schema
    assert request.forced_tool is None


def test_anthropic_parse_any_tool_choice_with_one_tool_forces_it() -> None:
    tools = [{"name": "save_user", "input_schema": {"type": "object"}}]
    assert anthropic_request(tools=tools, tool_choice={"type": "any"}).forced_tool == "save_user"
    assert anthropic_request(tools=tools, tool_choice={"type": "auto"}).forced_tool is None


@pytest.mark.parametrize(
    ("dialect", "body", "reason"),
    [
        (OPENAI, b"<html>", "not JSON"),
        (OPENAI, b"\xff\xfe", "not JSON"),
        (OPENAI, b"[1, 2]", "not a JSON object"),
        (OPENAI, b'{"messages": []}', "'model'"),
        (OPENAI, b'{"model": "m"}', "'messages'"),
        (OPENAI, b'{"model": "m", "messages": "hi"}', "'messages' must be a list"),
        (OPENAI, b'{"model": 3, "messages": []}', "'model' must be a string"),
        (OPENAI, b'{"model": "m", "messages": [], "max_tokens": "9"}', "'max_tokens' must be an integer"),
        (ANTHROPIC, b"", "not JSON"),
        (ANTHROPIC, b'{"model": "m", "messages": []}', "'max_tokens'"),
        (ANTHROPIC, b'{"model": "m", "messages": [], "max_tokens": true}', "'max_tokens' must be an integer"),
        (ANTHROPIC, b'{"model": "m", "messages": [1], "max_tokens": 5}', "must be an object"),
    ],
)
def test_parse_refuses_what_the_provider_would_refuse(dialect: Dialect, body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        dialect.parse(dialect.paths[0], body, {})


# --- OpenAI rendering -------------------------------------------------------------------------


def test_openai_body_matches_the_reference_layout_and_sdk_type() -> None:
    body = OPENAI.render(completion(reasoning_tokens=4), openai_request(), random.Random(3)).body
    ChatCompletion.model_validate(body)
    assert list(body) == ["id", "object", "created", "model", "system_fingerprint", "choices", "usage"]
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{24}", body["id"])
    assert re.fullmatch(r"fp_[0-9a-f]{10}", body["system_fingerprint"])
    assert 1_700_000_000 < body["created"] < 1_800_000_000
    assert body["choices"] == [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": USER_JSON, "refusal": None},
        }
    ]
    assert body["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 9,
        "total_tokens": 21,
        "completion_tokens_details": {"reasoning_tokens": 4},
    }


@pytest.mark.parametrize(
    ("reply", "finish_reason", "content", "refusal"),
    [
        (completion(finish=Finish.LENGTH), "length", USER_JSON, None),
        (completion(finish=Finish.CONTENT_FILTER), "content_filter", USER_JSON, None),
        (completion(None), "stop", None, None),
        (completion(""), "stop", "", None),
        (completion(None, finish=Finish.REFUSAL, refusal="No."), "stop", None, "No."),
        (
            completion(None, finish=Finish.REFUSAL),
            "stop",
            None,
            "I'm sorry, but I can't help with that request.",
        ),
    ],
)
def test_openai_finish_mapping(
    reply: Completion, finish_reason: str, content: str | None, refusal: str | None
) -> None:
    body = OPENAI.render(reply, openai_request(), random.Random(0)).body
    ChatCompletion.model_validate(body)
    choice = body["choices"][0]
    assert (choice["finish_reason"], choice["message"]["content"], choice["message"]["refusal"]) == (
        finish_reason,
        content,
        refusal,
    )


def test_openai_tool_call_body() -> None:
    body = OPENAI.render(completion(tool_name="save_user"), openai_request(), random.Random(0)).body
    ChatCompletion.model_validate(body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert re.fullmatch(r"call_[A-Za-z0-9]{24}", call["id"])
    assert call["type"] == "function"
    assert call["function"] == {"name": "save_user", "arguments": USER_JSON}


def test_openai_success_headers() -> None:
    headers = OPENAI.render(completion(), openai_request(), random.Random(0)).headers
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"req_[0-9a-f]{32}", headers["x-request-id"])
    assert int(headers["openai-processing-ms"]) > 0
    limit = int(headers["x-ratelimit-limit-requests"])
    assert 0 <= int(headers["x-ratelimit-remaining-requests"]) < limit
    assert re.fullmatch(r"\d+ms", headers["x-ratelimit-reset-requests"])


def data_events(envelope: Envelope) -> list[Any]:
    """The decoded data of every event but ``[DONE]``."""
    assert envelope.events is not None
    return [e.data for e in envelope.events if e.data != "[DONE]"]


def test_openai_stream_chunks() -> None:
    request = openai_request(stream=True, stream_options={"include_usage": True})
    envelope = OPENAI.render(completion(), request, random.Random(0))
    assert envelope.events is not None
    assert envelope.headers["content-type"].startswith("text/event-stream")
    assert all(e.event is None for e in envelope.events)
    assert envelope.events[-1].data == "[DONE]"
    assert OPENAI.is_stream_terminator(envelope.events[-1])
    chunks = data_events(envelope)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == USER_JSON
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 21
    assert all(c["usage"] is None for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1


def test_openai_stream_without_include_usage_has_no_usage() -> None:
    chunks = data_events(OPENAI.render(completion(), openai_request(stream=True), random.Random(0)))
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_openai_stream_tool_call_deltas() -> None:
    envelope = OPENAI.render(completion(tool_name="save_user"), openai_request(stream=True), random.Random(0))
    chunks = data_events(envelope)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    [first_call] = chunks[0]["choices"][0]["delta"]["tool_calls"]
    assert first_call["function"] == {"name": "save_user", "arguments": ""}
    assert first_call["index"] == 0
    assert first_call["type"] == "function"
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-1]]
    assert all(set(f) == {"index", "function"} for f in fragments)
    assert "".join(f["function"]["arguments"] for f in fragments) == USER_JSON
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_stream_refusal_deltas() -> None:
    reply = completion(None, finish=Finish.REFUSAL, refusal="I can't help with that, sorry.")
    chunks = data_events(OPENAI.render(reply, openai_request(stream=True), random.Random(0)))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None, "refusal": ""}
    assert "".join(c["choices"][0]["delta"].get("refusal", "") for c in chunks) == reply.refusal


def test_openai_stream_error_event() -> None:
    event = OPENAI.stream_error_event("boom", None)
    assert event.event is None
    assert event.data == {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    assert not OPENAI.is_stream_terminator(event)


@pytest.mark.parametrize(
    ("status", "code", "error_type", "error_code"),
    [
        (400, None, "invalid_request_error", None),
        (401, None, "invalid_request_error", "invalid_api_key"),
        (404, None, "invalid_request_error", "model_not_found"),
        (429, None, "requests", "rate_limit_exceeded"),
        (429, "insufficient_quota", "insufficient_quota", "insufficient_quota"),
        (500, None, "server_error", None),
        (503, None, "server_error", None),
        (507, None, "server_error", None),
        (418, None, "invalid_request_error", None),
    ],
)
def test_openai_error_envelope(
    status: int, code: str | None, error_type: str, error_code: str | None
) -> None:
    envelope = OPENAI.render_error(status, "", None, code, random.Random(0))
    assert envelope.status == status
    assert list(envelope.body["error"]) == ["message", "type", "param", "code"]
    assert envelope.body["error"]["message"]
    assert (
        envelope.body["error"]["type"],
        envelope.body["error"]["param"],
        envelope.body["error"]["code"],
    ) == (
        error_type,
        None,
        error_code,
    )
    assert envelope.headers["content-type"] == "application/json"
    assert re.fullmatch(r"req_[0-9a-f]{32}", envelope.headers["x-request-id"])


def test_openai_error_envelope_keeps_given_fields() -> None:
    body = OPENAI.render_error(429, "slow down", "tokens", "custom", random.Random(0)).body
    assert body == {"error": {"message": "slow down", "type": "tokens", "param": None, "code": "custom"}}


# --- Anthropic rendering ----------------------------------------------------------------------


def test_anthropic_body_matches_the_reference_layout_and_sdk_type() -> None:
    body = ANTHROPIC.render(completion(), anthropic_request(), random.Random(3)).body
    Message.model_validate(body)
    assert list(body) == ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"]
    assert re.fullmatch(r"msg_01[A-Za-z0-9]{22}", body["id"])
    assert body["model"] == "claude-sonnet-5-5"
    assert body["content"] == [{"type": "text", "text": USER_JSON}]
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    assert body["usage"] == {"input_tokens": 12, "output_tokens": 9}


@pytest.mark.parametrize(
    ("reply", "stop_reason", "content"),
    [
        (completion(finish=Finish.LENGTH), "max_tokens", [{"type": "text", "text": USER_JSON}]),
        (completion(finish=Finish.CONTENT_FILTER), "refusal", [{"type": "text", "text": USER_JSON}]),
        (
            completion(None, finish=Finish.REFUSAL, refusal="No."),
            "refusal",
            [{"type": "text", "text": "No."}],
        ),
        (completion(None), "end_turn", []),
        (completion(""), "end_turn", [{"type": "text", "text": ""}]),
    ],
)
def test_anthropic_stop_reason_mapping(reply: Completion, stop_reason: str, content: list[Any]) -> None:
    body = ANTHROPIC.render(reply, anthropic_request(), random.Random(0)).body
    Message.model_validate(body)
    assert (body["stop_reason"], body["content"]) == (stop_reason, content)


def test_anthropic_tool_use_body() -> None:
    body = ANTHROPIC.render(completion(tool_name="save_user"), anthropic_request(), random.Random(0)).body
    Message.model_validate(body)
    [block] = body["content"]
    assert re.fullmatch(r"toolu_01[A-Za-z0-9]{22}", block["id"])
    assert block == {
        "type": "tool_use",
        "id": block["id"],
        "name": "save_user",
        "input": json.loads(USER_JSON),
    }
    assert body["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("text", "finish", "stop_reason"),
    [
        ("Sure! Here is the JSON: " + USER_JSON, Finish.STOP, "end_turn"),
        ('{"name": "Ada', Finish.LENGTH, "max_tokens"),
        ("[1, 2]", Finish.STOP, "end_turn"),
    ],
)
def test_anthropic_broken_tool_arguments_become_a_text_block(
    text: str, finish: Finish, stop_reason: str
) -> None:
    reply = completion(text, tool_name="save_user", finish=finish)
    body = ANTHROPIC.render(reply, anthropic_request(), random.Random(0)).body
    Message.model_validate(body)
    assert (body["content"], body["stop_reason"]) == ([{"type": "text", "text": text}], stop_reason)
    assert ANTHROPIC.reply_text(body) == text


def test_anthropic_success_headers() -> None:
    headers = ANTHROPIC.render(completion(), anthropic_request(), random.Random(0)).headers
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"req_011C[A-Za-z0-9]{20}", headers["request-id"])
    for kind in ("requests", "input-tokens", "output-tokens", "tokens"):
        limit = int(headers[f"anthropic-ratelimit-{kind}-limit"])
        assert 0 <= int(headers[f"anthropic-ratelimit-{kind}-remaining"]) < limit
        assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers[f"anthropic-ratelimit-{kind}-reset"])


def anthropic_events(reply: Completion) -> list[SseEvent]:
    """The stream events for ``reply``, each validated by the SDK's own event type."""
    envelope = ANTHROPIC.render(reply, anthropic_request(stream=True), random.Random(0))
    assert envelope.events is not None
    assert envelope.headers["content-type"].startswith("text/event-stream")
    for event in envelope.events:
        assert event.event == event.data["type"]
        if event.event != "ping":
            STREAM_EVENT.validate_python(event.data)
    return envelope.events


def test_anthropic_stream_events() -> None:
    events = anthropic_events(completion())
    names = [e.event for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert events[0].data["message"]["content"] == []
    assert events[0].data["message"]["usage"] == {"input_tokens": 12, "output_tokens": 1}
    assert events[1].data["content_block"] == {"type": "text", "text": ""}
    assert "".join(e.data["delta"]["text"] for e in events[3:-3]) == USER_JSON
    assert events[-2].data == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 9},
    }
    assert ANTHROPIC.is_stream_terminator(events[-1])
    assert not any(ANTHROPIC.is_stream_terminator(e) for e in events[:-1])


def test_anthropic_stream_tool_use_events() -> None:
    events = anthropic_events(completion(tool_name="save_user"))
    block = events[1].data["content_block"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "save_user", {})
    deltas = [e.data["delta"] for e in events if e.event == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert "".join(d["partial_json"] for d in deltas) == USER_JSON
    assert events[-2].data["delta"]["stop_reason"] == "tool_use"


def test_anthropic_stream_without_content_still_pings() -> None:
    names = [e.event for e in anthropic_events(completion(None))]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]


def test_anthropic_stream_error_event() -> None:
    event = ANTHROPIC.stream_error_event("", None)
    assert event.event == "error"
    assert event.data == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert ANTHROPIC.stream_error_event("slow", "rate_limit_error").data["error"] == {
        "type": "rate_limit_error",
        "message": "slow",
    }


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (422, "invalid_request_error"),
    ],
)
def test_anthropic_error_envelope(status: int, error_type: str) -> None:
    envelope = ANTHROPIC.render_error(status, "", None, "ignored", random.Random(0))
    assert envelope.status == status
    body = envelope.body
    assert list(body) == ["type", "error", "request_id"]
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert body["error"]["message"]
    assert re.fullmatch(r"req_011C[A-Za-z0-9]{20}", body["request_id"])
    assert envelope.headers == {"content-type": "application/json", "request-id": body["request_id"]}


# --- reply_text -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC], ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (completion(), USER_JSON),
        (completion(tool_name="save_user"), USER_JSON),
        (completion(None), None),
        (completion(""), ""),
    ],
)
def test_reply_text_reads_back_what_was_rendered(
    dialect: Dialect, reply: Completion, expected: str | None
) -> None:
    request = openai_request() if dialect is OPENAI else anthropic_request()
    assert dialect.reply_text(dialect.render(reply, request, random.Random(0)).body) == expected


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC], ids=lambda d: d.name)
@pytest.mark.parametrize(
    "body",
    [
        None,
        "text",
        {},
        {"choices": []},
        {"choices": [{}]},
        {"choices": [{"message": None}]},
        {"content": "x"},
    ],
)
def test_reply_text_of_a_mangled_body_is_none(dialect: Dialect, body: Any) -> None:
    assert dialect.reply_text(body) is None


# --- chunking and size ------------------------------------------------------------------------


def test_split_text_uses_small_pieces_for_normal_replies() -> None:
    pieces = split_text("x" * 500, random.Random(0))
    assert "".join(pieces) == "x" * 500
    assert all(8 <= len(p) <= 16 for p in pieces[:-1])


@given(st.text(), st.integers(min_value=0, max_value=2**32))
def test_split_text_is_lossless_and_bounded(text: str, seed: int) -> None:
    pieces = split_text(text, random.Random(seed))
    assert "".join(pieces) == text
    assert all(pieces)
    assert len(pieces) <= MAX_CHUNKS


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC], ids=lambda d: d.name)
def test_huge_reply_streams_in_a_bounded_number_of_events(dialect: Dialect) -> None:
    text = "é🙂" * (8 * 1024 * 1024 // 2)  # 8 Mi characters, 24 MiB of UTF-8
    request = openai_request(stream=True) if dialect is OPENAI else anthropic_request(stream=True)
    envelope = dialect.render(completion(text), request, random.Random(0))
    assert envelope.events is not None
    assert len(envelope.events) <= MAX_CHUNKS + 8


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC], ids=lambda d: d.name)
def test_every_frame_is_valid_utf8_on_its_own(dialect: Dialect) -> None:
    request = openai_request(stream=True) if dialect is OPENAI else anthropic_request(stream=True)
    wire = dialect.serialize(dialect.render(completion("naïve 🙂 café " * 20), request, random.Random(0)))
    for segment in wire.segments:
        segment.data.decode("utf-8")
        assert segment.data.endswith(b"\n\n")


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC], ids=lambda d: d.name)
@pytest.mark.parametrize("stream", [False, True])
def test_same_seed_same_bytes_other_seed_other_ids(dialect: Dialect, stream: bool) -> None:
    request = openai_request(stream=stream) if dialect is OPENAI else anthropic_request(stream=stream)

    def served(seed: int) -> tuple[bytes, list[tuple[str, str]]]:
        wire = dialect.serialize(
            dialect.render(completion(tool_name="save_user"), request, random.Random(seed))
        )
        return wire.body, wire.headers

    assert served(7) == served(7)
    assert served(7)[0] != served(8)[0]
    assert served(7)[1] != served(8)[1]
    errors = [
        dialect.serialize(dialect.render_error(429, "", None, None, random.Random(s))) for s in (7, 7, 8)
    ]
    assert (errors[0].body, errors[0].headers) == (errors[1].body, errors[1].headers)
    assert errors[0].headers != errors[2].headers


# --- the real openai SDK ----------------------------------------------------------------------


def test_openai_sdk_create() -> None:
    provider = FakeProvider(OPENAI)
    reply = provider.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == USER_JSON
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0
    assert provider.requests[0].prompt_text == "Sign up Ada Lovelace, 36"


def test_openai_sdk_stream_with_usage() -> None:
    provider = FakeProvider(OPENAI)
    stream = provider.openai().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert provider.requests[0].include_usage
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == USER_JSON
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 21


def test_openai_sdk_parse_structured_output() -> None:
    provider = FakeProvider(OPENAI)
    reply = provider.openai().chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=User)
    assert reply.choices[0].message.parsed == User(name="Ada Lovelace", age=36)
    schema = provider.requests[0].response_schema
    assert schema is not None
    assert set(schema["properties"]) == {"name", "age"}


def test_openai_sdk_parse_refusal() -> None:
    provider = FakeProvider(
        OPENAI, completion(None, finish=Finish.REFUSAL, refusal="I can't help with that.")
    )
    message = provider.openai().chat.completions.parse(
        model="gpt-4o", messages=MESSAGES, response_format=User
    )
    assert message.choices[0].message.parsed is None
    assert message.choices[0].message.refusal == "I can't help with that."


def test_openai_sdk_parse_length_raises() -> None:
    provider = FakeProvider(OPENAI, completion('{"name": "Ada', finish=Finish.LENGTH))
    with pytest.raises(openai.LengthFinishReasonError):
        provider.openai().chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=User)


def test_openai_sdk_parse_forced_tool_call() -> None:
    provider = FakeProvider(OPENAI, completion(tool_name="User"))
    reply = provider.openai().chat.completions.parse(
        model="gpt-4o",
        messages=MESSAGES,
        tools=[openai.pydantic_function_tool(User)],
        tool_choice={"type": "function", "function": {"name": "User"}},
    )
    assert provider.requests[0].forced_tool == "User"
    assert provider.requests[0].response_schema is not None
    [call] = reply.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == User(name="Ada Lovelace", age=36)
    assert reply.choices[0].finish_reason == "tool_calls"


def test_openai_sdk_stream_helper_assembles_tool_call() -> None:
    provider = FakeProvider(OPENAI, completion(tool_name="User"))
    with provider.openai().chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, tools=[openai.pydantic_function_tool(User)], tool_choice="required"
    ) as stream:
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert call.function.arguments == USER_JSON
    assert call.function.parsed_arguments == User(name="Ada Lovelace", age=36)


def test_openai_sdk_rate_limit_error() -> None:
    provider = FakeProvider(OPENAI)
    provider.error = (429, None)
    with pytest.raises(openai.RateLimitError) as caught:
        provider.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")


def serving(dialect: Dialect, envelope: Envelope) -> httpx2.Client:
    """An httpx2 client whose every request is answered with ``envelope``, already rendered."""
    wire = dialect.serialize(envelope)

    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(wire.status, headers=wire.headers, content=wire.body)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def test_openai_sdk_raises_on_error_inside_the_stream() -> None:
    envelope = OPENAI.render(completion(), openai_request(stream=True), random.Random(0))
    assert envelope.events is not None
    envelope.events[2:] = [OPENAI.stream_error_event("The server had an error", None)]
    client = openai.OpenAI(api_key="k", max_retries=0, http_client=serving(OPENAI, envelope))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="The server had an error"):
        list(stream)


# --- the real anthropic SDK -------------------------------------------------------------------


def test_anthropic_sdk_create() -> None:
    provider = FakeProvider(ANTHROPIC)
    message = provider.anthropic().messages.create(
        model="claude-sonnet-5-5", max_tokens=100, messages=MESSAGES
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == USER_JSON
    assert (message.stop_reason, message.usage.output_tokens) == ("end_turn", 9)
    assert provider.requests[0].max_tokens == 100


def test_anthropic_sdk_stream() -> None:
    provider = FakeProvider(ANTHROPIC)
    with provider.anthropic().messages.stream(
        model="claude-sonnet-5-5", max_tokens=100, messages=MESSAGES
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == USER_JSON
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 9)
    assert provider.requests[0].stream


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_forced_tool_use(stream: bool) -> None:
    provider = FakeProvider(ANTHROPIC, completion(tool_name="save_user"))
    client = provider.anthropic()
    options: Any = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 100,
        "messages": MESSAGES,
        "tools": [{"name": "save_user", "input_schema": User.model_json_schema()}],
        "tool_choice": {"type": "tool", "name": "save_user"},
    }
    if stream:
        with client.messages.stream(**options) as events:
            message: Any = events.get_final_message()
    else:
        message = client.messages.create(**options)
    assert provider.requests[0].forced_tool == "save_user"
    assert provider.requests[0].response_schema == User.model_json_schema()
    [block] = message.content
    assert block.type == "tool_use"
    assert User.model_validate(block.input) == User(name="Ada Lovelace", age=36)
    assert message.stop_reason == "tool_use"


def test_anthropic_sdk_structured_output() -> None:
    provider = FakeProvider(ANTHROPIC)
    message = provider.anthropic().messages.parse(
        model="claude-sonnet-5-5", max_tokens=100, messages=MESSAGES, output_format=User
    )
    assert message.parsed_output == User(name="Ada Lovelace", age=36)
    assert provider.requests[0].response_schema is not None


def test_anthropic_sdk_overloaded_error() -> None:
    provider = FakeProvider(ANTHROPIC)
    provider.error = (529, None)
    with pytest.raises(anthropic.OverloadedError) as caught:
        provider.anthropic().messages.create(model="claude-sonnet-5-5", max_tokens=100, messages=MESSAGES)
    assert caught.value.status_code == 529
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_011C")
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": caught.value.request_id,
    }


def test_anthropic_sdk_rate_limit_error() -> None:
    provider = FakeProvider(ANTHROPIC)
    provider.error = (429, None)
    with pytest.raises(anthropic.RateLimitError):
        provider.anthropic().messages.create(model="claude-sonnet-5-5", max_tokens=100, messages=MESSAGES)


def test_anthropic_sdk_raises_on_error_inside_the_stream() -> None:
    envelope = ANTHROPIC.render(completion(), anthropic_request(stream=True), random.Random(0))
    assert envelope.events is not None
    envelope.events[4:] = [ANTHROPIC.stream_error_event("Overloaded", None)]
    client = anthropic.Anthropic(api_key="k", max_retries=0, http_client=serving(ANTHROPIC, envelope))
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error") as caught,
        client.messages.stream(model="claude-sonnet-5-5", max_tokens=100, messages=MESSAGES) as stream,
    ):
        stream.get_final_message()
    assert caught.value.status_code == 200
