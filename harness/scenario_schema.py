"""The schema of a scenario file (version 1): one strict pydantic model per mapping in the YAML.

Unknown keys are refused everywhere and values are not coerced. Each field's
``description`` is written as an expectation ("a positive number of cases"), so a bad
value is reported as ``expected <description>; got <value>`` by
:func:`harness.validation.pydantic_problem`. :mod:`harness.scenario` validates a file
against :class:`ScenarioSpec` and builds the runnable :class:`~harness.scenario.Scenario`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic

from harness.durations import DURATION_EXPECTED, SIZE_EXPECTED, parse_duration, parse_size
from harness.validation import Spec, show

SCENARIO_VERSION = 1
"""The only ``version:`` this release reads."""
NAME_PATTERN = r"^[a-z0-9-]+$"
"""What a scenario ``name:`` may hold."""
CLEAN_NAME = "clean"
"""The fault name that stands for "no fault" (an empty chain) in mixes and sequences."""
SOURCE_KINDS = ("schema", "model", "content", "cassette")
"""The keys of ``source:``, exactly one of which is given."""
PLAN_KINDS = ("faults", "mix", "sequence")
"""The top-level keys that give a fault plan; at most one of them."""


def _step_from_name(value: Any) -> Any:
    """A bare fault name in a sequence (``- clean``) is short for ``{fault: clean}``."""
    return {"fault": value} if isinstance(value, str) else value


def _duration(value: Any) -> float:
    if isinstance(value, str):
        seconds = parse_duration(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"expected {DURATION_EXPECTED}; got {show(value)}")
    if seconds <= 0:
        raise ValueError(f"expected a positive duration; got {show(value)}")
    return seconds


def _pause(value: Any) -> float:
    """A duration that may be zero (``pacing: 0`` means back to back)."""
    if value == 0 and not isinstance(value, bool):
        return 0.0
    return _duration(value)


def _size(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError(f"expected {SIZE_EXPECTED}; got {show(value)}")
    size = parse_size(value)
    if size <= 0:
        raise ValueError(f"expected a positive size; got {show(value)}")
    return size


class FaultRefSpec(Spec):
    """One fault of a chain."""

    fault: str = pydantic.Field(description="a fault name (see `harness faults`)")
    params: dict[str, Any] | None = pydantic.Field(None, description="a mapping of the fault's parameters")


class RuleSpec(Spec):
    """A fault, or a chain of faults applied together."""

    fault: str | None = pydantic.Field(None, description="a fault name (see `harness faults`), or clean")
    params: dict[str, Any] | None = pydantic.Field(None, description="a mapping of the fault's parameters")
    chain: list[FaultRefSpec] | None = pydantic.Field(
        None, min_length=1, description="a non-empty list of {fault, params} applied together"
    )

    @pydantic.model_validator(mode="after")
    def _fault_or_chain(self) -> RuleSpec:
        if (self.fault is None) == (self.chain is None):
            got = "neither" if self.fault is None else "both"
            raise ValueError(f"expected exactly one of fault or chain; got {got}")
        if self.chain is not None and self.params is not None:
            raise ValueError("expected params inside each chain entry; got params beside chain")
        return self


class RateRuleSpec(RuleSpec):
    """A rule of ``faults:``: fires on each model call with probability ``rate``."""

    rate: float = pydantic.Field(1.0, ge=0, le=1, description="a probability between 0 and 1")
    first: int | None = pydantic.Field(None, ge=1, description="a positive number of model calls")


class MixRuleSpec(RuleSpec):
    """A rule of ``mix:``: exactly one rule per call, chosen by weight."""

    weight: float = pydantic.Field(1.0, gt=0, description="a positive weight")
    first: int | None = pydantic.Field(None, ge=1, description="a positive number of model calls")


class SequenceSpec(Spec):
    """``sequence:``: step k for model call k, then clean, repeat or the last step."""

    steps: list[Annotated[RuleSpec, pydantic.BeforeValidator(_step_from_name)]] = pydantic.Field(
        min_length=1, description="a non-empty list of steps: fault names, {fault, params} or {chain}"
    )
    then: Literal["clean", "repeat", "last"] = pydantic.Field("clean", description="clean, repeat or last")


class SourceSpec(Spec):
    """``source:``: where the clean reply comes from; exactly one of the first four keys."""

    schema_: dict[str, Any] | None = pydantic.Field(None, alias="schema", description="a JSON Schema")
    model: str | None = pydantic.Field(None, description="a pydantic model as package.module:Model")
    content: Any = pydantic.Field(None, description="inline text or a JSON value")
    cassette: str | None = pydantic.Field(None, description="a cassette file, relative to the scenario")
    match: Literal["order", "last_user_message", "fields"] | None = pydantic.Field(
        None, description="order, last_user_message or fields"
    )
    fields: list[str] | None = pydantic.Field(
        None, min_length=1, description="a non-empty list of request body fields such as [model, messages]"
    )
    timing: Literal["none", "recorded", "scaled"] | None = pydantic.Field(
        None, description="none, recorded or scaled"
    )
    timing_scale: float | None = pydantic.Field(None, ge=0, description="a non-negative number")
    locale: str | None = pydantic.Field(None, description="a Faker locale such as en_US")


class FakerInputsSpec(Spec):
    """``inputs: {faker: ...}``: inputs drawn from a Faker method."""

    faker: str = pydantic.Field(description="a Faker method name such as paragraph or email")
    params: dict[str, Any] = pydantic.Field(
        default_factory=dict, description="a mapping of the method's keyword arguments"
    )
    count: int | None = pydantic.Field(None, ge=1, description="a positive number of distinct inputs to draw")
    locale: str = pydantic.Field("en_US", description="a Faker locale such as en_US")


class ContractSpec(Spec):
    """``contract:``: the pipeline output's schema or model, and its declared clean errors."""

    schema_: dict[str, Any] | None = pydantic.Field(None, alias="schema", description="a JSON Schema")
    model: str | None = pydantic.Field(None, description="a pydantic model as package.module:Model")
    allowed_errors: list[str] = pydantic.Field(
        default_factory=list,
        description="a list of exception classes as package.module:Name, or http:<status> for services",
    )


class XFailSpec(Spec):
    """One ``xfail:`` entry: the SLOs a known-bad target is expected to break."""

    reason: str = pydantic.Field(min_length=1, description="a non-empty reason why the target fails")
    slos: list[str] = pydantic.Field(
        min_length=1, description="a non-empty list of the SLOs expected to break"
    )


class LoadSpec(Spec):
    """``load:``: how ``harness load`` pushes the target by default (command-line options override)."""

    users: int = pydantic.Field(10, ge=1, le=100_000, description="a positive number of users")
    spawn_rate: float | None = pydantic.Field(
        None, gt=0, description="a positive number of users started per second"
    )
    duration: Annotated[float, pydantic.BeforeValidator(_duration)] = pydantic.Field(
        30.0, description=DURATION_EXPECTED
    )
    pacing: Annotated[float, pydantic.BeforeValidator(_pause)] = pydantic.Field(
        0.0, description=f"0 or {DURATION_EXPECTED}"
    )
    abort_on_fail: bool | list[str] = pydantic.Field(
        False, description="true, false, or a list of the scenario's SLOs"
    )
    grace: Annotated[float, pydantic.BeforeValidator(_duration)] = pydantic.Field(
        10.0, description=DURATION_EXPECTED
    )
    memory_limit: Annotated[int | None, pydantic.BeforeValidator(_size)] = pydantic.Field(
        None, description=SIZE_EXPECTED
    )


class ScenarioSpec(Spec):
    """A whole scenario file, version 1."""

    version: int = pydantic.Field(description="1")
    name: str = pydantic.Field(
        pattern=NAME_PATTERN, description="a name of lower-case letters, digits and - only"
    )
    description: str = pydantic.Field(
        min_length=1, description="a non-empty text naming the real incident or failure family"
    )
    provider: str = pydantic.Field("openai-chat", description="a dialect name such as openai-chat")
    seed: int = pydantic.Field(0, ge=0, description="a non-negative integer")
    cases: int = pydantic.Field(20, ge=1, description="a positive number of cases")
    case_timeout: Annotated[float, pydantic.BeforeValidator(_duration)] = pydantic.Field(
        60.0, description=DURATION_EXPECTED
    )
    time_scale: float = pydantic.Field(1.0, ge=0, description="a non-negative number")
    source: SourceSpec = pydantic.Field(description=f"a mapping with one of {', '.join(SOURCE_KINDS)}")
    faults: list[RateRuleSpec] | None = pydantic.Field(None, description="a list of {fault, params, rate}")
    mix: list[MixRuleSpec] | None = pydantic.Field(
        None, min_length=1, description="a non-empty list of {fault, params, weight}"
    )
    sequence: SequenceSpec | None = pydantic.Field(None, description="{steps: [...], then: clean}")
    inputs: Any = pydantic.Field(description="a list of inputs or {faker: method, params: {...}}")
    contract: ContractSpec = pydantic.Field(description="a mapping with schema or model, and allowed_errors")
    slos: list[str] = pydantic.Field(
        default_factory=list, description="a list of SLO expressions such as 'p95 < 2s'"
    )
    xfail: dict[str, XFailSpec] = pydantic.Field(
        default_factory=dict, description="a mapping of target → {reason, slos}"
    )
    load: LoadSpec | None = pydantic.Field(
        None,
        description="a mapping of users, spawn_rate, duration, pacing, abort_on_fail, grace, memory_limit",
    )
