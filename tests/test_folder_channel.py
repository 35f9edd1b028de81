"""The folder channel: links and special files are never read, half-copied files wait, arrival is first sight."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from tasks.channels.folder import (
    CLOCK_FILE,
    SKIPPED_KEPT,
    UNREADABLE,
    FolderChannel,
    _on_network_filesystem,
    note_arrival,
    skipped_files,
)
from tasks.collect import collect_from
from tasks.intake import content_hash
from tasks.ledger import as_utc
from tasks.periods import TZ
from tests.helpers import deny_reading, filled, mark_delivered, remove_chain

T0 = datetime(2021, 3, 15, 9, 0, tzinfo=TZ)


def test_symlinks_and_special_files_are_skipped_and_listed(ctx, tmp_path):
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    secret = tmp_path / "shadow"
    secret.write_bytes(filled(ctx, "VP", "2021-03"))  # a valid report outside the inbox
    (ctx.inbox / "VP.xlsx").symlink_to(secret)
    (ctx.inbox / "etc").symlink_to("/etc", target_is_directory=True)
    os.mkfifo(ctx.inbox / "pipe.xlsx")
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03"))
    channel = FolderChannel(ctx, now=T0 + timedelta(minutes=5), settle_seconds=0)
    scan = channel.scan()
    assert [st.source_ref for st, _ in scan.ready] == ["inbox/TTr.xlsx"]
    assert dict(scan.skipped) == {
        "inbox/etc": "liên kết tượng trưng tới thư mục khác: không đọc",
        "inbox/VP.xlsx": "liên kết tượng trưng (symlink): không đọc tệp mà nó trỏ tới",
        "inbox/pipe.xlsx": "không phải tệp thông thường: không đọc",
    }
    outcomes = collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, settle_seconds=0))
    assert [(o.unit_code, o.status) for o in outcomes] == [("TTr", "accepted")]  # VP's link counted nothing
    skipped = {e.entity_id for e in ctx.ledger.audit_events("folder") if e.action == "skipped"}
    assert {"inbox/VP.xlsx", "inbox/etc", "inbox/pipe.xlsx"} <= skipped


def test_a_file_still_being_copied_is_judged_once_it_has_settled(ctx):
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    data = filled(ctx, "VP", "2021-03")
    path.write_bytes(data[: len(data) // 2])  # half copied: a broken zip if judged now
    first = FolderChannel(ctx, now=T0, settle_seconds=30)
    assert first.documents() == [] and first.scan().unsettled == ["inbox/VP.xlsx"]
    path.write_bytes(data)  # the copy finishes
    assert FolderChannel(ctx, now=T0 + timedelta(seconds=20), settle_seconds=30).documents() == []
    later = FolderChannel(ctx, now=T0 + timedelta(seconds=60), settle_seconds=30)
    outcomes = collect_from(ctx, ctx.period("2021-03"), later)
    assert [(o.unit_code, o.status) for o in outcomes] == [("VP", "accepted")]
    (sub,) = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert sub.errors == [] and as_utc(sub.received_at) == T0  # never rejected half-written; first sight


def _no_sleep(monkeypatch):
    def refuse(seconds: float) -> None:
        raise AssertionError(f"waited {seconds} s for a file nothing had touched")

    monkeypatch.setattr("tasks.channels.folder.time.sleep", refuse)


def test_a_file_untouched_for_the_settle_time_is_ready_without_waiting(ctx, monkeypatch):
    """A collect that finds files copied in a while ago reads them at once (no settle wait): their ctime, which
    every write, rename and time change sets, is older than settle_seconds (and a second more, for filesystems
    that keep whole seconds) by the inbox's own clock."""
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "VP.xlsx").write_bytes(filled(ctx, "VP", "2021-03"))
    time.sleep(1.3)
    _no_sleep(monkeypatch)
    scan = FolderChannel(ctx, settle_seconds=0.2).scan()
    assert [st.source_ref for st, _ in scan.ready] == ["inbox/VP.xlsx"] and scan.unsettled == []
    assert (ctx.data_dir / CLOCK_FILE).is_file() and [p.name for p in ctx.inbox.iterdir()] == ["VP.xlsx"]
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03"))  # just now: waits like any new file
    assert FolderChannel(ctx, settle_seconds=0.2).scan(wait=False).unsettled == ["inbox/TTr.xlsx"]


def test_a_copy_keeping_an_old_mtime_still_waits_for_its_ctime(ctx):
    """`cp -p` and Explorer set the old mtime back when the copy ends; the ctime says the file just changed."""
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    path.write_bytes(filled(ctx, "VP", "2021-03"))
    old = datetime(2021, 3, 1, 8, 0, tzinfo=TZ).timestamp()
    os.utime(path, (old, old))
    scan = FolderChannel(ctx, settle_seconds=30).scan(wait=False)
    assert scan.ready == [] and scan.unsettled == ["inbox/VP.xlsx"]


def test_a_link_planted_at_the_clock_file_is_not_followed(ctx, tmp_path):
    ctx.inbox.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"x")
    os.utime(target, (1_000_000_000, 1_000_000_000))
    (ctx.data_dir / CLOCK_FILE).symlink_to(target)
    (ctx.inbox / "VP.xlsx").write_bytes(filled(ctx, "VP", "2021-03"))
    time.sleep(1.3)
    scan = FolderChannel(ctx, settle_seconds=0.2).scan(wait=False)
    assert scan.unsettled == ["inbox/VP.xlsx"]  # no clock to trust: the file waits as any new file
    assert target.stat().st_mtime == 1_000_000_000 and target.read_bytes() == b"x"


def test_a_network_filesystem_gets_no_settle_shortcut(tmp_path):
    """On NFS or SMB the files' ctimes come from the server's clock, which touching our clock file may not read:
    the longest mount point above the data directory decides."""
    info = tmp_path / "mountinfo"
    info.write_text("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                    "40 22 0:50 / /srv/bao\\040cao rw - nfs4 nas:/bc rw\n"
                    "41 40 8:2 / /srv/bao\\040cao/local rw - ext4 /dev/sdb1 rw\n", encoding="utf-8")
    assert _on_network_filesystem(Path("/srv/bao cao/data"), info)
    assert not _on_network_filesystem(Path("/srv/bao cao/local/data"), info)
    assert not _on_network_filesystem(Path("/srv/baocao"), info)
    assert _on_network_filesystem(Path("/"), tmp_path / "missing")  # cannot tell: the safe side


def test_received_time_is_first_sight_not_the_copied_mtime(ctx):
    """A copy keeps its old mtime (a file made on 1 March, copied in on 20 March is late, not on time)."""
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    path.write_bytes(filled(ctx, "VP", "2021-03"))
    old = datetime(2021, 3, 1, 8, 0, tzinfo=TZ).timestamp()
    os.utime(path, (old, old))
    seen = datetime(2021, 3, 20, 10, 0, tzinfo=TZ)
    [outcome] = collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, now=seen, settle_seconds=0))
    assert outcome.status == "accepted" and outcome.on_time is False  # deadline 16/03
    (sub,) = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert as_utc(sub.received_at) == seen
    assert sub.content_hash == content_hash(path.read_bytes())  # the hash the channel made, recorded as is


def test_documents_carry_the_hash_of_their_bytes(ctx):
    ctx.inbox.mkdir(parents=True)
    for unit in ("VP", "CCHC"):
        (ctx.inbox / f"{unit}.xlsx").write_bytes(filled(ctx, unit, "2021-03"))
    docs = FolderChannel(ctx, settle_seconds=0).documents()
    assert len(docs) == 2 and all(d.digest == content_hash(d.content) for d in docs)


def test_watcher_noted_arrival_is_the_received_time(ctx):
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    path.write_bytes(filled(ctx, "VP", "2021-03"))
    note_arrival(ctx, path, datetime(2021, 3, 16, 17, 0, tzinfo=TZ))
    [outcome] = collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, settle_seconds=0))
    assert outcome.on_time is True  # arrived on the deadline day, collected later


def test_recorded_files_are_skipped_unread_by_name_size_and_mtime(ctx, monkeypatch):
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "VP.xlsx").write_bytes(filled(ctx, "VP", "2021-03"))
    assert len(collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, settle_seconds=0))) == 1
    reads: list[str] = []
    real = type(ctx.inbox).read_bytes

    def counting(self):  # type: ignore[no-untyped-def]
        reads.append(self.name)
        return real(self)

    monkeypatch.setattr(type(ctx.inbox), "read_bytes", counting)
    assert collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, settle_seconds=0)) == []
    assert reads == []


def _documents_within(channel: FolderChannel, scan, seconds: float = 10.0):  # type: ignore[no-untyped-def]
    """channel.documents(scan) in a thread; (finished?, documents)."""
    import threading

    out: list = []
    worker = threading.Thread(target=lambda: out.append(channel.documents(scan)), daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive(), (out[0] if out else None)


def test_a_file_swapped_for_a_pipe_after_the_scan_does_not_hang_the_run(ctx):
    """Between the scan (a regular file, settled) and its read, the name becomes a FIFO nobody writes to:
    the read must not block the collect forever; the file is looked at again next run."""
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    path.write_bytes(filled(ctx, "VP", "2021-03"))
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03"))
    channel = FolderChannel(ctx, now=T0 + timedelta(minutes=5), settle_seconds=0)
    scan = channel.scan()
    assert len(scan.ready) == 2
    path.unlink()
    os.mkfifo(path)
    finished, docs = _documents_within(channel, scan)
    if not finished:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # let the blocked read end
    assert finished, "reading the inbox blocked on a FIFO planted after the scan"
    assert [d.source_ref for d in docs] == ["inbox/TTr.xlsx"]


def test_a_file_swapped_for_a_link_after_the_scan_is_not_followed(ctx, tmp_path):
    """The scan saw a regular file; a symbolic link put in its place before the read is not followed (the
    scan's own rule): the file it points to outside the inbox is never read as VP's report."""
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    path.write_bytes(b"not yet")
    outside = tmp_path / "outside.xlsx"
    outside.write_bytes(filled(ctx, "VP", "2021-03"))
    channel = FolderChannel(ctx, now=T0 + timedelta(minutes=5), settle_seconds=0)
    scan = channel.scan()
    path.unlink()
    path.symlink_to(outside)
    assert channel.documents(scan) == []


def test_a_file_rewritten_after_the_scan_is_not_judged_half_written(ctx):
    """The scan found the file settled; the unit then copies a new version over it. What is read now may be
    half of the new copy: it waits for the next run (and its own settle time) instead of being rejected."""
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    path.write_bytes(filled(ctx, "VP", "2021-03"))
    channel = FolderChannel(ctx, now=T0 + timedelta(minutes=5), settle_seconds=0)
    scan = channel.scan()
    new = filled(ctx, "VP", "2021-03", H01=7)
    path.write_bytes(new[: len(new) // 2])  # the new copy, half way
    assert channel.documents(scan) == []
    assert ctx.ledger.submissions(ctx.cfg.report.id, "2021-03") == []


def test_a_file_name_that_is_not_utf8_gets_its_outcome_and_stops_nothing(ctx):
    """A share written by an old Windows client may hold names in a legacy code page (bytes that are not UTF-8,
    'B\\xe1o c\\xe1o.xlsx' in cp1258): Python hands them over with surrogate escapes, which no database accepts
    as text. That file is still judged and recorded, and the other units' files with it too."""
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    raw = os.fsencode(ctx.inbox) + b"/VP b\xe1o c\xe1o.xlsx"
    with open(raw, "wb") as f:
        f.write(filled(ctx, "VP", "2021-03"))
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03"))
    ref = "inbox/VP b\\xe1o c\\xe1o.xlsx"
    [doc] = FolderChannel(ctx, only=[ref], now=T0, settle_seconds=0).documents()  # a chunk of the collect flow
    assert (doc.source_ref, doc.content) == (ref, filled(ctx, "VP", "2021-03"))
    outcomes = collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, now=T0, settle_seconds=0))
    assert sorted((o.unit_code, o.status) for o in outcomes) == [("TTr", "accepted"), ("VP", "accepted")]
    subs = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert sorted(s.unit_code for s in subs) == ["TTr", "VP"]
    vp = next(s for s in subs if s.unit_code == "VP")
    assert (vp.source_ref, vp.filename) == (ref, "VP b\\xe1o c\\xe1o.xlsx")
    # the next collect finds both recorded: nothing read again, nothing recorded twice
    assert collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, now=T0, settle_seconds=0)) == []


def test_folders_nested_past_the_recursion_limit_stop_nothing(ctx):
    """A share can hold folders nested thousands deep (a copy loop on a client, or on purpose): the inbox scan
    walks them without recursion, so they cost neither this collect nor the other units' files."""
    import sys

    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03"))
    depth = sys.getrecursionlimit() + 100
    deep = os.fsencode(ctx.inbox)
    try:
        for _ in range(depth):  # os.makedirs itself recurses
            deep += b"/d"
            os.mkdir(deep)
        with open(deep + b"/VP.xlsx", "wb") as f:
            f.write(filled(ctx, "VP", "2021-03"))
        outcomes = collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, now=T0, settle_seconds=0))
        assert sorted((o.unit_code, o.status) for o in outcomes) == [("TTr", "accepted"), ("VP", "accepted")]
    finally:
        remove_chain(deep, os.fsencode(ctx.inbox))


def test_a_file_the_service_may_not_read_is_listed_every_run_and_judged_once_readable(ctx, monkeypatch):
    """A file the service cannot open (EACCES: the share's rights, not the unit's bytes) cannot be judged:
    no outcome, no rejection, no reply is recorded for bytes nobody read; the scan lists it for the Office
    with the reason (and audits it) at every run until it can be read, and it is then judged like any file,
    received when baocao first saw it."""
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "VP.xlsx").write_bytes(filled(ctx, "VP", "2021-03"))
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03"))
    real_open = os.open
    deny_reading(monkeypatch, "VP.xlsx")
    for minutes in (5, 20):  # every run, until someone gives the service the right to read it
        channel = FolderChannel(ctx, now=T0 + timedelta(minutes=minutes), settle_seconds=0)
        scan = channel.scan()
        assert [st.source_ref for st, _ in scan.ready] == ([] if minutes == 20 else ["inbox/TTr.xlsx"])
        [(ref, why)] = scan.skipped
        assert ref == "inbox/VP.xlsx" and "không có quyền đọc" in why and "lần thu sau" in why
        outcomes = collect_from(ctx, ctx.period("2021-03"), channel)
        assert [(o.unit_code, o.status) for o in outcomes] == ([] if minutes == 20 else [("TTr", "accepted")])
    assert [s.unit_code for s in ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")] == ["TTr"]  # VP: nothing
    assert ctx.ledger.owed_reply_page(ctx.cfg.report.id) == [(1, "receipt")]  # nothing owed for unread bytes
    audited = [e for e in ctx.ledger.audit_events("folder") if e.entity_id == "inbox/VP.xlsx"]
    assert len(audited) >= 2 and all(e.action == "skipped" for e in audited)
    monkeypatch.setattr(os, "open", real_open)  # readable now: judged normally
    later = FolderChannel(ctx, now=T0 + timedelta(minutes=40), settle_seconds=0)
    assert skipped_files(ctx).files == (("inbox/VP.xlsx", UNREADABLE),)  # the board's list, until read
    assert later.scan().skipped == []
    assert skipped_files(ctx).total == 0  # read by the latest collect: no longer listed
    outcomes = collect_from(ctx, ctx.period("2021-03"), later)
    assert [(o.unit_code, o.status) for o in outcomes] == [("VP", "accepted")]
    vp = next(s for s in ctx.ledger.submissions(ctx.cfg.report.id, "2021-03") if s.unit_code == "VP")
    assert as_utc(vp.received_at) == T0 + timedelta(minutes=5)  # received when first seen, not when readable


def test_the_latest_full_scan_keeps_a_bounded_list_of_its_skipped_files_for_the_board(ctx):
    """What the board reads: one ledger record, written by each full scan (a chunk's look at its own files
    does not replace it), bounded whatever lands in the inbox, counting every file; an older scan finishing
    late does not replace a newer one's list."""
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "VP.xlsx").write_bytes(filled(ctx, "VP", "2021-03"))
    for i in range(SKIPPED_KEPT + 5):
        (ctx.inbox / f"link-{i:03d}.xlsx").symlink_to(ctx.inbox / "VP.xlsx")
    FolderChannel(ctx, now=T0, settle_seconds=0).scan()
    record = skipped_files(ctx)
    assert record.at == T0 and record.total == SKIPPED_KEPT + 5 and len(record.files) == SKIPPED_KEPT
    assert record.files[0] == ("inbox/link-000.xlsx", "liên kết tượng trưng (symlink): không đọc tệp mà nó trỏ tới")
    FolderChannel(ctx, only=["inbox/VP.xlsx"], now=T0 + timedelta(minutes=5), settle_seconds=0).scan()
    assert skipped_files(ctx).total == SKIPPED_KEPT + 5  # a chunk's scan: the list stands
    for i in range(SKIPPED_KEPT + 5):
        (ctx.inbox / f"link-{i:03d}.xlsx").unlink()
    FolderChannel(ctx, now=T0 + timedelta(minutes=10), settle_seconds=0).scan()
    assert skipped_files(ctx).total == 0 and skipped_files(ctx).files == ()
    (ctx.inbox / "late-link.xlsx").symlink_to(ctx.inbox / "VP.xlsx")
    FolderChannel(ctx, now=T0 + timedelta(minutes=8), settle_seconds=0).scan()  # looked earlier, finished later
    assert skipped_files(ctx).total == 0 and skipped_files(ctx).at == T0 + timedelta(minutes=10)
