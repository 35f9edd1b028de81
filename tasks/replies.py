"""Replies owed to units for the documents they sent.

A rejection names every problem and carries the unit's own values refilled into a fresh template, the
faulty cells marked, so the unit fixes rather than retypes (a unit on the Sheets channel fixes its tab;
a document with nothing readable gets the blank template). An accepted report gets a short receipt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from tasks.bulk import collector_paused
from tasks.channels import channel_of
from tasks.collect import unit_of_sender
from tasks.config import Unit
from tasks.context import Context
from tasks.display import shown
from tasks.ledger import Submission, as_utc
from tasks.messages import receipt_mail, rejection_mail
from tasks.periods import TZ
from tasks.sending import DispatchReport, dispatch
from tasks.transports.mail.compose import OutgoingMail
from tasks.types import MessageKind, Outcome, OutcomeStatus
from tasks.workbook import refilled_workbook

_INTEGER = re.compile(r"-?\d{1,15}")
log = logging.getLogger("baocao.replies")


def received_text(sub: Submission) -> str:
    """'16:45 ngày 15/03/2021': when the Office received it, local time."""
    return as_utc(sub.received_at).astimezone(TZ).strftime("%H:%M ngày %d/%m/%Y")


def _replied_unit(ctx: Context, sub: Submission) -> Unit | None:
    # no unit could be read from the file (no 'Mã đơn vị', no subject tag): answer the registered sender
    return ctx.cfg.unit(sub.unit_code or "") or (unit_of_sender(ctx, sub.sender) if sub.source == "email" else None)


def _to(unit: Unit, sub: Submission) -> tuple[str, ...] | None:
    return (sub.sender,) if sub.sender and sub.sender in unit.emails else None


def refill_values(sub: Submission, errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What the unit sent, per indicator: the recorded (valid) values, plus each faulty value as the error
    quotes it ('9 tin', '-1'; a whole number stays a number)."""
    values: dict[str, Any] = dict(sub.value_map())
    for e in errors:
        code, found = e.get("code"), e.get("value")
        if code and values.get(code) in (None, "") and found not in (None, ""):
            values[code] = int(found) if _INTEGER.fullmatch(str(found)) else found
    return values


def rejection_mail_for(ctx: Context, sub: Submission) -> OutgoingMail | None:
    """The answer to a rejected submission, in the period it was filed under (the unit's own); None when
    there is no one to answer (no unit could be told from it and its sender is no unit's contact)."""
    unit = _replied_unit(ctx, sub)
    if unit is None or not unit.emails:
        return None
    period = ctx.period(sub.period)
    channel = channel_of(ctx, unit)
    # something was read (values, or errors about indicators): the unit's own values go back, marked, in
    # place of the blank workbook (which is then not made at all: thousands of rejections a wrong month)
    refill = bool(sub.values or any(e.get("code") for e in sub.errors))
    part = channel.request(unit, period, workbook=not refill)
    deadline = ctx.unit_deadline(period)
    workbook, refilled = part.workbook, False
    if refill and part.workbook_name:  # a channel that sends a workbook names it
        workbook = refilled_workbook(ctx.cfg.report, unit, period, deadline, refill_values(sub, sub.errors),
                                     sub.errors)
        refilled = True
    return rejection_mail(
        ctx.cfg, unit, period, deadline, str(sub.id), sub.filename, received_text(sub), sub.errors,
        sub.warnings, workbook, part.workbook_name, to=_to(unit, sub), refilled=refilled,
        sheet_tab=part.sheet_tab, sheet_url=part.link, how_to_return=channel.how_to_return)


def receipt_mail_for(ctx: Context, sub: Submission) -> OutgoingMail | None:
    """The receipt for a valid submission: received when, valid, on time or late, with its warnings."""
    unit = _replied_unit(ctx, sub)
    if unit is None or not unit.emails:
        return None
    period = ctx.period(sub.period)
    return receipt_mail(ctx.cfg, unit, period, ctx.unit_deadline(period), str(sub.id), sub.filename,
                        received_text(sub), bool(sub.on_time), sub.warnings, to=_to(unit, sub), source=sub.source)


BUILDERS = {MessageKind.REJECTION: rejection_mail_for, MessageKind.RECEIPT: receipt_mail_for}


def _answers(ctx: Context, outcomes: Iterable[Outcome], status: str, kind: MessageKind) -> list[OutgoingMail]:
    ids = [o.submission_id for o in outcomes if o.status == status and o.submission_id is not None]
    subs = ctx.ledger.submissions_by_id(ids, values=kind == MessageKind.REJECTION)
    mails = [BUILDERS[kind](ctx, sub) for sub in subs]
    return [m for m in mails if m is not None]


def rejection_mails(ctx: Context, outcomes: Iterable[Outcome]) -> list[OutgoingMail]:
    """Every rejected submission among the outcomes is answered."""
    return _answers(ctx, outcomes, OutcomeStatus.REJECTED, MessageKind.REJECTION)


def receipt_mails(ctx: Context, outcomes: Iterable[Outcome]) -> list[OutgoingMail]:
    """Every accepted submission among the outcomes is acknowledged (keyed by submission: never twice)."""
    return _answers(ctx, outcomes, OutcomeStatus.ACCEPTED, MessageKind.RECEIPT)


def send_owed_replies(ctx: Context, page: int = 5000) -> DispatchReport:
    """Send every reply still owed (recorded with its submission), whatever run recorded it, and mark each
    one settled once its message is written (outbox only) or sent (SMTP). A failed send stays owed for the
    next run; a message already sent is not sent again (its key is in the ledger). Pages of `page` replies
    (memory stays bounded), every page in this run: 10,000 new files get 10,000 answers now, not half."""
    report = DispatchReport()
    after = None
    with collector_paused():  # reading a page of thousands of rows is batch work too
        while rows := ctx.ledger.owed_reply_page(ctx.cfg.report.id, page, after):
            report.merge(_send_owed(ctx, rows))
            after = rows[-1]
    return report


def _send_owed(ctx: Context, owed: list[tuple[int, str]]) -> DispatchReport:
    # a rejection refills the unit's values into its workbook; a receipt needs none (and most replies are receipts)
    refills = sorted({sid for sid, kind in owed if kind == MessageKind.REJECTION})
    plain = sorted({sid for sid, _ in owed} - set(refills))
    subs = {s.id: s for s in (*ctx.ledger.submissions_by_id(refills),
                              *ctx.ledger.submissions_by_id(plain, values=False))}
    mails: list[OutgoingMail] = []
    by_key: dict[str, tuple[int, str]] = {}
    nobody: list[tuple[int, str, str]] = []
    unbuilt = DispatchReport()
    for sid, kind in owed:
        sub = subs.get(sid)
        try:
            mail = BUILDERS[MessageKind(kind)](ctx, sub) if sub is not None else None
        except Exception as exc:  # noqa: BLE001 - one reply that cannot be made is that reply's problem
            unbuilt.failed.append(_unbuilt(ctx, sub, sid, kind, exc))
            continue  # stays owed: the next run tries it again
        if mail is None:
            nobody.append((sid, kind, ""))  # no address to answer: settled, the Office sees it in the status
            continue
        mails.append(mail)
        by_key[mail.key] = (sid, kind)
    report = dispatch(ctx, mails)
    done = set(report.sent) | set(report.skipped) | (set() if ctx.cfg.settings.channels.smtp.enabled
                                                     else set(report.written))
    ctx.ledger.settle_replies(nobody + [(*by_key[key], key) for key in by_key if key in done])
    return report.merge(unbuilt)


def _unbuilt(ctx: Context, sub: Submission | None, sid: int, kind: str, exc: Exception) -> tuple[str, str]:
    """(reference, Vietnamese reason) of an owed reply whose mail could not be made (a recorded period that no
    longer parses, a template error...): logged and audited for the Office, left owed for the next run. The
    reason names the report as the board shows it: its number, unit, file and period."""
    what = "thư trả lại" if kind == MessageKind.REJECTION else "thư xác nhận đã nhận"
    problem = shown(f"{type(exc).__name__}: {exc}", limit=300)
    about = "" if sub is None else (f" (đơn vị {shown(sub.unit_code or 'chưa rõ', 40)}, "
                                    f"tệp “{shown(sub.filename, 120)}”, kỳ {shown(sub.period, 40)})")
    reason = (f"Không lập được {what} cho báo cáo số {sid}{about}: {problem}. Thư vẫn được giữ để gửi ở lần chạy "
              "sau; Văn phòng cần kiểm tra báo cáo này.")
    log.warning("%s", reason)
    try:
        ctx.ledger.audit("submission", sid, "reply_failed", kind=kind, error=problem)
    except Exception:  # noqa: BLE001 - the warning above is already out; the other replies still go
        log.exception("Không ghi được nhật ký cho báo cáo số %s", sid)
    return f"{kind}:{sid}", reason
