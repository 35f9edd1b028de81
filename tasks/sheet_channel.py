"""The Google Sheets channel: one protected tab per unit and period, read back in batched requests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasks.config import Unit
from tasks.context import Context
from tasks.intake import content_hash
from tasks.models import Document
from tasks.periods import TZ, Period
from tasks.sheets import SheetsGateway, SheetsSettings, TabSpec
from tasks.steps import Outcome, process_documents
from tasks.workbook import COL_VALUE, HEADER, template_grid


def sheets_settings(ctx: Context) -> SheetsSettings:
    """The configured Sheets settings (minus the on/off switch); the Office always edits every tab."""
    return SheetsSettings(**ctx.cfg.settings.channels.sheets.model_dump(exclude={"enabled"}),
                          office_account=ctx.cfg.settings.organisation.office_email)


def tab_title(unit: Unit, period: Period) -> str:
    """'VP - Văn phòng Sở (2021-03)': one tab per unit and period, so last month's numbers stay."""
    suffix = f" ({period.key})"
    return f"{unit.code} - {unit.name}"[: 100 - len(suffix)] + suffix


def sheet_units(ctx: Context) -> list[Unit]:
    return [u for u in ctx.cfg.active_units if u.channel == "sheet"]


def ensure_unit_tabs(ctx: Context, period: Period, gateway: SheetsGateway | None = None) -> dict[str, Any]:
    gw = gateway or SheetsGateway(sheets_settings(ctx))
    deadline = ctx.unit_deadline(period)
    tabs = [TabSpec(tab_title(u, period), template_grid(ctx.cfg.report, u, period, deadline), u.emails)
            for u in sheet_units(ctx)]
    result = gw.ensure_tabs(tabs)
    ctx.ledger.audit("sheets", period.key, "ensure_tabs", created=result.created, protected=result.protected)
    return {"created": result.created, "protected": result.protected, "unchanged": result.unchanged}


def _has_values(grid: list[list[Any]]) -> bool:
    """A tab nobody has typed into yet is not a submission (no rejection mail for an empty tab)."""
    header = next((i for i, row in enumerate(grid) if [str(c) for c in row[:6]] == list(HEADER)), None)
    if header is None:
        return True  # someone rearranged the tab: let validation explain what is wrong
    return any(len(row) > COL_VALUE and row[COL_VALUE] not in (None, "") for row in grid[header + 1:])


def grid_hash(grid: list[list[Any]]) -> str:
    """The content hash the ledger records for a tab's grid (the same bytes steps.process_document hashes)."""
    return content_hash(json.dumps(grid, default=str, ensure_ascii=False).encode())


@dataclass
class SheetRead:
    """One collect's view of the unit tabs: new contents to process, and per-unit outcomes already known."""

    documents: list[Document] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # read errors, re-accepted earlier contents
    unchanged: list[str] = field(default_factory=list)  # tab titles whose content is already recorded


def read_unit_tabs(ctx: Context, period: Period, gateway: SheetsGateway | None = None) -> SheetRead:
    """All unit tabs in as few values:batchGet requests as the URL allows; a tab's error is its unit's.

    A tab whose grid equals its last recorded submission gives nothing (no re-validation, no reply); a tab
    put back to a content accepted earlier makes that submission current again instead of being ignored
    as a duplicate by the ledger.
    """
    gw = gateway or SheetsGateway(sheets_settings(ctx))
    units = {tab_title(u, period): u for u in sheet_units(ctx)}
    out = SheetRead()
    if not units:
        return out
    reads = gw.read_tabs(list(units))
    subs = [s for s in ctx.ledger.submissions(ctx.cfg.report.id, period.key) if s.source == "sheet"]
    last = {s.source_ref: s for s in subs}  # ordered by received_at: the latest per tab wins
    by_hash = {s.content_hash: s for s in subs}
    now = datetime.now(TZ)
    for title, read in reads.items():
        unit = units[title]
        ref = f"sheet:{title}"
        if read.grid is None:
            reason = read.error or f"Không đọc được trang tính “{title}”."
            ctx.ledger.audit("sheets", title, "read_error", unit=unit.code, period=period.key, error=reason)
            out.outcomes.append(Outcome(ref, "error", unit.code, reason=reason))
            continue
        if not _has_values(read.grid):
            continue
        digest = grid_hash(read.grid)
        previous = last.get(ref)
        if previous is not None and previous.content_hash == digest:
            out.unchanged.append(title)
            continue
        earlier = by_hash.get(digest)
        if earlier is not None:
            if earlier.status == "superseded":
                ctx.ledger.reopen(earlier.id, f"Trang tính “{title}” trở lại nội dung đã nộp lúc trước.")
                out.outcomes.append(Outcome(ref, "accepted", earlier.unit_code, earlier.id, earlier.on_time,
                                            warnings=list(earlier.warnings)))
            else:
                out.unchanged.append(title)
            continue
        out.documents.append(Document(source="sheet", source_ref=ref, filename=title, content=b"",
                                      received_at=now, claimed_unit=unit.code, grid=read.grid))
    return out


def collect_sheet_documents(ctx: Context, period: Period, gateway: SheetsGateway | None = None) -> list[Document]:
    """The unit tabs with new content, as documents for steps.process_documents."""
    return read_unit_tabs(ctx, period, gateway).documents


def collect_sheet_outcomes(ctx: Context, period: Period, gateway: SheetsGateway | None = None) -> list[Outcome]:
    """Read, check and record every changed tab; unreadable tabs are reported as that unit's error."""
    read = read_unit_tabs(ctx, period, gateway)
    return process_documents(ctx, period, read.documents) + read.outcomes
