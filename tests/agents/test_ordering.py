"""Forecasting and ordering rules."""

import pytest

from abm.agents.ordering import HoltForecast, interpolate_log, scale_path, supply_line_order


def test_holt_tracks_a_linear_trend():
    f = HoltForecast(level=10, trend=0, alpha=0.5, beta=0.5)
    for t in range(1, 60):
        f.update(10 + 2 * t)
    assert f.trend == pytest.approx(2, rel=1e-3)
    assert f.ahead(5) == pytest.approx(10 + 2 * 59 + 10, rel=1e-3)


def test_supply_line_order_hand_worked():
    # use 10/week, stock 20 of 40 wanted, line 50 of 80 wanted, adjust 5 weeks -> 10 + 50/5
    assert supply_line_order(10, 40, 20, 80, 50, 5) == 20
    assert supply_line_order(0, 10, 100, 0, 0, 5) == 0  # never negative


def test_interpolate_log():
    pts = [(0, 100.0), (10, 400.0)]
    assert interpolate_log(pts, 5) == pytest.approx(200.0)  # geometric midpoint
    assert interpolate_log(pts, 20) == 400.0
    assert interpolate_log([(5, 1.0), (10, 2.0)], 2) == 0.0  # before launch


def test_scale_path_neutral_and_knotted():
    path = [(0, 100.0), (52, 400.0)]
    assert scale_path(path, [(0, 1.0)]) == path
    scaled = dict(scale_path(path, [(0, 1.0), (26, 2.0), (52, 1.0)]))
    assert scaled[26] == pytest.approx(2 * interpolate_log(path, 26))
    assert scaled[0] == 100.0 and scaled[52] == 400.0
    # knots outside the path's span are dropped, and the factor stays exact at the ends
    assert [s for s, _ in scale_path(path, [(-5, 1.0), (80, 3.0)])] == [0, 52]
