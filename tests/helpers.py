"""Building filled workbooks the way a unit would, for tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from tasks.channels.folder import FolderChannel
from tasks.context import Context
from tasks.samples import BASE, Sample, render_sample
from tasks.types import Document


def filled(ctx: Context, unit: str = "VP", period: str = "2021-03", **changes: Any) -> bytes:
    """The unit's workbook for the period with the sample values, some changed (None clears a cell)."""
    values = {**BASE[unit], **changes}
    return render_sample(ctx, Sample("x.xlsx", unit, period, "2021-03-15T09:00", values))


def grid_of(ctx: Context, unit: str = "VP", period: str = "2021-03", **changes: Any) -> list[list[Any]]:
    from tasks.intake import read_grid

    return read_grid(filled(ctx, unit, period, **changes), "x.xlsx")


def mark_delivered(ctx: Context, period: str) -> None:
    """Record that a period's report went out (closing it), as deliver_report would."""
    ctx.ledger.record_message(key=f"delivery:{ctx.cfg.report.id}:{period}", kind="delivery",
                              report_id=ctx.cfg.report.id, period=period, unit_code=None,
                              recipients=["ubnd@tuyenquang.gov.vn"], subject="test", message_id="<t@x>",
                              status="written")


def folder_documents(ctx: Context, known: set[str] | None = None) -> list[Document]:
    """The inbox files as documents, as the folder channel reads them (recorded contents skipped; files the
    test has just written count as settled)."""
    return FolderChannel(ctx, settle_seconds=0).documents()


def approve(ctx: Context, period: str, out: Path | None = None, number: str = "21/BC-SNV",
            issued: date = date(2021, 3, 18), username: str = "giamdoc") -> None:
    """The Director approves the current draft, as the approval page records it (files' SHA-256 included)."""
    from flows.approval import default_out, draft_digests
    from tasks.approvals import APPROVED, record_decision

    p = ctx.period(period)
    record_decision(ctx.ledger, report_id=ctx.cfg.report.id, period=period, decision=APPROVED, username=username,
                    name=ctx.cfg.settings.approval.signer, sha256=draft_digests(ctx, p, out or default_out(ctx, p)),
                    document_number=number, issue_date=issued)


def reconfigure(config_dir: Path, channels: dict[str, Any] | None = None,
                unit_channels: dict[str, str] | None = None) -> None:
    """Edit the test copy of the config: settings.yaml's `channels.<name>` keys (a channel's dict is merged, a
    plain setting replaced), and some units' channel."""
    import yaml

    for name, edit in (("settings.yaml", channels), ("units.yaml", unit_channels)):
        if not edit:
            continue
        path = config_dir / name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if name == "settings.yaml":
            for channel, values in edit.items():
                if isinstance(values, dict):
                    data["channels"][channel].update(values)
                else:
                    data["channels"][channel] = values
        else:
            for unit in data["units"]:
                unit["channel"] = edit.get(unit["code"], unit["channel"])
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def add_communes(config_dir: Path, n: int, name: str = "Xã số {i}", digits: int = 3) -> list[str]:
    """Append n folder units (X000, X001, ... named by `name`) to the test config: a province's scale."""
    import yaml

    path = config_dir / "units.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    codes = [f"X{i:0{digits}d}" for i in range(n)]
    data["units"] += [{"code": code, "name": name.format(i=i), "emails": [f"x{i}@xa.test"], "channel": "folder"}
                      for i, code in enumerate(codes)]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return codes


def remove_chain(deepest: bytes, top: bytes) -> None:
    """Remove a chain of nested folders (and their files) from the deepest up to, not including, `top`,
    without recursion: shutil.rmtree (pytest's own clean-up too) recurses once per level."""
    import os

    while deepest != top:
        for name in os.listdir(deepest):
            os.unlink(os.path.join(deepest, name))
        os.rmdir(deepest)
        deepest = os.path.dirname(deepest)


def deny_reading(monkeypatch: Any, name: str) -> None:
    """os.open refuses every path ending in `name` with EACCES, as a share's rights would (the tests run as
    root, who may open anything); `monkeypatch.undo()` or setattr(os, "open", ...) grants it again."""
    import errno
    import os

    real_open = os.open

    def denied(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith(name):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
