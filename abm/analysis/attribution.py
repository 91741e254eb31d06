"""Counterfactual attribution: how much of a region's shortage is supply, controls, or both.

A 2x2 factorial over two switches, run with common random numbers (seed *s*
draws the same numbers in all four cells, :meth:`SupplyChainModel.stream`):

* **controls** ``on`` (the scenario as written) or ``off`` (its *no-controls
  twin*: every rule of ``policies`` removed, the front companies removed and
  the governments' reactions disabled, as ``scenarios/no_controls.yaml`` does
  for the baseline);
* **supply** ``scarce`` (as written) or ``ample`` (its *ample-supply twin*: the
  wafer capacity of every node of every foundry, the packaging capacity of
  every packager and the HBM capacity of every memory maker whose ``country``
  is not ``CN`` multiplied by ``supply_factor``, default 8, from the first week).

With ``S(c, s)`` a metric of the region in one year (controls ``c``, supply
``s``), the decomposition, per seed and year, is::

    total       = S(on, scarce)  - S(off, ample)
    supply      = S(off, scarce) - S(off, ample)
    controls    = S(on, ample)   - S(off, ample)
    interaction = total - supply - controls
                = S(on, scarce) - S(off, scarce) - S(on, ample) + S(off, ample)

``supply`` is what scarce global supply costs the region with no controls,
``controls`` what the controls cost it when supply is ample, and
``interaction`` what the two do together beyond the sum of each alone (positive:
controls bite harder when supply is scarce). Three runs (the scenario and
each single twin) give two one-at-a-time effects whose sum need not be the
total; only the fourth cell (neither) separates the interaction from the
two main effects, so the parts add up to the total by construction.

Metrics (``METRICS`` here): ``shortage_ratio`` is the region's unmet over wanted
compute (the ``shortage_ratio`` metric at scope = region), averaged over the
weeks of each year; ``compute_gap_share`` is the region's compute gap to the US as a share
of the US's installed compute, ``1 - region / US`` of ``compute_stock_h100e`` (H100e) at
the last week of each year (not computed for the US itself). A share rather than H100e:
ample supply multiplies everyone's compute, so a gap in H100e mostly grows with the
supply scale, while the share says how far behind the region is. Both metrics read the
same way: a positive part makes the region worse off (shorter, or further behind). A
truncated run (``weeks``) ends in a partial year, which is kept.

Parts are computed per seed, then summarised over seeds (median, 5 % and 95 %
quantiles, linear interpolation). Runs are independent: ``workers`` > 1 runs
them on local processes; results do not depend on it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from abm.limits import MAX_SEED, MAX_SEED_COUNT
from abm.scenario import REGIONS, Scenario, load_scenario

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

log = logging.getLogger(__name__)

Cell = tuple[str, str]
"""A cell of the design: ``(controls, supply)``, e.g. ``("on", "scarce")``."""

CELLS: tuple[Cell, ...] = (("on", "scarce"), ("off", "scarce"), ("on", "ample"), ("off", "ample"))
"""The four runs per seed: the scenario, its no-controls, ample-supply and both twins."""

PARTS: tuple[str, ...] = ("total", "supply", "controls", "interaction")
"""The parts of the decomposition, in table order."""

METRICS: dict[str, str] = {
    "shortage_ratio": "share (yearly mean of the weekly region shortage_ratio)",
    "compute_gap_share": "share (1 - region / US compute_stock_h100e, last week of the year)",
}
"""Attributed metrics and their units."""

DEFAULT_SUPPLY_FACTOR = 8.0
"""Capacity multiple of the ample-supply twin (the x8 of the issue's S1 check)."""

DOMESTIC_COUNTRY = "CN"
"""Suppliers of this country keep their capacity in the ample-supply twin."""

QUANTILES = (0.05, 0.5, 0.95)

Progress = Callable[[int, int], object]
"""``progress(done, total)``, called after each run."""


# ------------------------------------------------------------------ twins


def _validate(data: dict[str, Any], what: str) -> Scenario:
    """A twin's content as a validated scenario; a one-line ScenarioError naming the field."""
    from pydantic import ValidationError

    from abm.scenario import ScenarioCheckError, ScenarioError, first_error

    try:
        return Scenario.model_validate(data)
    except (ValidationError, ScenarioCheckError) as exc:
        raise ScenarioError(first_error(f"{data['name']} ({what})", exc, model=Scenario)) from None


def no_controls_twin(spec: Scenario) -> Scenario:
    """The scenario with every export/import control removed.

    Removes every rule of ``policies`` (US export, China import and foundry rules), the
    front companies (they exist only to get around the foundry rules) and disables the
    governments' reactions (which would add rules), as ``scenarios/no_controls.yaml``
    does for the baseline. Everything else (world, uncertainties, seeds) is unchanged.

    Args:
        spec: A loaded scenario.

    Returns:
        A validated copy named ``<name>-no_controls``.
    """
    data = spec.model_dump(mode="json")
    data["name"] = f"{spec.name}-no_controls"
    data["policies"] = []
    data["world"]["fronts"] = []
    for gov in data["world"]["governments"]:
        for reaction in gov.get("reactions", {}).values():
            reaction["enabled"] = False
    return _validate(data, "no-controls twin")


def ample_supply_twin(
    spec: Scenario, factor: float = DEFAULT_SUPPLY_FACTOR, domestic: str = DOMESTIC_COUNTRY
) -> Scenario:
    """The scenario with non-``domestic`` wafer, packaging and HBM capacity times ``factor``.

    Multiplies, from the first week, ``capacity_wafers_per_week`` of every node of every
    foundry, ``capacity_wafers_per_week`` of every packager and
    ``capacity_stacks_per_week`` of every memory maker whose ``country`` is not
    ``domestic``. Capacity growth, yields, shocks and disruptions apply on top as usual.

    Args:
        spec: A loaded scenario.
        factor: Capacity multiple (> 0; 1 gives a copy).
        domestic: Country code whose suppliers keep their capacity.

    Returns:
        A validated copy named ``<name>-ample``.

    Raises:
        ValueError: for a factor that is not a positive finite number.
        abm.scenario.ScenarioError: a multiplied capacity above the schema's bound.
    """
    if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0):
        raise ValueError(f"supply_factor: expected a positive number, got {factor!r}")
    data = spec.model_dump(mode="json")
    data["name"] = f"{spec.name}-ample"
    world = data["world"]
    for f in world["foundries"]:
        if f["country"] != domestic:
            for node in f["nodes"]:
                node["capacity_wafers_per_week"] *= factor
    for p in world["packagers"]:
        if p["country"] != domestic:
            p["capacity_wafers_per_week"] *= factor
    for m in world["memory_makers"]:
        if m["country"] != domestic:
            m["capacity_stacks_per_week"] *= factor
    return _validate(data, f"ample-supply twin (x{factor:g})")


def twins(spec: Scenario, supply_factor: float = DEFAULT_SUPPLY_FACTOR) -> dict[Cell, Scenario]:
    """The four scenarios of the design, keyed by :data:`CELLS`."""
    ample = ample_supply_twin(spec, supply_factor)
    return {
        ("on", "scarce"): spec,
        ("off", "scarce"): no_controls_twin(spec),
        ("on", "ample"): ample,
        ("off", "ample"): no_controls_twin(ample),
    }


# ------------------------------------------------------------------ runs


def yearly_metrics(model: SupplyChainModel, region: str) -> pd.DataFrame:
    """The attributed metrics of one run, by calendar year.

    Args:
        model: A model that has run.
        region: A region code of :data:`abm.scenario.REGIONS`.

    Returns:
        Columns ``year``, ``metric``, ``value``: the yearly mean of the region's
        ``shortage_ratio`` and (region other than US) ``compute_gap_share``,
        ``1 - region / US`` of ``compute_stock_h100e`` at the year's last recorded week.
    """
    start = model.spec.start_date
    shortage = np.asarray(model.metrics.series("shortage_ratio", region), dtype=float)
    years = np.array([(start + timedelta(weeks=i)).year for i in range(len(shortage))])
    frames: list[pd.DataFrame] = [
        pd.DataFrame({"year": years, "metric": "shortage_ratio", "value": shortage})
        .groupby(["year", "metric"])
        .agg(value=("value", "mean"))
        .reset_index()
    ]
    if region != "US":
        us = np.asarray(model.metrics.series("compute_stock_h100e", "US"), dtype=float)
        own = np.asarray(model.metrics.series("compute_stock_h100e", region), dtype=float)
        share = np.divide(own, us, out=np.full_like(own, np.nan), where=us > 0)
        gap = pd.DataFrame({"year": years[: len(us)], "value": 1.0 - share})
        last = gap.groupby("year").agg(value=("value", "last")).reset_index()
        last.insert(1, "metric", "compute_gap_share")
        frames.append(last)
    return pd.concat(frames, ignore_index=True)


def _run_one(task: tuple[Scenario, int, str, str, str, int | None]) -> pd.DataFrame:
    """One run of one cell and seed (a process-pool task): its yearly metrics."""
    from abm.engine.model import SupplyChainModel

    spec, seed, controls, supply, region, weeks = task
    if weeks is not None:
        spec = spec.model_copy(update={"weeks": weeks})
    # the attribution reads metrics only: no event log
    model = SupplyChainModel(spec, seed=seed, log_events=False)
    try:
        model.run()
    except Exception as exc:  # name the run; the caller reports one line
        raise RuntimeError(
            f"{spec.name} seed {seed}: run failed at week {model.steps} ({model.date}): {exc}"
        ) from exc
    df = yearly_metrics(model, region)
    df.insert(0, "supply", supply)
    df.insert(0, "controls", controls)
    df.insert(0, "seed", seed)
    return df


def _worker_init() -> None:
    """Pool workers ignore Ctrl-C: the parent process stops them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_all(
    tasks: list[tuple[Scenario, int, str, str, str, int | None]],
    workers: int,
    progress: Progress | None,
) -> list[pd.DataFrame]:
    out: list[pd.DataFrame] = []
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            out.append(_run_one(t))
            if progress is not None:
                progress(len(out), len(tasks))
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["abm.engine.model", "abm.analysis.attribution"])
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=ctx, initializer=_worker_init
    )
    try:
        futures = [pool.submit(_run_one, t) for t in tasks]
        for f in as_completed(futures):
            out.append(f.result())
            if progress is not None:
                progress(len(out), len(tasks))
    except BaseException:  # Ctrl-C or a failed run: cancel the queue, stop the workers now
        from abm.runs.batch import _abort_pool

        _abort_pool(pool)
        raise
    pool.shutdown(wait=True)
    return out


# ------------------------------------------------------------------ decomposition


def decompose(runs: pd.DataFrame) -> pd.DataFrame:
    """The parts of the 2x2 decomposition per seed, year and metric.

    Args:
        runs: Columns ``seed``, ``controls`` (on/off), ``supply`` (scarce/ample),
            ``year``, ``metric``, ``value`` (all four cells for every seed).

    Returns:
        Columns ``seed``, ``year``, ``metric``, ``part`` (:data:`PARTS`), ``value``.

    Raises:
        ValueError: if a (seed, year, metric) lacks one of the four cells.
    """
    wide = runs.pivot_table(
        index=["seed", "year", "metric"], columns=["controls", "supply"], values="value"
    )
    missing = [c for c in CELLS if c not in wide.columns]
    if missing or wide.isna().any().any():
        raise ValueError(f"decompose: every seed, year and metric needs the four cells {CELLS}")
    on_scarce, off_scarce = wide[("on", "scarce")], wide[("off", "scarce")]
    on_ample, off_ample = wide[("on", "ample")], wide[("off", "ample")]
    total = on_scarce - off_ample
    supply = off_scarce - off_ample
    controls = on_ample - off_ample
    parts = pd.DataFrame(
        {
            "total": total,
            "supply": supply,
            "controls": controls,
            "interaction": total - supply - controls,
        }
    )
    long = parts.reset_index().melt(
        id_vars=["seed", "year", "metric"], var_name="part", value_name="value"
    )
    return _ordered(long, ["seed"]).reset_index(drop=True)


def _ordered(df: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    df = df.copy()
    df["_m"] = df["metric"].map(list(METRICS).index)
    df["_p"] = df["part"].map(PARTS.index)
    return df.sort_values(["_m", "year", "_p", *first]).drop(columns=["_m", "_p"])


def summarise(parts: pd.DataFrame) -> pd.DataFrame:
    """Median and 5-95 % band of each part over seeds.

    Args:
        parts: The output of :func:`decompose`.

    Returns:
        The tidy table: ``year``, ``metric``, ``part``, ``median``, ``p5``, ``p95``,
        ``n_seeds``, ordered by metric, year and part.
    """
    lo, mid, hi = QUANTILES
    g = parts.groupby(["year", "metric", "part"])["value"]
    table = pd.DataFrame(
        {
            "median": g.quantile(mid),
            "p5": g.quantile(lo),
            "p95": g.quantile(hi),
            "n_seeds": g.size(),
        }
    ).reset_index()
    return _ordered(table, []).reset_index(drop=True)


# ------------------------------------------------------------------ the result


@dataclass
class AttributionResult:
    """What :func:`attribute` found.

    Attributes:
        scenario: The scenario's name.
        region: The region attributed.
        seeds: The seeds run (the same in all four cells).
        supply_factor: Capacity multiple of the ample-supply twins.
        table: Median and 5-95 % band per year, metric and part (:func:`summarise`).
        parts: Per-seed parts (:func:`decompose`).
        runs: Per-run yearly values: ``seed``, ``controls``, ``supply``, ``year``,
            ``metric``, ``value``.
    """

    scenario: str
    region: str
    seeds: list[int]
    supply_factor: float
    table: pd.DataFrame
    parts: pd.DataFrame
    runs: pd.DataFrame

    def chart(self, path: str | Path, metric: str = "shortage_ratio") -> Path:
        """Draw the parts of ``metric`` per year as a PNG (see :func:`attribution_chart`)."""
        return attribution_chart(self, path, metric)


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise ValueError(f"seeds: expected a count or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_SEED_COUNT:
            raise ValueError(f"seeds: expected a count from 1 to {MAX_SEED_COUNT:,}, got {seeds}")
        return list(range(1, seeds + 1))
    out = list(seeds)
    if not out:
        raise ValueError("seeds: give at least one seed")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= s <= MAX_SEED:
            raise ValueError(f"seeds: expected whole numbers from 0 to {MAX_SEED:,}, got {s!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds: {out} repeats a seed")
    if len(out) > MAX_SEED_COUNT:
        raise ValueError(f"seeds: at most {MAX_SEED_COUNT:,} seeds, got {len(out):,}")
    return [int(s) for s in out]


def attribute(
    scenario: str | Path | Scenario,
    region: str = "CN",
    seeds: int | Sequence[int] = 5,
    workers: int = 1,
    supply_factor: float = DEFAULT_SUPPLY_FACTOR,
    weeks: int | None = None,
    progress: Progress | None = None,
) -> AttributionResult:
    """Split a region's shortage and compute gap into supply, controls and interaction.

    Runs the scenario and its three twins (:func:`twins`) for every seed with
    common random numbers, then, per seed and year, ``total = S(on, scarce) -
    S(off, ample)``, ``supply = S(off, scarce) - S(off, ample)``, ``controls =
    S(on, ample) - S(off, ample)`` and ``interaction = total - supply - controls``
    (the module docstring says why four runs), summarised over seeds.

    Args:
        scenario: Library name, YAML path or loaded scenario.
        region: ``US``, ``CN`` or ``ROW``.
        seeds: A count N (seeds 1..N) or the seeds themselves.
        workers: Local processes (1: in this process).
        supply_factor: Capacity multiple of the ample-supply twin.
        weeks: Run only this many weeks (default: the scenario's horizon).
        progress: Called as ``progress(done, total)`` after each run.

    Returns:
        An :class:`AttributionResult` (``.table``, ``.parts``, ``.runs``, ``.chart()``).

    Raises:
        ValueError: a bad region, seeds, workers or supply factor (one line).
        abm.scenario.ScenarioError: an unknown or invalid scenario, or bad ``weeks``.
        RuntimeError: a run failed (naming its twin, seed and week).
    """
    if region not in REGIONS:
        raise ValueError(f"region: expected one of {', '.join(REGIONS)}, got {region!r}")
    seed_list = _seed_list(seeds)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a whole number >= 1, got {workers!r}")
    spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if weeks is not None:
        from abm.scenario import ScenarioError

        if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= spec.weeks:
            raise ScenarioError(f"weeks: expected a whole number from 1 to {spec.weeks}")
    cells = twins(spec, supply_factor)
    tasks = [
        (cells[cell], seed, cell[0], cell[1], region, weeks) for seed in seed_list for cell in CELLS
    ]
    log.info("attribution of %s (%s): %d runs", spec.name, region, len(tasks))
    runs = pd.concat(_run_all(tasks, workers, progress), ignore_index=True)
    runs = runs.sort_values(["seed", "controls", "supply", "metric", "year"], ignore_index=True)
    parts = decompose(runs)
    return AttributionResult(
        scenario=spec.name,
        region=region,
        seeds=seed_list,
        supply_factor=float(supply_factor),
        table=summarise(parts),
        parts=parts,
        runs=runs,
    )


# ------------------------------------------------------------------ chart

_COLOURS = {"supply": "#4c72b0", "controls": "#c44e52", "interaction": "#8172b2"}


def attribution_chart(
    result: AttributionResult, path: str | Path, metric: str = "shortage_ratio"
) -> Path:
    """Stacked bars of the median parts per year, the median total as a marker with its band.

    Positive parts stack upwards from zero and negative ones downwards. Medians of the
    parts need not add up to the median total (each is a median over seeds); the
    marker is the total's own median, its whisker the total's 5-95 % band.

    Args:
        result: An attribution.
        path: PNG file to write (its folder must exist).
        metric: One of :data:`METRICS` present in the result.

    Returns:
        ``path``.

    Raises:
        ValueError: a metric the result lacks, or a missing folder.
    """
    from matplotlib.figure import Figure

    from abm.analysis.htmlpage import png_bytes
    from abm.runs.outputs import atomic_write_bytes

    path = Path(path)
    df = result.table[result.table["metric"] == metric]
    if df.empty:
        raise ValueError(
            f"metric: {metric!r} is not in the attribution ({sorted(set(result.table['metric']))})"
        )
    if not path.parent.is_dir():
        raise ValueError(f"{path}: no folder {path.parent}")
    years = sorted(df["year"].unique())
    x = np.arange(len(years))
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    pos = np.zeros(len(years))
    neg = np.zeros(len(years))
    for part in ("supply", "controls", "interaction"):
        values = df[df["part"] == part].set_index("year")["median"].reindex(years).to_numpy()
        bottom = np.where(values >= 0, pos, neg)
        ax.bar(x, values, 0.6, bottom=bottom, color=_COLOURS[part], label=part)
        pos = pos + np.where(values >= 0, values, 0)
        neg = neg + np.where(values < 0, values, 0)
    total = df[df["part"] == "total"].set_index("year").reindex(years)
    med = total["median"].to_numpy()
    ax.errorbar(
        x,
        med,
        yerr=[med - total["p5"].to_numpy(), total["p95"].to_numpy() - med],
        fmt="D",
        color="black",
        capsize=4,
        label="total (median, 5-95 %)",
    )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x, [str(y) for y in years])
    ax.set_ylabel(METRICS[metric].split(" (")[0])
    ax.set_title(
        f"{result.scenario}: {result.region} {metric} by cause "
        f"({len(result.seeds)} seeds, supply x{result.supply_factor:g})"
    )
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    atomic_write_bytes(path, png_bytes(fig))
    return path
