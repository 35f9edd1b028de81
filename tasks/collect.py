"""Collect: every received document, from any channel, goes through one intake path to one outcome.

Read → file under its period → validate → record. A document that cannot be read is recorded as a
rejection with the reason; nothing a unit sends raises out of here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tasks.channels.base import Channel
from tasks.config import Unit
from tasks.context import Context
from tasks.filing import filing_period
from tasks.intake import UnreadableFile, content_hash, parse_grid, read_grid
from tasks.ledger import NewSubmission, Submission
from tasks.periods import TZ, Period
from tasks.types import Document, Issue, Outcome, OutcomeStatus, SubmissionStatus
from tasks.validation import check_submission


def collect_from(ctx: Context, period: Period, channel: Channel) -> list[Outcome]:
    """New documents of one channel → intake → one outcome each; the channel acknowledges once recorded."""
    with channel.receive(period) as arrivals:
        return process_documents(ctx, period, arrivals.documents) + arrivals.outcomes


def process_documents(ctx: Context, period: Period, docs: Iterable[Document]) -> list[Outcome]:
    out = []
    for doc in docs:
        try:
            out.append(process_document(ctx, period, doc))
        except Exception as exc:  # one bad document must never hide another unit's submission
            ctx.ledger.audit("document", doc.source_ref, "error", error=f"{type(exc).__name__}: {exc}")
            out.append(Outcome(doc.source_ref, OutcomeStatus.ERROR, reason=f"{type(exc).__name__}: {exc}"))
    return out


def process_document(ctx: Context, period: Period, doc: Document) -> Outcome:
    """Read, check and record one document; never raises for bad content."""
    if doc.unreadable is not None:
        return record_unreadable(ctx, period, doc, doc.unreadable)
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
    verdict = check_submission(ctx.cfg, sheet, period)
    unit_code = verdict.unit_code if ctx.cfg.unit(verdict.unit_code or "") else None
    if unit_code is None and doc.claimed_unit and (claimed := ctx.cfg.unit(doc.claimed_unit)):
        unit_code = claimed.code
    reason = quarantine_reason(ctx, doc, unit_code)
    if doc.source == "sheet" and doc.claimed_unit and unit_code and unit_code != doc.claimed_unit:
        verdict.errors.append(Issue(f"Trang tính của đơn vị {doc.claimed_unit} ghi mã đơn vị {unit_code}; "
                                    f"hãy sửa ô {sheet.unit_cell} thành {doc.claimed_unit}.", cell=sheet.unit_cell))
        unit_code = doc.claimed_unit
    status = (SubmissionStatus.QUARANTINED if reason else
              SubmissionStatus.ACCEPTED if verdict.accepted else SubmissionStatus.REJECTED)
    # values that passed their checks are kept for rejected files too: the Office may accept one (reopen)
    sub = ctx.ledger.record_submission(NewSubmission(
        report_id=report.id, period=period.key, source=doc.source, source_ref=doc.source_ref,
        filename=doc.filename, received_at=doc.received_at, content_hash=digest, sender=doc.sender,
        message_id=doc.message_id, unit_code=unit_code, status=status, on_time=on_time,
        errors=tuple(verdict.errors), warnings=tuple(verdict.warnings), values=tuple(verdict.values.items()),
        reason=reason))
    return _outcome(doc, sub, status, unit_code, on_time, verdict.errors, verdict.warnings, reason, period)


def record_unreadable(ctx: Context, period: Period, doc: Document, message: str) -> Outcome:
    """A document with nothing to read (broken file, no attachment): recorded, answered, never lost."""
    on_time = doc.received_at.astimezone(TZ).date() <= ctx.unit_deadline(period)
    unit = ctx.cfg.unit(doc.claimed_unit or "") or unit_of_sender(ctx, doc.sender)
    reason = quarantine_reason(ctx, doc, unit.code if unit else None)
    status = SubmissionStatus.QUARANTINED if reason else SubmissionStatus.REJECTED
    errors = (Issue(message),)
    sub = ctx.ledger.record_submission(NewSubmission(
        report_id=ctx.cfg.report.id, period=period.key, source=doc.source, source_ref=doc.source_ref,
        filename=doc.filename, received_at=doc.received_at, content_hash=content_hash(doc.content),
        sender=doc.sender, message_id=doc.message_id, unit_code=unit.code if unit else None, status=status,
        on_time=on_time, errors=errors, reason=reason))
    return _outcome(doc, sub, status, unit.code if unit else None, on_time, list(errors), [], reason, period)


def quarantine_reason(ctx: Context, doc: Document, unit_code: str | None) -> str | None:
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


def unit_of_sender(ctx: Context, sender: str | None) -> Unit | None:
    """The one unit whose registered contact sent it, when exactly one unit has that address."""
    owners = [u for u in ctx.cfg.units if sender and sender.lower() in u.emails]
    return owners[0] if len(owners) == 1 else None


def _outcome(doc: Document, sub: Submission | None, status: str, unit_code: str | None, on_time: bool,
             errors: list[Issue], warnings: list[Issue], reason: str | None, period: Period) -> Outcome:
    if sub is None:
        return Outcome(doc.source_ref, OutcomeStatus.DUPLICATE, unit_code, period=period.key)
    return Outcome(doc.source_ref, sub.status if status == SubmissionStatus.ACCEPTED else status, unit_code,
                   sub.id, on_time, [e.to_dict() for e in errors], [w.to_dict() for w in warnings], reason,
                   period.key)
