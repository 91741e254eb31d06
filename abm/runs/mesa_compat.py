"""Run the model through Mesa's own tools (``mesa.batch_run``), for comparison.

``mesa.batch_run`` builds models from keyword arguments and reads
``model.datacollector``; :class:`BatchRunModel` gives it both. The project's
own batch runner (:mod:`abm.runs.batch`) is the one to use: it writes every run's
tables, survives failures and resumes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mesa import DataCollector

from abm.engine.model import SupplyChainModel
from abm.limits import MAX_SEED
from abm.scenario import load_scenario


def seed_of(rng: Any) -> int:
    """The project's integer seed for Mesa's ``rng`` argument of one run.

    ``mesa.batch_run(..., rng=[1, 2, 3])`` passes each value: a whole number is the
    seed itself. ``iterations=3`` (or ``rng=[None] * 3``) passes ``None``, which Mesa
    means as "a fresh random seed": each such run gets its own seed from the operating
    system's entropy (recorded as ``model.seed``, so a run can be repeated), never
    seed 0 for all. A ``numpy.random.Generator`` or ``SeedSequence`` gives one draw.

    Raises:
        ValueError: for a negative or too large whole number, or another kind of value.
    """
    if rng is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, MAX_SEED, endpoint=True))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(1, np.uint32)[0])
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if not 0 <= int(rng) <= MAX_SEED:
            raise ValueError(f"rng: expected a seed from 0 to {MAX_SEED:,}, got {rng}")
        return int(rng)
    raise ValueError(f"rng: expected a whole-number seed, None or a numpy Generator, got {rng!r}")


class BatchRunModel(SupplyChainModel):
    """A SupplyChainModel built from ``scenario`` and ``rng`` keyword arguments.

    ``rng`` is turned into the run's seed by :func:`seed_of`.
    """

    def __init__(self, scenario: str = "baseline", rng: Any = None, weeks: int | None = None):
        spec = load_scenario(scenario)
        if weeks is not None:
            spec = spec.model_copy(update={"weeks": weeks})
        super().__init__(spec, seed=seed_of(rng))
        self.datacollector = DataCollector(
            model_reporters={
                "seed": "seed",
                "cn_compute_h100e": lambda m: m.metrics.series("compute_stock_h100e", "CN")[-1],
                "us_compute_h100e": lambda m: m.metrics.series("compute_stock_h100e", "US")[-1],
            }
        )

    def step(self) -> None:
        """One week; collect Mesa-style data once the horizon is reached."""
        super().step()
        if not self.running:
            self.datacollector.collect(self)
