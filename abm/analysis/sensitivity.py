"""Sobol sensitivity of a batch's KPIs over its Saltelli design, and its chart.

Reads a batch folder written by :func:`abm.runs.batch.run_batch` with a
``sample: {method: saltelli}`` design, through the same run table as
:mod:`abm.analysis.compare`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis.compare import _kpi_columns, _manifest, _n_points, _scenario_order, runs_table
from abm.analysis.htmlpage import png_bytes
from abm.runs.outputs import atomic_write_bytes


def sensitivity(out: str | Path, kpis: Sequence[str]) -> pd.DataFrame:
    """Sobol first-order and total indices of KPIs over a Saltelli design.

    The batch's design points are in Saltelli sample order (point index
    ``p`` of run ids ``...-pNNN-s<seed>``); with several seeds, a point's KPI
    is the mean over its completed seeds. Indices are computed per scenario
    with ``SALib.analyze.sobol.analyze(..., calc_second_order=False,
    conf_level=0.95, seed=0)``.

    Args:
        out: Batch folder of a ``sample: {method: saltelli}`` batch.
        kpis: KPI names (columns of ``summary.parquet``).

    Returns:
        One row per scenario x KPI x parameter with columns ``scenario``,
        ``kpi``, ``parameter``, ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (the
        ``_conf`` columns are half-widths of 95 % confidence intervals),
        ``n_base`` (Saltelli base sample size) and ``n_seeds``. Indices are NaN
        for a KPI that does not vary over the design.

    Raises:
        ValueError: for a batch without a Saltelli design, an unknown KPI, or
            design points without any completed run.
    """
    from SALib.analyze import sobol

    manifest = _manifest(out)
    spec = manifest.get("spec", {})
    sample = spec.get("sample")
    if not sample or sample.get("method") != "saltelli":
        design = f"a {sample['method']} sample" if sample else "no sampled design"
        raise ValueError(
            f"sensitivity needs a saltelli design (spec sample.method: saltelli); "
            f"the batch in {out} has {design}"
        )
    names = list(sample["ranges"])
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [list(map(float, sample["ranges"][k])) for k in names],
    }
    n_points = _n_points(spec)
    runs = runs_table(out)
    available = _kpi_columns(runs)
    kpis = list(kpis)
    unknown = [k for k in kpis if k not in available]
    if unknown or not kpis:
        raise ValueError(f"unknown KPIs {unknown}; choose among {available}")
    rows = []
    for scenario in [s for s in _scenario_order(manifest) if s in set(runs["scenario"])]:
        sub = runs[runs["scenario"] == scenario]
        y = sub.groupby("point")[kpis].mean()
        missing = sorted(set(range(n_points)) - set(y.index))
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise ValueError(
                f"{scenario}: {len(missing)} of {n_points} Saltelli design points have no "
                f"completed run (points {shown}); resume the batch before the analysis"
            )
        y = y.loc[list(range(n_points))]
        n_seeds = int(sub.groupby("point")["seed"].nunique().min())
        for kpi in kpis:
            values = y[kpi].to_numpy(float)
            if np.all(np.isfinite(values)) and np.ptp(values) > 0:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    si = sobol.analyze(
                        problem, values, calc_second_order=False, conf_level=0.95, seed=0
                    )
                cols = {c: np.asarray(si[c], float) for c in ("S1", "S1_conf", "ST", "ST_conf")}
            else:
                cols = {c: np.full(len(names), np.nan) for c in ("S1", "S1_conf", "ST", "ST_conf")}
            for j, name in enumerate(names):
                rows.append(
                    {
                        "scenario": scenario,
                        "kpi": kpi,
                        "parameter": name,
                        **{c: float(v[j]) for c, v in cols.items()},
                        "n_base": int(sample["n"]),
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
