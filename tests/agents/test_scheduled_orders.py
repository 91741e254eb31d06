"""Scheduled orders and cloud investment at break-even demand (issue 15: the 2024 easing).

Buyers plan their fleets months ahead (``min_forecast_horizon_weeks``) but want
the units they need later delivered later: an order carries the step by which it
must ship. Vendors serve due orders first, ship scheduled ones early from stock
left over, and quote the lead time from the due queue only. Clouds size their
fleets for the rental demand at the price that covers their costs (the floor).

Each behaviour is checked with the mechanism and again with it removed.
"""

from __future__ import annotations

import numpy as np
import pytest

from abm.agents.cloud import CloudProvider
from abm.engine.model import SupplyChainModel
from abm.markets.clearing import rental_demand
from tests.conftest import variant


@pytest.fixture
def model():
    m = SupplyChainModel.from_scenario("baseline", seed=1, weeks=12, uncertainty=False)
    for _ in range(3):
        m.step()
    return m


def _fresh_orders(m, vendor, product):
    """Clear the vendor's orders of ``product`` (keeping the books consistent)."""
    for o in list(vendor.orders[product]):
        vendor.cancel(o, o.outstanding)
    vendor.orders[product] = []


def test_a_scheduled_order_does_not_lengthen_the_queue_a_due_one_does(model):
    m = model
    nvidia, azure = m.cast.vendor["Nvidia"], m.firm("Microsoft Azure")
    product = "A100"
    _fresh_orders(m, nvidia, product)
    nvidia.finished[product] = 0  # nothing to ship this week
    m.orders.place(azure, nvidia, product, 50_000, due=m.week + 30)
    nvidia.allocate_and_ship()
    assert nvidia.due_backlog[product] == 0
    m.orders.place(azure, nvidia, product, 50_000)  # as soon as possible
    nvidia.allocate_and_ship()
    assert nvidia.due_backlog[product] == 50_000
    assert nvidia.backlog_units(product) == 100_000


def test_due_orders_are_served_before_scheduled_ones_which_ship_from_what_is_left(model):
    m = model
    nvidia = m.cast.vendor["Nvidia"]
    early, late = m.firm("Microsoft Azure"), m.firm("Meta")
    product = "A100"
    _fresh_orders(m, nvidia, product)
    scheduled = m.orders.place(early, nvidia, product, 1_000, due=m.week + 20)  # older
    due = m.orders.place(late, nvidia, product, 1_000)
    nvidia.finished[product] = 1_200
    nvidia.allocate_and_ship()
    assert due.outstanding == 0  # the due order is filled first...
    assert scheduled.outstanding == 800  # ...and the stock left over ships early
    nvidia.finished[product] = 500
    nvidia.allocate_and_ship()
    assert scheduled.outstanding == 300  # with nothing due, stock ships scheduled orders


def test_buyers_schedule_what_they_need_later_and_order_asap_when_short(model):
    m = model
    azure = m.firm("Microsoft Azure")
    f = azure.forecast
    f.level, f.trend = 100.0, 1.0
    cover = 1.2
    # a fleet position the need has already passed is wanted at once
    assert azure.weeks_until_needed(position=100.0, cover=cover, horizon=26) == 0
    # the need reaches 150 in (150 / 1.2 - 100) / 1 = 25 weeks: ship 25 - transit ahead
    transit = m.spec.parameters.vendors.transit_weeks
    assert azure.weeks_until_needed(position=150.0, cover=cover, horizon=26) == 25 - transit
    assert azure.weeks_until_needed(position=1e9, cover=cover, horizon=26) == 26 - transit


def _dues_placed(m, buyer, level_share: float, trend_share: float) -> set[int]:
    """Due steps of the orders ``buyer`` places with its forecast held at the given
    level and trend (shares of its fleet position divided by its cover)."""
    placed = []

    def place(b, vendor, product, units, due=None, _orig=m.orders.place):
        placed.append(due)
        return _orig(b, vendor, product, units, due)

    m.orders.place = place
    f = buyer.forecast
    f.update = lambda observed: None  # hold the forecast where the test puts it
    bp = m.spec.parameters.buyers
    cover = 1 + bp.safety_stock + buyer.double_order_share(buyer.expected_lead_time())
    have = buyer.installed_h100e() + buyer.pipeline_h100e()
    f.level, f.trend = level_share * have / cover, trend_share * have / cover
    buyer.place_orders()
    del m.orders.place
    return set(placed)


def test_a_short_buyer_orders_at_once_one_on_track_schedules(model):
    m = model
    azure = m.firm("Microsoft Azure")
    # short today (need 1.10 x what it has): wanted as soon as possible
    assert _dues_placed(m, azure, level_share=1.10, trend_share=0.02) == {m.week}
    # on track (need 0.80 x today, growing 2 % a week): the order is scheduled
    dues = _dues_placed(m, azure, level_share=0.80, trend_share=0.02)
    assert dues and min(dues) > m.week + 4


def test_orders_of_a_product_past_end_of_sale_move_to_the_best_buy():
    m = SupplyChainModel.from_scenario("baseline", seed=1, uncertainty=False)
    a100 = m.products["A100"]
    while m.date <= a100.end_of_sale:
        m.step()
    nvidia = m.cast.vendor["Nvidia"]
    # by the week after A100's end of sale no buyer's queue holds A100 orders it could move
    assert all(
        o.outstanding == 0 or not b.offers(nvidia)
        for b in m.buyers
        for o in b.open_orders
        if o.product == "A100"
    )
    m.step()
    assert nvidia.backlog_units("A100") <= sum(
        o.outstanding for o in nvidia.orders["A100"]
    )  # the kept count matches the orders left
    assert nvidia.backlog_recount() == {k: v for k, v in nvidia._backlog.items()}


def test_clouds_count_demand_at_the_floor_not_need_below_cost():
    need = np.array([100.0, 100.0])
    ref = np.array([10.0, 1.5])  # a lab, and enterprises whose reference is below the floor
    eps = np.array([0.1, 1.0])
    at_floor = rental_demand(3.0, need, ref, eps)
    assert at_floor[0] == pytest.approx(100.0)
    assert at_floor[1] == pytest.approx(100.0 * 0.5)


@pytest.fixture(scope="module")
def lead_times():
    """Nvidia's quoted lead time per week: baseline, and with every order due at once."""
    out = {}
    for name, patch in (("scheduled", False), ("all_due", True)):
        m = SupplyChainModel.from_scenario("baseline", seed=1, uncertainty=False)
        if patch:
            for b in m.buyers:
                b.weeks_until_needed = lambda have, cover, horizon: 0
        series = []
        for _ in range(m.spec.weeks):
            m.step()
            series.append((m.date, m.cast.vendor["Nvidia"].lead_time))
        out[name] = series
    return out


def _mean(series, start: str, end: str) -> float:
    return float(np.mean([v for d, v in series if start <= d.isoformat() < end]))


@pytest.mark.slow
def test_scheduling_is_what_lets_the_lead_time_fall_in_2024(lead_times):
    """Without scheduled orders the 2024 quote stays near the 2023 peak (the planning
    floor keeps ~half a year of orders in the queue); with them it falls."""
    with_, without = lead_times["scheduled"], lead_times["all_due"]
    assert _mean(with_, "2024-04-01", "2024-07-01") < 0.75 * _mean(
        without, "2024-04-01", "2024-07-01"
    )
    assert _mean(with_, "2026-01-01", "2027-01-01") < _mean(without, "2026-01-01", "2027-01-01")


@pytest.mark.slow
def test_clouds_that_buy_for_need_below_cost_overbuild(baseline):
    """The counterfactual: clouds ordering for the need at reference prices buy fleets
    for renters who would not pay their costs. The mechanism acts where some renters'
    reference price is below the floor, so the check puts the enterprises' reference at
    1.2 USD (under any floor in the calibrated range, 1.5-3.0), whatever the fit."""

    def cheap_enterprises(d):
        d["parameters"]["rental"]["enterprise_reference_usd_per_h100e_hour"] = 1.2

    scenario = variant(baseline, cheap_enterprises)

    def us_cloud_fleet(at_cost: bool) -> float:
        m = SupplyChainModel(scenario, seed=1, uncertainty=False)
        if not at_cost:
            for c in m.clouds:
                c.demand_signal_h100e = lambda c=c: (
                    c.model.market.wanted[c.region] * c.spec.market_share
                )
        m.run()
        return sum(c.installed_h100e() for c in m.clouds if c.region == "US")

    assert us_cloud_fleet(at_cost=True) < 0.98 * us_cloud_fleet(at_cost=False)


def test_cloud_signal_is_the_at_cost_demand(model):
    m = model
    cloud = next(c for c in m.clouds if isinstance(c, CloudProvider) and c.region == "US")
    assert cloud.demand_signal_h100e() == pytest.approx(
        m.market.wanted_at_cost["US"] * cloud.spec.market_share
    )
    assert m.market.wanted_at_cost["US"] <= m.market.wanted["US"] + 1e-6
