"""The Google Sheets channel: one protected tab per unit and period, read back in batched requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from tasks.channel_health import sheet_place
from tasks.channels.base import Arrivals, UnitRequest
from tasks.config import ReportDefinition, Unit
from tasks.context import Context
from tasks.intake import grid_hash
from tasks.ledger import Cursor
from tasks.periods import TZ, Period
from tasks.render.vietnamese_dates import format_number
from tasks.transports.sheets import (
    SheetsAccountRefused,
    SheetsError,
    SheetsGateway,
    SheetsSettings,
    SheetsUnavailable,
    TabRead,
    TabSpec,
    column_letter,
)
from tasks.types import Document, Outcome, OutcomeStatus, Source
from tasks.workbook import COL_VALUE, HEADER, template_grid, template_height

# Rows read back beyond the template: room for rows a unit inserts (above the table or among the notes).
EXTRA_ROWS = 100
MIN_READ_ROWS = 200


def read_range(report: ReportDefinition) -> str:
    """The cells read back from (and sized into) every tab: the template's columns, and its rows plus room
    for inserted ones (A1:F200 for a template of up to 100 rows), so a long outline is never cut off."""
    return f"A1:{column_letter(len(HEADER))}{max(MIN_READ_ROWS, template_height(report) + EXTRA_ROWS)}"


def sheets_settings(ctx: Context) -> SheetsSettings:
    """The configured Sheets settings (minus the on/off switch); the Office always edits every tab."""
    return SheetsSettings(**ctx.cfg.settings.channels.sheets.model_dump(exclude={"enabled", "settle_minutes"}),
                          office_account=ctx.cfg.settings.organisation.office_email,
                          read_range=read_range(ctx.cfg.report))


def tab_title(unit: Unit, period: Period) -> str:
    """'VP - Văn phòng Sở (2021-03)': one tab per unit and period, so last month's numbers stay."""
    suffix = f" ({period.key})"
    return f"{unit.code} - {unit.name}"[: 100 - len(suffix)] + suffix


def sheet_units(ctx: Context, period: Period | None = None) -> list[Unit]:
    """The sheet units the period expects (a tab each); without a period, those not switched off."""
    units = ctx.cfg.active_units if period is None else ctx.cfg.units_expected_in(period)
    return [u for u in units if u.channel == "sheet"]


def units_by_spreadsheet(ctx: Context, period: Period) -> dict[str, list[Unit]]:
    """The period's sheet units grouped by spreadsheet, in config order (each spreadsheet is read in its own
    batches)."""
    groups: dict[str, list[Unit]] = {}
    for unit in sheet_units(ctx, period):
        groups.setdefault(ctx.cfg.spreadsheet_of(unit), []).append(unit)
    return groups


def spreadsheet_url(spreadsheet_id: str) -> str | None:
    return f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}" if spreadsheet_id else None


def ensure_unit_tabs(ctx: Context, period: Period, gateway: SheetsGateway | None = None) -> dict[str, Any]:
    """Every sheet unit's tab for the period, in its own spreadsheet; one get (+ writes when new) per spreadsheet.

    A spreadsheet Google refuses (not shared, wrong id, full) is its own units' problem: the others still get
    their tabs; `failed` says why per spreadsheet and `not_ready` lists the units left without a tab (they
    must not be sent a request pointing at a tab that does not exist). Google being overloaded
    (SheetsUnavailable) stops the step, to be retried.
    """
    gw = gateway or SheetsGateway(sheets_settings(ctx))
    deadline = ctx.unit_deadline(period)
    created: list[str] = []
    protected: list[str] = []
    unchanged: list[str] = []
    failed: dict[str, str] = {}
    not_ready: list[str] = []
    for sid, units in units_by_spreadsheet(ctx, period).items():
        tabs = [TabSpec(tab_title(u, period), template_grid(ctx.cfg.report, u, period, deadline), u.emails)
                for u in units]
        try:
            result = gw.ensure_tabs(tabs, sid)
        except SheetsUnavailable:
            raise
        except SheetsError as exc:
            failed[sid] = str(exc)
            not_ready += [u.code for u in units]
            ctx.ledger.audit("sheets", period.key, "ensure_failed", spreadsheet=sid, error=str(exc),
                             units=len(units))
            continue
        ctx.ledger.audit("sheets", period.key, "ensure_tabs", spreadsheet=sid, created=result.created,
                         protected=result.protected)
        created += result.created
        protected += result.protected
        unchanged += result.unchanged
    return {"created": created, "protected": protected, "unchanged": unchanged, "failed": failed,
            "not_ready": not_ready}


def tabs_not_ready_message(failed: dict[str, str], units: int, period_key: str) -> str:
    """The operator's alert when some spreadsheets refused their tabs: what was and was not sent, why, and
    the one command to run once the spreadsheets are fixed (units already sent are not sent again)."""
    why = " ".join(f"Bảng tính {sid}: {reason}" for sid, reason in failed.items())
    return (f"Chưa tạo được trang tính kỳ {period_key} cho {format_number(units)} đơn vị dùng Google Sheets nên "
            f"chưa gửi đề nghị báo cáo cho các đơn vị này; các đơn vị khác đã được gửi. {why} Sau khi sửa, chạy "
            f"lại: baocao request --period {period_key}")


def _not_collected(period_key: str, units: int, spreadsheet_id: str | None, rest: str) -> str:
    """The operator's warning for Sheets units left unread: whose reports wait (in which spreadsheet, when it is
    one), then `rest` (why, from its own punctuation on), and that the next collect reads them once it is fixed
    (their units are sent nothing meanwhile)."""
    where = f" ở bảng tính {spreadsheet_id}" if spreadsheet_id else ""
    return (f"Chưa thu được báo cáo kỳ {period_key} của {format_number(units)} đơn vị dùng Google Sheets{where}"
            f"{rest} Sau khi sửa, lần thu sau sẽ đọc lại trang tính của các đơn vị này.")


def unreachable_message(spreadsheet_id: str, reason: str, units: int, period_key: str) -> str:
    """Collect cannot reach one spreadsheet; the others are read."""
    return _not_collected(period_key, units, spreadsheet_id, f"; các đơn vị khác vẫn được thu. {reason}")


def account_refused_message(reason: str, units: int, period_key: str) -> str:
    """Google refuses the service account itself: no spreadsheet could be read."""
    return _not_collected(period_key, units, None, f". {reason}")


def account_refused_midway_message(spreadsheet_id: str, why: str, units: int, period_key: str) -> str:
    """Google began refusing the service account part-way through a collect (a key revoked meanwhile): this
    spreadsheet was left unread, the ones read before it were collected."""
    return _not_collected(period_key, units, spreadsheet_id,
                          f". Giữa lần thu này, Google Sheets bắt đầu từ chối tài khoản dịch vụ của hệ thống: {why}. "
                          "Các bảng tính đọc trước đó đã được thu.")


def _has_values(grid: list[list[Any]]) -> bool:
    """A tab nobody has typed into yet is not a submission (no rejection mail for an empty tab)."""
    header = next((i for i, row in enumerate(grid) if [str(c) for c in row[:6]] == list(HEADER)), None)
    if header is None:
        return True  # someone rearranged the tab: let validation explain what is wrong
    return any(len(row) > COL_VALUE and row[COL_VALUE] not in (None, "") for row in grid[header + 1:])


@dataclass
class SheetRead(Arrivals):
    """One collect's view of the unit tabs: new contents to process, and per-unit outcomes already known
    (read errors, re-accepted earlier contents)."""

    unchanged: list[str] = field(default_factory=list)  # tab titles whose content is already recorded
    unsettled: list[str] = field(default_factory=list)  # tab titles changed too recently: maybe still typing


# ---------------------------------------------------------------- settle state (ledger cursors)


def cursor_name(spreadsheet_id: str, title: str) -> str:
    """The ledger cursor holding a tab's settle state: '<content hash>|<ISO time first seen with it>'."""
    return f"sheet:{spreadsheet_id}:{title}"


def _parse_seen(value: str | None) -> tuple[str, datetime] | None:
    digest, _, when = (value or "").partition("|")
    try:
        seen = datetime.fromisoformat(when)
    except ValueError:
        return None  # absent or unreadable: as if never seen
    return digest, (seen.replace(tzinfo=TZ) if seen.tzinfo is None else seen.astimezone(TZ))


def _load_seen(ctx: Context, names: Iterable[str]) -> dict[str, tuple[str, datetime]]:
    """Every tab's settle state in one query (a collect reads all tabs, every 15 minutes)."""
    names = list(names)
    if not names:
        return {}
    with ctx.ledger.session() as s:
        rows = s.execute(select(Cursor.name, Cursor.value).where(Cursor.name.in_(names))).all()
    parsed = {name: _parse_seen(value) for name, value in rows}
    return {name: seen for name, seen in parsed.items() if seen is not None}


def _store_seen(ctx: Context, seen: dict[str, tuple[str, datetime]]) -> None:
    """The changed tabs' new states in one transaction."""
    ctx.ledger.set_cursors({name: f"{digest}|{when.isoformat()}" for name, (digest, when) in seen.items()})


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(TZ)
    return now.replace(tzinfo=TZ) if now.tzinfo is None else now.astimezone(TZ)


# ---------------------------------------------------------------- collect


def read_unit_tabs(ctx: Context, period: Period, gateway: SheetsGateway | None = None,
                   now: datetime | None = None) -> SheetRead:
    """All unit tabs, 100 per values:batchGet paced to the read quota (gateway); a tab's error is its unit's.

    A spreadsheet Google refuses (not shared, wrong id) is the Office's problem, not its units': they get no
    outcome and their settle state is left as it was (the next collect reads them as if this one had not), and
    one ERROR outcome without a unit carries the operator's message (and an audit row), as a mailbox down does.

    A tab whose grid equals its last recorded submission gives nothing (no re-validation, no reply); a tab
    put back to a content accepted earlier makes that submission current again instead of being ignored
    as a duplicate by the ledger.

    A changed tab is taken only once it has settled: its content unchanged for `settle_minutes` (a unit
    still typing is not validated, nor sent a rejection, at every collect). It is then received at the time
    that content was first seen, i.e. when the unit stopped editing, at most one collect interval late.
    Once the unit deadline has passed a changed tab settles at once: waiting cannot make it on time.
    """
    gw = gateway or SheetsGateway(sheets_settings(ctx))
    out = SheetRead()
    units: dict[str, Unit] = {}  # tab title -> its unit
    names: dict[str, str] = {}  # tab title -> its settle cursor (which names the spreadsheet)
    reads: dict[str, TabRead] = {}
    spreadsheets = list(units_by_spreadsheet(ctx, period).items())
    for i, (sid, members) in enumerate(spreadsheets):  # one pacer across them: the quota is the account's
        titled = {tab_title(u, period): u for u in members}
        try:
            got = gw.read_tabs(list(titled), sid)
        except SheetsAccountRefused as exc:  # every spreadsheet alike: none is tried, none is blamed
            rest = spreadsheets[i:]
            waiting = sum(len(m) for _, m in rest)
            ctx.ledger.audit("sheets", period.key, "read_failed", account=True, error=str(exc), units=waiting)
            # refused from the first read: the channel itself; part-way (a key revoked meanwhile): the
            # spreadsheets read before stand, each one left is not reached
            if i == 0:
                out.outcomes.append(Outcome(sheet_place(""), OutcomeStatus.ERROR,
                                            reason=account_refused_message(str(exc), waiting, period.key)))
            else:
                out.outcomes += [Outcome(sheet_place(s), OutcomeStatus.ERROR,
                                         reason=account_refused_midway_message(s, exc.why, len(m), period.key))
                                 for s, m in rest]
            break
        refused = next((r.error for r in got.values() if r.unreachable), None)
        if refused is not None:
            ctx.ledger.audit("sheets", period.key, "read_failed", spreadsheet=sid, error=refused, units=len(members))
            out.outcomes.append(Outcome(sheet_place(sid), OutcomeStatus.ERROR,
                                        reason=unreachable_message(sid, refused, len(members), period.key)))
            continue
        units.update(titled)
        names.update((title, cursor_name(sid, title)) for title in titled)
        reads.update(got)
    if not units:
        return out
    subs = ctx.ledger.submissions(ctx.cfg.report.id, period.key, source="sheet")
    last = {s.source_ref: s for s in subs}  # ordered by received_at: the latest per tab wins
    by_hash = {s.content_hash: s for s in subs}
    now = _now(now)
    settle = timedelta(minutes=ctx.cfg.settings.channels.sheets.settle_minutes)
    if now.date() > ctx.unit_deadline(period):
        settle = timedelta(0)
    seen = _load_seen(ctx, names.values())
    changed: dict[str, tuple[str, datetime]] = {}
    for title, read in reads.items():
        unit = units[title]
        ref = f"sheet:{title}"
        if read.grid is None:
            reason = read.error or f"Không đọc được trang tính “{title}”."
            ctx.ledger.audit("sheets", title, "read_error", unit=unit.code, period=period.key, error=reason)
            out.outcomes.append(Outcome(ref, OutcomeStatus.ERROR, unit.code, reason=reason))
            continue
        digest = grid_hash(read.grid)
        name = names[title]
        state = seen.get(name)
        if state is None or state[0] != digest:
            # every change restarts the clock, a cleared tab or a return to the recorded content included
            # (else typing A -> B -> A -> B would take the second B as settled since the first)
            state = changed[name] = (digest, now)
        if not _has_values(read.grid):
            continue
        previous = last.get(ref)
        if previous is not None and previous.content_hash == digest:
            out.unchanged.append(title)
            continue
        first_seen = state[1]
        if now - first_seen < settle:
            out.unsettled.append(title)
            continue
        earlier = by_hash.get(digest)
        if earlier is not None:
            if earlier.status == "superseded":
                ctx.ledger.reopen(earlier.id, f"Trang tính “{title}” trở lại nội dung đã nộp lúc trước.")
                out.outcomes.append(Outcome(ref, OutcomeStatus.ACCEPTED, earlier.unit_code, earlier.id, earlier.on_time,
                                            warnings=list(earlier.warnings)))
            else:
                out.unchanged.append(title)
            continue
        out.documents.append(Document(source="sheet", source_ref=ref, filename=title, content=b"",
                                      received_at=first_seen, claimed_unit=unit.code, grid=read.grid,
                                      digest=digest))
    _store_seen(ctx, changed)
    return out


class SheetsChannel:
    """One protected tab per unit and period; the unit types in it, baocao reads it back once settled."""

    name: Source = "sheet"
    how_to_return = "nhập số liệu trực tiếp trên trang tính của đơn vị"

    def __init__(self, ctx: Context, gateway: SheetsGateway | None = None, now: datetime | None = None):
        self.ctx, self.gateway, self.now = ctx, gateway, now

    def request(self, unit: Unit, period: Period, *, workbook: bool = True) -> UnitRequest:
        return UnitRequest(sheet_tab=tab_title(unit, period), link=spreadsheet_url(self.ctx.cfg.spreadsheet_of(unit)))

    @contextmanager
    def receive(self, period: Period) -> Iterator[Arrivals]:
        """The changed, settled tabs; the settle state is the channel's cursor (stored while reading)."""
        yield read_unit_tabs(self.ctx, period, self.gateway, self.now)
