"""Median wall time of the baseline run, simulation alone and with its files written.

Run: .venv/bin/python bench/baseline_time.py [--runs 5] [--seed 1]
Prints one line per run and the medians. A benchmark, not a test: the numbers
depend on the machine and on what else it is doing.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from abm.engine.model import SupplyChainModel
from abm.runs.outputs import write_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sim, total = [], []
    for i in range(args.runs):
        t0 = time.perf_counter()
        model = SupplyChainModel.from_scenario("baseline", seed=args.seed)
        model.run()
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            write_run(model, Path(d), datetime.now(UTC))
        t2 = time.perf_counter()
        sim.append(t1 - t0)
        total.append(t2 - t0)
        print(
            f"run {i + 1}: build+simulate {t1 - t0:.3f} s, with files {t2 - t0:.3f} s "
            f"({model.steps} weeks, {len(model.events)} events)"
        )
    print(
        f"median of {args.runs}: build+simulate {statistics.median(sim):.3f} s, "
        f"with files {statistics.median(total):.3f} s  "
        f"[{platform.python_version()}, {platform.machine()}, {platform.processor() or 'cpu'}]"
    )


if __name__ == "__main__":
    main()
