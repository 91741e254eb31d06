"""`abm attribute`: table, CSV/Parquet and charts; bad input is one line with exit 2."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from abm.cli import app

runner = CliRunner()


def test_attribute_prints_the_table_and_writes_csv_parquet_and_png(tmp_path):
    out = tmp_path / "charts"
    res = runner.invoke(
        app,
        [
            "attribute",
            "baseline",
            "--region",
            "CN",
            "--seeds",
            "1",
            "--weeks",
            "60",
            "--out",
            str(out),
            "--csv",
            str(tmp_path / "a.csv"),
            "--parquet",
            str(tmp_path / "a.parquet"),
        ],
    )
    assert res.exit_code == 0, res.output
    for word in ("shortage_ratio", "compute_gap_share", "supply", "controls", "interaction"):
        assert word in res.output
    table = pd.read_csv(tmp_path / "a.csv")
    assert list(table.columns) == ["year", "metric", "part", "median", "p5", "p95", "n_seeds"]
    assert set(table["year"]) == {2022, 2023}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), table, check_dtype=False)
    for metric in ("shortage_ratio", "compute_gap_share"):
        png = out / f"attribution_{metric}.png"
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert f"plot: {png}" in res.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["baseline", "--region", "EU"], "--region: expected one of US, CN, ROW, got 'EU'"),
        (["no_such_scenario"], "no_such_scenario: no such scenario file or library scenario"),
        (["baseline", "--seeds", "0"], "--seeds: expected a whole number from 1 to"),
        (["baseline", "--workers", "0"], "--workers: expected a whole number from 1 to"),
        (["baseline", "--weeks", "900"], "--weeks: expected a whole number from 1 to 261"),
        (["baseline", "--supply-factor", "0"], "--supply-factor: expected a number above 0"),
        (
            ["baseline", "--supply-factor", "1000", "--weeks", "2"],
            "baseline-ample (ample-supply twin (x1000)): world.memory_makers[0]."
            "capacity_stacks_per_week: expected a number <= 1e+08",
        ),
    ],
)
def test_bad_input_is_one_line_with_exit_2(args, expected, tmp_path):
    res = runner.invoke(app, ["attribute", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert res.output.startswith("error:")
    assert expected in " ".join(res.output.split())
    assert not (tmp_path / "o").exists()  # nothing was run or written


def test_a_failed_run_is_one_line_with_exit_1(monkeypatch, tmp_path):
    from abm.engine.model import SupplyChainModel

    def boom(self, *args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(SupplyChainModel, "run", boom)
    res = runner.invoke(
        app, ["attribute", "baseline", "--seeds", "1", "--weeks", "2", "--out", str(tmp_path)]
    )
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("error: baseline seed 1: run failed at week 0")
    assert "division by zero" in last


def test_the_docs_command_runs(tmp_path):
    """docs/attribution.md's worked example is a valid command (run here on 10 weeks)."""
    import shlex
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "attribution.md").read_text(encoding="utf-8")
    line = next(ln for ln in doc.splitlines() if ln.startswith("$ .venv/bin/abm attribute "))
    args = shlex.split(line.removeprefix("$ .venv/bin/abm "))
    small = ["--seeds", "1", "--weeks", "10", "--workers", "1"]
    files = ["--out", str(tmp_path / "o"), "--csv", str(tmp_path / "a.csv")]
    res = runner.invoke(app, [*args, *small, *files])  # the last of a repeated option wins
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.csv").is_file()
