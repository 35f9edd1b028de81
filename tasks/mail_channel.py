"""The email channel's intake: replies in the Office mailbox become submissions.

A message is marked processed only after its submissions are stored; a crash in between means it is
read again, and the content hash and Message-ID keep it from counting twice.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from tasks.context import Context
from tasks.intake import content_hash, is_spreadsheet
from tasks.mail.imap import CONNECTION_ERRORS, ImapMailbox, ImapSettings, IncomingMail, watch
from tasks.models import Document
from tasks.periods import Period
from tasks.steps import Outcome, process_documents, record_unreadable

log = logging.getLogger(__name__)
TAG = re.compile(r"\[(?P<report>[\w-]+) (?P<period>[\w.-]+)(?: (?P<unit>[^\]\s]+))?\]")


def imap_settings(ctx: Context) -> ImapSettings:
    """The runtime settings are the configured ones, minus the on/off switch."""
    return ImapSettings(**ctx.cfg.settings.channels.imap.model_dump(exclude={"enabled"}))


def _cursor_name(ctx: Context) -> str:
    ch = ctx.cfg.settings.channels.imap
    return f"imap:{ch.username}@{ch.host}:{ch.port}/{ch.folder}"


def claimed_unit(ctx: Context, subject: str) -> str | None:
    """The unit named by the subject tag '[BC-CCHC 2021-03 VP]', when the tag is this report's."""
    for m in TAG.finditer(subject):
        if m["report"] == ctx.cfg.report.short_code and m["unit"]:
            return m["unit"]
    return None


def documents_of(ctx: Context, mail: IncomingMail) -> list[Document]:
    unit = claimed_unit(ctx, mail.subject)
    return [
        Document(source="email", source_ref=f"{mail.message_id}#{att.filename}", filename=att.filename,
                 content=att.content, received_at=mail.received_at, sender=mail.sender,
                 message_id=mail.message_id, claimed_unit=unit)
        for att in mail.attachments if is_spreadsheet(att.filename)
    ]


def handle_mails(ctx: Context, period: Period, mails: list[IncomingMail]) -> list[Outcome]:
    """Every spreadsheet attached becomes a submission; a mail with none is recorded and answered."""
    outcomes: list[Outcome] = []
    for mail in mails:
        docs = documents_of(ctx, mail)
        if docs:
            outcomes += process_documents(ctx, period, docs)
            continue
        doc = Document(source="email", source_ref=f"{mail.message_id}#", filename="(không có tệp đính kèm)",
                       content=mail.raw, received_at=mail.received_at, sender=mail.sender,
                       message_id=mail.message_id, claimed_unit=claimed_unit(ctx, mail.subject))
        if content_hash(mail.raw) in ctx.ledger.known_hashes(ctx.cfg.report.id, period.key):
            continue
        outcomes.append(record_unreadable(
            ctx, period, doc, "Thư không có tệp bảng tính báo cáo đính kèm (.xlsx, .xls, .ods, .csv). Hãy trả lời "
            "thư đề nghị báo cáo, đính kèm biểu mẫu đã điền."))
    return outcomes


def collect_mailbox(ctx: Context, period: Period) -> list[Outcome]:
    """One incremental poll by UID: fetch, store, then mark processed and move the cursor."""
    name = _cursor_name(ctx)
    saved = (ctx.ledger.get_cursor(name) or "0:0").split(":")
    after, validity = int(saved[1]), int(saved[0]) or None
    with ImapMailbox(imap_settings(ctx)) as box:
        mails = box.fetch_new(after_uid=after if validity else 0, uidvalidity=validity)
        outcomes = handle_mails(ctx, period, mails)
        if mails:
            box.mark_processed([m.uid for m in mails])
            ctx.ledger.set_cursor(name, f"{mails[-1].uidvalidity}:{max(m.uid for m in mails)}")
    return outcomes


def watch_mailbox(ctx: Context, period: Period, stop: threading.Event,
                  on_outcomes: Callable[[list[Outcome]], None] | None = None, idle_timeout: float = 60) -> None:
    """Hold an IMAP IDLE connection; each reply is collected within seconds of arriving."""
    settings = imap_settings(ctx)
    name = _cursor_name(ctx)

    def handle(mails: list[IncomingMail]) -> int | None:
        outcomes = handle_mails(ctx, period, mails)
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
