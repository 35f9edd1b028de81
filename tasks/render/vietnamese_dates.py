"""Vietnamese date and number formatting for administrative documents.

Decree 30/2020/NĐ-CP writes dates as "ngày 05 tháng 01 năm 2021": days below 10 and
months 1–2 take a leading zero (so "tháng 01" cannot be misread as "tháng 10"/"tháng 11"),
other months do not ("tháng 3"). Numbers use "." for thousands and "," for decimals.
"""

from __future__ import annotations

from datetime import date, datetime

from tasks.periods import TZ
from tasks.text import nfc  # noqa: F401 - re-exported: renderers import nfc from here

# Vietnam has had no daylight saving since 1975, so a fixed offset is exact and avoids
# depending on tzdata being installed.


def to_local_date(value: date | datetime | str) -> date:
    """Return the calendar date in Asia/Ho_Chi_Minh; naive datetimes are taken as local time."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(TZ)
        return value.date()
    return value


def _day(d: date) -> str:
    return f"{d.day:02d}"


def _month(d: date) -> str:
    return f"{d.month:02d}" if d.month <= 2 else str(d.month)


def format_date(value: date | datetime | str) -> str:
    """'ngày 16 tháng 3 năm 2021' with the Decree 30 leading-zero rule."""
    d = to_local_date(value)
    return f"ngày {_day(d)} tháng {_month(d)} năm {d.year}"


def format_date_line(place: str, value: date | datetime | str) -> str:
    """Place-and-date line of the document header: 'Tuyên Quang, ngày 05 tháng 01 năm 2021'."""
    return nfc(f"{place}, {format_date(value)}")


def format_short_date(value: date | datetime | str) -> str:
    """Compact form used in tables: '05/01/2021', '16/3/2021'."""
    d = to_local_date(value)
    return f"{_day(d)}/{_month(d)}/{d.year}"


def format_number(n: int | float | None, decimals: int = 0) -> str:
    """Vietnamese number: '1.234', '1.234,5'; None becomes an empty string."""
    if n is None:
        return ""
    if isinstance(n, float) and decimals == 0 and not n.is_integer():
        decimals = 1
    text = f"{abs(n):,.{decimals}f}"
    text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    if decimals and "," in text:
        text = text.rstrip("0").rstrip(",")
    return ("-" if n < 0 else "") + text


def format_percent(x: float | None, decimals: int = 1) -> str:
    """Ratio to percent, Vietnamese style: 0.778 -> '77,8%', 1.0 -> '100%'.

    A ratio that is not nil or whole never reads '0%' or '100%' (1 of 3.000 is '0,03%', 2.499 of 2.500 is
    '99,96%'): up to two more decimals are shown before giving up."""
    if x is None:
        return ""
    pct = x * 100
    shown = round(pct, decimals)
    while abs(shown) in (0, 100) and pct != shown and decimals < 3:
        decimals += 1
        shown = round(pct, decimals)
    return format_number(shown, decimals=decimals) + "%"
