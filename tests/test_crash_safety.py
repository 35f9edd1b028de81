"""Crash safety: a collect killed (SIGKILL) anywhere, then run again until quiet, ends exactly like a clean run.

A mixed inbox (valid, invalid, poisoned files in the folder; valid, invalid, attachment-less and stranger's
mail in a real Dovecot mailbox; replies over a real SMTP server) is collected by tests/crash_harness.py in a
child process that kills itself at one point: between parsing and recording, around recording, mid IMAP
fetch, before and after marking mail processed, mid SMTP batch, after an .eml is written, around the
ledger's record of a message, around settling owed replies. After each kill the collect is run again until
a run changes nothing. The ledger (submissions, owed replies, messages) and the set of messages the SMTP
server received must equal those of a run that was never killed: nothing lost, nothing recorded twice, every
owed reply sent; a message that was on the wire when the process died may be sent again, always with the
same Message-ID (the same message, recognisable as such).
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.context import Context, open_context
from tasks.periods import TZ
from tests.helpers import filled
from tests.hostile_corpus import grid, xlsx
from tests.servers.dovecot import dovecot_server
from tests.servers.smtp_server import TEST_PASSWORD, TEST_USER, smtp_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2021-03"
KILL_POINTS = [
    ("after-parse", 1), ("after-parse", 2), ("before-record", 1), ("after-record", 1), ("before-record", 2),
    ("after-record", 2), ("mid-imap-fetch", 1), ("before-imap-mark", 1), ("after-imap-mark", 1),
    ("before-smtp-send", 1), ("after-smtp-send", 1), ("after-smtp-send", 3), ("after-smtp-send", 6),
    ("after-eml-write", 1), ("after-eml-write", 4), ("before-message-record", 1), ("after-message-record", 1),
    ("before-message-record", 2), ("after-message-record", 2), ("before-settle", 1), ("after-settle", 1),
]


def _configure(config_dir: Path, smtp: Any, imap: Any) -> None:
    units = config_dir / "units.yaml"
    units.write_text(units.read_text(encoding="utf-8").replace("channel: folder", "channel: email"), encoding="utf-8")
    path = config_dir / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["channels"]["smtp"] = {"enabled": True, "host": smtp.host, "port": smtp.port, "security": "plain",
                                    "username": TEST_USER, "password_env": "BAOCAO_SMTP_PASSWORD"}
    settings["channels"]["imap"] = {"enabled": True, "host": imap.host, "port": imap.port, "security": "plain",
                                    "username": imap.user, "password_env": "BAOCAO_IMAP_PASSWORD", "folder": "INBOX"}
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _mail(ctx: Context, sender: str, unit: str, files: list[tuple[str, bytes]], n: int) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = ctx.cfg.settings.organisation.office_email
    msg["Subject"] = f"Re: [BC-CCHC {PERIOD} {unit}] Đề nghị báo cáo tháng 3/2021"
    msg["Date"] = "Mon, 15 Mar 2021 09:30:00 +0700"
    msg["Message-ID"] = f"<don-vi-{n}@donvi.test>"
    msg.set_content("Kính gửi Văn phòng Sở, đơn vị gửi báo cáo.")
    for name, data in files:
        msg.add_attachment(data, maintype="application",
                           subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=name)
    return msg.as_bytes()


def _arrivals(ctx: Context) -> tuple[dict[str, bytes], list[bytes]]:
    """The same mixed arrivals for every run (built once: the bytes must not differ between runs): four
    files for the folder, four mails for the mailbox."""
    files = {
        "VP.xlsx": filled(ctx, "VP", PERIOD),
        "TTr.xlsx": filled(ctx, "TTr", PERIOD),
        "TCBC.xlsx": filled(ctx, "TCBC", PERIOD, W01="12 tin"),  # rejected
        "TĐKT xfd.xlsx": xlsx(grid(ctx, "TĐKT"), extra={"XFD1048576": 1}),  # poisoned: would abort calamine
    }
    email_of = {u.code: u.emails[0] for u in ctx.cfg.units}
    mails = [
        _mail(ctx, email_of["CCHC"], "CCHC", [("CCHC.xlsx", filled(ctx, "CCHC", PERIOD))], 1),
        _mail(ctx, email_of["XDCQ"], "XDCQ", [("XDCQ.xlsx", filled(ctx, "XDCQ", PERIOD, H01=-1))], 2),
        _mail(ctx, email_of["CCVC"], "CCVC", [], 3),  # no attachment: answered
        _mail(ctx, "nguoi.la@example.org", "BTG", [("BTG.xlsx", filled(ctx, "BTG", PERIOD))], 4),  # quarantined
    ]
    return files, mails


def _prepare(ctx: Context, imap: Any, files: dict[str, bytes], mails: list[bytes]) -> None:
    ctx.inbox.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (ctx.inbox / name).write_bytes(data)
    stamp = datetime(2021, 3, 15, 9, 30, tzinfo=TZ)
    conn = imap.connect()
    try:
        for raw in mails:
            assert conn.append("INBOX", None, imaplib.Time2Internaldate(stamp), raw)[0] == "OK"
    finally:
        conn.logout()


def _harness(config_dir: Path, data_dir: Path, *kill: Any) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tests.crash_harness", str(config_dir), str(data_dir),
                           *map(str, kill)], cwd=ROOT, env=env, capture_output=True, timeout=300)
    if done.returncode not in (0, -9):
        raise AssertionError(done.stderr.decode(errors="replace")[-3000:])
    return done.returncode


def _state(ctx: Context, received: list[Any]) -> dict[str, Any]:
    """What must be the same after any crash: the ledger's records and what the SMTP server got, with
    submission ids replaced by the document they stand for (ids may be assigned in another order)."""
    from sqlalchemy import select

    from tasks.ledger import MessageRecord, OwedReply, Submission

    with ctx.ledger.session() as s:
        subs = s.execute(select(Submission)).scalars().all()
        ref = {x.id: x.source_ref for x in subs}
        submissions = sorted((x.source_ref, x.unit_code or "", x.status, x.content_hash,
                              tuple(e["message"] for e in x.errors)) for x in subs)
        owed = sorted((ref[o.submission_id], o.kind, o.settled_at is not None) for o in s.execute(
            select(OwedReply)).scalars())
        id_in_key = re.compile(r":(\d+)$")
        messages = sorted((id_in_key.sub(lambda m: ":" + ref[int(m[1])], m.key), m.status)
                          for m in s.execute(select(MessageRecord)).scalars())
    sent: dict[str, set[str]] = {}
    for r in received:
        msg = email.message_from_bytes(r.data, policy=email.policy.default)
        key = id_in_key.sub(lambda m: ":" + ref[int(m[1])], str(msg["X-Baocao-Key"]))
        sent.setdefault(key, set()).add(str(msg["Message-ID"]))
    return {"submissions": submissions, "owed": owed, "messages": messages, "sent": sent}


def _until_quiet(config_dir: Path, data_dir: Path, ctx: Context, smtp: Any) -> dict[str, Any]:
    last = None
    for _ in range(4):
        assert _harness(config_dir, data_dir) == 0
        state = _state(ctx, smtp.received)
        if state == last:
            return state
        last = state
    raise AssertionError("the collect never became quiet")


def test_collect_killed_anywhere_ends_like_a_clean_run(config_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BAOCAO_SMTP_PASSWORD", TEST_PASSWORD)
    results: dict[str, Any] = {}
    clean: dict[str, Any] | None = None
    files, mails = _arrivals(open_context(config_dir, tmp_path / "build"))
    for point in [None, *KILL_POINTS]:
        with smtp_server(auth=True) as smtp, dovecot_server() as imap:
            monkeypatch.setenv("BAOCAO_IMAP_PASSWORD", imap.password)
            cfg = tmp_path / f"config-{len(results)}"
            shutil.copytree(config_dir, cfg)
            _configure(cfg, smtp, imap)
            data_dir = tmp_path / f"data-{len(results)}"
            ctx = open_context(cfg, data_dir)
            _prepare(ctx, imap, files, mails)
            if point is not None:
                assert _harness(cfg, data_dir, *point) == -9, f"{point} was never reached"
            state = _until_quiet(cfg, data_dir, ctx, smtp)
            if clean is None:
                clean = state
                # the clean run itself: 8 documents, each with one outcome, every owed reply settled
                assert sorted((ref.rsplit("#", 1)[-1] or "(thư)", unit, status)
                              for ref, unit, status, *_ in state["submissions"]) == [
                    ("(thư)", "CCVC", "rejected"), ("BTG.xlsx", "BTG", "quarantined"),
                    ("CCHC.xlsx", "CCHC", "accepted"),
                    ("XDCQ.xlsx", "XDCQ", "rejected"), ("inbox/TCBC.xlsx", "TCBC", "rejected"),
                    ("inbox/TTr.xlsx", "TTr", "accepted"), ("inbox/TĐKT xfd.xlsx", "", "rejected"),
                    ("inbox/VP.xlsx", "VP", "accepted")]
                assert all(settled for _, _, settled in state["owed"]) and len(state["owed"]) == 7
                assert all(len(ids) == 1 for ids in state["sent"].values())
            else:
                assert state["submissions"] == clean["submissions"], point
                assert state["owed"] == clean["owed"], point
                assert state["messages"] == clean["messages"], point
                assert state["sent"].keys() == clean["sent"].keys(), point  # every owed reply sent
                assert all(len(ids) == 1 for ids in state["sent"].values()), point  # a resend is the same message
            results[str(point)] = len(smtp.received)
    assert len(results) == len(KILL_POINTS) + 1 >= 21
