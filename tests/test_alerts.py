"""Failure alerts: a failed flow run (real engine) mails the operator once, with how to retry; a run whose
configuration cannot be read still alerts, through the environment's address and the run's Prefect log."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from tasks.periods import current_period

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
    # the operator pastes the command as it is: the run's own config and data directories
    retry = (f"baocao --config {config_dir.resolve()} --data-dir {ctx.data_dir.resolve()} request "
             f"--period {current}")
    assert "2021-13" in body and f"Có thể chạy lại bước này bằng lệnh: {retry}" in body
    assert "--report" not in body  # the default report
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
    assert (f"baocao --config {config_dir.resolve()} --data-dir {ctx.data_dir.resolve()} cycle --period 2021-03"
            in _text(alert))


def test_retry_command_names_a_report_other_than_the_default(prefect_engine, ctx, config_dir, monkeypatch):
    from flows.cycle import send_reminders

    monkeypatch.setenv("BAOCAO_REPORT", "cchc-ket-qua")
    with pytest.raises(Exception, match="không hợp lệ"):
        send_reminders(period="2021-Q5", config_dir=str(config_dir), data_dir=str(ctx.data_dir))
    current = current_period(ctx.cfg.with_report("cchc-ket-qua").period_kind).key  # the report's own kind
    [alert] = _alerts(ctx, current)
    assert (f"baocao --config {config_dir.resolve()} --data-dir {ctx.data_dir.resolve()} --report cchc-ket-qua "
            f"remind --force --period {current}") in _text(alert)


def _run_logs(flow_run_id) -> list[tuple[int, str]]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [(log.level, log.message) for log in logs]


def test_broken_config_still_alerts_through_the_environment(prefect_engine, config_dir, tmp_path, monkeypatch):
    """settings.yaml broken: the ordinary alert needs it; the fallback mails BAOCAO_ALERT_EMAIL and logs in Prefect."""
    from flows.cycle import collect_submissions
    from tests.servers.smtp_server import smtp_server

    (config_dir / "settings.yaml").write_text("organisation: [unclosed\n", encoding="utf-8")
    data_dir = tmp_path / "data"
    monkeypatch.setenv("BAOCAO_ALERT_EMAIL", "trucban@snv.tuyenquang.gov.vn")
    with smtp_server(auth=False) as srv:
        monkeypatch.setenv("BAOCAO_ALERT_SMTP_HOST", srv.host)
        monkeypatch.setenv("BAOCAO_ALERT_SMTP_PORT", str(srv.port))
        state = collect_submissions(period="2021-03", config_dir=str(config_dir), data_dir=str(data_dir),
                                    return_state=True)
        received = srv.received
    assert state.is_failed()
    run_id = state.state_details.flow_run_id
    [path] = sorted((data_dir / "outbox" / "khac" / "alert").glob("*.eml"))
    assert path.name == f"{run_id}.eml"
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg["To"] == "trucban@snv.tuyenquang.gov.vn"
    assert msg["Subject"] == "[baocao] Lỗi khi chạy Thu báo cáo: không đọc được cấu hình"
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert f"Lỗi cấu hình: {config_dir / 'settings.yaml'}" in body
    assert (f"baocao --config {config_dir.resolve()} --data-dir {data_dir.resolve()} collect --period 2021-03"
            in body)
    assert [(m.rcpt_tos, email.message_from_bytes(m.data, policy=policy.default)["Subject"]) for m in received] == [
        (["trucban@snv.tuyenquang.gov.vn"], msg["Subject"])]
    logs = _run_logs(run_id)
    errors = [m for level, m in logs if level >= 40 and "không đọc được cấu hình" in m]
    assert len(errors) == 1 and str(config_dir / "settings.yaml") in errors[0]
    assert any(f"Đã gửi thư báo lỗi dự phòng tới trucban@snv.tuyenquang.gov.vn qua {srv.host}" in m for _, m in logs)


def test_broken_config_without_an_alert_address_is_said_in_the_run_log(prefect_engine, config_dir, tmp_path,
                                                                      monkeypatch):
    from flows.cycle import request_reports

    monkeypatch.delenv("BAOCAO_ALERT_EMAIL", raising=False)
    (config_dir / "settings.yaml").write_text("organisation: [unclosed\n", encoding="utf-8")
    state = request_reports(period="2021-03", config_dir=str(config_dir), data_dir=str(tmp_path / "data"),
                            return_state=True)
    assert state.is_failed()
    messages = [m for _, m in _run_logs(state.state_details.flow_run_id)]
    assert any("không đọc được cấu hình" in m for m in messages)
    assert "Chưa đặt biến môi trường BAOCAO_ALERT_EMAIL nên không có thư báo lỗi dự phòng." in messages
    assert not Path(tmp_path / "data" / "outbox").exists()
