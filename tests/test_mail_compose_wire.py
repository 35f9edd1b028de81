"""compose_message against the bytes the earlier composer wrote (yagmail string, reparsed and refolded through
the EmailPolicy header registry), kept in tests/data/compose/*.eml: what a mail client reads must not change.

Boundaries and the Date differ from one composition to the next; everything a reader sees is compared:
decoded headers, the MIME tree, both bodies byte for byte, attachment types, names and bytes.
"""

from __future__ import annotations

import email
import email.policy
import unicodedata
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from tasks.transports.mail.compose import Attachment, OutgoingMail, compose_message

FIXTURES = Path(__file__).parent / "data" / "compose"
SENDER = "vanphong@snv.tuyenquang.gov.vn"
OFFICE = "Văn phòng Sở Nội vụ"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_BYTES = b"PK\x03\x04" + bytes(range(256)) * 12

RECEIPT_TEXT = (
    "Kính gửi Văn phòng Sở,\n\nVăn phòng Sở Nội vụ đã nhận báo cáo tháng 3 năm 2021 của đơn vị (tệp vp.xlsx,"
    " nhận lúc 10:00 ngày 15/03/2021).\nBáo cáo hợp lệ và được gửi đúng hạn.\n\n"
    "Lưu ý (không bắt buộc sửa, đề nghị kiểm tra lại):\n- Ô E10: 900 tin, bài cao bất thường.\n\n"
    "Trân trọng,\nVăn phòng Sở Nội vụ\n"
)
RECEIPT_HTML = (
    "<p>Kính gửi Văn phòng Sở,</p>\n<p>Văn phòng Sở Nội vụ đã nhận báo cáo tháng 3 năm 2021 của đơn vị"
    " (tệp <b>vp.xlsx</b>, nhận lúc 10:00 ngày 15/03/2021).</p>\n<ul><li>Ô E10: 900 tin, bài cao bất thường."
    "</li></ul>\n<p>Trân trọng,<br>Văn phòng Sở Nội vụ</p>\n"
)

MAILS: dict[str, OutgoingMail] = {
    "receipt": OutgoingMail(
        key="receipt:cchc-tuyen-truyen:2021-03:VP:7", kind="receipt", to=("vp@snv.tuyenquang.gov.vn",),
        subject="[BC-CCHC 2021-03 VP] Đã nhận báo cáo tháng 3 năm 2021 – hợp lệ, đúng hạn",
        text=RECEIPT_TEXT, html=RECEIPT_HTML, unit_code="VP", period="2021-03",
    ),
    "rejection_xlsx": OutgoingMail(
        key="rejection:cchc-tuyen-truyen:2021-03:TĐKT:12", kind="rejection",
        to=("tdkt@snv.tuyenquang.gov.vn", "ThiDua.KhenThuong@snv.tuyenquang.gov.vn"),
        subject="[BC-CCHC 2021-03 TĐKT] Báo cáo tháng 3 năm 2021 chưa hợp lệ – đề nghị sửa và gửi lại",
        text="Kính gửi Ban Thi đua - Khen thưởng,\r\nÔ E9: giá trị “abc” không phải là số nguyên.\r\n",
        html="<p>Kính gửi Ban Thi đua - Khen thưởng,</p><p>Ô E9: giá trị “abc” không phải là số nguyên.</p>",
        attachments=(Attachment("Báo cáo CCHC tháng 3-2021 TĐKT.xlsx", XLSX_BYTES, XLSX),),
        unit_code="TĐKT", period="2021-03",
    ),
    "delivery_docx_pdf_cc": OutgoingMail(
        key="delivery:cchc-tuyen-truyen:2021-03", kind="delivery", to=("ubnd@tuyenquang.gov.vn",),
        cc=("giamdoc@snv.tuyenquang.gov.vn", "vp@snv.tuyenquang.gov.vn", "VP@snv.tuyenquang.gov.vn",
            "cchc@snv.tuyenquang.gov.vn"),
        subject="[BC-CCHC 2021-03] Báo cáo kết quả thực hiện công tác tuyên truyền cải cách hành chính"
                " tháng 3 năm 2021 của Sở Nội vụ tỉnh Tuyên Quang gửi Ủy ban nhân dân tỉnh",
        text="Kính gửi Ủy ban nhân dân tỉnh,\n\nSở Nội vụ gửi báo cáo.\n" * 20,
        html="<p>Kính gửi Ủy ban nhân dân tỉnh,</p><p>Sở Nội vụ gửi báo cáo.</p>\n" * 20,
        attachments=(
            Attachment("Báo cáo kết quả thực hiện công tác tuyên truyền cải cách hành chính tháng 3 năm 2021"
                       " của Sở Nội vụ tỉnh Tuyên Quang.docx", b"PK\x03\x04docx" * 500, DOCX),
            Attachment("Phụ lục số liệu tổng hợp kết quả tuyên truyền cải cách hành chính các đơn vị tháng 3"
                       " năm 2021 (kèm theo báo cáo số 123/BC-SNV ngày 20/03/2021) – bản chính thức.pdf",
                       b"%PDF-1.7\n" + bytes(range(256)) * 3, "application/pdf"),
        ),
        period="2021-03",
    ),
    "request_ascii_many_to": OutgoingMail(
        key="request:cchc-tuyen-truyen:2021-03:VP", kind="request",
        to=tuple(f"unit{i:02d}.contact@snv.tuyenquang.gov.vn" for i in range(12)),
        cc=("a@localhost", " spaced@snv.tuyenquang.gov.vn "),
        subject="[BC-CCHC 2021-03 VP] Monthly report request for the administrative reform communication"
                " results of March 2021, deadline 16/03/2021",
        text="Plain ASCII body.\nSecond line.", html="<p>Plain ASCII body.</p>",
        attachments=(
            Attachment(unicodedata.normalize("NFD", "Phụ lục/số liệu.csv"), "Đơn vị;Số tin bài\nVP;3\n".encode(),
                       "text/csv"),
            Attachment("bieu-mau.xlsx", b""),
            Attachment('He said "hi".txt', b"\xff\xfe not utf-8", "text/plain"),
            Attachment("no extension", b"\x00\x01\x02"),
        ),
    ),
    "nfd_approval": OutgoingMail(
        key=unicodedata.normalize("NFD", "approval:cchc-tuyen-truyen:2021-03:ký-duyệt:0"), kind="approval",
        to=("lanhdao@snv.tuyenquang.gov.vn",),
        subject=unicodedata.normalize("NFD", "[BC-CCHC 2021-03] Đề nghị phê duyệt báo cáo tháng 3/2021"),
        text=unicodedata.normalize("NFD", "Đề nghị đồng chí phê duyệt."),
        html=unicodedata.normalize("NFD", "<p>Đề nghị đồng chí phê duyệt.</p>"),
        attachments=(Attachment(unicodedata.normalize("NFD", "Dự thảo báo cáo.docx"), b"PK\x03\x04", DOCX),),
    ),
}


def _parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def _part(part: EmailMessage) -> dict[str, Any]:
    return {
        "type": part.get_content_type(),
        "params": {k: v for k, v in part.get_params() or [] if k != "boundary"},
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
        "cte": part.get("Content-Transfer-Encoding"),
        "bytes": None if part.is_multipart() else part.get_payload(decode=True),
    }


def semantics(data: bytes) -> dict[str, Any]:
    """What a mail client reads in `data`: decoded headers (Date as its offset), the MIME tree, every payload."""
    msg = _parse(data)
    headers = {name: str(value) for name, value in msg.items() if name not in ("Date", "Content-Type")}
    addresses = {name: [(a.display_name, a.addr_spec) for a in msg[name].addresses]
                 for name in ("From", "To", "Cc") if msg[name] is not None}
    return {
        "headers": headers,
        "addresses": addresses,
        "date_offset": parsedate_to_datetime(msg["Date"]).utcoffset(),
        "parts": [_part(p) for p in msg.walk()],
        "plain": msg.get_body(("plain",)).get_content(),
        "html": msg.get_body(("html",)).get_content(),
        # the wire text of the subject, decoded as older (compat32) readers decode it
        "raw_subject": str(make_header(decode_header(email.message_from_bytes(data)["Subject"]))),
    }


def compose(name: str) -> bytes:
    return compose_message(MAILS[name], SENDER, OFFICE).data


@pytest.mark.parametrize("name", sorted(MAILS))
def test_what_a_client_reads_is_what_the_earlier_composer_wrote(name: str) -> None:
    new = compose(name)
    old = (FIXTURES / f"{name}.eml").read_bytes()
    assert semantics(new) == semantics(old)
    assert semantics(new)["date_offset"] == timedelta(hours=7)


@pytest.mark.parametrize("name", sorted(MAILS))
def test_wire_form(name: str) -> None:
    data = compose(name)
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    # 78 everywhere except a media type longer than that, which cannot be folded (and must not be encoded)
    long = [line for line in data.split(b"\r\n") if len(line) > 78]
    assert all(line.startswith(b"Content-Type: application/vnd.") and line.endswith(b";") for line in long), long
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nAuto-Submitted: auto-generated\r\n" in head
    assert f"\r\nX-Baocao-Kind: {MAILS[name].kind}\r\n".encode() in head
    # the media type stays a media type (no encoded word), names are RFC 2231
    assert b"=?" not in b"".join(line for line in data.split(b"\r\n") if line.startswith(b"Content-"))
    msg = _parse(data)
    assert msg.get_content_type() == "multipart/mixed"
    alternative = msg.get_payload()[0]
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    for part in alternative.iter_parts():
        assert part.get_content_charset() == "utf-8" and part["Content-Transfer-Encoding"] == "base64"


def test_long_xlsx_type_and_filename_continuations() -> None:
    data = compose("delivery_docx_pdf_cc")
    assert f"Content-Type: {DOCX};\r\n".encode() in data
    assert b"filename*0*=utf-8''B%C3%A1o%20c%C3%A1o" in data and b"filename*1*=" in data
    xlsx = compose("rejection_xlsx")
    assert f"Content-Type: {XLSX};\r\n".encode() in xlsx


def test_a_hundred_recipients_are_folded_below_the_line_limit() -> None:
    """The earlier composer wrote them on one 3,803-character To line (RFC 5322 allows 998)."""
    to = tuple(f"unit{i:03d}.contact@snv.tuyenquang.gov.vn" for i in range(100))
    composed = compose_message(OutgoingMail(key="request:x", kind="request", to=to, subject="s", text="t",
                                            html="h"), SENDER)
    assert max(len(line) for line in composed.data.split(b"\r\n")) <= 78
    assert [a.addr_spec for a in _parse(composed.data)["To"].addresses] == list(to)
    assert composed.recipients == list(to)


def _one(**overrides: Any) -> OutgoingMail:
    fields: dict[str, Any] = dict(key="receipt:x:1", kind="receipt", to=("vp@snv.tuyenquang.gov.vn",),
                                  subject="Đã nhận", text="t", html="<p>t</p>")
    fields.update(overrides)
    return OutgoingMail(**fields)


@pytest.mark.parametrize(("overrides", "sender", "message"), [
    ({"to": ("Tên <vp@snv.tuyenquang.gov.vn>",)}, SENDER, "không hợp lệ trong thư"),  # yagmail: addr-spec only
    ({"cc": ("vp@localdomain",)}, SENDER, "Missing dot"),
    ({"to": ("nguyễn@snv.tuyenquang.gov.vn",)}, SENDER, "ngoài ASCII"),
    ({}, "vanphong@nodot", "người gửi"),
    ({"key": "receipt:x:1\r\nBcc: evil@x.com"}, SENDER, "xuống dòng"),
])
def test_invalid_addresses_and_header_injection_raise_value_error(overrides: dict[str, Any], sender: str,
                                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compose_message(_one(**overrides), sender)


def test_display_names_and_an_empty_subject() -> None:
    msg = _parse(compose_message(_one(subject=""), SENDER, 'Văn phòng "Sở", Nội vụ').data)
    assert msg["From"].addresses[0].display_name == 'Văn phòng "Sở", Nội vụ'
    assert msg["Subject"] == ""
    msg = _parse(compose_message(_one(), SENDER, 'Office "A", B').data)
    assert msg["From"].addresses[0].display_name == 'Office "A", B'
    long_name = "Văn phòng Sở Nội vụ tỉnh Tuyên Quang – Phòng Cải cách hành chính và Văn thư lưu trữ"
    data = compose_message(_one(), SENDER, long_name).data
    # several encoded words, read as RFC 2047 says (the whitespace between them dropped). Python's own address
    # parser keeps that whitespace ("V ăn"), for the earlier composer's output too; one word fits the default.
    raw_from = email.message_from_bytes(data)["From"]
    assert str(make_header(decode_header(raw_from))) == f"{long_name} <{SENDER}>"
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_attachment_media_type_parameters_are_kept() -> None:
    att = Attachment("bang.csv", b"\xd0\xe3", "Text/CSV; charset=windows-1258")
    part = next(_parse(compose_message(_one(attachments=(att,)), SENDER).data).iter_attachments())
    assert part.get_content_type() == "text/csv" and part.get_content_charset() == "windows-1258"
    assert part.get_filename() == "bang.csv" and part.get_payload(decode=True) == b"\xd0\xe3"


@pytest.mark.parametrize("overrides", [{}, {"subject": ""}, {"cc": ("giamdoc@snv.tuyenquang.gov.vn",)},
                                       {"to": ("a@snv.tuyenquang.gov.vn", "b@snv.tuyenquang.gov.vn")}])
def test_a_mail_without_attachments_is_byte_for_byte_what_the_yagmail_skeleton_gives(
        overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Receipts skip building yagmail's MIME tree (its parts are replaced anyway): same bytes as through it."""
    import random

    from tasks.transports.mail import compose

    mail = _one(**overrides)
    monkeypatch.setattr(compose, "format_datetime", lambda _: "Mon, 15 Mar 2021 10:00:00 +0700")
    random.seed(7)
    direct = compose_message(mail, SENDER, OFFICE).data

    def through_yagmail(mail: OutgoingMail, subject: str, extra: dict[str, str], message_id: str) -> Any:
        skeleton = compose._yagmail_skeleton(mail, SENDER, OFFICE, subject, [], extra, message_id)
        return [(k, str(v)) for k, v in skeleton.items()]

    monkeypatch.setattr(compose, "bare_headers", through_yagmail)
    random.seed(7)
    assert compose_message(mail, SENDER, OFFICE).data == direct
    assert b"\r\nSubject: " in direct and direct.count(b"\r\nMessage-ID: <baocao.receipt.") == 1
