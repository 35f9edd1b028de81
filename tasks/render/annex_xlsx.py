"""Spreadsheet annex of the consolidated report (.xlsx, xlsxwriter).

The leadership and the People's Committee often want the per-unit figures to re-use; a sheet is
easier to work with than the .docx annex. Totals are written as values (the computed totals), not
formulas, so the file reads the same in any viewer and cannot disagree with the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from tasks.periods import TZ
from tasks.render import prose
from tasks.render.vietnamese_dates import format_number, nfc, to_local_date

FONT = "Times New Roman"
SHEET_ANNEX = "Phụ lục"
SHEET_STATUS = "Tình hình báo cáo"
SHEET_TEXTS = "Nội dung báo cáo"  # every unit's text in full (the report lists at most prose.TEXTS_SHOWN points)


def _received_times(c: Mapping[str, Any]) -> dict[str, str]:
    """When each unit's counted submission arrived: optional completeness.received_at, else rejections."""
    out: dict[str, str] = {}
    for r in c.get("rejected", []):
        if r.get("received_at") and r.get("unit"):
            out[r["unit"]] = max(out.get(r["unit"], ""), r["received_at"])
    out.update((c.get("completeness") or {}).get("received_at") or {})
    return out


def _format_received(value: str) -> str:
    """'16/03/2021 10:15' in Vietnam time; the raw text if it is not ISO 8601."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if dt.tzinfo is not None:
        dt = dt.astimezone(TZ)
    return dt.strftime("%d/%m/%Y %H:%M")


def render_annex_xlsx(consolidation: Mapping[str, Any], out_path: Path) -> Path:
    """Write the per-unit figures and the reporting status to an .xlsx file; return its path."""
    c = consolidation
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    comp = c.get("completeness", {})
    expected = comp.get("expected") or list(c.get("units", {}))
    accepted = set(comp.get("accepted", []))
    integer = [i for i in c.get("indicators", []) if i.get("type") == "integer"]
    values = c.get("values_by_unit", {})
    totals = c.get("totals", {})
    statuses = prose.unit_statuses(c)

    # in_memory: the parts are built in memory and zipped once (no temporary file per part; a tenth faster)
    wb = xlsxwriter.Workbook(str(out_path), {"strings_to_numbers": False, "in_memory": True})
    # Fixed creation date keeps identical input -> identical file (xlsxwriter otherwise stamps "now").
    created = to_local_date(c.get("generated_at") or "2000-01-01")
    wb.set_properties({"title": nfc(prose.report_subject(c)), "author": "baocao",
                       "created": datetime(created.year, created.month, created.day)})
    base = {"font_name": FONT, "font_size": 11, "border": 1, "valign": "vcenter"}
    title_fmt = wb.add_format({"font_name": FONT, "font_size": 14, "bold": True, "align": "center"})
    sub_fmt = wb.add_format({"font_name": FONT, "font_size": 12, "italic": True, "align": "center"})
    head_fmt = wb.add_format({**base, "bold": True, "text_wrap": True, "align": "center",
                              "bg_color": "#D9E1F2"})
    text_fmt = wb.add_format({**base, "text_wrap": True})
    centre_fmt = wb.add_format({**base, "align": "center"})
    num_fmt = wb.add_format({**base, "num_format": "#,##0"})
    total_label_fmt = wb.add_format({**base, "bold": True})
    total_num_fmt = wb.add_format({**base, "bold": True, "num_format": "#,##0"})

    # ---- sheet 1: units × integer indicators
    ws = wb.add_worksheet(SHEET_ANNEX)
    last_col = 2 + len(integer)
    ws.merge_range(0, 0, 0, last_col, "PHỤ LỤC: SỐ LIỆU CHI TIẾT THEO ĐƠN VỊ", title_fmt)
    ws.merge_range(1, 0, 1, last_col, nfc(prose.report_subject(c)), sub_fmt)
    header_row = 3
    # labels, never indicator codes: the sheet goes to UBND tỉnh with the report
    headers = ["STT", "Cơ quan, đơn vị"] + [
        nfc(i["label"] + (f" ({i['unit']})" if i.get("unit") else "")) for i in integer
    ] + ["Tình hình báo cáo"]
    for col, text in enumerate(headers):
        ws.write_string(header_row, col, text, head_fmt)
    ws.set_row(header_row, 120)
    ws.set_column(0, 0, 6)
    ws.set_column(1, 1, 42)
    ws.set_column(2, 1 + len(integer), 13)
    ws.set_column(last_col, last_col, 16)
    row = header_row + 1
    for n, unit in enumerate(expected, start=1):
        ws.write_number(row, 0, n, centre_fmt)
        ws.write_string(row, 1, nfc(prose.unit_name(c, unit)), text_fmt)
        unit_values = values.get(unit, {}) if unit in accepted else {}
        for k, ind in enumerate(integer):
            v = unit_values.get(ind["code"])
            if isinstance(v, int | float) and not isinstance(v, bool):
                ws.write_number(row, 2 + k, v, num_fmt)
            else:
                ws.write_blank(row, 2 + k, None, num_fmt)
        ws.write_string(row, last_col, statuses.get(unit, prose.STATUS_MISSING), centre_fmt)
        row += 1
    ws.write_blank(row, 0, None, total_label_fmt)
    ws.write_string(row, 1, "Tổng cộng", total_label_fmt)
    for k, ind in enumerate(integer):
        v = totals.get(ind["code"])
        if v is None:
            ws.write_blank(row, 2 + k, None, total_num_fmt)
        else:
            ws.write_number(row, 2 + k, v, total_num_fmt)
    ws.write_string(row, last_col, f"{format_number(comp.get('accepted_count', len(accepted)))}/"
                                   f"{format_number(len(expected))} đơn vị",
                    total_label_fmt)
    ws.freeze_panes(header_row + 1, 2)
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(header_row)

    # ---- sheet 2: reporting status per unit
    st = wb.add_worksheet(SHEET_STATUS)
    # no unit codes and no reasons for rejected files: those stay with the Office (status, JSON `rejected`)
    st_headers = ["STT", "Cơ quan, đơn vị", "Tình hình báo cáo", "Thời điểm nhận", "Đúng hạn"]
    for col, text in enumerate(st_headers):
        st.write_string(0, col, text, head_fmt)
    received = _received_times(c)
    on_time = set(comp.get("on_time", []))
    for r, unit in enumerate(expected, start=1):
        status = statuses.get(unit, prose.STATUS_MISSING)
        st.write_number(r, 0, r, centre_fmt)
        st.write_string(r, 1, nfc(prose.unit_name(c, unit)), text_fmt)
        st.write_string(r, 2, status, centre_fmt)
        st.write_string(r, 3, _format_received(received[unit]) if unit in received else "", centre_fmt)
        timely = "Có" if unit in on_time else ("Không" if unit in accepted else "")
        st.write_string(r, 4, timely, centre_fmt)
    st.set_column(0, 0, 6)
    st.set_column(1, 1, 42)
    st.set_column(2, 2, 18)
    st.set_column(3, 3, 18)
    st.set_column(4, 4, 10)
    st.set_landscape()
    st.set_paper(9)
    st.fit_to_pages(1, 0)
    st.freeze_panes(1, 2)

    # ---- sheet 3: what each unit wrote, in full (written as text: never read as a formula)
    texts = _texts_by_unit(c)
    if texts:
        codes = [i["code"] for i in c.get("indicators", []) if i.get("type") == "text"
                 and any(i["code"] in t for t in texts.values())]
        labels = {i["code"]: i["label"] for i in c.get("indicators", [])}
        tx = wb.add_worksheet(SHEET_TEXTS)
        for col, text in enumerate(["STT", "Cơ quan, đơn vị", *[labels[code] for code in codes]]):
            tx.write_string(0, col, nfc(text), head_fmt)
        for r, unit in enumerate([u for u in expected if u in texts], start=1):
            tx.write_number(r, 0, r, centre_fmt)
            tx.write_string(r, 1, nfc(prose.unit_name(c, unit)), text_fmt)
            for k, code in enumerate(codes):
                tx.write_string(r, 2 + k, texts[unit].get(code, ""), text_fmt)
        tx.set_column(0, 0, 6)
        tx.set_column(1, 1, 36)
        tx.set_column(2, 1 + len(codes), 60)
        tx.set_landscape()
        tx.set_paper(9)
        tx.freeze_panes(1, 2)
    wb.close()
    return out_path


def _texts_by_unit(c: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """{unit: {text indicator: text}} for every unit that wrote something (narratives, else unit values)."""
    out: dict[str, dict[str, str]] = {}
    text_codes = [i["code"] for i in c.get("indicators", []) if i.get("type") == "text"]
    narratives = c.get("narratives") or {}
    for code in text_codes:
        if code in narratives:
            for item in narratives[code]:
                if str(item.get("text") or "").strip():
                    out.setdefault(item["unit"], {})[code] = nfc(str(item["text"]).strip())
        else:
            for unit, vals in (c.get("values_by_unit") or {}).items():
                if str(vals.get(code) or "").strip():
                    out.setdefault(unit, {})[code] = nfc(str(vals[code]).strip())
    return out
