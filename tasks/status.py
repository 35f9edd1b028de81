"""Status: where each unit stands in a period, for the operator's table, the events and the web board."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasks.bulk import collector_paused
from tasks.config import Unit
from tasks.context import Context
from tasks.ledger import UnitStanding, as_utc
from tasks.periods import TZ, Period
from tasks.types import UnitStatus


@collector_paused()
def status_rows(ctx: Context, period: Period, only: Unit | None = None) -> list[dict[str, Any]]:
    """One row per unit the period expects: what the operator watches during the period (one grouped ledger
    query). With `only`, that unit's row alone (none when it does not report for this period): its page needs
    no other."""
    units = ctx.cfg.units_expected_in(period) if only is None else [only] if only.expected_in(period) else []
    standings = ctx.ledger.unit_standings(ctx.cfg.report.id, period.key, only.code if only else None)
    rows = []
    for unit in units:
        st = standings.get(unit.code)
        state = unit_state(st)
        when: datetime | None = None
        shown_id: int | None = None
        if st is not None and state.reported:
            shown_id, when = st.accepted_id, st.accepted_received_at
        elif st is not None and state == UnitStatus.REJECTED:
            shown_id, when = st.rejected_id, st.rejected_received_at
        rows.append({
            "unit": unit.code, "name": unit.name, "channel": unit.channel, "status": state.value,
            "submission_id": shown_id, "status_vi": state.vi, "submissions": st.submissions if st else 0,
            "received_at": as_utc(when).astimezone(TZ).isoformat(timespec="minutes") if when else None,
            "errors": [e["message"] for e in st.errors] if st and state == UnitStatus.REJECTED else [],
            "warnings": [w["message"] for w in st.warnings] if st and st.accepted_id is not None else [],
        })
    return rows


def unit_state(st: UnitStanding | None) -> UnitStatus:
    """The status table's rule: the counted report's timeliness, else the latest rejection, else missing."""
    if st is not None and st.accepted_id is not None:
        return UnitStatus.ON_TIME if st.on_time else UnitStatus.LATE
    if st is not None and st.rejected_id is not None:
        return UnitStatus.REJECTED
    return UnitStatus.MISSING


def unit_states(ctx: Context, period: Period) -> tuple[dict[str, UnitStatus], bool]:
    """Every expected unit's status alone (no row built per unit: a board shows a dozen periods of a
    province's thousands), and whether anything was received at all."""
    standings = ctx.ledger.unit_standings(ctx.cfg.report.id, period.key)
    units = ctx.cfg.units_expected_in(period)
    if not standings:  # a period nothing was received for (most of a new board's dozen)
        return dict.fromkeys((u.code for u in units), UnitStatus.MISSING), False
    return {u.code: unit_state(standings.get(u.code)) for u in units}, True


def all_reported(rows: list[dict[str, Any]]) -> bool:
    """Every expected unit has a valid report (the period is complete)."""
    return bool(rows) and all(UnitStatus(r["status"]).reported for r in rows)


def quarantine_rows(ctx: Context, period: Period) -> list[dict[str, Any]]:
    """Quarantined mail and files no unit could be read from: kept, listed, never counted."""
    return [{"id": s.id, "sender": s.sender, "source": s.source_ref, "unit": s.unit_code, "status": s.status,
             "reason": s.reason or "; ".join(e["message"] for e in s.errors),
             "received_at": as_utc(s.received_at).astimezone(TZ).isoformat(timespec="minutes")}
            for s in ctx.ledger.quarantined(ctx.cfg.report.id, period.key)]
