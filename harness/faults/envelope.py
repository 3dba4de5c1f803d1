"""Envelope faults: the provider JSON around the completion is wrong, the content is fine.

Each fault takes an :class:`~harness.wire.Envelope` and returns a modified deep copy (the
input is never mutated). Where the failure lives is dialect knowledge: each fault calls one
envelope hook of the :class:`~harness.dialects.base.Dialect` (:data:`FAULT_HOOKS`) on the
copy, for a non-streaming ``body`` dict and a streaming ``events`` list alike. A dialect
that does not implement the hook is refused with a one-line :class:`UsageError`
(:func:`supports` lets scenario loading refuse it earlier).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from typing import Annotated, Literal

import pydantic
from pydantic_core import PydanticCustomError

from harness.dialects.base import DIALECTS, Dialect
from harness.errors import UsageError
from harness.faults.base import FaultContext, Layer, Params, fault
from harness.wire import Envelope

FAULT_HOOKS: dict[str, str] = {
    "empty_choices": "empty_output",
    "null_content": "null_content",
    "invalid_tool_arguments": "break_tool_arguments",
    "missing_usage": "strip_usage",
    "token_tax": "tax_usage",
    "content_filter": "content_filtered",
}
"""The :class:`Dialect` hook each dialect-specific envelope fault calls."""


def supports(fault_name: str, dialect: Dialect) -> bool:
    """True when ``dialect`` implements the hook fault ``fault_name`` needs (or it needs none)."""
    hook = FAULT_HOOKS.get(fault_name)
    return hook is None or getattr(type(dialect), hook) is not getattr(Dialect, hook)


def _dialect(fault_name: str, ctx: FaultContext) -> Dialect:
    """The request's dialect, refused with a one-line UsageError when it lacks the fault's hook."""
    dialect: Dialect = ctx.dialect
    if ctx.request.dialect != dialect.name or not supports(fault_name, dialect):
        supported = ", ".join(name for name, d in DIALECTS.items.items() if supports(fault_name, d))
        raise UsageError(
            f"fault {fault_name!r} does not support dialect {ctx.request.dialect!r}; supported: {supported}"
        )
    return dialect


def _copy(envelope: Envelope) -> Envelope:
    """A deep copy: headers, body and events are fresh, so edits never reach the input."""
    return dataclasses.replace(
        envelope,
        headers=dict(envelope.headers),
        body=copy.deepcopy(envelope.body),
        events=copy.deepcopy(envelope.events),
    )


# --------------------------------------------------------------------------- empty_choices


class EmptyChoicesParams(Params):
    """Which OpenAI stream chunks lose their choices."""

    mode: Literal["leading", "all", "both"] = "leading"
    """Streams: ``leading`` adds Azure's first chunk with ``choices: []``; ``all`` empties every chunk's."""


@fault("empty_choices", Layer.ENVELOPE, params=EmptyChoicesParams)
def empty_choices(envelope: Envelope, params: EmptyChoicesParams, ctx: FaultContext) -> Envelope:
    """``choices: []`` (Azure's first stream chunk, the usage chunk): ``choices[0]`` raises IndexError.

    Where: each dialect's ``empty_output`` hook.
    """
    out = _copy(envelope)
    _dialect("empty_choices", ctx).empty_output(out, params.mode)
    return out


# --------------------------------------------------------------------------- null_content


class NullContentParams(Params):
    """How the content disappears."""

    form: Literal["null", "missing"] = "null"
    """``null``: the content is JSON null; ``missing``: the key is absent."""


@fault("null_content", Layer.ENVELOPE, params=NullContentParams)
def null_content(envelope: Envelope, params: NullContentParams, ctx: FaultContext) -> Envelope:
    """``content: null`` where text was expected: ``json.loads(None)`` / ``"".join`` raise TypeError.

    Where: each dialect's ``null_content`` hook.
    """
    out = _copy(envelope)
    _dialect("null_content", ctx).null_content(out, params.form)
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


@fault("invalid_tool_arguments", Layer.ENVELOPE, params=InvalidToolArgumentsParams)
def invalid_tool_arguments(
    envelope: Envelope, params: InvalidToolArgumentsParams, ctx: FaultContext
) -> Envelope:
    """Tool-call arguments that are not valid JSON (truncated, single-quoted, a Python repr).

    Where: each dialect's ``break_tool_arguments`` hook. A reply without a tool
    call is returned unchanged: this fault never invents one.
    """
    out = _copy(envelope)
    breaker = functools.partial(break_json, kind=params.kind)
    _dialect("invalid_tool_arguments", ctx).break_tool_arguments(out, breaker)
    return out


# --------------------------------------------------------------------------- missing_usage


@fault("missing_usage", Layer.ENVELOPE)
def missing_usage(envelope: Envelope, params: Params, ctx: FaultContext) -> Envelope:
    """No ``usage`` in the reply: token accounting and cost tracking read None (or KeyError).

    Where: each dialect's ``strip_usage`` hook.
    """
    out = _copy(envelope)
    _dialect("missing_usage", ctx).strip_usage(out)
    return out


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


@fault("token_tax", Layer.ENVELOPE, params=TokenTaxParams)
def token_tax(envelope: Envelope, params: TokenTaxParams, ctx: FaultContext) -> Envelope:
    """Reported usage far above the visible output: the hidden reasoning-token tax on cost and budgets.

    Where: each dialect's ``tax_usage`` hook. Only final counts
    change; a stream that carries no usage is returned unchanged.
    """
    out = _copy(envelope)
    _dialect("token_tax", ctx).tax_usage(out, params.reasoning_tokens, params.multiplier)
    return out


# --------------------------------------------------------------------------- error_in_200


class ErrorIn200Params(Params):
    """The error delivered inside the 200."""

    error_status: Annotated[int, pydantic.Field(ge=400, le=599)] | None = None
    """Non-streaming: the status whose error body is served; None: the dialect's ``in_band_error_status``."""
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
    dialect = _dialect("error_in_200", ctx)
    if out.events is None:
        status = params.error_status or dialect.in_band_error_status
        error = dialect.render_error(status, params.message or "", params.error_type, params.code, ctx.rng)
        out.body, out.raw_body = copy.deepcopy(error.body), None
        return out
    kept = [e for e in out.events[: params.after_events] if not dialect.is_stream_terminator(e)]
    out.events = [*kept, dialect.stream_error_event(params.message or "", params.error_type)]
    dialect.events_edited(out.events)
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

    Where: each dialect's ``content_filtered`` hook.
    """
    out = _copy(envelope)
    _dialect("content_filter", ctx).content_filtered(out, params.fraction)
    return out
