"""Prose and Vietnamese formatting: the sentences a reader of the report sees."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tasks.render import prose
from tasks.render.vietnamese_dates import format_date, format_date_line, format_number, format_percent
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


def test_form_paragraph_has_total_change_and_year_to_date() -> None:
    text = _all_text(sample_consolidation())
    assert ("a) Thông qua Trang Thông tin điện tử của Sở: số tin, bài về CCHC đăng trên Trang TTĐT của Sở "
            "đạt 37 tin, bài, tăng 7 tin, bài (23,3%) so với tháng 2 năm 2021, lũy kế từ đầu năm 80 tin, bài."
            ) in text
    assert "1.250 lượt người" in text
    assert "giảm 1 hoạt động (8,3%)" in text


def test_no_previous_period_and_no_year_to_date() -> None:
    c = sample_consolidation()
    c["previous"] = None
    c["year_to_date"] = {}
    phrase = prose.indicator_phrase(c, "W01")
    assert phrase == "số tin, bài về CCHC đăng trên Trang TTĐT của Sở đạt 37 tin, bài"
    assert "so với" not in _all_text(c)
    assert "lũy kế" not in _all_text(c)


def test_zero_values() -> None:
    c = sample_consolidation()
    c["totals"]["T01"] = 0
    c["previous"]["totals"]["T01"] = 0
    assert prose.indicator_phrase(c, "T01").startswith(
        "số kỳ thi tuyển dụng, thi nâng ngạch có nội dung CCHC: không phát sinh")
    assert "so với" not in prose.indicator_phrase(c, "T01")
    # previous zero, now positive: an increase without a percentage (no division by zero)
    c["totals"]["T01"] = 2
    assert "tăng 2 kỳ thi so với tháng 2 năm 2021" in prose.indicator_phrase(c, "T01")


def test_change_phrase_cases() -> None:
    assert prose.change_phrase(5, 5, "tin, bài", "tháng 2") == "không thay đổi so với tháng 2"
    assert prose.change_phrase(3, 4, "tin, bài", "tháng 2") == "giảm 1 tin, bài (25%) so với tháng 2"
    assert prose.change_phrase(0, 0, "tin, bài", "tháng 2") == ""
    assert prose.change_phrase(3, None, "tin, bài", "tháng 2") == ""


def test_completeness_names_late_missing_and_rejected_units() -> None:
    paras = [p.text for p in prose.completeness_paragraphs(sample_consolidation())]
    text = "\n".join(paras)
    assert "7/9 (đạt 77,8%)" in text
    assert "đúng hạn 6 đơn vị, muộn 1 đơn vị" in text
    assert "- Đơn vị gửi báo cáo muộn: Ban Tôn giáo." in paras
    assert "- Đơn vị chưa gửi báo cáo: Chi cục Văn thư - Lưu trữ." in paras
    rejected = next(p for p in paras if "bị trả lại" in p)
    assert "Ban Thi đua - Khen thưởng" in rejected and "ô D12" in rejected
    # a rejected unit is not also listed as "not sent"
    assert "Ban Thi đua" not in paras[2]


def test_all_units_on_time() -> None:
    c = sample_consolidation()
    comp = c["completeness"]
    comp.update(accepted=comp["expected"], on_time=comp["expected"], late=[], missing=[], rejected=[],
                accepted_count=9, on_time_count=9, late_count=0, missing_count=0,
                reporting_rate=1.0, on_time_rate=1.0)
    text = "\n".join(p.text for p in prose.completeness_paragraphs(c))
    assert "9/9 (đạt 100%)" in text
    assert "100% cơ quan, đơn vị gửi báo cáo đúng hạn" in text
    assert "muộn" not in text


def test_sections_and_attributed_narratives() -> None:
    sections = prose.build_sections(sample_consolidation())
    assert [s.title for s in sections] == [
        "I. KẾT QUẢ THỰC HIỆN", "II. TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ",
        "III. TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN", "IV. ĐỀ XUẤT, KIẾN NGHỊ"]
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
    c = sample_consolidation()
    c["previous"] = None
    assert prose.summary_rows(c)[0]["change"] == "-"


def test_output_is_nfc() -> None:
    import unicodedata

    c = sample_consolidation()
    c["units"]["BTG"] = unicodedata.normalize("NFD", "Ban Tôn giáo")
    text = "\n".join(p.text for p in prose.completeness_paragraphs(c))
    assert unicodedata.is_normalized("NFC", text)
