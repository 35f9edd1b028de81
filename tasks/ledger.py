"""The ledger: every submission, value, message and state change, in SQLite or PostgreSQL.

It is what makes each step idempotent (a file, a sheet tab or an email is recorded once by its content
hash; a message once by its key) and auditable (nothing is deleted; status changes are logged).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from tasks.types import Issue


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


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
    value_int: Mapped[int | None] = mapped_column(Integer)
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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Ledger:
    """Thin repository over the tables; every write is one transaction."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._create_tables()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _create_tables(self) -> None:
        """Idempotent; two workers starting on a fresh PostgreSQL ledger may race, so retry once it lost."""
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                return
            except (IntegrityError, ProgrammingError):
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    @classmethod
    def for_data_dir(cls, data_dir: Path, url: str | None = None) -> Ledger:
        if url is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{(data_dir / 'ledger.sqlite3').resolve()}"
        return cls(url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def _audit(self, s: Session, entity: str, entity_id: Any, action: str, **detail: Any) -> None:
        s.add(AuditEvent(entity=entity, entity_id=str(entity_id), action=action,
                         detail=json.loads(json.dumps(detail, default=str))))

    # ------------------------------------------------------------ submissions

    def known_hashes(self, report_id: str, period: str | None = None) -> set[str]:
        """Contents already recorded (for one period, or any): a file is processed once."""
        with self.session() as s:
            q = select(Submission.content_hash).where(Submission.report_id == report_id)
            if period is not None:
                q = q.where(Submission.period == period)
            return set(s.scalars(q))

    def record_submission(self, new: NewSubmission) -> Submission | None:
        """Store a submission; None when the same content was already recorded for this period.

        A new accepted submission supersedes the unit's earlier accepted one; the row is kept.
        Concurrent collectors are safe: the unique (report, period, hash) constraint decides who wins.
        """
        with self.session() as s:
            table = Submission.__table__
            row = {
                "report_id": new.report_id, "period": new.period, "unit_code": new.unit_code,
                "source": new.source, "source_ref": new.source_ref, "filename": new.filename,
                "sender": new.sender, "message_id": new.message_id, "received_at": as_utc(new.received_at),
                "recorded_at": utcnow(), "content_hash": new.content_hash, "status": new.status,
                "on_time": new.on_time, "errors": [i.to_dict() for i in new.errors],
                "warnings": [i.to_dict() for i in new.warnings], "reason": new.reason,
            }
            insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
            stmt = insert(table).values(**row).on_conflict_do_nothing(
                index_elements=["report_id", "period", "content_hash"]).returning(table.c.id)
            new_id = s.execute(stmt).scalar()
            if new_id is None:
                return None
            for code, value in new.values:
                s.add(SubmissionValue(submission_id=new_id, code=code,
                                      value_int=value if isinstance(value, int) else None,
                                      value_text=value if isinstance(value, str) else None))
            self._audit(s, "submission", new_id, new.status, unit=new.unit_code, period=new.period,
                        source=new.source_ref, errors=len(new.errors))
            if new.status == "accepted":
                self._supersede(s, new, new_id)
            s.flush()
            return s.get(Submission, new_id)

    def _supersede(self, s: Session, new: NewSubmission, new_id: int) -> None:
        earlier = s.scalars(select(Submission).where(
            Submission.report_id == new.report_id, Submission.period == new.period,
            Submission.unit_code == new.unit_code, Submission.status == "accepted",
            Submission.id != new_id).with_for_update())
        for old in earlier:
            if as_utc(old.received_at) <= as_utc(new.received_at):
                old.status = "superseded"
                self._audit(s, "submission", old.id, "superseded", by=new_id)
            else:  # an older file arrived late in the ledger: it does not replace the newer one
                s.execute(Submission.__table__.update().where(Submission.id == new_id).values(status="superseded"))
                self._audit(s, "submission", new_id, "superseded", by=old.id)

    def submissions(self, report_id: str, period: str, statuses: Iterable[str] | None = None) -> list[Submission]:
        with self.session() as s:
            q = select(Submission).where(Submission.report_id == report_id, Submission.period == period)
            if statuses is not None:
                q = q.where(Submission.status.in_(list(statuses)))
            return list(s.scalars(q.order_by(Submission.received_at, Submission.id)))

    def submissions_by_id(self, ids: Iterable[int]) -> list[Submission]:
        ids = list(ids)
        if not ids:
            return []
        with self.session() as s:
            return list(s.scalars(select(Submission).where(Submission.id.in_(ids))))

    def reopen(self, submission_id: int, note: str) -> None:
        """Operator override: a rejected or superseded submission becomes the unit's accepted one."""
        with self.session() as s:
            sub = s.get(Submission, submission_id)
            if sub is None:
                raise KeyError(submission_id)
            if sub.unit_code is None or sub.status == "quarantined":
                raise ValueError(f"Báo cáo số {submission_id} không xác định được đơn vị hoặc đang bị cách ly "
                                 "(người gửi không phải đầu mối): không thể chấp nhận.")
            for other in s.scalars(select(Submission).where(
                    Submission.report_id == sub.report_id, Submission.period == sub.period,
                    Submission.unit_code == sub.unit_code, Submission.status == "accepted")):
                other.status = "superseded"
                self._audit(s, "submission", other.id, "superseded", by=sub.id, note=note)
            sub.status = "accepted"
            self._audit(s, "submission", sub.id, "reopened", note=note)

    # ------------------------------------------------------------ messages

    def message(self, key: str) -> MessageRecord | None:
        with self.session() as s:
            return s.scalar(select(MessageRecord).where(MessageRecord.key == key))

    def sent_keys(self, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        if not keys:
            return set()
        with self.session() as s:
            return set(s.scalars(select(MessageRecord.key).where(
                MessageRecord.key.in_(keys), MessageRecord.status.in_(["written", "sent"]))))

    def record_message(self, *, key: str, kind: str, report_id: str | None, period: str | None,
                       unit_code: str | None, recipients: list[str], subject: str, message_id: str,
                       status: str, error: str | None = None, eml_path: str | None = None) -> None:
        with self.session() as s:
            rec = s.scalar(select(MessageRecord).where(MessageRecord.key == key).with_for_update())
            if rec is None:
                rec = MessageRecord(key=key, kind=kind, report_id=report_id, period=period, unit_code=unit_code,
                                    recipients=recipients, subject=subject, message_id=message_id,
                                    status=status, attempts=1, error=error, eml_path=eml_path)
                s.add(rec)
            else:
                rec.status, rec.error, rec.message_id = status, error, message_id
                rec.attempts += 1
                rec.updated_at = utcnow()
                rec.eml_path = eml_path or rec.eml_path
            s.flush()
            self._audit(s, "message", key, status, error=error, message_id=message_id, eml=eml_path)

    def messages(self, period: str | None = None) -> list[MessageRecord]:
        with self.session() as s:
            q = select(MessageRecord)
            if period is not None:
                q = q.where(MessageRecord.period == period)
            return list(s.scalars(q.order_by(MessageRecord.id)))

    # ------------------------------------------------------------ misc

    def audit(self, entity: str, entity_id: Any, action: str, **detail: Any) -> None:
        with self.session() as s:
            self._audit(s, entity, entity_id, action, **detail)

    def audit_events(self, entity: str | None = None) -> list[AuditEvent]:
        with self.session() as s:
            q = select(AuditEvent)
            if entity:
                q = q.where(AuditEvent.entity == entity)
            return list(s.scalars(q.order_by(AuditEvent.id)))

    def get_cursor(self, name: str) -> str | None:
        with self.session() as s:
            row = s.get(Cursor, name)
            return row.value if row else None

    def set_cursor(self, name: str, value: str) -> None:
        with self.session() as s:
            row = s.get(Cursor, name)
            if row is None:
                s.add(Cursor(name=name, value=value))
            else:
                row.value = value

