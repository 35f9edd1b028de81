"""Bar chart of the main indicators (this period vs the previous one) as PNG bytes.

Small multiples, one panel per indicator, because the indicators have very different scales
(5 conferences next to 1.250 attendees would make most bars invisible on a shared axis).
Agg backend and no network; DejaVu Sans ships with matplotlib and covers Vietnamese diacritics.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

# No pyplot: a Figure saves itself through the Agg canvas (same PNG bytes); pyplot added 26 ms to the import.
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from tasks.render.vietnamese_dates import format_number, nfc  # noqa: E402

FONT_FAMILY = "DejaVu Sans"
CURRENT_COLOUR = "#1f4e79"
PREVIOUS_COLOUR = "#a6a6a6"


def _cap(text: str) -> str:
    # str.capitalize() would turn "quý I" into "Quý i".
    return text[:1].upper() + text[1:]


def _panels(c: Mapping[str, Any]) -> list[tuple[str, str, int | float | None, int | float | None]]:
    inds = {i["code"]: i for i in c.get("indicators", [])}
    prev_totals = (c.get("previous") or {}).get("totals") or {}
    out = []
    for code in c.get("main_indicators", []):
        if code not in inds:
            continue
        out.append((nfc(inds[code]["label"]), nfc(inds[code].get("unit", "") or ""),
                    c.get("totals", {}).get(code), prev_totals.get(code)))
    return out


# Characters per title line for a panel of a 6.3-inch figure with this many columns (7 pt).
WRAP_CHARS = {1: 70, 2: 48, 3: 34, 4: 26}
TITLE_LINE_IN = 0.13
BAR_AREA_IN = 1.15


def grid_shape(n_panels: int) -> tuple[int, int]:
    """Rows and columns: at most 4 per row, 4 panels as 2 × 2, 7-8 as 4 + 4 (not 3 + 3 + 1)."""
    if n_panels <= 3:
        ncols = max(1, n_panels)
    elif n_panels == 4:
        ncols = 2
    elif n_panels <= 6:
        ncols = 3
    else:
        ncols = 4
    return max(1, math.ceil(n_panels / ncols)), ncols


def panel_title(label: str, unit: str, ncols: int) -> str:
    """The full label wrapped to the panel width (never cut), the unit on its own line."""
    title = "\n".join(textwrap.wrap(label, WRAP_CHARS.get(ncols, 26)))
    return f"{title}\n({unit})" if unit else title


def build_figure(c: Mapping[str, Any], width_in: float = 6.3) -> Figure:
    """The matplotlib figure behind render_chart; exposed so callers can tweak or save as SVG."""
    panels = _panels(c)
    prev = c.get("previous") or None
    has_prev = bool(prev and prev.get("totals"))
    cur_label = _cap(nfc(c["period"]["label"]))
    prev_label = _cap(nfc((prev or {}).get("label") or "Kỳ trước")) if has_prev else ""
    # raw totals of periods with different numbers of reporting units: the legend says how many reported
    comp = c.get("completeness") or {}
    if comp.get("expected_count"):
        cur_label += f" ({format_number(comp.get('accepted_count', 0))}/{format_number(comp['expected_count'])} đơn vị)"
        if has_prev and prev and "accepted_count" in prev:
            prev_label += (f" ({format_number(prev['accepted_count'])}/"
                           f"{format_number(prev.get('expected_count', comp['expected_count']))} đơn vị)")
    nrows, ncols = grid_shape(len(panels))
    titles = [panel_title(label, unit, ncols) for label, unit, _, _ in panels]
    # each row is as tall as its bars plus its longest title, so the chart is no taller than needed
    row_lines = [max((t.count("\n") + 1 for t in titles[r * ncols:(r + 1) * ncols]), default=1)
                 for r in range(nrows)]
    height_in = 0.35 + sum(BAR_AREA_IN + 0.25 + TITLE_LINE_IN * n for n in row_lines)
    with matplotlib.rc_context({"font.family": FONT_FAMILY, "font.size": 8, "svg.hashsalt": "baocao"}):
        fig = Figure(figsize=(width_in, height_in), dpi=200)
        axes = fig.subplots(nrows, ncols, squeeze=False,
                            gridspec_kw={"height_ratios": [BAR_AREA_IN + TITLE_LINE_IN * n for n in row_lines]})
        for idx, ax in enumerate(axes.flat):
            if idx >= len(panels):
                ax.set_visible(False)
                continue
            label, unit, cur, previous = panels[idx]
            names, values, colours = [], [], []
            if has_prev:
                names.append(prev_label)
                values.append(previous or 0)
                colours.append(PREVIOUS_COLOUR)
            names.append(cur_label)
            values.append(cur or 0)
            colours.append(CURRENT_COLOUR)
            xs = list(range(len(values)))
            bars = ax.bar(xs, values, color=colours, width=0.6)
            top = max(values) if max(values) > 0 else 1
            ax.set_ylim(0, top * 1.25)
            for bar, v in zip(bars, values, strict=True):
                ax.annotate(format_number(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=8)
            ax.set_title(titles[idx], fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
        handles = [Patch(color=CURRENT_COLOUR, label=cur_label)]
        if has_prev:
            handles.insert(0, Patch(color=PREVIOUS_COLOUR, label=prev_label))
        fig.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False, fontsize=8)
        fig.tight_layout(rect=(0, 0.35 / height_in, 1, 1), h_pad=1.0, w_pad=1.0)
    return fig


def render_chart(consolidation: Mapping[str, Any]) -> bytes:
    """PNG bytes of the main-indicator chart; identical input gives identical bytes (no timestamp)."""
    fig = build_figure(consolidation)
    buf = io.BytesIO()
    with matplotlib.rc_context({"font.family": FONT_FAMILY}):
        fig.savefig(buf, format="png", metadata={"Software": None}, facecolor="white")
    return buf.getvalue()
