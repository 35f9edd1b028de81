"""The folder channel (the embedded default): files dropped in <data_dir>/inbox, never moved or changed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from tasks.channels.base import Arrivals, UnitRequest, workbook_request
from tasks.config import Unit
from tasks.context import Context
from tasks.intake import content_hash
from tasks.periods import TZ, Period
from tasks.types import Document, Source


class FolderChannel:
    name: Source = "folder"
    how_to_return = "chép tệp đã điền vào thư mục nhận báo cáo của Văn phòng Sở"

    def __init__(self, ctx: Context, only: Iterable[str] | None = None):
        self.ctx = ctx
        self.only = list(only) if only is not None else None  # source refs a chunk must read

    def request(self, unit: Unit, period: Period) -> UnitRequest:
        return workbook_request(self.ctx, unit, period)

    @contextmanager
    def receive(self, period: Period) -> Iterator[Arrivals]:
        """Files not yet recorded; nothing to acknowledge (the content hash is the folder's cursor)."""
        yield Arrivals(documents=self.documents(self.ctx.ledger.known_hashes(self.ctx.cfg.report.id)))

    def files(self) -> list[Path]:
        """Inbox files in order of arrival (hidden files and Office lock files skipped)."""
        ctx = self.ctx
        if not ctx.inbox.exists():
            return []
        if self.only is not None:
            files = [p for p in (ctx.data_dir / ref for ref in self.only) if p.is_file()]
        else:
            files = [p for p in ctx.inbox.rglob("*") if p.is_file() and not p.name.startswith((".", "~$"))]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def documents(self, known: set[str] | None = None) -> list[Document]:
        """The inbox files as documents; contents already recorded are skipped."""
        docs: list[Document] = []
        for path in self.files():
            data = path.read_bytes()
            if known is not None and content_hash(data) in known:
                continue
            received = datetime.fromtimestamp(path.stat().st_mtime, TZ)
            docs.append(Document(source="folder", source_ref=str(path.relative_to(self.ctx.data_dir)),
                                 filename=path.name, content=data, received_at=received))
        return docs
