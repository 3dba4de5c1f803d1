"""``@given`` tests with harness.strategies under pytest, as a user writes them, run by pytester.

One user test file, five pytest runs in subprocesses: the failing property shrinks to a single default
fault and prints it; ``@example`` runs; the example database replays the failure on the
next run; ``--hypothesis-seed`` gives the same result; the ``harness`` marker gives every
example a fresh case; a function-scoped fixture trips Hypothesis's health check as usual.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

try:
    from hypothesis._settings import _CI_VARS
except ImportError:  # private; the variables Hypothesis 6.1xx reads
    _CI_VARS = {"CI": None, "TF_BUILD": "True", "GITHUB_ACTIONS": "true"}

CONFTEST = """
from hypothesis import Phase, settings

settings.register_profile("replay", phases=[Phase.explicit, Phase.reuse])
"""

USER_TESTS = """
import pydantic
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openai import OpenAI, InternalServerError

from harness.demo import naive
from harness.demo.contract import UserRecord
from harness.faults import FaultUse
from harness.strategies import fault_chains, intercepting


def garbage_passed(chain):
    with intercepting(chain, UserRecord):
        try:
            record = naive.extract("Sign up Ada Lovelace, ada@example.com")
        except Exception:
            return False  # an error is loud: not garbage
    try:
        UserRecord.model_validate(record)
    except pydantic.ValidationError:
        return True
    return False


SOME_CONTENT_FAULTS = [
    "add_fields", "drop_field", "markdown_fence", "rename_keys", "type_drift", "wrap_in_prose"
]


@settings(max_examples=50, deadline=None)
@given(chain=fault_chains(max_size=3, names=SOME_CONTENT_FAULTS))
def test_naive_passes_no_garbage(chain):
    assert not garbage_passed(chain)


@settings(max_examples=3, deadline=None)
@example(chain=(FaultUse.of("rename_keys", {"mapping": {"email": "Email"}}),))
@given(chain=fault_chains(max_size=0))
def test_explicit_example(chain):
    assert not garbage_passed(chain)


@pytest.mark.harness("first-call-fails.yaml")
@settings(max_examples=10, deadline=None)
@given(text=st.text(max_size=5))
def test_marker_gives_every_example_call_one(text):
    with pytest.raises(InternalServerError):
        OpenAI(max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text or "hi"}]
        )


@pytest.mark.harness("first-call-fails.yaml")
@given(text=st.text(max_size=5))
def test_function_scoped_fixture_trips_the_health_check(harness_intercept, text):
    pass
"""

SCENARIO = """
version: 1
name: first-call-fails
description: The first model call of a case gets a 500, the rest are clean.
time_scale: 0
source: {content: '{"user_id": 1}'}
sequence: {steps: [{fault: http_status, params: {status: 500}}, clean], then: clean}
inputs: [hi]
contract: {schema: {type: object}}
"""

FALSIFYING_CHAIN = re.compile(r"chain=\((FaultUse\.of\([^\n]*?\)),?\),?\n")


@pytest.fixture
def user_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the user's test file, a Hypothesis profile and one scenario."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # a developer's machine: on CI Hypothesis's default profile derandomizes and drops the database
    for name in _CI_VARS:
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fuzz=USER_TESTS)
    (pytester.path / "first-call-fails.yaml").write_text(SCENARIO)
    return pytester


def _falsifying(output: str, test: str) -> str:
    """The chain Hypothesis printed for ``test``'s falsifying example."""
    # Hypothesis 6.170 renamed "Falsifying example" to "Failing test case"
    start = re.search(rf"(?:Falsifying example|Failing test case): {re.escape(test)}\(", output)
    assert start, output[-2000:]
    block = output[start.start() :]
    found = FALSIFYING_CHAIN.search(block)
    assert found, block[:500]
    return found.group(1)


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args)


@pytest.mark.slow
def test_given_tests_shrink_replay_and_honour_seeds(user_project: pytest.Pytester) -> None:
    first = _run(user_project)
    out = first.stdout.str()
    first.assert_outcomes(passed=1, failed=3)

    # the failure shrinks to one fault with its default parameters, printed as code
    minimal = _falsifying(out, "test_naive_passes_no_garbage")
    assert re.fullmatch(r"FaultUse\.of\('\w+'\)", minimal), minimal
    # @example runs, and fails on its own
    assert re.search(r"(?:Falsifying|Failing) explicit example: test_explicit_example\(", out), out[-2000:]
    assert "FaultUse.of('rename_keys', {'mapping': {'email': 'Email'}})" in out
    # the marker's interceptor starts each example at call 1 (the 500): that test passed;
    # a function-scoped fixture in a @given test is refused as Hypothesis always does
    assert "uses a function-scoped fixture 'harness_intercept'" in out

    # the example database replays the failure on the next run, with generation turned off ...
    replay = _run(user_project, "--hypothesis-profile=replay", "-k", "no_garbage")
    replay.assert_outcomes(failed=1)
    assert _falsifying(replay.stdout.str(), "test_naive_passes_no_garbage") == minimal
    # ... and only from the database: without it, nothing fails
    shutil.rmtree(user_project.path / ".hypothesis")
    empty = _run(user_project, "--hypothesis-profile=replay", "-k", "no_garbage")
    assert empty.parseoutcomes().get("failed", 0) == 0

    # the same seed gives the same minimal chain (Hypothesis keeps seeded runs out of the database)
    seeded = [_run(user_project, "--hypothesis-seed=7", "-k", "no_garbage") for _ in range(2)]
    chains = [_falsifying(run.stdout.str(), "test_naive_passes_no_garbage") for run in seeded]
    assert chains[0] == chains[1]
    assert re.fullmatch(r"FaultUse\.of\('\w+'\)", chains[0]), chains[0]
