"""What the harness's two uvicorn servers share: the bound socket, the thread, the plain ASGI replies.

:class:`UvicornService` is the lifecycle of the fake provider (:class:`harness.server.ProviderServer`)
and of the recording proxy (:class:`harness.record.Recorder`): the socket is bound at
construction (so :attr:`~UvicornService.url` is known at once, port 0 picks a free one),
then uvicorn runs in a background thread (``with``) or in the foreground (the CLI).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any, Self

import uvicorn

from harness.errors import UsageError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class LifespanApp:
    """An ASGI app that runs :meth:`startup` / :meth:`shutdown` in its lifespan and serves :meth:`http`."""

    def __init__(self) -> None:
        self.started = threading.Event()
        """Set once the app's lifespan has started (the server is about to accept)."""

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)

    async def startup(self) -> None:
        """Prepare, on the server's event loop, before the first request."""

    async def shutdown(self) -> None:
        """Clean up, on the server's event loop, after the last request."""

    async def http(self, scope: Message, receive: Receive, send: Send) -> None:
        """Answer one HTTP request."""
        raise NotImplementedError

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
                self.started.set()
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


class UvicornService:
    """An ASGI app on uvicorn, on a socket bound at construction; ``with`` runs it in a thread."""

    what = "the server"
    """What the start error calls it."""
    thread_name = "harness-serve"

    def __init__(self, app: LifespanApp, host: str, port: int, **config: Any) -> None:
        self.app = app
        self.host = host
        self._socket = listen(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                loop="asyncio",
                lifespan="on",
                log_config=None,
                log_level="warning",
                access_log=False,
                **config,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` (or ``OpenAI(base_url=...)``) should be."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What ``ANTHROPIC_BASE_URL`` (or ``Anthropic(base_url=...)``) should be."""
        return self.url

    def start(self, timeout: float = 30.0) -> Self:
        """Run uvicorn in a background thread; returns once the app has started."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        if not self.app.started.wait(timeout) or not self._thread.is_alive():
            self.stop()
            raise RuntimeError(f"{self.what} did not start within {timeout:g}s")
        return self

    def release(self) -> None:
        """Called first on :meth:`stop`: end what would keep the server from stopping (nothing here)."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop uvicorn and join its thread."""
        self.release()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()

    def serve_forever(self) -> None:
        """Run uvicorn in this thread until interrupted (Ctrl-C)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), so the port is known before uvicorn runs."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body, or None past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def answer(send: Send, status: int, body: bytes, content_type: str) -> None:
    """A whole response: status, content type and length, body."""
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
