"""Anthropic Messages (``POST /v1/messages``), as anthropic-sdk-python reads it.

Bodies, events and error envelopes follow ``reference/wire-formats.md``; the installed
SDK's pydantic types (``Message``, ``RawMessageStreamEvent``) are the check.

A forced tool call's arguments become the ``tool_use`` block's ``input``, which on this
wire is a JSON *object*, not a string. When a content fault has made the arguments
something that is not a JSON object (prose, a haiku, truncated JSON, an array), the reply
is rendered as a ``text`` block with a non-``tool_use`` stop reason instead: that is what
Claude does when it answers in words rather than calling the tool, so the pipeline meets
the same broken text, and the reply stays a valid Messages response.
"""

from __future__ import annotations

import datetime
import http
import json
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

CREATED_RANGE = (1_735_689_600, 1_767_225_599)
"""Rate-limit reset times are anchored at an instant drawn from 2025: recent-looking, reproducible."""

_STOP_REASON = {
    Finish.STOP: "end_turn",
    Finish.LENGTH: "max_tokens",
    Finish.CONTENT_FILTER: "refusal",
    Finish.REFUSAL: "refusal",
}

# status -> (error type, message) used when render_error is not told otherwise.
_ERROR_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


@dataclass(slots=True)  # not frozen: built for every reply, and a frozen init costs 4x
class _Block:
    """The one content block of a reply: text, or a tool call with its parsed input."""

    text: Text
    tool_name: str | None = None
    tool_input: dict[str, JSON] | None = None


@dataclass(slots=True)
class _Ids:
    """Every invented identifier of one reply, drawn from the rng in a fixed order."""

    message_id: str
    tool_id: str
    headers: dict[str, str]


class AnthropicMessages(Dialect):
    """The Messages wire format of api.anthropic.com."""

    name = "anthropic-messages"
    paths = ("/v1/messages",)
    default_host = "api.anthropic.com"
    in_band_error_status = 529

    def parse(self, path: str, body: bytes, headers: Mapping[str, str]) -> ModelRequest:
        """Read model, stream flag, schema, forced tool, token limit and prompt text from a request."""
        data = decode_body(body, ("model", "messages", "max_tokens"))
        model, messages, max_tokens = data["model"], data["messages"], data["max_tokens"]
        if not isinstance(model, str):
            raise ValueError("'model' must be a string")
        if not isinstance(messages, list):
            raise ValueError("'messages' must be a list")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise ValueError("'max_tokens' must be an integer")
        forced_tool, tool_schema = _forced_tool(data)
        return self.request(
            path,
            data,
            headers,
            model=model,
            response_schema=tool_schema if forced_tool else _output_schema(data),
            forced_tool=forced_tool,
            max_tokens=max_tokens,
            prompt_text=_prompt_text(data.get("system"), messages),
        )

    def render(self, completion: Completion, request: ModelRequest, rng: random.Random) -> Envelope:
        """A ``message`` body, or the named event sequence from ``message_start`` to ``message_stop``."""
        ids = _draw_ids(rng)
        blocks, stop_reason = _content(completion)
        if request.stream:
            headers = {"content-type": "text/event-stream; charset=utf-8", **ids.headers}
            events = _stream(completion, request, blocks, stop_reason, ids, rng)
            return Envelope(headers=headers, events=events)
        body = {
            **_message_head(request, ids),
            "content": [_block_json(b, ids) for b in blocks],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens},
        }
        return Envelope(headers={"content-type": "application/json", **ids.headers}, body=body)

    def render_error(
        self, status: int, message: str, error_type: str | None, code: str | None, rng: random.Random
    ) -> Envelope:
        """``{"type": "error", "error": {type, message}, "request_id"}``; ``code`` is unused here."""
        default_type, default_message = _error_defaults(status)
        request_id = _request_id(rng)
        body = {
            "type": "error",
            "error": {"type": error_type or default_type, "message": message or default_message},
            "request_id": request_id,
        }
        headers = {"content-type": "application/json", "request-id": request_id}
        return Envelope(status=status, headers=headers, body=body)

    def stream_error_event(self, message: str, error_type: str | None) -> SseEvent:
        """``event: error`` mid-stream; the SDK raises ``APIStatusError`` (status 200) and does not retry."""
        error = {"type": error_type or "overloaded_error", "message": message or "Overloaded"}
        return SseEvent(event="error", data={"type": "error", "error": error})

    def is_stream_terminator(self, event: SseEvent) -> bool:
        """The ``message_stop`` event."""
        return event.event == "message_stop"

    def reply_text(self, body: JSON) -> str | None:
        """The ``tool_use`` input as JSON text, else the joined text blocks; None when there is no content."""
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, list):
            return None
        blocks = [b for b in content if isinstance(b, dict)]
        for block in blocks:
            if block.get("type") == "tool_use" and "input" in block:
                return json.dumps(block["input"], ensure_ascii=False)
        texts = [b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)]
        return "".join(texts) if texts else None

    def empty_output(self, envelope: Envelope, mode: str) -> None:
        """``content: []``; streams lose every ``content_block_*`` event (``mode`` does not apply)."""
        if envelope.events is None:
            envelope.body["content"] = []
        else:
            envelope.events = [e for e in envelope.events if not (e.event or "").startswith("content_block_")]

    def null_content(self, envelope: Envelope, form: str) -> None:
        """``null``: the body's ``content`` / each ``text_delta.text``; ``missing``: text blocks lose it."""
        if envelope.events is None:
            if form == "null":
                envelope.body["content"] = None
            else:
                for block in envelope.body.get("content") or []:
                    if isinstance(block, dict) and block.get("type") == "text":
                        block.pop("text", None)
            return
        for payload in _payloads(envelope.events, "content_block_start", "content_block_delta"):
            part = payload.get("content_block") or payload.get("delta")
            if isinstance(part, dict) and part.get("type") in {"text", "text_delta"}:
                blank(part, "text", form)

    def break_tool_arguments(self, envelope: Envelope, breaker: Callable[[str], str]) -> None:
        """A ``tool_use`` block's ``input`` becomes a *string*; streams: the ``input_json_delta`` parts."""
        if envelope.events is None:
            for block in envelope.body.get("content") or []:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    text = json.dumps(block.get("input"), ensure_ascii=False)
                    block["input"] = breaker(text)
            return
        groups: dict[JSON, list[Slot]] = {}
        for payload in _payloads(envelope.events, "content_block_delta"):
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "input_json_delta":
                groups.setdefault(payload.get("index"), []).append((delta, "partial_json"))
        for holders in groups.values():
            rewrite_fragments(holders, breaker)

    def strip_usage(self, envelope: Envelope) -> None:
        """The body's ``usage``; streams lose it from ``message_start`` and ``message_delta``.

        The anthropic SDK's stream accumulator then fails on ``message_delta``.
        """
        if envelope.events is None:
            if isinstance(envelope.body, dict):
                envelope.body.pop("usage", None)
            return
        for payload in _payloads(envelope.events, "message_start", "message_delta"):
            message = payload.get("message")
            (message if isinstance(message, dict) else payload).pop("usage", None)

    def tax_usage(self, envelope: Envelope, reasoning_tokens: int, multiplier: float) -> None:
        """``output_tokens`` of the body or of ``message_delta``."""
        if envelope.events is None:
            usages = [envelope.body.get("usage")] if isinstance(envelope.body, dict) else []
        else:
            usages = [payload.get("usage") for payload in _payloads(envelope.events, "message_delta")]
        for usage in usages:
            if isinstance(usage, dict):
                usage["output_tokens"] = (
                    round(int(usage.get("output_tokens") or 0) * multiplier) + reasoning_tokens
                )

    def content_filtered(self, envelope: Envelope, fraction: float | None) -> None:
        """Stop reason ``refusal``; text blocks and ``input_json_delta`` fragments cut at ``fraction``."""
        if envelope.events is None:
            _filter_body(envelope.body, fraction)
            return
        for payload in _payloads(envelope.events, "message_delta"):
            if isinstance(payload.get("delta"), dict):
                payload["delta"]["stop_reason"] = "refusal"
        if fraction is not None:
            envelope.events = cut_stream(envelope.events, _text_slot, fraction)


def _forced_tool(data: dict[str, JSON]) -> tuple[str | None, dict[str, JSON] | None]:
    """The tool the request forces and its ``input_schema``.

    ``tool_choice: {"type": "tool", "name": X}`` forces X; ``{"type": "any"}`` with exactly
    one tool forces that one, as the model then has no other choice.
    """
    tools = [t for t in _list(data.get("tools")) if isinstance(t, dict) and isinstance(t.get("name"), str)]
    choice = data.get("tool_choice")
    name: str | None = None
    if isinstance(choice, dict) and choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        name = choice["name"]
    elif isinstance(choice, dict) and choice.get("type") == "any" and len(tools) == 1:
        name = tools[0]["name"]
    if name is None:
        return None, None
    schema = next((t.get("input_schema") for t in tools if t["name"] == name), None)
    return name, schema if isinstance(schema, dict) else None


def _output_schema(data: dict[str, JSON]) -> dict[str, JSON] | None:
    """The JSON Schema of structured outputs, ``output_config: {"format": {"type": "json_schema", ...}}``."""
    config = data.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def _prompt_text(system: JSON, messages: list[JSON]) -> str:
    """The system prompt and every message's text, tool results included."""
    texts = _texts(system)
    for message in messages:
        if not isinstance(message, dict):
            raise ValueError("each of 'messages' must be an object")
        texts.extend(_texts(message.get("content")))
    return "\n".join(texts)


def _texts(content: JSON) -> list[str]:
    """Text of a string, or of the ``text`` blocks (and ``tool_result`` contents) in a block list."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in _list(content):
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts.extend(_texts(block.get("content")))
    return texts


def _list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


def _draw_ids(rng: random.Random) -> _Ids:
    """Draw ids and success headers; the order of draws is part of the byte-identical promise."""
    message_id = "msg_01" + random_token(rng, 22)
    tool_id = "toolu_01" + random_token(rng, 22)
    request_id = _request_id(rng)
    now = between(rng, *CREATED_RANGE)
    headers = {"request-id": request_id}
    for kind, limits in (
        ("requests", (50, 1_000, 4_000)),
        ("input-tokens", (40_000, 400_000, 2_000_000)),
        ("output-tokens", (8_000, 80_000, 400_000)),
        ("tokens", (48_000, 480_000, 2_400_000)),
    ):
        limit = limits[below(rng, len(limits))]
        headers[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{kind}-remaining"] = str(limit - between(rng, 1, max(1, limit // 50)))
        headers[f"anthropic-ratelimit-{kind}-reset"] = _rfc3339(now + between(rng, 1, 60))
    return _Ids(message_id, tool_id, headers)


def _request_id(rng: random.Random) -> str:
    return "req_011C" + random_token(rng, 20)


def _rfc3339(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_defaults(status: int) -> tuple[str, str]:
    if status in _ERROR_DEFAULTS:
        return _ERROR_DEFAULTS[status]
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    return ("api_error" if status >= 500 else "invalid_request_error"), phrase


def _content(completion: Completion) -> tuple[list[_Block], str]:
    """The content blocks and ``stop_reason`` for a completion (see the module docstring on tools)."""
    stop_reason = _STOP_REASON[completion.finish]
    if completion.refusal is not None:
        return [_Block(completion.refusal)], "refusal"
    text = text_of(completion)
    if text is None:
        return [], stop_reason
    if completion.tool_name is not None:
        # A tool call carries its input parsed: a lazy text is built here (the reply holds the object anyway).
        text = str(text)
        tool_input = _json_object(text)
        if tool_input is not None:
            stop_reason = "tool_use" if completion.finish is Finish.STOP else stop_reason
            return [_Block(text, completion.tool_name, tool_input)], stop_reason
    return [_Block(text)], stop_reason


def _json_object(text: str) -> dict[str, JSON] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _block_json(block: _Block, ids: _Ids) -> dict[str, JSON]:
    if block.tool_name is None:
        return {"type": "text", "text": block.text}
    return {"type": "tool_use", "id": ids.tool_id, "name": block.tool_name, "input": block.tool_input}


def _message_head(request: ModelRequest, ids: _Ids) -> dict[str, JSON]:
    return {"id": ids.message_id, "type": "message", "role": "assistant", "model": request.model}


def _stream(
    completion: Completion,
    request: ModelRequest,
    blocks: list[_Block],
    stop_reason: str,
    ids: _Ids,
    rng: random.Random,
) -> list[SseEvent]:
    """``message_start``, per block start/ping/deltas/stop, ``message_delta``, ``message_stop``."""
    start_usage = {"input_tokens": completion.input_tokens, "output_tokens": min(1, completion.output_tokens)}
    start = {
        **_message_head(request, ids),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events = [_event("message_start", message=start)]
    for index, block in enumerate(blocks):
        events.append(_event("content_block_start", index=index, content_block=_block_start(block, ids)))
        if index == 0:
            events.append(_event("ping"))
        delta_type, key = (
            ("text_delta", "text") if block.tool_name is None else ("input_json_delta", "partial_json")
        )
        for piece in split_text(block.text, rng):
            events.append(_event("content_block_delta", index=index, delta={"type": delta_type, key: piece}))
        events.append(_event("content_block_stop", index=index))
    if not blocks:
        events.append(_event("ping"))
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    events.append(_event("message_delta", delta=delta, usage={"output_tokens": completion.output_tokens}))
    events.append(_event("message_stop"))
    return events


def _block_start(block: _Block, ids: _Ids) -> dict[str, JSON]:
    if block.tool_name is None:
        return {"type": "text", "text": ""}
    return {"type": "tool_use", "id": ids.tool_id, "name": block.tool_name, "input": {}}


def _event(kind: str, **fields: JSON) -> SseEvent:
    return SseEvent(event=kind, data={"type": kind, **fields})


# --------------------------------------------------------------------------- envelope fault hooks


def _payloads(events: list[SseEvent], *kinds: str) -> Iterator[dict[str, JSON]]:
    """Payloads of the events named ``kinds``."""
    return (e.data for e in events if e.event in kinds and isinstance(e.data, dict))


def _filter_body(body: JSON, fraction: float | None) -> None:
    if not isinstance(body, dict):
        return
    body["stop_reason"] = "refusal"
    for block in body.get("content") or []:
        if fraction is not None and isinstance(block, dict) and isinstance(block.get("text"), str):
            block["text"] = cut(block["text"], fraction)


def _text_slot(event: SseEvent) -> Slot | None:
    """Where a ``content_block_delta`` carries generated text (holder dict and key), if it does."""
    data = event.data
    if not isinstance(data, dict):
        return None
    delta = data.get("delta") if event.event == "content_block_delta" else None
    if isinstance(delta, dict):
        key = {"text_delta": "text", "input_json_delta": "partial_json"}.get(str(delta.get("type")))
        if key and isinstance(delta.get(key), str):
            return delta, key
    return None


ANTHROPIC_MESSAGES = DIALECTS.add(AnthropicMessages.name, AnthropicMessages())
"""The registered ``anthropic-messages`` dialect."""
