"""In-process delivery: answer the pipeline's model calls from a Responder, inside its own process.

Two HTTP client families carry model calls in Python today, and both are covered while an
:class:`Interceptor` is active:

- ``httpx`` (openai 2.x, litellm, hand-written code) through a respx router: one route
  answers provider requests, everything else passes through to the network;
- ``httpx2`` (openai ≥ 3, anthropic ≥ 2), which respx does not patch, through a patched
  ``Client._transport_for_url`` / ``AsyncClient._transport_for_url`` whose transport answers
  provider requests and hands the rest to the client's own transport.

A provider request is a ``POST`` whose path ends with a dialect path (``/v1/chat/completions``,
``/v1/messages``), on any host unless ``hosts`` narrows it. Both families share one dispatch:
the current case (:data:`~harness.case.CURRENT_CASE`, else the interceptor's default case)
and one :class:`~harness.responder.Responder`; :mod:`harness.delivery_http` then plays the
reply's timing and breakage while the client reads it.

The patches are installed once, however many interceptors are active; the innermost active
interceptor whose hosts match answers. While any is active, ``OPENAI_API_KEY`` and
``ANTHROPIC_API_KEY`` get a dummy value if unset, so default SDK clients construct.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast
from unittest import mock

import httpx
import httpx2
import respx

import harness.dialects  # noqa: F401  (registers every built-in dialect)
from harness.backoff import patch_sdk_backoff
from harness.case import CURRENT_CASE, CaseState, ServedCall
from harness.delivery_http import HTTPX, HTTPX2, Family, Timeouts, deliver, deliver_async
from harness.dialects.base import dialect_for_path
from harness.responder import Responder
from harness.wire import WireReply

if TYPE_CHECKING:
    from harness.scenario import Scenario

P = ParamSpec("P")
R = TypeVar("R")

DUMMY_KEYS = {"OPENAI_API_KEY": "sk-harness-fake-key", "ANTHROPIC_API_KEY": "sk-ant-harness-fake-key"}
"""Environment variables set (when unset) while intercepting, so default SDK clients construct."""


class Interceptor:
    """Answers every provider request of both httpx families from one Responder while active.

    Use it as ``with``, ``async with`` or a decorator of sync and async functions. Each
    activation starts a fresh default case (index 0) unless ``default_case`` is given; a
    case set in :data:`~harness.case.CURRENT_CASE` takes precedence over it.
    """

    def __init__(
        self,
        responder: Responder,
        *,
        hosts: Iterable[str] | None = None,
        time_scale: float = 1.0,
        default_case: CaseState | None = None,
        deadline: float | None = None,
        only_abandoned: bool = False,
    ) -> None:
        self.responder = responder
        self.only_abandoned = only_abandoned
        """Answer only calls from cases the runner abandoned (they must never reach a real provider)."""
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)
        """Hosts (``api.openai.com`` or ``host:port``) answered; None answers provider paths on any host."""
        self.time_scale = time_scale
        """Real seconds slept per injected second, for the default case."""
        self.deadline = deadline
        """Scenario-time deadline of the default case (None: no limit)."""
        self._fixed_case = default_case
        self.case = default_case or self.fresh_case()
        """The default case: serves calls made outside any runner-set case."""
        self._depth = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[ServedCall]:
        """Model calls served to the default case, in call order."""
        return self.case.calls

    @property
    def active(self) -> bool:
        """True between start and the matching stop."""
        return self._depth > 0

    def start(self) -> Interceptor:
        """Begin intercepting (nested starts only count)."""
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                if self._fixed_case is None:
                    self.case = self.fresh_case()
                _HOOKS.push(self)
        return self

    def stop(self) -> None:
        """Stop intercepting once every start has been matched."""
        with self._lock:
            if self._depth == 0:
                return
            self._depth -= 1
            if self._depth == 0:
                _HOOKS.remove(self)

    def __enter__(self) -> Interceptor:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Interceptor:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn`` (sync or async) to run intercepted, with a fresh default case per call."""
        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await async_fn(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return fn(*args, **kwargs)

        return run

    def answers_host(self, url: httpx.URL | httpx2.URL) -> bool:
        """True when this interceptor answers ``url``'s host (and, if so limited, the current case)."""
        if self.only_abandoned:
            case = CURRENT_CASE.get()
            return case is not None and case.abandoned
        if self.hosts is None:
            return True
        host = url.host.lower()
        return host in self.hosts or f"{host}:{url.port}" in self.hosts

    def answer(self, family: Family, request: Any) -> Any:
        """Serve a (read) request of ``family`` and return its response, head played."""
        reply, case, timeouts = self._serve(request)
        return deliver(family, request, reply, case, timeouts)

    async def answer_async(self, family: Family, request: Any) -> Any:
        """Async twin of :meth:`answer`."""
        reply, case, timeouts = self._serve(request)
        return await deliver_async(family, request, reply, case, timeouts)

    def _serve(self, request: Any) -> tuple[WireReply, CaseState, Timeouts]:
        """The one dispatch both families share: current case, Responder, client timeouts."""
        timeouts = Timeouts.of(request.extensions)
        _HOOKS.refresh_backoff()
        case = CURRENT_CASE.get() or self.case
        headers = {k.lower(): v for k, v in request.headers.items()}
        reply = self.responder.respond(
            request.url.path, request.content, headers, case, read_timeout=timeouts.read
        )
        return reply, case, timeouts

    def fresh_case(self) -> CaseState:
        """A new case 0 for this interceptor's seed, deadline and time scale (call counter at 1)."""
        return CaseState(
            seed=self.responder.seed, index=0, deadline=self.deadline, time_scale=self.time_scale
        )

    def __repr__(self) -> str:
        hosts = "any host" if self.hosts is None else ",".join(sorted(self.hosts))
        return f"Interceptor(seed={self.responder.seed}, time_scale={self.time_scale:g}, {hosts})"


def intercept(
    target: Responder | Scenario | str | os.PathLike[str],
    *,
    seed: int | None = None,
    time_scale: float | None = None,
    hosts: Iterable[str] | None = None,
) -> Interceptor:
    """An :class:`Interceptor` for a Responder, a Scenario, or a scenario file path.

    For a scenario, the seed and time scale default to the scenario's own and the default
    case gets the scenario's ``case_timeout`` as its deadline.
    """
    if isinstance(target, Responder):
        responder = target if seed is None else Responder(target.source, target.plan, seed=seed)
        return Interceptor(responder, hosts=hosts, time_scale=1.0 if time_scale is None else time_scale)
    if isinstance(target, str | os.PathLike):
        from harness.scenario import load_scenario

        target = load_scenario(Path(target))
    return Interceptor(
        target.build_responder(target.seed if seed is None else seed),
        hosts=hosts,
        time_scale=target.time_scale if time_scale is None else time_scale,
        deadline=target.case_timeout,
    )


def _provider_request(method: str, url: httpx.URL | httpx2.URL) -> Interceptor | None:
    """The interceptor answering this request, or None when it is not a model call we serve."""
    if method.upper() != "POST" or dialect_for_path(url.path) is None:
        return None
    return _HOOKS.answering(url)


# --- httpx, through respx ------------------------------------------------------------------

_ASYNC_PATH: contextvars.ContextVar[bool] = contextvars.ContextVar("harness_respx_async", default=False)


class _RespxRouter(respx.MockRouter):
    """respx router that tells its side effects whether the client is async, and keeps no call log."""

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        token = _ASYNC_PATH.set(True)
        try:
            return await super().async_handler(request)
        finally:
            _ASYNC_PATH.reset(token)

    def record(self, request: httpx.Request, **kwargs: Any) -> None:
        """Keep nothing: a long load run would otherwise hold every request and response."""


def _respx_answer(request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response] | None:
    """Route side effect: our response, or None (no match) so the next route decides."""
    interceptor = _provider_request(request.method, request.url)
    if interceptor is None:
        return None
    if _ASYNC_PATH.get():
        return cast(Awaitable[httpx.Response], interceptor.answer_async(HTTPX, request))
    return cast(httpx.Response, interceptor.answer(HTTPX, request))


def _start_respx(stack: ExitStack) -> None:
    router = _RespxRouter(assert_all_called=False, assert_all_mocked=True)

    def pass_or_defer(request: httpx.Request) -> httpx.Request | None:
        # A respx router started after ours (a test mocking another service) gets its turn:
        # "no match" here lets respx try it; only the last router passes through.
        mocker = router.Mocker
        return request if mocker is None or mocker.routers[-1] is router else None

    router.route(method="POST", name="harness-provider").mock(side_effect=_respx_answer)
    router.route(name="harness-others").mock(side_effect=pass_or_defer)
    router.start()
    stack.callback(router.stop)


# --- httpx2, through a patched transport lookup -----------------------------------------------


class _Httpx2Transport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """Answers provider requests; hands everything else to the client's own transport."""

    def __init__(self, original: Any) -> None:
        self._original = original

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Sync send."""
        interceptor = _provider_request(request.method, request.url)
        if interceptor is None:
            return cast(httpx2.Response, self._original.handle_request(request))
        request.read()
        return cast(httpx2.Response, interceptor.answer(HTTPX2, request))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Async send."""
        interceptor = _provider_request(request.method, request.url)
        if interceptor is None:
            return cast(httpx2.Response, await self._original.handle_async_request(request))
        await request.aread()
        return cast(httpx2.Response, await interceptor.answer_async(HTTPX2, request))


def _patch_httpx2(stack: ExitStack) -> None:
    for client_class in (httpx2.Client, httpx2.AsyncClient):
        original = client_class._transport_for_url

        def transport_for_url(client: Any, url: httpx2.URL, _original: Any = original) -> Any:
            return _Httpx2Transport(_original(client, url))

        stack.enter_context(mock.patch.object(client_class, "_transport_for_url", transport_for_url))


# --- activation ------------------------------------------------------------------------------


def _set_dummy_keys(stack: ExitStack) -> None:
    for name, value in DUMMY_KEYS.items():
        if not os.environ.get(name):
            os.environ[name] = value
            stack.callback(_unset_if_ours, name, value)


def _unset_if_ours(name: str, value: str) -> None:
    if os.environ.get(name) == value:
        del os.environ[name]


class _Hooks:
    """The process-wide patches, installed while at least one interceptor is active."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[Interceptor] = []
        self._installed: ExitStack | None = None

    def push(self, interceptor: Interceptor) -> None:
        """Activate ``interceptor``; the first one installs the patches."""
        with self._lock:
            if self._installed is None:
                self._installed = _install()
            self._active.append(interceptor)

    def remove(self, interceptor: Interceptor) -> None:
        """Deactivate ``interceptor`` (in any order); the last one removes the patches."""
        with self._lock:
            self._active.remove(interceptor)
            if not self._active and self._installed is not None:
                installed, self._installed = self._installed, None
                installed.close()

    def refresh_backoff(self) -> None:
        """Route the retry sleeps of SDKs imported since activation through the case clock too."""
        with self._lock:
            if self._installed is not None:
                patch_sdk_backoff(self._installed, self.current_case)

    def current_case(self) -> CaseState | None:
        """The runner-set case, else the innermost active interceptor's default case."""
        case = CURRENT_CASE.get()
        if case is not None:
            return case
        with self._lock:
            return self._active[-1].case if self._active else None

    def answering(self, url: httpx.URL | httpx2.URL) -> Interceptor | None:
        """The innermost active interceptor that answers ``url``'s host."""
        with self._lock:
            active = list(self._active)
        return next((i for i in reversed(active) if i.answers_host(url)), None)


def _install() -> ExitStack:
    stack = ExitStack()
    try:
        # Under httpx2.alias_httpx() "httpx" *is* httpx2, already covered by the transport patch.
        if sys.modules.get("httpx") is not httpx2:
            _start_respx(stack)
        _patch_httpx2(stack)
        patch_sdk_backoff(stack, _HOOKS.current_case)
        _set_dummy_keys(stack)
    except BaseException:
        stack.close()
        raise
    return stack


_HOOKS = _Hooks()
