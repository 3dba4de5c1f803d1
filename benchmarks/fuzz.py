"""Fuzzing speed: examples/s of ``harness fuzz`` against a bare Hypothesis test of the same pipeline.

Run from the repository root (about two minutes on a 2-core machine)::

    python benchmarks/fuzz.py [--rounds 5] [--examples 150]

Both arms call ``harness.demo.naive.extract`` — the openai-SDK demo pipeline, one SDK
client per call — on openai 2.x (``httpx``, from ``.cache/openai2``), so a plain respx
route can answer the bare arm:

- **harness fuzz**: the search of :func:`harness.fuzz.fuzz` (Hypothesis draws a fault chain
  and a reply seed, the Responder serves it through the in-process interceptor, the runner
  runs the pipeline in a worker thread and classifies the outcome against the contract);
  examples/s of the search, and, for information, pipeline runs/s including the
  reduction and shrinking of the classes found;
- **bare**: a ``@given(st.integers())`` test calling the same pipeline on a ``respx`` route
  that returns fixed bytes (the clean reply the harness serves for case 0), same
  Hypothesis settings (no database, generate phase only, seeded).

The arms are interleaved in one worker process, their order alternating round by round
(round ``r`` uses seed ``r`` in both); the table shows median examples/s, the ratio of
medians (target: harness >= 0.5 x bare) and the range of per-round ratios. Loopback and
in-process only: nothing touches the network. Benchmarks print figures; they are not
pass/fail tests.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAI2_DIR = ROOT / ".cache" / "openai2"
OPENAI2_REQUIREMENTS = ("openai>=2,<3", "distro>=1.7,<2")
"""What ``.ci/run`` installs there: openai 2.x cannot sit beside openai 3.x."""
URL = "https://api.openai.com/v1/chat/completions"
TARGET_RATIO = 0.5
"""Harness examples/s must be at least this share of the bare test's."""
WORKER_TIMEOUT = 1200.0
CONTRACT = "harness.demo.contract:UserRecord"
NAIVE = "py:harness.demo.naive:extract"


# --- worker side --------------------------------------------------------------------------------------


def fixed_reply() -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body the harness serves for a clean case 0: what the bare route returns."""
    from harness.case import CaseState
    from harness.fuzz_case import case_from_options
    from harness.responder import Responder

    scenario = case_from_options(contract=CONTRACT).scenario()
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"},
    }
    reply = Responder(scenario.source).respond(
        "/v1/chat/completions", json.dumps(request).encode(), {}, CaseState(seed=0, index=0, time_scale=0.0)
    )
    framing = {"content-length", "transfer-encoding"}
    headers = [(k, v) for k, v in reply.headers if k.lower() not in framing]
    return reply.status, headers, bytes(reply.body)


def bare_examples_per_second(seed: int, examples: int, hits: list[int]) -> float:
    """A bare Hypothesis test of the naive pipeline on a respx route with a fixed reply."""
    import httpx
    import respx
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from harness.demo.naive import extract
    from harness.fuzz_case import DEFAULT_INPUT

    status, headers, body = fixed_reply()

    def answer(request: httpx.Request) -> httpx.Response:
        hits[0] += 1
        return httpx.Response(status, headers=headers, content=body)

    @hypothesis_seed(seed)
    @settings(
        database=None,
        max_examples=examples,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(st.integers(min_value=0, max_value=(1 << 16) - 1))
    def bare(number: int) -> None:
        extract(DEFAULT_INPUT)

    gc.collect()
    with respx.mock(assert_all_called=False) as router:
        router.post(URL).mock(side_effect=answer)
        started = time.perf_counter()
        bare()
        elapsed = time.perf_counter() - started
    return examples / elapsed


def harness_run(seed: int, examples: int) -> dict[str, Any]:
    """One ``harness fuzz`` search (and its shrinking) of the naive pipeline; its figures."""
    from harness.fuzz import FuzzSettings, fuzz
    from harness.fuzz_case import case_from_options
    from harness.target import PyTarget, parse_target

    target = parse_target(NAIVE)
    assert isinstance(target, PyTarget)
    gc.collect()
    result = fuzz(
        case_from_options(contract=CONTRACT), target, FuzzSettings(seed=seed, max_examples=examples)
    )
    return {
        "examples_per_second": result.examples / result.search_seconds,
        "runs_per_second": result.runs / (result.search_seconds + result.shrink_seconds),
        "classes": len(result.classes),
        "failing": result.failing_examples,
    }


def worker(rounds: int, examples: int) -> None:
    """Warm both arms up, then ``rounds`` interleaved rounds; print one JSON line."""
    import openai

    hits = [0]
    bare_examples_per_second(1000, 10, hits)
    harness_run(1000, 10)
    if hits[0] != 10:
        raise RuntimeError(f"the bare route answered {hits[0]} of 10 calls")
    runs: dict[str, list[Any]] = {"harness": [], "bare": []}
    for number in range(rounds):
        for arm in ("harness", "bare") if number % 2 == 0 else ("bare", "harness"):
            if arm == "harness":
                runs["harness"].append(harness_run(number, examples))
            else:
                before = hits[0]
                runs["bare"].append(bare_examples_per_second(number, examples, hits))
                if hits[0] - before != examples:
                    raise RuntimeError("the bare arm did not call the pipeline once per example")
    print(json.dumps({"openai": openai.__version__, **runs}))


# --- driver side ----------------------------------------------------------------------------------------


def ensure_openai2() -> str | None:
    """Install openai 2.x into ``.cache/openai2`` if missing (as ``.ci/run`` does); an error or None."""
    if any(OPENAI2_DIR.glob("openai-2.*.dist-info")) and any(OPENAI2_DIR.glob("distro-*.dist-info")):
        return None
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(OPENAI2_DIR)]
    done = subprocess.run([*command, *OPENAI2_REQUIREMENTS], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return "could not install openai 2.x: " + (done.stderr.strip().splitlines() or ["pip failed"])[-1]
    return None


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """The measurements of one worker process (openai 2.x first on its path)."""
    path = os.pathsep.join([str(OPENAI2_DIR), str(ROOT)])
    # the bare arm's client needs a key; the harness arm's interceptor would set this one itself
    env = {**os.environ, "PYTHONPATH": path, "OPENAI_API_KEY": "sk-harness-fake-key"}
    argv = [
        sys.executable,
        __file__,
        "--worker",
        "--rounds",
        str(args.rounds),
        "--examples",
        str(args.examples),
    ]
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed ({done.returncode}):\n{done.stderr.strip()[-2000:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def machine_line() -> str:
    """CPUs, load average and Python: the context the figures need."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}, Python {platform.python_version()}"


def print_report(args: argparse.Namespace, data: dict[str, Any], started: float) -> None:
    """The table: median examples/s per arm, ratio of medians, per-round ratio range, verdict."""
    harness = [r["examples_per_second"] for r in data["harness"]]
    bare = list(data["bare"])
    runs = [r["runs_per_second"] for r in data["harness"]]
    ratio = statistics.median(harness) / statistics.median(bare)
    per_round = [h / b for h, b in zip(harness, bare, strict=True)]
    hypothesis = importlib.metadata.version("hypothesis")
    print(f"harness fuzz vs a bare Hypothesis test — naive demo pipeline, openai {data['openai']} on httpx")
    print(f"{args.rounds} rounds x {args.examples} examples per arm, interleaved; hypothesis {hypothesis}")
    print(f"machine: {machine_line()}")
    print()
    print(f"{'arm':<34}{'median ex/s':>12}{'per round':>42}")
    print(f"{'harness fuzz (search)':<34}{statistics.median(harness):>12.1f}   {_figures(harness)}")
    print(f"{'bare @given + respx fixed reply':<34}{statistics.median(bare):>12.1f}   {_figures(bare)}")
    print(f"{'harness fuzz (runs/s incl. shrink)':<34}{statistics.median(runs):>12.1f}   {_figures(runs)}")
    classes = [r["classes"] for r in data["harness"]]
    failing = [r["failing"] for r in data["harness"]]
    print(f"harness classes found per round: {classes}; failing examples per round: {failing}")
    print()
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(
        f"ratio harness/bare (medians): {ratio:.2f}  (per round {min(per_round):.2f}-{max(per_round):.2f}); "
        f"target >= {TARGET_RATIO}: {verdict}"
    )
    print(f"({time.perf_counter() - started:.0f}s)")


def _figures(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def main() -> int:
    """Parse arguments; as the driver, run the worker and print; as the worker, measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.rounds, args.examples)
        return 0
    started = time.perf_counter()
    problem = ensure_openai2()
    if problem:
        print(f"cannot measure: {problem}")
        return 1
    print_report(args, run_worker(args), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
