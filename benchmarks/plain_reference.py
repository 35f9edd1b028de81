"""The plain single-process reference for issue 10: what reading N unit workbooks costs without baocao.

    python benchmarks/plain_reference.py <inbox> <integer codes, comma separated> <out.json>

python-calamine reads each workbook's first sheet, the labelled cells are found ('Mã đơn vị', the header
row with 'Mã' and 'Số liệu'), integer indicators are validated (whole numbers >= 0), accepted units are
summed and the totals written as JSON. No ledger, no Prefect: the floor baocao's per-unit cost is held to.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from python_calamine import CalamineWorkbook


def read_unit(path: Path) -> tuple[str | None, dict[str, object]]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    unit, header, values = None, None, {}
    for row in rows:
        if header is None:
            if row and row[0] == "Mã đơn vị" and len(row) > 1:
                unit = str(row[1]).strip()
            if "Mã" in row and "Số liệu" in row:
                header = (row.index("Mã"), row.index("Số liệu"))
            continue
        code = row[header[0]]
        if code:
            values[str(code).strip()] = row[header[1]]
    return unit, values


def main() -> None:
    inbox, codes, out = Path(sys.argv[1]), sys.argv[2].split(","), Path(sys.argv[3])
    totals = dict.fromkeys(codes, 0)
    accepted, rejected = [], []
    for path in sorted(inbox.glob("*.xlsx")):
        unit, values = read_unit(path)
        numbers = {}
        for code in codes:
            v = values.get(code)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 and float(v).is_integer():
                numbers[code] = int(v)
        if unit and len(numbers) == len(codes):
            accepted.append(unit)
            for code, v in numbers.items():
                totals[code] += v
        else:
            rejected.append(path.name)
    out.write_text(json.dumps({"accepted": len(accepted), "rejected": rejected, "totals": totals},
                              ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
