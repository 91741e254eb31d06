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


def test_training_lead_out_of_range_named(tmp_path):
    f = _extends_baseline(tmp_path, "late", "  demand:\n    training_lead_weeks: 500\n")
    with pytest.raises(ScenarioError, match=r"late.yaml: parameters.demand.training_lead_weeks"):
        load_scenario(f)
    res = runner.invoke(app, ["run", str(f), "--weeks", "2", "--quiet"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_negative_double_orders_named(tmp_path):
    f = _extends_baseline(tmp_path, "neg", "  buyers:\n    double_order_per_week: -1\n")
    with pytest.raises(ScenarioError, match=r"parameters.buyers.double_order_per_week: expected"):
        load_scenario(f)


# --------------------------------------------------------------- hardening
# Each finding of the hardening issue: bad input that once crashed with a traceback, hung,
# or was silently accepted. Every one now exits 2 with one line naming the file (or the
# option), the field and what was expected, before any week runs.

_PACKAGER = "world:\n  packagers:\n  - name: TSMC CoWoS\n    capacity_wafers_per_week: {}\n"
_H100 = "world:\n  products:\n  - name: H100\n    list_price_usd: {}\n"
_RULE = (
    "policies:\n- id: X-1\n  authority: US government\n  gate: export\n"
    "  announced: 2022-01-03\n  effective: 2022-01-03\n  destinations: [CN]\n"
    "  licence: {{policy: deny}}\n  controlled: {}\n"
)


def _alias_bomb(levels: int = 9) -> str:
    lines = ["description: x", "lol0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# (id, body after "extends: baseline\nname: x\n" (bytes: the whole file), expected text)
FILE_CASES = [
    (
        "traceback-impossible-date",
        "start_date: 2023-02-30\n",
        "start_date: '2023-02-30' is not a date",
    ),
    (
        "traceback-non-utf8",
        b"extends: baseline\nname: x\ndescription: caf\xe9\n",
        "not UTF-8 text (byte 0xe9 at line 3",
    ),
    (
        "traceback-deep-nesting",
        "description: " + "[" * 5000 + "]" * 5000 + "\n",
        "nested deeper than",
    ),
    (
        "traceback-deep-block-nesting",
        "".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "v: 1\n",
        "nested deeper than 40 levels",
    ),
    ("traceback-calibration-dev-zero", "calibration: /dev/zero\n", "/dev/zero: not a regular file"),
    (
        "traceback-huge-synthetic-world",
        "world:\n  synthetic: {enterprises: 100000000}\n",
        "world.synthetic.enterprises: expected a number <= 100000",
    ),
    (
        "traceback-huge-synthetic-total",
        "world:\n  synthetic: {enterprises: 90000, labs: 20000}\n",
        "world.synthetic: 110,000 synthetic firms in all",
    ),
    ("hang-alias-bomb", _alias_bomb(), "aliases expand to more than 1,000,000 values"),
    ("hang-self-alias", "description: &d [1, *d]\n", "an alias refers to itself"),
    (
        "silent-inf-capacity",
        _PACKAGER.format(".inf"),
        "capacity_wafers_per_week: expected a finite number, got inf",
    ),
    (
        "silent-nan-capacity",
        _PACKAGER.format(".nan"),
        "capacity_wafers_per_week: expected a finite number, got nan",
    ),
    (
        "silent-1e308-capacity",
        _PACKAGER.format("1.0e+308"),
        "capacity_wafers_per_week: expected a number <= 1e+08",
    ),
    ("silent-nan-price", _H100.format(".nan"), "list_price_usd: expected a finite number, got nan"),
    ("silent-inf-price", _H100.format(".inf"), "list_price_usd: expected a finite number, got inf"),
    (
        "silent-nan-threshold",
        _RULE.format("[{tpp: {ge: .nan}}]"),
        "controlled[0].tpp.ge: expected a finite number, got nan",
    ),
    (
        "silent-1e308-threshold",
        _RULE.format("[{tpp: {ge: 1.0e+308}}]"),
        "controlled[0].tpp.ge: expected a number <= 1e+13",
    ),
    (
        "silent-empty-clause",
        _RULE.format("[{}]"),
        "controlled[0]: an empty clause matches every GPU",
    ),
    ("silent-bool-as-number", "enforcement: true\n", "enforcement: expected a number, got True"),
    ("silent-bool-as-int", "weeks: true\n", "weeks: expected a whole number, got True"),
    (
        "silent-duplicate-key",
        "enforcement: 0.1\nenforcement: 0.9\n",
        "enforcement: duplicate key (lines 3 and 4)",
    ),
    (
        "silent-repeated-override-name",
        "world:\n  products:\n  - {name: H100, list_price_usd: 30000}\n"
        "  - {name: H100, list_price_usd: 99999}\n",
        "world.products[1].name: 'H100' is repeated in this list",
    ),
    ("silent-weeks-1e9", "weeks: 1000000000\n", "weeks: expected a number <= 2000, got 1000000000"),
    (
        "silent-units-1e29",
        "world:\n  vendors:\n  - name: Nvidia\n"
        "    initial_weekly_units: {H100: 100000000000000000000000000000}\n",
        "initial_weekly_units.H100: expected a number <= 1e+09",
    ),
]


def _assert_one_line_refusal(res, *expected: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    text = " ".join(res.output.split())
    for e in expected:
        assert e in text, text


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("case", "body", "expected"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_hardening_bad_file_refused(tmp_path, case, body, expected):
    path = tmp_path / f"{case}.yaml"
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(f"extends: baseline\nname: x\n{body}", encoding="utf-8")
    res = runner.invoke(
        app, ["run", str(path), "--weeks", "2", "--quiet", "--out", str(tmp_path / "o")]
    )
    _assert_one_line_refusal(res, str(path) if "dev-zero" not in case else "/dev/zero", expected)
    assert not (tmp_path / "o").exists()  # refused before anything ran


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null", "/tmp"])
def test_hardening_special_path_refused(special):
    res = runner.invoke(app, ["run", special, "--weeks", "2", "--quiet"])
    _assert_one_line_refusal(res, f"{special}: not a regular file")


def test_hardening_oversized_file_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("extends: baseline\nname: big\ndescription: " + "x" * (3 * 1024 * 1024) + "\n")
    res = runner.invoke(app, ["run", str(path), "--weeks", "2", "--quiet"])
    _assert_one_line_refusal(res, str(path), "the limit is 2,097,152 bytes")


ARG_CASES = [
    (
        "traceback-seed-negative",
        ["run", "baseline", "--seed", "-1"],
        "--seed: expected a whole number from 0 to 4,294,967,295, got -1",
    ),
    (
        "traceback-seed-2**70",
        ["run", "baseline", "--seed", str(2**70)],
        f"--seed: expected a whole number from 0 to 4,294,967,295, got {2**70}",
    ),
    (
        "weeks-zero",
        ["run", "baseline", "--weeks", "0"],
        "--weeks: expected a whole number from 1 to 2,000, got 0",
    ),
    (
        "weeks-1e9",
        ["run", "baseline", "--weeks", "1000000000"],
        "--weeks: expected a whole number from 1 to 2,000",
    ),
    (
        "batch-weeks",
        ["batch", "baseline", "--weeks", "-3"],
        "--weeks: expected a whole number from 1 to 2,000, got -3",
    ),
    (
        "batch-seeds",
        ["batch", "baseline", "--seeds", "0"],
        "--seeds: expected a whole number from 1 to 10,000, got 0",
    ),
    (
        "batch-seeds-huge",
        ["batch", "baseline", "--seeds", str(2**40)],
        "--seeds: expected a whole number from 1 to 10,000",
    ),
    (
        "validate-seeds",
        ["validate", "--seeds", "-5"],
        "--seeds: expected a whole number from 1 to 10,000, got -5",
    ),
]


@pytest.mark.parametrize(("case", "args", "expected"), ARG_CASES, ids=[c[0] for c in ARG_CASES])
def test_hardening_bad_arguments_refused(tmp_path, case, args, expected):
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    _assert_one_line_refusal(res, expected)
    assert not (tmp_path / "o").exists()


def test_hardening_largest_seed_runs_and_writes(tmp_path):
    """The largest seed accepted runs and fits the int64 seed column (2**70 crashed there)."""
    import pyarrow.parquet as pq

    out = tmp_path / "o"
    res = runner.invoke(
        app,
        ["run", "baseline", "--seed", str(2**32 - 1), "--weeks", "2", "--quiet", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert pq.read_table(out / "metrics.parquet").column("seed")[0].as_py() == 2**32 - 1


def test_abm_world_bounds_its_seed_and_sizes_before_writing(tmp_path):
    from typer.testing import CliRunner

    from abm.cli import app

    out = tmp_path / "w.yaml"
    for args, option in [
        (["--seed", str(2**40)], "--seed"),
        (["--agents", "10000000"], "--agents"),
        (["--labs", "999999999"], "--labs"),
    ]:
        res = CliRunner().invoke(app, ["world", str(out), *args])
        assert res.exit_code == 2, res.output
        assert (
            res.output.count("\n") == 1 and option in res.output and "Traceback" not in res.output
        )
    assert not out.exists()


def test_the_python_api_bounds_weeks_like_the_schema():
    import pytest as _pytest

    from abm import ScenarioError, SupplyChainModel

    for weeks in (0, 10**9):
        with _pytest.raises(ScenarioError, match="weeks: expected a whole number from 1 to 2,000"):
            SupplyChainModel.from_scenario("baseline", weeks=weeks)
