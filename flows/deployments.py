"""Deployments of the report cycle: cron schedules from settings, event triggers, typed parameters.

`baocao serve` serves them from one long-running process; `prefect.yaml` declares the same deployments
for a process work pool (scale-out). Every deployment is named `baocao`, so the operator runs any step by
hand with `prefect deployment run <flow>/baocao --param period=2021-03` or from the Prefect UI.

Flow names stay identifiers (the operator types them); each flow's Vietnamese description and the
description of every parameter come from the flow's docstring (its `Args:` section), and each deployment
carries a Vietnamese description of its own.

After downtime a scheduled deployment runs its missed schedule once: `baocao serve` cancels the older
missed runs of each schedule before it starts (keeping the latest), and every scheduled deployment has a
concurrency limit of 1: a new run while one is running is cancelled (a collect waits its turn instead).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.offline import ensure_offline  # noqa: E402

ensure_offline()

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy  # noqa: E402
from prefect.deployments.runner import EntrypointType, RunnerDeployment  # noqa: E402
from prefect.events import DeploymentEventTrigger  # noqa: E402
from prefect.schedules import Cron, Schedule  # noqa: E402

from flows import cycle  # noqa: E402
from flows.events import PERIOD_COMPLETE, SUBMISSION_RECEIVED  # noqa: E402
from tasks.config import Settings  # noqa: E402
from tasks.display import shown  # noqa: E402

DEPLOYMENT_NAME = "baocao"
TAGS = ["baocao"]
DEFAULT_LIMIT = 4  # flow runs `baocao serve` runs at once
# The event's period label (empty = the current period) becomes the run's `period` parameter.
REPORT_APPROVED, REPORT_RETURNED = "baocao.report.approved", "baocao.report.returned"  # flows/web/actions.py
PERIOD_FROM_EVENT = "{{ event.resource.get('baocao.period', '') }}"
# A scheduled step runs one at a time; a run arriving while one is running is cancelled, not queued...
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
# ...except a collect: one started for a new file (trigger) or by hand waits for the running one, then reads
# what that one could not have seen yet (no file waits for the next 15-minute run).
ONE_AT_A_TIME_QUEUED = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
CONCURRENCY = {"request_reports": ONE_AT_A_TIME, "send_reminders": ONE_AT_A_TIME,
               "collect_submissions": ONE_AT_A_TIME_QUEUED, "consolidate_after_deadline": ONE_AT_A_TIME}
MISSED = "Bỏ qua: lượt theo lịch bị lỡ khi baocao serve không chạy; chỉ chạy lượt gần nhất"


def schedules(settings: Settings) -> dict[str, Schedule]:
    """Cron schedules in the configured time zone (Prefect's default would be UTC), keyed by flow name."""
    s, tz = settings.schedules, settings.timezone
    return {
        "request_reports": Cron(s.request, timezone=tz, slug="de-nghi-bao-cao"),
        "send_reminders": Cron(s.remind, timezone=tz, slug="nhac-bao-cao"),
        "collect_submissions": Cron(s.collect, timezone=tz, slug="thu-bao-cao"),
        "consolidate_after_deadline": Cron(s.consolidate, timezone=tz, slug="tong-hop-sau-han"),
    }


SCHEDULED = ("request_reports", "send_reminders", "collect_submissions", "consolidate_after_deadline")


def triggers() -> dict[str, list[DeploymentEventTrigger]]:
    """Event triggers, keyed by flow name: a new file starts a collect run, a full period its consolidation, the
    Director's decision on the approval page the delivery."""
    return {
        "collect_submissions": [DeploymentEventTrigger(
            # any watcher (inbox folder, IMAP) may announce a submission: match on the event name only
            name="Có báo cáo mới: thu và kiểm tra", expect={SUBMISSION_RECEIVED},
            parameters={"period": PERIOD_FROM_EVENT})],
        "consolidate_report": [DeploymentEventTrigger(
            name="Đủ báo cáo: tổng hợp ngay", expect={PERIOD_COMPLETE},
            match={"prefect.resource.id": "baocao.period.*"}, parameters={"period": PERIOD_FROM_EVENT})],
        "deliver_report": [DeploymentEventTrigger(
            # the approval page's decision (flows/web/actions.py): approved sends, returned tells the Office
            name="Giám đốc đã quyết định: gửi hoặc báo trả lại", expect={REPORT_APPROVED, REPORT_RETURNED},
            match={"prefect.resource.id": "baocao.report.*"}, parameters={"period": PERIOD_FROM_EVENT})],
    }


DESCRIPTIONS = {
    "request_reports": "Gửi đề nghị báo cáo kèm biểu mẫu và hạn cho các đơn vị (ngay sau ngày chốt số liệu).",
    "collect_submissions": "Thu và kiểm tra báo cáo mới (định kỳ và ngay khi có tệp/thư mới).",
    "send_reminders": "Nhắc các đơn vị chưa có báo cáo hợp lệ vào các ngày đã cấu hình trước hạn.",
    "consolidate_report": "Tổng hợp báo cáo (chạy tay, hoặc tự động khi đủ báo cáo).",
    "consolidate_after_deadline": "Hằng ngày: tổng hợp khi đã hết hạn của đơn vị và chưa gửi báo cáo.",
    "deliver_report": "Chờ Giám đốc phê duyệt rồi gửi báo cáo tổng hợp tới UBND tỉnh và các nơi nhận.",
    "report_cycle": "Chạy cả chu kỳ: đề nghị, thu, nhắc, tổng hợp, gửi.",
}


def flows() -> dict[str, Any]:
    return {"request_reports": cycle.request_reports, "collect_submissions": cycle.collect_submissions,
            "send_reminders": cycle.send_reminders, "consolidate_report": cycle.consolidate_report,
            "consolidate_after_deadline": cycle.consolidate_after_deadline, "deliver_report": cycle.deliver_report,
            "report_cycle": cycle.report_cycle}


# --- what `baocao serve` prints when a run starts and ends -------------------------------------------------

_ENDINGS = {"COMPLETED": "hoàn thành", "FAILED": "thất bại", "CANCELLED": "đã hủy", "CRASHED": "bị dừng đột ngột"}


def _say(line: str) -> None:
    # the run's subprocess writes to the terminal of `baocao serve`; not print(): log_prints would take it
    sys.stdout.write(f"[{datetime.now():%H:%M:%S}] {line}\n")
    sys.stdout.flush()


def announce_start(flow: Any, flow_run: Any, state: Any) -> None:
    """`on_running` hook of the served flows: one Vietnamese line on the terminal of `baocao serve`."""
    if getattr(flow_run, "parent_task_run_id", None) is None:
        _say(f"Bắt đầu chạy: {shown(flow_run.name)} ({flow.name}/{DEPLOYMENT_NAME})")


def announce_end(flow: Any, flow_run: Any, state: Any) -> None:
    """Completion, failure, cancellation and crash hook of the served flows: how the run ended."""
    if getattr(flow_run, "parent_task_run_id", None) is not None:
        return
    ending = _ENDINGS.get(str(getattr(state.type, "value", state.type)), str(state.name))
    named = f" ({shown(state.name)})" if state.name and state.name not in ("Completed", "Failed", "Cancelled",
                                                                           "Crashed") else ""
    detail = f": {shown(state.message, 300)}" if state.message and not state.is_completed() else ""
    _say(f"Đã xong: {shown(flow_run.name)} — {ending}{named}{detail}")


def served(fl: Any) -> Any:
    """The flow as `baocao serve` runs it: its own hooks plus the start and end lines on the terminal."""
    return fl.with_options(
        on_running=[*fl.on_running_hooks, announce_start],
        on_completion=[*fl.on_completion_hooks, announce_end],
        on_failure=[*fl.on_failure_hooks, announce_end],
        on_cancellation=[*fl.on_cancellation_hooks, announce_end],
        on_crashed=[*fl.on_crashed_hooks, announce_end])


# The served flows are attributes of this module: a served run's subprocess loads them from here.
SERVED = {name: served(fl) for name, fl in flows().items()}
globals().update(SERVED)


def build_deployments(settings: Settings, config_dir: str | Path | None = None,
                      data_dir: str | Path | None = None, announce: bool = False) -> list[RunnerDeployment]:
    """One deployment per flow; config/data directories become absolute defaults so UI runs find them.

    `announce`: the served flows (flows.deployments.<flow>), which print when a run starts and ends.
    """
    defaults: dict[str, Any] = {}
    if config_dir is not None:
        defaults["config_dir"] = str(Path(config_dir).resolve())
    if data_dir is not None:
        defaults["data_dir"] = str(Path(data_dir).resolve())
    scheds, trigs = schedules(settings), triggers()
    out = []
    for name, fl in flows().items():
        dep = fl.to_deployment(
            DEPLOYMENT_NAME, schedules=[scheds[name]] if name in scheds else None, triggers=trigs.get(name),
            parameters=dict(defaults), description=DESCRIPTIONS[name], tags=TAGS,
            concurrency_limit=CONCURRENCY.get(name),
            entrypoint_type=EntrypointType.MODULE_PATH)
        if announce:
            dep.entrypoint = f"{__name__}.{name}"
        out.append(dep)
    return out


def skip_missed_runs(now: datetime | None = None) -> dict[str, int]:
    """Cancel the older missed runs of each scheduled deployment (keeping the latest): after downtime each
    schedule runs once, not once per missed slot. Runs started by hand or by an event are left alone.

    Returns how many runs were cancelled, by flow name.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Cancelled

    cutoff = now or datetime.now(UTC)
    skipped: dict[str, int] = {}
    with get_client(sync_client=True) as client:
        flow_names = {f.id: f.name for f in client.read_flows(flow_filter=FlowFilter(
            name=FlowFilterName(any_=list(SCHEDULED))))}
        if not flow_names:
            return skipped
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(SCHEDULED))),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[DEPLOYMENT_NAME])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                expected_start_time=FlowRunFilterExpectedStartTime(before_=cutoff)),  # type: ignore[arg-type]
            sort=FlowRunSort.EXPECTED_START_TIME_DESC)
        latest: set[Any] = set()
        for run in runs:
            if not run.auto_scheduled:
                continue
            if run.deployment_id not in latest:
                latest.add(run.deployment_id)  # the most recent missed slot runs
                continue
            client.set_flow_run_state(run.id, Cancelled(message=MISSED), force=True)
            name = flow_names.get(run.flow_id, "?")
            skipped[name] = skipped.get(name, 0) + 1
    return skipped


def serve_all(settings: Settings, config_dir: str | Path | None, data_dir: str | Path | None,
              limit: int | None = DEFAULT_LIMIT) -> None:
    """Register the deployments with the Prefect server and run their flow runs from this process."""
    from prefect import serve

    deployments = build_deployments(settings, config_dir, data_dir, announce=True)
    serve(*deployments, limit=limit, print_starting_message=False)
