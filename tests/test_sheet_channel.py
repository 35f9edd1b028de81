"""The Google Sheets channel end to end: request -> tabs, unit typing -> collect, through the real client.

Nothing here injects a gateway: the production path builds the googleapiclient service itself from a
service-account key file named by BAOCAO_SHEETS_CREDENTIALS (its token URI and the API endpoint point at
the loopback FakeSheets), exactly as a deployment behind a proxy would be configured.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import logging.handlers
import os
import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

import tasks.transports.sheets as sheets_mod
from tasks.channel_health import channel_problems, record_channel_health
from tasks.channels.sheets import (
    SheetsChannel,
    cursor_name,
    ensure_unit_tabs,
    read_range,
    sheets_settings,
    tab_title,
)
from tasks.collect import collect_from, process_documents
from tasks.context import Context, open_context
from tasks.intake import grid_hash
from tasks.ledger import as_utc
from tasks.periods import TZ, Period
from tasks.replies import rejection_mails
from tasks.samples import BASE
from tasks.status import status_rows
from tasks.transports.sheets import a1_range
from tasks.types import Document, Outcome, OutcomeStatus
from tasks.workbook import COL_CODE, COL_VALUE, template_grid, template_height
from tests.fake_sheets import FakeSheets, Sleeps

SID = "1bAoCaO-kenh-sheets"
OFFICE = "vanphong@snv.tuyenquang.gov.vn"
ROBOT = "baocao@baocao-test.iam.gserviceaccount.com"
SHEET_UNITS = ("CCHC", "XDCQ", "TĐKT", "BTG")
BTG_NAME = "Ban Tôn giáo (Đền 'Mẫu')"  # an apostrophe in the tab title
PERIOD = "2021-03"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def fake() -> Iterator[FakeSheets]:
    with FakeSheets() as server:
        server.add_spreadsheet(SID)
        yield server


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Backoff pauses are recorded, not waited (the production gateway's default pause is replaced)."""
    rec = Sleeps()
    monkeypatch.setattr(sheets_mod, "_wait", rec)
    return rec


@pytest.fixture
def settle_minutes() -> int:
    """0: a changed tab is collected at once; the settle tests parametrize this to the shipped 30."""
    return 0


@pytest.fixture
def sheet_config(config_dir: Path, tmp_path: Path, fake: FakeSheets, private_key_pem: str,
                 monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps, settle_minutes: int) -> Path:
    """The shipped config with four units on Google Sheets, pointed at the fake with a real key file."""
    units_path = config_dir / "units.yaml"
    data = yaml.safe_load(units_path.read_text(encoding="utf-8"))
    for u in data["units"]:
        if u["code"] in SHEET_UNITS:
            u["channel"] = "sheet"
        if u["code"] == "BTG":
            u["name"] = BTG_NAME
        if u["code"] == "CCHC":
            u["emails"] = ["cchc@snv.tuyenquang.gov.vn", "pho.cchc@snv.tuyenquang.gov.vn"]
    units_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    settings_path = config_dir / "settings.yaml"
    settings = settings_path.read_text(encoding="utf-8")
    old = '  sheets:\n    enabled: false\n    spreadsheet_id: ""\n    endpoint: null\n'
    assert old in settings
    settings = settings.replace(
        old, f'  sheets:\n    enabled: true\n    spreadsheet_id: "{SID}"\n    endpoint: "{fake.endpoint}"\n')
    settings, n = re.subn(r"(?m)^(    settle_minutes: )\d+", rf"\g<1>{settle_minutes}", settings)
    assert n == 1
    settings_path.write_text(settings, encoding="utf-8")

    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": "baocao-test", "private_key_id": "k1",
        "private_key": private_key_pem, "client_email": ROBOT, "client_id": "1",
        "token_uri": f"{fake.endpoint}token",
    }))
    monkeypatch.setenv("BAOCAO_SHEETS_CREDENTIALS", str(key_file))
    return config_dir


@pytest.fixture
def sctx(sheet_config: Path, tmp_path: Path) -> Context:
    return open_context(sheet_config, tmp_path / "data")


# ---------------------------------------------------------------- helpers


def _title(ctx: Context, code: str) -> str:
    return tab_title(ctx.cfg.unit(code), ctx.period(PERIOD))  # type: ignore[arg-type]


def _sheets_ops(fake: FakeSheets) -> list[str]:
    """Sheets API calls (what costs quota); the OAuth token exchange is not one."""
    return [r.op for r in fake.requests if r.op != "token"]


def _as_stored(grid: list[list[Any]]) -> list[list[Any]]:
    """A template grid as it sits in the sheet after a RAW write: empty cells blank, trailing ones gone."""
    out = []
    for row in grid:
        cells = ["" if c is None else c for c in row]
        while cells and cells[-1] == "":
            cells.pop()
        out.append(cells)
    return out


def _type(fake: FakeSheets, title: str, values: dict[str, Any], sid: str = SID) -> None:
    """A unit typing into the 'Số liệu' column of its tab (None clears the cell)."""
    grid = fake.values(sid, title)
    for row in grid:
        if len(row) > COL_CODE and row[COL_CODE] in values:
            while len(row) <= COL_VALUE:
                row.append("")
            row[COL_VALUE] = "" if values[row[COL_CODE]] is None else values[row[COL_CODE]]
    fake.set_values(sid, title, grid)


def _move_to_spreadsheet(config_dir: Path, codes: tuple[str, ...], spreadsheet: str) -> None:
    """units.yaml gives these units their own spreadsheet."""
    units_path = config_dir / "units.yaml"
    data = yaml.safe_load(units_path.read_text(encoding="utf-8"))
    for u in data["units"]:
        if u["code"] in codes:
            u["spreadsheet"] = spreadsheet
    units_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _valid(code: str, **changes: Any) -> dict[str, Any]:
    values = {**BASE[code], **changes}
    values["H02"] = float(values["H02"])  # Sheets may hand back a whole number as 85.0
    return values


def _fill_three(ctx: Context, fake: FakeSheets) -> None:
    """CCHC and TĐKT fill in correctly, BTG makes mistakes, XDCQ does not touch its tab."""
    _type(fake, _title(ctx, "CCHC"), _valid("CCHC"))
    _type(fake, _title(ctx, "TĐKT"), _valid("TĐKT"))
    _type(fake, _title(ctx, "BTG"), {**BASE["BTG"], "W01": -1, "H02": "nhiều", "N01": None})


def collect_sheet_outcomes(ctx: Context, period: Period, now: datetime | None = None) -> list[Outcome]:
    return collect_from(ctx, period, SheetsChannel(ctx, now=now))


def collect_sheet_documents(ctx: Context, period: Period, now: datetime | None = None) -> list[Document]:
    with SheetsChannel(ctx, now=now).receive(period) as arrivals:
        return arrivals.documents


def _by_unit(outcomes: list[Outcome]) -> dict[str | None, Outcome]:
    return {o.unit_code: o for o in outcomes}


def _row_of(grid: list[list[Any]], code: str) -> int:
    return next(i for i, row in enumerate(grid) if len(row) > COL_CODE and row[COL_CODE] == code)


# ---------------------------------------------------------------- request: tabs and mails


def test_request_reports_flow_makes_protected_prefilled_tabs_once(
    sheet_config: Path, tmp_path: Path, fake: FakeSheets, prefect_engine: None
) -> None:
    from flows.cycle import request_reports

    data_dir = tmp_path / "data"
    request_reports(PERIOD, str(sheet_config), str(data_dir))
    ctx = open_context(sheet_config, data_dir)
    period = ctx.period(PERIOD)
    deadline = ctx.unit_deadline(period)

    titles = [_title(ctx, c) for c in ("CCHC", "XDCQ", "TĐKT", "BTG")]
    assert titles[2] == "TĐKT - Ban Thi đua - Khen thưởng (2021-03)"
    assert fake.titles(SID) == ["Trang tính1", *titles]
    assert _sheets_ops(fake) == ["get", "batchUpdate", "values.batchUpdate", "batchUpdate"]
    write = fake.ops("values.batchUpdate")[0]
    rows = len(template_grid(ctx.cfg.report, ctx.cfg.unit("BTG"), period, deadline))  # type: ignore[arg-type]
    assert write.ranges[3] == f"'BTG - Ban Tôn giáo (Đền ''Mẫu'') (2021-03)'!A1:F{rows}"
    assert write.body["valueInputOption"] == "RAW"
    for code, title in zip(("CCHC", "XDCQ", "TĐKT", "BTG"), titles, strict=True):
        unit = ctx.cfg.unit(code)
        assert unit is not None
        stored = fake.values(SID, title)
        assert stored == _as_stored(template_grid(ctx.cfg.report, unit, period, deadline))  # the .xlsx layout
        assert stored[3][:2] == ["Mã đơn vị", code] and stored[4][:2] == ["Kỳ báo cáo", PERIOD]
        sheet = fake.sheet(SID, title)
        (protection,) = sheet["protectedRanges"]
        assert protection["range"] == {"sheetId": sheet["properties"]["sheetId"]}  # the whole tab
        assert protection["warningOnly"] is False
        assert protection["editors"]["users"] == [*unit.emails, OFFICE]
    cchc = fake.sheet(SID, titles[0])["protectedRanges"][0]
    assert cchc["editors"]["users"] == ["cchc@snv.tuyenquang.gov.vn", "pho.cchc@snv.tuyenquang.gov.vn", OFFICE]

    # request mails: sheet units are told their tab (no attachment), the others get their workbook
    outbox = data_dir / "outbox" / PERIOD / "request"
    mails = {}
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        code = path.stem.rsplit("_", 1)[-1]
        mails[code] = msg
    assert set(mails) == {u.code for u in ctx.cfg.active_units}
    for code, msg in mails.items():
        files = [p.get_filename() for p in msg.iter_attachments()]
        body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        if code in SHEET_UNITS:
            assert files == [], code
            assert f"“{_title(ctx, code)}”" in body or f'"{_title(ctx, code)}"' in body, body
            assert f"https://docs.google.com/spreadsheets/d/{SID}" in body
        else:
            assert files == [f"BC-CCHC-{PERIOD}-{code}.xlsx"], code

    # a second run changes nothing in the spreadsheet: one spreadsheets.get, nothing written
    fake.clear_log()
    request_reports(PERIOD, str(sheet_config), str(data_dir))
    assert _sheets_ops(fake) == ["get"]
    assert fake.titles(SID) == ["Trang tính1", *titles]


def test_ensure_is_idempotent_when_google_lists_the_service_account_as_editor(
    sctx: Context, fake: FakeSheets
) -> None:
    period = sctx.period(PERIOD)
    ensure_unit_tabs(sctx, period)
    title = _title(sctx, "TĐKT")
    # Google shows the requesting account among a range's editors; that must not trigger an update
    fake.sheet(SID, title)["protectedRanges"][0]["editors"]["users"].append(ROBOT)
    fake.clear_log()
    result = ensure_unit_tabs(sctx, period)
    assert result["created"] == [] and result["protected"] == []
    assert _sheets_ops(fake) == ["get"]

    # a contact who left the unit does lose access on the next run
    fake.sheet(SID, title)["protectedRanges"][0]["editors"]["users"].append("nguoi.cu@snv.tuyenquang.gov.vn")
    fake.clear_log()
    assert ensure_unit_tabs(sctx, period)["protected"] == [title]
    assert _sheets_ops(fake) == ["get", "batchUpdate"]
    assert fake.sheet(SID, title)["protectedRanges"][0]["editors"]["users"] == ["tdkt@snv.tuyenquang.gov.vn", OFFICE]


def test_units_spread_over_two_spreadsheets(sheet_config: Path, tmp_path: Path, fake: FakeSheets) -> None:
    """A province puts its units in several spreadsheets (10 million cells each; one per district keeps a
    district's tabs among its own staff): `spreadsheet:` in units.yaml; the rest use the default one."""
    district = "1bAoCaO-huyen-Son_Duong"
    fake.add_spreadsheet(district)
    _move_to_spreadsheet(sheet_config, ("TĐKT", "BTG"), district)
    ctx = open_context(sheet_config, tmp_path / "data")
    period = ctx.period(PERIOD)
    titles = {c: _title(ctx, c) for c in SHEET_UNITS}

    result = ensure_unit_tabs(ctx, period)
    assert result["created"] == [titles["CCHC"], titles["XDCQ"], titles["TĐKT"], titles["BTG"]]
    assert fake.titles(SID) == ["Trang tính1", titles["CCHC"], titles["XDCQ"]]
    assert fake.titles(district) == ["Trang tính1", titles["TĐKT"], titles["BTG"]]
    (protection,) = fake.sheet(district, titles["TĐKT"])["protectedRanges"]
    assert protection["editors"]["users"] == ["tdkt@snv.tuyenquang.gov.vn", OFFICE]

    # each unit is sent the link of its own spreadsheet
    channel = SheetsChannel(ctx)
    links = {c: channel.request(ctx.cfg.unit(c), period).link for c in SHEET_UNITS}  # type: ignore[arg-type]
    assert links == {"CCHC": f"https://docs.google.com/spreadsheets/d/{SID}",
                     "XDCQ": f"https://docs.google.com/spreadsheets/d/{SID}",
                     "TĐKT": f"https://docs.google.com/spreadsheets/d/{district}",
                     "BTG": f"https://docs.google.com/spreadsheets/d/{district}"}

    # collect: one batchGet per spreadsheet, each asking for its own tabs
    _type(fake, titles["CCHC"], _valid("CCHC"))
    _type(fake, titles["TĐKT"], _valid("TĐKT"), sid=district)
    _type(fake, titles["BTG"], {**BASE["BTG"], "W01": -1}, sid=district)
    fake.clear_log()
    outcomes = collect_sheet_outcomes(ctx, period)
    gets = fake.ops("values.batchGet")
    assert [(g.path, g.ranges) for g in gets] == [
        (f"/v4/spreadsheets/{SID}/values:batchGet", [a1_range(titles[c], "A1:F200") for c in ("CCHC", "XDCQ")]),
        (f"/v4/spreadsheets/{district}/values:batchGet", [a1_range(titles[c], "A1:F200") for c in ("TĐKT", "BTG")]),
    ]
    assert {o.unit_code: o.status for o in outcomes} == {"CCHC": "accepted", "TĐKT": "accepted", "BTG": "rejected"}
    tdkt = next(s for s in ctx.ledger.submissions(ctx.cfg.report.id, PERIOD) if s.unit_code == "TĐKT")
    assert tdkt.value_map()["W01"] == BASE["TĐKT"]["W01"]
    # the settle state is kept per spreadsheet and tab
    assert ctx.ledger.get_cursor(cursor_name(district, titles["TĐKT"])) is not None
    fake.clear_log()
    assert collect_sheet_outcomes(ctx, period) == []
    assert len(fake.ops("values.batchGet")) == 2


def test_a_spreadsheet_google_refuses_holds_back_only_its_own_units(
    sheet_config: Path, tmp_path: Path, fake: FakeSheets, prefect_engine: None
) -> None:
    """A district's spreadsheet not yet created (or not shared): the other units get their tabs and requests;
    its units get no request pointing at a tab that does not exist; the run fails with what to fix; once
    fixed, the same command asks exactly the units left out."""
    from flows.cycle import request_reports
    from tasks.transports.sheets import SheetsError

    district = "1bAoCaO-huyen-chua-tao"
    _move_to_spreadsheet(sheet_config, ("TĐKT", "BTG"), district)
    data_dir = tmp_path / "data"
    outbox = data_dir / "outbox" / PERIOD / "request"

    with pytest.raises(SheetsError) as err:
        request_reports(PERIOD, str(sheet_config), str(data_dir))
    assert str(err.value) == (
        f"Chưa tạo được trang tính kỳ {PERIOD} cho 2 đơn vị dùng Google Sheets nên chưa gửi đề nghị báo cáo cho "
        f"các đơn vị này; các đơn vị khác đã được gửi. Bảng tính {district}: Không thể đọc danh sách trang tính: "
        "không tìm thấy bảng tính (kiểm tra mã bảng tính trong cấu hình) (HTTP 404: Requested entity was not "
        f"found.). Sau khi sửa, chạy lại: baocao request --period {PERIOD}")
    ctx = open_context(sheet_config, data_dir)
    everyone = {u.code for u in ctx.cfg.active_units}
    asked = {path.stem.rsplit("_", 1)[-1] for path in outbox.glob("*.eml")}
    assert asked == everyone - {"TĐKT", "BTG"}
    assert fake.titles(SID) == ["Trang tính1", _title(ctx, "CCHC"), _title(ctx, "XDCQ")]
    (event,) = [e for e in ctx.ledger.audit_events("sheets") if e.action == "ensure_failed"]
    assert event.detail["spreadsheet"] == district and event.detail["units"] == 2

    fake.add_spreadsheet(district)  # the Office creates and shares it, then runs the step again
    fake.clear_log()
    result = request_reports(PERIOD, str(sheet_config), str(data_dir))
    assert fake.titles(district) == ["Trang tính1", _title(ctx, "TĐKT"), _title(ctx, "BTG")]
    assert sorted(k.rsplit(":", 1)[-1] for k in result["written"]) == ["BTG", "TĐKT"]
    assert len(result["skipped"]) == len(everyone) - 2
    assert {path.stem.rsplit("_", 1)[-1] for path in outbox.glob("*.eml")} == everyone


def test_the_range_read_back_grows_with_a_long_outline(sctx: Context) -> None:
    """A1:F200 holds the shipped template with room to spare; a report of 250 more indicators is read (and its
    tabs sized) to its last row plus 100 rows a unit might insert, not cut at row 200."""
    report = sctx.cfg.report
    unit, period = sctx.cfg.unit("CCHC"), sctx.period(PERIOD)
    assert unit is not None
    deadline = sctx.unit_deadline(period)
    assert template_height(report) == len(template_grid(report, unit, period, deadline)) < 100
    assert read_range(report) == "A1:F200" == sheets_settings(sctx).read_range
    first = report.indicators[0]
    more = tuple(first.model_copy(update={"code": f"X{i:03d}"}) for i in range(250))
    long = report.model_copy(update={"indicators": (*report.indicators, *more)})
    rows = len(template_grid(long, unit, period, deadline))
    assert template_height(long) == rows > 250
    assert read_range(long) == f"A1:F{rows + 100}"


def test_a_sheet_unit_without_a_spreadsheet_is_a_config_error(sheet_config: Path) -> None:
    from tasks.config import ConfigError, load_config

    settings_path = sheet_config / "settings.yaml"
    settings_path.write_text(settings_path.read_text(encoding="utf-8").replace(f'spreadsheet_id: "{SID}"',
                                                                               'spreadsheet_id: ""'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(sheet_config)
    assert str(err.value) == (
        f"{sheet_config / 'settings.yaml'}: channels.sheets.spreadsheet_id: chưa có mã bảng tính, mà các đơn vị "
        "CCHC, XDCQ, TĐKT, BTG dùng kênh sheet và không khai báo spreadsheet riêng trong units.yaml")


# ---------------------------------------------------------------- collect


def test_collect_one_batch_get_validates_and_skips_unchanged(sctx: Context, fake: FakeSheets) -> None:
    period = sctx.period(PERIOD)
    ensure_unit_tabs(sctx, period)
    _fill_three(sctx, fake)
    fake.clear_log()

    outcomes = collect_sheet_outcomes(sctx, period)

    # one values:batchGet for every unit tab, ranges quoted, raw values
    assert _sheets_ops(fake) == ["values.batchGet"]
    (req,) = fake.ops("values.batchGet")
    assert req.ranges == [a1_range(_title(sctx, c), "A1:F200") for c in ("CCHC", "XDCQ", "TĐKT", "BTG")]
    assert "'BTG - Ban Tôn giáo (Đền ''Mẫu'') (2021-03)'!A1:F200" in req.ranges
    assert req.query["valueRenderOption"] == ["UNFORMATTED_VALUE"]

    by_unit = _by_unit(outcomes)
    assert {u: o.status for u, o in by_unit.items()} == {"CCHC": "accepted", "TĐKT": "accepted", "BTG": "rejected"}
    assert by_unit["CCHC"].source_ref == f"sheet:{_title(sctx, 'CCHC')}"
    grid = fake.values(SID, _title(sctx, "BTG"))
    w01, h02, n01 = (f"E{_row_of(grid, c) + 1}" for c in ("W01", "H02", "N01"))
    errors = {e["cell"]: e["message"] for e in by_unit["BTG"].errors}
    assert set(errors) >= {w01, h02, n01}
    assert f"ô {w01}" in errors[w01] and "-1" in errors[w01]
    assert f"ô {h02}" in errors[h02] and "nhiều" in errors[h02]
    assert f"ô {n01}" in errors[n01] and "chưa có số liệu" in errors[n01]

    subs = sctx.ledger.submissions(sctx.cfg.report.id, PERIOD)
    assert sorted((s.unit_code, s.status) for s in subs) == [
        ("BTG", "rejected"), ("CCHC", "accepted"), ("TĐKT", "accepted")]
    cchc = next(s for s in subs if s.unit_code == "CCHC")
    assert cchc.value_map()["H02"] == 150 and cchc.value_map()["W01"] == 9
    assert cchc.content_hash == grid_hash(fake.values(SID, _title(sctx, "CCHC")))

    # the rejection goes to BTG about its tab, with no attachment
    (reply,) = rejection_mails(sctx, outcomes)
    assert reply.to == ("btg@snv.tuyenquang.gov.vn",) and reply.attachments == ()

    # nothing changed: nothing new, still exactly one batchGet
    fake.clear_log()
    assert collect_sheet_outcomes(sctx, period) == []
    assert _sheets_ops(fake) == ["values.batchGet"]
    assert len(sctx.ledger.submissions(sctx.cfg.report.id, PERIOD)) == 3

    # CCHC corrects one figure: exactly one new submission, which supersedes the first
    _type(fake, _title(sctx, "CCHC"), {"W01": 10})
    fake.clear_log()
    again = collect_sheet_outcomes(sctx, period)
    assert [(o.unit_code, o.status) for o in again] == [("CCHC", "accepted")]
    assert _sheets_ops(fake) == ["values.batchGet"]
    cchc_subs = [s for s in sctx.ledger.submissions(sctx.cfg.report.id, PERIOD) if s.unit_code == "CCHC"]
    assert [s.status for s in cchc_subs] == ["superseded", "accepted"]
    assert cchc_subs[-1].value_map()["W01"] == 10
    rows = {r["unit"]: r for r in status_rows(sctx, period)}
    assert rows["CCHC"]["submissions"] == 2 and rows["CCHC"]["status"] in ("on_time", "late")
    assert rows["TĐKT"]["status"] in ("on_time", "late")
    assert rows["BTG"]["status"] == "rejected" and rows["BTG"]["errors"]
    assert rows["XDCQ"]["status"] == "missing" and rows["XDCQ"]["submissions"] == 0

    # and back to the first figure: the first submission is the current one again, nothing lost
    _type(fake, _title(sctx, "CCHC"), {"W01": 9})
    back = collect_sheet_outcomes(sctx, period)
    assert [(o.unit_code, o.status, o.submission_id) for o in back] == [("CCHC", "accepted", cchc_subs[0].id)]
    cchc_subs = [s for s in sctx.ledger.submissions(sctx.cfg.report.id, PERIOD) if s.unit_code == "CCHC"]
    assert [s.status for s in cchc_subs] == ["accepted", "superseded"]
    assert collect_sheet_outcomes(sctx, period) == []


def test_429_with_retry_after_is_waited_out(sctx: Context, fake: FakeSheets, sleeps: Sleeps) -> None:
    period = sctx.period(PERIOD)
    ensure_unit_tabs(sctx, period)
    _fill_three(sctx, fake)
    fake.fail(429, op="values.batchGet", retry_after=7)
    fake.clear_log()

    outcomes = collect_sheet_outcomes(sctx, period)

    assert sleeps == [7.0]  # Retry-After honoured (no jitter added to it)
    assert [(r.op, r.status) for r in fake.requests if r.op != "token"] == [
        ("values.batchGet", 429), ("values.batchGet", 200)]
    assert sorted((o.unit_code, o.status) for o in outcomes) == [
        ("BTG", "rejected"), ("CCHC", "accepted"), ("TĐKT", "accepted")]


def test_5xx_backs_off_exponentially_with_jitter(sctx: Context, fake: FakeSheets, sleeps: Sleeps) -> None:
    period = sctx.period(PERIOD)
    ensure_unit_tabs(sctx, period)
    _fill_three(sctx, fake)
    fake.fail(503, op="values.batchGet", times=2)
    outcomes = collect_sheet_outcomes(sctx, period)
    assert len(sleeps) == 2 and 1.0 <= sleeps[0] <= 2.0 and 2.0 <= sleeps[1] <= 3.0
    assert len(outcomes) == 3


def test_403_on_one_tab_is_that_units_error(sctx: Context, fake: FakeSheets, sleeps: Sleeps) -> None:
    period = sctx.period(PERIOD)
    ensure_unit_tabs(sctx, period)
    _fill_three(sctx, fake)
    btg = _title(sctx, "BTG")
    fake.fail(403, op="values.batchGet", tab=btg, times=None)
    fake.clear_log()

    outcomes = collect_sheet_outcomes(sctx, period)

    by_unit = _by_unit(outcomes)
    assert {u: o.status for u, o in by_unit.items()} == {"CCHC": "accepted", "TĐKT": "accepted", "BTG": "error"}
    assert by_unit["BTG"].reason is not None and by_unit["BTG"].reason.startswith(
        f"Không có quyền đọc trang tính “{btg}”")
    assert sleeps == []  # a refusal is not retried
    # the refused batch is bisected until the bad tab is alone: [4] -> [2 ok] [2] -> [1 ok] [1 refused]
    assert [len(r.ranges) for r in fake.ops("values.batchGet")] == [4, 2, 2, 1, 1]
    (event,) = [e for e in sctx.ledger.audit_events("sheets") if e.action == "read_error"]
    assert event.detail["unit"] == "BTG" and "Không có quyền" in event.detail["error"]
    rows = {r["unit"]: r for r in status_rows(sctx, period)}
    assert rows["BTG"]["status"] == "missing"  # nothing recorded for BTG; it is read again next time

    # a deleted tab (404-like "Unable to parse range") is likewise its unit's problem
    fake.rules.clear()
    fake.delete_sheet(SID, _title(sctx, "TĐKT"))
    later = _by_unit(collect_sheet_outcomes(sctx, period))
    assert later["TĐKT"].status == "error" and "Không tìm thấy trang tính" in (later["TĐKT"].reason or "")
    assert later["BTG"].status == "rejected"


DISTRICT = "1bAoCaO-huyen-Son_Duong"


def _two_spreadsheets(config_dir: Path, data_dir: Path, fake: FakeSheets) -> tuple[Context, Period, dict[str, str]]:
    """TĐKT and BTG moved to a district's own spreadsheet, every unit's tab made: (ctx, period, tab titles)."""
    fake.add_spreadsheet(DISTRICT)
    _move_to_spreadsheet(config_dir, ("TĐKT", "BTG"), DISTRICT)
    ctx = open_context(config_dir, data_dir)
    period = ctx.period(PERIOD)
    ensure_unit_tabs(ctx, period)
    return ctx, period, {c: _title(ctx, c) for c in SHEET_UNITS}


def test_a_spreadsheet_not_shared_is_one_warning_not_every_units_error(
    sheet_config: Path, tmp_path: Path, fake: FakeSheets, sleeps: Sleeps, prefect_engine: None
) -> None:
    """A district's spreadsheet no longer shared with the service account: bisecting it would cost 2n - 1 reads
    of the 60 a minute and tell every unit its tab is faulty. It costs one refused batch and one look at the
    spreadsheet; the other spreadsheet's units are collected; its units get nothing (no outcome, no reply,
    settle state untouched) and the operator one warning with the spreadsheet and what to do. Once it is
    shared again, the next collect reads them."""
    from flows.cycle import collect_submissions

    district, data_dir = DISTRICT, tmp_path / "data"
    ctx, period, titles = _two_spreadsheets(sheet_config, data_dir, fake)
    assert collect_sheet_outcomes(ctx, period) == []  # the empty tabs' settle state is stored
    cursors = {c: ctx.ledger.get_cursor(cursor_name(district, titles[c])) for c in ("TĐKT", "BTG")}
    assert all(cursors.values())
    _type(fake, titles["CCHC"], _valid("CCHC"))
    _type(fake, titles["XDCQ"], _valid("XDCQ"))
    _type(fake, titles["TĐKT"], _valid("TĐKT"), sid=district)
    _type(fake, titles["BTG"], {**BASE["BTG"], "W01": -1}, sid=district)
    fake.unshared.add(district)
    fake.clear_log()

    task_log = logging.getLogger("prefect.task_runs")  # whether it reaches the root depends on Prefect's config
    warnings = logging.handlers.BufferingHandler(capacity=1000)
    warnings.setLevel(logging.WARNING)
    task_log.addHandler(warnings)
    try:
        summary = collect_submissions(PERIOD, str(sheet_config), str(data_dir))
    finally:
        task_log.removeHandler(warnings)

    assert [(r.op, r.path.split("/")[3], r.status) for r in fake.requests if r.op != "token"] == [
        ("values.batchGet", SID, 200), ("values.batchGet", district, 403), ("get", district, 403)]
    message = (
        f"Chưa thu được báo cáo kỳ {PERIOD} của 2 đơn vị dùng Google Sheets ở bảng tính {district}; các đơn vị "
        "khác vẫn được thu. Không thể đọc trang tính của các đơn vị: tài khoản dịch vụ chưa được cấp quyền chỉnh "
        "sửa bảng tính (HTTP 403: The caller does not have permission). Hãy chia sẻ bảng tính cho tài khoản dịch "
        f"vụ {ROBOT} với quyền chỉnh sửa. Sau khi sửa, lần thu sau sẽ đọc lại trang tính của các đơn vị này.")
    assert [(o["unit_code"], o["status"], o["reason"]) for o in summary["outcomes"]] == [
        (None, "error", message), ("CCHC", "accepted", None), ("XDCQ", "accepted", None)]
    assert summary["outcomes"][0]["source_ref"] == f"sheet:{district}"
    assert [(r.levelname, r.getMessage()) for r in warnings.buffer] == [("WARNING", message)]  # none for a unit
    assert sorted(s.unit_code for s in _sheet_subs(ctx)) == ["CCHC", "XDCQ"]
    assert not list((data_dir / "outbox" / PERIOD / "rejection").glob("*.eml"))
    events = ctx.ledger.audit_events("sheets")
    assert not [e for e in events if e.action == "read_error"]  # no unit is blamed for its tab
    (event,) = [e for e in events if e.action == "read_failed"]
    assert event.detail["spreadsheet"] == district and event.detail["units"] == 2
    assert {c: ctx.ledger.get_cursor(cursor_name(district, titles[c])) for c in cursors} == cursors
    (problem,) = channel_problems(ctx)  # what the Office's board shows until a collect reads it again
    assert (problem.channel, problem.message, problem.since == problem.last) == (f"sheet:{district}", message, True)

    fake.unshared.discard(district)  # the Office shares it again
    fake.clear_log()
    again = collect_submissions(PERIOD, str(sheet_config), str(data_dir))["outcomes"]
    assert sorted((o["unit_code"], o["status"]) for o in again) == [("BTG", "rejected"), ("TĐKT", "accepted")]
    assert _sheets_ops(fake) == ["values.batchGet", "values.batchGet"]
    (rejection,) = (data_dir / "outbox" / PERIOD / "rejection").glob("*.eml")
    assert "_BTG_" in rejection.stem
    assert channel_problems(ctx) == []


def test_sheets_api_not_enabled_is_the_accounts_problem_not_each_spreadsheets(
    sheet_config: Path, tmp_path: Path, fake: FakeSheets, sleeps: Sleeps, prefect_engine: None
) -> None:
    """Google refuses the service account itself (the Sheets API not enabled for its project): every
    spreadsheet would answer the same 403, so one read is sent, not one refused batch and one check per
    spreadsheet, and the operator is told to enable the API rather than to share each spreadsheet again."""
    from flows.cycle import collect_submissions
    from tests.fake_sheets import SERVICE_DISABLED

    district, data_dir = DISTRICT, tmp_path / "data"
    ctx, period, titles = _two_spreadsheets(sheet_config, data_dir, fake)
    assert collect_sheet_outcomes(ctx, period) == []
    cursors = {c: ctx.ledger.get_cursor(cursor_name(SID, titles[c])) for c in ("CCHC", "XDCQ")}
    _type(fake, titles["CCHC"], _valid("CCHC"))
    _type(fake, titles["TĐKT"], _valid("TĐKT"), sid=district)
    fake.api_disabled = True
    fake.clear_log()

    summary = collect_submissions(PERIOD, str(sheet_config), str(data_dir))

    assert [(r.op, r.path.split("/")[3], r.status) for r in fake.requests if r.op != "token"] == [
        ("values.batchGet", SID, 403)]
    message = (
        f"Chưa thu được báo cáo kỳ {PERIOD} của 4 đơn vị dùng Google Sheets. Google Sheets từ chối tài khoản dịch "
        "vụ của hệ thống nên không đọc được bảng tính nào: Google Sheets API chưa được bật cho dự án Google Cloud "
        "của tài khoản dịch vụ; hãy bật Google Sheets API cho dự án đó (đường dẫn có trong lỗi), chờ vài phút "
        f"(HTTP 403: {SERVICE_DISABLED}). Sau khi sửa, lần thu sau sẽ đọc lại trang tính của các đơn vị này.")
    assert [(o["unit_code"], o["status"], o["reason"]) for o in summary["outcomes"]] == [(None, "error", message)]
    assert _sheet_subs(ctx) == []
    assert {c: ctx.ledger.get_cursor(cursor_name(SID, titles[c])) for c in cursors} == cursors
    (event,) = [e for e in ctx.ledger.audit_events("sheets") if e.action == "read_failed"]
    assert event.detail["account"] is True and event.detail["units"] == 4
    (problem,) = channel_problems(ctx)
    assert (problem.channel, problem.label, problem.message) == ("sheet", "Google Sheets (mọi bảng tính)", message)
    assert sleeps == []  # a refusal is not retried

    fake.api_disabled = False  # the Office enables the API
    fake.clear_log()
    again = collect_submissions(PERIOD, str(sheet_config), str(data_dir))["outcomes"]
    assert sorted((o["unit_code"], o["status"]) for o in again) == [("CCHC", "accepted"), ("TĐKT", "accepted")]
    assert _sheets_ops(fake) == ["values.batchGet", "values.batchGet"]
    assert channel_problems(ctx) == []


def test_an_account_refused_part_way_leaves_the_spreadsheets_read_before_as_read(
    sheet_config: Path, tmp_path: Path, fake: FakeSheets, sleeps: Sleeps, prefect_engine: None
) -> None:
    """Google starts refusing the service account after the first spreadsheet was read (its key revoked
    meanwhile): what was read is collected and that spreadsheet counts as read; each spreadsheet left is
    not reached, with the account's reason; nothing more is sent."""
    from flows.cycle import collect_submissions
    from tests.fake_sheets import SERVICE_DISABLED

    data_dir = tmp_path / "data"
    ctx, period, titles = _two_spreadsheets(sheet_config, data_dir, fake)
    assert collect_sheet_outcomes(ctx, period) == []
    record_channel_health(ctx, "sheet", [Outcome(f"sheet:{SID}", OutcomeStatus.ERROR, reason="cũ")])  # earlier
    _type(fake, titles["CCHC"], _valid("CCHC"))
    _type(fake, titles["TĐKT"], _valid("TĐKT"), sid=DISTRICT)
    fake.fail(403, op="values.batchGet", matcher=lambda r: DISTRICT in r.path, times=None,
              message=SERVICE_DISABLED, reason="SERVICE_DISABLED")
    fake.clear_log()

    summary = collect_submissions(PERIOD, str(sheet_config), str(data_dir))

    assert [(r.op, r.path.split("/")[3], r.status) for r in fake.requests if r.op != "token"] == [
        ("values.batchGet", SID, 200), ("values.batchGet", DISTRICT, 403)]
    (refused,) = [o for o in summary["outcomes"] if o["status"] == "error"]
    assert (refused["source_ref"], refused["unit_code"]) == (f"sheet:{DISTRICT}", None)
    assert refused["reason"] == (
        f"Chưa thu được báo cáo kỳ {PERIOD} của 2 đơn vị dùng Google Sheets ở bảng tính {DISTRICT}. Giữa lần thu "
        "này, Google Sheets bắt đầu từ chối tài khoản dịch vụ của hệ thống: Google Sheets API chưa được bật cho dự "
        "án Google Cloud của tài khoản dịch vụ; hãy bật Google Sheets API cho dự án đó (đường dẫn có trong lỗi), "
        f"chờ vài phút (HTTP 403: {SERVICE_DISABLED}). Các bảng tính đọc trước đó đã được thu. Sau khi sửa, lần "
        "thu sau sẽ đọc lại trang tính của các đơn vị này.")
    assert [(o["unit_code"], o["status"]) for o in summary["outcomes"] if o["unit_code"]] == [("CCHC", "accepted")]
    assert [p.channel for p in channel_problems(ctx)] == [f"sheet:{DISTRICT}"]  # SID read: its old problem gone


def test_collect_submissions_flow_reads_sheets_and_survives_a_refused_tab(
    sheet_config: Path, tmp_path: Path, fake: FakeSheets, sleeps: Sleeps, prefect_engine: None
) -> None:
    from flows.cycle import collect_submissions

    data_dir = tmp_path / "data"
    ctx = open_context(sheet_config, data_dir)
    period: Period = ctx.period(PERIOD)
    ensure_unit_tabs(ctx, period)
    _fill_three(ctx, fake)
    fake.fail(429, op="values.batchGet", retry_after=3)
    fake.fail(403, op="values.batchGet", tab=_title(ctx, "TĐKT"), times=None)
    fake.clear_log()

    outcomes = collect_submissions(PERIOD, str(sheet_config), str(data_dir))["outcomes"]

    by_unit = {o["unit_code"]: o for o in outcomes}
    assert {u: o["status"] for u, o in by_unit.items()} == {"CCHC": "accepted", "BTG": "rejected", "TĐKT": "error"}
    assert "Không có quyền đọc trang tính" in by_unit["TĐKT"]["reason"]
    assert sleeps == [3.0]
    # the rejected unit is answered through the outbox, without an attachment
    (rejection,) = (data_dir / "outbox" / PERIOD / "rejection").glob("*.eml")
    msg = email.message_from_bytes(rejection.read_bytes(), policy=email.policy.default)
    assert list(msg.iter_attachments()) == []

    fake.rules.clear()
    fake.clear_log()
    again = collect_submissions(PERIOD, str(sheet_config), str(data_dir))["outcomes"]
    assert [(o["unit_code"], o["status"]) for o in again] == [("TĐKT", "accepted")]
    assert _sheets_ops(fake) == ["values.batchGet"]


def test_key_from_a_prefect_secret_block(
    sheet_config: Path, tmp_path: Path, fake: FakeSheets, monkeypatch: pytest.MonkeyPatch, prefect_engine: None
) -> None:
    from prefect.blocks.system import Secret

    key = json.loads(Path(os.environ["BAOCAO_SHEETS_CREDENTIALS"]).read_text())
    Secret(value=json.dumps(key)).save("baocao-sheets-key-test", overwrite=True)
    monkeypatch.delenv("BAOCAO_SHEETS_CREDENTIALS")
    settings_path = sheet_config / "settings.yaml"
    text = settings_path.read_text(encoding="utf-8")
    settings_path.write_text(text.replace(
        "    credentials_env: BAOCAO_SHEETS_CREDENTIALS\n",
        "    credentials_env: BAOCAO_SHEETS_CREDENTIALS\n    credentials_block: baocao-sheets-key-test\n"),
        encoding="utf-8")
    ctx = open_context(sheet_config, tmp_path / "data")
    assert ctx.cfg.settings.channels.sheets.credentials_block == "baocao-sheets-key-test"

    result = ensure_unit_tabs(ctx, ctx.period(PERIOD))
    assert len(result["created"]) == 4
    assert [r.op for r in fake.requests][:2] == ["token", "get"]  # signed in with the block's key


# ---------------------------------------------------------------- settle: a unit still typing


def _at(day: Any, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), TZ)


def _sheet_subs(ctx: Context) -> list[Any]:
    return [s for s in ctx.ledger.submissions(ctx.cfg.report.id, PERIOD) if s.source == "sheet"]


@pytest.mark.parametrize("settle_minutes", [30])
def test_a_tab_being_typed_into_is_collected_once_it_settles(sctx: Context, fake: FakeSheets) -> None:
    period = sctx.period(PERIOD)
    assert sctx.cfg.settings.channels.sheets.settle_minutes == 30
    ensure_unit_tabs(sctx, period)
    t0 = _at(sctx.unit_deadline(period) - timedelta(days=1), 9)
    cchc = _title(sctx, "CCHC")

    # half typed at t0: nothing recorded, so no rejection for the missing values
    half = dict(list(_valid("CCHC").items())[:3])
    _type(fake, cchc, half)
    outcomes = collect_sheet_outcomes(sctx, period, now=t0)
    assert outcomes == [] and rejection_mails(sctx, outcomes) == []
    assert _sheet_subs(sctx) == []
    stored = grid_hash(fake.values(SID, cchc))
    assert sctx.ledger.get_cursor(cursor_name(SID, cchc)) == f"{stored}|{t0.isoformat()}"

    # still typing ten minutes later: the clock starts again
    t1 = t0 + timedelta(minutes=10)
    _type(fake, cchc, _valid("CCHC"))
    assert collect_sheet_outcomes(sctx, period, now=t1) == []
    assert _sheet_subs(sctx) == []
    assert collect_sheet_outcomes(sctx, period, now=t1 + timedelta(minutes=29)) == []

    # unchanged for 30 minutes: one submission, received when the final content was first seen
    outcomes = collect_sheet_outcomes(sctx, period, now=t0 + timedelta(minutes=40))
    assert [(o.unit_code, o.status, o.on_time) for o in outcomes] == [("CCHC", "accepted", True)]
    (sub,) = _sheet_subs(sctx)
    assert as_utc(sub.received_at) == t1
    assert sub.content_hash == grid_hash(fake.values(SID, cchc))
    assert collect_sheet_outcomes(sctx, period, now=t0 + timedelta(minutes=55)) == []
    assert len(_sheet_subs(sctx)) == 1


@pytest.mark.parametrize("settle_minutes", [30])
def test_every_change_restarts_the_clock(sctx: Context, fake: FakeSheets) -> None:
    """A -> B -> A -> B: the second B has not stood since the first one was seen."""
    period = sctx.period(PERIOD)
    ensure_unit_tabs(sctx, period)
    t0 = _at(sctx.unit_deadline(period) - timedelta(days=2), 9)
    cchc = _title(sctx, "CCHC")
    _type(fake, cchc, _valid("CCHC"))
    collect_sheet_outcomes(sctx, period, now=t0)
    assert len(collect_sheet_outcomes(sctx, period, now=t0 + timedelta(minutes=30))) == 1  # A recorded

    _type(fake, cchc, {"W01": 10})  # B
    assert collect_sheet_outcomes(sctx, period, now=t0 + timedelta(minutes=45)) == []
    _type(fake, cchc, {"W01": 9})  # back to A: already recorded, nothing to do
    assert collect_sheet_outcomes(sctx, period, now=t0 + timedelta(minutes=60)) == []
    _type(fake, cchc, {"W01": 10})  # B again
    t_b = t0 + timedelta(minutes=90)
    assert collect_sheet_outcomes(sctx, period, now=t_b) == []
    outcomes = collect_sheet_outcomes(sctx, period, now=t_b + timedelta(minutes=30))
    assert [(o.unit_code, o.status) for o in outcomes] == [("CCHC", "accepted")]
    assert as_utc(_sheet_subs(sctx)[-1].received_at) == t_b


@pytest.mark.parametrize("settle_minutes", [30])
def test_after_the_deadline_a_changed_tab_is_taken_at_once(sctx: Context, fake: FakeSheets) -> None:
    period = sctx.period(PERIOD)
    ensure_unit_tabs(sctx, period)
    deadline = sctx.unit_deadline(period)

    # BTG finishes five minutes before midnight on the deadline day; the next collect is the day after
    btg = _title(sctx, "BTG")
    _type(fake, btg, {**BASE["BTG"], "W01": -1})
    last_minute = _at(deadline, 23, 55)
    assert collect_sheet_outcomes(sctx, period, now=last_minute) == []
    after = _at(deadline + timedelta(days=1), 0, 10)

    # TĐKT types for the first time after the deadline: no point waiting, it is late either way
    tdkt = _title(sctx, "TĐKT")
    _type(fake, tdkt, _valid("TĐKT"))
    docs = collect_sheet_documents(sctx, period, now=after)
    assert {d.claimed_unit: d.received_at for d in docs} == {"BTG": last_minute, "TĐKT": after}

    outcomes = process_documents(sctx, period, docs)
    by_unit = _by_unit(outcomes)
    assert (by_unit["BTG"].status, by_unit["BTG"].on_time) == ("rejected", True)
    assert (by_unit["TĐKT"].status, by_unit["TĐKT"].on_time) == ("accepted", False)
    (reply,) = rejection_mails(sctx, outcomes)
    assert reply.to == ("btg@snv.tuyenquang.gov.vn",)

    # BTG corrects its figure: taken at the next collect, without the 30 minutes
    _type(fake, btg, {"W01": BASE["BTG"]["W01"]})
    later = after + timedelta(minutes=15)
    again = collect_sheet_outcomes(sctx, period, now=later)
    assert [(o.unit_code, o.status, o.on_time) for o in again] == [("BTG", "accepted", False)]
    assert as_utc(_sheet_subs(sctx)[-1].received_at) == later
