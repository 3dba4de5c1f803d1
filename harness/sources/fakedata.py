"""Faker values for one locale, the common ones drawn straight from Faker's own data with the caller's rng.

Faker is realistic but slow: ``name()`` or ``email()`` goes through format parsing, a
proxy, weighted-choice helpers and decorators, about 10 µs each, which made value
generation most of the fake provider's cost per request. :class:`LocaleFaker` reads the
same locale data Faker reads — name formats and their weights, first and last names,
e-mail domains, words — and draws from it with the rng it is given; a format string
(``{{first_name}} {{last_name}}``) is split once into literals and tokens.

Only methods a locale does not override are drawn this way (so a locale with its own
logic keeps it); everything else — and every call with arguments — is Faker's own
method, drawing from the same rng. Weighted lists are drawn with their weights, as
Faker does by default.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from faker.decode import unidecode
from faker.providers.internet import Provider as _Internet
from faker.providers.lorem import Provider as _Lorem
from faker.providers.person import Provider as _Person
from faker.utils.text import slugify

from harness.seeding import below

Draw = Callable[[random.Random], str]
"""Draws one value with the given rng."""

_ELEMENTS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    # method: (Faker's base provider, where the base method takes its value from, in order:
    # a data attribute of the locale's provider, or "@method" when it falls back to another).
    "first_name": (_Person, ("first_names",)),
    "last_name": (_Person, ("last_names",)),
    "first_name_male": (_Person, ("first_names_male", "@first_name")),
    "first_name_female": (_Person, ("first_names_female", "@first_name")),
    "first_name_nonbinary": (_Person, ("first_names_nonbinary", "@first_name")),
    "last_name_male": (_Person, ("last_names_male", "@last_name")),
    "last_name_female": (_Person, ("last_names_female", "@last_name")),
    "last_name_nonbinary": (_Person, ("last_names_nonbinary", "@last_name")),
    "prefix_male": (_Person, ("prefixes_male", "@prefix")),
    "prefix_female": (_Person, ("prefixes_female", "@prefix")),
    "prefix_nonbinary": (_Person, ("prefixes_nonbinary", "@prefix")),
    "suffix_male": (_Person, ("suffixes_male", "@suffix")),
    "suffix_female": (_Person, ("suffixes_female", "@suffix")),
    "suffix_nonbinary": (_Person, ("suffixes_nonbinary", "@suffix")),
    "free_email_domain": (_Internet, ("free_email_domains",)),
    "safe_domain_name": (_Internet, ("safe_domain_names",)),
}
_LOWERCASED = frozenset({"free_email_domain", "safe_domain_name"})
"""Methods Faker lowercases on the way out."""
_TOKEN = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_SLUG_SAFE = re.compile(r"[a-z0-9_.]*")
"""Text :func:`faker.utils.text.slugify` only takes the dots out of."""
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"


class LocaleFaker:
    """Faker values for one locale, drawn with the caller's rng (see the module docstring)."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator
        self._draws: dict[str, Draw] = {}

    def draw(self, method: str, rng: random.Random, *args: Any) -> str:
        """The value of Faker's ``method(*args)``, drawn with ``rng``."""
        if args:
            return self._faker(method, rng, *args)
        return self.draw_for(method)(rng)

    def _faker(self, method: str, rng: random.Random, *args: Any) -> str:
        """Faker's own method, drawing from ``rng``."""
        self._generator.random = rng
        return str(getattr(self._generator, method)(*args))

    def _compile(self, method: str) -> Draw:
        """The fastest faithful way to draw ``method``: from the data, as a format, or through Faker."""
        compiled = self._element(method) or self._pattern(method)
        if compiled is not None:
            return compiled
        return lambda rng: self._faker(method, rng)

    def _provider(self, method: str, base: type[Any]) -> Any | None:
        """The locale's provider of ``method`` when it keeps ``base``'s implementation, else None."""
        bound = getattr(self._generator, method, None)
        provider = getattr(bound, "__self__", None)
        if provider is None or getattr(type(provider), method, None) is not getattr(base, method, None):
            return None
        return provider

    def _element(self, method: str) -> Draw | None:
        """A draw from the locale's data list for a method that only picks an element."""
        spec = _ELEMENTS.get(method)
        provider = self._provider(method, spec[0]) if spec else None
        if spec is None or provider is None:
            return None
        for source in spec[1]:
            if source.startswith("@"):
                return self.draw_for(source[1:])
            if hasattr(provider, source):
                return chooser(getattr(provider, source), lower=method in _LOWERCASED)
        return None

    def _pattern(self, method: str) -> Draw | None:
        """A draw for the methods that fill a format: ``name``, ``user_name``, ``email``, ``word``."""
        if method == "name" and (person := self._provider("name", _Person)) is not None:
            return self._formats(person.formats)
        if method == "user_name" and (internet := self._provider("user_name", _Internet)) is not None:
            return self._user_name(internet)
        if method == "email" and self._provider("email", _Internet) is not None:
            user, domain = self.draw_for("user_name"), self.draw_for("safe_domain_name")
            return lambda rng: f"{user(rng)}@{domain(rng)}".lower()
        lorem = self._provider("word", _Lorem) if method == "word" else None
        if lorem is not None and type(lorem).get_words_list is _Lorem.get_words_list:
            return chooser(lorem.get_words_list())
        return None

    def draw_for(self, method: str) -> Draw:
        """The compiled draw of ``method`` (compiled on first use)."""
        found = self._draws.get(method)
        if found is None:
            found = self._draws[method] = self._compile(method)
        return found

    def _formats(self, formats: Sequence[str] | Mapping[str, float]) -> Draw:
        """A format drawn (by weight) from ``formats``, then filled."""
        fills = [self._fill(str(text)) for text in formats]
        pick = picker(formats)
        return lambda rng: fills[pick(rng)](rng)

    def _fill(self, text: str, *, bothify: bool = False) -> Draw:
        """A format string (``{{first_name}} {{last_name}}``) as a template and the draws that fill it.

        With ``bothify``, a ``#`` in the literal text is a digit and a ``?`` a letter, as in
        Faker's ``bothify``.
        """
        pieces = _TOKEN.split(text)  # literal, token, literal, …, literal
        template: list[str] = []
        draws: list[Draw] = []
        for number, piece in enumerate(pieces):
            if number % 2:
                template.append("{}")
                draws.append(self.draw_for(piece))
                continue
            for char in piece:
                if bothify and char in "#?":
                    template.append("{}")
                    draws.append(_digit if char == "#" else _letter)
                else:
                    template.append(char.replace("{", "{{").replace("}", "}}"))
        form = "".join(template)
        return lambda rng: form.format(*[draw(rng) for draw in draws])

    def _user_name(self, internet: Any) -> Draw | None:
        """Faker's ``user_name``: a format filled, ``#``/``?`` replaced, lowercased, made ASCII, slugified."""
        formats = internet.user_name_formats
        if any(mark in str(text) for text in formats for mark in "%!@"):
            return None  # placeholders this draw does not replace: Faker's own method
        fills = [self._fill(str(text), bothify=True) for text in formats]
        pick = picker(formats)
        replacements: tuple[tuple[str, str], ...] = tuple(internet.replacements)

        def draw(rng: random.Random) -> str:
            text = fills[pick(rng)](rng).lower()
            for search, replace in replacements:
                text = text.replace(search, replace)
            if not text.isascii():
                text = unidecode(text)
            return text.replace(".", "") if _SLUG_SAFE.fullmatch(text) else slugify(text, allow_unicode=True)

        return draw


def _digit(rng: random.Random) -> str:
    return _DIGITS[below(rng, 10)]


def _letter(rng: random.Random) -> str:
    return _LETTERS[below(rng, 52)]


def chooser(elements: Sequence[str] | Mapping[str, float], *, lower: bool = False) -> Draw:
    """A draw of one element: by weight from a mapping of weights, uniformly from a sequence."""
    values = [str(v).lower() if lower else str(v) for v in elements]
    pick = picker(elements)
    return lambda rng: values[pick(rng)]


def picker(elements: Sequence[Any] | Mapping[Any, float]) -> Callable[[random.Random], int]:
    """A draw of an index into ``elements``: by weight for a mapping of weights, else uniform."""
    count = len(elements)
    if count == 0:
        raise ValueError("nothing to draw from")
    if isinstance(elements, Mapping):
        cumulative = list(itertools.accumulate(float(w) for w in elements.values()))
        total, last = cumulative[-1], count - 1
        if total > 0:
            # What rng.choices(range(count), cum_weights=cumulative) draws, without its per-call checks.
            return lambda rng: bisect.bisect(cumulative, rng.random() * total, 0, last)
    return lambda rng: below(rng, count)
