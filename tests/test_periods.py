"""Decree 09/2019 cut-offs and working-day deadlines."""

from datetime import date, datetime

import pytest

from tasks.periods import (
    TZ,
    PeriodError,
    add_working_days,
    current_period,
    parse_period,
    report_deadline,
    unit_deadline,
)


@pytest.mark.parametrize(
    ("key", "kind", "start", "end", "label"),
    [
        ("2021-03", "month", date(2021, 2, 15), date(2021, 3, 14), "tháng 3 năm 2021"),
        ("2021-1", "month", date(2020, 12, 15), date(2021, 1, 14), "tháng 1 năm 2021"),
        ("2021-Q1", "quarter", date(2020, 12, 15), date(2021, 3, 14), "quý I năm 2021"),
        ("2021-q2", "quarter", date(2021, 3, 15), date(2021, 6, 14), "quý II năm 2021"),
        ("2021-Q4", "quarter", date(2021, 9, 15), date(2021, 12, 14), "quý IV năm 2021"),
        ("2021-H1", "half", date(2020, 12, 15), date(2021, 6, 14), "6 tháng đầu năm 2021"),
        ("2021-9M", "nine_months", date(2020, 12, 15), date(2021, 9, 14), "9 tháng năm 2021"),
        ("2021", "year", date(2020, 12, 15), date(2021, 12, 14), "năm 2021"),
        ("2021-05-03..2021-05-20", "adhoc", date(2021, 5, 3), date(2021, 5, 20),
         "từ ngày 03/05/2021 đến ngày 20/05/2021"),
    ],
)
def test_cut_off_windows(key, kind, start, end, label):
    p = parse_period(key)
    assert (p.kind, p.start, p.end, p.label) == (kind, start, end, label)


@pytest.mark.parametrize("bad", ["2021-13", "2021-Q5", "March", "2021-05-20..2021-05-03", ""])
def test_bad_period_says_what_to_type(bad):
    with pytest.raises(PeriodError) as exc:
        parse_period(bad)
    assert "Kỳ báo cáo" in str(exc.value)


def test_deadline_skips_weekend():
    # March 2021: cut-off Sunday 14/3; 2 working days -> Tue 16/3; 4 -> Thu 18/3
    p = parse_period("2021-03")
    assert unit_deadline(p, 2) == date(2021, 3, 16)
    assert report_deadline(p, 4) == date(2021, 3, 18)


def test_deadline_skips_tet():
    # Tết Tân Sửu: 10–16/2/2021 are holidays, so the February report is due Thu 18/2
    p = parse_period("2021-02")
    assert unit_deadline(p, 2) == date(2021, 2, 18)
    assert report_deadline(p, 4) == date(2021, 2, 22)
    # Tết Giáp Thìn 2024: 8–14/2 off; cut-off Wed 14/2 -> Thu 15, Fri 16
    assert unit_deadline(parse_period("2024-02"), 2) == date(2024, 2, 16)


def test_deadline_skips_hung_kings_and_national_day():
    assert add_working_days(date(2021, 4, 20), 1) == date(2021, 4, 22)  # 21/4 Giỗ Tổ
    assert unit_deadline(parse_period("2021-9M"), 2) == date(2021, 9, 16)
    assert add_working_days(date(2021, 9, 1), 1) == date(2021, 9, 6)  # 2–3/9 off, then the weekend


def test_year_boundary_previous_and_year_to_date():
    jan = parse_period("2021-01")
    assert jan.previous().key == "2020-12"
    assert jan.same_year_before() == []
    assert [p.key for p in parse_period("2021-03").same_year_before()] == ["2021-02", "2021-01"]
    assert parse_period("2021-Q1").previous().key == "2020-Q4"
    assert parse_period("2021-H1").previous().key == "2020-H1"


@pytest.mark.parametrize(
    ("now", "kind", "expected"),
    [
        (datetime(2026, 11, 28, 9, 0, tzinfo=TZ), "month", "2026-11"),
        (datetime(2026, 11, 14, 23, 0, tzinfo=TZ), "month", "2026-10"),
        (datetime(2026, 1, 5, tzinfo=TZ), "month", "2025-12"),
        (datetime(2021, 3, 20, tzinfo=TZ), "quarter", "2021-Q1"),
        (datetime(2021, 3, 10, tzinfo=TZ), "quarter", "2020-Q4"),
        (datetime(2021, 5, 1, tzinfo=TZ), "quarter", "2021-Q1"),
        (datetime(2021, 7, 1, tzinfo=TZ), "half", "2021-H1"),
        (datetime(2021, 7, 1, tzinfo=TZ), "year", "2020"),
    ],
)
def test_current_period(now, kind, expected):
    assert current_period(kind, now).key == expected


def test_current_period_uses_vietnam_time():
    # 14/11 20:00 UTC is already 15/11 03:00 in Hà Nội: November's window has closed
    from datetime import UTC

    assert current_period("month", datetime(2026, 11, 14, 20, 0, tzinfo=UTC)).key == "2026-11"


def test_working_days_until_deadline():
    from tasks.periods import working_days_until

    deadline = date(2021, 3, 16)  # Tuesday
    assert working_days_until(date(2021, 3, 12), deadline) == 2  # Friday: Mon 15, Tue 16
    assert working_days_until(date(2021, 3, 16), deadline) == 0
    assert working_days_until(date(2021, 3, 17), deadline) == -1
    assert working_days_until(date(2021, 3, 22), deadline) == -4  # 17, 18, 19, 22
    assert working_days_until(date(2021, 2, 9), date(2021, 2, 18)) == 2  # Tết: only 17 and 18 count


def test_reminders_only_on_configured_working_days(ctx):
    from tasks.remind import reminder_mails

    p = ctx.period("2021-03")  # deadline Tue 16/3; reminder days [2, 0, -1]
    sent = {d: len(reminder_mails(ctx, p, date(2021, 3, d))) for d in range(10, 20)}
    assert sent == {10: 0, 11: 0, 12: 9, 13: 0, 14: 0, 15: 0, 16: 9, 17: 9, 18: 0, 19: 0}


def test_a_period_steps_to_the_one_before_and_after_across_years():
    from tasks.periods import parse_period

    steps = {k: (parse_period(k).previous(), parse_period(k).next()) for k in ("2021-01", "2021-12", "2021-Q1",
                                                                              "2021-Q4", "2021-H1", "2021")}
    assert {k: (a.key if a else None, b.key if b else None) for k, (a, b) in steps.items()} == {
        "2021-01": ("2020-12", "2021-02"), "2021-12": ("2021-11", "2022-01"), "2021-Q1": ("2020-Q4", "2021-Q2"),
        "2021-Q4": ("2021-Q3", "2022-Q1"), "2021-H1": ("2020-H1", "2022-H1"), "2021": ("2020", "2022")}
