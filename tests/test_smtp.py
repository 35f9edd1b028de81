"""SmtpBatchSender against a real aiosmtpd server on loopback, with injected faults."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterator

import pytest

from tasks.transports.mail.compose import Attachment, ComposedMessage, OutgoingMail, compose_message
from tasks.transports.mail.smtp import SendOutcome, SmtpBatchSender, SmtpSettings
from tests.servers import free_port
from tests.servers.smtp_server import TEST_PASSWORD, TEST_USER, SmtpTestServer, smtp_server

PASSWORD_ENV = "BAOCAO_TEST_SMTP_PASSWORD"
SENDER = "vanphong@snv.test"
UNITS = ["VP", "TTr", "TCBC", "CCHC", "XDCQ"]


@pytest.fixture
def server() -> Iterator[SmtpTestServer]:
    with smtp_server(auth=True) as srv:
        yield srv


@pytest.fixture
def settings(server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> SmtpSettings:
    monkeypatch.setenv(PASSWORD_ENV, TEST_PASSWORD)
    return SmtpSettings(
        host=server.host, port=server.port, security="plain", username=TEST_USER,
        password_env=PASSWORD_ENV, sender=SENDER, timeout=5,
    )


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _message(unit: str, to: tuple[str, ...] | None = None) -> ComposedMessage:
    mail = OutgoingMail(
        key=f"request:cchc-tuyen-truyen:2021-03:{unit}",
        kind="request",
        to=to or (f"{unit.lower()}@snv.test",),
        subject=f"[BC-CCHC 2021-03 {unit}] Đề nghị báo cáo kết quả tuyên truyền CCHC tháng 3/2021",
        text=f"Kính gửi {unit},\nĐề nghị gửi báo cáo.",
        html=f"<p>Kính gửi {unit},</p><p>Đề nghị gửi báo cáo.</p>",
        attachments=(Attachment(f"Mẫu báo cáo {unit}.xlsx", f"PK-{unit}".encode() + bytes(range(200))),),
        unit_code=unit,
        period="2021-03",
    )
    return compose_message(mail, SENDER)


def _batch() -> list[ComposedMessage]:
    return [_message(unit) for unit in UNITS]


def _received_ids(server: SmtpTestServer) -> list[str]:
    parsed = [email.message_from_bytes(r.data, policy=email.policy.default) for r in server.received]
    return [m["Message-ID"] for m in parsed]


def test_batch_uses_one_connection_and_delivers_everything(
    server: SmtpTestServer, settings: SmtpSettings
) -> None:
    batch = _batch()
    with SmtpBatchSender(settings, sleep=RecordingSleep()) as sender:
        outcomes = sender.send_batch(batch)

    assert [o.ok for o in outcomes] == [True] * 5
    assert [o.key for o in outcomes] == [m.mail.key for m in batch]
    assert server.connections == 1
    assert len(server.received) == 5
    for composed, received in zip(batch, server.received, strict=True):
        assert received.mail_from == SENDER
        assert received.rcpt_tos == composed.recipients
        msg = email.message_from_bytes(received.data, policy=email.policy.default)
        assert msg["Message-ID"] == composed.message_id
        assert msg["Subject"] == composed.mail.subject
        [att] = msg.iter_attachments()
        assert att.get_filename() == composed.mail.attachments[0].filename
        assert att.get_content() == composed.mail.attachments[0].content


def test_dropped_connection_reconnects_without_duplicates(
    server: SmtpTestServer, settings: SmtpSettings
) -> None:
    server.faults.drop_after = 2
    sleep = RecordingSleep()
    batch = _batch()
    with SmtpBatchSender(settings, sleep=sleep) as sender:
        outcomes = sender.send_batch(batch)

    assert all(o.ok for o in outcomes)
    assert sorted(_received_ids(server)) == sorted(m.message_id for m in batch)  # each exactly once
    assert server.connections == 3  # 2 + 2 + 1 messages
    assert sleep.delays == [1.0, 1.0]  # one retry after each drop


def test_451_is_retried_with_exponential_backoff(server: SmtpTestServer, settings: SmtpSettings) -> None:
    server.faults.fail_mail = 2
    sleep = RecordingSleep()
    with SmtpBatchSender(settings, sleep=sleep) as sender:
        [outcome] = sender.send_batch([_message("VP")])

    assert outcome.ok and outcome.error is None
    assert outcome.attempts == 3
    assert sleep.delays == [1.0, 2.0]
    assert len(server.received) == 1


def test_451_on_data_then_accept(server: SmtpTestServer, settings: SmtpSettings) -> None:
    server.faults.fail_data = 1
    sleep = RecordingSleep()
    with SmtpBatchSender(settings, sleep=sleep) as sender:
        outcomes = sender.send_batch(_batch()[:2])
    assert [o.ok for o in outcomes] == [True, True]
    assert sleep.delays == [1.0]
    assert len(server.received) == 2


def test_persistent_4xx_gives_up_after_max_retries(server: SmtpTestServer, settings: SmtpSettings) -> None:
    server.faults.fail_mail = 100
    sleep = RecordingSleep()
    with SmtpBatchSender(settings, sleep=sleep) as sender:
        [outcome] = sender.send_batch([_message("VP")])
    assert not outcome.ok and not outcome.permanent
    assert outcome.attempts == settings.max_retries + 1
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0]
    assert "451" in (outcome.error or "")


def test_550_recipient_fails_only_that_message(server: SmtpTestServer, settings: SmtpSettings) -> None:
    server.faults.reject_rcpt = {"khongton@snv.test"}
    batch = [
        _message("VP"),
        _message("TTr", to=("khongton@snv.test",)),
        _message("TCBC", to=("tcbc@snv.test", "khongton@snv.test")),
        _message("CCHC"),
    ]
    with SmtpBatchSender(settings, sleep=RecordingSleep()) as sender:
        ok_first, rejected, partial, ok_last = sender.send_batch(batch)

    assert ok_first.ok and ok_last.ok
    assert not rejected.ok and rejected.permanent
    assert "khongton@snv.test" in (rejected.error or "") and "550" in (rejected.error or "")
    assert partial.ok and not partial.permanent
    assert partial.refused == ["khongton@snv.test"]
    assert "khongton@snv.test" in (partial.error or "")
    assert server.connections == 1
    assert [r.rcpt_tos for r in server.received] == [["vp@snv.test"], ["tcbc@snv.test"], ["cchc@snv.test"]]


def test_plain_security_requires_loopback() -> None:
    with pytest.raises(ValueError, match="plain"):
        SmtpSettings(host="smtp.gmail.com", port=25, security="plain")
    SmtpSettings(host="localhost", port=25, security="plain")
    SmtpSettings(host="::1", port=25, security="plain")


def test_wrong_password_never_leaks_and_stops_batch(
    server: SmtpTestServer, settings: SmtpSettings, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "Sai-Mat-Khau-XYZ-987"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    sleep = RecordingSleep()
    with caplog.at_level(logging.DEBUG), SmtpBatchSender(settings, sleep=sleep) as sender:
        outcomes = sender.send_batch(_batch()[:3])

    assert [o.ok for o in outcomes] == [False, False, False]
    assert "Đăng nhập SMTP thất bại" in (outcomes[0].error or "")
    assert "535" in (outcomes[0].error or "")
    assert sleep.delays == []  # a rejected password is not retried (would lock the account)
    assert server.connections == 1 and server.received == []
    for outcome in outcomes:
        assert wrong not in repr(outcome)
    assert wrong not in caplog.text


def test_missing_password_is_reported_clearly(
    server: SmtpTestServer, settings: SmtpSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    with SmtpBatchSender(settings, sleep=RecordingSleep()) as sender:
        [outcome] = sender.send_batch([_message("VP")])
    assert not outcome.ok
    assert PASSWORD_ENV in (outcome.error or "")
    assert server.connections == 0


def test_unreachable_server_retries_then_fails_rest_of_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, TEST_PASSWORD)
    settings = SmtpSettings(
        host="127.0.0.1", port=free_port(), security="plain", username=TEST_USER,
        password_env=PASSWORD_ENV, sender=SENDER, timeout=5, max_retries=2,
    )
    sleep = RecordingSleep()
    with SmtpBatchSender(settings, sleep=sleep) as sender:
        outcomes: list[SendOutcome] = sender.send_batch(_batch()[:3])
    assert [o.ok for o in outcomes] == [False, False, False]
    assert not any(o.permanent for o in outcomes)
    assert "từ chối kết nối" in (outcomes[0].error or "")
    assert sleep.delays == [1.0, 2.0]  # only the first message was retried; the rest were not attempted
    assert outcomes[1].attempts == 0 and "Chưa gửi" in (outcomes[1].error or "")
