"""pytest plugin (entry point ``pytest11: harness``): fixtures, a marker and SLO assertions.

Precedence for the seed and time scale: command line (``--harness-seed``,
``--harness-time-scale``) → the ``harness`` marker's keyword → the scenario file.
Heavy modules are imported inside fixtures so merely installing harness costs pytest nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.interception import Interceptor
    from harness.reports import ScenarioResult
    from harness.scenario import Scenario


_CATALOGUES = pytest.StashKey[dict[Path, list["Scenario"]]]()
"""Scenario folders already loaded in this session, by path."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--harness-*`` options and the ``harness_scenarios`` ini key."""
    group = parser.getgroup("harness", "chaos testing of model-backed pipelines")
    group.addoption(
        "--harness-seed", type=int, default=None, help="Seed for every harness scenario (overrides files)."
    )
    group.addoption(
        "--harness-time-scale",
        type=float,
        default=None,
        help="Real seconds slept per injected second (0 = account only).",
    )
    parser.addini(
        "harness_scenarios",
        "Folder of scenarios for the harness_scenario parametrization.",
        default="scenarios",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``harness`` marker."""
    config.addinivalue_line(
        "markers",
        "harness(scenario, *, seed=None, time_scale=None): fake the model provider for the test",
    )
    config.addinivalue_line(
        "markers", "harness_catalogue(folder): parametrize harness_scenario over the scenarios in folder"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests that ask for ``harness_scenario`` over a scenario folder."""
    if "harness_scenario" not in metafunc.fixturenames:
        return
    from harness.scenario import load_scenarios

    marker = metafunc.definition.get_closest_marker("harness_catalogue")
    folder = (
        Path(marker.args[0]) if marker and marker.args else Path(metafunc.config.getini("harness_scenarios"))
    )
    if not folder.is_absolute():
        folder = metafunc.config.rootpath / folder
    loaded = metafunc.config.stash.setdefault(_CATALOGUES, {})
    if folder not in loaded:  # loaded once per folder, not once per test function
        loaded[folder] = load_scenarios([folder])
    scenarios = loaded[folder]
    metafunc.parametrize("harness_scenario", scenarios, ids=[s.name for s in scenarios])


def _marker_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("harness")
    if marker is None:
        return {}
    kwargs = dict(marker.kwargs)
    if marker.args:
        kwargs["scenario"] = marker.args[0]
    return kwargs


@pytest.fixture
def harness_seed(request: pytest.FixtureRequest) -> int | None:
    """The seed from ``--harness-seed`` or the ``harness`` marker; None keeps the scenario's."""
    option = request.config.getoption("--harness-seed")
    return option if option is not None else _marker_kwargs(request).get("seed")


@pytest.fixture
def harness_time_scale(request: pytest.FixtureRequest) -> float | None:
    """The time scale from ``--harness-time-scale`` or the marker; None keeps the scenario's."""
    option = request.config.getoption("--harness-time-scale")
    return option if option is not None else _marker_kwargs(request).get("time_scale")


@pytest.fixture
def harness_intercept(
    request: pytest.FixtureRequest, harness_seed: int | None, harness_time_scale: float | None
) -> Iterator[Interceptor]:
    """Fake the model provider for the whole test with the marker's scenario (or ``harness_scenario``)."""
    from harness.interception import intercept

    scenario = _marker_kwargs(request).get("scenario")
    if scenario is None and "harness_scenario" in request.fixturenames:
        scenario = request.getfixturevalue("harness_scenario")
    if scenario is None:
        raise pytest.UsageError("harness_intercept needs @pytest.mark.harness(scenario) or harness_scenario")
    if isinstance(scenario, str | Path) and not Path(scenario).is_absolute():
        scenario = request.config.rootpath / scenario
    with intercept(scenario, seed=harness_seed, time_scale=harness_time_scale) as interceptor:
        _fresh_case_per_example(request, interceptor)
        yield interceptor


def _fresh_case_per_example(request: pytest.FixtureRequest, interceptor: Interceptor) -> None:
    """Under ``@given``, start every example on a fresh case (call 1, empty log) of the same interceptor.

    Hypothesis runs the test body once per example inside one fixture setup, so without this
    the call counter and log would run on across examples and a replayed example would see
    call 5 where it first saw call 1. A pipeline left waiting at the case deadline raises
    :class:`~harness.strategies.PipelineHung` (an ``AssertionError``) so Hypothesis shrinks it.
    """
    handle = getattr(getattr(request, "function", None), "hypothesis", None)
    if handle is None:
        return
    from harness.case import CaseDeadlineExceeded
    from harness.strategies import PipelineHung

    inner = handle.inner_test

    @functools.wraps(inner)
    def each_example(*args: Any, **kwargs: Any) -> Any:
        interceptor.case = interceptor.fresh_case()
        try:
            return inner(*args, **kwargs)
        except CaseDeadlineExceeded as exc:
            raise PipelineHung(f"the pipeline hung: {exc}") from exc

    handle.inner_test = each_example
    request.addfinalizer(lambda: setattr(handle, "inner_test", inner))


@pytest.fixture(autouse=True)
def _harness_marker(request: pytest.FixtureRequest) -> None:
    """Tests carrying ``@pytest.mark.harness(...)`` run inside ``harness_intercept``."""
    if request.node.get_closest_marker("harness") is not None:
        request.getfixturevalue("harness_intercept")


@pytest.fixture
def harness_run(harness_seed: int | None, harness_time_scale: float | None) -> Callable[..., ScenarioResult]:
    """Run a scenario's cases against a callable with the regression runner; returns the result."""
    from harness.runner import RunSettings, run_scenario
    from harness.scenario import Scenario, load_scenario
    from harness.target import target_from_callable

    def run(
        scenario: Scenario | str | Path, pipeline: Callable[[Any], Any], *, cases: int | None = None
    ) -> ScenarioResult:
        loaded = scenario if isinstance(scenario, Scenario) else load_scenario(Path(scenario))
        settings = RunSettings(seed=harness_seed, cases=cases, time_scale=harness_time_scale)
        return run_scenario(loaded, target_from_callable(pipeline), settings)

    return run
