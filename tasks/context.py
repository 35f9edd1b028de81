"""Where a run reads its configuration and keeps its state: one object handed to every step."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

from tasks.config import AppConfig, load_config
from tasks.ledger import Ledger
from tasks.periods import Period, current_period, parse_period
from tasks.resources import default_config_dir

DEFAULT_CONFIG_DIR = default_config_dir()


@dataclass
class Context:
    cfg: AppConfig
    data_dir: Path
    # (which deadline, period key) -> date: asked for every document and every answer of a collect
    _deadlines: dict[tuple[str, str], date] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def ledger(self) -> Ledger:
        url = os.environ.get("BAOCAO_LEDGER_URL") or self.cfg.settings.ledger_url
        return Ledger.for_data_dir(self.data_dir, url)

    @property
    def inbox(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def templates_dir(self) -> Path:
        return self.data_dir / "templates"

    def period(self, key: str | int | None) -> Period:
        """The named period, or the current one of the report's period kind."""
        key = str(key) if key is not None else None  # `--param period=2021` arrives as the number 2021
        return parse_period(key) if key else current_period(self.cfg.period_kind)  # type: ignore[arg-type]

    def unit_deadline(self, period: Period) -> date:
        return self._deadline("unit", period, self.cfg.unit_deadline)

    def report_deadline(self, period: Period) -> date:
        return self._deadline("report", period, self.cfg.report_deadline)

    def _deadline(self, which: str, period: Period, compute: Callable[[Period], date]) -> date:
        key = (which, period.key)
        if key not in self._deadlines:
            self._deadlines[key] = compute(period)
        return self._deadlines[key]


def _config_stamp(config_dir: Path) -> tuple[tuple[str, float], ...]:
    files = [config_dir / "settings.yaml", config_dir / "units.yaml", *sorted((config_dir / "reports").glob("*.yaml"))]
    return tuple((str(f), f.stat().st_mtime) for f in files if f.exists())


_CACHE: dict[tuple[object, ...], Context] = {}


def cached_context(config_dir: Path | str | None = None, data_dir: Path | str | None = None) -> Context:
    """One Context per process while the configuration files are unchanged (tasks open it often)."""
    cdir = Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR
    key = (str(cdir.resolve()), str(data_dir), os.environ.get("BAOCAO_DATA_DIR"),
           os.environ.get("BAOCAO_LEDGER_URL"), os.environ.get("BAOCAO_REPORT"), _config_stamp(cdir))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = open_context(config_dir, data_dir)
    return _CACHE[key]


def open_context(config_dir: Path | str | None = None, data_dir: Path | str | None = None) -> Context:
    cfg = load_config(Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR)
    report = os.environ.get("BAOCAO_REPORT")  # `baocao --report ID`: another report definition of config/reports
    if report:
        cfg = cfg.with_report(report)
    if data_dir is None:
        data_dir = os.environ.get("BAOCAO_DATA_DIR") or cfg.settings.data_dir
    return Context(cfg=cfg, data_dir=Path(data_dir))
