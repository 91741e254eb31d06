"""Run the model through Mesa's own tools (``mesa.batch_run``), for comparison.

``mesa.batch_run`` builds models from keyword arguments and reads
``model.datacollector``; :class:`BatchRunModel` gives it both. The project's
own batch runner (:mod:`abm.runs.batch`) is the one to use: it writes every run's
tables, survives failures and resumes.
"""

from __future__ import annotations

from typing import Any

from mesa import DataCollector

from abm.engine.model import SupplyChainModel
from abm.scenario import load_scenario


class BatchRunModel(SupplyChainModel):
    """A SupplyChainModel built from ``scenario`` and ``rng`` keyword arguments."""

    def __init__(self, scenario: str = "baseline", rng: Any = None, weeks: int | None = None):
        spec = load_scenario(scenario)
        if weeks is not None:
            spec = spec.model_copy(update={"weeks": weeks})
        super().__init__(spec, seed=int(rng or 0))
        self.datacollector = DataCollector(
            model_reporters={
                "cn_compute_h100e": lambda m: m.metrics.series("compute_stock_h100e", "CN")[-1],
                "us_compute_h100e": lambda m: m.metrics.series("compute_stock_h100e", "US")[-1],
            }
        )

    def step(self) -> None:
        """One week; collect Mesa-style data once the horizon is reached."""
        super().step()
        if not self.running:
            self.datacollector.collect(self)
