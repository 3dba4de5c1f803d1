"""The live view of a load run: one panel redrawn with every one-second :class:`LoadSample`.

Shows users, requests/s, p50/p95/p99, errors, garbage passed, model calls per request,
the target's RSS (and its peak so far), elapsed against the planned duration and the
faults served so far. It is fed by the engine's ``on_sample`` callback::

    with live_view(run_settings, scenario=..., target=..., enabled=progress) as view:
        engine.run(on_sample=view.update)

Disabled (every call a no-op) with ``--no-progress`` or when the console is not a
terminal, so CI logs stay clean. The panel is redrawn only when a sample arrives
(``auto_refresh=False``): no refresh thread, which matters in a gevent-patched process.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from harness.load.model import LoadSample, LoadSettings, ranked_faults
from harness.metrics import Unit, format_value
from harness.reports import short_target

SHOWN_FAULTS = 6
"""Fault labels listed in the panel (most served first)."""


class LiveView:
    """A rich Live panel for one load run; :meth:`update` takes each sample."""

    def __init__(
        self,
        settings: LoadSettings,
        *,
        scenario: str,
        target: str,
        console: Console | None = None,
        enabled: bool = True,
    ) -> None:
        self.settings = settings
        self.scenario = scenario
        self.target = target
        self.console = console if console is not None else Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.peak_rss: int | None = None
        self.last: LoadSample | None = None
        self.rps: float | None = None
        """Requests answered per second since the previous sample (None: Locust's own figure)."""
        self._live: Live | None = None

    def __enter__(self) -> Self:
        """Start drawing (nothing when disabled)."""
        if self.enabled:
            self._live = Live(self.render(None), console=self.console, auto_refresh=False, transient=False)
            self._live.start(refresh=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing; the last panel stays on screen."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, sample: LoadSample) -> None:
        """Redraw with ``sample`` (the engine's ``on_sample`` callback)."""
        self.rps = _rate(self.last, sample)
        self.last = sample
        if sample.rss is not None:
            self.peak_rss = max(self.peak_rss or 0, sample.rss)
        if self._live is not None:
            self._live.update(self.render(sample), refresh=True)

    def render(self, sample: LoadSample | None) -> Panel:
        """The panel for ``sample`` (a waiting panel before the first one)."""
        title = f"harness load · {self.scenario} × {short_target(self.target)}"
        if sample is None:
            return Panel(Text("starting the fake provider, the target and Locust …"), title=title)
        return Panel(Group(self._clock(sample), self._figures(sample), self._faults(sample)), title=title)

    def _clock(self, sample: LoadSample) -> Table:
        duration = self.settings.duration
        row = Table.grid(padding=(0, 2))
        row.add_row(
            ProgressBar(total=max(duration, 0.001), completed=min(sample.elapsed, duration), width=40),
            Text(f"{_clock(sample.elapsed)} / {_clock(duration)}"),
            Text(f"users {sample.users}/{self.settings.users}", style="bold"),
            Text(f"{self.settings.workers} workers" if self.settings.workers else ""),
        )
        return row

    def _figures(self, sample: LoadSample) -> Table:
        table = Table.grid(padding=(0, 3))
        for _ in range(4):
            table.add_column()
        per_request = sample.model_calls / sample.requests if sample.requests else None
        error_share = f" ({sample.errors / sample.requests:.1%})" if sample.requests else ""
        table.add_row(
            _figure("rps", f"{sample.rps if self.rps is None else self.rps:.1f}"),
            _figure("p50", _duration(sample.p50)),
            _figure("p95", _duration(sample.p95)),
            _figure("p99", _duration(sample.p99)),
        )
        table.add_row(
            _figure("requests", str(sample.requests)),
            _figure("errors", f"{sample.errors}{error_share}", bad=sample.errors > 0),
            _figure("garbage passed", str(sample.garbage_passed), bad=sample.garbage_passed > 0),
            _figure("model calls/request", "-" if per_request is None else f"{per_request:.2f}"),
        )
        table.add_row(
            _figure("target RSS", _size(sample.rss)),
            _figure("peak", _size(self.peak_rss)),
            Text(""),
            Text(""),
        )
        return table

    def _faults(self, sample: LoadSample) -> Text:
        ranked = ranked_faults(sample.faults_served)
        text = Text("faults served: ", style="dim")
        if not ranked:
            return text.append("none yet")
        shown = [f"{label} {count}" for label, count in ranked[:SHOWN_FAULTS]]
        if len(ranked) > SHOWN_FAULTS:
            shown.append(f"+{len(ranked) - SHOWN_FAULTS} more")
        return text.append(" · ".join(shown))


def live_view(
    settings: LoadSettings,
    *,
    scenario: str,
    target: str,
    enabled: bool = True,
    console: Console | None = None,
) -> LiveView:
    """A :class:`LiveView`, drawing only when ``enabled`` (``--progress``) and the console is a terminal."""
    return LiveView(settings, scenario=scenario, target=target, console=console, enabled=enabled)


def _rate(before: LoadSample | None, now: LoadSample) -> float | None:
    """Requests answered per second between two samples (Locust's ``current_rps`` starts late)."""
    if before is None or now.elapsed <= before.elapsed:
        return None
    return (now.requests - before.requests) / (now.elapsed - before.elapsed)


def _figure(name: str, value: str, *, bad: bool = False) -> Text:
    text = Text(f"{name} ", style="dim")
    return text.append(value, style="bold red" if bad else "bold")


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_value(Unit.DURATION, seconds)


def _size(size: int | None) -> str:
    return "-" if size is None else format_value(Unit.SIZE, float(size))


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"
