"""The demo pipelines as an HTTP service: the target for ``harness run --target-cmd``.

A plain ASGI app. ``POST /extract/naive`` and ``POST /extract/hardened`` take
``{"input": "<sign-up sentence>"}`` and answer the user record as JSON (200). The hardened
pipeline's :class:`~harness.demo.errors.ExtractionError` becomes a declared clean error,
``422 {"error": "<ErrorType>", "detail": "…"}``; anything else the pipeline raises becomes
``500`` with the same shape (an undeclared error). ``GET /health`` answers ``{"status": "ok"}``.

Like most sync Python services it runs each pipeline call on one of a fixed number of
worker threads (:data:`THREADS`, ``--threads``): a call that hangs holds its thread, and
once all are held every request queues — the latency collapse a load test exposes. The
hardened pipeline runs under :data:`harness.demo.hardened.SERVICE_POLICY` here (short
per-attempt timeout, retry budget); the naive one as written.

The pipelines call the model through the openai SDK, so ``OPENAI_BASE_URL`` decides where
they go; the harness points it at its fake provider. Run it with::

    python -m harness.demo.service --port 8765
    uvicorn harness.demo.service:app --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from harness.demo.errors import ExtractionError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 1 << 20
"""Largest request body accepted (bytes): an input is one sentence."""
THREADS = 4
"""Worker threads running pipeline calls (``--threads``, or ``HARNESS_DEMO_THREADS``)."""

_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _workers() -> concurrent.futures.ThreadPoolExecutor:
    """The service's worker threads, created on first use."""
    global _pool
    if _pool is None:
        threads = int(os.environ.get("HARNESS_DEMO_THREADS", THREADS))
        _pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="pipeline")
    return _pool


def _pipelines() -> dict[str, Callable[[str], Any]]:
    from harness.demo import hardened, naive

    return {"/extract/naive": naive.extract, "/extract/hardened": hardened.extract}


async def app(scope: Message, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    method, path = scope["method"], scope["path"].rstrip("/") or "/"
    if path == "/health" and method == "GET":
        await _reply(send, 200, {"status": "ok"})
        return
    pipeline = _pipelines().get(path)
    if pipeline is None:
        await _reply(send, 404, {"error": "NotFound", "detail": f"nothing served at {path}"})
        return
    if method != "POST":
        await _reply(send, 405, {"error": "MethodNotAllowed", "detail": f"{method} {path}: use POST"})
        return
    text, problem = _input_of(await _body(receive))
    if problem is not None:
        await _reply(send, 400, {"error": "BadRequest", "detail": problem})
        return
    status, answer = await asyncio.get_running_loop().run_in_executor(_workers(), _run, pipeline, text)
    await _reply(send, status, answer)


def _run(pipeline: Callable[[str], Any], text: str) -> tuple[int, Any]:
    """Call the pipeline; map its outcome to a status and a JSON body."""
    try:
        return 200, pipeline(text)
    except ExtractionError as exc:
        return 422, {"error": type(exc).__name__, "detail": str(exc)}
    except Exception as exc:  # the naive pipeline's crashes must reach the caller, typed
        return 500, {"error": type(exc).__name__, "detail": str(exc)[:500]}


def _input_of(body: bytes | None) -> tuple[str, str | None]:
    if body is None:
        return "", f"request body over {MAX_BODY} bytes"
    try:
        data = json.loads(body)
    except ValueError:
        return "", 'expected a JSON body {"input": "<text>"}'
    if not isinstance(data, dict) or not isinstance(data.get("input"), str):
        return "", 'expected a JSON body {"input": "<text>"}'
    return data["input"], None


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send: Send, status: int, value: Any) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _pipelines()  # import the SDK before the first request, not during it
            from harness.demo import hardened

            hardened.use_policy(hardened.SERVICE_POLICY)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main(argv: list[str] | None = None) -> None:
    """``python -m harness.demo.service --port P [--host H]``: serve the demo pipelines on uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m harness.demo.service", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"worker threads (default {THREADS})")
    args = parser.parse_args(argv)
    os.environ["HARNESS_DEMO_THREADS"] = str(args.threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
