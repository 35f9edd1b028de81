"""Small value types shared by intake, validation, the ledger and the flows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["error", "warning"]


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
        return {k: v for k, v in asdict(self).items() if v is not None}


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


@dataclass(frozen=True)
class Document:
    """A file as received through any channel: the bytes and where they came from."""

    source: Literal["folder", "email", "sheet"]
    source_ref: str  # path, "<message-id>#filename" or "sheet:<tab title>"
    filename: str
    content: bytes
    received_at: datetime
    sender: str | None = None
    message_id: str | None = None
    claimed_unit: str | None = None  # from the email subject tag or the sheet tab
    grid: list[list[Any]] | None = None  # already-read cells (Sheets), instead of parsing content
