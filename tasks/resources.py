"""Where the program finds its templates and its default configuration: one place for every caller.

Two layouts must work:

- a checkout, or an editable install of it (`pip install -e .`): the top-level templates/ and config/ next to
  tasks/ and flows/ are used as they are, so an edit there shows at once;
- an installed wheel (`pip install .`): site-packages holds no checkout. pyproject.toml maps the same two
  folders into the wheel as the data-only packages `baocao_templates` and `baocao_config`
  ([tool.setuptools.package-dir] + package-data). Shipping them as packages (rather than data-files under
  sys.prefix, or copies inside tasks/) keeps one copy in the source tree, installs them next to `tasks`
  in any environment (venv, --user, --target), and lets this module find them through the import system.

Overrides: BAOCAO_TEMPLATES_DIR names another templates folder (with mail/, report/, web/ inside);
BAOCAO_CONFIG_DIR (or `baocao --config`) another configuration folder. Without BAOCAO_CONFIG_DIR, ./config
of the current directory is used when it exists, else the shipped sample configuration: that is what lets
`baocao demo` run from any directory.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
TEMPLATES_PACKAGE = "baocao_templates"
CONFIG_PACKAGE = "baocao_config"


def _in_checkout(folder: str) -> Path | None:
    """The checkout's top-level folder, when this code runs from a checkout (pyproject.toml beside it)."""
    path = CHECKOUT / folder
    return path if (CHECKOUT / "pyproject.toml").is_file() and path.is_dir() else None


def _installed(package: str) -> Path | None:
    """The folder of a data-only package installed from the wheel."""
    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def shipped_templates_dir() -> Path:
    """The templates that come with the program (checkout or installed package), ignoring overrides."""
    found = _in_checkout("templates") or _installed(TEMPLATES_PACKAGE)
    if found is None:
        raise FileNotFoundError(f"Không tìm thấy thư mục mẫu (templates/ hoặc gói {TEMPLATES_PACKAGE}); "
                                "hãy cài lại baocao hoặc đặt BAOCAO_TEMPLATES_DIR")
    return found


def shipped_config_dir() -> Path:
    """The sample configuration that comes with the program (checkout or installed package)."""
    found = _in_checkout("config") or _installed(CONFIG_PACKAGE)
    if found is None:
        raise FileNotFoundError(f"Không tìm thấy cấu hình mẫu (config/ hoặc gói {CONFIG_PACKAGE}); "
                                "hãy cài lại baocao hoặc chỉ rõ --config / BAOCAO_CONFIG_DIR")
    return found


def templates_dir() -> Path:
    """BAOCAO_TEMPLATES_DIR when set, else the shipped templates."""
    override = os.environ.get("BAOCAO_TEMPLATES_DIR")
    return Path(override) if override else shipped_templates_dir()


def default_config_dir() -> Path:
    """BAOCAO_CONFIG_DIR when set; else ./config (relative, as given) when the current directory has one;
    else the shipped sample configuration."""
    override = os.environ.get("BAOCAO_CONFIG_DIR")
    if override:
        return Path(override)
    local = Path("config")
    return local if local.is_dir() else shipped_config_dir()
