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
sampler in :mod:`~harness.sources.patterns`, Faker's values in
:mod:`~harness.sources.fakedata`; this module walks the schema. Everything that does not
depend on the seed — ``$ref`` and ``allOf`` resolved, bounds fitted to the field's hints,
the rule for each string field, patterns compiled — is worked out once per schema node
(a :class:`_Plan`), so a model call only draws. Every draw, Faker's included, comes from
the one rng handed to :meth:`SchemaSource.text`.
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

from harness.jsontext import compact_json
from harness.seeding import below, between
from harness.sources.fakedata import LocaleFaker
from harness.sources.fieldnames import (
    FakerRule,
    Rule,
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
_FIRST_DAY = _EPOCH.date().toordinal()
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
            # Unweighted draws for what Faker itself draws: its weighted helpers rebuild their
            # tables on every call. The common values are drawn by LocaleFaker, weighted.
            generator: Any = Faker(locale, use_weighting=False).factories[0]
        except AttributeError:
            raise GenerationError(f"unknown Faker locale {locale!r}") from None
        self.schema = dict(schema)
        self.locale = locale
        self.model: Any = None
        self._faker = LocaleFaker(generator)
        self._plans = _Plans()
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
        return self._draw(rng)[1]

    def generate(self, rng: random.Random) -> Any:
        """A value that validates against the schema (and the model, if any)."""
        return self._draw(rng)[0]

    def _draw(self, rng: random.Random) -> tuple[Any, str]:
        """A conforming value and its compact JSON text (drawn again, up to a few times, if it fails)."""
        problem = "no attempt made"
        with self._lock:  # Faker's own methods draw from the rng they are handed: no interleaving
            for _ in range(_ATTEMPTS):
                try:
                    value = _Maker(self.schema, self._plans, self._faker, rng).value(self.schema, "", 0)
                except GenerationError as exc:
                    problem = str(exc)
                    continue
                text = compact_json(value)
                problem = self._problem(value, text) or ""
                if not problem:
                    return value, text
        raise GenerationError(f"cannot generate a conforming value: {problem}")

    def _problem(self, value: Any, text: str) -> str | None:
        # A model's own validation is the stricter check and ten times cheaper than jsonschema.
        if self.model is not None:
            try:
                self.model.model_validate_json(text)
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


_EMPTY: Mapping[str, Any] = {}
"""The schema of a value with no constraints (``true`` or ``{}``): a string."""


class _Plans:
    """Seed-independent work, done once per schema node: each node's :class:`_Plan`, keyed by node and field.

    Keys are ``id(node)``, and each entry keeps its node alive, so an id is never reused
    while the entry exists. Every node drawn from is part of the source's schema or of a
    plan (resolved ``$ref``/``allOf`` merges, union branches), so the table stays bounded.
    """

    def __init__(self) -> None:
        self._table: dict[tuple[int, str], tuple[Any, _Plan]] = {}

    def get(self, schema: Any, key: str, maker: _Maker) -> _Plan:
        """The plan for ``schema`` at field ``key``, built on first use."""
        found = self._table.get((id(schema), key))
        if found is not None:
            return found[1]
        plan = _plan_for(schema, key, maker)
        self._table[(id(schema), key)] = (schema, plan)
        return plan


class _Plan:
    """How to draw a value for one schema node at one field name; building it draws nothing."""

    def draw(self, maker: _Maker, depth: int) -> Any:
        """A value drawn with ``maker``'s rng at nesting ``depth``."""
        raise NotImplementedError


def _plan_for(schema: Any, key: str, maker: _Maker) -> _Plan:
    """Build the plan of ``schema`` (raises GenerationError where drawing it would fail before any draw)."""
    if schema is False:
        raise GenerationError("schema 'false' admits no value")
    if schema is True or not schema:
        return _StringPlan(_EMPTY, key, maker.faker)
    ref = schema.get("$ref")
    shape = _shape_plan(maker.resolve(schema), key, maker.faker)
    return _RefPlan(ref, shape) if ref is not None else shape


def _shape_plan(schema: dict[str, Any], key: str, faker: LocaleFaker) -> _Plan:
    """The plan of a resolved schema: const, enum, union or one of the JSON types."""
    if "const" in schema:
        return _ConstPlan(schema["const"])
    if "enum" in schema:
        return _EnumPlan(schema["enum"])
    for word in ("anyOf", "oneOf"):
        if word in schema:
            return _UnionPlan(schema, word, key)
    declared = schema.get("type")
    if isinstance(declared, list) and declared:
        return _TypesPlan(schema, key, declared, faker)
    kind = declared if isinstance(declared, str) else _inferred_kind(schema)
    return _typed_plan(schema, key, kind, faker)


def _typed_plan(schema: dict[str, Any], key: str, kind: str, faker: LocaleFaker) -> _Plan:
    if kind == "string":
        return _StringPlan(schema, key, faker)
    if kind == "integer":
        return _IntegerPlan(schema, key)
    if kind == "object":
        return _ObjectPlan(schema)
    if kind == "boolean":
        return _BooleanPlan(0.8 if likely_true(key) else 0.5)
    if kind == "number":
        return _NumberPlan(schema, key)
    if kind == "array":
        return _ArrayPlan(schema, key)
    if kind == "null":
        return _ConstPlan(None)
    raise GenerationError(f"unknown type {kind!r}")


def _inferred_kind(schema: Mapping[str, Any]) -> str:
    """The JSON type a schema without ``type`` implies by its keywords."""
    if {"properties", "required", "additionalProperties"} & schema.keys():
        return "object"
    if {"items", "prefixItems", "minItems", "maxItems"} & schema.keys():
        return "array"
    if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"} & schema.keys():
        return "number"
    return "string"


class _RefPlan(_Plan):
    """A ``$ref`` node: a schema met again inside itself is recursion, so it is drawn shallow."""

    def __init__(self, ref: str, shape: _Plan) -> None:
        self.ref = ref
        self.shape = shape

    def draw(self, maker: _Maker, depth: int) -> Any:
        """The referenced value, at a depth that ends recursion."""
        refs = maker.refs
        refs.append(self.ref)
        try:
            return self.shape.draw(maker, depth + (_DEEP if refs.count(self.ref) > 1 else 0))
        finally:
            refs.pop()


class _ConstPlan(_Plan):
    def __init__(self, value: Any) -> None:
        self.value = value

    def draw(self, maker: _Maker, depth: int) -> Any:
        """The constant."""
        return self.value


class _EnumPlan(_Plan):
    def __init__(self, values: Any) -> None:
        self.values = values

    def draw(self, maker: _Maker, depth: int) -> Any:
        """One of the values."""
        return self.values[below(maker.rng, len(self.values))]


class _BooleanPlan(_Plan):
    def __init__(self, chance: float) -> None:
        self.chance = chance

    def draw(self, maker: _Maker, depth: int) -> Any:
        """Mostly true for flags like ``is_active`` / ``enabled``, a coin toss otherwise."""
        return maker.rng.random() < self.chance


class _TypesPlan(_Plan):
    """A list of types: one drawn (null now and then, always when deep), then its plan."""

    def __init__(self, schema: dict[str, Any], key: str, declared: list[Any], faker: LocaleFaker) -> None:
        self.schema = schema
        self.faker = faker
        self.key = key
        self.concrete = [t for t in declared if t != "null"]
        self.nullable = "null" in declared
        self.plans: dict[str, _Plan] = {}

    def draw(self, maker: _Maker, depth: int) -> Any:
        """A value of one of the types."""
        rng = maker.rng
        if not self.concrete or (self.nullable and (depth >= _DEEP or rng.random() < 0.15)):
            return None
        kind = str(rng.choice(self.concrete))
        plan = self.plans.get(kind)
        if plan is None:
            plan = self.plans[kind] = _typed_plan(self.schema, self.key, kind, self.faker)
        return plan.draw(maker, depth)


class _UnionPlan(_Plan):
    """``anyOf``/``oneOf``: null now and then if a branch allows it, else the branches in a drawn order."""

    def __init__(self, schema: dict[str, Any], word: str, key: str) -> None:
        self.word = word
        self.key = key
        self.siblings = {k: v for k, v in schema.items() if k != word}
        self.branches = schema[word]
        self.resolved: list[Any] | None = None
        self.merged: dict[int, Any] = {}

    def draw(self, maker: _Maker, depth: int) -> Any:
        """A value of the first branch, in a drawn order, that can be generated."""
        if self.resolved is None:
            self.resolved = [maker.resolve(b) if isinstance(b, Mapping) else b for b in self.branches]
        is_null = [isinstance(b, dict) and b.get("type") == "null" for b in self.resolved]
        others = [b for b, null in zip(self.resolved, is_null, strict=True) if not null]
        rng = maker.rng
        if any(is_null) and (not others or depth >= _DEEP or rng.random() < 0.15):
            return None
        last: GenerationError | None = None
        for index in rng.sample(range(len(others)), len(others)):
            try:
                return maker.value(self._chosen(index, others[index]), self.key, depth)
            except GenerationError as exc:
                last = exc
        raise last or GenerationError(f"no {self.word} branch can be generated")

    def _chosen(self, index: int, branch: Any) -> Any:
        """Branch ``index`` merged with the union's sibling keywords (kept, so its plan is reused)."""
        found = self.merged.get(index)
        if found is None:
            found = self.merged[index] = _merge(self.siblings, branch) if isinstance(branch, dict) else branch
        return found


class _IntegerPlan(_Plan):
    """An integer inside the schema's bounds, realistic for the field name."""

    def __init__(self, schema: Mapping[str, Any], key: str) -> None:
        lo, hi = _bounds(schema, integral=True)
        hint = int_range(key) or (0, 1000)
        lo, hi = _fit(lo, hi, hint[0], hint[1])
        self.low, self.high, self.step = int(lo), int(hi), Fraction(1)
        step = schema.get("multipleOf")
        if step is not None:
            self.step = Fraction(str(step))
            if self.step.denominator != 1:
                raise GenerationError(f"integer multipleOf {step} is not supported")
            self.low, self.high = math.ceil(lo / self.step), math.floor(hi / self.step)
            if self.low > self.high:
                raise GenerationError(f"no multiple of {step} between {lo} and {hi}")

    def draw(self, maker: _Maker, depth: int) -> Any:
        """An integer (a multiple of ``multipleOf`` when set)."""
        drawn = between(maker.rng, self.low, self.high)
        return drawn if self.step == 1 else int(drawn * self.step)


class _NumberPlan(_Plan):
    """A float inside the schema's bounds, with a field-appropriate number of decimals."""

    def __init__(self, schema: Mapping[str, Any], key: str) -> None:
        lo, hi = _bounds(schema, integral=False)
        low, high, self.decimals = float_range(key) or (0.0, 1000.0, 2)
        self.low, self.high = _fit(lo, hi, low, high)
        self.schema = schema
        self.key = key
        step = schema.get("multipleOf")
        self.step = None if step is None else float(step)

    def draw(self, maker: _Maker, depth: int) -> Any:
        """A float (a multiple of ``multipleOf`` when set)."""
        lo, hi = self.low, self.high
        if self.step is not None:
            return maker.multiple(self.step, lo, hi)
        raw = maker.rng.uniform(lo, hi)
        for candidate in (round(raw, self.decimals), raw, (lo + hi) / 2):
            if _inside(candidate, self.schema):
                return candidate
        raise GenerationError(f"no number inside the bounds of {self.key or 'value'}")


class _StringPlan(_Plan):
    """A string by format, then by field name, fitted to length and pattern."""

    def __init__(self, schema: Mapping[str, Any], key: str, faker: LocaleFaker) -> None:
        self.key = key
        self.low = int(schema.get("minLength", 0))
        self.high: int | None = schema.get("maxLength")
        if self.high is not None and self.low > self.high:
            raise GenerationError(f"minLength {self.low} is above maxLength {self.high}")
        self.pattern: str | None = schema.get("pattern")
        self.matcher = re.compile(self.pattern) if self.pattern is not None else None
        self.by_format = _bind(by_format(schema.get("format")), faker)
        self.by_name = _bind(by_name(key), faker)
        self.word = faker.draw_for("word")
        self.attempts = _ATTEMPTS * 3 if self.pattern else _ATTEMPTS

    def draw(self, maker: _Maker, depth: int) -> Any:
        """A string that fits, or GenerationError after a few attempts."""
        low, high, pattern, matcher, by_format = (
            self.low,
            self.high,
            self.pattern,
            self.matcher,
            self.by_format,
        )
        formatted = by_format(maker) if by_format is not None else None
        for attempt in range(self.attempts):
            if pattern is not None and attempt >= 2:
                # repeats shrink as attempts go by, down to the shortest match
                candidate = maker.matching(pattern, max(0, REPEAT_SLACK - attempt // 3))
            elif formatted is not None:
                candidate = formatted if attempt == 0 or by_format is None else by_format(maker) or ""
            else:
                named = self.by_name(maker) if self.by_name is not None else None
                candidate = maker.fit(named or self.word(maker.rng), low, high)
            fits = low <= len(candidate) and (high is None or len(candidate) <= high)
            if fits and (matcher is None or matcher.search(candidate)):
                return candidate
        shape = f"length {low}..{'' if high is None else high}" + (
            f" matching {pattern!r}" if pattern else ""
        )
        raise GenerationError(f"cannot produce a string for {self.key or 'a value'} with {shape}")


def _bind(rule: Rule | None, faker: LocaleFaker) -> Rule | None:
    """``rule``, with a plain Faker method looked up once instead of on every draw."""
    if isinstance(rule, FakerRule) and not rule.args:
        draw = faker.draw_for(rule.method)
        return lambda maker: draw(maker.rng)  # type: ignore[attr-defined]  # the generator's drawer has one
    return rule


class _ArrayPlan(_Plan):
    """A list honouring prefixItems, items, min/maxItems, uniqueItems and contains."""

    def __init__(self, schema: Mapping[str, Any], key: str) -> None:
        self.key = key
        self.prefix = list(schema.get("prefixItems", []))
        self.items = schema.get("items", True)
        self.low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        self.cap = self.low + 3 if high is None else min(int(high), self.low + 3)
        if self.items is False:
            self.cap = min(self.cap, len(self.prefix))
        self.unique = bool(schema.get("uniqueItems"))
        self.has_contains = "contains" in schema
        self.contains = schema.get("contains")
        self.item_key = singular(snake(key))

    def draw(self, maker: _Maker, depth: int) -> Any:
        """A list of drawn items."""
        low, cap, item_key = self.low, self.cap, self.item_key
        target = low if depth >= _DEEP else maker.rng.randint(max(low, min(1, cap)), max(low, cap))
        target = max(target, min(len(self.prefix), cap))
        out: list[Any] = [maker.value(s, item_key, depth + 1) for s in self.prefix[:target]]
        seen = {_canonical(v) for v in out}
        draws = 0
        while len(out) < target and draws < 20 * (target + 1):
            draws += 1
            item = maker.value(self.items, item_key, depth + 1)
            if self.unique and _canonical(item) in seen:
                continue
            seen.add(_canonical(item))
            out.append(item)
        if len(out) < low:
            raise GenerationError(f"cannot draw {low} distinct items for {self.key or 'array'}")
        if self.has_contains and out and len(out) > len(self.prefix):
            out[-1] = maker.value(self.contains, item_key, depth + 1)
        elif self.has_contains:
            out.append(maker.value(self.contains, item_key, depth + 1))
        return out


class _ObjectPlan(_Plan):
    """An object with every required property and most optional ones (fewer when deep)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.properties: Mapping[str, Any] = schema.get("properties", {})
        self.required = list(schema.get("required", []))
        self.optional = [name for name in self.properties if name not in set(self.required)]
        self.undeclared = [name for name in self.required if name not in self.properties]
        self.extra = schema.get("additionalProperties", True)
        self.low: int = int(schema.get("minProperties", 0))
        self.high: int | None = schema.get("maxProperties")
        self.fixed = not self.optional and not self.undeclared and len(self.properties) >= self.low
        """Every property is required and declared: the object's shape never varies."""
        self.children: list[tuple[str, _Plan]] | None = None
        """Each property's plan, in order, when :attr:`fixed` (looked up on the first draw)."""

    def draw(self, maker: _Maker, depth: int) -> Any:
        """An object of drawn properties."""
        if not self.fixed or not self.properties:
            return self._draw_chosen(maker, depth)
        # The common case (a pydantic model without optional fields), without the choosing:
        # the same draws, in the same order, as the general path.
        if depth >= _TOO_DEEP:
            raise GenerationError("schema recursion has no finite instance")
        children = self.children
        if children is None:
            children = self.children = [
                (name, maker.plans.get(sub, name, maker)) for name, sub in self.properties.items()
            ]
        return {name: plan.draw(maker, depth + 1) for name, plan in children}

    def _draw_chosen(self, maker: _Maker, depth: int) -> Any:
        """Choose the optional properties, then draw every chosen one."""
        rng, properties, low, high, extra = maker.rng, self.properties, self.low, self.high, self.extra
        chosen = set(self.required)
        room = math.inf if high is None else high - len(chosen)
        if depth < _DEEP:
            for name in self.optional:
                if room <= 0:
                    break
                if rng.random() < 0.8:
                    chosen.add(name)
                    room -= 1
        for name in properties:
            if len(chosen) >= low:
                break
            chosen.add(name)
        out = {name: maker.value(extra, name, depth + 1) for name in self.undeclared}
        out.update(
            {name: maker.value(sub, name, depth + 1) for name, sub in properties.items() if name in chosen}
        )
        wanted = low
        if not properties and extra is not False and depth < _DEEP:  # a map: a few entries
            wanted = max(low, min(rng.randint(1, 3), high if high is not None else 3))
        while len(out) < wanted:
            if extra is False:
                raise GenerationError(f"minProperties {low} needs more properties than the schema allows")
            word = maker.fake("word")
            out[word if word not in out else f"{word}_{len(out)}"] = maker.value(extra, word, depth + 1)
        return out


class _Maker:
    """One generation pass: draws structure from ``rng`` and values from Faker's data, following the plans."""

    def __init__(
        self, root: Mapping[str, Any], plans: _Plans, faker: LocaleFaker, rng: random.Random
    ) -> None:
        self.root = root
        self.plans = plans
        self.faker = faker
        self.rng = rng
        self.refs: list[str] = []

    def value(self, schema: Any, key: str, depth: int) -> Any:
        """A value for ``schema`` at property ``key`` (name hints) and nesting ``depth``."""
        if depth > _TOO_DEEP:
            raise GenerationError("schema recursion has no finite instance")
        return self.plans.get(schema, key, self).draw(self, depth)

    def fake(self, method: str, *args: Any) -> str:
        """Faker's ``method(*args)`` drawn with this pass's rng."""
        return self.faker.draw(method, self.rng, *args)

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

    def matching(self, pattern: str, slack: int) -> str:
        """A candidate match of ``pattern`` with repeats at most ``slack`` over their minimum."""
        try:
            return RegexSampler(self.rng, slack).sample(pattern)
        except PatternError as exc:
            raise GenerationError(str(exc)) from None

    def fit(self, text: str, low: int, high: int | None) -> str:
        """Pad with words up to ``low`` characters, cut down to ``high``."""
        while len(text) < low:
            text = f"{text} {self.fake('word')}" if text else self.fake("word")
        return text[:high] if high is not None else text

    def duration(self) -> str:
        """An ISO 8601 duration (``P3DT4H12M``)."""
        return f"P{self.rng.randint(0, 30)}DT{self.rng.randint(0, 23)}H{self.rng.randint(0, 59)}M"

    def datetime(self) -> str:
        """An RFC 3339 UTC timestamp inside a fixed window (never relative to today)."""
        moment = _EPOCH + timedelta(seconds=below(self.rng, _WINDOW))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def date(self) -> str:
        """An ISO date inside a fixed window."""
        return date.fromordinal(_FIRST_DAY + below(self.rng, _WINDOW // 86400)).isoformat()


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
