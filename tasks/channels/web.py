"""The web channel: the unit gets its own link (`<base_url>/nop/<token>`) and uploads its workbook there.

The page (flows/web) checks the upload at once and hands it to the same intake as every channel; nothing
is polled, so `receive` has nothing new to give.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from tasks.channels.base import Arrivals, UnitRequest, workbook_request
from tasks.config import Unit
from tasks.context import Context
from tasks.links import unit_token
from tasks.periods import Period
from tasks.types import Source


def unit_url(ctx: Context, unit: Unit, period: Period) -> str | None:
    """The unit's own page for the period, or None when no signing secret is configured (the pages need it)."""
    web = ctx.cfg.settings.web
    secret = os.environ.get(web.secret_env, "").strip()
    if len(secret) < 32:
        return None
    return f"{web.base_url.rstrip('/')}/nop/{unit_token(secret, unit.code, ctx.cfg.report.id, period.key)}"


class WebChannel:
    name: Source = "web"
    how_to_return = "tải tệp đã điền lên trang nộp báo cáo của đơn vị (kết quả kiểm tra hiện ngay trên trang)"

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def request(self, unit: Unit, period: Period, *, workbook: bool = True) -> UnitRequest:
        """The workbook (to fill offline) and the unit's page to upload it, or to type the figures in."""
        part = workbook_request(self.ctx, unit, period, workbook)
        return UnitRequest(part.workbook, part.workbook_name, link=unit_url(self.ctx, unit, period))

    @contextmanager
    def receive(self, period: Period) -> Iterator[Arrivals]:
        yield Arrivals()  # uploads are recorded by the page as they come
