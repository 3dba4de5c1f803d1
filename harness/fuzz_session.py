"""One ``harness fuzz`` invocation: resolve the case and target, search, write the report, print, exit code.

Exit codes: 0 when no failure class was found (every example kept the contract or ended
in a declared error), 1 when at least one was, 2 on bad input.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from harness.durations import parse_duration
from harness.errors import UsageError
from harness.fuzz import DEFAULT_MAX_EXAMPLES, DEFAULT_MAX_FAULTS, FuzzSettings, fault_names, fuzz
from harness.fuzz_case import case_from_options
from harness.fuzz_report import print_result, report_data, save_cases, write_report
from harness.session import RUN_ID, progress_bar
from harness.target import PyTarget, parse_target


@dataclass
class FuzzRequest:
    """What the user asked ``harness fuzz`` for."""

    target: str
    scenario: Path | None = None
    contract: str | None = None
    source: str | None = None
    allowed_errors: list[str] = field(default_factory=list)
    input: str | None = None
    provider: str | None = None
    case_timeout: str | None = None
    seed: int = 0
    max_examples: int = DEFAULT_MAX_EXAMPLES
    max_faults: int = DEFAULT_MAX_FAULTS
    only: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    report_dir: Path = Path("reports")
    run_id: str | None = None
    save_cases: Path | None = None
    progress: bool = True
    argv: list[str] = field(default_factory=list)


def fuzz_target(spec: str) -> PyTarget:
    """The in-process target; a service URL is refused with the way to replay over the wire instead."""
    target = parse_target(spec)
    if not isinstance(target, PyTarget):
        raise UsageError(
            f"--target {spec}: expected py:package.module:function (fuzzing runs in-process; "
            "`harness replay CASE --target http://…` replays a found case against a service)"
        )
    return target


def execute_fuzz(request: FuzzRequest, console: Console) -> int:
    """Run the fuzz search asked for, write ``reports/<run-id>/``, print the classes; the exit code."""
    if request.seed < 0:
        raise UsageError(f"--seed {request.seed}: expected a seed of 0 or more")
    target = fuzz_target(request.target)
    case = case_from_options(
        scenario=request.scenario,
        contract=request.contract,
        source=request.source,
        allowed_errors=request.allowed_errors,
        input_text=request.input,
        provider=request.provider,
        case_timeout=_timeout(request.case_timeout),
        seed=request.seed,
    )
    settings = FuzzSettings(
        seed=request.seed,
        max_examples=request.max_examples,
        max_faults=request.max_faults,
        only=tuple(request.only),
        exclude=tuple(request.exclude),
    )
    fault_names(case, settings)  # an unknown --only/--exclude fault is a usage error before any folder
    started_at = dt.datetime.now(dt.UTC)
    if request.save_cases is not None:
        _make(request.save_cases, "--save-cases")
    folder = _folder(request.report_dir, request.run_id, f"fuzz-{started_at:%Y%m%d-%H%M%S}-s{request.seed}")
    with progress_bar(console, request.progress) as bar:
        task = bar.add_task(f"fuzz {target.short}", total=request.max_examples)
        shrinking = bar.add_task("shrink failing groups", total=None, visible=False)

        def on_group(done: int, total: int) -> None:
            bar.update(shrinking, completed=done, total=total, visible=True)

        result = fuzz(case, target, settings, on_example=lambda _: bar.advance(task), on_group=on_group)
    saved = save_cases(result, request.save_cases) if request.save_cases is not None else {}
    report = folder / "report.json"
    data = report_data(
        result,
        report,
        run_id=folder.name,
        started_at=started_at.isoformat(timespec="seconds"),
        command=" ".join(request.argv),
        saved=saved,
    )
    write_report(data, folder)
    print_result(console, result, data, report)
    return 1 if result.classes else 0


def _timeout(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--case-timeout {text!r}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"--case-timeout {text!r}: expected a positive duration such as 60s")
    return seconds


def _folder(report_dir: Path, run_id: str | None, fresh: str) -> Path:
    """``report_dir/run_id`` (a fresh time-based name if none), created up front before any example runs."""
    if run_id is not None and not RUN_ID.fullmatch(run_id):
        raise UsageError(f"--run-id {run_id!r}: expected letters, digits, '.', '_' or '-'")
    folder = report_dir / (run_id or fresh)
    counter = 1
    while run_id is None and folder.exists():
        counter += 1
        folder = report_dir / f"{fresh}-{counter}"
    _make(folder, "--report-dir")
    return folder


def _make(folder: Path, option: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {folder}: cannot create the folder: {exc.strerror}") from None
