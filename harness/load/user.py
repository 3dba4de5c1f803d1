"""``PipelineUser``: a Locust user that sends a scenario's inputs to a pipeline service and judges each reply.

Use it in your own locustfile, run with the ``locust`` command::

    from harness.load import PipelineUser

    class Extract(PipelineUser):
        scenario = "scenarios/load/retry-storm.yaml"
        target = "http://127.0.0.1:8765/extract/hardened"

    # locust -f locustfile.py --headless -u 20 -r 20 -t 30s

or configure it without code: ``--harness-scenario`` / ``HARNESS_SCENARIO``,
``--harness-target`` / ``HARNESS_TARGET`` (else Locust's ``--host`` plus :attr:`PipelineUser.path`),
``--harness-seed`` / ``HARNESS_SEED``, ``--harness-provider`` / ``HARNESS_PROVIDER`` (the fake
provider's URL, for ``calls_per_request``). ``harness load`` configures it itself.

Each request POSTs ``{"input": <value>}`` (the wire contract of :mod:`harness.targets_wire`);
inputs come from the scenario's ``inputs``, drawn once per (seed, worker index) and walked
by each user from its own seeded starting point, so a run's request bodies are a function
of (seed, worker index, user index). Every reply is judged against the scenario's contract:
a 2xx body that breaks it is *garbage passed*; a 4xx/5xx naming a declared error (or a
declared ``http:<status>``) is an allowed error; any other error status is undeclared; no
reply within the scenario's ``case_timeout`` is a timeout; no reply at all is a crash. The
outcome is counted in the harness's :class:`~harness.load.gates.Tally` and reported to Locust:
garbage, undeclared errors, timeouts and crashes are Locust failures too (with the reason),
so Locust's own statistics and reports show them.

The gate: when Locust quits (``events.quitting``), the scenario's SLOs are judged over
Locust's statistics and the tally (:mod:`harness.load.gates`) and a broken SLO sets
``environment.process_exit_code = 1``. Distributed runs send each worker's tally to the
master with its statistics reports.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import gevent
import pydantic
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.contract import Contract
from harness.errors import UsageError
from harness.load.distributed import case_pin, stream_seed
from harness.load.gates import Latency, Measures, Tally, judge, measure
from harness.observation import Outcome
from harness.scenario import FakerInputs, Scenario, load_scenario
from harness.seeding import derive_seed, rng_for
from harness.slo import Verdict

__all__ = ["PipelineUser", "UserSetup", "latency_of", "tally_for"]

POOL_SIZE = 256
"""Distinct Faker inputs drawn per (seed, worker) when the scenario does not set ``count``."""
PREVIEW = 200
"""Characters of a failing reply kept in its Locust failure message."""
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_TIMEOUTS = (TimeoutError, socket.timeout, gevent.Timeout)


# --- configuration ------------------------------------------------------------------------------


@dataclass
class UserSetup:
    """What every user of one PipelineUser class shares: scenario, URL, request bodies, contract."""

    scenario: Scenario
    url: str
    seed: int
    worker: int
    bodies: list[bytes]
    timeout: float
    pacing: float = 0.0
    users: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def base(self) -> str:
        """``scheme://host:port`` of the target (Locust's ``host``)."""
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        """The target URL's path and query (what each request asks for)."""
        parts = urllib.parse.urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    @property
    def contract(self) -> Contract:
        """The scenario's output contract."""
        return self.scenario.contract

    def start_for(self, user: int) -> int:
        """Where user ``user`` starts walking the body pool (seeded by seed, worker and user)."""
        return rng_for(self.seed, "load-user", self.worker, user).randrange(len(self.bodies))


def build_setup(
    scenario: Scenario, url: str, *, seed: int | None = None, worker: int = 0, pacing: float = 0.0
) -> UserSetup:
    """The shared setup for ``scenario`` against ``url`` (bodies drawn from ``seed`` and ``worker``)."""
    chosen = scenario.seed if seed is None else seed
    if isinstance(scenario.inputs, FakerInputs):
        count = scenario.inputs.count or POOL_SIZE
    else:
        count = len(scenario.inputs)
    inputs = scenario.make_inputs(derive_seed(chosen, "load-inputs", worker), count)
    bodies = [json.dumps({"input": value}, ensure_ascii=False).encode() for value in inputs]
    return UserSetup(scenario, url, chosen, worker, bodies, scenario.case_timeout, pacing)


def _option(environment: Environment, name: str) -> Any:
    options = environment.parsed_options
    value = getattr(options, f"harness_{name}", None) if options is not None else None
    return value if value not in (None, "") else os.environ.get(f"HARNESS_{name.upper()}") or None


def _setup_for(cls: type[PipelineUser], environment: Environment) -> UserSetup:
    """The class's setup, built once per Locust process from class attributes, options or env vars."""
    found = cls.__dict__.get("_harness_setup")
    if isinstance(found, UserSetup):
        return found
    scenario_path = cls.scenario or _option(environment, "scenario")
    if not scenario_path:
        raise UsageError(
            f"{cls.__name__}: no scenario: set the class attribute scenario, --harness-scenario "
            "or HARNESS_SCENARIO"
        )
    url = cls.target or _option(environment, "target")
    if not url:
        host = cls.host or environment.host
        if not host:
            raise UsageError(
                f"{cls.__name__}: no target: set target, --harness-target, HARNESS_TARGET or --host"
            )
        url = host.rstrip("/") + "/" + cls.path.lstrip("/")
    seed = cls.seed if cls.seed is not None else _option(environment, "seed")
    worker = environment.runner.worker_index if isinstance(environment.runner, WorkerRunner) else 0
    setup = build_setup(
        load_scenario(Path(scenario_path)),
        url,
        seed=None if seed is None else int(seed),
        worker=worker,
        pacing=cls.pacing,
    )
    cls._harness_setup = setup  # type: ignore[attr-defined]
    return setup


def tally_for(environment: Environment) -> Tally:
    """The harness's outcome tally of ``environment`` (created on first use)."""
    tally = getattr(environment, "harness_tally", None)
    if not isinstance(tally, Tally):
        tally = Tally()
        environment.harness_tally = tally  # type: ignore[attr-defined]
    return tally


# --- judging one reply --------------------------------------------------------------------------


def _fast_model_check(contract: Contract) -> Callable[[bytes], bool] | None:
    """For a model-only contract: validate the raw JSON bytes directly (the common, kept case)."""
    model = contract.model
    if model is None or contract.schema is not None:
        return None

    def valid(raw: bytes) -> bool:
        try:
            model.model_validate_json(raw, strict=True)
        except pydantic.ValidationError:
            return False
        return True

    return valid


def check_output(contract: Contract, raw: bytes, fast: Callable[[bytes], bool] | None = None) -> str | None:
    """None when the 2xx body ``raw`` keeps the contract, else why not (a non-JSON body is its text)."""
    if fast is not None and fast(raw):
        return None
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw.decode("utf-8", "replace")
    return contract.check(value)


def error_declared(contract: Contract, status: int, raw: bytes) -> bool:
    """True when an error reply is declared: an allowed status, or a body naming an allowed class."""
    from harness.load.pyservice import declared
    from harness.targets_wire import ServiceError

    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if isinstance(body, dict) and declared(body, contract):
        return True
    kind = body.get("error") if isinstance(body, dict) else None
    if isinstance(kind, dict):
        kind = kind.get("type")
    text = raw[:PREVIEW].decode("utf-8", "replace")
    return contract.is_allowed(ServiceError(status, text, kind if isinstance(kind, str) else None))


def judge_reply(
    contract: Contract,
    status: int,
    raw: bytes | None,
    error: BaseException | None,
    timeout: float,
    fast: Callable[[bytes], bool] | None = None,
) -> tuple[Outcome, str | None]:
    """The outcome of one reply and, for a failure, the one-line reason."""
    if status == 0:
        if _timed_out(error):
            return Outcome.TIMEOUT, f"no reply within {timeout:g}s"
        what = f"{type(error).__name__}: {error}" if error is not None else "no reply"
        return Outcome.CRASH, f"no response ({what})"
    body = raw or b""
    if 200 <= status < 300:
        problem = check_output(contract, body, fast)
        if problem is None:
            return Outcome.KEPT, None
        return Outcome.GARBAGE, f"garbage passed: {problem}"
    if error_declared(contract, status, body):
        return Outcome.ALLOWED_ERROR, f"HTTP {status} (declared)"
    preview = body[:PREVIEW].decode("utf-8", "replace")
    return Outcome.UNDECLARED_ERROR, f"undeclared error: HTTP {status}: {preview}"


def _timed_out(error: BaseException | None) -> bool:
    """True for a client-side timeout (geventhttpclient wraps it: ``RetriesExceeded(original=timed out)``)."""
    if isinstance(error, _TIMEOUTS):
        return True
    original = getattr(error, "original", None)
    if isinstance(original, _TIMEOUTS):
        return True
    text = f"{type(error).__name__} {error}".lower()
    return "timed out" in text or "timeout" in text


_LOCUST_SUCCESS = frozenset({Outcome.KEPT, Outcome.ALLOWED_ERROR})


# --- the user -----------------------------------------------------------------------------------


class PipelineUser(FastHttpUser):
    """A Locust user posting the scenario's inputs to the target and judging every reply by the contract."""

    abstract = True
    scenario: ClassVar[str | None] = None
    """Path of the scenario file (else ``--harness-scenario`` / ``HARNESS_SCENARIO``)."""
    target: ClassVar[str | None] = None
    """The pipeline's URL (else ``--harness-target`` / ``HARNESS_TARGET``, else host + :attr:`path`)."""
    path: ClassVar[str] = "/"
    """Path under Locust's ``--host`` when no target URL is given."""
    seed: ClassVar[int | None] = None
    """Seed of the request bodies (default: the scenario's)."""
    pacing: ClassVar[float] = 0.0
    """Seconds between the starts of one user's requests (0: back to back)."""
    pin_cases: ClassVar[bool] = True
    """Send ``x-harness-case: <stream>-<n>`` with request n: a target passing it on to its model
    calls gets that case's faults whatever the arrival order (:mod:`harness.load.distributed`)."""

    def __init__(self, environment: Environment) -> None:
        setup = _setup_for(type(self), environment)
        self.host = setup.base
        self.network_timeout = setup.timeout
        self.connection_timeout = min(setup.timeout, 5.0)
        super().__init__(environment)
        self._setup = setup
        self._tally = tally_for(environment)
        self._fast = _fast_model_check(setup.contract)
        user = next(setup.users)
        self._next = setup.start_for(user)
        self._stream = stream_seed(setup.seed, setup.worker, user)
        self._sent = 0
        self._started = 0.0

    def wait_time(self) -> float:
        """Constant pacing: what is left of :attr:`pacing` since the last request started."""
        pacing = self._setup.pacing
        if pacing <= 0:
            return 0.0
        return max(0.0, pacing - (time.perf_counter() - self._started))

    @task
    def send(self) -> None:
        """POST one input and judge the reply (counted in the tally and in Locust's statistics)."""
        setup = self._setup
        bodies = setup.bodies
        body = bodies[self._next % len(bodies)]
        self._next += 1
        headers = JSON_HEADERS
        if self.pin_cases:
            headers = {**JSON_HEADERS, "x-harness-case": case_pin(self._stream, self._sent)}
        self._sent += 1
        self._started = time.perf_counter()
        with self.client.request(
            "POST",
            setup.path,
            data=body,  # type: ignore[arg-type]  # geventhttpclient sends bytes as they are
            headers=headers,
            catch_response=True,
        ) as response:
            status = response.status_code or 0
            error = getattr(response, "error", None) if status == 0 else None
            raw = response.content if status else None
            outcome, detail = judge_reply(setup.contract, status, raw, error, setup.timeout, self._fast)
            self._tally.add(outcome, detail)
            if outcome in _LOCUST_SUCCESS:
                response.success()
            else:
                response.failure(detail or outcome.value)


# --- Locust statistics and the gate in plain Locust runs ----------------------------------------


def latency_of(environment: Environment) -> Latency:
    """Locust's aggregated latency statistics, in seconds."""
    total = environment.stats.total
    if not total.num_requests:
        return Latency()
    pct = total.get_response_time_percentile
    return Latency(
        count=total.num_requests,
        p50=pct(0.5) / 1000,
        p90=pct(0.9) / 1000,
        p95=pct(0.95) / 1000,
        p99=pct(0.99) / 1000,
        mean=total.avg_response_time / 1000,
        max=total.max_response_time / 1000,
    )


def elapsed_of(environment: Environment) -> float:
    """Seconds from the first to the last request Locust recorded (at least one)."""
    total = environment.stats.total
    if not total.num_requests:
        return 0.0
    last = total.last_request_timestamp or total.start_time
    return max(1.0, last - total.start_time)


def _provider_calls(url: str | None) -> int | None:
    if not url:
        return None
    import httpx

    try:
        reply = httpx.get(url.rstrip("/") + "/_harness/stats", timeout=5.0)
        return int(reply.json()["requests"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def plain_measures(environment: Environment) -> Measures:
    """The metrics of a plain Locust run: Locust's latency, the tally, and the provider's count if known."""
    return measure(
        tally_for(environment),
        latency_of(environment),
        elapsed=elapsed_of(environment),
        model_calls=_provider_calls(_option(environment, "provider")),
    )


def _gated_setup(environment: Environment) -> UserSetup | None:
    for cls in environment.user_classes:
        if isinstance(cls, type) and issubclass(cls, PipelineUser):
            found = cls.__dict__.get("_harness_setup")
            if isinstance(found, UserSetup):
                return found
    return None


def gate(environment: Environment) -> list[Verdict]:
    """Judge the scenario's SLOs for a plain Locust run; a broken one sets a non-zero exit code."""
    setup = _gated_setup(environment)
    if setup is None:
        return []
    verdicts, skipped = judge(setup.scenario.slos, plain_measures(environment))
    for verdict in verdicts:
        print(f"harness: {verdict.describe()}", flush=True)
    for text, reason in skipped.items():
        print(f"harness: {text}: skipped ({reason})", flush=True)
    if not all(v.passed for v in verdicts):
        environment.process_exit_code = 1
    return verdicts


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("harness", "PipelineUser settings (harness load sets them itself)")
    group.add_argument("--harness-scenario", default="", help="scenario file of PipelineUser classes")
    group.add_argument("--harness-target", default="", help="pipeline URL (else --host + path)")
    group.add_argument("--harness-seed", default="", help="seed of the request bodies")
    group.add_argument("--harness-provider", default="", help="fake provider URL (for calls_per_request)")


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    attach(environment)


def attach(environment: Environment) -> None:
    """Carry worker tallies to the master with Locust's reports (done once per environment)."""
    if getattr(environment, "harness_attached", False):
        return
    environment.harness_attached = True  # type: ignore[attr-defined]
    if isinstance(environment.runner, WorkerRunner):

        def report(client_id: str, data: dict[str, Any]) -> None:
            data["harness"] = tally_for(environment).drain()

        environment.events.report_to_master.add_listener(report)
    elif isinstance(environment.runner, MasterRunner):

        def receive(client_id: str, data: dict[str, Any]) -> None:
            tally_for(environment).merge(data.get("harness"))

        environment.events.worker_report.add_listener(receive)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or getattr(environment, "harness_managed", False):
        return  # workers report to the master; ``harness load`` runs its own gate
    gate(environment)
