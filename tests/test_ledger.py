"""The ledger on its own, on SQLite and on PostgreSQL: 64-bit values, chunked recording with the same rules
as one-by-one recording, status computed in SQL, known folder files skipped unread, one SQLite writer.

PostgreSQL runs at 127.0.0.1:5432 (database 'test', trust auth); its cases are skipped only when it is not
reachable.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tasks.ledger import FileStamp, Ledger, NewSubmission, Recorded, SeenFile, seen_key
from tasks.types import Issue

PG_HOST, PG_PORT = "127.0.0.1", 5432
T0 = datetime(2021, 3, 15, 2, 0, tzinfo=UTC)


def _pg_user() -> str | None:
    try:
        import psycopg
    except ImportError:
        return None
    for user in (os.environ.get("BAOCAO_TEST_PG_USER"), "postgres", "root"):
        if not user:
            continue
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test", connect_timeout=3):
                return user
        except psycopg.Error:
            continue
    return None


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server base URL (databases are made per test), or skip when none is reachable."""
    user = _pg_user()
    if user is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}")
    yield user


def _new_pg_db(user: str) -> tuple[str, str]:
    import psycopg

    name = f"baocao_test_ledger_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"


def _drop_pg_db(user: str, name: str) -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    user = request.getfixturevalue("pg_server")
    name, pg_url = _new_pg_db(user)
    try:
        yield pg_url
    finally:
        _drop_pg_db(user, name)


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    led = Ledger(url)
    yield led
    led.engine.dispose()


def new(h: str, unit: str | None = "VP", status: str = "accepted", minutes: int = 0, period: str = "2021-03",
        on_time: bool | None = True, values: tuple[tuple[str, int | str | None], ...] = (("W01", 12),),
        errors: tuple[Issue, ...] = (), warnings: tuple[Issue, ...] = (), stamp: FileStamp | None = None,
        report: str = "cchc") -> NewSubmission:
    return NewSubmission(report_id=report, period=period, unit_code=unit, source="folder",
                         source_ref=f"inbox/{h}.xlsx", filename=f"{h}.xlsx",
                         received_at=T0 + timedelta(minutes=minutes),
                         content_hash=h * 8, status=status, on_time=on_time, errors=errors, warnings=warnings,
                         values=values, stamp=stamp)


def table(ledger: Ledger, period: str = "2021-03") -> list[tuple[str, str | None, str]]:
    return [(s.filename, s.unit_code, s.status) for s in ledger.submissions("cchc", period)]


# ------------------------------------------------------------------ 64-bit values


def test_integer_values_are_64_bit(ledger: Ledger) -> None:
    big = (("W01", 10**12), ("H01", 2**63 - 1), ("H02", -(2**63)), ("K02", "Tuyên truyền qua Zalo"), ("N04", None))
    ledger.record_submissions([new("a", values=big)])
    [sub] = ledger.submissions("cchc", "2021-03")
    assert sub.value_map() == {"W01": 1_000_000_000_000, "H01": 9_223_372_036_854_775_807,
                               "H02": -9_223_372_036_854_775_808, "K02": "Tuyên truyền qua Zalo", "N04": None}


def test_an_old_postgresql_ledger_gets_its_value_column_widened(pg_server: str) -> None:
    from sqlalchemy import create_engine, text

    name, pg_url = _new_pg_db(pg_server)
    try:
        engine = create_engine(pg_url)
        with engine.begin() as conn:  # the table as the 32-bit ledger made it
            conn.execute(text("CREATE TABLE submission_values (id SERIAL PRIMARY KEY, submission_id INTEGER, "
                              "code VARCHAR(32), value_int INTEGER, value_text TEXT)"))
        led = Ledger(pg_url)
        with engine.begin() as conn:
            kind = conn.execute(text("SELECT data_type FROM information_schema.columns WHERE "
                                     "table_name = 'submission_values' AND column_name = 'value_int'")).scalar()
        assert kind == "bigint"
        led.record_submissions([new("a", values=(("W01", 10**12),))])
        assert led.submissions("cchc", "2021-03")[0].value_map() == {"W01": 10**12}
        led.engine.dispose()
        engine.dispose()
    finally:
        _drop_pg_db(pg_server, name)


# ------------------------------------------------------------------ chunked recording


def test_a_chunk_is_recorded_with_the_one_by_one_rules(ledger: Ledger) -> None:
    ledger.record_submissions([new("e", unit="CCVC", minutes=60)])  # already accepted, received at 10:00
    out = ledger.record_submissions([
        new("a", unit="VP", minutes=0),
        new("b", unit="VP", minutes=5),  # VP's correction: supersedes a
        new("a", unit="VP", minutes=9),  # the same content again in the chunk: recorded once
        new("c", unit="CCVC", minutes=30),  # older than CCVC's accepted e: itself superseded
        new("d", unit="TTr", status="rejected", values=(("W01", 3),), errors=(Issue("Thiếu số liệu W02"),)),
        new("e", unit="CCVC", minutes=60),  # already in the ledger: a duplicate
    ])
    assert [None if r is None else (r.status, r.unit_code) for r in out] == [
        ("accepted", "VP"), ("accepted", "VP"), None, ("superseded", "CCVC"), ("rejected", "TTr"), None]
    assert all(isinstance(r, Recorded) for r in out if r is not None)
    assert table(ledger) == [("a.xlsx", "VP", "superseded"), ("d.xlsx", "TTr", "rejected"),
                             ("b.xlsx", "VP", "accepted"), ("c.xlsx", "CCVC", "superseded"),
                             ("e.xlsx", "CCVC", "accepted")]
    ids = {s.filename: s.id for s in ledger.submissions("cchc", "2021-03")}
    events = [(e.entity_id, e.action, e.detail.get("by")) for e in ledger.audit_events("submission")]
    assert events == [
        (str(ids["e.xlsx"]), "accepted", None),
        (str(ids["a.xlsx"]), "accepted", None), (str(ids["b.xlsx"]), "accepted", None),
        (str(ids["a.xlsx"]), "superseded", ids["b.xlsx"]),
        (str(ids["c.xlsx"]), "accepted", None), (str(ids["c.xlsx"]), "superseded", ids["e.xlsx"]),
        (str(ids["d.xlsx"]), "rejected", None)]
    # values are kept for rejected submissions too (the Office may reopen one)
    d = ledger.submissions_by_id([ids["d.xlsx"]])[0]
    assert d.value_map() == {"W01": 3} and d.errors == [{"message": "Thiếu số liệu W02", "severity": "error"}]


def _snapshot(ledger: Ledger) -> tuple[list[Any], list[Any]]:
    subs = [s for p in ("2021-02", "2021-03") for s in ledger.submissions("cchc", p)]
    by_id = {s.id: s.content_hash for s in subs}
    rows = sorted((s.content_hash, s.period, s.unit_code, s.status, s.value_map().get("W01")) for s in subs)
    audit = [(by_id[int(e.entity_id)], e.action, by_id.get(e.detail.get("by")))
             for e in ledger.audit_events("submission")]
    return rows, audit


def test_chunked_and_one_by_one_recording_leave_the_same_ledger(url: str, tmp_path: Path) -> None:
    import random

    rnd = random.Random(10)
    news = []
    for i in range(120):  # resubmissions, late arrivals, duplicates, two periods, rejected and quarantined
        unit = rnd.choice(["VP", "TTr", "CCVC", "BTG", None])
        status = rnd.choice(["accepted", "accepted", "accepted", "rejected", "quarantined"])
        news.append(new(f"{rnd.randrange(90):03d}", unit=unit, status=status, minutes=rnd.randrange(600),
                        period=rnd.choice(["2021-02", "2021-03", "2021-03"]), values=(("W01", i),)))
    chunked = Ledger(url)
    results = []
    for i in range(0, len(news), 25):
        results += chunked.record_submissions(news[i:i + 25])
    one = Ledger(f"sqlite:///{tmp_path / 'one-by-one.sqlite3'}")
    singles = [one.record_submission(n) for n in news]
    assert [None if r is None else r.status for r in results] == [None if s is None else s.status for s in singles]
    assert _snapshot(chunked) == _snapshot(one)
    assert sum(r is not None for r in results) < len(news)  # the sample did contain duplicates
    chunked.engine.dispose()
    one.engine.dispose()


def test_record_submission_returns_the_stored_row(ledger: Ledger) -> None:
    sub = ledger.record_submission(new("a", values=(("W01", 12), ("K02", "Pa nô"))))
    assert sub is not None and sub.status == "accepted" and sub.value_map() == {"W01": 12, "K02": "Pa nô"}
    assert ledger.record_submission(new("a")) is None
    assert ledger.record_submissions([]) == []


# ------------------------------------------------------------------ status in SQL


def test_unit_statuses(ledger: Ledger) -> None:
    late = Issue("Giá trị W01 lớn bất thường", severity="warning", code="W01")
    ledger.record_submissions([
        new("v1", unit="VP", status="rejected", minutes=0, errors=(Issue("Thiếu W02"),)),
        new("v2", unit="VP", minutes=10, on_time=True),  # first valid: on time
        new("v3", unit="VP", minutes=3000, on_time=False, warnings=(late,)),  # correction after the deadline
        new("t1", unit="TTr", status="rejected", minutes=0, errors=(Issue("Sai kỳ"),)),
        new("t2", unit="TTr", status="rejected", minutes=5, errors=(Issue("Thiếu W01"), Issue("Âm H01"))),
        new("x1", unit="XDCQ", minutes=4000, on_time=False),
        new("q1", unit="BTG", status="quarantined"),  # quarantined only: not counted
        new("n1", unit=None, status="rejected"),  # no unit: listed elsewhere
        new("p1", unit="CCVC", period="2021-02"),  # another period
    ])
    ids = {s.filename.removesuffix(".xlsx"): s.id for s in ledger.submissions("cchc", "2021-03")}
    st = ledger.unit_standings("cchc", "2021-03")
    assert sorted(st) == ["TTr", "VP", "XDCQ"]
    vp, ttr, xdcq = st["VP"], st["TTr"], st["XDCQ"]
    assert (vp.submissions, vp.on_time, vp.accepted_id, vp.accepted_on_time) == (3, True, ids["v3"], False)
    assert vp.accepted_received_at == T0 + timedelta(minutes=3000)
    assert vp.warnings == (late.to_dict(),)
    assert (vp.rejected_id, vp.errors) == (ids["v1"], ({"message": "Thiếu W02", "severity": "error"},))
    assert (ttr.submissions, ttr.on_time, ttr.accepted_id, ttr.rejected_id) == (2, None, None, ids["t2"])
    assert [e["message"] for e in ttr.errors] == ["Thiếu W01", "Âm H01"]
    assert ttr.rejected_received_at == T0 + timedelta(minutes=5)
    assert (xdcq.on_time, xdcq.submissions, xdcq.errors) == (False, 1, ())
    assert ledger.unit_standings("cchc", "2021-04") == {}
    assert [(s.filename, s.unit_code, s.status) for s in ledger.quarantined("cchc", "2021-03")] == [
        ("q1.xlsx", "BTG", "quarantined"), ("n1.xlsx", None, "rejected")]

    counted = ledger.counted_reports("cchc", "2021-03")
    assert [(c.unit_code, c.submission_id, c.on_time, c.values) for c in counted] == [
        ("VP", ids["v3"], True, {"W01": 12}), ("XDCQ", ids["x1"], False, {"W01": 12})]

    # what a unit's page and the board read: one unit's submissions, and every submission's unit and channel
    assert [s.filename for s in ledger.submissions("cchc", "2021-03", unit_code="VP")] == [
        "v1.xlsx", "v2.xlsx", "v3.xlsx"]
    assert ledger.submissions("cchc", "2021-03", unit_code="CCVC") == []
    assert ledger.unit_standings("cchc", "2021-03", unit_code="TTr") == {"TTr": ttr}
    assert ledger.unit_standings("cchc", "2021-03", unit_code="BTG") == {}  # quarantined only
    assert ledger.submission_sources("cchc", "2021-03", unit_code="XDCQ") == [(ids["x1"], "XDCQ", "folder")]
    assert ledger.submission_sources("cchc", "2021-03") == [
        (ids[k], unit, "folder") for k, unit in (("v1", "VP"), ("t1", "TTr"), ("q1", "BTG"), ("n1", None),
                                                 ("t2", "TTr"), ("v2", "VP"), ("v3", "VP"), ("x1", "XDCQ"))]


def test_reopen_is_seen_by_the_status(ledger: Ledger) -> None:
    ledger.record_submissions([new("a", minutes=0), new("b", minutes=5)])
    a = next(s for s in ledger.submissions("cchc", "2021-03") if s.filename == "a.xlsx")
    ledger.reopen(a.id, "Giám đốc đồng ý dùng bản đầu")
    assert ledger.unit_standings("cchc", "2021-03")["VP"].accepted_id == a.id


# ------------------------------------------------------------------ known folder files


def test_known_files_are_skipped_by_name_size_and_mtime(ledger: Ledger) -> None:
    a = FileStamp("inbox/a.xlsx", 8519, 1_615_773_600_000_000_000)
    copy = FileStamp("inbox/a (copy).xlsx", 8519, 1_615_773_700_000_000_000)
    assert ledger.known_files([a]) == set()
    out = ledger.record_submissions([new("a", stamp=a), new("a", stamp=copy)])  # copy: duplicate, still known
    assert [r is not None for r in out] == [True, False]
    touched = FileStamp("inbox/a.xlsx", 8519, a.mtime_ns + 1)
    grown = FileStamp("inbox/a (copy).xlsx", 9000, copy.mtime_ns)
    other = FileStamp("inbox/b.xlsx", 8519, a.mtime_ns)
    assert ledger.known_files([a, copy, other]) == {"inbox/a.xlsx", "inbox/a (copy).xlsx"}
    assert ledger.known_files([touched, grown, other]) == set()
    # a file changed in place and recorded again: its new stamp replaces the old one
    ledger.record_submissions([new("c", stamp=touched)])
    assert (ledger.known_files([touched]), ledger.known_files([a])) == ({"inbox/a.xlsx"}, set())
    ledger.remember_files([(other, "b" * 64)])
    assert ledger.known_files([other]) == {"inbox/b.xlsx"}
    with ledger.reading() as s:
        assert s.get(SeenFile, seen_key("inbox/a.xlsx")).content_hash == "c" * 8


def _deep_path(levels: int = 14) -> str:
    """A path under the inbox as a share can hold it: folders of long Vietnamese names (up to 255 bytes each),
    none like another (a name PostgreSQL's index could compress away proves nothing)."""
    import random
    import string

    rnd = random.Random(levels)
    names = []
    for i in range(levels):
        tail = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(120))
        name = f"{i:02d} Báo cáo kết quả tuyên truyền cải cách hành chính Phòng Tổ chức - Biên chế {tail}"
        names.append(name.encode()[:250].decode("utf-8", "ignore"))
    return "inbox/" + "/".join(names) + "/Báo cáo tháng 3 năm 2021 của Văn phòng Sở.xlsx"


def test_text_from_units_and_the_share_of_any_length_is_recorded(ledger: Ledger) -> None:
    """A file deep in the share (a path far past 1,024 characters and PostgreSQL's 2,704-byte index entries),
    with a long name, from a sender and Message-ID as long as the mail transport passes on: recorded with its
    stamp, on SQLite and PostgreSQL, and skipped unread at the next scan."""
    ref = _deep_path()
    assert len(ref) > 1024 and len(ref.encode()) > 2704
    name = ref.rsplit("/", 1)[1] * 20  # a web or mail attachment name is the unit's text too
    stamp = FileStamp(ref, 8519, 1_615_773_600_000_000_000)
    sub = replace(new("a", stamp=stamp), source_ref=ref, filename=name, sender="a" * 300 + "@x.vn",
                  message_id="<" + "m" * 248 + ">")
    [done] = ledger.record_submissions([sub])
    assert done is not None
    [stored] = ledger.submissions("cchc", "2021-03")
    assert (stored.source_ref, stored.filename) == (ref, name)
    assert ledger.known_files([stamp]) == {ref}
    assert ledger.known_files([stamp, *(FileStamp(f"inbox/{i}.xlsx", 1, 1) for i in range(2001))]) == {ref}
    touched = FileStamp(ref, 8519, stamp.mtime_ns + 1)  # changed in place: remembered again, by its new stamp
    ledger.remember_files([(touched, "b" * 64)])
    assert (ledger.known_files([touched]), ledger.known_files([stamp])) == ({ref}, set())


def test_a_ledger_made_before_keeps_knowing_its_folder_files(url: str) -> None:
    """The folder files an older ledger remembered by path (`seen_files`, the path a VARCHAR(1024) key) are
    carried into `seen_paths` once: none is read and judged again; the old table and its rows stay."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:  # the table as the older ledger made it, with one remembered file
        conn.execute(text("CREATE TABLE seen_files (source_ref VARCHAR(1024) PRIMARY KEY, size BIGINT, "
                          "mtime_ns BIGINT, content_hash VARCHAR(64), first_seen_at TIMESTAMP WITH TIME ZONE)"))
        conn.execute(text("INSERT INTO seen_files VALUES ('inbox/Văn phòng/VP.xlsx', 10, 5, :h, :at)"),
                     {"h": "a" * 64, "at": T0})
    led = Ledger(url)
    old = FileStamp("inbox/Văn phòng/VP.xlsx", 10, 5)
    assert led.known_files([old]) == {old.source_ref}
    led.remember_files([(FileStamp(old.source_ref, 11, 6), "b" * 64)])  # changed since, remembered anew
    led.engine.dispose()
    again = Ledger(url)  # a later start copies nothing over what was remembered since
    assert again.known_files([FileStamp(old.source_ref, 11, 6)]) == {old.source_ref}
    assert again.known_files([old]) == set()
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM seen_files")).scalar() == 1  # nothing deleted
    again.engine.dispose()
    engine.dispose()


def test_file_stamp_of_a_path(tmp_path: Path) -> None:
    path = tmp_path / "vp.xlsx"
    path.write_bytes(b"x" * 10)
    os.utime(path, ns=(1_615_773_600_123_456_789, 1_615_773_600_123_456_789))
    assert FileStamp.of(path, "inbox/vp.xlsx") == FileStamp("inbox/vp.xlsx", 10, 1_615_773_600_123_456_789)


# ------------------------------------------------------------------ one SQLite writer


def _hold_write_lock(path: str, ready: Any, release: Any) -> None:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO cursors (name, value) VALUES ('other-process', '1')")
    ready.set()
    release.wait(30)
    conn.execute("COMMIT")
    conn.close()


def test_sqlite_writers_in_other_processes_wait_instead_of_failing(tmp_path: Path) -> None:
    """A read-then-write transaction never fails with 'database is locked' because another process wrote
    meanwhile: write transactions begin IMMEDIATE and wait (busy timeout)."""
    import threading

    path = tmp_path / "ledger.sqlite3"
    led = Ledger(f"sqlite:///{path}")
    mp = multiprocessing.get_context("spawn")
    ready, release = mp.Event(), mp.Event()
    proc = mp.Process(target=_hold_write_lock, args=(str(path), ready, release))
    proc.start()
    assert ready.wait(60)
    threading.Timer(1.0, release.set).start()
    led.record_message(key="k1", kind="rejection", report_id="cchc", period="2021-03", unit_code="VP",
                       recipients=["vp@example.vn"], subject="Trả lại", message_id="<1@x>", status="written")
    led.set_cursor("mine", "2")
    proc.join(30)
    assert proc.exitcode == 0
    assert (led.get_cursor("other-process"), led.get_cursor("mine")) == ("1", "2")
    assert [m.key for m in led.messages()] == ["k1"]
    with led.reading() as s:
        assert s.connection().exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    led.engine.dispose()


def test_sqlite_threads_write_one_at_a_time_and_lose_nothing(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledgers = [Ledger(url), Ledger(url)]  # two instances in one process share the file's writer lock

    def work(t: int) -> int:
        led = ledgers[t % 2]
        done = 0
        for k in range(10):
            chunk = [new(f"{t:02d}{k:02d}{j:02d}", unit=f"U{t}", minutes=k * 10 + j) for j in range(5)]
            done += sum(r is not None for r in led.record_submissions(chunk))
            led.set_cursor(f"t{t}", str(k))
        return done

    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(work, range(16))) == 16 * 10 * 5
    st = ledgers[0].unit_standings("cchc", "2021-03")
    assert len(st) == 16 and all(s.submissions == 50 and s.accepted_id is not None for s in st.values())
    assert sum(s.status == "accepted" for s in ledgers[0].submissions("cchc", "2021-03")) == 16


def test_update_cursors_reads_and_writes_as_one_step_whoever_else_writes(url: str) -> None:
    """Two runs updating one record at once (two collects' channel health): neither overwrites what the other
    wrote in between; here 4 threads on 2 ledgers add 1 to one counter 10 times each and none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    ledgers = [Ledger(url), Ledger(url)]

    def add(current: dict[str, str]) -> dict[str, str]:
        seen = int(current.get("counter", "0"))
        time.sleep(0.002)  # another writer would slip in here
        return {"counter": str(seen + 1)}

    def work(t: int) -> None:
        for _ in range(10):
            ledgers[t % 2].update_cursors(["counter"], add)

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(4)))
        assert ledgers[0].get_cursor("counter") == "40"
    finally:
        for led in ledgers:
            led.engine.dispose()


# ------------------------------------------------------------------ messages in one transaction


def test_record_messages_in_one_transaction(ledger: Ledger) -> None:
    def msg(key: str, status: str, mid: str, error: str | None = None) -> dict[str, Any]:
        return dict(key=key, kind="receipt", report_id="cchc", period="2021-03", unit_code="VP",
                    recipients=["vp@example.vn"], subject="Văn phòng Sở đã nhận báo cáo", message_id=mid,
                    status=status, error=error, eml_path=f"outbox/{key}.eml" if status == "written" else None)

    ledger.record_message(**msg("r1", "failed", "<1@x>", "Không kết nối được máy chủ thư"))
    ledger.record_messages([msg("r1", "sent", "<2@x>"), msg("r2", "written", "<3@x>"), msg("r2", "sent", "<4@x>")])
    got = {m.key: (m.status, m.attempts, m.message_id, m.error, m.eml_path) for m in ledger.messages("2021-03")}
    assert got == {"r1": ("sent", 2, "<2@x>", None, None), "r2": ("sent", 2, "<4@x>", None, "outbox/r2.eml")}
    assert [(e.entity_id, e.action) for e in ledger.audit_events("message")] == [
        ("r1", "failed"), ("r1", "sent"), ("r2", "written"), ("r2", "sent")]
    assert ledger.sent_keys(["r1", "r2", "r3"]) == {"r1", "r2"}


def test_owed_replies_page_through_every_reply_once_across_recording_times(ledger: Ledger) -> None:
    """Keyset pages over (submission, kind): replies recorded at different times, several kinds per
    submission, each comes back exactly once, in arrival order, whatever the page size."""
    from dataclasses import replace

    for batch in ("ab", "cde", "f"):  # three transactions: three owed_at times
        ledger.record_submissions([replace(new(h, unit=f"U{h}"), owes=("receipt", "rejection")) for h in batch])
    seen: list[tuple[int, str]] = []
    after = None
    while page := ledger.owed_reply_page("cchc", 3, after):
        seen += page
        after = page[-1]
    assert len(seen) == len(set(seen)) == 12
    assert seen == sorted(seen)
    ledger.settle_replies([(sid, kind, f"k{sid}{kind}") for sid, kind in seen[:5]])
    assert ledger.owed_reply_page("cchc", 100) == seen[5:]


def test_audit_details_are_stored_as_json_would_read_them():
    """Plain values go in as they are; anything else (a date, a status enum, a path) as JSON has it."""
    from datetime import datetime
    from pathlib import Path

    from tasks.ledger import _json_safe
    from tasks.types import SubmissionStatus

    plain = {"unit": "VP", "errors": 0, "ok": True, "reason": None, "ratio": 0.5}
    assert _json_safe(plain) is plain
    mixed = {"at": datetime(2021, 3, 16, 9, 30), "status": SubmissionStatus.ACCEPTED, "eml": Path("a/b.eml")}
    assert _json_safe(mixed) == {"at": "2021-03-16 09:30:00", "status": "accepted", "eml": "a/b.eml"}
    assert type(_json_safe(mixed)["status"]) is str


def test_driver_executemany_stores_what_sqlalchemy_would(ledger: Ledger) -> None:
    """Audit rows written straight through the driver read back as written (UTC time, JSON detail with
    Vietnamese text), on SQLite and PostgreSQL; a row that leaves a column to its default is refused rather
    than stored with NULL."""
    from tasks.ledger import AuditEvent, _executemany, _table, as_utc

    at = datetime(2021, 3, 15, 2, 30, tzinfo=UTC)
    rows = [{"at": at, "entity": "thử", "entity_id": str(i), "action": "ghi", "detail": {"đơn vị": f"U{i}", "n": i}}
            for i in range(3)]
    with ledger.session() as s:
        _executemany(s, _table(AuditEvent).insert(), rows)
    got = sorted(ledger.audit_events("thử"), key=lambda e: int(e.entity_id))
    assert [(e.entity_id, e.action, e.detail) for e in got] == [
        (str(i), "ghi", {"đơn vị": f"U{i}", "n": i}) for i in range(3)]
    assert all(as_utc(e.at) == at for e in got)
    with pytest.raises(ValueError, match="at"), ledger.session() as s:
        _executemany(s, _table(AuditEvent).insert(), [{"entity": "x", "entity_id": "1", "action": "a"}])
