"""Channels: the ways a unit receives its request and returns its report, all with one shape.

Each channel (folder, email, sheets) answers three questions:
- `request(unit, period)`: what the unit is sent for the period (a workbook to fill, a tab, a link);
- `receive(period)`: which new documents have arrived since the channel's cursor — a context manager
  whose body records them; on a normal exit the channel acknowledges them (marks mail processed, moves
  its cursor), so a crash in between means they are read again and the ledger keeps them from counting twice;
- `how_to_return`: the sentence telling a unit how to send its report back on this channel.

Channels hand documents to whatever intake the caller passes; none imports the collect step.
Transports (SMTP/IMAP clients, the Sheets gateway) live below, in tasks/transports/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tasks.channels.base import Channel, unit_workbook
from tasks.config import Unit
from tasks.context import Context


def channel_of(ctx: Context, unit: Unit) -> Channel:
    """The channel a unit reports on (config `units[].channel`)."""
    return channel_named(ctx, unit.channel)


class _Registry(dict[str, Any]):
    """Channel name -> class; channel modules are imported when first used (each pulls in its transport:
    IMAP, the Sheets client)."""

    def __missing__(self, name: str) -> Any:
        from tasks.channels.email import EmailChannel
        from tasks.channels.folder import FolderChannel
        from tasks.channels.sheets import SheetsChannel
        from tasks.channels.web import WebChannel

        self.update(folder=FolderChannel, email=EmailChannel, sheet=SheetsChannel, web=WebChannel)
        return super().__getitem__(name)


CHANNEL_CLASSES = _Registry()


def channel_named(ctx: Context, name: str) -> Channel:
    channel: Channel = CHANNEL_CLASSES[name](ctx)
    return channel


def polled_channels(ctx: Context) -> Iterator[Channel]:
    """The channels a collect run polls besides the inbox folder (which the flow reads in chunks)."""
    channels = ctx.cfg.settings.channels
    if channels.sheets.enabled:
        yield channel_named(ctx, "sheet")
    if channels.imap.enabled:
        yield channel_named(ctx, "email")

__all__ = ["CHANNEL_CLASSES", "Channel", "channel_named", "channel_of", "polled_channels", "unit_workbook"]
