"""The folder channel: links and special files are never read, half-copied files wait, arrival is first sight."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from tasks.channels.folder import FolderChannel, note_arrival
from tasks.collect import collect_from
from tasks.intake import content_hash
from tasks.ledger import as_utc
from tasks.periods import TZ
from tests.helpers import filled, mark_delivered

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
