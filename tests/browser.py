"""Helpers for the web tests: accounts in a test config, the app on a loopback port, Debian's Chromium.

Chromium is the system one (/usr/bin/chromium, installed by scripts/ensure-chromium.sh), driven by
Playwright for Python; `playwright install` is never used, so nothing is downloaded.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tasks.approvals import hash_password
from tasks.context import Context

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=vi"]
SECRET = "test-secret-" + "x" * 40
PASSWORDS = {"vanphong": "mat-khau-van-phong", "giamdoc": "mat-khau-giam-doc"}
ROOT = Path(__file__).resolve().parent.parent

_HASHES: dict[str, str] = {}


def add_accounts(config_dir: Path, base_url: str = "http://127.0.0.1:8080", **web: Any) -> None:
    """An operator (vanphong) and an approver (giamdoc) in the test copy of settings.yaml."""
    if not _HASHES:
        _HASHES.update({u: hash_password(p) for u, p in PASSWORDS.items()})
    path = config_dir / "settings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["web"] = {"base_url": base_url, **web, "accounts": [
        {"username": "vanphong", "name": "Nguyễn Thị Thu", "role": "operator", "password_hash": _HASHES["vanphong"]},
        {"username": "giamdoc", "name": "Bàng Quốc Việt", "role": "approver", "password_hash": _HASHES["giamdoc"]},
    ]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@dataclass
class Recorder:
    """Records operator actions and decisions instead of starting Prefect runs."""

    started: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    decisions: list[Any] = field(default_factory=list)

    def __call__(self, flow_name: str, parameters: dict[str, Any]) -> str:
        self.started.append((flow_name, parameters))
        return f"lượt-chạy-{len(self.started)}"


class Clock:
    """A settable clock for the app (the samples are March 2021)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve the app with uvicorn on a free loopback port in a thread; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="baocao-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A page in Debian's headless Chromium, in Vietnamese, with no network beyond loopback."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh",
                                          viewport={"width": width, "height": height}, accept_downloads=True)
            yield context
        finally:
            browser.close()


def screenshot(page: Any, out_dir: Path, name: str, docs: bool = True, full_page: bool = True) -> Path:
    """PNG of the page under the test's output; copied to docs/screenshots/ for the README when missing there
    or when BAOCAO_UPDATE_SCREENSHOTS=1."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    target = ROOT / "docs" / "screenshots" / path.name
    # the README's copies are written once (or on request), so a test run leaves the tree clean
    if docs and (not target.exists() or os.environ.get("BAOCAO_UPDATE_SCREENSHOTS")):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return path


def consolidate(ctx: Context, period_key: str) -> dict[str, Path]:
    """Write the period's JSON, .docx and .xlsx where the app reads them (<data_dir>/reports/<period>/)."""
    from tasks.consolidate import build_consolidation
    from tasks.outputs import write_outputs

    period = ctx.period(period_key)
    return write_outputs(ctx, period, build_consolidation(ctx, period), ctx.data_dir / "reports" / period.key).paths


def deliver(ctx: Context, period_key: str) -> Any:
    """The delivery step itself (what the approval event's deployment runs): the issued document, numbered and
    dated as approved, in the .eml to UBND tỉnh."""
    from tasks.approvals import latest_decision
    from tasks.deliver import delivery_mails
    from tasks.outputs import write_final
    from tasks.sending import dispatch

    period = ctx.period(period_key)
    out = ctx.data_dir / "reports" / period.key
    decision = latest_decision(ctx.ledger, ctx.cfg.report.id, period.key)
    assert decision is not None and decision.approved and decision.document_number and decision.issue_date
    written = write_final(ctx, period, out, decision.document_number, decision.issue_date)
    return dispatch(ctx, delivery_mails(ctx, period, out, written.paths))
