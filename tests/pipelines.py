"""Tiny pipelines under test, as ``py:tests.pipelines:<fn>`` targets (cwd = repository root).

Each one makes its model call through the real openai SDK (httpx2 underneath), so whatever
the interceptor serves, and however it breaks, reaches the pipeline exactly as it would in
production. Scenarios list :class:`PipelineError` as their declared clean error.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from openai import OpenAI

MODEL = "gpt-4o-mini"
"""The model every pipeline asks for (the fake provider echoes it)."""

RELEASE = threading.Event()
"""Set by a test to let :func:`stuck_outside_model` return after the runner gave up on it."""


class PipelineError(Exception):
    """The declared clean failure of these pipelines."""


def ask(text: str, *, timeout: float | None = 10.0, max_retries: int = 0) -> str:
    """One chat completion through a fresh default client; the reply's content ('' when null)."""
    client = OpenAI(timeout=timeout, max_retries=max_retries)
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def parse_reply(text: str) -> Any:
    """The reply decoded as JSON, passed on unchecked (garbage goes through)."""
    return json.loads(ask(text))


def garbage(text: str) -> dict[str, Any]:
    """Asks the model, then returns something no contract with ``user_id`` accepts."""
    return {"reply": ask(text)}


def declared_error(text: str) -> None:
    """Asks the model, then fails with the declared error."""
    ask(text)
    raise PipelineError(f"refused to handle {text!r}")


def undeclared_error(text: str) -> None:
    """Asks the model, then fails with an error nobody declared."""
    ask(text)
    raise KeyError("user_id")


def no_timeout(text: str) -> Any:
    """A client with no timeout and no retries: a silent provider makes it hang."""
    return json.loads(ask(text, timeout=None))


def stream_no_timeout(text: str) -> Any:
    """Streams the reply with no client timeout; a stalled stream makes it hang."""
    client = OpenAI(timeout=None, max_retries=0)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], stream=True
    )
    return json.loads("".join(c.choices[0].delta.content or "" for c in stream if c.choices))


def retrying(text: str) -> Any:
    """Two SDK retries (429s and 5xx are retried), then the reply decoded as JSON."""
    return json.loads(ask(text, max_retries=2))


def stuck_outside_model(text: str) -> Any:
    """Asks the model, then blocks outside any model call until :data:`RELEASE` is set."""
    reply = json.loads(ask(text))
    RELEASE.wait()
    return reply


async def async_parse_reply(text: str) -> Any:
    """Async twin of :func:`parse_reply` (the runner runs coroutine functions on a fresh loop)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(timeout=10.0, max_retries=0)
    reply = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])
    return json.loads(reply.choices[0].message.content or "")
