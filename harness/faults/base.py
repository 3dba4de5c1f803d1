"""What a fault is, and the one registry that holds them all.

A fault is a pure, seeded transformation at one layer:

- ``content``: the model's text (:class:`~harness.wire.Completion`),
- ``envelope``: the provider JSON around it (:class:`~harness.wire.Envelope`),
- ``transport``: status, headers, timing, framing and the connection
  (:class:`~harness.wire.WireReply`).

Same input, same parameters, same random stream → same output. Parameters are a
pydantic model, so a scenario naming a wrong parameter gets a precise error.
"""

from __future__ import annotations

import enum
import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pydantic

from harness.errors import FaultParamsError
from harness.registry import Registry
from harness.validation import pydantic_problem
from harness.wire import Completion, Envelope, ModelRequest, WireReply


class Layer(enum.StrEnum):
    """Where a fault acts; faults of a call are applied content → envelope → transport."""

    CONTENT = "content"
    ENVELOPE = "envelope"
    TRANSPORT = "transport"


class Params(pydantic.BaseModel):
    """Base of every fault's parameter model: unknown parameters are refused."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy, without the values cached from this instance's parameters (they may change)."""
        copied = super().model_copy(update=update, deep=deep)
        for name in [k for k in copied.__dict__ if k not in type(copied).model_fields]:
            del copied.__dict__[name]
        return copied

    @functools.cached_property
    def non_default(self) -> dict[str, Any]:
        """The parameters set to other than their defaults, as JSON (dumped once: parameters are frozen)."""
        return self.model_dump(exclude_defaults=True, mode="json")


class NoParams(Params):
    """For faults that take no parameters."""


P = TypeVar("P", bound=Params)
Target = TypeVar("Target", Completion, Envelope, WireReply)


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What a fault may read besides its target: the request, the dialect, the schema."""

    request: ModelRequest
    """The parsed model request this reply answers."""
    dialect: Any
    """The :class:`~harness.dialects.base.Dialect` rendering the reply (error envelopes)."""
    rng: random.Random
    """This fault's own random stream, derived from (seed, case, call, position)."""


FaultFn = Callable[[Any, Any, FaultContext], Any]


@dataclass(frozen=True, slots=True)
class Fault(Generic[P]):
    """A registered fault: name, layer, parameter model and the function that applies it."""

    name: str
    layer: Layer
    params_model: type[P]
    fn: Callable[[Any, P, FaultContext], Any]
    doc: str
    """First line of the function's docstring: the real failure it reproduces."""

    def parse_params(self, raw: Mapping[str, Any] | None) -> P:
        """Validate raw parameters (from YAML or code) into the fault's parameter model."""
        try:
            return self.params_model.model_validate(dict(raw or {}))
        except pydantic.ValidationError as exc:
            where, expected = pydantic_problem(exc, self.params_model)
            raise FaultParamsError(
                self.name, where if where and not where.startswith("(") else "params", expected
            ) from None

    def apply(self, target: Any, params: P, ctx: FaultContext) -> Any:
        """Apply the fault; returns the transformed target."""
        return self.fn(target, params, ctx)


FAULTS: Registry[Fault[Any]] = Registry("fault")
"""Every fault harness knows, by name."""


def fault(
    name: str, layer: Layer, params: type[Params] = NoParams
) -> Callable[[Callable[[Any, Any, FaultContext], Any]], Callable[[Any, Any, FaultContext], Any]]:
    """Register a function ``fn(target, params, ctx) -> target`` as fault ``name``.

    The function's docstring is the catalogue entry: its first line must say what real
    failure the fault reproduces.
    """

    def decorate(fn: Callable[[Any, Any, FaultContext], Any]) -> Callable[[Any, Any, FaultContext], Any]:
        doc = (fn.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"fault {name!r} needs a docstring naming the failure it reproduces")
        FAULTS.add(name, Fault(name, layer, params, fn, doc))
        return fn

    return decorate


@dataclass(frozen=True)
class FaultUse:
    """A fault with validated parameters, as a fault plan hands it to the Responder."""

    fault: Fault[Any]
    params: Params

    @classmethod
    def of(cls, name: str, params: Mapping[str, Any] | None = None) -> FaultUse:
        """Look up fault ``name`` and validate ``params`` for it."""
        found = FAULTS.get(name)
        return cls(found, found.parse_params(params))

    def apply_to(self, target: Any, ctx: FaultContext) -> Any:
        """Apply this fault with its parameters to ``target``."""
        return self.fault.apply(target, self.params, ctx)

    @functools.cached_property
    def label(self) -> str:
        """``name`` or ``name(k=v,…)`` with the parameters that differ from defaults (worked out once)."""
        set_fields = self.params.non_default
        if not set_fields:
            return self.fault.name
        inner = ",".join(f"{k}={_short(v)}" for k, v in sorted(set_fields.items()))
        return f"{self.fault.name}({inner})"

    def __repr__(self) -> str:
        """``FaultUse.of('name', {...})``: the expression that rebuilds this use (non-default params)."""
        set_fields = self.params.non_default
        return f"FaultUse.of({self.fault.name!r}{f', {set_fields!r}' if set_fields else ''})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Pretty printers (IPython, Hypothesis's falsifying examples) show :meth:`__repr__` too."""
        printer.text(repr(self))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value).replace(" ", "")
    return text if len(text) <= 40 else text[:37] + "..."
