"""Render the consolidated report as a Decree 30/2020 administrative document (.docx).

docxtpl fills templates/report/bao-cao.docx (built by templates/report/build_template.py) from the
consolidation dict; all wording comes from tasks.render.prose so the .docx and other outputs agree.
Two things a template cannot express are fixed afterwards with python-docx: the rule under the
issuing body, whose length depends on the name, and the annex column widths, whose number
depends on the indicators (the annex is split into one table per kind of indicator, so it fits a
landscape page up to about twenty indicators).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage

from tasks.render import prose
from tasks.render.chart import render_chart
from tasks.render.vietnamese_dates import format_date, format_date_line, format_number, nfc

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "templates" / "report" / "bao-cao.docx"

NBSP = "\u00a0"
ANNEX_TITLE = "PHỤ LỤC: SỐ LIỆU CHI TIẾT THEO ĐƠN VỊ"
CHART_WIDTH_MM = 160

# Landscape annex: page 297 mm minus margins 30 + 15.
ANNEX_WIDTH_MM = 297 - 30 - 15
ANNEX_FIXED_MM = {"no": 10, "name": 52, "status": 22}
ANNEX_NAME_MAX_MM = 80  # with few indicators the unit name gets the room, up to this width
ANNEX_VALUE_MAX_MM = 18  # ... and the value columns no wider than this
ANNEX_MAX_COLUMNS = 12  # (252 - 84) / 12 = 14 mm: '1.250' at 9-10 pt still fits on one line
ANNEX_PART_TITLES = {"form": "Hình thức tuyên truyền", "topic": "Nội dung tuyên truyền",
                     "other": "Chỉ tiêu khác"}
ROMAN_PARTS = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"]
HEADER_LEFT_COL_MM = 62


def _deep_nfc(value: Any) -> Any:
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, Mapping):
        return {k: _deep_nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_nfc(v) for v in value]
    return value


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _annex_column(ind: Mapping[str, Any]) -> dict[str, str]:
    unit = nfc(ind.get("unit", "") or "")
    return {"code": ind["code"], "label": nfc(ind["label"]), "unit": unit,
            "unit_note": f"({unit})" if unit else "",
            "unit_suffix": f" (đơn vị tính: {unit})" if unit else ""}


def annex_column_groups(c: Mapping[str, Any]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Integer indicators split into the annex tables: forms of communication, then content topics.

    Indicators of another kind (or with no group) get a table of their own; a group of more than
    ANNEX_MAX_COLUMNS indicators is cut into even chunks so no table is wider than the page.
    """
    kinds = {g["code"]: g.get("kind") for g in c.get("groups", [])}
    integer = [i for i in c.get("indicators", []) if i.get("type") == "integer"]
    buckets: dict[str, list[Mapping[str, Any]]] = {k: [] for k in ANNEX_PART_TITLES}
    for ind in integer:
        kind = kinds.get(ind.get("group"))
        buckets[kind if kind in ("form", "topic") else "other"].append(ind)
    if not buckets["form"] and not buckets["topic"]:
        buckets = {"": integer}  # no grouping at all: one table, no part heading
    out: list[tuple[str, list[Mapping[str, Any]]]] = []
    for kind, inds in buckets.items():
        if not inds:
            continue
        n_chunks = math.ceil(len(inds) / ANNEX_MAX_COLUMNS)
        size = math.ceil(len(inds) / n_chunks)
        for k in range(n_chunks):
            out.append((kind, inds[k * size:(k + 1) * size]))
    return out


def annex_data(c: Mapping[str, Any]) -> dict[str, Any]:
    """The annex: one table per part (forms, topics), every expected unit in config order in each,
    blank values when the unit has no accepted report, and a totals row."""
    comp = c.get("completeness", {})
    expected = comp.get("expected") or list(c.get("units", {}))
    accepted = set(comp.get("accepted", []))
    values = c.get("values_by_unit", {})
    totals = c.get("totals", {})
    accepted_count = comp.get("accepted_count", len(accepted))
    totals_status = f"{accepted_count}/{len(expected)} đơn vị"

    def fmt(v: Any) -> str:
        return format_number(v) if v is not None else ""

    groups = annex_column_groups(c)
    kinds = list(dict.fromkeys(kind for kind, _ in groups))
    parts = []
    seen: set[str] = set()
    for n, (kind, inds) in enumerate(groups):
        title = ANNEX_PART_TITLES.get(kind, "")
        if title and len(kinds) > 1:
            title = f"{ROMAN_PARTS[kinds.index(kind)]}. {title}"
        if title and kind in seen:
            title += " (tiếp theo)"
        seen.add(kind)
        rows = []
        for no, unit in enumerate(expected, start=1):
            unit_values = values.get(unit, {}) if unit in accepted else {}
            rows.append({"no": str(no), "code": unit, "name": prose.unit_name(c, unit),
                         "cells": [fmt(unit_values.get(i["code"])) for i in inds],
                         "status": prose.unit_status(c, unit)})
        parts.append({
            "title": title,
            "columns": [_annex_column(i) for i in inds],
            "rows": rows,
            "totals": [fmt(totals.get(i["code"])) for i in inds],
            "totals_status": totals_status,
            "last": n == len(groups) - 1,
        })
    period = c["period"]
    note = "Ô để trống: đơn vị chưa có báo cáo hợp lệ."
    if period.get("cutoff_start") and period.get("cutoff_end"):
        note = (f"Số liệu chốt từ {format_date(period['cutoff_start'])} đến "
                f"{format_date(period['cutoff_end'])}; ô để trống: đơn vị chưa có báo cáo hợp lệ.")
    return {
        "title": ANNEX_TITLE,
        "subtitle": f"(Kèm theo Báo cáo số {c['organisation'].get('document_number', '…')} "
                    f"{format_date(c['generated_at'])})",
        "parts": parts,
        # kept for templates written before the annex was split: all columns in one table
        "columns": [col for part in parts for col in part["columns"]],
        "rows": [{**row, "cells": [v for part in parts for v in part["rows"][r]["cells"]]}
                 for r, row in enumerate(parts[0]["rows"])] if parts else [],
        "totals": [v for part in parts for v in part["totals"]],
        "totals_status": totals_status,
        "note": note,
    }


def subject_line(c: Mapping[str, Any]) -> str:
    """Subject under 'BÁO CÁO'; the period label is bound with no-break spaces so it never splits."""
    label = nfc(c["period"]["label"])
    return nfc(f"{c['report_title']} {label.replace(' ', NBSP)}".strip())


def build_context(consolidation: Mapping[str, Any], tpl: DocxTemplate | None = None) -> dict[str, Any]:
    """Everything the template needs; the chart is an InlineImage only when a template is given."""
    c = _deep_nfc(dict(consolidation))
    org = c["organisation"]
    prev = c.get("previous") or None
    period_label = c["period"]["label"]
    summary = prose.summary_rows(c)
    chart_caption = f"Biểu đồ 1. Một số chỉ tiêu chủ yếu {period_label}"
    if prev:
        chart_caption += f" so với {prev.get('label', 'kỳ trước')}"
    ctx: dict[str, Any] = {
        "org": org,
        "date_line": format_date_line(org["place"], c["generated_at"]),
        "subject": subject_line(c),
        "intro": prose.intro_paragraphs(c),
        "sections": prose.build_sections(c),
        "closing": prose.closing_paragraph(c),
        "summary": summary,
        "head": {"current": _cap(period_label),
                 "previous": _cap(prev.get("label", "Kỳ trước")) if prev else "Kỳ trước"},
        "chart_caption": chart_caption,
        "table_caption": f"Bảng 1. Tổng hợp một số chỉ tiêu chủ yếu {period_label}",
        # the template writes the "- " bullet itself
        "recipients": [r[2:] if r.startswith("- ") else r for r in c.get("recipients", [])],
        "signer": c.get("signer", {}),
        "annex": annex_data(c),
        "chart": "",
    }
    if tpl is not None and summary:
        ctx["chart"] = InlineImage(tpl, io.BytesIO(render_chart(c)), width=Mm(CHART_WIDTH_MM))
    return ctx


# ---------------------------------------------------------------- post-processing


def estimate_text_width_mm(text: str, size_pt: float, bold: bool = True) -> float:
    """Rough Times New Roman width, enough to size a rule under a short heading."""
    em = size_pt * 25.4 / 72
    width = 0.0
    for ch in text:
        if ch == " ":
            width += 0.25
        elif ch.isupper():
            width += 0.74 if bold else 0.70
        else:
            width += 0.50
    return width * em


def _fit_issuer_rule(doc: Any, issuing_body: str) -> None:
    """Decree 30: the rule under the issuing body is 1/3–1/2 of the name's length, centred."""
    table = doc.tables[0]
    cell = table.cell(0, 0)
    rule_para = next((p for p in cell.paragraphs if p._p.find(qn("w:pPr") + "/" + qn("w:pBdr")) is not None),
                     None)
    if rule_para is None:
        return
    length = min(HEADER_LEFT_COL_MM * 0.8, max(8.0, estimate_text_width_mm(issuing_body, 13) * 0.4))
    side = (HEADER_LEFT_COL_MM - length) / 2
    rule_para.paragraph_format.left_indent = Mm(side)
    rule_para.paragraph_format.right_indent = Mm(side)


def annex_widths_mm(n_values: int) -> list[float]:
    """Column widths of an annex table: STT, unit name, n indicator columns, status.

    Value columns share what the fixed columns leave of the landscape text width, capped so a
    table with few indicators gives the room to the unit names instead; never wider than the page.
    """
    n = max(1, n_values)
    fixed = ANNEX_FIXED_MM["no"] + ANNEX_FIXED_MM["status"]
    each = min(ANNEX_VALUE_MAX_MM, (ANNEX_WIDTH_MM - fixed - ANNEX_FIXED_MM["name"]) / n)
    name = min(ANNEX_NAME_MAX_MM, ANNEX_WIDTH_MM - fixed - n * each)
    return [ANNEX_FIXED_MM["no"], name, *([each] * n_values), ANNEX_FIXED_MM["status"]]


def annex_tables(doc: Any) -> list[Any]:
    """The tables after the section break that starts the landscape annex."""
    body = doc.element.body
    tables = []
    in_annex = False
    for child in body.iterchildren():
        if child.tag == qn("w:p") and child.find(qn("w:pPr") + "/" + qn("w:sectPr")) is not None:
            in_annex = True
        elif child.tag == qn("w:tbl") and in_annex:
            tables.append(next(t for t in doc.tables if t._tbl is child))
    return tables


def _set_table_width(table: Any, widths_mm: list[float]) -> None:
    twips = [int(Mm(w).twips) for w in widths_mm]
    grid = table._tbl.tblGrid
    for col in list(grid):
        grid.remove(col)
    for w in twips:
        col = OxmlElement("w:gridCol")
        col.set(qn("w:w"), str(w))
        grid.append(col)
    tblw = table._tbl.tblPr.find(qn("w:tblW"))
    if tblw is not None:  # an explicit total so Word does not auto-size a fixed-layout table
        tblw.set(qn("w:w"), str(sum(twips)))
        tblw.set(qn("w:type"), "dxa")
    for tr in table._tbl.tr_lst:
        tcs = tr.tc_lst
        if len(tcs) != len(twips):
            continue
        for tc, w in zip(tcs, twips, strict=True):
            tcpr = tc.get_or_add_tcPr()
            tcw = tcpr.find(qn("w:tcW"))
            if tcw is None:
                tcw = OxmlElement("w:tcW")
                tcpr.insert(0, tcw)
            tcw.set(qn("w:w"), str(w))
            tcw.set(qn("w:type"), "dxa")


def _fit_annex_tables(doc: Any) -> None:
    """Fixed widths for every annex table, computed from its own number of indicator columns."""
    for table in annex_tables(doc):
        n_cells = len(table._tbl.tr_lst[0].tc_lst) if table._tbl.tr_lst else 0
        if n_cells >= 3:
            _set_table_width(table, annex_widths_mm(n_cells - 3))


def render_report_docx(consolidation: dict, out_path: Path, template_path: Path | None = None) -> Path:
    """Write the consolidated report (.docx) for the People's Committee and return its path."""
    template_path = Path(template_path) if template_path else DEFAULT_TEMPLATE
    out_path = Path(out_path)
    tpl = DocxTemplate(str(template_path))
    ctx = build_context(consolidation, tpl)
    tpl.render(ctx, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    buf.seek(0)
    doc = Document(buf)
    _fit_issuer_rule(doc, ctx["org"]["issuing_body"])
    _fit_annex_tables(doc)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(out_path))
    return out_path
