"""The operator's read-only commands: what `baocao status` shows after a collection."""

import json
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tasks.collect import process_documents
from tasks.samples import drop_samples
from tests.helpers import folder_documents, mark_delivered


def _collect_march(ctx):
    mark_delivered(ctx, "2021-02")
    drop_samples(ctx, "2021-03")
    process_documents(ctx, ctx.period("2021-03"), folder_documents(ctx))


def test_status_json(ctx, config_dir):
    _collect_march(ctx)
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(ctx.data_dir), "status",
                                      "--period", "2021-03", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["period"] == "2021-03" and data["unit_deadline"] == "2021-03-16"
    assert {u["unit"]: u["status"] for u in data["units"]} == {
        "VP": "on_time", "TTr": "on_time", "TCBC": "on_time", "CCHC": "on_time", "XDCQ": "late",
        "CCVC": "on_time", "TĐKT": "rejected", "BTG": "missing", "VTLT": "on_time"}
    tdkt = next(u for u in data["units"] if u["unit"] == "TĐKT")
    assert tdkt["errors"][0].startswith("Kỳ báo cáo “2021-02” (ô B5) không đúng")
    assert [q["source"] for q in data["quarantined"]] == ["inbox/ghi chu.txt"]


def test_status_table(ctx, config_dir):
    _collect_march(ctx)
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(ctx.data_dir), "status",
                                      "--period", "2021-03"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Tình hình báo cáo tháng 3 năm 2021 (hạn 16/03/2021)" in result.output
    assert "Đã báo cáo hợp lệ 7/9 đơn vị." in result.output
    assert "Chưa báo cáo" in result.output and "19/03 09:00" in result.output


def test_bad_period_is_a_clear_error(config_dir, tmp_path):
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(tmp_path), "status",
                                      "--period", "2021-13"])
    assert result.exit_code == 2
    assert "Kỳ báo cáo '2021-13' không hợp lệ: tháng phải từ 1 đến 12" in result.output


def test_unit_data_is_never_markup_or_control_characters(ctx, config_dir):
    """A unit typing `[/x]` or naming its file with a newline and a right-to-left mark cannot break or
    forge the operator's output (rich markup used to raise MarkupError on every `baocao status`)."""
    from tests.helpers import filled

    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True, exist_ok=True)
    hostile = "Hợp lệ [/x] [bold red]ĐÃ DUYỆT[/]"
    (ctx.inbox / "VP\nĐã duyệt\u202egpj.xlsx").write_bytes(filled(ctx, "VP", "2021-03", W01="[/x]12 tin"))
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03", N01=hostile))
    process_documents(ctx, ctx.period("2021-03"), folder_documents(ctx))
    args = ["--config", str(config_dir), "--data-dir", str(ctx.data_dir), "status", "--period", "2021-03"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "[/x]12 tin" in result.output  # shown literally, not parsed
    assert "\u202e" not in result.output
    quarantine = CliRunner().invoke(app, [*args, "--json"])
    assert quarantine.exit_code == 0


def test_shown_makes_control_and_bidi_characters_visible():
    from tasks.display import shown

    assert shown("a\nb\u202ec\x1b[31m") == "a<U+000A>b<U+202E>c<U+001B>[31m"
    assert shown("Văn phòng Sở") == "Văn phòng Sở"


def test_report_option_selects_another_definition(config_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BAOCAO_REPORT", "")  # restored after the test: the command sets it for its process
    base = ["--config", str(config_dir), "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, [*base, "--report", "cchc-ket-qua", "check-config"])
    assert result.exit_code == 0, result.output
    assert "báo cáo cchc-ket-qua" in result.output and "kỳ quarter" in result.output
    unknown = CliRunner().invoke(app, [*base, "--report", "khong-co", "check-config"])
    assert unknown.exit_code == 2
    assert "không có định nghĩa báo cáo 'khong-co'" in unknown.output


def test_hash_password_command_gives_an_argon2_hash_the_web_accepts():
    from tasks.approvals import verify_password

    result = CliRunner().invoke(app, ["hash-password"], input="mat-khau-van-phong\nmat-khau-van-phong\n")
    assert result.exit_code == 0, result.output
    digest = result.stdout.strip().splitlines()[-1]
    assert digest.startswith("$argon2") and verify_password(digest, "mat-khau-van-phong")
    mismatch = CliRunner().invoke(app, ["hash-password"], input="mat-khau-mot\nmat-khau-hai\n")
    assert mismatch.exit_code == 2 and "Hai lần nhập mật khẩu không khớp." in mismatch.output


def test_baocao_web_demo_serves_the_login_page(config_dir, tmp_path):
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from tests.servers import free_port

    port = free_port()
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "--config", str(config_dir), "--data-dir",
                             str(tmp_path / "data"), "web", "--demo", "--port", str(port)], cwd=root,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/dang-nhap", timeout=2).read().decode()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.3)
        assert "Đăng nhập" in page
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "Tài khoản chạy thử: vanphong (Văn phòng), giamdoc (Giám đốc); mật khẩu: " in output
    assert f"http://127.0.0.1:{port}/" in output


def test_status_of_a_province_lists_the_counts_and_the_units_needing_attention(config_dir, tmp_path):
    import yaml

    units = [{"code": f"X{i:04d}", "name": f"Xã số {i}", "emails": [f"xa{i}@tuyenquang.gov.vn"], "channel": "folder"}
             for i in range(1, 251)]
    (config_dir / "units.yaml").write_text(yaml.safe_dump({"units": units}, allow_unicode=True), encoding="utf-8")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(data_dir), "status",
                                      "--period", "2021-03"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "đã báo cáo hợp lệ 0/250 đơn vị; chưa báo cáo 250." in result.output
    assert "X0001 | Xã số 1 | Chưa báo cáo" in result.output and "X0201" not in result.output
    assert "(và 50 đơn vị khác cần chú ý; xem đủ: --all hoặc --json)" in result.output


def test_a_channel_that_could_not_be_reached_is_no_new_report():
    """A mailbox down or a spreadsheet not shared is said as such, not counted as a new report with '1 lỗi'."""
    from flows.cli import collect_summary_lines

    reason = "Chưa thu được báo cáo kỳ 2021-03 của 2 đơn vị dùng Google Sheets ở bảng tính S1; [x] các đơn vị khác…"
    down = "Máy chủ IMAP mail.snv:993 từ chối kết nối (không có dịch vụ nào ở cổng này); kiểm tra host."
    summary = {"total": 4, "counts": {"error": 3, "accepted": 1}, "periods": ["2021-03"], "outcomes": [
        {"status": "error", "unit_code": None, "source_ref": "email:", "reason": f"Không thu được thư: {down}"},
        {"status": "error", "unit_code": None, "source_ref": "sheet:S1", "reason": reason},
        {"status": "error", "unit_code": "VP", "source_ref": "sheet:S2/VP", "reason": "Không tìm thấy trang tính"},
        {"status": "accepted", "unit_code": "TTr", "source_ref": "inbox/TTr.xlsx", "reason": None}]}
    assert collect_summary_lines(summary) == [
        "2 báo cáo mới: 1 hợp lệ, 0 bị trả lại, 0 bị cách ly, 1 lỗi khi đọc.",
        f"[red]Không thu được thư: {down}[/red]",
        "[red]Chưa thu được báo cáo kỳ 2021-03 của 2 đơn vị dùng Google Sheets ở bảng tính S1; \\[x] các đơn vị "
        "khác…[/red]"]


def test_collect_lists_each_document_needing_the_office_even_without_a_unit(config_dir: Path, tmp_path: Path,
                                                                           prefect_engine: None) -> None:
    """A file no unit can be read from (garbage) is listed by name with its reason; a copy of a file already
    received is counted as skipped; and no "only N of M listed" when every one needing attention is listed."""
    from tasks.context import open_context
    from tests.helpers import filled

    data_dir = tmp_path / "data"
    ctx = open_context(config_dir, data_dir)
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    vp = filled(ctx, "VP", "2021-03")
    (ctx.inbox / "VP.xlsx").write_bytes(vp)
    (ctx.inbox / "VP bản sao.xlsx").write_bytes(vp)
    (ctx.inbox / "hỏng.xlsx").write_bytes(b"not a workbook")
    result = CliRunner().invoke(app, ["--config", str(config_dir), "--data-dir", str(data_dir), "collect",
                                      "--period", "2021-03"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2 báo cáo mới: 1 hợp lệ, 1 bị trả lại, 0 bị cách ly; bỏ qua 1 tài liệu trùng với bản đã nhận."
    assert lines[1] == "Trả lại inbox/hỏng.xlsx (không xác định được đơn vị):"
    assert lines[2].startswith("   - Không mở được tệp 'hỏng.xlsx'")
    assert "Chỉ liệt kê" not in result.output
