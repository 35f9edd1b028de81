"""The template a unit fills: its contract, formatting, and a round trip through intake."""

import io

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
