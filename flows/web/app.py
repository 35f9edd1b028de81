"""`baocao web`: the Office's status board, the Director's approval page and the units' web submission.

FastAPI with server-rendered Jinja2 pages (autoescaped), no JavaScript. Office and Director accounts come
from settings (web.accounts, argon2 hashes); sessions are signed cookies; every form carries a CSRF token;
a unit's link is a signed token bound to unit, report and period that stops working when the period closes.

The lead's wiring: `create_app(ctx_factory, ...)` returns the ASGI app; `run_web(...)` serves it with uvicorn.
"""

from __future__ import annotations

import re
import secrets as _secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flows.web import views
from flows.web.actions import ACTIONS, DecisionHook, Starter, default_starter, emit_decision_event
from flows.web.security import (
    MAX_FAILURES,
    authenticate,
    csrf_ok,
    csrf_token,
    link_open,
    load_secret,
    read_unit_token,
    unit_token,
)
from tasks.approvals import APPROVED, RETURNED, latest_decision, record_decision
from tasks.config import WebAccount
from tasks.context import Context
from tasks.periods import TZ, Period, PeriodError
from tasks.resources import templates_dir
from tasks.text import nfc

TEMPLATES = templates_dir() / "web"
ROLE_VI = {"operator": "Văn phòng", "approver": "Lãnh đạo Sở"}
DATE_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
UploadHook = Callable[[Context, list[Any]], None]


class BodyTooLarge(Exception):
    pass


class LimitBody:
    """Refuse request bodies over the upload limit, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            scope.setdefault("state", {})["body_too_large"] = True
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited, send)


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a unit's link must never leak in a Referer header
    "Cache-Control": "no-store",
}


@dataclass
class WebState:
    ctx_factory: Callable[[], Context]
    secret: str
    starter: Starter
    on_decision: DecisionHook
    on_upload: UploadHook | None
    now: Callable[[], datetime]
    max_upload: int
    accounts: tuple[WebAccount, ...] | None = None  # None: web.accounts of the configuration
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined)
        env.filters.update(vn_date=views.vn_date, vn_time=views.vn_time, num=views.vn_number,
                           pct=views.vn_percent)
        env.globals.update(CHANNEL_VI=views.CHANNEL_VI, SUB_STATUS_VI=views.SUB_STATUS_VI, ROLE_VI=ROLE_VI)
        self.env = env

    def account_list(self) -> tuple[WebAccount, ...]:
        return self.accounts if self.accounts is not None else self.ctx_factory().cfg.settings.web.accounts


def create_app(ctx_factory: Callable[[], Context], *, secret: str | None = None, demo: bool = False,
               starter: Starter | None = None, on_decision: DecisionHook | None = None,
               on_upload: UploadHook | None = None, now: Callable[[], datetime] | None = None,
               https_only: bool | None = None, accounts: tuple[WebAccount, ...] | None = None) -> FastAPI:
    """The web application on the ledger of `ctx_factory()` (called per request; pass a cached one).

    secret: signing key; default from the environment / Prefect Secret block (random only when demo=True).
    starter: starts an operator action's deployment run (default: Prefect when configured, else in-process).
    on_decision: called after an approval decision is stored (default: emits baocao.report.approved/returned).
    on_upload: called with the outcomes of a web upload (default: rejection mails, as for folder files).
    now: the clock (tests and the demo replay 2021).
    accounts: instead of web.accounts from settings (the demo's accounts, see security.demo_accounts).
    """
    ctx0 = ctx_factory()
    web = ctx0.cfg.settings.web
    state = WebState(
        ctx_factory=ctx_factory,
        secret=secret or load_secret(web, demo=demo),
        starter=starter or default_starter(str(ctx0.cfg.config_dir), str(ctx0.data_dir)),
        on_decision=on_decision or emit_decision_event,
        on_upload=on_upload if on_upload is not None else _rejection_mails,
        now=now or (lambda: datetime.now(TZ)),
        max_upload=int(web.max_upload_mb * 1024 * 1024),
        accounts=accounts,
    )
    app = FastAPI(title="baocao", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = state
    secure = web.base_url.startswith("https://") if https_only is None else https_only
    app.add_middleware(SessionMiddleware, secret_key=state.secret, session_cookie="baocao_phien",
                       max_age=int(web.session_hours * 3600), same_site="lax", https_only=secure)
    app.add_middleware(LimitBody, limit=state.max_upload + 64 * 1024)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return _message(state, request, "Không thực hiện được", "Trang này không nhận yêu cầu kiểu này.", 405)
        return _message(state, request, "Không tìm thấy trang",
                        "Địa chỉ này không có trong hệ thống. Nếu đây là đường dẫn nộp báo cáo, hãy mở lại đường dẫn "
                        "trong thư đề nghị báo cáo mới nhất của Văn phòng Sở.", exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return _message(state, request, "Không tìm thấy trang", "Địa chỉ này không đúng.", 404)

    _routes(app, state)
    return app


# ------------------------------------------------------------------ helpers


def _render(state: WebState, request: Request, name: str, status: int = 200, **data: Any) -> HTMLResponse:
    account = _account(state, request)
    body = state.env.get_template(name).render(request=request, user=account, csrf=csrf_token(request.session),
                                               **data)
    return HTMLResponse(nfc(body), status_code=status)


def _message(state: WebState, request: Request, title: str, text: str, status: int,
             link: tuple[str, str] | None = None) -> HTMLResponse:
    return _render(state, request, "message.html.j2", status=status, title=title, text=text, link=link)


def _account(state: WebState, request: Request) -> WebAccount | None:
    username = request.session.get("user")
    if not username:
        return None
    return next((a for a in state.account_list() if a.username == username), None)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def _period(ctx: Context, key: str) -> Period | None:
    try:
        return ctx.period(key)
    except PeriodError:
        return None


def _parse_date(text: str) -> date | None:
    m = DATE_RE.match(text or "")
    if not m:
        return None
    try:
        return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None


async def _form(request: Request) -> dict[str, Any] | None:
    """The posted form, or None when the body is over the limit."""
    if request.scope.get("state", {}).get("body_too_large"):
        return None
    try:
        form = await request.form(max_files=2, max_fields=50)
    except BodyTooLarge:
        return None
    return {k: v for k, v in form.multi_items()}


def _rejection_mails(ctx: Context, outcomes: list[Any]) -> None:
    """A web upload is answered like a folder file (rejection or receipt, recorded as owed with it); the page
    shows the result at once too."""
    from tasks.replies import send_owed_replies

    send_owed_replies(ctx)


# ------------------------------------------------------------------ routes


def _routes(app: FastAPI, state: WebState) -> None:  # noqa: C901 - one place lists every page
    def need(request: Request, role: str | None = None) -> WebAccount | Response:
        account = _account(state, request)
        if account is None:
            return RedirectResponse(f"/dang-nhap?tiep={request.url.path}", status_code=303)
        if role is not None and account.role != role:
            need_vi = ROLE_VI[role]
            return _message(state, request, "Không có quyền", f"Trang này dành cho tài khoản {need_vi}.", 403)
        return account

    def forged(request: Request, form: dict[str, Any] | None) -> Response | None:
        if form is None:
            mb = state.max_upload / 1024 / 1024
            return _message(state, request, "Tệp quá lớn",
                            f"Dữ liệu gửi lên vượt quá giới hạn {views.vn_number(round(mb, 1))} MB. "
                            "Hãy gửi tệp báo cáo (.xlsx) theo biểu mẫu, không kèm hình ảnh.", 413)
        if not csrf_ok(request.session, form.get("csrf")):
            return _message(state, request, "Yêu cầu không hợp lệ",
                            "Biểu mẫu đã hết hạn hoặc không phải do trang này tạo ra. Hãy tải lại trang và thử lại.",
                            403)
        return None

    # -------------------------------------------------------------- login

    @app.get("/dang-nhap", response_class=HTMLResponse)
    def login_page(request: Request, tiep: str = "/") -> Response:
        return _render(state, request, "login.html.j2", next=_safe_next(tiep), error=None, username="")

    @app.post("/dang-nhap", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await _form(request)
        bad = forged(request, form)
        if bad is not None:
            return bad
        assert form is not None
        ctx = state.ctx_factory()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        nxt = _safe_next(str(form.get("tiep", "/")))
        result = authenticate(ctx.ledger, state.account_list(), username, password, _client_ip(request))
        if result.locked_minutes:
            return _render(state, request, "login.html.j2", status=429, next=nxt, username=username,
                           error=f"Đã nhập sai {MAX_FAILURES} lần. Hãy thử lại sau {result.locked_minutes} phút.")
        if result.account is None:
            return _render(state, request, "login.html.j2", status=401, next=nxt, username=username,
                           error="Tên đăng nhập hoặc mật khẩu không đúng.")
        request.session.clear()  # a new session (and CSRF token) after login
        request.session["user"] = result.account.username
        request.session["csrf"] = _secrets.token_urlsafe(32)
        return RedirectResponse(nxt, status_code=303)

    @app.post("/dang-xuat")
    async def logout(request: Request) -> Response:
        form = await _form(request)
        bad = forged(request, form)
        if bad is not None:
            return bad
        request.session.clear()
        return RedirectResponse("/dang-nhap", status_code=303)

    # -------------------------------------------------------------- board

    @app.get("/")
    def home(request: Request) -> Response:
        account = need(request)
        if isinstance(account, Response):
            return account
        ctx = state.ctx_factory()
        key = _current_key(ctx, state.now())
        return RedirectResponse(f"/duyet/{key}" if account.role == "approver" else f"/bang/{key}", status_code=303)

    @app.get("/bang/{key}", response_class=HTMLResponse)
    def board(request: Request, key: str) -> Response:
        account = need(request)
        if isinstance(account, Response):
            return account
        ctx = state.ctx_factory()
        period = _period(ctx, key)
        if period is None:
            return _message(state, request, "Không có kỳ báo cáo này", f"“{key}” không phải là một kỳ báo cáo.", 404)
        data = views.board(ctx, period)
        periods, cells = views.grid(ctx, period)
        prev, nxt = period.previous(), _next_period(period)
        return _render(state, request, "board.html.j2", period=period, report=ctx.cfg.report, **data,
                       periods=periods, cells=cells, units=ctx.cfg.active_units, this=periods[-1],
                       unit_deadline=ctx.unit_deadline(period), report_deadline=ctx.report_deadline(period),
                       actions=ACTIONS, prev=prev, next=nxt, notice=request.session.pop("notice", None))

    @app.get("/bang/{key}/don-vi/{unit}", response_class=HTMLResponse)
    def unit_versions(request: Request, key: str, unit: str) -> Response:
        account = need(request)
        if isinstance(account, Response):
            return account
        ctx = state.ctx_factory()
        period, u = _period(ctx, key), ctx.cfg.unit(unit)
        if period is None or u is None:
            return _message(state, request, "Không tìm thấy", "Không có kỳ báo cáo hoặc đơn vị này.", 404)
        row = next((r for r in views.board(ctx, period)["rows"] if r["unit"] == u.code), None)
        return _render(state, request, "unit.html.j2", period=period, unit=u, row=row,
                       versions=views.versions(ctx, period, u.code), notice=request.session.pop("notice", None))

    @app.get("/tep/{submission_id}")
    def original(request: Request, submission_id: int) -> Response:
        account = need(request)
        if isinstance(account, Response):
            return account
        ctx = state.ctx_factory()
        found = ctx.ledger.submissions_by_id([submission_id])
        if not found:
            return _message(state, request, "Không tìm thấy", f"Không có báo cáo số {submission_id}.", 404)
        sub = found[0]
        path = views.original_path(ctx, sub)
        if path is None:
            why = ("Tệp đính kèm thư điện tử không được lưu lại nguyên bản (chỉ lưu số liệu và mã SHA-256); "
                   "xem thư gốc trong hộp thư của Văn phòng" if sub.source == "email" else
                   "Báo cáo nhập trên Google Sheets không có tệp gốc; xem trang tính của đơn vị"
                   if sub.source == "sheet" else "Tệp gốc không còn trong thư mục dữ liệu")
            return _message(state, request, "Không có tệp gốc", f"{why}. Mã SHA-256: {sub.content_hash}.", 404)
        return Response(path.read_bytes(), media_type="application/octet-stream",
                        headers={"Content-Disposition": _attachment(sub.filename)})

    @app.post("/bang/{key}/thao-tac")
    async def action(request: Request, key: str) -> Response:
        account = need(request, "operator")
        if isinstance(account, Response):
            return account
        form = await _form(request)
        bad = forged(request, form)
        if bad is not None:
            return bad
        assert form is not None
        ctx = state.ctx_factory()
        period = _period(ctx, key)
        what = str(form.get("action", ""))
        if period is None or what not in ACTIONS:
            return _message(state, request, "Thao tác không hợp lệ", "Không có thao tác hoặc kỳ báo cáo này.", 400)
        flow_name, extra, label = ACTIONS[what]
        try:
            ref = state.starter(flow_name, {"period": period.key, **extra})
        except Exception as exc:
            return _message(state, request, "Không khởi chạy được",
                            f"{label}: không khởi chạy được ({type(exc).__name__}). Kiểm tra `baocao serve`.", 502,
                            link=(f"/bang/{period.key}", "Về bảng theo dõi"))
        ctx.ledger.audit("web", account.username, f"start:{flow_name}", period=period.key, run=ref)
        request.session["notice"] = f"Đã khởi chạy: {label} kỳ {period.key} ({ref})."
        return RedirectResponse(f"/bang/{period.key}", status_code=303)

    @app.post("/mo-lai/{submission_id}")
    async def reopen(request: Request, submission_id: int) -> Response:
        account = need(request, "operator")
        if isinstance(account, Response):
            return account
        form = await _form(request)
        bad = forged(request, form)
        if bad is not None:
            return bad
        assert form is not None
        ctx = state.ctx_factory()
        note = nfc(str(form.get("reason", "")).strip())
        found = ctx.ledger.submissions_by_id([submission_id])
        if not found:
            return _message(state, request, "Không tìm thấy", f"Không có báo cáo số {submission_id}.", 404)
        back = f"/bang/{found[0].period}/don-vi/{found[0].unit_code}" if found[0].unit_code else "/"
        if not note:
            return _message(state, request, "Thiếu lý do", "Chấp nhận một báo cáo bị trả lại phải ghi rõ lý do.",
                            400, link=(back, "Quay lại"))
        try:
            ctx.ledger.reopen(submission_id, f"{note} (bởi {account.username} trên trang web)")
        except ValueError as exc:
            return _message(state, request, "Không chấp nhận được", str(exc), 400, link=(back, "Quay lại"))
        request.session["notice"] = f"Đã chấp nhận báo cáo số {submission_id}."
        return RedirectResponse(back, status_code=303)

    # -------------------------------------------------------------- approval

    @app.get("/duyet/{key}", response_class=HTMLResponse)
    def approval_page(request: Request, key: str) -> Response:
        account = need(request)
        if isinstance(account, Response):
            return account
        ctx = state.ctx_factory()
        period = _period(ctx, key)
        if period is None:
            return _message(state, request, "Không có kỳ báo cáo này", f"“{key}” không phải là một kỳ báo cáo.", 404)
        return _approval(state, request, ctx, period, account, error=None, form={})

    @app.post("/duyet/{key}", response_class=HTMLResponse)
    async def decide(request: Request, key: str) -> Response:
        account = need(request, "approver")
        if isinstance(account, Response):
            return account
        form = await _form(request)
        bad = forged(request, form)
        if bad is not None:
            return bad
        assert form is not None
        ctx = state.ctx_factory()
        period = _period(ctx, key)
        if period is None:
            return _message(state, request, "Không có kỳ báo cáo này", f"“{key}” không phải là một kỳ báo cáo.", 404)
        shown = views.shown_files(ctx, period)
        if not shown or views.consolidation(ctx, period) is None:
            return _approval(state, request, ctx, period, account, form=form, status=409,
                             error="Chưa có báo cáo tổng hợp của kỳ này để phê duyệt.")
        if str(form.get("digest", "")) != _digest(shown):
            return _approval(state, request, ctx, period, account, form=form, status=409,
                             error="Báo cáo đã được tổng hợp lại sau khi anh/chị mở trang. Hãy đọc lại bản mới "
                                   "trước khi quyết định.")
        if views.is_delivered(ctx, period):
            return _approval(state, request, ctx, period, account, form=form, status=409,
                             error="Báo cáo kỳ này đã được gửi; không thể quyết định lại.")
        decision = str(form.get("decision", ""))
        reason = nfc(str(form.get("reason", "")).strip())
        number = nfc(str(form.get("document_number", "")).strip())
        issued = _parse_date(str(form.get("issue_date", "")))
        if decision == RETURNED:
            if not reason:
                return _approval(state, request, ctx, period, account, form=form, status=400,
                                 error="Trả lại báo cáo phải ghi rõ lý do (cần sửa gì).")
        elif decision == APPROVED:
            problems = []
            if not number or len(number) > 60:
                problems.append("nhập số ký hiệu của văn bản (ví dụ 15/BC-SNV)")
            if issued is None:
                problems.append("nhập ngày ban hành theo dạng ngày/tháng/năm (ví dụ 18/03/2021)")
            elif issued < period.end:
                problems.append(f"ghi ngày ban hành không trước ngày chốt số liệu ({views.vn_date(period.end)})")
            elif issued > state.now().astimezone(TZ).date() + timedelta(days=31):
                problems.append("kiểm tra lại ngày ban hành (quá xa so với hôm nay)")
            if problems:
                return _approval(state, request, ctx, period, account, form=form, status=400,
                                 error="Để phê duyệt, hãy " + "; ".join(problems) + ".")
        else:
            return _approval(state, request, ctx, period, account, form=form, status=400,
                             error="Hãy chọn Phê duyệt hoặc Trả lại.")
        saved = record_decision(ctx.ledger, report_id=ctx.cfg.report.id, period=period.key, decision=decision,
                                username=account.username, name=account.name, sha256=shown,
                                reason=reason or None, document_number=number if decision == APPROVED else None,
                                issue_date=issued if decision == APPROVED else None, at=state.now())
        state.on_decision(ctx, saved)  # the decision box on the page says what was decided
        return RedirectResponse(f"/duyet/{period.key}", status_code=303)

    @app.get("/duyet/{key}/tep/{ext}")
    def report_file(request: Request, key: str, ext: str) -> Response:
        account = need(request)
        if isinstance(account, Response):
            return account
        ctx = state.ctx_factory()
        period = _period(ctx, key)
        paths = views.report_paths(ctx, period) if period else {}
        path = paths.get(ext)
        if path is None or not path.is_file():
            return _message(state, request, "Không có tệp", "Chưa có tệp này của báo cáo tổng hợp.", 404)
        return Response(path.read_bytes(), media_type="application/octet-stream",
                        headers={"Content-Disposition": _attachment(path.name)})

    # -------------------------------------------------------------- units

    def unit_link(request: Request, token: str) -> tuple[Context, Any, Period] | Response:
        ctx = state.ctx_factory()
        link = read_unit_token(state.secret, token)
        unit = ctx.cfg.unit(link.unit) if link else None
        unit = unit if unit is not None and unit.active else None
        period = _period(ctx, link.period) if link else None
        if link is None or unit is None or period is None or link.report_id != ctx.cfg.report.id:
            return _message(state, request, "Đường dẫn không hợp lệ",
                            "Đường dẫn nộp báo cáo này không đúng. Hãy mở lại đường dẫn trong thư đề nghị báo cáo "
                            "mới nhất của Văn phòng Sở, hoặc liên hệ Văn phòng Sở.", 404)
        today = state.now().astimezone(TZ).date()
        if not link_open(today, ctx.report_deadline(period), views.is_delivered(ctx, period)):
            return _message(state, request, "Đường dẫn đã hết hạn",
                            f"Kỳ báo cáo {period.label} đã kết thúc nên đường dẫn nộp báo cáo này không còn "
                            "dùng được. Nếu cần bổ sung, hãy liên hệ Văn phòng Sở.", 410)
        return ctx, unit, period

    @app.get("/nop/{token}", response_class=HTMLResponse)
    def unit_page(request: Request, token: str) -> Response:
        found = unit_link(request, token)
        if isinstance(found, Response):
            return found
        ctx, unit, period = found
        return _unit_page(state, request, ctx, unit, period, token, result=None)

    @app.get("/nop/{token}/bieu-mau")
    def unit_template(request: Request, token: str) -> Response:
        found = unit_link(request, token)
        if isinstance(found, Response):
            return found
        ctx, unit, period = found
        name, data = _unit_workbook(ctx, unit, period)
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": _attachment(name)})

    @app.post("/nop/{token}", response_class=HTMLResponse)
    async def upload(request: Request, token: str) -> Response:
        found = unit_link(request, token)
        if isinstance(found, Response):
            return found
        ctx, unit, period = found
        form = await _form(request)
        bad = forged(request, form)
        if bad is not None:
            return bad
        assert form is not None
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not getattr(upload, "filename", ""):
            return _unit_page(state, request, ctx, unit, period, token, status=400,
                              result={"status": "none", "errors": [{"message": "Hãy chọn tệp báo cáo để gửi."}]})
        data = await upload.read(state.max_upload + 1)
        if len(data) > state.max_upload:
            return forged(request, None) or Response(status_code=413)
        name = nfc(Path(upload.filename).name)
        result = {"filename": name, "warnings": [], **_receive(state, ctx, unit, period, name, data)}
        status = 200 if result["status"] in ("accepted", "duplicate") else 422
        return _unit_page(state, request, ctx, unit, period, token, result=result, status=status)


    @app.get("/nop/{token}/dien", response_class=HTMLResponse)
    def fill_page(request: Request, token: str) -> Response:
        found = unit_link(request, token)
        if isinstance(found, Response):
            return found
        ctx, unit, period = found
        return _fill_page(state, request, ctx, unit, period, token, values=_last_values(ctx, unit, period),
                          result=None)

    @app.post("/nop/{token}/dien", response_class=HTMLResponse)
    async def fill(request: Request, token: str) -> Response:
        found = unit_link(request, token)
        if isinstance(found, Response):
            return found
        ctx, unit, period = found
        form = await _form(request)
        bad = forged(request, form)
        if bad is not None:
            return bad
        assert form is not None
        values = {i.code: nfc(str(form.get(f"v_{i.code}", "")).strip())[:4000] for i in ctx.cfg.report.indicators}
        name = f"{unit.code} - nhập trên trang web.xlsx"
        data = _form_workbook(ctx, unit, period, values)
        result = {"filename": name, "warnings": [], **_receive(state, ctx, unit, period, name, data)}
        status = 200 if result["status"] in ("accepted", "duplicate") else 422
        return _fill_page(state, request, ctx, unit, period, token, values=values, result=result, status=status)


# ------------------------------------------------------------------ pieces of pages


def _safe_next(path: str) -> str:
    """Only a local path: never redirect elsewhere after login."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


def _attachment(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename) or "tep"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _digest(shown: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(f"{k}={v}" for k, v in sorted(shown.items())).encode()).hexdigest()


def _current_key(ctx: Context, now: datetime) -> str:
    from tasks.periods import current_period

    return current_period(ctx.cfg.settings.period_kind, now).key


def _next_period(period: Period) -> Period | None:
    from tasks.periods import parse_period

    if period.kind == "month":
        y, m = period.year, int(period.key[5:])
        return parse_period(f"{y + 1}-01" if m == 12 else f"{y}-{m + 1:02d}")
    if period.kind == "quarter":
        q = int(period.key[-1])
        return parse_period(f"{period.year + 1}-Q1" if q == 4 else f"{period.year}-Q{q + 1}")
    if period.kind in ("half", "nine_months", "year"):
        return parse_period(period.key.replace(str(period.year), str(period.year + 1), 1))
    return None


def _approval(state: WebState, request: Request, ctx: Context, period: Period, account: WebAccount,
              error: str | None, form: dict[str, Any], status: int = 200) -> HTMLResponse:
    c = views.consolidation(ctx, period)
    paths = views.report_paths(ctx, period)
    shown = views.shown_files(ctx, period)
    draft = views.docx_html(paths["docx"]) if paths["docx"].exists() else None
    decision = latest_decision(ctx.ledger, ctx.cfg.report.id, period.key)
    today = state.now().astimezone(TZ).date()
    return _render(state, request, "approve.html.j2", status=status, period=period, report=ctx.cfg.report, c=c,
                   figures=views.key_figures(c) if c else [], draft=draft, shown=shown, digest=_digest(shown),
                   files={k: p for k, p in paths.items() if p.is_file() and k != "json"},
                   decision=decision, delivery=views.delivery_state(ctx, period), error=error,
                   stale=bool(decision and decision.approved and decision.sha256 != shown),
                   form={"document_number": form.get("document_number", ""),
                         "issue_date": form.get("issue_date", f"{today:%d/%m/%Y}"),
                         "reason": form.get("reason", "")},
                   can_decide=account.role == "approver", signer=ctx.cfg.report.signer,
                   number_hint=ctx.cfg.report.document_number, notice=request.session.pop("notice", None))


def _unit_workbook(ctx: Context, unit: Any, period: Period) -> tuple[str, bytes]:
    from tasks.channels.base import unit_workbook

    return unit_workbook(ctx, unit, period)


def _unit_page(state: WebState, request: Request, ctx: Context, unit: Any, period: Period, token: str,
               result: dict[str, Any] | None, status: int = 200) -> HTMLResponse:
    rows = views.board(ctx, period)["rows"]
    row = next((r for r in rows if r["unit"] == unit.code), None)
    mine = [s for s in ctx.ledger.submissions(ctx.cfg.report.id, period.key) if s.unit_code == unit.code]
    return _render(state, request, "submit.html.j2", status=status, unit=unit, period=period, token=token,
                   deadline=ctx.unit_deadline(period), row=row, submissions=mine, result=result,
                   max_mb=views.vn_number(round(state.max_upload / 1024 / 1024, 1)),
                   office=ctx.cfg.settings.organisation.office_name, report=ctx.cfg.report)


CELL_REF = re.compile(r" \(ô [A-Z]{1,3}\d+\)")


def _last_values(ctx: Context, unit: Any, period: Period) -> dict[str, str]:
    """The unit's latest values this period (accepted first), to correct rather than retype."""
    mine = [s for s in ctx.ledger.submissions(ctx.cfg.report.id, period.key) if s.unit_code == unit.code]
    mine.sort(key=lambda s: (s.status == "accepted", s.id))
    if not mine:
        return {}
    return {k: "" if v is None else str(v) for k, v in mine[-1].value_map().items()}


def _form_workbook(ctx: Context, unit: Any, period: Period, values: dict[str, str]) -> bytes:
    """The values typed in the page, in the unit's own template: the same bytes path as an uploaded file."""
    from tasks.workbook import COL_CODE, COL_VALUE, template_grid, write_template_xlsx

    grid = template_grid(ctx.cfg.report, unit, period, ctx.unit_deadline(period),
                         return_text="Nhập trên trang web của Văn phòng Sở")
    for row in grid:
        code = row[COL_CODE] if len(row) > COL_VALUE else None
        if isinstance(code, str) and code in values and isinstance(row[0], int):
            row[COL_VALUE] = values[code] or None
    return write_template_xlsx(grid, ctx.cfg.report)


def _fill_page(state: WebState, request: Request, ctx: Context, unit: Any, period: Period, token: str,
               values: dict[str, str], result: dict[str, Any] | None, status: int = 200) -> HTMLResponse:
    report = ctx.cfg.report
    by_code: dict[str, list[str]] = {}
    for e in (result or {}).get("errors", []) if result and result["status"] == "rejected" else []:
        if e.get("code"):
            by_code.setdefault(e["code"], []).append(CELL_REF.sub("", e["message"]))
    groups = [(g, [i for i in report.indicators if i.group == g.code]) for g in report.groups]
    return _render(state, request, "fill.html.j2", status=status, unit=unit, period=period, token=token,
                   deadline=ctx.unit_deadline(period), report=report, groups=[x for x in groups if x[1]],
                   values=values, field_errors=by_code, result=result,
                   messages=[CELL_REF.sub("", e["message"]) for e in (result or {}).get("errors", [])],
                   office=ctx.cfg.settings.organisation.office_name)


def _receive(state: WebState, ctx: Context, unit: Any, period: Period, filename: str, data: bytes) -> dict[str, Any]:
    """Keep the bytes under <data_dir>/web/, then take the same path as a folder file; report at once."""
    from tasks.collect import process_documents
    from tasks.intake import UnreadableFile, content_hash, is_spreadsheet, parse_grid, read_grid
    from tasks.periods import parse_period
    from tasks.types import Document

    filename = nfc(filename)[:200] or "bao-cao.xlsx"
    if not is_spreadsheet(filename):
        return {"status": "rejected", "errors": [{"message": f"Tệp “{filename}” không phải bảng tính. Hãy gửi "
                                                             "biểu mẫu đã điền (.xlsx, .xls, .ods hoặc .csv)."}],
                "warnings": []}
    # a unit's link only reports for that unit and period: a file naming another is refused, not filed there
    try:
        sheet = parse_grid(read_grid(data, filename))
    except UnreadableFile:
        sheet = None
    if sheet is not None:
        other_unit = sheet.unit_code and ctx.cfg.unit(sheet.unit_code) and \
            ctx.cfg.unit(sheet.unit_code).code != unit.code  # type: ignore[union-attr]
        try:
            named = parse_period(sheet.period_text or "")
        except PeriodError:
            named = None
        other_period = named is not None and named.kind == period.kind and named.key != period.key \
            and named.start <= state.now().astimezone(TZ).date()
        if other_unit or other_period:
            which = (f"mã đơn vị {sheet.unit_code} (ô {sheet.unit_cell})" if other_unit
                     else f"kỳ báo cáo {sheet.period_text} (ô {sheet.period_cell})")
            ctx.ledger.audit("web", unit.code, "refused", period=period.key, filename=filename,
                             sha256=content_hash(data), why=which)
            return {"status": "rejected", "warnings": [], "errors": [{"message": (
                f"Tệp ghi {which}, nhưng đường dẫn này chỉ dùng để nộp báo cáo {period.label} của {unit.name}. "
                "Hãy dùng đúng biểu mẫu của kỳ này (tải ở trên) hoặc đường dẫn của đơn vị/kỳ đó."),
                "cell": sheet.unit_cell if other_unit else sheet.period_cell}]}
    received = state.now().astimezone(TZ)
    ref = f"web/{period.key}/{unit.code}/{received:%Y%m%d-%H%M%S}-{content_hash(data)[:8]}-{_safe_name(filename)}"
    path = ctx.data_dir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    doc = Document(source="web", source_ref=ref, filename=filename, content=data, received_at=received,
                   claimed_unit=unit.code)
    outcomes = process_documents(ctx, period, [doc])
    o = outcomes[0]
    if state.on_upload is not None and o.status in ("accepted", "rejected"):
        try:
            state.on_upload(ctx, outcomes)
        except Exception as exc:  # the submission is recorded; a mail failure must not hide the result
            ctx.ledger.audit("web", unit.code, "upload_hook_failed", error=str(exc))
    return {"status": o.status, "errors": o.errors, "warnings": o.warnings, "on_time": o.on_time,
            "submission_id": o.submission_id, "filename": filename,
            "received_at": received, "reason": o.reason,
            "filed": o.period if o.period and o.period != period.key else None}


def _safe_name(filename: str) -> str:
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._")[:80] or "bao-cao.xlsx"


# ------------------------------------------------------------------ serving


def run_web(config_dir: str | Path | None = None, data_dir: str | Path | None = None, host: str | None = None,
            port: int | None = None, *, demo: bool = False, **kwargs: Any) -> None:
    """Serve the pages with uvicorn until stopped (`baocao web`; `baocao serve` runs it in a thread)."""
    import uvicorn

    from tasks.context import cached_context

    cfg_dir = str(config_dir) if config_dir else None
    dat_dir = str(data_dir) if data_dir else None

    def ctx_factory() -> Context:
        return cached_context(cfg_dir, dat_dir)

    web = ctx_factory().cfg.settings.web
    app = create_app(ctx_factory, demo=demo, **kwargs)
    uvicorn.run(app, host=host or web.host, port=port or web.port, log_level="warning",
                proxy_headers=False, server_header=False)


def unit_link(ctx: Context, secret: str, unit_code: str, period: Period) -> str:
    """`<base_url>/nop/<token>` for a unit's request or reminder mail."""
    base = ctx.cfg.settings.web.base_url.rstrip("/")
    return f"{base}/nop/{unit_token(secret, unit_code, ctx.cfg.report.id, period.key)}"


def approval_link(ctx: Context, period: Period) -> str:
    """`<base_url>/duyet/<period>` for the approval mail."""
    return f"{ctx.cfg.settings.web.base_url.rstrip('/')}/duyet/{period.key}"


__all__ = ["create_app", "run_web", "unit_link", "approval_link"]
