"""A mailbox or spreadsheet no collect can read for hours: the operator gets one mail, and one when it is back.

The board shows such a place from the first failing collect, but nobody watches it at night or over a weekend;
the mail is what reaches the Office before the units' deadline passes.
"""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tasks.channel_health import channel_alert_mails, channel_problems, forget_unpolled, record_channel_health
from tasks.config import ConfigError
from tasks.context import Context, open_context
from tasks.periods import TZ
from tasks.sending import dispatch
from tasks.types import Outcome, OutcomeStatus
from tests.helpers import reconfigure

PERIOD = "2021-03"
START = datetime(2021, 3, 12, 18, 0, tzinfo=TZ)  # a Friday evening
DOWN = "Không thu được thư: Máy chủ IMAP mail.snv:993 từ chối kết nối (không có dịch vụ nào ở cổng này)."
BOARD = "http://127.0.0.1:8080/bang/2021-03"


def _collect(ctx: Context, at: datetime, reachable: bool) -> tuple[list[str], list[str]]:
    """What one collect of the mailbox at `at` does for the operator: (messages written, messages skipped)."""
    return _look(ctx, "email", at, [] if reachable else [Outcome("email:", OutcomeStatus.ERROR, reason=DOWN)])


def _look(ctx: Context, channel: str, at: datetime, outcomes: list[Outcome]) -> tuple[list[str], list[str]]:
    change = record_channel_health(ctx, channel, outcomes, now=at)
    report = dispatch(ctx, channel_alert_mails(ctx, ctx.period(PERIOD), change, BOARD))
    return report.written, report.skipped


def _eml(ctx: Context, kind: str) -> list[email.message.EmailMessage]:
    found = sorted((ctx.outbox / PERIOD / kind).glob("*.eml")) if (ctx.outbox / PERIOD / kind).exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in found]  # type: ignore[misc]


def _text(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return " ".join(part.get_content().split())


def test_a_mailbox_down_for_four_hours_is_mailed_once_and_its_return_once(config_dir: Path, tmp_path: Path) -> None:
    reconfigure(config_dir, {"imap": {"enabled": True}}, {"VP": "email", "BTG": "email"})
    ctx = open_context(config_dir, tmp_path / "data")
    for minutes in range(0, 240, 15):  # every collect of the first four hours: the board only
        assert _collect(ctx, START + timedelta(minutes=minutes), reachable=False) == ([], [])
    written, _ = _collect(ctx, START + timedelta(hours=4), reachable=False)
    assert written == ["channel_down:email:2021-03-12T18:00:00+07:00"]
    for minutes in (15, 30, 600):  # later collects of the same outage: nothing new
        assert _collect(ctx, START + timedelta(hours=4, minutes=minutes), reachable=False) == \
            ([], ["channel_down:email:2021-03-12T18:00:00+07:00"])
    (down,) = _eml(ctx, "channel_down")
    assert down["To"] == "vanphong@snv.tuyenquang.gov.vn"
    assert down["Subject"] == "[BC-CCHC 2021-03] Đã 4 giờ không đọc được hộp thư của Văn phòng"
    assert _text(down) == (
        "Kính gửi: Văn phòng Từ 18:00 ngày 12/03/2021 đến lần thu gần nhất (22:00 ngày 12/03/2021), hệ thống không "
        "đọc được Hộp thư của Văn phòng (2 đơn vị gửi báo cáo qua đó). Lý do: " + DOWN + " Trong thời gian này báo "
        "cáo của các đơn vị đó chưa được thu, và các đơn vị đó không bị nhắc báo cáo. Đề nghị Văn phòng kiểm tra, "
        f"khắc phục; bảng theo dõi: {BOARD}. Khi đọc lại được, hệ thống sẽ báo và thu ngay các báo cáo đang chờ.")
    assert _collect(ctx, START + timedelta(hours=15), reachable=True) == \
        (["channel_back:email:2021-03-12T18:00:00+07:00"], [])
    (back,) = _eml(ctx, "channel_back")
    assert back["Subject"] == "[BC-CCHC 2021-03] Đã đọc lại được hộp thư của Văn phòng"
    assert "Lần thu lúc 09:00 ngày 13/03/2021 đã đọc lại được Hộp thư của Văn phòng (2 đơn vị gửi báo cáo qua " \
           "đó), không đọc được từ 18:00 ngày 12/03/2021." in _text(back)
    assert _collect(ctx, START + timedelta(hours=15, minutes=15), reachable=True) == ([], [])
    # a new outage is a new mail, four hours after it began
    assert _collect(ctx, START + timedelta(days=1), reachable=False) == ([], [])
    assert _collect(ctx, START + timedelta(days=1, hours=4), reachable=False)[0] == \
        ["channel_down:email:2021-03-13T18:00:00+07:00"]


def test_a_short_outage_is_not_mailed_nor_its_end(config_dir: Path, tmp_path: Path) -> None:
    reconfigure(config_dir, {"imap": {"enabled": True}}, {"VP": "email"})
    ctx = open_context(config_dir, tmp_path / "data")
    assert _collect(ctx, START, reachable=False) == ([], [])
    assert _collect(ctx, START + timedelta(hours=3, minutes=59), reachable=False) == ([], [])
    assert _collect(ctx, START + timedelta(hours=4, minutes=15), reachable=True) == ([], [])
    assert not (ctx.outbox / PERIOD).exists()


def test_the_hours_are_configured_and_zero_means_never(config_dir: Path, tmp_path: Path) -> None:
    reconfigure(config_dir, {"imap": {"enabled": True}, "alert_after_hours": 0}, {"VP": "email"})
    ctx = open_context(config_dir, tmp_path / "data")
    assert _collect(ctx, START, reachable=False) == ([], [])
    assert _collect(ctx, START + timedelta(days=3), reachable=False) == ([], [])
    reconfigure(config_dir, {"alert_after_hours": 1.5}, {})
    ctx = open_context(config_dir, tmp_path / "data")
    assert _collect(ctx, START + timedelta(days=3, minutes=15), reachable=True) == ([], [])  # never mailed
    assert _collect(ctx, START + timedelta(days=4), reachable=False) == ([], [])
    assert _collect(ctx, START + timedelta(days=4, hours=1, minutes=29), reachable=False) == ([], [])
    assert _collect(ctx, START + timedelta(days=4, hours=1, minutes=30), reachable=False)[0] == \
        ["channel_down:email:2021-03-16T18:00:00+07:00"]
    (down,) = _eml(ctx, "channel_down")
    assert down["Subject"] == "[BC-CCHC 2021-03] Đã 1 giờ 30 phút không đọc được hộp thư của Văn phòng"
    for bad in (-1.0, float("inf"), 100000.0):  # a value that could stop every collect is refused on load
        reconfigure(config_dir, {"alert_after_hours": bad}, {})
        with pytest.raises(ConfigError, match="alert_after_hours"):
            open_context(config_dir, tmp_path / "data")


SID, DISTRICT = "1bAoCaO-kenh-sheets", "1bAoCaO-huyen-Son_Duong"
REFUSED = "Chưa thu được báo cáo kỳ 2021-03 của 1 đơn vị dùng Google Sheets ở bảng tính 1bAoCaO-huyen-Son_Duong."
ACCOUNT = "Chưa thu được báo cáo kỳ 2021-03 của 2 đơn vị dùng Google Sheets. Google Sheets từ chối tài khoản dịch vụ."


def _sheet_ctx(config_dir: Path, tmp_path: Path) -> Context:
    import yaml

    reconfigure(config_dir, {"imap": {"enabled": True}, "sheets": {"enabled": True, "spreadsheet_id": SID}},
                {"VP": "email", "CCHC": "sheet", "BTG": "sheet"})
    units_path = config_dir / "units.yaml"
    data = yaml.safe_load(units_path.read_text(encoding="utf-8"))
    for unit in data["units"]:
        if unit["code"] == "BTG":
            unit["spreadsheet"] = DISTRICT
    units_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return open_context(config_dir, tmp_path / "data")


def test_a_collect_mails_only_about_the_places_it_tried(config_dir: Path, tmp_path: Path) -> None:
    """The Sheets collect runs before the mailbox's: it must not mail about the mailbox (whose record is from
    the previous collect) nor count the outage to a time the mailbox was not looked at."""
    ctx = _sheet_ctx(config_dir, tmp_path)
    down = [Outcome("email:", OutcomeStatus.ERROR, reason=DOWN)]
    assert _look(ctx, "email", START, down) == ([], [])
    assert _look(ctx, "email", START + timedelta(hours=3, minutes=45), down) == ([], [])
    assert _look(ctx, "sheet", START + timedelta(hours=4, minutes=5), []) == ([], [])
    assert _look(ctx, "email", START + timedelta(hours=4, minutes=6), down)[0] == \
        ["channel_down:email:2021-03-12T18:00:00+07:00"]
    (mail,) = _eml(ctx, "channel_down")
    assert mail["Subject"] == "[BC-CCHC 2021-03] Đã 4 giờ 6 phút không đọc được hộp thư của Văn phòng"


def test_the_account_back_with_a_spreadsheet_still_refused_is_not_all_clear(config_dir: Path, tmp_path: Path) -> None:
    """Google refused the service account for hours (mailed); then the account works but the district's
    spreadsheet is still not shared: no "read again" for Sheets, and the spreadsheet, unread since the account
    outage began, is mailed at once."""
    ctx = _sheet_ctx(config_dir, tmp_path)
    account = [Outcome("sheet:", OutcomeStatus.ERROR, reason=ACCOUNT)]
    assert _look(ctx, "sheet", START, account) == ([], [])
    assert _look(ctx, "sheet", START + timedelta(hours=4), account)[0] == \
        ["channel_down:sheet:2021-03-12T18:00:00+07:00"]
    (mail,) = _eml(ctx, "channel_down")
    assert mail["Subject"] == "[BC-CCHC 2021-03] Đã 4 giờ không đọc được Google Sheets (mọi bảng tính)"
    assert "Lý do: " + ACCOUNT in _text(mail)
    refused = [Outcome(f"sheet:{DISTRICT}", OutcomeStatus.ERROR, reason=REFUSED)]
    assert _look(ctx, "sheet", START + timedelta(hours=5), refused)[0] == \
        [f"channel_down:sheet:{DISTRICT}:2021-03-12T18:00:00+07:00"]
    assert [p.channel for p in channel_problems(ctx)] == [f"sheet:{DISTRICT}"]
    assert not (ctx.outbox / PERIOD / "channel_back").exists()
    assert _look(ctx, "sheet", START + timedelta(hours=6), [])[0] == \
        [f"channel_back:sheet:{DISTRICT}:2021-03-12T18:00:00+07:00"]
    (back,) = _eml(ctx, "channel_back")
    assert back["Subject"] == f"[BC-CCHC 2021-03] Đã đọc lại được bảng tính Google {DISTRICT}"


def test_an_account_refusal_leaves_the_spreadsheets_records_as_they_were(config_dir: Path, tmp_path: Path) -> None:
    """Nothing was tried behind a refused account: a spreadsheet's own outage is neither cleared nor extended."""
    ctx = _sheet_ctx(config_dir, tmp_path)
    _look(ctx, "sheet", START, [Outcome(f"sheet:{DISTRICT}", OutcomeStatus.ERROR, reason=REFUSED)])
    _look(ctx, "sheet", START + timedelta(hours=1), [Outcome("sheet:", OutcomeStatus.ERROR, reason=ACCOUNT)])
    assert [(p.channel, p.since, p.last) for p in channel_problems(ctx)] == [
        ("sheet", START + timedelta(hours=1), START + timedelta(hours=1)),
        (f"sheet:{DISTRICT}", START, START)]


def test_a_place_no_longer_polled_is_forgotten_and_a_new_failure_is_a_new_outage(config_dir: Path,
                                                                                tmp_path: Path) -> None:
    """The mailbox failed, then IMAP was turned off for weeks; turned on again and failing, it is a new
    outage: no "Đã 500 giờ" at once, the board counts from then, the mail comes four hours later. A
    spreadsheet taken out of units.yaml while failing is forgotten the same way; the others are kept."""
    ctx = _sheet_ctx(config_dir, tmp_path)
    _look(ctx, "email", START, [Outcome("email:", OutcomeStatus.ERROR, reason=DOWN)])
    _look(ctx, "sheet", START, [Outcome(f"sheet:{DISTRICT}", OutcomeStatus.ERROR, reason=REFUSED)])
    forget_unpolled(ctx)  # every collect: both still polled, both kept
    assert [p.channel for p in channel_problems(ctx)] == ["email", f"sheet:{DISTRICT}"]
    reconfigure(config_dir, {"imap": {"enabled": False}}, {"BTG": "folder"})
    forget_unpolled(open_context(config_dir, tmp_path / "data"))
    reconfigure(config_dir, {"imap": {"enabled": True}}, {"BTG": "sheet"})
    ctx = open_context(config_dir, tmp_path / "data")
    assert channel_problems(ctx) == []
    later = START + timedelta(days=21)
    assert _collect(ctx, later, reachable=False) == ([], [])
    (problem,) = channel_problems(ctx)
    assert (problem.channel, problem.since, problem.last) == ("email", later, later)
    assert _collect(ctx, later + timedelta(hours=4), reachable=False)[0] == \
        ["channel_down:email:2021-04-02T18:00:00+07:00"]


def test_two_collects_finishing_out_of_order_leave_what_the_later_look_found(config_dir: Path, tmp_path: Path) -> None:
    """The schedule's collect and one started by hand: the one that looked earlier but finishes last neither
    marks a mailbox failing that the other read after it, nor clears one the other found down after it."""
    reconfigure(config_dir, {"imap": {"enabled": True}}, {"VP": "email"})
    ctx = open_context(config_dir, tmp_path / "data")
    _collect(ctx, START, reachable=False)
    _collect(ctx, START + timedelta(minutes=20), reachable=True)  # read again at 18:20
    assert _collect(ctx, START + timedelta(minutes=10), reachable=False) == ([], [])  # looked at 18:10, done later
    assert channel_problems(ctx) == []
    _collect(ctx, START + timedelta(hours=1), reachable=False)  # down again at 19:00
    _collect(ctx, START + timedelta(minutes=50), reachable=True)  # read at 18:50, finished after
    [problem] = channel_problems(ctx)
    assert (problem.since, problem.last) == (START + timedelta(hours=1), START + timedelta(hours=1))
    _collect(ctx, START + timedelta(hours=5), reachable=False)  # still down: four hours after 19:00 it is mailed
    assert [m["Subject"] for m in _eml(ctx, "channel_down")] == \
        ["[BC-CCHC 2021-03] Đã 4 giờ không đọc được hộp thư của Văn phòng"]
