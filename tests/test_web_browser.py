"""The Office's pages in a real browser (Debian's Chromium through Playwright), as each person uses them.

A unit uploads a wrong then a right file and reads each result; the clerk sees the board change and
starts a step; the Director reads the draft, enters the number and date and approves, and the delivery
.eml appears; a wrong password, an expired link and a forged CSRF token are refused.
Screenshots of the main pages are written under the test's tmp dir and docs/screenshots/.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from tasks.collect import process_documents
from tasks.context import Context
from tasks.periods import TZ
from tasks.types import Document
from tests.browser import (
    CHROMIUM,
    PASSWORDS,
    SECRET,
    Clock,
    Recorder,
    add_accounts,
    chromium,
    consolidate,
    deliver,
    live_server,
    screenshot,
)
from tests.helpers import filled

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                                    reason="Chromium missing: run scripts/ensure-chromium.sh")]



def _folder(ctx: Context, unit: str, period: str, when: str, **changes: object) -> None:
    """A unit's file dropped in the inbox earlier, recorded as `collect` records it."""
    data = filled(ctx, unit, period, **changes)
    path = ctx.inbox / f"{unit}-{period}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    doc = Document(source="folder", source_ref=str(path.relative_to(ctx.data_dir)), filename=path.name,
                   content=data, received_at=datetime.fromisoformat(when).replace(tzinfo=TZ))
    process_documents(ctx, ctx.period(period), [doc])


@pytest.fixture
def web(config_dir: Path, tmp_path: Path):
    from tasks.context import open_context

    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")
    for unit in ("VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "TĐKT", "BTG", "VTLT"):
        _folder(ctx, unit, "2021-02", "2021-02-15T10:00" if unit != "XDCQ" else "2021-02-19T10:00")
    for unit, when in (("VP", "2021-03-15T09:12"), ("TTr", "2021-03-15T09:30"), ("TCBC", "2021-03-15T09:40")):
        _folder(ctx, unit, "2021-03", when)
    clock = Clock(datetime(2021, 3, 16, 10, 5, tzinfo=TZ))
    recorder = Recorder()

    def on_decision(c: Context, decision: object) -> None:
        recorder.decisions.append(decision)
        if decision.approved:  # type: ignore[attr-defined]
            deliver(c, decision.period)  # type: ignore[attr-defined]  # what the approval trigger starts

    from flows.web import create_app

    app = create_app(lambda: ctx, secret=SECRET, starter=recorder, on_decision=on_decision, now=clock)
    with live_server(app) as base:
        yield ctx, base, clock, recorder


def _login(page, base: str, user: str, password: str, then: str = "/") -> None:
    page.goto(f"{base}/dang-nhap?tiep={then}")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")


def _clerk_at_board(browser, base: str, period: str = "2021-03"):
    """The Office clerk, logged in, on the period's board."""
    clerk = browser.new_page()
    _login(clerk, base, "vanphong", PASSWORDS["vanphong"])
    clerk.goto(f"{base}/bang/{period}")
    return clerk


def test_unit_uploads_wrong_then_right_file_and_clerk_sees_board_change(web, tmp_path: Path) -> None:
    from flows.web import unit_link

    ctx, base, clock, recorder = web
    shots = tmp_path / "screenshots"
    link = unit_link(ctx, SECRET, "CCHC", ctx.period("2021-03")).replace("http://127.0.0.1:8080", base)
    wrong, right = tmp_path / "CCHC lan 1.xlsx", tmp_path / "CCHC lan 2.xlsx"
    wrong.write_bytes(filled(ctx, "CCHC", "2021-03", W01="9 tin", H02=None, K02=""))
    right.write_bytes(filled(ctx, "CCHC", "2021-03"))

    with chromium() as browser:
        clerk = browser.new_page()
        _login(clerk, base, "vanphong", PASSWORDS["vanphong"])
        assert clerk.url == f"{base}/bang/2021-04" or clerk.url.endswith("/bang/2021-03") or "/bang/" in clerk.url
        clerk.goto(f"{base}/bang/2021-03")
        row = clerk.locator("#unit-CCHC")
        assert "Chưa báo cáo" in row.inner_text()
        assert "3/9" in clerk.locator(".stats").inner_text()

        # the unit, on its phone, with only its link
        phone = browser.browser.new_context(locale="vi-VN", viewport={"width": 390, "height": 844},
                                            is_mobile=True, has_touch=True)
        unit = phone.new_page()
        unit.goto(link)
        body = unit.locator("main").inner_text()
        assert "Phòng Cải cách hành chính" in body and "16/03/2021" in body and "Chưa báo cáo" in body
        unit.set_input_files("#file", str(wrong))
        unit.click("text=Gửi báo cáo")
        result = unit.locator("#result").inner_text()
        assert "chưa hợp lệ" in result
        assert "ô E10" in result and "“9 tin” không phải là số nguyên" in result
        cells = unit.locator("#cells").inner_text()
        assert "E10" in cells and "9 tin" in cells
        screenshot(unit, shots, "nop-bao-cao-loi")

        unit.set_input_files("#file", str(right))
        unit.click("text=Gửi báo cáo")
        result = unit.locator("#result").inner_text()
        assert "Báo cáo hợp lệ, đã được ghi nhận" in result
        assert unit.locator("#status").inner_text() == "Đúng hạn"
        screenshot(unit, shots, "nop-bao-cao-hop-le")
        unit.click("#fill-link")  # the same report as a form in the page, opened with the unit's values
        assert unit.input_value("#v_W01") == "9" and unit.input_value("#v_H02") == "150"
        screenshot(unit, shots, "nhap-tren-trang", full_page=False)
        phone.close()

        # the board changes: CCHC on time, two versions with the cells that changed
        clerk.reload()
        row = clerk.locator("#unit-CCHC")
        assert "Đúng hạn" in row.inner_text() and "2 lần" in row.inner_text()
        assert "Trang web" in row.inner_text() and "10:05 16/03/2021" in row.inner_text()
        assert "4/9" in clerk.locator(".stats").inner_text() and "44,4%" in clerk.locator(".stats").inner_text()
        grid = clerk.locator("#grid").inner_text()
        assert "02/2021" in grid and "03/2021" in grid and "100%" in grid
        screenshot(clerk, shots, "bang-theo-doi")
        clerk.click("#unit-CCHC >> text=2 lần")
        lan2 = clerk.locator("#lan-2").inner_text()
        assert "Thay đổi so với lần 1" in lan2
        w01 = clerk.locator("#lan-2 tr", has_text="(W01)").inner_text()
        assert "(trống)" in w01 and "9" in w01
        assert clerk.locator("#lan-1 a", has_text="Tải tệp gốc").count() == 1
        with clerk.expect_download() as dl:
            clerk.click("#lan-1 >> text=Tải tệp gốc")
        assert Path(dl.value.path()).read_bytes() == wrong.read_bytes()
        screenshot(clerk, shots, "cac-lan-gui")

        # an operator button starts the consolidation deployment
        clerk.goto(f"{base}/bang/2021-03")
        clerk.click("text=Tổng hợp báo cáo")
        notice = clerk.locator(".notice").inner_text()
        assert notice == "Đã khởi chạy: Tổng hợp báo cáo tháng 3 năm 2021. Tải lại trang sau ít phút để thấy kết quả."
        assert "lượt-chạy" not in notice  # the run's reference is in the audit log, not for the clerk
        assert recorder.started == [("consolidate_report", {"period": "2021-03"})]


def test_director_reads_draft_approves_with_number_and_date_and_delivery_eml_appears(web, tmp_path: Path) -> None:
    ctx, base, clock, recorder = web
    shots = tmp_path / "screenshots"
    consolidate(ctx, "2021-03")
    clock.now = datetime(2021, 3, 18, 8, 30, tzinfo=TZ)
    with chromium() as browser:
        page = browser.new_page()
        _login(page, base, "giamdoc", PASSWORDS["giamdoc"], then="/duyet/2021-03")
        assert page.url == f"{base}/duyet/2021-03"
        draft = page.locator("#draft").inner_text()
        assert "BÁO CÁO" in draft and "Kính gửi" in draft and "SỞ NỘI VỤ" in draft
        figures = page.locator("#figures").inner_text()
        assert "Kỳ này" in figures and "Kỳ trước" in figures
        assert "3/9" in page.locator("main").inner_text()
        screenshot(page, shots, "phe-duyet", full_page=False)

        page.fill("#document_number", "")
        page.click("text=Phê duyệt và ban hành")
        assert "nhập số ký hiệu" in page.locator(".error").inner_text()
        page.click("text=Trả lại Văn phòng")  # no reason: refused
        assert "phải ghi rõ lý do" in page.locator(".error").inner_text()
        assert recorder.decisions == []

        page.fill("#document_number", "15/BC-SNV")
        page.fill("#issue_date", "18/03/2021")
        page.click("text=Phê duyệt và ban hành")
        text = page.locator("#decision").inner_text()
        assert "Đã phê duyệt" in text and "15/BC-SNV" in text and "18/03/2021" in text
        assert "Bàng Quốc Việt" in text
        screenshot(page, shots, "da-phe-duyet", full_page=False)

    from flows.approval import draft_digests
    from tasks.approvals import latest_decision

    d = latest_decision(ctx.ledger, ctx.cfg.report.id, "2021-03")
    assert d is not None and d.approved and d.document_number == "15/BC-SNV"
    assert d.issue_date.isoformat() == "2021-03-18" and d.username == "giamdoc"
    out = ctx.data_dir / "reports" / "2021-03"
    assert d.sha256 == draft_digests(ctx, ctx.period("2021-03"), out) and set(d.sha256) >= {
        "cchc-tuyen-truyen-2021-03.docx", "cchc-tuyen-truyen-2021-03.xlsx", "cchc-tuyen-truyen-2021-03.json"}
    assert recorder.decisions == [d]
    emls = sorted((ctx.outbox / "2021-03").rglob("*.eml"))
    delivery = [p for p in emls if "delivery" in p.as_posix()]
    assert delivery, emls
    assert b"cchc-tuyen-truyen" in delivery[0].read_bytes() or b"B=C3=A1o c=C3=A1o" in delivery[0].read_bytes() \
        or len(delivery[0].read_bytes()) > 10_000


def test_wrong_password_expired_link_and_forged_csrf_are_refused(web, tmp_path: Path) -> None:
    from flows.web import unit_link

    ctx, base, clock, recorder = web
    with chromium() as browser:
        page = browser.new_page()
        _login(page, base, "vanphong", "sai-mat-khau")
        assert page.locator(".error").inner_text() == "Tên đăng nhập hoặc mật khẩu không đúng."
        assert "/dang-nhap" in page.url
        page.goto(f"{base}/bang/2021-03")
        assert "/dang-nhap" in page.url  # still not logged in

        link = unit_link(ctx, SECRET, "XDCQ", ctx.period("2021-03")).replace("http://127.0.0.1:8080", base)
        page.goto(link)
        page.locator("input[name=csrf]").first.evaluate("e => e.value = 'gia-mao'")
        page.set_input_files("#file", files=[{"name": "XDCQ.xlsx", "mimeType": "application/octet-stream",
                                               "buffer": filled(ctx, "XDCQ", "2021-03")}])
        page.click("text=Gửi báo cáo")
        assert page.locator("h1").inner_text() == "Yêu cầu không hợp lệ"
        assert not [s for s in ctx.ledger.submissions(ctx.cfg.report.id, "2021-03") if s.unit_code == "XDCQ"]

        clock.now = datetime(2021, 3, 19, 8, 0, tzinfo=TZ)  # after the report deadline (18/03/2021)
        response = page.goto(link)
        assert response is not None and response.status == 410
        assert page.locator("h1").inner_text() == "Đường dẫn đã hết hạn"
        assert page.locator("form").count() == 0
        screenshot(page, tmp_path / "screenshots", "duong-dan-het-han")

        forged = re.sub(r"/nop/(.)", lambda m: "/nop/" + ("A" if m[1] != "A" else "B"), link)
        response = page.goto(forged)
        assert response is not None and response.status == 404
        assert page.locator("h1").inner_text() == "Đường dẫn không hợp lệ"


def test_the_clerk_sees_on_the_board_that_a_spreadsheet_could_not_be_read(config_dir: Path, tmp_path: Path) -> None:
    """A spreadsheet not shared with baocao's account stops its units' reports while every run succeeds: the
    board says so in red, above the figures, with what to do; once a collect reads it, the notice is gone."""
    from flows.web import create_app
    from tasks.channel_health import record_channel_health
    from tasks.context import open_context
    from tasks.types import Outcome, OutcomeStatus
    from tests.helpers import reconfigure

    reconfigure(config_dir, {"sheets": {"enabled": True, "spreadsheet_id": "1bAoCaO-huyen-Son_Duong"}},
                dict.fromkeys(("VP", "TTr", "TCBC"), "sheet"))
    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")
    why = ("Chưa thu được báo cáo kỳ 2021-03 của 3 đơn vị dùng Google Sheets ở bảng tính 1bAoCaO-huyen-Son_Duong; "
           "các đơn vị khác vẫn được thu. Hãy chia sẻ bảng tính cho tài khoản dịch vụ với quyền chỉnh sửa.")
    record_channel_health(ctx, "sheet", [Outcome("sheet:1bAoCaO-huyen-Son_Duong", OutcomeStatus.ERROR, reason=why)],
                          now=datetime(2021, 3, 16, 9, 45, tzinfo=TZ))
    app = create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(datetime(2021, 3, 16, 10, 5, tzinfo=TZ)))
    with live_server(app) as base, chromium() as browser:
        clerk = _clerk_at_board(browser, base)
        alert = clerk.get_by_role("alert")
        assert alert.inner_text().split("\n")[0] == (
            "Lần thu gần nhất không đọc được 1 nguồn báo cáo; báo cáo của các đơn vị gửi qua đó chưa được thu:")
        shown = alert.inner_text()
        assert f"Bảng tính Google 1bAoCaO-huyen-Son_Duong: {why} Lỗi từ 09:45 16/03/2021" in shown
        assert alert.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 232, 230)"  # the error red
        screenshot(clerk, tmp_path / "screenshots", "board-channel-problem", docs=False, full_page=False)
        record_channel_health(ctx, "sheet", [])  # the Office shared it; the next collect read it
        clerk.reload()
        assert clerk.get_by_role("alert").count() == 0


def test_the_clerk_finds_a_commune_among_hundreds_on_the_board(config_dir: Path, tmp_path: Path) -> None:
    """A province's board lists the units needing attention, 100 a page: the clerk moves between pages, picks
    a status and finds a commune by typing its name without Vietnamese marks."""
    from flows.web import create_app
    from tasks.context import open_context
    from tests.helpers import add_communes

    add_communes(config_dir, 241, "Xã Đồng số {i}")
    add_accounts(config_dir)
    ctx = open_context(config_dir, tmp_path / "data")
    _folder(ctx, "VP", "2021-03", "2021-03-15T09:12")
    app = create_app(lambda: ctx, secret=SECRET, starter=Recorder(), now=Clock(datetime(2021, 3, 16, 10, 5, tzinfo=TZ)))
    with live_server(app) as base, chromium() as browser:
        clerk = _clerk_at_board(browser, base)
        rows = clerk.locator("#units tbody tr")
        assert rows.count() == 100
        assert clerk.locator("#unit-count").inner_text() == (
            "Đang xem 1–100 trong 249 đơn vị thuộc mục “cần chú ý” (tổng số 250 đơn vị).")
        clerk.get_by_role("link", name="Trang sau →").first.click()
        clerk.wait_for_url("**trang=2")
        assert rows.first.get_attribute("id") == "unit-X092"  # 8 of the office's units and X000-X091 before
        clerk.get_by_role("link", name=re.compile(r"^Đúng hạn")).click()
        assert [r.get_attribute("id") for r in rows.all()] == ["unit-VP"]
        clerk.get_by_role("link", name=re.compile(r"^Tất cả")).click()
        clerk.get_by_role("searchbox", name="Tìm đơn vị").fill("xa dong so 24")
        clerk.keyboard.press("Enter")
        clerk.wait_for_url("**tim=xa+dong+so+24")
        assert [r.get_attribute("id") for r in rows.all()] == [
            "unit-X024", "unit-X240"]
        assert clerk.locator("#unit-count").inner_text() == (
            "Đang xem 2 đơn vị có mã hoặc tên chứa “xa dong so 24” (tổng số 250 đơn vị).")
        assert clerk.locator("#grid td.unit").all_inner_texts() == ["X024", "X240"]
        screenshot(clerk, tmp_path / "screenshots", "board-search", docs=False, full_page=False)


def _within_screen(page, selector: str) -> bool:
    """The element is wholly inside the visible width of the page (not cut off at its right edge)."""
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]


def test_the_clerks_board_fits_a_phone(web, tmp_path: Path) -> None:
    """On a 390 px phone the page itself never scrolls sideways: the search box narrows so its button stays on
    the screen."""
    ctx, base, clock, recorder = web
    with chromium(width=390, height=844) as browser:
        clerk = _clerk_at_board(browser, base)
        assert clerk.evaluate("document.documentElement.scrollWidth") <= 390
        assert _within_screen(clerk, "#unit-filter button[type=submit]")
        assert _within_screen(clerk, "#tim")
        screenshot(clerk, tmp_path / "screenshots", "board-phone", docs=False, full_page=False)


def test_on_a_phone_the_clerk_reads_which_inbox_files_the_latest_collect_could_not_read(web, tmp_path: Path) -> None:
    """A file the service may not read, under a long name without spaces, is named on the board with what to
    do, wrapped inside a phone's width; once a collect reads it the notice is gone."""
    from tasks.channels.folder import UNREADABLE, record_skipped

    ctx, base, clock, recorder = web
    name = "inbox/Phong_Cai_cach_hanh_chinh/BaoCao_TuyenTruyen_CCHC_thang03nam2021_ban_chinh_thuc_da_ky_so.xlsx"
    record_skipped(ctx, [(name, UNREADABLE)], datetime(2021, 3, 16, 9, 45, tzinfo=TZ))
    with chromium(width=390, height=844) as browser:
        clerk = _clerk_at_board(browser, base)
        notice = clerk.locator("#inbox-skipped")
        text = notice.inner_text()
        assert text.startswith("Lần thu lúc 09:45 16/03/2021 chưa đọc được 1 tệp trong thư mục nhận báo cáo")
        assert name in text and "Cần làm: Cấp quyền đọc tệp cho tài khoản" in text
        assert clerk.evaluate("document.documentElement.scrollWidth") <= 390
        assert _within_screen(clerk, "#inbox-skipped")
        screenshot(clerk, tmp_path / "screenshots", "board-inbox-skipped-phone", docs=False, full_page=False)
        record_skipped(ctx, [], datetime(2021, 3, 16, 10, 0, tzinfo=TZ))  # the next collect read it
        clerk.reload()
        assert clerk.locator("#inbox-skipped").count() == 0


def test_on_a_phone_the_period_grid_opens_on_the_latest_periods_with_the_unit_codes(web, tmp_path: Path) -> None:
    """Twelve periods do not fit 390 px: the grid scrolls sideways inside its box, opened at this period (not at
    last year's empty columns), and the unit codes stay on the left while it scrolls."""
    ctx, base, clock, recorder = web
    with chromium(width=390, height=844) as browser:
        clerk = _clerk_at_board(browser, base)
        grid = clerk.locator("#grid")
        grid.scroll_into_view_if_needed()
        assert grid.locator("th a", has_text="03/2021").is_visible()
        assert _within_screen(clerk, "#grid th a:text-is('03/2021')")
        assert _within_screen(clerk, "#grid th a:text-is('02/2021')")
        assert not _within_screen(clerk, "#grid th a:text-is('04/2020')")  # the oldest: scrolled to on request
        assert _within_screen(clerk, "#grid td.unit:text-is('CCHC')")
        assert clerk.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(clerk, tmp_path / "screenshots", "board-grid-phone", docs=False, full_page=False)
        grid.locator("xpath=..").evaluate("e => e.scrollBy(-2000, 0)")  # the clerk swipes to last year
        assert _within_screen(clerk, "#grid th a:text-is('04/2020')")
        assert _within_screen(clerk, "#grid td.unit:text-is('CCHC')")  # the codes stay
    with chromium() as browser:  # a desktop shows all twelve, oldest first
        clerk = _clerk_at_board(browser, base)
        heads = clerk.locator("#grid thead th").all_inner_texts()
        assert heads[1] == "04/2020" and heads[-1] == "03/2021"
        assert _within_screen(clerk, "#grid th a:text-is('04/2020')")
        assert _within_screen(clerk, "#grid th a:text-is('03/2021')")


def test_a_unit_whose_mailed_report_was_returned_reads_why_on_its_page(web, tmp_path: Path) -> None:
    """A unit whose file (from the folder or mail) was returned opens its link later: the page says what to fix,
    not only "Bị trả lại"; once a right file is taken, the reasons are gone."""
    from flows.web import unit_link

    ctx, base, clock, recorder = web
    _folder(ctx, "CCVC", "2021-03", "2021-03-15T16:20", W01="9 tin")
    link = unit_link(ctx, SECRET, "CCVC", ctx.period("2021-03")).replace("http://127.0.0.1:8080", base)
    with chromium(width=390, height=844) as browser:
        unit = browser.new_page()
        unit.goto(link)
        assert unit.locator("#status").inner_text() == "Bị trả lại"
        returned = unit.locator("#returned").inner_text()
        assert "gửi lúc 16:20 15/03/2021 chưa hợp lệ" in returned
        assert "ô E10" in returned and "“9 tin” không phải là số nguyên" in returned
        assert unit.locator("#returned a", has_text="nhập số liệu ngay trên trang").count() == 1
        screenshot(unit, tmp_path / "screenshots", "don-vi-bi-tra-lai", docs=False, full_page=False)
        unit.set_input_files("#file", files=[{"name": "CCVC.xlsx", "mimeType": "application/octet-stream",
                                               "buffer": filled(ctx, "CCVC", "2021-03")}])
        unit.click("text=Gửi báo cáo")
        assert "Báo cáo hợp lệ, đã được ghi nhận" in unit.locator("#result").inner_text()
        unit.goto(link)
        assert unit.locator("#status").inner_text() == "Đúng hạn" and unit.locator("#returned").count() == 0


def test_the_director_reads_the_draft_on_a_phone_without_the_page_scrolling_sideways(web, tmp_path: Path) -> None:
    """The draft's wide annex table scrolls inside its own box; the page, the document's heading and the
    decision form stay within the 390 px screen."""
    ctx, base, clock, recorder = web
    consolidate(ctx, "2021-03")
    with chromium(width=390, height=844) as browser:
        page = browser.new_page()
        _login(page, base, "giamdoc", PASSWORDS["giamdoc"], then="/duyet/2021-03")
        page.wait_for_url("**/duyet/2021-03")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert _within_screen(page, "#draft")
        assert _within_screen(page, "#draft p:has-text('CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM')")
        for field in ("#document_number", "#issue_date", "#reason", "text=Phê duyệt và ban hành"):
            page.locator(field).scroll_into_view_if_needed()
            assert _within_screen(page, field), field
        screenshot(page, tmp_path / "screenshots", "phe-duyet-dien-thoai", docs=False, full_page=False)
