"""What a run leaves for the Office in the Prefect UI: the status table and the consolidation summary."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.periods import Period
from tasks.render.vietnamese_dates import format_number, format_percent


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def status_artifact(period: Period, rows: list[dict[str, Any]]) -> None:
    table = [{"Mã": r["unit"], "Đơn vị": r["name"], "Trạng thái": r["status_vi"], "Nhận lúc": r["received_at"] or "",
              "Lý do trả lại": "; ".join(r["errors"])[:500]} for r in rows]
    create_table_artifact(key=f"tinh-hinh-bao-cao-{slug(period.key)}", table=table,
                          description=f"Tình hình báo cáo {period.label}")


def summary_artifact(period: Period, consolidation: dict[str, Any], paths: dict[str, str]) -> None:
    c = consolidation["completeness"]
    create_markdown_artifact(
        key=f"bao-cao-tong-hop-{slug(period.key)}", markdown=summary_markdown(consolidation, paths),
        description=f"Báo cáo tổng hợp {period.label}: {c['accepted_count']}/{c['expected_count']} đơn vị")


def summary_markdown(consolidation: dict[str, Any], paths: dict[str, str]) -> str:
    c = consolidation["completeness"]
    inds = {i["code"]: i for i in consolidation["indicators"]}
    lines = [f"# Báo cáo tổng hợp {consolidation['period']['label']}", "",
             f"- Đã báo cáo: **{c['accepted_count']}/{c['expected_count']}** đơn vị "
             f"({format_percent(c['reporting_rate'])}); đúng hạn {c['on_time_count']}, muộn {c['late_count']}",
             f"- Chưa báo cáo: {', '.join(c['missing']) or 'không'}", "", "| Mã | Chỉ tiêu | Kỳ này |",
             "|---|---|---:|"]
    lines += [f"| {code} | {inds[code]['label']} | {format_number(consolidation['totals'].get(code, 0))} |"
              for code in consolidation["main_indicators"]]
    lines += ["", "Tệp kết quả:"] + [f"- `{v}`" for v in paths.values()]
    return "\n".join(lines)
