"""Outputs of a consolidation: the JSON, the Decree 30 .docx, the annex .xlsx and, where possible, a PDF.

Consolidating writes the draft (dự thảo: no number, no date) that the Director is shown; after approval
`write_final` renders the document as issued (số ký hiệu, ngày ban hành) next to it, under its own name,
so the approved draft stays exactly as it was shown.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tasks.bulk import collector_paused
from tasks.context import Context
from tasks.periods import Period

log = logging.getLogger(__name__)
FINAL_SUFFIX = "-ban-hanh"  # the issued document: <report>-<period>-ban-hanh.docx / .pdf


@dataclass
class Written:
    """What a rendering step wrote, and why a PDF is missing when it is (never dropped silently)."""

    paths: dict[str, Path] = field(default_factory=dict)
    pdf_problem: str | None = None


def output_paths(ctx: Context, period: Period, out_dir: Path) -> dict[str, Path]:
    stem = f"{ctx.cfg.report.id}-{period.key}"
    return {ext: out_dir / f"{stem}.{ext}" for ext in ("json", "docx", "xlsx")}


def draft_paths(ctx: Context, period: Period, out_dir: Path) -> dict[str, Path]:
    """The files the Director is shown and approves: JSON, draft .docx, annex .xlsx and the draft PDF."""
    paths = output_paths(ctx, period, out_dir)
    paths["pdf"] = paths["docx"].with_suffix(".pdf")
    return paths


def final_paths(ctx: Context, period: Period, out_dir: Path) -> dict[str, Path]:
    docx = out_dir / f"{ctx.cfg.report.id}-{period.key}{FINAL_SUFFIX}.docx"
    return {"docx": docx, "pdf": docx.with_suffix(".pdf")}


def write_outputs(ctx: Context, period: Period, consolidation: Any, out_dir: Path) -> Written:
    """JSON, the draft Decree 30 .docx and the annex .xlsx; a PDF too where LibreOffice is installed (or
    the reason there is none, for the run's result)."""
    write_json(ctx, period, consolidation, out_dir)
    return render_documents(ctx, period, consolidation, out_dir)


def write_json(ctx: Context, period: Period, consolidation: Any, out_dir: Path) -> Path:
    """The consolidation as `<report>-<period>.json`: the data every document of the period is made from."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = output_paths(ctx, period, out_dir)["json"]
    path.write_bytes(json_bytes(consolidation) + b"\n")
    return path


def json_bytes(data: Any) -> bytes:
    """UTF-8 JSON laid out as json.dumps(indent=2, ensure_ascii=False) writes it, by orjson's encoder (ten
    times faster on 10,000 units' figures). What orjson would refuse or write its own way (a key that is not
    a string, an integer past 64 bits, a date, a dataclass) goes to json, which writes or refuses it as before."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME
                            | orjson.OPT_PASSTHROUGH_DATACLASS)
    except TypeError:
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


@collector_paused()  # a dict per unit
def read_json(ctx: Context, period: Period, out_dir: Path) -> Any:
    """The consolidation as written by write_json: read by orjson (twice as fast on 10,000 units), or by json
    where orjson refuses what json wrote (an integer past 64 bits)."""
    data = output_paths(ctx, period, out_dir)["json"].read_bytes()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data.decode("utf-8"))


def render_documents(ctx: Context, period: Period, consolidation: Any, out_dir: Path) -> Written:
    """The draft .docx, the annex .xlsx and the PDF of a consolidation whose JSON is written."""
    from tasks.render.annex_xlsx import render_annex_xlsx
    from tasks.render.docx_report import render_report_docx

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = output_paths(ctx, period, out_dir)
    with collector_paused():  # a cell object per unit and indicator
        render_report_docx(consolidation, paths["docx"])
        render_annex_xlsx(consolidation, paths["xlsx"])
    pdf, problem = to_pdf(paths["docx"])
    if pdf is not None:
        paths["pdf"] = pdf
    ctx.ledger.audit("report", f"{ctx.cfg.report.id}:{period.key}", "consolidated",
                     accepted=consolidation["completeness"]["accepted_count"], out=str(out_dir), pdf_problem=problem)
    return Written(paths, problem)


def write_final(ctx: Context, period: Period, out_dir: Path, number: str, issued_on: Any) -> Written:
    """The document as issued, from the approved consolidation: number and issue date filled, no draft mark."""
    from tasks.render.docx_report import FinalInfo, render_report_docx

    consolidation = read_json(ctx, period, out_dir)
    paths = final_paths(ctx, period, out_dir)
    render_report_docx(consolidation, paths["docx"], final=FinalInfo(number, issued_on))
    out = Written({"docx": paths["docx"], "xlsx": output_paths(ctx, period, out_dir)["xlsx"]})
    pdf, out.pdf_problem = to_pdf(paths["docx"])
    if pdf is not None:
        out.paths["pdf"] = pdf
    return out


def to_pdf(docx: Path) -> tuple[Path | None, str | None]:
    """The PDF of a .docx, or the reason there is none (logged; an unchecked PDF is never kept)."""
    from tasks.render.pdf import convert_to_pdf

    result = convert_to_pdf(docx)
    if result.ok:
        return result.path, None
    if not result.skipped:
        log.warning("Không tạo được bản PDF của %s: %s", docx.name, result.reason)
    return None, None if result.skipped else result.reason
