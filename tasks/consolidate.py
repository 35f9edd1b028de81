"""Consolidate: the accepted reports of a period, with the previous period and the year so far, merged."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from tasks.bulk import collector_paused
from tasks.consolidation_types import CompletenessBrief, CompletenessCounts, Consolidation, ConsolidationBrief
from tasks.context import Context
from tasks.ledger import as_utc
from tasks.merge import PeriodReports, RejectedReport, UnitReport, consolidate
from tasks.periods import Period
from tasks.render.vietnamese_dates import format_number
from tasks.types import SubmissionStatus


def unit_reports(ctx: Context, period: Period) -> list[UnitReport]:
    """Each unit's counted report (the latest accepted), with the timeliness of its first valid one."""
    return [UnitReport(r.unit_code, as_utc(r.received_at), r.on_time, r.values)
            for r in ctx.ledger.counted_reports(ctx.cfg.report.id, period.key)]


@collector_paused()  # every unit's values, this period and this year's earlier ones
def build_consolidation(ctx: Context, period: Period, now: datetime | None = None) -> Consolidation:
    report_id = ctx.cfg.report.id
    rejected = [RejectedReport(s.unit_code, as_utc(s.received_at), s.source_ref, s.errors)
                for s in ctx.ledger.submissions(report_id, period.key, [SubmissionStatus.REJECTED])]
    # the previous period (like-for-like change) and this year's earlier periods (year-to-date), per unit; the
    # 6 and 9 months reports too, which stand in for the quarters a regime does not collect on their own
    earlier = dict.fromkeys(p for p in (period.previous(), *period.same_year_before(), *period.spans_before())
                            if p is not None)
    history = [PeriodReports(p, unit_reports(ctx, p)) for p in earlier]
    return consolidate(ctx.cfg, period, unit_reports(ctx, period), rejected, history, generated_at=now)


BRIEF_UNITS = 30  # missing units named in a brief; the JSON and the document name them all


def brief(consolidation: Consolidation, json_path: str) -> ConsolidationBrief:
    """The bounded summary of a consolidation, for Prefect results, artifacts and the command line."""
    c = consolidation["completeness"]
    counts = {k: c[k] for k in CompletenessCounts.__annotations__}  # type: ignore[literal-required]
    completeness = cast(CompletenessBrief, {**counts, "missing": c["missing"][:BRIEF_UNITS],
                                            "missing_more": max(0, len(c["missing"]) - BRIEF_UNITS)})
    labels = {i["code"]: i["label"] for i in consolidation["indicators"]}
    return {"period": consolidation["period"]["key"], "label": consolidation["period"]["label"], "json": json_path,
            "completeness": completeness,
            "main_totals": [{"code": code, "label": labels[code], "total": consolidation["totals"].get(code, 0)}
                            for code in consolidation["main_indicators"]]}


def missing_text(c: CompletenessBrief) -> str:
    """'TĐKT, BTG' or 'U00001, …, U00030 và 9.970 đơn vị khác' (a brief names at most its first units)."""
    if not c["missing"]:
        return "không"
    more = f" và {format_number(c['missing_more'])} đơn vị khác" if c["missing_more"] else ""
    return ", ".join(c["missing"]) + more
