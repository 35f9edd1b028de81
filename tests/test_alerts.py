"""Failure alerts: a failed flow run (real engine) mails the operator once, with how to retry."""

from __future__ import annotations

import email
from email import policy

import pytest

pytestmark = pytest.mark.slow


def _alerts(ctx, period: str) -> list[email.message.EmailMessage]:
    folder = ctx.outbox / period / "alert"
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def _text(msg: email.message.EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_failed_flow_run_mails_the_operator(prefect_engine, ctx, config_dir):
    from flows.cycle import request_reports

    with pytest.raises(Exception, match="2021-13"):
        request_reports(period="2021-13", config_dir=str(config_dir), data_dir=str(ctx.data_dir))
    current = ctx.period(None).key  # an unreadable period is reported under the current one
    [alert] = _alerts(ctx, current)
    assert alert["To"] == "vanphong@snv.tuyenquang.gov.vn"
    assert "Lỗi khi chạy Gửi đề nghị báo cáo" in alert["Subject"]
    body = _text(alert)
    assert "2021-13" in body and f"baocao request --period {current}" in body
    assert [e.action for e in ctx.ledger.audit_events("flow_run")] == ["failed"]


def test_failing_subflow_gives_one_alert_from_the_outer_run(prefect_engine, ctx, config_dir, tmp_path):
    from flows.cycle import report_cycle

    not_a_dir = tmp_path / "out"
    not_a_dir.write_text("a file where the output folder should be", encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 - whichever OSError the platform raises
        report_cycle(period="2021-03", config_dir=str(config_dir), data_dir=str(ctx.data_dir),
                     out_dir=str(not_a_dir), today="2021-03-17")
    [alert] = _alerts(ctx, "2021-03")
    assert "Lỗi khi chạy Chu kỳ báo cáo (tháng 3 năm 2021)" in alert["Subject"]
    assert "baocao cycle --period 2021-03" in _text(alert)
