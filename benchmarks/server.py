"""Over-the-wire speed of ``harness serve``: throughput, latency accuracy and memory of a huge stream.

Run from the repository root (about three and a half minutes on a 2-core machine)::

    python benchmarks/server.py [--rounds 5] [--duration 4] [--burst 2000] [--huge-mb 1024]

Every server is a subprocess pinned to one CPU (``taskset -c 0``); the load generator —
``wrk`` (``taskset -c 1``) or this script, which pins itself to that CPU — runs on the
other. Everything listens on 127.0.0.1 and every subprocess is stopped on exit.

(a) requests/s of ``harness serve`` on a non-streaming chat completion, faults off
    (``clean-baseline.yaml``, time_scale 0) and with a content mutation (the same plus
    ``rename_keys`` at rate 1), against ``benchmarks/bare_app.py`` on the same uvicorn
    (h11 protocol, asyncio loop, same flags) sending the bytes the harness served; arms
    interleaved (order rotating round by round), medians, ratio (target >= 0.5).
(b) the same for a 20-event stream (``"stream": true``; the bare app writes the 20 events
    the harness served, one write each).
(c) 2,000 keep-alive connections opened and warmed (call 1 of a pinned case, clean), then
    call 2 — a fixed 1 s injected latency (time_scale 1) — written on all of them at once.
    Timer error: from the server taking each request in (``received`` in its case log) to
    the reply's first byte reaching the client (kernel timestamp, SO_TIMESTAMPNS), minus
    1 s (target: p99 under 20 ms). End-to-end error, for information: request written →
    first byte, minus the same burst's figure at time_scale 0, minus 1 s.
(d) RSS of the server (sampled at 10 Hz) while it streams a 1 GiB ``huge_payload`` reply
    to a client that reads and discards it (target: growth under 50 MB).

Benchmarks print figures; they are not pass/fail tests. Exit 1 only if something could not be measured.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "scenarios" / "clean-baseline.yaml"
HOST = "127.0.0.1"
PATH = "/v1/chat/completions"
WRK = shutil.which("wrk") or "/usr/bin/wrk"

TARGET_RATIO = 0.5
"""Harness requests/s must be at least this share of the bare app's."""
TARGET_LATENCY_ERROR = 0.020
"""The p99 error of the observed injected delay must stay under this many seconds."""
TARGET_RSS_GROWTH = 50 * 2**20
"""Server RSS may grow by at most this many bytes while it streams the huge reply."""
INJECTED = 1.0
"""Seconds of latency injected in (c)."""
LATENCY_SEED = 7
"""Seed the latency servers run under (pinned cases are ``<seed>-<case>``)."""
STREAM_EVENTS = 20
"""Events of the stream in (b): role chunk, 17 content deltas, finish chunk, ``[DONE]``."""
STREAM_CONTENT = json.dumps(
    {
        "user_id": 1815,
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.com",
        "is_active": True,
        "plan": "pro",
        "signup_date": "2024-03-01",
        "note": "signed up on the pro plan, account 1815, today",
    }
)
"""Inline reply text for (b): its length makes the harness split it into 17 deltas on average."""
RENAME = {"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}, "rate": 1.0}
LATENCY_STEP = {"fault": "latency", "params": {"distribution": "fixed", "seconds": INJECTED}}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
HUGE_DEADLINE = 240.0
"""Real seconds the huge reply may take before the measurement is abandoned."""
SAMPLE_EVERY = 0.1


def request_body(*, stream: bool) -> bytes:
    """The chat request every benchmark sends (compact JSON, like the SDKs)."""
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Extract the user record as JSON."},
            {"role": "user", "content": "Please sign up Ada Lovelace (ada@example.com) on the pro plan."},
        ],
        "response_format": {"type": "json_object"},
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


# --- machine and pinning ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which CPU the servers get and which the load generator gets (None: not pinned)."""

    server: int | None
    client: int | None

    def prefix(self, cpu: int | None) -> list[str]:
        """``taskset -c N`` for a command, or nothing when pinning is impossible."""
        return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []

    def describe(self) -> str:
        """One line for the report."""
        if self.server is None:
            return "not pinned (fewer than 2 usable CPUs): figures are not comparable with pinned runs"
        return f"servers on CPU {self.server} (taskset -c {self.server}), load generator on CPU {self.client}"


def choose_pinning() -> Pinning:
    """Servers on the first usable CPU, load on the second; pin this process to the second."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return Pinning(None, None)
    os.sched_setaffinity(0, {usable[1]})
    return Pinning(usable[0], usable[1])


def raise_fd_limit(needed: int) -> int:
    """Raise the soft open-files limit towards ``needed`` (servers inherit it); the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def wrk_version() -> str:
    """``wrk -v``'s first line, shortened."""
    try:
        result = subprocess.run([WRK, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def machine_lines() -> list[str]:
    """CPU, memory, load, versions: what the figures were taken on."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    memory = psutil.virtual_memory()
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("uvicorn", "h11", "httpx", "psutil")
    )
    return [
        f"machine: {platform.system()} {platform.release()} {platform.machine()}, {model}, "
        f"{os.cpu_count()} CPUs, {memory.total / 2**30:.1f} GiB RAM ({memory.available / 2**30:.1f} free)",
        f"load avg at start: {load}; Python {platform.python_version()}; {versions}; wrk: {wrk_version()}",
    ]


# --- server processes -------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """One server subprocess on a loopback port, pinned; ``start`` waits until it answers HTTP."""

    def __init__(self, name: str, command: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.command = command
        self.port = port
        self.env = env
        self.url = f"http://{HOST}:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (outlives __init__; closed in stop())

    @property
    def pid(self) -> int:
        """The server's process id (taskset execs the server, so it is the Python process)."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def launch(self) -> None:
        """Start the subprocess without waiting."""
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env={**os.environ, **(self.env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the server answers any HTTP request; raise with its output if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/_harness/health", timeout=1.0)
                return
            time.sleep(0.05)
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{self.name} did not start: {' | '.join(tail) or 'no output'}")

    def rss(self) -> int:
        """Resident set size of the server process, bytes."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        self._log.close()


def harness_server(
    name: str, scenario: Path, pinning: Pinning, *, time_scale: float, seed: int | None = None
) -> ServerProcess:
    """``harness serve SCENARIO --port P --time-scale X [--seed S]`` pinned to the server CPU."""
    port = free_port()
    command = [*pinning.prefix(pinning.server), sys.executable, "-m", "harness", "serve", str(scenario)]
    command += ["--port", str(port), "--time-scale", f"{time_scale:g}"]
    if seed is not None:
        command += ["--seed", str(seed)]
    return ServerProcess(name, command, port)


def bare_server(reply_file: Path, pinning: Pinning) -> ServerProcess:
    """The bare app on uvicorn with the flags ``harness serve`` gives its own uvicorn.Config."""
    port = free_port()
    command = [*pinning.prefix(pinning.server), sys.executable, "-m", "uvicorn", "benchmarks.bare_app:app"]
    command += ["--host", HOST, "--port", str(port), "--http", "h11", "--loop", "asyncio"]
    command += ["--lifespan", "on", "--log-level", "warning", "--no-access-log", "--no-proxy-headers"]
    command += ["--no-server-header", "--no-date-header", "--backlog", "2048"]
    command += ["--timeout-graceful-shutdown", "1"]
    return ServerProcess("bare app", command, port, env={"BARE_APP_REPLY": str(reply_file)})


@contextlib.contextmanager
def running(*servers: ServerProcess) -> Iterator[None]:
    """Start ``servers`` together, wait until all answer, and stop them all on the way out."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield
    finally:
        for server in servers:
            server.stop()


# --- scenarios ---------------------------------------------------------------------------------


def write_scenario(folder: Path, name: str, **changes: Any) -> Path:
    """``clean-baseline.yaml`` with ``changes`` (a None value removes the key), written into ``folder``."""
    data = yaml.safe_load(CLEAN.read_text(encoding="utf-8"))
    data["name"] = name
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    # Inputs, contract and SLOs stay (the parser wants them) but play no part in serving.
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Scenarios:
    """Every scenario the benchmark serves."""

    renamed: Path
    stream_clean: Path
    stream_renamed: Path
    latency: Path
    huge: Path


def make_scenarios(folder: Path, huge_mb: float) -> Scenarios:
    """Write the benchmark's scenarios (variations of ``clean-baseline.yaml``) into ``folder``."""
    inline = {"content": STREAM_CONTENT}
    huge_step = {"fault": "huge_payload", "params": {"size_mb": huge_mb, "shape": "pad"}}
    return Scenarios(
        renamed=write_scenario(folder, "bench-renamed", faults=[RENAME]),
        stream_clean=write_scenario(folder, "bench-stream-clean", source=inline),
        stream_renamed=write_scenario(folder, "bench-stream-renamed", source=inline, faults=[RENAME]),
        # Call 1 of a case is clean (it opens and warms the connection), call 2 carries the delay.
        latency=write_scenario(
            folder,
            "bench-latency",
            sequence={"steps": ["clean", LATENCY_STEP], "then": "clean"},
        ),
        # Call 1 of a case is clean (the warm-up), call 2 the huge reply: pinned with x-harness-case.
        huge=write_scenario(folder, "bench-huge", sequence={"steps": ["clean", huge_step], "then": "clean"}),
    )


def capture_bare_reply(json_server: ServerProcess, stream_server: ServerProcess, target: Path) -> int:
    """Save what the harness serves (headers, JSON body, a 20-event stream) for the bare app; event count."""
    framing = {"content-type", "content-length", "transfer-encoding"}
    with httpx.Client(timeout=10.0) as client:
        reply = client.post(json_server.url + PATH, content=request_body(stream=False))
        reply.raise_for_status()
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in reply.headers.raw
            if k.decode("latin-1").lower() not in framing
        ]
        events: list[str] = []
        for _ in range(50):
            streamed = client.post(stream_server.url + PATH, content=request_body(stream=True))
            streamed.raise_for_status()
            events = [e + "\n\n" for e in streamed.text.split("\n\n") if e]
            if len(events) == STREAM_EVENTS:
                break
    target.write_text(
        json.dumps({"headers": headers, "json": reply.text, "stream": events}), encoding="utf-8"
    )
    return len(events)


# --- (a) and (b): wrk ----------------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_script(folder: Path, name: str, body: bytes) -> Path:
    """A wrk Lua script POSTing ``body`` and printing a JSON summary from its ``done`` hook."""
    level = "=" * 4
    while f"]{level}]" in body.decode():
        level += "="
    text = (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-benchmark"\n'
        f"wrk.body = [{level}[{body.decode()}]{level}]\n" + _WRK_DONE
    )
    path = folder / f"{name}.lua"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(slots=True)
class WrkRun:
    """One wrk run's summary."""

    rate: float
    bytes_per_response: float
    errors: int
    p50_ms: float
    p99_ms: float


def run_wrk(url: str, script: Path, pinning: Pinning, *, seconds: float, connections: int) -> WrkRun:
    """``taskset -c N wrk -t1 -cC -dSs -s script URL`` and its summary (raises if wrk failed)."""
    command = [*pinning.prefix(pinning.client), WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s"]
    command += ["--timeout", "5s", "-s", str(script), url + PATH]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("WRKJSON ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {result.returncode}): {result.stderr.strip()[-200:]}")
    data = json.loads(lines[-1].removeprefix("WRKJSON "))
    requests = max(1, data["requests"])
    return WrkRun(
        rate=data["requests"] / (data["duration_us"] / 1e6),
        bytes_per_response=data["bytes"] / requests,
        errors=data["errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


@dataclass(slots=True)
class Arm:
    """One server measured in a throughput comparison."""

    label: str
    server: ServerProcess
    runs: list[WrkRun] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        """Requests/s per round."""
        return [r.rate for r in self.runs]


def compare(
    arms: list[Arm], script: Path, pinning: Pinning, *, rounds: int, seconds: float, connections: int
) -> None:
    """A short warm-up per arm, then ``rounds`` rounds with the arms' order rotating each round."""
    for arm in arms:
        run_wrk(arm.server.url, script, pinning, seconds=1, connections=connections)
    for number in range(rounds):
        shift = number % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            arm.runs.append(
                run_wrk(arm.server.url, script, pinning, seconds=seconds, connections=connections)
            )


# --- (c): the latency burst ------------------------------------------------------------------------

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux: stamp every received segment with the kernel's arrival time (CLOCK_REALTIME)."""
_TIMESPEC = struct.Struct("@ll")


class Exchange:
    """One connection of the burst: its pinned case, request bytes, and what it saw."""

    def __init__(self, port: int, case: int) -> None:
        self.case = f"{LATENCY_SEED}-{case}"
        body = request_body(stream=False)
        self.request = (
            f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"x-harness-case: {self.case}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.sock = socket.create_connection((HOST, port), timeout=10.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)
        self.buffer = b""
        self.written = 0.0
        """Unix time just before the request was written."""
        self.arrived: float | None = None
        """Kernel arrival time (unix) of the reply's first byte."""

    def send(self) -> None:
        """Write the request (small: one non-blocking send takes it whole) and note the time."""
        self.buffer, self.arrived = b"", None
        self.written = time.time()
        self.sock.sendall(self.request)

    def receive(self) -> bool:
        """Read what is there; True once the whole reply (head and content-length body) is in."""
        try:
            data, ancillary, _, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(_TIMESPEC.size))
        except BlockingIOError:
            return False
        if not data:
            raise RuntimeError(f"case {self.case}: connection closed by the server")
        if self.arrived is None:
            self.arrived = _kernel_time(ancillary) or time.time()
        self.buffer += data
        head, found, body = self.buffer.partition(b"\r\n\r\n")
        if not found:
            return False
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"case {self.case}: unexpected response {head[:40]!r}")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        return len(body) >= length

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanos = _TIMESPEC.unpack(data[: _TIMESPEC.size])
            return seconds + nanos / 1e9
    return None


def exchange_all(exchanges: list[Exchange], *, deadline: float = 60.0) -> None:
    """Write every request at once, then read every reply (one selector over all connections)."""
    with selectors.DefaultSelector() as selector:
        for exchange in exchanges:
            exchange.send()
        for exchange in exchanges:
            selector.register(exchange.sock, selectors.EVENT_READ, exchange)
        pending = len(exchanges)
        end = time.monotonic() + deadline
        while pending:
            if time.monotonic() > end:
                raise TimeoutError(
                    f"{pending} of {len(exchanges)} replies still missing after {deadline:g} s"
                )
            for key, _ in selector.select(timeout=1.0):
                exchange = key.data
                if exchange.receive():
                    selector.unregister(exchange.sock)
                    pending -= 1


@dataclass(slots=True)
class Burst:
    """One burst against one server: per request, its client-side and server-side times."""

    written: list[float]
    received: list[float]
    """Unix time the server took each request in (its case log)."""
    arrived: list[float]

    def end_to_end(self) -> list[float]:
        """Seconds from writing each request to its reply's first byte reaching the client."""
        return [a - w for a, w in zip(self.arrived, self.written, strict=True)]

    def after_receipt(self) -> list[float]:
        """Seconds from the server taking each request in to its reply's first byte reaching the client."""
        return [a - r for a, r in zip(self.arrived, self.received, strict=True)]


def burst(server: ServerProcess, count: int, first_case: int) -> Burst:
    """Open and warm ``count`` keep-alive connections (call 1), then send call 2 on all of them at once."""
    exchanges: list[Exchange] = []
    try:
        for number in range(count):
            exchanges.append(Exchange(server.port, first_case + number))
        exchange_all(exchanges)  # call 1: clean, served at once; every connection is now accepted and warm
        time.sleep(0.3)  # let the server go idle before the burst
        exchange_all(exchanges)  # call 2: the measured one
    finally:
        for exchange in exchanges:
            exchange.close()
    log = httpx.get(f"{server.url}/_harness/cases", timeout=30.0).json()
    received = {entry["case"]: entry["received"] for entry in log if entry["call"] == 2}
    missing = [e.case for e in exchanges if e.case not in received]
    if missing:
        raise RuntimeError(f"{len(missing)} requests missing from the case log (first: {missing[0]})")
    return Burst(
        written=[e.written for e in exchanges],
        received=[received[e.case] for e in exchanges],
        arrived=[e.arrived if e.arrived is not None else math.nan for e in exchanges],
    )


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass(slots=True)
class LatencyRound:
    """One round of (c): the same burst against the no-delay and the 1 s server."""

    baseline: Burst
    """Served at time_scale 0: the injected delay is not waited."""
    delayed: Burst
    """Served at time_scale 1: every measured request waits its injected second."""

    def timer_error(self, q: float) -> float:
        """At percentile ``q``: seconds from the server's receipt to the reply's first byte, minus 1 s."""
        return percentile(self.delayed.after_receipt(), q) - INJECTED

    def end_to_end_error(self, q: float) -> float:
        """At percentile ``q``: client-observed delay minus the no-delay baseline's, minus 1 s."""
        return percentile(self.delayed.end_to_end(), q) - percentile(self.baseline.end_to_end(), q) - INJECTED


def measure_latency(servers: dict[str, ServerProcess], *, count: int, rounds: int) -> list[LatencyRound]:
    """``rounds`` rounds of one burst per server, the order alternating; fresh cases every burst."""
    results: list[LatencyRound] = []
    names = list(servers)
    for number in range(rounds):
        got: dict[str, Burst] = {}
        order = names if number % 2 == 0 else names[::-1]
        for offset, name in enumerate(order):
            got[name] = burst(servers[name], count, first_case=(2 * number + offset) * count)
        results.append(LatencyRound(got["baseline"], got["delayed"]))
    return results


# --- (d): RSS while streaming a huge reply ----------------------------------------------------------


@dataclass(slots=True)
class HugeResult:
    """What (d) saw: RSS figures, the reply, and whether it had to be cut short."""

    baseline: int = 0
    peak: int = 0
    received: int = 0
    first_byte: float | None = None
    seconds: float = 0.0
    complete: bool = False
    stopped: str | None = None
    """Why the measurement was cut short (memory cap, deadline), if it was."""

    @property
    def growth(self) -> int:
        """Peak minus baseline RSS, bytes."""
        return self.peak - self.baseline


class Drain(threading.Thread):
    """Send one streaming request with ``Connection: close`` and read the reply to EOF, discarding it."""

    def __init__(self, port: int, pin: str) -> None:
        super().__init__(name="drain", daemon=True)
        body = request_body(stream=True)
        self.request = (
            f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"x-harness-case: {pin}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.port = port
        self.received = 0
        self.tail = b""
        self.first_byte: float | None = None
        self.error: str | None = None
        self.sock: socket.socket | None = None

    def run(self) -> None:
        """Read until the server closes; note the time of the first byte."""
        start = time.perf_counter()
        buffer = bytearray(1 << 20)
        try:
            with socket.create_connection((HOST, self.port), timeout=HUGE_DEADLINE) as sock:
                self.sock = sock
                sock.sendall(self.request)
                while count := sock.recv_into(buffer):
                    if self.first_byte is None:
                        self.first_byte = time.perf_counter() - start
                    self.received += count
                    self.tail = (self.tail + bytes(buffer[:count]))[-64:]
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def abort(self) -> None:
        """Stop reading (the measurement is being abandoned)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def drain_once(port: int, pin: str) -> Drain:
    """One warm-up request read to the end, synchronously."""
    drain = Drain(port, pin)
    drain.start()
    drain.join(60.0)
    return drain


def measure_huge(server: ServerProcess, seed: int, rss_cap: int) -> HugeResult:
    """Baseline RSS after a clean warm-up call, then peak RSS at 10 Hz while the huge reply streams."""
    result = HugeResult()
    warm = drain_once(server.port, f"{seed}-0-1")
    if warm.error or warm.received == 0:
        raise RuntimeError(f"warm-up stream failed: {warm.error or 'nothing received'}")
    time.sleep(0.5)
    samples = []
    for _ in range(5):
        samples.append(server.rss())
        time.sleep(SAMPLE_EVERY)
    result.baseline = result.peak = int(statistics.median(samples))
    drain = Drain(server.port, f"{seed}-0-2")
    start = time.perf_counter()
    drain.start()
    while drain.is_alive():
        rss = server.rss()
        result.peak = max(result.peak, rss)
        if rss > rss_cap:
            result.stopped = f"RSS passed the {rss_cap / 2**30:.1f} GiB safety cap; server killed"
            server.stop()
            break
        if time.perf_counter() - start > HUGE_DEADLINE:
            result.stopped = f"no end after {HUGE_DEADLINE:g} s"
            break
        time.sleep(SAMPLE_EVERY)
    drain.abort()
    drain.join(10.0)
    result.seconds = time.perf_counter() - start
    result.received = drain.received
    result.first_byte = drain.first_byte
    result.complete = drain.error is None and result.stopped is None and drain.tail.endswith(b"0\r\n\r\n")
    return result


# --- the report -------------------------------------------------------------------------------------


def verdict(passed: bool) -> str:
    """PASS or MISS."""
    return "PASS" if passed else "MISS"


def throughput_lines(title: str, bare: Arm, arms: list[Arm]) -> list[str]:
    """The rows of (a) or (b): medians, ratios, per-round ratio range, bytes per response, verdicts."""
    base = statistics.median(bare.rates)
    lines = [
        title,
        f"  {'server':<30} {'req/s':>7} {'ratio':>6} {'per-round':>11} {'B/resp':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6}  {'target':<6} result",
    ]
    for arm in [bare, *arms]:
        median = statistics.median(arm.rates)
        p50 = statistics.median(r.p50_ms for r in arm.runs)
        p99 = statistics.median(r.p99_ms for r in arm.runs)
        size = statistics.median(r.bytes_per_response for r in arm.runs)
        errors = sum(r.errors for r in arm.runs)
        if arm is bare:
            ratio, spread, target, result = "1.00", "-", "-", "baseline"
        else:
            per_round = [h / b for h, b in zip(arm.rates, bare.rates, strict=True)]
            ratio = f"{median / base:.2f}"
            spread = f"{min(per_round):.2f}-{max(per_round):.2f}"
            target, result = f">={TARGET_RATIO:g}", verdict(median / base >= TARGET_RATIO and errors == 0)
        lines.append(
            f"  {arm.label:<30} {median:>7.0f} {ratio:>6} {spread:>11} {size:>7.0f} "
            f"{p50:>7.1f} {p99:>7.1f} {errors:>6}  {target:<6} {result}"
        )
    return lines


def latency_lines(rounds: list[LatencyRound], count: int) -> list[str]:
    """The rows of (c): per-percentile delays and errors (medians over rounds), verdict on the timer's p99."""
    lines = [
        f"(c) {count} concurrent requests on warm keep-alive connections, each with a fixed {INJECTED:g} s "
        f"latency (time_scale 1) or none (time_scale 0, baseline); {len(rounds)} rounds",
        "  after receipt = server took the request in (its case log) -> reply's first byte at the client "
        "(kernel timestamp);",
        "  end to end = client wrote the request -> reply's first byte at the client",
        f"  {'percentile':<10} {'baseline':>22} {'delayed':>22} {'timer err':>10} {'e2e err':>9}",
        f"  {'':<10} {'receipt ms':>10} {'e2e ms':>11} {'receipt ms':>10} {'e2e ms':>11} "
        f"{'ms':>10} {'ms':>9}",
    ]

    def median_ms(values: Callable[[LatencyRound], float]) -> float:
        return statistics.median(values(r) for r in rounds) * 1000

    def at(q: float, pick: Callable[[LatencyRound], list[float]]) -> Callable[[LatencyRound], float]:
        return lambda r: percentile(pick(r), q)

    for q in (50, 90, 99, 100):
        row = [
            median_ms(at(q, lambda r: r.baseline.after_receipt())),
            median_ms(at(q, lambda r: r.baseline.end_to_end())),
            median_ms(at(q, lambda r: r.delayed.after_receipt())),
            median_ms(at(q, lambda r: r.delayed.end_to_end())),
        ]
        timer = statistics.median(r.timer_error(q) for r in rounds) * 1000
        e2e = statistics.median(r.end_to_end_error(q) for r in rounds) * 1000
        label = f"p{q}" if q < 100 else "max"
        lines.append(
            f"  {label:<10} {row[0]:>10.1f} {row[1]:>11.1f} {row[2]:>10.1f} {row[3]:>11.1f} "
            f"{timer:>+10.1f} {e2e:>+9.1f}"
        )
    timer_p99 = statistics.median(r.timer_error(99) for r in rounds)
    e2e_p99 = statistics.median(r.end_to_end_error(99) for r in rounds)
    per_round = ", ".join(f"{r.timer_error(99) * 1000:+.1f}" for r in rounds)
    lines.append(
        f"  p99 timer error (delayed, after receipt - {INJECTED:g} s): {timer_p99 * 1000:+.1f} ms "
        f"(rounds {per_round})   target |error| < {TARGET_LATENCY_ERROR * 1000:g} ms   "
        f"{verdict(abs(timer_p99) < TARGET_LATENCY_ERROR)}"
    )
    per_round = ", ".join(f"{r.end_to_end_error(99) * 1000:+.1f}" for r in rounds)
    lines.append(
        f"  p99 end-to-end error (delayed - baseline - {INJECTED:g} s, same percentile): "
        f"{e2e_p99 * 1000:+.1f} ms "
        f"(rounds {per_round})   for information: the two bursts queue differently"
    )
    return lines


def huge_lines(result: HugeResult, huge_mb: float) -> list[str]:
    """The rows of (d)."""
    mib = 2**20
    first = f"{result.first_byte:.1f} s" if result.first_byte is not None else "never"
    state = "complete" if result.complete else f"INCOMPLETE ({result.stopped or 'connection error'})"
    passed = result.complete and result.growth < TARGET_RSS_GROWTH
    return [
        f"(d) server RSS while streaming a {huge_mb:g} MiB huge_payload reply (pad), client discarding it, "
        "sampled at 10 Hz",
        f"  baseline {result.baseline / mib:.0f} MiB, peak {result.peak / mib:.0f} MiB, growth "
        f"{result.growth / mib:.0f} MiB   target < {TARGET_RSS_GROWTH / mib:.0f} MiB   {verdict(passed)}",
        f"  reply: {result.received / mib:.0f} MiB received, {state}; first byte after {first}, "
        f"{result.seconds:.1f} s in all",
    ]


# --- main -----------------------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_throughput(args: argparse.Namespace, pinning: Pinning, folder: Path, found: Scenarios) -> list[str]:
    """(a) and (b): start the five servers, capture the bare reply, run wrk; the report lines."""
    clean = harness_server("harness clean", CLEAN, pinning, time_scale=0)
    renamed = harness_server("harness rename_keys", found.renamed, pinning, time_scale=0)
    stream_clean = harness_server("harness stream clean", found.stream_clean, pinning, time_scale=0)
    stream_renamed = harness_server("harness stream rename", found.stream_renamed, pinning, time_scale=0)
    reply_file = folder / "bare-reply.json"
    lines: list[str] = []
    with running(clean, renamed, stream_clean, stream_renamed):
        events = capture_bare_reply(clean, stream_clean, reply_file)
        bare = bare_server(reply_file, pinning)
        with running(bare):
            plain = wrk_script(folder, "plain", request_body(stream=False))
            streamed = wrk_script(folder, "stream", request_body(stream=True))
            options: dict[str, Any] = {
                "rounds": args.rounds,
                "seconds": args.duration,
                "connections": args.connections,
            }
            a_bare = Arm("bare ASGI app (fixed body)", bare)
            a_arms = [Arm("harness serve, clean", clean), Arm("harness serve, rename_keys x1", renamed)]
            compare([a_bare, *a_arms], plain, pinning, **options)
            b_bare = Arm(f"bare ASGI app ({events} writes)", bare)
            b_arms = [
                Arm("harness serve, clean", stream_clean),
                Arm("harness serve, rename_keys x1", stream_renamed),
            ]
            compare([b_bare, *b_arms], streamed, pinning, **options)
    lines += throughput_lines("(a) non-streaming chat completion", a_bare, a_arms)
    lines.append("")
    lines += throughput_lines(f"(b) {events}-event stream", b_bare, b_arms)
    return lines


def main() -> int:
    """Parse arguments, run (a)-(d) with every server stopped on exit, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved wrk rounds per arm (default 5)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run (default 4)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--burst", type=int, default=2000, help="concurrent requests in (c) (default 2000)")
    parser.add_argument("--burst-rounds", type=int, default=3, help="interleaved burst pairs (default 3)")
    parser.add_argument("--huge-mb", type=float, default=1024, help="huge reply size in MiB (default 1024)")
    parser.add_argument("--skip", default="", help="parts to skip, e.g. 'cd' (of a, b, c, d)")
    args = parser.parse_args()
    if args.rounds < 1 or args.duration <= 0 or args.burst < 1 or args.burst_rounds < 1:
        parser.error("--rounds, --duration, --burst and --burst-rounds must be positive")
    if not Path(WRK).exists():
        print(f"wrk not found ({WRK}): install it (apt-get install wrk)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    header = machine_lines()
    pinning = choose_pinning()
    files = raise_fd_limit(max(4096, 2 * args.burst + 512))
    print("Server benchmark: harness serve against a bare ASGI app on the same uvicorn (h11, asyncio)")
    print(*header, sep="\n")
    print(f"pinning: {pinning.describe()}; open-files limit {files}; everything on {HOST}")
    print(
        f"method: wrk -t1 -c{args.connections}, {args.rounds} rounds x {args.duration:g} s per arm after a "
        "1 s warm-up, arms' order rotating; medians"
    )
    print(flush=True)
    failed = False
    with tempfile.TemporaryDirectory(prefix="harness-bench-server-") as temp:
        folder = Path(temp)
        found = make_scenarios(folder, args.huge_mb)
        parts: list[tuple[str, Callable[[], list[str]]]] = [
            ("ab", lambda: run_throughput(args, pinning, folder, found)),
            ("c", lambda: run_latency(args, pinning, found)),
            ("d", lambda: run_huge(args, pinning, found)),
        ]
        for letters, part in parts:
            if all(letter in args.skip for letter in letters):
                continue
            try:
                lines = part()
            except (RuntimeError, OSError, subprocess.SubprocessError, TimeoutError, httpx.HTTPError) as exc:
                lines = [f"({letters}) NOT MEASURED: {type(exc).__name__}: {exc}"]
                failed = True
            print(*lines, sep="\n")
            print(flush=True)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load avg at end: {load}; benchmark wall time: {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


def run_latency(args: argparse.Namespace, pinning: Pinning, found: Scenarios) -> list[str]:
    """(c): the latency scenario at time_scale 0 and 1, bursts interleaved; the report lines."""
    servers = {
        "baseline": harness_server(
            "harness latency x0", found.latency, pinning, time_scale=0, seed=LATENCY_SEED
        ),
        "delayed": harness_server(
            "harness latency x1", found.latency, pinning, time_scale=1, seed=LATENCY_SEED
        ),
    }
    with running(*servers.values()):
        rounds = measure_latency(servers, count=args.burst, rounds=args.burst_rounds)
    return latency_lines(rounds, args.burst)


def run_huge(args: argparse.Namespace, pinning: Pinning, found: Scenarios) -> list[str]:
    """(d): one server, a clean warm-up call, then the huge reply; the report lines."""
    seed = int(yaml.safe_load(found.huge.read_text(encoding="utf-8")).get("seed", 0))
    cap = int(min(16 * 2**30, 0.6 * psutil.virtual_memory().available))
    server = harness_server("harness huge", found.huge, pinning, time_scale=0)
    with running(server):
        result = measure_huge(server, seed, cap)
    return huge_lines(result, args.huge_mb)


if __name__ == "__main__":
    sys.exit(main())
