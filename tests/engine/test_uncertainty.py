"""Declared uncertainty sampled per seed: determinism, ranges, common random numbers, the switch."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abm.engine.model import SupplyChainModel
from abm.engine.uncertainty import occurrences, quantile, sample_scenario, scale_growth
from abm.runs.outputs import events_table, metrics_table, write_run
from abm.scenario import Scenario, expand_key_path, load_scenario
from abm.scenario.schema import DisruptionSpec, UncertaintySpec

WEEKS = 30


@pytest.fixture(scope="module")
def declared() -> Scenario:
    return load_scenario("baseline")


@pytest.fixture(scope="module")
def no_controls() -> Scenario:
    return load_scenario("no_controls")


def _value_at(spec: Scenario, path: str) -> list:
    return [v for _, v in expand_key_path(spec.model_dump(mode="json"), path)]


def test_the_baseline_declares_the_realism_uncertainties(declared):
    paths = {u.path for u in declared.uncertainties}
    assert {
        "world.packagers[TSMC CoWoS].growth.expansion_lag_weeks",
        "world.memory_makers[SK Hynix].growth.expansion_lag_weeks",
        "world.memory_makers[*].growth.max_growth_per_year",
        "world.foundries[SMIC].nodes[N+2].yield_fraction",
        "world.labs[*].training_h100e",
    } <= paths
    assert [d.kind for d in declared.disruptions] == ["capacity_shock"]
    assert set(declared.disruptions[0].targets) == {"TSMC", "TSMC CoWoS"}


def test_same_seed_draws_the_same_values_and_writes_identical_outputs(tmp_path):
    runs = []
    for n in range(2):
        m = SupplyChainModel.from_scenario("baseline", seed=11, weeks=WEEKS).run()
        write_run(m, tmp_path / f"r{n}", started=datetime(2026, 1, 1, tzinfo=UTC))
        runs.append(m)
    a, b = runs
    assert a.draws == b.draws and a.draws.sampled
    assert a.spec == b.spec
    assert metrics_table(a).equals(metrics_table(b))
    assert events_table(a).equals(events_table(b))
    for name in ("metrics.parquet", "events.parquet", "agents.parquet"):
        assert (tmp_path / "r0" / name).read_bytes() == (tmp_path / "r1" / name).read_bytes()
    manifests = [json.loads((tmp_path / f"r{n}" / "manifest.json").read_text()) for n in (0, 1)]
    assert manifests[0]["uncertainty"] == manifests[1]["uncertainty"] == a.draws.record()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_every_draw_lies_in_its_declared_range_and_lands_in_the_spec(seed):
    declared = load_scenario("baseline")
    spec, draws = sample_scenario(declared, seed)
    assert len(draws.values) == len(declared.uncertainties)
    for u, d in zip(declared.uncertainties, draws.values, strict=True):
        assert u.low <= d.draw <= u.high, (u.path, d.draw)
        base = _value_at(declared, u.path)
        now = _value_at(spec, u.path)
        for b, v in zip(base, now, strict=True):
            if isinstance(b, list):  # a trend path: its growth is scaled
                assert v == [list(p) for p in scale_growth(b, d.draw)]
            elif u.factor:
                assert v == (round(b * d.draw) if u.integer else pytest.approx(b * d.draw))
            else:
                assert v == pytest.approx(d.draw)
    for o in draws.occurrences:
        d = declared.disruptions[0]
        assert d.factor.low <= o.factor <= d.factor.high
        assert d.weeks.low <= o.weeks <= d.weeks.high
        assert declared.start_date <= o.start <= declared.end_date
    assert spec.uncertainty is False  # a sampled scenario is never sampled twice


def test_different_seeds_draw_different_values(declared):
    draws = [sample_scenario(declared, s)[1] for s in range(1, 11)]
    for n, _ in enumerate(declared.uncertainties):
        values = {d.values[n].draw for d in draws}
        assert len(values) == 10, declared.uncertainties[n].path
    counts = [len(d.occurrences) for d in draws]
    assert len(set(counts)) > 1  # some seeds get a quake, some none or two


def test_a_policy_scenario_draws_exactly_the_baselines_values(declared, no_controls):
    """Common random numbers: the draws depend on the seed and the entry, not the policies."""
    for seed in (1, 2, 3, 77):
        assert sample_scenario(declared, seed)[1] == sample_scenario(no_controls, seed)[1]
    base = SupplyChainModel.from_scenario("baseline", seed=4, weeks=5).run()
    free = SupplyChainModel.from_scenario("no_controls", seed=4, weeks=5).run()
    assert base.draws.record() == free.draws.record()

    def draw_rows(m: SupplyChainModel) -> list[tuple]:
        ev = events_table(m).to_pylist()
        return [
            (r["counterparty"], r["quantity"], r["detail"])
            for r in ev
            if r["event"] == "uncertainty_draw"
        ]

    assert draw_rows(base) == draw_rows(free) and draw_rows(base)
    # the sampled worlds differ only where the policy scenario says so
    # (no_controls also removes the front companies, which only exist to evade controls)
    assert base.spec.world.model_copy(update={"fronts": []}) == free.spec.world.model_copy(
        update={"fronts": []}
    )
    assert base.spec.shocks == free.spec.shocks


def test_a_draw_does_not_depend_on_which_other_entries_exist(declared):
    fewer = declared.model_copy(update={"uncertainties": declared.uncertainties[3:]})
    full = sample_scenario(declared, 9)[1]
    part = sample_scenario(fewer, 9)[1]
    assert part.values == full.values[3:]
    assert part.occurrences == full.occurrences


def test_switching_sampling_off_runs_the_declared_values(declared):
    for model in (
        SupplyChainModel(declared, seed=5, uncertainty=False),
        SupplyChainModel(declared.model_copy(update={"uncertainty": False}), seed=5),
    ):
        assert model.spec == declared or model.spec.uncertainty is False
        assert model.spec.world == declared.world and model.spec.shocks == declared.shocks
        assert not model.draws.sampled and model.draws.record()["values"] == {}
        assert "uncertainty_draw" not in set(model.events.columns["event"])
    on = SupplyChainModel(declared, seed=5)
    assert on.spec.world != declared.world
    assert on.spec.parameters.demand != declared.parameters.demand


def test_a_model_built_from_a_sampled_scenario_does_not_sample_again(declared):
    first = SupplyChainModel(declared, seed=3)
    again = SupplyChainModel(first.spec, seed=3)
    assert again.spec == first.spec and not again.draws.sampled


def test_draws_are_logged_as_uncertainty_events_with_their_values():
    m = SupplyChainModel.from_scenario("baseline", seed=2, weeks=2)
    rows = [r for r in events_table(m).to_pylist() if r["event"] == "uncertainty_draw"]
    fields = {f: v for d in m.draws.values for f, v in d.fields.items()}
    assert len(rows) == len(fields) + 2 * len(m.draws.occurrences)
    for r in rows[: len(fields)]:
        where = r["detail"].split(" = ")[0]
        assert r["quantity"] == pytest.approx(fields[where]) and r["step"] == 0


def test_disruptions_arrive_at_their_base_rate_and_become_capacity_shocks(declared):
    d = DisruptionSpec(
        name="often",
        kind="capacity_shock",
        targets=["TSMC CoWoS"],
        rate_per_year=2.0,
        factor={"low": 0.5, "high": 0.6},
        weeks={"low": 2, "high": 3},
        source="A57",
        why="test",
    )
    counts = [len(occurrences(d, s, date(2022, 1, 3), 261)) for s in range(400)]
    years = 261 / 52.1775
    assert statistics.mean(counts) == pytest.approx(2.0 * years, rel=0.05)
    assert statistics.variance(counts) == pytest.approx(2.0 * years, rel=0.25)  # Poisson
    spec = declared.model_copy(update={"disruptions": [d], "weeks": 80})
    m = SupplyChainModel(spec, seed=1)
    placed = [s for s in m.spec.shocks if s.kind == "capacity_shock" and s.target == "TSMC CoWoS"]
    assert len(placed) == len(m.draws.occurrences) > 0
    m.run()
    hit = [r for r in events_table(m).to_pylist() if r["event"] == "capacity_shock"]
    starts = {m.step_of(o.start) for o in m.draws.occurrences if m.step_of(o.start) < 80}
    assert {r["step"] for r in hit if r["agent"] == "TSMC CoWoS"} == starts


def test_quantiles_of_each_distribution():
    tri = UncertaintySpec(
        path="enforcement",
        distribution="triangular",
        low=0,
        mode=0.25,
        high=1,
        source="A55",
        why="t",
    )
    assert quantile(tri, 0.25) == pytest.approx(0.25)  # the mode splits the mass 1/4 : 3/4
    assert quantile(tri, 0.0) == 0 and quantile(tri, 1.0) == 1
    log = UncertaintySpec(
        path="enforcement", distribution="loguniform", low=0.5, high=2, source="A55", why="t"
    )
    assert quantile(log, 0.5) == pytest.approx(1.0)
    qs = np.random.default_rng(0).random(20000)
    assert statistics.median(quantile(tri, q) for q in qs) == pytest.approx(
        1 - (0.5 * 0.75) ** 0.5, abs=0.01
    )


# ------------------------------------------------------------------ bands (slow)


def _last(m: SupplyChainModel, scope: str) -> float:
    t = metrics_table(m).to_pylist()
    rows = [r for r in t if r["name"] == "compute_stock_h100e" and r["scope"] == scope]
    return float(max(rows, key=lambda r: r["step"])["value"])


def _band(values: list[float]) -> tuple[float, float]:
    """The 5 % and 95 % quantiles as shares of the median, minus 1."""
    med = float(np.median(values))
    lo, hi = np.quantile(values, [0.05, 0.95])
    return float(lo / med - 1), float(hi / med - 1)


@pytest.mark.slow
def test_seed_bands_mean_something_only_with_the_declared_uncertainties():
    # the bar is over the 20 seeds `abm validate` runs (-12 % / +16 % measured)
    on = [_last(m, "CN") for m in _runs(True, range(1, 21))]
    off = [_last(m, "CN") for m in _runs(False, range(1, 11))]
    lo_off, hi_off = _band(off)
    lo_on, hi_on = _band(on)
    # the declared uncertainty widens the band well beyond what the small noise alone
    # gives (-8 % / +3 % for seeds 1-10 without it, measured after issue 15's mechanisms)
    assert hi_on - lo_on > 1.5 * (hi_off - lo_off), (lo_on, hi_on, lo_off, hi_off)
    assert lo_on <= -0.10 and hi_on >= 0.10, (lo_on, hi_on)


def _runs(uncertainty: bool, seeds: range):
    for seed in seeds:
        yield SupplyChainModel.from_scenario("baseline", seed=seed, uncertainty=uncertainty).run()
