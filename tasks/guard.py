"""Reading untrusted spreadsheet bytes where nothing they contain can reach the collect.

A unit's file is hostile until read: one stray cell at XFD1048576 makes calamine allocate 512 GiB and
Rust aborts the whole process; a zip bomb takes a minute and gigabytes. So every file is first checked
cheaply (size, zip entries and ratios, the used range of the first sheet, password protection), then parsed
in a long-lived worker process under memory, CPU and time limits. A worker that dies or hangs costs only
the file it was reading: that file gets the unit's Vietnamese rejection, the others are read as usual.

The worker imports only the standard library, python-calamine, tasks.text and tasks.zipdir, so it starts
fast and its memory limit is spent on the file, not on the application.
"""

from __future__ import annotations

import atexit
import csv
import functools
import html
import importlib.util
import io
import os
import pickle
import posixpath
import re
import resource
import select
import struct
import subprocess
import sys
import threading
import time
import unicodedata
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePath
from typing import Any

from tasks.text import Legacy, LegacyText, a1, font_encoding
from tasks.zipdir import Directory, Entry, directory, stored_part

Grid = list[list[Any]]
MiB = 1 << 20
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")
_ZIP_SUFFIXES = (".xlsx", ".xlsm", ".ods")
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAMS = frozenset({"EncryptionInfo", "EncryptedPackage"})


class UnreadableFile(Exception):
    """The file is not a spreadsheet we can open; the message is Vietnamese, for the unit."""


@dataclass(frozen=True)
class Limits:
    """Caps for one file. The template is about 40 rows by 6 columns; a unit may add notes, rows above and
    a few columns, so 1,000 rows and 60 columns of content leave wide margins while keeping a dense read
    (rows x columns cells) small. The memory limit is the worker's whole address space."""

    max_file_bytes: int = 20 * MiB
    max_zip_entries: int = 1_000
    max_unzipped_bytes: int = 200 * MiB  # sum of declared sizes
    max_ratio: int = 100  # declared size / compressed size, for entries over ratio_floor
    ratio_floor: int = 1 * MiB
    max_part_bytes: int = 32 * MiB  # inflated bytes of a part read by the pre-check (sheet, styles)
    max_rows: int = 1_000
    max_cols: int = 60
    memory_bytes: int = 1024 * MiB
    cpu_seconds: int = 20  # per file, enforced in the worker (RLIMIT_CPU)
    wall_seconds: float = 30.0  # per file, enforced by the parent
    workers: int = 2
    chunk_files: int = 64  # files sent to a worker per round trip
    chunk_bytes: int = 32 * MiB  # and their bytes: a chunk must fit the worker's memory with room to parse
    retries: int = 1  # a file whose worker died is tried again alone this many times


DEFAULT_LIMITS = Limits()


# --- messages (Vietnamese, for the unit) -------------------------------------------------------------

def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _mb(size: int) -> str:
    return f"{size / MiB:.1f}".replace(".", ",") + " MB"


_RESEND = "Hãy chép bảng số liệu sang biểu mẫu mới (tệp .xlsx được gửi kèm đề nghị báo cáo) rồi gửi lại."


def too_big(filename: str, why: str, advice: str = _RESEND) -> UnreadableFile:
    return UnreadableFile(f"Tệp quá lớn hoặc bị hỏng: {filename!r} {why}. {advice}")


def broken(filename: str) -> UnreadableFile:
    return UnreadableFile(
        f"Không mở được tệp {filename!r}: tệp bị hỏng hoặc không đúng định dạng bảng tính. "
        "Hãy lưu lại tệp bằng Excel dưới dạng .xlsx rồi gửi lại."
    )


def encrypted(filename: str) -> UnreadableFile:
    return UnreadableFile(
        f"Tệp {filename!r} đang được đặt mật khẩu nên không đọc được. Hãy bỏ mật khẩu (Excel: Tệp → Thông tin → "
        "Bảo vệ sổ làm việc → Mã hóa bằng mật khẩu, xóa mật khẩu rồi lưu) rồi gửi lại."
    )


def not_a_spreadsheet(filename: str) -> UnreadableFile:
    return UnreadableFile(
        f"Tệp {filename!r} không phải bảng tính. Hãy gửi tệp .xlsx (hoặc .xls, .ods, .csv) theo biểu mẫu."
    )


def _out_of_range(filename: str, row: int, col: int, limits: Limits) -> UnreadableFile:
    return too_big(filename, (
        f"có dữ liệu tới ô {a1(row - 1, col - 1)} ({_n(row)} dòng, {_n(col)} cột), trong khi biểu mẫu chỉ có "
        f"khoảng 40 dòng và 6 cột (giới hạn {_n(limits.max_rows)} dòng, {_n(limits.max_cols)} cột)"),
        "Hãy xóa các ô có dữ liệu nằm ngoài bảng (hoặc chép bảng sang biểu mẫu mới) rồi gửi lại.")


# --- pre-checks: cheap, on the bytes, before any parser -------------------------------------------------

@dataclass
class Facts:
    """What the pre-check learnt that the parser does not tell, by (0-based row, col): legacy fonts, and
    formulas saved without their computed value (the parser reads those as empty cells)."""

    legacy_cells: dict[tuple[int, int], Legacy] = field(default_factory=dict)
    uncalculated: dict[tuple[int, int], str] = field(default_factory=dict)


class Uncalculated(str):
    """A cell holding a formula whose result the file does not carry (saved by a tool that never computed
    it): the formula text, so validation can say so instead of 'no value'."""

    def __reduce__(self) -> tuple[type[Uncalculated], tuple[str]]:
        return Uncalculated, (str(self),)


_NO_VALUE_FORMULA = re.compile(
    rb'<c r="([A-Z]{1,3})(\d{1,7})"[^>]*>\s*<f\b[^>]*?(?:/>|>([^<]*)</f>)\s*</c>')


# A formula element straight before the end of its cell: no <v> (value) follows it. Literal-led searches, fast;
# the full pattern runs only on sheets where one matches.
_FORMULA_ENDS_CELL = (re.compile(rb"</f>\s*</c>"), re.compile(rb"<f\b[^>]*/>\s*</c>"))


_FORMULA_TAG = re.compile(rb"<f\b")  # not <formula1> (data validation), which every template has


def _uncalculated(xml: bytes) -> dict[tuple[int, int], str]:
    if not _FORMULA_TAG.search(xml) or not any(p.search(xml) for p in _FORMULA_ENDS_CELL):
        return {}
    return {(int(row) - 1, _col_number(col) - 1): "=" + html.unescape(formula.decode("utf-8", "replace"))
            for col, row, formula in _NO_VALUE_FORMULA.findall(xml)}


def precheck(data: bytes, filename: str, limits: Limits = DEFAULT_LIMITS) -> Facts:
    """Refuse what no template could be, before a parser sees it; raises UnreadableFile."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in SPREADSHEET_SUFFIXES:
        raise not_a_spreadsheet(filename)
    if not data:
        raise UnreadableFile(f"Tệp {filename!r} rỗng (0 byte). Hãy gửi lại tệp báo cáo.")
    if len(data) > limits.max_file_bytes:
        raise too_big(filename, f"có dung lượng {_mb(len(data))}, vượt giới hạn {_mb(limits.max_file_bytes)}")
    if data.startswith(_CFB_MAGIC):
        if _ENCRYPTED_STREAMS & cfb_stream_names(data):
            raise encrypted(filename)
        return Facts(legacy_cells=_xls_legacy_cells(data, limits))
    if suffix == ".csv" or not data.startswith(b"PK"):
        return Facts()
    try:  # the plain layout every office suite writes by struct; anything else by zipfile
        zf: _Archive = (suffix != ".ods" and directory(data)) or zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception:  # zipfile raises several types for a truncated or forged archive
        raise broken(filename) from None
    _check_zip(infos, filename, limits)
    try:
        if suffix == ".ods":
            _check_ods(zf, filename, limits)
            return Facts()
        return _check_xlsx(zf, data, filename, limits)
    except UnreadableFile:
        raise
    except Exception:
        raise broken(filename) from None


_Archive = zipfile.ZipFile | Directory


def _check_zip(infos: list[zipfile.ZipInfo] | list[Entry], filename: str, limits: Limits) -> None:
    if len(infos) > limits.max_zip_entries:
        raise too_big(filename, f"chứa {_n(len(infos))} thành phần nén (giới hạn {_n(limits.max_zip_entries)})")
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise too_big(filename, f"khi giải nén lên tới {_mb(total)} (giới hạn {_mb(limits.max_unzipped_bytes)})")
    for i in infos:
        if i.file_size > limits.ratio_floor and i.file_size > limits.max_ratio * max(i.compress_size, 1):
            raise too_big(filename, f"có thành phần {i.filename!r} nén bất thường ({_mb(i.compress_size)} giải nén "
                                    f"thành {_mb(i.file_size)})")


def _part(zf: _Archive, name: str, filename: str, limits: Limits) -> bytes | None:
    """One part inflated, never more than max_part_bytes (whatever its header declares)."""
    if isinstance(zf, Directory):
        entry = zf.NameToInfo.get(name)
        if entry is None:
            return None
        out = zf.read(entry, limits.max_part_bytes)
        if out is not None:
            return out
        zf = zf.zipfile()  # not as declared, or too big: zipfile says what is wrong
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    with zf.open(info) as f:
        out = f.read(limits.max_part_bytes + 1)
    if len(out) > limits.max_part_bytes:
        raise too_big(filename, f"có phần {name!r} giải nén vượt {_mb(limits.max_part_bytes)}")
    return out


_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _attrs(raw: bytes) -> dict[bytes, bytes]:
    """Attributes of one tag, namespace prefixes dropped ('r:id' → 'id')."""
    return {k.split(b":")[-1]: (a if a is not None else b) for k, a, b in _ATTR.findall(raw)}


def _rels_part(part: str) -> str:
    base, name = posixpath.split(part)
    return posixpath.join(base, "_rels", name + ".rels")


def _relationships(xml: bytes) -> list[dict[bytes, bytes]]:
    return [_attrs(m) for m in re.findall(rb"<(?:\w+:)?Relationship\b([^>]*)>", xml)]


def _target(part: str, target: bytes) -> str:
    t = target.decode("utf-8", "replace")
    return t.lstrip("/") if t.startswith("/") else posixpath.normpath(posixpath.join(posixpath.dirname(part), t))


def _first_worksheet(zf: _Archive, data: bytes, filename: str, limits: Limits) -> str | None:
    """The part of the first worksheet in workbook order (chart sheets skipped, as the parser does)."""
    workbook = "xl/workbook.xml"
    if workbook not in zf.NameToInfo:  # only odd writers put it elsewhere; the package rels say where
        package = _relationships(_part(zf, _rels_part(""), filename, limits) or b"")
        workbook = next((_target("", r[b"Target"]) for r in package
                         if r.get(b"Type", b"").endswith(b"/officeDocument") and b"Target" in r), workbook)
    rels_name = _rels_part(workbook)
    key = (workbook, _stored(zf, data, rels_name), _stored(zf, data, workbook))
    if key in _FIRST_WORKSHEET:
        return _FIRST_WORKSHEET[key]
    rels = _part(zf, rels_name, filename, limits) or b""
    xml = _part(zf, workbook, filename, limits) or b""
    found = _worksheet_in(workbook, rels, xml)
    if None not in key and len(rels) + len(xml) <= _REMEMBERED_BYTES:  # a big part's answer is not kept
        _remember(_FIRST_WORKSHEET, key, found)
    return found


def _worksheet_in(workbook: str, rels_xml: bytes, workbook_xml: bytes) -> str | None:
    """The first worksheet named by these workbook and relationship parts."""
    rels = {r.get(b"Id"): r for r in _relationships(rels_xml)}
    for raw in re.findall(rb"<(?:\w+:)?sheet\b([^>]*)>", workbook_xml):
        rel = rels.get(_attrs(raw).get(b"id"))
        if rel and rel.get(b"Type", b"").endswith(b"/worksheet") and b"Target" in rel:
            return _target(workbook, rel[b"Target"])
    return None


# Every unit sends back the template's own workbook, relationship and style parts, byte for byte, whatever it
# typed into the sheet: what the pre-check learns from small ones is remembered, by their stored (compressed)
# bytes, which inflate to the same content every time, so they are not even inflated again.
_REMEMBERED_BYTES = 64 * 1024
_REMEMBERED_ANSWERS = 64
_Stored = tuple[int, int, int, bytes]
_FIRST_WORKSHEET: dict[tuple[str, _Stored | None, _Stored | None], str | None] = {}
_LEGACY_XF: dict[_Stored, dict[int, Legacy]] = {}


def _stored(zf: _Archive, data: bytes, name: str) -> _Stored | None:
    """A part as stored: what the archive declares of it (method, size, checksum) and its compressed bytes,
    read from its local header (no inflating): the same key always reads to the same content. None when
    absent, encrypted, big, or not laid out as its header says (then it is only inflated)."""
    info = zf.NameToInfo.get(name)
    if info is None or info.flag_bits & 0x1 or info.compress_size > _REMEMBERED_BYTES:
        return None
    local = stored_part(data, info.header_offset, info.compress_size)
    return None if local is None else (info.compress_type, info.file_size, info.CRC, local[2])


def _remember(answers: dict[Any, Any], key: Any, answer: Any) -> None:
    for oldest in list(answers)[:len(answers) + 1 - _REMEMBERED_ANSWERS]:
        answers.pop(oldest, None)
    answers[key] = answer


_TAG = re.compile(rb"<(?:\w+:)?(row|c)(?=[\s/>])([^>]*?)(/?)>")
_REF = re.compile(rb"([A-Z]{1,3})(\d{1,7})$")


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})(\d{1,7})"')
_PAST_Z_OR_999 = re.compile(rb'<c r="(?:[A-Z]{2}|[A-Z]\d{4})')  # a column past Z or a row past 999
_FILLED_CELL = re.compile(rb'<c r="([A-Z]{1,3})(\d{1,7})"[^>]*(?<!/)>')
_CELL_WITHOUT_R = re.compile(rb'<c(?=[\s/>])(?! r=")')
_PREFIXED_CELL = re.compile(rb"<\w+:c[\s/>]")


def _filled_cells(xml: bytes, limits: Limits) -> list[tuple[bytes, bytes]] | None:
    """(column letters, row digits) of the cells holding something that may lie outside the limits, when
    every cell is written `<c r="..."` (Excel, LibreOffice, xlsxwriter, openpyxl do); None sends odd sheets
    (prefixed tags, cells without `r`) to the tag-by-tag walk. Literal-led patterns and a substring test
    first: this runs for every file a collect reads. Every cell's reference is looked at first (empty
    styled cells too, a shorter pattern): when even those all lie inside the limits, no filled cell can
    lie outside them, and the longer pattern that tells filled cells from empty ones is not run. A
    template's sheet (A1:F41) is settled by one search that finds no reference past column Z or row 999."""
    if _CELL_WITHOUT_R.search(xml) or (b":c" in xml and _PREFIXED_CELL.search(xml)):
        return None
    if limits.max_rows >= 999 and limits.max_cols >= 26 and not _PAST_Z_OR_999.search(xml):
        return []
    refs = _CELL_REF.findall(xml)
    if refs and _beyond(refs, limits):
        return _FILLED_CELL.findall(xml)
    return []


def _beyond(refs: list[tuple[bytes, bytes]], limits: Limits) -> bool:
    """Whether any of these (column letters, row digits) lies outside the limits (in C but for the few
    distinct rows and columns)."""
    letters, rows = zip(*refs, strict=True)
    return (max(map(int, set(rows))) > limits.max_rows
            or max(map(_col_number, set(letters))) > limits.max_cols)


_LEGACY_FONT = re.compile(rb"""val=["'](?:\.vn|vni)""")  # a TCVN3/VNI font name, in lower-cased styles (re.I is slow)


def _check_xlsx(zf: _Archive, data: bytes, filename: str, limits: Limits) -> Facts:
    """The first worksheet's used range by cells that hold something (what the parser allocates for; its
    declared <dimension> neither bounds that nor drives it), and which cells use a legacy font."""
    sheet = _first_worksheet(zf, data, filename, limits)
    xml = _part(zf, sheet, filename, limits) if sheet else None
    if xml is None:
        return Facts()
    legacy_xf = _legacy_formats(zf, data, filename, limits)
    filled = None if legacy_xf else _filled_cells(xml, limits)
    if filled is None:
        facts = _scan_cells(xml, legacy_xf, filename, limits)
    else:
        facts = Facts()
        if filled and _beyond(filled, limits):
            row, col = next((int(r), _col_number(c)) for c, r in filled
                            if int(r) > limits.max_rows or _col_number(c) > limits.max_cols)
            raise _out_of_range(filename, row, col, limits)
    facts.uncalculated = _uncalculated(xml)
    return facts


def _scan_cells(xml: bytes, legacy_xf: dict[int, Legacy], filename: str, limits: Limits) -> Facts:
    """The tag-by-tag walk: cells without an `r` (positions implied) and cell fonts."""
    facts = Facts()
    row = col = 0
    for tag, raw, closed in _TAG.findall(xml):
        attrs = _attrs(raw)
        if tag == b"row":
            row = int(attrs.get(b"r", row + 1))
            col = 0
            continue
        ref = _REF.match(attrs.get(b"r", b""))
        if ref:
            col, row = _col_number(ref[1]), int(ref[2])
        else:
            col += 1
        if closed:  # <c r="Z900" s="3"/>: formatting only, no value
            continue
        if row > limits.max_rows or col > limits.max_cols:
            raise _out_of_range(filename, row, col, limits)
        style = attrs.get(b"s", b"0")  # no `s`: the Normal style, whose font old workbooks set to .VnTime
        if legacy_xf and style.isdigit() and int(style) in legacy_xf:
            facts.legacy_cells[(row - 1, col - 1)] = legacy_xf[int(style)]
    return facts


def _legacy_formats(zf: _Archive, data: bytes, filename: str, limits: Limits) -> dict[int, Legacy]:
    """The cell formats of this workbook whose font is a legacy one (remembered for small style parts)."""
    key = _stored(zf, data, "xl/styles.xml")
    if key is not None and key in _LEGACY_XF:
        return _LEGACY_XF[key]
    styles = _part(zf, "xl/styles.xml", filename, limits) or b""
    found = _legacy_styles(styles) if _LEGACY_FONT.search(styles.lower()) else {}
    if key is not None and len(styles) <= _REMEMBERED_BYTES:
        _remember(_LEGACY_XF, key, found)
    return found


def _legacy_styles(styles: bytes) -> dict[int, Legacy]:
    """Cell formats (the `s` of a cell) whose font is a TCVN3 (.VnTime…) or VNI (VNI-Times…) font."""
    fonts_xml = re.search(rb"<(?:\w+:)?fonts\b[^>]*>(.*?)</(?:\w+:)?fonts>", styles, re.S)
    xfs_xml = re.search(rb"<(?:\w+:)?cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", styles, re.S)
    if not fonts_xml or not xfs_xml:
        return {}
    encodings: list[Legacy | None] = []
    for font in re.findall(rb"<(?:\w+:)?font\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?font>)", fonts_xml[1], re.S):
        name = re.search(rb"<(?:\w+:)?name\b([^>]*)>", font)
        encodings.append(font_encoding(_attrs(name[1]).get(b"val", b"").decode("utf-8", "replace")) if name else None)
    out: dict[int, Legacy] = {}
    for i, raw in enumerate(re.findall(rb"<(?:\w+:)?xf\b([^>]*)>", xfs_xml[1])):
        font_id = _attrs(raw).get(b"fontId", b"0")
        enc = encodings[int(font_id)] if font_id.isdigit() and int(font_id) < len(encodings) else None
        if enc:
            out[i] = enc
    return out


_ODS_TAG = re.compile(rb"<(/?)table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^>]*?)(/?)>")


def _check_ods(zf: _Archive, filename: str, limits: Limits) -> None:
    """The first table's used range, repeated rows and columns counted as the parser expands them."""
    xml = _part(zf, "content.xml", filename, limits) or b""
    row = col = 0  # rows before the current one; columns before the current cell
    row_repeat = 1
    tables = 0
    for end, tag, raw, closed in _ODS_TAG.findall(xml):
        if tag == b"table":
            tables += 0 if end else 1
            if end or tables > 1:
                return
            continue
        if end:
            if tag == b"table-row":
                row += row_repeat
                row_repeat, col = 1, 0
            continue
        attrs = _attrs(raw)
        if tag == b"table-row":
            row_repeat = int(attrs.get(b"number-rows-repeated", b"1") or 1)
            col = 0
            if closed:
                row += row_repeat
                row_repeat = 1
            continue
        repeat = int(attrs.get(b"number-columns-repeated", b"1") or 1)
        if b"value-type" in attrs or not closed:  # a value, or children (text, annotations)
            last_row, last_col = row + row_repeat, col + repeat
            if last_row > limits.max_rows or last_col > limits.max_cols:
                raise _out_of_range(filename, last_row, last_col, limits)
        col += repeat


@dataclass(frozen=True)
class _Cfb:
    sector: int
    fat: list[int]
    streams: dict[str, tuple[int, int]]  # name → (first sector, size)


def _cfb(data: bytes) -> _Cfb | None:
    """The directory of an OLE2/CFB container (FAT from the header's DIFAT only: files up to ~7 MB of
    512-byte sectors, which covers every template); None when it cannot be walked."""
    try:
        sector = 1 << struct.unpack_from("<H", data, 30)[0]
        if sector not in (512, 4096):
            return None
        first_dir = struct.unpack_from("<I", data, 48)[0]
        fat: list[int] = []
        for sid in struct.unpack_from("<109I", data, 76):
            if sid >= 0xFFFFFFFA:
                break
            fat.extend(struct.unpack_from(f"<{sector // 4}I", data, (sid + 1) * sector))
        streams: dict[str, tuple[int, int]] = {}
        sid, seen = first_dir, 0
        while sid < 0xFFFFFFFA and seen < 4096:
            start = (sid + 1) * sector
            for off in range(start, start + sector, 128):
                length = struct.unpack_from("<H", data, off + 64)[0]
                if 2 <= length <= 64:
                    name = data[off:off + length - 2].decode("utf-16-le", "replace")
                    first, size = struct.unpack_from("<IQ", data, off + 116)
                    streams[name] = (first, size)
            sid = fat[sid] if sid < len(fat) else 0xFFFFFFFE
            seen += 1
        return _Cfb(sector, fat, streams)
    except (struct.error, IndexError):
        return None


def cfb_stream_names(data: bytes) -> set[str]:
    """Names in an OLE2/CFB container's directory (Excel saves a password-protected .xlsx as one, with
    EncryptionInfo and EncryptedPackage streams); empty when the directory cannot be walked."""
    cfb = _cfb(data)
    return set(cfb.streams) if cfb else set()


def _cfb_stream(data: bytes, cfb: _Cfb, name: str, cap: int) -> bytes | None:
    """A stream stored in regular sectors (4096 bytes or more), at most cap bytes; None otherwise."""
    first, size = cfb.streams.get(name, (0, 0))
    if size < 4096 or size > cap:
        return None  # small streams live in the mini stream: not worth reading for fonts
    chunks, sid, seen = [], first, 0
    while sid < 0xFFFFFFFA and seen * cfb.sector < size:
        chunks.append(data[(sid + 1) * cfb.sector:(sid + 2) * cfb.sector])
        sid = cfb.fat[sid] if sid < len(cfb.fat) else 0xFFFFFFFE
        seen += 1
    return b"".join(chunks)[:size]


def _xls_legacy_cells(data: bytes, limits: Limits) -> dict[tuple[int, int], Legacy]:
    """Text cells of the first worksheet of a BIFF8 .xls whose font is a TCVN3 or VNI font (FONT, XF and
    BOUNDSHEET records of the globals, then the sheet's LABELSST/LABEL/RSTRING records)."""
    cfb = _cfb(data)
    if cfb is None:
        return {}
    stream = _cfb_stream(data, cfb, "Workbook", limits.max_file_bytes)
    if stream is None:
        return {}
    fonts: list[Legacy | None] = []
    xfs: list[int] = []
    sheet_at = None
    pos = 0
    while pos + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4:pos + 4 + length]
        pos += 4 + length
        if kind == 0x0031 and len(body) >= 16:  # FONT: name is a ShortXLUnicodeString at 14
            n, high = body[14], body[15] & 1
            raw = body[16:16 + n * (2 if high else 1)]
            fonts.append(font_encoding(raw.decode("utf-16-le" if high else "latin-1", "replace")))
            if len(fonts) == 4:
                fonts.append(None)  # BIFF never uses font index 4
        elif kind == 0x00E0 and len(body) >= 2:  # XF: font index first
            xfs.append(struct.unpack_from("<H", body)[0])
        elif kind == 0x0085 and len(body) >= 6 and sheet_at is None and body[5] == 0:  # first worksheet
            sheet_at = struct.unpack_from("<I", body)[0]
        elif kind == 0x000A:  # EOF of the globals
            break
    legacy_xf: dict[int, Legacy] = {}
    for i, f in enumerate(xfs):
        enc = fonts[f] if f < len(fonts) else None
        if enc:
            legacy_xf[i] = enc
    if not legacy_xf or sheet_at is None:
        return {}
    out: dict[tuple[int, int], Legacy] = {}
    pos = sheet_at
    while pos + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, pos)
        if kind in (0x00FD, 0x0204, 0x00D6) and length >= 6:  # LABELSST, LABEL, RSTRING
            row, col, xf = struct.unpack_from("<HHH", stream, pos + 4)
            if xf in legacy_xf and row < limits.max_rows and col < limits.max_cols:
                out[(row, col)] = legacy_xf[xf]
        elif kind == 0x000A:
            break
        pos += 4 + length
    return out


# --- parsing (what the worker runs) -------------------------------------------------------------------

def read_unguarded(data: bytes, filename: str, limits: Limits = DEFAULT_LIMITS) -> Grid:
    """Pre-check and parse in this process. Only the worker calls this: a native abort here is fatal."""
    return parse_checked(data, filename, precheck(data, filename, limits), limits)


def parse_checked(data: bytes, filename: str, facts: Facts, limits: Limits = DEFAULT_LIMITS) -> Grid:
    """Parse a file its pre-check let through, with what the pre-check learnt about it."""
    if PurePath(filename).suffix.lower() == ".csv":
        return read_csv(data, filename, limits)
    from python_calamine import CalamineWorkbook, PasswordError, SheetTypeEnum

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not wb.sheet_names:
            raise UnreadableFile(f"Tệp {filename!r} không có trang tính nào.")
        sheets = [i for i, m in enumerate(wb.sheets_metadata) if m.typ == SheetTypeEnum.WorkSheet]
        if not sheets:
            raise UnreadableFile(f"Tệp {filename!r} không có trang tính dữ liệu nào (chỉ có biểu đồ). "
                                 "Hãy dùng đúng biểu mẫu được gửi kèm.")
        grid: Grid = wb.get_sheet_by_index(sheets[0]).to_python(skip_empty_area=False)
    except UnreadableFile:
        raise
    except PasswordError:
        raise encrypted(filename) from None
    except Exception:  # calamine raises several error types for broken files
        raise broken(filename) from None
    _check_grid(grid, filename, limits)
    for (r, c), enc in facts.legacy_cells.items():
        if r < len(grid) and c < len(grid[r]) and isinstance(grid[r][c], str) and not grid[r][c].isascii():
            grid[r][c] = LegacyText(grid[r][c], enc)  # read as the font says where it is stored
    for (r, c), formula in facts.uncalculated.items():  # within the caps: the pre-check counted these cells
        while len(grid) <= r:
            grid.append([])
        grid[r].extend([None] * (c + 1 - len(grid[r])))
        if grid[r][c] in (None, ""):
            grid[r][c] = Uncalculated(formula)
    return grid


def _check_grid(grid: Grid, filename: str, limits: Limits) -> None:
    """The same caps for formats the pre-check cannot measure cheaply (.xls)."""
    for r in range(len(grid) - 1, -1, -1):
        row = grid[r]
        used = [c for c, v in enumerate(row) if v not in (None, "")]
        if used:
            if r + 1 > limits.max_rows or used[-1] + 1 > limits.max_cols:
                raise _out_of_range(filename, r + 1, used[-1] + 1, limits)
            break
    for r, row in enumerate(grid[:limits.max_rows]):
        if len(row) > limits.max_cols and any(v not in (None, "") for v in row[limits.max_cols:]):
            c = max(i for i, v in enumerate(row) if v not in (None, ""))
            raise _out_of_range(filename, r + 1, c + 1, limits)


def _decode_csv(data: bytes, filename: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM or without (Excel's 'Unicode Text'), else cp1258."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        half = max(len(data[:4096]) // 2, 1)
        odd_nuls = data[1:4096:2].count(0) / half
        even_nuls = data[0:4096:2].count(0) / half
        if odd_nuls > 0.3 and even_nuls < 0.05:
            candidates = ("utf-16-le",)
        elif even_nuls > 0.3 and odd_nuls < 0.05:
            candidates = ("utf-16-be",)
        else:
            candidates = ("utf-8-sig", "cp1258")
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(f"Tệp {filename!r} không đọc được bảng mã. Hãy lưu lại dạng CSV UTF-8 "
                         "(Excel: Lưu thành → CSV UTF-8) rồi gửi lại.")


def read_csv(data: bytes, filename: str, limits: Limits = DEFAULT_LIMITS) -> Grid:
    """A CSV as a grid; a NUL or an unparsable file is a rejection, never an exception or lost text."""
    text = _decode_csv(data, filename)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UnreadableFile(
            f"Tệp {filename!r} có ký tự NUL (mã 0) ở dòng {line}; phần chữ sau ký tự đó có thể bị mất nên tệp không "
            "được nhận. Hãy mở tệp bằng Excel, lưu lại dạng CSV UTF-8 rồi gửi lại.")
    controls = sum(1 for ch in text[:65536] if ch not in "\t\r\n" and unicodedata.category(ch) == "Cc")
    if controls > max(len(text[:65536]) // 100, 8):
        raise UnreadableFile(f"Tệp {filename!r} không phải tệp CSV dạng văn bản (có nhiều ký tự điều khiển). "
                             "Hãy gửi tệp .xlsx theo biểu mẫu.")
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        pass
    csv.field_size_limit(max(limits.max_file_bytes, 131072))
    grid: Grid = []
    pending = 0  # empty rows not yet kept: trailing ones never are
    try:
        for r, row in enumerate(csv.reader(io.StringIO(text, newline=""), dialect)):
            while row and row[-1] == "":
                row.pop()
            if not row:
                pending += 1
                continue
            if r + 1 > limits.max_rows or len(row) > limits.max_cols:
                raise _out_of_range(filename, r + 1, len(row), limits)
            grid.extend([] for _ in range(pending))
            pending = 0
            grid.append(row)
    except csv.Error as exc:
        raise UnreadableFile(f"Tệp {filename!r} không đúng định dạng CSV ({exc}). Hãy mở tệp bằng Excel, lưu lại "
                             "dạng CSV UTF-8 (hoặc .xlsx) rồi gửi lại.") from None
    return grid


# --- the worker process -------------------------------------------------------------------------------

_HEADER = struct.Struct(">Q")


def _write_frame(fd: int, obj: object) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes | None:
    """Exactly size bytes, or None at end of file; TimeoutError past the deadline."""
    chunks = []
    while size:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class _SafeUnpickler(pickle.Unpickler):
    """Results hold cell values only: refuse any other class, even from our own worker."""

    _ALLOWED = {("datetime", n) for n in ("datetime", "date", "time", "timedelta", "timezone")} | {
        ("tasks.text", "LegacyText"), ("tasks.guard", "Limits"), ("tasks.guard", "Uncalculated")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name}")
        return super().find_class(module, name)


def _read_frame(fd: int, deadline: float | None) -> Any:
    header = _read_exact(fd, _HEADER.size, deadline)
    if header is None:
        return None
    payload = _read_exact(fd, _HEADER.unpack(header)[0], deadline)
    if payload is None:
        return None
    return _SafeUnpickler(io.BytesIO(payload)).load()


def _worker_main() -> None:  # pragma: no cover - runs in the child process (covered through the pool)
    """Read chunks of (index, bytes, filename), answer one frame per file, under the limits."""
    inp, out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a library printing must not corrupt the protocol
    limits: Limits = _read_frame(inp, None)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    import python_calamine  # noqa: F401 - loaded before the first file, not during its CPU budget

    from tasks.intake import parse_grid

    _write_frame(out, "ready")

    while (frame := _read_frame(inp, None)) is not None:
        sheets, careful, chunk = frame
        for group in [[item] for item in chunk] if careful else _precheck_groups(chunk):
            # Two passes over a few small files: their pre-checks, then their parses. Each pass keeps its own
            # code and data in the CPU's caches (interleaved, a file cost a fifth more). A death or hang in
            # either pass leaves the group unanswered; the pool then reads the rest of the chunk `careful`ly
            # (GuardedReader._drain_chunks): each file pre-checked, parsed and answered on its own, so the
            # file that caused it is the first one not answered. Groups are small enough that their
            # pre-checks together stay far inside the parent's wall-clock limit for one file.
            checked = [_guarded(partial(precheck, data, filename, limits), filename, limits)
                       for _, data, filename in group]
            answers = _Answers(out, careful)
            for (index, data, filename), (ok, facts) in zip(group, checked, strict=True):
                ok, payload = _guarded(partial(parse_checked, data, filename, facts, limits), filename,
                                       limits) if ok else (ok, facts)
                if ok and sheets:
                    payload = _sheet_or_grid(parse_grid, payload)
                answers.add((index, ok, payload))
            answers.flush()


_KEEP_SECONDS = 1.0  # answers kept back at most this long: the parent's wall-clock limit runs from the last frame


class _Answers:  # pragma: no cover - in the worker
    """A group's answers, sent as one frame (a frame per file cost a file 0.03 ms of the two processes'
    CPU in pipe calls and wake-ups); a frame per file when `careful`, as after a worker died, when the pool
    must know which file killed it."""

    def __init__(self, fd: int, careful: bool) -> None:
        self.fd, self.careful = fd, careful
        self.kept: list[tuple[int, bool, Any]] = []
        self.since = time.monotonic()

    def add(self, answer: tuple[int, bool, Any]) -> None:
        self.kept.append(answer)
        if self.careful or time.monotonic() - self.since > _KEEP_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.kept:
            try:
                _write_frame(self.fd, self.kept)
            except MemoryError:  # the first file kept is blamed; the pool reads the rest again, carefully
                _write_frame(self.fd, [(self.kept[0][0], False, None)])
        self.kept, self.since = [], time.monotonic()


_GROUP_FILES = 16
_GROUP_FILE_BYTES = 64 * 1024  # a template is about 10 KB; a bigger file is pre-checked just before its parse


def _precheck_groups(chunk: list[tuple[int, bytes, str]]) -> list[list[tuple[int, bytes, str]]]:
    """Consecutive small files in groups of at most _GROUP_FILES; every bigger file a group of its own."""
    groups: list[list[tuple[int, bytes, str]]] = []
    for item in chunk:
        small = len(item[1]) <= _GROUP_FILE_BYTES
        if small and groups and len(groups[-1]) < _GROUP_FILES and len(groups[-1][-1][1]) <= _GROUP_FILE_BYTES:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _sheet_or_grid(parse_grid: Callable[[Grid], Any], grid: Grid) -> Any:  # pragma: no cover - in the worker
    """The labelled cells found here, sent back in plain values: a few hundred bytes for the parent to
    unpickle instead of every cell. Should baocao's own parser fail, the grid goes back instead, and the
    parent's parse says what broke (a bug of ours is never the unit's rejection)."""
    try:
        return parse_grid(grid).to_wire()
    except Exception:
        return grid


def _guarded(step: Callable[[], Any], filename: str, limits: Limits) -> tuple[bool, Any]:  # pragma: no cover
    """One step on one file (in the worker), within a CPU budget of its own: (True, its result), or (False,
    the file's rejection), (False, None) when it ran out of memory."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(usage.ru_utime + usage.ru_stime) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (spent + limits.cpu_seconds, resource.RLIM_INFINITY))
    try:
        return True, step()
    except UnreadableFile as exc:
        return False, str(exc)
    except MemoryError:
        return False, None
    except Exception:  # a bug must not look like a verdict on the file: report it as unreadable
        return False, str(broken(filename))


_ROOT = str(Path(__file__).resolve().parents[1])


@functools.cache
def _worker_cmd() -> list[str]:
    """The worker's command line: isolated (-I), and without `site` (-S) when python-calamine's directory is
    known, which is then the only one added: a worker starts in half the time (two start per collect)."""
    spec = importlib.util.find_spec("python_calamine")
    origin = spec.origin if spec is not None else None
    if origin is None:
        paths, flags = [_ROOT], ["-I"]
    else:  # a package's __init__ lies one level deeper than a lone module
        package = spec is not None and spec.submodule_search_locations is not None
        paths, flags = [_ROOT, str(Path(origin).parents[1 if package else 0])], ["-I", "-S"]
    # appended, after the standard library: a stale backport in site-packages (pathlib, enum34) must not shadow it
    return [sys.executable, *flags, "-c",
            f"import sys; sys.path += {paths!r}; from tasks.guard import _worker_main; _worker_main()"]


class GuardUnavailable(RuntimeError):
    """The worker process cannot start (broken environment): an operator problem, never a unit's file."""


_START_SECONDS = 60.0


class _Worker:
    """One child process and its pipes."""

    def __init__(self, limits: Limits) -> None:
        self.proc = subprocess.Popen(_worker_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.inp = self.proc.stdin.fileno()
        self.out = self.proc.stdout.fileno()
        try:
            _write_frame(self.inp, limits)
            ready = _read_frame(self.out, time.monotonic() + _START_SECONDS)
        except (TimeoutError, OSError, pickle.UnpicklingError, EOFError):
            ready = None
        if ready != "ready":  # not a file's fault: no file may be rejected for it
            self.close()
            raise GuardUnavailable(f"guard worker did not start (exit {self.proc.returncode})")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class GuardedReader:
    """A small pool of worker processes that read many files per round trip.

    A worker answers a few files per frame; when it dies (native abort, memory limit, CPU limit) or hangs,
    the files of its chunk not answered yet are read again with an answer per file, so the file that kills
    it is known: that file is tried again alone in a fresh worker (a neighbour's OOM kill must not condemn
    it), and rejected if it kills that one too. The rest of its chunk carries on.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._workers: list[_Worker | None] = [None] * max(1, limits.workers)
        self._lock = threading.Lock()
        self.deaths = 0  # workers lost to a file (for tests and logs)
        self._errors: list[BaseException] = []

    def close(self) -> None:
        for i, w in enumerate(self._workers):
            if w is not None:
                w.close()
                self._workers[i] = None

    def read(self, items: Sequence[tuple[bytes, str]], sheets: bool = False) -> list[Any]:
        """Each file's grid or its rejection, in order; never raises for a file's content. With `sheets`,
        the worker also finds the labelled cells (tasks.intake.parse_grid) and sends them back as
        ParsedSheet.to_wire() tuples (or the grid, should that parse fail)."""
        results: list[Any] = [None] * len(items)
        if not items:
            return []
        chunks = deque(_chunks([len(data) for data, _ in items], len(self._workers), self.limits))
        with self._lock:
            threads = [threading.Thread(target=self._drain, args=(slot, chunks, items, results, sheets),
                                        daemon=True)
                       for slot in range(min(len(self._workers), len(chunks)))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error
        return [r if r is not None else too_big(items[i][1], "không đọc được") for i, r in enumerate(results)]

    def _worker(self, slot: int) -> _Worker:
        w = self._workers[slot]
        if w is None or w.proc.poll() is not None:
            if w is not None:
                w.close()
            w = self._workers[slot] = _Worker(self.limits)
        return w

    def _drop(self, slot: int) -> None:
        w = self._workers[slot]
        if w is not None:
            w.close()
            self._workers[slot] = None

    def _drain(self, slot: int, chunks: deque[list[int]], items: Sequence[tuple[bytes, str]],
               results: list[Any], sheets: bool) -> None:
        try:
            self._drain_chunks(slot, chunks, items, results, sheets)
        except BaseException as exc:  # raised again by read(), in the caller's thread
            self._errors.append(exc)
            chunks.clear()

    def _drain_chunks(self, slot: int, chunks: deque[list[int]], items: Sequence[tuple[bytes, str]],
                      results: list[Any], sheets: bool) -> None:
        while True:
            try:
                chunk = chunks.popleft()
            except IndexError:
                return
            careful = False
            while chunk:
                done = self._run(slot, chunk, items, results, sheets, careful)
                if done == len(chunk):
                    break
                self.deaths += 1
                if not _culprit_known(careful, len(chunk) - done):  # read the rest with an answer per file
                    chunk, careful = chunk[done:], True
                    continue
                poisoned, chunk = chunk[done], chunk[done + 1:]
                for _ in range(self.limits.retries):
                    if self._run(slot, [poisoned], items, results, sheets, True) == 1:
                        break
                    self.deaths += 1
                else:
                    results[poisoned] = too_big(items[poisoned][1], (
                        f"không đọc được trong giới hạn {_n(self.limits.memory_bytes // MiB)} MB bộ nhớ và "
                        f"{str(self.limits.wall_seconds).removesuffix('.0').replace('.', ',')} giây"))

    def _run(self, slot: int, chunk: list[int], items: Sequence[tuple[bytes, str]],
             results: list[Any], sheets: bool, careful: bool) -> int:
        """Send a chunk, collect answers; the number answered before the worker died or hung."""
        w = self._worker(slot)
        done = 0
        try:
            _write_frame(w.inp, (sheets, careful, [(i, items[i][0], items[i][1]) for i in chunk]))
            while done < len(chunk):
                frame = _read_frame(w.out, time.monotonic() + self.limits.wall_seconds)
                if frame is None:
                    break
                taken = _take(frame, results)
                done += taken
                if taken < len(frame):  # a MemoryError inside Python: the same as dying of it
                    break
        except (TimeoutError, BrokenPipeError, ConnectionResetError, pickle.UnpicklingError, EOFError):
            pass
        if done < len(chunk):
            code = w.proc.poll()
            import logging  # the parent's only log line: the workers never import logging

            why = "hung, killed" if code is None else code
            if _culprit_known(careful, len(chunk) - done):
                logging.getLogger(__name__).warning("guard: worker %s lost reading %r (exit %s)", w.proc.pid,
                                                    items[chunk[done]][1], why)
            else:
                logging.getLogger(__name__).warning("guard: worker %s lost with %s files not answered (exit %s); "
                                                    "reading them again one by one", w.proc.pid,
                                                    len(chunk) - done, why)
            self._drop(slot)
        return done


def _culprit_known(careful: bool, unanswered: int) -> bool:
    """Whether the first file a lost worker did not answer is the one that killed it: so when it answered
    file by file, or only that file was left. Otherwise its last answers may have been kept back with the
    rest of their group (_Answers), and the files not answered are read again, carefully."""
    return careful or unanswered == 1


def _take(frame: list[tuple[int, bool, Any]], results: list[Any]) -> int:
    """Store a frame's answers (each file's result or rejection, at its index); how many, up to the first
    one the worker could not give (None: it ran out of memory)."""
    for n, (index, ok, payload) in enumerate(frame):
        if payload is None:
            return n
        results[index] = payload if ok else UnreadableFile(payload)
    return len(frame)


def _chunks(sizes: list[int], workers: int, limits: Limits) -> list[list[int]]:
    """Indexes in order, cut into chunks of at most chunk_files files and chunk_bytes bytes (a bigger file
    goes alone), and small enough that every worker gets a share."""
    per_chunk = max(1, min(limits.chunk_files, -(-len(sizes) // workers)))
    out: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, size in enumerate(sizes):
        if current and (len(current) >= per_chunk or total + size > limits.chunk_bytes):
            out.append(current)
            current, total = [], 0
        current.append(i)
        total += size
    if current:
        out.append(current)
    return out


_READERS: dict[tuple[int, Limits], GuardedReader] = {}
_READERS_LOCK = threading.Lock()


def reader(limits: Limits = DEFAULT_LIMITS) -> GuardedReader:
    """The process's shared pool for these limits (started on first use, stopped at exit)."""
    key = (os.getpid(), limits)  # a forked child gets its own workers
    with _READERS_LOCK:
        if key not in _READERS:
            _READERS[key] = GuardedReader(limits)
        return _READERS[key]


@atexit.register
def _close_readers() -> None:
    for (pid, _), r in list(_READERS.items()):
        if pid == os.getpid():
            r.close()


def read_grids(items: Sequence[tuple[bytes, str]], limits: Limits = DEFAULT_LIMITS) -> list[Grid | UnreadableFile]:
    """The first worksheet of each (bytes, filename), or the unit's rejection for it, in order."""
    return reader(limits).read(items)

