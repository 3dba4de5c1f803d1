"""Turning a validation problem into one line: which field, what was expected, what was found.

Users write scenario and cassette files by hand; a wrong key or value must come back as
``<field>: <expectation>`` (``faults[2].params.status: expected a number of at most 599;
got 700``), with the valid keys listed and the closest one suggested for a typo, never a
pydantic traceback. :func:`pydantic_problem` does that for any pydantic model (:func:`validate` raises it as a
:class:`~harness.errors.ScenarioError`); the small text helpers phrase the "expected … got …"
parts everywhere else.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic_core import ErrorDetails

from harness.errors import ScenarioError

M = TypeVar("M", bound=pydantic.BaseModel)


class StrictModel(pydantic.BaseModel):
    """A model of a hand-written file: unknown keys are refused and values are never coerced."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)


class Spec(StrictModel):
    """A :class:`StrictModel` whose field descriptions are expectations ("a positive number").

    :func:`pydantic_problem` quotes them as ``expected <description>; got <value>``.
    """


# --- pydantic errors ----------------------------------------------------------------------------

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
}


def validate(model: type[M], data: Any, where: str, *, prefix: str = "") -> M:
    """``data`` validated as ``model``; the first problem is a :class:`ScenarioError` for file ``where``.

    ``prefix`` is the field path of ``data`` inside the file (``faults[2].params``).
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ScenarioError(where, *pydantic_problem(exc, model, prefix=prefix)) from None


def pydantic_problem(
    exc: pydantic.ValidationError, model: type[pydantic.BaseModel], *, prefix: str = ""
) -> tuple[str, str]:
    """``(field, expectation)`` for the first problem in ``exc`` raised validating ``model``."""
    errors = exc.errors(include_url=False)
    error = _pick(errors)
    loc = tuple(error["loc"])
    at = _join(prefix, loc)
    if error["type"] == "extra_forbidden":
        valid = _keys(_node(model, loc[:-1]))
        listed = f"; expected one of {', '.join(valid)}" if valid else ""
        return at, f"unknown key{listed}{suggest(str(loc[-1]), valid)}"
    if error["type"] == "missing":
        described = _description(model, loc)
        return at, f"missing; expected {described}" if described else "missing required key"
    own = _own_description(model, loc)
    if own and error["type"] not in {"value_error", "assertion_error"}:
        return at, f"expected {own}; got {show(error.get('input'))}"
    return at, _expectation(error)


def _pick(errors: list[ErrorDetails]) -> ErrorDetails:
    """The first error, but an unknown key beats a missing one beside it (a typo explains both)."""
    first = errors[0]
    if first["type"] == "missing":
        parent = tuple(first["loc"][:-1])
        for other in errors:
            if other["type"] == "extra_forbidden" and tuple(other["loc"][:-1]) == parent:
                return other
    return first


def _expectation(error: ErrorDetails) -> str:
    kind, ctx, got = error["type"], error.get("ctx") or {}, show(error.get("input"))
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return one_line(str(ctx["error"]))
    bounds = {
        "greater_than": f"a number greater than {ctx.get('gt')}",
        "greater_than_equal": f"a number of at least {ctx.get('ge')}",
        "less_than": f"a number less than {ctx.get('lt')}",
        "less_than_equal": f"a number of at most {ctx.get('le')}",
        "too_short": f"at least {ctx.get('min_length')} item(s)",
        "too_long": f"at most {ctx.get('max_length')} item(s)",
        "string_too_short": f"at least {ctx.get('min_length')} character(s)",
        "string_too_long": f"at most {ctx.get('max_length')} character(s)",
        "string_pattern_mismatch": f"a string matching {ctx.get('pattern')}",
        "literal_error": f"one of {ctx.get('expected')}",
        "enum": f"one of {ctx.get('expected')}",
    }
    what = _TYPE_WORDS.get(kind) or bounds.get(kind)
    if what is None:
        message = one_line(error["msg"])
        return message if "got" in message else f"{message[:1].lower()}{message[1:]}; got {got}"
    return f"expected {what}; got {got}"


def _node(model: Any, loc: Sequence[int | str]) -> Any:
    """The type found at ``loc`` inside ``model`` (None when the path leaves the models)."""
    current = model
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel) and isinstance(part, str):
            found = _field(current, part)
            current = found.annotation if found else None
        elif origin in {list, tuple, set} and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif origin is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` around a type."""
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
        return annotation


def _field(model: type[pydantic.BaseModel], key: str) -> Any:
    return next((f for name, f in model.model_fields.items() if (f.alias or name) == key), None)


def _keys(node: Any) -> list[str]:
    if isinstance(node, type) and issubclass(node, pydantic.BaseModel):
        return [f.alias or name for name, f in node.model_fields.items()]
    return []


def _description(model: type[pydantic.BaseModel], loc: Sequence[int | str]) -> str | None:
    parent = _node(model, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, pydantic.BaseModel) and isinstance(loc[-1], str):
        found = _field(parent, loc[-1])
        return found.description if found else None
    return None


def _own_description(model: type[pydantic.BaseModel], loc: Sequence[int | str]) -> str | None:
    """The description of a field of a :class:`Spec`: written as an expectation."""
    parent = _node(model, loc[:-1]) if loc else None
    if isinstance(parent, type) and issubclass(parent, Spec) and isinstance(loc[-1], str):
        return _description(model, loc)
    return None


def _join(prefix: str, loc: Sequence[int | str]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][\w-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "(top level)"


# --- text ----------------------------------------------------------------------------------------


def unknown(what: str, name: str, valid: Iterable[str], *, listed: bool = True) -> str:
    """``expected <what>, one of: <valid>; got <name>`` with a suggestion; ``listed=False`` omits the list."""
    names = sorted(valid)
    choices = f", one of: {', '.join(names)}" if listed else ""
    return f"expected {what}{choices}; got {name!r}{suggest(name, names)}"


def suggest(name: str, valid: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the valid name closest to ``name``, or "" when none is close."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def show(value: Any) -> str:
    """``value`` as the user wrote it (JSON, strings quoted), cut to 60 characters."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(value: Any) -> str:
    """``value`` with its kind, for a "got": ``a list [1, 2]``, ``null``."""
    return "null" if value is None else f"{kind_of(value)} {show(value)}"


def kind_of(value: Any) -> str:
    """The kind of a decoded value in the user's words: a mapping, a list, a string, a number, …"""
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    if value is None:
        return "null"
    if isinstance(value, type):
        return "class"
    return names.get(type(value), type(value).__name__)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` with its white space folded onto one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
