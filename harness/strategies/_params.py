"""Hypothesis strategies for one fault's parameters, derived from its pydantic model.

Every field draws ``one_of(just(default), alternatives)``, so a failing example shrinks to
the default first (the plain ``name`` label) and only keeps a parameter that matters.
Built-in faults get hand-picked alternatives (:data:`FUZZ_BOUNDS`) that keep one example
fast in-process; faults registered by users get alternatives derived from their field
types and bounds (``Literal``, ``bool``, bounded numbers, ``Optional``).
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

import annotated_types
import pydantic
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy
from pydantic.fields import FieldInfo

from harness.faults.base import Fault, FaultUse

_INT_SPAN = 1000
"""Derived integer ranges are cut to this many values above their lower bound."""
_FLOAT_CAP = 1000.0
"""Derived float ranges stop here when the model sets no upper bound."""

_seconds = st.floats(0.0, 120.0, allow_nan=False)
"""Injected delays: up to two minutes of scenario time (free with time_scale 0)."""
_fraction = st.floats(0.0, 1.0, allow_nan=False)


def _maybe(strategy: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """None (the usual default, shrunk to) or a value."""
    return st.one_of(st.none(), strategy)


FUZZ_BOUNDS: dict[str, dict[str, SearchStrategy[Any]]] = {
    "rename_keys": {"depth": _maybe(st.just(1))},
    "type_drift": {
        "bool_as": st.sampled_from([("Yes", "yes", 1, "Affirmative", "True"), ("Yes",), (1,), ("True",)]),
        "false_as": st.sampled_from([("No", "no", 0, "Negative", "False"), ("No",), (0,), ("False",)]),
    },
    "drop_field": {"count": st.integers(1, 3)},
    "add_fields": {"count": st.integers(1, 5)},
    "markdown_fence": {"lang": st.sampled_from(["json", "", "JSON", "javascript"])},
    "truncate": {"fraction": _maybe(st.floats(0.05, 0.95)), "at_chars": _maybe(st.integers(0, 200))},
    "hallucinated_enum": {"value": _maybe(st.sampled_from(["premium-plus", "URGENT", "n/a", ""]))},
    "unicode_oddities": {"count": st.sampled_from([1, None, 2, 3])},
    "huge_payload": {
        "size_mb": st.sampled_from([1.0, 0.5, 2.0]),
        "depth": st.sampled_from([10_000, 1_000, 100_000]),
    },
    "reasoning_exhaustion": {"reasoning_tokens": _maybe(st.sampled_from([4096, 100_000, 1]))},
    "token_tax": {
        "reasoning_tokens": st.sampled_from([20_000, 0, 1_000, 1_000_000]),
        "multiplier": st.sampled_from([1.0, 2.0, 10.0, 0.0]),
    },
    "error_in_200": {
        "error_status": _maybe(st.sampled_from([500, 429, 503, 400, 401])),
        "after_events": st.one_of(st.just(1), st.integers(0, 5)),
    },
    "wrong_content_type": {
        "content_type": st.sampled_from(
            ["text/html; charset=utf-8", "text/plain", "application/octet-stream", "text/event-stream"]
        )
    },
    "content_filter": {"fraction": _maybe(_fraction)},
    "http_status": {
        "status": st.sampled_from([429, 500, 502, 503, 529, 504, 400, 401, 403, 404, 408, 409, 413, 422]),
        "retry_after": _maybe(st.sampled_from([1.0, 0.0, 0.1, 2.0, 30.0, 120.0])),
        "html": _maybe(st.booleans()),
        "should_retry": _maybe(st.booleans()),
        "ratelimit_headers": _maybe(st.booleans()),
    },
    "connection_reset": {"fraction": _maybe(_fraction)},
    "stream_stall": {
        "after_events": _maybe(st.integers(0, 10)),
        "seconds": _maybe(_seconds),
        "keepalive_every": st.sampled_from([5.0, 1.0, 15.0]),
    },
    "stream_cut": {"after_fraction": _maybe(_fraction)},
    "malformed_sse": {
        "at": _maybe(st.integers(0, 10)),
        "event_name": st.sampled_from(["message", "thread.run"]),
    },
    "split_utf8": {"every_n": st.integers(1, 3), "gap": st.sampled_from([0.0, 0.001, 0.05])},
    "random_bytes": {"size": st.sampled_from([64, 1, 16, 1024])},
    "slow_drip": {
        "bytes_per_second": st.sampled_from([100.0, 1_000.0, 10_000.0]),
        "chunk_size": st.sampled_from([None, 256, 4096]),
    },
}
"""Per fault, per field: the values the fuzzer tries, simplest first (where it shrinks to).

Fields not named here draw from their type (``Literal`` values, both booleans, ``None`` or
a value). The bounds keep one example in-process to milliseconds: ``huge_payload`` at most
2 MiB (the default is 16; 1 MiB costs the naive demo about 0.3 s), ``slow_drip`` at least
100 bytes/s (every chunk is a segment: a dripped 1 MiB reply is 100 000 of them), delays at
most 120 s of scenario time (free when the interceptor's ``time_scale`` is 0). Widen or
narrow them per call with ``faults(params=...)``.
"""

_LATENCY = st.one_of(
    st.just({}),
    st.builds(lambda s: {"seconds": s}, _seconds),
    st.tuples(_seconds, _seconds).map(lambda t: {"distribution": "uniform", "low": min(t), "high": max(t)}),
    st.tuples(st.floats(0.01, 5.0), st.floats(1.0, 120.0)).map(
        lambda t: {"distribution": "lognormal", "median": t[0], "p99": max(t[1], t[0] * 1.5)}
    ),
    st.tuples(st.floats(0.0, 1.0), _fraction, _seconds, _seconds).map(
        lambda t: {
            "distribution": "spikes",
            "base": t[0],
            "spike_rate": t[1],
            "spike_seconds": (min(t[2:]), max(t[2:])),
        }
    ),
)
_WHOLE: dict[str, tuple[SearchStrategy[dict[str, Any]], frozenset[str]]] = {
    "latency": (
        _LATENCY,
        frozenset(
            {"distribution", "seconds", "low", "high", "mean", "stddev", "median", "p99", "base"}
            | {"spike_rate", "spike_seconds"}
        ),
    )
}
"""Faults whose fields depend on each other, drawn as a whole (the distribution picks its fields)."""


def params_strategy(
    fault: Fault[Any], overrides: Mapping[str, Any] | None = None
) -> SearchStrategy[FaultUse]:
    """``FaultUse`` values of ``fault`` with parameters drawn field by field, defaults first.

    ``overrides`` maps field names to a strategy or a fixed value; combinations the
    parameter model refuses are filtered out.
    """
    overrides = overrides or {}
    model = fault.params_model
    unknown = sorted(set(overrides) - set(model.model_fields))
    if unknown:
        raise InvalidArgument(
            f"params[{fault.name!r}] names {', '.join(map(repr, unknown))}; expected fields of "
            f"{fault.name}: {', '.join(model.model_fields) or '(none)'}"
        )
    whole, joint = _WHOLE.get(fault.name, (st.just({}), frozenset()))
    if overrides.keys() & joint:  # the caller draws these fields: no joint draw
        whole, joint = st.just({}), frozenset()
    fields = {
        name: _field_strategy(fault.name, name, info, overrides)
        for name, info in model.model_fields.items()
        if name not in joint
    }
    drawn = st.tuples(whole, st.fixed_dictionaries(fields)).map(lambda pair: {**pair[1], **pair[0]})

    def build(raw: dict[str, Any]) -> FaultUse | None:
        try:
            return FaultUse(fault, model.model_validate(raw))
        except pydantic.ValidationError:
            return None

    valid = drawn.map(build).filter(lambda use: use is not None)
    return typing.cast("SearchStrategy[FaultUse]", valid)


def _field_strategy(
    fault_name: str, name: str, info: FieldInfo, overrides: Mapping[str, Any]
) -> SearchStrategy[Any]:
    if name in overrides:
        value = overrides[name]
        return value if isinstance(value, SearchStrategy) else st.just(value)
    bounds = FUZZ_BOUNDS.get(fault_name, {})
    if name in bounds:
        return bounds[name]
    return _default_first(fault_name, name, info)


def _default_first(fault_name: str, name: str, info: FieldInfo) -> SearchStrategy[Any]:
    """``just(default) | alternatives``, or a derived strategy for a required field."""
    derived = derive(info.annotation, info.metadata)
    if info.is_required():
        if derived is None:
            raise InvalidArgument(
                f"fault {fault_name!r} field {name!r} ({info.annotation!r}) has no strategy harness can "
                f"derive; pass params={{{fault_name!r}: {{{name!r}: <strategy>}}}}"
            )
        return derived
    default = info.get_default(call_default_factory=True)
    return st.just(default) if derived is None else st.one_of(st.just(default), derived)


def derive(annotation: Any, metadata: list[Any] | None = None) -> SearchStrategy[Any] | None:
    """A strategy for a field type, or None when only its default should be used."""
    metadata = list(metadata or [])
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        for item in extra:
            metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        return derive(base, metadata)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        parts = [derive(a, metadata) for a in args if a is not type(None)]
        usable = [p for p in parts if p is not None]
        if not usable:
            return None
        return st.one_of(st.none(), *usable) if type(None) in args else st.one_of(*usable)
    if origin is Literal:
        return st.sampled_from(typing.get_args(annotation))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return _integers(metadata)
    if annotation is float:
        return _floats(metadata)
    return None


def _bound(metadata: list[Any], low: bool) -> tuple[float | None, bool]:
    """The (value, exclusive) lower or upper bound among annotated-types constraints."""
    for item in metadata:
        if low and isinstance(item, annotated_types.Ge):
            return float(typing.cast(Any, item.ge)), False
        if low and isinstance(item, annotated_types.Gt):
            return float(typing.cast(Any, item.gt)), True
        if not low and isinstance(item, annotated_types.Le):
            return float(typing.cast(Any, item.le)), False
        if not low and isinstance(item, annotated_types.Lt):
            return float(typing.cast(Any, item.lt)), True
    return None, False


def _integers(metadata: list[Any]) -> SearchStrategy[int]:
    lo, lo_open = _bound(metadata, low=True)
    hi, hi_open = _bound(metadata, low=False)
    low = 0 if lo is None else math.floor(lo) + (1 if lo_open else 0)
    high = low + _INT_SPAN if hi is None else math.ceil(hi) - (1 if hi_open else 0)
    return st.integers(low, min(high, low + _INT_SPAN))


def _floats(metadata: list[Any]) -> SearchStrategy[float]:
    lo, lo_open = _bound(metadata, low=True)
    hi, hi_open = _bound(metadata, low=False)
    low = 0.0 if lo is None else lo
    high = max(low, _FLOAT_CAP) if hi is None else hi
    return st.floats(
        low, high, exclude_min=lo_open, exclude_max=hi_open, allow_nan=False, allow_infinity=False
    )


@functools.cache
def builtin_strategy(name: str) -> SearchStrategy[FaultUse]:
    """The cached parameter strategy of a registered fault with no overrides."""
    from harness.faults import FAULTS

    return params_strategy(FAULTS.get(name))
