"""What every page shares: the application's state, rendering, the login check and the posted form's checks.

The route modules (routes_auth, routes_board, routes_approval, routes_submit) find the state on the request
(`web_state`), so they hold no globals and one process may serve several applications (tests do).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from flows.web import views
from flows.web.actions import DecisionHook, Starter
from flows.web.security import csrf_ok, csrf_token
from tasks.config import WebAccount
from tasks.context import Context
from tasks.periods import Period, PeriodError
from tasks.resources import templates_dir
from tasks.text import nfc

TEMPLATES = templates_dir() / "web"
ROLE_VI = {"operator": "Văn phòng", "approver": "Lãnh đạo Sở"}
UploadHook = Callable[[Context, list[Any]], None]


class BodyTooLarge(Exception):
    """Raised by the body limit (app.LimitBody) while a form is read."""


class Answer(Exception):
    """A page's early answer (the login page, a refusal, an error page) raised by a check; the app returns it."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


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


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


# ------------------------------------------------------------------ answering


def render(request: Request, name: str, status: int = 200, **data: Any) -> HTMLResponse:
    body = web_state(request).env.get_template(name).render(request=request, user=account_of(request),
                                                            csrf=csrf_token(request.session), **data)
    return HTMLResponse(nfc(body), status_code=status)


def message(request: Request, title: str, text: str, status: int,
            link: tuple[str, str] | None = None) -> HTMLResponse:
    return render(request, "message.html.j2", status=status, title=title, text=text, link=link)


def attachment(filename: str) -> str:
    """Content-Disposition for a download: an ASCII name for old clients, the real one (RFC 5987) for the rest."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename) or "tep"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def download(data: bytes, filename: str, media_type: str = "application/octet-stream") -> Response:
    return Response(data, media_type=media_type, headers={"Content-Disposition": attachment(filename)})


# ------------------------------------------------------------------ who is asking


def account_of(request: Request) -> WebAccount | None:
    username = request.session.get("user")
    if not username:
        return None
    return next((a for a in web_state(request).account_list() if a.username == username), None)


def need(request: Request, role: str | None = None) -> WebAccount:
    """The logged-in account (with `role` when given); else answers with the login page or a refusal."""
    account = account_of(request)
    if account is None:
        raise Answer(RedirectResponse(f"/dang-nhap?tiep={request.url.path}", status_code=303))
    if role is not None and account.role != role:
        raise Answer(message(request, "Không có quyền", f"Trang này dành cho tài khoản {ROLE_VI[role]}.", 403))
    return account


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


FIRST_YEAR, LAST_YEAR = 1900, 2999  # a page's period; beyond them the dates of its neighbours do not exist
LAST_ID = 2**63 - 1  # the largest row id the ledger can hold


def period_of(ctx: Context, key: str) -> Period | None:
    """The period a page's address names, or None (not a period, or a year no report has)."""
    try:
        period = ctx.period(key)
    except (PeriodError, ValueError, OverflowError):
        return None
    return period if FIRST_YEAR <= period.start.year and period.end.year <= LAST_YEAR else None


def known_id(number: int) -> bool:
    """A submission number from an address that the ledger could hold (else it answers "no such report")."""
    return 0 < number <= LAST_ID


def known_period(request: Request, ctx: Context, key: str) -> Period:
    """The period of a page's address; else answers that there is no such period."""
    period = period_of(ctx, key)
    if period is None:
        raise Answer(message(request, "Không có kỳ báo cáo này", f"“{key}” không phải là một kỳ báo cáo.", 404))
    return period


# ------------------------------------------------------------------ posted forms


async def read_form(request: Request) -> dict[str, Any] | None:
    """The posted form, or None when the body is over the limit."""
    if request.scope.get("state", {}).get("body_too_large"):
        return None
    try:
        form = await request.form(max_files=2, max_fields=50)
    except BodyTooLarge:
        return None
    return {k: v for k, v in form.multi_items()}


def too_large(request: Request) -> HTMLResponse:
    mb = web_state(request).max_upload / 1024 / 1024
    return message(request, "Tệp quá lớn",
                   f"Dữ liệu gửi lên vượt quá giới hạn {views.vn_number(round(mb, 1))} MB. "
                   "Hãy gửi tệp báo cáo (.xlsx) theo biểu mẫu, không kèm hình ảnh.", 413)


async def checked_form(request: Request) -> dict[str, Any]:
    """The posted form when it is within the limit and carries this session's CSRF token; else answers with
    the refusal."""
    form = await read_form(request)
    if form is None:
        raise Answer(too_large(request))
    if not csrf_ok(request.session, form.get("csrf")):
        raise Answer(message(request, "Yêu cầu không hợp lệ", "Biểu mẫu đã hết hạn hoặc không phải do trang này "
                                                             "tạo ra. Hãy tải lại trang và thử lại.", 403))
    return form
