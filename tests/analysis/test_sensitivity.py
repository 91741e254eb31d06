"""Morris screening and Sobol checks on real (short) batches, against hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from abm.analysis.compare import runs_table
from abm.analysis.sensitivity import morris, morris_plot, sensitivity, sobol_warnings
from abm.cli import app
from abm.runs.batch import BatchSpec, run_batch
from abm.runs.design import Design

runner = CliRunner()
FACTORS = [
    {"key": "enforcement", "range": [0.0, 1.0]},
    {"key": "world.packagers[TSMC CoWoS].capacity_wafers_per_week", "range": [1000, 1800]},
    {"key": "parameters.buyers.safety_stock", "range": [0.0, 0.3]},
]
KPIS = ["cn_compute_h100e_end", "us_compute_h100e_end"]


@pytest.fixture(scope="module")
def morris_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "b"
    spec = BatchSpec.model_validate(
        {
            "scenarios": ["baseline"],
            "weeks": 30,
            "design": {"method": "morris", "n": 4, "levels": 4, "factors": FACTORS},
        }
    )
    assert not run_batch(spec, out).failed
    return out


def test_morris_mu_star_is_the_mean_absolute_elementary_effect(morris_batch, tmp_path):
    df = morris(morris_batch, KPIS)
    assert len(df) == len(KPIS) * len(FACTORS)
    runs = runs_table(morris_batch).sort_values("point")
    y = runs["us_compute_h100e_end"].to_numpy(float)
    design = Design.model_validate({"method": "morris", "n": 4, "levels": 4, "factors": FACTORS})
    x = design.matrix()
    lo = np.array([f["range"][0] for f in FACTORS], float)
    hi = np.array([f["range"][1] for f in FACTORS], float)
    unit = (x - lo) / (hi - lo)
    effects: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for t in range(4):
        rows = slice(t * 4, (t + 1) * 4)
        u, v = unit[rows], y[rows]
        for i in range(3):
            step = u[i + 1] - u[i]
            j = int(np.flatnonzero(np.abs(step) > 1e-12)[0])
            effects[j].append((v[i + 1] - v[i]) / step[j])
    us = df[df["kpi"] == "us_compute_h100e_end"].set_index("key")
    for j, f in enumerate(FACTORS):
        assert us.loc[f["key"], "mu_star"] == pytest.approx(np.mean(np.abs(effects[j])))
        assert us.loc[f["key"], "mu"] == pytest.approx(np.mean(effects[j]))
    assert list(us["rank"]) == [1, 2, 3]
    assert us["mu_star"].is_monotonic_decreasing
    assert morris_plot(df, tmp_path).stat().st_size > 1000


def test_screen_cli_prints_and_exports(morris_batch, tmp_path):
    res = runner.invoke(
        app,
        [
            "screen",
            str(morris_batch),
            "--kpi",
            "us_compute_h100e_end",
            "--csv",
            str(tmp_path / "m.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "m.csv")
    assert list(table["rank"]) == [1, 2, 3]
    assert table.loc[0, "factor"] in res.output
    res = runner.invoke(app, ["sensitivity", str(morris_batch)])
    assert res.exit_code == 2
    assert "needs a saltelli design" in res.output


def test_morris_needs_a_morris_design(tmp_path):
    out = tmp_path / "b"
    spec = BatchSpec.model_validate(
        {
            "scenarios": ["baseline"],
            "weeks": 2,
            "design": {"method": "lhs", "n": 2, "factors": FACTORS},
        }
    )
    run_batch(spec, out)
    with pytest.raises(ValueError, match="needs a morris design"):
        morris(out, KPIS)


def test_sobol_warnings_flag_doubtful_indices():
    ok = {"S1": 0.4, "S1_conf": 0.1, "ST": 0.5, "ST_conf": 0.1, "S1_half": 0.45, "ST_half": 0.5}
    assert sobol_warnings(ok) == []
    bad = {"S1": 1.49, "S1_conf": 2.0, "ST": 0.5, "ST_conf": 0.1, "S1_half": 0.2, "ST_half": 0.9}
    found = sobol_warnings(bad)
    assert "S1 1.49 outside [0, 1]" in found
    assert "S1 CI +/-2.00 wider than the index" in found
    assert "ST moved 0.40 from n/2 (not converged)" in found


@pytest.fixture(scope="module")
def saltelli_design(tmp_path_factory):
    out = tmp_path_factory.mktemp("s") / "b"
    spec = BatchSpec.model_validate(
        {
            "scenarios": ["baseline"],
            "weeks": 20,
            "design": {"method": "saltelli", "n": 8, "factors": FACTORS[:2]},
        }
    )
    assert not run_batch(spec, out, workers=2).failed
    return out


def test_sobol_over_a_design_reports_the_half_sample_and_warns(saltelli_design, tmp_path):
    df = sensitivity(saltelli_design, KPIS)
    assert len(df) == 4
    assert {"S1_half", "ST_half", "warning"} <= set(df.columns)
    assert np.isfinite(df[["S1", "ST", "S1_half", "ST_half"]].to_numpy(float)).all()
    for row in df.to_dict("records"):
        # a KPI that nothing in the design moves gets indices 0 and says so
        constant = f"{row['kpi']} is constant over the design: indices are 0"
        assert row["warning"] in ("; ".join(sobol_warnings(row)), constant)
        if row["warning"] == constant:
            assert row["S1"] == row["ST"] == 0.0
    # n = 8 is far too small: something is flagged, and the CLI says so on stderr
    assert (df["warning"] != "").any()
    res = runner.invoke(
        app,
        [
            "sensitivity",
            str(saltelli_design),
            "--kpi",
            KPIS[0],
            "--parquet",
            str(tmp_path / "s.parquet"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == 2
