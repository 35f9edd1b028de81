"""Consolidate: the accepted reports of a period, with the previous period and the year so far, merged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tasks.context import Context
from tasks.ledger import Submission, as_utc
from tasks.merge import RejectedReport, UnitReport, consolidate, totals_of
from tasks.periods import Period
from tasks.status import first_on_time, latest_by_unit
from tasks.types import SubmissionStatus


def unit_reports(subs: Iterable[Submission]) -> list[UnitReport]:
    """Each unit's counted report (the latest accepted), with the timeliness of its first valid one."""
    subs = list(subs)
    timely = first_on_time(subs)
    latest = latest_by_unit(subs)
    return [UnitReport(code, as_utc(s.received_at), timely.get(code, bool(s.on_time)), s.value_map())
            for code, s in latest.items()]


def build_consolidation(ctx: Context, period: Period, now: datetime | None = None) -> dict[str, Any]:
    report_id = ctx.cfg.report.id
    subs = ctx.ledger.submissions(report_id, period.key)
    rejected = [RejectedReport(s.unit_code, as_utc(s.received_at), s.source_ref, s.errors)
                for s in subs if s.status == SubmissionStatus.REJECTED]
    previous = None
    prev = period.previous()
    if prev is not None:
        prev_reports = unit_reports(ctx.ledger.submissions(report_id, prev.key, [SubmissionStatus.ACCEPTED]))
        if prev_reports:
            previous = (prev, totals_of(ctx.cfg, prev_reports))
    ytd: dict[str, int] = {}
    for earlier in period.same_year_before():
        for code, v in totals_of(ctx.cfg, unit_reports(
                ctx.ledger.submissions(report_id, earlier.key, [SubmissionStatus.ACCEPTED]))).items():
            ytd[code] = ytd.get(code, 0) + v
    return consolidate(ctx.cfg, period, ctx.unit_deadline(period), ctx.report_deadline(period),
                       unit_reports(subs), rejected, previous, ytd, generated_at=now)
