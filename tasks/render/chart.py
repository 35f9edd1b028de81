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

from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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


def build_figure(c: Mapping[str, Any], width_in: float = 6.3) -> Figure:
    """The matplotlib figure behind render_chart; exposed so callers can tweak or save as SVG."""
    panels = _panels(c)
    prev = c.get("previous") or None
    has_prev = bool(prev and prev.get("totals"))
    cur_label = _cap(nfc(c["period"]["label"]))
    prev_label = _cap(nfc(prev.get("label") or "Kỳ trước")) if has_prev else ""
    ncols = min(3, max(1, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    with plt.rc_context({"font.family": FONT_FAMILY, "font.size": 8, "svg.hashsalt": "baocao"}):
        fig = Figure(figsize=(width_in, 0.6 + 2.1 * nrows), dpi=200)
        axes = fig.subplots(nrows, ncols, squeeze=False)
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
            title = "\n".join(textwrap.wrap(label, 34)[:3])
            if unit:
                title += f"\n({unit})"
            ax.set_title(title, fontsize=7.5)
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
        handles = [matplotlib.patches.Patch(color=CURRENT_COLOUR, label=cur_label)]
        if has_prev:
            handles.insert(0, matplotlib.patches.Patch(color=PREVIOUS_COLOUR, label=prev_label))
        fig.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False, fontsize=8)
        fig.tight_layout(rect=(0, 0.07, 1, 1), h_pad=1.5)
    return fig


def render_chart(consolidation: Mapping[str, Any]) -> bytes:
    """PNG bytes of the main-indicator chart; identical input gives identical bytes (no timestamp)."""
    fig = build_figure(consolidation)
    buf = io.BytesIO()
    with plt.rc_context({"font.family": FONT_FAMILY}):
        fig.savefig(buf, format="png", metadata={"Software": None}, facecolor="white")
    return buf.getvalue()
