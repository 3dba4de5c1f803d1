"""Strategies over model replies: clean JSON valid against a schema, and that JSON after content faults."""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from harness.faults.base import FaultContext, FaultUse, Layer
from harness.jsontext import compact_json
from harness.responder import fault_rng
from harness.sources.generated import GenerationError, SchemaSource
from harness.sources.inline import clean_completion
from harness.strategies._faults import Chain, fault_chains
from harness.wire import Completion, ModelRequest

SEEDS = st.integers(0, 2**32 - 1)
"""Seeds for everything a fault or the Faker generator draws; shrink towards 0."""

IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
"""``pkg.mod:Model``: a string source that names a pydantic model rather than holding reply text."""

ReplySource = dict[str, Any] | type | str | SchemaSource
"""A JSON Schema, a pydantic model class, its ``pkg.mod:Model`` path, or a SchemaSource."""

_SOURCES: dict[str, SchemaSource] = {}
_SOURCES_LOCK = threading.Lock()


def schema_source(source: ReplySource, argument: str = "source") -> SchemaSource:
    """The (cached) Faker-backed :class:`SchemaSource` for ``source``; InvalidArgument when unusable."""
    if isinstance(source, SchemaSource):
        return source
    key = _cache_key(source, argument)
    with _SOURCES_LOCK:
        cached = _SOURCES.get(key)
        if cached is None:
            try:
                cached = SchemaSource(source) if isinstance(source, dict) else SchemaSource.from_model(source)
            except GenerationError as exc:
                raise InvalidArgument(f"{argument}={_short(source)}: {exc}") from None
            _SOURCES[key] = cached
    return cached


def _cache_key(source: object, argument: str) -> str:
    if isinstance(source, dict):
        try:
            return "schema:" + json.dumps(source, sort_keys=True)
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"{argument}={_short(source)} is not a JSON-serialisable JSON Schema"
            ) from None
    if isinstance(source, type):
        return f"model:{source.__module__}.{source.__qualname__}:{id(source)}"
    if isinstance(source, str) and IMPORT_PATH.match(source):
        return f"path:{source}"
    raise InvalidArgument(
        f"{argument}={_short(source)}; expected a JSON Schema dict, a pydantic model class, "
        "a 'pkg.mod:Model' path or a SchemaSource"
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def clean_replies(source: ReplySource, *, realistic: bool = True) -> SearchStrategy[str]:
    """Compact JSON text valid against ``source`` (a JSON Schema, a pydantic model or its path).

    ``realistic=True`` draws a seed and generates with the harness's Faker generation
    (:class:`~harness.sources.SchemaSource`): names, e-mails, dates that look real — what a
    pipeline sees in production. ``realistic=False`` lets Hypothesis build the value from the
    schema (``hypothesis-jsonschema``), which finds more edge cases (empty and odd Unicode
    strings, boundary numbers, dates from year 1); values a pydantic model refuses beyond its
    schema are filtered out.

    Shrinks towards the simplest valid reply: with ``realistic=False`` minimal strings,
    numbers and optional parts left out; with ``realistic=True`` the reply of seed 0.
    """
    if not isinstance(realistic, bool):
        raise InvalidArgument(f"realistic={realistic!r} must be True or False")
    generator = schema_source(source)
    if realistic:
        return SEEDS.map(lambda seed: generator.text(random.Random(seed)))
    from hypothesis_jsonschema import from_schema

    try:
        values = from_schema(generator.schema)
    except Exception as exc:  # hypothesis-jsonschema refuses schemas in its own exception types
        raise InvalidArgument(
            f"source={_short(source)}: hypothesis-jsonschema cannot use the schema: {exc}"
        ) from None
    texts = values.map(compact_json)
    model = generator.model
    if model is None:
        return texts
    return texts.filter(lambda text: _model_accepts(model, text))


def _model_accepts(model: Any, text: str) -> bool:
    """The pydantic model's own check: it may refuse values its JSON Schema allows."""
    try:
        model.model_validate_json(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class MutatedReply:
    """A clean reply, the content faults applied to it, and the text the pipeline would receive."""

    clean: str
    """The clean reply text."""
    chain: Chain
    """The content faults applied, in order."""
    seed: int
    """Seed of the faults' random streams (same derivation as the Responder's case 0, call 1)."""
    completion: Completion = field(repr=False)
    """The faulted completion: text, finish reason, refusal, token counts."""

    @property
    def text(self) -> str | None:
        """The mutated text (None when a fault nulled the content)."""
        return self.completion.text

    def __repr__(self) -> str:
        labels = ", ".join(u.label for u in self.chain) or "clean"
        text = self.text if self.text is None or len(self.text) <= 120 else self.text[:117] + "..."
        return f"MutatedReply([{labels}], seed={self.seed}, text={text!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis prints the short form in falsifying examples, not every field."""
        printer.text(repr(self))


def reply_request(schema: dict[str, Any] | None = None) -> ModelRequest:
    """The OpenAI chat request content faults see outside a real call: JSON mode with ``schema``."""
    return ModelRequest(
        dialect="openai-chat",
        path="/v1/chat/completions",
        body={"model": "gpt-4o-mini", "messages": []},
        response_schema=schema,
    )


def apply_content(text: str, chain: Chain, seed: int, schema: dict[str, Any] | None = None) -> Completion:
    """``text`` with the content faults of ``chain`` applied, each with the Responder's rng for it."""
    from harness.dialects import DIALECTS

    request = reply_request(schema)
    dialect = DIALECTS.get(request.dialect)
    completion = clean_completion(request, text)
    for position, use in enumerate(chain):
        rng = fault_rng(seed, 0, 1, position, use.fault.name)
        completion = use.apply_to(completion, FaultContext(request, dialect, rng))
    return completion


def mutated_replies(
    source: ReplySource | SearchStrategy[str], *, faults: SearchStrategy[Chain] | None = None
) -> SearchStrategy[MutatedReply]:
    """Content faults applied to a clean reply: what a pipeline's parser receives.

    ``source`` is what :func:`clean_replies` takes (realistic replies), or a strategy of
    clean texts. ``faults`` draws the chain of content faults (default
    ``fault_chains(min_size=1, max_size=2, layers=["content"])``); a drawn envelope or
    transport fault raises InvalidArgument. The fault seed is drawn too, and the text is
    exactly what :func:`responder_for` serves on the first call for that seed.

    Shrinks towards fewer and simpler faults, fault seed 0, then the simplest clean reply.
    """
    if isinstance(source, SearchStrategy):
        texts, schema = source, None
    else:
        generator = schema_source(source)
        texts, schema = clean_replies(generator), generator.schema
    if faults is None:
        faults = fault_chains(min_size=1, max_size=2, layers=["content"])
    elif not isinstance(faults, SearchStrategy):
        raise InvalidArgument(f"faults={faults!r} must be a strategy of content fault chains")

    def build(drawn: tuple[Chain, int, str]) -> MutatedReply:
        chain, seed, text = drawn
        _check_content(chain)
        return MutatedReply(text, chain, seed, apply_content(text, chain, seed, schema))

    return st.tuples(faults, SEEDS, texts).map(build)


def _check_content(chain: Chain) -> None:
    if not isinstance(chain, tuple) or not all(isinstance(u, FaultUse) for u in chain):
        raise InvalidArgument(f"mutated_replies(faults=...) drew {chain!r}; expected a tuple of FaultUse")
    for use in chain:
        if use.fault.layer is not Layer.CONTENT:
            raise InvalidArgument(
                f"mutated_replies(faults=...) drew {use.fault.name!r}, a {use.fault.layer.value} fault; "
                "expected content faults only (layers=['content'])"
            )
