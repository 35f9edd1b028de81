"""The hostile corpus through the real collect flow: every file one outcome, one answer, and the run goes on.

tests/hostile_corpus.py holds the inputs a hostile or clumsy world sends (poisoned workbooks, zip bombs,
encrypted files, UTF-16 and binary CSV, markup and formulas in cells, legacy fonts, 10^30 …). Here they all
arrive in the inbox together and one `collect_submissions` run (Prefect engine, guarded worker pool, one
ledger transaction per chunk) must record each with the expected status and message, and answer each.
"""

from __future__ import annotations

import hashlib

import pytest

from tasks.types import SubmissionStatus
from tests.helpers import mark_delivered
from tests.hostile_corpus import cases

pytestmark = pytest.mark.slow


def test_the_whole_corpus_in_one_collect(prefect_engine, ctx, config_dir):
    from flows.cycle import collect_submissions

    mark_delivered(ctx, "2021-02")
    corpus = cases(ctx)
    assert len(corpus) >= 40
    ctx.inbox.mkdir(parents=True)
    names = [f"{i:02d} {case.filename}" for i, case in enumerate(corpus)]  # some cases share a file name
    for name, case in zip(names, corpus, strict=True):
        (ctx.inbox / name).write_bytes(case.data)
    summary = collect_submissions(period="2021-03", config_dir=str(config_dir), data_dir=str(ctx.data_dir))
    assert summary["total"] >= len({hashlib.sha256(c.data).digest() for c in corpus})

    # a byte-identical copy of a recorded spreadsheet under another name is the same document: recorded once
    recorded = ctx.ledger.submissions(ctx.cfg.report.id, "2021-03")
    by_ref = {s.source_ref: s for s in recorded}
    by_hash = {s.content_hash: s for s in recorded}
    owed = dict(((sid, kind), settled) for sid, kind, settled in _owed(ctx))
    for name, case in zip(names, corpus, strict=True):
        sub = by_ref.get(f"inbox/{name}") or by_hash.get(hashlib.sha256(case.data).hexdigest())
        assert sub is not None, f"{case.name}: no record"
        got = "accepted" if sub.status in (SubmissionStatus.ACCEPTED, SubmissionStatus.SUPERSEDED) else sub.status
        assert got == case.status, (case.name, sub.status, sub.errors)
        messages = [e["message"] for e in (sub.errors if case.status == "rejected" else sub.warnings)]
        fragment = case.fragment.replace(f"'{case.filename}'", f"'{name}'")  # messages name the file as received
        assert not fragment or any(fragment in m for m in messages), (case.name, messages)
        kind = "rejection" if case.status == "rejected" else "receipt"
        assert owed.get((sub.id, kind)) is True, f"{case.name}: {kind} not sent"


def _owed(ctx):
    from sqlalchemy import select

    from tasks.ledger import OwedReply

    with ctx.ledger.session() as s:
        return [(o.submission_id, o.kind, o.settled_at is not None) for o in s.execute(select(OwedReply)).scalars()]

