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

The name and format hints are in :mod:`~harness.sources.fieldnames`, the ``pattern``
sampler in :mod:`~harness.sources.patterns`; this module walks the schema.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import jsonschema
from faker import Faker

from harness.sources.fieldnames import (
    by_format,
    by_name,
    float_range,
    int_range,
    likely_true,
    singular,
    snake,
)
from harness.sources.inline import clean_completion
from harness.sources.patterns import REPEAT_SLACK, PatternError, RegexSampler
from harness.validation import one_line
from harness.wire import Completion, ModelRequest

_DEEP = 6
"""Past this nesting depth, optional parts are left out so recursive schemas end."""
_TOO_DEEP = 40
_ATTEMPTS = 8
_EPOCH = datetime(2018, 1, 1, tzinfo=UTC)
_WINDOW = int(timedelta(days=8 * 365).total_seconds())
_MAX_PROBLEM = 200
"""Longest problem text quoted from jsonschema or pydantic."""


class GenerationError(ValueError):
    """The schema admits no value this generator can produce (or none at all)."""


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
                f"expected a valid JSON Schema; at {where}: {one_line(exc.message, _MAX_PROBLEM)}"
            ) from None
        try:
            # Unweighted draws: Faker otherwise rebuilds its frequency tables on every name()
            # and email() call, which made generation most of the harness's per-call cost.
            # One locale: call its generator directly, skipping the proxy's per-attribute lookup.
            self._faker: Any = Faker(locale, use_weighting=False).factories[0]
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
        # A model's own validation is the stricter check and ten times cheaper than jsonschema.
        if self.model is not None:
            try:
                self.model.model_validate_json(json.dumps(value))
            except ValueError as exc:
                return one_line(str(exc), _MAX_PROBLEM)
            return None
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is not None:
            return f"{error.json_path}: {one_line(error.message, _MAX_PROBLEM)}"
        return None

    def __repr__(self) -> str:
        title = self.schema.get("title", "schema")
        return f"SchemaSource({title!r})"


class _Maker:
    """One generation pass: walks the schema, drawing structure from ``rng`` and values from Faker."""

    def __init__(self, root: Mapping[str, Any], faker: Any, rng: random.Random) -> None:
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
        if kind == "string":
            return self.string(schema, key)
        if kind == "integer":
            return self.integer(schema, key)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "boolean":
            return self.boolean(key)
        if kind == "number":
            return self.number(schema, key)
        if kind == "array":
            return self.array(schema, key, depth)
        if kind == "null":
            return None
        raise GenerationError(f"unknown type {kind!r}")

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
        return self.rng.random() < (0.8 if likely_true(key) else 0.5)

    def integer(self, schema: Mapping[str, Any], key: str) -> int:
        """An integer inside the schema's bounds, realistic for the field name."""
        lo, hi = _bounds(schema, integral=True)
        hint = int_range(key) or (0, 1000)
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
        low, high, decimals = float_range(key) or (0.0, 1000.0, 2)
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
                slack = max(0, REPEAT_SLACK - attempt // 3)
                candidate = self.matching(pattern, slack)
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

    def matching(self, pattern: str, slack: int) -> str:
        """A candidate match of ``pattern`` with repeats at most ``slack`` over their minimum."""
        try:
            return RegexSampler(self.rng, slack).sample(pattern)
        except PatternError as exc:
            raise GenerationError(str(exc)) from None

    def fit(self, text: str, low: int, high: int | None) -> str:
        """Pad with words up to ``low`` characters, cut down to ``high``."""
        while len(text) < low:
            text = f"{text} {self.faker.word()}" if text else self.faker.word()
        return text[:high] if high is not None else text

    def formatted(self, fmt: str | None) -> str | None:
        """A value for a JSON Schema ``format`` (None for formats without a generator)."""
        make = by_format(fmt)
        return make(self) if make else None

    def named(self, key: str) -> str | None:
        """A realistic string for a field called ``key``, or None when the name says nothing."""
        make = by_name(key)
        return make(self) if make else None

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


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
