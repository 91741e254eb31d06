"""Foundries: logic-wafer capacity by process node, yield, growth with a lag.

A foundry starts wafers for vendors pro-rata to their backlogs on each node;
a started wafer yields ``dies_per_wafer x yield`` good dies ``cycle_weeks``
later. Realised yield varies week to week around the node's yield (the
``yield`` random stream of the foundry).

Every request for wafer starts passes the foundry controls first (rules of
``gate: foundry``, :func:`abm.controls.rules.check_wafer`): the customer is
the firm placing the request, checked under its own name and country, so a
listed designer is refused while a front ordering in its name is not (until a
rule names the front or catches its node). A refusal is a ``wafer_denial``
event and is counted per rule (``controls.wafers_denied``).
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
        self.node_nm = {n.node: n.node_nm for n in spec.nodes}
        self.routes: dict[str, str] = {}
        """Node of each product made here on another node than its catalogue one (fronts)."""

    def line_of(self, product: str) -> str:
        """The node a product's dies are made on (here)."""
        node = self.model.products[product].node
        return node if node in self.lines else self.routes[product]

    def good_dies_per_wafer(self, product: str) -> float:
        """Expected good dies per wafer of a product (before yield noise)."""
        p = self.model.products[product]
        return p.dies_per_wafer * self.yields[self.line_of(product)]

    def request(self, vendor: str, product: str, amount: float) -> bool:
        """Ask for wafer starts, through the foundry controls; False when a rule refuses.

        Args:
            vendor: The customer (a vendor, or a front in its own name).
            product: The product whose dies the wafers carry.
            amount: Wafers.
        """
        if amount <= 0:
            return True
        m = self.model
        customer = m.cast.firm[vendor]
        d = m.controls.wafer_clearance(
            m.products[product],
            self.node_nm[self.line_of(product)],
            self.country,
            customer.country,
            vendor,
        )
        if d.verdict != "allow":
            m.controls.record_wafer_denial(d.rule, amount)
            self.log(
                "wafer_denial",
                vendor,
                product,
                amount,
                rule=d.rule,
                detail=f"wafer starts at {self.name} ({self.line_of(product)}) refused under "
                f"{d.rule}",
            )
            return False
        return super().request(vendor, product, amount)

    def deliver(self) -> None:
        """Hand completed wafers to vendors (or fronts) as good dies."""
        m = self.model
        for vendor, product, wafers in self.complete_work():
            p = m.products[product]
            y = self.yields[self.line_of(product)] * float(self.draws.lognormal(0.0, 0.03))
            dies = wafers * p.dies_per_wafer * min(1.0, y)
            vendor_agent = m.cast.vendor.get(vendor)
            if vendor_agent is not None:
                vendor_agent.receive_dies(product, dies)
            else:
                m.cast.front[vendor].receive_dies(product, dies, wafers)
