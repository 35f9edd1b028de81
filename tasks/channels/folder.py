"""The folder channel (the embedded default): files dropped in <data_dir>/inbox, never moved or changed.

A file is judged only once it has stopped changing: a file still being copied is not rejected half-written.
A file nothing has touched for `settle_seconds` (its ctime, which every write, rename and time change sets
and no copy can set back, that old by the inbox filesystem's own clock) is ready at once; a newer one is
looked at again after `settle_seconds` and read if its size and mtime stayed the same. It is received when
baocao first saw it, not at its mtime, which copies keep. Symbolic links and special files are never
followed or read; they are listed for the Office, like files the service may not open: each collect's scan
keeps the list it skipped in the ledger for the Office's board (`skipped_files`). Files whose content is
already recorded are skipped by name, size and mtime, unread.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tasks.bulk import collector_paused
from tasks.channels.base import Arrivals, UnitRequest, workbook_request
from tasks.config import Unit
from tasks.context import Context
from tasks.intake import content_hash
from tasks.ledger import FileStamp
from tasks.periods import TZ, Period
from tasks.types import Document, Source


@dataclass(frozen=True)
class Arrival:
    """When baocao first saw a file, and when it last saw it change."""

    size: int
    mtime_ns: int
    first_seen: datetime
    changed_seen: datetime

    def encode(self) -> str:
        return f"{self.size}|{self.mtime_ns}|{self.first_seen.isoformat()}|{self.changed_seen.isoformat()}"

    @classmethod
    def decode(cls, value: str) -> Arrival | None:
        try:
            size, mtime, first, changed = value.split("|")
            return cls(int(size), int(mtime), datetime.fromisoformat(first), datetime.fromisoformat(changed))
        except ValueError:
            return None


@dataclass
class FolderScan:
    """One look at the inbox: files ready to judge (with their arrival), files still changing, files refused."""

    ready: list[tuple[FileStamp, Arrival]] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, Vietnamese reason)
    # source ref -> (ctime: its last change of any kind, device: a subfolder may be another mounted filesystem)
    last_change: dict[str, tuple[int, int]] = field(default_factory=dict)
    # source ref -> the path on disk, for the few names that are not UTF-8 (see source_ref_of)
    paths: dict[str, str] = field(default_factory=dict)


_NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "afs", "davfs"})


def _on_network_filesystem(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> bool:
    """Whether `path` lies on a network (or FUSE) filesystem, by the longest mount point above it in
    /proc/self/mountinfo; True when that cannot be read (no settle shortcut is the safe side)."""
    try:
        mounts = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return True
    real = os.path.realpath(path)
    best, kind = "", ""
    for line in mounts:
        fields, _, tail = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not tail:
            continue
        mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), parts[4])  # "\040" is a space
        if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, kind = mount, tail.split()[0]
    return kind.startswith("fuse") or kind in _NETWORK_FILESYSTEMS


CLOCK_FILE = "inbox.clock"  # in the data directory, touched by a scan to read the inbox filesystem's clock


def source_ref_of(relative: str) -> str:
    """A file's path under the data directory as the text the ledger stores. A name that is not UTF-8 (a share
    written in a legacy code page) reaches Python with surrogate escapes, which no database takes as text:
    its undecodable bytes are written as '\\xe1' instead, so the file is recorded like any other (and the
    whole collect never fails on it)."""
    try:
        relative.encode("utf-8")
        return relative
    except UnicodeEncodeError:
        return relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def arrival_key(source_ref: str) -> str:
    return "arrival:" + hashlib.sha256(source_ref.encode("utf-8", "surrogateescape")).hexdigest()


def note_arrival(ctx: Context, path: Path, when: datetime, keep_earlier: bool = False) -> None:
    """Record that a file arrived at `when` (the folder watcher, or a demo replaying a month's arrivals);
    `keep_earlier` leaves an arrival already noted as it is."""
    note_arrivals(ctx, [path], when, keep_earlier)


def note_arrivals(ctx: Context, paths: Iterable[Path], when: datetime, keep_earlier: bool = False) -> None:
    """`note_arrival` for many files in two ledger round trips (a watcher's scan may see thousands)."""
    stamps: dict[str, Arrival] = {}
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:  # gone since it was listed: nothing arrived
            continue
        ref = source_ref_of(str(path.relative_to(ctx.data_dir)))
        stamps[arrival_key(ref)] = Arrival(st.st_size, st.st_mtime_ns, when, when)
    if keep_earlier:
        for key in ctx.ledger.get_cursors(stamps):
            del stamps[key]
    ctx.ledger.set_cursors({key: a.encode() for key, a in stamps.items()})


# Why a scan skips an inbox file (in the collect's log and on the Office's board), and what the Office does
UNREADABLE = ("không có quyền đọc tệp (máy chủ thu báo cáo bị từ chối truy cập): chưa xét được tệp này; "
              "cấp quyền đọc cho dịch vụ, tệp sẽ được đọc ở lần thu sau")
LINK = "liên kết tượng trưng (symlink): không đọc tệp mà nó trỏ tới"
LINK_TO_FOLDER = "liên kết tượng trưng tới thư mục khác: không đọc"
NOT_A_FILE = "không phải tệp thông thường: không đọc"
SKIP_ADVICE: dict[str, tuple[str, str]] = {  # reason -> (what the board says happened, what the Office does)
    UNREADABLE: ("Dịch vụ thu báo cáo không có quyền đọc tệp này, nên chưa xét được báo cáo trong tệp.",
                 "Cấp quyền đọc tệp cho tài khoản chạy dịch vụ thu báo cáo (hoặc đề nghị đơn vị chép lại tệp vào "
                 "thư mục); tệp sẽ được đọc ở lần thu sau."),
    LINK: ("Đây là lối tắt (liên kết tượng trưng), không phải tệp báo cáo: không đọc tệp mà nó trỏ tới.",
           "Chép chính tệp báo cáo vào thư mục nhận báo cáo rồi xóa lối tắt."),
    LINK_TO_FOLDER: ("Đây là lối tắt tới một thư mục khác: không đọc các tệp trong đó.",
                     "Chép các tệp báo cáo vào thư mục nhận báo cáo rồi xóa lối tắt."),
    NOT_A_FILE: ("Đây không phải tệp thông thường: không đọc.",
                 "Xóa mục này khỏi thư mục nhận báo cáo và chép vào đó tệp báo cáo của đơn vị."),
}


def skip_advice(why: str) -> tuple[str, str]:
    """(what happened, what the Office does) for a reason a scan skipped a file, as the board says them."""
    return SKIP_ADVICE.get(why) or (why[:1].upper() + why[1:] + ".", "Kiểm tra tệp này trong thư mục nhận báo cáo.")


SKIPPED_KEY = "folder-skipped"  # ledger cursor: the files the latest full scan skipped, for the board
SKIPPED_KEPT = 20  # files named in it; every skipped file is counted


@dataclass(frozen=True)
class SkippedFiles:
    """The inbox files the latest full scan (a collect's) skipped: when it looked, how many, the first few."""

    at: datetime | None = None
    total: int = 0
    files: tuple[tuple[str, str], ...] = ()  # (path under the data directory, Vietnamese reason)

    def encode(self) -> str:
        return json.dumps({"at": self.at.isoformat() if self.at else None, "total": self.total,
                           "files": [list(f) for f in self.files]}, ensure_ascii=False)

    @classmethod
    def decode(cls, value: str | None) -> SkippedFiles:
        try:
            data = json.loads(value) if value else {}
            at = datetime.fromisoformat(data["at"]) if data.get("at") else None
            files = tuple((str(ref), str(why)) for ref, why in data.get("files") or [])
            return cls(at, int(data.get("total") or 0), files)
        except (AttributeError, TypeError, ValueError):
            return cls()


def record_skipped(ctx: Context, skipped: list[tuple[str, str]], at: datetime) -> None:
    """The files a full scan at `at` skipped replace those of the scan before (a file read since is no longer
    listed); a scan that looked earlier than the one recorded (two collects at once) leaves it as it is."""
    record = SkippedFiles(at, len(skipped), tuple((ref[:1000], why) for ref, why in skipped[:SKIPPED_KEPT]))

    def change(recorded: dict[str, str]) -> dict[str, str]:
        before = SkippedFiles.decode(recorded.get(SKIPPED_KEY))
        if before.at is not None and before.at.tzinfo is not None and before.at > at:
            return {}
        return {SKIPPED_KEY: record.encode()}

    ctx.ledger.update_cursors([SKIPPED_KEY], change)


def skipped_files(ctx: Context) -> SkippedFiles:
    """The files the latest collect skipped in the inbox (one for every period), for the Office's board."""
    return SkippedFiles.decode(ctx.ledger.get_cursor(SKIPPED_KEY))

def inbox_entries(top: str, keep: Callable[[os.DirEntry[str]], bool] | None = None) -> Iterator[os.DirEntry[str]]:
    """Every entry under `top`, folder by folder in name order, depth first (a folder's subfolders after its
    own entries), without recursion: folders nested past Python's recursion limit on the share cost nothing.
    Real subfolders are entered, links never followed; a folder that cannot be listed is passed over. `keep`
    chooses which of a folder's entries are sorted and yielded (its subfolders are always entered)."""
    pending = [top]
    while pending:
        try:
            with os.scandir(pending.pop()) as it:
                entries = sorted((e for e in it if keep is None or keep(e) or _is_folder(e)), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            yield entry
            if _is_folder(entry):
                subfolders.append(entry.path)
        pending += reversed(subfolders)


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def read_as_scanned(path: str, stamp: FileStamp) -> bytes | None:
    """The file's bytes when it is still the one the scan judged settled: a regular file (never a link or a
    FIFO put in its place since, which would be followed or block the run), of the same size and mtime
    before and after the read (a new copy begun over it is not judged half-written). None otherwise."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:  # gone, unreadable, or a symbolic link now (ELOOP)
        return None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or (before.st_size, before.st_mtime_ns) != (stamp.size, stamp.mtime_ns):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
        after = os.fstat(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if (after.st_size, after.st_mtime_ns) != (stamp.size, stamp.mtime_ns) or len(data) != stamp.size:
        return None
    return data


class FolderChannel:
    name: Source = "folder"
    how_to_return = "chép tệp đã điền vào thư mục nhận báo cáo của Văn phòng Sở"

    def __init__(self, ctx: Context, only: Iterable[str] | None = None, now: datetime | None = None,
                 settle_seconds: float | None = None):
        self.ctx = ctx
        self.only = set(only) if only is not None else None  # source refs a chunk must read
        self.now = now
        self.settle = ctx.cfg.settings.channels.folder.settle_seconds if settle_seconds is None else settle_seconds

    def request(self, unit: Unit, period: Period, *, workbook: bool = True) -> UnitRequest:
        return workbook_request(self.ctx, unit, period, workbook)

    @contextmanager
    def receive(self, period: Period) -> Iterator[Arrivals]:
        """Settled files not yet recorded; nothing to acknowledge (the ledger remembers recorded files)."""
        yield Arrivals(documents=self.documents())

    # ------------------------------------------------------------------ scanning

    def _clock(self) -> datetime:
        return self.now if self.now is not None else datetime.now(TZ)

    def _walk(self, out: FolderScan) -> list[FileStamp]:
        """Regular files under inbox/ (never following links), in a stable order. One scandir per folder
        (the entries carry their lstat), so a look at 10,000 files that are all known costs little."""
        ctx, stamps = self.ctx, []
        if not ctx.inbox.is_dir() or ctx.inbox.is_symlink():
            return []
        base = os.fspath(ctx.data_dir)
        start = len(base) + len(os.sep)

        only = self.only

        def mine(entry: os.DirEntry[str]) -> bool:  # a chunk looks at its own files: no stat or sort of 9,000 others
            return only is None or source_ref_of(entry.path[start:]) in only

        for entry in inbox_entries(os.fspath(ctx.inbox), mine):
            rel = entry.path[start:]
            ref = source_ref_of(rel)
            if ref is not rel:
                out.paths[ref] = entry.path
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):  # entered by inbox_entries
                continue
            if stat.S_ISLNK(st.st_mode) and entry.is_dir(follow_symlinks=True):
                out.skipped.append((ref, LINK_TO_FOLDER))
                continue
            if entry.name.startswith((".", "~$")) or (only is not None and ref not in only):  # a dir once listed
                continue
            if stat.S_ISLNK(st.st_mode):
                out.skipped.append((ref, LINK))
            elif not stat.S_ISREG(st.st_mode):
                out.skipped.append((ref, NOT_A_FILE))
            else:
                stamps.append(FileStamp(ref, st.st_size, st.st_mtime_ns))
                out.last_change[ref] = (st.st_ctime_ns, st.st_dev)
        return stamps

    def _arrivals(self, refs: list[str]) -> dict[str, Arrival]:
        keys = {arrival_key(r): r for r in refs}
        return {keys[name]: a for name, value in self.ctx.ledger.get_cursors(keys).items()
                if (a := Arrival.decode(value)) is not None}

    def _store(self, changed: dict[str, Arrival]) -> None:
        self.ctx.ledger.set_cursors({arrival_key(ref): a.encode() for ref, a in changed.items()})

    @collector_paused()
    def scan(self, wait: bool = True) -> FolderScan:
        """The files ready to judge. Files seen changing are looked at again after `settle_seconds` (once,
        when `wait`), so a collect run takes a file that has just finished copying."""
        out = FolderScan()
        quiet = self._untouched_since() if self.ctx.inbox.is_dir() else None
        stamps = self._walk(out)
        known = self.ctx.ledger.known_files(stamps)
        todo = [st for st in stamps if st.source_ref not in known]
        seen = self._arrivals([st.source_ref for st in todo])
        now = self._clock()
        changed: dict[str, Arrival] = {}
        waiting: list[FileStamp] = []
        for st in todo:
            a = seen.get(st.source_ref)
            if a is None or (a.size, a.mtime_ns) != (st.size, st.mtime_ns):
                a = changed[st.source_ref] = Arrival(st.size, st.mtime_ns, a.first_seen if a else now, now)
            ctime, device = out.last_change[st.source_ref]
            if (now - a.changed_seen).total_seconds() >= self.settle or (
                    quiet is not None and device == quiet[1] and ctime < quiet[0]):  # same clock, quiet long enough
                out.ready.append((st, a))
            else:
                waiting.append(st)
        self._store(changed)
        if waiting and wait and self.now is None:
            time.sleep(self.settle)
            again = {st.source_ref: st for st in self._walk(FolderScan())}
            for st in waiting:
                if again.get(st.source_ref) == st:
                    out.ready.append((st, changed.get(st.source_ref) or seen[st.source_ref]))
                else:
                    out.unsettled.append(st.source_ref)
        else:
            out.unsettled += [st.source_ref for st in waiting]
        if self.only is None:  # a chunk's files are the listing's ready ones, opened by the listing already
            self._drop_unreadable(out)
        self.ctx.ledger.audit_all([("folder", ref[:255], "skipped", {"reason": why}) for ref, why in out.skipped])
        if self.only is None:  # the whole inbox was looked at (a chunk looks at its own files only)
            record_skipped(self.ctx, out.skipped, now)
        out.ready.sort(key=lambda r: (r[1].first_seen, r[0].source_ref))  # in order of arrival
        return out

    def _drop_unreadable(self, out: FolderScan) -> None:
        """Ready files the service may not open (EACCES: the share's rights) are listed for the Office instead:
        their bytes are unknown, so nothing can be judged, recorded or answered. Every scan lists them again
        until they can be read; their arrival stays noted, so they are received when baocao first saw them."""
        root = os.fspath(self.ctx.data_dir)
        ready = []
        for st, arrival in out.ready:
            path = out.paths.get(st.source_ref) or os.path.join(root, st.source_ref)
            try:
                os.close(os.open(path, _READ_FLAGS))
            except PermissionError:
                out.skipped.append((st.source_ref, UNREADABLE))
                continue
            except OSError:  # gone or replaced since: the read says so, and the next scan looks again
                pass
            ready.append((st, arrival))
        out.ready = ready

    def _untouched_since(self) -> tuple[int, int] | None:
        """(ctime in ns, device): a file on that device whose ctime is below it has been left alone for
        `settle_seconds` (and a second more: some filesystems keep whole seconds), by the inbox filesystem's
        own clock. Our clock file beside the inbox (never in it: the units' folder is not ours to change) is
        touched and its new ctime is that filesystem's now. Read before the inbox is looked at, so the time
        the scan itself takes is never counted as quiet time. None when it cannot tell (a network filesystem,
        whose server's clock utime may not set; a read-only data directory; tests that set `now`): every new
        file then waits `settle_seconds` and is looked at again."""
        if self.now is not None or _on_network_filesystem(self.ctx.data_dir):
            return None
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # never a planted link or pipe
        try:
            fd = os.open(self.ctx.data_dir / CLOCK_FILE, flags, 0o644)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            os.utime(fd)
            clock = os.fstat(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        return clock.st_ctime_ns - int((self.settle + 1) * 1e9), clock.st_dev

    def documents(self, scan: FolderScan | None = None) -> list[Document]:
        """The ready files as documents; contents already recorded are skipped (and remembered by stamp)."""
        scan = scan if scan is not None else self.scan()
        read: list[tuple[FileStamp, Arrival, bytes, str]] = []
        root = os.fspath(self.ctx.data_dir)  # os.path, not pathlib: thousands of files a collect
        for st, arrival in scan.ready:
            path = scan.paths.get(st.source_ref) or os.path.join(root, st.source_ref)
            data = read_as_scanned(path, st)
            if data is None:
                continue  # removed, replaced or changed since the scan: looked at again next run
            read.append((st, arrival, data, content_hash(data)))
        digests = [digest for *_, digest in read]
        known = self.ctx.ledger.known_hashes(self.ctx.cfg.report.id, among=digests) if read else set()
        docs: list[Document] = []
        again: list[tuple[FileStamp, str]] = []
        for st, arrival, data, digest in read:
            if digest in known:
                again.append((st, digest))  # a copy or rename of a recorded file
                continue
            docs.append(Document(source="folder", source_ref=st.source_ref, filename=os.path.basename(st.source_ref),
                                 content=data, received_at=arrival.first_seen.astimezone(TZ), stamp=st,
                                 digest=digest))
        self.ctx.ledger.remember_files(again)
        return docs
