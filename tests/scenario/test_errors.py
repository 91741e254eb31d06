"""The one formatter: every refusal is one line naming the file, the field path and the fix."""

from __future__ import annotations

import copy
import pickle

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from abm.scenario import Scenario, ScenarioCheckError, first_error

PATH = "scenarios/my_policy.yaml"


def _refusal(base: Scenario, edit) -> ValidationError:
    data = copy.deepcopy(base.model_dump(mode="json"))
    edit(data)
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(data)
    return info.value


def _one_line(msg: str) -> str:
    assert "\n" not in msg and "\r" not in msg
    return msg


def test_a_cross_check_error_names_file_field_and_expectation():
    err = ScenarioCheckError(("world", "clouds", 1, "vendor_shares"), "'X' is not in world.vendors")
    assert _one_line(first_error(PATH, err)) == (
        f"{PATH}: world.clouds[1].vendor_shares: 'X' is not in world.vendors"
    )
    assert str(err) == "world.clouds[1].vendor_shares: 'X' is not in world.vendors"


def test_a_pydantic_error_names_file_field_and_expectation(baseline):
    def wrong_type(d):
        d["parameters"]["rental"]["floor_usd_per_h100e_hour"] = "cheap"

    exc = _refusal(baseline, wrong_type)
    assert _one_line(first_error(PATH, exc, model=Scenario)) == (
        f"{PATH}: parameters.rental.floor_usd_per_h100e_hour: expected a number, got 'cheap'"
    )


def test_a_cross_check_inside_validation_keeps_its_location(baseline):
    def dup(d):
        d["world"]["clouds"][1]["name"] = d["world"]["clouds"][0]["name"]

    exc = _refusal(baseline, dup)
    first = baseline.world.clouds[0].name
    assert _one_line(first_error(PATH, exc, model=Scenario)) == (
        f"{PATH}: world.clouds[1].name: duplicate agent name {first!r} "
        "(already used in world.clouds[0])"
    )


def test_an_object_check_is_located_below_the_object(baseline):
    def end_before_launch(d):
        d["world"]["products"][0]["end_of_sale"] = "2000-01-03"

    exc = _refusal(baseline, end_before_launch)
    launch = baseline.world.products[0].launch
    assert first_error(PATH, exc, model=Scenario) == (
        f"{PATH}: world.products[0].end_of_sale: 2000-01-03 is before launch {launch}"
    )


def test_a_shock_path_drops_the_kind_tag_and_lists_the_shock_fields(baseline):
    lab = baseline.world.labs[0].name

    def bad_shock(d):
        d["shocks"] = [
            {"kind": "consumer_surge", "start": "2023-11-06", "target": lab, "factor": 2, "x": 1}
        ]

    exc = _refusal(baseline, bad_shock)
    assert first_error(PATH, exc, model=Scenario) == (
        f"{PATH}: shocks[0].x: unknown key (expected one of: start, target, kind, factor, "
        "ramp_weeks, hold_weeks, persistence, decay_half_life_weeks)"
    )


def test_a_yaml_error_names_file_line_and_column():
    with pytest.raises(yaml.YAMLError) as info:
        yaml.safe_load("name: a\nworld: b: c\n")
    assert _one_line(first_error(PATH, info.value)) == (
        f"{PATH}: unparseable YAML at line 2, column 9: mapping values are not allowed here"
    )


def test_without_a_root_model_pydantic_wording_is_kept():
    class Spec(BaseModel):
        items: list[int]

    with pytest.raises(ValidationError) as info:
        Spec.model_validate({"items": [1, "x"]})
    msg = first_error("spec.yaml", info.value, prefix="search.")
    assert _one_line(msg).startswith("spec.yaml: search.items.1: Input should be a valid integer")


def test_a_check_error_survives_pickling():
    err = pickle.loads(pickle.dumps(ScenarioCheckError(("shocks", 0, "target"), "'X' is unknown")))
    assert (err.loc, err.expected, str(err)) == (
        ("shocks", 0, "target"),
        "'X' is unknown",
        "shocks[0].target: 'X' is unknown",
    )
