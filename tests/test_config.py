"""A wrong configuration gives one clear message naming the file, the key and the problem."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.config import ConfigError, load_config


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_config_loads(config_dir):
    cfg = load_config(config_dir)
    assert [u.code for u in cfg.units] == ["VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "TĐKT", "BTG", "VTLT"]
    assert cfg.report.id == "cchc-tuyen-truyen"
    assert {g.code for g in cfg.report.groups} >= {"3.1", "3.2", "3.3", "3.4", "3.5", "2.4"}
    assert len([i for i in cfg.report.indicators if i.group == "2.4"]) == 7  # topics a)–g)
    assert cfg.report.recipients[-1].line == "Lưu: VT, VP."
    assert cfg.report.recipients[0].line == "Ủy ban nhân dân tỉnh (báo cáo);"


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("units.yaml", "channel: folder", "channel: fax",
         "units.yaml: units[0].channel (mã VP): giá trị 'fax' không hợp lệ; "
         "chọn một trong: 'folder', 'email', 'sheet'"),
        ("units.yaml", "  - code: TTr", "  - code: VP", "units.yaml: units: mã đơn vị VP bị trùng"),
        ("units.yaml", "emails: [thanhtra@snv.tuyenquang.gov.vn]", "emails: [thanhtra-at-snv]",
         "units.yaml: units[1].emails (mã TTr): địa chỉ email không hợp lệ: 'thanhtra-at-snv'"),
        ("settings.yaml", "period_kind: month", "period_kind: weekly",
         "settings.yaml: period_kind: giá trị 'weekly' không hợp lệ; chọn một trong: 'month', 'quarter'"),
        ("settings.yaml", "  unit_working_days: 2", "  unit_working_dayz: 2",
         "settings.yaml: deadlines.unit_working_dayz: khóa không được hỗ trợ (gõ sai tên?)"),
        ("settings.yaml", "report: cchc-tuyen-truyen", "report: khac",
         "settings.yaml: report: không có định nghĩa báo cáo 'khac'"),
        ("reports/cchc-tuyen-truyen.yaml", "require: {left: H02, op: \">\", right: 0}",
         "require: {left: H99, op: \">\", right: 0}", "quy tắc hoi-nghi-can-nguoi-tham-du: chỉ tiêu H99 không tồn tại"),
        ("reports/cchc-tuyen-truyen.yaml", "type: integer, required: true, min: 0, warn_above: 200,",
         "type: number, required: true, min: 0, warn_above: 200,",
         "indicators[0].type (mã W01): giá trị 'number' không hợp lệ; chọn một trong: 'integer', 'text'"),
        ("reports/cchc-tuyen-truyen.yaml", "{code: W01, group: \"3.1\"", "{code: W01, group: \"9.9\"",
         "chỉ tiêu W01 thuộc nhóm '9.9' chưa khai báo trong groups"),
        ("settings.yaml", "ledger_url: null", "ledger_url: postgresql://u:secret@db/x",
         "không ghi mật khẩu trong ledger_url"),
        ("units.yaml", "    channel: folder\n  - code: TTr",
         "    channel: folder\n    spreadsheet: Bảng tính VP\n  - code: TTr",
         "units.yaml: units[0].spreadsheet (mã VP): mã bảng tính 'Bảng tính VP' không hợp lệ: ghi đường dẫn của "
         "bảng tính (https://docs.google.com/spreadsheets/d/…) hoặc phần mã giữa /d/ và /edit"),
    ],
)
def test_config_errors_name_file_key_problem(config_dir, file, old, new, message):
    _edit(config_dir / file, old, new)
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert message in str(exc.value)
    assert str(config_dir / file) in str(exc.value)


def test_broken_yaml_names_the_line(config_dir):
    (config_dir / "units.yaml").write_text("units:\n  - code: VP\n    name: [Văn phòng\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert "units.yaml (dòng" in str(exc.value) and "YAML không hợp lệ" in str(exc.value)


def test_check_config_command(config_dir):
    runner = CliRunner()
    ok = runner.invoke(app, ["--config", str(config_dir), "check-config"])
    assert ok.exit_code == 0, ok.output
    assert "Cấu hình hợp lệ: 9 đơn vị (9 đang báo cáo), báo cáo cchc-tuyen-truyen với 20 chỉ tiêu" in ok.output
    _edit(config_dir / "units.yaml", "channel: folder", "channel: fax")
    bad = runner.invoke(app, ["--config", str(config_dir), "check-config"])
    assert bad.exit_code == 2
    assert "Lỗi cấu hình" in bad.output and "units[0].channel" in bad.output


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("reports/cchc-tuyen-truyen.yaml", 'groups: ["3.1", "3.2", "3.3", "3.4", "3.5"]',
         'groups: ["3.1", "3.2", "3.3", "3.4"]',
         "outline: 3.5 chưa có trong outline (mỗi nhóm, mỗi phần tự luận đúng một lần)"),
        ("reports/cchc-tuyen-truyen.yaml", "narrative: N04", "narrative: K01",
         "outline: narrative K01 không phải chỉ tiêu kiểu text"),
        ("reports/cchc-tuyen-truyen.yaml", 'groups: ["2.4"]', 'groups: ["2.9"]',
         "outline: nhóm '2.9' chưa khai báo trong groups"),
        ("reports/cchc-tuyen-truyen.yaml", "aggregation: level, phrase: \"đang niêm yết",
         "aggregation: stock, phrase: \"đang niêm yết",
         "indicators[5].aggregation (mã C01): giá trị 'stock' không hợp lệ; chọn một trong: 'count', 'level'"),
        ("reports/cchc-ket-qua.yaml", "report_deadline: {day_of_last_month: 20}",
         "report_deadline: {day_of_last_month: 15}",
         "hạn của đơn vị (unit_deadline) phải trước hạn báo cáo (report_deadline)"),
        ("reports/cchc-ket-qua.yaml", "unit_deadline: {day_of_last_month: 15}",
         "unit_deadline: {day_of_last_month: 10}", "periods.unit_deadline.day_of_last_month: giá trị 10 quá nhỏ"),
    ],
)
def test_report_outline_and_periods_errors(config_dir, file, old, new, message):
    _edit(config_dir / file, old, new)
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert message in str(exc.value)
    assert str(config_dir / file) in str(exc.value)


def test_another_report_is_selected_by_id(config_dir):
    cfg = load_config(config_dir)
    assert sorted(cfg.reports) == ["cchc-ket-qua", "cchc-tuyen-truyen"]
    other = cfg.with_report("cchc-ket-qua")
    assert (other.report.id, other.period_kind, cfg.report.id, cfg.period_kind) == (
        "cchc-ket-qua", "quarter", "cchc-tuyen-truyen", "month")
    with pytest.raises(ConfigError) as exc:
        cfg.with_report("khac")
    assert str(exc.value) == "không có định nghĩa báo cáo 'khac' (hiện có: cchc-ket-qua, cchc-tuyen-truyen)"


@pytest.mark.parametrize("zone, message", [
    ("Mars/Olympus", "múi giờ 'Mars/Olympus' không tồn tại"),
    ("Europe/Paris", "chỉ dùng Asia/Ho_Chi_Minh"),
])
def test_timezone_is_validated_and_is_the_one_periods_use(config_dir, zone, message):
    _edit(config_dir / "settings.yaml", "timezone: Asia/Ho_Chi_Minh", f"timezone: {zone}")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir)
    assert "timezone" in str(err.value) and message in str(err.value)


def test_a_province_units_file_is_parsed_once_then_read_from_its_json_copy(config_dir, tmp_path, monkeypatch):
    import yaml

    cache = tmp_path / "cache"
    monkeypatch.setenv("BAOCAO_CACHE_DIR", str(cache))
    units = [{"code": f"X{i:04d}", "name": f"Ủy ban nhân dân xã số {i}", "emails": [f"x{i}@xa.example.vn"],
              "channel": "folder"} for i in range(1500)]
    (config_dir / "units.yaml").write_text(yaml.safe_dump({"units": units}, allow_unicode=True), encoding="utf-8")
    assert (config_dir / "units.yaml").stat().st_size > 64 * 1024

    first = load_config(config_dir)
    [copy] = cache.glob("yaml-*.json")
    again = load_config(config_dir)
    assert [u.model_dump() for u in again.units] == [u.model_dump() for u in first.units]
    assert again.unit("X1499").name == "Ủy ban nhân dân xã số 1499"

    copy.write_text("{not json", encoding="utf-8")  # a damaged copy is parsed again from the YAML
    assert len(load_config(config_dir).units) == 1500

    units[0]["emails"] = ["khong-phai-email"]  # the copy is data only: a changed file is validated as ever
    (config_dir / "units.yaml").write_text(yaml.safe_dump({"units": units}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="X0000"):
        load_config(config_dir)


def test_units_are_found_by_contact_address_in_config_order(config_dir):
    import yaml

    units = [{"code": "A", "name": "Đơn vị A", "emails": ["chung@snv.example.vn", "a@snv.example.vn"]},
             {"code": "B", "name": "Đơn vị B", "emails": ["Chung@SNV.example.vn"]},
             {"code": "C", "name": "Đơn vị C", "emails": ["c@snv.example.vn", "c@snv.example.vn"]}]
    (config_dir / "units.yaml").write_text(yaml.safe_dump({"units": units}, allow_unicode=True), encoding="utf-8")
    cfg = load_config(config_dir)
    assert [u.code for u in cfg.units_of_email("CHUNG@snv.example.vn")] == ["A", "B"]
    assert [u.code for u in cfg.units_of_email("c@snv.example.vn")] == ["C"]  # listed twice, one unit
    assert cfg.units_of_email("khac@snv.example.vn") == ()


def test_a_spreadsheet_is_named_by_its_id_or_the_address_copied_from_the_browser(config_dir):
    _edit(config_dir / "units.yaml", "    channel: folder\n  - code: TTr",
          "    channel: folder\n    spreadsheet: https://docs.google.com/spreadsheets/d/1AbC-d_9/edit#gid=0\n"
          "  - code: TTr")
    _edit(config_dir / "settings.yaml", 'spreadsheet_id: ""', 'spreadsheet_id: " 1XyZ_default-2 "')
    cfg = load_config(config_dir)
    assert cfg.units[0].spreadsheet == "1AbC-d_9"
    assert cfg.units[1].spreadsheet == ""
    assert cfg.settings.channels.sheets.spreadsheet_id == "1XyZ_default-2"
