"""Consolidate: the accepted reports of a period, with the previous period and the year so far, merged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tasks.consolidation_types import Consolidation
from tasks.context import Context
from tasks.ledger import Submission, as_utc
from tasks.merge import PeriodReports, RejectedReport, UnitReport, consolidate
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


def build_consolidation(ctx: Context, period: Period, now: datetime | None = None) -> Consolidation:
    report_id = ctx.cfg.report.id
    subs = ctx.ledger.submissions(report_id, period.key)
    rejected = [RejectedReport(s.unit_code, as_utc(s.received_at), s.source_ref, s.errors)
                for s in subs if s.status == SubmissionStatus.REJECTED]
    # the previous period (like-for-like change) and this year's earlier periods (year-to-date), per unit
    earlier = dict.fromkeys(p for p in (period.previous(), *period.same_year_before()) if p is not None)
    history = [PeriodReports(p, unit_reports(ctx.ledger.submissions(report_id, p.key, [SubmissionStatus.ACCEPTED])))
               for p in earlier]
    return consolidate(ctx.cfg, period, unit_reports(subs), rejected, history, generated_at=now)
