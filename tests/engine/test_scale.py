"""Synthetic worlds, determinism at 10,000 agents, and the benchmark's smoke run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from abm.cli import app
from abm.engine.model import SupplyChainModel
from abm.engine.synthetic import expand_synthetic, synthetic_counts
from abm.runs.outputs import agents_table, events_table, metrics_table
from abm.scenario import load_scenario
from bench.suite import synthetic_spec


def test_synthetic_world_keeps_the_totals():
    spec = load_scenario("baseline")
    world = spec.world.model_copy(update={"synthetic": synthetic_counts(1000, seed=4)})
    big = expand_synthetic(spec.model_copy(update={"world": world}))
    w0, w1 = spec.world, big.world
    assert big.world.synthetic is None
    assert len(w1.clouds) == 40 and len(w1.enterprises) == 800
    assert len(w1.labs) == len(w0.labs) + 160
    for region in ("US", "CN", "ROW"):
        share0 = sum(c.market_share for c in w0.clouds if c.region == region)
        share1 = sum(c.market_share for c in w1.clouds if c.region == region)
        assert abs(share0 - share1) < 1e-9

    def units(clouds):
        return sum(f.units for c in clouds for f in c.initial_fleet)

    assert units(w0.clouds) == units(w1.clouds)
    for e in w0.enterprises:
        pieces = [x for x in w1.enterprises if x.name == e.name or x.name.startswith(e.name + " #")]
        for k, (d, v) in enumerate(e.demand_path_h100e):
            assert d == pieces[0].demand_path_h100e[k][0]
            assert abs(sum(p.demand_path_h100e[k][1] for p in pieces) - v) <= 1e-9 * max(v, 1)
    # the first piece keeps the real name, so shocks and rules naming it still apply
    assert {c.name for c in w0.clouds} <= {c.name for c in w1.clouds}
    assert expand_synthetic(spec) is spec


@pytest.mark.slow
def test_ten_thousand_agents_are_deterministic():
    spec = synthetic_spec(10_000, weeks=3)
    runs = []
    for _ in range(2):
        model = SupplyChainModel(spec, seed=5)
        assert len(model.agents) > 10_000
        model.run()
        runs.append((metrics_table(model), events_table(model), agents_table(model)))
    for a, b in zip(runs[0], runs[1], strict=True):
        assert a.equals(b)
    assert runs[0][2].num_rows == 3 * len(model.agents)


def test_abm_world_writes_a_valid_scenario(tmp_path):
    out = tmp_path / "big_world.yaml"
    res = CliRunner().invoke(app, ["world", str(out), "--agents", "200", "--seed", "2"])
    assert res.exit_code == 0, res.output
    spec = load_scenario(out)
    assert spec.name == "big_world" and spec.world.synthetic.enterprises == 160
    model = SupplyChainModel(spec, seed=1)
    assert len(model.enterprises) == 160
    again = CliRunner().invoke(app, ["world", str(out)])
    assert again.exit_code == 2 and "exists" in again.output


@pytest.mark.slow
def test_bench_quick_writes_valid_json(tmp_path):
    out = tmp_path / "results.json"
    res = CliRunner().invoke(app, ["bench", "--quick", "--out", str(out), "--agents", "60"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert {"cpu", "cores", "ram_gib", "python", "packages"} <= set(data["machine"])
    assert data["baseline"]["simulate_s"] > 0
    assert set(data["stages_baseline_s"]) >= {"1 calendar", "7 record", "whole step"}
    assert data["scaling"][0]["agents"] > 60 and data["scaling"][0]["peak_mib"] > 0
    assert data["batch"]["abm_batch_2_s"] > 0 and data["batch"]["mesa_batch_run_2_s"] > 0
    assert all(c["met"] is None for c in data["checks"].values())
    assert "baseline run" in res.output
