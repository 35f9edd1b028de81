"""Vietnamese report prose built from the consolidation: generic machinery, no plan of its own.

What the body says and in which order comes from the report definition's outline (carried in the
consolidation's `outline`): sections, numbered parts, which groups are written by group or by indicator,
which narrative goes where, the fixed "Phương hướng, nhiệm vụ kỳ tới" text. An indicator's own `phrase`
words its figure inside its group's sentence, so a heading is not repeated in it.

Pure functions, no I/O: the .docx, the email summary and tests all use the same sentences, so a number
reads the same everywhere. Every number printed is a value of the consolidation (tests check this).
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
    """A numbered top-level part of the report (I., II., ...); `figures`: the chart and the table follow it."""

    title: str
    paragraphs: list[Paragraph] = field(default_factory=list)
    figures: bool = False

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


def _comparison(c: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], Mapping[str, Any]] | None:
    """(what the change is 'so với', current, previous) over the units that reported in both periods.

    A consolidation written before like-for-like comparison existed compares the raw totals."""
    comp = c.get("comparison")
    if comp:
        if not comp.get("units_count"):
            return None
        against = (comp.get("label") or "kỳ trước") if comp.get("same_units") else \
            f"cùng {format_number(comp['units_count'])} đơn vị kỳ trước"
        return against, comp["current"], comp["previous"]
    prev = _previous(c)
    return (prev[0], c.get("totals", {}), prev[1]) if prev else None


def _figures(c: Mapping[str, Any]) -> Mapping[str, Any]:
    """This period's totals; none while no unit has a valid report: those zeros are no data ('chưa có số liệu'),
    not a period where nothing happened ('không phát sinh')."""
    comp = c.get("completeness")
    if comp and not comp.get("accepted_count", len(comp.get("accepted", []))):
        return {}
    return c.get("totals", {})


def _is_level(ind: Mapping[str, Any]) -> bool:
    return ind.get("aggregation") == "level"


def ytd_label(c: Mapping[str, Any]) -> str:
    """'lũy kế từ đầu năm', or 'lũy kế từ tháng 2/2021' when the year's first periods were never collected."""
    basis = c.get("year_to_date_basis") or {}
    return f"lũy kế từ {basis['from_label']}" if basis.get("from_label") else "lũy kế từ đầu năm"


def unit_name(c: Mapping[str, Any], code: str) -> str:
    return c.get("units", {}).get(code, code)


NAMES_SHOWN = 30  # units named in one sentence; past it "và N đơn vị khác" and the annex lists them all
TEXTS_SHOWN = 40  # distinct points listed under one heading; past it the annex's sheet of texts has them all
ANNEX_TEXTS = "trang “Nội dung báo cáo” của tệp phụ lục .xlsx"
ANNEX_STATUS = "trang “Tình hình báo cáo” của tệp phụ lục .xlsx"


def share(part: int, whole: int) -> str:
    """'9.970/10.000': how many of how many, grouped the Vietnamese way."""
    return f"{format_number(part)}/{format_number(whole)}"


def _join_names(names: Sequence[str], separator: str = "; ") -> str:
    """Every name up to NAMES_SHOWN, then how many more: a province's thousands of units do not go in a sentence."""
    if len(names) <= NAMES_SHOWN:
        return separator.join(names)
    return f"{separator.join(names[:NAMES_SHOWN])} và {format_number(len(names) - NAMES_SHOWN)} đơn vị khác"


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
    """One indicator's clause: value, change from the previous period (like for like), year-to-date.

    style "form": the indicator's own wording ('đã đăng tải 37 tin, bài về cải cách hành chính, tăng ...'),
    or '<label>: 37 tin, bài' when the definition gives none; style "topic": '37 tin, bài, tăng ...' (the
    caller prints the label before it). A level's year-to-date is its current value: never printed as
    'lũy kế'. No 'đạt': the report has no target to reach.
    """
    ind = _indicators(c)[code]
    unit = ind.get("unit", "") or ""
    label = nfc(ind.get("label", code))
    value = _figures(c).get(code)
    if value is None:
        return f"{lower_first(label)}: chưa có số liệu" if style == "form" else "chưa có số liệu"
    if value == 0:
        head = f"{lower_first(label)}: không phát sinh" if style == "form" else "không phát sinh"
    elif style != "form":
        head = _quantity(value, unit)
    elif ind.get("phrase"):
        head = str(ind["phrase"]).replace("{value}", _quantity(value, unit))
    else:
        head = f"{lower_first(label)}: {_quantity(value, unit)}"
    parts = [head]
    comp = _comparison(c)
    if comp is not None:
        against, now, then = comp
        if code in now and code in then:
            change = change_phrase(now[code], then[code], unit, against)
            if change:
                parts.append(change)
    ytd = (c.get("year_to_date") or {}).get(code)
    first_of_year = len((c.get("year_to_date_basis") or {}).get("periods", [None, None])) == 1
    if ytd and not _is_level(ind) and not first_of_year:
        parts.append(f"{ytd_label(c)}: {_quantity(ytd, unit)}")
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
    """Cut-off period, how many units the figures come from, and what the comparisons rest on."""
    period = c["period"]
    comp = c.get("completeness", {})
    expected = comp.get("expected_count", len(comp.get("expected", [])))
    accepted = comp.get("accepted_count", len(comp.get("accepted", [])))
    out = []
    if period.get("cutoff_start") and period.get("cutoff_end"):
        out.append(f"Thời gian chốt số liệu: từ {format_date(period['cutoff_start'])} "
                   f"đến {format_date(period['cutoff_end'])}.")
    note = basis_note(c)
    if note:
        out.append(note)
    subject = lower_first(report_subject(c))
    if accepted:
        out.append(f"Trên cơ sở báo cáo của {share(accepted, expected)} cơ quan, đơn vị thuộc và trực thuộc Sở, "
                   f"Văn phòng Sở tổng hợp {subject} như sau:")
    else:
        out.append(f"Đến thời điểm tổng hợp, chưa có cơ quan, đơn vị nào trong số {format_number(expected)} cơ quan, "
                   f"đơn vị thuộc và trực thuộc Sở gửi báo cáo hợp lệ về {subject}.")
    return [nfc(p) for p in out]


def basis_note(c: Mapping[str, Any]) -> str:
    """What the comparisons and the year-to-date rest on, when that is not the obvious (all units, whole year)."""
    notes = []
    comp = c.get("comparison")
    prev = c.get("previous") or {}
    if comp and not comp.get("same_units") and comp.get("units_count"):
        then = share(prev.get("accepted_count", len(prev.get("units", []))),
                     prev.get("expected_count", c["completeness"]["expected_count"]))
        notes.append(f"{upper_first(prev.get('label') or comp.get('label') or 'kỳ trước')} có {then} "
                     f"cơ quan, đơn vị báo cáo; mức tăng, giảm so với kỳ trước được tính trên cùng "
                     f"{format_number(comp['units_count'])} cơ quan, đơn vị có báo cáo hợp lệ ở cả hai kỳ")
    basis = c.get("year_to_date_basis") or {}
    missing = basis.get("missing_labels") or []
    if missing:
        what = ", ".join(missing)
        if basis.get("shown") and basis.get("from_label"):
            notes.append(f"Số liệu {what} không được tổng hợp nên số lũy kế tính từ {basis['from_label']}")
        else:
            notes.append(f"Số liệu {what} không được tổng hợp nên báo cáo không nêu số lũy kế từ đầu năm")
    return nfc(". ".join(notes) + ".") if notes else ""


def _group_indicators(c: Mapping[str, Any], group: str, type_: str) -> list[str]:
    return [i["code"] for i in c.get("indicators", []) if i.get("group") == group and i.get("type") == type_]


def _group_label(c: Mapping[str, Any], code: str) -> str:
    return next((g["label"] for g in c.get("groups", []) if g["code"] == code), code)


def _group_texts(c: Mapping[str, Any], groups: Sequence[str]) -> list[Paragraph]:
    """The units' descriptions that belong to figures (e.g. the other forms of communication)."""
    return [p for g in groups for code in _group_indicators(c, g, "text") for p in text_items(texts_for(c, code))]


def by_group_paragraphs(c: Mapping[str, Any], groups: Sequence[str]) -> list[Paragraph]:
    """One lettered paragraph per group ('a) <group>: <clause>; <clause>.'), then its units' descriptions."""
    out: list[Paragraph] = []
    for i, group in enumerate(groups):
        clauses = [indicator_phrase(c, code, style="form") for code in _group_indicators(c, group, "integer")]
        text = f"{letter(i)}) {_group_label(c, group)}"
        text += (": " + "; ".join(clauses) + ".") if clauses else "."
        out.append(Paragraph(nfc(text)))
        out.extend(_group_texts(c, [group]))
    return out


def by_indicator_paragraphs(c: Mapping[str, Any], groups: Sequence[str], lead: str | None) -> list[Paragraph]:
    """An optional lead sentence ({total}: the sum, when the figures share a unit), then one lettered
    paragraph per indicator ('a) <label>: 9 lượt, ...')."""
    out: list[Paragraph] = []
    codes = [code for g in groups for code in _group_indicators(c, g, "integer")]
    inds = _indicators(c)
    totals = _figures(c)
    if lead:
        units = {inds[code].get("unit", "") for code in codes}
        if "{total}" not in lead:
            out.append(Paragraph(nfc(lead)))
        elif codes and len(units) == 1 and all(code in totals for code in codes):
            known = c.get("group_totals") or {}
            total = known[groups[0]] if len(groups) == 1 and groups[0] in known else \
                sum(totals[code] for code in codes)
            out.append(Paragraph(nfc(lead.replace("{total}", _quantity(total, units.pop())))))
    for i, code in enumerate(codes):
        out.append(Paragraph(nfc(f"{letter(i)}) {inds[code]['label']}: {indicator_phrase(c, code, style='topic')}.")))
    out.extend(_group_texts(c, groups))
    return out


def unit_status(c: Mapping[str, Any], unit: str) -> str:
    """Status word used in the annex: Đúng hạn / Muộn / Bị trả lại / Chưa báo cáo."""
    return unit_statuses(c).get(unit, STATUS_MISSING)


def unit_statuses(c: Mapping[str, Any]) -> dict[str, str]:
    """Every expected unit's status word, in one pass (an annex row per unit must not scan every list)."""
    comp = c.get("completeness", {})
    late, rejected = set(comp.get("late", [])), set(comp.get("rejected", []))
    out = {u: STATUS_REJECTED if u in rejected else STATUS_MISSING for u in comp.get("expected", [])}
    out.update({u: STATUS_LATE if u in late else STATUS_ON_TIME for u in comp.get("accepted", [])})
    return out


def completeness_paragraphs(c: Mapping[str, Any]) -> list[Paragraph]:
    """Who reported, on time or late, who is missing and who was sent back (DHIS2-style rates).

    The reasons a file was sent back stay with the Office (status, the unit's mail, JSON `rejected`): the
    report to UBND tỉnh names the unit only, without cells or indicator codes.
    """
    comp = c.get("completeness", {})
    expected = comp.get("expected_count", len(comp.get("expected", [])))
    accepted = comp.get("accepted_count", len(comp.get("accepted", [])))
    on_time = comp.get("on_time_count", len(comp.get("on_time", [])))
    late_units = list(comp.get("late", []))
    rejected = list(comp.get("rejected", []))
    rejected_set = set(rejected)
    missing = [u for u in comp.get("missing", []) if u not in rejected_set]
    rate = comp.get("reporting_rate", accepted / expected if expected else 0)
    on_time_rate = comp.get("on_time_rate", on_time / expected if expected else 0)

    out: list[Paragraph] = []
    text = (f"Tổng số cơ quan, đơn vị phải báo cáo: {format_number(expected)}. "
            f"Số cơ quan, đơn vị đã gửi báo cáo hợp lệ: {share(accepted, expected)} (tỷ lệ {format_percent(rate)})")
    if accepted:
        text += f", trong đó đúng hạn {format_number(on_time)} đơn vị"
        if late_units:
            text += f", muộn {format_number(len(late_units))} đơn vị"
        text += f" (tỷ lệ đúng hạn {format_percent(on_time_rate)})"
    text += "."
    deadline = c.get("period", {}).get("unit_deadline")
    if deadline:
        text += f" Hạn gửi báo cáo của các đơn vị: {format_date(deadline)}."
    out.append(Paragraph(nfc(text)))
    where = f" (danh sách đầy đủ tại {ANNEX_STATUS})"
    if late_units:
        names = _join_names([unit_name(c, u) for u in late_units])
        more = where if len(late_units) > NAMES_SHOWN else ""
        out.append(Paragraph(nfc(f"- Đơn vị gửi báo cáo muộn: {names}{more}."), "item"))
    if missing:
        names = _join_names([unit_name(c, u) for u in missing])
        more = where if len(missing) > NAMES_SHOWN else ""
        out.append(Paragraph(nfc(f"- Đơn vị chưa gửi báo cáo: {names}{more}."), "item"))
    if rejected:
        names = _join_names([unit_name(c, u) for u in rejected])
        more = where if len(rejected) > NAMES_SHOWN else ""
        out.append(Paragraph(nfc(f"- Đơn vị có báo cáo chưa hợp lệ, đã được đề nghị hoàn thiện nhưng chưa gửi lại: "
                                 f"{names}{more}."), "item"))
    if expected and accepted == expected and not late_units:
        out.append(Paragraph("- 100% cơ quan, đơn vị gửi báo cáo đúng hạn.", "item"))
    return out


def narrative_paragraphs(c: Mapping[str, Any], code: str, empty: str | None = None) -> list[Paragraph]:
    items = texts_for(c, code)
    if not items:
        return [Paragraph(nfc(empty or "Các cơ quan, đơn vị không báo cáo nội dung này."))]
    return text_items(items)


def text_items(items: Sequence[tuple[str, str]]) -> list[Paragraph]:
    """The units' points as list items, each credited to its units. The same point sent by several units is
    one item naming them all; past TEXTS_SHOWN distinct points the rest are counted and left to the annex
    (a province's thousands of units would otherwise make the report thousands of pages)."""
    points: dict[str, tuple[str, list[str]]] = {}
    for who, text in items:
        body = clean_item(text)
        points.setdefault(body.casefold(), (body, []))[1].append(who)
    shown = list(points.values())[:TEXTS_SHOWN]
    out = [Paragraph(nfc(f"- {body} ({_join_names(names)})."), "item") for body, names in shown]
    if len(points) > TEXTS_SHOWN:
        rest = list(points.values())[TEXTS_SHOWN:]
        units = len({who for _, names in rest for who in names})
        out.append(Paragraph(nfc(f"- {format_number(len(rest))} nội dung khác của {format_number(units)} đơn vị: "
                                 f"xem {ANNEX_TEXTS}."), "item"))
    return out


def closing_paragraph(c: Mapping[str, Any]) -> str:
    recipient = c.get("organisation", {}).get("recipient_line", "Ủy ban nhân dân tỉnh")
    return nfc(f"Trên đây là báo cáo {lower_first(report_subject(c))}, kính báo cáo {recipient} xem xét, "
               f"chỉ đạo./.")


# ---------------------------------------------------------------- the outline


def default_outline(c: Mapping[str, Any]) -> dict[str, Any]:
    """For a consolidation written before outlines were data: every group in order, then the reporting status
    (the same as ReportDefinition.body_outline without an outline)."""
    kinds = {g["code"]: g.get("kind") for g in c.get("groups", [])}
    parts: list[dict[str, Any]] = [{"heading": g["label"], "groups": [g["code"]], "layout": "by_indicator"}
                                   for g in c.get("groups", []) if g.get("kind") != "narrative"]
    parts += [{"heading": ns["label"], "narrative": ns["code"]} for ns in c.get("narrative_sections", [])
              if kinds.get(_indicators(c).get(ns["code"], {}).get("group")) == "narrative"]
    return {"sections": [
        {"title": "KẾT QUẢ THỰC HIỆN", "parts": parts, "figures": True},
        {"title": "TÌNH HÌNH BÁO CÁO CỦA CÁC ĐƠN VỊ", "parts": [{"completeness": True}]},
    ]}


def _fill(c: Mapping[str, Any], text: str) -> str:
    """Fixed outline text: {period}, {next_period} and {plan_reference} filled in."""
    period = c.get("period", {})
    values = {"period": period.get("label", ""), "next_period": period.get("next_label", "kỳ tới"),
              "plan_reference": c.get("plan_reference") or ""}
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return nfc(text)


def part_paragraphs(c: Mapping[str, Any], part: Mapping[str, Any]) -> list[Paragraph]:
    """What one outline part shows: its fixed paragraphs, then its figures, narrative or reporting status."""
    out = [Paragraph(_fill(c, t), "item" if t.startswith("- ") else "body") for t in part.get("paragraphs", [])]
    groups = list(part.get("groups") or [])
    if groups and part.get("layout") == "by_indicator":
        out += by_indicator_paragraphs(c, groups, part.get("lead"))
    elif groups:
        out += by_group_paragraphs(c, groups)
    elif part.get("narrative"):
        out += narrative_paragraphs(c, part["narrative"], part.get("empty"))
    elif part.get("completeness"):
        out += completeness_paragraphs(c)
    return out


def figures_paragraph(c: Mapping[str, Any]) -> str:
    """The sentence that sends the reader to the chart and the table placed after the section."""
    if not c.get("main_indicators"):
        return ""
    text = f"Một số chỉ tiêu chủ yếu {c['period']['label']}"
    prev = c.get("previous")
    if prev:
        text += f" so với {prev.get('label') or 'kỳ trước'}"
    text += " được thể hiện tại Biểu đồ 1 và Bảng 1 dưới đây"
    comp = c.get("comparison")
    if comp and not comp.get("same_units") and comp.get("units_count"):
        text += (f"; cột tăng, giảm của Bảng 1 so sánh trên cùng {format_number(comp['units_count'])} cơ quan, đơn vị "
                 f"có báo cáo hợp lệ ở cả hai kỳ")
    return nfc(text + ".")


def build_sections(c: Mapping[str, Any]) -> list[Section]:
    """The report body, in the order of the definition's outline (I. ..., II. ...)."""
    outline = c.get("outline") or default_outline(c)
    sections: list[Section] = []
    for i, sec in enumerate(outline["sections"]):
        paras: list[Paragraph] = []
        n = 0
        for part in sec["parts"]:
            body = part_paragraphs(c, part)
            if part.get("heading"):
                n += 1
                paras.append(Paragraph(nfc(f"{n}. {part['heading']}"), "heading"))
            paras.extend(body)
        figures = bool(sec.get("figures"))
        if figures and figures_paragraph(c):
            paras.append(Paragraph(figures_paragraph(c)))
        sections.append(Section(nfc(f"{ROMAN[i]}. {sec['title']}"), paras, figures))
    return sections


def _change_cell(now: int | float | None, then: int | float | None) -> str:
    if now is None or then is None:
        return "-"
    diff = now - then
    text = ("+" if diff > 0 else "") + format_number(diff)
    if then and diff:
        text += f" ({format_percent(diff / then)})"
    return text


def summary_rows(c: Mapping[str, Any]) -> list[dict[str, str]]:
    """Main indicators as table cells: this period and the previous one (raw totals), the change on the units
    that reported in both periods, year-to-date (a level: its latest value); then a row with each period's
    completeness ('7/9', '9/9') so the raw totals can be read for what they are."""
    inds = _indicators(c)
    prev = _previous(c)
    comp = _comparison(c)
    ytd = c.get("year_to_date") or {}
    rows = []
    n = 0
    for code in c.get("main_indicators", []):
        if code not in inds:
            continue
        n += 1
        value = _figures(c).get(code)
        previous = prev[1].get(code) if prev else None
        change = _change_cell(comp[1].get(code), comp[2].get(code)) if comp else "-"
        rows.append({
            "no": str(n),
            "code": code,
            "label": nfc(inds[code]["label"]),
            "unit": nfc(inds[code].get("unit", "") or ""),
            "current": format_number(value) if value is not None else "-",
            "previous": format_number(previous) if previous is not None else "-",
            "change": change,
            "ytd": format_number(ytd[code]) if code in ytd else "-",
        })
    if rows:
        completeness = c.get("completeness", {})
        expected = completeness.get("expected_count", 0)
        p = c.get("previous") or {}
        prev_count = p.get("accepted_count", len(p.get("units", []))) if p else None
        rows.append({
            "no": str(n + 1), "code": "", "label": "Số cơ quan, đơn vị có báo cáo hợp lệ", "unit": "đơn vị",
            "current": share(completeness.get("accepted_count", 0), expected),
            "previous": (share(prev_count or 0, p.get("expected_count", expected))
                         if p and "accepted_count" in p else "-"),
            "change": "-", "ytd": "-",
        })
    return rows
