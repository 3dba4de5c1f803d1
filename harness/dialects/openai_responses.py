"""OpenAI Responses (``POST /v1/responses``), as openai-python reads it.

Bodies and named stream events follow ``reference/wire-formats.md``; the installed SDK's
pydantic types (``Response``, ``ResponseStreamEvent``) are the check. Error envelopes are
Chat Completions' (:func:`~harness.dialects.openai_chat.error_envelope`).

Finish mapping: LENGTH and CONTENT_FILTER make the response ``incomplete`` with
``incomplete_details.reason`` ``max_output_tokens`` / ``content_filter`` (the stream then
ends in ``response.incomplete``); REFUSAL is a ``refusal`` content part in a completed
response. Hidden reasoning tokens put a ``reasoning`` item first in ``output``, as
reasoning models do, so ``output[0]`` is not always the message.

An error inside a 200 stream is ``event: error`` with the fields nested under ``error``:
the shape api.openai.com sends at runtime and the only one openai-python raises
``APIError`` on. The flat shape of the API reference (``code``/``message`` at the top)
is yielded by the SDK as an ordinary ``ResponseErrorEvent`` and never raised, and
``response.failed`` is yielded too; both are left to the pipeline.

The envelope fault hooks (``empty_output``…) find things through the shape helpers at the
end (:func:`text_slots`, :func:`lifecycle_responses`, :func:`renumber`…).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from harness.dialects.base import (
    DIALECTS,
    Dialect,
    Slot,
    Text,
    blank,
    cut,
    decode_body,
    random_token,
    split_text,
    spread,
    text_of,
)
from harness.dialects.openai_chat import (
    CREATED_RANGE,
    DEFAULT_REFUSAL,
    HEX,
    error_envelope,
    success_headers,
    tax_usage_counts,
)
from harness.seeding import between
from harness.wire import JSON, Completion, Envelope, Finish, ModelRequest, SseEvent

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
"""The event types that end a Responses stream."""

LIFECYCLE_EVENTS = frozenset({"response.created", "response.in_progress", *TERMINAL_EVENTS})
"""The event types that carry the whole response object."""

OUTPUT_EVENT_PREFIXES = (
    "response.output_item.",
    "response.content_part.",
    "response.output_text.",
    "response.refusal.",
    "response.function_call_arguments.",
)
"""Prefixes of the event types that build the ``output`` list piece by piece."""

STREAM_ERROR_MESSAGE = (
    "An error occurred while processing your request. You can retry your request, or contact us "
    "through our help center at help.openai.com if the error persists."
)
"""What api.openai.com says in a mid-stream ``server_error``."""

_INCOMPLETE_REASON = {Finish.LENGTH: "max_output_tokens", Finish.CONTENT_FILTER: "content_filter"}
_DEFAULT_TEXT_CONFIG: dict[str, JSON] = {"format": {"type": "text"}, "verbosity": "medium"}


@dataclass(slots=True)  # not frozen: built for every reply, and a frozen init costs 4x
class _Output:
    """What the reply's ``output`` carries, decided once for the JSON and the stream renderings."""

    text: Text | None
    """The message's ``output_text``; None (without refusal or tool call): no message item."""
    refusal: str | None
    tool_name: str | None
    arguments: Text | None
    reasoning: bool
    """A ``reasoning`` item comes first (the completion reports hidden reasoning tokens)."""
    incomplete_reason: str | None


@dataclass(slots=True)
class _Ids:
    """Every invented identifier of one reply, drawn from the rng in a fixed order."""

    response_id: str
    created_at: int
    completed_at: int
    message_id: str
    function_id: str
    call_id: str
    reasoning_id: str
    headers: dict[str, str]


class OpenAIResponses(Dialect):
    """The Responses wire format of api.openai.com (``client.responses.create/parse/stream``)."""

    name = "openai-responses"
    paths = ("/v1/responses", "/responses")
    default_host = "api.openai.com"

    def parse(self, path: str, body: bytes, headers: Mapping[str, str]) -> ModelRequest:
        """Read model, stream flag, text format schema, forced tool, token limit and prompt text."""
        data = decode_body(body, ("model",))
        model = data["model"]
        if not isinstance(model, str):
            raise ValueError("'model' must be a string")
        forced_tool, tool_schema = _forced_tool(data)
        return self.request(
            path,
            data,
            headers,
            model=model,
            response_schema=tool_schema if forced_tool else _text_format_schema(data),
            forced_tool=forced_tool,
            max_tokens=_token_limit(data),
            prompt_text=_prompt_text(data),
        )

    def render(self, completion: Completion, request: ModelRequest, rng: random.Random) -> Envelope:
        """A ``response`` object, or named events from ``response.created`` to the terminal one."""
        ids = _draw_ids(rng)
        output = _output(completion)
        if request.stream:
            headers = {"content-type": "text/event-stream; charset=utf-8", **ids.headers}
            return Envelope(headers=headers, events=_stream(completion, request, output, ids, rng))
        headers = {"content-type": "application/json", **ids.headers}
        return Envelope(headers=headers, body=_response(completion, request, output, ids))

    def render_error(
        self, status: int, message: str, error_type: str | None, code: str | None, rng: random.Random
    ) -> Envelope:
        """``{"error": {message, type, param, code}}``: the same envelope as Chat Completions."""
        return error_envelope(status, message, error_type, code, rng)

    def stream_error_event(self, message: str, error_type: str | None) -> SseEvent:
        """``event: error``, fields nested under ``error`` (live shape): openai-python raises ``APIError``.

        ``sequence_number`` is 0 here; whoever places the event in a stream renumbers it (:func:`renumber`).
        """
        kind = error_type or "server_error"
        error = {"type": kind, "code": kind, "message": message or STREAM_ERROR_MESSAGE, "param": None}
        return SseEvent(event="error", data={"type": "error", "sequence_number": 0, "error": error})

    def is_stream_terminator(self, event: SseEvent) -> bool:
        """``response.completed``, ``response.incomplete`` or ``response.failed``."""
        return event_type(event) in TERMINAL_EVENTS

    def reply_text(self, body: JSON) -> str | None:
        """The first function call's arguments, else the messages' ``output_text`` joined; None if absent."""
        if not isinstance(body, dict):
            return None
        items = [item for item in _list(body.get("output")) if isinstance(item, dict)]
        for item in items:
            if item.get("type") == "function_call":
                arguments = item.get("arguments")
                return arguments if isinstance(arguments, str) else None
        texts = [
            part.get("text")
            for item in items
            if item.get("type") == "message"
            for part in _list(item.get("content"))
            if isinstance(part, dict) and part.get("type") == "output_text"
        ]
        if not texts or not all(isinstance(text, str) for text in texts):
            return None
        return "".join(str(text) for text in texts)

    def empty_output(self, envelope: Envelope, mode: str) -> None:
        """``output: []`` everywhere; streams lose every output item event (``mode`` does not apply)."""
        if envelope.events is None:
            if isinstance(envelope.body, dict):
                envelope.body["output"] = []
            return
        building = OUTPUT_EVENT_PREFIXES
        envelope.events = [e for e in envelope.events if not (event_type(e) or "").startswith(building)]
        for response in lifecycle_responses(envelope.events):
            response["output"] = []
        renumber(envelope.events)

    def null_content(self, envelope: Envelope, form: str) -> None:
        """Every ``output_text`` part's text and every ``output_text`` delta and done event's text.

        Function-call arguments are left alone.
        """
        for slots in text_slots(envelope.body, envelope.events).values():
            if slots.kind == "output_text":
                for holder, key in (*slots.full, *slots.deltas, *slots.started):
                    blank(holder, key, form)

    def break_tool_arguments(self, envelope: Envelope, breaker: Callable[[str], str]) -> None:
        """A ``function_call`` item's ``arguments``; streams: deltas, ``done`` event, finished items."""
        for slots in text_slots(envelope.body, envelope.events).values():
            if slots.kind == "function_call":
                _respread(slots, breaker(slots.text))

    def strip_usage(self, envelope: Envelope) -> None:
        """The body's ``usage``; streams lose it from every ``response`` object."""
        if envelope.events is not None:
            for response in lifecycle_responses(envelope.events):
                response.pop("usage", None)
        elif isinstance(envelope.body, dict):
            envelope.body.pop("usage", None)

    def tax_usage(self, envelope: Envelope, reasoning_tokens: int, multiplier: float) -> None:
        """``output_tokens`` and its ``reasoning_tokens`` detail grow; ``total_tokens`` follows."""
        if envelope.events is None:
            usages = [envelope.body.get("usage")] if isinstance(envelope.body, dict) else []
        else:
            usages = [response.get("usage") for response in lifecycle_responses(envelope.events)]
        for usage in usages:
            if isinstance(usage, dict):
                tax_usage_counts(usage, "output_tokens", "input_tokens", reasoning_tokens, multiplier)

    def content_filtered(self, envelope: Envelope, fraction: float | None) -> None:
        """Status ``incomplete`` (reason ``content_filter``), the stream ending in ``response.incomplete``."""
        if envelope.events is None:
            finished = [envelope.body] if isinstance(envelope.body, dict) else []
        else:
            set_terminal(envelope.events, "response.incomplete")
            finished = [r for r in lifecycle_responses(envelope.events) if r.get("status") != "in_progress"]
        for response in finished:
            response["status"] = "incomplete"
            response["incomplete_details"] = {"reason": "content_filter"}
        if fraction is None:
            return
        emptied: set[int] = set()
        for slots in text_slots(envelope.body, envelope.events).values():
            _respread(slots, cut(slots.text, fraction))
            emptied.update(id(holder) for holder, key in slots.deltas if holder.get(key) == "")
        if envelope.events is not None and emptied:
            # The filter stopped generation: fragments past the cut were never sent.
            envelope.events = [e for e in envelope.events if id(e.data) not in emptied]
            renumber(envelope.events)

    def events_edited(self, events: list[SseEvent]) -> None:
        """Renumber ``sequence_number`` so it stays consecutive."""
        renumber(events)


# --------------------------------------------------------------------------- parsing


def _forced_tool(data: dict[str, JSON]) -> tuple[str | None, dict[str, JSON] | None]:
    """The function the request forces and its parameter schema.

    Responses function tools are flat (``{"type": "function", "name", "parameters"}``).
    ``tool_choice: {"type": "function", "name": X}`` forces X; ``"required"`` with exactly
    one function tool forces that one.
    """
    tools = [t for t in _list(data.get("tools")) if isinstance(t, dict) and t.get("type") == "function"]
    choice = data.get("tool_choice")
    name: str | None = None
    if isinstance(choice, dict) and choice.get("type") == "function":
        candidate = choice.get("name")
        name = candidate if isinstance(candidate, str) else None
    elif choice == "required" and len(tools) == 1 and isinstance(tools[0].get("name"), str):
        name = tools[0]["name"]
    if name is None:
        return None, None
    schema = next((t.get("parameters") for t in tools if t.get("name") == name), None)
    return name, schema if isinstance(schema, dict) else None


def _text_format_schema(data: dict[str, JSON]) -> dict[str, JSON] | None:
    """The JSON Schema of ``text.format: {"type": "json_schema", "schema": ...}`` (``.parse()`` sends it)."""
    text = data.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def _token_limit(data: dict[str, JSON]) -> int | None:
    value = data.get("max_output_tokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("'max_output_tokens' must be an integer")
    return value


def _prompt_text(data: dict[str, JSON]) -> str:
    """``instructions`` and every text of ``input`` (a string, or items with string or part content)."""
    texts: list[str] = []
    instructions = data.get("instructions")
    if isinstance(instructions, str):
        texts.append(instructions)
    given = data.get("input")
    if isinstance(given, str):
        texts.append(given)
    elif isinstance(given, list):
        for item in given:
            if not isinstance(item, dict):
                raise ValueError("each of 'input' must be an object")
            texts.extend(_item_texts(item))
    elif given is not None:
        raise ValueError("'input' must be a string or a list")
    return "\n".join(texts)


def _item_texts(item: dict[str, JSON]) -> list[str]:
    """Texts of one input item: message content (string or ``input_text`` parts), tool outputs."""
    texts = [item["output"]] if isinstance(item.get("output"), str) else []
    content = item.get("content")
    if isinstance(content, str):
        texts.append(content)
    for part in _list(content):
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return texts


def _list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------- rendering


def _draw_ids(rng: random.Random) -> _Ids:
    """Draw ids and success headers; the order of draws is part of the byte-identical promise."""
    response_id = "resp_" + random_token(rng, 50, HEX)
    created_at = between(rng, *CREATED_RANGE)
    completed_at = created_at + between(rng, 1, 9)
    message_id = "msg_" + random_token(rng, 50, HEX)
    function_id = "fc_" + random_token(rng, 50, HEX)
    call_id = "call_" + random_token(rng, 24)
    reasoning_id = "rs_" + random_token(rng, 50, HEX)
    return _Ids(
        response_id,
        created_at,
        completed_at,
        message_id,
        function_id,
        call_id,
        reasoning_id,
        success_headers(rng),
    )


def _output(completion: Completion) -> _Output:
    """Map the abstract completion to the output items: refusal, function call or text."""
    refusal = completion.refusal
    if refusal is None and completion.finish is Finish.REFUSAL:
        refusal = DEFAULT_REFUSAL
    reason = _INCOMPLETE_REASON.get(completion.finish)
    reasoning = completion.reasoning_tokens > 0
    if refusal is not None:
        return _Output(None, refusal, None, None, reasoning, reason)
    text = text_of(completion)
    if completion.tool_name is not None and text is not None:
        return _Output(None, None, completion.tool_name, text, reasoning, reason)
    return _Output(text, None, None, None, reasoning, reason)


def _item_status(output: _Output) -> str:
    return "incomplete" if output.incomplete_reason else "completed"


def _reasoning_item(ids: _Ids) -> dict[str, JSON]:
    return {"id": ids.reasoning_id, "type": "reasoning", "summary": []}


def _text_part(text: Text) -> dict[str, JSON]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _refusal_part(refusal: str) -> dict[str, JSON]:
    return {"type": "refusal", "refusal": refusal}


def _message_item(ids: _Ids, status: str, content: list[JSON]) -> dict[str, JSON]:
    return {
        "id": ids.message_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _function_item(ids: _Ids, output: _Output, status: str, arguments: Text) -> dict[str, JSON]:
    return {
        "id": ids.function_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": ids.call_id,
        "name": output.tool_name,
    }


def _items(output: _Output, ids: _Ids) -> list[dict[str, JSON]]:
    """The finished ``output`` list."""
    status = _item_status(output)
    items = [_reasoning_item(ids)] if output.reasoning else []
    if output.refusal is not None:
        items.append(_message_item(ids, status, [_refusal_part(output.refusal)]))
    elif output.tool_name is not None:
        items.append(_function_item(ids, output, status, output.arguments or ""))
    elif output.text is not None:
        items.append(_message_item(ids, status, [_text_part(output.text)]))
    return items


def _usage(completion: Completion) -> dict[str, JSON]:
    return {
        "input_tokens": completion.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion.output_tokens,
        "output_tokens_details": {"reasoning_tokens": completion.reasoning_tokens},
        "total_tokens": completion.input_tokens + completion.output_tokens,
    }


def _echo(request: ModelRequest, key: str, default: JSON, kind: type | tuple[type, ...]) -> JSON:
    """The request's own ``key`` if it has the right JSON type (the API echoes settings), else ``default``."""
    value = request.body.get(key)
    return copy.deepcopy(value) if isinstance(value, kind) else default


def _text_config(request: ModelRequest) -> dict[str, JSON]:
    text = request.body.get("text")
    if not isinstance(text, dict) or not isinstance(text.get("format"), dict):
        return copy.deepcopy(_DEFAULT_TEXT_CONFIG)
    return {"format": copy.deepcopy(text["format"]), "verbosity": text.get("verbosity") or "medium"}


def _response(
    completion: Completion, request: ModelRequest, output: _Output, ids: _Ids, *, final: bool = True
) -> dict[str, JSON]:
    """The ``response`` object: finished (``final``), or as ``response.created`` shows it."""
    status = ("incomplete" if output.incomplete_reason else "completed") if final else "in_progress"
    incomplete = {"reason": output.incomplete_reason} if final and output.incomplete_reason else None
    return {
        "id": ids.response_id,
        "object": "response",
        "created_at": ids.created_at,
        "status": status,
        "background": False,
        "completed_at": ids.completed_at if final else None,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": _echo(request, "instructions", None, str),
        "max_output_tokens": request.max_tokens,
        "max_tool_calls": _echo(request, "max_tool_calls", None, int),
        "model": request.model,
        "output": _items(output, ids) if final else [],
        "parallel_tool_calls": _echo(request, "parallel_tool_calls", True, bool),
        "previous_response_id": _echo(request, "previous_response_id", None, str),
        "reasoning": _echo(request, "reasoning", {"effort": None, "summary": None}, dict),
        "service_tier": "default",
        "store": _echo(request, "store", True, bool),
        "temperature": _echo(request, "temperature", 1.0, (int, float)),
        "text": _text_config(request),
        "tool_choice": _echo(request, "tool_choice", "auto", (str, dict)),
        "tools": _echo(request, "tools", [], list),
        "top_p": _echo(request, "top_p", 1.0, (int, float)),
        "truncation": _echo(request, "truncation", "disabled", str),
        "usage": _usage(completion) if final else None,
        "user": _echo(request, "user", None, str),
        "metadata": _echo(request, "metadata", {}, dict),
    }


@dataclass(slots=True)
class _Events:
    """Builds the stream: numbers events in order and names each after its type."""

    events: list[SseEvent] = field(default_factory=list)

    def add(self, kind: str, **fields: JSON) -> None:
        data: dict[str, JSON] = {"type": kind, "sequence_number": len(self.events), **fields}
        self.events.append(SseEvent(event=kind, data=data))


def _stream(
    completion: Completion, request: ModelRequest, output: _Output, ids: _Ids, rng: random.Random
) -> list[SseEvent]:
    """``response.created``, ``response.in_progress``, each output item piece by piece, the terminal event."""
    out = _Events()
    head = _response(completion, request, output, ids, final=False)
    out.add("response.created", response=head)
    out.add("response.in_progress", response=copy.deepcopy(head))
    final = _response(completion, request, output, ids)
    for index, item in enumerate(final["output"]):
        _stream_item(out, index, item, rng)
    out.add(f"response.{final['status']}", response=final)
    return out.events


def _stream_item(out: _Events, index: int, item: dict[str, JSON], rng: random.Random) -> None:
    """``output_item.added``, the item's content events, ``output_item.done``."""
    if item["type"] == "function_call":
        started = {**item, "status": "in_progress", "arguments": ""}
        out.add("response.output_item.added", output_index=index, item=started)
        where: dict[str, JSON] = {"item_id": item["id"], "output_index": index}
        arguments = item["arguments"]
        for piece in split_text(arguments, rng):
            out.add("response.function_call_arguments.delta", **where, delta=piece)
        out.add("response.function_call_arguments.done", **where, arguments=arguments)
    elif item["type"] == "message":
        started = {**item, "status": "in_progress", "content": []}
        out.add("response.output_item.added", output_index=index, item=started)
        for content_index, part in enumerate(item["content"]):
            _stream_part(out, index, item["id"], content_index, part, rng)
    else:
        out.add("response.output_item.added", output_index=index, item=copy.deepcopy(item))
    out.add("response.output_item.done", output_index=index, item=copy.deepcopy(item))


def _stream_part(
    out: _Events, index: int, item_id: str, content_index: int, part: dict[str, JSON], rng: random.Random
) -> None:
    """``content_part.added``, the deltas and ``done`` of one text or refusal part, ``content_part.done``."""
    where: dict[str, JSON] = {"item_id": item_id, "output_index": index, "content_index": content_index}
    if part["type"] == "refusal":
        refusal = part["refusal"]
        out.add("response.content_part.added", **where, part=_refusal_part(""))
        for piece in split_text(refusal, rng):
            out.add("response.refusal.delta", **where, delta=piece)
        out.add("response.refusal.done", **where, refusal=refusal)
    else:
        text = part["text"]
        out.add("response.content_part.added", **where, part=_text_part(""))
        for piece in split_text(text, rng):
            out.add("response.output_text.delta", **where, delta=piece, logprobs=[])
        out.add("response.output_text.done", **where, text=text, logprobs=[])
    out.add("response.content_part.done", **where, part=copy.deepcopy(part))


# --------------------------------------------------------------------------- shape helpers (envelope faults)

SlotKind = Literal["output_text", "function_call"]


@dataclass(slots=True)
class TextSlots:
    """Every place one output text (a message's ``output_text`` part, or a call's arguments) appears."""

    kind: SlotKind
    full: list[Slot] = field(default_factory=list)
    """Places holding the finished text: body/terminal output items, ``*.done`` events."""
    deltas: list[Slot] = field(default_factory=list)
    """Stream fragments, in order; their concatenation is the text."""
    started: list[Slot] = field(default_factory=list)
    """The empty placeholders of ``content_part.added`` / ``output_item.added``."""

    @property
    def text(self) -> str:
        """The text as the envelope carries it now (first finished copy, else the joined fragments)."""
        for holder, key in self.full:
            if isinstance(holder.get(key), str):
                return str(holder[key])
        return "".join(str(holder.get(key) or "") for holder, key in self.deltas)


SlotKey = tuple[str, int]
"""(item id, content index) of one text; function calls use content index 0."""


def event_type(event: SseEvent) -> str | None:
    """The event's ``type`` (from its JSON, else its ``event:`` line)."""
    if isinstance(event.data, dict) and isinstance(event.data.get("type"), str):
        return str(event.data["type"])
    return event.event


def lifecycle_responses(events: list[SseEvent]) -> Iterator[dict[str, JSON]]:
    """The response objects of ``response.created`` / ``in_progress`` / terminal events."""
    for event in events:
        if event_type(event) in LIFECYCLE_EVENTS and isinstance(event.data, dict):
            response = event.data.get("response")
            if isinstance(response, dict):
                yield response


def renumber(events: list[SseEvent]) -> None:
    """Give the events' ``sequence_number`` their positions again after events were added or dropped."""
    for position, event in enumerate(events):
        if isinstance(event.data, dict) and "sequence_number" in event.data:
            event.data["sequence_number"] = position


def set_terminal(events: list[SseEvent], kind: str) -> None:
    """Make the terminal event ``kind`` (``response.incomplete``…), its ``event:`` line included."""
    for event in events:
        if event_type(event) in TERMINAL_EVENTS and isinstance(event.data, dict):
            event.event = kind
            event.data["type"] = kind


def text_slots(body: JSON, events: list[SseEvent] | None) -> dict[SlotKey, TextSlots]:
    """Where each output text lives in a non-streaming ``body`` or in stream ``events``."""
    found: dict[SlotKey, TextSlots] = {}

    def slots(key: SlotKey, kind: SlotKind) -> TextSlots:
        return found.setdefault(key, TextSlots(kind))

    def visit_items(items: JSON, bucket: Literal["full", "started"]) -> None:
        for item in _list(items):
            if isinstance(item, dict):
                for key, kind, slot in _item_slots(item):
                    getattr(slots(key, kind), bucket).append(slot)

    if events is None:
        visit_items(body.get("output") if isinstance(body, dict) else None, "full")
        return found
    for event in events:
        data, kind = event.data, event_type(event)
        if not isinstance(data, dict) or kind is None:
            continue
        where = (str(data.get("item_id")), _int(data.get("content_index")))
        if kind in TERMINAL_EVENTS and isinstance(data.get("response"), dict):
            visit_items(data["response"].get("output"), "full")
        elif kind in {"response.output_item.added", "response.output_item.done"}:
            visit_items([data.get("item")], "started" if kind.endswith("added") else "full")
        elif kind in {"response.content_part.added", "response.content_part.done"}:
            part = data.get("part")
            if isinstance(part, dict) and part.get("type") == "output_text":
                text = slots(where, "output_text")
                (text.started if kind.endswith("added") else text.full).append((part, "text"))
        elif kind == "response.output_text.delta":
            slots(where, "output_text").deltas.append((data, "delta"))
        elif kind == "response.output_text.done":
            slots(where, "output_text").full.append((data, "text"))
        elif kind == "response.function_call_arguments.delta":
            slots(where, "function_call").deltas.append((data, "delta"))
        elif kind == "response.function_call_arguments.done":
            slots(where, "function_call").full.append((data, "arguments"))
    return found


def _item_slots(item: dict[str, JSON]) -> Iterator[tuple[SlotKey, SlotKind, Slot]]:
    """The text slots inside one output item."""
    item_id = str(item.get("id"))
    if item.get("type") == "function_call":
        yield (item_id, 0), "function_call", (item, "arguments")
    elif item.get("type") == "message":
        for index, part in enumerate(_list(item.get("content"))):
            if isinstance(part, dict) and part.get("type") == "output_text":
                yield (item_id, index), "output_text", (part, "text")


def _respread(slots: TextSlots, text: str) -> None:
    """Put ``text`` in every finished copy and spread it over the stream fragments (their layout kept)."""
    for holder, key in slots.full:
        holder[key] = text
    fragments = [str(holder.get(key) or "") for holder, key in slots.deltas]
    for (holder, key), piece in zip(slots.deltas, spread(fragments, text), strict=True):
        holder[key] = piece


def _int(value: JSON) -> int:
    return value if isinstance(value, int) else 0


OPENAI_RESPONSES = DIALECTS.add(OpenAIResponses.name, OpenAIResponses())
"""The registered ``openai-responses`` dialect."""
