"""A ``harness load`` request resolved into a :class:`LoadPlan` — without importing Locust.

Kept apart from the engine so that bad options, a bad scenario or a bad target are reported
(one line, exit 2) before Locust's import monkey-patches the process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.durations import DURATION_EXPECTED, parse_duration
from harness.errors import UsageError
from harness.load.distributed import Topology
from harness.load.gates import AbortWatch
from harness.load.model import LoadSettings
from harness.scenario import LoadConfig, Scenario, load_scenario
from harness.targets_wire import (
    DEMO_COMMAND,
    HttpTarget,
    command_target,
    demo_targets,
    http_target,
    is_demo_command,
)


@dataclass
class LoadRequest:
    """What the user asked ``harness load`` for (None: the scenario's ``load:`` block, then defaults)."""

    scenario: Path
    target: str | None = None
    target_cmd: str | None = None
    target_url: str | None = None
    target_memory_limit: str | None = None
    users: int | None = None
    spawn_rate: float | None = None
    duration: float | None = None
    pacing: float | None = None
    seed: int | None = None
    time_scale: float | None = None
    abort_on_fail: bool | None = None
    grace: float | None = None
    report_dir: Path = Path("reports")
    run_id: str | None = None
    provider_port: int | None = None
    progress: bool = True
    argv: list[str] = field(default_factory=list)
    topology: Topology = field(default_factory=Topology)
    """Local run, ``--workers K`` master, ``--master`` or ``--worker`` (:mod:`harness.load.distributed`)."""


@dataclass
class LoadPlan:
    """A request resolved against its scenario: settings, target, report folder, abort rule."""

    scenario: Scenario
    settings: LoadSettings
    target: HttpTarget
    folder: Path
    pacing: float
    abort: AbortWatch | None
    time_scale: float | None
    command: str
    progress: bool = True
    topology: Topology = field(default_factory=Topology)


# --- resolving the request ----------------------------------------------------------------------


def plan_load(request: LoadRequest) -> LoadPlan:
    """Load the scenario and resolve settings, target and report folder (UsageError on bad input)."""
    from harness.session import _fresh_run_id, _report_folder

    scenario = load_scenario(request.scenario)
    config = scenario.load or LoadConfig()
    users = request.users if request.users is not None else config.users
    spawn_rate = request.spawn_rate or config.spawn_rate or float(users)
    abort_on_fail = config.abort_on_fail if request.abort_on_fail is None else request.abort_on_fail
    grace = request.grace if request.grace is not None else config.grace
    started = dt.datetime.now(dt.UTC)
    run_id = request.run_id or _fresh_run_id(request.report_dir, started, request.seed)
    settings = LoadSettings(
        users=users,
        spawn_rate=spawn_rate,
        duration=request.duration if request.duration is not None else config.duration,
        workers=request.topology.workers,
        seed=scenario.seed if request.seed is None else request.seed,
        abort_grace=grace if abort_on_fail else None,
        report_dir=request.report_dir,
        run_id=run_id,
    )
    abort = AbortWatch(grace, config.abort_slos) if abort_on_fail else None
    target = resolve_target(request, config)
    folder = _report_folder(request.report_dir, run_id)
    pacing = request.pacing if request.pacing is not None else config.pacing
    command = shlex.join(request.argv or ["harness", "load", str(request.scenario)])
    return LoadPlan(
        scenario,
        settings,
        target,
        folder,
        pacing,
        abort,
        request.time_scale,
        command,
        request.progress,
        request.topology,
    )


def resolve_target(request: LoadRequest, config: LoadConfig) -> HttpTarget:
    """``--target-cmd``/``--target-url``, ``--target py:…`` or ``--target http://…``; exactly one."""
    limit = request.target_memory_limit
    if limit is None and config.memory_limit is not None:
        limit = f"{config.memory_limit}B"
    if request.target_cmd is not None:
        if request.target is not None:
            raise UsageError("--target and --target-cmd: expected one target, got both")
        if is_demo_command(request.target_cmd):
            return _demo_target(request, limit)
        return command_target(
            request.target_cmd, request.target_url, limit, provider_port=request.provider_port
        )
    if request.target_url is not None:
        raise UsageError("--target-url needs --target-cmd (the command that serves the URL)")
    if request.target is None:
        raise UsageError("expected a target: --target http://host:port/path | py:pkg.mod:fn, or --target-cmd")
    if request.target.startswith("py:"):
        from harness.load.pyservice import py_service_target

        return py_service_target(request.target, memory_limit=limit)
    if request.target_memory_limit is not None:
        raise UsageError("--target-memory-limit needs a launched target (--target-cmd or --target py:…)")
    target = http_target(request.target)
    if request.provider_port is not None:
        target = HttpTarget(target.url, provider_port=request.provider_port)
    return target


def _seconds(option: str, text: str | None, *, zero: bool = False) -> float | None:
    if text is None:
        return None
    if zero and text.strip() in ("0", "0s"):
        return 0.0
    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text)
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected {DURATION_EXPECTED}") from None
    if seconds <= 0 and not zero:
        raise UsageError(f"{option} {text!r}: expected a positive duration")
    return seconds


def load_request(
    *, duration: str | None, pacing: str | None, grace: str | None, **options: Any
) -> LoadRequest:
    """The LoadRequest from the command's options (durations parsed, UsageError when bad)."""
    scenario: Path = options.pop("scenario")
    return LoadRequest(
        scenario=scenario,
        duration=_seconds("--duration", duration),
        pacing=_seconds("--pacing", pacing, zero=True),
        grace=_seconds("--grace", grace),
        **options,
    )


def _demo_target(request: LoadRequest, limit: str | None) -> HttpTarget:
    """``--target-cmd demo:naive|demo:hardened``: the bundled demo service on a free loopback port."""
    command = request.target_cmd or DEMO_COMMAND
    if request.target_url is not None:
        raise UsageError(f"--target-url with --target-cmd {command}: the demo service picks its own URL")
    if command.strip() == DEMO_COMMAND:
        raise UsageError("--target-cmd demo: load drives one endpoint; expected demo:naive or demo:hardened")
    demo = demo_targets(command, limit, request.provider_port)[0]
    launched = demo.launched()
    # keep the port-free label (what xfail entries and replay lines name), serve the launched URL
    return dataclasses.replace(demo, url=launched.url, command=launched.command)
