"""JSON plumbing for content faults: find the JSON in a model's text, walk it, write it back.

A model's text may hold bare JSON, JSON inside prose or a markdown fence, or no JSON at
all. :func:`find_json` locates the value and remembers the text around it and its layout,
so a fault edits a fresh decoded copy and splices it back where it was. Paths are tuples
of object keys from the root; list indices are left out, so ``items.price`` names the
``price`` of every element of ``items``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.jsontext import compact_json

Path = tuple[str, ...]
"""Object keys from the root to a value; list indices are not part of a path."""

_MAX_SCHEMA_DEPTH = 32


@dataclass(slots=True)
class Found:
    """A JSON value located in a text, with the text around it and the layout it was written in."""

    prefix: str
    """Text before the JSON (prose, an opening fence, a BOM); empty for bare JSON."""
    value: Any
    """The decoded value: a fresh copy that the caller may edit in place."""
    suffix: str
    """Text after the JSON."""
    indent: int | None
    """Indentation of the original, None when it was written on one line."""
    separators: tuple[str, str]
    """Item and key separators of the original."""

    def render(self, value: Any) -> str:
        """``value`` written in the original's layout, with the surrounding text put back."""
        return self.prefix + self.dumps(value) + self.suffix

    def dumps(self, value: Any) -> str:
        """``value`` as JSON in the original's layout, non-ASCII characters kept raw."""
        if self.indent is None and self.separators == (",", ":"):
            return compact_json(value)
        return json.dumps(value, ensure_ascii=False, indent=self.indent, separators=self.separators)


def find_json(text: str | None) -> Found | None:
    """The JSON value in ``text`` (bare, or the first one inside prose or a fence), else None."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        pass
    else:
        body = text.strip()
        start = len(text) - len(text.lstrip())
        return _found(text[:start], value, text[start + len(body) :], body)
    decoder = json.JSONDecoder()
    for start in _openings(text):
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        return _found(text[:start], value, text[end:], text[start:end])
    return None


def _openings(text: str) -> list[int]:
    """Where a JSON object or array may start: the first ``{`` and the first ``[``, earliest first."""
    return sorted(i for i in (text.find("{"), text.find("[")) if i >= 0)


def _found(prefix: str, value: Any, suffix: str, body: str) -> Found:
    if "\n" in body:
        match = re.search(r"\n([ \t]+)\S", body)
        return Found(prefix, value, suffix, len(match.group(1)) if match else 2, (",", ": "))
    spaced = '": ' in body or ", " in body
    return Found(prefix, value, suffix, None, (", ", ": ") if spaced else (",", ":"))


@dataclass(frozen=True, slots=True)
class Slot:
    """A place that holds one JSON value: ``container[key]``, reached by ``path``."""

    container: dict[str, Any] | list[Any]
    key: Any
    """A ``str`` for an object entry, an ``int`` for a list item."""
    path: Path
    """Key path of the value (for a list item, the path of its list)."""

    @property
    def value(self) -> Any:
        """The value in the slot now."""
        return self.container[self.key]

    @property
    def is_entry(self) -> bool:
        """True for an object entry (it has a key name), False for a list item."""
        return isinstance(self.container, dict)

    def set(self, value: Any) -> None:
        """Put ``value`` in the slot."""
        self.container[self.key] = value


def slots(value: Any, path: Path = ()) -> Iterator[Slot]:
    """Every slot under ``value``, depth first in document order (a parent before its children)."""
    if isinstance(value, dict):
        for key, child in list(value.items()):
            yield Slot(value, key, (*path, key))
            yield from slots(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield Slot(value, index, path)
            yield from slots(child, path)


def objects(value: Any) -> list[tuple[dict[str, Any], Path]]:
    """Every object under ``value`` with its path, the root first, then depth first in document order.

    The same objects, in the same order, as the dict-valued :func:`slots` after the root,
    without a :class:`Slot` per value: renaming keys walks only objects.
    """
    found: list[tuple[dict[str, Any], Path]] = [(value, ())] if isinstance(value, dict) else []
    _collect_objects(value, (), found)
    return found


def _collect_objects(value: Any, path: Path, found: list[tuple[dict[str, Any], Path]]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, dict | list):
                below = (*path, key)
                if isinstance(child, dict):
                    found.append((child, below))
                _collect_objects(child, below, found)
    elif isinstance(value, list):
        for child in value:
            if isinstance(child, dict):
                found.append((child, path))
            if isinstance(child, dict | list):
                _collect_objects(child, path, found)


def top_objects(value: Any) -> list[dict[str, Any]]:
    """The reply's record objects: the root object, or the objects of a root array."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def selects(spec: str, path: Path) -> bool:
    """True when selector ``spec`` names ``path``: a bare name at any depth, a dotted path from the root."""
    if "." in spec:
        return path == tuple(spec.split("."))
    return bool(path) and path[-1] == spec


def selected(specs: Iterable[str] | None, path: Path) -> bool:
    """True when any selector names ``path``; ``None`` selects every path."""
    return specs is None or any(selects(spec, path) for spec in specs)


def rebuild_keys(obj: dict[str, Any], new_names: Mapping[str, str]) -> None:
    """Rename keys of ``obj`` in place, keeping their order; a name clash keeps the old key."""
    items = list(obj.items())
    originals = set(obj)
    used: set[str] = set()
    obj.clear()
    for key, child in items:
        new = new_names.get(key, key)
        if new != key and (new in originals or new in used):
            new = key
        used.add(new)
        obj[new] = child


@dataclass(frozen=True, slots=True)
class SchemaField:
    """One property declared by a JSON Schema."""

    path: Path
    required: bool
    enum: tuple[Any, ...] | None
    """Allowed values (``enum`` / ``const``) when the schema restricts them."""


def schema_fields(schema: Mapping[str, Any] | None) -> list[SchemaField]:
    """Every property a JSON Schema declares, nested objects and array items included.

    Local ``$ref`` (``#/$defs/…``), ``anyOf``/``oneOf``/``allOf`` and ``items`` are followed;
    recursive definitions are expanded once per path.
    """
    if not isinstance(schema, Mapping):
        return []
    return list(_walk_schema(schema, schema, (), frozenset(), 0))


def _walk_schema(
    node: Mapping[str, Any], root: Mapping[str, Any], path: Path, active: frozenset[str], depth: int
) -> Iterator[SchemaField]:
    if depth > _MAX_SCHEMA_DEPTH:
        return
    for branch, refs in _branches(node, root, active):
        required = branch.get("required", [])
        properties = branch.get("properties", {})
        for name, sub in properties.items() if isinstance(properties, Mapping) else ():
            if not isinstance(sub, Mapping):
                continue
            yield SchemaField((*path, name), name in required, _enum_of(sub, root, refs))
            yield from _walk_schema(sub, root, (*path, name), refs, depth + 1)
        items = branch.get("items")
        if isinstance(items, Mapping):
            yield from _walk_schema(items, root, path, refs, depth + 1)


def _branches(
    node: Mapping[str, Any], root: Mapping[str, Any], active: frozenset[str]
) -> Iterator[tuple[Mapping[str, Any], frozenset[str]]]:
    """``node`` with its ``$ref`` resolved, then each member of its anyOf/oneOf/allOf."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in active:
            return
        target = _resolve(ref, root)
        if target is None:
            return
        active = active | {ref}
        node = target
    yield node, active
    for combinator in ("anyOf", "oneOf", "allOf"):
        for member in node.get(combinator, []):
            if isinstance(member, Mapping):
                yield from _branches(member, root, active)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not ref.startswith("#"):
        return None
    target: Any = root
    for raw in ref[1:].strip("/").split("/") if ref != "#" else ():
        part = raw.replace("~1", "/").replace("~0", "~")
        target = target.get(part) if isinstance(target, Mapping) else None
    return target if isinstance(target, Mapping) else None


def _enum_of(
    node: Mapping[str, Any], root: Mapping[str, Any], active: frozenset[str]
) -> tuple[Any, ...] | None:
    values: list[Any] = []
    for branch, _ in _branches(node, root, active):
        if isinstance(branch.get("enum"), list):
            values.extend(branch["enum"])
        if "const" in branch:
            values.append(branch["const"])
    return tuple(values) if values else None


def json5_dumps(value: Any, *, single_quotes: bool, trailing_commas: bool, unquoted_keys: bool) -> list[str]:
    """``value`` as JSON5 lines, two-space indented (one line per entry, so ``//`` comments fit)."""
    writer = _Json5(single_quotes, trailing_commas, unquoted_keys)
    return writer.lines(value, 0)


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ESCAPED_QUOTE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class _Json5:
    single_quotes: bool
    trailing_commas: bool
    unquoted_keys: bool

    def lines(self, value: Any, depth: int) -> list[str]:
        """The lines of ``value``; the first line carries no indentation (it follows a key)."""
        if isinstance(value, dict) and value:
            entries = [(f"{self.key(k)}: ", v) for k, v in value.items()]
            return self.container("{", "}", entries, depth)
        if isinstance(value, list) and value:
            return self.container("[", "]", [("", v) for v in value], depth)
        if isinstance(value, str):
            return [self.string(value)]
        return [json.dumps(value)]

    def container(self, open_: str, close: str, entries: list[tuple[str, Any]], depth: int) -> list[str]:
        pad = "  " * (depth + 1)
        out = [open_]
        for index, (head, child) in enumerate(entries):
            child_lines = self.lines(child, depth + 1)
            child_lines[0] = pad + head + child_lines[0]
            if index < len(entries) - 1 or self.trailing_commas:
                child_lines[-1] += ","
            out.extend(child_lines)
        out.append("  " * depth + close)
        return out

    def key(self, key: str) -> str:
        if self.unquoted_keys and _IDENTIFIER.fullmatch(key):
            return key
        return self.string(key)

    def string(self, text: str) -> str:
        quoted = json.dumps(text, ensure_ascii=False)
        if not self.single_quotes:
            return quoted
        inner = _ESCAPED_QUOTE.sub(lambda m: m.group(1) if m.group(1) == '"' else m.group(0), quoted[1:-1])
        return "'" + inner.replace("'", "\\'") + "'"
