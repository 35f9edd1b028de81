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

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "plain"]
_SECURITIES = ("ssl", "starttls", "plain")
MAX_BACKOFF = 60.0


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

        value = Secret.load(block_name).get()
        return str(value) if value else None
    return os.environ.get(env_name) or None


def missing_password_message(protocol: str, username: str | None, env_name: str, block_name: str | None) -> str:
    """Tell the operator where the password was looked for (never what it is)."""
    where = f"khối Secret {block_name!r}" if block_name else f"biến môi trường {env_name}"
    return f"Chưa có mật khẩu {protocol} cho {username}: hãy đặt {where}"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Remove secrets from text that may end up in logs, outcomes or exceptions."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


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


class _Fatal(Exception):
    """The batch cannot continue (bad credentials, certificate, configuration)."""


class _Permanent(Exception):
    """The server refused this message for good (5xx); other messages may still go through."""


class _Transient(Exception):
    def __init__(self, message: str, during_connect: bool = False) -> None:
        super().__init__(message)
        self.during_connect = during_connect


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
            self._password = resolve_password(s.password_env, s.password_block)
            if not self._password:
                raise _Fatal(missing_password_message("SMTP", s.username, s.password_env, s.password_block))
        return self._password

    def _connected(self) -> smtplib.SMTP:
        if self._smtp is not None and getattr(self._smtp, "sock", None) is not None:
            return self._smtp
        self._discard()
        s = self.settings
        password = self._load_password() if s.username else None
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(timeout=s.timeout)
        try:
            code, banner = smtp.connect(s.host, s.port)
            self.connections_opened += 1
            if code != 220:
                raise smtplib.SMTPConnectError(code, banner)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username and password is not None:
                smtp.login(s.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            if 400 <= exc.smtp_code < 500:
                raise _Transient(self._describe(exc), during_connect=True) from None
            raise _Fatal(f"Đăng nhập SMTP thất bại cho {s.username}: {self._describe(exc)}") from None
        except ssl.SSLCertVerificationError as exc:
            smtp.close()
            raise _Fatal(f"Chứng chỉ TLS của máy chủ SMTP {s.host} không hợp lệ: {exc}") from None
        except smtplib.SMTPNotSupportedError as exc:
            smtp.close()
            raise _Fatal(f"Máy chủ SMTP {s.host} không hỗ trợ: {self._describe(exc)}") from None
        except Exception as exc:
            smtp.close()
            if self._is_transient(exc):
                raise _Transient(self._describe(exc), during_connect=True) from None
            detail = self._describe(exc)
            raise _Fatal(f"Không kết nối được máy chủ SMTP {s.host}:{s.port}: {detail}") from None
        self._smtp = smtp
        return smtp

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
        elif isinstance(exc, TimeoutError):
            text = f"máy chủ SMTP không trả lời sau {self.settings.timeout:g} giây"
        elif isinstance(exc, ConnectionRefusedError):
            text = f"máy chủ SMTP {self.settings.host}:{self.settings.port} từ chối kết nối"
        else:
            text = f"{type(exc).__name__}: {exc}"
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
                return outcome, True
            except _Transient as exc:
                self._discard()
                if outcome.attempts > self.settings.max_retries:
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
        try:
            for message in messages:
                if abort is not None:
                    outcomes.append(
                        SendOutcome(
                            message.mail.key, message.message_id, list(message.recipients), ok=False,
                            error=f"Chưa gửi vì lỗi trước đó trong lô: {abort}",
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
                    abort = outcome.error
        finally:
            self.close()
        return outcomes
