"""Checking a parsed submission against its report definition.

The value checks are a pydantic model built from the definition (one field per indicator), so a new
report is a new YAML file; errors are translated into Vietnamese messages naming code, label, cell,
the value found and what is expected.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, create_model
from pydantic_core import PydanticCustomError

from tasks.config import AppConfig, Condition, Indicator, ReportDefinition
from tasks.guard import Uncalculated
from tasks.periods import Period, PeriodError, parse_period
from tasks.text import CleanText, clean, normalise_text
from tasks.types import Issue, ParsedSheet

_PLAIN_INT = re.compile(r"^[+-]?\d+$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+$")  # Vietnamese grouping: 1.000 is one thousand
_ZERO_DECIMALS = re.compile(r"^([+-]?\d+)[.,]0{1,2}$")  # 12.0 or 12,00 from a CSV export
MAX_INTEGER = 10**12  # no indicator counts past this: larger is a typo, and beyond 64-bit storage soon after
MAX_TEXT_CHARS = 10_000  # a narrative is a few paragraphs; more is pasted by mistake (and never cut silently)
_SHOWN_CHARS = 80  # a found value quoted in a message is cut here (the message says so with …)


@dataclass
class Verdict:
    """The outcome of validating one submission."""

    unit_code: str | None
    period_key: str | None
    values: dict[str, int | str | None] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.errors


def _describe(value: Any) -> str:
    """A found value as the unit reads it in a message: short, NFC, no invisible characters."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1e15 else str(value)
    text = clean(str(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def _too_large() -> PydanticCustomError:
    return PydanticCustomError("too_large", "above the global bound")


def _uncalculated(value: Uncalculated) -> PydanticCustomError:
    return PydanticCustomError("uncalculated", "formula without a value", {"formula": str(value)})


def _to_int(value: Any) -> int | None:
    """'12', 12.0 and ' 12 ' are 12; '12 tin', 3.5 and True are errors; blank is None; past 10^12 too large."""
    if isinstance(value, Uncalculated):
        raise _uncalculated(value)
    if value is None or (isinstance(value, str) and not clean(value)):
        return None
    if isinstance(value, bool):
        raise PydanticCustomError("not_integer", "not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) > MAX_INTEGER:
                raise _too_large()
            return int(value)
        raise PydanticCustomError("not_integer", "not an integer")
    text = clean(str(value)).replace(" ", "")
    if len(text.lstrip("+-").replace(".", "")) > 15 and text.lstrip("+-").replace(".", "").isdigit():
        raise _too_large()  # before int(): a 5,000-digit string must not reach Python's int limit
    if _PLAIN_INT.match(text):
        return int(text)
    if _THOUSANDS.match(text):
        return int(text.replace(".", ""))
    if m := _ZERO_DECIMALS.match(text):
        return int(m[1])
    raise PydanticCustomError("not_integer", "not an integer")


def _clean_text(value: Any) -> CleanText | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return normalise_text(value if isinstance(value, str) else str(value))


def _to_text(value: Any, info: ValidationInfo) -> str | None:
    """Stored text: legacy fonts converted, NFC, invisible characters removed; too long is an error.
    What was cleaned is kept in the validation context (`cleaned`, by the text as typed): the legacy-font
    warning reads it there instead of normalising every text a second time."""
    if isinstance(value, Uncalculated):
        raise _uncalculated(value)
    if isinstance(value, str) and len(value) > 2 * MAX_TEXT_CHARS:  # not worth normalising first
        raise PydanticCustomError("too_long", "text too long", {"length": len(value)})
    cleaned = _clean_text(value)
    if isinstance(value, str) and cleaned is not None and isinstance(info.context, dict):
        info.context.setdefault("cleaned", {})[value] = cleaned
    if cleaned is None:
        return None
    if len(cleaned.text) > MAX_TEXT_CHARS:
        raise PydanticCustomError("too_long", "text too long", {"length": len(cleaned.text)})
    return cleaned.text or None


def _field(ind: Indicator) -> tuple[Any, Any]:
    if ind.type == "integer":
        low = ind.min if ind.min is not None else -MAX_INTEGER
        high = min(ind.max, MAX_INTEGER) if ind.max is not None else MAX_INTEGER
        bounded = Annotated[int, Field(ge=low, le=high)]
        return Annotated[bounded | None, BeforeValidator(_to_int)], Field(default=None, alias=ind.code)
    return Annotated[str | None, BeforeValidator(_to_text)], Field(default=None, alias=ind.code)


def submission_model(report: ReportDefinition) -> type[BaseModel]:
    """A pydantic model of one unit's values for this report, built from the definition. Looked up by the
    definition object first: hashing a whole definition per document cost more than validating its values."""
    hit = _MODEL_OF.get(id(report))
    if hit is not None and hit[0] is report:  # the entry holds the definition: its id cannot be reused meanwhile
        return hit[1]
    if len(_MODEL_OF) >= 32:
        _MODEL_OF.clear()
    model = _built_model(report)
    _MODEL_OF[id(report)] = (report, model)
    return model


_MODEL_OF: dict[int, tuple[ReportDefinition, type[BaseModel]]] = {}


@lru_cache(maxsize=32)
def _built_model(report: ReportDefinition) -> type[BaseModel]:
    fields = {ind.code.lower(): _field(ind) for ind in report.indicators}
    return create_model(  # type: ignore[call-overload]
        f"Submission_{report.id.replace('-', '_')}",
        __config__=ConfigDict(extra="ignore", populate_by_name=False),
        **fields,
    )


def _where(ind: Indicator, cell: str | None) -> str:
    return f"Chỉ tiêu {ind.code} \u201c{ind.label}\u201d" + (f" (ô {cell})" if cell else "")


def _grouped(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _value_issue(ind: Indicator, cell: str | None, raw: Any, err_type: str, ctx: dict[str, Any]) -> Issue:
    found = _describe(raw)
    if err_type == "not_integer":
        msg = (f"{_where(ind, cell)}: giá trị \u201c{found}\u201d không phải là số nguyên. "
               "Hãy chỉ nhập chữ số, không kèm chữ hay đơn vị tính (ví dụ: 12).")
    elif err_type == "greater_than_equal":
        low = ctx.get("ge")
        msg = f"{_where(ind, cell)}: giá trị {found} nhỏ hơn mức tối thiểu {low}. Hãy nhập số ≥ {low}."
    elif err_type == "too_large" or (err_type == "less_than_equal" and ctx.get("le") == MAX_INTEGER):
        msg = (f"{_where(ind, cell)}: giá trị {found} vượt quá giới hạn chung {_grouped(MAX_INTEGER)} của mọi chỉ "
               "tiêu số. Hãy kiểm tra lại số liệu (có thể gõ thừa chữ số).")
    elif err_type == "less_than_equal":
        msg = f"{_where(ind, cell)}: giá trị {found} lớn hơn mức tối đa {ctx.get('le')}. Hãy kiểm tra lại số liệu."
    elif err_type == "uncalculated":
        formula = _describe(ctx.get("formula", ""))
        msg = (f"{_where(ind, cell)}: ô có công thức \u201c{formula}\u201d nhưng tệp không lưu kết quả tính "
               "(tệp được lưu bằng phần mềm không tính công thức). Hãy mở tệp bằng Excel hoặc LibreOffice, "
               "lưu lại rồi gửi, hoặc nhập thẳng số liệu.")
    elif err_type == "too_long":
        msg = (f"{_where(ind, cell)}: nội dung dài {_grouped(ctx.get('length', 0))} ký tự, vượt giới hạn "
               f"{_grouped(MAX_TEXT_CHARS)} ký tự. Hãy viết ngắn gọn lại (nội dung không bị cắt bớt mà cả tệp chưa "
               "được nhận).")
    else:
        msg = f"{_where(ind, cell)}: giá trị \u201c{found}\u201d không hợp lệ."
    return Issue(msg, code=ind.code, label=ind.label, cell=cell, value=found)


_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
        "==": operator.eq, "!=": operator.ne}


def _holds(cond: Condition, values: dict[str, Any]) -> bool | None:
    """True/False, or None when a value it needs is missing (then the rule does not apply)."""
    left = values.get(cond.left)
    if cond.op == "filled":
        return left not in (None, "")
    if cond.op == "empty":
        return left in (None, "")
    right = values.get(cond.right) if isinstance(cond.right, str) else cond.right
    if left is None or right is None:
        return None
    return _OPS[cond.op](left, right * cond.factor)


def check_values(report: ReportDefinition, sheet: ParsedSheet) -> tuple[dict[str, Any], list[Issue], list[Issue]]:
    """Types, ranges, required indicators, cross-field rules and warnings, for one sheet's values."""
    errors: list[Issue] = []
    warnings: list[Issue] = []
    raw = {code: rv.raw for code, rv in sheet.values.items()}
    cells = {code: rv.cell for code, rv in sheet.values.items()}
    model = submission_model(report)
    bad: set[str] = set()
    memo: dict[str, Any] = {}
    try:
        parsed = model.model_validate(raw, context=memo)
    except ValidationError as exc:
        for err in exc.errors():
            code = str(err["loc"][0])
            ind = report.by_code[code]
            bad.add(code)
            errors.append(_value_issue(ind, cells.get(code), raw.get(code), err["type"], err.get("ctx") or {}))
        good = {k: v for k, v in raw.items() if k not in bad and k in report.by_code}
        parsed = model.model_validate(good, context=memo)
    values: dict[str, Any] = parsed.model_dump(by_alias=True)  # {code: value}, in the definition's order
    for code in bad:
        values.pop(code, None)

    for ind in report.indicators:
        if ind.code in bad:
            continue
        if ind.code not in sheet.values:
            if ind.required:
                errors.append(Issue(
                    f"Không tìm thấy dòng của chỉ tiêu {ind.code} \u201c{ind.label}\u201d trong bảng. "
                    "Hãy dùng đúng biểu mẫu, không xóa dòng hay sửa cột Mã.",
                    code=ind.code, label=ind.label,
                ))
            continue
        value = values.get(ind.code)
        if value is None and ind.required:
            hint = "nhập 0 nếu không có" if ind.type == "integer" else "ghi nội dung bằng lời"
            errors.append(Issue(f"{_where(ind, cells[ind.code])}: chưa có số liệu. Hãy điền ({hint}).",
                                code=ind.code, label=ind.label, cell=cells[ind.code], value=""))
        elif ind.warn_above is not None and isinstance(value, int) and value > ind.warn_above:
            warnings.append(Issue(
                f"{_where(ind, cells[ind.code])}: giá trị {value} cao bất thường (trên {ind.warn_above}); "
                "đề nghị kiểm tra lại.", severity="warning", code=ind.code, label=ind.label,
                cell=cells[ind.code], value=str(value),
            ))

    for ind in report.indicators:
        raw_value = raw.get(ind.code)
        if ind.type != "text" or ind.code in bad or not isinstance(raw_value, str):
            continue
        cleaned = memo.get("cleaned", {}).get(raw_value) or _clean_text(raw_value)
        assert cleaned is not None
        if cleaned.legacy is not None:
            font = ".VnTime" if cleaned.legacy == "TCVN3" else "VNI-Times"
            warnings.append(Issue(
                f"{_where(ind, cells[ind.code])}: văn bản gõ bằng bảng mã {cleaned.legacy} (phông {font}) đã được "
                f"chuyển sang Unicode: \u201c{_describe(values.get(ind.code))}\u201d. Lần sau đề nghị dùng phông "
                "Unicode (Times New Roman).",
                severity="warning", code=ind.code, label=ind.label, cell=cells[ind.code]))
        if cleaned.removed:
            warnings.append(Issue(
                f"{_where(ind, cells[ind.code])}: đã bỏ {len(cleaned.removed)} loại ký tự ẩn (ký tự điều khiển hoặc "
                f"ký tự đổi chiều văn bản: {', '.join(cleaned.removed[:5])}) khỏi nội dung; phần chữ còn lại được "
                "giữ nguyên.", severity="warning", code=ind.code, label=ind.label, cell=cells[ind.code]))

    for code in sheet.values:
        if code not in report.by_code:
            warnings.append(Issue(f"Mã chỉ tiêu {code} (ô {sheet.values[code].cell}) không có trong biểu mẫu; "
                                  "số liệu dòng này không được tính.", severity="warning", code=code,
                                  cell=sheet.values[code].cell))

    for rule in report.rules:
        if rule.when is not None and not _holds(rule.when, values):
            continue
        if _holds(rule.require, values) is False:
            ind = report.by_code[rule.require.left]
            issue = Issue(rule.message, severity=rule.severity, code=ind.code, label=ind.label,
                          cell=cells.get(ind.code), value=_describe(values.get(ind.code)))
            (errors if rule.severity == "error" else warnings).append(issue)
    return values, errors, warnings


def check_submission(cfg: AppConfig, sheet: ParsedSheet, expected: Period) -> Verdict:
    """Unit and period first (a wrong one makes every number meaningless), then the values."""
    report = cfg.report
    verdict = Verdict(unit_code=sheet.unit_code, period_key=sheet.period_text)
    verdict.errors.extend(sheet.problems)

    if sheet.unit_cell is not None:
        unit = cfg.unit(sheet.unit_code or "")
        if not sheet.unit_code:
            verdict.errors.append(Issue(f"Ô {sheet.unit_cell} (Mã đơn vị) đang để trống. Hãy ghi mã đơn vị "
                                        "như trong biểu mẫu được gửi.", cell=sheet.unit_cell))
        elif unit is None:
            verdict.errors.append(Issue(
                f"Mã đơn vị \u201c{sheet.unit_code}\u201d (ô {sheet.unit_cell}) không có trong danh sách đơn vị "
                "báo cáo. Hãy dùng đúng biểu mẫu được gửi cho đơn vị mình.", cell=sheet.unit_cell,
                value=sheet.unit_code))
        elif unit.ended_without_date:
            verdict.unit_code = unit.code
            verdict.errors.append(Issue(f"Đơn vị {unit.code} ({unit.name}) hiện không thuộc diện báo cáo.",
                                        cell=sheet.unit_cell, value=unit.code))
        elif not unit.expected_in(expected):  # before it started, or after it ended (units.yaml from/until)
            verdict.unit_code = unit.code
            verdict.errors.append(Issue(f"Đơn vị {unit.code} ({unit.name}) không thuộc diện báo cáo {expected.label}: "
                                        f"{unit.window_text}.", cell=sheet.unit_cell, value=unit.code))
        else:
            verdict.unit_code = unit.code

    if sheet.period_cell is not None:
        try:
            found = parse_period(sheet.period_text or "")
        except PeriodError:
            found = None
        if found is None or found.key != expected.key:
            verdict.errors.append(Issue(
                f"Kỳ báo cáo \u201c{sheet.period_text or ''}\u201d (ô {sheet.period_cell}) không đúng: đang tổng hợp "
                f"kỳ {expected.key} ({expected.label}). Hãy dùng biểu mẫu của kỳ {expected.key}.",
                cell=sheet.period_cell, value=sheet.period_text or ""))
        else:
            verdict.period_key = found.key

    if sheet.values or not sheet.problems:  # an empty table still has to say every required indicator
        verdict.values, errors, warnings = check_values(report, sheet)
        verdict.errors.extend(errors)
        verdict.warnings.extend(warnings)
    return verdict
