"""baocao web over HTTP (no browser): accounts, secrets, links, CSRF, limits, decisions, board data."""

from __future__ import annotations

import hashlib
import re
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tasks.collect import process_documents
from tasks.config import ConfigError, load_config
from tasks.context import Context, open_context
from tasks.periods import TZ
from tasks.types import Document
from tests.browser import PASSWORDS, SECRET, Clock, Recorder, add_accounts, consolidate
from tests.helpers import add_communes, deny_reading, filled, mark_delivered, reconfigure

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


MARCH_16 = datetime(2021, 3, 16, 10, 0, tzinfo=TZ)


@pytest.fixture
def site(config_dir: Path, tmp_path: Path):
    from flows.web import create_app

    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")
    recorder, clock = Recorder(), Clock(MARCH_16)
    uploads: list[list[object]] = []
    app = create_app(lambda: ctx, secret=SECRET, starter=recorder, now=clock,
                     on_decision=lambda c, d: recorder.decisions.append(d),
                     on_upload=lambda c, outcomes: uploads.append(outcomes))
    return ctx, TestClient(app), recorder, clock, uploads


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


def _login(client: TestClient, user: str, password: str | None = None):
    page = client.get("/dang-nhap")
    return client.post("/dang-nhap", data={"csrf": _csrf(page.text), "username": user,
                                           "password": password or PASSWORDS[user], "tiep": "/bang/2021-03"},
                       follow_redirects=False)


def _link(ctx: Context, unit: str, period: str = "2021-03") -> str:
    from flows.web import unit_link

    return unit_link(ctx, SECRET, unit, ctx.period(period)).removeprefix("http://127.0.0.1:8080")


def _folder(ctx: Context, unit: str, when: datetime, period: str = "2021-03", **changes: object) -> None:
    data = filled(ctx, unit, period, **changes)
    path = ctx.inbox / f"{unit}-{hashlib.sha256(data).hexdigest()[:6]}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    process_documents(ctx, ctx.period(period), [Document(
        source="folder", source_ref=str(path.relative_to(ctx.data_dir)), filename=path.name, content=data,
        received_at=when)])


# ------------------------------------------------------------------ accounts and secrets


def test_passwords_are_argon2_and_config_refuses_a_plain_password(config_dir: Path) -> None:
    from tasks.approvals import hash_password, verify_password

    h = hash_password("mot-mat-khau-dai")
    assert h.startswith("$argon2id$") and verify_password(h, "mot-mat-khau-dai")
    assert not verify_password(h, "mot-mat-khau-sai")
    with pytest.raises(ValueError, match="ít nhất 8 ký tự"):
        hash_password("ngan")
    path = config_dir / "settings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["web"] = {"accounts": [{"username": "vanphong", "name": "VP", "role": "operator",
                                 "password_hash": "mat-khau-ro"}]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"web\.accounts\[0\]\.password_hash: sai định dạng"):
        load_config(config_dir)


def test_secret_comes_from_the_environment_and_is_required_outside_demo(monkeypatch: pytest.MonkeyPatch,
                                                                       config_dir: Path) -> None:
    from flows.web.security import WebSecretMissing, load_secret

    web = load_config(config_dir).settings.web
    monkeypatch.delenv("BAOCAO_WEB_SECRET", raising=False)
    with pytest.raises(WebSecretMissing, match="BAOCAO_WEB_SECRET"):
        load_secret(web)
    assert len(load_secret(web, demo=True)) >= 32 and load_secret(web, demo=True) != load_secret(web, demo=True)
    monkeypatch.setenv("BAOCAO_WEB_SECRET", "ngan-qua")
    with pytest.raises(WebSecretMissing, match="quá ngắn"):
        load_secret(web)
    monkeypatch.setenv("BAOCAO_WEB_SECRET", "k" * 48)
    assert load_secret(web) == "k" * 48


def test_login_roles_and_rate_limit(site) -> None:
    ctx, client, *_ = site
    assert client.get("/bang/2021-03", follow_redirects=False).headers["location"] == "/dang-nhap?tiep=/bang/2021-03"
    for _ in range(5):
        r = _login(client, "vanphong", "sai-mat-khau")
        assert r.status_code == 401 and "Tên đăng nhập hoặc mật khẩu không đúng." in r.text
    r = _login(client, "vanphong")  # the right password, but locked for 15 minutes
    assert r.status_code == 429 and "Đã nhập sai 5 lần. Hãy thử lại sau 15 phút." in r.text
    assert "user" not in client.cookies.get("baocao_phien", "")
    r = _login(client, "giamdoc")  # another username is not locked
    assert r.status_code == 303
    assert client.get("/bang/2021-03").status_code == 200
    page = client.get("/bang/2021-03")
    r = client.post("/bang/2021-03/thao-tac", data={"csrf": _csrf(page.text), "action": "remind"})
    assert r.status_code == 403 and "dành cho tài khoản Văn phòng" in r.text


def test_forged_or_missing_csrf_is_refused(site) -> None:
    ctx, client, recorder, *_ = site
    assert _login(client, "vanphong").status_code == 303
    r = client.post("/bang/2021-03/thao-tac", data={"csrf": "gia-mao", "action": "collect"})
    assert r.status_code == 403 and "Yêu cầu không hợp lệ" in r.text
    r = client.post("/bang/2021-03/thao-tac", data={"action": "collect"})
    assert r.status_code == 403
    assert recorder.started == []
    other = TestClient(client.app)  # a page from another session cannot post with its own token
    token = _csrf(other.get("/dang-nhap").text)
    assert client.post("/bang/2021-03/thao-tac", data={"csrf": token, "action": "collect"}).status_code == 403


def test_operator_buttons_start_the_cli_flows(site) -> None:
    ctx, client, recorder, *_ = site
    _login(client, "vanphong")
    token = _csrf(client.get("/bang/2021-03").text)
    for action in ("remind", "collect", "consolidate"):
        r = client.post("/bang/2021-03/thao-tac", data={"csrf": token, "action": action})
        assert r.status_code == 200 and "Đã khởi chạy" in r.text
    assert recorder.started == [("send_reminders", {"period": "2021-03", "force": True}),
                                ("collect_submissions", {"period": "2021-03"}),
                                ("consolidate_report", {"period": "2021-03"})]
    assert client.post("/bang/2021-03/thao-tac", data={"csrf": token, "action": "xoa"}).status_code == 400


def test_a_step_posted_twice_within_minutes_starts_once_and_the_clerk_reads_who_started_it(site) -> None:
    """A double click, or a phone sending the form again, does not start a second collect of the same inbox:
    the clerk is told when and by whom the step was started and to reload later; another step or another
    period still starts, and so does the same step once the window has passed."""
    ctx, client, recorder, clock, _ = site
    _login(client, "vanphong")
    token = _csrf(client.get("/bang/2021-03").text)
    assert "Đã khởi chạy" in client.post("/bang/2021-03/thao-tac", data={"csrf": token, "action": "collect"}).text
    clock.now = MARCH_16 + timedelta(seconds=40)
    r = client.post("/bang/2021-03/thao-tac", data={"csrf": token, "action": "collect"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/bang/2021-03"
    notice = re.search(r'<div class="notice"[^>]*>([^<]*)</div>', client.get("/bang/2021-03").text)[1]
    assert notice.startswith("Bước “Thu và kiểm tra báo cáo mới” tháng 3 năm 2021 đã được Nguyễn Thị Thu "
                             "(vanphong) khởi chạy lúc 10:00")
    assert "không khởi chạy thêm lần nữa" in notice and "Tải lại trang sau ít phút" in notice
    assert "lượt-chạy" not in notice  # the run's reference stays in the audit log
    assert recorder.started == [("collect_submissions", {"period": "2021-03"})]
    for key, action in (("2021-03", "remind"), ("2021-02", "collect")):  # another step, another period: started
        assert "Đã khởi chạy" in client.post(f"/bang/{key}/thao-tac", data={"csrf": token, "action": action}).text
    clock.now = MARCH_16 + timedelta(minutes=3)  # the window has passed: a deliberate new collect starts
    assert "Đã khởi chạy" in client.post("/bang/2021-03/thao-tac", data={"csrf": token, "action": "collect"}).text
    assert [(f, p["period"]) for f, p in recorder.started] == [
        ("collect_submissions", "2021-03"), ("send_reminders", "2021-03"), ("collect_submissions", "2021-02"),
        ("collect_submissions", "2021-03")]
    starts = [e for e in ctx.ledger.audit_events("web") if e.action == "start:collect_submissions"]
    assert len(starts) == 3  # one audit row per run actually started


def test_a_step_started_twice_at_the_same_instant_starts_once_and_a_finished_run_may_start_again(
        ctx: Context) -> None:
    """The guard without Prefect or HTTP: two web workers claiming the same step at once (a double click
    reaches both), one wins; a run its starter says has finished may be started again at once."""
    import threading

    from tasks.web_starts import claim_start, release_start, started_run

    at = MARCH_16
    barrier, won = threading.Barrier(2), []

    def click() -> None:
        barrier.wait()
        won.append(claim_start(ctx.ledger, "collect_submissions", "2021-03", "vanphong", "Nguyễn Thị Thu", at))

    workers = [threading.Thread(target=click) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    blocked = [r for r in won if r is not None]
    assert len(won) == 2 and len(blocked) == 1 and blocked[0].by == "vanphong" and blocked[0].at == at
    started_run(ctx.ledger, "collect_submissions", "2021-03", at, "run-1")
    later = at + timedelta(seconds=30)
    still = claim_start(ctx.ledger, "collect_submissions", "2021-03", "vanphong", "Nguyễn Thị Thu", later,
                        finished=lambda ref: None)  # cannot tell: still guarded
    assert still is not None and still.run == "run-1"
    asked: list[str] = []
    done = claim_start(ctx.ledger, "collect_submissions", "2021-03", "vanphong", "Nguyễn Thị Thu", later,
                       finished=lambda ref: asked.append(ref) or True)
    assert done is None and asked == ["run-1"]  # finished: claimed anew
    release_start(ctx.ledger, "collect_submissions", "2021-03", later)  # its start failed: free again at once
    assert claim_start(ctx.ledger, "collect_submissions", "2021-03", "vanphong", "Nguyễn Thị Thu", later) is None


def test_an_operator_button_that_cannot_start_says_what_to_do_in_vietnamese(config_dir: Path, tmp_path: Path) -> None:
    """The clerk reads the step, the period and what to do; not the exception's class, its text or a run id."""
    from flows.web import create_app

    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")

    def down(flow_name: str, parameters: dict[str, object]) -> str:
        raise ConnectionRefusedError("http://10.0.0.5:4200/api token=abc")

    client = TestClient(create_app(lambda: ctx, secret=SECRET, starter=down, now=Clock(MARCH_16)))
    _login(client, "vanphong")
    r = client.post("/bang/2021-03/thao-tac", data={"csrf": _csrf(client.get("/bang/2021-03").text),
                                                   "action": "collect"})
    assert r.status_code == 502
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text))
    assert "Chưa khởi chạy được bước “Thu và kiểm tra báo cáo mới” tháng 3 năm 2021" in text
    assert "Hãy thử lại sau ít phút" in text
    assert "ConnectionRefusedError" not in text and "10.0.0.5" not in text and "token=abc" not in text


# ------------------------------------------------------------------ unit links


def test_unit_link_is_bound_and_expires_when_the_period_closes(site) -> None:
    ctx, client, recorder, clock, _ = site
    link = _link(ctx, "VP")
    r = client.get(link)
    assert r.status_code == 200 and "Văn phòng Sở" in r.text and "16/03/2021" in r.text
    assert "Chưa báo cáo" in r.text
    assert client.get(link[:-3] + "abc").status_code == 404
    assert "Đường dẫn không hợp lệ" in client.get("/nop/khong-dung").text
    clock.now = datetime(2021, 3, 18, 23, 0, tzinfo=TZ)  # report deadline 18/03: still open
    assert client.get(link).status_code == 200
    clock.now = datetime(2021, 3, 19, 0, 1, tzinfo=TZ)
    r = client.get(link)
    assert r.status_code == 410 and "Đường dẫn đã hết hạn" in r.text and "<form" not in r.text.split("<main>")[1]
    clock.now = MARCH_16
    mark_delivered(ctx, "2021-03")
    assert client.get(link).status_code == 410
    assert client.get(link + "/bieu-mau").status_code == 410


def test_upload_is_validated_at_once_recorded_like_a_folder_file_and_downloadable(site) -> None:
    ctx, client, recorder, clock, uploads = site
    link = _link(ctx, "CCHC")
    token = _csrf(client.get(link).text)
    bad = filled(ctx, "CCHC", W01="9 tin")
    r = client.post(link, data={"csrf": token}, files={"file": ("CCHC <lần 1>.xlsx", bad)})
    assert r.status_code == 422
    assert "chưa hợp lệ" in r.text and "(ô E10): giá trị “9 tin” không phải là số nguyên" in r.text
    assert "CCHC &lt;lần 1&gt;.xlsx" in r.text and "<lần 1>" not in r.text
    good = filled(ctx, "CCHC")
    r = client.post(link, data={"csrf": token}, files={"file": ("CCHC.xlsx", good)})
    assert r.status_code == 200 and "Báo cáo hợp lệ, đã được ghi nhận" in r.text
    subs = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert [(s.unit_code, s.source, s.status, s.on_time) for s in subs] == [
        ("CCHC", "web", "rejected", True), ("CCHC", "web", "accepted", True)]
    assert (ctx.data_dir / subs[1].source_ref).read_bytes() == good
    assert [o.status for batch in uploads for o in batch] == ["rejected", "accepted"]
    r = client.post(link, data={"csrf": token}, files={"file": ("again.xlsx", good)})
    assert "đã được nhận trước đó" in r.text
    _login(client, "vanphong")
    assert client.get(f"/tep/{subs[0].id}").content == bad
    unit_page = client.get("/bang/2021-03/don-vi/CCHC").text
    assert "Thay đổi so với lần 1" in unit_page and "(W01)" in unit_page
    assert client.get("/nop/" + "x" * 500).status_code == 404
    assert client.get(link + "/bieu-mau").content[:2] == b"PK"


def test_an_upload_that_is_no_spreadsheet_is_kept_recorded_and_answered_like_a_folder_file(site) -> None:
    """A unit uploads its PDF by mistake: the page says why at once, and, as for a PDF dropped in the inbox, the
    bytes are kept, the rejection is recorded for the unit and its rejection mail is owed."""
    ctx, client, recorder, clock, uploads = site
    link = _link(ctx, "CCHC")
    token = _csrf(client.get(link).text)
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    r = client.post(link, data={"csrf": token}, files={"file": ("bao cao.pdf", pdf)})
    assert r.status_code == 422 and "không phải bảng tính" in r.text
    [sub] = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert (sub.unit_code, sub.source, sub.status, sub.filename) == ("CCHC", "web", "rejected", "bao cao.pdf")
    assert "không phải bảng tính" in sub.errors[0]["message"]
    assert (ctx.data_dir / sub.source_ref).read_bytes() == pdf
    assert [o.status for batch in uploads for o in batch] == ["rejected"]


def test_the_form_in_the_page_is_checked_and_recorded_like_a_file(site) -> None:
    from tasks.samples import BASE

    ctx, client, *_ = site
    link = _link(ctx, "CCHC")
    page = client.get(link + "/dien").text
    assert 'name="v_W01"' in page and 'name="v_N04"' in page
    assert len(re.findall(r'name="v_[A-Z0-9_]+"', page)) == len(ctx.cfg.report.indicators)
    form = {"csrf": _csrf(page), **{f"v_{k}": "" if v is None else str(v) for k, v in BASE["CCHC"].items()}}
    r = client.post(link + "/dien", data={**form, "v_W01": "9 tin"})
    assert r.status_code == 422 and "giá trị “9 tin” không phải là số nguyên" in r.text
    assert "(ô E" not in r.text  # no spreadsheet cells for a form typed in the page
    assert re.search(r'id="f-W01" class="error".*?không phải là số nguyên', r.text, re.S)
    assert 'value="9 tin"' in r.text  # what was typed stays, to be corrected
    r = client.post(link + "/dien", data={**form, "v_W01": "1.000"})
    assert r.status_code == 200 and "Báo cáo hợp lệ, đã được ghi nhận" in r.text
    subs = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert [(s.source, s.status) for s in subs] == [("web", "rejected"), ("web", "accepted")]
    assert subs[1].value_map()["W01"] == 1000 and subs[1].value_map()["K02"] == BASE["CCHC"]["K02"]
    assert 'value="1000"' in client.get(link + "/dien").text  # the form opens with the unit's last values


def test_a_unit_link_cannot_report_for_another_unit(site) -> None:
    ctx, client, *_ = site
    link = _link(ctx, "CCHC")
    token = _csrf(client.get(link).text)
    r = client.post(link, data={"csrf": token}, files={"file": ("VP.xlsx", filled(ctx, "VP"))})
    assert r.status_code == 422 and "Tệp ghi mã đơn vị VP" in r.text and "chỉ dùng để nộp báo cáo" in r.text
    assert ctx.ledger.submissions(ctx.cfg.report.id, "2021-03") == []


def test_uploads_over_the_limit_are_refused(config_dir: Path, tmp_path: Path) -> None:
    from flows.web import create_app

    add_accounts(config_dir, max_upload_mb=0.005)  # 5 KB
    ctx = open_context(config_dir, tmp_path / "data")
    client = TestClient(create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(MARCH_16)))
    link = _link(ctx, "VP")
    token = _csrf(client.get(link).text)
    r = client.post(link, data={"csrf": token}, files={"file": ("VP.xlsx", b"x" * 200_000)})
    assert r.status_code == 413 and "Tệp quá lớn" in r.text and "vượt quá giới hạn" in r.text
    assert ctx.ledger.submissions(ctx.cfg.report.id, "2021-03") == []


# ------------------------------------------------------------------ board


def test_board_escapes_unit_data_and_reopen_needs_a_reason(site) -> None:
    ctx, client, *_ = site
    _folder(ctx, "VP", MARCH_16 - timedelta(days=1))
    _folder(ctx, "CCHC", MARCH_16, K01=1, K02="")
    _folder(ctx, "XDCQ", MARCH_16 + timedelta(days=3), N01="<script>alert('x')</script>")
    _login(client, "vanphong")
    board = client.get("/bang/2021-03").text
    assert "2/9" in board and "22,2%" in board and "11,1%" in board  # reported 2 of 9; on time 1 of 9
    assert re.search(r'id="unit-XDCQ".*?Muộn', board, re.S)
    assert re.search(r'id="unit-CCHC".*?Bị trả lại.*?thì phải mô tả', board, re.S)
    xdcq = client.get("/bang/2021-03/don-vi/XDCQ").text
    assert "<script>alert" not in xdcq
    rejected = [s for s in ctx.ledger.submissions(ctx.cfg.report.id, "2021-03") if s.status == "rejected"][0]
    token = _csrf(board)
    r = client.post(f"/mo-lai/{rejected.id}", data={"csrf": token, "reason": "  "})
    assert r.status_code == 400 and "phải ghi rõ lý do" in r.text
    r = client.post(f"/mo-lai/{rejected.id}", data={"csrf": token, "reason": "Đã xác minh qua điện thoại"})
    assert r.status_code == 200 and f"Đã chấp nhận báo cáo số {rejected.id}." in r.text
    assert ctx.ledger.submissions_by_id([rejected.id])[0].status == "accepted"
    assert "3/9" in client.get("/bang/2021-03").text


def test_email_originals_are_not_kept_and_the_page_says_so(site) -> None:
    ctx, client, *_ = site
    data = filled(ctx, "VP")
    process_documents(ctx, ctx.period("2021-03"), [Document(
        source="email", source_ref="<m1@vp>#VP.xlsx", filename="VP.xlsx", content=data, received_at=MARCH_16,
        sender="vanphong@snv.tuyenquang.gov.vn", message_id="<m1@vp>")])
    sub = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")[0]
    _login(client, "vanphong")
    r = client.get(f"/tep/{sub.id}")
    assert r.status_code == 404 and "không được lưu lại nguyên bản" in r.text and sub.content_hash in r.text
    assert "Tệp đính kèm thư điện tử không được lưu nguyên bản" in client.get("/bang/2021-03/don-vi/VP").text


def test_an_original_overwritten_in_the_inbox_is_not_served_as_the_earlier_version(site) -> None:
    """A unit copies a corrected VP.xlsx over the one it sent first: the Office asking for version 1's file
    must not get version 2's bytes under version 1's name; the page says the original is gone."""
    from tasks.channels.folder import FolderChannel
    from tasks.collect import collect_from

    ctx, client, *_ = site
    mark_delivered(ctx, "2021-02")
    ctx.inbox.mkdir(parents=True)
    path = ctx.inbox / "VP.xlsx"
    bad, good = filled(ctx, "VP", W01="9 tin"), filled(ctx, "VP")
    path.write_bytes(bad)
    collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, now=MARCH_16, settle_seconds=0))
    path.write_bytes(good)
    collect_from(ctx, ctx.period("2021-03"), FolderChannel(ctx, now=MARCH_16 + timedelta(hours=1),
                                                           settle_seconds=0))
    first, second = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    assert (first.status, second.status) == ("rejected", "accepted")
    _login(client, "vanphong")
    assert client.get(f"/tep/{second.id}").content == good
    r = client.get(f"/tep/{first.id}")
    assert r.status_code == 404 and r.content != good and first.content_hash in r.text
    page = client.get("/bang/2021-03/don-vi/VP").text
    assert page.count('href="/tep/') == 1 and f'href="/tep/{second.id}"' in page


# ------------------------------------------------------------------ approval


def test_approval_is_stored_with_number_date_and_the_hashes_of_the_files_shown(site) -> None:
    ctx, client, recorder, clock, _ = site
    _folder(ctx, "VP", MARCH_16)
    paths = consolidate(ctx, "2021-03")
    _login(client, "vanphong")
    page = client.get("/duyet/2021-03").text
    assert "Chỉ tài khoản Lãnh đạo Sở mới phê duyệt" in page and 'id="decide"' not in page
    assert client.post("/duyet/2021-03", data={"csrf": _csrf(page), "decision": "approved"}).status_code == 403

    client.cookies.clear()
    _login(client, "giamdoc")
    page = client.get("/duyet/2021-03").text
    assert "BÁO CÁO" in page and "1/9" in page
    form = {"csrf": _csrf(page), "digest": re.search(r'name="digest" value="([0-9a-f]+)"', page)[1]}
    r = client.post("/duyet/2021-03", data={**form, "decision": "approved", "document_number": "15/BC-SNV",
                                            "issue_date": "31/02/2021"})
    assert r.status_code == 400 and "nhập ngày ban hành theo dạng ngày/tháng/năm" in r.text
    r = client.post("/duyet/2021-03", data={**form, "decision": "returned", "reason": ""})
    assert r.status_code == 400 and "phải ghi rõ lý do" in r.text
    assert recorder.decisions == []

    r = client.post("/duyet/2021-03", data={**form, "decision": "returned", "reason": "Bổ sung số liệu của CCHC"})
    assert r.status_code == 200 and "Đã trả lại" in r.text and "Bổ sung số liệu của CCHC" in r.text
    assert recorder.decisions[-1].decision == "returned"

    paths["docx"].write_bytes(paths["docx"].read_bytes() + b"\0")  # consolidated again meanwhile
    r = client.post("/duyet/2021-03", data={**form, "decision": "approved", "document_number": "15/BC-SNV",
                                            "issue_date": "18/03/2021"})
    assert r.status_code == 409 and "tổng hợp lại sau khi anh/chị mở trang" in r.text
    consolidate(ctx, "2021-03")
    page = client.get("/duyet/2021-03").text
    form = {"csrf": _csrf(page), "digest": re.search(r'name="digest" value="([0-9a-f]+)"', page)[1]}
    r = client.post("/duyet/2021-03", data={**form, "decision": "approved", "document_number": "15/BC-SNV",
                                            "issue_date": "18/03/2021"})
    assert r.status_code == 200 and "15/BC-SNV" in r.text and "18/03/2021" in r.text
    d = recorder.decisions[-1]
    assert (d.decision, d.username, d.name, d.document_number, d.issue_date.isoformat()) == (
        "approved", "giamdoc", "Bàng Quốc Việt", "15/BC-SNV", "2021-03-18")
    assert d.sha256 == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()}
    events = [e for e in ctx.ledger.audit_events("approval") if e.detail.get("source") == "web"]
    assert [e.action for e in events] == ["returned", "approved"]

    _folder(ctx, "TTr", MARCH_16)  # a late report, and the Office consolidates again after the approval
    consolidate(ctx, "2021-03")
    page = client.get("/duyet/2021-03").text
    assert "đã được tổng hợp lại sau khi phê duyệt" in page
    assert "cần phê duyệt lại" in client.get("/bang/2021-03").text
    from tasks.approvals import current_approval, file_digests

    now = file_digests(paths.values())
    assert current_approval(ctx.ledger, ctx.cfg.report.id, "2021-03", now) is None
    assert current_approval(ctx.ledger, ctx.cfg.report.id, "2021-03", d.sha256) == d


def test_the_same_decision_sent_twice_is_recorded_once(site) -> None:
    """A double click on "Phê duyệt và ban hành" (or a phone resending the form) records one approval and starts
    one delivery; a different decision afterwards (returning it) is still recorded."""
    ctx, client, recorder, clock, _ = site
    consolidate(ctx, "2021-03")
    clock.now = datetime(2021, 3, 18, 8, 30, tzinfo=TZ)
    _login(client, "giamdoc")
    page = client.get("/duyet/2021-03").text
    form = {"csrf": _csrf(page), "digest": re.search(r'name="digest" value="([^"]+)"', page)[1],
            "decision": "approved", "document_number": "15/BC-SNV", "issue_date": "18/03/2021"}
    for _ in range(2):
        r = client.post("/duyet/2021-03", data=form)
        assert r.status_code == 200 and "Đã phê duyệt" in r.text and "15/BC-SNV" in r.text
    assert [d.decision for d in recorder.decisions] == ["approved"]
    client.post("/duyet/2021-03", data={**form, "decision": "returned", "reason": "Sửa số liệu mục 1"})
    client.post("/duyet/2021-03", data={**form, "decision": "returned", "reason": "Sửa số liệu mục 1"})
    assert [d.decision for d in recorder.decisions] == ["approved", "returned"]
    client.post("/duyet/2021-03", data=form)  # approved again after returning it: a new decision
    assert [d.decision for d in recorder.decisions] == ["approved", "returned", "approved"]


def test_the_buttons_are_explained_in_words_not_commands_and_the_date_hint_is_vietnamese(site) -> None:
    ctx, client, recorder, clock, _ = site
    consolidate(ctx, "2021-03")
    _login(client, "vanphong")
    board = client.get("/bang/2021-03").text
    assert "Nhắc: gửi thư nhắc tới các đơn vị chưa có báo cáo hợp lệ." in board
    assert "baocao remind" not in board and "<code>collect</code>" not in board
    client.cookies.clear()
    _login(client, "giamdoc")
    page = client.get("/duyet/2021-03").text
    assert 'placeholder="ví dụ 18/03/2021"' in page and "dd/mm/yyyy" not in page


def test_wrong_addresses_get_a_vietnamese_page(site, config_dir: Path) -> None:
    ctx, client, *_ = site
    for path in ("/nop/", "/nop/abc/xyz", "/khong-co", "/tep/abc"):
        r = client.get(path)
        assert r.status_code == 404 and "Không tìm thấy trang" in r.text and "detail" not in r.text, path
    r = client.get("/nop/" + "a" * 30)
    assert r.status_code == 404 and "Đường dẫn không hợp lệ" in r.text


def test_addresses_beyond_any_period_or_report_number_get_a_vietnamese_404(site) -> None:
    """A typed address with year 1 or 9999, or a report number past what the ledger holds, is "not found", never
    the server's English "Internal Server Error"."""
    ctx, client, *_ = site
    _login(client, "vanphong")
    for path in ("/bang/0001-01", "/bang/9999-12", "/duyet/0001-01", "/duyet/9999-12", "/bang/0001-01/don-vi/VP"):
        r = client.get(path)
        assert r.status_code == 404 and "kỳ báo cáo" in r.text and "Error" not in r.text, path
    r = client.get("/tep/99999999999999999999")
    assert r.status_code == 404 and "Không có báo cáo số 99999999999999999999" in r.text
    token = _csrf(client.get("/bang/2021-03").text)
    r = client.post("/mo-lai/99999999999999999999", data={"csrf": token, "reason": "x"})
    assert r.status_code == 404 and "Không có báo cáo số" in r.text


def test_a_fault_in_a_page_shows_a_vietnamese_page_without_the_traceback(site, monkeypatch: pytest.MonkeyPatch,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    from flows.web import views

    ctx, client, *_ = site
    _login(client, "vanphong")

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("secret-token-abc")

    monkeypatch.setattr(views, "board", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False, cookies=client.cookies)
    r = quiet.get("/bang/2021-03")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "Hệ thống đang gặp lỗi" in r.text and "Hãy thử lại sau ít phút" in r.text and 'lang="vi"' in r.text
    assert "secret-token-abc" not in r.text and "Traceback" not in r.text and "KeyError" not in r.text
    assert "Internal Server Error" not in r.text
    assert any("secret-token-abc" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


# ------------------------------------------------------------------ without a Prefect server


@pytest.mark.slow
def test_the_prefect_starter_tells_the_board_whether_its_run_has_finished(prefect_engine) -> None:
    """What the board's guard asks the Prefect server: a run still scheduled has not finished, a completed
    one has; a reference the server does not know cannot be told (the guard's window decides then)."""
    import uuid

    from prefect import flow, get_client
    from prefect.states import Completed

    from flows.web.actions import prefect_starter, run_finished

    @flow(name="baocao-guard-probe")
    def probe() -> None:
        pass

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(probe)
        assert run_finished(prefect_starter, str(run.id)) is False
        client.set_flow_run_state(run.id, Completed(), force=True)
    assert run_finished(prefect_starter, str(run.id)) is True
    assert run_finished(prefect_starter, str(uuid.uuid4())) is None
    assert run_finished(prefect_starter, "not a run id") is None


@pytest.mark.slow
def test_in_process_starter_runs_the_same_flow_when_no_server_is_configured(prefect_engine, config_dir: Path,
                                                                          tmp_path: Path) -> None:
    from flows.web.actions import ACTIONS, InProcessStarter, emit_decision_event
    from tasks.approvals import record_decision

    starter = InProcessStarter(str(config_dir), str(tmp_path / "data"))
    flow_name, extra, _ = ACTIONS["remind"]
    ref = starter(flow_name, {"period": "2021-03", **extra})
    assert "trong tiến trình web" in ref
    starter.threads[0].join(280)
    assert not starter.threads[0].is_alive(), "the reminder flow did not finish"
    assert starter.finished(ref) is True and starter.finished("another worker's run") is None  # the board's guard
    reminders = sorted((tmp_path / "data" / "outbox" / "2021-03").rglob("*.eml"))
    assert len(reminders) == 9  # every unit: none has reported

    ctx = open_context(config_dir, tmp_path / "data")
    d = record_decision(ctx.ledger, report_id=ctx.cfg.report.id, period="2021-03", decision="approved",
                        username="giamdoc", name="Bàng Quốc Việt", sha256={}, document_number="15/BC-SNV",
                        issue_date=MARCH_16.date())
    emit_decision_event(ctx, d)
    assert not [e for e in ctx.ledger.audit_events("approval") if e.action == "event_failed"]


def test_an_inactive_units_link_is_invalid(config_dir: Path, tmp_path: Path) -> None:
    from flows.web import create_app

    add_accounts(config_dir)
    path = config_dir / "units.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(u for u in data["units"] if u["code"] == "BTG")["active"] = False
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    ctx = open_context(config_dir, tmp_path / "data")
    client = TestClient(create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(MARCH_16)))
    r = client.get(_link(ctx, "BTG"))
    assert r.status_code == 404 and "Đường dẫn không hợp lệ" in r.text and "Ban Tôn giáo" not in r.text
    assert client.get(_link(ctx, "VP")).status_code == 200


def test_a_units_link_and_board_row_follow_its_window(config_dir: Path, tmp_path: Path) -> None:
    """BTG merged away after February (until: 2021-02): March's link no longer opens and March's board does not
    list it (8 units), while February's board still does (9)."""
    from flows.web import create_app

    add_accounts(config_dir)
    path = config_dir / "units.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(u for u in data["units"] if u["code"] == "BTG")["until"] = "2021-02"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    ctx = open_context(config_dir, tmp_path / "data")
    client = TestClient(create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(MARCH_16)))
    r = client.get(_link(ctx, "BTG"))
    assert r.status_code == 404 and "Đường dẫn không hợp lệ" in r.text
    assert client.get(_link(ctx, "VP")).status_code == 200
    _login(client, "vanphong")
    march, february = client.get("/bang/2021-03").text, client.get("/bang/2021-02").text
    assert 'id="unit-BTG"' not in march and "0/8" in march
    assert 'id="unit-BTG"' in february and "0/9" in february


def test_the_board_says_which_channel_the_last_collect_could_not_reach(config_dir: Path, tmp_path: Path) -> None:
    """A mailbox down leaves its units' reports uncollected while the run succeeds: the clerk sees it on the
    board (what, since when, what to do) until a collect reads the mailbox again."""
    from flows.web import create_app
    from tasks.channel_health import channel_problems, record_channel_health
    from tasks.types import Outcome, OutcomeStatus

    reconfigure(config_dir, {"imap": {"enabled": True}}, {"VP": "email"})
    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")
    down = "Máy chủ IMAP mail.snv:993 từ chối kết nối <b>(không có dịch vụ nào ở cổng này)</b>."
    for minutes in (0, 15):
        record_channel_health(ctx, "email", [Outcome("email:", OutcomeStatus.ERROR, reason=down)],
                              now=MARCH_16 + timedelta(minutes=minutes))
    (problem,) = channel_problems(ctx)
    assert (problem.channel, problem.since, problem.last) == ("email", MARCH_16, MARCH_16 + timedelta(minutes=15))
    client = TestClient(create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(MARCH_16)))
    assert _login(client, "vanphong").status_code == 303
    page = client.get("/bang/2021-03").text
    alert = page[page.index('id="channel-problems"'):page.index("</div>", page.index('id="channel-problems"'))]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", alert))
    assert "Lần thu gần nhất không đọc được 1 nguồn báo cáo; báo cáo của các đơn vị gửi qua đó chưa được thu:" in text
    assert ("Hộp thư của Văn phòng (1 đơn vị): Máy chủ IMAP mail.snv:993 từ chối kết nối &lt;b&gt;(không có dịch "
            "vụ nào ở cổng này)&lt;/b&gt;. Lỗi từ 10:00 16/03/2021, lần thu gần nhất 10:15 16/03/2021.") in text
    record_channel_health(ctx, "email", [], now=MARCH_16 + timedelta(minutes=30))  # read again
    assert channel_problems(ctx) == [] and 'id="channel-problems"' not in client.get("/bang/2021-03").text


def test_the_board_lists_the_inbox_files_the_latest_collect_could_not_read_until_one_reads_them(
        site, monkeypatch) -> None:
    """The inbox is one folder for every period: each board shows the files its latest collect skipped (the
    service may not read them, a link), with the reason and what to do; a province's hundreds are a bounded
    list with a count of the rest; once a later collect reads a file it is no longer listed."""
    import os

    from tasks.channels.folder import FolderChannel

    ctx, client, *_ = site
    ctx.inbox.mkdir(parents=True)
    (ctx.inbox / "VP.xlsx").write_bytes(filled(ctx, "VP", "2021-03"))
    (ctx.inbox / "TTr.xlsx").write_bytes(filled(ctx, "TTr", "2021-03"))
    (ctx.inbox / "lối tắt.xlsx").symlink_to(ctx.inbox / "TTr.xlsx")
    real_open = os.open
    deny_reading(monkeypatch, "VP.xlsx")
    FolderChannel(ctx, now=MARCH_16, settle_seconds=0).scan()
    monkeypatch.setattr(os, "open", real_open)
    _login(client, "vanphong")

    def alert(key: str = "2021-03") -> str:
        page = client.get(f"/bang/{key}").text
        if 'id="inbox-skipped"' not in page:
            return ""
        start = page.index('id="inbox-skipped"')
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[start:page.index("</div>", start)]))

    text = alert()
    assert "Lần thu lúc 10:00 16/03/2021 chưa đọc được 2 tệp trong thư mục nhận báo cáo" in text
    assert "inbox/VP.xlsx" in text and "không có quyền đọc tệp" in text
    assert "Cần làm: Cấp quyền đọc tệp cho tài khoản chạy dịch vụ thu báo cáo" in text
    assert "inbox/lối tắt.xlsx" in text and "liên kết tượng trưng" in text
    assert "chép chính tệp báo cáo" in text.lower()
    assert "PermissionError" not in text and "EACCES" not in text and "Errno" not in text
    assert alert("2021-02") == text  # one inbox for every period
    (ctx.inbox / "lối tắt.xlsx").unlink()  # the clerk acts; the next collect reads VP.xlsx
    FolderChannel(ctx, now=MARCH_16 + timedelta(minutes=15), settle_seconds=0).scan()
    assert alert() == ""
    for i in range(60):  # a province's units dropping links: a bounded list, the rest counted
        (ctx.inbox / f"xa-{i:03d}.xlsx").symlink_to(ctx.inbox / "TTr.xlsx")
    FolderChannel(ctx, now=MARCH_16 + timedelta(minutes=30), settle_seconds=0).scan()
    text = alert()
    assert "chưa đọc được 60 tệp" in text and "inbox/xa-000.xlsx" in text and "inbox/xa-059.xlsx" not in text
    assert "và 40 tệp khác" in text


def test_unit_page_filters_searches_and_pages() -> None:
    """The board's unit list: a department's few units all at once; a province's, those needing attention,
    100 a page, searched by code or name with or without Vietnamese marks."""
    from flows.web.views import unit_page

    names = {"VP": "Văn phòng Sở", "TĐKT": "Ban Thi đua - Khen thưởng", "BTG": "Ban Tôn giáo (Đền 'Mẫu')",
             "CCHC": "Phòng Cải cách hành chính"}
    statuses = {"VP": "on_time", "TĐKT": "late", "BTG": "rejected", "CCHC": "missing"}
    rows = [{"unit": c, "name": n, "status": statuses[c]} for c, n in names.items()]
    few = unit_page(rows)
    assert (few.show, [r["unit"] for r in few.rows], few.pages, few.first) == ("tat-ca", list(names), 1, 1)
    assert few.counts == {"can-chu-y": 3, "chua-bao-cao": 1, "bi-tra-lai": 1, "muon": 1, "dung-han": 1, "tat-ca": 4}
    many = unit_page(rows, size=2)  # more units than a page: those needing attention, by default
    assert (many.show, [r["unit"] for r in many.rows], many.matched, many.pages) == (
        "can-chu-y", ["TĐKT", "BTG"], 3, 2)
    second = unit_page(rows, "can-chu-y", page="2", size=2)
    assert ([r["unit"] for r in second.rows], second.first) == (["CCHC"], 3)
    assert unit_page(rows, page="99", size=2).page == 2 and unit_page(rows, page="hai", size=2).page == 1
    assert [r["unit"] for r in unit_page(rows, "tat-ca", "den mau").rows] == ["BTG"]  # no marks typed
    assert [r["unit"] for r in unit_page(rows, "tat-ca", "tđkt").rows] == ["TĐKT"]
    assert [r["unit"] for r in unit_page(rows, "tat-ca", "CẢI CÁCH").rows] == ["CCHC"]
    assert [r["unit"] for r in unit_page(rows, "dung-han", "phong").rows] == ["VP"]  # "Văn phòng", on time
    none = unit_page(rows, "bi-tra-lai", "thanh tra")
    assert (none.rows, none.matched, none.first, none.pages) == ([], 0, 0, 1)
    assert unit_page(rows, "muon", "Đền", page=1).url(trang=2) == "?loc=muon&tim=%C4%90%E1%BB%81n&trang=2"
    assert unit_page(rows, "tat-ca").url() == "?loc=tat-ca"
    searched = unit_page(rows, None, "ban", size=2)  # the default filter: a search looks through every unit
    assert (searched.show, searched.chosen, [r["unit"] for r in searched.rows]) == ("tat-ca", False, ["TĐKT", "BTG"])
    assert searched.counts == {"can-chu-y": 2, "chua-bao-cao": 0, "bi-tra-lai": 1, "muon": 1, "dung-han": 0,
                               "tat-ca": 2}  # of the units found
    assert searched.url(trang=2) == "?tim=ban&trang=2" and searched.total == 4
    blank = unit_page(rows, "tat-ca", "  '!' ")
    assert (blank.query, blank.matched) == ("", 4)


def test_a_provinces_board_lists_a_page_of_the_units_needing_attention(config_dir: Path, tmp_path: Path) -> None:
    """10,000 units made a 15 MB board: the list is now 100 a page, filtered and searched over HTTP."""
    from flows.web import create_app

    add_communes(config_dir, 241)
    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")
    for code in ("VP", "TTr"):
        _folder(ctx, code, MARCH_16 - timedelta(days=1))
    client = TestClient(create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(MARCH_16)))
    _login(client, "vanphong")

    def listed(query: str = "") -> tuple[list[str], str, str]:
        page = client.get("/bang/2021-03" + query)
        assert page.status_code == 200
        units = page.text[page.text.index('id="units"'):page.text.index("</table>", page.text.index('id="units"'))] \
            if 'id="units"' in page.text else ""
        count = re.search(r'<p class="muted small" id="unit-count">(.*?)</p>', page.text, re.S)[1]
        count = re.sub(r"<[^>]+>", "", count)
        pager = re.search(r'<p class="pager small">(.*?)</p>', page.text, re.S)
        return re.findall(r'<tr id="unit-([^"]+)"', units), count, re.sub(r"<[^>]+>", "", pager[1]) if pager else ""

    rows, count, pager = listed()
    assert len(rows) == 100 and rows[:3] == ["TCBC", "CCHC", "XDCQ"]  # VP and TTr reported on time
    assert count == "Đang xem 1–100 trong 248 đơn vị thuộc mục “cần chú ý” (tổng số 250 đơn vị)."
    assert pager.split() == ["Trang", "1/3", "Trang", "sau", "→"]
    rows, count, _ = listed("?loc=can-chu-y&trang=3")
    assert rows[-1] == "X240" and len(rows) == 48
    assert count == "Đang xem 201–248 trong 248 đơn vị thuộc mục “cần chú ý” (tổng số 250 đơn vị)."
    rows, count, pager = listed("?loc=dung-han")
    assert (rows, pager) == (["VP", "TTr"], "")
    assert count == "Đang xem 2 đơn vị thuộc mục “đúng hạn” (tổng số 250 đơn vị)."
    rows, count, _ = listed("?loc=tat-ca&tim=xa+so+7")  # typed without marks
    assert rows == ["X007", "X070", "X071", "X072", "X073", "X074", "X075", "X076", "X077", "X078", "X079"]
    assert count == "Đang xem 11 đơn vị có mã hoặc tên chứa “xa so 7” (tổng số 250 đơn vị)."
    rows, count, _ = listed("?loc=bi-tra-lai&tim=%3Cb%3Ex")
    assert rows == [] and count == ("Không có đơn vị nào thuộc mục “bị trả lại” có mã hoặc tên chứa “&lt;b&gt;x” "
                                    "(tổng số 250 đơn vị).")  # what was typed is shown, never as markup
    rows, count, _ = listed("?tim=van+phong")  # a search from the default list looks through every unit
    assert (rows, count) == (["VP"], "Đang xem 1 đơn vị có mã hoặc tên chứa “van phong” (tổng số 250 đơn vị).")
    rows, count, _ = listed("?tim=%21%21%21")  # nothing to search for: the default list
    assert len(rows) == 100 and "chứa" not in count
    board = client.get("/bang/2021-03").text
    assert 'Cần chú ý <span class="count">248</span>' in board and 'Tất cả <span class="count">250</span>' in board
    grid = board[board.index('id="grid"'):]
    assert len(re.findall(r'<td class="unit">', grid)) == 100  # the same units as the list above
    assert "2/250" in board  # the figures count every unit


def test_the_period_grid_counts_every_unit_and_lists_only_the_page(site) -> None:
    """The grid's rates are over every unit (as the figures above it), its cells only for the listed units;
    a period nothing was received for is blank, not 0 %."""
    from flows.web.views import grid, rates
    from tasks.status import status_rows

    ctx, *_ = site
    _folder(ctx, "VP", MARCH_16 - timedelta(days=1))
    _folder(ctx, "CCHC", MARCH_16, K01=1, K02="")  # rejected
    _folder(ctx, "XDCQ", MARCH_16 + timedelta(days=3))  # late
    period = ctx.period("2021-03")
    states, cells = grid(ctx, period, codes=["XDCQ", "VP", "TTr"])
    assert states[-1].rates == rates(status_rows(ctx, period))
    assert (states[-1].rates["reported"], states[-1].rates["on_time"], states[-1].rates["late"],
            states[-1].rates["rejected"], states[-1].rates["missing"]) == (2, 1, 1, 1, 6)
    assert cells == {"XDCQ": {p.period.key: "missing" for p in states} | {"2021-03": "late"},
                     "VP": {p.period.key: "missing" for p in states} | {"2021-03": "on_time"},
                     "TTr": {p.period.key: "missing" for p in states}}
    assert [s.collected for s in states] == [False] * 11 + [True]


def test_the_approval_page_names_thirty_missing_units_and_links_the_rest(config_dir: Path, tmp_path: Path) -> None:
    """8,000 missing communes were 8,000 names on the Director's page (200 KB): it names 30 of each list and
    links the board's page of the rest; a returned unit is listed once, as returned."""
    from flows.web import create_app

    add_communes(config_dir, 40)
    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")
    _folder(ctx, "VP", MARCH_16)
    _folder(ctx, "CCHC", MARCH_16, K01=1, K02="")  # returned
    consolidate(ctx, "2021-03")
    client = TestClient(create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(MARCH_16)))
    _login(client, "giamdoc")
    page = client.get("/duyet/2021-03").text

    def text(element: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", re.search(rf'<p id="{element}">(.*?)</p>', page, re.S)[1]))

    missing = text("missing")
    assert missing.startswith("Chưa báo cáo (47): Thanh tra Sở; ") and "Phòng Cải cách hành chính" not in missing
    assert missing.endswith("; Xã số 22; và 17 đơn vị khác.") and "Xã số 23" not in missing
    assert '<a href="/bang/2021-03?loc=chua-bao-cao">17 đơn vị khác</a>' in page
    assert text("rejected") == "Bị trả lại, chưa gửi lại (1): Phòng Cải cách hành chính."
    assert "Đã báo cáo <b>1/49</b>" in page
