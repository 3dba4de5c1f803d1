"""The demo's output contract: one user record, exactly these fields, exactly these types.

The model is strict on purpose: ``"Yes"`` is not a bool, ``"42"`` is not an int and an
unknown key is an error. That is what downstream code (a billing job, a CRM sync) relies
on, so anything looser is garbage passed downstream.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import pydantic

Plan = Literal["free", "pro", "enterprise"]
"""The subscription plans the product sells."""


class UserRecord(pydantic.BaseModel):
    """One user signing up, as the extractor must hand it downstream."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

    user_id: int = pydantic.Field(ge=1, le=9_999_999, description="Numeric account id.")
    name: str = pydantic.Field(min_length=1, max_length=200, description="Full name.")
    email: str = pydantic.Field(
        min_length=3,
        max_length=254,
        description="Contact e-mail address.",
        json_schema_extra={"format": "email"},
    )
    is_active: bool = pydantic.Field(description="Whether the account is active right away.")
    plan: Plan = pydantic.Field(description="Subscription plan.")
    signup_date: str = pydantic.Field(
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="Day of sign-up, ISO 8601 (YYYY-MM-DD).",
        json_schema_extra={"format": "date"},
    )


FIELDS: tuple[str, ...] = tuple(UserRecord.model_fields)
"""Field names in declaration order."""


@functools.cache
def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`UserRecord` (what ``response_format`` and the scenarios use).

    Built once: pydantic regenerates it on every call otherwise. Treat it as read-only.
    """
    return UserRecord.model_json_schema()


SYSTEM_PROMPT = (
    "Extract the user who is signing up from the text. Reply with one JSON object and nothing "
    "else, with exactly these keys: user_id (integer), name (string), email (string), "
    "is_active (boolean), plan (one of free, pro, enterprise), signup_date (YYYY-MM-DD)."
)
"""The instruction both demo pipelines send as the system message."""
