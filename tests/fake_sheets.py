"""A small Google Sheets v4 server on loopback, for tests.

It speaks the same HTTP/JSON as sheets.googleapis.com for the calls baocao makes, so the real
google-api-python-client can be pointed at it (``client_options={"api_endpoint": server.endpoint}``).
State is kept in memory; every request is logged so tests can count what a user would pay for in
quota, and faults (429 with Retry-After, 5xx, 403 on a given tab) can be injected per request. A spreadsheet
can be made unshared (every call on it answers 403, as Google does for an account it was never shared with).

Like Google, a POST carrying ``X-HTTP-Method-Override: GET`` and a form-encoded body is the GET whose query
is that body: google-api-python-client sends every GET whose URL exceeds 2,048 characters that way
(``googleapiclient.http.MAX_URI_LENGTH``). The log keeps the wire method and the override header.
Tabs looked up by title use an index, so a spreadsheet with 10,000 tabs answers as fast as one with ten.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES = {
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user'.",
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
}

SERVICE_DISABLED = ("Google Sheets API has not been used in project 123456 before or it is disabled. Enable it by "
                    "visiting https://console.developers.google.com/apis/api/sheets.googleapis.com/overview?"
                    "project=123456 then retry.")

CELL_LIMIT = 10_000_000  # Google: cells per spreadsheet, all tabs together
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26


class ApiError(Exception):
    """An error answered in Google's JSON error shape."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.reason = reason  # google.rpc.ErrorInfo's reason, sent in "details" when given


# ---------------------------------------------------------------- A1 notation


def column_index(letters: str) -> int:
    """'A' -> 0, 'Z' -> 25, 'AA' -> 26."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - ord("A") + 1)
    return n - 1


def column_letters(index: int) -> str:
    """0 -> 'A', 26 -> 'AA'."""
    index += 1
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def split_a1(a1: str) -> tuple[str | None, str]:
    """Split "'O''Brien'!A1:B2" into ("O'Brien", "A1:B2"); a bare "A1:B2" gives (None, "A1:B2").

    A bare word that is not a cell reference is a sheet title (the whole sheet), as Google reads it.
    """
    if a1.startswith("'"):
        i = 1
        chars: list[str] = []
        while i < len(a1):
            ch = a1[i]
            if ch == "'":
                if i + 1 < len(a1) and a1[i + 1] == "'":
                    chars.append("'")
                    i += 2
                    continue
                break
            chars.append(ch)
            i += 1
        else:
            raise ValueError("unterminated quote")
        rest = a1[i + 1 :]
        if rest and not rest.startswith("!"):
            raise ValueError("garbage after quoted title")
        return "".join(chars), rest[1:]
    if "!" in a1:
        title, cells = a1.rsplit("!", 1)
        if "'" in title or " " in title:
            raise ValueError("unquoted title with special characters")
        return title, cells
    if _CELLS.fullmatch(a1):
        return None, a1
    return a1, ""


_CELL = r"([A-Za-z]*)(\d*)"
_CELLS = re.compile(r"([A-Za-z]+\d*|\d+)(:([A-Za-z]+\d*|\d+))?")


def parse_cells(cells: str, rows: int, cols: int) -> tuple[int, int, int, int]:
    """Return 0-based inclusive (r1, c1, r2, c2); open ends extend to the grid size."""
    if not cells:
        return 0, 0, rows - 1, cols - 1
    if not _CELLS.fullmatch(cells):
        raise ValueError(cells)
    start, _, end = cells.partition(":")
    m1 = re.fullmatch(_CELL, start)
    assert m1
    c1 = column_index(m1.group(1)) if m1.group(1) else 0
    r1 = int(m1.group(2)) - 1 if m1.group(2) else 0
    if not end:
        if not m1.group(1) or not m1.group(2):
            raise ValueError(cells)
        return r1, c1, r1, c1
    m2 = re.fullmatch(_CELL, end)
    assert m2
    c2 = column_index(m2.group(1)) if m2.group(1) else cols - 1
    r2 = int(m2.group(2)) - 1 if m2.group(2) else rows - 1
    if r1 < 0 or r2 < r1 or c2 < c1:
        raise ValueError(cells)
    return r1, c1, r2, c2


def quote_title(title: str) -> str:
    """Quote a title the way Google echoes ranges back."""
    if re.fullmatch(r"[A-Za-z0-9_]+", title) and not _CELLS.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def a1(title: str, r1: int, c1: int, r2: int, c2: int) -> str:
    start = f"{column_letters(c1)}{r1 + 1}"
    end = f"{column_letters(c2)}{r2 + 1}"
    return f"{quote_title(title)}!{start}" + ("" if start == end else f":{end}")


# ---------------------------------------------------------------- fields mask


def parse_fields(fields: str) -> dict[str, Any]:
    """Parse a partial-response mask like "sheets(properties(sheetId,title),protectedRanges)"."""
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(fields):
            m = re.compile(r"\s*([A-Za-z0-9_.]+)\s*").match(fields, pos)
            if not m:
                raise ApiError(400, f"Invalid field selection {fields}")
            pos = m.end()
            node: Any = True
            if pos < len(fields) and fields[pos] == "(":
                pos += 1
                node = parse_list()
                if pos >= len(fields) or fields[pos] != ")":
                    raise ApiError(400, f"Invalid field selection {fields}")
                pos += 1
            parts = m.group(1).split(".")
            target = out
            for p in parts[:-1]:
                target = target.setdefault(p, {})
            target[parts[-1]] = node
            if pos < len(fields) and fields[pos] == ",":
                pos += 1
                continue
            break
        return out

    mask = parse_list()
    if pos != len(fields):
        raise ApiError(400, f"Invalid field selection {fields}")
    return mask


def apply_fields(value: Any, mask: Any) -> Any:
    if mask is True:
        return value
    if isinstance(value, list):
        return [apply_fields(v, mask) for v in value]
    if isinstance(value, dict):
        return {k: apply_fields(v, mask[k]) for k, v in value.items() if k in mask}
    return value


# ---------------------------------------------------------------- log and faults


@dataclass
class LoggedRequest:
    method: str  # effective method (after X-HTTP-Method-Override)
    path: str  # decoded path, e.g. /v4/spreadsheets/ID/values:batchGet
    query: dict[str, list[str]]
    op: str  # get | batchUpdate | values.get | values.update | values.batchUpdate | values.batchGet | token
    ranges: list[str] = field(default_factory=list)
    body: Any = None
    status: int = 0
    wire_method: str = ""  # method on the wire (POST when the client overrode a long GET)
    override: str | None = None  # the X-HTTP-Method-Override header, as sent
    content_type: str = ""
    at: float = 0.0  # arrival time on the fake's clock (a simulated clock in pacing tests)


@dataclass
class FaultRule:
    status: int
    matcher: Callable[[LoggedRequest], bool]
    times: int | None = 1  # None = forever
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    after_apply: bool = False  # carry the request out, then answer the error (a lost response)
    reason: str | None = None  # google.rpc.ErrorInfo reason sent with the error (e.g. SERVICE_DISABLED)


# ---------------------------------------------------------------- server


class FakeSheets:
    """In-memory Sheets v4 service on 127.0.0.1 with a request log and fault injection."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.monotonic
        self.spreadsheets: dict[str, dict[str, Any]] = {}
        # title -> sheet per spreadsheet, rebuilt when tabs are added or deleted (or a title misses)
        self._index: dict[str, tuple[int, dict[str, Any], dict[str, dict[str, Any]]]] = {}
        self._mutations = 0
        self.requests: list[LoggedRequest] = []
        self.rules: list[FaultRule] = []
        self.unshared: set[str] = set()  # spreadsheets the service account may not open (403 on every call)
        self.api_disabled = False  # the Sheets API not enabled for the account's project: 403 on every call
        self.lock = threading.RLock()
        self._next_sheet_id = 1_000_000
        self._next_protection_id = 500
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle
    def start(self) -> FakeSheets:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-sheets", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSheets:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # --- state helpers for tests
    def add_spreadsheet(self, spreadsheet_id: str, tabs: dict[str, list[list[Any]]] | None = None) -> None:
        """Create a spreadsheet; like a real one it always has at least one tab."""
        with self.lock:
            self.spreadsheets[spreadsheet_id] = {"spreadsheetId": spreadsheet_id, "sheets": []}
            for title, grid in (tabs or {"Trang tính1": []}).items():
                self.add_tab(spreadsheet_id, title, grid)

    def add_tab(self, spreadsheet_id: str, title: str, grid: list[list[Any]] | None = None) -> dict[str, Any]:
        """Add a tab directly (as an operator clicking "+" would), optionally with content."""
        with self.lock:
            props = self._add_sheet(spreadsheet_id, {"title": title})
            self.set_values(spreadsheet_id, title, grid or [])
            return props

    def add_tabs(self, spreadsheet_id: str, titles: list[str], grid: list[list[Any]]) -> None:
        """Add many tabs at once that all show the same content (one grid object, shared, never copied).

        A write through the API to one of them copies its grid first, so the others keep theirs.
        """
        with self.lock:
            book = self.spreadsheets[spreadsheet_id]
            for title in titles:
                self._add_sheet(spreadsheet_id, {"title": title})
                book["sheets"][-1]["values"] = grid

    def sheet(self, spreadsheet_id: str, title: str) -> dict[str, Any]:
        with self.lock:
            for s in self.spreadsheets[spreadsheet_id]["sheets"]:
                if s["properties"]["title"] == title:
                    return s
        raise KeyError(title)

    def titles(self, spreadsheet_id: str) -> list[str]:
        with self.lock:
            return [s["properties"]["title"] for s in self.spreadsheets[spreadsheet_id]["sheets"]]

    def values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        return copy.deepcopy(self.sheet(spreadsheet_id, title)["values"])

    def set_values(self, spreadsheet_id: str, title: str, grid: list[list[Any]]) -> None:
        """Simulate a unit typing into its tab: replace the whole content."""
        with self.lock:
            self.sheet(spreadsheet_id, title)["values"] = copy.deepcopy(grid)

    def delete_sheet(self, spreadsheet_id: str, title: str) -> None:
        with self.lock:
            sheets = self.spreadsheets[spreadsheet_id]["sheets"]
            sheets[:] = [s for s in sheets if s["properties"]["title"] != title]
            self._mutations += 1

    # --- request log helpers
    def ops(self, op: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.requests if op is None or r.op == op]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # --- fault injection
    def fail(
        self,
        status: int,
        *,
        op: str | None = None,
        tab: str | None = None,
        times: int | None = 1,
        retry_after: str | int | None = None,
        message: str | None = None,
        matcher: Callable[[LoggedRequest], bool] | None = None,
        after_apply: bool = False,
        reason: str | None = None,
    ) -> FaultRule:
        """Answer `status` to the next `times` matching requests (None = every one).

        `op` picks the call ("values.batchGet"), `tab` matches a request that names that tab in
        one of its ranges (as a permission problem on one unit's tab would look). With `after_apply`
        the request takes effect and only the response is an error, as when Google commits a write
        and then answers 503.
        """

        def match(req: LoggedRequest) -> bool:
            if op is not None and req.op != op:
                return False
            if tab is not None and not any(_range_title(r) == tab for r in req.ranges):
                return False
            return matcher(req) if matcher else True

        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        rule = FaultRule(
            status=status,
            matcher=match,
            times=times,
            headers=headers,
            message=message,
            after_apply=after_apply,
            reason=reason,
        )
        with self.lock:
            self.rules.append(rule)
        return rule

    def _fault_for(self, req: LoggedRequest) -> FaultRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.matcher(req):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    # --- API implementation
    def _spreadsheet(self, spreadsheet_id: str) -> dict[str, Any]:
        if self.api_disabled:
            raise ApiError(403, SERVICE_DISABLED, reason="SERVICE_DISABLED")
        if spreadsheet_id in self.unshared:
            raise ApiError(403, _DEFAULT_MESSAGES[403])
        try:
            return self.spreadsheets[spreadsheet_id]
        except KeyError:
            raise ApiError(404, "Requested entity was not found.") from None

    def _find(self, book: dict[str, Any], title: str | None) -> dict[str, Any] | None:
        if title is None:
            return book["sheets"][0] if book["sheets"] else None
        cached = self._index.get(book["spreadsheetId"])
        if cached is not None and cached[0] == self._mutations and cached[1] is book:
            sheet = cached[2].get(title)
            if sheet is None or sheet["properties"]["title"] == title:
                return sheet
        # tabs deleted or renamed since the index was built (or a rolled-back batchUpdate)
        index = {s["properties"]["title"]: s for s in book["sheets"]}
        self._index[book["spreadsheetId"]] = (self._mutations, book, index)
        return index.get(title)

    def _resolve(self, book: dict[str, Any], range_: str) -> tuple[dict[str, Any], tuple[int, int, int, int]]:
        try:
            title, cells = split_a1(range_)
            sheet = self._find(book, title)
            if sheet is None:
                raise ValueError("no such sheet")
            grid = sheet["properties"]["gridProperties"]
            return sheet, parse_cells(cells, grid["rowCount"], grid["columnCount"])
        except ValueError:
            raise ApiError(400, f"Unable to parse range: {range_}") from None

    def _add_sheet(self, spreadsheet_id: str, props: dict[str, Any]) -> dict[str, Any]:
        book = self.spreadsheets[spreadsheet_id]
        title = props.get("title") or f"Trang tính{len(book['sheets']) + 1}"
        if self._find(book, title) is not None:
            raise ApiError(
                400,
                f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. '
                "Please enter another name.",
            )
        sheet_id = props.get("sheetId")
        if sheet_id is None:
            self._next_sheet_id += 7919
            sheet_id = self._next_sheet_id
        grid = props.get("gridProperties") or {}
        properties = {
            "sheetId": sheet_id,
            "title": title,
            "index": len(book["sheets"]),
            "sheetType": "GRID",
            "gridProperties": {
                "rowCount": int(grid.get("rowCount", DEFAULT_ROWS)),
                "columnCount": int(grid.get("columnCount", DEFAULT_COLUMNS)),
            },
        }
        sheet = {"properties": properties, "protectedRanges": [], "values": []}
        book["sheets"].append(sheet)
        cached = self._index.get(spreadsheet_id)
        self._mutations += 1
        if cached is not None and cached[0] == self._mutations - 1 and cached[1] is book:
            cached[2][title] = sheet  # the index was current: keep it so (adding 10,000 tabs stays linear)
            self._index[spreadsheet_id] = (self._mutations, book, cached[2])
        return properties

    def api_get(self, spreadsheet_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        book = self._spreadsheet(spreadsheet_id)
        sheets = []
        for s in book["sheets"]:
            entry: dict[str, Any] = {"properties": copy.deepcopy(s["properties"])}
            if s["protectedRanges"]:
                entry["protectedRanges"] = copy.deepcopy(s["protectedRanges"])
            sheets.append(entry)
        out = {
            "spreadsheetId": spreadsheet_id,
            "properties": {"title": spreadsheet_id, "locale": "vi_VN", "timeZone": "Asia/Ho_Chi_Minh"},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit",
        }
        if query.get("fields"):
            out = apply_fields(out, parse_fields(query["fields"][0]))
        return out

    def api_batch_update(self, spreadsheet_id: str, body: dict[str, Any]) -> dict[str, Any]:
        book = self._spreadsheet(spreadsheet_id)
        snapshot = copy.deepcopy(book)  # batchUpdate is atomic: all requests apply or none
        counters = (self._next_sheet_id, self._next_protection_id)
        try:
            replies = [self._apply(spreadsheet_id, i, r) for i, r in enumerate(body.get("requests", []))]
            cells = sum(s["properties"]["gridProperties"]["rowCount"] * s["properties"]["gridProperties"]["columnCount"]
                        for s in book["sheets"])
            if cells > CELL_LIMIT:
                raise ApiError(400, "Invalid requests[0].addSheet: This action would increase the number of cells in "
                                    f"the workbook above the limit of {CELL_LIMIT} cells.")
        except Exception:
            self.spreadsheets[spreadsheet_id] = snapshot
            self._next_sheet_id, self._next_protection_id = counters
            raise
        return {"spreadsheetId": spreadsheet_id, "replies": replies}

    def _apply(self, spreadsheet_id: str, i: int, request: dict[str, Any]) -> dict[str, Any]:
        book = self.spreadsheets[spreadsheet_id]
        if len(request) != 1:
            raise ApiError(400, f"Invalid requests[{i}]: exactly one request kind must be set")
        kind, payload = next(iter(request.items()))
        if kind == "addSheet":
            try:
                props = self._add_sheet(spreadsheet_id, payload.get("properties", {}))
            except ApiError as exc:
                raise ApiError(400, exc.message.replace("requests[0]", f"requests[{i}]")) from None
            return {"addSheet": {"properties": copy.deepcopy(props)}}
        if kind == "addProtectedRange":
            pr = copy.deepcopy(payload.get("protectedRange", {}))
            sheet_id = pr.get("range", {}).get("sheetId", 0)
            sheet = next((s for s in book["sheets"] if s["properties"]["sheetId"] == sheet_id), None)
            if sheet is None:
                raise ApiError(400, f"Invalid requests[{i}].addProtectedRange: No grid with id: {sheet_id}")
            if pr.get("warningOnly") and pr.get("editors"):
                raise ApiError(400, f"Invalid requests[{i}].addProtectedRange: editors with warningOnly")
            self._next_protection_id += 1
            pr["protectedRangeId"] = self._next_protection_id
            pr.setdefault("warningOnly", False)
            pr["requestingUserCanEdit"] = True
            sheet["protectedRanges"].append(pr)
            return {"addProtectedRange": {"protectedRange": copy.deepcopy(pr)}}
        if kind == "updateProtectedRange":
            pr = payload.get("protectedRange", {})
            fields = [f.strip() for f in payload.get("fields", "").split(",") if f.strip()]
            if not fields:
                raise ApiError(400, f"Invalid requests[{i}].updateProtectedRange: fields is required")
            for s in book["sheets"]:
                for existing in s["protectedRanges"]:
                    if existing["protectedRangeId"] == pr.get("protectedRangeId"):
                        for f in fields:
                            if f in pr:
                                existing[f] = copy.deepcopy(pr[f])
                            else:
                                existing.pop(f, None)
                        return {}
            raise ApiError(400, f"Invalid requests[{i}].updateProtectedRange: No protected range with id")
        raise ApiError(400, f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]'")

    def _write(
        self, book: dict[str, Any], range_: str, values: list[list[Any]], major: str
    ) -> dict[str, Any]:
        sheet, (r1, c1, _r2, _c2) = self._resolve(book, range_)
        if major == "COLUMNS":
            width = max((len(c) for c in values), default=0)
            values = [[col[r] if r < len(col) else None for col in values] for r in range(width)]
        n_rows = len(values)
        n_cols = max((len(r) for r in values), default=0)
        grid_props = sheet["properties"]["gridProperties"]
        if r1 + n_rows > grid_props["rowCount"] or c1 + n_cols > grid_props["columnCount"]:
            raise ApiError(
                400,
                f"Range ({range_}) exceeds grid limits. Max rows: {grid_props['rowCount']}, "
                f"max columns: {grid_props['columnCount']}",
            )
        grid = sheet["values"] = [list(row) for row in sheet["values"]]  # copy on write (add_tabs shares)
        cells = 0
        for dr, row in enumerate(values):
            for dc, value in enumerate(row):
                if value is None:  # null means "leave this cell alone"
                    continue
                r, c = r1 + dr, c1 + dc
                while len(grid) <= r:
                    grid.append([])
                while len(grid[r]) <= c:
                    grid[r].append("")
                grid[r][c] = value
                cells += 1
        title = sheet["properties"]["title"]
        return {
            "spreadsheetId": book["spreadsheetId"],
            "updatedRange": a1(title, r1, c1, r1 + max(n_rows, 1) - 1, c1 + max(n_cols, 1) - 1),
            "updatedRows": n_rows,
            "updatedColumns": n_cols,
            "updatedCells": cells,
        }

    def api_values_update(self, spreadsheet_id: str, range_: str, query: dict[str, list[str]], body: Any):
        book = self._spreadsheet(spreadsheet_id)
        _require_input_option(query.get("valueInputOption", [None])[0])
        return self._write(book, range_, body.get("values", []), body.get("majorDimension", "ROWS"))

    def api_values_batch_update(self, spreadsheet_id: str, body: dict[str, Any]) -> dict[str, Any]:
        book = self._spreadsheet(spreadsheet_id)
        _require_input_option(body.get("valueInputOption"))
        for d in body.get("data", []):  # validate every range before writing anything
            self._resolve(book, d["range"])
        responses = [
            self._write(book, d["range"], d.get("values", []), d.get("majorDimension", "ROWS"))
            for d in body.get("data", [])
        ]
        return {
            "spreadsheetId": spreadsheet_id,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses}),
            "responses": responses,
        }

    def _read(self, book: dict[str, Any], range_: str, query: dict[str, list[str]]) -> dict[str, Any]:
        sheet, (r1, c1, r2, c2) = self._resolve(book, range_)
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        major = query.get("majorDimension", ["ROWS"])[0]
        grid = sheet["values"]
        rows: list[list[Any]] = []
        for r in range(r1, min(r2, len(grid) - 1) + 1):
            row = grid[r][c1 : c2 + 1]
            while row and row[-1] in ("", None):  # Google trims trailing empty cells ...
                row = row[:-1]
            rows.append(["" if v is None else _render(v, render) for v in row])
        while rows and not rows[-1]:  # ... and trailing empty rows
            rows.pop()
        if major == "COLUMNS":
            width = max((len(r) for r in rows), default=0)
            rows = [[r[c] if c < len(r) else "" for r in rows] for c in range(width)]
            for col in rows:
                while col and col[-1] == "":
                    col.pop()
        grid_props = sheet["properties"]["gridProperties"]
        r2 = min(r2, grid_props["rowCount"] - 1)
        c2 = min(c2, grid_props["columnCount"] - 1)
        out: dict[str, Any] = {
            "range": a1(sheet["properties"]["title"], r1, c1, r2, c2),
            "majorDimension": major,
        }
        if rows:
            out["values"] = rows
        return out

    def api_values_batch_get(self, spreadsheet_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        book = self._spreadsheet(spreadsheet_id)
        ranges = query.get("ranges", [])
        return {"spreadsheetId": spreadsheet_id, "valueRanges": [self._read(book, r, query) for r in ranges]}

    def api_values_get(self, spreadsheet_id: str, range_: str, query: dict[str, list[str]]) -> dict[str, Any]:
        return self._read(self._spreadsheet(spreadsheet_id), range_, query)

    # --- dispatch
    def route(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)", path)
        if m and method == "GET":
            return "get", {"id": m.group(1)}
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+):batchUpdate", path)
        if m and method == "POST":
            return "batchUpdate", {"id": m.group(1)}
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)/values:batchGet", path)
        if m and method == "GET":
            return "values.batchGet", {"id": m.group(1)}
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)/values:batchUpdate", path)
        if m and method == "POST":
            return "values.batchUpdate", {"id": m.group(1)}
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)/values/(.+)", path, flags=re.S)
        if m and method == "PUT":
            return "values.update", {"id": m.group(1), "range": m.group(2)}
        if m and method == "GET":
            return "values.get", {"id": m.group(1), "range": m.group(2)}
        if path == "/token" and method == "POST":
            return "token", {}
        raise ApiError(404, f"Method not found: {method} {path}")

    def call(self, op: str, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Any:
        with self.lock:
            if op == "get":
                return self.api_get(params["id"], query)
            if op == "batchUpdate":
                return self.api_batch_update(params["id"], body or {})
            if op == "values.batchGet":
                return self.api_values_batch_get(params["id"], query)
            if op == "values.batchUpdate":
                return self.api_values_batch_update(params["id"], body or {})
            if op == "values.update":
                return self.api_values_update(params["id"], params["range"], query, body or {})
            if op == "values.get":
                return self.api_values_get(params["id"], params["range"], query)
            if op == "token":  # OAuth token endpoint for service-account tests (never the real one)
                return {"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"}
        raise ApiError(404, "Not found")


def _range_title(range_: str) -> str | None:
    try:
        return split_a1(range_)[0]
    except ValueError:
        return None


def _require_input_option(option: str | None) -> None:
    if option not in ("RAW", "USER_ENTERED"):
        raise ApiError(400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")


def _render(value: Any, render: str) -> Any:
    if render == "FORMATTED_VALUE" and not isinstance(value, str):
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return value


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSheets
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _handle(self) -> None:
        wire_method = self.command
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        override = self.headers.get("X-HTTP-Method-Override")
        # Google honours the override on a POST only (that is all the client ever sends)
        method = override.upper() if override and wire_method == "POST" else wire_method
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        body: Any = None
        if raw:
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/x-www-form-urlencoded"):
                for k, v in urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True).items():
                    query.setdefault(k, []).extend(v)
            else:
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    body = raw.decode("utf-8", "replace")
        path = urllib.parse.unquote(parsed.path)
        req = LoggedRequest(
            method=method,
            path=path,
            query=query,
            op="?",
            body=body,
            wire_method=wire_method,
            override=override,
            content_type=self.headers.get("Content-Type", ""),
            at=self.fake.clock(),
        )
        with self.fake.lock:
            self.fake.requests.append(req)
        try:
            op, params = self.fake.route(method, path)
            req.op = op
            if op == "values.batchGet":
                req.ranges = list(query.get("ranges", []))
            elif op in ("values.update", "values.get"):
                req.ranges = [params["range"]]
            elif op == "values.batchUpdate" and isinstance(body, dict):
                req.ranges = [d.get("range", "") for d in body.get("data", [])]
            rule = self.fake._fault_for(req)
            if rule is not None and rule.after_apply:
                self.fake.call(op, params, query, body)
            if rule is not None:
                raise ApiError(
                    rule.status, rule.message or _DEFAULT_MESSAGES.get(rule.status, "Error"), rule.headers,
                    reason=rule.reason,
                )
            result = self.fake.call(op, params, query, body)
            req.status = 200
            self._send(200, result)
        except ApiError as exc:
            req.status = exc.code
            payload: dict[str, Any] = {
                "error": {
                    "code": exc.code,
                    "message": exc.message,
                    "status": _STATUS_NAMES.get(exc.code, "UNKNOWN"),
                }
            }
            if exc.reason:
                payload["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                                "reason": exc.reason, "domain": "googleapis.com",
                                                "metadata": {"service": "sheets.googleapis.com"}}]
            self._send(exc.code, payload, exc.headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class Sleeps(list):
    """A stand-in for time.sleep that records the pauses (backoff and pacing) instead of waiting them.

    It is also a simulated clock: `clock()` is the sum of the pauses so far, so a gateway and a FakeSheets
    given `clock=sleeps.clock` agree on when each request was made without any real waiting.
    """

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def clock(self) -> float:
        return float(sum(self))
