"""Replies owed to units for the documents they sent.

A rejection names every problem and carries the unit's own values refilled into a fresh template, the
faulty cells marked, so the unit fixes rather than retypes (a unit on the Sheets channel fixes its tab;
a document with nothing readable gets the blank template). An accepted report gets a short receipt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tasks.channels import channel_of
from tasks.collect import unit_of_sender
from tasks.config import Unit
from tasks.context import Context
from tasks.ledger import Submission, as_utc
from tasks.messages import receipt_mail, rejection_mail
from tasks.periods import TZ
from tasks.transports.mail.compose import OutgoingMail
from tasks.types import Outcome, OutcomeStatus
from tasks.workbook import refilled_workbook

_INTEGER = re.compile(r"-?\d{1,15}")


def received_text(sub: Submission) -> str:
    """'16:45 ngày 15/03/2021': when the Office received it, local time."""
    return as_utc(sub.received_at).astimezone(TZ).strftime("%H:%M ngày %d/%m/%Y")


def _replied_unit(ctx: Context, o: Outcome, sub: Submission) -> Unit | None:
    # no unit could be read from the file (no 'Mã đơn vị', no subject tag): answer the registered sender
    return ctx.cfg.unit(o.unit_code or "") or (unit_of_sender(ctx, sub.sender) if sub.source == "email" else None)


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


def rejection_mails(ctx: Context, outcomes: Iterable[Outcome]) -> list[OutgoingMail]:
    """Every rejected submission is answered, in the period it was filed under (the unit's own)."""
    rejected = [o for o in outcomes if o.status == OutcomeStatus.REJECTED]
    by_id = {s.id: s for s in ctx.ledger.submissions_by_id([o.submission_id for o in rejected if o.submission_id])}
    mails = []
    for o in rejected:
        sub = by_id.get(o.submission_id) if o.submission_id is not None else None
        if sub is None:
            continue
        period = ctx.period(sub.period)
        unit = _replied_unit(ctx, o, sub)
        if unit is None or not unit.emails:
            continue
        channel = channel_of(ctx, unit)
        part = channel.request(unit, period)
        deadline = ctx.unit_deadline(period)
        workbook, refilled = part.workbook, False
        # something was read (values, or errors about indicators): the unit's own values go back, marked
        if workbook is not None and (sub.values or any(e.get("code") for e in o.errors)):
            workbook = refilled_workbook(ctx.cfg.report, unit, period, deadline, refill_values(sub, o.errors),
                                         o.errors)
            refilled = True
        mails.append(rejection_mail(
            ctx.cfg, unit, period, deadline, str(o.submission_id), sub.filename, received_text(sub), o.errors,
            o.warnings, workbook, part.workbook_name, to=_to(unit, sub), refilled=refilled,
            sheet_tab=part.sheet_tab, sheet_url=part.link, how_to_return=channel.how_to_return))
    return mails


def receipt_mails(ctx: Context, outcomes: Iterable[Outcome]) -> list[OutgoingMail]:
    """Every accepted submission is acknowledged to its unit: received when, valid, on time or late, warnings.

    Keyed by submission (MessageKind.RECEIPT), so answering the same outcomes again sends nothing twice.
    """
    accepted = [o for o in outcomes if o.status == OutcomeStatus.ACCEPTED]
    by_id = {s.id: s for s in ctx.ledger.submissions_by_id([o.submission_id for o in accepted if o.submission_id])}
    mails = []
    for o in accepted:
        sub = by_id.get(o.submission_id) if o.submission_id is not None else None
        if sub is None:
            continue
        unit = _replied_unit(ctx, o, sub)
        if unit is None or not unit.emails:
            continue
        period = ctx.period(sub.period)
        mails.append(receipt_mail(
            ctx.cfg, unit, period, ctx.unit_deadline(period), str(o.submission_id), sub.filename,
            received_text(sub), bool(sub.on_time), o.warnings, to=_to(unit, sub), source=sub.source))
    return mails
