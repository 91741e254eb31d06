"""The EMA Workbench adapter: parameters, names, outcomes and perform_experiments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from abm.ema import KPI_NAMES, AbmFunction, declared_factors, ema_model
from abm.runs.batch import BatchSpec, kpis, run_batch
from abm.runs.design import Factor

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from ema_workbench import SequentialEvaluator, perform_experiments

SMIC = "world.foundries[SMIC].nodes[0].yield_fraction"


def test_kpi_names_are_the_batch_kpis():
    from abm.engine.model import SupplyChainModel

    model = SupplyChainModel.from_scenario("baseline", seed=1, weeks=1)
    model.run()
    assert tuple(kpis(model)) == KPI_NAMES


def test_declared_parameters_become_identifier_named_uncertainties():
    model = ema_model("baseline", weeks=2)
    names = [u.name for u in model.uncertainties]
    assert len(names) == len(set(names)) >= 30
    assert all(n.isidentifier() for n in names)
    keys = model.function.keys
    assert keys["world_packagers_TSMC_CoWoS_growth_max_growth_per_year"] == (
        "world.packagers[TSMC CoWoS].growth.max_growth_per_year"
    )
    assert "world.foundries[SMIC].nodes[N+2].yield_fraction" in {f.key for f in declared_factors()}
    assert [lever.name for lever in model.levers] == ["enforcement"]
    assert [o.name for o in model.outcomes] == list(KPI_NAMES)


def test_perform_experiments_on_a_tiny_design_is_reproducible():
    model = ema_model(
        "baseline",
        uncertainties=[
            Factor(key=SMIC, range=(0.3, 0.8)),
            Factor(key="scenario", values=["baseline", "strict_controls"]),
        ],
        weeks=3,
        seeds=[1, 2],
        outcomes=["cn_compute_h100e_end", "peak_lead_time_weeks"],
    )
    with SequentialEvaluator(model) as evaluator:
        experiments, outcomes = perform_experiments(
            model, scenarios=2, policies=2, evaluator=evaluator
        )
    assert len(experiments) == 4
    assert set(outcomes) == {"cn_compute_h100e_end", "peak_lead_time_weeks"}
    assert all(len(v) == 4 and np.isfinite(v).all() for v in outcomes.values())
    row = experiments.iloc[3]
    again = model.function(**{p.name: row[p.name] for p in [*model.uncertainties, *model.levers]})
    assert again["cn_compute_h100e_end"] == outcomes["cn_compute_h100e_end"][3]
    assert again["peak_lead_time_weeks"] == outcomes["peak_lead_time_weeks"][3]


def test_an_experiment_equals_the_design_batch_run_with_the_same_values(tmp_path):
    factors = [Factor(key=SMIC, values=[0.7]), Factor(key="enforcement", values=[0.9])]
    spec = BatchSpec.model_validate(
        {
            "scenarios": ["baseline"],
            "seeds": [2],
            "weeks": 3,
            "design": {
                "method": "full_factorial",
                "factors": [f.model_dump(exclude_defaults=True) for f in factors],
            },
        }
    )
    result = run_batch(spec, tmp_path / "b")
    batch_kpis = result.manifest["runs"]["baseline-s2"]["kpis"]
    function = AbmFunction("baseline", factors, weeks=3, seed=2, uncertainty=True)
    names = list(function.factors)
    assert function(**{names[0]: 0.7, names[1]: 0.9}) == pytest.approx(batch_kpis, rel=0, abs=0)


def test_unknown_outcomes_and_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown KPI 'nope'"):
        ema_model("baseline", outcomes=["nope"])
    function = AbmFunction("baseline", [Factor(key="enforcement", range=(0, 1))], 1, 1, True)
    with pytest.raises(ValueError, match="unknown parameter 'x'"):
        function(x=1)
