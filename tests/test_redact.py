"""Redaction rules: secret headers, key-shaped strings, secret query parameters and body fields."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.redact import DEFAULT_REDACTOR, Redactor, placeholder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-Abcdefghijklmnop1234_xyz here", "key <redacted:openai-key> here"),
        ("sk-ant-api03-AbCdEf012345-_zz", "<redacted:anthropic-key>"),
        ("sk-svcacct-0123456789abcdefABCDEF", "<redacted:openai-key>"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer <redacted:bearer>"),
        ("id AKIAIOSFODNN7EXAMPLE end", "id <redacted:aws-access-key> end"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = <redacted:aws-secret-key>",
        ),
        ("AIzaSyA-0123456789abcdefghijklmnopqrstu", "<redacted:google-key>"),
    ],
)
def test_key_shaped_strings_are_replaced(text: str, expected: str) -> None:
    assert DEFAULT_REDACTOR.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens",
        "sk-short",
        "a skeleton key",
        "Bearer x",
        '{"user_id": 42, "name": "Ada"}',
        "AKIA-lowercase",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert DEFAULT_REDACTOR.text(text) == text


def test_secret_headers_are_replaced_whole_and_others_scanned() -> None:
    headers = {
        "Authorization": "Bearer sk-test-SECRET0123456789abcdef",
        "x-api-key": "sk-ant-SECRET0123456789",
        "Cookie": "session=abc",
        "set-cookie": "__cf_bm=xyz; HttpOnly",
        "OpenAI-Organization": "org-123",
        "openai-project": "proj_123",
        "anthropic-organization-id": "0000-1111",
        "api-key": "azure-key-value",
        "x-forwarded-note": "leaked sk-test-SECRET0123456789abcdef",
        "content-type": "application/json",
    }
    redacted = DEFAULT_REDACTOR.headers(headers)
    assert redacted["Authorization"] == "<redacted:authorization>"
    assert redacted["x-api-key"] == "<redacted:x-api-key>"
    assert redacted["Cookie"] == "<redacted:cookie>"
    assert redacted["set-cookie"] == "<redacted:set-cookie>"
    assert redacted["OpenAI-Organization"] == "<redacted:openai-organization>"
    assert redacted["openai-project"] == "<redacted:openai-project>"
    assert redacted["anthropic-organization-id"] == "<redacted:anthropic-organization-id>"
    assert redacted["api-key"] == "<redacted:api-key>"
    assert redacted["x-forwarded-note"] == "leaked <redacted:openai-key>"
    assert redacted["content-type"] == "application/json"


def test_query_strings_lose_secret_parameters_and_key_shaped_values() -> None:
    query = "api-version=2024-10-21&key=AIzaPLAIN&access_token=t0k3n&note=sk-test-SECRET0123456789abc"
    assert DEFAULT_REDACTOR.query(query) == (
        "api-version=2024-10-21&key=<redacted:key>&access_token=<redacted:access_token>"
        "&note=<redacted:openai-key>"
    )
    assert DEFAULT_REDACTOR.query("") == ""


def test_json_bodies_lose_secret_fields_and_key_shaped_strings_but_keep_content() -> None:
    metadata = {"api_key": "plain-secret", "token": "content, not a credential"}
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "my key is sk-test-SECRET0123456789abcdef"}],
        "metadata": metadata,
        "tools": [{"input_schema": {"properties": {"password": {"type": "string"}}}}],
    }
    redacted = DEFAULT_REDACTOR.json(body)
    assert redacted["messages"][0]["content"] == "my key is <redacted:openai-key>"
    assert redacted["metadata"] == {"api_key": "<redacted:api_key>", "token": "content, not a credential"}
    assert redacted["tools"] == body["tools"]  # a schema naming a password field is not a password
    assert redacted["max_tokens"] == 10
    assert metadata["api_key"] == "plain-secret"  # a new value; the input is untouched


def test_two_keys_redact_to_the_same_text() -> None:
    first = DEFAULT_REDACTOR.json({"user": "sk-test-FIRSTKEY0123456789"})
    second = DEFAULT_REDACTOR.json({"user": "sk-test-OTHERKEY9876543210"})
    assert first == second == {"user": placeholder("openai-key")}


def test_extra_headers_and_patterns() -> None:
    redactor = Redactor(headers=["X-Gateway-Auth"], patterns=[r"tenant=(?P<secret>\w+)", r"acme_[0-9a-f]{8}"])
    assert redactor.headers({"x-gateway-auth": "abc"}) == {"x-gateway-auth": "<redacted:x-gateway-auth>"}
    assert redactor.text("tenant=t42 acme_deadbeef") == "tenant=<redacted:pattern> <redacted:pattern>"
    assert DEFAULT_REDACTOR.text("acme_deadbeef") == "acme_deadbeef"


def test_a_pattern_that_does_not_compile_is_one_line() -> None:
    with pytest.raises(UsageError, match=r"--redact-pattern '\(unclosed': not a regular expression"):
        Redactor(patterns=["(unclosed"])
