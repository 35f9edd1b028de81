"""The workbook a unit fills: one grid shared by the .xlsx attachment and the Google Sheets tab.

The contract (README, "Biểu mẫu"): the first sheet has a cell `Mã đơn vị` and a cell `Kỳ báo cáo`, each
with its value in the cell to the right; below them a table whose header row has a `Mã` column
(indicator code) and a `Số liệu` column (the value), one indicator per row.

Besides the contract the grid tells the unit what it needs to answer: the deadline and how to return
the file on its channel (row 6), how to enter figures (row 7), each conditional rule of the report
definition in the `Ghi chú` column beside every indicator it ties together, and the rules in full
under the table. The .xlsx gives every label the width or the wrapped height it needs.

`refilled_workbook` is the attachment of a rejection: the unit's own values in a fresh template,
the faulty cells filled red with the reason as a cell comment, the list of reasons under the table.

The .xlsx is written by tasks.render.xlsx_writer (not xlsxwriter: every request and reminder mail carries
one, and xlsxwriter's 3.5 ms a workbook was 85 % of `baocao request` at 10,000 units). The file is the
one xlsxwriter wrote, cell for cell and style for style, its strings in a shared-strings table as Excel
saves them (the benchmark's sample workbooks are made here and must look like what units send back).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tasks.config import Condition, ReportDefinition, Rule, Unit
from tasks.periods import Period
from tasks.render.xlsx_writer import A4, Book, Style

LABEL_UNIT = "Mã đơn vị"
LABEL_UNIT_NAME = "Tên đơn vị"
LABEL_PERIOD = "Kỳ báo cáo"
LABEL_CUTOFF = "Thời gian chốt số liệu"
LABEL_DEADLINE = "Hạn gửi báo cáo"
LABEL_RETURN = "Cách gửi báo cáo"
INPUT_HINT = ("Nhập số nguyên ≥ 0 vào cột Số liệu (nhập 0 nếu không có); mục đánh giá ghi bằng lời. "
              "Không đổi mã, không thêm hay xóa dòng trong bảng.")
RULES_TITLE = "Điều kiện giữa các chỉ tiêu (báo cáo không đạt điều kiện bắt buộc sẽ bị trả lại):"
ERRORS_TITLE = "Báo cáo đã gửi bị trả lại vì các lỗi sau (ô tô đỏ; đưa chuột vào ô để xem lý do):"
# How a unit sends its report back, per channel (the wording of tasks/channels/*.how_to_return).
HOW_TO_RETURN = {
    "email": "Gửi lại bằng cách trả lời thư này, đính kèm tệp đã điền.",
    "folder": "Chép tệp đã điền vào thư mục nhận báo cáo của Văn phòng Sở.",
    "sheet": "Nhập số liệu trực tiếp trên trang tính của đơn vị; không cần gửi tệp.",
}
# Column widths (characters) and the wrapping they allow: every label fits or wraps in its own row.
WIDTHS = (17, 11, 52, 13, 26, 36)
FAULT_FILL = "#F4CCCC"
HEADER = ("STT", "Mã", "Chỉ tiêu", "Đơn vị tính", "Số liệu", "Ghi chú")
COL_CODE, COL_VALUE = 1, 4
HEADER_ROW = 7  # 0-based row of the table header in the template

Cell = str | int | float | None
FIXED_CREATED = datetime(2021, 1, 1, tzinfo=UTC)


def _sym(op: str) -> str:
    return {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "=", "!=": "≠"}[op]


def _operand(cond: Condition) -> str:
    right = cond.right
    if isinstance(right, str):
        return right if cond.factor == 1 else f"{cond.factor:g}".replace(".", ",") + f" × {right}"
    return f"{right:g}".replace(".", ",") if isinstance(right, float) else str(right)


def _when_text(cond: Condition) -> str:
    if cond.op == "filled":
        return f"{cond.left} có ghi nội dung"
    if cond.op == "empty":
        return f"{cond.left} để trống"
    return f"{cond.left} {_sym(cond.op)} {_operand(cond)}"


def _require_text(cond: Condition, verb: str) -> str:
    if cond.op == "filled":
        return f"{verb} ghi {cond.left}"
    if cond.op == "empty":
        return f"{verb} để trống {cond.left}"
    return f"{cond.left} {verb} {_sym(cond.op)} {_operand(cond)}"


def rule_text(rule: Rule) -> str:
    """A rule in a line: 'Nếu K01 > 0 thì phải ghi K02.', 'Nếu H01 > 0 thì H02 nên ≤ 500 × H01 (...)'."""
    verb = "phải" if rule.severity == "error" else "nên"
    text = _require_text(rule.require, verb)
    text = f"Nếu {_when_text(rule.when)} thì {text}" if rule.when else text[:1].upper() + text[1:]
    if rule.severity != "error":
        text += " (nếu không, kiểm tra lại số liệu)"
    return text + "."


def rule_codes(rule: Rule) -> list[str]:
    """The indicators a rule ties together, in the order they are named."""
    codes = [c.left for c in (rule.when, rule.require) if c is not None]
    codes += [c.right for c in (rule.when, rule.require) if c is not None and isinstance(c.right, str)]
    return list(dict.fromkeys(codes))


def indicator_notes(report: ReportDefinition) -> dict[str, list[str]]:
    """Ghi chú per indicator: 'Bắt buộc' and every rule that names it."""
    notes: dict[str, list[str]] = {i.code: (["Bắt buộc"] if i.required else []) for i in report.indicators}
    for rule in report.rules:
        for code in rule_codes(rule):
            notes.setdefault(code, []).append(rule_text(rule))
    return notes


def how_to_return(unit: Unit) -> str:
    return HOW_TO_RETURN.get(unit.channel, HOW_TO_RETURN["folder"])


def template_grid(report: ReportDefinition, unit: Unit, period: Period, deadline: date, *,
                  return_text: str | None = None) -> list[list[Cell]]:
    """The template as rows of cells (A1 = grid[0][0]); the .xlsx and the Sheets tab both write this.

    `return_text` overrides how the unit is told to send the file back (default: by its channel).
    """
    grid: list[list[Cell]] = [
        [f"BÁO CÁO {report.title.upper()}", None, None, None, None, None],
        [report.plan_reference, None, None, None, None, None],
        [None] * 6,
        [LABEL_UNIT, unit.code, LABEL_UNIT_NAME, unit.name, None, None],
        [LABEL_PERIOD, period.key, LABEL_CUTOFF, f"{period.start:%d/%m/%Y} - {period.end:%d/%m/%Y}", None, None],
        [LABEL_DEADLINE, f"{deadline:%d/%m/%Y}", LABEL_RETURN, return_text or how_to_return(unit), None, None],
        [INPUT_HINT, None, None, None, None, None],
        list(HEADER),
    ]
    return grid + _body_rows(report)


def _body_rows(report: ReportDefinition) -> list[list[Cell]]:
    """The rows under the table header: the indicators by group, then the rules the unit is checked by."""
    rows: list[list[Cell]] = []
    notes = indicator_notes(report)
    n = 0
    for group in report.groups:
        members = [i for i in report.indicators if i.group == group.code]
        if not members:
            continue
        title = group.label if group.kind == "narrative" else f"{group.code}. {group.label}"
        rows.append([None, None, title, None, None, None])
        for ind in members:
            n += 1
            note = "\n".join(notes.get(ind.code, [])) or None
            rows.append([n, ind.code, ind.label, ind.unit or None, None, note])
    if report.rules:
        rows.append([None] * 6)
        rows.append([RULES_TITLE, None, None, None, None, None])
        for rule in report.rules:
            text = rule.message if rule.severity == "error" else (
                "Được nhắc kiểm tra lại (không bị trả lại) khi: " + rule.message[:1].lower() + rule.message[1:])
            rows.append([f"- {text}", None, None, None, None, None])
    return rows


def template_height(report: ReportDefinition) -> int:
    """Rows of the template (the same for every unit and period)."""
    return HEADER_ROW + 1 + len(_body_rows(report))


@lru_cache(maxsize=4096)
def _lines(text: str, width: float) -> int:
    """Lines a wrapped cell of this width (characters) needs for the text (remembered: the labels and
    notes are the same in every unit's workbook)."""
    per_line = max(1.0, width * 1.0)
    return sum(max(1, math.ceil(len(part) / per_line)) for part in str(text).split("\n"))


def _height(lines: int, size: float = 12) -> float:
    return round(lines * size * 1.3 + 4, 1)


# The cell styles: Times New Roman 12, centred vertically; bordered inside the table
_BASE = Style(font="Times New Roman", size=12, valign="center")
_PLAIN = _BASE  # rows a unit inserted above the template
_TITLE = replace(_BASE, bold=True, size=13, wrap=True, align="center")
_ITALIC = replace(_BASE, italic=True, wrap=True, align="center")
_HINT = replace(_BASE, italic=True, wrap=True)
_LABEL = replace(_BASE, bold=True, wrap=True)
_PREFILL = replace(_BASE, fill="F2F2F2", border="thin", wrap=True)
_HEAD = replace(_BASE, bold=True, border="thin", align="center", wrap=True, fill="D9E1F2")
_GROUP = replace(_BASE, bold=True, border="thin", wrap=True, fill="EDEDED")
_CELL = replace(_BASE, border="thin", wrap=True)
_NO = replace(_BASE, border="thin", align="center")
_NOTE = replace(_BASE, border="thin", wrap=True, italic=True, size=11)
_INPUT = replace(_BASE, border="thin", wrap=True, fill="FFF2CC")
_FAULT = replace(_BASE, border="medium", border_color="C00000", wrap=True, fill=FAULT_FILL[1:])
_BELOW = replace(_BASE, wrap=True)
_BELOW_TITLE = replace(_BASE, bold=True, wrap=True)
# the style of each column of an indicator's row
_ROW_STYLES = (_NO, _CELL, _CELL, _CELL, _INPUT, _NOTE)


def write_template_xlsx(grid: list[list[Cell]], report: ReportDefinition, target: Path | None = None, *,
                        faults: Mapping[tuple[int, int], str] | None = None) -> bytes:
    """Write the grid as a formatted .xlsx (Times New Roman, wrapped labels, whole-number validation).

    `faults` maps (row, column) of the grid to a message: the cell is filled red and carries it as
    a comment (the rejection attachment, see refilled_workbook).
    """
    faults = dict(faults or {})
    # a fixed creation time: the same workbook is the same bytes, so its content hash is stable
    wb = Book(report.title, "baocao", FIXED_CREATED, shared_strings=True)
    ws = wb.sheet("Báo cáo")
    for col, width in enumerate(WIDTHS):
        ws.width(col, col, width)
    ncols = len(WIDTHS)
    kinds = {g.code: g.kind for g in report.groups}
    by_code = report.by_code
    header_row = next(i for i, row in enumerate(grid) if list(row) == list(HEADER))
    top = header_row - HEADER_ROW  # rows a unit inserted above the template (samples, re-exports)
    last_indicator = max((r for r, row in enumerate(grid) if r > header_row and row[COL_CODE] is not None),
                         default=header_row)

    def spanned(r: int, first: int, value: Cell, style: Style, cells: list[tuple[Cell, Style | None]]) -> int:
        """The cell merged with the empty ones to its right; returns the lines its text needs."""
        if value is None:
            return 1
        ws.merge(r, first, ncols - 1)
        cells += [(value, style)] + [(None, style)] * (ncols - 1 - first)
        return _lines(str(value), sum(WIDTHS[first:]))

    for r, row in enumerate(grid):
        rel = r - top
        lines = 1
        cells: list[tuple[Cell, Style | None]] = []
        if rel < 0:
            cells = [(value, None if value is None else _PLAIN) for value in row]
            if any(value is not None for value in row):
                ws.row(r, cells)
            continue
        if rel < 2 or rel == HEADER_ROW - 1:
            style = _TITLE if rel == 0 else _ITALIC if rel == 1 else _HINT
            lines = spanned(r, 0, row[0], style, cells)
            if rel == 0:
                ws.row(r, cells, _height(lines, 13))
                continue
        elif rel < HEADER_ROW:
            for c, value in enumerate(row[:3]):
                cells.append((value, None if value is None else _PREFILL if c == 1 else _LABEL))
                if value is not None:
                    lines = max(lines, _lines(str(value), WIDTHS[c]))
            if len(row) > 3 and row[3] is not None:
                lines = max(lines, spanned(r, 3, row[3], _PREFILL, cells))
        elif rel == HEADER_ROW:
            cells = [(value, _HEAD) for value in row]
        elif r > last_indicator or (row[COL_CODE] is None and row[0] is not None):
            text = row[0]
            lines = spanned(r, 0, text, _BELOW_TITLE if text in (RULES_TITLE, ERRORS_TITLE) else _BELOW, cells)
        elif row[COL_CODE] is None:  # a group heading inside the table
            cells = [(value, _GROUP) for value in row]
            lines = _lines(str(row[2] or ""), WIDTHS[2])
        else:
            for c, value in enumerate(row):
                style = _ROW_STYLES[c] if c < ncols else _CELL
                cells.append((value, _FAULT if (r, c) in faults else style))
                if isinstance(value, str):
                    lines = max(lines, _lines(value, WIDTHS[c] if c < ncols else 10))
            ind = by_code.get(str(row[COL_CODE]))
            if ind is not None and ind.type == "integer":
                minimum = ind.min or 0
                ws.whole_number(r, COL_VALUE, minimum, "Số liệu không hợp lệ",
                                f"Chỉ tiêu {ind.code}: nhập số nguyên ≥ {minimum}.")
            elif ind is not None and kinds[ind.group] == "narrative":
                lines = max(lines, 4)
        height = _height(lines) if lines > 1 or rel < HEADER_ROW + 1 else None
        if cells or height is not None:
            ws.row(r, cells, height)
    for (r, c), message in faults.items():
        ws.comment(r, c, message, "Văn phòng", font="Times New Roman", size=11, scale=(3, 2))
    ws.freeze(header_row + 1, 0, cursor=False)
    ws.paper, ws.landscape, ws.fit_width = A4, True, True  # one page wide
    ws.margins = (0.5, 0.4, 0.6, 0.6)
    ws.repeat_rows = (header_row, header_row)
    data = wb.package()
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return data


def _field(issue: Any, key: str) -> Any:
    return issue.get(key) if isinstance(issue, Mapping) else getattr(issue, key, None)


def _cell_value(raw: Any) -> Cell:
    if raw is None or isinstance(raw, str) or (isinstance(raw, int | float) and not isinstance(raw, bool)):
        return raw
    if isinstance(raw, datetime):
        return f"{raw:%d/%m/%Y %H:%M}" if (raw.hour, raw.minute) != (0, 0) else f"{raw:%d/%m/%Y}"
    if isinstance(raw, date):
        return f"{raw:%d/%m/%Y}"
    return str(raw)


def refilled_workbook(report: ReportDefinition, unit: Unit, period: Period, deadline: date,
                      values: Mapping[str, Any], errors: Iterable[Any], *,
                      return_text: str | None = None) -> bytes:
    """The rejection attachment: a fresh template holding the unit's own values, each faulty value
    cell filled red with its message as a comment, and every message listed under the table.

    `values` maps indicator code to the raw value the unit sent (as intake read it); `errors` are
    Issue-like (objects or dicts with `code`, `cell`, `message`). An error with an indicator code
    marks that indicator's value cell; one without (wrong unit code, period, layout) is listed only,
    as the fresh template already has the right unit and period.
    """
    grid = template_grid(report, unit, period, deadline, return_text=return_text)
    rows = {str(row[COL_CODE]): r for r, row in enumerate(grid) if r > HEADER_ROW and row[COL_CODE] is not None}
    for code, raw in values.items():
        r = rows.get(str(code).strip().upper()) or rows.get(str(code))
        if r is not None:
            grid[r][COL_VALUE] = _cell_value(getattr(raw, "raw", raw))
    faults: dict[tuple[int, int], list[str]] = {}
    listed: list[str] = []
    for issue in errors:
        message = str(_field(issue, "message") or "").strip()
        if not message:
            continue
        listed.append(message)
        code = _field(issue, "code")
        r = rows.get(str(code)) if code else None
        if r is not None:
            faults.setdefault((r, COL_VALUE), []).append(message)
    if listed:
        grid.append([None] * 6)
        grid.append([ERRORS_TITLE, None, None, None, None, None])
        grid.extend([[f"- {m}", None, None, None, None, None] for m in dict.fromkeys(listed)])
    return write_template_xlsx(grid, report, faults={k: "\n".join(v) for k, v in faults.items()})


def template_filename(report: ReportDefinition, unit: Unit, period: Period) -> str:
    return f"{report.short_code}-{period.key}-{unit.code}.xlsx"
