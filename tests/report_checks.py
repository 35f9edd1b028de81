"""Checks a provincial reader makes on the report's prose, as functions the golden tests share.

`numbers_not_in_json` extracts every number from the rendered prose (after removing what units and the
definition wrote: narratives, labels, fixed phrases) and returns those that are not a value of the
consolidation JSON: a figure, a change, a percentage, a count, a date part or a period number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from tasks.render import prose
from tasks.render.vietnamese_dates import format_number, format_percent

NUMBER = re.compile(r"\d+(?:\.\d{3})*(?:,\d+)?%?")
CELL_REF = re.compile(r"\bô [A-Z]{1,3}\d+\b")


def prose_texts(c: Mapping[str, Any]) -> list[str]:
    """Every sentence of the body as the reader sees it, with the summary table's cells."""
    out = list(prose.intro_paragraphs(c))
    for section in prose.build_sections(c):
        out.append(section.title)
        out += [p.text for p in section.paragraphs]
    out.append(prose.closing_paragraph(c))
    for row in prose.summary_rows(c):
        out += [row["label"], row["current"], row["previous"], row["change"], row["ytd"]]
    return out


def _written_by_others(c: Mapping[str, Any]) -> list[str]:
    """Text whose numbers are not figures: the units' narratives and the definition's labels and phrases."""
    out: list[str] = [c["report_title"], c.get("plan_reference") or "", *c["units"].values(),
                      "Biểu đồ 1", "Bảng 1"]
    for ind in c["indicators"]:
        out += [ind["label"], prose.lower_first(ind["label"])]
        out += [part for part in str(ind.get("phrase") or "").split("{value}") if part.strip()]
    out += [g["label"] for g in c["groups"]]
    for items in (c.get("narratives") or {}).values():
        out += [prose.clean_item(i["text"]) for i in items]
    return sorted({t for t in out if t}, key=len, reverse=True)


def allowed_numbers(c: Mapping[str, Any]) -> set[str]:
    ok: set[str] = set()

    def num(v: int | float) -> None:
        ok.add(format_number(abs(v)))

    for d in (c["totals"], c.get("group_totals") or {}, c.get("year_to_date") or {}):
        for v in d.values():
            num(v)
    prev = c.get("previous") or {}
    for v in (prev.get("totals") or {}).values():
        num(v)
    for key in ("accepted_count", "expected_count"):
        if key in prev:
            num(prev[key])
    comp = c.get("comparison") or {}
    if comp:
        num(comp["units_count"])
        for code, diff in comp["change"].items():
            num(comp["current"][code])
            num(comp["previous"][code])
            num(diff)
            if comp["previous"][code] and diff:
                ok.add(format_percent(abs(diff) / comp["previous"][code]))
    completeness = c["completeness"]
    for key in ("expected_count", "accepted_count", "on_time_count", "late_count", "missing_count"):
        num(completeness[key])
    ok.add(format_percent(completeness["reporting_rate"]))
    ok.add(format_percent(completeness["on_time_rate"]))
    period = c["period"]
    for key in ("cutoff_start", "cutoff_end", "unit_deadline", "report_deadline"):
        d = date.fromisoformat(period[key])
        ok |= {f"{d.day:02d}", str(d.day), f"{d.month:02d}", str(d.month), str(d.year)}
    labels = [period["label"], period.get("next_label", ""), prev.get("label", ""), comp.get("label", "")]
    basis = c.get("year_to_date_basis") or {}
    labels += [basis.get("from_label") or "", *basis.get("missing_labels", [])]
    for label in labels:
        ok |= set(re.findall(r"\d+", label))
    return ok


def numbers_not_in_json(c: Mapping[str, Any], texts: list[str] | None = None) -> list[tuple[str, str]]:
    """(number, sentence) for every number of the prose (or of `texts`) that is not a value of the JSON."""
    allowed = allowed_numbers(c)
    others = _written_by_others(c)
    bad = []
    for text in prose_texts(c) if texts is None else texts:
        if "/" in text and re.fullmatch(r"\d+/\d+", text):  # completeness cells '7/9'
            parts = text.split("/")
        else:
            stripped = text
            for t in others:
                stripped = stripped.replace(t, " ")
            stripped = re.sub(r"^[IVX]+\. ", "", stripped)  # section numbers
            stripped = re.sub(r"^\d+\. ", "", stripped)  # part numbers
            parts = NUMBER.findall(stripped)
        bad += [(n.lstrip("+-"), text) for n in parts if n.lstrip("+-") not in allowed]
    return bad


def internals(c: Mapping[str, Any]) -> list[str]:
    """Sentences that show a cell reference or an indicator code to UBND tỉnh."""
    codes = [i["code"] for i in c["indicators"]]
    code_re = re.compile(r"\b(?:" + "|".join(map(re.escape, codes)) + r")\b")
    return [t for t in prose_texts(c) if CELL_REF.search(t) or code_re.search(t)]


def repeated_headings(c: Mapping[str, Any]) -> list[str]:
    """Lettered paragraphs ('a) <heading>: <sentence>') whose heading comes back inside its own sentence."""
    out = []
    for section in prose.build_sections(c):
        for p in section.paragraphs:
            m = re.match(r"^[a-zđ]\) (?P<head>[^:]+): (?P<rest>.+)$", p.text)
            if m and m["head"].lower() in m["rest"].lower():
                out.append(p.text)
    return out
