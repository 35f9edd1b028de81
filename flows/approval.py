"""The Director's approval before delivery: state in the ledger, never a flow run held paused.

Consolidation writes a draft. Delivery first asks for approval: a mail to the signer with the draft attached
and a link to the approval page (`baocao web`, /duyet/<period>), recorded in the ledger with the SHA-256 of
the draft files. The signer approves there (with the document number and issue date) or returns the report
with a reason; the decision is stored with the SHA-256 of the files shown, and emits an event that starts
the delivery deployment again. An approval holds only for exactly the files approved: a draft consolidated
again afterwards needs a new approval. A daily reminder repeats the ask while it waits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from tasks.approvals import Decision, file_digests, latest_decision
from tasks.context import Context
from tasks.messages import DOCX, approval_mail, approval_reject_mail
from tasks.outputs import draft_paths
from tasks.periods import TZ, Period
from tasks.sending import DispatchReport, dispatch

ENTITY = "approval"
Standing = Literal["approved", "returned", "pending", "not_requested", "no_report"]


@dataclass(frozen=True)
class ApprovalState:
    """Where a period's report stands: approved (exactly these files), returned, waiting, or not yet asked."""

    standing: Standing
    decision: Decision | None = None
    digests: dict[str, str] | None = None
    requested_at: datetime | None = None


def default_out(ctx: Context, period: Period) -> Path:
    return ctx.data_dir / "reports" / period.key


def draft_digests(ctx: Context, period: Period, out_dir: Path) -> dict[str, str]:
    return file_digests(draft_paths(ctx, period, out_dir).values())


def version_of(digests: dict[str, str]) -> str:
    """A short name for one set of draft files (the approval request's key)."""
    return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:12]


def approval_state(ctx: Context, period: Period, out_dir: Path | None = None) -> ApprovalState:
    out = out_dir or default_out(ctx, period)
    if not draft_paths(ctx, period, out)["json"].is_file():
        return ApprovalState("no_report")
    digests = draft_digests(ctx, period, out)
    decision = latest_decision(ctx.ledger, ctx.cfg.report.id, period.key)
    if decision is not None and decision.sha256 == digests:
        return ApprovalState("approved" if decision.approved else "returned", decision, digests)
    key = f"{ctx.cfg.report.id}:{period.key}"
    asked = [e for e in ctx.ledger.audit_events(ENTITY)
             if e.entity_id == key and e.action == "requested" and e.detail.get("sha256") == digests]
    if asked:
        at = asked[-1].at
        return ApprovalState("pending", None, digests, at if at.tzinfo else at.replace(tzinfo=UTC))
    return ApprovalState("not_requested", None, digests)


def approval_pending(ctx: Context, period: Period, out_dir: Path | None = None) -> bool:
    """An approval was asked for exactly the current draft and not yet decided: consolidating again now
    would replace the files the Director is reading."""
    return approval_state(ctx, period, out_dir).standing == "pending"


def approval_url(ctx: Context, period: Period) -> str:
    return f"{ctx.cfg.settings.web.base_url.rstrip('/')}/duyet/{period.key}"


def board_url(ctx: Context, period: Period) -> str:
    return f"{ctx.cfg.settings.web.base_url.rstrip('/')}/bang/{period.key}"


def request_approval(ctx: Context, period: Period, out_dir: Path | None = None, reminder: int = 0,
                     now: datetime | None = None) -> DispatchReport:
    """Mail the signer the draft and the approval page's address; recorded with the draft's SHA-256."""
    out = out_dir or default_out(ctx, period)
    paths = draft_paths(ctx, period, out)
    digests = draft_digests(ctx, period, out)
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))
    label = f"Dự thảo báo cáo {ctx.cfg.report.short_code} {period.key}"
    files = [(f"{label}.docx", paths["docx"].read_bytes(), DOCX)]
    if paths["pdf"].is_file():
        files.append((f"{label}.pdf", paths["pdf"].read_bytes(), "application/pdf"))
    state = approval_state(ctx, period, out)
    waited = ((now or datetime.now(UTC)) - state.requested_at).total_seconds() / 3600 if state.requested_at else 0
    mail = approval_mail(ctx.cfg, period, version=version_of(digests), url=approval_url(ctx, period), files=files,
                         completeness=summary.get("completeness"), reminder=reminder, waited_hours=waited)
    report = dispatch(ctx, [mail])
    if reminder == 0 and state.standing == "not_requested":
        ctx.ledger.audit(ENTITY, f"{ctx.cfg.report.id}:{period.key}", "requested",
                         signer=ctx.cfg.settings.approval.signer, sha256=digests, out=str(out))
    return report


def remind_approver(ctx: Context, period: Period, now: datetime | None = None) -> DispatchReport | None:
    """Repeat the ask every `remind_after_hours` while the current draft waits for a decision."""
    state = approval_state(ctx, period)
    if state.standing != "pending" or state.requested_at is None:
        return None
    every = timedelta(hours=ctx.cfg.settings.approval.remind_after_hours)
    waited = (now or datetime.now(UTC)) - state.requested_at
    n = int(waited / every) if every.total_seconds() > 0 else 0
    return request_approval(ctx, period, reminder=n, now=now) if n > 0 else None


def tell_returned(ctx: Context, period: Period, decision: Decision) -> DispatchReport:
    """The operator learns (once per decision) that the signer sent the report back, and why."""
    at = decision.at.astimezone(TZ).strftime("%H:%M ngày %d/%m/%Y")
    return dispatch(ctx, [approval_reject_mail(ctx.cfg, period, decision_id=str(decision.id), signer=decision.name,
                                               comment=decision.reason or "", url=board_url(ctx, period), at=at)])


def describe(state: ApprovalState) -> dict[str, Any]:
    """The state as the run's result shows it."""
    d = state.decision
    return {"standing": state.standing, "by": d.name if d else None, "reason": d.reason if d else None,
            "number": d.document_number if d else None,
            "issue_date": d.issue_date.isoformat() if d and d.issue_date else None}
