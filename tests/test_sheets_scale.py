"""A province's 10,000 sheet units: batchGet count, the POST form and quota pacing, through the real client.

The fake Sheets server and the gateway share a simulated clock (tests.fake_sheets.Sleeps): pacing pauses
are recorded, not waited, and every request's arrival time is the simulated time. Nothing here asserts
wall time; the figures are printed for the report (`pytest -s`).
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials

from tasks.channels.sheets import read_unit_tabs, sheet_units, sheets_settings, tab_title
from tasks.context import open_context
from tasks.periods import TZ
from tasks.transports.sheets import SheetsGateway, SheetsSettings, a1_range, build_service
from tasks.workbook import COL_CODE, COL_VALUE, HEADER, template_grid
from tests.fake_sheets import FakeSheets, Sleeps

pytestmark = pytest.mark.slow

SID = "1bAoCaO-tinh-10000"
N = 10_000
WINDOW = 60.0

# what a unit's tab holds once typed in (every tab shows the same grid: the fake shares one object)
GRID: list[list[object]] = [
    ["BÁO CÁO KẾT QUẢ TUYÊN TRUYỀN CCHC"],
    ["STT", "Mã", "Nội dung", "Đơn vị tính", "Số liệu", "Ghi chú"],
    *[[i, f"W{i:02d}", f"Chỉ tiêu số {i}", "tin bài", i * 3, "đã nhập"] for i in range(1, 25)],
]


def unit_titles(n: int) -> list[str]:
    return [f"X{i:05d} - Ủy ban nhân dân xã số {i} (2021-03)" for i in range(n)]


def most_in_any_window(times: list[float], window: float = WINDOW) -> int:
    """The largest number of requests started within any `window` seconds [t, t + window)."""
    times = sorted(times)
    j = best = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.fixture(scope="module")
def province() -> Iterator[tuple[FakeSheets, Sleeps, list[str]]]:
    """One spreadsheet with 10,000 unit tabs (built once: the tests below only read)."""
    clock = Sleeps()
    with FakeSheets(clock=clock.clock) as fake:
        fake.add_spreadsheet(SID)
        titles = unit_titles(N)
        fake.add_tabs(SID, titles, GRID)
        yield fake, clock, titles


def gateway(fake: FakeSheets, sleeps: Sleeps, **overrides: object) -> SheetsGateway:
    settings = SheetsSettings(spreadsheet_id=SID, endpoint=fake.endpoint, **overrides)  # type: ignore[arg-type]
    service = build_service(settings, credentials=AnonymousCredentials())
    return SheetsGateway(settings, service=service, sleep=sleeps, rng=random.Random(3), clock=sleeps.clock)


@pytest.mark.parametrize(("reads_per_minute", "expected_sleeps"), [(60, [60.0]), (300, [])])
def test_ten_thousand_tabs_in_a_hundred_paced_posts(
    province: tuple[FakeSheets, Sleeps, list[str]], reads_per_minute: int, expected_sleeps: list[float]
) -> None:
    fake, sleeps, titles = province
    sleeps.clear()
    fake.clear_log()
    gw = gateway(fake, sleeps, reads_per_minute=reads_per_minute)

    started = time.perf_counter()
    reads = gw.read_tabs(titles)
    took = time.perf_counter() - started

    batch_gets = fake.ops("values.batchGet")
    assert len(batch_gets) == gw.read_count == gw.request_count == 100
    assert len(batch_gets) <= math.ceil(N / 100) + 2
    assert [len(r.ranges) for r in batch_gets] == [100] * 100
    assert [rng for r in batch_gets for rng in r.ranges] == [a1_range(t) for t in titles]
    # every batch was far past 2,048 URL characters: the client sent its POST form, and the fake saw it
    assert {(r.wire_method, r.override, r.method, r.content_type) for r in batch_gets} == {
        ("POST", "GET", "GET", "application/x-www-form-urlencoded")
    }
    assert {r.status for r in batch_gets} == {200}

    # quota: never more than reads_per_minute reads in any 60 seconds of the (simulated) clock, and
    # no more waiting than that needs: at 60/min the first 60 go at once, the other 40 one minute later
    arrivals = [r.at for r in fake.requests]
    assert most_in_any_window(arrivals) <= reads_per_minute <= 300
    assert sleeps == expected_sleeps
    assert arrivals == sorted(arrivals) and arrivals[-1] == sum(expected_sleeps)

    assert len(reads) == N
    assert all(r.error is None and r.grid == GRID for r in reads.values())
    print(f"\n{N} tabs at {reads_per_minute}/min: {len(batch_gets)} batchGet POSTs, "
          f"paced {sum(sleeps):.0f} s (simulated), {took:.2f} s wall")


def test_a_refused_tab_among_ten_thousand_costs_only_its_bisection(
    province: tuple[FakeSheets, Sleeps, list[str]],
) -> None:
    fake, sleeps, titles = province
    sleeps.clear()
    fake.clear_log()
    bad = titles[4242]
    rule = fake.fail(403, op="values.batchGet", tab=bad, times=None)
    try:
        reads = gateway(fake, sleeps).read_tabs(titles)
    finally:
        rule.times = 0
    batch_gets = fake.ops("values.batchGet")
    # 100 batches; the one holding the bad tab is halved down to it: 2 requests per level, 7 levels
    assert len(batch_gets) <= 100 + 2 * math.ceil(math.log2(100))
    assert reads[bad].grid is None
    error = reads[bad].error
    assert error is not None and error.startswith(f"Không có quyền đọc trang tính “{bad}”")
    assert sum(r.error is None for r in reads.values()) == N - 1
    assert most_in_any_window([r.at for r in fake.requests]) <= 60


# ---------------------------------------------------------------- the channel, with a 10,000-unit config


def test_the_sheets_channel_reads_ten_thousand_units_in_a_hundred_requests(
    config_dir: Path, tmp_path: Path
) -> None:
    units_path = config_dir / "units.yaml"
    data = yaml.safe_load(units_path.read_text(encoding="utf-8"))
    codes = [f"X{i:05d}" for i in range(N)]
    data["units"].extend(
        {"code": c, "name": f"Ủy ban nhân dân xã số {i}", "emails": [f"{c.lower()}@xa.tuyenquang.gov.vn"],
         "channel": "sheet"}
        for i, c in enumerate(codes)
    )
    units_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    settings_path = config_dir / "settings.yaml"
    settings = settings_path.read_text(encoding="utf-8")
    old = '  sheets:\n    enabled: false\n    spreadsheet_id: ""\n'
    assert old in settings
    settings_path.write_text(
        settings.replace(old, f'  sheets:\n    enabled: true\n    spreadsheet_id: "{SID}"\n'), encoding="utf-8"
    )
    ctx = open_context(config_dir, tmp_path / "data")
    period = ctx.period("2021-03")

    # every tab shows the same typed-in template (the unit's own code in it does not matter to reading)
    first = ctx.cfg.unit(codes[0])
    assert first is not None
    grid = [list(row) for row in template_grid(ctx.cfg.report, first, period, ctx.unit_deadline(period))]
    header = next(i for i, row in enumerate(grid) if [str(c) for c in row] == list(HEADER))
    typed = 0
    for row in grid[header + 1 :]:
        if row[COL_CODE]:
            row[COL_VALUE] = 7
            typed += 1
    assert typed >= 5
    titles = [tab_title(u, period) for u in sheet_units(ctx)]
    assert len(titles) == N

    sleeps = Sleeps()
    with FakeSheets(clock=sleeps.clock) as fake:
        fake.add_spreadsheet(SID)
        fake.add_tabs(SID, titles, grid)
        settings_ = sheets_settings(ctx)
        assert (settings_.batch_size, settings_.reads_per_minute) == (100, 60)
        settings_ = dataclasses.replace(settings_, endpoint=fake.endpoint)
        gw = SheetsGateway(settings_, build_service(settings_, AnonymousCredentials()), sleep=sleeps,
                           clock=sleeps.clock)
        after_deadline = datetime.combine(ctx.unit_deadline(period) + timedelta(days=1), dtime(9), TZ)
        started = time.perf_counter()
        read = read_unit_tabs(ctx, period, gw, now=after_deadline)
        took = time.perf_counter() - started

        batch_gets = fake.ops("values.batchGet")
        assert len(fake.requests) == len(batch_gets) == 100 <= math.ceil(N / 100) + 2
        assert {(r.wire_method, r.override) for r in batch_gets} == {("POST", "GET")}
        assert most_in_any_window([r.at for r in fake.requests]) <= 60
        assert sleeps == [60.0]

    assert read.outcomes == [] and read.unsettled == [] and read.unchanged == []
    assert [d.claimed_unit for d in read.documents] == codes
    assert all(d.grid == read.documents[0].grid for d in read.documents)
    got = read.documents[0].grid
    assert got is not None and sum(len(row) > COL_VALUE and row[COL_VALUE] == 7 for row in got) == typed
    print(f"\nread_unit_tabs, {N} units: 100 batchGet POSTs, paced 60 s (simulated), {took:.2f} s wall")
