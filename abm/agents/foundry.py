"""Foundries: logic-wafer capacity by process node, yield, growth with a lag.

A foundry starts wafers for vendors pro-rata to their backlogs on each node;
a started wafer yields ``dies_per_wafer x yield`` good dies ``cycle_weeks``
later. Realised yield varies week to week around the node's yield (the
``yield`` random stream of the foundry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abm.agents.supplier import CapacityLine, Supplier
from abm.scenario import FoundrySpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel


class Foundry(Supplier):
    """A foundry agent (TSMC, SMIC...)."""

    family = "foundry"
    flow_kind = "wafers"

    def __init__(self, model: SupplyChainModel, spec: FoundrySpec) -> None:
        lines = {n.node: CapacityLine(n.capacity_wafers_per_week, spec.growth) for n in spec.nodes}
        super().__init__(model, spec.name, spec.country, spec.region, lines, spec.cycle_weeks)
        self.spec = spec
        self.yields = {n.node: n.yield_fraction for n in spec.nodes}
        self.draws = model.stream("yield", spec.name)

    def line_of(self, product: str) -> str:
        """The node a product's dies are made on."""
        return self.model.products[product].node

    def good_dies_per_wafer(self, product: str) -> float:
        """Expected good dies per wafer of a product (before yield noise)."""
        p = self.model.products[product]
        return p.dies_per_wafer * self.yields[p.node]

    def deliver(self) -> None:
        """Hand completed wafers to vendors as good dies."""
        for vendor, product, wafers in self.complete_work():
            p = self.model.products[product]
            y = self.yields[p.node] * float(self.draws.lognormal(0.0, 0.03))
            dies = wafers * p.dies_per_wafer * min(1.0, y)
            self.model.cast.vendor[vendor].receive_dies(product, dies)
