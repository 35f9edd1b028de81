"""Merging accepted submissions into the consolidated report data (the JSON the README documents).

Pure: the caller hands over what the ledger holds, per period (this period's reports, and the earlier
periods' in `history`); merge returns a typed Consolidation; the renderers and the flows do the I/O.

Two rules a provincial reader checks first:
- an indicator is a count over the period (summed across units and across the periods of the year) or a
  level at the cut-off (summed across units; its year-to-date is the latest level, never a sum of levels);
- the change against the previous period is computed on the units that reported in both periods, so a
  unit that did not answer this month does not read as a fall.
Each period counts the units of its own time (units.yaml `from` / `until`, AppConfig.units_expected_in): a
unit added in March is not missing from February, and one ended since keeps its reports in February's figures
and in the year-to-date, so a reorganisation never rewrites what earlier reports said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tasks.config import AppConfig, Indicator
from tasks.consolidation_types import (
    ComparisonInfo,
    Consolidation,
    IndicatorInfo,
    NarrativeItem,
    PreviousInfo,
    YearToDateBasis,
)
from tasks.periods import TZ, Period, next_label, short_label


@dataclass(frozen=True)
class UnitReport:
    unit_code: str
    received_at: datetime
    on_time: bool
    values: Mapping[str, int | str | None]


@dataclass(frozen=True)
class RejectedReport:
    unit_code: str | None
    received_at: datetime
    source: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class PeriodReports:
    """An earlier period and the accepted reports of its units (any number per unit: the latest counts)."""

    period: Period
    reports: Sequence[UnitReport]


def totals_of(cfg: AppConfig, reports: Iterable[UnitReport]) -> dict[str, int]:
    """Sum of every integer indicator over the given units (0 when nobody reported it)."""
    codes = [i.code for i in cfg.report.numeric]
    sums = dict.fromkeys(codes, 0)
    for r in reports:
        for c in codes:
            v = r.values.get(c)
            if isinstance(v, int | float) and not isinstance(v, bool):
                sums[c] += int(v)
    return sums


def latest_by_unit(reports: Iterable[UnitReport], expected: Sequence[str]) -> dict[str, UnitReport]:
    """Each expected unit's counted report (its latest), in config order."""
    latest: dict[str, UnitReport] = {}
    wanted = set(expected)  # not the sequence: a lookup per report in a list of 10,000 units is quadratic
    for r in sorted(reports, key=lambda r: r.received_at):
        if r.unit_code in wanted:
            latest[r.unit_code] = r
    return {c: latest[c] for c in expected if c in latest}


def expected_codes(cfg: AppConfig, period: Period) -> list[str]:
    """The codes of the units the period expects (AppConfig.units_expected_in), in config order."""
    return [u.code for u in cfg.units_expected_in(period)]


def _rate(n: int, d: int) -> float:
    """n/d to three decimals (one decimal of a percent); a partial share never rounds to 1.0, a non-empty one
    never to 0.0, so 2.999/3.000 units does not read 'tỷ lệ 100%' in the report."""
    if not d:
        return 0.0
    return min(max(round(n / d, 3), 0.001 if n else 0.0), 0.999 if n < d else 1.0)


def _comparison(cfg: AppConfig, prev: Period, current: Mapping[str, UnitReport],
                before: Mapping[str, UnitReport]) -> ComparisonInfo:
    common = [c for c in current if c in before]
    now = totals_of(cfg, [current[c] for c in common])
    then = totals_of(cfg, [before[c] for c in common])
    return {
        "period": prev.key, "label": prev.label, "units": common, "units_count": len(common),
        "same_units": set(current) == set(before),
        "current": now, "previous": then, "change": {k: now[k] - then[k] for k in now},
    }


def _year_to_date(cfg: AppConfig, period: Period, totals: Mapping[str, int],
                  earlier: Mapping[str, Mapping[str, UnitReport]]) -> tuple[dict[str, int], YearToDateBasis | None]:
    """Year-to-date over this period and the contiguous run of collected periods before it this year (a 6 or
    9 months report stands in for the months or quarters it holds, when those were not collected on their own).

    A count adds the periods up; a level is its latest value. When the year's first periods were never
    collected the basis says where the sum starts ("lũy kế từ tháng 2/2021"); when that leaves this period
    alone, or a period in the middle is missing, there is no year-to-date (an honest blank, not a wrong sum).
    """
    if period.kind not in ("month", "quarter"):
        return {}, None  # 6 months, 9 months and the year start on 15/12 already
    before = list(reversed(period.same_year_before()))  # chronological
    tiled = _tiling(period, [p for p in [*before, *period.spans_before()] if earlier.get(p.key)])
    if tiled is not None:  # collected periods cover the year up to this one (6 tháng standing in for quý I, II)
        before = tiled
    collected = [p for p in before if earlier.get(p.key)]
    missing = [p for p in before if not earlier.get(p.key)]
    run: list[Period] = []
    for p in reversed(before):  # walk back from the previous period while periods were collected
        if not earlier.get(p.key):
            break
        run.insert(0, p)
    basis: YearToDateBasis = {
        "periods": [p.key for p in [*run, period]], "missing": [p.key for p in missing],
        "missing_labels": [p.label for p in missing], "from_label": None, "shown": True,
    }
    if missing and (not run or len(run) != len(collected)):
        basis["periods"], basis["shown"] = [period.key], False  # this period alone, or a gap in the middle
        return {}, basis
    if missing:
        basis["from_label"] = short_label(run[0])
    ytd: dict[str, int] = {}
    summed = [totals_of(cfg, earlier[p.key].values()) for p in run]  # once a period, not once an indicator
    for ind in cfg.report.numeric:
        if ind.aggregation == "level":
            ytd[ind.code] = totals[ind.code]
        else:
            ytd[ind.code] = totals[ind.code] + sum(t[ind.code] for t in summed)
    return ytd, basis


def _tiling(period: Period, collected: Sequence[Period]) -> list[Period] | None:
    """Collected periods whose windows follow each other from the year's first day (15/12) to the day before
    `period`, in order; the same kind first, a 6 or 9 months report where it stands in. None when there are none.

    Windows that tile never overlap, so adding them up counts each day once (quý I is never added to the 6
    months that hold it)."""
    year_start = date(period.year - 1, 12, 15)
    ending: dict[date, list[Period]] = {}
    for p in collected:  # same kind before spans: the caller lists them so
        ending.setdefault(p.end, []).append(p)

    def back_from(end: date) -> list[Period] | None:
        if end == year_start - timedelta(days=1):
            return []
        for p in ending.get(end, []):
            rest = back_from(p.start - timedelta(days=1))
            if rest is not None:
                return [*rest, p]
        return None

    return back_from(period.start - timedelta(days=1))


def _group_totals(cfg: AppConfig, totals: Mapping[str, int]) -> dict[str, int]:
    """The sum of a group's figures, where they share one unit and one kind (69 lượt over the seven topics)."""
    out: dict[str, int] = {}
    for g in cfg.report.groups:
        inds = [i for i in cfg.report.numeric if i.group == g.code]
        if inds and len({i.unit for i in inds}) == 1 and len({i.aggregation for i in inds}) == 1:
            out[g.code] = sum(totals[i.code] for i in inds)
    return out


def consolidate(
    cfg: AppConfig,
    period: Period,
    reports: Sequence[UnitReport],
    rejected: Sequence[RejectedReport],
    history: Sequence[PeriodReports] = (),
    *,
    unit_deadline: date | None = None,
    report_deadline: date | None = None,
    generated_at: datetime | None = None,
) -> Consolidation:
    """The consolidation of one period of `cfg.report`.

    `reports`: this period's accepted reports; `history`: the accepted reports of earlier periods, at least
    the previous period and this year's earlier periods of the same kind, and the 6 and 9 months before it
    (Period.spans_before) for a year-to-date resting on them (a period absent or empty counts as never collected).
    Deadlines default to the report's own rules (cfg.unit_deadline / cfg.report_deadline).
    """
    report, settings = cfg.report, cfg.settings
    expected = expected_codes(cfg, period)
    latest = latest_by_unit(reports, expected)
    totals = totals_of(cfg, latest.values())
    # each earlier period counts the units of its own time: a unit added since is not missing from it, a unit
    # ended since still counts in it (its totals, the year-to-date, the like-for-like change)
    earlier_expected = {h.period.key: expected_codes(cfg, h.period) for h in history}
    earlier = {h.period.key: latest_by_unit(h.reports, earlier_expected[h.period.key]) for h in history}

    on_time = [c for c in latest if latest[c].on_time]
    late = [c for c in latest if not latest[c].on_time]
    missing = [c for c in expected if c not in latest]
    rejected_codes = {r.unit_code for r in rejected}
    rejected_units = [c for c in missing if c in rejected_codes]

    previous: PreviousInfo | None = None
    comparison: ComparisonInfo | None = None
    prev = period.previous()
    before = earlier.get(prev.key) if prev is not None else None
    if prev is not None and before:
        previous = {"period": prev.key, "label": prev.label, "totals": totals_of(cfg, before.values()),
                    "units": list(before), "accepted_count": len(before),
                    "expected_count": len(earlier_expected[prev.key])}
        comparison = _comparison(cfg, prev, latest, before)
    ytd, ytd_basis = _year_to_date(cfg, period, totals, earlier)

    names = {u.code: u.name for u in cfg.units}
    narratives: dict[str, list[NarrativeItem]] = {}
    for ind in report.indicators:
        if ind.type == "text":
            narratives[ind.code] = [
                {"unit": c, "unit_name": names[c], "text": str(r.values[ind.code])}
                for c, r in latest.items() if r.values.get(ind.code)
            ]

    def iso(t: datetime) -> str:
        return t.astimezone(TZ).isoformat(timespec="seconds")

    return {
        "report_id": report.id,
        "report_title": report.title,
        "plan_reference": report.plan_reference,
        "period": {
            "key": period.key, "kind": period.kind, "label": period.label,
            "cutoff_start": period.start.isoformat(), "cutoff_end": period.end.isoformat(),
            "unit_deadline": (unit_deadline or cfg.unit_deadline(period)).isoformat(),
            "report_deadline": (report_deadline or cfg.report_deadline(period)).isoformat(),
            "next_label": next_label(period),
        },
        "generated_at": iso(generated_at or datetime.now(TZ)),
        "organisation": {
            "supervising_body": settings.organisation.supervising_body,
            "issuing_body": settings.organisation.issuing_body,
            "place": settings.organisation.place,
            "document_number": report.document_number,
            "recipient_line": report.recipient_line,
        },
        "groups": [{"code": g.code, "label": g.label, "kind": g.kind} for g in report.groups],
        "indicators": [indicator_info(i) for i in report.indicators],
        "main_indicators": list(report.main_indicators),
        "totals": totals,
        "group_totals": _group_totals(cfg, totals),
        "year_to_date": ytd,
        "year_to_date_basis": ytd_basis,
        "previous": previous,
        "comparison": comparison,
        "values_by_unit": {c: dict(r.values) for c, r in latest.items()},
        "units": {c: names[c] for c in expected},
        "completeness": {
            "expected": expected, "accepted": list(latest), "on_time": on_time,
            "late": late, "missing": missing, "rejected": rejected_units,
            "expected_count": len(expected), "accepted_count": len(latest), "on_time_count": len(on_time),
            "late_count": len(late), "missing_count": len(missing),
            "reporting_rate": _rate(len(latest), len(expected)), "on_time_rate": _rate(len(on_time), len(expected)),
            "received_at": {c: iso(r.received_at) for c, r in latest.items()},
        },
        "rejected": [
            {"unit": r.unit_code, "received_at": iso(r.received_at), "source": r.source, "errors": r.errors}
            for r in sorted(rejected, key=lambda r: r.received_at)
        ],
        "narratives": narratives,
        "narrative_sections": [{"code": i.code, "label": i.label} for i in report.narrative],
        "outline": report.body_outline.model_dump(mode="json"),
        "recipients": [r.line for r in report.recipients],
        "signer": report.signer.model_dump(),
    }


def indicator_info(i: Indicator) -> IndicatorInfo:
    """An indicator as the consolidation describes it; aggregation and phrase belong to integers only."""
    info: IndicatorInfo = {"code": i.code, "label": i.label, "unit": i.unit, "type": i.type, "group": i.group}
    if i.type == "integer":
        info["aggregation"] = i.aggregation
        info["phrase"] = i.phrase
    return info
