"""Failure alerts: a failed flow run emails the operator through baocao's own mail path.

Prefect's email notification block needs Prefect Cloud, so on a self-hosted server the alert is an
`on_failure` hook that composes the `alert` message and sends it like every other message (outbox .eml,
SMTP when enabled, recorded in the ledger).

When the configuration itself cannot be read (a broken settings.yaml), that path is closed: the hook then
writes the error to the run's Prefect log and, when the environment names an address (BAOCAO_ALERT_EMAIL),
writes a plain alert .eml to `<data dir>/outbox/khac/alert/` and sends it through BAOCAO_ALERT_SMTP_HOST/PORT
(a local relay, no password) when those are set.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from tasks.config import load_config
from tasks.context import DEFAULT_CONFIG_DIR, Context, open_context
from tasks.messages import alert_mail
from tasks.periods import TZ
from tasks.sending import dispatch

logger = logging.getLogger("baocao.alerts")

# Vietnamese step name and the command the operator runs to retry it by hand.
STEPS: dict[str, tuple[str, str]] = {
    "request_reports": ("Gửi đề nghị báo cáo", "request"),
    "collect_submissions": ("Thu báo cáo", "collect"),
    "send_reminders": ("Nhắc báo cáo", "remind --force"),
    "consolidate_report": ("Tổng hợp báo cáo", "consolidate"),
    "consolidate_after_deadline": ("Tổng hợp sau hạn", "consolidate"),
    "deliver_report": ("Gửi báo cáo tổng hợp", "deliver"),
    "report_cycle": ("Chu kỳ báo cáo", "cycle"),
}
FALLBACK_FOLDER = ("outbox", "khac", "alert")  # "khác": not filed under a period (none could be read)


def retry_command(step: str, *, config_dir: str | Path | None, data_dir: str | Path | None,
                  report: str | None = None, period: str | None = None) -> str:
    """The `baocao` line the operator pastes to retry a step: the same config, data dir and report as the run."""
    parts = ["baocao", "--config", str(Path(config_dir or DEFAULT_CONFIG_DIR).resolve())]
    if data_dir:
        parts += ["--data-dir", str(Path(data_dir).resolve())]
    if report:
        parts += ["--report", report]
    parts += step.split()
    if period:
        parts += ["--period", period]
    return shlex.join(parts)


def _report_flag(ctx: Context, config_dir: str | None) -> str | None:
    """`--report ID` only when the run used another report than settings.yaml's default."""
    chosen = ctx.cfg.report.id
    try:
        default = load_config(Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR).settings.report
    except Exception:
        return chosen
    return None if chosen == default else chosen


def alert_operator(flow: Any, flow_run: Any, state: Any) -> None:
    """`on_failure` hook: mail the operator what failed, when, and how to retry. Never raises.

    Only the outermost run alerts: a failing subflow fails its parent too, and one failure is one email.
    """
    if getattr(flow_run, "parent_task_run_id", None) is not None:
        return
    params = dict(getattr(flow_run, "parameters", None) or {})
    step, command = STEPS.get(flow.name, (flow.name, "cycle"))
    error = (state.message or state.name or "không rõ lỗi")[:2000]
    try:
        ctx = open_context(params.get("config_dir"), params.get("data_dir"))
    except Exception as exc:  # the configuration itself is broken: the ordinary path needs it
        _fallback_alert(flow, flow_run, step, command, error, exc, params)
        return
    try:
        try:
            period = ctx.period(params.get("period"))
        except Exception:
            period = ctx.period(None)
        from flows.runtime import flow_run_url

        retry = retry_command(command, config_dir=params.get("config_dir"), data_dir=ctx.data_dir,
                              report=_report_flag(ctx, params.get("config_dir")), period=period.key)
        mail = alert_mail(ctx.cfg, period, flow_name=step, flow_run=flow_run.name, error=error,
                          at=datetime.now(TZ).strftime("%H:%M ngày %d/%m/%Y"), command=retry,
                          url=flow_run_url(str(flow_run.id)))
        # Run names repeat ("Thu báo cáo 2021-03" every 15 minutes): key the alert by the run id.
        mail = dataclasses.replace(mail, key=f"alert:{flow_run.id}")
        result = dispatch(ctx, [mail])
        ctx.ledger.audit("flow_run", str(flow_run.id), "failed", flow=flow.name, period=period.key,
                         error=(state.message or "")[:500])
        for key, reason in result.failed:
            logger.error("Không gửi được thư báo lỗi %s: %s", key, reason)
    except Exception:  # the alert must never hide the original failure
        logger.exception("Không gửi được thư báo lỗi cho lượt chạy %s", getattr(flow_run, "name", "?"))


def _run_logger(flow: Any, flow_run: Any) -> Any:
    """The run's own Prefect logger (its lines are in the UI under the run), else baocao's."""
    try:
        from prefect.logging.loggers import flow_run_logger

        return flow_run_logger(flow_run=flow_run, flow=flow)
    except Exception:
        return logger


def _fallback_alert(flow: Any, flow_run: Any, step: str, command: str, error: str, config_error: Exception,
                    params: dict[str, Any]) -> None:
    """The alert when the configuration cannot be read: the run's log, and a plain mail to BAOCAO_ALERT_EMAIL."""
    log = _run_logger(flow, flow_run)
    problem = str(config_error)[:2000] or type(config_error).__name__
    try:
        log.error("Lượt chạy %s (%s) thất bại và không đọc được cấu hình nên không gửi được thư báo lỗi thông "
                  "thường. Lỗi cấu hình: %s", getattr(flow_run, "name", "?"), step, problem)
        to = os.environ.get("BAOCAO_ALERT_EMAIL", "").strip()
        if not to:
            log.warning("Chưa đặt biến môi trường BAOCAO_ALERT_EMAIL nên không có thư báo lỗi dự phòng.")
            return
        data_dir = params.get("data_dir") or os.environ.get("BAOCAO_DATA_DIR")
        period = params.get("period")
        msg = _fallback_mail(to, step, getattr(flow_run, "name", "?"), error, problem,
                             retry_command(command, config_dir=params.get("config_dir"), data_dir=data_dir,
                                           report=os.environ.get("BAOCAO_REPORT") or None,
                                           period=str(period) if period else None),
                             _url(flow_run))
        if data_dir:
            folder = Path(data_dir).joinpath(*FALLBACK_FOLDER)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{getattr(flow_run, 'id', 'alert')}.eml"
            path.write_bytes(bytes(msg))
            log.info("Đã ghi thư báo lỗi dự phòng gửi %s: %s", to, path)
        host, port = os.environ.get("BAOCAO_ALERT_SMTP_HOST"), os.environ.get("BAOCAO_ALERT_SMTP_PORT")
        if host and port:
            try:
                with smtplib.SMTP(host, int(port), timeout=30) as smtp:
                    smtp.send_message(msg)
                log.info("Đã gửi thư báo lỗi dự phòng tới %s qua %s:%s", to, host, port)
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                log.error("Không gửi được thư báo lỗi dự phòng qua %s:%s: %s", host, port,
                          type(exc).__name__ if isinstance(exc, smtplib.SMTPAuthenticationError) else exc)
    except Exception:  # never hide the original failure
        logger.exception("Không ghi được thư báo lỗi dự phòng cho lượt chạy %s", getattr(flow_run, "name", "?"))


def _url(flow_run: Any) -> str | None:
    try:
        from flows.runtime import flow_run_url

        return flow_run_url(str(flow_run.id))
    except Exception:
        return None


def _fallback_mail(to: str, step: str, run_name: str, error: str, config_error: str, command: str,
                   url: str | None) -> EmailMessage:
    """A plain-text alert that needs nothing from the configuration."""
    now = datetime.now(TZ)
    msg = EmailMessage()
    msg["From"] = os.environ.get("BAOCAO_ALERT_FROM") or to
    msg["To"] = to
    msg["Subject"] = f"[baocao] Lỗi khi chạy {step}: không đọc được cấu hình"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain="baocao.local")
    lines = [
        "Kính gửi Văn phòng,",
        "",
        f"Lượt chạy {run_name} ({step}) lúc {now:%H:%M ngày %d/%m/%Y} đã thất bại, và baocao không đọc được "
        "cấu hình nên thư này được gửi qua đường dự phòng (biến môi trường BAOCAO_ALERT_EMAIL).",
        "",
        f"Lỗi cấu hình: {config_error}",
        f"Lỗi của lượt chạy: {error}",
        "",
        "Sửa cấu hình (kiểm tra bằng lệnh baocao check-config), rồi chạy lại:",
        f"    {command}",
    ]
    if url:
        lines += ["", f"Xem lượt chạy: {url}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg
