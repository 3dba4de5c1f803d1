"""Service targets over the wire: the demo service, launched commands, crashes, OOM kills, replay lines.

Every test runs real subprocesses against the real fake provider on 127.0.0.1 (free ports).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError, UsageError
from harness.observation import Outcome
from harness.process import Service
from harness.runner import RunSettings, run_scenario
from harness.scenario import load_scenario
from harness.target import parse_target
from harness.targets_wire import (
    HttpTarget,
    ServiceError,
    command_target,
    demo_targets,
    free_port,
    http_target,
)

REPO = Path(__file__).resolve().parents[1]
OOM = REPO / "scenarios" / "oom-huge-payload.yaml"
RENAMED = REPO / "scenarios" / "renamed-key-outage.yaml"


def demo_command(port: int) -> str:
    return shlex.join([sys.executable, "-m", "harness.demo.service", "--port", str(port)])


@pytest.fixture(scope="module")
def demo_service() -> Iterator[tuple[str, int]]:
    """The demo service started by the test, pointed at a fake provider port the target will use."""
    port, provider_port = free_port(), free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{provider_port}/v1",
        "OPENAI_API_KEY": "sk-test",
    }
    service = Service(demo_command(port), env, cwd=str(REPO)).start()
    try:
        service.wait_ready("127.0.0.1", port, timeout=30)
        yield f"http://127.0.0.1:{port}", provider_port
    finally:
        service.stop()


def test_an_http_target_serves_the_same_faults_as_in_process(demo_service: tuple[str, int]) -> None:
    base, provider_port = demo_service
    scenario = load_scenario(RENAMED)
    target = HttpTarget(f"{base}/extract/hardened", provider_port=provider_port)
    settings = RunSettings(cases=6)
    wire = run_scenario(scenario, target, settings)
    local = run_scenario(scenario, parse_target("py:harness.demo.hardened:extract"), settings)
    assert [o.faults for o in wire.observations] == [o.faults for o in local.observations]
    assert [o.outcome for o in wire.observations] == [o.outcome for o in local.observations]
    assert all(o.calls and o.calls[0].call == 1 for o in wire.observations)
    assert all(o.rss_peak == 0 for o in wire.observations)  # a service the harness did not start
    allowed = [o for o in wire.observations if o.outcome is Outcome.ALLOWED_ERROR]
    assert allowed, "the renamed-key scenario should make the hardened service answer 422"
    assert all(o.error and o.error.startswith("ServiceError: HTTP 422") for o in allowed)
    kept = [o for o in wire.observations if o.outcome is Outcome.KEPT]
    assert kept and all(set(o.output) >= {"user_id", "email"} for o in kept)


def test_the_naive_service_passes_garbage_downstream_over_the_wire(demo_service: tuple[str, int]) -> None:
    base, provider_port = demo_service
    target = HttpTarget(f"{base}/extract/naive", provider_port=provider_port)
    result = run_scenario(load_scenario(RENAMED), target, RunSettings(cases=6))
    assert any(o.outcome is Outcome.GARBAGE for o in result.observations)
    assert result.status == "failed"


def test_a_refused_connection_to_a_plain_url_is_a_crash() -> None:
    target = HttpTarget(f"http://127.0.0.1:{free_port()}/extract", provider_port=0)
    result = run_scenario(load_scenario(RENAMED), target, RunSettings(cases=1))
    (observation,) = result.observations
    assert observation.outcome is Outcome.CRASH
    assert "no response from" in (observation.error or "")
    assert "crashes == 0" in {v.slo.text for v in result.verdicts if not v.passed}


def test_a_hanging_service_is_a_timeout(tmp_path: Path) -> None:
    port = free_port()
    hold = (
        "import socket, sys\n"
        "s = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
        "held = []\n"
        "while True: held.append(s.accept())"
    )
    scenario_file = tmp_path / "hang.yaml"
    scenario_file.write_text(_with_case_timeout(RENAMED.read_text(), "1s"))
    target = command_target(
        shlex.join([sys.executable, "-c", hold, str(port)]), f"http://127.0.0.1:{port}/x", None
    )
    result = run_scenario(load_scenario(scenario_file), target, RunSettings(cases=1))
    (observation,) = result.observations
    assert observation.outcome is Outcome.TIMEOUT
    assert observation.latency >= 1.0


def _with_case_timeout(text: str, value: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith("case_timeout:")]
    at = next(i for i, line in enumerate(lines) if line.startswith("cases:"))
    lines.insert(at + 1, f"case_timeout: {value}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_the_naive_service_is_oom_killed_and_the_hardened_one_survives() -> None:
    scenario = load_scenario(OOM)
    settings = RunSettings(cases=3)  # case 1 carries the 16 MiB payload
    port = free_port()
    url = f"http://127.0.0.1:{port}/extract"
    naive = command_target(demo_command(port), f"{url}/naive", "200MB")
    result = run_scenario(scenario, naive, settings)
    kept, crashed, after = result.observations
    assert kept.outcome is Outcome.KEPT
    assert crashed.outcome is Outcome.CRASH
    assert after.outcome is Outcome.KEPT  # the command was restarted for the next case
    assert [f.partition("(")[0] for f in crashed.faults] == ["huge_payload"]
    assert "exit -9 (SIGKILL): OOM kill" in (crashed.error or "")
    assert crashed.rss_peak > 200_000_000 > kept.rss_peak > 0
    assert result.status == "failed"
    assert [v.slo.text for v in result.verdicts if not v.passed] == ["crashes == 0"]
    assert "--target-cmd" in crashed.replay and "--target-memory-limit 200MB" in crashed.replay

    hardened = command_target(demo_command(port), f"{url}/hardened", "200MB")
    survived = run_scenario(scenario, hardened, settings)
    assert [o.outcome for o in survived.observations] == [Outcome.KEPT, Outcome.ALLOWED_ERROR, Outcome.KEPT]
    assert "OutputTooLarge" in (survived.observations[1].error or "")
    assert survived.status == "passed"


def test_replaying_the_oom_case_alone_crashes_it_again() -> None:
    scenario = load_scenario(OOM)
    port = free_port()
    naive = command_target(demo_command(port), f"http://127.0.0.1:{port}/extract/naive", "200MB")
    result = run_scenario(scenario, naive, RunSettings(only_case=1, cases=3))
    assert [o.outcome for o in result.observations] == [Outcome.CRASH]


@pytest.mark.slow
def test_the_replay_command_carries_the_target_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    argv = [
        "run",
        str(OOM),
        "--cases",
        "3",
        "--target-cmd",
        demo_command(port),
        "--target-url",
        f"http://127.0.0.1:{port}/extract/naive",
        "--target-memory-limit",
        "200MB",
        "--report-dir",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    replay = next(line for line in out.splitlines() if "Reproduce with:" in line)
    words = shlex.split(replay.split("Reproduce with:", 1)[1])
    assert words[words.index("--target-cmd") + 1] == demo_command(port)
    assert words[words.index("--target-url") + 1] == f"http://127.0.0.1:{port}/extract/naive"
    assert words[words.index("--target-memory-limit") + 1] == "200MB"
    assert words[words.index("--case") + 1] == "1"


def test_a_command_that_exits_early_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = shlex.join([sys.executable, "-c", "import sys; sys.exit('no model key configured')"])
    code = main(
        [
            "run",
            str(RENAMED),
            "--target-cmd",
            command,
            "--target-url",
            "http://127.0.0.1:9/x",
            "--report-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "exited with 1 before listening on 127.0.0.1:9" in err
    assert "no model key configured" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--target-url", "http://127.0.0.1:1/x"], "--target-url needs --target-cmd"),
        (["--target-cmd", "true"], "--target-cmd needs --target-url"),
        (["--target-cmd", "true", "--target-url", "ftp://x/y"], "--target-url 'ftp://x/y': expected http://"),
        (["--target-cmd", "true", "--target-url", "http://a:1/", "--target-memory-limit", "lots"], "lots"),
        (["--target-cmd", "demo", "--target-url", "http://a:1/"], "--target-cmd demo serves its own URLs"),
        (["--target-cmd", "demo:bogus"], "expected demo, demo:naive or demo:hardened"),
        (["--target-cmd", "demo", "--target-memory-limit", "0MB"], "expected a positive size"),
    ],
)
def test_bad_target_options_are_usage_errors(
    argv: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(RENAMED), *argv, "--report-dir", str(tmp_path), "--no-progress"]) == 2
    assert expected in capsys.readouterr().err


def test_service_urls_parse_and_bad_ones_are_usage_errors() -> None:
    target = parse_target("http://127.0.0.1:8000/extract")
    assert isinstance(target, HttpTarget)
    assert target.address == ("127.0.0.1", 8000)
    assert target.short == ":8000/extract"
    assert target.replay_args() == ["--target", "http://127.0.0.1:8000/extract"]
    with pytest.raises(UsageError, match="expected a port number"):
        http_target("http://127.0.0.1:99999/x")


def test_http_statuses_in_allowed_errors_declare_clean_errors(tmp_path: Path) -> None:
    text = RENAMED.read_text().replace("  allowed_errors:\n", "  allowed_errors:\n    - http:503\n", 1)
    path = tmp_path / "statuses.yaml"
    path.write_text(text)
    contract = load_scenario(path).contract
    assert contract.allowed_statuses == (503,)
    assert contract.is_allowed(ServiceError(503, "{}", None))
    assert not contract.is_allowed(ServiceError(500, "{}", None))
    # a structured body naming a declared class (or a subclass) is declared too
    assert contract.is_allowed(ServiceError(422, "{}", "OutputTooLarge"))
    assert not contract.is_allowed(ServiceError(500, "{}", "JSONDecodeError"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("http:503", "http:200"))
    with pytest.raises(ScenarioError, match=r"allowed_errors\[\d\].*http:<status>"):
        load_scenario(bad)


def test_the_demo_service_targets_are_named_without_their_port() -> None:
    naive, hardened = demo_targets("demo", None)
    assert (naive.label, hardened.label) == ("demo-service:/extract/naive", "demo-service:/extract/hardened")
    assert naive.memory_limit == 200_000_000 and naive.replay_args() == ["--target-cmd", "demo:naive"]
    [capped] = demo_targets("demo:hardened", "1GB", provider_port=9000)
    assert capped.replay_args() == [
        "--target-cmd",
        "demo:hardened",
        "--target-memory-limit",
        "1GB",
        "--provider-port",
        "9000",
    ]
    launched = naive.launched()
    assert launched.url == f"http://127.0.0.1:{launched.address[1]}/extract/naive" and launched.address[1] > 0
    assert f"-m harness.demo.service --port {launched.address[1]}" in (launched.command or "")
    assert launched.memory_limit == naive.memory_limit


@pytest.mark.slow
def test_the_embedded_demo_default_xfails_the_oom_killed_naive_service_and_exits_0(tmp_path: Path) -> None:
    """``harness run --target-cmd demo``: the shipped huge-payload scenario against the bundled service."""
    command = ["run", "--target-cmd", "demo", "--cases", "3", "--no-progress", "--report-dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, "-m", "harness", *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "oom-huge-payload" in out and "xfailed 2 ok, 1 crash" in out and "broke: crashes == 0" in out
    assert "passed 2 ok, 1 declared err" in out
    expected = "xfailed oom-huge-payload × demo-service:/extract/naive, as declared: case 22-1: "
    assert expected in out and "exit -9 (SIGKILL): OOM kill" in out
