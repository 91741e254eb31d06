"""Write docs/metrics.md (and the KPI table of docs/batch.md) from the declarations.

Run: .venv/bin/python scripts/metrics_page.py [--check]
The page documents the metrics, the KPIs of summary.parquet, the event types, the
agent-state columns and the key columns (abm.runs.catalogue.metrics_page). With --check
nothing is written: exit 1, naming the stale files, if they differ from what would be
written (tests/test_metrics_page.py runs the same comparison).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from abm.runs.catalogue import kpi_markdown, metrics_page

DOCS = Path(__file__).resolve().parents[1] / "docs"
KPI_HEADING = "### KPIs of `summary.parquet`"


def batch_page(text: str) -> str:
    """``docs/batch.md`` with its KPI table replaced by the declared one."""
    head, rest = text.split(KPI_HEADING, 1)
    table = re.compile(r"^\| column \| unit \| meaning \|\n(?:\|.*\|\n)+", re.MULTILINE)
    new, n = table.subn(lambda _: kpi_markdown(), rest, count=1)
    if n != 1:
        raise SystemExit(f"docs/batch.md: no KPI table under {KPI_HEADING!r}")
    return head + KPI_HEADING + new


def pages() -> dict[Path, str]:
    """The generated files and their contents."""
    batch = DOCS / "batch.md"
    return {
        DOCS / "metrics.md": metrics_page(),
        batch: batch_page(batch.read_text(encoding="utf-8")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args()
    stale = []
    for path, text in pages().items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print("stale: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
