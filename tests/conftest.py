"""Shared fixtures: a fresh data directory per test and one real Prefect engine per session."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

from flows.offline import ensure_offline  # before Prefect: no analytics (DO_NOT_TRACK too)

ensure_offline()
os.environ.setdefault("BAOCAO_NO_PDF", "1")  # LibreOffice conversion is slow; tests check the .docx itself

import pytest  # noqa: E402

from tasks.context import Context, open_context  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline-safe: any connection this process tries to open beyond loopback fails the test."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if isinstance(address, tuple):
            host = str(address[0])
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise AssertionError(f"test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped configuration, safe to edit in a test."""
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


@pytest.fixture
def ctx(config_dir: Path, tmp_path: Path) -> Context:
    return open_context(config_dir, tmp_path / "data")


@pytest.fixture(scope="session")
def prefect_engine():
    """The real Prefect engine against a temporary local server (started once per session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
