"""Double orders, latent training demand and the late enterprise knot (A45, A47)."""

from __future__ import annotations

import copy

import pytest

from abm.agents.ordering import interpolate_log
from abm.engine.model import SupplyChainModel
from tests.conftest import variant


def _set(section: str, **values):
    def edit(d):
        d["parameters"][section].update(values)

    return edit


def test_double_orders_grow_with_lead_time_up_to_the_cap(baseline):
    sc = variant(baseline, _set("buyers", double_order_per_week=0.02, double_order_cap=0.3))
    m = SupplyChainModel(sc, seed=1)
    buyer = m.clouds[0]
    normal = sc.parameters.vendors.normal_lead_time_weeks
    assert buyer.double_order_share(normal) == 0.0
    assert buyer.double_order_share(normal + 10) == pytest.approx(0.2)
    assert buyer.double_order_share(normal + 40) == pytest.approx(0.3)
    off = SupplyChainModel(variant(baseline, _set("buyers", double_order_per_week=0.0)), seed=1)
    assert off.clouds[0].double_order_share(normal + 40) == 0.0


def test_double_orders_add_to_orders_while_lead_times_are_long(baseline):
    m = SupplyChainModel(baseline, seed=1)
    normal = baseline.parameters.vendors.normal_lead_time_weeks
    nvidia = m.cast.vendor["Nvidia"]
    while nvidia.lead_time < normal + 15:  # run into the first long lead time
        m.step()
    twin = copy.deepcopy(m)
    twin.spec.parameters.buyers.double_order_per_week = 0.02
    m.step()
    twin.step()
    plain = sum(c.ordered_units_this_week for c in m.clouds)
    doubled = sum(c.ordered_units_this_week for c in twin.clouds)
    assert doubled > 1.2 * plain > 0


def test_double_orders_are_cancelled_when_lead_times_fall(baseline):
    def pipeline_drop(per_week: float) -> tuple[float, float]:
        m = SupplyChainModel(baseline, seed=1)
        m.spec = m.spec.model_copy(deep=True)
        m.spec.parameters.buyers.double_order_per_week = per_week
        m.spec.parameters.buyers.double_order_cap = 1.0
        for b in m.clouds:  # quoted lead time 40 weeks: pipelines fill with double orders
            b.expected_lead_time = lambda: 40.0
        for _ in range(4):
            m.step()
        before = sum(b.pipeline_h100e() for b in m.clouds)
        for b in m.clouds:  # lead times back to normal
            b.expected_lead_time = lambda: 12.0
        m.step()
        return before, sum(b.pipeline_h100e() for b in m.clouds)

    before_off, after_off = pipeline_drop(0.0)
    before_on, after_on = pipeline_drop(0.02)
    assert before_on > 1.3 * before_off  # double orders fill the pipeline ...
    assert before_on - after_on > 2 * (before_off - after_off)  # ... and are cancelled


def test_latent_training_demand_peaks_on_its_date_and_is_gone_after(baseline):
    sc = variant(baseline, _set("demand", training_scale_peak=2.0))
    m, ref = SupplyChainModel(sc, seed=1), SupplyChainModel(baseline, seed=1)
    dp = sc.parameters.demand
    peak, after = m.step_of(dp.training_scale_peak_date), m.step_of(dp.training_scale_until)
    scaled = 0
    for lab, lab0 in zip(m.labs, ref.labs, strict=True):
        sourced = [(m.step_of(d), v) for d, v in lab.spec.training_h100e]
        base = interpolate_log(sourced, peak)
        if base > 0:  # the factor is relative to the sourced path
            assert interpolate_log(lab.training_path, peak) == pytest.approx(2 * base)
            scaled += 1
        assert interpolate_log(lab.training_path, after + 10) == pytest.approx(
            interpolate_log(lab0.training_path, after + 10)
        )
        assert interpolate_log(lab.training_path, 0) == pytest.approx(
            interpolate_log(lab0.training_path, 0)
        )
    assert scaled >= 5  # the baseline's labs with a training plan on the peak date


def test_late_enterprise_knot_scales_demand_on_its_date(baseline):
    sc = variant(baseline, _set("demand", enterprise_scale_late=1.5))
    m, ref = SupplyChainModel(sc, seed=1), SupplyChainModel(baseline, seed=1)
    late = m.step_of(sc.parameters.demand.enterprise_scale_late_date)
    for e, e0 in zip(m.enterprises, ref.enterprises, strict=True):
        sourced = [(m.step_of(d), v) for d, v in e.spec.demand_path_h100e]
        # the knot is a level relative to the sourced path, not to the other knots
        assert interpolate_log(e.path, late) == pytest.approx(1.5 * interpolate_log(sourced, late))
        assert interpolate_log(e.path, 0) == pytest.approx(interpolate_log(e0.path, 0))
