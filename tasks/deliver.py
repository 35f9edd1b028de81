"""Deliver: the report as issued (approved, numbered, dated) to UBND tỉnh and every Nơi nhận."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tasks.context import Context
from tasks.messages import DOCX, XLSX, delivery_messages
from tasks.outputs import output_paths
from tasks.periods import Period
from tasks.transports.mail.compose import OutgoingMail

MIME = {".docx": DOCX, ".xlsx": XLSX, ".pdf": "application/pdf"}


def attachments(ctx: Context, period: Period, files: dict[str, Path]) -> list[tuple[str, bytes, str]]:
    """What UBND tỉnh receives: the issued document (.docx, .pdf or the signed copy) and the annex."""
    label = f"Báo cáo {ctx.cfg.report.short_code} {period.key}"
    names = {"docx": f"{label}.docx", "pdf": f"{label}.pdf", "signed": f"{label} (bản ký).pdf",
             "xlsx": f"{label} - Phụ lục.xlsx"}
    return [(names[kind], path.read_bytes(), MIME.get(path.suffix.lower(), "application/octet-stream"))
            for kind, path in files.items()]


def delivery_mails(ctx: Context, period: Period, out_dir: Path, files: dict[str, Path],
                   resend: int = 0) -> list[OutgoingMail]:
    paths = output_paths(ctx, period, out_dir)
    if not paths["json"].exists():
        raise FileNotFoundError(
            f"Chưa có báo cáo tổng hợp kỳ {period.key} trong {out_dir}: hãy chạy bước tổng hợp trước "
            f"(baocao consolidate --period {period.key})."
        )
    consolidation = json.loads(paths["json"].read_text(encoding="utf-8"))
    return delivery_messages(ctx.cfg, period, consolidation, attachments(ctx, period, files), resend)


def sha256_of(files: dict[str, Path]) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files.values()}
