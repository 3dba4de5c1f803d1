"""The extractor after the post-mortem: every failure it understands ends in a typed error.

What changed against :mod:`harness.demo.naive`, and the incident behind each line:

- one client per process, 10 s read / 2 s connect timeout, 3 retries (the 15 s spikes,
  the 429 storm);
- streaming with a byte cap, so a 16 MB reply is dropped after 256 KiB instead of being
  parsed (the OOM);
- ``finish_reason`` and refusals are checked (truncated JSON, reasoning tokens eating the
  budget, safety filters);
- a stream that breaks midway (reset, no finish, corrupt frame) is asked again, within the
  same budget of four model calls the SDK retries use;
- the JSON object is found inside fences or prose, then validated strictly against
  :class:`~harness.demo.contract.UserRecord` (renamed keys, ``"Yes"`` for ``true``).

Errors::

    ExtractionError
    ├── ModelUnavailable      the provider failed after retries, or dropped the stream
    ├── ModelTimeout          a read timed out, or the whole call passed its deadline
    ├── MalformedOutput       no valid user record in the reply
    │   └── OutputTruncated   the model stopped at its token limit
    ├── OutputTooLarge        the reply passed the byte cap
    └── Refused               the model refused, or the content filter stopped it
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import pydantic
from openai import OpenAI
from openai.types.chat import ChatCompletionChunk

from harness.demo.contract import SYSTEM_PROMPT, UserRecord, json_schema
from harness.demo.errors import (
    ExtractionError,
    MalformedOutput,
    ModelTimeout,
    ModelUnavailable,
    OutputTooLarge,
    OutputTruncated,
    Refused,
)

__all__ = [
    "DEADLINE",
    "MAX_REPLY_BYTES",
    "MAX_RETRIES",
    "MODEL",
    "TIMEOUT",
    "ExtractionError",
    "MalformedOutput",
    "ModelTimeout",
    "ModelUnavailable",
    "OutputTooLarge",
    "OutputTruncated",
    "Refused",
    "client",
    "extract",
    "find_json_object",
]

MODEL = "gpt-4o-mini"
"""The model the extractor asks."""
MAX_REPLY_BYTES = 256 * 1024
"""Reply content past this many bytes (UTF-8) aborts the stream: a user record is ~200 bytes."""
DEADLINE = 30.0
"""Seconds one extraction may take end to end, checked as chunks arrive."""
TIMEOUT = httpx2.Timeout(10.0, connect=2.0)
"""Per-request timeouts: a spike past 10 s is cut and retried rather than waited out."""
MAX_RETRIES = 3
"""SDK retries (429, 5xx, timeouts, dropped connections) before giving up: 4 attempts at most."""

_MAX_OBJECT_STARTS = 64
"""How many ``{`` positions to try when the object hides in prose (bounds the work on junk)."""
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)```", re.DOTALL)


_client: OpenAI | None = None
_client_lock = threading.Lock()


def client() -> OpenAI:
    """The process-wide client, created on first use (connection pool reused across calls)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = OpenAI(timeout=TIMEOUT, max_retries=MAX_RETRIES)
        return _client


@dataclass(slots=True)
class Reply:
    """What one streamed reply added up to."""

    parts: list[str] = field(default_factory=list)
    size: int = 0
    finish_reason: str | None = None
    refusal: str = ""

    @property
    def content(self) -> str:
        """The streamed content joined."""
        return "".join(self.parts)


def extract(text: str) -> dict[str, Any]:
    """The user record described by ``text``, validated; raises an :class:`ExtractionError` otherwise."""
    reply = _stream_reply(text, time.monotonic() + DEADLINE)
    _check_finish(reply)
    data = find_json_object(reply.content)
    try:
        record = UserRecord.model_validate(data, strict=True)
    except pydantic.ValidationError as exc:
        raise MalformedOutput(_first_error(exc)) from None
    return record.model_dump(mode="json")


def _stream_reply(text: str, deadline: float) -> Reply:
    """Stream the completion; a stream that breaks mid-body is asked again within the attempt budget.

    The SDK retries only the initial send, so a reply cut mid-stream would otherwise be
    lost. SDK retries and re-asks share one budget of ``MAX_RETRIES + 1`` model calls.
    """
    attempts = MAX_RETRIES + 1
    while True:
        try:
            return _stream_once(text, deadline, attempts - 1)
        except _BrokenStream as broken:
            attempts -= broken.attempts
            if attempts <= 0:
                raise ModelUnavailable(broken.reason) from None


class _BrokenStream(Exception):
    """A reply stream broke after it started; worth asking again if the budget allows."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        """Model calls this try used (SDK retries of the initial send included)."""


def _stream_once(text: str, deadline: float, retries: int) -> Reply:
    """One streamed completion, with the byte cap and the deadline enforced chunk by chunk."""
    try:
        stream = (
            client()
            .with_options(max_retries=retries)
            .chat.completions.create(
                model=MODEL,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": text},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "UserRecord", "strict": True, "schema": json_schema()},
                },
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    except openai.APITimeoutError:
        raise ModelTimeout(f"the model API timed out ({retries} retries)") from None
    except openai.APIStatusError as exc:
        raise ModelUnavailable(f"model API answered {exc.status_code}: {_short(exc.message)}") from None
    except openai.APIConnectionError:
        raise ModelUnavailable(f"could not reach the model API ({retries} retries)") from None
    used = int(stream.response.request.headers.get("x-stainless-retry-count", "0")) + 1
    with stream:
        reply = _read(stream, deadline, used)
    if reply.finish_reason is None and not reply.refusal:
        raise _BrokenStream("the reply stream ended before the model finished", used)
    return reply


def _read(stream: openai.Stream[ChatCompletionChunk], deadline: float, used: int) -> Reply:
    """Accumulate the stream's deltas; mid-stream failures become typed errors or a broken stream."""
    reply = Reply()
    try:
        for chunk in stream:
            for choice in chunk.choices or ():
                _add_delta(reply, choice.delta.content, choice.delta.refusal)
                reply.finish_reason = choice.finish_reason or reply.finish_reason
            if time.monotonic() > deadline:
                raise ModelTimeout(f"no complete reply within {DEADLINE:g}s")
    except openai.APITimeoutError:
        raise ModelTimeout("the reply stream stalled past the read timeout") from None
    except openai.APIError as exc:
        # a dropped connection, or an error event inside the 200 stream
        raise _BrokenStream(f"the reply stream broke: {_short(exc.message)}", used) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # the SDK decodes each SSE ``data:`` line; a corrupt frame surfaces here
        raise _BrokenStream(f"corrupt event in the reply stream: {_short(str(exc))}", used) from None
    return reply


def _add_delta(reply: Reply, content: str | None, refusal: str | None) -> None:
    """Accumulate one delta; abort as soon as the content passes the byte cap."""
    if refusal:
        reply.refusal += refusal
    if not content:
        return
    reply.size += len(content.encode())
    if reply.size > MAX_REPLY_BYTES:
        raise OutputTooLarge(f"reply passed {MAX_REPLY_BYTES} bytes; stream aborted")
    reply.parts.append(content)


def _check_finish(reply: Reply) -> None:
    """Refuse replies that were refused, filtered, cut at the token limit, or never finished."""
    if reply.refusal:
        raise Refused(_short(reply.refusal))
    if reply.finish_reason == "content_filter":
        raise Refused("the provider's content filter stopped the reply")
    if reply.finish_reason == "length":
        raise OutputTruncated(f"model stopped at its token limit after {reply.size} bytes")


def find_json_object(content: str) -> Any:
    """The JSON value in ``content``: the whole text, a fenced block, or the first object in prose."""
    stripped = content.strip()
    if not stripped:
        raise MalformedOutput("the model returned no content")
    try:
        found = _search(content, stripped)
    except RecursionError:
        # json's C decoder recurses per nesting level: a deeply nested reply would crash it
        raise MalformedOutput("the reply's JSON is nested too deeply to parse") from None
    if found is _NOTHING:
        raise MalformedOutput(f"no JSON object in the reply: {_short(stripped)!r}")
    return found


_NOTHING = object()


def _search(content: str, stripped: str) -> Any:
    """Whole text, then fenced blocks, then each ``{`` in prose; ``_NOTHING`` when none parses."""
    for candidate in (stripped, *_FENCE.findall(content)):
        try:
            return _unwrap(json.loads(candidate))
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for match in itertools.islice(re.finditer(r"\{", content), _MAX_OBJECT_STARTS):
        try:
            value, _ = decoder.raw_decode(content, match.start())
        except json.JSONDecodeError:
            continue
        return value
    return _NOTHING


def _unwrap(value: Any) -> Any:
    """A JSON object sent as a JSON string (``"{\\"user_id\\": 1}"``) is decoded once more."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _first_error(exc: pydantic.ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "record"
    return f"invalid user record: {where}: {err['msg']} ({exc.error_count()} errors)"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
