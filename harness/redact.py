"""Redaction: secrets in recorded provider traffic are replaced before anything reaches disk.

A :class:`Redactor` replaces

- the values of secret headers (request and response): ``Authorization``, ``Proxy-Authorization``,
  ``api-key`` (Azure OpenAI), ``x-api-key`` (Anthropic), ``Cookie``, ``Set-Cookie``, and the
  account identifiers ``OpenAI-Organization``, ``OpenAI-Project`` and ``anthropic-organization-id``.
  Those last three are not credentials, but they name the paying account, and cassettes are
  committed to repositories and shared in bug reports; replay never needs them;
- the values of query-string parameters and JSON body fields whose *name* says secret
  (``key``, ``api_key``, ``access_token``, ``password`` …);
- API-key-shaped strings anywhere in bodies, query strings and other header values
  (:data:`DEFAULT_PATTERNS`: OpenAI and Anthropic keys, bearer tokens, AWS access keys).

Every secret becomes a stable placeholder, ``<redacted:authorization>``, ``<redacted:openai-key>``,
so two recordings made with different keys redact to the same text and replay matching
(done on the redacted request) does not depend on which key a client holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from harness.errors import UsageError

SECRET_HEADERS = (
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "cookie",
    "set-cookie",
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
)
"""Header names whose values are always replaced (lower case)."""

SECRET_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "api-key",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "secret",
        "password",
        "token",
        "code",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
"""Query parameter names whose values are always replaced (compared in lower case).

``key`` is how Google-style APIs take their key; ``code`` and ``sig`` are OAuth codes and
signed-URL signatures.
"""

SECRET_FIELDS = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "access_token",
        "refresh_token",
        "client_secret",
        "aws_secret_access_key",
        "password",
    }
)
"""JSON body field names whose string values are always replaced (compared in lower case).

Narrower than :data:`SECRET_PARAMS`: bodies carry the model's own output (tool arguments),
where a field called ``key`` or ``token`` is content, not a credential.
"""


@dataclass(frozen=True, slots=True)
class Pattern:
    """A secret-shaped string: ``regex`` matches it; the named group ``secret``, if any, is what goes."""

    label: str
    regex: re.Pattern[str]


def _pattern(label: str, regex: str) -> Pattern:
    return Pattern(label, re.compile(regex))


DEFAULT_PATTERNS = (
    # Anthropic: sk-ant-api03-…, sk-ant-admin01-…; checked before the generic sk- form.
    _pattern("anthropic-key", r"\bsk-ant-[A-Za-z0-9_\-]{8,}"),
    # OpenAI: sk-…, sk-proj-…, sk-svcacct-…, sk-admin-… (also what most OpenAI-compatible hosts issue).
    _pattern("openai-key", r"\bsk-[A-Za-z0-9_\-]{16,}"),
    # Any bearer credential (OAuth access tokens, JWTs, gateway keys): keep the scheme word.
    _pattern("bearer", r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)"),
    # AWS access key ids (long-term AKIA, temporary ASIA), e.g. Bedrock SigV4 credentials.
    _pattern("aws-access-key", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    # AWS secret keys are 40 base64 characters: only recognisable next to their name.
    _pattern(
        "aws-secret-key",
        r"(?i)aws_?secret_?access_?key[\"'\s:=]+(?P<secret>[A-Za-z0-9/+=]{40})",
    ),
    # Google API keys (Gemini / Vertex via OpenAI-compatible endpoints).
    _pattern("google-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
)
"""The secret-shaped strings redacted by default, in the order they are tried."""


def placeholder(label: str) -> str:
    """The stable text that stands for a redacted secret: ``<redacted:label>``."""
    return f"<redacted:{label}>"


class Redactor:
    """Replaces secrets in headers, query strings, text and decoded JSON (see the module docs).

    ``headers`` adds header names to :data:`SECRET_HEADERS`; ``patterns`` adds regular
    expressions (a named group ``secret`` limits what is replaced; otherwise the whole match
    goes, as ``<redacted:pattern>``). A pattern that does not compile is a :class:`UsageError`.
    """

    def __init__(self, headers: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        self.secret_headers = frozenset(h.lower() for h in (*SECRET_HEADERS, *headers))
        extra: list[Pattern] = []
        for text in patterns:
            try:
                extra.append(Pattern("pattern", re.compile(text)))
            except re.error as exc:
                raise UsageError(f"--redact-pattern {text!r}: not a regular expression: {exc}") from None
        self.patterns = (*DEFAULT_PATTERNS, *extra)

    def text(self, text: str) -> str:
        """``text`` with every secret-shaped string replaced."""
        for pattern in self.patterns:
            text = pattern.regex.sub(lambda m, p=pattern: _replace(m, p.label), text)  # type: ignore[misc]
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers with secret ones replaced whole and secret-shaped strings replaced in the rest."""
        return {
            name: placeholder(name.lower()) if name.lower() in self.secret_headers else self.text(value)
            for name, value in headers.items()
        }

    def query(self, query: str) -> str:
        """A URL query string with secret parameters and secret-shaped values replaced."""
        if not query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        redacted = [
            (name, placeholder(name.lower()) if name.lower() in SECRET_PARAMS else self.text(value))
            for name, value in pairs
        ]
        return urlencode(redacted, quote_via=quote, safe="<>:")

    def json(self, value: Any) -> Any:
        """A decoded JSON value with secret fields and secret-shaped strings replaced (a new value)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {
                key: (
                    placeholder(key.lower())
                    if key.lower() in SECRET_FIELDS and isinstance(item, str)
                    else self.json(item)
                )
                for key, item in value.items()
            }
        return value


def _replace(match: re.Match[str], label: str) -> str:
    if "secret" in match.re.groupindex and match.group("secret") is not None:
        start, end = match.span("secret")
        whole_start = match.start()
        text = match.group(0)
        return text[: start - whole_start] + placeholder(label) + text[end - whole_start :]
    return placeholder(label)


DEFAULT_REDACTOR = Redactor()
"""The redactor with the default rules only; replay matching redacts incoming requests with it."""
