"""Sources: inline text, schema/model-generated JSON, and recorded cassettes."""

from __future__ import annotations

import datetime as dt
import enum
import json
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Literal, Optional

import jsonschema
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.demo.contract import UserRecord
from harness.errors import ScenarioError
from harness.importing import ObjectImportError
from harness.sources import (
    CassetteSource,
    GenerationError,
    InlineSource,
    SchemaSource,
    completion_from_body,
    completion_from_events,
)
from harness.sources.fakedata import LocaleFaker
from harness.wire import Finish, ModelRequest

CASSETTES = Path(__file__).parent / "data" / "cassettes"
CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def request(call: int = 1, body: dict[str, Any] | None = None, **kwargs: Any) -> ModelRequest:
    """A parsed request as the Responder hands it to a source."""
    return ModelRequest("openai-chat", "/v1/chat/completions", body or {}, call=call, **kwargs)


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=CHECKER)


# --- inline -----------------------------------------------------------------------------------


def test_inline_source_is_verbatim_with_token_estimates() -> None:
    completion = InlineSource('{"user_id": 42}').completion(request(prompt_text="x" * 40), random.Random(0))
    assert completion.text == '{"user_id": 42}'
    assert completion.finish is Finish.STOP
    assert (completion.input_tokens, completion.output_tokens) == (10, 3)
    assert InlineSource("").completion(request(), random.Random(0)).output_tokens == 1


# --- generated ----------------------------------------------------------------------------------

PROFILE = {
    "type": "object",
    "properties": {
        "user_id": {"type": "integer", "minimum": 1},
        "id": {"type": "string", "format": "uuid"},
        "full_name": {"type": "string"},
        "first_name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "phone": {"type": "string"},
        "city": {"type": "string"},
        "company": {"type": "string"},
        "website": {"type": "string", "format": "uri"},
        "age": {"type": "integer"},
        "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
        "created_at": {"type": "string", "format": "date-time"},
        "birthday": {"type": "string", "format": "date"},
        "wake_up": {"type": "string", "format": "time"},
        "description": {"type": "string", "maxLength": 40},
        "title": {"type": "string"},
        "is_active": {"type": "boolean"},
        "status": {"enum": ["active", "suspended", "closed"]},
        "kind": {"const": "person"},
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": 3,
            "uniqueItems": True,
        },
        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
        "nickname": {"anyOf": [{"type": "string", "minLength": 2}, {"type": "null"}]},
        "scores": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 10},
        },
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "items": False},
        "address": {"$ref": "#/$defs/Address"},
        "manager": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
        "choice": {"oneOf": [{"type": "integer", "multipleOf": 7}, {"type": "string", "format": "email"}]},
        "both": {
            "allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"required": ["b"]}]
        },
    },
    "required": [
        "user_id",
        "id",
        "full_name",
        "email",
        "age",
        "price",
        "created_at",
        "is_active",
        "status",
        "kind",
        "tags",
        "code",
        "nickname",
        "scores",
        "point",
        "address",
        "manager",
        "choice",
        "both",
    ],
    "additionalProperties": False,
    "$defs": {
        "Address": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "zip_code": {"type": "string", "pattern": r"^\d{5}$"},
                "country": {"type": "string"},
            },
            "required": ["street", "zip_code", "country"],
        },
        "Person": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "reports": {"type": "array", "items": {"$ref": "#/$defs/Person"}},
            },
            "required": ["name", "reports"],
        },
    },
}
PROFILE_SOURCE = SchemaSource(PROFILE)
PROFILE_CHECK = validator(PROFILE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_generated_values_validate_against_the_schema(seed: int) -> None:
    value = json.loads(PROFILE_SOURCE.text(random.Random(seed)))
    errors = sorted(PROFILE_CHECK.iter_errors(value), key=str)
    assert not errors, errors[0].message


SMALL_SCHEMAS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "integer", "minimum": 5_000_000},
    {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 5},
    {"type": "number", "minimum": -1.5, "maximum": -1.25},
    {"type": "string", "minLength": 30, "maxLength": 31},
    {"type": "string", "pattern": "^[a-z]+$", "maxLength": 3},
    {"type": "string", "pattern": r"^(ab|cd)\1x+$", "maxLength": 8},
    {"type": "string", "pattern": r"^(?!^[-+.]*$)[+-]?0*\d*\.?\d*$"},
    {"type": "string", "pattern": "[^a-z]{4}"},
    {"type": ["integer", "null"]},
    {"type": "object", "minProperties": 2, "maxProperties": 3},
    {"type": "array", "contains": {"type": "integer", "minimum": 100}, "items": {"type": "integer"}},
    {"type": "array", "items": {"enum": [1, 2, 3]}, "minItems": 3, "uniqueItems": True},
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "minProperties": 2},
    {"type": "string", "format": "ipv4"},
    {"type": "string", "format": "ipv6"},
    {"type": "string", "format": "hostname"},
    {},
]


@pytest.mark.parametrize("schema", SMALL_SCHEMAS, ids=lambda s: json.dumps(s)[:40])
def test_keywords_are_honoured_over_many_seeds(schema: dict[str, Any]) -> None:
    source, check = SchemaSource(schema), validator(schema)
    for seed in range(120):
        value = source.generate(random.Random(seed))
        assert check.is_valid(value), (seed, value)


def test_values_are_realistic_for_their_field_names() -> None:
    source = SchemaSource({**PROFILE, "required": list(PROFILE["properties"])})
    for seed in range(30):
        value = json.loads(source.text(random.Random(seed)))
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", value["email"])
        assert 18 <= value["age"] <= 90
        assert 1 <= value["user_id"] <= 99_999
        assert uuid.UUID(value["id"])
        assert len(value["full_name"].split()) >= 2
        assert value["website"].startswith(("http://", "https://"))
        assert dt.datetime.fromisoformat(value["created_at"]).tzinfo is not None
        assert dt.date(2018, 1, 1) <= dt.date.fromisoformat(value["birthday"]) < dt.date(2026, 1, 1)
        assert len(value["description"]) <= 40
        assert round(value["price"], 2) == value["price"]
        assert value["kind"] == "person"


def test_same_seed_same_text_regardless_of_global_random() -> None:
    random.seed(1)
    first = PROFILE_SOURCE.text(random.Random(99))
    random.seed(2)
    assert PROFILE_SOURCE.text(random.Random(99)) == first
    assert len({PROFILE_SOURCE.text(random.Random(seed)) for seed in range(10)}) == 10


def test_completion_is_compact_json_with_tokens() -> None:
    completion = SchemaSource(
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    )
    reply = completion.completion(request(prompt_text="p" * 8), random.Random(3))
    assert reply.text is not None
    assert ": " not in reply.text and ", " not in reply.text.split('"name":')[0]
    assert json.loads(reply.text).keys() == {"name"}
    assert reply.input_tokens == 2
    assert reply.output_tokens == max(1, len(reply.text) // 4)


def test_locale_changes_the_values() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    english = {SchemaSource(schema).generate(random.Random(s))["city"] for s in range(5)}
    german = {SchemaSource(schema, locale="de_DE").generate(random.Random(s))["city"] for s in range(5)}
    assert english != german


class Role(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Address(pydantic.BaseModel):
    street: str
    zip_code: str = pydantic.Field(pattern=r"^\d{5}$")


class Member(pydantic.BaseModel):
    """A model using what pydantic puts in schemas: $defs, enums, Optional, tuples, sets, dates."""

    user_id: int = pydantic.Field(ge=1)
    uid: uuid.UUID
    name: str = pydantic.Field(min_length=1, max_length=60)
    role: Role
    kind: Literal["human", "bot"]
    joined: dt.datetime
    birthday: dt.date
    wake: dt.time
    nap: dt.timedelta
    homepage: pydantic.HttpUrl
    balance: float = pydantic.Field(ge=0, le=1_000)
    address: Address
    previous: list[Address] = []
    nickname: Optional[str] = None  # noqa: UP045 — the spelling pydantic users write
    point: tuple[int, str]
    codes: set[str]
    counts: dict[str, int]
    mentor: Optional[Member] = None  # noqa: UP045


@pytest.mark.parametrize("model", [Member, UserRecord, "harness.demo.contract:UserRecord"])
def test_from_model_output_validates_with_the_model(model: Any) -> None:
    source = SchemaSource.from_model(model)
    target = UserRecord if isinstance(model, str) else model
    for seed in range(150):
        target.model_validate_json(source.text(random.Random(seed)))


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "objekt"},
            "expected a valid JSON Schema; at $.type: 'objekt' is not valid under any of the given schemas",
        ),
        ({"type": "integer", "minimum": 5, "maximum": 1}, "minimum 5 is above maximum 1"),
        ({"type": "string", "minLength": 5, "maxLength": 2}, "minLength 5 is above maxLength 2"),
        ({"$ref": "#/$defs/Nope"}, "$ref '#/$defs/Nope' points nowhere"),
        ({"$ref": "https://example.com/s.json"}, "only local $ref are supported"),
        ({"type": "object", "properties": {"me": {"$ref": "#"}}, "required": ["me"]}, "recursion"),
        ({"not": {"type": "string"}, "type": "string"}, "should not be valid under"),
    ],
)
def test_impossible_schemas_fail_at_construction(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(GenerationError, match=re.escape(message)):
        SchemaSource(schema)


def test_bad_locale_and_bad_model() -> None:
    with pytest.raises(GenerationError, match="unknown Faker locale 'xx_XX'"):
        SchemaSource({"type": "string"}, locale="xx_XX")
    with pytest.raises(GenerationError, match="expected a pydantic model class"):
        SchemaSource.from_model("json:dumps")
    with pytest.raises(ObjectImportError, match=re.escape("no module named 'harness.nope'")):
        SchemaSource.from_model("harness.nope:Model")


# --- cassettes --------------------------------------------------------------------------------


def test_openai_cassette_replays_in_order_skipping_errors() -> None:
    source = CassetteSource(CASSETTES / "openai-chat.json")
    assert len(source) == 2  # the 429 interaction serves no content
    first, second, third = (source.completion(request(call=k), random.Random(0)) for k in (1, 2, 3))
    assert first.text is not None
    assert json.loads(first.text)["name"] == "Ada Lovelace"
    assert (first.input_tokens, first.output_tokens, first.tool_name) == (41, 38, None)
    assert second.tool_name == "record_user"
    assert second.text is not None
    assert json.loads(second.text)["name"] == "Grace Hopper"
    assert third == first


def test_cassette_reply_is_a_fresh_copy_and_takes_the_forced_tool_name() -> None:
    source = CassetteSource(CASSETTES / "openai-chat.json")
    reply = source.completion(request(call=2, forced_tool="save_user"), random.Random(0))
    assert reply.tool_name == "save_user"
    reply.text = "mutated"
    assert source.completion(request(call=2), random.Random(0)).text != "mutated"


def test_anthropic_stream_cassette_adds_up_the_deltas() -> None:
    reply = CassetteSource(CASSETTES / "anthropic-stream.json").completion(request(), random.Random(0))
    assert reply.text is not None
    assert json.loads(reply.text) == {
        "user_id": 1912,
        "name": "Alan Turing",
        "email": "alan@bletchley.example.co.uk",
        "is_active": True,
        "plan": "free",
        "signup_date": "2024-06-23",
    }
    assert (reply.finish, reply.input_tokens, reply.output_tokens) == (Finish.STOP, 47, 42)


def test_match_on_last_user_message_falls_back_to_order() -> None:
    source = CassetteSource(CASSETTES / "openai-chat.json", match="last_user_message")
    grace = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Add  Grace Hopper, "}]}]}
    grace["messages"][0]["content"][0]["text"] += "grace@navy.example.org, enterprise, id 1906."  # type: ignore[index]
    assert source.completion(request(call=1, body=grace), random.Random(0)).tool_name == "record_user"
    stranger = {"messages": [{"role": "user", "content": "someone else"}]}
    assert source.completion(request(call=1, body=stranger), random.Random(0)).tool_name is None
    assert source.completion(request(call=2, body=stranger), random.Random(0)).tool_name == "record_user"


def test_refusals_lengths_and_responses_bodies_are_read() -> None:
    refused = completion_from_body(
        {"choices": [{"finish_reason": "stop", "message": {"content": None, "refusal": "I can't."}}]}
    )
    assert (refused.text, refused.refusal, refused.finish) == (None, "I can't.", Finish.REFUSAL)
    cut = completion_from_body(
        {"type": "message", "content": [{"type": "text", "text": "{"}], "stop_reason": "max_tokens"}
    )
    assert (cut.text, cut.finish) == ("{", Finish.LENGTH)
    response = {
        "object": "response",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
        "usage": {"input_tokens": 5, "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 6}},
    }
    read = completion_from_body(response)
    assert (read.text, read.finish, read.reasoning_tokens) == ("hi", Finish.LENGTH, 6)
    streamed = completion_from_events(
        [("response.created", {}), ("response.incomplete", {"response": response})]
    )
    assert streamed == read


def test_openai_chat_stream_with_tool_call_and_usage() -> None:
    events: list[tuple[str | None, Any]] = [
        (
            None,
            {
                "choices": [
                    {
                        "delta": {
                            "role": "assistant",
                            "tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ""}}],
                        }
                    }
                ]
            },
        ),
        (None, {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}}]}),
        (None, {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]}),
        (None, {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}),
        (None, {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
        (None, "[DONE]"),
    ]
    reply = completion_from_events(events)
    assert (reply.tool_name, reply.text, reply.finish, reply.input_tokens, reply.output_tokens) == (
        "f",
        '{"a":1}',
        Finish.STOP,
        3,
        4,
    )


GOOD_INTERACTION = {
    "request": {"method": "POST", "path": "/v1/chat/completions", "body": {"messages": []}},
    "response": {
        "status": 200,
        "headers": {},
        "body": {"choices": [{"message": {"content": "hi"}}]},
        "events": None,
    },
}


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    interaction = json.loads(json.dumps(GOOD_INTERACTION))
    node = interaction
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return {"version": 1, "interactions": [interaction]}


@pytest.mark.parametrize(
    ("content", "field", "expected"),
    [
        ("{nope", "line 1, column 2", "not valid JSON"),
        ("[]", "(top level)", "expected a JSON object; got list"),
        (json.dumps({"version": 2, "interactions": []}), "version", "expected cassette version 1; got 2"),
        (json.dumps({"version": 1, "interactions": []}), "interactions", "at least 1 item"),
        (json.dumps({"version": 1}), "interactions", "missing"),
        (json.dumps(_with(("response", "status"), 700)), "interactions[0].response.status", "at most 599"),
        (json.dumps(_with(("response", "bdy"), {})), "interactions[0].response.bdy", "did you mean 'body'?"),
        (json.dumps(_with(("request", "body"), "text")), "interactions[0].request.body", "got 'text'"),
        (json.dumps(_with(("response", "body"), None)), "interactions[0].response", "got neither"),
        (
            json.dumps(_with(("response", "events"), [{"data": "a", "at": 1.0}, {"data": "b", "at": 0.5}])),
            "interactions[0].response",
            "got both",
        ),
        (
            json.dumps(_with(("response", "body"), {"foo": 1})),
            "interactions[0].response.body",
            "keys ['foo']",
        ),
        (
            json.dumps(_with(("response", "status"), 500)),
            "interactions",
            "expected at least one 2xx response",
        ),
    ],
)
def test_broken_cassettes_get_one_precise_line(
    tmp_path: Path, content: str, field: str, expected: str
) -> None:
    path = tmp_path / "cassette.json"
    path.write_text(content)
    with pytest.raises(ScenarioError) as info:
        CassetteSource(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: ")
    assert expected in message


def test_event_times_must_not_go_back(tmp_path: Path) -> None:
    events = [
        {"event": None, "data": {"choices": []}, "at": 1.0},
        {"event": None, "data": "[DONE]", "at": 0.5},
    ]
    cassette = _with(("response", "events"), events)
    cassette["interactions"][0]["response"]["body"] = None
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cassette))
    with pytest.raises(
        ScenarioError,
        match=r"interactions\[0\]\.response\.events\[1\]\.at: expected a time at or after 1\.0; got 0\.5",
    ):
        CassetteSource(path)


def test_missing_cassette_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file: cassette not found"):
        CassetteSource(tmp_path / "absent.json")


def test_generated_text_is_identical_across_processes() -> None:
    """Hash randomisation must not leak into the output: same seed, same bytes, any process."""
    code = (
        "import random; from harness.sources import SchemaSource;"
        "print(SchemaSource.from_model('harness.demo.contract:UserRecord').text(random.Random(5)))"
    )
    root = Path(__file__).parent.parent
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env={"PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)},
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop())["user_id"] >= 1


def test_unknown_match_mode_is_refused() -> None:
    expected = "expected match 'order', 'last_user_message' or 'fields'; got 'random'"
    with pytest.raises(ValueError, match=expected):
        CassetteSource(CASSETTES / "openai-chat.json", match="random")  # type: ignore[arg-type]


def test_concurrent_calls_stay_deterministic() -> None:
    """Deliveries call sources from threads; each call's text depends on its own rng only."""
    from concurrent.futures import ThreadPoolExecutor

    source = SchemaSource.from_model(UserRecord)
    expected = [source.text(random.Random(seed)) for seed in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lambda seed: source.text(random.Random(seed)), range(40))) == expected


# --- Faker values drawn from Faker's data ------------------------------------------------------


def _locale_faker(locale: str = "en_US") -> LocaleFaker:
    from faker import Faker

    return LocaleFaker(Faker(locale).factories[0])


def test_names_and_emails_come_from_the_locales_data_by_weight() -> None:
    from faker import Faker

    person = Faker("en_US").factories[0].name.__self__
    faker, rng = _locale_faker(), random.Random(3)
    names = [faker.draw("name", rng) for _ in range(400)]
    first_names = set(person.first_names_male) | set(person.first_names_female)
    plain = [n for n in names if len(n.split()) == 2]
    assert len(plain) > 0.9 * len(names)  # prefixes and suffixes are rare, as Faker weighs them
    assert all(n.split()[0] in first_names and n.split()[1] in person.last_names for n in plain)
    emails = [faker.draw("email", rng) for _ in range(200)]
    assert all(re.fullmatch(r"[a-z0-9_]+@example\.(com|org|net)", e) for e in emails), emails[:5]
    assert len(set(emails)) > 190


def test_locale_faker_is_deterministic_and_falls_back_to_fakers_own_methods() -> None:
    def draws(seed: int) -> list[str]:
        faker, rng = _locale_faker("ja_JP"), random.Random(seed)
        return [faker.draw(m, rng) for m in ("name", "first_name", "city", "email")] + [
            faker.draw("bothify", rng, "??-##")
        ]

    first = draws(1)
    assert first == draws(1) and first != draws(2)
    assert all(ord(c) > 0x3000 for c in first[1])  # ja_JP's own first_name: Japanese, not romanised
    assert re.fullmatch(r"[A-Za-z]{2}-\d{2}", first[4])


def test_an_object_of_required_fields_draws_as_the_general_path_does() -> None:
    """The fixed-shape shortcut (every property required) draws the same values, in the same order."""
    from harness.sources.generated import _Maker, _ObjectPlan

    source = SchemaSource.from_model(UserRecord)
    plan = source._plans.get(
        source.schema, "", _Maker(source.schema, source._plans, source._faker, random.Random())
    )
    assert isinstance(plan, _ObjectPlan) and plan.fixed

    def maker(seed: int) -> _Maker:
        return _Maker(source.schema, source._plans, source._faker, random.Random(seed))

    for seed in range(40):
        assert list(plan.draw(maker(seed), 0).items()) == list(plan._draw_chosen(maker(seed), 0).items())
