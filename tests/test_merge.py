"""Consolidation numbers on the bundled sample months (known data)."""

from tasks.collect import process_documents
from tasks.consolidate import build_consolidation
from tasks.samples import drop_samples
from tests.helpers import folder_documents, mark_delivered


def _collect(ctx, key):
    drop_samples(ctx, key)
    docs = folder_documents(ctx, ctx.ledger.known_hashes(ctx.cfg.report.id))
    return process_documents(ctx, ctx.period(key), docs)


def test_march_consolidation(ctx):
    _collect(ctx, "2021-02")
    mark_delivered(ctx, "2021-02")
    _collect(ctx, "2021-03")
    c = build_consolidation(ctx, ctx.period("2021-03"))
    assert c["period"] == {"key": "2021-03", "kind": "month", "label": "tháng 3 năm 2021",
                           "cutoff_start": "2021-02-15", "cutoff_end": "2021-03-14",
                           "unit_deadline": "2021-03-16", "report_deadline": "2021-03-18",
                           "next_label": "tháng 4 năm 2021"}
    # W01: VP 12 + TTr 3 + TCBC 4 + CCHC 9 + XDCQ 2 + CCVC 5 (resubmitted, not 4) + VTLT 3
    assert c["totals"]["W01"] == 38
    assert c["totals"]["H01"] == 6 and c["totals"]["H02"] == 460 and c["totals"]["C01"] == 118
    assert c["previous"]["period"] == "2021-02" and c["previous"]["totals"]["W01"] == 33
    assert c["year_to_date"]["W01"] == 71  # February 33 + March 38 (January was never collected)
    assert c["year_to_date"]["C01"] == 118  # a level: March's 118 procedures on display, not 94 + 118 = 212
    assert c["year_to_date_basis"] == {"periods": ["2021-02", "2021-03"], "missing": ["2021-01"],
                                       "missing_labels": ["tháng 1 năm 2021"], "from_label": "tháng 2/2021",
                                       "shown": True}
    # February had 9 units, March 7: the change is computed on the 7 that reported in both
    cmp = c["comparison"]
    assert cmp["units"] == ["VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "VTLT"] and cmp["same_units"] is False
    assert c["previous"]["accepted_count"] == 9 and c["previous"]["totals"]["CDG"] == 12
    assert (c["totals"]["CDG"], cmp["previous"]["CDG"], cmp["change"]["CDG"]) == (11, 10, 1)
    comp = c["completeness"]
    assert comp["expected"] == ["VP", "TTr", "TCBC", "CCHC", "XDCQ", "CCVC", "TĐKT", "BTG", "VTLT"]
    assert comp["on_time"] == ["VP", "TTr", "TCBC", "CCHC", "CCVC", "VTLT"]
    assert comp["late"] == ["XDCQ"]
    assert comp["missing"] == ["TĐKT", "BTG"] and comp["rejected"] == ["TĐKT"]
    assert (comp["accepted_count"], comp["reporting_rate"], comp["on_time_rate"]) == (7, 0.778, 0.667)
    assert comp["received_at"]["XDCQ"] == "2021-03-19T09:00:00+07:00"
    assert c["values_by_unit"]["CCVC"]["W01"] == 5
    assert c["values_by_unit"]["TTr"]["W01"] == 3  # typed " 3 "
    assert [r["unit"] for r in c["rejected"]] == ["CCHC", "TĐKT", None]
    assert {e["code"] for e in c["rejected"][0]["errors"]} == {"W01", "H02", "K02"}
    assert [n["unit"] for n in c["narratives"]["N03"]] == ["VP", "TCBC", "CCHC", "VTLT"]
    assert c["narratives"]["N01"][-1]["text"] == "Số hóa hồ sơ lưu trữ phục vụ giải quyết thủ tục hành chính."
    assert c["recipients"][0] == "Ủy ban nhân dân tỉnh (báo cáo);"
    assert c["signer"] == {"authority": "KT. GIÁM ĐỐC", "title": "PHÓ GIÁM ĐỐC", "name": "Bàng Quốc Việt"}


def test_no_submissions_gives_zero_totals_and_all_missing(ctx):
    c = build_consolidation(ctx, ctx.period("2021-03"))
    assert set(c["totals"].values()) == {0}
    assert c["completeness"]["missing_count"] == 9 and c["completeness"]["reporting_rate"] == 0.0
    assert c["previous"] is None and c["comparison"] is None
    # January and February were never collected: March alone is not called year-to-date
    assert c["year_to_date"] == {} and c["year_to_date_basis"]["shown"] is False


def test_the_consolidation_json_is_laid_out_as_json_dumps_writes_it_whatever_the_values():
    import json
    from datetime import date

    import pytest

    from tasks.outputs import json_bytes
    from tests.sample_consolidation import sample_consolidation

    c = sample_consolidation()
    c["values_by_unit"]["VP"]["ghi_chu"] = "Dòng một\nDòng hai \"trích\" \u2028 \\ \x07 😀"
    expected = json.dumps(c, ensure_ascii=False, indent=2).encode("utf-8")
    assert json_bytes(c) == expected
    assert json_bytes({}) == b"{}" and json_bytes([]) == b"[]" and json_bytes({"a": []}) == b'{\n  "a": []\n}'
    for odd in ({1: "khóa số"}, {"lớn": 2 ** 70}):  # not orjson's: written by json, as before
        assert json_bytes(odd) == json.dumps(odd, ensure_ascii=False, indent=2).encode("utf-8")
    with pytest.raises(TypeError):  # a date is not JSON: refused as json refuses it, never written its own way
        json_bytes({"ngày": date(2021, 3, 15)})


def test_the_consolidation_json_reads_back_as_written_whichever_encoder_wrote_it(ctx, tmp_path):
    from tasks.outputs import read_json, write_json
    from tests.sample_consolidation import sample_consolidation

    period = ctx.period("2021-03")
    c = sample_consolidation()
    c["values_by_unit"]["VP"]["ghi_chu"] = "Dòng một\nDòng hai \"trích\" \u2028 \\ \x07 😀"
    for data in (c, {"lớn": 2 ** 70, "nhỏ": -(2 ** 70), "số": [1.5, 0.1]}):  # 2**70: json's to write and read
        write_json(ctx, period, data, tmp_path)
        assert read_json(ctx, period, tmp_path) == data


def _province(config_dir, n: int):
    from tasks.config import Unit, load_config

    cfg = load_config(config_dir)
    return cfg.model_copy(update={"units": [Unit(code=f"X{i:04d}", name=f"Xã số {i}") for i in range(n)]})


def test_a_partial_share_of_units_never_reads_as_100_or_0_percent(config_dir):
    """2.999 of 3.000 units reported, one of them on time: not 'tỷ lệ 100%' with a unit missing, nor
    'tỷ lệ đúng hạn 0%' with a unit on time, in the JSON or in the report."""
    from datetime import UTC, datetime

    from tasks.merge import UnitReport, consolidate
    from tasks.periods import parse_period
    from tasks.render import prose

    cfg = _province(config_dir, 3000)
    at = datetime(2021, 3, 15, 2, tzinfo=UTC)
    reports = [UnitReport(u.code, at, i == 0, {}) for i, u in enumerate(cfg.units[:-1])]
    c = consolidate(cfg, parse_period("2021-03"), reports, [], generated_at=at)
    comp = c["completeness"]
    assert (comp["reporting_rate"], comp["on_time_rate"]) == (0.999, 0.001)
    text = prose.completeness_paragraphs(c)[0].text
    assert ("Số cơ quan, đơn vị đã gửi báo cáo hợp lệ: 2.999/3.000 (tỷ lệ 99,9%), trong đó đúng hạn 1 đơn vị, "
            "muộn 2.998 đơn vị (tỷ lệ đúng hạn 0,1%).") in text
