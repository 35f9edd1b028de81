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
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.states import Cancelled, Completed, State

from flows import chunks
from flows.alerts import alert_operator
from flows.approval import approval_state, default_out, describe, tell_returned
from flows.artifacts import status_artifact, summary_artifact
from flows.events import publish_outcomes
from flows.runtime import chunk_runner, chunked, run_context, run_name
from tasks.collect import merge_summaries
from tasks.deliver import owed_copies
from tasks.filing import delivered
from tasks.outputs import output_paths
from tasks.periods import TZ
from tasks.status import status_rows

WAITING = "Chờ phê duyệt"  # the state of a delivery run that asked the Director and ended
ALREADY_SENT = "Đã gửi trước đó"


@flow(name="request_reports", flow_run_name=lambda: run_name("Gửi đề nghị báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def request_reports(period: str | int | None = None, config_dir: str | None = None, data_dir: str | None = None,
                    resend: bool = False) -> dict[str, Any]:
    """Gửi đề nghị báo cáo cho mọi đơn vị đang báo cáo, kèm biểu mẫu (hoặc trang tính) và hạn của đơn vị.

    Args:
        period: Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; để trống là kỳ hiện tại.
        config_dir: Thư mục cấu hình (settings.yaml, units.yaml, reports/); để trống là thư mục mặc định.
        data_dir: Thư mục dữ liệu (inbox/, outbox/, sổ theo dõi); để trống là thư mục trong cấu hình.
        resend: Gửi lại cả thư đề nghị đã gửi trước đó.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    tabs = chunks.ensure_sheet_tabs(config_dir, data_dir, p.key) if ctx.cfg.settings.channels.sheets.enabled else {}
    not_ready = set(tabs.get("not_ready", ()))  # units whose spreadsheet refused their tab: asked once it is fixed
    codes = [u.code for u in ctx.cfg.units_expected_in(p) if u.code not in not_ready]
    futures = [chunks.send_requests_chunk.submit(config_dir, data_dir, p.key, chunk, resend)
               for chunk in chunked(codes)]
    sent = chunks.merge_reports([f.result() for f in futures])
    if not_ready:  # everyone else was asked; the run fails so the operator is alerted with what to fix
        from tasks.channels.sheets import tabs_not_ready_message
        from tasks.transports.sheets import SheetsError

        raise SheetsError(tabs_not_ready_message(tabs["failed"], len(not_ready), p.key))
    return sent


@flow(name="collect_submissions", flow_run_name=lambda: run_name("Thu báo cáo"), log_prints=True,
      on_failure=[alert_operator], task_runner=chunk_runner())
def collect_submissions(period: str | int | None = None, config_dir: str | None = None,
                        data_dir: str | None = None) -> dict[str, Any]:
    """Thu báo cáo mới từ mọi kênh, kiểm tra, ghi vào sổ theo dõi và trả lời từng đơn vị.

    Kết quả là bản tóm tắt có giới hạn (số lượng, các kỳ liên quan, các báo cáo cần Văn phòng xem trước);
    mọi kết quả chi tiết nằm trong sổ theo dõi.

    Args:
        period: Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; để trống là kỳ hiện tại.
        config_dir: Thư mục cấu hình (settings.yaml, units.yaml, reports/); để trống là thư mục mặc định.
        data_dir: Thư mục dữ liệu (inbox/, outbox/, sổ theo dõi); để trống là thư mục trong cấu hình.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    refs = chunks.new_folder_files(config_dir, data_dir, p.key)
    futures = [chunks.collect_folder_chunk.submit(config_dir, data_dir, p.key, chunk) for chunk in chunked(refs)]
    parts = [f.result() for f in futures]
    for channel in chunks.polled_channel_names(config_dir, data_dir):
        parts.append(chunks.collect_channel(config_dir, data_dir, p.key, channel))
    chunks.forget_unpolled_channels(config_dir, data_dir)
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
def send_reminders(period: str | int | None = None, config_dir: str | None = None, data_dir: str | None = None,
                   today: str | None = None, force: bool = False) -> dict[str, Any]:
    """Nhắc các đơn vị chưa có báo cáo hợp lệ, vào các ngày đã cấu hình trước hạn.

    Args:
        period: Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; để trống là kỳ hiện tại.
        config_dir: Thư mục cấu hình (settings.yaml, units.yaml, reports/); để trống là thư mục mặc định.
        data_dir: Thư mục dữ liệu (inbox/, outbox/, sổ theo dõi); để trống là thư mục trong cấu hình.
        today: Coi hôm nay là ngày này (YYYY-MM-DD); để trống là hôm nay.
        force: Nhắc ngay, không chờ ngày nhắc đã cấu hình.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    day = today or datetime.now(TZ).date().isoformat()
    chunks.send_owed_replies(config_dir, data_dir, p.key)  # anything a crashed collect left unanswered
    return chunks.send_reminder_mails(config_dir, data_dir, p.key, day, force)


@flow(name="consolidate_report", flow_run_name=lambda: run_name("Tổng hợp báo cáo"), log_prints=True,
      on_failure=[alert_operator])
def consolidate_report(period: str | int | None = None, config_dir: str | None = None, data_dir: str | None = None,
                       out_dir: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Tổng hợp các báo cáo hợp lệ; ghi tệp .json, văn bản theo Nghị định 30/2020 (.docx) và phụ lục (.xlsx).

    Args:
        period: Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; để trống là kỳ hiện tại.
        config_dir: Thư mục cấu hình (settings.yaml, units.yaml, reports/); để trống là thư mục mặc định.
        data_dir: Thư mục dữ liệu (inbox/, outbox/, sổ theo dõi); để trống là thư mục trong cấu hình.
        out_dir: Thư mục ghi kết quả; để trống là reports/<kỳ> trong thư mục dữ liệu.
        today: Coi hôm nay là ngày này (YYYY-MM-DD); để trống là hôm nay.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    out = out_dir or str(ctx.data_dir / "reports" / p.key)
    brief = chunks.build_consolidation(config_dir, data_dir, p.key, out)
    written = chunks.write_outputs(config_dir, data_dir, p.key, out)
    chunks.send_overdue(config_dir, data_dir, p.key, out, today)
    summary_artifact(p, brief, written["paths"])
    return {**written, "completeness": brief["completeness"]}


@flow(name="consolidate_after_deadline", flow_run_name=lambda: run_name("Tổng hợp sau hạn"),
      log_prints=True, on_failure=[alert_operator])
def consolidate_after_deadline(period: str | int | None = None, config_dir: str | None = None,
                               data_dir: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Tổng hợp hằng ngày theo lịch: chỉ khi đã hết hạn của các đơn vị và báo cáo chưa được gửi.

    Không tổng hợp lại khi báo cáo đang chờ Giám đốc phê duyệt. Trước hạn, kỳ đã đủ báo cáo được tổng hợp
    ngay nhờ sự kiện `baocao.period.complete`.

    Args:
        period: Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; để trống là kỳ hiện tại.
        config_dir: Thư mục cấu hình (settings.yaml, units.yaml, reports/); để trống là thư mục mặc định.
        data_dir: Thư mục dữ liệu (inbox/, outbox/, sổ theo dõi); để trống là thư mục trong cấu hình.
        today: Coi hôm nay là ngày này (YYYY-MM-DD); để trống là hôm nay.
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
def deliver_report(period: str | int | None = None, config_dir: str | None = None, data_dir: str | None = None,
                   out_dir: str | None = None, resend: int = 0, signed: str | None = None,
                   number: str | None = None, issue_date: str | None = None) -> Any:
    """Gửi báo cáo chính thức tới UBND tỉnh và các nơi nhận, khi Giám đốc đã duyệt đúng bản dự thảo hiện tại.

    Chưa duyệt: gửi thư trình Giám đốc (kèm dự thảo và địa chỉ trang phê duyệt) rồi kết thúc; khi Giám đốc
    duyệt, trang phê duyệt chạy lại bước này. Bị trả lại: báo cho Văn phòng lý do.

    Args:
        period: Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; để trống là kỳ hiện tại.
        config_dir: Thư mục cấu hình (settings.yaml, units.yaml, reports/); để trống là thư mục mặc định.
        data_dir: Thư mục dữ liệu (inbox/, outbox/, sổ theo dõi); để trống là thư mục trong cấu hình.
        out_dir: Thư mục chứa báo cáo tổng hợp; để trống là reports/<kỳ> trong thư mục dữ liệu.
        resend: Gửi lại lần thứ N (0 là lần gửi đầu tiên).
        signed: Đường dẫn bản đã ký (PDF scan hoặc ký số) để gửi thay cho bản tạo ra.
        number: Số ký hiệu, ví dụ 15/BC-SNV (chỉ khi tắt bước phê duyệt).
        issue_date: Ngày ban hành YYYY-MM-DD (chỉ khi tắt bước phê duyệt).
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
        owed = owed_copies(ctx, p)
        finished = chunks.send_owed_copies(config_dir, data_dir, p.key, out) if owed else None
        note = f" Đã gửi nốt {len(finished['sent']) + len(finished['written'])} bản sao còn thiếu." if finished else ""
        return Completed(name=ALREADY_SENT, data=finished,
                         message=f"Báo cáo kỳ {p.key} đã gửi UBND tỉnh; không gửi lại "
                                 f"(muốn gửi lại: baocao deliver --period {p.key} --resend 1).{note}")
    decision = state.decision
    if ctx.cfg.settings.approval.enabled and state.standing != "approved":
        if state.standing == "returned" and decision is not None:
            tell_returned(ctx, p, decision)
            return Cancelled(message=f"Bị trả lại: {decision.name} — {decision.reason}", data=describe(state))
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
def report_cycle(period: str | int | None = None, config_dir: str | None = None, data_dir: str | None = None,
                 out_dir: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Chạy cả chu kỳ của kỳ báo cáo: đề nghị, thu, nhắc, tổng hợp, rồi gửi (hoặc trình Giám đốc duyệt).

    Args:
        period: Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; để trống là kỳ hiện tại.
        config_dir: Thư mục cấu hình (settings.yaml, units.yaml, reports/); để trống là thư mục mặc định.
        data_dir: Thư mục dữ liệu (inbox/, outbox/, sổ theo dõi); để trống là thư mục trong cấu hình.
        out_dir: Thư mục ghi kết quả; để trống là reports/<kỳ> trong thư mục dữ liệu.
        today: Coi hôm nay là ngày này (YYYY-MM-DD); để trống là hôm nay.
    """
    ctx = run_context(config_dir, data_dir)
    p = ctx.period(period)
    requested = request_reports(p.key, config_dir, data_dir)
    outcomes = collect_submissions(p.key, config_dir, data_dir)
    reminded = send_reminders(p.key, config_dir, data_dir, today=today)
    consolidated = consolidate_report(p.key, config_dir, data_dir, out_dir, today)
    delivered_ = delivery_summary(cast(State, deliver_report(p.key, config_dir, data_dir, out_dir, return_state=True)))
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
    return {"status": "sent", "message": state.message, **state.result()}
