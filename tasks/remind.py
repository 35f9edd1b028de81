"""Remind (đôn đốc): units with no valid report before their deadline, and the Office once it has passed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from tasks.channel_health import channel_problems, place_of
from tasks.channels import channel_of
from tasks.config import Unit
from tasks.consolidation_types import Consolidation
from tasks.context import Context
from tasks.messages import overdue_mail, reminder_mail
from tasks.periods import Period, is_working_day, working_days_until
from tasks.sending import PAGE, DispatchReport, dispatch_pages
from tasks.transports.mail.compose import OutgoingMail


def send_reminders(ctx: Context, period: Period, today: date, force: bool = False, page: int = PAGE
                   ) -> DispatchReport:
    """Send the reminders due (reminder_mails), a page of units at a time."""
    return dispatch_pages(ctx, ctx.cfg.units_expected_in(period),
                          lambda units: reminder_mails(ctx, period, today, force, units),
                          page=page)


def reminder_mails(ctx: Context, period: Period, today: date, force: bool = False,
                   units: Sequence[Unit] | None = None) -> list[OutgoingMail]:
    """Units the period expects with no accepted submission, on the configured working days before the deadline
    (or when forced); of `units` when given (a unit outside the period's window is never reminded). Not the
    units whose mailbox or spreadsheet the last collect could not reach: their report may be there, unread,
    and the Office's board says so (tasks.channel_health)."""
    deadline = ctx.unit_deadline(period)
    days_left = working_days_until(today, deadline)
    if not force and (not is_working_day(today) or days_left not in ctx.cfg.settings.deadlines.reminder_days_before):
        return []
    # one grouped query: each unit's counted report and its latest rejection (not every submission's values)
    standings = ctx.ledger.unit_standings(ctx.cfg.report.id, period.key)
    unread = {p.channel for p in channel_problems(ctx)}
    mails = []
    for unit in ctx.cfg.units_expected_in(period) if units is None else units:
        st = standings.get(unit.code)
        if (st is not None and st.accepted_id is not None) or not unit.expected_in(period) or not unit.emails \
                or place_of(ctx, unit) in unread or unit.channel in unread:
            continue
        channel = channel_of(ctx, unit)
        part = channel.request(unit, period)
        mails.append(reminder_mail(ctx.cfg, unit, period, deadline, today, part.workbook, part.workbook_name,
                                   [e["message"] for e in st.errors] if st else [], sheet_tab=part.sheet_tab,
                                   sheet_url=part.link, how_to_return=channel.how_to_return))
    return mails


def overdue_mails(ctx: Context, period: Period, today: date, consolidation: Consolidation,
                  board_url: str | None = None) -> list[OutgoingMail]:
    """The đôn đốc summary to the Office, once the unit deadline has passed and someone is missing."""
    deadline = ctx.unit_deadline(period)
    c = consolidation["completeness"]
    if today <= deadline or (not c["missing"] and not c["late"]):
        return []
    return [overdue_mail(ctx.cfg, period, deadline, c, board_url)]
