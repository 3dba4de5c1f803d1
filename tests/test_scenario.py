"""Scenario files: every broken file gets one precise line; good files load and serve replies."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

import harness.dialects
from harness.case import CaseState
from harness.dialects import DIALECTS, Dialect
from harness.dialects.openai_chat import OpenAIChat
from harness.errors import ScenarioError
from harness.plan import CLEAN, MixPlan, RatePlan, SequencePlan
from harness.scenario import FakerInputs, Scenario, load_scenario, load_scenarios, parse_scenario
from harness.sources import CassetteSource, InlineSource, SchemaSource

DATA = Path(__file__).parent / "data"
BROKEN = DATA / "broken"
GOOD = DATA / "good"
CATALOGUE = Path(__file__).parent.parent / "scenarios"

# file → (field, a piece of the expectation that must appear)
BROKEN_FILES: dict[str, tuple[str, str]] = {
    "allowed-error-not-exception": ("contract.allowed_errors[1]", "expected an exception class; got class"),
    "bad-duration": ("case_timeout", "expected a duration like 250ms, 2s or 1.5m"),
    "bad-fault-params": ("faults[1].params.status", "got 999"),
    "bad-name": ("name", "expected a name of lower-case letters, digits and - only; got 'Renamed_Keys'"),
    "bad-slo": ("slos[1]", "got 'p95 < fast'"),
    "cases-not-integer": ("cases", "expected a positive number of cases; got 'twenty'"),
    "cassette-missing": ("source.cassette", "expected an existing cassette file"),
    "contract-bad-schema": ("contract.schema", "'objekt' is not valid"),
    "contract-missing": ("contract", "missing; expected a mapping with schema or model"),
    "duplicate-key": ("line 7, column 1", "expected each key once; 'name' repeats line 3"),
    "empty": ("(top level)", "expected a mapping of scenario keys; got an empty file"),
    "faker-unknown-method": ("inputs.faker", "expected a Faker method such as paragraph; got 'paragrph'"),
    "fault-and-chain": ("faults[0]", "expected exactly one of fault or chain; got both"),
    "inputs-empty": ("inputs", "expected at least one input; got an empty list"),
    "missing-name": ("name", "missing; expected a name of lower-case letters"),
    "missing-version": ("version", "expected 1; got nothing"),
    "model-not-importable": ("source.model", "no module named 'harness.nonexistent'"),
    "not-yaml": ("line 5, column 1", "not valid YAML: expected ',' or '}'"),
    "rate-out-of-range": ("faults[0].rate", "expected a probability between 0 and 1; got 1.5"),
    "sequence-bad-then": ("sequence.then", "expected clean, repeat or last; got 'forever'"),
    "source-no-kind": ("source", "expected exactly one of schema, model, content, cassette; got none"),
    "source-two-kinds": ("source", "got schema and content"),
    "source-typo": ("source.shema", "unknown key; expected one of schema, model, content, cassette"),
    "top-level-list": ("(top level)", "expected a mapping of scenario keys; got a list"),
    "two-plans": ("mix", "expected only one of faults, mix or sequence; got faults and mix"),
    "unknown-fault": ("faults[0].fault", "got 'renam_keys' (did you mean 'rename_keys'?)"),
    "unknown-fault-param": ("faults[0].params.mapings", "unknown key; expected one of mapping"),
    "unknown-provider": ("provider", "got 'openai-chatt' (did you mean 'openai-chat'?)"),
    "unknown-top-key": ("fualts", "unknown key; expected one of version, name"),
    "version-2": ("version", "expected 1; got 2"),
    "weight-not-positive": ("mix[1].weight", "expected a positive weight; got 0"),
    "xfail-unknown-slo": (
        "xfail['py:harness.demo.naive:extract'].slos[0]",
        "expected one of the scenario's slos: 'p95 < 2s'; got 'p99 < 2s'",
    ),
}
CHAT = "/v1/chat/completions"
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Sign up Ada"}]}


def test_every_broken_file_is_in_the_table() -> None:
    assert sorted(p.stem for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_FILES)
    assert len(BROKEN_FILES) >= 22


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_broken_file_gets_one_precise_line(name: str) -> None:
    path = BROKEN / f"{name}.yaml"
    field, expected = BROKEN_FILES[name]
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: ")
    assert expected in message
    assert (info.value.path, info.value.field) == (str(path), field)


def test_missing_file_and_directory() -> None:
    with pytest.raises(ScenarioError, match=r"absent\.yaml: file: no such file$"):
        load_scenario(DATA / "absent.yaml")
    with pytest.raises(ScenarioError, match="file: expected a YAML file; got a directory"):
        load_scenario(GOOD)


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.yaml")), ids=lambda p: p.stem)
def test_good_file_loads_and_serves_a_reply(path: Path) -> None:
    scenario = load_scenario(path)
    dialect = harness.dialects.DIALECTS.get(scenario.provider)
    served_path = dialect.paths[0]
    body = {**CHAT_BODY, "max_tokens": 256} if scenario.provider == "anthropic-messages" else CHAT_BODY
    responder = scenario.build_responder(scenario.seed)
    case = CaseState(seed=scenario.seed, index=0)
    replies = [responder.respond(served_path, json.dumps(body).encode(), {}, case) for _ in range(3)]
    clean = [r for r in replies if r.faults == [] and r.status == 200]
    assert clean, "at least one of three calls is served clean"
    text = dialect.reply_text(json.loads(clean[0].body))
    assert text is not None
    assert scenario.contract.check(json.loads(text)) is None
    assert len(scenario.make_inputs(scenario.seed, 5)) == 5


def test_minimal_defaults() -> None:
    scenario = load_scenario(GOOD / "minimal.yaml")
    assert (scenario.provider, scenario.seed, scenario.cases) == ("openai-chat", 0, 20)
    assert (scenario.case_timeout, scenario.time_scale) == (60.0, 1.0)
    assert scenario.plan is CLEAN
    assert scenario.fault_names == frozenset()
    assert isinstance(scenario.source, InlineSource)
    assert scenario.source.content == '{"user_id":42,"name":"Ada Lovelace","is_active":true}'
    assert scenario.slos == [] and scenario.xfail == {}
    assert scenario.path == GOOD / "minimal.yaml"
    assert scenario.make_inputs(0, 3) == [
        "Sign up Ada Lovelace",
        "Sign up Grace Hopper",
        "Sign up Ada Lovelace",
    ]
    assert scenario.build_responder().seed == 0 and scenario.build_responder(5).seed == 5


def test_rate_plan_with_chain_first_and_faker_inputs() -> None:
    scenario = load_scenario(GOOD / "schema-rate.yaml")
    assert scenario.name == "schema-with-rate-rules"
    assert (scenario.seed, scenario.cases, scenario.case_timeout, scenario.time_scale) == (11, 5, 90.0, 0.0)
    assert isinstance(scenario.plan, RatePlan)
    rename, chained = scenario.plan.rules
    assert (rename.rate, rename.first, [u.label for u in rename.uses]) == (
        0.5,
        None,
        ["rename_keys(mapping={'user_id':'UserID'})"],
    )
    assert (chained.rate, chained.first) == (0.2, 1)
    assert [u.fault.name for u in chained.uses] == ["latency", "markdown_fence"]
    assert scenario.fault_names == {"rename_keys", "latency", "markdown_fence"}
    assert isinstance(scenario.source, SchemaSource) and scenario.source.locale == "en_GB"
    assert scenario.contract.is_allowed(ValueError("x"))
    assert scenario.xfail["py:harness.demo.naive:extract"].slos == ["schema_violations == 0"]
    assert [slo.text for slo in scenario.slos] == ["schema_violations == 0", "p95 < 2s"]


def test_faker_inputs_are_seeded_and_pooled() -> None:
    scenario = load_scenario(GOOD / "schema-rate.yaml")
    assert scenario.inputs == FakerInputs("paragraph", {"nb_sentences": 2}, 3, "en_US")
    inputs = scenario.make_inputs(7, 7)
    assert inputs == scenario.make_inputs(7, 7)
    assert inputs[:3] == inputs[3:6] and inputs[6] == inputs[0]
    assert len(set(inputs)) == 3
    assert all(isinstance(text, str) and text.endswith(".") for text in inputs)
    assert scenario.make_inputs(8, 3) != inputs[:3]
    assert scenario.make_inputs(7, 0) == []


def test_listed_inputs_are_copied_not_shared(tmp_path: Path) -> None:
    text = (
        (GOOD / "minimal.yaml")
        .read_text()
        .replace('  - "Sign up Ada Lovelace"\n  - "Sign up Grace Hopper"\n', "  - {text: hello}\n")
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    first, second = load_scenario(path).make_inputs(0, 2)
    first["text"] = "changed"
    assert second == {"text": "hello"}


def test_mix_plan_and_model_source() -> None:
    scenario = load_scenario(GOOD / "mix-model.yaml")
    assert isinstance(scenario.plan, MixPlan)
    assert [(r.weight, [u.fault.name for u in r.uses]) for r in scenario.plan.rules] == [
        (1.0, ["http_status"]),
        (2.0, ["type_drift"]),
        (7.0, []),
    ]
    assert scenario.case_timeout == 0.25
    assert scenario.contract.model is not None and scenario.contract.model.__name__ == "UserRecord"


def test_sequence_plan_with_bare_step_names_over_a_cassette() -> None:
    scenario = load_scenario(GOOD / "sequence-cassette.yaml")
    assert isinstance(scenario.plan, SequencePlan)
    assert scenario.plan.then == "clean"
    assert [[u.fault.name for u in step.uses] for step in scenario.plan.steps] == [
        ["http_status"],
        ["http_status"],
        [],
    ]
    assert isinstance(scenario.source, CassetteSource)
    assert scenario.source.path == DATA / "cassettes" / "openai-chat.json"
    statuses = []
    responder, case = scenario.build_responder(), CaseState(seed=0, index=0)
    for _ in range(3):
        statuses.append(responder.respond(CHAT, json.dumps(CHAT_BODY).encode(), {}, case).status)
    assert statuses == [429, 429, 200]


def test_anthropic_scenario_replays_the_recorded_stream() -> None:
    scenario = load_scenario(GOOD / "anthropic-cassette.yaml")
    assert scenario.provider == "anthropic-messages"
    assert isinstance(scenario.source, CassetteSource) and scenario.source.match == "last_user_message"


def test_load_scenarios_expands_folders_sorted() -> None:
    scenarios = load_scenarios([GOOD])
    assert [s.path.name for s in scenarios] == sorted(p.name for p in GOOD.glob("*.yaml"))
    assert all(isinstance(s, Scenario) for s in scenarios)


def test_load_scenarios_refuses_duplicate_names_and_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((GOOD / "minimal.yaml").read_text())
    (tmp_path / "b.yml").write_text((GOOD / "minimal.yaml").read_text())
    with pytest.raises(
        ScenarioError, match=r"b\.yml: name: expected a unique name; 'minimal-inline' is also in"
    ):
        load_scenarios([tmp_path])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScenarioError, match="file: expected a folder of"):
        load_scenarios([empty])


def test_shipped_catalogue_loads() -> None:
    scenarios = load_scenarios([CATALOGUE])
    assert scenarios
    for scenario in scenarios:
        for label, xfail in scenario.xfail.items():
            assert label.startswith(("py:", "demo-service:"))
            assert set(xfail.slos) <= {slo.text for slo in scenario.slos}


BASE = {
    "version": 1,
    "name": "inline",
    "description": "built in code",
    "source": {"content": "hi"},
    "inputs": ["x"],
    "contract": {"schema": {"type": "object"}},
}


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"seed": -1}, "seed", "expected a non-negative integer; got -1"),
        ({"seed": "7"}, "seed", "got '7'"),
        ({"time_scale": -0.5}, "time_scale", "expected a non-negative number; got -0.5"),
        ({"case_timeout": 0}, "case_timeout", "expected a positive duration; got 0"),
        ({"case_timeout": True}, "case_timeout", "expected a duration like 250ms"),
        ({"description": ""}, "description", "expected a non-empty text"),
        ({"faults": [{"fault": "haiku", "first": 0}]}, "faults[0].first", "expected a positive number"),
        ({"faults": [{"rate": 0.5}]}, "faults[0]", "expected exactly one of fault or chain; got neither"),
        ({"faults": [{"chain": []}]}, "faults[0].chain", "expected a non-empty list"),
        ({"faults": [{"chain": [{"fault": "haikoo"}]}]}, "faults[0].chain[0].fault", "did you mean 'haiku'?"),
        (
            {"faults": [{"fault": "clean", "params": {"a": 1}}]},
            "faults[0].params",
            "expected no params for clean",
        ),
        ({"faults": "haiku"}, "faults", "expected a list of {fault, params, rate}; got 'haiku'"),
        (
            {"faults": [{"fault": "rename_keys", "params": {"mapping": {"a": 5}}}]},
            "faults[0].params.mapping.a",
            "5",
        ),
        ({"mix": []}, "mix", "expected a non-empty list"),
        ({"sequence": {"steps": [42]}}, "sequence.steps[0]", "expected a mapping; got 42"),
        ({"sequence": {"steps": ["clean"], "than": "repeat"}}, "sequence.than", "did you mean 'then'?"),
        ({"source": {"content": None}}, "source.content", "expected text or a JSON value; got null"),
        ({"source": {"content": "x", "match": "order"}}, "source.match", "only with a cassette source"),
        (
            {"source": {"content": "x", "locale": "de_DE"}},
            "source.locale",
            "only with a schema or model source",
        ),
        ({"source": {"schema": {"type": "string"}, "locale": "xx_YY"}}, "source.locale", "got 'xx_YY'"),
        (
            {"source": {"schema": {"type": "objekt"}}},
            "source.schema",
            "expected a valid JSON Schema; at $.type",
        ),
        (
            {"source": {"schema": {"type": "integer", "minimum": 3, "maximum": 1}}},
            "source.schema",
            "above maximum",
        ),
        ({"source": {"model": "json:dumps"}}, "source.model", "expected a pydantic model class"),
        ({"source": {"model": "UserRecord"}}, "source.model", "expected 'package.module:Name'"),
        ({"source": "hello"}, "source", "expected a mapping with one of schema"),
        ({"inputs": "hello"}, "inputs", "expected a list of inputs or {faker: method"),
        ({"inputs": {"faker": "paragraph", "params": {"nb_sentencez": 2}}}, "inputs.params", "nb_sentencez"),
        (
            {"inputs": {"faker": "date_object"}},
            "inputs.faker",
            "returning JSON values; 'date_object' returns date",
        ),
        ({"inputs": {"faker": "seed_instance"}}, "inputs.faker", "expected a Faker method"),
        ({"inputs": {"faker": "word", "count": 0}}, "inputs.count", "expected a positive number"),
        ({"inputs": {"faker": "word", "cuont": 3}}, "inputs.cuont", "did you mean 'count'?"),
        ({"contract": {"allowed_errors": ["builtins:ValueError"]}}, "contract", "got neither"),
        ({"contract": {"schema": {}, "model": "harness.demo.contract:UserRecord"}}, "contract", "got both"),
        (
            {"contract": {"model": "harness.demo.hardened:ExtractionError"}},
            "contract.model",
            "a pydantic model",
        ),
        (
            {"contract": {"schema": {}, "allowed_errors": ["json:dumps"]}},
            "contract.allowed_errors[0]",
            "function",
        ),
        (
            {"slos": ["p95 < 2s"], "xfail": {"py:x:y": {"reason": "r", "slos": []}}},
            "xfail['py:x:y'].slos",
            "non-empty",
        ),
        (
            {"slos": ["p95 < 2s"], "xfail": {"py:x:y": {"slos": ["p95 < 2s"]}}},
            "xfail['py:x:y'].reason",
            "missing",
        ),
        (
            {"slos": ["p95 < 2s"], "xfail": {"py:x:y": {"reason": "r", "slos": ["nope"]}}},
            "xfail['py:x:y'].slos[0]",
            "",
        ),
        ({"inputs": ["a", {"when": dt.date(2024, 3, 1)}]}, "inputs[1]", "quote dates and times"),
        ({"source": {"content": {"when": dt.date(2024, 3, 1)}}}, "source.content", "quote dates and times"),
        ({"version": "1"}, "version", "expected 1; got '1'"),
        ({"version": 1.0}, "version", "got 1.0"),
    ],
)
def test_field_problems_in_decoded_data(change: dict[str, object], field: str, expected: str) -> None:
    data = {**json.loads(json.dumps(BASE)), **change}
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, Path("inline.yaml"))
    assert info.value.field == field
    assert expected in info.value.expected
    assert "\n" not in str(info.value)


def test_a_typo_beats_the_missing_key_it_explains() -> None:
    data = {**BASE, "contrat": BASE["contract"]}
    del data["contract"]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, Path("inline.yaml"))
    assert info.value.field == "contrat"
    assert "did you mean 'contract'?" in info.value.expected


def test_json_content_is_serialised_compactly() -> None:
    scenario = parse_scenario({**BASE, "source": {"content": {"a": [1, "é"]}}}, Path("inline.yaml"))
    assert isinstance(scenario.source, InlineSource)
    assert scenario.source.content == '{"a":[1,"é"]}'


def test_generated_source_conforms_to_the_scenario_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"email": {"type": "string", "format": "email"}},
        "required": ["email"],
    }
    scenario = parse_scenario({**BASE, "source": {"schema": schema}}, Path("inline.yaml"))
    responder, case = scenario.build_responder(3), CaseState(seed=3, index=0)
    reply = responder.respond(CHAT, json.dumps(CHAT_BODY).encode(), {}, case)
    text = harness.dialects.DIALECTS.get("openai-chat").reply_text(json.loads(reply.body))
    assert text is not None
    jsonschema.validate(
        json.loads(text), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


class _BareChat(OpenAIChat):
    """openai-chat without the ``strip_usage`` hook: a dialect ``missing_usage`` does not support."""

    name = "bare-chat"
    paths = ("/v1/bare-chat",)
    strip_usage = Dialect.strip_usage


def test_a_fault_the_provider_dialect_lacks_is_refused_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DIALECTS._items, _BareChat.name, _BareChat())
    chain = [{"fault": "latency", "params": {"seconds": 1}}, {"fault": "missing_usage"}]
    data = {**json.loads(json.dumps(BASE)), "provider": "bare-chat", "faults": [{"chain": chain}]}
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, Path("inline.yaml"))
    assert info.value.field == "faults[0].chain[1].fault"
    assert info.value.expected == "expected a fault provider 'bare-chat' supports; got 'missing_usage'"
    ok = {**data, "faults": [{"chain": chain[:1]}]}
    assert parse_scenario(ok, Path("inline.yaml")).provider == "bare-chat"
