"""The live view: what it shows for a sample, and that it stays silent off a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from harness.load.live import live_view
from harness.load.model import LoadSample, LoadSettings

SAMPLE = LoadSample(
    elapsed=7.4,
    users=10,
    requests=287,
    rps=41.2,
    p50=0.052,
    p95=0.41,
    p99=0.9,
    errors=3,
    garbage_passed=5,
    model_calls=301,
    rss=102_000_000,
    faults_served={"clean": 280, "latency": 14, "rename_keys": 7},
)


def test_a_sample_is_drawn_with_every_figure() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    settings = LoadSettings(users=10, duration=30)
    with live_view(
        settings, scenario="latency-collapse", target="py:harness.demo.naive:extract", console=console
    ) as view:
        view.update(SAMPLE)
    text = out.getvalue()
    assert "latency-collapse × naive.extract" in text
    for figure in ("00:07 / 00:30", "users 10/10", "rps 41.2", "p50 52ms", "p95 410ms", "p99 900ms"):
        assert figure in text
    for figure in ("requests 287", "errors 3 (1.0%)", "garbage passed 5", "model calls/request 1.05"):
        assert figure in text
    assert "target RSS 102MB" in text
    assert "clean 280 · latency 14 · rename_keys 7" in text


def test_the_peak_rss_is_kept_and_missing_figures_show_a_dash() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    quiet = LoadSample(8.4, 10, 330, 0.0, None, None, None, 3, 5, 340, 90_000_000)
    with live_view(LoadSettings(), scenario="s", target="t", console=console) as view:
        view.update(SAMPLE)
        view.update(quiet)
    assert view.peak_rss == 102_000_000
    last_panel = out.getvalue().rsplit("harness load", 1)[-1]
    assert "p95 -" in last_panel and "target RSS 90MB" in last_panel and "peak 102MB" in last_panel
    assert "rps 43.0" in last_panel  # answered since the previous sample, not Locust's lagging figure
    assert "faults served: none yet" in last_panel


def test_nothing_is_drawn_off_a_terminal_or_with_no_progress() -> None:
    piped = io.StringIO()
    with live_view(LoadSettings(), scenario="s", target="t", console=Console(file=piped)) as view:
        view.update(SAMPLE)
    assert piped.getvalue() == "" and not view.enabled
    tty = io.StringIO()
    console = Console(file=tty, force_terminal=True)
    with live_view(LoadSettings(), scenario="s", target="t", console=console, enabled=False) as view:
        view.update(SAMPLE)
    assert tty.getvalue() == "" and view.last == SAMPLE
