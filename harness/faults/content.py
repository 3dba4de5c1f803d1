"""Content faults on the JSON structure: the model gets keys, types, fields or the JSON syntax wrong.

Each fault transforms a :class:`~harness.wire.Completion` into a new one. ``text`` is the
message content or, when ``tool_name`` is set, the forced tool call's arguments (a JSON
string); every fault works on both. Faults that edit JSON find the value inside the text
(bare, or inside prose or a fence), edit a fresh copy, and write it back in the original
layout; when the text holds no JSON they return the completion unchanged. Faults on the
text as a whole (prose, fences, truncation, size, refusals) are in
:mod:`~harness.faults.content_text`.

Field selectors (``field``, ``fields``, ``keys``, ``mapping`` keys) are a bare key name,
matching that key at any depth, or a dotted path from the root (``address.zip``); list
indices are not part of paths, so ``items.price`` is the price of every item.

In a chain, order matters: structural edits (rename_keys, type_drift, drop_field, …) still
find JSON wrapped in prose or fences, but not after truncate or json5_isms.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

from pydantic import Field, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from harness.faults._json_edit import (
    Found,
    find_json,
    json5_dumps,
    objects,
    rebuild_keys,
    schema_fields,
    selected,
    selects,
    slots,
    top_objects,
)
from harness.faults._rewrite import edit_json, retext
from harness.faults.base import FaultContext, Layer, Params, fault
from harness.wire import Completion

KeyStyle = Literal["PascalCase", "camelCase", "kebab-case", "UPPER", "snake_case"]
Drifted = StrictStr | StrictInt | StrictFloat


# --- rename_keys --------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def recase(key: str, style: KeyStyle) -> str:
    """``key`` in a conventional casing style; keys with other characters are left alone."""
    lead = key[: len(key) - len(key.lstrip("_"))]
    words = _WORD.findall(key)
    if not words or "".join(words) != re.sub(r"[_\-\s]", "", key):
        return key
    if style == "PascalCase":
        return lead + "".join(w.capitalize() for w in words)
    if style == "camelCase":
        return lead + words[0].lower() + "".join(w.capitalize() for w in words[1:])
    if style == "kebab-case":
        return lead + "-".join(w.lower() for w in words)
    if style == "UPPER":
        return lead + "_".join(w.upper() for w in words)
    return lead + "_".join(w.lower() for w in words)


class RenameKeysParams(Params):
    """Parameters of ``rename_keys``."""

    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Exact renames {old: new}; old is a key name or dotted path. The way to get names a "
        "casing style never produces, such as user_id -> UserID.",
    )
    style: KeyStyle | None = Field(
        None,
        description="Conventional recasing of keys (user_id -> UserId, userId, user-id, USER_ID, user_id). "
        "With neither mapping nor style, a style is drawn from the rng.",
    )
    keys: tuple[str, ...] | None = Field(
        None, description="Restrict `style` to these keys (names or dotted paths); default every key."
    )
    depth: int | None = Field(
        None, ge=1, description="Rename only keys this deep or shallower (1 = top level); default all levels."
    )

    @functools.cached_property
    def renames(self) -> _Renames:
        """The mapping indexed for lookups (built once; the parameters are frozen)."""
        return _Renames(self)


@fault("rename_keys", Layer.CONTENT, params=RenameKeysParams)
def rename_keys(completion: Completion, params: RenameKeysParams, ctx: FaultContext) -> Completion:
    """The model renames or recases keys (user_id -> UserID, userId): lookups miss, validation fails.

    `mapping` wins over `style`. A rename that would clash with another key of the same
    object is skipped, so no value is ever lost.
    """

    def edit(found: Found) -> Any:
        style = params.style
        if style is None and not params.mapping:
            style = _changing_style(found.value, ctx.rng)
        renames = params.renames
        for obj, path in objects(found.value):
            if params.depth is not None and len(path) >= params.depth:
                continue
            names = {key: renames.new_name(key, (*path, key), style) for key in obj}
            if any(new != old for old, new in names.items()):
                rebuild_keys(obj, names)
        return found.value

    return edit_json(completion, edit)


class _Renames:
    """``rename_keys``'s mapping and key selection, indexed once per parameter set."""

    def __init__(self, params: RenameKeysParams) -> None:
        self.bare: dict[str, tuple[int, str]] = {}
        self.dotted: dict[tuple[str, ...], tuple[int, str]] = {}
        for order, (old, new) in enumerate(params.mapping.items()):
            if "." in old:
                self.dotted.setdefault(tuple(old.split(".")), (order, new))
            else:
                self.bare.setdefault(old, (order, new))
        self.keys = params.keys

    def new_name(self, key: str, path: tuple[str, ...], style: KeyStyle | None) -> str:
        """The name ``key`` (at ``path``) gets: the first mapping entry naming it, else its recased form."""
        bare = self.bare.get(key)
        dotted = self.dotted.get(path) if self.dotted else None
        if bare is not None or dotted is not None:
            hits = [hit for hit in (bare, dotted) if hit is not None]
            return min(hits)[1]
        if style is not None and selected(self.keys, path):
            return _recased(key, style)
        return key


@functools.lru_cache(maxsize=4096)
def _recased(key: str, style: KeyStyle) -> str:
    return recase(key, style)


def _changing_style(value: Any, rng: random.Random) -> KeyStyle:
    """A casing style drawn from the rng, among those that change at least one key."""
    keys = [slot.key for slot in slots(value) if slot.is_entry]
    styles: list[KeyStyle] = ["PascalCase", "camelCase", "kebab-case", "UPPER"]
    changing = [s for s in styles if any(recase(k, s) != k for k in keys)]
    return rng.choice(changing or styles)


# --- type_drift ---------------------------------------------------------------------------------


class TypeDriftParams(Params):
    """Parameters of ``type_drift``."""

    bool_as: tuple[Drifted, ...] = Field(
        ("Yes", "yes", 1, "Affirmative", "True"),
        min_length=1,
        description="What `true` drifts to, drawn per field from the rng (quote YAML words: 'yes').",
    )
    false_as: tuple[Drifted, ...] = Field(
        ("No", "no", 0, "Negative", "False"), min_length=1, description="What `false` drifts to."
    )
    int_as: Literal["string", "float"] | None = Field(
        "string", description='Integers become strings (42 -> "42") or floats (42.0); null leaves them.'
    )
    to_null: tuple[str, ...] = Field((), description="Fields (names or dotted paths) set to null.")
    fields: tuple[str, ...] | None = Field(
        None, description="Drift only these fields (names or dotted paths); default every bool and int."
    )

    @field_validator("bool_as", "false_as", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
            raise ValueError("drifted forms must be strings or numbers; quote YAML words like 'yes' and 'on'")
        return value


@fault("type_drift", Layer.CONTENT, params=TypeDriftParams)
def type_drift(completion: Completion, params: TypeDriftParams, ctx: FaultContext) -> Completion:
    """The model drifts scalar types (true -> "Yes", 1, "Affirmative"; 42 -> "42"): lax passes, strict fails.

    Pydantic's lax mode turns "yes", "1" and "42" back into bool and int, strict mode and
    jsonschema do not, and "Affirmative" breaks both: one drift, three different outcomes.
    """

    def edit(found: Found) -> Any:
        changed = False
        for slot in list(slots(found.value)):
            value = slot.value
            if params.to_null and selected(params.to_null, slot.path) and slot.is_entry:
                slot.set(None)
            elif not selected(params.fields, slot.path):
                continue
            elif isinstance(value, bool):
                slot.set(ctx.rng.choice(params.bool_as if value else params.false_as))
            elif isinstance(value, int) and params.int_as is not None:
                slot.set(str(value) if params.int_as == "string" else float(value))
            else:
                continue
            changed = True
        return found.value if changed else None

    return edit_json(completion, edit)


# --- drop_field / add_fields ----------------------------------------------------------------------


class DropFieldParams(Params):
    """Parameters of ``drop_field``."""

    field: str | None = Field(
        None,
        description="Key name or dotted path to drop everywhere it occurs; default drawn from the rng "
        "among top-level keys, the schema's required ones first.",
    )
    count: int = Field(
        1, ge=1, le=100, description="How many top-level keys to drop when `field` is not given."
    )


@fault("drop_field", Layer.CONTENT, params=DropFieldParams)
def drop_field(completion: Completion, params: DropFieldParams, ctx: FaultContext) -> Completion:
    """The model leaves out a field, often a required one: KeyError, or a missing-field validation error."""

    def edit(found: Found) -> Any:
        if params.field is not None:
            doomed = [s for s in slots(found.value) if s.is_entry and selects(params.field, s.path)]
            for slot in reversed(doomed):
                if isinstance(slot.container, dict):
                    slot.container.pop(slot.key, None)
            return found.value if doomed else None
        objects = top_objects(found.value)
        if not objects or not objects[0]:
            return None
        for key in _keys_to_drop(objects[0], params.count, ctx):
            for obj in objects:
                obj.pop(key, None)
        return found.value

    return edit_json(completion, edit)


def _keys_to_drop(obj: dict[str, Any], count: int, ctx: FaultContext) -> list[str]:
    required = {
        f.path[0] for f in schema_fields(ctx.request.response_schema) if len(f.path) == 1 and f.required
    }
    first = [k for k in obj if k in required]
    rest = [k for k in obj if k not in required]
    chosen = ctx.rng.sample(first, min(count, len(first)))
    return chosen + ctx.rng.sample(rest, min(count - len(chosen), len(rest)))


_EXTRA_FIELDS: tuple[tuple[str, Callable[[random.Random, FaultContext], Any]], ...] = (
    ("confidence", lambda rng, _: round(rng.uniform(0.55, 0.99), 2)),
    ("notes", lambda rng, _: rng.choice(["Extracted from the input.", "Some values were inferred.", ""])),
    ("_meta", lambda rng, ctx: {"model": ctx.request.model, "version": rng.randint(1, 3)}),
    ("reasoning", lambda rng, _: rng.choice(["The text states this directly.", "Inferred from context."])),
    ("source", lambda rng, _: rng.choice(["user_input", "document", "inferred"])),
    ("id", lambda rng, _: f"{rng.getrandbits(64):016x}"),
    ("extracted_at", lambda rng, _: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z"),
    ("warnings", lambda rng, _: rng.choice([[], ["ambiguous input"]])),
    ("language", lambda rng, _: rng.choice(["en", "en-US"])),
    ("is_complete", lambda rng, _: rng.random() < 0.8),
    ("additional_info", lambda rng, _: None),
    ("explanation", lambda rng, _: "Fields were mapped from the request."),
)


class AddFieldsParams(Params):
    """Parameters of ``add_fields``."""

    count: int = Field(
        1, ge=1, le=50, description="How many unexpected keys to add (confidence, notes, _meta, …)."
    )
    fields: dict[str, Any] | None = Field(None, description="Exact keys and values to add instead.")


@fault("add_fields", Layer.CONTENT, params=AddFieldsParams)
def add_fields(completion: Completion, params: AddFieldsParams, ctx: FaultContext) -> Completion:
    """The model adds keys nobody asked for (confidence, notes, _meta): extra='forbid' models reject them.

    Keys are added to the top-level object (or to each object of a top-level array);
    keys already present are never overwritten.
    """

    def edit(found: Found) -> Any:
        objects = top_objects(found.value)
        if not objects:
            return None
        extra = (
            dict(params.fields) if params.fields is not None else _plausible_fields(objects[0], params, ctx)
        )
        for obj in objects:
            for key, value in extra.items():
                obj.setdefault(key, value)
        return found.value

    return edit_json(completion, edit)


def _plausible_fields(obj: dict[str, Any], params: AddFieldsParams, ctx: FaultContext) -> dict[str, Any]:
    free = [(name, make) for name, make in _EXTRA_FIELDS if name not in obj]
    chosen = ctx.rng.sample(free, min(params.count, len(free)))
    extra = {name: make(ctx.rng, ctx) for name, make in chosen}
    for n in range(params.count - len(chosen)):
        extra[f"extra_field_{n + 1}"] = ctx.rng.randint(0, 999)
    return extra


# --- syntax --------------------------------------------------------------------------------------

_COMMENTS = ("// extracted from the input", "// TODO: verify", "// values below are best guesses", "// note")


class Json5IsmsParams(Params):
    """Parameters of ``json5_isms``."""

    single_quotes: bool = Field(True, description="Quote strings with ' instead of \".")
    trailing_commas: bool = Field(
        True, description="Put a comma after the last entry of every object and array."
    )
    comments: bool = Field(
        True, description="Add // comments (one above the first entry, one after an entry)."
    )
    unquoted_keys: bool = Field(True, description="Leave identifier-like keys unquoted.")

    @model_validator(mode="after")
    def _at_least_one(self) -> Json5IsmsParams:
        if not (self.single_quotes or self.trailing_commas or self.comments or self.unquoted_keys):
            raise ValueError("enable at least one of single_quotes, trailing_commas, comments, unquoted_keys")
        return self


@fault("json5_isms", Layer.CONTENT, params=Json5IsmsParams)
def json5_isms(completion: Completion, params: Json5IsmsParams, ctx: FaultContext) -> Completion:
    """The model writes JavaScript-ish JSON (single quotes, trailing commas, // comments, bare keys).

    The result is valid JSON5, so a json5 or demjson parser reads it, but json.loads and
    strict schema-guided parsers reject it.
    """

    found = find_json(completion.text)
    if found is None:
        return completion
    lines = json5_dumps(
        found.value,
        single_quotes=params.single_quotes,
        trailing_commas=params.trailing_commas,
        unquoted_keys=params.unquoted_keys,
    )
    if params.comments:
        _add_comments(lines, ctx.rng)
    return replace(completion, text=found.prefix + "\n".join(lines) + found.suffix)


def _add_comments(lines: list[str], rng: random.Random) -> None:
    """A comment line above the first entry, and one at the end of a line drawn from the rng."""
    if len(lines) < 3:
        lines.insert(0, rng.choice(_COMMENTS))
        return
    indent = lines[1][: len(lines[1]) - len(lines[1].lstrip())]
    lines.insert(1, indent + rng.choice(_COMMENTS))
    target = rng.randrange(2, len(lines) - 1)
    lines[target] += "  " + rng.choice(_COMMENTS)


# --- values --------------------------------------------------------------------------------------

_ENUM_NAMES = frozenset(
    {"status", "plan", "category", "type", "priority", "level", "tier", "state", "kind", "role", "severity",
     "sentiment", "stage", "mode", "label", "grade"}
)  # fmt: skip
_HALLUCINATED = ("premium-plus", "URGENT", "n/a", "unknown", "Other", "pending_review", "N/A", "TBD", "mixed")


class HallucinatedEnumParams(Params):
    """Parameters of ``hallucinated_enum``."""

    field: str | None = Field(
        None,
        description="Field to corrupt (name or dotted path); default drawn from the rng among the schema's "
        "enum fields, else string fields named like status/plan/category/type/priority/level.",
    )
    value: str | None = Field(
        None, description="The invalid value; default a plausible one (premium-plus, URGENT, n/a, …)."
    )


@fault("hallucinated_enum", Layer.CONTENT, params=HallucinatedEnumParams)
def hallucinated_enum(
    completion: Completion, params: HallucinatedEnumParams, ctx: FaultContext
) -> Completion:
    """The model invents an enum value ("premium-plus", "URGENT", "n/a"): Literal and Enum validation fail."""

    def edit(found: Found) -> Any:
        enums = {f.path: f.enum for f in schema_fields(ctx.request.response_schema) if f.enum}
        candidates = [
            s
            for s in slots(found.value)
            if s.is_entry
            and (
                selects(params.field, s.path)
                if params.field is not None
                else _looks_enum(s.path, s.value, enums)
            )
        ]
        if not candidates:
            return None
        slot = ctx.rng.choice(candidates)
        slot.set(
            params.value if params.value is not None else _invented(slot.value, enums.get(slot.path), ctx.rng)
        )
        return found.value

    return edit_json(completion, edit)


def _looks_enum(path: tuple[str, ...], value: Any, enums: Mapping[tuple[str, ...], object]) -> bool:
    """An enum field of the schema, or (without enums in the schema) a string named like one."""
    if enums:
        return path in enums
    words = _WORD.findall(path[-1])
    return isinstance(value, str) and bool(words) and words[-1].lower() in _ENUM_NAMES


def _invented(current: Any, allowed: tuple[Any, ...] | None, rng: random.Random) -> str:
    """A plausible value outside the enum: a recased or extended current value, or a classic."""
    pool: list[str] = list(_HALLUCINATED)
    if isinstance(current, str) and current:
        pool = [current.upper(), f"{current}-plus", current.title(), *pool]
    forbidden = (*(allowed or ()), current)
    return rng.choice([v for v in dict.fromkeys(pool) if v not in forbidden])


class StringifiedJsonParams(Params):
    """Parameters of ``stringified_json``."""

    field: str | None = Field(
        None, description="Stringify only this field's value (name or dotted path); default the whole reply."
    )


@fault("stringified_json", Layer.CONTENT, params=StringifiedJsonParams)
def stringified_json(completion: Completion, params: StringifiedJsonParams, ctx: FaultContext) -> Completion:
    """The model double-encodes: a JSON string holding JSON ("{\\"user_id\\": 42}"): loads gives a str."""
    if params.field is None:
        if completion.text is None:
            return completion
        return retext(completion, json.dumps(completion.text, ensure_ascii=False))
    spec = params.field

    def edit(found: Found) -> Any:
        hits = [s for s in slots(found.value) if s.is_entry and selects(spec, s.path)]
        for slot in hits:
            slot.set(json.dumps(slot.value, ensure_ascii=False))
        return found.value if hits else None

    return edit_json(completion, edit)


class ArrayInsteadOfObjectParams(Params):
    """Parameters of ``array_instead_of_object``."""

    shape: Literal["wrapped", "list_of_values", "entries"] = Field(
        "wrapped",
        description='wrapped: [obj]; list_of_values: [v1, v2, …]; entries: [{"key": k, "value": v}, …].',
    )


@fault("array_instead_of_object", Layer.CONTENT, params=ArrayInsteadOfObjectParams)
def array_instead_of_object(
    completion: Completion, params: ArrayInsteadOfObjectParams, ctx: FaultContext
) -> Completion:
    """The model returns an array where an object was asked for: .get / ["key"] raise on a list."""

    def edit(found: Found) -> Any:
        obj = found.value
        if not isinstance(obj, dict):
            return None
        if params.shape == "wrapped":
            return [obj]
        if params.shape == "list_of_values":
            return list(obj.values())
        return [{"key": k, "value": v} for k, v in obj.items()]

    return edit_json(completion, edit)
