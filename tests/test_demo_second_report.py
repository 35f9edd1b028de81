"""`baocao demo` runs the second report (cchc-ket-qua, 2021-Q1) from its YAML alone, through the real flows."""

import json
import os

import pytest
from docx import Document as Docx
from typer.testing import CliRunner

from tasks.context import open_context
from tasks.samples import generated_samples

pytestmark = pytest.mark.slow


def test_demo_runs_the_second_report_for_the_first_quarter(prefect_engine, config_dir, tmp_path, monkeypatch):
    from flows.cli import app

    monkeypatch.delenv("BAOCAO_REPORT", raising=False)
    out, data = tmp_path / "out", tmp_path / "demo-data"
    res = CliRunner().invoke(app, ["--config", str(config_dir), "demo", "--out", str(out), "--data-dir", str(data)],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "BAOCAO_REPORT" not in os.environ  # the demo leaves the selected report as it found it

    # the first report's March outputs are what they always were
    march = json.loads((out / "cchc-tuyen-truyen-2021-03.json").read_text(encoding="utf-8"))
    assert march["totals"]["W01"] == 38

    # the second report: every unit's generated file accepted, totals = the sum of the sample values
    second_dir = tmp_path / "demo-data-cchc-ket-qua"
    monkeypatch.setenv("BAOCAO_REPORT", "cchc-ket-qua")
    ctx = open_context(config_dir, second_dir)
    samples = generated_samples(ctx, "2021-Q1")
    assert len(samples) == len(ctx.cfg.active_units) == 9
    subs = ctx.ledger.submissions("cchc-ket-qua", "2021-Q1")
    assert sorted((s.unit_code, s.status, s.on_time) for s in subs) == sorted(
        (s.unit, "accepted", True) for s in samples)
    result = json.loads((out / "cchc-ket-qua-2021-Q1.json").read_text(encoding="utf-8"))
    integers = [i.code for i in ctx.cfg.report.indicators if i.type == "integer"]
    expected = {code: sum(s.values[code] for s in samples) for code in integers}
    assert {code: result["totals"][code] for code in integers} == expected
    assert expected["TH02"] > 0 and expected["TH01"] > 0  # counts and levels both present
    assert result["completeness"]["accepted_count"] == 9 and result["completeness"]["missing"] == []

    docx = out / "cchc-ket-qua-2021-Q1.docx"
    assert docx.is_file() and (out / "cchc-ket-qua-2021-Q1.xlsx").is_file()
    text = "\n".join(p.text for p in Docx(str(docx)).paragraphs)
    assert "KẾT QUẢ THỰC HIỆN CÔNG TÁC CẢI CÁCH HÀNH CHÍNH" in text.upper()
    # where its outputs are is printed
    printed = " ".join(res.output.split())
    assert "cchc-ket-qua-2021-Q1.docx" in printed and "Đã báo cáo 9/9 đơn vị" in printed

    # its requests went out under its own tag; the first report's data dir holds none of its submissions
    requests = list((ctx.outbox / "2021-Q1" / "request").glob("*.eml"))
    assert len(requests) == 9
    first = open_context(config_dir, data)
    assert first.ledger.submissions("cchc-ket-qua", "2021-Q1") == []
