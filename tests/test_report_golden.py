"""Golden tests on the demo months, read as UBND tỉnh reads them: every number in the prose is a value of
the JSON, levels are never added across periods, a comparison says which units it rests on, and no
spreadsheet internals (cells, indicator codes) reach the text."""

from __future__ import annotations

import pytest

from tasks.collect import process_documents
from tasks.consolidate import build_consolidation
from tasks.render import prose
from tasks.samples import drop_samples
from tests.helpers import folder_documents, mark_delivered
from tests.report_checks import internals, numbers_not_in_json, prose_texts, repeated_headings


def _collect(ctx, key):
    drop_samples(ctx, key)
    docs = folder_documents(ctx, ctx.ledger.known_hashes(ctx.cfg.report.id))
    process_documents(ctx, ctx.period(key), docs)


@pytest.fixture
def months(ctx):
    _collect(ctx, "2021-02")
    feb = build_consolidation(ctx, ctx.period("2021-02"))
    mark_delivered(ctx, "2021-02")
    _collect(ctx, "2021-03")
    return feb, build_consolidation(ctx, ctx.period("2021-03"))


def test_every_number_in_the_prose_is_in_the_json(months):
    for c in months:
        assert numbers_not_in_json(c) == []


def test_the_checker_catches_a_number_that_is_not_in_the_json(months):
    _, march = months
    texts = prose_texts(march)
    w01 = next(t for t in texts if "đã đăng tải 38 tin, bài" in t)
    wrong = w01.replace("đã đăng tải 38 tin, bài", "đã đăng tải 4.321 tin, bài")
    assert numbers_not_in_json(march, [*texts, wrong]) == [("4.321", wrong)]
    # a unit's own words and the definition's labels carry numbers that are not figures: not flagged
    assert any("107/2020" in t for t in texts) and numbers_not_in_json(march, texts) == []


def test_level_year_to_date_is_the_latest_level(months):
    _, march = months
    assert march["totals"]["C01"] == 118 and march["previous"]["totals"]["C01"] == 94
    assert march["year_to_date"]["C01"] == 118 and march["year_to_date"]["W01"] == 71
    text = "\n".join(prose_texts(march))
    assert "212" not in text  # 94 + 118 procedures on display would be a sum of levels
    c01 = prose.indicator_phrase(march, "C01")
    assert c01.startswith("đang niêm yết công khai 118 thủ tục hành chính tại Bộ phận tiếp nhận và trả kết quả")
    assert "lũy kế" not in c01
    row = next(r for r in prose.summary_rows(march) if r["code"] == "C01")
    assert (row["current"], row["previous"], row["ytd"]) == ("118", "94", "118")


def test_comparison_over_unequal_unit_sets_is_like_for_like(months):
    _, march = months
    # 9 units in February, 7 in March; the raw totals of topic g) fell 12 -> 11, the same 7 units rose 10 -> 11
    text = "\n".join(prose_texts(march))
    assert ("g) Kết quả, Chỉ số cải cách hành chính, Chỉ số hài lòng; sáng kiến; biểu dương, phê phán: 11 lượt, "
            "tăng 1 lượt (10%) so với cùng 7 đơn vị kỳ trước, lũy kế từ tháng 2/2021: 23 lượt.") in text
    assert "giảm 1 lượt (8,3%)" not in text
    assert ("Tháng 2 năm 2021 có 9/9 cơ quan, đơn vị báo cáo; mức tăng, giảm so với kỳ trước được tính trên cùng "
            "7 cơ quan, đơn vị có báo cáo hợp lệ ở cả hai kỳ.") in text
    rows = prose.summary_rows(march)
    assert rows[-1]["label"] == "Số cơ quan, đơn vị có báo cáo hợp lệ"
    assert (rows[-1]["current"], rows[-1]["previous"]) == ("7/9", "9/9")
    w01 = rows[0]
    assert (w01["current"], w01["previous"], w01["change"]) == ("38", "33", "+8 (26,7%)")


def test_february_is_not_called_year_to_date_when_january_was_never_collected(months):
    feb, march = months
    assert feb["year_to_date"] == {} and feb["year_to_date_basis"]["missing"] == ["2021-01"]
    text = "\n".join(prose_texts(feb))
    assert "lũy kế" not in text.replace("không nêu số lũy kế từ đầu năm", "")
    assert ("Số liệu tháng 1 năm 2021 không được tổng hợp nên báo cáo không nêu số lũy kế từ đầu năm.") in text
    assert "Số liệu tháng 1 năm 2021 không được tổng hợp nên số lũy kế tính từ tháng 2/2021." in "\n".join(
        prose_texts(march))


def test_no_cell_references_codes_or_reasons_in_the_prose(months):
    for c in months:
        assert internals(c) == []
    _, march = months
    text = "\n".join(prose_texts(march))
    assert "Lý do" not in text and "Ban Thi đua - Khen thưởng" in text
    assert march["rejected"][1]["errors"]  # the reasons stay in the JSON for the Office


def test_prose_a_clerk_would_sign(months):
    _, march = months
    assert repeated_headings(march) == []
    text = "\n".join(prose_texts(march))
    assert " đạt " not in text
    assert "được thể hiện tại Biểu đồ 1 và Bảng 1 dưới đây" in text
    titles = [s.title for s in prose.build_sections(march)]
    assert titles[-1] == "V. PHƯƠNG HƯỚNG, NHIỆM VỤ KỲ TỚI"
