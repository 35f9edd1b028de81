"""Send composed mails over one SMTP connection per batch, with retries that never duplicate.

Gmail/Workspace answer "421 too many connections" when every message opens a fresh
connection, so a batch logs in once and reuses the connection; transient failures reconnect
with exponential backoff, permanent ones fail only the affected message.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from tasks.transports.mail.compose import ComposedMessage
from tasks.transports.mail.errors import (
    MailTransportError,
    connection_error,
    non_ascii_password,
    one_line,
    scrub,
)

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "plain"]
_SECURITIES = ("ssl", "starttls", "plain")
MAX_BACKOFF = 60.0
_STEP = {"connect": "chào kết nối", "starttls": "bật STARTTLS", "login": "đăng nhập"}


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1, the only hosts where unencrypted login is acceptable."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_security(protocol: str, host: str, security: str) -> None:
    """Refuse unencrypted connections to anything but loopback, so a password never crosses a network."""
    if security not in _SECURITIES:
        raise ValueError(f"{protocol} security phải là một trong {_SECURITIES}, không phải {security!r}")
    if security == "plain" and not is_loopback(host):
        raise ValueError(
            f"Kết nối {protocol} 'plain' (không mã hóa) chỉ được dùng với máy chủ nội bộ "
            f"(127.0.0.1, ::1, localhost), không dùng cho {host!r}; hãy dùng 'ssl' hoặc 'starttls'."
        )


def resolve_password(env_name: str, block_name: str | None) -> str | None:
    """Read a password from a Prefect Secret block when one is named, else from an env variable."""
    if block_name:
        from prefect.blocks.system import Secret

        value = Secret.load(block_name).get()  # type: ignore[union-attr]
        return str(value) if value else None
    return os.environ.get(env_name) or None


def password_place(env_name: str, block_name: str | None) -> str:
    """Where the password is looked for, as the operator configures it (never the password itself)."""
    return f"khối Secret {block_name!r}" if block_name else f"biến môi trường {env_name}"


def missing_password_message(protocol: str, username: str | None, env_name: str, block_name: str | None) -> str:
    """Tell the operator where the password was looked for (never what it is)."""
    return f"Chưa có mật khẩu {protocol} cho {username}: hãy đặt {password_place(env_name, block_name)}"


def load_password(protocol: str, username: str | None, env_name: str, block_name: str | None) -> str:
    """The configured password, or a MailTransportError naming the variable when it is missing or not ASCII."""
    password = resolve_password(env_name, block_name)
    if not password:
        raise MailTransportError(protocol, "missing_password",
                                 missing_password_message(protocol, username, env_name, block_name))
    if not password.isascii():
        raise non_ascii_password(protocol, username, password_place(env_name, block_name))
    return password


__all__ = ["MailTransportError", "scrub"]


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send; the password itself is never stored here, only where to find it."""

    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password_env: str = "BAOCAO_SMTP_PASSWORD"
    password_block: str | None = None
    sender: str = ""
    sender_name: str = "Văn phòng Sở Nội vụ"
    timeout: float = 30
    max_retries: int = 4
    backoff_base: float = 1.0

    def __post_init__(self) -> None:
        check_security("SMTP", self.host, self.security)
        if not 0 < self.port < 65536:
            raise ValueError(f"Cổng SMTP không hợp lệ: {self.port}")
        if self.max_retries < 0 or self.backoff_base < 0 or self.timeout <= 0:
            raise ValueError("max_retries, backoff_base must be >= 0 and timeout > 0")

    @property
    def envelope_sender(self) -> str:
        return self.sender or self.username or ""


@dataclass
class SendOutcome:
    """Result for one message; ``error`` is Vietnamese, operator-readable and password-free."""

    key: str
    message_id: str
    recipients: list[str]
    ok: bool
    error: str | None = None
    permanent: bool = False
    refused: list[str] = field(default_factory=list)
    attempts: int = 0
    cause: str | None = None  # MailTransportError.cause when the server could not be used


class _Fatal(Exception):
    """The batch cannot continue (bad credentials, certificate, configuration)."""

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class _Permanent(Exception):
    """The server refused this message for good (5xx); other messages may still go through."""


class _Transient(Exception):
    def __init__(self, message: str, during_connect: bool = False, cause: str | None = None) -> None:
        super().__init__(message)
        self.during_connect = during_connect
        self.cause = cause


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
    return f"{exc.smtp_code} {text}".strip()


def _refusal(value: tuple[int, bytes]) -> str:
    code, text = value
    return f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}".strip()


class SmtpBatchSender:
    """Context manager sending batches of ComposedMessage over a single authenticated connection."""

    def __init__(self, settings: SmtpSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.envelope_sender:
            raise ValueError("SmtpSettings cần sender hoặc username để làm địa chỉ người gửi")
        self.settings = settings
        self._sleep = sleep
        self._smtp: smtplib.SMTP | None = None
        self._password: str | None = None
        self.connections_opened = 0

    def __enter__(self) -> SmtpBatchSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connection -------------------------------------------------------------------------

    def close(self) -> None:
        """QUIT politely; a dead connection is just dropped."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _secrets(self) -> list[str | None]:
        return [self._password]

    def _load_password(self) -> str:
        if self._password is None:
            s = self.settings
            self._password = load_password("SMTP", s.username, s.password_env, s.password_block)
        return self._password

    def connect(self) -> smtplib.SMTP:
        """Connect, greet, secure and log in (or reuse the open session); raises MailTransportError."""
        if self._smtp is not None and getattr(self._smtp, "sock", None) is not None:
            return self._smtp
        self._discard()
        s = self.settings
        where = f"{s.host}:{s.port}"
        password = self._load_password() if s.username else None
        context = ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        step = "connect"
        try:
            # the host goes to the constructor: SMTP_SSL and starttls() verify the certificate against the
            # name given there (connect(host) alone leaves it empty and every TLS handshake fails)
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            self.connections_opened += 1
            smtp.ehlo()
            if s.security == "starttls":
                step = "starttls"
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username and password is not None:
                step = "login"
                smtp.login(s.username, password)
        except Exception as exc:
            if smtp is not None:
                smtp.close()
            raise self._connect_failure(exc, step, where) from None
        self._smtp = smtp
        return smtp

    def _connect_failure(self, exc: Exception, step: str, where: str) -> MailTransportError:
        s = self.settings
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return MailTransportError(
                "SMTP", "auth", f"Đăng nhập SMTP thất bại cho {s.username}: máy chủ {where} từ chối tên đăng nhập "
                f"hoặc mật khẩu ({self._describe(exc)}).", transient=400 <= exc.smtp_code < 500)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            if step == "starttls":
                return MailTransportError(
                    "SMTP", "tls", f"Lỗi TLS: máy chủ SMTP {where} không hỗ trợ STARTTLS; hãy dùng security: ssl "
                    f"(cổng 465) hoặc cổng có STARTTLS (587).")
            return MailTransportError(
                "SMTP", "auth", f"Máy chủ SMTP {where} không cho đăng nhập (không hỗ trợ AUTH); kiểm tra cổng và "
                f"cách bảo mật.")
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            root = exc.__cause__ or exc.__context__
            if isinstance(root, OSError):
                return connection_error("SMTP", s.host, s.port, root, s.timeout, self._secrets())
            return MailTransportError(
                "SMTP", "network", f"Máy chủ SMTP {where} đóng kết nối ngay khi {_STEP[step]}.")
        if isinstance(exc, smtplib.SMTPResponseException):
            return MailTransportError(
                "SMTP", "protocol", f"Máy chủ SMTP {where} từ chối khi {_STEP[step]}: {self._describe(exc)}",
                transient=400 <= exc.smtp_code < 500)
        if isinstance(exc, UnicodeEncodeError) and step == "login":
            return MailTransportError(
                "SMTP", "auth", f"Tên đăng nhập SMTP {s.username!r} có ký tự không phải ASCII; máy chủ {where} "
                f"không nhận được.")
        return connection_error("SMTP", s.host, s.port, exc, s.timeout, self._secrets())

    def verify(self) -> None:
        """Connect and log in once, then QUIT; raises MailTransportError naming the cause (for check-config)."""
        try:
            self.connect()
        finally:
            self.close()

    def _connected(self) -> smtplib.SMTP:
        try:
            return self.connect()
        except MailTransportError as exc:
            if exc.transient:
                raise _Transient(exc.message, during_connect=True, cause=exc.cause) from None
            raise _Fatal(exc.message, exc.cause) from None

    # -- classification ---------------------------------------------------------------------

    @staticmethod
    def _is_transient(exc: BaseException) -> bool:
        if isinstance(exc, smtplib.SMTPResponseException):
            return 400 <= exc.smtp_code < 500
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return True
        if isinstance(exc, ssl.SSLCertVerificationError):
            return False
        return isinstance(exc, OSError)  # timeouts, refused/reset connections, unreachable network

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            text = "; ".join(f"{r} ({_refusal(v)})" for r, v in exc.recipients.items())
        elif isinstance(exc, smtplib.SMTPResponseException):
            text = _reply(exc)
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            text = f"mất kết nối tới máy chủ SMTP ({exc})"
        elif isinstance(exc, OSError):  # refused, timeout, reset, TLS: the same words as at connect time
            s = self.settings
            text = connection_error("SMTP", s.host, s.port, exc, s.timeout, self._secrets()).message
        else:
            text = one_line(f"{type(exc).__name__}: {exc}")
        return scrub(text, self._secrets())

    # -- sending ----------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(self.settings.backoff_base * 2 ** (attempt - 1), MAX_BACKOFF)

    def _send_one(self, message: ComposedMessage) -> tuple[SendOutcome, bool]:
        """Deliver one message; returns its outcome and whether the rest of the batch must stop."""
        outcome = SendOutcome(message.mail.key, message.message_id, list(message.recipients), ok=False)
        pending = list(message.recipients)
        accepted: list[str] = []
        refused: dict[str, str] = {}
        sender = self.settings.envelope_sender
        while True:
            outcome.attempts += 1
            try:
                rejected = self._transmit(self._connected(), sender, pending, message.data)
                accepted += [r for r in pending if r not in rejected]
                retry = {r: v for r, v in rejected.items() if 400 <= v[0] < 500}
                refused.update({r: _refusal(v) for r, v in rejected.items() if r not in retry})
                if not retry:
                    return self._finish(outcome, accepted, refused), False
                pending = list(retry)
                raise _Transient(
                    "người nhận tạm thời bị từ chối: "
                    + "; ".join(f"{r} ({_refusal(v)})" for r, v in retry.items())
                )
            except _Permanent as exc:
                if accepted:  # an earlier attempt already reached some recipients
                    refused.update({r: str(exc) for r in pending})
                    return self._finish(outcome, accepted, refused), False
                outcome.error = f"Máy chủ SMTP từ chối thư: {exc}"
                outcome.permanent = True
                return outcome, False
            except _Fatal as exc:
                outcome.error = scrub(str(exc), self._secrets())
                outcome.cause = exc.cause
                return outcome, True
            except _Transient as exc:
                self._discard()
                if outcome.attempts > self.settings.max_retries:
                    outcome.cause = exc.cause
                    outcome.error = scrub(
                        f"Gửi thất bại sau {outcome.attempts} lần thử: {exc}", self._secrets()
                    )
                    if accepted:
                        refused.update({r: str(exc) for r in pending})
                        return self._finish(outcome, accepted, refused), exc.during_connect
                    return outcome, exc.during_connect
                delay = self._backoff(outcome.attempts)
                log.warning(
                    "SMTP transient failure for %s (attempt %d), retrying in %.1fs: %s",
                    message.mail.key, outcome.attempts, delay, scrub(str(exc), self._secrets()),
                )
                self._sleep(delay)

    def _transmit(
        self, smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes
    ) -> dict[str, tuple[int, bytes]]:
        """One sendmail; returns refused recipients, raises _Transient/_Permanent for whole-message errors."""
        try:
            return smtp.sendmail(sender, recipients, data)
        except smtplib.SMTPRecipientsRefused as exc:
            return exc.recipients
        except (smtplib.SMTPException, OSError) as exc:
            if self._is_transient(exc):
                raise _Transient(self._describe(exc)) from None
            raise _Permanent(self._describe(exc)) from None

    @staticmethod
    def _finish(outcome: SendOutcome, accepted: list[str], refused: dict[str, str]) -> SendOutcome:
        outcome.refused = list(refused)
        listing = "; ".join(f"{r} ({why})" for r, why in refused.items())
        if accepted:
            outcome.ok = True
            if refused:
                outcome.error = f"Một số người nhận bị từ chối: {listing}"
        elif refused:
            outcome.ok = False
            outcome.permanent = True
            outcome.error = f"Tất cả người nhận bị từ chối: {listing}"
        return outcome

    def send_batch(self, messages: Iterable[ComposedMessage]) -> list[SendOutcome]:
        """Send every message over one connection (reconnecting only on transient failures)."""
        outcomes: list[SendOutcome] = []
        abort: str | None = None
        abort_cause: str | None = None
        try:
            for message in messages:
                if abort is not None:
                    outcomes.append(
                        SendOutcome(
                            message.mail.key, message.message_id, list(message.recipients), ok=False,
                            error=f"Chưa gửi vì lỗi trước đó trong lô: {abort}", cause=abort_cause,
                        )
                    )
                    continue
                outcome, stop = self._send_one(message)
                outcomes.append(outcome)
                if outcome.ok:
                    log.info("SMTP sent %s %s to %d recipient(s)", outcome.key, outcome.message_id,
                             len(outcome.recipients) - len(outcome.refused))
                else:
                    log.error("SMTP failed %s: %s", outcome.key, outcome.error)
                if stop:
                    abort, abort_cause = outcome.error, outcome.cause
        finally:
            self.close()
        return outcomes
