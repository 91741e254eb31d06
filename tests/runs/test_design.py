"""Designs as data: factors, samplers, scenario factors, key addressing and refusals."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from abm.cli import app
from abm.runs.batch import BatchError, BatchSpec, check_design, load_spec, named_params, run_batch
from abm.runs.design import Design, Factor, calibration_factors, estimate_seconds, identifier
from abm.scenario import load_scenario

runner = CliRunner()

TWO_BY_TWO = {
    "method": "full_factorial",
    "factors": [
        {"key": "scenario", "values": ["baseline", "strict_controls"], "role": "lever"},
        {"name": "crackdown", "values": {"off": {}, "on": {"enforcement": 0.95}}},
    ],
}


def test_full_factorial_with_a_scenario_factor_crosses_every_level():
    spec = BatchSpec.model_validate({"seeds": 2, "weeks": 4, "design": TWO_BY_TWO})
    assert spec.scenarios == ["baseline", "strict_controls"]
    tasks = spec.tasks()
    assert len(tasks) == 8
    assert [t.run_id for t in tasks[:4]] == [
        "baseline-p000-s1",
        "baseline-p000-s2",
        "baseline-p001-s1",
        "baseline-p001-s2",
    ]
    on = [t for t in tasks if t.factors and t.factors["crackdown"] == "on"]
    assert {t.scenario for t in on} == {"baseline", "strict_controls"}
    assert all(t.params == {"enforcement": 0.95} for t in on)
    off = [t for t in tasks if t.factors and t.factors["crackdown"] == "off"]
    assert all(t.params == {} for t in off)


def test_scenarios_that_differ_from_the_scenario_factor_are_refused():
    with pytest.raises(ValueError, match="differ from the design's scenario factor"):
        BatchSpec.model_validate({"scenarios": ["no_controls"], "design": TWO_BY_TWO})


@pytest.mark.parametrize(
    ("method", "n", "expected"),
    [("lhs", 7, 7), ("saltelli", 8, 8 * 5), ("morris", 5, 5 * 4)],
)
def test_samplers_place_the_documented_number_of_points(method, n, expected):
    design = Design(
        method=method,
        n=n,
        factors=[
            Factor(key="enforcement", range=(0.0, 1.0)),
            Factor(key="world.vendors[Nvidia].input_cover_weeks", range=(2, 12), integer=True),
            Factor(key="parameters.rental.price_smoothing", values=[0.1, 0.2, 0.3]),
        ],
    )
    points = design.points()
    assert design.size() == expected == len(points)
    assert all(0.0 <= p["enforcement"] <= 1.0 for p in points)
    assert all(isinstance(p["world_vendors_Nvidia_input_cover_weeks"], int) for p in points)
    assert {p["parameters_rental_price_smoothing"] for p in points} <= {0.1, 0.2, 0.3}
    # reproducible from the seed; another seed moves the points
    assert design.points() == points
    other = design.model_copy(update={"seed": 1}).points()
    assert other != points


def test_a_categorical_factor_takes_every_value_across_a_latin_hypercube():
    design = Design(method="lhs", n=30, factors=[Factor(key="x", values=["a", "b", "c"])])
    counts = [sum(p["x"] == v for p in design.points()) for v in "abc"]
    assert counts == [10, 10, 10]  # a Latin hypercube stratifies each coordinate


def test_morris_points_move_one_factor_at_a_time():
    design = Design(
        method="morris",
        n=3,
        levels=4,
        factors=[Factor(key=f"k{i}", range=(0.0, 1.0)) for i in range(4)],
    )
    x = design.matrix()
    for t in range(3):
        steps = np.diff(x[t * 5 : (t + 1) * 5], axis=0)
        assert ((np.abs(steps) > 1e-12).sum(axis=1) == 1).all()


@pytest.mark.parametrize(
    ("factor", "message"),
    [
        ({"key": "enforcement", "range": [float("nan"), 1.0]}, "expected finite numbers"),
        ({"key": "enforcement", "range": [1.0, 0.0]}, "expected low < high"),
        ({"key": "enforcement", "range": [0, 1], "values": [1]}, "either range"),
        ({"values": {"on": {"enforcement": 1}}}, "needs a name"),
        ({"key": "enforcement", "range": [0, 1], "levels": [2.0]}, "within"),
    ],
)
def test_bad_factors_are_refused_with_the_field(tmp_path, factor, message):
    path = tmp_path / "d.yaml"
    import yaml

    path.write_text(
        yaml.safe_dump(
            {"scenarios": ["baseline"], "design": {"method": "lhs", "n": 2, "factors": [factor]}}
        )
    )
    with pytest.raises(BatchError) as exc:
        load_spec(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: design.factors.0")
    assert message in text
    assert "\n" not in text


def test_saltelli_needs_a_power_of_two():
    with pytest.raises(ValueError, match="power of 2"):
        Design(method="saltelli", n=6, factors=[Factor(key="enforcement", range=(0, 1))])


def test_positions_and_foundry_nodes_resolve_to_item_names():
    data = load_scenario("baseline").model_dump(mode="json")
    named = named_params(data, {"world.foundries[SMIC].nodes[0].yield_fraction": 0.9})
    assert named == {"world.foundries[SMIC].nodes[N+2].yield_fraction": 0.9}
    every = named_params(data, {"world.labs[*].intensity_growth_per_year": 0.1})
    assert len(every) == len(data["world"]["labs"]) > 5


def test_a_foundry_yield_can_be_swept_and_reaches_the_model(tmp_path):
    spec = BatchSpec.model_validate(
        {
            "scenarios": ["baseline"],
            "weeks": 1,
            "sweep": {"world.foundries[SMIC].nodes[0].yield_fraction": [0.31, 0.77]},
        }
    )
    check_design(spec)
    from abm.engine.model import SupplyChainModel
    from abm.scenario import overrides_from

    for task, want in zip(spec.tasks(), (0.31, 0.77), strict=True):
        params = named_params(load_scenario("baseline").model_dump(mode="json"), task.params)
        model = SupplyChainModel.from_scenario(
            "baseline", seed=1, weeks=1, overrides=overrides_from(params), uncertainty=False
        )
        smic = next(f for f in model.foundries if f.name == "SMIC")
        assert smic.yields["N+2"] == want


def test_an_unknown_item_is_refused_naming_what_exists():
    spec = BatchSpec.model_validate(
        {
            "scenarios": ["baseline"],
            "design": {
                "method": "lhs",
                "n": 2,
                "factors": [
                    {"key": "world.foundries[SMIC].nodes[7].yield_fraction", "range": [0, 1]}
                ],
            },
        }
    )
    with pytest.raises(
        BatchError, match=r"no item '7' in world.foundries\[SMIC\].nodes \(known: N\+2\)"
    ):
        check_design(spec)


def test_old_spec_files_keep_their_hash():
    # the hashes main computed before designs existed (a folder of an old batch resumes)
    assert load_spec("docs/sensitivity_batch.yaml").spec_hash() == "77573961655f5e7a"
    grid = BatchSpec(
        scenarios=["baseline", "strict_controls"], seeds=3, sweep={"enforcement": [0.5, 0.9]}
    )
    assert grid.spec_hash() == "fd6bfae3608f2317"


def test_calibration_factors_are_every_declared_parameter():
    factors = calibration_factors("calibration")
    assert len(factors) >= 20
    assert all(f.range is not None for f in factors)
    assert len({f.label for f in factors}) == len(factors)
    assert all(f.label.isidentifier() for f in factors)
    assert identifier("world.packagers[TSMC CoWoS].growth.max_growth_per_year") == (
        "world_packagers_TSMC_CoWoS_growth_max_growth_per_year"
    )


def test_estimate_scales_by_weeks_and_waves():
    # 2 s for 52 weeks -> 10 s per 260-week run; 5 runs on 2 workers are 3 waves
    assert estimate_seconds([2.0], 5, 2, 52, 260) == pytest.approx(30.0)


def test_a_design_batch_records_factors_and_the_dry_run_counts_it(tmp_path):
    spec = BatchSpec.model_validate({"seeds": 1, "weeks": 3, "design": TWO_BY_TWO})
    run_batch(spec, tmp_path / "b")
    summary = pq.read_table(tmp_path / "b" / "summary.parquet").to_pandas()
    assert sorted(zip(summary["factor:scenario"], summary["factor:crackdown"], strict=True)) == [
        ("baseline", "off"),
        ("baseline", "on"),
        ("strict_controls", "off"),
        ("strict_controls", "on"),
    ]
    spec_file = tmp_path / "d.yaml"
    import yaml

    spec_file.write_text(yaml.safe_dump({"seeds": 3, "weeks": 2, "design": TWO_BY_TWO}))
    res = runner.invoke(app, ["batch", "--spec", str(spec_file), "--dry-run", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "runs: 12 (2 scenario(s), 4 scenario points x 3 seed(s)), 2 weeks each" in res.output
    assert "estimated wall time with --workers 2" in res.output
    assert not (tmp_path / "out").exists()


def test_a_design_fixes_the_uncertainty_it_sets_and_a_sweep_is_warned(tmp_path):
    key = "world.foundries[SMIC].nodes[0].yield_fraction"
    design = {"method": "full_factorial", "factors": [{"key": key, "values": [0.31, 0.77]}]}
    spec = BatchSpec.model_validate({"scenarios": ["baseline"], "weeks": 1, "design": design})
    notes: list[str] = []
    check_design(spec, notes.append)
    assert any("fixes the declared uncertainty world.foundries[SMIC]" in n for n in notes)
    run_batch(spec, tmp_path / "d", notify=notes.append)
    import json

    for run_id, want in (("baseline-p000-s1", 0.31), ("baseline-p001-s1", 0.77)):
        manifest = json.loads(
            (tmp_path / "d" / "runs" / f"run_id={run_id}" / "manifest.json").read_text()
        )
        drawn = list(manifest["uncertainty"]["values"])
        assert manifest["kpis"] and want in spec.design.key_values()[key]
        assert "world.foundries[SMIC].nodes[N+2].yield_fraction" not in drawn
        assert "world.foundries[SMIC].growth.max_growth_per_year" in drawn  # others still drawn
    sweep = BatchSpec.model_validate(
        {"scenarios": ["baseline"], "weeks": 1, "sweep": {key: [0.31, 0.77]}}
    )
    notes.clear()
    check_design(sweep, notes.append)
    assert any("redraws it per seed, so its values have no effect" in n for n in notes)


def test_a_design_gives_identical_results_in_a_pool_or_not(tmp_path):
    design = {
        "method": "lhs",
        "n": 3,
        "seed": 5,
        "factors": [
            {"key": "scenario", "values": ["baseline", "no_controls"]},
            {"key": "world.foundries[SMIC].nodes[0].yield_fraction", "range": [0.3, 0.8]},
            {"key": "enforcement", "range": [0.0, 1.0]},
        ],
    }
    spec = BatchSpec.model_validate({"seeds": 2, "weeks": 3, "design": design})
    inline = run_batch(spec, tmp_path / "inline", workers=1)
    pool = run_batch(spec, tmp_path / "pool", workers=2)
    for run_id, entry in inline.manifest["runs"].items():
        assert entry["kpis"] == pool.manifest["runs"][run_id]["kpis"]
        assert entry["factors"] == pool.manifest["runs"][run_id]["factors"]
    assert inline.manifest["spec_hash"] == pool.manifest["spec_hash"]
