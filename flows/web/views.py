"""What the pages show, computed from the ledger and the output files (no HTTP here).

Status comes from the same functions as `baocao status`; versions are every submission of a unit, with
a cell-by-cell diff between consecutive ones; the approval view reads the consolidation JSON and renders
the draft .docx as simple, escaped HTML.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tasks.approvals import Decision, file_digests, latest_decisions
from tasks.channel_health import channel_problems, units_at
from tasks.channels.folder import skip_advice, skipped_files
from tasks.collect import is_recorded_content
from tasks.config import Unit
from tasks.context import Context
from tasks.display import shown
from tasks.filing import delivered as _delivered
from tasks.ledger import Submission, as_utc
from tasks.periods import TZ, Period
from tasks.render.vietnamese_dates import format_number, format_percent
from tasks.status import quarantine_rows, status_rows, unit_states
from tasks.text import search_key

CHANNEL_VI = {"folder": "Thư mục", "email": "Thư điện tử", "sheet": "Google Sheets", "web": "Trang web"}
SUB_STATUS_VI = {"accepted": "Hợp lệ", "rejected": "Bị trả lại", "superseded": "Đã thay bằng bản sau",
                 "quarantined": "Cách ly"}
DELIVERY_VI = {"written": "Đã soạn thư gửi (trong outbox)", "sent": "Đã gửi", "failed": "Gửi lỗi"}


# ------------------------------------------------------------------ formatting


def vn_date(d: date | datetime | str | None) -> str:
    if d is None or d == "":
        return ""
    if isinstance(d, str):
        d = datetime.fromisoformat(d)
    if isinstance(d, datetime):
        d = as_utc(d).astimezone(TZ) if d.tzinfo else d
    return f"{d:%d/%m/%Y}"


def vn_time(d: datetime | str | None) -> str:
    """'09:12 15/03/2021' in Vietnam time."""
    if d is None or d == "":
        return ""
    if isinstance(d, str):
        d = datetime.fromisoformat(d)
    return f"{as_utc(d).astimezone(TZ):%H:%M %d/%m/%Y}"


def vn_number(n: Any) -> str:
    return format_number(n) if isinstance(n, int | float) and not isinstance(n, bool) else ("" if n is None else str(n))


def vn_percent(x: float | None) -> str:
    return format_percent(x)


# ------------------------------------------------------------------ periods


def recent_periods(period: Period, n: int = 12) -> list[Period]:
    """This period and the n-1 before it, oldest first."""
    out = [period]
    while len(out) < n:
        prev = out[-1].previous()
        if prev is None:
            break
        out.append(prev)
    return list(reversed(out))


def delivery_state(ctx: Context, period: Period) -> str | None:
    rec = ctx.ledger.message(f"delivery:{ctx.cfg.report.id}:{period.key}")
    return rec.status if rec is not None else None


def is_delivered(ctx: Context, period: Period) -> bool:
    return _delivered(ctx, period)


# ------------------------------------------------------------------ board


def rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return rates_of([r["status"] for r in rows])


def rates_of(statuses: list[str]) -> dict[str, Any]:
    """How many units stand where, and the reporting and on-time rates."""
    counts = Counter(statuses)
    expected = len(statuses)
    reported = counts["on_time"] + counts["late"]
    return {"expected": expected, "reported": reported, "on_time": counts["on_time"], "late": counts["late"],
            "rejected": counts["rejected"], "missing": counts["missing"],
            "reporting_rate": reported / expected if expected else 0.0,
            "on_time_rate": counts["on_time"] / expected if expected else 0.0}


def report_paths(ctx: Context, period: Period) -> dict[str, Path]:
    out = ctx.data_dir / "reports" / period.key
    stem = f"{ctx.cfg.report.id}-{period.key}"
    return {ext: out / f"{stem}.{ext}" for ext in ("json", "docx", "xlsx", "pdf")}


@dataclass
class PeriodState:
    period: Period
    rates: dict[str, Any]
    consolidated: bool
    decision: Decision | None
    delivery: str | None
    collected: bool = True  # anything received at all (a period never collected shows blank, not 0%)
    stale: bool = False  # approved files were rewritten since

    @property
    def state_vi(self) -> str:
        if self.delivery in ("written", "sent"):
            return DELIVERY_VI[self.delivery]
        if self.decision is not None:
            if self.decision.approved and self.stale:
                return "Đã tổng hợp lại sau khi phê duyệt, cần phê duyệt lại"
            return "Đã phê duyệt, chờ gửi" if self.decision.approved else "Lãnh đạo Sở trả lại"
        return "Đã tổng hợp, chờ phê duyệt" if self.consolidated else "Chưa tổng hợp"


def grid(ctx: Context, period: Period, n: int = 12, codes: list[str] | None = None
         ) -> tuple[list[PeriodState], dict[str, dict[str, str]]]:
    """DHIS2-style reporting summary: units × the last n periods (the cells of `codes` only, when given: the
    units a board page lists), and each period's report state and rates (over the units that period expects:
    a unit has no cell for a period outside its window)."""
    periods = recent_periods(period, n)
    decided = latest_decisions(ctx.ledger, ctx.cfg.report.id, [p.key for p in periods])
    states: list[Any] = []
    if codes is None:  # every unit some of these periods expect, in config order
        expected = {u.code for p in periods for u in ctx.cfg.units_expected_in(p)}
        codes = [u.code for u in ctx.cfg.units if u.code in expected]
    wanted = codes
    cells: dict[str, dict[str, Any]] = {code: {} for code in wanted}
    for p in periods:
        of_unit, collected = unit_states(ctx, p)
        for code in wanted:
            if code in of_unit:
                cells[code][p.key] = of_unit[code].value
        decision = decided.get(p.key)
        stale = bool(decision and decision.approved and decision.sha256 != shown_files(ctx, p))
        states.append(PeriodState(p, rates_of(list(of_unit.values())),  # str enums: counted as their values
                                  report_paths(ctx, p)["json"].exists(), decision, delivery_state(ctx, p),
                                  collected, stale))
    return states, cells


def board(ctx: Context, period: Period) -> dict[str, Any]:
    rows = _board_rows(ctx, period, status_rows(ctx, period))
    return {"rows": rows, "quarantined": quarantine_rows(ctx, period), "rates": rates(rows),
            "problems": channel_problem_rows(ctx), "inbox_skipped": inbox_skipped(ctx)}


PAGE_SIZE = 100  # units a board page lists: a province's 10,000 rows were a 15 MB page
# The board's unit filters: query value -> (label, statuses listed; None = every unit)
FILTERS: dict[str, tuple[str, frozenset[str] | None]] = {
    "can-chu-y": ("Cần chú ý", frozenset({"missing", "rejected", "late"})),
    "chua-bao-cao": ("Chưa báo cáo", frozenset({"missing"})),
    "bi-tra-lai": ("Bị trả lại", frozenset({"rejected"})),
    "muon": ("Muộn", frozenset({"late"})),
    "dung-han": ("Đúng hạn", frozenset({"on_time"})),
    "tat-ca": ("Tất cả", None),
}


@dataclass
class UnitPage:
    """One page of the board's unit list: the rows of a filter and a search, and how to reach the others."""

    rows: list[dict[str, Any]]
    show: str  # the filter (a FILTERS key)
    query: str  # the search as typed ("" when it has no letter or digit)
    counts: dict[str, int]  # units per filter matching the search
    chosen: bool  # the filter was picked (not the default); a search keeps it
    total: int  # every unit listed on the board
    matched: int  # units of the filter that match the search
    page: int  # 1-based
    pages: int
    first: int  # position of the page's first row among those matched (1-based; 0 when none)

    def url(self, **changes: Any) -> str:
        """The query string of this list with some parameters changed (a page, another filter)."""
        params = {"loc": self.show if self.chosen else "", "tim": self.query, "trang": self.page} | changes
        return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None, 1)})


def unit_page(rows: list[dict[str, Any]], show: str | None = None, query: str = "", page: int | str = 1,
              size: int = PAGE_SIZE) -> UnitPage:
    """The units of a filter matching a search (code or name, with or without Vietnamese marks), one page of
    `size`. With no filter chosen, a department's few units are all listed, a province's those needing
    attention (not reported, returned, late), and a search looks through every unit."""
    needle = search_key(query)  # as typed, in the code or the name
    query = query if needle else ""
    picked = show in FILTERS
    if show not in FILTERS:
        show = "tat-ca" if len(rows) <= size or needle else "can-chu-y"
    found = [r for r in rows if not needle or needle in search_key(f"{r['unit']} {r['name']}")]
    counts = {key: sum(1 for r in found if wanted is None or r["status"] in wanted)
              for key, (_, wanted) in FILTERS.items()}
    wanted = FILTERS[show][1]
    chosen = [r for r in found if wanted is None or r["status"] in wanted]
    pages = max(1, math.ceil(len(chosen) / size))
    try:
        number = min(max(1, int(page)), pages)
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * size
    return UnitPage(chosen[start:start + size], show, query, counts, picked, len(rows), len(chosen), number,
                    pages, start + 1 if chosen else 0)


def channel_problem_rows(ctx: Context) -> list[dict[str, Any]]:
    """The channels the last collect could not reach, named for the Office, with how many units they hold."""
    problems = channel_problems(ctx)
    if not problems:
        return []
    holding = units_at(ctx)
    return [{"label": p.label, "units": holding.get(p.channel, 0), "message": p.message, "since": p.since,
             "last": p.last, "count_units": p.counts_units} for p in problems]


def inbox_skipped(ctx: Context) -> dict[str, Any] | None:
    """The inbox files the latest collect could not read (the inbox is one folder for every period), each with
    the reason and what the Office does; None when it read them all. One ledger read, a bounded list."""
    record = skipped_files(ctx)
    if not record.total:
        return None
    files = []
    for ref, why in record.files:
        said, advice = skip_advice(why)
        files.append({"path": shown(ref, 300), "reason": said, "advice": advice})
    return {"at": record.at, "total": record.total, "files": files, "more": record.total - len(files)}


def board_row(ctx: Context, period: Period, unit: Unit) -> dict[str, Any] | None:
    """One unit's row of the board (its own pages), without computing every other unit's."""
    rows = _board_rows(ctx, period, status_rows(ctx, period, only=unit), unit.code)
    return rows[0] if rows else None


def _board_rows(ctx: Context, period: Period, rows: list[dict[str, Any]],
                unit_code: str | None = None) -> list[dict[str, Any]]:
    """Status rows with how many versions each unit sent and the channel of the one shown (counted from
    one query, not a scan of every submission for each unit)."""
    sources = ctx.ledger.submission_sources(ctx.cfg.report.id, period.key, unit_code)
    versions = Counter(code for _, code, _ in sources)
    source_of = {sid: source for sid, _, source in sources}
    for r in rows:
        r["versions"] = versions.get(r["unit"], 0)
        r["channel_vi"] = CHANNEL_VI.get(r["channel"], r["channel"])
        shown = source_of.get(r["submission_id"])
        r["source_vi"] = CHANNEL_VI.get(shown, shown) if shown else ""
    return rows


# ------------------------------------------------------------------ versions and diffs


@dataclass
class Change:
    code: str
    label: str
    before: Any
    after: Any


@dataclass
class Version:
    sub: Submission
    number: int
    changes: list[Change] = field(default_factory=list)
    original: str = ""  # "file" | "email" | "sheet" | "missing"


def original(ctx: Context, sub: Submission) -> bytes | None:
    """The received bytes, for folder and web files kept under the data directory (never elsewhere), when
    the file there is still the one recorded (a unit may have copied a later version over it)."""
    if sub.source not in ("folder", "web"):
        return None
    root = ctx.data_dir.resolve()
    path = (ctx.data_dir / sub.source_ref).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if is_recorded_content(sub.content_hash, data, sub.filename) else None


def versions(ctx: Context, period: Period, unit_code: str) -> list[Version]:
    """Every submission of the unit in the period, oldest first, each with what changed from the one before."""
    subs = ctx.ledger.submissions(ctx.cfg.report.id, period.key, unit_code=unit_code)
    labels = {i.code: i.label for i in ctx.cfg.report.indicators}
    order = [i.code for i in ctx.cfg.report.indicators]
    out: list[Version] = []
    prev: dict[str, Any] | None = None
    for n, sub in enumerate(subs, 1):
        values = sub.value_map()
        v = Version(sub, n)
        if prev is not None:
            for code in order:
                a, b = prev.get(code), values.get(code)
                if _blank(a) and _blank(b):
                    continue
                if a != b:
                    v.changes.append(Change(code, labels[code], a, b))
        if sub.source in ("folder", "web"):
            v.original = "file" if original(ctx, sub) is not None else "missing"
        else:
            v.original = sub.source
        out.append(v)
        prev = values
    return out


def _blank(v: Any) -> bool:
    return v is None or v == ""


# ------------------------------------------------------------------ approval view


def consolidation(ctx: Context, period: Period) -> dict[str, Any] | None:
    path = report_paths(ctx, period)["json"]
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def shown_files(ctx: Context, period: Period) -> dict[str, str]:
    """SHA-256 of the files the approver reads and approves (those that are delivered)."""
    return file_digests(report_paths(ctx, period).values())


def key_figures(c: dict[str, Any]) -> list[dict[str, Any]]:
    inds = {i["code"]: i for i in c["indicators"]}
    prev = (c.get("previous") or {}).get("totals") or {}
    out = []
    for code in c.get("main_indicators") or []:
        ind = inds[code]
        out.append({"label": ind["label"], "unit": ind.get("unit", ""), "value": c["totals"].get(code, 0),
                    "previous": prev.get(code), "ytd": (c.get("year_to_date") or {}).get(code)})
    return out


def docx_html(path: Path) -> str:
    """The draft as simple HTML: paragraphs (bold/italic runs, alignment) and tables, in document order.

    Everything is escaped; no style from the file is trusted.
    """
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    doc = Document(str(path))
    parts: list[str] = []

    def para(p: Paragraph) -> str:
        runs = []
        for r in p.runs:
            text = html.escape(r.text)
            if not text:
                continue
            if r.bold:
                text = f"<b>{text}</b>"
            if r.italic:
                text = f"<i>{text}</i>"
            runs.append(text)
        body = "".join(runs)
        align = {1: "center", 2: "right", 3: "justify"}.get(int(p.alignment) if p.alignment is not None else -1)
        cls = f' class="a-{align}"' if align else ""
        return f"<p{cls}>{body}</p>" if body.strip() else ""

    def table(t: Table) -> str:
        rows = []
        for row in t.rows:
            cells, seen = [], set()
            for cell in row.cells:
                if id(cell._tc) in seen:  # merged cells repeat
                    continue
                seen.add(id(cell._tc))
                inner = "".join(para(p) for p in cell.paragraphs)
                cells.append(f"<td>{inner}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return '<div class="scroll"><table class="doc">' + "".join(rows) + "</table></div>"

    for child in doc.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            parts.append(para(Paragraph(child, doc)))
        elif tag == "tbl":
            parts.append(table(Table(child, doc)))
    return "\n".join(p for p in parts if p)
