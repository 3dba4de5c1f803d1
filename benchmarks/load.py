"""How much load one Locust process drives through ``PipelineUser``, and what a second worker adds.

Run from the repository root (about two and a half minutes on a 2-core machine)::

    python benchmarks/load.py [--rounds 5] [--duration 4] [--users 32]

(a) requests/s that one Locust process (local runner) drives through ``PipelineUser`` —
    inputs from ``scenarios/clean-baseline.yaml``, every reply checked against its
    contract (strict ``UserRecord``) and tallied — against a bare ``FastHttpUser`` posting
    the same body to the same target with no check. Target: PipelineUser >= 0.8 x bare.
(b) requests/s of ``PipelineUser`` with Locust's master and 1 worker against master and 2
    workers (:mod:`harness.load.distributed`): the scaling factor.

The target is trivial on purpose — a minimal asyncio HTTP/1.1 keep-alive server in a
subprocess answering every POST with one fixed, contract-keeping user record — so the
load generator, not the target, is what is measured. Placement on 2 CPUs (``taskset``):
the target and the Locust master on the second usable CPU; the single Locust process, and
the only worker of (b)'s 1-worker arm, on the first; (b)'s 2-worker arm puts its second
worker on the second CPU, next to the target, so the factor is a lower bound of what a
core of its own would add (the target's CPU use per arm is printed to judge it).

Each arm is a fresh Locust process (or master + workers): users spawned at once; each Locust
process counts the requests it completes (``events.request``) in a window that opens one
second after spawning completed and lasts ``--duration`` seconds: requests/s = count / window
(summed over the workers in (b); the master's aggregated statistics arrive in 3 s chunks,
too coarse for this). The target's CPU use is measured over the same span. Arms
are interleaved, order alternating round by round; medians and ratio of medians are printed
with the range of per-round ratios. Everything listens on 127.0.0.1.

Benchmarks print figures; they are not pass/fail tests. Exit 1 only if something could not be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "clean-baseline.yaml"
HOST = "127.0.0.1"
PATH = "/extract"
TARGET_RATIO = 0.8
"""PipelineUser requests/s must be at least this share of the bare FastHttpUser's."""
RECORD = (
    b'{"user_id":1815,"name":"Ada Lovelace","email":"ada.lovelace@example.com",'
    b'"is_active":true,"plan":"pro","signup_date":"2024-03-01"}'
)
"""The target's one reply: a user record that keeps the scenario's contract."""
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(RECORD)).encode()
    + b"\r\n\r\n"
    + RECORD
)


# --- the trivial target ---------------------------------------------------------------------------


class FixedReply(asyncio.Protocol):
    """HTTP/1.1 keep-alive: for each complete request (headers + content-length body) send RESPONSE."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport; no Nagle delay on replies."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in the buffer."""
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(RESPONSE)


async def serve_target(port: int) -> None:
    """Serve FixedReply on 127.0.0.1:port forever."""
    server = await asyncio.get_running_loop().create_server(FixedReply, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


# --- the Locust side (child processes: Locust monkey-patches whatever imports it) ------------------


def locust_user(arm: str, url: str) -> type:
    """The user class of an arm: ``pipeline`` (PipelineUser) or ``bare`` (FastHttpUser, same body)."""
    from locust import FastHttpUser, task

    from harness.load.user import PipelineUser, build_setup
    from harness.scenario import load_scenario

    if arm == "pipeline":
        return type("Pipeline", (PipelineUser,), {"scenario": str(SCENARIO), "target": url})
    body = build_setup(load_scenario(SCENARIO), url).bodies[0]
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    class Bare(FastHttpUser):
        host = url.rsplit(PATH, 1)[0]

        @task
        def send(self) -> None:
            self.client.request("POST", PATH, data=body, headers=headers)  # type: ignore[arg-type]

    return Bare


WARMUP = 1.0
"""Seconds of load after spawning completes before the measured window opens."""
NO_WINDOW: dict[str, Any] = {"requests": 0, "failures": 0, "rps": 0.0}
"""The figures of a process whose window never closed (read only)."""


class Window:
    """Requests this Locust process completed in a window opening ``WARMUP`` s after spawning completed."""

    def __init__(self, environment: Any, duration: float) -> None:
        import gevent

        self.duration = duration
        self.count = 0
        self.failures = 0
        self.result: dict[str, Any] | None = None
        self.done = gevent.event.Event()
        environment.events.request.add_listener(self._on_request)
        environment.events.spawning_complete.add_listener(lambda **_: gevent.spawn(self._measure))

    def _on_request(self, exception: BaseException | None = None, **_: Any) -> None:
        self.count += 1
        self.failures += exception is not None

    def _measure(self) -> None:
        import gevent

        if self.result is not None:
            return
        gevent.sleep(WARMUP)
        start_count, start_failures, started = self.count, self.failures, time.monotonic()
        gevent.sleep(self.duration)
        span = time.monotonic() - started
        requests = self.count - start_count
        self.result = {
            "requests": requests,
            "failures": self.failures - start_failures,
            "rps": requests / span,
        }
        self.done.set()


def target_cpu(target_pid: int, seconds: float) -> float:
    """The target's CPU use (user + system time / wall time) over the next ``seconds``."""
    import gevent

    target = psutil.Process(target_pid)
    before, started = sum(target.cpu_times()[:2]), time.monotonic()
    gevent.sleep(seconds)
    return (sum(target.cpu_times()[:2]) - before) / (time.monotonic() - started)


def child_local(args: argparse.Namespace) -> dict[str, Any]:
    """(a): one Locust process, local runner; its own count over the window."""
    import gevent
    from locust.env import Environment

    environment = Environment(user_classes=[locust_user(args.arm, args.url)])
    runner = environment.create_local_runner()
    window = Window(environment, args.duration)
    runner.start(args.users, spawn_rate=args.users)
    cpu = gevent.spawn(target_cpu, args.target_pid, WARMUP + args.duration)
    window.done.wait(120)
    runner.quit()
    return {**(window.result or NO_WINDOW), "target_cpu": cpu.get()}


def child_master(args: argparse.Namespace) -> dict[str, Any]:
    """(b): a master with ``--workers`` local workers, each pinned to its CPU; the sum of their windows.

    Each worker counts its own requests over the same kind of window (the master's
    aggregated statistics arrive in 3 s chunks, too coarse for a few seconds of load) and
    prints its figures when the master lets it go.
    """
    import gevent
    from locust.env import Environment

    from harness.load.distributed import LocalWorkers, wait_for_workers
    from harness.targets_wire import free_port

    port = free_port()
    environment = Environment(user_classes=[locust_user("pipeline", args.url)])
    runner = environment.create_master_runner(HOST, port)
    cpus = [int(cpu) for cpu in args.worker_cpus.split(",")]
    spawned = gevent.event.Event()
    environment.events.spawning_complete.add_listener(lambda **_: spawned.set())

    def worker(index: int) -> list[str]:
        return [
            *pin(cpus[index % len(cpus)]),
            sys.executable,
            __file__,
            "--child",
            "worker",
            "--url",
            args.url,
            "--master-port",
            str(port),
            "--duration",
            str(args.duration),
        ]

    with LocalWorkers(worker, args.workers, cwd=str(ROOT)) as workers:
        wait_for_workers(runner, args.workers, workers=workers)
        runner.start(args.users, spawn_rate=args.users)
        spawned.wait(60)
        cpu = target_cpu(args.target_pid, WARMUP + args.duration)
        gevent.sleep(1.0)  # the workers' windows opened when they heard spawning completed
        runner.quit()
        workers.wait(30)
        found = [_last_json(service.output_tail()) for service in workers.processes]
    return {
        "requests": sum(f["requests"] for f in found),
        "failures": sum(f["failures"] for f in found),
        "rps": sum(f["rps"] for f in found),
        "target_cpu": cpu,
    }


def _last_json(lines: list[str]) -> dict[str, Any]:
    for line in reversed(lines):
        if line.startswith("{"):
            found: dict[str, Any] = json.loads(line)
            return found
    return NO_WINDOW


def child_worker(args: argparse.Namespace) -> int:
    """A worker of (b): PipelineUser connected to the master; prints its window's figures at the end."""
    from locust.env import Environment

    from harness.load.distributed import run_worker

    environment = Environment(user_classes=[locust_user("pipeline", args.url)])
    window = Window(environment, args.duration)
    code = run_worker(environment, HOST, args.master_port)
    print(json.dumps(window.result or NO_WINDOW), flush=True)
    return code


# --- the driver -----------------------------------------------------------------------------------


def usable_cpus() -> list[int]:
    """CPUs this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


def pin(cpu: int | None) -> list[str]:
    """``taskset -c CPU`` when available and a CPU is given, else nothing."""
    if cpu is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


@contextlib.contextmanager
def target_process(cpu: int | None) -> Iterator[tuple[str, psutil.Process]]:
    """The trivial target in a subprocess on ``cpu``; its URL and process."""
    from harness.targets_wire import free_port

    port = free_port()
    argv = [*pin(cpu), sys.executable, __file__, "--child", "target", "--port", str(port)]
    process = subprocess.Popen(argv, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the trivial target did not start")
            time.sleep(0.05)
        yield f"http://{HOST}:{port}{PATH}", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(10)


def run_arm(argv: list[str]) -> dict[str, Any]:
    """Run one arm's child process; its JSON result."""
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"arm failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summarise(name: str, a: list[float], b: list[float], label_a: str, label_b: str) -> list[str]:
    """Medians, ratio of medians and range of per-round ratios."""
    ratios = [x / y for x, y in zip(a, b, strict=True) if y]
    lines = [
        f"{name}",
        f"  {label_a:<34} median {statistics.median(a):8.0f} req/s   rounds: {_figures(a)}",
        f"  {label_b:<34} median {statistics.median(b):8.0f} req/s   rounds: {_figures(b)}",
    ]
    if not ratios or not statistics.median(b):
        return [*lines, "  ratio: not measurable (an arm drove no requests)"]
    return [
        *lines,
        f"  ratio of medians {statistics.median(a) / statistics.median(b):.3f}"
        f"   per-round ratios {min(ratios):.3f} .. {max(ratios):.3f}",
    ]


def _figures(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


def main() -> int:
    """Parse options; run a child role, or drive the whole benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per arm")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--skip", default="", help="'a' and/or 'b': parts to skip")
    parser.add_argument("--child", choices=("target", "local", "master", "worker"), help=argparse.SUPPRESS)
    parser.add_argument("--arm", default="pipeline", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--master-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker-cpus", default="", help=argparse.SUPPRESS)
    parser.add_argument("--target-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if str(ROOT) not in sys.path:  # run as a script from anywhere: import this checkout's harness
        sys.path.insert(0, str(ROOT))
    if args.child == "target":
        asyncio.run(serve_target(args.port))
        return 0
    if args.child == "local":
        print(json.dumps(child_local(args)))
        return 0
    if args.child == "master":
        print(json.dumps(child_master(args)))
        return 0
    if args.child == "worker":
        return child_worker(args)
    return drive(args)


def drive(args: argparse.Namespace) -> int:
    """Start the target, run the interleaved arms, print the figures."""
    import importlib.metadata

    cpus = usable_cpus()
    first, second = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    started = time.monotonic()
    print(f"benchmarks/load.py  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs (usable {cpus}), "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; Python {platform.python_version()}, "
        f"locust {importlib.metadata.version('locust')}, gevent {importlib.metadata.version('gevent')}"
    )
    if first is None:
        print("placement: fewer than 2 usable CPUs: nothing pinned")
    else:
        print(
            f"placement: target and Locust master on CPU {second} (taskset); the Locust process of (a) and "
            f"the worker of (b) 1-worker on CPU {first}; (b) 2-worker: workers on CPUs {first} and {second}"
        )
    print(f"{args.users} users, no wait time, {args.duration:g}s of load per arm, {args.rounds} rounds")
    base = [sys.executable, __file__, "--users", str(args.users), "--duration", str(args.duration)]
    base += ["--target-pid", "{pid}"]
    results: dict[str, list[dict[str, Any]]] = {"pipeline": [], "bare": [], "w1": [], "w2": []}
    with target_process(second) as (url, target):
        base = [str(target.pid) if arg == "{pid}" else arg for arg in base]
        for round_index in range(args.rounds):
            arms: list[tuple[str, list[str]]] = []
            if "a" not in args.skip:
                local = [*pin(first), *base, "--url", url, "--child", "local", "--arm"]
                arms += [("pipeline", [*local, "pipeline"]), ("bare", [*local, "bare"])]
            if "b" not in args.skip:
                master = [*pin(second), *base, "--url", url, "--child", "master"]
                one = [*master, "--workers", "1", "--worker-cpus", str(first if first is not None else 0)]
                two = [*master, "--workers", "2", "--worker-cpus", f"{first},{second}"]
                arms += [("w1", one), ("w2", two)]
            if round_index % 2:
                arms.reverse()
            for name, argv in arms:
                result = run_arm(argv)
                results[name].append(result)
                print(
                    f"  round {round_index + 1} {name:<8} {result['rps']:8.0f} req/s  "
                    f"{result['requests']:7d} requests  {result['failures']} failures  "
                    f"target CPU {result['target_cpu']:.0%}",
                    flush=True,
                )
    print()
    rps = {name: [r["rps"] for r in rows] for name, rows in results.items()}
    if rps["pipeline"]:
        lines = summarise(
            "(a) one Locust process, requests/s",
            rps["pipeline"],
            rps["bare"],
            "PipelineUser (contract checked)",
            "bare FastHttpUser",
        )
        bare = statistics.median(rps["bare"])
        ratio = statistics.median(rps["pipeline"]) / bare if bare else 0.0
        verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
        print("\n".join(lines) + f"   target >= {TARGET_RATIO}: {verdict}")
    if rps["w1"]:
        lines = summarise(
            "(b) PipelineUser, master + workers, requests/s",
            rps["w2"],
            rps["w1"],
            "2 workers",
            "1 worker",
        )
        print("\n".join(lines) + "   (= the scaling factor)")
    failures = sum(r["failures"] for rows in results.values() for r in rows)
    print(f"\nfailures over all arms: {failures}; wall {time.monotonic() - started:.0f}s")
    return 0 if all(r["requests"] > 0 for rows in results.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
