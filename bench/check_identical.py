"""Check that optimisations leave every run's outputs unchanged.

Run once on untouched code to save reference outputs, then after each change
to compare (exit status 1 on any difference):

    .venv/bin/python bench/check_identical.py --save /tmp/perf-ref
    .venv/bin/python bench/check_identical.py --compare /tmp/perf-ref

Every library scenario (``abm scenarios list``) with seeds 1 and 2 (``--seeds``)
is run in-process and its ``metrics``, ``events`` and ``agents`` Parquet files
are compared as Arrow tables: same schema, same rows in the same order, same
values exactly (floats bit for bit). The manifest holds times and is skipped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from abm.engine.model import SupplyChainModel
from abm.runs.outputs import write_run
from abm.scenario import library_names

TABLES = ("metrics.parquet", "events.parquet", "agents.parquet")


def write_model(model: SupplyChainModel, out: Path) -> None:
    """Write a run model's files into ``out`` with a fixed start time (comparable bytes)."""
    out.mkdir(parents=True, exist_ok=True)
    write_run(model, out, datetime(2000, 1, 1, tzinfo=UTC))


def run_into(name: str, seed: int, out: Path) -> None:
    """Run a library scenario and write its files into ``out``."""
    model = SupplyChainModel.from_scenario(name, seed=seed)
    model.run()
    write_model(model, out)


def compare(ref: Path, new: Path) -> list[str]:
    """Differences between two run folders' tables (empty when identical)."""
    problems = []
    for f in TABLES:
        a, b = pq.read_table(ref / f), pq.read_table(new / f)
        if a.schema != b.schema:
            problems.append(f"{f}: schema differs")
        elif a.num_rows != b.num_rows:
            problems.append(f"{f}: {a.num_rows} rows vs {b.num_rows}")
        elif not a.equals(b):
            for col in a.column_names:
                if not a.column(col).equals(b.column(col)):
                    x, y = a.column(col).to_pylist(), b.column(col).to_pylist()
                    i = next(i for i, (u, v) in enumerate(zip(x, y, strict=True)) if u != v)
                    problems.append(f"{f}: column {col} first differs at row {i}: {x[i]} vs {y[i]}")
                    break
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save", type=Path, help="folder to write reference outputs into")
    mode.add_argument("--compare", type=Path, help="folder of reference outputs")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--scenarios", nargs="+", default=None, help="default: every library one")
    args = ap.parse_args()
    names = args.scenarios or library_names()
    failed = 0
    for name in names:
        for seed in args.seeds:
            tag = f"{name}-s{seed}"
            if args.save:
                run_into(name, seed, args.save / tag)
                print(f"saved    {tag}")
                continue
            with tempfile.TemporaryDirectory() as d:
                run_into(name, seed, Path(d) / tag)
                problems = compare(args.compare / tag, Path(d) / tag)
            failed += bool(problems)
            print(f"{'DIFFERS ' if problems else 'identical'} {tag}")
            for p in problems:
                print(f"    {p}")
    if args.compare:
        print(f"{failed} of {len(names) * len(args.seeds)} runs differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
