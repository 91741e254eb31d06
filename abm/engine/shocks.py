"""Shocks: scheduled changes to the world, named in scenario files by ``kind``.

Each kind is a class registered under its scenario name with one ``apply``
hook, called at stage 1 of every step while the shock may be active. Hooks
only set multipliers that the model resets to 1 at the start of each step,
so shocks compose by multiplication and switch off cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from abm.scenario import CapacityShock, ConsumerSurge, EnterpriseShock

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

ShockHook = Callable[["SupplyChainModel", Any, int], None]
"""A shock kind's hook: ``(model, shock, step)``.

``shock`` is the spec of the kind the hook is registered under (each hook names
its own class; one hook cannot take every kind, hence ``Any`` here).
"""
REGISTRY: dict[str, ShockHook] = {}


def register(kind: str) -> Callable[[ShockHook], ShockHook]:
    """Register a shock hook under the scenario name ``kind``."""

    def deco(fn: ShockHook) -> ShockHook:
        REGISTRY[kind] = fn
        return fn

    return deco


def surge_multiplier(shock: ConsumerSurge, weeks_since_start: float) -> float:
    """User multiplier of a consumer surge ``weeks_since_start`` after it began.

    Ramps linearly to ``factor`` over ``ramp_weeks``, holds for
    ``hold_weeks``, then decays with ``decay_half_life_weeks`` toward
    ``1 + persistence * (factor - 1)`` (the share of new users who stay).
    """
    t = weeks_since_start
    if t < 0:
        return 1.0
    peak = shock.factor - 1.0
    if t < shock.ramp_weeks:
        return 1.0 + peak * (t + 1) / shock.ramp_weeks
    t -= shock.ramp_weeks
    if t < shock.hold_weeks:
        return shock.factor
    t -= shock.hold_weeks
    stay = shock.persistence * peak
    return 1.0 + stay + (peak - stay) * 0.5 ** (t / shock.decay_half_life_weeks)


@register("consumer_surge")
def _consumer_surge(model: SupplyChainModel, shock: ConsumerSurge, step: int) -> None:
    t = step - model.step_of(shock.start)
    if t >= 0:
        model.cast.lab[shock.target].user_multiplier *= surge_multiplier(shock, t)


@register("capacity_shock")
def _capacity_shock(model: SupplyChainModel, shock: CapacityShock, step: int) -> None:
    t = step - model.step_of(shock.start)
    if 0 <= t < shock.weeks:
        for line in model.cast.supplier[shock.target].lines.values():
            line.multiplier *= shock.factor
        if t == 0:
            model.cast.supplier[shock.target].log(
                "capacity_shock",
                quantity=shock.factor,
                detail=f"usable capacity x{shock.factor} for {shock.weeks} weeks",
            )


@register("enterprise_demand_shock")
def _enterprise_shock(model: SupplyChainModel, shock: EnterpriseShock, step: int) -> None:
    t = step - model.step_of(shock.start)
    if 0 <= t < shock.weeks:
        model.enterprise_multiplier[shock.target] *= shock.factor
