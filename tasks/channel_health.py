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

PREFIX = "channel-problem:"  # ledger cursor per place: its problem as JSON, or when a collect last read it


@dataclass(frozen=True)
class ChannelProblem:
    channel: str  # "email", "sheet:<spreadsheet id>", or "sheet" (Google refused the service account)
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
    def in_sentence(self) -> str:
        """The label inside a sentence ("không đọc được hộp thư của Văn phòng")."""
        return self.label if self.channel == "sheet" else self.label[:1].lower() + self.label[1:]

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


@dataclass(frozen=True)
class HealthChange:
    """What one collect of a channel found: its places that failed (with since when) and those read again."""

    at: datetime  # when the collect looked
    failing: list[ChannelProblem]
    cleared: list[ChannelProblem]


def record_channel_health(ctx: Context, channel: str, outcomes: Iterable[Outcome],
                          now: datetime | None = None) -> HealthChange:
    """After a collect of `channel` ("email", "sheet"): each of its places that failed (an ERROR outcome
    without a unit, whose source names it: "email:", "sheet:<id>"; "sheet:" when Google refused the service
    account) is noted, keeping when it started; every other place of the channel was read, so its problem is
    cleared (unless the channel itself failed: then nothing else was tried). A place failing once its channel
    is back has been unread since the channel's outage began, and keeps that start.

    Two collects may finish at once (the schedule's and one started by hand): the record is read and written
    in one locked transaction, and a place another collect looked at later than this one keeps what that
    collect found (a mailbox read at 10:01 is not marked failing by a collect that failed at 10:00 and
    finished after it, nor the other way round)."""
    failed = {o.source_ref.removesuffix(":"): o.reason or "" for o in outcomes
              if o.status == OutcomeStatus.ERROR and o.unit_code is None}
    mine = [k for k in channel_keys(ctx) if k == channel or k.startswith(channel + ":")]
    if channel in failed:  # the channel itself (its account) was refused: its places were not tried
        mine = [channel]
    at = (now or datetime.now(TZ)).replace(microsecond=0)
    failing: list[ChannelProblem] = []
    cleared: list[ChannelProblem] = []

    def change(recorded: dict[str, str]) -> dict[str, str]:
        known = {key: _problem(key, recorded.get(PREFIX + key, "")) for key in mine}
        whole = known.get(channel)  # the channel's own outage, if it had one
        changes: dict[str, str] = {}
        for key in mine:
            name, was = PREFIX + key, known.get(key)
            if _looked_at(recorded.get(name, "")) > at:  # another collect looked later: its finding stands
                continue
            if key in failed:
                starts = [at] + ([was.since] if was else []) + ([whole.since] if whole and key != channel else [])
                since = min(starts)
                failing.append(ChannelProblem(key, failed[key], since, at))
                changes[name] = json.dumps({"message": failed[key], "since": since.isoformat(),
                                            "last": at.isoformat()}, ensure_ascii=False)
            else:
                changes[name] = json.dumps({"read": at.isoformat()})
                if was is not None and not (key == channel and failed):  # still unread in part: not "back" yet
                    cleared.append(was)
        return changes

    ctx.ledger.update_cursors([PREFIX + k for k in mine], change)
    return HealthChange(at, failing, cleared)


def _looked_at(recorded: str) -> datetime:
    """When the collect that wrote this record looked (its failure's last time, or when it read the place)."""
    value = _decode(recorded)
    try:
        return _aware(datetime.fromisoformat(str(value.get("last") or value.get("read"))))
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=TZ)


def forget_unpolled(ctx: Context) -> None:
    """Clear the record of every place no longer polled (its channel turned off, its spreadsheet no longer in
    units.yaml): its outage is over as far as anyone can tell, and one polled again later and failing starts
    a new one (not a mail saying "Đã 500 giờ" at once). Every collect calls this, whatever its channels."""
    polled = {PREFIX + k for k in channel_keys(ctx)}
    stale = {name: "" for name, value in ctx.ledger.cursors_starting(PREFIX).items()
             if name not in polled and _problem(name.removeprefix(PREFIX), value) is not None}
    ctx.ledger.set_cursors(stale)


def channel_alert_mails(ctx: Context, period: Period, change: HealthChange, url: str | None = None
                        ) -> list[OutgoingMail]:
    """The operator's mail for each place this collect could not read and none has read for
    `channels.alert_after_hours` (one per outage: its key holds when the outage began, so later collects
    find it sent), and the all-clear for each place read again whose outage was mailed. Nobody opens the
    board at night: a mailbox down from Friday evening would otherwise be found on Monday, deadline passed."""
    hours = ctx.cfg.settings.channels.alert_after_hours
    if not hours:
        return []
    holding = units_at(ctx)
    mails = [channel_down_mail(ctx.cfg, period, place=p.channel, label=p.label, in_sentence=p.in_sentence,
                               units=holding.get(p.channel, 0) if p.counts_units else 0, message=p.message,
                               since=p.since, last=p.last, url=url)
             for p in change.failing if p.last - p.since >= timedelta(hours=hours)]
    alerted = ctx.ledger.sent_keys([channel_down_key(p.channel, p.since) for p in change.cleared])
    mails += [channel_back_mail(ctx.cfg, period, place=p.channel, label=p.label, in_sentence=p.in_sentence,
                                units=holding.get(p.channel, 0) if p.counts_units else 0, since=p.since,
                                at=change.at, url=url)
              for p in change.cleared if channel_down_key(p.channel, p.since) in alerted]
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
            return ChannelProblem(key, str(value["message"]), _aware(datetime.fromisoformat(value["since"])),
                                  _aware(datetime.fromisoformat(value["last"])))
    except (TypeError, ValueError):
        pass
    return None


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=TZ) if when.tzinfo is None else when


def _decode(value: str) -> dict[str, str]:
    try:
        found = json.loads(value) if value else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
