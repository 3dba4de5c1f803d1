"""``harness load`` end to end: real Locust runs against the demo service and the fake provider.

Each run is a real subprocess (``python -m harness load``: Locust monkey-patches the process
it runs in), with the demo service launched on a free port and the fake provider in its
own process. The three seed incidents under load: the naive service breaks the SLO the
incident is about, the hardened one keeps every SLO. Runs that are not latency-sensitive
go in pairs to keep the file's wall time down (~70 s in all, slow-marked).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cli import main
from harness.targets_wire import free_port

REPO = Path(__file__).resolve().parents[1]
LOAD = REPO / "scenarios" / "load"
RUN_TIMEOUT = 90.0
"""A bound on one subprocess (a hang fails the test instead of blocking the suite)."""

pytestmark = pytest.mark.slow


def load_args(scenario: Path, route: str, folder: Path, run_id: str, *extra: str) -> list[str]:
    port = free_port()
    command = shlex.join([sys.executable, "-m", "harness.demo.service", "--port", str(port)])
    return [
        sys.executable,
        "-m",
        "harness",
        "load",
        str(scenario),
        "--target-cmd",
        command,
        "--target-url",
        f"http://127.0.0.1:{port}/extract/{route}",
        "--report-dir",
        str(folder),
        "--run-id",
        run_id,
        "--no-progress",
        *extra,
    ]


def demo_args(scenario: Path, route: str, folder: Path, run_id: str, *extra: str) -> list[str]:
    """The embedded default: ``--target-cmd demo:<route>`` launches the bundled service itself."""
    demo = ["--target-cmd", f"demo:{route}"]
    return [
        sys.executable,
        "-m",
        "harness",
        "load",
        str(scenario),
        *demo,
        "--report-dir",
        str(folder),
        "--run-id",
        run_id,
        "--no-progress",
        *extra,
    ]


def start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    return process.returncode, out + err


def report(folder: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / run_id / "report.json").read_text())
    return data


def verdicts(data: dict[str, Any]) -> dict[str, bool]:
    return {v["slo"]: v["passed"] for v in data["verdicts"]}


def assert_complete(folder: Path) -> None:
    for name in ("report.json", "junit.xml", "summary.md", "report.html", "samples.jsonl", "locust.html"):
        assert (folder / name).is_file(), f"{name} missing from {folder}"


def run_pair(
    scenario: Path, tmp_path: Path, args: Any = load_args
) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    naive = start(args(scenario, "naive", tmp_path, "naive", "--duration", "6s"))
    hardened = start(args(scenario, "hardened", tmp_path, "hardened", "--duration", "6s"))
    naive_code, naive_out = finish(naive)
    hardened_code, hardened_out = finish(hardened)
    assert naive_code == 1, naive_out
    assert hardened_code == 0, hardened_out
    return report(tmp_path, "naive"), report(tmp_path, "hardened"), naive_out, hardened_out


def test_retry_storm_naive_amplifies_calls_hardened_budgets_them(tmp_path: Path) -> None:
    naive, hardened, naive_out, _ = run_pair(LOAD / "retry-storm.yaml", tmp_path)
    assert verdicts(naive)["calls_per_request <= 1.4"] is False
    assert naive["totals"]["calls_per_request"] > 1.5  # two SDK retries per 429 at a 50 % rate
    assert verdicts(naive)["undeclared_errors == 0"] is False  # RateLimitError escaped as HTTP 500
    assert all(verdicts(hardened).values())
    assert hardened["totals"]["calls_per_request"] <= 1.4
    assert "Reproduce with: harness load" in naive_out
    assert_complete(tmp_path / "naive")


def test_oom_kill_under_load_is_a_verdict_with_a_complete_report(tmp_path: Path) -> None:
    naive, hardened, naive_out, _ = run_pair(LOAD / "oom-huge-payload.yaml", tmp_path, demo_args)
    assert naive["run"]["target"] == "demo-service:/extract/naive"
    assert "--target-cmd demo:naive" in naive_out  # the reproduce line names the embedded default
    assert "exit -9" in naive["run"]["target_exit"] and "OOM kill" in naive["run"]["target_exit"]
    assert verdicts(naive)["target_exits == 0"] is False
    assert verdicts(naive)["crashes == 0"] is False  # the requests in flight when it died
    assert "target died: exit -9" in " ".join(naive_out.split())
    assert_complete(tmp_path / "naive")
    assert all(verdicts(hardened).values())
    assert hardened["totals"]["peak_rss"] < 200e6


def test_latency_collapse_naive_breaks_p95_hardened_holds(tmp_path: Path) -> None:
    # one at a time: latency is what is judged here
    naive_code, naive_out = finish(start(load_args(LOAD / "latency-collapse.yaml", "naive", tmp_path, "n")))
    assert naive_code == 1, naive_out
    naive = report(tmp_path, "n")
    assert verdicts(naive)["p95 < 3s"] is False
    assert verdicts(naive)["timeouts == 0"] is False  # the callers' 5 s timeout fired
    hardened = load_args(LOAD / "latency-collapse.yaml", "hardened", tmp_path, "h", "--duration", "6s")
    code, out = finish(start(hardened))
    assert code == 0, out
    assert all(verdicts(report(tmp_path, "h")).values())


def test_sigint_stops_everything_and_still_writes_the_report(tmp_path: Path) -> None:
    args = load_args(LOAD / "retry-storm.yaml", "hardened", tmp_path, "int", "--duration", "60s")
    process = start(args)
    samples = tmp_path / "int" / "samples.jsonl"
    deadline = time.monotonic() + 60
    while not (samples.is_file() and samples.read_text().strip()):  # the first sample: load is flowing
        assert process.poll() is None, finish(process)[1]
        assert time.monotonic() < deadline, "no sample within 60 s"
        time.sleep(0.1)
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 2  # the fake provider and the demo service
    process.send_signal(signal.SIGINT)
    code, out = finish(process)
    assert code == 128 + signal.SIGINT, out
    data = report(tmp_path, "int")
    assert data["run"]["stopped_by"].startswith("SIGINT")
    assert data["samples"] and data["totals"]["requests"] > 0
    assert_complete(tmp_path / "int")
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"still running after the harness exited: {alive}"


def test_abort_on_fail_stops_a_doomed_run_early(tmp_path: Path) -> None:
    extra = ("--duration", "60s", "--abort-on-fail", "--grace", "1s")
    code, out = finish(start(load_args(LOAD / "retry-storm.yaml", "naive", tmp_path, "abort", *extra)))
    assert code == 1, out
    data = report(tmp_path, "abort")
    assert data["run"]["stopped_by"].startswith("abort_on_fail: ")
    assert data["run"]["wall"] < 30  # of the 60 s asked for
    assert not all(verdicts(data).values())
    assert_complete(tmp_path / "abort")


def test_a_bad_load_block_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((LOAD / "retry-storm.yaml").read_text().replace("users: 10", "users: many"))
    assert main(["load", str(bad), "--target", "http://127.0.0.1:9/x"]) == 2
    expected = f"harness: error: {bad}: load.users: expected a positive number of users; got 'many'"
    assert capsys.readouterr().err.strip().splitlines() == [expected]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--target", "http://127.0.0.1:9/x", "--duration", "soon"],
            "--duration 'soon': expected a",
        ),
        ([], "expected a target: --target"),
        (["--target", "ftp://x"], "expected http://host:port/path"),
        (["--target-url", "http://127.0.0.1:9/x"], "--target-url needs --target-cmd"),
        (["--target-cmd", "demo"], "expected demo:naive or demo:hardened"),
        (["--target-cmd", "demo:clever"], "expected demo, demo:naive or demo:hardened"),
        (["--target-cmd", "demo:naive", "--target-url", "http://127.0.0.1:9/x"], "picks its own URL"),
        (["--target", "http://127.0.0.1:9/x", "--target-memory-limit", "1GB"], "needs a launched target"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    extra: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["load", str(LOAD / "retry-storm.yaml"), "--report-dir", str(tmp_path), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_plain_locust_gate_sets_the_exit_code(tmp_path: Path) -> None:
    scenario = tmp_path / "down.yaml"
    scenario.write_text(
        "version: 1\nname: down\ndescription: the service is not there\n"
        "source: {content: '{}'}\ninputs: ['hello']\ncontract: {schema: {type: object}}\n"
        "slos: ['crashes == 0']\n"
    )
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(
        "from harness.load import PipelineUser\n\n\nclass Pipeline(PipelineUser):\n    pass\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HARNESS_SCENARIO": str(scenario),
        "HARNESS_TARGET": f"http://127.0.0.1:{free_port()}/extract",
    }
    args = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
    ]
    process = subprocess.run(
        args, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    output = process.stdout + process.stderr
    assert process.returncode == 1, output
    assert "harness: crashes == 0: measured" in output and "broken" in output
