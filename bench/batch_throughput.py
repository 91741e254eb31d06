"""Runs per minute of 5-year baseline runs: 1 and 2 local workers, Dask, mesa.batch_run.

Run: .venv/bin/python bench/batch_throughput.py [--runs 8]
Each configuration runs the same N baseline runs (seeds 1..N, 261 weeks) into a fresh
temporary folder and reports wall time, runs per minute and parallel efficiency
(runs/min with 2 workers / (2 x runs/min with 1)).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import mesa

from abm.runs.batch import BatchSpec, run_batch
from abm.runs.mesa_compat import BatchRunModel


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    args = ap.parse_args()
    n = args.runs
    spec = BatchSpec(scenarios=["baseline"], seeds=n)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for label, kw in [
            ("abm batch, 1 worker (in-process)", {"workers": 1}),
            ("abm batch, 2 local workers", {"workers": 2}),
            ("abm batch, Dask local cluster, 2 workers", {"workers": 2, "engine": "dask"}),
        ]:
            out = Path(d) / label.replace(" ", "_").replace(",", "")
            rows.append((label, timed(lambda out=out, kw=kw: run_batch(spec, out, **kw))))
        for procs in (1, 2):
            rows.append(
                (
                    f"mesa.batch_run, {procs} process(es) (no files written)",
                    timed(
                        lambda p=procs: mesa.batch_run(
                            BatchRunModel,
                            parameters={"scenario": "baseline"},
                            rng=list(range(1, n + 1)),
                            number_processes=p,
                            data_collection_period=-1,
                            max_steps=1000,
                            display_progress=False,
                        )
                    ),
                )
            )
    base = rows[0][1]
    print(f"{n} baseline runs (261 weeks each) on {os.cpu_count()} cores:\n")
    print("| configuration | wall time (s) | runs/min | speed-up vs 1 worker |")
    print("|---|---|---|---|")
    for label, t in rows:
        print(f"| {label} | {t:.1f} | {60 * n / t:.1f} | {base / t:.2f}x |")
    print(
        f"\nparallel efficiency, 2 local workers: {base / rows[1][1] / 2:.0%}; "
        f"Dask 2 workers: {base / rows[2][1] / 2:.0%}"
    )


if __name__ == "__main__":
    main()
