"""Calibration targets as data: load ``scenarios/targets.yaml`` and check a run against it.

Each target is one statistic of one metric series over a date window with a
pass band (see the header of ``scenarios/targets.yaml``). The checks are pure
functions over arrays of dates and values, so they are tested on synthetic
series and used unchanged by ``abm validate`` and ``abm calibrate``.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from abm.scenario import ScenarioError, first_error, load_references, read_yaml
from abm.scenario.library import TARGETS_FILE_NAME, library_file

TARGETS_FILE = library_file(TARGETS_FILE_NAME)

Statistic = Literal["mean", "sum", "min", "max", "min4", "weeks_to_above", "growth", "rebound"]


class Target(BaseModel):
    """One check of the model against an observed fact."""

    model_config = ConfigDict(extra="forbid")

    id: str
    group: str
    title: str
    observed: str
    metric: str
    scope: str
    statistic: Statistic
    window: tuple[date, date]
    reference_window: tuple[date, date] | None = None
    threshold: float | None = None
    lower: float | None = None
    upper: float | None = None
    sources: list[str] = Field(min_length=1)
    tolerance: str

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.lower is None and self.upper is None:
            raise ValueError("lower/upper: give at least one bound")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower: expected <= upper, got {self.lower} > {self.upper}")
        if not self.window[0] < self.window[1]:
            raise ValueError("window: expected [start, end] with start < end")
        if self.statistic == "rebound" and self.reference_window is None:
            raise ValueError("reference_window: required by statistic 'rebound'")
        if self.statistic == "weeks_to_above" and self.threshold is None:
            raise ValueError("threshold: required by statistic 'weeks_to_above'")
        return self

    @property
    def band(self) -> str:
        """The pass band in words, e.g. ``>= 36`` or ``1.4 - 2.1``."""
        if self.lower is not None and self.upper is not None:
            return f"{_fmt(self.lower)} - {_fmt(self.upper)}"
        if self.lower is not None:
            return f">= {_fmt(self.lower)}"
        assert self.upper is not None  # the validator requires a bound
        return f"<= {_fmt(self.upper)}"

    def passes(self, value: float) -> bool:
        """True when ``value`` lies in the band (NaN never passes)."""
        if math.isnan(value):
            return False
        return (self.lower is None or value >= self.lower) and (
            self.upper is None or value <= self.upper
        )

    def miss(self, value: float) -> float:
        """Distance outside the band, relative to the band's scale (0 inside; 10 for NaN)."""
        if math.isnan(value):
            return 10.0
        scale = max(abs(b) for b in (self.lower, self.upper) if b is not None) or 1.0
        if self.lower is not None and value < self.lower:
            return (self.lower - value) / scale
        if self.upper is not None and value > self.upper:
            return (value - self.upper) / scale
        return 0.0


class TargetSet(BaseModel):
    """The targets file."""

    model_config = ConfigDict(extra="forbid")

    pass_share: float = Field(0.8, gt=0, le=1)
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TargetSet:
        ids = [t.id for t in self.targets]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"targets: duplicate ids {dup}")
        return self

    def series_needed(self) -> set[tuple[str, str]]:
        """The (metric, scope) pairs the checks read."""
        return {(t.metric, t.scope) for t in self.targets}


def load_targets(path: str | Path = TARGETS_FILE) -> TargetSet:
    """Read and validate a targets file; every source id must exist in references.yaml.

    Raises:
        ScenarioError: naming the file, the field and what was expected.
    """
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"{path}: no such targets file")
    try:
        targets = TargetSet.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ScenarioError(first_error(path, exc)) from None
    refs = load_references()
    for t in targets.targets:
        for s in t.sources:
            if s not in refs:
                raise ScenarioError(
                    f"{path}: targets[{t.id}].sources: unknown reference {s!r} "
                    "(expected an id from scenarios/references.yaml)"
                )
    return targets


def statistic(target: Target, dates: np.ndarray, values: np.ndarray) -> float:
    """The target's statistic of one series (``dates`` as numpy datetime64[D]).

    Returns NaN when the window holds no data.
    """
    sel = _window(dates, target.window)
    v = values[sel]
    if v.size == 0:
        return float("nan")
    match target.statistic:
        case "mean":
            return float(v.mean())
        case "sum":
            return float(v.sum())
        case "min":
            return float(v.min())
        case "max":
            return float(v.max())
        case "min4":
            return _min4(v)
        case "growth":
            return float(v[-1] / v[0]) if v[0] > 0 else float("nan")
        case "weeks_to_above":
            above = np.flatnonzero(v > target.threshold)
            return float(above[0]) if above.size else float(v.size)
        case "rebound":
            ref = values[_window(dates, target.reference_window)]
            low = _min4(ref) if ref.size else float("nan")
            return float(v.mean() / low) if low > 0 else float("nan")
    raise AssertionError(target.statistic)  # pragma: no cover - Literal covers it


def _window(dates: np.ndarray, window: tuple[date, date] | None) -> np.ndarray:
    assert window is not None
    a, b = (np.datetime64(d, "D") for d in window)
    return (dates >= a) & (dates < b)


def _min4(v: np.ndarray) -> float:
    if v.size < 4:
        return float(v.mean())
    return float(np.convolve(v, np.ones(4) / 4, mode="valid").min())


def _fmt(x: float) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def evaluate_run(
    targets: TargetSet, series: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """Every target's statistic for one run.

    Args:
        targets: The target set.
        series: ``(metric, scope) -> (dates, values)``; a missing series gives NaN.
    """
    out = {}
    for t in targets.targets:
        if (t.metric, t.scope) not in series:
            out[t.id] = float("nan")
            continue
        dates, values = series[(t.metric, t.scope)]
        out[t.id] = statistic(t, dates, values)
    return out


def loss(targets: TargetSet, values: dict[str, float]) -> float:
    """Calibration objective of one run: the sum of the targets' relative misses."""
    return float(sum(t.miss(values[t.id]) for t in targets.targets))
