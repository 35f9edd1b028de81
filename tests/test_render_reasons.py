"""Reasons a file was sent back, worded for the Office: facts only, no instructions to the unit."""

from __future__ import annotations

import pytest

from tasks.render import reasons
from tests.sample_consolidation import sample_consolidation


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        ({"message": "Kỳ báo cáo “2021-02” (ô B5) không đúng: đang tổng hợp kỳ 2021-03 (tháng 3 năm 2021). "
                     "Hãy dùng biểu mẫu của kỳ 2021-03.", "cell": "B5", "value": "2021-02"},
         "kỳ báo cáo “2021-02” (ô B5) không đúng"),
        ({"message": "Chỉ tiêu H03 “Số cuộc họp, hội nghị có lồng ghép nội dung cải cách hành chính” (ô E14): "
                     "giá trị -1 nhỏ hơn mức tối thiểu 0. Hãy nhập số ≥ 0.",
          "code": "H03", "label": "Số cuộc họp", "cell": "E14", "value": "-1"},
         "H03 có giá trị -1, nhỏ hơn mức tối thiểu 0 (ô E14)"),
        ({"message": "Chỉ tiêu W01 “Số tin, bài” (ô E10): giá trị “9 tin” không phải là số nguyên. "
                     "Hãy chỉ nhập chữ số, không kèm chữ hay đơn vị tính (ví dụ: 12).",
          "code": "W01", "cell": "E10", "value": "9 tin"},
         "W01 có giá trị “9 tin”, không phải là số nguyên (ô E10)"),
        ({"message": "Chỉ tiêu H02 “Số lượt người” (ô E13): chưa có số liệu. Hãy điền (nhập 0 nếu không có).",
          "code": "H02", "cell": "E13", "value": ""},
         "H02 chưa có số liệu (ô E13)"),
        # a cross-field rule: the cell joins the closing parenthesis instead of a second one
        ({"message": "Có hoạt động tuyên truyền bằng hình thức khác (K01 > 0) thì phải mô tả các hình thức "
                     "đó (K02).", "code": "K02", "cell": "E22", "value": "None"},
         "có hoạt động tuyên truyền bằng hình thức khác (K01 > 0) thì phải mô tả các hình thức đó (K02, ô E22)"),
        ({"message": "Không tìm thấy dòng của chỉ tiêu W01 “Số tin, bài” trong bảng. Hãy dùng đúng biểu mẫu, "
                     "không xóa dòng hay sửa cột Mã.", "code": "W01", "label": "Số tin, bài"},
         "không tìm thấy dòng của chỉ tiêu W01 trong bảng"),
        ({"message": "Chỉ tiêu W01 xuất hiện hai lần (ô E10 và ô E11). Hãy xóa dòng bị lặp.", "code": "W01",
          "cell": "E11"},
         "chỉ tiêu W01 xuất hiện hai lần (ô E10 và ô E11)"),
        ({"message": "Giá trị phải là số nguyên không âm (đang là -15)", "code": "H02", "cell": "D12"},
         "H02: giá trị phải là số nguyên không âm (đang là -15, ô D12)"),
        ({"message": "Hãy gửi lại.", "code": "H02"}, "H02 không hợp lệ"),
        ({"message": ""}, ""),
    ],
)
def test_short_reason_is_factual_without_instructions(err: dict, expected: str) -> None:
    reason = reasons.short_reason(err, ["W01", "H02", "H03", "K01", "K02"])
    assert reason == expected
    assert "Hãy" not in reason and not reason.endswith((".", ";", ":"))


def test_rejection_reasons_skip_warnings_and_duplicates() -> None:
    c = sample_consolidation()
    errors = c["rejected"][0]["errors"]
    errors.append(dict(errors[1]))
    errors.append({"message": "Chỉ tiêu H01 “Số hội nghị” (ô D10): giá trị 90 cao bất thường (trên 50); "
                              "đề nghị kiểm tra lại.", "severity": "warning", "code": "H01", "cell": "D10"})
    text = reasons.rejection_reasons(c, "TĐKT")
    assert text.count("H02") == 1 and "H01" not in text
    # the latest rejected submission of the unit is the one explained
    c["rejected"].append({"unit": "TĐKT", "received_at": "2021-03-16T15:00:00+07:00",
                          "errors": [{"message": "Ô B4 (Mã đơn vị) đang để trống. Hãy ghi mã đơn vị.",
                                      "cell": "B4"}]})
    assert reasons.rejection_reasons(c, "TĐKT") == "ô B4 (Mã đơn vị) đang để trống"
