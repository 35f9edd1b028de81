"""Deliver: the report as issued (approved, numbered, dated) to UBND tỉnh and every Nơi nhận."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tasks.context import Context
from tasks.messages import DOCX, XLSX, delivery_messages, delivery_recipients, recipient_batches
from tasks.outputs import output_paths
from tasks.periods import Period
from tasks.transports.mail.compose import OutgoingMail
from tasks.types import MessageKind, message_key

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


def delivery_keys(ctx: Context, period: Period, resend: int = 0) -> list[str]:
    """The ledger keys of every message of a delivery: UBND tỉnh's, then each copy past the recipient limit."""
    key = message_key(MessageKind.DELIVERY, ctx.cfg.report.id, period.key, *([f"resend{resend}"] if resend else []))
    n = len(recipient_batches(*delivery_recipients(ctx.cfg)))
    return [key] + [f"{key}:copy{i}" for i in range(1, n)]


def last_delivery(ctx: Context, period: Period) -> dict[str, object] | None:
    """What the last delivery of the period sent (its files, their SHA-256, which resend), from the ledger."""
    entity = f"{ctx.cfg.report.id}:{period.key}"
    sent = [e for e in ctx.ledger.audit_events("report") if e.entity_id == entity and e.action == "delivered"]
    return dict(sent[-1].detail) if sent else None


def owed_copies(ctx: Context, period: Period) -> list[str]:
    """Keys of the delivered report's messages not sent yet (a copy the server refused, a run stopped between
    messages): whatever delivery run comes next sends them."""
    last = last_delivery(ctx, period)
    if last is None or not isinstance(last.get("files"), dict):
        return []
    keys = delivery_keys(ctx, period, int(str(last.get("resend") or 0)))
    statuses = ("sent",) if ctx.cfg.settings.channels.smtp.enabled else ("written", "sent")
    done = ctx.ledger.sent_keys(keys, statuses)
    return [k for k in keys if k not in done]


def owed_copy_mails(ctx: Context, period: Period, out_dir: Path) -> list[OutgoingMail]:
    """The owed messages of the last delivery, with exactly the files it sent (checked by SHA-256: a file
    changed since is not sent as if it were the issued report)."""
    last = last_delivery(ctx, period)
    owed = set(owed_copies(ctx, period))
    if last is None or not owed:
        return []
    raw = last.get("files")
    files = {str(kind): Path(str(path)) for kind, path in raw.items()} if isinstance(raw, dict) else {}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing or sha256_of(files) != last.get("sha256"):
        shown = ", ".join(missing or map(str, files.values()))
        raise ValueError(f"Không gửi nốt được bản sao báo cáo kỳ {period.key}: tệp đã gửi UBND tỉnh "
                         f"{'không còn' if missing else 'đã bị sửa'} ({shown}); "
                         f"gửi lại cả báo cáo: baocao deliver --period {period.key} --resend 1.")
    mails = delivery_mails(ctx, period, out_dir, files, int(str(last.get("resend") or 0)))
    return [m for m in mails if m.key in owed]
