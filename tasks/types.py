"""The value types every layer shares: documents, issues, outcomes, statuses and message keys.

One module, so the ledger, the status table, the mails and the flows speak of a submission's status with
the same words (enums whose values are the strings stored in the ledger).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["error", "warning"]
Source = Literal["folder", "email", "sheet", "web"]


class SubmissionStatus(StrEnum):
    """A recorded submission's state in the ledger."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # an accepted report replaced by the unit's later one
    QUARANTINED = "quarantined"  # not counted: unknown or unauthenticated sender, wrong unit


class OutcomeStatus(StrEnum):
    """What one received document became in a collect run."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"  # same content already recorded: nothing new
    ERROR = "error"  # the channel could not read it (a Sheets tab that failed): reported to the operator


class UnitStatus(StrEnum):
    """A unit's standing in a period, as the Office's status table shows it."""

    ON_TIME = "on_time"
    LATE = "late"
    REJECTED = "rejected"
    MISSING = "missing"

    @property
    def vi(self) -> str:
        return _UNIT_STATUS_VI[self]

    @property
    def reported(self) -> bool:
        return self in (UnitStatus.ON_TIME, UnitStatus.LATE)


_UNIT_STATUS_VI = {UnitStatus.ON_TIME: "Đúng hạn", UnitStatus.LATE: "Muộn", UnitStatus.REJECTED: "Bị trả lại",
                   UnitStatus.MISSING: "Chưa báo cáo"}


class MessageStatus(StrEnum):
    """An outgoing message's state in the ledger."""

    WRITTEN = "written"  # composed and written to the outbox as .eml
    SENT = "sent"
    FAILED = "failed"


class MessageKind(StrEnum):
    REQUEST = "request"
    REMINDER = "reminder"
    REJECTION = "rejection"
    RECEIPT = "receipt"  # an accepted report acknowledged to its unit
    OVERDUE = "overdue"
    DELIVERY = "delivery"
    APPROVAL = "approval"
    APPROVAL_REJECT = "approval_reject"
    ALERT = "alert"
    CHANNEL_DOWN = "channel_down"  # the operator: a mailbox or spreadsheet unread for hours
    CHANNEL_BACK = "channel_back"  # the operator: read again after such an alert


def message_key(kind: MessageKind, *parts: object) -> str:
    """The ledger key of a message ('delivery:<report>:<period>'): one message per key, never sent twice."""
    return ":".join([kind.value, *(str(p) for p in parts)])


@dataclass(frozen=True)
class Issue:
    """One problem with a submission, phrased for the unit in Vietnamese."""

    message: str
    severity: Severity = "error"
    code: str | None = None  # indicator code, when the problem is about one
    label: str | None = None
    cell: str | None = None  # A1 reference in the unit's sheet
    value: str | None = None  # what was found, as text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k in _ISSUE_FIELDS if (v := getattr(self, k)) is not None}


_ISSUE_FIELDS = tuple(f.name for f in fields(Issue))


@dataclass(frozen=True)
class RawValue:
    raw: Any
    cell: str


@dataclass
class ParsedSheet:
    """What a workbook says, before any check against the report definition."""

    unit_code: str | None = None
    unit_cell: str | None = None
    period_text: str | None = None
    period_cell: str | None = None
    values: dict[str, RawValue] = field(default_factory=dict)
    problems: list[Issue] = field(default_factory=list)

    def to_wire(self) -> tuple[Any, ...]:
        """Plain values only (what the guard's worker may send back: its results are unpickled with cell
        values allowed, no classes of ours but the cell types)."""
        return (self.unit_code, self.unit_cell, self.period_text, self.period_cell,
                [(code, v.raw, v.cell) for code, v in self.values.items()], [p.to_dict() for p in self.problems])

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> ParsedSheet:
        unit_code, unit_cell, period_text, period_cell, values, problems = wire
        return cls(unit_code, unit_cell, period_text, period_cell,
                   {code: RawValue(raw, cell) for code, raw, cell in values}, [Issue(**p) for p in problems])


@dataclass(frozen=True)
class Document:
    """A file as received through any channel: the bytes and where they came from."""

    source: Source
    source_ref: str  # path, "<message-id>#filename" or "sheet:<tab title>"
    filename: str
    content: bytes
    received_at: datetime
    sender: str | None = None
    message_id: str | None = None
    claimed_unit: str | None = None  # from the email subject tag or the sheet tab
    grid: list[list[Any]] | None = None  # already-read cells (Sheets), instead of parsing content
    unreadable: str | None = None  # why there is nothing to read (a mail without attachment), for the unit
    quarantine: str | None = None  # the channel's reason not to count it (a forged sender), for the operator
    digest: str | None = None  # the content hash, when the channel already computed it (judged by it, not again)
    stamp: Any = None  # a folder file's FileStamp (path, size, mtime): remembered so later scans skip it unread


@dataclass
class Outcome:
    """What became of one received document, for events, replies and the operator's table."""

    source_ref: str
    status: str  # an OutcomeStatus value (kept a plain string: outcomes travel as JSON between tasks)
    unit_code: str | None = None
    submission_id: int | None = None
    on_time: bool | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    period: str | None = None  # the period it was filed under

    def to_dict(self) -> dict[str, Any]:
        """A copy as plain data, the issue dicts copied too (dataclasses.asdict's deep walk, which looks for a
        dataclass in every value, enum statuses included, cost more per file than validating it)."""
        return {"source_ref": self.source_ref, "status": self.status, "unit_code": self.unit_code,
                "submission_id": self.submission_id, "on_time": self.on_time,
                "errors": [dict(e) for e in self.errors], "warnings": [dict(w) for w in self.warnings],
                "reason": self.reason, "period": self.period}
