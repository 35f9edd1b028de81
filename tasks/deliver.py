"""Deliver: the consolidated report, as approved, to UBND tỉnh and every Nơi nhận."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.context import Context
from tasks.messages import DOCX, XLSX, delivery_mail
from tasks.outputs import output_paths
from tasks.periods import Period
from tasks.transports.mail.compose import OutgoingMail


def delivery_mails(ctx: Context, period: Period, out_dir: Path, resend: int = 0) -> list[OutgoingMail]:
    paths = output_paths(ctx, period, out_dir)
    if not paths["json"].exists():
        raise FileNotFoundError(
            f"Chưa có báo cáo tổng hợp kỳ {period.key} trong {out_dir}: hãy chạy bước tổng hợp trước "
            f"(baocao consolidate --period {period.key})."
        )
    consolidation = json.loads(paths["json"].read_text(encoding="utf-8"))
    label = f"Báo cáo {ctx.cfg.report.short_code} {period.key}"
    files = [(f"{label}.docx", paths["docx"].read_bytes(), DOCX),
             (f"{label} - Phụ lục.xlsx", paths["xlsx"].read_bytes(), XLSX)]
    pdf = paths["docx"].with_suffix(".pdf")
    if pdf.exists():
        files.append((f"{label}.pdf", pdf.read_bytes(), "application/pdf"))
    return [delivery_mail(ctx.cfg, period, consolidation, files, resend)]
