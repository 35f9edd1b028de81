"""The hostile-input corpus through the public path a collect uses: read_grids → parse_grid → check_submission.

Every case ends in exactly the status and the Vietnamese message the corpus states; a poisoned file in a
batch costs only itself.
"""

from __future__ import annotations

import unicodedata

import pytest

from tasks.guard import GuardedReader, Limits, UnreadableFile
from tasks.intake import parse_grid, read_grid, read_grids, read_sheets
from tasks.validation import check_submission
from tests.hostile_corpus import PERIOD, Case, cases, cell_of, encrypted_xlsx, grid, xlsx


def outcome(ctx, case: Case, result) -> tuple[str, list[str], list[str], dict]:
    """(status, error messages, warning messages, values) as the unit and the ledger would see them."""
    if isinstance(result, UnreadableFile):
        return "rejected", [str(result)], [], {}
    verdict = check_submission(ctx.cfg, parse_grid(result), ctx.period(PERIOD))
    return ("accepted" if verdict.accepted else "rejected", [e.message for e in verdict.errors],
            [w.message for w in verdict.warnings], verdict.values)


def test_every_case_gets_its_outcome_and_message(ctx):
    corpus = cases(ctx)
    assert len(corpus) >= 40 and len({c.name for c in corpus}) == len(corpus)
    assert max(len(c.data) for c in corpus) < 2_000_000  # the zip bomb declares 64 MB in about 70 KB
    results = read_grids([(c.data, c.filename) for c in corpus])  # one batch, as a collect reads
    wrong = []
    for case, result in zip(corpus, results, strict=True):
        status, errors, warnings, values = outcome(ctx, case, result)
        texts = errors if case.status == "rejected" else warnings
        problems = []
        if status != case.status:
            problems.append(f"status {status}: {errors}")
        if case.fragment and not any(case.fragment in t for t in texts):
            problems.append(f"no {case.fragment!r} in {texts}")
        if case.status == "accepted" and not case.fragment and warnings:
            problems.append(f"unexpected warnings {warnings}")
        for code, value in case.values.items():
            if values.get(code) != value:
                problems.append(f"{code}={values.get(code)!r}, expected {value!r}")
        for text in errors + warnings:
            if not unicodedata.is_normalized("NFC", text) or len(text) > 2000:
                problems.append(f"message not NFC or too long: {text[:100]!r}")
        for v in values.values():
            if isinstance(v, str) and (not unicodedata.is_normalized("NFC", v) or "\u202e" in v or "\x00" in v):
                problems.append(f"stored text not clean: {v[:60]!r}")
        if problems:
            wrong.append((case.name, problems))
    assert wrong == [], "\n".join(f"{n}: {p}" for n, p in wrong)


def test_the_worker_finds_the_same_cells_as_the_parent(ctx):
    """A collect has the workers parse (only the labelled cells travel back): for every case of the corpus,
    the same sheet, raw values of the same types (legacy-font and uncalculated markers kept), the same
    rejections."""
    corpus = cases(ctx)
    items = [(c.data, c.filename) for c in corpus]
    for case, grid_or_error, sheet in zip(corpus, read_grids(items), read_sheets(items), strict=True):
        if isinstance(grid_or_error, UnreadableFile):
            assert isinstance(sheet, UnreadableFile) and str(sheet) == str(grid_or_error), case.name
            continue
        expected = parse_grid(grid_or_error)
        assert sheet == expected, case.name
        assert [type(v.raw) for v in sheet.values.values()] == [type(v.raw) for v in expected.values.values()]


def test_a_sheet_travels_as_plain_values():
    from tasks.types import Issue, ParsedSheet, RawValue

    sheet = ParsedSheet("VP", "B4", "2021-03", "B5", {"K01": RawValue(3.0, "D9"), "N01": RawValue("Đã", "D20")},
                        [Issue("Chỉ tiêu K01 xuất hiện hai lần", code="K01", cell="D10")])
    wire = sheet.to_wire()
    assert wire == ("VP", "B4", "2021-03", "B5", [("K01", 3.0, "D9"), ("N01", "Đã", "D20")],
                    [{"message": "Chỉ tiêu K01 xuất hiện hai lần", "severity": "error", "code": "K01", "cell": "D10"}])
    assert ParsedSheet.from_wire(wire) == sheet


def test_a_parse_that_fails_in_the_worker_sends_the_grid_back():
    """baocao's own parser failing is not the unit's fault: the parent parses the grid and reports the bug."""
    from tasks.guard import _sheet_or_grid

    def broken(grid):
        raise RuntimeError("bug")

    assert _sheet_or_grid(broken, [["Mã đơn vị", "VP"]]) == [["Mã đơn vị", "VP"]]
    assert _sheet_or_grid(parse_grid, [["Mã đơn vị", "VP"]])[:2] == ("VP", "B1")


def test_stored_text_is_plain_str(ctx):
    """Values converted from a legacy font are stored as ordinary text, not the marker subclass."""
    rows = grid(ctx, N01="Thaéng")
    result = read_grid(xlsx(rows, styles={cell_of(rows, "N01"): 2}), "vni.xlsx")
    verdict = check_submission(ctx.cfg, parse_grid(result), ctx.period(PERIOD))
    assert type(verdict.values["N01"]) is str and verdict.values["N01"] == "Thắng"


def test_a_poisoned_file_in_a_batch_stops_nothing_else(ctx):
    """With the pre-check caps lifted, the XFD1048576 workbook reaches calamine and aborts its worker
    (Rust allocation failure under the memory limit): only that file is rejected, the others are read."""
    good = xlsx(grid(ctx))
    poisoned = xlsx(grid(ctx), extra={"XFD1048576": 1})
    reader = GuardedReader(Limits(max_rows=2_000_000, max_cols=20_000, memory_bytes=768 << 20, chunk_files=8))
    try:
        items = [(good, f"tot {i}.xlsx") for i in range(6)]
        items.insert(3, (poisoned, "doc hai.xlsx"))
        results = reader.read(items)
        # the chunk's worker (its answers come a group at a time: which file killed it is not known yet),
        # the worker reading the rest of the chunk with an answer per file, then the lone retry's
        assert reader.deaths == 3
    finally:
        reader.close()
    assert [isinstance(r, UnreadableFile) for r in results] == [False] * 3 + [True] + [False] * 3
    assert str(results[3]) == (
        "Tệp quá lớn hoặc bị hỏng: 'doc hai.xlsx' không đọc được trong giới hạn 768 MB bộ nhớ và 30 giây. "
        "Hãy chép bảng số liệu sang biểu mẫu mới (tệp .xlsx được gửi kèm đề nghị báo cáo) rồi gửi lại.")
    for r in results[:3] + results[4:]:
        assert check_submission(ctx.cfg, parse_grid(r), ctx.period(PERIOD)).values["W01"] == 12


def test_single_read_raises_the_units_message(ctx):
    with pytest.raises(UnreadableFile, match="^Tệp 'mk.xlsx' đang được đặt mật khẩu nên không đọc được"):
        read_grid(encrypted_xlsx(), "mk.xlsx")
