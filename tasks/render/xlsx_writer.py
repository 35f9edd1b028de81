"""A small streaming .xlsx writer for the annex: rows of values with a few cell styles, nothing else.

Why not xlsxwriter here (it still writes the request workbooks): the annex has a row per unit on each of its
sheets, and xlsxwriter spends about 5 µs a cell (argument checks, a cell object, an XML writer call per
attribute). At a province's 10,000 units that was half of a consolidation's per-unit cost. This writer turns
each row into one string as it is given and zips the parts once: the same workbook (styles, merged title,
column widths, frozen panes, A4 landscape fitted to the page width, header rows repeated on every printed
page) for a tenth of the time. Strings are inline (`t="inlineStr"`), written as text whatever they hold: a
unit's "=HYPERLINK(...)" stays text, never a formula.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from math import isfinite
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from tasks.text import column_letter

Value = str | int | float | None

# Characters XML 1.0 cannot hold, and text that Excel would read as one of its own _xHHHH_ escapes
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile("(_x[0-9A-Fa-f]{4}_)")
_MAX_DIGIT_WIDTH, _PADDING = 7, 5  # Excel's column width units for an 11 pt default font (as xlsxwriter)


@dataclass(frozen=True)
class Style:
    """A cell's look. Every cell of the annex uses one of a handful of these."""

    font: str = "Times New Roman"
    size: float = 11
    bold: bool = False
    italic: bool = False
    align: Literal["", "left", "center", "right"] = ""
    valign: Literal["", "top", "center", "bottom"] = ""
    wrap: bool = False
    border: bool = False
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


class Sheet:
    """One worksheet; rows are added top to bottom (row numbers only grow)."""

    def __init__(self, book: Book, name: str):
        self.book, self.name = book, name
        self._rows: list[str] = []
        self._next_row = 0
        self._last_col = 0
        self._widths: list[tuple[int, int, float]] = []
        self._merged: list[str] = []
        self._frozen: tuple[int, int] | None = None
        self._letters: list[str] = []
        self.landscape = False
        self.paper = 0  # 9 = A4
        self.fit_width = False  # fit the columns on one page wide, as many pages tall as needed
        self.repeat_rows: tuple[int, int] | None = None

    def _letter(self, col: int) -> str:
        while len(self._letters) <= col:
            self._letters.append(column_letter(len(self._letters)))
        return self._letters[col]

    def row(self, r: int, cells: Iterable[tuple[Value, Style | None]], height: float | None = None) -> None:
        """Row `r` (0-based) from column A: each cell a value (None or "": an empty cell that keeps its style)."""
        if r < self._next_row:
            raise ValueError(f"row {r} after row {self._next_row - 1}: rows are written top to bottom")
        ref = str(r + 1)
        parts = []
        col = -1
        attr = self.book.style_attr
        for col, (value, style) in enumerate(cells):
            at = (self._letters[col] if col < len(self._letters) else self._letter(col)) + ref
            s = attr(style)
            if value is None or value == "":  # an empty text is an empty cell, as a spreadsheet program keeps it
                if s:
                    parts.append(f'<c r="{at}"{s}/>')
            elif isinstance(value, str):
                space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
                parts.append(f'<c r="{at}"{s} t="inlineStr"><is><t{space}>{text_xml(value)}</t></is></c>')
            elif ((isinstance(value, int) and not isinstance(value, bool))
                  or (isinstance(value, float) and isfinite(value))):
                parts.append(f'<c r="{at}"{s}><v>{value!r}</v></c>')
            else:
                raise TypeError(f"a cell holds text or a number, not {type(value).__name__}")
        ht = f' ht="{height:g}" customHeight="1"' if height is not None else ""
        self._rows.append(f'<row r="{ref}"{ht}>{"".join(parts)}</row>')
        self._next_row = r + 1
        self._last_col = max(self._last_col, col)

    def merge(self, r: int, first_col: int, last_col: int) -> None:
        self._merged.append(f"{self._letter(first_col)}{r + 1}:{self._letter(last_col)}{r + 1}")

    def width(self, first_col: int, last_col: int, characters: float) -> None:
        """Column width in characters of the default font, as a spreadsheet program's column dialog shows it."""
        self._widths.append((first_col, last_col, characters))

    def freeze(self, rows: int, cols: int) -> None:
        self._frozen = (rows, cols)

    def xml(self, selected: bool) -> str:
        last = f"{self._letter(self._last_col)}{max(self._next_row, 1)}"
        view = '<sheetView tabSelected="1" workbookViewId="0"' if selected else '<sheetView workbookViewId="0"'
        if self._frozen:
            rows, cols = self._frozen
            corner = f"{self._letter(cols)}{rows + 1}"
            split = (f' xSplit="{cols}"' if cols else "") + (f' ySplit="{rows}"' if rows else "")
            pane = "bottomRight" if rows and cols else ("bottomLeft" if rows else "topRight")
            view += (f'><pane{split} topLeftCell="{corner}" activePane="{pane}" state="frozen"/>'
                     f'<selection pane="{pane}" activeCell="{corner}" sqref="{corner}"/></sheetView>')
        else:
            view += "/>"
        widths = "".join(f'<col min="{a + 1}" max="{b + 1}" width="{_column_width(w):.16g}" customWidth="1"/>'
                       for a, b, w in self._widths)
        merged = (f'<mergeCells count="{len(self._merged)}">'
                  + "".join(f'<mergeCell ref="{m}"/>' for m in self._merged) + "</mergeCells>") if self._merged else ""
        setup = ((f' paperSize="{self.paper}"' if self.paper else "")
                 + (' fitToHeight="0"' if self.fit_width else "")
                 + (' orientation="landscape"' if self.landscape else ""))
        return (f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
                + ('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>' if self.fit_width else "")
                + f'<dimension ref="A1:{last}"/><sheetViews>{view}</sheetViews>'
                '<sheetFormatPr defaultRowHeight="15"/>'
                + (f"<cols>{widths}</cols>" if widths else "")
                + f'<sheetData>{"".join(self._rows)}</sheetData>{merged}'
                '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
                + (f"<pageSetup{setup}/>" if setup else "") + "</worksheet>")


def _column_width(characters: float) -> float:
    """Characters of the default font → the stored width (pixels over the digit width, in 1/256ths)."""
    stored = int(characters * _MAX_DIGIT_WIDTH + _PADDING) / _MAX_DIGIT_WIDTH if characters >= 1 else characters
    return int(stored * 256) / 256


_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'  # every part begins with it
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"


class Book:
    """A workbook: its sheets in order, the styles their cells use, and its document properties."""

    def __init__(self, title: str, author: str, created: datetime):
        self.title, self.author, self.created = title, author, created
        self.sheets: list[Sheet] = []
        self._styles: dict[Style, int] = {}
        self._attrs: dict[int, tuple[Style, str]] = {}

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
        """' s="3"', the attribute a cell of this style carries; looked up by the style object (hashing the
        dataclass for every cell of 10,000 rows cost more than writing the cell)."""
        if style is None:
            return ""
        hit = self._attrs.get(id(style))
        if hit is None or hit[0] is not style:
            hit = self._attrs[id(style)] = (style, f' s="{self.style_id(style)}"')
        return hit[1]

    def save(self, path: Path) -> Path:
        """Write the package; the same content gives the same bytes (fixed part dates and order)."""
        parts = self._parts()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in parts:
                info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, (_DECLARATION + text).encode("utf-8"))
        return path

    def _parts(self) -> list[tuple[str, str]]:
        n = len(self.sheets)
        sheet_ct = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.'
                           f'spreadsheetml.worksheet+xml"/>' for i in range(1, n + 1))
        content_types = (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>'
            f"{sheet_ct}"
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" '
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
            + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>')
        sheets = [(f"xl/worksheets/sheet{i}.xml", s.xml(selected=i == 1)) for i, s in enumerate(self.sheets, 1)]
        return [("[Content_Types].xml", content_types), ("_rels/.rels", root_rels), ("docProps/app.xml", app),
                ("docProps/core.xml", core), ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", wb_rels),
                ("xl/styles.xml", styles_xml(list(self._styles))), *sheets]


def _quoted_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def styles_xml(styles: Sequence[Style]) -> str:
    """The styles part: format 0 is the default; format i is styles[i - 1]."""
    default = Style(font="Calibri")
    fonts: dict[tuple[str, float, bool, bool], int] = {}
    fills: dict[str, int] = {"": 0}
    xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>']
    fonts[(default.font, default.size, False, False)] = 0
    for s in styles:
        font = fonts.setdefault((s.font, s.size, s.bold, s.italic), len(fonts))
        fill = fills.setdefault(s.fill, len(fills) + 1) if s.fill else 0  # fill 1 is the required gray125
        align = "".join([f' horizontal="{s.align}"' if s.align else "", f' vertical="{s.valign}"' if s.valign else "",
                         ' wrapText="1"' if s.wrap else ""])
        xfs.append(f'<xf numFmtId="{s.number_format}" fontId="{font}" fillId="{fill}" borderId="{int(s.border)}" '
                   f'xfId="0"' + (' applyNumberFormat="1"' if s.number_format else "") + ' applyFont="1"'
                   + (' applyFill="1"' if fill else "") + (' applyBorder="1"' if s.border else "")
                   + (f' applyAlignment="1"><alignment{align}/></xf>' if align else "/>"))
    font_xml = "".join(f'<font>{"<b/>" if b else ""}{"<i/>" if i else ""}<sz val="{size:g}"/>'
                       f'<name val={quoteattr(name)}/><family val="{2 if name == "Calibri" else 1}"/></font>'
                       for (name, size, b, i) in fonts)
    fill_xml = ('<fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
                + "".join(f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/><bgColor indexed="64"/>'
                          f"</patternFill></fill>" for rgb in list(fills)[1:]))
    thin = "".join(f'<{side} style="thin"><color auto="1"/></{side}>' for side in ("left", "right", "top", "bottom"))
    return (f'<styleSheet xmlns="{_MAIN}"><fonts count="{len(fonts)}">{font_xml}</fonts>'
            f'<fills count="{len(fills) + 1}">{fill_xml}</fills>'
            f'<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
            f"<border>{thin}<diagonal/></border></borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
