"""A fixed-seed summary of a run: the targets' statistics and the batch KPIs.

``scripts/regression_summary.py`` stores it for the baseline; the regression test
compares a fresh run against the stored numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from abm.analysis.targets import evaluate_run, load_targets
from abm.engine.model import SupplyChainModel
from abm.runs.batch import kpis


def summary(scenario: str = "baseline", seed: int = 1, uncertainty: bool = True) -> dict[str, Any]:
    """Target statistics and KPIs of one run of ``scenario`` with ``seed``.

    ``uncertainty=False`` runs the declared values (no draws, no disruptions).
    """
    model = SupplyChainModel.from_scenario(scenario, seed=seed, uncertainty=uncertainty).run()
    targets = load_targets()
    ml = model.metrics
    start = np.datetime64(model.spec.start_date, "D")
    rows: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
    wanted = targets.series_needed()
    for step, name, scope, value in zip(ml.step, ml.name, ml.scope, ml.value, strict=True):
        if (name, scope) in wanted:
            steps, values = rows.setdefault((name, scope), ([], []))
            steps.append(step)
            values.append(value)
    series = {
        key: (start + 7 * np.array(steps, dtype="timedelta64[D]"), np.array(values))
        for key, (steps, values) in rows.items()
    }
    return {
        "scenario": scenario,
        "seed": seed,
        "targets": evaluate_run(targets, series),
        "kpis": kpis(model),
    }
