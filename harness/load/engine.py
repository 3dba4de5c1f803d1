"""``harness load``: the fake provider, the target and Locust in one run, judged by the scenario's SLOs.

One run, in order:

1. the scenario's fake provider starts in its own process (``python -m harness serve``: this
   process is gevent-patched by Locust, so uvicorn must not share it), on a free port — or on
   ``--provider-port`` (default 9797) for a URL target the user started;
2. the target starts: ``--target-cmd`` with ``--target-url`` (``OPENAI_BASE_URL`` /
   ``ANTHROPIC_BASE_URL`` point at the provider; process-tree RSS watched, optional memory
   cap), ``--target py:pkg.mod:fn`` (served by :mod:`harness.load.pyservice` in its own
   process, watched the same way), or ``--target http://…`` (a running service);
3. Locust runs as a library (:func:`build_environment`: an ``Environment`` with a local
   runner) with a :class:`~harness.load.user.PipelineUser` for the scenario; every second a
   :class:`~harness.load.model.LoadSample` goes to ``on_sample`` (the live view) and to
   ``samples.jsonl`` in the report folder; the target's RSS is sampled at 10 Hz;
4. the run ends after ``duration`` (in-flight requests get up to ``case_timeout`` to
   finish), when ``abort_on_fail`` sees an SLO broken for its grace period, when the target
   dies (crash, OOM kill: a verdict, never a hang), or on SIGINT/SIGTERM (users stopped at
   once); then the provider's model-call count is read, target and provider are stopped,
   the SLOs judged (:mod:`harness.load.gates`) and the reports written — in every case.

Exit codes: 0 every SLO held (or broke exactly as an ``xfail`` entry declares), 1 an SLO
broke or the target died, 2 bad input, 128 + signal number when interrupted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, Literal

import gevent
import gevent.event
import httpx
import psutil
from locust import events
from locust.env import Environment

from harness.errors import UsageError
from harness.load.distributed import load_environment
from harness.load.gates import Measures, RssSeries, judge, measure, target_verdict
from harness.load.live import live_view
from harness.load.model import LoadRun, LoadSample
from harness.load.plan import LoadPlan
from harness.load.report import start_locust_csv, write_load_reports
from harness.load.user import PipelineUser, build_setup, latency_of, tally_for
from harness.observation import Outcome
from harness.process import Exit, Service, tree_rss
from harness.scenario import Scenario
from harness.targets_wire import DUMMY_KEY, HttpTarget, free_port

RunnerKind = Literal["local", "master", "worker"]
SampleHook = Callable[[LoadSample], None]

RSS_INTERVAL = 0.1
"""Seconds between RSS samples of the target's process tree (10 Hz)."""
SAMPLE_INTERVAL = 1.0
"""Seconds between LoadSamples (live view, journal, abort checks)."""
PROVIDER_READY = 30.0
"""Real seconds the fake provider may take to listen."""
CRASH_DRAIN = 2.0
"""Seconds in-flight requests get to fail after the target died."""
SAMPLES_FILE = "samples.jsonl"
"""The per-second journal in the report folder (its first line: the run is under way)."""


# --- the fake provider in its own process -------------------------------------------------------


class ProviderProcess:
    """``python -m harness serve`` for the scenario, on 127.0.0.1: start, read its stats, stop."""

    def __init__(self, scenario: Path, port: int, seed: int, time_scale: float | None) -> None:
        argv = [sys.executable, "-m", "harness", "serve", str(scenario), "--port", str(port)]
        argv += ["--seed", str(seed)]
        if time_scale is not None:
            argv += ["--time-scale", repr(time_scale)]
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.service = Service(shlex.join(argv), _environ())
        self._client = httpx.Client(base_url=self.url, timeout=5.0)

    def start(self) -> ProviderProcess:
        """Launch it and wait until it listens."""
        from harness.process import port_open

        if port_open("127.0.0.1", self.port):
            raise UsageError(
                f"--provider-port {self.port}: something already listens on 127.0.0.1:{self.port}"
            )
        self.service.start().wait_ready("127.0.0.1", self.port, PROVIDER_READY)
        return self

    def stats(self) -> dict[str, Any] | None:
        """``GET /_harness/stats`` (None when the provider does not answer)."""
        try:
            reply = self._client.get("/_harness/stats")
            data = reply.json()
        except (httpx.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def stop(self) -> None:
        """Stop the provider process."""
        self._client.close()
        self.service.stop(grace=2.0)


def _environ() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def target_environ(provider: ProviderProcess) -> dict[str, str]:
    """A launched target's environment: the provider base URLs point at the fake provider."""
    env = _environ()
    env["OPENAI_BASE_URL"] = f"{provider.url}/v1"
    env["ANTHROPIC_BASE_URL"] = provider.url
    env.setdefault("OPENAI_API_KEY", DUMMY_KEY)
    env.setdefault("ANTHROPIC_API_KEY", DUMMY_KEY)
    return env


def provider_port(target: HttpTarget) -> int:
    """The port the provider binds: the target's choice, else a free one for a launched target."""
    port = target.provider_bind_port
    return port if port != 0 else free_port()


# --- Locust as a library ------------------------------------------------------------------------


def pipeline_user_class(
    scenario: Scenario, url: str, *, seed: int, worker: int = 0, pacing: float = 0.0
) -> type[PipelineUser]:
    """A concrete PipelineUser for ``scenario`` against ``url``, its bodies drawn from (seed, worker)."""
    attrs: dict[str, Any] = {
        "scenario": str(scenario.path),
        "target": url,
        "seed": seed,
        "pacing": pacing,
        "__module__": __name__,
        "__doc__": f"PipelineUser for {scenario.name}.",
    }
    cls: type[PipelineUser] = type("Pipeline", (PipelineUser,), attrs)
    cls._harness_setup = build_setup(scenario, url, seed=seed, worker=worker, pacing=pacing)  # type: ignore[attr-defined]
    return cls


def build_environment(
    user_class: type[PipelineUser],
    *,
    runner: RunnerKind = "local",
    master_host: str = "127.0.0.1",
    master_port: int = 5557,
    stop_timeout: float | None = None,
) -> Environment:
    """An Environment for ``user_class`` with a local, master or worker runner; ``init`` fired.

    Uses Locust's module-level ``events``, so the listeners PipelineUser registers on import
    (worker tallies carried to the master) apply. ``harness_managed`` tells the plain-Locust
    gate to leave judging to the engine.
    """
    env = Environment(user_classes=[user_class], events=events, stop_timeout=stop_timeout)
    env.harness_managed = True  # type: ignore[attr-defined]
    if runner == "local":
        env.create_local_runner()
    elif runner == "master":
        env.create_master_runner(master_bind_host=master_host, master_bind_port=master_port)
    else:
        env.create_worker_runner(master_host, master_port)
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)
    return env


# --- one run ------------------------------------------------------------------------------------


class LoadEngine:
    """Runs one planned load test and returns its :class:`LoadRun` (reports are the caller's)."""

    def __init__(self, plan: LoadPlan, on_sample: SampleHook | None = None) -> None:
        self.plan = plan
        self.on_sample = on_sample
        self.samples: list[LoadSample] = []
        self.rss = RssSeries()
        self.stop_reason: str | None = None
        self.signal: int | None = None
        self.environment: Environment | None = None
        self.target_exit: Exit | None = None
        self._stop = gevent.event.Event()
        self._start = 0.0
        self._provider: ProviderProcess | None = None
        self._service: Service | None = None
        self._last_stats: dict[str, Any] | None = None

    # --- lifecycle ---

    def run(self) -> LoadRun:
        """Start provider and target, push load until the end, stop everything, judge; always a LoadRun."""
        plan = self.plan
        started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._signals(), contextlib.ExitStack() as stack:
            self._provider = ProviderProcess(
                plan.scenario.path, provider_port(plan.target), plan.settings.seed, plan.time_scale
            ).start()
            stack.callback(self._provider.stop)
            self._service = self._start_target()
            if self._service is not None:
                stack.callback(self._service.stop, 2.0)
            self._push()
            stats = self._provider.stats() or self._last_stats
            self._note_target_exit()
        return self._finish(started_at, stats)

    def _start_target(self) -> Service | None:
        target = self.plan.target
        if target.command is None or self._provider is None:
            return None
        host, port = target.address
        service = Service(target.command, target_environ(self._provider), memory_limit=target.memory_limit)
        service.start().wait_ready(host, port, target.ready_timeout)
        return service

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM stop the run (a second one stops the users at once)."""

        def stop(signum: int) -> None:
            if self.signal is None:
                self.signal = signum
                self._request_stop(f"{signal.Signals(signum).name} (interrupted)")
            else:
                runner = self.environment.runner if self.environment else None
                if runner is not None:
                    runner.user_greenlets.kill(block=False)

        handlers = [gevent.signal_handler(sig, stop, sig) for sig in (signal.SIGINT, signal.SIGTERM)]
        try:
            yield
        finally:
            for handler in handlers:
                handler.cancel()

    def _request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    # --- the load ---

    def _push(self) -> None:
        plan = self.plan
        user = pipeline_user_class(
            plan.scenario, plan.target.url, seed=plan.settings.seed, pacing=plan.pacing
        )
        build = functools.partial(build_environment, user, stop_timeout=plan.scenario.case_timeout + 1.0)
        with load_environment(
            build,
            plan.topology,
            scenario=str(plan.scenario.path),
            target_url=plan.target.url,
            seed=plan.settings.seed,
            pacing=plan.pacing,
            command=plan.command,
        ) as env:
            self.environment = env
            stop_csv = start_locust_csv(env, plan.folder)
            watcher = gevent.spawn(self._watch_rss)
            self._start = time.monotonic()
            try:
                if self.stop_reason is None:
                    assert env.runner is not None
                    env.runner.start(plan.settings.users, spawn_rate=plan.settings.spawn_rate)
                    with (plan.folder / SAMPLES_FILE).open("a", encoding="utf-8") as journal:
                        self._tick_until_stop(journal)
                self._drain(env)
            finally:
                watcher.kill(block=True)
                stop_csv()

    def _tick_until_stop(self, journal: IO[str]) -> None:
        plan = self.plan
        tick = 1
        while True:
            due = self._start + tick * SAMPLE_INTERVAL
            if self._stop.wait(max(0.0, due - time.monotonic())):
                self._record(journal)
                return
            sample = self._record(journal)
            tick += 1
            if sample.elapsed >= plan.settings.duration - 1e-3:
                self._request_stop("duration")
            elif plan.abort is not None:
                verdicts, _ = judge(plan.scenario.slos, self._measures(self._last_stats))
                reason = plan.abort.check(verdicts, sample.elapsed)
                if reason is not None:
                    self._request_stop(reason)
            if self._stop.is_set():
                return

    def _drain(self, env: Environment) -> None:
        """Stop the users: in-flight requests may finish (up to the case timeout) after a normal end."""
        if env.runner is None:
            return
        reason = self.stop_reason or "duration"
        if self.signal is not None or reason.startswith("abort_on_fail"):
            env.stop_timeout = 0.0  # stop now: users are killed mid-request
        elif self.target_exit is not None:
            env.stop_timeout = CRASH_DRAIN
        env.runner.stop()
        env.runner.quit()

    def _watch_rss(self) -> None:
        service = self._service
        process = psutil.Process(service.pid) if service is not None and service.pid else None
        while True:
            if service is not None and process is not None:
                if not service.alive:
                    self._note_target_exit()
                    self._request_stop("target exited")
                    return
                self.rss.add(time.monotonic() - self._start, tree_rss(process))
            gevent.sleep(RSS_INTERVAL)

    def _note_target_exit(self) -> None:
        if self._service is None:
            return
        self.rss.floor = max(self.rss.floor, self._service.run_peak)
        if self.target_exit is None:
            self.target_exit = self._service.exit()

    # --- samples and measures ---

    def _record(self, journal: IO[str]) -> LoadSample:
        sample = self._sample()
        self.samples.append(sample)
        journal.write(json.dumps(asdict(sample), separators=(",", ":")) + "\n")
        journal.flush()
        if self.on_sample is not None:
            self.on_sample(sample)
        return sample

    def _sample(self) -> LoadSample:
        env = self.environment
        assert env is not None and env.runner is not None
        elapsed = time.monotonic() - self._start
        stats = self._provider.stats() if self._provider is not None else None
        if stats is not None:
            self._last_stats = stats
        total = env.stats.total
        tally = tally_for(env)
        last = self.samples[-1] if self.samples else None
        previous, answered = (last.elapsed, last.requests) if last else (0.0, 0)
        span = elapsed - previous
        return LoadSample(
            elapsed=round(elapsed, 3),
            users=env.runner.user_count,
            requests=tally.requests,
            rps=round((tally.requests - answered) / span, 3) if span > 0 else 0.0,
            p50=_current(total, 0.5),
            p95=_current(total, 0.95),
            p99=_current(total, 0.99),
            errors=tally.errors,
            garbage_passed=tally.count(Outcome.GARBAGE),
            model_calls=int(stats["requests"]) if stats else 0,
            rss=self.rss.since(previous) if self._service is not None else None,
            faults_served=dict((stats or {}).get("labels", {})),
        )

    def _measures(self, stats: dict[str, Any] | None) -> Measures:
        env = self.environment
        assert env is not None
        elapsed = max(1e-3, (self.samples[-1].elapsed if self.samples else time.monotonic() - self._start))
        return measure(
            tally_for(env),
            latency_of(env),
            elapsed=elapsed,
            model_calls=int(stats["requests"]) if stats else None,
            rss=self.rss if self._service is not None else None,
        )

    # --- the verdict ---

    def _finish(self, started_at: str, stats: dict[str, Any] | None) -> LoadRun:
        plan = self.plan
        scenario = plan.scenario
        env = self.environment
        measures = self._measures(stats) if env is not None else Measures()
        verdicts, skipped = judge(scenario.slos, measures)
        died = self.target_exit is not None  # seen before the harness stopped it: it died on its own
        if plan.target.command is not None:
            verdicts.append(target_verdict(1 if died else 0))
        xfail = scenario.xfail.get(plan.target.label)
        return LoadRun(
            scenario=scenario.name,
            target=plan.target.label,
            settings=plan.settings,
            samples=list(self.samples),
            totals=self._totals(measures, stats),
            faults_served=dict((stats or {}).get("labels", {})),
            target_exit=self.target_exit.describe() if died and self.target_exit else None,
            stopped_by=self.stop_reason or "duration",
            report_folder=plan.folder,
            description=scenario.description,
            verdicts=verdicts,
            skipped=skipped,
            xfail_reason=xfail.reason if xfail else None,
            expected_broken=list(xfail.slos) if xfail else [],
            started_at=started_at,
            wall=self.samples[-1].elapsed if self.samples else 0.0,
            command=plan.command,
        )

    def _totals(self, measures: Measures, stats: dict[str, Any] | None) -> dict[str, Any]:
        env = self.environment
        totals: dict[str, Any] = {}
        if env is not None:
            tally = tally_for(env)
            totals["requests"] = tally.requests
            totals.update(tally.as_json()["outcomes"])
            totals["locust_requests"] = env.stats.total.num_requests
            totals["locust_failures"] = env.stats.total.num_failures
            for outcome, example in sorted(tally.examples.items()):
                totals[f"first {outcome}"] = example
        totals["model_calls"] = int(stats["requests"]) if stats else None
        totals.update(sorted(measures.values.items()))
        if self.rss.points:
            totals["peak_rss"] = self.rss.peak
        return totals


def _current(entry: Any, percent: float) -> float | None:
    value = entry.get_current_response_time_percentile(percent)
    return None if value is None else value / 1000


# --- the command --------------------------------------------------------------------------------


def execute(plan: LoadPlan, console: Any = None) -> int:
    """``harness load``: run the plan, write reports, print the verdicts; the exit code."""
    from rich.console import Console

    console = console if console is not None else Console()
    engine = LoadEngine(plan)
    with live_view(
        plan.settings, scenario=plan.scenario.name, target=plan.target.label, enabled=plan.progress
    ) as view:
        engine.on_sample = view.update
        run = engine.run()
    write_load_reports(run, plan.folder, engine.environment)
    _print(console, run, plan)
    if engine.signal is not None:
        return 128 + engine.signal
    return 0 if run.ok else 1


def _print(console: Any, run: LoadRun, plan: LoadPlan) -> None:
    for verdict in run.verdicts:
        mark = "[green]ok[/green]" if verdict.passed else "[bold red]BROKEN[/bold red]"
        console.print(f"{mark} {verdict.describe()}", highlight=False)
    for slo, reason in run.skipped.items():
        console.print(f"[yellow]skipped[/yellow] {slo}: {reason}", highlight=False)
    if run.target_exit:
        console.print(f"[bold red]target died[/bold red]: {run.target_exit}", highlight=False)
    requests = run.totals.get("requests", 0)
    console.print(
        f"{run.scenario} × {run.target}: {run.status} — {requests} requests in {run.wall:.1f}s, "
        f"stopped by {run.stopped_by}",
        highlight=False,
    )
    console.print(f"Reports: {plan.folder}", highlight=False)
    if not run.ok:
        console.print(f"Reproduce with: {run.command}", highlight=False, soft_wrap=True)
