"""The Director's decisions on a period's report, and the web accounts' login attempts, in the ledger.

A decision binds exact files: the SHA-256 of every file the approver was shown is stored with it, so
what is delivered can be checked against what was read. The document number (số ký hiệu) and the issue
date (ngày ban hành) are recorded with an approval: the final document is rendered with them.
Login attempts are kept so rate limiting holds across web workers and restarts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from tasks.ledger import Base, Ledger, as_utc, utcnow

APPROVED, RETURNED = "approved", "returned"


class ApprovalDecision(Base):
    __tablename__ = "approval_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[str] = mapped_column(String(32), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # approved | returned
    username: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    document_number: Mapped[str | None] = mapped_column(String(64))
    issue_date: Mapped[date | None] = mapped_column(Date)
    sha256: Mapped[dict[str, Any]] = mapped_column(default=dict)  # file name -> digest of what was shown


class LoginAttempt(Base):
    __tablename__ = "web_login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column()


_READY: set[int] = set()


def ensure_tables(ledger: Ledger) -> None:
    """The ledger creates the tables it knew when it opened; these may be imported later."""
    if id(ledger.engine) not in _READY:
        tables: list[Any] = [ApprovalDecision.__table__, LoginAttempt.__table__]
        Base.metadata.create_all(ledger.engine, tables=tables)
        _READY.add(id(ledger.engine))


# ------------------------------------------------------------------ decisions


@dataclass(frozen=True)
class Decision:
    id: int
    report_id: str
    period: str
    decision: str
    username: str
    name: str
    at: datetime
    reason: str | None
    document_number: str | None
    issue_date: date | None
    sha256: dict[str, str]

    @property
    def approved(self) -> bool:
        return self.decision == APPROVED


def _as_decision(row: ApprovalDecision) -> Decision:
    return Decision(row.id, row.report_id, row.period, row.decision, row.username, row.name, as_utc(row.at),
                    row.reason, row.document_number, row.issue_date, dict(row.sha256 or {}))


def record_decision(ledger: Ledger, *, report_id: str, period: str, decision: str, username: str, name: str,
                    sha256: dict[str, str], reason: str | None = None, document_number: str | None = None,
                    issue_date: date | None = None, at: datetime | None = None) -> Decision:
    """Store one decision (never overwritten; the latest counts) and audit it."""
    if decision not in (APPROVED, RETURNED):
        raise ValueError(decision)
    if decision == RETURNED and not (reason or "").strip():
        raise ValueError("Trả lại báo cáo phải ghi rõ lý do.")
    if decision == APPROVED and not ((document_number or "").strip() and issue_date):
        raise ValueError("Phê duyệt phải có số ký hiệu và ngày ban hành.")
    ensure_tables(ledger)
    with ledger.session() as s:
        row = ApprovalDecision(report_id=report_id, period=period, decision=decision, username=username, name=name,
                               at=as_utc(at or utcnow()), reason=(reason or "").strip() or None,
                               document_number=(document_number or "").strip() or None, issue_date=issue_date,
                               sha256=dict(sha256))
        s.add(row)
        s.flush()
        ledger._audit(s, "approval", f"{report_id}:{period}", decision, by=username, reason=row.reason,
                      document_number=row.document_number, issue_date=issue_date, sha256=sha256, source="web")
        return _as_decision(row)


def decisions(ledger: Ledger, report_id: str, period: str) -> list[Decision]:
    ensure_tables(ledger)
    with ledger.session() as s:
        rows = s.scalars(select(ApprovalDecision).where(ApprovalDecision.report_id == report_id,
                                                        ApprovalDecision.period == period)
                         .order_by(ApprovalDecision.id))
        return [_as_decision(r) for r in rows]


def latest_decision(ledger: Ledger, report_id: str, period: str) -> Decision | None:
    found = decisions(ledger, report_id, period)
    return found[-1] if found else None


def latest_decisions(ledger: Ledger, report_id: str, periods: Iterable[str]) -> dict[str, Decision]:
    """The latest decision per period, in one query (the board shows twelve periods)."""
    periods = list(periods)
    ensure_tables(ledger)
    with ledger.session() as s:
        rows = s.scalars(select(ApprovalDecision).where(ApprovalDecision.report_id == report_id,
                                                        ApprovalDecision.period.in_(periods))
                         .order_by(ApprovalDecision.id))
        return {r.period: _as_decision(r) for r in rows}


def current_approval(ledger: Ledger, report_id: str, period: str, digests: dict[str, str]) -> Decision | None:
    """The approval that still holds for the files as they are now: the latest decision, if it approved
    exactly these files (name -> SHA-256). None when returned, never decided, or the files changed since."""
    d = latest_decision(ledger, report_id, period)
    return d if d is not None and d.approved and d.sha256 == digests else None


def file_digests(paths: Iterable[Path]) -> dict[str, str]:
    """File name -> SHA-256 of each existing file (what the approver is shown)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


# ------------------------------------------------------------------ login attempts


def record_login(ledger: Ledger, username: str, ip: str, ok: bool, at: datetime | None = None) -> None:
    ensure_tables(ledger)
    with ledger.session() as s:
        s.add(LoginAttempt(username=username.strip().lower()[:64], ip=ip[:64], ok=ok, at=as_utc(at or utcnow())))
        if not ok:
            ledger._audit(s, "web", username.strip().lower()[:64], "login_failed", ip=ip)


def recent_failures(ledger: Ledger, username: str, ip: str, window: timedelta,
                    now: datetime | None = None) -> tuple[int, datetime | None]:
    """Failed logins for this username from this address within the window since the last success,
    and the time of the oldest of them (the lock lifts `window` after it)."""
    ensure_tables(ledger)
    user = username.strip().lower()[:64]
    since = as_utc(now or utcnow()) - window
    with ledger.session() as s:
        last_ok = s.scalar(select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == user, LoginAttempt.ip == ip[:64], LoginAttempt.ok.is_(True)))
        if last_ok is not None and as_utc(last_ok) > since:
            since = as_utc(last_ok)
        rows = list(s.scalars(select(LoginAttempt.at).where(
            LoginAttempt.username == user, LoginAttempt.ip == ip[:64], LoginAttempt.ok.is_(False),
            LoginAttempt.at > since).order_by(LoginAttempt.at)))
    return len(rows), (as_utc(rows[0]) if rows else None)


# ------------------------------------------------------------------ passwords


def hash_password(password: str) -> str:
    """An argon2id hash for config/settings.yaml (web.accounts[].password_hash)."""
    from argon2 import PasswordHasher

    if len(password) < 8:
        raise ValueError("Mật khẩu phải có ít nhất 8 ký tự.")
    return PasswordHasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY_HASH: list[str] = []


def burn_verify(password: str) -> None:
    """Spend the time of one verification for an unknown user, so usernames cannot be told apart by timing."""
    from argon2 import PasswordHasher

    if not _DUMMY_HASH:
        _DUMMY_HASH.append(PasswordHasher().hash("baocao-dummy-password"))
    verify_password(_DUMMY_HASH[0], password)


def hash_password_cli(password: str | None = None) -> str:
    """For `baocao web hash-password`: ask twice (hidden) when no password is given, return the hash."""
    import getpass

    if password is None:
        password = getpass.getpass("Mật khẩu: ")
        if getpass.getpass("Nhập lại mật khẩu: ") != password:
            raise ValueError("Hai lần nhập mật khẩu không khớp.")
    return hash_password(password)
