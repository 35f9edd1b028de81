"""Deployments: cron schedules in Asia/Ho_Chi_Minh from settings, typed parameters, prefect.yaml in step."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from flows.deployments import (
    CONCURRENCY,
    DEPLOYMENT_NAME,
    DESCRIPTIONS,
    build_deployments,
    flows,
    schedules,
    triggers,
)
from flows.offline import OFFLINE_ENV
from tasks.config import load_config

ROOT = Path(__file__).resolve().parent.parent
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def _settings(config_dir: Path, **schedules_override: str):
    if schedules_override:
        path = config_dir / "settings.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["schedules"].update(schedules_override)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(config_dir).settings


def test_schedules_come_from_settings_in_local_time(config_dir: Path) -> None:
    settings = _settings(config_dir, request="30 7 16 * *")
    s = schedules(settings)
    assert s["request_reports"].cron == "30 7 16 * *"
    assert s["collect_submissions"].cron == settings.schedules.collect
    assert {x.timezone for x in s.values()} == {"Asia/Ho_Chi_Minh"}


def test_every_flow_has_a_deployment_with_typed_parameters(config_dir: Path, tmp_path: Path) -> None:
    settings = _settings(config_dir)
    deps = {d.flow_name: d for d in build_deployments(settings, config_dir, tmp_path / "data")}
    assert set(deps) == set(flows())
    for name, dep in deps.items():
        assert dep.name == DEPLOYMENT_NAME
        props = dep._parameter_openapi_schema.properties
        assert props["period"]["default"] is None, name  # None = the current period
        assert dep.parameters["config_dir"] == str(config_dir.resolve())
        assert dep.entrypoint.startswith(("flows.cycle.", "flows.deployments."))
    assert deps["send_reminders"]._parameter_openapi_schema.properties["force"]["type"] == "boolean"
    assert [len(deps[n].schedules) for n in ("request_reports", "send_reminders", "collect_submissions",
                                             "consolidate_after_deadline")] == [1, 1, 1, 1]
    assert not deps["deliver_report"].schedules and not deps["consolidate_report"].schedules
    assert [t.expect for t in deps["deliver_report"].triggers] == [{"baocao.report.approved",
                                                                     "baocao.report.returned"}]
    assert [t.expect for t in deps["collect_submissions"].triggers] == [{"baocao.submission.received"}]
    assert [t.expect for t in deps["consolidate_report"].triggers] == [{"baocao.period.complete"}]


def test_prefect_yaml_declares_the_same_deployments() -> None:
    """prefect.yaml (work pool) and `baocao serve` must not drift apart."""
    settings = load_config(ROOT / "config").settings
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    by_flow = {d["entrypoint"].rsplit(":", 1)[1]: d for d in spec["deployments"]}
    assert set(by_flow) == set(flows())
    cron = {name: s.cron for name, s in schedules(settings).items()}
    for name, d in by_flow.items():
        assert d["name"] == DEPLOYMENT_NAME
        assert d["work_pool"]["name"] == "baocao"
        got = [(s["cron"], s["timezone"]) for s in d.get("schedules") or []]
        assert got == ([(cron[name], settings.timezone)] if name in cron else []), name
        expect = [set(t["expect"]) for t in d.get("triggers") or []]
        assert expect == [t.expect for t in triggers().get(name, [])], name
        module, _, fn = d["entrypoint"].partition(":")
        assert f"def {fn}(" in (ROOT / module).read_text(encoding="utf-8")
        assert d["description"] == DESCRIPTIONS[name], name
        limit = CONCURRENCY.get(name)
        assert d.get("concurrency_limit") == (limit and {"limit": limit.limit,
                                                         "collision_strategy": limit.collision_strategy.value}), name
    env = spec["definitions"]["work_pool"]["job_variables"]["env"]
    assert {k: env[k] for k in OFFLINE_ENV} == OFFLINE_ENV  # DO_NOT_TRACK next to the analytics switch
    assert env["PREFECT_LOGGING_LEVEL"] == "INFO"


def test_flows_and_every_parameter_are_described_in_vietnamese(config_dir: Path, tmp_path: Path) -> None:
    """Flow names stay identifiers (`prefect deployment run collect_submissions/baocao`); the UI shows Vietnamese."""
    deps = {d.flow_name: d for d in build_deployments(_settings(config_dir), config_dir, tmp_path / "data")}
    for name, dep in deps.items():
        assert name.isidentifier() and name.isascii()
        assert dep.description == DESCRIPTIONS[name]
        props = dep._parameter_openapi_schema.properties
        missing = [p for p, spec in props.items() if not spec.get("description")]
        assert missing == [], name
        assert props["period"]["description"] == ("Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M hoặc 2021; "
                                                  "để trống là kỳ hiện tại.")
    assert flows()["collect_submissions"].description.startswith("Thu báo cáo mới từ mọi kênh, kiểm tra")
    props = deps["deliver_report"]._parameter_openapi_schema.properties
    assert props["number"]["description"] == "Số ký hiệu, ví dụ 15/BC-SNV (chỉ khi tắt bước phê duyệt)."
    assert deps["send_reminders"]._parameter_openapi_schema.properties["force"]["description"] == (
        "Nhắc ngay, không chờ ngày nhắc đã cấu hình.")


def test_period_typed_as_a_number_passes_the_deployment_parameter_validation(config_dir, tmp_path, ctx) -> None:
    """`prefect deployment run … --param period=2021` parses JSON: the flow gets the number 2021."""
    from prefect.utilities.schema_tools import validate

    deps = {d.flow_name: d for d in build_deployments(_settings(config_dir), config_dir, tmp_path / "data")}
    for name, dep in deps.items():
        schema = dep._parameter_openapi_schema.model_dump()
        validate({"period": 2021}, schema, raise_on_error=True)  # what the server checks on a run's parameters
        assert flows()[name].validate_parameters({"period": 2021})["period"] == 2021, name
    with pytest.raises(Exception, match="period"):
        validate({"period": 20.5}, deps["collect_submissions"]._parameter_openapi_schema.model_dump(),
                 raise_on_error=True)
    assert ctx.period(2021).key == "2021" and ctx.period(2021).label == ctx.period("2021").label


def test_scheduled_deployments_run_one_at_a_time(config_dir, tmp_path) -> None:
    """A colliding run is cancelled, except a collect (started for a new file), which waits its turn."""
    deps = {d.flow_name: d for d in build_deployments(_settings(config_dir), config_dir, tmp_path / "data")}
    limited = {n: (d.concurrency_limit, d.concurrency_options.collision_strategy.value)
               for n, d in deps.items() if d.concurrency_limit}
    assert limited == {"request_reports": (1, "CANCEL_NEW"), "send_reminders": (1, "CANCEL_NEW"),
                       "consolidate_after_deadline": (1, "CANCEL_NEW"), "collect_submissions": (1, "ENQUEUE")}
    assert set(limited) == set(schedules(_settings(config_dir)))


def _scheduled_local_times(deployment_id, start: datetime, end: datetime) -> list[datetime]:
    """Ask the real server's scheduler to create the runs in [start, end]; their local start times."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    with get_client(sync_client=True) as client:
        r = client.request("POST", "/deployments/{id}/schedule", path_params={"id": deployment_id},
                           json={"start_time": start.isoformat(), "end_time": end.isoformat(), "max_runs": 200})
        r.raise_for_status()
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(
                after_=start, before_=end)))
    return sorted(r.expected_start_time.astimezone(HCM) for r in runs)


@pytest.mark.slow
def test_next_scheduled_runs_fall_at_local_times(prefect_engine, config_dir: Path, tmp_path: Path) -> None:
    settings = _settings(config_dir)
    deps = build_deployments(settings, config_dir, tmp_path / "data")
    for d in deps:  # the session's server is shared: no automations left behind for later tests
        d.triggers = []
    ids = {d.flow_name: d.apply() for d in deps}
    try:
        _check_schedules(ids)
    finally:
        _delete(ids.values())


def _delete(deployment_ids) -> None:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        for i in deployment_ids:
            client.delete_deployment(i)


def _check_schedules(ids: dict) -> None:
    start, end = datetime(2031, 3, 1, tzinfo=HCM), datetime(2031, 5, 1, tzinfo=HCM)

    request = _scheduled_local_times(ids["request_reports"], start, end)
    assert [(t.month, t.day, t.hour, t.minute) for t in request] == [(3, 15, 8, 0), (4, 15, 8, 0)]
    assert all(t.utcoffset().total_seconds() == 7 * 3600 for t in request)
    assert request[0].astimezone(ZoneInfo("UTC")).hour == 1  # 08:00 in Hà Nội is 01:00 UTC

    remind = _scheduled_local_times(ids["send_reminders"], start, datetime(2031, 3, 4, tzinfo=HCM))
    assert [(t.day, t.hour) for t in remind] == [(1, 8), (2, 8), (3, 8)]

    consolidate = _scheduled_local_times(ids["consolidate_after_deadline"], start,
                                         datetime(2031, 3, 3, tzinfo=HCM))
    assert [(t.day, t.hour) for t in consolidate] == [(1, 14), (2, 14)]

    collect = _scheduled_local_times(ids["collect_submissions"], start, datetime(2031, 3, 1, 0, 59, tzinfo=HCM))
    assert [t.strftime("%H:%M") for t in collect] == ["00:00", "00:15", "00:30", "00:45"]

    assert _scheduled_local_times(ids["deliver_report"], start, end) == []


@pytest.mark.slow
def test_scheduled_consolidation_acts_after_the_deadline_until_delivery(prefect_engine, ctx, config_dir) -> None:
    from flows.cycle import consolidate_after_deadline

    args = {"period": "2021-03", "config_dir": str(config_dir), "data_dir": str(ctx.data_dir)}
    assert ctx.unit_deadline(ctx.period("2021-03")).isoformat() == "2021-03-16"
    assert consolidate_after_deadline(today="2021-03-16", **args)["skipped"] == "before_deadline"
    done = consolidate_after_deadline(today="2021-03-17", **args)
    assert done["completeness"]["expected_count"] == 9 and Path(done["paths"]["docx"]).exists()
    ctx.ledger.record_message(key="delivery:cchc-tuyen-truyen:2021-03", kind="delivery",
                              report_id="cchc-tuyen-truyen", period="2021-03", unit_code=None, recipients=[],
                              subject="x", message_id="<x@y>", status="sent")
    assert consolidate_after_deadline(today="2021-03-18", **args)["skipped"] == "delivered"
