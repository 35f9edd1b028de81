"""Why a unit's file was sent back, as short factual clauses for the Office (its status overview).

The validation messages are written for the unit (what is wrong, where, what to do); the Office needs only
what was wrong. None of this goes to UBND tỉnh: the report names a unit whose file was sent back, never the
cells or codes of its mistakes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tasks.render.vietnamese_dates import nfc


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0] if text else ""
    if not text or (len(first) > 1 and first.isupper()):
        return text
    return text[0].lower() + text[1:]


# Sentences addressed to the unit ("Hãy dùng biểu mẫu ...") have no place in a report to the province.
_IMPERATIVE = re.compile(r"^(hãy|vui lòng|đề nghị|xin|cần)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^\W\d_])")
# tasks.validation words value errors as 'Chỉ tiêu W01 “label” (ô E10): <fact>'.
_WHERE = re.compile(r"^Chỉ tiêu (?P<code>\S+) \u201c[^\u201d]*\u201d(?: \(ô [^)]*\))?:\s*(?P<fact>.+)$",
                    re.IGNORECASE | re.DOTALL)
_VALUE_FACT = re.compile(r"^giá trị (?P<value>\u201c[^\u201d]*\u201d|\S+) (?P<rest>.+)$", re.DOTALL)


def _first_statement(message: str) -> str:
    """The first sentence of a message that is not an instruction to the unit, without its full stop."""
    sentences = [s.strip() for s in _SENTENCE_END.split(nfc(message).strip()) if s.strip()]
    facts = [s for s in sentences if not _IMPERATIVE.match(s)]
    return (facts[0] if facts else "").rstrip(" .;:")


def _with_cell(text: str, cell: str | None) -> str:
    """Append '(ô E14)' unless the text already names the cell; merge with a closing '(...)'."""
    if not cell or f"ô {cell}".lower() in text.lower():
        return text
    if text.endswith(")"):
        return f"{text[:-1]}, ô {cell})"
    return f"{text} (ô {cell})"


def short_reason(err: Mapping[str, Any], known_codes: Sequence[str] = ()) -> str:
    """One validation error as a short factual clause for the report, e.g. 'H03 có giá trị -1, nhỏ hơn
    mức tối thiểu 0 (ô E14)' or 'kỳ báo cáo “2021-02” (ô B5) không đúng'.

    The error messages are written for the unit (what is wrong, where, what to do); the report only
    needs what was wrong: the instruction sentences and the indicator's long label are dropped.
    """
    code = str(err.get("code") or "").strip()
    cell = str(err.get("cell") or "").strip() or None
    statement = _first_statement(str(err.get("message") or ""))
    where = _WHERE.match(statement)
    if where:
        code = code or where["code"]
        fact = where["fact"].strip()
        value = _VALUE_FACT.match(fact)
        if value:
            fact = f"có giá trị {value['value']}, {value['rest']}"
        text = f"{code} {fact}" if code else fact
    elif statement:
        # keep the head of 'X không đúng: đang tổng hợp ...', drop the explanation after the colon
        text = statement.split(": ", 1)[0].strip()
        codes = {code, *known_codes} - {""}
        for k in codes:  # 'chỉ tiêu W01 “Số tin, bài ...”' -> 'chỉ tiêu W01'
            text = re.sub(rf"\b{re.escape(k)} \u201c[^\u201d]*\u201d", k, text)
        if code and not re.search(rf"\b{re.escape(code)}\b", text):
            text = f"{code}: {_lower_first(text)}"
        text = _lower_first(text)
    elif code:
        text = f"{code} không hợp lệ"
    else:
        return ""
    return nfc(_with_cell(text.rstrip(" .;:"), cell))


def rejection_reasons(c: Mapping[str, Any], unit: str) -> str:
    """'kỳ báo cáo “2021-02” (ô B5) không đúng; H03 có giá trị -1, ...' for the unit's latest rejected
    submission, with no final full stop (the caller ends the sentence)."""
    entries = [r for r in c.get("rejected", []) if r.get("unit") == unit]
    if not entries:
        return ""
    latest = max(entries, key=lambda r: r.get("received_at") or "")
    codes = [i["code"] for i in c.get("indicators", [])]
    parts: list[str] = []
    for err in latest.get("errors", []):
        if err.get("severity", "error") != "error":
            continue
        reason = short_reason(err, codes)
        if reason and reason not in parts:
            parts.append(reason)
    return nfc("; ".join(parts))
