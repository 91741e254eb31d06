"""Copy ../shared/data/facts.csv into the facts section of scenarios/references.yaml.

The assumptions section (figures not found in a source, with the range we
believe) is kept as it is. Run: .venv/bin/python scripts/import_facts.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT.parent / "shared" / "data" / "facts.csv"
OUT = ROOT / "scenarios" / "references.yaml"

HEADER = """\
# Sources of every empirical figure in the scenario files.
#
# facts: copied from shared/data/facts.csv by scripts/import_facts.py (do not edit by hand).
# assumptions: figures not found in a public source: what we assume, the range we
#   believe, and why. Scenario objects cite both through their `sources` maps.
"""


def main() -> int:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else FACTS
    with src.open(newline="", encoding="utf-8") as fh:
        facts = {
            row["id"]: {
                "quantity": row["quantity"],
                "value": row["value"],
                "unit": row["unit"],
                "date": row["date"],
                "title": row["source_title"],
                "url": row["source_url"],
                "confidence": row["confidence"],
            }
            for row in csv.DictReader(fh)
        }
    assumptions = {}
    if OUT.exists():
        assumptions = (yaml.safe_load(OUT.read_text(encoding="utf-8")) or {}).get("assumptions", {})
    body = yaml.safe_dump(
        {"assumptions": assumptions, "facts": facts}, sort_keys=False, allow_unicode=True, width=100
    )
    OUT.write_text(HEADER + body, encoding="utf-8")
    print(f"wrote {len(facts)} facts and kept {len(assumptions)} assumptions in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
