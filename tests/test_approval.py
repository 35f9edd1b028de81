"""Approval before delivery, under the real engine: the run pauses, reminds, resumes or stops."""

from __future__ import annotations

import email
import hashlib
import threading
import time
from collections.abc import Callable
from email import policy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.consolidate import build_consolidation
from tasks.context import Context, open_context
from tasks.outputs import write_outputs
from tasks.samples import drop_samples

pytestmark = pytest.mark.slow
PERIOD = "2021-03"


def _configure(config_dir: Path, **approval: Any) -> None:
    path = config_dir / "settings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["approval"].update(approval)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _consolidated(config_dir: Path, data_dir: Path, out: Path) -> Context:
    """A consolidated March report on disk, built with the plain steps (the flows are tested elsewhere)."""
    ctx = open_context(config_dir, data_dir)
    from tasks.collect import process_documents
    from tests.helpers import folder_documents

    drop_samples(ctx, PERIOD)
    p = ctx.period(PERIOD)
    process_documents(ctx, p, folder_documents(ctx))
    write_outputs(ctx, p, build_consolidation(ctx, p), out)
    return ctx


def _emls(ctx: Context, kind: str) -> list[email.message.EmailMessage]:
    folder = ctx.outbox / PERIOD / kind
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def _body(msg: email.message.EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def _paused_run(name: str, timeout: float = 120):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
            paused = [r for r in runs if r.state and r.state.is_paused()]
            if paused:
                return paused[0]
            time.sleep(0.5)
    raise AssertionError(f"no paused run named {name!r}")


def _run_deliver_and_answer(config_dir: Path, ctx: Context, out: Path,
                            answer: Callable[[Any], None]) -> dict[str, Any]:
    """Run deliver_report here; a helper thread waits for the pause and answers like the signer in the UI."""
    from flows.cycle import deliver_report

    errors: list[BaseException] = []

    def signer() -> None:
        run = None
        try:
            run = _paused_run(f"Gửi báo cáo tổng hợp {PERIOD}")
            answer(run)
        except BaseException as exc:  # surfaced in the main thread, after unblocking the paused run
            errors.append(exc)
            if run is not None:
                from prefect.flow_runs import resume_flow_run

                resume_flow_run(run.id, run_input={"approve": False, "comment": "test failed", "signer": "x"})

    t = threading.Thread(target=signer, daemon=True)
    t.start()
    result = deliver_report(period=PERIOD, config_dir=str(config_dir), data_dir=str(ctx.data_dir), out_dir=str(out))
    t.join(timeout=60)
    if errors:
        raise errors[0]
    return result


def _form_description(run) -> str:
    """What the signer reads above the Resume form in the Prefect UI."""
    from prefect.input.actions import read_flow_run_input
    from prefect.input.run_input import keyset_from_paused_state

    return read_flow_run_input(keyset_from_paused_state(run.state)["description"], flow_run_id=run.id)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wait_for(cond: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.3)


def test_paused_delivery_reminds_then_resumes_on_approval(prefect_engine, config_dir, tmp_path, monkeypatch):
    from prefect.flow_runs import resume_flow_run

    monkeypatch.setenv("BAOCAO_APPROVAL_POLL_SECONDS", "1")
    _configure(config_dir, remind_after_hours=1.5 / 3600, timeout_hours=0.25)  # remind every 1.5 s
    out = tmp_path / "out"
    ctx = _consolidated(config_dir, tmp_path / "data", out)

    def approve(run) -> None:
        # the signer was asked, then reminded while the run waited; nothing has been delivered yet
        _wait_for(lambda: len(_emls(ctx, "approval")) >= 2)
        assert not _emls(ctx, "delivery")
        docx = out / f"cchc-tuyen-truyen-{PERIOD}.docx"
        assert f"`{docx.name}`: `{_sha256(docx)}`" in _form_description(run)
        resume_flow_run(run.id, run_input={"approve": True, "comment": "", "signer": "Bàng Quốc Việt"})

    result = _run_deliver_and_answer(config_dir, ctx, out, approve)

    assert result["approved"] is True and len(result["written"]) == 1
    asks = _emls(ctx, "approval")
    assert asks[0]["To"] == "giamdoc@snv.tuyenquang.gov.vn"
    assert "Đề nghị phê duyệt báo cáo" in asks[0]["Subject"] and "Nhắc lần 1" in asks[1]["Subject"]
    assert "Đã báo cáo: 7/9 đơn vị" in _body(asks[0])
    assert len(_emls(ctx, "delivery")) == 1 and not _emls(ctx, "approval_reject")
    events = ctx.ledger.audit_events("approval")
    assert [e.action for e in events][0] == "requested" and events[-1].action == "approved"
    assert "reminded" in [e.action for e in events] and "stale" not in [e.action for e in events]
    hashes = events[0].detail["sha256"]
    assert sorted(Path(n).suffix for n in hashes) in ([".docx", ".json", ".xlsx"], [".docx", ".json", ".pdf", ".xlsx"])
    assert all(hashes[p.name] == _sha256(p) for p in out.iterdir() if p.name in hashes)


def test_files_rewritten_while_waiting_void_the_approval(prefect_engine, config_dir, tmp_path, monkeypatch):
    """The Director approves what was shown; a consolidation meanwhile means nothing is sent."""
    from prefect.flow_runs import resume_flow_run

    from flows.approval import approval_pending
    from flows.cycle import consolidate_after_deadline

    monkeypatch.setenv("BAOCAO_APPROVAL_POLL_SECONDS", "1")
    _configure(config_dir, remind_after_hours=24, timeout_hours=1)
    out = tmp_path / "out"
    ctx = _consolidated(config_dir, tmp_path / "data", out)
    docx = out / f"cchc-tuyen-truyen-{PERIOD}.docx"
    shown = _sha256(docx)
    skipped: dict[str, Any] = {}

    def rewrite_then_approve(run) -> None:
        assert approval_pending(ctx, ctx.period(PERIOD))
        # the daily schedule leaves the period alone while the Director decides (deadline 16/03 has passed)
        skipped.update(consolidate_after_deadline(period=PERIOD, config_dir=str(config_dir),
                                                  data_dir=str(ctx.data_dir), today="2021-03-17"))
        docx.write_bytes(docx.read_bytes() + b"\0")  # a re-consolidation the signer never saw
        resume_flow_run(run.id, run_input={"approve": True, "comment": "", "signer": "Bàng Quốc Việt"})

    result = _run_deliver_and_answer(config_dir, ctx, out, rewrite_then_approve)

    assert skipped == {"period": PERIOD, "skipped": "approval_pending"}
    assert result["approved"] is False and "tổng hợp lại" in result["comment"] and docx.name in result["comment"]
    assert not _emls(ctx, "delivery")
    assert ctx.ledger.message(f"delivery:cchc-tuyen-truyen:{PERIOD}") is None
    [back] = _emls(ctx, "approval_reject")
    assert back["To"] == "vanphong@snv.tuyenquang.gov.vn"
    assert "trình duyệt lại" in _body(back) and docx.name in _body(back)
    events = ctx.ledger.audit_events("approval")
    assert [e.action for e in events] == ["requested", "approved", "stale"]
    assert events[0].detail["sha256"][docx.name] == shown
    assert events[-1].detail["changed"] == [docx.name]
    assert events[-1].detail["after"][docx.name] == _sha256(docx) != shown
    assert not approval_pending(ctx, ctx.period(PERIOD))


def test_rejection_stops_delivery_and_tells_the_operator(prefect_engine, config_dir, tmp_path, monkeypatch):
    from prefect.flow_runs import resume_flow_run

    monkeypatch.setenv("BAOCAO_APPROVAL_POLL_SECONDS", "1")
    _configure(config_dir, remind_after_hours=24, timeout_hours=1)
    out = tmp_path / "out"
    ctx = _consolidated(config_dir, tmp_path / "data", out)
    comment = "Bổ sung số liệu của Ban Tôn giáo trước khi gửi."

    result = _run_deliver_and_answer(config_dir, ctx, out, lambda run: resume_flow_run(
        run.id, run_input={"approve": False, "comment": comment, "signer": "Bàng Quốc Việt"}))

    assert result == {"approved": False, "comment": comment}
    assert not _emls(ctx, "delivery")
    [back] = _emls(ctx, "approval_reject")
    assert back["To"] == "vanphong@snv.tuyenquang.gov.vn"
    assert "bị trả lại" in back["Subject"]
    assert comment in _body(back) and "Bàng Quốc Việt" in _body(back)
    events = ctx.ledger.audit_events("approval")
    assert events[-1].action == "rejected" and events[-1].detail["comment"] == comment
    assert len(_emls(ctx, "approval")) == 1  # asked once, no reminder within 24 h


def test_approval_off_delivers_without_pausing(prefect_engine, config_dir, tmp_path):
    from flows.cycle import deliver_report

    _configure(config_dir, enabled=False)
    out = tmp_path / "out"
    ctx = _consolidated(config_dir, tmp_path / "data", out)
    result = deliver_report(period=PERIOD, config_dir=str(config_dir), data_dir=str(ctx.data_dir), out_dir=str(out))
    assert result["approved"] is True and len(_emls(ctx, "delivery")) == 1
    assert not _emls(ctx, "approval") and not ctx.ledger.audit_events("approval")
