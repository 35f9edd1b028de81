"""The Director's approval page: read the draft and the key figures, approve (document number and date) or
return with a reason; the decision is bound to the files shown (their SHA-256) and starts delivery."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.web import views
from flows.web.pages import checked_form, download, known_period, message, need, period_of, render, web_state
from tasks.approvals import APPROVED, RETURNED, latest_decision, record_decision
from tasks.config import WebAccount
from tasks.context import Context
from tasks.periods import TZ, Period
from tasks.text import nfc

router = APIRouter()
DATE_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")


def parse_date(text: str) -> date | None:
    """'18/03/2021' (day/month/year), else None."""
    m = DATE_RE.match(text or "")
    if not m:
        return None
    try:
        return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None


def digest(shown: dict[str, str]) -> str:
    """One hash of the files the page showed, so a decision on an outdated page is refused."""
    return hashlib.sha256("\n".join(f"{k}={v}" for k, v in sorted(shown.items())).encode()).hexdigest()


def approval(request: Request, ctx: Context, period: Period, account: WebAccount, error: str | None,
             form: dict[str, Any], status: int = 200) -> HTMLResponse:
    c = views.consolidation(ctx, period)
    paths = views.report_paths(ctx, period)
    shown = views.shown_files(ctx, period)
    draft = views.docx_html(paths["docx"]) if paths["docx"].exists() else None
    decision = latest_decision(ctx.ledger, ctx.cfg.report.id, period.key)
    today = web_state(request).now().astimezone(TZ).date()
    return render(request, "approve.html.j2", status=status, period=period, report=ctx.cfg.report, c=c,
                  figures=views.key_figures(c) if c else [], draft=draft, shown=shown, digest=digest(shown),
                  files={k: p for k, p in paths.items() if p.is_file() and k != "json"},
                  decision=decision, delivery=views.delivery_state(ctx, period), error=error,
                  stale=bool(decision and decision.approved and decision.sha256 != shown),
                  form={"document_number": form.get("document_number", ""),
                        "issue_date": form.get("issue_date", f"{today:%d/%m/%Y}"),
                        "reason": form.get("reason", "")},
                  can_decide=account.role == "approver", signer=ctx.cfg.report.signer,
                  number_hint=ctx.cfg.report.document_number, notice=request.session.pop("notice", None))


@router.get("/duyet/{key}", response_class=HTMLResponse)
def approval_page(request: Request, key: str) -> Response:
    account = need(request)
    ctx = web_state(request).ctx_factory()
    period = known_period(request, ctx, key)
    return approval(request, ctx, period, account, error=None, form={})


@router.post("/duyet/{key}", response_class=HTMLResponse)
async def decide(request: Request, key: str) -> Response:
    account = need(request, "approver")
    form = await checked_form(request)
    state = web_state(request)
    ctx = state.ctx_factory()
    period = known_period(request, ctx, key)
    shown = views.shown_files(ctx, period)
    if not shown or views.consolidation(ctx, period) is None:
        return approval(request, ctx, period, account, form=form, status=409,
                        error="Chưa có báo cáo tổng hợp của kỳ này để phê duyệt.")
    if str(form.get("digest", "")) != digest(shown):
        return approval(request, ctx, period, account, form=form, status=409,
                        error="Báo cáo đã được tổng hợp lại sau khi anh/chị mở trang. Hãy đọc lại bản mới "
                              "trước khi quyết định.")
    if views.is_delivered(ctx, period):
        return approval(request, ctx, period, account, form=form, status=409,
                        error="Báo cáo kỳ này đã được gửi; không thể quyết định lại.")
    decision = str(form.get("decision", ""))
    reason = nfc(str(form.get("reason", "")).strip())
    number = nfc(str(form.get("document_number", "")).strip())
    issued = parse_date(str(form.get("issue_date", "")))
    if decision == RETURNED:
        if not reason:
            return approval(request, ctx, period, account, form=form, status=400,
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
            return approval(request, ctx, period, account, form=form, status=400,
                            error="Để phê duyệt, hãy " + "; ".join(problems) + ".")
    else:
        return approval(request, ctx, period, account, form=form, status=400,
                        error="Hãy chọn Phê duyệt hoặc Trả lại.")
    number_kept, issued_kept = (number, issued) if decision == APPROVED else (None, None)
    latest = latest_decision(ctx.ledger, ctx.cfg.report.id, period.key)
    if latest is not None and (latest.decision, latest.username, latest.sha256, latest.reason,
                               latest.document_number, latest.issue_date) == (
            decision, account.username, shown, reason or None, number_kept, issued_kept):
        # the same form sent again (a double click, a phone resending it): decided once, delivered once
        return RedirectResponse(f"/duyet/{period.key}", status_code=303)
    saved = record_decision(ctx.ledger, report_id=ctx.cfg.report.id, period=period.key, decision=decision,
                            username=account.username, name=account.name, sha256=shown,
                            reason=reason or None, document_number=number_kept, issue_date=issued_kept,
                            at=state.now())
    state.on_decision(ctx, saved)  # the decision box on the page says what was decided
    return RedirectResponse(f"/duyet/{period.key}", status_code=303)


@router.get("/duyet/{key}/tep/{ext}")
def report_file(request: Request, key: str, ext: str) -> Response:
    need(request)
    ctx = web_state(request).ctx_factory()
    period = period_of(ctx, key)
    path = (views.report_paths(ctx, period) if period else {}).get(ext)
    if path is None or not path.is_file():
        return message(request, "Không có tệp", "Chưa có tệp này của báo cáo tổng hợp.", 404)
    return download(path.read_bytes(), path.name)
