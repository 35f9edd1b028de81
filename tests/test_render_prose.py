"""Prose and Vietnamese formatting: the sentences a reader of the report sees."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tasks.render import prose
from tasks.render.vietnamese_dates import format_date, format_date_line, format_number, format_percent
from tests.report_checks import numbers_not_in_json
from tests.sample_consolidation import sample_consolidation


def _all_text(c: dict) -> str:
    return "\n".join(p.text for s in prose.build_sections(c) for p in s.paragraphs)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2021, 1, 5), "Tuyên Quang, ngày 05 tháng 01 năm 2021"),
        (date(2021, 2, 28), "Tuyên Quang, ngày 28 tháng 02 năm 2021"),
        (date(2021, 3, 9), "Tuyên Quang, ngày 09 tháng 3 năm 2021"),
        (date(2021, 12, 14), "Tuyên Quang, ngày 14 tháng 12 năm 2021"),
    ],
)
def test_date_line_follows_decree_30_leading_zero_rule(d: date, expected: str) -> None:
    assert format_date_line("Tuyên Quang", d) == expected


def test_date_uses_vietnam_time_zone() -> None:
    # 18:30 UTC on 4 January is already 5 January in Tuyên Quang.
    assert format_date(datetime(2021, 1, 4, 18, 30, tzinfo=UTC)) == "ngày 05 tháng 01 năm 2021"
    assert format_date("2021-03-16") == "ngày 16 tháng 3 năm 2021"


def test_numbers_and_percent_vietnamese_style() -> None:
    assert format_number(1234) == "1.234"
    assert format_number(1234567) == "1.234.567"
    assert format_number(0) == "0"
    assert format_number(2.5) == "2,5"
    assert format_percent(0.778) == "77,8%"
    assert format_percent(1.0) == "100%"
    assert format_percent(7 / 30) == "23,3%"


def _no_previous(c: dict) -> dict:
    c["previous"] = None
    c["comparison"] = None
    return c


def test_form_paragraph_has_total_change_and_year_to_date() -> None:
    text = _all_text(sample_consolidation())
    assert ("a) Thông qua Trang Thông tin điện tử của Sở: đã đăng tải 37 tin, bài về CCHC, tăng 7 tin, bài (23,3%) "
            "so với tháng 2 năm 2021, lũy kế từ đầu năm: 80 tin, bài.") in text
    assert "1.250 lượt người" in text
    assert "giảm 1 hoạt động (8,3%)" in text
    assert " đạt " not in text  # no target in this report: nothing is "reached"


def test_level_indicator_has_no_year_to_date_sum() -> None:
    c = sample_consolidation()
    phrase = prose.indicator_phrase(c, "C01")
    assert phrase == ("số thủ tục hành chính được công khai tại Bộ phận tiếp nhận và trả kết quả: 140 thủ tục, "
                      "không thay đổi so với tháng 2 năm 2021")
    assert prose.summary_rows(c)[4]["ytd"] == "140"  # C02, a level: year-to-date is the latest level


def test_no_previous_period_and_no_year_to_date() -> None:
    c = _no_previous(sample_consolidation())
    c["year_to_date"] = {}
    phrase = prose.indicator_phrase(c, "W01")
    assert phrase == "đã đăng tải 37 tin, bài về CCHC"
    assert "so với" not in _all_text(c)
    assert "lũy kế" not in _all_text(c)


def test_zero_values() -> None:
    c = sample_consolidation()
    for totals in (c["totals"], c["comparison"]["current"], c["comparison"]["previous"]):
        totals["T01"] = 0
    assert prose.indicator_phrase(c, "T01").startswith(
        "số kỳ thi tuyển dụng, thi nâng ngạch có nội dung CCHC: không phát sinh")
    assert "so với" not in prose.indicator_phrase(c, "T01")
    # previous zero, now positive: an increase without a percentage (no division by zero)
    c["totals"]["T01"] = c["comparison"]["current"]["T01"] = 2
    assert "tăng 2 kỳ thi so với tháng 2 năm 2021" in prose.indicator_phrase(c, "T01")


def test_change_phrase_cases() -> None:
    assert prose.change_phrase(5, 5, "tin, bài", "tháng 2") == "không thay đổi so với tháng 2"
    assert prose.change_phrase(3, 4, "tin, bài", "tháng 2") == "giảm 1 tin, bài (25%) so với tháng 2"
    assert prose.change_phrase(0, 0, "tin, bài", "tháng 2") == ""
    assert prose.change_phrase(3, None, "tin, bài", "tháng 2") == ""


def test_completeness_names_late_missing_and_rejected_units() -> None:
    paras = [p.text for p in prose.completeness_paragraphs(sample_consolidation())]
    text = "\n".join(paras)
    assert "7/9 (tỷ lệ 77,8%)" in text
    assert "đúng hạn 6 đơn vị, muộn 1 đơn vị" in text
    assert "- Đơn vị gửi báo cáo muộn: Ban Tôn giáo." in paras
    assert "- Đơn vị chưa gửi báo cáo: Chi cục Văn thư - Lưu trữ." in paras
    # the report to UBND tỉnh names the unit, not the cells and codes of what was wrong (the Office has them)
    assert paras[-1] == ("- Đơn vị có báo cáo chưa hợp lệ, đã được đề nghị hoàn thiện nhưng chưa gửi lại: "
                         "Ban Thi đua - Khen thưởng.")
    # a rejected unit is not also listed as "not sent"
    assert "Ban Thi đua" not in paras[2]


def test_all_units_on_time() -> None:
    c = sample_consolidation()
    comp = c["completeness"]
    comp.update(accepted=comp["expected"], on_time=comp["expected"], late=[], missing=[], rejected=[],
                accepted_count=9, on_time_count=9, late_count=0, missing_count=0,
                reporting_rate=1.0, on_time_rate=1.0)
    text = "\n".join(p.text for p in prose.completeness_paragraphs(c))
    assert "9/9 (tỷ lệ 100%)" in text
    assert "100% cơ quan, đơn vị gửi báo cáo đúng hạn" in text
    assert "muộn" not in text


def test_sections_and_attributed_narratives() -> None:
    sections = prose.build_sections(sample_consolidation())
    assert [s.title for s in sections] == [
        "I. KẾT QUẢ THỰC HIỆN", "II. TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ",
        "III. TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN", "IV. ĐỀ XUẤT, KIẾN NGHỊ", "V. PHƯƠNG HƯỚNG, NHIỆM VỤ KỲ TỚI"]
    assert [s.figures for s in sections] == [True, False, False, False, False]
    assert sections[0].paragraphs[-1].text == (
        "Một số chỉ tiêu chủ yếu tháng 3 năm 2021 so với tháng 2 năm 2021 được thể hiện tại Biểu đồ 1 và Bảng 1 "
        "dưới đây.")
    assert [p.text for p in sections[4].paragraphs] == [
        "Trong tháng 4 năm 2021, Sở Nội vụ tiếp tục triển khai Kế hoạch tuyên truyền cải cách hành chính của "
        "Sở Nội vụ năm 2021."]
    shortcomings = [p.text for p in sections[2].paragraphs]
    assert "- Nội dung tuyên truyền về công khai thủ tục hành chính còn ít (Thanh tra Sở)." in shortcomings
    proposals = [p.text for p in sections[3].paragraphs]
    assert proposals[0].endswith("(Văn phòng Sở).") and ".." not in proposals[0]


def test_empty_narratives_say_so() -> None:
    c = sample_consolidation()
    c["narratives"] = {}
    for vals in c["values_by_unit"].values():
        for code in ("N01", "N02", "N03", "N04"):
            vals.pop(code, None)
    sections = prose.build_sections(c)
    assert sections[2].paragraphs[0].text == "Các cơ quan, đơn vị không báo cáo tồn tại, hạn chế trong kỳ."
    assert sections[3].paragraphs[0].text == "Các cơ quan, đơn vị không có đề xuất, kiến nghị trong kỳ."


def test_vietnamese_letters_skip_f_and_include_dd() -> None:
    assert [prose.letter(i) for i in range(7)] == ["a", "b", "c", "d", "đ", "e", "g"]


def test_summary_rows() -> None:
    rows = prose.summary_rows(sample_consolidation())
    w01 = rows[0]
    assert (w01["current"], w01["previous"], w01["change"], w01["ytd"]) == ("37", "30", "+7 (23,3%)", "80")
    assert rows[-1] == {"no": "7", "code": "", "label": "Số cơ quan, đơn vị có báo cáo hợp lệ", "unit": "đơn vị",
                        "current": "7/9", "previous": "7/9", "change": "-", "ytd": "-"}
    c = _no_previous(sample_consolidation())
    assert prose.summary_rows(c)[0]["change"] == "-" and prose.summary_rows(c)[-1]["previous"] == "-"


def test_output_is_nfc() -> None:
    import unicodedata

    c = sample_consolidation()
    c["units"]["BTG"] = unicodedata.normalize("NFD", "Ban Tôn giáo")
    text = "\n".join(p.text for p in prose.completeness_paragraphs(c))
    assert unicodedata.is_normalized("NFC", text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Đề nghị tăng kinh phí.", "- Đề nghị tăng kinh phí (Văn phòng Sở)."),
        ("- đề nghị tăng kinh phí!", "- Đề nghị tăng kinh phí (Văn phòng Sở)."),
        ("• Tập huấn thêm;\n• Tăng kinh phí.", "- Tập huấn thêm; Tăng kinh phí (Văn phòng Sở)."),
        ("Đạt  2,5   điểm", "- Đạt 2,5 điểm (Văn phòng Sở)."),
    ],
)
def test_attributed_items_have_one_dash_and_one_full_stop(raw: str, expected: str) -> None:
    assert prose.attributed(raw, "Văn phòng Sở") == expected


def test_chart_legend_says_how_many_units_each_period_counts() -> None:
    from tasks.render.chart import build_figure

    c = sample_consolidation()
    c["previous"]["accepted_count"] = 9
    legend = [t.get_text() for t in build_figure(c).legends[0].get_texts()]
    assert legend == ["Tháng 2 năm 2021 (9/9 đơn vị)", "Tháng 3 năm 2021 (7/9 đơn vị)"]


def test_the_same_point_from_several_units_is_one_item_naming_them_all() -> None:
    items = [("Văn phòng Sở", "Đề nghị tập huấn nghiệp vụ."), ("Thanh tra Sở", "- đề nghị tập huấn nghiệp vụ"),
             ("Ban Tôn giáo", "Bổ sung kinh phí")]
    assert [p.text for p in prose.text_items(items)] == [
        "- Đề nghị tập huấn nghiệp vụ (Văn phòng Sở; Thanh tra Sở).", "- Bổ sung kinh phí (Ban Tôn giáo)."]


def test_a_province_of_units_does_not_make_the_report_thousands_of_pages() -> None:
    c = sample_consolidation()
    units = {f"X{i:05d}": f"Xã số {i}" for i in range(10_000)}
    c["units"] = units
    c["narratives"]["N03"] = [{"unit": u, "unit_name": name, "text": "Đề nghị tập huấn nghiệp vụ"
                               if i % 2 else f"Kiến nghị riêng số {i}"} for i, (u, name) in enumerate(units.items())]
    comp = c["completeness"]
    comp["missing"] = list(units)[:2_000]
    paras = [p.text for s in prose.build_sections(c) for p in s.paragraphs]
    proposals = [p for p in paras if "Kiến nghị riêng" in p or "tập huấn" in p or "nội dung khác" in p]
    assert len(proposals) == 41  # 40 distinct points, then how many more and where they all are
    assert proposals[1] == ("- Đề nghị tập huấn nghiệp vụ (" + "; ".join(f"Xã số {i}" for i in range(1, 61, 2))
                            + " và 4.970 đơn vị khác).")
    assert proposals[-1] == ("- 4.961 nội dung khác của 4.961 đơn vị: xem trang “Nội dung báo cáo” của tệp "
                             "phụ lục .xlsx.")
    missing = next(p for p in paras if p.startswith("- Đơn vị chưa gửi báo cáo"))
    assert missing.endswith("Xã số 29 và 1.970 đơn vị khác (danh sách đầy đủ tại trang “Tình hình báo cáo” "
                            "của tệp phụ lục .xlsx).")
    assert sum(len(p) for p in paras) < 30_000


def test_counts_of_units_are_grouped_the_vietnamese_way_at_province_scale() -> None:
    c = sample_consolidation()
    c["completeness"].update(expected_count=10_000, accepted_count=9_970, on_time_count=9_000,
                             late=[f"X{i}" for i in range(970)])
    text = " ".join(p.text for p in prose.completeness_paragraphs(c))
    assert "phải báo cáo: 10.000. Số cơ quan, đơn vị đã gửi báo cáo hợp lệ: 9.970/10.000" in text
    assert "đúng hạn 9.000 đơn vị, muộn 970 đơn vị" in text
    assert "Trên cơ sở báo cáo của 9.970/10.000 cơ quan" in " ".join(prose.intro_paragraphs(c))


def test_like_for_like_unit_counts_are_grouped_the_vietnamese_way_at_province_scale() -> None:
    c = sample_consolidation()
    c["completeness"].update(expected_count=10_000, accepted_count=9_980)
    c["previous"].update(accepted_count=9_990, expected_count=10_000)
    c["comparison"].update(units_count=9_970, same_units=False)
    note = prose.basis_note(c)
    assert note == ("Tháng 2 năm 2021 có 9.990/10.000 cơ quan, đơn vị báo cáo; mức tăng, giảm so với kỳ trước "
                    "được tính trên cùng 9.970 cơ quan, đơn vị có báo cáo hợp lệ ở cả hai kỳ.")
    assert prose.figures_paragraph(c).endswith(
        "so sánh trên cùng 9.970 cơ quan, đơn vị có báo cáo hợp lệ ở cả hai kỳ.")
    assert prose.indicator_phrase(c, "W01").endswith(
        "so với cùng 9.970 đơn vị kỳ trước, lũy kế từ đầu năm: 80 tin, bài")
    c["group_totals"] = {"2.4": sum(c["totals"][f"CD{i}"] for i in range(1, 8))}  # the lead's {total}
    assert numbers_not_in_json(c) == []


def test_a_small_change_on_a_large_figure_never_reads_as_0_or_100_percent() -> None:
    """One more civil servant of 3.000 is not 'tăng 1 người (0%)'; 2.500 procedures falling to 1 is not a 100% fall."""
    assert prose.change_phrase(3001, 3000, "người", "quý I năm 2021") == "tăng 1 người (0,03%) so với quý I năm 2021"
    assert prose.change_phrase(1, 2500, "thủ tục", "quý I năm 2021") == \
        "giảm 2.499 thủ tục (99,96%) so với quý I năm 2021"
    assert prose.change_phrase(0, 2500, "thủ tục", "quý I năm 2021") == \
        "giảm 2.500 thủ tục (100%) so với quý I năm 2021"
    c = sample_consolidation()
    c["totals"]["H02"] = c["comparison"]["current"]["H02"] = 3001
    c["comparison"]["previous"]["H02"] = 3000
    assert next(r for r in prose.summary_rows(c) if r["code"] == "H02")["change"] == "+1 (0,03%)"
    assert format_percent(0.778) == "77,8%" and format_percent(0.0) == "0%" and format_percent(1.0) == "100%"


def test_a_period_nobody_reported_is_no_data_not_nothing_happened() -> None:
    """No valid report yet: the figures are 'chưa có số liệu', not 'không phát sinh' (nothing happened) nor
    'đã thực hiện 0 tin, bài', and Bảng 1 shows no 0 for this period."""
    c = sample_consolidation()
    c["totals"] = dict.fromkeys(c["totals"], 0)
    c["completeness"].update(accepted=[], on_time=[], late=[], missing=list(c["completeness"]["expected"]),
                             accepted_count=0, on_time_count=0, late_count=0, missing_count=9,
                             reporting_rate=0.0, on_time_rate=0.0)
    c["values_by_unit"], c["narratives"] = {}, {}
    c["comparison"].update(units=[], units_count=0, same_units=False)  # as merge writes it: no unit in common
    text = _all_text(c)
    assert ("a) Thông qua Trang Thông tin điện tử của Sở: số tin, bài về CCHC đăng trên Trang TTĐT của Sở: "
            "chưa có số liệu.") in text
    assert "a) Đổi mới, nâng cao chất lượng xây dựng, ban hành văn bản quy phạm pháp luật: chưa có số liệu." in text
    assert "không phát sinh" not in text and "đã thực hiện 0" not in text
    w01 = prose.summary_rows(c)[0]
    assert (w01["current"], w01["previous"], w01["change"]) == ("-", "30", "-")


def test_the_previous_periods_share_is_grouped_the_vietnamese_way_at_a_provinces_scale() -> None:
    """The note under the comparisons read '9/1009 cơ quan' beside '4/1.009' in the next paragraph."""
    c = {"comparison": {"same_units": False, "units_count": 1234, "label": "tháng 2 năm 2021"},
         "previous": {"label": "tháng 2 năm 2021", "accepted_count": 1005, "expected_count": 1009},
         "completeness": {"expected_count": 1009}}
    note = prose.basis_note(c)
    assert "Tháng 2 năm 2021 có 1.005/1.009 cơ quan, đơn vị báo cáo" in note
    assert "được tính trên cùng 1.234 cơ quan, đơn vị" in note
