"""Where the *clean* reply comes from: inline text, generated JSON, or recorded cassettes.

Every source has ``completion(request, rng) -> Completion``; randomness comes only from
``rng`` (the Responder derives it from seed, case and call), so replies are repeatable.
"""

from __future__ import annotations

from harness.responder import Source
from harness.sources.cassette import (
    CassetteSource,
    completion_from_body,
    completion_from_events,
    load_cassette,
)
from harness.sources.generated import GenerationError, SchemaSource
from harness.sources.inline import InlineSource, estimate_tokens

__all__ = [
    "CassetteSource",
    "GenerationError",
    "InlineSource",
    "SchemaSource",
    "Source",
    "completion_from_body",
    "completion_from_events",
    "estimate_tokens",
    "load_cassette",
]
