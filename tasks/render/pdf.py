"""PDF by LibreOffice, checked before anyone may deliver it.

`convert_to_pdf` runs `soffice --headless --convert-to pdf` in its own process group with a private
user profile (two conversions never share, or wait on, one profile), kills the whole group on
timeout (the `soffice` launcher execs `soffice.bin`, which would otherwise run on orphaned), and
scales the timeout with the size of the document. It never fails silently: the result carries
either the PDF or a Vietnamese reason, and the reason is logged.

`check_pdf` reads the PDF itself: which fonts are embedded and how many pages. A report laid out
with a font that is not Times New Roman or metric-compatible with it (Liberation Serif, Tinos)
has other line breaks than in Word (the Quốc hiệu on two lines, more pages), so such a PDF is
refused for delivery. LibreOffice writes plain PDF 1.6 objects (no compressed object streams), so
the font dictionaries are read with regular expressions; a PDF that hides them in object streams
is read with `pdffonts` (poppler-utils) when installed, and refused otherwise.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Font families whose glyph widths equal Times New Roman's: the layout is the one seen in Word.
ACCEPTED_FAMILIES = ("timesnewroman", "liberationserif", "tinos")
BASE_TIMEOUT_S = 60.0
TIMEOUT_S_PER_MB = 15.0  # per MB of uncompressed XML in the .docx/.xlsx (LibreOffice lays out ~10 MB/min here)
MAX_PAGES = 60  # a report with a summary annex is a few pages; beyond this something went wrong
NO_PDF_ENV = "BAOCAO_NO_PDF"
TIMEOUT_ENV = "BAOCAO_PDF_TIMEOUT"


@dataclass(frozen=True)
class PdfCheck:
    """What the PDF holds: embedded font names (subset tag removed), fonts not embedded, page count."""

    pages: int
    fonts: tuple[str, ...]
    not_embedded: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class PdfResult:
    """A deliverable PDF (`path`) or the reason there is none (`reason`, Vietnamese)."""

    source: Path
    path: Path | None = None
    reason: str | None = None
    seconds: float = 0.0
    check: PdfCheck | None = None
    skipped: bool = False  # PDF output switched off (BAOCAO_NO_PDF): not an error
    details: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.path is not None


# ---------------------------------------------------------------- checking


_OBJ = re.compile(rb"(\d+)\s+\d+\s+obj\b(.*?)\bendobj", re.DOTALL)
_NAME = rb"/((?:[^\s/<>\[\]()%{}#]|#[0-9A-Fa-f]{2})+)"
_BASEFONT = re.compile(rb"/BaseFont\s*" + _NAME)
_FONTNAME = re.compile(rb"/FontName\s*" + _NAME)
_SUBTYPE = re.compile(rb"/Subtype\s*/(\w+)")
_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_FONTFILE = re.compile(rb"/FontFile[23]?\s")


def _pdf_name(raw: bytes) -> str:
    text = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
    return text.decode("latin-1")


def _strip_subset(name: str) -> str:
    """'BAAAAA+LiberationSerif-Bold' -> 'LiberationSerif-Bold'."""
    return name.split("+", 1)[1] if re.match(r"^[A-Z]{6}\+", name) else name


def font_family_key(name: str) -> str:
    """'TimesNewRomanPS-BoldMT' -> 'timesnewromanpsboldmt': lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", _strip_subset(name).lower())


def accepted_font(name: str) -> bool:
    return font_family_key(name).startswith(ACCEPTED_FAMILIES)


def _dictionary(body: bytes) -> bytes:
    """An object's dictionary without its stream data (font files are binary)."""
    i = body.find(b"stream")
    return body[:i] if i >= 0 else body


def read_pdf_fonts(data: bytes) -> tuple[list[str], list[str], int] | None:
    """(embedded font names, names of fonts not embedded, page count) read from the PDF's objects,
    or None when they are hidden in compressed object streams."""
    if b"/ObjStm" in data:
        return None
    descriptors: dict[str, bool] = {}
    base_fonts: list[tuple[str, str]] = []
    pages = 0
    for m in _OBJ.finditer(data):
        d = _dictionary(m.group(2))
        if b"/FontDescriptor" in d and (fn := _FONTNAME.search(d)) and b"/Type/FontDescriptor" in d.replace(b" ", b""):
            descriptors[_pdf_name(fn.group(1))] = bool(_FONTFILE.search(d + b" "))
        elif b"/Font" in d and (bf := _BASEFONT.search(d)):
            sub = _SUBTYPE.search(d)
            base_fonts.append((_pdf_name(bf.group(1)), sub.group(1).decode() if sub else ""))
        pages += len(_PAGE.findall(d))
    embedded: list[str] = []
    missing: list[str] = []
    for name, subtype in base_fonts:
        if subtype == "Type3":
            continue  # drawn glyphs, no font file to look up
        if subtype == "Type0":
            continue  # its descendant CIDFont is listed on its own
        (embedded if descriptors.get(name, False) else missing).append(_strip_subset(name))
    return sorted(set(embedded)), sorted(set(missing)), pages


def _read_with_poppler(path: Path) -> tuple[list[str], list[str], int] | None:
    pdffonts, pdfinfo = shutil.which("pdffonts"), shutil.which("pdfinfo")
    if not (pdffonts and pdfinfo):
        return None
    table = subprocess.run([pdffonts, str(path)], capture_output=True, text=True, timeout=60, check=True).stdout
    embedded: list[str] = []
    missing: list[str] = []
    for line in table.splitlines()[2:]:
        parts = line.split()
        # name type [encoding...] emb sub uni object ID: emb is the fifth field from the end
        if len(parts) >= 6:
            (embedded if parts[-5] == "yes" else missing).append(_strip_subset(parts[0]))
    info = subprocess.run([pdfinfo, str(path)], capture_output=True, text=True, timeout=60, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return sorted(set(embedded)), sorted(set(missing)), pages


def check_pdf(path: Path, *, max_pages: int = MAX_PAGES, min_pages: int = 1) -> PdfCheck:
    """Embedded fonts must be Times New Roman or metric-compatible; page count within bounds."""
    data = Path(path).read_bytes()
    found = read_pdf_fonts(data) if data.startswith(b"%PDF") else None
    if found is None and data.startswith(b"%PDF"):
        found = _read_with_poppler(Path(path))
    if found is None:
        return PdfCheck(0, (), (), ("Không đọc được danh sách phông chữ trong tệp PDF nên không kiểm tra được.",))
    embedded, missing, pages = found
    problems = []
    substitutes = [f for f in embedded if not accepted_font(f)]
    if substitutes:
        problems.append(
            "Bản PDF được dựng bằng phông thay thế (" + ", ".join(substitutes) + ") thay cho Times New Roman: "
            "chữ rộng hơn nên dòng và trang bị xô lệch (Quốc hiệu, tên cơ quan có thể xuống dòng, thêm trang). "
            "Cần cài phông Times New Roman hoặc Liberation Serif có đủ chữ tiếng Việt "
            "(make system-deps) rồi tạo lại bản PDF.")
    if missing:
        problems.append("Phông chữ không được nhúng vào bản PDF (" + ", ".join(missing) + "): máy người nhận "
                        "sẽ hiển thị bằng phông khác.")
    if not embedded and not missing:
        problems.append("Bản PDF không có chữ (không có phông chữ nào).")
    if pages < min_pages or pages > max_pages:
        problems.append(f"Bản PDF có {pages} trang, ngoài khoảng hợp lý {min_pages}–{max_pages} trang.")
    return PdfCheck(pages, tuple(embedded), tuple(missing), tuple(problems))


# ---------------------------------------------------------------- converting


def office_binary() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def default_timeout(source: Path) -> float:
    """Seconds allowed for one conversion: a base plus a share per MB of the document's XML.

    BAOCAO_PDF_TIMEOUT (seconds) overrides it.
    """
    env = os.environ.get(TIMEOUT_ENV)
    if env:
        try:
            return max(1.0, float(env))
        except ValueError:
            log.warning("%s=%r không phải số giây, dùng thời hạn tính theo cỡ tệp", TIMEOUT_ENV, env)
    try:
        with zipfile.ZipFile(source) as z:
            size = sum(i.file_size for i in z.infolist() if i.filename.endswith(".xml"))
    except (OSError, zipfile.BadZipFile):
        size = Path(source).stat().st_size
    return BASE_TIMEOUT_S + TIMEOUT_S_PER_MB * size / 1_000_000


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the converter's whole process group (soffice and the soffice.bin it started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
        log.error("Tiến trình LibreOffice %s không dừng sau SIGKILL", proc.pid)


def _fail(source: Path, reason: str, started: float, *, skipped: bool = False, check: PdfCheck | None = None,
          details: tuple[str, ...] = ()) -> PdfResult:
    result = PdfResult(source, None, reason, time.monotonic() - started, check, skipped, details)
    (log.info if skipped else log.error)("Không có bản PDF của %s: %s", source.name, reason)
    return result


def convert_to_pdf(source: Path, target: Path | None = None, *, timeout: float | None = None,
                   check: bool = True, max_pages: int = MAX_PAGES) -> PdfResult:
    """Convert a .docx (or .xlsx) to PDF next to it (or at `target`) and check the result.

    A previous PDF at the target is removed first, so a failed conversion never leaves an older PDF
    that could be mistaken for this one. With `check`, a PDF that fails check_pdf is removed too
    and the result says why.
    """
    started = time.monotonic()
    source = Path(source)
    target = Path(target) if target else source.with_suffix(".pdf")
    if os.environ.get(NO_PDF_ENV):
        return _fail(source, f"Không tạo bản PDF (đã tắt bằng biến môi trường {NO_PDF_ENV}).", started,
                     skipped=True)
    office = office_binary()
    if office is None:
        return _fail(source, "Máy chủ chưa cài LibreOffice (soffice) nên không tạo được bản PDF; "
                             "chạy make system-deps để cài.", started)
    target.unlink(missing_ok=True)
    limit = timeout if timeout is not None else default_timeout(source)
    with tempfile.TemporaryDirectory(prefix="baocao-pdf-") as tmp:
        work = Path(tmp)
        profile, out_dir = work / "profile", work / "out"
        out_dir.mkdir()
        cmd = [office, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
               "--nologo", "--nodefault", "--nolockcheck", "--convert-to", "pdf", "--outdir", str(out_dir),
               str(source)]
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as exc:
            return _fail(source, f"Không chạy được LibreOffice: {exc}", started)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return _fail(source, f"LibreOffice chưa chuyển xong sang PDF sau {limit:.0f} giây nên đã bị dừng; "
                                 f"có thể đặt thời hạn dài hơn bằng biến {TIMEOUT_ENV} (giây).", started)
        finally:
            # the launcher may have left helpers behind even on success: the group goes with it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        produced = out_dir / f"{source.stem}.pdf"
        detail = (out + err).decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not produced.exists():
            return _fail(source, f"LibreOffice không tạo được bản PDF (mã thoát {proc.returncode}).", started,
                         details=(detail[-2000:],) if detail else ())
        verdict = check_pdf(produced, max_pages=max_pages) if check else None
        if verdict is not None and not verdict.ok:
            return _fail(source, " ".join(verdict.problems), started, check=verdict)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), target)
    seconds = time.monotonic() - started
    log.info("Đã tạo %s (%s trang, %.1f giây)", target.name, verdict.pages if verdict else "?", seconds)
    return PdfResult(source, target, None, seconds, verdict)
