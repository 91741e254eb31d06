"""Invalid scenario files are refused with one line naming the file, the field and the fix.

Each file in ``tests/fixtures/invalid/`` extends the baseline (or tries to) and holds
exactly one deliberate error; with that error fixed it validates. The expected
substrings below are the messages as they stand; the tests at the end pin the
exact wording of the messages that were once unclear.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from abm.cli import app
from abm.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "fixtures" / "invalid"
runner = CliRunner()

# (fixture, substring of the message after "<file>: "): the field path and what was expected.
CASES = [
    (
        "unknown_top_level_key.yaml",
        "horizon_weeks: unknown key (expected one of: name, description, extends, calibration, "
        "start_date,",
    ),
    (
        "unknown_key_in_cloud.yaml",
        "world.clouds[1].gpu_tier: unknown key (expected one of: name, country, region,",
    ),
    (
        "wrong_type.yaml",
        "parameters.rental.floor_usd_per_h100e_hour: expected a number, got 'cheap'",
    ),
    (
        "negative_hbm_capacity.yaml",
        "world.memory_makers[2].capacity_stacks_per_week: expected a number >= 0, got -9600",
    ),
    (
        "end_of_sale_before_launch.yaml",
        "].end_of_sale: 2021-06-30 is before launch 2021-11-08",
    ),
    (
        "rule_effective_before_announced.yaml",
        "].effective: 2022-09-01 is before announced 2022-10-07",
    ),
    (
        "rule_unknown_attribute.yaml",
        "].controlled[0].transistors: unknown key (expected one of: kind, products,",
    ),
    (
        "extends_missing.yaml",
        "extends: no scenario named 'no_such_parent' (looked in",
    ),
    (
        "cycle_a.yaml",
        "extends: cycle (cycle_a -> cycle_b -> cycle_a)",
    ),
    (
        "cycle_b.yaml",
        "extends: cycle (cycle_b -> cycle_a -> cycle_b)",
    ),
    (
        "unparseable_indent.yaml",
        "unparseable YAML at line 5, column 14: mapping values are not allowed here",
    ),
    (
        "duplicate_agent_name.yaml",
        "world.clouds[11].name: duplicate agent name 'Samsung' "
        "(already used in world.memory_makers[1])",
    ),
    (
        "missing_vendor_edge.yaml",
        "world.clouds[1].vendor_shares: 'Graphcore' is not in world.vendors",
    ),
    (
        "missing_packager_edge.yaml",
        "world.products[5].packager: 'ASE' is not in world.packagers",
    ),
    (
        "authority_not_government.yaml",
        "].authority: 'Nvidia' is not in world.governments",
    ),
    (
        "unknown_reference.yaml",
        "shocks[0].sources.factor: unknown reference 'F999' "
        "(expected an id from scenarios/references.yaml)",
    ),
    (
        "sources_unknown_field.yaml",
        "parameters.buyers: sources names 'capacity', which is not a field of this object",
    ),
    (
        "hbm_shares_not_one.yaml",
        "world.vendors[1].hbm_suppliers: shares must sum to 1, got 0.9",
    ),
    (
        "bad_enum.yaml",
        "world.vendors[1].allocation: expected one of 'shares', 'pro_rata', 'priority' or "
        "'fifo', got 'lottery'",
    ),
]
IDS = [fixture.removesuffix(".yaml") for fixture, _ in CASES]


def _message(path: Path | str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


def test_every_fixture_has_a_case():
    assert {p.name for p in INVALID.glob("*.yaml")} == {fixture for fixture, _ in CASES}


def test_fixture_names_are_unique():
    names = []
    for p in sorted(INVALID.glob("*.yaml")):
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            data = {"name": p.read_text(encoding="utf-8").split("name: ", 1)[1].split()[0]}
        names.append(data["name"])
    assert len(names) == len(set(names)) == len(CASES)


@pytest.mark.parametrize(("fixture", "expected"), CASES, ids=IDS)
def test_load_scenario_names_file_field_and_expectation(fixture, expected):
    path = INVALID / fixture
    msg = _message(path)
    assert msg.startswith(f"{path}: ")
    assert expected in msg
    assert "\n" not in msg and "\r" not in msg


@pytest.mark.parametrize(("fixture", "expected"), CASES, ids=IDS)
def test_cli_validate_exits_2_with_one_line(fixture, expected):
    path = INVALID / fixture
    res = runner.invoke(app, ["scenarios", "validate", str(path)])
    assert res.exit_code == 2
    assert isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"invalid: {path}: ")
    assert expected in lines[0]
    assert lines[0] == f"invalid: {_message(path)}"


def test_cli_validate_reports_every_invalid_file():
    paths = [str(INVALID / fixture) for fixture, _ in CASES]
    res = runner.invoke(app, ["scenarios", "validate", "baseline", *paths])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 + len(paths)
    assert sum(line.startswith("ok: ") for line in lines) == 1
    for p in paths:
        assert sum(line.startswith(f"invalid: {p}: ") for line in lines) == 1


def test_cli_validate_library_baseline_exits_0():
    for target in ("baseline", str(ROOT / "scenarios" / "baseline.yaml")):
        res = runner.invoke(app, ["scenarios", "validate", target])
        assert res.exit_code == 0, res.output
        assert res.output.startswith(f"ok: {ROOT / 'scenarios' / 'baseline.yaml'} (baseline, ")


def test_relative_path_is_reported_as_given(monkeypatch):
    monkeypatch.chdir(ROOT)
    rel = "tests/fixtures/invalid/bad_enum.yaml"
    assert _message(rel).startswith(f"{rel}: world.vendors[1].allocation: ")


# ------------------------------------------------- messages a user should see


def test_policy_error_names_field_without_top_level_prefix():
    path = INVALID / "authority_not_government.yaml"
    msg = _message(path)
    assert msg.startswith(f"{path}: policies[")  # no "(top level)" before the field path
    assert msg.endswith("].authority: 'Nvidia' is not in world.governments")


@pytest.mark.parametrize(
    ("fixture", "wanted"),
    [
        (
            "end_of_sale_before_launch.yaml",
            "world.products[5].end_of_sale: 2021-06-30 is before launch 2021-11-08",
        ),
        (
            "rule_effective_before_announced.yaml",
            "policies[14].effective: 2022-09-01 is before announced 2022-10-07",
        ),
    ],
    ids=["product", "rule"],
)
def test_date_order_error_names_field_and_dates(fixture, wanted):
    path = INVALID / fixture
    assert _message(path) == f"{path}: {wanted}"


def test_wrong_type_says_expected_a_number():
    path = INVALID / "wrong_type.yaml"
    assert _message(path) == (
        f"{path}: parameters.rental.floor_usd_per_h100e_hour: expected a number, got 'cheap'"
    )


def test_unknown_key_hint_points_to_an_existing_doc():
    msg = _message(INVALID / "unknown_key_in_cloud.yaml")
    assert "docs/scenarios.md" not in msg or (ROOT / "docs" / "scenarios.md").exists()


def test_unknown_clause_attribute_lists_the_known_ones():
    path = INVALID / "rule_unknown_attribute.yaml"
    assert _message(path) == (
        f"{path}: policies[14].controlled[0].transistors: unknown key (expected one of: kind, "
        "products, variant, bf16_tflops, tpp, performance_density, memory_bandwidth_gbs, "
        "interconnect_gbs, hbm_stacks, node_nm)"
    )


def test_shares_message_gives_the_sum():
    path = INVALID / "hbm_shares_not_one.yaml"
    assert (
        _message(path) == f"{path}: world.vendors[1].hbm_suppliers: shares must sum to 1, got 0.9"
    )


@pytest.mark.parametrize("fixture", ["extends_missing.yaml", "cycle_a.yaml"])
def test_extends_error_reports_path_as_given(fixture, monkeypatch):
    monkeypatch.chdir(ROOT)
    rel = f"tests/fixtures/invalid/{fixture}"
    assert _message(rel).startswith(f"{rel}: extends: ")
