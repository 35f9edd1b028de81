"""The business steps as plain functions: request, collect, remind, consolidate, deliver.

Flows wrap these in a few chunked Prefect tasks; the CLI and the tests call them directly too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tasks.config import Unit
from tasks.context import Context
from tasks.intake import UnreadableFile, content_hash, parse_grid, read_grid
from tasks.ledger import NewSubmission, Submission, as_utc
from tasks.mail.compose import OutgoingMail
from tasks.merge import RejectedReport, UnitReport, consolidate, totals_of
from tasks.messages import DOCX, XLSX, delivery_mail, overdue_mail, rejection_mail, reminder_mail, request_mail
from tasks.models import Document, Issue, ParsedSheet
from tasks.periods import TZ, Period, PeriodError, is_working_day, parse_period, today_local, working_days_until
from tasks.validation import check_submission
from tasks.workbook import template_filename, template_grid, write_template_xlsx


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    """Per-unit work is done in a few chunks, never one Prefect task per unit."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)] or [[]]


# ------------------------------------------------------------------ request


def unit_workbook(ctx: Context, unit: Unit, period: Period) -> tuple[str, bytes]:
    grid = template_grid(ctx.cfg.report, unit, period, ctx.unit_deadline(period))
    name = template_filename(ctx.cfg.report, unit, period)
    return name, write_template_xlsx(grid, ctx.cfg.report)


def sheet_tab_title(unit: Unit, period: Period) -> str:
    from tasks.sheet_channel import tab_title  # the tab ensure_unit_tabs created for this period

    return tab_title(unit, period)


def request_mails(ctx: Context, period: Period, units: Iterable[Unit]) -> list[OutgoingMail]:
    deadline = ctx.unit_deadline(period)
    sheet_id = ctx.cfg.settings.channels.sheets.spreadsheet_id
    url = f"https://docs.google.com/spreadsheets/d/{sheet_id}" if sheet_id else None
    mails = []
    for unit in units:
        if unit.channel == "sheet":
            mails.append(request_mail(ctx.cfg, unit, period, deadline, None, "", sheet_tab_title(unit, period), url))
        else:
            name, data = unit_workbook(ctx, unit, period)
            mails.append(request_mail(ctx.cfg, unit, period, deadline, data, name))
    return mails


# ------------------------------------------------------------------ collect


@dataclass
class Outcome:
    """What became of one received document, for events, replies and the operator's table."""

    source_ref: str
    status: str  # accepted | rejected | quarantined | duplicate
    unit_code: str | None = None
    submission_id: int | None = None
    on_time: bool | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    period: str | None = None  # the period it was filed under


def folder_documents(ctx: Context, known: set[str] | None = None, only: Iterable[str] | None = None) -> list[Document]:
    """Files dropped in the inbox (never moved or changed); already-recorded contents skipped.

    `only` names the files (as source refs) a chunk must read, so chunks do not re-read the whole inbox.
    """
    docs: list[Document] = []
    if not ctx.inbox.exists():
        return docs
    if only is not None:
        files = [p for p in (ctx.data_dir / ref for ref in only) if p.is_file()]
    else:
        files = [p for p in ctx.inbox.rglob("*") if p.is_file() and not p.name.startswith((".", "~$"))]
    for path in sorted(files, key=lambda p: (p.stat().st_mtime, p.name)):  # in order of arrival
        data = path.read_bytes()
        if known is not None and content_hash(data) in known:
            continue
        received = datetime.fromtimestamp(path.stat().st_mtime, TZ)
        docs.append(Document(source="folder", source_ref=str(path.relative_to(ctx.data_dir)),
                             filename=path.name, content=data, received_at=received))
    return docs


def _quarantine_reason(ctx: Context, doc: Document, unit_code: str | None) -> str | None:
    """Email only counts from a registered contact of the unit it reports for, with a matching tag."""
    if doc.source != "email":
        return None
    sender = (doc.sender or "").lower()
    owners = [u for u in ctx.cfg.units if sender in u.emails]
    if not owners:
        return f"Người gửi {sender or '(không rõ)'} không phải đầu mối đã đăng ký của đơn vị nào."
    if doc.claimed_unit and unit_code and doc.claimed_unit.casefold() != unit_code.casefold():
        return (f"Mã đơn vị ở tiêu đề thư ({doc.claimed_unit}) khác mã đơn vị trong tệp ({unit_code}).")
    if unit_code and not any(u.code == unit_code for u in owners):
        return f"Người gửi {sender} không phải đầu mối của đơn vị {unit_code}."
    return None


def delivered(ctx: Context, period: Period) -> bool:
    """A period is closed once its consolidated report has gone to UBND tỉnh."""
    rec = ctx.ledger.message(f"delivery:{ctx.cfg.report.id}:{period.key}")
    return rec is not None and rec.status in ("written", "sent")


def filing_period(ctx: Context, sheet: ParsedSheet, collecting: Period, today: date | None = None) -> Period:
    """The period a document belongs to: the one its 'Kỳ báo cáo' cell names when that period is still open
    (same kind, already started, report not yet delivered): a March report sent on 13 March while February
    is still being collected is March's. Otherwise the period being collected, where validation says the
    period is wrong (typically last month's template filled with this month's numbers)."""
    try:
        named = parse_period(sheet.period_text or "")
    except PeriodError:
        return collecting
    if named.key == collecting.key or named.kind != collecting.kind or named.start > (today or today_local()):
        return collecting
    return collecting if delivered(ctx, named) else named


def process_document(ctx: Context, period: Period, doc: Document) -> Outcome:
    """Read, check and record one document; never raises for bad content."""
    report = ctx.cfg.report
    data = doc.content if doc.grid is None else json.dumps(doc.grid, default=str, ensure_ascii=False).encode()
    digest = content_hash(data)
    try:
        grid = doc.grid if doc.grid is not None else read_grid(doc.content, doc.filename)
    except UnreadableFile as exc:
        return record_unreadable(ctx, period, doc, str(exc))

    sheet = parse_grid(grid)
    if doc.source != "sheet":  # a unit's tab belongs to the tab's period, whatever is typed in it
        period = filing_period(ctx, sheet, period)
    on_time = doc.received_at.astimezone(TZ).date() <= ctx.unit_deadline(period)
    base = dict(report_id=report.id, period=period.key, source=doc.source, source_ref=doc.source_ref,
                filename=doc.filename, received_at=doc.received_at, content_hash=digest, sender=doc.sender,
                message_id=doc.message_id)
    verdict = check_submission(ctx.cfg, sheet, period)
    unit_code = verdict.unit_code if ctx.cfg.unit(verdict.unit_code or "") else None
    if unit_code is None and doc.claimed_unit and ctx.cfg.unit(doc.claimed_unit):
        unit_code = ctx.cfg.unit(doc.claimed_unit).code  # type: ignore[union-attr]
    reason = _quarantine_reason(ctx, doc, unit_code)
    if doc.source == "sheet" and doc.claimed_unit and unit_code and unit_code != doc.claimed_unit:
        verdict.errors.append(Issue(f"Trang tính của đơn vị {doc.claimed_unit} ghi mã đơn vị {unit_code}; "
                                    f"hãy sửa ô {sheet.unit_cell} thành {doc.claimed_unit}.", cell=sheet.unit_cell))
        unit_code = doc.claimed_unit
    status = "quarantined" if reason else ("accepted" if verdict.accepted else "rejected")
    # values that passed their checks are kept for rejected files too: the Office may accept one (reopen)
    sub = ctx.ledger.record_submission(NewSubmission(
        **base, unit_code=unit_code, status=status, on_time=on_time, errors=tuple(verdict.errors),
        warnings=tuple(verdict.warnings), values=tuple(verdict.values.items()), reason=reason))
    return _outcome(doc, sub, status, unit_code, on_time, verdict.errors, verdict.warnings, reason, period)


def record_unreadable(ctx: Context, period: Period, doc: Document, message: str) -> Outcome:
    """A document with nothing to read (broken file, no attachment): recorded, answered, never lost."""
    on_time = doc.received_at.astimezone(TZ).date() <= ctx.unit_deadline(period)
    unit = ctx.cfg.unit(doc.claimed_unit or "") or _unit_of_sender(ctx, doc)
    reason = _quarantine_reason(ctx, doc, unit.code if unit else None)
    status = "quarantined" if reason else "rejected"
    errors = (Issue(message),)
    sub = ctx.ledger.record_submission(NewSubmission(
        report_id=ctx.cfg.report.id, period=period.key, source=doc.source, source_ref=doc.source_ref,
        filename=doc.filename, received_at=doc.received_at, content_hash=content_hash(doc.content),
        sender=doc.sender, message_id=doc.message_id, unit_code=unit.code if unit else None, status=status,
        on_time=on_time, errors=errors, reason=reason))
    return _outcome(doc, sub, status, unit.code if unit else None, on_time, list(errors), [], reason, period)


def _unit_of_sender(ctx: Context, doc: Document) -> Unit | None:
    owners = [u for u in ctx.cfg.units if doc.sender and doc.sender.lower() in u.emails]
    return owners[0] if len(owners) == 1 else None


def _outcome(doc: Document, sub: Submission | None, status: str, unit_code: str | None, on_time: bool,
             errors: list[Issue], warnings: list[Issue], reason: str | None, period: Period) -> Outcome:
    if sub is None:
        return Outcome(doc.source_ref, "duplicate", unit_code, period=period.key)
    return Outcome(doc.source_ref, sub.status if status == "accepted" else status, unit_code, sub.id, on_time,
                   [e.to_dict() for e in errors], [w.to_dict() for w in warnings], reason, period.key)


def process_documents(ctx: Context, period: Period, docs: Iterable[Document]) -> list[Outcome]:
    out = []
    for doc in docs:
        try:
            out.append(process_document(ctx, period, doc))
        except Exception as exc:  # one bad document must never hide another unit's submission
            ctx.ledger.audit("document", doc.source_ref, "error", error=f"{type(exc).__name__}: {exc}")
            out.append(Outcome(doc.source_ref, "error", reason=f"{type(exc).__name__}: {exc}"))
    return out


def rejection_mails(ctx: Context, outcomes: Iterable[Outcome]) -> list[OutgoingMail]:
    """Every rejected submission is answered, in the period it was filed under (the unit's own)."""
    rejected = [o for o in outcomes if o.status == "rejected"]
    by_id = {s.id: s for s in ctx.ledger.submissions_by_id([o.submission_id for o in rejected if o.submission_id])}
    mails = []
    for o in rejected:
        sub = by_id.get(o.submission_id)
        if sub is None:
            continue
        period = ctx.period(sub.period)
        deadline = ctx.unit_deadline(period)
        # no unit could be read from the file (no 'Mã đơn vị', no subject tag): answer the registered sender
        unit = ctx.cfg.unit(o.unit_code or "") or (_unit_of_sender(ctx, sub) if sub.source == "email" else None)
        if unit is None or not unit.emails:
            continue
        name, data = (None, None) if unit.channel == "sheet" else unit_workbook(ctx, unit, period)
        to = (sub.sender,) if sub.sender and sub.sender in unit.emails else None
        mails.append(rejection_mail(
            ctx.cfg, unit, period, deadline, str(o.submission_id), sub.filename,
            as_utc(sub.received_at).astimezone(TZ).strftime("%H:%M ngày %d/%m/%Y"), o.errors, o.warnings,
            data, name or "", to=to))
    return mails


# ------------------------------------------------------------------ remind


def latest_by_unit(subs: Iterable[Submission]) -> dict[str, Submission]:
    latest: dict[str, Submission] = {}
    for s in subs:
        if s.unit_code and s.status == "accepted":
            latest[s.unit_code] = s
    return latest


def reminder_mails(ctx: Context, period: Period, today: date, force: bool = False) -> list[OutgoingMail]:
    """Units with no accepted submission, on the configured working days before the deadline (or when forced)."""
    deadline = ctx.unit_deadline(period)
    days_left = working_days_until(today, deadline)
    if not force and (not is_working_day(today) or days_left not in ctx.cfg.settings.deadlines.reminder_days_before):
        return []
    subs = ctx.ledger.submissions(ctx.cfg.report.id, period.key)
    accepted = latest_by_unit(subs)
    mails = []
    for unit in ctx.cfg.active_units:
        if unit.code in accepted or not unit.emails:
            continue
        last_rejected = [s for s in subs if s.unit_code == unit.code and s.status == "rejected"]
        errors = [e["message"] for e in last_rejected[-1].errors] if last_rejected else []
        name, data = (None, None) if unit.channel == "sheet" else unit_workbook(ctx, unit, period)
        mails.append(reminder_mail(ctx.cfg, unit, period, deadline, today, data, name or "", errors))
    return mails


# ------------------------------------------------------------------ consolidate


def first_on_time(subs: Iterable[Submission]) -> dict[str, bool]:
    """Timeliness is decided by a unit's first valid report: a later correction does not make it late."""
    out: dict[str, bool] = {}
    for s in sorted(subs, key=lambda s: (as_utc(s.received_at), s.id)):
        if s.unit_code and s.status in ("accepted", "superseded") and s.unit_code not in out:
            out[s.unit_code] = bool(s.on_time)
    return out


def _unit_reports(subs: Iterable[Submission]) -> list[UnitReport]:
    """Each unit's counted report (the latest accepted), with the timeliness of its first valid one."""
    subs = list(subs)
    timely = first_on_time(subs)
    latest = latest_by_unit(subs)
    return [UnitReport(code, as_utc(s.received_at), timely.get(code, bool(s.on_time)), s.value_map())
            for code, s in latest.items()]


def build_consolidation(ctx: Context, period: Period, now: datetime | None = None) -> dict[str, Any]:
    report_id = ctx.cfg.report.id
    subs = ctx.ledger.submissions(report_id, period.key)
    rejected = [RejectedReport(s.unit_code, as_utc(s.received_at), s.source_ref, s.errors)
                for s in subs if s.status == "rejected"]
    previous = None
    prev = period.previous()
    if prev is not None:
        prev_reports = _unit_reports(ctx.ledger.submissions(report_id, prev.key, ["accepted"]))
        if prev_reports:
            previous = (prev, totals_of(ctx.cfg, prev_reports))
    ytd: dict[str, int] = {}
    for earlier in period.same_year_before():
        for code, v in totals_of(ctx.cfg, _unit_reports(
                ctx.ledger.submissions(report_id, earlier.key, ["accepted"]))).items():
            ytd[code] = ytd.get(code, 0) + v
    return consolidate(ctx.cfg, period, ctx.unit_deadline(period), ctx.report_deadline(period),
                       _unit_reports(subs), rejected, previous, ytd, generated_at=now)


def output_paths(ctx: Context, period: Period, out_dir: Path) -> dict[str, Path]:
    stem = f"{ctx.cfg.report.id}-{period.key}"
    return {ext: out_dir / f"{stem}.{ext}" for ext in ("json", "docx", "xlsx")}


def write_outputs(ctx: Context, period: Period, consolidation: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """JSON, the Decree 30 .docx and the annex .xlsx; a PDF too where LibreOffice is installed."""
    from tasks.render.annex_xlsx import render_annex_xlsx
    from tasks.render.docx_report import render_report_docx

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = output_paths(ctx, period, out_dir)
    paths["json"].write_text(json.dumps(consolidation, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    render_report_docx(consolidation, paths["docx"])
    render_annex_xlsx(consolidation, paths["xlsx"])
    pdf = _to_pdf(paths["docx"])
    if pdf is not None:
        paths["pdf"] = pdf
    ctx.ledger.audit("report", f"{ctx.cfg.report.id}:{period.key}", "consolidated",
                     accepted=consolidation["completeness"]["accepted_count"], out=str(out_dir))
    return paths


def _to_pdf(docx: Path) -> Path | None:
    import shutil
    import subprocess

    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None or os.environ.get("BAOCAO_NO_PDF"):
        return None
    try:
        subprocess.run([office, "--headless", "--convert-to", "pdf", "--outdir", str(docx.parent), str(docx)],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError):
        return None
    pdf = docx.with_suffix(".pdf")
    return pdf if pdf.exists() else None


def overdue_mails(ctx: Context, period: Period, today: date, consolidation: dict[str, Any]) -> list[OutgoingMail]:
    """The đôn đốc summary to the Office, once the unit deadline has passed and someone is missing."""
    deadline = ctx.unit_deadline(period)
    c = consolidation["completeness"]
    if today <= deadline or (not c["missing"] and not c["late"]):
        return []
    return [overdue_mail(ctx.cfg, period, deadline, c)]


# ------------------------------------------------------------------ deliver


def delivery_mails(ctx: Context, period: Period, out_dir: Path, resend: int = 0) -> list[OutgoingMail]:
    paths = output_paths(ctx, period, out_dir)
    if not paths["json"].exists():
        raise FileNotFoundError(
            f"Chưa có báo cáo tổng hợp kỳ {period.key} trong {out_dir}: hãy chạy bước tổng hợp trước "
            f"(baocao consolidate --period {period.key})."
        )
    consolidation = json.loads(paths["json"].read_text(encoding="utf-8"))
    label = f"Báo cáo {ctx.cfg.report.short_code} {period.key}"
    files = [(f"{label}.docx", paths["docx"].read_bytes(), DOCX), (f"{label} - Phụ lục.xlsx",
                                                                      paths["xlsx"].read_bytes(), XLSX)]
    pdf = paths["docx"].with_suffix(".pdf")
    if pdf.exists():
        files.append((f"{label}.pdf", pdf.read_bytes(), "application/pdf"))
    return [delivery_mail(ctx.cfg, period, consolidation, files, resend)]


# ------------------------------------------------------------------ status


STATUS_VI = {"on_time": "Đúng hạn", "late": "Muộn", "rejected": "Bị trả lại", "missing": "Chưa báo cáo"}


def status_rows(ctx: Context, period: Period) -> list[dict[str, Any]]:
    """One row per expected unit: what the operator watches during the period."""
    subs = ctx.ledger.submissions(ctx.cfg.report.id, period.key)
    accepted = latest_by_unit(subs)
    timely = first_on_time(subs)
    rows = []
    for unit in ctx.cfg.active_units:
        mine = [s for s in subs if s.unit_code == unit.code and s.status != "quarantined"]
        acc = accepted.get(unit.code)
        if acc is not None:
            state = "on_time" if timely.get(unit.code, acc.on_time) else "late"
            shown = acc
        elif mine:
            state, shown = "rejected", mine[-1]
        else:
            state, shown = "missing", None
        rows.append({
            "unit": unit.code, "name": unit.name, "channel": unit.channel, "status": state,
            "submission_id": shown.id if shown is not None else None,
            "status_vi": STATUS_VI[state], "submissions": len(mine),
            "received_at": as_utc(shown.received_at).astimezone(TZ).isoformat(timespec="minutes") if shown else None,
            "errors": [e["message"] for e in shown.errors] if shown is not None and state == "rejected" else [],
            "warnings": [w["message"] for w in acc.warnings] if acc is not None else [],
        })
    return rows


def quarantine_rows(ctx: Context, period: Period) -> list[dict[str, Any]]:
    """Quarantined mail and files no unit could be read from: kept, listed, never counted."""
    return [{"id": s.id, "sender": s.sender, "source": s.source_ref, "unit": s.unit_code, "status": s.status,
             "reason": s.reason or "; ".join(e["message"] for e in s.errors),
             "received_at": as_utc(s.received_at).astimezone(TZ).isoformat(timespec="minutes")}
            for s in ctx.ledger.submissions(ctx.cfg.report.id, period.key)
            if s.status == "quarantined" or s.unit_code is None]
