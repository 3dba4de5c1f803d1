"""A bare ASGI app answering every POST with one fixed reply: the baseline ``benchmarks/server.py`` runs.

It does the least an HTTP provider can do — read the request body, send fixed bytes — so
the difference to ``harness serve`` on the same uvicorn is the harness's own work. A
request whose body says ``"stream": true`` gets a fixed SSE stream, one ASGI body message
(one socket write) per event; any other POST gets a fixed JSON body with a content-length.

The reply comes from the JSON file named by ``BARE_APP_REPLY`` (``{"headers": [[k, v], ...],
"json": "<body>", "stream": ["<event>", ...]}``), which the benchmark fills with what the
harness served, so both arms send the same bytes; without it a built-in chat completion
and a 20-event stream are served. Run it as::

    python -m uvicorn benchmarks.bare_app:app --http h11 --loop asyncio --port 8001
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STREAM_MARKERS = (b'"stream":true', b'"stream": true')
"""How a streaming request body announces itself (compact or default ``json.dumps``)."""

_CONTENT = '{"user_id":1815,"name":"Ada Lovelace","email":"ada@example.com","plan":"pro"}'
_DEFAULT_JSON = json.dumps(
    {
        "id": "chatcmpl-bare",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _CONTENT},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    },
    separators=(",", ":"),
)


def _default_stream() -> list[str]:
    """A 20-event chat stream: role, 17 content deltas, finish, ``[DONE]``."""
    pieces = [_CONTENT[i : i + 5] for i in range(0, 85, 5)]

    def event(delta: dict[str, str], finish: str | None = None) -> str:
        chunk = {
            "id": "chatcmpl-bare",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n"

    role = event({"role": "assistant", "content": ""})
    return [role, *(event({"content": p}) for p in pieces), event({}, "stop"), "data: [DONE]\n\n"]


class Reply:
    """The fixed reply: headers, a JSON body and the stream's events, all pre-encoded."""

    def __init__(self, headers: list[tuple[str, str]], body: str, events: list[str]) -> None:
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self.body = body.encode()
        self.events = [e.encode() for e in events]
        self.json_headers = [
            *self.headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        self.stream_headers = [*self.headers, (b"content-type", b"text/event-stream; charset=utf-8")]

    @classmethod
    def load(cls, path: str | None) -> Reply:
        """The reply in the JSON file at ``path``, or the built-in one."""
        if not path:
            return cls([], _DEFAULT_JSON, _default_stream())
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls([(str(k), str(v)) for k, v in data["headers"]], data["json"], data["stream"])


REPLY = Reply.load(os.environ.get("BARE_APP_REPLY"))


async def app(scope: Message, receive: Receive, send: Send) -> None:
    """The ASGI entry point: lifespan acknowledged, every POST answered with :data:`REPLY`."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = await _read_body(receive)
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
    elif any(marker in body for marker in STREAM_MARKERS):
        await send({"type": "http.response.start", "status": 200, "headers": REPLY.stream_headers})
        for event in REPLY.events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": REPLY.json_headers})
        await send({"type": "http.response.body", "body": REPLY.body, "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
