"""``py:`` targets served over HTTP for load runs: a real service process, a real fake provider.

The service is launched as the harness launches it (``python -m harness.load.pyservice``,
provider base URLs in its environment) and driven by the ordinary wire runner, so its
outcomes must match the same function run in-process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.contract import Contract
from harness.demo.errors import ExtractionError, ModelUnavailable
from harness.errors import UsageError
from harness.load.pyservice import (
    PyServiceTarget,
    declared,
    encode_output,
    error_body,
    free_port,
    py_service_target,
    service_command,
)
from harness.process import Service
from harness.runner import RunSettings, run_scenario
from harness.scenario import load_scenario
from harness.server import ProviderServer
from harness.target import parse_target

REPO = Path(__file__).resolve().parents[1]
RENAMED = REPO / "scenarios" / "renamed-key-outage.yaml"


@pytest.fixture(scope="module")
def unreachable_provider_service() -> Iterator[str]:
    """``tests.pipelines:parse_reply`` served on a free port; its model calls go to a closed port."""
    port = free_port()
    env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1", "OPENAI_API_KEY": "sk-x"}
    service = Service(service_command("py:tests.pipelines:parse_reply", port), env, cwd=str(REPO)).start()
    try:
        service.wait_ready("127.0.0.1", port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        service.stop()


def test_the_served_function_matches_in_process_outcomes() -> None:
    scenario = load_scenario(RENAMED)
    settings = RunSettings(cases=6)
    target = py_service_target("py:harness.demo.hardened:extract")
    wire = run_scenario(scenario, target, settings)
    local = run_scenario(scenario, parse_target("py:harness.demo.hardened:extract"), settings)
    assert wire.target == "py:harness.demo.hardened:extract"  # xfail maps and reports see the spec
    assert [o.faults for o in wire.observations] == [o.faults for o in local.observations]
    assert [o.outcome for o in wire.observations] == [o.outcome for o in local.observations]
    assert any(o.rss_peak > 0 for o in wire.observations)  # a launched process: its RSS is watched


def test_an_exception_becomes_a_500_naming_its_class(unreachable_provider_service: str) -> None:
    # the provider port is closed: the SDK raises APIConnectionError inside the pipeline
    response = httpx.post(unreachable_provider_service + "/", json={"input": "Ada"}, timeout=30)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "APIConnectionError"
    assert body["exception"] == "openai:APIConnectionError"
    assert "openai:APIError" in body["mro"]


def test_a_case_pin_is_passed_on_to_the_model_calls_it_causes() -> None:
    with ProviderServer(RENAMED, seed=4) as provider:
        port = free_port()
        env = {
            **os.environ,
            "OPENAI_BASE_URL": provider.openai_base_url,
            "OPENAI_API_KEY": "sk-x",
        }
        command = service_command("py:harness.demo.naive:extract", port)
        service = Service(command, env, cwd=str(REPO)).start()
        try:
            service.wait_ready("127.0.0.1", port, timeout=30)
            url = f"http://127.0.0.1:{port}/"
            httpx.post(
                url, json={"input": "Ada, ada@example.com"}, headers={"x-harness-case": "77-3"}, timeout=30
            )
            httpx.post(url, json={"input": "Ada, ada@example.com"}, timeout=30)
        finally:
            service.stop()
        pinned, unpinned = list(provider.provider.ledger.log)
    assert pinned.pinned and pinned.case == "77-3" and pinned.call == 1
    assert not unpinned.pinned and unpinned.case == "4-0"


def test_health_and_bad_requests(unreachable_provider_service: str) -> None:
    assert httpx.get(unreachable_provider_service + "/health").json() == {"status": "ok"}
    bad = httpx.post(unreachable_provider_service + "/extract", content=b"not json")
    assert bad.status_code == 400 and bad.json()["error"] == "BadRequest"
    assert httpx.get(unreachable_provider_service + "/extract").status_code == 405


def test_declared_errors_are_matched_by_dotted_path_including_subclasses() -> None:
    contract = Contract(allowed_errors=(ExtractionError,))
    body = error_body(ModelUnavailable("429 after retries"))
    assert body["exception"] == "harness.demo.errors:ModelUnavailable"
    assert "harness.demo.errors:ExtractionError" in body["mro"]
    assert declared(body, contract)
    assert not declared(error_body(KeyError("user_id")), contract)


def test_outputs_are_encoded_as_the_function_returned_them() -> None:
    assert encode_output({"user_id": "42", "ok": True}) == b'{"user_id": "42", "ok": true}'
    assert encode_output(float("nan")) == b'"nan"'  # garbage, but JSON the harness can check
    assert encode_output({1, 2}) in (b'"{1, 2}"', b'"{2, 1}"')


def test_a_bad_spec_is_one_line() -> None:
    with pytest.raises(UsageError, match=r"expected py:package\.module:function"):
        py_service_target("harness.demo.naive:extract")
    with pytest.raises(UsageError, match="--target"):
        py_service_target("py:harness.demo.naive")
    target = py_service_target("py:harness.demo.naive:extract", memory_limit="200MB")
    assert isinstance(target, PyServiceTarget)
    spec = "py:harness.demo.naive:extract"
    assert target.replay_args() == ["--target", spec, "--target-memory-limit", "200MB"]
    assert target.short == "naive.extract"


def test_an_unimportable_function_fails_at_launch_with_its_reason() -> None:
    port = free_port()
    service = Service(service_command("py:no_such_module:fn", port), dict(os.environ), cwd=str(REPO)).start()
    try:
        with pytest.raises(Exception, match="no module named 'no_such_module'"):
            service.wait_ready("127.0.0.1", port, timeout=30)
    finally:
        service.stop()
