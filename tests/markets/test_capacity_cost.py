"""The rental floor follows what new capacity costs (A68).

A cloud prices rental capacity at what new capacity costs: the GPUs' price per
H100e scaled to the whole system, recovered over an effective life, plus
running costs per kW. The pure function, the market's bookkeeping, and the
counterfactual: with the floor fixed at its 2022 level, US rents stay high
through 2025 although Blackwell cut the cost of compute per H100e.
"""

from __future__ import annotations

from datetime import date

import pytest

from abm.engine.model import SupplyChainModel
from abm.markets.clearing import capacity_cost
from abm.markets.rental import ComputeMarket
from abm.scenario import load_scenario
from abm.scenario.schema import CapacityCost, RentalParams
from tests.conftest import variant


def test_an_h100_at_its_2024_price_breaks_even_near_the_reported_165_usd():
    # F133: ~1.65 USD/h capital-recovery break-even for an H100 (~25-30k USD, 0.7 kW)
    floor = capacity_cost(27_500, 0.7, 1.6, 3.5, 0.3)
    assert floor == pytest.approx(1.65, abs=0.05)


def test_cheaper_compute_per_h100e_lowers_the_cost():
    h100 = capacity_cost(30_000, 0.7, 1.6, 3.5, 0.3)
    b200 = capacity_cost(40_000 / 2.275, 1.0 / 2.275, 1.6, 3.5, 0.3)  # B200: 2.275 H100e
    assert b200 < 0.65 * h100
    assert capacity_cost(30_000, 0.7, 1.6, 5.0, 0.3) < h100  # a longer life recovers less per hour
    with pytest.raises(ValueError):
        capacity_cost(30_000, 0.7, 1.6, 0.0, 0.3)


def _market(cost: CapacityCost | None) -> ComputeMarket:
    params = RentalParams(floor_usd_per_h100e_hour=2.0, capacity_cost=cost)
    return ComputeMarket(params, [], [], [])


def test_the_market_floor_moves_with_purchases_and_is_capped_at_the_ceiling():
    market = _market(CapacityCost(smoothing_weeks=4))
    market.open_costs({"US": [(30_000, 1.0, 700), (15_000, 0.315, 400)], "CN": []})
    assert market.capex_per_h100e["US"] == 30_000  # the cheapest compute per H100e
    assert market.floor["US"] == pytest.approx(capacity_cost(30_000, 0.7, 1.6, 3.5, 0.3))
    assert market.floor["CN"] == 2.0  # nothing on offer: the fixed floor
    before = market.floor["US"]
    for _ in range(40):  # Blackwell-class purchases: 17.6k USD and 0.44 kW per H100e
        market.note_purchases({"US": (40_000 * 100, 2.275 * 100, 1.0 * 100)})
    assert market.capex_per_h100e["US"] == pytest.approx(40_000 / 2.275, rel=1e-3)
    assert market.floor["US"] < 0.65 * before
    market.note_purchases({"US": (0.0, 0.0, 0.0)})  # nothing bought: the cost stays
    assert market.capex_per_h100e["US"] == pytest.approx(40_000 / 2.275, rel=1e-3)
    market.note_purchases({"US": (1e9, 1.0, 0.0)})  # absurdly dear: capped at the ceiling
    assert market.floor["US"] <= market.params.ceiling_usd_per_h100e_hour


def test_without_a_capacity_cost_the_floor_is_the_fixed_one():
    market = _market(None)
    market.open_costs({"US": [(30_000, 1.0, 700)]})
    market.note_purchases({"US": (40_000, 2.275, 1.0)})
    assert market.floor["US"] == 2.0


def _quarterly(m: SupplyChainModel, name: str, region: str, year: int, q: int) -> float:
    frame = m.metrics.frame()
    start = m.step_of(date(year, 3 * q - 2, 1))
    end = m.step_of(date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1))
    rows = frame[(frame.name == name) & (frame.scope == region)]
    return float(rows[(rows.step >= start) & (rows.step < end)].value.mean())


@pytest.mark.slow
def test_with_a_fixed_floor_us_rents_stay_high_after_blackwell():
    """The counterfactual: a floor fixed at its January-2022 cost keeps H2-2025 rents up."""
    base = load_scenario("baseline")
    m = SupplyChainModel(base, seed=1)
    m.run()
    floor_2022 = _quarterly(m, "rental_floor_usd_per_h100e_hour", "US", 2022, 1)

    def fixed(d):
        d["parameters"]["rental"]["capacity_cost"] = None
        d["parameters"]["rental"]["floor_usd_per_h100e_hour"] = floor_2022

    f = SupplyChainModel(variant(base, fixed), seed=1)
    f.run()
    # with the capacity cost the floor falls as Blackwell ships (cost per H100e down)
    assert _quarterly(m, "rental_floor_usd_per_h100e_hour", "US", 2025, 4) < 0.7 * floor_2022
    rent = _quarterly(m, "rental_price_usd_per_gpu_hour", "US", 2025, 3)
    rent_fixed = _quarterly(f, "rental_price_usd_per_gpu_hour", "US", 2025, 3)
    assert rent_fixed > 1.2 * rent, (rent, rent_fixed)
