"""A real aiosmtpd SMTP server on 127.0.0.1 with connection counting, AUTH and fault injection."""

from __future__ import annotations

import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.servers import free_port

TEST_USER = "vanphong@snv.test"
TEST_PASSWORD = "Mk-bi-mat-2021!"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class FaultPlan:
    """Switches a test flips to make the server misbehave like a real provider does."""

    drop_after: int | None = None  # abruptly close a connection once it has accepted N messages
    fail_mail: int = 0  # answer 451 to the next K MAIL FROM commands
    fail_data: int = 0  # answer 451 to the next K DATA commands
    reject_rcpt: set[str] = field(default_factory=set)  # answer 550 for these recipients


class RecordingHandler:
    """aiosmtpd handler storing every accepted envelope and applying the FaultPlan."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[ReceivedMail] = []
        self.connections = 0
        self.faults = FaultPlan()
        self.commands: list[str] = []

    def _log(self, line: str) -> None:
        with self.lock:
            self.commands.append(line)

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str, opts: list) -> str:
        self._log(f"MAIL {address}")
        with self.lock:
            drop = (
                self.faults.drop_after is not None
                and getattr(session, "baocao_accepted", 0) >= self.faults.drop_after
            )
            fail = self.faults.fail_mail > 0
            if fail:
                self.faults.fail_mail -= 1
        if drop:
            if server.transport is not None:
                server.transport.abort()
            return "421 4.4.2 Connection dropped by test server"
        if fail:
            return "451 4.3.0 Temporary failure, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(opts)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str, opts: list) -> str:
        self._log(f"RCPT {address}")
        if address.lower() in {a.lower() for a in self.faults.reject_rcpt}:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        self._log("DATA")
        with self.lock:
            if self.faults.fail_data > 0:
                self.faults.fail_data -= 1
                return "451 4.3.0 Temporary failure, try again later"
            data = envelope.original_content or envelope.content
            self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(data)))
            session.baocao_accepted = getattr(session, "baocao_accepted", 0) + 1
        return "250 2.0.0 Message accepted"


class _CountingSMTP(SMTP):
    def connection_made(self, transport: Any) -> None:
        handler = self.event_handler
        with handler.lock:
            handler.connections += 1
        super().connection_made(transport)


class _CountingController(Controller):
    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # AUTH without TLS is intended here: loopback test server only.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return _CountingSMTP(self.handler, **self.SMTP_kwargs)


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == TEST_USER
        and auth_data.password.decode() == TEST_PASSWORD
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpTestServer:
    host: str
    port: int
    handler: RecordingHandler
    auth: bool

    @property
    def received(self) -> list[ReceivedMail]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def connections(self) -> int:
        with self.handler.lock:
            return self.handler.connections

    @property
    def faults(self) -> FaultPlan:
        return self.handler.faults


@contextmanager
def smtp_server(auth: bool = True, tls: ssl.SSLContext | None = None,
                starttls: ssl.SSLContext | None = None) -> Iterator[SmtpTestServer]:
    """Run an aiosmtpd server on a free loopback port; AUTH PLAIN/LOGIN without TLS when auth=True;
    implicit TLS (like port 465) with ``tls``, STARTTLS offered (like port 587) with ``starttls``."""
    handler = RecordingHandler()
    kwargs: dict[str, Any] = {"ssl_context": tls} if tls is not None else {}
    if starttls is not None:
        kwargs["tls_context"] = starttls
    if auth:
        kwargs.update(authenticator=_authenticate, auth_required=True, auth_require_tls=False)
    controller = _CountingController(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    # Controller.start() opens one probe connection itself; tests count only the client's.
    with handler.lock:
        handler.connections = 0
    try:
        yield SmtpTestServer("127.0.0.1", controller.port, handler, auth)
    finally:
        controller.stop()
