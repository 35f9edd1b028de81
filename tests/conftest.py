"""Shared fixtures: a fresh data directory per test and one real Prefect engine per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("BAOCAO_NO_PDF", "1")  # LibreOffice conversion is slow; tests check the .docx itself

import pytest  # noqa: E402

from tasks.context import Context, open_context  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


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
