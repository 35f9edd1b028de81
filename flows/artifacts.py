"""What a run leaves for the Office in the Prefect UI: the status table and the consolidation summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.consolidate import missing_text
from tasks.consolidation_types import ConsolidationBrief
from tasks.display import shown
from tasks.periods import Period
from tasks.render.vietnamese_dates import format_number, format_percent


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


ARTIFACT_ROWS = 300  # the table shows the units that need the Office first; counts cover everyone
_ATTENTION = {"rejected": 0, "missing": 1, "late": 2, "on_time": 3}


def status_artifact(period: Period, rows: list[dict[str, Any]]) -> None:
    """The status table in the Prefect UI, bounded: units needing attention first, at most ARTIFACT_ROWS."""
    ordered = sorted(rows, key=lambda r: _ATTENTION.get(r["status"], 4))[:ARTIFACT_ROWS]
    table = [{"Mã": shown(r["unit"]), "Đơn vị": shown(r["name"]), "Trạng thái": r["status_vi"],
              "Nhận lúc": local_time(r["received_at"]), "Lý do trả lại": shown("; ".join(r["errors"]))}
             for r in ordered]
    done = sum(r["status"] in ("on_time", "late") for r in rows)
    more = f"; bảng chỉ nêu {len(ordered)} đơn vị cần chú ý trước" if len(rows) > len(ordered) else ""
    create_table_artifact(key=f"tinh-hinh-bao-cao-{slug(period.key)}", table=table,
                          description=f"Tình hình báo cáo {period.label}: {done}/{len(rows)} đơn vị đã báo cáo{more}")


def local_time(iso: str | None) -> str:
    """'15/03/2021 09:00' from the ISO time the status rows carry."""
    return datetime.fromisoformat(iso).strftime("%d/%m/%Y %H:%M") if iso else ""


def summary_artifact(period: Period, brief: ConsolidationBrief, paths: dict[str, str]) -> None:
    c = brief["completeness"]
    create_markdown_artifact(
        key=f"bao-cao-tong-hop-{slug(period.key)}", markdown=summary_markdown(brief, paths),
        description=f"Báo cáo tổng hợp {period.label}: {c['accepted_count']}/{c['expected_count']} đơn vị")


def summary_markdown(brief: ConsolidationBrief, paths: dict[str, str]) -> str:
    c = brief["completeness"]
    lines = [f"# Báo cáo tổng hợp {brief['label']}", "",
             f"- Đã báo cáo: **{c['accepted_count']}/{c['expected_count']}** đơn vị "
             f"({format_percent(c['reporting_rate'])}); đúng hạn {c['on_time_count']}, muộn {c['late_count']}",
             f"- Chưa báo cáo: {missing_text(c)}", "", "| Mã | Chỉ tiêu | Kỳ này |", "|---|---|---:|"]
    lines += [f"| {t['code']} | {t['label']} | {format_number(t['total'])} |" for t in brief["main_totals"]]
    lines += ["", "Tệp kết quả:"] + [f"- `{v}`" for v in paths.values()]
    return "\n".join(lines)
