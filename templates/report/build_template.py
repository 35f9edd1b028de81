"""Build templates/report/bao-cao.docx, the docxtpl template of the consolidated report.

The .docx is binary, so it is generated from this script (run: `python templates/report/build_template.py`)
and both are committed. Layout follows Decree 30/2020/NĐ-CP, Phụ lục I: A4, margins 20/20/30/15 mm,
Times New Roman, a borderless header table (issuing body | national title), "BÁO CÁO" + subject,
14 pt justified body, "Nơi nhận" + signature table, and a landscape annex.

Jinja tags are each written into a single run so docxtpl sees them whole. An operator may edit
the generated template in Word (wording, spacing) as long as the {{ }} / {% %} tags stay intact.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt

HERE = Path(__file__).resolve().parent
TEMPLATE_PATH = HERE / "bao-cao.docx"

FONT = "Times New Roman"
BODY_PT = 14
TEXT_WIDTH_MM = 210 - 30 - 15  # A4 portrait minus left/right margins
LEFT_COL_MM = 62
RIGHT_COL_MM = TEXT_WIDTH_MM - LEFT_COL_MM
MOTTO_RULE_MM = 70  # "Độc lập - Tự do - Hạnh phúc" at 13 pt bold: the rule is as long as the text


# ---------------------------------------------------------------- low-level helpers


def _set_run_font(rpr_parent, name: str = FONT) -> None:
    """Set all four font slots; Word falls back to a different face for 'cs'/'eastAsia' otherwise."""
    rpr = rpr_parent.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for slot in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(slot), name)


def _set_lang(rpr_parent, lang: str = "vi-VN") -> None:
    rpr = rpr_parent.get_or_add_rPr()
    el = rpr.find(qn("w:lang"))
    if el is None:
        el = OxmlElement("w:lang")
        rpr.append(el)
    el.set(qn("w:val"), lang)
    el.set(qn("w:eastAsia"), lang)


def _styled_run(p, text: str, size: float, bold: bool, italic: bool) -> None:
    run = p.add_run(text)
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    run.font.name = FONT


def para(container, text: str = "", *, size: float = BODY_PT, bold: bool = False, italic: bool = False,
         align=WD_ALIGN_PARAGRAPH.JUSTIFY, first_indent: float | None = 1.27, before: float = 0,
         after: float = 6, line: float | None = None, keep_next: bool = False):
    """Add a paragraph with one run (so a Jinja tag in `text` is never split)."""
    p = container.add_paragraph()
    fmt = p.paragraph_format
    fmt.alignment = align
    fmt.first_line_indent = Cm(first_indent) if first_indent else Cm(0)
    fmt.space_before = Pt(before)
    fmt.space_after = Pt(after)
    if line is not None:
        fmt.line_spacing = line
    fmt.keep_with_next = keep_next
    if text:
        _styled_run(p, text, size, bold, italic)
    else:
        _paragraph_mark_size(p, size)
    return p


def tag(container, text: str):
    """A paragraph holding only a {%p ... %} tag; docxtpl removes it entirely when rendering."""
    return para(container, text, first_indent=None, after=0, align=WD_ALIGN_PARAGRAPH.LEFT)


def _paragraph_mark_size(p, size: float) -> None:
    ppr = p._p.get_or_add_pPr()
    rpr = ppr.find(qn("w:rPr"))
    if rpr is None:
        rpr = OxmlElement("w:rPr")
        # CT_PPr ends with rPr, sectPr, pPrChange: keep that order or Word reports unreadable content.
        tail = ppr.find(qn("w:sectPr"))
        if tail is None:
            tail = ppr.find(qn("w:pPrChange"))
        if tail is not None:
            tail.addprevious(rpr)
        else:
            ppr.append(rpr)
    for name in ("w:sz", "w:szCs"):
        el = OxmlElement(name)
        el.set(qn("w:val"), str(int(size * 2)))
        rpr.append(el)


def rule(container, *, width_mm: float, box_mm: float, size: float = 2, after: float = 0):
    """A short horizontal line: the bottom border of a tiny empty paragraph, centred by indents.

    Decree 30 wants lines under the issuing body, the national motto and the subject; a paragraph
    border survives Word and LibreOffice round trips where drawn shapes often move.
    """
    p = para(container, "", size=size, align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None, after=after,
             line=1.0)
    side = max(0.0, (box_mm - width_mm) / 2)
    p.paragraph_format.left_indent = Mm(side)
    p.paragraph_format.right_indent = Mm(side)
    ppr = p._p.get_or_add_pPr()
    bdr = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    bdr.append(bottom)
    # pBdr must precede spacing/ind/jc in CT_PPr; insert right after pStyle/keepNext if present.
    anchor = None
    for child in ppr:
        if child.tag in (qn("w:pStyle"), qn("w:keepNext"), qn("w:keepLines"), qn("w:pageBreakBefore"),
                         qn("w:framePr"), qn("w:widowControl"), qn("w:numPr"), qn("w:suppressLineNumbers")):
            anchor = child
    if anchor is None:
        ppr.insert(0, bdr)
    else:
        anchor.addnext(bdr)
    return p


def _tbl_pr(table):
    return table._tbl.tblPr


# Schema order of CT_TblPr children; Word rejects out-of-order elements.
TBLPR_ORDER = ["tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize", "tblStyleColBandSize",
               "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd", "tblLayout", "tblCellMar",
               "tblLook", "tblCaption", "tblDescription"]


def _tblpr_insert(table, el) -> None:
    """Insert a tblPr child at its schema position (replacing one of the same kind)."""
    tblpr = _tbl_pr(table)
    name = el.tag.split("}")[1]
    old = tblpr.find(qn(f"w:{name}"))
    if old is not None:
        tblpr.remove(old)
    later = TBLPR_ORDER[TBLPR_ORDER.index(name) + 1:]
    for child in tblpr:
        if child.tag.split("}")[1] in later:
            child.addprevious(el)
            return
    tblpr.append(el)


def borderless(table) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    _tblpr_insert(table, borders)


def fixed_widths(table, widths_mm: list[float]) -> None:
    """Fixed layout with explicit grid and cell widths so Word and LibreOffice agree."""
    table.autofit = False  # writes <w:tblLayout w:type="fixed"/>
    for col, w in zip(table.columns, widths_mm, strict=True):
        col.width = Mm(w)
    for row in table.rows:
        for cell, w in zip(row.cells, widths_mm, strict=True):
            cell.width = Mm(w)


def cell_margins(table, left_mm: float, right_mm: float) -> None:
    mar = OxmlElement("w:tblCellMar")
    for side, v in (("left", left_mm), ("right", right_mm)):
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:w"), str(int(v * 56.7)))
        el.set(qn("w:type"), "dxa")
        mar.append(el)
    _tblpr_insert(table, mar)


def v_align(cell, val: str = "center") -> None:
    tcpr = cell._tc.get_or_add_tcPr()
    el = OxmlElement("w:vAlign")
    el.set(qn("w:val"), val)
    tcpr.append(el)


def repeat_header(row) -> None:
    trpr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    trpr.append(el)


def cant_split(row) -> None:
    """A row never breaks across pages (Word and LibreOffice both honour w:cantSplit)."""
    trpr = row._tr.get_or_add_trPr()
    trpr.append(OxmlElement("w:cantSplit"))


def keep_rows_together(table) -> None:
    """Keep-with-next on every cell paragraph: a short table moves to the next page as a whole
    instead of leaving its header alone at the foot of a page."""
    for row in table.rows:
        for cell in row.cells:
            for p in cell.paragraphs:
                p.paragraph_format.keep_with_next = True


def cell_text(cell, text: str, *, size: float = 11, bold: bool = False, italic: bool = False,
              align=WD_ALIGN_PARAGRAPH.CENTER):
    """Write into the cell's existing first paragraph (a new cell already has one)."""
    p = cell.paragraphs[0]
    p.paragraph_format.alignment = align
    p.paragraph_format.first_line_indent = Cm(0)
    p.paragraph_format.space_after = Pt(0)
    p.paragraph_format.space_before = Pt(0)
    # an empty value leaves only the paragraph mark: at the 14 pt default it would make the row taller
    _paragraph_mark_size(p, size)
    if text:
        _styled_run(p, text, size, bold, italic)
    return p


def page_number_header(section) -> None:
    """Page number centred at the top from page 2 (Decree 30: not shown on the first page)."""
    section.different_first_page_header_footer = True
    header = section.header
    header.is_linked_to_previous = False
    p = header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), "PAGE")
    r = OxmlElement("w:r")
    rpr = OxmlElement("w:rPr")
    sz = OxmlElement("w:sz")
    sz.set(qn("w:val"), "26")
    rpr.append(sz)
    r.append(rpr)
    t = OxmlElement("w:t")
    t.text = "2"
    r.append(t)
    fld.append(r)
    p._p.append(fld)


def setup_styles(doc) -> None:
    """Times New Roman 14 pt, Vietnamese language, everywhere (document defaults and Normal style)."""
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    _set_run_font(normal.element)
    _set_lang(normal.element)
    # Word applies widow/orphan control only when a style asks for it (absent means off), so a
    # paragraph's last line could otherwise sit alone at the top of a page.
    normal.paragraph_format.widow_control = True
    rpr_default = doc.styles.element.find(qn("w:docDefaults"))
    if rpr_default is not None:
        rpr = rpr_default.find(qn("w:rPrDefault") + "/" + qn("w:rPr"))
        if rpr is not None:
            fonts = rpr.find(qn("w:rFonts"))
            if fonts is None:
                fonts = OxmlElement("w:rFonts")
                rpr.insert(0, fonts)
            for attr in list(fonts.attrib):
                del fonts.attrib[attr]
            for slot in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
                fonts.set(qn(slot), FONT)
    for name in ("Header", "Footer", "Table Grid"):
        try:
            style = doc.styles[name]
        except KeyError:
            continue
        style.font.name = FONT
        _set_run_font(style.element)


def page_setup(section, *, landscape: bool = False) -> None:
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Mm(297), Mm(210)
    else:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = Mm(20)
    section.bottom_margin = Mm(20)
    section.left_margin = Mm(30)
    section.right_margin = Mm(15)
    section.header_distance = Mm(10)
    section.footer_distance = Mm(10)


# ---------------------------------------------------------------- document parts


def header_block(doc) -> None:
    """Borderless 2×2 table: bodies | national title, then Số | place and date."""
    table = doc.add_table(rows=2, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    borderless(table)
    fixed_widths(table, [LEFT_COL_MM, RIGHT_COL_MM])
    cell_margins(table, 0, 0)

    left, right = table.cell(0, 0), table.cell(0, 1)
    cell_text(left, "{{ org.supervising_body }}", size=12)
    p = para(left, "{{ org.issuing_body }}", size=13, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER,
             first_indent=None, after=0)
    p.paragraph_format.keep_with_next = True
    rule(left, width_mm=12, box_mm=LEFT_COL_MM, after=6)  # width re-fitted to the name at render time

    cell_text(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=12, bold=True)
    para(right, "Độc lập - Tự do - Hạnh phúc", size=13, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER,
         first_indent=None, after=0)
    rule(right, width_mm=MOTTO_RULE_MM, box_mm=RIGHT_COL_MM, after=6)

    cell_text(table.cell(1, 0), "Số: {{ org.document_number }}", size=13)
    cell_text(table.cell(1, 1), "{{ date_line }}", size=14, italic=True)


def title_block(doc) -> None:
    para(doc, "BÁO CÁO", size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None,
         before=18, after=0, keep_next=True)
    para(doc, "{{ subject }}", size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None,
         after=0, keep_next=True)
    rule(doc, width_mm=45, box_mm=TEXT_WIDTH_MM, after=12)
    para(doc, "Kính gửi: {{ org.recipient_line }}", size=14, align=WD_ALIGN_PARAGRAPH.CENTER,
         first_indent=None, after=12)


def body_block(doc) -> None:
    tag(doc, "{%p for text in intro %}")
    para(doc, "{{ text }}")
    tag(doc, "{%p endfor %}")

    tag(doc, "{%p for section in sections %}")
    para(doc, "{{ section.title }}", bold=True, keep_next=True)
    tag(doc, "{%p for item in section.paragraphs %}")
    tag(doc, "{%p if item.kind == 'heading' %}")
    para(doc, "{{ item.text }}", bold=True, keep_next=True)
    tag(doc, "{%p else %}")
    para(doc, "{{ item.text }}")
    tag(doc, "{%p endif %}")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if loop.first and summary %}")
    summary_block(doc)
    tag(doc, "{%p endif %}")
    tag(doc, "{%p endfor %}")
    # the closing sentence stays on the page of the signature (no signature block alone on a page)
    para(doc, "{{ closing }}", keep_next=True)


def summary_block(doc) -> None:
    """Chart, then the table of main indicators (this period, previous, change, year to date)."""
    para(doc, "{{ chart }}", align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None, before=6, after=0,
         keep_next=True)
    para(doc, "{{ chart_caption }}", size=12, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER,
         first_indent=None, after=12)
    para(doc, "{{ table_caption }}", size=13, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER,
         first_indent=None, after=6, keep_next=True)
    widths = [11, 50, 18, 19, 19, 27, 21]  # 165 mm, the portrait text width; "+730 (140,4%)" on one line
    table = doc.add_table(rows=4, cols=len(widths))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    fixed_widths(table, widths)
    cell_margins(table, 1.2, 1.2)
    heads = ["STT", "Chỉ tiêu", "Đơn vị tính", "{{ head.current }}", "{{ head.previous }}",
             "Tăng\u00a0(+), giảm\u00a0(-)", "{{ head.ytd }}"]
    for cell, text in zip(table.rows[0].cells, heads, strict=True):
        cell_text(cell, text, size=11, bold=True)
        v_align(cell)
    repeat_header(table.rows[0])
    cell_text(table.cell(1, 0), "{%tr for row in summary %}", size=11)
    values = ["{{ row.no }}", "{{ row.label }}", "{{ row.unit }}", "{{ row.current }}", "{{ row.previous }}",
              "{{ row.change }}", "{{ row.ytd }}"]
    for i, (cell, text) in enumerate(zip(table.rows[2].cells, values, strict=True)):
        align = WD_ALIGN_PARAGRAPH.LEFT if i == 1 else (
            WD_ALIGN_PARAGRAPH.RIGHT if i >= 3 else WD_ALIGN_PARAGRAPH.CENTER)
        cell_text(cell, text, size=11, align=align)
        v_align(cell)
    cell_text(table.cell(3, 0), "{%tr endfor %}", size=11)
    for row in table.rows:
        cant_split(row)
    keep_rows_together(table)  # a 5-10 row table should not start at the foot of a page
    para(doc, "", after=6)


def signature_block(doc) -> None:
    """Borderless table: 'Nơi nhận' list left, signature block right."""
    para(doc, "", after=0, keep_next=True)
    table = doc.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    borderless(table)
    fixed_widths(table, [LEFT_COL_MM + 10, RIGHT_COL_MM - 10])
    cell_margins(table, 0, 0)
    left, right = table.cell(0, 0), table.cell(0, 1)
    cell_text(left, "Nơi nhận:", size=12, bold=True, italic=True, align=WD_ALIGN_PARAGRAPH.LEFT)
    tag(left, "{%p for line in recipients %}")
    para(left, "- {{ line }}", size=11, align=WD_ALIGN_PARAGRAPH.LEFT, first_indent=None, after=0)
    tag(left, "{%p endfor %}")

    # Drop the cell's default empty paragraph; the authority line is conditional (a director signs alone).
    right._tc.remove(right.paragraphs[0]._p)
    tag(right, "{%p if signer.authority %}")
    para(right, "{{ signer.authority }}", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None,
         after=0)
    tag(right, "{%p endif %}")
    para(right, "{{ signer.title }}", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None,
         after=0)
    for _ in range(4):
        para(right, "", align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None, after=0)
    para(right, "{{ signer.name }}", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None,
         after=0)
    cant_split(table.rows[0])


ANNEX_PT = 10
ANNEX_HEAD_PT = 9


def annex_block(doc) -> None:
    """Landscape section: one table per part (forms of communication, content topics), each with
    units × indicators, a totals row, the reporting status and a legend naming its numbered columns.

    Each part (heading, table, legend) is chained with keep-with-next so it never splits or leaves
    its legend alone on a page; the chain is broken between parts by a spacer paragraph, and after
    the last part by the closing note.
    """
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    # add_section() put section 1's properties on a new empty paragraph; keep it tiny so a full last
    # page of the report never pushes it onto a blank page of its own.
    holder = doc.paragraphs[-1]
    holder.paragraph_format.space_before = Pt(0)
    holder.paragraph_format.space_after = Pt(0)
    holder.paragraph_format.line_spacing = Pt(1)
    _paragraph_mark_size(holder, 1)
    page_setup(section, landscape=True)
    section.different_first_page_header_footer = False
    para(doc, "{{ annex.title }}", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, first_indent=None,
         after=0, keep_next=True)
    para(doc, "{{ annex.subtitle }}", size=13, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER,
         first_indent=None, after=6, keep_next=True)

    tag(doc, "{%p for part in annex.parts %}")
    tag(doc, "{%p if part.title %}")
    para(doc, "{{ part.title }}", size=13, bold=True, align=WD_ALIGN_PARAGRAPH.LEFT, first_indent=None,
         before=6, after=4, keep_next=True)
    tag(doc, "{%p endif %}")

    # STT | unit | {%tc for %} | value | {%tc endfor %} | status — widths are re-fitted at render time.
    widths = [10, 52, 5, 20, 5, 22]
    table = doc.add_table(rows=6, cols=len(widths))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    fixed_widths(table, widths)
    cell_margins(table, 1.2, 1.2)

    head = table.rows[0]
    repeat_header(head)
    for cell, text in zip(head.cells, ["STT", "Cơ quan, đơn vị", "{%tc for col in part.columns %}", "",
                                       "{%tc endfor %}", "Tình hình báo\u00a0cáo"], strict=True):
        cell_text(cell, text, size=ANNEX_HEAD_PT, bold=True)
        v_align(cell)
    # Labels are long, so the header shows the column number and unit; the legend under the table names
    # them (indicator codes are the Office's internals and never reach UBND).
    col_cell = head.cells[3]
    cell_text(col_cell, "{{ col.head }}", size=ANNEX_HEAD_PT, bold=True)
    para(col_cell, "{{ col.unit_note }}", size=8, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER,
         first_indent=None, after=0, line=1.0)

    cell_text(table.cell(1, 0), "{%tr for row in part.rows %}", size=ANNEX_PT)
    data = ["{{ row.no }}", "{{ row.name }}", "{%tc for v in row.cells %}", "{{ v }}", "{%tc endfor %}",
            "{{ row.status }}"]
    aligns = [WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT, WD_ALIGN_PARAGRAPH.CENTER,
              WD_ALIGN_PARAGRAPH.RIGHT, WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.CENTER]
    for cell, text, align in zip(table.rows[2].cells, data, aligns, strict=True):
        cell_text(cell, text, size=ANNEX_PT, align=align)
        v_align(cell)
    cell_text(table.cell(3, 0), "{%tr endfor %}", size=ANNEX_PT)

    totals = ["", "Tổng cộng", "{%tc for v in part.totals %}", "{{ v }}", "{%tc endfor %}",
              "{{ part.totals_status }}"]
    for cell, text, align in zip(table.rows[4].cells, totals, aligns, strict=True):
        cell_text(cell, text, size=ANNEX_PT, bold=True, align=align)
        v_align(cell)
    # Row 5 is a spare row removed below (python-docx cannot create a table without it being used).
    table._tbl.remove(table.rows[5]._tr)
    for row in table.rows:
        cant_split(row)
    keep_rows_together(table)

    para(doc, "Ghi chú:", size=10, bold=True, italic=True, first_indent=None, before=3, after=0,
         align=WD_ALIGN_PARAGRAPH.LEFT, keep_next=True)
    tag(doc, "{%p for col in part.columns %}")
    para(doc, "{{ col.head }} {{ col.label }}{{ col.unit_suffix }}", size=10, first_indent=None, after=0,
         align=WD_ALIGN_PARAGRAPH.LEFT, keep_next=True)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if part.last %}")
    para(doc, "{{ annex.note }}", size=10, italic=True, first_indent=None, before=3, after=0,
         align=WD_ALIGN_PARAGRAPH.LEFT)
    tag(doc, "{%p else %}")
    para(doc, "", size=10, first_indent=None, after=6)  # ends this part's keep-with-next chain
    tag(doc, "{%p endif %}")
    tag(doc, "{%p endfor %}")


def build(path: Path = TEMPLATE_PATH) -> Path:
    """Write the template and return its path."""
    doc = Document()
    setup_styles(doc)
    section = doc.sections[0]
    page_setup(section)
    page_number_header(section)
    # The default document starts with no paragraphs; header table goes first.
    header_block(doc)
    title_block(doc)
    body_block(doc)
    signature_block(doc)
    annex_block(doc)
    doc.core_properties.author = "baocao"
    doc.core_properties.title = "Báo cáo tổng hợp"
    doc.core_properties.language = "vi-VN"
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    doc.save(buf)
    path.write_bytes(_stable_zip(buf.getvalue()))
    return path


def _stable_zip(data: bytes) -> bytes:
    """Same input, same bytes: zip entries get a fixed timestamp so rebuilding gives a clean git diff."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


if __name__ == "__main__":
    out = build(Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE_PATH)
    print(out)
