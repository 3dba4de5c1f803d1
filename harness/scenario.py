"""Scenario files: versioned YAML naming a provider, a source, faults, inputs, a contract and SLOs.

Every problem in a file — YAML syntax, a wrong type, an unknown key or fault, bad fault
parameters, a bad duration or SLO, a model path that does not import — is reported as
one :class:`~harness.errors.ScenarioError` line: ``<file>: <field>: <expectation>``,
where the field is a path such as ``faults[2].params.status`` and the expectation says
what was expected and what was found. The schema of the file is the ``*Spec`` models
below (unknown keys are refused everywhere); ``docs`` of each field say what it holds.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
import yaml
from pydantic_core import ErrorDetails

from harness.contract import Contract
from harness.durations import DURATION_EXPECTED, parse_duration
from harness.errors import ScenarioError
from harness.importing import ObjectImportError, import_object
from harness.plan import CLEAN, FaultPlan, MixPlan, RatePlan, Rule, SequencePlan
from harness.responder import Responder, Source
from harness.seeding import derive_seed

if TYPE_CHECKING:
    from harness.faults.base import FaultUse
    from harness.slo import SLO

SCENARIO_VERSION = 1
NAME_PATTERN = r"^[a-z0-9-]+$"
CLEAN_NAME = "clean"
"""The fault name that stands for "no fault" (an empty chain) in mixes and sequences."""
SOURCE_KINDS = ("schema", "model", "content", "cassette")
PLAN_KINDS = ("faults", "mix", "sequence")


# --- the file's schema ------------------------------------------------------------------------


class _Spec(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)


def _step_from_name(value: Any) -> Any:
    """A bare fault name in a sequence (``- clean``) is short for ``{fault: clean}``."""
    return {"fault": value} if isinstance(value, str) else value


def _duration(value: Any) -> float:
    if isinstance(value, str):
        seconds = parse_duration(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"expected {DURATION_EXPECTED}; got {_show(value)}")
    if seconds <= 0:
        raise ValueError(f"expected a positive duration; got {_show(value)}")
    return seconds


class FaultRefSpec(_Spec):
    """One fault of a chain."""

    fault: str = pydantic.Field(description="a fault name (see `harness faults`)")
    params: dict[str, Any] | None = pydantic.Field(None, description="a mapping of the fault's parameters")


class RuleSpec(_Spec):
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


class SequenceSpec(_Spec):
    """``sequence:``: step k for model call k, then clean, repeat or the last step."""

    steps: list[Annotated[RuleSpec, pydantic.BeforeValidator(_step_from_name)]] = pydantic.Field(
        min_length=1, description="a non-empty list of steps: fault names, {fault, params} or {chain}"
    )
    then: Literal["clean", "repeat", "last"] = pydantic.Field("clean", description="clean, repeat or last")


class SourceSpec(_Spec):
    """``source:``: where the clean reply comes from; exactly one of the first four keys."""

    schema_: dict[str, Any] | None = pydantic.Field(None, alias="schema", description="a JSON Schema")
    model: str | None = pydantic.Field(None, description="a pydantic model as package.module:Model")
    content: Any = pydantic.Field(None, description="inline text or a JSON value")
    cassette: str | None = pydantic.Field(None, description="a cassette file, relative to the scenario")
    match: Literal["order", "last_user_message"] | None = pydantic.Field(
        None, description="order or last_user_message"
    )
    locale: str | None = pydantic.Field(None, description="a Faker locale such as en_US")


class FakerInputsSpec(_Spec):
    """``inputs: {faker: ...}``: inputs drawn from a Faker method."""

    faker: str = pydantic.Field(description="a Faker method name such as paragraph or email")
    params: dict[str, Any] = pydantic.Field(
        default_factory=dict, description="a mapping of the method's keyword arguments"
    )
    count: int | None = pydantic.Field(None, ge=1, description="a positive number of distinct inputs to draw")
    locale: str = pydantic.Field("en_US", description="a Faker locale such as en_US")


class ContractSpec(_Spec):
    """``contract:``: the pipeline output's schema or model, and its declared clean errors."""

    schema_: dict[str, Any] | None = pydantic.Field(None, alias="schema", description="a JSON Schema")
    model: str | None = pydantic.Field(None, description="a pydantic model as package.module:Model")
    allowed_errors: list[str] = pydantic.Field(
        default_factory=list, description="a list of exception classes as package.module:Name"
    )


class XFailSpec(_Spec):
    """One ``xfail:`` entry: the SLOs a known-bad target is expected to break."""

    reason: str = pydantic.Field(min_length=1, description="a non-empty reason why the target fails")
    slos: list[str] = pydantic.Field(
        min_length=1, description="a non-empty list of the SLOs expected to break"
    )


class ScenarioSpec(_Spec):
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


# --- the loaded scenario ----------------------------------------------------------------------


@dataclass(frozen=True)
class XFail:
    """A target expected to break exactly these SLOs (like pytest's ``xfail(strict=True)``)."""

    reason: str
    slos: list[str]
    """Normalised SLO texts (``SLO.text``)."""


@dataclass(frozen=True)
class FakerInputs:
    """Inputs drawn from a Faker method, seeded from the run's seed."""

    method: str
    params: dict[str, Any]
    count: int | None
    """Distinct inputs drawn (then cycled); None draws one per case."""
    locale: str


@dataclass
class Scenario:
    """A loaded, validated scenario: everything a run needs."""

    name: str
    description: str
    path: Path
    provider: str
    seed: int
    cases: int
    case_timeout: float
    """Scenario-time deadline per case, seconds."""
    time_scale: float
    plan: FaultPlan
    source: Source
    contract: Contract
    slos: list[SLO]
    xfail: dict[str, XFail]
    """Target label → expected failure."""
    inputs: list[Any] | FakerInputs
    _faker: Any = field(default=None, repr=False, compare=False)

    @property
    def fault_names(self) -> frozenset[str]:
        """Every fault the plan can serve."""
        return self.plan.fault_names

    def build_responder(self, seed: int | None = None) -> Responder:
        """A Responder serving this scenario under ``seed`` (default: the scenario's)."""
        return Responder(self.source, self.plan, seed=self.seed if seed is None else seed)

    def make_inputs(self, seed: int, count: int) -> list[Any]:
        """``count`` pipeline inputs: the listed ones cycled, or Faker draws seeded from ``seed``."""
        if isinstance(self.inputs, list):
            return [copy.deepcopy(self.inputs[i % len(self.inputs)]) for i in range(count)]
        if count <= 0:
            return []
        spec = self.inputs
        if self._faker is None:
            self._faker = _new_faker(spec.locale)
        self._faker.seed_instance(derive_seed(seed, "inputs"))
        method = getattr(self._faker, spec.method)
        pool = [method(**spec.params) for _ in range(spec.count or count)]
        return [pool[i % len(pool)] for i in range(count)]


# --- loading ----------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and build the scenario in ``path``; raises :class:`ScenarioError`."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(where, "file", "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(where, "file", "expected a YAML file; got a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(where, "file", f"cannot read: {exc}") from None
    return parse_scenario(read_yaml(text, where), Path(path))


def load_scenarios(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load files and folders (a folder: its ``*.yaml``/``*.yml`` files, sorted); names must be unique."""
    scenarios: list[Scenario] = []
    seen: dict[str, Path] = {}
    for path in expand_paths(paths):
        scenario = load_scenario(path)
        if scenario.name in seen:
            raise ScenarioError(
                str(path),
                "name",
                f"expected a unique name; {scenario.name!r} is also in {seen[scenario.name]}",
            )
        seen[scenario.name] = path
        scenarios.append(scenario)
    return scenarios


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders replaced by their sorted ``*.yaml`` and ``*.yml`` files."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
        if not files:
            raise ScenarioError(str(path), "file", "expected a folder of *.yaml scenario files; found none")
        found.extend(files)
    return found


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> Any:
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node)
            if key in lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {lines[key] + 1})", key_node.start_mark
                )
            lines[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_yaml(text: str, where: str) -> Any:
    """Parse YAML text; syntax problems become a ScenarioError naming line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        location = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        context = exc.context_mark
        within = f" ({exc.context} on line {context.line + 1})" if exc.context and context else ""
        raise ScenarioError(where, location, f"not valid YAML: {exc.problem}{within}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(where, "file", f"not valid YAML: {_one_line(str(exc))}") from None


def parse_scenario(data: Any, path: str | Path) -> Scenario:
    """Validate decoded YAML and build the Scenario; ``path`` names the file in errors."""
    where, path = str(path), Path(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _got(data)
        raise ScenarioError(where, "(top level)", f"expected a mapping of scenario keys; got {got}")
    if data.get("version") != SCENARIO_VERSION:
        got = "nothing" if "version" not in data else _show(data["version"])
        raise ScenarioError(where, "version", f"expected {SCENARIO_VERSION}; got {got}")
    try:
        spec = ScenarioSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ScenarioError(where, *pydantic_problem(exc, ScenarioSpec)) from None
    _check_provider(spec.provider, where)
    plan = _build_plan(spec, where)
    source = _build_source(spec.source, path)
    inputs = _build_inputs(spec.inputs, where)
    contract = _build_contract(spec.contract, where)
    slos = _build_slos(spec.slos, where)
    return Scenario(
        name=spec.name,
        description=spec.description,
        path=path,
        provider=spec.provider,
        seed=spec.seed,
        cases=spec.cases,
        case_timeout=spec.case_timeout,
        time_scale=spec.time_scale,
        plan=plan,
        source=source,
        contract=contract,
        slos=slos,
        xfail=_build_xfail(spec.xfail, slos, where),
        inputs=inputs,
    )


# --- building the parts -----------------------------------------------------------------------


def _check_provider(provider: str, where: str) -> None:
    from harness.dialects import DIALECTS

    if provider not in DIALECTS:
        raise ScenarioError(where, "provider", _unknown("a provider", provider, list(DIALECTS)))


def _build_plan(spec: ScenarioSpec, where: str) -> FaultPlan:
    given = [kind for kind in PLAN_KINDS if getattr(spec, kind) is not None]
    if len(given) > 1:
        raise ScenarioError(
            where, given[1], f"expected only one of faults, mix or sequence; got {' and '.join(given)}"
        )
    if spec.faults:
        return RatePlan(
            tuple(
                Rule(_uses(rule, f"faults[{i}]", where), rate=rule.rate, first=rule.first)
                for i, rule in enumerate(spec.faults)
            )
        )
    if spec.mix:
        return MixPlan(
            tuple(
                Rule(_uses(rule, f"mix[{i}]", where), weight=rule.weight, first=rule.first)
                for i, rule in enumerate(spec.mix)
            )
        )
    if spec.sequence:
        steps = tuple(
            Rule(_uses(s, f"sequence.steps[{i}]", where)) for i, s in enumerate(spec.sequence.steps)
        )
        return SequencePlan(steps, then=spec.sequence.then)
    return CLEAN


def _uses(rule: RuleSpec, at: str, where: str) -> tuple[FaultUse, ...]:
    if rule.chain is not None:
        found = [_use(ref.fault, ref.params, f"{at}.chain[{j}]", where) for j, ref in enumerate(rule.chain)]
    else:
        found = [_use(rule.fault or "", rule.params, at, where)]
    return tuple(use for use in found if use is not None)


def _use(name: str, params: Mapping[str, Any] | None, at: str, where: str) -> FaultUse | None:
    import harness.faults
    from harness.faults.base import FaultUse

    if name == CLEAN_NAME:
        if params:
            raise ScenarioError(where, f"{at}.params", f"expected no params for clean; got {_show(params)}")
        return None
    if name not in harness.faults.FAULTS:
        raise ScenarioError(
            where, f"{at}.fault", _unknown("a fault", name, [*harness.faults.FAULTS, CLEAN_NAME])
        )
    fault = harness.faults.FAULTS.get(name)
    try:
        validated = fault.params_model.model_validate(dict(params or {}))
    except pydantic.ValidationError as exc:
        raise ScenarioError(
            where, *pydantic_problem(exc, fault.params_model, prefix=f"{at}.params")
        ) from None
    return FaultUse(fault, validated)


def _build_source(spec: SourceSpec, path: Path) -> Source:
    from harness.sources import CassetteSource, GenerationError, InlineSource, SchemaSource

    where = str(path)
    kinds = [kind for kind in SOURCE_KINDS if _alias_set(spec, kind)]
    if len(kinds) != 1:
        got = "none" if not kinds else " and ".join(kinds)
        raise ScenarioError(where, "source", f"expected exactly one of {', '.join(SOURCE_KINDS)}; got {got}")
    kind = kinds[0]
    if spec.match is not None and kind != "cassette":
        raise ScenarioError(
            where, "source.match", f"expected match only with a cassette source; got a {kind} source"
        )
    if spec.locale is not None and kind not in {"schema", "model"}:
        raise ScenarioError(
            where, "source.locale", f"expected locale only with a schema or model source; got a {kind} source"
        )
    locale = _check_locale(spec.locale or "en_US", where, "source.locale")
    try:
        if kind == "schema":
            return SchemaSource(spec.schema_ or {}, locale=locale)
        if kind == "model":
            return SchemaSource.from_model(spec.model or "", locale=locale)
    except (GenerationError, ObjectImportError) as exc:
        raise ScenarioError(where, f"source.{kind}", str(exc)) from None
    if kind == "content":
        if spec.content is None:
            raise ScenarioError(where, "source.content", "expected text or a JSON value; got null")
        _check_json(spec.content, where, "source.content")
        text = spec.content if isinstance(spec.content, str) else _compact(spec.content)
        return InlineSource(text)
    cassette = Path(os.path.normpath(path.parent / (spec.cassette or "")))
    if not cassette.is_file():
        raise ScenarioError(
            where, "source.cassette", f"expected an existing cassette file; {cassette} not found"
        )
    return CassetteSource(cassette, match=spec.match or "order")


def _build_inputs(raw: Any, where: str) -> list[Any] | FakerInputs:
    if isinstance(raw, list):
        if not raw:
            raise ScenarioError(where, "inputs", "expected at least one input; got an empty list")
        for i, value in enumerate(raw):
            _check_json(value, where, f"inputs[{i}]")
        return raw
    if not isinstance(raw, dict):
        expected = "expected a list of inputs or {faker: method, params: {...}}"
        raise ScenarioError(where, "inputs", f"{expected}; got {_got(raw)}")
    try:
        spec = FakerInputsSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ScenarioError(where, *pydantic_problem(exc, FakerInputsSpec, prefix="inputs")) from None
    locale = _check_locale(spec.locale, where, "inputs.locale")
    faker = _new_faker(locale)
    method = getattr(faker, spec.faker, None) if not spec.faker.startswith("_") else None
    if not callable(method) or spec.faker.startswith("seed"):
        raise ScenarioError(
            where, "inputs.faker", f"expected a Faker method such as paragraph; got {spec.faker!r}"
        )
    faker.seed_instance(0)
    try:
        sample = method(**spec.params)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ScenarioError(
            where, "inputs.params", f"expected arguments of Faker's {spec.faker}: {exc}"
        ) from None
    try:
        json.dumps(sample)
    except (TypeError, ValueError):
        got = f"{spec.faker!r} returns {type(sample).__name__}"
        raise ScenarioError(
            where, "inputs.faker", f"expected a Faker method returning JSON values; {got}"
        ) from None
    return FakerInputs(spec.faker, spec.params, spec.count, locale)


def _build_contract(spec: ContractSpec, where: str) -> Contract:
    import jsonschema

    kinds = [kind for kind in ("schema", "model") if _alias_set(spec, kind)]
    if len(kinds) != 1:
        got = "neither" if not kinds else "both"
        raise ScenarioError(where, "contract", f"expected exactly one of schema or model; got {got}")
    model = None
    if spec.model is not None:
        model = _import_class(
            spec.model, pydantic.BaseModel, "a pydantic model class", where, "contract.model"
        )
    errors = tuple(
        _import_class(name, BaseException, "an exception class", where, f"contract.allowed_errors[{i}]")
        for i, name in enumerate(spec.allowed_errors)
    )
    try:
        return Contract(schema=spec.schema_, model=model, allowed_errors=errors)
    except jsonschema.SchemaError as exc:
        at = exc.json_path if exc.path else "$"
        expected = f"expected a valid JSON Schema; at {at}: {_one_line(exc.message)}"
        raise ScenarioError(where, "contract.schema", expected) from None


def _import_class(spec: str, base: type, what: str, where: str, at: str) -> Any:
    try:
        found = import_object(spec)
    except ObjectImportError as exc:
        raise ScenarioError(where, at, str(exc)) from None
    if not (isinstance(found, type) and issubclass(found, base)):
        raise ScenarioError(where, at, f"expected {what}; got {_kind(found)} {spec!r}")
    return found


def _build_slos(texts: Sequence[str], where: str) -> list[SLO]:
    from harness.slo import parse_slo

    slos = []
    for i, text in enumerate(texts):
        try:
            slos.append(parse_slo(text))
        except ValueError as exc:
            raise ScenarioError(where, f"slos[{i}]", _one_line(str(exc))) from None
    return slos


def _build_xfail(specs: Mapping[str, XFailSpec], slos: Sequence[SLO], where: str) -> dict[str, XFail]:
    from harness.slo import parse_slo

    known = [slo.text for slo in slos]
    xfail: dict[str, XFail] = {}
    for label, spec in specs.items():
        texts: list[str] = []
        for j, text in enumerate(spec.slos):
            at = f"xfail[{label!r}].slos[{j}]"
            try:
                normal = parse_slo(text).text
            except ValueError as exc:
                raise ScenarioError(where, at, _one_line(str(exc))) from None
            if normal not in known:
                listed = ", ".join(repr(k) for k in known) or "none (slos is empty)"
                raise ScenarioError(where, at, f"expected one of the scenario's slos: {listed}; got {text!r}")
            texts.append(normal)
        xfail[label] = XFail(spec.reason, texts)
    return xfail


def _check_json(value: Any, where: str, at: str) -> None:
    """YAML turns unquoted ``2024-03-01`` into a date; inputs and content must stay JSON."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ScenarioError(
            where, at, f"expected JSON values only (quote dates and times); got {value!r}"
        ) from None


def _check_locale(locale: str, where: str, at: str) -> str:
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise ScenarioError(where, at, _unknown("a Faker locale", locale, AVAILABLE_LOCALES, listed=False))
    return locale


def _new_faker(locale: str) -> Any:
    from faker import Faker

    return Faker(locale)


def _alias_set(spec: pydantic.BaseModel, key: str) -> bool:
    name = f"{key}_" if key == "schema" else key
    return name in spec.model_fields_set


# --- turning pydantic errors into one line ------------------------------------------------------

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
        return at, f"unknown key{listed}{_suggest(str(loc[-1]), valid)}"
    if error["type"] == "missing":
        described = _description(model, loc)
        return at, f"missing; expected {described}" if described else "missing required key"
    own = _own_description(model, loc)
    if own and error["type"] not in {"value_error", "assertion_error"}:
        return at, f"expected {own}; got {_show(error.get('input'))}"
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
    kind, ctx, got = error["type"], error.get("ctx") or {}, _show(error.get("input"))
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return _one_line(str(ctx["error"]))
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
        message = _one_line(error["msg"])
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
    """The description of a field of the scenario's own models: written as an expectation."""
    parent = _node(model, loc[:-1]) if loc else None
    if isinstance(parent, type) and issubclass(parent, _Spec) and isinstance(loc[-1], str):
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


# --- small text helpers -------------------------------------------------------------------------


def _unknown(what: str, name: str, valid: Iterable[str], *, listed: bool = True) -> str:
    names = sorted(valid)
    choices = f", one of: {', '.join(names)}" if listed else ""
    return f"expected {what}{choices}; got {name!r}{_suggest(name, names)}"


def _suggest(name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _got(value: Any) -> str:
    return "null" if value is None else f"{_kind(value)} {_show(value)}"


def _kind(value: Any) -> str:
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


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."
