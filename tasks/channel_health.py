"""Whether each polled channel (the mailbox, each Google spreadsheet) could be read at its last collect.

A channel that cannot be reached (mailbox down, spreadsheet not shared) leaves its units' reports uncollected
through no fault of theirs, and the collect itself still succeeds (every other channel was read), so its
warning would only sit in a task log. The Office's board shows what is recorded here instead: since when a
channel fails and why, until a collect reads it again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tasks.config import Unit
from tasks.context import Context
from tasks.messages import channel_back_mail, channel_down_key, channel_down_mail
from tasks.periods import TZ, Period
from tasks.transports.mail.compose import OutgoingMail
from tasks.types import Outcome, OutcomeStatus

PREFIX = "channel-problem:"  # ledger cursor per channel: the problem as JSON, "" once read again


@dataclass(frozen=True)
class ChannelProblem:
    channel: str  # "email", or "sheet:<spreadsheet id>"
    message: str  # Vietnamese, for the Office: what is wrong and what to do
    since: datetime  # the first collect of this run of failures
    last: datetime  # the latest collect that failed

    @property
    def label(self) -> str:
        """The place as the Office knows it."""
        if self.channel == "email":
            return "Hộp thư của Văn phòng"
        if self.channel == "sheet":  # Google refused the service account: no spreadsheet could be read
            return "Google Sheets (mọi bảng tính)"
        return f"Bảng tính Google {self.channel.removeprefix('sheet:')}"

    @property
    def counts_units(self) -> bool:
        """Whether its units need counting beside the message (a spreadsheet's message counts them itself)."""
        return self.channel == "email"


def sheet_place(spreadsheet_id: str) -> str:
    """A spreadsheet as a place a collect reads (and the source of the outcome saying it was not reached)."""
    return f"sheet:{spreadsheet_id}"


def place_of(ctx: Context, unit: Unit) -> str:
    """Where a unit's report is read from: its channel, and for a sheet unit its spreadsheet."""
    return sheet_place(ctx.cfg.spreadsheet_of(unit)) if unit.channel == "sheet" else unit.channel


def channel_keys(ctx: Context) -> list[str]:
    """What a collect polls and can fail to reach: the mailbox, each spreadsheet of the sheet units."""
    channels = ctx.cfg.settings.channels
    keys = ["email"] if channels.imap.enabled else []
    if channels.sheets.enabled:
        places = list(dict.fromkeys(place_of(ctx, u) for u in ctx.cfg.active_units if u.channel == "sheet"))
        keys += ["sheet"] * bool(places) + places  # "sheet": the service account itself refused
    return [k for k in keys if k != sheet_place("")]


def units_at(ctx: Context) -> Counter[str]:
    """How many active units each place holds."""
    return Counter(place_of(ctx, u) for u in ctx.cfg.active_units)


def record_channel_health(ctx: Context, channel: str, outcomes: Iterable[Outcome],
                          now: datetime | None = None) -> list[ChannelProblem]:
    """After a collect of `channel` ("email", "sheet"): each of its places that failed (an ERROR outcome
    without a unit, whose source names it: "email:", "sheet:<id>"; "sheet:" when Google refused the service
    account) is noted, keeping when it started; every other place of the channel was read, so its problem is
    cleared (unless the channel itself failed: then nothing else was tried). Returns the problems cleared."""
    failed = {o.source_ref.removesuffix(":"): o.reason or "" for o in outcomes
              if o.status == OutcomeStatus.ERROR and o.unit_code is None}
    mine = [k for k in channel_keys(ctx) if k == channel or k.startswith(channel + ":")]
    if channel in failed:  # the channel itself (its account) was refused: its places were not tried
        mine = [channel]
    names = [PREFIX + k for k in mine]
    known = ctx.ledger.get_cursors(names)
    at = (now or datetime.now(TZ)).isoformat(timespec="seconds")
    changes: dict[str, str] = {}
    cleared: list[ChannelProblem] = []
    for key, name in zip(mine, names, strict=True):
        if key in failed:
            since = _decode(known.get(name, "")).get("since") or at
            changes[name] = json.dumps({"message": failed[key], "since": since, "last": at}, ensure_ascii=False)
        elif known.get(name):
            changes[name] = ""
            if (was := _problem(key, known[name])) is not None:
                cleared.append(was)
    ctx.ledger.set_cursors(changes)
    return cleared


def channel_alert_mails(ctx: Context, period: Period, cleared: Iterable[ChannelProblem], now: datetime,
                        url: str | None = None) -> list[OutgoingMail]:
    """The operator's mail for each place no collect has read for `channels.alert_after_hours` (one per
    outage: its key holds when the outage began, so later collects find it sent), and the all-clear for
    each place cleared by this collect whose outage was mailed. Nobody opens the board at night: a mailbox
    down from Friday evening would otherwise be found on Monday, with the deadline passed."""
    hours = ctx.cfg.settings.channels.alert_after_hours
    cleared = list(cleared)
    if not hours:
        return []
    holding = units_at(ctx)
    mails = [channel_down_mail(ctx.cfg, period, place=p.channel, label=p.label, message=p.message,
                               units=holding.get(p.channel, 0) if p.counts_units else 0,
                               since=p.since, last=p.last, hours=hours, url=url)
             for p in channel_problems(ctx) if now - p.since >= timedelta(hours=hours)]
    alerted = ctx.ledger.sent_keys([channel_down_key(p.channel, p.since) for p in cleared])
    mails += [channel_back_mail(ctx.cfg, period, place=p.channel, label=p.label, since=p.since, at=now, url=url,
                                units=holding.get(p.channel, 0) if p.counts_units else 0)
              for p in cleared if channel_down_key(p.channel, p.since) in alerted]
    return mails


def channel_problems(ctx: Context) -> list[ChannelProblem]:
    """The channels failing at their last collect, in config order (one ledger query)."""
    keys = channel_keys(ctx)
    known = ctx.ledger.get_cursors(PREFIX + k for k in keys)
    return [p for key in keys if (p := _problem(key, known.get(PREFIX + key, ""))) is not None]


def _problem(key: str, recorded: str) -> ChannelProblem | None:
    value = _decode(recorded)
    try:
        if value.get("message") and value.get("since") and value.get("last"):
            return ChannelProblem(key, str(value["message"]), datetime.fromisoformat(value["since"]),
                                  datetime.fromisoformat(value["last"]))
    except (TypeError, ValueError):
        pass
    return None


def _decode(value: str) -> dict[str, str]:
    try:
        found = json.loads(value) if value else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
