"""The ``openai-responses`` dialect against openai 3.57: its pydantic types, and the real client end to end.

Bodies are checked with ``Response.model_validate`` and every stream event with a
``TypeAdapter(ResponseStreamEvent)``; the end-to-end tests go through the real interceptor
with a default ``OpenAI()`` client. Where the SDK's behaviour under a fault is surprising
(the ``.stream()`` helper raising ``RuntimeError`` on anything but ``response.completed``),
the test pins it.
"""

from __future__ import annotations

import json
import random
from typing import Any

import openai
import pydantic
import pytest
from openai.types.responses import (
    FunctionToolParam,
    Response,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseStreamEvent,
    ToolChoiceFunctionParam,
)

from harness.dialects import DIALECTS, dialect_for_path
from harness.dialects.openai_responses import text_slots
from harness.faults import FaultContext, FaultUse
from harness.interception import intercept
from harness.plan import CLEAN, RatePlan, Rule
from harness.responder import Responder
from harness.sources import InlineSource, SchemaSource
from harness.wire import Completion, Envelope, Finish, ModelRequest, SseEvent

RESPONSES = DIALECTS.get("openai-responses")
CHAT = DIALECTS.get("openai-chat")
STREAM_EVENT: pydantic.TypeAdapter[ResponseStreamEvent] = pydantic.TypeAdapter(ResponseStreamEvent)
TEXT = '{"name": "Ada Lövelace", "age": 36}'
TOOL: FunctionToolParam = {
    "type": "function",
    "name": "save_user",
    "description": "Store a user.",
    "parameters": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    },
    "strict": True,
}
FORCE: ToolChoiceFunctionParam = {"type": "function", "name": "save_user"}


class User(pydantic.BaseModel):
    """The structured output the SDK tests ask for."""

    name: str
    age: int


def request(**body: Any) -> ModelRequest:
    """Parse a Responses request made of sensible defaults plus ``body``."""
    full = {"model": "gpt-4o-mini", "input": "Sign up Ada", **body}
    return RESPONSES.parse("/v1/responses", json.dumps(full).encode(), {})


def completion(text: str | None = TEXT, **fields: Any) -> Completion:
    """A hand-made completion with plausible token counts."""
    return Completion(text, input_tokens=12, output_tokens=fields.pop("output_tokens", 9), **fields)


def render(reply: Completion, req: ModelRequest, seed: int = 0) -> Envelope:
    return RESPONSES.render(reply, req, random.Random(seed))


def stream_events(envelope: Envelope) -> list[dict[str, Any]]:
    """Every event's payload, after checking it against the SDK and its ``event:`` line."""
    assert envelope.events is not None
    payloads = []
    for event in envelope.events:
        STREAM_EVENT.validate_python(event.data)
        assert event.event == event.data["type"]
        payloads.append(event.data)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    return payloads


def of_type(payloads: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [p for p in payloads if p["type"] == kind]


def every_call(name: str, params: dict[str, Any] | None = None, *, source: Any = None) -> Responder:
    """A Responder applying fault ``name`` to every model call."""
    return Responder(source or InlineSource(TEXT), RatePlan((Rule((FaultUse.of(name, params),)),)))


def apply(name: str, params: dict[str, Any] | None, envelope: Envelope, req: ModelRequest) -> Envelope:
    """Apply an envelope fault the way the Responder does."""
    ctx = FaultContext(req, RESPONSES, random.Random(0))
    out: Envelope = FaultUse.of(name, params).apply_to(envelope, ctx)
    return out


# --------------------------------------------------------------------------- parse


def test_the_dialect_answers_the_responses_paths_only() -> None:
    assert dialect_for_path("/v1/responses") is RESPONSES
    assert dialect_for_path("/openai/responses") is RESPONSES
    assert dialect_for_path("/v1/chat/completions") is CHAT
    assert RESPONSES.default_host == "api.openai.com"


def test_parse_reads_input_items_instructions_and_limits() -> None:
    parsed = request(
        instructions="You extract users.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Ada, 36"}]},
            {"role": "assistant", "content": "noted"},
            {"type": "function_call_output", "call_id": "call_1", "output": "saved"},
        ],
        max_output_tokens=64,
        stream=True,
    )
    assert parsed.dialect == "openai-responses"
    assert parsed.model == "gpt-4o-mini"
    assert parsed.stream is True
    assert parsed.max_tokens == 64
    assert parsed.prompt_text == "You extract users.\nAda, 36\nnoted\nsaved"
    assert parsed.forced_tool is None and parsed.response_schema is None


def test_parse_reads_the_text_format_schema() -> None:
    schema = User.model_json_schema()
    fmt = {"type": "json_schema", "name": "User", "schema": schema, "strict": True}
    assert request(text={"format": fmt}).response_schema == schema
    assert request(text={"format": {"type": "text"}}).response_schema is None


@pytest.mark.parametrize(
    ("tools", "choice", "forced"),
    [
        ([TOOL], FORCE, "save_user"),
        ([TOOL], "required", "save_user"),
        ([TOOL, {**TOOL, "name": "other"}], "required", None),
        ([TOOL], "auto", None),
        ([TOOL], {"type": "function", "name": "missing"}, "missing"),
    ],
)
def test_parse_finds_the_forced_function(tools: list[Any], choice: Any, forced: str | None) -> None:
    parsed = request(tools=tools, tool_choice=choice)
    assert parsed.forced_tool == forced
    expected = TOOL["parameters"] if forced == "save_user" else None
    assert parsed.response_schema == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"input": "hi"}', "lacks required field 'model'"),
        (b'{"model": 4}', "'model' must be a string"),
        (b'{"model": "m", "input": 4}', "'input' must be a string or a list"),
        (b'{"model": "m", "input": ["hi"]}', "each of 'input' must be an object"),
        (b'{"model": "m", "max_output_tokens": "9"}', "'max_output_tokens' must be an integer"),
    ],
)
def test_parse_refuses_bad_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        RESPONSES.parse("/v1/responses", body, {})


# --------------------------------------------------------------------------- render: bodies

CASES: dict[str, tuple[Completion, dict[str, Any]]] = {
    "text": (completion(), {}),
    "length": (completion(TEXT[:9], finish=Finish.LENGTH), {"max_output_tokens": 3}),
    "content_filter": (completion(finish=Finish.CONTENT_FILTER), {}),
    "refusal": (completion(None, finish=Finish.REFUSAL, refusal="I can't help with that."), {}),
    "tool": (completion(tool_name="save_user"), {"tools": [TOOL], "tool_choice": FORCE}),
    "reasoning": (completion(reasoning_tokens=640, output_tokens=649), {}),
    "null": (completion(None), {}),
}


@pytest.mark.parametrize("case", CASES)
def test_bodies_validate_as_the_sdk_response(case: str) -> None:
    reply, body = CASES[case]
    envelope = render(reply, request(**body))
    assert envelope.headers["content-type"] == "application/json"
    assert envelope.headers["x-request-id"].startswith("req_")
    response = Response.model_validate(envelope.body)
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.usage is not None and response.usage.total_tokens == 12 + reply.output_tokens
    assert response.usage.output_tokens_details.reasoning_tokens == reply.reasoning_tokens


def test_text_reply_is_a_completed_message() -> None:
    response = Response.model_validate(render(completion(), request()).body)
    assert response.status == "completed" and response.incomplete_details is None
    assert response.output_text == TEXT
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_") and message.status == "completed"
    assert RESPONSES.reply_text(render(completion(), request()).body) == TEXT


@pytest.mark.parametrize(
    ("case", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_length_and_filter_make_the_response_incomplete(case: str, reason: str) -> None:
    reply, body = CASES[case]
    response = Response.model_validate(render(reply, request(**body)).body)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == reason
    message = response.output[0]
    assert isinstance(message, ResponseOutputMessage) and message.status == "incomplete"
    assert response.output_text == reply.text


def test_refusal_is_a_refusal_part() -> None:
    reply, _ = CASES["refusal"]
    body = render(reply, request()).body
    response = Response.model_validate(body)
    assert response.status == "completed" and response.output_text == ""
    message = response.output[0]
    assert isinstance(message, ResponseOutputMessage)
    part = message.content[0]
    assert isinstance(part, ResponseOutputRefusal) and part.refusal == "I can't help with that."
    assert RESPONSES.reply_text(body) is None


def test_forced_tool_is_a_function_call_item() -> None:
    reply, extra = CASES["tool"]
    body = render(reply, request(**extra)).body
    call = Response.model_validate(body).output[0]
    assert call.type == "function_call"
    assert call.id is not None and call.id.startswith("fc_") and call.call_id.startswith("call_")
    assert (call.name, call.arguments, call.status) == ("save_user", TEXT, "completed")
    assert RESPONSES.reply_text(body) == TEXT


def test_reasoning_tokens_put_a_reasoning_item_first() -> None:
    response = Response.model_validate(render(CASES["reasoning"][0], request()).body)
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text == TEXT


def test_null_text_has_no_message() -> None:
    body = render(completion(None), request()).body
    assert Response.model_validate(body).output == []
    assert RESPONSES.reply_text(body) is None


def test_request_settings_are_echoed() -> None:
    fmt = {"type": "json_schema", "name": "User", "schema": User.model_json_schema(), "strict": True}
    req = request(
        instructions="Be brief.", tools=[TOOL], tool_choice=FORCE, text={"format": fmt}, temperature=0
    )
    response = Response.model_validate(render(completion(tool_name="save_user"), req).body)
    assert response.instructions == "Be brief."
    assert response.tool_choice.type == "function"  # type: ignore[union-attr]
    assert [tool.name for tool in response.tools] == ["save_user"]  # type: ignore[union-attr]
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"
    assert response.temperature == 0


# --------------------------------------------------------------------------- render: streams


@pytest.mark.parametrize("case", CASES)
def test_every_stream_event_validates_and_agrees_with_the_body(case: str) -> None:
    reply, body = CASES[case]
    req = request(stream=True, **body)
    envelope = render(reply, req)
    assert envelope.headers["content-type"].startswith("text/event-stream")
    payloads = stream_events(envelope)
    assert [p["type"] for p in payloads[:2]] == ["response.created", "response.in_progress"]
    assert payloads[0]["response"]["status"] == "in_progress" and payloads[0]["response"]["output"] == []
    final = payloads[-1]["response"]
    req.stream = False
    assert final == render(reply, req).body
    assert payloads[-1]["type"] == f"response.{final['status']}"
    assert sum(RESPONSES.is_stream_terminator(e) for e in envelope.events or []) == 1


def test_text_stream_order_and_deltas() -> None:
    payloads = stream_events(render(completion(), request(stream=True)))
    assert [p["type"] for p in payloads if p["type"] != "response.output_text.delta"] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = of_type(payloads, "response.output_text.delta")
    assert len(deltas) > 1 and "".join(d["delta"] for d in deltas) == TEXT
    assert of_type(payloads, "response.output_text.done")[0]["text"] == TEXT
    assert b"[DONE]" not in RESPONSES.serialize(render(completion(), request(stream=True))).body


def test_function_call_stream_streams_the_arguments() -> None:
    reply, extra = CASES["tool"]
    payloads = stream_events(render(reply, request(stream=True, **extra)))
    added = of_type(payloads, "response.output_item.added")[0]["item"]
    assert (added["type"], added["status"], added["arguments"]) == ("function_call", "in_progress", "")
    deltas = of_type(payloads, "response.function_call_arguments.delta")
    assert "".join(d["delta"] for d in deltas) == TEXT
    assert of_type(payloads, "response.function_call_arguments.done")[0]["arguments"] == TEXT


def test_refusal_stream_uses_refusal_events() -> None:
    payloads = stream_events(render(CASES["refusal"][0], request(stream=True)))
    deltas = of_type(payloads, "response.refusal.delta")
    assert "".join(d["delta"] for d in deltas) == "I can't help with that."
    assert not of_type(payloads, "response.output_text.delta")


def test_a_truncated_stream_ends_in_response_incomplete() -> None:
    reply, body = CASES["length"]
    payloads = stream_events(render(reply, request(stream=True, **body)))
    assert payloads[-1]["type"] == "response.incomplete"
    assert payloads[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_same_seed_same_bytes() -> None:
    for stream in (False, True):
        req = request(stream=stream)
        first = RESPONSES.serialize(render(completion(), req, seed=5))
        assert first.body == RESPONSES.serialize(render(completion(), req, seed=5)).body
        assert first.headers == RESPONSES.serialize(render(completion(), req, seed=5)).headers
        assert first.body != RESPONSES.serialize(render(completion(), req, seed=6)).body


# --------------------------------------------------------------------------- errors


def test_render_error_is_the_chat_error_envelope() -> None:
    ours = RESPONSES.render_error(429, "", None, None, random.Random(1))
    theirs = CHAT.render_error(429, "", None, None, random.Random(1))
    assert (ours.status, ours.headers, ours.body) == (theirs.status, theirs.headers, theirs.body)
    assert ours.body["error"]["code"] == "rate_limit_exceeded"


def test_stream_error_event_nests_the_error_as_the_live_api_does() -> None:
    event = RESPONSES.stream_error_event("", None)
    assert event.event == "error"
    assert event.data["type"] == "error" and event.data["sequence_number"] == 0
    assert event.data["error"]["code"] == "server_error" and event.data["error"]["message"]
    custom = RESPONSES.stream_error_event("Too Many Requests", "too_many_requests").data["error"]
    assert custom == {
        "type": "too_many_requests",
        "code": "too_many_requests",
        "message": "Too Many Requests",
        "param": None,
    }
    assert not RESPONSES.is_stream_terminator(event)


def test_terminators_are_the_final_lifecycle_events() -> None:
    for kind in ("response.completed", "response.incomplete", "response.failed"):
        assert RESPONSES.is_stream_terminator(SseEvent({"type": kind}, kind))
    assert not RESPONSES.is_stream_terminator(SseEvent({"type": "response.created"}, "response.created"))
    assert not RESPONSES.is_stream_terminator(SseEvent("[DONE]"))


def test_reply_text_of_odd_bodies() -> None:
    assert RESPONSES.reply_text(None) is None
    assert RESPONSES.reply_text({"output": "nope"}) is None
    assert RESPONSES.reply_text({"error": {"message": "x"}}) is None


# --------------------------------------------------------------------------- envelope faults


@pytest.mark.parametrize("stream", [False, True])
def test_empty_choices_empties_the_output(stream: bool) -> None:
    req = request(stream=stream)
    out = apply("empty_choices", None, render(completion(), req), req)
    if not stream:
        assert Response.model_validate(out.body).output == []
        return
    payloads = stream_events(out)
    assert [p["type"] for p in payloads] == ["response.created", "response.in_progress", "response.completed"]
    assert payloads[-1]["response"]["output"] == []


@pytest.mark.parametrize("form", ["null", "missing"])
def test_null_content_blanks_every_text(form: str) -> None:
    req = request(stream=True)
    out = apply("null_content", {"form": form}, render(completion(), req), req)
    for slots in text_slots(out.body, out.events).values():
        for holder, key in (*slots.full, *slots.deltas, *slots.started):
            assert holder.get(key) is None and (key in holder) == (form == "null")
    req.stream = False
    body = apply("null_content", {"form": form}, render(completion(), req), req).body
    assert body["output"][0]["content"][0].get("text") is None


def test_null_content_leaves_function_arguments() -> None:
    reply, extra = CASES["tool"]
    req = request(**extra)
    out = apply("null_content", None, render(reply, req), req)
    assert RESPONSES.reply_text(out.body) == TEXT


@pytest.mark.parametrize("stream", [False, True])
def test_invalid_tool_arguments_breaks_every_copy_of_the_arguments(stream: bool) -> None:
    reply, extra = CASES["tool"]
    req = request(stream=stream, **extra)
    out = apply("invalid_tool_arguments", {"kind": "single_quoted"}, render(reply, req), req)
    (slots,) = text_slots(out.body, out.events).values()
    broken = TEXT.replace('"', "'")
    assert all(holder[key] == broken for holder, key in slots.full)
    if stream:
        stream_events(out)
        assert "".join(holder[key] for holder, key in slots.deltas) == broken
    else:
        assert RESPONSES.reply_text(out.body) == broken


def test_invalid_tool_arguments_leaves_text_replies() -> None:
    req = request(stream=True)
    envelope = render(completion(), req)
    assert RESPONSES.serialize(apply("invalid_tool_arguments", None, envelope, req)) == RESPONSES.serialize(
        envelope
    )


@pytest.mark.parametrize("stream", [False, True])
def test_missing_usage_drops_usage(stream: bool) -> None:
    req = request(stream=stream)
    out = apply("missing_usage", None, render(completion(), req), req)
    if stream:
        assert all("usage" not in p["response"] for p in stream_events(out) if "response" in p)
    else:
        assert "usage" not in out.body and Response.model_validate(out.body).usage is None


@pytest.mark.parametrize("stream", [False, True])
def test_token_tax_inflates_the_final_usage(stream: bool) -> None:
    req = request(stream=stream)
    out = apply("token_tax", {"reasoning_tokens": 1000}, render(completion(), req), req)
    body = stream_events(out)[-1]["response"] if stream else out.body
    usage = Response.model_validate(body).usage
    assert usage is not None
    assert (usage.output_tokens, usage.total_tokens) == (1009, 1021)
    assert usage.output_tokens_details.reasoning_tokens == 1000


def test_error_in_200_stream_ends_in_a_renumbered_error_event() -> None:
    req = request(stream=True)
    out = apply("error_in_200", {"after_events": 3}, render(completion(), req), req)
    assert out.events is not None
    assert [e.event for e in out.events][-1] == "error"
    assert [e.data["sequence_number"] for e in out.events] == [0, 1, 2, 3]


@pytest.mark.parametrize("fraction", [None, 0.5])
def test_content_filter_makes_the_stream_incomplete(fraction: float | None) -> None:
    req = request(stream=True)
    out = apply("content_filter", {"fraction": fraction}, render(completion(), req), req)
    payloads = stream_events(out)
    final = payloads[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "content_filter"}
    expected = TEXT if fraction is None else TEXT[: len(TEXT) // 2]
    deltas = of_type(payloads, "response.output_text.delta")
    assert "".join(d["delta"] for d in deltas) == expected and all(d["delta"] for d in deltas)
    assert of_type(payloads, "response.output_text.done")[0]["text"] == expected
    assert Response.model_validate(final["response"]).output_text == expected


def test_content_filter_cuts_function_arguments_in_a_body() -> None:
    reply, extra = CASES["tool"]
    req = request(**extra)
    out = apply("content_filter", {"fraction": 0.5}, render(reply, req), req)
    response = Response.model_validate(out.body)
    assert response.status == "incomplete"
    assert RESPONSES.reply_text(out.body) == TEXT[: len(TEXT) // 2]


# --------------------------------------------------------------------------- the real SDK, intercepted


def clean(source: Any = None) -> Responder:
    return Responder(source or InlineSource(TEXT), CLEAN)


def test_sdk_create_reads_output_text() -> None:
    with intercept(clean(), time_scale=0) as it:
        response = openai.OpenAI().responses.create(model="gpt-4o-mini", input="Sign up Ada")
    assert response.output_text == TEXT and response.status == "completed"
    assert response.usage is not None and response.usage.output_tokens >= 1
    assert [call.dialect for call in it.calls] == ["openai-responses"]


def test_sdk_stream_iteration_yields_the_deltas() -> None:
    with intercept(clean(), time_scale=0):
        events = list(openai.OpenAI().responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == TEXT
    assert events[-1].type == "response.completed"


def test_sdk_stream_helper_gets_the_final_response() -> None:
    with (
        intercept(clean(), time_scale=0),
        openai.OpenAI().responses.stream(model="gpt-4o-mini", input="hi") as s,
    ):
        texts = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(texts) == final.output_text == TEXT


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_parse_gives_output_parsed(stream: bool) -> None:
    with intercept(clean(SchemaSource.from_model(User)), seed=3, time_scale=0):
        client = openai.OpenAI()
        if stream:
            with client.responses.stream(model="gpt-4o-mini", input="hi", text_format=User) as s:
                parsed = s.get_final_response().output_parsed
        else:
            parsed = client.responses.parse(model="gpt-4o-mini", input="hi", text_format=User).output_parsed
    assert isinstance(parsed, User)


def test_sdk_forced_function_call() -> None:
    with intercept(clean(), time_scale=0):
        response = openai.OpenAI().responses.create(
            model="gpt-4o-mini",
            input="hi",
            tools=[TOOL],
            tool_choice=FORCE,
        )
    call = response.output[0]
    assert call.type == "function_call" and call.name == "save_user"
    assert User.model_validate_json(call.arguments) == User(name="Ada Lövelace", age=36)


def test_sdk_truncate_is_incomplete_and_parse_fails_on_the_json() -> None:
    with intercept(every_call("truncate", {"fraction": 0.5}), time_scale=0):
        client = openai.OpenAI()
        response = client.responses.create(model="gpt-4o-mini", input="hi")
        # Unlike chat's LengthFinishReasonError, Responses .parse() just fails to validate the cut JSON.
        with pytest.raises(pydantic.ValidationError):
            client.responses.parse(model="gpt-4o-mini", input="hi", text_format=User)
        # The .stream() helper only returns a final response after response.completed.
        with (
            pytest.raises(RuntimeError, match=r"response\.completed"),
            client.responses.stream(model="gpt-4o-mini", input="hi") as s,
        ):
            s.get_final_response()
    assert response.status == "incomplete"
    assert (
        response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    )
    assert response.output_text == TEXT[: len(TEXT) // 2]


def test_sdk_refusal_gives_no_parsed_output() -> None:
    with intercept(every_call("refusal"), time_scale=0):
        response = openai.OpenAI().responses.parse(model="gpt-4o-mini", input="hi", text_format=User)
    assert response.output_parsed is None and response.output_text == ""
    message = response.output[0]
    assert isinstance(message, ResponseOutputMessage)
    assert isinstance(message.content[0], ResponseOutputRefusal)


def test_sdk_rate_limit_raises() -> None:
    with (
        intercept(every_call("http_status", {"status": 429}), time_scale=0) as it,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        openai.OpenAI(max_retries=0).responses.create(model="gpt-4o-mini", input="hi")
    assert caught.value.code == "rate_limit_exceeded"
    assert len(it.calls) == 1


def test_sdk_stream_cut_ends_silently_but_the_helper_raises() -> None:
    with intercept(every_call("stream_cut"), time_scale=0):
        client = openai.OpenAI()
        events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
        with (
            pytest.raises(RuntimeError, match=r"Didn't receive a `response\.completed` event"),
            client.responses.stream(model="gpt-4o-mini", input="hi") as s,
        ):
            s.get_final_response()
    assert events[-1].type == "response.output_item.done"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == TEXT


def test_sdk_stream_cut_mid_content_never_sends_the_whole_text() -> None:
    with intercept(every_call("stream_cut", {"after_fraction": 0.9}), time_scale=0):
        events = list(openai.OpenAI().responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert events[-1].type == "response.output_text.delta"


def test_sdk_raises_api_error_on_a_stream_error_event() -> None:
    with (
        intercept(every_call("error_in_200", {"after_events": 2}), time_scale=0),
        pytest.raises(openai.APIError, match="An error occurred while processing your request") as caught,
    ):
        list(openai.OpenAI().responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert type(caught.value) is openai.APIError
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "server_error"


def test_sdk_reads_an_error_body_in_a_200_as_response_error() -> None:
    with intercept(every_call("error_in_200"), time_scale=0):
        response = openai.OpenAI().responses.create(model="gpt-4o-mini", input="hi")
    assert response.error is not None and response.error.type == "server_error"
    assert response.status is None and response.output is None


def test_sdk_content_filter_and_null_content() -> None:
    with intercept(every_call("content_filter"), time_scale=0):
        client = openai.OpenAI()
        filtered = client.responses.parse(model="gpt-4o-mini", input="hi", text_format=User)
    # The filtered response still parses: only status and incomplete_details tell.
    assert filtered.status == "incomplete" and filtered.output_parsed == User(name="Ada Lövelace", age=36)
    with intercept(every_call("null_content"), time_scale=0):
        client = openai.OpenAI()
        assert client.responses.create(model="gpt-4o-mini", input="hi").output_text == ""
        with pytest.raises(TypeError), client.responses.stream(model="gpt-4o-mini", input="hi") as s:
            s.get_final_response()


def test_sdk_tolerates_a_wrong_content_type_and_reads_missing_usage_as_none() -> None:
    with intercept(every_call("wrong_content_type"), time_scale=0):
        client = openai.OpenAI()
        assert client.responses.create(model="gpt-4o-mini", input="hi").output_text == TEXT
    with intercept(every_call("missing_usage"), time_scale=0):
        client = openai.OpenAI()
        assert client.responses.create(model="gpt-4o-mini", input="hi").usage is None


def test_sdk_replies_are_deterministic() -> None:
    bodies = []
    for _ in range(2):
        with intercept(every_call("truncate"), seed=11, time_scale=0) as it:
            list(openai.OpenAI().responses.create(model="gpt-4o-mini", input="hi", stream=True))
        bodies.append(it.calls[0].body)
    assert bodies[0] == bodies[1] and b"response.incomplete" in bodies[0]
