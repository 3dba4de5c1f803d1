"""Content faults on the text as a whole: chat around it, fences, poems, cuts, odd characters, size, nothing.

Each fault transforms a :class:`~harness.wire.Completion` into a new one; ``text`` is the
message content or, when ``tool_name`` is set, the forced tool call's arguments. These
faults treat the text as text (wrap it, cut it, replace it, blow it up) or change how the
reply ends (empty, refused, reasoning exhausted); edits of the JSON structure inside it are
in :mod:`~harness.faults.content`.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Literal

from pydantic import Field, model_validator

from harness.faults._json_edit import Found, Slot, find_json, rebuild_keys, slots
from harness.faults._rewrite import estimate_tokens, retext
from harness.faults.base import FaultContext, Layer, Params, fault
from harness.lazytext import LazyText
from harness.wire import Completion, Finish

# --- prose, fences, poems ------------------------------------------------------------------------

_BEFORE = (
    "Sure! Here is the JSON you asked for:\n\n",
    "Here's the extracted data:\n",
    "Certainly. Below is the result in JSON format.\n\n",
    "Of course! I've parsed the input into the requested structure:\n\n",
)
_AFTER = (
    "\n\nLet me know if you need anything else!",
    "\n\nI hope this helps. Note that some values were inferred from context.",
    "\n\nFeel free to ask if you'd like any changes to the format.",
    "\n\nPlease double-check the fields marked as uncertain.",
)


class WrapInProseParams(Params):
    """Parameters of ``wrap_in_prose``."""

    position: Literal["before", "after", "both"] = Field(
        "both", description="Where the chatty prose goes; its wording is drawn from the rng."
    )


@fault("wrap_in_prose", Layer.CONTENT, params=WrapInProseParams)
def wrap_in_prose(completion: Completion, params: WrapInProseParams, ctx: FaultContext) -> Completion:
    """The model wraps the JSON in chat ("Sure! Here is the JSON…"): json.loads raises JSONDecodeError."""
    if completion.text is None:
        return completion
    before = ctx.rng.choice(_BEFORE) if params.position in ("before", "both") else ""
    after = ctx.rng.choice(_AFTER) if params.position in ("after", "both") else ""
    return retext(completion, before + completion.text + after)


class MarkdownFenceParams(Params):
    """Parameters of ``markdown_fence``."""

    lang: str = Field(
        "json",
        pattern=r"^[\w+.#-]*$",
        description='Info string after the opening fence; "" for a bare fence.',
    )
    prose: bool = Field(False, description="Also put chatty prose before and after the fence.")


@fault("markdown_fence", Layer.CONTENT, params=MarkdownFenceParams)
def markdown_fence(completion: Completion, params: MarkdownFenceParams, ctx: FaultContext) -> Completion:
    """The model fences its JSON in markdown (```json … ```): json.loads fails on the first backtick."""
    if completion.text is None:
        return completion
    text = f"```{params.lang}\n{completion.text}\n```"
    if params.prose:
        text = ctx.rng.choice(_BEFORE) + text + ctx.rng.choice(_AFTER)
    return retext(completion, text)


_POEMS: dict[str, tuple[str, ...]] = {
    "haiku": (
        "Fields drift like snowflakes\nthe schema waits in silence\nno braces tonight",
        "User id, forty-two,\na number lost in the wind.\nParse this, if you can.",
        "Autumn server logs\nJSON was requested here\nI give you the moon",
    ),
    "poem": (
        "O structured request, so rigid and square,\nyou asked me for brackets, I gave you the air.\n"
        "Your keys and your values I hold in my heart,\nbut braces and commas were never my art.",
        "In a land of curly braces, where the strict validators roam,\n"
        "a model wrote a sonnet and it never found its home.\n"
        "The parser cried out 'Expecting value', the pipeline held its breath,\n"
        "and somewhere in production a dashboard turned to red.",
    ),
    "apology": (
        "I apologize, but I'm unable to produce the output in the requested JSON format. "
        "Could you please clarify which fields you need?",
        "I'm sorry for the confusion earlier. Unfortunately I can't determine the requested values "
        "from the text provided. Please share more details and I'll be happy to help.",
        "Apologies! It seems I made an error in my previous response. Let me know how you'd like to proceed.",
    ),
}


class HaikuParams(Params):
    """Parameters of ``haiku``."""

    kind: Literal["haiku", "poem", "apology"] = Field(
        "haiku", description="What comes back instead of JSON; the text is drawn from the rng."
    )


@fault("haiku", Layer.CONTENT, params=HaikuParams)
def haiku(completion: Completion, params: HaikuParams, ctx: FaultContext) -> Completion:
    """The model answers with a haiku, a poem or an apology and no JSON at all: every parser fails."""
    return retext(completion, ctx.rng.choice(_POEMS[params.kind]))


# --- truncation ----------------------------------------------------------------------------------


class TruncateParams(Params):
    """Parameters of ``truncate``."""

    fraction: float | None = Field(
        None, gt=0, lt=1, description="Keep this share of the text; default drawn from 0.3-0.9 by the rng."
    )
    at_chars: int | None = Field(None, ge=0, description="Keep exactly this many characters instead.")

    @model_validator(mode="after")
    def _one_cut(self) -> TruncateParams:
        if self.fraction is not None and self.at_chars is not None:
            raise ValueError("give fraction or at_chars, not both")
        return self


@fault("truncate", Layer.CONTENT, params=TruncateParams)
def truncate(completion: Completion, params: TruncateParams, ctx: FaultContext) -> Completion:
    """The reply hits the token limit mid-JSON (finish_reason length / stop_reason max_tokens).

    openai's .parse() raises LengthFinishReasonError, instructor IncompleteOutputException,
    and LangChain's JsonOutputParser quietly closes the partial object. Output tokens shrink
    in proportion to the text kept.
    """
    text = completion.text
    if text is None:
        return replace(completion, finish=Finish.LENGTH)
    if params.at_chars is not None:
        cut = min(params.at_chars, len(text))
    else:
        fraction = params.fraction if params.fraction is not None else ctx.rng.uniform(0.3, 0.9)
        cut = int(len(text) * fraction)
    visible = completion.output_tokens - completion.reasoning_tokens
    kept = -(-visible * cut // len(text)) if text else 0
    return replace(
        completion, text=text[:cut], finish=Finish.LENGTH, output_tokens=kept + completion.reasoning_tokens
    )


# --- unicode ---------------------------------------------------------------------------------------

_HOMOGLYPHS = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "c": "\u0441",
    "x": "\u0445",
    "y": "\u0443",
}
UnicodeKind = Literal["zero_width", "homoglyph", "rtl", "bom", "nbsp"]


class UnicodeOdditiesParams(Params):
    """Parameters of ``unicode_oddities``."""

    kind: UnicodeKind = Field(
        "zero_width",
        description="zero_width: U+200B inside a string; homoglyph: a Latin letter becomes Cyrillic "
        "(a e o p c x y); rtl: U+200F or U+202E…U+202C marks; bom: U+FEFF before the text; "
        "nbsp: U+00A0 for a space.",
    )
    where: Literal["keys", "values", "both"] = Field("both", description="Which strings may be altered.")
    count: int | None = Field(
        1, ge=1, description="How many strings to alter, drawn from the rng; null alters every one."
    )


@fault("unicode_oddities", Layer.CONTENT, params=UnicodeOdditiesParams)
def unicode_oddities(completion: Completion, params: UnicodeOdditiesParams, ctx: FaultContext) -> Completion:
    """Invisible or look-alike characters (U+200B, Cyrillic a, RTL marks, BOM, NBSP): keys miss, == fails.

    The text still looks right in a terminal and, except for ``bom``, still parses. Without
    JSON in the text, ``values`` alters the text itself. ``bom`` ignores ``where`` and
    ``count``: json.loads then raises "Unexpected UTF-8 BOM".
    """
    text = completion.text
    if text is None:
        return completion
    if params.kind == "bom":
        return replace(completion, text="\ufeff" + text)
    found = find_json(text)
    if found is None:
        if params.where == "keys" or not _alterable(text, params.kind):
            return completion
        return replace(completion, text=_odd(text, params.kind, ctx.rng))
    picked = _pick(list(slots(found.value)), params, ctx.rng)
    if not picked:
        return completion
    for slot, on_key in picked:
        if on_key and isinstance(slot.container, dict):
            rebuild_keys(slot.container, {slot.key: _odd(slot.key, params.kind, ctx.rng)})
        else:
            slot.set(_odd(slot.value, params.kind, ctx.rng))
    return replace(completion, text=found.render(found.value))


def _pick(found: list[Slot], params: UnicodeOdditiesParams, rng: random.Random) -> list[tuple[Slot, bool]]:
    """(slot, on_key) pairs to alter; values before keys, so renaming a key cannot strand a value."""
    kind = params.kind
    keys = [(s, True) for s in found if params.where != "values" and s.is_entry and _alterable(s.key, kind)]
    values = [(s, False) for s in found if params.where != "keys" and isinstance(s.value, str)]
    pairs = keys + [(s, on_key) for s, on_key in values if _alterable(s.value, kind)]
    if params.count is not None and params.count < len(pairs):
        pairs = [pairs[i] for i in sorted(rng.sample(range(len(pairs)), params.count))]
    return sorted(pairs, key=lambda pair: pair[1])


def _alterable(text: str, kind: UnicodeKind) -> bool:
    return kind != "homoglyph" or any(ch in _HOMOGLYPHS for ch in text)


def _odd(text: str, kind: UnicodeKind, rng: random.Random) -> str:
    """``text`` with one oddity of ``kind``, placed by the rng."""
    if kind == "zero_width":
        at = rng.randint(1, len(text) - 1) if len(text) > 1 else len(text)
        return text[:at] + "\u200b" + text[at:]
    if kind == "homoglyph":
        at = rng.choice([i for i, ch in enumerate(text) if ch in _HOMOGLYPHS])
        return text[:at] + _HOMOGLYPHS[text[at]] + text[at + 1 :]
    if kind == "rtl":
        return rng.choice(["\u200f" + text, "\u202e" + text + "\u202c"])
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if not spaces:
        return text + "\u00a0"
    at = rng.choice(spaces)
    return text[:at] + "\u00a0" + text[at + 1 :]


# --- size ------------------------------------------------------------------------------------------

_MIB = 1024 * 1024
_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "As an AI language model, I will now elaborate further on this topic.",
    "Furthermore, it is worth noting that the previous point bears repeating.",
    "In conclusion, and to expand on the above, consider the following details.",
    "Let me restate the question before I answer it in full.",
)


class HugePayloadParams(Params):
    """Parameters of ``huge_payload``."""

    size_mb: float = Field(
        16, gt=0, le=2048, description="Approximate size of the reply in MiB (not for nested)."
    )
    shape: Literal["pad", "array", "nested", "text"] = Field(
        "pad",
        description="pad: the original object plus a key holding a big array of small objects; array: the "
        "whole reply is a huge array; nested: `depth` nested arrays; text: plain huge prose.",
    )
    depth: int = Field(10_000, ge=1, le=10_000_000, description="Nesting depth for shape nested.")
    key: str = Field("items", min_length=1, description="The extra key for pad and nested.")


LAZY_MIN_CHARS = 32 * _MIB
"""A huge payload at least this long stays a :class:`~harness.lazytext.LazyText`, generated as it is sent."""


@fault("huge_payload", Layer.CONTENT, params=HugePayloadParams)
def huge_payload(completion: Completion, params: HugePayloadParams, ctx: FaultContext) -> Completion:
    """A runaway reply of megabytes or deep nesting: memory blows up or json.loads hits the recursion limit.

    ``pad`` keeps the real object valid and adds a key with a big array of small objects:
    a careless json.loads builds 10-20x its bytes in Python objects. ``nested`` wraps
    ``depth`` arrays (under ``key`` when the reply is an object): RecursionError. A text of
    :data:`LAZY_MIN_CHARS` or more is kept lazy (``Completion.lazy_text``): the dialects
    stream it without ever holding it, so a 1 GiB reply costs the server no memory.
    """
    text = _huge_text(completion, params, ctx.rng)
    tokens = estimate_tokens(text) + completion.reasoning_tokens
    if len(text) >= LAZY_MIN_CHARS:
        return replace(completion, text=None, lazy_text=text, output_tokens=tokens)
    return replace(completion, text=str(text), lazy_text=None, output_tokens=tokens)


def _huge_text(completion: Completion, params: HugePayloadParams, rng: random.Random) -> LazyText:
    """The huge reply as runs of repeated pieces."""
    found = find_json(completion.text)
    target = int(params.size_mb * _MIB) - len(completion.text or "")
    if params.shape == "nested":
        before, after = _key_frame(found, params.key)
        return LazyText.of((before, 1), ("[", params.depth), ("]", params.depth), (after, 1))
    if params.shape == "pad":
        before, after = _key_frame(found, params.key)
        return LazyText.of((before + "[", 1), *_record_runs(target), ("]" + after, 1))
    if params.shape == "array":
        element = json.dumps(found.value, ensure_ascii=False) if found is not None else None
        return LazyText.of(("[", 1), *_record_runs(target, element), ("]", 1))
    return _prose(int(params.size_mb * _MIB), rng)


def _key_frame(found: Found | None, key: str) -> tuple[str, str]:
    """What goes before and after a raw value added under ``key`` to the reply's object (nothing if none)."""
    if found is None or not isinstance(found.value, dict):
        return "", ""
    while key in found.value:
        key += "_"
    head = json.dumps(found.value, ensure_ascii=False)[:-1]
    joint = ", " if found.value else ""
    return "".join([found.prefix, head, joint, json.dumps(key), ": "]), "}" + found.suffix


def _record_runs(n_bytes: int, element: str | None = None) -> list[tuple[str, int]]:
    """Comma-separated JSON elements totalling about ``n_bytes``, as runs of one repeated block."""
    items = [element] if element is not None else [f'{{"i":{i},"v":"xxxxxxxx"}}' for i in range(1000, 2000)]
    count = max(1, n_bytes // (len(items[0]) + 1))
    cycle = items * max(1, 4096 // len(items))
    full, rest = divmod(count, len(cycle))
    block = ",".join(cycle)
    runs = [(block, 1), ("," + block, full - 1)] if full else []
    if rest:
        runs.append((("," if full else "") + ",".join(cycle[:rest]), 1))
    return runs


def _prose(n_chars: int, rng: random.Random) -> LazyText:
    block = " ".join(rng.choice(_SENTENCES) for _ in range(20)) + "\n"
    full, rest = divmod(n_chars, len(block))
    return LazyText.of((block, full), (block[:rest], 1))


# --- empty, refused, exhausted ---------------------------------------------------------------------


class EmptyContentParams(Params):
    """Parameters of ``empty_content``."""

    as_null: bool = Field(False, description='Send content null instead of "".')


@fault("empty_content", Layer.CONTENT, params=EmptyContentParams)
def empty_content(completion: Completion, params: EmptyContentParams, ctx: FaultContext) -> Completion:
    """The model returns nothing ("" or null) with a normal stop: json.loads('') or None.strip() blows up."""
    return replace(completion, text=None if params.as_null else "", output_tokens=completion.reasoning_tokens)


class RefusalParams(Params):
    """Parameters of ``refusal``."""

    message: str = Field(
        "I'm sorry, but I can't help with that.",
        min_length=1,
        description="The refusal text the model gives.",
    )


@fault("refusal", Layer.CONTENT, params=RefusalParams)
def refusal(completion: Completion, params: RefusalParams, ctx: FaultContext) -> Completion:
    """The model refuses (OpenAI message.refusal, Anthropic stop_reason refusal): .parse() gives parsed=None.

    A refusing model calls no tool, so ``tool_name`` is cleared.
    """
    return replace(
        completion,
        text=None,
        refusal=params.message,
        finish=Finish.REFUSAL,
        tool_name=None,
        output_tokens=estimate_tokens(params.message) + completion.reasoning_tokens,
    )


class ReasoningExhaustionParams(Params):
    """Parameters of ``reasoning_exhaustion``."""

    reasoning_tokens: int | None = Field(
        None, ge=1, description="Hidden reasoning tokens billed; default the request's max_tokens, else 4096."
    )
    as_null: bool = Field(False, description='Send content null instead of "".')


@fault("reasoning_exhaustion", Layer.CONTENT, params=ReasoningExhaustionParams)
def reasoning_exhaustion(
    completion: Completion, params: ReasoningExhaustionParams, ctx: FaultContext
) -> Completion:
    """Reasoning eats the whole token budget: empty content, finish length, huge hidden reasoning_tokens.

    Every output token billed is a reasoning token (the hidden token tax); the model never
    got to the answer, so no tool is called either.
    """
    spent = params.reasoning_tokens or ctx.request.max_tokens or 4096
    return replace(
        completion,
        text=None if params.as_null else "",
        finish=Finish.LENGTH,
        tool_name=None,
        reasoning_tokens=spent,
        output_tokens=spent,
    )
