"""Units are conserved: produced + initial = inventory + transit + installed + retired + seized."""

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abm.engine.model import SupplyChainModel
from abm.scenario import load_scenario
from tests.conftest import variant


@cache
def _base():
    return load_scenario("baseline")


def _balanced(model: SupplyChainModel) -> bool:
    c = model.conservation()
    return c["produced"] + c["initial"] == (
        c["inventory"] + c["in_transit"] + c["installed"] + c["retired"] + c["seized"]
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    start_week=st.integers(0, 200),
    weeks=st.integers(3, 30),
    capacity_scale=st.floats(0.1, 3.0),
    service_life=st.integers(5, 300),
    transit=st.integers(0, 8),
    safety=st.floats(0.0, 0.5),
    allocation=st.sampled_from(["pro_rata", "priority", "fifo"]),
    double_orders=st.floats(0.0, 0.05),
)
@pytest.mark.slow
def test_units_conserved_every_step(
    seed,
    start_week,
    weeks,
    capacity_scale,
    service_life,
    transit,
    safety,
    allocation,
    double_orders,
):
    def edit(d):
        from datetime import date, timedelta

        d["start_date"] = (date(2022, 1, 3) + timedelta(weeks=start_week)).isoformat()
        d["weeks"] = weeks
        d["parameters"]["buyers"]["service_life_weeks"] = service_life
        d["parameters"]["buyers"]["safety_stock"] = safety
        d["parameters"]["buyers"]["double_order_per_week"] = double_orders  # and cancellations
        d["parameters"]["vendors"]["transit_weeks"] = transit
        for p in d["world"]["packagers"]:
            p["capacity_wafers_per_week"] *= capacity_scale
        for m in d["world"]["memory_makers"]:
            m["capacity_stacks_per_week"] *= capacity_scale
        for v in d["world"]["vendors"]:
            v["allocation"] = allocation

    model = SupplyChainModel(variant(_base(), edit), seed=seed)
    assert _balanced(model)
    for _ in range(weeks):
        model.step()
        assert _balanced(model), model.conservation()
        assert all(v >= 0 for v in model.conservation().values())


@pytest.mark.slow
def test_full_baseline_conserves_and_retires(baseline):
    model = SupplyChainModel(baseline, seed=3).run()
    c = model.conservation()
    assert _balanced(model)
    assert c["produced"] > 1_000_000  # the world actually made GPUs
    assert c["retired"] >= c["initial"]  # the 2022 fleet reached end of life by 2026
