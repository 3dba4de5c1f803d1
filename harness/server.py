"""The fake provider server: every dialect's path over real HTTP, answered by the same Responder.

A plain ASGI app (:class:`ProviderApp`) on uvicorn's h11 protocol serves ``POST`` on every
registered dialect path (``/v1/chat/completions``, ``/v1/messages``, ``/v1/responses`` …),
streaming or not, plus the control API under ``/_harness/`` (:mod:`harness.control`). The
Responder is the scenario's (``Scenario.build_responder(seed)``), exactly as in-process;
:mod:`harness.delivery_socket` enacts each reply's timing and breakage on the socket.

Cases over the wire: a request without ``x-harness-case`` is the next case (index = the
server's case counter, model call 1). ``x-harness-case: <seed>-<case>-<call>`` replays
exactly that call of that case, byte for byte; ``x-harness-case: <seed>-<case>`` continues
that case — its first request is call 1, the next call 2, … — so a client that pins its
case sees a sequence plan ("429, then clean") across its own retries.

:class:`ProviderServer` runs the app on uvicorn, in a background thread (``with``, for tests
and load runs) or in the foreground (``harness serve``). It binds 127.0.0.1 unless told
otherwise; binding beyond loopback requires a control token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import harness.dialects  # noqa: F401  (registers every built-in dialect)
from harness import control
from harness.case import CaseState
from harness.collector import QuietCollector
from harness.delivery_http import is_chunked
from harness.delivery_socket import Channel, Clock, Transports, play, protocol_class
from harness.dialects.base import Dialect, dialect_for_path
from harness.errors import UsageError
from harness.responder import Responder
from harness.seeding import rng_for
from harness.serving import LifespanApp, Message, Receive, Send, UvicornService, answer, read_body
from harness.wire import WireReply

if TYPE_CHECKING:
    from harness.scenario import Scenario

DEFAULT_HOST = "127.0.0.1"
MAX_BODY = 64 << 20
"""Largest request body read (bytes); larger requests get 413."""
MAX_PINNED = 4096
"""Pinned cases whose call counters are kept (least recently used are forgotten)."""
MAX_PINNED_CALL = 10_000
"""Highest call number a pin may name."""
_PIN = re.compile(r"^(-?\d{1,19})-(\d{1,9})(?:-(\d{1,5}))?$")


class PinError(ValueError):
    """An ``x-harness-case`` request header that names no case."""


def parse_pin(value: str) -> tuple[int, int, int | None]:
    """``<seed>-<case>[-<call>]`` → (seed, case, call or None)."""
    match = _PIN.match(value.strip())
    if match is None:
        raise PinError(f"x-harness-case {value!r}: expected <seed>-<case> or <seed>-<case>-<call>")
    call = None if match[3] is None else int(match[3])
    if call is not None and not 1 <= call <= MAX_PINNED_CALL:
        raise PinError(f"x-harness-case {value!r}: call must be between 1 and {MAX_PINNED_CALL}")
    return int(match[1]), int(match[2]), call


class Provider:
    """The server's state: the Responder in use, the case counter, pinned cases and the ledger."""

    def __init__(
        self,
        target: Scenario | Responder | str | os.PathLike[str],
        *,
        seed: int | None = None,
        time_scale: float | None = None,
        token: str | None = None,
        hold_cap: float = 120.0,
        case_log_size: int = 10_000,
    ) -> None:
        self.token = token
        self._seed = seed
        self._time_scale = time_scale
        self._hold_cap = hold_cap
        self.scenario: Scenario | None = None
        self.scenario_text: str | None = None
        if isinstance(target, Responder):
            self.responder = target if seed is None else Responder(target.source, target.plan, seed=seed)
            self.clock = Clock(1.0 if time_scale is None else time_scale, hold_cap)
        else:
            self._use(_load(target))
        self.ledger = control.Ledger(log_size=case_log_size)
        self._next_case = 0
        self._pinned: OrderedDict[tuple[int, int], CaseState] = OrderedDict()
        self._steered: CaseState | None = None

    def _use(self, scenario: Scenario, text: str | None = None) -> None:
        self.responder = scenario.build_responder(self._seed)
        scale = scenario.time_scale if self._time_scale is None else self._time_scale
        self.clock = Clock(scale, self._hold_cap)
        self.scenario = scenario
        self.scenario_text = text if text is not None else _read_text(scenario.path)

    @property
    def seed(self) -> int:
        """The seed unpinned cases are served under."""
        return self.responder.seed

    def steer(self, case: CaseState | None) -> None:
        """Serve unpinned requests as calls 1, 2, … of ``case``; None restores one case per request.

        A sequential runner steers each of its cases so that a service's model calls, retries
        included, are served exactly as that case's calls in-process would be.
        """
        self._steered = case

    def case_for(self, headers: dict[str, str]) -> tuple[CaseState, bool]:
        """The case a request belongs to, and whether it pinned one (raises :class:`PinError`)."""
        pin = headers.get("x-harness-case")
        steered = self._steered
        if pin is None and steered is not None:
            return steered, False
        if pin is None:
            index, self._next_case = self._next_case, self._next_case + 1
            return CaseState(seed=self.seed, index=index, time_scale=0.0), False
        seed, index, call = parse_pin(pin)
        if call is not None:
            case = CaseState(seed=seed, index=index, time_scale=0.0)
            for _ in range(call - 1):
                case.next_call()
            return case, True
        key = (seed, index)
        case = self._pinned.get(key) or CaseState(seed=seed, index=index, time_scale=0.0)
        self._pinned[key] = case
        self._pinned.move_to_end(key)
        while len(self._pinned) > MAX_PINNED:
            self._pinned.popitem(last=False)
        return case, True

    def answer(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[WireReply, bool]:
        """Answer one model request, and say whether it asked for a stream (as its dialect read it).

        Raises :class:`PinError`, or ``ValueError`` for a bad body.
        """
        received = time.time()
        case, pinned = self.case_for(headers)
        reply = self.responder.respond(path, body, headers, case)
        calls = case.calls
        served = calls[-1] if calls else None
        calls.clear()  # the ledger keeps the log; a pinned case may live long
        stream = served.stream if served else False
        call = served.call if served else 1
        record = control.CaseRecord(
            case=reply.case_id,
            call=call,
            faults=reply.faults,
            status=reply.status,
            bytes=reply.body_size,
            path=path,
            stream=stream,
            pinned=pinned,
            received=received,
        )
        self.ledger.record(record)
        return reply, stream

    def describe(self) -> dict[str, Any]:
        """The scenario in use, as ``GET /_harness/scenario`` shows it."""
        scenario = self.scenario
        return {
            "name": scenario.name if scenario else None,
            "description": scenario.description if scenario else None,
            "provider": scenario.provider if scenario else None,
            "path": str(scenario.path) if scenario else None,
            "seed": self.seed,
            "time_scale": self.clock.time_scale,
            "faults": sorted(self.responder.plan.fault_names),
            "reply_source": repr(self.responder.source),
            "source": self.scenario_text,
        }

    def stats(self) -> dict[str, Any]:
        """Counters since start or the last reset."""
        return {**self.ledger.stats(), "cases": self._next_case}

    def cases(self) -> list[dict[str, Any]]:
        """The case log, oldest first."""
        return [entry.as_json() for entry in self.ledger.log]

    def reset(self) -> None:
        """Forget counters, the case log, the case counter and pinned cases."""
        self.ledger.reset()
        self._next_case = 0
        self._pinned.clear()

    def replace_scenario(self, text: str) -> None:
        """Load a scenario from YAML text and serve it from the next request (raises ScenarioError)."""
        from harness.scenario import parse_scenario, read_yaml

        base = self.scenario.path.parent if self.scenario else Path()
        where = base / "scenario (PUT)"
        self._use(parse_scenario(read_yaml(text, str(where)), where), text)


def _load(target: Scenario | str | os.PathLike[str]) -> Scenario:
    if isinstance(target, str | os.PathLike):
        from harness.scenario import load_scenario

        return load_scenario(Path(target))
    return target


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


class ProviderApp(LifespanApp):
    """The ASGI app: dialect paths answered by the Provider, ``/_harness/`` by the control API."""

    def __init__(
        self, provider: Provider, transports: Transports | None = None, *, quiet_gc: bool = False
    ) -> None:
        super().__init__()
        self.provider = provider
        self.transports = transports if transports is not None else Transports()
        self.closing = asyncio.Event()
        """Set when the server stops: every held connection is released at once."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.turns = Turns()
        self.in_flight = 0
        """Requests being answered right now."""
        self.collector = QuietCollector(lambda: self.in_flight > 0) if quiet_gc else None
        """Full garbage collections only while idle (a process that only serves: ``harness serve``)."""

    async def startup(self) -> None:
        """Note the event loop (:meth:`close` reaches it from another thread); start the collector."""
        self.loop = asyncio.get_running_loop()
        if self.collector is not None:
            self.collector.start()

    async def shutdown(self) -> None:
        """Give the garbage collector back to CPython."""
        if self.collector is not None:
            await self.collector.stop()

    def close(self) -> None:
        """Release every held connection (thread-safe)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.closing.set)

    async def http(self, scope: Message, receive: Receive, send: Send) -> None:
        """Answer a model request, or a control request."""
        self.in_flight += 1
        try:
            await self._http(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _http(self, scope: Message, receive: Receive, send: Send) -> None:
        # ASGI servers send header names lower-cased.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        body = await read_body(receive, MAX_BODY)
        if body is None:
            await _answer(send, control.ControlReply.text(413, f"request body over {MAX_BODY} bytes"))
            return
        if path.startswith(control.PREFIX):
            await _answer(send, control.handle(self.provider, method, path, headers, body))
            return
        dialect = dialect_for_path(path)
        if method != "POST" or dialect is None:
            await _answer(send, control.ControlReply.text(404, f"nothing served at {method} {path}"))
            return
        try:
            if not self.turns.take():
                await self.turns.wait()
            reply, stream = self.provider.answer(path, body, headers)
        except PinError as exc:
            await _answer(send, control.ControlReply.text(400, str(exc)))
            return
        except ValueError as exc:
            reply, stream = _bad_request(dialect, str(exc), self.provider.seed), False
        channel = Channel(send, receive, self.transports.for_scope(scope), self.closing)
        await play(reply, channel, self.provider.clock, chunked=is_chunked(reply, stream))


class Turns:
    """Model requests take turns at the Responder, at most :attr:`per_pass` per event-loop iteration.

    uvicorn parses every request that arrived together in one loop iteration and starts
    them all in the next, so a burst of 2,000 requests is served as one long iteration —
    and a timer falling due meanwhile (an injected delay ending) fires only after it. A few
    requests per iteration keep iterations short: delays end on time while the server is
    still taking a burst in. The total work is the same; under steady load nobody waits.
    """

    per_pass = 8
    """Requests served per loop iteration while others wait (a few milliseconds of work at most)."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._taken = 0
        """Turns given out since the pump last ran (it runs once per iteration while turns are taken)."""

    def take(self) -> bool:
        """Take a turn now if this iteration has one left and nobody waits; False if not (then wait)."""
        if self._waiting or self._taken >= self.per_pass:
            return False
        self._take(asyncio.get_running_loop())
        return True

    async def wait(self) -> None:
        """Return at once if a turn is free (see :meth:`take`); else in a later iteration, in order."""
        if self.take():
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        await turn

    def _take(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._taken:
            loop.call_soon(self._pump, loop)
        self._taken += 1

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        self._taken = 0
        while self._waiting and self._taken < self.per_pass:
            turn = self._waiting.popleft()
            if not turn.done():  # a cancelled request (client gone, server stopping) gives up its turn
                turn.set_result(None)
                self._take(loop)


async def _answer(send: Send, reply: control.ControlReply) -> None:
    await answer(send, reply.status, reply.body, reply.content_type)


def _bad_request(dialect: Dialect, message: str, seed: int) -> WireReply:
    """The dialect's own 400 for a request it cannot parse."""
    envelope = dialect.render_error(400, message, None, None, rng_for(seed, "bad-request"))
    return dialect.serialize(envelope)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ProviderServer(UvicornService):
    """The fake provider on uvicorn: ``with ProviderServer(scenario) as server: ...server.url...``.

    ``port=0`` picks a free port (bound at construction, so :attr:`url` is known at once).
    ``time_scale`` and ``seed`` default to the scenario's; ``hold_cap`` bounds every hang
    (real seconds). Binding a non-loopback ``host`` requires ``token``. ``quiet_gc``: the
    process only serves, so full garbage collections wait until no request is in flight
    (:mod:`harness.collector`); ``harness serve`` sets it.
    """

    what = "the fake provider server"
    app: ProviderApp

    def __init__(
        self,
        target: Scenario | Responder | str | os.PathLike[str],
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        seed: int | None = None,
        time_scale: float | None = None,
        token: str | None = None,
        hold_cap: float = 120.0,
        case_log_size: int = 10_000,
        quiet_gc: bool = False,
    ) -> None:
        if not is_loopback(host) and not token:
            raise UsageError(f"binding {host} (beyond loopback) needs a control token: pass --token")
        self.provider = Provider(
            target,
            seed=seed,
            time_scale=time_scale,
            token=token,
            hold_cap=hold_cap,
            case_log_size=case_log_size,
        )
        self.transports = Transports()
        super().__init__(
            ProviderApp(self.provider, self.transports, quiet_gc=quiet_gc),
            host,
            port,
            http=protocol_class(self.transports),
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=1,
        )

    def release(self) -> None:
        """Release every held connection, so that uvicorn can stop at once."""
        self.app.close()

    def __repr__(self) -> str:
        return f"ProviderServer({self.url}, seed={self.provider.seed})"
