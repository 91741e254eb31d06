"""HBM makers: stacks per week, shared pro-rata over vendors' backlogs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abm.agents.supplier import CapacityLine, Supplier
from abm.scenario import MemoryMakerSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

HBM = "HBM"


class MemoryMaker(Supplier):
    """An HBM maker (SK Hynix, Samsung, Micron, CXMT)."""

    family = "memory"
    flow_kind = "hbm"

    def __init__(self, model: SupplyChainModel, spec: MemoryMakerSpec) -> None:
        lines = {
            "hbm": CapacityLine(spec.capacity_stacks_per_week, spec.growth, spec.reserved_share)
        }
        super().__init__(model, spec.name, spec.country, spec.region, lines, spec.cycle_weeks)
        self.spec = spec

    def deliver(self) -> None:
        """Hand completed stacks to vendors."""
        for vendor, _product, stacks in self.complete_work():
            self.model.cast.vendor[vendor].receive_hbm(stacks)
