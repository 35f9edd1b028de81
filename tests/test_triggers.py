"""Event triggers under the real engine, with `baocao serve` running the deployments in a subprocess.

A file dropped in the inbox (announced by the folder watcher) starts a collect run for its period;
`baocao.period.complete` (emitted by collect once every unit is in) starts a consolidation run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.context import Context, open_context
from tasks.samples import drop_samples
from tests.helpers import deny_reading, filled, remove_chain
from tests.servers import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
NEVER = "0 0 1 1 *"  # schedules that cannot fire during the test: only triggers start runs here


def _read_runs(deployment: str, data_dir: Path) -> list[Any]:
    """Runs of the deployment for this module's data directory (the session's server is shared)."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])))
    return [r for r in runs if r.parameters.get("data_dir") == str(data_dir.resolve())]


def _served_deployment(deployment: str, data_dir: Path) -> Any:
    """The deployment once `baocao serve` has registered it (with our data directory) and its triggers."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        if dep.parameters.get("data_dir") != str(data_dir.resolve()):
            return None
        return dep if client.read_resource_related_automations(f"prefect.deployment.{dep.id}") else None


def _wait(what: str, cond, timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
        except Exception:  # the deployment may not exist yet
            value = None
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; serve log:\n{log.read_text(errors='replace')[-4000:]}")


def _finished(deployment: str, data_dir: Path, log: Path, timeout: float = 120) -> Any:
    """The deployment's single flow run, once it has reached a final state."""
    def done():
        runs = [r for r in _read_runs(deployment, data_dir) if r.state and r.state.is_final()]
        return runs[0] if runs else None

    return _wait(f"a finished run of {deployment}", done, timeout, log)


@pytest.fixture(scope="module")
def served(prefect_engine, tmp_path_factory) -> Iterator[tuple[Context, Path]]:
    """`baocao serve` against the test server, with its own config and data directories."""
    import shutil

    from prefect.settings import PREFECT_API_URL

    base = tmp_path_factory.mktemp("served")
    config_dir, data_dir = base / "config", base / "data"
    shutil.copytree(ROOT / "config", config_dir)
    settings = config_dir / "settings.yaml"
    data = yaml.safe_load(settings.read_text(encoding="utf-8"))
    data["schedules"] = dict.fromkeys(data["schedules"], NEVER)
    data["web"] = {**data.get("web", {}), "port": free_port()}  # serve opens the Office's pages too
    settings.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    log = base / "serve.log"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "BAOCAO_NO_PDF": "1", "PREFECT_LOGGING_LEVEL": "INFO", "BAOCAO_WEB_SECRET": "s" * 40}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "--config", str(config_dir), "--data-dir",
                                 str(data_dir), "serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        for name in ("collect_submissions/baocao", "consolidate_report/baocao"):
            _wait(f"{name} served with its trigger", lambda n=name: _served_deployment(n, data_dir), 120, log)
        page = urllib.request.urlopen(f"http://127.0.0.1:{data['web']['port']}/dang-nhap", timeout=10).read()
        assert "Đăng nhập".encode() in page  # the pages run beside the deployments
        yield open_context(config_dir, data_dir), log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _delete_served()


def _delete_served() -> None:
    """Leave the shared server without these deployments and their automations."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        for dep in client.read_deployments():
            if dep.name == "baocao":
                client.delete_resource_owned_automations(f"prefect.deployment.{dep.id}")
                client.delete_deployment(dep.id)


def test_new_inbox_file_triggers_its_validation_run(served) -> None:
    from flows.watchers.folder import FolderWatcher

    ctx, log = served
    watcher = FolderWatcher(ctx, period="2021-03")
    assert watcher.scan() == []  # empty inbox: nothing announced
    ctx.inbox.mkdir(parents=True, exist_ok=True)
    dropped = [ctx.inbox / "VP-thang-3.xlsx"]
    dropped[0].write_bytes(filled(ctx, "VP", "2021-03"))
    os.utime(dropped[0], (time.time() - 60, time.time() - 60))  # finished writing a minute ago (late)
    assert watcher.scan() == dropped
    assert watcher.scan() == []  # announced once

    run = _finished("collect_submissions/baocao", ctx.data_dir, log)
    assert run.state.is_completed(), run.state
    assert run.parameters["period"] == "2021-03" and run.name == "Thu báo cáo 2021-03"
    subs = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert [s.source_ref for s in subs] == [str(dropped[0].relative_to(ctx.data_dir))]
    assert "đọc và kiểm tra báo cáo 2021-03" in _task_run_names(run.id)
    [table] = _artifacts("tinh-hinh-bao-cao-2021-03", run.id)
    rows = {r["Mã"]: r for r in json.loads(table.data)}
    assert rows["VP"]["Trạng thái"] == "Muộn" and rows["BTG"]["Trạng thái"] == "Chưa báo cáo"


def test_period_complete_event_starts_consolidation(served) -> None:
    from flows.cycle import collect_submissions

    ctx, log = served
    drop_samples(ctx, "2021-02")  # a clean month: every unit reports on time
    summary = collect_submissions(period="2021-02", config_dir=str(ctx.cfg.config_dir), data_dir=str(ctx.data_dir))
    assert summary["counts"] == {"accepted": 9}
    assert any(e.action == "complete" for e in ctx.ledger.audit_events("period"))

    run = _finished("consolidate_report/baocao", ctx.data_dir, log)
    assert run.state.is_completed(), run.state
    assert run.parameters["period"] == "2021-02" and run.name == "Tổng hợp báo cáo 2021-02"
    out = ctx.data_dir / "reports" / "2021-02"
    assert {p.suffix for p in out.iterdir()} >= {".json", ".docx", ".xlsx"}
    [summary] = _artifacts("bao-cao-tong-hop-2021-02", run.id)
    assert "**9/9**" in summary.data and str(out / "cchc-tuyen-truyen-2021-02.docx") in summary.data
    assert "telemetry" not in log.read_text(errors="replace").lower()  # offline: no telemetry attempts


def _artifacts(key: str, flow_run_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def _task_run_names(flow_run_id: Any) -> set[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.name for r in runs}


def test_watcher_waits_for_copies_to_finish_and_announces_each_content_once(ctx, monkeypatch) -> None:
    """No engine needed: the emitted events are recorded instead of sent."""
    import flows.watchers.folder as wf

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(wf, "emit_event", lambda **kw: sent.append(kw))
    watcher = wf.FolderWatcher(ctx, period="2021-03", settle_seconds=3600)
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "~$VP.xlsx").write_bytes(b"office lock file")
    first = ctx.inbox / "VP.xlsx"
    first.write_bytes(filled(ctx, "VP", "2021-03"))
    assert watcher.scan() == []  # just written: may still be copying
    assert watcher.scan() == [first]  # unchanged since the last scan: complete
    (ctx.inbox / "VP copy.xlsx").write_bytes(first.read_bytes())
    watcher.scan()
    assert watcher.scan() == []  # same content under another name: not announced again
    assert [e["event"] for e in sent] == ["baocao.submission.received"]
    resource = sent[0]["resource"]
    assert resource["baocao.period"] == "2021-03" and resource["baocao.file"] == "inbox/VP.xlsx"
    assert resource["prefect.resource.id"].startswith("baocao.inbox.cchc-tuyen-truyen.")


def test_many_files_landing_at_once_make_one_event_and_one_run(ctx, monkeypatch) -> None:
    """A province's units copy their files in the same minute: one event (one queued collect run) names a
    bounded few and counts them all; arrivals are noted for every file; a file already recorded is not
    announced again when the watcher restarts."""
    import flows.watchers.folder as wf

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(wf, "emit_event", lambda **kw: sent.append(kw))
    ctx.inbox.mkdir(parents=True)
    base = filled(ctx, "VP", "2021-03")
    names = [f"xa-{i:03d}.xlsx" for i in range(60)]
    for i, name in enumerate(names):
        (ctx.inbox / name).write_bytes(base + b" " * i)  # distinct contents
        os.utime(ctx.inbox / name, (time.time() - 60, time.time() - 60))
    watcher = wf.FolderWatcher(ctx, period="2021-03")
    assert [p.name for p in watcher.scan()] == names
    [event] = sent
    assert event["payload"]["files"] == 60 and event["payload"]["names"] == names[:wf.NAMES_SHOWN]
    assert event["payload"]["size"] == sum(len(base) + i for i in range(60))
    assert event["resource"]["baocao.file"] == "inbox/xa-000.xlsx"
    from tasks.channels.folder import Arrival, arrival_key

    noted = ctx.ledger.get_cursors(arrival_key(f"inbox/{n}") for n in names)
    assert len(noted) == 60 and all(Arrival.decode(v) is not None for v in noted.values())
    assert watcher.scan() == [] and len(sent) == 1
    (ctx.inbox / "late.xlsx").write_bytes(base + b"late")
    os.utime(ctx.inbox / "late.xlsx", (time.time() - 60, time.time() - 60))
    assert [p.name for p in watcher.scan()] == ["late.xlsx"] and sent[1]["payload"]["files"] == 1


def test_watcher_never_blocks_on_a_pipe_swapped_in_after_listing(ctx, monkeypatch) -> None:
    """A FIFO put in place of a listed file (between the listing and the read) is not read: the watcher's
    loop goes on instead of waiting forever for a writer."""
    import threading

    import flows.watchers.folder as wf

    monkeypatch.setattr(wf, "emit_event", lambda **kw: None)
    ctx.inbox.mkdir(parents=True)
    pipe = ctx.inbox / "VP.xlsx"
    os.mkfifo(pipe)
    watcher = wf.FolderWatcher(ctx, period="2021-03", settle_seconds=0)
    monkeypatch.setattr(watcher, "_files", lambda: [pipe])  # listed as a file a moment ago
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(watcher.scan()), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))  # let the blocked read end
    assert out == [[]]


def test_watcher_announces_a_file_it_could_not_read_once_the_service_may_read_it(ctx, monkeypatch) -> None:
    """A file the service may not open (the share's rights) is not marked handled: once the rights are
    granted (its size and mtime unchanged), a later scan reads and announces it."""
    import flows.watchers.folder as wf

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(wf, "emit_event", lambda **kw: sent.append(kw))
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    path.write_bytes(filled(ctx, "VP", "2021-03"))
    os.utime(path, (time.time() - 60, time.time() - 60))
    before = path.stat()
    real_open = os.open
    deny_reading(monkeypatch, "VP.xlsx")
    watcher = wf.FolderWatcher(ctx, period="2021-03", settle_seconds=0)
    assert watcher.scan() == [] and watcher.scan() == []  # unreadable, scan after scan
    monkeypatch.setattr(os, "open", real_open)  # the rights are granted: the file itself is unchanged
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert watcher.scan() == [path]
    assert [e["resource"]["baocao.file"] for e in sent] == ["inbox/VP.xlsx"]
    assert watcher.scan() == [] and len(sent) == 1  # announced once


def test_watcher_announces_a_file_whose_name_is_not_utf8(ctx, monkeypatch) -> None:
    """A legacy code page name ('b\\xe1o c\\xe1o', cp1258) is announced under the text the ledger stores for it
    (its event is JSON, which holds no surrogate escapes), and its arrival is the one the collect looks up."""
    import flows.watchers.folder as wf
    from tasks.channels.folder import Arrival, arrival_key

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(wf, "emit_event", lambda **kw: sent.append(kw))
    ctx.inbox.mkdir(parents=True)
    with open(os.fsencode(ctx.inbox) + b"/VP b\xe1o c\xe1o.xlsx", "wb") as f:
        f.write(filled(ctx, "VP", "2021-03"))
    os.utime(os.fsencode(ctx.inbox) + b"/VP b\xe1o c\xe1o.xlsx", (time.time() - 60, time.time() - 60))
    assert len(wf.FolderWatcher(ctx, period="2021-03").scan()) == 1
    [event] = sent
    ref = "inbox/VP b\\xe1o c\\xe1o.xlsx"
    assert event["resource"]["baocao.file"] == ref and event["payload"]["names"] == ["VP b\\xe1o c\\xe1o.xlsx"]
    json.dumps(event["resource"]).encode()  # no lone surrogates left to refuse
    assert Arrival.decode(ctx.ledger.get_cursor(arrival_key(ref)) or "") is not None


def test_watcher_walks_folders_nested_past_the_recursion_limit(ctx, monkeypatch) -> None:
    import sys

    import flows.watchers.folder as wf

    monkeypatch.setattr(wf, "emit_event", lambda **kw: None)
    ctx.inbox.mkdir(parents=True)
    deep = os.fsencode(ctx.inbox)
    try:
        for _ in range(sys.getrecursionlimit() + 100):  # os.makedirs itself recurses
            deep += b"/d"
            os.mkdir(deep)
        with open(deep + b"/VP.xlsx", "wb") as f:
            f.write(filled(ctx, "VP", "2021-03"))
        os.utime(deep + b"/VP.xlsx", (time.time() - 60, time.time() - 60))
        [found] = wf.FolderWatcher(ctx, period="2021-03").scan()
        assert found.name == "VP.xlsx"
    finally:
        remove_chain(deep, os.fsencode(ctx.inbox))
