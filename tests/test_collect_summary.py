"""What a collect run hands to Prefect stays bounded, whatever the number of units."""

import json

from tasks.collect import SHOWN, merge_summaries, summarise
from tasks.types import Outcome


def _outcome(i: int, status: str) -> Outcome:
    return Outcome(f"inbox/don-vi-{i}.xlsx", status, f"U{i}", i, True,
                   [{"message": "Ô E10: giá trị “-1” không hợp lệ"}] if status == "rejected" else [], [], None,
                   "2021-03")


def test_a_province_scale_collect_is_summarised_in_bounded_size():
    chunks = [[_outcome(i, "rejected" if i % 97 == 0 else "accepted") for i in range(c, c + 50)]
              for c in range(0, 10_000, 50)]
    summary = merge_summaries(summarise(chunk) for chunk in chunks)
    assert summary["total"] == 10_000
    assert summary["counts"] == {"accepted": 10_000 - 104, "rejected": 104}
    assert len(summary["outcomes"]) == SHOWN
    assert [o["status"] for o in summary["outcomes"][:104]] == ["rejected"] * 104  # what needs the Office first
    assert summary["periods"] == ["2021-03"]
    assert len(json.dumps(summary, ensure_ascii=False)) < 100_000  # the full list would be ~2 MB


def test_per_unit_work_goes_in_a_few_chunks_whatever_the_number_of_units():
    from flows.runtime import chunked

    codes = [f"U{i:05d}" for i in range(10_000)]
    parts = chunked(codes, size=50, most=8)
    assert [len(p) for p in parts] == [1250] * 8
    assert [c for p in parts for c in p] == codes  # every unit once, in order
    assert [len(p) for p in chunked(codes[:120], size=50, most=8)] == [50, 50, 20]  # small runs keep the size
    assert chunked([], size=50, most=8) == []


def test_a_consolidation_hands_prefect_a_brief_that_does_not_grow_with_the_units():
    import copy

    from tasks.consolidate import brief, missing_text
    from tests.sample_consolidation import sample_consolidation

    small = brief(sample_consolidation(), "/du-lieu/cchc-2021-03.json")
    assert small["completeness"]["missing"] == ["TĐKT", "VTLT"] and small["completeness"]["missing_more"] == 0
    assert missing_text(small["completeness"]) == "TĐKT, VTLT"
    assert small["completeness"]["accepted_count"] == 7 and small["json"] == "/du-lieu/cchc-2021-03.json"

    big = copy.deepcopy(sample_consolidation())
    big["completeness"]["missing"] = [f"U{i:05d}" for i in range(10_000)]
    big["completeness"]["missing_count"] = 10_000
    b = brief(big, "x.json")
    assert b["completeness"]["missing"] == [f"U{i:05d}" for i in range(30)]
    assert missing_text(b["completeness"]).endswith("U00029 và 9.970 đơn vị khác")
    assert len(json.dumps(b, ensure_ascii=False)) < 3_000


def test_outcome_and_issue_as_plain_data_match_dataclasses_asdict() -> None:
    """to_dict is written out (asdict's deep walk was slow): same keys, order and values, issues copied."""
    from dataclasses import asdict, fields

    from tasks.types import Issue, Outcome, OutcomeStatus

    issue = Issue("Chỉ tiêu W01 phải là số nguyên không âm.", code="W01", cell="E5", value="-1")
    assert issue.to_dict() == {k: v for k, v in asdict(issue).items() if v is not None}
    outcome = Outcome("inbox/VP.xlsx", OutcomeStatus.REJECTED, "VP", 7, True, [issue.to_dict()], [], None, "2021-03")
    plain = outcome.to_dict()
    assert plain == asdict(outcome) and list(plain) == [f.name for f in fields(Outcome)]
    plain["errors"][0]["code"] = "changed"
    assert outcome.errors[0]["code"] == "W01"
