"""What a provider's HTTP error looks like on the wire: retry-after and rate-limit headers, a proxy's page.

Used by the ``http_status`` transport fault. Dates are computed from
:data:`REFERENCE_EPOCH`, never from the clock, so the same fault gives the same bytes on
any day.
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Literal

REFERENCE_EPOCH = 1_767_225_600
"""2026-01-01T00:00:00Z: ``retry-after`` dates and rate-limit resets are computed from it, not the clock."""

ABSURD_RETRY_AFTER = 86_400
"""One day: far above the SDKs' cap (openai/anthropic: 120 s), so they stop retrying at once."""

RetryAfterForm = Literal["seconds", "float", "ms", "http_date", "absent", "absurd"]
"""How the server's retry delay is written (see :func:`retry_after_headers`)."""

_REASONS = {529: "Site is overloaded"}


def retry_after_headers(form: RetryAfterForm, seconds: float | None) -> list[tuple[str, str]]:
    """The retry header(s) for ``seconds`` (default 1) written the way ``form`` says.

    ``seconds`` writes whole seconds rounded up (0.1 → ``1``); ``float`` keeps the fraction
    (``0.1``); ``ms`` writes ``retry-after-ms`` (which the SDKs read first); ``absurd`` is
    one day whatever the value.

    ``http_date`` is ``REFERENCE_EPOCH + seconds`` as an IMF-fixdate, deterministic but
    compared by the SDKs with *their* wall clock: after 2026-01-01 it lies in the past, so
    openai/anthropic ignore it and fall back to their own exponential backoff.
    """
    value = 1.0 if seconds is None else seconds
    if form == "absent":
        return []
    if form == "absurd":
        return [("retry-after", str(ABSURD_RETRY_AFTER))]
    if form == "seconds":
        return [("retry-after", str(math.ceil(value)))]
    if form == "float":
        return [("retry-after", repr(float(value)))]
    if form == "ms":
        return [("retry-after-ms", str(round(value * 1000)))]
    return [("retry-after", email.utils.formatdate(REFERENCE_EPOCH + math.ceil(value), usegmt=True))]


def ratelimit_headers(dialect_name: str, reset_seconds: float) -> list[tuple[str, str]]:
    """Exhausted rate-limit headers, OpenAI (``x-ratelimit-*``) or Anthropic (``anthropic-ratelimit-*``)."""
    if dialect_name.startswith("anthropic"):
        when = datetime.fromtimestamp(REFERENCE_EPOCH + math.ceil(reset_seconds), UTC)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        return [
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", stamp),
            ("anthropic-ratelimit-input-tokens-limit", "40000"),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            ("anthropic-ratelimit-input-tokens-reset", stamp),
            ("anthropic-ratelimit-output-tokens-limit", "8000"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            ("anthropic-ratelimit-output-tokens-reset", stamp),
            ("anthropic-ratelimit-tokens-limit", "48000"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", stamp),
        ]
    reset = _duration(reset_seconds)
    return [
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-limit-tokens", "200000"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-requests", reset),
        ("x-ratelimit-reset-tokens", reset),
    ]


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``120ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, secs = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _REASONS.get(status, "Error")


def html_error_page(status: int) -> bytes:
    """The HTML page nginx serves for ``status`` (what a proxy in front of the provider returns)."""
    title = f"{status} {_reason(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()
