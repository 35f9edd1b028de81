"""Sender authenticity: a mail counts for a unit only when its sender is unambiguous and not contradicted.

The header rules are checked directly on bytes (tasks.transports.mail.authenticity); then the same forged
mails go through a real Dovecot and the real collect (EmailChannel → tasks.collect → ledger), where each is
quarantined with its reason and the unit it pretends to be stays unreported.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tasks.channels.email import EmailChannel
from tasks.collect import collect_from
from tasks.context import open_context
from tasks.status import quarantine_rows, status_rows
from tasks.transports.mail.authenticity import from_address, sender_problem
from tests.test_email_channel import PERIOD, Mail, deliver, mail, reply, workbook  # noqa: F401 - fixture

OFFICE_MX = "mx.snv.tuyenquang.gov.vn"
VP = "vanphong@snv.tuyenquang.gov.vn"


def raw_mail(*headers: str) -> bytes:
    return ("\r\n".join([*headers, "Subject: [BC-CCHC 2021-03 VP] Báo cáo", "Message-ID: <1@donvi.test>"])
            .encode() + b"\r\n\r\nBody\r\n")


@pytest.mark.parametrize(("headers", "address"), [
    (["From: vanphong@snv.tuyenquang.gov.vn"], VP),
    (["From: VanPhong@SNV.TuyenQuang.gov.vn"], VP),
    (["From: <vanphong@snv.tuyenquang.gov.vn>"], VP),
    (['From: "Văn phòng, Sở Nội vụ" <vanphong@snv.tuyenquang.gov.vn>'], VP),
    (["From: =?utf-8?b?VsSDbiBwaMOybmcgU+G7nw==?= <vanphong@snv.tuyenquang.gov.vn>"], VP),
    (["From: Văn phòng Sở <vanphong@snv.tuyenquang.gov.vn>"], VP),  # raw UTF-8 (RFC 6532)
    (["From: Văn phòng Sở", " <vanphong@snv.tuyenquang.gov.vn>"], VP),  # folded
])
def test_one_plain_from_address_is_the_sender(headers: list[str], address: str) -> None:
    raw = raw_mail(*headers)
    assert from_address(raw).address == address
    assert sender_problem(raw, OFFICE_MX) is None


@pytest.mark.parametrize(("headers", "reason"), [
    (["From: vanphong@snv.tuyenquang.gov.vn (comment) <evil@x.com>"],
     "Tiêu đề From «vanphong@snv.tuyenquang.gov.vn (comment) <evil@x.com>» có 2 ký tự @ (phải đúng một địa chỉ); "
     "không xác định được người gửi thật."),
    (["From: <vanphong@snv.tuyenquang.gov.vn>@evil.com"],
     "Tiêu đề From «<vanphong@snv.tuyenquang.gov.vn>@evil.com» có 2 ký tự @ (phải đúng một địa chỉ); "
     "không xác định được người gửi thật."),
    (["From: vanphong@snv.tuyenquang.gov.vn, evil@x.com"],
     "Tiêu đề From «vanphong@snv.tuyenquang.gov.vn, evil@x.com» có 2 ký tự @ (phải đúng một địa chỉ); "
     "không xác định được người gửi thật."),
    (["From: vanphong@snv.tuyenquang.gov.vn", "From: evil@x.com"],
     "Thư có 2 tiêu đề From (vanphong@snv.tuyenquang.gov.vn; evil@x.com); không xác định được người gửi thật."),
    (["From: VP: vanphong@snv.tuyenquang.gov.vn;"],
     "Tiêu đề From «VP: vanphong@snv.tuyenquang.gov.vn;» là một nhóm địa chỉ; không xác định được người gửi thật."),
    (["From: vanphong@snv.tuyenquang.gov.vn (Văn phòng)"],
     "Tiêu đề From «vanphong@snv.tuyenquang.gov.vn (Văn phòng)» có chú thích trong ngoặc đơn; không xác định được "
     "người gửi thật."),
    (['From: "vanphong@snv.tuyenquang.gov.vn" <evil@x.com>'],
     "Tiêu đề From «\"vanphong@snv.tuyenquang.gov.vn\" <evil@x.com>» có 2 ký tự @ (phải đúng một địa chỉ); "
     "không xác định được người gửi thật."),
    (["From: =?utf-8?q?vanphong=40snv.tuyenquang.gov.vn?= <evil@x.com>"],
     "Tiêu đề From «=?utf-8?q?vanphong=40snv.tuyenquang.gov.vn?= <evil@x.com>» tên hiển thị chứa địa chỉ thư "
     "khác; không xác định được người gửi thật."),
    (['From: "vp@x"@evil.com'],
     "Tiêu đề From «\"vp@x\"@evil.com» có 2 ký tự @ (phải đúng một địa chỉ); không xác định được người gửi thật."),
    (["To: vanphong@snv.tuyenquang.gov.vn"],
     "Thư không có tiêu đề From (người gửi); không xác định được người gửi."),
    (["From: vanphong@snv.tuyenquang.gov.vn", "Sender: evil@x.com"],
     "Tiêu đề Sender «evil@x.com» thuộc tên miền x.com, khác tên miền của người gửi vanphong@snv.tuyenquang.gov.vn; "
     "thư có thể bị giả mạo."),
    (["Return-Path: <bounce@x.com>", "From: vanphong@snv.tuyenquang.gov.vn"],
     "Tiêu đề Return-Path «<bounce@x.com>» thuộc tên miền x.com, khác tên miền của người gửi "
     "vanphong@snv.tuyenquang.gov.vn; thư có thể bị giả mạo."),
    ([f"Authentication-Results: {OFFICE_MX}; spf=softfail smtp.mailfrom=snv.tuyenquang.gov.vn",
      "From: vanphong@snv.tuyenquang.gov.vn"],
     f"Máy chủ thư của Văn phòng ({OFFICE_MX}) xác thực thư từ vanphong@snv.tuyenquang.gov.vn không đạt: "
     "spf=softfail; thư có thể bị giả mạo."),
    ([f"Authentication-Results: {OFFICE_MX.upper()} 1 (milter; v2);",
      "  dkim=fail (bad signature) header.d=snv.tuyenquang.gov.vn;",
      "  dmarc=fail (p=none) header.from=snv.tuyenquang.gov.vn",
      f"Authentication-Results: {OFFICE_MX}; dkim=pass header.d=snv.tuyenquang.gov.vn",  # forged pass: no rescue
      "From: vanphong@snv.tuyenquang.gov.vn"],
     f"Máy chủ thư của Văn phòng ({OFFICE_MX}) xác thực thư từ vanphong@snv.tuyenquang.gov.vn không đạt: "
     "dkim=fail, dmarc=fail; thư có thể bị giả mạo."),
    ([f"Authentication-Results: {OFFICE_MX}; spf=permerror", "From: vanphong@snv.tuyenquang.gov.vn"],
     f"Máy chủ thư của Văn phòng ({OFFICE_MX}) xác thực thư từ vanphong@snv.tuyenquang.gov.vn không đạt: "
     "spf=permerror; thư có thể bị giả mạo."),
])
def test_ambiguous_or_contradicted_sender_is_quarantined(headers: list[str], reason: str) -> None:
    raw = raw_mail(*headers)
    assert from_address(raw).address is None or "From" not in reason
    assert sender_problem(raw, OFFICE_MX) == reason


@pytest.mark.parametrize("headers", [
    ["Sender: vanphong@snv.tuyenquang.gov.vn"],
    ["Sender: thu-ky@mail.snv.tuyenquang.gov.vn"],  # a subdomain of the From domain
    ["Return-Path: <>"],  # null reverse path: no domain to compare
    ["Return-Path: <bounce+x@tuyenquang.gov.vn>"],  # a parent domain
    ["Authentication-Results: relay.example.net; spf=fail; dkim=fail; dmarc=fail"],  # not the Office's server
    [f"Authentication-Results: {OFFICE_MX}.evil.com; dmarc=fail"],  # look-alike id
    [f"Authentication-Results: {OFFICE_MX}; spf=pass; dkim=pass header.d=snv.tuyenquang.gov.vn; dmarc=pass"],
    [f"Authentication-Results: {OFFICE_MX}; spf=temperror; dkim=none; dmarc=none"],  # DNS down, unsigned
    [f"Authentication-Results: {OFFICE_MX}; dkim=fail header.d=lists.example.org; dkim=pass "
     "header.d=snv.tuyenquang.gov.vn"],  # a list's broken signature says nothing about the sender
    [f"Authentication-Results: {OFFICE_MX}; none"],
])
def test_consistent_or_untrusted_headers_do_not_quarantine(headers: list[str]) -> None:
    assert sender_problem(raw_mail(*headers, "From: vanphong@snv.tuyenquang.gov.vn"), OFFICE_MX) is None


def test_authentication_results_are_ignored_without_a_configured_authserv_id() -> None:
    raw = raw_mail(f"Authentication-Results: {OFFICE_MX}; dmarc=fail", "From: vanphong@snv.tuyenquang.gov.vn")
    assert sender_problem(raw, None) is None
    assert "dmarc=fail" in (sender_problem(raw, OFFICE_MX) or "")


def _forge(raw: bytes, from_line: str | None = None, extra: tuple[str, ...] = ()) -> bytes:
    """Replace the From header of a real reply and put extra headers on top, as a delivering MTA would."""
    head, body = raw.split(b"\r\n\r\n", 1)
    if from_line is not None:
        head = re.sub(rb"(?m)^From: [^\r\n]*", from_line.encode(), head, count=1)
    return b"".join(h.encode() + b"\r\n" for h in extra) + head + b"\r\n\r\n" + body


def test_forged_senders_are_quarantined_through_dovecot_and_collect(mail: Mail) -> None:  # noqa: F811
    m = mail
    settings_path = m.config_dir / "settings.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["channels"]["imap"]["authserv_id"] = OFFICE_MX
    settings_path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    ctx = open_context(m.config_dir, m.data_dir)
    forged = {
        "VP": _forge(reply(m, "VP", files=[workbook(m, "VP")]),
                     "From: vanphong@snv.tuyenquang.gov.vn (comment) <evil@x.com>"),
        "TTr": _forge(reply(m, "TTr", files=[workbook(m, "TTr")]), f"From: <{m.email_of('TTr')}>@evil.com"),
        "TCBC": _forge(reply(m, "TCBC", files=[workbook(m, "TCBC")]), f"From: {m.email_of('TCBC')}, evil@x.com"),
        "CCHC": _forge(reply(m, "CCHC", files=[workbook(m, "CCHC")]),
                       f"From: {m.email_of('CCHC')}\r\nFrom: evil@x.com"),
        "XDCQ": _forge(reply(m, "XDCQ", files=[workbook(m, "XDCQ")]), extra=("Sender: evil@x.com",)),
        "CCVC": _forge(reply(m, "CCVC", files=[workbook(m, "CCVC")]), extra=("Return-Path: <evil@x.com>",)),
        "BTG": _forge(reply(m, "BTG", files=[workbook(m, "BTG")]), extra=(
            f"Authentication-Results: {OFFICE_MX}; spf=fail smtp.mailfrom=snv.tuyenquang.gov.vn; "
            "dmarc=fail header.from=snv.tuyenquang.gov.vn",)),
    }
    genuine = _forge(reply(m, "VTLT", files=[workbook(m, "VTLT")]), extra=(
        "Return-Path: <vtlt@snv.tuyenquang.gov.vn>",
        "Authentication-Results: relay.example.net; dmarc=fail",  # another relay's word: ignored
        f"Authentication-Results: {OFFICE_MX}; spf=pass; dkim=pass header.d=snv.tuyenquang.gov.vn; dmarc=pass"))
    for raw in [*forged.values(), genuine]:
        deliver(m, raw)

    outcomes = collect_from(ctx, ctx.period(PERIOD), EmailChannel(ctx))

    assert sorted(o.status for o in outcomes) == ["accepted"] + ["quarantined"] * 7
    assert [o.unit_code for o in outcomes if o.status == "accepted"] == ["VTLT"]
    quarantined = {row["reason"] for row in quarantine_rows(ctx, ctx.period(PERIOD))}
    assert len(quarantined) == 7
    assert ("Tiêu đề From «vanphong@snv.tuyenquang.gov.vn (comment) <evil@x.com>» có 2 ký tự @ (phải đúng một "
            "địa chỉ); không xác định được người gửi thật.") in quarantined
    assert (f"Thư có 2 tiêu đề From ({m.email_of('CCHC')}; evil@x.com); không xác định được người gửi "
            "thật.") in quarantined
    assert ("Tiêu đề Sender «evil@x.com» thuộc tên miền x.com, khác tên miền của người gửi "
            f"{m.email_of('XDCQ')}; thư có thể bị giả mạo.") in quarantined
    assert ("Tiêu đề Return-Path «<evil@x.com>» thuộc tên miền x.com, khác tên miền của người gửi "
            f"{m.email_of('CCVC')}; thư có thể bị giả mạo.") in quarantined
    assert (f"Máy chủ thư của Văn phòng ({OFFICE_MX}) xác thực thư từ {m.email_of('BTG')} không đạt: spf=fail, "
            "dmarc=fail; thư có thể bị giả mạo.") in quarantined
    status = {row["unit"]: row["status"] for row in status_rows(ctx, ctx.period(PERIOD))}
    assert {code: status[code] for code in forged} == dict.fromkeys(forged, "missing")
    assert status["VTLT"] == "on_time"
    assert m.smtp.received == []  # a forged mail is never answered (no backscatter to the forged address)
