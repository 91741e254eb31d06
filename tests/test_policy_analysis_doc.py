"""The worked example of docs/policy_analysis.md, run as written on a small design.

The doc's spec files are used as they are, with fewer seeds, weeks and
trajectories (the doc's own figures come from the full runs it names).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from abm.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs"
runner = CliRunner()


def _small(name: str, tmp_path: Path, **changes: object) -> Path:
    spec = yaml.safe_load((DOCS / name).read_text())
    for key, value in changes.items():
        if key.startswith("design."):
            spec["design"][key.removeprefix("design.")] = value
        else:
            spec[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _ok(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.slow
def test_the_worked_example_runs_as_written(tmp_path):
    doc = (DOCS / "policy_analysis.md").read_text()
    # every command of the example is in the doc as written here
    for command in (
        "abm batch --spec docs/policy_2x2.yaml --workers 2 --out out/policy_2x2",
        "abm compare out/policy_2x2 --by factor --kpi cn_compute_h100e_end",
        "abm batch --spec docs/morris_calibration.yaml --workers 2 --out out/morris",
        "abm screen out/morris",
        "abm discover out/morris --kpi cn_compute_h100e_end --below",
    ):
        assert command in doc, command

    # 1. the 2x2: 2 seeds, 60 weeks (past the Oct-2022 rules)
    spec = _small("policy_2x2.yaml", tmp_path, seeds=2, weeks=60)
    dry = _ok(["batch", "--spec", str(spec), "--dry-run", "--workers", "2"])
    assert "runs: 8 (2 scenario(s), 4 scenario points x 2 seed(s)), 60 weeks each" in dry
    out = tmp_path / "policy_2x2"
    _ok(["batch", "--spec", str(spec), "--workers", "2", "--out", str(out)])
    _ok(
        [
            "compare",
            str(out),
            "--by",
            "factor",
            "--kpi",
            "cn_compute_h100e_end",
            "--kpi",
            "seized_units",
            "--csv",
            str(tmp_path / "2x2.csv"),
        ]
    )
    paired = pd.read_csv(tmp_path / "2x2.paired.csv").set_index(["factor", "kpi"])
    assert paired.loc[("crackdown", "seized_units"), "n_pairs"] == 4
    assert paired.loc[("crackdown", "seized_units"), "diff_p05"] > 0

    # 2. the Morris screening of every calibrated parameter: 2 trajectories, 20 weeks
    spec = _small("morris_calibration.yaml", tmp_path, weeks=20, **{"design.n": 2})
    out = tmp_path / "morris"
    _ok(["batch", "--spec", str(spec), "--workers", "2", "--out", str(out)])
    screen = _ok(
        ["screen", str(out), "--kpi", "us_compute_h100e_end", "--csv", str(tmp_path / "m.csv")]
    )
    ranks = pd.read_csv(tmp_path / "m.csv")
    assert len(ranks) == len(
        yaml.safe_load((DOCS.parent / "scenarios" / "calibration.yaml").read_text())["search"][
            "parameters"
        ]
    )
    assert ranks.loc[0, "factor"] in screen

    # 3. one PRIM box over the screening's runs (threshold: their median)
    median = pd.read_parquet(out / "summary.parquet")["us_compute_h100e_end"].median()
    found = _ok(["discover", str(out), "--kpi", "us_compute_h100e_end", "--below", f"{median:.6g}"])
    assert re.search(r"coverage \d\.\d\d, density \d\.\d\d", found)
