"""Double orders (A45) and labs securing their next training run ahead (A60)."""

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
    m.spec.parameters.buyers.double_order_per_week = 0.0  # none, against ...
    twin.spec.parameters.buyers.double_order_per_week = 0.02  # ... 2 % a week, uncapped
    twin.spec.parameters.buyers.double_order_cap = 1.0
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


def test_labs_want_the_training_compute_of_their_next_run(baseline):
    """A lab's training need is its path a lead ahead (A60), not a window factor."""
    lead = 26
    sc = variant(baseline, _set("demand", training_lead_weeks=lead))
    none = variant(baseline, _set("demand", training_lead_weeks=0))
    m, m0 = SupplyChainModel(sc, seed=1), SupplyChainModel(none, seed=1)
    for _ in range(60):  # into 2023, when the frontier grew fastest
        m.step()
        m0.step()
    week = m.week
    for lab, lab0 in zip(m.labs, m0.labs, strict=True):
        if not lab.active or lab0.training_need <= 0:
            continue
        expected = interpolate_log(lab.training_path, week + lead) / lab.spec.efficiency
        assert lab.training_need == pytest.approx(expected)
        assert lab0.training_need == pytest.approx(
            interpolate_log(lab.training_path, week) / lab.spec.efficiency
        )
        assert lab.training_need > lab0.training_need  # the paths grow: ahead is more
    # the pull-forward is largest where the path grows fastest (no date in the rule)
    openai = m.cast.lab["OpenAI"]
    path = openai.training_path
    ratio_2023 = interpolate_log(path, 52 + lead) / interpolate_log(path, 52)
    ratio_2025 = interpolate_log(path, 160 + lead) / interpolate_log(path, 160)
    assert ratio_2023 > ratio_2025 > 1


def test_the_lead_runs_past_the_end_of_a_path_at_its_last_growth():
    from abm.agents.ordering import extrapolate_log

    path = [(0, 100.0), (52, 200.0)]
    assert extrapolate_log(path, 26) == pytest.approx(interpolate_log(path, 26))
    assert extrapolate_log(path, 104) == pytest.approx(400.0)  # doubling a year goes on
    assert interpolate_log(path, 104) == 200.0  # the plain path is flat after its end
