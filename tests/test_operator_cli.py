"""The operator's side of `baocao`: what the terminal and the Prefect UI show, mistyped paths and unit codes,
offline settings, and `baocao serve` after downtime (against the session's real Prefect server)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from tasks.config import load_config
from tasks.periods import parse_period

ROOT = Path(__file__).resolve().parent.parent


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the Prefect logging and telemetry switches the CLI must set itself."""
    drop = ("PREFECT_LOGGING_", "DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS", "PREFECT_SERVER_UI_SHOW")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


# --- offline, and logs: INFO to the API, the terminal quiet -----------------------------------------------

def test_cli_sets_do_not_track_next_to_the_analytics_switch_and_info_logs_for_the_ui() -> None:
    code = ("import json, os; from flows.cli import _prefect_env; _prefect_env();"
            " print(json.dumps({k: os.environ.get(k) for k in ('DO_NOT_TRACK', 'PREFECT_SERVER_ANALYTICS_ENABLED',"
            " 'PREFECT_LOGGING_LEVEL', 'PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL')}))")
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out) == {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                               "PREFECT_LOGGING_LEVEL": "INFO", "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"}


def test_console_handler_level_variable_is_the_one_prefect_reads() -> None:
    """PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL overrides handlers.console.level of the installed logging.yml."""
    code = ("import os; os.environ['PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL'] = 'WARNING';"
            "from pathlib import Path; import prefect.logging.configuration as c;"
            "cfg = c.load_logging_config(Path(c.__file__).with_name('logging.yml'));"
            "print(cfg['handlers']['console']['level'], cfg['handlers']['api']['level'])")
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["WARNING", "0"]


def test_make_and_the_tests_run_offline() -> None:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^export DO_NOT_TRACK := 1$", make, re.M)
    assert re.search(r"^export PREFECT_SERVER_ANALYTICS_ENABLED := false$", make, re.M)
    assert os.environ["DO_NOT_TRACK"] == "1" and os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


# --- a mistyped data directory ------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["status", "--period", "2021-03"], ["status", "--json"],
                                  ["reopen", "1", "--note", "x"], ["remind", "--force"], ["consolidate"],
                                  ["deliver"]])
def test_a_data_dir_that_does_not_exist_is_an_error_not_an_empty_period(config_dir, tmp_path, args) -> None:
    typo = tmp_path / "dta"
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(typo), *args],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert f"Không có thư mục dữ liệu {typo}." in result.output
    assert "Kiểm tra lại --data-dir" in result.output and "0/9" not in result.output
    assert not typo.exists()


def test_the_data_dir_from_the_environment_is_checked_too(config_dir, tmp_path) -> None:
    typo = tmp_path / "khong-co"
    result = CliRunner().invoke(app, ["--config", str(config_dir), "status"], env={"BAOCAO_DATA_DIR": str(typo)})
    assert result.exit_code == 2 and f"Không có thư mục dữ liệu {typo}." in result.output
    assert not typo.exists()


def test_the_data_dir_from_settings_is_checked_too(config_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("BAOCAO_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # settings.data_dir is relative: there is none here
    missing = Path(load_config(config_dir).settings.data_dir)
    assert not missing.exists()
    result = CliRunner().invoke(app, ["--config", str(config_dir), "status"])
    assert result.exit_code == 2 and f"Không có thư mục dữ liệu {missing}." in result.output
    assert not missing.exists()


def test_an_existing_empty_data_dir_is_read_as_it_is(config_dir, tmp_path) -> None:
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(tmp_path), "status",
                                      "--period", "2021-03"])
    assert result.exit_code == 0, result.output
    assert "Đã báo cáo hợp lệ 0/9 đơn vị." in result.output


def test_template_does_not_need_the_data_dir(config_dir, tmp_path) -> None:
    out = tmp_path / "bieu-mau.xlsx"
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(tmp_path / "moi"), "template",
                                      "--unit", "VP", "--period", "2021-03", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


# --- unit codes typed without Vietnamese diacritics ---------------------------------------------------------

@pytest.mark.parametrize("typed", ["TDKT", "tdkt", "TĐKT", " tđkt "])
def test_unit_code_typed_without_diacritics(config_dir, tmp_path, typed) -> None:
    out = tmp_path / "tdkt.xlsx"
    result = CliRunner().invoke(app, ["--config", str(config_dir), "template", "--unit", typed, "--period",
                                      "2021-03", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Đã ghi biểu mẫu của Ban Thi đua - Khen thưởng kỳ 2021-03" in result.output
    assert out.exists()


def test_unit_code_without_diacritics_must_name_exactly_one_unit(config_dir) -> None:
    path = config_dir / "units.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["units"] += [{"code": "ĐÔ", "name": "Đơn vị một", "channel": "folder"},
                      {"code": "ĐỒ", "name": "Đơn vị hai", "channel": "folder"}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cfg = load_config(config_dir)
    assert cfg.unit("DO") is None  # ĐÔ or ĐỒ: not guessed
    assert cfg.unit("ĐỒ").name == "Đơn vị hai" and cfg.unit("đô").name == "Đơn vị một"
    assert cfg.unit("TDKT").code == "TĐKT" and cfg.unit("XYZ") is None


# --- against the session's real Prefect server ------------------------------------------------------------

def _api_env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return _clean_env(PREFECT_API_URL=PREFECT_API_URL.value(), **extra)


def _runs(flow_name: str, data_dir: Path) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
    return [r for r in runs if r.parameters.get("data_dir") == str(data_dir.resolve())]


def _logs(flow_run_id) -> list[tuple[int, str]]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        return [(x.level, x.message) for x in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(
            any_=[flow_run_id])))]


@pytest.mark.slow
def test_a_successful_run_shows_its_info_lines_in_the_ui_and_keeps_the_terminal_quiet(prefect_engine, config_dir,
                                                                                       tmp_path) -> None:
    data_dir = tmp_path / "data"
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "--config", str(config_dir), "--data-dir",
                           str(data_dir), "collect", "--period", "2021-03"], env=_api_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0 báo cáo mới: 0 hợp lệ, 0 bị trả lại, 0 bị cách ly.")
    assert "| INFO" not in proc.stderr and "| INFO" not in proc.stdout  # the terminal: warnings and errors only
    [run] = _runs("collect_submissions", data_dir)
    assert run.state.is_completed()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the run's logs are sent in batches
        infos = [m for level, m in _logs(run.id) if level == 20]
        if any(m.startswith("Kỳ 2021-03: 0 tài liệu mới") for m in infos):
            break
        time.sleep(0.5)
    assert any(m.startswith("Kỳ 2021-03: 0 tài liệu mới") for m in infos), infos


def _deployment_id(flow_name: str):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(f"{flow_name}/baocao")


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"hết {seconds:g} giây mà chưa: {what}")


@pytest.mark.slow
def test_serve_after_downtime_runs_a_missed_schedule_once_and_says_when_runs_start_and_end(
        prefect_engine, config_dir, tmp_path) -> None:
    from prefect import get_client

    from flows.deployments import build_deployments

    settings = load_config(config_dir).settings
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # Before the downtime: the daily consolidation deployment, its runs for the last five days never run.
    [dep] = [d for d in build_deployments(settings, config_dir, data_dir, announce=True)
             if d.flow_name == "consolidate_after_deadline"]
    dep.parameters.update(period="2021-03", today="2021-03-10")  # before the deadline: each run ends at once
    dep_id = dep.apply()
    now = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        client.request("POST", "/deployments/{id}/schedule", path_params={"id": dep_id},
                       json={"start_time": (now - timedelta(days=5, minutes=1)).isoformat(),
                             "end_time": (now - timedelta(seconds=5)).isoformat(), "max_runs": 50}
                       ).raise_for_status()
    missed = [r for r in _runs("consolidate_after_deadline", data_dir) if r.state.is_scheduled()]
    assert len(missed) >= 3 and all(r.auto_scheduled for r in missed)  # the server schedules 3 to 5 of them

    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "--config", str(config_dir), "--data-dir",
                                 str(data_dir), "serve"], env=_api_env(PREFECT_RUNNER_POLL_FREQUENCY="2"),
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        def settled():
            runs = _runs("consolidate_after_deadline", data_dir)
            ended = [r for r in runs if r.state.is_final()]
            return runs if len(ended) == len(missed) else None

        _wait(settled, 120, "mọi lượt bị lỡ đều kết thúc")
        time.sleep(4)  # two more polls of the runner: nothing else starts
        runs = _runs("consolidate_after_deadline", data_dir)
        latest = max(missed, key=lambda r: r.expected_start_time)
        by_id = {r.id: r for r in runs}
        assert [by_id[r.id].state.type.value for r in missed if r.id != latest.id] == ["CANCELLED"] * (len(missed) - 1)
        assert by_id[latest.id].state.is_completed()
        assert {by_id[r.id].state.message for r in missed if r.id != latest.id} == {
            "Bỏ qua: lượt theo lịch bị lỡ khi baocao serve không chạy; chỉ chạy lượt gần nhất"}
        completed = [r for r in runs if r.state.is_completed()]
        assert len(completed) == 1

        # the server holds the deployment to one run at a time, a colliding run cancelled
        with get_client(sync_client=True) as client:
            served = client.read_deployment(dep_id)
        assert served.global_concurrency_limit.limit == 1
        assert served.concurrency_options.collision_strategy.value == "CANCEL_NEW"

        # `prefect deployment run … --param period=2021`: JSON makes it the number 2021; the run takes it
        started = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run",
                                  "consolidate_after_deadline/baocao", "--param", "period=2021", "--param",
                                  "today=2021-06-01"], env=_api_env(), cwd=ROOT, capture_output=True, text=True,
                                 timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr

        def year_run():
            done = [r for r in _runs("consolidate_after_deadline", data_dir)
                    if r.parameters.get("period") == 2021 and r.state.is_final()]
            return done[0] if done else None

        run = _wait(year_run, 90, "lượt chạy kỳ 2021 kết thúc")
        assert run.state.is_completed(), run.state
        infos = _wait(lambda: [m for level, m in _logs(run.id) if level == 20 and m.startswith("Kỳ 2021:")], 30,
                      "dòng INFO của lượt chạy trên Prefect")
        deadline = load_config(config_dir).unit_deadline(parse_period("2021"))
        assert infos == [f"Kỳ 2021: chưa hết hạn của các đơn vị ({deadline:%d/%m/%Y}), chưa tổng hợp"]
        _wait(lambda: "Đã xong: Tổng hợp sau hạn 2021 — hoàn thành" in log.read_text(), 30, "serve báo xong")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        _delete_served(data_dir)
    text = log.read_text()
    assert (f"Bỏ qua {len(missed) - 1} lượt consolidate_after_deadline/baocao bị lỡ lịch khi ngừng phục vụ; "
            "chỉ chạy lượt gần nhất.") in text
    assert "tối đa 4 lượt chạy cùng lúc" in text
    assert len(re.findall(r"Bắt đầu chạy: Tổng hợp sau hạn 2021-03 \(consolidate_after_deadline/baocao\)", text)) == 1
    assert len(re.findall(r"Đã xong: Tổng hợp sau hạn 2021-03 — hoàn thành$", text, re.M)) == 1
    assert "Bắt đầu chạy: Tổng hợp sau hạn 2021 (consolidate_after_deadline/baocao)" in text
    assert "| INFO" not in text, text


def _delete_served(data_dir: Path) -> None:
    """The session's server is shared: no deployments (and their schedules, automations) left behind."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        for d in client.read_deployments(deployment_filter=DeploymentFilter(name=DeploymentFilterName(
                any_=["baocao"]))):
            if d.parameters.get("data_dir") == str(data_dir.resolve()):
                client.delete_deployment(d.id)
