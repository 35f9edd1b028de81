"""The shape every channel shares (see tasks/channels/__init__.py)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from tasks.config import Unit
from tasks.context import Context
from tasks.periods import Period
from tasks.types import Document, Outcome, Source
from tasks.workbook import template_filename, template_grid, write_template_xlsx


@dataclass(frozen=True)
class UnitRequest:
    """What a unit gets with its request: a workbook to fill, or where to type (a tab, a link)."""

    workbook: bytes | None = None
    workbook_name: str = ""
    sheet_tab: str | None = None
    link: str | None = None


@dataclass
class Arrivals:
    """New documents from one channel, plus outcomes the channel decided itself (e.g. a tab it could not read)."""

    documents: list[Document] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


class Channel(Protocol):
    name: Source
    how_to_return: str

    def request(self, unit: Unit, period: Period, *, workbook: bool = True) -> UnitRequest:
        """What the unit is sent; `workbook=False` names the workbook without making it (a rejection
        sends its own refilled one)."""
        ...

    def receive(self, period: Period) -> AbstractContextManager[Arrivals]: ...


def unit_workbook(ctx: Context, unit: Unit, period: Period) -> tuple[str, bytes]:
    """The unit's prefilled workbook for the period: (file name, .xlsx bytes)."""
    grid = template_grid(ctx.cfg.report, unit, period, ctx.unit_deadline(period))
    return template_filename(ctx.cfg.report, unit, period), write_template_xlsx(grid, ctx.cfg.report)


def workbook_request(ctx: Context, unit: Unit, period: Period, workbook: bool = True) -> UnitRequest:
    if not workbook:
        return UnitRequest(workbook_name=template_filename(ctx.cfg.report, unit, period))
    name, data = unit_workbook(ctx, unit, period)
    return UnitRequest(workbook=data, workbook_name=name)
