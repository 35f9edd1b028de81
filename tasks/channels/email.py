"""The email channel: requests go out attached to a mail; replies in the Office mailbox become documents.

A message is marked processed only after its submissions are stored; a crash in between means it is
read again, and the content hash and Message-ID keep it from counting twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesHeaderParser

from tasks.channels.base import Arrivals, UnitRequest, workbook_request
from tasks.config import Unit
from tasks.context import Context
from tasks.intake import is_spreadsheet
from tasks.periods import Period
from tasks.transports.mail.authenticity import sender_problem
from tasks.transports.mail.imap import (
    CONNECTION_ERRORS,
    UNREADABLE_MAIL,
    ImapMailbox,
    ImapSettings,
    IncomingMail,
    imap_failure,
)
from tasks.types import Document, Source

log = logging.getLogger(__name__)
TAG = re.compile(r"\[(?P<report>[\w-]+) (?P<period>[\w.-]+)(?: (?P<unit>[^\]\s]+))?\]")
# Message-IDs of baocao's own mail (tasks.transports.mail.compose): <baocao.{kind}.{16 hex}@{office domain}>
OWN_MESSAGE_ID = re.compile(r"<baocao\.[a-z_]+\.[0-9a-f]{16}@", re.IGNORECASE)
NO_ATTACHMENT = ("Thư không có tệp bảng tính báo cáo đính kèm (.xlsx, .xls, .ods, .csv). Hãy trả lời "
                 "thư đề nghị báo cáo, đính kèm biểu mẫu đã điền.")


def imap_settings(ctx: Context) -> ImapSettings:
    """The runtime settings are the configured ones, minus the on/off switch."""
    return ImapSettings(**ctx.cfg.settings.channels.imap.model_dump(exclude={"enabled", "authserv_id"}))


def cursor_name(ctx: Context) -> str:
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
    quarantine = quarantine_of(ctx, mail)
    return [
        Document(source="email", source_ref=f"{mail.message_id}#{att.filename}", filename=att.filename,
                 content=att.content, received_at=mail.received_at, sender=mail.sender,
                 message_id=mail.message_id, claimed_unit=unit, quarantine=quarantine)
        for att in mail.attachments if is_spreadsheet(att.filename)
    ]


def quarantine_of(ctx: Context, mail: IncomingMail) -> str | None:
    """Why the mail's sender cannot be trusted (tasks.transports.mail.authenticity), for the operator."""
    try:
        return sender_problem(mail.raw, ctx.cfg.settings.channels.imap.authserv_id)
    except Exception as exc:  # headers too broken to judge are not trusted either
        log.warning("Cannot judge the sender of mail %s: %s: %s", mail.message_id, type(exc).__name__, exc)
        return "Không đọc được các tiêu đề người gửi của thư; không xác định được người gửi thật."


def whole_mail(ctx: Context, mail: IncomingMail, message: str) -> Document:
    """The mail itself as one document with nothing to read (no spreadsheet attached, or unreadable)."""
    return Document(
        source="email", source_ref=f"{mail.message_id}#", filename="(không có tệp đính kèm)", content=mail.raw,
        received_at=mail.received_at, sender=mail.sender, message_id=mail.message_id,
        claimed_unit=claimed_unit(ctx, mail.subject), unreadable=message, quarantine=quarantine_of(ctx, mail))


def ignore_reason(ctx: Context, mail: IncomingMail) -> str | None:
    """Why a message in the Office mailbox is not a unit's report, or None when it may be one.

    In the shipped configuration the Office address, the IMAP account and VP's contact are one
    mailbox, so baocao's own mail (Cc/Bcc copies, requests and rejections to VP, bounces of them
    quoted by a unit's auto-reply) lands next to the reports; recording it would file it as VP's
    report and answer it, which loops.
    """
    headers = BytesHeaderParser().parsebytes(mail.raw)
    if headers.get("X-Baocao-Key") is not None or headers.get("X-Baocao-Kind") is not None:
        return "Thư do chính hệ thống baocao gửi (có tiêu đề X-Baocao-Key)"
    auto = str(headers.get("Auto-Submitted") or "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return f"Thư gửi tự động (Auto-Submitted: {auto}), không phải báo cáo của đơn vị"
    if OWN_MESSAGE_ID.match(str(headers.get("Message-ID") or "").strip()):
        return "Thư do chính hệ thống baocao gửi (Message-ID của baocao)"
    office = ctx.cfg.settings.organisation.office_email.strip().lower()
    # mail.sender is the one plain From address (tasks.transports.mail.authenticity); a From that only
    # mentions the Office's address ("vp@… (x) <evil@…>") is not the Office's mail but a forgery: quarantined
    senders = {mail.sender.strip().lower()}
    # When the Office address is also a unit's contact (VP in the shipped config), that unit reports
    # from it; baocao's own mail from it is told apart by the checks above.
    office_is_contact = bool(ctx.cfg.units_of_email(office))
    if office in senders and not office_is_contact:
        return f"Thư gửi từ chính hộp thư Văn phòng ({office}), không phải báo cáo của đơn vị"
    return None


def arrivals_of(ctx: Context, mails: list[IncomingMail]) -> Arrivals:
    """Every spreadsheet attached becomes a document; a mail with none is a document with nothing to read
    (recorded and answered). baocao's own mail and automatic replies are skipped with an audit event; the
    caller still marks them processed, so they are read once and never deleted."""
    out = Arrivals()
    for mail in mails:
        try:
            reason = ignore_reason(ctx, mail)
        except Exception:  # headers too broken to tell: treat it as a unit's mail, it gets an outcome
            reason = None
        if reason is not None:
            ref = (mail.message_id or f"uid:{mail.uidvalidity}:{mail.uid}")[:255]
            log.info("Ignoring mail %s from %s: %s", ref, mail.sender, reason)
            ctx.ledger.audit("mail", ref, "ignored", reason=reason, sender=mail.sender, subject=mail.subject)
            continue
        if mail.unreadable is not None:
            out.documents.append(whole_mail(ctx, mail, mail.unreadable))
            continue
        try:
            docs = documents_of(ctx, mail)
        except Exception as exc:  # one mail's bytes never stop the others
            log.warning("Cannot read mail %s: %s: %s", mail.message_id, type(exc).__name__, exc)
            docs = [whole_mail(ctx, mail, UNREADABLE_MAIL)]
        out.documents += docs or [whole_mail(ctx, mail, NO_ATTACHMENT)]
    return out


class EmailChannel:
    """Requests and replies by mail: the workbook goes out attached, comes back attached to a reply."""

    name: Source = "email"
    how_to_return = "trả lời thư này, đính kèm tệp đã điền"

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def request(self, unit: Unit, period: Period, *, workbook: bool = True) -> UnitRequest:
        return workbook_request(self.ctx, unit, period, workbook)

    @contextmanager
    def receive(self, period: Period) -> Iterator[Arrivals]:
        """One incremental poll by UID; the mails are marked processed and the cursor moves after the body.

        Every mail becomes at least one document (a spreadsheet each, or the mail itself with ``unreadable``),
        with ``quarantine`` set when its sender is not trustworthy; an IMAP failure is a MailTransportError
        whose ``message`` is one Vietnamese line naming the cause.
        """
        ctx = self.ctx
        name = cursor_name(ctx)
        saved = (ctx.ledger.get_cursor(name) or "0:0").split(":")
        after, validity = int(saved[1]), int(saved[0]) or None
        settings = imap_settings(ctx)
        with ImapMailbox(settings) as box:  # a server that cannot be used raises MailTransportError
            try:
                mails = box.fetch_new(after_uid=after if validity else 0, uidvalidity=validity)
            except CONNECTION_ERRORS as exc:
                raise imap_failure(settings, exc, "đọc thư mới") from None
            yield arrivals_of(ctx, mails)
            if mails:
                try:
                    box.mark_processed([m.uid for m in mails])
                except CONNECTION_ERRORS as exc:  # recorded but not marked: read again, counted once by hash
                    raise imap_failure(settings, exc, "đánh dấu thư đã xử lý") from None
                ctx.ledger.set_cursor(name, f"{mails[-1].uidvalidity}:{max(m.uid for m in mails)}")
