"""`baocao web`: the Office's status board, the Director's approval page and the units' web submission.

FastAPI with server-rendered Jinja2 pages (autoescaped), no JavaScript. Office and Director accounts come
from settings (web.accounts, argon2 hashes); sessions are signed cookies; every form carries a CSRF token;
a unit's link is a signed token bound to unit, report and period that stops working when the period closes.

This module builds the application (middleware, error pages, the page groups' routers) and serves it; the
pages are in routes_auth (login), routes_board (status board), routes_approval (approval page) and
routes_submit (a unit's upload and in-page form), their shared pieces in pages.

The lead's wiring: `create_app(ctx_factory, ...)` returns the ASGI app; `run_web(...)` serves it with uvicorn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flows.web import routes_approval, routes_auth, routes_board, routes_submit
from flows.web.actions import DecisionHook, Starter, default_starter, emit_decision_event
from flows.web.pages import Answer, BodyTooLarge, UploadHook, WebState, message
from flows.web.security import load_secret, unit_link_url
from flows.web.upload import rejection_mails
from tasks.config import WebAccount
from tasks.context import Context
from tasks.periods import TZ, Period


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


log = logging.getLogger("baocao.web")
FAILURE_TEXT = ("Trang này chưa mở được do lỗi của hệ thống, không phải do anh/chị. Hãy thử lại sau ít phút; nếu vẫn "
                "lỗi, hãy báo cho Văn phòng Sở (cán bộ quản trị hệ thống) kèm thời điểm và địa chỉ trang.")
FAILURE_PAGE = ('<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" '
                'content="width=device-width, initial-scale=1"><title>Hệ thống đang gặp lỗi · Sở Nội vụ</title>'
                f'</head><body><main><h1>Hệ thống đang gặp lỗi</h1><p>{FAILURE_TEXT}</p></main></body></html>')

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a unit's link must never leak in a Referer header
    "Cache-Control": "no-store",
}


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
        on_upload=on_upload if on_upload is not None else rejection_mails,
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
            return message(request, "Không thực hiện được", "Trang này không nhận yêu cầu kiểu này.", 405)
        return message(request, "Không tìm thấy trang",
                       "Địa chỉ này không có trong hệ thống. Nếu đây là đường dẫn nộp báo cáo, hãy mở lại đường dẫn "
                       "trong thư đề nghị báo cáo mới nhất của Văn phòng Sở.", exc.status_code)

    @app.exception_handler(Answer)
    async def answer(request: Request, exc: Answer) -> Response:
        return exc.response

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> Response:
        """A fault of baocao's own: logged with its traceback; the person reads what to do, in Vietnamese."""
        log.error("Lỗi khi trả lời %s %s", request.method, request.url.path, exc_info=exc)
        try:
            return message(request, "Hệ thống đang gặp lỗi", FAILURE_TEXT, 500, link=("/", "Về trang chính"))
        except Exception:  # the page itself cannot be drawn (configuration unreadable): the plain one
            return HTMLResponse(FAILURE_PAGE, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return message(request, "Không tìm thấy trang", "Địa chỉ này không đúng.", 404)

    for pages in (routes_auth, routes_board, routes_approval, routes_submit):
        app.include_router(pages.router)
    return app


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
    return unit_link_url(ctx.cfg.settings.web.base_url, secret, unit_code, ctx.cfg.report.id, period.key)


def approval_link(ctx: Context, period: Period) -> str:
    """`<base_url>/duyet/<period>` for the approval mail."""
    return f"{ctx.cfg.settings.web.base_url.rstrip('/')}/duyet/{period.key}"


__all__ = ["create_app", "run_web", "unit_link", "approval_link"]
