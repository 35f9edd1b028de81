"""Consolidate: the accepted reports of a period, with the previous period and the year so far, merged."""

from __future__ import annotations

from datetime import datetime

from tasks.consolidation_types import Consolidation
from tasks.context import Context
from tasks.ledger import as_utc
from tasks.merge import PeriodReports, RejectedReport, UnitReport, consolidate
from tasks.periods import Period
from tasks.types import SubmissionStatus


def unit_reports(ctx: Context, period: Period) -> list[UnitReport]:
    """Each unit's counted report (the latest accepted), with the timeliness of its first valid one."""
    return [UnitReport(r.unit_code, as_utc(r.received_at), r.on_time, r.values)
            for r in ctx.ledger.counted_reports(ctx.cfg.report.id, period.key)]


def build_consolidation(ctx: Context, period: Period, now: datetime | None = None) -> Consolidation:
    report_id = ctx.cfg.report.id
    rejected = [RejectedReport(s.unit_code, as_utc(s.received_at), s.source_ref, s.errors)
                for s in ctx.ledger.submissions(report_id, period.key, [SubmissionStatus.REJECTED])]
    # the previous period (like-for-like change) and this year's earlier periods (year-to-date), per unit
    earlier = dict.fromkeys(p for p in (period.previous(), *period.same_year_before()) if p is not None)
    history = [PeriodReports(p, unit_reports(ctx, p)) for p in earlier]
    return consolidate(ctx.cfg, period, unit_reports(ctx, period), rejected, history, generated_at=now)
