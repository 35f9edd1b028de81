"""The ledger: every submission, value, message and state change, in SQLite or PostgreSQL.

It is what makes each step idempotent (a file, a sheet tab or an email is recorded once by its content
hash; a message once by its key) and auditable (nothing is deleted; status changes are logged).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from typing import cast as as_type

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    cast,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, raiseload, relationship, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from tasks.types import Issue, MessageStatus, SubmissionStatus

Sub, Msg = SubmissionStatus, MessageStatus  # the statuses the ledger stores (values are the strings)


def utcnow() -> datetime:
    return datetime.now(UTC)


_PLAIN = (str, int, float, bool, type(None))


def _json_safe(detail: dict[str, Any]) -> dict[str, Any]:
    """An audit detail as JSON will store it (anything else as its text); a detail of plain values, as most
    are (one per recorded submission and message), is taken as it is, without a round trip through JSON."""
    if all(type(v) in _PLAIN for v in detail.values()):
        return detail
    return json.loads(json.dumps(detail, default=str))


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _executemany(s: Session, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """One INSERT/UPDATE for many rows through the driver's executemany: compiled once for the dialect, each
    row's values passed through their columns' own bind processors (datetimes on SQLite, JSON) in one loop.
    SQLAlchemy's executemany builds and checks a parameter set per row through several layers: for a chunk's
    thousands of audit, owed-reply and seen-file rows that cost more than SQLite's insert itself. Every row
    has the first row's keys; any other parameter must hold its value in the statement."""
    if not rows:
        return
    conn = s.connection()
    keys = list(rows[0])
    compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
    fixed = compiled.construct_params(_check=False)
    given = set(keys)
    missing = [name for name, bind in compiled.binds.items()
               if name not in given and bind.value is None and bind.callable is None]
    if missing:  # a column default or an unset parameter would go to the database as NULL
        raise ValueError(f"rows lack {missing}")
    processors = compiled._bind_processors
    names = list(compiled.positiontup or ()) if compiled.positional else list(fixed)
    columns = []  # column by column: one list comprehension each, rows zipped together in C
    for name in names:
        proc = processors.get(name)
        if name not in given:
            columns.append([proc(fixed[name]) if proc else fixed[name]] * len(rows))
        elif proc is None:
            columns.append([row[name] for row in rows])
        else:
            columns.append([proc(row[name]) for row in rows])
    params: list[Any]
    if compiled.positional:
        params = list(zip(*columns, strict=True))
    else:
        escaped = compiled.escaped_bind_names or {}
        wire = [escaped.get(name, name) for name in names]
        params = [dict(zip(wire, values, strict=True)) for values in zip(*columns, strict=True)]
    conn.exec_driver_sql(compiled.string, params)


def _table(model: type[Any]) -> Table:
    """A model's Core table (typed: `Model.__table__` is a FromClause to the type checker)."""
    return as_type(Table, model.__table__)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("report_id", "period", "content_hash", name="uq_submission_content"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[str] = mapped_column(String(32), index=True)
    unit_code: Mapped[str | None] = mapped_column(String(20), index=True)
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(320))
    message_id: Mapped[str | None] = mapped_column(String(998))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)  # accepted|rejected|superseded|quarantined
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str | None] = mapped_column(Text)  # why quarantined
    values: Mapped[list[SubmissionValue]] = relationship(back_populates="submission", lazy="selectin")

    def value_map(self) -> dict[str, int | str | None]:
        return {v.code: (v.value_int if v.value_int is not None else v.value_text) for v in self.values}


class SubmissionValue(Base):
    __tablename__ = "submission_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    value_int: Mapped[int | None] = mapped_column(BigInteger)  # 64-bit everywhere: values up to 10^12 and more
    value_text: Mapped[str | None] = mapped_column(Text)
    submission: Mapped[Submission] = relationship(back_populates="values")


class MessageRecord(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    report_id: Mapped[str | None] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(32), index=True)
    unit_code: Mapped[str | None] = mapped_column(String(20))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(998))
    status: Mapped[str] = mapped_column(String(16))  # written|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    eml_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Cursor(Base):
    """Small persistent positions (IMAP last UID, ...)."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class OwedReply(Base):
    """A reply a unit is owed for one submission (its rejection, or its receipt), written in the same
    transaction as the submission: whatever run comes next sends what is still owed, a crash loses nothing.
    `settled_at` is set once the message with `message_key` is written (outbox only) or sent (SMTP)."""

    __tablename__ = "owed_replies"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # a MessageKind value
    report_id: Mapped[str] = mapped_column(String(64), index=True)
    owed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    message_key: Mapped[str | None] = mapped_column(String(255))


class SeenFile(Base):
    """A folder file whose content is recorded, by name, size and mtime: a later scan skips it unread.

    Keyed by the SHA-256 of its path (`seen_key`), the path itself kept whole beside it: a path on the share
    has no length limit worth trusting (deep folders, 255-byte Vietnamese names), and PostgreSQL refuses a
    longer VARCHAR and any index entry past 2,704 bytes. Ledgers made before kept these rows in `seen_files`
    (the path as the key); they are carried over once (`Ledger._carry_seen_files`)."""

    __tablename__ = "seen_paths"

    ref_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # seen_key(source_ref)
    source_ref: Mapped[str] = mapped_column(Text)  # path under the data dir
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def seen_key(source_ref: str) -> str:
    """The key a folder file's stamp is remembered under: the SHA-256 of its path."""
    return hashlib.sha256(source_ref.encode("utf-8", "surrogateescape")).hexdigest()


# the table `SeenFile` replaced, as ledgers made before it have it (read once, never written or dropped)
_OLD_SEEN = Table("seen_files", MetaData(), Column("source_ref", Text, primary_key=True),
                  Column("size", BigInteger), Column("mtime_ns", BigInteger), Column("content_hash", String(64)),
                  Column("first_seen_at", DateTime(timezone=True)))
_SEEN_CARRIED = "schema:seen_files_carried"  # the cursor saying the old rows were carried over


@dataclass(frozen=True)
class FileStamp:
    """What identifies an unchanged file without reading it: its path (source ref), size and mtime."""

    source_ref: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path, source_ref: str) -> FileStamp:
        st = path.stat()
        return cls(source_ref, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Recorded:
    """One submission as `record_submissions` recorded it. `status` is the one right after its own
    recording, as recording documents one by one returns it: "superseded" when a newer accepted one was
    already there; a later accepted file of the same chunk may still supersede it in the ledger."""

    id: int
    status: str
    report_id: str
    period: str
    unit_code: str | None


@dataclass(frozen=True)
class UnitStanding:
    """One unit's standing in one report and period, as the status table and reminders need it."""

    unit_code: str
    submissions: int  # every non-quarantined submission of the unit
    on_time: bool | None  # timeliness, decided by the unit's first valid (accepted or superseded) report
    accepted_id: int | None  # the counted submission: the latest accepted
    accepted_received_at: datetime | None
    accepted_on_time: bool | None  # the counted submission's own flag
    warnings: tuple[dict[str, Any], ...]  # the counted submission's warnings
    rejected_id: int | None  # the latest rejected submission
    rejected_received_at: datetime | None
    errors: tuple[dict[str, Any], ...]  # the latest rejected submission's errors


_NO_ROW: tuple[Any, ...] = (None,) * 9  # unit_standings: a unit without an accepted (or rejected) row


@dataclass(frozen=True)
class CountedReport:
    """A unit's counted (latest accepted) submission with its values, for consolidation."""

    unit_code: str
    submission_id: int
    received_at: datetime
    on_time: bool  # decided by the unit's first valid report
    values: dict[str, int | str | None]


@dataclass(frozen=True)
class NewSubmission:
    report_id: str
    period: str
    unit_code: str | None
    source: str
    source_ref: str
    filename: str
    received_at: datetime
    content_hash: str
    status: str
    on_time: bool | None = None
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    values: tuple[tuple[str, int | str | None], ...] = ()
    sender: str | None = None
    message_id: str | None = None
    reason: str | None = None
    stamp: FileStamp | None = None  # a folder file: remembered with the content so the next scan skips it
    owes: tuple[str, ...] = ()  # the replies this submission is owed (MessageKind values), recorded with it


def _issues(raw: str | None) -> tuple[dict[str, Any], ...]:
    return () if raw in (None, "[]", "null") else tuple(json.loads(raw) or ())


SQLITE_BUSY_MS = 60_000
_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _file_lock(key: str) -> threading.RLock:
    """One writer per SQLite file in this process: threads queue here, not on SQLite's busy loop."""
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")  # writers in other processes wait, they do not fail
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """Write transactions take SQLite's write lock at BEGIN, so a read-then-write never fails half-way with
    SQLITE_BUSY when another process wrote in between (busy_timeout applies to BEGIN IMMEDIATE)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("baocao_write") else "BEGIN")


class Ledger:
    """Thin repository over the tables; every write is one transaction.

    SQLite (the default): one writer at a time per file (a process-wide lock, then BEGIN IMMEDIATE with a
    busy timeout across processes), WAL so reads never wait. PostgreSQL: concurrent writers, the unique
    constraints and row or advisory locks decide.
    """

    def __init__(self, url: str):
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            # a few connections are plenty: writes queue on the lock, reads are short
            memory = parsed.database in (None, "", ":memory:")
            self.engine: Engine = create_engine(url, future=True) if memory else create_engine(
                url, future=True, pool_size=4, max_overflow=12, pool_timeout=120,
                connect_args={"timeout": SQLITE_BUSY_MS / 1000})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
            self._lock: threading.RLock | None = _file_lock(str(parsed.database))
        else:
            self.engine = create_engine(url, future=True, pool_pre_ping=True, pool_size=5, max_overflow=10)
            self._lock = None
        self._writer_bind = self.engine.execution_options(baocao_write=True)
        self._create_tables()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._writer_bind, expire_on_commit=False)
        self._carry_seen_files()

    def _create_tables(self) -> None:
        """Idempotent; two workers starting on a fresh PostgreSQL ledger may race, so retry once it lost."""
        for attempt in range(3):
            try:
                with self._write_lock():
                    Base.metadata.create_all(self._writer_bind)
                    self._widen_integers()
                return
            except (IntegrityError, ProgrammingError):
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _carry_seen_files(self) -> None:
        """A ledger made before `seen_paths` remembered its folder files in `seen_files`: their rows are copied
        over once (a row already remembered anew wins), so no recorded file is read and judged again; the old
        table stays as it was (nothing is deleted). Two workers starting at once: one copies, the other waits
        for it and finds the copy done."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("seen_files"):
                return
        with self.session() as s:
            self._lock_keys(s, [_SEEN_CARRIED])
            if s.get(Cursor, _SEEN_CARRIED) is not None:
                return
            t = _table(SeenFile)
            stmt = self._insert()(t).on_conflict_do_nothing(index_elements=[t.c.ref_key])
            rows = s.execute(select(_OLD_SEEN)).mappings()
            while batch := rows.fetchmany(5000):
                _executemany(s, stmt, [{**row, "ref_key": seen_key(row["source_ref"])} for row in batch])
            s.add(Cursor(name=_SEEN_CARRIED, value=utcnow().isoformat()))

    def _widen_integers(self) -> None:
        """A PostgreSQL ledger made before values were 64-bit gets its column widened (SQLite's always is)."""
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.begin() as conn:
            kind = conn.execute(text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'submission_values' AND column_name = 'value_int'")).scalar()
            if kind == "integer":
                conn.execute(text("ALTER TABLE submission_values ALTER COLUMN value_int TYPE BIGINT"))

    @classmethod
    def for_data_dir(cls, data_dir: Path, url: str | None = None) -> Ledger:
        if url is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{(data_dir / 'ledger.sqlite3').resolve()}"
        return cls(url)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction (SQLite: this process's only writer on the file while it runs)."""
        with self._write_lock(), self._write_sessions() as s, s.begin():
            yield s

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction: never waits for a writer (WAL on SQLite, MVCC on PostgreSQL)."""
        with self._sessions() as s, s.begin():
            yield s

    def _insert(self) -> Any:
        return pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert

    def _lock_keys(self, s: Session, keys: list[str]) -> None:
        """PostgreSQL: one transaction-scoped advisory lock per key, all in one round trip, taken in sorted
        order (two transactions locking overlapping keys cannot deadlock). SQLite needs none: a write
        transaction holds the file's write lock from BEGIN."""
        if self.engine.dialect.name == "postgresql":
            s.execute(text("SELECT count(pg_advisory_xact_lock(hashtext(k))) FROM "
                           "(SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k COLLATE \"C\") AS q"),
                      {"keys": keys})

    def _audit(self, s: Session, entity: str, entity_id: Any, action: str, **detail: Any) -> None:
        s.add(AuditEvent(entity=entity, entity_id=str(entity_id), action=action, detail=_json_safe(detail)))

    # ------------------------------------------------------------ submissions

    def known_hashes(self, report_id: str, period: str | None = None,
                     among: Iterable[str] | None = None) -> set[str]:
        """Contents already recorded (for one period, or any): a file is processed once. `among`: only
        these hashes are looked up (a chunk of new files asks about its own, not about every month's)."""
        wanted = None if among is None else list(dict.fromkeys(among))
        with self.reading() as s:
            q = select(Submission.content_hash).where(Submission.report_id == report_id)
            if period is not None:
                q = q.where(Submission.period == period)
            if wanted is None:
                return set(s.scalars(q))
            found: set[str] = set()
            for i in range(0, len(wanted), 5000):
                found.update(s.scalars(q.where(Submission.content_hash.in_(wanted[i:i + 5000]))))
            return found

    def record_submission(self, new: NewSubmission) -> Submission | None:
        """Store one submission; None when the same content was already recorded for this period.

        The one-document form of `record_submissions` (same rules), returning the stored row.
        """
        [done] = self.record_submissions([new])
        if done is None:
            return None
        return self.submissions_by_id([done.id])[0]

    def record_submissions(self, news: Sequence[NewSubmission]) -> list[Recorded | None]:
        """Store a chunk of submissions in ONE transaction; for each, what became of it (None: a duplicate).

        Same rules as recording them one by one, in order:
        - a content is recorded once per (report, period, content hash): insert-or-ignore, so concurrent
          collectors are safe (the unique constraint decides who wins); the same content twice in one chunk
          is recorded once, the first time;
        - values (also those of rejected submissions, which the Office may reopen) and one audit row per
          submission are written with executemany;
        - a new accepted submission supersedes the unit's earlier accepted one (the row is kept, audited);
          an older file that reaches the ledger late is itself superseded by the newer accepted one;
        - a folder file's stamp (name, size, mtime) is remembered with its content hash, for every document
          of the chunk that carries one (duplicates too), so the next scan skips it unread.
        """
        if not news:
            return []
        now = utcnow()
        first: dict[tuple[str, str, str], int] = {}
        rows = []
        for i, new in enumerate(news):
            key = (new.report_id, new.period, new.content_hash)
            if key in first:
                continue
            first[key] = i
            rows.append({
                "report_id": new.report_id, "period": new.period, "unit_code": new.unit_code,
                "source": new.source, "source_ref": new.source_ref, "filename": new.filename,
                "sender": new.sender, "message_id": new.message_id, "received_at": as_utc(new.received_at),
                "recorded_at": now, "content_hash": new.content_hash, "status": new.status,
                "on_time": new.on_time, "errors": [i.to_dict() for i in new.errors],
                "warnings": [i.to_dict() for i in new.warnings], "reason": new.reason,
            })
        table = _table(Submission)
        with self.session() as s:
            stmt = self._insert()(table).on_conflict_do_nothing(
                index_elements=["report_id", "period", "content_hash"]).returning(
                table.c.id, table.c.report_id, table.c.period, table.c.content_hash)
            ids = {(r.report_id, r.period, r.content_hash): r.id for r in s.execute(stmt, rows)}
            recorded: list[tuple[int, NewSubmission]] = []
            for i, new in enumerate(news):
                key = (new.report_id, new.period, new.content_hash)
                if first[key] == i and key in ids:
                    recorded.append((ids[key], new))
            values = [(sid, code, value if isinstance(value, int) else None, value if isinstance(value, str) else None)
                      for sid, new in recorded for code, value in new.values]
            if values:  # ~20 rows a submission, no value needing a bind processor: tuples, not _executemany's dicts
                mark = "?" if self.is_sqlite else "%s"
                s.connection().exec_driver_sql(
                    "INSERT INTO submission_values (submission_id, code, value_int, value_text) "
                    f"VALUES ({mark}, {mark}, {mark}, {mark})", values)
            own, audit = self._supersede_all(s, recorded, now)
            _executemany(s, _table(AuditEvent).insert(), audit)
            self._remember(s, [(new.stamp, new.content_hash) for new in news if new.stamp is not None], now)
            _executemany(s, _table(OwedReply).insert(), [
                {"submission_id": sid, "kind": kind, "report_id": new.report_id, "owed_at": now}
                for sid, new in recorded for kind in new.owes])
        by_key = {(new.report_id, new.period, new.content_hash): (sid, new) for sid, new in recorded}
        out: list[Recorded | None] = []
        for i, new in enumerate(news):
            key = (new.report_id, new.period, new.content_hash)
            hit = by_key.get(key) if first[key] == i else None
            out.append(None if hit is None else Recorded(hit[0], own.get(hit[0], new.status), new.report_id,
                                                         new.period, new.unit_code))
        return out

    def _supersede_all(self, s: Session, recorded: list[tuple[int, NewSubmission]],
                       now: datetime) -> tuple[dict[int, str], list[dict[str, Any]]]:
        """Superseding for a whole chunk: the earlier accepted rows read in one query (locked), the rules
        replayed in order in memory, the losers updated in one statement. Returns each recorded row's status
        right after its own recording (what recording it alone would have returned) and the audit rows, in
        the order one-by-one recording would write them."""
        table = _table(Submission)
        groups = sorted({(n.report_id, n.period, n.unit_code) for _, n in recorded if n.status == Sub.ACCEPTED},
                        key=lambda g: (g[0], g[1], g[2] or ""))
        current: dict[tuple[str, str, str | None], list[list[Any]]] = {g: [] for g in groups}
        new_ids = {sid for sid, _ in recorded}
        if groups:
            # two workers recording one unit: one after the other
            self._lock_keys(s, ["\x1f".join(map(str, g)) for g in groups])
            units = {g[2] for g in groups}
            unit_filter: ColumnElement[bool] = table.c.unit_code.in_([u for u in units if u is not None])
            if None in units:
                unit_filter = unit_filter | table.c.unit_code.is_(None)
            q = select(table.c.id, table.c.report_id, table.c.period, table.c.unit_code, table.c.received_at).where(
                table.c.report_id.in_({g[0] for g in groups}), table.c.period.in_({g[1] for g in groups}),
                table.c.status == Sub.ACCEPTED, unit_filter).order_by(table.c.id)
            if self.engine.dialect.name == "postgresql":
                q = q.with_for_update()
            for row in s.execute(q):
                g = (row.report_id, row.period, row.unit_code)
                if g in current and row.id not in new_ids:
                    current[g].append([row.id, as_utc(row.received_at)])
        status: dict[int, str] = {}
        own: dict[int, str] = {}  # each row's status right after its own recording
        audit: list[dict[str, Any]] = []

        def event(entity_id: int, action: str, **detail: Any) -> None:
            audit.append({"at": now, "entity": "submission", "entity_id": str(entity_id), "action": action,
                          "detail": _json_safe(detail)})

        for sid, new in recorded:
            event(sid, new.status, unit=new.unit_code, period=new.period, source=new.source_ref,
                  errors=len(new.errors))
            if new.status != Sub.ACCEPTED:
                continue
            received = as_utc(new.received_at)
            accepted = current[(new.report_id, new.period, new.unit_code)]
            keep = []
            for old_id, old_received in accepted:
                if old_received <= received:
                    status[old_id] = Sub.SUPERSEDED
                    event(old_id, "superseded", by=sid)
                else:  # an older file arrived late in the ledger: it does not replace the newer one
                    status[sid] = Sub.SUPERSEDED
                    event(sid, "superseded", by=old_id)
                    keep.append([old_id, old_received])
            if status.get(sid) != Sub.SUPERSEDED:
                keep.append([sid, received])
            accepted[:] = keep
            own[sid] = status.get(sid, new.status)
        losers = sorted(i for i, st in status.items() if st == Sub.SUPERSEDED)
        for i in range(0, len(losers), 5000):
            s.execute(table.update().where(table.c.id.in_(losers[i:i + 5000])).values(status=Sub.SUPERSEDED))
        return own, audit

    # ------------------------------------------------------------ folder files already recorded

    def known_files(self, stamps: Iterable[FileStamp]) -> set[str]:
        """The source refs among `stamps` whose content is recorded and which are unchanged since (same size
        and mtime): a scan skips them without reading or hashing. A chunk's few hundred files are looked up
        by name; a whole inbox's thousands read the table once (half the time of looking each up, measured
        at 10,000)."""
        wanted = {st.source_ref: st for st in stamps}
        if not wanted:
            return set()
        t = _table(SeenFile)
        query = select(t.c.source_ref, t.c.size, t.c.mtime_ns)
        with self.reading() as s:
            if len(wanted) > 2000:
                rows = s.execute(query).all()
            else:
                rows = s.execute(query.where(t.c.ref_key.in_([seen_key(ref) for ref in wanted]))).all()
        return {ref for ref, size, mtime_ns in rows
                if (st := wanted.get(ref)) is not None and st.size == size and st.mtime_ns == mtime_ns}

    def remember_files(self, files: Iterable[tuple[FileStamp, str]]) -> None:
        """Remember (stamp, content hash) pairs whose content is recorded (`record_submissions` does this
        itself for submissions carrying a stamp)."""
        files = list(files)
        if files:
            with self.session() as s:
                self._remember(s, files, utcnow())

    def _remember(self, s: Session, files: list[tuple[FileStamp, str]], now: datetime) -> None:
        if not files:
            return
        latest = {st.source_ref: {"ref_key": seen_key(st.source_ref), "source_ref": st.source_ref, "size": st.size,
                                  "mtime_ns": st.mtime_ns, "content_hash": digest, "first_seen_at": now}
                  for st, digest in files}
        t = _table(SeenFile)
        stmt = self._insert()(t)
        stmt = stmt.on_conflict_do_update(index_elements=[t.c.ref_key], set_={
            "size": stmt.excluded.size, "mtime_ns": stmt.excluded.mtime_ns,
            "content_hash": stmt.excluded.content_hash})
        _executemany(s, stmt, list(latest.values()))

    # ------------------------------------------------------------ status, in SQL

    def unit_standings(self, report_id: str, period: str, unit_code: str | None = None) -> dict[str, UnitStanding]:
        """Per unit with at least one non-quarantined submission in this report and period: its counted
        (latest accepted) submission, the timeliness of its first valid one, its latest rejected one and how
        many it sent. One query (window functions), at most two small rows per unit come back.

        Units absent from the result have sent nothing countable ("Chưa báo cáo"). The status table's rules:
        a unit with an accepted submission is on time or late by `on_time`; without one, a unit that sent
        something shows its latest rejected submission (when no submission is accepted, no other status than
        rejected can remain: superseding needs an accepted one). `unit_code` asks for one unit's standing
        (its page needs no other).
        """
        t = _table(Submission)
        one_unit = t.c.unit_code == unit_code if unit_code is not None else t.c.unit_code.is_not(None)
        valid = t.c.status.in_((Sub.ACCEPTED, Sub.SUPERSEDED))
        ranked = select(
            t.c.id, t.c.unit_code, t.c.status, t.c.received_at, t.c.on_time,
            # only what is shown: the counted submission's warnings, the rejected one's errors (JSON text)
            case((t.c.status == Sub.ACCEPTED, cast(t.c.warnings, Text)), else_=cast(t.c.errors, Text)).label("issues"),
            func.row_number().over(partition_by=(t.c.unit_code, t.c.status),
                                   order_by=(t.c.received_at.desc(), t.c.id.desc())).label("rn"),
            func.count().over(partition_by=t.c.unit_code).label("n"),
            func.first_value(t.c.on_time).over(partition_by=(t.c.unit_code, valid),
                                               order_by=(t.c.received_at, t.c.id)).label("first_on_time"),
        ).where(t.c.report_id == report_id, t.c.period == period, one_unit,
                t.c.status != Sub.QUARANTINED).subquery()
        q = select(ranked).where(ranked.c.rn == 1, ranked.c.status.in_((Sub.ACCEPTED, Sub.REJECTED)))
        with self.reading() as s:
            rows = s.execute(q).all()
        # rows as plain tuples, taken apart by position: a Row's attribute lookups cost a province's status
        # table a third of its time (10,000 units: 0.05 s)
        acc: dict[str, tuple[Any, ...]] = {}
        rej: dict[str, tuple[Any, ...]] = {}
        count: dict[str, int] = {}
        for r in rows:
            _, code, status, _, _, _, _, n, _ = r  # the columns of `ranked`, in order
            (acc if status == Sub.ACCEPTED else rej)[code] = r
            count[code] = n
        out = {}
        for code, n in count.items():
            accepted, rejected = acc.get(code, _NO_ROW), rej.get(code, _NO_ROW)
            a_id, _, _, a_received, a_on_time, a_issues, _, _, first_on_time = accepted
            j_id, _, _, j_received, _, j_issues, _, _, _ = rejected
            out[code] = UnitStanding(
                unit_code=code, submissions=n,
                on_time=None if a_id is None else bool(first_on_time if first_on_time is not None else a_on_time),
                accepted_id=a_id, accepted_received_at=as_utc(a_received) if a_id is not None else None,
                accepted_on_time=None if a_id is None or a_on_time is None else bool(a_on_time),
                warnings=_issues(a_issues) if a_id is not None else (),
                rejected_id=j_id, rejected_received_at=as_utc(j_received) if j_id is not None else None,
                errors=_issues(j_issues) if j_id is not None else ())
        return out

    def counted_reports(self, report_id: str, period: str) -> list[CountedReport]:
        """Each unit's counted (latest accepted) submission with its values and the timeliness of its first
        valid report: what consolidation merges. Two queries, no ORM object per submission or value."""
        statuses = self.unit_standings(report_id, period)
        ids = {st.accepted_id: st for st in statuses.values() if st.accepted_id is not None}
        if not ids:
            return []
        v = _table(SubmissionValue)
        t = _table(Submission)
        values: dict[int, dict[str, int | str | None]] = {i: {} for i in ids}
        q = select(v.c.submission_id, v.c.code, v.c.value_int, v.c.value_text).join(
            t, t.c.id == v.c.submission_id).where(
            t.c.report_id == report_id, t.c.period == period, t.c.status == Sub.ACCEPTED).order_by(v.c.id)
        with self.reading() as s:
            for sid, code, value_int, value_text in s.execute(q).all():
                if sid in values:
                    values[sid][code] = value_int if value_int is not None else value_text
        return [CountedReport(st.unit_code, sid, as_type(datetime, st.accepted_received_at), bool(st.on_time),
                              values[sid])
                for sid, st in sorted(ids.items(), key=lambda kv: kv[1].unit_code)]

    def submissions(self, report_id: str, period: str, statuses: Iterable[str] | None = None,
                    unit_code: str | None = None, source: str | None = None) -> list[Submission]:
        """The period's submissions, oldest first; `unit_code` keeps one unit's, `source` one channel's
        (filtered in SQL: a unit's page must not load the whole province's)."""
        with self.reading() as s:
            q = select(Submission).where(Submission.report_id == report_id, Submission.period == period)
            if statuses is not None:
                q = q.where(Submission.status.in_(list(statuses)))
            if unit_code is not None:
                q = q.where(Submission.unit_code == unit_code)
            if source is not None:
                q = q.where(Submission.source == source)
            return list(s.scalars(q.order_by(Submission.received_at, Submission.id)))

    def submission_sources(self, report_id: str, period: str,
                           unit_code: str | None = None) -> list[tuple[int, str | None, str]]:
        """(id, unit code, channel) of every submission of the period (or of one unit's), oldest first: what
        the board counts and shows per unit, without loading every submission and its values."""
        q = select(Submission.id, Submission.unit_code, Submission.source).where(
            Submission.report_id == report_id, Submission.period == period)
        if unit_code is not None:
            q = q.where(Submission.unit_code == unit_code)
        with self.reading() as s:
            rows = s.execute(q.order_by(Submission.received_at, Submission.id))
            return [(sid, code, source) for sid, code, source in rows]

    def quarantined(self, report_id: str, period: str) -> list[Submission]:
        """Quarantined submissions and those no unit could be read from (filtered in SQL: the few the
        operator must look at, not every submission of the period)."""
        with self.reading() as s:
            return list(s.scalars(select(Submission).where(
                Submission.report_id == report_id, Submission.period == period,
                (Submission.status == Sub.QUARANTINED) | Submission.unit_code.is_(None),
            ).order_by(Submission.received_at, Submission.id)))

    def submissions_by_id(self, ids: Iterable[int], values: bool = True) -> list[Submission]:
        """The submissions with these ids; `values=False` leaves their values unloaded (touching them raises):
        a receipt needs none, and loading 15 value objects per submission is most of the cost at scale."""
        ids = list(ids)
        if not ids:
            return []
        query = select(Submission).where(Submission.id.in_(ids))
        if not values:
            query = query.options(raiseload(Submission.values))
        with self.reading() as s:
            return list(s.scalars(query))

    def reopen(self, submission_id: int, note: str) -> None:
        """Operator override: a rejected or superseded submission becomes the unit's accepted one."""
        with self.session() as s:
            sub = s.get(Submission, submission_id)
            if sub is None:
                raise KeyError(submission_id)
            if sub.unit_code is None or sub.status == Sub.QUARANTINED:
                raise ValueError(f"Báo cáo số {submission_id} không xác định được đơn vị hoặc đang bị cách ly "
                                 "(người gửi không phải đầu mối): không thể chấp nhận.")
            for other in s.scalars(select(Submission).where(
                    Submission.report_id == sub.report_id, Submission.period == sub.period,
                    Submission.unit_code == sub.unit_code, Submission.status == Sub.ACCEPTED)):
                other.status = Sub.SUPERSEDED
                self._audit(s, "submission", other.id, "superseded", by=sub.id, note=note)
            sub.status = Sub.ACCEPTED
            self._audit(s, "submission", sub.id, "reopened", note=note)

    # ------------------------------------------------------------ messages

    def message(self, key: str) -> MessageRecord | None:
        with self.reading() as s:
            return s.scalar(select(MessageRecord).where(MessageRecord.key == key))

    def sent_keys(self, keys: Iterable[str], statuses: Iterable[str] = (Msg.WRITTEN, Msg.SENT)) -> set[str]:
        """The keys among `keys` whose message is in one of `statuses` (one query per 5,000 keys)."""
        keys, wanted = list(keys), list(statuses)
        found: set[str] = set()
        with self.reading() as s:
            for i in range(0, len(keys), 5000):
                found.update(s.scalars(select(MessageRecord.key).where(
                    MessageRecord.key.in_(keys[i:i + 5000]), MessageRecord.status.in_(wanted))))
        return found

    def eml_paths(self, keys: Iterable[str]) -> dict[str, str]:
        """The .eml written for each of `keys` that has one (one query per 5,000 keys)."""
        keys = list(keys)
        found: dict[str, str] = {}
        t = _table(MessageRecord)
        with self.reading() as s:
            for i in range(0, len(keys), 5000):
                found.update((r.key, r.eml_path) for r in s.execute(select(t.c.key, t.c.eml_path).where(
                    t.c.key.in_(keys[i:i + 5000]), t.c.eml_path.is_not(None))))
        return found

    def owed_reply_page(self, report_id: str, limit: int = 5000,
                        after: tuple[int, str] | None = None) -> list[tuple[int, str]]:
        """One page of owed replies as (submission id, kind), in the order the next page follows: by
        submission, which is arrival order (no timestamp to read back per row)."""
        t = _table(OwedReply)
        q = select(t.c.submission_id, t.c.kind).where(t.c.report_id == report_id, t.c.settled_at.is_(None))
        if after is not None:
            q = q.where(tuple_(t.c.submission_id, t.c.kind) > tuple_(*after))
        with self.reading() as s:
            return [(r.submission_id, r.kind) for r in s.execute(
                q.order_by(t.c.submission_id, t.c.kind).limit(limit))]

    def settle_replies(self, settled: Iterable[tuple[int, str, str]]) -> None:
        """Mark owed replies (submission id, kind, message key) as done (one executemany)."""
        rows = [{"sid": sid, "k": kind, "key": key} for sid, kind, key in settled]
        if not rows:
            return
        t = _table(OwedReply)
        with self.session() as s:
            _executemany(s, t.update().where(t.c.submission_id == bindparam("sid"), t.c.kind == bindparam("k"))
                         .values(settled_at=utcnow(), message_key=bindparam("key")), rows)

    def record_message(self, *, key: str, kind: str, report_id: str | None, period: str | None,
                       unit_code: str | None, recipients: list[str], subject: str, message_id: str,
                       status: str, error: str | None = None, eml_path: str | None = None) -> None:
        self.record_messages([dict(key=key, kind=kind, report_id=report_id, period=period, unit_code=unit_code,
                                   recipients=recipients, subject=subject, message_id=message_id, status=status,
                                   error=error, eml_path=eml_path)])

    def record_messages(self, records: Sequence[dict[str, Any]]) -> None:
        """Several messages' states in ONE transaction (each dict: the keyword arguments of `record_message`),
        with the same rules: a new key is inserted with one attempt, a known key gets its status, error and
        Message-ID replaced and one more attempt; one audit row each, in order. Core statements, executemany:
        a collect's thousands of receipts are three statements, not thousands of ORM objects."""
        if not records:
            return
        now = utcnow()
        t = _table(MessageRecord)
        keys = list(dict.fromkeys(r["key"] for r in records))
        with self.session() as s:
            known: set[str] = set()
            for i in range(0, len(keys), 5000):
                known.update(s.scalars(select(t.c.key).where(t.c.key.in_(keys[i:i + 5000])).with_for_update()))
            inserts: dict[str, dict[str, Any]] = {}
            updates: dict[str, dict[str, Any]] = {}
            for r in records:  # in order: a key seen twice in one batch is inserted, then updated
                key = r["key"]
                if key in known:
                    row = updates.setdefault(key, {"k": key, "n": 0, "eml": None})
                    row.update(st=r["status"], err=r.get("error"), mid=r["message_id"], n=row["n"] + 1,
                               eml=r.get("eml_path") or row["eml"])
                elif key in inserts:
                    row = inserts[key]
                    row.update(status=r["status"], error=r.get("error"), message_id=r["message_id"],
                               attempts=row["attempts"] + 1, eml_path=r.get("eml_path") or row["eml_path"])
                else:
                    inserts[key] = dict(key=key, kind=r["kind"], report_id=r.get("report_id"),
                                        period=r.get("period"), unit_code=r.get("unit_code"),
                                        recipients=list(r.get("recipients") or []), subject=r["subject"],
                                        message_id=r["message_id"], status=r["status"], attempts=1,
                                        error=r.get("error"), eml_path=r.get("eml_path"), created_at=now,
                                        updated_at=now)
            _executemany(s, t.insert(), list(inserts.values()))
            if updates:
                s.execute(t.update().where(t.c.key == bindparam("k")).values(
                    status=bindparam("st"), error=bindparam("err"), message_id=bindparam("mid"),
                    attempts=t.c.attempts + bindparam("n"), updated_at=now,
                    eml_path=func.coalesce(bindparam("eml", type_=Text), t.c.eml_path)), list(updates.values()))
            _executemany(s, _table(AuditEvent).insert(), [
                {"at": now, "entity": "message", "entity_id": r["key"], "action": r["status"],
                 "detail": _json_safe({"error": r.get("error"), "message_id": r["message_id"],
                                       "eml": r.get("eml_path")})} for r in records])

    def messages(self, period: str | None = None) -> list[MessageRecord]:
        with self.reading() as s:
            q = select(MessageRecord)
            if period is not None:
                q = q.where(MessageRecord.period == period)
            return list(s.scalars(q.order_by(MessageRecord.id)))

    # ------------------------------------------------------------ misc

    def audit(self, entity: str, entity_id: Any, action: str, **detail: Any) -> None:
        with self.session() as s:
            self._audit(s, entity, entity_id, action, **detail)

    def audit_all(self, events: Iterable[tuple[str, Any, str, dict[str, Any]]]) -> None:
        """Many audit rows (entity, id, action, detail) in one transaction (none: nothing written)."""
        rows = list(events)
        if not rows:
            return
        with self.session() as s:
            for entity, entity_id, action, detail in rows:
                self._audit(s, entity, entity_id, action, **detail)

    def audit_events(self, entity: str | None = None) -> list[AuditEvent]:
        with self.reading() as s:
            q = select(AuditEvent)
            if entity:
                q = q.where(AuditEvent.entity == entity)
            return list(s.scalars(q.order_by(AuditEvent.id)))

    def get_cursor(self, name: str) -> str | None:
        with self.reading() as s:
            row = s.get(Cursor, name)
            return row.value if row else None

    def get_cursors(self, names: Iterable[str]) -> dict[str, str]:
        """The values of these cursors that exist, in one query per 500 names."""
        wanted = list(dict.fromkeys(names))
        found: dict[str, str] = {}
        with self.reading() as s:
            for i in range(0, len(wanted), 500):
                for name, value in s.execute(select(Cursor.name, Cursor.value).where(
                        Cursor.name.in_(wanted[i:i + 500]))).all():
                    found[name] = value
        return found

    def cursors_starting(self, prefix: str) -> dict[str, str]:
        """Every cursor whose name starts with `prefix` (a family of them, e.g. each channel's problem)."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.reading() as s:
            return dict(s.execute(select(Cursor.name, Cursor.value).where(Cursor.name.like(like, escape="\\"))).all())

    def set_cursors(self, values: dict[str, str]) -> None:
        """Many cursors in one transaction (insert or update), e.g. every Sheets tab's settle state."""
        if not values:
            return
        with self.session() as s:
            self._upsert_cursors(s, values)

    def _upsert_cursors(self, s: Session, values: dict[str, str]) -> None:
        """Insert or update these cursors, 5,000 a statement."""
        t = _table(Cursor)
        rows = [{"name": k, "value": v} for k, v in values.items()]
        for i in range(0, len(rows), 5000):
            stmt = self._insert()(t)
            s.execute(stmt.on_conflict_do_update(index_elements=[t.c.name], set_={"value": stmt.excluded.value}),
                      rows[i:i + 5000])

    def update_cursors(self, names: Iterable[str], change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        """Read these cursors and write what `change` makes of them, in one write transaction that no other
        writer of the same names interleaves with (SQLite: its write lock, taken at BEGIN; PostgreSQL: one
        advisory lock per name, taken in sorted order). For records that two runs may update at once."""
        wanted = sorted(set(names))
        if not wanted:
            return
        with self.session() as s:
            self._lock_keys(s, wanted)
            current = dict(s.execute(select(Cursor.name, Cursor.value).where(Cursor.name.in_(wanted))).all())
            self._upsert_cursors(s, change(current))

    def set_cursor(self, name: str, value: str) -> None:
        with self.session() as s:
            row = s.get(Cursor, name)
            if row is None:
                s.add(Cursor(name=name, value=value))
            else:
                row.value = value

