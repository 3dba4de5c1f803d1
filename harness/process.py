"""Launching and watching a service command: process-tree RSS, a memory cap, crash detection, clean stop.

:class:`Service` starts a command in its own session (process group), keeps the last lines
it printed, samples the resident set size of its whole process tree at 100 Hz and, with a
memory limit, SIGKILLs the tree the moment the sum passes it — what the kernel's OOM
killer (or a container's cgroup limit) does, so the exit is the same: ``-9`` (``137`` from a
shell). :meth:`Service.stop` sends SIGTERM to the tree, then SIGKILL after a grace period.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from harness.errors import TargetError

SAMPLE_INTERVAL = 0.01
"""Seconds between tree RSS samples (100 Hz): an allocation spike of a few ms is still seen."""
READY_TIMEOUT = 30.0
"""Real seconds a launched command may take to accept connections."""
STOP_GRACE = 5.0
"""Real seconds between SIGTERM and SIGKILL when stopping the command."""
TAIL_LINES = 20
"""Lines of the command's output kept for error messages."""
SIGKILL_SHELL_EXIT = 128 + signal.SIGKILL
"""How a shell reports a child killed by SIGKILL (137)."""


class ServiceCrashed(Exception):
    """The service process died (or dropped the connection) while a case was running."""


@dataclass(frozen=True)
class Exit:
    """How a launched command ended."""

    code: int
    """``Popen.returncode``: negative for a signal (``-9`` after SIGKILL)."""
    memory_killed: bool
    """True when the harness killed it for passing its memory limit (an OOM kill)."""
    peak_rss: int
    """The process tree's RSS high-water mark (bytes) over the case or run that ended."""
    memory_limit: int | None = None

    @property
    def oom(self) -> bool:
        """True for a memory-limit kill, or any SIGKILL exit (what the kernel OOM killer sends)."""
        return self.memory_killed or self.code in (-signal.SIGKILL, SIGKILL_SHELL_EXIT)

    def describe(self) -> str:
        """One line: exit code, signal, why, peak RSS."""
        how = f"exit {self.code}"
        if self.code < 0:
            with contextlib.suppress(ValueError):
                how += f" ({signal.Signals(-self.code).name})"
        if self.memory_killed and self.memory_limit is not None:
            how += f": OOM kill, process tree RSS passed the {_mb(self.memory_limit)} memory limit"
        elif self.oom:
            how += ": killed (OOM kill or SIGKILL)"
        return f"{how}; peak RSS {_mb(self.peak_rss)}"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}MB"


def tree_rss(process: psutil.Process) -> int:
    """Sum of RSS over ``process`` and all its descendants (bytes; vanished processes count 0)."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Service:
    """One launched command: output tail, tree RSS watch with an optional cap, readiness, stop."""

    def __init__(
        self,
        command: str,
        env: Mapping[str, str],
        *,
        memory_limit: int | None = None,
        interval: float = SAMPLE_INTERVAL,
        cwd: str | None = None,
    ) -> None:
        self.command = command
        self.argv = _split(command)
        self.env = dict(env)
        self.memory_limit = memory_limit
        self.interval = interval
        self.cwd = cwd
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._popen: subprocess.Popen[bytes] | None = None
        self._process: psutil.Process | None = None
        self._peak = 0
        self._run_peak = 0
        self._memory_killed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Service:
        """Launch the command in a new session, with output captured and the RSS watch running."""
        try:
            self._popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise TargetError(f"--target-cmd {self.command!r}: cannot start: {exc.strerror or exc}") from None
        self._process = psutil.Process(self._popen.pid)
        self._peak = self._run_peak = 0
        self._memory_killed = False
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._read_output, name="harness-target-output", daemon=True),
            threading.Thread(target=self._watch, name="harness-target-rss", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def wait_ready(self, host: str, port: int, timeout: float = READY_TIMEOUT) -> None:
        """Return once ``host:port`` accepts connections; :class:`TargetError` on early exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                raise TargetError(
                    f"--target-cmd {self.command!r} exited with {code} before listening on {host}:{port}"
                    + self._tail_note()
                )
            if port_open(host, port):
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise TargetError(
                    f"--target-cmd {self.command!r} did not listen on {host}:{port} within {timeout:g}s"
                    + self._tail_note()
                )
            self.wait(0.05)  # a bounded pause between probes that also notices an early exit

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM the tree, SIGKILL whatever is left after ``grace`` seconds; returns the exit code."""
        if self._popen is None:
            return None
        if self._popen.poll() is None:
            members = self._members()
            self._signal(members, signal.SIGTERM)
            try:
                self._popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(self._members() or members, signal.SIGKILL)
                self._popen.wait()
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        if self._popen.stdout is not None:
            self._popen.stdout.close()
        return self._popen.returncode

    def kill_tree(self) -> None:
        """SIGKILL the process and every descendant at once."""
        self._signal(self._members(), signal.SIGKILL)

    # --- state -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The command's process id (None before start)."""
        return self._popen.pid if self._popen is not None else None

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._popen.poll() if self._popen is not None else None

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the command to end; its exit code or None."""
        if self._popen is None:
            return None
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def alive(self) -> bool:
        """True while the command runs."""
        return self._popen is not None and self._popen.poll() is None

    def exit(self) -> Exit | None:
        """How the command ended, or None while it runs."""
        code = self.poll()
        if code is None:
            return None
        with self._lock:
            return Exit(code, self._memory_killed, self._peak, self.memory_limit)

    def reset_peak(self) -> None:
        """Start a new high-water mark (per case) from the current tree RSS."""
        current = tree_rss(self._process) if self._process is not None else 0
        with self._lock:
            self._peak = current
            self._run_peak = max(self._run_peak, current)

    @property
    def peak(self) -> int:
        """The tree's RSS high-water mark since the last :meth:`reset_peak`, in bytes."""
        if self.alive:
            self._sample()
        with self._lock:
            return self._peak

    @property
    def run_peak(self) -> int:
        """The tree's RSS high-water mark since the command started."""
        with self._lock:
            return self._run_peak

    def output_tail(self) -> list[str]:
        """The last lines the command printed (stdout and stderr merged)."""
        return list(self.tail)

    # --- internals -------------------------------------------------------------------------

    def _tail_note(self) -> str:
        lines = [line for line in self.tail if line.strip()][-3:]
        return "; last output: " + " | ".join(lines) if lines else "; it printed nothing"

    def _members(self) -> list[psutil.Process]:
        if self._process is None:
            return []
        try:
            return [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            return []

    def _signal(self, members: list[psutil.Process], sig: signal.Signals) -> None:
        if self._popen is not None:
            with contextlib.suppress(OSError):
                os.killpg(self._popen.pid, sig)  # the whole session at once
        for member in members:  # and any descendant that left the process group
            with contextlib.suppress(psutil.Error):
                member.send_signal(sig)

    def _sample(self) -> int:
        if self._process is None:
            return 0
        rss = tree_rss(self._process)
        with self._lock:
            self._peak = max(self._peak, rss)
            self._run_peak = max(self._run_peak, rss)
        return rss

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.alive:
                return
            rss = self._sample()
            if self.memory_limit is not None and rss > self.memory_limit:
                with self._lock:
                    self._memory_killed = True
                self.kill_tree()
                return

    def _read_output(self) -> None:
        popen = self._popen
        if popen is None or popen.stdout is None:
            return
        with contextlib.suppress(ValueError, OSError):
            for raw in popen.stdout:
                self.tail.append(raw.decode("utf-8", "replace").rstrip())


def _split(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise TargetError(f"--target-cmd {command!r}: {exc}") from None
    if not argv:
        raise TargetError("--target-cmd: expected a command, got an empty string")
    return argv
