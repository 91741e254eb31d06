"""Vendors stockpile HBM ahead of an expected or announced HBM rule (A50, F086-F088)."""

from __future__ import annotations

from datetime import date

from abm.engine.model import SupplyChainModel
from tests.conftest import variant

EFFECTIVE = date(2024, 12, 31)


def _hbm_rule(**fields):
    def edit(d):
        (rule,) = [r for r in d["policies"] if r["id"] == "US-2024-12-HBM"]
        rule.update(fields)

    return edit


def _stock_at_effective_date(sc, seed: int = 1) -> float:
    m = SupplyChainModel(sc, seed=seed)
    while m.date < date(2024, 12, 30):
        m.step()
    return m.cast.vendor["Huawei"].hbm


def test_gate_sees_the_hbm_rule_coming_from_expected_to_effective(baseline):
    m = SupplyChainModel(baseline, seed=1)
    samsung = m.cast.memory_maker["Samsung"]
    for day, coming in [
        (date(2024, 6, 10), False),  # before the press reports (expected 2024-06-11)
        (date(2024, 6, 17), True),
        (date(2024, 12, 2), True),  # announced
        (date(2024, 12, 30), True),
        (date(2025, 1, 6), False),  # in force: nothing to front-run
    ]:
        m.controls.new_week(day)
        assert m.controls.hbm_expected_cut(samsung.country, "CN", "Huawei") is coming, day
    # CXMT is out of the rule's reach: no stockpiling against it
    m.controls.new_week(date(2024, 8, 5))
    assert not m.controls.hbm_expected_cut("CN", "CN", "Huawei")


def test_an_hbm_rule_seen_ahead_builds_a_stockpile(baseline):
    ahead = _stock_at_effective_date(baseline)
    # counterfactual: the same rule, announced on its effective date and not expected before
    surprise = variant(baseline, _hbm_rule(expected=None, announced="2024-12-31"))
    (rule,) = [r for r in surprise.policies if r.id == "US-2024-12-HBM"]
    assert rule.announced == rule.effective == EFFECTIVE and rule.expected is None
    unseen = _stock_at_effective_date(surprise)
    assert ahead > 5 * unseen, (ahead, unseen)
    assert ahead > 1_000_000  # millions of stacks (A50), not weeks of normal cover


def test_no_stockpile_without_cover_weeks(baseline):
    def no_cover(d):
        for v in d["world"]["vendors"]:
            v["stockpile_cover_weeks"] = 0

    assert _stock_at_effective_date(variant(baseline, no_cover)) * 5 < _stock_at_effective_date(
        baseline
    )
