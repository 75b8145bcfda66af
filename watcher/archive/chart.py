"""A condition's studies per month as an SVG bar chart, drawn by matplotlib (Agg backend: no
display needed) into a string: the command writes it beside the condition's page."""

from __future__ import annotations

import io

import matplotlib
from matplotlib.figure import Figure  # a Figure draws with Agg: no display, no pyplot state

#: The same chart gives the same file; text stays text (small, and readable as such).
STYLE = {"svg.hashsalt": "watcher-archive", "svg.fonttype": "none"}

#: Month labels shown at most along the axis (every n-th month past that).
MAX_LABELS = 18


def studies_per_month(counts: dict[str, int]) -> str:
    """The SVG of *counts* ('2026-11' -> studies, oldest first, no month missing)."""
    with matplotlib.rc_context(STYLE):
        return _draw(counts)


def _draw(counts: dict[str, int]) -> str:
    months = list(counts)
    figure = Figure(figsize=(max(4.0, min(12.0, 0.35 * len(months) + 2)), 2.6), dpi=96)
    axes = figure.add_subplot()
    axes.bar(range(len(months)), list(counts.values()), color="#3b6ea5", width=0.8)
    step = max(1, -(-len(months) // MAX_LABELS))
    axes.set_xticks(range(0, len(months), step), months[::step], rotation=45, ha="right",
                    fontsize=8)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_ylabel("studies", fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
