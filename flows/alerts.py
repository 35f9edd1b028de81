"""Failure alerts: a failed flow run emails the operator through baocao's own mail path.

Prefect's email notification block needs Prefect Cloud, so on a self-hosted server the alert is an
`on_failure` hook that composes the `alert` message and sends it like every other message (outbox .eml,
SMTP when enabled, recorded in the ledger).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

from tasks.context import open_context
from tasks.messages import alert_mail
from tasks.periods import TZ
from tasks.sending import dispatch

logger = logging.getLogger("baocao.alerts")

# Vietnamese step name and the command the operator runs to retry it by hand.
STEPS: dict[str, tuple[str, str]] = {
    "request_reports": ("Gửi đề nghị báo cáo", "baocao request"),
    "collect_submissions": ("Thu báo cáo", "baocao collect"),
    "send_reminders": ("Nhắc báo cáo", "baocao remind --force"),
    "consolidate_report": ("Tổng hợp báo cáo", "baocao consolidate"),
    "consolidate_after_deadline": ("Tổng hợp sau hạn", "baocao consolidate"),
    "deliver_report": ("Gửi báo cáo tổng hợp", "baocao deliver"),
    "report_cycle": ("Chu kỳ báo cáo", "baocao cycle"),
}


def alert_operator(flow: Any, flow_run: Any, state: Any) -> None:
    """`on_failure` hook: mail the operator what failed, when, and how to retry. Never raises.

    Only the outermost run alerts: a failing subflow fails its parent too, and one failure is one email.
    """
    if getattr(flow_run, "parent_task_run_id", None) is not None:
        return
    try:
        params = dict(flow_run.parameters or {})
        ctx = open_context(params.get("config_dir"), params.get("data_dir"))
        try:
            period = ctx.period(params.get("period"))
        except Exception:
            period = ctx.period(None)
        step, command = STEPS.get(flow.name, (flow.name, "baocao cycle"))
        from flows.runtime import flow_run_url

        mail = alert_mail(ctx.cfg, period, flow_name=step, flow_run=flow_run.name,
                          error=(state.message or state.name or "không rõ lỗi")[:2000],
                          at=datetime.now(TZ).strftime("%H:%M ngày %d/%m/%Y"),
                          command=f"{command} --period {period.key}", url=flow_run_url(str(flow_run.id)))
        # Run names repeat ("Thu báo cáo 2021-03" every 15 minutes): key the alert by the run id.
        mail = dataclasses.replace(mail, key=f"alert:{flow_run.id}")
        result = dispatch(ctx, [mail])
        ctx.ledger.audit("flow_run", str(flow_run.id), "failed", flow=flow.name, period=period.key,
                         error=(state.message or "")[:500])
        for key, reason in result.failed:
            logger.error("Không gửi được thư báo lỗi %s: %s", key, reason)
    except Exception:  # the alert must never hide the original failure
        logger.exception("Không gửi được thư báo lỗi cho lượt chạy %s", getattr(flow_run, "name", "?"))
