"""Outputs of a consolidation: the JSON, the Decree 30 .docx, the annex .xlsx and, where possible, a PDF."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tasks.context import Context
from tasks.periods import Period


def output_paths(ctx: Context, period: Period, out_dir: Path) -> dict[str, Path]:
    stem = f"{ctx.cfg.report.id}-{period.key}"
    return {ext: out_dir / f"{stem}.{ext}" for ext in ("json", "docx", "xlsx")}


def write_outputs(ctx: Context, period: Period, consolidation: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """JSON, the Decree 30 .docx and the annex .xlsx; a PDF too where LibreOffice is installed."""
    from tasks.render.annex_xlsx import render_annex_xlsx
    from tasks.render.docx_report import render_report_docx

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = output_paths(ctx, period, out_dir)
    paths["json"].write_text(json.dumps(consolidation, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    render_report_docx(consolidation, paths["docx"])
    render_annex_xlsx(consolidation, paths["xlsx"])
    pdf = _to_pdf(paths["docx"])
    if pdf is not None:
        paths["pdf"] = pdf
    ctx.ledger.audit("report", f"{ctx.cfg.report.id}:{period.key}", "consolidated",
                     accepted=consolidation["completeness"]["accepted_count"], out=str(out_dir))
    return paths


def _to_pdf(docx: Path) -> Path | None:
    import shutil
    import subprocess

    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None or os.environ.get("BAOCAO_NO_PDF"):
        return None
    try:
        subprocess.run([office, "--headless", "--convert-to", "pdf", "--outdir", str(docx.parent), str(docx)],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError):
        return None
    pdf = docx.with_suffix(".pdf")
    return pdf if pdf.exists() else None
