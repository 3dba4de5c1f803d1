"""Targets over the wire: a running HTTP service, or a command the harness launches and watches.

Request shape: each case POSTs ``{"input": <the case's input>}`` as JSON to the target URL.
The response decides the outcome:

- 2xx: the JSON body is the output, checked against the contract (a body that is not JSON
  is garbage: the text is the output);
- 4xx/5xx: an error. It is a *declared clean error* when the scenario contract allows its
  status (``allowed_errors: [http:422]``) or when its JSON body is ``{"error": "<Name>", …}``
  naming one of the contract's allowed exception classes (or a subclass) — so a service
  mapping ``ExtractionError`` to a 422 passes the same scenario as the in-process pipeline;
- no response (connection refused, reset, closed mid-reply): a **crash**. For a launched
  command the harness knows whether the process died: if it did, the case is a crash
  carrying the exit code and peak RSS; if it still runs, the dropped connection is an
  undeclared error. A plain URL target cannot be watched, so a refused or dropped
  connection counts as a crash (the service is gone, as far as the caller can tell);
- no response within the scenario's ``case_timeout``: a timeout (hang).

The fake provider: the harness runs one per scenario, in its own process, on 127.0.0.1. A
launched command gets its address through ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` (a
free port is picked); a service the user started must already point there, so for a
plain URL target the provider listens on ``--provider-port`` (default
:data:`DEFAULT_PROVIDER_PORT`): start the service with
``OPENAI_BASE_URL=http://127.0.0.1:9797/v1 ANTHROPIC_BASE_URL=http://127.0.0.1:9797``.

Latency over the wire is wall time. The fake provider still applies the scenario's
``time_scale`` to injected delays, and the harness cannot know how long the service would
have waited in full, so latency is reported as measured: run latency-SLO scenarios against
services with ``--time-scale 1`` (scaled runs report scaled latency).

Model calls per case: the harness runs cases one at a time and tells the in-process fake
provider which case is current, so every model request the service makes during case *k*
is served as case *k* (call 1, 2, … — fault sequences and ``calls_per_request`` work) and
the case log read after the case gives the observation's calls.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

import httpx

from harness.case import CaseDeadlineExceeded, CaseState
from harness.errors import TargetError, UsageError
from harness.observation import ModelCall
from harness.process import Exit, Service, ServiceCrashed, port_open

if TYPE_CHECKING:
    from harness.control import CaseRecord
    from harness.scenario import Scenario
    from harness.server import Provider, ProviderServer

DEFAULT_PROVIDER_PORT = 9797
"""Where the fake provider listens for a plain URL target (a service the user started)."""
MAX_RESTARTS = 5
"""Times a launched command is restarted after a crash within one scenario before cases fail at once."""
EXIT_GRACE = 5.0
"""Real seconds to wait for a dying command to exit after its connection dropped."""
ERROR_PREVIEW = 300
"""Characters of an error body kept in the observation."""
DUMMY_KEY = "sk-harness-dummy"
"""API key handed to a launched command when none is set: SDKs refuse to start without one."""


class ServiceError(Exception):
    """The service answered with a non-2xx status."""

    def __init__(self, status: int, body: str, declared_type: str | None) -> None:
        super().__init__(f"HTTP {status}: {body[:ERROR_PREVIEW]}")
        self.http_status = status
        """The response status (the contract's ``http:<status>`` entries match it)."""
        self.declared_type = declared_type
        """The ``error`` field of a structured JSON body (matched against allowed exception names)."""


class ServiceUnreachable(Exception):
    """The connection dropped while the launched command kept running: an undeclared error."""


@dataclass(frozen=True)
class HttpTarget:
    """A service under test: ``url`` receives ``{"input": …}``; ``command`` (optional) launches it."""

    url: str
    command: str | None = None
    memory_limit: int | None = None
    memory_limit_text: str | None = None
    """The limit as the user wrote it (for replay commands)."""
    ready_timeout: float = 30.0
    provider_port: int | None = None
    """Port of the fake provider; None: a free one for a launched command, else the default."""

    @property
    def label(self) -> str:
        """The URL, or ``cmd:<command> <url>`` for a launched service (names it in reports and xfail)."""
        return self.url if self.command is None else f"{self.url} ({self.command})"

    @property
    def short(self) -> str:
        """The URL's path (and port) for tables."""
        parsed = urllib.parse.urlsplit(self.url)
        return f":{parsed.port}{parsed.path}" if parsed.port else parsed.path or self.url

    def replay_args(self) -> list[str]:
        """The command-line options that select this target again."""
        if self.command is None:
            args = ["--target", self.url]
        else:
            args = ["--target-cmd", self.command, "--target-url", self.url]
        if self.memory_limit_text is not None:
            args += ["--target-memory-limit", self.memory_limit_text]
        if self.provider_port is not None:
            args += ["--provider-port", str(self.provider_port)]
        return args

    @property
    def provider_bind_port(self) -> int:
        """The port the fake provider binds for this target."""
        if self.provider_port is not None:
            return self.provider_port
        return 0 if self.command is not None else DEFAULT_PROVIDER_PORT

    @property
    def address(self) -> tuple[str, int]:
        """Host and port the URL points at."""
        parsed = urllib.parse.urlsplit(self.url)
        default = 443 if parsed.scheme == "https" else 80
        return parsed.hostname or "127.0.0.1", parsed.port or default

    @contextlib.contextmanager
    def open(self, scenario: Scenario, seed: int, time_scale: float) -> Iterator[WireSession]:
        """Start the fake provider for ``scenario`` (and the command), run cases, stop both."""
        from harness.server import ProviderServer

        port = self.provider_bind_port
        with ProviderServer(scenario, port=port, seed=seed, time_scale=time_scale) as server:
            session = WireSession(self, scenario, server)
            try:
                session.start_service()
                yield session
            finally:
                session.close()


DEMO_COMMAND = "demo"
"""``--target-cmd demo``: the bundled demo service, both endpoints (``demo:naive``/``demo:hardened``: one)."""
DEMO_ENDPOINTS = {"naive": "/extract/naive", "hardened": "/extract/hardened"}
"""The demo service's endpoints by pipeline name."""
DEMO_MEMORY_LIMIT = "200MB"
"""The demo service's memory cap unless ``--target-memory-limit`` says otherwise: the naive
pipeline's parse of a 16 MiB huge payload passes it (~270 MB), the hardened one (~90 MB) does not."""
DEMO_SCENARIO = "oom-huge-payload.yaml"
"""The shipped scenario ``harness run --target-cmd demo`` runs when given no scenario."""


@dataclass(frozen=True)
class DemoServiceTarget(HttpTarget):
    """One endpoint of the bundled demo service (``python -m harness.demo.service``), launched per scenario.

    Each launch takes a free loopback port, so the target's label (what ``xfail`` entries
    name) is port-free: ``demo-service:/extract/naive``.
    """

    endpoint: str = "naive"

    @property
    def label(self) -> str:
        """``demo-service:/extract/<pipeline>``."""
        return f"demo-service:{DEMO_ENDPOINTS[self.endpoint]}"

    @property
    def short(self) -> str:
        """``demo-service <pipeline>`` for tables."""
        return f"demo-service {self.endpoint}"

    def replay_args(self) -> list[str]:
        """``--target-cmd demo:<pipeline>`` and the options given with it."""
        args = ["--target-cmd", f"{DEMO_COMMAND}:{self.endpoint}"]
        if self.memory_limit_text is not None and self.memory_limit_text != DEMO_MEMORY_LIMIT:
            args += ["--target-memory-limit", self.memory_limit_text]
        if self.provider_port is not None:
            args += ["--provider-port", str(self.provider_port)]
        return args

    def launched(self) -> HttpTarget:
        """The concrete target of one launch: the service on a free loopback port."""
        port = free_port()
        command = f"{shlex.quote(sys.executable)} -m harness.demo.service --port {port}"
        url = f"http://127.0.0.1:{port}{DEMO_ENDPOINTS[self.endpoint]}"
        return HttpTarget(
            url, command, self.memory_limit, self.memory_limit_text, self.ready_timeout, self.provider_port
        )

    @contextlib.contextmanager
    def open(self, scenario: Scenario, seed: int, time_scale: float) -> Iterator[WireSession]:
        """Launch the service on a free port for ``scenario``, run cases, stop it."""
        with self.launched().open(scenario, seed, time_scale) as session:
            yield session


def is_demo_command(command: str | None) -> TypeGuard[str]:
    """True for ``demo``, ``demo:naive`` and ``demo:hardened`` (``--target-cmd``'s embedded default)."""
    return command is not None and command.strip().partition(":")[0] == DEMO_COMMAND


def demo_targets(
    command: str, memory_limit: str | None, provider_port: int | None = None
) -> list[DemoServiceTarget]:
    """The demo service's endpoints ``--target-cmd demo[:pipeline]`` names, with the memory cap."""
    _, _, which = command.strip().partition(":")
    if which and which not in DEMO_ENDPOINTS:
        raise UsageError(f"--target-cmd {command!r}: expected demo, demo:naive or demo:hardened")
    limit_text = memory_limit if memory_limit is not None else DEMO_MEMORY_LIMIT
    limit = _memory_limit(limit_text)
    names = [which] if which else list(DEMO_ENDPOINTS)
    return [
        DemoServiceTarget(
            f"http://127.0.0.1{DEMO_ENDPOINTS[name]}",
            DEMO_COMMAND,
            limit,
            limit_text,
            provider_port=provider_port,
            endpoint=name,
        )
        for name in names
    ]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def http_target(url: str, option: str = "--target") -> HttpTarget:
    """Validate ``url`` as a service target (``http(s)://host[:port]/path``)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"{option} {url!r}: expected http://host:port/path")
    try:
        parsed.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise UsageError(f"{option} {url!r}: expected a port number between 0 and 65535") from None
    return HttpTarget(url)


def command_target(
    command: str,
    url: str | None,
    memory_limit: str | None,
    ready_timeout: float = 30.0,
    provider_port: int | None = None,
) -> HttpTarget:
    """A launched service: ``command`` serves ``url``; ``memory_limit`` like ``512MB`` caps its tree."""
    if url is None:
        raise UsageError("--target-cmd needs --target-url (the URL the command serves)")
    if not command.strip():
        raise UsageError("--target-cmd: expected a command, got an empty string")
    base = http_target(url, "--target-url")
    limit = _memory_limit(memory_limit) if memory_limit is not None else None
    return HttpTarget(base.url, command, limit, memory_limit, ready_timeout, provider_port)


def _memory_limit(text: str) -> int:
    """``--target-memory-limit``'s size in bytes (a usage error if it is not a positive size)."""
    from harness.durations import parse_size

    try:
        limit = parse_size(text)
    except ValueError as exc:
        raise UsageError(f"--target-memory-limit {text!r}: {exc}") from None
    if limit <= 0:
        raise UsageError(f"--target-memory-limit {text!r}: expected a positive size")
    return limit


@dataclass
class CaseEnd:
    """What the session saw of one case besides its output."""

    rss_peak: int = 0
    calls: list[ModelCall] = field(default_factory=list)


class WireSession:
    """One scenario's run against a wire target: the fake provider, the (re)launched command, cases."""

    def __init__(self, target: HttpTarget, scenario: Scenario, server: ProviderServer) -> None:
        self.target = target
        self.scenario = scenario
        self.server = server
        self.service: Service | None = None
        self.restarts = 0
        self.crashes: list[Exit] = []
        self._mark = 0
        self._down: ServiceCrashed | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(scenario.case_timeout, connect=5.0))

    # --- the launched command --------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The command's environment: ours, with the provider base URLs pointing at the fake server."""
        env = dict(os.environ)
        env["OPENAI_BASE_URL"] = self.server.openai_base_url
        env["ANTHROPIC_BASE_URL"] = self.server.anthropic_base_url
        env.setdefault("OPENAI_API_KEY", DUMMY_KEY)
        env.setdefault("ANTHROPIC_API_KEY", DUMMY_KEY)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start_service(self) -> None:
        """Launch the command (if any) and wait until its URL's port accepts connections."""
        if self.target.command is None:
            return
        host, port = self.target.address
        if port_open(host, port):
            raise UsageError(
                f"--target-url {self.target.url}: {host}:{port} is already in use before "
                f"--target-cmd started; stop what listens there or pick another port"
            )
        self.service = Service(self.target.command, self.env(), memory_limit=self.target.memory_limit)
        self.service.start().wait_ready(host, port, self.target.ready_timeout)

    def _ensure_running(self) -> None:
        """Restart a command that died in an earlier case (bounded); raise ServiceCrashed past the budget."""
        if self.service is None or self.service.alive:
            return
        if self.restarts >= MAX_RESTARTS:
            raise ServiceCrashed(
                f"the service is down: it crashed {len(self.crashes)} time(s) and the restart budget "
                f"({MAX_RESTARTS}) is spent"
            )
        self.service.stop()
        self.restarts += 1
        self.start_service()

    def close(self) -> None:
        """Stop the command cleanly, restore the provider, close the client."""
        self._client.close()
        self.server.provider.steer(None)
        if self.service is not None:
            self.service.stop()

    # --- one case --------------------------------------------------------------------------

    def begin(self, case: CaseState) -> None:
        """Make ``case`` current on the fake provider and start its RSS high-water mark."""
        try:
            self._ensure_running()
            self._down = None
        except (ServiceCrashed, TargetError) as exc:
            self._down = ServiceCrashed(f"the service could not be restarted: {exc}")
        self.server.provider.steer(CaseState(seed=case.seed, index=case.index, time_scale=0.0))
        self._mark = self.server.provider.ledger.requests
        if self.service is not None:
            self.service.reset_peak()

    def call(self, value: Any) -> Any:
        """POST ``{"input": value}``; the JSON reply, or a typed error the runner classifies."""
        if self._down is not None:
            raise self._down
        try:
            response = self._client.post(self.target.url, json={"input": value})
        except httpx.TimeoutException:
            raise CaseDeadlineExceeded(
                f"the service did not answer within {self.scenario.case_timeout:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise self._dropped(exc) from None
        body = response.text
        if not response.is_success:
            raise ServiceError(response.status_code, body, _declared_type(response))
        try:
            return response.json()
        except ValueError:
            return body

    def _dropped(self, exc: httpx.TransportError) -> Exception:
        """A connection-level failure: a crash if the process died (or cannot be watched)."""
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.service is None:
            return ServiceCrashed(f"no response from {self.target.url} ({what})")
        code = self.service.wait(EXIT_GRACE)
        ended = self.service.exit()
        if code is None or ended is None:
            return ServiceUnreachable(f"the connection dropped while the service kept running ({what})")
        self.crashes.append(ended)
        return ServiceCrashed(f"the service died: {ended.describe()}")

    def end(self) -> CaseEnd:
        """The case's RSS high-water mark and the model calls served for it."""
        self.server.provider.steer(None)
        records = _new_records(self.server.provider, self.server.provider.ledger.requests - self._mark)
        peak = self.service.peak if self.service is not None else 0
        return CaseEnd(rss_peak=peak, calls=[_model_call(r) for r in records])


def _new_records(provider: Provider, count: int) -> list[CaseRecord]:
    """The last ``count`` entries of the case log (read while the server thread may append)."""
    if count <= 0:
        return []
    for _ in range(10):
        try:
            return list(provider.ledger.log)[-count:]
        except RuntimeError:  # the deque changed size mid-copy: a late request landed; copy again
            continue
    return []


def _model_call(record: CaseRecord) -> ModelCall:
    return ModelCall(
        call=record.call,
        faults=list(record.faults),
        status=record.status,
        stream=record.stream,
        injected_delay=0.0,
        bytes_served=record.bytes,
        body_preview="",
    )


def _declared_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):  # {"error": {"type": ...}} as many APIs shape it
        error = error.get("type")
    return error if isinstance(error, str) else None
