"""Batch runs: engines agree run for run, faults stay isolated, resume, refusal, CRN."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from abm.cli import app
from abm.runs.batch import BatchError, BatchSpec, run_batch
from abm.scenario import overrides_from

SPEC = BatchSpec(scenarios=["baseline", "no_controls"], seeds=2, weeks=40)
runner = CliRunner()


def _hashes(out: Path) -> dict[str, str]:
    return {
        p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "runs").glob("run_id=*/metrics.parquet"))
    }


@pytest.fixture(scope="module")
def inline(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "inline"
    run_batch(SPEC, out, workers=1)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_scheduler():
    """A real Dask scheduler and one worker on 127.0.0.1, stopped afterwards."""
    bin_dir = Path(sys.executable).parent
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    sched = subprocess.Popen(
        [
            str(bin_dir / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    worker = subprocess.Popen(
        [
            str(bin_dir / "dask"),
            "worker",
            address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        from distributed import Client

        deadline = time.time() + 60
        while True:
            try:
                with Client(address, timeout=5) as c:
                    if c.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("dask scheduler/worker did not start")
            time.sleep(0.5)
        yield address
    finally:
        for p in (worker, sched):
            p.send_signal(signal.SIGTERM)
        for p in (worker, sched):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
def test_local_pool_and_dask_scheduler_give_identical_runs(inline, tmp_path, dask_scheduler):
    pool = tmp_path / "pool"
    run_batch(SPEC, pool, workers=2)
    remote = tmp_path / "dask"
    run_batch(SPEC, remote, engine="dask", address=dask_scheduler)
    expected = _hashes(inline)
    assert len(expected) == 4
    assert _hashes(pool) == expected
    assert _hashes(remote) == expected
    summary = pq.read_table(inline / "summary.parquet").to_pylist()
    assert {r["run_id"] for r in summary} == {
        "baseline-s1",
        "baseline-s2",
        "no_controls-s1",
        "no_controls-s2",
    }


def test_a_run_that_raises_is_isolated(tmp_path):
    spec = BatchSpec(
        scenarios=["baseline"],
        seeds=1,
        weeks=8,
        sweep={"parameters.rental.floor_usd_per_h100e_hour": [1.5, -1.0, 2.0]},
    )
    result = run_batch(spec, tmp_path / "b", workers=2)
    runs = result.manifest["runs"]
    assert [r for r, v in runs.items() if v["status"] == "failed"] == ["baseline-p001-s1"]
    assert "Traceback" in runs["baseline-p001-s1"]["error"]
    assert "floor_usd_per_h100e_hour" in runs["baseline-p001-s1"]["error"]
    assert sum(v["status"] == "completed" for v in runs.values()) == 2
    assert not (tmp_path / "b" / "runs" / "run_id=baseline-p001-s1").exists()
    res = runner.invoke(
        app,
        [
            "batch",
            "baseline",
            "--weeks",
            "8",
            "--out",
            str(tmp_path / "c"),
            "--sweep",
            "parameters.rental.floor_usd_per_h100e_hour=1.5,-1",
        ],
    )
    assert res.exit_code == 1


@pytest.mark.slow
def test_a_killed_worker_costs_only_its_runs(tmp_path):
    spec = BatchSpec(scenarios=["baseline"], seeds=8, weeks=100)
    out = tmp_path / "k"
    killed: list[int] = []

    def killer() -> None:
        me = psutil.Process()
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            # a finished run's folder is renamed into place when it ends (the batch
            # manifest is written at most once a second: too late for fast runs)
            if any((out / "runs").glob("run_id=*/manifest.json")):
                workers = [
                    c for c in me.children(recursive=True) if c.ppid() != me.pid and c.is_running()
                ]
                if workers:
                    workers[0].kill()
                    killed.append(workers[0].pid)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    result = run_batch(spec, out, workers=2)
    t.join()
    assert killed, "no worker process was killed"
    assert not result.failed
    assert len(_hashes(out)) == 8
    reference = tmp_path / "ref"
    run_batch(BatchSpec(scenarios=["baseline"], seeds=[8], weeks=100), reference, workers=1)
    assert _hashes(out)["run_id=baseline-s8"] == _hashes(reference)["run_id=baseline-s8"]


@pytest.mark.slow
def test_resume_runs_only_what_is_missing_or_failed(inline, tmp_path):
    out = tmp_path / "r"
    first = run_batch(SPEC, out, workers=1)
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.parquet")}
    # an interrupted batch: one run never finished, one failed
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["runs"]["baseline-s2"]["status"] = "pending"
    manifest["runs"]["no_controls-s1"]["status"] = "failed"
    (out / "manifest.json").write_text(json.dumps(manifest))
    import shutil

    shutil.rmtree(out / "runs" / "run_id=baseline-s2")
    with pytest.raises(BatchError, match="--resume"):
        run_batch(SPEC, out, workers=1)
    resumed = run_batch(SPEC, out, workers=1, resume=True)
    after = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.parquet")}
    untouched = [p for p in before if "baseline-s1" in str(p) or "no_controls-s2" in str(p)]
    assert untouched and all(after[p] == before[p] for p in untouched)
    assert all(v["status"] == "completed" for v in resumed.manifest["runs"].values())
    assert _hashes(out) == _hashes(inline)
    assert first.manifest["spec_hash"] == resumed.manifest["spec_hash"]


def test_a_folder_from_another_spec_is_refused(inline):
    before = _hashes(inline)
    other = BatchSpec(scenarios=["baseline"], seeds=3, weeks=40)
    with pytest.raises(BatchError, match="holds a different batch"):
        run_batch(other, inline)
    assert _hashes(inline) == before
    res = runner.invoke(app, ["batch", "baseline", "--seeds", "3", "--out", str(inline)])
    assert res.exit_code == 2 and "different batch" in res.output


@pytest.mark.slow
def test_common_random_numbers_a_policy_that_never_fires(tmp_path):
    never = tmp_path / "never_fires.yaml"
    never.write_text(
        "extends: baseline\nname: never_fires\npolicies:\n"
        "  - {id: US-2030-NEVER, authority: US government, gate: export,\n"
        "     announced: 2030-01-07, effective: 2030-01-07, origins: [US],\n"
        "     destinations: [CN], controlled: [{kind: gpu}], licence: {policy: deny}}\n"
    )
    spec = BatchSpec(scenarios=["baseline", str(never)], seeds=[3], weeks=80)
    out = tmp_path / "crn"
    run_batch(spec, out, workers=1)

    def values(run: str) -> list[tuple]:
        t = pq.read_table(out / "runs" / f"run_id={run}" / "metrics.parquet").to_pylist()
        return [
            (r["step"], r["name"], r["scope"], r["value"])
            for r in t
            if r["scope"] != "US-2030-NEVER"
        ]

    assert values("baseline-s3") == values("never_fires-s3")


def test_sweep_paths_address_named_items():
    o = overrides_from(
        {"world.packagers[TSMC CoWoS].capacity_wafers_per_week": 900, "enforcement": 0.9}
    )
    assert o == {
        "world": {"packagers": [{"name": "TSMC CoWoS", "capacity_wafers_per_week": 900}]},
        "enforcement": 0.9,
    }
