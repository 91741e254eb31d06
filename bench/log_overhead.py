"""What writing the event log costs: baseline runs with the event log on and off.

Run: .venv/bin/python bench/log_overhead.py [--runs 5]
Prints median times (build + simulate, and with the Parquet files written) and the
number of event rows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from abm.engine.model import SupplyChainModel
from abm.runs.outputs import write_run
from abm.scenario import load_scenario


def measure(log_events: bool, runs: int) -> tuple[float, float, int]:
    spec = load_scenario("baseline")
    sim, total, rows = [], [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        m = SupplyChainModel(spec, seed=1, log_events=log_events).run()
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            write_run(m, Path(d), datetime.now(UTC))
        total.append(time.perf_counter() - t0)
        sim.append(t1 - t0)
        rows = len(m.events)
    return statistics.median(sim), statistics.median(total), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    on = measure(True, args.runs)
    off = measure(False, args.runs)
    print(f"event log on : simulate {on[0]:.3f} s, with files {on[1]:.3f} s, {on[2]:,} rows")
    print(f"event log off: simulate {off[0]:.3f} s, with files {off[1]:.3f} s, {off[2]:,} rows")
    print(f"overhead: {100 * (on[1] / off[1] - 1):.1f}% of the run with files")


if __name__ == "__main__":
    main()
