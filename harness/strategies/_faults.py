"""Strategies over the fault catalogue: one fault, a chain across layers, what each call of a case sees."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from harness.faults.base import FAULTS, Fault, FaultUse, Layer
from harness.plan import Rule, SequencePlan
from harness.responder import LAYER_ORDER
from harness.strategies._params import builtin_strategy, params_strategy

Chain = tuple[FaultUse, ...]
"""Faults applied together to one model call, content → envelope → transport."""


def _catalogue() -> dict[str, Fault[Any]]:
    import harness.faults  # noqa: F401  (registers the built-in catalogue)

    return dict(FAULTS.items)


def _layers(layers: Iterable[str | Layer] | None) -> set[Layer]:
    if layers is None:
        return set(Layer)
    if isinstance(layers, str | Layer):
        raise InvalidArgument(
            f"layers={layers!r} must be an iterable of layer names, e.g. layers=[{layers!r}]"
        )
    chosen: set[Layer] = set()
    for item in layers:
        try:
            chosen.add(Layer(item))
        except ValueError:
            raise InvalidArgument(
                f"layers contains {item!r}; expected one of {', '.join(repr(v.value) for v in Layer)}"
            ) from None
    return chosen


def _names(argument: str, names: Iterable[str] | None, known: Mapping[str, Fault[Any]]) -> set[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        raise InvalidArgument(
            f"{argument}={names!r} must be an iterable of fault names, e.g. {argument}=[{names!r}]"
        )
    chosen = set(names)
    unknown = sorted(n for n in chosen if n not in known)
    if unknown:
        raise InvalidArgument(
            f"{argument} contains unknown fault {unknown[0]!r}; expected names from the catalogue "
            f"(`harness faults`): {', '.join(sorted(known))}"
        )
    return chosen


def select_faults(
    layers: Iterable[str | Layer] | None,
    names: Iterable[str] | None,
    exclude: Iterable[str],
    provider: str | None = None,
) -> list[Fault[Any]]:
    """The faults a strategy draws from, in shrink order: by layer, then by name."""
    known = _catalogue()
    wanted_layers = _layers(layers)
    wanted = _names("names", names, known)
    dropped = _names("exclude", exclude, known) or set()
    chosen = [
        f
        for f in known.values()
        if f.layer in wanted_layers
        and (wanted is None or f.name in wanted)
        and f.name not in dropped
        and _served_by(f, provider)
    ]
    if not chosen:
        raise InvalidArgument(
            f"no fault left to draw from: layers={layers!r}, names={names!r}, exclude={exclude!r}"
            + (f", provider={provider!r}" if provider else "")
        )
    return sorted(chosen, key=lambda f: (LAYER_ORDER[f.layer], f.name))


def _served_by(fault: Fault[Any], provider: str | None) -> bool:
    if provider is None:
        return True
    from harness.dialects import DIALECTS
    from harness.errors import UnknownNameError
    from harness.faults.envelope import supports

    try:
        dialect = DIALECTS.get(provider)
    except UnknownNameError:
        raise InvalidArgument(
            f"provider={provider!r}; expected one of {', '.join(sorted(DIALECTS.items))}"
        ) from None
    return supports(fault.name, dialect)


def _params_overrides(
    params: Mapping[str, Mapping[str, Any]] | None, chosen: list[Fault[Any]]
) -> Mapping[str, Mapping[str, Any]]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidArgument(
            f"params={params!r} must be a mapping {{fault name: {{field: strategy or value}}}}"
        )
    names = {f.name for f in chosen}
    for name, fields in params.items():
        if name not in names:
            raise InvalidArgument(f"params names fault {name!r}, which this strategy does not draw")
        if not isinstance(fields, Mapping):
            raise InvalidArgument(
                f"params[{name!r}]={fields!r} must be a mapping {{field: strategy or value}}"
            )
    return params


def faults(
    *,
    layers: Iterable[str | Layer] | None = None,
    names: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    params: Mapping[str, Mapping[str, Any]] | None = None,
    provider: str | None = None,
) -> SearchStrategy[FaultUse]:
    """One registered fault with parameters drawn from its parameter model.

    ``layers`` (``"content"``, ``"envelope"``, ``"transport"``), ``names`` and ``exclude``
    narrow the catalogue; ``provider`` (a dialect name) leaves out envelope faults that
    dialect cannot serve. ``params`` replaces the drawn values of some fields:
    ``{"huge_payload": {"size_mb": st.floats(1, 64)}}`` (a strategy) or
    ``{"http_status": {"status": 503}}`` (a fixed value). Ranges that keep an example fast
    are in :data:`harness.strategies.FUZZ_BOUNDS`.

    Shrinks towards a fault with fewer parameters to draw (Hypothesis prefers shorter
    choice sequences), then the first in catalogue order (content before envelope before
    transport, then by name); within a fault, towards each parameter's default — the plain
    ``name`` label — or, where the default is too slow to fuzz, the simplest bounded value.
    """
    return _one_of(select_faults(layers, names, exclude, provider), params)


def _one_of(
    chosen: list[Fault[Any]], params: Mapping[str, Mapping[str, Any]] | None
) -> SearchStrategy[FaultUse]:
    overrides = _params_overrides(params, chosen)
    return st.one_of(
        [
            params_strategy(f, overrides[f.name]) if f.name in overrides else builtin_strategy(f.name)
            for f in chosen
        ]
    )


def order_chain(uses: Iterable[FaultUse]) -> Chain:
    """``uses`` in the Responder's order (content → envelope → transport), stable within a layer."""
    return tuple(sorted(uses, key=lambda u: LAYER_ORDER[u.fault.layer]))


def _size(argument: str, value: object, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{argument}={value!r} must be an integer")
    if value < low:
        raise InvalidArgument(f"{argument}={value!r} must be at least {low}")
    return value


def fault_chains(
    *,
    min_size: int = 0,
    max_size: int = 3,
    layers: Iterable[str | Layer] | None = None,
    names: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    params: Mapping[str, Mapping[str, Any]] | None = None,
    provider: str | None = None,
) -> SearchStrategy[Chain]:
    """Chains of distinct faults for one model call, ordered as the Responder applies them.

    Each fault appears at most once; the order within a layer is drawn (it matters:
    ``rename_keys`` then ``truncate`` differs from the reverse). The other arguments are
    those of :func:`faults`.

    Shrinks towards fewer faults (down to ``min_size``; the empty chain is a clean reply),
    then towards simpler faults and parameters as :func:`faults` does.
    """
    low = _size("min_size", min_size)
    high = _size("max_size", max_size)
    if high < low:
        raise InvalidArgument(f"Cannot have max_size={max_size!r} < min_size={min_size!r}")
    chosen = select_faults(layers, names, exclude, provider)
    if low > len(chosen):
        raise InvalidArgument(
            f"min_size={min_size!r} is more than the {len(chosen)} distinct faults available"
        )
    drawn = st.lists(
        _one_of(chosen, params),
        min_size=low,
        max_size=min(high, len(chosen)),
        unique_by=lambda u: u.fault.name,
    )
    return drawn.map(order_chain)


def call_plans(
    *,
    calls: int = 3,
    chains: SearchStrategy[Chain] | None = None,
    then: Literal["clean", "repeat", "last"] = "clean",
) -> SearchStrategy[SequencePlan]:
    """What model calls 1..``calls`` of one case see — each clean or a fault chain — as a SequencePlan.

    ``chains`` draws the chain of a faulty call (default ``fault_chains(min_size=1,
    max_size=2)``); after the last step the plan serves ``then`` (``clean``, ``repeat`` the
    steps, or keep the ``last`` one). A retrying pipeline sees call 1's chain, then call 2's
    on its first retry, and so on.

    Shrinks towards all-clean calls (each step independently), then simpler chains.
    """
    count = _size("calls", calls, low=1)
    if then not in ("clean", "repeat", "last"):
        raise InvalidArgument(f"then={then!r}; expected 'clean', 'repeat' or 'last'")
    if chains is None:
        chains = fault_chains(min_size=1, max_size=2)
    elif not isinstance(chains, SearchStrategy):
        raise InvalidArgument(f"chains={chains!r} must be a strategy of fault chains, e.g. fault_chains()")
    step = st.one_of(st.just(()), chains).map(lambda uses: Rule(order_chain(uses)))
    return st.lists(step, min_size=count, max_size=count).map(lambda steps: SequencePlan(tuple(steps), then))
