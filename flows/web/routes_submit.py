"""A unit's own page (`/nop/<token>`, no account): its standing, its blank template, the upload, and the
in-page form that types the figures into the same template (the same intake path as an uploaded file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flows.web import views
from flows.web.pages import Answer, checked_form, download, message, period_of, render, too_large, web_state
from flows.web.security import link_open, read_unit_token
from flows.web.upload import receive
from tasks.channels.base import unit_workbook
from tasks.config import Unit
from tasks.context import Context
from tasks.periods import TZ, Period
from tasks.text import nfc
from tasks.workbook import COL_CODE, COL_VALUE, template_grid, write_template_xlsx

router = APIRouter()
CELL_REF = re.compile(r" \(ô [A-Z]{1,3}\d+\)")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def linked(request: Request, token: str) -> tuple[Context, Unit, Period]:
    """The unit and period a link is for while the period is open; else answers with the page saying why not."""
    state = web_state(request)
    ctx = state.ctx_factory()
    link = read_unit_token(state.secret, token)
    unit = ctx.cfg.unit(link.unit) if link else None
    period = period_of(ctx, link.period) if link else None
    unit = unit if unit is not None and period is not None and unit.expected_in(period) else None
    if link is None or unit is None or period is None or link.report_id != ctx.cfg.report.id:
        raise Answer(message(request, "Đường dẫn không hợp lệ",
                             "Đường dẫn nộp báo cáo này không đúng. Hãy mở lại đường dẫn trong thư đề nghị báo cáo "
                             "mới nhất của Văn phòng Sở, hoặc liên hệ Văn phòng Sở.", 404))
    today = state.now().astimezone(TZ).date()
    if not link_open(today, ctx.report_deadline(period), views.is_delivered(ctx, period)):
        raise Answer(message(request, "Đường dẫn đã hết hạn",
                             f"Kỳ báo cáo {period.label} đã kết thúc nên đường dẫn nộp báo cáo này không còn "
                             "dùng được. Nếu cần bổ sung, hãy liên hệ Văn phòng Sở.", 410))
    return ctx, unit, period


def checked(request: Request, ctx: Context, unit: Unit, period: Period, filename: str,
            data: bytes) -> tuple[dict[str, Any], int]:
    """The result the page shows for a workbook, and the page's status (422 when it was not taken)."""
    result = {"filename": filename, "warnings": [], **receive(web_state(request), ctx, unit, period, filename, data)}
    return result, 200 if result["status"] in ("accepted", "duplicate") else 422


# ------------------------------------------------------------------ upload


def unit_page(request: Request, ctx: Context, unit: Unit, period: Period, token: str,
              result: dict[str, Any] | None, status: int = 200) -> HTMLResponse:
    row = views.board_row(ctx, period, unit)
    mine = ctx.ledger.submissions(ctx.cfg.report.id, period.key, unit_code=unit.code)
    return render(request, "submit.html.j2", status=status, unit=unit, period=period, token=token,
                  deadline=ctx.unit_deadline(period), row=row, submissions=mine, result=result,
                  max_mb=views.vn_number(round(web_state(request).max_upload / 1024 / 1024, 1)),
                  office=ctx.cfg.settings.organisation.office_name, report=ctx.cfg.report)


@router.get("/nop/{token}", response_class=HTMLResponse)
def unit_home(request: Request, token: str) -> Response:
    ctx, unit, period = linked(request, token)
    return unit_page(request, ctx, unit, period, token, result=None)


@router.get("/nop/{token}/bieu-mau")
def unit_template(request: Request, token: str) -> Response:
    name, data = unit_workbook(*linked(request, token))
    return download(data, name, media_type=XLSX)


@router.post("/nop/{token}", response_class=HTMLResponse)
async def upload(request: Request, token: str) -> Response:
    ctx, unit, period = linked(request, token)
    form = await checked_form(request)
    file = form.get("file")
    if file is None or isinstance(file, str) or not getattr(file, "filename", ""):
        return unit_page(request, ctx, unit, period, token, status=400,
                         result={"status": "none", "errors": [{"message": "Hãy chọn tệp báo cáo để gửi."}]})
    max_upload = web_state(request).max_upload
    data = await file.read(max_upload + 1)
    if len(data) > max_upload:
        return too_large(request)
    result, status = checked(request, ctx, unit, period, nfc(Path(file.filename).name), data)
    return unit_page(request, ctx, unit, period, token, result=result, status=status)


# ------------------------------------------------------------------ in-page form


def last_values(ctx: Context, unit: Unit, period: Period) -> dict[str, str]:
    """The unit's latest values this period (accepted first), to correct rather than retype."""
    mine = ctx.ledger.submissions(ctx.cfg.report.id, period.key, unit_code=unit.code)
    mine.sort(key=lambda s: (s.status == "accepted", s.id))
    if not mine:
        return {}
    return {k: "" if v is None else str(v) for k, v in mine[-1].value_map().items()}


def form_workbook(ctx: Context, unit: Unit, period: Period, values: dict[str, str]) -> bytes:
    """The values typed in the page, in the unit's own template: the same bytes path as an uploaded file."""
    grid = template_grid(ctx.cfg.report, unit, period, ctx.unit_deadline(period),
                         return_text="Nhập trên trang web của Văn phòng Sở")
    for row in grid:
        code = row[COL_CODE] if len(row) > COL_VALUE else None
        if isinstance(code, str) and code in values and isinstance(row[0], int):
            row[COL_VALUE] = values[code] or None
    return write_template_xlsx(grid, ctx.cfg.report)


def fill_page(request: Request, ctx: Context, unit: Unit, period: Period, token: str, values: dict[str, str],
              result: dict[str, Any] | None, status: int = 200) -> HTMLResponse:
    report = ctx.cfg.report
    by_code: dict[str, list[str]] = {}
    for e in (result or {}).get("errors", []) if result and result["status"] == "rejected" else []:
        if e.get("code"):
            by_code.setdefault(e["code"], []).append(CELL_REF.sub("", e["message"]))
    groups = [(g, [i for i in report.indicators if i.group == g.code]) for g in report.groups]
    return render(request, "fill.html.j2", status=status, unit=unit, period=period, token=token,
                  deadline=ctx.unit_deadline(period), report=report, groups=[x for x in groups if x[1]],
                  values=values, field_errors=by_code, result=result,
                  messages=[CELL_REF.sub("", e["message"]) for e in (result or {}).get("errors", [])],
                  office=ctx.cfg.settings.organisation.office_name)


@router.get("/nop/{token}/dien", response_class=HTMLResponse)
def fill_form(request: Request, token: str) -> Response:
    ctx, unit, period = linked(request, token)
    return fill_page(request, ctx, unit, period, token, values=last_values(ctx, unit, period), result=None)


@router.post("/nop/{token}/dien", response_class=HTMLResponse)
async def fill(request: Request, token: str) -> Response:
    ctx, unit, period = linked(request, token)
    form = await checked_form(request)
    values = {i.code: nfc(str(form.get(f"v_{i.code}", "")).strip())[:4000] for i in ctx.cfg.report.indicators}
    data = form_workbook(ctx, unit, period, values)
    result, status = checked(request, ctx, unit, period, f"{unit.code} - nhập trên trang web.xlsx", data)
    return fill_page(request, ctx, unit, period, token, values=values, result=result, status=status)
