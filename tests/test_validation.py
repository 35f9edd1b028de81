"""Every validation rule and the Vietnamese message a unit reads."""

import unicodedata

import pytest

from tasks.intake import UnreadableFile, parse_grid, read_grid
from tasks.validation import check_submission
from tests.helpers import filled, grid_of

MARCH = "2021-03"


def verdict_for(ctx, unit="VP", period=MARCH, expected=MARCH, **changes):
    return check_submission(ctx.cfg, parse_grid(grid_of(ctx, unit, period, **changes)), ctx.period(expected))


def messages(v):
    return [e.message for e in v.errors]


@pytest.mark.parametrize(("raw", "value"), [("12", 12), (12.0, 12), (" 12 ", 12), ("12.0", 12), ("0", 0)])
def test_values_are_normalised(ctx, raw, value):
    v = verdict_for(ctx, W01=raw)
    assert v.errors == [] and v.values["W01"] == value


@pytest.mark.parametrize("raw", ["12 tin", "3,5", "mười hai"])
def test_not_a_whole_number(ctx, raw):
    v = verdict_for(ctx, W01=raw)
    assert messages(v) == [
        f"Chỉ tiêu W01 “Số tin, bài về cải cách hành chính đăng trên Trang Thông tin điện tử của Sở” (ô E10): "
        f"giá trị “{raw}” không phải là số nguyên. Hãy chỉ nhập chữ số, không kèm chữ hay đơn vị tính (ví dụ: 12)."
    ]
    assert v.errors[0].code == "W01" and v.errors[0].cell == "E10" and v.errors[0].value == raw


def test_fraction_is_an_error(ctx):
    v = verdict_for(ctx, H03=3.5)
    assert "giá trị “3.5” không phải là số nguyên" in messages(v)[0]


def test_negative_and_above_max(ctx):
    v = verdict_for(ctx, H03=-1, C01=2500)
    assert messages(v) == [
        "Chỉ tiêu H03 “Số cuộc họp, hội nghị có lồng ghép nội dung cải cách hành chính” (ô E14): "
        "giá trị -1 nhỏ hơn mức tối thiểu 0. Hãy nhập số ≥ 0.",
        "Chỉ tiêu C01 “Số thủ tục hành chính niêm yết công khai tại Bộ phận tiếp nhận và trả kết quả” (ô E18): "
        "giá trị 2500 lớn hơn mức tối đa 2000. Hãy kiểm tra lại số liệu.",
    ]


def test_missing_required_value(ctx):
    v = verdict_for(ctx, T01=None, N01=None)
    assert messages(v) == [
        "Chỉ tiêu T01 “Số kỳ thi tuyển dụng, thi nâng ngạch có nội dung cải cách hành chính” (ô E16): "
        "chưa có số liệu. Hãy điền (nhập 0 nếu không có).",
        "Chỉ tiêu N01 “Kết quả nổi bật” (ô E32): chưa có số liệu. Hãy điền (ghi nội dung bằng lời).",
    ]


def test_deleted_indicator_row(ctx):
    grid = [row for row in grid_of(ctx) if row[1] != "H03"]
    v = check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH))
    assert messages(v) == ["Không tìm thấy dòng của chỉ tiêu H03 “Số cuộc họp, hội nghị có lồng ghép nội dung cải "
                           "cách hành chính” trong bảng. Hãy dùng đúng biểu mẫu, không xóa dòng hay sửa cột Mã."]


def test_wrong_period(ctx):
    v = verdict_for(ctx, period="2021-02")
    assert messages(v) == ["Kỳ báo cáo “2021-02” (ô B5) không đúng: đang tổng hợp kỳ 2021-03 (tháng 3 năm 2021). "
                           "Hãy dùng biểu mẫu của kỳ 2021-03."]


def test_period_cell_turned_into_a_date_by_excel(ctx):
    from datetime import datetime

    grid = grid_of(ctx)
    grid[4][1] = datetime(2021, 3, 1)
    assert check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH)).errors == []


def test_unknown_and_inactive_unit(ctx, config_dir):
    grid = grid_of(ctx)
    grid[3][1] = "PHONG-X"
    v = check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH))
    assert messages(v) == ["Mã đơn vị “PHONG-X” (ô B4) không có trong danh sách đơn vị báo cáo. "
                           "Hãy dùng đúng biểu mẫu được gửi cho đơn vị mình."]

    from tasks.context import open_context

    text = (config_dir / "units.yaml").read_text(encoding="utf-8")
    text = text.replace("    name: Ban Tôn giáo\n", "    name: Ban Tôn giáo\n    active: false\n")
    (config_dir / "units.yaml").write_text(text, encoding="utf-8")
    ctx2 = open_context(config_dir, ctx.data_dir)
    v = check_submission(ctx2.cfg, parse_grid(grid_of(ctx2, "BTG")), ctx2.period(MARCH))
    assert messages(v) == ["Đơn vị BTG (Ban Tôn giáo) hiện không thuộc diện báo cáo."]


def test_unit_code_typed_in_lower_case_and_nfd(ctx):
    grid = grid_of(ctx, "TĐKT")
    grid[3][1] = unicodedata.normalize("NFD", " tđkt ")
    v = check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH))
    assert v.errors == [] and v.unit_code == "TĐKT"


def test_cross_field_rules(ctx):
    v = verdict_for(ctx, H01=2, H02=0, K01=1, K02="")
    assert messages(v) == [
        "Đã tổ chức hội nghị (H01 > 0) thì số lượt người tham dự (H02) phải lớn hơn 0.",
        "Có hoạt động tuyên truyền bằng hình thức khác (K01 > 0) thì phải mô tả các hình thức đó (K02).",
    ]
    v = verdict_for(ctx, H01=0, H02=40)
    assert messages(v) == ["Có lượt người tham dự (H02 > 0) thì số hội nghị đã tổ chức (H01) phải lớn hơn 0."]


def test_warnings_do_not_reject(ctx):
    v = verdict_for(ctx, W01=250, H01=1, H02=900)
    assert v.accepted
    assert [w.message for w in v.warnings] == [
        "Chỉ tiêu W01 “Số tin, bài về cải cách hành chính đăng trên Trang Thông tin điện tử của Sở” (ô E10): "
        "giá trị 250 cao bất thường (trên 200); đề nghị kiểm tra lại.",
        "Bình quân hơn 500 lượt người mỗi hội nghị; đề nghị kiểm tra lại số liệu H01, H02.",
    ]


def test_rows_inserted_above_and_nfd_text(ctx):
    grid = [[None] * 6, ["Ghi chú của đơn vị", None, None, None, None, None]] + grid_of(ctx)
    for row in grid:
        if row[1] == "N01":
            row[4] = unicodedata.normalize("NFD", "Đã tổ chức hội nghị")
    v = check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH))
    assert v.errors == []
    assert v.values["N01"] == "Đã tổ chức hội nghị" and unicodedata.is_normalized("NFC", v.values["N01"])


def test_not_the_template(ctx):
    v = check_submission(ctx.cfg, parse_grid([["Báo cáo"], ["Số tin bài", 12]]), ctx.period(MARCH))
    assert messages(v) == [
        "Không tìm thấy ô 'Mã đơn vị' ở trang tính đầu tiên. Hãy dùng đúng biểu mẫu được gửi kèm.",
        "Không tìm thấy ô 'Kỳ báo cáo' ở trang tính đầu tiên. Hãy dùng đúng biểu mẫu được gửi kèm.",
        "Không tìm thấy dòng tiêu đề bảng có cột 'Mã' và cột 'Số liệu'. Hãy dùng đúng biểu mẫu, không đổi tên cột.",
    ]


def test_duplicate_indicator_row(ctx):
    grid = grid_of(ctx)
    row = next(r for r in grid if r[1] == "W01")
    grid.append(list(row))
    v = check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH))
    assert messages(v) == [f"Chỉ tiêu W01 xuất hiện hai lần (ô E10 và ô E{len(grid)}). Hãy xóa dòng bị lặp."]


def test_broken_and_foreign_files(ctx):
    with pytest.raises(UnreadableFile) as exc:
        read_grid(filled(ctx)[:300], "hong.xlsx")
    assert "Không mở được tệp 'hong.xlsx': tệp bị hỏng hoặc không đúng định dạng bảng tính" in str(exc.value)
    with pytest.raises(UnreadableFile) as exc:
        read_grid(b"%PDF-1.4", "bao cao.pdf")
    assert str(exc.value) == ("Tệp 'bao cao.pdf' không phải bảng tính. Hãy gửi tệp .xlsx (hoặc .xls, .ods, .csv) "
                              "theo biểu mẫu.")


def test_csv_with_semicolons(ctx):
    import csv
    import io

    grid = grid_of(ctx, "VTLT")
    buf = io.StringIO()
    csv.writer(buf, delimiter=";").writerows([["" if v is None else v for v in r] for r in grid])
    data = buf.getvalue().encode("utf-8-sig")
    v = check_submission(ctx.cfg, parse_grid(read_grid(data, "vtlt.csv")), ctx.period(MARCH))
    assert v.errors == [] and v.values["H02"] == 45 and v.unit_code == "VTLT"


def test_tcvn3_text_is_converted_with_a_warning(ctx):
    v = verdict_for(ctx, N01="Tæ chøc héi nghÞ t¹i huyÖn B¶o Th¾ng")
    assert v.accepted
    assert v.values["N01"] == "Tổ chức hội nghị tại huyện Bảo Thắng"
    assert v.warnings[0].message.startswith("Chỉ tiêu N01 “Kết quả nổi bật” (ô E32): văn bản gõ bằng bảng mã TCVN3")


def test_unicode_text_is_left_alone(ctx):
    from tasks.text import from_legacy

    assert from_legacy("Giá 5.000 đồng; tỷ lệ 95%") == ("Giá 5.000 đồng; tỷ lệ 95%", False)
    assert from_legacy("Ghi chú ¶ không rõ") == ("Ghi chú ¶ không rõ", False)  # real Vietnamese letters present


@pytest.mark.parametrize(("raw", "value"), [("1.000", 1000), ("12.500", 12500), ("1 000", 1000), ("12,00", 12)])
def test_vietnamese_thousands_grouping(ctx, raw, value):
    v = verdict_for(ctx, C01=raw) if value <= 2000 else verdict_for(ctx, H02=raw)
    assert v.values.get("C01" if value <= 2000 else "H02") == value


@pytest.mark.parametrize("raw", ["2,000", "1.0000", "1,5"])
def test_ambiguous_separators_are_errors(ctx, raw):
    v = verdict_for(ctx, W01=raw)
    assert f"giá trị “{raw}” không phải là số nguyên" in messages(v)[0]


def test_empty_table_is_not_a_report(ctx):
    codes = {i.code for i in ctx.cfg.report.indicators}
    grid = [row for row in grid_of(ctx) if row[1] not in codes]
    v = check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH))
    assert len(v.errors) == len([i for i in ctx.cfg.report.indicators if i.required])
    assert v.errors[0].message.startswith("Không tìm thấy dòng của chỉ tiêu W01")


def test_period_cell_as_a_sheets_serial_date(ctx):
    grid = grid_of(ctx)
    grid[4][1] = 44256  # what Google Sheets returns (UNFORMATTED_VALUE) for a retyped 1/3/2021
    assert check_submission(ctx.cfg, parse_grid(grid), ctx.period(MARCH)).errors == []
