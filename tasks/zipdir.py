"""A plain zip archive's directory read with struct: what the pre-check asks of every workbook a collect reads.

zipfile.ZipFile builds a ZipInfo object per part and reads a part through a file object; for a template's ten
small parts that is most of the pre-check's cost. Here only the common, well-formed layout is read: one disk,
no archive comment, no ZIP64, nothing before the archive, parts stored or deflated, none encrypted or patched.
`directory` returns None for anything else, and `Directory.read` returns None for a part whose bytes do not
inflate to exactly what the directory declares (size and CRC-32): zipfile then reads it, so an odd or forged
archive meets the very checks it always met. Standard library only: the guard's worker imports it.

`archive` writes the same layout: the .xlsx files baocao makes (tasks.render.xlsx_writer), byte for byte
what zipfile writes for them, without its per-part objects, seeks and header rewrites.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

_END = struct.Struct("<4s4H2LH")  # end of central directory record
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory file header
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header, before its name and extra field
_LOCAL_SIZE = _LOCAL.size
_ZIP64_LOCATOR = b"PK\x06\x07"
_ODD_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, compressed patch data, strong encryption
_MAX_EXTRACT_VERSION = 63  # what zipfile reads
_STORED, _DEFLATED = 0, 8


class Entry(NamedTuple):
    """One part as the central directory declares it (the ZipInfo fields the pre-check reads)."""

    filename: str
    raw_name: bytes
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int
    end_offset: int  # where the next part (or the directory) begins: a part's data must end before it


class Directory:
    """The parts of one archive, by name as zipfile.ZipFile.NameToInfo has them (the last of a repeated name)."""

    def __init__(self, data: bytes, entries: list[Entry]):
        self.data = data
        self.entries = entries
        self.NameToInfo = {e.filename: e for e in entries}
        self._zipfile: zipfile.ZipFile | None = None

    def infolist(self) -> list[Entry]:
        return list(self.entries)

    def read(self, entry: Entry, cap: int) -> bytes | None:
        """The part's bytes when they are exactly as declared and at most `cap` long; else None."""
        local = stored_part(self.data, entry.header_offset, entry.compress_size) if entry.file_size <= cap else None
        if local is None:
            return None
        name, start, raw = local
        if name != entry.raw_name or start + entry.compress_size > entry.end_offset:  # overlapping parts
            return None
        if entry.compress_type == _STORED:
            out = raw
        else:
            inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            out = inflate.decompress(raw, entry.file_size + 1)
            if not inflate.eof:
                return None
        if len(out) != entry.file_size or zlib.crc32(out) != entry.CRC:
            return None
        return out

    def zipfile(self) -> zipfile.ZipFile:
        """The same archive as zipfile reads it, for what `read` leaves to it."""
        if self._zipfile is None:
            self._zipfile = zipfile.ZipFile(io.BytesIO(self.data))
        return self._zipfile


def stored_part(data: bytes, header_offset: int, compress_size: int) -> tuple[bytes, int, bytes] | None:
    """A part as its local header lays it out: the name there, where its data starts, and its stored
    (compressed) bytes; None when no local header is at the offset or the data runs past the archive."""
    at = header_offset
    if data[at:at + 4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
    start = at + _LOCAL_SIZE + name_len + extra_len
    raw = data[start:start + compress_size]
    if len(raw) != compress_size:
        return None
    return data[at + _LOCAL_SIZE:at + _LOCAL_SIZE + name_len], start, raw


def directory(data: bytes) -> Directory | None:
    """The archive's directory, or None when it is not laid out in the plain way (zipfile reads it then)."""
    end_at = len(data) - _END.size
    if end_at < 0 or data[end_at - 20:end_at - 16] == _ZIP64_LOCATOR:
        return None
    sig, disk, cd_disk, _, _, cd_size, cd_offset, comment_len = _END.unpack_from(data, end_at)
    if (sig != b"PK\x05\x06" or disk or cd_disk or comment_len or cd_size == 0xFFFFFFFF
            or cd_offset == 0xFFFFFFFF or cd_offset + cd_size != end_at):
        return None
    found: list[tuple[str, bytes, int, int, int, int, int, int]] = []
    at = cd_offset
    while at < end_at:
        if at + _CENTRAL.size > end_at:
            return None
        (sig, _, version, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len, _, _, _,
         offset) = _CENTRAL.unpack_from(data, at)
        name_at = at + _CENTRAL.size
        at = name_at + name_len + extra_len + comment_len
        if (sig != b"PK\x01\x02" or at > end_at or flags & _ODD_FLAGS or method not in (_STORED, _DEFLATED)
                or version > _MAX_EXTRACT_VERSION or 0xFFFFFFFF in (csize, usize, offset)):
            return None
        raw_name = data[name_at:name_at + name_len]
        try:  # ASCII reads the same in both, without cp437's codec written in Python
            name = raw_name.decode("ascii" if raw_name.isascii() else "utf-8" if flags & 0x800 else "cp437")
        except UnicodeDecodeError:
            return None
        if "\0" in name:
            return None
        found.append((name, raw_name, flags, method, crc, csize, usize, offset))
    starts = sorted({f[7] for f in found} | {cd_offset})
    ends = dict(zip(starts, starts[1:], strict=False))
    return Directory(data, [Entry(*f, ends.get(f[7], cd_offset)) for f in found])


# ---------------------------------------------------------------- writing

_VERSION = 20  # version needed to extract (deflate), as zipfile writes it
_MADE_ON_UNIX = 3 << 8 | _VERSION
_DOS_1980_01_01 = 33  # every part is dated 1980-01-01 00:00: the same parts give the same bytes
_ATTRIBUTES = 0o600 << 16  # rw------- (what zipfile gives a part)
_REMEMBERED_PART = 64 * 1024  # parts up to this size have their deflated bytes remembered


def archive(parts: Sequence[tuple[str, bytes]]) -> bytes:
    """The parts (ASCII names) deflated into a zip archive, byte for byte what zipfile.ZipFile writes for them
    with each part dated 1980-01-01."""
    body: list[bytes] = []
    listing: list[bytes] = []
    offset = 0
    for name, data in parts:
        crc, deflated = _deflate_remembered(data) if len(data) <= _REMEMBERED_PART else _deflate(data)
        raw = name.encode("ascii")
        header = _LOCAL.pack(b"PK\x03\x04", _VERSION, 0, _DEFLATED, 0, _DOS_1980_01_01, crc, len(deflated),
                             len(data), len(raw), 0) + raw
        listing.append(_CENTRAL.pack(b"PK\x01\x02", _MADE_ON_UNIX, _VERSION, 0, _DEFLATED, 0, _DOS_1980_01_01,
                                     crc, len(deflated), len(data), len(raw), 0, 0, 0, 0, _ATTRIBUTES, offset) + raw)
        body += (header, deflated)
        offset += len(header) + len(deflated)
    central = b"".join(listing)
    return b"".join(body) + central + _END.pack(b"PK\x05\x06", 0, 0, len(parts), len(parts), len(central), offset, 0)


def _deflate(data: bytes) -> tuple[int, bytes]:
    """A part's CRC-32 and raw deflate stream at zipfile's default level."""
    z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return zlib.crc32(data), z.compress(data) + z.flush()


# Deflating is most of a workbook's cost (about 100 µs for a unit's sheet at zipfile's level), and a unit's
# workbook repeats most of its parts from the previous unit's: content types, relationships, workbook,
# styles, properties, and the sheet itself (its text is in the shared strings), all but the strings.
_deflate_remembered = lru_cache(maxsize=32)(_deflate)
