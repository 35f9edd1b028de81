"""Spreadsheet annex of the consolidated report (.xlsx, tasks.render.xlsx_writer).

The leadership and the People's Committee often want the per-unit figures to re-use; a sheet is
easier to work with than the .docx annex. Totals are written as values (the computed totals), not
formulas, so the file reads the same in any viewer and cannot disagree with the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tasks.periods import TZ
from tasks.render import prose
from tasks.render.vietnamese_dates import format_number, nfc, to_local_date
from tasks.render.xlsx_writer import A4, Book, Style

THOUSANDS = 3  # the built-in number format "#,##0"
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
    names = {unit: nfc(prose.unit_name(c, unit)) for unit in expected}  # each unit's name is on every sheet
    subject = nfc(prose.report_subject(c))

    created = to_local_date(c.get("generated_at") or "2000-01-01")  # fixed: identical input, identical file
    wb = Book(subject, "baocao", datetime(created.year, created.month, created.day))
    base = Style(border="thin", valign="center")
    title_fmt = Style(size=14, bold=True, align="center")
    sub_fmt = Style(size=12, italic=True, align="center")
    head_fmt = replace(base, bold=True, wrap=True, align="center", fill="D9E1F2")
    text_fmt = replace(base, wrap=True)
    centre_fmt = replace(base, align="center")
    num_fmt = replace(base, number_format=THOUSANDS)
    total_label_fmt = replace(base, bold=True)
    total_num_fmt = replace(base, bold=True, number_format=THOUSANDS)

    # ---- sheet 1: units × integer indicators
    ws = wb.sheet(SHEET_ANNEX)
    last_col = 2 + len(integer)
    ws.row(0, [("PHỤ LỤC: SỐ LIỆU CHI TIẾT THEO ĐƠN VỊ", title_fmt)] + [(None, title_fmt)] * last_col)
    ws.row(1, [(subject, sub_fmt)] + [(None, sub_fmt)] * last_col)
    ws.merge(0, 0, last_col)
    ws.merge(1, 0, last_col)
    header_row = 3
    # labels, never indicator codes: the sheet goes to UBND tỉnh with the report
    headers = ["STT", "Cơ quan, đơn vị"] + [
        nfc(i["label"] + (f" ({i['unit']})" if i.get("unit") else "")) for i in integer
    ] + ["Tình hình báo cáo"]
    ws.row(header_row, [(text, head_fmt) for text in headers], height=120)
    ws.width(0, 0, 6)
    ws.width(1, 1, 42)
    ws.width(2, 1 + len(integer), 13)
    ws.width(last_col, last_col, 16)
    codes = [ind["code"] for ind in integer]
    for n, unit in enumerate(expected, start=1):
        unit_values = values.get(unit, {}) if unit in accepted else {}
        ws.row(header_row + n, [(n, centre_fmt), (names[unit], text_fmt),
                                *[(_number(unit_values.get(code)), num_fmt) for code in codes],
                                (statuses.get(unit, prose.STATUS_MISSING), centre_fmt)])
    ws.row(header_row + len(expected) + 1, [(None, total_label_fmt), ("Tổng cộng", total_label_fmt),
                 *[(_number(totals.get(code)), total_num_fmt) for code in codes],
                 (f"{format_number(comp.get('accepted_count', len(accepted)))}/{format_number(len(expected))} đơn vị",
                  total_label_fmt)])
    ws.freeze(header_row + 1, 2)
    ws.landscape, ws.paper, ws.fit_width = True, A4, True
    ws.repeat_rows = (header_row, header_row)

    # ---- sheet 2: reporting status per unit
    st = wb.sheet(SHEET_STATUS)
    # no unit codes and no reasons for rejected files: those stay with the Office (status, JSON `rejected`)
    st.row(0, [(text, head_fmt) for text in ["STT", "Cơ quan, đơn vị", "Tình hình báo cáo", "Thời điểm nhận",
                                              "Đúng hạn"]])
    received = _received_times(c)
    on_time = set(comp.get("on_time", []))
    for r, unit in enumerate(expected, start=1):
        timely = "Có" if unit in on_time else ("Không" if unit in accepted else "")
        st.row(r, [(r, centre_fmt), (names[unit], text_fmt),
                   (statuses.get(unit, prose.STATUS_MISSING), centre_fmt),
                   (_format_received(received[unit]) if unit in received else "", centre_fmt), (timely, centre_fmt)])
    st.width(0, 0, 6)
    st.width(1, 1, 42)
    st.width(2, 3, 18)
    st.width(4, 4, 10)
    st.landscape, st.paper, st.fit_width = True, A4, True
    st.freeze(1, 2)

    # ---- sheet 3: what each unit wrote, in full (written as text: never read as a formula)
    texts = _texts_by_unit(c)
    if texts:
        text_codes = [i["code"] for i in c.get("indicators", []) if i.get("type") == "text"
                      and any(i["code"] in t for t in texts.values())]
        labels = {i["code"]: i["label"] for i in c.get("indicators", [])}
        tx = wb.sheet(SHEET_TEXTS)
        tx.row(0, [(nfc(text), head_fmt) for text in ["STT", "Cơ quan, đơn vị", *[labels[k] for k in text_codes]]])
        for r, unit in enumerate([u for u in expected if u in texts], start=1):
            tx.row(r, [(r, centre_fmt), (names[unit], text_fmt),
                       *[(texts[unit].get(k, ""), text_fmt) for k in text_codes]])
        tx.width(0, 0, 6)
        tx.width(1, 1, 36)
        tx.width(2, 1 + len(text_codes), 60)
        tx.landscape, tx.paper = True, A4
        tx.freeze(1, 2)
    return wb.save(out_path)


def _number(v: Any) -> int | float | None:
    """A figure as a number cell; anything else (missing, text) an empty cell."""
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


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
