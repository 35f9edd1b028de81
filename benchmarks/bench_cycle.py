"""Benchmark: collect, validate and consolidate N units' submissions (no Prefect; the per-unit core).

    .venv/bin/python benchmarks/bench_cycle.py --units 500

Writes a synthetic config with N units into a temporary directory, drops one filled workbook per unit in
the inbox, then times the steps the flows run inside their chunked tasks. Speed targets live here, not in
the tests.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from tasks import steps
from tasks.context import open_context
from tasks.samples import BASE, Sample, render_sample

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="baocao-bench-"))
    cfg_dir = work / "config"
    shutil.copytree(ROOT / "config", cfg_dir)
    units = [{"code": f"U{i:04d}", "name": f"Đơn vị số {i}", "emails": [f"u{i}@snv.example.vn"],
              "channel": "folder"} for i in range(args.units)]
    (cfg_dir / "units.yaml").write_text(yaml.safe_dump({"units": units}, allow_unicode=True), encoding="utf-8")
    ctx = open_context(cfg_dir, work / "data")
    ctx.inbox.mkdir(parents=True)
    template = BASE["VP"]

    t0 = time.perf_counter()
    for u in units:
        sample = Sample(f"{u['code']}.xlsx", u["code"], "2021-03", "2021-03-15T09:00", template)
        (ctx.inbox / sample.filename).write_bytes(render_sample(ctx, sample))
    t1 = time.perf_counter()
    docs = steps.folder_documents(ctx, ctx.ledger.known_hashes(ctx.cfg.report.id))
    outcomes = steps.process_documents(ctx, ctx.period("2021-03"), docs)
    t2 = time.perf_counter()
    again = steps.folder_documents(ctx, ctx.ledger.known_hashes(ctx.cfg.report.id))
    t3 = time.perf_counter()
    c = steps.build_consolidation(ctx, ctx.period("2021-03"))
    t4 = time.perf_counter()
    accepted = sum(o.status == "accepted" for o in outcomes)
    print(f"units: {args.units}; accepted: {accepted}; second scan found {len(again)} new files")
    print(f"write workbooks:       {t1 - t0:7.2f} s")
    print(f"read+validate+record:  {t2 - t1:7.2f} s  ({(t2 - t1) / args.units * 1000:.1f} ms per unit)")
    print(f"rescan (nothing new):  {t3 - t2:7.2f} s")
    print(f"consolidate:           {t4 - t3:7.2f} s  (W01 total {c['totals']['W01']})")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
