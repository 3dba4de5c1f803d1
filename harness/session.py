"""One ``harness run``: scenarios × targets, progress, journal, reports, terminal summary, exit code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness import __version__
from harness.errors import UsageError
from harness.observation import Journal, Observation, Outcome
from harness.reports import RunReport, ScenarioResult, write_reports
from harness.runner import RunSettings, run_scenario
from harness.scenario import Scenario, load_scenarios
from harness.target import Target, parse_target

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A report folder name: no separators, so a run id can never point outside the report dir."""

STATUS_STYLE = {
    "passed": "[green]passed[/green]",
    "failed": "[bold red]FAILED[/bold red]",
    "xfailed": "[yellow]xfailed[/yellow]",
    "xpassed": "[bold red]XPASSED[/bold red]",
}


@dataclass
class RunRequest:
    """What the user asked ``harness run`` for."""

    paths: list[Path]
    targets: list[str]
    seed: int | None = None
    cases: int | None = None
    only_case: int | None = None
    time_scale: float | None = None
    report_dir: Path = Path("reports")
    run_id: str | None = None
    progress: bool = True
    argv: list[str] = field(default_factory=list)
    target_cmd: str | None = None
    """A command that serves ``target_url`` (launched, watched and stopped per scenario)."""
    target_url: str | None = None
    target_memory_limit: str | None = None
    provider_port: int | None = None
    """Port of the fake provider for service targets (default: free for --target-cmd, else 9797)."""


def resolve(request: RunRequest) -> tuple[list[Scenario], list[Target]]:
    """Load scenarios and targets, defaulting to the shipped catalogue and the demo pipelines.

    ``--target-cmd demo`` without scenarios runs the shipped huge-payload scenario: the
    naive service OOM-killed under the memory cap, the hardened one holding.
    """
    from harness.demo import DEFAULT_TARGETS, catalogue_dir
    from harness.targets_wire import DEMO_SCENARIO, is_demo_command

    default = catalogue_dir() / DEMO_SCENARIO if is_demo_command(request.target_cmd) else catalogue_dir()
    scenarios = load_scenarios(request.paths or [default])
    return scenarios, _targets(request, list(DEFAULT_TARGETS))


def _targets(request: RunRequest, defaults: list[str]) -> list[Target]:
    """``--target`` specs plus the launched service; the demo pipelines when none is given."""
    from harness.targets_wire import HttpTarget, command_target, demo_targets, is_demo_command

    if request.target_cmd is None and (request.target_url or request.target_memory_limit):
        option = "--target-url" if request.target_url else "--target-memory-limit"
        raise UsageError(f"{option} needs --target-cmd (the command that serves the URL)")
    if is_demo_command(request.target_cmd) and request.target_url is not None:
        raise UsageError(
            f"--target-url {request.target_url!r}: --target-cmd demo serves its own URLs; drop --target-url"
        )
    targets: list[Target] = []
    for spec in request.targets:
        target = parse_target(spec)
        if isinstance(target, HttpTarget) and request.provider_port is not None:
            target = dataclasses.replace(target, provider_port=request.provider_port)
        targets.append(target)
    if is_demo_command(request.target_cmd):
        targets.extend(demo_targets(request.target_cmd, request.target_memory_limit, request.provider_port))
    elif request.target_cmd is not None:
        targets.append(
            command_target(
                request.target_cmd,
                request.target_url,
                request.target_memory_limit,
                provider_port=request.provider_port,
            )
        )
    return targets or [parse_target(spec) for spec in defaults]


def execute(request: RunRequest, console: Console) -> int:
    """Run everything asked for, write reports, print the summary; return the exit code."""
    scenarios, targets = resolve(request)
    settings = RunSettings(request.seed, request.cases, request.only_case, request.time_scale)
    _check_settings(settings, scenarios)
    started_at = dt.datetime.now(dt.UTC)
    run_id = request.run_id or _fresh_run_id(request.report_dir, started_at, request.seed)
    folder = _report_folder(request.report_dir, run_id)
    total = sum(_case_count(s, settings) for s in scenarios) * len(targets)
    results: list[ScenarioResult] = []
    clock = time.perf_counter()
    with Journal(folder / "journal.jsonl") as journal, progress_bar(console, request.progress) as bar:
        task = bar.add_task("cases", total=total)
        for scenario in scenarios:
            for target in targets:
                bar.update(task, description=f"{scenario.name} × {target.short}")
                results.append(
                    run_scenario(
                        scenario, target, settings, journal=journal, on_case=lambda _: bar.advance(task)
                    )
                )
    report = RunReport(
        run_id=run_id,
        started_at=started_at.isoformat(timespec="seconds"),
        command=" ".join(request.argv),
        seed=request.seed,
        version=__version__,
        duration=time.perf_counter() - clock,
        results=results,
    )
    written = write_reports(report, folder)
    print_summary(console, results, targets)
    console.print(f"\nReports: {written.get('html', folder)}  ({report.duration:.1f}s)", soft_wrap=True)
    print_expected_crashes(console, results)
    print_failures(console, results)
    return 0 if report.ok else 1


def _check_settings(settings: RunSettings, scenarios: list[Scenario]) -> None:
    """Command-line values the scenarios cannot honour are usage errors, not silent surprises."""
    if settings.seed is not None and settings.seed < 0:
        raise UsageError(f"--seed {settings.seed}: expected a seed of 0 or more")
    if settings.only_case is None:
        return
    for scenario in scenarios:
        cases = settings.cases if settings.cases is not None else scenario.cases
        if settings.only_case >= cases:
            raise UsageError(f"--case {settings.only_case}: expected a case below {cases} ({scenario.name})")


def _report_folder(report_dir: Path, run_id: str) -> Path:
    """Create ``report_dir/run_id`` up front, so a bad folder is a usage error before any case runs."""
    if not RUN_ID.fullmatch(run_id):
        raise UsageError(f"--run-id {run_id!r}: expected letters, digits, '.', '_' or '-'")
    folder = report_dir / run_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--report-dir {report_dir}: cannot create {folder}: {exc.strerror}") from None
    return folder


def _fresh_run_id(report_dir: Path, started_at: dt.datetime, seed: int | None) -> str:
    """Time (and seed) based, with a counter when a run in the same second took the name."""
    base = f"{started_at:%Y%m%d-%H%M%S}" + (f"-s{seed}" if seed is not None else "")
    candidate, counter = base, 1
    while (report_dir / candidate).exists():
        counter += 1
        candidate = f"{base}-{counter}"
    return candidate


def _case_count(scenario: Scenario, settings: RunSettings) -> int:
    if settings.only_case is not None:
        return 1
    return settings.cases if settings.cases is not None else scenario.cases


def progress_bar(console: Console, enabled: bool) -> Progress:
    """A transient bar of cases done (description, bar, n/m, elapsed); off when ``enabled`` is false."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not enabled,
    )


def _cell(result: ScenarioResult) -> str:
    counts = dict.fromkeys(Outcome, 0)
    for obs in result.observations:
        counts[obs.outcome] += 1
    figures = [f"{counts[Outcome.KEPT]} ok"]
    for outcome, word in (
        (Outcome.GARBAGE, "garbage"),
        (Outcome.UNDECLARED_ERROR, "exception"),
        (Outcome.TIMEOUT, "hang"),
        (Outcome.CRASH, "crash"),
        (Outcome.ALLOWED_ERROR, "declared err"),
    ):
        if counts[outcome]:
            figures.append(f"{counts[outcome]} {word}")
    broken = [v.slo.text for v in result.verdicts if not v.passed]
    lines = [f"{STATUS_STYLE[result.status]}  {', '.join(figures)}"]
    if broken:
        lines.append("[dim]broke: " + "; ".join(broken) + "[/dim]")
    return "\n".join(lines)


def print_summary(console: Console, results: list[ScenarioResult], targets: list[Target]) -> None:
    """The scenario × pipeline matrix."""
    table = Table(title="harness: scenario × pipeline", show_lines=True)
    table.add_column("scenario", style="bold")
    for target in targets:
        table.add_column(target.short)
    by_scenario: dict[str, dict[str, ScenarioResult]] = {}
    for result in results:
        by_scenario.setdefault(result.scenario, {})[result.target] = result
    for scenario, row in by_scenario.items():
        table.add_row(scenario, *(_cell(row[t.label]) if t.label in row else "" for t in targets))
    console.print(table)


def print_failures(console: Console, results: list[ScenarioResult]) -> None:
    """Each unexpected failure: broken SLOs, the first offending case, and the replay command last."""
    for result in results:
        if result.status in ("passed", "xfailed"):
            continue
        console.print(f"\n[bold red]{result.status.upper()}[/bold red] {result.scenario} × {result.target}")
        if result.status == "xpassed" or (result.expected_broken and result.status == "failed"):
            console.print(f"  expected to break: {', '.join(result.expected_broken)}")
        first: Observation | None = None
        for verdict in result.verdicts:
            if verdict.passed:
                continue
            console.print(f"  {verdict.describe()}", markup=False, highlight=False, soft_wrap=True)
            first = first or _first_offender(result, verdict.offending)
        if first is not None:
            faults = ", ".join(first.faults) or "clean"
            console.print(
                f"  case {first.case_id}: {first.outcome.value}; faults: {faults}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            detail = first.error or first.violation or ""
            console.print(f"  {detail}", markup=False, highlight=False, soft_wrap=True)
        replay = first.replay if first is not None else result.replay
        # one unbroken line, whatever the terminal width: it is meant to be pasted
        console.print(f"  Reproduce with: {replay}", markup=False, highlight=False, soft_wrap=True)


def print_expected_crashes(console: Console, results: list[ScenarioResult]) -> None:
    """A service that died as its xfail entry declares (an OOM kill): the first death, in one line."""
    for result in results:
        crashed = next((o for o in result.observations if o.outcome is Outcome.CRASH), None)
        if result.status != "xfailed" or crashed is None:
            continue
        console.print(
            f"\nxfailed {result.scenario} × {result.target}, as declared: case {crashed.case_id}: "
            f"{crashed.error or 'crash'}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _first_offender(result: ScenarioResult, case_ids: list[str]) -> Observation | None:
    wanted = set(case_ids)
    return next((o for o in result.observations if o.case_id in wanted), None)
