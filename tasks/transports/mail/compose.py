"""Build outgoing report mails as RFC 5322 bytes.

The same bytes are sent over SMTP and written to the outbox as .eml, so what the operator
archives is exactly what the units received.

How a mail is put together, and why this way (every accepted file gets a receipt, 10,000 a collect):

- yagmail (the project's mail library) builds the MIME skeleton with ``yagmail.message.prepare_message``:
  the top-level headers and their order, and one base64 part per attachment. It returns the message object
  itself, so nothing is rendered to a string and parsed back. Addresses are checked with yagmail's own
  validator, as ``prepare_send`` did (``soft_email_validation``).
- Where yagmail falls short, the part is written here: the text/plain + text/html alternative (yagmail
  cannot carry a plain-text body that differs from the HTML one), the attachments' Content-Type (the real
  media type) and Content-Disposition (yagmail names only some attachments), and the folding of every
  header: Subject and X-Baocao-Key as RFC 2047 encoded words that keep every space (``_encoded_words``;
  the EmailPolicy folder leaves spaces between adjacent encoded words, which decoders drop), the From
  display name as encoded words, To/Cc folded after their commas (a hundred recipients no longer make one
  3,800-character line), parameters as RFC 2231 with continuations (``_encode_param``), never a long media
  type as an encoded word.
- The tree is then serialized once, with CRLF line endings, in the layout ``email.generator`` writes.

The earlier route (``prepare_send``'s string, reparsed with the SMTP EmailPolicy and refolded through its
header registry) cost about 7 ms for a receipt and 9-10 ms for a rejection with its workbook, nearly all of
it in that registry; this one costs about 0.16 and 0.33 ms, of which yagmail's skeleton is a third
(tests/test_mail_compose_wire.py compares both outputs as a mail client reads them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import mimetypes
import random
import re
import secrets
import sys
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.utils import collapse_rfc2231_value, format_datetime, formataddr, parseaddr
from functools import lru_cache
from urllib.parse import quote

from yagmail.error import YagAddressError, YagInvalidEmailAddress
from yagmail.headers import resolve_addresses
from yagmail.message import prepare_message
from yagmail.validate import validate_email_with_regex

from tasks.periods import TZ
from tasks.text import nfc
from tasks.types import MessageKind

MAIL_KINDS = frozenset(k.value for k in MessageKind)
# Google Workspace accepts at most 100 recipients per message (see DOMAIN.md).
MAX_RECIPIENTS = 100
DEFAULT_MIME_TYPE = "application/octet-stream"
# Keeps the RFC 2231 encoded filename far below the 998-octet line limit.
MAX_FILENAME_CHARS = 120

_MAX_LINE = 78
_CRLF = "\r\n"
# Where a header may be folded: before each run of spaces or tabs (the run starts the next line).
_FOLD_CHUNK = re.compile(r"[ \t]*[^ \t]+")
_EW_PREFIX = "=?utf-8?b?"
_MAX_EW = 75  # RFC 2047: an encoded word is at most 75 characters
# Percent-encoding of each character seen in a parameter value (RFC 2231), computed once per character.
_PCT: dict[str, str] = {}
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def _encode_param(key: str, value: str) -> list[str]:
    """Encode one MIME parameter, using RFC 2231 (with continuations) for non-ASCII or long values."""
    if value.isascii() and value.isprintable():
        plain = '{}="{}"'.format(key, value.replace("\\", "\\\\").replace('"', '\\"'))
        if len(plain) <= _MAX_LINE - 2:
            return [plain]
    pieces = [_PCT.get(ch) or _PCT.setdefault(ch, quote(ch, safe="", encoding="utf-8")) for ch in value]
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


def _param_header(name: str, lead: str, params: Iterable[tuple[str, str]]) -> str:
    """``Name: lead; key="value"; ...`` folded between parameters; the lead (a media type) is never encoded,
    even when it is longer than a line (the .xlsx type is: an encoded word there is unreadable to clients)."""
    lines = [f"{name}: {lead}"]
    for key, val in params:
        for piece in _encode_param(key, val):
            if len(lines[-1]) + len(piece) + 2 <= _MAX_LINE:
                lines[-1] += "; " + piece
            else:
                lines[-1] += ";"
                lines.append(" " + piece)
    return _CRLF.join(lines) + _CRLF


def _fold(name: str, value: str) -> str:
    """``Name: value`` with CRLF inserted before whitespace so lines stay within 78 characters where the
    value allows it; unfolding (removing the CRLFs) gives the value back exactly."""
    if "\r" in value or "\n" in value:  # a line break would end the header and start another
        raise ValueError(f"Tiêu đề {name} của thư không được chứa ký tự xuống dòng: {value!r}")
    line = f"{name}:"
    if len(line) + 1 + len(value) <= _MAX_LINE:
        return f"{line} {value}{_CRLF}"
    out = [line]
    width = len(line)
    chunks = _FOLD_CHUNK.findall(" " + value)
    if not chunks:  # nothing but blanks
        return f"{line} {value}{_CRLF}"
    chunks[-1] += value[len(value.rstrip(" \t")):]  # trailing blanks stay on the last line
    for chunk in chunks:
        if width + len(chunk) > _MAX_LINE and width > len(name) + 1:
            out.append(_CRLF)
            width = 0
        out.append(chunk)
        width += len(chunk)
    out.append(_CRLF)
    return "".join(out)


def _encoded_words(name: str, text: str) -> str:
    """``text`` as RFC 2047 base64 encoded words separated by spaces, each short enough to sit on a line of
    its own when folded (the first after ``Name: ``), none longer than 75 characters.

    The whole text is encoded, so every space is inside a word: RFC 2047 decoders drop the whitespace
    between adjacent encoded words, and a space left between them (as Python's EmailPolicy folder leaves it)
    would make units read "tuyên truyềncải cách". Words are cut between characters, never inside a UTF-8
    sequence (what ``email.header.Header`` also does, at several times the cost)."""
    data = text.encode()
    words: list[bytes] = []
    room = _MAX_LINE - len(name) - 2  # after "Name: "
    while data:
        cut = max(0, (room - len(_EW_PREFIX) - 2) // 4 * 3)  # the most bytes whose base64 fits the room
        if cut < len(data):
            while cut and data[cut] & 0xC0 == 0x80:  # back to the start of a character
                cut -= 1
            if not cut:  # not even one character fits: it goes alone (as long as it must be)
                cut = 1
                while cut < len(data) and data[cut] & 0xC0 == 0x80:
                    cut += 1
        words.append(data[:cut])
        data, room = data[cut:], _MAX_EW
    if not words:
        words.append(b"")
    return " ".join(f"{_EW_PREFIX}{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _text_header(name: str, text: str) -> str:
    """A free-text header (Subject, X-Baocao-Key): readable as is when ASCII, encoded words otherwise."""
    return _fold(name, text if text.isascii() else _encoded_words(name, text))


@lru_cache(maxsize=64)
def _from_header(display_name: str, addr: str) -> str:
    """The From header, folded (one office sends them all: rendered once)."""
    return _fold("From", _mailbox(display_name, addr))


def _mailbox(display_name: str, addr: str) -> str:
    if display_name.isascii():
        return formataddr((display_name, addr))  # quoted when it holds specials
    return f"{_encoded_words('From', display_name)} <{addr}>"


def _base64_body(data: bytes) -> str:
    """Base64 in lines of 76, each ended by CRLF (as email.encoders and the SMTP policy write it); encoded in
    one call, not 57 bytes at a time as base64.encodebytes does."""
    text = binascii.b2a_base64(data, newline=False).decode("ascii")
    return "".join([text[i:i + 76] + _CRLF for i in range(0, len(text), 76)])


def _boundaries(count: int) -> list[str]:
    """Distinct boundaries in email.generator's form. Every leaf is base64, which has no '-', so no body
    line can ever read as a boundary."""
    found: list[str] = []
    while len(found) < count:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
        if boundary not in found:
            found.append(boundary)
    return found


# What differs between two compositions of one message: the Date header and the random boundaries
_VOLATILE = re.compile(rb"^Date: [^\r\n]*\r\n|={15}\d{19}==", re.MULTILINE)


def same_message(a: bytes, b: bytes) -> bool:
    """Whether two compositions carry the same message (headers, text, attachments), whenever each was made."""
    return _VOLATILE.sub(b"", a) == _VOLATILE.sub(b"", b)


def _multipart_body(boundary: str, parts: list[str]) -> str:
    """The body of a multipart entity, laid out as email.generator lays it out."""
    return (f"--{boundary}{_CRLF}" + f"{_CRLF}--{boundary}{_CRLF}".join(parts)
            + f"{_CRLF}--{boundary}--{_CRLF}")


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


def _mime_type_for(att: Attachment, filename: str) -> tuple[str, list[tuple[str, str]]]:
    """The attachment's media type (lower case) and any parameters the caller gave with it."""
    if att.mime_type and att.mime_type != DEFAULT_MIME_TYPE:
        lead, _, rest = att.mime_type.partition(";")
        lead = lead.strip().lower()
        if _MEDIA_TYPE.fullmatch(lead):
            if not rest.strip():
                return lead, []
            holder = Message()
            holder["Content-Type"] = att.mime_type
            return lead, [(k, collapse_rfc2231_value(v)) for k, v in (holder.get_params() or [])[1:]]
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or DEFAULT_MIME_TYPE, []


# An address that is nothing but a dot-atom local part and a domain: parseaddr gives it back unchanged, so
# it is not parsed (7 µs, per recipient of every receipt).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _unique_recipients(mail: OutgoingMail) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for raw in (*mail.to, *mail.cc):
        bare = raw.strip()
        addr = bare if _PLAIN_ADDRESS.fullmatch(bare) else parseaddr(bare)[1]
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


@lru_cache(maxsize=16)
def _sender_address(sender: str) -> str:
    """The sender's address, checked as yagmail's ``prepare_send`` checks it (one office sends every mail:
    parsed and checked once)."""
    sender_addr = parseaddr(sender)[1]
    if "@" not in sender_addr:
        raise ValueError(f"Địa chỉ người gửi không hợp lệ: {sender!r}")
    try:
        validate_email_with_regex(sender_addr)
    except YagInvalidEmailAddress as exc:
        raise ValueError(f"Địa chỉ người gửi không hợp lệ: {sender_addr!r} ({exc})") from exc
    if not sender_addr.isascii():
        raise ValueError(f"Địa chỉ người gửi không hợp lệ: {sender_addr!r} (có ký tự ngoài ASCII)")
    return sender_addr


@lru_cache(maxsize=4)
def _date_header(second: int) -> str:
    """The Date header of a mail composed in this second (thousands of receipts share a few seconds)."""
    return format_datetime(datetime.fromtimestamp(second, TZ))


def _check_addresses(mail: OutgoingMail) -> None:
    """yagmail's address check of the recipients, as ``prepare_send`` applied it; no address may need
    SMTPUTF8."""
    for raw in (*mail.to, *mail.cc):
        try:
            validate_email_with_regex(raw)
        except YagInvalidEmailAddress as exc:
            raise ValueError(f"Địa chỉ email không hợp lệ trong thư {mail.key}: {exc}") from exc
        if not raw.isascii():
            raise ValueError(f"Địa chỉ email không hợp lệ trong thư {mail.key}: {raw!r} có ký tự ngoài ASCII")


def _text_part(text: str, subtype: str) -> str:
    """A UTF-8 body in base64 (7-bit clean for servers without 8BITMIME), its lines ended by CRLF."""
    data = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    return (f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}Content-Transfer-Encoding: base64{_CRLF}'
            f"{_CRLF}{_base64_body(data)}")


def _attachment_part(part: Message, att: Attachment, filename: str) -> str:
    """yagmail's attachment part, with our media type and an RFC 2231 filename (filename*=utf-8''...)."""
    if part.get("Content-Transfer-Encoding") != "base64":
        raise RuntimeError("Unexpected attachment encoding from yagmail.prepare_message")
    mime_type, given = _mime_type_for(att, filename)
    params = dict((k.lower(), v) for k, v in given if k.lower() != "name")
    if mime_type.startswith("text/"):
        try:
            att.content.decode("utf-8")
            params["charset"] = "utf-8"
        except UnicodeDecodeError:
            pass
    params["name"] = filename
    head = [_fold(k, v) for k, v in part.items() if k.lower() not in ("content-type", "content-disposition")]
    head.append(_param_header("Content-Type", mime_type, params.items()))
    head.append(_param_header("Content-Disposition", "attachment", [("filename", filename)]))
    payload = part.get_payload()
    if not isinstance(payload, str):
        raise RuntimeError("Unexpected attachment payload from yagmail.prepare_message")
    return "".join(head) + _CRLF + payload.replace("\n", _CRLF)


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
    sender_addr = _sender_address(sender)
    _check_addresses(mail)
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

    key = _nfc(mail.key)
    subject = _nfc(mail.subject)
    display_name = _nfc(sender_name)
    extra = {
        "Date": _date_header(int(time.time())),
        "X-Baocao-Key": key,
        "X-Baocao-Kind": mail.kind,
        # RFC 3834: tells auto-responders not to answer automated report mails.
        "Auto-Submitted": "auto-generated",
    }
    attached: list[Message] = []  # yagmail's base64 part of each attachment
    if handles:
        skeleton = _yagmail_skeleton(mail, sender_addr, display_name, subject, handles, extra, message_id)
        parts = skeleton.get_payload()
        if (not isinstance(parts, list) or len(parts) != 1 + len(mail.attachments)
                or not all(isinstance(p, Message) for p in parts[1:])):
            raise RuntimeError("Unexpected MIME structure from yagmail.prepare_message")
        attached = [p for p in parts[1:] if isinstance(p, Message)]  # all of them (checked above)
        items: list[tuple[str, str]] = [(k, str(v)) for k, v in skeleton.items()]
    else:  # most mails (every receipt): yagmail's header order, every value rendered below
        items = bare_headers(mail, subject, extra, message_id)

    outer, inner = _boundaries(2)
    # Our own renderings of what yagmail's part and header values cannot carry (see the module docstring).
    own = {
        "content-type": _param_header("Content-Type", "multipart/mixed", [("boundary", outer)]),
        "subject": _text_header("Subject", subject),
        "x-baocao-key": _text_header("X-Baocao-Key", key),
        "from": _from_header(display_name, sender_addr),
        "to": _fold("To", ", ".join(a.strip() for a in mail.to)),
        "cc": _fold("Cc", ", ".join(a.strip() for a in mail.cc)),
    }
    if not any(name == "Subject" for name, _ in items):  # yagmail leaves an empty subject out
        items.append(("Subject", subject))
    head = [own.get(name.lower()) or _text_header(name, value) for name, value in items]
    alternative = (_param_header("Content-Type", "multipart/alternative", [("boundary", inner)]) + _CRLF
                   + _multipart_body(inner, [_text_part(_nfc(mail.text), "plain"),
                                             _text_part(_nfc(mail.html), "html")]))
    bodies = [alternative]
    for part, att, name in zip(attached, mail.attachments, filenames, strict=True):
        bodies.append(_attachment_part(part, att, name))
    # CRLF line endings: smtplib sends bytes unchanged.
    data = ("".join(head) + _CRLF + _multipart_body(outer, bodies)).encode("ascii")
    return ComposedMessage(mail=mail, recipients=recipients, data=data, message_id=message_id)


def _yagmail_skeleton(mail: OutgoingMail, sender_addr: str, display_name: str, subject: str,
                      handles: list[io.BytesIO], extra: dict[str, str], message_id: str) -> Message:
    """yagmail's MIME tree: its header order and one base64 part per attachment."""
    try:
        return prepare_message(
            sender_addr, display_name, resolve_addresses(sender_addr, display_name, list(mail.to),
                                                         list(mail.cc) or None, None),
            subject, None, handles, extra, "utf-8", prettify_html=False, message_id=message_id)
    except YagAddressError as exc:
        raise ValueError(f"Địa chỉ email không hợp lệ trong thư {mail.key}: {exc}") from exc


def bare_headers(mail: OutgoingMail, subject: str, extra: dict[str, str], message_id: str) -> list[tuple[str, str]]:
    """The headers `_yagmail_skeleton` gives a mail without attachments, in its order, without building the
    MIME tree whose parts compose_message replaces anyway (two MIMEText bodies: 40 % of a receipt's cost).
    tests/test_mail_compose_wire.py checks both routes give the same bytes."""
    items = [("Content-Type", "multipart/mixed"), ("MIME-Version", "1.0"), *extra.items()]
    if subject:
        items.append(("Subject", subject))
    items += [("From", ""), ("To", ",".join(mail.to))]  # From and To are rendered by compose_message
    if mail.cc:
        items.append(("Cc", ",".join(mail.cc)))
    items.append(("Message-ID", message_id))
    return items
