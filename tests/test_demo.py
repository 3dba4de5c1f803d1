"""The bundled demo pipelines under real faults, and the shipped scenario catalogue.

Each pipeline runs for real — openai SDK, httpx2, the in-process interceptor — against
replies generated from :class:`UserRecord` with one fault applied. Time is scaled to
zero, so injected waits are accounted, never slept.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

from harness.cli import main
from harness.demo import DEFAULT_TARGETS, HARDENED, NAIVE, catalogue_dir, hardened, naive
from harness.demo.contract import FIELDS, UserRecord, json_schema
from harness.faults import FaultUse
from harness.interception import Interceptor, intercept
from harness.plan import CLEAN, FaultPlan, RatePlan, Rule, SequencePlan
from harness.responder import Responder
from harness.runner import run_scenario
from harness.scenario import Scenario, load_scenario, load_scenarios, parse_scenario
from harness.sources import SchemaSource
from harness.target import parse_target
from harness.targets_wire import free_port

SENTENCE = "Please sign up Ada Lovelace (ada@example.com) on the pro plan, account 1815, from 2024-03-01."
Extract = Callable[[str], dict[str, Any]]
PIPELINES = {"naive": naive.extract, "hardened": hardened.extract}


def plan_of(*faults: tuple[str, dict[str, Any]]) -> FaultPlan:
    """Every model call gets these faults."""
    return RatePlan((Rule(tuple(FaultUse.of(name, params) for name, params in faults)),))


def steps(*faults: tuple[str, dict[str, Any]]) -> FaultPlan:
    """Call k gets fault k, then every call is clean."""
    return SequencePlan(tuple(Rule((FaultUse.of(name, params),)) for name, params in faults))


def serving(plan: FaultPlan, seed: int = 3) -> Interceptor:
    """An interceptor serving generated user records through ``plan``, waits never slept."""
    source = SchemaSource.from_model("harness.demo.contract:UserRecord")
    return intercept(Responder(source, plan, seed=seed), time_scale=0)


def violation(output: dict[str, Any]) -> str | None:
    """Why ``output`` breaks the contract, or None."""
    try:
        UserRecord.model_validate(output)
    except pydantic.ValidationError as exc:
        return str(exc.errors()[0]["loc"])
    return None


# --- the contract ------------------------------------------------------------------------------


def test_contract_is_strict_and_exported() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(FIELDS)
    assert schema["properties"]["plan"]["enum"] == ["free", "pro", "enterprise"]
    good = {
        "user_id": 1,
        "name": "Ada",
        "email": "a@b.c",
        "is_active": True,
        "plan": "pro",
        "signup_date": "2024-03-01",
    }
    assert violation(good) is None
    assert violation({**good, "is_active": "Yes"}) == "('is_active',)"
    assert violation({**good, "user_id": "1"}) == "('user_id',)"
    assert violation({**good, "extra": 1}) == "('extra',)"


# --- both pipelines, one fault at a time -------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
def test_clean_reply_gives_a_valid_record(name: str) -> None:
    with serving(CLEAN) as served:
        output = PIPELINES[name](SENTENCE)
    assert violation(output) is None
    assert [c.stream for c in served.calls] == [name == "hardened"]


@pytest.mark.parametrize(
    "fault",
    [
        ("rename_keys", {"mapping": {"user_id": "UserID"}}),
        ("type_drift", {"fields": ["is_active"], "bool_as": ["Yes"], "false_as": ["No"], "int_as": None}),
    ],
    ids=["renamed-key", "yes-drift"],
)
def test_drift_is_garbage_for_naive_and_a_declared_error_for_hardened(
    fault: tuple[str, dict[str, Any]],
) -> None:
    with serving(plan_of(fault)):
        garbage = naive.extract(SENTENCE)
        with pytest.raises(hardened.MalformedOutput, match=r"user_id|is_active"):
            hardened.extract(SENTENCE)
    assert violation(garbage) in ("('user_id',)", "('is_active',)")


def test_haiku_crashes_naive_and_is_malformed_for_hardened() -> None:
    with serving(plan_of(("haiku", {}))):
        with pytest.raises(json.JSONDecodeError):
            naive.extract(SENTENCE)
        with pytest.raises(hardened.MalformedOutput, match="no JSON object"):
            hardened.extract(SENTENCE)


@pytest.mark.parametrize(
    "fault",
    [("markdown_fence", {"lang": "json", "prose": True}), ("wrap_in_prose", {"position": "both"})],
    ids=["fence", "prose"],
)
def test_fenced_or_prose_json_is_found_by_hardened(fault: tuple[str, dict[str, Any]]) -> None:
    with serving(plan_of(fault)):
        with pytest.raises(json.JSONDecodeError):
            naive.extract(SENTENCE)
        assert violation(hardened.extract(SENTENCE)) is None


def test_huge_payload_is_cut_off_by_the_byte_cap() -> None:
    with (
        serving(plan_of(("huge_payload", {"size_mb": 2, "shape": "pad"}))) as served,
        pytest.raises(hardened.OutputTooLarge),
    ):
        hardened.extract(SENTENCE)
    assert len(served.calls) == 1


def test_deep_nesting_is_malformed_not_a_recursion_error() -> None:
    with (
        serving(plan_of(("huge_payload", {"shape": "nested", "depth": 100_000}))),
        pytest.raises(hardened.MalformedOutput, match="nested too deeply"),
    ):
        hardened.extract(SENTENCE)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (("truncate", {"fraction": 0.5}), hardened.OutputTruncated),
        (("reasoning_exhaustion", {}), hardened.OutputTruncated),
        (("refusal", {}), hardened.Refused),
        (("content_filter", {"fraction": 0.5}), hardened.Refused),
        (("empty_content", {}), hardened.MalformedOutput),
        (("hallucinated_enum", {"field": "plan"}), hardened.MalformedOutput),
    ],
    ids=["truncated", "reasoning", "refusal", "content-filter", "empty", "enum"],
)
def test_hardened_turns_each_failure_into_its_typed_error(
    fault: tuple[str, dict[str, Any]], error: type[hardened.ExtractionError]
) -> None:
    with serving(plan_of(fault)), pytest.raises(error):
        hardened.extract(SENTENCE)


def test_429_then_clean_is_retried_by_hardened() -> None:
    plan = steps(("http_status", {"status": 429, "retry_after": 0.01, "retry_after_form": "ms"}))
    with serving(plan) as served:
        output = hardened.extract(SENTENCE)
    assert violation(output) is None
    assert [c.status for c in served.calls] == [429, 200]


def test_persistent_5xx_ends_in_model_unavailable_after_four_calls() -> None:
    plan = plan_of(("http_status", {"status": 503, "retry_after": 0.001, "retry_after_form": "ms"}))
    with serving(plan) as served, pytest.raises(hardened.ModelUnavailable, match="503"):
        hardened.extract(SENTENCE)
    assert len(served.calls) == hardened.MAX_RETRIES + 1


@pytest.mark.parametrize("form", ["seconds", "float", "ms"])
def test_a_retry_after_past_the_deadline_fails_fast_instead_of_waiting(form: str) -> None:
    # found by `harness fuzz` on the hardened pipeline: the SDK honours a Retry-After of up to
    # two minutes, so two 30 s waits on a 429 outlasted the 30 s deadline and the case hung
    plan = plan_of(("http_status", {"status": 429, "retry_after": 45.0, "retry_after_form": form}))
    with serving(plan) as served, pytest.raises(hardened.ModelUnavailable, match="429"):
        hardened.extract(SENTENCE)
    assert len(served.calls) == 1


def test_a_stream_cut_midway_is_asked_again() -> None:
    with serving(steps(("stream_cut", {"after_fraction": 0.5}))) as served:
        output = hardened.extract(SENTENCE)
    assert violation(output) is None
    assert len(served.calls) == 2


def test_broken_streams_share_one_attempt_budget() -> None:
    with (
        serving(plan_of(("malformed_sse", {"kind": "garbage"}))) as served,
        pytest.raises(hardened.ModelUnavailable, match="corrupt event"),
    ):
        hardened.extract(SENTENCE)
    assert len(served.calls) == hardened.MAX_RETRIES + 1


def test_a_stalled_stream_hits_the_read_timeout() -> None:
    with (
        serving(plan_of(("stream_stall", {"after_events": 2}))) as served,
        pytest.raises(hardened.ModelTimeout, match="stalled"),
    ):
        hardened.extract(SENTENCE)
    assert len(served.calls) == 1


def kept_alive_stall(**overrides: Any) -> dict[str, Any]:
    """A one-rule scenario document: every stream stalls forever after two events, kept alive by comments."""
    params = {"after_events": 2, "keepalive": True, "keepalive_every": 0.5}
    stall = {"fault": "stream_stall", "params": params}
    return {
        "version": 1,
        "name": "kept-alive-stall",
        "description": "A proxy holds the stream open with ': keep-alive' comments after the model stalls.",
        "seed": 4,
        "cases": 2,
        "case_timeout": "60s",
        "time_scale": 0.0,
        "source": {"model": "harness.demo.contract:UserRecord"},
        "faults": [stall],
        "inputs": [SENTENCE],
        "contract": {
            "model": "harness.demo.contract:UserRecord",
            "allowed_errors": ["harness.demo.errors:ExtractionError"],
        },
        "slos": ["timeouts == 0", "undeclared_errors == 0"],
        **overrides,
    }


def test_a_stall_kept_alive_by_comments_ends_at_the_deadline_in_scenario_time() -> None:
    """The comments come every half second, well inside the 10 s read timeout; the 30 s deadline ends it."""
    scenario = parse_scenario(kept_alive_stall(), Path("kept-alive-stall.yaml"))
    result = run_scenario(scenario, parse_target(HARDENED))
    assert result.status == "passed", [v.describe() for v in result.verdicts]
    for observation in result.observations:
        assert observation.error == f"ModelTimeout: no complete reply within {hardened.DEADLINE:g}s"
        assert len(observation.calls) == 1
        # ended by the pipeline's deadline (plus at most one comment), not the case's
        assert hardened.DEADLINE < observation.latency < hardened.DEADLINE + 1


def test_a_stall_kept_alive_by_comments_ends_at_the_service_deadline_over_the_wire(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The demo service (a real uvicorn subprocess) answers 422 ModelTimeout, not a held worker."""
    path = tmp_path / "kept-alive-stall.yaml"
    path.write_text(json.dumps(kept_alive_stall(cases=1)), "utf-8")
    port = free_port()
    command = shlex.join([sys.executable, "-m", "harness.demo.service", "--port", str(port)])
    url = f"http://127.0.0.1:{port}/extract/hardened"
    reports = tmp_path / "reports"
    argv = ["run", path, "--target-cmd", command, "--target-url", url]
    argv += ["--report-dir", reports, "--no-progress"]
    capfd.readouterr()
    code = main([str(a) for a in argv])
    out = capfd.readouterr().out
    assert code == 0, out
    (folder,) = reports.iterdir()
    (result,) = json.loads((folder / "report.json").read_text("utf-8"))["results"]
    assert result["outcomes"]["allowed_error"] == 1 and result["outcomes"]["timeout"] == 0


# --- finding the JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        '{"a": 1}',
        'Sure! Here it is:\n```json\n{"a": 1}\n```\nAnything else?',
        'Here is the JSON: {"a": 1} - hope that helps {really}',
        '"{\\"a\\": 1}"',
    ],
    ids=["plain", "fenced", "prose", "stringified"],
)
def test_find_json_object(content: str) -> None:
    assert hardened.find_json_object(content) == {"a": 1}


@pytest.mark.parametrize("content", ["", "   ", "no json here", "{'a': 1,}"])
def test_find_json_object_refuses_junk(content: str) -> None:
    with pytest.raises(hardened.MalformedOutput):
        hardened.find_json_object(content)


# --- the catalogue -----------------------------------------------------------------------------


def catalogue() -> list[Scenario]:
    """Every shipped scenario."""
    return load_scenarios([catalogue_dir()])


def test_catalogue_is_found_and_every_file_loads() -> None:
    assert catalogue_dir() == Path(__file__).resolve().parents[1] / "scenarios"
    files = sorted(catalogue_dir().glob("*.yaml"))
    assert [load_scenario(f).name for f in files] == [f.stem for f in files]
    assert len(files) >= 13
    assert DEFAULT_TARGETS == (NAIVE, HARDENED)


@pytest.mark.parametrize("scenario", catalogue(), ids=lambda s: s.name)
def test_every_scenario_judges_the_demo_output(scenario: Scenario) -> None:
    assert scenario.description.strip()
    assert scenario.contract.model is UserRecord
    assert scenario.contract.is_allowed(hardened.Refused("no"))
    assert not scenario.contract.is_allowed(json.JSONDecodeError("x", "", 0))
    assert set(scenario.xfail) <= {NAIVE, "demo-service:/extract/naive"}
    texts = {slo.text for slo in scenario.slos}
    for expected in scenario.xfail.values():
        assert expected.reason.strip()
        assert set(expected.slos) <= texts


FAST = ["renamed-key-outage", "yes-is-not-true", "haiku-instead-of-json", "fenced-and-prose-json"]


@pytest.mark.parametrize("name", FAST)
def test_naive_breaks_for_the_right_reasons_and_hardened_keeps_every_slo(name: str) -> None:
    scenario = load_scenario(catalogue_dir() / f"{name}.yaml")
    naive_result = run_scenario(scenario, parse_target(NAIVE))
    hardened_result = run_scenario(scenario, parse_target(HARDENED))
    assert naive_result.status == "xfailed", [v.describe() for v in naive_result.verdicts]
    assert hardened_result.status == "passed", [v.describe() for v in hardened_result.verdicts]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted({s.name for s in catalogue()} - set(FAST)))
def test_whole_catalogue_verdicts(name: str) -> None:
    scenario = load_scenario(catalogue_dir() / f"{name}.yaml")
    naive_result = run_scenario(scenario, parse_target(NAIVE))
    hardened_result = run_scenario(scenario, parse_target(HARDENED))
    assert naive_result.status == ("xfailed" if NAIVE in scenario.xfail else "passed"), [
        v.describe() for v in naive_result.verdicts
    ]
    assert hardened_result.status == "passed", [v.describe() for v in hardened_result.verdicts]
