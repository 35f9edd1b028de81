"""Sending: every message is composed once, written to the outbox as .eml and, when SMTP is on, sent
over one connection per batch. The ledger keeps each message's key so nothing goes out twice."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from tasks.context import Context
from tasks.transports.mail.compose import ComposedMessage, OutgoingMail, compose_message, same_message
from tasks.transports.mail.smtp import SmtpBatchSender, SmtpSettings

T = TypeVar("T")


@dataclass
class DispatchReport:
    written: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, reason), for the operator

    def merge(self, other: DispatchReport) -> DispatchReport:
        for name in ("written", "sent", "skipped", "failed"):
            getattr(self, name).extend(getattr(other, name))
        return self


def _eml_name(key: str) -> str:
    return re.sub(r"[^\w.-]+", "_", key, flags=re.UNICODE) + ".eml"


def smtp_settings(ctx: Context) -> SmtpSettings:
    """The configured SMTP settings (minus the on/off switch), sending as the Office."""
    org = ctx.cfg.settings.organisation
    return SmtpSettings(**ctx.cfg.settings.channels.smtp.model_dump(exclude={"enabled"}),
                        sender=org.office_email, sender_name=org.office_name)


def done_keys(ctx: Context, keys: Iterable[str]) -> set[str]:
    """The keys among `keys` whose message needs nothing more: sent, or written to the outbox while SMTP is
    off (a written-only message still has to go out once SMTP is on)."""
    statuses = ("sent",) if ctx.cfg.settings.channels.smtp.enabled else ("written", "sent")
    return ctx.ledger.sent_keys(keys, statuses)


def dispatch(ctx: Context, mails: Iterable[OutgoingMail], resend: bool = False) -> DispatchReport:
    """Write and send the messages not yet sent; returns what happened to each, failures included."""
    settings = ctx.cfg.settings
    smtp_on = settings.channels.smtp.enabled
    report = DispatchReport()
    mails = list(mails)
    done = done_keys(ctx, (m.key for m in mails)) if not resend else set()
    # a message tried before (SMTP failed) is sent as its outbox copy when nothing in it changed: an outage of a
    # day is not 96 copies of every owed receipt; changed (new counts, a corrected address) or resent, it is a
    # new copy
    kept = {} if resend or not settings.channels.outbox else \
        ctx.ledger.eml_paths(m.key for m in mails if m.key not in done)
    composed: list[ComposedMessage] = []
    written: list[dict[str, Any]] = []
    folders: dict[tuple[str | None, str], Path] = {}  # made once per batch, not per message
    for mail in mails:
        if mail.key in done:
            report.skipped.append(mail.key)
            continue
        msg = compose_message(mail, settings.organisation.office_email, settings.organisation.office_name,
                              fresh_id=resend)
        eml = _earlier_copy(kept.get(mail.key), msg)
        if eml is not None:
            msg = replace(msg, data=eml.read_bytes())  # the outbox holds exactly what is sent
        composed.append(msg)
        if settings.channels.outbox and eml is None:
            folder = folders.get((mail.period, mail.kind))
            if folder is None:
                folder = folders[mail.period, mail.kind] = ctx.outbox / (mail.period or "khac") / mail.kind
                folder.mkdir(parents=True, exist_ok=True)
            eml = write_new_file(folder, mail.key, msg.data)
        written.append(_record(ctx, msg, "written", None, str(eml.absolute()) if eml else None))
        if not smtp_on:
            report.written.append(mail.key)
    ctx.ledger.record_messages(written)  # one transaction for the batch (an .eml without record is rewritten)
    if smtp_on and composed:
        with SmtpBatchSender(smtp_settings(ctx)) as sender:
            outcomes = sender.send_batch(composed)
        by_key = {m.mail.key: m for m in composed}
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            msg = by_key[outcome.key]
            if outcome.ok:
                results.append(_record(ctx, msg, "sent", outcome.error, None))
                report.sent.append(outcome.key)
                if outcome.refused:  # delivered, but not to everyone: the operator must see who missed it
                    report.failed.append((outcome.key, outcome.error or ", ".join(outcome.refused)))
            else:
                results.append(_record(ctx, msg, "failed", outcome.error, None))
                report.failed.append((outcome.key, outcome.error or "không rõ lỗi"))
        ctx.ledger.record_messages(results)
    return report


def _earlier_copy(path: str | None, msg: ComposedMessage) -> Path | None:
    """The .eml of an earlier attempt at this message, if it is still there and says the same."""
    try:
        return Path(path) if path and same_message(Path(path).read_bytes(), msg.data) else None
    except OSError:  # moved, unreadable: a new copy is written
        return None


PAGE = 500  # messages built and sent together when each carries a workbook (10,000 at once held 550 MB)


def dispatch_pages(ctx: Context, items: Sequence[T], build: Callable[[Sequence[T]], Iterable[OutgoingMail]],
                   resend: bool = False, page: int = PAGE) -> DispatchReport:
    """Build the messages of `page` items at a time and dispatch each page (one SMTP connection a page):
    memory stays bounded however many units a province has."""
    report = DispatchReport()
    for i in range(0, len(items), page):
        report.merge(dispatch(ctx, build(items[i:i + page]), resend=resend))
    return report


def write_new_file(folder: Path, key: str, data: bytes) -> Path:
    """The message as `<key>.eml`; a resend keeps every earlier copy (`<key>.2.eml`, ...): nothing is
    overwritten (exclusive create, no separate existence check)."""
    n = 1
    while True:
        eml = folder / _eml_name(key if n == 1 else f"{key}.{n}")
        try:
            with open(eml, "xb") as f:
                f.write(data)
            return eml
        except FileExistsError:
            n += 1


def _record(ctx: Context, msg: ComposedMessage, status: str, error: str | None, eml: str | None) -> dict[str, Any]:
    """A message's new state, as `Ledger.record_messages` takes it."""
    mail = msg.mail
    return dict(key=mail.key, kind=mail.kind, report_id=ctx.cfg.report.id, period=mail.period,
                unit_code=mail.unit_code, recipients=msg.recipients, subject=mail.subject,
                message_id=msg.message_id, status=status, error=error, eml_path=eml)
