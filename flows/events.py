"""Prefect events baocao emits: each accepted/rejected submission, and a period once every unit is in."""

from __future__ import annotations

from typing import Any

from flows.offline import ensure_offline

ensure_offline()

from prefect.events import emit_event  # noqa: E402

from tasks.context import Context  # noqa: E402
from tasks.display import shown  # noqa: E402
from tasks.periods import Period  # noqa: E402
from tasks.status import all_reported, status_rows  # noqa: E402
from tasks.types import OutcomeStatus  # noqa: E402

SUBMISSION_RECEIVED = "baocao.submission.received"
PERIOD_COMPLETE = "baocao.period.complete"
COLLECTED = "baocao.submissions.collected"


EVENT_LIMIT = 100  # per-submission events a run emits; past that one summary event (the ledger has them all)


def publish_outcomes(ctx: Context, period: Period, summary: dict[str, Any],
                     rows: list[dict[str, Any]] | None = None) -> None:
    """Events for a collect's outcomes (a summary of collect.summarise): one per accepted or rejected
    submission up to EVENT_LIMIT, a `baocao.submissions.collected` summary when there were more, and
    period.complete for each period now complete (`rows`: the collected period's status when at hand)."""
    report = ctx.cfg.report.id
    published = 0
    for o in summary["outcomes"]:
        if o["status"] in (OutcomeStatus.ACCEPTED, OutcomeStatus.REJECTED) and published < EVENT_LIMIT:
            published += 1
            emit_event(
                event=f"baocao.submission.{o['status']}",
                resource={"prefect.resource.id": f"baocao.submission.{report}.{o['submission_id']}",
                          "baocao.unit": o["unit_code"] or "", "baocao.period": o.get("period") or period.key,
                          "baocao.report": report},
                payload={"errors": len(o["errors"]), "source": shown(o["source_ref"], 200)},
            )
    countable = sum(summary["counts"].get(s, 0) for s in (OutcomeStatus.ACCEPTED, OutcomeStatus.REJECTED))
    if countable > published:
        emit_event(event=COLLECTED,
                   resource={"prefect.resource.id": f"baocao.period.{report}.{period.key}",
                             "baocao.period": period.key, "baocao.report": report},
                   payload={"counts": summary["counts"], "total": summary["total"]})
    if rows is None and not summary["counts"].get(OutcomeStatus.ACCEPTED):
        return  # only an accepted report completes a period (a watcher's batch of rejections needs no status)
    for key in sorted({period.key, *summary["periods"]}):
        announce_if_complete(ctx, ctx.period(key), rows if key == period.key else None)


def announce_if_complete(ctx: Context, period: Period, rows: list[dict[str, Any]] | None = None) -> None:
    """Once per period: baocao.period.complete when every expected unit has a valid report. A period already
    announced costs one small query, not its status."""
    key = f"{ctx.cfg.report.id}:{period.key}"
    if any(e.entity_id == key and e.action == "complete" for e in ctx.ledger.audit_events("period")):
        return
    if all_reported(rows if rows is not None else status_rows(ctx, period)):
        ctx.ledger.audit("period", key, "complete")
        emit_event(event=PERIOD_COMPLETE,
                   resource={"prefect.resource.id": f"baocao.period.{ctx.cfg.report.id}.{period.key}",
                             "baocao.period": period.key, "baocao.report": ctx.cfg.report.id})
