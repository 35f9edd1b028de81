"""The Director's approval before delivery: the flow pauses and waits for input in the Prefect UI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from tasks.context import Context
from tasks.periods import Period


class ApprovalInput(RunInput):
    """What the signer answers in the Prefect UI."""

    approve: bool = True
    comment: str = ""
    signer: str = ""


@dataclass(frozen=True)
class Decision:
    approved: bool
    comment: str = ""
    signer: str = ""


def approval_description(ctx: Context, period: Period, out_dir: str) -> str:
    summary = Path(out_dir) / f"{ctx.cfg.report.id}-{period.key}.json"
    lines = [f"## Phê duyệt báo cáo {ctx.cfg.report.title.lower()} {period.label}",
             f"Người ký: **{ctx.cfg.settings.approval.signer}**."]
    if summary.exists():
        c = json.loads(summary.read_text(encoding="utf-8"))["completeness"]
        lines.append(f"Đã báo cáo {c['accepted_count']}/{c['expected_count']} đơn vị; "
                     f"chưa báo cáo: {', '.join(c['missing']) or 'không'}.")
    lines.append(f"Tệp báo cáo: `{Path(out_dir) / (ctx.cfg.report.id + '-' + period.key + '.docx')}`")
    lines.append("Chọn **approve = true** để gửi; **approve = false** và ghi ý kiến vào *comment* để trả lại.")
    return "\n\n".join(lines)


def wait_for_approval(ctx: Context, period: Period, out_dir: str) -> Decision:
    """Pause the delivery flow until the signer approves or rejects (with a comment)."""
    settings = ctx.cfg.settings.approval
    logger = get_run_logger()
    logger.info("Chờ %s phê duyệt báo cáo %s", settings.signer, period.key)
    ctx.ledger.audit("approval", f"{ctx.cfg.report.id}:{period.key}", "requested", signer=settings.signer)
    answer = pause_flow_run(
        wait_for_input=ApprovalInput.with_initial_data(
            description=approval_description(ctx, period, out_dir), approve=True, signer=settings.signer),
        timeout=int(settings.timeout_hours * 3600),
    )
    decision = Decision(bool(answer.approve), answer.comment.strip(), answer.signer)
    ctx.ledger.audit("approval", f"{ctx.cfg.report.id}:{period.key}",
                     "approved" if decision.approved else "rejected", comment=decision.comment,
                     signer=decision.signer)
    return decision
