"""Collect unit replies from an IMAP mailbox, incrementally and without ever deleting mail.

The caller keeps the last UID it stored; messages it has stored are marked processed (moved to
a folder, or flagged \\Seen plus the ``baocao-processed`` keyword) so a restart, a changed
UIDVALIDITY or a reconnect never yields them twice and nothing is lost if a run dies midway.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxLoginError
from imap_tools.mailbox import BaseMailBox
from imap_tools.message import MailAttachment, MailMessage

from tasks.text import nfc
from tasks.transports.mail.authenticity import claimed_sender, from_address
from tasks.transports.mail.compose import Attachment, safe_filename
from tasks.transports.mail.errors import MailTransportError, connection_error, one_line, scrub
from tasks.transports.mail.smtp import check_security, load_password

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "baocao-processed"
FETCH_CHUNK = 25  # messages per UID FETCH: bounded memory with large spreadsheets
IDLE_SLICE = 5.0  # re-issue IDLE this often; also re-checks for mail that raced the IDLE start
MAX_RECONNECT_BACKOFF = 300.0

# Errors after which the session is unusable and a new connection is needed.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    MailTransportError,
    imaplib.IMAP4.abort,
    OSError,
    EOFError,
    ImapToolsError,
    imaplib.IMAP4.error,
)

_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_UID = re.compile(rb"UID (\d+)")


class ImapLoginError(MailTransportError):
    """Credentials were refused or are missing; retrying would only risk locking the account."""


def imap_failure(settings: ImapSettings, exc: BaseException, doing: str = "",
                 permanent: bool = False) -> MailTransportError:
    """One Vietnamese line for any failure talking to the IMAP server (connect, login, select, fetch, mark)."""
    if isinstance(exc, MailTransportError):
        return exc
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, imaplib.IMAP4.error) and re.search(r"STARTTLS|TLS not supported", str(exc), re.IGNORECASE):
        return MailTransportError("IMAP", "tls", f"Lỗi TLS: máy chủ IMAP {where} không hỗ trợ STARTTLS; hãy "
                                  f"dùng security: ssl (cổng 993).")
    if isinstance(exc, imaplib.IMAP4.abort):
        root = exc.__cause__ or exc.__context__
        if isinstance(root, OSError):
            return connection_error("IMAP", settings.host, settings.port, root, settings.timeout)
        return MailTransportError("IMAP", "network", f"Mất kết nối tới máy chủ IMAP {where}"
                                  f"{' khi ' + doing if doing else ''} ({one_line(str(exc))[:200]}).")
    if isinstance(exc, (imaplib.IMAP4.error, ImapToolsError)):
        text = one_line(str(exc))[:300]
        return MailTransportError("IMAP", "protocol", f"Máy chủ IMAP {where} báo lỗi"
                                  f"{' khi ' + doing if doing else ''}: {text}", transient=not permanent)
    return connection_error("IMAP", settings.host, settings.port, exc, settings.timeout)


@dataclass(frozen=True)
class ImapSettings:
    """Mailbox to watch; the password is looked up, never stored here."""

    host: str
    port: int
    security: Literal["ssl", "starttls", "plain"] = "ssl"
    username: str = ""
    password_env: str = "BAOCAO_IMAP_PASSWORD"
    password_block: str | None = None
    folder: str = "INBOX"
    processed_folder: str | None = None
    timeout: float = 30

    def __post_init__(self) -> None:
        check_security("IMAP", self.host, self.security)
        if not 0 < self.port < 65536:
            raise ValueError(f"Cổng IMAP không hợp lệ: {self.port}")
        if self.processed_folder is not None and self.processed_folder == self.folder:
            raise ValueError("processed_folder phải khác thư mục đang theo dõi")


@dataclass(frozen=True)
class IncomingMail:
    """One received message with its attachments decoded; ``raw`` is kept for the audit trail."""

    uid: int
    uidvalidity: int
    message_id: str
    sender: str
    subject: str
    received_at: datetime
    attachments: tuple[Attachment, ...]
    raw: bytes
    unreadable: str | None = None  # why the mail could not be taken apart (Vietnamese, for the unit)


UNREADABLE_MAIL = ("Không đọc được nội dung thư (cấu trúc thư hoặc tệp đính kèm bị hỏng). Hãy gửi lại thư, "
                   "đính kèm biểu mẫu đã điền.")
MAX_MESSAGE_ID = 250


def _parse_internaldate(meta: bytes) -> datetime | None:
    match = _INTERNALDATE.search(meta)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def _split_fetch(data: list) -> list[tuple[bytes, bytes]]:
    """Group an imaplib FETCH response into (metadata, literal) per message.

    The UID/FLAGS/INTERNALDATE items may come before or after the literal, so the bytes that
    follow a literal are appended to that message's metadata.
    """
    items: list[list[bytes]] = []
    for part in data:
        if isinstance(part, tuple):
            items.append([part[0], part[1]])
        elif isinstance(part, bytes) and items:
            items[-1][0] += b" " + part
    return [(meta, body) for meta, body in items]


# Spreadsheets some clients attach without a file name (no Content-Disposition, no name=): named by type.
SPREADSHEET_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "text/csv": ".csv",
}


def _attachments(raw: bytes, meta: bytes) -> tuple[Attachment, ...]:
    # imap-tools decodes the odd filename encodings real clients produce (RFC 2047 inside
    # quotes, raw UTF-8 "unknown-8bit"); fall back to a generated name for nameless files.
    message = MailMessage([(meta, raw), b")"])
    result = []
    index = 0
    for part in message.obj.walk():  # walks into forwarded message/rfc822 parts as well
        if part.get_content_maintype() == "multipart":
            continue
        ctype = part.get_content_type()
        if (part.get("Content-ID") is None and part.get_filename() is None and ctype != "message/rfc822"
                and ctype not in SPREADSHEET_TYPES):
            continue  # body text
        index += 1
        att = MailAttachment(part)
        if att.content_type == "message/rfc822" and not att.filename:
            name = f"thu-chuyen-tiep-{index}.eml"
        else:
            name = att.filename or f"tep-dinh-kem-{index}{SPREADSHEET_TYPES.get(ctype, '')}"
        if att.content_disposition == "inline" and not att.filename and ctype not in SPREADSHEET_TYPES:
            continue  # inline images of a signature, not a submission
        result.append(Attachment(safe_filename(name), att.payload, att.content_type))
    return tuple(result)


def _message_id(parsed: email.message.Message, uidvalidity: int, uid: int, host: str) -> str:
    """The Message-ID when it is a sane one, else a stable stand-in so the caller can still deduplicate."""
    try:
        value = " ".join(str(parsed.get("Message-ID", "") or "").split())
    except Exception:  # the header registry fails on some malformed ids
        value = ""
    if value and len(value) <= MAX_MESSAGE_ID and value.isprintable() and " " not in value:
        return value
    return f"<khong-co-message-id.{uidvalidity}.{uid}@{host}>"


def _received_at(parsed: email.message.Message, meta: bytes) -> datetime:
    received_at = _parse_internaldate(meta)
    if received_at is None:
        try:
            received_at = parsedate_to_datetime(str(parsed["Date"]))
        except Exception:  # missing or garbled Date
            received_at = None
    if received_at is None or received_at.tzinfo is None:
        received_at = datetime.now(UTC)
    return received_at


def _to_incoming(uid: int, uidvalidity: int, meta: bytes, raw: bytes, host: str) -> IncomingMail:
    """Whatever the bytes, one IncomingMail: a mail that cannot be taken apart carries ``unreadable``."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    # strict: a From that is not exactly one plain address yields what it claims, which matches no contact
    sender = from_address(raw).address or claimed_sender(raw)
    try:
        subject = str(parsed["Subject"] or "")
    except Exception:  # undecodable or malformed Subject
        subject = ""
    unreadable = None
    try:
        attachments = _attachments(raw, meta)
    except Exception as exc:
        log.warning("IMAP UID %s: cannot read the attachments (%s: %s)", uid, type(exc).__name__, exc)
        attachments, unreadable = (), UNREADABLE_MAIL
    return IncomingMail(
        uid=uid,
        uidvalidity=uidvalidity,
        message_id=_message_id(parsed, uidvalidity, uid, host),
        sender=sender.strip().lower()[:320],
        subject=nfc(" ".join(subject.split()))[:998],
        received_at=_received_at(parsed, meta),
        attachments=attachments,
        raw=raw,
        unreadable=unreadable,
    )


def _unparsed(uid: int, uidvalidity: int, meta: bytes, raw: bytes, host: str) -> IncomingMail:
    """The last resort for bytes the email package itself chokes on: nothing but the raw mail and its UID."""
    try:
        sender = from_address(raw).address or claimed_sender(raw)
    except Exception:
        sender = ""
    stand_in = f"<khong-co-message-id.{uidvalidity}.{uid}@{host}>"
    return IncomingMail(uid=uid, uidvalidity=uidvalidity, message_id=stand_in,
                        sender=sender.strip().lower()[:320], subject="",
                        received_at=_parse_internaldate(meta) or datetime.now(UTC), attachments=(), raw=raw,
                        unreadable=UNREADABLE_MAIL)


class ImapMailbox:
    """Context manager: one logged-in IMAP session on ``settings.folder``."""

    def __init__(self, settings: ImapSettings, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self._stop = stop
        self._box: BaseMailBox | None = None
        self._password: str | None = None
        self.uidvalidity: int = 0
        self._high_uid = 0

    # -- session ------------------------------------------------------------------------------

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connect(self) -> None:
        """Log in and select the folder; any failure is a MailTransportError naming its cause."""
        s = self.settings
        try:
            self._password = load_password("IMAP", s.username, s.password_env, s.password_block)
        except MailTransportError as exc:
            raise ImapLoginError(exc.protocol, exc.cause, exc.message, transient=False) from None
        box: BaseMailBox
        try:
            if s.security == "ssl":
                box = MailBox(s.host, s.port, timeout=s.timeout, ssl_context=ssl.create_default_context())
            elif s.security == "starttls":
                box = MailBoxStartTls(s.host, s.port, timeout=s.timeout, ssl_context=ssl.create_default_context())
            else:
                box = MailBoxUnencrypted(s.host, s.port, timeout=s.timeout)
        except Exception as exc:
            raise imap_failure(s, exc, "kết nối") from None
        try:
            box.login(s.username, self._password, initial_folder=None)
        except MailboxLoginError as exc:
            box.client.shutdown()
            detail = scrub(one_line(_server_text(exc)), [self._password])[:300]
            raise ImapLoginError("IMAP", "auth", f"Đăng nhập IMAP thất bại cho {s.username}: máy chủ {s.host}:{s.port} "
                                 f"từ chối tên đăng nhập hoặc mật khẩu ({detail}).", transient=False) from None
        except Exception as exc:
            _shutdown(box)
            raise imap_failure(s, exc, "đăng nhập") from None
        try:
            # servers announce extensions such as MOVE only after login; imaplib keeps the old list
            typ, data = box.client.capability()
            if typ == "OK" and data and data[-1]:
                box.client.capabilities = tuple(data[-1].decode().upper().split())
            self._box = box
            self._select()
        except Exception as exc:
            self._box = None
            _shutdown(box)
            raise imap_failure(s, exc, f"mở thư mục {s.folder!r}", permanent=True) from None

    def _select(self) -> None:
        box = self._require()
        box.client.untagged_responses.pop("UIDVALIDITY", None)
        box.folder.set(self.settings.folder)
        raw = box.client.untagged_responses.get("UIDVALIDITY")
        if raw:
            self.uidvalidity = int(raw[-1])  # type: ignore[arg-type]
        else:
            self.uidvalidity = int(box.folder.status(self.settings.folder, ["UIDVALIDITY"])["UIDVALIDITY"])

    def close(self) -> None:
        box, self._box = self._box, None
        if box is None:
            return
        try:
            box.logout()
        except (*CONNECTION_ERRORS,):
            try:
                box.client.shutdown()
            except (*CONNECTION_ERRORS,):
                pass

    def _require(self) -> BaseMailBox:
        if self._box is None:
            raise imaplib.IMAP4.abort("IMAP session is not connected")
        return self._box

    # -- reading ------------------------------------------------------------------------------

    def _search(self, after_uid: int) -> list[int]:
        box = self._require()
        # NOOP makes the server sync the selected folder; Dovecot otherwise answers
        # SEARCH from the view the session had, missing mail delivered meanwhile.
        self._check(box.client.noop(), "NOOP")
        typ, data = box.client.uid("SEARCH", f"UID {after_uid + 1}:* UNKEYWORD {PROCESSED_KEYWORD}")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID SEARCH failed: {data!r}")
        uids = [int(x) for x in (data[0] or b"").split()]
        # "N:*" always matches the highest UID, even when it is below N
        return sorted(u for u in uids if u > after_uid)

    def fetch_new(self, after_uid: int = 0, uidvalidity: int | None = None) -> list[IncomingMail]:
        """Messages with UID > after_uid not yet marked processed (all unprocessed if UIDVALIDITY changed)."""
        box = self._require()
        if uidvalidity is not None and uidvalidity != self.uidvalidity:
            log.warning(
                "IMAP UIDVALIDITY of %s changed (%s -> %s); refetching unprocessed mail",
                self.settings.folder, uidvalidity, self.uidvalidity,
            )
            after_uid = 0
        uids = self._search(after_uid)
        mails: list[IncomingMail] = []
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start : start + FETCH_CHUNK]
            typ, data = box.client.uid(
                "FETCH", ",".join(map(str, chunk)), "(UID FLAGS INTERNALDATE BODY.PEEK[])"
            )
            if typ != "OK":
                raise imaplib.IMAP4.error(f"UID FETCH failed: {data!r}")
            wanted = set(chunk)
            for meta, raw in _split_fetch(data):
                match = _UID.search(meta)
                if not match or int(match.group(1)) not in wanted:
                    continue  # unsolicited FETCH (flag change) mixed into the response
                uid = int(match.group(1))
                wanted.discard(uid)
                try:
                    mails.append(_to_incoming(uid, self.uidvalidity, meta, raw, self.settings.host))
                except Exception as exc:  # never let one mail's bytes stop the others
                    log.warning("IMAP UID %s: cannot parse the mail (%s: %s)", uid, type(exc).__name__, exc)
                    mails.append(_unparsed(uid, self.uidvalidity, meta, raw, self.settings.host))
        mails.sort(key=lambda m: m.uid)
        self._high_uid = max([after_uid, *(m.uid for m in mails)])
        return mails

    # -- marking ------------------------------------------------------------------------------

    def mark_processed(self, uids: Iterable[int]) -> None:
        """Mark stored messages so they are never fetched again; moves them, never deletes."""
        box = self._require()
        uid_set = ",".join(str(int(u)) for u in sorted(set(uids)))
        if not uid_set:
            return
        target = self.settings.processed_folder
        if target:
            if not box.folder.exists(target):
                box.folder.create(target)
            if "MOVE" in box.client.capabilities:
                self._check(box.client.uid("MOVE", uid_set, _quote(target)), "UID MOVE")
                return
            # no MOVE: copy, then flag the original instead of deleting it
            self._check(box.client.uid("COPY", uid_set, _quote(target)), "UID COPY")
        self._check(
            box.client.uid("STORE", uid_set, "+FLAGS.SILENT", f"(\\Seen {PROCESSED_KEYWORD})"), "UID STORE"
        )

    @staticmethod
    def _check(result: tuple, command: str) -> None:
        typ, data = result
        if typ != "OK":
            raise imaplib.IMAP4.error(f"{command} failed: {data!r}")

    # -- waiting ------------------------------------------------------------------------------

    def idle_wait(self, timeout: float) -> bool:
        """Block in IMAP IDLE up to ``timeout`` seconds; True as soon as new mail is in the folder."""
        box = self._require()
        deadline = time.monotonic() + timeout
        while True:
            # catches mail that arrived between the last fetch and IDLE, whatever the server reports
            if self._search(self._high_uid):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self._stop is not None and self._stop.is_set()):
                return False
            box.idle.start()
            try:
                responses = box.idle.poll(timeout=min(remaining, IDLE_SLICE))
            finally:
                _, tail = box.idle.stop()  # raises if the connection died meanwhile
            lines = [r for r in (*responses, *tail) if isinstance(r, bytes)]
            if any(line.startswith(b"* BYE") for line in lines):
                raise imaplib.IMAP4.abort("server closed the IMAP session (BYE)")
            if any(line.rstrip().endswith((b"EXISTS", b"RECENT")) for line in lines):
                return True


def _server_text(exc: MailboxLoginError) -> str:
    """What the server said ('[AUTHENTICATIONFAILED] Authentication failed.'), not imap-tools' wrapping."""
    result = getattr(exc, "command_result", None)
    data = result[1] if isinstance(result, tuple) and len(result) > 1 else None
    if isinstance(data, list) and data:
        return " ".join(d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data)
    return str(exc)


def _shutdown(box: BaseMailBox) -> None:
    try:
        box.client.shutdown()
    except (*CONNECTION_ERRORS,):
        pass


def _quote(folder: str) -> str:
    from imap_tools.imap_utf7 import utf7_encode

    encoded = utf7_encode(folder).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def watch(
    settings: ImapSettings,
    handle: Callable[[list[IncomingMail]], int | None],
    stop: threading.Event,
    idle_timeout: float = 60,
    reconnect_backoff: float = 1.0,
) -> None:
    """Deliver new mail to ``handle`` until ``stop`` is set, reconnecting with backoff on drops.

    ``handle`` stores the mails (and marks them processed) and returns the new last UID; the
    loop resumes from it after a reconnect. Wrong or missing credentials raise ImapLoginError at once, a TLS
    or folder problem a MailTransportError; a refused, timed-out or dropped connection is retried.
    """
    last_uid = 0
    uidvalidity: int | None = None
    failures = 0
    while not stop.is_set():
        try:
            with ImapMailbox(settings, stop=stop) as box:
                if failures:
                    log.info("IMAP reconnected to %s after %d failure(s)", settings.host, failures)
                failures = 0
                while not stop.is_set():
                    mails = box.fetch_new(last_uid, uidvalidity)
                    if uidvalidity is not None and uidvalidity != box.uidvalidity:
                        last_uid = 0
                    uidvalidity = box.uidvalidity
                    if mails:
                        try:
                            new_last = handle(mails)
                        except Exception as exc:
                            raise _HandlerFailed() from exc
                        if new_last is not None:
                            last_uid = new_last
                        if last_uid >= mails[-1].uid:
                            continue  # look again before idling: more may have arrived meanwhile
                        # the handler kept some mail pending: wait for news instead of spinning
                    box.idle_wait(idle_timeout)
        except _HandlerFailed as wrapper:
            raise wrapper.__cause__ from None  # type: ignore[misc]
        except CONNECTION_ERRORS as exc:
            failure = imap_failure(settings, exc)
            if not failure.transient:  # wrong password, TLS or folder: retrying cannot help
                raise failure from None
            failures += 1
            delay = min(reconnect_backoff * 2 ** (failures - 1), MAX_RECONNECT_BACKOFF)
            log.warning("%s Thử kết nối lại sau %.1f giây.", failure.message, delay)
            stop.wait(delay)


class _HandlerFailed(Exception):
    """Carries an exception raised by the caller's handler past the reconnect logic."""
