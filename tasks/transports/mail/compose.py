"""Build outgoing report mails as RFC 5322 bytes.

The same bytes are sent over SMTP and written to the outbox as .eml, so what the operator
archives is exactly what the units received. The MIME skeleton comes from yagmail's
``prepare_send``; its output is then fixed up because yagmail cannot carry a plain-text body
that differs from the HTML body and only names some attachments in Content-Disposition.
"""

from __future__ import annotations

import email
import hashlib
import io
import mimetypes
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import ContentDispositionHeader, ContentTypeHeader
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP as SMTP_POLICY
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import quote

import yagmail
from yagmail.error import YagAddressError, YagInvalidEmailAddress

from tasks.periods import TZ
from tasks.text import nfc

MAIL_KINDS = frozenset(
    {"request", "reminder", "rejection", "receipt", "overdue", "delivery", "alert", "approval",
     "approval_reject"}
)
# Google Workspace accepts at most 100 recipients per message (see DOMAIN.md).
MAX_RECIPIENTS = 100
DEFAULT_MIME_TYPE = "application/octet-stream"
# Keeps the RFC 2231 encoded filename far below the 998-octet line limit.
MAX_FILENAME_CHARS = 120

_MAX_LINE = 78
_PARAM_HEADERS = ("content-type", "content-disposition")
# Free-text headers folded with email.header.Header (see _WirePolicy._fold_text).
_TEXT_HEADERS = ("subject", "x-baocao-key")


def _encode_param(key: str, value: str) -> list[str]:
    """Encode one MIME parameter, using RFC 2231 (with continuations) for non-ASCII or long values."""
    if value.isascii() and all(ch.isprintable() for ch in value):
        plain = '{}="{}"'.format(key, value.replace("\\", "\\\\").replace('"', '\\"'))
        if len(plain) <= _MAX_LINE - 2:
            return [plain]
    pieces = [quote(ch, safe="", encoding="utf-8") for ch in value]
    single = f"{key}*=utf-8''{''.join(pieces)}"
    if len(single) <= _MAX_LINE - 2:
        return [single]
    # Split on character boundaries so no section holds half of a UTF-8 sequence.
    room = _MAX_LINE - 2 - len(key) - len("*99*=utf-8''") - 1
    chunks = [""]
    for piece in pieces:
        if chunks[-1] and len(chunks[-1]) + len(piece) > room:
            chunks.append("")
        chunks[-1] += piece
    prefix = "utf-8''"
    return [f"{key}*{i}*={prefix if i == 0 else ''}{chunk}" for i, chunk in enumerate(chunks)]


class _WirePolicy(EmailPolicy):
    """SMTP policy (CRLF) that folds Content-Type/-Disposition itself.

    Python 3.11's folder turns a long media type such as the .xlsx one
    (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet) into an RFC 2047
    encoded word, which mail clients then cannot recognise.
    """

    def _fold_params(self, name: str, value: object) -> str | None:
        if name.lower() not in _PARAM_HEADERS:
            return None
        header = value
        if not isinstance(header, ContentTypeHeader | ContentDispositionHeader):
            raw = "".join(str(value).splitlines())
            header = self.header_factory(name, raw)
        if isinstance(header, ContentTypeHeader):
            lead = header.content_type
        elif isinstance(header, ContentDispositionHeader) and header.content_disposition:
            lead = header.content_disposition
        else:
            return None
        lines = [f"{name}: {lead}"]
        for key, val in header.params.items():
            for piece in _encode_param(key, val):
                if len(lines[-1]) + len(piece) + 2 <= _MAX_LINE:
                    lines[-1] += "; " + piece
                else:
                    lines[-1] += ";"
                    lines.append(" " + piece)
        return self.linesep.join(lines) + self.linesep

    def _fold_text(self, name: str, value: object) -> str | None:
        """Fold a non-ASCII free-text header into encoded words that keep every space.

        Python 3.11's folder splits a long subject into adjacent encoded words and leaves the space
        at a fold boundary outside them; RFC 2047 decoders drop whitespace between adjacent encoded
        words, so units read "tuyên truyềncải cách". ``Header`` keeps each space inside a word.
        """
        if name.lower() not in _TEXT_HEADERS:
            return None
        if hasattr(value, "name"):
            text = str(value)
        else:
            text = str(self.header_factory(name, "".join(str(value).splitlines())))
        if text.isascii():
            return None
        encoded = Header(text, "utf-8", maxlinelen=_MAX_LINE, header_name=name).encode(linesep=self.linesep)
        return f"{name}: {encoded}{self.linesep}"

    def _fold_own(self, name: str, value: object) -> str | None:
        folded = self._fold_params(name, value)
        return folded if folded is not None else self._fold_text(name, value)

    def fold(self, name: str, value: Any) -> str:
        folded = self._fold_own(name, value)
        return folded if folded is not None else super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        folded = self._fold_own(name, value)
        return folded.encode("ascii") if folded is not None else super().fold_binary(name, value)


_WIRE_POLICY = _WirePolicy(linesep="\r\n")


@dataclass(frozen=True)
class Attachment:
    """A file carried by a mail; content is kept in memory (reports are small spreadsheets)."""

    filename: str
    content: bytes
    mime_type: str = DEFAULT_MIME_TYPE


@dataclass(frozen=True)
class OutgoingMail:
    """What the flows want to send; ``key`` makes sending idempotent across retries and runs."""

    key: str
    kind: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    cc: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    unit_code: str | None = None
    period: str | None = None


@dataclass(frozen=True)
class ComposedMessage:
    """A mail rendered to bytes, ready for SMTP or for the .eml outbox."""

    mail: OutgoingMail
    recipients: list[str]
    data: bytes
    message_id: str


_nfc = nfc  # the one NFC helper (tasks.text)


def safe_filename(filename: str) -> str:
    """Return an NFC filename without path separators or control characters, length-capped.

    Unit staff open these files on Windows; a slash would also make yagmail cut the name.
    """
    name = _nfc(filename).replace("/", "_").replace("\\", "_")
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if not name:
        name = "tep-dinh-kem"
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS]
    return name


def _mime_type_for(att: Attachment, filename: str) -> str:
    if att.mime_type and att.mime_type != DEFAULT_MIME_TYPE:
        return att.mime_type
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or DEFAULT_MIME_TYPE


def _unique_recipients(mail: OutgoingMail) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for raw in (*mail.to, *mail.cc):
        addr = parseaddr(raw.strip())[1]
        if not addr or "@" not in addr:
            raise ValueError(f"Địa chỉ email không hợp lệ: {raw!r} (thư {mail.key})")
        if addr.lower() not in seen:
            seen.add(addr.lower())
            result.append(addr)
    return result


def _validate(mail: OutgoingMail) -> None:
    if mail.kind not in MAIL_KINDS:
        raise ValueError(f"Unknown mail kind {mail.kind!r}; expected one of {sorted(MAIL_KINDS)}")
    if not mail.key:
        raise ValueError("OutgoingMail.key must not be empty (it is the idempotency key)")
    if not mail.to:
        raise ValueError(f"Thư {mail.key} không có người nhận")
    if any(ch in mail.subject for ch in "\r\n"):
        raise ValueError(f"Tiêu đề thư {mail.key} không được chứa ký tự xuống dòng")


def _alternative_part(text: str, html: str) -> MIMEPart:
    # base64 keeps the bodies 7-bit clean for servers without 8BITMIME.
    alternative = MIMEPart(policy=SMTP_POLICY)
    alternative.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    alternative.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    return alternative


def _fix_attachment(part: EmailMessage, att: Attachment, filename: str) -> None:
    """Force our MIME type and an RFC 2231 filename (filename*=utf-8''...) on a yagmail part."""
    mime_type = _mime_type_for(att, filename)
    del part["Content-Type"]
    part["Content-Type"] = mime_type
    if mime_type.startswith("text/"):
        try:
            att.content.decode("utf-8")
            part.set_param("charset", "utf-8")
        except UnicodeDecodeError:
            pass
    part.set_param("name", filename)
    del part["Content-Disposition"]
    part.add_header("Content-Disposition", "attachment", filename=filename)


def compose_message(
    mail: OutgoingMail, sender: str, sender_name: str = "Văn phòng Sở Nội vụ", fresh_id: bool = False
) -> ComposedMessage:
    """Render ``mail`` to the exact bytes that SMTP sends and the outbox stores.

    The Message-ID is derived from the message key, so a message retried after a crash (sent, but not yet
    recorded as sent) carries the same Message-ID and is recognisable as the same message; `fresh_id` gives
    a deliberate resend its own."""
    _validate(mail)
    recipients = _unique_recipients(mail)
    if len(recipients) > MAX_RECIPIENTS:
        raise ValueError(
            f"Thư {mail.key} có {len(recipients)} người nhận, vượt giới hạn {MAX_RECIPIENTS} của máy chủ thư"
        )
    sender_addr = parseaddr(sender)[1]
    if "@" not in sender_addr:
        raise ValueError(f"Địa chỉ người gửi không hợp lệ: {sender!r}")
    domain = sender_addr.rpartition("@")[2]
    # Short enough to stay on the header line (folded IDs get a leading space in some parsers).
    token = secrets.token_hex(8) if fresh_id else hashlib.sha256(mail.key.encode()).hexdigest()[:16]
    message_id = f"<baocao.{mail.kind}.{token}@{domain}>"

    filenames = [safe_filename(a.filename) for a in mail.attachments]
    handles = []
    for att, name in zip(mail.attachments, filenames, strict=True):
        handle = io.BytesIO(att.content)
        handle.name = name  # yagmail names the part after the handle's .name
        handles.append(handle)

    headers = {
        "Date": format_datetime(datetime.now(TZ).replace(microsecond=0)),
        "X-Baocao-Key": _nfc(mail.key),
        "X-Baocao-Kind": mail.kind,
        # RFC 3834: tells auto-responders not to answer automated report mails.
        "Auto-Submitted": "auto-generated",
    }
    yag = yagmail.SMTP(
        user={sender_addr: _nfc(sender_name)}, smtp_skip_login=True, soft_email_validation=True
    )
    try:
        _, msg_string = yag.prepare_send(
            to=list(mail.to),
            cc=list(mail.cc) or None,
            subject=_nfc(mail.subject),
            contents=None,
            attachments=handles or None,
            headers=headers,
            prettify_html=False,
            message_id=message_id,
        )
    except (YagInvalidEmailAddress, YagAddressError) as exc:
        raise ValueError(f"Địa chỉ email không hợp lệ trong thư {mail.key}: {exc}") from exc
    finally:
        yag.is_closed = True  # nothing was connected; skip yagmail's close() on __del__

    msg = email.message_from_string(msg_string, policy=SMTP_POLICY)
    # The subject text itself, not yagmail's encoding of it; _WirePolicy folds it.
    msg.replace_header("Subject", _nfc(mail.subject))
    parts = msg.get_payload()
    if not isinstance(parts, list) or len(parts) != 1 + len(mail.attachments):
        raise RuntimeError("Unexpected MIME structure from yagmail.prepare_send")
    parts[0] = _alternative_part(_nfc(mail.text), _nfc(mail.html))
    for part, att, name in zip(parts[1:], mail.attachments, filenames, strict=True):
        _fix_attachment(part, att, name)
    # CRLF line endings: smtplib sends bytes unchanged.
    data = msg.as_bytes(policy=_WIRE_POLICY)
    return ComposedMessage(mail=mail, recipients=recipients, data=data, message_id=message_id)
