"""What the pages start elsewhere: operator actions as Prefect deployment runs, and the approval event.

The starters and the decision hook are injectable (create_app arguments), so tests record calls or run
the real step directly. Nothing here waits for a flow run: a run is started and the page answers at once.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from tasks.approvals import Decision
from tasks.context import Context

log = logging.getLogger("baocao.web")

APPROVED_EVENT = "baocao.report.approved"
RETURNED_EVENT = "baocao.report.returned"

# The operator's buttons: the same flows (and parameters) as the CLI commands remind, collect, consolidate.
ACTIONS: dict[str, tuple[str, dict[str, Any], str]] = {
    "remind": ("send_reminders", {"force": True}, "Nhắc các đơn vị chưa có báo cáo hợp lệ"),
    "collect": ("collect_submissions", {}, "Thu và kiểm tra báo cáo mới"),
    "consolidate": ("consolidate_report", {}, "Tổng hợp báo cáo"),
}


class Starter(Protocol):
    def __call__(self, flow_name: str, parameters: dict[str, Any]) -> str:
        """Start a run of the flow's deployment; return a short reference to show (run id or name)."""


def run_finished(starter: Starter, ref: str) -> bool | None:
    """Whether the run a starter started has finished, when the starter can tell (its `finished(ref)`);
    None when it cannot (a test's recorder, another web worker's in-process run, the server not answering)."""
    finished = getattr(starter, "finished", None)
    if not callable(finished):
        return None
    try:
        answer = finished(ref)
    except Exception as exc:  # noqa: BLE001 - only a guard's question: unknown, the guard's window decides
        log.warning("Không biết lượt chạy %s đã xong chưa: %s", ref, exc)
        return None
    return answer if isinstance(answer, bool) else None


DecisionHook = Callable[[Context, Decision], None]


class PrefectStarter:
    """Start `<flow>/baocao` on the Prefect server (the deployment `baocao serve` serves); do not wait."""

    def __call__(self, flow_name: str, parameters: dict[str, Any]) -> str:
        from prefect.deployments import run_deployment

        from flows.deployments import DEPLOYMENT_NAME

        run = run_deployment(f"{flow_name}/{DEPLOYMENT_NAME}", parameters=parameters, timeout=0)
        return str(run.id)  # type: ignore[union-attr]

    def finished(self, ref: str) -> bool | None:
        """Whether the flow run `ref` is in a final state (completed, failed, cancelled, crashed)."""
        from uuid import UUID

        from prefect import get_client

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(ref)).state
        return None if state is None else state.is_final()


prefect_starter = PrefectStarter()


class InProcessStarter:
    """No Prefect server configured: run the flow in a background thread of this process."""

    def __init__(self, config_dir: str | None, data_dir: str | None):
        self.config_dir, self.data_dir = config_dir, data_dir
        self.threads: list[threading.Thread] = []
        self._runs: dict[str, threading.Thread] = {}

    def __call__(self, flow_name: str, parameters: dict[str, Any]) -> str:
        from flows.deployments import flows

        fn = flows()[flow_name]
        params = {"config_dir": self.config_dir, "data_dir": self.data_dir, **parameters}

        def run() -> None:
            try:
                fn(**params)
            except Exception:  # shown in the log; the board shows the result (or its absence)
                log.exception("Lượt chạy %s lỗi", flow_name)

        t = threading.Thread(target=run, name=f"baocao-web-{flow_name}", daemon=True)
        t.start()
        self.threads.append(t)
        ref = f"{flow_name} {uuid.uuid4().hex[:12]} (trong tiến trình web)"  # unique across web workers
        self._runs[ref] = t
        return ref

    def finished(self, ref: str) -> bool | None:
        """Whether this process's run `ref` has ended (None: not one of this process's runs)."""
        t = self._runs.get(ref)
        return None if t is None else not t.is_alive()


def default_starter(config_dir: str | None, data_dir: str | None) -> Starter:
    """Prefect deployments when a server is configured (PREFECT_API_URL), else in this process."""
    if os.environ.get("PREFECT_API_URL"):
        return prefect_starter
    try:
        from prefect.settings import PREFECT_API_URL

        if PREFECT_API_URL.value():
            return prefect_starter
    except Exception:  # pragma: no cover - Prefect settings unreadable
        pass
    return InProcessStarter(config_dir, data_dir)


def emit_decision_event(ctx: Context, decision: Decision) -> None:
    """`baocao.report.approved` (or `.returned`) for the period's report: the approval trigger starts delivery."""
    from prefect.events import emit_event

    report = ctx.cfg.report.id
    event = APPROVED_EVENT if decision.approved else RETURNED_EVENT
    try:
        emit_event(event=event,
                   resource={"prefect.resource.id": f"baocao.report.{report}.{decision.period}",
                             "baocao.report": report, "baocao.period": decision.period},
                   payload={"decision_id": decision.id, "approver": decision.username, "name": decision.name,
                            "document_number": decision.document_number,
                            "issue_date": decision.issue_date.isoformat() if decision.issue_date else None,
                            "reason": decision.reason, "sha256": decision.sha256})
    except Exception as exc:  # the decision is stored; the operator can still deliver by hand
        log.warning("Không phát được sự kiện %s: %s", event, exc)
        ctx.ledger.audit("approval", f"{report}:{decision.period}", "event_failed", error=str(exc))
