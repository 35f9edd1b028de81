"""Scale-out on the machine's PostgreSQL: a self-hosted Prefect server, a process work pool and a worker
running the deployments from prefect.yaml, the ledger on PostgreSQL too.

Two collect runs at once (one scheduled, one started by hand) must record every file exactly once.
PostgreSQL is required (CI has it): if it is unreachable these tests fail, they never skip.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_HOST, PG_PORT = "127.0.0.1", 5432
PERIOD = "2021-03"


# ------------------------------------------------------------------ PostgreSQL


def _pg_user() -> str:
    import psycopg

    problems = []
    for user in (os.environ.get("BAOCAO_TEST_PG_USER"), "postgres", "root"):
        if not user:
            continue
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test", connect_timeout=5):
                return user
        except psycopg.Error as exc:
            problems.append(f"{user}: {exc}".strip())
    pytest.fail(f"PostgreSQL is required for the scale-out tests at {PG_HOST}:{PG_PORT} (database 'test', "
                f"trust auth for user postgres or root) but could not connect: {'; '.join(problems)}")


@pytest.fixture(scope="module")
def pg() -> Iterator[dict[str, str]]:
    """Two fresh databases (Prefect server, baocao ledger), dropped afterwards."""
    import psycopg

    user = _pg_user()
    suffix = uuid.uuid4().hex[:8]
    names = {"prefect": f"baocao_test_prefect_{suffix}", "ledger": f"baocao_test_ledger_{suffix}"}
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test", autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    base = f"{user}@{PG_HOST}:{PG_PORT}"
    try:
        yield {"prefect": f"postgresql+asyncpg://{base}/{names['prefect']}",
               "ledger": f"postgresql+psycopg://{base}/{names['ledger']}"}
    finally:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test", autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------ ledger: two processes, one row


def _record_all(url: str, hashes: list[str], barrier: Any, out: Any) -> None:
    from tasks.ledger import Ledger, NewSubmission

    ledger = Ledger(url)
    barrier.wait()
    ids = []
    for h in hashes:
        sub = ledger.record_submission(NewSubmission(
            report_id="r", period=PERIOD, unit_code=None, source="folder", source_ref=f"inbox/{h}.xlsx",
            filename=f"{h}.xlsx", received_at=datetime.now(UTC), content_hash=h, status="rejected"))
        ids.append(sub.id if sub else None)
    out.put(ids)


def test_two_processes_record_each_content_once_on_postgresql(pg) -> None:
    from tasks.ledger import Ledger

    Ledger(pg["ledger"])  # tables exist before the race (create_all itself is not the subject here)
    hashes = [f"{i:064x}" for i in range(40)]
    mp = multiprocessing.get_context("spawn")
    barrier, out = mp.Barrier(2), mp.Queue()
    procs = [mp.Process(target=_record_all, args=(pg["ledger"], order, barrier, out))
             for order in (hashes, list(reversed(hashes)))]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    won = [i for r in results for i in r if i is not None]
    assert len(won) == len(hashes) == len(set(won))  # every content recorded once, by one of the two
    assert len(Ledger(pg["ledger"]).submissions("r", PERIOD)) == len(hashes)


# ------------------------------------------------------------------ server, work pool, worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, cond, timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cluster(pg, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """`prefect server start` on PostgreSQL, the `baocao` process pool, deployments from prefect.yaml and
    one worker; returns the environment a client of this server uses."""
    base = tmp_path_factory.mktemp("scale")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    config_dir, data_dir = base / "config", base / "data"
    shutil.copytree(ROOT / "config", config_dir)
    from tasks.context import open_context

    with _ledger_env(pg["ledger"]):
        open_context(config_dir, data_dir).ledger  # noqa: B018 - create the ledger tables once, up front
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BAOCAO_"))}
    env.update({"PREFECT_HOME": str(base / "prefect-home"), "PREFECT_API_URL": api,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                "PREFECT_LOGGING_LEVEL": "INFO", "BAOCAO_NO_PDF": "1",
                "BAOCAO_CONFIG_DIR": str(config_dir), "BAOCAO_DATA_DIR": str(data_dir),
                "BAOCAO_LEDGER_URL": pg["ledger"]})
    server_env = {**env, "PREFECT_API_DATABASE_CONNECTION_URL": pg["prefect"], "PREFECT_UI_ENABLED": "false"}
    logs = {name: base / f"{name}.log" for name in ("server", "worker")}
    procs: list[subprocess.Popen] = []
    try:
        with logs["server"].open("wb") as out:
            procs.append(subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                           "--port", str(port), "--analytics-off"], cwd=base, env=server_env,
                                          stdout=out, stderr=subprocess.STDOUT))
        _wait("the Prefect server", lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 150,
              list(logs.values()))
        run = lambda *args: subprocess.run([str(BIN / "prefect"), *args], cwd=ROOT, env=env,  # noqa: E731
                                           capture_output=True, text=True, timeout=180)
        created = run("work-pool", "create", "baocao", "--type", "process")
        assert created.returncode == 0, created.stdout + created.stderr
        deployed = run("--no-prompt", "deploy", "--all")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        with logs["worker"].open("wb") as out:
            procs.append(subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "baocao"], cwd=base,
                                          env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"}, stdout=out,
                                          stderr=subprocess.STDOUT))
        yield {"env": env, "api": api, "config_dir": config_dir, "data_dir": data_dir, "run": run, "logs": logs}
    finally:
        for proc in reversed(procs):
            _stop(proc)


@contextmanager
def _ledger_env(url: str) -> Iterator[None]:
    """This process opens the same PostgreSQL ledger as the worker's flow runs."""
    old = os.environ.get("BAOCAO_LEDGER_URL")
    os.environ["BAOCAO_LEDGER_URL"] = url
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("BAOCAO_LEDGER_URL", None)
        else:
            os.environ["BAOCAO_LEDGER_URL"] = old


def _client(api: str):
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(api)


def test_worker_runs_a_scheduled_and_a_manual_collect_without_double_counting(cluster) -> None:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.states import Scheduled

    from flows.deployments import PERIOD_FROM_EVENT
    from tasks.context import open_context
    from tasks.samples import drop_samples
    from tests.helpers import mark_delivered

    env, logs = cluster["env"], list(cluster["logs"].values())
    with _ledger_env(env["BAOCAO_LEDGER_URL"]):
        ctx = open_context(cluster["config_dir"], cluster["data_dir"])
        mark_delivered(ctx, "2021-02")  # February is closed: TĐKT's February-labelled file is March's wrong period
        files = drop_samples(ctx, PERIOD)
        with _client(cluster["api"]) as client:
            deployments = client.read_deployments()
            dep = client.read_deployment_by_name("collect_submissions/baocao")
            assert dep.work_pool_name == "baocao"
            assert [(s.schedule.cron, s.schedule.timezone) for s in dep.schedules] == [
                (ctx.cfg.settings.schedules.collect, "Asia/Ho_Chi_Minh")]
            [trigger] = client.read_resource_related_automations(f"prefect.deployment.{dep.id}")
            assert trigger.trigger.expect == {"baocao.submission.received"}
            assert trigger.actions[0].parameters == {"period": PERIOD_FROM_EVENT}
            # the scheduled run, as the scheduler service creates it, due now...
            scheduled = client.create_flow_run_from_deployment(
                dep.id, parameters={"period": PERIOD}, state=Scheduled(scheduled_time=datetime.now(UTC)))
            # ...and the operator's manual run at the same moment
            manual = cluster["run"]("deployment", "run", "collect_submissions/baocao", "--param", f"period={PERIOD}")
            assert manual.returncode == 0, manual.stdout + manual.stderr

            def both_done():
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])))
                mine = [r for r in runs if r.parameters.get("period") == PERIOD]
                return mine if len(mine) >= 2 and all(r.state.is_final() for r in mine) else None

            runs = _wait("both collect runs", both_done, 150, logs)
            artifact = client.read_latest_artifacts()
        assert len(deployments) == 7 and len(runs) >= 2 and scheduled.id in {r.id for r in runs}
        assert all(r.state.is_completed() for r in runs), [(r.name, r.state) for r in runs]
        assert all(r.name == f"Thu báo cáo {PERIOD}" for r in runs)

        subs = ctx.ledger.submissions(ctx.cfg.report.id, PERIOD)
        assert len(subs) == len(files)  # every file once, whichever run got there first
        assert len({s.content_hash for s in subs}) == len(subs)
        assert sorted(s.source_ref for s in subs) == sorted(str(f.relative_to(ctx.data_dir)) for f in files)
        rejections = [m for m in ctx.ledger.messages(PERIOD) if m.kind == "rejection"]
        assert len(rejections) == len({m.key for m in rejections}) == 2
        assert any(a.key == f"tinh-hinh-bao-cao-{PERIOD}" for a in artifact)

    # offline: no telemetry attempts or errors in the server and worker logs
    for log in logs:
        text = log.read_text(errors="replace").lower()
        assert "sens-o-matic" not in text and "telemetry" not in text, log.name
