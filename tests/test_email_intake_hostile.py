"""Whatever bytes arrive in the Office mailbox, each mail ends in recorded outcomes, never an exception.

Each raw mail is APPENDed to a real Dovecot and collected with the real EmailChannel and tasks.collect; the
expected outcome and the message the unit or the operator sees are stated per case.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from tasks.channels.email import EmailChannel
from tasks.collect import collect_from
from tests.test_email_channel import PERIOD, Mail, deliver, mail, workbook  # noqa: F401 - fixture

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_ATTACHMENT = ("Thư không có tệp bảng tính báo cáo đính kèm (.xlsx, .xls, .ods, .csv). Hãy trả lời thư đề nghị "
                 "báo cáo, đính kèm biểu mẫu đã điền.")
NO_FROM = "Thư không có tiêu đề From (người gửi); không xác định được người gửi."


@dataclass(frozen=True)
class Case:
    name: str
    unit: str  # whose contact sends it (and whose workbook it carries)
    status: str
    message: str | None  # the first error (rejected) or the reason (quarantined); None when accepted


def _headers(m: Mail, unit: str, *extra: str, msgid: bool = True, subject: str | None = None) -> str:
    lines = [f"From: {m.email_of(unit)}", f"To: {m.ctx.cfg.settings.organisation.office_email}",
             f"Subject: {subject if subject is not None else f'[BC-CCHC {PERIOD} {unit}] Báo cáo'}",
             "Date: Mon, 15 Mar 2021 09:30:00 +0700", "MIME-Version: 1.0"]
    if msgid:
        lines.append(f"Message-ID: <hostile.{unit}@donvi.test>")
    return "\r\n".join([*lines, *extra])


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def _multipart(m: Mail, unit: str, part: str, *extra: str, msgid: bool = True, subject: str | None = None,
               close: bool = True) -> bytes:
    head = _headers(m, unit, 'Content-Type: multipart/mixed; boundary="XYZ"', *extra, msgid=msgid, subject=subject)
    body = f"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nKính gửi Văn phòng.\r\n--XYZ\r\n{part}\r\n"
    return (head + "\r\n\r\n" + body + ("--XYZ--\r\n" if close else "")).encode("utf-8")


def _xlsx_part(data: bytes, disposition: str | None = 'attachment; filename="bao-cao.xlsx"') -> str:
    lines = [f"Content-Type: {XLSX}", "Content-Transfer-Encoding: base64"]
    if disposition:
        lines.append(f"Content-Disposition: {disposition}")
    return "\r\n".join(lines) + "\r\n\r\n" + _b64(data)


def corpus(m: Mail) -> list[tuple[Case, bytes]]:
    wb = {code: workbook(m, code)[1] for code in ("VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "TĐKT", "BTG", "VTLT")}
    forwarded_inner = _multipart(m, "TĐKT", _xlsx_part(wb["TĐKT"]), subject="Báo cáo gốc").decode()
    return [
        (Case("no Message-ID", "VP", "accepted", None), _multipart(m, "VP", _xlsx_part(wb["VP"]), msgid=False)),
        (Case("nameless xlsx part (no Content-Disposition)", "TTr", "accepted", None),
         _multipart(m, "TTr", _xlsx_part(wb["TTr"], disposition=None))),
        (Case("attachment disposition without a file name", "XDCQ", "accepted", None),
         _multipart(m, "XDCQ", _xlsx_part(wb["XDCQ"], disposition="attachment"), "X-Case: 2")),
        (Case("file name in an unknown RFC 2231 charset, 5000 characters long", "CCVC", "rejected",
              None),
         _multipart(m, "CCVC", _xlsx_part(b"PK\x03\x04 not really a zip",
                                          "attachment; filename*=x-khong-ro''%FF%FE" + "a" * 5000 + ".xlsx"))),
        (Case("8-bit UTF-8 headers", "TCBC", "accepted", None),
         _multipart(m, "TCBC", _xlsx_part(wb["TCBC"], 'attachment; filename="Báo cáo tháng 3.xlsx"'),
                    subject=f"[BC-CCHC {PERIOD} TCBC] Báo cáo tháng 3 — Phòng Tổ chức")),
        (Case("huge header (300 KB)", "CCHC", "accepted", None),
         _multipart(m, "CCHC", _xlsx_part(wb["CCHC"]), "X-Padding: " + "a" * 300_000)),
        (Case("huge Message-ID", "VTLT", "accepted", None),
         _multipart(m, "VTLT", _xlsx_part(wb["VTLT"]), msgid=False).replace(
             b"MIME-Version: 1.0", b"MIME-Version: 1.0\r\nMessage-ID: <" + b"x" * 5000 + b"@donvi.test>")),
        (Case("unterminated multipart", "CCVC", "accepted", None),
         _multipart(m, "CCVC", _xlsx_part(wb["CCVC"]), close=False)),
        (Case("spreadsheet inside a forwarded message/rfc822", "TĐKT", "accepted", None),
         _multipart(m, "TĐKT", "Content-Type: message/rfc822\r\n\r\n" + forwarded_inner,
                    subject=f"Fwd: [BC-CCHC {PERIOD} TĐKT] Báo cáo")),
        (Case("broken base64 in the spreadsheet", "BTG", "rejected",
              "Không mở được tệp 'bao-cao.xlsx': tệp bị hỏng hoặc không đúng định dạng bảng tính. Hãy lưu lại tệp "
              "bằng Excel dưới dạng .xlsx rồi gửi lại."),
         _multipart(m, "BTG", _xlsx_part(b"")[:-2] + "%%%% not base64 !!!!\r\n")),
        (Case("multipart without boundary", "VTLT", "rejected", NO_ATTACHMENT),
         (_headers(m, "VTLT", "Content-Type: multipart/mixed") + "\r\n\r\n--XYZ\r\nrác\r\n").encode()),
        (Case("unknown charset and transfer encoding", "VTLT", "rejected", NO_ATTACHMENT),
         (_headers(m, "VTLT", "Content-Type: text/plain; charset=x-khong-ro", "Content-Transfer-Encoding: x-la",
                   subject="=?x-khong-ro?q?B=E1o_c=E1o?=", msgid=False) + "\r\n\r\nnội dung\r\n").encode()),
        (Case("headers only, no body", "VTLT", "rejected", NO_ATTACHMENT),
         _headers(m, "VTLT", "Message-ID: <chi-co-tieu-de@donvi.test>", msgid=False).encode() + b"\r\n"),
        (Case("garbage bytes (not a mail)", "VTLT", "quarantined", NO_FROM), bytes(range(1, 256)) * 20),
        (Case("NUL and control bytes in headers", "VTLT", "quarantined", None),  # Dovecot may rewrite the NUL
         (f"From: {m.email_of('VTLT')}\x00<evil@x.com>\r\nSubject: \x1b[31mđỏ\r\nMessage-ID: <nul@donvi.test>"
          "\r\n\r\nbody\r\n").encode()),
        (Case("garbled Date", "VTLT", "rejected", NO_ATTACHMENT),
         (_headers(m, "VTLT", "Message-ID: <date@donvi.test>", msgid=False).replace(
             "Mon, 15 Mar 2021 09:30:00 +0700", "Thứ Hai, 32/13/2021 25:61") + "\r\n\r\nbody\r\n").encode()),
    ]


def test_every_hostile_mail_gets_exactly_one_recorded_outcome(mail: Mail) -> None:  # noqa: F811
    m = mail
    cases = corpus(m)
    for _, raw in cases:
        deliver(m, raw)
    ctx = m.ctx

    outcomes = collect_from(ctx, ctx.period(PERIOD), EmailChannel(ctx))

    assert len(outcomes) == len(cases)  # one per mail: each carries at most one spreadsheet
    by_mail = dict(zip([c for c, _ in cases], outcomes, strict=True))  # mails are read in UID order
    for case, outcome in by_mail.items():
        assert outcome.submission_id is not None, case.name  # recorded in the ledger
        assert outcome.status == case.status, (case.name, outcome)
        if case.status == "quarantined":
            assert outcome.reason, case.name
            if case.message:
                assert outcome.reason == case.message, case.name
        elif case.status == "rejected":
            assert outcome.errors, case.name
            if case.message:
                assert outcome.errors[0]["message"] == case.message, case.name
        else:
            assert outcome.unit_code == case.unit, case.name
    subs = ctx.ledger.submissions(ctx.cfg.report.id, PERIOD)
    assert len(subs) == len(cases)
    assert all(len(s.message_id or "") <= 250 and len(s.sender or "") <= 320 for s in subs)
    # all marked processed: the next collect finds nothing, and nothing was deleted
    assert collect_from(ctx, ctx.period(PERIOD), EmailChannel(ctx)) == []
    assert m.imap.count() == len(cases)


@pytest.mark.parametrize("index", range(16))
def test_corpus_is_what_the_cases_say(mail: Mail, index: int) -> None:  # noqa: F811
    """Each case alone, so a failure names the mail that broke intake."""
    case, raw = corpus(mail)[index]
    deliver(mail, raw)
    [outcome] = collect_from(mail.ctx, mail.ctx.period(PERIOD), EmailChannel(mail.ctx))
    assert (outcome.status, outcome.submission_id is not None) == (case.status, True), (case.name, outcome)
