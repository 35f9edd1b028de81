"""Reporting periods under Decree 09/2019/NĐ-CP: cut-off windows and working-day deadlines.

Cut-offs run from the 15th of one month to the 14th of another (Điều 12); deadlines are counted in
working days after the cut-off, skipping weekends and Vietnamese public holidays (Tết included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from holidays import HolidayBase


PeriodKind = Literal["month", "quarter", "half", "nine_months", "year", "adhoc"]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class PeriodError(ValueError):
    """A period string the operator typed that does not name a period."""


@dataclass(frozen=True, order=True)
class Period:
    """One reporting period: its key (as typed by the operator) and its data cut-off window."""

    key: str
    kind: PeriodKind
    year: int
    start: date  # first day of data (inclusive)
    end: date  # cut-off day (inclusive)

    @property
    def label(self) -> str:
        """Vietnamese name used in documents: 'tháng 3 năm 2021', 'quý I năm 2021'..."""
        if self.kind == "month":
            return f"tháng {int(self.key[5:])} năm {self.year}"
        if self.kind == "quarter":
            return f"quý {ROMAN[int(self.key[-1])]} năm {self.year}"
        if self.kind == "half":
            return f"6 tháng đầu năm {self.year}"
        if self.kind == "nine_months":
            return f"9 tháng năm {self.year}"
        if self.kind == "year":
            return f"năm {self.year}"
        return f"từ ngày {self.start:%d/%m/%Y} đến ngày {self.end:%d/%m/%Y}"

    def previous(self) -> Period | None:
        """The period of the same kind just before, for change-over-period figures."""
        return self.shifted(-1)

    def next(self) -> Period | None:
        """The period of the same kind just after."""
        return self.shifted(1)

    def shifted(self, step: int) -> Period | None:
        """The period of the same kind `step` periods away (±1); None for an ad hoc period."""
        if self.kind == "month":
            months = self.year * 12 + int(self.key[5:]) - 1 + step
            return parse_period(f"{months // 12}-{months % 12 + 1:02d}")
        if self.kind == "quarter":
            quarters = self.year * 4 + int(self.key[-1]) - 1 + step
            return parse_period(f"{quarters // 4}-Q{quarters % 4 + 1}")
        if self.kind in ("half", "nine_months", "year"):
            return parse_period(self.key.replace(str(self.year), str(self.year + step), 1))
        return None

    def same_year_before(self) -> list[Period]:
        """Earlier periods of the same kind in the same report year, for year-to-date sums."""
        out: list[Period] = []
        p = self.previous()
        while p is not None and p.year == self.year and p.kind == self.kind:
            out.append(p)
            p = p.previous()
        return out

    def spans_before(self) -> list[Period]:
        """The 6-month and 9-month periods of this year that end before a month or quarter starts: a regime
        that collects quý I, 6 tháng, quý III has no quý II of its own, and its year-to-date rests on them."""
        if self.kind not in ("month", "quarter"):
            return []
        spans = [parse_period(f"{self.year}-H1"), parse_period(f"{self.year}-9M")]
        return [p for p in spans if p.end < self.start]


ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.I)
_HALF = re.compile(r"^(\d{4})-H1$", re.I)
_NINE = re.compile(r"^(\d{4})-9M$", re.I)
_YEAR = re.compile(r"^(\d{4})$")
_ADHOC = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.|/)(\d{4}-\d{2}-\d{2})$")


def _cut(year: int, month: int) -> date:
    """The 15th of the month before `month` (the start of a window ending in `month`)."""
    return date(year - 1, 12, 15) if month == 1 else date(year, month - 1, 15)


@lru_cache(maxsize=1024)  # asked for every received document; a Period is immutable
def parse_period(text: str) -> Period:
    """Parse '2021-03', '2021-Q1', '2021-H1', '2021-9M', '2021' or '2021-05-03..2021-05-20'."""
    s = text.strip()
    if m := _MONTH.match(s):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise PeriodError(f"Kỳ báo cáo {text!r} không hợp lệ: tháng phải từ 1 đến 12")
        return Period(f"{y}-{mo:02d}", "month", y, _cut(y, mo), date(y, mo, 14))
    if m := _QUARTER.match(s):
        y, q = int(m[1]), int(m[2])
        return Period(f"{y}-Q{q}", "quarter", y, _cut(y, 3 * q - 2), date(y, 3 * q, 14))
    if m := _HALF.match(s):
        y = int(m[1])
        return Period(f"{y}-H1", "half", y, date(y - 1, 12, 15), date(y, 6, 14))
    if m := _NINE.match(s):
        y = int(m[1])
        return Period(f"{y}-9M", "nine_months", y, date(y - 1, 12, 15), date(y, 9, 14))
    if m := _YEAR.match(s):
        y = int(m[1])
        return Period(f"{y}", "year", y, date(y - 1, 12, 15), date(y, 12, 14))
    if m := _ADHOC.match(s):
        try:
            start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
        except ValueError as exc:
            raise PeriodError(f"Kỳ báo cáo {text!r} có ngày không hợp lệ: {exc}") from None
        if end < start:
            raise PeriodError(f"Kỳ báo cáo {text!r}: ngày kết thúc trước ngày bắt đầu")
        return Period(f"{start.isoformat()}..{end.isoformat()}", "adhoc", end.year, start, end)
    raise PeriodError(
        f"Kỳ báo cáo {text!r} không hợp lệ. Dùng dạng 2021-03 (tháng), 2021-Q1 (quý), 2021-H1 (6 tháng), "
        "2021-9M (9 tháng), 2021 (năm) hoặc 2021-05-03..2021-05-20 (đột xuất)"
    )


def period_kind_of(text: str) -> PeriodKind:
    return parse_period(text).kind


@lru_cache(maxsize=64)
def _vn_holidays(year: int) -> HolidayBase:
    import holidays  # 80 ms of imports, paid only by a command that counts working days

    return holidays.country_holidays("VN", years=[year - 1, year, year + 1])


@lru_cache(maxsize=4096)  # asked twice per received file; a holidays lookup costs ~0.1 ms
def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in _vn_holidays(d.year)


@lru_cache(maxsize=1024)  # every document's deadline: the same few (period end, n) pairs
def add_working_days(d: date, n: int) -> date:
    """The n-th working day after d (d itself never counts)."""
    cur, left = d, n
    while left > 0:
        cur += timedelta(days=1)
        if is_working_day(cur):
            left -= 1
    return cur


def working_days_until(today: date, deadline: date) -> int:
    """Working days from today to the deadline: 0 on the deadline, negative once it has passed."""
    if today == deadline:
        return 0
    step = 1 if today < deadline else -1
    days, cur = 0, today
    while cur != deadline:
        cur += timedelta(days=step)
        if is_working_day(cur):
            days += step
    return days


def deadline_after_cutoff(period: Period, working_days: int) -> date:
    """Decree 09: a deadline is N working days after the cut-off (units: 2, the Department: 4 by default)."""
    return add_working_days(period.end, working_days)


unit_deadline = report_deadline = deadline_after_cutoff


def today_local(now: datetime | None = None) -> date:
    return (now or datetime.now(TZ)).astimezone(TZ).date()


def current_period(kind: PeriodKind, now: datetime | None = None) -> Period:
    """The period whose reports are being collected now: the latest one whose cut-off has passed.

    On 16 March the March report (15/2–14/3) is due, so 'current' is 2021-03; on 10 March it is
    still February's, which units may be finishing.
    """
    today = today_local(now)
    y, m = today.year, today.month
    if kind == "month":
        if today.day < 15:
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        return parse_period(f"{y}-{m:02d}")
    if kind == "quarter":
        q_end_month = ((m - 1) // 3) * 3 + 3  # last month of this calendar quarter
        if m < q_end_month or today.day < 15:
            q = (m - 1) // 3  # previous quarter
            return parse_period(f"{y - 1}-Q4" if q == 0 else f"{y}-Q{q}")
        return parse_period(f"{y}-Q{q_end_month // 3}")
    if kind == "half":
        return parse_period(f"{y if today >= date(y, 6, 15) else y - 1}-H1")
    if kind == "nine_months":
        return parse_period(f"{y if today >= date(y, 9, 15) else y - 1}-9M")
    if kind == "year":
        return parse_period(f"{y if today >= date(y, 12, 15) else y - 1}")
    raise PeriodError("Kỳ đột xuất không có 'kỳ hiện tại': hãy ghi rõ ngày bắt đầu và kết thúc")


def deadline_by_rule(period: Period, day_of_last_month: int | None, working_days: int | None) -> date:
    """A report's deadline rule: a day of the period's last month ("no later than the 20th of the quarter's
    last month", clamped to the month's length), else N working days after the cut-off."""
    if day_of_last_month is not None:
        y, m = period.end.year, period.end.month
        last = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
        return date(y, m, min(day_of_last_month, last))
    if working_days is None:
        raise ValueError("deadline_by_rule needs day_of_last_month or working_days")
    return deadline_after_cutoff(period, working_days)


def short_label(period: Period) -> str:
    """Compact name for 'lũy kế từ ...': 'tháng 2/2021', 'quý I/2021'; other kinds use their label."""
    if period.kind == "month":
        return f"tháng {int(period.key[5:])}/{period.year}"
    if period.kind == "quarter":
        return f"quý {ROMAN[int(period.key[-1])]}/{period.year}"
    return period.label


def next_label(period: Period) -> str:
    """What 'kỳ tới' means after this period: the next month or quarter, the second half of the year after a
    6-month report, quý IV after nine months, the next year after a year."""
    if period.kind == "month":
        y, m = period.year, int(period.key[5:])
        return f"tháng 1 năm {y + 1}" if m == 12 else f"tháng {m + 1} năm {y}"
    if period.kind == "quarter":
        q = int(period.key[-1])
        return f"quý I năm {period.year + 1}" if q == 4 else f"quý {ROMAN[q + 1]} năm {period.year}"
    if period.kind == "half":
        return f"6 tháng cuối năm {period.year}"
    if period.kind == "nine_months":
        return f"quý IV năm {period.year}"
    if period.kind == "year":
        return f"năm {period.year + 1}"
    return "kỳ tới"
