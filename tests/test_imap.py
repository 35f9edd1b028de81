"""ImapMailbox / watch against a real Dovecot on loopback."""

from __future__ import annotations

import imaplib
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest

from tasks.transports.mail.compose import Attachment, OutgoingMail, compose_message
from tasks.transports.mail.imap import PROCESSED_KEYWORD, ImapLoginError, ImapMailbox, ImapSettings, IncomingMail, watch
from tests.servers.dovecot import DOVECOT_BIN, DovecotServer, dovecot_available, dovecot_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not dovecot_available(), reason=f"{DOVECOT_BIN} is not installed (run scripts/ensure-dovecot.sh)"
    ),
]

PASSWORD_ENV = "BAOCAO_TEST_IMAP_PASSWORD"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WAIT = 20.0  # upper bound for background events; tests never assert on speed


@pytest.fixture
def server() -> Iterator[DovecotServer]:
    with dovecot_server() as srv:
        yield srv


@pytest.fixture
def settings(server: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> ImapSettings:
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    return ImapSettings(
        host=server.host, port=server.port, security="plain", username=server.user,
        password_env=PASSWORD_ENV, timeout=10,
    )


def _raw(sender: str, subject: str, attachments: list[tuple[str, bytes, str]] = (), body: str = "") -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = sender
    msg["To"] = "vanphong@snv.test"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 15 Mar 2021 09:30:00 +0700"
    msg["Message-ID"] = f"<{abs(hash((sender, subject)))}@unit.test>"
    msg.set_content(body or "Kính gửi Văn phòng Sở, đơn vị gửi báo cáo.")
    for name, content, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _sample_mailbox(server: DovecotServer) -> list[bytes]:
    raws = [
        _raw("Phòng CCHC <CCHC@SNV.Test>", "Báo cáo CCHC tháng 3/2021",
             [("Báo cáo CCHC tháng 3-2021.xlsx", b"PK\x03\x04cchc", XLSX)]),
        _raw("Người lạ <la@example.org>", "Quảng cáo", []),
        _raw("vp@snv.test", "Không có tệp đính kèm", []),
        _raw("tccb@snv.test", "Hai tệp", [
            ("Biểu 1.xlsx", b"PK1", XLSX),
            ("Giải trình.pdf", b"%PDF-1", "application/pdf"),
        ]),
    ]
    # a reply built by our own composer: RFC 2231 filename, base64 bodies
    composed = compose_message(
        OutgoingMail(
            key="delivery:x", kind="delivery", to=("vanphong@snv.test",),
            subject="[BC-CCHC 2021-03 TĐKT] Ban Thi đua - Khen thưởng gửi báo cáo",
            text="Gửi kèm báo cáo.", html="<p>Gửi kèm báo cáo.</p>",
            attachments=(Attachment("Báo cáo TĐKT tháng 3.xlsx", b"PK\x03\x04tdkt", XLSX),),
        ),
        "tdkt@snv.test", sender_name="Ban Thi đua - Khen thưởng",
    )
    raws.append(composed.data)
    for raw in raws:
        server.append(raw)
    return raws


def test_fetch_new_decodes_senders_subjects_and_attachments(
    server: DovecotServer, settings: ImapSettings
) -> None:
    raws = _sample_mailbox(server)
    with ImapMailbox(settings) as box:
        mails = box.fetch_new()

    assert [m.uid for m in mails] == [1, 2, 3, 4, 5]
    assert [m.sender for m in mails] == [
        "cchc@snv.test", "la@example.org", "vp@snv.test", "tccb@snv.test", "tdkt@snv.test",
    ]
    assert mails[0].subject == "Báo cáo CCHC tháng 3/2021"
    assert mails[4].subject == "[BC-CCHC 2021-03 TĐKT] Ban Thi đua - Khen thưởng gửi báo cáo"
    assert mails[0].attachments == (Attachment("Báo cáo CCHC tháng 3-2021.xlsx", b"PK\x03\x04cchc", XLSX),)
    assert mails[1].attachments == () and mails[2].attachments == ()
    assert [(a.filename, a.content) for a in mails[3].attachments] == [
        ("Biểu 1.xlsx", b"PK1"), ("Giải trình.pdf", b"%PDF-1"),
    ]
    assert [(a.filename, a.content) for a in mails[4].attachments] == [
        ("Báo cáo TĐKT tháng 3.xlsx", b"PK\x03\x04tdkt"),
    ]
    assert all(m.received_at.tzinfo is not None for m in mails)
    assert all(m.uidvalidity == box.uidvalidity > 0 for m in mails)
    assert all(m.message_id.startswith("<") for m in mails)
    assert [m.raw.replace(b"\r\n", b"\n") for m in mails] == [r.replace(b"\r\n", b"\n") for r in raws]


def test_incremental_fetch_after_last_uid(server: DovecotServer, settings: ImapSettings) -> None:
    _sample_mailbox(server)
    with ImapMailbox(settings) as box:
        first = box.fetch_new()
        last_uid = first[-1].uid
        assert box.fetch_new(after_uid=last_uid, uidvalidity=box.uidvalidity) == []
        server.append(_raw("xdcq@snv.test", "Báo cáo XDCQ", [("XDCQ.xlsx", b"PKx", XLSX)]))
        server.append(_raw("ccvc@snv.test", "Báo cáo CCVC", []))
        new = box.fetch_new(after_uid=last_uid, uidvalidity=box.uidvalidity)

    assert [(m.uid, m.sender) for m in new] == [(6, "xdcq@snv.test"), (7, "ccvc@snv.test")]


def test_changed_uidvalidity_refetches_all_unprocessed(server: DovecotServer, settings: ImapSettings) -> None:
    _sample_mailbox(server)
    with ImapMailbox(settings) as box:
        box.mark_processed([1])
        mails = box.fetch_new(after_uid=5, uidvalidity=box.uidvalidity + 1)
    assert [m.uid for m in mails] == [2, 3, 4, 5]


def test_mark_processed_flags_and_never_deletes(server: DovecotServer, settings: ImapSettings) -> None:
    _sample_mailbox(server)
    with ImapMailbox(settings) as box:
        box.mark_processed([1, 4])
        remaining = box.fetch_new(0)
    assert [m.uid for m in remaining] == [2, 3, 5]
    assert server.count("INBOX") == 5

    conn = server.connect()
    try:
        conn.select("INBOX", readonly=True)
        _, data = conn.uid("FETCH", "1:5", "(FLAGS)")
    finally:
        conn.logout()
    flags = {int(line.split(b"UID ")[1].split()[0]): line for line in data if isinstance(line, bytes)}
    assert PROCESSED_KEYWORD.encode() in flags[1] and b"\\Seen" in flags[1]
    assert PROCESSED_KEYWORD.encode() not in flags[2]


def test_mark_processed_moves_to_folder(server: DovecotServer, settings: ImapSettings) -> None:
    _sample_mailbox(server)
    moved = ImapSettings(**{**settings.__dict__, "processed_folder": "Đã xử lý"})
    with ImapMailbox(moved) as box:
        box.mark_processed([1, 2])
        assert [m.uid for m in box.fetch_new(0)] == [3, 4, 5]
    assert server.count("INBOX") == 3
    assert server.count("Đã xử lý") == 2  # 5 messages in total: nothing deleted


def test_idle_wait_sees_mail_appended_from_another_connection(
    server: DovecotServer, settings: ImapSettings
) -> None:
    with ImapMailbox(settings) as box:
        assert box.fetch_new() == []
        assert box.idle_wait(timeout=0.5) is False  # quiet mailbox: returns at the timeout

        def deliver() -> None:
            time.sleep(0.3)
            server.append(_raw("vp@snv.test", "Báo cáo VP", []))

        sender = threading.Thread(target=deliver)
        sender.start()
        arrived = box.idle_wait(timeout=WAIT)
        sender.join()
        assert arrived is True
        assert [m.sender for m in box.fetch_new(0)] == ["vp@snv.test"]


class Collector:
    """A watch() handler that records deliveries and optionally misbehaves on the first call."""

    def __init__(self, on_first: object = None) -> None:
        self.batches: list[list[IncomingMail]] = []
        self.on_first = on_first
        self.changed = threading.Condition()

    def __call__(self, mails: list[IncomingMail]) -> int | None:
        with self.changed:
            self.batches.append(mails)
            self.changed.notify_all()
        if len(self.batches) == 1 and callable(self.on_first):
            self.on_first()
        return mails[-1].uid

    def wait_for(self, count: int) -> list[str]:
        with self.changed:
            self.changed.wait_for(lambda: sum(len(b) for b in self.batches) >= count, timeout=WAIT)
            return [m.subject for b in self.batches for m in b]


def _run_watch(settings: ImapSettings, collector: Collector) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=watch, args=(settings, collector, stop), kwargs={"idle_timeout": 2, "reconnect_backoff": 0.1},
        daemon=True,
    )
    thread.start()
    return thread, stop


def test_watch_reconnects_after_session_is_cut(server: DovecotServer, settings: ImapSettings) -> None:
    def cut_and_deliver() -> None:
        server.kick_sessions()  # the watcher's session dies right after its fetch
        server.append(_raw("ttr@snv.test", "Báo cáo Thanh tra", []))

    server.append(_raw("vp@snv.test", "Báo cáo VP", []))
    collector = Collector(on_first=cut_and_deliver)
    thread, stop = _run_watch(settings, collector)
    try:
        subjects = collector.wait_for(2)
    finally:
        stop.set()
        thread.join(WAIT)
    assert subjects == ["Báo cáo VP", "Báo cáo Thanh tra"]  # each exactly once, in order
    assert not thread.is_alive()
    assert server.log_text.count(f"Login: user=<{server.user}>") >= 2  # a second session was opened


def test_watch_survives_server_restart(server: DovecotServer, settings: ImapSettings) -> None:
    collector = Collector()
    thread, stop = _run_watch(settings, collector)
    try:
        server.append(_raw("vp@snv.test", "Trước khi khởi động lại", []))
        assert collector.wait_for(1) == ["Trước khi khởi động lại"]
        server.restart()
        server.append(_raw("vp@snv.test", "Sau khi khởi động lại", []))
        subjects = collector.wait_for(2)
    finally:
        stop.set()
        thread.join(WAIT)
    assert subjects == ["Trước khi khởi động lại", "Sau khi khởi động lại"]


def test_wrong_password_raises_without_leaking(
    server: DovecotServer, settings: ImapSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "Sai-Mat-Khau-IMAP-42")
    with pytest.raises(ImapLoginError) as info:
        watch(settings, lambda mails: None, threading.Event(), idle_timeout=1)
    assert "Sai-Mat-Khau-IMAP-42" not in str(info.value)
    assert "Đăng nhập IMAP thất bại" in str(info.value)


def test_plain_imap_only_on_loopback() -> None:
    with pytest.raises(ValueError, match="plain"):
        ImapSettings(host="imap.gmail.com", port=143, security="plain")
    assert isinstance(imaplib.IMAP4.abort("x"), Exception)


def test_watch_does_not_spin_when_handler_keeps_mail_pending(
    server: DovecotServer, settings: ImapSettings
) -> None:
    calls: list[list[int]] = []
    changed = threading.Condition()

    def keep_pending(mails: list[IncomingMail]) -> None:
        with changed:
            calls.append([m.uid for m in mails])
            changed.notify_all()
        return None  # e.g. the ledger was unavailable: nothing stored, cursor not advanced

    server.append(_raw("vp@snv.test", "Một", []))
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(settings, keep_pending, stop), kwargs={"idle_timeout": 2})
    thread.start()
    try:
        with changed:
            assert changed.wait_for(lambda: len(calls) >= 1, timeout=WAIT)
        server.append(_raw("vp@snv.test", "Hai", []))
        with changed:
            assert changed.wait_for(lambda: len(calls) >= 2, timeout=WAIT)
            seen = list(calls)
    finally:
        stop.set()
        thread.join(WAIT)
    assert seen == [[1], [1, 2]]  # redelivered with the new one, not re-sent in a busy loop


def test_watch_propagates_handler_errors(server: DovecotServer, settings: ImapSettings) -> None:
    server.append(_raw("vp@snv.test", "Một", []))

    def broken(mails: list[IncomingMail]) -> int:
        raise RuntimeError("ledger is read-only")

    with pytest.raises(RuntimeError, match="ledger is read-only"):
        watch(settings, broken, threading.Event(), idle_timeout=1)


def test_watch_stops_with_one_line_on_a_problem_retrying_cannot_fix(
    server: DovecotServer, settings: ImapSettings
) -> None:
    """A missing folder used to be retried forever with backoff; it is configuration, so watch raises it."""
    from dataclasses import replace

    from tasks.transports.mail.errors import MailTransportError

    failures: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            watch(replace(settings, folder="Không có"), lambda mails: None, stop, idle_timeout=1,
                  reconnect_backoff=0.1)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(WAIT)
    stop.set()
    thread.join(WAIT)
    assert len(failures) == 1 and isinstance(failures[0], MailTransportError)
    exc = failures[0]
    assert (exc.cause, exc.transient) == ("protocol", False)
    assert exc.message.startswith(f"Máy chủ IMAP 127.0.0.1:{server.port} báo lỗi khi mở thư mục 'Không có': ")
    assert "\n" not in exc.message


def test_watch_retries_a_refused_connection_until_the_server_is_back(
    server: DovecotServer, settings: ImapSettings, caplog: pytest.LogCaptureFixture
) -> None:
    server.stop()
    seen: list[str] = []
    got = threading.Event()

    def handle(mails: list[IncomingMail]) -> int:
        seen.extend(m.subject for m in mails)
        got.set()
        return mails[-1].uid

    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(settings, handle, stop),
                              kwargs={"idle_timeout": 1, "reconnect_backoff": 0.2})
    with caplog.at_level("WARNING"):
        thread.start()
        try:
            time.sleep(1)
            server.start()
            server.append(_raw("vp@snv.test", "Sau khi máy chủ chạy lại", []))
            assert got.wait(WAIT)
        finally:
            stop.set()
            thread.join(WAIT)
    assert seen == ["Sau khi máy chủ chạy lại"]
    assert (f"Máy chủ IMAP 127.0.0.1:{server.port} từ chối kết nối (không có dịch vụ nào ở cổng này); kiểm tra "
            "host, port và máy chủ thư có đang chạy không. Thử kết nối lại sau") in caplog.text
