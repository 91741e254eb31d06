"""The regional rental/API market object: it clears with the pure function, books the
clouds, serves every renter what the clearing gave, and sums each region's shortage."""

import numpy as np
import pytest

from abm.engine.model import SupplyChainModel
from abm.markets.clearing import clear_rental_market
from abm.scenario import REGIONS


@pytest.fixture(scope="module")
def model():
    m = SupplyChainModel.from_scenario("baseline", seed=1, weeks=80)
    m.run()
    return m


def test_api_shares_are_normalised_per_region(model):
    for r in REGIONS:
        shares = model.market.api_shares[r]
        if shares:
            assert sum(shares.values()) == pytest.approx(1.0)
            assert all(model.cast.lab[n].region == r for n in shares)


def test_a_clearing_serves_what_the_pure_function_gives(model):
    market, rp = model.market, model.spec.parameters.rental
    for r in REGIONS:
        labs, ents, need, ref, eps = market._participants(r)
        if not labs and not ents:
            continue
        clouds = [c for c in market.clouds_in[r] if c.active]
        supply = sum(c.rentable_h100e() for c in clouds)
        bounds = (market.floor[r], rp.ceiling_usd_per_h100e_hour)
        idle = {"idle_exponent": rp.idle_price_exponent}
        pure = clear_rental_market(supply, need, ref, eps, *bounds, **idle)
        prev = market.price[r]
        market._clear_region(r)
        assert market.price[r] == pytest.approx(prev + rp.price_smoothing * (pure.price - prev))
        served = np.array([x.rented for x in labs] + [e.direct_served_h100e for e in ents])
        np.testing.assert_allclose(served, pure.served)
        assert market.utilisation[r] == pytest.approx(pure.utilisation)
        expected = 1 - pure.served.sum() / need.sum() if need.sum() > 0 else 0.0
        assert market.shortage[r] == pytest.approx(expected)


def test_enterprises_get_the_api_share_their_labs_could_serve(model):
    market = model.market
    for r in REGIONS:
        for e in market.enterprises_in[r]:
            want = sum(
                e.api_need_h100e * share * model.cast.lab[n].inference_served_share
                for n, share in market.api_shares[r].items()
            )
            assert e.api_served_h100e == pytest.approx(want)


def test_region_shortage_weights_each_member_by_its_need(model):
    market = model.market
    market._region_shortages()
    for r in REGIONS:
        labs = [x for x in market.labs_in[r] if x.active]
        ents = market.enterprises_in[r]
        need = sum(x.need for x in labs) + sum(e.need_h100e for e in ents)
        unmet = sum(x.shortage * x.need for x in labs) + sum(
            e.shortage_ratio * e.need_h100e for e in ents
        )
        assert market.region_shortage[r] == pytest.approx(unmet / need if need else 0.0)
    assert 0 <= market.region_shortage["CN"] <= 1
