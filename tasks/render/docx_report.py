"""Render the consolidated report as a Decree 30/2020 administrative document (.docx).

docxtpl fills templates/report/bao-cao.docx (built by templates/report/build_template.py) from the
consolidation dict; all wording comes from tasks.render.prose so the .docx and other outputs agree.
Two things a template cannot express are fixed afterwards with python-docx: the rule under the
issuing body, whose length depends on the name, and the annex column widths, whose number
depends on the indicators.
"""

from __future__ import annotations

import io
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
ANNEX_FIXED_MM = {"no": 12, "name": 46, "status": 22}
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


def annex_data(c: Mapping[str, Any]) -> dict[str, Any]:
    """Rows of the annex table: every expected unit in config order, blank values when not accepted."""
    comp = c.get("completeness", {})
    integer = [i for i in c.get("indicators", []) if i.get("type") == "integer"]
    expected = comp.get("expected") or list(c.get("units", {}))
    accepted = set(comp.get("accepted", []))
    values = c.get("values_by_unit", {})
    rows = []
    for n, unit in enumerate(expected, start=1):
        unit_values = values.get(unit, {}) if unit in accepted else {}
        rows.append({
            "no": str(n),
            "code": unit,
            "name": prose.unit_name(c, unit),
            "cells": [format_number(unit_values.get(i["code"])) if unit_values.get(i["code"]) is not None
                       else "" for i in integer],
            "status": prose.unit_status(c, unit),
        })
    totals = c.get("totals", {})
    period = c["period"]
    accepted_count = comp.get("accepted_count", len(accepted))
    return {
        "title": ANNEX_TITLE,
        "subtitle": f"(Kèm theo Báo cáo số {c['organisation'].get('document_number', '…')} "
                    f"{format_date(c['generated_at'])})",
        "columns": [{"code": i["code"], "label": nfc(i["label"]), "unit": nfc(i.get("unit", "") or ""),
                     "unit_note": f"({nfc(i['unit'])})" if i.get("unit") else "",
                     "unit_suffix": f" (đơn vị tính: {nfc(i['unit'])})" if i.get("unit") else ""}
                    for i in integer],
        "rows": rows,
        "totals": [format_number(totals.get(i["code"])) if totals.get(i["code"]) is not None else ""
                   for i in integer],
        "totals_status": f"{accepted_count}/{len(expected)} đơn vị",
        "note": f"Số liệu chốt từ {format_date(period['cutoff_start'])} đến "
                f"{format_date(period['cutoff_end'])}; ô để trống: đơn vị chưa có báo cáo hợp lệ."
                if period.get("cutoff_start") and period.get("cutoff_end") else
                "Ô để trống: đơn vị chưa có báo cáo hợp lệ.",
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


def _fit_annex_table(doc: Any, n_values: int) -> None:
    """Give the unit name and status fixed widths and share the rest among indicator columns."""
    table = doc.tables[-1]
    grid = table._tbl.tblGrid
    fixed = ANNEX_FIXED_MM["no"] + ANNEX_FIXED_MM["name"] + ANNEX_FIXED_MM["status"]
    each = (ANNEX_WIDTH_MM - fixed) / max(1, n_values)
    widths = [ANNEX_FIXED_MM["no"], ANNEX_FIXED_MM["name"], *([each] * n_values), ANNEX_FIXED_MM["status"]]
    for col in list(grid):
        grid.remove(col)
    for w in widths:
        col = OxmlElement("w:gridCol")
        col.set(qn("w:w"), str(int(Mm(w).twips)))
        grid.append(col)
    for tr in table._tbl.tr_lst:
        tcs = tr.tc_lst
        if len(tcs) != len(widths):
            continue
        for tc, w in zip(tcs, widths, strict=True):
            tcpr = tc.get_or_add_tcPr()
            tcw = tcpr.find(qn("w:tcW"))
            if tcw is None:
                tcw = OxmlElement("w:tcW")
                tcpr.insert(0, tcw)
            tcw.set(qn("w:w"), str(int(Mm(w).twips)))
            tcw.set(qn("w:type"), "dxa")


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
    _fit_annex_table(doc, len(ctx["annex"]["columns"]))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(out_path))
    return out_path
