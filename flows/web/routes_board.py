"""The Office's status board: who reported for a period, a unit's versions, the originals, the operator's
buttons (start a run) and accepting a returned report by hand."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.web import views
from flows.web.actions import ACTIONS, run_finished
from flows.web.pages import (
    checked_form,
    download,
    known_id,
    known_period,
    message,
    need,
    period_of,
    render,
    web_state,
)
from tasks.periods import TZ, Period, current_period
from tasks.text import nfc
from tasks.web_starts import WINDOW, StartedRun, claim_start, release_start, started_run

router = APIRouter()
log = logging.getLogger("baocao.web")


def next_period(period: Period) -> Period | None:
    """The period of the same kind just after (the board's "next" arrow)."""
    return period.next()


@router.get("/")
def home(request: Request) -> Response:
    account = need(request)
    state = web_state(request)
    ctx = state.ctx_factory()
    key = current_period(ctx.cfg.settings.period_kind, state.now()).key
    return RedirectResponse(f"/duyet/{key}" if account.role == "approver" else f"/bang/{key}", status_code=303)


@router.get("/bang/{key}", response_class=HTMLResponse)
def board(request: Request, key: str, loc: str | None = None, tim: str = "", trang: str = "1") -> Response:
    need(request)
    ctx = web_state(request).ctx_factory()
    period = known_period(request, ctx, key)
    data = views.board(ctx, period)
    listed = views.unit_page(data.pop("rows"), loc, nfc(tim.strip())[:100], trang)
    periods, cells = views.grid(ctx, period, codes=[r["unit"] for r in listed.rows])
    units = {u.code: u for u in ctx.cfg.units_expected_in(period)}
    return render(request, "board.html.j2", period=period, report=ctx.cfg.report, **data, listed=listed,
                  rows=listed.rows, filters=views.FILTERS, periods=periods, cells=cells,
                  units=[units[r["unit"]] for r in listed.rows if r["unit"] in units], this=periods[-1],
                  unit_deadline=ctx.unit_deadline(period), report_deadline=ctx.report_deadline(period),
                  actions=ACTIONS, prev=period.previous(), next=next_period(period),
                  notice=request.session.pop("notice", None))


@router.get("/bang/{key}/don-vi/{unit}", response_class=HTMLResponse)
def unit_versions(request: Request, key: str, unit: str) -> Response:
    need(request)
    ctx = web_state(request).ctx_factory()
    period, u = period_of(ctx, key), ctx.cfg.unit(unit)
    if period is None or u is None:
        return message(request, "Không tìm thấy", "Không có kỳ báo cáo hoặc đơn vị này.", 404)
    row = views.board_row(ctx, period, u)
    return render(request, "unit.html.j2", period=period, unit=u, row=row,
                  versions=views.versions(ctx, period, u.code), notice=request.session.pop("notice", None))


@router.get("/tep/{submission_id}")
def original(request: Request, submission_id: int) -> Response:
    need(request)
    ctx = web_state(request).ctx_factory()
    found = ctx.ledger.submissions_by_id([submission_id]) if known_id(submission_id) else []
    if not found:
        return message(request, "Không tìm thấy", f"Không có báo cáo số {submission_id}.", 404)
    sub = found[0]
    data = views.original(ctx, sub)
    if data is None:
        why = ("Tệp đính kèm thư điện tử không được lưu lại nguyên bản (chỉ lưu số liệu và mã SHA-256); "
               "xem thư gốc trong hộp thư của Văn phòng" if sub.source == "email" else
               "Báo cáo nhập trên Google Sheets không có tệp gốc; xem trang tính của đơn vị"
               if sub.source == "sheet" else
               "Tệp gốc không còn trong thư mục dữ liệu, hoặc đã bị thay bằng tệp khác cùng tên")
        return message(request, "Không có tệp gốc", f"{why}. Mã SHA-256: {sub.content_hash}.", 404)
    return download(data, sub.filename)


def already_started(label: str, period: Period, start: StartedRun) -> str:
    """The clerk's notice for a step posted again while its run of a moment ago stands."""
    who = f"{start.name} ({start.by})" if start.name and start.name != start.by else start.by
    minutes = int(WINDOW.total_seconds() // 60)
    return (f"Bước “{label}” {period.label} đã được {who} khởi chạy lúc {start.at.astimezone(TZ):%H:%M} và "
            f"có thể vẫn đang chạy, nên không khởi chạy thêm lần nữa. Tải lại trang sau ít phút để thấy kết quả; "
            f"nếu vẫn cần chạy lại, hãy bấm lại sau {minutes} phút.")


@router.post("/bang/{key}/thao-tac")
async def action(request: Request, key: str) -> Response:
    account = need(request, "operator")
    form = await checked_form(request)
    state = web_state(request)
    ctx = state.ctx_factory()
    period = period_of(ctx, key)
    what = str(form.get("action", ""))
    if period is None or what not in ACTIONS:
        return message(request, "Thao tác không hợp lệ", "Không có thao tác hoặc kỳ báo cáo này.", 400)
    flow_name, extra, label = ACTIONS[what]
    now = state.now()
    standing = claim_start(ctx.ledger, flow_name, period.key, account.username, account.name, now,
                           finished=lambda ref: run_finished(state.starter, ref))
    if standing is not None:  # a double click, a form sent again: the step is not started twice
        request.session["notice"] = already_started(label, period, standing)
        return RedirectResponse(f"/bang/{period.key}", status_code=303)
    try:
        ref = state.starter(flow_name, {"period": period.key, **extra})
    except Exception:  # the cause is for the log; the clerk reads what to do
        log.exception("Không khởi chạy được %s kỳ %s", flow_name, period.key)
        release_start(ctx.ledger, flow_name, period.key, now)
        return message(request, "Không khởi chạy được",
                       f"Chưa khởi chạy được bước “{label}” {period.label}: dịch vụ chạy các bước báo cáo của hệ "
                       "thống chưa trả lời. Hãy thử lại sau ít phút; nếu vẫn không được, hãy báo cán bộ quản trị "
                       "hệ thống kiểm tra dịch vụ baocao serve.", 502,
                       link=(f"/bang/{period.key}", "Về bảng theo dõi"))
    started_run(ctx.ledger, flow_name, period.key, now, ref)
    ctx.ledger.audit("web", account.username, f"start:{flow_name}", period=period.key, run=ref)
    # the run's reference (a Prefect id) stays in the audit log: the clerk reads the step and the period
    request.session["notice"] = f"Đã khởi chạy: {label} {period.label}. Tải lại trang sau ít phút để thấy kết quả."
    return RedirectResponse(f"/bang/{period.key}", status_code=303)


@router.post("/mo-lai/{submission_id}")
async def reopen(request: Request, submission_id: int) -> Response:
    account = need(request, "operator")
    form = await checked_form(request)
    ctx = web_state(request).ctx_factory()
    note = nfc(str(form.get("reason", "")).strip())
    found = ctx.ledger.submissions_by_id([submission_id]) if known_id(submission_id) else []
    if not found:
        return message(request, "Không tìm thấy", f"Không có báo cáo số {submission_id}.", 404)
    back = f"/bang/{found[0].period}/don-vi/{found[0].unit_code}" if found[0].unit_code else "/"
    if not note:
        return message(request, "Thiếu lý do", "Chấp nhận một báo cáo bị trả lại phải ghi rõ lý do.", 400,
                       link=(back, "Quay lại"))
    try:
        ctx.ledger.reopen(submission_id, f"{note} (bởi {account.username} trên trang web)")
    except ValueError as exc:
        return message(request, "Không chấp nhận được", str(exc), 400, link=(back, "Quay lại"))
    request.session["notice"] = f"Đã chấp nhận báo cáo số {submission_id}."
    return RedirectResponse(back, status_code=303)
