"""The workbook a unit fills: one grid shared by the .xlsx attachment and the Google Sheets tab.

The contract (README, "Biểu mẫu"): the first sheet has a cell `Mã đơn vị` and a cell `Kỳ báo cáo`, each
with its value in the cell to the right; below them a table whose header row has a `Mã` column
(indicator code) and a `Số liệu` column (the value), one indicator per row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import xlsxwriter

from tasks.config import ReportDefinition, Unit
from tasks.periods import Period

LABEL_UNIT = "Mã đơn vị"
LABEL_UNIT_NAME = "Tên đơn vị"
LABEL_PERIOD = "Kỳ báo cáo"
LABEL_CUTOFF = "Thời gian chốt số liệu"
LABEL_DEADLINE = "Hạn gửi báo cáo"
HEADER = ("STT", "Mã", "Chỉ tiêu", "Đơn vị tính", "Số liệu", "Ghi chú")
COL_CODE, COL_VALUE = 1, 4
HEADER_ROW = 7  # 0-based row of the table header in the template

Cell = str | int | float | None
FIXED_CREATED = datetime(2021, 1, 1, tzinfo=UTC)


def template_grid(report: ReportDefinition, unit: Unit, period: Period, deadline: date) -> list[list[Cell]]:
    """The template as rows of cells (A1 = grid[0][0]); the .xlsx and the Sheets tab both write this."""
    grid: list[list[Cell]] = [
        [f"BÁO CÁO {report.title.upper()}", None, None, None, None, None],
        [report.plan_reference, None, None, None, None, None],
        [None] * 6,
        [LABEL_UNIT, unit.code, LABEL_UNIT_NAME, unit.name, None, None],
        [LABEL_PERIOD, period.key, LABEL_CUTOFF, f"{period.start:%d/%m/%Y} - {period.end:%d/%m/%Y}", None, None],
        [LABEL_DEADLINE, f"{deadline:%d/%m/%Y}", None, "Nhập số nguyên ≥ 0 (nhập 0 nếu không có); "
         "mục đánh giá ghi bằng lời vào cột Số liệu.", None, None],
        [None] * 6,
        list(HEADER),
    ]
    n = 0
    for group in report.groups:
        members = [i for i in report.indicators if i.group == group.code]
        if not members:
            continue
        title = group.label if group.kind == "narrative" else f"{group.code}. {group.label}"
        grid.append([None, None, title, None, None, None])
        for ind in members:
            n += 1
            hint = "Bắt buộc" if ind.required else None
            grid.append([n, ind.code, ind.label, ind.unit or None, None, hint])
    return grid


def write_template_xlsx(grid: list[list[Cell]], report: ReportDefinition, target: Path | None = None) -> bytes:
    """Write the grid as a formatted .xlsx (Times New Roman, wrapped labels, whole-number validation)."""
    buf = BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    # a fixed creation time: the same workbook is the same bytes, so its content hash is stable
    wb.set_properties({"title": report.title, "author": "baocao", "created": FIXED_CREATED})
    base = {"font_name": "Times New Roman", "font_size": 12, "valign": "vcenter"}
    fmt = {
        "title": wb.add_format({**base, "bold": True, "font_size": 13}),
        "italic": wb.add_format({**base, "italic": True}),
        "label": wb.add_format({**base, "bold": True}),
        "prefill": wb.add_format({**base, "bg_color": "#F2F2F2", "border": 1}),
        "header": wb.add_format({**base, "bold": True, "border": 1, "align": "center", "text_wrap": True,
                                 "bg_color": "#D9E1F2"}),
        "group": wb.add_format({**base, "bold": True, "border": 1, "text_wrap": True, "bg_color": "#EDEDED"}),
        "cell": wb.add_format({**base, "border": 1, "text_wrap": True}),
        "input": wb.add_format({**base, "border": 1, "text_wrap": True, "bg_color": "#FFF2CC"}),
        "plain": wb.add_format(base),
    }
    ws = wb.add_worksheet("Báo cáo")
    for col, width in enumerate((6, 8, 60, 14, 40, 14)):
        ws.set_column(col, col, width)
    kinds = {g.code: g.kind for g in report.groups}
    by_code = report.by_code
    header_row = next(i for i, row in enumerate(grid) if list(row) == list(HEADER))
    top = header_row - HEADER_ROW  # rows a unit inserted above the template (samples, re-exports)
    for r, row in enumerate(grid):
        rel = r - top
        for c, value in enumerate(row):
            if rel < 2:
                style = fmt["title"] if rel == 0 else fmt["italic"]
            elif rel < HEADER_ROW:
                style = fmt["label"] if c in (0, 2) else fmt["prefill"] if value is not None else fmt["plain"]
                if rel == 5 and c == 3:
                    style = fmt["italic"]
            elif rel == HEADER_ROW:
                style = fmt["header"]
            elif row[COL_CODE] is None:
                style = fmt["group"]
            else:
                style = fmt["input"] if c == COL_VALUE else fmt["cell"]
            if value is None:
                if rel >= HEADER_ROW:
                    ws.write_blank(r, c, None, style)
                continue
            if isinstance(value, str):
                ws.write_string(r, c, value, style)
            else:
                ws.write_number(r, c, value, style)
        if rel > HEADER_ROW and row[COL_CODE] is not None:
            ind = by_code[str(row[COL_CODE])]
            if ind.type == "integer":
                ws.data_validation(r, COL_VALUE, r, COL_VALUE, {
                    "validate": "integer", "criteria": ">=", "value": ind.min or 0,
                    "error_title": "Số liệu không hợp lệ",
                    "error_message": f"Chỉ tiêu {ind.code}: nhập số nguyên ≥ {ind.min or 0}.",
                })
            elif kinds[ind.group] == "narrative":
                ws.set_row(r, 60)
    ws.freeze_panes(header_row + 1, 0)
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    wb.close()
    data = buf.getvalue()
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return data


def template_filename(report: ReportDefinition, unit: Unit, period: Period) -> str:
    return f"{report.short_code}-{period.key}-{unit.code}.xlsx"
