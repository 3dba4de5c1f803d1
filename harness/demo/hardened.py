"""The extractor after the post-mortem: every failure it understands ends in a typed error.

What changed against :mod:`harness.demo.naive`, and the incident behind each line:

- one client per process, 10 s read / 2 s connect timeout, 3 retries (the 15 s spikes,
  the 429 storm); as a service under load (:data:`SERVICE_POLICY`, set by
  :mod:`harness.demo.service`) a 1 s per-attempt timeout, so a stalled call frees its
  worker thread before the callers time out, and a process-wide :class:`RetryBudget`, so a
  429 storm is not multiplied by retries;
- streaming with a byte cap, so a 16 MB reply is dropped after 256 KiB instead of being
  parsed (the OOM);
- a wall-clock deadline on the whole extraction, checked on every read of the reply's bytes —
  ``: keep-alive`` comments included, which the SDK drops before any chunk reaches us —
  so a stream held open by comments ends in :class:`ModelTimeout` (the per-read timeout
  never fires on it, and httpx has no total timeout);
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

import contextvars
import email.utils
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import pydantic
from openai import OpenAI
from openai.types.chat import ChatCompletionChunk

from harness.case import CURRENT_CASE
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
    "DEFAULT_POLICY",
    "MAX_REPLY_BYTES",
    "MAX_RETRIES",
    "MODEL",
    "SERVICE_POLICY",
    "TIMEOUT",
    "ExtractionError",
    "MalformedOutput",
    "ModelTimeout",
    "ModelUnavailable",
    "OutputTooLarge",
    "OutputTruncated",
    "Policy",
    "Refused",
    "RetryBudget",
    "client",
    "extract",
    "find_json_object",
    "use_policy",
]

MODEL = "gpt-4o-mini"
"""The model the extractor asks."""
MAX_REPLY_BYTES = 256 * 1024
"""Reply content past this many bytes (UTF-8) aborts the stream: a user record is ~200 bytes."""
DEADLINE = 30.0
"""Seconds one extraction may take end to end, checked on every read of the reply's bytes."""
TIMEOUT = httpx2.Timeout(10.0, connect=2.0)
"""Per-request timeouts: a spike past 10 s is cut and retried rather than waited out."""
MAX_RETRIES = 3
"""SDK retries (429, 5xx, timeouts, dropped connections) before giving up: 4 attempts at most."""


class RetryBudget:
    """Retries as a share of calls, process-wide: each call earns ``ratio`` retries, each retry spends one.

    Per-call retry limits multiply under load: when most calls fail (a 429 storm), every
    caller retrying three times quadruples the traffic hitting an overloaded provider. A
    budget (Finagle's and gRPC's retry throttling) keeps retries to about ``ratio`` of the
    calls, plus a ``reserve`` for quiet periods, and fails fast once it is spent.
    """

    def __init__(self, ratio: float = 0.1, reserve: float = 20.0) -> None:
        self.ratio = ratio
        self.reserve = reserve
        self._tokens = reserve
        self._lock = threading.Lock()

    def grant(self, wanted: int) -> int:
        """Credit one call, then reserve up to ``wanted`` retries for it; the number granted."""
        with self._lock:
            self._tokens = min(self.reserve, self._tokens + self.ratio)
            granted = max(0, min(wanted, int(self._tokens)))
            self._tokens -= granted
            return granted

    def refund(self, unused: int) -> None:
        """Give back retries a call was granted but did not use."""
        if unused > 0:
            with self._lock:
                self._tokens = min(self.reserve, self._tokens + unused)


@dataclass(frozen=True)
class Policy:
    """How an extraction bounds its model calls: per-attempt timeout, overall deadline, retries, budget."""

    timeout: httpx2.Timeout = field(default_factory=lambda: TIMEOUT)
    deadline: float = DEADLINE
    max_retries: int = MAX_RETRIES
    budget: RetryBudget | None = None


DEFAULT_POLICY = Policy()
"""One caller at a time (a job, a test): generous timeouts, three retries each."""
SERVICE_POLICY = Policy(timeout=httpx2.Timeout(1.0, connect=1.0), deadline=4.0, budget=RetryBudget(0.1, 20.0))
"""Many callers at once: a stalled call is cut after 1 s without a byte (a healthy one starts well under a
second) so it frees its worker thread, the whole extraction stays under its callers' 5 s,
and retries are budgeted to about 10 % of calls."""

_policy = DEFAULT_POLICY


def use_policy(policy: Policy) -> None:
    """Make ``policy`` the process's extraction policy (the demo service sets :data:`SERVICE_POLICY`)."""
    global _policy
    _policy = policy


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
            http = openai.DefaultHttpx2Client(event_hooks={"response": [_refuse_waits_past_deadline]})
            _client = OpenAI(timeout=TIMEOUT, max_retries=MAX_RETRIES, http_client=http)
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
    policy = _policy
    reply = _stream_reply(text, _now() + policy.deadline, policy)
    _check_finish(reply)
    data = find_json_object(reply.content)
    try:
        record = UserRecord.model_validate(data, strict=True)
    except pydantic.ValidationError as exc:
        raise MalformedOutput(_first_error(exc)) from None
    return record.model_dump(mode="json")


def _stream_reply(text: str, deadline: float, policy: Policy) -> Reply:
    """Stream the completion; a stream that breaks mid-body is asked again within the attempt budget.

    The SDK retries only the initial send, so a reply cut mid-stream would otherwise be
    lost. SDK retries and re-asks share one budget of ``MAX_RETRIES + 1`` model calls.
    """
    attempts = policy.max_retries + 1
    while True:
        try:
            return _stream_once(text, deadline, attempts - 1, policy)
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


def _stream_once(text: str, deadline: float, retries: int, policy: Policy) -> Reply:
    """One streamed completion, with the byte cap enforced chunk by chunk and the deadline read by read."""
    granted = policy.budget.grant(retries) if policy.budget is not None else retries
    token = _CALL_DEADLINE.set(deadline)
    try:
        stream = (
            client()
            .with_options(max_retries=granted, timeout=policy.timeout)
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
    except openai.APITimeoutError as exc:
        _refund(policy, granted, exc.request)
        raise ModelTimeout(f"the model API timed out ({granted} retries)") from None
    except openai.APIStatusError as exc:
        _refund(policy, granted, exc.request)
        raise ModelUnavailable(f"model API answered {exc.status_code}: {_short(exc.message)}") from None
    except openai.APIConnectionError as exc:
        _refund(policy, granted, exc.request)
        raise ModelUnavailable(f"could not reach the model API ({granted} retries)") from None
    finally:
        _CALL_DEADLINE.reset(token)
    used = _refund(policy, granted, stream.response.request) + 1
    _bound(stream.response, deadline, policy.deadline)
    with stream:
        reply = _read(stream, used)
    if reply.finish_reason is None and not reply.refusal:
        raise _BrokenStream("the reply stream ended before the model finished", used)
    return reply


def _refund(policy: Policy, granted: int, request: httpx2.Request) -> int:
    """The retries the SDK took for ``request``; the granted ones it did not take go back to the budget."""
    taken = int(request.headers.get("x-stainless-retry-count", "0"))
    if policy.budget is not None:
        policy.budget.refund(granted - taken)
    return taken


_CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
"""The deadline of the extraction whose model call is in flight on this thread."""


def _refuse_waits_past_deadline(response: httpx2.Response) -> None:
    """Tell the SDK not to retry when the provider's ``Retry-After`` would outlast the deadline.

    The SDK honours a ``Retry-After`` of up to two minutes; sleeping 2 x 30 s on a 429 storm
    blows a 30 s deadline long before the deadline is looked at again. Failing fast with
    :class:`ModelUnavailable` is what the caller can act on.
    """
    deadline = _CALL_DEADLINE.get()
    wait = _retry_after(response.headers)
    if deadline is not None and wait is not None and _now() + wait > deadline:
        response.headers["x-should-retry"] = "false"


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the provider asks to wait: ``retry-after-ms``, ``retry-after`` seconds or HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000.0
        except ValueError:
            return None
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if email.utils.parsedate_tz(value) else None
        return None if when is None else when.timestamp() - time.time()


def _now() -> float:
    """The deadline's clock: monotonic seconds, plus the waits a harness case accounted without sleeping.

    Outside the harness (and over the wire) this is ``time.monotonic()``. In-process the
    harness may play injected waits faster than real time (``time_scale`` 0: a 5 s gap
    between keep-alive comments takes no time at all) and adds the seconds it skipped to
    the case's clock; counting them keeps the deadline in the time the scenario describes.
    """
    case = CURRENT_CASE.get()
    return time.monotonic() + (case.skipped if case is not None else 0.0)


class _DeadlineBody(httpx2.SyncByteStream):
    """A response body that raises :class:`ModelTimeout` on the first read past the deadline."""

    def __init__(self, body: httpx2.SyncByteStream, deadline: float, limit: float) -> None:
        self._body = body
        self._deadline = deadline
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        for data in self._body:
            if _now() > self._deadline:
                raise ModelTimeout(f"no complete reply within {self._limit:g}s")
            yield data

    def close(self) -> None:
        """Close the wrapped body (releases the connection)."""
        self._body.close()


def _bound(response: httpx2.Response, deadline: float, limit: float) -> None:
    """Check ``deadline`` on every read of ``response``'s body, before the SDK decodes the bytes.

    The SDK's SSE decoder swallows comment lines, so a stream kept alive by ``: keep-alive``
    yields no chunk the loop in :func:`_read` could check the clock on; the body's byte
    stream sees every read. A watchdog thread closing the response instead would race the
    reading thread and never fire under a harness that plays the stall in no real time.
    """
    if isinstance(response.stream, httpx2.SyncByteStream):
        response.stream = _DeadlineBody(response.stream, deadline, limit)


def _read(stream: openai.Stream[ChatCompletionChunk], used: int) -> Reply:
    """Accumulate the stream's deltas; mid-stream failures become typed errors or a broken stream.

    The deadline is not checked here: :func:`_bound` checks it on every read of the body.
    """
    reply = Reply()
    try:
        for chunk in stream:
            for choice in chunk.choices or ():
                _add_delta(reply, choice.delta.content, choice.delta.refusal)
                reply.finish_reason = choice.finish_reason or reply.finish_reason
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
