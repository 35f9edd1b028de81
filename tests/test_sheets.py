"""tasks.transports.sheets against the real google-api-python-client talking HTTP to tests.fake_sheets on loopback."""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials

from tasks.transports.sheets import (
    ReadPacer,
    SheetsError,
    SheetsGateway,
    SheetsSettings,
    SheetsUnavailable,
    TabSpec,
    a1_range,
    build_service,
    column_letter,
)
from tests.fake_sheets import FakeSheets, Sleeps, split_a1

SID = "1bAoCaO-test-spreadsheet"
OFFICE = "vanphong@snv.tuyenquang.gov.vn"

UNITS = [
    "VP - Văn phòng Sở",
    "TTr - Thanh tra Sở",
    "Phòng TCBC",
    "Phòng CCHC",
    "Phòng XDCQ",
    "Phòng CCVC",
    "Ban TĐKT",
    "Ban Tôn giáo",
    "O'Brien - Chi cục VTLT",
]

TEMPLATE: list[list[str | int | float | None]] = [
    ["BÁO CÁO KẾT QUẢ TUYÊN TRUYỀN CCHC", None, None, None],
    ["STT", "Nội dung", "Số lượng", "Ghi chú"],
    [1, "Tin bài đăng trên Trang thông tin điện tử", 0, None],
    [2, "Hội nghị có lồng ghép nội dung CCHC", 0, None],
]


@pytest.fixture
def sleeps() -> Sleeps:
    """Pauses recorded, not waited; their sum is the simulated clock the gateway and the fake share."""
    return Sleeps()


@pytest.fixture
def fake(sleeps: Sleeps) -> Iterator[FakeSheets]:
    with FakeSheets(clock=sleeps.clock) as server:
        server.add_spreadsheet(SID)
        yield server


def make_gateway(fake: FakeSheets, sleeps: Sleeps, **overrides: object) -> SheetsGateway:
    settings = SheetsSettings(spreadsheet_id=SID, endpoint=fake.endpoint, office_account=OFFICE, **overrides)
    service = build_service(settings, credentials=AnonymousCredentials())
    return SheetsGateway(settings, service=service, sleep=sleeps, rng=random.Random(7), clock=sleeps.clock)


def specs(titles: list[str]) -> list[TabSpec]:
    return [
        TabSpec(title=t, grid=TEMPLATE, editors=(f"donvi{i}@snv.tuyenquang.gov.vn",))
        for i, t in enumerate(titles)
    ]


# ---------------------------------------------------------------- a1_range


@pytest.mark.parametrize(
    ("title", "cells", "expected"),
    [
        ("Phòng CCHC", "A1:F200", "'Phòng CCHC'!A1:F200"),
        ("O'Brien", "A1:D40", "'O''Brien'!A1:D40"),
        ("'quoted'", "A1", "'''quoted'''!A1"),
        ("Sheet1", "B2:C3", "'Sheet1'!B2:C3"),
        ("VP - Văn phòng Sở", "", "'VP - Văn phòng Sở'"),
        ("Ban Tôn giáo!", "A1:F200", "'Ban Tôn giáo!'!A1:F200"),
    ],
)
def test_a1_range_quotes_titles(title: str, cells: str, expected: str) -> None:
    assert a1_range(title, cells) == expected


def test_a1_range_default_cells_and_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Phòng CCHC")
    assert a1_range(nfd) == "'Phòng CCHC'!A1:F200"
    assert a1_range(nfd) == unicodedata.normalize("NFC", a1_range(nfd))


@pytest.mark.parametrize("title", ["O'Brien", "It''s", "Phòng CCHC", "a!b", "'x'"])
def test_a1_range_round_trips_through_a_parser(title: str) -> None:
    assert split_a1(a1_range(title, "A1:B2")) == (title, "A1:B2")


def test_column_letter() -> None:
    assert [column_letter(i) for i in (1, 6, 26, 27, 52, 703)] == ["A", "F", "Z", "AA", "AZ", "AAA"]
    with pytest.raises(ValueError):
        column_letter(0)


# ---------------------------------------------------------------- ensure_tabs


def test_ensure_tabs_creates_writes_and_protects(fake: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(fake, sleeps)
    titles = ["VP - Văn phòng Sở", "Phòng CCHC", "O'Brien"]
    result = gw.ensure_tabs(specs(titles))

    assert result.created == titles
    assert result.protected == titles
    assert result.unchanged == []
    assert fake.titles(SID) == ["Trang tính1", *titles]
    assert [r.op for r in fake.requests] == ["get", "batchUpdate", "values.batchUpdate", "batchUpdate"]
    assert gw.request_count == 4

    # the grid lands cell for cell (None = left empty), numbers stay numbers
    obrien = fake.values(SID, "O'Brien")
    assert obrien[1] == ["STT", "Nội dung", "Số lượng", "Ghi chú"]
    assert obrien[2][0] == 1 and obrien[2][2] == 0
    assert obrien[0][0] == "BÁO CÁO KẾT QUẢ TUYÊN TRUYỀN CCHC"
    write = fake.ops("values.batchUpdate")[0]
    assert write.body["valueInputOption"] == "RAW"
    assert write.ranges == ["'VP - Văn phòng Sở'!A1:D4", "'Phòng CCHC'!A1:D4", "'O''Brien'!A1:D4"]

    # each tab is protected for its own unit + the Office, nobody else
    for i, title in enumerate(titles):
        sheet = fake.sheet(SID, title)
        (protection,) = sheet["protectedRanges"]
        assert protection["description"] == f"baocao:{title}"
        assert protection["range"] == {"sheetId": sheet["properties"]["sheetId"]}
        assert protection["editors"]["users"] == [f"donvi{i}@snv.tuyenquang.gov.vn", OFFICE]
        assert protection["warningOnly"] is False

    # second run: one get, nothing else, and the unit's typed data is untouched
    fake.set_values(SID, "Phòng CCHC", [["đơn vị đã nhập", 5]])
    fake.clear_log()
    gw2 = make_gateway(fake, sleeps)
    again = gw2.ensure_tabs(specs(titles))
    assert again.created == [] and again.protected == []
    assert again.unchanged == titles
    assert [r.op for r in fake.requests] == ["get"]
    assert gw2.request_count == 1
    assert fake.requests[0].query["fields"] == [
        "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),protectedRanges)"]
    assert fake.values(SID, "Phòng CCHC") == [["đơn vị đã nhập", 5]]


def test_ensure_tabs_adds_only_whats_missing(fake: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(fake, sleeps)
    gw.ensure_tabs(specs(["Phòng CCHC"]))
    # someone created a tab by hand (no protection) and a new unit appeared in config
    fake.add_tab(SID, "Ban Tôn giáo")
    fake.clear_log()

    result = gw.ensure_tabs(specs(["Phòng CCHC", "Ban Tôn giáo", "Phòng CCVC"]))
    assert result.created == ["Phòng CCVC"]
    assert result.protected == ["Ban Tôn giáo", "Phòng CCVC"]
    assert result.unchanged == ["Phòng CCHC"]
    assert [r.op for r in fake.requests] == ["get", "batchUpdate", "values.batchUpdate", "batchUpdate"]
    assert fake.values(SID, "Ban Tôn giáo") == []  # a hand-made tab is never overwritten


def test_ensure_tabs_updates_editors_when_contacts_change(fake: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(fake, sleeps)
    gw.ensure_tabs([TabSpec("Phòng CCHC", TEMPLATE, ("cu@snv.gov.vn",))])
    fake.clear_log()
    result = gw.ensure_tabs([TabSpec("Phòng CCHC", TEMPLATE, ("moi@snv.gov.vn",))])
    assert result.protected == ["Phòng CCHC"] and result.created == []
    assert [r.op for r in fake.requests] == ["get", "batchUpdate"]
    (protection,) = fake.sheet(SID, "Phòng CCHC")["protectedRanges"]
    assert protection["editors"]["users"] == ["moi@snv.gov.vn", OFFICE]


def test_ensure_tabs_grows_grid_for_wide_templates(fake: FakeSheets, sleeps: Sleeps) -> None:
    wide = [[f"c{i}" for i in range(30)]]
    gw = make_gateway(fake, sleeps)
    gw.ensure_tabs([TabSpec("Rộng", wide, ())])
    assert fake.values(SID, "Rộng") == wide
    assert fake.ops("values.batchUpdate")[0].ranges == ["'Rộng'!A1:AD1"]
    (protection,) = fake.sheet(SID, "Rộng")["protectedRanges"]
    assert protection["editors"]["users"] == [OFFICE]


def test_a_unit_tab_is_as_big_as_its_template_and_the_range_read_back(fake: FakeSheets, sleeps: Sleeps) -> None:
    """Not Google's default 1000 x 26: a spreadsheet's 10 million cells then hold ~8,300 unit tabs of
    1,200 cells instead of ~384; every cell of the read range exists, so reading it back never runs off
    the grid; a template longer than the range still fits."""
    gw = make_gateway(fake, sleeps)
    long = [[f"r{i}"] for i in range(250)]
    gw.ensure_tabs([TabSpec("Phòng CCHC", TEMPLATE, ()), TabSpec("Dài", long, ())])
    grid = {t: fake.sheet(SID, t)["properties"]["gridProperties"] for t in ("Phòng CCHC", "Dài")}
    assert grid["Phòng CCHC"] == {"rowCount": 200, "columnCount": 6}  # read_range A1:F200
    assert grid["Dài"] == {"rowCount": 250, "columnCount": 6}
    assert fake.values(SID, "Dài") == long
    read = gw.read_tabs(["Phòng CCHC"])["Phòng CCHC"]
    assert read.error is None and read.grid is not None and read.grid[1] == TEMPLATE[1]


def test_a_full_spreadsheet_is_refused_before_google_with_what_to_do(fake: FakeSheets, sleeps: Sleeps) -> None:
    """Google caps a spreadsheet at 10 million cells; the Office is told which spreadsheet, by how much, and
    how to go on (another spreadsheet for some units), and nothing is half-added."""
    fake.add_tabs(SID, [f"Cũ {i}" for i in range(383)], [])  # 384 tabs of Google's 1000 x 26: 9,984,000 cells
    gw = make_gateway(fake, sleeps)
    fourteen = specs([f"Đơn vị {i}" for i in range(14)])  # 200 x 6 each: 16,800 cells
    with pytest.raises(SheetsError) as info:
        gw.ensure_tabs(fourteen)
    assert str(info.value) == (
        "Không thể tạo thêm 14 trang tính: bảng tính đã dùng 9.984.000 ô, thêm 16.800 ô sẽ vượt giới hạn "
        "10.000.000 ô của Google. Hãy tạo thêm bảng tính, chia sẻ quyền chỉnh sửa cho tài khoản của hệ thống, rồi "
        "ghi mã bảng tính mới vào mục spreadsheet của một số đơn vị trong units.yaml.")
    assert [r.op for r in fake.requests] == ["get"]
    assert len(fake.titles(SID)) == 384

    assert gw.ensure_tabs(fourteen[:13]).created == [t.title for t in fourteen[:13]]  # 9,999,600: fits
    with pytest.raises(SheetsError):
        gw.ensure_tabs(fourteen)


def test_ensure_tabs_survives_a_lost_add_sheet_response(fake: FakeSheets, sleeps: Sleeps) -> None:
    # Google commits the addSheet, then answers 503; our retry meets "already exists" and must carry on.
    fake.fail(503, op="batchUpdate", after_apply=True)
    gw = make_gateway(fake, sleeps)
    result = gw.ensure_tabs(specs(["Phòng CCHC", "O'Brien"]))
    assert result.created == ["Phòng CCHC", "O'Brien"]
    assert result.protected == ["Phòng CCHC", "O'Brien"]
    assert fake.titles(SID) == ["Trang tính1", "Phòng CCHC", "O'Brien"]
    assert [(r.op, r.status) for r in fake.requests] == [
        ("get", 200),
        ("batchUpdate", 503),
        ("batchUpdate", 400),
        ("get", 200),
        ("values.batchUpdate", 200),
        ("batchUpdate", 200),
    ]
    assert fake.values(SID, "O'Brien")[1] == ["STT", "Nội dung", "Số lượng", "Ghi chú"]
    assert len(fake.sheet(SID, "O'Brien")["protectedRanges"]) == 1
    assert len(sleeps) == 1


def test_ensure_tabs_other_refusals_are_clear_errors(fake: FakeSheets, sleeps: Sleeps) -> None:
    fake.fail(403, op="batchUpdate", message="The caller does not have permission")
    gw = make_gateway(fake, sleeps)
    with pytest.raises(SheetsError) as info:
        gw.ensure_tabs(specs(["Phòng CCHC"]))
    assert info.value.status == 403
    assert str(info.value).startswith("Không thể tạo trang tính mới: tài khoản dịch vụ chưa được cấp quyền")
    assert sleeps == []


def test_ensure_tabs_rejects_duplicate_specs(fake: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(fake, sleeps)
    with pytest.raises(ValueError):
        gw.ensure_tabs(specs(["Phòng CCHC", unicodedata.normalize("NFD", "Phòng CCHC")]))
    assert fake.requests == []


# ---------------------------------------------------------------- read_tabs


@pytest.fixture
def nine_units(fake: FakeSheets) -> FakeSheets:
    for i, title in enumerate(UNITS):
        fake.add_tab(
            SID, title, [["STT", "Nội dung", "Số lượng"], [1, "Tin bài", 10 + i], [2, "Hội nghị", 2.5]]
        )
    return fake


def test_read_nine_tabs_in_one_batch_get(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(nine_units, sleeps)
    reads = gw.read_tabs(UNITS)

    batch_gets = nine_units.ops("values.batchGet")
    assert len(batch_gets) == 1
    assert gw.request_count == 1
    assert batch_gets[0].ranges == [a1_range(t, "A1:F200") for t in UNITS]
    assert batch_gets[0].query["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert batch_gets[0].query["majorDimension"] == ["ROWS"]
    assert (batch_gets[0].wire_method, batch_gets[0].override) == ("GET", None)  # a short URL stays a GET

    assert list(reads) == UNITS
    for i, title in enumerate(UNITS):
        assert reads[title].error is None
        assert reads[title].grid == [
            ["STT", "Nội dung", "Số lượng"],
            [1, "Tin bài", 10 + i],
            [2, "Hội nghị", 2.5],
        ]
    assert isinstance(reads["Phòng CCHC"].grid[1][2], int)
    assert isinstance(reads["Phòng CCHC"].grid[2][2], float)
    assert sleeps == []


def test_read_empty_tab_gives_empty_grid(fake: FakeSheets, sleeps: Sleeps) -> None:
    fake.add_tab(SID, "Phòng CCHC")
    reads = make_gateway(fake, sleeps).read_tabs(["Phòng CCHC"])
    assert reads["Phòng CCHC"].grid == [] and reads["Phòng CCHC"].error is None


def test_batch_size_splits_into_consecutive_batches(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(nine_units, sleeps, batch_size=4)
    reads = gw.read_tabs(UNITS)
    batch_gets = nine_units.ops("values.batchGet")
    assert [r.ranges for r in batch_gets] == [
        [a1_range(t) for t in UNITS[0:4]],
        [a1_range(t) for t in UNITS[4:8]],
        [a1_range(t) for t in UNITS[8:9]],
    ]
    assert gw.request_count == gw.read_count == 3
    assert all(r.error is None for r in reads.values())
    assert [reads[t].grid[1][2] for t in UNITS] == [10 + i for i in range(9)]


@pytest.mark.parametrize(("size", "n", "sizes"), [(100, 0, []), (100, 100, [100]), (100, 101, [100, 1]),
                                                    (100, 10_000, [100] * 100), (3, 7, [3, 3, 1])])
def test_plan_batches_is_ceil_n_over_batch_size(size: int, n: int, sizes: list[int]) -> None:
    gw = SheetsGateway(SheetsSettings(spreadsheet_id=SID, batch_size=size), service=object())
    titles = [f"Đơn vị {i}" for i in range(n)]
    batches = gw.plan_batches(titles)
    assert [len(b) for b in batches] == sizes
    assert [t for b in batches for t in b] == titles


def test_batch_size_must_be_positive(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        make_gateway(nine_units, sleeps, batch_size=0).read_tabs(UNITS)


def test_batch_size_one_means_one_request_per_tab(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(nine_units, sleeps, batch_size=1)
    reads = gw.read_tabs(UNITS)
    assert [r.ranges for r in nine_units.ops("values.batchGet")] == [[a1_range(t)] for t in UNITS]
    assert all(r.error is None for r in reads.values())


def test_a_hundred_long_titles_go_in_one_post_with_method_override(fake: FakeSheets, sleeps: Sleeps) -> None:
    titles = [f"Đơn vị số {i:03d} - Phòng ban chuyên môn thuộc Ủy ban nhân dân (2021-03)" for i in range(101)]
    for i, title in enumerate(titles):
        fake.add_tab(SID, title, [["Số lượng", i]])
    gw = make_gateway(fake, sleeps)
    request = gw._batch_get(SID, [a1_range(t) for t in titles[:100]])
    assert len(request.uri) > 10_000  # far past any URL limit
    reads = gw.read_tabs(titles)

    first, second = fake.ops("values.batchGet")
    assert [len(first.ranges), len(second.ranges)] == [100, 1]
    # the client turned the long GET into a POST: override header, form body, bare URL; the short one is a GET
    assert (first.wire_method, first.override, first.method) == ("POST", "GET", "GET")
    assert first.content_type == "application/x-www-form-urlencoded"
    assert first.ranges == [a1_range(t) for t in titles[:100]]
    assert first.query["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert (second.wire_method, second.override) == ("GET", None)
    assert [reads[t].grid for t in titles] == [[["Số lượng", i]] for i in range(101)]
    assert gw.request_count == 2


def test_a_long_batch_is_retried_as_the_same_post(fake: FakeSheets, sleeps: Sleeps) -> None:
    """The client rewrites the request object into its POST form once; a retry must send that form again."""
    titles = [f"Đơn vị số {i:03d} - Phòng ban chuyên môn (2021-03)" for i in range(100)]
    for i, title in enumerate(titles):
        fake.add_tab(SID, title, [["Số lượng", i]])
    fake.fail(503, op="values.batchGet", retry_after=4)
    reads = make_gateway(fake, sleeps).read_tabs(titles)
    attempts = fake.ops("values.batchGet")
    assert [(r.status, r.wire_method, r.override, len(r.ranges)) for r in attempts] == [
        (503, "POST", "GET", 100),
        (200, "POST", "GET", 100),
    ]
    assert sleeps == [4]
    assert [reads[t].grid for t in titles] == [[["Số lượng", i]] for i in range(100)]


def test_the_fake_honours_the_override_only_on_a_post(fake: FakeSheets) -> None:
    import httplib2

    url = f"{fake.endpoint}v4/spreadsheets/{SID}/values:batchGet"
    resp, _ = httplib2.Http().request(url, "PUT", body="ranges=A1", headers={
        "X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 404
    assert fake.requests[-1].method == "PUT" and fake.requests[-1].override == "GET"


# ---------------------------------------------------------------- pacing


def _most_in_any_window(times: list[float], window: float = 60.0) -> int:
    """The largest number of requests that started within any `window` seconds [t, t + window)."""
    times = sorted(times)
    j = 0
    best = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_reads_are_paced_to_reads_per_minute(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(nine_units, sleeps, batch_size=1, reads_per_minute=4)
    reads = gw.read_tabs(UNITS)
    assert [r.at for r in nine_units.ops("values.batchGet")] == [0, 0, 0, 0, 60, 60, 60, 60, 120]
    assert sleeps == [60, 60]
    assert gw.pacer.waited == 120
    assert all(r.error is None for r in reads.values())


def test_a_429_retry_counts_in_the_window(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.fail(429, op="values.batchGet", retry_after=5)
    gw = make_gateway(nine_units, sleeps, batch_size=3, reads_per_minute=2)
    gw.read_tabs(UNITS)
    attempts = nine_units.ops("values.batchGet")
    assert [(r.at, r.status) for r in attempts] == [(0, 429), (5, 200), (60, 200), (65, 200)]
    assert sleeps == [5, 55, 5]  # Retry-After, then the window: one minute after each earlier read


def test_writes_are_not_paced_by_the_read_window(fake: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(fake, sleeps, reads_per_minute=1)
    gw.ensure_tabs(specs(["Phòng CCHC", "Phòng XDCQ"]))  # one read (get), three writes
    gw.read_tabs(["Phòng CCHC", "Phòng XDCQ"])  # the second read of the minute waits
    assert [(r.op, r.at) for r in fake.requests] == [
        ("get", 0), ("batchUpdate", 0), ("values.batchUpdate", 0), ("batchUpdate", 0), ("values.batchGet", 60),
    ]
    assert (gw.read_count, gw.request_count) == (2, 5)


def test_pacer_keeps_the_window_when_sleep_does_not_advance_the_clock() -> None:
    paused: list[float] = []
    pacer = ReadPacer(2, paused.append, clock=lambda: 1000.0)
    assert [pacer.acquire() for _ in range(5)] == [1000.0, 1000.0, 1060.0, 1060.0, 1120.0]
    assert paused == [60.0, 60.0, 120.0]  # measured from the clock, which did not move
    with pytest.raises(ValueError, match="reads_per_minute must be >= 1"):
        ReadPacer(0, paused.append, clock=lambda: 0.0)


# ---------------------------------------------------------------- retries


def test_429_with_retry_after_is_honoured(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.fail(429, op="values.batchGet", retry_after=7)
    gw = make_gateway(nine_units, sleeps)
    reads = gw.read_tabs(UNITS)
    assert sleeps == [7]
    assert [r.status for r in nine_units.ops("values.batchGet")] == [429, 200]
    assert gw.request_count == 2
    assert reads["Phòng CCHC"].grid[1][2] == 13


def test_retry_after_http_date_and_cap(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.fail(503, op="values.batchGet", retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # in the past
    nine_units.fail(429, op="values.batchGet", retry_after=3600)
    gw = make_gateway(nine_units, sleeps, backoff_max=30.0)
    gw.read_tabs(UNITS)
    assert sleeps == [0.0, 30.0]


def test_500_twice_then_success_backs_off_exponentially(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.fail(500, op="values.batchGet", times=2)
    gw = make_gateway(nine_units, sleeps, backoff_base=1.0)
    reads = gw.read_tabs(UNITS)
    assert len(sleeps) == 2
    assert 1.0 <= sleeps[0] <= 2.0  # base * 2**0 + jitter in [0, base]
    assert 2.0 <= sleeps[1] <= 3.0  # base * 2**1 + jitter
    assert all(r.error is None for r in reads.values())
    assert gw.request_count == 3


def test_persistent_500_raises_sheets_unavailable(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.fail(500, op="values.batchGet", times=None)
    gw = make_gateway(nine_units, sleeps, max_retries=4, backoff_base=2.0, backoff_max=10.0)
    with pytest.raises(SheetsUnavailable) as info:
        gw.read_tabs(UNITS)
    assert len(nine_units.ops("values.batchGet")) == 5  # first try + 4 retries
    assert gw.request_count == 5
    assert len(sleeps) == 4
    assert 2.0 <= sleeps[0] <= 4.0 and 4.0 <= sleeps[1] <= 6.0 and 8.0 <= sleeps[2] <= 10.0
    assert sleeps[3] == 10.0  # capped at backoff_max
    assert "thử" in str(info.value) and "HTTP 500" in str(info.value)
    assert info.value.status == 500


def test_retries_apply_to_ensure_tabs_too(fake: FakeSheets, sleeps: Sleeps) -> None:
    fake.fail(503, op="batchUpdate", retry_after=2)
    gw = make_gateway(fake, sleeps)
    result = gw.ensure_tabs(specs(["Phòng CCHC"]))
    assert result.created == ["Phòng CCHC"]
    assert sleeps == [2]
    assert fake.titles(SID).count("Phòng CCHC") == 1


def test_connection_refused_is_retried_then_unavailable(sleeps: Sleeps) -> None:
    with FakeSheets() as dead:
        endpoint = dead.endpoint
    settings = SheetsSettings(spreadsheet_id=SID, endpoint=endpoint, max_retries=2)
    gw = SheetsGateway(settings, build_service(settings, AnonymousCredentials()), sleep=sleeps)
    with pytest.raises(SheetsUnavailable):
        gw.read_tabs(["Phòng CCHC"])
    assert gw.request_count == 3 and len(sleeps) == 2


# ---------------------------------------------------------------- per-tab faults


def test_403_on_one_tab_isolated_by_bisection(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.fail(403, op="values.batchGet", tab="Phòng CCHC", times=None)
    gw = make_gateway(nine_units, sleeps)
    reads = gw.read_tabs(UNITS)

    bad = reads["Phòng CCHC"]
    assert bad.grid is None
    assert bad.error is not None and bad.error.startswith("Không có quyền đọc trang tính “Phòng CCHC”")
    assert unicodedata.is_normalized("NFC", bad.error)
    others = [t for t in UNITS if t != "Phòng CCHC"]
    assert all(reads[t].error is None for t in others)
    assert [reads[t].grid[1][2] for t in others] == [10 + UNITS.index(t) for t in others]
    # 9 -> [4 | 5] -> the half with the bad tab is bisected again ... never one request per tab
    n = len(nine_units.ops("values.batchGet"))
    assert n <= 1 + 2 * 4  # log2(9) levels, two requests each
    # before bisecting, one look at the spreadsheet itself: it answers, so the refusal is a tab's
    assert [r.op for r in nine_units.requests][:2] == ["values.batchGet", "get"]
    (check,) = nine_units.ops("get")
    assert check.status == 200 and check.query["fields"] == ["spreadsheetId"]
    assert gw.request_count == gw.read_count == n + 1  # the check is paced as a read
    assert sleeps == []


def test_the_spreadsheet_is_checked_once_per_read(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    """Refused tabs in two batches: the spreadsheet answered the first check; the second batch is bisected
    without asking again."""
    nine_units.fail(403, op="values.batchGet", tab="TTr - Thanh tra Sở", times=None)
    nine_units.fail(403, op="values.batchGet", tab="Ban TĐKT", times=None)
    gw = make_gateway(nine_units, sleeps, batch_size=3)
    reads = gw.read_tabs(UNITS)
    assert [t for t, r in reads.items() if r.error is not None] == ["TTr - Thanh tra Sở", "Ban TĐKT"]
    assert not any(r.unreachable for r in reads.values())
    assert len(nine_units.ops("get")) == 1
    # batches [3 refused -> 1 ok, 2 refused -> 1, 1] [3 ok] [3 refused -> 1 refused, 2 ok]
    assert [len(r.ranges) for r in nine_units.ops("values.batchGet")] == [3, 1, 2, 1, 1, 3, 3, 1, 2]


def test_missing_tab_gets_its_own_error(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.delete_sheet(SID, "Ban Tôn giáo")
    gw = make_gateway(nine_units, sleeps)
    reads = gw.read_tabs(UNITS)
    assert reads["Ban Tôn giáo"].grid is None
    assert reads["Ban Tôn giáo"].error == (
        "Không tìm thấy trang tính “Ban Tôn giáo” trong bảng tính báo cáo "
        "(trang tính có thể đã bị xóa hoặc đổi tên)."
    )
    assert sum(r.error is not None for r in reads.values()) == 1
    assert nine_units.ops("values.batchGet")[0].status == 400


def test_two_bad_tabs_and_a_retry_in_the_middle(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    nine_units.delete_sheet(SID, "VP - Văn phòng Sở")
    nine_units.fail(403, op="values.batchGet", tab="O'Brien - Chi cục VTLT", times=None)
    nine_units.fail(429, op="values.batchGet", retry_after=1, matcher=lambda r: len(r.ranges) == 2)
    reads = make_gateway(nine_units, sleeps).read_tabs(UNITS)
    assert reads["VP - Văn phòng Sở"].error.startswith("Không tìm thấy")
    assert reads["O'Brien - Chi cục VTLT"].error.startswith("Không có quyền đọc")
    assert sum(r.error is None for r in reads.values()) == 7
    assert sleeps == [1]


REFUSED_SPREADSHEET = {
    404: "Không thể đọc trang tính của các đơn vị: không tìm thấy bảng tính (kiểm tra mã bảng tính trong cấu hình) "
         "(HTTP 404: Requested entity was not found.). Hãy ghi đúng mã bảng tính vào units.yaml (mục spreadsheet "
         "của đơn vị) hoặc settings.yaml (channels.sheets.spreadsheet_id), hoặc khôi phục bảng tính nếu đã bị xóa.",
    403: "Không thể đọc trang tính của các đơn vị: tài khoản dịch vụ chưa được cấp quyền chỉnh sửa bảng tính "
         "(HTTP 403: The caller does not have permission). Hãy chia sẻ bảng tính cho tài khoản dịch vụ của hệ "
         "thống với quyền chỉnh sửa.",
}


@pytest.mark.parametrize("status", [404, 403])
def test_a_refused_spreadsheet_costs_one_batch_and_one_check(fake: FakeSheets, sleeps: Sleeps, status: int) -> None:
    """A spreadsheet that does not exist (404) or was never shared (403) is not bisected (2n - 1 reads for n
    tabs): one refused batch, one look at the spreadsheet, and every tab gets the operator's message."""
    titles = [f"Đơn vị {i:03}" for i in range(250)]  # three batches of 100
    if status == 403:
        fake.unshared.add(SID)
    gw = make_gateway(fake, sleeps)
    reads = gw.read_tabs(titles, SID if status == 403 else "khong-ton-tai")
    assert [(r.op, r.status) for r in fake.requests] == [("values.batchGet", status), ("get", status)]
    assert gw.request_count == gw.read_count == 2
    assert list(reads) == titles
    assert {(r.grid, r.error, r.unreachable) for r in reads.values()} == {(None, REFUSED_SPREADSHEET[status], True)}
    assert unicodedata.is_normalized("NFC", REFUSED_SPREADSHEET[status])


def test_whole_spreadsheet_missing_is_not_a_crash(fake: FakeSheets, sleeps: Sleeps) -> None:
    settings = SheetsSettings(spreadsheet_id="khong-ton-tai", endpoint=fake.endpoint)
    gw = SheetsGateway(settings, build_service(settings, AnonymousCredentials()), sleep=sleeps)
    reads = gw.read_tabs(["A", "B"])
    assert all(r.unreachable and r.error == REFUSED_SPREADSHEET[404] for r in reads.values())
    with pytest.raises(SheetsError) as info:
        gw.ensure_tabs(specs(["A"]))
    assert info.value.status == 404 and "không tìm thấy bảng tính" in str(info.value)


def test_unit_edits_are_seen_on_next_read(nine_units: FakeSheets, sleeps: Sleeps) -> None:
    gw = make_gateway(nine_units, sleeps)
    nine_units.set_values(SID, "Phòng CCVC", [["STT", "Nội dung", "Số lượng"], [1, "Tin bài", 42, "", "x"]])
    assert gw.read_tabs(["Phòng CCVC"])["Phòng CCVC"].grid[1] == [1, "Tin bài", 42, "", "x"]


# ---------------------------------------------------------------- credentials


def test_service_account_from_env_refreshes_against_local_token_uri(
    fake: FakeSheets, sleeps: Sleeps, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file = tmp_path / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "baocao-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "baocao@baocao-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{fake.endpoint}token",
            }
        )
    )
    monkeypatch.setenv("BAOCAO_SHEETS_CREDENTIALS", str(key_file))
    settings = SheetsSettings(spreadsheet_id=SID, endpoint=fake.endpoint)
    gw = SheetsGateway(settings, sleep=sleeps)  # builds the service itself from the env var
    gw.ensure_tabs(specs(["Phòng CCHC"]))
    assert [r.op for r in fake.requests][:2] == ["token", "get"]
    assert gw.request_count == 4  # the token request is not a Sheets request


def test_missing_credentials_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAOCAO_SHEETS_CREDENTIALS", raising=False)
    with pytest.raises(SheetsError) as info:
        build_service(SheetsSettings(spreadsheet_id=SID))
    assert "BAOCAO_SHEETS_CREDENTIALS" in str(info.value)
    assert str(info.value).startswith("Chưa cấu hình khóa tài khoản dịch vụ Google")
