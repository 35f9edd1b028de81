"""Prefect events baocao emits: each accepted/rejected submission, and a period once every unit is in."""

from __future__ import annotations

from typing import Any

from flows.offline import ensure_offline

ensure_offline()

from prefect.events import emit_event  # noqa: E402

from tasks.context import Context  # noqa: E402
from tasks.periods import Period  # noqa: E402
from tasks.status import all_reported, status_rows  # noqa: E402
from tasks.types import OutcomeStatus  # noqa: E402

SUBMISSION_RECEIVED = "baocao.submission.received"
PERIOD_COMPLETE = "baocao.period.complete"


def publish_outcomes(ctx: Context, period: Period, outcomes: list[dict[str, Any]],
                     rows: list[dict[str, Any]] | None = None) -> None:
    """Prefect events per accepted/rejected submission, and period.complete once all units are in
    (`rows`: the period's status rows when the caller has them already)."""
    for o in outcomes:
        if o["status"] in (OutcomeStatus.ACCEPTED, OutcomeStatus.REJECTED):
            emit_event(
                event=f"baocao.submission.{o['status']}",
                resource={"prefect.resource.id": f"baocao.submission.{ctx.cfg.report.id}.{o['submission_id']}",
                          "baocao.unit": o["unit_code"] or "", "baocao.period": o.get("period") or period.key,
                          "baocao.report": ctx.cfg.report.id},
                payload={"errors": len(o["errors"]), "source": o["source_ref"]},
            )
    touched = {period.key} | {o["period"] for o in outcomes if o.get("period")}
    for key in sorted(touched):
        announce_if_complete(ctx, ctx.period(key), rows if key == period.key else None)


def announce_if_complete(ctx: Context, period: Period, rows: list[dict[str, Any]] | None = None) -> None:
    """Once per period: baocao.period.complete when every expected unit has a valid report."""
    if not all_reported(rows if rows is not None else status_rows(ctx, period)):
        return
    key = f"{ctx.cfg.report.id}:{period.key}"
    if not any(e.entity_id == key and e.action == "complete" for e in ctx.ledger.audit_events("period")):
        ctx.ledger.audit("period", key, "complete")
        emit_event(event=PERIOD_COMPLETE,
                   resource={"prefect.resource.id": f"baocao.period.{ctx.cfg.report.id}.{period.key}",
                             "baocao.period": period.key, "baocao.report": ctx.cfg.report.id})
