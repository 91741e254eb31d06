"""Front companies: a listed designer's dies made at a controlled foundry under another name.

A foundry checks wafer starts against the foundry rules under the name and
country of the customer placing them (:meth:`abm.agents.foundry.Foundry.request`),
so a designer on the Entity List is refused, but a front company ordering in
its own name is not, until a rule names the front or catches its node (the
Jan-2025 foundry due-diligence rule was written against exactly this: TSMC
dies ordered by Sophgo reached Huawei, > 2,000,000 of them, facts F086).

Each week from its ``start`` a front places up to ``max_wafers_per_week`` wafer
starts of its designer's die at the foundry (a front takes what it can get: the
designer banks the dies, which feed its normal products). The dies come out at
the foundry's yield on the front's node and go to the designer's die bank. Each
week the front is detected with probability ``detection_per_week`` (its own
``detection`` random stream); then the foundry drops its backlog and work in
process, and the front shuts down (a ``front_detected`` event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abm.agents.base import Firm
from abm.scenario import FrontSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel


class FrontCompany(Firm):
    """A front company (e.g. Sophgo for Huawei at TSMC).

    Attributes:
        spec: The scenario entry.
        detected: True once found out (it places no more wafers).
        dies_passed: Good dies handed to the designer over the run.
        wafers_this_week: Wafer starts requested this week.
    """

    family = "front"

    def __init__(self, model: SupplyChainModel, spec: FrontSpec) -> None:
        super().__init__(model, spec.name, spec.country, spec.region)
        self.spec = spec
        self.draws = model.stream("detection", spec.name)
        self.detected = False
        self.dies_passed = 0.0
        self.wafers_this_week = 0.0

    def place_wafers(self) -> None:
        """Draw detection, then request this week's wafer starts at the foundry."""
        m = self.model
        self.wafers_this_week = 0.0
        if self.detected or not self.active or m.date < self.spec.start:
            return
        if self.draws.random() < self.spec.detection_per_week:
            self._shut_down()
            return
        wafers = float(self.spec.max_wafers_per_week)
        if wafers > 0 and m.cast.foundry[self.spec.foundry].request(
            self.name, self.spec.product, wafers
        ):
            self.wafers_this_week = wafers

    def _shut_down(self) -> None:
        self.detected = True
        self.active = False
        dropped = self.model.cast.foundry[self.spec.foundry].stop_work_for(self.name)
        self.log(
            "front_detected",
            self.spec.designer,
            self.spec.product,
            dropped,
            detail=f"{self.dies_passed:,.0f} dies passed on; {dropped:,.0f} wafers dropped "
            f"at {self.spec.foundry}",
        )

    def receive_dies(self, product: str, dies: float, wafers: float) -> None:
        """Dies made for the front arrive: they go on to the designer's die bank."""
        m = self.model
        m.cast.vendor[self.spec.designer].receive_dies(product, dies)
        self.dies_passed += dies
        m.flow_meter.add(self.name, self.spec.designer, "wafers", wafers)
        self.log("front_delivery", self.spec.designer, product, dies)

    def state(self) -> dict[str, float]:
        """Wafers requested this week (as orders) and dies passed on so far."""
        return {
            "orders_units": self.wafers_this_week,
            "inventory_units": 0.0,
        }
