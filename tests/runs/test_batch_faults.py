"""Batch folders survive faults: concurrent batches, damaged runs, Ctrl-C, full or read-only
disks, unreachable schedulers, and bad specs are caught before any run."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from abm.cli import app
from abm.runs import outputs
from abm.runs.batch import LOCK_FILE, BatchSpec, run_batch
from abm.runs.outputs import verify_run
from tests.runs.mounts import read_only

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ABM = [sys.executable, "-c", "from abm.cli import app; app()"]
runner = CliRunner()


def _run_dirs(out: Path) -> list[str]:
    return sorted(p.name.removeprefix("run_id=") for p in (out / "runs").glob("run_id=*"))


def _hashes(out: Path) -> dict[str, str]:
    import hashlib

    return {
        f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "runs").glob("run_id=*/*.parquet"))
    }


def test_a_second_batch_into_the_same_folder_fails_at_once(tmp_path):
    out = tmp_path / "b"
    first = subprocess.Popen(
        [*ABM, "batch", "baseline", "--seeds", "2", "--weeks", "60", "--out", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not (out / "manifest.json").exists():
            assert time.time() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.05)
        t0 = time.perf_counter()
        res = runner.invoke(app, ["batch", "no_controls", "--weeks", "5", "--out", str(out)])
        took = time.perf_counter() - t0
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert "\n" not in line and LOCK_FILE in line and f"pid {first.pid}" in line, line
        assert took < 10
    finally:
        _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["scenarios"] == ["baseline"]
    assert _run_dirs(out) == sorted(manifest["runs"]) == ["baseline-s1", "baseline-s2"]
    assert not (out / LOCK_FILE).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / LOCK_FILE).write_text("999999999\n")
    notes: list[str] = []
    result = run_batch(BatchSpec(scenarios=["baseline"], weeks=3), out, notify=notes.append)
    assert not result.failed and _run_dirs(out) == ["baseline-s1"]
    assert any("stale lock" in n and "999999999" in n for n in notes), notes
    assert not (out / LOCK_FILE).exists()


def test_resume_verifies_files_and_reruns_damaged_runs(tmp_path):
    out = tmp_path / "r"
    args = ["batch", "baseline", "--seeds", "4", "--weeks", "8", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    good = _hashes(out)
    runs = out / "runs"
    events = runs / "run_id=baseline-s1" / "events.parquet"
    events.write_bytes(events.read_bytes()[: events.stat().st_size // 2])  # truncated
    (runs / "run_id=baseline-s2" / "agents.parquet").unlink()  # deleted
    (runs / "run_id=baseline-s3" / "metrics.parquet").write_bytes(b"")  # emptied
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert "1 completed runs verified on disk, 3 damaged" in res.output, res.output
    assert "4 of 4 runs completed" in res.output
    assert _hashes(out) == good
    assert all(verify_run(p) == [] for p in runs.glob("run_id=*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(v["status"] == "completed" for v in manifest["runs"].values())
    assert pq.read_table(out / "summary.parquet").num_rows == 4


@pytest.mark.slow
def test_ctrl_c_with_two_workers_stops_fast_and_records_what_is_on_disk(tmp_path):
    out = tmp_path / "c"
    cmd = ["batch", "baseline", "--seeds", "12", "--weeks", "80", "--workers", "2"]
    proc = subprocess.Popen(
        [*ABM, *cmd, "--out", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )
    deadline = time.time() + 180
    while len(list((out / "runs").glob("run_id=*/manifest.json"))) < 2:
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    t0 = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    took = time.perf_counter() - t0
    assert proc.returncode == 130, stderr
    assert took < 4.0, f"took {took:.1f} s to stop"
    last = [ln for ln in stderr.splitlines() if ln.strip()][-1]
    assert "interrupted:" in last and "--resume" in last and "--workers 2" in last, stderr
    assert "Traceback" not in stderr
    time.sleep(0.5)
    assert not [
        p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    recorded = sorted(r for r, v in manifest["runs"].items() if v["status"] == "completed")
    on_disk = sorted(
        p.name.removeprefix("run_id=")
        for p in (out / "runs").glob("run_id=*")
        if verify_run(p) == []
    )
    assert recorded == on_disk and len(recorded) >= 2
    res = runner.invoke(app, [*cmd, "--out", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    assert f"resume: {len(recorded)} completed runs verified on disk, 0 damaged" in res.output
    assert "12 of 12 runs completed" in res.output
    assert not list((out / "runs").glob(".*.tmp-*"))


def test_disk_full_during_a_batch_stops_it_and_keeps_finished_runs(tmp_path, monkeypatch):
    """ENOSPC raised by the Parquet writer from the second run on (monkeypatched)."""
    real = pq.write_table
    calls = [0]

    def full(table, where, **kw):
        calls[0] += 1
        if calls[0] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, **kw)

    monkeypatch.setattr(outputs.pq, "write_table", full)
    out = tmp_path / "f"
    res = runner.invoke(
        app, ["batch", "baseline", "--seeds", "4", "--weeks", "3", "--out", str(out)]
    )
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert "disk full" in lines[-1] and "--resume" in lines[-1], res.output
    assert "Traceback" not in res.output
    assert (
        _run_dirs(out) == ["baseline-s1"] and verify_run(out / "runs" / "run_id=baseline-s1") == []
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"]["baseline-s1"]["status"] == "completed"
    assert manifest["status"] == "stopped"
    assert manifest["runs"]["baseline-s2"]["status"] == "failed"
    # stopped at the first run the disk refused: the other two never started
    assert [manifest["runs"][f"baseline-s{i}"]["status"] for i in (3, 4)] == ["pending"] * 2


def test_a_read_only_output_folder_is_a_one_line_error(tmp_path):
    """A read-only bind mount (root ignores chmod)."""
    with read_only(tmp_path / "src", tmp_path / "ro") as ro:
        res = runner.invoke(app, ["batch", "baseline", "--weeks", "3", "--out", str(ro / "b")])
        assert res.exit_code == 2, res.output
        assert res.output.count("\n") == 1 and "read-only file system" in res.output
        assert "Traceback" not in res.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_one_line_error_within_the_timeout(tmp_path):
    out = tmp_path / "d"
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    res = runner.invoke(
        app,
        ["batch", "baseline", "--weeks", "3", "--engine", "dask", "--address", address]
        + ["--connect-timeout", "2", "--out", str(out)],
    )
    took = time.perf_counter() - t0
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and address in res.output and "2 s" in res.output
    assert took < 15
    assert not out.exists()  # nothing written


def test_spec_with_conflicting_flags_is_refused(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("scenarios: [baseline]\nseeds: 2\nweeks: 5\n")
    out = tmp_path / "s"
    for extra, named in [
        (["--weeks", "30"], "--weeks"),
        (["--seeds", "3"], "--seeds"),
        (["--sweep", "enforcement=0.5"], "--sweep"),
        (["no_controls"], "SCENARIOS"),
    ]:
        res = runner.invoke(app, ["batch", *extra, "--spec", str(spec), "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert res.output.count("\n") == 1 and named in res.output, res.output
    assert not out.exists()
    res = runner.invoke(app, ["batch", "--spec", str(spec), "--out", str(out)])  # alone: runs
    assert res.exit_code == 0, res.output
    assert len(list((out / "runs").iterdir())) == 2  # the spec's 2 seeds
    shown = " ".join(runner.invoke(app, ["batch", "--help"]).output.split())
    assert "With --spec the file is the whole design" in shown and "is an error" in shown


@pytest.mark.parametrize(
    ("sweep", "expected"),
    [
        ("parameters.rental.floorr_usd=1,2", "no field 'floorr_usd' in parameters.rental"),
        (
            "world.packagers[TSMC CoWos].capacity_wafers_per_week=900",
            "no item 'TSMC CoWos' in world.packagers (known: TSMC CoWoS",
        ),
    ],
)
def test_a_bad_sweep_key_is_refused_before_any_run(tmp_path, sweep, expected):
    out = tmp_path / "k"
    res = runner.invoke(
        app,
        ["batch", "baseline", "no_controls", "--weeks", "3", "--sweep", sweep, "--out", str(out)],
    )
    assert res.exit_code == 2, res.output
    assert expected in res.output and res.output.count("\n") == 1, res.output
    assert not out.exists()  # no batch folder is left


def test_a_bad_design_range_key_is_refused(tmp_path):
    spec = BatchSpec(
        scenarios=["baseline"],
        weeks=3,
        sample={"method": "lhs", "n": 2, "ranges": {"enforcment": [0.1, 0.9]}},
    )
    from abm.runs.batch import BatchError

    with pytest.raises(BatchError, match="sample.ranges key 'enforcment'"):
        run_batch(spec, tmp_path / "x")
    assert not (tmp_path / "x").exists()
