"""The rendered report as a reader sees it in Word: Decree 30 layout, texts, numbers, annex."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Pt

from tasks.render.chart import render_chart
from tasks.render.docx_report import FinalInfo, annex_tables, render_report_docx
from tests.sample_consolidation import UNITS, sample_consolidation

NBSP = "\u00a0"


def _render(tmp_path: Path, c: dict | None = None, **kwargs) -> Document:
    out = render_report_docx(c or sample_consolidation(), tmp_path / "bao-cao.docx", **kwargs)
    assert out.exists()
    return Document(str(out))


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Document:
    return _render(tmp_path_factory.mktemp("docx"))


def _text(p) -> str:
    return p.text.replace(NBSP, " ")


def _all_paragraphs(doc) -> Iterator:
    yield from doc.paragraphs
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                yield from cell.paragraphs


def _body(doc) -> list[str]:
    return [_text(p) for p in doc.paragraphs]


def _find(doc, text: str):
    return next(p for p in doc.paragraphs if _text(p) == text)


def _runs_bold(p) -> bool:
    return all(r.bold for r in p.runs if r.text.strip())


def _mm(length) -> float:
    return round(length.mm, 1)


def test_page_is_a4_with_decree_30_margins(doc) -> None:
    s = doc.sections[0]
    assert (_mm(s.page_width), _mm(s.page_height)) == (210.0, 297.0)
    assert (_mm(s.top_margin), _mm(s.bottom_margin), _mm(s.left_margin), _mm(s.right_margin)) == (
        20.0, 20.0, 30.0, 15.0)


def test_annex_is_a_landscape_section(doc) -> None:
    annex = doc.sections[-1]
    assert len(doc.sections) == 2
    assert (_mm(annex.page_width), _mm(annex.page_height)) == (297.0, 210.0)


def test_widow_control_in_normal_style(doc) -> None:
    assert doc.styles["Normal"].paragraph_format.widow_control is True


def test_times_new_roman_everywhere(doc) -> None:
    normal = doc.styles["Normal"]
    assert normal.font.name == "Times New Roman"
    fonts = normal.element.rPr.find(qn("w:rFonts"))
    assert {fonts.get(qn(k)) for k in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia")} == {"Times New Roman"}
    explicit = {r.font.name for p in _all_paragraphs(doc) for r in p.runs if r.font.name}
    assert explicit == {"Times New Roman"}


def test_header_left_issuing_body(doc) -> None:
    left = doc.tables[0].cell(0, 0).paragraphs
    assert left[0].text == "UBND TỈNH TUYÊN QUANG"
    assert not any(r.bold for r in left[0].runs)
    assert left[0].runs[0].font.size in (Pt(12), Pt(13))
    assert left[1].text == "SỞ NỘI VỤ" and _runs_bold(left[1])
    # the short rule under the issuing body is a bottom border on the next (empty) paragraph
    assert left[2].text == "" and left[2]._p.find(qn("w:pPr") + "/" + qn("w:pBdr")) is not None
    # a draft leaves the number blank for the văn thư
    assert doc.tables[0].cell(1, 0).text == f"Số: {NBSP * 6}/BC-SNV"


def test_header_right_national_title_and_date(doc) -> None:
    right = doc.tables[0].cell(0, 1).paragraphs
    assert right[0].text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and _runs_bold(right[0])
    assert right[0].runs[0].font.size == Pt(12)
    assert right[1].text == "Độc lập - Tự do - Hạnh phúc" and _runs_bold(right[1])
    assert right[1].runs[0].font.size == Pt(13)
    assert right[2]._p.find(qn("w:pPr") + "/" + qn("w:pBdr")) is not None
    date_para = doc.tables[0].cell(1, 1).paragraphs[0]
    # a draft carries no date (and never the day the file was generated, 17/3/2021 here)
    assert date_para.text == f"Tuyên Quang, ngày{NBSP * 4}tháng{NBSP * 4}năm 20.."
    assert all(r.italic for r in date_para.runs)


def test_header_table_is_borderless(doc) -> None:
    borders = doc.tables[0]._tbl.tblPr.find(qn("w:tblBorders"))
    assert borders is not None
    assert {el.get(qn("w:val")) for el in borders} == {"nil"}


def test_date_line_leading_zeros_in_vietnam_time(tmp_path: Path) -> None:
    c = sample_consolidation()
    issued = datetime(2021, 1, 4, 18, 30, tzinfo=UTC)  # already 5 January in Tuyên Quang
    d = _render(tmp_path, c, final=FinalInfo("3/BC-SNV", issued))
    assert d.tables[0].cell(1, 1).text == "Tuyên Quang, ngày 05 tháng 01 năm 2021"
    d = _render(tmp_path, c, final=FinalInfo("3", date(2021, 3, 9)))
    assert d.tables[0].cell(1, 1).text == "Tuyên Quang, ngày 09 tháng 3 năm 2021"
    d = _render(tmp_path, c, final=FinalInfo("3", date(2021, 11, 25)))
    assert d.tables[0].cell(1, 1).text == "Tuyên Quang, ngày 25 tháng 11 năm 2021"


def _headers_text(d) -> list[str]:
    s = d.sections[0]
    return [p.text for h in (s.first_page_header, s.header) for p in h.paragraphs if p.text]


def test_draft_is_marked_and_carries_no_number_or_date(tmp_path: Path) -> None:
    d = _render(tmp_path)
    assert _headers_text(d) == ["DỰ THẢO", "DỰ THẢO"]  # first page and every following page
    mark = d.sections[0].first_page_header.paragraphs[0]
    assert mark.alignment == 2 and _runs_bold(mark)  # top right, bold
    subtitle = next(_text(p) for p in d.paragraphs if _text(p).startswith("(Kèm theo"))
    assert subtitle == "(Kèm theo Báo cáo số       /BC-SNV ngày    tháng    năm 20..)"
    text = "\n".join(_text(p) for p in _all_paragraphs(d))
    assert "2021-03-17" not in text and "17 tháng 3" not in text  # the generation date appears nowhere


def test_final_document_carries_number_and_issue_date(tmp_path: Path) -> None:
    d = _render(tmp_path, final=FinalInfo("15", date(2021, 3, 19)))
    assert d.tables[0].cell(1, 0).text == "Số: 15/BC-SNV"
    assert d.tables[0].cell(1, 1).text == "Tuyên Quang, ngày 19 tháng 3 năm 2021"
    assert _headers_text(d) == []
    text = "\n".join(_text(p) for p in _all_paragraphs(d))
    assert "DỰ THẢO" not in text.upper() and "dự thảo" not in text
    assert "(Kèm theo Báo cáo số 15/BC-SNV ngày 19 tháng 3 năm 2021)" in text
    # a full number as recorded is kept as is
    d = _render(tmp_path, final=FinalInfo("15/BC-SNV", date(2021, 3, 19)))
    assert d.tables[0].cell(1, 0).text == "Số: 15/BC-SNV"
    assert d.core_properties.created == datetime(2021, 3, 19, 1, 0, tzinfo=UTC)  # 08:00 in Tuyên Quang, stored as UTC


def test_document_number_is_checked() -> None:
    for bad in ("", "…", "số 15", "/BC-SNV"):
        with pytest.raises(ValueError, match="Số văn bản không hợp lệ"):
            FinalInfo(bad, date(2021, 3, 19))
    # the issue date as typed at approval
    assert FinalInfo("15", "19/03/2021").issued_on == date(2021, 3, 19)
    assert FinalInfo("15", "2021-03-19").issued_on == date(2021, 3, 19)
    for bad in ("31/02/2021", "hôm nay", ""):
        with pytest.raises(ValueError, match="Ngày ban hành không hợp lệ"):
            FinalInfo("15", bad)


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    c = sample_consolidation()
    for final in (None, FinalInfo("15", date(2021, 3, 19))):
        a = render_report_docx(c, tmp_path / "a.docx", final=final).read_bytes()
        b = render_report_docx(c, tmp_path / "b.docx", final=final).read_bytes()
        assert a == b
    assert a != render_report_docx(c, tmp_path / "c.docx").read_bytes()  # draft and final differ


def test_large_province_gets_a_summary_annex(tmp_path: Path) -> None:
    """Past the unit limit the annex rows are the reporting statuses, not 10,000 units."""
    c = sample_consolidation()
    d = _render(tmp_path, c, unit_limit=5)  # the sample has 9 units
    annex = annex_tables(d)
    rows = [[cell.text for cell in r.cells] for r in annex[0].rows]
    names = [r[1] for r in rows[1:]]
    assert names[-1] == "Tổng cộng" and len(rows) <= 6
    assert names[:-1] == [n for n in ["Các đơn vị báo cáo đúng hạn", "Các đơn vị báo cáo muộn",
                                      "Các đơn vị có báo cáo bị trả lại, chưa gửi lại", "Các đơn vị chưa báo cáo"]
                          if n in names]
    full = annex_tables(_render(tmp_path, c))
    # same totals either way, and the status rows add up to them
    assert [cell.text for cell in annex[0].rows[-1].cells] == [cell.text for cell in full[0].rows[-1].cells]
    comp = c["completeness"]
    counts = [int(r[-1].split()[0]) for r in rows[1:-1]]
    assert sum(counts) == comp["expected_count"]
    title = next(_text(p) for p in d.paragraphs if _text(p).startswith("PHỤ LỤC"))
    assert title == "PHỤ LỤC: TỔNG HỢP SỐ LIỆU THEO TÌNH HÌNH BÁO CÁO"
    note = next(_text(p) for p in d.paragraphs if "tệp Excel phụ lục" in _text(p))
    assert "số liệu chi tiết của từng đơn vị (9 đơn vị) tại tệp Excel phụ lục kèm theo" in note


def test_title_subject_and_recipient(doc) -> None:
    title = _find(doc, "BÁO CÁO")
    assert _runs_bold(title) and title.runs[0].font.size == Pt(14)
    assert title.alignment == 1  # centre
    subject = _find(doc, "Kết quả thực hiện công tác tuyên truyền cải cách hành chính tháng 3 năm 2021")
    assert _runs_bold(subject)
    kg = _find(doc, "Kính gửi: Ủy ban nhân dân tỉnh Tuyên Quang")
    assert kg.alignment == 1


def test_body_paragraph_format(doc) -> None:
    p = next(p for p in doc.paragraphs if _text(p).startswith("a) Thông qua Trang Thông tin điện tử"))
    fmt = p.paragraph_format
    assert p.alignment == 3  # justify
    assert round(fmt.first_line_indent.cm, 2) == 1.27
    assert fmt.space_after == Pt(6)
    assert p.runs[0].font.size == Pt(14)


def test_sections_and_prose_numbers(doc) -> None:
    body = _body(doc)
    for title in ("I. KẾT QUẢ THỰC HIỆN", "II. TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ",
                  "III. TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN", "IV. ĐỀ XUẤT, KIẾN NGHỊ"):
        assert title in body
        assert _runs_bold(_find(doc, title))
    text = "\n".join(body)
    assert ("đã đăng tải 37 tin, bài về CCHC, tăng 7 tin, bài (23,3%) so với tháng 2 năm 2021, "
            "lũy kế từ đầu năm: 80 tin, bài") in text
    assert "1.250 lượt người" in text
    assert "7/9 (tỷ lệ 77,8%)" in text
    assert "- Đơn vị gửi báo cáo muộn: Ban Tôn giáo." in body
    assert "- Đơn vị chưa gửi báo cáo: Chi cục Văn thư - Lưu trữ." in body
    assert any("chưa hợp lệ" in t and "Ban Thi đua - Khen thưởng" in t for t in body)
    assert "- Nội dung tuyên truyền về công khai thủ tục hành chính còn ít (Thanh tra Sở)." in body
    assert body.index("III. TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN") < body.index("IV. ĐỀ XUẤT, KIẾN NGHỊ")


def test_no_template_tags_left_and_text_is_nfc(doc) -> None:
    for p in _all_paragraphs(doc):
        assert "{{" not in p.text and "{%" not in p.text
        assert unicodedata.is_normalized("NFC", p.text)


def test_chart_and_summary_table(doc) -> None:
    assert len(doc.inline_shapes) == 1
    table = next(t for t in doc.tables if t.cell(0, 1).text == "Chỉ tiêu")
    assert [c.text for c in table.rows[0].cells][3:5] == ["Tháng 3 năm 2021", "Tháng 2 năm 2021"]
    w01 = [c.text for c in table.rows[1].cells]
    assert w01 == ["1", "Số tin, bài về CCHC đăng trên Trang TTĐT của Sở", "tin, bài", "37", "30",
                   "+7 (23,3%)", "80"]
    assert len(table.rows) == 1 + 6 + 1  # the last row: each period's completeness (7/9, 7/9)


def test_year_to_date_column_says_where_the_sum_starts(doc, tmp_path: Path) -> None:
    """January never collected: Bảng 1 heads its column as the prose words it ('lũy kế từ tháng 2/2021'),
    not 'Lũy kế từ đầu năm' over a sum that leaves January out."""
    table = next(t for t in doc.tables if t.cell(0, 1).text == "Chỉ tiêu")
    assert table.rows[0].cells[6].text == "Lũy kế từ đầu năm"
    c = sample_consolidation()
    c["year_to_date_basis"] = {"periods": ["2021-02", "2021-03"], "missing": ["2021-01"],
                               "missing_labels": ["tháng 1 năm 2021"], "from_label": "tháng 2/2021", "shown": True}
    d = _render(tmp_path, c)
    table = next(t for t in d.tables if t.cell(0, 1).text == "Chỉ tiêu")
    assert table.rows[0].cells[6].text == "Lũy kế từ tháng 2/2021"
    assert "lũy kế từ tháng 2/2021: 80 tin, bài" in "\n".join(_body(d))


def _signature_table(doc):
    return next(t for t in doc.tables if t.cell(0, 0).paragraphs[0].text == "Nơi nhận:")


def test_recipients_block(doc) -> None:
    left = _signature_table(doc).cell(0, 0).paragraphs
    head = left[0]
    assert all(r.bold and r.italic for r in head.runs) and head.runs[0].font.size == Pt(12)
    lines = [p.text for p in left[1:] if p.text]
    assert lines == ["- Ủy ban nhân dân tỉnh (báo cáo);", "- Giám đốc, các PGĐ Sở;",
                     "- Các cơ quan, đơn vị thuộc và trực thuộc Sở;", "- Lưu: VT, VP."]
    assert all(p.runs[0].font.size == Pt(11) for p in left[1:] if p.text)


def test_signature_block(doc) -> None:
    right = _signature_table(doc).cell(0, 1).paragraphs
    texts = [p.text for p in right]
    assert texts[0] == "KT. GIÁM ĐỐC" and texts[1] == "PHÓ GIÁM ĐỐC"
    assert texts[-1] == "Bàng Quốc Việt"
    assert texts.count("") >= 3  # room for the signature and seal
    for p in (right[0], right[1], right[-1]):
        assert _runs_bold(p) and p.alignment == 1


def test_signer_without_authority_line(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["signer"] = {"authority": "", "title": "GIÁM ĐỐC", "name": "Nguyễn Văn A"}
    texts = [p.text for p in _signature_table(_render(tmp_path, c)).cell(0, 1).paragraphs]
    assert texts[0] == "GIÁM ĐỐC" and texts[-1] == "Nguyễn Văn A"


def _annex_tables(doc) -> list:
    from tasks.render.docx_report import annex_tables

    return annex_tables(doc)


def _grid_mm(table) -> list[float]:
    return [int(g.get(qn("w:w"))) / 56.7 for g in table._tbl.tblGrid]


def test_annex_is_split_into_forms_and_topics(doc) -> None:
    body = _body(doc)
    assert "PHỤ LỤC: SỐ LIỆU CHI TIẾT THEO ĐƠN VỊ" in body
    assert body.index("I. Hình thức tuyên truyền") < body.index("II. Nội dung tuyên truyền")
    forms, topics = _annex_tables(doc)
    heads = [[_text(c.paragraphs[0]) for c in t.rows[0].cells] for t in (forms, topics)]
    # columns are numbered across both tables; indicator codes never reach UBND
    assert heads[0] == ["STT", "Cơ quan, đơn vị", *[f"({k})" for k in range(1, 9)], "Tình hình báo cáo"]
    assert heads[1] == ["STT", "Cơ quan, đơn vị", *[f"({k})" for k in range(9, 16)], "Tình hình báo cáo"]
    for table in (forms, topics):
        rows = {_text(r.cells[1]): [_text(c) for c in r.cells] for r in table.rows[1:]}
        assert list(rows)[:9] == list(UNITS.values())  # every expected unit, in config order
        assert rows["Văn phòng Sở"][-1] == "Đúng hạn"
        assert rows["Ban Tôn giáo"][-1] == "Muộn"
        assert rows["Ban Thi đua - Khen thưởng"][-1] == "Bị trả lại"
        assert set(rows["Ban Thi đua - Khen thưởng"][2:-1]) == {""}
        assert rows["Chi cục Văn thư - Lưu trữ"][-1] == "Chưa báo cáo"
        assert rows["Tổng cộng"][-1] == "7/9 đơn vị"
        assert all(r.bold for c in table.rows[-1].cells for p in c.paragraphs for r in p.runs if r.text)
        # 9-10 pt so the columns stay narrow; no row breaks across pages; the header repeats
        sizes = {r.font.size.pt for row in table.rows for c in row.cells for p in c.paragraphs for r in p.runs
                 if r.text and r.font.size}
        assert sizes <= {8.0, 9.0, 10.0}
        assert all(r._tr.trPr is not None and r._tr.trPr.find(qn("w:cantSplit")) is not None
                   for r in table.rows)
    forms_rows = {_text(r.cells[1]): [_text(c) for c in r.cells] for r in forms.rows[1:]}
    assert forms_rows["Văn phòng Sở"][2:5] == ["12", "1", "160"]
    assert forms_rows["Tổng cộng"][2:6] == ["37", "5", "1.250", "20"]
    topic_rows = {_text(r.cells[1]): [_text(c) for c in r.cells] for r in topics.rows[1:]}
    assert topic_rows["Tổng cộng"][2:9] == ["5", "10", "4", "4", "1", "5", "0"]
    legend = [t for t in body if t.startswith(("(1) ", "(15) "))]
    assert legend == ["(1) Số tin, bài về CCHC đăng trên Trang TTĐT của Sở (đơn vị tính: tin, bài)",
                      "(15) Kết quả CCHC, Chỉ số CCHC, Chỉ số hài lòng; sáng kiến; biểu dương, phê phán "
                      "(đơn vị tính: tin, bài)"]
    annex_text = "\n".join(body[body.index("PHỤ LỤC: SỐ LIỆU CHI TIẾT THEO ĐƠN VỊ"):])
    annex_text += "\n".join(_text(c) for t in (forms, topics) for r in t.rows for c in r.cells)
    assert not re.search(r"\b(W01|H0\d|K0\d|CD\d+)\b", annex_text)


def test_annex_tables_fit_the_landscape_width(doc) -> None:
    for table in _annex_tables(doc):
        grid = _grid_mm(table)
        assert sum(grid) <= 252 + 1  # 297 - 30 - 15 mm
        assert len(grid) == len(table.rows[0].cells)
        assert min(grid[2:-1]) >= 13  # '1.250' fits on one line
        assert table._tbl.tblPr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
        tblw = table._tbl.tblPr.find(qn("w:tblW"))
        assert tblw.get(qn("w:type")) == "dxa" and abs(int(tblw.get(qn("w:w"))) / 56.7 - sum(grid)) < 1
        for row in table.rows:
            assert [round(c.width.mm) for c in row.cells] == [round(w) for w in grid]


def _twenty_indicators() -> dict:
    """The sample with 8 forms and 12 topics: 20 integer indicators, as many as the annex must fit."""
    c = sample_consolidation()
    for k in range(8, 13):
        code = f"CD{k}"
        c["indicators"].insert(-4, {"code": code, "label": f"Chủ đề bổ sung số {k}", "unit": "lượt",
                                    "type": "integer", "group": "2.4"})
        c["totals"][code] = 1000 + k
        for vals in c["values_by_unit"].values():
            vals[code] = 100
    return c


def test_annex_with_twenty_indicators_fits(tmp_path: Path) -> None:
    d = _render(tmp_path, _twenty_indicators())
    tables = _annex_tables(d)
    assert len(tables) == 2
    assert [len(t.rows[0].cells) - 3 for t in tables] == [8, 12]
    for table in tables:
        assert sum(_grid_mm(table)) <= 253
        assert min(_grid_mm(table)[2:-1]) >= 13
    assert [_text(c) for c in tables[1].rows[-1].cells][-2:] == ["1.012", "7/9 đơn vị"]


def test_annex_splits_an_oversized_group(tmp_path: Path) -> None:
    from tasks.render.docx_report import annex_column_groups

    c = _twenty_indicators()
    for ind in c["indicators"]:
        if ind["group"] == "2.4":
            ind["group"] = "3.5"  # 20 form indicators: more than one table's worth
    groups = annex_column_groups(c)
    assert [(kind, len(inds)) for kind, inds in groups] == [("form", 10), ("form", 10)]
    d = _render(tmp_path, c)
    body = _body(d)
    assert "Hình thức tuyên truyền" in body and "Hình thức tuyên truyền (tiếp theo)" in body
    assert all(sum(_grid_mm(t)) <= 253 for t in _annex_tables(d))


def test_annex_without_groups(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["groups"] = []
    d = _render(tmp_path, c)
    # no part headings; 15 columns are still too many for one table, so they are cut evenly
    assert [len(t.rows[0].cells) - 3 for t in _annex_tables(d)] == [8, 7]
    assert not any(t.endswith("tuyên truyền") for t in _body(d) if t[:3] in ("I. ", "II."))
    c["indicators"] = [i for i in c["indicators"] if i["code"] in ("W01", "H01", "H02")]
    d = _render(tmp_path, c)
    (table,) = _annex_tables(d)
    grid = _grid_mm(table)
    # few columns: values no wider than 18 mm, the unit names get the room, the table stays centred
    assert len(grid) == 6 and max(grid[2:5]) <= 18 and grid[1] <= 80 and sum(grid) < 252


def test_annex_part_is_kept_together_and_note_ends_it(doc) -> None:
    """No page holding only the legend or the note: each part chains heading, table rows and legend."""
    paras = doc.paragraphs
    texts = [_text(p) for p in paras]
    note = texts.index(next(t for t in texts if t.startswith("Số liệu chốt từ ngày 15 tháng 02 năm 2021")))
    assert note == len(texts) - 1  # the last paragraph; no empty page-filler after it
    assert texts[note - 1].startswith("(15) ")
    legend_start = max(i for i, t in enumerate(texts) if t == "Ghi chú:")
    for p in paras[legend_start:note]:
        assert p.paragraph_format.keep_with_next, _text(p)
    for table in _annex_tables(doc):
        for row in table.rows:
            for cell in row.cells:
                assert all(p.paragraph_format.keep_with_next for p in cell.paragraphs)
    # between the two parts the chain is broken, so part II may start on a new page
    spacer = texts.index("II. Nội dung tuyên truyền") - 1
    assert texts[spacer] == "" and not paras[spacer].paragraph_format.keep_with_next
    assert paras[texts.index("II. Nội dung tuyên truyền")].paragraph_format.keep_with_next


def test_without_previous_period_and_year_to_date(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["previous"] = c["comparison"] = None
    c["year_to_date"] = {}
    d = _render(tmp_path, c)
    text = "\n".join(_body(d))
    assert "so với" not in text and "lũy kế" not in text
    table = next(t for t in d.tables if t.cell(0, 1).text == "Chỉ tiêu")
    assert [c.text for c in table.rows[1].cells][3:] == ["37", "-", "-", "-"]


def test_without_main_indicators_has_no_chart(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["main_indicators"] = []
    d = _render(tmp_path, c)
    assert len(d.inline_shapes) == 0
    assert not any(t.cell(0, 1).text == "Chỉ tiêu" for t in d.tables)


def test_special_characters_are_escaped(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["narratives"]["N03"] = [{"unit": "VP", "unit_name": "Văn phòng Sở", "text": "Tăng kinh phí <50% & sớm"}]
    assert "- Tăng kinh phí <50% & sớm (Văn phòng Sở)." in _body(_render(tmp_path, c))


def test_chart_is_a_deterministic_png() -> None:
    png = render_chart(sample_consolidation())
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert png == render_chart(sample_consolidation())
    c = sample_consolidation()
    c["previous"] = None
    assert render_chart(c)[:8] == b"\x89PNG\r\n\x1a\n"


def test_template_builder_output_renders(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_template", Path(__file__).resolve().parents[1] / "templates" / "report" / "build_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    template = module.build(tmp_path / "tpl.docx")
    out = render_report_docx(sample_consolidation(), tmp_path / "out.docx", template_path=template)
    assert "BÁO CÁO" in [p.text for p in Document(str(out)).paragraphs]


def test_summary_table_rows_do_not_split(doc) -> None:
    table = next(t for t in doc.tables if t.cell(0, 1).text == "Chỉ tiêu")
    assert all(r._tr.trPr.find(qn("w:cantSplit")) is not None for r in table.rows)
    assert all(p.paragraph_format.keep_with_next for r in table.rows for c in r.cells for p in c.paragraphs)
    assert abs(sum(c.width.mm for c in table.rows[0].cells) - 165) < 1


def test_closing_sentence_keeps_the_signature_company(doc) -> None:
    closing = next(p for p in doc.paragraphs if _text(p).startswith("Trên đây là báo cáo"))
    assert _text(closing).endswith("xem xét, chỉ đạo./.")
    assert closing.paragraph_format.keep_with_next
    sig = _signature_table(doc)
    assert sig._tbl.tr_lst[0].trPr.find(qn("w:cantSplit")) is not None


def test_no_doubled_punctuation(tmp_path: Path) -> None:
    # the final document: a draft's blanks ("ngày    tháng    năm 20..") are there on purpose
    doc = _render(tmp_path, final=FinalInfo("15", date(2021, 3, 19)))
    for p in _all_paragraphs(doc):
        text = _text(p).replace("./.", "")
        for bad in ("..", ".;", ";.", ",.", " .", " ,", "  ", ":."):
            assert bad not in text, (bad, text)


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext")),
                    reason="needs LibreOffice and poppler")
def test_layout_in_libreoffice(tmp_path: Path) -> None:
    """Converted to PDF: every annex code is on a page, and the last page is a table, not a stray note."""
    out = render_report_docx(_twenty_indicators(), tmp_path / "bao-cao.docx")
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(out)],
                   check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "bao-cao.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    pages = text.split("\f")
    pages = [p for p in pages if p.strip()]
    last = pages[-1]
    assert "Tổng cộng" in last and "Số liệu chốt từ" in last
    annex = "\n".join(p for p in pages if "Tình hình" in p)
    n_columns = sum(1 for i in _twenty_indicators()["indicators"] if i["type"] == "integer")
    assert all(f"({k})" in annex for k in (1, 8, 9, n_columns))
    # the status column, the rightmost, is printed for every unit in both tables
    assert annex.count("Chưa báo cáo") == 2
    # a landscape page is 297 mm wide: nothing beyond the page edge (pdftotext -bbox would show x > 842)
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    xs = [float(x) for x in re.findall(r'xMax="([0-9.]+)"', bbox)]
    assert max(xs) <= 842


def test_chart_titles_are_never_cut_and_grid_is_compact() -> None:
    from tasks.render.chart import build_figure, grid_shape, panel_title

    assert [grid_shape(n) for n in (1, 3, 4, 6, 7, 8)] == [(1, 1), (1, 3), (2, 2), (2, 3), (2, 4), (2, 4)]
    label = ("Số hội nghị về cải cách hành chính đã tổ chức (kể cả hội nghị hướng dẫn chấm điểm Chỉ số "
             "cải cách hành chính)")
    title = panel_title(label, "hội nghị", 4)
    assert title.replace("\n", " ") == f"{label} (hội nghị)"
    c = sample_consolidation()
    c["indicators"][1]["label"] = label
    c["main_indicators"] = ["W01", "H01", "H02", "H03", "T01", "C01", "K01"]
    fig = build_figure(c)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert title in titles and len(titles) == 7
    width, height = fig.get_size_inches()
    assert height / width < 0.85  # two rows of four, not three rows: the chart fits under the text
