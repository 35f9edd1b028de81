"""Bundled sample submissions for `baocao demo`: what units really send, good and bad.

February 2021 is a clean month (so March shows change and year-to-date); March has on-time, late,
invalid, resubmitted, shifted-layout, CSV and NFD-encoded submissions, and one unit that never answers.
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tasks.channels.folder import note_arrival
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
    grid = [[None] * 6 for _ in range(sample.rows_above)] + grid
    if sample.fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerows([["" if v is None else v for v in row] for row in grid])
        return buf.getvalue().encode("utf-8")
    return write_template_xlsx(grid, ctx.cfg.report)


def drop_samples(ctx: Context, period: str) -> list[Path]:
    """Put one period's samples in the inbox, arrived at their 'received' time (file time too)."""
    ctx.inbox.mkdir(parents=True, exist_ok=True)
    out = []
    for sample in samples():
        if sample.period != period:
            continue
        path = ctx.inbox / sample.filename
        path.write_bytes(render_sample(ctx, sample))
        received = datetime.fromisoformat(sample.received).replace(tzinfo=TZ)
        os.utime(path, (received.timestamp(), received.timestamp()))
        note_arrival(ctx, path, received)  # as the folder watcher would have seen it arrive that day
        out.append(path)
    return out
