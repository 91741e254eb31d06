"""Batch runs: scenarios x seeds x parameter sweeps, locally or on a Dask cluster.

A batch writes to one output folder:

* ``runs/run_id=<id>/`` — each run's ``metrics``, ``events`` and ``agents``
  Parquet files and its ``manifest.json``, written to a temporary folder and
  renamed into place when the run finishes (never half-written). Together
  they form one hive-partitioned dataset (``abm logs OUT ...`` reads it).
* ``summary.parquet`` — one row of KPIs per completed run.
* ``manifest.json`` — the batch spec and its hash, versions, git commit,
  and each run's status, duration and error (with traceback).

Seeds are shared across scenarios and sweep points, and every random stream
is keyed by (seed, decision kind, agent), so seed *s* draws the same numbers
in every scenario (common random numbers): differences are policy effects.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from abm.runs.outputs import atomic_write, git_commit, package_versions
from abm.scenario import first_error, overrides_from

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.dataset as ds

    from abm.engine.model import SupplyChainModel

RUNS_DIR = "runs"


class BatchError(ValueError):
    """A batch that cannot run as asked (bad spec, mismatched folder...)."""


class SampleSpec(BaseModel):
    """A sampled design over declared parameter ranges."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["lhs", "saltelli"]
    n: Annotated[int, Field(gt=0)]
    ranges: dict[str, tuple[float, float]] = Field(min_length=1)
    seed: int = 0
    integers: list[str] = Field(default_factory=list)
    """Keys whose sampled values are rounded to whole numbers (e.g. weeks)."""

    @model_validator(mode="after")
    def _ranges(self) -> SampleSpec:
        for key, (lo, hi) in self.ranges.items():
            if not lo < hi:
                raise ValueError(f"ranges.{key}: expected low < high, got [{lo}, {hi}]")
        for key in self.integers:
            if key not in self.ranges:
                raise ValueError(f"integers: {key!r} is not a key of ranges")
        return self


class BatchSpec(BaseModel):
    """What to run: scenarios x seeds x (grid sweep or sampled design)."""

    model_config = ConfigDict(extra="forbid")

    scenarios: list[str] = Field(min_length=1)
    seeds: Annotated[int, Field(gt=0)] | list[int] = 1
    weeks: Annotated[int, Field(gt=0)] | None = None
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    sample: SampleSpec | None = None

    @model_validator(mode="after")
    def _one_design(self) -> BatchSpec:
        if self.sweep and self.sample:
            raise ValueError("give either sweep (a grid) or sample (a sampled design), not both")
        stems = [Path(s).stem for s in self.scenarios]
        if len(set(stems)) != len(stems):
            raise ValueError(
                f"scenarios: two scenarios share a file name ({stems}); run ids would collide"
            )
        if isinstance(self.seeds, list) and len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: duplicate seeds {self.seeds}")
        for key, values in self.sweep.items():
            if not values:
                raise ValueError(f"sweep.{key}: expected at least one value")
        return self

    def seed_list(self) -> list[int]:
        """The seeds, as a list."""
        return list(range(1, self.seeds + 1)) if isinstance(self.seeds, int) else self.seeds

    def points(self) -> list[dict[str, Any]]:
        """Parameter points of the design (one empty point without sweep or sample)."""
        if self.sample is not None:
            return sample_points(self.sample)
        if not self.sweep:
            return [{}]
        keys = list(self.sweep)
        grids = np.array(np.meshgrid(*[range(len(self.sweep[k])) for k in keys], indexing="ij"))
        idx = grids.reshape(len(keys), -1).T
        return [{k: self.sweep[k][i] for k, i in zip(keys, row, strict=True)} for row in idx]

    def tasks(self) -> list[RunTask]:
        """Every run of the batch, in a stable order."""
        out = []
        points = self.points()
        for scenario in self.scenarios:
            for p, point in enumerate(points):
                for seed in self.seed_list():
                    suffix = f"-p{p:03d}" if len(points) > 1 else ""
                    out.append(
                        RunTask(
                            run_id=f"{Path(scenario).stem}{suffix}-s{seed}",
                            scenario=scenario,
                            seed=seed,
                            weeks=self.weeks,
                            params=point,
                        )
                    )
        return out

    def spec_hash(self) -> str:
        """Hash of the spec (what makes two batch folders the same batch)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def sample_points(sample: SampleSpec) -> list[dict[str, float]]:
    """Points of a Latin-hypercube or Saltelli design over ``sample.ranges``."""
    keys = list(sample.ranges)
    bounds = [list(sample.ranges[k]) for k in keys]
    if sample.method == "saltelli":
        from SALib.sample import sobol as sobol_sample

        problem = {"num_vars": len(keys), "names": keys, "bounds": bounds}
        x = sobol_sample.sample(problem, sample.n, calc_second_order=False, seed=sample.seed)
    else:
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(keys), seed=sample.seed).random(sample.n)
        x = qmc.scale(unit, [b[0] for b in bounds], [b[1] for b in bounds])
    ints = set(sample.integers)
    return [
        {k: int(round(v)) if k in ints else float(v) for k, v in zip(keys, row, strict=True)}
        for row in x
    ]


@dataclass(frozen=True)
class RunTask:
    """One run of a batch.

    Attributes:
        run_id: Stable id (scenario, design point, seed).
        scenario: Library name or YAML path.
        seed: The run's seed.
        weeks: Horizon override (None: the scenario's).
        params: Parameter values of the design point (``key.path`` -> value).
    """

    run_id: str
    scenario: str
    seed: int
    weeks: int | None
    params: dict[str, Any] = field(default_factory=dict)


# -------------------------------------------------------------------- running


def kpis(model: SupplyChainModel) -> dict[str, float]:
    """Key figures of a finished run for ``summary.parquet``."""
    ml = model.metrics

    def last(name: str, scope: str) -> float:
        s = ml.series(name, scope)
        return s[-1] if s else float("nan")

    def total(name: str, scope: str) -> float:
        return float(sum(ml.series(name, scope)))

    lead_vendor = "Nvidia" if "Nvidia" in model.cast.vendor else model.vendors[0].name
    leads = [max(ml.series("lead_time_weeks", lead_vendor) or [0.0])]
    return {
        "cn_compute_h100e_end": last("compute_stock_h100e", "CN"),
        "us_compute_h100e_end": last("compute_stock_h100e", "US"),
        "row_compute_h100e_end": last("compute_stock_h100e", "ROW"),
        "peak_lead_time_weeks": leads[0],  # the largest vendor's (Nvidia's) quoted lead time
        "weeks_signups_paused": float(
            sum(sum(ml.series("signups_paused", b.name)) for b in model.labs)
        ),
        "lost_revenue_usd": float(
            sum(sum(ml.series("lost_revenue_usd", b.name)) for b in model.labs)
        ),
        "diverted_units": total("diverted_units", "CN"),
        "seized_units": total("seized_units", "CN"),
        "denied_units": float(
            sum(v for n, v in zip(ml.name, ml.value, strict=True) if n == "denied_units")
        ),
        "cn_domestic_share_end": last("cn_domestic_share_units", "CN"),
        "us_rental_price_mean": float(np.mean(ml.series("rental_price_usd_per_gpu_hour", "US"))),
        "cn_shortage_mean": float(np.mean(ml.series("shortage_ratio", "CN"))),
        "us_shortage_mean": float(np.mean(ml.series("shortage_ratio", "US"))),
    }


def run_task(task: RunTask, out: str) -> dict[str, Any]:
    """Run one task and write its files atomically under ``out/runs/``.

    Never raises: a failure is returned with its traceback.
    """
    from abm.engine.model import SupplyChainModel
    from abm.runs.outputs import write_run

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    final = Path(out) / RUNS_DIR / f"run_id={task.run_id}"
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        model = SupplyChainModel.from_scenario(
            task.scenario,
            seed=task.seed,
            weeks=task.weeks,
            overrides=overrides_from(task.params) or None,
        )
        model.run_id = task.run_id
        model.run()
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        write_run(model, tmp, started)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return {
            "run_id": task.run_id,
            "status": "completed",
            "error": None,
            "duration_s": time.perf_counter() - t0,
            "kpis": kpis(model),
        }
    except Exception as exc:  # recorded, never raised: the batch goes on
        shutil.rmtree(tmp, ignore_errors=True)
        return {
            "run_id": task.run_id,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
            "duration_s": time.perf_counter() - t0,
            "kpis": None,
        }


OnDone = Callable[[dict[str, Any]], None]


def _run_inline(tasks: list[RunTask], out: Path, on_done: OnDone) -> None:
    for task in tasks:
        on_done(run_task(task, str(out)))


def _single_threaded_worker() -> None:
    """Pool workers use one thread each: Arrow's thread pools would oversubscribe the cores."""
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _run_pool(tasks: list[RunTask], out: Path, workers: int, on_done: OnDone) -> None:
    """Local worker processes; a killed worker costs only the runs it held."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pending = list(tasks)
    deaths: dict[str, int] = {}
    first_round = True
    while pending:
        ctx = mp.get_context("forkserver")
        # the fork server imports the model once and workers fork from it, instead of
        # each worker importing mesa, pandas, scipy and pyarrow itself (~1 s of CPU each)
        ctx.set_forkserver_preload(["abm.runs.batch", "abm.engine.model", "abm.runs.outputs"])
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_single_threaded_worker
        ) as pool:
            # this process has the model imported already: it runs the last run itself
            # while the fork server and the workers start (hiding their start-up)
            mine = pending[-1] if first_round and len(pending) > workers else None
            first_round = False
            futures = {pool.submit(run_task, t, str(out)): t for t in pending if t is not mine}
            if mine is not None:
                pending.remove(mine)
                on_done(run_task(mine, str(out)))
            broken = False
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for f in done:
                    task = futures.pop(f)
                    try:
                        result = f.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    pending.remove(task)
                    on_done(result)
                if broken:
                    break
        if broken:  # the pool died with a worker: rebuild it, resubmit what is not done
            for task in list(pending[:workers]):  # the runs most likely in the dead worker
                deaths[task.run_id] = deaths.get(task.run_id, 0) + 1
                if deaths[task.run_id] > 2:
                    pending.remove(task)
                    on_done(
                        {
                            "run_id": task.run_id,
                            "status": "failed",
                            "duration_s": 0.0,
                            "error": "worker process died three times running this run",
                            "kpis": None,
                        }
                    )


def _run_dask(
    tasks: list[RunTask], out: Path, workers: int, address: str | None, on_done: OnDone
) -> None:
    """A Dask cluster: local (``workers`` processes) or an existing scheduler."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = {
            client.submit(run_task, t, str(out), key=f"abm-{t.run_id}", pure=False): t
            for t in tasks
        }
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # the worker died or the scheduler lost the task
                result = {
                    "run_id": task.run_id,
                    "status": "failed",
                    "duration_s": 0.0,
                    "error": f"{type(exc).__name__}: {exc}",
                    "kpis": None,
                }
            on_done(result)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------- the batch


@dataclass
class BatchResult:
    """A batch folder and what the manifest says of it."""

    out: Path
    manifest: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        """Run ids that failed."""
        return [r for r, v in self.manifest["runs"].items() if v["status"] == "failed"]

    def summary(self) -> pd.DataFrame:
        """The KPI table (one row per completed run)."""
        return pq.read_table(self.out / "summary.parquet").to_pandas()

    def metrics(self) -> ds.Dataset:
        """All runs' metrics as one dataset (hive-partitioned by ``run_id`` folders)."""
        import pyarrow.dataset as ds

        files = sorted(str(p) for p in (self.out / RUNS_DIR).glob("run_id=*/metrics.parquet"))
        return ds.dataset(files, format="parquet")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, default=str) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def load_spec(path: str | Path) -> BatchSpec:
    """Read a batch spec from YAML, with errors naming the file and field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BatchError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise BatchError(f"{path}: unparseable YAML ({exc})") from None
    try:
        return BatchSpec.model_validate(data)
    except ValidationError as exc:
        raise BatchError(first_error(path, exc)) from None


def run_batch(
    spec: BatchSpec,
    out: str | Path,
    workers: int = 1,
    engine: Literal["local", "dask"] = "local",
    address: str | None = None,
    resume: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> BatchResult:
    """Run (or resume) a batch into ``out`` and return its result handle.

    Args:
        spec: Scenarios, seeds, design.
        out: Output folder (created; a folder holding another batch is refused).
        workers: Local processes (1: run in this process, no pool), or Dask workers.
        engine: ``local`` (processes on this machine) or ``dask``.
        address: ``tcp://host:port`` of an existing Dask scheduler (engine ``dask``).
        resume: Run only what is missing or failed in an existing folder of this spec.
        progress: Called with (done, failed, total) after each run.

    Raises:
        BatchError: for a folder holding a different batch, or the same batch
            without ``resume``.
    """
    out = Path(out)
    tasks = spec.tasks()
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise BatchError(f"{manifest_path}: not valid JSON; refusing to overwrite") from None
        if old.get("spec_hash") != spec.spec_hash():
            raise BatchError(
                f"{out}: holds a different batch (spec {old.get('spec_hash')}, this one "
                f"{spec.spec_hash()}); choose another --out"
            )
        if not resume:
            raise BatchError(f"{out}: already holds this batch; pass --resume to finish it")
        manifest = old
    elif out.exists() and any(out.iterdir()):
        raise BatchError(f"{out}: not empty and not a batch folder; choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        manifest = {
            "spec": spec.model_dump(mode="json"),
            "spec_hash": spec.spec_hash(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "versions": package_versions(),
            "engine": engine,
            "runs": {
                t.run_id: {
                    **asdict(t),
                    "status": "pending",
                    "duration_s": None,
                    "error": None,
                    "kpis": None,
                }
                for t in tasks
            },
        }
    todo = [
        t
        for t in tasks
        if manifest["runs"][t.run_id]["status"] != "completed"
        or not (out / RUNS_DIR / f"run_id={t.run_id}" / "manifest.json").exists()
    ]
    manifest["engine"] = engine
    _write_json(manifest_path, manifest)
    counts = {"done": len(tasks) - len(todo), "failed": 0}
    last_write = [time.monotonic()]

    def on_done(result: dict[str, Any]) -> None:
        entry = manifest["runs"][result["run_id"]]
        entry.update({k: result[k] for k in ("status", "duration_s", "error", "kpis")})
        counts["done"] += 1
        counts["failed"] += result["status"] == "failed"
        # at most once a second: a run finished but not yet recorded is simply rerun on
        # --resume (its folder is checked too), so nothing is lost
        if time.monotonic() - last_write[0] > 1.0:
            _write_json(manifest_path, manifest)
            last_write[0] = time.monotonic()
        if progress is not None:
            progress(counts["done"], counts["failed"], len(tasks))

    if engine == "dask":
        _run_dask(todo, out, max(1, workers), address, on_done)
    elif workers <= 1:
        _run_inline(todo, out, on_done)
    else:
        _run_pool(todo, out, workers, on_done)
    manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _write_json(manifest_path, manifest)
    _write_summary(out, manifest)
    return BatchResult(out, manifest)


def _write_summary(out: Path, manifest: dict[str, Any]) -> None:
    rows = []
    for run_id, v in manifest["runs"].items():
        if v["status"] != "completed" or not v.get("kpis"):
            continue
        rows.append(
            {
                "run_id": run_id,
                "scenario": Path(v["scenario"]).stem,
                "seed": v["seed"],
                **{f"param:{k}": val for k, val in (v.get("params") or {}).items()},
                **v["kpis"],
            }
        )
    keys = {k for r in rows for k in r if k.startswith("param:")}
    for key in keys:  # a parameter with mixed types is written as text
        kinds = {type(r.get(key)) for r in rows if r.get(key) is not None}
        if len(kinds) > 1:
            for r in rows:
                r[key] = None if r.get(key) is None else str(r[key])
    table = pa.Table.from_pylist(rows) if rows else pa.table({"run_id": pa.array([], pa.string())})
    atomic_write(out / "summary.parquet", lambda tmp: pq.write_table(table, tmp))


def parse_sweeps(items: Iterable[str]) -> dict[str, list[Any]]:
    """``key.path=v1,v2`` strings to a sweep mapping (numbers parsed as numbers)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise BatchError(f"--sweep {item!r}: expected key.path=v1,v2,...")
        key, values = item.split("=", 1)
        out[key.strip()] = [yaml.safe_load(v) for v in values.split(",") if v.strip()]
    return out
