"""Files a hostile or clumsy world sends, built at test time, each with the outcome baocao owes it.

Every case is a (filename, bytes, expected status, expected Vietnamese fragment) so the same corpus runs
through intake + validation here and through the real collect elsewhere (`cases(ctx)`). The bytes are
small: the zip bomb is a few KB that declares tens of MB, the 'far cell' workbook a few KB.

Builders here write the formats by hand (a minimal OOXML package, OpenDocument, OLE2/CFB with a BIFF8
workbook or an encrypted-package directory), so each case controls exactly the bytes it is about.
"""

from __future__ import annotations

import csv
import io
import random
import struct
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.sax.saxutils import escape

from tasks.context import Context
from tasks.samples import BASE
from tasks.text import a1
from tasks.workbook import COL_CODE, COL_VALUE, template_grid
from tests.helpers import filled

Status = Literal["accepted", "rejected"]
PERIOD = "2021-03"


@dataclass(frozen=True)
class Formula:
    """A formula cell; cached=None is a workbook saved by a tool that never calculated it."""

    text: str
    cached: Any = None


@dataclass(frozen=True)
class Case:
    """One hostile input and what baocao owes the unit that sent it."""

    name: str
    filename: str
    data: bytes
    status: Status
    fragment: str = ""  # in an error (rejected) or a warning (accepted); "" = accepted without warnings check
    values: dict[str, Any] = field(default_factory=dict)  # indicator values expected once accepted
    unit: str = "VP"


# --- grids ---------------------------------------------------------------------------------------------

def grid(ctx: Context, unit: str = "VP", **changes: Any) -> list[list[Any]]:
    """The unit's March template filled with the sample values, some changed."""
    u = ctx.cfg.unit(unit)
    assert u is not None
    period = ctx.period(PERIOD)
    rows = template_grid(ctx.cfg.report, u, period, ctx.unit_deadline(period))
    values = {**BASE[unit], **changes}
    for row in rows:
        if isinstance(row[0], int) and row[COL_CODE] in values:
            row[COL_VALUE] = values[str(row[COL_CODE])]
    return rows


def cell_of(rows: list[list[Any]], code: str) -> tuple[int, int]:
    """(row, col) of an indicator's value cell."""
    return next(r for r, row in enumerate(rows) if row[COL_CODE] == code), COL_VALUE


# --- OOXML (.xlsx) by hand -----------------------------------------------------------------------------

_CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
       '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
       'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType='
       '"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WB = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
       '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
       '<sheet name="Báo cáo" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            '</Relationships>')
_HIDDEN = ' hidden="1"'
FONTS = ("Times New Roman", ".VnTime", "VNI-Times")  # style s=0, 1, 2


def _styles(names: tuple[str, ...] = FONTS) -> str:
    fonts = "".join(f'<font><sz val="12"/><name val="{f}"/></font>' for f in names)
    xfs = "".join(f'<xf numFmtId="0" fontId="{i}" fillId="0" borderId="0" xfId="0"/>' for i in range(len(names)))
    return ('<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/'
            f'spreadsheetml/2006/main"><fonts count="{len(names)}">{fonts}</fonts><fills count="1"><fill>'
            '<patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(names)}">{xfs}</cellXfs></styleSheet>')


def _cell(ref: str, value: Any, style: int) -> str:
    s = f' s="{style}"' if style else ""
    if isinstance(value, Formula):
        cached = "" if value.cached is None else f"<v>{value.cached}</v>"
        return f'<c r="{ref}"{s}><f>{escape(value.text)}</f>{cached}</c>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    return f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def xlsx(rows: list[list[Any]], *, styles: dict[tuple[int, int], int] | None = None,
         extra: dict[str, Any] | None = None, hidden_rows: frozenset[int] = frozenset(),
         merged: tuple[str, ...] = (), dimension: str | None = None, padding: int = 0,
         more_entries: int = 0, fonts: tuple[str, ...] = FONTS) -> bytes:
    """A minimal, valid .xlsx of these rows (inline strings), with the oddities a case needs: cell fonts,
    far-away cells (extra: {'XFD1048576': 1}), hidden rows, merged ranges, a declared dimension, a sheet
    padded with `padding` bytes of whitespace (compresses ~1000:1), and extra tiny zip entries."""
    styles = styles or {}
    body: dict[int, list[str]] = {}
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                body.setdefault(r + 1, []).append(_cell(a1(r, c), value, styles.get((r, c), 0)))
    for ref, value in (extra or {}).items():
        r = int("".join(ch for ch in ref if ch.isdigit()))
        body.setdefault(r, []).append(_cell(ref, value, 0))
    rows_xml = "".join(
        f'<row r="{r}"{_HIDDEN if r - 1 in hidden_rows else ""}>{"".join(cells)}</row>'
        for r, cells in sorted(body.items()))
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    merges = (f'<mergeCells count="{len(merged)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in merged)
              + "</mergeCells>") if merged else ""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WB)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        z.writestr("xl/styles.xml", _styles(fonts))
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                     f'spreadsheetml/2006/main">{dim}<sheetData>{rows_xml}</sheetData>{merges}').encode())
            chunk = b" " * (1 << 20)
            for _ in range(padding // len(chunk)):
                f.write(chunk)
            f.write(b"</worksheet>")
        for i in range(more_entries):
            z.writestr(f"customXml/item{i}.xml", "<a/>")
    return buf.getvalue()


# --- OpenDocument (.ods) by hand ------------------------------------------------------------------------

def ods(rows: list[list[Any]], *, repeat_last_row: int = 1) -> bytes:
    """A minimal .ods; repeat_last_row repeats the last row as LibreOffice would (number-rows-repeated)."""
    def cell(v: Any) -> str:
        if v is None:
            return "<table:table-cell/>"
        if isinstance(v, int | float):
            return (f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p>'
                    "</table:table-cell>")
        return f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p></table:table-cell>'

    body = []
    for i, row in enumerate(rows):
        rep = f' table:number-rows-repeated="{repeat_last_row}"' if i == len(rows) - 1 and repeat_last_row > 1 else ""
        body.append(f"<table:table-row{rep}>" + "".join(cell(v) for v in row) + "</table:table-row>")
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:'
               'opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
               '<office:spreadsheet><table:table table:name="Báo cáo">' + "".join(body)
               + "</table:table></office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                'opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return buf.getvalue()


# --- OLE2 / CFB: .xls (BIFF8) and Excel's encrypted package ----------------------------------------------

_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def cfb(streams: dict[str, bytes]) -> bytes:
    """A version-3 compound file holding these streams (each padded to 4096 bytes, so no mini stream)."""
    names = sorted(streams, key=lambda n: (len(n), n.upper()))  # the directory's sibling order
    data = {n: streams[n] + b"\0" * (max(4096, -(-len(streams[n]) // 512) * 512) - len(streams[n])) for n in names}
    n_dir = -(-(len(names) + 1) // 4)
    n_data = sum(len(d) // 512 for d in data.values())
    n_fat = 1
    while n_fat * 128 < n_fat + n_dir + n_data:
        n_fat += 1
    fat = [_FATSECT] * n_fat
    dir_start = len(fat)
    fat += [dir_start + i + 1 for i in range(n_dir - 1)] + [_END]
    starts = {}
    for n in names:
        k = len(data[n]) // 512
        starts[n] = len(fat)
        fat += [len(fat) + i + 1 for i in range(k - 1)] + [_END]
    fat += [_FREE] * (n_fat * 128 - len(fat))

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0"
        return (raw.ljust(64, b"\0") + struct.pack("<HBB3I", len(raw), kind, 1, _NOSTREAM, right, child)
                + b"\0" * 36 + struct.pack("<IQ", start, size))

    entries = [entry("Root Entry", 5, 1 if names else _NOSTREAM, _NOSTREAM, _END, 0)]
    for i, n in enumerate(names):
        entries.append(entry(n, 2, _NOSTREAM, i + 2 if i + 1 < len(names) else _NOSTREAM, starts[n],
                             len(streams[n])))
    directory = b"".join(entries).ljust(n_dir * 512, b"\0")
    for off in range(len(entries) * 128, n_dir * 512, 128):  # unused entries: no siblings, no child
        directory = directory[:off + 68] + struct.pack("<3I", _NOSTREAM, _NOSTREAM, _NOSTREAM) + directory[off + 80:]
    difat = list(range(n_fat)) + [_FREE] * (109 - n_fat)
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<IIIIIIIII", 0, n_fat, dir_start, 0, 4096, _END, 0, _END, 0)
              + struct.pack("<109I", *difat))
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + b"".join(data[n] for n in names)


def encrypted_xlsx() -> bytes:
    """How Excel saves a password-protected .xlsx: a CFB with EncryptionInfo and EncryptedPackage streams."""
    info = struct.pack("<HHI", 4, 4, 0x40) + b'<?xml version="1.0"?><encryption/>'  # agile encryption header
    package = struct.pack("<Q", 8000) + random.Random(1).randbytes(8000)
    return cfb({"EncryptionInfo": info, "EncryptedPackage": package,
                "\x06DataSpaces": b"\0" * 64})


def _rec(kind: int, body: bytes) -> bytes:
    return struct.pack("<HH", kind, len(body)) + body


def xls(rows: list[list[Any]], styles: dict[tuple[int, int], int] | None = None) -> bytes:
    """A minimal BIFF8 workbook (.xls, Excel 97-2003) with one worksheet of these rows; styles as for xlsx()
    (1 = a .VnTime cell, 2 = a VNI-Times cell)."""
    styles = styles or {}
    strings: list[str] = []
    index: dict[str, int] = {}
    cells = []
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, int | float) and not isinstance(v, bool):
                cells.append(_rec(0x0203, struct.pack("<HHHd", r, c, 15, float(v))))
            else:
                s = str(v)
                if s not in index:
                    index[s] = len(strings)
                    strings.append(s)
                cells.append(_rec(0x00FD, struct.pack("<HHHI", r, c, 15 + styles.get((r, c), 0), index[s])))
    sst = struct.pack("<II", len(strings), len(strings)) + b"".join(
        struct.pack("<HB", len(s), 1) + s.encode("utf-16-le") for s in strings)
    bof = _rec(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x0206))
    def font(name: str) -> bytes:
        return _rec(0x0031, struct.pack("<HHHHHBBBB", 240, 0, 0x7FFF, 400, 0, 0, 0, 0, 0)
                    + struct.pack("<BB", len(name), 1) + name.encode("utf-16-le"))

    def cell_xf(font_index: int) -> bytes:
        return _rec(0x00E0, struct.pack("<HHHBBBBIIH", font_index, 0, 0x0001, 0x20, 0, 0, 0, 0, 0, 0x20C0))

    xf = _rec(0x00E0, struct.pack("<HHHBBBBIIH", 0, 0, 0xFFF5, 0x20, 0, 0, 0, 0, 0, 0x20C0))
    name = "Báo cáo"
    sheet_name = struct.pack("<BB", len(name), 1) + name.encode("utf-16-le")
    fonts = font(FONTS[0]) * 4 + font(FONTS[1]) + font(FONTS[2])  # indexes 0-3, 5, 6 (BIFF skips 4)
    head = (bof + _rec(0x0042, struct.pack("<H", 1200)) + fonts + xf * 15 + cell_xf(0) + cell_xf(5) + cell_xf(6))
    globals_len = len(head) + 4 + 6 + len(sheet_name) + 4 + len(sst) + 4
    # a SST record must stay under 8224 bytes (else CONTINUE records); the corpus strings are short
    assert len(sst) <= 8224, "too many strings for this minimal writer"
    boundsheet = _rec(0x0085, struct.pack("<IBB", globals_len, 0, 0) + sheet_name)
    workbook = head + boundsheet + _rec(0x00FC, sst) + _rec(0x000A, b"")
    assert len(workbook) == globals_len
    ncols = max((len(r) for r in rows), default=0)
    sheet = (_rec(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0x0DBB, 0x07CC, 0, 0x0206))
             + _rec(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, ncols, 0))
             + b"".join(cells) + _rec(0x000A, b""))
    return cfb({"Workbook": workbook + sheet})


# --- CSV ----------------------------------------------------------------------------------------------

def csv_text(rows: list[list[Any]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(
        [["" if v is None else v for v in row] for row in rows])
    return buf.getvalue()


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters precomposed (â, ơ, đ), tone marks combining."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            d = unicodedata.normalize("NFD", ch)
            tones = "".join(m for m in d if m in "\u0300\u0301\u0303\u0309\u0323")
            base = unicodedata.normalize("NFC", "".join(m for m in d if m not in tones))
            out += base.encode("cp1258", "replace") + tones.encode("cp1258")  # "≥" has no cp1258 byte
    return bytes(out)


# --- the corpus -----------------------------------------------------------------------------------------

def _chart_first(ctx: Context) -> bytes:
    """A workbook whose first sheet is a chart sheet (xlsxwriter writes real chart sheets)."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    chart_sheet = wb.add_chartsheet("Biểu đồ")
    ws = wb.add_worksheet("Báo cáo")
    for r, row in enumerate(grid(ctx)):
        for c, v in enumerate(row):
            if v is not None:
                ws.write(r, c, v)
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "='Báo cáo'!$E$10:$E$14"})
    chart_sheet.set_chart(chart)
    chart_sheet.activate()
    wb.close()
    return buf.getvalue()


def cases(ctx: Context) -> list[Case]:
    """The corpus: at least 40 inputs, each with the status and message fragment a unit must get."""
    g = grid(ctx)
    n01 = cell_of(g, "N01")
    w01 = cell_of(g, "W01")
    too_long = "Tuyên truyền cải cách hành chính. " * 30_840  # about 1 MB
    words = "tuyên truyền cải cách hành chính hội nghị thủ tục một cửa công chức số hóa đơn vị".split()
    rnd = random.Random(3)
    too_long_varied = " ".join(rnd.choice(words) + str(rnd.randrange(1000)) for _ in range(120_000))
    out: list[Case] = []

    def add(name: str, filename: str, data: bytes, status: Status, fragment: str = "",
            **values: Any) -> None:
        out.append(Case(name, filename, data, status, fragment, values))

    def xlsx_with(**changes: Any) -> bytes:
        return xlsx(grid(ctx, **changes))

    # workbooks that must be accepted, odd as they are
    add("template", "VP.xlsx", filled(ctx), "accepted", W01=12)
    add("hand-written xlsx", "VP tay.xlsx", xlsx(g), "accepted", W01=12)
    add("xlsm", "VP.xlsm", filled(ctx), "accepted", W01=12)
    add("nfd text", "VP nfd.xlsx", xlsx_with(N01=unicodedata.normalize("NFD", "Đã tổ chức hội nghị")),
        "accepted", N01="Đã tổ chức hội nghị")
    add("bidi marks", "VP bidi.xlsx", xlsx_with(N01="Đã tổ chức\u202e hội nghị\u200f"), "accepted",
        "đã bỏ 2 loại ký tự ẩn (ký tự điều khiển hoặc ký tự đổi chiều văn bản: U+202E, U+200F)",
        N01="Đã tổ chức hội nghị")
    add("control chars", "VP ctrl.xlsx", xlsx_with(N01="Hội nghị\x07\x1b[31m đỏ"), "accepted",
        "U+0007, U+001B", N01="Hội nghị[31m đỏ")
    add("rich markup", "VP markup.xlsx", xlsx_with(N01="[/x] [bold red]Hội nghị[/]"), "accepted",
        N01="[/x] [bold red]Hội nghị[/]")
    add("html and jinja", "VP html.xlsx", xlsx_with(N01="<script>alert(1)</script>{{ 7*7 }}{% raw %}"), "accepted",
        N01="<script>alert(1)</script>{{ 7*7 }}{% raw %}")
    add("formula text", "VP formula text.xlsx",
        xlsx_with(N01='=HYPERLINK("http://evil.example/x","Bấm vào đây")'), "accepted",
        N01='=HYPERLINK("http://evil.example/x","Bấm vào đây")')
    add("tcvn3 heuristic", "VP tcvn3.xlsx", xlsx_with(N01="Tæ chøc héi nghÞ t¹i huyÖn B¶o Th¾ng"), "accepted",
        "văn bản gõ bằng bảng mã TCVN3 (phông .VnTime)", N01="Tổ chức hội nghị tại huyện Bảo Thắng")
    add("vni heuristic", "VP vni.xlsx", xlsx_with(N01="Toå chöùc hoäi nghò taïi huyeän Baûo Thaéng"), "accepted",
        "văn bản gõ bằng bảng mã VNI (phông VNI-Times)", N01="Tổ chức hội nghị tại huyện Bảo Thắng")
    add("vni font", "VP vni font.xlsx", xlsx(grid(ctx, N01="Thaéng"), styles={n01: 2}), "accepted",
        "bảng mã VNI (phông VNI-Times)", N01="Thắng")
    add("tcvn3 font", "VP vntime.xlsx", xlsx(grid(ctx, N01="Tæ chøc"), styles={n01: 1}), "accepted",
        "bảng mã TCVN3 (phông .VnTime)", N01="Tổ chức")
    add("tcvn3 normal style", "VP vntime normal.xlsx",
        xlsx(grid(ctx, N01="Tæ chøc"), fonts=(".VnTime", "Times New Roman")), "accepted",
        "bảng mã TCVN3 (phông .VnTime)", N01="Tổ chức", W01=12)
    add("unicode in legacy font", "VP unicode vntime.xlsx", xlsx(grid(ctx, N01="Tổ chức"), styles={n01: 1}),
        "accepted", N01="Tổ chức")
    add("thousands grouping", "VP 1000.xlsx", xlsx_with(C01="1.000"), "accepted", C01=1000)
    add("merged cells", "VP merged.xlsx", xlsx(g, merged=("A1:F1", "A2:F2", "C4:D4")), "accepted", W01=12)
    add("hidden rows", "VP hidden.xlsx", xlsx(g, hidden_rows=frozenset({w01[0]})), "accepted", W01=12)
    add("formula with cached value", "VP sum.xlsx", xlsx(grid(ctx, W01=Formula("5+7", 12))), "accepted", W01=12)
    add("huge declared dimension", "VP dim.xlsx", xlsx(g, dimension="A1:XFD1048576"), "accepted", W01=12)
    add("note far right but inside caps", "VP wide ok.xlsx", xlsx(g, extra={"BH3": "ghi chú"}), "accepted", W01=12)
    add("duplicated header row", "VP 2 header.xlsx", xlsx(g[:8] + [g[7]] + g[8:]), "accepted",
        "không có trong biểu mẫu", W01=12)
    add("chart sheet first", "VP chart.xlsx", _chart_first(ctx), "accepted", W01=12)
    add("unit code with bidi mark", "VP rlm.xlsx", xlsx([row if row[0] != "Mã đơn vị" else
                                                        ["Mã đơn vị", "VP\u200f"] + row[2:] for row in g]),
        "accepted", W01=12)
    add("file name with newline and bidi", "VP\n\u202eslx.exe.xlsx", xlsx(g), "accepted", W01=12)
    add("xls", "VP.xls", xls(g), "accepted", W01=12, N01=BASE["VP"]["N01"])
    add("xls vni font", "VP vni.xls", xls(grid(ctx, N01="Thaéng"), styles={n01: 2}), "accepted",
        "bảng mã VNI (phông VNI-Times)", N01="Thắng")
    add("xls tcvn3 font", "VP vntime.xls", xls(grid(ctx, N01="Tæ chøc"), styles={n01: 1}), "accepted",
        "bảng mã TCVN3 (phông .VnTime)", N01="Tổ chức")
    add("ods", "VP.ods", ods(g), "accepted", W01=12)
    add("utf-16 csv with bom", "VP unicode.csv", csv_text(g, "\t").encode("utf-16"), "accepted", W01=12)
    add("utf-16 csv without bom", "VP utf16le.csv", csv_text(g, "\t").encode("utf-16-le"), "accepted", W01=12)
    add("utf-8 bom csv semicolons", "VP;.csv", csv_text(g, ";").encode("utf-8-sig"), "accepted", W01=12)
    add("cp1258 csv", "VP 1258.csv", to_cp1258(csv_text(g)),
        "accepted", W01=12, N01=BASE["VP"]["N01"])

    # ordinary rejections, each with its own Vietnamese message
    add("decimal comma", "VP 3,5.xlsx", xlsx_with(W01="3,5"), "rejected", "giá trị “3,5” không phải là số nguyên")
    add("number with unit", "VP 12 tin.xlsx", xlsx_with(W01="12 tin"), "rejected",
        "giá trị “12 tin” không phải là số nguyên")
    add("negative", "VP -1.xlsx", xlsx_with(H03=-1), "rejected", "giá trị -1 nhỏ hơn mức tối thiểu 0")
    add("1e30", "VP 1e30.xlsx", xlsx_with(W01=1e30), "rejected",
        "(ô E10): giá trị 1e+30 vượt quá giới hạn chung 1.000.000.000.000 của mọi chỉ tiêu số")
    add("2^63", "VP 2^63.xlsx", xlsx_with(W01="9223372036854775808"), "rejected",
        "giá trị 9223372036854775808 vượt quá giới hạn chung 1.000.000.000.000")
    add("just over 10^12", "VP 10^12.xlsx", xlsx_with(H02=10**12 + 1), "rejected",
        "giá trị 1000000000001 vượt quá giới hạn chung")
    add("5000 digits", "VP digits.csv", csv_text(grid(ctx, W01="9" * 5000)).encode(), "rejected",
        "vượt quá giới hạn chung 1.000.000.000.000")
    add("own max", "VP 2500.xlsx", xlsx_with(C01=2500), "rejected", "giá trị 2500 lớn hơn mức tối đa 2000")
    add("1 MB narrative in csv", "VP long.csv", csv_text(grid(ctx, N01=too_long)).encode(), "rejected",
        f"nội dung dài {len(too_long):,} ký tự".replace(",", ".") + ", vượt giới hạn 10.000 ký tự")
    add("1 MB narrative in xlsx", "VP long.xlsx", xlsx_with(N01=too_long_varied), "rejected",
        "vượt giới hạn 10.000 ký tự")
    add("formula without cached value", "VP nocalc.xlsx", xlsx(grid(ctx, W01=Formula("IF(A1<>0,SUM(A1:A3),0)&\"x\""))),
        "rejected", "(ô E10): ô có công thức “=IF(A1<>0,SUM(A1:A3),0)&\"x\"” nhưng tệp không lưu kết quả tính")
    add("formula without cached value in text", "VP nocalc text.xlsx", xlsx(grid(ctx, N01=Formula("B1"))),
        "rejected", "(ô E32): ô có công thức “=B1” nhưng tệp không lưu kết quả tính")
    add("duplicated indicator row", "VP dup.xlsx", xlsx(g + [list(g[w01[0]])]), "rejected", "xuất hiện hai lần")
    add("empty sheet", "VP empty.xlsx", xlsx([]), "rejected", "Không tìm thấy ô 'Mã đơn vị'")
    add("not the template csv", "ghi chu.csv", "Báo cáo;ghi chú\r\n".encode(), "rejected",
        "Không tìm thấy ô 'Mã đơn vị'")

    # files that are not what they claim, or that would hurt the reader
    add("far cell XFD1048576", "VP xfd.xlsx", xlsx(g, extra={"XFD1048576": 1}), "rejected",
        "Tệp quá lớn hoặc bị hỏng: 'VP xfd.xlsx' có dữ liệu tới ô XFD1048576 (1.048.576 dòng, 16.384 cột)")
    add("very wide row", "VP wide.xlsx", xlsx(g, extra={"GR12": "x"}), "rejected",
        "có dữ liệu tới ô GR12 (12 dòng, 200 cột)")
    add("too many rows", "VP rows.xlsx", xlsx(g, extra={"A1001": "cuối"}), "rejected", "1.001 dòng")
    add("zip bomb", "VP bomb.xlsx", xlsx(g, padding=64 << 20), "rejected", "nén bất thường")
    add("too many zip entries", "VP entries.xlsx", xlsx(g, more_entries=1000), "rejected", "thành phần nén")
    add("truncated zip", "VP cut.xlsx", filled(ctx)[:300], "rejected",
        "Không mở được tệp 'VP cut.xlsx': tệp bị hỏng hoặc không đúng định dạng bảng tính")
    add("encrypted workbook", "VP mat khau.xlsx", encrypted_xlsx(), "rejected",
        "Tệp 'VP mat khau.xlsx' đang được đặt mật khẩu nên không đọc được. Hãy bỏ mật khẩu")
    add("ods repeated row to the sheet end", "VP rows.ods", ods(g + [["x"] * 3], repeat_last_row=1_048_000),
        "rejected", "Tệp quá lớn hoặc bị hỏng: 'VP rows.ods' có dữ liệu tới ô A1048041 (1.048.041 dòng")
    add("binary garbage csv", "VP rac.csv", random.Random(7).randbytes(4096), "rejected", "'VP rac.csv'")
    add("NUL in csv", "VP nul.csv", csv_text(grid(ctx, N01="Hội nghị\x00 phần sau")).encode(), "rejected",
        "có ký tự NUL (mã 0) ở dòng")
    add("csv named xlsx", "VP csv.xlsx", csv_text(g).encode(), "rejected", "tệp bị hỏng")
    add("txt file", "ghi chu.txt", "Văn phòng ơi, báo cáo gửi sau nhé.\n".encode(), "rejected",
        "Tệp 'ghi chu.txt' không phải bảng tính")
    add("pdf", "bao cao.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "rejected", "không phải bảng tính")
    add("zero bytes", "VP.xlsx", b"", "rejected", "Tệp 'VP.xlsx' rỗng (0 byte)")
    # its own bytes: a copy of a workbook recorded by an earlier chunk is that document, skipped unread
    add("no extension", "VP", xlsx_with(W01=4321), "rejected", "không phải bảng tính")
    return out


CaseBuilder = Callable[[Context], list[Case]]
