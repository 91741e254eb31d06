"""How fast log queries answer on a large batch: N copies of a baseline run.

Run: .venv/bin/python bench/logs_scale.py [--runs 1000] [--dir /tmp/abm-logs-bench]
Builds (once; reused if present) a batch folder of N runs — one real baseline run
whose tables are rewritten N times with distinct run ids and seeds — then times
`abm.analysis.logs.connect`, `summary` and two typical queries, and prints row counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from abm.analysis.logs import connect, query, summary
from abm.engine.model import SupplyChainModel
from abm.runs.outputs import prepare_out_dir, write_run

TABLES = ("metrics.parquet", "events.parquet", "agents.parquet")
DENIED_BY_RULE_AND_YEAR = (
    "SELECT rule, year(date) AS year, sum(quantity) AS units, count(DISTINCT run_id) AS runs "
    "FROM events WHERE event = 'denial' GROUP BY ALL ORDER BY ALL"
)
MEAN_CN_COMPUTE = (
    "SELECT avg(value) FROM metrics WHERE name = 'compute_stock_h100e' AND scope = 'CN' "
    "AND date = DATE '2026-12-28'"
)


def build(folder: Path, runs: int) -> None:
    marker = folder / f".complete-{runs}"
    if marker.exists():
        return
    if folder.exists():
        shutil.rmtree(folder)
    source = folder / "source"
    prepare_out_dir(source)
    write_run(SupplyChainModel.from_scenario("baseline", seed=1).run(), source, datetime.now(UTC))
    tables = {name: pq.read_table(source / name) for name in TABLES}
    manifest = json.loads((source / "manifest.json").read_text())
    shutil.rmtree(source)
    for i in range(runs):
        run_id = f"baseline-bench-{i:04d}"
        out = folder / "runs" / run_id
        out.mkdir(parents=True)
        for name, t in tables.items():
            ids = pa.array([run_id] * t.num_rows, pa.string())
            t2 = t.set_column(t.schema.get_field_index("run_id"), "run_id", ids)
            if "seed" in t2.column_names:
                seeds = pa.array([i] * t.num_rows, pa.int64())
                t2 = t2.set_column(t2.schema.get_field_index("seed"), "seed", seeds)
            pq.write_table(t2, out / name, compression="zstd")
        (out / "manifest.json").write_text(json.dumps({**manifest, "run_id": run_id, "seed": i}))
    marker.touch()


def timed(label: str, fn) -> None:
    t0 = time.perf_counter()
    result = fn()
    print(f"{label}: {time.perf_counter() - t0:.2f} s ({result})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/abm-logs-bench"))
    args = ap.parse_args()
    folder = args.dir / f"n{args.runs}"
    t0 = time.perf_counter()
    build(folder, args.runs)
    print(f"batch of {args.runs} runs ready in {time.perf_counter() - t0:.1f} s: {folder}")
    t0 = time.perf_counter()
    con = connect(folder)
    print(f"connect: {time.perf_counter() - t0:.2f} s")
    for view in ("events", "metrics", "agents"):
        timed(
            f"count {view}",
            lambda v=view: f"{con.execute(f'SELECT count(*) FROM {v}').fetchall()[0][0]:,} rows",
        )
    timed("summary by family", lambda: f"{len(summary(con, 'family').fetchall())} rows")
    timed(
        "denied units by rule and year across runs",
        lambda: f"{len(query(con, DENIED_BY_RULE_AND_YEAR).fetchall())} rows",
    )
    timed(
        "mean end-of-2026 China compute across runs",
        lambda: f"{query(con, MEAN_CN_COMPUTE).fetchall()[0][0]:,.0f} H100e",
    )


if __name__ == "__main__":
    main()
