"""Inbox folder watcher: announces new spreadsheets with a `baocao.submission.received` Prefect event.

The `collect_submissions` deployment has a trigger on that event, so a file dropped in `<data_dir>/inbox`
is validated within seconds instead of at the next 15-minute collection. Polling (not inotify) because
the inbox is often a network share; a file is announced once its size and mtime stop changing, and once
per content (renames and copies of a recorded file are not announced again). The files a scan finds go in
one event, so 10,000 files dropped at once start one collect run, not 10,000 queued ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flows.offline import ensure_offline

ensure_offline()

from prefect.events import emit_event  # noqa: E402

from flows.events import SUBMISSION_RECEIVED  # noqa: E402
from tasks.channels.folder import inbox_entries, note_arrivals, read_as_scanned, source_ref_of  # noqa: E402
from tasks.context import Context  # noqa: E402
from tasks.display import shown  # noqa: E402
from tasks.intake import content_hash  # noqa: E402
from tasks.ledger import FileStamp  # noqa: E402
from tasks.periods import TZ  # noqa: E402

NAMES_SHOWN = 20  # file names an event carries: events stay small whatever lands in the inbox at once


@dataclass
class FolderWatcher:
    """Remembers what it has seen between scans; `scan()` emits one event for the files newly complete."""

    ctx: Context
    period: str | None = None  # None: the current period at the time the file is seen
    settle_seconds: float = 2.0
    _last: dict[str, tuple[int, float]] = field(default_factory=dict)  # last observed (size, mtime)
    _done: dict[str, tuple[int, float]] = field(default_factory=dict)  # (size, mtime) already handled
    _announced: set[str] = field(default_factory=set)

    def _files(self) -> list[Path]:
        """Regular files under the inbox (links not followed), walked as a collect walks it (inbox_entries)."""
        inbox = self.ctx.inbox
        if not inbox.exists():
            return []
        files = [Path(e.path) for e in inbox_entries(os.fspath(inbox))
                 if not e.name.startswith((".", "~$")) and _is_regular(e)]
        return sorted(files)

    def scan(self) -> list[Path]:
        """Announce the files that are new and finished writing, in one event; returns them."""
        now = time.time()
        settled: list[tuple[Path, str, FileStamp]] = []
        first_seen: list[Path] = []
        for path in self._files():
            rel = source_ref_of(str(path.relative_to(self.ctx.data_dir)))
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            sig = (st.st_size, st.st_mtime)
            if self._done.get(rel) == sig:
                continue
            if rel not in self._last:  # first sight: this is when the unit's report arrived
                first_seen.append(path)
            previous, self._last[rel] = self._last.get(rel), sig
            if previous != sig and now - st.st_mtime < self.settle_seconds:
                continue  # still being written (or copied): look again next scan
            self._done[rel] = sig
            settled.append((path, rel, FileStamp(rel, st.st_size, st.st_mtime_ns)))
        note_arrivals(self.ctx, first_seen, datetime.now(TZ), keep_earlier=True)
        digests: dict[str, str] = {}
        for path, rel, stamp in settled:
            data = read_as_scanned(str(path), stamp)
            if data is None:  # unreadable (the share's rights), moved, replaced or changed: not handled, so a
                self._done.pop(rel, None)  # later scan reads it again (once its rights are granted, unchanged)
                continue
            digests[rel] = content_hash(data)
        recorded = self.ctx.ledger.known_hashes(self.ctx.cfg.report.id, among=digests.values()) if digests else set()
        new: list[tuple[Path, str, int]] = []
        for path, rel, stamp in settled:
            digest = digests.get(rel)
            if digest is None or digest in self._announced or digest in recorded:
                continue
            self._announced.add(digest)
            new.append((path, rel, stamp.size))
        if new:
            self._emit(new, digests)
            from prefect.events.worker import EventsWorker

            EventsWorker.drain_all(timeout=30)
        return [path for path, _, _ in new]

    def _emit(self, files: list[tuple[Path, str, int]], digests: dict[str, str]) -> None:
        """One event for a scan's new files, however many (one collect run reads them all): the first file
        names it, the payload counts them and names a bounded few."""
        report = self.ctx.cfg.report.id
        path, rel, _ = files[0]
        emit_event(event=SUBMISSION_RECEIVED,
                   resource={"prefect.resource.id": f"baocao.inbox.{report}.{digests[rel][:16]}",
                             "prefect.resource.name": source_ref_of(path.name), "baocao.report": report,
                             "baocao.period": self.ctx.period(self.period).key, "baocao.file": rel},
                   payload={"files": len(files), "size": sum(size for _, _, size in files),
                            "names": [shown(source_ref_of(p.name), 120) for p, _, _ in files[:NAMES_SHOWN]],
                            "source": "folder"})


def watch(ctx: Context, interval: float = 10.0, period: str | None = None,
          on_new: Callable[[list[Path]], None] | None = None, stop: Callable[[], bool] | None = None) -> None:
    """Scan the inbox every `interval` seconds until `stop()` says so (Ctrl+C from the command line)."""
    watcher = FolderWatcher(ctx, period=period)
    while not (stop and stop()):
        new = watcher.scan()
        if new and on_new:
            on_new(new)
        time.sleep(interval)


def _is_regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False
