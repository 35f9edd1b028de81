"""Prefect flows: the report cycle as the Department Office runs it, one short list of steps per flow.

Flows take plain parameters (period key, config and data directories) so they can be started from
the Prefect UI, `prefect deployment run` or the `baocao` command. Per-unit work runs in a few chunked
tasks (Prefect costs ~5 ms per task run), never one task run per unit.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NONE  # noqa: E402
from prefect.events import emit_event  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from flows.alerts import alert_operator  # noqa: E402
from tasks import steps  # noqa: E402
from tasks.context import Context, cached_context  # noqa: E402
from tasks.dispatch import DispatchReport, dispatch  # noqa: E402
from tasks.periods import TZ, Period  # noqa: E402

CHUNK = int(os.environ.get("BAOCAO_CHUNK_SIZE", "50"))


def _ctx(config_dir: str | None, data_dir: str | None) -> Context:
    return cached_context(config_dir, data_dir)


def _period_name(step: str) -> str:
    params = flow_run.parameters or {}
    key = params.get("period")
    if not key:
        try:
            key = _ctx(params.get("config_dir"), params.get("data_dir")).period(None).key
        except Exception:
            key = "hiện tại"
    return f"{step} {key}"


def _report_dict(r: DispatchReport) -> dict[str, Any]:
    return {"written": r.written, "sent": r.sent, "skipped": r.skipped, "failed": r.failed}


# ------------------------------------------------------------------ tasks (chunked)


@task(name="gửi đề nghị báo cáo (nhóm đơn vị)", task_run_name="gửi đề nghị báo cáo {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=10)
def send_requests_chunk(config_dir: str | None, data_dir: str | None, period_key: str, unit_codes: list[str],
                        resend: bool) -> dict[str, Any]:
    ctx = _ctx(config_dir, data_dir)
    period = ctx.period(period_key)
    units = [u for u in ctx.cfg.active_units if u.code in unit_codes]
    return _report_dict(dispatch(ctx, steps.request_mails(ctx, period, units), resend=resend))


@task(name="tạo trang tính cho đơn vị", task_run_name="tạo trang tính cho đơn vị {period_key}",
      cache_policy=NONE, retries=3, retry_delay_seconds=30)
def ensure_sheet_tabs(config_dir: str | None, data_dir: str | None, period_key: str) -> dict[str, Any]:
    from tasks.sheet_channel import ensure_unit_tabs

    ctx = _ctx(config_dir, data_dir)
    return ensure_unit_tabs(ctx, ctx.period(period_key))


@task(name="đọc và kiểm tra báo cáo (nhóm tệp)", task_run_name="đọc và kiểm tra báo cáo {period_key}",
      cache_policy=NONE)
def process_chunk(config_dir: str | None, data_dir: str | None, period_key: str,
                  refs: list[str]) -> list[dict[str, Any]]:
    ctx = _ctx(config_dir, data_dir)
    period = ctx.period(period_key)
    docs = steps.folder_documents(ctx, only=refs)
    return [o.__dict__ for o in steps.process_documents(ctx, period, docs)]


@task(name="thu báo cáo từ Google Sheets", task_run_name="thu báo cáo từ Google Sheets {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=30)
def collect_sheets(config_dir: str | None, data_dir: str | None, period_key: str) -> list[dict[str, Any]]:
    from tasks.sheet_channel import collect_sheet_outcomes

    ctx = _ctx(config_dir, data_dir)
    outcomes = collect_sheet_outcomes(ctx, ctx.period(period_key))
    for o in outcomes:
        if o.status == "error":  # one unreadable tab is that unit's problem: tell the operator, go on
            get_run_logger().warning("Đơn vị %s: %s", o.unit_code, o.reason)
    return [o.__dict__ for o in outcomes]


@task(name="thu báo cáo từ hộp thư", task_run_name="thu báo cáo từ hộp thư {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=30)
def collect_mailbox(config_dir: str | None, data_dir: str | None, period_key: str) -> list[dict[str, Any]]:
    from tasks.mail_channel import collect_mailbox as collect

    ctx = _ctx(config_dir, data_dir)
    return [o.__dict__ for o in collect(ctx, ctx.period(period_key))]


@task(name="gửi thư trả lại báo cáo chưa hợp lệ", task_run_name="gửi thư trả lại báo cáo chưa hợp lệ {period_key}",
      cache_policy=NONE)
def send_rejections(config_dir: str | None, data_dir: str | None, period_key: str,
                    outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Each outcome is answered in the period it was filed under; period_key only names the task run."""
    ctx = _ctx(config_dir, data_dir)
    mails = steps.rejection_mails(ctx, [steps.Outcome(**o) for o in outcomes])
    return _report_dict(dispatch(ctx, mails))


@task(name="gửi thư nhắc", task_run_name="gửi thư nhắc {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=10)
def send_reminder_mails(config_dir: str | None, data_dir: str | None, period_key: str, today: str,
                        force: bool) -> dict[str, Any]:
    ctx = _ctx(config_dir, data_dir)
    period = ctx.period(period_key)
    mails = steps.reminder_mails(ctx, period, datetime.fromisoformat(today).date(), force=force)
    return _report_dict(dispatch(ctx, mails))


@task(name="tổng hợp số liệu", task_run_name="tổng hợp số liệu {period_key}",
      cache_policy=NONE)
def build_consolidation(config_dir: str | None, data_dir: str | None, period_key: str) -> dict[str, Any]:
    ctx = _ctx(config_dir, data_dir)
    return steps.build_consolidation(ctx, ctx.period(period_key))


@task(name="xuất báo cáo (.json, .docx, .xlsx)", task_run_name="xuất báo cáo {period_key}",
      cache_policy=NONE)
def write_outputs(config_dir: str | None, data_dir: str | None, period_key: str, consolidation: dict[str, Any],
                  out_dir: str) -> dict[str, str]:
    ctx = _ctx(config_dir, data_dir)
    paths = steps.write_outputs(ctx, ctx.period(period_key), consolidation, Path(out_dir))
    return {k: str(v) for k, v in paths.items()}


@task(name="gửi thư đôn đốc cho Văn phòng", task_run_name="gửi thư đôn đốc cho Văn phòng {period_key}",
      cache_policy=NONE)
def send_overdue(config_dir: str | None, data_dir: str | None, period_key: str,
                 consolidation: dict[str, Any], today: str | None) -> dict[str, Any]:
    ctx = _ctx(config_dir, data_dir)
    period = ctx.period(period_key)
    today = datetime.fromisoformat(today).date() if today else datetime.now(TZ).date()
    return _report_dict(dispatch(ctx, steps.overdue_mails(ctx, period, today, consolidation)))


@task(name="gửi báo cáo tổng hợp", task_run_name="gửi báo cáo tổng hợp {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=60)
def send_delivery(config_dir: str | None, data_dir: str | None, period_key: str, out_dir: str,
                  resend: int) -> dict[str, Any]:
    ctx = _ctx(config_dir, data_dir)
    period = ctx.period(period_key)
    return _report_dict(dispatch(ctx, steps.delivery_mails(ctx, period, Path(out_dir), resend), resend=resend > 0))


# ------------------------------------------------------------------ helpers used by flows


def _publish_outcomes(ctx: Context, period: Period, outcomes: list[dict[str, Any]]) -> None:
    """Prefect events per accepted/rejected submission, and period.complete once all units are in."""
    for o in outcomes:
        if o["status"] in ("accepted", "rejected"):
            emit_event(
                event=f"baocao.submission.{o['status']}",
                resource={"prefect.resource.id": f"baocao.submission.{ctx.cfg.report.id}.{o['submission_id']}",
                          "baocao.unit": o["unit_code"] or "", "baocao.period": o.get("period") or period.key,
                          "baocao.report": ctx.cfg.report.id},
                payload={"errors": len(o["errors"]), "source": o["source_ref"]},
            )
    touched = {period.key} | {o["period"] for o in outcomes if o.get("period")}
    for key in sorted(touched):
        _announce_if_complete(ctx, ctx.period(key))


def _announce_if_complete(ctx: Context, period: Period) -> None:
    rows = steps.status_rows(ctx, period)
    if rows and all(r["status"] in ("on_time", "late") for r in rows):
        key = f"{ctx.cfg.report.id}:{period.key}"
        if not any(e.entity_id == key and e.action == "complete" for e in ctx.ledger.audit_events("period")):
            ctx.ledger.audit("period", key, "complete")
            emit_event(event="baocao.period.complete",
                       resource={"prefect.resource.id": f"baocao.period.{ctx.cfg.report.id}.{period.key}",
                                 "baocao.period": period.key, "baocao.report": ctx.cfg.report.id})


def _status_artifact(ctx: Context, period: Period) -> None:
    rows = steps.status_rows(ctx, period)
    table = [{"Mã": r["unit"], "Đơn vị": r["name"], "Trạng thái": r["status_vi"], "Nhận lúc": r["received_at"] or "",
              "Lý do trả lại": "; ".join(r["errors"])[:500]} for r in rows]
    create_table_artifact(key=f"tinh-hinh-bao-cao-{_slug(period.key)}", table=table,
                          description=f"Tình hình báo cáo {period.label}")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


# ------------------------------------------------------------------ flows


@flow(name="request_reports", flow_run_name=lambda: _period_name("Gửi đề nghị báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def request_reports(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                    resend: bool = False) -> dict[str, Any]:
    """Send every active unit its request with its own workbook (or Sheets tab) and deadline."""
    ctx = _ctx(config_dir, data_dir)
    p = ctx.period(period)
    if ctx.cfg.settings.channels.sheets.enabled:
        ensure_sheet_tabs(config_dir, data_dir, p.key)
    codes = [u.code for u in ctx.cfg.active_units]
    futures = [send_requests_chunk.submit(config_dir, data_dir, p.key, chunk, resend)
               for chunk in steps.chunked(codes, CHUNK)]
    return _merge_reports([f.result() for f in futures])


@flow(name="collect_submissions", flow_run_name=lambda: _period_name("Thu báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def collect_submissions(period: str | None = None, config_dir: str | None = None,
                        data_dir: str | None = None) -> list[dict[str, Any]]:
    """Read new submissions from every channel, check them, record them and answer rejected ones."""
    ctx = _ctx(config_dir, data_dir)
    p = ctx.period(period)
    known = ctx.ledger.known_hashes(ctx.cfg.report.id)
    refs = [d.source_ref for d in steps.folder_documents(ctx, known)]
    futures = [process_chunk.submit(config_dir, data_dir, p.key, chunk) for chunk in steps.chunked(refs, CHUNK)
               if chunk]
    outcomes = [o for f in futures for o in f.result()]
    channels = ctx.cfg.settings.channels
    if channels.sheets.enabled:
        outcomes += collect_sheets(config_dir, data_dir, p.key)
    if channels.imap.enabled:
        outcomes += collect_mailbox(config_dir, data_dir, p.key)
    send_rejections(config_dir, data_dir, p.key, outcomes)
    _publish_outcomes(ctx, p, outcomes)
    _status_artifact(ctx, p)
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("accepted", "rejected", "quarantined")}
    get_run_logger().info("Kỳ %s: %s tệp mới, %s", p.key, len(outcomes), counts)
    return outcomes


@flow(name="send_reminders", flow_run_name=lambda: _period_name("Nhắc báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def send_reminders(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                   today: str | None = None, force: bool = False) -> dict[str, Any]:
    """Remind units with no accepted submission, on the configured days before their deadline."""
    ctx = _ctx(config_dir, data_dir)
    p = ctx.period(period)
    day = today or datetime.now(TZ).date().isoformat()
    return send_reminder_mails(config_dir, data_dir, p.key, day, force)


@flow(name="consolidate_report", flow_run_name=lambda: _period_name("Tổng hợp báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def consolidate_report(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                       out_dir: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Merge accepted submissions and write the JSON, the Decree 30 document and the annex."""
    ctx = _ctx(config_dir, data_dir)
    p = ctx.period(period)
    out = out_dir or str(ctx.data_dir / "reports" / p.key)
    consolidation = build_consolidation(config_dir, data_dir, p.key)
    paths = write_outputs(config_dir, data_dir, p.key, consolidation, out)
    send_overdue(config_dir, data_dir, p.key, consolidation, today)
    c = consolidation["completeness"]
    create_markdown_artifact(
        key=f"bao-cao-tong-hop-{_slug(p.key)}",
        markdown=_summary_markdown(consolidation, paths),
        description=f"Báo cáo tổng hợp {p.label}: {c['accepted_count']}/{c['expected_count']} đơn vị",
    )
    return {"paths": paths, "completeness": c}


def _summary_markdown(consolidation: dict[str, Any], paths: dict[str, str]) -> str:
    from tasks.render.vietnamese_dates import format_number, format_percent

    c = consolidation["completeness"]
    inds = {i["code"]: i for i in consolidation["indicators"]}
    lines = [f"# Báo cáo tổng hợp {consolidation['period']['label']}", "",
             f"- Đã báo cáo: **{c['accepted_count']}/{c['expected_count']}** đơn vị "
             f"({format_percent(c['reporting_rate'])}); đúng hạn {c['on_time_count']}, muộn {c['late_count']}",
             f"- Chưa báo cáo: {', '.join(c['missing']) or 'không'}", "", "| Mã | Chỉ tiêu | Kỳ này |",
             "|---|---|---:|"]
    lines += [f"| {code} | {inds[code]['label']} | {format_number(consolidation['totals'].get(code, 0))} |"
              for code in consolidation["main_indicators"]]
    lines += ["", "Tệp kết quả:"] + [f"- `{v}`" for v in paths.values()]
    return "\n".join(lines)


@flow(name="deliver_report", flow_run_name=lambda: _period_name("Gửi báo cáo tổng hợp"), log_prints=True,
      on_failure=[alert_operator])
def deliver_report(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                   out_dir: str | None = None, approved: bool = False, resend: int = 0) -> dict[str, Any]:
    """After the Director approves, send the consolidated report to UBND tỉnh and every Nơi nhận."""
    from flows.approval import wait_for_approval

    ctx = _ctx(config_dir, data_dir)
    p = ctx.period(period)
    out = out_dir or str(ctx.data_dir / "reports" / p.key)
    if ctx.cfg.settings.approval.enabled and not approved:
        decision = wait_for_approval(ctx, p, out)
        if not decision.approved:
            return {"approved": False, "comment": decision.comment}
    return {"approved": True, **send_delivery(config_dir, data_dir, p.key, out, resend)}


@flow(name="report_cycle", flow_run_name=lambda: _period_name("Chu kỳ báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def report_cycle(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                 out_dir: str | None = None, approved: bool = False, today: str | None = None) -> dict[str, Any]:
    """The whole period: request, collect, remind, consolidate, deliver."""
    ctx = _ctx(config_dir, data_dir)
    p = ctx.period(period)
    requested = request_reports(p.key, config_dir, data_dir)
    outcomes = collect_submissions(p.key, config_dir, data_dir)
    reminded = send_reminders(p.key, config_dir, data_dir, today=today)
    consolidated = consolidate_report(p.key, config_dir, data_dir, out_dir, today)
    delivered = deliver_report(p.key, config_dir, data_dir, out_dir, approved=approved)
    return {"period": p.key, "requested": requested, "collected": outcomes, "reminded": reminded,
            "consolidated": consolidated, "delivered": delivered}


def _merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, list[Any]] = {"written": [], "sent": [], "skipped": [], "failed": []}
    for r in reports:
        for k in out:
            out[k].extend(r[k])
    return out
