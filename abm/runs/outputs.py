"""Run outputs: tidy Parquet tables and a manifest, written atomically.

Every file is written to a temporary name in the output folder and renamed
into place, so a reader never sees a half-written file; the manifest is
written last, so a folder with a ``manifest.json`` whose status is
``completed`` holds a complete run.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

FILES = ("metrics.parquet", "events.parquet", "agents.parquet", "manifest.json")
PACKAGES = ("mesa", "numpy", "networkx", "pyarrow", "pydantic", "pandas", "duckdb", "PyYAML")
STATE_COLUMNS = (
    "capacity",
    "backlog",
    "utilisation",
    "lead_time_weeks",
    "inventory_units",
    "production_units",
    "installed_units",
    "compute_h100e",
    "orders_units",
    "demand_h100e",
    "rented_h100e",
    "shortage_ratio",
    "users",
    "paid_subscribers",
    "signups_paused",
    "revenue_usd",
    "lost_revenue_usd",
    "cash_usd",
)
"""Columns of ``agents.parquet`` after the keys; empty where a family has no such state."""


class OutputError(RuntimeError):
    """An output folder that cannot be written safely."""


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        out["gpu-supply-abm"] = metadata.version("gpu-supply-abm")
    except metadata.PackageNotFoundError:
        out["gpu-supply-abm"] = "source"
    return out


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


def git_commit() -> str:
    """The project's git commit (with ``-dirty`` if the tree has changes), or ``unknown``."""
    try:
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        return _git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _dates(model: SupplyChainModel, steps: pa.Array) -> pa.Array:
    start = model.spec.start_date
    lookup = [start + timedelta(weeks=i) for i in range(model.spec.weeks)]
    return pa.array([lookup[s] for s in steps.to_pylist()], pa.date32())


def _keys(model: SupplyChainModel, table: pa.Table, with_scenario: bool) -> pa.Table:
    n = table.num_rows
    cols = {"run_id": pa.array([model.run_id] * n, pa.string())}
    if with_scenario:
        cols["scenario"] = pa.array([model.spec.name] * n, pa.string())
        cols["seed"] = pa.array([model.seed] * n, pa.int64())
    cols["step"] = table.column("step")
    cols["date"] = _dates(model, table.column("step").combine_chunks())
    for name in table.column_names:
        if name != "step":
            cols[name] = table.column(name)
    return pa.table(cols)


def metrics_table(model: SupplyChainModel) -> pa.Table:
    """``run_id, scenario, seed, step, date, name, scope, value``."""
    return _keys(model, model.metrics.to_arrow(), with_scenario=True)


def events_table(model: SupplyChainModel) -> pa.Table:
    """``run_id, step, date, agent, family, region, event, counterparty, product, ...``."""
    return _keys(model, model.events.to_arrow(), with_scenario=False)


def agents_table(model: SupplyChainModel) -> pa.Table:
    """Per-step state of every agent: keys, then :data:`STATE_COLUMNS`."""
    base = model.agent_states.to_arrow(STATE_COLUMNS)
    return _keys(model, base, with_scenario=True)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it into place.

    A reader never sees a half-written file; on failure nothing is left behind.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def prepare_out_dir(out: Path, overwrite: bool = False) -> None:
    """Create ``out``; refuse a folder holding another run unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.exists() and not overwrite:
        present = [f for f in FILES if (out / f).exists()]
        if present:
            raise OutputError(
                f"{out}: already holds a run ({', '.join(present)}); choose another --out "
                "or pass --overwrite"
            )
    out.mkdir(parents=True, exist_ok=True)


def write_run(
    model: SupplyChainModel,
    out: Path,
    started: datetime,
    status: str = "completed",
    error: str | None = None,
) -> dict[str, Any]:
    """Write the run's three tables and its manifest to ``out``.

    Returns:
        The manifest as written.
    """
    out = Path(out)
    tables = {
        "metrics.parquet": metrics_table(model),
        "events.parquet": events_table(model),
        "agents.parquet": agents_table(model),
    }
    for name, table in tables.items():
        atomic_write(out / name, partial(pq.write_table, table, compression="zstd"))
    cons = model.conservation()
    manifest = {
        "run_id": model.run_id,
        "scenario": model.spec.name,
        "scenario_hash": model.spec.content_hash(),
        "seed": model.seed,
        "weeks_run": model.steps,
        "start_date": model.spec.start_date.isoformat(),
        "end_date": (model.spec.start_date + timedelta(weeks=max(0, model.steps - 1))).isoformat(),
        "status": status,
        "error": error,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "versions": package_versions(),
        "command": " ".join(sys.argv),
        "rows": {name: t.num_rows for name, t in tables.items()},
        "conservation": cons,
        "supply_edges": sorted(
            [model.graph.nodes[a]["name"], model.graph.nodes[b]["name"], d["kind"]]
            for a, b, d in model.graph.edges(data=True)
        ),
    }
    atomic_write(
        out / "manifest.json",
        lambda p: p.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8"),
    )
    return manifest
