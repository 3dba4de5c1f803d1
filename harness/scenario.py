"""Scenario files: versioned YAML naming a provider, a source, faults, inputs, a contract and SLOs.

Every problem in a file — YAML syntax, a wrong type, an unknown key or fault, bad fault
parameters, a bad duration or SLO, a model path that does not import — is reported as
one :class:`~harness.errors.ScenarioError` line: ``<file>: <field>: <expectation>``,
where the field is a path such as ``faults[2].params.status`` and the expectation says
what was expected and what was found. The schema of the file is the ``*Spec`` models of
:mod:`harness.scenario_schema`; :mod:`harness.validation` phrases their errors.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic
import yaml

from harness.contract import Contract
from harness.errors import ScenarioError
from harness.importing import ObjectImportError, import_object
from harness.jsontext import compact_json
from harness.plan import CLEAN, FaultPlan, MixPlan, RatePlan, Rule, SequencePlan
from harness.responder import Responder, Source
from harness.scenario_schema import (
    CLEAN_NAME,
    PLAN_KINDS,
    SCENARIO_VERSION,
    SOURCE_KINDS,
    ContractSpec,
    FakerInputsSpec,
    LoadSpec,
    RuleSpec,
    ScenarioSpec,
    SourceSpec,
    XFailSpec,
)
from harness.seeding import derive_seed
from harness.validation import describe, kind_of, one_line, show, unknown, validate

if TYPE_CHECKING:
    from harness.faults.base import FaultUse
    from harness.slo import SLO


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


@dataclass(frozen=True)
class LoadConfig:
    """The scenario's ``load:`` block: ``harness load`` defaults (command-line options override)."""

    users: int = 10
    spawn_rate: float | None = None
    """Users started per second (None: all of them within the first second)."""
    duration: float = 30.0
    pacing: float = 0.0
    """Seconds between the starts of one user's requests (0: back to back)."""
    abort_on_fail: bool = False
    abort_slos: list[str] | None = None
    """With ``abort_on_fail``: the SLO texts that abort (None: every SLO)."""
    grace: float = 10.0
    """Seconds an SLO must stay broken before ``abort_on_fail`` stops the run."""
    memory_limit: int | None = None
    """Cap (bytes) on the launched target's process-tree RSS, like a container's memory limit."""


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
    load: LoadConfig | None = None
    """The ``load:`` block, if the file has one."""
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
                    None,
                    None,
                    f"expected each key once; {key!r} repeats line {lines[key] + 1}",
                    key_node.start_mark,
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
        problem = exc.problem or "a syntax error"
        if "expected" not in problem:
            problem = f"{problem}; expected YAML syntax"
        raise ScenarioError(where, location, f"not valid YAML: {problem}{within}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(
            where, "file", f"not valid YAML: {one_line(str(exc))}; expected YAML syntax"
        ) from None


def parse_scenario(data: Any, path: str | Path) -> Scenario:
    """Validate decoded YAML and build the Scenario; ``path`` names the file in errors."""
    where, path = str(path), Path(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else describe(data)
        raise ScenarioError(where, "(top level)", f"expected a mapping of scenario keys; got {got}")
    if data.get("version") != SCENARIO_VERSION:
        got = "nothing" if "version" not in data else show(data["version"])
        raise ScenarioError(where, "version", f"expected {SCENARIO_VERSION}; got {got}")
    spec = validate(ScenarioSpec, data, where)
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
        load=_build_load(spec.load, slos, where),
    )


# --- building the parts -----------------------------------------------------------------------


def _check_provider(provider: str, where: str) -> None:
    from harness.dialects import DIALECTS

    if provider not in DIALECTS:
        raise ScenarioError(where, "provider", unknown("a provider", provider, list(DIALECTS)))


def _build_plan(spec: ScenarioSpec, where: str) -> FaultPlan:
    given = [kind for kind in PLAN_KINDS if getattr(spec, kind) is not None]
    if len(given) > 1:
        raise ScenarioError(
            where, given[1], f"expected only one of faults, mix or sequence; got {' and '.join(given)}"
        )
    if spec.faults:
        return RatePlan(
            tuple(
                Rule(_uses(rule, f"faults[{i}]", where, spec.provider), rate=rule.rate, first=rule.first)
                for i, rule in enumerate(spec.faults)
            )
        )
    if spec.mix:
        return MixPlan(
            tuple(
                Rule(_uses(rule, f"mix[{i}]", where, spec.provider), weight=rule.weight, first=rule.first)
                for i, rule in enumerate(spec.mix)
            )
        )
    if spec.sequence:
        steps = tuple(
            Rule(_uses(s, f"sequence.steps[{i}]", where, spec.provider))
            for i, s in enumerate(spec.sequence.steps)
        )
        return SequencePlan(steps, then=spec.sequence.then)
    return CLEAN


def _uses(rule: RuleSpec, at: str, where: str, provider: str) -> tuple[FaultUse, ...]:
    if rule.chain is not None:
        found = [
            _use(ref.fault, ref.params, f"{at}.chain[{j}]", where, provider)
            for j, ref in enumerate(rule.chain)
        ]
    else:
        found = [_use(rule.fault or "", rule.params, at, where, provider)]
    return tuple(use for use in found if use is not None)


def _use(name: str, params: Mapping[str, Any] | None, at: str, where: str, provider: str) -> FaultUse | None:
    import harness.faults
    from harness.dialects import DIALECTS
    from harness.faults.base import FaultUse
    from harness.faults.envelope import supports

    if name == CLEAN_NAME:
        if params:
            raise ScenarioError(where, f"{at}.params", f"expected no params for clean; got {show(params)}")
        return None
    if name not in harness.faults.FAULTS:
        raise ScenarioError(
            where, f"{at}.fault", unknown("a fault", name, [*harness.faults.FAULTS, CLEAN_NAME])
        )
    if not supports(name, DIALECTS.get(provider)):
        raise ScenarioError(
            where, f"{at}.fault", f"expected a fault provider {provider!r} supports; got {name!r}"
        )
    fault = harness.faults.FAULTS.get(name)
    return FaultUse(fault, validate(fault.params_model, dict(params or {}), where, prefix=f"{at}.params"))


def _build_source(spec: SourceSpec, path: Path) -> Source:
    from harness.sources import CassetteSource, GenerationError, InlineSource, SchemaSource

    where = str(path)
    kinds = [kind for kind in SOURCE_KINDS if _alias_set(spec, kind)]
    if len(kinds) != 1:
        got = "none" if not kinds else " and ".join(kinds)
        raise ScenarioError(where, "source", f"expected exactly one of {', '.join(SOURCE_KINDS)}; got {got}")
    kind = kinds[0]
    for option in ("match", "fields", "timing", "timing_scale"):
        if getattr(spec, option) is not None and kind != "cassette":
            raise ScenarioError(
                where,
                f"source.{option}",
                f"expected {option} only with a cassette source; got a {kind} source",
            )
    if spec.fields is not None and spec.match != "fields":
        raise ScenarioError(where, "source.fields", "expected fields only with match: fields")
    if spec.timing_scale is not None and spec.timing != "scaled":
        raise ScenarioError(where, "source.timing_scale", "expected timing_scale only with timing: scaled")
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
        text = spec.content if isinstance(spec.content, str) else compact_json(spec.content)
        return InlineSource(text)
    cassette = Path(os.path.normpath(path.parent / (spec.cassette or "")))
    if not cassette.is_file():
        raise ScenarioError(
            where, "source.cassette", f"expected an existing cassette file; {cassette} not found"
        )
    return CassetteSource(
        cassette,
        match=spec.match or "order",
        fields=spec.fields,
        timing=spec.timing or "none",
        timing_scale=1.0 if spec.timing_scale is None else spec.timing_scale,
    )


def _build_inputs(raw: Any, where: str) -> list[Any] | FakerInputs:
    if isinstance(raw, list):
        if not raw:
            raise ScenarioError(where, "inputs", "expected at least one input; got an empty list")
        for i, value in enumerate(raw):
            _check_json(value, where, f"inputs[{i}]")
        return raw
    if not isinstance(raw, dict):
        expected = "expected a list of inputs or {faker: method, params: {...}}"
        raise ScenarioError(where, "inputs", f"{expected}; got {describe(raw)}")
    spec = validate(FakerInputsSpec, raw, where, prefix="inputs")
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
        if not name.startswith("http:")
    )
    statuses = tuple(
        _http_status(name, where, f"contract.allowed_errors[{i}]")
        for i, name in enumerate(spec.allowed_errors)
        if name.startswith("http:")
    )
    try:
        return Contract(schema=spec.schema_, model=model, allowed_errors=errors, allowed_statuses=statuses)
    except jsonschema.SchemaError as exc:
        at = exc.json_path if exc.path else "$"
        expected = f"expected a valid JSON Schema; at {at}: {one_line(exc.message)}"
        raise ScenarioError(where, "contract.schema", expected) from None


def _http_status(entry: str, where: str, at: str) -> int:
    """``http:422`` → 422: a status a service target may answer as a declared clean error."""
    digits = entry.removeprefix("http:")
    if not (digits.isdigit() and 400 <= int(digits) <= 599):
        raise ScenarioError(where, at, f"expected http:<status> with a status from 400 to 599; got {entry!r}")
    return int(digits)


def _import_class(spec: str, base: type, what: str, where: str, at: str) -> Any:
    try:
        found = import_object(spec)
    except ObjectImportError as exc:
        raise ScenarioError(where, at, str(exc)) from None
    if not (isinstance(found, type) and issubclass(found, base)):
        raise ScenarioError(where, at, f"expected {what}; got {kind_of(found)} {spec!r}")
    return found


def _build_slos(texts: Sequence[str], where: str) -> list[SLO]:
    from harness.slo import parse_slo

    slos = []
    for i, text in enumerate(texts):
        try:
            slos.append(parse_slo(text))
        except ValueError as exc:
            raise ScenarioError(where, f"slos[{i}]", one_line(str(exc))) from None
    return slos


def _build_xfail(specs: Mapping[str, XFailSpec], slos: Sequence[SLO], where: str) -> dict[str, XFail]:
    return {
        label: XFail(
            spec.reason,
            [
                _known_slo(text, slos, where, f"xfail[{label!r}].slos[{j}]")
                for j, text in enumerate(spec.slos)
            ],
        )
        for label, spec in specs.items()
    }


def _build_load(spec: LoadSpec | None, slos: Sequence[SLO], where: str) -> LoadConfig | None:
    if spec is None:
        return None
    abort_slos = None
    if isinstance(spec.abort_on_fail, list):
        abort_slos = [
            _known_slo(text, slos, where, f"load.abort_on_fail[{i}]")
            for i, text in enumerate(spec.abort_on_fail)
        ]
    return LoadConfig(
        users=spec.users,
        spawn_rate=spec.spawn_rate,
        duration=spec.duration,
        pacing=spec.pacing,
        abort_on_fail=bool(spec.abort_on_fail),
        abort_slos=abort_slos,
        grace=spec.grace,
        memory_limit=spec.memory_limit,
    )


def _known_slo(text: str, slos: Sequence[SLO], where: str, at: str) -> str:
    """``text`` normalised, when it is one of the scenario's SLOs (ScenarioError otherwise)."""
    from harness.slo import parse_slo

    try:
        normal = parse_slo(text).text
    except ValueError as exc:
        raise ScenarioError(where, at, one_line(str(exc))) from None
    known = [slo.text for slo in slos]
    if normal not in known:
        listed = ", ".join(repr(k) for k in known) or "none (slos is empty)"
        raise ScenarioError(where, at, f"expected one of the scenario's slos: {listed}; got {text!r}")
    return normal


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
        raise ScenarioError(where, at, unknown("a Faker locale", locale, AVAILABLE_LOCALES, listed=False))
    return locale


def _new_faker(locale: str) -> Any:
    from faker import Faker

    return Faker(locale)


def _alias_set(spec: pydantic.BaseModel, key: str) -> bool:
    name = f"{key}_" if key == "schema" else key
    return name in spec.model_fields_set
