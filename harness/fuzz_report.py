"""What ``harness fuzz`` writes and prints: ``report.json``, ``summary.md``, saved cases, the terminal view.

Each failure class carries its minimal chain (labels and parameters), the bytes the
pipeline received on each model call (in full in ``report.json``, up to
:data:`harness.fuzz_probe.BODY_LIMIT` per call; cut for the terminal), the outcome, the one-case
scenario document that reproduces it, and the replay command. Files are written
atomically.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from harness.atomic import write_text
from harness.fuzz import FailureClass, FuzzResult, Received, Trial
from harness.fuzz_case import case_name, use_document
from harness.runner import display_path

REPORT_KIND = "harness-fuzz"
REPORT_VERSION = 1
TERMINAL_BODY = 240
"""Characters of the last received body shown per class in the terminal."""
TERMINAL_CONTEXT = 40
"""Bytes shown before the first byte a fault changed."""


def replay_command(report: Path, class_id: str) -> str:
    """``harness replay <report.json>#<class>``: the one line that re-runs a class's minimal case."""
    return shlex.join(["harness", "replay", f"{display_path(report)}#{class_id}"])


def case_replay_command(case_file: Path, target: str) -> str:
    """``harness replay <case.yaml> --target T``: a saved case names no target itself."""
    return shlex.join(["harness", "replay", display_path(case_file), "--target", target])


def describe_kind(trial: Trial) -> str:
    """``garbage_passed`` or ``undeclared_error JSONDecodeError``."""
    return trial.outcome.value + (f" {trial.error_type}" if trial.error_type else "")


def describe_chain(trial: Trial) -> str:
    """``rename_keys(mapping={...}) alone``, ``a + b``, or ``no fault (a clean reply)``."""
    if not trial.chain:
        return "no fault (a clean reply)"
    joined = " + ".join(trial.labels)
    return f"{joined} alone" if len(trial.chain) == 1 else joined


# --- the case documents ----------------------------------------------------------------------------


def case_document(result: FuzzResult, cls: FailureClass, relative_to: Path | None = None) -> dict[str, Any]:
    """The one-case scenario that reproduces ``cls``'s minimal example."""
    minimal = cls.minimal
    description = (
        f"Found by harness fuzz (seed {result.settings.seed}) against {result.target}: "
        f"{describe_chain(minimal)} gives {describe_kind(minimal)}. "
        f"{_cut(' '.join(minimal.detail.split()), 300)}".strip()
    )
    # named after what it serves and checks, so the same case found again gets the same file
    unnamed = result.case.document(minimal.chain, minimal.reply_seed)
    name = case_name(minimal.outcome.value, minimal.error_type, minimal.chain, unnamed)
    return result.case.document(
        minimal.chain, minimal.reply_seed, name=name, description=description, relative_to=relative_to
    )


def save_cases(result: FuzzResult, folder: Path) -> dict[str, Path]:
    """Write each class's minimal case as ``<folder>/<name>.yaml`` (``harness run`` accepts them)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for cls in result.classes:
        document = case_document(result, cls, relative_to=folder.resolve())
        path = folder / f"{document['name']}.yaml"
        minimal = cls.minimal
        header = (
            f"# harness fuzz class {cls.id}: {describe_kind(minimal)} from {describe_chain(minimal)}\n"
            f"# Replay with: {case_replay_command(path, result.target)}\n"
        )
        write_text(path, header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))
        written[cls.id] = path
    return written


# --- report.json -----------------------------------------------------------------------------------


def received_data(received: Received) -> dict[str, Any]:
    """One model call: status, faults, size and body (text when UTF-8, else base64), capped."""
    body = received.body
    data: dict[str, Any] = {
        "call": received.call,
        "status": received.status,
        "stream": received.stream,
        "faults": list(received.faults),
        "bytes": received.size,
        "truncated": received.size > len(body),
    }
    try:
        data["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        data["body_base64"] = base64.b64encode(body).decode("ascii")
    return data


def trial_data(trial: Trial) -> dict[str, Any]:
    """A chain with its outcome, as JSON."""
    return {
        "chain": [use_document(use) for use in trial.chain],
        "labels": trial.labels,
        "reply_seed": trial.reply_seed,
        "outcome": trial.outcome.value,
        "error_type": trial.error_type,
        "detail": trial.detail,
    }


def class_data(
    result: FuzzResult, cls: FailureClass, report: Path, saved: Mapping[str, Path]
) -> dict[str, Any]:
    """One failure class: minimal chain, what the pipeline received, the case and the replay line."""
    data = {
        "id": cls.id,
        **trial_data(cls.minimal),
        "examples": cls.examples,
        "simplest": cls.simplest,
        "found": trial_data(cls.found),
        "received": [received_data(r) for r in cls.minimal.received],
        "case": case_document(result, cls),
        "replay": replay_command(report, cls.id),
    }
    if cls.id in saved:
        data["saved_case"] = display_path(saved[cls.id])
        data["replay_case"] = case_replay_command(saved[cls.id], result.target)
    return data


def report_data(
    result: FuzzResult,
    report: Path,
    *,
    run_id: str,
    started_at: str,
    command: str,
    saved: Mapping[str, Path],
) -> dict[str, Any]:
    """The whole ``report.json``."""
    settings = result.settings
    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "run_id": run_id,
        "started_at": started_at,
        "command": command,
        "target": result.target,
        "seed": settings.seed,
        "max_examples": settings.max_examples,
        "max_faults": settings.max_faults,
        "faults": result.faults,
        "input": result.case.input,
        "provider": result.case.provider,
        "source": dict(result.case.source),
        "contract": dict(result.case.contract),
        "examples": result.examples,
        "failing_examples": result.failing_examples,
        "outcomes": result.outcomes,
        "runs": result.runs,
        "search_seconds": round(result.search_seconds, 3),
        "shrink_seconds": round(result.shrink_seconds, 3),
        "classes": [class_data(result, cls, report, saved) for cls in result.classes],
        "harness_errors": [
            {**class_data(result, cls, report, {}), "harness_error": cls.minimal.harness_error}
            for cls in result.harness_errors
        ],
    }


def write_report(data: Mapping[str, Any], folder: Path) -> tuple[Path, Path]:
    """``report.json`` and ``summary.md`` in ``folder``, each written atomically."""
    json_path = write_text(
        folder / "report.json", json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    )
    md_path = write_text(folder / "summary.md", "\n".join(_markdown(data)) + "\n")
    return json_path, md_path


def _markdown(data: Mapping[str, Any]) -> Iterator[str]:
    classes = data["classes"]
    yield f"# harness fuzz: {len(classes)} failure class{'es' if len(classes) != 1 else ''}"
    yield ""
    yield (
        f"Target `{data['target']}`, seed {data['seed']}, {data['examples']} examples "
        f"({data['failing_examples']} failing), {data['runs']} pipeline runs."
    )
    yield ""
    for error in data.get("harness_errors", []):
        chain = _md_chain(error["labels"])
        yield f"- **harness error {error['id']}** (a bug in harness, not the pipeline): {chain}: "
        yield f"  {_cell(error['harness_error'])}; replay with `{_cell(error['replay'])}`"
        yield ""
    if not classes:
        yield "No failure beyond the contract's declared errors."
        return
    yield "| class | outcome | minimal chain | examples | replay |"
    yield "|---|---|---|---|---|"
    for cls in classes:
        outcome = cls["outcome"] + (f" `{cls['error_type']}`" if cls["error_type"] else "")
        chain = _md_chain(cls["labels"])
        yield f"| {cls['id']} | {outcome} | {chain} | {cls['examples']} | `{_cell(cls['replay'])}` |"
    for cls in classes:
        yield ""
        yield f"## {cls['id']}: {cls['outcome']}" + (f" {cls['error_type']}" if cls["error_type"] else "")
        yield ""
        yield f"- minimal chain: {_md_chain(cls['labels'])}"
        yield f"- detail: {_cell(cls['detail'] or '-')}"
        yield f"- found as: {_md_chain(cls['found']['labels'])}"
        if cls["received"]:
            last = cls["received"][-1]
            body = last.get("body", "(binary, see report.json)")
            yield f"- received (call {last['call']} of {len(cls['received'])}, status {last['status']}):"
            yield ""
            yield "```"
            yield _cut(body, 2000).replace("```", "`\u200b``")
            yield "```"
        yield ""
        yield f"Replay with: `{cls['replay']}`"


def _md_chain(labels: list[str]) -> str:
    return " + ".join(f"`{_cell(label)}`" for label in labels) or "clean reply"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the terminal ----------------------------------------------------------------------------------


def _line(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def print_result(console: Console, result: FuzzResult, data: Mapping[str, Any], report: Path) -> None:
    """The summary line, then each class: chain, outcome, bytes received, and the replay command last."""
    count = len(result.classes)
    _line(
        console,
        f"harness fuzz: {result.target}, seed {result.settings.seed}: {result.examples} examples "
        f"({result.failing_examples} failing), {result.runs} pipeline runs in "
        f"{result.search_seconds + result.shrink_seconds:.1f}s; "
        f"{count} failure class{'es' if count != 1 else ''}"
        + (f"; {len(result.harness_errors)} harness error(s)" if result.harness_errors else ""),
    )
    for cls, entry in zip(result.classes, data["classes"], strict=True):
        _print_class(console, cls, entry)
    for cls, entry in zip(result.harness_errors, data["harness_errors"], strict=True):
        _print_harness_error(console, cls, entry)
    _line(console, f"\nReport: {display_path(report)}")
    listed = result.classes or result.harness_errors
    if listed:
        # the output ends with a command that reproduces a failure, as every harness failure does
        _line(console, f"Replay with: {replay_command(report, listed[-1].id)}")


def changed_excerpt(received: Received, clean: Trial | None) -> tuple[int, str]:
    """Where ``received`` first differs from the clean reply of the same call, and the text from just before.

    The envelope around a reply is the same with or without faults (same seed), so the
    bytes worth showing start where the fault changed them. Returns (0, the start of the
    body) when there is no clean reply to compare with or the change is at the start.
    """
    body = received.body
    at = 0
    if clean is not None and clean.received:
        reference = next((r.body for r in clean.received if r.call == received.call), clean.received[-1].body)
        at = next((i for i, (a, b) in enumerate(zip(body, reference, strict=False)) if a != b), 0)
        if at == 0 and body != reference and body.startswith(reference):
            at = len(reference)
    start = max(0, at - TERMINAL_CONTEXT)
    text = " ".join(body[start : start + TERMINAL_BODY * 4].decode("utf-8", "replace").split())
    return at, ("…" if start else "") + _cut(text, TERMINAL_BODY)


def _print_harness_error(console: Console, cls: FailureClass, entry: Mapping[str, Any]) -> None:
    minimal = cls.minimal
    console.print(
        f"\n[bold yellow]{cls.id}[/bold yellow] harness error: a bug in harness itself, not in the pipeline "
        "(please report it)",
        highlight=False,
        soft_wrap=True,
    )
    _line(console, f"  chain: {describe_chain(minimal)} (reply seed {minimal.reply_seed})")
    _line(console, f"  error: {_cut(' '.join((minimal.harness_error or '').split()), 300)}")
    _line(console, f"  seen in {cls.examples} example(s); left out of the failure classes")
    _line(console, f"  Replay with: {entry['replay']}")


def _print_class(console: Console, cls: FailureClass, entry: Mapping[str, Any]) -> None:
    minimal = cls.minimal
    console.print(f"\n[bold red]{cls.id}[/bold red] {describe_kind(minimal)}", highlight=False)
    _line(console, f"  minimal chain: {describe_chain(minimal)} (reply seed {minimal.reply_seed})")
    if minimal.detail:
        _line(console, f"  outcome: {_cut(' '.join(minimal.detail.split()), 300)}")
    if minimal.received:
        last = minimal.received[-1]
        at, excerpt = changed_excerpt(last, cls.clean)
        where = f"; differs from the clean reply at byte {at}" if at > TERMINAL_CONTEXT else ""
        _line(
            console,
            f"  received (call {last.call} of {len(minimal.received)}, status {last.status}, "
            f"{last.size} bytes{where}): {excerpt or '(nothing)'}",
        )
    shrunk = "" if cls.simplest else " (Hypothesis's shrink did not meet it again: defaults restored only)"
    _line(
        console,
        f"  seen in {cls.examples} example(s); first as {' + '.join(cls.found.labels) or 'clean'}{shrunk}",
    )
    if "saved_case" in entry:
        _line(console, f"  saved: {entry['saved_case']}")
    _line(console, f"  Replay with: {entry['replay']}")
