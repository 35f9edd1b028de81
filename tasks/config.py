"""Configuration: units, report definitions and settings, loaded from YAML and validated.

A wrong file must give the operator one clear message naming the file, the key and the problem,
so every model forbids unknown keys and every load goes through `load_config`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.periods import TZ, Period, PeriodError, deadline_by_rule, parse_period
from tasks.render.vietnamese_dates import format_number
from tasks.text import nfc


class ConfigError(Exception):
    """A configuration problem, phrased for the operator."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---------------------------------------------------------------- units


SPREADSHEET_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
SPREADSHEET_URL_RE = re.compile(r"^https://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)(?:[/?#].*)?$")


def spreadsheet_id(value: str) -> str:
    """A spreadsheet's id, from the id itself or the address the Office copies from the browser."""
    value = value.strip()
    if match := SPREADSHEET_URL_RE.match(value):
        return match.group(1)
    if value and not SPREADSHEET_ID_RE.match(value):
        raise ValueError(f"mã bảng tính {value!r} không hợp lệ: ghi đường dẫn của bảng tính "
                         "(https://docs.google.com/spreadsheets/d/…) hoặc phần mã giữa /d/ và /edit")
    return value


_ISO_DATE_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


def window_bound(value: Any) -> str | None:
    """A unit's `from` / `until` as written in units.yaml: a period key (2021-03, 2021-Q1, 2021-H1, 2021-9M,
    2021) or a date (2021-03-01, which YAML reads as a date), normalised to its key or ISO date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else None
    problem = (f"{value!r} không phải kỳ báo cáo hay ngày: ghi kỳ (2021-03, 2021-Q1, 2021-H1, 2021-9M, 2021) "
               "hoặc ngày (2021-03-01)")
    if text is None:
        raise ValueError(problem)
    if _ISO_DATE_RE.match(text):
        try:
            return date(*(int(part) for part in text.split("-"))).isoformat()
        except ValueError:
            raise ValueError(problem) from None
    try:
        period = parse_period(text)
    except PeriodError:
        raise ValueError(problem) from None
    if period.kind == "adhoc":
        raise ValueError(problem)
    return period.key


def _bound_dates(value: str) -> tuple[date, date]:
    """The first and last day a bound names: a date itself, or a period's cut-off window (2021-03: 15/02–14/03)."""
    if _ISO_DATE_RE.match(value):
        day = date.fromisoformat(value)
        return day, day
    period = parse_period(value)
    return period.start, period.end


def _bound_label(value: str) -> str:
    """'tháng 3 năm 2021', 'quý II năm 2021', 'ngày 01/03/2021': a bound as a message names it."""
    if _ISO_DATE_RE.match(value):
        return f"ngày {date.fromisoformat(value):%d/%m/%Y}"
    return parse_period(value).label


class Unit(_Model):
    """A reporting unit. Which periods it reports for: `from` (its first period, or the date it started) and
    `until` (its last period, or the date it ended), both optional and inclusive; a period expects the unit
    when its cut-off window shares a day with the unit's (expected_in). `active: false` switches a unit off:
    with an `until` it changes nothing (the window says when it ended, so its earlier periods keep it); with
    none, the unit reports for no period at all (when it ended is unknown: `check-config` asks for an until)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1)
    emails: tuple[str, ...] = ()
    channel: Literal["folder", "email", "sheet", "web"] = "folder"
    active: bool = True
    valid_from: str | None = Field(default=None, alias="from")
    valid_until: str | None = Field(default=None, alias="until")
    # Sheets channel: the spreadsheet holding this unit's tabs ("" = channels.sheets.spreadsheet_id). A
    # spreadsheet holds 10 million cells: a province spreads its units over several (e.g. one per district).
    spreadsheet: str = ""

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

    @field_validator("spreadsheet")
    @classmethod
    def _spreadsheet_id(cls, v: str) -> str:
        return spreadsheet_id(v)

    @field_validator("valid_from", "valid_until", mode="before")
    @classmethod
    def _window_bound(cls, v: Any) -> str | None:
        return window_bound(v)

    @model_validator(mode="after")
    def _window_in_order(self) -> Unit:
        start, end = self.window
        if start is not None and end is not None and end < start:
            raise ValueError(f"đơn vị {self.code}: until ({self.valid_until}) trước from ({self.valid_from}); "
                             "until là kỳ (hoặc ngày) cuối cùng đơn vị báo cáo, phải từ from trở đi")
        return self

    @property
    def window(self) -> tuple[date | None, date | None]:
        """The first and last day of the unit's reporting life (None: open on that side)."""
        return (_bound_dates(self.valid_from)[0] if self.valid_from else None,
                _bound_dates(self.valid_until)[1] if self.valid_until else None)

    @property
    def ended_without_date(self) -> bool:
        """Switched off with no `until`: reports for no period, so its past reports no longer count."""
        return not self.active and self.valid_until is None

    def expected_in(self, period: Period) -> bool:
        """Whether this unit reports for the period: its window shares a day with the period's cut-off window
        (switched off with no `until`: never). The one rule of who a period expects (AppConfig.units_expected_in)."""
        if self.valid_from is None and self.valid_until is None:
            return self.active
        if self.ended_without_date:
            return False
        start, end = self.window
        return (start is None or period.end >= start) and (end is None or period.start <= end)

    @property
    def window_text(self) -> str:
        """'đơn vị báo cáo từ tháng 3 năm 2021 đến hết tháng 6 năm 2021', for a unit told it is out of a period."""
        if self.ended_without_date:
            return "đơn vị hiện không thuộc diện báo cáo"
        parts = ([f"từ {_bound_label(self.valid_from)}"] if self.valid_from else []) + \
            ([f"đến hết {_bound_label(self.valid_until)}"] if self.valid_until else [])
        return "đơn vị báo cáo " + " ".join(parts) if parts else "đơn vị đang báo cáo"

    @model_validator(mode="after")
    def _email_channel_needs_address(self) -> Unit:
        if self.channel in ("email", "sheet", "web") and self.active and not self.emails:
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
    """A block of indicators in the unit's workbook. `kind` only says whether the block holds the units' free
    text (narrative); where a group appears in the report is the outline's business. "form" and "topic" are
    the communication plan's kinds, "data" any other block of figures."""

    code: str
    kind: Literal["form", "topic", "narrative", "data"]
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
    # count: a count over the period (summed across units and across the periods of the year);
    # level: a level at the cut-off (summed across units; year-to-date is the latest level, never a sum).
    aggregation: Literal["count", "level"] = "count"
    # how the report words the figure, e.g. "đăng tải {value} về cải cách hành chính"; default "<label>: {value}"
    phrase: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Indicator:
        if self.type == "text" and any(v is not None for v in (self.min, self.max, self.warn_above)):
            raise ValueError(f"chỉ tiêu {self.code} kiểu text không được có min/max/warn_above")
        if self.type == "text" and (self.aggregation != "count" or self.phrase):
            raise ValueError(f"chỉ tiêu {self.code} kiểu text không có aggregation/phrase")
        if self.phrase is not None and "{value}" not in self.phrase:
            raise ValueError(f"chỉ tiêu {self.code}: phrase phải chứa {{value}} (chỗ đặt số liệu)")
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


class OutlinePart(_Model):
    """One part of a report section, printed in order: fixed paragraphs first, then what it shows.

    It shows the figures of `groups` (by_group: one lettered paragraph per group; by_indicator: one per
    indicator, after an optional `lead` sentence where {total} is the sum when the figures share a unit), or
    one `narrative` indicator (the units' points, each credited to its unit; `empty` when nobody wrote one),
    or the reporting status (`completeness`). `heading` is numbered 1., 2. ... within its section.
    Fixed paragraphs may use {period}, {next_period} and {plan_reference}.
    """

    heading: str | None = None
    paragraphs: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    layout: Literal["by_group", "by_indicator"] = "by_group"
    lead: str | None = None
    narrative: str | None = None
    empty: str | None = None
    completeness: bool = False

    @model_validator(mode="after")
    def _one_content(self) -> OutlinePart:
        shown = [bool(self.groups), self.narrative is not None, self.completeness]
        if sum(shown) > 1:
            raise ValueError("mỗi phần (part) chỉ nêu một trong: groups, narrative, completeness")
        if sum(shown) == 0 and not self.paragraphs:
            raise ValueError("phần (part) trống: cần groups, narrative, completeness hoặc paragraphs")
        return self


class OutlineSection(_Model):
    """A top-level section (I., II., ...); `figures`: the chart and the summary table follow it."""

    title: str = Field(min_length=1)
    parts: tuple[OutlinePart, ...] = Field(min_length=1)
    figures: bool = False


class Outline(_Model):
    """The report's body, in order: sections, their headings, which groups and narratives go where."""

    sections: tuple[OutlineSection, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _figures_once(self) -> Outline:
        if sum(s.figures for s in self.sections) > 1:
            raise ValueError("outline: chỉ một mục có figures: true (biểu đồ và bảng tổng hợp)")
        return self


class DeadlineRule(_Model):
    """A deadline: a day of the period's last month, or N working days after the cut-off."""

    day_of_last_month: int | None = Field(default=None, ge=15, le=31)
    working_days_after_cutoff: int | None = Field(default=None, ge=1, le=60)

    @model_validator(mode="after")
    def _exactly_one(self) -> DeadlineRule:
        if (self.day_of_last_month is None) == (self.working_days_after_cutoff is None):
            raise ValueError("hạn phải ghi đúng một trong: day_of_last_month, working_days_after_cutoff")
        return self


class ReportPeriods(_Model):
    """The report's own period kinds (the first is the default) and deadline rules."""

    kinds: tuple[Literal["month", "quarter", "half", "nine_months", "year"], ...] = Field(min_length=1)
    unit_deadline: DeadlineRule
    report_deadline: DeadlineRule

    @model_validator(mode="after")
    def _units_first(self) -> ReportPeriods:
        u, r = self.unit_deadline, self.report_deadline
        for attr in ("day_of_last_month", "working_days_after_cutoff"):
            a, b = getattr(u, attr), getattr(r, attr)
            if a is not None and b is not None and a >= b:
                raise ValueError("hạn của đơn vị (unit_deadline) phải trước hạn báo cáo (report_deadline)")
        return self


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
    outline: Outline | None = None  # None: every group in definition order, then the reporting status
    periods: ReportPeriods | None = None  # None: settings.period_kind and settings.deadlines

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
        if self.outline is not None:
            self._check_outline(self.outline, groups)
        return self

    def _check_outline(self, outline: Outline, groups: set[str]) -> None:
        """Every group of figures and every narrative is placed exactly once, so none is dropped silently."""
        kinds = {g.code: g.kind for g in self.groups}
        placed: list[str] = []
        for section in outline.sections:
            for part in section.parts:
                for g in part.groups:
                    if g not in groups:
                        raise ValueError(f"outline: nhóm {g!r} chưa khai báo trong groups")
                    if kinds[g] == "narrative":
                        raise ValueError(f"outline: nhóm {g!r} là nhóm tự luận; nêu từng chỉ tiêu bằng narrative")
                    placed.append(g)
                if part.narrative is not None:
                    ind = self.by_code.get(part.narrative)
                    if ind is None or ind.type != "text":
                        raise ValueError(f"outline: narrative {part.narrative} không phải chỉ tiêu kiểu text")
                    placed.append(part.narrative)
        expected = [g.code for g in self.groups if g.kind != "narrative"]
        expected += [i.code for i in self.narrative]
        for code in expected:
            if placed.count(code) != 1:
                where = "chưa có" if code not in placed else "có hơn một lần"
                raise ValueError(f"outline: {code} {where} trong outline (mỗi nhóm, mỗi phần tự luận đúng một lần)")

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

    @property
    def body_outline(self) -> Outline:
        """The outline of the report body: the definition's, or every group in order then the reporting status."""
        if self.outline is not None:
            return self.outline
        parts = [OutlinePart(heading=g.label, groups=(g.code,), layout="by_indicator")
                 for g in self.groups if g.kind != "narrative"]
        parts += [OutlinePart(heading=i.label, narrative=i.code) for i in self.narrative]
        return Outline(sections=(
            OutlineSection(title="KẾT QUẢ THỰC HIỆN", parts=tuple(parts), figures=True),
            OutlineSection(title="TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ", parts=(OutlinePart(completeness=True),)),
        ))


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
    # the Office's own mail server's authserv-id: only its Authentication-Results headers are trusted
    authserv_id: str | None = None


class SheetsChannel(_Model):
    enabled: bool = False
    spreadsheet_id: str = ""  # the default spreadsheet (units may name their own: `spreadsheet` in units.yaml)
    endpoint: str | None = None
    credentials_env: str = "BAOCAO_SHEETS_CREDENTIALS"
    credentials_block: str | None = None
    settle_minutes: float = Field(default=30, ge=0)  # a changed tab is collected once unchanged this long
    batch_size: int = Field(default=100, ge=1, le=1000)  # tabs per values:batchGet request
    reads_per_minute: int = Field(default=60, ge=1, le=300)  # Google: 60 per user, 300 per project

    @field_validator("spreadsheet_id")
    @classmethod
    def _spreadsheet_id(cls, v: str) -> str:
        return spreadsheet_id(v)


class FolderChannel(_Model):
    settle_seconds: float = Field(default=2.0, ge=0, le=3600)  # a file is judged once unchanged this long


class Channels(_Model):
    outbox: bool = True
    # a mailbox or spreadsheet no collect could read for this long: the operator gets one mail (0 = never)
    alert_after_hours: float = Field(default=4, ge=0, le=24 * 31, allow_inf_nan=False)
    folder: FolderChannel = FolderChannel()
    smtp: SmtpChannel = SmtpChannel()
    imap: ImapChannel = ImapChannel()
    sheets: SheetsChannel = SheetsChannel()


class Approval(_Model):
    enabled: bool = True
    signer: str = ""
    signer_email: str = ""
    remind_after_hours: float = 24
    timeout_hours: float = 168


class WebAccount(_Model):
    """An Office (operator) or Director (approver) login for `baocao web`; only the argon2 hash is stored."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1)
    role: Literal["operator", "approver"]
    password_hash: str = Field(pattern=r"^\$argon2(id|i|d)\$")


class Web(_Model):
    """The Office's web pages: public address (for links in mails), accounts, limits. The signing secret
    comes from the environment (secret_env) or a Prefect Secret block, never from this file."""

    base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    accounts: tuple[WebAccount, ...] = ()
    secret_env: str = "BAOCAO_WEB_SECRET"
    secret_block: str | None = None
    max_upload_mb: float = Field(default=5, gt=0, le=100)
    session_hours: float = Field(default=8, gt=0, le=720)

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, v: tuple[WebAccount, ...]) -> tuple[WebAccount, ...]:
        names = [a.username.lower() for a in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tên đăng nhập bị trùng: {', '.join(dupes)}")
        return v


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
    web: Web = Web()

    @field_validator("timezone")
    @classmethod
    def _vietnam_time(cls, v: str) -> str:
        """Periods, deadlines and schedules are Vietnamese time (tasks.periods.TZ); the setting must say so."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"múi giờ {v!r} không tồn tại; dùng Asia/Ho_Chi_Minh") from None
        if v != TZ.key:
            raise ValueError(f"kỳ báo cáo, hạn nộp và lịch chạy tính theo giờ Việt Nam: chỉ dùng {TZ.key}, "
                             f"không dùng {v!r}")
        return v

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

    def report_by_id(self, report_id: str) -> ReportDefinition:
        if report_id not in self.reports:
            known = ", ".join(sorted(self.reports)) or "không có"
            raise ConfigError(f"không có định nghĩa báo cáo {report_id!r} (hiện có: {known})")
        return self.reports[report_id]

    def with_report(self, report_id: str) -> AppConfig:
        """A copy whose `report` is the named definition (`baocao --report ID`); the default is settings.report."""
        self.report_by_id(report_id)
        return self.model_copy(update={"settings": self.settings.model_copy(update={"report": report_id})})

    @property
    def period_kind(self) -> str:
        """The default period kind of the selected report: its own first kind, else settings.period_kind."""
        periods = self.report.periods
        return periods.kinds[0] if periods is not None else self.settings.period_kind

    def unit_deadline(self, period: Period) -> date:
        """When units must answer: the report's own rule, else N working days after the cut-off (settings)."""
        rule = self.report.periods.unit_deadline if self.report.periods else None
        return deadline_by_rule(period, rule.day_of_last_month if rule else None,
                                rule.working_days_after_cutoff if rule else self.settings.deadlines.unit_working_days)

    def report_deadline(self, period: Period) -> date:
        """When the Department's report is due: the report's own rule, else settings (working days)."""
        rule = self.report.periods.report_deadline if self.report.periods else None
        return deadline_by_rule(period, rule.day_of_last_month if rule else None,
                                rule.working_days_after_cutoff if rule else self.settings.deadlines.report_working_days)

    @property
    def active_units(self) -> list[Unit]:
        """The units not switched off (active: true), whatever their window: the places a collect polls, the
        units named today. Who reports for a period is units_expected_in(period), never this list."""
        return [u for u in self.units if u.active]

    def units_expected_in(self, period: Period) -> list[Unit]:
        """The units a period expects a report from (Unit.expected_in), in config order: that period's
        completeness, its reports counted, its status rows, requests and reminders. An earlier period keeps
        the units of its own time: one added later is not missing from it, one ended since still counts in it."""
        return [u for u in self.units if u.expected_in(period)]

    def spreadsheet_of(self, unit: Unit) -> str:
        """The spreadsheet holding a sheet unit's tabs: its own, else the Sheets channel's default."""
        return unit.spreadsheet or self.settings.channels.sheets.spreadsheet_id

    @cached_property
    def _units_by_key(self) -> dict[str, Unit]:
        """Casefolded NFC code -> unit, built once (lookups run several times per document)."""
        by_key: dict[str, Unit] = {}
        for u in self.units:
            by_key.setdefault(nfc(u.code).casefold(), u)  # the first unit wins, as the old linear scan did
        return by_key

    @cached_property
    def _units_by_plain_key(self) -> dict[str, Unit | None]:
        """Code without diacritics (Đ → D) -> unit; None where two codes fold to the same letters."""
        by_key: dict[str, Unit | None] = {}
        for u in self.units:
            key = _plain(u.code)
            by_key[key] = None if by_key.get(key, u) is not u else u
        return by_key

    @cached_property
    def _units_by_email(self) -> dict[str, tuple[Unit, ...]]:
        """Contact address -> the units that list it, in config order (built once: mail from thousands of
        units must not scan every unit per message)."""
        by_email: dict[str, list[Unit]] = {}
        for u in self.units:
            for e in dict.fromkeys(u.emails):
                by_email.setdefault(e, []).append(u)
        return {e: tuple(us) for e, us in by_email.items()}

    def units_of_email(self, address: str) -> tuple[Unit, ...]:
        """The units whose registered contacts include this address (any case), in config order."""
        return self._units_by_email.get(address.lower(), ())

    def unit(self, code: str) -> Unit | None:
        """The unit of this code: exact (case-insensitive), else typed without diacritics (TDKT for TĐKT) when
        exactly one unit's code reads so."""
        return self._units_by_key.get(nfc(code.strip()).casefold()) or self._units_by_plain_key.get(_plain(code))


def _plain(code: str) -> str:
    """A code as typed on a keyboard without Vietnamese input: no diacritics, Đ as D, casefolded."""
    decomposed = unicodedata.normalize("NFD", code.strip().replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_CACHED_YAML_BYTES = 64 * 1024  # a province's units.yaml (10,000 units: 1 MB, 0.8 s to parse; 20 ms as JSON)


def _yaml_cache_dir() -> Path:
    base = os.environ.get("BAOCAO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "baocao")
    return Path(base)


def _parse_yaml(raw: bytes) -> Any:
    """YAML text → data. A large file's data is remembered as JSON under its SHA-256 (data only, validated
    again like any config), so every command of a 10,000-unit province does not parse 1 MB of YAML again."""
    text = raw.decode("utf-8")
    if len(raw) < _CACHED_YAML_BYTES:
        return yaml.load(nfc(text), Loader=_LOADER)  # noqa: S506 - a SafeLoader
    cached = _yaml_cache_dir() / f"yaml-{hashlib.sha256(raw).hexdigest()}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    data = yaml.load(nfc(text), Loader=_LOADER)  # noqa: S506 - a SafeLoader
    try:
        dumped = json.dumps(data, ensure_ascii=False)
        if json.loads(dumped) == data:  # only what JSON keeps exactly (no dates, no number keys)
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(dumped, encoding="utf-8")
            tmp.replace(cached)
    except (OSError, TypeError, ValueError):
        pass  # no cache: parsed again next time
    return data


def _read_yaml(path: Path) -> Any:
    try:
        raw = path.read_bytes()
        raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: không tìm thấy tệp cấu hình") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: tệp phải được lưu bằng mã UTF-8") from None
    try:
        data = _parse_yaml(raw)
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
    _check_spreadsheets(settings, units_file.units, config_dir)
    return AppConfig(config_dir=config_dir, settings=settings, units=units_file.units, reports=reports)


def _check_spreadsheets(settings: Settings, units: tuple[Unit, ...], config_dir: Path) -> None:
    """With the Sheets channel on, every active sheet unit must know its spreadsheet (its own or the default)."""
    sheets = settings.channels.sheets
    if not sheets.enabled or sheets.spreadsheet_id:
        return
    homeless = [u.code for u in units if u.active and u.channel == "sheet" and not u.spreadsheet]
    if homeless:
        more = len(homeless) - 10
        shown = ", ".join(homeless[:10]) + (f" và {format_number(more)} đơn vị khác" if more > 0 else "")
        raise ConfigError(
            f"{config_dir / 'settings.yaml'}: channels.sheets.spreadsheet_id: chưa có mã bảng tính, mà các đơn vị "
            f"{shown} dùng kênh sheet và không khai báo spreadsheet riêng trong units.yaml"
        )
