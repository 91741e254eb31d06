"""Allocation and rental clearing against hand-worked cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abm.markets.clearing import (
    allocate,
    allocate_fifo,
    allocate_priority,
    allocate_pro_rata,
    allocate_shares,
    clear_rental_market,
)


def test_pro_rata_everything_fits():
    assert allocate_pro_rata(100, [10, 20, 30]).tolist() == [10, 20, 30]


def test_pro_rata_scarce_hand_worked():
    # 60 units over requests 10/20/30 (total 60) is exact; 30 units -> 5/10/15
    assert allocate_pro_rata(30, [10, 20, 30]).tolist() == [5, 10, 15]


def test_pro_rata_largest_remainder_and_ties():
    # 10 over 3 equal claims: exact 3.33 each; one extra unit goes to the lowest index
    assert allocate_pro_rata(10, [5, 5, 5]).tolist() == [4, 3, 3]
    # 7 over 1/2/4 (total 7) fits; 5 over 1/2/4: exact .714/1.43/2.86 -> 0/1/2 + 2 by remainder
    assert allocate_pro_rata(5, [1, 2, 4]).tolist() == [1, 1, 3]


def test_pro_rata_caps_at_request_and_redistributes():
    # weights push claimant 0 above its request; the surplus goes to the others
    out = allocate_pro_rata(10, [2, 10, 10], weights=[100, 1, 1])
    assert out.tolist() == [2, 4, 4]


def test_pro_rata_conserves_integers():
    rng = np.random.default_rng(0)
    for _ in range(200):
        req = rng.integers(0, 50, size=rng.integers(1, 8))
        avail = int(rng.integers(0, 200))
        out = allocate_pro_rata(avail, req)
        assert out.dtype == np.int64
        assert (out <= req).all() and (out >= 0).all()
        assert out.sum() == min(avail, req.sum())


def test_priority_serves_high_class_first():
    out = allocate_priority(12, [10, 10, 10], [1, 3, 3])
    assert out.tolist() == [0, 6, 6]
    out = allocate_priority(25, [10, 10, 10], [1, 3, 3])
    assert out.tolist() == [5, 10, 10]


def test_fifo():
    assert allocate_fifo(15, [10, 10, 10]).tolist() == [10, 5, 0]


def test_dispatch_and_bad_method():
    assert allocate("fifo", 3, [2, 2]).tolist() == [2, 1]
    with pytest.raises(ValueError, match="unknown allocation method"):
        allocate("lottery", 3, [2, 2])
    with pytest.raises(ValueError):
        allocate_pro_rata(-1, [1])


def test_shares_follow_the_standing_share_not_the_size_of_the_order():
    # a buyer that asks for three times as much does not get three times as much
    assert allocate_shares(100, [300, 100], [1.0, 1.0]).tolist() == [50, 50]
    # pro-rata on requests would reward the inflated order
    assert allocate_pro_rata(100, [300, 100]).tolist() == [75, 25]


def test_shares_cap_at_request_and_redistribute():
    assert allocate_shares(100, [10, 200, 200], [5.0, 1.0, 1.0]).tolist() == [10, 45, 45]
    assert allocate_shares(100, [50, 50], [1.0, 3.0]).tolist() == [50, 50]  # everything fits


def test_shares_serve_every_buyer_with_a_share_and_an_order():
    # a small customer with a small share still gets units while a big one is served
    got = allocate_shares(1000, [5000, 5000, 100], [0.6, 0.35, 0.05])
    assert (got > 0).all() and got.sum() == 1000
    # strict priority starves the lower class entirely
    assert allocate_priority(1000, [5000, 5000, 100], [3, 3, 2])[2] == 0


def test_shares_fall_back_to_requests_when_no_share_and_reject_bad_shares():
    assert allocate_shares(10, [30, 10], [0.0, 0.0]).tolist() == [8, 2]
    with pytest.raises(ValueError, match="shares"):
        allocate_shares(10, [30, 10], [float("nan"), 1.0])
    with pytest.raises(ValueError, match="one entry per request"):
        allocate_shares(10, [30, 10], [1.0])
    assert allocate("shares", 10, [30, 10], shares=[1.0, 1.0]).tolist() == [5, 5]
    with pytest.raises(ValueError, match="needs shares"):
        allocate("shares", 10, [30, 10])


@settings(max_examples=200, deadline=None)
@given(
    available=st.integers(0, 10_000),
    data=st.lists(
        st.tuples(st.integers(0, 5_000), st.floats(0, 100, allow_nan=False)),
        min_size=1,
        max_size=12,
    ),
)
def test_shares_invariants(available, data):
    req = np.array([r for r, _ in data])
    shares = np.array([w for _, w in data])
    got = allocate_shares(available, req, shares)
    assert (got >= 0).all() and (got <= req).all()
    assert got.sum() == min(available, req.sum())
    # nobody with a positive share gets less than its share of what was handed out,
    # unless it got all it asked for (water-filling), up to one unit of rounding
    if req.sum() > available and shares[req > 0].sum() > 0:
        live = (req > 0) & (shares > 0)
        fair = available * shares / shares[req > 0].sum()
        assert ((got >= np.minimum(req, np.floor(fair)) - 1) | ~live).all()


def test_rental_clearing_slack_market_is_at_floor():
    res = clear_rental_market(100, [30, 20], [4, 4], [1, 1], floor_price=1.5, ceiling_price=12)
    assert res.price == 1.5
    assert res.served.tolist() == [30, 20]
    assert res.utilisation == pytest.approx(0.5)
    assert not res.rationed


def test_rental_clearing_interior_price_hand_worked():
    # one buyer, need 100, ref 2, elasticity 1: demand(p) = 100 * 2 / p; supply 50 -> p = 4
    res = clear_rental_market(50, [100], [2], [1], floor_price=1, ceiling_price=12)
    assert res.price == pytest.approx(4.0, rel=1e-6)
    assert res.served.sum() == pytest.approx(50, rel=1e-6)


def test_rental_clearing_rations_at_ceiling():
    # inelastic buyers (eps 0) want 200 at any price; supply 50 is shared pro-rata
    res = clear_rental_market(50, [150, 50], [4, 4], [0, 0], floor_price=1, ceiling_price=12)
    assert res.price == 12
    assert res.rationed
    assert res.served.tolist() == pytest.approx([37.5, 12.5])


def test_rental_clearing_price_falls_as_supply_grows():
    prices = [
        clear_rental_market(s, [100, 100], [3, 8], [1, 0.2], 1.5, 12).price
        for s in (50, 100, 150, 250)
    ]
    assert prices == sorted(prices, reverse=True)
    assert prices[-1] == 1.5


def test_idle_capacity_is_undercut_to_floor_times_utilisation_to_the_k():
    # demand is flat below the references (4): 50 of 100 wanted -> u = 0.5, p = 2 * 0.5**2
    res = clear_rental_market(100, [30, 20], [4, 4], [1, 1], 2.0, 12, idle_exponent=2)
    assert res.price == pytest.approx(0.5, rel=1e-6)
    assert res.served.tolist() == pytest.approx([30, 20])
    assert res.utilisation == pytest.approx(0.5)
    assert not res.rationed
    # exponent 0 keeps the floor; a full market is at the floor whatever the exponent
    assert clear_rental_market(100, [30, 20], [4, 4], [1, 1], 2.0, 12).price == 2.0
    full = clear_rental_market(50, [30, 20], [4, 4], [1, 1], 2.0, 12, idle_exponent=3)
    assert full.price == 2.0


def test_idle_price_rises_with_utilisation_and_meets_elastic_demand():
    prices = [
        clear_rental_market(100, [n], [4], [1], 2.0, 12, idle_exponent=3).price
        for n in (40, 60, 80, 95)
    ]
    assert prices == sorted(prices) and prices[-1] < 2.0
    # a buyer whose reference is below the price buys less: demand meets the offer curve
    res = clear_rental_market(100, [80], [0.5], [1], 2.0, 12, idle_exponent=1)
    offer = 100 * res.price / 2.0
    assert res.served.sum() == pytest.approx(offer, rel=1e-6)
    assert res.served.sum() == pytest.approx(80 * 0.5 / res.price, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(
    supply=st.floats(0.0, 1e6),
    needs=st.lists(st.floats(0.0, 1e5), min_size=1, max_size=6),
    refs=st.lists(st.floats(0.5, 15.0), min_size=6, max_size=6),
    eps=st.lists(st.floats(0.0, 2.0), min_size=6, max_size=6),
    floor=st.floats(0.5, 3.0),
    k=st.one_of(st.just(0.0), st.floats(0.05, 5.0)),  # a tiny k is a step at the floor
)
def test_rental_clearing_invariants(supply, needs, refs, eps, floor, k):
    n = len(needs)
    res = clear_rental_market(supply, needs, refs[:n], eps[:n], floor, 12.0, idle_exponent=k)
    need = np.asarray(needs)
    assert (res.served <= need * (1 + 1e-9) + 1e-9).all()  # nobody gets more than it needs
    assert res.served.sum() <= supply * (1 + 1e-6) + 1e-6  # nor more than there is
    assert 0 <= res.price <= 12.0
    assert 0.0 <= res.utilisation <= 1.0 + 1e-6
    if k == 0 or res.rationed:
        assert res.price >= floor  # only idle capacity is priced below the floor
    if res.price < floor:  # ... where what is rented is what sellers offer at that price
        offer = supply * (res.price / floor) ** (1 / k)
        assert res.served.sum() == pytest.approx(offer, rel=1e-6, abs=1e-6)
        assert res.served.sum() <= supply


def test_carried_shares_rotate_small_outputs_over_the_buyers():
    """3 units a week for 4 buyers: without a carry the smallest share never wins the
    rounding; with the fractions owed carried forward every buyer gets units."""
    from abm.markets.clearing import allocate_shares, allocate_shares_carried

    asked, shares = [100, 100, 100, 100], [1.12, 1.07, 1.04, 0.73]
    plain = sum(allocate_shares(3, asked, shares) for _ in range(8))
    assert plain[3] == 0
    carry = np.zeros(4)
    total = np.zeros(4, dtype=np.int64)
    for _ in range(8):
        got, carry = allocate_shares_carried(3, asked, shares, carry)
        assert got.sum() == 3 and (got <= np.array(asked)).all()
        total += got
    assert (total > 0).all()
    expected = 24 * np.array(shares) / sum(shares)
    assert np.abs(total - expected).max() < 1.5  # the carry keeps the totals on the shares
    assert np.abs(carry).max() < 1.5


def test_carried_shares_reset_when_everything_fits():
    from abm.markets.clearing import allocate_shares_carried

    got, carry = allocate_shares_carried(10, [3, 4], [1.0, 1.0], [0.7, -0.7])
    assert got.tolist() == [3, 4] and carry.tolist() == [0.0, 0.0]
