"""``--no-uncertainty`` on ``abm run`` and ``abm batch`` runs the declared values."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from abm.cli import app

runner = CliRunner()


def _manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_run_samples_by_default_and_not_with_no_uncertainty(tmp_path):
    on, off = tmp_path / "on", tmp_path / "off"
    args = ["run", "baseline", "--seed", "2", "--weeks", "2", "--quiet", "--out"]
    assert runner.invoke(app, [*args, str(on)]).exit_code == 0
    res = runner.invoke(app, [*args, str(off), "--no-uncertainty"])
    assert res.exit_code == 0, res.output
    drawn, declared = _manifest(on), _manifest(off)
    assert drawn["uncertainty"]["sampled"] and drawn["uncertainty"]["values"]
    assert declared["uncertainty"] == {"sampled": False, "values": {}, "disruptions": []}
    assert drawn["scenario_hash"] == declared["scenario_hash"]  # the declared scenario's
    assert drawn["sampled_scenario_hash"] != declared["sampled_scenario_hash"]


def test_batch_passes_no_uncertainty_to_its_runs_and_refuses_it_with_spec(tmp_path):
    out = tmp_path / "b"
    res = runner.invoke(
        app,
        [
            "batch",
            "baseline",
            "--seeds",
            "1",
            "--weeks",
            "2",
            "--no-uncertainty",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert _manifest(out / "runs" / "run_id=baseline-s1")["uncertainty"]["sampled"] is False
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"scenarios": ["baseline"], "weeks": 2}), encoding="utf-8")
    res = runner.invoke(app, ["batch", "--spec", str(spec), "--no-uncertainty", "--out", str(out)])
    assert res.exit_code == 2 and "--no-uncertainty" in res.output
