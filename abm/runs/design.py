"""Experimental designs as data: factors with ranges, and the samplers that place points.

A design (the ``design:`` section of a batch spec) names its **factors** —
levers (what a policy maker chooses) and uncertainties (what nobody chooses) —
and a **method** that places design points over them:

* ``full_factorial`` — every combination of every factor's levels;
* ``lhs`` — a Latin hypercube of ``n`` points (``scipy.stats.qmc``);
* ``saltelli`` — Sobol/Saltelli sampling, ``n`` base points, ``n * (k + 2)``
  points (``SALib.sample.sobol``, no second-order terms);
* ``morris`` — ``n`` Morris trajectories on a ``levels``-level grid,
  ``n * (k + 1)`` points (``SALib.sample.morris``).

A factor is one of:

* **continuous** — ``range: [low, high]`` on a scenario key path; in a full
  factorial its ``levels`` (a list of values, or a count of evenly spaced ones);
* **integer** — as continuous with ``integer: true`` (sampled values rounded);
* **categorical** — ``values: [a, b, ...]`` on a key path (``key: scenario``
  picks the scenario), or ``values: {label: {key.path: value, ...}, ...}``:
  named bundles of overrides, e.g. an on/off policy
  (``{"off": {}, "on": {enforcement: 0.95}}``).

Samplers work on the unit cube: a categorical factor with *m* values takes
value ``floor(u * m)`` of a uniform coordinate *u*, an integer factor rounds
its scaled value, so every sampler can take every kind of factor. The same
design and seed always give the same points (``seed`` feeds the sampler).

Keys are scenario key paths (see :func:`abm.scenario.overrides_from`):
``world.packagers[TSMC CoWoS].capacity_wafers_per_week``, a position
``world.labs[0].intensity_growth_per_year``, every item ``labs[*]``, or a
foundry node ``world.foundries[SMIC].nodes[N+2].yield_fraction``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from abm.runs.batch import BatchSpec

SCENARIO_KEY = "scenario"
"""The key of a categorical factor that picks the scenario of each design point."""

Method = Literal["full_factorial", "lhs", "saltelli", "morris"]


def identifier(key: str) -> str:
    """An identifier-safe name for a key path (``world.labs[OpenAI].x`` -> ``world_labs_OpenAI_x``).

    Used where names must be Python identifiers (EMA Workbench parameters,
    SALib problem names shown in tables stay the factor's own names).
    """
    name = re.sub(r"[^0-9A-Za-z_]+", "_", key).strip("_")
    if not name:
        name = "factor"
    return f"f_{name}" if name[0].isdigit() else name


class Factor(BaseModel):
    """One factor of a design: a key path (or bundles of overrides) and its range or values.

    Attributes:
        key: Scenario key path the factor sets, or ``scenario``; None for a factor
            whose ``values`` are named bundles of overrides.
        name: Identifier-safe name (default: derived from ``key``).
        range: ``[low, high]`` of a continuous or integer factor.
        values: The values of a categorical factor: a list, or a mapping of labels
            to bundles of ``key.path: value`` overrides.
        integer: Round sampled values to whole numbers.
        levels: Full-factorial levels of a continuous factor: a list of values, or
            a count of evenly spaced values over ``range`` (default 2: the bounds).
        role: ``lever`` (chosen by policy) or ``uncertainty`` (not chosen).
    """

    model_config = ConfigDict(extra="forbid")

    key: str | None = None
    name: str | None = None
    range: tuple[float, float] | None = None
    values: list[Any] | dict[str, dict[str, Any]] | None = None
    integer: bool = False
    levels: list[float] | Annotated[int, Field(ge=2, le=1000)] | None = None
    role: Literal["lever", "uncertainty"] = "uncertainty"

    @field_validator("name")
    @classmethod
    def _identifier(cls, v: str | None) -> str | None:
        if v is not None and not v.isidentifier():
            raise ValueError(f"expected an identifier (letters, digits, _), got {v!r}")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Factor:
        if (self.range is None) == (self.values is None):
            raise ValueError("give either range: [low, high] or values: [...], not both")
        if self.range is not None:
            lo, hi = self.range
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"range: expected finite numbers, got [{lo}, {hi}]")
            if not lo < hi:
                raise ValueError(f"range: expected low < high, got [{lo}, {hi}]")
            if self.key is None:
                raise ValueError("a factor with a range needs a key (a scenario key path)")
            if self.key == SCENARIO_KEY:
                raise ValueError("key scenario: give the scenarios as values: [...]")
            if isinstance(self.levels, list):
                bad = [v for v in self.levels if not (math.isfinite(v) and lo <= v <= hi)]
                if bad or not self.levels:
                    raise ValueError(f"levels: expected values within [{lo}, {hi}], got {bad}")
        else:
            if self.levels is not None:
                raise ValueError("levels: only for a factor with a range (values are its levels)")
            if self.integer:
                raise ValueError("integer: only for a factor with a range")
            assert self.values is not None
            if len(self.values) < 1:
                raise ValueError("values: expected at least one value")
            if isinstance(self.values, dict):
                if self.key is not None:
                    raise ValueError(
                        "values as named bundles of overrides take no key (each bundle "
                        "names its keys)"
                    )
                if self.name is None:
                    raise ValueError("a factor of named bundles needs a name")
                for label, bundle in self.values.items():
                    if SCENARIO_KEY in bundle:
                        raise ValueError(f"values.{label}: a bundle cannot set the scenario")
            elif self.key is None:
                raise ValueError("a factor with a list of values needs a key")
            elif len({repr(v) for v in self.values}) != len(self.values):
                raise ValueError(f"values: duplicate values in {self.values}")
        return self

    @property
    def label(self) -> str:
        """The factor's name (given, or derived from its key)."""
        if self.name is not None:
            return self.name
        assert self.key is not None
        return self.key if self.key == SCENARIO_KEY else identifier(self.key)

    @property
    def kind(self) -> Literal["continuous", "integer", "categorical"]:
        """``continuous``, ``integer`` or ``categorical``."""
        if self.values is not None:
            return "categorical"
        return "integer" if self.integer else "continuous"

    def choices(self) -> list[Any]:
        """The values a categorical factor takes (bundle labels for bundles)."""
        assert self.values is not None
        return list(self.values) if isinstance(self.values, dict) else list(self.values)

    def grid(self) -> list[Any]:
        """The factor's full-factorial levels."""
        if self.values is not None:
            return self.choices()
        assert self.range is not None
        lo, hi = self.range
        if isinstance(self.levels, list):
            raw = [float(v) for v in self.levels]
        else:
            raw = [float(v) for v in np.linspace(lo, hi, self.levels or 2)]
        out = [int(round(v)) for v in raw] if self.integer else raw
        return list(dict.fromkeys(out))

    def from_unit(self, u: float) -> Any:
        """The factor's value at coordinate ``u`` in [0, 1] of the unit cube."""
        u = min(max(float(u), 0.0), 1.0)
        if self.values is not None:
            choices = self.choices()
            return choices[min(int(u * len(choices)), len(choices) - 1)]
        assert self.range is not None
        lo, hi = self.range
        v = lo + u * (hi - lo)
        return int(round(v)) if self.integer else float(v)

    def overrides(self, value: Any) -> dict[str, Any]:
        """The ``key.path -> value`` overrides this factor's ``value`` stands for."""
        if isinstance(self.values, dict):
            return dict(self.values[value])
        assert self.key is not None
        return {} if self.key == SCENARIO_KEY else {self.key: value}

    def key_paths(self) -> list[str]:
        """The scenario key paths the factor sets (none for ``scenario``)."""
        if isinstance(self.values, dict):
            return list(dict.fromkeys(k for b in self.values.values() for k in b))
        assert self.key is not None
        return [] if self.key == SCENARIO_KEY else [self.key]

    def bounds(self) -> tuple[float, float]:
        """Bounds in the sampler's problem (the range; [0, 1] for a categorical factor)."""
        return self.range if self.range is not None else (0.0, 1.0)


class Design(BaseModel):
    """Factors and the method that places the design points over them.

    Attributes:
        method: ``full_factorial``, ``lhs``, ``saltelli`` or ``morris``.
        n: Points (lhs), base points (saltelli) or trajectories (morris).
        levels: Grid levels of a Morris design (even, >= 2).
        seed: Seed of the sampler.
        factors: The factors (a list).
        factors_from: A calibration file whose ``search.parameters`` become
            continuous (or integer) factors too (``calibration``: the library's).
    """

    model_config = ConfigDict(extra="forbid")

    method: Method
    n: Annotated[int, Field(gt=0, le=100_000)] | None = None
    levels: Annotated[int, Field(ge=2, le=100)] = 4
    seed: int = 0
    factors: list[Factor] = Field(default_factory=list)
    factors_from: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Design:
        if self.factors_from is not None:
            self.factors = [*self.factors, *calibration_factors(self.factors_from)]
            self.factors_from = None  # resolved: the spec's hash and manifest hold the factors
        if not self.factors:
            raise ValueError("factors: expected at least one factor")
        names = [f.label for f in self.factors]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"factors: two factors share the name {dup[0]!r}; give each a name")
        keys = [k for f in self.factors for k in f.key_paths()]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"factors: the key {twice[0]!r} is set by two factors")
        if sum(f.key == SCENARIO_KEY for f in self.factors) > 1:
            raise ValueError("factors: only one factor may pick the scenario")
        if self.method != "full_factorial" and self.n is None:
            raise ValueError(f"n: a {self.method} design needs n")
        if self.method == "full_factorial" and self.n is not None:
            raise ValueError("n: a full_factorial design has no n (its levels say how many)")
        if self.method == "morris" and self.levels % 2:
            raise ValueError(f"levels: a Morris grid needs an even number, got {self.levels}")
        if self.method == "saltelli" and self.n is not None and self.n & (self.n - 1):
            raise ValueError(f"n: Saltelli sampling needs a power of 2, got {self.n}")
        return self

    # ------------------------------------------------------------ the points

    @property
    def names(self) -> list[str]:
        """Factor names, in order."""
        return [f.label for f in self.factors]

    def scenario_factor(self) -> Factor | None:
        """The factor that picks the scenario, if any."""
        return next((f for f in self.factors if f.key == SCENARIO_KEY), None)

    def problem(self) -> dict[str, Any]:
        """The SALib problem (names and bounds; categorical factors on [0, 1])."""
        return {
            "num_vars": len(self.factors),
            "names": self.names,
            "bounds": [list(f.bounds()) for f in self.factors],
        }

    def size(self) -> int:
        """Number of design points."""
        k = len(self.factors)
        if self.method == "full_factorial":
            return math.prod(len(f.grid()) for f in self.factors)
        assert self.n is not None
        return {"lhs": self.n, "saltelli": self.n * (k + 2), "morris": self.n * (k + 1)}[
            self.method
        ]

    def matrix(self) -> np.ndarray:
        """The sampler's matrix, one row per point, in the problem's bounds.

        For ``morris`` and ``saltelli`` this is the ``X`` SALib's analysis
        takes. Full-factorial designs have no matrix (their points are levels).
        """
        problem = self.problem()
        if self.method == "saltelli":
            from SALib.sample import sobol as sobol_sample

            return np.asarray(
                sobol_sample.sample(problem, self.n, calc_second_order=False, seed=self.seed)
            )
        if self.method == "morris":
            from SALib.sample import morris as morris_sample

            return np.asarray(
                morris_sample.sample(problem, self.n, num_levels=self.levels, seed=self.seed)
            )
        if self.method == "lhs":
            from scipy.stats import qmc

            unit = qmc.LatinHypercube(d=len(self.factors), seed=self.seed).random(self.n)
            lo = np.array([f.bounds()[0] for f in self.factors])
            hi = np.array([f.bounds()[1] for f in self.factors])
            return np.asarray(lo + unit * (hi - lo))
        raise ValueError("a full_factorial design has no sample matrix")

    def points(self) -> list[dict[str, Any]]:
        """The design points: factor name -> value (a scenario, a bundle label, a number)."""
        if self.method == "full_factorial":
            grids = [f.grid() for f in self.factors]
            idx = np.indices([len(g) for g in grids]).reshape(len(grids), -1).T
            return [
                {f.label: g[i] for f, g, i in zip(self.factors, grids, row, strict=True)}
                for row in idx
            ]
        x = self.matrix()
        out = []
        for row in x:
            point = {}
            for f, v in zip(self.factors, row, strict=True):
                lo, hi = f.bounds()
                point[f.label] = f.from_unit((v - lo) / (hi - lo))
            out.append(point)
        return out

    def split(self, point: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """A point as (its scenario or None, its ``key.path`` overrides)."""
        scenario = None
        params: dict[str, Any] = {}
        for f in self.factors:
            value = point[f.label]
            if f.key == SCENARIO_KEY:
                scenario = str(value)
            params.update(f.overrides(value))
        return scenario, params

    def key_values(self) -> dict[str, list[Any]]:
        """Each key path the design sets, with the values to check it with (bounds, levels)."""
        out: dict[str, list[Any]] = {}
        for f in self.factors:
            if isinstance(f.values, dict):
                for bundle in f.values.values():
                    for k, v in bundle.items():
                        out.setdefault(k, []).append(v)
            elif f.key == SCENARIO_KEY:
                continue
            elif f.values is not None:
                assert f.key is not None
                out[f.key] = list(f.values)
            else:
                assert f.key is not None
                out[f.key] = list(dict.fromkeys([f.from_unit(0.0), f.from_unit(1.0), *f.grid()]))
        return out


class _Declared(BaseModel):
    """A free parameter of a calibration file (the fields a design needs)."""

    model_config = ConfigDict(extra="ignore")

    path: str
    low: float
    high: float
    integer: bool = False


def calibration_factors(source: str | Path) -> list[Factor]:
    """Factors from a calibration file's declared free parameters (``search.parameters``).

    The file is the one ``abm calibrate`` reads (validated in full there); here
    only each parameter's ``path``, ``low``, ``high`` and ``integer`` are read.

    Args:
        source: ``calibration`` (the library's ``scenarios/calibration.yaml``) or a path.

    Raises:
        ValueError: one line naming the file and field, if it cannot be read.
    """
    from pydantic import ValidationError

    from abm.scenario import SCENARIO_DIR, ScenarioError, read_yaml

    path = SCENARIO_DIR / "calibration.yaml" if str(source) == "calibration" else Path(source)
    if not path.is_file():
        raise ValueError(f"factors_from: {path}: no such calibration file")
    try:
        data = read_yaml(path)
    except ScenarioError as exc:
        raise ValueError(f"factors_from: {exc}") from None
    items = (data.get("search") or {}).get("parameters") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"factors_from: {path}: expected a list search.parameters")
    out = []
    for i, item in enumerate(items):
        try:
            p = _Declared.model_validate(item)
            out.append(
                Factor(key=p.path, range=(p.low, p.high), integer=p.integer, role="uncertainty")
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ValueError(
                f"factors_from: {path}: search.parameters[{i}]{'.' + where if where else ''}: "
                f"{first['msg'].removeprefix('Value error, ')}"
            ) from None
    return out


def describe(design: Design) -> list[tuple[str, str, str, str]]:
    """One row per factor: name, kind, key(s) and range or values (for printing)."""
    rows = []
    for f in design.factors:
        where = f.key if f.key is not None else ", ".join(f.key_paths()) or "-"
        if f.range is not None:
            span = f"[{f.range[0]:g}, {f.range[1]:g}]"
        else:
            span = ", ".join(map(str, f.choices()))
        rows.append((f.label, f"{f.kind} {f.role}", where, span))
    return rows


def estimate_seconds(
    per_run_s: Sequence[float], runs: int, workers: int, weeks_timed: int, weeks: int
) -> float:
    """Wall time of ``runs`` runs of ``weeks`` weeks on ``workers`` processes.

    Args:
        per_run_s: Seconds of the timed runs (each ``weeks_timed`` weeks long).
        runs: Runs in the batch.
        workers: Worker processes (runs in parallel, at most the runs).
        weeks_timed: Weeks of the timing runs.
        weeks: Weeks of each batch run.
    """
    per_week = float(np.median(per_run_s)) / max(weeks_timed, 1)
    waves = math.ceil(runs / max(1, min(workers, runs)))
    return per_week * weeks * waves


def plan(spec: BatchSpec, workers: int = 1, timing_weeks: int | None = None) -> list[str]:
    """What a batch would run, and an estimate of its wall time (``abm batch --dry-run``).

    The design's keys are checked against every scenario first (as the batch
    does); then the batch's first run is run for real into a temporary folder
    (building, stepping, writing its files), for ``timing_weeks`` weeks (default:
    its whole horizon, as a model's later weeks cost more than its first), and
    that time is scaled to the batch's horizon and runs per worker.

    Args:
        spec: The batch spec.
        workers: Worker processes the batch would use.
        timing_weeks: Weeks of the timing run (default: the horizon).

    Returns:
        Lines to print.

    Raises:
        BatchError: for a design key that addresses nothing (as the batch would).
    """
    import dataclasses
    import tempfile

    from abm.runs.batch import check_design, run_task
    from abm.scenario import load_scenario

    notes: list[str] = []
    check_design(spec, notes.append)
    tasks = spec.tasks()
    first = tasks[0]
    horizon = spec.weeks or load_scenario(first.scenario).weeks
    timed = min(timing_weeks or horizon, horizon)
    with tempfile.TemporaryDirectory(prefix="abm-dry-run-") as tmp:
        result = run_task(dataclasses.replace(first, weeks=timed), tmp)
    if result["status"] != "completed":
        notes.append(f"the timing run failed: {str(result['error']).splitlines()[0]}")
    seconds = float(result["duration_s"])
    per_run = seconds / timed * horizon
    total = estimate_seconds([seconds], len(tasks), workers, timed, horizon)
    n_points = len({(t.scenario, t.run_id.rsplit("-s", 1)[0]) for t in tasks})
    lines = []
    if spec.design is not None:
        d = spec.design
        lines.append(
            f"design: {d.method}, {len(d.factors)} factors, {d.size()} points"
            + (f" (n = {d.n})" if d.n is not None else "")
        )
        for name, kind, key, span in describe(d):
            lines.append(f"  {name}: {kind}, {key}: {span}")
    elif spec.sample is not None:
        lines.append(f"design: {spec.sample.method}, {len(spec.sample.ranges)} ranges")
    elif spec.sweep:
        lines.append(f"design: sweep over {', '.join(spec.sweep)}")
    seeds = len(spec.seed_list())
    lines.append(
        f"runs: {len(tasks):,} ({len(spec.scenarios)} scenario(s), {n_points:,} scenario "
        f"points x {seeds} seed(s)), {horizon} weeks each"
    )
    lines.append(
        f"timing run: {first.run_id}, {timed} weeks in {seconds:.2f} s (files written)"
        + (f" -> about {per_run:.1f} s per {horizon}-week run" if timed != horizon else "")
    )
    lines.append(
        f"estimated wall time with --workers {workers}: {_duration(total)} "
        f"({math.ceil(len(tasks) / max(1, min(workers, len(tasks))))} runs per worker; "
        "other processes on the machine add to it)"
    )
    lines.extend(f"note: {n}" for n in notes)
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
