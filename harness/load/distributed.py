"""Distributed load: Locust's own master and workers, on one machine or many.

Three forms of ``harness load`` (:class:`Topology`):

- ``--workers K``: this process is the master (fake provider, target, samples, SLO gate,
  reports, as in a local run) and launches K worker processes on loopback
  (:class:`LocalWorkers`, each ``python -m harness.load.distributed SCENARIO --target URL
  --master-host 127.0.0.1 --master-port P --seed S``: :func:`worker_argv`). One Locust
  process drives about one core; workers add cores.
- ``--master [--expect-workers K] [--master-bind-host H] [--master-port P]``: the master
  waits for K workers started elsewhere (:func:`wait_for_workers`).
- ``--worker --master-host H [--master-port P]``: a worker only (:func:`serve_worker`): the
  scenario's PipelineUser against the target URL; Locust's statistics and the harness's
  tally go to the master with every report. No provider, no target, no report of its own.

:func:`load_environment` gives the engine its ``Environment`` for each form and makes sure
the master has every worker's final report before it judges (:func:`await_final_reports`).

Determinism: Locust numbers the workers 0, 1, … as they connect (0 in a local run:
:func:`worker_index`); PipelineUser draws its inputs from (seed, worker index, user number),
so each worker's request stream is a function of the seed and its index, however the
workers are scheduled. The fault stream is the fake provider's: model calls are numbered
in arrival order (the same multiset of faults for the same number of calls). To pin it per
request, a user sends ``x-harness-case: <stream seed>-<request number>`` (:func:`stream_seed`,
:func:`case_pin`) and the target passes the header on to its model calls (the ``py:``
service does, :mod:`harness.load.pyservice`): each request then gets exactly that case's
faults, whatever the arrival order.

The fake provider is stateless apart from its counters: a reply depends only on the
scenario, the seed and the case, so several replicas behind a load balancer serve one
scenario as one server would (sum their ``/_harness/stats`` for the fault mix).

No Locust import at module level: the functions take the Locust objects the engine made.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from harness.errors import TargetError, UsageError
from harness.process import Service
from harness.seeding import derive_seed

DEFAULT_MASTER_PORT = 5557
"""Locust's default master port (``--master-port``)."""
LOOPBACK = "127.0.0.1"
WORKER_READY_TIMEOUT = 60.0
"""Real seconds to wait for the local workers to connect."""
REMOTE_READY_TIMEOUT = 600.0
"""Real seconds a ``--master`` waits for ``--expect-workers`` workers started elsewhere."""
WORKER_EXIT_GRACE = 1.0
"""Real seconds local workers get to exit on their own after the master quit, before SIGTERM.

A worker answers ``quit`` only after sleeping out the ``stop_timeout`` that followed ``stop``;
its final statistics have already arrived by then (:func:`await_final_reports`).
"""
FINAL_REPORT_WAIT = 10.0
"""Real seconds the master waits, after ``stop``, for one more report from every worker."""
WORKER_WATCH_INTERVAL = 1.0
"""Seconds between RSS samples of a worker process (its memory is not under test)."""
MAX_CASE_NUMBER = 999_999_999
"""Largest case number the fake provider's ``x-harness-case`` header accepts."""


Role = Literal["local", "master", "worker"]


@dataclass(frozen=True)
class Topology:
    """The part this ``harness load`` process plays, from ``--workers`` / ``--master`` / ``--worker``."""

    role: Role = "local"
    workers: int = 0
    """``--workers K``: worker processes this master launches on loopback (0: none)."""
    expect_workers: int = 1
    """``--master --expect-workers K``: workers started elsewhere to wait for."""
    master_host: str = LOOPBACK
    """``--master-host``: where a worker finds its master."""
    master_bind_host: str = "*"
    """``--master-bind-host``: the interface a ``--master`` listens on (all by default)."""
    master_port: int = DEFAULT_MASTER_PORT
    """``--master-port``: the master's port (``--workers K`` picks a free one on loopback)."""

    @classmethod
    def from_options(
        cls,
        *,
        workers: int = 0,
        master: bool = False,
        worker: bool = False,
        expect_workers: int | None = None,
        master_host: str | None = None,
        master_bind_host: str | None = None,
        master_port: int | None = None,
    ) -> Topology:
        """Check the option combination (one line, UsageError, when it makes no sense)."""
        chosen = [
            name
            for name, on in (("--workers", workers > 0), ("--master", master), ("--worker", worker))
            if on
        ]
        if len(chosen) > 1:
            raise UsageError(
                f"{' and '.join(chosen)}: expected at most one of --workers K, --master, --worker"
            )
        if workers < 0:
            raise UsageError(f"--workers {workers}: expected 0 (no workers) or more")
        if expect_workers is not None and not master:
            raise UsageError("--expect-workers needs --master")
        if master_host is not None and not worker:
            raise UsageError("--master-host needs --worker (the master's address)")
        if master_bind_host is not None and not master:
            raise UsageError("--master-bind-host needs --master")
        if master_port is not None and not (master or worker):
            raise UsageError("--master-port needs --master or --worker")
        port = DEFAULT_MASTER_PORT if master_port is None else master_port
        if master:
            expected = 1 if expect_workers is None else expect_workers
            if expected < 1:
                raise UsageError(f"--expect-workers {expected}: expected at least 1")
            return cls("master", 0, expected, LOOPBACK, master_bind_host or "*", port)
        if worker:
            return cls("worker", 0, 1, master_host or LOOPBACK, "*", port)
        if workers:
            return cls("master", workers, workers, LOOPBACK, LOOPBACK, 0)
        return cls()


BuildEnvironment = Callable[..., Any]
"""The engine's ``build_environment(runner=..., master_host=..., master_port=...)`` for its user class."""


@contextlib.contextmanager
def load_environment(
    build: BuildEnvironment,
    topology: Topology,
    *,
    scenario: str = "",
    target_url: str = "",
    seed: int = 0,
    pacing: float = 0.0,
    command: str = "",
) -> Iterator[Any]:
    """The Locust ``Environment`` a ``harness load`` master or local run pushes load from.

    Local: ``build(runner="local")``. ``--workers K``: a master on a free loopback port and K
    local worker processes (:func:`worker_argv`: the ``scenario`` file's PipelineUser sending
    load to ``target_url``, inputs from ``seed``), connected before this yields; on exit
    (after the engine's ``quit``) the workers get :data:`WORKER_EXIT_GRACE` seconds to leave,
    then are stopped. ``--master``: a master on ``master_bind_host:master_port`` that waits
    for ``expect_workers`` started elsewhere. ``command`` (the rerun line) ends errors.
    """
    if topology.role == "worker":
        raise UsageError("--worker runs no engine: use serve_worker")
    if topology.role == "local":
        yield build(runner="local")
        return
    if not topology.workers:
        environment = build(
            runner="master", master_host=topology.master_bind_host, master_port=topology.master_port
        )
        await_final_reports(environment)
        wait_for_workers(
            environment.runner, topology.expect_workers, timeout=REMOTE_READY_TIMEOUT, command=command
        )
        yield environment
        return
    from harness.targets_wire import free_port

    port = free_port()
    environment = build(runner="master", master_host=LOOPBACK, master_port=port)
    await_final_reports(environment)
    argv = worker_argv(scenario, target_url=target_url, master_port=port, seed=seed, pacing=pacing)
    workers = LocalWorkers(argv, topology.workers, cwd=os.getcwd()).start()
    try:
        wait_for_workers(environment.runner, topology.workers, workers=workers, command=command)
        yield environment
    finally:
        workers.wait(WORKER_EXIT_GRACE)
        workers.stop()


def await_final_reports(environment: Any, timeout: float = FINAL_REPORT_WAIT) -> None:
    """Make the master's ``stop`` return only once every worker has reported after its users stopped.

    Workers send statistics (and the harness's tally) every few seconds; Locust's
    ``quit`` waits half a second for a last one, which a worker sends only after sleeping
    out its ``stop_timeout``. So the requests of the last interval would be missing from
    the verdict. A ``test_stop`` listener (fired at the end of ``stop``, once the workers
    report no users) waits for one more report from each connected worker.
    """
    import gevent

    seen: dict[str, float] = {}
    running: list[str] = []

    def on_report(client_id: str, data: Any, **_: Any) -> None:
        seen[client_id] = time.monotonic()

    def on_stopping(**_: Any) -> None:
        # the master forgets a worker once it says it stopped (until it is ready again): note them now
        running[:] = [client.id for client in environment.runner.clients.all]

    def on_stop(**_: Any) -> None:
        stopped = time.monotonic()
        deadline = stopped + timeout
        while time.monotonic() < deadline:
            if all(seen.get(client, 0.0) > stopped for client in running):
                return
            gevent.sleep(0.05)

    environment.events.worker_report.add_listener(on_report)
    environment.events.test_stopping.add_listener(on_stopping)
    environment.events.test_stop.add_listener(on_stop)


def worker_index(environment: Any) -> int:
    """This process's worker index: the master-assigned one for a worker, 0 for a local run."""
    index = getattr(getattr(environment, "runner", None), "worker_index", 0)
    return max(int(index), 0)


def stream_seed(seed: int, worker: int, user: int) -> int:
    """The seed of one simulated user's case pins, from (seed, worker, user); 63 bits fit the header."""
    return derive_seed(seed, "load-user", worker, user) >> 1


def case_pin(stream: int, request: int) -> str:
    """The ``x-harness-case`` value of a user's ``request``-th pipeline request (wraps past 10⁹)."""
    return f"{stream}-{request % (MAX_CASE_NUMBER + 1)}"


def worker_argv(
    scenario: str, *, target_url: str, master_port: int, seed: int, pacing: float = 0.0
) -> list[str]:
    """The command line of a local worker: ``python -m harness.load.distributed`` for this run.

    The same thing as ``harness load SCENARIO --target URL --worker --master-host 127.0.0.1
    --master-port P --seed S``, without going through the CLI: the master hands over the
    resolved seed, pacing and the URL it serves (a ``py:`` target's own local address).
    """
    argv = [sys.executable, "-m", "harness.load.distributed", scenario, "--target", target_url]
    argv += ["--master-host", LOOPBACK, "--master-port", str(master_port), "--seed", str(seed)]
    if pacing:
        argv += ["--pacing", repr(pacing)]
    return argv


class LocalWorkers:
    """K worker processes on this machine, started together, stopped together, watched for early death."""

    def __init__(
        self,
        argv: Sequence[str] | Callable[[int], Sequence[str]],
        count: int,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        if count < 1:
            raise UsageError(f"--workers {count}: expected at least 1")
        import shlex

        self.commands = [shlex.join(argv(index) if callable(argv) else argv) for index in range(count)]
        """The command line of each worker (``argv`` may be a function of the index, to pin CPUs)."""
        self.command = self.commands[0]
        self.count = count
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.cwd = cwd
        self.processes: list[Service] = []

    def start(self) -> Self:
        """Launch every worker (each in its own session, output kept for error messages)."""
        for command in self.commands:
            service = Service(command, self.env, interval=WORKER_WATCH_INTERVAL, cwd=self.cwd)
            self.processes.append(service.start())
        return self

    def dead(self) -> list[str]:
        """One line per worker that has exited: its exit code and last output."""
        lines = []
        for index, service in enumerate(self.processes):
            code = service.poll()
            if code is not None:
                tail = [line for line in service.output_tail() if line.strip()][-3:]
                said = " | ".join(tail) if tail else "no output"
                lines.append(f"worker process {index} exited with {code}: {said}")
        return lines

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every worker to exit; True when all did."""
        deadline = time.monotonic() + timeout
        for service in self.processes:
            if service.wait(max(0.0, deadline - time.monotonic())) is None:
                return False
        return True

    def stop(self, grace: float = 5.0) -> list[int | None]:
        """SIGTERM every worker, SIGKILL after ``grace``; their exit codes."""
        return [service.stop(grace) for service in self.processes]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_for_workers(
    runner: Any,
    expected: int,
    *,
    timeout: float = WORKER_READY_TIMEOUT,
    workers: LocalWorkers | None = None,
    sleep: Callable[[float], object] | None = None,
    command: str = "",
) -> None:
    """Return once ``runner`` (a Locust ``MasterRunner``) has ``expected`` workers connected.

    Raises :class:`TargetError` naming what is missing — a local worker that died (with its
    output), or how many connected before ``timeout`` — ending with the command to rerun.
    ``sleep`` yields to Locust's greenlets (``gevent.sleep``, the default when gevent is loaded).
    """
    pause = sleep if sleep is not None else _cooperative_sleep()
    deadline = time.monotonic() + timeout
    while runner.worker_count < expected:
        dead = workers.dead() if workers is not None else []
        if dead:
            raise TargetError("; ".join(dead) + _rerun(command))
        if time.monotonic() >= deadline:
            raise TargetError(
                f"{runner.worker_count} of {expected} Locust workers connected within {timeout:g}s "
                f"(start them with: harness load SCENARIO --target URL --worker --master-host <this host>)"
                + _rerun(command)
            )
        pause(0.1)


def run_worker(environment: Any, master_host: str, master_port: int = DEFAULT_MASTER_PORT) -> int:
    """Connect ``environment`` to the master as a worker and serve until the master quits; exit code."""
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    except ConnectionError:
        raise TargetError(
            f"--master-host {master_host} --master-port {master_port}: no Locust master answered"
        ) from None
    runner.greenlet.join()
    code = environment.process_exit_code
    return 0 if code is None else int(code)


def serve_worker(
    scenario_path: str,
    target_url: str,
    topology: Topology,
    *,
    seed: int | None = None,
    pacing: float = 0.0,
) -> int:
    """``harness load SCENARIO --target URL --worker``: a Locust worker of the scenario's PipelineUser.

    Connects to the master, then rebuilds the user's setup for the worker index the master
    assigned (inputs drawn from (seed, index)), serves spawn and stop messages until the
    master quits, and returns the exit code. No provider, no target, no report: the master
    owns those.
    """
    if not target_url.startswith(("http://", "https://")):
        raise UsageError(
            f"--worker --target {target_url!r}: expected http://host:port/path, the target the master serves"
        )
    from pathlib import Path

    import harness.runner  # noqa: F401  (httpcore's trio import needs select.epoll: before gevent)
    from harness.load.engine import build_environment, pipeline_user_class
    from harness.load.user import build_setup
    from harness.scenario import load_scenario

    scenario = load_scenario(Path(scenario_path))
    chosen = scenario.seed if seed is None else seed
    user = pipeline_user_class(scenario, target_url, seed=chosen, pacing=pacing)
    try:
        environment = build_environment(
            user,
            runner="worker",
            master_host=topology.master_host,
            master_port=topology.master_port,
            stop_timeout=scenario.case_timeout + 1.0,
        )
    except ConnectionError:
        raise TargetError(
            f"--master-host {topology.master_host} --master-port {topology.master_port}: "
            "no Locust master answered"
        ) from None
    index = worker_index(environment)
    user._harness_setup = build_setup(  # type: ignore[attr-defined]
        scenario, target_url, seed=chosen, worker=index, pacing=pacing
    )
    runner: Any = environment.runner
    runner.greenlet.join()
    code = environment.process_exit_code
    return 0 if code is None else int(code)


def _cooperative_sleep() -> Callable[[float], object]:
    if "gevent" in sys.modules:
        import gevent

        return gevent.sleep
    return time.sleep


def _rerun(command: str) -> str:
    return f"; Reproduce with: {command}" if command else ""


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.load.distributed SCENARIO --target URL --master-host H``: one worker."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m harness.load.distributed",
        description="A harness load worker (what `harness load ... --worker` runs).",
    )
    parser.add_argument("scenario")
    parser.add_argument("--target", required=True, help="the URL the master's target serves")
    parser.add_argument("--master-host", default=LOOPBACK)
    parser.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--pacing", type=float, default=0.0)
    args = parser.parse_args(argv)
    topology = Topology("worker", master_host=args.master_host, master_port=args.master_port)
    try:
        return serve_worker(args.scenario, args.target, topology, seed=args.seed, pacing=args.pacing)
    except (UsageError, TargetError) as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
