"""The web channel: the request carries the unit's own page, which accepts exactly that unit and period."""

from __future__ import annotations

import email
import email.policy

import yaml

from tasks.context import open_context
from tasks.links import read_unit_token
from tasks.request import request_mails
from tasks.transports.mail.compose import compose_message

SECRET = "k" * 40


def test_a_web_unit_is_sent_its_own_signed_link_and_the_workbook(config_dir, tmp_path, monkeypatch):
    units = config_dir / "units.yaml"
    data = yaml.safe_load(units.read_text(encoding="utf-8"))
    data["units"][0]["channel"] = "web"  # VP reports on the web page
    units.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("BAOCAO_WEB_SECRET", SECRET)
    ctx = open_context(config_dir, tmp_path / "data")
    [mail] = request_mails(ctx, ctx.period("2021-03"), [ctx.cfg.unit("VP")])
    msg = email.message_from_bytes(compose_message(mail, "vanphong@snv.tuyenquang.gov.vn").data,
                                   policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    link = text.split("trang nộp báo cáo của đơn vị ", 1)[1].split(" ", 1)[0]
    assert link.startswith("http://127.0.0.1:8080/nop/")
    token = read_unit_token(SECRET, link.rsplit("/", 1)[1])
    assert token is not None and (token.unit, token.report_id, token.period) == ("VP", "cchc-tuyen-truyen", "2021-03")
    assert read_unit_token("x" * 40, link.rsplit("/", 1)[1]) is None  # forged with another secret: nothing
    assert "trả lời thư này" not in text
    assert [a.get_filename() for a in msg.iter_attachments()] == ["BC-CCHC-2021-03-VP.xlsx"]
