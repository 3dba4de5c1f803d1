"""``harness replay CASE``: run one saved failing case again and say whether it still fails.

``CASE`` is a class of a fuzz report (``reports/<run-id>/report.json#c3``; the report
names the target) or a case file that ``harness fuzz --save-cases`` wrote (any one-case
scenario file; give ``--target``). The case runs through the regular runner, so the
target may be in-process (``py:…``) or a service (``http://…``, or ``--target-cmd`` with
``--target-url``): the same bytes are served either way. Exit code 1 when the case still
fails (garbage passed, an undeclared error, a hang or a crash), 0 when it now keeps the
contract or ends in a declared error — the regression test to commit after the fix.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from harness.errors import UsageError
from harness.fuzz_probe import error_type_of
from harness.fuzz_report import REPORT_KIND
from harness.observation import Observation
from harness.reports import BAD_OUTCOMES
from harness.runner import RunSettings, display_path, run_scenario
from harness.scenario import Scenario, load_scenario, parse_scenario
from harness.target import Target, parse_target


@dataclass(frozen=True)
class SavedCase:
    """A case to replay: the one-case scenario, and what the report knew about it."""

    scenario: Scenario
    spec: str
    """As the user named it (``report.json#c3`` or a file)."""
    target: str | None = None
    """The target the report was made against (None for a case file)."""
    expected: tuple[str, str | None] | None = None
    """Outcome and exception type the case failed with when it was found."""


def load_case(spec: str) -> SavedCase:
    """Read ``report.json#<class>`` or a case file; bad input is one UsageError line."""
    path_text, _, class_id = spec.partition("#")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"{path_text}: expected a fuzz report.json#<class> or a case file; no such file")
    if path.suffix.lower() == ".json":
        return _from_report(path, class_id, spec)
    if class_id:
        raise UsageError(f"{spec}: expected #<class> only after a fuzz report.json")
    return SavedCase(load_scenario(path), spec)


def _from_report(path: Path, class_id: str, spec: str) -> SavedCase:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: expected a harness fuzz report.json; cannot read it: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
        raise UsageError(f"{path}: expected a harness fuzz report.json (kind {REPORT_KIND!r})")
    entries = [*data.get("classes", []), *data.get("harness_errors", [])]
    classes: dict[str, Any] = {str(c.get("id")): c for c in entries if isinstance(c, dict)}
    if not classes:
        raise UsageError(f"{path}: the report has no failure class to replay")
    if not class_id and len(classes) == 1:
        class_id = next(iter(classes))
    if class_id not in classes:
        listed = ", ".join(classes)
        got = repr(class_id) if class_id else "no #<class>"
        raise UsageError(f"{spec}: expected {display_path(path)}#<class> with one of {listed}; got {got}")
    entry = classes[class_id]
    if not isinstance(entry.get("case"), dict):
        raise UsageError(f"{spec}: expected a class with its case document; the report has none")
    scenario = parse_scenario(entry["case"], Path(f"{path}#{class_id}"))
    return SavedCase(scenario, spec, data.get("target"), (entry["outcome"], entry.get("error_type")))


def resolve_target(
    case: SavedCase, target: str | None, target_cmd: str | None, target_url: str | None
) -> Target:
    """``--target``, or a launched ``--target-cmd`` serving ``--target-url``, or the report's target."""
    if target_cmd is not None:
        from harness.targets_wire import command_target

        return command_target(target_cmd, target_url, None)
    if target_url is not None:
        raise UsageError("--target-url needs --target-cmd (the command that serves the URL)")
    spec = target or case.target
    if spec is None:
        raise UsageError(f"{case.spec}: a case file names no target; expected --target py:module:function")
    return parse_target(spec)


def kind_of(observation: Observation) -> tuple[str, str | None]:
    """Outcome and, for errors, the exception type (the runner writes errors as ``Type: message``)."""
    return observation.outcome.value, error_type_of(observation)


def command_for(case: SavedCase, target: Target, explicit_target: bool) -> str:
    """The command that replays ``case`` against ``target`` again."""
    parts = ["harness", "replay", case.spec]
    if explicit_target or case.target is None or target.label != case.target:
        parts += target.replay_args()
    return shlex.join(parts)


def replay(
    spec: str,
    console: Console,
    *,
    target: str | None = None,
    target_cmd: str | None = None,
    target_url: str | None = None,
) -> int:
    """Replay one case; print the outcome; 1 when it still fails, 0 when it is fixed."""
    case = load_case(spec)
    chosen = resolve_target(case, target, target_cmd, target_url)
    result = run_scenario(case.scenario, chosen, RunSettings())
    observation = result.observations[0]
    _print(console, case, chosen, observation)
    failing = observation.outcome in BAD_OUTCOMES
    line = command_for(case, chosen, target is not None or target_cmd is not None)
    if failing:
        console.print(f"Replay with: {line}", markup=False, highlight=False, soft_wrap=True)
    return 1 if failing else 0


def _print(console: Console, case: SavedCase, target: Target, observation: Observation) -> None:
    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    line(f"harness replay {case.spec} against {target.label}")
    line(f"  faults: {', '.join(observation.faults) or 'clean'} ({observation.model_calls} model call(s))")
    detail = observation.error or observation.violation
    outcome, error_type = kind_of(observation)
    line(f"  outcome: {outcome}" + (f": {' '.join(detail.split())[:300]}" if detail else ""))
    if observation.outcome not in BAD_OUTCOMES:
        console.print(Text(f"fixed: the case now ends in {outcome}", style="bold green"))
        return
    if case.expected is None:
        verdict = f"still fails: {outcome}" + (f" {error_type}" if error_type else "")
    elif case.expected == (outcome, error_type):
        verdict = "still fails, the same way: " + " ".join(x for x in case.expected if x)
    else:
        was = " ".join(x for x in case.expected if x)
        verdict = (
            f"still fails, differently: now {outcome}"
            + (f" {error_type}" if error_type else "")
            + f" (was {was})"
        )
    console.print(Text(verdict, style="bold red"), soft_wrap=True)
