"""The output contract: JSON Schema and strict pydantic checks, one line per violation."""

from __future__ import annotations

import datetime as dt
import enum
import json

import jsonschema
import pydantic
import pytest

from harness.contract import Contract
from harness.demo.contract import UserRecord

SCHEMA = {
    "type": "object",
    "properties": {
        "user_id": {"type": "integer"},
        "email": {"type": "string", "format": "email"},
        "is_active": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["user_id", "email", "is_active"],
    "additionalProperties": False,
}
GOOD = {"user_id": 42, "email": "ada@example.com", "is_active": True, "tags": ["vip"]}


class Status(enum.Enum):
    ACTIVE = "active"
    BANNED = "banned"


class Account(pydantic.BaseModel):
    user_id: int
    is_active: bool
    status: Status
    joined: dt.date
    point: tuple[int, int] = (0, 0)


ACCOUNT = {"user_id": 1, "is_active": True, "status": "active", "joined": "2024-03-01", "point": [1, 2]}


def test_schema_contract_kept() -> None:
    assert Contract(schema=SCHEMA).check(GOOD) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"is_active": "Yes"}, "$.is_active: 'Yes' is not of type 'boolean'"),
        ({"user_id": "42"}, "$.user_id: '42' is not of type 'integer'"),
        ({"email": "not-an-address"}, "$.email: 'not-an-address' is not a 'email'"),
        ({"tags": ["vip", 3]}, "$.tags[1]: 3 is not of type 'string'"),
        ({"UserID": 42}, "$: Additional properties are not allowed ('UserID' was unexpected)"),
    ],
)
def test_schema_violation_names_path_and_problem(change: dict[str, object], expected: str) -> None:
    assert Contract(schema=SCHEMA).check({**GOOD, **change}) == expected


def test_schema_missing_field_and_wrong_top_type() -> None:
    contract = Contract(schema=SCHEMA)
    assert contract.check({"email": "a@b.c", "is_active": True}) == "$: 'user_id' is a required property"
    assert contract.check("{}") == "$: '{}' is not of type 'object'"


def test_violation_is_one_bounded_line() -> None:
    problem = Contract(schema={"type": "integer"}).check("x\n" * 10_000)
    assert problem is not None
    assert "\n" not in problem
    assert len(problem) <= 240


def test_invalid_schema_is_refused_up_front() -> None:
    with pytest.raises(jsonschema.SchemaError):
        Contract(schema={"type": "objekt"})


def test_model_contract_is_strict_about_types() -> None:
    contract = Contract(model=UserRecord)
    record = {
        "user_id": 1815,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "is_active": True,
        "plan": "pro",
        "signup_date": "2024-03-01",
    }
    assert contract.check(record) is None
    drifted = contract.check({**record, "is_active": "yes"})
    assert drifted is not None
    assert drifted.startswith('$.is_active: Input should be a valid boolean, got "yes"')
    assert (
        contract.check({**record, "user_id": "1815"})
        == '$.user_id: Input should be a valid integer, got "1815"'
    )


def test_model_contract_accepts_what_json_carries() -> None:
    """ISO dates, enum values and arrays for tuples are how JSON spells them: not violations."""
    assert Contract(model=Account).check(ACCOUNT) is None
    assert Contract(model=Account).check(json.loads(json.dumps(ACCOUNT))) is None


def test_model_contract_counts_extra_problems() -> None:
    problem = Contract(model=Account).check(
        {"user_id": "1", "is_active": "no", "status": "gone", "joined": "x"}
    )
    assert problem is not None
    assert problem.startswith("$.user_id: Input should be a valid integer")
    assert problem.endswith("(+3 more)")


def test_model_instance_output_is_dumped_first() -> None:
    contract = Contract(model=Account)
    assert contract.check(Account.model_validate(ACCOUNT)) is None
    garbage = Account.model_construct(user_id="not a number", is_active=True, status=Status.ACTIVE)
    problem = contract.check(garbage)
    assert problem is not None
    assert problem.startswith("$.user_id: Input should be a valid integer")


def test_non_json_output_falls_back_to_python_strict() -> None:
    value = {**ACCOUNT, "joined": dt.date(2024, 3, 1), "status": Status.ACTIVE, "point": (1, 2)}
    assert Contract(model=Account).check(value) is None
    assert Contract(model=Account).check({**value, "is_active": "yes"}) is not None


def test_schema_and_model_both_apply() -> None:
    contract = Contract(schema={"type": "object", "required": ["note"]}, model=Account)
    assert contract.check(ACCOUNT) == "$: 'note' is a required property"
    assert contract.check({**ACCOUNT, "note": "x"}) is None


def test_no_schema_no_model_accepts_anything() -> None:
    assert Contract().check(object()) is None


def test_is_allowed_matches_declared_classes_and_subclasses() -> None:
    contract = Contract(schema=SCHEMA, allowed_errors=(LookupError, TimeoutError))
    assert contract.is_allowed(KeyError("k"))
    assert contract.is_allowed(TimeoutError())
    assert not contract.is_allowed(ValueError())
    assert not Contract(schema=SCHEMA).is_allowed(KeyError("k"))


def test_describe() -> None:
    text = Contract(model=Account, allowed_errors=(KeyError,)).describe()
    assert text == f"model {Account.__module__}:Account; allowed errors KeyError"
