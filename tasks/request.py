"""Request: what each unit is sent at the start of a period (its workbook or its Sheets tab, and the deadline)."""

from __future__ import annotations

from collections.abc import Iterable

from tasks.channels import channel_of
from tasks.config import Unit
from tasks.context import Context
from tasks.messages import request_mail
from tasks.periods import Period
from tasks.transports.mail.compose import OutgoingMail


def request_mails(ctx: Context, period: Period, units: Iterable[Unit]) -> list[OutgoingMail]:
    """One request per unit, carrying what the unit's channel gives it (a workbook, a tab, a link)."""
    deadline = ctx.unit_deadline(period)
    mails = []
    for unit in units:
        channel = channel_of(ctx, unit)
        part = channel.request(unit, period)
        mails.append(request_mail(ctx.cfg, unit, period, deadline, part.workbook, part.workbook_name,
                                  part.sheet_tab, part.link, how_to_return=channel.how_to_return))
    return mails
