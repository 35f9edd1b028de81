"""The filing rule: which period a received document belongs to. One place, used by every channel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from tasks.context import Context
from tasks.periods import Period, PeriodError, parse_period, today_local
from tasks.types import MessageKind, MessageStatus, ParsedSheet, message_key


def delivered(ctx: Context, period: Period) -> bool:
    """A period is closed once its consolidated report has gone to UBND tỉnh."""
    rec = ctx.ledger.message(message_key(MessageKind.DELIVERY, ctx.cfg.report.id, period.key))
    return rec is not None and rec.status in (MessageStatus.WRITTEN, MessageStatus.SENT)


def filing_period(ctx: Context, sheet: ParsedSheet, collecting: Period, today: date | None = None,
                  is_delivered: Callable[[Period], bool] | None = None) -> Period:
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
    closed = is_delivered(named) if is_delivered is not None else delivered(ctx, named)
    return collecting if closed else named
