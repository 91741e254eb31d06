"""Counterfactual attribution: the 2x2 twins, the decomposition and its sign on the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abm.analysis.attribution import (
    CELLS,
    PARTS,
    ample_supply_twin,
    attribute,
    decompose,
    no_controls_twin,
    twins,
)
from abm.scenario import load_scenario

# 209 weeks from 2022-01-03 end on 2025-12-29: 2022-2025 whole, enough for the 2025 check
WEEKS_TO_2025 = 209


@pytest.fixture(scope="module")
def baseline_cn():
    """Baseline, region CN, one seed, four runs to the end of 2025 (about 8 s)."""
    return attribute("baseline", region="CN", seeds=[1], workers=1, weeks=WEEKS_TO_2025)


def _cell_values(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.pivot_table(
        index=["seed", "year", "metric"], columns=["controls", "supply"], values="value"
    )


# ------------------------------------------------------------------ twins


def test_no_controls_twin_of_the_baseline_is_the_library_no_controls_scenario(baseline):
    twin = no_controls_twin(baseline).model_dump(mode="json")
    library = load_scenario("no_controls").model_dump(mode="json")
    for key in ("name", "description", "extends"):
        twin.pop(key)
        library.pop(key)
    assert twin["policies"] == []
    assert twin == library


def test_ample_twin_multiplies_non_chinese_capacity_only(baseline):
    ample = ample_supply_twin(baseline, 8.0)
    for before, after in zip(baseline.world.foundries, ample.world.foundries, strict=True):
        k = 1.0 if before.country == "CN" else 8.0
        for n0, n1 in zip(before.nodes, after.nodes, strict=True):
            assert n1.capacity_wafers_per_week == pytest.approx(k * n0.capacity_wafers_per_week)
    for before, after in zip(baseline.world.packagers, ample.world.packagers, strict=True):
        k = 1.0 if before.country == "CN" else 8.0
        assert after.capacity_wafers_per_week == pytest.approx(k * before.capacity_wafers_per_week)
    for before, after in zip(baseline.world.memory_makers, ample.world.memory_makers, strict=True):
        k = 1.0 if before.country == "CN" else 8.0
        assert after.capacity_stacks_per_week == pytest.approx(k * before.capacity_stacks_per_week)
    assert any(f.country == "CN" for f in baseline.world.foundries)  # the test tests something
    assert ample.policies == baseline.policies


def test_twins_are_the_four_cells(baseline):
    cells = twins(baseline)
    assert set(cells) == set(CELLS)
    assert cells[("on", "scarce")] is baseline
    assert cells[("off", "ample")].policies == []
    tsmc = cells[("off", "ample")].world.packagers[0].capacity_wafers_per_week
    assert tsmc == pytest.approx(8 * baseline.world.packagers[0].capacity_wafers_per_week)


# ------------------------------------------------------------------ decomposition


def test_decompose_on_known_numbers():
    values = {("on", "scarce"): 0.9, ("off", "scarce"): 0.4, ("on", "ample"): 0.6}
    values[("off", "ample")] = 0.1
    runs = pd.DataFrame(
        [
            {
                "seed": 1,
                "controls": c,
                "supply": s,
                "year": 2025,
                "metric": "shortage_ratio",
                "value": v,
            }
            for (c, s), v in values.items()
        ]
    )
    parts = decompose(runs).set_index("part")["value"]
    assert parts["total"] == pytest.approx(0.8)
    assert parts["supply"] == pytest.approx(0.3)
    assert parts["controls"] == pytest.approx(0.5)
    assert parts["interaction"] == pytest.approx(0.8 - 0.3 - 0.5)


def test_decompose_refuses_a_missing_cell():
    runs = pd.DataFrame(
        [
            {
                "seed": 1,
                "controls": "on",
                "supply": "scarce",
                "year": 2025,
                "metric": "shortage_ratio",
                "value": 1.0,
            }
        ]
    )
    with pytest.raises(ValueError, match="four cells"):
        decompose(runs)


def test_parts_add_up_to_the_total_and_match_the_runs(baseline_cn):
    parts = baseline_cn.parts.pivot_table(
        index=["seed", "year", "metric"], columns="part", values="value"
    )
    assert set(parts.columns) == set(PARTS)
    assert set(parts.index.get_level_values("metric")) == {"shortage_ratio", "compute_gap_share"}
    assert sorted(set(parts.index.get_level_values("year"))) == [2022, 2023, 2024, 2025]
    summed = parts["supply"] + parts["controls"] + parts["interaction"]
    np.testing.assert_allclose(summed, parts["total"], rtol=0, atol=1e-12)
    # each part is the difference of the runs the docstring names
    cell = _cell_values(baseline_cn.runs).loc[parts.index]
    np.testing.assert_allclose(parts["total"], cell[("on", "scarce")] - cell[("off", "ample")])
    np.testing.assert_allclose(parts["supply"], cell[("off", "scarce")] - cell[("off", "ample")])
    np.testing.assert_allclose(parts["controls"], cell[("on", "ample")] - cell[("off", "ample")])
    double_difference = (
        cell[("on", "scarce")] - cell[("off", "scarce")] - cell[("on", "ample")]
    ) + cell[("off", "ample")]
    np.testing.assert_allclose(parts["interaction"], double_difference, atol=1e-12)


def test_the_summary_table_is_tidy(baseline_cn):
    table = baseline_cn.table
    assert list(table.columns) == ["year", "metric", "part", "median", "p5", "p95", "n_seeds"]
    assert (table["n_seeds"] == 1).all()
    assert (table["p5"] <= table["median"]).all() and (table["median"] <= table["p95"]).all()
    assert len(table) == 4 * 2 * len(PARTS)  # years x metrics x parts


def test_controls_make_china_short_in_2025(baseline_cn):
    t = baseline_cn.table.set_index(["year", "metric", "part"])
    assert t.loc[(2025, "shortage_ratio", "controls"), "median"] > 0.1
    assert t.loc[(2025, "compute_gap_share", "controls"), "median"] > 0


def test_controls_part_is_zero_without_rules():
    result = attribute("no_controls", region="CN", seeds=[1, 2], workers=1, weeks=40)
    controls = result.parts[result.parts["part"] == "controls"]["value"]
    assert len(controls) > 0
    assert np.abs(controls.to_numpy()).max() <= 1e-12
    interaction = result.parts[result.parts["part"] == "interaction"]["value"]
    assert np.abs(interaction.to_numpy()).max() <= 1e-12
    # the supply part is not zero: the twin that did change something shows it
    supply = result.parts[result.parts["part"] == "supply"]["value"]
    assert np.abs(supply.to_numpy()).max() > 1e-6


def test_us_has_no_gap_to_itself():
    result = attribute("baseline", region="US", seeds=[1], weeks=20)
    assert set(result.table["metric"]) == {"shortage_ratio"}


def test_same_seeds_same_table_whatever_the_workers():
    one = attribute("baseline", region="CN", seeds=[1, 2], workers=1, weeks=30)
    two = attribute("baseline", region="CN", seeds=[1, 2], workers=2, weeks=30)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.runs, two.runs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "EU"}, "region: expected one of US, CN, ROW"),
        ({"seeds": 0}, "seeds: expected a count"),
        ({"seeds": [1, 1]}, "repeats a seed"),
        ({"seeds": []}, "at least one seed"),
        ({"workers": 0}, "workers"),
        ({"supply_factor": -1.0}, "supply_factor"),
    ],
)
def test_bad_arguments_raise_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        attribute("baseline", **{"region": "CN", "seeds": [1], "weeks": 2, **kwargs})
    assert "\n" not in str(info.value)


def test_chart_is_a_png(baseline_cn, tmp_path):
    path = baseline_cn.chart(tmp_path / "a.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="not in the attribution"):
        baseline_cn.chart(tmp_path / "b.png", metric="nope")
