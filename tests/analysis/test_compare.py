"""Batch analysis: bands, KPI table against a baseline, fan charts, Sobol sensitivity."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from abm.analysis.compare import (
    bands,
    compare_report,
    fan_charts,
    kpi_table,
)
from abm.analysis.sensitivity import sensitivity, sensitivity_plot
from abm.runs.batch import BatchSpec, SampleSpec, run_batch

pytestmark = pytest.mark.slow  # every test reads batches run by module fixtures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METRICS = [
    ("compute_stock_h100e", "CN"),
    ("lead_time_weeks", "Nvidia"),
    ("rental_price_usd_per_gpu_hour", "US"),
]
RANGES = {"enforcement": (0.0, 1.0), "parameters.rental.price_smoothing": (0.05, 0.5)}
SOBOL_KPIS = ["cn_compute_h100e_end", "us_rental_price_mean"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis") / "b"
    result = run_batch(
        BatchSpec(scenarios=["baseline", "no_controls"], seeds=3, weeks=60), out, workers=1
    )
    assert not result.failed
    return out


@pytest.fixture(scope="module")
def saltelli_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis") / "s"
    spec = BatchSpec(
        scenarios=["baseline"],
        seeds=1,
        weeks=30,
        sample=SampleSpec(method="saltelli", n=8, ranges=RANGES),
    )
    result = run_batch(spec, out, workers=1)
    assert not result.failed
    return out


@pytest.fixture(scope="module")
def lhs_batch(tmp_path_factory):
    """No baseline scenario and a Latin-hypercube design (tiny: errors only)."""
    out = tmp_path_factory.mktemp("analysis") / "lhs"
    spec = BatchSpec(
        scenarios=["no_controls"],
        seeds=1,
        weeks=4,
        sample=SampleSpec(method="lhs", n=2, ranges={"enforcement": (0.0, 1.0)}),
    )
    run_batch(spec, out, workers=1)
    return out


# ------------------------------------------------------------------ bands


def test_bands_one_row_per_scenario_and_date_and_ordered(batch):
    df = bands(batch, METRICS)
    assert list(df.columns[:6]) == ["metric", "scope", "scenario", "date", "step", "n_runs"]
    assert {"p05", "median", "p95", "mean"} <= set(df.columns)
    assert list(dict.fromkeys(zip(df["metric"], df["scope"], strict=True))) == METRICS
    for (_name, _scope), g in df.groupby(["metric", "scope"]):
        assert set(g["scenario"]) == {"baseline", "no_controls"}
        assert len(g) == 2 * 60
        assert not g.duplicated(["scenario", "date"]).any()
        assert g.groupby("scenario")["date"].nunique().eq(60).all()
    assert (df["n_runs"] == 3).all()
    tol = 1e-9 * (1 + df["median"].abs())
    assert (df["p05"] <= df["median"] + tol).all()
    assert (df["median"] <= df["p95"] + tol).all()


def test_bands_match_the_runs(batch):
    """The last week's median of CN compute is the median of the runs' end-of-run KPI."""
    df = bands(batch, [("compute_stock_h100e", "CN")])
    summary = pd.read_parquet(batch / "summary.parquet")
    for scenario, g in df.groupby("scenario"):
        last = g.sort_values("date").iloc[-1]
        ends = summary.loc[summary["scenario"] == scenario, "cn_compute_h100e_end"]
        assert last["median"] == pytest.approx(ends.median())
        assert last["p05"] == pytest.approx(np.quantile(ends, 0.05))
        assert last["p95"] == pytest.approx(np.quantile(ends, 0.95))


def test_bands_reject_unknown_metric_and_scope(batch):
    with pytest.raises(ValueError, match="unknown metric"):
        bands(batch, [("no_such_metric", "CN")])
    with pytest.raises(ValueError, match="scope 'Atlantis'"):
        bands(batch, [("compute_stock_h100e", "Atlantis")])


# ------------------------------------------------------------------ KPI table


def test_kpi_table_paired_differences(batch):
    table = kpi_table(batch)
    assert set(table["scenario"]) == {"no_controls"}
    assert (table["baseline"] == "baseline").all()
    for col in (
        "scenario_median",
        "baseline_median",
        "diff_of_medians",
        "n_pairs",
        "paired_diff_p05",
        "paired_diff_p95",
        "paired_diff_std",
    ):
        assert col in table.columns
    row = table.set_index("kpi").loc["cn_compute_h100e_end"]
    assert row["n_pairs"] == 3
    assert row["diff_of_medians"] > 0
    assert row["paired_diff_median"] > 0
    assert row["paired_diff_p05"] <= row["paired_diff_median"] <= row["paired_diff_p95"]
    assert row["paired_diff_std"] >= 0

    # paired = seed s of no_controls minus seed s of baseline (common random numbers)
    s = pd.read_parquet(batch / "summary.parquet").set_index(["scenario", "seed"])
    diff = s.loc["no_controls", "cn_compute_h100e_end"] - s.loc["baseline", "cn_compute_h100e_end"]
    assert row["paired_diff_std"] == pytest.approx(diff.std(ddof=1))
    assert row["paired_diff_median"] == pytest.approx(diff.median())


def test_kpi_table_needs_the_baseline(batch, lhs_batch):
    with pytest.raises(ValueError, match="baseline"):
        kpi_table(lhs_batch)
    with pytest.raises(ValueError, match="baseline"):
        kpi_table(batch, baseline="strict_controls")


# ------------------------------------------------------------------ fan charts


def test_fan_charts_png_and_html(batch, tmp_path):
    paths = fan_charts(batch, METRICS, tmp_path / "fc")
    pngs, page = paths[:-1], paths[-1]
    assert len(pngs) == len(METRICS)
    for png in pngs:
        assert png.suffix == ".png" and png.read_bytes().startswith(PNG_MAGIC)
    assert page.name == "fan_charts.html"
    text = page.read_text(encoding="utf-8")
    assert "paired_diff_std" in text and "cn_compute_h100e_end" in text and "no_controls" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(METRICS)
    assert base64.b64decode(images[0]) == pngs[0].read_bytes()
    assert "H100e" in text  # unit of compute_stock_h100e from abm.engine.metrics


def test_compare_report_defaults_to_out_compare(batch):
    page = compare_report(batch, METRICS[:1])
    assert page == batch / "compare" / "fan_charts.html"
    assert page.exists()
    assert any(p.suffix == ".png" for p in page.parent.iterdir())


def test_fan_charts_without_baseline_show_medians(lhs_batch, tmp_path):
    page = fan_charts(lhs_batch, METRICS[:1], tmp_path)[-1]
    text = page.read_text(encoding="utf-8")
    assert "No comparison against a baseline" in text and "cn_compute_h100e_end" in text


# ------------------------------------------------------------------ sensitivity


def test_sensitivity_indices(saltelli_batch, tmp_path):
    df = sensitivity(saltelli_batch, SOBOL_KPIS)
    for col in ("scenario", "kpi", "parameter", "S1", "S1_conf", "ST", "ST_conf"):
        assert col in df.columns
    assert len(df) == len(SOBOL_KPIS) * len(RANGES)
    assert set(zip(df["kpi"], df["parameter"], strict=True)) == {
        (k, p) for k in SOBOL_KPIS for p in RANGES
    }
    values = df[["S1", "S1_conf", "ST", "ST_conf"]].to_numpy(float)
    assert np.isfinite(values).all()
    assert (df[["S1_conf", "ST_conf"]] >= 0).all().all()
    png = sensitivity_plot(df, tmp_path)
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_sensitivity_needs_a_saltelli_design(batch, lhs_batch):
    with pytest.raises(ValueError, match="saltelli"):
        sensitivity(lhs_batch, ["cn_compute_h100e_end"])
    with pytest.raises(ValueError, match="saltelli"):
        sensitivity(batch, ["cn_compute_h100e_end"])


def test_sensitivity_refuses_missing_points_and_unknown_kpis(saltelli_batch, tmp_path):
    with pytest.raises(ValueError, match="unknown KPIs"):
        sensitivity(saltelli_batch, ["no_such_kpi"])
    copy = tmp_path / "partial"
    copy.mkdir()
    shutil.copy(saltelli_batch / "manifest.json", copy / "manifest.json")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["runs"]["baseline-p005-s1"]["status"] = "failed"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="points 5"):
        sensitivity(copy, SOBOL_KPIS)
