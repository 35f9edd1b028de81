"""Bundled sample submissions for `baocao demo`: what units really send, good and bad.

February 2021 is a clean month (so March shows change and year-to-date); March has on-time, late,
invalid, resubmitted, shifted-layout, CSV and NFD-encoded submissions, and one unit that never answers.

Any other report definition gets generated samples (`generated_values`): deterministic, plausible values
per indicator type and aggregation that satisfy the definition's rules, narratives as short Vietnamese
sentences, one clean on-time file per active unit. The first report's bundled samples stay as they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from tasks.channels.folder import note_arrival
from tasks.config import Condition, Indicator, ReportDefinition, Unit
from tasks.context import Context
from tasks.periods import TZ
from tasks.workbook import COL_CODE, COL_VALUE, template_grid, write_template_xlsx

BASE: dict[str, dict[str, Any]] = {
    "VP": {"W01": 12, "H01": 1, "H02": 85, "H03": 4, "T01": 1, "C01": 118, "C02": 118, "K01": 2,
           "K02": "Tuyên truyền qua nhóm Zalo cơ quan; pa nô tại Bộ phận một cửa",
           "CDA": 3, "CDB": 6, "CDC": 1, "CDD": 2, "CDDD": 1, "CDE": 5, "CDG": 2,
           "N01": "Cập nhật đầy đủ 118 thủ tục hành chính trên Trang Thông tin điện tử của Sở.",
           "N02": "Một số tin, bài còn chậm cập nhật do thiếu biên tập viên.",
           "N03": "Đề nghị bố trí kinh phí cho Chuyên mục cải cách hành chính.", "N04": ""},
    "TTr": {"W01": 3, "H01": 0, "H02": 0, "H03": 2, "T01": 0, "C01": 0, "C02": 0, "K01": 0, "K02": "",
            "CDA": 2, "CDB": 1, "CDC": 0, "CDD": 2, "CDDD": 0, "CDE": 0, "CDG": 1,
            "N01": "Lồng ghép nội dung cải cách hành chính trong 2 cuộc thanh tra công vụ.",
            "N02": "", "N03": "", "N04": ""},
    "TCBC": {"W01": 4, "H01": 1, "H02": 60, "H03": 3, "T01": 0, "C01": 0, "C02": 0, "K01": 0, "K02": "",
             "CDA": 1, "CDB": 0, "CDC": 4, "CDD": 1, "CDDD": 2, "CDE": 0, "CDG": 0,
             "N01": "Hướng dẫn các cơ quan sắp xếp tổ chức bộ máy theo Nghị định số 107/2020/NĐ-CP.",
             "N02": "", "N03": "Đề nghị tăng cường tập huấn về vị trí việc làm.", "N04": ""},
    "CCHC": {"W01": 9, "H01": 2, "H02": 150, "H03": 5, "T01": 0, "C01": 0, "C02": 0, "K01": 1,
             "K02": "Cuộc thi trực tuyến tìm hiểu về cải cách hành chính",
             "CDA": 2, "CDB": 5, "CDC": 1, "CDD": 1, "CDDD": 1, "CDE": 4, "CDG": 6,
             "N01": "Tổ chức Hội nghị hướng dẫn chấm điểm Chỉ số cải cách hành chính trên Phần mềm.",
             "N02": "Tỷ lệ hồ sơ trực tuyến mức độ 3, 4 còn thấp.",
             "N03": "Đề nghị UBND tỉnh chỉ đạo đẩy mạnh dịch vụ công trực tuyến.",
             "N04": "Mã QR tra cứu thủ tục hành chính tại Bộ phận một cửa."},
    "XDCQ": {"W01": 2, "H01": 0, "H02": 0, "H03": 2, "T01": 0, "C01": 0, "C02": 0, "K01": 0, "K02": "",
             "CDA": 1, "CDB": 0, "CDC": 1, "CDD": 1, "CDDD": 0, "CDE": 0, "CDG": 1,
             "N01": "Lồng ghép nội dung cải cách hành chính trong hội nghị công tác thanh niên.",
             "N02": "", "N03": "", "N04": ""},
    "CCVC": {"W01": 5, "H01": 1, "H02": 120, "H03": 2, "T01": 2, "C01": 0, "C02": 0, "K01": 0, "K02": "",
             "CDA": 0, "CDB": 0, "CDC": 0, "CDD": 5, "CDDD": 0, "CDE": 1, "CDG": 1,
             "N01": "Đưa nội dung cải cách hành chính vào 2 kỳ thi nâng ngạch công chức.",
             "N02": "Tài liệu ôn thi chưa cập nhật Chương trình tổng thể 2021-2030.", "N03": "", "N04": ""},
    "TĐKT": {"W01": 2, "H01": 0, "H02": 0, "H03": 1, "T01": 0, "C01": 0, "C02": 0, "K01": 0, "K02": "",
             "CDA": 0, "CDB": 0, "CDC": 0, "CDD": 0, "CDDD": 0, "CDE": 0, "CDG": 3,
             "N01": "Biểu dương tập thể, cá nhân thực hiện tốt công tác cải cách hành chính.",
             "N02": "", "N03": "", "N04": ""},
    "BTG": {"W01": 1, "H01": 0, "H02": 0, "H03": 1, "T01": 0, "C01": 0, "C02": 0, "K01": 0, "K02": "",
            "CDA": 1, "CDB": 0, "CDC": 0, "CDD": 0, "CDDD": 0, "CDE": 0, "CDG": 0,
            "N01": "Tuyên truyền cải cách hành chính tới chức sắc tôn giáo.", "N02": "", "N03": "", "N04": ""},
    "VTLT": {"W01": 3, "H01": 1, "H02": 45, "H03": 2, "T01": 0, "C01": 0, "C02": 0, "K01": 0, "K02": "",
             "CDA": 0, "CDB": 1, "CDC": 0, "CDD": 0, "CDDD": 0, "CDE": 3, "CDG": 0,
             "N01": "Số hóa hồ sơ lưu trữ phục vụ giải quyết thủ tục hành chính.", "N02": "",
             "N03": "Đề nghị đầu tư máy quét tài liệu.", "N04": ""},
}


@dataclass(frozen=True)
class Sample:
    filename: str
    unit: str
    period: str
    received: str  # local time, ISO
    values: dict[str, Any]
    fmt: str = "xlsx"  # xlsx | csv
    rows_above: int = 0  # rows a unit inserted above the template
    nfd: bool = False  # text typed on a machine that sends decomposed Unicode
    period_cell: str | None = None  # what the unit wrote in 'Kỳ báo cáo', when wrong


def _scaled(unit: str, factor: float) -> dict[str, Any]:
    return {k: (round(v * factor) if isinstance(v, int) else v) for k, v in BASE[unit].items()}


def samples() -> list[Sample]:
    feb = [Sample(f"{u}-2021-02.xlsx", u, "2021-02", "2021-02-15T10:00", _scaled(u, 0.8)) for u in BASE]
    march = [
        Sample("VP - bao cao thang 3.xlsx", "VP", "2021-03", "2021-03-15T09:12", BASE["VP"]),
        Sample("TTr_thang3.xlsx", "TTr", "2021-03", "2021-03-16T08:30",
               {**BASE["TTr"], "W01": " 3 ", "H03": 2.0}),
        Sample("TCBC-2021-03.xlsx", "TCBC", "2021-03", "2021-03-15T14:00", BASE["TCBC"], rows_above=2),
        Sample("CCHC lan 1.xlsx", "CCHC", "2021-03", "2021-03-15T16:45",
               {**BASE["CCHC"], "W01": "9 tin", "H02": None, "K02": ""}),
        Sample("CCHC lan 2 (da sua).xlsx", "CCHC", "2021-03", "2021-03-16T10:05", BASE["CCHC"]),
        Sample("XDCQ.xlsx", "XDCQ", "2021-03", "2021-03-19T09:00", BASE["XDCQ"]),
        Sample("CCVC.xlsx", "CCVC", "2021-03", "2021-03-15T08:00", {**BASE["CCVC"], "W01": 4}),
        Sample("CCVC - bo sung.xlsx", "CCVC", "2021-03", "2021-03-16T15:30", BASE["CCVC"]),
        Sample("TDKT.xlsx", "TĐKT", "2021-03", "2021-03-16T11:00", {**BASE["TĐKT"], "H03": -1},
               period_cell="2021-02"),
        Sample("VTLT.csv", "VTLT", "2021-03", "2021-03-16T16:20", BASE["VTLT"], fmt="csv", nfd=True),
        Sample("ghi chu.txt", "", "2021-03", "2021-03-16T12:00", {}, fmt="txt"),
    ]
    return feb + march


def render_sample(ctx: Context, sample: Sample) -> bytes:
    """The bytes a unit would send for this sample."""
    if sample.fmt == "txt":
        return "Văn phòng ơi, báo cáo gửi sau nhé.\n".encode()
    unit = ctx.cfg.unit(sample.unit)
    assert unit is not None
    period = ctx.period(sample.period)
    grid = template_grid(ctx.cfg.report, unit, period, ctx.unit_deadline(period))
    for row in grid:
        if row[0] == "Kỳ báo cáo" and sample.period_cell:
            row[1] = sample.period_cell
        elif isinstance(row[0], int) and row[COL_CODE] in sample.values:
            value = sample.values[str(row[COL_CODE])]
            if isinstance(value, str) and sample.nfd:
                value = unicodedata.normalize("NFD", value)
            row[COL_VALUE] = value
    above: list[list[Any]] = [[None] * 6 for _ in range(sample.rows_above)]
    grid = above + grid
    if sample.fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerows([["" if v is None else v for v in row] for row in grid])
        return buf.getvalue().encode("utf-8")
    return write_template_xlsx(grid, ctx.cfg.report)


# ---------------------------------------------------------------- generated samples (any report definition)

BUNDLED_REPORT = "cchc-tuyen-truyen"  # the report whose samples are BASE and samples() above
# Short sentences a unit would write, by what a narrative indicator's label asks for.
SENTENCES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("tồn tại", "hạn chế", "khó khăn"), (
        "Một số hồ sơ trực tuyến phải bổ sung nhiều lần do người dân chưa quen thao tác.",
        "Việc số hóa hồ sơ, kết quả giải quyết thủ tục hành chính còn chậm do thiếu thiết bị.",
        "Công chức làm công tác cải cách hành chính còn kiêm nhiệm nhiều việc.")),
    (("đề xuất", "kiến nghị"), (
        "Đề nghị tổ chức tập huấn sử dụng Cổng dịch vụ công cho công chức một cửa.",
        "Đề nghị bố trí kinh phí số hóa hồ sơ, tài liệu.",
        "Đề nghị hướng dẫn thống nhất cách chấm điểm Chỉ số cải cách hành chính.")),
    (("nhiệm vụ", "phương hướng", "kỳ tới"), (
        "Tiếp tục rà soát, đơn giản hóa thủ tục hành chính thuộc lĩnh vực được giao.",
        "Đẩy mạnh tiếp nhận, giải quyết hồ sơ trực tuyến mức độ 3, 4.",
        "Kiện toàn đội ngũ công chức làm công tác cải cách hành chính.")),
    ((), (
        "Ban hành kế hoạch cải cách hành chính của đơn vị đúng thời hạn.",
        "Giải quyết hồ sơ thủ tục hành chính đúng hạn, không để tồn đọng.",
        "Niêm yết công khai đầy đủ thủ tục hành chính tại Bộ phận một cửa.")),
)


def _draw(*parts: object) -> int:
    """A stable pseudo-random number for these parts (same on every machine and run)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def _sentence(ind: Indicator, draw: int) -> str:
    label = ind.label.lower()
    for words, sentences in SENTENCES:
        if not words or any(w in label for w in words):
            return sentences[draw % len(sentences)]
    raise AssertionError("the last entry of SENTENCES matches every label")


BIG_COUNTS = ("hồ sơ", "lượt", "lượt người", "người")  # what a unit counts by the hundred, not by the dozen


def _number(ind: Indicator, draw: int) -> int:
    """A count over a period is small (0–12; files and people 10–300), a level at the cut-off larger
    (20–150); always within min/max/warn_above."""
    low = ind.min if ind.min is not None else 0
    high = low + (130 if ind.aggregation == "level" else 290 if ind.unit in BIG_COUNTS else 12)
    for bound in (ind.max, ind.warn_above):
        if bound is not None:
            high = min(high, bound)
    start = 20 if ind.aggregation == "level" else 10 if ind.unit in BIG_COUNTS else 0
    base = low + (start if high - low > 2 * start else 0)
    return base + draw % (max(high, base) - base + 1)


def _numbers(report: ReportDefinition, draw: Callable[[str], int]) -> dict[str, int]:
    """Counts of one group in one unit of measure read as a total then its parts (received, solved on time,
    solved late): the first part takes 70–95 % of the total, each later one a share of what is left, so the
    parts never exceed the whole."""
    values: dict[str, int] = {}
    left: dict[tuple[str, str], tuple[int, bool]] = {}  # (group, unit of measure) → (what is left, first part?)
    for ind in report.indicators:
        if ind.type != "integer":
            continue
        key = (ind.group, ind.unit)
        if ind.aggregation == "count" and key in left:
            rest, first = left[key]
            share = rest * (70 + draw(ind.code) % 26) // 100 if first else draw(ind.code) % (rest + 1)
            values[ind.code] = max(share, ind.min or 0)
            left[key] = (max(rest - values[ind.code], 0), False)
        else:
            values[ind.code] = _number(ind, draw(ind.code))
            if ind.aggregation == "count":
                left[key] = (values[ind.code], True)
    return values


def _holds(cond: Condition, values: dict[str, Any]) -> bool | None:
    left = values.get(cond.left)
    if cond.op == "filled":
        return left not in (None, "")
    if cond.op == "empty":
        return left in (None, "")
    right = values.get(cond.right) if isinstance(cond.right, str) else cond.right
    if not isinstance(left, int) or not isinstance(right, int | float):
        return None
    target = right * cond.factor
    return {">": left > target, ">=": left >= target, "<": left < target, "<=": left <= target,
            "==": left == target, "!=": left != target}[cond.op]


def _satisfying(cond: Condition, ind: Indicator, values: dict[str, Any], draw: int) -> Any:
    """A value of `cond.left` that makes the condition hold."""
    if cond.op == "filled":
        return _sentence(ind, draw)
    if cond.op == "empty":
        return ""
    right = values.get(cond.right) if isinstance(cond.right, str) else cond.right
    target = float(right or 0) * cond.factor
    value = {">": math.floor(target) + 1, ">=": math.ceil(target), "==": math.ceil(target),
             "<": math.ceil(target) - 1, "<=": math.floor(target), "!=": math.floor(target) + 1}[cond.op]
    return max(value, ind.min if ind.min is not None else 0)


def generated_values(report: ReportDefinition, unit: Unit, period_key: str) -> dict[str, Any]:
    """Plausible values of every indicator for one unit and period, satisfying the report's rules
    (errors and warnings alike), the same every time."""
    def draw(code: str) -> int:
        return _draw(report.id, unit.code, period_key, code)

    numbers = _numbers(report, draw)
    values: dict[str, Any] = {}
    for ind in report.indicators:
        if ind.type == "text":
            values[ind.code] = _sentence(ind, draw(ind.code)) if ind.required or draw(ind.code) % 3 == 0 else ""
        else:
            values[ind.code] = numbers[ind.code]
    for _ in range(len(report.rules) + 1):  # a fix may break an earlier rule: repeat until all hold
        broken = [r for r in report.rules
                  if (r.when is None or _holds(r.when, values)) and _holds(r.require, values) is False]
        if not broken:
            return values
        for rule in broken:
            ind = report.by_code[rule.require.left]
            values[ind.code] = _satisfying(rule.require, ind, values, _draw(report.id, unit.code, ind.code))
    raise ValueError(f"không tạo được số liệu mẫu thỏa mọi điều kiện của báo cáo {report.id}")


def generated_samples(ctx: Context, period: str) -> list[Sample]:
    """One clean file per unit the period expects, received on the morning three days before the unit deadline."""
    report = ctx.cfg.report
    deadline = ctx.unit_deadline(ctx.period(period))
    first = datetime.combine(deadline - timedelta(days=3), clock(8, 30))
    return [Sample(f"{report.short_code}-{period}-{unit.code}.xlsx", unit.code, period,
                   (first + timedelta(minutes=7 * i)).isoformat(timespec="minutes"),
                   generated_values(report, unit, period))
            for i, unit in enumerate(ctx.cfg.units_expected_in(ctx.period(period)))]


def report_samples(ctx: Context, period: str) -> list[Sample]:
    """The samples of the context's report for one period: the bundled ones, or generated."""
    if ctx.cfg.report.id == BUNDLED_REPORT:
        return [s for s in samples() if s.period == period]
    return generated_samples(ctx, period)


def drop_samples(ctx: Context, period: str) -> list[Path]:
    """Put one period's samples of the context's report in the inbox, arrived at their 'received' time
    (file time too)."""
    ctx.inbox.mkdir(parents=True, exist_ok=True)
    out = []
    for sample in report_samples(ctx, period):
        path = ctx.inbox / sample.filename
        path.write_bytes(render_sample(ctx, sample))
        received = datetime.fromisoformat(sample.received).replace(tzinfo=TZ)
        os.utime(path, (received.timestamp(), received.timestamp()))
        note_arrival(ctx, path, received)  # as the folder watcher would have seen it arrive that day
        out.append(path)
    return out
