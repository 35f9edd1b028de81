"""Render the consolidated report as a Decree 30/2020 administrative document (.docx).

docxtpl fills templates/report/bao-cao.docx (built by templates/report/build_template.py) from the
consolidation dict; all wording comes from tasks.render.prose so the .docx and other outputs agree.
Two things a template cannot express are fixed afterwards with python-docx: the rule under the
issuing body, whose length depends on the name, and the annex column widths, whose number
depends on the indicators (the annex is split into one table per kind of indicator, so it fits a
landscape page up to about twenty indicators).

Draft and final: without `FinalInfo` the document is a draft (dự thảo): "DỰ THẢO" at the top of
every page, "Số:" and the place-date line left blank as a clerk leaves them for the văn thư. With
`FinalInfo` (document number and issue date, recorded at approval) it carries the number and the
issue date in Decree 30 form, and no draft marking. The same inputs give the same bytes.

Scale: up to ANNEX_UNIT_LIMIT units the annex lists every unit; beyond it the annex is a summary
by reporting status (a few rows whatever the number of units) and the per-unit figures are the
annex workbook (.xlsx) alone, so the .docx and its PDF stay the same size at 10,000 units.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage

from tasks.periods import TZ
from tasks.render import prose
from tasks.render.chart import render_chart
from tasks.render.vietnamese_dates import format_date, format_date_line, format_number, nfc, to_local_date
from tasks.resources import templates_dir

DEFAULT_TEMPLATE = templates_dir() / "report" / "bao-cao.docx"

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

DRAFT_MARK = "DỰ THẢO"
BLANK = NBSP * 6  # the gap a clerk leaves for the văn thư to write the number or the day by hand
# Per-unit annex rows up to this many units; beyond it a summary by status (the .xlsx has every unit).
ANNEX_UNIT_LIMIT = 200
SUMMARY_ANNEX_TITLE = "PHỤ LỤC: TỔNG HỢP SỐ LIỆU THEO TÌNH HÌNH BÁO CÁO"
_NUMBER = re.compile(r"^\d+[A-Za-z]?(/[\w.\-–]+)*$")


@dataclass(frozen=True)
class FinalInfo:
    """What approval records: the document number (số ký hiệu, '15/BC-SNV' or just '15') and the
    issue date (ngày ban hành). Rendering with it makes the document final."""

    number: str
    issued_on: date

    def __post_init__(self) -> None:
        number = nfc(str(self.number)).strip()
        if not number or not _NUMBER.match(number):
            raise ValueError(f"Số văn bản không hợp lệ: {self.number!r} (ví dụ: 15/BC-SNV).")
        object.__setattr__(self, "number", number)
        issued: Any = self.issued_on
        if isinstance(issued, str):  # as typed at approval: '2021-03-19' or '19/03/2021'
            text = issued.strip()
            m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
            try:
                issued = date(int(m[3]), int(m[2]), int(m[1])) if m else date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"Ngày ban hành không hợp lệ: {text!r} (ví dụ: 19/03/2021).") from None
        elif isinstance(issued, datetime):
            issued = to_local_date(issued)
        if not isinstance(issued, date):
            raise ValueError(f"Ngày ban hành không hợp lệ: {issued!r} (ví dụ: 19/03/2021).")
        object.__setattr__(self, "issued_on", issued)


def number_suffix(document_number: str) -> str:
    """'/BC-SNV' from the configured '…/BC-SNV' (or 'BC-SNV')."""
    text = nfc(document_number or "").strip()
    if "/" in text:
        return text[text.index("/"):]
    return f"/{text}" if text else ""


def document_number(c: Mapping[str, Any], final: FinalInfo | None) -> str:
    """The number as printed after 'Số:': blank in a draft, '15/BC-SNV' once issued."""
    suffix = number_suffix(c["organisation"].get("document_number", ""))
    if final is None:
        return f"{BLANK}{suffix}"
    return final.number if "/" in final.number else f"{final.number}{suffix}"


def date_line(c: Mapping[str, Any], final: FinalInfo | None) -> str:
    """'Tuyên Quang, ngày 05 tháng 4 năm 2021' once issued; a draft leaves day, month and year blank."""
    place = c["organisation"]["place"]
    if final is None:
        gap = NBSP * 4
        return nfc(f"{place}, ngày{gap}tháng{gap}năm 20..")
    return format_date_line(place, final.issued_on)


_PLAIN = (int, float, bool, type(None))  # what holds no text: kept as is (most of a province's figures)


def _deep_nfc(value: Any) -> Any:
    """Every text of a consolidation in NFC. Numbers are passed over without a call each: a province's
    per-unit figures are tens of thousands of them."""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, Mapping):
        return {k: v if type(v) in _PLAIN else _deep_nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _PLAIN else _deep_nfc(v) for v in value]
    return value


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _annex_column(ind: Mapping[str, Any], number: int) -> dict[str, str]:
    """One indicator column: headed by its number '(1)' (codes are the Office's internals), named in
    the legend under the table."""
    unit = nfc(ind.get("unit", "") or "")
    return {"code": ind["code"], "head": f"({number})", "label": nfc(ind["label"]), "unit": unit,
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


def annex_data(c: Mapping[str, Any], final: FinalInfo | None = None,
               unit_limit: int = ANNEX_UNIT_LIMIT) -> dict[str, Any]:
    """The annex: one table per part (forms, topics), every expected unit in config order in each,
    blank values when the unit has no accepted report, and a totals row.

    Past `unit_limit` units the rows are the reporting statuses instead of the units (see
    summary_rows_by_status), so the table has a handful of rows whatever the number of units.
    """
    comp = c.get("completeness", {})
    expected = comp.get("expected") or list(c.get("units", {}))
    accepted = set(comp.get("accepted", []))
    values = c.get("values_by_unit", {})
    totals = c.get("totals", {})
    accepted_count = comp.get("accepted_count", len(accepted))
    totals_status = f"{format_number(accepted_count)}/{format_number(len(expected))} đơn vị"

    def fmt(v: Any) -> str:
        return format_number(v) if v is not None else ""

    groups = annex_column_groups(c)
    summarised = len(expected) > unit_limit
    by_status = summary_rows_by_status(c, [i for _, inds in groups for i in inds]) if summarised else []
    kinds = list(dict.fromkeys(kind for kind, _ in groups))
    parts: list[dict[str, Any]] = []
    seen: set[str] = set()
    numbered = 0  # columns are numbered across parts, so each number names one indicator
    for n, (kind, inds) in enumerate(groups):
        title = ANNEX_PART_TITLES.get(kind, "")
        if title and len(kinds) > 1:
            title = f"{ROMAN_PARTS[kinds.index(kind)]}. {title}"
        if title and kind in seen:
            title += " (tiếp theo)"
        seen.add(kind)
        rows = []
        if summarised:
            for no, (label, members, sums) in enumerate(by_status, start=1):
                rows.append({"no": str(no), "code": "", "name": label,
                             "cells": [fmt(sums.get(i["code"])) for i in inds],
                             "status": f"{format_number(members)} đơn vị"})
        else:
            statuses = prose.unit_statuses(c)
            for no, unit in enumerate(expected, start=1):
                unit_values = values.get(unit, {}) if unit in accepted else {}
                rows.append({"no": str(no), "code": unit, "name": prose.unit_name(c, unit),
                             "cells": [fmt(unit_values.get(i["code"])) for i in inds],
                             "status": statuses.get(unit, prose.STATUS_MISSING)})
        columns = [_annex_column(i, numbered + k) for k, i in enumerate(inds, start=1)]
        numbered += len(inds)
        parts.append({
            "title": title,
            "columns": columns,
            "rows": rows,
            "totals": [fmt(totals.get(i["code"])) for i in inds],
            "totals_status": totals_status,
            "last": n == len(groups) - 1,
        })
    period = c["period"]
    blank_note = "ô để trống: đơn vị chưa có báo cáo hợp lệ"
    if summarised:
        blank_note = (f"số liệu chi tiết của từng đơn vị ({format_number(len(expected))} đơn vị) "
                      "tại tệp Excel phụ lục kèm theo")
    note = blank_note[:1].upper() + blank_note[1:] + "."
    if period.get("cutoff_start") and period.get("cutoff_end"):
        note = (f"Số liệu chốt từ {format_date(period['cutoff_start'])} đến "
                f"{format_date(period['cutoff_end'])}; {blank_note}.")
    issued = format_date(final.issued_on) if final else f"ngày{NBSP * 4}tháng{NBSP * 4}năm 20.."
    return {
        "title": SUMMARY_ANNEX_TITLE if summarised else ANNEX_TITLE,
        "subtitle": f"(Kèm theo Báo cáo số {document_number(c, final)} {issued})",
        "parts": parts,
        # kept for templates written before the annex was split: all columns in one table
        "columns": [col for part in parts for col in part["columns"]],
        "rows": [{**row, "cells": [v for part in parts for v in part["rows"][r]["cells"]]}
                 for r, row in enumerate(parts[0]["rows"])] if parts else [],
        "totals": [v for part in parts for v in part["totals"]],
        "totals_status": totals_status,
        "note": note,
    }


def summary_rows_by_status(c: Mapping[str, Any], inds: list[Mapping[str, Any]]
                           ) -> list[tuple[str, int, dict[str, int | float]]]:
    """(row label, number of units, sums per indicator) for each reporting status, in one pass.

    Units without an accepted report have no figures, so their rows are blank.
    """
    comp = c.get("completeness", {})
    expected = comp.get("expected") or list(c.get("units", {}))
    accepted, late = set(comp.get("accepted", [])), set(comp.get("late", []))
    rejected = set(comp.get("rejected", []))
    values = c.get("values_by_unit", {})
    codes = [i["code"] for i in inds]
    groups: dict[str, tuple[list[str], dict[str, int | float]]] = {
        prose.STATUS_ON_TIME: ([], {}), prose.STATUS_LATE: ([], {}),
        prose.STATUS_REJECTED: ([], {}), prose.STATUS_MISSING: ([], {})}
    for unit in expected:
        if unit in accepted:
            status = prose.STATUS_LATE if unit in late else prose.STATUS_ON_TIME
        else:
            status = prose.STATUS_REJECTED if unit in rejected else prose.STATUS_MISSING
        members, sums = groups[status]
        members.append(unit)
        if unit in accepted:
            unit_values = values.get(unit, {})
            for code in codes:
                v = unit_values.get(code)
                if isinstance(v, int | float):
                    sums[code] = sums.get(code, 0) + v
    labels = {prose.STATUS_ON_TIME: "Các đơn vị báo cáo đúng hạn",
              prose.STATUS_LATE: "Các đơn vị báo cáo muộn",
              prose.STATUS_REJECTED: "Các đơn vị có báo cáo bị trả lại, chưa gửi lại",
              prose.STATUS_MISSING: "Các đơn vị chưa báo cáo"}
    return [(labels[s], len(members), sums) for s, (members, sums) in groups.items() if members]


def subject_line(c: Mapping[str, Any]) -> str:
    """Subject under 'BÁO CÁO'; the period label is bound with no-break spaces so it never splits."""
    label = nfc(c["period"]["label"])
    return nfc(f"{c['report_title']} {label.replace(' ', NBSP)}".strip())


def build_context(consolidation: Mapping[str, Any], tpl: DocxTemplate | None = None, *,
                  final: FinalInfo | None = None, unit_limit: int = ANNEX_UNIT_LIMIT) -> dict[str, Any]:
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
        "org": {**org, "document_number": document_number(c, final)},
        "date_line": date_line(c, final),
        "draft": final is None,
        "subject": subject_line(c),
        "intro": prose.intro_paragraphs(c),
        "sections": prose.build_sections(c),
        "closing": prose.closing_paragraph(c),
        "summary": summary,
        "head": {"current": _cap(period_label),
                 "previous": _cap(prev.get("label", "Kỳ trước")) if prev else "Kỳ trước",
                 "ytd": _cap(prose.ytd_label(c))},  # where the year-to-date sum starts, as the prose says it
        "chart_caption": chart_caption,
        "table_caption": f"Bảng 1. Tổng hợp một số chỉ tiêu chủ yếu {period_label}",
        # the template writes the "- " bullet itself
        "recipients": [r[2:] if r.startswith("- ") else r for r in c.get("recipients", [])],
        "signer": c.get("signer", {}),
        "annex": annex_data(c, final, unit_limit),
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


def _header_paragraph(header: Any, text: str) -> None:
    """A right-aligned bold line at the top of a header (before the page number, if any)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    first = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
    p = first.insert_paragraph_before() if first.text or first._p.findall(qn("w:fldSimple")) else first
    p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    p.paragraph_format.space_after = Pt(0)
    run = p.add_run(text)
    run.bold = True
    run.font.size = Pt(13)
    run.font.name = "Times New Roman"


def _mark_draft(doc: Any) -> None:
    """'DỰ THẢO' at the top right of every page: the first page's header and the running one
    (the landscape annex section inherits it)."""
    section = doc.sections[0]
    headers = [section.header]
    if section.different_first_page_header_footer:
        headers.insert(0, section.first_page_header)
    for header in headers:
        header.is_linked_to_previous = False
        _header_paragraph(header, DRAFT_MARK)


def _fix_core_properties(doc: Any, c: Mapping[str, Any], final: FinalInfo | None, title: str) -> None:
    """Core properties from the inputs, never the clock: issue date when final, generation time when draft."""
    props = doc.core_properties
    if final is not None:
        stamp = datetime.combine(final.issued_on, time(8, 0), TZ)
    else:
        stamp = datetime.fromisoformat(str(c["generated_at"]).replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=TZ)
    stamp = stamp.astimezone(UTC).replace(tzinfo=None)  # core.xml stores UTC ('…Z')
    props.created = props.modified = stamp
    props.last_printed = stamp
    props.author = props.last_modified_by = "baocao"
    props.revision = 1
    props.title = title
    props.subject = f"{DRAFT_MARK}" if final is None else final.number
    props.language = "vi-VN"


def stable_zip(data: bytes) -> bytes:
    """Same parts, same bytes: fixed entry timestamps and attributes, entries in their original order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def render_report_docx(consolidation: dict, out_path: Path, template_path: Path | None = None, *,
                       final: FinalInfo | None = None, unit_limit: int = ANNEX_UNIT_LIMIT) -> Path:
    """Write the consolidated report (.docx) for the People's Committee and return its path.

    Without `final` it is the draft shown for approval; with it, the document as issued.
    """
    template_path = Path(template_path) if template_path else DEFAULT_TEMPLATE
    out_path = Path(out_path)
    tpl = DocxTemplate(str(template_path))
    ctx = build_context(consolidation, tpl, final=final, unit_limit=unit_limit)
    tpl.render(ctx, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    buf.seek(0)
    doc = Document(buf)
    _fit_issuer_rule(doc, ctx["org"]["issuing_body"])
    _fit_annex_tables(doc)
    if final is None:
        _mark_draft(doc)
    _fix_core_properties(doc, consolidation, final, ctx["subject"].replace(NBSP, " "))
    out = io.BytesIO()
    doc.save(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(stable_zip(out.getvalue()))
    return out_path
