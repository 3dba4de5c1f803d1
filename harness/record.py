"""The recording proxy: forwards a pipeline's provider calls upstream and writes them to a cassette.

:class:`Recorder` runs an ASGI app (:class:`RecordingApp`) on uvicorn, bound to 127.0.0.1.
Every request is forwarded to the upstream with httpx, its reply passed back chunk by chunk
as it arrives (streams stay streams), and each chunk's arrival time noted relative to the
response start. When a provider call (a ``POST`` with a JSON body on a path some dialect
serves) completes, it is redacted (:mod:`harness.redact`) and appended to the cassette (format
version 1 of :mod:`harness.sources.cassette`); the file is rewritten atomically after every
interaction, so it is a valid cassette at every moment. Other requests are forwarded but not
recorded. An existing cassette is appended to.

The real credentials go upstream and nowhere else: they are never logged, and the cassette
only ever receives the redacted request and reply.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import httpx

import harness.dialects  # noqa: F401  (registers every built-in dialect)
from harness import atomic
from harness.dialects.base import dialect_for_path
from harness.errors import UsageError
from harness.redact import Redactor
from harness.serving import LifespanApp, Message, Receive, Send, UvicornService, answer, read_body
from harness.sources.cassette import CASSETTE_VERSION, Interaction, load_cassette, parse_sse

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1)."""
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
_NOT_RECORDED = HOP_BY_HOP | {"content-length", "content-encoding"}


class CassetteWriter:
    """Appends interactions to a cassette file, rewriting it atomically each time (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._interactions: list[dict[str, Any]] = []
        if path.exists():
            existing = load_cassette(path)
            self._interactions = [i.model_dump(exclude_none=True) for i in existing.interactions]
        try:  # refuse now what would fail at the first recorded call, in the server thread
            path.parent.mkdir(parents=True, exist_ok=True)
            writable = os.access(path.parent, os.W_OK)
        except OSError as exc:
            raise UsageError(f"--cassette {path}: cannot write there: {exc.strerror or exc}") from None
        if not writable:
            raise UsageError(f"--cassette {path}: cannot write there: permission denied")

    def add(self, interaction: dict[str, Any]) -> None:
        """Validate ``interaction`` against the cassette format and append it to the file."""
        checked = Interaction.model_validate(interaction).model_dump(exclude_none=True)
        with self._lock:
            self._interactions.append(checked)
            document = {"version": CASSETTE_VERSION, "interactions": self._interactions}
            atomic.write_text(self.path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")

    def __len__(self) -> int:
        return len(self._interactions)


class RecordingApp(LifespanApp):
    """The ASGI app: forward, pass the reply through as it arrives, record provider calls."""

    def __init__(
        self, upstream: str, writer: CassetteWriter, redactor: Redactor, *, timeout: float = 600.0
    ) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.writer = writer
        self.redactor = redactor
        self.timeout = timeout
        self.skipped = 0
        """Provider calls forwarded but not recorded (a reply that is neither JSON nor a stream)."""
        self._client: httpx.AsyncClient | None = None

    async def startup(self) -> None:
        """Open the upstream client."""
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=30.0))

    async def shutdown(self) -> None:
        """Close the upstream client."""
        if self._client is not None:
            await self._client.aclose()

    async def http(self, scope: Message, receive: Receive, send: Send) -> None:
        """Forward one request and pass its reply back; record it if it is a provider call."""
        assert self._client is not None, "the app serves requests only after its lifespan started"
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        body = await read_body(receive) or b""
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in _NOT_FORWARDED
        ]
        # Plain bytes from upstream: what is passed on is also what can be read and recorded.
        headers.append(("accept-encoding", "identity"))
        url = f"{self.upstream}{path}" + (f"?{query}" if query else "")
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            request = self._client.build_request(method, url, headers=headers, content=body)
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            text = f"harness record: upstream {self.upstream} failed: {type(exc).__name__}"
            await answer(send, 502, text.encode(), "text/plain; charset=utf-8")
            return
        head_delay = loop.time() - started
        chunks: list[tuple[float, bytes]] = []
        try:
            out_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in HOP_BY_HOP | {"content-length"}
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out_headers}
            )
            body_start = loop.time()
            async for chunk in response.aiter_raw():
                chunks.append((loop.time() - body_start, chunk))
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await response.aclose()
        if method == "POST" and dialect_for_path(path) is not None:
            # Written before the reply ends: once a client has read a whole reply, the cassette holds it.
            await asyncio.to_thread(self._record, path, query, body, response, head_delay, chunks)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _record(
        self,
        path: str,
        query: str,
        body: bytes,
        response: httpx.Response,
        head_delay: float,
        chunks: list[tuple[float, bytes]],
    ) -> None:
        try:
            request_body = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            request_body = None
        recorded = _recorded_response(response, head_delay, chunks, self.redactor)
        if not isinstance(request_body, dict) or recorded is None:
            self.skipped += 1
            print(f"harness record: not recorded: {path} (not a JSON request and reply)", file=sys.stderr)
            return
        request: dict[str, Any] = {"method": "POST", "path": path, "body": self.redactor.json(request_body)}
        if query:
            request["query"] = self.redactor.query(query)
        try:
            self.writer.add({"request": request, "response": recorded})
        except OSError as exc:
            print(f"harness record: not recorded: {path} (cannot write the cassette: {exc})", file=sys.stderr)


def _recorded_response(
    response: httpx.Response, head_delay: float, chunks: list[tuple[float, bytes]], redactor: Redactor
) -> dict[str, Any] | None:
    """The reply in cassette form, redacted; None when it is neither JSON nor an event stream."""
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        if name.lower() not in _NOT_RECORDED:
            headers[name.lower()] = f"{headers[name.lower()]}, {value}" if name.lower() in headers else value
    encoding = response.headers.get("content-encoding", "identity").lower()
    if encoding not in {"identity", ""}:  # upstream compressed anyway: one block, timing of the last chunk
        chunks = [(chunks[-1][0] if chunks else 0.0, _decompress(b"".join(c for _, c in chunks), encoding))]
    recorded: dict[str, Any] = {
        "status": response.status_code,
        "head_delay": round(head_delay, 6),
        "headers": redactor.headers(headers),
    }
    if "text/event-stream" in response.headers.get("content-type", ""):
        events = [
            {"event": name, "data": redactor.json(data), "at": round(at, 6)}
            for at, name, data in parse_sse(chunks)
        ]
        return {**recorded, "events": events}
    try:
        body = json.loads(b"".join(c for _, c in chunks))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return {**recorded, "body": redactor.json(body)} if isinstance(body, dict) else None


def _decompress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    return data


class Recorder(UvicornService):
    """The recording proxy on uvicorn: ``with Recorder(upstream, "c.json") as rec: ...rec.url...``.

    Point the pipeline's ``base_url`` at :attr:`openai_base_url` / :attr:`anthropic_base_url`;
    ``redact_headers`` and ``redact_patterns`` add to the default redaction rules.
    """

    what = "the recording proxy"
    thread_name = "harness-record"
    app: RecordingApp

    def __init__(
        self,
        upstream: str,
        cassette: str | Path,
        *,
        port: int = 0,
        redact_headers: list[str] | None = None,
        redact_patterns: list[str] | None = None,
        timeout: float = 600.0,
    ) -> None:
        parsed = httpx.URL(upstream)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise UsageError(f"--upstream {upstream!r}: expected an http:// or https:// URL")
        self.writer = CassetteWriter(Path(cassette))
        redactor = Redactor(redact_headers or (), redact_patterns or ())
        super().__init__(RecordingApp(upstream, self.writer, redactor, timeout=timeout), "127.0.0.1", port)

    @property
    def recorded(self) -> int:
        """Interactions in the cassette (including any it held before)."""
        return len(self.writer)

    def __repr__(self) -> str:
        return f"Recorder({self.url} → {self.app.upstream}, {self.writer.path})"
