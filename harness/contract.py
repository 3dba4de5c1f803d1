"""The contract: what a pipeline's *output* must look like, and which errors it may raise.

An output keeps the contract when it validates against the JSON Schema (Draft 2020-12,
formats checked) and/or the pydantic model. The model check is strict, as a downstream
consumer would be: ``"Yes"`` is not a boolean and ``"42"`` is not an integer. It runs in
JSON mode (the output serialised first), so ISO dates, enum values and lists for tuples —
the way JSON carries them — are accepted; an output that is not JSON-serialisable falls
back to strict Python-mode validation. A pydantic instance is dumped first, so one built
with ``model_construct`` around garbage is still caught.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pydantic

from harness.validation import one_line

_MAX_LINE = 240


@dataclass(frozen=True)
class Contract:
    """The output schema and/or model, and the exception classes that count as clean errors."""

    schema: Mapping[str, Any] | None = None
    """JSON Schema the output must validate against."""
    model: type[pydantic.BaseModel] | None = None
    """Pydantic model the output must validate against (strictly)."""
    allowed_errors: tuple[type[BaseException], ...] = ()
    """Declared clean errors: raising one of these is an allowed outcome, not a crash."""
    allowed_statuses: tuple[int, ...] = ()
    """HTTP statuses a service target may answer as a declared clean error (``http:422`` entries)."""
    _validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validator = None
        if self.schema is not None:
            cls = jsonschema.Draft202012Validator
            cls.check_schema(self.schema)
            validator = cls(self.schema, format_checker=cls.FORMAT_CHECKER)
        object.__setattr__(self, "_validator", validator)

    def check(self, output: Any) -> str | None:
        """None when ``output`` keeps the contract, else one line: the path that broke and how."""
        value = (
            output.model_dump(mode="json", warnings=False)
            if isinstance(output, pydantic.BaseModel)
            else output
        )
        if self._validator is not None:
            problem = _schema_problem(self._validator, value)
            if problem:
                return problem
        if self.model is not None:
            return _model_problem(self.model, value)
        return None

    def is_allowed(self, exc: BaseException) -> bool:
        """True when ``exc`` is one of the declared clean errors.

        An error from a service target (one carrying ``http_status``) is declared when its
        status is allowed, or when its structured body names (``declared_type``) an allowed
        exception class or one of its subclasses.
        """
        if isinstance(exc, self.allowed_errors):
            return True
        status = getattr(exc, "http_status", None)
        if status is not None and status in self.allowed_statuses:
            return True
        named = getattr(exc, "declared_type", None)
        return isinstance(named, str) and named in _class_names(self.allowed_errors)

    def describe(self) -> str:
        """One line naming the schema / model and the allowed errors (for reports)."""
        parts = []
        if self.model is not None:
            parts.append(f"model {self.model.__module__}:{self.model.__qualname__}")
        if self.schema is not None:
            parts.append(f"schema {self.schema.get('title', '(untitled)')}")
        allowed = [e.__name__ for e in self.allowed_errors] + [f"http:{s}" for s in self.allowed_statuses]
        if allowed:
            parts.append("allowed errors " + ", ".join(allowed))
        return "; ".join(parts) or "anything"


def _class_names(classes: tuple[type[BaseException], ...]) -> set[str]:
    """Names of ``classes`` and all their subclasses (how a service names the error it raised)."""
    names: set[str] = set()
    pending = list(classes)
    while pending:
        cls = pending.pop()
        if cls.__name__ not in names:
            names.add(cls.__name__)
            pending.extend(cls.__subclasses__())
    return names


def _schema_problem(validator: Any, value: Any) -> str | None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    return one_line(f"{error.json_path}: {error.message}", _MAX_LINE)


def _model_problem(model: type[pydantic.BaseModel], value: Any) -> str | None:
    try:
        payload = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        payload = None
    try:
        if payload is not None:
            model.model_validate_json(payload, strict=True)
        else:
            model.model_validate(value, strict=True)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return one_line(f"{where}: {first['msg']}, got {_short(first.get('input'))}{more}", _MAX_LINE)
    return None


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
