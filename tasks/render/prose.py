"""Vietnamese report prose built from the consolidation dict.

Pure functions, no I/O: the .docx, the email summary and tests all use the same sentences, so a
number reads the same everywhere. Indicator labels are generic ("Số tin, bài ..."), so sentences
are assembled around them rather than hand-written per indicator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tasks.render.vietnamese_dates import format_date, format_number, format_percent, nfc

# Vietnamese list letters skip f, j, w, z and insert "đ" after "d" (Decree 30 numbering).
VN_LETTERS = ["a", "b", "c", "d", "đ", "e", "g", "h", "i", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t"]
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]

STATUS_ON_TIME = "Đúng hạn"
STATUS_LATE = "Muộn"
STATUS_MISSING = "Chưa báo cáo"
STATUS_REJECTED = "Bị trả lại"


@dataclass(frozen=True)
class Paragraph:
    """One paragraph; kind tells the renderer which template paragraph style to use."""

    text: str
    kind: str = "body"  # "body" | "heading" | "item"


@dataclass(frozen=True)
class Section:
    """A numbered top-level part of the report (I., II., ...)."""

    title: str
    paragraphs: list[Paragraph] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- small helpers


def letter(i: int) -> str:
    """Vietnamese list letter for a zero-based index: 0 -> 'a', 4 -> 'đ'."""
    return VN_LETTERS[i] if i < len(VN_LETTERS) else str(i + 1)


def lower_first(text: str) -> str:
    """Lower-case the first letter so a label can sit mid-sentence, but keep acronyms (CCHC, UBND)."""
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first.isupper():
        return text
    return text[0].lower() + text[1:]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _quantity(n: int | float, unit: str) -> str:
    return f"{format_number(n)} {unit}".strip()


def _indicators(c: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {i["code"]: i for i in c.get("indicators", [])}


def _previous(c: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    prev = c.get("previous")
    if not prev or not prev.get("totals"):
        return None
    return prev.get("label") or prev.get("period") or "kỳ trước", prev["totals"]


def unit_name(c: Mapping[str, Any], code: str) -> str:
    return c.get("units", {}).get(code, code)


def _join_names(names: Sequence[str]) -> str:
    return "; ".join(names)


def change_phrase(current: int | float, previous: int | float | None, unit: str, prev_label: str) -> str:
    """'tăng 7 tin, bài (23,3%) so với tháng 2 năm 2021', or '' when there is nothing to compare."""
    if previous is None:
        return ""
    diff = current - previous
    if diff == 0:
        return "" if current == 0 else f"không thay đổi so với {prev_label}"
    verb = "tăng" if diff > 0 else "giảm"
    pct = f" ({format_percent(abs(diff) / previous)})" if previous else ""
    return f"{verb} {_quantity(abs(diff), unit)}{pct} so với {prev_label}"


def indicator_phrase(c: Mapping[str, Any], code: str, *, style: str = "form") -> str:
    """One indicator's clause: value, change from the previous period, year-to-date.

    style "form": 'số tin, bài ... đạt 37 tin, bài, tăng ...' (label is the subject);
    style "topic": '37 tin, bài, tăng ...' (the caller prints the topic label before it).
    """
    ind = _indicators(c)[code]
    unit = ind.get("unit", "") or ""
    label = nfc(ind.get("label", code))
    value = c.get("totals", {}).get(code)
    if value is None:
        return f"{lower_first(label)}: chưa có số liệu" if style == "form" else "chưa có số liệu"
    if value == 0:
        head = f"{lower_first(label)}: không phát sinh" if style == "form" else "không phát sinh"
    else:
        head = (f"{lower_first(label)} đạt " if style == "form" else "") + _quantity(value, unit)
    parts = [head]
    prev = _previous(c)
    if prev is not None:
        prev_label, prev_totals = prev
        change = change_phrase(value, prev_totals.get(code), unit, prev_label)
        if change:
            parts.append(change)
    ytd = (c.get("year_to_date") or {}).get(code)
    if ytd:
        parts.append(f"lũy kế từ đầu năm {_quantity(ytd, unit)}")
    return nfc(", ".join(parts))


def texts_for(c: Mapping[str, Any], code: str) -> list[tuple[str, str]]:
    """(unit name, text) pairs for a text indicator, from narratives or else from unit values."""
    items = (c.get("narratives") or {}).get(code)
    if items is not None:
        return [(i.get("unit_name") or unit_name(c, i["unit"]), nfc(str(i["text"]).strip()))
                for i in items if str(i.get("text") or "").strip()]
    out = []
    for unit, vals in (c.get("values_by_unit") or {}).items():
        text = str(vals.get(code) or "").strip()
        if text:
            out.append((unit_name(c, unit), nfc(text)))
    return out


def attributed(text: str, who: str) -> str:
    """'- Text (Văn phòng Sở).' — every point raised is credited to the unit that raised it."""
    return nfc(f"- {clean_item(text)} ({who}).")


def clean_item(text: str) -> str:
    """A unit's free text as one list item: one line, no bullet of its own, no final punctuation.

    Units type '- Đề nghị ...', end with '.', '!' or ';', or press Alt+Enter between points; the
    report adds its own dash and closing '.', so those would otherwise double up.
    """
    lines = [ln.strip() for ln in nfc(text).splitlines()]
    lines = [_LEADING_BULLET.sub("", ln).rstrip(" .;,:!") for ln in lines]
    body = "; ".join(ln for ln in lines if ln)
    return upper_first(re.sub(r"\s+", " ", body).strip())


_LEADING_BULLET = re.compile(r"^(?:[-\u2013\u2014\u2022+*]|\d+[.)]|[a-zđ]\))\s*")


# ---------------------------------------------------------------- paragraphs


def report_subject(c: Mapping[str, Any]) -> str:
    """The bold subject line under 'BÁO CÁO': title followed by the period label."""
    return nfc(f"{c['report_title']} {c['period']['label']}".strip())


def intro_paragraphs(c: Mapping[str, Any]) -> list[str]:
    """Cut-off period and how many units the figures come from."""
    period = c["period"]
    comp = c.get("completeness", {})
    expected = comp.get("expected_count", len(comp.get("expected", [])))
    accepted = comp.get("accepted_count", len(comp.get("accepted", [])))
    out = []
    if period.get("cutoff_start") and period.get("cutoff_end"):
        out.append(f"Thời gian chốt số liệu: từ {format_date(period['cutoff_start'])} "
                   f"đến {format_date(period['cutoff_end'])}.")
    subject = lower_first(report_subject(c))
    if accepted:
        out.append(f"Trên cơ sở báo cáo của {accepted}/{expected} cơ quan, đơn vị thuộc và trực thuộc Sở, "
                   f"Văn phòng Sở tổng hợp {subject} như sau:")
    else:
        out.append(f"Đến thời điểm tổng hợp, chưa có cơ quan, đơn vị nào trong số {expected} cơ quan, "
                   f"đơn vị thuộc và trực thuộc Sở gửi báo cáo hợp lệ về {subject}.")
    return [nfc(p) for p in out]


def _groups(c: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [g for g in c.get("groups", []) if g.get("kind") == kind]


def _group_indicators(c: Mapping[str, Any], group: str, type_: str) -> list[str]:
    return [i["code"] for i in c.get("indicators", []) if i.get("group") == group and i.get("type") == type_]


def form_paragraphs(c: Mapping[str, Any]) -> list[Paragraph]:
    """One paragraph per form of communication (plan §II.3), integer clauses then unit descriptions."""
    out: list[Paragraph] = []
    for i, group in enumerate(_groups(c, "form")):
        codes = _group_indicators(c, group["code"], "integer")
        clauses = [indicator_phrase(c, code, style="form") for code in codes]
        text = f"{letter(i)}) {group['label']}"
        text += (": " + "; ".join(clauses) + ".") if clauses else "."
        out.append(Paragraph(nfc(text)))
        for code in _group_indicators(c, group["code"], "text"):
            for who, body in texts_for(c, code):
                out.append(Paragraph(attributed(body, who), "item"))
    return out


def topic_paragraphs(c: Mapping[str, Any]) -> list[Paragraph]:
    """A lead sentence with the total when units agree, then one paragraph per topic (plan §II.2.4)."""
    out: list[Paragraph] = []
    for group in _groups(c, "topic"):
        codes = _group_indicators(c, group["code"], "integer")
        if not codes:
            continue
        inds = _indicators(c)
        units = {inds[code].get("unit", "") for code in codes}
        totals = c.get("totals", {})
        if len(units) == 1 and all(code in totals for code in codes):
            total = sum(totals[code] for code in codes)
            out.append(Paragraph(nfc(
                f"Các cơ quan, đơn vị đã thực hiện {_quantity(total, units.pop())} tuyên truyền "
                f"theo các nội dung trọng tâm của Kế hoạch, cụ thể:")))
        for i, code in enumerate(codes):
            label = inds[code]["label"]
            out.append(Paragraph(nfc(f"{letter(i)}) {label}: {indicator_phrase(c, code, style='topic')}.")))
    return out


def unit_status(c: Mapping[str, Any], unit: str) -> str:
    """Status word used in the annex: Đúng hạn / Muộn / Bị trả lại / Chưa báo cáo."""
    comp = c.get("completeness", {})
    if unit in comp.get("accepted", []):
        return STATUS_LATE if unit in comp.get("late", []) else STATUS_ON_TIME
    if unit in comp.get("rejected", []):
        return STATUS_REJECTED
    return STATUS_MISSING


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
            text = f"{code}: {lower_first(text)}"
        text = lower_first(text)
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


def completeness_paragraphs(c: Mapping[str, Any]) -> list[Paragraph]:
    """Who reported, on time or late, who is missing and who was sent back (DHIS2-style rates)."""
    comp = c.get("completeness", {})
    expected = comp.get("expected_count", len(comp.get("expected", [])))
    accepted = comp.get("accepted_count", len(comp.get("accepted", [])))
    on_time = comp.get("on_time_count", len(comp.get("on_time", [])))
    late_units = list(comp.get("late", []))
    rejected = list(comp.get("rejected", []))
    missing = [u for u in comp.get("missing", []) if u not in rejected]
    rate = comp.get("reporting_rate", accepted / expected if expected else 0)
    on_time_rate = comp.get("on_time_rate", on_time / expected if expected else 0)

    out: list[Paragraph] = []
    text = (f"Tổng số cơ quan, đơn vị phải báo cáo: {expected}. Số cơ quan, đơn vị đã gửi báo cáo hợp lệ: "
            f"{accepted}/{expected} (đạt {format_percent(rate)})")
    if accepted:
        text += f", trong đó đúng hạn {on_time} đơn vị"
        if late_units:
            text += f", muộn {len(late_units)} đơn vị"
        text += f" (tỷ lệ đúng hạn {format_percent(on_time_rate)})"
    text += "."
    deadline = c.get("period", {}).get("unit_deadline")
    if deadline:
        text += f" Hạn gửi báo cáo của các đơn vị: {format_date(deadline)}."
    out.append(Paragraph(nfc(text)))
    if late_units:
        names = _join_names([unit_name(c, u) for u in late_units])
        out.append(Paragraph(nfc(f"- Đơn vị gửi báo cáo muộn: {names}."), "item"))
    if missing:
        names = _join_names([unit_name(c, u) for u in missing])
        out.append(Paragraph(nfc(f"- Đơn vị chưa gửi báo cáo: {names}."), "item"))
    for unit in rejected:
        reasons = rejection_reasons(c, unit)
        tail = f" Lý do: {reasons}." if reasons else ""
        out.append(Paragraph(nfc(f"- Đơn vị có báo cáo bị trả lại do số liệu chưa hợp lệ, chưa gửi lại: "
                                 f"{unit_name(c, unit)}.{tail}"), "item"))
    if expected and accepted == expected and not late_units:
        out.append(Paragraph("- 100% cơ quan, đơn vị gửi báo cáo đúng hạn.", "item"))
    return out


def _narrative_role(code: str, label: str) -> str:
    """Where a narrative section belongs: 'shortcomings' (III), 'proposals' (IV) or 'results' (I)."""
    low = label.lower()
    if "tồn tại" in low or "hạn chế" in low or code == "N02":
        return "shortcomings"
    if "đề xuất" in low or "kiến nghị" in low or code == "N03":
        return "proposals"
    return "results"


def narrative_paragraphs(c: Mapping[str, Any], code: str, empty: str) -> list[Paragraph]:
    items = texts_for(c, code)
    if not items:
        return [Paragraph(nfc(empty))]
    return [Paragraph(attributed(text, who), "item") for who, text in items]


def closing_paragraph(c: Mapping[str, Any]) -> str:
    recipient = c.get("organisation", {}).get("recipient_line", "Ủy ban nhân dân tỉnh")
    return nfc(f"Trên đây là báo cáo {lower_first(report_subject(c))}, kính báo cáo {recipient} xem xét, "
               f"chỉ đạo./.")


def build_sections(c: Mapping[str, Any]) -> list[Section]:
    """The four parts of the report body, in order (I. results ... IV. proposals)."""
    results: list[Paragraph] = []
    n = 0
    forms = form_paragraphs(c)
    if forms:
        n += 1
        results.append(Paragraph(f"{n}. Về hình thức tuyên truyền", "heading"))
        results.extend(forms)
    topics = topic_paragraphs(c)
    if topics:
        n += 1
        results.append(Paragraph(f"{n}. Về nội dung tuyên truyền", "heading"))
        results.extend(topics)
    shortcomings: list[Paragraph] = []
    proposals: list[Paragraph] = []
    for ns in c.get("narrative_sections", []):
        role = _narrative_role(ns["code"], ns["label"])
        if role == "results":
            n += 1
            results.append(Paragraph(nfc(f"{n}. {ns['label']}"), "heading"))
            results.extend(narrative_paragraphs(
                c, ns["code"], "Các cơ quan, đơn vị không báo cáo nội dung này."))
        elif role == "shortcomings":
            shortcomings.extend(narrative_paragraphs(
                c, ns["code"], "Các cơ quan, đơn vị không báo cáo tồn tại, hạn chế trong kỳ."))
        else:
            proposals.extend(narrative_paragraphs(
                c, ns["code"], "Các cơ quan, đơn vị không có đề xuất, kiến nghị trong kỳ."))
    if not shortcomings:
        shortcomings = [Paragraph("Các cơ quan, đơn vị không báo cáo tồn tại, hạn chế trong kỳ.")]
    if not proposals:
        proposals = [Paragraph("Các cơ quan, đơn vị không có đề xuất, kiến nghị trong kỳ.")]
    titles = ["KẾT QUẢ THỰC HIỆN", "TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ",
              "TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN", "ĐỀ XUẤT, KIẾN NGHỊ"]
    bodies = [results, completeness_paragraphs(c), shortcomings, proposals]
    return [Section(f"{ROMAN[i]}. {t}", b) for i, (t, b) in enumerate(zip(titles, bodies, strict=True))]


def summary_rows(c: Mapping[str, Any]) -> list[dict[str, str]]:
    """Main indicators as formatted table cells: this period, previous, change, year-to-date."""
    inds = _indicators(c)
    prev = _previous(c)
    ytd = c.get("year_to_date") or {}
    rows = []
    for i, code in enumerate(c.get("main_indicators", []), start=1):
        if code not in inds:
            continue
        value = c.get("totals", {}).get(code)
        previous = prev[1].get(code) if prev else None
        change = "-"
        if value is not None and previous is not None:
            diff = value - previous
            change = ("+" if diff > 0 else "") + format_number(diff)
            if previous and diff:
                change += f" ({format_percent(diff / previous)})"
        rows.append({
            "no": str(i),
            "code": code,
            "label": nfc(inds[code]["label"]),
            "unit": nfc(inds[code].get("unit", "") or ""),
            "current": format_number(value) if value is not None else "-",
            "previous": format_number(previous) if previous is not None else "-",
            "change": change,
            "ytd": format_number(ytd[code]) if code in ytd else "-",
        })
    return rows
