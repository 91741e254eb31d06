"""Advanced packaging (CoWoS-class): the binding constraint of 2023-24.

Vendors send good dies and HBM stacks to the packager with a request in
packages; the packager shares its wafer capacity pro-rata over requests
(converted to wafers through each product's packages per wafer) and returns
whole packaged GPUs ``cycle_weeks`` later. A packaged GPU is a produced unit:
it is counted in the conservation identity from then on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from abm.agents.supplier import CapacityLine, Supplier
from abm.scenario import PackagerSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel


class Packager(Supplier):
    """A packaging line (TSMC CoWoS, Amkor, domestic Chinese packaging)."""

    family = "packager"

    def __init__(self, model: SupplyChainModel, spec: PackagerSpec) -> None:
        lines = {
            "packaging": CapacityLine(
                spec.capacity_wafers_per_week, spec.growth, spec.reserved_share
            )
        }
        super().__init__(model, spec.name, spec.country, spec.region, lines, spec.cycle_weeks)
        self.spec = spec
        self.carry: dict[tuple[str, str], float] = defaultdict(float)

    def request_units(self, vendor: str, product: str, units: int) -> None:
        """Queue ``units`` packages of ``product`` (inputs already handed over)."""
        ppw = self.model.products[product].packages_per_wafer
        self.request(vendor, product, units / ppw)

    def refuse(self, vendor: str, product: str, amount: float) -> None:
        """Hand the dies and HBM of packages the queue has no room for back to the vendor.

        The vendor handed the inputs over with the request; without this, a full
        queue would destroy them (and a stockpile with them).
        """
        p = self.model.products[product]
        units = amount * p.packages_per_wafer
        self.model.cast.vendor[vendor].take_back_kits(product, units)

    def units_queued(self, vendor: str, product: str) -> float:
        """Packages requested or in process for a vendor's product."""
        ppw = self.model.products[product].packages_per_wafer
        return (self.backlog_of(vendor, product) + self.in_process_of(vendor, product)) * ppw

    @property
    def share_served(self) -> float:
        """Share of the backlog started last week (1 = packaging did not bind)."""
        return self.last_share["packaging"]

    def deliver(self) -> None:
        """Hand whole packaged GPUs to vendors (fractions carry to next week)."""
        for vendor, product, wafers in self.complete_work():
            key = (vendor, product)
            exact = wafers * self.model.products[product].packages_per_wafer + self.carry[key]
            units = int(exact + 1e-9)
            self.carry[key] = exact - units
            if units > 0:
                self.model.cast.vendor[vendor].receive_packages(product, units, self.name)
