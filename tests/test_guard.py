"""The guard around untrusted files: pre-checks on the bytes, and worker processes whose death or hang
costs only the file they were reading."""

from __future__ import annotations

import pickle
import struct
import zipfile
from io import BytesIO

import pytest

from tasks.guard import (
    GuardedReader,
    Limits,
    UnreadableFile,
    _precheck_groups,
    _SafeUnpickler,
    cfb_stream_names,
    precheck,
    read_csv,
    read_grids,
    reader,
)
from tests.hostile_corpus import cell_of, csv_text, encrypted_xlsx, grid, xls, xlsx


def test_cfb_directory_tells_an_encrypted_package_from_an_xls(ctx):
    assert cfb_stream_names(encrypted_xlsx()) == {"Root Entry", "EncryptionInfo", "EncryptedPackage", "\x06DataSpaces"}
    assert cfb_stream_names(xls(grid(ctx))) == {"Root Entry", "Workbook"}
    assert cfb_stream_names(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 100) == set()  # cut short: no crash
    precheck(xls(grid(ctx)), "VP.xls")  # an .xls passes the pre-check
    with pytest.raises(UnreadableFile, match="đang được đặt mật khẩu"):
        precheck(encrypted_xlsx(), "VP.xls")  # whatever the name says


def test_declared_dimension_alone_is_not_a_reason(ctx):
    """calamine allocates for cells that hold something; a formatted-only far cell or a big <dimension>
    (Excel writes one for formatted ranges) costs nothing and is accepted."""
    data = xlsx(grid(ctx), dimension="A1:XFD1048576")
    assert precheck(data, "a.xlsx").legacy_cells == {}
    with zipfile.ZipFile(BytesIO(data)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].replace(  # a far cell with a format and no value
        b"</sheetData>", b'<row r="900000"><c r="ZZ900000" s="1"/></row></sheetData>')
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in parts.items():
            z.writestr(n, sheet if n == "xl/worksheets/sheet1.xml" else b)
    [result] = read_grids([(buf.getvalue(), "a.xlsx")])
    assert not isinstance(result, UnreadableFile) and len(result) < 100


def _lie_about_size(data: bytes, name: str, size: int) -> bytes:
    """The zip's local and central headers of one entry claim `size` uncompressed bytes."""
    out = bytearray(data)
    raw = name.encode()
    for sig, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        pos = 0
        while (pos := out.find(sig, pos)) != -1:
            n = struct.unpack_from("<H", out, pos + name_len_at)[0]
            if bytes(out[pos + name_at:pos + name_at + n]) == raw:
                struct.pack_into("<I", out, pos + size_at, size)
            pos += 4
    return bytes(out)


def test_a_bomb_that_lies_about_its_size_is_refused(ctx):
    """Declared sizes are checked, and so is what a part really inflates to."""
    bomb = _lie_about_size(xlsx(grid(ctx), padding=48 << 20), "xl/worksheets/sheet1.xml", 20_000)
    with pytest.raises(UnreadableFile, match="tệp bị hỏng"):
        precheck(bomb, "VP.xlsx")
    honest = xlsx(grid(ctx), padding=48 << 20)
    with pytest.raises(UnreadableFile, match="nén bất thường"):
        precheck(honest, "VP.xlsx")
    capped = Limits(max_ratio=10**9, max_part_bytes=8 << 20)
    with pytest.raises(UnreadableFile, match="^Tệp quá lớn hoặc bị hỏng: 'VP.xlsx' có phần "
                                             "'xl/worksheets/sheet1.xml' giải nén vượt 8,0 MB"):
        precheck(honest, "VP.xlsx", capped)


@pytest.fixture()
def slow_workbook():
    """256 MB of sheet XML in about 250 KB: seconds of parsing once the pre-check caps are lifted."""
    return xlsx([["Mã đơn vị", "VP"]], padding=256 << 20)


_LIFTED = dict(max_ratio=10**9, max_unzipped_bytes=1 << 40, max_part_bytes=1 << 30)


def test_a_hanging_file_is_cut_off_and_the_next_one_read(ctx, slow_workbook):
    """Past the wall-clock limit the parent kills the worker; the file is tried once more alone, then
    rejected; the next file is read as usual."""
    r = GuardedReader(Limits(**_LIFTED, wall_seconds=0.5))
    try:
        results = r.read([(slow_workbook, "cham.xlsx"), (xlsx(grid(ctx)), "tot.xlsx")])
    finally:
        r.close()
    assert str(results[0]) == (
        "Tệp quá lớn hoặc bị hỏng: 'cham.xlsx' không đọc được trong giới hạn 1.024 MB bộ nhớ và 0,5 giây. "
        "Hãy chép bảng số liệu sang biểu mẫu mới (tệp .xlsx được gửi kèm đề nghị báo cáo) rồi gửi lại.")
    assert results[1][3][:2] == ["Mã đơn vị", "VP"]
    assert r.deaths == 2


def test_a_hanging_file_among_small_ones_condemns_none_of_them(ctx):
    """Small files are answered a group at a time; when one of a group hangs, the parent cannot tell which
    file it was from the answers it has, so the rest is read again with an answer per file: only the hanging
    file is rejected, its neighbours (one answered but not yet sent when the worker was killed) are read."""
    slow = xlsx([["Mã đơn vị", "VP"]], padding=56 << 20)  # 56 MB of sheet XML in under 64 KB: one group
    assert len(slow) < 64 * 1024
    good = xlsx(grid(ctx))
    r = GuardedReader(Limits(**_LIFTED, wall_seconds=0.1, workers=1))
    try:
        results = r.read([(good, "truoc.xlsx"), (slow, "cham.xlsx"), (good, "sau.xlsx")])
    finally:
        r.close()
    assert [isinstance(x, UnreadableFile) for x in results] == [False, True, False]
    assert str(results[1]).startswith("Tệp quá lớn hoặc bị hỏng: 'cham.xlsx' không đọc được trong giới hạn")
    assert results[0][3][:2] == results[2][3][:2] == ["Mã đơn vị", "VP"]
    assert r.deaths == 3  # the group's worker, the one reading the rest file by file, the lone retry's


def test_a_worker_that_cannot_start_rejects_no_file(ctx, monkeypatch):
    """A broken environment is the operator's problem: an exception, not 'your file is broken'."""
    import sys

    import tasks.guard as guard

    monkeypatch.setattr(guard, "_worker_cmd", lambda: [sys.executable, "-c", "import sys; sys.exit(3)"])
    r = GuardedReader(Limits(workers=2))
    with pytest.raises(guard.GuardUnavailable, match="guard worker did not start"):
        r.read([(xlsx(grid(ctx)), f"{i}.xlsx") for i in range(4)])
    r.close()


def test_the_pool_is_shared_and_survives_a_death(ctx):
    good = xlsx(grid(ctx))
    pool = reader()
    assert read_grids([]) == []
    read_grids([(good, "a.xlsx")])
    pids = {w.proc.pid for w in pool._workers if w is not None}
    read_grids([(good, "b.xlsx")] * 5)
    assert {w.proc.pid for w in pool._workers if w is not None} >= pids  # the same workers, reused


def test_results_from_a_worker_may_only_hold_cell_values():
    evil = pickle.dumps(print)
    with pytest.raises(pickle.UnpicklingError):
        _SafeUnpickler(BytesIO(evil)).load()
    from datetime import datetime

    assert _SafeUnpickler(BytesIO(pickle.dumps([[datetime(2021, 3, 1), "x", 1.5]]))).load()[0][0].month == 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8", "utf-8-sig"])
def test_csv_encodings(ctx, encoding):
    rows = read_csv(csv_text(grid(ctx), "\t").encode(encoding), "VP.csv")
    assert rows[3][:2] == ["Mã đơn vị", "VP"] and rows[0][0].startswith("BÁO CÁO")


def test_csv_rejections_are_messages_not_exceptions(ctx):
    with pytest.raises(UnreadableFile, match=r"^Tệp 'a.csv' có ký tự NUL \(mã 0\) ở dòng 2; phần chữ sau"):
        read_csv(b"Ma don vi,VP\nKy,2021\x00-03\n", "a.csv")
    with pytest.raises(UnreadableFile, match="không phải tệp CSV dạng văn bản"):
        read_csv(bytes(range(1, 32)) * 40, "a.csv")
    with pytest.raises(UnreadableFile, match="giới hạn 1.000 dòng, 60 cột"):
        read_csv(("x\n" * 1001).encode(), "a.csv")
    with pytest.raises(UnreadableFile, match=r"có dữ liệu tới ô BJ1 \(1 dòng, 62 cột\)"):
        read_csv(("," * 61 + "x\n").encode(), "a.csv")
    rows = read_csv(b"a,b,,\n" + b",,,\n" * 5000, "a.csv")  # trailing empty rows and cells cost nothing
    assert rows == [["a", "b"]]


def test_chunks_are_bounded_by_files_and_bytes():
    from tasks.guard import _chunks

    limits = Limits(chunk_files=3, chunk_bytes=100)
    assert _chunks([10] * 7, 2, limits) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _chunks([10] * 4, 2, limits) == [[0, 1], [2, 3]]  # both workers get a share
    assert _chunks([60, 60, 150, 10, 10], 1, limits) == [[0], [1], [2], [3, 4]]  # a big file goes alone
    assert _chunks([], 2, limits) == []


def test_the_first_sheet_is_found_in_each_files_own_workbook_order():
    """The first worksheet's part is remembered by the bytes of the workbook and relationship parts: a file
    listing its sheets in another order is measured on its own first sheet, after the template's was seen."""
    import re

    import xlsxwriter

    buf = BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet("Báo cáo").write(0, 0, "Mã đơn vị")
    wb.add_worksheet("Nháp").write(4999, 0, "ghi chú xa")
    wb.close()
    assert precheck(buf.getvalue(), "VP.xlsx").legacy_cells == {}  # the template order: measured on sheet 1
    with zipfile.ZipFile(BytesIO(buf.getvalue())) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheets = re.findall(rb"<sheet [^>]*/>", parts["xl/workbook.xml"])
    swapped = parts["xl/workbook.xml"].replace(sheets[0], b"\0").replace(sheets[1], sheets[0]).replace(b"\0", sheets[1])
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in parts.items():
            z.writestr(n, swapped if n == "xl/workbook.xml" else b)
    with pytest.raises(UnreadableFile, match="có dữ liệu tới ô A5000"):
        precheck(out.getvalue(), "VP.xlsx")


def test_small_files_are_prechecked_in_groups_and_big_ones_alone():
    """The worker pre-checks up to 16 small files before parsing them; a big file is pre-checked just before
    its own parse, so a slow pre-check never delays the answers of the files around it."""
    small, big = b"x" * 10_000, b"x" * 100_000
    chunk = [(i, big if i in (3, 4) else small, f"{i}.xlsx") for i in range(40)]
    assert [[i for i, _, _ in g] for g in _precheck_groups(chunk)] == [
        [0, 1, 2], [3], [4], list(range(5, 21)), list(range(21, 37)), [37, 38, 39]]


def test_answers_come_in_order_from_grouped_prechecks(ctx):
    """Refusals from the pre-check and grids from the parser, mixed in one chunk, each at its own index."""
    good, empty = xlsx(grid(ctx)), b""
    items = [(good if i % 3 else empty, f"{i}.xlsx") for i in range(20)]
    r = GuardedReader(Limits(workers=1))
    try:
        results = r.read(items)
    finally:
        r.close()
    assert [isinstance(x, UnreadableFile) for x in results] == [i % 3 == 0 for i in range(20)]
    assert str(results[3]) == "Tệp '3.xlsx' rỗng (0 byte). Hãy gửi lại tệp báo cáo."
    assert results[4][3][:2] == ["Mã đơn vị", "VP"]


def _with_sheet_rows(data: bytes, rows_xml: bytes) -> bytes:
    with zipfile.ZipFile(BytesIO(data)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"</sheetData>", rows_xml + b"</sheetData>")
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in parts.items():
            z.writestr(n, b)
    return out.getvalue()


def test_far_away_formatting_is_no_data_but_a_far_away_value_is(ctx):
    """Cells that only carry a format (Excel writes them for a styled row) may lie anywhere; a value past
    the limits is refused with the cell named, among thousands of in-range cells and empty far ones."""
    for fonts in (("Times New Roman",), ("Times New Roman", ".VnTime")):  # the fast scan, the cell-by-cell walk
        good = xlsx(grid(ctx), fonts=fonts)
        styled = b'<row r="1048576"><c r="XFD1048576" s="0"/><c r="A1048576" s="0" /></row>'
        assert precheck(_with_sheet_rows(good, styled), "VP.xlsx").uncalculated == {}
    good = xlsx(grid(ctx), fonts=("Times New Roman",))
    # '<c ...></c>' with nothing inside counts as filled (the parser's view), as does a value
    with pytest.raises(UnreadableFile, match=r"có dữ liệu tới ô A1048576 \(1\.048\.576 dòng, 1 cột\)"):
        precheck(_with_sheet_rows(good, b'<row r="1048576"><c r="A1048576" s="1"></c></row>'), "VP.xlsx")
    with pytest.raises(UnreadableFile, match=r"có dữ liệu tới ô BZ3 \(3 dòng, 78 cột\)"):
        precheck(_with_sheet_rows(good, b'<row r="3"><c r="BZ3" s="1"/><c r="BZ3"><v>1</v></c></row>'), "VP.xlsx")
    with pytest.raises(UnreadableFile, match=r"giới hạn 1\.000 dòng, 3 cột"):  # limits below Z: no shortcut
        precheck(good, "VP.xlsx", Limits(max_cols=3))


def test_remembered_style_answers_follow_each_files_own_styles(ctx):
    """What the pre-check learnt from one workbook's style part is reused only for the same stored bytes:
    a workbook whose styles name a TCVN3 font is read as TCVN3 between two that do not."""
    rows = grid(ctx, N01="Thaéng")
    plain, legacy = xlsx(rows, fonts=("Times New Roman",)), xlsx(rows, fonts=("Times New Roman", ".VnTime"),
                                                                  styles={cell_of(rows, "N01"): 1})
    assert precheck(plain, "VP.xlsx").legacy_cells == {}
    assert set(precheck(legacy, "VP.xlsx").legacy_cells.values()) == {"TCVN3"}
    assert precheck(plain, "VP.xlsx").legacy_cells == {}
    assert set(precheck(legacy, "VP.xlsx").legacy_cells.values()) == {"TCVN3"}
