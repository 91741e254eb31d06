"""docs/tutorial.py runs from start to end (a new user's walk: run, batch, compare, logs)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.py"


def test_tutorial_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(TUTORIAL)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "failed runs: []" in done.stdout
    assert "cn_compute_h100e_end" in done.stdout
    assert (tmp_path / "out" / "tutorial" / "batch" / "metrics").is_dir()
