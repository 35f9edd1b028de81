"""The second report (CCHC results under the Ministry's regime) runs from its YAML alone: its workbook is
built, a filled one validated, and 2021-Q1 consolidated and written up with the same machinery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tasks.config import AppConfig, load_config
from tasks.intake import parse_grid, read_grid
from tasks.merge import PeriodReports, RejectedReport, UnitReport, consolidate
from tasks.periods import parse_period
from tasks.render import prose
from tasks.validation import check_submission
from tasks.workbook import COL_CODE, COL_VALUE, template_grid, write_template_xlsx
from tests.report_checks import internals, numbers_not_in_json, prose_texts, repeated_headings

REPORT = "cchc-ket-qua"

# VB01 KT01 KT02 TH01 TH02 TH03 TH04 DV01 DV02 DV03 CV01 CV02
Q1: dict[str, list[int]] = {
    "VP":   [4, 1, 2, 0, 0, 0, 0, 0, 0, 0, 18, 6],
    "CCHC": [6, 2, 5, 0, 0, 0, 0, 0, 0, 0, 9, 12],
    "TCBC": [2, 0, 0, 28, 140, 131, 2, 20, 6, 95, 11, 4],
    "CCVC": [1, 0, 0, 35, 210, 210, 0, 25, 10, 160, 10, 8],
    "VTLT": [0, 0, 0, 12, 60, 58, 0, 8, 4, 31, 25, 3],
}  # fmt: skip
CODES = ["VB01", "KT01", "KT02", "TH01", "TH02", "TH03", "TH04", "DV01", "DV02", "DV03", "CV01", "CV02"]
TEXTS = {
    "N01": "Rà soát, đơn giản hóa thủ tục hành chính lĩnh vực công chức",
    "N02": "Hồ sơ quá hạn do phải xin ý kiến nhiều cơ quan",
    "N03": "Nâng tỷ lệ hồ sơ trực tuyến mức độ 4",
    "N04": "Đề nghị nâng cấp Cổng dịch vụ công của tỉnh",
}


@pytest.fixture
def cfg(config_dir) -> AppConfig:
    return load_config(config_dir).with_report(REPORT)


def _filled(cfg: AppConfig, unit: str, period: str, values: dict[str, Any]) -> bytes:
    u = cfg.unit(unit)
    p = parse_period(period)
    grid = template_grid(cfg.report, u, p, cfg.unit_deadline(p))
    for row in grid:
        if isinstance(row[0], int) and row[COL_CODE] in values:
            row[COL_VALUE] = values[str(row[COL_CODE])]
    return write_template_xlsx(grid, cfg.report)


def _values(unit: str, row: list[int]) -> dict[str, Any]:
    values: dict[str, Any] = dict(zip(CODES, row, strict=True))
    values["N01"] = f"{TEXTS['N01']} ({unit})"
    if values["TH04"]:
        values["N02"] = TEXTS["N02"]
    if unit == "CCHC":
        values.update(N03=TEXTS["N03"], N04=TEXTS["N04"])
    return values


def _submit(cfg: AppConfig, unit: str, period: str, values: dict[str, Any]):
    data = _filled(cfg, unit, period, values)
    return check_submission(cfg, parse_grid(read_grid(data, f"{unit}.xlsx")), parse_period(period))


def _reports(cfg: AppConfig, period: str, data: dict[str, list[int]]) -> list[UnitReport]:
    out = []
    for unit, row in data.items():
        verdict = _submit(cfg, unit, period, _values(unit, row))
        assert verdict.accepted, [e.message for e in verdict.errors]
        out.append(UnitReport(unit, datetime(2021, 3, 12, 2, tzinfo=UTC), True, verdict.values))
    return out


def test_definition_selects_its_own_periods_and_deadlines(cfg):
    assert cfg.report.id == REPORT and cfg.period_kind == "quarter"
    assert load_config(cfg.config_dir).report.id == "cchc-tuyen-truyen"  # the default is unchanged
    q1 = parse_period("2021-Q1")
    assert (q1.start.isoformat(), q1.end.isoformat()) == ("2020-12-15", "2021-03-14")
    assert cfg.unit_deadline(q1).isoformat() == "2021-03-15"
    assert cfg.report_deadline(q1).isoformat() == "2021-03-20"  # the 20th of the period's last month
    assert cfg.report_deadline(parse_period("2021-H1")).isoformat() == "2021-06-20"
    assert [i.code for i in cfg.report.numeric if i.aggregation == "level"] == ["TH01", "DV01", "DV02", "CV01"]


def test_workbook_validates_its_own_rules(cfg):
    bad = _values("TCBC", Q1["TCBC"])
    bad.pop("N02")
    verdict = _submit(cfg, "TCBC", "2021-Q1", bad)
    assert [e.message for e in verdict.errors] == [
        "Có hồ sơ giải quyết quá hạn (TH04 > 0) thì phải nêu nguyên nhân tại mục Tồn tại, hạn chế (N02)."]
    monthly = _filled(cfg, "VP", "2021-03", _values("VP", Q1["VP"]))  # a month's workbook sent for the quarter
    wrong = check_submission(cfg, parse_grid(read_grid(monthly, "vp.xlsx")), parse_period("2021-Q1"))
    assert [e.message for e in wrong.errors] == [
        "Kỳ báo cáo “2021-03” (ô B5) không đúng: đang tổng hợp kỳ 2021-Q1 (quý I năm 2021). "
        "Hãy dùng biểu mẫu của kỳ 2021-Q1."]


def test_q1_consolidates_and_reads_right(cfg):
    q1 = parse_period("2021-Q1")
    reports = _reports(cfg, "2021-Q1", Q1)
    rejected = [RejectedReport("TĐKT", datetime(2021, 3, 15, 3, tzinfo=UTC), "inbox/tdkt.xlsx",
                               [{"message": "Ô B4 (Mã đơn vị) đang để trống.", "cell": "B4"}])]
    c = consolidate(cfg, q1, reports, rejected, history=[],
                    generated_at=datetime(2021, 3, 18, 2, tzinfo=UTC))
    assert c["period"]["unit_deadline"] == "2021-03-15" and c["period"]["report_deadline"] == "2021-03-20"
    assert c["totals"]["TH02"] == 410 and c["totals"]["DV01"] == 53 and c["totals"]["CV01"] == 73
    assert c["previous"] is None and c["comparison"] is None
    assert c["year_to_date"]["TH02"] == 410  # the year's first quarter: year-to-date is the quarter itself

    sections = prose.build_sections(c)
    assert [s.title for s in sections] == [
        "I. KẾT QUẢ THỰC HIỆN CÔNG TÁC CẢI CÁCH HÀNH CHÍNH", "II. TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ",
        "III. TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN", "IV. ĐỀ XUẤT, KIẾN NGHỊ", "V. PHƯƠNG HƯỚNG, NHIỆM VỤ KỲ TỚI"]
    first = [p.text for p in sections[0].paragraphs]
    assert first[:2] == ["1. Công tác chỉ đạo, điều hành",
                         "a) Công tác chỉ đạo, điều hành cải cách hành chính: ban hành 13 văn bản chỉ đạo, điều "
                         "hành về cải cách hành chính; thực hiện 3 cuộc kiểm tra; tại 7 cơ quan, đơn vị."]
    assert ("a) Cải cách thủ tục hành chính: 75 thủ tục hành chính thuộc thẩm quyền giải quyết đang có hiệu lực; "
            "tiếp nhận 410 hồ sơ; giải quyết đúng hạn 399 hồ sơ; giải quyết quá hạn 2 hồ sơ.") in first
    closing = [p.text for p in sections[4].paragraphs]
    assert closing == [
        "Trong quý II năm 2021, Sở Nội vụ tiếp tục thực hiện Kế hoạch cải cách hành chính năm 2021 của Sở Nội vụ, "
        "trong đó các cơ quan, đơn vị tập trung vào những nhiệm vụ sau:",
        "- Nâng tỷ lệ hồ sơ trực tuyến mức độ 4 (Phòng Cải cách hành chính)."]
    text = "\n".join(prose_texts(c))
    assert "tuyên truyền" not in text  # nothing of the other plan's wording
    assert "lũy kế" not in text  # the first quarter is the year so far: not repeated as year-to-date
    assert numbers_not_in_json(c) == []
    assert internals(c) == [] and repeated_headings(c) == []
    assert "Ban Thi đua - Khen thưởng" in text and "B4" not in text


def test_levels_are_not_added_across_quarters(cfg):
    q1 = _reports(cfg, "2021-Q1", Q1)
    q2_data = {u: [v + 1 for v in row] for u, row in Q1.items()}
    q2_data = {u: [*row[:6], 0, *row[7:]] for u, row in q2_data.items()}  # TH04 = 0: no explanation needed
    q2 = _reports(cfg, "2021-Q2", q2_data)
    c = consolidate(cfg, parse_period("2021-Q2"), q2, [], history=[PeriodReports(parse_period("2021-Q1"), q1)])
    assert c["totals"]["DV01"] == 58 and c["year_to_date"]["DV01"] == 58  # a level: the latest, not 53 + 58
    assert c["year_to_date"]["TH02"] == 410 + 415  # a count: both quarters
    assert c["comparison"]["same_units"] is True and c["comparison"]["change"]["DV01"] == 5
    phrase = prose.indicator_phrase(c, "DV01")
    assert phrase == ("cung cấp 58 dịch vụ công trực tuyến mức độ 3, tăng 5 dịch vụ (9,4%) so với quý I năm 2021")
    assert numbers_not_in_json(c) == []


def test_q3_year_to_date_rests_on_the_six_month_report_when_q2_was_not_collected_on_its_own(cfg):
    """The regime collects quý I, 6 tháng, quý III, năm: quý III's year-to-date is 6 tháng + quý III (the
    windows 15/12–14/6 and 15/6–14/9 tile the year), never 'quý II không được tổng hợp', and never quý I added
    to the 6 months that already hold it."""
    q1 = _reports(cfg, "2021-Q1", Q1)
    h1_data = {u: [2 * v for v in row] for u, row in Q1.items()}
    h1 = _reports(cfg, "2021-H1", h1_data)
    q3 = _reports(cfg, "2021-Q3", Q1)
    history = [PeriodReports(parse_period("2021-Q1"), q1), PeriodReports(parse_period("2021-H1"), h1)]
    c = consolidate(cfg, parse_period("2021-Q3"), q3, [], history=history)
    assert c["totals"]["TH02"] == 410
    assert c["year_to_date"]["TH02"] == 820 + 410  # 6 tháng + quý III, not + quý I again
    assert c["year_to_date"]["DV01"] == 53  # a level: quý III's
    assert c["year_to_date_basis"] == {"periods": ["2021-H1", "2021-Q3"], "missing": [], "missing_labels": [],
                                       "from_label": None, "shown": True}
    phrase = prose.indicator_phrase(c, "TH02")
    assert phrase == "tiếp nhận 410 hồ sơ, lũy kế từ đầu năm: 1.230 hồ sơ"
    assert "không được tổng hợp" not in "\n".join(prose_texts(c))
    assert numbers_not_in_json(c) == []
    # quý II collected too: the quarters are added, the 6 months (which holds quý I and II) is not
    q2 = _reports(cfg, "2021-Q2", Q1)
    history.append(PeriodReports(parse_period("2021-Q2"), q2))
    c = consolidate(cfg, parse_period("2021-Q3"), q3, [], history=history)
    assert c["year_to_date"]["TH02"] == 3 * 410 and c["year_to_date_basis"]["periods"] == [
        "2021-Q1", "2021-Q2", "2021-Q3"]


def test_consolidation_reads_the_longer_periods_a_year_to_date_may_rest_on():
    assert [p.key for p in parse_period("2021-Q3").spans_before()] == ["2021-H1"]
    assert [p.key for p in parse_period("2021-Q4").spans_before()] == ["2021-H1", "2021-9M"]
    assert [p.key for p in parse_period("2021-07").spans_before()] == ["2021-H1"]
    assert parse_period("2021-Q2").spans_before() == [] and parse_period("2021-H1").spans_before() == []
