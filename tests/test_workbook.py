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
