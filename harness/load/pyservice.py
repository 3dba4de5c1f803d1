"""A ``py:package.module:function`` target served over HTTP in its own process, for load runs.

A load run must not call the pipeline inside the Locust process: gevent's monkey-patching
would change how it behaves, its memory would mix with the load generator's, and an OOM
kill would take the harness down with it. So the harness serves the function behind a
small ASGI app on uvicorn (127.0.0.1, a free port), launched with ``OPENAI_BASE_URL`` /
``ANTHROPIC_BASE_URL`` pointing at the fake provider and watched like any launched
command (process-tree RSS, memory cap, crash and OOM detection: :mod:`harness.process`).

The wire contract is the one of every service target (:mod:`harness.targets_wire`):

- ``POST <any path>`` with ``{"input": <value>}`` → ``200`` and the function's return value
  as JSON (a pydantic model is dumped in JSON mode; anything JSON cannot carry becomes its
  ``str``), so the harness checks exactly what the function returned against the contract;
- the function raises → ``500 {"error": "<ClassName>", "exception": "<module>:<QualName>",
  "mro": ["<module>:<QualName>", …], "detail": "<message>"}``. ``error`` is what the wire
  contract matches against ``allowed_errors`` by name; ``exception`` and ``mro`` are the
  dotted class paths (the form scenarios use, ``harness.demo.errors:ExtractionError``), so
  :func:`declared` can classify subclasses without importing the pipeline's modules;
- ``GET /health`` → ``200 {"status": "ok"}``.

Case pins pass through: a request carrying ``x-harness-case: <seed>-<case>`` has every
model call the function makes while serving it (to the fake provider's address only)
carry the same header, so the provider serves that case's faults whatever the arrival
order — which is what makes a load run's fault stream a function of the seed and the
worker and user that sent the request (:func:`forward_case_pins`; httpx and httpx2 clients).

Sync functions run in a thread pool (:data:`DEFAULT_THREADS` threads, as FastAPI serves sync
endpoints), coroutine functions on the server's event loop. Run it by hand with::

    python -m harness.load.pyservice py:harness.demo.hardened:extract --port 8766
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextvars
import functools
import importlib
import inspect
import json
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import UsageError
from harness.importing import ObjectImportError, import_object, split_spec
from harness.serving import LifespanApp, Message, Receive, Send, answer, read_body
from harness.targets_wire import HttpTarget, free_port

if TYPE_CHECKING:
    from harness.contract import Contract

DEFAULT_THREADS = 40
"""Worker threads for a sync pipeline: Starlette/FastAPI's default for sync endpoints."""
MAX_BODY = 16 << 20
"""Largest request body accepted (bytes)."""
DETAIL_CHARS = 500
"""Characters of the exception message kept in an error body."""
HOST = "127.0.0.1"
CASE_HEADER = "x-harness-case"
"""The fake provider's case-pin header (``<seed>-<case>``), passed from the request to its model calls."""
PROVIDER_URL_VARIABLES = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")

_CASE_PIN: contextvars.ContextVar[str | None] = contextvars.ContextVar("harness_case_pin", default=None)


class PipelineApp(LifespanApp):
    """The ASGI app: every POST calls the pipeline with the body's ``input``."""

    def __init__(self, fn: Callable[[Any], Any], threads: int = DEFAULT_THREADS) -> None:
        super().__init__()
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="pipeline")

    async def shutdown(self) -> None:
        """Let running calls finish in their threads, accept no more."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def http(self, scope: Message, receive: Receive, send: Send) -> None:
        """``GET /health``, or ``POST`` → one pipeline call."""
        method, path = scope["method"], scope["path"]
        if method == "GET" and path.rstrip("/") == "/health":
            await _json(send, 200, {"status": "ok"})
            return
        if method != "POST":
            await _json(send, 405, {"error": "MethodNotAllowed", "detail": f"{method} {path}: use POST"})
            return
        value, problem = parse_input(await read_body(receive, MAX_BODY))
        if problem is not None:
            await _json(send, 400, {"error": "BadRequest", "detail": problem})
            return
        token = _CASE_PIN.set(_header(scope, CASE_HEADER))
        try:
            output = await self._call(value)
        except Exception as exc:
            await _json(send, 500, error_body(exc))
            return
        finally:
            _CASE_PIN.reset(token)
        await answer(send, 200, encode_output(output), "application/json")

    async def _call(self, value: Any) -> Any:
        if self.is_async:
            return await self.fn(value)
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, self.fn, value)
        result = await loop.run_in_executor(self.pool, call)
        if inspect.isawaitable(result):
            result = await result
        return result


def _header(scope: Message, name: str) -> str | None:
    wanted = name.encode("latin-1")
    for key, value in scope["headers"]:
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def parse_input(body: bytes | None) -> tuple[Any, str | None]:
    """The ``input`` of a ``{"input": …}`` body, or ``(None, why not)``."""
    if body is None:
        return None, f"request body over {MAX_BODY} bytes"
    try:
        data = json.loads(body)
    except ValueError:
        return None, 'expected a JSON body {"input": <value>}'
    if not isinstance(data, dict) or "input" not in data:
        return None, 'expected a JSON body {"input": <value>}'
    return data["input"], None


def encode_output(output: Any) -> bytes:
    """The pipeline's return value as JSON bytes; what JSON cannot carry becomes its ``str``."""
    dump = getattr(output, "model_dump", None)
    if callable(dump):
        try:
            output = dump(mode="json", warnings=False)
        except Exception:
            output = str(output)
    try:
        text = json.dumps(output, ensure_ascii=False, allow_nan=False, default=_fallback)
    except (TypeError, ValueError):
        text = json.dumps(str(output), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def _fallback(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", warnings=False)
    return str(value)


def class_path(cls: type) -> str:
    """``module:QualName``, the form scenario files use for ``allowed_errors``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def error_body(exc: BaseException) -> dict[str, Any]:
    """The 500 body for an exception the pipeline raised."""
    mro = [class_path(cls) for cls in type(exc).__mro__ if cls not in (BaseException, Exception, object)]
    return {
        "error": type(exc).__name__,
        "exception": class_path(type(exc)),
        "mro": mro,
        "detail": str(exc)[:DETAIL_CHARS],
    }


def declared(body: Mapping[str, Any], contract: Contract) -> bool:
    """True when an error body names (in ``mro``, else ``error``) an exception the contract allows."""
    allowed = {class_path(cls) for cls in contract.allowed_errors}
    mro = body.get("mro")
    if isinstance(mro, list) and any(isinstance(name, str) and name in allowed for name in mro):
        return True
    name = body.get("error")
    return isinstance(name, str) and name in {cls.__name__ for cls in contract.allowed_errors}


async def _json(send: Send, status: int, value: Any) -> None:
    await answer(send, status, json.dumps(value).encode(), "application/json")


# --- case pins: from the request being served to the model calls it makes ----------------------


def forward_case_pins(provider_urls: Iterable[str]) -> bool:
    """Make httpx and httpx2 clients in this process stamp the served request's case pin on provider calls.

    Only requests to one of ``provider_urls``' origins (scheme, host, port) are stamped, and
    only when the request does not carry a pin of its own. Returns False when there is no
    provider URL to match (nothing is patched).
    """
    parts = [urllib.parse.urlsplit(url) for url in provider_urls if url]
    origins = {_origin(url.scheme, url.hostname, url.port) for url in parts}
    if not origins:
        return False
    for module_name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for client in (module.Client, module.AsyncClient):
            if not getattr(client.send, "_harness_pins", False):
                client.send = _stamping(client.send, origins)
    return True


def _origin(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int | None]:
    return scheme, (host or "").lower(), port or (443 if scheme == "https" else 80)


def _stamping(send: Callable[..., Any], origins: set[tuple[str, str, int | None]]) -> Callable[..., Any]:
    def stamp(request: Any) -> None:
        pin = _CASE_PIN.get()
        if pin is None or CASE_HEADER in request.headers:
            return
        url = request.url
        if _origin(url.scheme, url.host, url.port) in origins:
            request.headers[CASE_HEADER] = pin

    if inspect.iscoroutinefunction(send):

        async def send_async(self: Any, request: Any, **options: Any) -> Any:
            stamp(request)
            return await send(self, request, **options)

        wrapped: Callable[..., Any] = send_async
    else:

        def send_sync(self: Any, request: Any, **options: Any) -> Any:
            stamp(request)
            return send(self, request, **options)

        wrapped = send_sync
    functools.update_wrapper(wrapped, send)
    wrapped._harness_pins = True  # type: ignore[attr-defined]
    return wrapped


# --- the harness side: the launched command as a target ----------------------------------------


@dataclass(frozen=True)
class PyServiceTarget(HttpTarget):
    """A ``py:`` function as a launched service: an :class:`HttpTarget` named by its ``py:`` spec.

    Everything that runs a launched command (the fake provider's base URLs in its
    environment, readiness wait, RSS watch, memory cap, OOM detection, clean stop) works
    unchanged; reports, xfail maps and replay commands see ``py:package.module:function``.
    """

    spec: str = ""

    @property
    def label(self) -> str:
        """The ``py:`` spec, so the scenario's ``xfail`` entries for it apply."""
        return self.spec

    @property
    def short(self) -> str:
        """``naive.extract`` for ``py:harness.demo.naive:extract``."""
        from harness.reports import short_target

        return short_target(self.spec)

    def replay_args(self) -> list[str]:
        """``--target py:…`` (plus the memory limit, when one was set)."""
        args = ["--target", self.spec]
        if self.memory_limit_text is not None:
            args += ["--target-memory-limit", self.memory_limit_text]
        return args


def py_service_target(
    spec: str,
    *,
    memory_limit: str | None = None,
    port: int | None = None,
    threads: int = DEFAULT_THREADS,
    ready_timeout: float = 30.0,
) -> PyServiceTarget:
    """``py:package.module:function`` as a launched service on 127.0.0.1 (a free port by default).

    The spec's form is checked here; the import happens in the service process, which
    exits with the one-line reason if it fails (the launch error shows its last output).
    """
    from harness.targets_wire import command_target

    name = spec.removeprefix("py:")
    if not spec.startswith("py:"):
        raise UsageError(f"--target {spec!r}: expected py:package.module:function")
    try:
        split_spec(name, what="--target")
    except ObjectImportError as exc:
        raise UsageError(str(exc)) from None
    chosen = free_port() if port is None else port
    command = service_command(spec, chosen, threads=threads)
    base = command_target(command, f"http://{HOST}:{chosen}/", memory_limit, ready_timeout)
    return PyServiceTarget(
        url=base.url,
        command=base.command,
        memory_limit=base.memory_limit,
        memory_limit_text=base.memory_limit_text,
        ready_timeout=base.ready_timeout,
        spec=spec,
    )


def service_command(spec: str, port: int, *, threads: int = DEFAULT_THREADS) -> str:
    """The shell-quoted command that serves ``spec`` on ``127.0.0.1:port``."""
    import shlex

    argv = [sys.executable, "-m", "harness.load.pyservice", spec, "--port", str(port)]
    if threads != DEFAULT_THREADS:
        argv += ["--threads", str(threads)]
    return shlex.join(argv)


# --- the service process ------------------------------------------------------------------------


def load_function(spec: str) -> Callable[[Any], Any]:
    """Import ``py:package.module:function`` (the working directory first on the path)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    fn = import_object(spec.removeprefix("py:"), what="--target")
    if not callable(fn):
        raise UsageError(f"--target {spec}: expected a callable, got {type(fn).__name__}")
    return fn


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.load.pyservice py:pkg.mod:fn --port P``: serve the function until SIGTERM."""
    from harness.serving import UvicornService

    parser = argparse.ArgumentParser(
        prog="python -m harness.load.pyservice", description=__doc__.split("\n")[0]
    )
    parser.add_argument("spec", help="py:package.module:function")
    parser.add_argument("--host", default=HOST, help=f"address to bind (default {HOST})")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads for a sync function")
    args = parser.parse_args(argv)
    forward_case_pins(os.environ.get(name, "") for name in PROVIDER_URL_VARIABLES)
    try:
        fn = load_function(args.spec)
        service = UvicornService(
            PipelineApp(fn, args.threads), args.host, args.port, timeout_graceful_shutdown=2
        )
    except UsageError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    print(f"serving {args.spec} on {service.url}", flush=True)
    service.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
