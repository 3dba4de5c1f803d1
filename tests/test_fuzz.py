"""``harness fuzz``: search, failure classes, shrinking, report, saved cases, on the demo pipelines.

The naive pipeline is fuzzed twice with the same seed by real ``python -m harness``
subprocesses, side by side (300 examples each, the issue's budget); the hardened one in
this process through the CLI's entry function. About 40 s on 2 cores, most of it the two
naive searches.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.faults.base import FaultUse
from harness.fuzz import FuzzSettings, Prober, fuzz, reduce_chain, reset_params, shrink
from harness.fuzz_case import FuzzCase, case_from_options
from harness.observation import Outcome
from harness.scenario import parse_scenario
from harness.target import parse_target

REPO = Path(__file__).resolve().parents[1]
NAIVE = "py:harness.demo.naive:extract"
HARDENED = "py:harness.demo.hardened:extract"
CONTRACT = "harness.demo.contract:UserRecord"
DECLARED = "harness.demo.errors:ExtractionError"
ENV = {**os.environ, "COLUMNS": "200"}
HANG_GUARD = 600
"""Seconds after which a stuck subprocess is killed (a guard, not a timing assertion)."""
VOLATILE = ("replay", "saved_case", "replay_case")
"""Class fields that name the report's own folder, so differ between two runs."""

Done = subprocess.CompletedProcess[str]


def harness(*args: object) -> Done:
    """``python -m harness args`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


def in_process(argv: Sequence[object], capfd: pytest.CaptureFixture[str]) -> Done:
    """``harness argv`` through ``harness.cli:main`` in this process (no interpreter start)."""
    capfd.readouterr()
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess([str(a) for a in argv], code, out, err)


def report(folder: Path) -> dict[str, Any]:
    """A fuzz run's ``report.json``."""
    data: dict[str, Any] = json.loads((folder / "report.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def naive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two 300-example fuzz runs of the naive pipeline with seed 3, side by side; one saves its cases."""
    base = tmp_path_factory.mktemp("fuzz-naive")
    common = (
        *("fuzz", "--target", NAIVE, "--contract", CONTRACT, "--allowed-error", DECLARED),
        *("--max-examples", 300, "--seed", 3),
    )
    runs = {
        "a": (
            *common,
            "--report-dir",
            base,
            "--run-id",
            "a",
            "--save-cases",
            base / "cases",
            "--no-progress",
        ),
        "b": (*common, "--report-dir", base, "--run-id", "b", "--no-progress"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(runs, pool.map(lambda args: harness(*args), runs.values()), strict=True))
    return {"base": base, "done": done, "a": report(base / "a"), "b": report(base / "b")}


def test_naive_pipeline_breaks_in_at_least_five_distinct_classes(naive: dict[str, Any]) -> None:
    done: Done = naive["done"]["a"]
    assert done.returncode == 1, done.stdout + done.stderr
    classes = naive["a"]["classes"]
    assert len(classes) >= 5
    single = [c for c in classes if len(c["chain"]) == 1 and c["simplest"]]
    assert len(single) >= 5, [c["labels"] for c in classes]
    kinds = {(c["outcome"], c["error_type"]) for c in classes}
    assert len(kinds) >= 5  # not five faces of one failure: five outcomes/exception types
    assert all(Outcome(c["outcome"]) is not Outcome.KEPT for c in classes)
    assert len({(c["outcome"], c["error_type"], tuple(c["labels"])) for c in classes}) == len(classes)


def test_the_outage_classes_shrink_to_one_fault_with_default_parameters(naive: dict[str, Any]) -> None:
    by_chain = {tuple(c["labels"]): c for c in naive["a"]["classes"]}
    for fault, outcome in (
        ("rename_keys", "garbage_passed"),
        ("type_drift", "garbage_passed"),
        ("haiku", "undeclared_error"),
    ):
        assert (fault,) in by_chain, sorted(by_chain)
        found = by_chain[(fault,)]
        assert found["outcome"] == outcome
        assert found["chain"] == [{"fault": fault}]  # defaults: nothing simpler still fails
        assert found["reply_seed"] == 0
    assert by_chain[("haiku",)]["error_type"] == "JSONDecodeError"


def test_each_class_prints_chain_bytes_outcome_and_ends_with_its_replay(naive: dict[str, Any]) -> None:
    out = naive["done"]["a"].stdout
    data = naive["a"]
    for cls in data["classes"]:
        block = out.split(f"\n{cls['id']} ", 1)[1].split("\n\n", 1)[0]
        assert cls["outcome"] in block.splitlines()[0]
        assert "minimal chain: " + " + ".join(cls["labels"]) in block
        assert f"Replay with: {cls['replay']}" == block.splitlines()[-1].strip()
        if cls["received"]:
            assert "received (call" in block
    assert out.rstrip().splitlines()[-1].startswith("Replay with: harness replay ")


def test_report_keeps_the_full_bytes_received_and_a_markdown_summary(naive: dict[str, Any]) -> None:
    data = naive["a"]
    assert data["examples"] == 300
    assert sum(data["outcomes"].values()) == 300
    rename = next(c for c in data["classes"] if c["labels"] == ["rename_keys"])
    (call,) = rename["received"]
    body = json.loads(call["body"])
    content = json.loads(body["choices"][0]["message"]["content"])
    assert "user_id" not in content  # the bytes served carry the renamed key
    assert call["bytes"] == len(call["body"].encode())
    summary = (naive["base"] / "a" / "summary.md").read_text("utf-8")
    assert f"{len(data['classes'])} failure classes" in summary
    assert rename["replay"] in summary


def test_the_same_seed_finds_the_same_classes_and_minimal_chains(naive: dict[str, Any]) -> None:
    def stable(data: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in c.items() if k not in VOLATILE} for c in data["classes"]]

    assert naive["done"]["b"].returncode == 1
    assert stable(naive["a"]) == stable(naive["b"])
    assert naive["a"]["outcomes"] == naive["b"]["outcomes"]


def test_every_class_replays_and_still_fails_the_same_way(
    naive: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    for cls in naive["a"]["classes"]:
        done = in_process(["replay", str(naive["base"] / "a" / "report.json") + f"#{cls['id']}"], capfd)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "still fails, the same way" in done.stdout
        assert done.stdout.rstrip().splitlines()[-1].startswith("Replay with: harness replay ")


def test_saved_cases_are_scenarios_harness_run_accepts(
    naive: dict[str, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cases = naive["base"] / "cases"
    files = sorted(cases.glob("*.yaml"))
    assert len(files) == len(naive["a"]["classes"])
    saved = {c["saved_case"] for c in naive["a"]["classes"]}
    assert {str(f) for f in files} == saved
    doc = yaml.safe_load(files[0].read_text("utf-8"))
    assert doc["version"] == 1 and doc["cases"] == 1
    assert doc["faults"][0]["rate"] == 1.0 and doc["faults"][0]["chain"]
    assert doc["contract"]["model"] == CONTRACT
    some = tmp_path / "some"  # a sample keeps the two runs short; every class replays above
    some.mkdir()
    for file in files[:: max(1, len(files) // 6)]:
        shutil.copy(file, some)
    reports = tmp_path / "reports"
    broken = in_process(["run", some, "--target", NAIVE, "--report-dir", reports, "--no-progress"], capfd)
    assert broken.returncode == 1, broken.stdout
    results = report_results(reports)
    assert len(results) == len(list(some.iterdir())) and all(r["status"] == "failed" for r in results)
    fixed = in_process(["run", some, "--target", HARDENED, "--report-dir", reports, "--no-progress"], capfd)
    assert fixed.returncode == 0, fixed.stdout


def report_results(report_dir: Path) -> list[dict[str, Any]]:
    """The scenario results of the one ``harness run`` report under ``report_dir``."""
    (folder,) = list(report_dir.iterdir())
    results: list[dict[str, Any]] = json.loads((folder / "report.json").read_text("utf-8"))["results"]
    return results


HARDENED_FUZZ = (
    *("fuzz", "--target", HARDENED, "--scenario", "scenarios/renamed-key-outage.yaml"),
    # the scenario's 20 s budget is shorter than the pipeline's own (4 attempts x 10 s read timeout)
    *("--case-timeout", "60s", "--no-progress"),
)


def test_hardened_pipeline_fails_in_no_class_beyond_its_declared_errors(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    argv = [*HARDENED_FUZZ, "--max-examples", 300, "--report-dir", tmp_path]
    done = in_process(argv, capfd)
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = tmp_path.iterdir()
    data = report(folder)
    assert data["classes"] == []
    assert data["examples"] == 300
    assert data["outcomes"]["allowed_error"] > 0 and data["outcomes"]["kept_contract"] > 0
    assert data["failing_examples"] == 0
    assert data["contract"]["allowed_errors"] == [DECLARED]
    assert "0 failure classes" in done.stdout


def test_hardened_pipeline_ends_a_stall_kept_alive_by_comments_at_its_deadline(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Once a real find: ``: keep-alive`` comments every few seconds keep the 10 s read timeout from
    firing; the pipeline now checks its 30 s deadline on every read, comments included."""
    argv = [*HARDENED_FUZZ, "--only", "stream_stall", "--max-examples", 40, "--report-dir", tmp_path]
    done = in_process(argv, capfd)
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = tmp_path.iterdir()
    data = report(folder)
    assert data["classes"] == [] and data["failing_examples"] == 0
    assert data["outcomes"]["allowed_error"] > 0 and data["outcomes"].get("timeout", 0) == 0


# --- the parts, in this process --------------------------------------------------------------------


@pytest.fixture(scope="module")
def case() -> FuzzCase:
    """The demo contract, replies generated from it, the default input."""
    return case_from_options(contract=CONTRACT)


def test_a_case_document_serves_the_same_chain_as_the_search(case: FuzzCase) -> None:
    chain = (FaultUse.of("rename_keys", {"mapping": {"email": "Email"}}), FaultUse.of("latency"))
    scenario = parse_scenario(case.document(chain, 77, name="x"), Path("x.yaml"))
    assert scenario.seed == 77 and scenario.cases == 1 and scenario.time_scale == 0.0
    assert [u.label for u in scenario.plan.faults_for(77, 0, 1)] == [u.label for u in chain]
    assert [u.label for u in scenario.plan.faults_for(77, 0, 3)] == [u.label for u in chain]


def test_reduction_drops_faults_and_resets_parameters_that_do_not_matter(case: FuzzCase) -> None:
    prober = Prober(case, parse_target(NAIVE))  # type: ignore[arg-type]
    chain = (
        FaultUse.of("haiku", {"kind": "poem"}),
        FaultUse.of("missing_usage"),
        FaultUse.of("latency", {"seconds": 0.5}),
    )
    with prober.active():
        found = prober.run(chain, 1234)
        assert found.kind == (Outcome.UNDECLARED_ERROR, "JSONDecodeError")
        reduced = reduce_chain(prober, found)
        assert reduced.names == ("haiku",)
        simplest = reset_params(prober, reduced)
        assert simplest.labels == ["haiku"] and simplest.reply_seed == 0
        minimal, shrunk = shrink(prober, found, FuzzSettings())
    assert shrunk and minimal.labels == ["haiku"] and minimal.kind == found.kind


def test_a_parameter_the_failure_needs_is_kept(case: FuzzCase) -> None:
    prober = Prober(case, parse_target(NAIVE))  # type: ignore[arg-type]
    with prober.active():
        found = prober.run((FaultUse.of("http_status", {"status": 503, "html": False}),), 9)
        minimal = reset_params(prober, found)
    assert found.kind == (Outcome.UNDECLARED_ERROR, "InternalServerError")
    assert minimal.labels == ["http_status(status=503)"]  # 429 would be a RateLimitError


def test_only_narrows_the_search(case: FuzzCase) -> None:
    settings = FuzzSettings(max_examples=15, only=("haiku", "missing_usage"))
    result = fuzz(case, parse_target(NAIVE), settings)  # type: ignore[arg-type]
    assert result.faults == ["haiku", "missing_usage"]
    assert [c.names for c in result.classes] == [("haiku",)]
    assert result.examples == 15


@pytest.mark.parametrize(
    ("argv", "starts"),
    [
        (["fuzz", "--target", NAIVE], "harness fuzz: expected --contract"),
        (
            ["fuzz", "--target", "http://127.0.0.1:1/x", "--contract", CONTRACT],
            "--target http://127.0.0.1:1/x",
        ),
        (["fuzz", "--target", NAIVE, "--contract", "nope"], "--contract 'nope': expected"),
        (["fuzz", "--target", NAIVE, "--contract", "missing.json"], "--contract missing.json"),
        (
            ["fuzz", "--target", NAIVE, "--contract", CONTRACT, "--only", "bogus"],
            "harness fuzz: unknown fault",
        ),
        (
            ["fuzz", "--target", NAIVE, "--contract", "harness.demo.contract:Nope"],
            "harness fuzz: --contract: cannot import",
        ),
        (
            ["fuzz", "--target", NAIVE, "--contract", CONTRACT, "--case-timeout", "soon"],
            "--case-timeout 'soon'",
        ),
        (
            ["fuzz", "--target", NAIVE, "--contract", CONTRACT, "--allowed-error", "x:Y"],
            "harness fuzz: --allowed-error",
        ),
        (
            ["fuzz", "--target", NAIVE, "--contract", CONTRACT, "--provider", "nope"],
            "harness fuzz: --provider",
        ),
    ],
    ids=[
        "no-contract",
        "service",
        "bad-spec",
        "no-file",
        "unknown-fault",
        "no-model",
        "bad-timeout",
        "bad-error",
        "bad-provider",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], starts: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    done = in_process([*argv, "--report-dir", tmp_path, "--no-progress"], capfd)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"harness: error: {starts}"), line
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written
