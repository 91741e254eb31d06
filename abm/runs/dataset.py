"""A batch's results as one hive-partitioned Parquet dataset per table, read in one call.

Beside ``runs/`` (one folder per run, with its manifest), a batch folder holds
``metrics/``, ``events/`` and ``agents/``, each partitioned by scenario: one file per
completed run, ``<table>/scenario=<NAME>/<run_id>.parquet``, and nothing else (no
manifest inside the data). The scenario is the partition key, so it is *not* a column
of the files (pandas and pyarrow refuse a partition key that is also a file column of
another type); every file of a table has the same columns and types, starting with
``run_id, seed`` (int64), and every reader below adds ``scenario`` (a string; a pandas
categorical) as the last column, so a whole batch reads in one call::

    pd.read_parquet(out / "metrics")
    pyarrow.dataset.dataset(out / "events", partitioning="hive")
    duckdb.sql(f"SELECT * FROM read_parquet('{out}/agents/**/*.parquet', hive_partitioning=true)")
    polars.read_parquet(out / "metrics")  # or polars.scan_parquet

The seed stays in the files (a ``seed=N`` partition would read as int32 in pyarrow,
int64 in DuckDB and polars, and a categorical in pandas). Scenario names are
``[A-Za-z0-9_-]+``, safe as folder names; a batch whose scenario names are all digits
would read ``scenario`` as a number (the readers infer partition types).

Each column carries its meaning (and unit, where it has one) as Arrow field metadata
(``meaning``, ``unit``); the schema metadata holds ``abm.partitioning`` (``scenario``)
and, for the metrics table, ``abm.metrics`` (the declared metrics: unit, scope and
meaning by name), for the events table ``abm.event_types`` (every event type's
meaning) and for the agents table ``abm.agent_state`` (each state column's unit and
meaning), all JSON. The files are rewritten from ``runs/`` whenever the batch finishes,
stops or resumes (:func:`write_datasets`), so a failed, damaged or rerun run never
leaves a stale file behind (nor does a batch written before this layout: its
``<table>/<run_id>.parquet`` files are replaced on resume).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from abm.engine.events import EVENT_TYPES
from abm.engine.metrics import METRICS
from abm.engine.statelog import AGENT_STATE
from abm.runs.outputs import atomic_write, clean_stale_temporaries, read_manifest

DATASET_TABLES = ("metrics", "events", "agents")
"""The tables written as datasets (each a folder of the batch)."""

COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "run_id": ("", "run id: SCENARIO[-pNNN]-sSEED (pNNN: the design point)"),
    "scenario": ("", "the scenario's name (the partition key: scenario=NAME folders)"),
    "seed": ("", "the run's seed"),
    "step": ("week", "week number from 0"),
    "date": ("", "the week's calendar date (a Monday)"),
    "name": ("", "metric name (schema metadata abm.metrics: unit, scope and meaning)"),
    "scope": ("", "what the value is of: a vendor, product, region, agent... (see name)"),
    "value": ("see name", "the metric's value, in the unit of its name"),
    "agent": ("", "the firm (or government) the row is about"),
    "family": ("", "the agent's family: foundry, vendor, cloud, lab..."),
    "region": ("", "the agent's region: US, CN or ROW"),
    "event": ("", "event type (schema metadata abm.event_types: each type's meaning)"),
    "counterparty": ("", "the other firm of the event, if any"),
    "product": ("", "the product concerned, if any"),
    "quantity": ("units", "how many units (or stacks, wafers, H100e) the event moved"),
    "price_usd": ("USD/unit", "price of the event's units, if any"),
    "rule": ("", "the export-control rule concerned, if any"),
    "detail": ("", "the event's other facts, as text"),
}
"""Unit and meaning of the key and event columns (agent-state columns: :data:`STATE_DOCS`)."""

STATE_DOCS: dict[str, tuple[str, str]] = {c.name: (c.unit, c.meaning) for c in AGENT_STATE}
"""Unit and meaning of the agents table's state columns (from :data:`AGENT_STATE`)."""


PARTITION = "scenario"
"""The partition key: ``<table>/scenario=<NAME>/`` (a folder, not a column of the files)."""


def _documented(table: pa.Table, name: str) -> pa.Table:
    fields = []
    for field in table.schema:
        docs = STATE_DOCS if name == "agents" and field.name in STATE_DOCS else COLUMN_DOCS
        unit, meaning = docs.get(field.name, ("", ""))
        meta = {k: v for k, v in (("unit", unit), ("meaning", meaning)) if v}
        fields.append(field.with_metadata(meta) if meta else field)
    schema_meta: dict[str, str] = {"abm.table": name, "abm.partitioning": PARTITION}
    if name == "metrics":
        schema_meta["abm.metrics"] = json.dumps(
            {m.name: {"unit": m.unit, "scope": m.scope, "meaning": m.description} for m in METRICS}
        )
    if name == "events":
        schema_meta["abm.event_types"] = json.dumps(dict(EVENT_TYPES))
    if name == "agents":
        schema_meta["abm.agent_state"] = json.dumps(
            {c.name: {"unit": c.unit, "meaning": c.meaning} for c in AGENT_STATE}
        )
    return table.cast(pa.schema(fields, metadata=schema_meta))


def _with_keys(table: pa.Table, manifest: dict[str, Any]) -> pa.Table:
    """``table`` with ``run_id, seed`` first and without ``scenario`` (its folder holds it).

    The seed is added where the run's file lacks it (events).
    """
    seed = (
        table.column("seed")
        if "seed" in table.column_names
        else pa.array([int(manifest["seed"])] * table.num_rows, pa.int64())
    )
    keys = {"run_id": table.column("run_id"), "seed": seed}
    rest = {c: table.column(c) for c in table.column_names if c not in (*keys, PARTITION)}
    return pa.table({**keys, **rest})


def _writer(table: pa.Table) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)

    return write


def dataset_file(out: Path, table: str, scenario: str, run_id: str) -> Path:
    """Where a run's rows of ``table`` go: ``out/<table>/scenario=<scenario>/<run_id>.parquet``."""
    return out / table / f"{PARTITION}={scenario}" / f"{run_id}.parquet"


def write_datasets(out: Path, run_ids: list[str], runs_dir: str = "runs") -> None:
    """Write (or bring up to date) ``out/<table>/scenario=<NAME>/<run_id>.parquet``.

    A dataset file is rewritten when it is older than its run's file; files of runs
    not in ``run_ids`` (failed, removed), files of the layout before the partitions
    (``<table>/<run_id>.parquet``) and partition folders left empty are deleted.

    Args:
        out: The batch folder.
        run_ids: The completed runs (their folders ``out/runs/run_id=<id>/`` are read).
        runs_dir: The folder of the run folders inside ``out``.
    """
    for name in DATASET_TABLES:
        folder = out / name
        folder.mkdir(exist_ok=True)
        clean_stale_temporaries(folder)
        for part in folder.glob(f"{PARTITION}=*"):
            if part.is_dir():
                clean_stale_temporaries(part)
        wanted: set[Path] = set()
        for run_id in run_ids:
            run = out / runs_dir / f"run_id={run_id}"
            src = run / f"{name}.parquet"
            manifest = read_manifest(run)
            if manifest is None or not src.is_file():
                continue  # not a complete run folder: no dataset file
            dst = dataset_file(out, name, str(manifest["scenario"]), run_id)
            wanted.add(dst)
            if dst.exists() and dst.stat().st_mtime_ns >= src.stat().st_mtime_ns:
                continue
            dst.parent.mkdir(exist_ok=True)
            table = _documented(_with_keys(pq.ParquetFile(src).read(), manifest), name)
            atomic_write(dst, _writer(table))
        for old in [*folder.glob("*.parquet"), *folder.glob(f"{PARTITION}=*/*.parquet")]:
            if old not in wanted:
                old.unlink()
        for part in folder.glob(f"{PARTITION}=*"):
            if part.is_dir() and not any(part.iterdir()):
                part.rmdir()
