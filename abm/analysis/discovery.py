"""Scenario discovery over a batch: which factor ranges lead to an outcome (PRIM).

Uses the Patient Rule Induction Method of EMA Workbench
(:class:`ema_workbench.analysis.prim.Prim`): the cases of interest are the runs
whose KPI is below (or above) a threshold; PRIM peels the factor space into a
box holding as many of them (**coverage**: the share of all cases of interest
inside the box) as purely as it can (**density**: the share of the runs in the
box that are cases of interest). Each peel is a point of the trade-off curve;
the box reported is the one with the largest coverage among the steps whose
density reaches ``min_density`` (or the densest step when none does).

The factors are those of :func:`abm.analysis.factors.factor_columns` (a design's
factors, or a sweep's or sample's keys; ``scenario`` when several), one row
per run (seeds are cases too: a box says what holds across seeds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm.analysis.compare import _kpi_columns, runs_table
from abm.analysis.factors import factor_columns
from abm.analysis.htmlpage import png_bytes
from abm.runs.outputs import atomic_write_bytes

_RESERVED = {"scenario", "policy", "model"}


@dataclass(frozen=True)
class Discovery:
    """What PRIM found.

    Attributes:
        kpi: The KPI the cases of interest are defined on.
        condition: ``"below"`` or ``"above"``.
        threshold: The KPI threshold.
        n_runs: Runs (cases) given to PRIM.
        n_interest: Cases of interest.
        step: Index of the chosen box on the peeling trajectory.
        box: One row per factor: ``factor``, ``restricted`` (the box limits it),
            ``low``/``high`` (numeric factors) or ``values`` (categorical), and
            the factor's full range ``range_low``/``range_high`` or ``all_values``.
        tradeoff: The peeling trajectory: ``step``, ``coverage``, ``density``,
            ``mass``, ``res_dim``, ``n`` (runs in the box).
    """

    kpi: str
    condition: Literal["below", "above"]
    threshold: float
    n_runs: int
    n_interest: int
    step: int
    box: pd.DataFrame
    tradeoff: pd.DataFrame

    @property
    def chosen(self) -> pd.Series:
        """The chosen step's row of the trade-off curve."""
        return self.tradeoff.iloc[self.step]

    def summary(self) -> str:
        """One line: the outcome, the counts, the chosen box's coverage and density."""
        c = self.chosen
        sign = "<" if self.condition == "below" else ">"
        return (
            f"{self.kpi} {sign} {self.threshold:g}: {self.n_interest} of {self.n_runs} runs; "
            f"box {self.step} of {len(self.tradeoff) - 1}: coverage {c['coverage']:.2f}, "
            f"density {c['density']:.2f}, mass {c['mass']:.2f}, "
            f"{int(c['res_dim'])} restricted factor(s)"
        )


def _inputs(runs: pd.DataFrame) -> pd.DataFrame:
    cols = factor_columns(runs)
    if not cols:
        raise ValueError("the batch has no factors (one scenario, no sweep or design)")
    x = pd.DataFrame(index=runs.index)
    for name, col in cols.items():
        s = runs[col]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            x[name] = pd.Categorical(s.astype(str))
        else:
            x[name] = s.astype(float)
    constant = [c for c in x.columns if x[c].nunique() < 2]
    return x.drop(columns=constant)


def discover(
    out: str | Path,
    kpi: str,
    threshold: float,
    condition: Literal["below", "above"] = "below",
    min_density: float = 0.8,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> Discovery:
    """Find the factor ranges where ``kpi`` is below (or above) ``threshold``, with PRIM.

    Args:
        out: Batch folder.
        kpi: KPI column (e.g. ``cn_compute_h100e_end``).
        threshold: The KPI threshold (finite).
        condition: ``below`` (KPI < threshold) or ``above`` (KPI > threshold).
        min_density: Least density of the box chosen on the trade-off curve.
        peel_alpha: Share of the runs peeled off per step (EMA's ``peel_alpha``).
        mass_min: Smallest box, as a share of the runs (EMA's ``mass_min``).

    Returns:
        The :class:`Discovery` (chosen box, trade-off curve).

    Raises:
        ValueError: for an unknown KPI, a non-finite threshold, no factors, or no
            (or only) cases of interest.
    """
    with warnings.catch_warnings():  # EMA warns at import about optional parallel back ends
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim

    if not np.isfinite(threshold):
        raise ValueError(f"threshold: expected a finite number, got {threshold}")
    if condition not in ("below", "above"):
        raise ValueError(f"condition: expected below or above, got {condition!r}")
    if not 0 < min_density <= 1:
        raise ValueError(f"min_density: expected a share in (0, 1], got {min_density}")
    runs = runs_table(out)
    available = _kpi_columns(runs)
    if kpi not in available:
        raise ValueError(f"unknown KPI {kpi!r}; choose among {available}")
    runs = runs[np.isfinite(runs[kpi].to_numpy(float))].reset_index(drop=True)
    values = runs[kpi].to_numpy(float)
    y = values < threshold if condition == "below" else values > threshold
    n_interest = int(y.sum())
    sign = "<" if condition == "below" else ">"
    if n_interest == 0 or n_interest == len(y):
        what = "no run" if n_interest == 0 else "every run"
        raise ValueError(
            f"{what} has {kpi} {sign} {threshold:g} (range {values.min():g} to "
            f"{values.max():g}); choose a threshold inside it"
        )
    x = _inputs(runs)
    if x.empty:
        raise ValueError("every factor is constant over the batch's runs")
    # EMA drops columns named as its experiment bookkeeping (scenario, policy, model)
    alias = {c: f"{c}_" if c in _RESERVED else c for c in x.columns}
    back = {v: k for k, v in alias.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = prim.Prim(x.rename(columns=alias), y, peel_alpha=peel_alpha, mass_min=mass_min)
        box = finder.find_box()
    if box is None:
        raise ValueError("PRIM found no box (too few cases of interest for mass_min)")
    traj = box.peeling_trajectory
    tradeoff = pd.DataFrame(
        {
            "step": np.arange(len(traj)),
            "coverage": traj["coverage"].to_numpy(float),
            "density": traj["density"].to_numpy(float),
            "mass": traj["mass"].to_numpy(float),
            "res_dim": traj["res_dim"].to_numpy(int),
            "n": traj["n"].to_numpy(int),
        }
    )
    dense = tradeoff[tradeoff["density"] >= min_density - 1e-12]
    if len(dense):
        best = dense.sort_values(["coverage", "step"], ascending=[False, True])
        step = int(best["step"].to_numpy()[0])
    else:
        step = int(np.argmax(tradeoff["density"].to_numpy()))
    limits = box.box_lims[step]
    initial = finder.box_init
    rows = []
    for pname in limits.columns:
        name = back[pname]
        lo_hi = limits[pname]
        full = initial[pname]
        if isinstance(x[name].dtype, pd.CategoricalDtype):
            kept = sorted(map(str, lo_hi.iloc[0]))
            every = sorted(map(str, full.iloc[0]))
            rows.append(
                {
                    "factor": name,
                    "restricted": kept != every,
                    "low": np.nan,
                    "high": np.nan,
                    "values": ", ".join(kept),
                    "range_low": np.nan,
                    "range_high": np.nan,
                    "all_values": ", ".join(every),
                }
            )
        else:
            low, high = float(lo_hi.iloc[0]), float(lo_hi.iloc[1])
            rows.append(
                {
                    "factor": name,
                    "restricted": bool(low > float(full.iloc[0]) or high < float(full.iloc[1])),
                    "low": low,
                    "high": high,
                    "values": "",
                    "range_low": float(full.iloc[0]),
                    "range_high": float(full.iloc[1]),
                    "all_values": "",
                }
            )
    table = pd.DataFrame(rows).sort_values(["restricted", "factor"], ascending=[False, True])
    return Discovery(
        kpi=kpi,
        condition=condition,
        threshold=float(threshold),
        n_runs=len(y),
        n_interest=n_interest,
        step=step,
        box=table.reset_index(drop=True),
        tradeoff=tradeoff,
    )


def in_box(out: str | Path, found: Discovery) -> pd.Series:
    """Whether each completed run of the batch lies in the chosen box (by ``run_id``)."""
    runs = runs_table(out)
    cols = factor_columns(runs)
    inside = np.ones(len(runs), dtype=bool)
    for row in found.box.to_dict("records"):
        if not row["restricted"]:
            continue
        v = runs[cols[str(row["factor"])]]
        if row["values"]:
            inside &= v.astype(str).isin(str(row["values"]).split(", ")).to_numpy()
        else:
            num = v.astype(float).to_numpy()
            inside &= (num >= float(row["low"])) & (num <= float(row["high"]))
    return pd.Series(inside, index=runs["run_id"].to_numpy())


def tradeoff_plot(found: Discovery, dest: str | Path) -> Path:
    """The peeling trajectory: coverage against density, coloured by restricted factors.

    Args:
        found: Output of :func:`discover`.
        dest: A ``.png`` path, or a folder (``prim_tradeoff.png`` in it).

    Returns:
        Path of the PNG written.
    """
    dest = Path(dest)
    if dest.suffix.lower() != ".png":
        dest = dest / "prim_tradeoff.png"
    dest.parent.mkdir(parents=True, exist_ok=True)
    t = found.tradeoff
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    points = ax.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=22)
    c = found.chosen
    ax.scatter([c["coverage"]], [c["density"]], s=120, facecolors="none", edgecolors="red")
    ax.annotate(
        f"box {found.step}",
        (c["coverage"], c["density"]),
        xytext=(6, -12),
        textcoords="offset points",
        fontsize=8,
        color="red",
    )
    ax.set_xlabel("coverage (share of the cases of interest in the box)")
    ax.set_ylabel("density (share of the box's runs that are cases)")
    sign = "<" if found.condition == "below" else ">"
    ax.set_title(f"PRIM trade-off: {found.kpi} {sign} {found.threshold:g}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.colorbar(points, ax=ax, label="restricted factors")
    fig.tight_layout()
    atomic_write_bytes(dest, png_bytes(fig))
    return dest
