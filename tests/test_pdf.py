"""The PDF as UBND tỉnh receives it: real LibreOffice, real fonts, checked before delivery."""

from __future__ import annotations

import copy
import io
import os
import re
import shutil
import subprocess
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest

from tasks.render.docx_report import FinalInfo, render_report_docx
from tasks.render.pdf import accepted_font, check_pdf, convert_to_pdf, default_timeout, read_pdf_fonts
from tests.sample_consolidation import sample_consolidation

needs_office = pytest.mark.skipif(
    not (shutil.which("soffice") and shutil.which("pdffonts") and shutil.which("pdftoppm")),
    reason="needs LibreOffice and poppler-utils (make system-deps)")


@pytest.fixture
def pdf_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite switches PDF output off (conftest); these tests are about it."""
    monkeypatch.delenv("BAOCAO_NO_PDF", raising=False)
    monkeypatch.delenv("BAOCAO_PDF_TIMEOUT", raising=False)


def _poppler(*cmd: str) -> str:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, timeout=60).stdout


def _pdffonts(pdf: Path) -> list[tuple[str, str]]:
    """(name without subset tag, emb) per font, as pdffonts prints them."""
    rows = _poppler("pdffonts", str(pdf)).splitlines()[2:]
    return sorted({(r.split()[0].split("+")[-1], r.split()[-5]) for r in rows})


def test_font_names_accepted() -> None:
    for ok in ("BAAAAA+LiberationSerif", "LiberationSerif-BoldItalic", "TimesNewRomanPSMT",
               "TimesNewRomanPS-BoldMT", "CAAAAA+Tinos-Italic", "Times New Roman"):
        assert accepted_font(ok), ok
    for bad in ("BAAAAA+DejaVuSerif", "DejaVuSerif-Bold", "LiberationSans", "Arial", "OpenSymbol"):
        assert not accepted_font(bad), bad


def test_switched_off_or_missing_converter_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    docx = render_report_docx(sample_consolidation(), tmp_path / "bao-cao.docx")
    (tmp_path / "bao-cao.pdf").write_bytes(b"%PDF-1.6 an older PDF")
    monkeypatch.setenv("BAOCAO_NO_PDF", "1")
    result = convert_to_pdf(docx)
    assert not result.ok and result.skipped
    assert result.reason == "Không tạo bản PDF (đã tắt bằng biến môi trường BAOCAO_NO_PDF)."
    monkeypatch.delenv("BAOCAO_NO_PDF")
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice anywhere
    with caplog.at_level("ERROR", logger="tasks.render.pdf"):
        result = convert_to_pdf(docx)
    assert not result.ok and not result.skipped
    assert result.reason.startswith("Máy chủ chưa cài LibreOffice (soffice) nên không tạo được bản PDF")
    assert "Không có bản PDF của bao-cao.docx: Máy chủ chưa cài LibreOffice" in caplog.text
    assert (tmp_path / "bao-cao.pdf").exists()  # untouched: nothing was converted


def test_timeout_scales_with_the_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAOCAO_PDF_TIMEOUT", raising=False)
    small = render_report_docx(sample_consolidation(), tmp_path / "small.docx")
    big = tmp_path / "big.docx"
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "word/document.xml":
                data += b" " * 20_000_000  # 20 MB more XML
            dst.writestr(info.filename, data)
    assert 60 <= default_timeout(small) < 80  # about 1 MB of XML
    assert default_timeout(big) - default_timeout(small) == pytest.approx(300, abs=1)
    monkeypatch.setenv("BAOCAO_PDF_TIMEOUT", "900")
    assert default_timeout(small) == 900


@pytest.mark.slow
@needs_office
def test_report_pdf_fonts_pages_and_first_page(tmp_path: Path, pdf_on: None) -> None:
    """A final report: Liberation Serif (or Times New Roman) embedded, the same pages as in Word,
    and the header lines each on one line; the first page is kept as page1.png to look at."""
    docx = render_report_docx(sample_consolidation(), tmp_path / "bao-cao.docx",
                              final=FinalInfo("15", date(2021, 3, 19)))
    result = convert_to_pdf(docx)
    assert result.ok, result.reason
    assert result.path == tmp_path / "bao-cao.pdf" and result.path.exists()
    check = result.check
    assert check is not None and check.ok
    assert check.fonts and all(accepted_font(f) for f in check.fonts)
    # the PDF's own font dictionaries, read without poppler, say what pdffonts says
    assert [(f, "yes") for f in check.fonts] == _pdffonts(result.path)
    pages = int(re.search(r"Pages:\s+(\d+)", _poppler("pdfinfo", str(result.path))).group(1))
    assert check.pages == pages
    assert 4 <= pages <= 7  # with DejaVu Serif the same document took 8

    text = _poppler("pdftotext", "-layout", "-f", "1", "-l", "1", str(result.path), "-")
    lines = [re.sub(r"\s{2,}", " | ", ln.strip()) for ln in text.splitlines() if ln.strip()]
    # the two header columns side by side, each on its own single line
    assert lines[0] == "UBND TỈNH TUYÊN QUANG | CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert lines[1] == "SỞ NỘI VỤ | Độc lập - Tự do - Hạnh phúc"
    assert lines[2] == "Số: 15/BC-SNV | Tuyên Quang, ngày 19 tháng 3 năm 2021"
    assert "DỰ THẢO" not in text

    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(result.path),
                    str(tmp_path / "page1")], check=True, timeout=60)
    png = (tmp_path / "page1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    keep = os.environ.get("BAOCAO_KEEP_PNG")
    if keep:  # for looking at it: BAOCAO_KEEP_PNG=/tmp/report-page1.png pytest tests/test_pdf.py
        shutil.copy(tmp_path / "page1.png", keep)


@pytest.mark.slow
@needs_office
def test_draft_pdf_says_draft(tmp_path: Path, pdf_on: None) -> None:
    docx = render_report_docx(sample_consolidation(), tmp_path / "du-thao.docx")
    result = convert_to_pdf(docx)
    assert result.ok, result.reason
    first = _poppler("pdftotext", "-layout", "-f", "1", "-l", "1", str(result.path), "-")
    assert first.strip().startswith("DỰ THẢO")
    assert re.search(r"Tuyên Quang, ngày\s+tháng\s+năm 20\.\.", first)
    second = _poppler("pdftotext", "-layout", "-f", "2", "-l", "2", str(result.path), "-")
    assert second.strip().startswith("DỰ THẢO")


def _force_font(docx: Path, target: Path, font: str) -> Path:
    """The same document with every Times New Roman replaced by another font."""
    with zipfile.ZipFile(docx) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".xml"):
                data = data.replace(b"Times New Roman", font.encode())
            dst.writestr(info.filename, data)
    return target


@pytest.mark.slow
@needs_office
def test_substitute_font_is_refused(tmp_path: Path, pdf_on: None) -> None:
    docx = render_report_docx(sample_consolidation(), tmp_path / "bao-cao.docx",
                              final=FinalInfo("15", date(2021, 3, 19)))
    forced = _force_font(docx, tmp_path / "dejavu.docx", "DejaVu Serif")
    (tmp_path / "dejavu.pdf").write_bytes(b"%PDF-1.6 an older PDF")
    result = convert_to_pdf(forced)
    assert not result.ok and result.path is None
    assert result.reason.startswith("Bản PDF được dựng bằng phông thay thế (DejaVuSerif")
    assert "thay cho Times New Roman" in result.reason and "make system-deps" in result.reason
    assert result.check is not None and "DejaVuSerif-Bold" in result.check.fonts
    assert not (tmp_path / "dejavu.pdf").exists()  # neither the refused PDF nor the older one is left


def test_check_reads_hand_made_pdf(tmp_path: Path) -> None:
    """The regex reader on a minimal PDF: a non-embedded Times-Roman is refused, pages counted."""
    pdf = (b"%PDF-1.4\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n"
           b"2 0 obj\n<</Type/Pages/Kids[3 0 R 4 0 R]/Count 2>>\nendobj\n"
           b"3 0 obj\n<</Type/Page/Parent 2 0 R/Resources<</Font<</F1 5 0 R>>>>>>\nendobj\n"
           b"4 0 obj\n<</Type/Page/Parent 2 0 R>>\nendobj\n"
           b"5 0 obj\n<</Type/Font/Subtype/Type1/BaseFont/Times#20New#20Roman>>\nendobj\ntrailer\n%%EOF\n")
    assert read_pdf_fonts(pdf) == ([], ["Times New Roman"], 2)
    path = tmp_path / "x.pdf"
    path.write_bytes(pdf)
    check = check_pdf(path)
    assert not check.ok and check.pages == 2
    assert check.problems == ("Phông chữ không được nhúng vào bản PDF (Times New Roman): máy người nhận "
                              "sẽ hiển thị bằng phông khác.",)
    assert check_pdf(path, max_pages=1).problems[-1] == "Bản PDF có 2 trang, ngoài khoảng hợp lý 1–1 trang."


def _soffice_processes(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd:
                pids.append(int(entry.name))
    return pids


def _many_units(n: int) -> dict:
    """The sample with n more units, all on time, each with the same figures as VP."""
    c = copy.deepcopy(sample_consolidation())
    comp = c["completeness"]
    vp = c["values_by_unit"]["VP"]
    for k in range(n):
        code = f"X{k:05d}"
        c["units"][code] = f"Xã số {k + 1}"
        c["values_by_unit"][code] = dict(vp)
        for key in ("expected", "accepted", "on_time"):
            comp[key].append(code)
        for code_, v in vp.items():
            if isinstance(v, int):
                c["totals"][code_] += v
    comp["expected_count"] = len(comp["expected"])
    comp["accepted_count"] = len(comp["accepted"])
    comp["on_time_count"] = len(comp["on_time"])
    return c


@pytest.mark.slow
@needs_office
def test_timeout_kills_the_whole_converter(tmp_path: Path, pdf_on: None) -> None:
    """A conversion past its time is stopped with every LibreOffice process it started."""
    docx = render_report_docx(_many_units(600), tmp_path / "slow-unique-name.docx", unit_limit=100_000)
    started = time.monotonic()
    result = convert_to_pdf(docx, timeout=1)
    assert time.monotonic() - started < 20
    assert not result.ok
    assert result.reason.startswith("LibreOffice chưa chuyển xong sang PDF sau 1 giây nên đã bị dừng")
    time.sleep(0.5)
    assert _soffice_processes("slow-unique-name.docx") == []  # soffice.bin too, not only the launcher
    assert not (tmp_path / "slow-unique-name.pdf").exists()


@pytest.mark.slow
@needs_office
def test_ten_thousand_units_pdf_is_the_size_of_nine(tmp_path: Path, pdf_on: None) -> None:
    """The PDF'd .docx has a summary annex past the unit limit: 10,000 units convert as fast as 9."""
    big = render_report_docx(_many_units(10_000), tmp_path / "tinh.docx", final=FinalInfo("15", date(2021, 3, 19)))
    small = render_report_docx(sample_consolidation(), tmp_path / "so.docx", final=FinalInfo("15", date(2021, 3, 19)))

    def xml_size(p: Path) -> int:
        return zipfile.ZipFile(io.BytesIO(p.read_bytes())).getinfo("word/document.xml").file_size

    assert xml_size(big) < 1.5 * xml_size(small)
    result = convert_to_pdf(big)
    assert result.ok, result.reason
    assert result.check is not None and result.check.pages <= 8
    text = _poppler("pdftotext", "-layout", str(result.path), "-")
    assert "PHỤ LỤC: TỔNG HỢP SỐ LIỆU THEO TÌNH HÌNH BÁO CÁO" in text
    assert "Xã số 10000" not in text
    assert "số liệu chi tiết của từng đơn vị (10.009 đơn vị) tại tệp Excel phụ lục kèm theo" in text
