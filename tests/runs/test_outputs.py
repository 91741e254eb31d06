"""Run folders survive faults: kills while writing, stale temporaries, full or read-only disks."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from abm.engine.model import SupplyChainModel
from abm.runs import outputs
from abm.runs.outputs import OutputError, verify_run, write_run
from tests.runs.mounts import tiny_tmpfs

ROOT = Path(__file__).resolve().parents[2]


def _run(out: Path, seed: int, weeks: int) -> dict:
    model = SupplyChainModel.from_scenario("baseline", seed=seed, weeks=weeks).run()
    return write_run(model, out, datetime.now(UTC))


def _seeds(out: Path) -> set[int]:
    return set(pq.read_table(out / "metrics.parquet").column("seed").to_pylist())


def test_manifest_records_size_and_checksum_of_every_file(tmp_path):
    manifest = _run(tmp_path, 1, 3)
    assert set(manifest["files"]) == {"metrics.parquet", "events.parquet", "agents.parquet"}
    for name, want in manifest["files"].items():
        assert (tmp_path / name).stat().st_size == want["bytes"]
        assert len(want["sha256"]) == 64
    assert verify_run(tmp_path) == []
    (tmp_path / "events.parquet").write_bytes((tmp_path / "events.parquet").read_bytes()[:-10])
    assert verify_run(tmp_path) == [
        f"events.parquet has {want_bytes(manifest, 'events.parquet') - 10} bytes, "
        f"the manifest says {want_bytes(manifest, 'events.parquet')}"
    ]


def want_bytes(manifest: dict, name: str) -> int:
    return manifest["files"][name]["bytes"]


def test_overwrite_killed_while_replacing_files_is_not_a_good_run(tmp_path):
    """The issue's case: seed 1 / 20 weeks overwritten by seed 2 / 30 weeks, killed midway."""
    out = tmp_path / "o"
    _run(out, 1, 20)
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        real = os.replace
        n = [0]
        def replace(a, b):
            real(a, b)
            if str(b).endswith(".parquet"):
                n[0] += 1
                if n[0] == 2:  # two of three tables replaced: a real SIGKILL
                    os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
        sys.argv = ["abm", "run", "baseline", "--seed", "2", "--weeks", "30",
                    "--out", {str(out)!r}, "--overwrite", "--quiet"]
        from abm.cli import app
        app()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=300)
    assert done.returncode == -9
    assert _seeds(out) == {2}  # the new metrics are in place...
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "writing"  # ...but the folder is not read as a run
    assert verify_run(out) and "writing" in verify_run(out)[0]
    stale = [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert stale  # the killed process left its temporaries
    _run(out, 3, 4)  # the next write removes them and leaves a complete run
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert verify_run(out) == [] and _seeds(out) == {3}


def test_a_temporary_of_a_live_process_is_kept(tmp_path):
    mine = tmp_path / f".metrics.parquet.tmp-{os.getpid()}"
    dead = tmp_path / ".metrics.parquet.tmp-999999999"
    other = tmp_path / f".events.parquet.tmp-{os.getppid()}"
    for p in (mine, dead, other):
        p.write_bytes(b"x")
    removed = outputs.clean_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([mine, dead]) and other.exists()


def test_disk_full_while_writing_keeps_the_previous_run(tmp_path, monkeypatch):
    """ENOSPC raised by the Parquet writer (monkeypatched): the old run stays complete."""
    _run(tmp_path, 1, 3)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = [0]
    real = pq.write_table

    def full(table, where, **kw):
        calls[0] += 1
        if calls[0] == 2:
            where.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, **kw)

    monkeypatch.setattr(outputs.pq, "write_table", full)
    with pytest.raises(OutputError, match="disk full"):
        _run(tmp_path, 2, 4)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert verify_run(tmp_path) == [] and _seeds(tmp_path) == {1}


@pytest.fixture
def tiny(tmp_path):
    """A 64 KiB tmpfs (needs root and mount permission; skipped otherwise)."""
    with tiny_tmpfs(tmp_path / "tiny") as where:
        yield where


def test_disk_full_on_a_real_tmpfs_keeps_the_previous_run(tiny):
    out = tiny / "o"
    _run(out, 1, 2)  # about 40 KB: fits
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OutputError, match="disk full") as info:
        _run(out, 2, 30)  # about 100 KB: does not
    assert "\n" not in str(info.value) and "metrics.parquet" in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert verify_run(out) == []
