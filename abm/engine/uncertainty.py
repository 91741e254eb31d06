"""Declared structural uncertainty, sampled once per seed before the world is built.

A scenario's ``uncertainties:`` lists inputs we do not know well as
distributions over a range (or a ``factor`` range around the scenario's own
value), and its ``disruptions:`` lists shocks with a base rate per year. For a
seed, :func:`sample_scenario` draws every entry from its own random stream,
derived from (seed, ``"uncertainty"``, path) or (seed, ``"disruption"``, name)
only, applies the values through the same key paths batch sweeps and the
calibration use (:func:`abm.scenario.overrides_from`), turns the disruptions'
occurrences into ordinary shocks and returns the scenario to build plus a
record of the draws (:class:`Draws`; the run's manifest and ``uncertainty_draw``
events carry it).

Common random numbers: an entry's draw depends on nothing but the seed and the
entry, so a policy scenario that extends the baseline gets, for the same seed,
the same values as the baseline (a factor applies the same multiplier to the
scenario's own value), whatever other entries exist.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from pydantic import ValidationError

from abm.scenario import Scenario, ScenarioError, deep_merge, expand_key_path, overrides_from
from abm.scenario.errors import ScenarioCheckError, first_error
from abm.scenario.schema import MAX_OCCURRENCES, DisruptionSpec, UncertaintySpec

WEEKS_PER_YEAR = 52.1775
"""Mean weeks in a calendar year (365.2425 / 7), for rates per year."""


def derive_stream(seed: int, kind: str, name: str) -> np.random.Generator:
    """An independent random stream derived from (seed, kind, name) only.

    :meth:`abm.engine.model.SupplyChainModel.stream` is this function for the
    model's seed; the sampler uses it before the model exists.
    """
    key = [int(seed), zlib.crc32(kind.encode()), zlib.crc32(name.encode())]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


def quantile(u: UncertaintySpec, q: float) -> float:
    """The value of ``u``'s distribution at the probability ``q`` (inverse CDF).

    One uniform draw per entry, turned into a value here, so the number of draws
    never depends on the distribution chosen.
    """
    lo, hi = u.low, u.high
    if hi == lo:
        return lo
    if u.distribution == "uniform":
        return lo + q * (hi - lo)
    if u.distribution == "loguniform":
        return math.exp(math.log(lo) + q * (math.log(hi) - math.log(lo)))
    mode = lo if u.mode is None else u.mode  # triangular (the schema requires a mode)
    cut = (mode - lo) / (hi - lo)
    if q < cut:
        return lo + math.sqrt(q * (hi - lo) * (mode - lo))
    return hi - math.sqrt((1 - q) * (hi - lo) * (hi - mode))


def scale_growth(points: list[Any], factor: float) -> list[list[Any]]:
    """A trend path whose logarithmic growth from its first point is multiplied by ``factor``.

    ``v_i -> v_0 * (v_i / v_0) ** factor``: a path that grows 10x grows 10**f x;
    the first point stays. A path starting at 0 (or a point at 0) is unchanged.
    """
    v0 = float(points[0][1])
    if v0 <= 0:
        return [list(p) for p in points]
    return [[d, v0 * (float(v) / v0) ** factor if v > 0 else v] for d, v in points]


@dataclass(frozen=True, slots=True)
class Draw:
    """What one declared uncertainty drew for a seed.

    Attributes:
        path: The path as declared.
        distribution: Its distribution.
        q: The uniform draw (probability) behind the value.
        draw: The value drawn (a multiplier when ``factor``).
        factor: Whether the draw multiplies the scenario's own values.
        fields: Each field set, by name, with the value it got (a trend path:
            its last point's value).
    """

    path: str
    distribution: str
    q: float
    draw: float
    factor: bool
    fields: dict[str, float]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of a disruption, turned into a shock on each target."""

    name: str
    kind: str
    start: date
    factor: float
    weeks: int
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Draws:
    """Every draw of a run (empty when the scenario declares none or sampling is off).

    Attributes:
        sampled: Whether sampling was on and something was declared.
        values: One :class:`Draw` per declared uncertainty.
        occurrences: The disruptions' occurrences, in order of start date.
    """

    sampled: bool = False
    values: tuple[Draw, ...] = ()
    occurrences: tuple[Occurrence, ...] = field(default=())

    def record(self) -> dict[str, Any]:
        """The draws as plain JSON (the run manifest's ``uncertainty`` entry)."""
        return {
            "sampled": self.sampled,
            "values": {
                d.path: {
                    "distribution": d.distribution,
                    "q": d.q,
                    "draw": d.draw,
                    "factor": d.factor,
                    "fields": d.fields,
                }
                for d in self.values
            },
            "disruptions": [
                {
                    "name": o.name,
                    "kind": o.kind,
                    "start": o.start.isoformat(),
                    "factor": o.factor,
                    "weeks": o.weeks,
                    "targets": list(o.targets),
                }
                for o in self.occurrences
            ],
        }


def _draw_value(u: UncertaintySpec, data: dict[str, Any], seed: int) -> tuple[Draw, dict[str, Any]]:
    q = float(derive_stream(seed, "uncertainty", u.path).random())
    x = quantile(u, q)
    params: dict[str, Any] = {}
    shown: dict[str, float] = {}
    for where, current in expand_key_path(data, u.path):
        if u.factor and isinstance(current, list):
            params[where] = scale_growth(current, x)
            shown[where] = float(params[where][-1][1])
            continue
        value: float | int = current * x if u.factor else x
        if u.integer:
            value = round(value)
        params[where] = value
        shown[where] = float(value)
    return Draw(u.path, u.distribution, q, x, u.factor, shown), params


def occurrences(d: DisruptionSpec, seed: int, start: date, weeks: int) -> list[Occurrence]:
    """The occurrences of a disruption over a horizon, drawn from its own stream.

    Waiting times are exponential (a Poisson process of ``rate_per_year``);
    each occurrence draws its severity and duration right after its waiting
    time, so a longer horizon only adds occurrences at the end.
    """
    if d.rate_per_year <= 0:
        return []
    rng = derive_stream(seed, "disruption", d.name)
    t = max(0.0, (d.first - start).days / 7) if d.first is not None else 0.0
    out: list[Occurrence] = []
    while len(out) < MAX_OCCURRENCES:
        t += float(rng.exponential(WEEKS_PER_YEAR / d.rate_per_year))
        factor = d.factor.low + float(rng.random()) * (d.factor.high - d.factor.low)
        length = int(rng.integers(d.weeks.low, d.weeks.high + 1))
        if t >= weeks:  # in weeks, not dates: a horizon may end near date.max
            break
        day = start + timedelta(weeks=int(t))
        out.append(Occurrence(d.name, d.kind, day, factor, length, tuple(d.targets)))
    return out


def sample_scenario(spec: Scenario, seed: int, enabled: bool = True) -> tuple[Scenario, Draws]:
    """The scenario one seed runs, with its uncertainties drawn and its disruptions placed.

    Args:
        spec: The validated scenario (calibration applied).
        seed: The run's seed.
        enabled: False to run the declared values (as ``uncertainty: off``).

    Returns:
        The scenario to build (``uncertainty`` false, so it is never sampled
        twice) and the record of the draws.

    Raises:
        ScenarioError: if a drawn value is refused by the schema (one line).
    """
    if not (enabled and spec.uncertainty) or not (spec.uncertainties or spec.disruptions):
        return spec, Draws()
    data = spec.model_dump(mode="json")
    params: dict[str, Any] = {}
    values: list[Draw] = []
    for u in spec.uncertainties:
        drawn, fields = _draw_value(u, data, seed)
        values.append(drawn)
        params.update(fields)
    events = sorted(
        (o for d in spec.disruptions for o in occurrences(d, seed, spec.start_date, spec.weeks)),
        key=lambda o: (o.start, o.name),
    )
    merged = deep_merge(data, overrides_from(params)) if params else data
    merged["shocks"] = list(data["shocks"]) + [
        {
            "kind": o.kind,
            "target": target,
            "start": o.start.isoformat(),
            "factor": o.factor,
            "weeks": o.weeks,
            "sources": {"factor": src, "weeks": src, "start": src},
        }
        for o in events
        for target, src in zip(o.targets, _sources(spec, o), strict=True)
    ]
    merged["uncertainty"] = False
    try:
        sampled = Scenario.model_validate(merged)
    except (ValidationError, ScenarioCheckError) as exc:
        raise ScenarioError(
            first_error(f"{spec.name} (uncertainty draw, seed {seed})", exc, model=Scenario)
        ) from None
    return sampled, Draws(True, tuple(values), tuple(events))


def _sources(spec: Scenario, o: Occurrence) -> list[str]:
    src = next(d.source for d in spec.disruptions if d.name == o.name)
    return [src] * len(o.targets)
