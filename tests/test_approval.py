"""Approval before delivery, under the real engine: asked by mail, decided on the page, kept in the ledger.

No run is ever held paused: delivery asks and ends, the decision is stored, delivery runs again.
"""

from __future__ import annotations

import email
import hashlib
from datetime import UTC, date, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
import yaml
from docx import Document as Docx
from typer.testing import CliRunner

from flows.approval import approval_state, remind_approver
from tasks.approvals import RETURNED, hash_password, record_decision
from tasks.collect import process_documents
from tasks.consolidate import build_consolidation
from tasks.context import Context, open_context
from tasks.outputs import write_outputs
from tasks.samples import drop_samples
from tests.helpers import approve, filled, folder_documents

pytestmark = pytest.mark.slow
PERIOD = "2021-03"


def _configure(config_dir: Path, **changes: Any) -> None:
    path = config_dir / "settings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, values in changes.items():
        data[section].update(values)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _consolidated(config_dir: Path, data_dir: Path) -> Context:
    """A consolidated March report where delivery looks for it, built with the plain steps."""
    ctx = open_context(config_dir, data_dir)
    drop_samples(ctx, PERIOD)
    p = ctx.period(PERIOD)
    process_documents(ctx, p, folder_documents(ctx))
    write_outputs(ctx, p, build_consolidation(ctx, p), data_dir / "reports" / PERIOD)
    return ctx


def _emls(ctx: Context, kind: str) -> list[email.message.EmailMessage]:
    folder = ctx.outbox / PERIOD / kind
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def _body(msg: email.message.EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def _deliver(config_dir: Path, ctx: Context, **params: Any) -> dict[str, Any]:
    from flows.cycle import deliver_report, delivery_summary

    return delivery_summary(deliver_report(period=PERIOD, config_dir=str(config_dir), data_dir=str(ctx.data_dir),
                                           return_state=True, **params))


def test_delivery_asks_the_director_then_sends_the_issued_document(prefect_engine, config_dir, tmp_path):
    ctx = _consolidated(config_dir, tmp_path / "data")
    first = _deliver(config_dir, ctx)
    assert first == {"status": "waiting", "message": "Đã trình Giám đốc phê duyệt; chưa gửi UBND tỉnh"}
    [ask] = _emls(ctx, "approval")
    assert ask["To"] == "giamdoc@snv.tuyenquang.gov.vn"
    assert "http://127.0.0.1:8080/duyet/2021-03" in _body(ask)  # the page, at the configured public address
    [draft] = [a for a in ask.iter_attachments() if a.get_filename().endswith(".docx")]
    assert draft.get_content() == (ctx.data_dir / "reports" / PERIOD / "cchc-tuyen-truyen-2021-03.docx").read_bytes()
    assert _emls(ctx, "delivery") == []
    assert approval_state(ctx, ctx.period(PERIOD)).standing == "pending"
    assert _deliver(config_dir, ctx)["status"] == "waiting" and len(_emls(ctx, "approval")) == 1  # asked once

    approve(ctx, PERIOD, number="21/BC-SNV", issued=date(2021, 3, 18))
    sent = _deliver(config_dir, ctx)
    assert sent["status"] == "sent" and sent["written"] == ["delivery:cchc-tuyen-truyen:2021-03"]
    [delivery] = _emls(ctx, "delivery")
    files = {a.get_filename(): a.get_content() for a in delivery.iter_attachments()}
    issued = Docx(str(ctx.data_dir / "reports" / PERIOD / "cchc-tuyen-truyen-2021-03-ban-hanh.docx"))
    text = "\n".join(p.text for p in issued.paragraphs) + "\n".join(
        c.text for t in issued.tables for r in t.rows for c in r.cells)
    assert "Số: 21/BC-SNV" in text and "Tuyên Quang, ngày 18 tháng 3 năm 2021" in text and "DỰ THẢO" not in text
    # exactly the issued files went out, and the ledger holds their SHA-256
    [event] = [e for e in ctx.ledger.audit_events("report") if e.action == "delivered"]
    assert event.detail["sha256"] == {
        "cchc-tuyen-truyen-2021-03-ban-hanh.docx": hashlib.sha256(files["Báo cáo BC-CCHC 2021-03.docx"]).hexdigest(),
        "cchc-tuyen-truyen-2021-03.xlsx": hashlib.sha256(files["Báo cáo BC-CCHC 2021-03 - Phụ lục.xlsx"]).hexdigest()}
    assert event.detail["number"] == "21/BC-SNV" and event.detail["issue_date"] == "2021-03-18"
    assert _deliver(config_dir, ctx)["status"] == "delivered"  # never twice


def test_a_draft_consolidated_again_after_approval_needs_a_new_approval(prefect_engine, config_dir, tmp_path):
    ctx = _consolidated(config_dir, tmp_path / "data")
    approve(ctx, PERIOD)
    (ctx.inbox / "BTG.xlsx").write_bytes(filled(ctx, "BTG", PERIOD))  # a late report, consolidated again
    p = ctx.period(PERIOD)
    process_documents(ctx, p, folder_documents(ctx))
    write_outputs(ctx, p, build_consolidation(ctx, p), ctx.data_dir / "reports" / PERIOD)
    assert approval_state(ctx, p).standing == "not_requested"
    assert _deliver(config_dir, ctx)["status"] == "waiting"
    assert _emls(ctx, "delivery") == [] and len(_emls(ctx, "approval")) == 1


def test_a_returned_report_is_not_sent_and_the_office_is_told_why(prefect_engine, config_dir, tmp_path):
    ctx = _consolidated(config_dir, tmp_path / "data")
    p = ctx.period(PERIOD)
    from flows.approval import default_out, draft_digests

    record_decision(ctx.ledger, report_id=ctx.cfg.report.id, period=PERIOD, decision=RETURNED, username="giamdoc",
                    name="Bàng Quốc Việt", sha256=draft_digests(ctx, p, default_out(ctx, p)),
                    reason="Bổ sung số liệu của Ban Tôn giáo")
    result = _deliver(config_dir, ctx)
    assert result["status"] == "returned" and "Bổ sung số liệu của Ban Tôn giáo" in result["message"]
    [told] = _emls(ctx, "approval_reject")
    assert told["To"] == "vanphong@snv.tuyenquang.gov.vn"
    assert "Bổ sung số liệu của Ban Tôn giáo" in _body(told) and "CHƯA được gửi" in _body(told)
    assert _emls(ctx, "delivery") == []


def test_the_director_is_reminded_while_the_draft_waits(prefect_engine, config_dir, tmp_path):
    ctx = _consolidated(config_dir, tmp_path / "data")
    _deliver(config_dir, ctx)
    p = ctx.period(PERIOD)
    assert remind_approver(ctx, p, now=datetime.now(UTC) + timedelta(hours=1)) is None  # too early
    remind_approver(ctx, p, now=datetime.now(UTC) + timedelta(hours=25))
    subjects = [m["Subject"] for m in _emls(ctx, "approval")]
    assert len(subjects) == 2 and "Nhắc lần 1: Đề nghị phê duyệt" in subjects[1]


def test_approval_off_needs_number_and_date(prefect_engine, config_dir, tmp_path):
    _configure(config_dir, approval={"enabled": False})
    ctx = _consolidated(config_dir, tmp_path / "data")
    with pytest.raises(ValueError, match="Chưa có số ký hiệu và ngày ban hành"):
        _deliver(config_dir, ctx)
    sent = _deliver(config_dir, ctx, number="30/BC-SNV", issue_date="2021-03-19")
    assert sent["status"] == "sent" and _emls(ctx, "approval") == []


def test_a_signed_copy_is_sent_instead_and_recorded(prefect_engine, config_dir, tmp_path):
    ctx = _consolidated(config_dir, tmp_path / "data")
    approve(ctx, PERIOD)
    signed = tmp_path / "ban-ky.pdf"
    signed.write_bytes(b"%PDF-1.4 signed copy\n%%EOF\n")
    _deliver(config_dir, ctx, signed=str(signed))
    [delivery] = _emls(ctx, "delivery")
    files = {a.get_filename(): a.get_content() for a in delivery.iter_attachments()}
    assert files["Báo cáo BC-CCHC 2021-03 (bản ký).pdf"] == signed.read_bytes()
    [event] = [e for e in ctx.ledger.audit_events("report") if e.action == "delivered"]
    assert event.detail["sha256"]["ban-ky.pdf"] == hashlib.sha256(signed.read_bytes()).hexdigest()
    assert event.detail["signed_copy"] is True


def test_consolidation_after_deadline_stands_still_while_the_director_reads(prefect_engine, config_dir, tmp_path):
    from flows.cycle import consolidate_after_deadline

    ctx = _consolidated(config_dir, tmp_path / "data")
    _deliver(config_dir, ctx)
    skipped = consolidate_after_deadline(period=PERIOD, config_dir=str(config_dir), data_dir=str(ctx.data_dir),
                                         today="2021-03-17")
    assert skipped["skipped"] == "approval_pending"


def test_cli_approve_needs_the_approver_role(prefect_engine, config_dir, tmp_path):
    from flows.cli import app

    _configure(config_dir, web={"accounts": [
        {"username": "giamdoc", "name": "Bàng Quốc Việt", "role": "approver",
         "password_hash": hash_password("mat-khau-giam-doc")},
        {"username": "vanphong", "name": "Văn thư", "role": "operator",
         "password_hash": hash_password("mat-khau-van-phong")}]})
    ctx = _consolidated(config_dir, tmp_path / "data")
    base = ["--config", str(config_dir), "--data-dir", str(ctx.data_dir), "approve", "--period", PERIOD,
            "--number", "21/BC-SNV", "--issue-date", "2021-03-18"]
    wrong = CliRunner().invoke(app, [*base, "--user", "giamdoc"], input="sai\n")
    operator = CliRunner().invoke(app, [*base, "--user", "vanphong"], input="mat-khau-van-phong\n")
    for result in (wrong, operator):
        assert result.exit_code == 2 and "không có quyền phê duyệt" in result.output
    ok = CliRunner().invoke(app, [*base, "--user", "giamdoc"], input="mat-khau-giam-doc\n")
    assert ok.exit_code == 0, ok.output
    assert "Bàng Quốc Việt đã phê duyệt báo cáo tháng 3 năm 2021, số 21/BC-SNV, ngày 18/03/2021." in ok.output
    assert len(_emls(ctx, "delivery")) == 1
