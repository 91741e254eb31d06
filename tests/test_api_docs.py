"""The API reference builds from the docstrings (scripts/api_docs.py, `make api`)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "api_docs.py"


def test_api_reference_builds(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "api")],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    api = tmp_path / "api"
    assert (api / "index.html").is_file()
    for page in ("abm/engine/model.html", "abm/scenario/library.html", "abm/runs/dataset.html"):
        assert (api / page).is_file(), page
    model = (api / "abm/engine/model.html").read_text(encoding="utf-8")
    assert "SupplyChainModel" in model and "datacollector" in model
    assert not (api / "abm/__main__.html").exists()  # documenting it would run the CLI
