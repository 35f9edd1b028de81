"""The .xlsx annex read back as a user's spreadsheet program would show it."""

from __future__ import annotations

from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from tasks.render.annex_xlsx import SHEET_ANNEX, SHEET_STATUS, SHEET_TEXTS, render_annex_xlsx
from tests.sample_consolidation import UNITS, sample_consolidation


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> CalamineWorkbook:
    out = render_annex_xlsx(sample_consolidation(), tmp_path_factory.mktemp("xlsx") / "phu-luc.xlsx")
    return CalamineWorkbook.from_path(str(out))


def _rows(book: CalamineWorkbook, name: str) -> list[list]:
    return book.get_sheet_by_name(name).to_python()


def test_sheet_names(book: CalamineWorkbook) -> None:
    assert book.sheet_names == ["Phụ lục", "Tình hình báo cáo", "Nội dung báo cáo"]


def test_texts_sheet_holds_every_units_words_in_full_as_text(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["narratives"]["N03"][0]["text"] = "=HYPERLINK(\"http://x\",\"bấm\") đề nghị tăng kinh phí"
    out = render_annex_xlsx(c, tmp_path / "phu-luc.xlsx")
    rows = CalamineWorkbook.from_path(str(out)).get_sheet_by_name(SHEET_TEXTS).to_python()
    assert rows[0][:3] == ["STT", "Cơ quan, đơn vị", "Mô tả hình thức tuyên truyền khác"]
    assert "Đề xuất, kiến nghị" in rows[0]
    col = rows[0].index("Đề xuất, kiến nghị")
    first = c["narratives"]["N03"][0]
    row = next(r for r in rows if r[1] == first["unit_name"])
    assert row[col] == "=HYPERLINK(\"http://x\",\"bấm\") đề nghị tăng kinh phí"  # a string, never a formula
    writers = {i["unit"] for items in c["narratives"].values() for i in items}
    assert len(rows) - 1 == len({u for u in UNITS if u in writers or any(
        str(v.get("K02") or "").strip() for k, v in c["values_by_unit"].items() if k == u)})


def test_annex_header_units_and_totals(book: CalamineWorkbook) -> None:
    rows = _rows(book, SHEET_ANNEX)
    header = next(r for r in rows if r and r[0] == "STT")
    assert header[1] == "Cơ quan, đơn vị"
    assert header[2] == "Số tin, bài về CCHC đăng trên Trang TTĐT của Sở (tin, bài)"  # a label, no code
    codes = [i["code"] for i in sample_consolidation()["indicators"]]
    assert not any(code in str(cell) for row in rows for cell in row for code in codes)
    assert header[-1] == "Tình hình báo cáo"
    by_name = {r[1]: r for r in rows if isinstance(r[1], str)}
    assert [r[1] for r in rows[rows.index(header) + 1:]][:9] == list(UNITS.values())
    assert by_name["Văn phòng Sở"][2:5] == [12, 1, 160]
    assert by_name["Chi cục Văn thư - Lưu trữ"][2:17] == [""] * 15
    assert by_name["Ban Thi đua - Khen thưởng"][-1] == "Bị trả lại"
    totals = by_name["Tổng cộng"]
    assert totals[2:17] == [37, 5, 1250, 20, 1, 140, 140, 11, 5, 10, 4, 4, 1, 5, 0]
    assert totals[-1] == "7/9 đơn vị"


def test_totals_row_uses_the_computed_totals(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["totals"]["W01"] = 999  # the consolidation is the source of truth, not a re-sum of the rows
    rows = _rows(CalamineWorkbook.from_path(str(render_annex_xlsx(c, tmp_path / "a.xlsx"))), SHEET_ANNEX)
    assert next(r for r in rows if r[1] == "Tổng cộng")[2] == 999


def test_status_sheet(book: CalamineWorkbook) -> None:
    rows = _rows(book, SHEET_STATUS)
    # no unit codes, no reasons for rejected files (they stay with the Office): the sheet goes to UBND tỉnh
    assert rows[0] == ["STT", "Cơ quan, đơn vị", "Tình hình báo cáo", "Thời điểm nhận", "Đúng hạn"]
    by_name = {r[1]: r for r in rows[1:]}
    assert list(by_name) == list(UNITS.values())
    assert by_name["Văn phòng Sở"][2:5] == ["Đúng hạn", "15/03/2021 08:12", "Có"]
    assert by_name["Ban Tôn giáo"][2:5] == ["Muộn", "17/03/2021 08:45", "Không"]
    assert by_name["Chi cục Văn thư - Lưu trữ"][2:5] == ["Chưa báo cáo", "", ""]
    tdkt = by_name["Ban Thi đua - Khen thưởng"]
    assert tdkt[2:4] == ["Bị trả lại", "16/03/2021 10:15"]
    assert not any("ô " in str(cell) for row in rows for cell in row)


def test_output_is_deterministic(tmp_path: Path) -> None:
    a = render_annex_xlsx(sample_consolidation(), tmp_path / "a.xlsx").read_bytes()
    b = render_annex_xlsx(sample_consolidation(), tmp_path / "b.xlsx").read_bytes()
    assert a == b


def test_layout_as_a_spreadsheet_program_reads_it(tmp_path: Path) -> None:
    """Title merged over the table, header row repeated on every printed page, A4 landscape one page wide,
    names and figures frozen in view, thousands grouped, the header filled and bordered."""
    from openpyxl import load_workbook

    book = load_workbook(render_annex_xlsx(sample_consolidation(), tmp_path / "a.xlsx"))
    ws = book[SHEET_ANNEX]
    assert {str(r) for r in ws.merged_cells.ranges} == {"A1:R1", "A2:R2"}
    assert ws.print_title_rows == "$4:$4"
    assert (ws.page_setup.orientation, ws.page_setup.paperSize, ws.page_setup.fitToHeight) == ("landscape", 9, 0)
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.freeze_panes == "C5"
    assert ws.column_dimensions["B"].width == 42.7109375 and ws.row_dimensions[4].height == 120
    head, figure = ws["C4"], ws["C5"]
    assert (head.font.name, head.font.b, head.fill.fgColor.rgb, head.alignment.wrap_text) == (
        "Times New Roman", True, "FFD9E1F2", True)
    assert (figure.value, figure.number_format, figure.border.left.style) == (12, "#,##0", "thin")
    assert book.properties.creator == "baocao" and book.properties.title.startswith("Kết quả thực hiện")
    assert book[SHEET_STATUS].freeze_panes == "C2"


def test_writer_keeps_any_text_as_typed(tmp_path: Path) -> None:
    """Text a unit typed reads back as typed: markup, formulas, Excel's own _x0041_ escapes, characters XML
    cannot hold, leading spaces; an empty text is an empty cell."""
    from datetime import datetime

    from openpyxl import load_workbook

    from tasks.render.xlsx_writer import Book, Style

    texts = ["<b>&amp;</b> \"x\"", "=SUM(A1:A2)", "_x0041_ stays", "a\x01b\x1fc", "  indented ", "Đúng hạn"]
    book = Book("t", "baocao", datetime(2021, 3, 1))
    sheet = book.sheet("S'1")
    sheet.row(0, [(t, Style()) for t in texts] + [("", Style(bold=True)), (12.5, None), (7, None)])
    with pytest.raises(ValueError):
        sheet.row(0, [])
    with pytest.raises(TypeError):  # no NaN or infinity in a figure UBND tỉnh reads
        sheet.row(1, [(float("nan"), None)])
    out = book.save(tmp_path / "t.xlsx")
    row = CalamineWorkbook.from_path(str(out)).get_sheet_by_name("S'1").to_python()[0]
    assert row[:6] == texts
    assert row[6:] == ["", 12.5, 7]
    ws = load_workbook(out)["S'1"]
    assert ws["B1"].data_type == "s" and ws["B1"].value == "=SUM(A1:A2)"
    assert ws["G1"].value is None and ws["G1"].font.b  # (openpyxl does not undo _x005F_; Excel, LibreOffice do)
