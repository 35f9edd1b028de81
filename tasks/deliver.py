"""Deliver: the report as issued (approved, numbered, dated) to UBND tỉnh and every Nơi nhận."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from tasks.context import Context
from tasks.messages import DOCX, XLSX, delivery_keys, delivery_messages
from tasks.outputs import output_paths
from tasks.periods import Period
from tasks.sending import done_keys
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


@dataclass(frozen=True)
class Delivered:
    """What the last delivery of a period sent, as its `delivered` ledger record keeps it."""

    files: dict[str, Path]
    sha256: dict[str, str]
    resend: int


def last_delivery(ctx: Context, period: Period) -> Delivered | None:
    """The period's last delivery, when its record names the files it sent (older records do not)."""
    entity = f"{ctx.cfg.report.id}:{period.key}"
    sent = [e.detail for e in ctx.ledger.audit_events("report") if e.entity_id == entity and e.action == "delivered"]
    if not sent or not isinstance(sent[-1].get("files"), dict):
        return None
    detail = sent[-1]
    return Delivered({str(k): Path(str(v)) for k, v in detail["files"].items()}, dict(detail.get("sha256") or {}),
                     int(detail.get("resend") or 0))


def owed_copies(ctx: Context, period: Period, last: Delivered | None = None) -> list[str]:
    """Keys of the delivered report's messages not sent yet (a copy the server refused, a run stopped between
    messages): whatever delivery run comes next sends them."""
    last = last or last_delivery(ctx, period)
    if last is None:
        return []
    keys = delivery_keys(ctx.cfg, period, last.resend)
    done = done_keys(ctx, keys)
    return [k for k in keys if k not in done]


def owed_copy_mails(ctx: Context, period: Period, out_dir: Path) -> list[OutgoingMail]:
    """The owed messages of the last delivery, with exactly the files it sent (checked by SHA-256: a file
    changed since is not sent as if it were the issued report)."""
    last = last_delivery(ctx, period)
    owed = set(owed_copies(ctx, period, last))
    if last is None or not owed:
        return []
    missing = [str(p) for p in last.files.values() if not p.is_file()]
    if missing or sha256_of(last.files) != last.sha256:
        shown = ", ".join(missing or map(str, last.files.values()))
        raise ValueError(f"Không gửi nốt được bản sao báo cáo kỳ {period.key}: tệp đã gửi UBND tỉnh "
                         f"{'không còn' if missing else 'đã bị sửa'} ({shown}); "
                         f"gửi lại cả báo cáo: baocao deliver --period {period.key} --resend 1.")
    return [m for m in delivery_mails(ctx, period, out_dir, last.files, last.resend) if m.key in owed]
