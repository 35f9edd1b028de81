"""Reading a returned workbook into a ParsedSheet, by the template contract, wherever its cells sit.

Units insert rows, retype labels and save in whatever format their office suite likes, so cells are
found by their labels, not by fixed positions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import PurePath
from typing import Any

from tasks.guard import DEFAULT_LIMITS, SPREADSHEET_SUFFIXES, Grid, Limits, UnreadableFile, read_grids, reader
from tasks.text import a1, clean, label_key
from tasks.types import Issue, ParsedSheet, RawValue

__all__ = ["SPREADSHEET_SUFFIXES", "UnreadableFile", "content_hash", "grid_hash", "is_spreadsheet", "parse_grid",
           "read_grid", "read_grids", "read_sheets"]

_UNIT_LABEL = label_key("Mã đơn vị")
_PERIOD_LABEL = label_key("Kỳ báo cáo")
_CODE_HEADER = label_key("Mã")
_VALUE_HEADER = label_key("Số liệu")
SERIAL_EPOCH = date(1899, 12, 30)  # day 0 of spreadsheet serial dates (Sheets and Excel alike)
SERIAL_DATES = (32874, 73051)  # 1990-01-01 .. 2099-12-31: a bare year like 2021 is not a date
_USE_TEMPLATE = "ở trang tính đầu tiên. Hãy dùng đúng biểu mẫu được gửi kèm."


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def grid_hash(grid: list[list[Any]]) -> str:
    """The content hash of cells read without a file (a Sheets tab): of their JSON."""
    return content_hash(json.dumps(grid, default=str, ensure_ascii=False).encode())


def is_spreadsheet(filename: str) -> bool:
    return PurePath(filename).suffix.lower() in SPREADSHEET_SUFFIXES


def read_grid(data: bytes, filename: str, limits: Limits = DEFAULT_LIMITS) -> Grid:
    """The first worksheet's cells, positions preserved (empty leading rows and columns kept); read in a
    guarded worker process (tasks.guard), so a hostile file raises UnreadableFile and nothing worse.
    Reading many files? read_grids does them in one batch, much faster."""
    result = read_grids([(data, filename)], limits)[0]
    if isinstance(result, UnreadableFile):
        raise result
    return result


def read_sheets(items: Sequence[tuple[bytes, str]],
                limits: Limits = DEFAULT_LIMITS) -> list[ParsedSheet | Grid | UnreadableFile]:
    """Each file's labelled cells (parse_grid, run in the guarded worker next to the read, so only they
    travel back, not every cell), or its rejection, in order. A grid comes back where the worker's parse
    failed: parse it here, where the failure is baocao's to report."""
    return [ParsedSheet.from_wire(r) if isinstance(r, tuple) else r
            for r in reader(limits).read(items, sheets=True)]


def _text(value: Any) -> str:
    return clean(value) if isinstance(value, str) else ""


def _period_text(value: Any) -> str | None:
    """A period cell as typed; spreadsheets turn '2021-03' into a date, so take that back."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return f"{value.year}-{value.month:02d}"
    if isinstance(value, int | float) and SERIAL_DATES[0] <= value <= SERIAL_DATES[1]:
        # Google Sheets (read UNFORMATTED) hands a retyped '2021-03' back as a day serial
        d = SERIAL_EPOCH + timedelta(days=int(value))
        return f"{d.year}-{d.month:02d}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return clean(str(value))


def parse_grid(grid: list[list[Any]]) -> ParsedSheet:
    """Find the labelled cells and the indicator table; never raises on odd content."""
    out = ParsedSheet()
    header: tuple[int, int, int] | None = None  # (row, code col, value col)
    for r, row in enumerate(grid):
        if header is not None and out.unit_cell is not None and out.period_cell is not None:
            break  # every label found (the first of each counts): the table's rows are read below
        keys = [label_key(v) if v and isinstance(v, str) else "" for v in row]  # most cells: '' or a number
        for c, key in enumerate(keys):
            if key == _UNIT_LABEL and out.unit_cell is None:
                right = row[c + 1] if c + 1 < len(row) else None
                out.unit_cell = a1(r, c + 1)
                text = _text(right) if not isinstance(right, int | float) else str(right)
                out.unit_code = text or None
            elif key == _PERIOD_LABEL and out.period_cell is None:
                out.period_cell = a1(r, c + 1)
                out.period_text = _period_text(row[c + 1] if c + 1 < len(row) else None)
        if header is None and _CODE_HEADER in keys and _VALUE_HEADER in keys:
            header = (r, keys.index(_CODE_HEADER), keys.index(_VALUE_HEADER))

    if out.unit_cell is None:
        out.problems.append(Issue(f"Không tìm thấy ô 'Mã đơn vị' {_USE_TEMPLATE}"))
    if out.period_cell is None:
        out.problems.append(Issue(f"Không tìm thấy ô 'Kỳ báo cáo' {_USE_TEMPLATE}"))
    if header is None:
        out.problems.append(Issue(
            "Không tìm thấy dòng tiêu đề bảng có cột 'Mã' và cột 'Số liệu'. Hãy dùng đúng biểu mẫu, không đổi tên cột."
        ))
        return out

    h_row, code_col, value_col = header
    for r in range(h_row + 1, len(grid)):
        row = grid[r]
        code_cell = row[code_col] if code_col < len(row) else None
        if not code_cell or not isinstance(code_cell, str) or not (code := clean(code_cell).upper()):
            continue
        raw = row[value_col] if value_col < len(row) else None
        if code in out.values:
            out.problems.append(Issue(
                f"Chỉ tiêu {code} xuất hiện hai lần (ô {out.values[code].cell} và ô {a1(r, value_col)}). "
                "Hãy xóa dòng bị lặp.",
                code=code, cell=a1(r, value_col),
            ))
            continue
        out.values[code] = RawValue(raw=raw, cell=a1(r, value_col))
    return out
