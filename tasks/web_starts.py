"""Runs the Office starts from the board: one step of one period is not started twice within minutes.

A double click, or a phone sending the form again, posts the same button twice: two collects of the same
inbox at once, two waves of reminders. The latest start of each (step, period) is kept in the ledger (a
cursor, so every web worker sees it) and claimed in one locked transaction before the run is started: of two
posts arriving together, one starts the run and the other is told who started it and when. A start older
than the window, or whose run its starter says has finished, no longer stands in the way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from tasks.ledger import Ledger

PREFIX = "web-start:"  # ledger cursor per (step, period): the latest start from the web, as JSON
WINDOW = timedelta(minutes=2)

Finished = Callable[[str], bool | None]  # a run's reference -> finished (True), running (False), unknown (None)


@dataclass(frozen=True)
class StartedRun:
    """A step started from the web: when, by whom (username and name), its run ("" while being started)."""

    at: datetime
    by: str
    name: str
    run: str = ""

    def encode(self) -> str:
        return json.dumps({**asdict(self), "at": self.at.isoformat()}, ensure_ascii=False)


def start_key(flow_name: str, period: str) -> str:
    return f"{PREFIX}{flow_name}:{period}"


def decode_start(recorded: str | None) -> StartedRun | None:
    """A recorded start (None for none, a released one or a record that cannot be read)."""
    try:
        value = json.loads(recorded) if recorded else None
        if not isinstance(value, dict):
            return None
        at = datetime.fromisoformat(str(value["at"]))
        if at.tzinfo is None:
            return None
        return StartedRun(at, str(value["by"]), str(value.get("name") or ""), str(value.get("run") or ""))
    except (KeyError, TypeError, ValueError):
        return None


def recent_start(recorded: str | None, now: datetime, window: timedelta = WINDOW) -> StartedRun | None:
    """The start recorded, when it is less than `window` old at `now` (timezone-aware); a few seconds ahead of
    `now` too (another web worker's clock)."""
    start = decode_start(recorded)
    return start if start is not None and -window < now - start.at < window else None


def claim_start(ledger: Ledger, flow_name: str, period: str, by: str, name: str, now: datetime,
                finished: Finished | None = None, window: timedelta = WINDOW) -> StartedRun | None:
    """Claim the start of `flow_name` for `period`: None when it is this caller's to start (recorded as being
    started by `by` at `now`), else the recent start that stands (nothing is recorded then).

    A recent start whose run `finished` says is over is claimed anew. That question (it may ask the Prefect
    server) is asked before the locked transaction, never inside it; the claim itself is one transaction that
    no other claim of the same step and period interleaves with."""
    key = start_key(flow_name, period)
    seen = recent_start(ledger.get_cursor(key), now, window)
    over = seen is not None and bool(seen.run) and finished is not None and _finished(finished, seen.run)
    standing: list[StartedRun] = []

    def change(recorded: dict[str, str]) -> dict[str, str]:
        current = recent_start(recorded.get(key), now, window)
        if current is not None and not (over and current == seen):
            standing.append(current)
            return {}
        return {key: StartedRun(now, by, name).encode()}

    ledger.update_cursors([key], change)
    return standing[0] if standing else None


def started_run(ledger: Ledger, flow_name: str, period: str, at: datetime, run: str) -> None:
    """Note the run of the start claimed at `at` (only if that claim is still the one recorded)."""
    key = start_key(flow_name, period)

    def change(recorded: dict[str, str]) -> dict[str, str]:
        mine = decode_start(recorded.get(key))
        if mine is None or mine.at != at:
            return {}
        return {key: StartedRun(mine.at, mine.by, mine.name, run).encode()}

    ledger.update_cursors([key], change)


def release_start(ledger: Ledger, flow_name: str, period: str, at: datetime) -> None:
    """The start claimed at `at` did not happen (the service did not answer): the step may be started again."""
    key = start_key(flow_name, period)

    def change(recorded: dict[str, str]) -> dict[str, str]:
        mine = decode_start(recorded.get(key))
        return {key: ""} if mine is not None and mine.at == at else {}

    ledger.update_cursors([key], change)


def _finished(finished: Finished, run: str) -> bool:
    try:
        return finished(run) is True
    except Exception:  # noqa: BLE001 - cannot tell: the start still stands until the window passes
        return False
