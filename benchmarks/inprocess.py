"""In-process speed: the demo pipeline under ``harness.intercept`` against a bare mock, and the full demo run.

Run from the repository root (about two minutes on a 2-core machine)::

    python benchmarks/inprocess.py [--rounds 7] [--cases 200] [--demo-runs 1] [--skip-demo]

Each row times one pipeline twice on the same SDK client: answered by the harness (a
clean scenario, ``time_scale`` 0, a fresh case per pipeline call as the runner makes) and
answered by a bare mock returning the bytes the harness serves for case 0, so parsing
costs match and the difference is the harness's own work (source, dialect, delivery, case
bookkeeping). The arms are interleaved, their order alternating round by round; the table
shows median cases/s and the ratio of medians (target: harness >= 0.5 x bare). Two pairs,
each in its own process:

1. openai 2.x on ``httpx`` (from ``.cache/openai2``), where the bare mock is a respx route;
2. openai 3.x on ``httpx2``, which respx cannot see, so the bare mock is ``httpx2.MockTransport``.

Then ``harness run --no-progress`` (every shipped scenario against both demo pipelines) is
timed as a subprocess against the 60 s target, its report folder deleted afterwards.
Benchmarks print figures; they are not pass/fail tests.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
CLEAN = SCENARIOS / "clean-baseline.yaml"
RENAMED = SCENARIOS / "renamed-key-outage.yaml"
OPENAI2_DIR = ROOT / ".cache" / "openai2"
OPENAI2_REQUIREMENTS = ("openai>=2,<3", "distro>=1.7,<2")
"""What ``.ci/run`` installs there: openai 2.x cannot sit beside openai 3.x."""

URL = "https://api.openai.com/v1/chat/completions"
API_KEY = "sk-benchmark"
TARGET_RATIO = 0.5
"""Harness cases/s must be at least this share of the bare mock's."""
TARGET_DEMO_SECONDS = 60.0
"""The full demo run must finish within this many seconds (on a 2-core machine)."""
WORKER_TIMEOUT = 600.0
WARMUP_CASES = 50

Pipeline = Callable[[Any, str], Any]
"""A pipeline under test, taking the SDK client it must use and one input text."""


# --- the pipelines ----------------------------------------------------------------------------


def naive_extract(client: Any, text: str) -> dict[str, Any]:
    """``harness.demo.naive.extract`` with the client passed in (the demo builds one per call)."""
    from harness.demo.contract import FIELDS, SYSTEM_PROMPT

    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": text},
        ],
        response_format={"type": "json_object"},
    )
    data = json.loads(resp.choices[0].message.content)
    return {key: data.get(key) for key in FIELDS}


def hardened_extract(client: Any, text: str) -> dict[str, Any]:
    """The bundled ``harness.demo.hardened.extract`` (streaming), its process-wide client swapped."""
    from harness.demo import hardened

    hardened._client = client
    return hardened.extract(text)


# --- measuring (worker side) ------------------------------------------------------------------


@dataclass(slots=True)
class FixedReply:
    """The reply a bare mock serves on every call: status, headers and body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def content(self) -> str:
        """The message content of a non-streaming chat completion body."""
        return str(json.loads(self.body)["choices"][0]["message"]["content"])


@dataclass(slots=True)
class Row:
    """One comparison: a pipeline on one client, answered by the harness or by a bare mock."""

    pipeline: str
    source: str
    run: Pipeline
    client: Any
    inputs: list[str]
    harness: Callable[[], contextlib.AbstractContextManager[Any]]
    bare: Callable[[], contextlib.AbstractContextManager[Any]]
    new_case: Callable[[int], Any]
    """A fresh ``CaseState`` for case ``i`` of the harness arm."""
    targeted: bool = True
    """False for an informational row (faults served), which the target does not apply to."""
    bare_hits: list[int] = field(default_factory=lambda: [0])
    """Calls the bare mock answered (a check that the harness arm never reached it)."""


def served_reply(
    responder: Any, run: Pipeline, text: str, make_client: Callable[[Any], Any], module: Any
) -> FixedReply:
    """What the harness serves for case 0 when ``run`` makes its call: the bare mocks' reply."""
    from harness.case import CaseState

    framing = {"content-length", "transfer-encoding"}
    served: list[FixedReply] = []

    def probe(request: Any) -> Any:
        headers = {k.lower(): v for k, v in request.headers.items()}
        case = CaseState(seed=responder.seed, index=0, time_scale=0.0)
        reply = responder.respond(request.url.path, request.content, headers, case)
        kept = [(k, v) for k, v in reply.headers if k.lower() not in framing]
        served.append(FixedReply(reply.status, kept, reply.body))
        return module.Response(reply.status, headers=kept, content=reply.body)

    run(make_client(probe), text)
    return served[0]


def cases_per_second(row: Row, *, harness: bool, cases: int, first: int) -> float:
    """Run ``cases`` pipeline calls through one arm and return calls per second."""
    from harness.case import CURRENT_CASE

    gc.collect()
    with row.harness() if harness else row.bare():
        start = time.perf_counter()
        for index in range(first, first + cases):
            token = CURRENT_CASE.set(row.new_case(index)) if harness else None
            try:
                row.run(row.client, row.inputs[index % len(row.inputs)])
            finally:
                if token is not None:
                    CURRENT_CASE.reset(token)
        elapsed = time.perf_counter() - start
    return cases / elapsed


def check_arms(row: Row) -> None:
    """Fail loudly unless the harness answers the harness arm and the bare mock the bare arm."""
    from harness.case import CURRENT_CASE

    case = row.new_case(0)
    hits = row.bare_hits[0]
    with row.harness():
        token = CURRENT_CASE.set(case)
        try:
            row.run(row.client, row.inputs[0])
        finally:
            CURRENT_CASE.reset(token)
    if not case.calls or row.bare_hits[0] != hits:
        raise RuntimeError(f"{row.pipeline} / {row.source}: the harness did not answer the harness arm")
    with row.bare():
        row.run(row.client, row.inputs[0])
    if row.bare_hits[0] != hits + 1:
        raise RuntimeError(f"{row.pipeline} / {row.source}: the bare mock did not answer the bare arm")


def measure(row: Row, rounds: int, cases: int) -> dict[str, Any]:
    """Check and warm up both arms, then ``rounds`` interleaved rounds whose order alternates."""
    check_arms(row)
    cases_per_second(row, harness=False, cases=WARMUP_CASES, first=0)
    cases_per_second(row, harness=True, cases=WARMUP_CASES, first=0)
    rates: dict[bool, list[float]] = {True: [], False: []}
    for number in range(rounds):
        for harness in (True, False) if number % 2 == 0 else (False, True):
            first = WARMUP_CASES + number * cases
            rates[harness].append(cases_per_second(row, harness=harness, cases=cases, first=first))
    return {
        "pipeline": row.pipeline,
        "source": row.source,
        "targeted": row.targeted,
        "harness": rates[True],
        "bare": rates[False],
    }


def _case_maker(seed: int, deadline: float) -> Callable[[int], Any]:
    from harness.case import CaseState

    def new_case(index: int) -> Any:
        return CaseState(seed=seed, index=index, deadline=deadline, time_scale=0.0)

    return new_case


def httpx_rows() -> list[Row]:
    """openai 2.x on httpx: the harness (its respx router) against a bare respx route."""
    import httpx
    import openai
    import respx

    from harness.interception import intercept
    from harness.responder import Responder
    from harness.scenario import load_scenario
    from harness.sources import InlineSource

    # One default client for both arms: respx (bare or the harness's router) patches beneath it.
    client = openai.OpenAI(api_key=API_KEY)
    if not isinstance(client._client, httpx.Client):
        raise RuntimeError(f"openai {openai.__version__} does not send through httpx; put openai 2.x first")
    scenario = load_scenario(CLEAN)
    inputs = [str(v) for v in scenario.make_inputs(scenario.seed, 12)]

    def probe_client(handler: Callable[[Any], Any]) -> Any:
        # Typed against openai 3.x (httpx2) here; at run time this worker has openai 2.x (httpx).
        http_client: Any = httpx.Client(transport=httpx.MockTransport(handler))
        return openai.OpenAI(api_key=API_KEY, http_client=http_client)

    fixed = served_reply(
        scenario.build_responder(scenario.seed), naive_extract, inputs[0], probe_client, httpx
    )
    hits = [0]

    @contextlib.contextmanager
    def bare_respx() -> Iterator[None]:
        with respx.mock(assert_all_called=False) as router:
            route = router.post(URL).respond(fixed.status, headers=fixed.headers, content=fixed.body)
            try:
                yield
            finally:
                hits[0] += route.call_count

    new_case = _case_maker(scenario.seed, scenario.case_timeout)
    generated = intercept(scenario, time_scale=0.0)
    inline = intercept(Responder(InlineSource(fixed.content()), seed=scenario.seed), time_scale=0.0)
    common: dict[str, Any] = {
        "client": client,
        "inputs": inputs,
        "bare": bare_respx,
        "new_case": new_case,
        "bare_hits": hits,
    }
    return [
        Row("naive", f"{CLEAN.name} (generated)", naive_extract, harness=lambda: generated, **common),
        Row("naive", "InlineSource (fixed text)", naive_extract, harness=lambda: inline, **common),
    ]


def httpx2_rows() -> list[Row]:
    """openai 3.x on httpx2: the harness against a bare ``httpx2.MockTransport`` on the same client."""
    import httpx2
    import openai

    from harness.demo import hardened
    from harness.interception import intercept
    from harness.scenario import load_scenario

    clean = load_scenario(CLEAN)
    renamed = load_scenario(RENAMED)
    inputs = [str(v) for v in clean.make_inputs(clean.seed, 12)]

    def client_on(handler: Callable[[Any], Any], **options: Any) -> Any:
        transport = httpx2.MockTransport(handler)
        return openai.OpenAI(api_key=API_KEY, http_client=httpx2.Client(transport=transport), **options)

    def row(pipeline: str, run: Pipeline, scenario: Any, *, targeted: bool = True, **options: Any) -> Row:
        responder = clean.build_responder(clean.seed)
        fixed = served_reply(responder, run, inputs[0], lambda h: client_on(h, **options), httpx2)
        hits = [0]

        def answer(request: httpx2.Request) -> httpx2.Response:
            hits[0] += 1
            return httpx2.Response(fixed.status, headers=fixed.headers, content=fixed.body)

        # The same client in both arms: under intercept the harness answers before its transport.
        interceptor = intercept(scenario, time_scale=0.0)
        return Row(
            pipeline,
            f"{scenario.path.name} ({'generated' if targeted else 'faults'})",
            run,
            client_on(answer, **options),
            inputs,
            harness=lambda: interceptor,
            bare=contextlib.nullcontext,
            new_case=_case_maker(scenario.seed, scenario.case_timeout),
            targeted=targeted,
            bare_hits=hits,
        )

    streaming: dict[str, Any] = {"timeout": hardened.TIMEOUT, "max_retries": hardened.MAX_RETRIES}
    return [
        row("naive", naive_extract, clean),
        row("hardened (stream)", hardened_extract, clean, **streaming),
        row("naive", naive_extract, renamed, targeted=False),
    ]


def worker(family: str, rounds: int, cases: int) -> None:
    """Measure one pair's rows in this process and print them as JSON."""
    import openai

    rows = httpx_rows() if family == "httpx" else httpx2_rows()
    versions = {"openai": openai.__version__, family: importlib.metadata.version(family)}
    if family == "httpx":
        versions["respx"] = importlib.metadata.version("respx")
    results = [measure(row, rounds, cases) for row in rows]
    print(json.dumps({"family": family, "versions": versions, "rows": results}))


# --- orchestration and the table (parent side) ------------------------------------------------


@dataclass(slots=True)
class Pair:
    """One pair's outcome: its rows (from the worker), or why it has none."""

    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def ensure_openai2() -> str | None:
    """Install openai 2.x into ``.cache/openai2`` if missing (as ``.ci/run`` does); an error or None."""
    if any(OPENAI2_DIR.glob("openai-2.*.dist-info")) and any(OPENAI2_DIR.glob("distro-*.dist-info")):
        return None
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(OPENAI2_DIR)]
    result = subprocess.run([*command, *OPENAI2_REQUIREMENTS], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return "could not install openai 2.x: " + (result.stderr.strip().splitlines() or ["pip failed"])[-1]
    return None


def run_worker(family: str, title: str, args: argparse.Namespace, extra_path: list[Path]) -> Pair:
    """Run one pair in its own process and collect its rows."""
    path = os.pathsep.join([*(str(p) for p in extra_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", family]
    command += ["--rounds", str(args.rounds), "--cases", str(args.cases)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        timeout=WORKER_TIMEOUT,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return Pair(title, error=f"worker failed (exit {result.returncode}): {last}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Pair(title, rows=data["rows"], versions=data["versions"])


@dataclass(slots=True)
class DemoRun:
    """One timed ``harness run``."""

    seconds: float
    exit_code: int


def time_demo_run() -> DemoRun:
    """Time ``harness run --no-progress`` over the shipped catalogue; the report folder is deleted."""
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as reports:
        command = [sys.executable, "-m", "harness", "run", "--no-progress", "--report-dir", reports]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, cwd=ROOT, check=False, timeout=WORKER_TIMEOUT)
        seconds = time.perf_counter() - start
    return DemoRun(seconds, result.returncode)


def machine_line() -> str:
    """CPU, load and Python: what the figures were taken on."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({usable} usable), "
        f"load avg {load}; Python {platform.python_version()}"
    )


HEADER = (
    f"  {'pipeline':<18} {'harness answers from':<34} {'harness/s':>9} {'bare/s':>8} "
    f"{'ratio':>6} {'per-round':>11}  {'target':<7} result"
)


def row_line(row: dict[str, Any]) -> str:
    """One table line: medians, ratio of medians, range of the per-round ratios, verdict."""
    harness, bare = statistics.median(row["harness"]), statistics.median(row["bare"])
    ratio = harness / bare
    rounds = [h / b for h, b in zip(row["harness"], row["bare"], strict=True)]
    spread = f"{min(rounds):.2f}-{max(rounds):.2f}"
    if row["targeted"]:
        target, verdict = f">={TARGET_RATIO:g}", "PASS" if ratio >= TARGET_RATIO else "MISS"
    else:
        target, verdict = "-", "info (fault cost)"
    return (
        f"  {row['pipeline']:<18} {row['source']:<34} {harness:>9.0f} {bare:>8.0f} "
        f"{ratio:>6.2f} {spread:>11}  {target:<7} {verdict}"
    )


def print_report(args: argparse.Namespace, pairs: list[Pair], demo: list[DemoRun], started: float) -> None:
    """The whole report: machine, method, both pairs, the demo run."""
    print("In-process benchmark: harness.intercept against a bare mock returning a fixed body")
    print(machine_line())
    sdks = [", ".join(f"{k} {v}" for k, v in p.versions.items()) for p in pairs if p.versions]
    print("SDKs: " + " | ".join(sdks))
    print(
        f"method: {args.rounds} rounds x {args.cases} cases per arm after a {WARMUP_CASES}-case warm-up, "
        "arms interleaved (order alternating);"
    )
    print("        medians; each pair in its own process; time_scale 0, a fresh case per call; no network")
    print()
    print(HEADER)
    for pair in pairs:
        print(pair.title)
        if pair.error:
            print(f"  SKIPPED: {pair.error}")
        for row in pair.rows:
            print(row_line(row))
    print()
    print("ratio = median harness cases/s / median bare cases/s; per-round = range of the paired ratios.")
    print("naive: benchmark copy of harness.demo.naive.extract taking a client (the demo builds one per")
    print("call); hardened: harness.demo.hardened.extract itself, its process-wide client swapped. Both arms")
    print("share that client; the bare body is what the harness serves for case 0 (same parsing cost).")
    print()
    scenarios = len(list(SCENARIOS.glob("*.yaml")))
    print(f"full demo run: harness run --no-progress ({scenarios} scenarios x 2 demo pipelines)")
    for number, run in enumerate(demo, start=1):
        verdict = "PASS" if run.seconds < TARGET_DEMO_SECONDS else "MISS"
        print(
            f"  run {number}: {run.seconds:6.1f} s wall, exit {run.exit_code}   "
            f"target < {TARGET_DEMO_SECONDS:g} s   {verdict}"
        )
    if not demo:
        print("  skipped (--skip-demo)")
    print()
    print(f"benchmark wall time: {time.perf_counter() - started:.0f} s")


def main() -> int:
    """Parse arguments; run a worker, or orchestrate both pairs and the demo run and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per row (default 7)")
    parser.add_argument(
        "--cases", type=int, default=200, help="pipeline calls per arm per round (default 200)"
    )
    parser.add_argument("--demo-runs", type=int, default=1, help="timed `harness run`s (default 1)")
    parser.add_argument("--skip-demo", action="store_true", help="do not time the full demo run")
    parser.add_argument("--worker", choices=("httpx", "httpx2"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.cases < 1:
        parser.error("--rounds and --cases must be at least 1")
    if args.worker:
        worker(args.worker, args.rounds, args.cases)
        return 0
    started = time.perf_counter()
    title1 = "pair 1: openai 2.x on httpx; bare = respx route"
    problem = ensure_openai2()
    pair1 = Pair(title1, error=problem) if problem else run_worker("httpx", title1, args, [OPENAI2_DIR])
    pair2 = run_worker("httpx2", "pair 2: openai 3.x on httpx2; bare = httpx2.MockTransport", args, [])
    demo = [] if args.skip_demo else [time_demo_run() for _ in range(args.demo_runs)]
    print_report(args, [pair1, pair2], demo, started)
    return 1 if any(p.error for p in (pair1, pair2)) else 0


if __name__ == "__main__":
    sys.exit(main())
