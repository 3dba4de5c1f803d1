"""The regression runner: every case of a scenario against a target, classified and journaled.

One case = one pipeline call. The runner sets the case as current (the interceptor reads
it), calls the target in a worker thread so a pipeline that hangs outside any model call
still ends at the deadline, measures latency in scenario time and memory, and classifies
the result against the contract.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import shlex
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.case import CURRENT_CASE, CaseDeadlineExceeded, CaseState, PipelineMemory
from harness.errors import SLOFailure
from harness.interception import Interceptor
from harness.memory import RssSampler, tracing
from harness.observation import Journal, ModelCall, Observation, Outcome
from harness.process import ServiceCrashed
from harness.reports import ScenarioResult
from harness.responder import Responder
from harness.scenario import Scenario
from harness.slo import evaluate_all, parse_slo, status_of
from harness.target import PyTarget, Target

if TYPE_CHECKING:
    from harness.targets_wire import HttpTarget, WireSession

PREVIEW_BYTES = 4096
"""How much of each served body an observation keeps (the journal must stay readable)."""
IMPLICIT_CRASH_SLO = "crashes == 0"
"""Added to a scenario's SLOs for service targets when the scenario names no crash SLO."""
DEADLINE_GRACE = 1.0
"""Real seconds past the case deadline before the runner gives up on a stuck worker thread."""


@dataclass(frozen=True)
class RunSettings:
    """Overrides from the command line; None keeps the scenario's own value."""

    seed: int | None = None
    cases: int | None = None
    only_case: int | None = None
    time_scale: float | None = None


@dataclass
class _CaseResult:
    output: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


def replay_command(
    scenario: Scenario,
    target: Target,
    seed: int,
    case: int | None,
    time_scale: float,
    cases: int | None = None,
) -> str:
    """The one-line command that replays one case (or, with ``case`` None, the whole run)."""
    parts = ["harness", "run", display_path(scenario.path), *target.replay_args(), "--seed", str(seed)]
    if case is not None:
        parts += ["--case", str(case)]
    elif cases is not None and cases != scenario.cases:
        parts += ["--cases", str(cases)]
    if time_scale != scenario.time_scale:
        parts += ["--time-scale", f"{time_scale:g}"]
    return shlex.join(parts)


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter replay lines)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def classify(scenario: Scenario, result: _CaseResult) -> tuple[Outcome, str | None, str | None]:
    """Outcome, error text and contract violation for one finished (or abandoned) case."""
    if not result.done.is_set() or isinstance(result.error, CaseDeadlineExceeded):
        detail = str(result.error) if result.error else "the pipeline did not return before the case deadline"
        return Outcome.TIMEOUT, f"Timeout: {detail}", None
    if isinstance(result.error, ServiceCrashed):
        return Outcome.CRASH, f"Crash: {result.error}", None
    if result.error is not None:
        error = f"{type(result.error).__name__}: {result.error}"
        allowed = scenario.contract.is_allowed(result.error)
        return (Outcome.ALLOWED_ERROR if allowed else Outcome.UNDECLARED_ERROR), error, None
    violation = scenario.contract.check(result.output)
    return (Outcome.KEPT, None, None) if violation is None else (Outcome.GARBAGE, None, violation)


def _model_calls(case: CaseState) -> list[ModelCall]:
    return [
        ModelCall(
            call=c.call,
            faults=list(c.faults),
            status=c.status,
            stream=c.stream,
            injected_delay=c.injected_delay,
            bytes_served=len(c.body),
            body_preview=c.body[:PREVIEW_BYTES].decode("utf-8", "replace"),
            input_tokens=c.input_tokens,
            output_tokens=c.output_tokens,
        )
        for c in case.snapshot()
    ]


def _call_in_worker(target: PyTarget, value: Any, case: CaseState, result: _CaseResult) -> threading.Thread:
    def work() -> None:
        CURRENT_CASE.set(case)
        try:
            result.output = target.call(value)
        except BaseException as exc:  # the pipeline's failures are data here, not errors of ours
            result.error = exc
        finally:
            result.done.set()

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(work,), name=f"harness-case-{case.case_id}", daemon=True
    )
    thread.start()
    return thread


def run_case(
    scenario: Scenario,
    target: PyTarget,
    case: CaseState,
    value: Any,
    rss: RssSampler,
    started_run: float,
) -> tuple[Observation, threading.Thread | None]:
    """Run one case; returns its observation and, if the call outlived its deadline, its thread."""
    result = _CaseResult()
    rss.reset()
    at = time.perf_counter() - started_run
    case.memory = PipelineMemory()
    case.started = time.perf_counter()
    result.thread = _call_in_worker(target, value, case, result)
    if not result.done.wait(scenario.case_timeout + DEADLINE_GRACE):
        case.abandoned = True  # its later model calls and waits now end at once
    wall = time.perf_counter() - case.started
    memory_peak = case.memory.peak()
    observation = _observation(
        scenario,
        target,
        case,
        value,
        result,
        wall=wall,
        at=at,
        skipped=case.skipped,
        memory_peak=memory_peak,
        rss_peak=rss.peak,
        calls=_model_calls(case),
    )
    return observation, (result.thread if case.abandoned else None)


def _observation(
    scenario: Scenario,
    target: Target,
    case: CaseState,
    value: Any,
    result: _CaseResult,
    *,
    wall: float,
    at: float,
    skipped: float = 0.0,
    memory_peak: int = 0,
    rss_peak: int,
    calls: list[ModelCall],
) -> Observation:
    """Classify a finished (or abandoned) case and record it; latency is in scenario time."""
    outcome, error, violation = classify(scenario, result)
    latency = wall + skipped
    if outcome is Outcome.TIMEOUT:
        latency = max(latency, scenario.case_timeout)
    return Observation(
        scenario=scenario.name,
        target=target.label,
        seed=case.seed,
        case=case.index,
        input=value,
        outcome=outcome,
        latency=latency,
        wall=wall,
        output=result.output if outcome in (Outcome.KEPT, Outcome.GARBAGE) else None,
        error=error,
        violation=violation,
        memory_peak=memory_peak,
        rss_peak=rss_peak,
        calls=calls,
        replay=replay_command(scenario, target, case.seed, case.index, case.time_scale),
        at=at,
    )


def run_wire_case(
    scenario: Scenario,
    target: HttpTarget,
    session: WireSession,
    case: CaseState,
    value: Any,
    started_run: float,
) -> Observation:
    """Run one case against a service target: POST the input, then read RSS and model calls."""
    result = _CaseResult()
    at = time.perf_counter() - started_run
    session.begin(case)
    started = time.perf_counter()
    try:
        result.output = session.call(value)
    except BaseException as exc:  # the service's failures are data here, not errors of ours
        result.error = exc
    finally:
        result.done.set()
    wall = time.perf_counter() - started
    end = session.end()
    return _observation(
        scenario, target, case, value, result, wall=wall, at=at, rss_peak=end.rss_peak, calls=end.calls
    )


def run_scenario(
    scenario: Scenario,
    target: Target,
    settings: RunSettings = RunSettings(),
    *,
    journal: Journal | None = None,
    on_case: Callable[[Observation], None] | None = None,
) -> ScenarioResult:
    """Run every case (or the one asked for) of ``scenario`` against ``target`` and judge the SLOs."""
    run = _Run.of(scenario, settings)
    if not isinstance(target, PyTarget):
        return _run_wire(scenario, target, run, journal, on_case)
    observations: list[Observation] = []
    stuck: list[threading.Thread] = []
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        responder = scenario.build_responder(run.seed)
        stack.enter_context(Interceptor(responder, time_scale=run.time_scale))
        rss = stack.enter_context(RssSampler())
        stack.enter_context(tracing())  # once per run: starting it per case costs more than the case
        for index in run.indices:
            observation, thread = run_case(
                scenario, target, run.case(scenario, index), run.inputs[index], rss, started
            )
            if thread is not None:
                stuck.append(thread)
            _emit(observation, observations, journal, on_case)
    alive = [t for t in stuck if t.is_alive()]
    if alive:
        _quarantine(responder, run.time_scale, alive)
        warnings.warn(
            f"{scenario.name}: {len(alive)} pipeline call(s) still running past their deadline; "
            "their model calls will fail with CaseDeadlineExceeded",
            RuntimeWarning,
            stacklevel=2,
        )
    return judge(scenario, target, observations, run.replay(scenario, target))


@dataclass(frozen=True)
class _Run:
    """The command-line settings resolved against one scenario."""

    seed: int
    time_scale: float
    cases: int
    only_case: int | None
    inputs: Sequence[Any]

    @classmethod
    def of(cls, scenario: Scenario, settings: RunSettings) -> _Run:
        """Each setting the user left out takes the scenario's value."""
        seed = scenario.seed if settings.seed is None else settings.seed
        cases = scenario.cases if settings.cases is None else settings.cases
        time_scale = scenario.time_scale if settings.time_scale is None else settings.time_scale
        count = settings.only_case + 1 if settings.only_case is not None else cases
        return cls(seed, time_scale, cases, settings.only_case, scenario.make_inputs(seed, count))

    @property
    def indices(self) -> Sequence[int]:
        """The case indices to run: all of them, or the one asked for."""
        return [self.only_case] if self.only_case is not None else range(self.cases)

    def case(self, scenario: Scenario, index: int) -> CaseState:
        """A fresh case state for case ``index``."""
        return CaseState(
            seed=self.seed, index=index, deadline=scenario.case_timeout, time_scale=self.time_scale
        )

    def replay(self, scenario: Scenario, target: Target) -> str:
        """The command that reruns this run of the scenario against ``target``."""
        return replay_command(scenario, target, self.seed, self.only_case, self.time_scale, self.cases)


def _emit(
    observation: Observation,
    observations: list[Observation],
    journal: Journal | None,
    on_case: Callable[[Observation], None] | None,
) -> None:
    """Keep an observation, journal it as it happens, and tell the listener."""
    observations.append(observation)
    if journal is not None:
        journal.append(observation)
    if on_case is not None:
        on_case(observation)


def _run_wire(
    scenario: Scenario,
    target: Target,
    run: _Run,
    journal: Journal | None,
    on_case: Callable[[Observation], None] | None,
) -> ScenarioResult:
    """The case loop for service targets: one fake provider (and one launched command) per scenario."""
    from harness.targets_wire import HttpTarget

    if not isinstance(target, HttpTarget):
        raise TypeError(f"cannot run target {target.label!r}: expected a PyTarget or an HttpTarget")
    observations: list[Observation] = []
    started = time.perf_counter()
    with target.open(scenario, run.seed, run.time_scale) as session:
        for index in run.indices:
            case = run.case(scenario, index)
            _emit(
                run_wire_case(scenario, target, session, case, run.inputs[index], started),
                observations,
                journal,
                on_case,
            )
    return judge(_with_crash_slo(scenario), target, observations, run.replay(scenario, target))


def _with_crash_slo(scenario: Scenario) -> Scenario:
    """The scenario judged with ``crashes == 0`` added unless it says something about crashes itself.

    A service that dies (OOM kill, segfault) is never acceptable by default; in-process
    pipelines cannot crash the harness's process this way, so only service targets get it.
    """
    if any(slo.metric == "crashes" for slo in scenario.slos):
        return scenario
    return dataclasses.replace(scenario, slos=[*scenario.slos, parse_slo(IMPLICIT_CRASH_SLO)])


def _quarantine(responder: Responder, time_scale: float, threads: list[threading.Thread]) -> None:
    """Keep failing the model calls of abandoned cases until their threads end.

    An abandoned pipeline call may still reach for the model after the run: it must never
    get through to the real provider.
    """
    guard = Interceptor(responder, time_scale=time_scale, only_abandoned=True).start()

    def release() -> None:
        for thread in threads:
            thread.join()
        guard.stop()

    threading.Thread(target=release, name="harness-quarantine", daemon=True).start()


def judge(
    scenario: Scenario, target: Target, observations: list[Observation], replay: str = ""
) -> ScenarioResult:
    """Evaluate the SLOs and decide passed / failed / xfailed / xpassed."""
    verdicts = evaluate_all(scenario.slos, observations)
    expected = scenario.xfail.get(target.label)
    return ScenarioResult(
        scenario=scenario.name,
        description=scenario.description,
        target=target.label,
        verdicts=verdicts,
        xfail_reason=expected.reason if expected else None,
        expected_broken=list(expected.slos) if expected else [],
        status=status_of(verdicts, expected.slos if expected else None),
        observations=observations,
        replay=replay,
    )


def assert_slos(result: ScenarioResult) -> None:
    """Raise :class:`SLOFailure` (an AssertionError) unless the result passed or xfailed as declared.

    The message names each broken SLO, the first offending case's fault chain and seed,
    and ends with the command that replays that case.
    """
    if result.status in ("passed", "xfailed"):
        return
    broken = [v for v in result.verdicts if not v.passed]
    offenders = {o.case_id: o for o in result.observations}
    first = next((offenders[c] for v in broken for c in v.offending if c in offenders), None)
    if first is None:
        raise SLOFailure(broken or list(result.verdicts), result.replay or None)
    detail = (
        f"case {first.case_id} (seed {first.seed}, case {first.case}): {first.outcome.value}; "
        f"faults: {', '.join(first.faults) or 'clean'}; {first.error or first.violation or ''}"
    )
    raise SLOFailure(broken, first.replay, detail=detail)
