"""Collecting from the folder inbox: recorded once, never changed, resubmissions supersede."""

import hashlib
import os
from datetime import datetime

from tasks.channels.folder import note_arrival
from tasks.collect import process_document, process_documents
from tasks.consolidate import build_consolidation
from tasks.periods import TZ
from tasks.request import request_mails
from tasks.samples import drop_samples
from tasks.status import quarantine_rows, status_rows
from tests.helpers import filled, folder_documents, mark_delivered


def _drop(ctx, name, data, when="2021-03-15T09:00"):
    ctx.inbox.mkdir(parents=True, exist_ok=True)
    path = ctx.inbox / name
    path.write_bytes(data)
    received = datetime.fromisoformat(when).replace(tzinfo=TZ)
    os.utime(path, (received.timestamp(), received.timestamp()))
    note_arrival(ctx, path, received)
    return path


def _collect(ctx, period="2021-03"):
    p = ctx.period(period)
    docs = folder_documents(ctx, ctx.ledger.known_hashes(ctx.cfg.report.id))
    return process_documents(ctx, p, docs)


def test_demo_month_outcomes(ctx):
    mark_delivered(ctx, "2021-02")  # TĐKT's file names February, which is closed: it is a wrong period for March
    drop_samples(ctx, "2021-03")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in ctx.inbox.iterdir()}
    outcomes = {o.source_ref.removeprefix("inbox/"): o for o in _collect(ctx)}
    assert {k: o.status for k, o in outcomes.items()} == {
        "CCHC lan 1.xlsx": "rejected", "CCHC lan 2 (da sua).xlsx": "accepted", "CCVC - bo sung.xlsx": "accepted",
        "CCVC.xlsx": "accepted", "TCBC-2021-03.xlsx": "accepted", "TDKT.xlsx": "rejected",
        "TTr_thang3.xlsx": "accepted", "VP - bao cao thang 3.xlsx": "accepted", "VTLT.csv": "accepted",
        "XDCQ.xlsx": "accepted", "ghi chu.txt": "rejected",
    }
    assert outcomes["XDCQ.xlsx"].on_time is False and outcomes["VP - bao cao thang 3.xlsx"].on_time is True
    assert outcomes["ghi chu.txt"].errors[0]["message"].startswith("Tệp 'ghi chu.txt' không phải bảng tính.")
    # nothing in the inbox was moved, changed or deleted
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in ctx.inbox.iterdir()} == before

    subs = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    ccvc = [(s.filename, s.status) for s in subs if s.unit_code == "CCVC"]
    assert ccvc == [("CCVC.xlsx", "superseded"), ("CCVC - bo sung.xlsx", "accepted")]
    rows = {r["unit"]: r for r in status_rows(ctx, ctx.period("2021-03"))}
    assert {u: r["status_vi"] for u, r in rows.items()} == {
        "VP": "Đúng hạn", "TTr": "Đúng hạn", "TCBC": "Đúng hạn", "CCHC": "Đúng hạn", "XDCQ": "Muộn",
        "CCVC": "Đúng hạn", "TĐKT": "Bị trả lại", "BTG": "Chưa báo cáo", "VTLT": "Đúng hạn"}
    assert rows["CCHC"]["submissions"] == 2
    assert any("giá trị “-1” nhỏ hơn" in e or "giá trị -1 nhỏ hơn" in e for e in rows["TĐKT"]["errors"])
    # a unit's own page shows the board's row for it, computed alone
    from flows.web.views import board, board_row

    shown = {r["unit"]: r for r in board(ctx, ctx.period("2021-03"))["rows"]}
    assert shown["CCVC"]["versions"] == 2 and shown["CCVC"]["source_vi"]
    for unit in ctx.cfg.active_units:
        assert board_row(ctx, ctx.period("2021-03"), unit) == shown[unit.code]
    # the audit trail has every state change
    actions = [(e.action) for e in ctx.ledger.audit_events("submission")]
    assert actions.count("superseded") == 1 and actions.count("accepted") == 8 and actions.count("rejected") == 3


def test_collecting_twice_records_nothing_new(ctx):
    _drop(ctx, "vp.xlsx", filled(ctx, "VP"))
    assert [o.status for o in _collect(ctx)] == ["accepted"]
    assert _collect(ctx) == []
    # the same bytes under another name are the same submission
    _drop(ctx, "vp (copy).xlsx", filled(ctx, "VP"))
    assert _collect(ctx) == []
    assert len(ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")) == 1


def test_record_is_idempotent_at_the_ledger(ctx):
    path = _drop(ctx, "vp.xlsx", filled(ctx, "VP"))
    doc = folder_documents(ctx)[0]
    p = ctx.period("2021-03")
    assert process_document(ctx, p, doc).status == "accepted"
    assert process_document(ctx, p, doc).status == "duplicate"
    assert path.exists()


def test_broken_file_does_not_hide_other_units(ctx):
    _drop(ctx, "a-broken.xlsx", filled(ctx, "TTr")[:500])
    _drop(ctx, "b-vp.xlsx", filled(ctx, "VP"))
    outcomes = _collect(ctx)
    assert [o.status for o in outcomes] == ["rejected", "accepted"]
    assert "tệp bị hỏng" in outcomes[0].errors[0]["message"]
    quarantine = quarantine_rows(ctx, ctx.period("2021-03"))
    assert [q["source"] for q in quarantine] == ["inbox/a-broken.xlsx"]


def test_later_rejected_resubmission_keeps_accepted_one(ctx):
    _drop(ctx, "vp1.xlsx", filled(ctx, "VP"), "2021-03-15T09:00")
    _drop(ctx, "vp2.xlsx", filled(ctx, "VP", W01="nhiều"), "2021-03-16T09:00")
    assert [o.status for o in _collect(ctx)] == ["accepted", "rejected"]
    row = next(r for r in status_rows(ctx, ctx.period("2021-03")) if r["unit"] == "VP")
    assert row["status"] == "on_time"


def test_operator_reopens_a_rejected_submission(ctx):
    _drop(ctx, "btg.xlsx", filled(ctx, "BTG", H01=1, H02=0))
    (o,) = _collect(ctx)
    assert o.status == "rejected"
    ctx.ledger.reopen(o.submission_id, "Đơn vị xác nhận hội nghị trực tuyến, không thống kê người dự")
    row = next(r for r in status_rows(ctx, ctx.period("2021-03")) if r["unit"] == "BTG")
    assert row["status"] == "on_time"
    assert ctx.ledger.audit_events("submission")[-1].detail["note"].startswith("Đơn vị xác nhận")


def test_report_for_an_open_period_is_filed_under_it(ctx):
    # collecting February (the current period until 15 March), a unit sends its March report early
    _drop(ctx, "vp-march.xlsx", filled(ctx, "VP", "2021-03"), "2021-03-13T10:00")
    (o,) = _collect(ctx, "2021-02")
    assert (o.status, o.period) == ("accepted", "2021-03")
    assert [s.unit_code for s in ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")] == ["VP"]
    assert ctx.ledger.submissions(ctx.cfg.report.id, "2021-02") == []


def test_report_for_a_delivered_period_is_a_wrong_period(ctx):
    mark_delivered(ctx, "2021-02")
    _drop(ctx, "vp-feb.xlsx", filled(ctx, "VP", "2021-02"), "2021-03-15T10:00")
    (o,) = _collect(ctx, "2021-03")
    assert (o.status, o.period) == ("rejected", "2021-03")
    assert o.errors[0]["message"].startswith("Kỳ báo cáo “2021-02” (ô B5) không đúng: đang tổng hợp kỳ 2021-03")


def test_reopened_submission_counts_its_values(ctx):
    _drop(ctx, "cchc.xlsx", filled(ctx, "CCHC", K02=""))  # K01 = 1 without a description: rejected
    (o,) = _collect(ctx)
    assert o.status == "rejected"
    ctx.ledger.reopen(o.submission_id, "Văn phòng xác nhận hình thức khác qua điện thoại")
    c = build_consolidation(ctx, ctx.period("2021-03"))
    assert c["totals"]["W01"] == 9 and c["values_by_unit"]["CCHC"]["H02"] == 150


def test_correction_after_deadline_keeps_unit_on_time(ctx):
    _drop(ctx, "vp1.xlsx", filled(ctx, "VP"), "2021-03-15T09:00")
    _drop(ctx, "vp2.xlsx", filled(ctx, "VP", W01=13), "2021-03-20T09:00")
    _collect(ctx)
    row = next(r for r in status_rows(ctx, ctx.period("2021-03")) if r["unit"] == "VP")
    assert row["status"] == "on_time"
    c = build_consolidation(ctx, ctx.period("2021-03"))
    assert c["totals"]["W01"] == 13 and c["completeness"]["on_time"] == ["VP"]


def test_reopen_refuses_unknown_unit(ctx):
    import pytest

    _drop(ctx, "note.txt", b"hello")
    (o,) = _collect(ctx)
    with pytest.raises(ValueError, match="không xác định được đơn vị"):
        ctx.ledger.reopen(o.submission_id, "x")


def test_resend_keeps_every_eml(ctx):
    from tasks.sending import dispatch

    mails = request_mails(ctx, ctx.period("2021-03"), [ctx.cfg.unit("VP")])
    assert dispatch(ctx, mails).written == ["request:cchc-tuyen-truyen:2021-03:VP"]
    assert dispatch(ctx, mails).skipped == ["request:cchc-tuyen-truyen:2021-03:VP"]
    dispatch(ctx, mails, resend=True)
    names = sorted(p.name for p in (ctx.outbox / "2021-03" / "request").iterdir())
    assert names == ["request_cchc-tuyen-truyen_2021-03_VP.2.eml", "request_cchc-tuyen-truyen_2021-03_VP.eml"]
    sends = [e for e in ctx.ledger.audit_events("message") if e.action == "written"]
    assert len(sends) == 2 and sends[0].detail["message_id"] != sends[1].detail["message_id"]


def test_a_pdf_that_cannot_be_made_is_said_not_dropped(ctx, monkeypatch):
    """A failed PDF conversion used to be swallowed: now it is in the result and the ledger, with the reason."""
    from tasks.outputs import write_outputs

    monkeypatch.delenv("BAOCAO_NO_PDF", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no LibreOffice on this server
    _collect(ctx)
    period = ctx.period("2021-03")
    written = write_outputs(ctx, period, build_consolidation(ctx, period), ctx.data_dir / "reports" / "2021-03")
    assert "pdf" not in written.paths and "LibreOffice" in (written.pdf_problem or "")
    [event] = [e for e in ctx.ledger.audit_events("report") if e.action == "consolidated"]
    assert event.detail["pdf_problem"] == written.pdf_problem


def test_every_owed_reply_is_sent_in_one_run_page_by_page(ctx):
    """Replies are sent in pages (bounded memory), but all of them by the run: none waits for the next one."""
    from tasks.replies import send_owed_replies
    from tasks.samples import drop_samples

    drop_samples(ctx, "2021-03")
    outcomes = _collect(ctx)
    answered = [o for o in outcomes if o.status in ("accepted", "rejected") and o.unit_code]  # 'ghi chu.txt': no one
    report = send_owed_replies(ctx, page=2)
    assert len(report.written) == len(set(report.written)) == len(answered) == 10
    kinds = sorted(p.parent.name for p in ctx.outbox.rglob("*.eml"))
    assert kinds == ["receipt"] * 8 + ["rejection"] * 2
    assert ctx.ledger.owed_reply_page(ctx.cfg.report.id) == []  # every page settled, the unanswerable one too
    assert send_owed_replies(ctx, page=2).written == []  # nothing goes twice


def test_a_channel_not_reached_is_shown_before_any_units_errors():
    """At 10,000 units a summary may hold hundreds of per-tab errors; the mailbox that was down (an error without
    a unit) still comes first among the outcomes shown, so the operator is told."""
    from tasks.collect import summarise
    from tasks.types import Outcome, OutcomeStatus

    tabs = [Outcome(f"sheet:S1/U{i}", OutcomeStatus.ERROR, f"U{i}", reason="Không tìm thấy trang tính")
            for i in range(250)]
    down = Outcome("email:", OutcomeStatus.ERROR, reason="Máy chủ IMAP từ chối kết nối")
    summary = summarise([*tabs, down], shown=200)
    assert summary["total"] == 251 and summary["counts"] == {"error": 251}
    assert [o["source_ref"] for o in summary["outcomes"][:2]] == ["email:", "sheet:S1/U0"]


def test_a_report_quarantined_for_its_sender_is_judged_again_when_its_contact_sends_the_same_file(ctx):
    """The unit's contact first sends the report from a private address (quarantined: no answer, not counted,
    and the Office cannot accept it), then the same file from the registered address. That mail is not a
    duplicate of the quarantined one: it is judged, counted and answered. The quarantined mail read again
    (a crash before it was marked) is still the same document."""
    from tasks.types import Document

    mark_delivered(ctx, "2021-02")
    data = filled(ctx, "TTr", "2021-03")
    contact = ctx.cfg.unit("TTr").emails[0]

    def mail(n: int, sender: str) -> Document:
        return Document(source="email", source_ref=f"<m{n}@x>#TTr.xlsx", filename="TTr.xlsx", content=data,
                        received_at=datetime(2021, 3, 15, 9, n, tzinfo=TZ), sender=sender, message_id=f"<m{n}@x>")

    [first] = process_documents(ctx, ctx.period("2021-03"), [mail(1, "nguoi.la@example.org")])
    assert first.status == "quarantined"
    [again] = process_documents(ctx, ctx.period("2021-03"), [mail(1, "nguoi.la@example.org")])
    assert again.status == "duplicate"
    [second] = process_documents(ctx, ctx.period("2021-03"), [mail(2, contact)])
    assert (second.status, second.unit_code) == ("accepted", "TTr")
    assert ctx.ledger.owed_reply_page(ctx.cfg.report.id) == [(second.submission_id, "receipt")]
    assert {r["unit"]: r["status"] for r in status_rows(ctx, ctx.period("2021-03"))}["TTr"] == "on_time"


def test_a_reply_that_cannot_be_built_is_that_replys_problem(ctx, caplog):
    """One owed reply whose mail cannot be made (here its submission's recorded period no longer parses, as a
    row an earlier version or a hand edit left behind) stays owed and is named for the Office; every other
    reply of the page is written and settled, run after run."""
    import logging

    from sqlalchemy import text

    from tasks.replies import send_owed_replies
    from tasks.samples import drop_samples

    drop_samples(ctx, "2021-03")
    outcomes = _collect(ctx)
    broken = next(o.submission_id for o in outcomes if o.status == "rejected" and o.unit_code == "CCHC")
    with ctx.ledger.engine.begin() as conn:
        conn.execute(text("UPDATE submissions SET period = '2021-T3' WHERE id = :i"), {"i": broken})
    with caplog.at_level(logging.WARNING):
        report = send_owed_replies(ctx, page=2)
    assert len(report.written) == 9  # the 10 answerable replies but the broken one
    [(ref, why)] = report.failed
    assert str(broken) in ref and f"báo cáo số {broken}" in why and "2021-T3" in why
    assert any(f"báo cáo số {broken}" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert ctx.ledger.owed_reply_page(ctx.cfg.report.id) == [(broken, "rejection")]  # owed still
    [event] = [e for e in ctx.ledger.audit_events("submission") if e.action == "reply_failed"]
    assert event.entity_id == str(broken) and "PeriodError" in event.detail["error"]
    again = send_owed_replies(ctx, page=2)  # the next run tries it again, and sends nothing twice
    assert again.written == [] and [ref for ref, _ in again.failed] == [ref]
    with ctx.ledger.engine.begin() as conn:  # the row is put right: its answer goes with the next run
        conn.execute(text("UPDATE submissions SET period = '2021-03' WHERE id = :i"), {"i": broken})
    fixed = send_owed_replies(ctx, page=2)
    assert len(fixed.written) == 1 and fixed.failed == []
    assert ctx.ledger.owed_reply_page(ctx.cfg.report.id) == []
