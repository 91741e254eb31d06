"""Screening and sensitivity of a batch's KPIs: Morris elementary effects, Sobol indices.

Reads a batch folder written by :func:`abm.runs.batch.run_batch` through the
same run table as :mod:`abm.analysis.compare`: :func:`morris` needs a
``design: {method: morris}`` batch (screening many factors with
``r * (k + 1)`` runs), :func:`sensitivity` a ``sample: {method: saltelli}`` or
``design: {method: saltelli}`` batch (variance shares with bootstrap CIs, a
convergence check at ``n/2`` and warnings for doubtful indices). Both use
SALib on the design's own sample matrix.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis.compare import _kpi_columns, _manifest, _n_points, _scenario_order, runs_table
from abm.analysis.htmlpage import png_bytes
from abm.runs.outputs import atomic_write_bytes

SOBOL_COLUMNS = ("S1", "S1_conf", "ST", "ST_conf")


def _problem(out: str | Path, method: str) -> tuple[dict[str, Any], np.ndarray | None, int]:
    """The SALib problem of a batch's ``method`` design, its sample matrix and base size.

    A ``design:`` batch gives its matrix (regenerated from the spec, the same
    sampler and seed); a ``sample:`` batch (Saltelli only) gives none.
    """
    manifest = _manifest(out)
    spec = manifest.get("spec", {})
    if spec.get("design"):
        from abm.runs.design import Design

        design = Design.model_validate(spec["design"])
        if design.method != method:
            raise ValueError(
                f"{out}: needs a {method} design (design.method: {method}); the batch has a "
                f"{design.method} design"
            )
        if design.scenario_factor() is not None:
            raise ValueError(f"{out}: a {method} design cannot have a scenario factor")
        return design.problem(), design.matrix(), int(design.n or 0)
    sample = spec.get("sample")
    if method != "saltelli" or not sample or sample.get("method") != "saltelli":
        design_name = f"a {sample['method']} sample" if sample else "no sampled design"
        raise ValueError(
            f"sensitivity needs a {method} design (spec design.method or sample.method: "
            f"{method}); the batch in {out} has {design_name}"
        )
    names = list(sample["ranges"])
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [list(map(float, sample["ranges"][k])) for k in names],
    }
    return problem, None, int(sample["n"])


def _point_means(
    out: str | Path, kpis: Sequence[str]
) -> tuple[list[tuple[str, pd.DataFrame, int]], int]:
    """Per scenario: KPI means over seeds per design point (every point present), seeds."""
    manifest = _manifest(out)
    n_points = _n_points(manifest.get("spec", {}))
    runs = runs_table(out)
    available = _kpi_columns(runs)
    unknown = [k for k in kpis if k not in available]
    if unknown or not kpis:
        raise ValueError(f"unknown KPIs {unknown}; choose among {available}")
    found = []
    for scenario in [s for s in _scenario_order(manifest) if s in set(runs["scenario"])]:
        sub = runs[runs["scenario"] == scenario]
        y = sub.groupby("point")[list(kpis)].mean()
        missing = sorted(set(range(n_points)) - set(y.index))
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise ValueError(
                f"{scenario}: {len(missing)} of {n_points} design points have no "
                f"completed run (points {shown}); resume the batch before the analysis"
            )
        found.append(
            (
                scenario,
                y.loc[list(range(n_points))],
                int(sub.groupby("point")["seed"].nunique().min()),
            )
        )
    return found, n_points


def _sobol(problem: dict[str, Any], values: np.ndarray) -> dict[str, np.ndarray]:
    from SALib.analyze import sobol

    k = problem["num_vars"]
    if not np.all(np.isfinite(values)):
        return {c: np.full(k, np.nan) for c in SOBOL_COLUMNS}
    if np.ptp(values) == 0:  # nothing varies: no parameter explains any variance
        return {c: np.zeros(k) for c in SOBOL_COLUMNS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        si = sobol.analyze(
            problem,
            values,
            calc_second_order=False,
            conf_level=0.95,
            num_resamples=1000,
            seed=0,
        )
    return {c: np.asarray(si[c], float) for c in SOBOL_COLUMNS}


def sobol_warnings(row: dict[str, Any] | pd.Series) -> list[str]:
    """What is doubtful about one row of Sobol indices (empty: nothing).

    Flags an index outside [0, 1] (beyond its CI: sampling error, too small
    ``n``), a CI wider than the index itself, and an index that moved by more
    than its CI between ``n/2`` and ``n`` base samples (not converged).
    """
    out = []
    for col in ("S1", "ST"):
        v, ci, half = row[col], row[f"{col}_conf"], row.get(f"{col}_half", np.nan)
        if not np.isfinite(v):
            continue
        if v < 0 - 1e-12 or v > 1 + 1e-12:
            out.append(f"{col} {v:.2f} outside [0, 1]")
        if np.isfinite(ci) and ci > abs(v):
            out.append(f"{col} CI +/-{ci:.2f} wider than the index")
        if np.isfinite(half) and np.isfinite(ci) and abs(v - half) > ci:
            out.append(f"{col} moved {abs(v - half):.2f} from n/2 (not converged)")
    return out


def sensitivity(out: str | Path, kpis: Sequence[str]) -> pd.DataFrame:
    """Sobol first-order and total indices of KPIs over a Saltelli design, with checks.

    The batch's design points are in Saltelli sample order (point index
    ``p`` of run ids ``...-pNNN-s<seed>``); with several seeds, a point's KPI
    is the mean over its completed seeds. Indices are computed per scenario
    with ``SALib.analyze.sobol.analyze(..., calc_second_order=False,
    conf_level=0.95, num_resamples=1000, seed=0)`` (bootstrap CIs), once over
    all ``n`` base samples and once over the first ``n/2`` (the convergence
    check: Saltelli rows come in blocks of ``k + 2`` per base sample).

    Args:
        out: Batch folder of a ``sample: {method: saltelli}`` or
            ``design: {method: saltelli}`` batch.
        kpis: KPI names (columns of ``summary.parquet``).

    Returns:
        One row per scenario x KPI x parameter with columns ``scenario``,
        ``kpi``, ``parameter``, ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (the
        ``_conf`` columns are half-widths of 95 % bootstrap confidence
        intervals), ``S1_half``, ``ST_half`` (the indices from ``n/2`` base
        samples), ``n_base``, ``n_seeds`` and ``warning`` (what
        :func:`sobol_warnings` found, ``; ``-joined, or empty). Indices are NaN
        for a KPI that does not vary over the design.

    Raises:
        ValueError: for a batch without a Saltelli design, an unknown KPI, or
            design points without any completed run.
    """
    problem, _, n_base = _problem(out, "saltelli")
    names = list(problem["names"])
    block = len(names) + 2
    found, _ = _point_means(out, list(kpis))
    rows = []
    for scenario, y, n_seeds in found:
        for kpi in kpis:
            values = y[kpi].to_numpy(float)
            full = _sobol(problem, values)
            half = (
                _sobol(problem, values[: (n_base // 2) * block])
                if n_base >= 4
                else {c: np.full(len(names), np.nan) for c in SOBOL_COLUMNS}
            )
            for j, name in enumerate(names):
                row: dict[str, Any] = {
                    "scenario": scenario,
                    "kpi": kpi,
                    "parameter": name,
                    **{c: float(v[j]) for c, v in full.items()},
                    "S1_half": float(half["S1"][j]),
                    "ST_half": float(half["ST"][j]),
                    "n_base": n_base,
                    "n_seeds": n_seeds,
                }
                found_warnings = sobol_warnings(row)
                if np.isfinite(values).all() and np.ptp(values) == 0:
                    found_warnings = [f"{kpi} is constant over the design: indices are 0"]
                row["warning"] = "; ".join(found_warnings)
                rows.append(row)
    return pd.DataFrame(rows)


def morris(out: str | Path, kpis: Sequence[str]) -> pd.DataFrame:
    """Morris elementary effects of KPIs over a batch's Morris design (screening).

    ``mu_star`` (mean absolute elementary effect) ranks how much a factor
    moves a KPI; ``sigma`` (their standard deviation) says how much that
    depends on the other factors (interactions, non-linearity). Effects are in
    KPI units per full range of the factor (SALib scales inputs to [0, 1]).
    Computed with ``SALib.analyze.morris.analyze(..., num_levels=levels,
    conf_level=0.95, num_resamples=1000, seed=0)`` on the design's own sample
    matrix; with several seeds, a point's KPI is the mean over its seeds.

    Args:
        out: Batch folder of a ``design: {method: morris}`` batch.
        kpis: KPI names.

    Returns:
        One row per scenario x KPI x factor, ordered by ``mu_star`` (largest
        first) within each KPI, with columns ``scenario``, ``kpi``,
        ``factor``, ``key``, ``mu``, ``mu_star``, ``sigma``, ``mu_star_conf``,
        ``rank`` (1 = most influential), ``mu_star_rel`` (``mu_star`` over the
        largest ``mu_star`` of the KPI), ``trajectories`` and ``n_seeds``.

    Raises:
        ValueError: for a batch without a Morris design, an unknown KPI, or
            design points without any completed run.
    """
    from SALib.analyze import morris as morris_analyze

    from abm.runs.design import Design

    problem, x, n = _problem(out, "morris")
    assert x is not None
    design = Design.model_validate(_manifest(out)["spec"]["design"])
    keys = {f.label: (f.key or ", ".join(f.key_paths())) for f in design.factors}
    found, _ = _point_means(out, list(kpis))
    rows = []
    for scenario, y, n_seeds in found:
        for kpi in kpis:
            values = y[kpi].to_numpy(float)
            if np.all(np.isfinite(values)) and np.ptp(values) > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    si = morris_analyze.analyze(
                        problem,
                        x,
                        values,
                        num_levels=design.levels,
                        conf_level=0.95,
                        num_resamples=1000,
                        seed=0,
                    )
                cols = {
                    c: np.asarray(si[c], float) for c in ("mu", "mu_star", "sigma", "mu_star_conf")
                }
            else:
                k = len(design.factors)
                cols = {c: np.full(k, np.nan) for c in ("mu", "mu_star", "sigma", "mu_star_conf")}
            top = np.nanmax(cols["mu_star"]) if np.isfinite(cols["mu_star"]).any() else np.nan
            order = np.argsort(-np.nan_to_num(cols["mu_star"], nan=-1.0), kind="stable")
            for rank, j in enumerate(order, start=1):
                name = problem["names"][j]
                rows.append(
                    {
                        "scenario": scenario,
                        "kpi": kpi,
                        "factor": name,
                        "key": keys[name],
                        **{c: float(v[j]) for c, v in cols.items()},
                        "rank": rank,
                        "mu_star_rel": float(cols["mu_star"][j] / top) if top else np.nan,
                        "trajectories": n,
                        "n_seeds": n_seeds,
                    }
                )
    return pd.DataFrame(rows)


def sensitivity_plot(df: pd.DataFrame, dest: str | Path) -> Path:
    """Bar chart of Sobol S1 and ST with confidence-interval error bars, one panel per KPI.

    Args:
        df: Output of :func:`sensitivity`.
        dest: A ``.png`` path, or a folder (the file is then ``sensitivity.png`` in it).

    Returns:
        Path of the PNG written.
    """
    dest = Path(dest)
    if dest.suffix.lower() != ".png":
        dest = dest / "sensitivity.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if df.empty:
        raise ValueError("sensitivity_plot: no sensitivity rows to draw")
    several = df["scenario"].nunique() > 1
    groups = list(df.groupby(["scenario", "kpi"], sort=False))
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = Figure(figsize=(4.8 * ncols, 3.6 * nrows))
    for i, ((scenario, kpi), g) in enumerate(groups):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        x = np.arange(len(g))
        for offset, col, colour in ((-0.2, "S1", "#1f77b4"), (0.2, "ST", "#ff7f0e")):
            err = np.nan_to_num(g[f"{col}_conf"].to_numpy(float))
            ax.bar(x + offset, g[col], width=0.4, yerr=err, capsize=3, color=colour, label=col)
        ax.axhline(0, color="black", lw=0.6)
        if g["S1"].isna().all():
            ax.text(
                0.5,
                0.5,
                "KPI constant over the design:\nindices undefined",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=8,
                color="#555",
            )
        short = [p.rsplit(".", 1)[-1] for p in g["parameter"]]
        labels = short if len(set(short)) == len(short) else list(g["parameter"])
        ax.set_xticks(x, labels, rotation=20, fontsize=8)
        ax.set_title(f"{kpi} ({scenario})" if several else str(kpi), fontsize=9)
        ax.set_ylabel("Sobol index")
        ax.grid(axis="y", alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8, title="95 % CI bars", title_fontsize=7)
    fig.tight_layout()
    atomic_write_bytes(dest, png_bytes(fig))
    return dest


def morris_plot(df: pd.DataFrame, dest: str | Path, top: int = 15) -> Path:
    """Horizontal bars of Morris mu* (with its CI) and sigma, one panel per KPI.

    Args:
        df: Output of :func:`morris`.
        dest: A ``.png`` path, or a folder (the file is then ``morris.png`` in it).
        top: Factors shown per KPI (the largest mu*).

    Returns:
        Path of the PNG written.
    """
    dest = Path(dest)
    if dest.suffix.lower() != ".png":
        dest = dest / "morris.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if df.empty:
        raise ValueError("morris_plot: no Morris rows to draw")
    groups = list(df.groupby(["scenario", "kpi"], sort=False))
    several = df["scenario"].nunique() > 1
    ncols = min(2, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = Figure(figsize=(7.5 * ncols, 0.32 * min(top, df["factor"].nunique()) * nrows + 1.5))
    for i, ((scenario, kpi), g) in enumerate(groups):
        g = g.sort_values("mu_star", ascending=False).head(top).iloc[::-1]
        ax = fig.add_subplot(nrows, ncols, i + 1)
        y = np.arange(len(g))
        err = np.nan_to_num(g["mu_star_conf"].to_numpy(float))
        ax.barh(y + 0.2, g["mu_star"], height=0.4, xerr=err, color="#1f77b4", label="mu*")
        ax.barh(y - 0.2, g["sigma"], height=0.4, color="#ff7f0e", label="sigma")
        ax.set_yticks(y, [_short(f) for f in g["factor"]], fontsize=7)
        ax.set_title(f"{kpi} ({scenario})" if several else str(kpi), fontsize=9)
        ax.set_xlabel("elementary effect (KPI units per factor range)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    atomic_write_bytes(dest, png_bytes(fig))
    return dest


def _short(name: str, width: int = 42) -> str:
    """A factor label that fits a chart's axis (the end of a long name is kept)."""
    return name if len(name) <= width else "..." + name[-(width - 3) :]
