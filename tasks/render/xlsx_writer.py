"""A small streaming .xlsx writer: rows of values with a few cell styles, and the few extras a unit's workbook
needs (whole-number validation, cell comments, a shared-strings table).

Why not xlsxwriter: it spends about 5 µs a cell (argument checks, a cell object, an XML writer call per
attribute) and some 3 ms a workbook besides (a theme part, every part deflated by a fresh zlib stream). The
annex has a row per unit on each of its sheets (half of a consolidation's per-unit cost at 10,000 units), and
every request and reminder mail carries a unit's workbook (85 % of `baocao request` at 10,000 units). This
writer turns each row into one string as it is given and zips the parts once, reusing the deflated bytes of
the parts that repeat from workbook to workbook (styles, relationships, a template's sheet): the same
workbooks (styles, merged cells, column widths, frozen panes, A4 landscape fitted to the page width, header
rows repeated on every printed page, validations, comments) in a tenth to a seventh of the time. Strings
are written as text whatever they hold: a unit's "=HYPERLINK(...)" stays text, never a formula. They are
inline (`t="inlineStr"`) unless the book keeps a shared-strings table, as Excel saves a workbook (the
unit's workbook does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from math import isfinite
from pathlib import Path
from typing import Literal, NamedTuple
from xml.sax.saxutils import escape, quoteattr

from tasks.text import column_letter
from tasks.zipdir import archive

Value = str | int | float | None

# Characters XML 1.0 cannot hold, and text that Excel would read as one of its own _xHHHH_ escapes
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile("(_x[0-9A-Fa-f]{4}_)")
_MAX_DIGIT_WIDTH, _PADDING = 7, 5  # Excel's column width units for an 11 pt default font (as xlsxwriter)
A4 = 9  # a sheet's paper size
_DEFAULT_COL_PX, _DEFAULT_ROW_PX = 64, 20  # a column and a row nobody sized, in pixels


@dataclass(frozen=True)
class Style:
    """A cell's look. Every cell of a sheet uses one of a handful of these."""

    font: str = "Times New Roman"
    size: float = 11
    bold: bool = False
    italic: bool = False
    align: Literal["", "left", "center", "right"] = ""
    valign: Literal["", "top", "center", "bottom"] = ""
    wrap: bool = False
    border: Literal["", "thin", "medium"] = ""  # all four sides
    border_color: str = ""  # RGB hex, e.g. "C00000"; "" automatic (black)
    fill: str = ""  # RGB hex, e.g. "D9E1F2"
    number_format: int = 0  # a built-in format id: 0 General, 3 "#,##0"


def text_xml(value: str) -> str:
    """A string as cell text: XML-escaped, characters XML cannot hold as Excel's _xHHHH_ escapes, and text
    that already looks like such an escape protected so it reads back as typed."""
    if "_x" in value:
        value = _LOOKS_ESCAPED.sub(r"_x005F\1", value)
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub(lambda m: f"_x{ord(m[0]):04X}_", value)
    return escape(value)


def _space(value: str) -> str:
    """The attribute that keeps a text's leading or trailing whitespace (XML readers drop it otherwise)."""
    return ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else ""


@lru_cache(maxsize=1024)
def _whole_number(minimum: int, title: str, message: str) -> str:
    """A whole-number validation's opening tag but its cells (remembered: every unit's workbook repeats them)."""
    return ('<dataValidation type="whole" operator="greaterThanOrEqual" allowBlank="1" showInputMessage="1" '
            f'showErrorMessage="1" errorTitle={quoteattr(title)} error={quoteattr(message)}')


class _Note(NamedTuple):
    row: int
    col: int
    text: str
    author: str
    font: str
    size: float
    width: int  # the box, in pixels
    height: int


class Sheet:
    """One worksheet; rows are added top to bottom (row numbers only grow)."""

    def __init__(self, book: Book, name: str):
        self.book, self.name = book, name
        self._rows: list[str] = []
        self._next_row = 0
        self._last_col = 0
        self._widths: list[tuple[int, int, float]] = []
        self._heights: dict[int, int] = {}  # row → pixels, where a comment's box is placed by them
        self._merged: list[str] = []
        self._validations: list[str] = []
        self._notes: list[_Note] = []
        self._frozen: tuple[int, int, bool] | None = None
        self._letters: list[str] = []
        self.landscape = False
        self.paper = 0  # A4 = 9
        self.fit_width = False  # fit the columns on one page wide, as many pages tall as needed
        self.repeat_rows: tuple[int, int] | None = None
        self.margins = (0.7, 0.7, 0.75, 0.75)  # left, right, top, bottom, in inches (header, footer 0.3)

    def _letter(self, col: int) -> str:
        while len(self._letters) <= col:
            self._letters.append(column_letter(len(self._letters)))
        return self._letters[col]

    def row(self, r: int, cells: Iterable[tuple[Value, Style | None]], height: float | None = None) -> None:
        """Row `r` (0-based) from column A: each cell a value (None or "": an empty cell that keeps its style).
        `height` in points, shown (and stored) in whole pixels as Excel does."""
        if r < self._next_row:
            raise ValueError(f"row {r} after row {self._next_row - 1}: rows are written top to bottom")
        ref = str(r + 1)
        parts = []
        col = -1
        letters = self._letters
        attrs = self.book.style_attrs
        strings = self.book.strings
        shared = 0  # cells of this row that refer to the shared strings
        for col, (value, style) in enumerate(cells):
            at = letters[col] if col < len(letters) else self._letter(col)
            hit = attrs.get(id(style))
            s = hit[1] if hit is not None and hit[0] is style else self.book.style_attr(style)
            if isinstance(value, str) and value:
                if strings is None:
                    text = f"<t{_space(value)}>{text_xml(value)}</t>"
                    parts.append(f'<c r="{at}{ref}"{s} t="inlineStr"><is>{text}</is></c>')
                else:
                    parts.append(f'<c r="{at}{ref}"{s} t="s"><v>{strings.setdefault(value, len(strings))}</v></c>')
                    shared += 1
            elif value is None or value == "":  # an empty text is an empty cell, as a spreadsheet program keeps it
                if s:
                    parts.append(f'<c r="{at}{ref}"{s}/>')
            elif ((isinstance(value, int) and not isinstance(value, bool))
                  or (isinstance(value, float) and isfinite(value))):
                parts.append(f'<c r="{at}{ref}"{s}><v>{value!r}</v></c>')
            else:
                raise TypeError(f"a cell holds text or a number, not {type(value).__name__}")
        self.book.string_cells += shared
        ht = ""
        if height is not None:
            pixels = self._heights[r] = int(height * 4 / 3 + 0.5)
            ht = f' ht="{pixels * 0.75:g}" customHeight="1"'
        self._rows.append(f'<row r="{ref}"{ht}>{"".join(parts)}</row>')
        self._next_row = r + 1
        self._last_col = max(self._last_col, col)

    def merge(self, r: int, first_col: int, last_col: int) -> None:
        self._merged.append(f"{self._letter(first_col)}{r + 1}:{self._letter(last_col)}{r + 1}")

    def width(self, first_col: int, last_col: int, characters: float) -> None:
        """Column width in characters of the default font, as a spreadsheet program's column dialog shows it."""
        self._widths.append((first_col, last_col, characters))

    def freeze(self, rows: int, cols: int, cursor: bool = True) -> None:
        """Keep the first rows and columns in view; `cursor` puts the cursor on the first cell below and right
        of them (else the program puts it in A1)."""
        self._frozen = (rows, cols, cursor)

    def whole_number(self, r: int, c: int, minimum: int, title: str, message: str) -> None:
        """Let the cell take only a whole number ≥ minimum (or nothing); anything else is refused with an
        error box of this title and message."""
        self._validations.append(f'{_whole_number(int(minimum), title, message)} sqref="{self._letter(c)}{r + 1}">'
                                 f"<formula1>{int(minimum)}</formula1></dataValidation>")

    def comment(self, r: int, c: int, text: str, author: str, *, font: str = "Tahoma", size: float = 8,
                scale: tuple[float, float] = (1, 1)) -> None:
        """A cell comment (a note shown when the pointer rests on the cell), its box `scale` times Excel's
        default size."""
        self._notes.append(_Note(r, c, text, author, font, size, int(0.5 + 128 * scale[0]), int(0.5 + 74 * scale[1])))

    @property
    def has_comments(self) -> bool:
        return bool(self._notes)

    def xml(self, selected: bool) -> str:
        last = f"{self._letter(self._last_col)}{max(self._next_row, 1)}"
        view = '<sheetView tabSelected="1" workbookViewId="0"' if selected else '<sheetView workbookViewId="0"'
        if self._frozen:
            rows, cols, cursor = self._frozen
            corner = f"{self._letter(cols)}{rows + 1}"
            split = (f' xSplit="{cols}"' if cols else "") + (f' ySplit="{rows}"' if rows else "")
            pane = "bottomRight" if rows and cols else ("bottomLeft" if rows else "topRight")
            at = f' activeCell="{corner}" sqref="{corner}"' if cursor else ""
            view += (f'><pane{split} topLeftCell="{corner}" activePane="{pane}" state="frozen"/>'
                     f'<selection pane="{pane}"{at}/></sheetView>')
        else:
            view += "/>"
        widths = "".join(f'<col min="{a + 1}" max="{b + 1}" width="{_column_width(w):.16g}" customWidth="1"/>'
                         for a, b, w in self._widths)
        merged = (f'<mergeCells count="{len(self._merged)}">'
                  + "".join(f'<mergeCell ref="{m}"/>' for m in self._merged) + "</mergeCells>") if self._merged else ""
        validations = (f'<dataValidations count="{len(self._validations)}">{"".join(self._validations)}'
                       "</dataValidations>") if self._validations else ""
        setup = ((f' paperSize="{self.paper}"' if self.paper else "")
                 + (' fitToHeight="0"' if self.fit_width else "")
                 + (' orientation="landscape"' if self.landscape else ""))
        left, right, top, bottom = self.margins
        return (f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
                + ('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>' if self.fit_width else "")
                + f'<dimension ref="A1:{last}"/><sheetViews>{view}</sheetViews>'
                '<sheetFormatPr defaultRowHeight="15"/>'
                + (f"<cols>{widths}</cols>" if widths else "")
                + f'<sheetData>{"".join(self._rows)}</sheetData>{merged}{validations}'
                f'<pageMargins left="{left:g}" right="{right:g}" top="{top:g}" bottom="{bottom:g}" '
                'header="0.3" footer="0.3"/>'
                + (f"<pageSetup{setup}/>" if setup else "")
                + ('<legacyDrawing r:id="rId1"/>' if self._notes else "") + "</worksheet>")

    def comments_xml(self) -> str:
        """The comments part: each note's author and text (a run in the note's font)."""
        notes = sorted(self._notes)
        authors = list(dict.fromkeys(n.author for n in notes))
        return (f'<comments xmlns="{_MAIN}"><authors>'
                + "".join(f"<author>{escape(a)}</author>" for a in authors) + "</authors><commentList>"
                + "".join(f'<comment ref="{self._letter(n.col)}{n.row + 1}" authorId="{authors.index(n.author)}">'
                          f'<text><r><rPr><sz val="{n.size:g}"/><color indexed="81"/><rFont val={quoteattr(n.font)}/>'
                          f'<family val="2"/></rPr><t{_space(n.text)}>{text_xml(n.text)}</t></r></text></comment>'
                          for n in notes)
                + "</commentList></comments>")

    def vml(self, block: int) -> str:
        """The drawing of the notes' boxes (hidden until pointed at), placed as Excel places a new note;
        `block` numbers the sheet's shapes (1024 a sheet) apart from other sheets'."""
        if len(self._notes) > 1024:
            raise ValueError("at most 1024 comments a sheet")
        cols = {c: _pixels(w) for a, b, w in self._widths for c in range(a, b + 1)}
        shapes = []
        for k, n in enumerate(sorted(self._notes), start=1):
            left, top, anchor = self._note_box(n, cols)
            shapes.append(
                f'<v:shape id="_x0000_s{1024 * block + k}" type="#_x0000_t202" style="position:absolute;'
                f"margin-left:{left * 0.75:.15g}pt;margin-top:{top * 0.75:.15g}pt;width:{n.width * 0.75:.15g}pt;"
                f'height:{n.height * 0.75:.15g}pt;z-index:{k};visibility:hidden" fillcolor="#ffffe1" '
                'o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
                '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
                '<div style="text-align:left"></div></v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/>'
                f"<x:SizeWithCells/><x:Anchor>{anchor}</x:Anchor><x:AutoFill>False</x:AutoFill>"
                f"<x:Row>{n.row}</x:Row><x:Column>{n.col}</x:Column></x:ClientData></v:shape>")
        return ('<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
                'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
                f'<o:idmap v:ext="edit" data="{block}"/></o:shapelayout><v:shapetype id="_x0000_t202" '
                'coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
                '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>' + "".join(shapes) + "</xml>")

    def _note_box(self, note: _Note, cols: dict[int, int]) -> tuple[int, int, str]:
        """A note's box: its top left corner in pixels from A1, and its anchor (first column, x offset, first
        row, y offset, last column, x offset, last row, y offset). Excel (and xlsxwriter) start it 15 pixels
        into the next column and 10 pixels into the row above."""

        def col_px(c: int) -> int:
            return cols.get(c, _DEFAULT_COL_PX)

        def row_px(r: int) -> int:
            return self._heights.get(r, _DEFAULT_ROW_PX)

        col, x1 = note.col + 1, 15
        row, y1 = (note.row - 1, 10) if note.row else (0, 2)
        left = sum(col_px(c) for c in range(col)) + x1
        top = sum(row_px(r) for r in range(row)) + y1
        while x1 >= col_px(col):
            x1 -= col_px(col)
            col += 1
        while y1 >= row_px(row):
            y1 -= row_px(row)
            row += 1
        last_col, x2 = col, note.width + x1
        while x2 >= col_px(last_col):
            x2 -= col_px(last_col)
            last_col += 1
        last_row, y2 = row, note.height + y1
        while y2 >= row_px(last_row):
            y2 -= row_px(last_row)
            last_row += 1
        return left, top, f"{col}, {x1}, {row}, {y1}, {last_col}, {x2}, {last_row}, {y2}"


def _column_width(characters: float) -> float:
    """Characters of the default font → the stored width (pixels over the digit width, in 1/256ths)."""
    stored = int(characters * _MAX_DIGIT_WIDTH + _PADDING) / _MAX_DIGIT_WIDTH if characters >= 1 else characters
    return int(stored * 256) / 256


def _pixels(characters: float) -> int:
    """A column's width on screen, in pixels (as Excel and xlsxwriter round it)."""
    if characters >= 1:
        return int(characters * _MAX_DIGIT_WIDTH + 0.5) + _PADDING
    return int(characters * (_MAX_DIGIT_WIDTH + _PADDING) + 0.5)


_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'  # every XML part begins with it
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"


class Book:
    """A workbook: its sheets in order, the styles their cells use, and its document properties.

    `shared_strings` keeps the text of string cells in one table (xl/sharedStrings.xml), as Excel saves it.
    """

    def __init__(self, title: str, author: str, created: datetime, *, shared_strings: bool = False):
        self.title, self.author, self.created = title, author, created
        self.sheets: list[Sheet] = []
        self.strings: dict[str, int] | None = {} if shared_strings else None
        self.string_cells = 0  # cells that refer to the table (its `count`)
        self._styles: dict[Style, int] = {}
        # id(style) → (style, ' s="3"'): the attribute a cell of this style carries, looked up by the style
        # object (hashing the dataclass for every cell of 10,000 rows cost more than writing the cell)
        self.style_attrs: dict[int, tuple[Style | None, str]] = {id(None): (None, "")}

    def sheet(self, name: str) -> Sheet:
        s = Sheet(self, name)
        self.sheets.append(s)
        return s

    def style_id(self, style: Style) -> int:
        """The cell format index of a style (0 is the default format)."""
        sid = self._styles.get(style)
        if sid is None:
            sid = self._styles[style] = len(self._styles) + 1
        return sid

    def style_attr(self, style: Style | None) -> str:
        """' s="3"', the attribute a cell of this style carries (Sheet.row looks in style_attrs first)."""
        if style is None:
            return ""
        hit = self.style_attrs.get(id(style))
        if hit is None or hit[0] is not style:
            hit = self.style_attrs[id(style)] = (style, f' s="{self.style_id(style)}"')
        return hit[1]

    def save(self, path: Path) -> Path:
        """Write the package; the same content gives the same bytes (fixed part dates and order)."""
        path.write_bytes(self.package())
        return path

    def package(self) -> bytes:
        """The .xlsx file's bytes."""
        return archive([(name, (text if name.endswith(".vml") else _DECLARATION + text).encode("utf-8"))
                     for name, text in self._parts()])

    def _parts(self) -> list[tuple[str, str]]:
        n = len(self.sheets)
        noted = [i for i, s in enumerate(self.sheets, 1) if s.has_comments]
        sheet_ct = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.'
                           f'spreadsheetml.worksheet+xml"/>' for i in range(1, n + 1))
        sheet_ct += "".join(f'<Override PartName="/xl/comments{i}.xml" ContentType="{_CT}.spreadsheetml.comments+xml"/>'
                            for i in noted)
        content_types = (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            + (f'<Default Extension="vml" ContentType="{_CT}.vmlDrawing"/>' if noted else "")
            + f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>'
            f"{sheet_ct}"
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>'
            + (f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.spreadsheetml.sharedStrings+xml"/>'
               if self.strings is not None else "")
            + '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            f'<Override PartName="/docProps/app.xml" ContentType="{_CT}.extended-properties+xml"/></Types>')
        root_rels = (
            f'<Relationships xmlns="{_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
            'core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
            "</Relationships>")
        created = self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        core = (
            '<cp:coreProperties '
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{escape(self.title)}</dc:title><dc:creator>{escape(self.author)}</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{created}</dcterms:modified></cp:coreProperties>')
        app = ('<Properties xmlns='
               '"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
               "<Application>baocao</Application></Properties>")
        titles = "".join(
            f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
            f"{escape(_quoted_sheet(s.name))}!${s.repeat_rows[0] + 1}:${s.repeat_rows[1] + 1}</definedName>"
            for i, s in enumerate(self.sheets) if s.repeat_rows)
        workbook = (
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<bookViews><workbookView/></bookViews><sheets>'
            + "".join(f"<sheet name={quoteattr(s.name)} sheetId=\"{i}\" r:id=\"rId{i}\"/>"
                      for i, s in enumerate(self.sheets, start=1))
            + "</sheets>" + (f"<definedNames>{titles}</definedNames>" if titles else "") + "</workbook>")
        wb_rels = (
            f'<Relationships xmlns="{_PKG_REL}">'
            + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, n + 1))
            + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
            + (f'<Relationship Id="rId{n + 2}" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
               if self.strings is not None else "") + "</Relationships>")
        sheets = [(f"xl/worksheets/sheet{i}.xml", s.xml(selected=i == 1)) for i, s in enumerate(self.sheets, 1)]
        parts = [("[Content_Types].xml", content_types), ("_rels/.rels", root_rels), ("docProps/app.xml", app),
                 ("docProps/core.xml", core), ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", wb_rels),
                 ("xl/styles.xml", styles_xml(list(self._styles))), *sheets]
        for i in noted:  # a sheet's comments: their text, the drawing of their boxes, and the sheet's links to both
            s = self.sheets[i - 1]
            parts += [(f"xl/worksheets/_rels/sheet{i}.xml.rels",
                       f'<Relationships xmlns="{_PKG_REL}">'
                       f'<Relationship Id="rId1" Type="{_REL}/vmlDrawing" Target="../drawings/vmlDrawing{i}.vml"/>'
                       f'<Relationship Id="rId2" Type="{_REL}/comments" Target="../comments{i}.xml"/>'
                       "</Relationships>"),
                      (f"xl/comments{i}.xml", s.comments_xml()), (f"xl/drawings/vmlDrawing{i}.vml", s.vml(i))]
        if self.strings is not None:
            parts.append(("xl/sharedStrings.xml", _shared_strings(self.strings, self.string_cells)))
        return parts


def _quoted_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _shared_strings(strings: dict[str, int], cells: int) -> str:
    return (f'<sst xmlns="{_MAIN}" count="{cells}" uniqueCount="{len(strings)}">'
            + "".join(map(_string_item, strings)) + "</sst>")


@lru_cache(maxsize=4096)
def _string_item(text: str) -> str:
    """A shared string's entry (remembered: most of a unit's strings are every unit's labels)."""
    return f"<si><t{_space(text)}>{text_xml(text)}</t></si>"


def styles_xml(styles: Sequence[Style]) -> str:
    """The styles part: format 0 is the default; format i is styles[i - 1]."""
    return _styles_xml(tuple(styles))


@lru_cache(maxsize=16)
def _styles_xml(styles: tuple[Style, ...]) -> str:  # remembered: every unit's workbook has the same styles
    default = Style(font="Calibri")
    fonts: dict[tuple[str, float, bool, bool], int] = {}
    fills: dict[str, int] = {"": 0}
    borders: dict[tuple[str, str], int] = {("", ""): 0, ("thin", ""): 1}
    xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>']
    fonts[(default.font, default.size, False, False)] = 0
    for s in styles:
        font = fonts.setdefault((s.font, s.size, s.bold, s.italic), len(fonts))
        fill = fills.setdefault(s.fill, len(fills) + 1) if s.fill else 0  # fill 1 is the required gray125
        border = borders.setdefault((s.border, s.border_color), len(borders)) if s.border else 0
        align = "".join([f' horizontal="{s.align}"' if s.align else "", f' vertical="{s.valign}"' if s.valign else "",
                         ' wrapText="1"' if s.wrap else ""])
        xfs.append(f'<xf numFmtId="{s.number_format}" fontId="{font}" fillId="{fill}" borderId="{border}" '
                   f'xfId="0"' + (' applyNumberFormat="1"' if s.number_format else "") + ' applyFont="1"'
                   + (' applyFill="1"' if fill else "") + (' applyBorder="1"' if border else "")
                   + (f' applyAlignment="1"><alignment{align}/></xf>' if align else "/>"))
    font_xml = "".join(f'<font>{"<b/>" if b else ""}{"<i/>" if i else ""}<sz val="{size:g}"/>'
                       f'<name val={quoteattr(name)}/><family val="{2 if name == "Calibri" else 1}"/></font>'
                       for (name, size, b, i) in fonts)
    fill_xml = ('<fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
                + "".join(f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/>'
                          f"</patternFill></fill>" for rgb in list(fills)[1:]))
    border_xml = "<border><left/><right/><top/><bottom/><diagonal/></border>" + "".join(
        "<border>" + "".join(f'<{side} style="{line}">' + (f'<color rgb="FF{rgb}"/>' if rgb else '<color auto="1"/>')
                             + f"</{side}>" for side in ("left", "right", "top", "bottom")) + "<diagonal/></border>"
        for line, rgb in list(borders)[1:])
    return (f'<styleSheet xmlns="{_MAIN}"><fonts count="{len(fonts)}">{font_xml}</fonts>'
            f'<fills count="{len(fills) + 1}">{fill_xml}</fills>'
            f'<borders count="{len(borders)}">{border_xml}</borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
