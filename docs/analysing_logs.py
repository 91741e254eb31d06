"""Reproduce the README's "Analysing agent logs" examples.

Run from the repository root: .venv/bin/python docs/analysing_logs.py
It runs the baseline (seed 1) into out/logs-example if that folder is not there yet,
then prints the same summaries, queries and trace as the README and writes the HTML
report. Each step is also one `abm logs` command, printed before its output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OUT = Path("out/logs-example")
ABM = str(Path(sys.executable).parent / "abm")

STEPS = [
    ["logs", str(OUT), "summary", "--by", "family"],
    [
        "logs",
        str(OUT),
        "query",
        "SELECT rule, year(date) AS year, sum(quantity) AS denied_units FROM events "
        "WHERE event = 'denial' GROUP BY ALL ORDER BY ALL",
    ],
    [
        "logs",
        str(OUT),
        "query",
        "SELECT agent, min(date) AS paused, count(*) AS episodes FROM events "
        "WHERE event = 'rationing_start' AND family = 'lab' GROUP BY agent ORDER BY paused",
    ],
    ["logs", str(OUT), "trace", "Microsoft Azure", "--at", "2023-11-20"],
    ["logs", str(OUT), "report"],
]


def main() -> None:
    if not (OUT / "manifest.json").exists():
        subprocess.run(
            [ABM, "run", "baseline", "--seed", "1", "--out", str(OUT), "--quiet"], check=True
        )
    for step in STEPS:
        print("$ abm " + " ".join(f'"{a}"' if " " in a else a for a in step), flush=True)
        subprocess.run([ABM, *step], check=True)
        print(flush=True)


if __name__ == "__main__":
    main()
