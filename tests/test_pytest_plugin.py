"""The pytest plugin, loaded through its ``pytest11`` entry point, driven with pytester.

Each test writes scenarios and a test module into pytester's folder and runs pytest on
them in-process; the inner tests call the model through the real openai SDK.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# pytester's in-process runs drop every module they import; importing the heavy ones here
# keeps them (and the plugin's state) loaded once for all runs.
import anthropic  # noqa: F401
import hypothesis  # noqa: F401
import openai  # noqa: F401
import pytest

import harness.interception
import harness.runner
import harness.scenario
import harness.sources
import harness.target  # noqa: F401

pytest_plugins = ["pytester"]

RECORD = {"user_id": 42, "name": "Ada Lovelace", "is_active": True}
CONTRACT = {
    "schema": {
        "type": "object",
        "properties": {"user_id": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["user_id", "name"],
    }
}
ASK = """
import json

from openai import OpenAI


def ask(text="Sign up Ada"):
    client = OpenAI(max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content
"""


def scenario(folder: Path, name: str, **keys: Any) -> Path:
    """Write scenario ``name`` (inline record, no faults unless given) into ``folder``; its path."""
    data: dict[str, Any] = {
        "version": 1,
        "name": name,
        "description": "Written by the pytest plugin tests.",
        "seed": 1,
        "cases": 2,
        "time_scale": 0,
        "source": {"content": RECORD},
        "inputs": ["Sign up Ada Lovelace"],
        "contract": CONTRACT,
        "slos": ["schema_violations == 0"],
    }
    data.update(keys)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


RENAMED = {"faults": [{"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}}]}
GENERATED = {
    "source": {
        "schema": {
            "type": "object",
            "properties": {"user_id": {"type": "integer", "minimum": 1}, "name": {"type": "string"}},
            "required": ["user_id", "name"],
        }
    }
}


def test_the_plugin_is_loaded_from_its_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--trace-config", "--co")
    # listed among the distributions' plugins, and active under its entry point name
    result.stdout.fnmatch_lines(["registered third-party plugins:", "*harness-* at *pytest_plugin.py"])
    result.stdout.fnmatch_lines(["active plugins:", "*harness *: *pytest_plugin.py"])


def test_help_shows_the_harness_option_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "chaos testing of model-backed pipelines:",
            "*--harness-seed=HARNESS_SEED*",
            "*--harness-time-scale=HARNESS_TIME_SCALE*",
        ]
    )
    result.stdout.fnmatch_lines(["*harness_scenarios (string):*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.harness(scenario, *, seed=None, time_scale=None):*"])
    result.stdout.fnmatch_lines(["@pytest.mark.harness_catalogue(folder):*"])


def test_marked_test_sees_the_faulted_reply(pytester: pytest.Pytester) -> None:
    path = scenario(pytester.path / "scen", "renamed", **RENAMED)
    pytester.makepyfile(
        ASK
        + f"""
import pytest


@pytest.mark.harness({str(path)!r})
def test_renamed():
    data = json.loads(ask())
    assert data == {{"UserID": 42, "name": "Ada Lovelace", "is_active": True}}


@pytest.mark.harness("scen/renamed.yaml")
def test_relative_to_rootdir():
    assert "UserID" in ask()
"""
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=2)


def test_harness_intercept_exposes_the_served_calls(pytester: pytest.Pytester) -> None:
    path = scenario(pytester.path / "scen", "counted", **RENAMED)
    pytester.makepyfile(
        ASK
        + f"""
import pytest


@pytest.mark.harness({str(path)!r})
def test_calls(harness_intercept):
    ask()
    ask()
    calls = harness_intercept.calls
    assert [c.call for c in calls] == [1, 2]
    assert calls[0].faults == ["rename_keys(mapping={{'user_id':'UserID'}})"]
    assert calls[0].status == 200
    assert b"UserID" in calls[1].body


@pytest.mark.harness({str(path)!r})
def test_each_test_starts_a_fresh_case(harness_intercept):
    ask()
    assert [c.call for c in harness_intercept.calls] == [1]


def test_without_a_scenario_the_fixture_says_what_it_needs(harness_intercept):
    pass
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*harness_intercept needs @pytest.mark.harness(scenario) or harness_scenario*"]
    )


def test_harness_scenario_parametrizes_over_the_ini_folder_and_the_catalogue_marker(
    pytester: pytest.Pytester,
) -> None:
    scenario(pytester.path / "catalogue", "alpha-check")
    scenario(pytester.path / "catalogue", "beta-check", **RENAMED)
    scenario(pytester.path / "other", "gamma-check")
    pytester.makeini("[pytest]\nharness_scenarios = catalogue\n")
    pytester.makepyfile(
        ASK
        + """
import pytest


def test_each(harness_scenario, harness_intercept):
    data = json.loads(ask())
    key = "UserID" if harness_scenario.name == "beta-check" else "user_id"
    assert data[key] == 42


@pytest.mark.harness_catalogue("other")
def test_other(harness_scenario):
    assert harness_scenario.name == "gamma-check"
"""
    )
    result = pytester.runpytest("-v", "--strict-markers")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        [
            "*::test_each[[]alpha-check[]] PASSED*",
            "*::test_each[[]beta-check[]] PASSED*",
            "*::test_other[[]gamma-check[]] PASSED*",
        ]
    )


def served(pytester: pytest.Pytester, *args: str) -> list[str]:
    """Run the recording test with ``args``; the replies it recorded."""
    log = pytester.path / "served.jsonl"
    log.unlink(missing_ok=True)
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


RECORDING = (
    ASK
    + """

def record(reply):
    with open("served.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(reply) + "\\n")
"""
)


def test_harness_seed_changes_what_is_served(pytester: pytest.Pytester) -> None:
    path = scenario(pytester.path / "scen", "generated", **GENERATED)
    pytester.makepyfile(
        RECORDING
        + f"""
import pytest


@pytest.mark.harness({str(path)!r})
def test_record():
    for _ in range(2):
        record(ask())
"""
    )
    by_file = served(pytester)
    seed_1 = served(pytester, "--harness-seed=1")
    seed_2 = served(pytester, "--harness-seed=2")
    assert len(seed_1) == 2
    assert seed_1 == by_file  # the file's own seed is 1
    assert seed_1 == served(pytester, "--harness-seed=1")
    assert seed_2 != seed_1
    assert all(isinstance(json.loads(reply)["user_id"], int) for reply in seed_1 + seed_2)


def test_the_command_line_seed_beats_the_markers(pytester: pytest.Pytester) -> None:
    path = scenario(pytester.path / "scen", "generated", **GENERATED)
    pytester.makepyfile(
        RECORDING
        + f"""
import pytest


@pytest.mark.harness({str(path)!r}, seed=2)
def test_record():
    record(ask())
"""
    )
    by_marker = served(pytester)
    assert by_marker != served(pytester, "--harness-seed=1")
    assert by_marker == served(pytester, "--harness-seed=2")


def test_harness_run_and_assert_slos_fail_with_a_replay_command(pytester: pytest.Pytester) -> None:
    renamed = scenario(pytester.path / "scen", "renamed", **RENAMED)
    clean = scenario(pytester.path / "scen", "clean")
    pytester.makepyfile(
        test_slos=ASK
        + f"""
import harness


def pipeline(text):
    return json.loads(ask(text))


def test_renamed_keys_break_the_contract(harness_run):
    result = harness_run({str(renamed)!r}, pipeline, cases=2)
    assert len(result.observations) == 2
    harness.assert_slos(result)


def test_clean_replies_keep_it(harness_run):
    result = harness_run({str(clean)!r}, pipeline)
    assert len(result.observations) == 2
    harness.assert_slos(result)
"""
    )
    result = pytester.runpytest("--harness-seed=9")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*SLOFailure*schema_violations == 0*",
            "*rename_keys*",
            "*Reproduce with: harness run *renamed.yaml --target py:test_slos:pipeline --seed 9 --case 0",
        ]
    )
