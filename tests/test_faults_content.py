"""Content faults: each one reproduces its real failure, deterministically, on content and tool arguments."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import FaultParamsError
from harness.faults import content
from harness.faults.base import FAULTS, FaultContext, FaultUse, Layer
from harness.seeding import rng_for
from harness.wire import Completion, Finish, ModelRequest

CONTENT_FAULTS = {
    "rename_keys", "type_drift", "drop_field", "add_fields", "wrap_in_prose", "markdown_fence", "haiku",
    "truncate", "json5_isms", "hallucinated_enum", "stringified_json", "array_instead_of_object",
    "unicode_oddities", "huge_payload", "empty_content", "refusal", "reasoning_exhaustion",
}  # fmt: skip

RECORD: dict[str, Any] = {
    "user_id": 42,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "active": True,
    "plan": "pro",
    "tags": ["math", "poetry"],
    "address": {"city": "London", "zip_code": "W1 2AB", "is_primary": False},
}
TEXT = json.dumps(RECORD)


class Address(pydantic.BaseModel):
    city: str
    zip_code: str
    is_primary: bool


class User(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    user_id: int
    name: str
    email: str
    active: bool
    plan: Literal["free", "pro", "enterprise"]
    tags: list[str]
    address: Address
    nickname: str | None = None


SCHEMA = User.model_json_schema()


def make_ctx(
    seed: int = 0, *, schema: dict[str, Any] | None = None, max_tokens: int | None = None
) -> FaultContext:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Sign up Ada Lovelace"}]}
    request = ModelRequest(
        dialect="openai-chat",
        path="/v1/chat/completions",
        body=body,
        response_schema=schema,
        max_tokens=max_tokens,
        prompt_text="Sign up Ada Lovelace",
    )
    return FaultContext(request, None, rng_for(seed, "fault", 0, 1, 0, "test"))


def completion(text: str | None = TEXT, **changes: Any) -> Completion:
    return Completion(text=text, input_tokens=5, output_tokens=max(1, len(text or "") // 4), **changes)


def apply(
    name: str, params: dict[str, Any] | None = None, target: Completion | None = None, **ctx: Any
) -> Completion:
    return FaultUse.of(name, params).apply_to(target or completion(), make_ctx(**ctx))


def loads(result: Completion) -> Any:
    assert result.text is not None
    return json.loads(result.text)


# Small parameters so the all-faults sweeps stay fast.
SWEEP_PARAMS: dict[str, dict[str, Any]] = {"huge_payload": {"size_mb": 0.01}}


# --- registry and common behaviour ---------------------------------------------------------------


def test_every_content_fault_is_registered_with_a_docstring() -> None:
    registered = {name for name, f in FAULTS.items.items() if f.layer is Layer.CONTENT}
    assert registered >= CONTENT_FAULTS
    for name in CONTENT_FAULTS:
        first_line = FAULTS.get(name).doc.splitlines()[0]
        assert len(first_line) > 30, name
        assert issubclass(FAULTS.get(name).params_model, pydantic.BaseModel)


@pytest.mark.parametrize("name", sorted(CONTENT_FAULTS))
def test_same_seed_same_output_and_input_untouched(name: str) -> None:
    original = completion()
    snapshot = dataclasses.replace(original)
    first = apply(name, SWEEP_PARAMS.get(name), original, seed=3)
    second = apply(name, SWEEP_PARAMS.get(name), original, seed=3)
    assert first == second
    assert original == snapshot
    assert first != original


@pytest.mark.parametrize("name", sorted(CONTENT_FAULTS))
def test_every_fault_works_on_tool_arguments(name: str) -> None:
    tool_call = completion(tool_name="create_user")
    result = apply(name, SWEEP_PARAMS.get(name), tool_call)
    assert result != tool_call
    if name in {"refusal", "reasoning_exhaustion"}:
        assert result.tool_name is None
    else:
        assert result.tool_name == "create_user"


@pytest.mark.parametrize(
    "name",
    ["rename_keys", "type_drift", "haiku", "truncate", "hallucinated_enum", "unicode_oddities", "add_fields"],
)
def test_seed_dependent_faults_vary_across_seeds(name: str) -> None:
    texts = {apply(name, target=completion(), seed=seed).text for seed in range(12)}
    assert len(texts) > 1


@pytest.mark.parametrize(
    "name",
    ["rename_keys", "type_drift", "drop_field", "add_fields", "hallucinated_enum", "array_instead_of_object"],
)
def test_json_faults_leave_text_without_json_unchanged(name: str) -> None:
    prose = completion("I could not find a user in that message.")
    assert apply(name, target=prose) == prose
    assert apply(name, target=completion(None)) == completion(None)


def test_json_faults_still_edit_json_wrapped_in_prose() -> None:
    wrapped = apply("markdown_fence", {"prose": True})
    renamed = apply("rename_keys", {"mapping": {"user_id": "UserID"}}, wrapped)
    assert '"UserID": 42' in (renamed.text or "")
    assert (renamed.text or "").startswith((wrapped.text or "").split("```")[0] + "```json\n")


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("rename_keys", {"style": "Title Case"}, "style"),
        ("rename_keys", {"depth": 0}, "depth"),
        ("rename_keys", {"colour": "red"}, "colour"),
        ("type_drift", {"bool_as": [True]}, "bool_as"),
        ("type_drift", {"int_as": "hex"}, "int_as"),
        ("type_drift", {"bool_as": []}, "bool_as"),
        ("drop_field", {"count": 0}, "count"),
        ("add_fields", {"count": 51}, "count"),
        ("wrap_in_prose", {"position": "middle"}, "position"),
        ("markdown_fence", {"lang": "json\n"}, "lang"),
        ("haiku", {"kind": "limerick"}, "kind"),
        ("truncate", {"fraction": 1.0}, "fraction"),
        ("truncate", {"fraction": 0.5, "at_chars": 3}, "params"),
        (
            "json5_isms",
            dict.fromkeys(("single_quotes", "trailing_commas", "comments", "unquoted_keys"), False),
            "params",
        ),
        ("array_instead_of_object", {"shape": "tuple"}, "shape"),
        ("unicode_oddities", {"kind": "emoji"}, "kind"),
        ("unicode_oddities", {"count": 0}, "count"),
        ("huge_payload", {"size_mb": 4096}, "size_mb"),
        ("huge_payload", {"depth": 0}, "depth"),
        ("empty_content", {"as_null": "maybe"}, "as_null"),
        ("refusal", {"message": ""}, "message"),
        ("reasoning_exhaustion", {"reasoning_tokens": 0}, "reasoning_tokens"),
    ],
)
def test_bad_params_name_the_field(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(FaultParamsError) as info:
        FaultUse.of(name, params)
    assert info.value.fault == name
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_boolean_drift_forms_explain_yaml_quoting() -> None:
    with pytest.raises(FaultParamsError, match="quote YAML words"):
        FaultUse.of("type_drift", {"bool_as": ["Yes", True]})


# --- rename_keys ---------------------------------------------------------------------------------


def test_rename_keys_mapping_gives_the_exact_outage_name() -> None:
    renamed = loads(apply("rename_keys", {"mapping": {"user_id": "UserID"}}))
    assert list(renamed) == ["UserID", *list(RECORD)[1:]]
    assert renamed["UserID"] == 42
    with pytest.raises(pydantic.ValidationError, match="user_id"):
        User.model_validate(renamed)


def test_rename_keys_style_is_conventional_casing_at_every_level() -> None:
    renamed = loads(apply("rename_keys", {"style": "PascalCase"}))
    assert list(renamed) == ["UserId", "Name", "Email", "Active", "Plan", "Tags", "Address"]
    assert list(renamed["Address"]) == ["City", "ZipCode", "IsPrimary"]


def test_rename_keys_depth_keys_and_dotted_paths() -> None:
    top_only = loads(apply("rename_keys", {"style": "camelCase", "depth": 1}))
    assert "userId" in top_only and "zip_code" in top_only["address"]
    some = loads(apply("rename_keys", {"style": "UPPER", "keys": ["user_id", "address.zip_code"]}))
    assert "USER_ID" in some and "ZIP_CODE" in some["address"] and "name" in some
    nested = loads(apply("rename_keys", {"mapping": {"address.city": "town"}}))
    assert nested["address"]["town"] == "London" and "city" not in nested["address"]


def test_rename_keys_skips_a_rename_that_would_clash() -> None:
    clash = completion(json.dumps({"user_id": 1, "userId": 2}))
    assert loads(apply("rename_keys", {"style": "camelCase"}, clash)) == {"user_id": 1, "userId": 2}


def test_rename_keys_default_draws_a_style_that_changes_keys() -> None:
    for seed in range(6):
        renamed = loads(apply("rename_keys", seed=seed))
        assert _all_keys(renamed) != _all_keys(RECORD)
        assert sorted(_leaves(renamed)) == sorted(_leaves(RECORD))
    flat = completion(json.dumps({"name": 1, "email": 2}))
    assert {tuple(loads(apply("rename_keys", target=flat, seed=seed))) for seed in range(10)} == {
        ("Name", "Email"),
        ("NAME", "EMAIL"),
    }
    assert sorted(_leaves(renamed)) == sorted(_leaves(RECORD))


@pytest.mark.parametrize(
    ("key", "style", "expected"),
    [
        ("user_id", "PascalCase", "UserId"),
        ("user_id", "camelCase", "userId"),
        ("user_id", "kebab-case", "user-id"),
        ("user_id", "UPPER", "USER_ID"),
        ("UserID", "snake_case", "user_id"),
        ("HTTPStatus", "snake_case", "http_status"),
        ("address2", "camelCase", "address2"),
        ("_meta_data", "PascalCase", "_MetaData"),
        ("prénom", "PascalCase", "prénom"),
    ],
)
def test_recase(key: str, style: content.KeyStyle, expected: str) -> None:
    assert content.recase(key, style) == expected


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for child in value.values() for leaf in _leaves(child)]
    if isinstance(value, list):
        return [leaf for child in value for leaf in _leaves(child)]
    return [json.dumps(value)]


_keys = st.text(alphabet="abcdefXYZ_", min_size=1, max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(_keys, _json, min_size=1, max_size=5), st.dictionaries(_keys, _keys, max_size=4))
def test_rename_keys_with_a_mapping_never_loses_values(
    record: dict[str, Any], mapping: dict[str, str]
) -> None:
    renamed = loads(apply("rename_keys", {"mapping": mapping}, completion(json.dumps(record))))
    assert sorted(_leaves(renamed)) == sorted(_leaves(record))


# --- type_drift ----------------------------------------------------------------------------------


def test_type_drift_defaults_drift_bools_and_ints() -> None:
    drifted = loads(apply("type_drift"))
    assert drifted["user_id"] == "42"
    assert drifted["active"] in ["Yes", "yes", 1, "Affirmative", "True"]
    assert drifted["address"]["is_primary"] in ["No", "no", 0, "Negative", "False"]
    assert drifted["name"] == RECORD["name"]


@pytest.mark.parametrize(("form", "lax_ok"), [("yes", True), ("Yes", True), ("Affirmative", False)])
def test_type_drift_passes_lax_pydantic_but_not_strict(form: str, lax_ok: bool) -> None:
    drifted = loads(apply("type_drift", {"bool_as": [form], "false_as": ["no"]}))
    assert drifted["active"] == form
    if lax_ok:
        assert User.model_validate(drifted).active is True
    else:
        with pytest.raises(pydantic.ValidationError, match="active"):
            User.model_validate(drifted)
    with pytest.raises(pydantic.ValidationError):
        User.model_validate(drifted, strict=True)


def test_type_drift_int_as_float_fields_and_to_null() -> None:
    drifted = loads(
        apply("type_drift", {"int_as": "float", "fields": ["user_id"], "to_null": ["address.city"]})
    )
    assert drifted["user_id"] == 42.0 and isinstance(drifted["user_id"], float)
    assert drifted["active"] is True
    assert drifted["address"]["city"] is None
    assert User.model_validate({**drifted, "address": RECORD["address"]}).user_id == 42
    with pytest.raises(pydantic.ValidationError):
        User.model_validate({**drifted, "address": RECORD["address"]}, strict=True)


# --- drop_field / add_fields ---------------------------------------------------------------------


def test_drop_field_prefers_required_fields_from_the_schema() -> None:
    record = {**RECORD, "nickname": "Ada", "mood": "curious"}
    for seed in range(10):
        dropped = loads(
            apply("drop_field", {"count": 7}, completion(json.dumps(record)), seed=seed, schema=SCHEMA)
        )
        assert set(dropped) == {"nickname", "mood"}


def test_drop_field_named_field_and_validation_error() -> None:
    dropped = loads(apply("drop_field", {"field": "email"}))
    assert "email" not in dropped and len(dropped) == len(RECORD) - 1
    with pytest.raises(pydantic.ValidationError, match="email"):
        User.model_validate(dropped)
    nested = loads(apply("drop_field", {"field": "address.city"}))
    assert nested["address"] == {"zip_code": "W1 2AB", "is_primary": False}


def test_add_fields_adds_plausible_unexpected_keys() -> None:
    added = loads(apply("add_fields", {"count": 3}))
    extra = set(added) - set(RECORD)
    assert len(extra) == 3
    assert {k: added[k] for k in RECORD} == RECORD
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        User.model_validate(added)


def test_add_fields_explicit_and_never_overwrites() -> None:
    added = loads(apply("add_fields", {"fields": {"confidence": 0.5, "user_id": "x"}}))
    assert added["confidence"] == 0.5 and added["user_id"] == 42


# --- prose, fences, poems ------------------------------------------------------------------------


@pytest.mark.parametrize("position", ["before", "after", "both"])
def test_wrap_in_prose_breaks_json_loads(position: str) -> None:
    wrapped = apply("wrap_in_prose", {"position": position}).text or ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(wrapped)
    assert TEXT in wrapped
    assert wrapped.startswith(TEXT) == (position == "after")
    assert wrapped.endswith(TEXT) == (position == "before")


def test_markdown_fence() -> None:
    fenced = apply("markdown_fence").text
    assert fenced == f"```json\n{TEXT}\n```"
    assert apply("markdown_fence", {"lang": ""}).text == f"```\n{TEXT}\n```"
    with pytest.raises(json.JSONDecodeError):
        json.loads(fenced)


@pytest.mark.parametrize("kind", ["haiku", "poem", "apology"])
def test_haiku_has_no_json(kind: str) -> None:
    texts = {apply("haiku", {"kind": kind}, seed=seed).text for seed in range(10)}
    assert len(texts) > 1
    for text in texts:
        assert text and "{" not in text
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)


# --- truncate ------------------------------------------------------------------------------------


def test_truncate_cuts_sets_length_and_shrinks_tokens() -> None:
    original = completion()
    cut = apply("truncate", target=original)
    assert cut.finish is Finish.LENGTH
    assert cut.text is not None and TEXT.startswith(cut.text)
    assert 0.3 * len(TEXT) - 1 <= len(cut.text) <= 0.9 * len(TEXT)
    assert 0 < cut.output_tokens < original.output_tokens
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.text)
    assert apply("truncate", {"at_chars": 10}).text == TEXT[:10]
    assert apply("truncate", {"fraction": 0.5}).text == TEXT[: len(TEXT) // 2]


@given(st.text(), st.one_of(st.floats(0.01, 0.99), st.integers(0, 500)))
def test_truncate_output_is_a_prefix(text: str, cut: float | int) -> None:
    params = {"fraction": cut} if isinstance(cut, float) else {"at_chars": cut}
    result = apply("truncate", params, completion(text))
    assert result.text is not None and text.startswith(result.text)
    assert result.finish is Finish.LENGTH


# --- json5_isms ----------------------------------------------------------------------------------


def test_json5_isms_valid_json5_but_not_json() -> None:
    import json5  # the json5 package: a real JSON5 parser

    text = apply("json5_isms").text or ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert json5.loads(text) == RECORD
    assert "//" in text and "user_id:" in text and "'Ada Lovelace'" in text
    assert re.search(r",( +//[^\n]*)?\n}$", text)


@pytest.mark.parametrize(
    ("flag", "marker"),
    [
        ("single_quotes", "'pro'"),
        ("trailing_commas", ",\n}"),
        ("comments", "//"),
        ("unquoted_keys", "\n  plan:"),
    ],
)
def test_json5_isms_each_flag_alone(flag: str, marker: str) -> None:
    import json5

    others = {f: f == flag for f in ("single_quotes", "trailing_commas", "comments", "unquoted_keys")}
    text = apply("json5_isms", others).text or ""
    assert marker in text
    assert json5.loads(text) == RECORD
    tricky = {"it's": 'say "hi"', "back\\slash": "a'b\\c"}
    assert json5.loads(apply("json5_isms", others, completion(json.dumps(tricky))).text or "") == tricky


# --- values --------------------------------------------------------------------------------------


def test_hallucinated_enum_uses_the_schema_enum() -> None:
    schema = {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"]}, "plan": {"type": "string"}},
        "required": ["kind"],
    }
    record = {"kind": "a", "plan": "pro"}
    for seed in range(8):
        result = loads(
            apply("hallucinated_enum", target=completion(json.dumps(record)), seed=seed, schema=schema)
        )
        assert result["plan"] == "pro" and result["kind"] not in ("a", "b")


def test_hallucinated_enum_breaks_literal_validation() -> None:
    for schema in (SCHEMA, None):
        result = loads(apply("hallucinated_enum", schema=schema))
        assert result["plan"] not in ("free", "pro", "enterprise")
        with pytest.raises(pydantic.ValidationError, match="plan"):
            User.model_validate(result)
    assert loads(apply("hallucinated_enum", {"field": "email", "value": "n/a"}))["email"] == "n/a"


def test_stringified_json_whole_reply_and_one_field() -> None:
    whole = loads(apply("stringified_json"))
    assert isinstance(whole, str) and json.loads(whole) == RECORD
    one = loads(apply("stringified_json", {"field": "address"}))
    assert json.loads(one["address"]) == RECORD["address"]
    with pytest.raises(pydantic.ValidationError, match="address"):
        User.model_validate(one)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("wrapped", [RECORD]),
        ("list_of_values", list(RECORD.values())),
        ("entries", [{"key": k, "value": v} for k, v in RECORD.items()]),
    ],
)
def test_array_instead_of_object(shape: str, expected: list[Any]) -> None:
    assert loads(apply("array_instead_of_object", {"shape": shape})) == expected


# --- unicode -------------------------------------------------------------------------------------


def test_zero_width_in_a_key_makes_lookup_miss() -> None:
    odd = loads(apply("unicode_oddities", {"kind": "zero_width", "where": "keys"}))
    assert len(odd) == len(RECORD)
    changed = [k for k in _all_keys(odd) if "\u200b" in k]
    assert len(changed) == 1
    assert changed[0].replace("\u200b", "") in _all_keys(RECORD)


def test_homoglyphs_everywhere_with_count_null() -> None:
    odd = loads(apply("unicode_oddities", {"kind": "homoglyph", "where": "keys", "count": None}))
    assert all(k not in odd for k in RECORD)
    assert [
        k.translate({0x430: "a", 0x435: "e", 0x43E: "o", 0x440: "p", 0x441: "c", 0x443: "y"}) for k in odd
    ] == list(RECORD)
    assert odd[next(iter(odd))] == 42


def test_values_only_and_rtl_and_nbsp() -> None:
    rtl = loads(apply("unicode_oddities", {"kind": "rtl", "where": "values", "count": None}))
    assert list(rtl) == list(RECORD)
    assert all(v.startswith(("\u200f", "\u202e")) for v in (rtl["name"], rtl["email"], rtl["plan"]))
    nbsp = loads(apply("unicode_oddities", {"kind": "nbsp", "where": "values", "count": None}))
    assert nbsp["name"] == "Ada\u00a0Lovelace"


def test_bom_breaks_json_loads() -> None:
    text = apply("unicode_oddities", {"kind": "bom"}).text or ""
    assert text == "\ufeff" + TEXT
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        json.loads(text)


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for child in value.values() for k in _all_keys(child)}
    if isinstance(value, list):
        return {k for child in value for k in _all_keys(child)}
    return set()


# --- size ----------------------------------------------------------------------------------------


def test_huge_payload_pad_keeps_the_object_valid() -> None:
    padded = apply("huge_payload", {"size_mb": 1})
    assert abs(len(padded.text or "") - 2**20) < 100
    value = loads(padded)
    assert {k: value[k] for k in RECORD} == RECORD
    assert len(value["items"]) > 30_000 and value["items"][0] == {"i": 1000, "v": "xxxxxxxx"}
    assert padded.output_tokens == len(padded.text or "") // 4


def test_huge_payload_default_is_16_mib() -> None:
    text = apply("huge_payload").text or ""
    assert abs(len(text) - 16 * 2**20) < 100
    assert text.startswith(TEXT[:-1] + ', "items": [{"i":1000') and text.endswith("}]}")


def test_huge_payload_nested_breaks_the_recursion_limit() -> None:
    text = apply("huge_payload", {"shape": "nested"}).text or ""
    assert text.count("[") == 10_000 + 1
    with pytest.raises(RecursionError):
        json.loads(text)


def test_huge_payload_array_and_text() -> None:
    array = loads(apply("huge_payload", {"shape": "array", "size_mb": 0.05}))
    assert isinstance(array, list) and len(array) > 100 and all(item == RECORD for item in array)
    text = apply("huge_payload", {"shape": "text", "size_mb": 0.05}).text or ""
    assert len(text) == int(0.05 * 2**20) and "{" not in text


# --- empty, refused, exhausted ---------------------------------------------------------------------


def test_empty_content() -> None:
    empty = apply("empty_content")
    assert empty.text == "" and empty.finish is Finish.STOP
    with pytest.raises(json.JSONDecodeError):
        json.loads(empty.text)
    assert apply("empty_content", {"as_null": True}).text is None


def test_refusal() -> None:
    refused = apply("refusal", target=completion(tool_name="create_user"))
    assert refused.text is None and refused.tool_name is None
    assert refused.finish is Finish.REFUSAL
    assert refused.refusal == "I'm sorry, but I can't help with that."
    assert apply("refusal", {"message": "No."}).refusal == "No."


def test_reasoning_exhaustion_is_a_hidden_token_tax() -> None:
    spent = apply("reasoning_exhaustion")
    assert (spent.text, spent.finish, spent.reasoning_tokens, spent.output_tokens) == (
        "",
        Finish.LENGTH,
        4096,
        4096,
    )
    assert apply("reasoning_exhaustion", max_tokens=800).reasoning_tokens == 800
    explicit = apply("reasoning_exhaustion", {"reasoning_tokens": 32_000, "as_null": True}, max_tokens=800)
    assert (explicit.text, explicit.output_tokens) == (None, 32_000)
