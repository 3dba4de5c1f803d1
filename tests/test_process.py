"""Launching and watching real commands: readiness, tree RSS, the memory cap, early exits, clean stop."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time

import pytest

from harness.errors import TargetError
from harness.process import Exit, Service, port_open
from harness.targets_wire import free_port

PY = sys.executable
STEP = 20_000_000
"""Bytes a growing child allocates per step."""


def python(code: str) -> str:
    """A command line running ``code`` in a fresh interpreter."""
    return shlex.join([PY, "-c", code])


LISTEN = """
import socket, sys, time
s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
while True:
    conn, _ = s.accept(); conn.close()
"""

GROW = f"""
import sys, time
blocks = []
print("growing", flush=True)
while True:
    blocks.append(bytearray({STEP}))
    time.sleep(0.02)
"""


def listener(port: int) -> str:
    return shlex.join([PY, "-c", LISTEN, str(port)])


def test_a_listening_command_is_ready_then_stops_on_sigterm() -> None:
    port = free_port()
    service = Service(listener(port), os.environ).start()
    try:
        service.wait_ready("127.0.0.1", port, timeout=20)
        assert service.alive
        assert port_open("127.0.0.1", port)
        assert service.peak > 0
    finally:
        code = service.stop()
    assert code == -signal.SIGTERM
    assert not port_open("127.0.0.1", port)


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    port = free_port()
    code = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + LISTEN
    service = Service(shlex.join([PY, "-c", code, str(port)]), os.environ).start()
    service.wait_ready("127.0.0.1", port, timeout=20)
    assert service.stop(grace=0.2) == -signal.SIGKILL


def test_a_command_that_exits_early_is_one_clear_line_with_its_last_output() -> None:
    service = Service(
        python("import sys; print('boom: no config', file=sys.stderr); sys.exit(3)"), os.environ
    )
    service.start()
    with pytest.raises(TargetError) as info:
        service.wait_ready("127.0.0.1", free_port(), timeout=20)
    message = str(info.value)
    assert "exited with 3 before listening" in message
    assert "boom: no config" in message
    assert "\n" not in message
    service.stop()


def test_a_command_that_never_listens_times_out_and_is_stopped() -> None:
    service = Service(python("import time; print('starting', flush=True); time.sleep(60)"), os.environ)
    service.start()
    with pytest.raises(TargetError, match=r"did not listen on 127\.0\.0\.1:\d+ within 0\.5s"):
        service.wait_ready("127.0.0.1", free_port(), timeout=0.5)
    assert not service.alive


def test_a_missing_program_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="cannot start"):
        Service("/nonexistent/harness-no-such-program --port 1", os.environ).start()


def test_rss_sampling_sees_a_growing_child_of_the_command() -> None:
    # the allocating process is a grandchild: the sampler must sum the whole tree
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {GROW!r}])"
    service = Service(python(child), os.environ).start()
    try:
        start = service.peak
        target = start + 5 * STEP
        deadline = time.monotonic() + 60  # bounded poll, generous for a loaded machine
        while service.peak < target and time.monotonic() < deadline:
            service.wait(0.01)
        peak = service.peak  # sampled now; the child is still growing, so read the run's mark after it
        assert peak >= target
        assert service.run_peak >= peak
    finally:
        service.stop(grace=1)


@pytest.mark.slow
def test_the_memory_cap_kills_the_tree_like_the_oom_killer() -> None:
    service = Service(python(GROW), os.environ, memory_limit=150_000_000).start()
    code = service.wait(60)
    ended = service.exit()
    service.stop()
    assert code == -signal.SIGKILL
    assert isinstance(ended, Exit)
    assert ended.memory_killed and ended.oom
    assert ended.peak_rss > 150_000_000
    assert "exit -9 (SIGKILL): OOM kill" in ended.describe()
    assert "150.0MB memory limit" in ended.describe()


def test_exit_descriptions_name_the_signal_and_shell_codes() -> None:
    assert Exit(137, False, 10_000_000).oom
    assert "exit 137: killed" in Exit(137, False, 10_000_000).describe()
    assert not Exit(1, False, 0).oom
    assert Exit(-11, False, 0).describe().startswith("exit -11 (SIGSEGV)")
