"""Envelope faults: the provider JSON around the completion is wrong, the content is fine.

Each fault takes an :class:`~harness.wire.Envelope` and returns a modified deep copy (the
input is never mutated). Every fault handles the three dialects (``openai-chat``,
``anthropic-messages``, ``openai-responses``) and both forms: a non-streaming ``body`` dict
and a streaming ``events`` list. Any other dialect is refused with a one-line :class:`UsageError`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import pydantic
from pydantic_core import PydanticCustomError

from harness.dialects import openai_responses as responses
from harness.dialects.base import Dialect
from harness.errors import UsageError
from harness.faults.base import FaultContext, Layer, Params, fault
from harness.wire import JSON, Envelope, SseEvent

Family = Literal["openai", "anthropic", "responses"]
"""The envelope shapes these faults know."""
_FAMILIES: dict[str, Family] = {
    "openai-chat": "openai",
    "anthropic-messages": "anthropic",
    "openai-responses": "responses",
}

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


def _family(fault_name: str, ctx: FaultContext) -> Family:
    try:
        return _FAMILIES[ctx.request.dialect]
    except KeyError:
        supported = ", ".join(_FAMILIES)
        raise UsageError(
            f"fault {fault_name!r} does not support dialect {ctx.request.dialect!r}; supported: {supported}"
        ) from None


def _copy(envelope: Envelope) -> Envelope:
    """A deep copy: headers, body and events are fresh, so edits never reach the input."""
    return dataclasses.replace(
        envelope,
        headers=dict(envelope.headers),
        body=copy.deepcopy(envelope.body),
        events=copy.deepcopy(envelope.events),
    )


def _dicts(events: list[SseEvent]) -> Iterator[dict[str, JSON]]:
    """The JSON object payloads of ``events`` (``[DONE]`` and other raw strings skipped)."""
    return (e.data for e in events if isinstance(e.data, dict))


def _choices(chunk: dict[str, JSON]) -> list[dict[str, JSON]]:
    choices = chunk.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def _anthropic_payloads(events: list[SseEvent], *kinds: str) -> Iterator[dict[str, JSON]]:
    """Payloads of the Anthropic events named ``kinds``."""
    return (e.data for e in events if e.event in kinds and isinstance(e.data, dict))


def _redistribute(fragments: list[str], text: str) -> list[str]:
    """Spread ``text`` over pieces as long as ``fragments``; the last piece takes any excess."""
    out, pos = [], 0
    for i, fragment in enumerate(fragments):
        size = len(text) - pos if i == len(fragments) - 1 else len(fragment)
        out.append(text[pos : pos + size])
        pos += size
    return out


def _cut(text: str, fraction: float) -> str:
    return text[: math.floor(len(text) * fraction)]


# --------------------------------------------------------------------------- empty_choices


class EmptyChoicesParams(Params):
    """Which OpenAI stream chunks lose their choices."""

    mode: Literal["leading", "all", "both"] = "leading"
    """Streams: ``leading`` adds Azure's first chunk with ``choices: []``; ``all`` empties every chunk's."""


@fault("empty_choices", Layer.ENVELOPE, params=EmptyChoicesParams)
def empty_choices(envelope: Envelope, params: EmptyChoicesParams, ctx: FaultContext) -> Envelope:
    """``choices: []`` (Azure's first stream chunk, the usage chunk): ``choices[0]`` raises IndexError.

    OpenAI: the body's choices are emptied; streams get Azure's leading prompt-filter chunk
    (``leading``), every chunk's choices emptied (``all``), or both. Anthropic: ``content: []``
    (streams lose every ``content_block_*`` event); ``mode`` does not apply. Responses:
    ``output: []`` (streams lose every output item event); ``mode`` does not apply.
    """
    out = _copy(envelope)
    family = _family("empty_choices", ctx)
    if family == "responses":
        return _responses_empty_output(out)
    if family == "anthropic":
        if out.events is None:
            out.body["content"] = []
        else:
            out.events = [e for e in out.events if not (e.event or "").startswith("content_block_")]
        return out
    if out.events is None:
        out.body["choices"] = []
        return out
    if params.mode in {"all", "both"}:
        for chunk in _dicts(out.events):
            if _choices(chunk):
                chunk["choices"] = []
    if params.mode in {"leading", "both"}:
        out.events.insert(0, SseEvent(copy.deepcopy(AZURE_LEADING_CHUNK)))
    return out


# --------------------------------------------------------------------------- null_content


class NullContentParams(Params):
    """How the content disappears."""

    form: Literal["null", "missing"] = "null"
    """``null``: the content is JSON null; ``missing``: the key is absent."""


def _blank(holder: dict[str, JSON], key: str, form: str) -> None:
    if form == "null":
        holder[key] = None
    else:
        holder.pop(key, None)


@fault("null_content", Layer.ENVELOPE, params=NullContentParams)
def null_content(envelope: Envelope, params: NullContentParams, ctx: FaultContext) -> Envelope:
    """``content: null`` where text was expected: ``json.loads(None)`` / ``"".join`` raise TypeError.

    OpenAI: ``message.content`` (kept beside ``tool_calls`` on a tool call) or every stream
    delta's ``content``. Anthropic: ``form: null`` makes the body's ``content`` null (streams:
    each ``text_delta.text`` null); ``form: missing`` drops ``text`` from text blocks and deltas.
    Responses: every ``output_text`` part's ``text`` and every ``output_text`` delta and done
    event's text (function-call arguments are left alone).
    """
    out = _copy(envelope)
    family = _family("null_content", ctx)
    if family == "responses":
        for slots in responses.text_slots(out.body, out.events).values():
            if slots.kind == "output_text":
                for holder, key in (*slots.full, *slots.deltas, *slots.started):
                    _blank(holder, key, params.form)
        return out
    if family == "openai":
        if out.events is None:
            for choice in _choices(out.body):
                if isinstance(choice.get("message"), dict):
                    _blank(choice["message"], "content", params.form)
            return out
        for chunk in _dicts(out.events):
            for choice in _choices(chunk):
                delta = choice.get("delta")
                if isinstance(delta, dict) and "content" in delta:
                    _blank(delta, "content", params.form)
        return out
    if out.events is None:
        if params.form == "null":
            out.body["content"] = None
        else:
            for block in out.body.get("content") or []:
                if isinstance(block, dict) and block.get("type") == "text":
                    block.pop("text", None)
        return out
    for payload in _anthropic_payloads(out.events, "content_block_start", "content_block_delta"):
        part = payload.get("content_block") or payload.get("delta")
        if isinstance(part, dict) and part.get("type") in {"text", "text_delta"}:
            _blank(part, "text", params.form)
    return out


# --------------------------------------------------------------------------- invalid_tool_arguments

BrokenKind = Literal["truncated", "single_quoted", "python_repr"]
"""The ways ``invalid_tool_arguments`` breaks JSON."""


class InvalidToolArgumentsParams(Params):
    """How the tool-call arguments are broken."""

    kind: BrokenKind = "truncated"
    """``truncated`` (first half), ``single_quoted`` (``'`` for ``"``), ``python_repr`` (``{'a': True}``)."""


def break_json(text: str, kind: BrokenKind) -> str:
    """``text`` (a JSON object) made invalid JSON the way ``kind`` says; falls back to truncation."""
    broken: str | None = None
    if kind == "single_quoted":
        broken = text.replace('"', "'")
    elif kind == "python_repr":
        try:
            broken = repr(json.loads(text))
        except ValueError:
            broken = None
    if broken is None or _parses(broken):
        broken = text[: max(1, len(text) // 2)] if len(text) > 1 else "{"
    return broken


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _break_fragments(holders: list[tuple[dict[str, JSON], str]], kind: BrokenKind) -> None:
    """Break the JSON spread over ``holder[key]`` fragments, keeping the fragment layout."""
    fragments = [str(holder[key]) for holder, key in holders]
    broken = break_json("".join(fragments), kind)
    for (holder, key), piece in zip(holders, _redistribute(fragments, broken), strict=True):
        holder[key] = piece


@fault("invalid_tool_arguments", Layer.ENVELOPE, params=InvalidToolArgumentsParams)
def invalid_tool_arguments(
    envelope: Envelope, params: InvalidToolArgumentsParams, ctx: FaultContext
) -> Envelope:
    """Tool-call arguments that are not valid JSON (truncated, single-quoted, a Python repr).

    OpenAI: ``tool_calls[].function.arguments`` (streams: the argument fragments of each
    call, re-spread over the same deltas). Anthropic: a ``tool_use`` block's ``input``
    becomes a *string* instead of an object (streams: the ``input_json_delta`` fragments).
    Responses: a ``function_call`` item's ``arguments`` (streams: its argument deltas, the
    ``done`` event and the finished items). A reply without a tool call is returned
    unchanged: this fault never invents one.
    """
    out = _copy(envelope)
    family = _family("invalid_tool_arguments", ctx)
    if family == "responses":
        for slots in responses.text_slots(out.body, out.events).values():
            if slots.kind == "function_call":
                _respread(slots, break_json(slots.text, params.kind))
        return out
    if family == "openai" and out.events is None:
        for choice in _choices(out.body):
            for call in _tool_calls(choice.get("message")):
                function = call.get("function")
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    function["arguments"] = break_json(function["arguments"], params.kind)
        return out
    if family == "anthropic" and out.events is None:
        for block in out.body.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                text = json.dumps(block.get("input"), ensure_ascii=False)
                block["input"] = break_json(text, params.kind)
        return out
    groups: dict[Any, list[tuple[dict[str, JSON], str]]] = {}
    if family == "openai":
        for chunk in _dicts(out.events or []):
            for choice in _choices(chunk):
                for call in _tool_calls(choice.get("delta")):
                    function = call.get("function")
                    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                        key = (choice.get("index"), call.get("index"))
                        groups.setdefault(key, []).append((function, "arguments"))
    else:
        for payload in _anthropic_payloads(out.events or [], "content_block_delta"):
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "input_json_delta":
                groups.setdefault(payload.get("index"), []).append((delta, "partial_json"))
    for holders in groups.values():
        _break_fragments(holders, params.kind)
    return out


def _tool_calls(message: JSON) -> list[dict[str, JSON]]:
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


# --------------------------------------------------------------------------- missing_usage


@fault("missing_usage", Layer.ENVELOPE)
def missing_usage(envelope: Envelope, params: Params, ctx: FaultContext) -> Envelope:
    """No ``usage`` in the reply: token accounting and cost tracking read None (or KeyError).

    OpenAI: the body's ``usage``; streams lose the usage chunk and every ``usage`` field.
    Anthropic: the body's ``usage``; streams lose it from ``message_start`` and
    ``message_delta`` (the anthropic SDK's stream accumulator then fails on ``message_delta``).
    Responses: the body's ``usage``; streams lose it from every ``response`` object.
    """
    out = _copy(envelope)
    family = _family("missing_usage", ctx)
    if family == "responses" and out.events is not None:
        for response in responses.lifecycle_responses(out.events):
            response.pop("usage", None)
        return out
    if out.events is None:
        if isinstance(out.body, dict):
            out.body.pop("usage", None)
        return out
    if family == "openai":
        out.events = [e for e in out.events if not _is_usage_chunk(e.data)]
        for chunk in _dicts(out.events):
            chunk.pop("usage", None)
        return out
    for payload in _anthropic_payloads(out.events, "message_start", "message_delta"):
        message = payload.get("message")
        (message if isinstance(message, dict) else payload).pop("usage", None)
    return out


def _is_usage_chunk(data: JSON) -> bool:
    return isinstance(data, dict) and data.get("choices") == [] and isinstance(data.get("usage"), dict)


# --------------------------------------------------------------------------- token_tax


class TokenTaxParams(Params):
    """How much the reported usage is inflated."""

    reasoning_tokens: Annotated[int, pydantic.Field(ge=0)] = 20_000
    """Hidden reasoning tokens added to the completion (output) tokens."""
    multiplier: Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)] = 1.0
    """Factor applied to the reported completion tokens before the reasoning tokens are added."""

    @pydantic.model_validator(mode="after")
    def _check(self) -> TokenTaxParams:
        if self.reasoning_tokens == 0 and self.multiplier == 1.0:
            raise PydanticCustomError(
                "fault_params", "reasoning_tokens 0 and multiplier 1: nothing to inflate"
            )
        return self


def _tax_openai(usage: dict[str, JSON], params: TokenTaxParams) -> None:
    completion = round(int(usage.get("completion_tokens") or 0) * params.multiplier) + params.reasoning_tokens
    usage["completion_tokens"] = completion
    usage["total_tokens"] = int(usage.get("prompt_tokens") or 0) + completion
    details = usage.get("completion_tokens_details")
    if not isinstance(details, dict):
        details = usage["completion_tokens_details"] = {}
    reasoning = round(int(details.get("reasoning_tokens") or 0) * params.multiplier)
    details["reasoning_tokens"] = reasoning + params.reasoning_tokens


def _tax_responses(usage: dict[str, JSON], params: TokenTaxParams) -> None:
    output = round(int(usage.get("output_tokens") or 0) * params.multiplier) + params.reasoning_tokens
    usage["output_tokens"] = output
    usage["total_tokens"] = int(usage.get("input_tokens") or 0) + output
    details = usage.get("output_tokens_details")
    if not isinstance(details, dict):
        details = usage["output_tokens_details"] = {}
    reasoning = round(int(details.get("reasoning_tokens") or 0) * params.multiplier)
    details["reasoning_tokens"] = reasoning + params.reasoning_tokens


def _tax_anthropic(usage: dict[str, JSON], params: TokenTaxParams) -> None:
    usage["output_tokens"] = (
        round(int(usage.get("output_tokens") or 0) * params.multiplier) + params.reasoning_tokens
    )


@fault("token_tax", Layer.ENVELOPE, params=TokenTaxParams)
def token_tax(envelope: Envelope, params: TokenTaxParams, ctx: FaultContext) -> Envelope:
    """Reported usage far above the visible output: the hidden reasoning-token tax on cost and budgets.

    OpenAI: ``completion_tokens`` and ``completion_tokens_details.reasoning_tokens`` grow by
    ``reasoning_tokens`` (after ``multiplier``), ``total_tokens`` follows. Anthropic:
    ``output_tokens``. Responses: ``output_tokens`` and ``output_tokens_details.reasoning_tokens``,
    ``total_tokens`` follows. Only final counts change (the body, the usage chunk,
    ``message_delta``, the terminal ``response``); a stream that carries no usage (no
    ``include_usage``) is returned unchanged.
    """
    out = _copy(envelope)
    family = _family("token_tax", ctx)
    taxes: dict[Family, Callable[[dict[str, JSON], TokenTaxParams], None]] = {
        "openai": _tax_openai,
        "anthropic": _tax_anthropic,
        "responses": _tax_responses,
    }
    tax = taxes[family]
    if out.events is None:
        usages = [out.body.get("usage")] if isinstance(out.body, dict) else []
    elif family == "responses":
        usages = [response.get("usage") for response in responses.lifecycle_responses(out.events)]
    elif family == "openai":
        usages = [chunk.get("usage") for chunk in _dicts(out.events)]
    else:
        usages = [payload.get("usage") for payload in _anthropic_payloads(out.events, "message_delta")]
    for usage in usages:
        if isinstance(usage, dict):
            tax(usage, params)
    return out


# --------------------------------------------------------------------------- error_in_200


class ErrorIn200Params(Params):
    """The error delivered inside the 200."""

    error_status: Annotated[int, pydantic.Field(ge=400, le=599)] | None = None
    """Non-streaming: the status whose error body is served; None: 500 (OpenAI) / 529 (Anthropic)."""
    message: str | None = None
    """Error message; None: the provider's usual text."""
    error_type: str | None = None
    """Error type; None: the provider's usual type for the status (streams: server / overloaded error)."""
    code: str | None = None
    """OpenAI error code in a non-streaming body; None: the dialect default."""
    after_events: Annotated[int, pydantic.Field(ge=0)] = 1
    """Streams: events delivered before the error event; the rest are dropped."""


@fault("error_in_200", Layer.ENVELOPE, params=ErrorIn200Params)
def error_in_200(envelope: Envelope, params: ErrorIn200Params, ctx: FaultContext) -> Envelope:
    """A 200 whose body is the provider's error object, or a stream that turns into an error event.

    Non-streaming: status 200, body from ``Dialect.render_error`` (pipelines that check only
    the status read ``choices`` from an error). Streams: the first ``after_events`` events,
    then ``Dialect.stream_error_event`` — openai raises ``APIError`` (chat and Responses),
    anthropic raises ``APIStatusError`` with status 200; neither retries. Responses streams
    are renumbered so ``sequence_number`` stays consecutive.
    """
    out = _copy(envelope)
    family = _family("error_in_200", ctx)
    dialect: Dialect = ctx.dialect
    if out.events is None:
        status = params.error_status or (529 if family == "anthropic" else 500)
        error = dialect.render_error(status, params.message or "", params.error_type, params.code, ctx.rng)
        out.body, out.raw_body = copy.deepcopy(error.body), None
        return out
    kept = [e for e in out.events[: params.after_events] if not dialect.is_stream_terminator(e)]
    out.events = [*kept, dialect.stream_error_event(params.message or "", params.error_type)]
    if family == "responses":
        responses.renumber(out.events)
    return out


# --------------------------------------------------------------------------- wrong_content_type


class WrongContentTypeParams(Params):
    """The content type served instead of the right one."""

    content_type: str = "text/html; charset=utf-8"


@fault("wrong_content_type", Layer.ENVELOPE, params=WrongContentTypeParams)
def wrong_content_type(envelope: Envelope, params: WrongContentTypeParams, ctx: FaultContext) -> Envelope:
    """A wrong ``content-type`` header on a good body (a proxy rewrote it): clients that trust it misparse.

    Works on JSON bodies and streams alike; the body is untouched.
    """
    out = _copy(envelope)
    out.headers = {k: v for k, v in out.headers.items() if k.lower() != "content-type"}
    out.headers["content-type"] = params.content_type
    return out


# --------------------------------------------------------------------------- content_filter


class ContentFilterParams(Params):
    """How much of the content arrives before the filter stops it."""

    fraction: Annotated[float, pydantic.Field(ge=0, le=1)] | None = None
    """Share of the generated text kept (content or tool arguments); None: all of it."""


@fault("content_filter", Layer.ENVELOPE, params=ContentFilterParams)
def content_filter(envelope: Envelope, params: ContentFilterParams, ctx: FaultContext) -> Envelope:
    """The provider's safety filter stops the reply: ``content_filter`` finish / Anthropic ``refusal``.

    With ``fraction`` the text is cut there (content or tool arguments; Anthropic: text
    blocks and ``input_json_delta`` fragments), as a filter that trips mid-generation does.
    Responses: status ``incomplete`` with ``incomplete_details.reason: content_filter``; the
    stream ends in ``response.incomplete``.
    """
    out = _copy(envelope)
    family = _family("content_filter", ctx)
    if family == "responses":
        return _responses_filter(out, params.fraction)
    if out.events is None:
        _filter_body(out.body, family, params.fraction)
        return out
    if family == "openai":
        for chunk in _dicts(out.events):
            for choice in _choices(chunk):
                if choice.get("finish_reason") is not None:
                    choice["finish_reason"] = "content_filter"
    else:
        for payload in _anthropic_payloads(out.events, "message_delta"):
            if isinstance(payload.get("delta"), dict):
                payload["delta"]["stop_reason"] = "refusal"
    if params.fraction is not None:
        out.events = _cut_stream(out.events, family, params.fraction)
    return out


def _filter_body(body: JSON, family: Family, fraction: float | None) -> None:
    if not isinstance(body, dict):
        return
    if family == "anthropic":
        body["stop_reason"] = "refusal"
        for block in body.get("content") or []:
            if fraction is not None and isinstance(block, dict) and isinstance(block.get("text"), str):
                block["text"] = _cut(block["text"], fraction)
        return
    for choice in _choices(body):
        choice["finish_reason"] = "content_filter"
        message = choice.get("message")
        if fraction is None or not isinstance(message, dict):
            continue
        if isinstance(message.get("content"), str):
            message["content"] = _cut(message["content"], fraction)
        for call in _tool_calls(message):
            function = call.get("function")
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = _cut(function["arguments"], fraction)


def _text_slot(event: SseEvent, family: Family) -> tuple[dict[str, JSON], str] | None:
    """Where a stream event carries generated text (holder dict and key), if it does."""
    data = event.data
    if not isinstance(data, dict):
        return None
    if family == "anthropic":
        delta = data.get("delta") if event.event == "content_block_delta" else None
        if isinstance(delta, dict):
            key = {"text_delta": "text", "input_json_delta": "partial_json"}.get(str(delta.get("type")))
            if key and isinstance(delta.get(key), str):
                return delta, key
        return None
    for choice in _choices(data):
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


def _cut_stream(events: list[SseEvent], family: Family, fraction: float) -> list[SseEvent]:
    """Keep ``fraction`` of the streamed text; deltas past the cut are dropped, the one on it trimmed."""
    slots = [_text_slot(e, family) for e in events]
    total = sum(len(str(s[0][s[1]])) for s in slots if s is not None)
    budget = math.floor(total * fraction)
    kept: list[SseEvent] = []
    for event, slot in zip(events, slots, strict=True):
        if slot is None:
            kept.append(event)
            continue
        holder, key = slot
        text = str(holder[key])
        if budget > 0:
            holder[key] = text[:budget]
            budget -= len(holder[key])
            kept.append(event)
    return kept


# --------------------------------------------------------------------------- openai-responses


def _responses_empty_output(out: Envelope) -> Envelope:
    """``output: []`` everywhere; a stream loses the events that build output items."""
    if out.events is None:
        if isinstance(out.body, dict):
            out.body["output"] = []
        return out
    building = responses.OUTPUT_EVENT_PREFIXES
    out.events = [e for e in out.events if not (responses.event_type(e) or "").startswith(building)]
    for response in responses.lifecycle_responses(out.events):
        response["output"] = []
    responses.renumber(out.events)
    return out


def _respread(slots: responses.TextSlots, text: str) -> None:
    """Put ``text`` in every finished copy and spread it over the stream fragments (their layout kept)."""
    for holder, key in slots.full:
        holder[key] = text
    fragments = [str(holder.get(key) or "") for holder, key in slots.deltas]
    for (holder, key), piece in zip(slots.deltas, _redistribute(fragments, text), strict=True):
        holder[key] = piece


def _responses_filter(out: Envelope, fraction: float | None) -> Envelope:
    """Status ``incomplete`` (reason ``content_filter``), the text cut at ``fraction`` if given."""
    if out.events is None:
        finished = [out.body] if isinstance(out.body, dict) else []
    else:
        responses.set_terminal(out.events, "response.incomplete")
        finished = [r for r in responses.lifecycle_responses(out.events) if r.get("status") != "in_progress"]
    for response in finished:
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "content_filter"}
    if fraction is None:
        return out
    emptied: set[int] = set()
    for slots in responses.text_slots(out.body, out.events).values():
        _respread(slots, _cut(slots.text, fraction))
        emptied.update(id(holder) for holder, key in slots.deltas if holder.get(key) == "")
    if out.events is not None and emptied:
        # The filter stopped generation: fragments past the cut were never sent.
        out.events = [e for e in out.events if id(e.data) not in emptied]
        responses.renumber(out.events)
    return out
