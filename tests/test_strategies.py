"""harness.strategies: what each strategy draws, how it shrinks, what it refuses, and serving it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import httpx
import httpx2
import pydantic
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from openai import OpenAI

from harness import strategies
from harness.demo import naive
from harness.demo.contract import UserRecord, json_schema
from harness.dialects import DIALECTS
from harness.faults import FAULTS, Fault, FaultUse, Layer, Params
from harness.plan import SequencePlan
from harness.strategies import (
    LAYER_ORDER,
    MutatedReply,
    PipelineHung,
    call_plans,
    clean_replies,
    fault_chains,
    faults,
    intercepting,
    mutated_replies,
    responder_for,
)
from harness.strategies._params import params_strategy

loose: Any = strategies
"""The module, untyped: the argument-checking tests pass what the signatures forbid."""
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIMPLEST_BOUNDED = {"huge_payload": {"size_mb": 1.0}}
"""Faults whose default is too slow to fuzz: they shrink to the simplest bounded value instead."""


def _ask(text: str = "Sign up Ada") -> str | None:
    reply = OpenAI(max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )
    return reply.choices[0].message.content


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_shrinks_to_its_default_parameters(name: str) -> None:
    simplest = find(faults(names=[name]), lambda use: True)
    assert simplest == FaultUse.of(name, SIMPLEST_BOUNDED.get(name))


@FEW
@given(use=faults())
def test_drawn_parameters_validate_and_rebuild_from_their_repr(use: FaultUse) -> None:
    assert use.fault is FAULTS.get(use.fault.name)
    assert eval(repr(use), {"FaultUse": FaultUse}) == use


@FEW
@given(use=faults(layers=["transport"], exclude=["latency"]))
def test_layers_and_exclude_narrow_the_catalogue(use: FaultUse) -> None:
    assert use.fault.layer is Layer.TRANSPORT
    assert use.fault.name != "latency"


def test_a_failing_property_shrinks_to_the_simplest_parameters_that_still_fail() -> None:
    found = find(faults(names=["http_status"]), lambda use: use.params.status >= 500)
    assert found == FaultUse.of("http_status", {"status": 500})


def test_params_override_fixes_or_widens_a_field() -> None:
    fixed = find(faults(names=["http_status"], params={"http_status": {"status": 503}}), lambda u: True)
    assert fixed == FaultUse.of("http_status", {"status": 503})
    wide = faults(names=["huge_payload"], params={"huge_payload": {"size_mb": st.floats(32, 64)}})
    big = find(wide, lambda u: True)
    assert big.params.size_mb == 32  # type: ignore[attr-defined]


def test_provider_leaves_out_faults_the_dialect_cannot_serve() -> None:
    from harness.dialects import DIALECTS
    from harness.faults.envelope import supports
    from harness.strategies._faults import select_faults

    for provider in DIALECTS.items:
        chosen = select_faults(None, None, (), provider)
        assert all(supports(f.name, DIALECTS.get(provider)) for f in chosen)


# --- chains and plans -------------------------------------------------------------------------


@FEW
@given(chain=fault_chains(min_size=1, max_size=4))
def test_chains_hold_distinct_faults_in_the_responders_layer_order(chain: tuple[FaultUse, ...]) -> None:
    assert 1 <= len(chain) <= 4
    names = [u.fault.name for u in chain]
    assert len(set(names)) == len(names)
    layers = [LAYER_ORDER[u.fault.layer] for u in chain]
    assert layers == sorted(layers)


def test_chains_shrink_to_the_one_fault_that_matters() -> None:
    def breaks(chain: tuple[FaultUse, ...]) -> bool:
        return any(u.fault.name == "http_status" and u.params.status == 503 for u in chain)  # type: ignore[attr-defined]

    assert find(fault_chains(), breaks) == (FaultUse.of("http_status", {"status": 503}),)
    assert find(fault_chains(), lambda chain: True) == ()


def test_call_plans_give_one_step_per_call_and_shrink_to_all_clean() -> None:
    plan = find(call_plans(calls=4, then="repeat"), lambda plan: True)
    assert isinstance(plan, SequencePlan)
    assert plan.then == "repeat"
    assert [step.uses for step in plan.steps] == [(), (), (), ()]
    second_fails = find(call_plans(), lambda plan: bool(plan.steps[1].uses))
    assert [len(step.uses) for step in second_fails.steps] == [0, 1, 0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: loose.faults(layers=["wire"]), r"layers contains 'wire'; expected one of 'content'"),
        (lambda: loose.faults(layers="content"), r"layers='content' must be an iterable"),
        (lambda: loose.faults(names=["nope"]), r"names contains unknown fault 'nope'"),
        (lambda: loose.faults(exclude=["nope"]), r"exclude contains unknown fault 'nope'"),
        (lambda: loose.faults(names=["refusal"], exclude=["refusal"]), r"no fault left to draw from"),
        (lambda: loose.faults(provider="grpc"), r"provider='grpc'; expected one of"),
        (lambda: loose.faults(params={"refusal": {"tone": "rude"}}), r"params\['refusal'\] names 'tone'"),
        (lambda: loose.faults(names=["refusal"], params={"haiku": {}}), r"params names fault 'haiku'"),
        (lambda: loose.fault_chains(min_size=-1), r"min_size=-1 must be at least 0"),
        (lambda: loose.fault_chains(max_size=1.5), r"max_size=1.5 must be an integer"),
        (lambda: loose.fault_chains(min_size=3, max_size=1), r"Cannot have max_size=1 < min_size=3"),
        (
            lambda: loose.fault_chains(min_size=2, names=["refusal"]),
            r"min_size=2 is more than the 1 distinct",
        ),
        (lambda: loose.call_plans(calls=0), r"calls=0 must be at least 1"),
        (lambda: loose.call_plans(then="forever"), r"then='forever'; expected 'clean', 'repeat' or 'last'"),
        (lambda: loose.call_plans(chains=[()]), r"chains=\[\(\)\] must be a strategy"),
        (lambda: loose.clean_replies(42), r"source=42; expected a JSON Schema dict"),
        (lambda: loose.clean_replies({"type": "nonsense"}), r"source=.*expected a valid JSON Schema"),
        (lambda: loose.clean_replies(UserRecord, realistic="yes"), r"realistic='yes' must be True or False"),
        (lambda: loose.mutated_replies(UserRecord, faults=[()]), r"faults=\[\(\)\] must be a strategy"),
        (lambda: loose.responder_for((), UserRecord, seed="7"), r"seed='7' must be an integer"),
        (lambda: loose.responder_for(("rename_keys",), UserRecord), r"expected a FaultUse"),
        (lambda: loose.intercepting((), UserRecord, time_scale=-1), r"time_scale=-1 must be a number >= 0"),
        (lambda: loose.intercepting((), UserRecord, case_timeout=0), r"case_timeout=0 must be a number > 0"),
    ],
)
def test_bad_arguments_raise_invalid_argument_naming_them(make: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make()


# --- replies ----------------------------------------------------------------------------------


@FEW
@given(text=clean_replies(UserRecord))
def test_realistic_replies_are_valid_records(text: str) -> None:
    UserRecord.model_validate_json(text)


@FEW
@given(text=clean_replies(json_schema(), realistic=False))
def test_hypothesis_built_replies_are_valid_against_the_schema(text: str) -> None:
    UserRecord.model_validate_json(text)


def test_replies_shrink_to_the_simplest_valid_record() -> None:
    simplest = json.loads(find(clean_replies("harness.demo.contract:UserRecord", realistic=False), bool))
    UserRecord.model_validate(simplest)
    assert simplest["name"] == "0"
    assert simplest["is_active"] is False
    assert len(simplest["email"]) < len("ada@example.com")


@settings(FEW, max_examples=15)
@given(reply=mutated_replies(UserRecord, faults=fault_chains(min_size=1, max_size=2, layers=["content"])))
def test_mutated_replies_are_what_the_responder_serves(reply: MutatedReply) -> None:
    assert all(u.fault.layer is Layer.CONTENT for u in reply.chain)
    responder = responder_for(reply.chain, reply.clean, seed=reply.seed)
    schema_format = {"type": "json_schema", "json_schema": {"name": "UserRecord", "schema": json_schema()}}
    body = json.dumps({"model": "gpt-4o-mini", "messages": [], "response_format": schema_format})
    dialect = DIALECTS.get("openai-chat")
    request = dialect.parse("/v1/chat/completions", body.encode(), {})
    _, served = responder.render(dialect, request, reply.chain, reply.seed, 0, 1)
    assert (served.text, served.finish, served.refusal) == (
        reply.text,
        reply.completion.finish,
        reply.completion.refusal,
    )


def test_mutated_replies_refuse_a_drawn_transport_fault() -> None:
    strategy = mutated_replies(UserRecord, faults=fault_chains(min_size=1, names=["timeout"]))
    with pytest.raises(InvalidArgument, match="drew 'timeout', a transport fault; expected content faults"):
        find(strategy, lambda reply: True)


def test_mutated_replies_shrink_to_one_default_fault_on_the_simplest_reply() -> None:
    garbage = find(
        mutated_replies(clean_replies(UserRecord, realistic=False)),
        lambda reply: _keeps_shape(reply.text) and not _valid(reply.text),
    )
    assert len(garbage.chain) == 1
    assert garbage.chain[0] == FaultUse.of(garbage.chain[0].fault.name)
    assert garbage.seed == 0


def _keeps_shape(text: str | None) -> bool:
    try:
        return isinstance(json.loads(text or ""), dict)
    except ValueError:
        return False


def _valid(text: str | None) -> bool:
    try:
        UserRecord.model_validate_json(text or "")
    except pydantic.ValidationError:
        return False
    return True


# --- serving ----------------------------------------------------------------------------------


@settings(FEW, max_examples=10)
@given(chain=fault_chains(max_size=2, layers=["content", "envelope"]))
def test_every_example_gets_a_fresh_case_and_leaves_no_patch(
    chain: tuple[FaultUse, ...], local_server: str
) -> None:
    # faults may break the call; the case log is what matters
    with intercepting(chain, UserRecord) as provider, contextlib.suppress(Exception):
        _ask()
    assert [call.call for call in provider.calls] == [1]
    assert provider.calls[0].faults == [u.label for u in chain]
    # after the example, provider paths reach the real network again, through both client families
    for client in (httpx, httpx2):
        assert client.post(f"{local_server}/v1/chat/completions", json={}).status_code == 418


def test_a_chain_applies_to_every_call_and_a_plan_call_by_call() -> None:
    chain = (FaultUse.of("wrap_in_prose"),)
    with intercepting(chain, UserRecord) as provider:
        _ask(), _ask()
    assert [c.faults for c in provider.calls] == [["wrap_in_prose"], ["wrap_in_prose"]]
    plan = find(call_plans(), lambda plan: bool(plan.steps[1].uses))
    with intercepting(plan, UserRecord) as provider:
        _ask(), _ask(), _ask()
    assert [bool(c.faults) for c in provider.calls] == [False, True, False]


def test_a_pipeline_that_would_hang_fails_as_pipeline_hung() -> None:
    with (
        pytest.raises(PipelineHung, match="the pipeline hung"),
        intercepting((FaultUse.of("timeout"),), UserRecord),
    ):
        naive.extract("Sign up Ada")


def test_delays_are_accounted_in_scenario_time_not_slept() -> None:
    chain = (FaultUse.of("latency", {"seconds": 45.0}),)
    with intercepting(chain, UserRecord) as provider:
        naive.extract("Sign up Ada")
    assert provider.case.skipped >= 45.0


def test_intercepting_works_with_async_pipelines_too() -> None:
    from openai import AsyncOpenAI

    async def ask() -> list[int]:
        async with intercepting((FaultUse.of("markdown_fence"),), UserRecord) as provider:
            reply = await AsyncOpenAI(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Sign up Ada"}]
            )
        assert (reply.choices[0].message.content or "").startswith("```json")
        return [call.call for call in provider.calls]

    assert asyncio.run(ask()) == [1]


# --- the module ---------------------------------------------------------------------------------


def test_every_public_name_is_documented() -> None:
    for name in strategies.__all__:
        value = getattr(strategies, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), name


def test_import_harness_stays_light_and_loads_strategies_on_first_use() -> None:
    code = (
        "import sys, harness\n"
        "light = 'hypothesis' not in sys.modules\n"
        "print(light, harness.strategies.fault_chains.__module__)\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.split() == ["True", "harness.strategies._faults"]


class _UserParams(Params):
    """A fault of a user's own, not registered: its strategy is derived from the field types."""

    mode: Literal["a", "b"] = "b"
    loud: bool = False
    times: int = pydantic.Field(3, ge=1, le=5)
    share: float | None = pydantic.Field(None, ge=0, le=1)
    level: int = pydantic.Field(ge=10, le=12)


def _user_fault(params: type[Params]) -> Fault[Any]:
    return Fault("user_fault", Layer.CONTENT, params, lambda target, p, ctx: target, "A user's fault.")


@FEW
@given(use=params_strategy(_user_fault(_UserParams)))
def test_user_faults_get_parameters_derived_from_their_model(use: FaultUse) -> None:
    params = _UserParams.model_validate(use.params.model_dump())
    assert 1 <= params.times <= 5
    assert 10 <= params.level <= 12


def test_derived_parameters_shrink_to_defaults_and_required_minimums() -> None:
    simplest = find(params_strategy(_user_fault(_UserParams)), lambda use: True)
    assert simplest.params == _UserParams.model_validate({"level": 10})


def test_a_required_field_without_a_derivable_strategy_asks_for_one() -> None:
    class Named(Params):
        """A required free-text field."""

        name: str

    with pytest.raises(InvalidArgument, match=r"field 'name' .* pass params=\{'user_fault': \{'name'"):
        params_strategy(_user_fault(Named))
    use = find(params_strategy(_user_fault(Named), {"name": st.just("x")}), lambda u: True)
    assert use.params == Named(name="x")
