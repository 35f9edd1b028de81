"""The report cycle as the Department Office runs it, month after month:

1. request   — right after the cut-off (the 14th), every unit gets its workbook or tab and its deadline;
2. collect   — every 15 minutes and whenever a watcher sees a new file or mail: read, check, record, answer;
3. remind    — on the configured working days before the deadline, units without a valid report;
4. consolidate — once every unit is in, or daily after the deadline: JSON, Decree 30 document, annex;
5. deliver   — after the Director approves, to UBND tỉnh and every Nơi nhận.

Flows take plain parameters (period key, config and data directories) so they can be started from the
Prefect UI, `prefect deployment run` or the `baocao` command. The work is in tasks/; flows/chunks.py wraps it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Cancelled, Completed, State

from flows import chunks
from flows.alerts import alert_operator
from flows.approval import approval_state, default_out, describe, tell_returned
from flows.artifacts import status_artifact, summary_artifact
from flows.events import publish_outcomes
from flows.runtime import chunked, run_context, run_name
from tasks.collect import merge_summaries
from tasks.filing import delivered
from tasks.outputs import output_paths
from tasks.periods import TZ
from tasks.status import status_rows

WAITING = "Chờ phê duyệt"  # the state of a delivery run that asked the Director and ended
ALREADY_SENT = "Đã gửi trước đó"


@flow(name="request_reports", flow_run_name=lambda: run_name("Gửi đề nghị báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def request_reports(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                    resend: bool = False) -> dict[str, Any]:
    """Send every active unit its request with its own workbook (or Sheets tab) and deadline."""
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    if ctx.cfg.settings.channels.sheets.enabled:
        chunks.ensure_sheet_tabs(config_dir, data_dir, p.key)
    codes = [u.code for u in ctx.cfg.active_units]
    futures = [chunks.send_requests_chunk.submit(config_dir, data_dir, p.key, chunk, resend)
               for chunk in chunked(codes)]
    return chunks.merge_reports([f.result() for f in futures])


@flow(name="collect_submissions", flow_run_name=lambda: run_name("Thu báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def collect_submissions(period: str | None = None, config_dir: str | None = None,
                        data_dir: str | None = None) -> dict[str, Any]:
    """Read new submissions from every channel, check them, record them and answer each unit.

    Returns a bounded summary (counts, periods touched, the outcomes that need the Office first): every
    outcome is in the ledger; nothing the run hands to Prefect grows with the number of units.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    refs = chunks.new_folder_files(config_dir, data_dir, p.key)
    futures = [chunks.collect_folder_chunk.submit(config_dir, data_dir, p.key, chunk) for chunk in chunked(refs)]
    parts = [f.result() for f in futures]
    for channel in chunks.polled_channel_names(config_dir, data_dir):
        parts.append(chunks.collect_channel(config_dir, data_dir, p.key, channel))
    summary = merge_summaries(parts)
    chunks.send_owed_replies(config_dir, data_dir, p.key)
    rows = status_rows(ctx, p)
    publish_outcomes(ctx, p, summary, rows)
    for key in sorted({p.key, *summary["periods"]}):  # a file filed under another period: that period's table
        status_artifact(ctx.period(key), rows if key == p.key else status_rows(ctx, ctx.period(key)))
    get_run_logger().info("Kỳ %s: %s tài liệu mới, %s", p.key, summary["total"], summary["counts"])
    return summary


@flow(name="send_reminders", flow_run_name=lambda: run_name("Nhắc báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def send_reminders(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                   today: str | None = None, force: bool = False) -> dict[str, Any]:
    """Remind units with no accepted submission, on the configured days before their deadline."""
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    day = today or datetime.now(TZ).date().isoformat()
    chunks.send_owed_replies(config_dir, data_dir, p.key)  # anything a crashed collect left unanswered
    return chunks.send_reminder_mails(config_dir, data_dir, p.key, day, force)


@flow(name="consolidate_report", flow_run_name=lambda: run_name("Tổng hợp báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def consolidate_report(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                       out_dir: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Merge accepted submissions and write the JSON, the Decree 30 document and the annex."""
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    out = out_dir or str(ctx.data_dir / "reports" / p.key)
    consolidation = chunks.build_consolidation(config_dir, data_dir, p.key)
    paths = chunks.write_outputs(config_dir, data_dir, p.key, consolidation, out)
    chunks.send_overdue(config_dir, data_dir, p.key, consolidation, today)
    summary_artifact(p, consolidation, paths)
    return {"paths": paths, "completeness": consolidation["completeness"]}


@flow(name="consolidate_after_deadline", flow_run_name=lambda: run_name("Tổng hợp sau hạn"),
      log_prints=True, on_failure=[alert_operator])
def consolidate_after_deadline(period: str | None = None, config_dir: str | None = None,
                               data_dir: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Daily scheduled consolidation: acts only once the unit deadline has passed and until delivery.

    It also stands still while the report awaits the Director's approval (see flows/approval.py).
    Before the deadline a complete period is consolidated by the `baocao.period.complete` trigger instead.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    day = datetime.fromisoformat(today).date() if today else datetime.now(TZ).date()
    deadline = ctx.unit_deadline(p)
    logger = get_run_logger()
    if day <= deadline:
        logger.info("Kỳ %s: chưa hết hạn của các đơn vị (%s), chưa tổng hợp", p.key, f"{deadline:%d/%m/%Y}")
        return {"period": p.key, "skipped": "before_deadline"}
    if delivered(ctx, p):
        logger.info("Kỳ %s: báo cáo đã gửi, không tổng hợp lại", p.key)
        return {"period": p.key, "skipped": "delivered"}
    if approval_state(ctx, p).standing == "pending":
        # rewriting the files now would void the approval the Director is giving to the current ones
        logger.info("Kỳ %s: báo cáo đang chờ %s phê duyệt, không tổng hợp lại", p.key,
                    ctx.cfg.settings.approval.signer or "người ký")
        return {"period": p.key, "skipped": "approval_pending"}
    return {"period": p.key, **consolidate_report(p.key, config_dir, data_dir, today=today)}


@flow(name="deliver_report", flow_run_name=lambda: run_name("Gửi báo cáo tổng hợp"), log_prints=True,
      on_failure=[alert_operator])
def deliver_report(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                   out_dir: str | None = None, resend: int = 0, signed: str | None = None,
                   number: str | None = None, issue_date: str | None = None) -> Any:
    """Send the report as issued, once the Director has approved exactly the current draft.

    Not yet approved: the Director is asked (a mail with the draft and the approval page's address) and the
    run ends; the approval page's event starts this flow again. Returned: the Office is told why.
    `signed`: the path of a signed copy (scanned or digitally signed PDF) to send instead of the rendered one.
    `number`, `issue_date`: the document number and issue date when approval is switched off in settings.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    out = out_dir or str(default_out(ctx, p))
    state = approval_state(ctx, p, Path(out))
    logger = get_run_logger()
    if state.standing == "no_report":
        raise FileNotFoundError(f"Chưa có báo cáo tổng hợp kỳ {p.key} trong {out}: hãy chạy bước tổng hợp trước "
                                f"(baocao consolidate --period {p.key}).")
    if delivered(ctx, p) and not resend:
        return Completed(name=ALREADY_SENT, message=f"Báo cáo kỳ {p.key} đã gửi UBND tỉnh; không gửi lại "
                                                     f"(muốn gửi lại: baocao deliver --period {p.key} --resend 1).")
    decision = state.decision
    if ctx.cfg.settings.approval.enabled and state.standing != "approved":
        if state.standing == "returned" and decision is not None:
            tell_returned(ctx, p, decision)
            return Cancelled(message=f"Bị trả lại: {decision.name} — {decision.reason}",
                             data=describe(state))  # type: ignore[call-arg]
        if state.standing == "not_requested":
            chunks.ask_approval(config_dir, data_dir, p.key, out)
        logger.info("Kỳ %s: báo cáo đang chờ %s phê duyệt", p.key, ctx.cfg.settings.approval.signer)
        return Completed(message="Đã trình Giám đốc phê duyệt; chưa gửi UBND tỉnh", name=WAITING,
                         data=describe(approval_state(ctx, p, Path(out))))
    record = describe(state)
    if signed:
        files = {"signed": str(Path(signed).resolve()), "xlsx": str(output_paths(ctx, p, Path(out))["xlsx"])}
        record["signed_copy"] = True
    else:
        number = decision.document_number if decision else number
        issued = decision.issue_date.isoformat() if decision and decision.issue_date else issue_date
        if not number or not issued:
            raise ValueError("Chưa có số ký hiệu và ngày ban hành: ghi --number và --issue-date khi không dùng "
                             "bước phê duyệt (approval.enabled: false).")
        record.update(number=number, issue_date=issued)
        files = chunks.write_final(config_dir, data_dir, p.key, out, number, issued)["files"]
    sent = chunks.send_delivery(config_dir, data_dir, p.key, out, files, resend, record)
    return {"approved": True, "files": files, **sent}


@flow(name="report_cycle", flow_run_name=lambda: run_name("Chu kỳ báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def report_cycle(period: str | None = None, config_dir: str | None = None, data_dir: str | None = None,
                 out_dir: str | None = None, today: str | None = None) -> dict[str, Any]:
    """The whole period: request, collect, remind, consolidate, then delivery (or the Director's approval asked)."""
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    requested = request_reports(p.key, config_dir, data_dir)
    outcomes = collect_submissions(p.key, config_dir, data_dir)
    reminded = send_reminders(p.key, config_dir, data_dir, today=today)
    consolidated = consolidate_report(p.key, config_dir, data_dir, out_dir, today)
    delivered_ = delivery_summary(deliver_report(p.key, config_dir, data_dir, out_dir, return_state=True))
    return {"period": p.key, "requested": requested, "collected": outcomes, "reminded": reminded,
            "consolidated": consolidated, "delivered": delivered_}


def delivery_summary(state: State) -> dict[str, Any]:
    """A delivery run's end as plain data: sent (with the files and messages), waiting for the Director, or
    returned by the Director (with the reason)."""
    if state.is_cancelled():
        return {"status": "returned", "message": state.message}
    if state.name == WAITING:
        return {"status": "waiting", "message": state.message}
    if state.name == ALREADY_SENT:
        return {"status": "delivered", "message": state.message}
    return {"status": "sent", "message": state.message, **state.result()}  # type: ignore[dict-item]
