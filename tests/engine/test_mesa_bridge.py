"""Mesa habits: model.datacollector, model.metrics.frame(), model.spec, and the
mesa.batch_run adapter's seeds."""

import mesa
import numpy as np
import pytest

from abm.engine.model import SupplyChainModel
from abm.runs.mesa_compat import BatchRunModel, seed_of

WEEKS = 8


@pytest.fixture(scope="module")
def model(baseline):
    m = SupplyChainModel(baseline.model_copy(update={"weeks": WEEKS}), seed=1)
    m.run()
    return m


def test_metrics_frame_is_the_tidy_long_table(model):
    df = model.metrics.frame()
    assert list(df.columns) == ["step", "name", "scope", "value"]
    assert len(df) == model.metrics.to_arrow().num_rows > 0
    cn = df[(df.name == "compute_stock_h100e") & (df.scope == "CN")]["value"].tolist()
    assert cn == model.metrics.series("compute_stock_h100e", "CN")


def test_datacollector_gives_mesa_model_vars(model):
    df = model.datacollector.get_model_vars_dataframe()
    assert list(df.index) == sorted(set(model.metrics.step)) and len(df) == WEEKS
    col = df["compute_stock_h100e:CN"].tolist()
    assert col == model.metrics.series("compute_stock_h100e", "CN")
    assert model.datacollector.model_vars["compute_stock_h100e:US"] == (
        model.metrics.series("compute_stock_h100e", "US")
    )
    rows = len(model.metrics.value)
    model.datacollector.collect(model)  # Mesa may call it: records nothing twice
    assert len(model.metrics.value) == rows


def test_mesa_plot_component_renders_from_the_datacollector(model):
    import solara
    from mesa.visualization.components.matplotlib_components import PlotMatplotlib

    box, rc = solara.render(PlotMatplotlib(model, "compute_stock_h100e:CN"), handle_error=False)
    rc.close()


def test_the_project_scenario_is_spec(model, baseline):
    assert model.spec.name == "baseline" == baseline.name
    assert model.declared_spec.weeks == WEEKS


def test_seed_of_mesa_rng_values():
    assert seed_of(7) == 7 and seed_of(np.int64(3)) == 3
    fresh = {seed_of(None) for _ in range(5)}
    assert len(fresh) == 5  # iterations=N: N different seeds, not seed 0 N times
    assert seed_of(np.random.default_rng(1)) == seed_of(np.random.default_rng(1))
    for bad in (-1, 2**32, "1", 1.5, True):
        with pytest.raises(ValueError, match="rng"):
            seed_of(bad)


def test_batch_run_uses_the_given_seeds_and_distinct_iterations():
    given = mesa.batch_run(
        BatchRunModel,
        parameters={"scenario": "baseline", "weeks": 4},
        rng=[1, 2, 1],
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    assert [r["seed"] for r in given] == [1, 2, 1]
    assert given[0]["cn_compute_h100e"] == given[2]["cn_compute_h100e"]
    with pytest.warns(Warning):  # iterations is deprecated in Mesa 3.5 (rng=[None] * n)
        repeated = mesa.batch_run(
            BatchRunModel,
            parameters={"scenario": "baseline", "weeks": 4},
            iterations=3,
            number_processes=1,
            data_collection_period=-1,
            display_progress=False,
        )
    assert len({r["seed"] for r in repeated}) == 3  # three different seeds, not 0 three times
