"""Collect: every received document, from any channel, goes through one intake path to one outcome.

Read (guarded, in parallel worker processes) → file under its period → validate → record (one ledger
transaction per batch). A document that cannot be read is recorded as a rejection with the reason;
nothing a unit sends raises out of here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from tasks.bulk import collector_paused
from tasks.channels.base import Channel
from tasks.config import Unit
from tasks.context import Context
from tasks.filing import delivered, filing_period
from tasks.guard import Grid, UnreadableFile
from tasks.intake import content_hash, grid_hash, parse_grid, read_sheets
from tasks.ledger import NewSubmission, Recorded
from tasks.periods import TZ, Period
from tasks.types import Document, Issue, MessageKind, Outcome, OutcomeStatus, ParsedSheet, SubmissionStatus
from tasks.validation import check_submission

# The answer each outcome owes its unit, recorded with it (tasks.replies sends it, in this run or the next).
# A quarantined document is not answered automatically: its sender is not known to be the unit's.
OWED: dict[str, tuple[str, ...]] = {SubmissionStatus.REJECTED: (MessageKind.REJECTION,),
                                    SubmissionStatus.ACCEPTED: (MessageKind.RECEIPT,)}


def collect_from(ctx: Context, period: Period, channel: Channel) -> list[Outcome]:
    """New documents of one channel → intake → one outcome each; the channel acknowledges once recorded."""
    with collector_paused(), channel.receive(period) as arrivals:
        return process_documents(ctx, period, arrivals.documents) + arrivals.outcomes


@collector_paused()
def process_documents(ctx: Context, period: Period, docs: Iterable[Document]) -> list[Outcome]:
    """Read, check and record a batch of documents: one outcome each, in order.

    Files are read together in the guarded worker pool (a hostile file costs only itself; the workers
    also find the labelled cells), judged one by one, and recorded in one ledger transaction. A document
    that breaks baocao's own code is recorded as quarantined with the error, for the Office; it never
    stops the others.
    """
    docs = list(docs)
    to_read = [i for i, d in enumerate(docs) if d.grid is None and d.unreadable is None]
    read: dict[int, ParsedSheet | Grid | UnreadableFile] = dict(zip(
        to_read, read_sheets([(docs[i].content, docs[i].filename) for i in to_read]), strict=True))
    filing = Filing(ctx)
    judged: list[Judged] = []
    for i, doc in enumerate(docs):
        try:
            judged.append(judge(ctx, period, doc, read.get(i), filing))
        except Exception as exc:  # a bug costs this document its automatic answer, never the others' records
            judged.append(broken_document(ctx, period, doc, exc))
    recorded = ctx.ledger.record_submissions([j.new for j in judged])
    return [j.outcome(rec) for j, rec in zip(judged, recorded, strict=True)]


def process_document(ctx: Context, period: Period, doc: Document) -> Outcome:
    """One document (see process_documents)."""
    return process_documents(ctx, period, [doc])[0]


@dataclass
class Judged:
    """A document judged and ready to record; its outcome once the ledger has said what became of it."""

    doc: Document
    new: NewSubmission
    period: Period

    def outcome(self, rec: Recorded | None) -> Outcome:
        new = self.new
        if rec is None:
            return Outcome(self.doc.source_ref, OutcomeStatus.DUPLICATE, new.unit_code, period=self.period.key)
        status = rec.status if new.status == SubmissionStatus.ACCEPTED else new.status
        return Outcome(self.doc.source_ref, status, new.unit_code, rec.id, new.on_time,
                       [e.to_dict() for e in new.errors], [w.to_dict() for w in new.warnings], new.reason,
                       self.period.key)


class Filing:
    """The filing rule (tasks.filing), with each period's delivered state looked up once per batch."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._delivered: dict[str, bool] = {}

    def period_of(self, sheet: ParsedSheet, collecting: Period) -> Period:
        return filing_period(self.ctx, sheet, collecting, is_delivered=self.delivered)

    def delivered(self, period: Period) -> bool:
        if period.key not in self._delivered:
            self._delivered[period.key] = delivered(self.ctx, period)
        return self._delivered[period.key]


def judge(ctx: Context, period: Period, doc: Document, read: ParsedSheet | Grid | UnreadableFile | None,
          filing: Filing) -> Judged:
    """File under its period, validate, decide accepted / rejected / quarantined."""
    if doc.unreadable is not None or isinstance(read, UnreadableFile):
        return unreadable(ctx, period, doc, doc.unreadable or str(read))
    found = doc.grid if doc.grid is not None else read
    if found is None:
        raise ValueError(f"không có dữ liệu để đọc cho {doc.source_ref}")
    sheet = found if isinstance(found, ParsedSheet) else parse_grid(found)
    if doc.source != "sheet":  # a unit's tab belongs to the tab's period, whatever is typed in it
        period = filing.period_of(sheet, period)
    on_time = doc.received_at.astimezone(TZ).date() <= ctx.unit_deadline(period)
    verdict = check_submission(ctx.cfg, sheet, period)
    unit_code = verdict.unit_code if ctx.cfg.unit(verdict.unit_code or "") else None
    if unit_code is None and doc.claimed_unit and (claimed := ctx.cfg.unit(doc.claimed_unit)):
        unit_code = claimed.code
    reason = quarantine_reason(ctx, doc, unit_code)
    if doc.source == "sheet" and doc.claimed_unit and unit_code and unit_code != doc.claimed_unit:
        verdict.errors.append(Issue(f"Trang tính của đơn vị {doc.claimed_unit} ghi mã đơn vị {unit_code}; "
                                    f"hãy sửa ô {sheet.unit_cell} thành {doc.claimed_unit}.", cell=sheet.unit_cell))
        unit_code = doc.claimed_unit
    status = (SubmissionStatus.QUARANTINED if reason else
              SubmissionStatus.ACCEPTED if verdict.accepted else SubmissionStatus.REJECTED)
    # values that passed their checks are kept for rejected files too: the Office may accept one (reopen)
    # the channel's own hash when it made one: hashing again costs the time and hands the GIL to another thread
    digest = doc.digest or document_hash(doc)
    if reason:
        digest = held_hash(digest, reason)
    return Judged(doc, _new(ctx, period, doc, digest, unit_code, status, on_time,
                            tuple(verdict.errors), tuple(verdict.warnings), tuple(verdict.values.items()), reason),
                  period)


def document_hash(doc: Document) -> str:
    """What identifies a readable document: its bytes, or a tab's cells."""
    return content_hash(doc.content) if doc.grid is None else grid_hash(doc.grid)


def unreadable(ctx: Context, period: Period, doc: Document, message: str) -> Judged:
    """A document with nothing to read (broken file, no attachment): recorded, answered, never lost."""
    on_time = doc.received_at.astimezone(TZ).date() <= ctx.unit_deadline(period)
    unit = ctx.cfg.unit(doc.claimed_unit or "") or unit_of_sender(ctx, doc.sender)
    reason = quarantine_reason(ctx, doc, unit.code if unit else None)
    status = SubmissionStatus.QUARANTINED if reason else SubmissionStatus.REJECTED
    digest = held_hash(unreadable_hash(doc), reason) if reason else unreadable_hash(doc)
    return Judged(doc, _new(ctx, period, doc, digest, unit.code if unit else None, status,
                            on_time, (Issue(message),), (), (), reason), period)


def held_hash(digest: str, reason: str) -> str:
    """What identifies a document quarantined for its sender: its content and why it is held. A mail is held
    for who sent it, not for what it holds: the same file sent again by the unit's registered contact (or
    with the subject fixed) is a new document, judged and answered, never a duplicate of the held one that
    the Office cannot accept; the same mail read again is still the same document."""
    return content_hash(f"{digest}\0{reason}".encode())


def unreadable_hash(doc: Document) -> str:
    """What identifies an unreadable document: its bytes and its file type. A file refused for its name
    ('VP' with no extension) and sent again renamed 'VP.xlsx' is a new document, judged again, not a
    duplicate of the refused one."""
    return typed_hash(doc.content, doc.filename)


def typed_hash(data: bytes, filename: str) -> str:
    return content_hash(data + b"\0" + PurePath(filename).suffix.lower().encode())


def is_recorded_content(recorded_hash: str, data: bytes, filename: str) -> bool:
    """Whether `data` are the bytes a file submission was recorded with (by either hash a file can be
    recorded under): a unit's file overwritten by a later version keeps its name, and must not be handed out
    as the earlier submission's original."""
    return recorded_hash in (content_hash(data), typed_hash(data, filename))


def broken_document(ctx: Context, period: Period, doc: Document, exc: Exception) -> Judged:
    """baocao itself failed on this document: kept for the Office (quarantined, with the error), audited."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    ctx.ledger.audit("document", doc.source_ref[:255], "error", error=error)
    return Judged(doc, _new(ctx, period, doc, content_hash(doc.content), None, SubmissionStatus.QUARANTINED,
                            None, (), (), (), f"Lỗi hệ thống khi xử lý tệp (Văn phòng cần kiểm tra): {error}"),
                  period)


def _new(ctx: Context, period: Period, doc: Document, digest: str, unit_code: str | None, status: str,
         on_time: bool | None, errors: tuple[Issue, ...], warnings: tuple[Issue, ...],
         values: tuple[tuple[str, int | str | None], ...], reason: str | None) -> NewSubmission:
    return NewSubmission(
        report_id=ctx.cfg.report.id, period=period.key, source=doc.source, source_ref=doc.source_ref,
        filename=doc.filename, received_at=doc.received_at, content_hash=digest, sender=doc.sender,
        message_id=doc.message_id, unit_code=unit_code, status=status, on_time=on_time, errors=errors,
        warnings=warnings, values=values, reason=reason, stamp=doc.stamp, owes=OWED.get(status, ()))


def quarantine_reason(ctx: Context, doc: Document, unit_code: str | None) -> str | None:
    """Email only counts from a registered contact of the unit it reports for, with a matching tag."""
    if doc.quarantine:
        return doc.quarantine
    if doc.source != "email":
        return None
    sender = (doc.sender or "").lower()
    owners = ctx.cfg.units_of_email(sender)
    if not owners:
        return f"Người gửi {sender or '(không rõ)'} không phải đầu mối đã đăng ký của đơn vị nào."
    if doc.claimed_unit and unit_code and doc.claimed_unit.casefold() != unit_code.casefold():
        return (f"Mã đơn vị ở tiêu đề thư ({doc.claimed_unit}) khác mã đơn vị trong tệp ({unit_code}).")
    if unit_code and not any(u.code == unit_code for u in owners):
        return f"Người gửi {sender} không phải đầu mối của đơn vị {unit_code}."
    return None


def unit_of_sender(ctx: Context, sender: str | None) -> Unit | None:
    """The one unit whose registered contact sent it, when exactly one unit has that address."""
    owners = ctx.cfg.units_of_email(sender) if sender else ()
    return owners[0] if len(owners) == 1 else None


# ------------------------------------------------------------------ what a run reports about itself

SHOWN = 200  # outcomes a run hands back in full; the rest are counted (the ledger holds every one)
_PRIORITY = {OutcomeStatus.ERROR: 0, OutcomeStatus.QUARANTINED: 1, OutcomeStatus.REJECTED: 2,
             OutcomeStatus.ACCEPTED: 3, "superseded": 3, OutcomeStatus.DUPLICATE: 4}


@collector_paused()
def summarise(outcomes: Iterable[Outcome | dict[str, Any]], shown: int = SHOWN) -> dict[str, Any]:
    """A bounded account of a collect: counts per status, the periods touched, and at most `shown` outcomes,
    those that need the Office first (errors, quarantined, rejected). Its size does not grow with the number
    of units, so it can travel as a Prefect result."""
    rows = [o.to_dict() if isinstance(o, Outcome) else o for o in outcomes]
    counts: dict[str, int] = {}
    for o in rows:
        counts[str(o["status"])] = counts.get(str(o["status"]), 0) + 1
    # stable: arrival order kept within; a channel not reached (an error without a unit) before any unit's
    ordered = sorted(rows, key=lambda o: -1 if o["status"] == OutcomeStatus.ERROR and not o.get("unit_code")
                     else _PRIORITY.get(o["status"], 5))
    return {"total": len(rows), "counts": counts, "periods": sorted({o["period"] for o in rows if o.get("period")}),
            "outcomes": [{**o, "status": str(o["status"])} for o in ordered[:shown]]}


def merge_summaries(parts: Iterable[dict[str, Any]], shown: int = SHOWN) -> dict[str, Any]:
    parts = list(parts)
    counts: dict[str, int] = {}
    for part in parts:
        for status, n in part["counts"].items():
            counts[status] = counts.get(status, 0) + n
    merged = summarise([o for part in parts for o in part["outcomes"]], shown)
    return {"total": sum(p["total"] for p in parts), "counts": counts,
            "periods": sorted({k for p in parts for k in p["periods"]}), "outcomes": merged["outcomes"]}
