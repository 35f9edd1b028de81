"""The Google Sheets channel: one protected tab per unit and period, read back in batched requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasks.config import Unit
from tasks.context import Context
from tasks.models import Document
from tasks.periods import TZ, Period
from tasks.sheets import SheetsGateway, SheetsSettings, TabSpec
from tasks.workbook import COL_VALUE, HEADER, template_grid


def sheets_settings(ctx: Context) -> SheetsSettings:
    ch = ctx.cfg.settings.channels.sheets
    return SheetsSettings(spreadsheet_id=ch.spreadsheet_id, endpoint=ch.endpoint, credentials_env=ch.credentials_env,
                          credentials_block=ch.credentials_block,
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


def collect_sheet_documents(ctx: Context, period: Period, gateway: SheetsGateway | None = None) -> list[Document]:
    """All unit tabs in as few values:batchGet requests as the URL allows; a tab's error is its unit's."""
    gw = gateway or SheetsGateway(sheets_settings(ctx))
    units = {tab_title(u, period): u for u in sheet_units(ctx)}
    reads = gw.read_tabs(list(units))
    now = datetime.now(TZ)
    docs = []
    for title, read in reads.items():
        unit = units[title]
        if read.grid is None:
            ctx.ledger.audit("sheets", title, "read_error", unit=unit.code, error=read.error)
            continue
        if not _has_values(read.grid):
            continue
        docs.append(Document(source="sheet", source_ref=f"sheet:{title}", filename=title, content=b"",
                             received_at=now, claimed_unit=unit.code, grid=read.grid))
    return docs
