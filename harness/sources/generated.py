"""Generated source: realistic JSON that conforms to a JSON Schema (or a pydantic model), via Faker.

Values are chosen by field name and format — ``email`` gets an address, ``created_at`` an
ISO timestamp, ``age`` 18-90, ``price`` two decimals — then fitted to the schema's own
bounds. Supported: ``type`` (or lists of types), ``enum``, ``const``, ``$ref``/``$defs``,
``allOf``, ``anyOf``/``oneOf`` (``null`` branches make optional fields), numeric bounds and
``multipleOf``, string ``minLength``/``maxLength``/``format``/``pattern``, arrays
(``items``, ``prefixItems``, ``minItems``/``maxItems``, ``uniqueItems``, ``contains``) and
objects (``properties``, ``required``, ``additionalProperties``, ``min/maxProperties``) —
everything pydantic emits. Keywords outside that (``not``, ``if``) are honoured by
validating each value and drawing again. Dates come from a fixed window, never from "now",
so the same seed gives byte-identical text on any day.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import random
import re
import string
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import jsonschema
from faker import Faker

from harness.sources.inline import clean_completion
from harness.wire import Completion, ModelRequest

_re_parser: Any = importlib.import_module("re._parser")  # the stdlib's own regex parser

_DEEP = 6
"""Past this nesting depth, optional parts are left out so recursive schemas end."""
_TOO_DEEP = 40
_ATTEMPTS = 8
_REPEAT_SLACK = 6
"""An unbounded regex repeat (``*``, ``+``) draws at most this many extra repetitions."""
_EPOCH = datetime(2018, 1, 1, tzinfo=UTC)
_WINDOW = int(timedelta(days=8 * 365).total_seconds())
_PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters + string.punctuation + " ",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": string.ascii_letters + string.digits + string.punctuation,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_NOT_WORD": string.punctuation.replace("_", "") + " ",
}
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


class GenerationError(ValueError):
    """The schema admits no value this generator can produce (or none at all)."""


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


class SchemaSource:
    """Answers every call with a fresh value conforming to ``schema``, as compact JSON text.

    The request's own ``response_schema`` is not consulted: the scenario's schema wins.
    """

    def __init__(self, schema: Mapping[str, Any], *, locale: str = "en_US") -> None:
        if not isinstance(schema, Mapping):
            raise GenerationError(f"expected a JSON Schema object; got {type(schema).__name__}")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = exc.json_path if exc.path else "$"
            raise GenerationError(
                f"expected a valid JSON Schema; at {where}: {_one_line(exc.message)}"
            ) from None
        try:
            self._faker = Faker(locale)
        except AttributeError:
            raise GenerationError(f"unknown Faker locale {locale!r}") from None
        self.schema = dict(schema)
        self.locale = locale
        self.model: Any = None
        self._lock = threading.Lock()
        self._validator = jsonschema.Draft202012Validator(
            self.schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        self.generate(random.Random(0))  # fail at load, not on the first model call

    @classmethod
    def from_model(cls, model: str | type[Any], *, locale: str = "en_US") -> SchemaSource:
        """A source generating instances of a pydantic model (``"pkg.mod:Model"`` or the class)."""
        import pydantic

        from harness.importing import import_object

        resolved = import_object(model) if isinstance(model, str) else model
        if not (isinstance(resolved, type) and issubclass(resolved, pydantic.BaseModel)):
            raise GenerationError(f"expected a pydantic model class; got {resolved!r}")
        source = cls(resolved.model_json_schema(), locale=locale)
        source.model = resolved
        source.generate(random.Random(0))
        return source

    def completion(self, request: ModelRequest, rng: random.Random) -> Completion:
        """A clean completion whose text is a generated value."""
        return clean_completion(request, self.text(rng))

    def text(self, rng: random.Random) -> str:
        """A generated value as compact JSON text."""
        return json.dumps(self.generate(rng), ensure_ascii=False, separators=(",", ":"))

    def generate(self, rng: random.Random) -> Any:
        """A value that validates against the schema (and the model, if any)."""
        problem = "no attempt made"
        with self._lock:  # the Faker is reseeded per call: concurrent calls must not interleave
            for _ in range(_ATTEMPTS):
                self._faker.seed_instance(rng.getrandbits(64))
                try:
                    value = _Maker(self.schema, self._faker, rng).value(self.schema, "", 0)
                except GenerationError as exc:
                    problem = str(exc)
                    continue
                problem = self._problem(value) or ""
                if not problem:
                    return value
        raise GenerationError(f"cannot generate a conforming value: {problem}")

    def _problem(self, value: Any) -> str | None:
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is not None:
            return f"{error.json_path}: {_one_line(error.message)}"
        if self.model is not None:
            try:
                self.model.model_validate_json(json.dumps(value))
            except ValueError as exc:
                return _one_line(str(exc))
        return None

    def __repr__(self) -> str:
        title = self.schema.get("title", "schema")
        return f"SchemaSource({title!r})"


class _Maker:
    """One generation pass: walks the schema, drawing structure from ``rng`` and values from Faker."""

    def __init__(self, root: Mapping[str, Any], faker: Faker, rng: random.Random) -> None:
        self.root = root
        self.faker = faker
        self.rng = rng
        self.refs: list[str] = []

    def value(self, schema: Any, key: str, depth: int) -> Any:
        """A value for ``schema`` at property ``key`` (name hints) and nesting ``depth``."""
        if depth > _TOO_DEEP:
            raise GenerationError("schema recursion has no finite instance")
        if schema is False:
            raise GenerationError("schema 'false' admits no value")
        if schema is True or not schema:
            return self.string({}, key)
        ref = schema.get("$ref")
        if ref is not None:  # a schema met again inside itself is recursion: generate it shallow
            self.refs.append(ref)
            try:
                return self.shape(schema, key, depth + (_DEEP if self.refs.count(ref) > 1 else 0))
            finally:
                self.refs.pop()
        return self.shape(schema, key, depth)

    def shape(self, schema: Mapping[str, Any], key: str, depth: int) -> Any:
        """A value for a non-trivial schema: const, enum, union or one of the JSON types."""
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for word in ("anyOf", "oneOf"):
            if word in schema:
                return self.union(schema, word, key, depth)
        kind = self.kind(schema, depth)
        makers: dict[str, Callable[[], Any]] = {
            "null": lambda: None,
            "boolean": lambda: self.boolean(key),
            "integer": lambda: self.integer(schema, key),
            "number": lambda: self.number(schema, key),
            "string": lambda: self.string(schema, key),
            "array": lambda: self.array(schema, key, depth),
            "object": lambda: self.object(schema, depth),
        }
        if kind not in makers:
            raise GenerationError(f"unknown type {kind!r}")
        return makers[kind]()

    def resolve(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``schema`` with ``$ref`` followed and ``allOf`` merged in."""
        merged = dict(schema)
        for _ in range(_TOO_DEEP):
            ref = merged.pop("$ref", None)
            if ref is None:
                break
            merged = _merge(self.pointer(ref), merged)
        for part in merged.pop("allOf", []):
            merged = _merge(merged, self.resolve(part) if isinstance(part, Mapping) else {})
        return merged

    def pointer(self, ref: str) -> dict[str, Any]:
        """The local definition ``ref`` points to (``#/$defs/Name``)."""
        if not ref.startswith("#"):
            raise GenerationError(f"only local $ref are supported; got {ref!r}")
        node: Any = self.root
        for raw in filter(None, ref[1:].split("/")):
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, Mapping) else None
            if node is None:
                raise GenerationError(f"$ref {ref!r} points nowhere")
        if not isinstance(node, Mapping):
            raise GenerationError(f"$ref {ref!r} is not a schema")
        return dict(node)

    def union(self, schema: dict[str, Any], word: str, key: str, depth: int) -> Any:
        """One branch of ``anyOf``/``oneOf``, merged with its sibling keywords."""
        siblings = {k: v for k, v in schema.items() if k != word}
        branches = [self.resolve(b) if isinstance(b, Mapping) else b for b in schema[word]]
        nulls = [b for b in branches if isinstance(b, dict) and b.get("type") == "null"]
        others = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        if nulls and (not others or depth >= _DEEP or self.rng.random() < 0.15):
            return None
        order = self.rng.sample(others, len(others))
        last: GenerationError | None = None
        for branch in order:
            try:
                chosen = _merge(siblings, branch) if isinstance(branch, dict) else branch
                return self.value(chosen, key, depth)
            except GenerationError as exc:
                last = exc
        raise last or GenerationError(f"no {word} branch can be generated")

    def kind(self, schema: Mapping[str, Any], depth: int) -> str:
        """The JSON type to produce: declared, chosen from a list, or inferred from keywords."""
        declared = schema.get("type")
        if isinstance(declared, str):
            return declared
        if isinstance(declared, list) and declared:
            concrete = [t for t in declared if t != "null"]
            if not concrete or ("null" in declared and (depth >= _DEEP or self.rng.random() < 0.15)):
                return "null"
            return str(self.rng.choice(concrete))
        if {"properties", "required", "additionalProperties"} & schema.keys():
            return "object"
        if {"items", "prefixItems", "minItems", "maxItems"} & schema.keys():
            return "array"
        if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"} & schema.keys():
            return "number"
        return "string"

    def boolean(self, key: str) -> bool:
        """Mostly true for flags like ``is_active`` / ``enabled``, a coin toss otherwise."""
        likely = snake(key).removeprefix("is_") in {"active", "enabled", "verified", "valid", "available"}
        return self.rng.random() < (0.8 if likely else 0.5)

    def integer(self, schema: Mapping[str, Any], key: str) -> int:
        """An integer inside the schema's bounds, realistic for the field name."""
        lo, hi = _bounds(schema, integral=True)
        hint = _hint(_INT_HINTS, key) or (0, 1000)
        lo, hi = _fit(lo, hi, hint[0], hint[1])
        step = schema.get("multipleOf")
        if step is None:
            return self.rng.randint(int(lo), int(hi))
        fraction = Fraction(str(step))
        if fraction.denominator != 1:
            raise GenerationError(f"integer multipleOf {step} is not supported")
        k_lo, k_hi = math.ceil(lo / fraction), math.floor(hi / fraction)
        if k_lo > k_hi:
            raise GenerationError(f"no multiple of {step} between {lo} and {hi}")
        return int(self.rng.randint(k_lo, k_hi) * fraction)

    def number(self, schema: Mapping[str, Any], key: str) -> float:
        """A float inside the schema's bounds, with a field-appropriate number of decimals."""
        lo, hi = _bounds(schema, integral=False)
        low, high, decimals = _hint(_FLOAT_HINTS, key) or (0.0, 1000.0, 2)
        lo, hi = _fit(lo, hi, low, high)
        step = schema.get("multipleOf")
        if step is not None:
            return self.multiple(float(step), lo, hi)
        raw = self.rng.uniform(lo, hi)
        for candidate in (round(raw, decimals), raw, (lo + hi) / 2):
            if _inside(candidate, schema):
                return candidate
        raise GenerationError(f"no number inside the bounds of {key or 'value'}")

    def multiple(self, step: float, lo: float, hi: float) -> float:
        """A multiple of ``step`` in [lo, hi] that survives jsonschema's float division check."""
        k_lo, k_hi = math.ceil(lo / step), math.floor(hi / step)
        for _ in range(20):
            if k_lo > k_hi:
                break
            value = float(Fraction(str(step)) * self.rng.randint(k_lo, k_hi))
            quotient = value / step
            if lo <= value <= hi and int(quotient) == quotient:
                return value
        raise GenerationError(f"no multiple of {step} between {lo} and {hi}")

    def string(self, schema: Mapping[str, Any], key: str) -> str:
        """A string by format, then by field name, fitted to length and pattern."""
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if high is not None and low > high:
            raise GenerationError(f"minLength {low} is above maxLength {high}")
        pattern = schema.get("pattern")
        formatted = self.formatted(schema.get("format"))
        for attempt in range(_ATTEMPTS * 3 if pattern else _ATTEMPTS):
            if pattern is not None and attempt >= 2:
                # repeats shrink as attempts go by, down to the shortest match
                slack = max(0, _REPEAT_SLACK - attempt // 3)
                candidate = _RegexSampler(self.rng, slack).sample(pattern)
            elif formatted is not None:
                candidate = formatted if attempt == 0 else self.formatted(schema.get("format")) or ""
            else:
                candidate = self.fit(self.named(key) or self.faker.word(), low, high)
            if low <= len(candidate) <= (high if high is not None else math.inf) and (
                pattern is None or re.search(pattern, candidate)
            ):
                return candidate
        shape = f"length {low}..{'' if high is None else high}" + (
            f" matching {pattern!r}" if pattern else ""
        )
        raise GenerationError(f"cannot produce a string for {key or 'a value'} with {shape}")

    def fit(self, text: str, low: int, high: int | None) -> str:
        """Pad with words up to ``low`` characters, cut down to ``high``."""
        while len(text) < low:
            text = f"{text} {self.faker.word()}" if text else self.faker.word()
        return text[:high] if high is not None else text

    def formatted(self, fmt: str | None) -> str | None:
        """A value for a JSON Schema ``format`` (None for formats without a generator)."""
        make = _FORMATS.get(fmt or "")
        return make(self) if make else None

    def named(self, key: str) -> str | None:
        """A realistic string for a field called ``key``, or None when the name says nothing."""
        make = _string_rule(key)
        return make(self) if make else None

    def title(self) -> str:
        """A short title-like phrase."""
        return str(self.faker.sentence(4)).rstrip(".")

    def duration(self) -> str:
        """An ISO 8601 duration (``P3DT4H12M``)."""
        return f"P{self.rng.randint(0, 30)}DT{self.rng.randint(0, 23)}H{self.rng.randint(0, 59)}M"

    def datetime(self) -> str:
        """An RFC 3339 UTC timestamp inside a fixed window (never relative to today)."""
        moment = _EPOCH + timedelta(seconds=self.rng.randrange(_WINDOW))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def date(self) -> str:
        """An ISO date inside a fixed window."""
        return (date(2018, 1, 1) + timedelta(days=self.rng.randrange(_WINDOW // 86400))).isoformat()

    def array(self, schema: Mapping[str, Any], key: str, depth: int) -> list[Any]:
        """A list honouring prefixItems, items, min/maxItems, uniqueItems and contains."""
        prefix = list(schema.get("prefixItems", []))
        items = schema.get("items", True)
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        cap = low + 3 if high is None else min(int(high), low + 3)
        if items is False:
            cap = min(cap, len(prefix))
        target = low if depth >= _DEEP else self.rng.randint(max(low, min(1, cap)), max(low, cap))
        target = max(target, min(len(prefix), cap))
        item_key = singular(snake(key))
        out: list[Any] = [self.value(s, item_key, depth + 1) for s in prefix[:target]]
        seen = {_canonical(v) for v in out}
        draws = 0
        while len(out) < target and draws < 20 * (target + 1):
            draws += 1
            item = self.value(items, item_key, depth + 1)
            if schema.get("uniqueItems") and _canonical(item) in seen:
                continue
            seen.add(_canonical(item))
            out.append(item)
        if len(out) < low:
            raise GenerationError(f"cannot draw {low} distinct items for {key or 'array'}")
        if "contains" in schema and out and len(out) > len(prefix):
            out[-1] = self.value(schema["contains"], item_key, depth + 1)
        elif "contains" in schema:
            out.append(self.value(schema["contains"], item_key, depth + 1))
        return out

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        """An object with every required property and most optional ones (fewer when deep)."""
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        extra = schema.get("additionalProperties", True)
        low, high = int(schema.get("minProperties", 0)), schema.get("maxProperties")
        chosen = set(required)
        room = math.inf if high is None else high - len(chosen)
        for name in properties:
            if name not in chosen and room > 0 and depth < _DEEP and self.rng.random() < 0.8:
                chosen.add(name)
                room -= 1
        for name in properties:
            if len(chosen) >= low:
                break
            chosen.add(name)
        out = {name: self.value(extra, name, depth + 1) for name in required if name not in properties}
        out.update(
            {name: self.value(sub, name, depth + 1) for name, sub in properties.items() if name in chosen}
        )
        wanted = low
        if not properties and extra is not False and depth < _DEEP:  # a map: a few entries
            wanted = max(low, min(self.rng.randint(1, 3), high if high is not None else 3))
        while len(out) < wanted:
            if extra is False:
                raise GenerationError(f"minProperties {low} needs more properties than the schema allows")
            word = self.faker.word()
            out[word if word not in out else f"{word}_{len(out)}"] = self.value(extra, word, depth + 1)
        return out


class _RegexSampler:
    """Draws a string matching a regex, walking the stdlib's parse of it (short repeats, ASCII)."""

    def __init__(self, rng: random.Random, slack: int = _REPEAT_SLACK) -> None:
        self.rng = rng
        self.slack = slack
        self.groups: dict[int, str] = {}

    def sample(self, pattern: str) -> str:
        """A candidate match of ``pattern``; lookarounds are not enforced (callers re-check)."""
        try:
            parsed = _re_parser.parse(pattern)
        except re.error as exc:
            raise GenerationError(f"invalid pattern {pattern!r}: {exc}") from None
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
        raise GenerationError(f"unsupported regex construct {op}")

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
            raise GenerationError("empty character class in pattern")
        return "".join(chars)


_Rule = Callable[["_Maker"], str]


def _fake(method: str, *args: Any) -> _Rule:
    return lambda maker: str(getattr(maker.faker, method)(*args))


_FORMATS: dict[str, _Rule] = {
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
    "json-pointer": lambda m: "/" + "/".join(m.faker.words(2)),
    "uri-template": lambda m: f"{m.faker.url()}{{id}}",
    "base64": lambda m: str(m.faker.sha1())[:16],
}

_STRING_RULES: tuple[tuple[str, frozenset[str], _Rule], ...] = (
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
        lambda m: m.faker.sentence(4).rstrip("."),
    ),
    ("token", frozenset({"currency"}), _fake("currency_code")),
    ("token", frozenset({"color", "colour"}), _fake("color_name")),
    ("token", frozenset({"language", "lang"}), _fake("language_name")),
    ("token", frozenset({"job", "occupation", "profession", "role"}), _fake("job")),
    ("token", frozenset({"slug"}), _fake("slug")),
    ("token", frozenset({"sku", "code"}), lambda m: m.faker.bothify("???-####").upper()),
    ("token", frozenset({"password", "secret"}), _fake("password")),
    ("token", frozenset({"token", "hash", "checksum"}), _fake("sha1")),
    ("token", frozenset({"filename", "file"}), _fake("file_name")),
    ("token", frozenset({"path"}), _fake("file_path")),
)


@functools.lru_cache(maxsize=1024)
def _string_rule(key: str) -> _Rule | None:
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


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Combine two schemas that both apply (``allOf``, ``$ref`` siblings, a union branch)."""
    merged = dict(base)
    for key, value in extra.items():
        if key not in merged:
            merged[key] = value
        elif key == "properties":
            merged[key] = {**merged[key], **value}
        elif key == "required":
            merged[key] = sorted(set(merged[key]) | set(value))
        elif key in {"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"}:
            merged[key] = max(merged[key], value)
        elif key in {"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"}:
            merged[key] = min(merged[key], value)
        else:
            merged[key] = value
    return merged


def _bounds(schema: Mapping[str, Any], *, integral: bool) -> tuple[float | None, float | None]:
    """Inclusive (lo, hi) from minimum/maximum/exclusive*; exclusive ones nudged inward for integers."""
    lo: float | None = schema.get("minimum")
    hi: float | None = schema.get("maximum")
    ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if integral:
        lo = None if lo is None else math.ceil(lo)
        hi = None if hi is None else math.floor(hi)
        if isinstance(ex_lo, int | float) and not isinstance(ex_lo, bool):
            lo = max(lo, math.floor(ex_lo) + 1) if lo is not None else math.floor(ex_lo) + 1
        if isinstance(ex_hi, int | float) and not isinstance(ex_hi, bool):
            hi = min(hi, math.ceil(ex_hi) - 1) if hi is not None else math.ceil(ex_hi) - 1
    else:
        if isinstance(ex_lo, int | float) and not isinstance(ex_lo, bool):
            lo = max(lo, ex_lo) if lo is not None else ex_lo
        if isinstance(ex_hi, int | float) and not isinstance(ex_hi, bool):
            hi = min(hi, ex_hi) if hi is not None else ex_hi
    if lo is not None and hi is not None and lo > hi:
        raise GenerationError(f"minimum {lo} is above maximum {hi}")
    return lo, hi


def _fit(lo: float | None, hi: float | None, low: float, high: float) -> tuple[float, float]:
    """The hinted range [low, high] cut to the schema's bounds, or the bounds when they miss it."""
    width = high - low
    start = low if lo is None else max(lo, low)
    end = high if hi is None else min(hi, high)
    if start <= end:
        return start, end
    if lo is not None and hi is not None:
        return lo, hi
    if lo is not None:
        return lo, lo + width
    assert hi is not None  # start > end needs at least one bound
    return hi - width, hi


def _inside(value: float, schema: Mapping[str, Any]) -> bool:
    checks = (
        ("minimum", lambda b: value >= b),
        ("maximum", lambda b: value <= b),
        ("exclusiveMinimum", lambda b: value > b),
        ("exclusiveMaximum", lambda b: value < b),
    )
    return all(fn(schema[k]) for k, fn in checks if isinstance(schema.get(k), int | float))


@functools.lru_cache(maxsize=1024)
def _hint(table: tuple[tuple[frozenset[str], Any], ...], key: str) -> Any:
    tokens = set(snake(key).split("_"))
    return next((found for words, found in table if words & tokens), None)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:197] + "..."
