"""harness: chaos and regression testing for model-backed pipelines.

Fakes the model provider (in-process), serves recorded, generated and fuzzed replies with
seeded faults at the content, envelope and transport layers, drives the pipeline and
judges service-level objectives. Names are imported lazily so that ``import harness``
(done by the pytest plugin in every test session) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # running pipelines under faults
    "intercept": "harness.interception",
    "Interceptor": "harness.interception",
    "run_scenario": "harness.runner",
    "RunSettings": "harness.runner",
    "assert_slos": "harness.runner",
    "CaseState": "harness.case",
    "CaseDeadlineExceeded": "harness.case",
    # scenarios, sources, plans
    "Scenario": "harness.scenario",
    "load_scenario": "harness.scenario",
    "load_scenarios": "harness.scenario",
    "Contract": "harness.contract",
    "InlineSource": "harness.sources",
    "SchemaSource": "harness.sources",
    "CassetteSource": "harness.sources",
    "Responder": "harness.responder",
    "Rule": "harness.plan",
    "RatePlan": "harness.plan",
    "MixPlan": "harness.plan",
    "SequencePlan": "harness.plan",
    "CLEAN": "harness.plan",
    # faults and dialects (extension points)
    "FAULTS": "harness.faults",
    "fault": "harness.faults",
    "FaultUse": "harness.faults",
    "FaultContext": "harness.faults",
    "Layer": "harness.faults",
    "Params": "harness.faults",
    "DIALECTS": "harness.dialects",
    "Dialect": "harness.dialects",
    # verdicts and observations
    "SLO": "harness.slo",
    "Verdict": "harness.slo",
    "parse_slo": "harness.slo",
    "evaluate_all": "harness.slo",
    "Observation": "harness.observation",
    "Outcome": "harness.observation",
    # errors
    "HarnessError": "harness.errors",
    "UsageError": "harness.errors",
    "ScenarioError": "harness.errors",
    "FaultParamsError": "harness.errors",
    "UnknownNameError": "harness.errors",
    "TargetError": "harness.errors",
    "SLOFailure": "harness.errors",
}

_SUBMODULES = frozenset({"strategies"})
"""Public submodules loaded on first attribute access (Hypothesis strategies import hypothesis)."""

__all__ = [
    "CLEAN",
    "DIALECTS",
    "FAULTS",
    "SLO",
    "CaseDeadlineExceeded",
    "CaseState",
    "CassetteSource",
    "Contract",
    "Dialect",
    "FaultContext",
    "FaultParamsError",
    "FaultUse",
    "HarnessError",
    "InlineSource",
    "Interceptor",
    "Layer",
    "MixPlan",
    "Observation",
    "Outcome",
    "Params",
    "RatePlan",
    "Responder",
    "Rule",
    "RunSettings",
    "SLOFailure",
    "Scenario",
    "ScenarioError",
    "SchemaSource",
    "SequencePlan",
    "TargetError",
    "UnknownNameError",
    "UsageError",
    "Verdict",
    "__version__",
    "assert_slos",
    "evaluate_all",
    "fault",
    "intercept",
    "load_scenario",
    "load_scenarios",
    "parse_slo",
    "run_scenario",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    if name in _SUBMODULES:  # ``harness.strategies`` without importing it first
        return importlib.import_module(f"harness.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from harness.case import CaseDeadlineExceeded, CaseState
    from harness.contract import Contract
    from harness.dialects import DIALECTS, Dialect
    from harness.errors import (
        FaultParamsError,
        HarnessError,
        ScenarioError,
        SLOFailure,
        TargetError,
        UnknownNameError,
        UsageError,
    )
    from harness.faults import FAULTS, FaultContext, FaultUse, Layer, Params, fault
    from harness.interception import Interceptor, intercept
    from harness.observation import Observation, Outcome
    from harness.plan import CLEAN, MixPlan, RatePlan, Rule, SequencePlan
    from harness.responder import Responder
    from harness.runner import RunSettings, assert_slos, run_scenario
    from harness.scenario import Scenario, load_scenario, load_scenarios
    from harness.slo import SLO, Verdict, evaluate_all, parse_slo
    from harness.sources import CassetteSource, InlineSource, SchemaSource
