"""The pre-check's struct reading of a zip directory says exactly what zipfile says, and leaves zipfile every
archive it does not read the plain way; the archives baocao writes are the bytes zipfile writes."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from tasks import guard
from tasks.guard import UnreadableFile, precheck
from tasks.samples import render_sample, samples
from tasks.zipdir import archive, directory
from tests.hostile_corpus import cases, xlsx


def verdict(data: bytes, filename: str) -> object:
    try:
        facts = precheck(data, filename)
    except UnreadableFile as exc:
        return ("rejected", str(exc))
    return ("read", facts.legacy_cells, facts.uncalculated)


def zipfile_verdict(monkeypatch: pytest.MonkeyPatch, data: bytes, filename: str) -> object:
    with monkeypatch.context() as m:
        m.setattr(guard, "directory", lambda data: None)
        guard._FIRST_WORKSHEET.clear()
        guard._LEGACY_XF.clear()
        return verdict(data, filename)


def template(ctx) -> bytes:
    """A unit's returned workbook as xlsxwriter writes it (the bench's and the demo's files)."""
    return render_sample(ctx, samples()[0])


def test_the_directory_of_a_returned_workbook_is_zipfiles(ctx) -> None:
    data = template(ctx)
    found = directory(data)
    assert found is not None
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert [(e.filename, e.compress_type, e.CRC, e.compress_size, e.file_size, e.header_offset)
                for e in found.infolist()] == [
            (i.filename, i.compress_type, i.CRC, i.compress_size, i.file_size, i.header_offset) for i in zf.infolist()]
        for entry in found.infolist():
            assert found.read(entry, 10**8) == zf.read(entry.filename)


def test_every_hostile_case_gets_the_verdict_zipfile_gives(ctx, monkeypatch) -> None:
    corpus = [c for c in cases(ctx) if c.data.startswith(b"PK")]
    assert len(corpus) >= 15
    for case in corpus:
        assert verdict(case.data, case.filename) == zipfile_verdict(monkeypatch, case.data, case.filename), case.name


def _with_comment(data: bytes) -> bytes:
    return data[:-2] + struct.pack("<H", 4) + b"note"


def _encrypted_flag(data: bytes) -> bytes:
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    out[at + 8] |= 0x1
    return bytes(out)


def _rezipped(data: bytes, method: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", method) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return out.getvalue()


@pytest.mark.parametrize("change", [
    pytest.param(lambda d: b"MZ-self-extractor" + d, id="bytes before the archive"),
    pytest.param(_with_comment, id="archive comment"),
    pytest.param(_encrypted_flag, id="a part flagged encrypted"),
    pytest.param(lambda d: _rezipped(d, zipfile.ZIP_BZIP2), id="bzip2 parts"),
    pytest.param(lambda d: d[:-10], id="truncated directory"),
])
def test_an_archive_not_laid_out_the_plain_way_is_left_to_zipfile(ctx, monkeypatch, change) -> None:
    data = change(template(ctx))
    assert directory(data) is None
    assert verdict(data, "VP.xlsx") == zipfile_verdict(monkeypatch, data, "VP.xlsx")


def _corrupt_sheet(data: bytes, how: str) -> bytes:
    """The sheet part's stored bytes or declared CRC changed in place (the directory still reads)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    out = bytearray(data)
    if how == "crc":  # the part's central record: the last one before the name's last (uncompressed) occurrence
        cd = out.rfind(b"PK\x01\x02", 0, out.rfind(info.filename.encode()))
        struct.pack_into("<L", out, cd + 16, info.CRC ^ 1)
    else:
        name_len, extra_len = struct.unpack_from("<HH", out, info.header_offset + 26)
        start = info.header_offset + 30 + name_len + extra_len
        out[start + info.compress_size // 2] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize("how", ["crc", "bytes"])
def test_a_part_that_does_not_inflate_as_declared_gets_zipfiles_verdict(ctx, monkeypatch, how) -> None:
    data = _corrupt_sheet(template(ctx), how)
    found = directory(data)
    assert found is not None
    assert found.read(found.NameToInfo["xl/worksheets/sheet1.xml"], 10**8) is None
    got = verdict(data, "VP.xlsx")
    assert got == zipfile_verdict(monkeypatch, data, "VP.xlsx")
    assert got[0] == "rejected"


def test_a_small_stored_workbook_reads_the_plain_way() -> None:
    data = _rezipped(xlsx([["Mã đơn vị", "VP"]]), zipfile.ZIP_STORED)
    found = directory(data)
    assert found is not None
    sheet = found.read(found.NameToInfo["xl/worksheets/sheet1.xml"], 10**8)
    assert sheet is not None and zlib.crc32(sheet) == found.NameToInfo["xl/worksheets/sheet1.xml"].CRC


def test_archive_writes_the_bytes_zipfile_writes_and_reads_back():
    parts = [("[Content_Types].xml", b"<Types/>" * 50), ("xl/worksheets/sheet1.xml", "Số liệu ".encode() * 9000),
             ("empty.xml", b"")]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    made = archive(parts)
    assert made == buf.getvalue()
    found = directory(made)
    assert found is not None
    assert [found.read(e, 1 << 20) for e in found.entries] == [data for _, data in parts]
