"""`baocao`: the operator's command line. Every step of the cycle can be run by hand.

Read-only commands (status, template, check-config) never import Prefect, so they answer at once.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tasks.display import shown
from tasks.resources import default_config_dir

app = typer.Typer(help="baocao: thu thập, kiểm tra, tổng hợp và gửi báo cáo định kỳ.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False)  # locals may hold secrets
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
STATE: dict[str, str | None] = {"config": None, "data_dir": None}


def t(value: object) -> str:
    """Unit data (cells, file names, senders, messages quoting them) as plain text: never markup, no control
    or bidi characters."""
    return escape(shown(value))

PeriodOpt = typer.Option(None, "--period", "-p", help="Kỳ báo cáo: 2021-03, 2021-Q1, 2021-H1, 2021-9M, 2021; "
                         "mặc định là kỳ hiện tại")


# Commands that may start from a data directory that does not exist yet (they create it). Every other command
# reads what is there: a data directory that does not exist is a mistyped path, not an empty period.
CREATES_DATA_DIR = frozenset({"demo", "request", "collect", "cycle", "serve", "web", "watch", "watch-folder",
                              "check-config", "template", "hash-password"})


def _missing_data_dir(path: Path) -> typer.Exit:
    err.print(f"[red]Không có thư mục dữ liệu {t(path)}.[/red] Kiểm tra lại --data-dir (hoặc biến BAOCAO_DATA_DIR, "
              "hoặc data_dir trong settings.yaml); thư mục được tạo khi chạy baocao request hoặc baocao collect "
              "lần đầu.")
    return typer.Exit(2)


@app.callback()
def main(
    cli: typer.Context,
    config: Path | None = typer.Option(None, "--config", envvar="BAOCAO_CONFIG_DIR", show_default=False,
                                       help="Thư mục cấu hình (settings.yaml, units.yaml, reports/); mặc định là "
                                       "./config, nếu không có thì dùng cấu hình mẫu đi kèm chương trình"),
    data_dir: Path | None = typer.Option(None, "--data-dir", envvar="BAOCAO_DATA_DIR",
                                         help="Thư mục dữ liệu (inbox/, outbox/, ledger)"),
    report: str | None = typer.Option(None, "--report", envvar="BAOCAO_REPORT",
                                      help="Mã báo cáo trong config/reports/ (mặc định: settings.report)"),
) -> None:
    STATE["config"] = str(config or default_config_dir())
    STATE["data_dir"] = str(data_dir) if data_dir else None
    STATE["command"] = cli.invoked_subcommand
    if data_dir is not None and cli.invoked_subcommand not in CREATES_DATA_DIR and not data_dir.is_dir():
        raise _missing_data_dir(data_dir)
    if report:
        os.environ["BAOCAO_REPORT"] = report  # flows and tasks run in this process and open the same report


def _ctx():
    from tasks.config import ConfigError
    from tasks.context import open_context

    try:
        ctx = open_context(STATE["config"], STATE["data_dir"])
    except ConfigError as exc:
        err.print(f"[red]Lỗi cấu hình:[/red] {t(exc)}")
        raise typer.Exit(2) from None
    if STATE.get("command") not in CREATES_DATA_DIR and not ctx.data_dir.is_dir():  # settings' data_dir too
        raise _missing_data_dir(ctx.data_dir)
    return ctx


def _period(ctx, key: str | None):
    from tasks.periods import PeriodError

    try:
        return ctx.period(key)
    except PeriodError as exc:
        err.print(f"[red]{t(exc)}[/red]")
        raise typer.Exit(2) from None


def _prefect_env() -> None:
    """Before Prefect is imported: offline (flows/offline.py), run logs at INFO so every run's lines reach the
    Prefect UI, while the terminal shows only warnings and errors (`serve` prints each run's start and end)."""
    from flows.offline import ensure_offline

    ensure_offline()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")  # logging.yml handlers.console
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # slow office PCs


def _run(flow_name: str, **params: Any) -> Any:
    """Run a flow in this process (against PREFECT_API_URL if set, else a temporary local server)."""
    _prefect_env()
    from flows import cycle

    gc.freeze()  # what the imports made lives as long as the process: full collections need not walk it
    params = {"config_dir": STATE["config"], "data_dir": STATE["data_dir"], **params}
    with console.status(f"Đang chạy {flow_name}…"):
        return getattr(cycle, flow_name)(**params)


def _print_dispatch(result: dict[str, Any]) -> None:
    console.print(f"Đã ghi {len(result['written'])} thư vào outbox, đã gửi {len(result['sent'])}, "
                  f"bỏ qua {len(result['skipped'])} thư đã gửi trước đó.")
    for key, reason in result["failed"]:
        console.print(f"[red]Không gửi được[/red] {t(key)}: {t(reason)}")
    if result["failed"]:
        raise typer.Exit(1)


@app.command("check-config")
def check_config() -> None:
    """Kiểm tra cấu hình; báo lỗi rõ tệp, khóa và vấn đề."""
    from tasks.periods import current_period

    ctx = _ctx()
    cfg = ctx.cfg
    now = cfg.units_expected_in(current_period(cfg.period_kind))
    console.print(f"[green]Cấu hình hợp lệ[/green]: {len(cfg.units)} đơn vị ({len(now)} đang báo cáo), "
                  f"báo cáo {cfg.report.id} với {len(cfg.report.indicators)} chỉ tiêu, "
                  f"{len(cfg.report.rules)} quy tắc; kỳ {cfg.period_kind}.")
    undated = [u.code for u in cfg.units if u.ended_without_date]
    if undated:  # switched off with no end: every earlier period drops them (totals, year-to-date)
        more = f" và {len(undated) - 10} đơn vị khác" if len(undated) > 10 else ""
        console.print(f"[yellow]Lưu ý[/yellow]: {t(', '.join(undated[:10]))}{more} có active: false nhưng không ghi "
                      "until, nên không được tính ở kỳ nào, kể cả các kỳ đã báo cáo (số liệu kỳ trước, lũy kế). "
                      "Ghi until: <kỳ cuối cùng đơn vị báo cáo> (ví dụ until: 2021-06) để giữ đúng số liệu các kỳ đó.")


@app.command()
def template(unit: str = typer.Option(..., "--unit", "-u", help="Mã đơn vị"), period: str | None = PeriodOpt,
             out: Path = typer.Option(..., "--out", "-o", help="Tệp .xlsx cần ghi")) -> None:
    """Ghi biểu mẫu (.xlsx) của một đơn vị cho một kỳ."""
    from tasks.channels import unit_workbook

    ctx = _ctx()
    u = ctx.cfg.unit(unit)
    if u is None:
        err.print(f"[red]Không có đơn vị mã {t(unit)}[/red]. Các mã: {', '.join(x.code for x in ctx.cfg.units)}")
        raise typer.Exit(2)
    p = _period(ctx, period)
    _, data = unit_workbook(ctx, u, p)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    console.print(f"Đã ghi biểu mẫu của {u.name} kỳ {p.key} vào {out}")


TABLE_ROWS = 200  # past this many units the terminal gets the units needing attention, in plain lines


@app.command()
def status(period: str | None = PeriodOpt, as_json: bool = typer.Option(False, "--json", help="In dạng JSON"),
           show_all: bool = typer.Option(False, "--all", help="Liệt kê mọi đơn vị (mặc định: khi quá "
                                         f"{TABLE_ROWS} đơn vị chỉ liệt kê đơn vị cần chú ý)")) -> None:
    """Tình hình báo cáo của từng đơn vị trong kỳ."""
    from tasks.status import quarantine_rows, status_rows

    ctx = _ctx()
    p = _period(ctx, period)
    rows = status_rows(ctx, p)
    quarantined = quarantine_rows(ctx, p)
    if as_json:
        payload = {"period": p.key, "unit_deadline": ctx.unit_deadline(p).isoformat(), "units": rows,
                   "quarantined": quarantined}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if len(rows) > TABLE_ROWS and not show_all:
        _print_status_lines(p.label, ctx.unit_deadline(p), rows)
        rows = []
    table = Table(title=f"Tình hình báo cáo {p.label} (hạn {ctx.unit_deadline(p):%d/%m/%Y})", show_lines=True)
    table.add_column("Mã", no_wrap=True)
    table.add_column("Đơn vị", max_width=28)
    table.add_column("Trạng thái", no_wrap=True)
    table.add_column("Nhận lúc", no_wrap=True)
    table.add_column("Lần gửi", justify="right")
    table.add_column("Số", justify="right")
    table.add_column("Lý do trả lại", ratio=1)
    colours = {"on_time": "green", "late": "yellow", "rejected": "red", "missing": "bright_black"}
    for r in rows:
        when = datetime.fromisoformat(r["received_at"]).strftime("%d/%m %H:%M") if r["received_at"] else ""
        reasons = [f"• {t(e)}" for e in r["errors"][:3]] + ([f"(và {len(r['errors']) - 3} lỗi khác)"]
                                                         if len(r["errors"]) > 3 else [])
        table.add_row(t(r["unit"]), t(r["name"]), f"[{colours[r['status']]}]{r['status_vi']}[/]", when,
                      str(r["submissions"]), str(r["submission_id"] or ""), "\n".join(reasons))
    if rows:
        console.print(table)
        done = sum(r["status"] in ("on_time", "late") for r in rows)
        console.print(f"Đã báo cáo hợp lệ {done}/{len(rows)} đơn vị.")
        console.print("Cột Số: số của báo cáo (dùng với baocao reopen SỐ --note ... để Văn phòng chấp nhận).")
    if quarantined:
        q = Table(title="Thư, tệp bị cách ly hoặc không xác định được đơn vị (không được tính)")
        for col in ("Số", "Người gửi", "Nguồn", "Lý do"):
            q.add_column(col)
        for r in quarantined:
            q.add_row(str(r["id"]), t(r["sender"] or ""), t(r["source"]), t(r["reason"] or ""))
        console.print(q)


def _print_status_lines(label: str, deadline: Any, rows: list[dict[str, Any]]) -> None:
    """A province's thousands of units: the counts, then one plain line per unit needing attention."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status_vi"]] = counts.get(r["status_vi"], 0) + 1
    done = sum(r["status"] in ("on_time", "late") for r in rows)
    console.print(f"Tình hình báo cáo {label} (hạn {deadline:%d/%m/%Y}): đã báo cáo hợp lệ {done}/{len(rows)} "
                  "đơn vị; " + ", ".join(f"{k.lower()} {v}" for k, v in counts.items()) + ".")
    attention = [r for r in rows if r["status"] in ("rejected", "missing", "late")]
    lines = [" | ".join((t(r["unit"]), t(r["name"]), r["status_vi"], "; ".join(t(e) for e in r["errors"][:2])))
             for r in attention[:TABLE_ROWS]]
    console.print("\n".join(lines), markup=False, highlight=False)
    if len(attention) > TABLE_ROWS:
        console.print(f"(và {len(attention) - TABLE_ROWS} đơn vị khác cần chú ý; xem đủ: --all hoặc --json)")


@app.command()
def request(period: str | None = PeriodOpt, resend: bool = typer.Option(False, help="Gửi lại cả thư đã gửi")) -> None:
    """Gửi đề nghị báo cáo (kèm biểu mẫu và hạn) cho các đơn vị."""
    _print_dispatch(_run("request_reports", period=period, resend=resend))


@app.command()
def collect(period: str | None = PeriodOpt) -> None:
    """Thu và kiểm tra báo cáo mới từ thư mục inbox, hộp thư và Google Sheets."""
    summary = _run("collect_submissions", period=period)
    for line in collect_summary_lines(summary):
        console.print(line)
    attention = [o for o in summary["outcomes"] if o["status"] in ATTENTION and not _unreached(o)]
    for o in attention:  # a file no unit could be read from too (garbage, no code): the Office must see which
        _print_outcome(o)
    owed = sum(summary["counts"].get(s, 0) for s in ATTENTION) - sum(map(_unreached, summary["outcomes"]))
    if owed > len(attention):  # the summary keeps the first few hundred, those needing the Office first
        console.print(f"(Chỉ liệt kê {len(attention)} trong {owed} tài liệu cần xem; xem đủ: baocao status.)")


ATTENTION = ("rejected", "quarantined", "error")  # outcomes the collect lists one by one


def _unreached(o: dict[str, Any]) -> bool:
    """A channel not reached at all (an error without a unit: no report, no unit's)."""
    return o["status"] == "error" and not o["unit_code"]


def collect_summary_lines(summary: dict[str, Any]) -> list[str]:
    """The collect's count line, then what could not be reached at all (a mailbox down, a spreadsheet not
    shared: an error outcome without a unit, listed first in the summary), which is no report and no unit's."""
    n = summary["counts"]
    unreached = [o for o in summary["outcomes"] if _unreached(o)]
    new = summary["total"] - n.get("duplicate", 0) - len(unreached)
    errors = n.get("error", 0) - len(unreached)
    lines = [f"{new} báo cáo mới: {n.get('accepted', 0) + n.get('superseded', 0)} hợp lệ, "
             f"{n.get('rejected', 0)} bị trả lại, {n.get('quarantined', 0)} bị cách ly"
             + (f", {errors} lỗi khi đọc" if errors else "")
             + (f"; bỏ qua {n['duplicate']} tài liệu trùng với bản đã nhận." if n.get("duplicate") else ".")]
    return lines + [f"[red]{t(o['reason'])}[/red]" for o in unreached]


@app.command()
def remind(period: str | None = PeriodOpt, force: bool = typer.Option(False, help="Nhắc ngay, không chờ ngày nhắc"),
           today: str | None = typer.Option(None, help="Coi hôm nay là ngày (YYYY-MM-DD)")) -> None:
    """Nhắc các đơn vị chưa có báo cáo hợp lệ."""
    _print_dispatch(_run("send_reminders", period=period, force=force, today=today))


@app.command()
def consolidate(period: str | None = PeriodOpt,
                out: Path | None = typer.Option(None, "--out", "-o", help="Thư mục ghi kết quả")) -> None:
    """Tổng hợp báo cáo: ghi .json, .docx (Nghị định 30/2020) và phụ lục .xlsx."""
    result = _run("consolidate_report", period=period, out_dir=str(out) if out else None)
    _print_outputs(result)


def _print_outputs(result: dict[str, Any]) -> None:
    from tasks.consolidate import missing_text

    c = result["completeness"]
    for kind, path in result["paths"].items():
        console.print(f"  {kind:5} {path}")
    if result.get("pdf_problem"):
        console.print(f"[yellow]Không có bản PDF:[/yellow] {t(result['pdf_problem'])}")
    console.print(f"Đã báo cáo {c['accepted_count']}/{c['expected_count']} đơn vị "
                  f"(đúng hạn {c['on_time_count']}, muộn {c['late_count']}); chưa báo cáo: "
                  f"{missing_text(c)}.")


@app.command()
def deliver(period: str | None = PeriodOpt, out: Path | None = typer.Option(None, "--out", "-o"),
            resend: int = typer.Option(0, help="Gửi lại lần thứ N"),
            signed: Path | None = typer.Option(None, "--signed", exists=True, dir_okay=False,
                                               help="Gửi bản đã ký (PDF scan hoặc ký số) thay cho bản tạo ra"),
            number: str | None = typer.Option(None, "--number", help="Số ký hiệu (chỉ khi tắt bước phê duyệt)"),
            issue_date: str | None = typer.Option(None, "--issue-date", help="Ngày ban hành YYYY-MM-DD (như trên)"),
            ) -> None:
    """Gửi báo cáo chính thức tới UBND tỉnh và các nơi nhận khi Giám đốc đã duyệt; chưa duyệt thì trình duyệt."""
    _print_delivery(_deliver(period=period, out_dir=str(out) if out else None, resend=resend,
                             signed=str(signed) if signed else None, number=number, issue_date=issue_date))


def _print_delivery(summary: dict[str, Any]) -> None:
    """A delivery run ends sent, waiting for the Director, or returned: say which, in the operator's words."""
    if summary["status"] == "returned":
        console.print(f"[yellow]Báo cáo bị trả lại:[/yellow] {t(summary['message'])}")
        raise typer.Exit(1)
    if summary["status"] in ("waiting", "delivered"):
        console.print(f"[cyan]{t(summary['message'])}[/cyan]")
        return
    for kind, path in summary.get("files", {}).items():
        console.print(f"  {kind:6} {t(path)}")
    _print_dispatch(summary)


def _deliver(**params: Any) -> dict[str, Any]:
    from flows.cycle import delivery_summary

    return delivery_summary(_run("deliver_report", return_state=True, **params))


@app.command()
def approve(period: str | None = PeriodOpt,
            user: str = typer.Option(..., "--user", help="Tên đăng nhập của người duyệt (vai trò approver)"),
            number: str = typer.Option(..., "--number", help="Số ký hiệu, ví dụ 15/BC-SNV"),
            issue_date: str = typer.Option(..., "--issue-date", help="Ngày ban hành YYYY-MM-DD"),
            out: Path | None = typer.Option(None, "--out", "-o")) -> None:
    """Giám đốc phê duyệt bản dự thảo hiện tại (như trên trang phê duyệt), rồi gửi báo cáo chính thức."""
    from flows.approval import approval_state, default_out, draft_digests
    from tasks.approvals import APPROVED, record_decision, verify_password

    ctx = _ctx()
    p = _period(ctx, period)
    account = next((a for a in ctx.cfg.settings.web.accounts if a.username.lower() == user.lower()), None)
    password = typer.prompt("Mật khẩu", hide_input=True)
    if account is None or account.role != "approver" or not verify_password(account.password_hash, password):
        err.print("[red]Sai tên đăng nhập, mật khẩu, hoặc tài khoản không có quyền phê duyệt.[/red]")
        raise typer.Exit(2)
    folder = out or default_out(ctx, p)
    if approval_state(ctx, p, folder).standing == "no_report":
        err.print(f"[red]Chưa có báo cáo tổng hợp kỳ {p.key}[/red]: chạy baocao consolidate --period {p.key} trước.")
        raise typer.Exit(2)
    try:
        issued = datetime.fromisoformat(issue_date).date()
        record_decision(ctx.ledger, report_id=ctx.cfg.report.id, period=p.key, decision=APPROVED,
                        username=account.username, name=account.name, sha256=draft_digests(ctx, p, folder),
                        document_number=number, issue_date=issued)
    except ValueError as exc:
        err.print(f"[red]{t(exc)}[/red]")
        raise typer.Exit(2) from None
    console.print(f"{t(account.name)} đã phê duyệt báo cáo {p.label}, số {t(number)}, ngày {issued:%d/%m/%Y}.")
    _print_delivery(_deliver(period=p.key, out_dir=str(out) if out else None))


@app.command()
def cycle(period: str | None = PeriodOpt, out: Path | None = typer.Option(None, "--out", "-o")) -> None:
    """Chạy cả chu kỳ: đề nghị, thu, nhắc, tổng hợp, rồi gửi (hoặc trình Giám đốc duyệt)."""
    result = _run("report_cycle", period=period, out_dir=str(out) if out else None)
    _print_outputs(result["consolidated"])
    _print_delivery(result["delivered"])


@app.command()
def reopen(submission_id: int = typer.Argument(..., help="Số của báo cáo (xem baocao status --json)"),
           note: str = typer.Option(..., "--note", help="Lý do chấp nhận")) -> None:
    """Văn phòng chấp nhận một báo cáo đã bị trả lại (ghi lại lý do)."""
    ctx = _ctx()
    try:
        ctx.ledger.reopen(submission_id, note)
    except KeyError:
        err.print(f"[red]Không có báo cáo số {submission_id}[/red]")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]{t(exc)}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Đã chấp nhận báo cáo số {submission_id}.")


@app.command()
def demo(out: Path = typer.Option(Path("out"), "--out", "-o", help="Thư mục ghi kết quả"),
         data_dir: Path = typer.Option(Path("out/demo-data"), help="Thư mục dữ liệu của bản chạy thử")) -> None:
    """Chạy thử cả chu kỳ tháng 3/2021 với các đơn vị mẫu và báo cáo mẫu (đúng hạn, muộn, lỗi, gửi lại),
    rồi báo cáo kết quả cải cách hành chính quý I/2021."""
    import shutil

    from tasks.context import open_context
    from tasks.samples import drop_samples

    if data_dir.exists():
        shutil.rmtree(data_dir)
    STATE["data_dir"] = str(data_dir)
    ctx = open_context(STATE["config"], data_dir)
    started = datetime.now()
    # (period, the day the Office runs it, the number the clerk gives the issued report)
    for key, today, number in (("2021-02", None, "12/BC-SNV"), ("2021-03", "2021-03-17", "21/BC-SNV")):
        drop_samples(ctx, key)
        result = _run("report_cycle", period=key, today=today)
        console.print(f"[bold]Kỳ {key}[/bold]")
        _print_outputs(result["consolidated"])
        _print_delivery(result["delivered"])  # the draft goes to the Director first
        issued = _demo_approve(ctx, key, number)
        console.print(f"Giám đốc duyệt: số {number}, ngày ban hành {issued:%d/%m/%Y}.")
        _print_delivery(_deliver(period=key))
        _copy_outputs(ctx, key, out)
    # The second report, from its YAML alone. Its own data dir: the folder channel reads every file of the
    # inbox, and the first report's March files would be judged (and answered) as this report's.
    second, quarter = "cchc-ket-qua", "2021-Q1"
    second_dir = data_dir.with_name(f"{data_dir.name}-{second}")
    if second_dir.exists():
        shutil.rmtree(second_dir)
    before = os.environ.get("BAOCAO_REPORT")
    os.environ["BAOCAO_REPORT"] = second
    STATE["data_dir"] = str(second_dir)
    try:
        ctx2 = open_context(STATE["config"], second_dir)
        drop_samples(ctx2, quarter)
        result = _run("report_cycle", period=quarter, today="2021-03-16")
        console.print(f"[bold]Báo cáo {ctx2.cfg.report.title.lower()}, kỳ {quarter}[/bold]")
        _print_outputs(result["consolidated"])
        _print_delivery(result["delivered"])
        issued = _demo_approve(ctx2, quarter, "05/BC-SNV")
        console.print(f"Giám đốc duyệt: số 05/BC-SNV, ngày ban hành {issued:%d/%m/%Y}.")
        _print_delivery(_deliver(period=quarter))
        _copy_outputs(ctx2, quarter, out)
        console.print(f"Thư đã soạn (.eml) của báo cáo quý: {ctx2.outbox}")
    finally:
        STATE["data_dir"] = str(data_dir)
        if before is None:
            os.environ.pop("BAOCAO_REPORT", None)
        else:
            os.environ["BAOCAO_REPORT"] = before
    console.print(f"Kết quả (bản dự thảo, bản chính thức): {out}")
    console.print(f"Thư đã soạn (.eml): {ctx.outbox}")
    baocao = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "baocao" else "baocao"
    console.print(f"Xong sau {(datetime.now() - started).total_seconds():.0f} giây. Xem tình hình: "
                  f"{baocao} --data-dir {data_dir} status --period 2021-03; "
                  f"{baocao} --report {second} --data-dir {second_dir} status --period {quarter}")
    console.print(f"Trang web của Văn phòng: {baocao} --data-dir {data_dir} web --demo "
                  f"(mở {ctx.cfg.settings.web.base_url})")


def _demo_approve(ctx: Any, key: str, number: str) -> Any:
    """The Director approves the draft as the approval page would (the demo has no one to click)."""
    from flows.approval import default_out, draft_digests
    from tasks.approvals import APPROVED, record_decision

    period = ctx.period(key)
    issued = ctx.report_deadline(period)
    record_decision(ctx.ledger, report_id=ctx.cfg.report.id, period=key, decision=APPROVED, username="giamdoc",
                    name=ctx.cfg.settings.approval.signer, sha256=draft_digests(ctx, period, default_out(ctx, period)),
                    document_number=number, issue_date=issued)
    return issued


def _copy_outputs(ctx: Any, key: str, out: Path) -> None:
    """The period's reports (draft and issued) from the data directory to the demo's output folder."""
    import shutil

    from flows.approval import default_out

    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(default_out(ctx, ctx.period(key)).glob(f"{ctx.cfg.report.id}-{key}*")):
        shutil.copy2(path, out / path.name)


@app.command()
def serve(limit: int = typer.Option(4, "--limit", min=1, help="Số lượt chạy đồng thời tối đa")) -> None:
    """Phục vụ các deployment: lịch hằng tháng, chạy tay trên Prefect UI, kích hoạt theo sự kiện.

    Sau thời gian ngừng, mỗi lịch bị lỡ chỉ chạy một lần (lượt gần nhất); mỗi bước theo lịch chạy từng lượt một.
    """
    _prefect_env()
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        err.print("[red]Chưa có máy chủ Prefect.[/red] Chạy `prefect server start`, rồi "
                  "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` và chạy lại lệnh này.")
        raise typer.Exit(2)
    from flows.deployments import DEPLOYMENT_NAME, serve_all, skip_missed_runs

    ctx = _ctx()
    try:
        skipped = skip_missed_runs()
    except Exception as exc:  # the server answers the deployments below, or serve says why
        err.print(f"[yellow]Không kiểm tra được các lượt chạy bị lỡ lịch:[/yellow] {t(exc)}")
        skipped = {}
    for flow_name, count in sorted(skipped.items()):
        console.print(f"Bỏ qua {count} lượt {flow_name}/{DEPLOYMENT_NAME} bị lỡ lịch khi ngừng phục vụ; "
                      "chỉ chạy lượt gần nhất.")
    console.print(f"Đang phục vụ các deployment '<flow>/{DEPLOYMENT_NAME}' trên {PREFECT_API_URL.value()} "
                  f"(múi giờ {ctx.cfg.settings.timezone}), tối đa {limit} lượt chạy cùng lúc. Nhấn Ctrl+C để dừng.")
    console.print("Mỗi lượt chạy được báo khi bắt đầu và khi xong; chi tiết xem trên Prefect UI.")
    _start_web_beside(ctx)
    serve_all(ctx.cfg.settings, STATE["config"], STATE["data_dir"] or ctx.data_dir, limit=limit)


def _start_web_beside(ctx: Any) -> None:
    """`baocao serve` also serves the Office's pages (in a thread), when a signing secret is configured."""
    import threading

    from flows.web import run_web
    from flows.web.security import WebSecretMissing, load_secret

    web = ctx.cfg.settings.web
    try:
        load_secret(web)
    except WebSecretMissing as exc:
        err.print(f"[yellow]Không mở trang web:[/yellow] {t(exc)}")
        return
    threading.Thread(target=run_web, args=(STATE["config"], STATE["data_dir"]), name="baocao-web",
                     daemon=True).start()
    console.print(f"Trang web của Văn phòng: http://{web.host}:{web.port}/ (địa chỉ trong thư: {web.base_url}).")


@app.command("watch-folder")
def watch_folder(interval: float = typer.Option(10.0, help="Số giây giữa hai lần quét thư mục inbox"),
                 period: str | None = PeriodOpt) -> None:
    """Theo dõi thư mục inbox: mỗi tệp mới phát sự kiện để Prefect thu và kiểm tra ngay."""
    _prefect_env()
    from flows.watchers.folder import watch

    ctx = _ctx()
    console.print(f"Đang theo dõi {ctx.inbox} (quét mỗi {interval:g} giây). Nhấn Ctrl+C để dừng.")
    try:
        watch(ctx, interval, period, on_new=_print_new_files)
    except KeyboardInterrupt:
        console.print("Đã dừng theo dõi.")


def _print_new_files(paths: list[Path]) -> None:
    for path in paths:
        console.print(f"Tệp mới: {t(path.name)}")


def _print_outcome(o: dict[str, Any]) -> None:
    where = f"{t(o['unit_code'])} ({t(o['source_ref'])})" if o["unit_code"] else \
        f"{t(o['source_ref'])} (không xác định được đơn vị)"
    if o["status"] == "accepted":
        console.print(f"[green]Hợp lệ[/green] {where}{'' if o['on_time'] else ' - nộp muộn'}")
    elif o["status"] == "rejected":
        console.print(f"[red]Trả lại[/red] {where}:")
        for e in o["errors"]:
            console.print(f"   - {t(e['message'])}")
    elif o["status"] == "quarantined":
        console.print(f"[yellow]Cách ly[/yellow] {where}: {t(o['reason'])}")
    elif o["status"] == "duplicate":
        console.print(f"Đã nhận trước đó, bỏ qua: {where}")
    else:
        console.print(f"[red]Lỗi khi xử lý[/red] {where}: {t(o['reason'])}")


@app.command()
def watch(period: str | None = PeriodOpt,
          idle: float = typer.Option(60.0, help="Số giây tối đa cho mỗi lần chờ IMAP IDLE")) -> None:
    """Theo dõi hộp thư (IMAP IDLE): thu và kiểm tra báo cáo ngay khi đơn vị gửi, đến khi nhấn Ctrl+C."""
    import threading

    ctx = _ctx()
    p = _period(ctx, period)
    imap = ctx.cfg.settings.channels.imap
    if not imap.enabled:
        err.print("[red]Kênh IMAP chưa bật[/red] (channels.imap.enabled trong settings.yaml).")
        raise typer.Exit(2)
    _prefect_env()
    from flows.events import publish_outcomes
    from flows.watchers.mailbox import watch_mailbox
    from tasks.collect import summarise
    from tasks.replies import send_owed_replies
    from tasks.types import Outcome

    def on_outcomes(outcomes: list[Outcome]) -> None:
        rows = [o.to_dict() for o in outcomes]
        for row in rows:
            _print_outcome(row)
        result = send_owed_replies(ctx)
        for key in result.sent + result.written:
            console.print(f"Đã trả lời đơn vị: {t(key)}")
        for key, reason in result.failed:
            console.print(f"[red]Không gửi được[/red] {t(key)}: {t(reason)}")
        try:
            publish_outcomes(ctx, p, summarise(outcomes))
        except Exception as exc:  # events are a convenience; the submission is already stored
            err.print(f"[yellow]Không phát được sự kiện Prefect:[/yellow] {t(exc)}")

    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            watch_mailbox(ctx, p, stop, on_outcomes, idle_timeout=idle)
        except BaseException as exc:  # shown to the operator by the main thread
            failure.append(exc)
        finally:
            stop.set()

    console.print(f"Đang theo dõi hộp thư {imap.username} ({imap.host}:{imap.port}/{imap.folder}) cho kỳ {p.key}. "
                  "Nhấn Ctrl+C để dừng.")
    worker = threading.Thread(target=run, name="baocao-watch", daemon=True)
    worker.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    worker.join(30)
    if failure:
        err.print(f"[red]Dừng theo dõi hộp thư vì lỗi:[/red] {t(failure[0])}")
        raise typer.Exit(1)
    console.print("Đã dừng theo dõi hộp thư.")


@app.command()
def web(host: str | None = typer.Option(None, help="Địa chỉ lắng nghe (mặc định settings.web.host)"),
        port: int | None = typer.Option(None, help="Cổng (mặc định settings.web.port)"),
        demo: bool = typer.Option(False, "--demo", help="Chạy thử: tài khoản vanphong/giamdoc với mật khẩu in ra "
                                  "màn hình, khóa ký tạo ngẫu nhiên")) -> None:
    """Mở các trang của Văn phòng: bảng theo dõi, trang phê duyệt của Giám đốc, trang nộp báo cáo của đơn vị."""
    _prefect_env()
    from flows.web import run_web
    from flows.web.security import WebSecretMissing, demo_accounts

    ctx = _ctx()
    extra: dict[str, Any] = {}
    if demo:
        import secrets

        password = secrets.token_urlsafe(9)
        extra["accounts"] = demo_accounts(password, ctx.cfg.settings.approval.signer)
        console.print(f"Tài khoản chạy thử: vanphong (Văn phòng), giamdoc (Giám đốc); mật khẩu: {password}")
    settings = ctx.cfg.settings.web
    console.print(f"Trang web của Văn phòng: http://{host or settings.host}:{port or settings.port}/ "
                  f"(địa chỉ trong thư: {settings.base_url}). Nhấn Ctrl+C để dừng.")
    try:
        run_web(STATE["config"], STATE["data_dir"], host, port, demo=demo, **extra)
    except WebSecretMissing as exc:
        err.print(f"[red]{t(exc)}[/red]")
        raise typer.Exit(2) from None


@app.command("hash-password")
def hash_password() -> None:
    """Tạo mã băm (argon2) của mật khẩu cho một tài khoản web (dán vào settings.yaml, mục web.accounts)."""
    from tasks.approvals import hash_password_cli

    try:
        console.print(hash_password_cli())
    except ValueError as exc:
        err.print(f"[red]{t(exc)}[/red]")
        raise typer.Exit(2) from None


if __name__ == "__main__":
    app()
