"""Status: where each unit stands in a period, for the operator's table, the events and the web board."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tasks.context import Context
from tasks.ledger import Submission, as_utc
from tasks.periods import TZ, Period
from tasks.types import SubmissionStatus, UnitStatus


def latest_by_unit(subs: Iterable[Submission]) -> dict[str, Submission]:
    """Each unit's counted report: its latest accepted submission (subs in order of receipt)."""
    latest: dict[str, Submission] = {}
    for s in subs:
        if s.unit_code and s.status == SubmissionStatus.ACCEPTED:
            latest[s.unit_code] = s
    return latest


def first_on_time(subs: Iterable[Submission]) -> dict[str, bool]:
    """Timeliness is decided by a unit's first valid report: a later correction does not make it late."""
    out: dict[str, bool] = {}
    for s in sorted(subs, key=lambda s: (as_utc(s.received_at), s.id)):
        if s.unit_code and s.status in (SubmissionStatus.ACCEPTED, SubmissionStatus.SUPERSEDED) \
                and s.unit_code not in out:
            out[s.unit_code] = bool(s.on_time)
    return out


def status_rows(ctx: Context, period: Period) -> list[dict[str, Any]]:
    """One row per expected unit: what the operator watches during the period."""
    subs = ctx.ledger.submissions(ctx.cfg.report.id, period.key)
    accepted = latest_by_unit(subs)
    timely = first_on_time(subs)
    mine_by_unit: dict[str, list[Submission]] = {}
    for s in subs:
        if s.unit_code and s.status != SubmissionStatus.QUARANTINED:
            mine_by_unit.setdefault(s.unit_code, []).append(s)
    rows = []
    for unit in ctx.cfg.active_units:
        mine = mine_by_unit.get(unit.code, [])
        acc = accepted.get(unit.code)
        shown: Submission | None
        if acc is not None:
            state = UnitStatus.ON_TIME if timely.get(unit.code, acc.on_time) else UnitStatus.LATE
            shown = acc
        elif mine:
            state, shown = UnitStatus.REJECTED, mine[-1]
        else:
            state, shown = UnitStatus.MISSING, None
        rows.append({
            "unit": unit.code, "name": unit.name, "channel": unit.channel, "status": state.value,
            "submission_id": shown.id if shown is not None else None,
            "status_vi": state.vi, "submissions": len(mine),
            "received_at": as_utc(shown.received_at).astimezone(TZ).isoformat(timespec="minutes") if shown else None,
            "errors": [e["message"] for e in shown.errors] if shown is not None and state == UnitStatus.REJECTED
            else [],
            "warnings": [w["message"] for w in acc.warnings] if acc is not None else [],
        })
    return rows


def all_reported(rows: list[dict[str, Any]]) -> bool:
    """Every expected unit has a valid report (the period is complete)."""
    return bool(rows) and all(UnitStatus(r["status"]).reported for r in rows)


def quarantine_rows(ctx: Context, period: Period) -> list[dict[str, Any]]:
    """Quarantined mail and files no unit could be read from: kept, listed, never counted."""
    return [{"id": s.id, "sender": s.sender, "source": s.source_ref, "unit": s.unit_code, "status": s.status,
             "reason": s.reason or "; ".join(e["message"] for e in s.errors),
             "received_at": as_utc(s.received_at).astimezone(TZ).isoformat(timespec="minutes")}
            for s in ctx.ledger.submissions(ctx.cfg.report.id, period.key)
            if s.status == SubmissionStatus.QUARANTINED or s.unit_code is None]
