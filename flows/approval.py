"""The Director's approval before delivery: the flow pauses and waits for input in the Prefect UI.

One pause with the full `timeout_hours` holds the run; a background thread reminds the signer every
`remind_after_hours` while it waits. Short pauses in a loop would not work: once a pause times out the
server fails the run (pause-expiration service) and refuses to pause it again. Every step is written to
the ledger audit; a rejection is mailed to the operator with the signer's comment.

The signer approves exact files: the SHA-256 of every file to be sent is recorded with the request and shown
in the form. If a consolidation rewrote them while the run waited, the approval is void ("stale"): nothing is
sent and the operator is told to ask for approval again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from tasks.messages import approval_mail, approval_reject_mail
from tasks.outputs import output_paths
from tasks.periods import TZ, Period
from tasks.sending import dispatch

ENTITY = "approval"
# Audit actions that end a wait; "requested" followed by none of them means an approval is pending.
CLOSING_ACTIONS = frozenset({"approved", "rejected", "expired", "stale"})
SYSTEM_SIGNER = "Hệ thống baocao"


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


def delivery_files(ctx: Context, period: Period, out_dir: str) -> dict[str, Path]:
    """The files deliver_report sends (and reads): .docx, .xlsx, .json, and the .pdf when present."""
    paths = output_paths(ctx, period, Path(out_dir))
    paths["pdf"] = paths["docx"].with_suffix(".pdf")
    return paths


def file_hashes(ctx: Context, period: Period, out_dir: str) -> dict[str, str]:
    """File name -> SHA-256 of the files to be sent; a missing file is left out (a new .pdf counts as a change)."""
    out: dict[str, str] = {}
    for path in delivery_files(ctx, period, out_dir).values():
        if path.is_file():
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def _as_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands timestamps back naive (stored as UTC)


def _run_finished(run_id: str) -> bool:
    """Whether the Prefect run that asked is over (cancelled, crashed...); False when it cannot be told."""
    from uuid import UUID

    from prefect import get_client

    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(run_id)).state
    except Exception:
        return False
    return state is not None and state.is_final()


def approval_pending(ctx: Context, period: Period) -> bool:
    """An approval was requested for the period and not yet answered, expired or voided.

    A request older than its timeout, or whose run has ended (cancelled in the UI, crashed), is not pending.
    """
    entity_id = f"{ctx.cfg.report.id}:{period.key}"
    last = None
    for event in ctx.ledger.audit_events(ENTITY):
        if event.entity_id == entity_id and (event.action == "requested" or event.action in CLOSING_ACTIONS):
            last = event
    if last is None or last.action != "requested":
        return False
    hours = float(last.detail.get("timeout_hours") or ctx.cfg.settings.approval.timeout_hours)
    if datetime.now(UTC) > _as_utc(last.at) + timedelta(hours=hours):
        return False
    run_id = str(last.detail.get("flow_run") or "")
    return not (run_id and run_id != "local" and _run_finished(run_id))


def approval_description(ctx: Context, period: Period, out_dir: str,
                         hashes: dict[str, str] | None = None) -> str:
    lines = [f"## Phê duyệt báo cáo {ctx.cfg.report.title.lower()} {period.label}",
             f"Người ký: **{ctx.cfg.settings.approval.signer}**."]
    c = _completeness(ctx, period, out_dir)
    if c:
        lines.append(f"Đã báo cáo {c['accepted_count']}/{c['expected_count']} đơn vị; "
                     f"chưa báo cáo: {', '.join(c['missing']) or 'không'}.")
    lines.append(f"Tệp báo cáo: `{_docx(ctx, period, out_dir)}`")
    if hashes:
        lines.append("Mã SHA-256 của các tệp sẽ gửi (nếu tệp bị tổng hợp lại trong lúc chờ, "
                     "phê duyệt này không còn hiệu lực và báo cáo không được gửi):\n\n"
                     + "\n".join(f"- `{name}`: `{digest}`" for name, digest in sorted(hashes.items())))
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
    # hashed first: whatever is read for the request afterwards is at least as new as what is checked later
    hashes = file_hashes(ctx, period, out_dir)
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
            ctx.ledger.audit(ENTITY, entity, "reminded", signer=settings.signer, n=reminder, flow_run=run_id)
            logger.info("Đã nhắc %s phê duyệt (lần %s)", settings.signer, reminder)
        for key, reason in result.failed:
            logger.warning("Không gửi được %s: %s", key, reason)

    logger.info("Chờ %s phê duyệt báo cáo %s (tối đa %s giờ)", settings.signer, period.key, settings.timeout_hours)
    ctx.ledger.audit(ENTITY, entity, "requested", signer=settings.signer, flow_run=run_id, out=str(out_dir),
                     sha256=hashes, timeout_hours=settings.timeout_hours)
    ask(0, 0)
    reminder = _Reminder(settings.remind_after_hours * 3600, ask)
    reminder.start()
    try:
        answer = pause_flow_run(
            wait_for_input=ApprovalInput.with_initial_data(
                description=approval_description(ctx, period, out_dir, hashes), approve=True, signer=settings.signer),
            timeout=timeout, poll_interval=_poll_seconds(), key=f"approval-{period.key}",
        )
    except FlowPauseTimeout:
        ctx.ledger.audit(ENTITY, entity, "expired", signer=settings.signer, flow_run=run_id)
        raise RuntimeError(f"Hết {settings.timeout_hours:g} giờ chờ mà {settings.signer} chưa phê duyệt báo cáo "
                           f"{period.key}; chạy lại bước gửi (baocao deliver --period {period.key}).") from None
    finally:
        reminder.stop()
    decision = Decision(bool(answer.approve), answer.comment.strip(), answer.signer.strip() or settings.signer)
    ctx.ledger.audit(ENTITY, entity, "approved" if decision.approved else "rejected",
                     comment=decision.comment, signer=decision.signer, flow_run=run_id)
    at = datetime.now(TZ).strftime("%H:%M ngày %d/%m/%Y")
    now = file_hashes(ctx, period, out_dir) if decision.approved else hashes
    changed = changed_files(hashes, now)
    if changed:
        # the signer approved files that are no longer there: never send the newer ones in their name
        reason = (f"Báo cáo kỳ {period.key} đã được tổng hợp lại trong lúc chờ phê duyệt (tệp thay đổi: "
                  f"{', '.join(changed)}). {decision.signer} đã đồng ý bản trước đó, chưa xem bản mới, nên báo cáo "
                  f"CHƯA được gửi; cần trình duyệt lại bản mới (baocao deliver --period {period.key}).")
        ctx.ledger.audit(ENTITY, entity, "stale", changed=changed, before=hashes, after=now,
                         signer=decision.signer, flow_run=run_id)
        logger.warning("Không gửi báo cáo %s: %s", period.key, reason)
        dispatch(ctx, [approval_reject_mail(ctx.cfg, period, flow_run_id=run_id, signer=SYSTEM_SIGNER,
                                              comment=reason, url=url, at=at)])
        decision = Decision(False, reason, decision.signer)
        verdict = "Chưa gửi: báo cáo đã thay đổi sau khi trình duyệt"
    elif decision.approved:
        logger.info("%s đã phê duyệt báo cáo %s", decision.signer, period.key)
        verdict = "Đã phê duyệt"
    else:
        logger.warning("%s trả lại báo cáo %s: %s", decision.signer, period.key, decision.comment)
        dispatch(ctx, [approval_reject_mail(ctx.cfg, period, flow_run_id=run_id, signer=decision.signer,
                                              comment=decision.comment, url=url, at=at)])
        verdict = "Bị trả lại"
    create_markdown_artifact(
        key="phe-duyet-" + "".join(ch if ch.isalnum() else "-" for ch in period.key.lower()),
        markdown=f"# {verdict}: báo cáo {period.label}\n\nNgười duyệt: **{decision.signer}**\n\n"
                 f"Ý kiến: {decision.comment or '(không)'}",
        description=f"Phê duyệt báo cáo {period.label}")
    return decision
