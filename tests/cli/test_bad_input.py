"""Bad input exits non-zero with one line naming the file and the field."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from abm.cli import app
from abm.scenario import ScenarioError, load_scenario

FIX = Path(__file__).parents[1] / "fixtures"
runner = CliRunner()


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("unknown_key.yaml", "parameters.rental.floor_price_typo: unknown key (expected one of"),
        (
            "negative_capacity.yaml",
            "world.packagers[0].capacity_wafers_per_week: expected a number >= 0, got -5",
        ),
        ("unparseable.yaml", "unparseable YAML at line"),
    ],
)
def test_cli_names_file_and_field(fixture, expected):
    path = FIX / fixture
    res = runner.invoke(app, ["run", str(path), "--weeks", "2", "--quiet"])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert str(path) in text
    assert expected in text
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_missing_file():
    res = runner.invoke(app, ["run", "no/such/scenario.yaml", "--quiet"])
    assert res.exit_code == 2
    assert "no/such/scenario.yaml: file not found" in res.output


def test_unknown_library_name_lists_known():
    with pytest.raises(ScenarioError, match="known: .*baseline"):
        load_scenario("no_such_scenario")


def test_validate_command(tmp_path):
    ok = runner.invoke(app, ["scenarios", "validate", "baseline"])
    assert ok.exit_code == 0 and "ok:" in ok.output
    bad = runner.invoke(app, ["scenarios", "validate", "baseline", str(FIX / "unknown_key.yaml")])
    assert bad.exit_code == 2


def test_cross_checks(baseline, tmp_path):
    from tests.conftest import variant

    def dup(d):
        d["world"]["clouds"][1]["name"] = d["world"]["clouds"][0]["name"]

    with pytest.raises(ValueError, match=r"world.clouds\[1\].name: duplicate agent name"):
        variant(baseline, dup)

    def bad_product(d):
        d["world"]["clouds"][0]["initial_fleet"][0]["product"] = "Z9000"

    with pytest.raises(ValueError, match="unknown product 'Z9000'"):
        variant(baseline, bad_product)


def _extends_baseline(tmp_path: Path, name: str, parameters: str) -> Path:
    """A scenario file extending the baseline with a ``parameters:`` block."""
    f = tmp_path / f"{name}.yaml"
    f.write_text(f"extends: baseline\nname: {name}\nparameters:\n{parameters}")
    return f


def test_unknown_source_reference(tmp_path):
    f = _extends_baseline(
        tmp_path, "badref", "  rental:\n    sources: {floor_usd_per_h100e_hour: F999}\n"
    )
    with pytest.raises(ScenarioError, match=r"floor_usd_per_h100e_hour: unknown reference 'F999'"):
        load_scenario(f)


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    first = runner.invoke(app, ["run", "baseline", "--weeks", "3", "--out", str(out), "--quiet"])
    assert first.exit_code == 0
    before = (out / "metrics.parquet").read_bytes()
    second = runner.invoke(app, ["run", "baseline", "--weeks", "5", "--out", str(out), "--quiet"])
    assert second.exit_code == 2
    assert "already holds a run" in second.output
    assert (out / "metrics.parquet").read_bytes() == before


def test_latent_demand_dates_out_of_order(tmp_path):
    f = _extends_baseline(
        tmp_path,
        "late",
        "  demand:\n    training_scale_peak_date: 2024-09-02\n"
        "    training_scale_until: 2024-07-01\n",
    )
    with pytest.raises(ScenarioError, match=r"late.yaml: parameters.demand.*training_scale_until"):
        load_scenario(f)
    res = runner.invoke(app, ["run", str(f), "--weeks", "2", "--quiet"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_negative_double_orders_named(tmp_path):
    f = _extends_baseline(tmp_path, "neg", "  buyers:\n    double_order_per_week: -1\n")
    with pytest.raises(ScenarioError, match=r"parameters.buyers.double_order_per_week: expected"):
        load_scenario(f)
