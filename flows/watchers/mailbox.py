"""Mailbox watcher: hold an IMAP IDLE connection so each reply is collected within seconds of arriving."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tasks.channels.email import arrivals_of, cursor_name, imap_settings
from tasks.collect import process_documents
from tasks.context import Context
from tasks.periods import Period
from tasks.transports.mail.imap import CONNECTION_ERRORS, ImapMailbox, IncomingMail, watch
from tasks.types import Outcome

log = logging.getLogger(__name__)


def watch_mailbox(ctx: Context, period: Period, stop: threading.Event,
                  on_outcomes: Callable[[list[Outcome]], None] | None = None, idle_timeout: float = 60) -> None:
    """Each batch IDLE reports is recorded, then marked processed (a crash in between reads it again)."""
    settings = imap_settings(ctx)
    name = cursor_name(ctx)

    def handle(mails: list[IncomingMail]) -> int | None:
        outcomes = process_documents(ctx, period, arrivals_of(ctx, mails).documents)
        try:
            with ImapMailbox(settings) as box:
                box.mark_processed([m.uid for m in mails])
            marked = True
        except CONNECTION_ERRORS as exc:  # stored but not marked: read again later, counted once by hash
            log.warning("IMAP mark_processed failed (%s); the mail stays pending and is read again", exc)
            marked = False
        if marked and mails:
            ctx.ledger.set_cursor(name, f"{mails[-1].uidvalidity}:{max(m.uid for m in mails)}")
        if on_outcomes is not None:
            on_outcomes(outcomes)
        return max((m.uid for m in mails), default=None) if marked else None

    watch(settings, handle, stop, idle_timeout=idle_timeout)
