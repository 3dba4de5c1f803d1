"""Which realistic value fits a field: hints from its name (``email``, ``age``, ``created_at``) and format.

Names are matched in snake_case (``userId`` → ``user_id``) word by word, so ``billing_email``
gets an address and ``order_total`` a price. Integer and float hints are ranges (then cut
to the schema's bounds by the generator); string hints are rules that draw from Faker or
from the generator's fixed-window dates.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

_INT_HINTS: tuple[tuple[frozenset[str], tuple[int, int]], ...] = (
    (frozenset({"age"}), (18, 90)),
    (frozenset({"year"}), (1950, 2030)),
    (frozenset({"month"}), (1, 12)),
    (frozenset({"day"}), (1, 28)),
    (frozenset({"hour"}), (0, 23)),
    (frozenset({"minute", "second", "seconds", "minutes"}), (0, 59)),
    (frozenset({"rating", "stars"}), (1, 5)),
    (frozenset({"priority", "level", "rank"}), (1, 10)),
    (frozenset({"percent", "percentage", "score"}), (0, 100)),
    (frozenset({"port"}), (1024, 65535)),
    (frozenset({"quantity", "qty", "count", "items", "number"}), (1, 50)),
    (
        frozenset({"price", "amount", "cost", "total", "balance", "salary", "fee", "revenue", "budget"}),
        (1, 5000),
    ),
    (frozenset({"id"}), (1, 99999)),
)
_FLOAT_HINTS: tuple[tuple[frozenset[str], tuple[float, float, int]], ...] = (
    (frozenset({"latitude", "lat"}), (-90.0, 90.0, 6)),
    (frozenset({"longitude", "lon", "lng"}), (-180.0, 180.0, 6)),
    (frozenset({"confidence", "probability", "ratio", "likelihood", "score"}), (0.0, 1.0, 2)),
    (frozenset({"rating", "stars"}), (1.0, 5.0, 1)),
    (frozenset({"percent", "percentage"}), (0.0, 100.0, 1)),
    (
        frozenset({"price", "amount", "cost", "total", "balance", "salary", "fee", "tax", "subtotal"}),
        (1, 5000, 2),
    ),
    (frozenset({"temperature", "temp"}), (-20.0, 45.0, 1)),
)
_TEXT_WORDS = frozenset(
    {"description", "notes", "note", "summary", "bio", "comment", "comments", "message", "text", "content"}
    | {"body", "details", "reason", "feedback", "review", "explanation", "answer"}
)


class Drawer(Protocol):
    """What a string rule draws with: Faker values and the generator's date helpers, all from one rng."""

    def fake(self, method: str, *args: Any) -> str:
        """Faker's ``method(*args)``."""
        ...

    def datetime(self) -> str:
        """An RFC 3339 UTC timestamp."""
        ...

    def date(self) -> str:
        """An ISO date."""
        ...

    def duration(self) -> str:
        """An ISO 8601 duration."""
        ...


Rule = Callable[[Drawer], str]
"""Draws a string for a field."""


def snake(name: str) -> str:
    """``userId`` / ``User-ID`` → ``user_id``: the form name hints are matched in."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def singular(name: str) -> str:
    """A list's item name from the list's name (``tags`` → ``tag``, ``categories`` → ``category``)."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


@functools.lru_cache(maxsize=1024)
def likely_true(key: str) -> bool:
    """A flag that is usually set: ``is_active``, ``enabled``, ``verified``, ``valid``, ``available``."""
    return snake(key).removeprefix("is_") in {"active", "enabled", "verified", "valid", "available"}


def int_range(key: str) -> tuple[int, int] | None:
    """A realistic integer range for a field called ``key`` (``age`` 18-90), or None."""
    found: tuple[int, int] | None = _hint(_INT_HINTS, key)
    return found


def float_range(key: str) -> tuple[float, float, int] | None:
    """A realistic float range and number of decimals for a field called ``key``, or None."""
    found: tuple[float, float, int] | None = _hint(_FLOAT_HINTS, key)
    return found


@functools.lru_cache(maxsize=1024)
def _hint(table: tuple[tuple[frozenset[str], Any], ...], key: str) -> Any:
    tokens = set(snake(key).split("_"))
    return next((found for words, found in table if words & tokens), None)


@dataclass(frozen=True, slots=True)
class FakerRule:
    """A rule that is one Faker method: the generator may bind it to its Faker once, ahead of drawing."""

    method: str
    args: tuple[Any, ...] = ()

    def __call__(self, maker: Drawer) -> str:
        """Faker's ``method(*args)``."""
        return maker.fake(self.method, *self.args)


def _fake(method: str, *args: Any) -> Rule:
    return FakerRule(method, args)


_FORMATS: dict[str, Rule] = {
    "email": _fake("email"),
    "idn-email": _fake("email"),
    "uri": _fake("url"),
    "iri": _fake("url"),
    "url": _fake("url"),
    "uri-reference": _fake("uri_path"),
    "iri-reference": _fake("uri_path"),
    "uuid": _fake("uuid4"),
    "date-time": lambda m: m.datetime(),
    "date": lambda m: m.date(),
    "time": lambda m: m.datetime()[11:],
    "duration": lambda m: m.duration(),
    "ipv4": _fake("ipv4"),
    "ipv6": _fake("ipv6"),
    "hostname": _fake("domain_name"),
    "idn-hostname": _fake("domain_name"),
    "password": _fake("password"),
    "phone": _fake("phone_number"),
    "color": _fake("color_name"),
    "regex": lambda m: "^[a-z]+$",
    "json-pointer": lambda m: f"/{m.fake('word')}/{m.fake('word')}",
    "uri-template": lambda m: f"{m.fake('url')}{{id}}",
    "base64": lambda m: m.fake("sha1")[:16],
}


def by_format(fmt: str | None) -> Rule | None:
    """The rule for a JSON Schema ``format`` (None for formats without one)."""
    return _FORMATS.get(fmt or "")


_STRING_RULES: tuple[tuple[str, frozenset[str], Rule], ...] = (
    # (how the name is tested, words, maker): "token" = any word of the snake_case name,
    # "exact" = the whole name, "last" = its last word, "suffix" = how the name ends.
    ("suffix", frozenset({"email"}), _fake("email")),
    ("exact", frozenset({"first_name", "firstname", "given_name"}), _fake("first_name")),
    ("exact", frozenset({"last_name", "lastname", "surname", "family_name"}), _fake("last_name")),
    ("exact", frozenset({"username", "user_name", "login", "handle", "nickname"}), _fake("user_name")),
    ("token", frozenset({"company", "organization", "organisation", "employer", "vendor"}), _fake("company")),
    ("last", frozenset({"name", "fullname", "author", "customer", "contact", "owner"}), _fake("name")),
    ("token", frozenset({"phone", "mobile", "telephone", "tel", "fax"}), _fake("phone_number")),
    ("token", frozenset({"city", "town"}), _fake("city")),
    ("exact", frozenset({"country_code"}), _fake("country_code")),
    ("token", frozenset({"country"}), _fake("country")),
    ("token", frozenset({"state", "province", "region"}), _fake("state")),
    ("token", frozenset({"zip", "zipcode", "postcode", "postal"}), _fake("postcode")),
    ("token", frozenset({"address", "street"}), _fake("street_address")),
    ("token", frozenset({"url", "uri", "website", "homepage", "link", "href"}), _fake("url")),
    ("token", frozenset({"domain", "hostname", "host"}), _fake("domain_name")),
    ("token", frozenset({"ip"}), _fake("ipv4")),
    ("last", frozenset({"id", "uuid", "guid"}), _fake("uuid4")),
    ("last", frozenset({"at", "timestamp", "datetime"}), lambda m: m.datetime()),
    ("last", frozenset({"on", "date", "birthday", "dob", "birthdate"}), lambda m: m.date()),
    ("token", _TEXT_WORDS, _fake("sentence")),
    (
        "token",
        frozenset({"title", "subject", "headline", "heading"}),
        lambda m: m.fake("sentence", 4).rstrip("."),
    ),
    ("token", frozenset({"currency"}), _fake("currency_code")),
    ("token", frozenset({"color", "colour"}), _fake("color_name")),
    ("token", frozenset({"language", "lang"}), _fake("language_name")),
    ("token", frozenset({"job", "occupation", "profession", "role"}), _fake("job")),
    ("token", frozenset({"slug"}), _fake("slug")),
    ("token", frozenset({"sku", "code"}), lambda m: m.fake("bothify", "???-####").upper()),
    ("token", frozenset({"password", "secret"}), _fake("password")),
    ("token", frozenset({"token", "hash", "checksum"}), _fake("sha1")),
    ("token", frozenset({"filename", "file"}), _fake("file_name")),
    ("token", frozenset({"path"}), _fake("file_path")),
)


@functools.lru_cache(maxsize=1024)
def by_name(key: str) -> Rule | None:
    """The first rule whose name test matches ``key`` (names repeat, so this is cached)."""
    name = snake(key)
    tokens = set(name.split("_"))
    tests: dict[str, Callable[[frozenset[str]], bool]] = {
        "token": lambda words: bool(tokens & words),
        "exact": lambda words: name in words,
        "last": lambda words: name.rsplit("_", 1)[-1] in words,
        "suffix": lambda words: name.endswith(tuple(words)),
    }
    return next((make for how, words, make in _STRING_RULES if tests[how](words)), None)
