"""Cassette source: replay the *content* of recorded provider replies.

Format (version 1), one JSON file::

    {"version": 1,
     "interactions": [
       {"request":  {"method": "POST", "path": "/v1/chat/completions", "body": {...}},
        "response": {"status": 200, "headers": {"content-type": "application/json"},
                     "body": {...} | null,
                     "events": [{"event": "message_start" | null, "data": {...} | "[DONE]",
                                 "at": 0.012}, ...] | null}}]}

A response carries exactly one of ``body`` (a JSON reply) or ``events`` (a server-sent
event stream; ``at`` is seconds since the response started, non-decreasing). Bodies and
streams of OpenAI Chat Completions, OpenAI Responses and Anthropic Messages are read
into a :class:`~harness.wire.Completion`: text or forced-tool arguments, finish reason,
refusal and recorded usage. Interactions whose status is not 2xx are kept in the file
(a later release replays them whole) but never serve content.

Matching, chosen with ``match``:

- ``order`` (default): model call *k* of a case gets usable interaction *k*, cycling;
- ``last_user_message``: the interaction whose recorded request has the same last user
  message (whitespace-normalised) as the incoming request; several such interactions are
  used in order; no match falls back to ``order``;
- ``fields``: the interaction whose recorded request has the same path (its dialect endpoint)
  and the same values of ``fields`` (default :data:`DEFAULT_FIELDS`) in its body, compared
  after redaction (:mod:`harness.redact`), so a request made with a different key still
  matches; several matches are used in order; no match falls back to ``order``.

Timing, chosen with ``timing``: ``none`` (default) serves the reply at once; ``recorded``
replays the recorded wait before the status line (``head_delay``) and the recorded arrival
times of a stream's events (spread over the rendered segments, see
:func:`harness.responder.recorded_timing`); ``scaled`` does the same with every time
multiplied by ``timing_scale``. Transport faults (``latency``, ``stream_stall`` …) add to it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic

import harness.dialects  # noqa: F401  (registers every built-in dialect, so paths resolve)
from harness.dialects.base import dialect_for_path
from harness.errors import ScenarioError
from harness.faults._framing import parse_frame
from harness.redact import DEFAULT_REDACTOR
from harness.sources.inline import estimate_tokens
from harness.validation import StrictModel, validate
from harness.wire import Completion, Finish, ModelRequest

CASSETTE_VERSION = 1
Match = Literal["order", "last_user_message", "fields"]
Timing = Literal["none", "recorded", "scaled"]
DEFAULT_FIELDS = ("model", "messages", "input", "system", "tools")
"""Request body fields compared by ``match: fields`` when none are given."""
_OPENAI_FINISH: dict[Any, Finish] = {"length": Finish.LENGTH, "content_filter": Finish.CONTENT_FILTER}
_ANTHROPIC_FINISH: dict[Any, Finish] = {"max_tokens": Finish.LENGTH, "refusal": Finish.REFUSAL}
_RESPONSES_FINISH: dict[Any, Finish] = {
    "max_output_tokens": Finish.LENGTH,
    "content_filter": Finish.CONTENT_FILTER,
}


class RecordedRequest(StrictModel):
    """The request as the pipeline sent it."""

    method: str = pydantic.Field("POST", description="the HTTP method")
    path: str = pydantic.Field(description="the URL path, e.g. /v1/chat/completions")
    query: str | None = pydantic.Field(None, description="the URL query string (redacted), if any")
    body: dict[str, Any] = pydantic.Field(description="the JSON request body as a mapping")


class RecordedEvent(StrictModel):
    """One server-sent event of a recorded stream."""

    event: str | None = pydantic.Field(None, description="the event: line, or null")
    data: dict[str, Any] | str = pydantic.Field(description="the JSON payload, or a raw string like [DONE]")
    at: float = pydantic.Field(0.0, ge=0, description="seconds since the response started")


class RecordedResponse(StrictModel):
    """The reply as the provider sent it."""

    status: int = pydantic.Field(ge=100, le=599, description="the HTTP status")
    head_delay: float | None = pydantic.Field(
        None, ge=0, description="seconds from the request to the status line, when recorded"
    )
    headers: dict[str, str] = pydantic.Field(default_factory=dict)
    body: dict[str, Any] | None = pydantic.Field(None, description="the JSON reply body")
    events: list[RecordedEvent] | None = pydantic.Field(None, description="the events of a stream")


class Interaction(StrictModel):
    """One request and its reply."""

    request: RecordedRequest = pydantic.Field(description="the recorded request")
    response: RecordedResponse = pydantic.Field(description="the recorded response")


class CassetteFile(StrictModel):
    """A whole cassette file."""

    version: Literal[1] = pydantic.Field(description="the cassette format version, 1")
    interactions: list[Interaction] = pydantic.Field(min_length=1, description="a list of interactions")


class CassetteSource:
    """Answers call *k* with the content of a recorded interaction (see the module docs)."""

    def __init__(
        self,
        path: str | Path,
        *,
        match: Match = "order",
        fields: Sequence[str] | None = None,
        timing: Timing = "none",
        timing_scale: float = 1.0,
    ) -> None:
        if match not in ("order", "last_user_message", "fields"):
            raise ValueError(f"expected match 'order', 'last_user_message' or 'fields'; got {match!r}")
        if timing not in ("none", "recorded", "scaled"):
            raise ValueError(f"expected timing 'none', 'recorded' or 'scaled'; got {timing!r}")
        if timing_scale < 0:
            raise ValueError(f"expected a non-negative timing_scale; got {timing_scale!r}")
        self.path = Path(path)
        self.match = match
        self.fields = tuple(fields) if fields else DEFAULT_FIELDS
        self.timing = timing
        self.timing_scale = {"none": 0.0, "recorded": 1.0, "scaled": timing_scale}[timing]
        cassette = load_cassette(self.path)
        self._replies: list[Completion] = []
        self._by_message: dict[str, list[int]] = {}
        self._by_fields: dict[str, list[int]] = {}
        for index, interaction in enumerate(cassette.interactions):
            if not 200 <= interaction.response.status < 300:
                continue
            reply = _reply(self.path, index, interaction.response)
            self._replies.append(self._timed(reply, interaction.response))
            position = len(self._replies) - 1
            key = last_user_message(interaction.request.body)
            if key is not None:
                self._by_message.setdefault(key, []).append(position)
            fields_key = self._fields_key(interaction.request.path, interaction.request.body)
            self._by_fields.setdefault(fields_key, []).append(position)
        if not self._replies:
            raise ScenarioError(str(path), "interactions", "expected at least one 2xx response; got none")

    def _timed(self, reply: Completion, response: RecordedResponse) -> Completion:
        if not self.timing_scale:
            return reply
        reply.head_delay = (response.head_delay or 0.0) * self.timing_scale
        reply.chunk_times = tuple(event.at * self.timing_scale for event in response.events or [])
        return reply

    def _fields_key(self, path: str, body: Mapping[str, Any]) -> str:
        """The redacted values of the matched fields (and the endpoint) as one canonical string."""
        dialect = dialect_for_path(path)
        endpoint = next((p for p in dialect.paths if path.endswith(p)), path) if dialect else path
        values = {name: DEFAULT_REDACTOR.json(body[name]) for name in self.fields if name in body}
        return json.dumps([endpoint, values], sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def completion(self, request: ModelRequest, rng: random.Random) -> Completion:
        """The recorded completion for this call; ``rng`` is unused: a cassette never varies."""
        candidates: Sequence[int] = range(len(self._replies))
        if self.match == "last_user_message":
            key = last_user_message(request.body)
            candidates = self._by_message.get(key, candidates) if key is not None else candidates
        elif self.match == "fields":
            candidates = self._by_fields.get(self._fields_key(request.path, request.body), candidates)
        chosen = self._replies[candidates[(request.call - 1) % len(candidates)]]
        reply = dataclasses.replace(chosen)
        if request.forced_tool and reply.tool_name:  # the recorded arguments, under the name asked for now
            reply.tool_name = request.forced_tool
        if not reply.input_tokens:
            reply.input_tokens = estimate_tokens(request.prompt_text)
        return reply

    def __len__(self) -> int:
        return len(self._replies)

    def __repr__(self) -> str:
        return f"CassetteSource({str(self.path)!r}, match={self.match!r}, timing={self.timing!r})"


def load_cassette(path: Path) -> CassetteFile:
    """Read and validate a cassette file; every problem is a one-line :class:`ScenarioError`."""
    where = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(where, "file", "cassette not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(where, "file", f"cannot read the cassette: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            where, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None
    if not isinstance(raw, dict):
        raise ScenarioError(where, "(top level)", f"expected a JSON object; got {type(raw).__name__}")
    if raw.get("version") != CASSETTE_VERSION:
        got = "nothing" if "version" not in raw else repr(raw["version"])
        raise ScenarioError(where, "version", f"expected cassette version {CASSETTE_VERSION}; got {got}")
    cassette = validate(CassetteFile, raw, where)
    for index, interaction in enumerate(cassette.interactions):
        _check_response(where, f"interactions[{index}].response", interaction.response)
    return cassette


def _check_response(where: str, field: str, response: RecordedResponse) -> None:
    if (response.body is None) == (response.events is None):
        got = "both" if response.body is not None else "neither"
        raise ScenarioError(where, field, f"expected exactly one of body or events; got {got}")
    previous = 0.0
    for index, event in enumerate(response.events or []):
        if event.at < previous:
            raise ScenarioError(
                where,
                f"{field}.events[{index}].at",
                f"expected a time at or after {previous}; got {event.at}",
            )
        previous = event.at


def _reply(path: Path, index: int, response: RecordedResponse) -> Completion:
    part = "body" if response.body is not None else "events"
    try:
        if response.body is not None:
            return completion_from_body(response.body)
        return completion_from_events([(e.event, e.data) for e in response.events or []])
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        raise ScenarioError(
            str(path),
            f"interactions[{index}].response.{part}",
            f"expected an OpenAI chat, OpenAI responses or Anthropic messages reply; {reason}",
        ) from None


def completion_from_body(body: Mapping[str, Any]) -> Completion:
    """The completion inside a recorded non-streaming reply body of any supported dialect."""
    if "choices" in body:
        return _openai_chat(body)
    if body.get("object") == "response" or "output" in body:
        return _responses(body)
    if body.get("type") == "message":
        return _anthropic(body)
    raise ValueError(f"got a body with keys {sorted(body)}")


def _openai_chat(body: Mapping[str, Any]) -> Completion:
    choices = body["choices"]
    if not choices:
        raise ValueError("got 'choices': []")
    choice = choices[0]
    message = choice.get("message") or {}
    usage = body.get("usage") or {}
    completion = Completion(
        text=message.get("content"),
        finish=_OPENAI_FINISH.get(choice.get("finish_reason"), Finish.STOP),
        input_tokens=usage.get("prompt_tokens", 0),
        output_tokens=usage.get("completion_tokens", 0),
        reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
    )
    calls = message.get("tool_calls") or []
    if calls:
        completion.text = calls[0]["function"]["arguments"]
        completion.tool_name = calls[0]["function"]["name"]
    return _with_refusal(completion, message.get("refusal"))


def _responses(body: Mapping[str, Any]) -> Completion:
    texts: list[str] = []
    refusal: str | None = None
    completion = Completion(text=None)
    for item in body.get("output") or []:
        if item.get("type") == "function_call" and completion.tool_name is None:
            completion.tool_name, completion.text = item["name"], item["arguments"]
        parts = item.get("content") or [] if item.get("type") == "message" else []
        for part in parts:
            if part.get("type") == "output_text":
                texts.append(part["text"])
            elif part.get("type") == "refusal":
                refusal = part["refusal"]
    if completion.tool_name is None:
        completion.text = "".join(texts) if texts else None
    reason = (body.get("incomplete_details") or {}).get("reason")
    completion.finish = _RESPONSES_FINISH.get(reason, Finish.STOP)
    usage = body.get("usage") or {}
    completion.input_tokens = usage.get("input_tokens", 0)
    completion.output_tokens = usage.get("output_tokens", 0)
    completion.reasoning_tokens = (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return _with_refusal(completion, refusal)


def _anthropic(body: Mapping[str, Any]) -> Completion:
    texts = [block["text"] for block in body["content"] if block.get("type") == "text"]
    tools = [block for block in body["content"] if block.get("type") == "tool_use"]
    usage = body.get("usage") or {}
    finish = _ANTHROPIC_FINISH.get(body.get("stop_reason"), Finish.STOP)
    completion = Completion(
        text="".join(texts) if texts else None,
        finish=finish,
        input_tokens=usage.get("input_tokens", 0),
        output_tokens=usage.get("output_tokens", 0),
    )
    if tools:
        completion.tool_name = tools[0]["name"]
        completion.text = json.dumps(tools[0]["input"], ensure_ascii=False, separators=(",", ":"))
    if finish is Finish.REFUSAL:
        completion.refusal, completion.text = completion.text or "", None
    return completion


def completion_from_events(events: list[tuple[str | None, Any]]) -> Completion:
    """The completion a recorded stream adds up to (OpenAI chat, OpenAI Responses or Anthropic)."""
    names = {name for name, _ in events if name}
    if any(name.startswith("response.") for name in names):
        return _responses_stream(events)
    if names & {"message_start", "content_block_delta", "message_delta"}:
        return _anthropic_stream(events)
    return _openai_chat_stream(events)


def _openai_chat_stream(events: list[tuple[str | None, Any]]) -> Completion:
    texts: list[str] = []
    arguments: list[str] = []
    completion = Completion(text=None)
    refusal: list[str] = []
    chunks = [data for _, data in events if isinstance(data, dict)]
    if not chunks:
        raise ValueError("got a stream without JSON chunks")
    for chunk in chunks:
        if chunk.get("usage"):
            completion.input_tokens = chunk["usage"].get("prompt_tokens", 0)
            completion.output_tokens = chunk["usage"].get("completion_tokens", 0)
            details = chunk["usage"].get("completion_tokens_details") or {}
            completion.reasoning_tokens = details.get("reasoning_tokens") or 0
        for choice in chunk["choices"][:1]:
            delta = choice.get("delta") or {}
            texts.append(delta.get("content") or "")
            refusal.append(delta.get("refusal") or "")
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                completion.tool_name = completion.tool_name or function.get("name")
                arguments.append(function.get("arguments") or "")
            if choice.get("finish_reason"):
                completion.finish = _OPENAI_FINISH.get(choice["finish_reason"], Finish.STOP)
    completion.text = "".join(arguments) if completion.tool_name else "".join(texts) or None
    return _with_refusal(completion, "".join(refusal) or None)


def _anthropic_stream(events: list[tuple[str | None, Any]]) -> Completion:
    texts: list[str] = []
    arguments: list[str] = []
    completion = Completion(text=None)
    for name, data in events:
        if not isinstance(data, dict):
            continue
        if name == "message_start":
            completion.input_tokens = data["message"].get("usage", {}).get("input_tokens", 0)
        elif name == "content_block_start" and data["content_block"].get("type") == "tool_use":
            completion.tool_name = completion.tool_name or data["content_block"]["name"]
        elif name == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                texts.append(delta.get("text", ""))
            elif delta["type"] == "input_json_delta":
                arguments.append(delta.get("partial_json", ""))
        elif name == "message_delta":
            completion.finish = _ANTHROPIC_FINISH.get(data["delta"].get("stop_reason"), Finish.STOP)
            completion.output_tokens = (data.get("usage") or {}).get("output_tokens", 0)
    completion.text = "".join(arguments) if completion.tool_name else "".join(texts) or None
    if completion.finish is Finish.REFUSAL:
        completion.refusal, completion.text = completion.text or "", None
    return completion


def _responses_stream(events: list[tuple[str | None, Any]]) -> Completion:
    final = [
        data["response"]
        for name, data in events
        if name in {"response.completed", "response.incomplete", "response.failed"} and isinstance(data, dict)
    ]
    if final:
        return _responses(final[-1])
    deltas = [data.get("delta", "") for name, data in events if name == "response.output_text.delta"]
    return Completion(text="".join(deltas) or None)


def _with_refusal(completion: Completion, refusal: str | None) -> Completion:
    if refusal:
        completion.refusal, completion.text, completion.finish = refusal, None, Finish.REFUSAL
    return completion


def parse_sse(chunks: list[tuple[float, bytes]]) -> list[tuple[float, str | None, Any]]:
    """Server-sent events in timed byte chunks → ``(at, event, data)``; ``at``: when the event completed.

    Comment-only blocks (``: keep-alive``) are dropped; a JSON object is decoded, other data kept as text.
    """
    events: list[tuple[float, str | None, Any]] = []
    buffer = b""
    for at, chunk in chunks:
        buffer = (buffer + chunk).replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            _add_event(events, at, frame)
    # A stream cut without its final blank line still recorded its last event.
    _add_event(events, chunks[-1][0] if chunks else 0.0, buffer)
    return events


def _add_event(events: list[tuple[float, str | None, Any]], at: float, frame: bytes) -> None:
    event = parse_frame(frame)
    if event is None:
        return
    data = event.data
    if not isinstance(data, dict | str):  # JSON, but not an object: the cassette keeps it as text
        data = json.dumps(data, ensure_ascii=False)
    events.append((at, event.event, data))


def last_user_message(body: Mapping[str, Any]) -> str | None:
    """The last user message of a chat, Responses or Messages request body, whitespace-normalised."""
    turns = body.get("messages")
    if turns is None:
        turns = body.get("input")
    if isinstance(turns, str):
        return " ".join(turns.split())
    if not isinstance(turns, list):
        return None
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get("role") == "user":
            return " ".join(_text_of(turn.get("content")).split())
    return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
