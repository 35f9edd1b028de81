"""SMTP and IMAP problems are one Vietnamese line naming the cause, never a traceback or the password.

Each cause is produced for real on loopback: a closed port (refused), a socket that accepts and never
answers (timeout), TLS spoken to a plain server, STARTTLS asked of a server without it, a self-signed
certificate, a wrong password, a non-ASCII password and a missing one, against aiosmtpd and Dovecot.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tasks.channels.email import EmailChannel
from tasks.collect import collect_from
from tasks.context import open_context
from tasks.periods import TZ
from tasks.transports.mail.compose import OutgoingMail, compose_message
from tasks.transports.mail.errors import MailTransportError
from tasks.transports.mail.imap import ImapLoginError, ImapMailbox, ImapSettings
from tasks.transports.mail.smtp import SmtpBatchSender, SmtpSettings
from tests.servers import free_port, self_signed_tls
from tests.servers.dovecot import DOVECOT_BIN, DovecotServer, dovecot_available, dovecot_server
from tests.servers.smtp_server import TEST_PASSWORD, TEST_USER, SmtpTestServer, smtp_server
from tests.test_email_channel import PERIOD, Mail, mail  # noqa: F401 - fixture

ENV = "BAOCAO_TEST_MAIL_PASSWORD"
NON_ASCII = "Mật-khẩu-Sở-2021"
WRONG = "Sai-Mat-Khau-987"

needs_dovecot = pytest.mark.skipif(not dovecot_available(), reason=f"{DOVECOT_BIN} is not installed")


@contextmanager
def silent_server() -> Iterator[int]:
    """A port whose connections complete (kernel backlog) but that never sends a byte."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def smtp(port: int, security: str = "plain", timeout: float = 1.5) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security=security, username=TEST_USER,  # type: ignore[arg-type]
                        password_env=ENV, sender=TEST_USER, timeout=timeout, max_retries=0)


def imap(port: int, security: str = "plain", timeout: float = 1.5) -> ImapSettings:
    return ImapSettings(host="127.0.0.1", port=port, security=security, username="vanphong",  # type: ignore[arg-type]
                        password_env=ENV, timeout=timeout)


def smtp_failure(settings: SmtpSettings) -> MailTransportError:
    with pytest.raises(MailTransportError) as info:
        SmtpBatchSender(settings).verify()
    return info.value


def imap_failure(settings: ImapSettings) -> MailTransportError:
    with pytest.raises(MailTransportError) as info:
        ImapMailbox(settings).connect()
    return info.value


def one_line_without_secrets(exc: MailTransportError) -> None:
    assert "\n" not in exc.message and str(exc) == exc.message
    for secret in (TEST_PASSWORD, NON_ASCII, WRONG, "Mk-imap-2021!"):
        assert secret not in exc.message
    assert "Traceback" not in exc.message and "Error" not in exc.message  # no Python exception names


@pytest.fixture
def server() -> Iterator[SmtpTestServer]:
    with smtp_server(auth=True) as srv:
        yield srv


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    if not dovecot_available():
        pytest.skip(f"{DOVECOT_BIN} is not installed")
    with dovecot_server() as srv:
        yield srv


# -- SMTP ----------------------------------------------------------------------------------------------


def test_smtp_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    port = free_port()
    exc = smtp_failure(smtp(port))
    assert (exc.cause, exc.transient) == ("refused", True)
    assert exc.message == (f"Máy chủ SMTP 127.0.0.1:{port} từ chối kết nối (không có dịch vụ nào ở cổng này); "
                           "kiểm tra host, port và máy chủ thư có đang chạy không.")
    one_line_without_secrets(exc)


@pytest.mark.parametrize("security", ["plain", "ssl"])
def test_smtp_timeout(monkeypatch: pytest.MonkeyPatch, security: str) -> None:
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    with silent_server() as port:
        exc = smtp_failure(smtp(port, security))
    assert (exc.cause, exc.transient) == ("timeout", True)
    assert exc.message == (f"Máy chủ SMTP 127.0.0.1:{port} không trả lời sau 1.5 giây (hết thời gian chờ); "
                           "kiểm tra mạng, tường lửa và cổng.")
    one_line_without_secrets(exc)


def test_smtp_tls_spoken_to_a_plain_server(server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    exc = smtp_failure(smtp(server.port, "ssl"))
    assert (exc.cause, exc.transient) == ("tls", False)
    assert exc.message.startswith(f"Lỗi TLS khi kết nối máy chủ SMTP 127.0.0.1:{server.port} (")
    assert exc.message.endswith("); kiểm tra cách bảo mật 'security' (ssl cho cổng 465/993, starttls cho cổng "
                                "587/143).")
    one_line_without_secrets(exc)


def test_smtp_starttls_not_offered(server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    exc = smtp_failure(smtp(server.port, "starttls"))
    assert (exc.cause, exc.transient) == ("tls", False)
    assert exc.message == (f"Lỗi TLS: máy chủ SMTP 127.0.0.1:{server.port} không hỗ trợ STARTTLS; hãy dùng "
                           "security: ssl (cổng 465) hoặc cổng có STARTTLS (587).")


def test_smtp_self_signed_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    with smtp_server(auth=False, tls=self_signed_tls(tmp_path)) as srv:
        exc = smtp_failure(smtp(srv.port, "ssl", timeout=5))
    assert (exc.cause, exc.transient) == ("certificate", False)
    assert exc.message == (f"Chứng chỉ TLS của máy chủ SMTP 127.0.0.1:{srv.port} không hợp lệ (self-signed "
                           "certificate); kiểm tra tên máy chủ hoặc chứng chỉ của máy chủ thư.")


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_smtp_over_tls_sends_when_the_certificate_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    """The name checked against the certificate is the configured host (smtplib leaves it empty unless the
    host is given to the constructor, and then every TLS handshake fails with a ValueError)."""
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    context = self_signed_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # trust it, as an Office CA would be
    servers = {"tls": context} if security == "ssl" else {"starttls": context}
    with smtp_server(auth=True, **servers) as srv:  # type: ignore[arg-type]
        message = compose_message(OutgoingMail(key="request:x:1", kind="request", to=("a@snv.test",),
                                               subject="Đề nghị", text="Nội dung", html="<p>Nội dung</p>"),
                                  TEST_USER)
        with SmtpBatchSender(smtp(srv.port, security, timeout=5)) as sender:
            [outcome] = sender.send_batch([message])
        assert (outcome.ok, outcome.error) == (True, None)
        assert len(srv.received) == 1


def test_smtp_wrong_password(server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, WRONG)
    exc = smtp_failure(smtp(server.port))
    assert (exc.cause, exc.transient) == ("auth", False)
    assert exc.message == (f"Đăng nhập SMTP thất bại cho {TEST_USER}: máy chủ 127.0.0.1:{server.port} từ chối tên "
                           "đăng nhập hoặc mật khẩu (535 5.7.8 Authentication credentials invalid).")
    one_line_without_secrets(exc)


def test_smtp_non_ascii_password_is_named_not_a_connection_problem(
    server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, NON_ASCII)
    exc = smtp_failure(smtp(server.port))
    assert (exc.cause, exc.transient) == ("non_ascii_password", False)
    assert exc.message == (
        f"Mật khẩu SMTP của {TEST_USER} có ký tự không phải ASCII (chữ có dấu hoặc ký hiệu đặc biệt) nên không gửi "
        "được tới máy chủ; hãy đổi mật khẩu chỉ gồm chữ không dấu, chữ số và ký hiệu thông thường, rồi đặt lại "
        f"biến môi trường {ENV}.")
    one_line_without_secrets(exc)
    assert server.connections == 0  # found before anything was sent


def test_smtp_missing_password_names_the_variable(server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    exc = smtp_failure(smtp(server.port))
    assert (exc.cause, exc.transient) == ("missing_password", False)
    assert exc.message == f"Chưa có mật khẩu SMTP cho {TEST_USER}: hãy đặt biến môi trường {ENV}"


def test_smtp_batch_outcomes_carry_the_same_line(server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, NON_ASCII)
    messages = [compose_message(OutgoingMail(key=f"request:x:{i}", kind="request", to=("a@snv.test",),
                                             subject="Đề nghị", text="Nội dung", html="<p>Nội dung</p>"),
                                TEST_USER) for i in range(2)]
    with SmtpBatchSender(smtp(server.port)) as sender:
        first, second = sender.send_batch(messages)
    line = smtp_failure(smtp(server.port)).message
    assert (first.ok, first.cause, first.error) == (False, "non_ascii_password", line)
    assert (second.ok, second.cause, second.error) == (False, "non_ascii_password",
                                                       f"Chưa gửi vì lỗi trước đó trong lô: {line}")
    assert server.received == []


# -- IMAP ----------------------------------------------------------------------------------------------


def test_imap_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    port = free_port()
    exc = imap_failure(imap(port))
    assert (exc.cause, exc.transient) == ("refused", True)
    assert exc.message == (f"Máy chủ IMAP 127.0.0.1:{port} từ chối kết nối (không có dịch vụ nào ở cổng này); "
                           "kiểm tra host, port và máy chủ thư có đang chạy không.")


@pytest.mark.parametrize("security", ["plain", "ssl"])
def test_imap_timeout(monkeypatch: pytest.MonkeyPatch, security: str) -> None:
    monkeypatch.setenv(ENV, TEST_PASSWORD)
    with silent_server() as port:
        exc = imap_failure(imap(port, security))
    assert (exc.cause, exc.transient) == ("timeout", True)
    assert exc.message == (f"Máy chủ IMAP 127.0.0.1:{port} không trả lời sau 1.5 giây (hết thời gian chờ); "
                           "kiểm tra mạng, tường lửa và cổng.")


@needs_dovecot
def test_imap_tls_spoken_to_a_plain_server(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, dovecot.password)
    exc = imap_failure(imap(dovecot.port, "ssl", timeout=10))
    assert (exc.cause, exc.transient) == ("tls", False)
    assert exc.message.startswith(f"Lỗi TLS khi kết nối máy chủ IMAP 127.0.0.1:{dovecot.port} (")
    one_line_without_secrets(exc)


@needs_dovecot
def test_imap_starttls_not_offered(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, dovecot.password)
    exc = imap_failure(imap(dovecot.port, "starttls", timeout=10))
    assert (exc.cause, exc.transient) == ("tls", False)
    assert exc.message == (f"Lỗi TLS: máy chủ IMAP 127.0.0.1:{dovecot.port} không hỗ trợ STARTTLS; hãy dùng "
                           "security: ssl (cổng 993).")


@needs_dovecot
def test_imap_wrong_password(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, WRONG)
    exc = imap_failure(imap(dovecot.port, timeout=10))
    assert isinstance(exc, ImapLoginError)
    assert (exc.cause, exc.transient) == ("auth", False)
    assert exc.message == (f"Đăng nhập IMAP thất bại cho vanphong: máy chủ 127.0.0.1:{dovecot.port} từ chối tên "
                           "đăng nhập hoặc mật khẩu ([AUTHENTICATIONFAILED] Authentication failed.).")
    one_line_without_secrets(exc)


@needs_dovecot
def test_imap_non_ascii_password(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, NON_ASCII)
    exc = imap_failure(imap(dovecot.port, timeout=10))
    assert (exc.cause, exc.transient) == ("non_ascii_password", False)
    assert exc.message == (
        "Mật khẩu IMAP của vanphong có ký tự không phải ASCII (chữ có dấu hoặc ký hiệu đặc biệt) nên không gửi "
        "được tới máy chủ; hãy đổi mật khẩu chỉ gồm chữ không dấu, chữ số và ký hiệu thông thường, rồi đặt lại "
        f"biến môi trường {ENV}.")
    one_line_without_secrets(exc)


def test_imap_missing_password_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    exc = imap_failure(imap(free_port()))
    assert (exc.cause, exc.transient) == ("missing_password", False)
    assert exc.message == f"Chưa có mật khẩu IMAP cho vanphong: hãy đặt biến môi trường {ENV}"


@needs_dovecot
def test_imap_missing_folder(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, dovecot.password)
    settings = ImapSettings(host="127.0.0.1", port=dovecot.port, security="plain", username="vanphong",
                            password_env=ENV, folder="Báo cáo")
    exc = imap_failure(settings)
    assert (exc.cause, exc.transient) == ("protocol", False)
    assert exc.message.startswith(f"Máy chủ IMAP 127.0.0.1:{dovecot.port} báo lỗi khi mở thư mục 'Báo cáo': ")
    one_line_without_secrets(exc)


@needs_dovecot
def test_collect_with_the_mailbox_down_is_one_line(mail: Mail, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The collect path (EmailChannel.receive) raises the same MailTransportError, nothing is recorded."""
    ctx = mail.ctx
    mail.imap.stop()
    with pytest.raises(MailTransportError) as info:
        collect_from(ctx, ctx.period(PERIOD), EmailChannel(ctx))
    assert info.value.message == (f"Máy chủ IMAP 127.0.0.1:{mail.imap.port} từ chối kết nối (không có dịch vụ nào "
                                  "ở cổng này); kiểm tra host, port và máy chủ thư có đang chạy không.")
    monkeypatch.setenv("BAOCAO_IMAP_PASSWORD", NON_ASCII)
    mail.imap.start()
    with pytest.raises(MailTransportError) as info:
        collect_from(ctx, ctx.period(PERIOD), EmailChannel(ctx))
    assert info.value.cause == "non_ascii_password"
    assert ctx.ledger.submissions(ctx.cfg.report.id, PERIOD) == []


@pytest.fixture
def tls_dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    if not dovecot_available():
        pytest.skip(f"{DOVECOT_BIN} is not installed")
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    tls_dir.chmod(0o755)
    self_signed_tls(tls_dir)
    with dovecot_server(tls_dir) as srv:
        yield srv


def test_imap_self_signed_certificate(tls_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, tls_dovecot.password)
    assert tls_dovecot.tls_port is not None
    for security, port in (("ssl", tls_dovecot.tls_port), ("starttls", tls_dovecot.port)):
        exc = imap_failure(imap(port, security, timeout=10))
        assert (exc.cause, exc.transient) == ("certificate", False), security
        assert exc.message == (f"Chứng chỉ TLS của máy chủ IMAP 127.0.0.1:{port} không hợp lệ (self-signed "
                               "certificate); kiểm tra tên máy chủ hoặc chứng chỉ của máy chủ thư.")


def test_imap_over_tls_reads_mail_when_the_certificate_is_trusted(
    tls_dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, tls_dovecot.password)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "tls" / "cert.pem"))
    tls_dovecot.append(b"From: vp@snv.test\r\nSubject: Qua TLS\r\nMessage-ID: <tls@snv.test>\r\n\r\nx\r\n")
    assert tls_dovecot.tls_port is not None
    for security, port in (("ssl", tls_dovecot.tls_port), ("starttls", tls_dovecot.port)):
        with ImapMailbox(imap(port, security, timeout=10)) as box:
            assert [m.subject for m in box.fetch_new()] == ["Qua TLS"], security


def test_collect_with_the_mailbox_down_says_so_in_one_line_and_reads_the_folder(
        config_dir: Path, tmp_path: Path, prefect_engine: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """IMAP down used to end `baocao collect` with a raw traceback and nothing recorded from the folder."""
    import yaml
    from typer.testing import CliRunner

    from flows.cli import app
    from tests.helpers import filled, mark_delivered

    settings_path = config_dir / "settings.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["channels"]["imap"].update({"enabled": True, "host": "127.0.0.1", "port": free_port(),
                                         "security": "plain", "password_env": "BAOCAO_IMAP_PASSWORD"})
    settings_path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("BAOCAO_IMAP_PASSWORD", "mat-khau-thu")
    data_dir = tmp_path / "data"
    ctx = open_context(config_dir, data_dir)
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "VP.xlsx").write_bytes(filled(ctx, "VP", "2021-03"))
    since = (datetime.now(TZ) - timedelta(hours=5, minutes=30)).replace(microsecond=0)  # earlier collects failed
    ctx.ledger.set_cursor("channel-problem:email", json.dumps({"message": "x", "since": since.isoformat(),
                                                               "last": since.isoformat()}))
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(data_dir), "collect",
                                      "--period", "2021-03"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1 hợp lệ" in result.output and "Traceback" not in result.output
    assert "từ chối kết nối (không có dịch vụ nào ở cổng này)" in result.output
    # down for five hours: the operator is mailed (once: the key holds when the outage began)
    (alert,) = (data_dir / "outbox" / "2021-03" / "channel_down").glob("*.eml")
    message = email.message_from_bytes(alert.read_bytes(), policy=email.policy.default)
    assert re.fullmatch(r"\[BC-CCHC 2021-03\] Đã 5 giờ 3\d phút không đọc được hộp thư của Văn phòng",
                        message["Subject"]), message["Subject"]  # the minutes the collect itself took may add
    assert message["To"] == "vanphong@snv.tuyenquang.gov.vn"
    assert ctx.ledger.message(f"channel_down:email:{since.isoformat()}") is not None
