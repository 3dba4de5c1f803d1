"""Inline source: the same text for every call, written in the scenario itself."""

from __future__ import annotations

import random

from harness.wire import Completion, ModelRequest


def estimate_tokens(text: str | None) -> int:
    """A provider-like token count: about four characters a token, at least one."""
    return max(1, len(text or "") // 4)


def clean_completion(request: ModelRequest, text: str) -> Completion:
    """A successful completion of ``text`` with token estimates for ``request``."""
    return Completion(
        text=text,
        input_tokens=estimate_tokens(request.prompt_text),
        output_tokens=estimate_tokens(text),
    )


class InlineSource:
    """Answers every call with ``content`` verbatim (the request's schema is not consulted)."""

    def __init__(self, content: str) -> None:
        self.content = content

    def completion(self, request: ModelRequest, rng: random.Random) -> Completion:
        """The inline text; ``rng`` is unused: the reply never varies."""
        return clean_completion(request, self.content)

    def __repr__(self) -> str:
        preview = self.content if len(self.content) <= 40 else self.content[:37] + "..."
        return f"InlineSource({preview!r})"
