"""A unit's validity window (units.yaml `from` / `until`): each period expects the units of its own time.

A unit added in March is not missing from February's report, and a unit that ended in February still counts
in February's figures, in the previous-period block and in the year-to-date of every later report.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.collect import process_documents
from tasks.config import ConfigError, load_config
from tasks.consolidate import build_consolidation
from tasks.context import open_context
from tasks.merge import PeriodReports, UnitReport, consolidate
from tasks.periods import parse_period
from tasks.render import prose
from tasks.samples import drop_samples
from tests.helpers import folder_documents, mark_delivered

NEW = {"code": "CĐS", "name": "Phòng Chuyển đổi số", "emails": ["cds@snv.tuyenquang.gov.vn"], "channel": "folder"}


def _edit_units(config_dir: Path, windows: dict[str, dict[str, Any]], add: list[dict[str, Any]] = ()) -> None:
    """Set some units' keys (e.g. {"TĐKT": {"until": "2021-02"}}) and append new units, in the test config."""
    path = config_dir / "units.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for unit in data["units"]:
        unit.update(windows.get(unit["code"], {}))
    data["units"] += list(add)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _reports(codes: list[str], period: str, w01: int = 2, **special: int) -> list[UnitReport]:
    """Every unit's report of the period, on time, with W01 = w01 (or its own figure in `special`)."""
    at = datetime.combine(parse_period(period).end + timedelta(days=1), datetime.min.time(), UTC)
    return [UnitReport(c, at, True, {"W01": special.get(c, w01)}) for c in codes]


def _summary_units_row(c: dict[str, Any]) -> dict[str, str]:
    rows = prose.summary_rows(c)
    return next(r for r in rows if r["label"] == "Số cơ quan, đơn vị có báo cáo hợp lệ")


# ------------------------------------------------------------------ a unit added from 2021-03


def test_a_unit_added_in_march_is_not_counted_as_missing_in_february(config_dir):
    _edit_units(config_dir, {}, add=[{**NEW, "from": "2021-03"}])
    cfg = load_config(config_dir)
    old = [u.code for u in cfg.units if u.code != "CĐS"]
    feb, mar = parse_period("2021-02"), parse_period("2021-03")
    assert [u.code for u in cfg.units_expected_in(feb)] == old
    assert [u.code for u in cfg.units_expected_in(mar)] == [*old, "CĐS"]

    february = consolidate(cfg, feb, _reports(old, "2021-02"), [])
    assert february["completeness"]["expected_count"] == 9 and february["completeness"]["missing"] == []
    assert "Trên cơ sở báo cáo của 9/9 cơ quan, đơn vị" in " ".join(prose.intro_paragraphs(february))

    march = consolidate(cfg, mar, _reports([*old, "CĐS"], "2021-03"), [],
                        [PeriodReports(feb, _reports(old, "2021-02"))])
    assert (march["previous"]["accepted_count"], march["previous"]["expected_count"]) == (9, 9)
    assert (march["completeness"]["accepted_count"], march["completeness"]["expected_count"]) == (10, 10)
    intro = " ".join(prose.intro_paragraphs(march))
    assert "Tháng 2 năm 2021 có 9/9 cơ quan, đơn vị báo cáo" in prose.basis_note(march)
    assert "9/10" not in intro
    assert "Trên cơ sở báo cáo của 10/10 cơ quan, đơn vị" in intro
    row = _summary_units_row(march)  # Bảng 1
    assert (row["current"], row["previous"]) == ("10/10", "9/9")
    assert march["year_to_date"]["W01"] == 18 + 20  # February's 9 units, March's 10 (January never collected)


# ------------------------------------------------------------------ a unit ended after 2021-02


@pytest.mark.parametrize("active", [True, False])  # `until` alone, or the unit also switched off
def test_a_unit_ended_in_february_still_counts_in_the_history_of_later_reports(config_dir, active):
    _edit_units(config_dir, {"TĐKT": {"until": "2021-02", "active": active}})
    cfg = load_config(config_dir)
    everyone = [u.code for u in cfg.units]
    staying = [c for c in everyone if c != "TĐKT"]
    jan, feb, mar = parse_period("2021-01"), parse_period("2021-02"), parse_period("2021-03")
    assert [u.code for u in cfg.units_expected_in(feb)] == everyone
    assert [u.code for u in cfg.units_expected_in(mar)] == staying

    history = [PeriodReports(jan, _reports(everyone, "2021-01", TĐKT=5)),
               PeriodReports(feb, _reports(everyone, "2021-02", TĐKT=7))]
    c = consolidate(cfg, mar, _reports(staying, "2021-03"), [], history)
    comp = c["completeness"]
    assert "TĐKT" not in comp["expected"] and comp["missing"] == []
    assert (comp["accepted_count"], comp["expected_count"]) == (8, 8)
    assert c["previous"]["totals"]["W01"] == 8 * 2 + 7 and "TĐKT" in c["previous"]["units"]
    assert (c["previous"]["accepted_count"], c["previous"]["expected_count"]) == (9, 9)
    assert c["year_to_date"]["W01"] == (16 + 5) + (16 + 7) + 16  # its January and February reports count
    assert "Tháng 2 năm 2021 có 9/9 cơ quan, đơn vị báo cáo" in prose.basis_note(c)
    assert "Trên cơ sở báo cáo của 8/8 cơ quan, đơn vị" in " ".join(prose.intro_paragraphs(c))
    assert (_summary_units_row(c)["current"], _summary_units_row(c)["previous"]) == ("8/8", "9/9")


def _collect(ctx, key):
    drop_samples(ctx, key)
    docs = folder_documents(ctx, ctx.ledger.known_hashes(ctx.cfg.report.id))
    return process_documents(ctx, ctx.period(key), docs)


def test_a_reorganisation_does_not_shrink_the_year_to_date_already_reported(ctx, config_dir):
    """February's 9 reports were valid when made; TĐKT is merged away afterwards (until: 2021-02, active: false):
    March's report still reads February as 9/9 with the same totals, and the same year-to-date as before."""
    _collect(ctx, "2021-02")
    mark_delivered(ctx, "2021-02")
    _edit_units(config_dir, {"TĐKT": {"until": "2021-02", "active": False}})
    ctx = open_context(config_dir, ctx.data_dir)
    _collect(ctx, "2021-03")
    c = build_consolidation(ctx, ctx.period("2021-03"))
    assert c["previous"]["totals"]["W01"] == 33 and c["year_to_date"]["W01"] == 71  # as before the change
    assert (c["previous"]["accepted_count"], c["previous"]["expected_count"]) == (9, 9)
    assert "TĐKT" not in c["completeness"]["expected"] and c["completeness"]["missing"] == ["BTG"]
    assert "Tháng 2 năm 2021 có 9/9 cơ quan, đơn vị báo cáo" in prose.basis_note(c)
    assert "Trên cơ sở báo cáo của 7/8 cơ quan, đơn vị" in " ".join(prose.intro_paragraphs(c))


def test_a_workbook_for_a_period_outside_the_units_window_is_returned_saying_why(ctx, config_dir):
    from tasks.collect import process_document
    from tests.helpers import filled

    _edit_units(config_dir, {"VTLT": {"from": "2021-04"}})
    ctx = open_context(config_dir, ctx.data_dir)
    ctx.inbox.mkdir(parents=True, exist_ok=True)
    (ctx.inbox / "vtlt.xlsx").write_bytes(filled(ctx, "VTLT", "2021-03"))
    [doc] = folder_documents(ctx)
    outcome = process_document(ctx, ctx.period("2021-03"), doc)
    assert outcome.status == "rejected"
    assert ("Đơn vị VTLT (Chi cục Văn thư - Lưu trữ) không thuộc diện báo cáo tháng 3 năm 2021: "
            "đơn vị báo cáo từ tháng 4 năm 2021.") in [e["message"] for e in outcome.errors]


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"from": "2021-03", "until": "2021-02"},
         "units.yaml: units[6] (mã TĐKT): đơn vị TĐKT: until (2021-02) trước from (2021-03); until là kỳ "
         "(hoặc ngày) cuối cùng đơn vị báo cáo, phải từ from trở đi"),
        ({"from": "2021-03-01", "until": "2021-02-28"},
         "đơn vị TĐKT: until (2021-02-28) trước from (2021-03-01)"),
        ({"until": "2021-13"},
         "units.yaml: units[6].until (mã TĐKT): '2021-13' không phải kỳ báo cáo hay ngày: ghi kỳ (2021-03, "
         "2021-Q1, 2021-H1, 2021-9M, 2021) hoặc ngày (2021-03-01)"),
        ({"from": "2021-05-03..2021-05-20"}, "'2021-05-03..2021-05-20' không phải kỳ báo cáo hay ngày"),
        ({"untill": "2021-02"}, "units.yaml: units[6].untill (mã TĐKT): khóa không được hỗ trợ (gõ sai tên?)"),
    ],
)
def test_a_window_that_ends_before_it_starts_is_refused_in_vietnamese(config_dir, window, message):
    _edit_units(config_dir, {"TĐKT": window})
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert message in str(exc.value)


def test_a_window_is_read_from_period_keys_and_dates_as_yaml_gives_them(config_dir):
    path = config_dir / "units.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("    name: Ban Thi đua - Khen thưởng\n",
                        "    name: Ban Thi đua - Khen thưởng\n    from: 2021\n    until: 2021-06-30\n")
    text = text.replace("    name: Ban Tôn giáo\n", "    name: Ban Tôn giáo\n    from: 2021-Q2\n    until: 2021-H1\n")
    path.write_text(text, encoding="utf-8")
    cfg = load_config(config_dir)
    tdkt, btg = cfg.unit("TĐKT"), cfg.unit("BTG")
    assert (tdkt.valid_from, tdkt.valid_until, btg.valid_from, btg.valid_until) == (
        "2021", "2021-06-30", "2021-Q2", "2021-H1")
    expected = {key: [u.code for u in cfg.units_expected_in(parse_period(key)) if u.code in ("TĐKT", "BTG")]
                for key in ("2020-12", "2021-01", "2021-03", "2021-04", "2021-06", "2021-07", "2021-08")}
    # 2021 starts 15/12/2020; quý II on 15/03; 6 tháng ends 14/06; 30/06 lies in July's window (15/06–14/07)
    assert expected == {"2020-12": [], "2021-01": ["TĐKT"], "2021-03": ["TĐKT"], "2021-04": ["TĐKT", "BTG"],
                        "2021-06": ["TĐKT", "BTG"], "2021-07": ["TĐKT"], "2021-08": []}


def test_check_config_says_how_many_units_report_now_and_warns_of_an_end_without_a_date(config_dir):
    from typer.testing import CliRunner

    from flows.cli import app

    _edit_units(config_dir, {"BTG": {"active": False}, "TĐKT": {"until": "2021-02"}})
    out = CliRunner().invoke(app, ["--config", str(config_dir), "check-config"])
    assert out.exit_code == 0, out.output
    assert "BTG" in out.output and "until" in out.output  # no end date: its past reports no longer count


# ------------------------------------------------------------------ status board, requests, reminders


def test_the_board_requests_and_reminders_follow_each_units_window(config_dir, tmp_path):
    from tasks.remind import reminder_mails, send_reminders
    from tasks.status import status_rows, unit_states

    _edit_units(config_dir, {"TĐKT": {"until": "2021-02"}}, add=[{**NEW, "from": "2021-03"}])
    ctx = open_context(config_dir, tmp_path / "data")
    feb, mar = ctx.period("2021-02"), ctx.period("2021-03")
    assert "CĐS" not in [r["unit"] for r in status_rows(ctx, feb)]
    assert "TĐKT" in [r["unit"] for r in status_rows(ctx, feb)]
    assert "CĐS" in [r["unit"] for r in status_rows(ctx, mar)]
    assert "TĐKT" not in [r["unit"] for r in status_rows(ctx, mar)]
    assert status_rows(ctx, mar, only=ctx.cfg.unit("TĐKT")) == []
    assert "TĐKT" not in unit_states(ctx, mar)[0] and "CĐS" not in unit_states(ctx, feb)[0]

    reminded = {m.unit_code for m in reminder_mails(ctx, mar, date(2021, 3, 12), force=True)}
    assert "TĐKT" not in reminded and "CĐS" in reminded
    reminded = {m.unit_code for m in reminder_mails(ctx, feb, date(2021, 2, 10), force=True)}
    assert "CĐS" not in reminded and "TĐKT" in reminded
    sent = send_reminders(ctx, mar, date(2021, 3, 12), force=True)
    assert not [k for k in sent.written if ":TĐKT:" in k] and [k for k in sent.written if ":CĐS:" in k]


def test_requests_go_to_the_units_of_the_period(config_dir, tmp_path):
    from flows.chunks import send_requests_chunk

    _edit_units(config_dir, {"TĐKT": {"until": "2021-02"}}, add=[{**NEW, "from": "2021-03"}])
    data = tmp_path / "data"
    sent = send_requests_chunk.fn(str(config_dir), str(data), "2021-02", ["TĐKT", "CĐS", "VP"], False)
    assert sorted(k.split(":")[-1] for k in sent["written"]) == ["TĐKT", "VP"]
    sent = send_requests_chunk.fn(str(config_dir), str(data), "2021-03", ["TĐKT", "CĐS", "VP"], False)
    assert sorted(k.split(":")[-1] for k in sent["written"]) == ["CĐS", "VP"]
