"""A realistic consolidation dict for tests: Sở Nội vụ Tuyên Quang, CCHC communication, March 2021.

It exercises a late unit (BTG), a missing unit (VTLT), a rejected unit (TĐKT), a previous period
(February 2021, the same 7 units) and year-to-date figures. Totals are the sums of the accepted units' values,
so the numbers tests assert on are the ones a clerk would compute by hand: W01 = 37 (Feb: 30, +23,3%),
H02 = 1.250, YTD W01 = 80; C01 and C02 are levels (procedures on display): their YTD is March's level.
"""

from __future__ import annotations

import copy
from typing import Any

UNITS: dict[str, str] = {
    "VP": "Văn phòng Sở",
    "TTr": "Thanh tra Sở",
    "TCBC": "Phòng Tổ chức - Biên chế và Tổ chức phi chính phủ",
    "CCHC": "Phòng Cải cách hành chính",
    "XDCQ": "Phòng Xây dựng chính quyền và Công tác thanh niên",
    "CCVC": "Phòng Công chức, viên chức",
    "TĐKT": "Ban Thi đua - Khen thưởng",
    "BTG": "Ban Tôn giáo",
    "VTLT": "Chi cục Văn thư - Lưu trữ",
}

GROUPS: list[dict[str, str]] = [
    {"code": "3.1", "label": "Thông qua Trang Thông tin điện tử của Sở", "kind": "form"},
    {"code": "3.2", "label": "Tổ chức hội nghị; lồng ghép nội dung cải cách hành chính trong các hội nghị, "
     "cuộc họp", "kind": "form"},
    {"code": "3.3", "label": "Đưa nội dung cải cách hành chính vào công tác tuyển dụng, thi nâng ngạch",
     "kind": "form"},
    {"code": "3.4", "label": "Công khai thủ tục hành chính tại Bộ phận tiếp nhận và trả kết quả, "
     "Trang Thông tin điện tử của Sở", "kind": "form"},
    {"code": "3.5", "label": "Các hình thức tuyên truyền khác", "kind": "form"},
    {"code": "2.4", "label": "Nội dung tuyên truyền theo chủ đề", "kind": "topic"},
]


def _ind(code: str, label: str, unit: str, group: str, type_: str = "integer", aggregation: str = "count",
         phrase: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "label": label, "unit": unit, "type": type_, "group": group}
    if type_ == "integer":
        out.update(aggregation=aggregation, phrase=phrase)
    return out


INDICATORS: list[dict[str, Any]] = [
    _ind("W01", "Số tin, bài về CCHC đăng trên Trang TTĐT của Sở", "tin, bài", "3.1",
         phrase="đã đăng tải {value} về CCHC"),
    _ind("H01", "Số hội nghị về CCHC đã tổ chức", "hội nghị", "3.2"),
    _ind("H02", "Số lượt người tham dự hội nghị về CCHC", "lượt người", "3.2"),
    _ind("H03", "Số cuộc họp có lồng ghép nội dung CCHC", "cuộc họp", "3.2"),
    _ind("T01", "Số kỳ thi tuyển dụng, thi nâng ngạch có nội dung CCHC", "kỳ thi", "3.3"),
    _ind("C01", "Số thủ tục hành chính được công khai tại Bộ phận tiếp nhận và trả kết quả",
         "thủ tục", "3.4", aggregation="level"),
    _ind("C02", "Số thủ tục hành chính được công khai trên Trang TTĐT của Sở", "thủ tục", "3.4",
         aggregation="level"),
    _ind("K01", "Số hoạt động tuyên truyền bằng hình thức khác", "hoạt động", "3.5"),
    _ind("K02", "Mô tả hình thức tuyên truyền khác", "", "3.5", "text"),
    _ind("CD1", "Đổi mới, nâng cao chất lượng xây dựng, ban hành văn bản quy phạm pháp luật",
         "tin, bài", "2.4"),
    _ind("CD2", "Kiểm soát, công khai thủ tục hành chính; cơ chế một cửa, một cửa liên thông",
         "tin, bài", "2.4"),
    _ind("CD3", "Sắp xếp tổ chức bộ máy tinh gọn, hoạt động hiệu lực, hiệu quả", "tin, bài", "2.4"),
    _ind("CD4", "Cải cách công vụ, công chức; kỷ luật, kỷ cương hành chính", "tin, bài", "2.4"),
    _ind("CD5", "Cơ chế tự chủ của cơ quan hành chính, đơn vị sự nghiệp công lập", "tin, bài", "2.4"),
    _ind("CD6", "Ứng dụng công nghệ thông tin, chuyển đổi số; dịch vụ công trực tuyến mức độ 3, 4",
         "tin, bài", "2.4"),
    _ind("CD7", "Kết quả CCHC, Chỉ số CCHC, Chỉ số hài lòng; sáng kiến; biểu dương, phê phán",
         "tin, bài", "2.4"),
    _ind("N01", "Kết quả nổi bật", "", "narrative", "text"),
    _ind("N02", "Tồn tại, hạn chế và nguyên nhân", "", "narrative", "text"),
    _ind("N03", "Đề xuất, kiến nghị", "", "narrative", "text"),
    _ind("N04", "Sáng kiến, giải pháp mới", "", "narrative", "text"),
]

INTEGER_CODES = [i["code"] for i in INDICATORS if i["type"] == "integer"]

# Values of the accepted units only (TĐKT was rejected, VTLT sent nothing).
_VALUES: dict[str, list[int]] = {
    #        W01 H01  H02 H03 T01 C01  C02 K01 CD1 CD2 CD3 CD4 CD5 CD6 CD7
    "VP":   [12, 1, 160, 4, 0, 128, 128, 2, 2, 4, 0, 0, 0, 3, 0],
    "TTr":  [3, 0, 0, 2, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0],
    "TCBC": [4, 0, 0, 3, 0, 0, 0, 1, 0, 0, 3, 0, 1, 0, 0],
    "CCHC": [9, 2, 585, 5, 0, 0, 0, 3, 1, 4, 0, 0, 0, 2, 0],
    "XDCQ": [3, 1, 230, 2, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0],
    "CCVC": [4, 1, 275, 3, 1, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0],
    "BTG":  [2, 0, 0, 1, 0, 12, 12, 1, 0, 1, 0, 0, 0, 0, 0],
}  # fmt: skip

_TEXTS: dict[str, dict[str, str]] = {
    "VP": {
        "K02": "Tuyên truyền qua nhóm Zalo của cơ quan và bảng tin nội bộ",
        "N01": "Cập nhật đầy đủ 128 thủ tục hành chính lên Trang Thông tin điện tử của Sở; "
               "100% hồ sơ được tiếp nhận qua Bộ phận một cửa",
        "N02": "Một số tin, bài còn chậm được đăng tải do thiếu nhân lực biên tập",
        "N03": "Đề nghị Ủy ban nhân dân tỉnh bố trí kinh phí nâng cấp Trang Thông tin điện tử của Sở.",
    },
    "CCHC": {
        "K02": "Pa nô, áp phích tại Bộ phận tiếp nhận và trả kết quả",
        "N01": "Tổ chức thành công Hội nghị hướng dẫn chấm điểm Chỉ số cải cách hành chính trên Phần mềm "
               "cho 585 lượt đại biểu",
        "N02": "Việc tự chấm điểm Chỉ số CCHC trên Phần mềm ở một số cơ quan còn chưa đúng hướng dẫn",
        "N03": "Đề nghị tổ chức tập huấn chuyên sâu về Phần mềm chấm điểm Chỉ số CCHC",
        "N04": "Xây dựng bộ câu hỏi - đáp về cải cách hành chính đăng trên Trang Thông tin điện tử của Sở",
    },
    "TTr": {"N02": "Nội dung tuyên truyền về công khai thủ tục hành chính còn ít"},
    "CCVC": {"N01": "Đưa nội dung cải cách hành chính vào đề thi nâng ngạch chuyên viên chính năm 2021"},
}

PREVIOUS_TOTALS = dict(zip(INTEGER_CODES,
                           [30, 2, 520, 16, 0, 140, 135, 12, 5, 8, 4, 2, 0, 3, 1], strict=True))
YEAR_TO_DATE = dict(zip(INTEGER_CODES,
                        [80, 8, 1950, 46, 1, 140, 140, 30, 14, 24, 10, 8, 1, 11, 3], strict=True))

# The report body, as config/reports/cchc-tuyen-truyen.yaml lays it out (the consolidation carries it).
OUTLINE: dict[str, Any] = {"sections": [
    {"title": "KẾT QUẢ THỰC HIỆN", "figures": True, "parts": [
        {"heading": "Về hình thức tuyên truyền", "groups": ["3.1", "3.2", "3.3", "3.4", "3.5"], "layout": "by_group"},
        {"heading": "Về nội dung tuyên truyền", "groups": ["2.4"], "layout": "by_indicator",
         "lead": "Các cơ quan, đơn vị đã thực hiện {total} tuyên truyền theo các nội dung trọng tâm của Kế hoạch, "
                 "cụ thể:"},
        {"heading": "Kết quả nổi bật", "narrative": "N01"},
        {"heading": "Sáng kiến, giải pháp mới", "narrative": "N04"},
    ]},
    {"title": "TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ", "parts": [{"completeness": True}]},
    {"title": "TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN", "parts": [
        {"narrative": "N02", "empty": "Các cơ quan, đơn vị không báo cáo tồn tại, hạn chế trong kỳ."}]},
    {"title": "ĐỀ XUẤT, KIẾN NGHỊ", "parts": [
        {"narrative": "N03", "empty": "Các cơ quan, đơn vị không có đề xuất, kiến nghị trong kỳ."}]},
    {"title": "PHƯƠNG HƯỚNG, NHIỆM VỤ KỲ TỚI", "parts": [
        {"paragraphs": ["Trong {next_period}, Sở Nội vụ tiếp tục triển khai {plan_reference}."]}]},
]}

ACCEPTED = ["VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "BTG"]
LATE = ["BTG"]
ON_TIME = [u for u in ACCEPTED if u not in LATE]
MISSING = ["TĐKT", "VTLT"]
REJECTED = ["TĐKT"]


def _values_by_unit() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for unit, row in _VALUES.items():
        vals: dict[str, Any] = dict(zip(INTEGER_CODES, row, strict=True))
        vals.update(_TEXTS.get(unit, {}))
        out[unit] = vals
    return out


def _narratives(values: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for ind in INDICATORS:
        if ind["type"] != "text":
            continue
        out[ind["code"]] = [
            {"unit": u, "unit_name": UNITS[u], "text": values[u][ind["code"]]}
            for u in UNITS
            if u in values and values[u].get(ind["code"])
        ]
    return out


def _build() -> dict[str, Any]:
    values = _values_by_unit()
    totals = {code: sum(int(values[u][code]) for u in ACCEPTED) for code in INTEGER_CODES}
    expected = list(UNITS)
    return {
        "report_id": "cchc-tuyen-truyen",
        "report_title": "Kết quả thực hiện công tác tuyên truyền cải cách hành chính",
        "plan_reference": "Kế hoạch tuyên truyền cải cách hành chính của Sở Nội vụ năm 2021",
        "period": {
            "key": "2021-03",
            "kind": "month",
            "label": "tháng 3 năm 2021",
            "cutoff_start": "2021-02-15",
            "cutoff_end": "2021-03-14",
            "unit_deadline": "2021-03-16",
            "report_deadline": "2021-03-18",
            "next_label": "tháng 4 năm 2021",
        },
        "generated_at": "2021-03-17T09:00:00+07:00",
        "organisation": {
            "supervising_body": "UBND TỈNH TUYÊN QUANG",
            "issuing_body": "SỞ NỘI VỤ",
            "place": "Tuyên Quang",
            "document_number": "…/BC-SNV",
            "recipient_line": "Ủy ban nhân dân tỉnh Tuyên Quang",
        },
        "groups": copy.deepcopy(GROUPS),
        "indicators": copy.deepcopy(INDICATORS),
        "main_indicators": ["W01", "H01", "H02", "H03", "C02", "K01"],
        "totals": totals,
        "year_to_date": dict(YEAR_TO_DATE),
        "year_to_date_basis": {"periods": ["2021-01", "2021-02", "2021-03"], "missing": [], "missing_labels": [],
                               "from_label": None, "shown": True},
        "previous": {"period": "2021-02", "label": "tháng 2 năm 2021", "totals": dict(PREVIOUS_TOTALS),
                     "units": list(ACCEPTED), "accepted_count": len(ACCEPTED), "expected_count": len(expected)},
        "comparison": {"period": "2021-02", "label": "tháng 2 năm 2021", "units": list(ACCEPTED),
                       "units_count": len(ACCEPTED), "same_units": True, "current": dict(totals),
                       "previous": dict(PREVIOUS_TOTALS),
                       "change": {k: totals[k] - PREVIOUS_TOTALS[k] for k in totals}},
        "values_by_unit": values,
        "units": dict(UNITS),
        "completeness": {
            "expected": expected,
            "accepted": list(ACCEPTED),
            "on_time": list(ON_TIME),
            "late": list(LATE),
            "missing": list(MISSING),
            "rejected": list(REJECTED),
            "expected_count": len(expected),
            "accepted_count": len(ACCEPTED),
            "on_time_count": len(ON_TIME),
            "late_count": len(LATE),
            "missing_count": len(MISSING),
            "reporting_rate": round(len(ACCEPTED) / len(expected), 3),
            "on_time_rate": round(len(ON_TIME) / len(expected), 3),
            # Optional (rendered when present): when each unit's counted submission arrived.
            "received_at": {
                "VP": "2021-03-15T08:12:00+07:00",
                "TTr": "2021-03-15T10:40:00+07:00",
                "TCBC": "2021-03-16T09:05:00+07:00",
                "CCHC": "2021-03-14T16:30:00+07:00",
                "XDCQ": "2021-03-16T14:20:00+07:00",
                "CCVC": "2021-03-16T16:55:00+07:00",
                "BTG": "2021-03-17T08:45:00+07:00",
            },
        },
        "rejected": [
            {
                "unit": "TĐKT",
                "received_at": "2021-03-16T10:15:00+07:00",
                "source": "inbox/tdkt.xlsx",
                # worded as tasks.validation words them for the unit (with instructions to fix them)
                "errors": [
                    {"message": "Kỳ báo cáo \u201c2021-02\u201d (ô B5) không đúng: đang tổng hợp kỳ 2021-03 "
                                "(tháng 3 năm 2021). Hãy dùng biểu mẫu của kỳ 2021-03.",
                     "severity": "error", "cell": "B5", "value": "2021-02"},
                    {"message": "Chỉ tiêu H02 \u201cSố lượt người tham dự hội nghị về CCHC\u201d (ô D12): giá trị "
                                "-15 nhỏ hơn mức tối thiểu 0. Hãy nhập số ≥ 0.",
                     "severity": "error", "code": "H02", "label": "Số lượt người tham dự hội nghị về CCHC",
                     "cell": "D12", "value": "-15"},
                    {"message": "Chỉ tiêu W01 \u201cSố tin, bài về CCHC đăng trên Trang TTĐT của Sở\u201d (ô D5): "
                                "chưa có số liệu. Hãy điền (nhập 0 nếu không có).",
                     "severity": "error", "code": "W01", "label": "Số tin, bài về CCHC đăng trên Trang TTĐT của Sở",
                     "cell": "D5", "value": ""},
                ],
            }
        ],
        "narratives": _narratives(values),
        "narrative_sections": [
            {"code": "N01", "label": "Kết quả nổi bật"},
            {"code": "N02", "label": "Tồn tại, hạn chế và nguyên nhân"},
            {"code": "N03", "label": "Đề xuất, kiến nghị"},
            {"code": "N04", "label": "Sáng kiến, giải pháp mới"},
        ],
        "outline": copy.deepcopy(OUTLINE),
        "recipients": [
            "Ủy ban nhân dân tỉnh (báo cáo);",
            "Giám đốc, các PGĐ Sở;",
            "Các cơ quan, đơn vị thuộc và trực thuộc Sở;",
            "Lưu: VT, VP.",
        ],
        "signer": {"authority": "KT. GIÁM ĐỐC", "title": "PHÓ GIÁM ĐỐC", "name": "Bàng Quốc Việt"},
    }


def sample_consolidation() -> dict[str, Any]:
    """A fresh deep copy, so a test may mutate it freely."""
    return _build()
