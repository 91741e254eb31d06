"""Mesa's ``DataCollector`` interface over the metrics the model records itself.

The model records every declared metric each week (:class:`~abm.engine.metrics.MetricLog`,
long form). Mesa's tools (``SolaraViz`` plot components, ``mesa.batch_run``, user code)
look for ``model.datacollector`` instead; :class:`MetricsDataCollector` answers them
from the same rows, so nothing is recorded twice and the run is unchanged.

Columns are named ``name:scope`` (as ``abm compare --metric`` takes them), e.g.
``compute_stock_h100e:CN``; the index is the step (week number from 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from abm.engine.model import SupplyChainModel


class MetricsDataCollector:
    """A read-only stand-in for ``mesa.DataCollector`` backed by ``model.metrics``.

    ``collect`` does nothing (the model collects every week in its record stage);
    :meth:`get_model_vars_dataframe` is what Mesa's plot components call.
    """

    def __init__(self, model: SupplyChainModel) -> None:
        self._model = model

    def collect(self, model: SupplyChainModel) -> None:
        """Nothing to do: the model records its metrics each week (Mesa calls this)."""

    @property
    def model_vars(self) -> dict[str, list[float]]:
        """Every ``name:scope`` column's values over the recorded steps."""
        frame = self.get_model_vars_dataframe()
        return {str(c): frame[c].tolist() for c in frame.columns}

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        """One row per recorded step (index ``step``), one column per ``name:scope``."""
        long = self._model.metrics.frame()
        long["column"] = long["name"] + ":" + long["scope"]
        wide = long.pivot(index="step", columns="column", values="value")
        wide.columns.name = None
        return wide
