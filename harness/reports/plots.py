"""Plots for ``report.html`` as inline SVG text, drawn with matplotlib.

matplotlib is imported inside the functions (it takes about a second), so only writing
an HTML report pays for it. Figures are built with ``matplotlib.figure.Figure`` rather
than pyplot: no global figure state and no GUI backend, safe in any thread. The SVG is
deterministic (fixed hash salt, no date) and carries no URL: the XML prolog, the DOCTYPE
and the namespace declarations are dropped because the HTML parser puts inline ``<svg>``
(and ``xlink:href``) in the right namespaces by itself.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.metrics import Unit, format_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_WIDE_SPREAD = 20.0
"""Log x axis when the slowest case is this many times slower than the fastest."""
_NAMESPACE = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_LIMIT_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b")


def latency_svg(latencies: Sequence[float], limits: Sequence[tuple[str, float]], *, key: str) -> str | None:
    """An ECDF of case latencies with each latency SLO limit drawn as a dashed line; None when empty.

    ``limits`` are ``(label, seconds)``; ``key`` makes the SVG's element ids unique in the page.
    """
    if not latencies:
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    ax.ecdf(latencies, color="#1f77b4", label=f"{len(latencies)} cases")
    for index, (label, limit) in enumerate(limits):
        colour = _LIMIT_COLOURS[index % len(_LIMIT_COLOURS)]
        ax.axvline(limit, color=colour, linestyle="--", linewidth=1, label=_plain(label))
    smallest = min(latencies)
    if smallest > 0 and max(latencies) / smallest >= _WIDE_SPREAD:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_value(Unit.DURATION, x)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:.0%}"))
    ax.set_xlabel("latency (scenario time)")
    ax.set_ylabel("cases at or below")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return figure_svg(fig, key)


def figure_svg(fig: Figure, key: str) -> str:
    """``fig`` as an ``<svg>`` element ready to inline in HTML."""
    import matplotlib as mpl

    buffer = io.StringIO()
    # svg.hashsalt fixes the generated ids (determinism) and differs per plot (unique in the page)
    # text stays text (small, searchable); the page's own sans-serif font draws it
    with mpl.rc_context(
        {"svg.hashsalt": f"harness-{key}", "svg.fonttype": "none", "font.sans-serif": ["DejaVu Sans"]}
    ):
        fig.savefig(buffer, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type")))
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    head, _, body = svg.partition(">")
    return _NAMESPACE.sub("", head) + ">" + body.strip()


def _plain(text: str) -> str:
    """Text matplotlib shows as is (a ``$`` would start mathtext)."""
    return text.replace("$", r"\$")
