"""The Prefect tasks the flows are made of: each wraps a plain step from tasks/, per-unit work in chunks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from flows import approval
from flows.runtime import run_context
from tasks import consolidate, outputs, remind, replies, request
from tasks.channel_health import channel_alert_mails, forget_unpolled, record_channel_health
from tasks.channels import channel_named, polled_channels
from tasks.channels.folder import FolderChannel
from tasks.collect import collect_from, summarise
from tasks.consolidation_types import ConsolidationBrief
from tasks.context import Context
from tasks.deliver import delivery_mails, owed_copy_mails, sha256_of
from tasks.display import shown
from tasks.periods import TZ, Period
from tasks.sending import DispatchReport, dispatch, dispatch_pages
from tasks.transports.mail.errors import MailTransportError
from tasks.types import Outcome, OutcomeStatus


def _report_dict(r: DispatchReport) -> dict[str, Any]:
    return {"written": r.written, "sent": r.sent, "skipped": r.skipped, "failed": r.failed}


@task(name="gửi đề nghị báo cáo (nhóm đơn vị)", task_run_name="gửi đề nghị báo cáo {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=10)
def send_requests_chunk(config_dir: str | None, data_dir: str | None, period_key: str, unit_codes: list[str],
                        resend: bool) -> dict[str, Any]:
    ctx = run_context(config_dir, data_dir)
    wanted = set(unit_codes)  # a chunk's codes: a set, or every unit is looked for in a list of thousands
    period = ctx.period(period_key)
    units = [u for u in ctx.cfg.units_expected_in(period) if u.code in wanted]
    return _report_dict(dispatch_pages(ctx, units, lambda page: request.request_mails(ctx, period, page),
                                       resend=resend))


@task(name="tạo trang tính cho đơn vị", task_run_name="tạo trang tính cho đơn vị {period_key}",
      cache_policy=NONE, retries=3, retry_delay_seconds=30)
def ensure_sheet_tabs(config_dir: str | None, data_dir: str | None, period_key: str) -> dict[str, Any]:
    from tasks.channels.sheets import ensure_unit_tabs

    ctx = run_context(config_dir, data_dir)
    return ensure_unit_tabs(ctx, ctx.period(period_key))


@task(name="liệt kê tệp mới trong thư mục nhận", task_run_name="liệt kê tệp mới {period_key}", cache_policy=NONE)
def new_folder_files(config_dir: str | None, data_dir: str | None, period_key: str) -> list[str]:
    ctx = run_context(config_dir, data_dir)
    scan = FolderChannel(ctx).scan()
    logger = get_run_logger()
    for ref, why in scan.skipped:
        logger.warning("Bỏ qua %s: %s", shown(ref), why)
    if scan.unsettled:
        logger.info("%s tệp đang được chép vào, sẽ đọc ở lần thu sau", len(scan.unsettled))
    return [st.source_ref for st, _ in scan.ready]


@task(name="đọc và kiểm tra báo cáo (nhóm tệp)", task_run_name="đọc và kiểm tra báo cáo {period_key}",
      cache_policy=NONE)
def collect_folder_chunk(config_dir: str | None, data_dir: str | None, period_key: str,
                         refs: list[str]) -> dict[str, Any]:
    ctx = run_context(config_dir, data_dir)
    return summarise(collect_from(ctx, ctx.period(period_key), FolderChannel(ctx, only=refs)))


@task(name="thu báo cáo từ kênh", task_run_name="thu báo cáo qua {channel} {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=30)
def collect_channel(config_dir: str | None, data_dir: str | None, period_key: str,
                    channel: str) -> dict[str, Any]:
    """One polled channel (mailbox, Sheets): a tab or mail it cannot read is its unit's problem, not the run's;
    what the channel itself cannot reach (the mailbox, a spreadsheet) is one warning for the operator."""
    ctx = run_context(config_dir, data_dir)
    period = ctx.period(period_key)
    try:
        outcomes = collect_from(ctx, period, channel_named(ctx, channel))
    except MailTransportError as exc:  # the mailbox is down: one clear line; the other channels still run
        reason = f"Không thu được thư: {exc.message}"  # says what was not done, wherever it is shown
        ctx.ledger.audit("channel", channel, "unavailable", cause=exc.cause, message=exc.message)
        outcomes = [Outcome(f"{channel}:", OutcomeStatus.ERROR, reason=reason)]
    for o in outcomes:
        if o.status == OutcomeStatus.ERROR and o.unit_code is None:  # e.g. a spreadsheet not shared: no unit's fault
            get_run_logger().warning("%s", shown(o.reason))
        elif o.status == OutcomeStatus.ERROR:
            get_run_logger().warning("Đơn vị %s: %s", shown(o.unit_code), shown(o.reason))
    tell_operator_of_channels(ctx, period, channel, outcomes)
    return summarise(outcomes)


def tell_operator_of_channels(ctx: Context, period: Period, channel: str, outcomes: list[Outcome]) -> None:
    """The board shows each place this collect could not reach until one reads it again; the operator is
    mailed once a place has been unreadable for hours, and when it is read again after that. Only notices:
    whatever goes wrong here is logged, and the reports this collect recorded stand (no retry reads again)."""
    try:
        change = record_channel_health(ctx, channel, outcomes)
        report = dispatch(ctx, channel_alert_mails(ctx, period, change, approval.board_url(ctx, period)))
    except Exception as exc:  # noqa: BLE001 - a notice that failed must not fail the collect it reports on
        get_run_logger().warning("Không ghi được tình trạng kênh %s: %s: %s", channel, type(exc).__name__,
                                 shown(str(exc)))
        return
    for key, why in report.failed:  # e.g. the mail server is down too: sent again by the next collect
        get_run_logger().warning("Chưa gửi được thư báo cho Văn phòng (%s): %s", key, shown(why))


def polled_channel_names(config_dir: str | None, data_dir: str | None) -> list[str]:
    return [ch.name for ch in polled_channels(run_context(config_dir, data_dir))]


def forget_unpolled_channels(config_dir: str | None, data_dir: str | None) -> None:
    """A mailbox or spreadsheet no longer polled is no longer reported as failing (one ledger query)."""
    forget_unpolled(run_context(config_dir, data_dir))


@task(name="trả lời đơn vị (trả lại, xác nhận đã nhận)", task_run_name="trả lời đơn vị {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=30)
def send_owed_replies(config_dir: str | None, data_dir: str | None, period_key: str) -> dict[str, Any]:
    """Every reply still owed, whichever run recorded it; period_key only names the task run. A reply that could
    not be made or sent is named in the run's log (it stays owed: the next run tries it again)."""
    report = replies.send_owed_replies(run_context(config_dir, data_dir))
    for key, why in report.failed:
        get_run_logger().warning("Chưa trả lời được đơn vị (%s): %s", shown(key), shown(why))
    return _report_dict(report)


@task(name="gửi thư nhắc", task_run_name="gửi thư nhắc {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=10)
def send_reminder_mails(config_dir: str | None, data_dir: str | None, period_key: str, today: str,
                        force: bool) -> dict[str, Any]:
    ctx = run_context(config_dir, data_dir)
    return _report_dict(remind.send_reminders(ctx, ctx.period(period_key), datetime.fromisoformat(today).date(),
                                              force=force))


@task(name="tổng hợp số liệu", task_run_name="tổng hợp số liệu {period_key}", cache_policy=NONE)
def build_consolidation(config_dir: str | None, data_dir: str | None, period_key: str,
                        out_dir: str) -> ConsolidationBrief:
    """Merge the period's reports and write them as the period's JSON; Prefect gets a bounded brief only
    (the next steps read the JSON: nothing handed between tasks grows with the number of units)."""
    ctx = run_context(config_dir, data_dir)
    period = ctx.period(period_key)
    consolidation = consolidate.build_consolidation(ctx, period)
    return consolidate.brief(consolidation, str(outputs.write_json(ctx, period, consolidation, Path(out_dir))))


@task(name="xuất báo cáo (.docx, .xlsx, .pdf)", task_run_name="xuất báo cáo {period_key}", cache_policy=NONE)
def write_outputs(config_dir: str | None, data_dir: str | None, period_key: str, out_dir: str) -> dict[str, Any]:
    """The files written, and why there is no PDF when there is none (logged; never dropped silently)."""
    ctx = run_context(config_dir, data_dir)
    period, out = ctx.period(period_key), Path(out_dir)
    written = outputs.render_documents(ctx, period, outputs.read_json(ctx, period, out), out)
    if written.pdf_problem:
        get_run_logger().warning("Kỳ %s: không có bản PDF: %s", period_key, written.pdf_problem)
    paths = {"json": str(outputs.output_paths(ctx, period, out)["json"])}
    paths |= {k: str(v) for k, v in written.paths.items()}
    return {"paths": paths, "pdf_problem": written.pdf_problem}


@task(name="gửi thư đôn đốc cho Văn phòng", task_run_name="gửi thư đôn đốc cho Văn phòng {period_key}",
      cache_policy=NONE)
def send_overdue(config_dir: str | None, data_dir: str | None, period_key: str, out_dir: str,
                 today: str | None) -> dict[str, Any]:
    ctx = run_context(config_dir, data_dir)
    period = ctx.period(period_key)
    day = datetime.fromisoformat(today).date() if today else datetime.now(TZ).date()
    consolidation = outputs.read_json(ctx, period, Path(out_dir))
    board = approval.board_url(ctx, period)
    return _report_dict(dispatch(ctx, remind.overdue_mails(ctx, period, day, consolidation, board)))


@task(name="trình Giám đốc phê duyệt", task_run_name="trình phê duyệt {period_key}", cache_policy=NONE,
      retries=2, retry_delay_seconds=30)
def ask_approval(config_dir: str | None, data_dir: str | None, period_key: str, out_dir: str) -> dict[str, Any]:
    ctx = run_context(config_dir, data_dir)
    return _report_dict(approval.request_approval(ctx, ctx.period(period_key), Path(out_dir)))


@task(name="tạo báo cáo chính thức (số, ngày ban hành)", task_run_name="tạo báo cáo chính thức {period_key}",
      cache_policy=NONE)
def write_final(config_dir: str | None, data_dir: str | None, period_key: str, out_dir: str, number: str,
                issued_on: str) -> dict[str, Any]:
    ctx = run_context(config_dir, data_dir)
    written = outputs.write_final(ctx, ctx.period(period_key), Path(out_dir), number,
                                  datetime.fromisoformat(issued_on).date())
    if written.pdf_problem:
        get_run_logger().warning("Báo cáo %s gửi không kèm PDF: %s", period_key, written.pdf_problem)
    return {"files": {k: str(v) for k, v in written.paths.items()}, "pdf_problem": written.pdf_problem}


@task(name="gửi báo cáo tổng hợp", task_run_name="gửi báo cáo tổng hợp {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=60)
def send_delivery(config_dir: str | None, data_dir: str | None, period_key: str, out_dir: str,
                  files: dict[str, str], resend: int, record: dict[str, Any]) -> dict[str, Any]:
    """Send exactly these files; their SHA-256 goes into the ledger with the delivery."""
    ctx = run_context(config_dir, data_dir)
    period = ctx.period(period_key)
    paths = {k: Path(v) for k, v in files.items()}
    report = dispatch(ctx, delivery_mails(ctx, period, Path(out_dir), paths, resend), resend=resend > 0)
    if report.written or report.sent:
        ctx.ledger.audit("report", f"{ctx.cfg.report.id}:{period.key}", "delivered", sha256=sha256_of(paths),
                         files=files, resend=resend, **record)
    return _report_dict(report)


@task(name="gửi nốt bản sao báo cáo", task_run_name="gửi nốt bản sao báo cáo {period_key}",
      cache_policy=NONE, retries=2, retry_delay_seconds=60)
def send_owed_copies(config_dir: str | None, data_dir: str | None, period_key: str, out_dir: str) -> dict[str, Any]:
    """The delivered report's messages still owed (refused, or a run stopped between them), same files."""
    ctx = run_context(config_dir, data_dir)
    period = ctx.period(period_key)
    return _report_dict(dispatch(ctx, owed_copy_mails(ctx, period, Path(out_dir))))


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, list[Any]] = {"written": [], "sent": [], "skipped": [], "failed": []}
    for r in reports:
        for k in out:
            out[k].extend(r[k])
    return out
