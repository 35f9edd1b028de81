"""compose_message: what a unit's mail client will show (subject, bodies, attachment names and bytes)."""

from __future__ import annotations

import base64
import email
import email.policy
import itertools
import re
import time
import unicodedata
from datetime import timedelta
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime

import pytest

from tasks.transports.mail.compose import (
    Attachment,
    ComposedMessage,
    OutgoingMail,
    _encoded_words,
    compose_message,
)

SENDER = "vanphong@snv.tuyenquang.gov.vn"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUBJECT = "[BC-CCHC 2021-03 VP] Đề nghị báo cáo kết quả tuyên truyền cải cách hành chính tháng 3/2021"


def _mail(**overrides: object) -> OutgoingMail:
    fields: dict = dict(
        key="request:cchc-tuyen-truyen:2021-03:VP",
        kind="request",
        to=("vp@snv.tuyenquang.gov.vn",),
        subject=SUBJECT,
        text="Kính gửi Văn phòng Sở,\nĐề nghị gửi báo cáo trước ngày 16/03/2021.",
        html="<p>Kính gửi <b>Văn phòng Sở</b>,</p><p>Đề nghị gửi báo cáo trước ngày 16/03/2021.</p>",
        attachments=(Attachment("Báo cáo CCHC tháng 3-2021.xlsx", b"PK\x03\x04" + bytes(range(256)), XLSX),),
        unit_code="VP",
        period="2021-03",
    )
    fields.update(overrides)
    return OutgoingMail(**fields)


def _parse(composed: ComposedMessage) -> email.message.EmailMessage:
    return email.message_from_bytes(composed.data, policy=email.policy.default)


def test_subject_sender_and_bodies_round_trip() -> None:
    composed = compose_message(_mail(), SENDER)
    msg = _parse(composed)

    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].display_name == "Văn phòng Sở Nội vụ"
    assert msg["From"].addresses[0].addr_spec == SENDER
    assert msg["To"].addresses[0].addr_spec == "vp@snv.tuyenquang.gov.vn"
    assert msg.get_content_type() == "multipart/mixed"
    alternative = msg.get_payload()[0]
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    # MIME text is canonically CRLF; a mail client shows plain line breaks
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == _mail().text
    assert msg.get_body(("html",)).get_content().strip() == _mail().html
    # the raw subject is RFC 2047 encoded, not raw UTF-8
    assert composed.data.isascii()


def test_vietnamese_attachment_filename_rfc2231_and_bytes() -> None:
    second = Attachment("Phụ lục số liệu.csv", "Đơn vị;Số tin bài\nVP;3\n".encode(), "text/csv")
    composed = compose_message(_mail(attachments=(*_mail().attachments, second)), SENDER)
    msg = _parse(composed)

    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == [
        "Báo cáo CCHC tháng 3-2021.xlsx",
        "Phụ lục số liệu.csv",
    ]
    assert attachments[0].get_content_type() == XLSX
    assert attachments[0].get_content() == b"PK\x03\x04" + bytes(range(256))
    assert attachments[1].get_content_type() == "text/csv"
    assert attachments[1].get_payload(decode=True) == "Đơn vị;Số tin bài\nVP;3\n".encode()
    assert b"filename*=utf-8''B%C3%A1o%20c%C3%A1o%20CCHC%20th%C3%A1ng%203-2021.xlsx" in composed.data


def test_long_filename_uses_rfc2231_continuations_and_short_lines() -> None:
    name = (
        "Báo cáo kết quả tuyên truyền cải cách hành chính tháng 3 năm 2021"
        " - Phòng Cải cách hành chính.xlsx"
    )
    composed = compose_message(_mail(attachments=(Attachment(name, b"xyz"),)), SENDER)
    [att] = _parse(composed).iter_attachments()

    assert att.get_filename() == name
    assert att.get_content_type() == XLSX  # guessed from the extension when the caller gave none
    assert b"filename*0*=utf-8''" in composed.data
    assert max(len(line) for line in composed.data.split(b"\r\n")) <= 100


def test_nfd_input_is_normalised_to_nfc() -> None:
    nfd_subject = unicodedata.normalize("NFD", SUBJECT)
    nfd_name = unicodedata.normalize("NFD", "Báo cáo tháng 3.xlsx")
    composed = compose_message(_mail(subject=nfd_subject, attachments=(Attachment(nfd_name, b"1"),)), SENDER)
    msg = _parse(composed)
    assert msg["Subject"] == SUBJECT
    assert next(msg.iter_attachments()).get_filename() == "Báo cáo tháng 3.xlsx"


def test_message_id_date_recipients_and_crlf() -> None:
    cc = ("Lanh.Dao@snv.tuyenquang.gov.vn", "VP@snv.tuyenquang.gov.vn")
    composed = compose_message(_mail(cc=cc), SENDER)
    msg = _parse(composed)

    assert re.fullmatch(r"<[^<>@\s]+@snv\.tuyenquang\.gov\.vn>", composed.message_id)
    assert msg["Message-ID"] == composed.message_id
    assert msg["X-Baocao-Key"] == "request:cchc-tuyen-truyen:2021-03:VP"
    assert parsedate_to_datetime(msg["Date"]).utcoffset() == timedelta(hours=7)
    # duplicates (case-insensitive) are sent once
    assert composed.recipients == ["vp@snv.tuyenquang.gov.vn", "Lanh.Dao@snv.tuyenquang.gov.vn"]
    assert b"\n" not in composed.data.replace(b"\r\n", b"")
    # the same message composed again (a retry after a crash) keeps its Message-ID; a deliberate resend does not
    assert compose_message(_mail(), SENDER).message_id == composed.message_id
    assert compose_message(_mail(), SENDER, fresh_id=True).message_id != composed.message_id


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="không có người nhận"):
        compose_message(_mail(to=()), SENDER)
    with pytest.raises(ValueError, match="kind"):
        compose_message(_mail(kind="spam"), SENDER)
    with pytest.raises(ValueError, match="xuống dòng"):
        compose_message(_mail(subject="a\r\nBcc: x@y.z"), SENDER)
    too_many = tuple(f"u{i}@snv.tuyenquang.gov.vn" for i in range(101))
    with pytest.raises(ValueError, match="100"):
        compose_message(_mail(to=too_many), SENDER)


# Real subjects from tasks/messages.py (and longer ones a report title can produce), 40-200 characters.
LONG_SUBJECTS = [
    "[BC-CCHC 2021-03 TTr] Nhắc gửi báo cáo tháng 3/2021",
    "[BC-CCHC 2021-03 TĐKT] Báo cáo tháng 3 năm 2021 chưa hợp lệ – đề nghị sửa và gửi lại",
    "[BC-CCHC 2021-03 VP] Đề nghị báo cáo kết quả thực hiện công tác tuyên truyền cải cách hành chính"
    " tháng 3 năm 2021 – hạn 16/03/2021",
    "[BC-CCHC 2021-03] Đôn đốc: 7 đơn vị chưa có báo cáo hợp lệ tháng 3 năm 2021",
    "[BC-CCHC 2021-03 XDCQ] Nhắc gửi báo cáo tháng 3 năm 2021 (còn 2 ngày, hạn ngày 16/03/2021)",
    "[BC-CCHC 2021-03] Đề nghị phê duyệt báo cáo kết quả thực hiện công tác tuyên truyền cải cách hành chính"
    " tháng 3 năm 2021 của Sở Nội vụ tỉnh Tuyên Quang gửi Ủy ban nhân dân tỉnh – hạn 20/03/2021",
    "[BC-CCHC 2021-03 VTLT] Re: Báo cáo tháng 3 năm 2021 chưa hợp lệ – đề nghị sửa và gửi lại  (lần 2)",
]


@pytest.mark.parametrize("subject", LONG_SUBJECTS)
def test_long_vietnamese_subject_keeps_every_space(subject: str) -> None:
    assert 40 <= len(subject) <= 200
    composed = compose_message(_mail(subject=unicodedata.normalize("NFD", subject)), SENDER)
    expected = unicodedata.normalize("NFC", subject)

    assert _parse(composed)["Subject"] == expected
    raw_subject = email.message_from_bytes(composed.data)["Subject"]  # compat32: the folded wire text
    assert str(make_header(decode_header(raw_subject))) == expected
    assert composed.data.isascii()
    assert b"\n" not in composed.data.replace(b"\r\n", b"")
    head = composed.data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    lines = head.split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"Subject: "))
    folded = [lines[start]] + list(itertools.takewhile(lambda line: line[:1] in b" \t", lines[start + 1:]))
    assert len(folded) > 1 or len(subject) < 60  # the long ones really are folded


def test_ascii_subject_stays_readable_on_the_wire() -> None:
    subject = "[BC-CCHC 2021-03 VP] Monthly report request"
    composed = compose_message(_mail(subject=subject), SENDER)
    assert b"\r\nSubject: " + subject.encode() + b"\r\n" in composed.data
    assert _parse(composed)["Subject"] == subject


def test_date_is_the_second_of_composing_and_a_bad_sender_is_refused_every_time() -> None:
    before = int(time.time())
    date = parsedate_to_datetime(_parse(compose_message(_mail(), SENDER))["Date"])
    assert before <= date.timestamp() <= time.time() and date.utcoffset() == timedelta(hours=7)
    for _ in range(2):  # the sender's check is remembered only when it passes
        with pytest.raises(ValueError, match="Địa chỉ người gửi không hợp lệ"):
            compose_message(_mail(), "Văn phòng <không-phải-địa-chỉ>")


@pytest.mark.parametrize("text", ["😀" * 40, "Báo cáo 😀 tháng 3 – " * 6, "e\u0301" * 50, "x", ""])
def test_encoded_words_cut_between_characters_and_decode_back(text: str) -> None:
    """Four-byte characters and combining marks are never split across two encoded words."""
    for name in ("Subject", "X-Baocao-Key", "X-" + "N" * 70):
        encoded = _encoded_words(name, text)
        words = encoded.split(" ")
        assert all(len(w) <= 75 for w in words[1:])
        assert len(words[0]) <= max(78 - len(name) - 2, 20)  # one character at least, however long the name
        assert "".join(base64.b64decode(w[len("=?utf-8?b?"):-2]).decode("utf-8") for w in words) == text


def test_recipients_are_trimmed_and_counted_once() -> None:
    mail = _mail(to=("vp@snv.example.vn", " TCCB@snv.example.vn", "vp@SNV.example.vn "), cc=("a.b+c@x-y.vn",))
    assert compose_message(mail, SENDER).recipients == ["vp@snv.example.vn", "TCCB@snv.example.vn", "a.b+c@x-y.vn"]
