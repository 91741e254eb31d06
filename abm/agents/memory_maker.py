"""HBM makers: stacks per week, shared pro-rata over vendors' backlogs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abm.agents.supplier import CapacityLine, Supplier
from abm.controls.rules import HBM_ITEM
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
        """Hand completed stacks to vendors, through the controls.

        Stacks for a vendor an HBM rule now denies are held back, and its
        backlog and work in process are dropped (orders accepted before the
        rule took effect do not ship after it: a ``denial`` event).
        """
        m = self.model
        for vendor, _product, stacks in self.complete_work():
            v = m.cast.vendor[vendor]
            d = m.controls.check(HBM_ITEM, self.country, v.country, vendor)
            if d.verdict == "deny":
                held = stacks + self.stop_work_for(vendor)
                m.controls.record_denial(d.rule, int(held))
                self.log(
                    "denial",
                    vendor,
                    HBM,
                    held,
                    rule=d.rule,
                    detail=f"HBM stacks held back under {d.rule}; backlog dropped",
                )
                continue
            v.receive_hbm(stacks)
