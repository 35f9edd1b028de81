"""Replies owed to units for the documents they sent: a rejection names every problem and carries the form."""

from __future__ import annotations

from collections.abc import Iterable

from tasks.channels import channel_of
from tasks.collect import unit_of_sender
from tasks.context import Context
from tasks.ledger import as_utc
from tasks.messages import rejection_mail
from tasks.periods import TZ
from tasks.transports.mail.compose import OutgoingMail
from tasks.types import Outcome, OutcomeStatus


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
        # no unit could be read from the file (no 'Mã đơn vị', no subject tag): answer the registered sender
        unit = ctx.cfg.unit(o.unit_code or "") or (unit_of_sender(ctx, sub.sender) if sub.source == "email" else None)
        if unit is None or not unit.emails:
            continue
        part = channel_of(ctx, unit).request(unit, period)
        to = (sub.sender,) if sub.sender and sub.sender in unit.emails else None
        mails.append(rejection_mail(
            ctx.cfg, unit, period, ctx.unit_deadline(period), str(o.submission_id), sub.filename,
            as_utc(sub.received_at).astimezone(TZ).strftime("%H:%M ngày %d/%m/%Y"), o.errors, o.warnings,
            part.workbook, part.workbook_name, to=to))
    return mails
