"""The email channel end to end: requests, rejections and delivery over a real SMTP server (aiosmtpd),
submissions from a real IMAP server (Dovecot), through tasks.collect / sending / channels.email and the
Prefect flows. Everything runs on 127.0.0.1; no test asserts on speed."""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.watchers.mailbox import watch_mailbox
from tasks.channels.email import EmailChannel
from tasks.collect import collect_from, process_documents
from tasks.consolidate import build_consolidation
from tasks.context import Context, open_context
from tasks.deliver import delivery_mails
from tasks.intake import parse_grid, read_grid
from tasks.outputs import write_outputs
from tasks.periods import TZ
from tasks.remind import overdue_mails, reminder_mails
from tasks.render.vietnamese_dates import format_number
from tasks.replies import rejection_mails
from tasks.request import request_mails
from tasks.sending import dispatch
from tasks.status import quarantine_rows, status_rows
from tasks.transports.mail.compose import compose_message
from tasks.transports.mail.errors import MailTransportError
from tasks.transports.mail.imap import PROCESSED_KEYWORD, ImapMailbox
from tasks.workbook import template_grid, write_template_xlsx
from tests.helpers import approve, filled, folder_documents
from tests.servers.dovecot import DOVECOT_BIN, DovecotServer, dovecot_available, dovecot_server
from tests.servers.smtp_server import TEST_PASSWORD, TEST_USER, SmtpTestServer, smtp_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dovecot_available(), reason=f"{DOVECOT_BIN} is not installed"),
]

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2021-03"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WAIT = 20.0  # upper bound for background work; never a speed assertion
CODES = ["VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "TĐKT", "BTG", "VTLT"]
NO_ATTACHMENT = "Thư không có tệp bảng tính báo cáo đính kèm"


@dataclass
class Mail:
    """Everything a test needs: both servers, the edited config and a context on it."""

    smtp: SmtpTestServer
    imap: DovecotServer
    config_dir: Path
    data_dir: Path
    ctx: Context

    def email_of(self, code: str) -> str:
        unit = self.ctx.cfg.unit(code)
        assert unit is not None
        return unit.emails[0]

    def received(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(r.data, policy=email.policy.default) for r in self.smtp.received]

    def fresh_ctx(self) -> Context:
        return open_context(self.config_dir, self.data_dir)


@pytest.fixture
def mail(config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mail]:
    with smtp_server(auth=True) as smtp, dovecot_server() as imap:
        units_path = config_dir / "units.yaml"
        units_path.write_text(units_path.read_text(encoding="utf-8").replace("channel: folder", "channel: email"),
                              encoding="utf-8")
        settings_path = config_dir / "settings.yaml"
        settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
        settings["channels"]["smtp"] = {"enabled": True, "host": smtp.host, "port": smtp.port, "security": "plain",
                                        "username": TEST_USER, "password_env": "BAOCAO_SMTP_PASSWORD"}
        settings["channels"]["imap"] = {"enabled": True, "host": imap.host, "port": imap.port, "security": "plain",
                                        "username": imap.user, "password_env": "BAOCAO_IMAP_PASSWORD",
                                        "folder": "INBOX"}
        settings_path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
        monkeypatch.setenv("BAOCAO_SMTP_PASSWORD", TEST_PASSWORD)
        monkeypatch.setenv("BAOCAO_IMAP_PASSWORD", imap.password)
        data_dir = tmp_path / "data"
        yield Mail(smtp, imap, config_dir, data_dir, open_context(config_dir, data_dir))


def reply(m: Mail, code: str | None, *, sender: str | None = None, tag: str | None = None,
          files: list[tuple[str, bytes]] | None = None, msgid: str | None = None) -> bytes:
    """A unit's answer to its request mail, the way a mail client builds it."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender or m.email_of(code or "VP")
    msg["To"] = m.ctx.cfg.settings.organisation.office_email
    subject_tag = "" if tag == "" else f"[BC-CCHC {PERIOD} {tag or code}] "
    msg["Subject"] = f"Re: {subject_tag}Đề nghị báo cáo tháng 3/2021"
    msg["Date"] = "Mon, 15 Mar 2021 09:30:00 +0700"
    msg["Message-ID"] = msgid or f"<{os.urandom(6).hex()}@donvi.test>"
    msg.set_content("Kính gửi Văn phòng Sở, đơn vị gửi báo cáo (tệp đính kèm).")
    for name, data in files or []:
        msg.add_attachment(data, maintype="application", subtype=XLSX.split("/")[1], filename=name)
    return msg.as_bytes()


def deliver(m: Mail, raw: bytes, when: str = "2021-03-15T09:30") -> None:
    """APPEND to the Office INBOX with the arrival time set, as a delivery agent would."""
    stamp = datetime.fromisoformat(when).replace(tzinfo=TZ)
    conn = m.imap.connect()
    try:
        typ, data = conn.append("INBOX", None, imaplib.Time2Internaldate(stamp), raw)
        assert typ == "OK", data
    finally:
        conn.logout()


def workbook(m: Mail, code: str, **changes: Any) -> tuple[str, bytes]:
    return f"BC-CCHC-{PERIOD}-{code}.xlsx", filled(m.ctx, code, PERIOD, **changes)


def body_text(msg: email.message.EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return part.get_content()


def attachments(msg: email.message.EmailMessage) -> list[tuple[str, bytes]]:
    return [(a.get_filename(), a.get_content()) for a in msg.iter_attachments()]


def subs(m: Mail) -> list[Any]:
    return m.ctx.ledger.submissions(m.ctx.cfg.report.id, PERIOD)


# ------------------------------------------------------------------ outbound: requests


def test_request_batch_over_one_connection_idempotent_and_resend(mail: Mail, prefect_engine: None) -> None:
    from flows.cycle import request_reports

    m = mail
    result = request_reports(PERIOD, str(m.config_dir), str(m.data_dir))
    assert len(result["sent"]) == 9 and result["failed"] == [] and result["skipped"] == []
    assert m.smtp.connections == 1
    received = m.received()
    assert len(received) == 9

    period = m.ctx.period(PERIOD)
    deadline = m.ctx.unit_deadline(period)
    by_unit = {}
    for msg, env in zip(received, m.smtp.received, strict=True):
        tag = msg["Subject"].split("]")[0] + "]"
        by_unit[tag.removeprefix(f"[BC-CCHC {PERIOD} ").rstrip("]")] = (msg, env)
    assert sorted(by_unit) == sorted(CODES)
    for code, (msg, env) in by_unit.items():
        unit = m.ctx.cfg.unit(code)
        assert env.rcpt_tos == list(unit.emails)
        assert msg["Subject"].startswith(f"[BC-CCHC 2021-03 {code}] Đề nghị báo cáo")
        text, html = body_text(msg, "plain"), body_text(msg, "html")
        assert "ngày 16 tháng 3 năm 2021" in text and "ngày 16 tháng 3 năm 2021" in html
        assert unit.name in text
        [(name, data)] = attachments(msg)
        assert name == f"BC-CCHC-2021-03-{code}.xlsx"
        grid = read_grid(data, name)
        expected = template_grid(m.ctx.cfg.report, unit, period, deadline)
        assert grid[:7] == [[c if c is not None else "" for c in row] for row in expected[:7]]
        sheet = parse_grid(grid)
        assert (sheet.unit_code, sheet.period_text) == (code, PERIOD)
        record = m.ctx.ledger.message(f"request:cchc-tuyen-truyen:{PERIOD}:{code}")
        assert record is not None and record.status == "sent"
        assert record.message_id == msg["Message-ID"]
    # Vietnamese file name in RFC 2231 form on the wire
    raw = by_unit["TĐKT"][1].data
    assert b"filename*=utf-8''BC-CCHC-2021-03-T%C4%90KT.xlsx" in raw

    # run again: nothing goes out twice, no connection opened
    again = dispatch(m.ctx, request_mails(m.ctx, period, m.ctx.cfg.active_units))
    assert again.sent == [] and len(again.skipped) == 9
    assert len(m.smtp.received) == 9 and m.smtp.connections == 1
    # the operator asks to resend: everything again, new Message-IDs in the ledger
    resent = dispatch(m.ctx, request_mails(m.ctx, period, m.ctx.cfg.active_units), resend=True)
    assert len(resent.sent) == 9 and m.smtp.connections == 2
    assert len(m.smtp.received) == 18
    last = m.received()[-1]
    code = last["Subject"].split("]")[0].rsplit(" ", 1)[1]
    assert m.ctx.ledger.message(f"request:cchc-tuyen-truyen:{PERIOD}:{code}").message_id == last["Message-ID"]


def test_request_faults_drop_451_and_550(mail: Mail) -> None:
    m = mail
    period = m.ctx.period(PERIOD)
    m.smtp.faults.drop_after = 3  # each connection dies after 3 accepted messages
    m.smtp.faults.reject_rcpt = {m.email_of("BTG")}
    report = dispatch(m.ctx, request_mails(m.ctx, period, m.ctx.cfg.active_units))

    assert [k for k, _ in report.failed] == [f"request:cchc-tuyen-truyen:{PERIOD}:BTG"]
    assert "550" in report.failed[0][1] and m.email_of("BTG") in report.failed[0][1]
    assert len(report.sent) == 8
    ids = [msg["Message-ID"] for msg in m.received()]
    assert len(ids) == 8 == len(set(ids))  # every other message exactly once despite the drops
    assert m.smtp.connections == 3
    btg = m.ctx.ledger.message(f"request:cchc-tuyen-truyen:{PERIOD}:BTG")
    assert btg.status == "failed" and "550" in btg.error

    # the address is fixed on the server side; a 451 comes first, then the retry is accepted
    m.smtp.faults.reject_rcpt = set()
    m.smtp.faults.drop_after = None
    m.smtp.faults.fail_mail = 1
    again = dispatch(m.ctx, request_mails(m.ctx, period, m.ctx.cfg.active_units))
    assert again.sent == [f"request:cchc-tuyen-truyen:{PERIOD}:BTG"] and again.failed == []
    assert len(again.skipped) == 8 and len(m.smtp.received) == 9
    btg = m.ctx.ledger.message(f"request:cchc-tuyen-truyen:{PERIOD}:BTG")
    assert btg.status == "sent"
    # the retry sent the outbox copy of the first attempt, byte for byte (an SMTP outage is not a copy per collect)
    outbox = m.data_dir / "outbox" / PERIOD / "request"
    assert [p.name for p in outbox.glob("*_BTG*.eml")] == ["request_cchc-tuyen-truyen_2021-03_BTG.eml"]
    assert btg.eml_path == str(outbox / "request_cchc-tuyen-truyen_2021-03_BTG.eml")
    sent = m.smtp.received[-1].data
    assert sent.replace(b"\r\n", b"\n") == (outbox / "request_cchc-tuyen-truyen_2021-03_BTG.eml").read_bytes() \
        .replace(b"\r\n", b"\n")

    # refused again, then changed before it goes (the Office corrected something): a new copy, the one sent
    m.smtp.faults.reject_rcpt = {m.email_of("CCVC")}
    (ccvc,) = request_mails(m.ctx, period, [m.ctx.cfg.unit("CCVC")])
    assert dispatch(m.ctx, [replace(ccvc, key=ccvc.key + ":2")]).failed
    m.smtp.faults.reject_rcpt = set()
    fixed = replace(ccvc, key=ccvc.key + ":2", subject=ccvc.subject + " (đã sửa)")
    assert dispatch(m.ctx, [fixed]).sent == [fixed.key]
    copies = sorted(outbox.glob("*_CCVC_2*.eml"))
    assert [p.name for p in copies] == ["request_cchc-tuyen-truyen_2021-03_CCVC_2.2.eml",
                                        "request_cchc-tuyen-truyen_2021-03_CCVC_2.eml"]
    assert m.received()[-1]["Subject"].endswith("(đã sửa)")
    assert m.smtp.received[-1].data.replace(b"\r\n", b"\n") == copies[0].read_bytes().replace(b"\r\n", b"\n")


# ------------------------------------------------------------------ inbound: replies


def test_replies_accept_quarantine_reject_and_answer(mail: Mail) -> None:
    m = mail
    period = m.ctx.period(PERIOD)
    deliver(m, reply(m, "VP", files=[workbook(m, "VP")]))
    deliver(m, reply(m, "TTr", sender="nguoi.la@example.org", files=[workbook(m, "TTr")]))
    deliver(m, reply(m, "TCBC", tag="CCHC", files=[workbook(m, "TCBC")]))
    deliver(m, reply(m, "CCHC"))
    deliver(m, reply(m, "XDCQ", files=[("XDCQ lần 1.xlsx", filled(m.ctx, "XDCQ", PERIOD, W01=2)),
                                        ("XDCQ lần 2.xlsx", filled(m.ctx, "XDCQ", PERIOD, W01=3))]))
    deliver(m, reply(m, "TĐKT", files=[workbook(m, "TĐKT", H01=1, H02=0, H03=-1, W01="nhiều")]))

    outcomes = collect_from(m.ctx, period, EmailChannel(m.ctx))
    status = [(o.unit_code, o.status) for o in outcomes]
    assert status == [("VP", "accepted"), ("TTr", "quarantined"), ("TCBC", "quarantined"),
                      ("CCHC", "rejected"), ("XDCQ", "accepted"), ("XDCQ", "accepted"), ("TĐKT", "rejected")]
    assert "nguoi.la@example.org" in outcomes[1].reason
    assert "CCHC" in outcomes[2].reason and "TCBC" in outcomes[2].reason
    assert outcomes[3].errors[0]["message"].startswith(NO_ATTACHMENT)
    tdkt_errors = [e["message"] for e in outcomes[6].errors]
    assert len(tdkt_errors) >= 3

    # quarantined mail is kept and listed for the operator, never counted
    listed = quarantine_rows(m.ctx, period)
    assert {(q["sender"], q["status"]) for q in listed} == {("nguoi.la@example.org", "quarantined"),
                                                           (m.email_of("TCBC"), "quarantined")}
    rows = {r["unit"]: r["status"] for r in status_rows(m.ctx, period)}
    assert rows["TTr"] == "missing" and rows["TCBC"] == "missing"
    assert rows["VP"] == "on_time" and rows["XDCQ"] == "on_time" and rows["CCHC"] == "rejected"
    xdcq = [(s.filename, s.status) for s in subs(m) if s.unit_code == "XDCQ"]
    assert xdcq == [("XDCQ lần 1.xlsx", "superseded"), ("XDCQ lần 2.xlsx", "accepted")]
    assert m.imap.count("INBOX") == 6  # nothing deleted

    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["--config", str(m.config_dir), "--data-dir", str(m.data_dir), "status",
                                   "--period", PERIOD, "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.stdout)
    assert {q["sender"] for q in shown["quarantined"]} == {"nguoi.la@example.org", m.email_of("TCBC")}

    # rejection replies: to the sender, every error listed, the workbook attached again
    report = dispatch(m.ctx, rejection_mails(m.ctx, outcomes))
    assert len(report.sent) == 2 and report.failed == []
    by_rcpt = {tuple(r.rcpt_tos): email.message_from_bytes(r.data, policy=email.policy.default)
               for r in m.smtp.received}
    cchc = by_rcpt[(m.email_of("CCHC"),)]
    assert cchc["Subject"].startswith("[BC-CCHC 2021-03 CCHC]") and "chưa hợp lệ" in cchc["Subject"]
    assert NO_ATTACHMENT in body_text(cchc, "plain")
    [(name, data)] = attachments(cchc)
    assert name == "BC-CCHC-2021-03-CCHC.xlsx" and parse_grid(read_grid(data, name)).unit_code == "CCHC"
    tdkt = by_rcpt[(m.email_of("TĐKT"),)]
    text, html = body_text(tdkt, "plain"), body_text(tdkt, "html")
    for message in tdkt_errors:
        assert message in text
    assert len(attachments(tdkt)) == 1
    assert "ngày 16 tháng 3 năm 2021" in html
    # the same outcomes answered again: nothing sent twice
    assert dispatch(m.ctx, rejection_mails(m.ctx, outcomes)).sent == []

    # collecting again finds nothing new
    assert collect_from(m.ctx, period, EmailChannel(m.ctx)) == []
    assert len(subs(m)) == 7


def test_file_without_unit_code_from_a_contact_is_answered(mail: Mail) -> None:
    m = mail
    period = m.ctx.period(PERIOD)
    unit = m.ctx.cfg.unit("VTLT")
    grid = template_grid(m.ctx.cfg.report, unit, period, m.ctx.unit_deadline(period))
    next(row for row in grid if row[0] == "Mã đơn vị")[1] = None  # the unit cleared the cell, no tag either
    deliver(m, reply(m, "VTLT", tag="", files=[("bao cao.xlsx", write_template_xlsx(grid, m.ctx.cfg.report))]))
    [outcome] = collect_from(m.ctx, period, EmailChannel(m.ctx))
    assert (outcome.unit_code, outcome.status) == (None, "rejected")
    assert [q["sender"] for q in quarantine_rows(m.ctx, period)] == [m.email_of("VTLT")]  # listed, not counted
    report = dispatch(m.ctx, rejection_mails(m.ctx, [outcome]))
    assert len(report.sent) == 1
    [answer] = m.received()
    assert [a.addr_spec for a in answer["To"].addresses] == [m.email_of("VTLT")]
    assert attachments(answer)[0][0] == "BC-CCHC-2021-03-VTLT.xlsx"
    for e in outcome.errors:
        assert e["message"] in body_text(answer, "plain")


def out_of_office(m: Mail, code: str, about: str) -> bytes:
    """An RFC 3834 auto-reply from a unit contact's mailbox, answering one of baocao's mails."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = m.email_of(code)
    msg["To"] = m.ctx.cfg.settings.organisation.office_email
    msg["Subject"] = f"Tự động trả lời: {about}"
    msg["Date"] = "Mon, 15 Mar 2021 09:31:00 +0700"
    msg["Message-ID"] = f"<vang-mat.{code}@donvi.test>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("Tôi đang nghỉ phép đến hết ngày 19/3/2021, sẽ trả lời thư khi trở lại cơ quan.")
    return msg.as_bytes()


def uids_where(m: Mail, criterion: str) -> list[bytes]:
    """UIDs in INBOX matching an IMAP SEARCH criterion, read-only (nothing is flagged or deleted)."""
    conn = m.imap.connect()
    try:
        conn.select("INBOX", readonly=True)
        _, data = conn.uid("SEARCH", criterion)
    finally:
        conn.logout()
    return data[0].split()


def unmarked(m: Mail) -> list[bytes]:
    return uids_where(m, f"UNKEYWORD {PROCESSED_KEYWORD}")


def ignored_audit(m: Mail) -> dict[str, str]:
    return {e.entity_id: e.detail["reason"] for e in m.ctx.ledger.audit_events("mail") if e.action == "ignored"}


def test_own_mail_and_auto_replies_are_not_reports(mail: Mail) -> None:
    """Shipped config: the Office address, the IMAP account and VP's contact are one mailbox."""
    m = mail
    period = m.ctx.period(PERIOD)
    office = m.ctx.cfg.settings.organisation
    assert m.email_of("VP") == office.office_email
    [request] = request_mails(m.ctx, period, [m.ctx.cfg.unit("VP")])
    own = compose_message(request, office.office_email, office.office_name)  # e.g. its Bcc copy to the Office
    deliver(m, own.data)
    # the same message after a relay dropped the X- and Auto-Submitted headers: its Message-ID is still ours
    stripped = b"\r\n".join(line for line in own.data.split(b"\r\n")
                             if not line.lower().startswith((b"x-baocao-", b"auto-submitted:")))
    stripped_id = f"<baocao.request.{os.urandom(8).hex()}@snv.tuyenquang.gov.vn>"
    stripped = stripped.replace(own.message_id.encode(), stripped_id.encode())
    deliver(m, stripped)
    subject = email.message_from_bytes(own.data, policy=email.policy.default)["Subject"]
    deliver(m, out_of_office(m, "TTr", subject))
    # genuine reports next to them: VP from the shared mailbox, TTr saying explicitly it is not automatic
    deliver(m, reply(m, "VP", files=[workbook(m, "VP")]))
    ttr = reply(m, "TTr", files=[workbook(m, "TTr")]).replace(b"\r\nSubject:", b"\r\nAuto-Submitted: no\r\nSubject:", 1)
    assert b"\r\nAuto-Submitted: no\r\n" in ttr
    deliver(m, ttr)

    outcomes = collect_from(m.ctx, period, EmailChannel(m.ctx))
    assert [(o.unit_code, o.status) for o in outcomes] == [("VP", "accepted"), ("TTr", "accepted")]
    assert sorted((s.unit_code, s.status) for s in subs(m)) == [("TTr", "accepted"), ("VP", "accepted")]
    audit = ignored_audit(m)
    assert sorted(audit) == sorted([own.message_id, stripped_id, "<vang-mat.TTr@donvi.test>"])
    assert "X-Baocao-Key" in audit[own.message_id] and "Message-ID" in audit[stripped_id]
    assert "auto-replied" in audit["<vang-mat.TTr@donvi.test>"]
    # nothing to answer, nothing deleted, everything marked and not read again
    assert dispatch(m.ctx, rejection_mails(m.ctx, outcomes)).sent == []
    assert m.smtp.received == []
    assert m.imap.count("INBOX") == 5 and unmarked(m) == []
    assert collect_from(m.ctx, period, EmailChannel(m.ctx)) == []
    assert len(ignored_audit(m)) == 3 and len(subs(m)) == 2


def test_mail_from_the_office_address_is_not_a_report(mail: Mail) -> None:
    """When VP reports from its own address, anything sent from the Office mailbox is the Office's own."""
    units_path = mail.config_dir / "units.yaml"
    office = mail.ctx.cfg.settings.organisation.office_email
    units_path.write_text(units_path.read_text(encoding="utf-8").replace(
        f"emails: [{office}]", "emails: [vanthu.vp@snv.tuyenquang.gov.vn]"), encoding="utf-8")
    m = Mail(mail.smtp, mail.imap, mail.config_dir, mail.data_dir, mail.fresh_ctx())
    assert m.email_of("VP") != office
    period = m.ctx.period(PERIOD)
    # a hand-written note, and a workbook forwarded by the Office staff, both without baocao's headers
    deliver(m, reply(m, "VP", sender=office, files=[workbook(m, "VP")], msgid="<chuyen-tiep@snv.test>"))
    deliver(m, reply(m, None, sender=f"Văn phòng Sở <{office.upper()}>", tag="", msgid="<ghi-chu@snv.test>"))
    deliver(m, reply(m, "VP", files=[workbook(m, "VP")]))
    # merely naming the Office's address in a forged From is not the Office's mail: quarantined, recorded
    forged = reply(m, "VP", files=[workbook(m, "VP", W01=7)], msgid="<gia-mao@evil.test>")
    deliver(m, forged.replace(f"From: {m.email_of('VP')}".encode(), f"From: {office} (x) <evil@x.com>".encode()))

    outcomes = collect_from(m.ctx, period, EmailChannel(m.ctx))
    assert [(o.unit_code, o.status) for o in outcomes] == [("VP", "accepted"), ("VP", "quarantined")]
    assert outcomes[1].reason == (f"Tiêu đề From «{office} (x) <evil@x.com>» có 2 ký tự @ (phải đúng một địa chỉ); "
                                  "không xác định được người gửi thật.")
    assert [(s.unit_code, s.sender) for s in subs(m)][:1] == [("VP", m.email_of("VP"))]
    audit = ignored_audit(m)
    assert sorted(audit) == ["<chuyen-tiep@snv.test>", "<ghi-chu@snv.test>"]
    assert all(office in reason for reason in audit.values())
    assert m.imap.count("INBOX") == 4 and unmarked(m) == []
    assert m.smtp.received == []


def test_reminders_and_overdue_summary(mail: Mail) -> None:
    m = mail
    period = m.ctx.period(PERIOD)
    deliver(m, reply(m, "VP", files=[workbook(m, "VP")]))
    deliver(m, reply(m, "TTr", files=[workbook(m, "TTr", H01=1, H02=0)]))
    deliver(m, reply(m, "XDCQ", files=[workbook(m, "XDCQ")]), when="2021-03-19T08:00")
    collect_from(m.ctx, period, EmailChannel(m.ctx))

    assert reminder_mails(m.ctx, period, date(2021, 3, 15)) == []  # 1 day left: not a reminder day
    assert reminder_mails(m.ctx, period, date(2021, 3, 14)) == []  # a Sunday: no reminders
    report = dispatch(m.ctx, reminder_mails(m.ctx, period, date(2021, 3, 12)))  # Fri, 2 working days before
    assert len(report.sent) == 7 and m.smtp.connections == 1
    reminded = {msg["Subject"].split("]")[0].rsplit(" ", 1)[1]: msg for msg in m.received()}
    assert sorted(reminded) == sorted(set(CODES) - {"VP", "XDCQ"})
    ttr = reminded["TTr"]
    assert "Nhắc gửi báo cáo" in ttr["Subject"] and ttr["Subject"].endswith("(còn 2 ngày làm việc)")
    text = body_text(ttr, "plain")
    assert "ngày 16 tháng 3 năm 2021" in text and "H02" in text  # the last rejection's errors
    assert attachments(ttr)[0][0] == "BC-CCHC-2021-03-TTr.xlsx"
    assert dispatch(m.ctx, reminder_mails(m.ctx, period, date(2021, 3, 12))).sent == []

    consolidation = build_consolidation(m.ctx, period)
    assert overdue_mails(m.ctx, period, date(2021, 3, 16), consolidation) == []  # not past the deadline
    report = dispatch(m.ctx, overdue_mails(m.ctx, period, date(2021, 3, 17), consolidation))
    assert len(report.sent) == 1
    summary = m.received()[-1]
    assert [a.addr_spec for a in summary["To"].addresses] == [m.ctx.cfg.settings.organisation.operator_email]
    assert summary["Subject"].startswith("[BC-CCHC 2021-03] Đôn đốc: 7 đơn vị chưa có báo cáo hợp lệ")
    text = body_text(summary, "plain")
    assert "Đã báo cáo hợp lệ: 2/9" in text and "Ban Tôn giáo (BTG)" in text
    assert "Báo cáo muộn (1): Phòng Xây dựng chính quyền và Công tác thanh niên (XDCQ)." in text
    assert "Thanh tra Sở (TTr)" in text


def test_crash_between_store_and_mark_reprocesses_without_double_counting(
    mail: Mail, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = mail
    period = m.ctx.period(PERIOD)
    deliver(m, reply(m, "VP", files=[workbook(m, "VP")]))
    deliver(m, reply(m, "BTG"))  # no attachment: recorded by the raw message's hash
    original = ImapMailbox.mark_processed
    calls = {"n": 0}

    def crash_once(self: ImapMailbox, uids: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("máy bị tắt đột ngột")
        original(self, uids)

    monkeypatch.setattr(ImapMailbox, "mark_processed", crash_once)
    with pytest.raises(RuntimeError):
        collect_from(m.ctx, period, EmailChannel(m.ctx))
    assert sorted((s.unit_code, s.status) for s in subs(m)) == [("BTG", "rejected"), ("VP", "accepted")]

    again = collect_from(m.ctx, period, EmailChannel(m.ctx))  # re-reads both messages
    assert [o.status for o in again] == ["duplicate", "duplicate"]  # both recognised by their content hash
    assert len(subs(m)) == 2
    assert dispatch(m.ctx, rejection_mails(m.ctx, again)).sent == []
    assert collect_from(m.ctx, period, EmailChannel(m.ctx)) == []
    assert uids_where(m, f"KEYWORD {PROCESSED_KEYWORD}") == [b"1", b"2"]


def test_imap_connection_cut_during_fetch(mail: Mail, monkeypatch: pytest.MonkeyPatch) -> None:
    m = mail
    period = m.ctx.period(PERIOD)
    deliver(m, reply(m, "VP", files=[workbook(m, "VP")]))
    deliver(m, reply(m, "TTr", files=[workbook(m, "TTr")]))
    original = ImapMailbox._search
    cut = {"done": False}

    def search_then_cut(self: ImapMailbox, after_uid: int) -> list[int]:
        found = original(self, after_uid)
        if not cut["done"]:
            cut["done"] = True
            m.imap.kick_sessions()  # the session dies between SEARCH and FETCH
        return found

    monkeypatch.setattr(ImapMailbox, "_search", search_then_cut)
    with pytest.raises(MailTransportError) as info:  # one line for the operator, not imaplib's traceback
        collect_from(m.ctx, period, EmailChannel(m.ctx))
    assert (info.value.cause, info.value.transient) == ("network", True)
    assert f"IMAP 127.0.0.1:{m.imap.port}" in info.value.message and "\n" not in info.value.message
    assert subs(m) == []
    outcomes = collect_from(m.ctx, period, EmailChannel(m.ctx))
    assert [(o.unit_code, o.status) for o in outcomes] == [("VP", "accepted"), ("TTr", "accepted")]
    assert collect_from(m.ctx, period, EmailChannel(m.ctx)) == []


def test_watch_collects_a_reply_as_it_arrives(mail: Mail, monkeypatch: pytest.MonkeyPatch) -> None:
    m = mail
    period = m.ctx.period(PERIOD)
    seen: list[Any] = []
    original = ImapMailbox.mark_processed
    calls = {"n": 0}

    def drop_first_mark(self: ImapMailbox, uids: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # the marking connection breaks after the submission is stored
            raise imaplib.IMAP4.abort("socket error: EOF")
        original(self, uids)

    monkeypatch.setattr(ImapMailbox, "mark_processed", drop_first_mark)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            watch_mailbox(m.fresh_ctx(), period, stop, on_outcomes=seen.extend, idle_timeout=2)
        except BaseException as exc:  # surfaced in the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        deliver(m, reply(m, "CCVC", files=[workbook(m, "CCVC")]))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not subs(m):
            time.sleep(0.2)
        assert [(s.unit_code, s.status) for s in subs(m)] == [("CCVC", "accepted")]
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and calls["n"] < 2:  # the pending mail is read again and marked
            time.sleep(0.2)
        m.imap.kick_sessions()  # the server drops the IDLE connection: the watcher reconnects
        deliver(m, reply(m, "BTG", files=[workbook(m, "BTG")]))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and len(subs(m)) < 2:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive() and errors == []
    assert [(s.unit_code, s.status) for s in subs(m)] == [("CCVC", "accepted"), ("BTG", "accepted")]
    assert [(o.unit_code, o.status) for o in seen] == [("CCVC", "accepted"), ("CCVC", "duplicate"),
                                                       ("BTG", "accepted")]
    assert unmarked(m) == []  # everything ended up marked


# ------------------------------------------------------------------ flows and events


def _events(since: datetime, names: tuple[str, ...], want: int) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    deadline = time.monotonic() + WAIT
    found: list[Any] = []
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            until = datetime.now(UTC) + timedelta(minutes=1)  # the default 'until' is the filter's creation
            flt = EventFilter(occurred=EventOccurredFilter(since=since, until=until),
                              event=EventNameFilter(name=list(names)))
            found = list(client.read_events(filter=flt, limit=50).events)
            if len(found) >= want:
                break
            time.sleep(0.5)
    return found


def test_collect_flow_emits_events_and_answers(mail: Mail, prefect_engine: None) -> None:
    from flows.cycle import collect_submissions

    m = mail
    since = datetime.now(UTC)
    for code in CODES:
        if code == "TĐKT":
            deliver(m, reply(m, code, files=[workbook(m, code, H01=1, H02=0)]))
        else:
            deliver(m, reply(m, code, files=[workbook(m, code)]))
    outcomes = collect_submissions(PERIOD, str(m.config_dir), str(m.data_dir))["outcomes"]
    assert sorted((o["unit_code"], o["status"]) for o in outcomes) == sorted(
        (c, "rejected" if c == "TĐKT" else "accepted") for c in CODES)
    answers = m.received()  # every unit answered over SMTP: one rejection, eight receipts
    [answer] = [a for a in answers if "chưa hợp lệ" in a["Subject"]]
    assert answer["To"].addresses[0].addr_spec == m.email_of("TĐKT")
    receipts = sorted(a["To"].addresses[0].addr_spec for a in answers if "đã nhận" in a["Subject"].lower())
    assert receipts == sorted(m.email_of(c) for c in CODES if c != "TĐKT")

    deliver(m, reply(m, "TĐKT", files=[("TĐKT đã sửa.xlsx", filled(m.ctx, "TĐKT", PERIOD))]), "2021-03-16T10:00")
    again = collect_submissions(PERIOD, str(m.config_dir), str(m.data_dir))["outcomes"]
    assert [(o["unit_code"], o["status"]) for o in again] == [("TĐKT", "accepted")]

    names = ("baocao.submission.accepted", "baocao.submission.rejected", "baocao.period.complete")
    events = _events(since, names, 11)
    got = sorted((e.event, e.resource.get("baocao.unit", ""), e.resource["baocao.period"]) for e in events)
    assert got == sorted([("baocao.submission.accepted", c, PERIOD) for c in CODES]
                         + [("baocao.submission.rejected", "TĐKT", PERIOD), ("baocao.period.complete", "", PERIOD)])
    # a third run finds nothing and does not announce completeness again
    assert collect_submissions(PERIOD, str(m.config_dir), str(m.data_dir))["total"] == 0


# ------------------------------------------------------------------ delivery


def _consolidate(m: Mail) -> Path:
    from tasks.samples import drop_samples

    period = m.ctx.period(PERIOD)
    drop_samples(m.ctx, PERIOD)
    process_documents(m.ctx, period, folder_documents(m.ctx))
    out = m.data_dir / "reports" / PERIOD
    write_outputs(m.ctx, period, build_consolidation(m.ctx, period), out)
    return out


def test_delivery_to_ubnd_and_every_recipient_with_one_refused(mail: Mail, prefect_engine: None) -> None:
    from flows.cycle import deliver_report

    m = mail
    out = _consolidate(m)
    refused = "pgd@snv.tuyenquang.gov.vn"
    m.smtp.faults.reject_rcpt = {refused}
    approve(m.ctx, PERIOD, out)
    result = deliver_report(PERIOD, str(m.config_dir), str(m.data_dir), str(out))

    key = f"delivery:cchc-tuyen-truyen:{PERIOD}"
    assert result["approved"] is True and result["sent"] == [key]
    [(failed_key, reason)] = result["failed"]
    assert failed_key == key and refused in reason and "550" in reason
    record = m.ctx.ledger.message(key)
    assert record.status == "sent" and refused in (record.error or "")  # partial: the ledger shows who missed it

    [env] = m.smtp.received
    [msg] = m.received()
    cc = ["giamdoc@snv.tuyenquang.gov.vn", refused] + [m.email_of(c) for c in CODES]
    assert [a.addr_spec for a in msg["To"].addresses] == ["ubnd@tuyenquang.gov.vn"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == cc
    assert env.rcpt_tos == ["ubnd@tuyenquang.gov.vn"] + [a for a in cc if a != refused]
    assert record.message_id == msg["Message-ID"]
    files = dict(attachments(msg))
    assert sorted(files) == ["Báo cáo BC-CCHC 2021-03 - Phụ lục.xlsx", "Báo cáo BC-CCHC 2021-03.docx"]
    assert files["Báo cáo BC-CCHC 2021-03.docx"] == (out / f"cchc-tuyen-truyen-{PERIOD}-ban-hanh.docx").read_bytes()
    assert files["Báo cáo BC-CCHC 2021-03 - Phụ lục.xlsx"] == (out / f"cchc-tuyen-truyen-{PERIOD}.xlsx").read_bytes()
    consolidation = json.loads((out / f"cchc-tuyen-truyen-{PERIOD}.json").read_text(encoding="utf-8"))
    html = body_text(msg, "html")
    for code in consolidation["main_indicators"]:
        assert format_number(consolidation["totals"][code]) in html
    c = consolidation["completeness"]
    assert f"{c['accepted_count']}/{c['expected_count']}" in html
    assert "Ủy ban nhân dân tỉnh Tuyên Quang" in html

    # delivering again sends nothing; an explicit resend goes out again
    final = {k: Path(v) for k, v in result["files"].items()}
    assert dispatch(m.ctx, delivery_mails(m.ctx, m.ctx.period(PERIOD), out, final)).sent == []
    resent = dispatch(m.ctx, delivery_mails(m.ctx, m.ctx.period(PERIOD), out, final, resend=1), resend=True)
    assert resent.sent == [f"{key}:resend1"] and len(m.smtp.received) == 2


def test_delivery_to_more_recipients_than_a_message_takes_goes_as_copies(mail: Mail, prefect_engine: None) -> None:
    """`units: all` in Nơi nhận at a province's scale: 230 more unit contacts than the shipped list. The server
    takes at most 100 recipients a message, so UBND tỉnh's message carries the first copies and the rest go
    as copies of the same message, each address exactly once. A copy the server refuses is owed: the next
    delivery run sends it (the same files), and only it."""
    from flows.cycle import deliver_report, delivery_summary
    from tasks.transports.mail.compose import MAX_RECIPIENTS

    units_path = mail.config_dir / "units.yaml"
    data = yaml.safe_load(units_path.read_text(encoding="utf-8"))
    data["units"].extend({"code": f"X{i:03d}", "name": f"Ủy ban nhân dân xã số {i}", "channel": "email",
                          "emails": [f"x{i:03d}@xa.tuyenquang.gov.vn"]} for i in range(230))
    units_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    m = Mail(mail.smtp, mail.imap, mail.config_dir, mail.data_dir, mail.fresh_ctx())
    out = _consolidate(m)
    approve(m.ctx, PERIOD, out)
    everyone = ["ubnd@tuyenquang.gov.vn", "giamdoc@snv.tuyenquang.gov.vn", "pgd@snv.tuyenquang.gov.vn"] + [
        e for u in m.ctx.cfg.active_units for e in u.emails]
    assert len(everyone) == len(set(everyone)) > 2 * MAX_RECIPIENTS
    m.smtp.faults.reject_rcpt = set(everyone[200:])  # the server refuses the whole last copy
    result = deliver_report(PERIOD, str(m.config_dir), str(m.data_dir), str(out))

    key = f"delivery:cchc-tuyen-truyen:{PERIOD}"
    assert result["sent"] == [key, f"{key}:copy1"] and [k for k, _ in result["failed"]] == [f"{key}:copy2"]
    assert [len(e.rcpt_tos) for e in m.smtp.received] == [100, 100]
    first, copy = m.received()
    assert [a.addr_spec for a in first["To"].addresses] == ["ubnd@tuyenquang.gov.vn"]
    assert len(first["Cc"].addresses) == 99
    assert copy["Cc"] is None and copy["Subject"] == first["Subject"]
    assert [a.addr_spec for a in copy["To"].addresses] == everyone[100:200]
    assert dict(attachments(copy)) == dict(attachments(first))
    assert body_text(copy, "html") == body_text(first, "html")

    # the period is closed by UBND tỉnh's message; the next run sends only the owed copy, then nothing
    m.smtp.faults.reject_rcpt = set()
    again = delivery_summary(deliver_report(PERIOD, str(m.config_dir), str(m.data_dir), str(out), return_state=True))
    assert again["status"] == "delivered" and "Đã gửi nốt 1 bản sao còn thiếu" in again["message"]
    envelopes = [e.rcpt_tos for e in m.smtp.received]
    assert [len(r) for r in envelopes] == [100, 100, len(everyone) - 200]
    assert [a for r in envelopes for a in r] == everyone  # each address once, in the order of Nơi nhận
    last = m.received()[2]
    assert dict(attachments(last)) == dict(attachments(first)) and last["Subject"] == first["Subject"]
    assert len({msg["Message-ID"] for msg in m.received()}) == 3
    assert all(m.ctx.ledger.message(k).status == "sent" for k in (key, f"{key}:copy1", f"{key}:copy2"))
    third = delivery_summary(deliver_report(PERIOD, str(m.config_dir), str(m.data_dir), str(out), return_state=True))
    assert third["status"] == "delivered" and "bản sao" not in third["message"] and len(m.smtp.received) == 3


# ------------------------------------------------------------------ the `baocao watch` command


def test_baocao_watch_command(mail: Mail, prefect_engine: None) -> None:
    from prefect.settings import PREFECT_API_URL

    m = mail
    since = datetime.now(UTC)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONUNBUFFERED": "1",
           "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "--config", str(m.config_dir), "--data-dir", str(m.data_dir),
         "watch", "--period", PERIOD, "--idle", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deliver(m, reply(m, "VP", files=[workbook(m, "VP")]))
        deliver(m, reply(m, "TTr"))
        deadline = time.monotonic() + WAIT * 2
        while time.monotonic() < deadline and (len(subs(m)) < 2 or len(m.smtp.received) < 2):
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert sorted((s.unit_code, s.status) for s in subs(m)) == [("TTr", "rejected"), ("VP", "accepted")]
    answers = {a["To"].addresses[0].addr_spec: a["Subject"] for a in m.received()}  # each unit answered at once
    assert "chưa hợp lệ" in answers[m.email_of("TTr")] and "Đã nhận báo cáo" in answers[m.email_of("VP")]
    assert "Hợp lệ" in output and "VP" in output
    assert "Trả lại" in output and NO_ATTACHMENT in output
    assert "Đã dừng theo dõi hộp thư" in output
    assert proc.returncode == 0, output
    events = _events(since, ("baocao.submission.accepted", "baocao.submission.rejected"), 2)
    assert sorted((e.event, e.resource["baocao.unit"]) for e in events) == [
        ("baocao.submission.accepted", "VP"), ("baocao.submission.rejected", "TTr")]
