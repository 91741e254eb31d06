"""A batch's results as one Parquet dataset per table, readable in one call.

Beside ``runs/`` (one folder per run, with its manifest), a batch folder holds
``metrics/``, ``events/`` and ``agents/``: one file per completed run,
``<table>/<run_id>.parquet``, and nothing else (no manifest inside the data). Every
file of a table has the same columns and types, starting with ``run_id, scenario,
seed`` (events gain ``scenario`` and ``seed``, which the run's own events file does
not carry), so a whole batch reads in one call::

    pd.read_parquet(out / "metrics")
    pyarrow.dataset.dataset(out / "events")
    duckdb.sql(f"SELECT * FROM read_parquet('{out}/agents/*.parquet')")

Each column carries its meaning (and unit, where it has one) as Arrow field metadata
(``meaning``, ``unit``); the metrics table's schema metadata ``abm.metrics`` holds the
declared metrics (unit, scope and meaning by name) and the events table's
``abm.event_types`` every event type's meaning, both JSON. The files are rewritten from
``runs/`` whenever the batch finishes, stops or resumes (:func:`write_datasets`), so a
failed, damaged or rerun run never leaves a stale file behind.
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
from abm.runs.outputs import atomic_write, clean_stale_temporaries, read_manifest

DATASET_TABLES = ("metrics", "events", "agents")
"""The tables written as datasets (each a folder of the batch)."""

COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "run_id": ("", "run id: SCENARIO[-pNNN]-sSEED (pNNN: the design point)"),
    "scenario": ("", "the scenario's name"),
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
"""Unit and meaning of the columns the tables share (agent-state columns have none)."""


def _documented(table: pa.Table, name: str) -> pa.Table:
    fields = []
    for field in table.schema:
        unit, meaning = COLUMN_DOCS.get(field.name, ("", ""))
        meta = {k: v for k, v in (("unit", unit), ("meaning", meaning)) if v}
        fields.append(field.with_metadata(meta) if meta else field)
    schema_meta: dict[str, str] = {"abm.table": name}
    if name == "metrics":
        schema_meta["abm.metrics"] = json.dumps(
            {m.name: {"unit": m.unit, "scope": m.scope, "meaning": m.description} for m in METRICS}
        )
    if name == "events":
        schema_meta["abm.event_types"] = json.dumps(dict(EVENT_TYPES))
    return table.cast(pa.schema(fields, metadata=schema_meta))


def _with_keys(table: pa.Table, manifest: dict[str, Any]) -> pa.Table:
    """``table`` with ``run_id, scenario, seed`` first (added where the run lacks them)."""
    n = table.num_rows
    keys = {
        "run_id": table.column("run_id"),
        "scenario": (
            table.column("scenario")
            if "scenario" in table.column_names
            else pa.array([str(manifest["scenario"])] * n, pa.string())
        ),
        "seed": (
            table.column("seed")
            if "seed" in table.column_names
            else pa.array([int(manifest["seed"])] * n, pa.int64())
        ),
    }
    rest = {c: table.column(c) for c in table.column_names if c not in keys}
    return pa.table({**keys, **rest})


def _writer(table: pa.Table) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)

    return write


def write_datasets(out: Path, run_ids: list[str], runs_dir: str = "runs") -> None:
    """Write (or bring up to date) ``out/<table>/<run_id>.parquet`` for the given runs.

    A dataset file is rewritten when it is older than its run's file; files of runs
    not in ``run_ids`` (failed, removed) are deleted.

    Args:
        out: The batch folder.
        run_ids: The completed runs (their folders ``out/runs/run_id=<id>/`` are read).
        runs_dir: The folder of the run folders inside ``out``.
    """
    for name in DATASET_TABLES:
        folder = out / name
        folder.mkdir(exist_ok=True)
        clean_stale_temporaries(folder)
        wanted = set()
        for run_id in run_ids:
            run = out / runs_dir / f"run_id={run_id}"
            src, dst = run / f"{name}.parquet", folder / f"{run_id}.parquet"
            manifest = read_manifest(run)
            if manifest is None or not src.is_file():
                continue  # not a complete run folder: no dataset file
            wanted.add(dst.name)
            if dst.exists() and dst.stat().st_mtime_ns >= src.stat().st_mtime_ns:
                continue
            table = _documented(_with_keys(pq.ParquetFile(src).read(), manifest), name)
            atomic_write(dst, _writer(table))
        for old in folder.glob("*.parquet"):
            if old.name not in wanted:
                old.unlink()
