"""Scenario discovery with EMA Workbench's PRIM over a real Latin-hypercube batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from abm.analysis.compare import runs_table
from abm.analysis.discovery import discover, in_box, tradeoff_plot
from abm.cli import app
from abm.runs.batch import BatchSpec, run_batch

runner = CliRunner()


@pytest.fixture(scope="module")
def lhs_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "b"
    spec = BatchSpec.model_validate(
        {
            "scenarios": ["baseline"],
            "weeks": 60,
            "design": {
                "method": "lhs",
                "n": 24,
                "seed": 3,
                "factors": [
                    {"key": "enforcement", "range": [0.0, 1.0], "role": "lever"},
                    {"key": "parameters.buyers.safety_stock", "range": [0.0, 0.3]},
                ],
            },
        }
    )
    assert not run_batch(spec, out, workers=2).failed
    return out


def test_prim_box_finds_the_lever_and_its_statistics_hold(lhs_batch, tmp_path):
    runs = runs_table(lhs_batch)
    threshold = float(runs["seized_units"].median())
    found = discover(lhs_batch, "seized_units", threshold, "above", min_density=0.8)
    y = (runs["seized_units"] > threshold).to_numpy()
    assert found.n_interest == int(y.sum()) and found.n_runs == len(runs)
    box = found.box.set_index("factor")
    # more smuggled units are caught where enforcement is high: the box bounds it from below
    assert box.loc["enforcement", "restricted"]
    assert box.loc["enforcement", "low"] > 0.2
    inside = in_box(lhs_batch, found).loc[runs["run_id"]].to_numpy()
    chosen = found.chosen
    assert chosen["coverage"] == pytest.approx((inside & y).sum() / y.sum())
    assert chosen["density"] == pytest.approx((inside & y).sum() / inside.sum())
    assert chosen["density"] >= 0.8
    # the trade-off curve starts from every run and ends denser
    assert found.tradeoff.iloc[0]["mass"] == 1.0
    assert found.tradeoff["density"].iloc[-1] >= found.tradeoff["density"].iloc[0]
    assert tradeoff_plot(found, tmp_path).stat().st_size > 1000


def test_discover_cli_prints_the_box_and_exports(lhs_batch, tmp_path):
    median = float(runs_table(lhs_batch)["seized_units"].median())
    res = runner.invoke(
        app,
        [
            "discover",
            str(lhs_batch),
            "--kpi",
            "seized_units",
            "--above",
            str(median),
            "--csv",
            str(tmp_path / "p.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "coverage" in res.output and "enforcement" in res.output
    box = pd.read_csv(tmp_path / "p.box.csv")
    trade = pd.read_csv(tmp_path / "p.tradeoff.csv")
    assert "enforcement" in set(box["factor"])
    assert np.all(np.diff(trade["mass"]) <= 1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kpi", "seized_units"], "give one of --below X or --above X"),
        (["--kpi", "seized_units", "--below", "1", "--above", "2"], "give one of"),
        (["--kpi", "nope", "--below", "1"], "unknown KPI 'nope'"),
        (["--kpi", "seized_units", "--below", "-5"], "no run has seized_units < -5"),
        (["--kpi", "seized_units", "--below", "nan"], "expected a finite number"),
    ],
)
def test_discover_refuses_bad_input_in_one_line(lhs_batch, args, message):
    res = runner.invoke(app, ["discover", str(lhs_batch), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
