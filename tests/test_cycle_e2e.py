"""One whole report cycle through the real Prefect engine, on the embedded default."""

import email
import io
import json
from datetime import date
from email import policy

import pytest
from docx import Document as Docx

from tasks.samples import drop_samples
from tests.helpers import approve

pytestmark = pytest.mark.slow


def _eml(path):
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_report_cycle_end_to_end(prefect_engine, ctx, config_dir, tmp_path):
    from flows.cycle import deliver_report, report_cycle

    out = tmp_path / "out"
    args = {"config_dir": str(config_dir), "data_dir": str(ctx.data_dir), "out_dir": str(out)}
    drop_samples(ctx, "2021-02")
    assert report_cycle(period="2021-02", **args)["delivered"]["status"] == "waiting"  # asked the Director
    approve(ctx, "2021-02", out, "12/BC-SNV", date(2021, 2, 22))
    assert deliver_report(period="2021-02", **args)["approved"] is True
    drop_samples(ctx, "2021-03")
    result = report_cycle(period="2021-03", today="2021-03-17", **args)
    assert result["delivered"]["status"] == "waiting"
    approve(ctx, "2021-03", out, "21/BC-SNV", date(2021, 3, 18))
    sent = deliver_report(period="2021-03", **args)
    assert sorted(sent["files"]) == ["docx", "xlsx"]  # no PDF under test (BAOCAO_NO_PDF)

    # collection: every new file has an outcome, none lost
    statuses = sorted(o["status"] for o in result["collected"]["outcomes"])
    assert statuses == ["accepted"] * 8 + ["rejected"] * 3

    # the JSON a user opens
    data = json.loads((out / "cchc-tuyen-truyen-2021-03.json").read_text(encoding="utf-8"))
    assert data["totals"]["W01"] == 38 and data["previous"]["totals"]["W01"] == 33
    assert data["year_to_date"]["W01"] == 71
    assert data["completeness"]["missing"] == ["TĐKT", "BTG"] and data["completeness"]["late"] == ["XDCQ"]

    # the document
    doc = Docx(str(out / "cchc-tuyen-truyen-2021-03.docx"))
    text = "\n".join(p.text for p in doc.paragraphs) + "\n".join(
        c.text for t in doc.tables for r in t.rows for c in r.cells)
    for line in ("UBND TỈNH TUYÊN QUANG", "SỞ NỘI VỤ", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                 "Độc lập - Tự do - Hạnh phúc", "Kính gửi: Ủy ban nhân dân tỉnh Tuyên Quang", "Bàng Quốc Việt",
                 "Lưu: VT, VP.", "Ban Tôn giáo"):
        assert line in text, line
    assert "38 tin, bài" in text

    # the annex workbook
    from python_calamine import CalamineWorkbook

    annex = CalamineWorkbook.from_path(str(out / "cchc-tuyen-truyen-2021-03.xlsx"))
    assert annex.sheet_names == ["Phụ lục", "Tình hình báo cáo", "Nội dung báo cáo"]

    # the outbox holds real MIME messages, one per key
    outbox = ctx.outbox / "2021-03"
    kinds = {p.name: len(list(p.glob("*.eml"))) for p in outbox.iterdir()}
    assert kinds == {"request": 9, "rejection": 2, "receipt": 8, "reminder": 2, "overdue": 1, "approval": 1,
                     "delivery": 1}
    delivery = _eml(next((outbox / "delivery").glob("*.eml")))
    assert delivery["To"] == "ubnd@tuyenquang.gov.vn"
    # what UBND tỉnh receives is the issued document: numbered, dated, no draft mark
    [docx] = [p for p in delivery.iter_attachments() if p.get_filename().endswith(".docx")]
    final = Docx(io.BytesIO(docx.get_content()))
    final_text = "\n".join(p.text for p in final.paragraphs) + "\n".join(
        c.text for t in final.tables for r in t.rows for c in r.cells)
    assert "21/BC-SNV" in final_text and "ngày 18 tháng 3 năm 2021" in final_text and "DỰ THẢO" not in final_text
    assert docx.get_content() == (out / "cchc-tuyen-truyen-2021-03-ban-hanh.docx").read_bytes()
    assert "giamdoc@snv.tuyenquang.gov.vn" in delivery["Cc"] and "vtlt@snv.tuyenquang.gov.vn" in delivery["Cc"]
    assert delivery["Subject"].startswith("[BC-CCHC 2021-03] Báo cáo kết quả thực hiện công tác tuyên truyền")
    names = sorted(part.get_filename() for part in delivery.iter_attachments())
    assert names == ["Báo cáo BC-CCHC 2021-03 - Phụ lục.xlsx", "Báo cáo BC-CCHC 2021-03.docx"]
    rejection = _eml(outbox / "rejection" / next(p.name for p in (outbox / "rejection").glob("*CCHC*")))
    body = rejection.get_body(("plain",)).get_content()
    assert "giá trị “9 tin” không phải là số nguyên" in body
    assert "H02" in body and "K02" in body
    overdue = _eml(next((outbox / "overdue").glob("*.eml")))
    assert "Ban Tôn giáo (BTG)" in overdue.get_body(("plain",)).get_content()

    # running the cycle again sends nothing twice and records nothing new
    again = report_cycle(period="2021-03", today="2021-03-17", **args)
    assert again["collected"]["total"] == 0
    assert again["requested"]["written"] == [] and len(again["requested"]["skipped"]) == 9
    assert again["delivered"]["status"] == "delivered"  # delivered once: never again without --resend
    # 9 requests, 2 rejections, 8 receipts (one per valid file), 2 reminders, overdue, approval, delivery
    assert sum(1 for _ in outbox.rglob("*.eml")) == 24
    assert len(ctx.ledger.messages("2021-03")) == 24
