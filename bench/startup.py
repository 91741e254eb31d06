"""Start-up time of the light commands: ``abm scenarios list`` and ``abm --help``.

Issue 19's target: ``abm scenarios list`` answers in at most 0.3 s (median). The
console command answers it without building the Typer app (``abm.__main__.main``);
``abm --help`` goes through the app and is shown for comparison.

    .venv/bin/python bench/startup.py [--runs 15] [--warmup 3] [--json FILE]

Uses ``hyperfine -N`` when it is installed, else a Python loop of the same runs.
Prints each command's median, min and max in seconds. A measurement, not a test: it
depends on the machine and on what else runs on it (tests/cli/test_fast_list.py checks
the fast path prints what the full app prints).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ABM = Path(sys.executable).parent / "abm"
COMMANDS = {
    "scenarios_list": [str(ABM), "scenarios", "list"],
    "help": [str(ABM), "--help"],
}
TARGETS = {"scenarios_list": 0.3}
"""Median seconds at most."""


def _hyperfine(cmd: list[str], runs: int, warmup: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "h.json"
        subprocess.run(
            ["hyperfine", "-N", "-w", str(warmup), "-r", str(runs), "--export-json", str(out),
             " ".join(cmd)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return list(json.loads(out.read_text())["results"][0]["times"])


def _loop(cmd: list[str], runs: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def measure(runs: int = 15, warmup: int = 3) -> dict[str, dict[str, float | str | bool]]:
    """``{command: {median_s, min_s, max_s, tool, target_s?, ok?}}``."""
    tool = "hyperfine" if shutil.which("hyperfine") else "python"
    result: dict[str, dict[str, float | str | bool]] = {}
    for name, cmd in COMMANDS.items():
        times = (_hyperfine if tool == "hyperfine" else _loop)(cmd, runs, warmup)
        row: dict[str, float | str | bool] = {
            "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4),
            "max_s": round(max(times), 4),
            "runs": runs,
            "tool": tool,
        }
        if name in TARGETS:
            row["target_s"] = TARGETS[name]
            row["ok"] = statistics.median(times) <= TARGETS[name]
        result[name] = row
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    result = measure(args.runs, args.warmup)
    for name, row in result.items():
        target = ""
        if "target_s" in row:
            target = f"  (target <= {row['target_s']} s: {'ok' if row['ok'] else 'MISSED'})"
        print(
            f"abm {' '.join(COMMANDS[name][1:]):16} median {row['median_s']:.3f} s, "
            f"range {row['min_s']:.3f}-{row['max_s']:.3f} s over {row['runs']} runs "
            f"({row['tool']}){target}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
