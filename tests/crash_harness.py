"""A collect run that kills itself (SIGKILL) at a chosen point, for the crash-safety test.

    python -m tests.crash_harness CONFIG_DIR DATA_DIR [POINT N]

Runs what the collect flow runs, with the same functions: the inbox folder and the mailbox through the one
intake path, then every reply still owed. With POINT and N, the process kills itself at the N-th time it
reaches POINT: no `finally`, no flush, no goodbye, like a power cut. The points are wrapped around the real
functions here, in the test harness; baocao's code has no crash hooks.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

CALLS: dict[str, int] = {}


def _die_at(point: str, n: int) -> Callable[[str], None]:
    def reached(name: str) -> None:
        if name != point:
            return
        CALLS[name] = CALLS.get(name, 0) + 1
        if CALLS[name] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    return reached


def _wrap(owner: Any, attr: str, before: str | None, after: str | None, reached: Callable[[str], None]) -> None:
    real = getattr(owner, attr)

    @functools.wraps(real)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            reached(before)
        result = real(*args, **kwargs)
        if after:
            reached(after)
        return result

    setattr(owner, attr, wrapper)


def install(point: str, n: int) -> None:
    import smtplib

    import tasks.collect
    import tasks.ledger
    import tasks.sending
    import tasks.transports.mail.imap

    reached = _die_at(point, n)
    _wrap(tasks.collect, "read_sheets", None, "after-parse", reached)  # parsed, nothing recorded yet
    _wrap(tasks.ledger.Ledger, "record_submissions", "before-record", "after-record", reached)
    _wrap(tasks.transports.mail.imap.ImapMailbox, "fetch_new", None, "mid-imap-fetch", reached)
    _wrap(tasks.transports.mail.imap.ImapMailbox, "mark_processed", "before-imap-mark", "after-imap-mark", reached)
    _wrap(smtplib.SMTP, "sendmail", "before-smtp-send", "after-smtp-send", reached)  # mid SMTP batch
    _wrap(tasks.ledger.Ledger, "record_messages", "before-message-record", "after-message-record", reached)
    _wrap(tasks.ledger.Ledger, "settle_replies", "before-settle", "after-settle", reached)
    # the .eml is in the outbox, the ledger does not know yet
    _wrap(tasks.sending, "write_new_file", None, "after-eml-write", reached)


def run(config_dir: str, data_dir: str) -> None:
    from tasks.channels.email import EmailChannel
    from tasks.channels.folder import FolderChannel
    from tasks.collect import collect_from
    from tasks.context import open_context
    from tasks.replies import send_owed_replies

    ctx = open_context(config_dir, data_dir)
    period = ctx.period("2021-03")
    collect_from(ctx, period, FolderChannel(ctx, settle_seconds=0))
    collect_from(ctx, period, EmailChannel(ctx))
    send_owed_replies(ctx)


if __name__ == "__main__":
    if len(sys.argv) == 5:
        install(sys.argv[3], int(sys.argv[4]))
    run(sys.argv[1], sys.argv[2])
