"""abm calibrate and abm validate: the search, the fitted file the baseline loads, the CLI."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from abm.analysis.calibration import calibrate, load_search, score_points
from abm.analysis.targets import load_targets
from abm.cli import app
from abm.scenario import SCENARIO_DIR, ScenarioError, load_scenario

runner = CliRunner()


def _at(data, path: str):
    """The value at a calibration key path (``a.b[Name].c``) of a scenario dump."""
    from abm.scenario import split_key_path

    node = data
    for part in split_key_path(path):
        if part.endswith("]"):
            key, name = part[:-1].split("[", 1)
            node = next(x for x in node[key] if x.get("name", x.get("id")) == name)
        else:
            node = node[part]
    return node


def test_baseline_loads_the_fitted_values_of_its_calibration_file():
    spec, data = load_search()
    fitted = data.get("fitted") or {}
    assert fitted, "the baseline is calibrated: fitted values are recorded"
    assert {p.path for p in spec.parameters} >= set(fitted)
    base = load_scenario("baseline")
    assert base.calibration == "calibration.yaml"
    dump = base.model_dump(mode="json")
    for path, value in fitted.items():
        assert _at(dump, path) == pytest.approx(value), path
    # scenarios that extend the baseline inherit the fit
    child = load_scenario("strict_controls")
    assert child.parameters.buyers == base.parameters.buyers


def _scenario_with_calibration(tmp_path: Path, fitted: dict) -> Path:
    (tmp_path / "cal.yaml").write_text(yaml.safe_dump({"fitted": fitted}), encoding="utf-8")
    s = tmp_path / "mine.yaml"
    s.write_text("name: mine\nextends: baseline\ncalibration: cal.yaml\n", encoding="utf-8")
    return s


def test_a_fitted_value_replaces_the_file_value(tmp_path):
    path = _scenario_with_calibration(
        tmp_path, {"world.packagers[TSMC CoWoS].capacity_wafers_per_week": 1234.0}
    )
    spec = load_scenario(path)
    cowos = next(p for p in spec.world.packagers if p.name == "TSMC CoWoS")
    assert cowos.capacity_wafers_per_week == 1234.0


def test_bad_calibration_files_name_the_file(tmp_path):
    path = _scenario_with_calibration(tmp_path, {"parameters.buyers.no_such_field": 1.0})
    with pytest.raises(ScenarioError, match="no_such_field"):
        load_scenario(path)
    s = tmp_path / "other.yaml"
    s.write_text("name: other\nextends: baseline\ncalibration: missing.yaml\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="calibration: no such file"):
        load_scenario(s)


def test_score_points_averages_seeds_and_ranks_by_loss():
    targets = load_targets()
    ok = {t.id: (t.lower if t.lower is not None else t.upper) for t in targets.targets}
    bad = dict(ok, T1a=0.0)  # lead time far below 36 weeks
    values = pd.DataFrame(
        [ok, ok, bad, ok], index=["b-p000-s1", "b-p000-s2", "b-p001-s1", "b-p001-s2"]
    )
    scores = score_points(values, targets)
    assert list(scores.index) == [0, 1]
    assert scores.loc[0, "loss"] == 0.0
    assert scores.loc[1, "loss"] == pytest.approx(36 / 65 / 2)  # one seed misses by 36 of 65
    assert scores.loc[0, "targets_passing"] == len(targets.targets)
    assert scores.loc[1, "T1a"] == 0.5


@pytest.mark.slow
def test_a_small_two_stage_search_writes_its_record(tmp_path):
    cal = tmp_path / "calibration.yaml"
    cal.write_text(
        "# header kept\n"
        + yaml.safe_dump(
            {
                "search": {
                    "samples": 2,
                    "seeds": [1],
                    "stages": 2,
                    "sample_seed": 3,
                    "confirm_top": 1,
                    "confirm_seeds": [2],
                    "checks": "checks.yaml",
                    "parameters": [
                        {
                            "path": "parameters.buyers.forecast_alpha",
                            "low": 0.2,
                            "high": 0.5,
                            "source": "A11",
                            "why": "test",
                        },
                        {
                            "path": "world.packagers[TSMC CoWoS].growth.expansion_lag_weeks",
                            "low": 13,
                            "high": 30,
                            "integer": True,
                            "source": "A05",
                            "why": "test",
                        },
                    ],
                },
                "fitted": {},
            }
        ),
        encoding="utf-8",
    )
    res = calibrate(tmp_path / "out", path=cal, workers=1, apply=True)
    fitted = res["fitted"]
    assert 0.2 <= fitted["parameters.buyers.forecast_alpha"] <= 0.5
    assert isinstance(fitted["world.packagers[TSMC CoWoS].growth.expansion_lag_weeks"], int)
    assert [s["runs"] for s in res["result"]["stages"]] == [2, 2]
    assert res["result"]["confirmation"] == {"candidates": 2, "seeds": [1, 2], "runs": 2}
    written = cal.read_text(encoding="utf-8")
    assert written.startswith("# header kept\n")
    data = yaml.safe_load(written)
    assert data["fitted"] == fitted and data["search"]["samples"] == 2
    assert (tmp_path / "out" / "result.yaml").exists()
    assert (tmp_path / "out" / "stage2" / "scores.csv").exists()
    # the plausibility checks are scored with the targets and reported apart
    assert res["result"]["best_targets_passing"].split(" of ")[1].startswith("16 ")
    assert res["result"]["best_checks_passing"].endswith(" of 3")
    assert {"C1", "C2"} <= set(res["result"]["best_pass_shares"])
    scores = pd.read_csv(tmp_path / "out" / "stage1" / "scores.csv")
    assert {"C1", "C2", "T1a"} <= set(scores.columns)


@pytest.mark.slow
def test_validate_cli_prints_the_table_and_writes_the_report(tmp_path):
    out = tmp_path / "v"
    r = runner.invoke(
        app, ["validate", "--seeds", "2", "--workers", "1", "--out", str(out), "--report"]
    )
    assert r.exit_code in (0, 1), r.output
    assert "| T1a Nvidia lead time in Q4 2023 |" in r.output
    assert "targets pass in >= 80% of 2 seeds" in r.output
    data = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    assert len(data["table"]) == len(load_targets().targets)
    assert r.exit_code == (0 if data["passed"] else 1)
    html = (out / "validation.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "T5b" in html


def test_validate_refuses_a_used_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    r = runner.invoke(app, ["validate", "--seeds", "1", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "not empty" in r.output
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_the_calibration_file_declares_sources_for_every_parameter():
    spec, _ = load_search(SCENARIO_DIR / "calibration.yaml")
    assert all(p.source and p.why for p in spec.parameters)
