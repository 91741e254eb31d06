"""Batch comparison: fan charts and KPI comparisons against a baseline.

Everything here reads a batch folder written by :func:`abm.runs.batch.run_batch`:

* ``manifest.json`` — the spec and every run's status, seed, design point and KPIs;
  it is the source of truth for which runs are complete (a run folder without
  a ``completed`` entry, e.g. one left by a killed batch, is ignored);
* ``runs/run_id=<id>/metrics.parquet`` — each run's long-form metrics, read
  with DuckDB and filtered to the chosen ``(name, scope)`` pairs.

Scenario labels are the stems of the batch's scenario names (as in
``summary.parquet``). Runs are paired across scenarios by (design point, seed):
seed *s* draws the same random numbers in every scenario (common random
numbers), so paired differences isolate the policy effect and their spread
across seeds says how much of it is noise.

Main entry points: :func:`bands`, :func:`kpi_table`, :func:`fan_charts` and
:func:`compare_report`; Sobol sensitivity over the same folders is in
:mod:`abm.analysis.sensitivity`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from abm.analysis.htmlpage import CSS, data_uri, escape, png_bytes
from abm.engine.metrics import METRICS
from abm.runs.outputs import atomic_write_bytes

MetricKey = tuple[str, str]
"""A metric series: ``(name, scope)``, e.g. ``("compute_stock_h100e", "CN")``."""

DEFAULT_METRICS: tuple[MetricKey, ...] = (
    ("compute_stock_h100e", "CN"),
    ("compute_stock_h100e", "US"),
    ("compute_stock_h100e", "ROW"),
    ("lead_time_weeks", "Nvidia"),
    ("rental_price_usd_per_gpu_hour", "US"),
    ("shortage_ratio", "US"),
    ("shortage_ratio", "CN"),
)
"""Metrics drawn by :func:`compare_report` when none are given."""

QUANTILES = (0.05, 0.5, 0.95)
"""Lower band edge, median and upper band edge (across seeds and design points)."""

HTML_NAME = "fan_charts.html"

_RUN_SUFFIX = re.compile(r"-p(\d+)-s(-?\d+)$")
_KEY_COLUMNS = ("run_id", "scenario", "seed", "point")


# ------------------------------------------------------------------ reading


def _manifest(out: str | Path) -> dict[str, Any]:
    path = Path(out) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{out}: not a batch folder (no manifest.json)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _n_points(spec: dict[str, Any]) -> int:
    """Number of design points of a batch spec (as :meth:`BatchSpec.points` makes them)."""
    if spec.get("design"):
        from abm.runs.design import Design

        return Design.model_validate(spec["design"]).size()
    sample = spec.get("sample")
    if sample:
        k = len(sample["ranges"])
        return int(sample["n"]) * (k + 2) if sample["method"] == "saltelli" else int(sample["n"])
    sweep = spec.get("sweep") or {}
    return math.prod(len(v) for v in sweep.values()) if sweep else 1


def _scenario_label(scenario: str) -> str:
    return Path(scenario).stem


def _scenario_order(manifest: dict[str, Any]) -> list[str]:
    labels = [_scenario_label(s) for s in manifest.get("spec", {}).get("scenarios", [])]
    return list(dict.fromkeys(labels))


def runs_table(out: str | Path) -> pd.DataFrame:
    """One row per completed run of a batch, from its manifest.

    Args:
        out: Batch folder.

    Returns:
        Columns ``run_id``, ``scenario`` (stem of the scenario name), ``seed``,
        ``point`` (index of the design point, 0 without a design), one
        ``param:<key.path>`` column per design parameter, one ``factor:<name>``
        column per factor of a ``design:`` batch, then one column per KPI.

    Raises:
        ValueError: if ``out`` is not a batch folder or holds no completed run.
    """
    manifest = _manifest(out)
    multi = _n_points(manifest.get("spec", {})) > 1
    rows = []
    for run_id, run in manifest.get("runs", {}).items():
        if run.get("status") != "completed" or not run.get("kpis"):
            continue
        point = 0
        if multi:
            match = _RUN_SUFFIX.search(run_id)
            if match is None:
                raise ValueError(f"{out}: run id {run_id!r} does not end with -pNNN-s<seed>")
            point = int(match.group(1))
        rows.append(
            {
                "run_id": run_id,
                "scenario": _scenario_label(run["scenario"]),
                "seed": int(run["seed"]),
                "point": point,
                **{f"param:{k}": v for k, v in (run.get("params") or {}).items()},
                **{f"factor:{k}": v for k, v in (run.get("factors") or {}).items()},
                **{k: (np.nan if v is None else v) for k, v in run["kpis"].items()},
            }
        )
    if not rows:
        raise ValueError(f"{out}: the batch has no completed run")
    return pd.DataFrame(rows)


def _kpi_columns(runs: pd.DataFrame) -> list[str]:
    return [
        c for c in runs.columns if c not in _KEY_COLUMNS and not c.startswith(("param:", "factor:"))
    ]


# ------------------------------------------------------------------ bands


def bands(out: str | Path, metrics: Sequence[MetricKey]) -> pd.DataFrame:
    """Median and 5 % / 95 % quantiles of metrics per scenario and date.

    Quantiles are taken across all completed runs of a scenario (seeds and
    design points pooled), with linear interpolation. The metrics files are
    scanned once by DuckDB, filtered to the chosen series.

    Args:
        out: Batch folder.
        metrics: ``(name, scope)`` pairs, e.g. ``[("compute_stock_h100e", "CN")]``.

    Returns:
        One row per metric x scenario x date, ordered that way, with columns
        ``metric``, ``scope``, ``scenario``, ``date``, ``step``, ``n_runs``,
        ``p05``, ``median``, ``p95``, ``mean``.

    Raises:
        ValueError: for no metrics, an undeclared metric name, or a series with no rows.
    """
    metrics = [(str(n), str(s)) for n, s in metrics]
    if not metrics:
        raise ValueError("bands: give at least one (name, scope) metric")
    known = {m.name for m in METRICS}
    for name, _ in metrics:
        if name not in known:
            raise ValueError(f"unknown metric {name!r}; declared metrics: {sorted(known)}")
    runs = runs_table(out)
    order = _scenario_order(_manifest(out))
    files = (Path(out) / "runs" / "run_id=*" / "metrics.parquet").as_posix()
    where = " OR ".join("(m.name = ? AND m.scope = ?)" for _ in metrics)
    lo, mid, hi = QUANTILES
    sql = f"""
        SELECT m.name AS metric, m.scope, r.scenario, m.date, min(m.step) AS step,
               count(*) AS n_runs,
               quantile_cont(m.value, {lo}) AS p05,
               quantile_cont(m.value, {mid}) AS median,
               quantile_cont(m.value, {hi}) AS p95,
               avg(m.value) AS mean
        FROM read_parquet(?, hive_partitioning = false) AS m
        JOIN runs AS r USING (run_id)
        WHERE {where}
        GROUP BY m.name, m.scope, r.scenario, m.date
    """
    params: list[Any] = [files]
    for name, scope in metrics:
        params += [name, scope]
    con = duckdb.connect()
    try:
        con.register("runs", runs[["run_id", "scenario"]])
        df = con.execute(sql, params).df()
    except duckdb.IOException as exc:
        raise ValueError(f"{out}: no run metrics to read ({exc})") from None
    finally:
        con.close()

    found = set(zip(df["metric"], df["scope"], strict=True))
    for name, scope in metrics:
        if (name, scope) not in found:
            raise ValueError(f"no rows for metric {name!r} with scope {scope!r} in {out}")
    rank = {key: i for i, key in enumerate(dict.fromkeys(metrics))}
    scen_rank = {s: i for i, s in enumerate(order)}
    df["_m"] = [rank[k] for k in zip(df["metric"], df["scope"], strict=True)]
    df["_s"] = df["scenario"].map(lambda s: scen_rank.get(s, len(scen_rank)))
    df = df.sort_values(["_m", "_s", "scenario", "date"]).drop(columns=["_m", "_s"])
    df["date"] = pd.to_datetime(df["date"])
    df["n_runs"] = df["n_runs"].astype("int64")
    return df.reset_index(drop=True)


# ------------------------------------------------------------------ KPI table


def kpi_table(out: str | Path, baseline: str = "baseline") -> pd.DataFrame:
    """Each scenario's KPIs against the baseline scenario of the same batch.

    Runs are paired by design point and seed (common random numbers): the
    paired difference of run (p, s) is scenario minus baseline, and its
    spread across pairs is the seed-to-seed noise of the policy effect.

    Args:
        out: Batch folder.
        baseline: Scenario label to compare against (stem of its name).

    Returns:
        One row per scenario (other than the baseline) x KPI with columns
        ``scenario``, ``baseline``, ``kpi``, ``scenario_median``,
        ``baseline_median``, ``diff_of_medians``, ``n_pairs``,
        ``paired_diff_median``, ``paired_diff_p05``, ``paired_diff_p95`` and
        ``paired_diff_std`` (sample standard deviation, NaN for one pair).

    Raises:
        ValueError: if the baseline scenario has no completed run in the batch,
            or the batch has no other scenario.
    """
    runs = runs_table(out)
    present = [s for s in _scenario_order(_manifest(out)) if s in set(runs["scenario"])]
    present += sorted(set(runs["scenario"]) - set(present))
    if baseline not in present:
        raise ValueError(
            f"baseline scenario {baseline!r} has no completed run in {out} "
            f"(scenarios: {', '.join(present)}); add it to the batch or pass baseline=<scenario>"
        )
    others = [s for s in present if s != baseline]
    if not others:
        raise ValueError(f"{out}: only the baseline scenario {baseline!r}; nothing to compare")
    kpis = _kpi_columns(runs)
    # a design whose factor picks the scenario numbers its points across scenarios:
    # pair by the other factors' values instead of the point
    other = [c for c in runs.columns if c.startswith("factor:") and c != "factor:scenario"]
    keys = [*other, "seed"] if "factor:scenario" in runs.columns else ["point", "seed"]
    base = runs[runs["scenario"] == baseline].set_index(keys)[kpis]
    rows = []
    for scenario in others:
        this = runs[runs["scenario"] == scenario].set_index(keys)[kpis]
        common = this.index.intersection(base.index)
        diff = this.loc[common] - base.loc[common]
        for kpi in kpis:
            d = diff[kpi].dropna().to_numpy(float)
            s_med = float(this[kpi].median())
            b_med = float(base[kpi].median())
            rows.append(
                {
                    "scenario": scenario,
                    "baseline": baseline,
                    "kpi": kpi,
                    "scenario_median": s_med,
                    "baseline_median": b_med,
                    "diff_of_medians": s_med - b_med,
                    "n_pairs": len(d),
                    "paired_diff_median": float(np.median(d)) if len(d) else np.nan,
                    "paired_diff_p05": float(np.quantile(d, QUANTILES[0])) if len(d) else np.nan,
                    "paired_diff_p95": float(np.quantile(d, QUANTILES[2])) if len(d) else np.nan,
                    "paired_diff_std": float(np.std(d, ddof=1)) if len(d) > 1 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _kpi_medians(out: str | Path) -> pd.DataFrame:
    """KPI medians per scenario (the page's table when no baseline comparison is possible)."""
    runs = runs_table(out)
    kpis = _kpi_columns(runs)
    med = runs.groupby("scenario", sort=False)[kpis].median().T
    med.index.name = "kpi"
    return med.reset_index()


# ------------------------------------------------------------------ charts and HTML


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _fmt(x: Any) -> str:
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.integer | np.floating):
        return str(x)
    if isinstance(x, int | np.integer):
        return f"{x:,d}"
    v = float(x)
    if not math.isfinite(v):
        return "n/a"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}"
    return f"{v:.3g}"


def _html_table(df: pd.DataFrame, css_class: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{escape(_fmt(v))}</td>'
            if isinstance(v, int | float | np.integer | np.floating)
            else f"<td>{escape(v)}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return (  # wide tables scroll sideways, with the first column and the header kept in view
        f'<div class="table-wrap"><table class="{css_class}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _fan_figure(df: pd.DataFrame, name: str, scope: str, unit: str) -> Figure:
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    colours = colormaps["tab10"]
    for i, (scenario, g) in enumerate(df.groupby("scenario", sort=False)):
        colour = colours(i % 10)
        ax.fill_between(g["date"], g["p05"], g["p95"], color=colour, alpha=0.2, linewidth=0)
        ax.plot(
            g["date"], g["median"], color=colour, lw=1.8, label=f"{scenario} (n={g.n_runs.max()})"
        )
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.3))
    labels.append("shaded: 5-95 % across runs")
    ax.legend(handles, labels, loc="best", fontsize=8)
    ax.set_title(f"{name} — {scope}")
    ax.set_ylabel(unit)
    ax.set_xlabel("date")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def fan_charts(
    out: str | Path,
    metrics: Sequence[MetricKey],
    dest: str | Path,
    baseline: str = "baseline",
) -> list[Path]:
    """Fan charts of metrics per scenario, as PNG files and one HTML page.

    Each chart shows, per scenario, the median across runs as a line and the
    5-95 % band as a shaded area, with the metric's unit on the y axis. The
    page ``fan_charts.html`` embeds the charts (base64, so it is
    self-contained) and the KPI table against ``baseline`` — or, when the
    batch cannot be compared against it, the KPI medians per scenario.

    Args:
        out: Batch folder.
        metrics: ``(name, scope)`` pairs, one chart each.
        dest: Folder for the files (created).
        baseline: Scenario the KPI table compares against.

    Returns:
        The PNG paths in the order of ``metrics``, then the HTML page's path.
    """
    out = Path(out)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    metrics = list(dict.fromkeys((str(n), str(s)) for n, s in metrics))
    df = bands(out, metrics)
    declared = {m.name: m for m in METRICS}
    paths: list[Path] = []
    figures = []
    for name, scope in metrics:
        sub = df[(df["metric"] == name) & (df["scope"] == scope)]
        unit = declared[name].unit
        data = png_bytes(_fan_figure(sub, name, scope, unit))
        path = dest / f"fan_{_slug(name)}_{_slug(scope)}.png"
        atomic_write_bytes(path, data)
        paths.append(path)
        uri = data_uri(data)
        caption = (
            f"{name} ({scope}) [{unit}]: {declared[name].description} "
            f"Line: median across runs; shaded: 5-95 % range."
        )
        figures.append(
            f'<figure><img src="{uri}" alt="{escape(name)} {escape(scope)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )

    try:
        kpis = kpi_table(out, baseline)
        kpi_html = (
            f"<p class='note'>Each scenario against <b>{escape(baseline)}</b>. Runs are paired by "
            "design point and seed (common random numbers); the paired difference is scenario "
            "minus baseline, its p05-p95 and std show the seed-to-seed noise.</p>"
            + _html_table(kpis, "kpi-table")
        )
    except ValueError as exc:
        kpi_html = (
            f"<p class='note'>No comparison against a baseline: {escape(exc)}. "
            "KPI medians per scenario:</p>" + _html_table(_kpi_medians(out), "kpi-table")
        )

    factor_html = ""
    if any(c.startswith(("factor:", "param:")) for c in runs_table(out).columns):
        from abm.analysis.factors import main_effects, paired_effects

        factor_html = (
            "<h2>Factors</h2><p class='note'>Main effects: the KPI over all runs at each "
            "level of a factor (numeric factors with many values in quantile bins).</p>"
            + _html_table(main_effects(out), "kpi-table")
            + "<p class='note'>Paired differences: runs that share the seed and every other "
            "factor's value, this level minus the reference level; p05-p95 across pairs.</p>"
            + _html_table(paired_effects(out), "kpi-table")
        )

    manifest = _manifest(out)
    statuses = [r.get("status") for r in manifest.get("runs", {}).values()]
    spec = manifest.get("spec", {})
    info = (
        f"Batch <code>{escape(out)}</code> (spec {escape(manifest.get('spec_hash'))}): "
        f"scenarios {escape(', '.join(_scenario_order(manifest)))}; "
        f"{statuses.count('completed')} of {len(statuses)} runs completed, "
        f"{statuses.count('failed')} failed; "
        f"weeks {escape(spec.get('weeks') or 'scenario default')}."
    )
    title = "Batch comparison: fan charts and KPIs"
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{info}</p>"
        f"<h2>KPIs</h2>{kpi_html}{factor_html}<h2>Fan charts</h2>{''.join(figures)}</body></html>\n"
    )
    page_path = dest / HTML_NAME
    atomic_write_bytes(page_path, page.encode("utf-8"))
    return [*paths, page_path]


def compare_report(
    out: str | Path,
    metrics: Sequence[MetricKey] | None = None,
    dest: str | Path | None = None,
    baseline: str = "baseline",
) -> Path:
    """Write the comparison report of a batch (fan charts + KPI table).

    Args:
        out: Batch folder.
        metrics: ``(name, scope)`` pairs to chart (default :data:`DEFAULT_METRICS`).
        dest: Folder for the report (default ``<out>/compare``).
        baseline: Scenario the KPI table compares against.

    Returns:
        Path of ``fan_charts.html``.
    """
    dest = Path(dest) if dest is not None else Path(out) / "compare"
    return fan_charts(out, metrics or DEFAULT_METRICS, dest, baseline)[-1]
