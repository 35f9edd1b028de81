"""Logging in and out of the Office's pages (Office and Director accounts, a rate-limited password check)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.web.pages import checked_form, client_ip, render, web_state
from flows.web.security import MAX_FAILURES, authenticate

router = APIRouter()


def safe_next(path: str) -> str:
    """Only a local path: never redirect elsewhere after login."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


@router.get("/dang-nhap", response_class=HTMLResponse)
def login_page(request: Request, tiep: str = "/") -> Response:
    return render(request, "login.html.j2", next=safe_next(tiep), error=None, username="")


@router.post("/dang-nhap", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await checked_form(request)
    state = web_state(request)
    ctx = state.ctx_factory()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = safe_next(str(form.get("tiep", "/")))
    result = authenticate(ctx.ledger, state.account_list(), username, password, client_ip(request))
    if result.locked_minutes:
        return render(request, "login.html.j2", status=429, next=nxt, username=username,
                      error=f"Đã nhập sai {MAX_FAILURES} lần. Hãy thử lại sau {result.locked_minutes} phút.")
    if result.account is None:
        return render(request, "login.html.j2", status=401, next=nxt, username=username,
                      error="Tên đăng nhập hoặc mật khẩu không đúng.")
    request.session.clear()  # a new session (and CSRF token) after login
    request.session["user"] = result.account.username
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(nxt, status_code=303)


@router.post("/dang-xuat")
async def logout(request: Request) -> Response:
    await checked_form(request)  # only this session's own form logs it out
    request.session.clear()
    return RedirectResponse("/dang-nhap", status_code=303)
