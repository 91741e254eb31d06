"""The model as an EMA Workbench ``Model``: explore it with EMA's samplers, PRIM and optimisers.

EMA parameters need identifier names; the model's parameters are key paths
with brackets (``world.packagers[TSMC CoWoS].growth.max_growth_per_year``).
Each factor (:class:`abm.runs.design.Factor`) becomes one EMA parameter named
by its identifier-safe label, and :attr:`AbmFunction.keys` maps every name
back to its key path. Outcomes are the batch KPIs (:func:`abm.runs.batch.kpis`).

Example::

    from ema_workbench import perform_experiments
    from abm.ema import ema_model

    model = ema_model("baseline", weeks=104)  # declared parameters + enforcement lever
    experiments, outcomes = perform_experiments(model, scenarios=20, policies=2)

Runs are reproducible: an experiment's seed is ``seed`` (or the ``seed``
uncertainty when ``seeds`` is given), so two experiments with the same
parameter values give the same outcomes (common random numbers across
policies). A factor that sets a declared uncertainty fixes it (as in a
``design:`` batch).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from abm.runs.design import SCENARIO_KEY, Factor, calibration_factors, identifier

KPI_NAMES = (
    "cn_compute_h100e_end",
    "us_compute_h100e_end",
    "row_compute_h100e_end",
    "peak_lead_time_weeks",
    "weeks_signups_paused",
    "lost_revenue_usd",
    "diverted_units",
    "seized_units",
    "denied_units",
    "cn_domestic_share_end",
    "us_rental_price_mean",
    "cn_shortage_mean",
    "us_shortage_mean",
)
"""The KPIs of :func:`abm.runs.batch.kpis`, EMA's outcomes (a test keeps them in step)."""

DEFAULT_LEVERS = (Factor(key="enforcement", range=(0.0, 1.0), role="lever"),)
"""Levers of :func:`ema_model` when none are given: how hard smuggling is policed."""

_RESERVED = {"scenario", "policy", "model", "seed"}
"""Names EMA uses for its own columns (or this adapter for the seed)."""


def declared_factors(scenario: str = "baseline") -> list[Factor]:
    """The scenario's declared parameters as uncertainty factors.

    The calibration file's free parameters (``scenarios/calibration.yaml``,
    their searched ranges) and the scenario's declared ``uncertainties`` that
    replace a value (their ``low``/``high``; multipliers (``factor: true``)
    are left to the scenario's own draws), one factor per key path.

    Args:
        scenario: Library name or YAML path.
    """
    from abm.scenario import load_scenario

    out = {f.key: f for f in calibration_factors("calibration")}
    for u in load_scenario(scenario).uncertainties:
        if u.factor or u.path in out or u.low >= u.high:
            continue
        out[u.path] = Factor(
            key=u.path, range=(float(u.low), float(u.high)), integer=u.integer, role="uncertainty"
        )
    return list(out.values())


def _name(factor: Factor) -> str:
    name = factor.label if factor.key != SCENARIO_KEY else "scenario_name"
    return f"{name}_" if name in _RESERVED else name


class AbmFunction:
    """The callable EMA runs: keyword arguments by EMA name -> KPI outcomes.

    A plain class (not a closure) so EMA's multiprocessing evaluator can pickle it.

    Attributes:
        scenario: The scenario of every experiment (unless a factor picks it).
        factors: EMA name -> factor.
        keys: EMA name -> the key path(s) it sets (``scenario`` for the scenario factor).
        weeks: Horizon override (None: the scenario's).
        seed: Seed of every experiment (unless ``seed`` is an uncertainty).
        uncertainty: Draw the scenario's other declared uncertainties per seed.
    """

    def __init__(
        self,
        scenario: str,
        factors: Sequence[Factor],
        weeks: int | None,
        seed: int,
        uncertainty: bool,
    ) -> None:
        self.scenario = scenario
        self.factors = {_name(f): f for f in factors}
        if len(self.factors) != len(factors):
            raise ValueError("factors: two factors map to the same EMA name; name them")
        self.keys = {
            n: (SCENARIO_KEY if f.key == SCENARIO_KEY else ", ".join(f.key_paths()))
            for n, f in self.factors.items()
        }
        self.weeks = weeks
        self.seed = seed
        self.uncertainty = uncertainty

    def overrides(self, **values: Any) -> tuple[str, dict[str, Any]]:
        """The scenario and ``key.path`` overrides of one experiment's parameter values."""
        scenario = self.scenario
        params: dict[str, Any] = {}
        for name, value in values.items():
            if name == "seed":
                continue
            factor = self.factors.get(name)
            if factor is None:
                raise ValueError(f"unknown parameter {name!r}; parameters: {list(self.factors)}")
            if factor.key == SCENARIO_KEY:
                scenario = str(value)
                continue
            if factor.integer:
                value = int(round(float(value)))
            elif factor.range is not None:
                value = float(value)
            params.update(factor.overrides(value))
        return scenario, params

    def __call__(self, **values: Any) -> dict[str, float]:
        """Run one experiment and return its KPIs."""
        from abm.engine.model import SupplyChainModel
        from abm.runs.batch import _fix_uncertainties, kpis, named_params
        from abm.scenario import load_scenario, overrides_from

        scenario, params = self.overrides(**values)
        seed = int(values.get("seed", self.seed))
        data = load_scenario(scenario).model_dump(mode="json")
        params = _fix_uncertainties(data, named_params(data, params))
        model = SupplyChainModel.from_scenario(
            scenario,
            seed=seed,
            weeks=self.weeks,
            overrides=overrides_from(params) or None,
            uncertainty=self.uncertainty,
        )
        model.run()
        return {k: float(v) for k, v in kpis(model).items()}


def ema_model(
    scenario: str = "baseline",
    uncertainties: Sequence[Factor] | None = None,
    levers: Sequence[Factor] | None = None,
    weeks: int | None = None,
    seed: int = 1,
    seeds: Sequence[int] | None = None,
    outcomes: Sequence[str] = KPI_NAMES,
    uncertainty: bool = True,
    name: str = "abm",
) -> Any:
    """The model as an EMA Workbench :class:`ema_workbench.Model`.

    Args:
        scenario: Library name or YAML path.
        uncertainties: Factors EMA samples as uncertainties (default:
            :func:`declared_factors` of the scenario).
        levers: Factors EMA samples as levers (default: :data:`DEFAULT_LEVERS`).
        weeks: Horizon override (None: the scenario's).
        seed: Seed of every experiment.
        seeds: Seeds to sample as an uncertainty named ``seed`` instead.
        outcomes: KPI names to report (of :data:`KPI_NAMES`).
        uncertainty: Draw the scenario's other declared uncertainties per seed.
        name: The EMA model's name (an identifier).

    Returns:
        An ``ema_workbench.Model`` whose ``function`` is an :class:`AbmFunction`.

    Raises:
        ValueError: for an unknown outcome or two factors with one name.
    """
    with warnings.catch_warnings():  # EMA warns at import about optional parallel back ends
        warnings.simplefilter("ignore")
        from ema_workbench import (
            CategoricalParameter,
            IntegerParameter,
            Model,
            RealParameter,
            ScalarOutcome,
        )

    unknown = [o for o in outcomes if o not in KPI_NAMES]
    if unknown:
        raise ValueError(f"outcomes: unknown KPI {unknown[0]!r}; KPIs: {list(KPI_NAMES)}")
    unc = list(uncertainties) if uncertainties is not None else declared_factors(scenario)
    lev = list(levers) if levers is not None else list(DEFAULT_LEVERS)
    unc_names = {_name(f) for f in unc}
    lev = [f for f in lev if _name(f) not in unc_names or uncertainties is not None]
    function = AbmFunction(scenario, [*unc, *lev], weeks, seed, uncertainty)

    def parameter(n: str, f: Factor) -> Any:
        if f.values is not None:
            return CategoricalParameter(n, f.choices())
        assert f.range is not None
        lo, hi = f.range
        if f.integer:
            return IntegerParameter(n, int(round(lo)), int(round(hi)))
        return RealParameter(n, float(lo), float(hi))

    model = Model(name, function=function)
    by_name = function.factors
    model.uncertainties = [parameter(_name(f), by_name[_name(f)]) for f in unc]
    if seeds:
        model.uncertainties += [CategoricalParameter("seed", [int(s) for s in seeds])]
    model.levers = [parameter(_name(f), by_name[_name(f)]) for f in lev]
    model.outcomes = [ScalarOutcome(o) for o in outcomes]
    return model


__all__ = [
    "DEFAULT_LEVERS",
    "KPI_NAMES",
    "AbmFunction",
    "declared_factors",
    "ema_model",
    "identifier",
]
