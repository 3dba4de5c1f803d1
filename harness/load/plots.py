"""Time-series plots of a load run for ``report.html``: latency, throughput, RSS and the fault mix.

Same style and machinery as the run report's plots (:mod:`harness.reports.plots`): a
``matplotlib.figure.Figure`` (no pyplot state), inline deterministic SVG, matplotlib
imported only when a plot is drawn. Every function returns ``None`` when there is nothing
to draw, so the page says so instead of showing an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.load.model import ranked_faults
from harness.metrics import Unit, format_value
from harness.reports.plots import figure_svg

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from harness.load.model import LoadSample

_PERCENTILES = (("p50", "#2ca02c"), ("p95", "#ff7f0e"), ("p99", "#d62728"))
_LIMIT_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_SIZE = (6.4, 2.6)
_FAULT_BARS = 20
"""Fault labels drawn in the fault-mix chart; the rest are summed as ``other``."""
_LABEL_CHARS = 48
"""Longest fault label drawn in full; longer ones are cut (the table under the chart has them whole)."""


def latency_svg(
    samples: Sequence[LoadSample], limits: Sequence[tuple[str, float]], *, key: str
) -> str | None:
    """p50 / p95 / p99 per second, with latency SLO limits as dashed lines."""
    if not any(s.p50 is not None for s in samples):
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=_SIZE, layout="constrained")
    ax = fig.subplots()
    elapsed = [s.elapsed for s in samples]
    for name, colour in _PERCENTILES:
        ax.plot(elapsed, [_value(getattr(s, name)) for s in samples], color=colour, label=name, linewidth=1.3)
    _limit_lines(ax, limits)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: format_value(Unit.DURATION, max(y, 0.0))))
    ax.set_ylim(bottom=0)
    _finish(ax, "latency (recent window)")
    return figure_svg(fig, f"load-latency-{key}")


def throughput_svg(samples: Sequence[LoadSample], *, key: str) -> str | None:
    """Requests answered and failed per second (left axis) and users (right axis) over the run.

    Rates come from the samples' running counts, second by second (Locust's own
    ``current_rps`` averages over a trailing window and starts late).
    """
    if not samples:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, layout="constrained")
    ax = fig.subplots()
    elapsed = [s.elapsed for s in samples]
    ax.plot(elapsed, per_second(samples, "requests"), color="#1f77b4", label="answered/s", linewidth=1.3)
    ax.plot(elapsed, per_second(samples, "errors"), color="#d62728", label="not kept/s", linewidth=1)
    ax.set_ylim(bottom=0)
    users = ax.twinx()
    users.step(elapsed, [s.users for s in samples], where="post", color="#7f7f7f", linewidth=1, label="users")
    users.set_ylim(bottom=0)
    users.set_ylabel("users")
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = users.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="lower right", fontsize="small")
    ax.set_xlabel("elapsed (s)")
    ax.set_ylabel("requests/s")
    ax.grid(alpha=0.3)
    return figure_svg(fig, f"load-rps-{key}")


def rss_svg(samples: Sequence[LoadSample], limits: Sequence[tuple[str, float]], *, key: str) -> str | None:
    """The target process tree's RSS over the run, with memory SLO limits as dashed lines."""
    if not any(s.rss is not None for s in samples):
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=_SIZE, layout="constrained")
    ax = fig.subplots()
    ax.plot(
        [s.elapsed for s in samples],
        [_value(s.rss) for s in samples],
        color="#17becf",
        label="target RSS",
        linewidth=1.3,
    )
    _limit_lines(ax, limits)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: format_value(Unit.SIZE, max(y, 0.0))))
    ax.set_ylim(bottom=0)
    _finish(ax, "resident set size")
    return figure_svg(fig, f"load-rss-{key}")


def fault_mix_svg(faults: Mapping[str, int], *, key: str) -> str | None:
    """Model replies served per fault label, largest first, as horizontal bars."""
    counts = [(n, label) for label, n in ranked_faults(faults) if n > 0]
    if not counts:
        return None
    if len(counts) > _FAULT_BARS:
        rest = sum(n for n, _label in counts[_FAULT_BARS - 1 :])
        counts = [*counts[: _FAULT_BARS - 1], (rest, "other")]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 0.8 + 0.3 * len(counts)), layout="constrained")
    ax = fig.subplots()
    labels = [_short(label) for _n, label in reversed(counts)]
    values = [n for n, _label in reversed(counts)]
    colours = ["#2ca02c" if label == "clean" else "#d62728" for label in labels]
    if len(set(labels)) < len(labels):  # two labels cut to the same text: number them
        labels = [f"{index + 1}. {label}" for index, label in enumerate(labels)]
    bars = ax.barh(labels, values, color=colours)
    ax.bar_label(bars, padding=3, fontsize="small")
    ax.set_xlabel("model replies served")
    ax.margins(x=0.12)
    ax.grid(alpha=0.3, axis="x")
    return figure_svg(fig, f"load-faults-{key}")


def per_second(samples: Sequence[LoadSample], name: str) -> list[float]:
    """The rate of a running count (``requests``, ``errors`` …) between consecutive samples."""
    rates = []
    before_at, before = 0.0, 0
    for sample in samples:
        count = int(getattr(sample, name))
        span = sample.elapsed - before_at
        rates.append((count - before) / span if span > 0 else math.nan)
        before_at, before = sample.elapsed, count
    return rates


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _value(number: float | None) -> float:
    """A plot value; ``None`` (no data that second) becomes a gap."""
    return math.nan if number is None else float(number)


def _limit_lines(ax: Axes, limits: Sequence[tuple[str, float]]) -> None:
    for index, (label, limit) in enumerate(limits):
        colour = _LIMIT_COLOURS[index % len(_LIMIT_COLOURS)]
        ax.axhline(limit, color=colour, linestyle="--", linewidth=1, label=label.replace("$", r"\$"))


def _finish(ax: Axes, ylabel: str) -> None:
    ax.set_xlabel("elapsed (s)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
