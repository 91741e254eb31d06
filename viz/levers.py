"""Policy levers of the UI and how each maps to scenario overrides.

A lever's default is read from the scenario being run, so a lever left alone
changes nothing; moved, it becomes a nested override merged over the
scenario file by :func:`abm.scenario.load_scenario` (the same merge as
``abm batch --sweep``). A lever whose target the scenario lacks (e.g. no
CoWoS packager in a custom world) is reported as unavailable.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from abm.scenario import ConsumerSurge, FoundrySpec, PackagerSpec, Scenario, Threshold


@dataclass(frozen=True)
class Lever:
    """One slider of the page.

    Attributes:
        key: Identifier (also the slider's aria label suffix).
        label: Text shown next to the slider.
        lo: Smallest value.
        hi: Largest value.
        step: Slider step.
        help: One line on what the lever changes in the scenario.
    """

    key: str
    label: str
    lo: float
    hi: float
    step: float
    help: str


LEVERS: tuple[Lever, ...] = (
    Lever(
        "tpp_threshold",
        "Control threshold (TPP)",
        1600,
        20000,
        200,
        "Every rule bound at the scenario's headline TPP threshold (4,800) moves to this value.",
    ),
    Lever(
        "enforcement",
        "Enforcement strength",
        0.0,
        1.0,
        0.05,
        "Scenario `enforcement`: chance of catching diverted shipments rises with it.",
    ),
    Lever(
        "cowos_growth",
        "CoWoS capacity growth (max /yr)",
        0.0,
        8.0,  # the calibration's search range reaches 8 (scenarios/calibration.yaml)
        0.1,
        "TSMC CoWoS `growth.max_growth_per_year` (3.0 = capacity can quadruple in a year).",
    ),
    Lever(
        "domestic_yield",
        "Domestic yield (SMIC)",
        0.1,
        0.95,
        0.05,
        "`yield_fraction` of every node of the Chinese foundry.",
    ),
    Lever(
        "surge_size",
        "Consumer surge size (x users)",
        1.0,
        3.0,
        0.1,
        "`factor` of the scenario's consumer surges (DevDay: x1.5).",
    ),
    Lever(
        "enterprise_growth",
        "Enterprise-demand growth (x rate)",
        0.5,
        3.0,
        0.1,
        "Enterprise demand paths grow this many times as fast (log scale) as in the file.",
    ),
    Lever("seed", "Seed", 0, 99, 1, "Seed of every random stream."),
)
"""Levers in page order."""

LEVER_BY_KEY = {lv.key: lv for lv in LEVERS}


def headline_tpp(spec: Scenario) -> float | None:
    """The scenario's headline TPP threshold: the most common ``tpp >= X`` bound of its rules."""
    bounds = Counter(
        clause.tpp.ge
        for rule in spec.policies
        for clause in rule.controlled
        if clause.tpp is not None and clause.tpp.ge is not None
    )
    if not bounds:
        return None
    return float(max(bounds.items(), key=lambda kv: (kv[1], -kv[0]))[0])


def _cowos(spec: Scenario) -> PackagerSpec | None:
    return next((p for p in spec.world.packagers if "cowos" in p.name.lower()), None)


def _domestic_foundry(spec: Scenario) -> FoundrySpec | None:
    return next((f for f in spec.world.foundries if f.country == "CN"), None)


def _surges(spec: Scenario) -> list[ConsumerSurge]:
    return [s for s in spec.shocks if isinstance(s, ConsumerSurge)]


def lever_defaults(spec: Scenario, seed: int = 1) -> dict[str, float | None]:
    """Each lever's value in ``spec`` (None: the scenario has nothing it could change)."""
    foundry = _domestic_foundry(spec)
    cowos = _cowos(spec)
    surges = _surges(spec)
    return {
        "tpp_threshold": headline_tpp(spec),
        "enforcement": float(spec.enforcement),
        "cowos_growth": float(cowos.growth.max_growth_per_year) if cowos else None,
        "domestic_yield": float(foundry.nodes[0].yield_fraction) if foundry else None,
        "surge_size": float(surges[0].factor) if surges else None,
        "enterprise_growth": 1.0 if spec.world.enterprises else None,
        "seed": float(seed),
    }


def _moved(
    values: dict[str, float | None], defaults: dict[str, float | None], key: str
) -> tuple[float, float] | None:
    """``(scenario's value, lever's value)`` when the user moved a lever off it, else None.

    A slider snaps to its step, so a value within half a step of the scenario's own
    (e.g. the calibrated CoWoS growth 5.664 shown as 5.7) counts as unchanged.
    """
    v, d = values.get(key), defaults.get(key)
    if v is None or d is None:
        return None
    lever = next((lv for lv in LEVERS if lv.key == key), None)
    tol = lever.step / 2 if lever is not None and key != "seed" else 1e-9
    return (d, v) if abs(v - d) > tol + 1e-9 else None


def _changed(values: dict[str, float | None], defaults: dict[str, float | None], key: str) -> bool:
    """True when the user moved a lever off the scenario's value (see :func:`_moved`)."""
    return _moved(values, defaults, key) is not None


def _move_tpp(threshold: Threshold, old: float, new: float) -> dict[str, Any]:
    out = threshold.model_dump(exclude_unset=True)
    for bound, value in out.items():
        if value is not None and math.isclose(value, old):
            out[bound] = new
    return out


def _grow_path(points: list[tuple[Any, float]], rate: float) -> list[list[Any]]:
    """Scale a demand path's log-growth from its first point by ``rate``."""
    first = points[0][1]
    if first <= 0:
        return [[d, v] for d, v in points]
    return [[d, first * (v / first) ** rate if v > 0 else 0.0] for d, v in points]


def lever_overrides(spec: Scenario, values: dict[str, float | None]) -> dict[str, Any]:
    """Nested scenario overrides for the levers moved away from ``spec``'s own values.

    Args:
        spec: The scenario as loaded (without lever overrides).
        values: Lever values by key (``seed`` is ignored here: it is not a
            scenario field).

    Returns:
        A mapping for ``load_scenario(..., overrides=...)``; empty when no
        lever moved.
    """
    defaults = lever_defaults(spec)
    out: dict[str, Any] = {}
    if (tpp := _moved(values, defaults, "tpp_threshold")) is not None:
        old, new = tpp[0], float(tpp[1])
        rules = []
        for rule in spec.policies:
            clauses = []
            touched = False
            for clause in rule.controlled:
                c = clause.model_dump(exclude_unset=True)
                if clause.tpp is not None:
                    moved = _move_tpp(clause.tpp, old, new)
                    touched |= moved != clause.tpp.model_dump(exclude_unset=True)
                    c["tpp"] = moved
                clauses.append(c)
            if touched:
                rules.append({"id": rule.id, "controlled": clauses})
        if rules:
            out["policies"] = rules
    if (enforcement := _moved(values, defaults, "enforcement")) is not None:
        out["enforcement"] = float(enforcement[1])
    world: dict[str, Any] = {}
    # a lever has a scenario value (so it can move) only when its target exists
    cowos = _cowos(spec)
    if cowos is not None and (growth := _moved(values, defaults, "cowos_growth")) is not None:
        world["packagers"] = [
            {"name": cowos.name, "growth": {"max_growth_per_year": float(growth[1])}}
        ]
    foundry = _domestic_foundry(spec)
    if foundry is not None and (yf := _moved(values, defaults, "domestic_yield")) is not None:
        nodes = [
            {**n.model_dump(exclude_unset=True), "yield_fraction": float(yf[1])}
            for n in foundry.nodes
        ]
        world["foundries"] = [{"name": foundry.name, "nodes": nodes}]
    if (enterprise := _moved(values, defaults, "enterprise_growth")) is not None:
        rate = float(enterprise[1])
        world["enterprises"] = [
            {"name": e.name, "demand_path_h100e": _grow_path(e.demand_path_h100e, rate)}
            for e in spec.world.enterprises
        ]
    if world:
        out["world"] = world
    if (surge := _moved(values, defaults, "surge_size")) is not None:
        factor = float(surge[1])
        out["shocks"] = [
            {**s.model_dump(exclude_unset=True), "factor": factor}
            if s.kind == "consumer_surge"
            else s.model_dump(exclude_unset=True)
            for s in spec.shocks
        ]
    return out


def describe_levers(spec: Scenario, values: dict[str, float | None]) -> list[str]:
    """``label = value`` for each lever moved away from the scenario's own value."""
    defaults = lever_defaults(spec)
    return [
        f"{lv.label} = {_fmt(values[lv.key])}"
        for lv in LEVERS
        if lv.key != "seed" and _changed(values, defaults, lv.key)
    ]


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"
