"""The rendered report as a reader sees it in Word: Decree 30 layout, texts, numbers, annex."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Pt

from tasks.render.chart import render_chart
from tasks.render.docx_report import render_report_docx
from tests.sample_consolidation import UNITS, sample_consolidation

NBSP = "\u00a0"


def _render(tmp_path: Path, c: dict | None = None) -> Document:
    out = render_report_docx(c or sample_consolidation(), tmp_path / "bao-cao.docx")
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
    assert doc.tables[0].cell(1, 0).text == "Số: …/BC-SNV"


def test_header_right_national_title_and_date(doc) -> None:
    right = doc.tables[0].cell(0, 1).paragraphs
    assert right[0].text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and _runs_bold(right[0])
    assert right[0].runs[0].font.size == Pt(12)
    assert right[1].text == "Độc lập - Tự do - Hạnh phúc" and _runs_bold(right[1])
    assert right[1].runs[0].font.size == Pt(13)
    assert right[2]._p.find(qn("w:pPr") + "/" + qn("w:pBdr")) is not None
    date_para = doc.tables[0].cell(1, 1).paragraphs[0]
    assert date_para.text == "Tuyên Quang, ngày 17 tháng 3 năm 2021"
    assert all(r.italic for r in date_para.runs)


def test_header_table_is_borderless(doc) -> None:
    borders = doc.tables[0]._tbl.tblPr.find(qn("w:tblBorders"))
    assert borders is not None
    assert {el.get(qn("w:val")) for el in borders} == {"nil"}


def test_date_line_leading_zeros_in_vietnam_time(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["generated_at"] = "2021-01-04T18:30:00Z"  # already 5 January in Tuyên Quang
    d = _render(tmp_path, c)
    assert d.tables[0].cell(1, 1).text == "Tuyên Quang, ngày 05 tháng 01 năm 2021"


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
    assert ("đạt 37 tin, bài, tăng 7 tin, bài (23,3%) so với tháng 2 năm 2021, "
            "lũy kế từ đầu năm 80 tin, bài") in text
    assert "1.250 lượt người" in text
    assert "7/9 (đạt 77,8%)" in text
    assert "- Đơn vị gửi báo cáo muộn: Ban Tôn giáo." in body
    assert "- Đơn vị chưa gửi báo cáo: Chi cục Văn thư - Lưu trữ." in body
    assert any("bị trả lại" in t and "Ban Thi đua - Khen thưởng" in t for t in body)
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
    assert len(table.rows) == 1 + 6


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


def test_annex_table(doc) -> None:
    assert "PHỤ LỤC: SỐ LIỆU CHI TIẾT THEO ĐƠN VỊ" in _body(doc)
    table = doc.tables[-1]
    head = [c.paragraphs[0].text for c in table.rows[0].cells]
    assert head[:3] == ["STT", "Cơ quan, đơn vị", "W01"]
    assert head[-1] == "Tình hình báo cáo"
    assert len(head) == 2 + 15 + 1
    rows = {r.cells[1].text: [c.text for c in r.cells] for r in table.rows[1:]}
    assert list(rows)[:9] == list(UNITS.values())  # every expected unit, in config order
    assert rows["Văn phòng Sở"][2:5] == ["12", "1", "160"]
    assert rows["Văn phòng Sở"][-1] == "Đúng hạn"
    assert rows["Ban Tôn giáo"][-1] == "Muộn"
    assert rows["Ban Thi đua - Khen thưởng"][-1] == "Bị trả lại"
    assert rows["Ban Thi đua - Khen thưởng"][2:17] == [""] * 15
    assert rows["Chi cục Văn thư - Lưu trữ"][-1] == "Chưa báo cáo"
    totals = rows["Tổng cộng"]
    assert totals[2:6] == ["37", "5", "1.250", "20"]
    assert totals[-1] == "7/9 đơn vị"
    assert all(r.bold for c in table.rows[-1].cells for p in c.paragraphs for r in p.runs if r.text)
    # grid fitted to the landscape text width (297 - 30 - 15 = 252 mm)
    grid = [int(g.get(qn("w:w"))) for g in table._tbl.tblGrid]
    assert len(grid) == 18 and abs(sum(grid) / 56.7 - 252) < 2
    legend = [t for t in _body(doc) if t.startswith("W01: ")]
    assert legend == ["W01: Số tin, bài về CCHC đăng trên Trang TTĐT của Sở (đơn vị tính: tin, bài)"]


def test_without_previous_period_and_year_to_date(tmp_path: Path) -> None:
    c = sample_consolidation()
    c["previous"] = None
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
