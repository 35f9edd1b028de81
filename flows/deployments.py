"""Deployments of the report cycle: cron schedules from settings, event triggers, typed parameters.

`baocao serve` serves them from one long-running process; `prefect.yaml` declares the same deployments
for a process work pool (scale-out). Every deployment is named `baocao`, so the operator runs any step by
hand with `prefect deployment run <flow>/baocao --param period=2021-03` or from the Prefect UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.offline import ensure_offline  # noqa: E402

ensure_offline()

from prefect.deployments.runner import EntrypointType, RunnerDeployment  # noqa: E402
from prefect.events import DeploymentEventTrigger  # noqa: E402
from prefect.schedules import Cron, Schedule  # noqa: E402

from flows import cycle  # noqa: E402
from flows.events import PERIOD_COMPLETE, SUBMISSION_RECEIVED  # noqa: E402
from tasks.config import Settings  # noqa: E402

DEPLOYMENT_NAME = "baocao"
TAGS = ["baocao"]
# The event's period label (empty = the current period) becomes the run's `period` parameter.
PERIOD_FROM_EVENT = "{{ event.resource.get('baocao.period', '') }}"


def schedules(settings: Settings) -> dict[str, Schedule]:
    """Cron schedules in the configured time zone (Prefect's default would be UTC), keyed by flow name."""
    s, tz = settings.schedules, settings.timezone
    return {
        "request_reports": Cron(s.request, timezone=tz, slug="de-nghi-bao-cao"),
        "send_reminders": Cron(s.remind, timezone=tz, slug="nhac-bao-cao"),
        "collect_submissions": Cron(s.collect, timezone=tz, slug="thu-bao-cao"),
        "consolidate_after_deadline": Cron(s.consolidate, timezone=tz, slug="tong-hop-sau-han"),
    }


def triggers() -> dict[str, list[DeploymentEventTrigger]]:
    """Event triggers, keyed by flow name: a new file starts a collect run, a full period its consolidation."""
    return {
        "collect_submissions": [DeploymentEventTrigger(
            # any watcher (inbox folder, IMAP) may announce a submission: match on the event name only
            name="Có báo cáo mới: thu và kiểm tra", expect={SUBMISSION_RECEIVED},
            parameters={"period": PERIOD_FROM_EVENT})],
        "consolidate_report": [DeploymentEventTrigger(
            name="Đủ báo cáo: tổng hợp ngay", expect={PERIOD_COMPLETE},
            match={"prefect.resource.id": "baocao.period.*"}, parameters={"period": PERIOD_FROM_EVENT})],
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


def build_deployments(settings: Settings, config_dir: str | Path | None = None,
                      data_dir: str | Path | None = None) -> list[RunnerDeployment]:
    """One deployment per flow; config/data directories become absolute defaults so UI runs find them."""
    defaults: dict[str, Any] = {}
    if config_dir is not None:
        defaults["config_dir"] = str(Path(config_dir).resolve())
    if data_dir is not None:
        defaults["data_dir"] = str(Path(data_dir).resolve())
    scheds, trigs = schedules(settings), triggers()
    out = []
    for name, fl in flows().items():
        out.append(fl.to_deployment(
            DEPLOYMENT_NAME, schedules=[scheds[name]] if name in scheds else None, triggers=trigs.get(name),
            parameters=dict(defaults), description=DESCRIPTIONS[name], tags=TAGS,
            entrypoint_type=EntrypointType.MODULE_PATH))
    return out


def serve_all(settings: Settings, config_dir: str | Path | None, data_dir: str | Path | None,
              limit: int | None = None) -> None:
    """Register the deployments with the Prefect server and run their flow runs from this process."""
    from prefect import serve

    serve(*build_deployments(settings, config_dir, data_dir), limit=limit, print_starting_message=False)
