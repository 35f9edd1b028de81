"""The content of every message baocao sends, rendered from Jinja2 templates in templates/mail/.

Each message has a stable key, so a step run twice finds it in the ledger and sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tasks.config import AppConfig, Unit
from tasks.periods import TZ, Period, working_days_until
from tasks.render.vietnamese_dates import format_date, format_number, format_percent
from tasks.resources import templates_dir
from tasks.text import nfc
from tasks.transports.mail.compose import MAX_RECIPIENTS, Attachment, OutgoingMail
from tasks.types import MessageKind, message_key

TEMPLATES_DIR = templates_dir()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR / "mail"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,  # packaged templates: no stat of two files per mail (thousands of receipts a collect)
    )
    env.filters["short_date"] = lambda d: f"{d:%d/%m/%Y}"
    env.filters["long_date"] = format_date
    env.filters["percent"] = format_percent
    env.filters["num"] = format_number
    return env


def subject_tag(cfg: AppConfig, period: Period, unit_code: str | None = None) -> str:
    """'[BC-CCHC 2021-03 VP]': lets replies be matched to a report, a period and a unit."""
    return f"[{cfg.report.short_code} {period.key}{' ' + unit_code if unit_code else ''}]"


def _render(kind: str, subject: str, tag: str, cfg: AppConfig, **ctx: Any) -> tuple[str, str]:
    common = {"subject": subject, "tag": tag, "office_name": cfg.settings.organisation.office_name,
              "report": cfg.report, "organisation": cfg.settings.organisation, **ctx}
    env = _env()
    text = env.get_template(f"{kind}.txt.j2").render(common)
    html = env.get_template(f"{kind}.html.j2").render(common)
    return nfc(text), nfc(html)


def _mail(cfg: AppConfig, *, key: str, kind: str, to: list[str] | tuple[str, ...], subject: str, tag: str,
          period: Period, unit: Unit | None = None, attachments: tuple[Attachment, ...] = (),
          cc: tuple[str, ...] = (), **ctx: Any) -> OutgoingMail:
    full_subject = nfc(f"{tag} {subject}")
    text, html = _render(kind, full_subject, tag, cfg, period=period, unit=unit, **ctx)
    return OutgoingMail(key=key, kind=kind, to=tuple(to), cc=cc, subject=full_subject, text=text, html=html,
                        attachments=attachments, unit_code=unit.code if unit else None, period=period.key)


def _how(unit: Unit, how_to_return: str | None, sheet_tab: str | None, sheet_url: str | None) -> dict[str, Any]:
    """What every unit-facing template needs to say how to submit on the unit's channel (its channel's
    `how_to_return`; the link is the Sheets tab's or, on the web channel, the unit's own page)."""
    if how_to_return is None:
        from tasks.channels import CHANNEL_CLASSES

        how_to_return = str(CHANNEL_CLASSES[unit.channel].how_to_return)
    return {"how_to_return": how_to_return, "sheet_tab": sheet_tab, "sheet_url": sheet_url,
            "web_url": sheet_url if unit.channel == "web" else None}


def request_mail(cfg: AppConfig, unit: Unit, period: Period, deadline: date, workbook: bytes | None,
                 workbook_name: str, sheet_tab: str | None = None, sheet_url: str | None = None, *,
                 how_to_return: str | None = None) -> OutgoingMail:
    attachments = (Attachment(workbook_name, workbook, XLSX),) if workbook is not None else ()
    return _mail(cfg, key=message_key(MessageKind.REQUEST, cfg.report.id, period.key, unit.code), kind="request",
                 to=unit.emails,
                 subject=f"Đề nghị báo cáo {cfg.report.title.lower()} {period.label} – hạn {deadline:%d/%m/%Y}",
                 tag=subject_tag(cfg, period, unit.code), period=period, unit=unit, deadline=deadline,
                 attachments=attachments, attachment_name=workbook_name,
                 **_how(unit, how_to_return, sheet_tab, sheet_url))


def reminder_mail(cfg: AppConfig, unit: Unit, period: Period, deadline: date, today: date,
                  workbook: bytes | None, workbook_name: str, last_errors: list[str], *,
                  sheet_tab: str | None = None, sheet_url: str | None = None,
                  how_to_return: str | None = None) -> OutgoingMail:
    """A reminder; once the deadline has passed it says the report is overdue since that date (no new date
    exists in the configuration, so none is promised) and asks for it at once."""
    days_left = working_days_until(today, deadline)  # what the unit can still use: weekends and Tết excluded
    overdue = today > deadline
    attachments = (Attachment(workbook_name, workbook, XLSX),) if workbook is not None else ()
    when = (f"đã quá hạn ngày {deadline:%d/%m/%Y}" if overdue else
            f"còn {days_left} ngày làm việc" if days_left > 0 else "hạn cuối hôm nay")
    return _mail(cfg, key=message_key(MessageKind.REMINDER, cfg.report.id, period.key, unit.code, today.isoformat()),
                 kind="reminder", to=unit.emails, subject=f"Nhắc gửi báo cáo {period.label} ({when})",
                 tag=subject_tag(cfg, period, unit.code), period=period, unit=unit, deadline=deadline,
                 days_left=days_left, overdue=overdue, last_errors=last_errors, attachments=attachments,
                 attachment_name=workbook_name, **_how(unit, how_to_return, sheet_tab, sheet_url))


def rejection_mail(cfg: AppConfig, unit: Unit, period: Period, deadline: date, submission_key: str,
                   filename: str, received_at: str, errors: Sequence[Mapping[str, Any]],
                   warnings: Sequence[Mapping[str, Any]], workbook: bytes | None, workbook_name: str,
                   to: tuple[str, ...] | None = None, *, refilled: bool = False, sheet_tab: str | None = None,
                   sheet_url: str | None = None, how_to_return: str | None = None) -> OutgoingMail:
    """`refilled`: the attached workbook holds the unit's own values with the faulty cells marked (else it is
    the blank template of the period)."""
    attachments = (Attachment(workbook_name, workbook, XLSX),) if workbook is not None else ()
    return _mail(cfg, key=message_key(MessageKind.REJECTION, cfg.report.id, period.key, unit.code, submission_key),
                 kind="rejection", to=to or unit.emails,
                 subject=f"Báo cáo {period.label} chưa hợp lệ – đề nghị sửa và gửi lại",
                 tag=subject_tag(cfg, period, unit.code), period=period, unit=unit, deadline=deadline,
                 filename=filename, received_at=received_at, errors=errors, warnings=warnings,
                 attachments=attachments, attachment_name=workbook_name, attached=bool(attachments),
                 refilled=refilled and bool(attachments),
                 **_how(unit, how_to_return, sheet_tab, sheet_url))


def receipt_mail(cfg: AppConfig, unit: Unit, period: Period, deadline: date, submission_key: str,
                 filename: str, received_at: str, on_time: bool, warnings: Sequence[Mapping[str, Any]],
                 to: tuple[str, ...] | None = None, *, source: str = "folder") -> OutgoingMail:
    """The short answer to an accepted report: received when, valid, on time or late, and any warnings."""
    state = "đúng hạn" if on_time else "muộn"
    return _mail(cfg, key=message_key(MessageKind.RECEIPT, cfg.report.id, period.key, unit.code, submission_key),
                 kind="receipt", to=to or unit.emails,
                 subject=f"Đã nhận báo cáo {period.label} – hợp lệ, {state}",
                 tag=subject_tag(cfg, period, unit.code), period=period, unit=unit, deadline=deadline,
                 filename=filename, received_at=received_at, on_time=on_time, warnings=warnings, source=source)


NAMES_SHOWN = 30  # units a mail names in one list; a province's thousands are counted and linked instead


def overdue_mail(cfg: AppConfig, period: Period, deadline: date, completeness: Mapping[str, Any],
                 board_url: str | None = None) -> OutgoingMail:
    """The đôn đốc summary: counts, and who is missing, returned or late (at most NAMES_SHOWN named per list;
    the rest counted, with the board's page listing them all)."""
    units = {u.code: u for u in cfg.units}
    rejected = set(completeness["rejected"])
    pick = lambda key: [units[c] for c in completeness[key]]  # noqa: E731
    return _mail(cfg, key=message_key(MessageKind.OVERDUE, cfg.report.id, period.key), kind="overdue",
                 to=[cfg.settings.organisation.operator_email],
                 subject=f"Đôn đốc: {format_number(completeness['missing_count'])} đơn vị chưa có báo cáo hợp lệ "
                         f"{period.label}",
                 tag=subject_tag(cfg, period), period=period, deadline=deadline,
                 expected=completeness["expected_count"], accepted=pick("accepted"), on_time=pick("on_time"),
                 late=pick("late"), rejected=pick("rejected"),
                 missing=[u for u in pick("missing") if u.code not in rejected], shown=NAMES_SHOWN, board=board_url)


def delivery_recipients(cfg: AppConfig, period: Period) -> tuple[list[str], list[str]]:
    """(to, cc): the primary recipient (UBND tỉnh) in To, every other Nơi nhận address in Cc (`units: all`: the
    units of the period, whose reports it consolidates)."""
    to: list[str] = []
    cc: list[str] = []
    seen: set[str] = set()  # one address of thousands of units' contacts: a set, not a scan of the lists
    for r in cfg.report.recipients:
        emails = list(r.emails)
        if r.units == "all":
            emails += [e for u in cfg.units_expected_in(period) for e in u.emails]
        for e in emails:
            if e not in seen:
                seen.add(e)
                (to if r.primary else cc).append(e)
    return to, cc


def recipient_batches(to: list[str], cc: list[str], limit: int = MAX_RECIPIENTS) -> list[tuple[list[str], list[str]]]:
    """Split the delivery's recipients into messages the mail server accepts (at most `limit` each): the
    first keeps To (UBND tỉnh) and as many copies as fit in Cc; every further one is a copy, its addresses in
    To. `units: all` in Nơi nhận makes thousands of addresses at a province's scale."""
    if len(to) > limit:
        raise ValueError(f"Nơi nhận chính (primary: true trong recipients của báo cáo) có {len(to)} địa chỉ, "
                         f"vượt giới hạn {limit} người nhận một thư của máy chủ thư")
    room = limit - len(to)
    batches = [(list(to), cc[:room])]
    rest = cc[room:]
    batches += [(rest[i:i + limit], []) for i in range(0, len(rest), limit)]
    return batches


def delivery_keys(cfg: AppConfig, period: Period, resend: int = 0) -> list[str]:
    """The ledger key of each message of a delivery, in the order of `recipient_batches`: UBND tỉnh's
    (`delivery:<report>:<period>`, which closes the period), then `…:copy<n>` for each further batch."""
    key = message_key(MessageKind.DELIVERY, cfg.report.id, period.key, *([f"resend{resend}"] if resend else []))
    return [key] + [f"{key}:copy{n}" for n in range(1, len(recipient_batches(*delivery_recipients(cfg, period))))]


def delivery_messages(cfg: AppConfig, period: Period, consolidation: Mapping[str, Any],
                      files: list[tuple[str, bytes, str]], resend: int = 0) -> list[OutgoingMail]:
    """The delivery as the messages it takes: the one to UBND tỉnh and, past the server's recipient limit,
    copies of it (keys from `delivery_keys`)."""
    to, cc = delivery_recipients(cfg, period)
    inds = {i["code"]: i for i in consolidation["indicators"]}
    key_numbers = [
        {"label": inds[c]["label"], "value": format_number(consolidation["totals"].get(c, 0)), "unit": inds[c]["unit"]}
        for c in consolidation["main_indicators"]
    ]
    keys = delivery_keys(cfg, period, resend)
    attached = tuple(Attachment(name, data, mime) for name, data, mime in files)
    first = _mail(cfg, key=keys[0], kind="delivery", to=to,
                  subject=f"Báo cáo {cfg.report.title.lower()} {period.label}", tag=subject_tag(cfg, period),
                  period=period, recipient_line=cfg.report.recipient_line, key_numbers=key_numbers,
                  c=consolidation["completeness"], attachments=attached)
    # One rendering for every message: the copies differ only in key and addresses.
    return [replace(first, key=key, to=tuple(batch_to), cc=tuple(batch_cc))
            for key, (batch_to, batch_cc) in zip(keys, recipient_batches(to, cc), strict=True)]


def alert_mail(cfg: AppConfig, period: Period, flow_name: str, flow_run: str, error: str, at: str,
               command: str, url: str | None = None) -> OutgoingMail:
    return _mail(cfg, key=message_key(MessageKind.ALERT, flow_run), kind="alert",
                 to=[cfg.settings.organisation.operator_email],
                 subject=f"Lỗi khi chạy {flow_name} ({period.label})", tag=subject_tag(cfg, period),
                 period=period, flow_name=flow_name, flow_run=flow_run, error=error, at=at, command=command,
                 url=url)


def channel_down_mail(cfg: AppConfig, period: Period, *, place: str, label: str, in_sentence: str, units: int,
                      message: str, since: datetime, last: datetime, url: str | None) -> OutgoingMail:
    """Tell the operator a mailbox or spreadsheet has not been read since `since` (to `last`, the collect
    that sends this); once per outage (the key holds when it began)."""
    minutes = int((last - since).total_seconds() // 60)
    took = " ".join(([f"{minutes // 60} giờ"] if minutes >= 60 else []) +
                    ([f"{minutes % 60} phút"] if minutes % 60 or minutes < 60 else []))
    return _mail(cfg, key=channel_down_key(place, since), kind="channel_down",
                 to=[cfg.settings.organisation.operator_email],
                 subject=f"Đã {took} không đọc được {in_sentence}", tag=subject_tag(cfg, period), period=period,
                 label=label, units=units, message=message, since=_clock(since), last=_clock(last), url=url)


def channel_down_key(place: str, since: datetime) -> str:
    return message_key(MessageKind.CHANNEL_DOWN, place, since.isoformat(timespec="seconds"))


def channel_back_key(place: str, since: datetime) -> str:
    return message_key(MessageKind.CHANNEL_BACK, place, since.isoformat(timespec="seconds"))


def channel_back_mail(cfg: AppConfig, period: Period, *, place: str, label: str, in_sentence: str, units: int,
                      since: datetime, at: datetime, url: str | None) -> OutgoingMail:
    """Tell the operator a place reported down is read again (its units' reports are being collected)."""
    return _mail(cfg, key=channel_back_key(place, since), kind="channel_back",
                 to=[cfg.settings.organisation.operator_email], subject=f"Đã đọc lại được {in_sentence}",
                 tag=subject_tag(cfg, period), period=period, label=label, units=units, since=_clock(since),
                 at=_clock(at), url=url)


def _clock(when: datetime) -> str:
    return f"{when.astimezone(TZ):%H:%M ngày %d/%m/%Y}"


def approval_mail(cfg: AppConfig, period: Period, *, version: str, url: str,
                  files: list[tuple[str, bytes, str]], completeness: Mapping[str, Any] | None,
                  reminder: int = 0, waited_hours: float = 0) -> OutgoingMail:
    """Ask the signer to approve the draft on the approval page (the draft attached); reminder > 0 repeats
    the ask. `version` (a digest of the draft files) makes a new draft a new request."""
    approval = cfg.settings.approval
    key = message_key(MessageKind.APPROVAL, cfg.report.id, period.key, version, reminder)
    prefix = f"Nhắc lần {reminder}: " if reminder else ""
    return _mail(cfg, key=key, kind="approval", to=[approval.signer_email],
                 subject=f"{prefix}Đề nghị phê duyệt báo cáo {cfg.report.title.lower()} {period.label}",
                 tag=subject_tag(cfg, period), period=period, signer=approval.signer, url=url,
                 c=completeness, reminder=reminder, waited_hours=round(waited_hours), shown=NAMES_SHOWN,
                 attachments=tuple(Attachment(name, data, mime) for name, data, mime in files))


def approval_reject_mail(cfg: AppConfig, period: Period, *, decision_id: str, signer: str, comment: str,
                         url: str | None, at: str) -> OutgoingMail:
    """Tell the operator the signer sent the report back, with the signer's reason."""
    return _mail(cfg, key=message_key(MessageKind.APPROVAL_REJECT, cfg.report.id, period.key, decision_id),
                 kind="approval_reject", to=[cfg.settings.organisation.operator_email],
                 subject=f"Báo cáo {period.label} bị trả lại, chưa gửi UBND tỉnh", tag=subject_tag(cfg, period),
                 period=period, signer=signer, comment=comment, url=url, at=at)
