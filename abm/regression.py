"""A fixed-seed summary of a run: the targets' statistics and the batch KPIs.

``scripts/regression_summary.py`` stores it for the baseline; the regression test
compares a fresh run against the stored numbers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from abm.batch import kpis
from abm.model import SupplyChainModel
from abm.targets import evaluate_run, load_targets


def summary(scenario: str = "baseline", seed: int = 1) -> dict[str, Any]:
    """Target statistics and KPIs of one run of ``scenario`` with ``seed``."""
    model = SupplyChainModel.from_scenario(scenario, seed=seed).run()
    targets = load_targets()
    dates = np.array(
        [model.spec.start_date + timedelta(weeks=i) for i in range(model.steps)],
        dtype="datetime64[D]",
    )
    series = {
        key: (dates, np.array(model.metrics.series(*key), dtype=float))
        for key in targets.series_needed()
    }
    return {
        "scenario": scenario,
        "seed": seed,
        "targets": evaluate_run(targets, series),
        "kpis": kpis(model),
    }
