"""Drawing strings that match a regular expression, for JSON Schema ``pattern``.

:class:`RegexSampler` walks the standard library's own parse of the pattern and draws
each piece from the rng: literals as written, classes from their characters (printable
ASCII when negated), alternatives and repeat counts at random, with unbounded repeats
kept short. Lookarounds and anchors are not enforced, so callers check the candidate with
``re.search`` and draw again.
"""

from __future__ import annotations

import importlib
import random
import re
import string
from typing import Any

_re_parser: Any = importlib.import_module("re._parser")  # the stdlib's own regex parser

REPEAT_SLACK = 6
"""An unbounded regex repeat (``*``, ``+``) draws at most this many extra repetitions."""
_PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters + string.punctuation + " ",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": string.ascii_letters + string.digits + string.punctuation,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_NOT_WORD": string.punctuation.replace("_", "") + " ",
}


class PatternError(ValueError):
    """The pattern does not compile, or uses a construct the sampler cannot draw."""


class RegexSampler:
    """Draws a string matching a regex, walking the stdlib's parse of it (short repeats, ASCII)."""

    def __init__(self, rng: random.Random, slack: int = REPEAT_SLACK) -> None:
        self.rng = rng
        self.slack = slack
        self.groups: dict[int, str] = {}

    def sample(self, pattern: str) -> str:
        """A candidate match of ``pattern``; lookarounds are not enforced (callers re-check)."""
        try:
            parsed = _re_parser.parse(pattern)
        except re.error as exc:
            raise PatternError(f"invalid pattern {pattern!r}: {exc}") from None
        return self.sequence(parsed)

    def sequence(self, items: Any) -> str:
        """Concatenate the samples of a parsed sequence."""
        return "".join(self.item(str(op), arg) for op, arg in items)

    def item(self, op: str, arg: Any) -> str:
        """Sample one parsed regex node."""
        if op == "LITERAL":
            return chr(arg)
        if op == "NOT_LITERAL":
            return self.rng.choice(_PRINTABLE.replace(chr(arg), ""))
        if op == "ANY":
            return self.rng.choice(_PRINTABLE)
        if op == "IN":
            return self.rng.choice(self.charset(arg))
        if op == "BRANCH":
            return self.sequence(self.rng.choice(arg[1]))
        if op == "SUBPATTERN":
            text = self.sequence(arg[-1])
            if arg[0]:
                self.groups[arg[0]] = text
            return text
        if op == "ATOMIC_GROUP":
            return self.sequence(arg)
        if op in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
            low, high, body = arg
            count = self.rng.randint(low, min(high, low + self.slack))
            return "".join(self.sequence(body) for _ in range(count))
        if op == "GROUPREF":
            return self.groups.get(arg, "")
        if op in {"AT", "ASSERT", "ASSERT_NOT"}:
            return ""
        raise PatternError(f"unsupported regex construct {op}")

    def charset(self, items: Any) -> str:
        """The characters a ``[...]`` class admits (capped to printable ASCII when negated)."""
        chars: list[str] = []
        negate = False
        for op, arg in items:
            name = str(op)
            if name == "NEGATE":
                negate = True
            elif name == "LITERAL":
                chars.append(chr(arg))
            elif name == "RANGE":
                chars.extend(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 256) + 1))
            elif name == "CATEGORY":
                chars.extend(_CATEGORIES.get(str(arg), ""))
        if negate:
            chars = [c for c in _PRINTABLE if c not in set(chars)]
        if not chars:
            raise PatternError("empty character class in pattern")
        return "".join(chars)
