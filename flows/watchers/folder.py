"""Inbox folder watcher: announces each new spreadsheet as a `baocao.submission.received` Prefect event.

The `collect_submissions` deployment has a trigger on that event, so a file dropped in `<data_dir>/inbox`
is validated within seconds instead of at the next 15-minute collection. Polling (not inotify) because
the inbox is often a network share; a file is announced once its size and mtime stop changing, and once
per content (renames and copies of a recorded file are not announced again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flows.offline import ensure_offline

ensure_offline()

from prefect.events import emit_event  # noqa: E402

from flows.events import SUBMISSION_RECEIVED  # noqa: E402
from tasks.channels.folder import note_arrival  # noqa: E402
from tasks.context import Context  # noqa: E402
from tasks.intake import content_hash  # noqa: E402
from tasks.periods import TZ  # noqa: E402


@dataclass
class FolderWatcher:
    """Remembers what it has seen between scans; `scan()` emits one event per newly complete file."""

    ctx: Context
    period: str | None = None  # None: the current period at the time the file is seen
    settle_seconds: float = 2.0
    _last: dict[str, tuple[int, float]] = field(default_factory=dict)  # last observed (size, mtime)
    _done: dict[str, tuple[int, float]] = field(default_factory=dict)  # (size, mtime) already handled
    _announced: set[str] = field(default_factory=set)

    def _files(self) -> list[Path]:
        inbox = self.ctx.inbox
        if not inbox.exists():
            return []
        return sorted(p for p in inbox.rglob("*") if p.is_file() and not p.is_symlink()
                      and not p.name.startswith((".", "~$")))

    def scan(self) -> list[Path]:
        """Announce the files that are new and finished writing; returns them."""
        now = time.time()
        new: list[Path] = []
        for path in self._files():
            rel = str(path.relative_to(self.ctx.data_dir))
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            sig = (st.st_size, st.st_mtime)
            if self._done.get(rel) == sig:
                continue
            if rel not in self._last:  # first sight: this is when the unit's report arrived
                note_arrival(self.ctx, path, datetime.now(TZ), keep_earlier=True)
            previous, self._last[rel] = self._last.get(rel), sig
            if previous != sig and now - st.st_mtime < self.settle_seconds:
                continue  # still being written (or copied): look again next scan
            self._done[rel] = sig
            digest = content_hash(path.read_bytes())
            if digest in self._announced or self.ctx.ledger.known_hashes(self.ctx.cfg.report.id, among=[digest]):
                continue
            self._announced.add(digest)
            self._emit(path, rel, digest, st.st_size)
            new.append(path)
        if new:
            from prefect.events.worker import EventsWorker

            EventsWorker.drain_all(timeout=30)
        return new

    def _emit(self, path: Path, rel: str, digest: str, size: int) -> None:
        report = self.ctx.cfg.report.id
        emit_event(event=SUBMISSION_RECEIVED,
                   resource={"prefect.resource.id": f"baocao.inbox.{report}.{digest[:16]}",
                             "prefect.resource.name": path.name, "baocao.report": report,
                             "baocao.period": self.ctx.period(self.period).key, "baocao.file": rel},
                   payload={"size": size, "source": "folder"})


def watch(ctx: Context, interval: float = 10.0, period: str | None = None,
          on_new: Callable[[list[Path]], None] | None = None, stop: Callable[[], bool] | None = None) -> None:
    """Scan the inbox every `interval` seconds until `stop()` says so (Ctrl+C from the command line)."""
    watcher = FolderWatcher(ctx, period=period)
    while not (stop and stop()):
        new = watcher.scan()
        if new and on_new:
            on_new(new)
        time.sleep(interval)
