import pytest

from abm.scenario import load_scenario
from viz.levers import LEVERS, describe_levers, headline_tpp, lever_defaults, lever_overrides


@pytest.fixture(scope="module")
def baseline():
    return load_scenario("baseline")


def test_defaults_are_the_scenarios_own_values(baseline):
    d = lever_defaults(baseline, seed=3)
    cowos = next(p for p in baseline.world.packagers if p.name == "TSMC CoWoS")
    assert d == {
        "tpp_threshold": 4800.0,
        "enforcement": 0.5,
        "cowos_growth": cowos.growth.max_growth_per_year,  # the calibrated value
        "domestic_yield": 0.4,
        "surge_size": 1.5,
        "enterprise_growth": 1.0,
        "seed": 3.0,
    }
    assert lever_defaults(load_scenario("smuggling_crackdown"))["enforcement"] == 0.95
    assert {lv.key for lv in LEVERS} == set(d)


def test_untouched_levers_change_nothing(baseline):
    assert lever_overrides(baseline, lever_defaults(baseline)) == {}
    assert describe_levers(baseline, lever_defaults(baseline)) == []


def test_each_lever_reaches_the_scenario(baseline):
    values = {
        **lever_defaults(baseline),
        "tpp_threshold": 6000.0,
        "enforcement": 0.8,
        "cowos_growth": 1.5,
        "domestic_yield": 0.7,
        "surge_size": 2.2,
    }
    spec = load_scenario("baseline", lever_overrides(baseline, values))
    got = lever_defaults(spec)
    for key in ("tpp_threshold", "enforcement", "cowos_growth", "domestic_yield", "surge_size"):
        assert got[key] == pytest.approx(values[key]), key
    assert headline_tpp(spec) == 6000.0


def test_tpp_lever_moves_only_the_headline_bound(baseline):
    values = {**lever_defaults(baseline), "tpp_threshold": 6000.0}
    spec = load_scenario("baseline", lever_overrides(baseline, values))
    bounds = {
        (b, getattr(c.tpp, b))
        for r in spec.policies
        for c in r.controlled
        if c.tpp is not None
        for b in ("ge", "lt")
        if getattr(c.tpp, b) is not None
    }
    assert ("ge", 4800.0) not in bounds and ("lt", 4800.0) not in bounds
    assert {("ge", 6000.0), ("lt", 6000.0), ("ge", 1600.0), ("ge", 21000.0)} <= bounds
    # rules without a TPP test are untouched
    before = {r.id: r for r in baseline.policies}
    for r in spec.policies:
        if not any(c.tpp for c in r.controlled):
            assert r == before[r.id]


def test_enterprise_growth_scales_log_growth(baseline):
    values = {**lever_defaults(baseline), "enterprise_growth": 2.0}
    spec = load_scenario("baseline", lever_overrides(baseline, values))
    for old, new in zip(baseline.world.enterprises, spec.world.enterprises, strict=True):
        first = old.demand_path_h100e[0][1]
        assert new.demand_path_h100e[0][1] == pytest.approx(first)
        for (d0, v0), (d1, v1) in zip(old.demand_path_h100e, new.demand_path_h100e, strict=True):
            assert d0 == d1
            assert v1 == pytest.approx(first * (v0 / first) ** 2)
    assert describe_levers(baseline, values) == ["Enterprise-demand growth (x rate) = 2"]


def test_surge_lever_keeps_other_shocks(baseline):
    taiwan = load_scenario("taiwan_disruption")
    values = {**lever_defaults(taiwan), "surge_size": 2.0}
    spec = load_scenario("taiwan_disruption", lever_overrides(taiwan, values))
    kinds = [(s.kind, s.factor) for s in spec.shocks]
    assert kinds == [("consumer_surge", 2.0), ("capacity_shock", 0.2), ("capacity_shock", 0.2)]


def test_missing_targets_make_levers_unavailable(baseline):
    world = baseline.world.model_copy(update={"packagers": baseline.world.packagers[1:]})
    spec = baseline.model_copy(update={"world": world, "shocks": [], "policies": []})
    d = lever_defaults(spec)
    assert d["cowos_growth"] is None and d["surge_size"] is None and d["tpp_threshold"] is None
    assert lever_overrides(spec, {**d, "cowos_growth": 1.0}) == {}
