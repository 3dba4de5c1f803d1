"""The hardened extractor's declared errors, importable without the openai SDK.

Scenario contracts name them (``allowed_errors``), so validating a scenario must not
need the SDK the pipeline uses.
"""

from __future__ import annotations

__all__ = [
    "ExtractionError",
    "MalformedOutput",
    "ModelTimeout",
    "ModelUnavailable",
    "OutputTooLarge",
    "OutputTruncated",
    "Refused",
]


class ExtractionError(Exception):
    """The extractor could not produce a valid user record; a declared, clean failure."""


class ModelUnavailable(ExtractionError):
    """The model API failed after retries (status errors, connection errors, broken streams)."""


class ModelTimeout(ExtractionError):
    """The model did not answer within the read timeout or the overall deadline."""


class MalformedOutput(ExtractionError):
    """The reply holds no JSON object that validates as a user record."""


class OutputTruncated(MalformedOutput):
    """The model stopped at its token limit (``finish_reason: length``), so the JSON is partial."""


class OutputTooLarge(ExtractionError):
    """The reply grew past :data:`harness.demo.hardened.MAX_REPLY_BYTES`; the stream was aborted."""


class Refused(ExtractionError):
    """The model refused, or the provider's content filter stopped the reply."""
