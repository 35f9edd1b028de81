"""Why a mail server could not be used, as one Vietnamese line the operator can act on.

smtplib and imaplib fail with whatever the socket, ssl or protocol layer raised (ConnectionRefusedError,
TimeoutError, SSLError, UnicodeEncodeError for a non-ASCII password, imaplib.IMAP4.error …). The transports
turn each into a MailTransportError whose ``message`` names the cause (refused, timeout, TLS, certificate,
authentication, non-ASCII password, missing password) without the password and without a traceback.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from typing import Literal

Cause = Literal[
    "refused",  # nothing listens on host:port
    "timeout",  # connected (or not) but no answer within the timeout
    "tls",  # TLS handshake failed or the server offers no STARTTLS
    "certificate",  # the server's certificate could not be verified
    "auth",  # the server refused the user name or password
    "non_ascii_password",  # smtplib/imaplib can only send ASCII passwords
    "missing_password",  # no password in the environment variable / Secret block
    "dns",  # the host name does not resolve
    "network",  # any other network failure (unreachable, reset, closed)
    "protocol",  # the server answered something unexpected
]

# Causes worth retrying later without anyone changing the configuration.
TRANSIENT_CAUSES: frozenset[str] = frozenset({"refused", "timeout", "dns", "network"})


class MailTransportError(Exception):
    """A mail server could not be used; ``message`` is one Vietnamese line, free of secrets."""

    def __init__(self, protocol: str, cause: Cause, message: str, *, transient: bool | None = None) -> None:
        self.protocol = protocol
        self.cause: Cause = cause
        self.message = one_line(message)
        self.transient = cause in TRANSIENT_CAUSES if transient is None else transient
        super().__init__(self.message)


def one_line(text: str) -> str:
    """Collapse whitespace (newlines of multi-line server replies included) into single spaces."""
    return " ".join(str(text).split())


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Remove secrets from text that may end up in logs, outcomes or exceptions."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def non_ascii_password(protocol: str, username: str | None, where: str) -> MailTransportError:
    """smtplib (AUTH) and imaplib (LOGIN) encode the password as ASCII and fail with UnicodeEncodeError."""
    return MailTransportError(
        protocol, "non_ascii_password",
        f"Mật khẩu {protocol} của {username or '(không có tên đăng nhập)'} có ký tự không phải ASCII "
        f"(chữ có dấu hoặc ký hiệu đặc biệt) nên không gửi được tới máy chủ; hãy đổi mật khẩu chỉ gồm chữ "
        f"không dấu, chữ số và ký hiệu thông thường, rồi đặt lại {where}.",
    )


def connection_error(protocol: str, host: str, port: int, exc: BaseException, timeout: float,
                     secrets: Iterable[str | None] = ()) -> MailTransportError:
    """Name the cause of a failure while reaching or greeting a server (before any login)."""
    where = f"{host}:{port}"
    if isinstance(exc, MailTransportError):
        return exc
    if isinstance(exc, ConnectionRefusedError):
        return MailTransportError(
            protocol, "refused",
            f"Máy chủ {protocol} {where} từ chối kết nối (không có dịch vụ nào ở cổng này); kiểm tra host, "
            f"port và máy chủ thư có đang chạy không.")
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return MailTransportError(
            protocol, "timeout",
            f"Máy chủ {protocol} {where} không trả lời sau {timeout:g} giây (hết thời gian chờ); kiểm tra "
            f"mạng, tường lửa và cổng.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        return MailTransportError(
            protocol, "certificate",
            f"Chứng chỉ TLS của máy chủ {protocol} {where} không hợp lệ ({detail}); kiểm tra tên máy chủ "
            f"hoặc chứng chỉ của máy chủ thư.")
    if isinstance(exc, ssl.SSLError):
        detail = exc.reason or type(exc).__name__
        return MailTransportError(
            protocol, "tls",
            f"Lỗi TLS khi kết nối máy chủ {protocol} {where} ({detail}); kiểm tra cách bảo mật 'security' "
            f"(ssl cho cổng 465/993, starttls cho cổng 587/143).")
    if isinstance(exc, socket.gaierror):
        return MailTransportError(
            protocol, "dns", f"Không tìm thấy máy chủ {protocol} {host} (tên máy chủ không phân giải được).")
    if isinstance(exc, UnicodeEncodeError):
        return MailTransportError(
            protocol, "protocol",
            f"Tên đăng nhập hoặc dữ liệu gửi tới máy chủ {protocol} {where} có ký tự không phải ASCII.")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return MailTransportError(
            protocol, "network", f"Máy chủ {protocol} {where} cắt kết nối giữa chừng; sẽ đọc lại ở lần sau.")
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return MailTransportError(
            protocol, "network", f"Không kết nối được máy chủ {protocol} {where}: {reason}.")
    text = scrub(one_line(str(exc)) or type(exc).__name__, secrets)
    return MailTransportError(protocol, "network" if isinstance(exc, EOFError) else "protocol",
                              f"Máy chủ {protocol} {where} trả lời không như mong đợi: {text[:300]}")
