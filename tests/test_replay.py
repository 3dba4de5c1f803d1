"""``harness replay``: a saved failing case runs again, in-process or over the wire: does it still fail?

The cases come from a small fuzz run of the naive demo pipeline in this process (three
faults, 40 examples). The over-the-wire test launches the demo service with
``--target-cmd`` (a real uvicorn subprocess on 127.0.0.1). About 15 s.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.targets_wire import free_port
from tests.test_fuzz import CONTRACT, DECLARED, HARDENED, NAIVE, in_process


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fuzz report of the naive pipeline over rename_keys, haiku and missing_usage, cases saved."""
    base = tmp_path_factory.mktemp("replay")
    code = main(
        [
            *("fuzz", "--target", NAIVE, "--contract", CONTRACT, "--allowed-error", DECLARED),
            *("--max-examples", "40"),
            *("--only", "rename_keys", "--only", "haiku", "--only", "missing_usage"),
            *(
                "--report-dir",
                str(base),
                "--run-id",
                "r",
                "--save-cases",
                str(base / "cases"),
                "--no-progress",
            ),
        ]
    )
    assert code == 1
    report = base / "r" / "report.json"
    data = json.loads(report.read_text("utf-8"))
    return {
        "base": base,
        "report": report,
        "data": data,
        "classes": {c["labels"][0]: c for c in data["classes"]},
    }


def test_the_fuzz_run_found_two_classes(found: dict[str, Any]) -> None:
    assert sorted(found["classes"]) == ["haiku", "rename_keys"]


def test_a_report_class_still_fails_the_same_way(
    found: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    cls = found["classes"]["rename_keys"]
    done = in_process(["replay", f"{found['report']}#{cls['id']}"], capfd)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"against {NAIVE}" in done.stdout
    assert "faults: rename_keys (1 model call(s))" in done.stdout
    assert "still fails, the same way: garbage_passed" in done.stdout
    last = done.stdout.rstrip().splitlines()[-1]
    assert last == "Replay with: " + shlex.join(["harness", "replay", f"{found['report']}#{cls['id']}"])
    assert last == f"Replay with: {cls['replay']}"


def test_the_fixed_pipeline_passes_the_same_case(
    found: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    cls = found["classes"]["haiku"]
    done = in_process(["replay", f"{found['report']}#{cls['id']}", "--target", HARDENED], capfd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"against {HARDENED}" in done.stdout
    assert "outcome: allowed_error: MalformedOutput" in done.stdout
    assert "fixed: the case now ends in allowed_error" in done.stdout


def test_a_saved_case_file_replays_against_the_target_given(
    found: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    cls = found["classes"]["rename_keys"]
    case = cls["saved_case"]
    still = in_process(["replay", case, "--target", NAIVE], capfd)
    assert still.returncode == 1, still.stdout + still.stderr
    assert "still fails: garbage_passed" in still.stdout
    assert still.stdout.rstrip().splitlines()[-1] == f"Replay with: {cls['replay_case']}"
    fixed = in_process(["replay", case, "--target", HARDENED], capfd)
    assert fixed.returncode == 0, fixed.stdout
    assert "fixed: the case now ends in allowed_error" in fixed.stdout


def test_a_case_replays_over_the_wire_against_a_launched_service(
    found: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    cls = found["classes"]["rename_keys"]
    port = free_port()
    command = shlex.join([sys.executable, "-m", "harness.demo.service", "--port", str(port)])
    spec = f"{found['report']}#{cls['id']}"
    url = f"http://127.0.0.1:{port}/extract"
    naive = in_process(["replay", spec, "--target-cmd", command, "--target-url", f"{url}/naive"], capfd)
    assert naive.returncode == 1, naive.stdout + naive.stderr
    assert "still fails, the same way: garbage_passed" in naive.stdout
    assert "--target-cmd" in naive.stdout.rstrip().splitlines()[-1]
    hardened = in_process(["replay", spec, "--target-cmd", command, "--target-url", f"{url}/hardened"], capfd)
    assert hardened.returncode == 0, hardened.stdout + hardened.stderr
    assert "fixed: the case now ends in allowed_error" in hardened.stdout


@pytest.mark.parametrize(
    ("argv", "starts"),
    [
        (["replay", "nope.json#c1"], "nope.json: expected a fuzz report.json#<class> or a case file"),
        (["replay", "{report}"], "{report}: expected {report}#<class> with one of c1, c2"),
        (["replay", "{report}#c9"], "{report}#c9: expected {report}#<class> with one of c1, c2; got 'c9'"),
        (["replay", "{case}"], "{case}: a case file names no target; expected --target"),
        (
            ["replay", "{case}#c1", "--target", NAIVE],
            "{case}#c1: expected #<class> only after a fuzz report.json",
        ),
        (["replay", "{other}#c1"], "{other}: expected a harness fuzz report.json"),
        (
            ["replay", "{report}#c1", "--target-url", "http://127.0.0.1:1/x"],
            "--target-url needs --target-cmd",
        ),
    ],
    ids=[
        "missing",
        "no-class",
        "unknown-class",
        "case-no-target",
        "case-with-class",
        "not-fuzz",
        "url-alone",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], starts: str, found: dict[str, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "report.json"
    other.write_text('{"run_id": "x"}', "utf-8")
    names = {
        "report": str(found["report"]),
        "case": found["classes"]["haiku"]["saved_case"],
        "other": str(other),
    }
    done = in_process([a.format(**names) for a in argv], capfd)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("harness: error: " + starts.format(**names)), line
