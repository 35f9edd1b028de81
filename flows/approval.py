"""The Director's approval before delivery: the flow pauses and waits for input in the Prefect UI.

One pause with the full `timeout_hours` holds the run; a background thread reminds the signer every
`remind_after_hours` while it waits. Short pauses in a loop would not work: once a pause times out the
server fails the run (pause-expiration service) and refuses to pause it again. Every step is written to
the ledger audit; a rejection is mailed to the operator with the signer's comment.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from tasks.context import Context
from tasks.dispatch import dispatch
from tasks.messages import approval_mail, approval_reject_mail
from tasks.periods import TZ, Period


def _poll_seconds() -> int:
    """How often the paused run asks the server whether it was resumed (tests shorten it)."""
    return int(os.environ.get("BAOCAO_APPROVAL_POLL_SECONDS", "10"))


class ApprovalInput(RunInput):
    """What the signer answers in the Prefect UI (Resume form)."""

    approve: bool = Field(True, title="Đồng ý gửi", description="Bỏ đánh dấu để trả lại báo cáo cho Văn phòng")
    comment: str = Field("", title="Ý kiến", description="Bắt buộc khi trả lại: cần sửa gì")
    signer: str = Field("", title="Người duyệt")


@dataclass(frozen=True)
class Decision:
    approved: bool
    comment: str = ""
    signer: str = ""


def flow_run_url(run_id: str | None) -> str | None:
    """Link to the run in the Prefect UI, when the UI address is known (not on an ephemeral server)."""
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}" if base and run_id else None


def _completeness(ctx: Context, period: Period, out_dir: str) -> dict[str, Any] | None:
    summary = Path(out_dir) / f"{ctx.cfg.report.id}-{period.key}.json"
    if not summary.exists():
        return None
    return json.loads(summary.read_text(encoding="utf-8"))["completeness"]


def _docx(ctx: Context, period: Period, out_dir: str) -> str:
    return str(Path(out_dir) / f"{ctx.cfg.report.id}-{period.key}.docx")


def approval_description(ctx: Context, period: Period, out_dir: str) -> str:
    lines = [f"## Phê duyệt báo cáo {ctx.cfg.report.title.lower()} {period.label}",
             f"Người ký: **{ctx.cfg.settings.approval.signer}**."]
    c = _completeness(ctx, period, out_dir)
    if c:
        lines.append(f"Đã báo cáo {c['accepted_count']}/{c['expected_count']} đơn vị; "
                     f"chưa báo cáo: {', '.join(c['missing']) or 'không'}.")
    lines.append(f"Tệp báo cáo: `{_docx(ctx, period, out_dir)}`")
    lines.append("Đánh dấu **Đồng ý gửi** để gửi; bỏ đánh dấu và ghi **Ý kiến** để trả lại Văn phòng.")
    return "\n\n".join(lines)


class _Reminder(threading.Thread):
    """Mails the signer every `every` seconds until stopped (the pause returned or timed out)."""

    def __init__(self, every: float, send: Callable[[int, float], None]):
        super().__init__(name="baocao-approval-reminder", daemon=True)
        self.every, self.send, self.stopped = every, send, threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopped.wait(self.every):
            n += 1
            self.send(n, n * self.every / 3600)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


def wait_for_approval(ctx: Context, period: Period, out_dir: str) -> Decision:
    """Pause the delivery flow until the signer approves or rejects (with a comment), reminding meanwhile."""
    settings = ctx.cfg.settings.approval
    logger = get_run_logger()
    entity = f"{ctx.cfg.report.id}:{period.key}"
    run_id = str(flow_run.id or "local")
    url = flow_run_url(flow_run.id)
    timeout = max(1, int(settings.timeout_hours * 3600))
    expires = (datetime.now(TZ) + timedelta(seconds=timeout)).strftime("%H:%M ngày %d/%m/%Y")
    docx, completeness = _docx(ctx, period, out_dir), _completeness(ctx, period, out_dir)

    def ask(reminder: int, waited_hours: float) -> None:
        if not settings.signer_email:
            logger.warning("Chưa cấu hình approval.signer_email: không gửi được thư đề nghị duyệt")
            return
        try:
            result = dispatch(ctx, [approval_mail(ctx.cfg, period, flow_run_id=run_id, url=url, docx=docx,
                                                  completeness=completeness, reminder=reminder,
                                                  waited_hours=waited_hours, expires_at=expires)])
        except Exception as exc:  # a mail failure must not end the wait for the signer
            logger.warning("Không gửi được thư %s cho người duyệt: %s", "nhắc" if reminder else "đề nghị", exc)
            return
        if reminder:
            ctx.ledger.audit("approval", entity, "reminded", signer=settings.signer, n=reminder, flow_run=run_id)
            logger.info("Đã nhắc %s phê duyệt (lần %s)", settings.signer, reminder)
        for key, reason in result.failed:
            logger.warning("Không gửi được %s: %s", key, reason)

    logger.info("Chờ %s phê duyệt báo cáo %s (tối đa %s giờ)", settings.signer, period.key, settings.timeout_hours)
    ctx.ledger.audit("approval", entity, "requested", signer=settings.signer, flow_run=run_id)
    ask(0, 0)
    reminder = _Reminder(settings.remind_after_hours * 3600, ask)
    reminder.start()
    try:
        answer = pause_flow_run(
            wait_for_input=ApprovalInput.with_initial_data(
                description=approval_description(ctx, period, out_dir), approve=True, signer=settings.signer),
            timeout=timeout, poll_interval=_poll_seconds(), key=f"approval-{period.key}",
        )
    except FlowPauseTimeout:
        ctx.ledger.audit("approval", entity, "expired", signer=settings.signer, flow_run=run_id)
        raise RuntimeError(f"Hết {settings.timeout_hours:g} giờ chờ mà {settings.signer} chưa phê duyệt báo cáo "
                           f"{period.key}; chạy lại bước gửi (baocao deliver --period {period.key}).") from None
    finally:
        reminder.stop()
    decision = Decision(bool(answer.approve), answer.comment.strip(), answer.signer.strip() or settings.signer)
    ctx.ledger.audit("approval", entity, "approved" if decision.approved else "rejected",
                     comment=decision.comment, signer=decision.signer, flow_run=run_id)
    if decision.approved:
        logger.info("%s đã phê duyệt báo cáo %s", decision.signer, period.key)
    else:
        logger.warning("%s trả lại báo cáo %s: %s", decision.signer, period.key, decision.comment)
        at = datetime.now(TZ).strftime("%H:%M ngày %d/%m/%Y")
        dispatch(ctx, [approval_reject_mail(ctx.cfg, period, flow_run_id=run_id, signer=decision.signer,
                                              comment=decision.comment, url=url, at=at)])
    verdict = "Đã phê duyệt" if decision.approved else "Bị trả lại"
    create_markdown_artifact(
        key="phe-duyet-" + "".join(ch if ch.isalnum() else "-" for ch in period.key.lower()),
        markdown=f"# {verdict}: báo cáo {period.label}\n\nNgười duyệt: **{decision.signer}**\n\n"
                 f"Ý kiến: {decision.comment or '(không)'}",
        description=f"Phê duyệt báo cáo {period.label}")
    return decision
