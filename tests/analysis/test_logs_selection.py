"""Batch logs: select scenarios and runs, never pool scenarios silently, print values literally."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from abm.analysis.logs import ResultsError, connect, summary
from abm.cli import app
from abm.runs.batch import BatchSpec, run_batch
from abm.scenario import load_scenario

runner = CliRunner()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    out = tmp_path_factory.mktemp("l") / "b"
    run_batch(BatchSpec(scenarios=["baseline", "no_controls"], seeds=2, weeks=3), out)
    return out


def test_summary_of_several_scenarios_is_per_scenario_and_ordered(mixed):
    con = connect(mixed)
    df = summary(con, "region").df()
    assert list(df.columns[:3]) == ["scenario", "region", "event"]
    assert set(df["runs"]) <= {1, 2}  # per scenario: never the 4 runs of both
    again = summary(connect(mixed), "region").df()
    pd.testing.assert_frame_equal(df, again)
    assert list(df["scenario"]) == sorted(df["scenario"])
    assert not df.duplicated(["scenario", "region", "event"]).any()


def test_summary_and_report_select_scenarios_and_runs(mixed, tmp_path):
    res = runner.invoke(app, ["logs", str(mixed), "summary", "--scenario", "no_controls", "--csv"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(io.StringIO(res.output))
    assert "scenario" not in df.columns and set(df["runs"]) == {2}
    res = runner.invoke(app, ["logs", str(mixed), "summary", "--run", "baseline-s1", "--csv"])
    assert set(pd.read_csv(io.StringIO(res.output))["runs"]) == {1}
    con = connect(mixed, scenarios=["baseline"], runs=["baseline-s2"])
    assert con.execute("SELECT run_id FROM runs").fetchall() == [("baseline-s2",)]
    with pytest.raises(ResultsError, match="no run of scenario 'nope' \\(scenarios: baseline"):
        connect(mixed, scenarios=["nope"])
    res = runner.invoke(app, ["logs", str(mixed), "report", "--dest", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "pools 2 scenarios (baseline, no_controls)" in res.output
    page = (tmp_path / "r" / "index.html").read_text()
    assert "4 runs of 2 scenarios pooled (baseline, no_controls)" in page
    res = runner.invoke(
        app, ["logs", str(mixed), "report", "--scenario", "baseline", "--dest", str(tmp_path / "s")]
    )
    assert res.exit_code == 0 and "pools" not in res.output
    assert "pooled" not in (tmp_path / "s" / "index.html").read_text()
    res = runner.invoke(app, ["logs", str(mixed), "report", "--run", "nope"])
    assert res.exit_code == 2 and "no run 'nope'" in res.output


def test_data_values_are_printed_literally(mixed):
    res = runner.invoke(app, ["logs", str(mixed), "query", "SELECT 'a:x:b' AS v, '[red]r[/]' AS w"])
    assert res.exit_code == 0, res.output
    assert "a:x:b" in res.output and "[red]r[/]" in res.output


def test_scenarios_show_piped_is_valid_yaml_that_loads_back(tmp_path):
    res = runner.invoke(app, ["scenarios", "show", "strict_controls"])
    assert res.exit_code == 0
    assert max(len(line) for line in res.output.splitlines()) > 80  # not wrapped
    data = yaml.safe_load(res.output)
    assert data == load_scenario("strict_controls").model_dump(mode="json")
