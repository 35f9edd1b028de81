"""The template a unit fills: its contract, formatting, and a round trip through intake."""

import html
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tasks.channels import unit_workbook
from tasks.intake import parse_grid, read_grid
from tasks.samples import BASE
from tasks.validation import check_submission
from tests.helpers import filled


def test_template_contract_cells(ctx):
    period = ctx.period("2021-03")
    name, data = unit_workbook(ctx, ctx.cfg.unit("TĐKT"), period)
    assert name == "BC-CCHC-2021-03-TĐKT.xlsx"
    grid = read_grid(data, name)
    assert grid[3][:4] == ["Mã đơn vị", "TĐKT", "Tên đơn vị", "Ban Thi đua - Khen thưởng"]
    assert grid[4][:4] == ["Kỳ báo cáo", "2021-03", "Thời gian chốt số liệu", "15/02/2021 - 14/03/2021"]
    assert grid[5][:2] == ["Hạn gửi báo cáo", "16/03/2021"]
    assert grid[7] == ["STT", "Mã", "Chỉ tiêu", "Đơn vị tính", "Số liệu", "Ghi chú"]
    codes = [row[1] for row in grid[8:] if row[1]]
    assert codes == [i.code for i in ctx.cfg.report.indicators]  # every indicator, narratives included


def test_template_formatting_and_validation(ctx):
    _, data = unit_workbook(ctx, ctx.cfg.unit("VP"), ctx.period("2021-03"))
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    assert ws["C9"].font.name == "Times New Roman"
    assert ws.column_dimensions["C"].width > 50
    assert ws["C10"].alignment.wrap_text
    rules = ws.data_validations.dataValidation
    whole = [r for r in rules if r.type == "whole"]
    assert len(whole) == len(ctx.cfg.report.numeric)
    assert {r.operator for r in whole} == {"greaterThanOrEqual"} and {r.formula1 for r in whole} == {"0"}
    assert "E10" in {str(r.sqref) for r in whole}  # W01's value cell


def test_round_trip_accepts_filled_template(ctx):
    grid = read_grid(filled(ctx, "VP"), "vp.xlsx")
    verdict = check_submission(ctx.cfg, parse_grid(grid), ctx.period("2021-03"))
    assert verdict.errors == []
    assert verdict.unit_code == "VP" and verdict.period_key == "2021-03"
    assert verdict.values["W01"] == 12 and verdict.values["C01"] == 118
    assert verdict.values["N01"].startswith("Cập nhật đầy đủ 118 thủ tục")


def test_cli_template_writes_file(config_dir, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    out = tmp_path / "vp.xlsx"
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(tmp_path / "d"), "template",
                                      "--unit", "VP", "--period", "2021-03", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_grid(out.read_bytes(), out.name)[3][1] == "VP"
    bad = CliRunner().invoke(app, ["--config", str(config_dir), "template", "--unit", "XX", "--out", str(out)])
    assert bad.exit_code == 2 and "Không có đơn vị mã XX." in bad.output


# ---------------------------------------------------------------- what helps the unit answer


def _grid(ctx, unit: str = "CCHC", **kwargs):
    from tasks.workbook import template_grid

    period = ctx.period("2021-03")
    return template_grid(ctx.cfg.report, ctx.cfg.unit(unit), period, ctx.unit_deadline(period), **kwargs)


def _note(grid, code: str) -> str:
    return next(row[5] for row in grid if row[1] == code) or ""


def test_deadline_and_how_to_return_follow_the_units_channel(ctx) -> None:
    from tasks.config import Unit

    grid = _grid(ctx)
    assert grid[5] == ["Hạn gửi báo cáo", "16/03/2021", "Cách gửi báo cáo",
                       "Chép tệp đã điền vào thư mục nhận báo cáo của Văn phòng Sở.", None, None]
    period = ctx.period("2021-03")
    from tasks.workbook import template_grid

    for channel, text in (("email", "Gửi lại bằng cách trả lời thư này, đính kèm tệp đã điền."),
                          ("sheet", "Nhập số liệu trực tiếp trên trang tính của đơn vị; không cần gửi tệp.")):
        unit = Unit(code="X", name="Đơn vị X", emails=("x@example.org",), channel=channel)
        assert template_grid(ctx.cfg.report, unit, period, ctx.unit_deadline(period))[5][3] == text
    assert _grid(ctx, return_text="Nộp qua hệ thống.")[5][3] == "Nộp qua hệ thống."


def test_conditional_rules_are_written_beside_the_cells_they_tie(ctx) -> None:
    grid = _grid(ctx)
    assert _note(grid, "K01") == "Bắt buộc\nNếu K01 > 0 thì phải ghi K02."
    assert _note(grid, "K02") == "Nếu K01 > 0 thì phải ghi K02."
    h01 = _note(grid, "H01").split("\n")
    assert h01 == ["Bắt buộc", "Nếu H01 > 0 thì H02 phải > 0.", "Nếu H02 > 0 thì H01 phải > 0.",
                   "Nếu H01 > 0 thì H02 nên ≤ 500 × H01 (nếu không, kiểm tra lại số liệu)."]
    assert _note(grid, "H02") == _note(grid, "H01")
    assert _note(grid, "W01") == "Bắt buộc"
    # and in full under the table, in the words of the report definition
    below = [row[0] for row in grid[grid.index(next(r for r in grid if r[1] == "N04")) + 1:] if row[0]]
    assert below == [
        "Điều kiện giữa các chỉ tiêu (báo cáo không đạt điều kiện bắt buộc sẽ bị trả lại):",
        *[f"- {r.message}" for r in ctx.cfg.report.rules if r.severity == "error"],
        "- Được nhắc kiểm tra lại (không bị trả lại) khi: bình quân hơn 500 lượt người mỗi hội nghị; "
        "đề nghị kiểm tra lại số liệu H01, H02.",
    ]


def test_lines_under_the_table_are_not_read_as_indicators(ctx) -> None:
    """The contract holds: notes sit outside the code column, so parse_grid sees only indicators."""
    grid = read_grid(filled(ctx, "CCHC"), "cchc.xlsx")
    sheet = parse_grid(grid)
    assert sheet.problems == []
    assert list(sheet.values) == [i.code for i in ctx.cfg.report.indicators]
    assert (sheet.unit_code, sheet.period_text, sheet.values["W01"].cell) == ("CCHC", "2021-03", "E10")


def test_row_heights_fit_wrapped_labels(ctx) -> None:
    _, data = unit_workbook(ctx, ctx.cfg.unit("VP"), ctx.period("2021-03"))
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    assert ws.column_dimensions["A"].width >= 16  # 'Hạn gửi báo cáo' in bold is never cut
    h01 = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 2).value == "H01")
    assert ws.row_dimensions[h01].height >= 4 * 12 * 1.2  # four note lines
    assert all(ws.cell(h01, c).alignment.wrap_text for c in (3, 6))
    assert "D4:F4" in {str(m) for m in ws.merged_cells.ranges}  # the unit name spans to the right edge
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$8:$8"


def _pdf_column_lines(pdf: Path) -> dict[float, list[tuple[int, float, float, str]]]:
    """Text lines by left edge (a cell column), each (page, top, bottom, text) in page order."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], check=True, capture_output=True,
                         text=True).stdout
    columns: dict[float, list[tuple[int, float, float, str]]] = {}
    for page, body in enumerate(xml.split("<page ")[1:]):
        for m in re.finditer(r'<line xMin="([\d.]+)" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">(.*?)</line>',
                             body, re.DOTALL):
            words = " ".join(re.findall(r">([^<]*)</word>", m.group(4)))
            columns.setdefault(round(float(m.group(1))), []).append(
                (page, float(m.group(2)), float(m.group(3)), html.unescape(words)))
    for lines in columns.values():
        lines.sort(key=lambda t: (t[0], t[1]))
    return columns


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext") and shutil.which("pdftoppm")),
                    reason="needs LibreOffice Calc and poppler-utils (make system-deps)")
def test_labels_fully_visible_in_libreoffice(ctx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Printed by LibreOffice: every label whole (not 'Mã đơn v', 'Kỳ báo c'), nothing overlapping."""
    from tasks.render.pdf import convert_to_pdf

    monkeypatch.delenv("BAOCAO_NO_PDF", raising=False)
    name, data = unit_workbook(ctx, ctx.cfg.unit("XDCQ"), ctx.period("2021-03"))
    xlsx = tmp_path / name
    xlsx.write_bytes(data)
    result = convert_to_pdf(xlsx)
    assert result.ok, result.reason
    text = subprocess.run(["pdftotext", "-layout", str(result.path), "-"], check=True, capture_output=True,
                          text=True).stdout
    # reading order (no -layout): LibreOffice draws cell by cell, so a wrapped cell's lines follow each other
    flat = re.sub(r"\s+", " ", subprocess.run(["pdftotext", str(result.path), "-"], check=True,
                                              capture_output=True, text=True).stdout)
    for label in ("Mã đơn vị", "Kỳ báo cáo", "Hạn gửi báo cáo", "Tên đơn vị", "Thời gian chốt số liệu",
                  "Cách gửi báo cáo", "Phòng Xây dựng chính quyền và Công tác thanh niên",
                  "Chép tệp đã điền vào thư mục nhận báo cáo của Văn phòng Sở.",
                  "BÁO CÁO KẾT QUẢ THỰC HIỆN CÔNG TÁC TUYÊN TRUYỀN CẢI CÁCH HÀNH CHÍNH"):
        assert label in flat, label
    # each cell's text stays on its own lines: the labels are the first words of their lines
    lines = [ln.strip() for ln in text.splitlines()]
    assert any(ln.startswith("Mã đơn vị") and "XDCQ" in ln and "Tên đơn vị" in ln for ln in lines)
    assert any(ln.startswith("Kỳ báo cáo") and "2021-03" in ln for ln in lines)
    # every long label wrapped but whole, inside its column, and no line drawn over another
    columns = _pdf_column_lines(result.path)
    label_x = next(x for x, lines in columns.items() if any(t.startswith("Số tin, bài") for _, _, _, t in lines))
    label_lines = columns[label_x]
    column_text = " ".join(t for _, _, _, t in label_lines)
    for ind in ctx.cfg.report.indicators:
        assert re.sub(r"\s+", " ", ind.label) in column_text, ind.label
    for lines in columns.values():
        for (page, _, bottom, a), (page2, top, _, b) in zip(lines, lines[1:], strict=False):
            assert page != page2 or top >= bottom - 3, (a, b)  # below the previous one (bbox overlap < 3 pt)
    assert "Nếu K01 > 0 thì phải ghi K02." in flat
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(result.path),
                    str(tmp_path / "page1")], check=True, timeout=60)
    assert (tmp_path / "page1.png").stat().st_size > 20_000
    keep = os.environ.get("BAOCAO_KEEP_PNG")
    if keep:
        shutil.copy(tmp_path / "page1.png", keep)


def test_refilled_workbook_keeps_the_units_values_and_marks_the_faults(ctx) -> None:
    """A rejected file comes back with the unit's own figures, the faulty cells red and commented."""
    from tasks.workbook import FAULT_FILL, refilled_workbook

    period = ctx.period("2021-03")
    sent = read_grid(filled(ctx, "CCHC", K01=2, K02=None, H03=-1), "cchc.xlsx")
    sheet = parse_grid(sent)
    verdict = check_submission(ctx.cfg, sheet, period)
    by_code = {e.code: e for e in verdict.errors}
    assert {"K02", "H03"} <= set(by_code)
    data = refilled_workbook(ctx.cfg.report, ctx.cfg.unit("CCHC"), period, ctx.unit_deadline(period),
                             {code: raw.raw for code, raw in sheet.values.items()},
                             [e.to_dict() for e in verdict.errors])
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    row = {ws.cell(r, 2).value: r for r in range(9, ws.max_row + 1) if ws.cell(r, 2).value}
    # the unit's values are all there, the faulty ones too, as it typed them
    assert ws.cell(row["W01"], 5).value == sheet.values["W01"].raw
    assert ws.cell(row["H03"], 5).value == -1 and ws.cell(row["K01"], 5).value == 2
    for code in ("H03", "K02"):
        cell = ws.cell(row[code], 5)
        assert cell.fill.fgColor.rgb == "FF" + FAULT_FILL[1:]
        assert cell.comment is not None and cell.comment.text == by_code[code].message
    assert ws.cell(row["W01"], 5).fill.fgColor.rgb != "FF" + FAULT_FILL[1:] and ws.cell(row["W01"], 5).comment is None
    tail = [ws.cell(r, 1).value for r in range(row["N04"] + 1, ws.max_row + 1) if ws.cell(r, 1).value]
    start = tail.index("Báo cáo đã gửi bị trả lại vì các lỗi sau (ô tô đỏ; đưa chuột vào ô để xem lý do):")
    assert tail[start + 1:] == [f"- {e.message}" for e in verdict.errors]
    # fixing the two cells makes it acceptable: nothing else needs retyping
    again = read_grid(data, "cchc.xlsx")
    fixed = [list(r) for r in again]
    fixed[row["H03"] - 1][4] = 3
    fixed[row["K02"] - 1][4] = "Tuyên truyền qua loa truyền thanh xã"
    assert check_submission(ctx.cfg, parse_grid(fixed), period).errors == []


def test_refilled_workbook_without_indicator_errors_lists_them(ctx) -> None:
    from tasks.workbook import refilled_workbook

    period = ctx.period("2021-03")
    errors = [{"message": "Kỳ báo cáo ghi 2021-02, không phải kỳ 2021-03.", "cell": "B5"}]
    data = refilled_workbook(ctx.cfg.report, ctx.cfg.unit("VP"), period, ctx.unit_deadline(period),
                             {"W01": 12}, errors)
    grid = read_grid(data, "vp.xlsx")
    assert grid[4][1] == "2021-03"  # the fresh template has the right period already
    assert grid[-1][0] == "- Kỳ báo cáo ghi 2021-02, không phải kỳ 2021-03."
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    assert not any(c.comment for r in ws.iter_rows() for c in r)


# ---------------------------------------------------------------- the .xlsx as Excel, LibreOffice and intake read it

HOSTILE = "<b>x</b> & =1+1"  # unit-supplied text that looks like markup and a formula


def _refilled_with_two_faults(ctx) -> tuple[bytes, dict[str, int], dict[str, str]]:
    """A rejection's workbook: H03 and K02 faulty, H03's message two lines with markup-looking unit text."""
    from tasks.workbook import refilled_workbook

    period = ctx.period("2021-03")
    messages = {"H03": f"Chỉ tiêu H03 phải là số nguyên ≥ 0.\nĐơn vị ghi: {HOSTILE}",
                "K02": "Nếu K01 > 0 thì phải ghi K02."}
    values = {**BASE["CCHC"], "H03": -1, "K02": None}
    data = refilled_workbook(ctx.cfg.report, ctx.cfg.unit("CCHC"), period, ctx.unit_deadline(period), values,
                             [{"code": code, "message": m} for code, m in messages.items()])
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    rows = {ws.cell(r, 2).value: r for r in range(9, ws.max_row + 1) if ws.cell(r, 2).value}
    return data, rows, messages


def test_workbook_look_as_a_spreadsheet_program_reads_it(ctx) -> None:
    """Fonts, fills, borders, merges, widths, heights, frozen header, print setup, document properties."""
    import zipfile

    from tasks.workbook import FIXED_CREATED, WIDTHS

    data, rows, _ = _refilled_with_two_faults(ctx)
    book = load_workbook(io.BytesIO(data))
    ws = book.worksheets[0]
    assert ws.title == "Báo cáo"
    assert (book.properties.title, book.properties.creator) == (ctx.cfg.report.title, "baocao")
    assert book.properties.created == FIXED_CREATED.replace(tzinfo=None)
    assert [ws.column_dimensions[c].width for c in "ABCDEF"] == [w + 0.7109375 for w in WIDTHS]  # as xlsxwriter

    def look(ref: str) -> tuple:
        c = ws[ref]
        return (c.font.name, c.font.sz, bool(c.font.b), bool(c.font.i), c.alignment.horizontal,
                c.alignment.vertical, bool(c.alignment.wrap_text), c.fill.fgColor.rgb if c.fill.fill_type else None,
                c.border.left.style, c.border.top.style)

    tnr = "Times New Roman"
    assert look("A1") == (tnr, 13, True, False, "center", "center", True, None, None, None)  # title
    assert look("A2") == (tnr, 12, False, True, "center", "center", True, None, None, None)  # plan reference
    assert look("A4") == (tnr, 12, True, False, None, "center", True, None, None, None)  # label
    assert look("B4") == (tnr, 12, False, False, None, "center", True, "FFF2F2F2", "thin", "thin")  # prefilled
    assert look("D4") == look("B4")
    # the unit name's merged span keeps its fill and border (openpyxl reads merged cells unstyled: the XML)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    style = re.search(r'<c r="D4"( s="\d+")', sheet)[1]
    assert f'<c r="E4"{style}/>' in sheet and f'<c r="F4"{style}/>' in sheet
    assert look("A7") == (tnr, 12, False, True, None, "center", True, None, None, None)  # how to fill it in
    assert look("C8") == (tnr, 12, True, False, "center", "center", True, "FFD9E1F2", "thin", "thin")  # header
    assert look("A9") == look("F9") == (tnr, 12, True, False, None, "center", True, "FFEDEDED", "thin", "thin")
    w01 = rows["W01"]
    assert look(f"A{w01}") == (tnr, 12, False, False, "center", "center", False, None, "thin", "thin")  # STT
    assert look(f"C{w01}") == (tnr, 12, False, False, None, "center", True, None, "thin", "thin")
    assert look(f"E{w01}") == (tnr, 12, False, False, None, "center", True, "FFFFF2CC", "thin", "thin")  # input
    assert look(f"F{w01}") == (tnr, 11, False, True, None, "center", True, None, "thin", "thin")  # note
    for code in ("H03", "K02"):  # the faults: red fill, a medium dark red frame
        cell = ws[f"E{rows[code]}"]
        assert look(cell.coordinate)[:8] == (tnr, 12, False, False, None, "center", True, "FFF4CCCC")
        assert {(getattr(cell.border, side).style, getattr(cell.border, side).color.rgb)
                for side in ("left", "right", "top", "bottom")} == {("medium", "FFC00000")}
    assert ws[f"E{rows['K02']}"].value is None  # an empty fault keeps its frame (a blank styled cell)
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert {"A1:F1", "A2:F2", "D4:F4", "D5:F5", "D6:F6", "A7:F7"} <= merged
    tail = [r for r in range(rows["N04"] + 1, ws.max_row + 1) if ws.cell(r, 1).value]
    assert tail and all(f"A{r}:F{r}" in merged for r in tail)  # the rules and the reasons span the table
    heights = ws.row_dimensions
    assert [heights[r].height for r in range(1, 9)] == [21, 19.5, 19.5, 19.5, 19.5, 19.5, 19.5, 19.5]
    assert heights[rows["H01"]].height == 81.75  # four note lines, in whole pixels (109 px)
    assert heights[rows["N01"]].height == 66.75  # a narrative answer gets four lines
    assert ws.freeze_panes == "A9"
    setup = ws.page_setup
    # one page wide (fitToWidth left at its default, 1), as many tall as needed
    assert (setup.paperSize, setup.orientation, setup.fitToWidth or 1, setup.fitToHeight) == (9, "landscape", 1, 0)
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows == "$8:$8"
    m = ws.page_margins
    assert (m.left, m.right, m.top, m.bottom, m.header, m.footer) == (0.5, 0.4, 0.6, 0.6, 0.3, 0.3)


def test_workbook_validations_and_fault_comments(ctx) -> None:
    """Every figure takes only a whole number (Excel says why otherwise); each fault carries its reason."""
    import zipfile

    data, rows, messages = _refilled_with_two_faults(ctx)
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    rules = {str(r.sqref): r for r in ws.data_validations.dataValidation}
    numeric = [i for i in ctx.cfg.report.indicators if i.type == "integer"]
    assert set(rules) == {f"E{rows[i.code]}" for i in numeric}
    for ind in numeric:
        rule = rules[f"E{rows[ind.code]}"]
        assert (rule.type, rule.operator, rule.formula1, rule.allow_blank) == (
            "whole", "greaterThanOrEqual", str(ind.min or 0), True)
        assert rule.showErrorMessage and rule.errorTitle == "Số liệu không hợp lệ"
        assert rule.error == f"Chỉ tiêu {ind.code}: nhập số nguyên ≥ {ind.min or 0}."
    noted = {c.coordinate: c.comment for row in ws.iter_rows() for c in row if c.comment}
    assert set(noted) == {f"E{rows['H03']}", f"E{rows['K02']}"}
    for code, message in messages.items():
        note = noted[f"E{rows[code]}"]
        assert (note.author, note.text) == ("Văn phòng", message)  # newline and markup kept as typed
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        comments = z.read("xl/comments1.xml").decode()
        vml = z.read("xl/drawings/vmlDrawing1.vml").decode()
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert comments.count('<rFont val="Times New Roman"/>') == 2 and comments.count('<sz val="11"/>') == 2
    assert "&lt;b&gt;x&lt;/b&gt; &amp; =1+1" in comments  # text, never markup
    assert vml.count("width:288pt;height:111pt") == 2  # Excel's note box, three times as wide, twice as tall
    assert f"<x:Row>{rows['H03'] - 1}</x:Row><x:Column>4</x:Column>" in vml
    assert sheet.index("</mergeCells><dataValidations") < sheet.index("<pageMargins") < sheet.index(
        "<pageSetup") < sheet.index('<legacyDrawing r:id="rId1"/></worksheet>')  # in the schema's order


def test_workbook_text_reads_back_exactly_as_the_grid_held_it(ctx) -> None:
    """Calamine (intake) reads every cell as written: shared strings, spaces kept, markup, formula-like text,
    Excel's own _x0041_ escapes and characters XML cannot hold stay text; numbers stay numbers."""
    import zipfile

    from tasks import zipdir
    from tasks.workbook import COL_VALUE, write_template_xlsx

    grid = _grid(ctx)
    rows = {row[1]: r for r, row in enumerate(grid) if row[1]}
    typed = {"W01": 12, "H01": 1.5, "H02": 10**15, "H03": -1, "K02": f"  {HOSTILE} ", "N01": "_x0041_ stays",
             "N02": "a\x01b\x1fc\nline 2", "N03": '=HYPERLINK("http://x","bấm")', "N04": ""}
    for code, value in typed.items():
        grid[rows[code]][COL_VALUE] = value
    data = write_template_xlsx(grid, ctx.cfg.report)
    assert read_grid(data, "x.xlsx") == [["" if v is None else v for v in row] for row in grid]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        strings = z.read("xl/sharedStrings.xml").decode()
    assert 't="s"' in sheet and "inlineStr" not in sheet and "<f>" not in sheet  # shared, as Excel saves them
    assert f'<t xml:space="preserve">  {HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")} ' \
           in strings
    # the same grid is the same bytes, whatever the writer remembers from earlier workbooks
    zipdir._deflate_remembered.cache_clear()
    assert write_template_xlsx(grid, ctx.cfg.report) == data
