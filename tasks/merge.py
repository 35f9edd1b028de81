"""Merging accepted submissions into the consolidated report data (the JSON the README documents).

Pure: takes what the ledger holds, returns a dict; the renderers and the flows do the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tasks.config import AppConfig
from tasks.periods import TZ, Period


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


def totals_of(cfg: AppConfig, reports: Iterable[UnitReport]) -> dict[str, int]:
    """Sum of every integer indicator over the given units (0 when nobody reported it)."""
    import pandas as pd  # imported here so read-only commands (status) stay fast

    codes = [i.code for i in cfg.report.numeric]
    frame = pd.DataFrame([{c: r.values.get(c) for c in codes} for r in reports], columns=codes)
    sums = frame.apply(pd.to_numeric, errors="coerce").sum(min_count=0)
    return {c: int(sums.get(c, 0) or 0) for c in codes}


def _rate(n: int, d: int) -> float:
    return round(n / d, 3) if d else 0.0


def consolidate(
    cfg: AppConfig,
    period: Period,
    unit_deadline: date,
    report_deadline: date,
    accepted: list[UnitReport],
    rejected: list[RejectedReport],
    previous: tuple[Period, dict[str, int]] | None = None,
    year_to_date_before: dict[str, int] | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The consolidation dict for one period: totals, per-unit values, completeness, narratives."""
    report, settings = cfg.report, cfg.settings
    expected = [u.code for u in cfg.active_units]
    latest: dict[str, UnitReport] = {}
    for r in sorted(accepted, key=lambda r: r.received_at):
        if r.unit_code in expected:
            latest[r.unit_code] = r
    counted = [latest[c] for c in expected if c in latest]
    totals = totals_of(cfg, counted)

    on_time = [c for c in expected if c in latest and latest[c].on_time]
    late = [c for c in expected if c in latest and not latest[c].on_time]
    missing = [c for c in expected if c not in latest]
    rejected_units = [c for c in missing if any(r.unit_code == c for r in rejected)]

    ytd: dict[str, int] = {}
    if year_to_date_before is not None and period.kind in ("month", "quarter"):
        ytd = {c: totals[c] + int(year_to_date_before.get(c, 0)) for c in totals}

    narratives: dict[str, list[dict[str, str]]] = {}
    names = {u.code: u.name for u in cfg.units}
    for ind in report.indicators:
        if ind.type != "text":
            continue
        entries = [
            {"unit": c, "unit_name": names[c], "text": str(latest[c].values[ind.code])}
            for c in expected
            if c in latest and latest[c].values.get(ind.code)
        ]
        narratives[ind.code] = entries

    recipients = [r.line for r in report.recipients]
    return {
        "report_id": report.id,
        "report_title": report.title,
        "period": {
            "key": period.key, "kind": period.kind, "label": period.label,
            "cutoff_start": period.start.isoformat(), "cutoff_end": period.end.isoformat(),
            "unit_deadline": unit_deadline.isoformat(), "report_deadline": report_deadline.isoformat(),
        },
        "generated_at": (generated_at or datetime.now(TZ)).astimezone(TZ).isoformat(timespec="seconds"),
        "organisation": {
            "supervising_body": settings.organisation.supervising_body,
            "issuing_body": settings.organisation.issuing_body,
            "place": settings.organisation.place,
            "document_number": report.document_number,
            "recipient_line": report.recipient_line,
        },
        "groups": [{"code": g.code, "label": g.label, "kind": g.kind} for g in report.groups],
        "indicators": [
            {"code": i.code, "label": i.label, "unit": i.unit, "type": i.type, "group": i.group}
            for i in report.indicators
        ],
        "main_indicators": list(report.main_indicators),
        "totals": totals,
        "year_to_date": ytd,
        "previous": (
            {"period": previous[0].key, "label": previous[0].label, "totals": previous[1]} if previous else None
        ),
        "values_by_unit": {c: dict(latest[c].values) for c in expected if c in latest},
        "units": {c: names[c] for c in expected},
        "completeness": {
            "expected": expected, "accepted": [c for c in expected if c in latest], "on_time": on_time,
            "late": late, "missing": missing, "rejected": rejected_units,
            "expected_count": len(expected), "accepted_count": len(latest), "on_time_count": len(on_time),
            "late_count": len(late), "missing_count": len(missing),
            "reporting_rate": _rate(len(latest), len(expected)), "on_time_rate": _rate(len(on_time), len(expected)),
            "received_at": {c: latest[c].received_at.astimezone(TZ).isoformat(timespec="seconds")
                            for c in expected if c in latest},
        },
        "rejected": [
            {"unit": r.unit_code, "received_at": r.received_at.astimezone(TZ).isoformat(timespec="seconds"),
             "source": r.source, "errors": r.errors}
            for r in sorted(rejected, key=lambda r: r.received_at)
        ],
        "narratives": narratives,
        "narrative_sections": [{"code": i.code, "label": i.label} for i in report.narrative],
        "recipients": recipients,
        "signer": report.signer.model_dump(),
    }
