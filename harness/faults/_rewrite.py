"""How content faults produce a new completion: new text with its tokens re-estimated, or a JSON edit.

Shared by :mod:`~harness.faults.content` (edits of the JSON structure) and
:mod:`~harness.faults.content_text` (edits of the text as a whole).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness.faults._json_edit import Found, find_json
from harness.lazytext import LazyText
from harness.wire import Completion


def estimate_tokens(text: str | LazyText | None) -> int:
    """Output tokens for ``text``, the sources' estimate: about four characters a token, at least 1.

    Unlike :func:`harness.sources.estimate_tokens`, no text at all counts as 0 tokens: an
    empty reply bills nothing visible.
    """
    return max(1, len(text) // 4) if text else 0


def retext(completion: Completion, text: str | None, **changes: Any) -> Completion:
    """A copy with new text and its token count re-estimated (reasoning tokens kept on top)."""
    tokens = estimate_tokens(text) + completion.reasoning_tokens
    return replace(completion, text=text, output_tokens=tokens, **changes)


def edit_json(completion: Completion, edit: Callable[[Found], Any]) -> Completion:
    """Apply ``edit`` to the JSON in the text; it returns the new value, or None to leave the text as is."""
    found = find_json(completion.text)
    if found is None:
        return completion
    new_value = edit(found)
    if new_value is None:
        return completion
    return replace(completion, text=found.render(new_value))
