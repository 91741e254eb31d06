"""Answers per factor over a real 2x2 design (scenario x crackdown), paired by seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from abm.analysis.compare import kpi_table, runs_table
from abm.analysis.factors import by_point, main_effects, paired_effects, table_paths
from abm.cli import app
from abm.runs.batch import BatchSpec, run_batch

runner = CliRunner()
DESIGN = {
    "method": "full_factorial",
    "factors": [
        {"key": "scenario", "values": ["baseline", "strict_controls"], "role": "lever"},
        {"name": "crackdown", "values": {"off": {}, "on": {"enforcement": 0.95}}},
    ],
}


@pytest.fixture(scope="module")
def two_by_two(tmp_path_factory):
    out = tmp_path_factory.mktemp("f") / "b"
    # 60 weeks: past the Oct-2022 rules, so brokers divert and are caught
    run_batch(BatchSpec.model_validate({"seeds": 2, "weeks": 60, "design": DESIGN}), out)
    return out


def test_main_effect_is_the_difference_of_level_means(two_by_two):
    runs = runs_table(two_by_two)
    me = main_effects(two_by_two, ["seized_units"])
    on = me[(me["factor"] == "crackdown") & (me["level"] == "on")].iloc[0]
    want = (
        runs.loc[runs["factor:crackdown"] == "on", "seized_units"].mean()
        - runs.loc[runs["factor:crackdown"] == "off", "seized_units"].mean()
    )
    assert on["n_runs"] == 4
    assert on["effect"] == pytest.approx(want)
    assert list(me[me["factor"] == "scenario"]["level"]) == ["baseline", "strict_controls"]


def test_paired_differences_pair_by_seed_and_the_other_factor(two_by_two):
    runs = runs_table(two_by_two).set_index(["factor:scenario", "factor:crackdown", "seed"])
    pe = paired_effects(two_by_two, ["seized_units", "diverted_units"])
    row = pe[(pe["factor"] == "crackdown") & (pe["kpi"] == "seized_units")].iloc[0]
    diffs = [
        runs.loc[(s, "on", seed), "seized_units"] - runs.loc[(s, "off", seed), "seized_units"]
        for s in ("baseline", "strict_controls")
        for seed in (1, 2)
    ]
    assert row["n_pairs"] == 4
    assert row["diff_median"] == pytest.approx(float(np.median(diffs)))
    assert row["diff_p05"] == pytest.approx(float(np.quantile(diffs, 0.05)))
    # a crackdown catches more smuggled units in every pair (common random numbers)
    assert row["diff_p05"] > 0
    # the scenario comparison pairs across the design's points too
    kt = kpi_table(two_by_two)
    assert set(kt["n_pairs"]) == {4}


def test_by_point_lists_every_point_with_its_factor_values(two_by_two):
    bp = by_point(two_by_two, ["seized_units"])
    assert list(bp["point"]) == [0, 1, 2, 3]
    assert list(bp["crackdown"]) == ["off", "on", "off", "on"]
    assert set(bp["n_seeds"]) == {2}


def test_compare_writes_every_table_and_pipes_wide_tables_uncut(two_by_two, tmp_path):
    res = runner.invoke(
        app,
        ["compare", str(two_by_two), "--by", "factor", "--csv", str(tmp_path / "e.csv")],
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) > 120  # piped: not cut at 80 columns
    paths = table_paths(tmp_path / "e.csv", ["main_effects", "paired"])
    paired = pd.read_csv(paths["paired"])
    want = paired_effects(two_by_two)
    assert list(paired["kpi"]) == list(want["kpi"])
    assert np.allclose(paired["diff_median"], want["diff_median"], equal_nan=True)
    res = runner.invoke(app, ["compare", str(two_by_two), "--parquet", str(tmp_path / "k.parquet")])
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(tmp_path / "k.parquet")) == len(kpi_table(two_by_two))
    html = (two_by_two / "compare" / "fan_charts.html").read_text()
    assert 'class="table-wrap"' in html and "Paired differences" in html


def test_bad_compare_options_are_one_line_errors(two_by_two, tmp_path):
    for args, text in (
        (["--by", "seed"], "--by: expected scenario, point or factor"),
        (["--by", "factor", "--reference", "crackdown"], "expected factor=level"),
        (["--by", "factor", "--reference", "crackdown=maybe"], "has no level 'maybe'"),
        (["--by", "point", "--csv", str(tmp_path / "no" / "x.csv")], "no folder"),
    ):
        res = runner.invoke(app, ["compare", str(two_by_two), *args])
        assert res.exit_code == 2, res.output
        assert text in res.output
        assert "Traceback" not in res.output
