"""Batch runs: scenarios x seeds x parameter sweeps, locally or on a Dask cluster.

A batch writes to one output folder:

* ``runs/run_id=<id>/`` — each run's ``metrics``, ``events`` and ``agents``
  Parquet files and its ``manifest.json``, written to a temporary folder and
  renamed into place when the run finishes (never half-written); ``abm logs
  OUT ...`` reads them.
* ``metrics/``, ``events/``, ``agents/`` — the completed runs' tables as one
  Parquet dataset per table, hive-partitioned by scenario
  (``scenario=<NAME>/<run_id>.parquet``), one file per run with the same columns and
  types, readable in one call (:mod:`abm.runs.dataset`).
* ``summary.parquet`` — one row of KPIs per completed run.
* ``manifest.json`` — the batch spec and its hash, versions, git commit,
  and each run's status, duration and error (with traceback).
* ``batch.lock`` — present while a batch writes the folder (an ``flock``-ed
  file holding the writer's pid): a second batch into the same folder is
  refused at once; a lock left by a dead process is taken over with a warning.

Faults: each run folder's manifest records the size and sha256 of its files,
and ``--resume`` verifies every run against it (a truncated, deleted or empty
file is rerun). Ctrl-C cancels queued runs, stops the workers, records what is
verifiably on disk and raises :class:`BatchInterrupted`. A full or read-only
disk stops the batch with an :class:`~abm.runs.outputs.OutputError`. Sweep and
design keys are resolved against every scenario before the first run.

Seeds are shared across scenarios and sweep points, and every random stream
is keyed by (seed, decision kind, agent), so seed *s* draws the same numbers
in every scenario (common random numbers): differences are policy effects.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from abm.limits import MAX_SEED_COUNT as MAX_SEED_COUNT
from abm.runs.dataset import write_datasets
from abm.runs.design import Design
from abm.runs.outputs import (
    DISK_ERRNOS,
    OutputError,
    atomic_write,
    clean_stale_temporaries,
    describe_os_error,
    environment_record,
    git_commit,
    package_versions,
    read_manifest,
    verify_run,
)
from abm.scenario import (
    ScenarioError,
    find_items,
    first_error,
    key_segment,
    load_scenario,
    overrides_from,
    split_key_path,
)
from abm.scenario.loader import expand_key_path
from abm.scenario.schema import MAX_SEED, MAX_WEEKS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.dataset as ds

    from abm.engine.model import SupplyChainModel

RUNS_DIR = "runs"
LOCK_FILE = "batch.lock"
CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for a Dask scheduler before giving up."""


class BatchError(ValueError):
    """A batch that cannot run as asked (bad spec, mismatched folder...)."""


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch; ``result`` is the folder as recorded from what is on disk."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__("batch interrupted")
        self.result = result


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

    scenarios: list[str] = Field(default_factory=list)
    """Library names or paths (may be left out when a design factor picks the scenario)."""
    # the same bounds as the command line's --seeds/--seed and --weeks (abm.scenario.schema)
    seeds: (
        Annotated[int, Field(gt=0, le=MAX_SEED_COUNT)]
        | Annotated[
            list[Annotated[int, Field(ge=0, le=MAX_SEED)]], Field(max_length=MAX_SEED_COUNT)
        ]
    ) = 1
    weeks: Annotated[int, Field(gt=0, le=MAX_WEEKS)] | None = None
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    sample: SampleSpec | None = None
    design: Design | None = None
    """Factors and a sampler (:mod:`abm.runs.design`); instead of ``sweep`` or ``sample``."""
    uncertainty: bool = True
    """Sample the scenarios' declared uncertainties per seed (False: ``--no-uncertainty``)."""

    @model_validator(mode="after")
    def _one_design(self) -> BatchSpec:
        if sum(map(bool, (self.sweep, self.sample, self.design))) > 1:
            raise ValueError(
                "give one of sweep (a grid), sample (a sampled design) or design (factors), not two"
            )
        chooser = self.design.scenario_factor() if self.design is not None else None
        if chooser is not None:
            picked = [str(v) for v in chooser.choices()]
            if self.scenarios and set(self.scenarios) != set(picked):
                raise ValueError(
                    f"scenarios: {self.scenarios} differ from the design's scenario factor "
                    f"{picked}; leave scenarios out"
                )
            self.scenarios = picked
        if not self.scenarios:
            raise ValueError(
                "scenarios: expected at least one scenario (or a design factor with key: scenario)"
            )
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
        """Parameter points of the design (one empty point without sweep or sample).

        With a ``design`` these are its overrides; :meth:`tasks` also picks each
        point's scenario when a factor does.
        """
        if self.design is not None:
            return [self.design.split(p)[1] for p in self.design.points()]
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
        if self.design is not None:
            return self._design_tasks(self.design)
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
                            uncertainty=self.uncertainty,
                        )
                    )
        return out

    def _design_tasks(self, design: Design) -> list[RunTask]:
        out = []
        points = design.points()
        picks = design.scenario_factor() is not None
        split = [design.split(p) for p in points]
        order = (
            [(s, p) for p, (s, _) in enumerate(split)]
            if picks
            else [(s, p) for s in self.scenarios for p in range(len(points))]
        )
        for scenario, p in order:
            assert scenario is not None
            for seed in self.seed_list():
                suffix = f"-p{p:03d}" if len(points) > 1 else ""
                out.append(
                    RunTask(
                        run_id=f"{Path(scenario).stem}{suffix}-s{seed}",
                        scenario=scenario,
                        seed=seed,
                        weeks=self.weeks,
                        params=split[p][1],
                        uncertainty=self.uncertainty,
                        factors=points[p],
                    )
                )
        return out

    def spec_hash(self) -> str:
        """Hash of the spec (what makes two batch folders the same batch)."""
        data = self.model_dump(mode="json")
        if self.design is None:  # the hashes of batches from before designs stay
            del data["design"]
        if self.uncertainty:  # the default: hashes of batches from before the switch stay
            del data["uncertainty"]
        blob = json.dumps(data, sort_keys=True).encode()
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
        uncertainty: Whether the scenario's declared uncertainties are sampled.
    """

    run_id: str
    scenario: str
    seed: int
    weeks: int | None
    params: dict[str, Any] = field(default_factory=dict)
    uncertainty: bool = True
    factors: dict[str, Any] | None = None
    """The design point by factor name (a ``design`` batch; None otherwise)."""


def task_record(task: RunTask) -> dict[str, Any]:
    """A task as recorded in the batch manifest (``factors`` only for a design batch)."""
    record = asdict(task)
    if task.factors is None:
        del record["factors"]
    return record


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
        params = task.params
        if task.factors is not None or any(_positional(k) for k in params):
            data = load_scenario(task.scenario).model_dump(mode="json")
            params = named_params(data, params)
            if task.factors is not None:  # a design point fixes what it sets
                params = _fix_uncertainties(data, params)
        model = SupplyChainModel.from_scenario(
            task.scenario,
            seed=task.seed,
            weeks=task.weeks,
            overrides=overrides_from(params) or None,
            uncertainty=task.uncertainty,
        )
        model.run_id = task.run_id
        model.run()
        figures = kpis(model)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        duration = time.perf_counter() - t0
        write_run(model, tmp, started, extra={"kpis": figures, "duration_s": duration})
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return {
            "run_id": task.run_id,
            "status": "completed",
            "error": None,
            "duration_s": duration,
            "kpis": figures,
        }
    except Exception as exc:  # recorded, never raised: the batch goes on
        disk = isinstance(exc, OutputError) or (
            isinstance(exc, OSError) and exc.errno in DISK_ERRNOS
        )
        message = describe_os_error(exc, str(tmp)) if isinstance(exc, OSError) else str(exc)
        return {
            "run_id": task.run_id,
            "status": "failed",
            "error": f"{type(exc).__name__}: {message}\n{traceback.format_exc()}",
            "duration_s": time.perf_counter() - t0,
            "kpis": None,
            "disk_error": message if disk else None,
        }
    finally:  # also on Ctrl-C or a terminated worker
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


OnDone = Callable[[dict[str, Any]], None]


def _run_inline(tasks: list[RunTask], out: Path, on_done: OnDone) -> None:
    for task in tasks:
        on_done(run_task(task, str(out)))


def _single_threaded_worker() -> None:
    """Pool workers use one thread each: Arrow's thread pools would oversubscribe the cores.

    Workers ignore Ctrl-C: the batch process stops them (and says so) itself.
    """
    import pyarrow as pa

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _abort_pool(pool: Any) -> None:
    """Cancel queued runs and stop the workers now (Ctrl-C, a full disk)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 2.0
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()


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
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_single_threaded_worker
        )
        try:
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
        except BaseException:  # Ctrl-C or a full disk: stop now, do not drain the queue
            _abort_pool(pool)
            raise
        pool.shutdown(wait=True)
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


def dask_client(
    workers: int, address: str | None, timeout: float = CONNECT_TIMEOUT_S
) -> tuple[Any, Any]:
    """A Dask client (and its local cluster, or None for an existing scheduler).

    Raises:
        BatchError: one line if the scheduler at ``address`` does not answer
            within ``timeout`` seconds.
    """
    from distributed import Client, LocalCluster

    if address is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        return Client(cluster), cluster
    try:
        return Client(address, timeout=timeout), None
    except (OSError, TimeoutError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BatchError(
            f"--address {address}: no Dask scheduler answered within {timeout:g} s ({first})"
        ) from None
    except ValueError as exc:  # a malformed address
        raise BatchError(f"--address {address}: {str(exc).splitlines()[0]}") from None


def _run_dask(tasks: list[RunTask], out: Path, client: Any, cluster: Any, on_done: OnDone) -> None:
    """Run on a Dask cluster through ``client`` (closed, with ``cluster``, at the end)."""
    from distributed import as_completed

    futures: dict[Any, RunTask] = {}
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
    except BaseException:  # Ctrl-C or a full disk: cancel what is queued or running
        with suppress(Exception):  # best effort while stopping
            client.cancel(list(futures), force=True)
        if cluster is not None:  # our local workers: stop them now, not after their run
            import logging
            import multiprocessing as mp

            for name in ("distributed", "distributed.nanny", "distributed.worker"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            for p in mp.active_children():
                p.terminate()
        raise
    finally:
        client.close(timeout=2)
        if cluster is not None:
            cluster.close(timeout=5)


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
        raise BatchError(first_error(path, exc).replace(": Value error, ", ": ", 1)) from None


class BatchLock:
    """An exclusive lock on a batch folder: ``OUT/batch.lock``, ``flock``-ed, holding the pid.

    The kernel releases an ``flock`` when its process dies, so a lock file left
    by a killed batch is free; it is taken over with a warning naming the pid.
    """

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOCK_FILE
        self.fd: int | None = None
        self.stale_pid: int | None = None

    def acquire(self) -> BatchLock:
        """Take the lock.

        Raises:
            BatchError: if another process holds it (one line naming the lock and pid).
            OutputError: if the folder cannot be written.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _lock_pid(fd)
                    os.close(fd)
                    who = f"pid {holder}" if holder else "another process"
                    raise BatchError(
                        f"{self.path}: another batch ({who}) is writing {self.path.parent}; "
                        "wait for it to finish or choose another --out"
                    ) from None
                try:  # its previous holder may have removed it between our open and flock
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
            previous = _lock_pid(fd)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            raise OutputError(describe_os_error(exc, str(self.path))) from None
        self.fd = fd
        self.stale_pid = previous if previous and previous != os.getpid() else None
        return self

    def release(self) -> None:
        """Remove the lock file and release the lock."""
        if self.fd is None:
            return
        with suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None


def _lock_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return int(os.read(fd, 64).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _positional(key: str) -> bool:
    """Whether a key path has a position (``[0]``) or ``[*]`` segment."""
    for part in split_key_path(key):
        item = key_segment(part)[1]
        if item is not None and (item == "*" or item.lstrip("-").isdigit()):
            return True
    return False


def named_params(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Parameters with positions and ``[*]`` in their keys turned into item names.

    Args:
        data: The scenario's content (``model_dump(mode="json")``).
        params: ``key.path -> value``.

    Raises:
        BatchError: for a key that addresses nothing (one line naming it).
    """
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not _positional(key):
            out[key] = value
            continue
        try:
            paths = expand_key_path(data, key)
        except ValueError as exc:
            raise BatchError(f"key {key!r}: {exc}") from None
        for path, _ in paths:
            out[path] = value
    return out


def fixed_uncertainties(data: dict[str, Any], keys: Iterable[str]) -> list[str]:
    """Declared uncertainties that would overwrite the fields ``keys`` set.

    An uncertainty that replaces a value (not a ``factor`` multiplier) and
    addresses only fields among ``keys`` would redraw per seed what a design
    point sets, so the point would have no effect. A design fixes them (its
    runs leave them out); a sweep is warned.

    Args:
        data: The scenario's content.
        keys: Key paths, by name (see :func:`named_params`).
    """
    named = set(keys)
    out = []
    for u in data.get("uncertainties") or []:
        if u.get("factor"):
            continue
        try:
            paths = {p for p, _ in expand_key_path(data, u["path"])}
        except ValueError:
            continue
        if paths and paths <= named:
            out.append(str(u["path"]))
    return out


def _fix_uncertainties(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    fixed = set(fixed_uncertainties(data, params))
    if not fixed:
        return params
    # uncertainties merge by path; an item {path: P, remove: true} deletes P
    return {**params, "uncertainties": [{"path": p, "remove": True} for p in sorted(fixed)]}


def _design_keys(spec: BatchSpec) -> dict[str, list[Any]]:
    """Each sweep or design key with the values to try it with."""
    if spec.design is not None:
        return spec.design.key_values()
    if spec.sample is not None:  # the bounds, rounded as the design rounds them
        ints = set(spec.sample.integers)
        return {
            k: [int(round(b)) if k in ints else b for b in v] for k, v in spec.sample.ranges.items()
        }
    return dict(spec.sweep)


def _resolve_key(data: dict[str, Any], key: str) -> str | None:
    """Why ``key`` does not address a field of the scenario ``data``.

    None if it does, or if that cannot be told without loading (below an unset field).
    """
    node: Any = data
    walked: list[str] = []
    for part in split_key_path(key):
        name, item = key_segment(part)
        if item is not None:
            items = node.get(name) if isinstance(node, dict) else None
            where = ".".join([*walked, name])
            if not isinstance(items, list):
                return f"{where} is not a list of named items"
            match = [e for _, e in find_items(items, item) if isinstance(e, dict)]
            if not match:
                known = ", ".join(
                    str(e.get("name", e.get("id", e.get("node"))))
                    for e in items[:12]
                    if isinstance(e, dict)
                )
                more = ", ..." if len(items) > 12 else ""
                return f"no item {item!r} in {where} (known: {known}{more})"
            node = match[0]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif node is None:
            return None
        else:
            return f"no field {part!r} in {'.'.join(walked) or 'the scenario'}"
        walked.append(part)
    return None


def check_design(spec: BatchSpec, notify: Callable[[str], None] | None = None) -> None:
    """Resolve every sweep or design key against every scenario, before any run.

    A key must address an existing field, and a bracketed ``[Name]`` an existing
    item (a typo would otherwise add a new firm). Each value (each bound of a
    sampled range) is applied to the scenario: a key no value of which loads is
    refused; a value that alone is refused is reported through ``notify`` (its
    runs will fail, the others still run).

    Raises:
        BatchError: one line naming the key, the scenario and what is wrong.
    """
    keys = _design_keys(spec)
    if not keys:
        return
    what = (
        "design"
        if spec.design is not None
        else "sample.ranges"
        if spec.sample is not None
        else "sweep"
    )
    for n, scenario in enumerate(spec.scenarios):
        try:
            data = load_scenario(scenario).model_dump(mode="json")
        except ScenarioError as exc:
            raise BatchError(str(exc)) from None
        for key, values in keys.items():
            problem = _resolve_key(data, key)
            if problem is not None and (problem.startswith("no item") or "named items" in problem):
                raise BatchError(f"{what} key {key!r}: {problem} in scenario {scenario}")
            if problem is None and notify is not None:
                try:
                    paths = list(named_params(data, {key: values[0]}))
                except BatchError:
                    paths = []
                for path in fixed_uncertainties(data, paths):
                    if spec.design is not None:
                        notify(
                            f"design key {key}: fixes the declared uncertainty {path} "
                            f"of {scenario} (not drawn in these runs)"
                        )
                    else:
                        notify(
                            f"{what} key {key}: the declared uncertainty {path} of {scenario} "
                            "redraws it per seed, so its values have no effect; use a design: "
                            "(it fixes the uncertainty) or --no-uncertainty"
                        )
            if problem is None and n > 0:
                continue  # values are tried on the first scenario (loading takes ~50 ms)
            bad: list[tuple[Any, str]] = []
            for value in values:
                try:
                    named = named_params(data, {key: value}) if _positional(key) else {key: value}
                    load_scenario(scenario, overrides_from(named))
                except (ScenarioError, BatchError) as exc:
                    bad.append((value, str(exc)))
            if len(bad) == len(values):
                why = problem or f"refused ({bad[0][1]})"
                raise BatchError(f"{what} key {key!r}: {why} in scenario {scenario}")
            for value, message in bad:
                if notify is not None:
                    notify(
                        f"{what} {key}={value!r}: refused by {scenario} ({message}); "
                        "its runs will fail"
                    )


def reconcile(manifest: dict[str, Any], out: Path) -> dict[str, list[str]]:
    """Bring the batch manifest in line with what is verifiably on disk.

    Each run folder is verified against its own manifest (sizes and sha256).
    A run recorded ``completed`` whose folder is missing or damaged goes back
    to ``pending``; a run on disk and intact but not recorded (Ctrl-C, a
    killed batch) is recorded ``completed`` with the KPIs of its manifest.

    Returns:
        Run ids by outcome: ``verified``, ``damaged``, ``missing``, ``adopted``.
    """
    found: dict[str, list[str]] = {"verified": [], "damaged": [], "missing": [], "adopted": []}
    for run_id, entry in manifest["runs"].items():
        folder = Path(out) / RUNS_DIR / f"run_id={run_id}"
        problems = verify_run(folder) if folder.exists() else None
        if entry["status"] == "completed":
            if problems is None:
                found["missing"].append(run_id)
            elif problems:
                found["damaged"].append(run_id)
            else:
                found["verified"].append(run_id)
                continue
            entry.update(
                status="pending",
                kpis=None,
                error=f"found {'missing' if problems is None else 'damaged'} on disk"
                + (f": {'; '.join(problems)}" if problems else ""),
            )
        elif problems == []:
            run_manifest = read_manifest(folder) or {}
            if run_manifest.get("kpis"):
                entry.update(
                    status="completed",
                    error=None,
                    kpis=run_manifest["kpis"],
                    duration_s=run_manifest.get("duration_s"),
                )
                found["adopted"].append(run_id)
    return found


def run_batch(
    spec: BatchSpec,
    out: str | Path,
    workers: int = 1,
    engine: Literal["local", "dask"] = "local",
    address: str | None = None,
    resume: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> BatchResult:
    """Run (or resume) a batch into ``out`` and return its result handle.

    Args:
        spec: Scenarios, seeds, design.
        out: Output folder (created; a folder holding another batch is refused).
        workers: Local processes (1: run in this process, no pool), or Dask workers.
        engine: ``local`` (processes on this machine) or ``dask``.
        address: ``tcp://host:port`` of an existing Dask scheduler (engine ``dask``).
        resume: Run only what is missing, damaged or failed in an existing folder of
            this spec (every recorded run is verified against its files' checksums).
        progress: Called with (done, failed, total) after each run.
        notify: Called with one-line notes (a stale lock taken over, what resume
            found); default: :func:`warnings.warn`.
        connect_timeout: Seconds to wait for the Dask scheduler at ``address``.

    Raises:
        BatchError: for a bad design key, a folder holding a different batch, the
            same batch without ``resume``, a folder another batch is writing or that
            cannot be written (read-only...), or an unreachable scheduler.
        OutputError: for a disk that fails while the batch runs (full disk...).
        BatchInterrupted: on Ctrl-C, after recording what is on disk.
    """
    out = Path(out)
    say = notify or (lambda msg: warnings.warn(msg, stacklevel=3))
    tasks = spec.tasks()
    check_design(spec, say)
    created = not out.exists()
    lock = BatchLock(out)
    try:
        lock.acquire()
    except (BatchError, OutputError) as exc:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise BatchError(str(exc)) from None  # a folder that cannot be used, before any run
    started_ok = False
    try:
        if lock.stale_pid is not None:
            say(f"{lock.path}: took over a stale lock of pid {lock.stale_pid} (no longer running)")
        result = _run_locked(
            spec, out, tasks, workers, engine, address, resume, progress, say, connect_timeout
        )
        started_ok = True
        return result
    except BatchInterrupted:
        started_ok = True
        raise
    finally:
        lock.release()
        if created and not started_ok and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def _run_locked(
    spec: BatchSpec,
    out: Path,
    tasks: list[RunTask],
    workers: int,
    engine: str,
    address: str | None,
    resume: bool,
    progress: Callable[[int, int, int], None] | None,
    say: Callable[[str], None],
    connect_timeout: float,
) -> BatchResult:
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BatchError(f"{manifest_path}: not valid JSON; refusing to overwrite") from None
        if old.get("spec_hash") != spec.spec_hash():
            raise BatchError(
                f"{out}: holds a different batch (spec {old.get('spec_hash')}, this one "
                f"{spec.spec_hash()}); choose another --out"
            )
        if not resume:
            raise BatchError(f"{out}: already holds this batch; pass --resume to finish it")
        manifest = old
        found = reconcile(manifest, out)
        redo = found["damaged"] + found["missing"]
        say(
            f"resume: {len(found['verified'])} completed runs verified on disk, "
            f"{len(found['damaged'])} damaged and {len(found['missing'])} missing (rerun"
            + (f": {', '.join(redo[:5])}{', ...' if len(redo) > 5 else ''})" if redo else ")")
            + (
                f", {len(found['adopted'])} unrecorded runs found intact"
                if found["adopted"]
                else ""
            )
        )
    elif any(p.name != LOCK_FILE for p in out.iterdir()):
        raise BatchError(f"{out}: not empty and not a batch folder; choose another --out")
    else:
        manifest = {
            "spec": spec.model_dump(mode="json"),
            "spec_hash": spec.spec_hash(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "versions": package_versions(),
            "environment": environment_record(),
            "engine": engine,
            "runs": {
                t.run_id: {
                    **task_record(t),
                    "status": "pending",
                    "duration_s": None,
                    "error": None,
                    "kpis": None,
                }
                for t in tasks
            },
        }
    clean_stale_temporaries(out)
    clean_stale_temporaries(out / RUNS_DIR)
    todo = [t for t in tasks if manifest["runs"][t.run_id]["status"] != "completed"]
    client = cluster = None
    if engine == "dask":  # before anything is written: an unreachable scheduler writes nothing
        client, cluster = dask_client(max(1, workers), address, connect_timeout)
    manifest["engine"] = engine
    manifest["status"] = "running"
    manifest.pop("finished_at", None)
    try:
        _write_json(manifest_path, manifest)
    except OSError as exc:
        if client is not None:
            client.close()
            if cluster is not None:
                cluster.close()
        raise OutputError(describe_os_error(exc, str(manifest_path))) from None
    counts = {"done": len(tasks) - len(todo), "failed": 0}
    last_write = [time.monotonic()]
    if progress is not None:  # the batch has started
        progress(counts["done"], counts["failed"], len(tasks))

    def on_done(result: dict[str, Any]) -> None:
        entry = manifest["runs"][result["run_id"]]
        entry.update({k: result[k] for k in ("status", "duration_s", "error", "kpis")})
        counts["done"] += 1
        counts["failed"] += result["status"] == "failed"
        if result.get("disk_error"):  # every later run would fail the same way: stop
            raise OutputError(result["disk_error"])
        # at most once a second: a run finished but not yet recorded is found on disk
        # (verified) when the batch ends, is interrupted or is resumed
        if time.monotonic() - last_write[0] > 1.0:
            _write_json(manifest_path, manifest)
            last_write[0] = time.monotonic()
        if progress is not None:
            progress(counts["done"], counts["failed"], len(tasks))

    try:
        if engine == "dask":
            _run_dask(todo, out, client, cluster, on_done)
        elif workers <= 1:
            _run_inline(todo, out, on_done)
        else:
            _run_pool(todo, out, workers, on_done)
    except KeyboardInterrupt:
        with _no_interrupts():
            _finalise(out, manifest, "interrupted")
        raise BatchInterrupted(BatchResult(out, manifest)) from None
    except (OutputError, OSError) as exc:
        with suppress(OSError):  # if the disk refuses even the manifest, the runs' folders
            _finalise(out, manifest, "stopped")  # (verified on --resume) say what is done
        if isinstance(exc, OutputError):
            raise
        raise OutputError(describe_os_error(exc, str(out))) from None
    try:
        _finalise(out, manifest, "finished")
    except OSError as exc:
        raise OutputError(describe_os_error(exc, str(out))) from None
    return BatchResult(out, manifest)


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C (in the main thread) while the manifest is finalised."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _finalise(out: Path, manifest: dict[str, Any], status: str) -> None:
    """Record what is verifiably on disk, then write the manifest and the summary."""
    reconcile(manifest, out)
    manifest["status"] = status
    manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _write_json(out / "manifest.json", manifest)
    _write_summary(out, manifest)
    completed = [rid for rid, v in manifest["runs"].items() if v["status"] == "completed"]
    write_datasets(out, completed, RUNS_DIR)  # metrics/, events/, agents/ (abm.runs.dataset)


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
                **{f"factor:{k}": val for k, val in (v.get("factors") or {}).items()},
                **v["kpis"],
            }
        )
    keys = {k for r in rows for k in r if k.startswith(("param:", "factor:"))}
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
