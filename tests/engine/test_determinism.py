"""Same scenario and seed: byte-identical metrics; another seed: different numbers."""

import hashlib

import pytest
from typer.testing import CliRunner

from abm.cli import app

runner = CliRunner()


def _run(tmp_path, seed, name):
    out = tmp_path / name
    res = runner.invoke(
        app, ["run", "baseline", "--seed", str(seed), "--weeks", "80", "--out", str(out), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    return {
        f: hashlib.sha256((out / f).read_bytes()).hexdigest()
        for f in ("metrics.parquet", "events.parquet", "agents.parquet")
    }


@pytest.mark.slow
def test_same_seed_byte_identical(tmp_path):
    a = _run(tmp_path, 7, "a")
    b = _run(tmp_path, 7, "b")
    assert a == b


def test_different_seeds_differ(tmp_path):
    a = _run(tmp_path, 7, "a")
    c = _run(tmp_path, 8, "c")
    assert a["metrics.parquet"] != c["metrics.parquet"]
