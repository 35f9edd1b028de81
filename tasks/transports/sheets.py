"""Google Sheets gateway: one protected tab per unit, created idempotently and read in few paced calls.

Why it looks like this: the Sheets API allows 300 read requests a minute per project and 60 a minute per
user, and baocao reads as one user (its service account), so:
- every unit's tab is read through ``values:batchGet`` with up to ``batch_size`` (100) ranges per request:
  10,000 units cost 100 requests. The batch is not bound by the URL length: google-api-python-client sends
  any GET whose URL exceeds 2,048 characters as a POST with ``X-HTTP-Method-Override: GET`` and the query
  in a form-encoded body, which Google accepts for every GET method;
- read requests are paced by a sliding window so that no 60 seconds ever hold more than
  ``reads_per_minute`` of them (default 60, the per-user limit that binds one service account; the
  per-project 300 is the ceiling for all of a project's users together). 10,000 units therefore take about
  a minute of waiting, instead of a storm of 429s;
- 429/5xx are still retried with capped exponential backoff honouring ``Retry-After`` (another program on
  the same account, or Google's own accounting, may disagree with the window);
- a fault on one unit's tab (deleted, renamed, not shared) refuses the whole batch; the batch is bisected
  until that tab is isolated, and it becomes a Vietnamese message for that unit only;
- but a 403/404 may be the whole spreadsheet (not shared with the service account, wrong id, deleted): one
  spreadsheets.get of its id tells which before bisecting, which would cost 2n - 1 reads for n tabs (199 of
  the 60 a minute for 100 units) and blame every unit's tab for the Office's sharing. A refused spreadsheet
  costs that batch and the check; all its tabs get the one operator's message and no other batch is sent.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httplib2
from googleapiclient.errors import HttpError
from xlsxwriter.utility import xl_cell_to_rowcol

from tasks import text
from tasks.render.vietnamese_dates import format_number
from tasks.text import nfc

__all__ = [
    "DEFAULT_ENDPOINT",
    "SCOPES",
    "EnsureResult",
    "ReadPacer",
    "SheetsError",
    "SheetsGateway",
    "SheetsSettings",
    "SheetsUnavailable",
    "TabRead",
    "TabSpec",
    "a1_range",
    "build_service",
    "column_letter",
    "load_credentials",
]

DEFAULT_ENDPOINT = "https://sheets.googleapis.com/"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
PROTECTION_PREFIX = "baocao:"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Fallback when a batch is refused: these concern one range (missing tab, no permission), so bisect.
PER_RANGE_STATUSES = frozenset({400, 403, 404})
# ... unless the spreadsheet itself is refused (not shared, wrong id): checked once before bisecting.
SPREADSHEET_STATUSES = frozenset({403, 404})
# A new Google sheet is 1000 x 26 (26,000 cells): a spreadsheet holds 10 million cells, so ~384 such tabs.
# A unit's tab is made just big enough for its template and the range read back (A1:F200: 1,200 cells).
SPREADSHEET_CELL_LIMIT = 10_000_000
DEFAULT_GRID_ROWS = 1000
DEFAULT_GRID_COLUMNS = 26
_A1_CELLS = re.compile(r"[A-Z]+\d+:[A-Z]+\d+", re.IGNORECASE)

Cell = str | int | float | None


@dataclass(frozen=True)
class SheetsSettings:
    """Where the collection spreadsheet lives and how hard to try when Google is busy."""

    spreadsheet_id: str
    endpoint: str | None = None
    credentials_env: str = "BAOCAO_SHEETS_CREDENTIALS"
    credentials_block: str | None = None
    office_account: str = ""
    read_range: str = "A1:F200"
    batch_size: int = 100  # ranges per values:batchGet (the URL length does not bound it: see the docstring)
    reads_per_minute: int = 60  # Google: 60 read requests/min per user (one service account), 300 per project
    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0


@dataclass(frozen=True)
class TabSpec:
    """One unit's tab: its title, the template grid (A1 = grid[0][0]) and who may edit it."""

    title: str
    grid: list[list[Cell]]
    editors: tuple[str, ...]


@dataclass(frozen=True)
class EnsureResult:
    """What ensure_tabs changed, so the operator sees which units got a new tab."""

    created: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TabRead:
    """One unit's tab as read: values, or a Vietnamese error that concerns this unit only (unless
    `unreachable`: the spreadsheet itself was refused, and the error is the operator's, the same for every tab)."""

    title: str
    grid: list[list[object]] | None
    error: str | None = None
    unreachable: bool = False


@dataclass
class _Read:
    """One read_tabs call: the tabs' ranges, what was read, and the spreadsheet's verdict once checked."""

    sid: str
    range_of: dict[str, str]
    results: dict[str, TabRead] = field(default_factory=dict)
    checked: bool = False
    refused: str | None = None  # the operator's message when the spreadsheet itself is refused


class SheetsError(RuntimeError):
    """A Sheets failure that stops the run; the message is Vietnamese, for the operator."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SheetsUnavailable(SheetsError):
    """Google kept answering 429/5xx (or the network failed) after every retry."""


class SheetsAccountRefused(SheetsError):
    """Google refuses the service account itself (API not enabled for its project, key revoked, missing scope):
    every spreadsheet would be refused alike, so nothing more is sent and no spreadsheet is blamed. `why` is
    what to fix and Google's own words, for a message that says more than the whole channel's."""

    def __init__(self, message: str, status: int | None = None, why: str = "") -> None:
        super().__init__(message, status)
        self.why = why or message


# google.rpc.ErrorInfo reasons of a 403 that refuses the caller, whatever the spreadsheet; the hint says what to do
ACCOUNT_REFUSALS = {
    "SERVICE_DISABLED": "Google Sheets API chưa được bật cho dự án Google Cloud của tài khoản dịch vụ; hãy bật "
                        "Google Sheets API cho dự án đó (đường dẫn có trong lỗi), chờ vài phút",
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT": "khóa truy cập của tài khoản dịch vụ không có phạm vi dùng Google Sheets",
    "BILLING_DISABLED": "dự án Google Cloud của tài khoản dịch vụ chưa bật thanh toán",
    "CONSUMER_INVALID": "dự án Google Cloud của tài khoản dịch vụ không còn hợp lệ (đã bị xóa hoặc khóa)",
    "USER_PROJECT_DENIED": "tài khoản dịch vụ không được dùng dự án Google Cloud của nó",
}


# ---------------------------------------------------------------- A1 helpers


_nfc = nfc  # the one NFC helper (tasks.text)


def a1_range(title: str, cells: str = "A1:F200") -> str:
    """Quote a tab title for A1 notation: "'Phòng CCHC'!A1:F200", "'O''Brien'!A1:F200".

    Always quoting is valid for any title and avoids guessing which characters need it.
    An empty `cells` addresses the whole tab.
    """
    quoted = "'" + _nfc(title).replace("'", "''") + "'"
    return f"{quoted}!{cells}" if cells else quoted


def read_extent(cells: str) -> tuple[int, int]:
    """(rows, columns) a tab needs for `cells` ("A1:F200" -> (200, 6)) to be read; a whole-tab or other form
    of range gets Google's default size."""
    if _A1_CELLS.fullmatch(cells) is None:
        return DEFAULT_GRID_ROWS, DEFAULT_GRID_COLUMNS
    row, col = xl_cell_to_rowcol(cells.upper().partition(":")[2])
    return row + 1, col + 1


def column_letter(index: int) -> str:
    """1 -> 'A', 26 -> 'Z', 27 -> 'AA' (1-based, as spreadsheets count columns)."""
    if index < 1:
        raise ValueError(f"column index must be >= 1, got {index}")
    return text.column_letter(index - 1)


# ---------------------------------------------------------------- service construction


def load_credentials(settings: SheetsSettings) -> Any:
    """Service-account credentials from a Prefect Secret block (JSON content) or a key file path in env."""
    from google.oauth2 import service_account

    if settings.credentials_block:
        from prefect.blocks.system import Secret

        value: Any = Secret.load(settings.credentials_block).get()  # type: ignore[union-attr]
        info = json.loads(value) if isinstance(value, str) else dict(value)
        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
    path = os.environ.get(settings.credentials_env, "").strip()
    if not path:
        raise SheetsError(
            "Chưa cấu hình khóa tài khoản dịch vụ Google: hãy đặt biến môi trường "
            f"{settings.credentials_env} là đường dẫn tới tệp khóa JSON, "
            "hoặc khai báo Secret block chứa khóa."
        )
    if not os.path.isfile(path):
        raise SheetsError(f"Không tìm thấy tệp khóa tài khoản dịch vụ Google: {path}")
    return service_account.Credentials.from_service_account_file(path, scopes=list(SCOPES))


def build_service(settings: SheetsSettings, credentials: Any = None) -> Any:
    """Build the real googleapiclient Sheets v4 resource from the bundled discovery document (no fetch)."""
    from googleapiclient.discovery import build

    if credentials is None:
        credentials = load_credentials(settings)
    client_options = {"api_endpoint": settings.endpoint} if settings.endpoint else None
    return build(
        "sheets",
        "v4",
        credentials=credentials,
        client_options=client_options,
        cache_discovery=False,
        static_discovery=True,
    )


class _CountingHttp:
    """Wraps the client's http object so every HTTP request (retries included) is counted."""

    def __init__(self, inner: Any, on_request: Callable[[], None]) -> None:
        self._inner = inner
        self._on_request = on_request

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._on_request()
        return self._inner.request(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _retry_after_seconds(value: str | None) -> float | None:
    """Parse Retry-After: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(exc: HttpError) -> str:
    try:
        payload = json.loads(exc.content.decode("utf-8") if isinstance(exc.content, bytes) else exc.content)
        return str(payload["error"]["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return str(getattr(exc, "reason", "") or exc)


def _error_reason(exc: HttpError) -> str | None:
    """The google.rpc.ErrorInfo reason of an error answer ("SERVICE_DISABLED", ...), when Google gives one."""
    try:
        payload = json.loads(exc.content.decode("utf-8") if isinstance(exc.content, bytes) else exc.content)
        return next((str(d["reason"]) for d in payload["error"].get("details", [])
                     if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo")), None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _account_refusal(exc: HttpError) -> SheetsAccountRefused | None:
    """The operator's error when Google refused the service account itself rather than one spreadsheet."""
    status, reason = exc.resp.status, _error_reason(exc)
    if status == 401:
        hint = "khóa tài khoản dịch vụ không hợp lệ hoặc đã bị thu hồi; hãy tạo khóa mới cho tài khoản dịch vụ"
    elif status == 403 and reason in ACCOUNT_REFUSALS:
        hint = ACCOUNT_REFUSALS[reason]
    else:
        return None
    why = f"{hint} (HTTP {status}: {_error_message(exc)})"
    return SheetsAccountRefused(f"Google Sheets từ chối tài khoản dịch vụ của hệ thống nên không đọc được bảng tính "
                                f"nào: {why}.", status=status, why=why)


def _clean_cell(value: Cell) -> Cell:
    """JSON-safe RAW cell: NaN (from pandas) becomes an empty cell, strings are NFC."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, str):
        return _nfc(value)
    return value


def _wait(seconds: float) -> None:
    """Backoff pause; time.sleep is looked up at call time so tests can replace it."""
    time.sleep(seconds)


def _now() -> float:
    """Pacing clock; time.monotonic is looked up at call time so tests can replace it."""
    return time.monotonic()


class ReadPacer:
    """At most `limit` requests in any `window` seconds: a sliding window over the last `limit` start times.

    A token bucket would allow a full bucket plus a window's refill (up to 2 x limit) within one window;
    the log of the last `limit` start times cannot. Before a request, if the oldest of those is less than
    `window` ago, the pacer sleeps until it is exactly `window` ago. The time recorded is that target time
    (never earlier than the clock), so a sleep that returns early, or a recorded one in tests, still
    keeps the window honest.
    """

    def __init__(
        self,
        limit: int,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        window: float = 60.0,
    ) -> None:
        if limit < 1:
            raise ValueError(f"reads_per_minute must be >= 1, got {limit}")
        self.limit = limit
        self.window = window
        self._sleep = sleep
        self._clock = clock
        self._starts: deque[float] = deque(maxlen=limit)
        self.waited = 0.0  # seconds spent pacing, for logs and tests

    def acquire(self) -> float:
        """Wait until one more request fits in the window; return the time it is taken at."""
        now = self._clock()
        if len(self._starts) == self.limit:
            due = self._starts[0] + self.window
            if due > now:
                self._sleep(due - now)
                self.waited += due - now
                now = max(self._clock(), due)
        self._starts.append(now)
        return now


def _editor_list(editors: Sequence[str], office_account: str) -> list[str]:
    """Unit contacts plus the Office account, de-duplicated case-insensitively, order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for email_ in [*editors, office_account]:
        email_ = (email_ or "").strip()
        if email_ and email_.lower() not in seen:
            seen.add(email_.lower())
            out.append(email_)
    return out


class SheetsGateway:
    """All baocao traffic to the collection spreadsheet, with quota-friendly batching and retries."""

    def __init__(
        self,
        settings: SheetsSettings,
        service: Any = None,
        sleep: Callable[[float], None] | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self._service = service
        self._sleep = sleep if sleep is not None else _wait
        self._rng = rng or random.Random()
        self.request_count = 0
        self.read_count = 0
        self._values_api: Any = None
        # One pacer per gateway: a collect builds one gateway and makes all its reads through it.
        self.pacer = ReadPacer(settings.reads_per_minute, self._sleep, clock if clock is not None else _now)
        self._account = ""  # the service account's own address, when known

    @property
    def service(self) -> Any:
        """The googleapiclient resource, built on first use so a gateway can exist without credentials."""
        if self._service is None:
            credentials = load_credentials(self.settings)
            self._account = str(getattr(credentials, "service_account_email", "") or "")
            self._service = build_service(self.settings, credentials)
        return self._service

    # ------------------------------------------------------------ low level

    def _count(self) -> None:
        self.request_count += 1

    def _count_read(self) -> None:
        """Every read attempt (retries and bisection halves included) is paced: Google counts them all."""
        self.pacer.acquire()
        self.read_count += 1
        self.request_count += 1

    def backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based).

        Retry-After wins when given; otherwise Google's recipe: base * 2**attempt plus up to `base`
        of random jitter. Both are capped at backoff_max so one run never stalls indefinitely.
        """
        s = self.settings
        if retry_after is not None:
            return min(retry_after, s.backoff_max)
        return min(s.backoff_base * (2**attempt) + self._rng.uniform(0, s.backoff_base), s.backoff_max)

    def _execute(self, request: Any, *, read: bool = False) -> Any:
        """Run one API request, retrying 429/5xx/network errors; other HTTP errors propagate as HttpError.

        A read request (spreadsheets.get, values:batchGet) waits for room in the per-minute window first.
        """
        on_request = self._count_read if read else self._count
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                return request.execute(http=_CountingHttp(request.http, on_request), num_retries=0)
            except HttpError as exc:
                status = exc.resp.status
                if status not in RETRYABLE_STATUSES:
                    raise
                retry_after = _retry_after_seconds(exc.resp.get("retry-after"))
                last = f"HTTP {status}: {_error_message(exc)}"
                last_status: int | None = status
            except (httplib2.HttpLib2Error, OSError) as exc:
                last = f"lỗi kết nối: {exc}"
                last_status = None
            if attempt >= self.settings.max_retries:
                raise SheetsUnavailable(
                    f"Google Sheets tạm thời không phản hồi sau {attempt + 1} lần thử ({last}). "
                    "Lần chạy này dừng lại; hãy chạy lại sau ít phút.",
                    status=last_status,
                )
            self._sleep(self.backoff_delay(attempt, retry_after))
            attempt += 1

    def _execute_or_fail(self, request: Any, what: str, *, read: bool = False) -> Any:
        """Like _execute, but a non-retryable HTTP error becomes a SheetsError for the operator."""
        try:
            return self._execute(request, read=read)
        except HttpError as exc:
            raise _operator_error(exc, what) from exc

    # ------------------------------------------------------------ ensure_tabs

    def _spreadsheet(self, spreadsheet_id: str | None) -> str:
        """The spreadsheet a call is about: the one named, else the configured default."""
        return spreadsheet_id or self.settings.spreadsheet_id

    def _existing_sheets(self, sid: str) -> dict[str, dict[str, Any]]:
        """Tabs of the spreadsheet by NFC title, with their size and protected ranges (one spreadsheets.get)."""
        meta = self._execute_or_fail(
            self.service.spreadsheets().get(
                spreadsheetId=sid,
                fields="sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),protectedRanges)",
            ),
            "đọc danh sách trang tính",
            read=True,
        )
        return {_nfc(sheet["properties"]["title"]): sheet for sheet in meta.get("sheets", [])}

    @staticmethod
    def _check_capacity(existing: dict[str, dict[str, Any]], new_cells: int, new_tabs: int) -> None:
        """Refuse, in words the Office can act on, new tabs that would take the spreadsheet past Google's
        10 million cells (Google's own refusal names no remedy). Like every gateway error it says what failed;
        the channel says which spreadsheet."""
        used = 0
        for sheet in existing.values():
            grid = sheet["properties"].get("gridProperties") or {}
            used += int(grid.get("rowCount", DEFAULT_GRID_ROWS)) * int(grid.get("columnCount", DEFAULT_GRID_COLUMNS))
        if used + new_cells > SPREADSHEET_CELL_LIMIT:
            n = format_number
            raise SheetsError(
                f"Không thể tạo thêm {n(new_tabs)} trang tính: bảng tính đã dùng {n(used)} ô, thêm {n(new_cells)} ô "
                f"sẽ vượt giới hạn {n(SPREADSHEET_CELL_LIMIT)} ô của Google. Hãy tạo thêm bảng tính, chia sẻ quyền "
                "chỉnh sửa cho tài khoản của hệ thống, rồi ghi mã bảng tính mới vào mục spreadsheet của một số đơn "
                "vị trong units.yaml."
            )

    def ensure_tabs(self, tabs: Sequence[TabSpec], spreadsheet_id: str | None = None) -> EnsureResult:
        """Make sure every unit has its tab (with the template) and the tab is protected for its editors.

        Costs one spreadsheets.get when nothing is missing; otherwise at most one addSheet batch, one
        values write for the new tabs, and one protection batch. Existing tabs are never overwritten,
        so a unit's typed data survives reruns.
        """
        specs = [TabSpec(_nfc(t.title), t.grid, tuple(t.editors)) for t in tabs]
        titles = [t.title for t in specs]
        if len(set(titles)) != len(titles):
            dupes = sorted({t for t in titles if titles.count(t) > 1})
            raise ValueError(f"duplicate tab titles: {dupes}")
        sid = self._spreadsheet(spreadsheet_id)
        sheets_api = self.service.spreadsheets()

        existing = self._existing_sheets(sid)
        sheet_ids = {t: int(s["properties"].get("sheetId", 0)) for t, s in existing.items()}

        missing = [t for t in specs if t.title not in existing]
        created: list[str] = []
        if missing:
            read_rows, read_cols = read_extent(self.settings.read_range)
            sizes = [(max(read_rows, len(t.grid), 1), max(read_cols, max((len(r) for r in t.grid), default=0), 1))
                     for t in missing]
            self._check_capacity(existing, sum(r * c for r, c in sizes), len(missing))
            requests = [
                {"addSheet": {"properties": {"title": t.title, "gridProperties": {"rowCount": r, "columnCount": c}}}}
                for t, (r, c) in zip(missing, sizes, strict=True)
            ]
            try:
                reply = self._execute(sheets_api.batchUpdate(spreadsheetId=sid, body={"requests": requests}))
                for t, r in zip(missing, reply.get("replies", []), strict=True):
                    sheet_ids[t.title] = int(r["addSheet"]["properties"]["sheetId"])
            except HttpError as exc:
                # batchUpdate is atomic, but a 5xx/429 retry may repeat an addSheet that already landed
                # (or another run added the same tabs): then every title exists; adopt them and go on.
                if exc.resp.status != 400 or "already exists" not in _error_message(exc):
                    raise _operator_error(exc, "tạo trang tính mới") from exc
                existing = self._existing_sheets(sid)
                if any(t.title not in existing for t in missing):
                    raise _operator_error(exc, "tạo trang tính mới") from exc
                for t in missing:
                    sheet_ids[t.title] = int(existing[t.title]["properties"].get("sheetId", 0))
            created.extend(t.title for t in missing)

            data = []
            for t in missing:
                rows = len(t.grid)
                cols = max((len(r) for r in t.grid), default=0)
                if rows == 0 or cols == 0:
                    continue
                data.append(
                    {
                        "range": a1_range(t.title, f"A1:{column_letter(cols)}{rows}"),
                        "majorDimension": "ROWS",
                        "values": [[_clean_cell(c) for c in row] for row in t.grid],
                    }
                )
            if data:
                self._execute_or_fail(
                    sheets_api.values().batchUpdate(
                        spreadsheetId=sid, body={"valueInputOption": "RAW", "data": data}
                    ),
                    "ghi mẫu báo cáo vào trang tính mới",
                )

        protect_requests: list[dict[str, Any]] = []
        protected: list[str] = []
        for t in specs:
            editors = _editor_list(t.editors, self.settings.office_account)
            description = PROTECTION_PREFIX + t.title
            current = next(
                (
                    p
                    for p in (existing.get(t.title) or {}).get("protectedRanges", [])
                    if _nfc(p.get("description", "")) == description
                ),
                None,
            )
            if current is None:
                protect_requests.append(
                    {
                        "addProtectedRange": {
                            "protectedRange": {
                                "range": {"sheetId": sheet_ids[t.title]},
                                "description": description,
                                "warningOnly": False,
                                "editors": {"users": editors},
                            }
                        }
                    }
                )
                protected.append(t.title)
                continue
            # Contacts change between periods: keep the protection's editors in step with config.
            # Google only shows editors to those who can edit the range; if hidden, leave it alone.
            shown = current.get("editors")
            if shown is not None:
                want = {u.lower() for u in editors}
                # Google lists the requesting (service) account among the editors; that is not a change.
                have = {u.lower() for u in shown.get("users", [])} - ({self._account.lower()} - want)
                if have != want:
                    protect_requests.append(
                        {
                            "updateProtectedRange": {
                                "protectedRange": {
                                    "protectedRangeId": current["protectedRangeId"],
                                    "editors": {"users": editors},
                                },
                                "fields": "editors",
                            }
                        }
                    )
                    protected.append(t.title)
        if protect_requests:
            self._execute_or_fail(
                sheets_api.batchUpdate(spreadsheetId=sid, body={"requests": protect_requests}),
                "khóa (bảo vệ) trang tính của các đơn vị",
            )

        changed = set(created) | set(protected)
        return EnsureResult(
            created=created,
            protected=protected,
            unchanged=[t.title for t in specs if t.title not in changed],
        )

    # ------------------------------------------------------------ read_tabs

    def _batch_get(self, sid: str, ranges: Sequence[str]) -> Any:
        # The values resource is built once: googleapiclient builds every method of a resource (docstrings
        # included) each time spreadsheets().values() is called, about 0.1 s, which at 100 batches was 3/4
        # of a 10,000-tab read.
        if self._values_api is None:
            self._values_api = self.service.spreadsheets().values()
        return self._values_api.batchGet(
            spreadsheetId=sid,
            ranges=list(ranges),
            valueRenderOption="UNFORMATTED_VALUE",
            majorDimension="ROWS",
        )

    def plan_batches(self, items: Sequence[str]) -> list[list[str]]:
        """Split tab titles (or ranges) into consecutive batches of at most batch_size, in order.

        The URL length does not matter: the client sends a long batchGet as a POST with
        X-HTTP-Method-Override: GET and the ranges in the body (see the module docstring).
        """
        size = self.settings.batch_size
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {size}")
        return [list(items[i : i + size]) for i in range(0, len(items), size)]

    def read_tabs(self, titles: Sequence[str], spreadsheet_id: str | None = None) -> dict[str, TabRead]:
        """Read every unit's tab in ceil(tabs / batch_size) values:batchGet requests, paced to the quota.

        A 400/403/404 answer for a batch is bisected until the faulty tab is isolated, so one deleted or
        unshared tab gives that unit a Vietnamese error while all other units are still read. A 403/404 is
        first checked against the spreadsheet itself (once per call): if that is refused too, nothing more is
        sent and every tab gets TabRead(unreachable=True) with the operator's message.
        Raises SheetsAccountRefused when Google refuses the service account itself (no spreadsheet is at fault),
        SheetsUnavailable when Google stays overloaded after all retries.
        """
        unique = list(dict.fromkeys(titles))
        read = _Read(self._spreadsheet(spreadsheet_id), {t: a1_range(t, self.settings.read_range) for t in unique})
        for batch in self.plan_batches(unique):
            self._read_batch(read, batch)
            if read.refused is not None:
                return {t: TabRead(t, None, read.refused, unreachable=True) for t in unique}
        return {t: read.results[t] for t in unique}

    def _read_batch(self, read: _Read, batch: list[str]) -> None:
        try:
            reply = self._execute(self._batch_get(read.sid, [read.range_of[t] for t in batch]), read=True)
        except HttpError as exc:
            status = exc.resp.status
            if (account := _account_refusal(exc)) is not None:  # no spreadsheet check: it would be refused too
                raise account from exc
            if status not in PER_RANGE_STATUSES:
                raise SheetsError(
                    f"Không đọc được bảng tính báo cáo (HTTP {status}: {_error_message(exc)}).", status=status
                ) from exc
            if status in SPREADSHEET_STATUSES and not read.checked:
                read.checked = True
                read.refused = self._spreadsheet_refusal(read.sid)
                if read.refused is not None:
                    return
            if len(batch) == 1:
                title = batch[0]
                read.results[title] = TabRead(title, None, _tab_error(title, status, _error_message(exc)))
                return
            mid = len(batch) // 2
            self._read_batch(read, batch[:mid])
            if read.refused is None:  # the spreadsheet was found refused meanwhile: nothing more to send
                self._read_batch(read, batch[mid:])
            return
        value_ranges = reply.get("valueRanges", [])
        if len(value_ranges) != len(batch):
            raise SheetsError(
                f"Google Sheets trả về {len(value_ranges)} vùng dữ liệu "
                f"cho {len(batch)} trang tính đã yêu cầu."
            )
        for title, vr in zip(batch, value_ranges, strict=True):
            read.results[title] = TabRead(title, vr.get("values", []))

    def _spreadsheet_refusal(self, sid: str) -> str | None:
        """The operator's message if Google refuses the spreadsheet itself, else None (a tab's fault: bisect).

        One spreadsheets.get of the id alone, paced like a read: Google counts it as one.
        """
        request = self.service.spreadsheets().get(spreadsheetId=sid, fields="spreadsheetId")
        try:
            self._execute(request, read=True)
        except HttpError as exc:
            if (account := _account_refusal(exc)) is not None:
                raise account from exc
            if exc.resp.status not in SPREADSHEET_STATUSES:
                raise _operator_error(exc, "đọc bảng tính") from exc
            return _refused_spreadsheet(exc, self._account)
        return None


def _operator_error(exc: HttpError, what: str) -> SheetsError:
    """Vietnamese, run-level explanation of a refused request (what = the action, e.g. "tạo trang tính")."""
    status = exc.resp.status
    if status == 403:
        hint = "tài khoản dịch vụ chưa được cấp quyền chỉnh sửa bảng tính"
    elif status == 404:
        hint = "không tìm thấy bảng tính (kiểm tra mã bảng tính trong cấu hình)"
    elif status == 401:
        hint = "khóa tài khoản dịch vụ không hợp lệ hoặc đã bị thu hồi"
    else:
        hint = "Google từ chối yêu cầu"
    return SheetsError(f"Không thể {what}: {hint} (HTTP {status}: {_error_message(exc)}).", status=status)


def _refused_spreadsheet(exc: HttpError, account: str) -> str:
    """Vietnamese, for the operator: the spreadsheet itself refused, and what to do (the channel names it)."""
    cause = str(_operator_error(exc, "đọc trang tính của các đơn vị"))
    if exc.resp.status == 403:
        who = f"tài khoản dịch vụ {account}" if account else "tài khoản dịch vụ của hệ thống"
        return f"{cause} Hãy chia sẻ bảng tính cho {who} với quyền chỉnh sửa."
    return (f"{cause} Hãy ghi đúng mã bảng tính vào units.yaml (mục spreadsheet của đơn vị) hoặc settings.yaml "
            "(channels.sheets.spreadsheet_id), hoặc khôi phục bảng tính nếu đã bị xóa.")


def _tab_error(title: str, status: int, message: str) -> str:
    """Vietnamese, unit-level explanation of why a tab could not be read."""
    if status == 403:
        return (
            f"Không có quyền đọc trang tính “{title}”: tài khoản của hệ thống chưa được chia sẻ quyền xem. "
            "Đề nghị kiểm tra lại quyền chia sẻ của bảng tính."
        )
    if status == 404 or "Unable to parse range" in message:
        return (
            f"Không tìm thấy trang tính “{title}” trong bảng tính báo cáo "
            "(trang tính có thể đã bị xóa hoặc đổi tên)."
        )
    return f"Không đọc được trang tính “{title}”: Google Sheets từ chối yêu cầu ({message})."
