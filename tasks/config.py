"""Configuration: units, report definitions and settings, loaded from YAML and validated.

A wrong file must give the operator one clear message naming the file, the key and the problem,
so every model forbids unknown keys and every load goes through `load_config`.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.text import nfc


class ConfigError(Exception):
    """A configuration problem, phrased for the operator."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---------------------------------------------------------------- units


class Unit(_Model):
    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1)
    emails: tuple[str, ...] = ()
    channel: Literal["folder", "email", "sheet"] = "folder"
    active: bool = True

    @field_validator("code", "name")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return nfc(v.strip())

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for e in v:
            e = e.strip().lower()
            if not EMAIL_RE.match(e):
                raise ValueError(f"địa chỉ email không hợp lệ: {e!r}")
            out.append(e)
        return tuple(out)

    @model_validator(mode="after")
    def _email_channel_needs_address(self) -> Unit:
        if self.channel in ("email", "sheet") and self.active and not self.emails:
            raise ValueError(f"đơn vị {self.code} dùng kênh {self.channel} nhưng chưa có email liên hệ")
        return self


class UnitsFile(_Model):
    units: tuple[Unit, ...]

    @field_validator("units")
    @classmethod
    def _unique(cls, units: tuple[Unit, ...]) -> tuple[Unit, ...]:
        seen: set[str] = set()
        for u in units:
            if u.code.casefold() in seen:
                raise ValueError(f"mã đơn vị {u.code} bị trùng")
            seen.add(u.code.casefold())
        return units


# ---------------------------------------------------------------- report definition


class Group(_Model):
    code: str
    kind: Literal["form", "topic", "narrative"]
    label: str


class Indicator(_Model):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    group: str
    label: str
    unit: str = ""
    type: Literal["integer", "text"]
    required: bool = False
    min: int | None = None
    max: int | None = None
    warn_above: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Indicator:
        if self.type == "text" and any(v is not None for v in (self.min, self.max, self.warn_above)):
            raise ValueError(f"chỉ tiêu {self.code} kiểu text không được có min/max/warn_above")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"chỉ tiêu {self.code}: min lớn hơn max")
        return self


class Condition(_Model):
    left: str
    op: Literal[">", ">=", "<", "<=", "==", "!=", "filled", "empty"]
    right: int | str | None = None
    factor: float = 1.0


class Rule(_Model):
    id: str
    severity: Literal["error", "warning"] = "error"
    when: Condition | None = None
    require: Condition
    message: str


class Recipient(_Model):
    name: str
    note: str | None = None
    emails: tuple[str, ...] = ()
    units: Literal["all"] | None = None
    primary: bool = False
    archive: bool = False

    @property
    def line(self) -> str:
        """The 'Nơi nhận' line as printed on the document."""
        text = self.name + (f" ({self.note})" if self.note else "")
        return text + ("." if self.archive else ";")


class Signer(_Model):
    authority: str
    title: str
    name: str


class ReportDefinition(_Model):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    short_code: str
    title: str
    plan_reference: str = ""
    document_type: str = "BC"
    document_number: str
    recipient_line: str
    groups: tuple[Group, ...]
    indicators: tuple[Indicator, ...]
    main_indicators: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    recipients: tuple[Recipient, ...]
    signer: Signer

    @model_validator(mode="after")
    def _references(self) -> ReportDefinition:
        codes = [i.code for i in self.indicators]
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            raise ValueError(f"mã chỉ tiêu bị trùng: {', '.join(sorted(dupes))}")
        groups = {g.code for g in self.groups}
        for ind in self.indicators:
            if ind.group not in groups:
                raise ValueError(f"chỉ tiêu {ind.code} thuộc nhóm {ind.group!r} chưa khai báo trong groups")
        known = set(codes)
        for code in self.main_indicators:
            if code not in known:
                raise ValueError(f"main_indicators: chỉ tiêu {code} không tồn tại")
        for rule in self.rules:
            for cond in filter(None, (rule.when, rule.require)):
                refs = [cond.left] + ([cond.right] if isinstance(cond.right, str) else [])
                for ref in refs:
                    if ref not in known:
                        raise ValueError(f"quy tắc {rule.id}: chỉ tiêu {ref} không tồn tại")
        return self

    @cached_property
    def by_code(self) -> dict[str, Indicator]:
        return {i.code: i for i in self.indicators}

    @property
    def numeric(self) -> list[Indicator]:
        return [i for i in self.indicators if i.type == "integer"]

    @property
    def narrative(self) -> list[Indicator]:
        kinds = {g.code: g.kind for g in self.groups}
        return [i for i in self.indicators if kinds[i.group] == "narrative"]


# ---------------------------------------------------------------- settings


class Organisation(_Model):
    supervising_body: str
    issuing_body: str
    issuing_body_name: str
    short_code: str
    place: str
    office_name: str
    office_email: str
    operator_email: str


class Deadlines(_Model):
    unit_working_days: int = Field(default=2, ge=1, le=30)
    report_working_days: int = Field(default=4, ge=1, le=60)
    reminder_days_before: tuple[int, ...] = (2, 0, -1)

    @model_validator(mode="after")
    def _order(self) -> Deadlines:
        if self.report_working_days <= self.unit_working_days:
            raise ValueError("report_working_days phải lớn hơn unit_working_days (Sở cần thời gian tổng hợp)")
        return self


class SmtpChannel(_Model):
    enabled: bool = False
    host: str = "localhost"
    port: int = 587
    security: Literal["ssl", "starttls", "plain"] = "starttls"
    username: str | None = None
    password_env: str = "BAOCAO_SMTP_PASSWORD"
    password_block: str | None = None


class ImapChannel(_Model):
    enabled: bool = False
    host: str = "localhost"
    port: int = 993
    security: Literal["ssl", "starttls", "plain"] = "ssl"
    username: str = ""
    password_env: str = "BAOCAO_IMAP_PASSWORD"
    password_block: str | None = None
    folder: str = "INBOX"
    processed_folder: str | None = None


class SheetsChannel(_Model):
    enabled: bool = False
    spreadsheet_id: str = ""
    endpoint: str | None = None
    credentials_env: str = "BAOCAO_SHEETS_CREDENTIALS"
    credentials_block: str | None = None
    settle_minutes: float = Field(default=30, ge=0)  # a changed tab is collected once unchanged this long


class Channels(_Model):
    outbox: bool = True
    smtp: SmtpChannel = SmtpChannel()
    imap: ImapChannel = ImapChannel()
    sheets: SheetsChannel = SheetsChannel()


class Approval(_Model):
    enabled: bool = True
    signer: str = ""
    signer_email: str = ""
    remind_after_hours: float = 24
    timeout_hours: float = 168


CRON_RE = re.compile(r"^\S+ \S+ \S+ \S+ \S+$")


class Schedules(_Model):
    request: str = "0 8 15 * *"
    remind: str = "0 8 * * *"
    collect: str = "*/15 * * * *"
    consolidate: str = "0 14 * * *"

    @field_validator("request", "remind", "collect", "consolidate")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not CRON_RE.match(v.strip()):
            raise ValueError(f"biểu thức cron phải có 5 trường: {v!r}")
        return v.strip()


class Settings(_Model):
    organisation: Organisation
    timezone: str = "Asia/Ho_Chi_Minh"
    report: str
    period_kind: Literal["month", "quarter", "half", "nine_months", "year"] = "month"
    deadlines: Deadlines = Deadlines()
    data_dir: str = "data"
    ledger_url: str | None = None
    channels: Channels = Channels()
    approval: Approval = Approval()
    schedules: Schedules = Schedules()

    @field_validator("ledger_url")
    @classmethod
    def _no_password_in_url(cls, v: str | None) -> str | None:
        if v and re.search(r"://[^/@:]+:[^/@]+@", v):
            raise ValueError("không ghi mật khẩu trong ledger_url; dùng biến môi trường BAOCAO_LEDGER_URL")
        return v


# ---------------------------------------------------------------- loading


class AppConfig(_Model):
    """Everything read from the config directory."""

    config_dir: Path
    settings: Settings
    units: tuple[Unit, ...]
    reports: dict[str, ReportDefinition]

    @property
    def report(self) -> ReportDefinition:
        return self.reports[self.settings.report]

    @property
    def active_units(self) -> list[Unit]:
        return [u for u in self.units if u.active]

    @cached_property
    def _units_by_key(self) -> dict[str, Unit]:
        """Casefolded NFC code -> unit, built once (lookups run several times per document)."""
        by_key: dict[str, Unit] = {}
        for u in self.units:
            by_key.setdefault(nfc(u.code).casefold(), u)  # the first unit wins, as the old linear scan did
        return by_key

    def unit(self, code: str) -> Unit | None:
        return self._units_by_key.get(nfc(code.strip()).casefold())


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: không tìm thấy tệp cấu hình") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: tệp phải được lưu bằng mã UTF-8") from None
    try:
        data = yaml.load(nfc(text), Loader=_LOADER)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (dòng {mark.line + 1}, cột {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}{where}: YAML không hợp lệ: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: nội dung phải là một bảng khóa: giá trị (mapping)")
    return data


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_PYDANTIC_VI = {
    "missing": "thiếu khóa bắt buộc",
    "extra_forbidden": "khóa không được hỗ trợ (gõ sai tên?)",
    "string_pattern_mismatch": "sai định dạng",
    "int_parsing": "phải là số nguyên",
    "int_type": "phải là số nguyên",
    "float_parsing": "phải là số",
    "bool_parsing": "phải là true hoặc false",
    "bool_type": "phải là true hoặc false",
    "string_type": "phải là chuỗi ký tự",
    "string_too_short": "không được để trống",
    "string_too_long": "quá dài",
    "tuple_type": "phải là danh sách [..]",
    "list_type": "phải là danh sách [..]",
    "model_type": "phải là một bảng khóa: giá trị",
    "dict_type": "phải là một bảng khóa: giá trị",
    "greater_than_equal": "quá nhỏ",
    "less_than_equal": "quá lớn",
}


def _explain(err: Any) -> str:
    """One pydantic error in Vietnamese: what is wrong and, for a choice, what is allowed."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"giá trị {err.get('input')!r} không hợp lệ; chọn một trong: {allowed}"
    if kind == "value_error":
        return str(err.get("msg", "")).removeprefix("Value error, ")
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return f"giá trị {err.get('input')!r} {_PYDANTIC_VI[kind]} (giới hạn {bound})"
    if kind in _PYDANTIC_VI and kind not in ("missing", "extra_forbidden"):
        return f"{_PYDANTIC_VI[kind]} (đang là {err.get('input')!r})"
    return _PYDANTIC_VI.get(kind) or str(err.get("msg", ""))


def _named(loc: tuple[Any, ...], data: Any) -> str:
    """'indicators[3]' is hard to find in a long file: add the item's code when it has one."""
    where = _format_loc(loc)
    node = data
    for part in loc[:2]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return where
    if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(node, dict) and node.get("code"):
        return f"{where} (mã {node['code']})"
    return where


def _parse(model: type[_Model], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = f"{_named(tuple(err['loc']), data)}: " if err["loc"] else ""
        more = f" (và {len(exc.errors()) - 1} lỗi khác)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{path}: {where}{_explain(err)}{more}") from None


def load_config(config_dir: Path | str) -> AppConfig:
    """Load and validate config/settings.yaml, config/units.yaml and config/reports/*.yaml."""
    config_dir = Path(config_dir)
    settings = _parse(Settings, _read_yaml(config_dir / "settings.yaml"), config_dir / "settings.yaml")
    units_file = _parse(UnitsFile, _read_yaml(config_dir / "units.yaml"), config_dir / "units.yaml")
    reports: dict[str, ReportDefinition] = {}
    for path in sorted((config_dir / "reports").glob("*.yaml")):
        report = _parse(ReportDefinition, _read_yaml(path), path)
        if report.id != path.stem:
            raise ConfigError(f"{path}: id: phải trùng tên tệp ({path.stem!r}), đang là {report.id!r}")
        reports[report.id] = report
    if settings.report not in reports:
        known = ", ".join(sorted(reports)) or "không có"
        raise ConfigError(
            f"{config_dir / 'settings.yaml'}: report: không có định nghĩa báo cáo {settings.report!r} "
            f"trong {config_dir / 'reports'} (hiện có: {known})"
        )
    return AppConfig(config_dir=config_dir, settings=settings, units=units_file.units, reports=reports)
