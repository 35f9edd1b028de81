"""What every flow and task shares: the run's context (config + data dir) and Vietnamese run names."""

from __future__ import annotations

import os
from typing import Any, cast

from flows.offline import ensure_offline

ensure_offline()

from prefect.futures import PrefectFuture  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner  # noqa: E402

from tasks.context import Context, cached_context  # noqa: E402

CHUNK = int(os.environ.get("BAOCAO_CHUNK_SIZE", "50"))
MAX_CHUNKS = int(os.environ.get("BAOCAO_MAX_CHUNKS", "8"))
# Chunks of one collect run one at a time: each chunk's files are still read by all the guard's worker
# processes at once, and a second chunk judged and recorded meanwhile only fought the first for the GIL
# (10,000 files on 2 cores: 21.3 s of CPU against 19.9 s, the mean of six and ten runs, in the same wall
# time; eight at once, Prefect's default, cost 0.3 ms of CPU a file more at 4,000 files).
PARALLEL_CHUNKS = int(os.environ.get("BAOCAO_PARALLEL_CHUNKS", "1"))


def chunk_runner() -> TaskRunner[PrefectFuture[Any]]:
    """The task runner of a flow whose chunks read files: PARALLEL_CHUNKS threads."""
    # cast: Prefect types TaskRunner invariant in its future, and its own thread pool runner does not match it
    return cast(TaskRunner[PrefectFuture[Any]], ThreadPoolTaskRunner(max_workers=PARALLEL_CHUNKS))


def run_context(config_dir: str | None, data_dir: str | None) -> Context:
    """The context a flow or task run works in (cached per process while the config files are unchanged)."""
    return cached_context(config_dir, data_dir)


def run_name(step: str) -> str:
    """'Thu báo cáo 2021-03': the step in Vietnamese and the period the run is for."""
    params = flow_run.parameters or {}
    key = params.get("period")
    if not key:
        try:
            key = run_context(params.get("config_dir"), params.get("data_dir")).period(None).key
        except Exception:
            key = "hiện tại"
    return f"{step} {key}"


def chunked(items: list[str], size: int = CHUNK, most: int = MAX_CHUNKS) -> list[list[str]]:
    """Per-unit work is done in a few chunks, never one Prefect task per unit: `size` items per chunk, but
    never more than `most` chunks (each task run has a fixed cost, and a flow's tasks share one process:
    10,000 files go in 8 chunks of 1,250, not 200 of 50)."""
    if not items:
        return []
    size = max(size, -(-len(items) // max(most, 1)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def flow_run_url(run_id: str | None) -> str | None:
    """Link to a run in the Prefect UI, when the UI address is known (not on an ephemeral server)."""
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}" if base and run_id else None
