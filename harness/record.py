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
import codecs
import gzip
import json
import socket
import sys
import threading
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

import harness.dialects  # noqa: F401  (registers every built-in dialect)
from harness import atomic
from harness.dialects.base import dialect_for_path
from harness.errors import UsageError
from harness.redact import Redactor
from harness.sources.cassette import CASSETTE_VERSION, Interaction, load_cassette

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

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

    def add(self, interaction: dict[str, Any]) -> None:
        """Validate ``interaction`` against the cassette format and append it to the file."""
        checked = Interaction.model_validate(interaction).model_dump(exclude_none=True)
        with self._lock:
            self._interactions.append(checked)
            document = {"version": CASSETTE_VERSION, "interactions": self._interactions}
            atomic.write_text(self.path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")

    def __len__(self) -> int:
        return len(self._interactions)


class RecordingApp:
    """The ASGI app: forward, pass the reply through as it arrives, record provider calls."""

    def __init__(
        self, upstream: str, writer: CassetteWriter, redactor: Redactor, *, timeout: float = 600.0
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.writer = writer
        self.redactor = redactor
        self.timeout = timeout
        self.started = threading.Event()
        self.skipped = 0
        """Provider calls forwarded but not recorded (a reply that is neither JSON nor a stream)."""
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=30.0))
                await send({"type": "lifespan.startup.complete"})
                self.started.set()
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Message, receive: Receive, send: Send) -> None:
        assert self._client is not None, "the app serves requests only after its lifespan started"
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        body = await _read_body(receive)
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
            await _answer(send, 502, text.encode())
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
        self.writer.add({"request": request, "response": recorded})


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


def parse_sse(chunks: list[tuple[float, bytes]]) -> list[tuple[float, str | None, Any]]:
    """Server-sent events in timed byte chunks → ``(at, event, data)``; ``at``: when the event completed.

    Comment-only blocks (``: keep-alive``) are dropped; JSON data is decoded, other data kept as text.
    """
    events: list[tuple[float, str | None, Any]] = []
    buffer = ""
    decoder = _utf8_decoder()
    for at, chunk in chunks:
        buffer += decoder.decode(chunk)
        buffer = buffer.replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            event = _event(block)
            if event is not None:
                events.append((at, *event))
    tail = _event(buffer + decoder.decode(b"", final=True))
    if tail is not None:  # a stream cut without its final blank line still recorded its last event
        events.append((chunks[-1][0] if chunks else 0.0, *tail))
    return events


def _utf8_decoder() -> Any:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


def _event(block: str) -> tuple[str | None, Any] | None:
    name: str | None = None
    data: list[str] = []
    for line in block.split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if not data:
        return None
    text = "\n".join(data)
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        return name, text
    return name, decoded if isinstance(decoded, dict) else text


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Recorder:
    """The recording proxy on uvicorn: ``with Recorder(upstream, "c.json") as rec: ...rec.url...``.

    Point the pipeline's ``base_url`` at :attr:`openai_base_url` / :attr:`anthropic_base_url`;
    ``redact_headers`` and ``redact_patterns`` add to the default redaction rules.
    """

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
        self.host = "127.0.0.1"
        self.writer = CassetteWriter(Path(cassette))
        redactor = Redactor(redact_headers or (), redact_patterns or ())
        self.app = RecordingApp(upstream, self.writer, redactor, timeout=timeout)
        try:
            self._socket = socket.create_server((self.host, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {self.host}:{port}: {exc.strerror or exc}") from None
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app, loop="asyncio", lifespan="on", log_config=None, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port`` of the proxy."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` should be while recording."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What ``ANTHROPIC_BASE_URL`` should be while recording."""
        return self.url

    @property
    def recorded(self) -> int:
        """Interactions in the cassette (including any it held before)."""
        return len(self.writer)

    def start(self, timeout: float = 30.0) -> Recorder:
        """Run uvicorn in a background thread; returns once the proxy accepts requests."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.run,
                kwargs={"sockets": [self._socket]},
                name="harness-record",
                daemon=True,
            )
            self._thread.start()
            if not self.app.started.wait(timeout):
                self.stop()
                raise RuntimeError(f"the recording proxy did not start within {timeout:g}s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop uvicorn and join its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()

    def serve_forever(self) -> None:
        """Run in this thread until interrupted (Ctrl-C)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Recorder({self.url} → {self.app.upstream}, {self.writer.path})"
