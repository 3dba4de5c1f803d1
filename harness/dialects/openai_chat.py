"""OpenAI Chat Completions (``POST /v1/chat/completions``), as openai-python reads it.

Bodies, chunks and error envelopes follow ``reference/wire-formats.md``; the installed
SDK's pydantic types (``ChatCompletion``, ``ChatCompletionChunk``) are the check.
"""

from __future__ import annotations

import copy
import http
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from harness.dialects.base import (
    DIALECTS,
    Dialect,
    Slot,
    Text,
    blank,
    cut,
    cut_stream,
    decode_body,
    random_token,
    rewrite_fragments,
    split_text,
    text_of,
)
from harness.seeding import below, between
from harness.wire import JSON, Completion, Envelope, Finish, ModelRequest, SseEvent

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."
"""Refusal text used when a completion finishes with REFUSAL but carries no message."""

CREATED_RANGE = (1_735_689_600, 1_767_225_599)
"""``created`` timestamps are drawn from 2025 so replies look recent yet stay reproducible."""

HEX = "0123456789abcdef"
_REQUEST_LIMITS = (500, 5_000, 10_000, 30_000)
_TOKEN_LIMITS = (200_000, 2_000_000, 10_000_000, 150_000_000)

_FINISH = {Finish.STOP: "stop", Finish.LENGTH: "length", Finish.CONTENT_FILTER: "content_filter"}

# status -> (type, code, message) used when render_error is not told otherwise.
_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request: the request body could not be processed."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    408: ("invalid_request_error", "request_timeout", "Request timed out."),
    409: ("invalid_request_error", "conflict", "The request conflicts with another request in progress."),
    413: ("invalid_request_error", "request_too_large", "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached on requests per min (RPM): Limit 500, Used 500, Requested 1. "
        "Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}
_INSUFFICIENT_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more information "
    "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)


@dataclass(slots=True)  # not frozen: built for every reply, and a frozen init costs 4x
class _Message:
    """What the assistant message carries, decided once for the JSON and the stream renderings."""

    content: Text | None
    refusal: str | None
    tool_name: str | None
    arguments: Text | None
    finish_reason: str


@dataclass(slots=True)
class _Ids:
    """Every invented identifier of one reply, drawn from the rng in a fixed order."""

    completion_id: str
    created: int
    fingerprint: str
    call_id: str
    headers: dict[str, str]


class OpenAIChat(Dialect):
    """The Chat Completions wire format of api.openai.com (and its many compatible servers)."""

    name = "openai-chat"
    paths = ("/v1/chat/completions", "/chat/completions")
    default_host = "api.openai.com"

    def parse(self, path: str, body: bytes, headers: Mapping[str, str]) -> ModelRequest:
        """Read model, stream flags, schema, forced tool, token limit and prompt text from a request."""
        data = decode_body(body, ("model", "messages"))
        model, messages = data["model"], data["messages"]
        if not isinstance(model, str):
            raise ValueError("'model' must be a string")
        if not isinstance(messages, list):
            raise ValueError("'messages' must be a list")
        forced_tool, tool_schema = _forced_tool(data)
        stream_options = data.get("stream_options")
        return self.request(
            path,
            data,
            headers,
            model=model,
            include_usage=isinstance(stream_options, dict) and stream_options.get("include_usage") is True,
            response_schema=tool_schema if forced_tool else _response_format_schema(data),
            forced_tool=forced_tool,
            max_tokens=_token_limit(data),
            prompt_text=_prompt_text(messages),
        )

    def render(self, completion: Completion, request: ModelRequest, rng: random.Random) -> Envelope:
        """A ``chat.completion`` body, or ``chat.completion.chunk`` events ending in ``[DONE]``."""
        ids = _draw_ids(rng)
        message = _message(completion)
        if request.stream:
            headers = {"content-type": "text/event-stream; charset=utf-8", **ids.headers}
            return Envelope(headers=headers, events=_stream(completion, request, message, ids, rng))
        headers = {"content-type": "application/json", **ids.headers}
        return Envelope(headers=headers, body=_body(completion, request, message, ids))

    def render_error(
        self, status: int, message: str, error_type: str | None, code: str | None, rng: random.Random
    ) -> Envelope:
        """``{"error": {message, type, param, code}}`` with OpenAI's usual type and code for ``status``."""
        return error_envelope(status, message, error_type, code, rng)

    def stream_error_event(self, message: str, error_type: str | None) -> SseEvent:
        """``data: {"error": {...}}`` with no event line: openai-python raises ``APIError`` on it."""
        error = {
            "message": message or _ERROR_DEFAULTS[500][2],
            "type": error_type or "server_error",
            "param": None,
            "code": None,
        }
        return SseEvent(data={"error": error})

    def is_stream_terminator(self, event: SseEvent) -> bool:
        """The ``data: [DONE]`` sentinel."""
        return event.data == "[DONE]"

    def reply_text(self, body: JSON) -> str | None:
        """First choice's tool-call arguments, else its content; None when absent or null."""
        if not isinstance(body, dict):
            return None
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return None
        message = choices[0].get("message")
        if not isinstance(message, dict):
            return None
        tool_calls = message.get("tool_calls")
        if isinstance(tool_calls, list) and tool_calls and isinstance(tool_calls[0], dict):
            function = tool_calls[0].get("function")
            arguments = function.get("arguments") if isinstance(function, dict) else None
            return arguments if isinstance(arguments, str) else None
        content = message.get("content")
        return content if isinstance(content, str) else None

    def empty_output(self, envelope: Envelope, mode: str) -> None:
        """``choices: []``; streams: Azure's leading chunk (``leading``), all emptied (``all``), or both."""
        if envelope.events is None:
            envelope.body["choices"] = []
            return
        if mode in {"all", "both"}:
            for chunk in _dicts(envelope.events):
                if _choices(chunk):
                    chunk["choices"] = []
        if mode in {"leading", "both"}:
            envelope.events.insert(0, SseEvent(copy.deepcopy(AZURE_LEADING_CHUNK)))

    def null_content(self, envelope: Envelope, form: str) -> None:
        """``message.content`` (kept beside ``tool_calls``) or every stream delta's ``content``."""
        if envelope.events is None:
            for choice in _choices(envelope.body):
                if isinstance(choice.get("message"), dict):
                    blank(choice["message"], "content", form)
            return
        for chunk in _dicts(envelope.events):
            for choice in _choices(chunk):
                delta = choice.get("delta")
                if isinstance(delta, dict) and "content" in delta:
                    blank(delta, "content", form)

    def break_tool_arguments(self, envelope: Envelope, breaker: Callable[[str], str]) -> None:
        """``tool_calls[].function.arguments``; streams: each call's fragments, re-spread in place."""
        if envelope.events is None:
            for choice in _choices(envelope.body):
                for call in _tool_calls(choice.get("message")):
                    function = call.get("function")
                    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                        function["arguments"] = breaker(function["arguments"])
            return
        groups: dict[tuple[JSON, JSON], list[Slot]] = {}
        for chunk in _dicts(envelope.events):
            for choice in _choices(chunk):
                for call in _tool_calls(choice.get("delta")):
                    function = call.get("function")
                    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                        key = (choice.get("index"), call.get("index"))
                        groups.setdefault(key, []).append((function, "arguments"))
        for holders in groups.values():
            rewrite_fragments(holders, breaker)

    def strip_usage(self, envelope: Envelope) -> None:
        """The body's ``usage``; streams lose the usage chunk and every ``usage`` field."""
        if envelope.events is None:
            if isinstance(envelope.body, dict):
                envelope.body.pop("usage", None)
            return
        envelope.events = [e for e in envelope.events if not _is_usage_chunk(e.data)]
        for chunk in _dicts(envelope.events):
            chunk.pop("usage", None)

    def tax_usage(self, envelope: Envelope, reasoning_tokens: int, multiplier: float) -> None:
        """``completion_tokens`` and its ``reasoning_tokens`` detail grow; ``total_tokens`` follows."""
        if envelope.events is None:
            usages = [envelope.body.get("usage")] if isinstance(envelope.body, dict) else []
        else:
            usages = [chunk.get("usage") for chunk in _dicts(envelope.events)]
        for usage in usages:
            if isinstance(usage, dict):
                tax_usage_counts(usage, "completion_tokens", "prompt_tokens", reasoning_tokens, multiplier)

    def content_filtered(self, envelope: Envelope, fraction: float | None) -> None:
        """Finish ``content_filter``; the content or tool arguments cut at ``fraction``."""
        if envelope.events is None:
            _filter_body(envelope.body, fraction)
            return
        for chunk in _dicts(envelope.events):
            for choice in _choices(chunk):
                if choice.get("finish_reason") is not None:
                    choice["finish_reason"] = "content_filter"
        if fraction is not None:
            envelope.events = cut_stream(envelope.events, _text_slot, fraction)


def _forced_tool(data: dict[str, JSON]) -> tuple[str | None, dict[str, JSON] | None]:
    """The tool the request forces and its parameter schema.

    ``tool_choice: {"type": "function", "function": {"name": X}}`` forces X; ``"required"``
    with exactly one function tool forces that one, as the model then has no other choice.
    """
    tools = [
        t["function"]
        for t in _list(data.get("tools"))
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = data.get("tool_choice")
    name: str | None = None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        candidate = choice["function"].get("name")
        name = candidate if isinstance(candidate, str) else None
    elif choice == "required" and len(tools) == 1 and isinstance(tools[0].get("name"), str):
        name = tools[0]["name"]
    if name is None:
        return None, None
    schema = next((t.get("parameters") for t in tools if t.get("name") == name), None)
    return name, schema if isinstance(schema, dict) else None


def _response_format_schema(data: dict[str, JSON]) -> dict[str, JSON] | None:
    """The JSON Schema of ``response_format: {"type": "json_schema", ...}``, if given."""
    fmt = data.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


def _token_limit(data: dict[str, JSON]) -> int | None:
    """``max_completion_tokens``, else the older ``max_tokens``."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name!r} must be an integer")
        return value
    return None


def _prompt_text(messages: list[JSON]) -> str:
    """Every message's text (plain strings and ``text`` content parts), system included."""
    texts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            raise ValueError("each of 'messages' must be an object")
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        for part in _list(content):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def _list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


def _draw_ids(rng: random.Random) -> _Ids:
    """Draw ids and success headers; the order of draws is part of the byte-identical promise."""
    completion_id = "chatcmpl-" + random_token(rng, 24)
    created = between(rng, *CREATED_RANGE)
    fingerprint = "fp_" + random_token(rng, 10, HEX)
    call_id = "call_" + random_token(rng, 24)
    return _Ids(completion_id, created, fingerprint, call_id, success_headers(rng))


def success_headers(rng: random.Random) -> dict[str, str]:
    """Request id, processing time and (not yet exhausted) rate-limit headers of a successful OpenAI reply."""
    request_limit = _REQUEST_LIMITS[below(rng, 4)]
    token_limit = _TOKEN_LIMITS[below(rng, 4)]
    return {
        "x-request-id": _request_id(rng),
        "openai-processing-ms": str(between(rng, 180, 2_400)),
        "openai-version": "2020-10-01",
        "x-ratelimit-limit-requests": str(request_limit),
        "x-ratelimit-limit-tokens": str(token_limit),
        "x-ratelimit-remaining-requests": str(request_limit - between(rng, 1, request_limit // 50)),
        "x-ratelimit-remaining-tokens": str(token_limit - between(rng, 100, token_limit // 50)),
        "x-ratelimit-reset-requests": f"{between(rng, 6, 999)}ms",
        "x-ratelimit-reset-tokens": f"{between(rng, 0, 999)}ms",
    }


def error_envelope(
    status: int, message: str, error_type: str | None, code: str | None, rng: random.Random
) -> Envelope:
    """OpenAI's error envelope ``{"error": {message, type, param, code}}``, shared by every OpenAI dialect.

    Type, code and message default to what api.openai.com sends for ``status``; code
    ``insufficient_quota`` brings its own type and message.
    """
    default_type, default_code, default_message = _error_defaults(status)
    code = code if code is not None else default_code
    if code == "insufficient_quota":
        default_type, default_message = "insufficient_quota", _INSUFFICIENT_QUOTA
    error = {
        "message": message or default_message,
        "type": error_type or default_type,
        "param": None,
        "code": code,
    }
    headers = {"content-type": "application/json", "x-request-id": _request_id(rng)}
    return Envelope(status=status, headers=headers, body={"error": error})


def _request_id(rng: random.Random) -> str:
    return "req_" + random_token(rng, 32, HEX)


def _error_defaults(status: int) -> tuple[str, str | None, str]:
    if status in _ERROR_DEFAULTS:
        return _ERROR_DEFAULTS[status]
    try:
        phrase = http.HTTPStatus(status).phrase + "."
    except ValueError:
        phrase = f"HTTP {status}."
    return ("server_error" if status >= 500 else "invalid_request_error"), None, phrase


def _message(completion: Completion) -> _Message:
    """Map the abstract completion to OpenAI's message: refusal, tool call or plain content."""
    refusal = completion.refusal
    if refusal is None and completion.finish is Finish.REFUSAL:
        refusal = DEFAULT_REFUSAL
    finish = _FINISH.get(completion.finish, "stop")
    if refusal is not None:
        return _Message(None, refusal, None, None, finish)
    text = text_of(completion)
    if completion.tool_name is not None and text is not None:
        finish = "tool_calls" if completion.finish is Finish.STOP else finish
        return _Message(None, None, completion.tool_name, text, finish)
    return _Message(text, None, None, None, finish)


def _usage(completion: Completion) -> dict[str, JSON]:
    return {
        "prompt_tokens": completion.input_tokens,
        "completion_tokens": completion.output_tokens,
        "total_tokens": completion.input_tokens + completion.output_tokens,
        "completion_tokens_details": {"reasoning_tokens": completion.reasoning_tokens},
    }


def _body(completion: Completion, request: ModelRequest, message: _Message, ids: _Ids) -> dict[str, JSON]:
    """The non-streaming ``chat.completion`` object."""
    rendered: dict[str, JSON] = {"role": "assistant", "content": message.content}
    if message.tool_name is not None:
        function = {"name": message.tool_name, "arguments": message.arguments}
        rendered["tool_calls"] = [{"id": ids.call_id, "type": "function", "function": function}]
    rendered["refusal"] = message.refusal
    choice = {"index": 0, "logprobs": None, "finish_reason": message.finish_reason, "message": rendered}
    return {
        "id": ids.completion_id,
        "object": "chat.completion",
        "created": ids.created,
        "model": request.model,
        "system_fingerprint": ids.fingerprint,
        "choices": [choice],
        "usage": _usage(completion),
    }


def _stream(
    completion: Completion, request: ModelRequest, message: _Message, ids: _Ids, rng: random.Random
) -> list[SseEvent]:
    """Role chunk, delta chunks, finish chunk, optional usage chunk, ``[DONE]``."""

    def chunk(delta: dict[str, JSON], finish_reason: str | None = None) -> SseEvent:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return SseEvent(data=_chunk_frame(request, ids, [choice]))

    first, deltas = _deltas(message, ids, rng)
    events = [chunk(first), *(chunk(d) for d in deltas), chunk({}, message.finish_reason)]
    if request.include_usage:
        events.append(SseEvent(data={**_chunk_frame(request, ids, []), "usage": _usage(completion)}))
    events.append(SseEvent(data="[DONE]"))
    return events


def _chunk_frame(request: ModelRequest, ids: _Ids, choices: list[JSON]) -> dict[str, JSON]:
    frame: dict[str, JSON] = {
        "id": ids.completion_id,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": request.model,
        "system_fingerprint": ids.fingerprint,
        "choices": choices,
    }
    if request.include_usage:
        # With include_usage every chunk carries "usage": null until the final usage chunk.
        frame["usage"] = None
    return frame


Delta = dict[str, JSON]


def _deltas(message: _Message, ids: _Ids, rng: random.Random) -> tuple[Delta, list[Delta]]:
    """The first delta (role and kind of message) and the fragment deltas that follow it."""
    if message.refusal is not None:
        first: Delta = {"role": "assistant", "content": None, "refusal": ""}
        return first, [{"refusal": piece} for piece in split_text(message.refusal, rng)]
    if message.tool_name is not None:
        call = {
            "index": 0,
            "id": ids.call_id,
            "type": "function",
            "function": {"name": message.tool_name, "arguments": ""},
        }
        first = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
        pieces = split_text(message.arguments or "", rng)
        return first, [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
    first = {"role": "assistant", "content": "" if message.content is not None else None, "refusal": None}
    return first, [{"content": piece} for piece in split_text(message.content or "", rng)]


# --------------------------------------------------------------------------- envelope fault hooks

AZURE_LEADING_CHUNK: dict[str, JSON] = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {
                kind: {"filtered": False, "severity": "safe"}
                for kind in ("hate", "self_harm", "sexual", "violence")
            },
        }
    ],
}
"""The chunk Azure OpenAI streams first: prompt filter results and ``choices: []``."""


def tax_usage_counts(
    usage: dict[str, JSON], output_key: str, input_key: str, reasoning_tokens: int, multiplier: float
) -> None:
    """Inflate ``usage[output_key]`` and its reasoning detail; ``total_tokens`` follows (OpenAI shapes)."""
    output = round(int(usage.get(output_key) or 0) * multiplier) + reasoning_tokens
    usage[output_key] = output
    usage["total_tokens"] = int(usage.get(input_key) or 0) + output
    details = usage.get(f"{output_key}_details")
    if not isinstance(details, dict):
        details = usage[f"{output_key}_details"] = {}
    reasoning = round(int(details.get("reasoning_tokens") or 0) * multiplier)
    details["reasoning_tokens"] = reasoning + reasoning_tokens


def _dicts(events: list[SseEvent]) -> Iterator[dict[str, JSON]]:
    """The JSON object payloads of ``events`` (``[DONE]`` and other raw strings skipped)."""
    return (e.data for e in events if isinstance(e.data, dict))


def _choices(chunk: JSON) -> list[dict[str, JSON]]:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _tool_calls(message: JSON) -> list[dict[str, JSON]]:
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def _is_usage_chunk(data: JSON) -> bool:
    return isinstance(data, dict) and data.get("choices") == [] and isinstance(data.get("usage"), dict)


def _filter_body(body: JSON, fraction: float | None) -> None:
    for choice in _choices(body):
        choice["finish_reason"] = "content_filter"
        message = choice.get("message")
        if fraction is None or not isinstance(message, dict):
            continue
        if isinstance(message.get("content"), str):
            message["content"] = cut(message["content"], fraction)
        for call in _tool_calls(message):
            function = call.get("function")
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = cut(function["arguments"], fraction)


def _text_slot(event: SseEvent) -> Slot | None:
    """Where a stream chunk carries generated text (holder dict and key), if it does."""
    for choice in _choices(event.data):
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            continue
        if isinstance(delta.get("content"), str) and delta["content"]:
            return delta, "content"
        for call in _tool_calls(delta):
            function = call.get("function")
            if (
                isinstance(function, dict)
                and isinstance(function.get("arguments"), str)
                and function["arguments"]
            ):
                return function, "arguments"
    return None


OPENAI_CHAT = DIALECTS.add(OpenAIChat.name, OpenAIChat())
"""The registered ``openai-chat`` dialect."""
