"""The regression runner end to end: real pipelines, the real openai SDK, the real interceptor.

Scenarios are written as YAML in ``tmp_path`` and loaded with :func:`load_scenario`; the
pipelines are the fixtures in :mod:`tests.pipelines`. Time is scaled to zero, so injected
waits (and SDK retry back-off) are accounted in scenario time, never slept.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import (
    Observation,
    Outcome,
    RunSettings,
    Scenario,
    SLOFailure,
    assert_slos,
    load_scenario,
    parse_slo,
    run_scenario,
)
from harness.runner import status_of
from harness.target import target_from_callable
from tests import pipelines

RECORD = {"user_id": 42, "name": "Ada Lovelace", "is_active": True}
CONTRACT = {
    "schema": {
        "type": "object",
        "properties": {
            "user_id": {"type": "integer"},
            "name": {"type": "string"},
            "is_active": {"type": "boolean"},
        },
        "required": ["user_id", "name", "is_active"],
    },
    "allowed_errors": ["tests.pipelines:PipelineError"],
}


def write_scenario(tmp_path: Path, name: str = "runner-check", **keys: Any) -> Scenario:
    """A scenario file with inline content and the record contract; ``keys`` add or override keys."""
    data: dict[str, Any] = {
        "version": 1,
        "name": name,
        "description": "A scenario written by the runner tests.",
        "seed": 5,
        "cases": 3,
        "case_timeout": "20s",
        "time_scale": 0,
        "source": {"content": RECORD},
        "inputs": ["Sign up Ada Lovelace", "Sign up Grace Hopper"],
        "contract": CONTRACT,
        "slos": ["schema_violations == 0", "undeclared_errors == 0", "timeouts == 0"],
    }
    data.update(keys)
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return load_scenario(path)


def run(scenario: Scenario, fn: Callable[[Any], Any], **settings: Any) -> list[Observation]:
    """Observations of ``fn`` under ``scenario``."""
    return run_scenario(scenario, target_from_callable(fn), RunSettings(**settings)).observations


# --- outcomes ---------------------------------------------------------------------------------


def test_valid_output_keeps_the_contract(tmp_path: Path) -> None:
    observations = run(write_scenario(tmp_path), pipelines.parse_reply)
    assert [o.outcome for o in observations] == [Outcome.KEPT] * 3
    assert [o.case for o in observations] == [0, 1, 2]
    assert [o.input for o in observations] == [
        "Sign up Ada Lovelace",
        "Sign up Grace Hopper",
        "Sign up Ada Lovelace",
    ]
    first = observations[0]
    assert first.output == RECORD
    assert first.error is None and first.violation is None
    assert first.scenario == "runner-check"
    assert first.target == "py:tests.pipelines:parse_reply"
    assert first.model_calls == 1
    assert first.calls[0].status == 200
    assert first.calls[0].faults == []
    assert json.loads(first.calls[0].body_preview)["choices"][0]["message"]["content"] == json.dumps(
        RECORD, separators=(",", ":")
    )


def test_async_pipelines_run_on_their_own_loop(tmp_path: Path) -> None:
    observations = run(write_scenario(tmp_path), pipelines.async_parse_reply, cases=2)
    assert [o.outcome for o in observations] == [Outcome.KEPT, Outcome.KEPT]
    assert observations[1].output == RECORD


def test_garbage_is_garbage_passed_with_the_violation(tmp_path: Path) -> None:
    (observation,) = run(write_scenario(tmp_path), pipelines.garbage, cases=1)
    assert observation.outcome is Outcome.GARBAGE
    assert observation.output == {"reply": json.dumps(RECORD, separators=(",", ":"))}
    assert observation.violation is not None
    assert "user_id" in observation.violation
    assert observation.error is None


def test_a_renamed_key_passed_on_is_garbage(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, faults=[{"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}}]
    )
    (observation,) = run(scenario, pipelines.parse_reply, cases=1)
    assert observation.outcome is Outcome.GARBAGE
    assert observation.output["UserID"] == 42
    assert "user_id" in (observation.violation or "")
    assert observation.faults == ["rename_keys(mapping={'user_id':'UserID'})"]


def test_a_declared_error_is_allowed(tmp_path: Path) -> None:
    (observation,) = run(write_scenario(tmp_path), pipelines.declared_error, cases=1)
    assert observation.outcome is Outcome.ALLOWED_ERROR
    assert observation.error == "PipelineError: refused to handle 'Sign up Ada Lovelace'"
    assert observation.output is None
    assert observation.model_calls == 1


def test_an_undeclared_error_is_reported_as_such(tmp_path: Path) -> None:
    (observation,) = run(write_scenario(tmp_path), pipelines.undeclared_error, cases=1)
    assert observation.outcome is Outcome.UNDECLARED_ERROR
    assert observation.error == "KeyError: 'user_id'"


@pytest.mark.parametrize(
    ("fault", "label", "fn"),
    [
        ({"fault": "timeout", "params": {"phase": "read"}}, "timeout", pipelines.no_timeout),
        (
            {"fault": "stream_stall", "params": {"after_events": 2}},
            "stream_stall(after_events=2)",
            pipelines.stream_no_timeout,
        ),
    ],
    ids=["silent-provider", "stalled-stream"],
)
def test_a_hang_with_no_client_timeout_is_a_timeout_at_the_case_deadline(
    tmp_path: Path, fault: dict[str, Any], label: str, fn: Callable[[Any], Any]
) -> None:
    scenario = write_scenario(tmp_path, case_timeout="45s", faults=[fault])
    (observation,) = run(scenario, fn, cases=1)
    assert observation.outcome is Outcome.TIMEOUT
    assert observation.error is not None
    assert observation.error.startswith("Timeout: ")
    assert "deadline" in observation.error
    assert observation.output is None
    # scenario time: the 45 s the case waited, though nothing was slept
    assert observation.latency >= 45.0
    assert observation.calls[0].faults == [label]


def test_a_pipeline_stuck_outside_any_model_call_is_abandoned_at_the_deadline(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, case_timeout="10ms")
    pipelines.RELEASE.clear()
    try:
        (observation,) = run(scenario, pipelines.stuck_outside_model, cases=1)
    finally:
        pipelines.RELEASE.set()
    assert observation.outcome is Outcome.TIMEOUT
    assert observation.error == "Timeout: the pipeline did not return before the case deadline"
    assert observation.model_calls == 1


# --- what each observation records --------------------------------------------------------------


def test_a_429_then_clean_shows_two_model_calls_and_the_fault(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, sequence={"steps": [{"fault": "http_status", "params": {"status": 429}}, "clean"]}
    )
    observations = run(scenario, pipelines.retrying, cases=2)
    for observation in observations:
        assert observation.outcome is Outcome.KEPT
        assert observation.model_calls == 2
        assert [c.call for c in observation.calls] == [1, 2]
        assert [c.status for c in observation.calls] == [429, 200]
        assert [c.faults for c in observation.calls] == [["http_status"], []]
        assert observation.faults == ["http_status"]
        assert "rate_limit" in observation.calls[0].body_preview
        assert observation.calls[0].bytes_served == len(observation.calls[0].body_preview.encode())
        assert observation.tokens > 0


def test_without_retries_the_429_escapes_as_an_undeclared_error(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, faults=[{"fault": "http_status", "params": {"status": 429}}])
    (observation,) = run(scenario, pipelines.parse_reply, cases=1)
    assert observation.outcome is Outcome.UNDECLARED_ERROR
    assert observation.error is not None
    assert observation.error.startswith("RateLimitError: ")
    assert [c.status for c in observation.calls] == [429]


def test_memory_latency_and_replay_are_recorded(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, faults=[{"fault": "latency", "params": {"seconds": 3}}])
    observations = run(scenario, pipelines.parse_reply, seed=9, cases=2)
    for observation in observations:
        assert observation.seed == 9
        assert observation.case_id == f"9-{observation.case}"
        assert observation.memory_peak > 0
        assert observation.calls[0].injected_delay == 3.0
        assert observation.latency >= 3.0  # the injected 3 s count in scenario time
        assert observation.wall < observation.latency
        argv = shlex.split(observation.replay)
        assert argv[:2] == ["harness", "run"]
        assert Path(argv[2]).resolve() == scenario.path.resolve()
        assert argv[3:] == [
            "--target",
            "py:tests.pipelines:parse_reply",
            "--seed",
            "9",
            "--case",
            str(observation.case),
        ]


def test_only_case_replays_exactly_that_case(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, faults=[{"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}, "rate": 0.5}]
    )
    every = run(scenario, pipelines.parse_reply, cases=8)
    assert {o.outcome for o in every} == {Outcome.KEPT, Outcome.GARBAGE}  # seed 5 has both
    for original in every:
        (again,) = run(scenario, pipelines.parse_reply, only_case=original.case)
        assert again.case == original.case
        assert again.input == original.input
        assert again.outcome is original.outcome
        assert again.faults == original.faults
        assert [c.body_preview for c in again.calls] == [c.body_preview for c in original.calls]


def test_a_time_scale_override_is_part_of_the_replay(tmp_path: Path) -> None:
    (observation,) = run(write_scenario(tmp_path), pipelines.parse_reply, cases=1, time_scale=0.5)
    assert shlex.split(observation.replay)[-2:] == ["--time-scale", "0.5"]


# --- statuses and assert_slos -------------------------------------------------------------------


def verdicts(*pairs: tuple[str, bool]) -> list[Any]:
    """Verdicts with the given SLO texts and pass/fail, judged on real observations."""
    observations = [
        Observation(
            scenario="s", target="t", seed=0, case=0, input="x", outcome=Outcome.KEPT, latency=0, wall=0
        )
    ]
    found = []
    for text, passed in pairs:
        slo = parse_slo(text)
        verdict = slo.evaluate(observations)
        assert verdict.passed is passed, f"{text} should {'hold' if passed else 'break'} on one kept case"
        found.append(verdict)
    return found


HOLDS, BREAKS = "kept_rate == 1", "error_rate > 0"


def test_status_of_without_xfail() -> None:
    assert status_of(verdicts((HOLDS, True)), None) == "passed"
    assert status_of(verdicts((HOLDS, True), (BREAKS, False)), None) == "failed"
    assert status_of([], None) == "passed"


def test_status_of_with_xfail_is_strict() -> None:
    assert status_of(verdicts((HOLDS, True), (BREAKS, False)), [BREAKS]) == "xfailed"
    assert status_of(verdicts((HOLDS, True), (BREAKS, False)), [HOLDS]) == "failed"
    assert status_of(verdicts((HOLDS, True)), [HOLDS]) == "xpassed"
    assert status_of(verdicts((BREAKS, False), ("kept_rate < 1", False)), [BREAKS]) == "failed"


@pytest.mark.parametrize(
    ("fn", "xfail", "status"),
    [
        (pipelines.parse_reply, None, "passed"),
        (pipelines.garbage, None, "failed"),
        (pipelines.garbage, ["schema_violations == 0"], "xfailed"),
        (pipelines.parse_reply, ["schema_violations == 0"], "xpassed"),
        (pipelines.garbage, ["timeouts == 0"], "failed"),
    ],
    ids=["passed", "failed", "xfailed", "xpassed", "failed-other-slo"],
)
def test_run_scenario_judges_xfail_by_target_label(
    tmp_path: Path, fn: Callable[[Any], Any], xfail: list[str] | None, status: str
) -> None:
    label = f"py:tests.pipelines:{fn.__name__}"
    extra: dict[str, Any] = {"xfail": {label: {"reason": "known bad", "slos": xfail}}} if xfail else {}
    result = run_scenario(write_scenario(tmp_path, **extra), target_from_callable(fn), RunSettings(cases=2))
    assert result.target == label
    assert result.status == status
    assert result.expected_broken == (xfail or [])
    if status in ("passed", "xfailed"):
        assert_slos(result)
    else:
        with pytest.raises(SLOFailure):
            assert_slos(result)


def test_assert_slos_names_the_slo_the_fault_chain_the_seed_and_the_replay(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, faults=[{"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}}]
    )
    result = run_scenario(
        scenario, target_from_callable(pipelines.parse_reply), RunSettings(seed=77, cases=2)
    )
    assert result.status == "failed"
    with pytest.raises(AssertionError) as caught:
        assert_slos(result)
    failure = caught.value
    assert isinstance(failure, SLOFailure)
    message = str(failure)
    assert "schema_violations == 0" in message
    assert "undeclared_errors == 0" not in message  # only broken SLOs are named
    assert "rename_keys(mapping={'user_id':'UserID'})" in message
    assert "seed 77" in message
    assert "77-0" in message
    replay = result.observations[0].replay
    assert failure.replay == replay
    assert message.splitlines()[-1] == f"Reproduce with: {replay}"
    assert "--seed 77 --case 0" in replay
