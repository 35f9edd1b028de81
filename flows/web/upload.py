"""A unit's web upload: keep the bytes under <data_dir>/web/, refuse a file naming another unit or period,
then take the same intake path as every channel and answer at once (the page shows the result)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flows.web.pages import WebState
from tasks.collect import process_documents
from tasks.config import Unit
from tasks.context import Context
from tasks.intake import UnreadableFile, content_hash, parse_grid, read_grid
from tasks.periods import TZ, Period, PeriodError, parse_period
from tasks.text import nfc
from tasks.types import Document


def rejection_mails(ctx: Context, outcomes: list[Any]) -> None:
    """A web upload is answered like a folder file (rejection or receipt, recorded as owed with it); the page
    shows the result at once too."""
    from tasks.replies import send_owed_replies

    send_owed_replies(ctx)


def safe_name(filename: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._")[:80] or "bao-cao.xlsx"


def receive(state: WebState, ctx: Context, unit: Unit, period: Period, filename: str,
            data: bytes) -> dict[str, Any]:
    """The outcome of one uploaded (or typed-in) workbook, as the unit's page shows it."""
    filename = nfc(filename)[:200] or "bao-cao.xlsx"
    # a file that is no spreadsheet takes the intake path too (kept, recorded as the unit's rejection and
    # answered, as in the inbox); a unit's link only reports for that unit and period: a file naming another
    # is refused, not filed there
    try:
        sheet = parse_grid(read_grid(data, filename))
    except UnreadableFile:
        sheet = None
    if sheet is not None:
        named_unit = ctx.cfg.unit(sheet.unit_code) if sheet.unit_code else None
        other_unit = named_unit is not None and named_unit.code != unit.code
        try:
            named = parse_period(sheet.period_text or "")
        except PeriodError:
            named = None
        other_period = named is not None and named.kind == period.kind and named.key != period.key \
            and named.start <= state.now().astimezone(TZ).date()
        if other_unit or other_period:
            which = (f"mã đơn vị {sheet.unit_code} (ô {sheet.unit_cell})" if other_unit
                     else f"kỳ báo cáo {sheet.period_text} (ô {sheet.period_cell})")
            ctx.ledger.audit("web", unit.code, "refused", period=period.key, filename=filename,
                             sha256=content_hash(data), why=which)
            return {"status": "rejected", "warnings": [], "errors": [{"message": (
                f"Tệp ghi {which}, nhưng đường dẫn này chỉ dùng để nộp báo cáo {period.label} của {unit.name}. "
                "Hãy dùng đúng biểu mẫu của kỳ này (tải ở trên) hoặc đường dẫn của đơn vị/kỳ đó."),
                "cell": sheet.unit_cell if other_unit else sheet.period_cell}]}
    received = state.now().astimezone(TZ)
    ref = f"web/{period.key}/{unit.code}/{received:%Y%m%d-%H%M%S}-{content_hash(data)[:8]}-{safe_name(filename)}"
    path = ctx.data_dir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    doc = Document(source="web", source_ref=ref, filename=filename, content=data, received_at=received,
                   claimed_unit=unit.code)
    outcomes = process_documents(ctx, period, [doc])
    o = outcomes[0]
    if state.on_upload is not None and o.status in ("accepted", "rejected"):
        try:
            state.on_upload(ctx, outcomes)
        except Exception as exc:  # the submission is recorded; a mail failure must not hide the result
            ctx.ledger.audit("web", unit.code, "upload_hook_failed", error=str(exc))
    return {"status": o.status, "errors": o.errors, "warnings": o.warnings, "on_time": o.on_time,
            "submission_id": o.submission_id, "filename": filename,
            "received_at": received, "reason": o.reason,
            "filed": o.period if o.period and o.period != period.key else None}
