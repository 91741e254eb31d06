"""The ``uncertainties:`` and ``disruptions:`` sections: malformed entries give one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from abm.scenario import ScenarioError, expand_key_path, load_scenario, overrides_from
from abm.scenario.loader import SCENARIO_DIR, read_yaml

GOOD: dict[str, Any] = {
    "path": "world.foundries[SMIC].nodes[0].yield_fraction",
    "distribution": "uniform",
    "low": 0.3,
    "high": 0.5,
    "source": "A55",
    "why": "a test",
}
QUAKE: dict[str, Any] = {
    "name": "quake",
    "kind": "capacity_shock",
    "targets": ["TSMC"],
    "rate_per_year": 0.5,
    "factor": {"low": 0.7, "high": 0.9},
    "weeks": {"low": 1, "high": 3},
    "source": "A57",
    "why": "a test",
}


def _write(tmp_path: Path, **top: Any) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(
        yaml.safe_dump({"name": "mine", "extends": "baseline", **top}), encoding="utf-8"
    )
    return path


def _refused(tmp_path: Path, **top: Any) -> str:
    path = _write(tmp_path, **top)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    return msg


def test_a_well_formed_entry_loads_and_replaces_the_baselines_by_path(tmp_path):
    sc = load_scenario(_write(tmp_path, uncertainties=[GOOD], disruptions=[QUAKE]))
    by_path = {u.path: u for u in sc.uncertainties}
    assert by_path[GOOD["path"]].high == 0.5
    assert len(sc.uncertainties) == len(load_scenario("baseline").uncertainties) + 1
    assert {d.name for d in sc.disruptions} == {"taiwan_quake", "quake"}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"path": "world.foundries[SMYC].growth.max_growth_per_year"},
            "uncertainties[9].path: no item 'SMYC' in world.foundries (known: TSMC, SMIC)",
        ),
        (
            {"path": "world.foundries[SMIC].nodes[3].yield_fraction"},
            "no item '3' in world.foundries[SMIC].nodes",
        ),
        (
            {"path": "world.foundries[SMIC].growth.max_growth"},
            "no field 'max_growth' in world.foundries[SMIC].growth",
        ),
        ({"path": "weeks"}, "uncertainties[9].path: expected text matching"),
        ({"path": "world.foundries[SMIC].name"}, "holds str 'SMIC', not a number"),
        (
            {"path": "world.foundries[SMIC].growth.expansion_lag_weeks", "low": 52, "high": 90},
            "uncertainties[9].integer: world.foundries[SMIC].growth.expansion_lag_weeks is a "
            "whole number; set integer: true",
        ),
        ({"low": 0.6, "high": 0.5}, "uncertainties[9].low: 0.6 is above high 0.5"),
        ({"high": float("nan")}, "uncertainties[9].high: expected a finite number"),
        ({"distribution": "normal"}, "uncertainties[9].distribution: expected one of"),
        ({"distribution": "triangular"}, "uncertainties[9].mode: a triangular range needs a mode"),
        ({"mode": 0.4}, "uncertainties[9].mode: only a triangular range has a mode"),
        ({"distribution": "loguniform", "low": 0.0}, "a loguniform range must start above 0"),
        ({"source": "A999"}, "uncertainties[9].source: unknown reference 'A999'"),
        ({"why": None}, "uncertainties[9].why:"),
        ({"spread": 2}, "uncertainties[9].spread:"),
    ],
)
def test_a_malformed_uncertainty_is_one_line_naming_the_field(tmp_path, entry, expected):
    msg = _refused(tmp_path, uncertainties=[{**GOOD, **entry}])
    assert expected in msg, msg


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"kind": "consumer_surge"}, "disruptions[1].kind: 'consumer_surge' is not a shock kind"),
        ({"targets": ["OpenAI"]}, "disruptions[1].targets[0]: 'OpenAI' is not a supplier"),
        ({"rate_per_year": -1}, "disruptions[1].rate_per_year: expected a number >= 0"),
        ({"rate_per_year": 1e6}, "disruptions[1].rate_per_year: expected a number <= 52"),
        ({"factor": {"low": 0.9, "high": 0.7}}, "disruptions[1].factor.low: 0.9 is above high"),
        (
            {"weeks": {"low": 0, "high": 3}},
            "disruptions[1].weeks.low: expected a number > 0, got 0",
        ),
        ({"source": "nowhere"}, "disruptions[1].source: unknown reference 'nowhere'"),
    ],
)
def test_a_malformed_disruption_is_one_line_naming_the_field(tmp_path, entry, expected):
    msg = _refused(tmp_path, disruptions=[{**QUAKE, **entry}])
    assert expected in msg, msg


def test_uncertainty_off_is_read_from_yaml_off(tmp_path):
    path = tmp_path / "off.yaml"
    path.write_text("name: quiet\nextends: baseline\nuncertainty: off\n", encoding="utf-8")
    assert load_scenario(path).uncertainty is False


def test_the_one_key_path_parser_addresses_nodes_by_name_position_and_star(baseline):
    data = baseline.model_dump(mode="json")
    by_pos = expand_key_path(data, "world.foundries[SMIC].nodes[0].yield_fraction")
    by_name = expand_key_path(data, "world.foundries[SMIC].nodes[N+2].yield_fraction")
    assert by_pos == by_name == [("world.foundries[SMIC].nodes[N+2].yield_fraction", 0.4)]
    every = expand_key_path(data, "world.memory_makers[*].growth.max_growth_per_year")
    assert [p for p, _ in every] == [
        f"world.memory_makers[{m.name}].growth.max_growth_per_year"
        for m in baseline.world.memory_makers
    ]
    # the names it returns are what overrides_from (sweeps, calibration) applies
    assert overrides_from({by_name[0][0]: 0.5}) == {
        "world": {
            "foundries": [{"name": "SMIC", "nodes": [{"node": "N+2", "yield_fraction": 0.5}]}]
        }
    }
    sc = load_scenario("baseline", overrides_from({by_name[0][0]: 0.5}))
    smic = next(f for f in sc.world.foundries if f.name == "SMIC")
    assert smic.nodes[0].yield_fraction == 0.5 and smic.nodes[0].capacity_wafers_per_week == 300


def test_no_absolute_uncertainty_is_a_calibration_search_parameter():
    """A calibrated path may be uncertain only as a factor on the fitted value."""
    search = {
        p["path"] for p in read_yaml(SCENARIO_DIR / "calibration.yaml")["search"]["parameters"]
    }
    baseline = load_scenario("baseline")
    data = baseline.model_dump(mode="json")
    for u in baseline.uncertainties:
        fields = {p for p, _ in expand_key_path(data, u.path)}
        if fields & search:
            assert u.factor, u.path


def test_every_baseline_uncertainty_cites_an_assumption_or_fact_with_a_range():
    refs = read_yaml(SCENARIO_DIR / "references.yaml")
    baseline = load_scenario("baseline")
    for entry in [*baseline.uncertainties, *baseline.disruptions]:
        ref = refs["assumptions"].get(entry.source) or refs["facts"][entry.source]
        assert entry.why and ("range" in ref or "value" in ref), entry


SMIC_GROWTH = "world.foundries[SMIC].growth.max_growth_per_year"


def test_a_counterfactual_cannot_silently_lose_a_value_the_baseline_draws(tmp_path):
    path = tmp_path / "better.yaml"
    path.write_text(
        "name: better\nextends: baseline\nworld:\n  foundries:\n    - name: SMIC\n"
        "      growth: {max_growth_per_year: 1.0}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: uncertainties: this scenario sets "), msg
    assert "world.foundries[SMIC].growth.max_growth_per_year" in msg and "remove: true" in msg
    with path.open("a", encoding="utf-8") as fh:  # removing the draw keeps the change
        fh.write("uncertainties:\n  - {path: '" + SMIC_GROWTH + "', remove: true}\n")
    sc = load_scenario(path)
    assert next(f for f in sc.world.foundries if f.name == "SMIC").growth.max_growth_per_year == 1.0


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"high": 1.5}, "uncertainties[9].high: this end of the range is refused"),
        ({"low": 0.0}, "uncertainties[9].low: this end of the range is refused"),
        (
            {"factor": True, "low": 0.5, "high": 3.0},
            "uncertainties[9].high: this end of the range is refused",
        ),
    ],
)
def test_a_range_reaching_values_the_field_refuses_is_refused_at_load(tmp_path, entry, expected):
    msg = _refused(tmp_path, uncertainties=[{**GOOD, **entry}])
    assert expected in msg and "yield_fraction" in msg, msg
