"""Answers per factor: KPIs by design point, main effects and paired differences.

Reads a batch folder through :func:`abm.analysis.compare.runs_table` (the
manifest is the source of truth for completed runs). A batch's **factors** are
its design's factors (``factor:<name>`` columns, a ``design:`` batch), or its
sweep or sampled keys (``param:<key>`` columns), plus ``scenario`` when the
batch holds more than one scenario.

Seeds are common random numbers: seed *s* draws the same numbers at every
design point, so two runs that differ in one factor only and share a seed are a
**pair**, and the spread of paired differences across seeds is the noise of
that factor's effect (much narrower than the spread of either side).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from abm.analysis.compare import QUANTILES, _kpi_columns, runs_table

BINS = 4
"""Quantile bins of a numeric factor with more distinct values than this (main effects)."""


def factor_columns(runs: pd.DataFrame) -> dict[str, str]:
    """Factor name -> column of ``runs`` holding its value.

    ``factor:<name>`` columns (a design batch) win over ``param:<key>`` ones;
    ``scenario`` is a factor when the batch has several scenarios.
    """
    cols: dict[str, str] = {}
    designed = [c for c in runs.columns if c.startswith("factor:")]
    if designed:
        for c in designed:
            cols[c.removeprefix("factor:")] = c
    else:
        for c in runs.columns:
            if c.startswith("param:"):
                cols[c.removeprefix("param:")] = c
    if "scenario" not in cols and runs["scenario"].nunique() > 1:
        cols = {"scenario": "scenario", **cols}
    return cols


def _kpis(runs: pd.DataFrame, kpis: Sequence[str] | None) -> list[str]:
    available = _kpi_columns(runs)
    chosen = list(kpis) if kpis else available
    unknown = [k for k in chosen if k not in available]
    if unknown:
        raise ValueError(f"unknown KPIs {unknown}; choose among {available}")
    return chosen


def _q(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else float("nan")


def by_point(out: str | Path, kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """KPIs per design point: the point's factor values and the spread over its seeds.

    Args:
        out: Batch folder.
        kpis: KPI names (default: all).

    Returns:
        One row per (scenario, point) x KPI, ordered by point then KPI, with
        columns ``scenario``, ``point``, one column per factor, ``kpi``,
        ``n_seeds``, ``median``, ``p05``, ``p95``, ``mean``.
    """
    runs = runs_table(out)
    chosen = _kpis(runs, kpis)
    cols = factor_columns(runs)
    rows = []
    for (scenario, point), g in runs.groupby(["scenario", "point"], sort=True):
        first = g.iloc[0]
        values = {name: first[col] for name, col in cols.items() if name != "scenario"}
        for kpi in chosen:
            v = g[kpi].dropna().to_numpy(float)
            rows.append(
                {
                    "scenario": scenario,
                    "point": int(point),  # type: ignore[call-overload]
                    **values,
                    "kpi": kpi,
                    "n_seeds": int(g["seed"].nunique()),
                    "median": float(np.median(v)) if len(v) else np.nan,
                    "p05": _q(v, QUANTILES[0]),
                    "p95": _q(v, QUANTILES[2]),
                    "mean": float(v.mean()) if len(v) else np.nan,
                }
            )
    df = pd.DataFrame(rows)
    return df.sort_values(["point", "scenario", "kpi"], kind="stable").reset_index(drop=True)


def _levels(series: pd.Series) -> tuple[pd.Series, bool]:
    """A factor's level per run (numeric factors with many values in quantile bins)."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and series.nunique() > BINS:
        bins = pd.qcut(series, BINS, duplicates="drop")
        labels = [f"[{iv.left:.4g}, {iv.right:.4g}]" for iv in bins.cat.categories]
        return bins.cat.rename_categories(labels).astype(str), True
    return series.map(lambda v: v if isinstance(v, str) else f"{v}"), False


def _order(series: pd.Series, levels: pd.Series, binned: bool) -> list[str]:
    """Levels in order: numeric values ascending, bins ascending, others as designed."""
    if binned:
        return list(dict.fromkeys(levels[series.sort_values(kind="stable").index]))
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return list(dict.fromkeys(levels[series.sort_values(kind="stable").index]))
    return list(dict.fromkeys(levels))


def main_effects(out: str | Path, kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Each factor's main effect: the KPI over the runs at each of its levels.

    A level pools every run at that level (other factors and seeds vary);
    numeric factors with more than :data:`BINS` distinct values are cut into
    quantile bins. ``effect`` is the level's mean minus the factor's first
    level's mean.

    Args:
        out: Batch folder.
        kpis: KPI names (default: all).

    Returns:
        Columns ``factor``, ``level``, ``binned``, ``kpi``, ``n_runs``,
        ``mean``, ``median``, ``p05``, ``p95``, ``effect``; ordered by factor,
        KPI and level (levels in the design's order).

    Raises:
        ValueError: for a batch without factors (one scenario, no design).
    """
    runs = runs_table(out)
    chosen = _kpis(runs, kpis)
    cols = factor_columns(runs)
    if not cols:
        raise ValueError(f"{out}: the batch has no factors (one scenario, no sweep or design)")
    rows = []
    for name, col in cols.items():
        levels, binned = _levels(runs[col])
        order = _order(runs[col], levels, binned)
        for kpi in chosen:
            ref = float("nan")
            for level in order:
                v = runs.loc[levels == level, kpi].dropna().to_numpy(float)
                mean = float(v.mean()) if len(v) else np.nan
                if level == order[0]:
                    ref = mean
                rows.append(
                    {
                        "factor": name,
                        "level": str(level),
                        "binned": binned,
                        "kpi": kpi,
                        "n_runs": len(v),
                        "mean": mean,
                        "median": float(np.median(v)) if len(v) else np.nan,
                        "p05": _q(v, QUANTILES[0]),
                        "p95": _q(v, QUANTILES[2]),
                        "effect": mean - ref,
                    }
                )
    return pd.DataFrame(rows)


def paired_effects(
    out: str | Path,
    kpis: Sequence[str] | None = None,
    reference: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Paired differences: each factor's level against its reference level, seed by seed.

    Two runs are a pair when they share the seed and every other factor's
    value and differ in this factor only (a full factorial or a grid sweep has
    a pair for every point and seed; a sampled design has none).

    Args:
        out: Batch folder.
        kpis: KPI names (default: all).
        reference: Factor name -> reference level (default: the factor's first level).

    Returns:
        Columns ``factor``, ``level``, ``reference``, ``kpi``, ``n_pairs``,
        ``diff_median``, ``diff_p05``, ``diff_p95``, ``diff_mean``, ``diff_std``
        (the band is the 5-95 % range of the paired differences across seeds
        and other factors' values).

    Raises:
        ValueError: for an unknown factor or reference level.
    """
    runs = runs_table(out)
    chosen = _kpis(runs, kpis)
    cols = factor_columns(runs)
    reference = dict(reference or {})
    unknown = sorted(set(reference) - set(cols))
    if unknown:
        raise ValueError(f"reference: unknown factor {unknown[0]!r}; factors: {list(cols)}")
    text = pd.DataFrame({name: _levels(runs[col])[0] for name, col in cols.items()})
    text = text.apply(lambda s: s.astype(str))
    rows = []
    for name, col in cols.items():
        order = _order(runs[col], text[name], False)
        ref = reference.get(name, order[0])
        if ref not in order:
            raise ValueError(f"reference: {name} has no level {ref!r}; levels: {order}")
        others = [c for c in cols if c != name]
        keys = [*others, "seed"]
        frame = pd.concat([text[others], runs[["seed", *chosen]]], axis=1)
        base = frame[text[name] == ref].drop_duplicates(keys).set_index(keys)[chosen]
        for level in [lv for lv in order if lv != ref]:
            this = frame[text[name] == level].drop_duplicates(keys).set_index(keys)[chosen]
            common = this.index.intersection(base.index)
            diff = this.loc[common] - base.loc[common]
            for kpi in chosen:
                d = diff[kpi].dropna().to_numpy(float)
                rows.append(
                    {
                        "factor": name,
                        "level": level,
                        "reference": ref,
                        "kpi": kpi,
                        "n_pairs": len(d),
                        "diff_median": float(np.median(d)) if len(d) else np.nan,
                        "diff_p05": _q(d, QUANTILES[0]),
                        "diff_p95": _q(d, QUANTILES[2]),
                        "diff_mean": float(d.mean()) if len(d) else np.nan,
                        "diff_std": float(np.std(d, ddof=1)) if len(d) > 1 else np.nan,
                    }
                )
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV (``.csv``) or Parquet (any other suffix), atomically.

    Raises:
        ValueError: one line naming the path if its folder does not exist.
    """
    from abm.runs.outputs import atomic_write

    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{path}: no folder {path.parent}")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder")
    if path.suffix.lower() == ".csv":
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


def table_paths(path: str | Path, names: Sequence[str]) -> dict[str, Path]:
    """Where each of several tables goes for one ``--csv``/``--parquet`` path.

    One table: the path itself. Several: the table's name before the suffix
    (``out/effects.csv`` -> ``out/effects.main_effects.csv``).
    """
    path = Path(path)
    if len(names) == 1:
        return {names[0]: path}
    return {n: path.with_name(f"{path.stem}.{n}{path.suffix}") for n in names}
