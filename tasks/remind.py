"""Remind (đôn đốc): units with no valid report before their deadline, and the Office once it has passed."""

from __future__ import annotations

from datetime import date

from tasks.channels import channel_of
from tasks.consolidation_types import Consolidation
from tasks.context import Context
from tasks.messages import overdue_mail, reminder_mail
from tasks.periods import Period, is_working_day, working_days_until
from tasks.status import latest_by_unit
from tasks.transports.mail.compose import OutgoingMail
from tasks.types import SubmissionStatus


def reminder_mails(ctx: Context, period: Period, today: date, force: bool = False) -> list[OutgoingMail]:
    """Units with no accepted submission, on the configured working days before the deadline (or when forced)."""
    deadline = ctx.unit_deadline(period)
    days_left = working_days_until(today, deadline)
    if not force and (not is_working_day(today) or days_left not in ctx.cfg.settings.deadlines.reminder_days_before):
        return []
    subs = ctx.ledger.submissions(ctx.cfg.report.id, period.key)
    accepted = latest_by_unit(subs)
    last_errors: dict[str, list[str]] = {}
    for s in subs:  # in order of receipt: the last rejection of each unit wins
        if s.unit_code and s.status == SubmissionStatus.REJECTED:
            last_errors[s.unit_code] = [e["message"] for e in s.errors]
    mails = []
    for unit in ctx.cfg.active_units:
        if unit.code in accepted or not unit.emails:
            continue
        channel = channel_of(ctx, unit)
        part = channel.request(unit, period)
        mails.append(reminder_mail(ctx.cfg, unit, period, deadline, today, part.workbook, part.workbook_name,
                                   last_errors.get(unit.code, []), sheet_tab=part.sheet_tab, sheet_url=part.link,
                                   how_to_return=channel.how_to_return))
    return mails


def overdue_mails(ctx: Context, period: Period, today: date, consolidation: Consolidation) -> list[OutgoingMail]:
    """The đôn đốc summary to the Office, once the unit deadline has passed and someone is missing."""
    deadline = ctx.unit_deadline(period)
    c = consolidation["completeness"]
    if today <= deadline or (not c["missing"] and not c["late"]):
        return []
    return [overdue_mail(ctx.cfg, period, deadline, c)]
