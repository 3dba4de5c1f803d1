"""The ``harness`` command line, run for real from the repository root.

Exit codes: 0 every SLO held (or broke exactly as declared), 1 an SLO broke, 2 bad input
with one line on stderr and never a traceback. Runs, listings and a sample of each way a
scenario can be broken go through ``python -m harness`` subprocesses, side by side, read as
an 80-column CI log (``COLUMNS=80``, not a terminal). The per-file matrix of broken
scenarios, the replay and the rerun call ``harness.cli:main`` (the console script's entry
point) in this process, so the file does not pay an interpreter start for each.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import FAULTS, Layer
from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
BROKEN = sorted((REPO / "tests" / "data" / "broken").glob("*.yaml"))
GOOD_FOLDERS = ("tests/data/good", "scenarios")
RENAMED = "scenarios/renamed-key-outage.yaml"
HARDENED = "py:harness.demo.hardened:extract"
NAIVE = "py:harness.demo.naive:extract"
LOCAL = "py:tests.pipelines:parse_reply"
"""A target importable only from the working directory (the repository root)."""
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}, "COLUMNS": "80"}
"""A plain 80-column log, as CI captures it; each process draws its own str hash seed."""
HANG_GUARD = 300
"""Seconds after which a stuck subprocess is killed (a guard, not a timing assertion)."""
REPORT_FILES = ("report.json", "journal.jsonl", "junit.xml", "summary.md", "report.html")
Done = subprocess.CompletedProcess[str]
MODULE = (sys.executable, "-m", "harness")
SCRIPT = Path(sys.executable).with_name("harness")
"""The installed console script, ``harness.cli:main`` (what replay lines name)."""


def harness(*args: object, program: Sequence[str] = MODULE) -> Done:
    """Run the harness CLI with ``args`` from the repository root."""
    return subprocess.run(
        [*program, *map(str, args)],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


def side_by_side(
    commands: Mapping[str, Sequence[object]], programs: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Done]:
    """Run several harness commands at once (``python -m harness`` unless ``programs`` says); by key."""
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        futures = {
            key: pool.submit(harness, *args, program=(programs or {}).get(key, MODULE))
            for key, args in commands.items()
        }
        return {key: future.result() for key, future in futures.items()}


def usage_error(done: Done, starts: str) -> str:
    """Assert exit 2 with one stderr line starting ``harness: error: <starts>``; return that line."""
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{done.stderr}"
    assert lines[0].startswith(f"harness: error: {starts}"), lines[0]
    return lines[0]


def journal(folder: Path) -> list[dict[str, Any]]:
    """The observations of a report folder's journal."""
    return [json.loads(line) for line in (folder / "journal.jsonl").read_text("utf-8").splitlines() if line]


def only_folder(report_dir: Path) -> Path:
    """The one run folder a run wrote under ``report_dir``."""
    (folder,) = [p for p in report_dir.iterdir() if p.is_dir()]
    return folder


# --- scenarios validate -------------------------------------------------------------------------


SPOT_CHECKS = ("not-yaml.yaml", "unknown-fault.yaml", "model-not-importable.yaml")
"""Broken files also validated in a real ``python -m harness`` process (one per way of failing)."""


@pytest.fixture(scope="module")
def quick() -> dict[str, Done]:
    """Every subprocess of this file that runs no pipeline, side by side."""
    commands: dict[str, Sequence[object]] = {
        name: ("scenarios", "validate", f"tests/data/broken/{name}") for name in SPOT_CHECKS
    }
    commands.update({folder: ("scenarios", "validate", folder) for folder in GOOD_FOLDERS})
    commands.update(
        {
            "faults": ("faults",),
            "faults-content": ("faults", "--layer", "content"),
            "faults-bogus": ("faults", "--layer", "bogus"),
            "bad-target": ("run", RENAMED, "--target", "py:nope.mod:fn", "--cases", "1"),
            "missing-scenario": ("run", "scenarios/no-such-scenario.yaml", "--target", HARDENED),
        }
    )
    return side_by_side(commands)


def validate_in_process(path: Path, capfd: pytest.CaptureFixture[str]) -> Done:
    """``harness scenarios validate path`` through the CLI's entry function in this process.

    ``python -m harness`` is ``sys.exit(main())``; calling ``main`` directly keeps the 30-odd
    files from costing an interpreter start each. ``capfd`` reads the real file descriptors.
    """
    argv = ["scenarios", "validate", str(path.relative_to(REPO))]
    capfd.readouterr()
    code = main(argv)
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


def test_there_are_broken_files_to_check() -> None:
    assert len(BROKEN) >= 30
    assert {p.name for p in BROKEN} >= set(SPOT_CHECKS)


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_a_broken_scenario_is_one_line_naming_the_file_and_what_was_expected(
    path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    done = validate_in_process(path, capfd)
    line = usage_error(done, f"{path.relative_to(REPO)}: ")
    assert "expected" in line
    assert done.stdout == ""


@pytest.mark.parametrize("name", SPOT_CHECKS)
def test_a_broken_scenario_fails_the_same_way_in_a_real_process(
    quick: dict[str, Done], name: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    done = quick[name]
    usage_error(done, f"tests/data/broken/{name}: ")
    assert done.stdout == ""
    assert done.stderr == validate_in_process(REPO / "tests" / "data" / "broken" / name, capfd).stderr


@pytest.mark.parametrize("folder", GOOD_FOLDERS)
def test_good_scenarios_validate(quick: dict[str, Done], folder: str) -> None:
    done = quick[folder]
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    said_ok = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("ok ")}
    expected = {str(p.relative_to(REPO)) for p in sorted((REPO / folder).glob("*.yaml"))}
    assert expected
    assert said_ok == expected


# --- faults -------------------------------------------------------------------------------------


def table_rows(stdout: str) -> list[tuple[str, str]]:
    """``(layer, fault)`` of each row of the ``harness faults`` table."""
    rows = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 4 and cells[1] in {layer.value for layer in Layer}:
            rows.append((cells[1], cells[2]))
    return rows


def test_faults_lists_every_registered_fault_by_its_full_name(quick: dict[str, Done]) -> None:
    done = quick["faults"]
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert sorted(name for _, name in rows) == sorted(FAULTS)
    assert all(FAULTS.get(name).layer.value == layer for layer, name in rows if name in FAULTS)


def test_faults_layer_filters(quick: dict[str, Done]) -> None:
    done = quick["faults-content"]
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert {layer for layer, _ in rows} == {"content"}
    content = sorted(name for name in FAULTS if FAULTS.get(name).layer is Layer.CONTENT)
    assert sorted(name for _, name in rows) == content


def test_faults_unknown_layer_is_a_usage_error(quick: dict[str, Done]) -> None:
    line = usage_error(quick["faults-bogus"], "")
    assert "bogus" in line
    assert "content, envelope, transport" in line


# --- run: bad input -----------------------------------------------------------------------------


def test_run_with_a_target_that_does_not_import_is_one_line(quick: dict[str, Done]) -> None:
    line = usage_error(quick["bad-target"], "--target ")
    assert "nope" in line


def test_run_with_a_missing_scenario_is_one_line_naming_it(quick: dict[str, Done]) -> None:
    line = usage_error(quick["missing-scenario"], "scenarios/no-such-scenario.yaml: ")
    assert "no such file" in line


# --- run: reports, failures, replay, determinism ------------------------------------------------


def without_xfail(tmp: Path) -> Path:
    """A copy of the renamed-key scenario with no xfail block: the naive pipeline now fails it."""
    data = yaml.safe_load((REPO / RENAMED).read_text("utf-8"))
    data.pop("xfail")
    copy = tmp / "renamed-key-outage.yaml"  # nothing in the file is a relative path
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return copy


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Done, Path]]:
    """Every ``harness run`` of this file that needs no other run's output.

    The run whose exit code is judged goes alone: the scenario's ``p95 < 1s`` counts wall
    time, so sharing two cores with other runs could break it. The others go side by side.
    """
    tmp = tmp_path_factory.mktemp("runs")
    hardened = ("run", RENAMED, "--target", HARDENED, "--cases", "4")
    alone = {"seed3": (*hardened, "--seed", "3")}
    together: dict[str, tuple[object, ...]] = {
        "seed3-again": (*hardened, "--seed", "3"),
        # a second target from the working directory (tests/pipelines.py) rides along
        "seed4": (*hardened, "--seed", "4", "--target", LOCAL),
        "naive": ("run", without_xfail(tmp), "--target", NAIVE, "--cases", "8"),
    }
    programs = {}
    if SCRIPT.is_file():
        # the replay lines name the console script: it must serve the same bytes as python -m
        programs["seed3-again"] = [str(SCRIPT)]
        together["local-script"] = ("run", "tests/data/good/minimal.yaml", "--target", LOCAL, "--cases", "1")
        programs["local-script"] = [str(SCRIPT)]
    done: dict[str, tuple[Done, Path]] = {}
    for batch in (alone, together):
        commands = {key: (*args, "--report-dir", tmp / key) for key, args in batch.items()}
        results = side_by_side(commands, programs)
        done.update({key: (results[key], tmp / key) for key in batch})
    return done


@pytest.mark.slow
def test_run_writes_every_report_under_its_run_id(runs: dict[str, tuple[Done, Path]]) -> None:
    done, report_dir = runs["seed3"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    folder = only_folder(report_dir)
    assert folder.name.endswith("-s3")
    for name in REPORT_FILES:
        assert (folder / name).is_file(), name
        assert (folder / name).stat().st_size > 0, name
    report = json.loads((folder / "report.json").read_text("utf-8"))
    assert report["version"] == 1
    assert report["run"]["id"] == folder.name
    assert report["run"]["seed"] == 3
    assert report["summary"]["ok"] is True
    (result,) = report["results"]
    assert (result["scenario"], result["target"], result["status"]) == (
        "renamed-key-outage",
        HARDENED,
        "passed",
    )
    assert result["cases"] == 4
    assert len(journal(folder)) == 4
    suite = ET.parse(folder / "junit.xml").getroot()
    assert suite.tag in {"testsuites", "testsuite"}
    assert "<html" in (folder / "report.html").read_text("utf-8").lower()


def failure_section(stdout: str, heading: str) -> list[str]:
    """The lines of the failure section that starts with ``heading``, up to the next blank line."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    assert starts, f"no line starts with {heading!r} in:\n{stdout}"
    section = []
    for line in lines[starts[0] :]:
        if not line.strip():
            break
        section.append(line)
    return section


def naive_report(runs: dict[str, tuple[Done, Path]]) -> dict[str, Any]:
    """The naive run's one result in report.json."""
    (result,) = json.loads((only_folder(runs["naive"][1]) / "report.json").read_text("utf-8"))["results"]
    return dict(result)


@pytest.mark.slow
def test_a_broken_slo_exits_1_and_the_failure_ends_with_the_replay_command(
    runs: dict[str, tuple[Done, Path]],
) -> None:
    done, _ = runs["naive"]
    assert done.returncode == 1, done.stdout + done.stderr
    result = naive_report(runs)
    assert result["status"] == "failed"
    assert result["failing_cases"], "the naive pipeline should pass a renamed key downstream"
    section = failure_section(done.stdout, f"FAILED renamed-key-outage × {NAIVE}")
    assert any("schema_violations == 0" in line for line in section)
    match = re.fullmatch(r"  Reproduce with: (harness run .+ --seed \d+ --case \d+)", section[-1])
    assert match, f"the failure section should end with the replay line, not {section[-1]!r}:\n" + "\n".join(
        section
    )
    assert match[1] in {case["replay"] for case in result["failing_cases"]}


def calls_of(observation: Mapping[str, Any]) -> list[tuple[list[str], str]]:
    """Faults and served body of each model call."""
    return [(call["faults"], call["body_preview"]) for call in observation["calls"]]


@pytest.mark.slow
def test_the_replay_command_reproduces_the_failing_case(
    runs: dict[str, tuple[Done, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing = naive_report(runs)["failing_cases"][0]
    argv = shlex.split(failing["replay"])
    assert argv[:2] == ["harness", "run"]
    assert "--report-dir" not in argv
    # the console script is ``harness.cli:main``: run the line through it, in this process
    monkeypatch.chdir(REPO)
    code = main([*argv[1:], "--report-dir", str(tmp_path)])
    capsys.readouterr()
    assert code == 1
    (again,) = journal(only_folder(tmp_path))
    original = next(o for o in journal(only_folder(runs["naive"][1])) if o["case"] == failing["case"])
    assert again["case"] == original["case"] == failing["case"]
    assert again["seed"] == original["seed"]
    assert again["input"] == original["input"]
    assert again["outcome"] == original["outcome"] == "garbage_passed"
    assert calls_of(again) == calls_of(original)
    assert [f for c in again["calls"] for f in c["faults"]] == ["rename_keys(mapping={'user_id':'UserID'})"]


def served(folder: Path, target: str = HARDENED) -> list[tuple[int, list[tuple[list[str], str]]]]:
    """Per case of ``target``: the faults and bodies served."""
    return [(o["case"], calls_of(o)) for o in journal(folder) if o["target"] == target]


def verdicts(folder: Path, target: str = HARDENED) -> list[tuple[str, bool, Any]]:
    """SLO, pass/fail and measured value of each verdict that does not measure time or memory."""
    (result,) = [
        r for r in json.loads((folder / "report.json").read_text("utf-8"))["results"] if r["target"] == target
    ]
    exact = [v for v in result["verdicts"] if v["unit"] not in {"duration", "size", "rate"}]
    return [(v["slo"], v["passed"], v["measured"]) for v in exact]


@pytest.mark.slow
def test_the_same_seed_serves_byte_identical_bodies_and_a_different_seed_does_not(
    runs: dict[str, tuple[Done, Path]],
) -> None:
    for key in ("seed3", "seed3-again", "seed4"):
        assert runs[key][0].returncode in (0, 1), runs[key][0].stdout + runs[key][0].stderr
    first, again, other = (only_folder(runs[key][1]) for key in ("seed3", "seed3-again", "seed4"))
    faults = [f for _, calls in served(first) for fs, _ in calls for f in fs]
    assert faults, "seed 3 should serve some renamed keys in 4 cases"
    assert len(faults) < 4, "seed 3 should serve some clean replies too"
    assert served(again) == served(first)
    assert verdicts(again) == verdicts(first)
    assert len(verdicts(first)) >= 4
    assert [o["outcome"] for o in journal(again)] == [o["outcome"] for o in journal(first)]
    assert verdicts(other) != [] and len(served(other)) == 4
    bodies = [body for _, calls in served(first) for _, body in calls]
    other_bodies = [body for _, calls in served(other) for _, body in calls]
    assert len(bodies) == len(other_bodies)
    assert all(a != b for a, b in zip(bodies, other_bodies, strict=True))


# --- run: targets and report folders --------------------------------------------------------------


@pytest.mark.slow
def test_python_m_imports_a_target_from_the_working_directory(runs: dict[str, tuple[Done, Path]]) -> None:
    done, report_dir = runs["seed4"]
    assert done.returncode in (0, 1), done.stdout + done.stderr
    results = json.loads((only_folder(report_dir) / "report.json").read_text("utf-8"))["results"]
    assert {r["target"]: r["cases"] for r in results} == {HARDENED: 4, LOCAL: 4}


@pytest.mark.slow
def test_the_console_script_imports_a_target_from_the_working_directory(
    runs: dict[str, tuple[Done, Path]],
) -> None:
    if "local-script" not in runs:
        pytest.skip("the harness console script is not installed next to this interpreter")
    done, _ = runs["local-script"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "minimal-inline" in done.stdout


@pytest.mark.slow
def test_a_rerun_under_the_same_run_id_does_not_mix_journals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    argv = ["run", "tests/data/good/minimal.yaml", "--target", "py:tests.pipelines:parse_reply"]
    argv += ["--report-dir", str(tmp_path), "--run-id", "same", "--no-progress"]
    assert main([*argv, "--cases", "3"]) == 0
    code = main([*argv, "--cases", "2"])
    capsys.readouterr()
    if code == 2:
        return  # refusing to overwrite a run folder is fine too
    assert code == 0
    report = json.loads((tmp_path / "same" / "report.json").read_text("utf-8"))
    assert report["results"][0]["cases"] == 2
    assert [o["case"] for o in journal(tmp_path / "same")] == [0, 1]
