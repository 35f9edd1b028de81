"""What units read: rejections that hand back their own values, instructions per channel, overdue reminders,
receipts for accepted reports, and unit data never read as a template."""

import io
import unicodedata
from datetime import date, datetime

from openpyxl import load_workbook

from tasks.collect import process_document, process_documents
from tasks.intake import parse_grid, read_grid
from tasks.messages import receipt_mail, rejection_mail, reminder_mail, request_mail
from tasks.periods import TZ
from tasks.remind import reminder_mails
from tasks.replies import receipt_mails, rejection_mails
from tasks.samples import drop_samples
from tasks.sending import dispatch
from tasks.types import Document, MessageKind, message_key
from tasks.validation import check_submission
from tasks.workbook import FAULT_FILL
from tests.helpers import filled, folder_documents

PERIOD = "2021-03"
RED = "FF" + FAULT_FILL[1:]
REPLY = "trả lời thư này"


def _collect(ctx):
    return process_documents(ctx, ctx.period(PERIOD), folder_documents(ctx))


def _rows(data):
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    return ws, {ws.cell(r, 2).value: r for r in range(9, ws.max_row + 1) if ws.cell(r, 2).value}


def test_rejection_hands_back_the_units_own_values_with_the_faults_marked(ctx, monkeypatch):
    import tasks.channels.base as base

    drop_samples(ctx, PERIOD)
    outcomes = _collect(ctx)
    blank: list[str] = []
    real = base.unit_workbook
    monkeypatch.setattr(base, "unit_workbook", lambda c, unit, p: blank.append(unit.code) or real(c, unit, p))
    mails = {m.unit_code: m for m in rejection_mails(ctx, outcomes)}
    assert blank == []  # the refilled workbook is the only one made (no blank one made and dropped)
    assert set(mails) == {"CCHC", "TĐKT"}  # 'ghi chu.txt' names no unit and came from no known sender
    cchc = mails["CCHC"]
    [att] = cchc.attachments
    assert att.filename == "BC-CCHC-2021-03-CCHC.xlsx"
    ws, row = _rows(att.content)
    # what CCHC sent in 'CCHC lan 1.xlsx': W01 "9 tin" (not a number), H02 empty, K02 empty while K01 = 1
    assert ws.cell(row["W01"], 5).value == "9 tin"
    assert ws.cell(row["H01"], 5).value == 2 and ws.cell(row["H03"], 5).value == 5
    assert ws.cell(row["N01"], 5).value.startswith("Tổ chức Hội nghị hướng dẫn chấm điểm")
    for code in ("W01", "H02", "K02"):
        assert ws.cell(row[code], 5).fill.fgColor.rgb == RED, code
        assert ws.cell(row[code], 5).comment is not None, code
    assert ws.cell(row["H01"], 5).fill.fgColor.rgb != RED and ws.cell(row["H01"], 5).comment is None
    # fixing the three marked cells is enough
    grid = [list(r) for r in read_grid(att.content, att.filename)]
    grid[row["W01"] - 1][4], grid[row["H02"] - 1][4] = 9, 150
    grid[row["K02"] - 1][4] = "Cuộc thi trực tuyến tìm hiểu về cải cách hành chính"
    assert check_submission(ctx.cfg, parse_grid(grid), ctx.period(PERIOD)).errors == []
    # TĐKT's faulty -1 comes back as the number it typed, red
    ws, row = _rows(mails["TĐKT"].attachments[0].content)
    assert ws.cell(row["H03"], 5).value == -1 and ws.cell(row["H03"], 5).fill.fgColor.rgb == RED
    # the text says so, and tells a folder unit to put the file in the folder, never to reply
    assert "đã điền sẵn số liệu đơn vị gửi; các ô có lỗi được tô đỏ" in cchc.text
    assert "Cách gửi: điền vào tệp đính kèm (BC-CCHC-2021-03-CCHC.xlsx)" in cchc.text
    assert "chép tệp đã điền vào thư mục nhận báo cáo của Văn phòng Sở" in cchc.text
    assert REPLY not in cchc.text and REPLY not in cchc.html


def test_a_mail_with_nothing_readable_gets_the_blank_template(ctx):
    unit = ctx.cfg.unit("CCHC")
    doc = Document(source="email", source_ref="<m1@x>#", filename="(không có tệp đính kèm)", content=b"raw",
                   received_at=datetime(2021, 3, 15, 9, 0, tzinfo=TZ), sender=unit.emails[0], message_id="<m1@x>",
                   claimed_unit="CCHC", unreadable="Thư không có tệp bảng tính báo cáo đính kèm.")
    outcome = process_document(ctx, ctx.period(PERIOD), doc)
    [mail] = rejection_mails(ctx, [outcome])
    [att] = mail.attachments
    sheet = parse_grid(read_grid(att.content, att.filename))
    assert sheet.unit_code == "CCHC" and sheet.period_text == PERIOD
    assert all(v.raw in (None, "") for v in sheet.values.values())  # blank: nothing to refill
    assert "Biểu mẫu của kỳ này được gửi kèm để đơn vị điền lại." in mail.text
    assert "đã điền sẵn" not in mail.text


def test_request_and_reminder_say_how_to_submit_on_each_channel(ctx):
    period = ctx.period(PERIOD)
    deadline = ctx.unit_deadline(period)
    vp = ctx.cfg.unit("VP")
    folder = request_mail(ctx.cfg, vp, period, deadline, b"x", "BC-CCHC-2021-03-VP.xlsx")
    assert "rồi chép tệp đã điền vào thư mục nhận báo cáo của Văn phòng Sở." in folder.text
    assert REPLY not in folder.text and REPLY not in folder.html
    by_mail = request_mail(ctx.cfg, vp.model_copy(update={"channel": "email"}), period, deadline, b"x",
                           "BC-CCHC-2021-03-VP.xlsx")
    assert "rồi trả lời thư này, đính kèm tệp đã điền." in by_mail.text
    tab = "VP - Văn phòng Sở (2021-03)"
    sheet = reminder_mail(ctx.cfg, vp.model_copy(update={"channel": "sheet"}), period, deadline, date(2021, 3, 12),
                          None, "", [], sheet_tab=tab, sheet_url="https://docs.google.com/spreadsheets/d/abc")
    assert (f'Cách gửi: nhập số liệu trực tiếp trên trang tính của đơn vị "{tab}" '
            "(https://docs.google.com/spreadsheets/d/abc); hệ thống tự đọc số liệu") in sheet.text
    assert 'href="https://docs.google.com/spreadsheets/d/abc"' in sheet.html
    assert sheet.attachments == () and REPLY not in sheet.text


def test_a_reminder_after_the_deadline_says_the_report_is_overdue(ctx):
    period = ctx.period(PERIOD)
    deadline = ctx.unit_deadline(period)
    assert deadline == date(2021, 3, 16)
    mails = {m.unit_code: m for m in reminder_mails(ctx, period, date(2021, 3, 17), force=True)}
    assert len(mails) == 9
    btg = mails["BTG"]
    assert btg.subject.endswith("Nhắc gửi báo cáo tháng 3 năm 2021 (đã quá hạn ngày 16/03/2021)")
    assert "Báo cáo đã quá hạn ngày 16/03/2021, đề nghị đơn vị gửi ngay." in btg.text
    assert "quá hạn ngày 16/03/2021</b>, đề nghị đơn vị gửi ngay." in btg.html
    assert "còn" not in btg.subject and REPLY not in btg.text
    before = reminder_mails(ctx, period, date(2021, 3, 12), force=True)[0]
    assert before.subject.endswith("(còn 2 ngày làm việc)") and "quá hạn" not in before.text


def test_an_accepted_report_gets_a_receipt_once(ctx):
    drop_samples(ctx, PERIOD)
    outcomes = _collect(ctx)
    receipts = {m.unit_code: m for m in receipt_mails(ctx, outcomes)}
    # 8 accepted files; CCVC sent two, each acknowledged
    assert sorted(m.unit_code for m in receipt_mails(ctx, outcomes)) == [
        "CCHC", "CCVC", "CCVC", "TCBC", "TTr", "VP", "VTLT", "XDCQ"]
    vp = receipts["VP"]
    vp_id = next(o.submission_id for o in outcomes if o.unit_code == "VP")
    assert vp.key == message_key(MessageKind.RECEIPT, "cchc-tuyen-truyen", PERIOD, "VP", vp_id)
    assert vp.kind == "receipt" and vp.to == tuple(ctx.cfg.unit("VP").emails)
    assert vp.subject == "[BC-CCHC 2021-03 VP] Đã nhận báo cáo tháng 3 năm 2021 – hợp lệ, đúng hạn"
    assert ("Văn phòng Sở đã nhận báo cáo kết quả thực hiện công tác tuyên truyền cải cách hành chính tháng 3 "
            "năm 2021 của Văn phòng Sở (tệp \"VP - bao cao thang 3.xlsx\") lúc 09:12 ngày 15/03/2021, hợp lệ. "
            "Báo cáo gửi đúng hạn (hạn 16/03/2021).") in vp.text
    xdcq = receipts["XDCQ"]
    assert xdcq.subject.endswith("hợp lệ, muộn")
    assert "Báo cáo gửi muộn so với hạn ngày 16/03/2021." in xdcq.text
    assert vp.attachments == () and "Lưu ý" not in vp.text
    # sent once: the same outcomes answered again send nothing
    first = dispatch(ctx, receipt_mails(ctx, outcomes))
    assert len(first.written) + len(first.sent) == 8
    again = dispatch(ctx, receipt_mails(ctx, outcomes))
    assert again.written == [] and again.sent == [] and len(again.skipped) == 8


def test_a_receipt_lists_the_warnings(ctx):
    period = ctx.period(PERIOD)
    data = filled(ctx, "VP", H01=1, H02=900)  # H02 warn_above
    sheet = parse_grid(read_grid(data, "vp.xlsx"))
    warnings = [w.to_dict() for w in check_submission(ctx.cfg, sheet, period).warnings]
    assert warnings, "H02 = 900 is above its warning bound"
    mail = receipt_mail(ctx.cfg, ctx.cfg.unit("VP"), period, ctx.unit_deadline(period), "7", "vp.xlsx",
                        "10:00 ngày 15/03/2021", True, warnings)
    assert "Lưu ý (không bắt buộc sửa, đề nghị kiểm tra lại):" in mail.text
    assert warnings[0]["message"] in mail.text


def test_unit_data_is_shown_as_data_never_as_a_template(ctx):
    period = ctx.period(PERIOD)
    name = "{{ 7*7 }} <b>{% raw %}x</b>.xlsx"
    errors = [{"message": "Ô E9: giá trị “{{ cfg }}<script>alert(1)</script>” không phải là số nguyên.",
               "code": "W01", "value": "{{ cfg }}"}]
    nfd = unicodedata.normalize("NFD", "Văn bản gõ tổ hợp")
    mail = rejection_mail(ctx.cfg, ctx.cfg.unit("VP"), period, ctx.unit_deadline(period), "1", name,
                          "09:00 ngày 15/03/2021", errors, [{"message": nfd}], None, "")
    assert name in mail.text and "49" not in mail.text
    assert "{{ cfg }}<script>alert(1)</script>" in mail.text
    assert "&lt;script&gt;" in mail.html and "<script>" not in mail.html and "<b>{%" not in mail.html
    assert "{{ 7*7 }} &lt;b&gt;{% raw %}x&lt;/b&gt;.xlsx" in mail.html
    assert unicodedata.is_normalized("NFC", mail.text) and unicodedata.normalize("NFC", nfd) in mail.text


def test_units_whose_mailbox_could_not_be_read_are_not_reminded(ctx, config_dir):
    """Their reports may be in the mailbox the last collect could not reach: no "you have not reported" mail
    until it is read again (the board tells the Office)."""
    from tasks.channel_health import record_channel_health
    from tasks.context import open_context
    from tasks.types import Outcome, OutcomeStatus
    from tests.helpers import reconfigure

    reconfigure(config_dir, {"imap": {"enabled": True}}, {"VP": "email", "BTG": "email"})
    ctx = open_context(config_dir, ctx.data_dir)
    period = ctx.period(PERIOD)
    record_channel_health(ctx, "email", [Outcome("email:", OutcomeStatus.ERROR, reason="Máy chủ IMAP từ chối")])
    reminded = sorted(m.unit_code or "" for m in reminder_mails(ctx, period, date(2021, 3, 12), force=True))
    assert reminded == sorted(u.code for u in ctx.cfg.active_units if u.code not in ("VP", "BTG"))
    record_channel_health(ctx, "email", [])  # the next collect read the mailbox
    assert len(reminder_mails(ctx, period, date(2021, 3, 12), force=True)) == 9


def test_the_overdue_summary_names_thirty_units_a_list_and_links_the_rest(config_dir, tmp_path):
    """A province's 2,000 missing communes were 2,000 names in one mail: each list names 30 and links the
    board's page of the rest; the counts are the full ones."""
    from tasks.context import open_context
    from tasks.messages import overdue_mail
    from tests.helpers import add_communes

    communes = add_communes(config_dir, 2000, digits=4)
    ctx = open_context(config_dir, tmp_path / "data")
    completeness = {"expected_count": 2009, "missing_count": 2001, "accepted": ["VP", "TTr", "TCBC", "CCHC", "XDCQ",
                                                                                "CCVC", "TĐKT", "BTG"],
                    "on_time": ["VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "TĐKT"], "late": ["BTG"],
                    "rejected": ["VTLT"], "missing": ["VTLT", *communes]}
    board = "http://127.0.0.1:8080/bang/2021-03"
    mail = overdue_mail(ctx.cfg, ctx.period(PERIOD), date(2021, 3, 16), completeness, board)
    assert mail.subject == "[BC-CCHC 2021-03] Đôn đốc: 2.001 đơn vị chưa có báo cáo hợp lệ tháng 3 năm 2021"
    lines = mail.text.splitlines()
    assert lines[3] == "- Đã báo cáo hợp lệ: 8/2.009 đơn vị, trong đó đúng hạn 7, muộn 1."
    missing = "; ".join(f"Xã số {i} (X{i:04d})" for i in range(30))
    assert lines[4] == (f"- Chưa báo cáo (2.000): {missing}; và 1.970 đơn vị khác (xem đủ: {board}?loc=chua-bao-cao).")
    assert lines[5] == f"- Đã gửi nhưng chưa hợp lệ (1): {ctx.cfg.unit('VTLT').name} (VTLT)."
    assert lines[6] == "- Báo cáo muộn (1): Ban Tôn giáo (BTG)."
    assert len(mail.text) < 3000 and len(mail.html) < 6000
    assert f'và <a href="{board}?loc=chua-bao-cao">1.970 đơn vị khác</a>' in mail.html


def test_the_approval_mail_counts_the_missing_units_beyond_thirty(ctx):
    from tasks.messages import approval_mail

    missing = [f"X{i:04d}" for i in range(1234)]
    completeness = {"accepted_count": 8766, "expected_count": 10000, "on_time_count": 8000, "late_count": 766,
                    "missing": missing}
    mail = approval_mail(ctx.cfg, ctx.period(PERIOD), version="v1", url="http://127.0.0.1:8080/duyet/2021-03",
                         files=[], completeness=completeness)
    assert "- Đã báo cáo: 8.766/10.000 đơn vị (đúng hạn 8.000, muộn 766)." in mail.text
    assert f"- Chưa báo cáo: {', '.join(missing[:30])} và 1.204 đơn vị khác." in mail.text
    assert "X0030" not in mail.text and "X0030" not in mail.html


def test_reminders_go_a_page_of_units_at_a_time_and_none_twice(ctx):
    """Each reminder carries its unit's workbook: a province's are built and sent a page at a time (10,000 at
    once held 545 MB); every due unit gets one, and running it again sends none."""
    from tasks.remind import send_reminders

    period = ctx.period(PERIOD)
    report = send_reminders(ctx, period, date(2021, 3, 12), force=True, page=2)
    assert sorted(k.rsplit(":", 2)[-2] for k in report.written) == sorted(u.code for u in ctx.cfg.active_units)
    assert len(report.written) == 9 == len(list((ctx.outbox / PERIOD / "reminder").glob("*.eml")))
    again = send_reminders(ctx, period, date(2021, 3, 12), force=True, page=4)
    assert again.written == [] and len(again.skipped) == 9


def test_the_delivery_mail_to_ubnd_groups_its_counts_the_vietnamese_way(ctx):
    """The counts in the mail to UBND tỉnh read as in the report it carries: 9.970/10.000, not 9970/10000."""
    from tasks.messages import delivery_messages
    from tests.sample_consolidation import sample_consolidation

    c = sample_consolidation()
    c["completeness"].update(expected_count=10_000, accepted_count=9_970, on_time_count=9_000, missing_count=30,
                             reporting_rate=0.997, on_time_rate=0.9)
    [mail] = delivery_messages(ctx.cfg, ctx.period(PERIOD), c, [])
    line = ("9.970/10.000 đơn vị đã báo cáo (99,7%), đúng hạn 9.000 (90%), chưa báo cáo 30.")
    assert line in mail.text
    assert line.replace("9.970/10.000", "<b>9.970/10.000</b>") in mail.html
