"""Demand-side mechanisms that replaced the fitted window factors (issue 15).

* Past the last measurement the labs' training compute follows the measured
  frontier trend (F112), not the paths' guessed later points (A62).
* Buyers plan their fleets at least a minimum horizon ahead (A63), so the
  pipeline they want does not collapse with the lead time.
* Money binds (A64): a lab rents and orders only what it can pay for.
"""

from __future__ import annotations

import pytest

from abm.agents.ordering import extrapolate_log, interpolate_log
from abm.engine.model import SupplyChainModel
from tests.conftest import variant


def _demand(**values):
    def edit(d):
        d["parameters"]["demand"].update(values)

    return edit


def test_training_follows_the_frontier_trend_past_the_last_measurement(baseline):
    m = SupplyChainModel(baseline, seed=1, uncertainty=False)
    dp = m.spec.parameters.demand
    t0 = m.step_of(dp.frontier_trend_from)
    for lab in m.labs:
        v0 = extrapolate_log(lab.training_path, t0)
        if v0 <= 0:
            continue
        one_year = extrapolate_log(lab.training_path, t0 + 52)
        assert one_year == pytest.approx(v0 * dp.frontier_growth_per_year)
        assert extrapolate_log(lab.training_path, t0 + 78) == pytest.approx(
            v0 * dp.frontier_growth_per_year**1.5
        )
    # without the trend the paths' own later points are used
    off = SupplyChainModel(
        variant(baseline, _demand(frontier_growth_per_year=None)), seed=1, uncertainty=False
    )
    openai = off.cast.lab["OpenAI"]
    sourced = [(off.step_of(d), v) for d, v in openai.spec.training_h100e]
    assert interpolate_log(openai.training_path, t0 + 52) == pytest.approx(
        interpolate_log(sourced, t0 + 52)
    )


def test_buyers_plan_at_least_the_minimum_horizon_ahead(baseline):
    def horizon_target(floor: float) -> float:
        sc = variant(
            baseline, lambda d: d["parameters"]["buyers"].update(min_forecast_horizon_weeks=floor)
        )
        m = SupplyChainModel(sc, seed=1, uncertainty=False)
        for _ in range(60):
            m.step()
        cloud = m.cast.customer["Microsoft Azure"]
        cloud.expected_lead_time = lambda: 4.0  # lead times back to transit only
        seen = {}

        def place(buyer, vendor, product, units, due=None, _orig=m.orders.place):
            seen[product] = seen.get(product, 0) + units
            return _orig(buyer, vendor, product, units, due)

        m.orders.place = place
        cloud.place_orders()
        return float(sum(seen.values()))

    # with a 4-week lead time a buyer without a floor wants a 4-week pipeline;
    # with the floor it still plans 20 weeks ahead and keeps ordering
    assert horizon_target(20.0) > horizon_target(0.0)


@pytest.mark.slow
def test_money_binds_no_lab_exits_and_rent_stays_within_budget(baseline):
    m = SupplyChainModel(baseline, seed=1).run()
    assert all(lab.active for lab in m.labs), [lab.name for lab in m.labs if not lab.active]


@pytest.mark.slow
def test_without_a_budget_labs_rent_beyond_their_means(baseline):
    """The counterfactual: labs that rent whatever they need run their cash down."""

    def no_budget(d):
        for lab in d["world"]["labs"]:
            lab["cash_runway_weeks"] = None

    free = SupplyChainModel(variant(baseline, no_budget), seed=1)
    bound = SupplyChainModel(baseline, seed=1)
    free.run()
    bound.run()
    low_free = min(lab.cash for lab in free.labs)
    low_bound = min(lab.cash for lab in bound.labs if lab.active)
    exits = [lab.name for lab in free.labs if not lab.active]
    assert exits or low_free < low_bound, (exits, low_free, low_bound)
