"""Cloud providers: buy and install GPUs, rent them out in their region."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abm.agents.buyer import Buyer
from abm.agents.products import HOURS_PER_WEEK
from abm.scenario import CloudSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel


class CloudProvider(Buyer):
    """A cloud (Azure, AWS, Alibaba Cloud...).

    It sees ``market_share`` of its region's rental demand, forecasts it and
    orders GPUs to cover it (see :class:`abm.agents.buyer.Buyer`). Each week its
    rentable capacity joins the regional rental market, which clears at one
    price; the cloud earns utilisation x capacity x price.
    """

    family = "cloud"

    def __init__(self, model: SupplyChainModel, spec: CloudSpec) -> None:
        super().__init__(model, spec)
        self.spec: CloudSpec = spec
        self.utilisation = 0.0
        self.revenue_this_week = 0.0

    def demand_signal_h100e(self) -> float:
        """Its share of last week's regional rental demand (need at normal prices)."""
        return self.model.market.wanted[self.region] * self.spec.market_share

    def rentable_h100e(self) -> float:
        """Capacity offered to renters this week, H100e."""
        return self.installed_h100e() * self.model.spec.parameters.rental.rentable_share

    def book_rentals(self, utilisation: float, price: float) -> None:
        """Record this week's rentals at the regional clearing price."""
        self.utilisation = utilisation
        self.revenue_this_week = self.rentable_h100e() * utilisation * price * HOURS_PER_WEEK

    def state(self) -> dict[str, float]:
        """Fleet, utilisation and rental revenue."""
        return {
            **self.fleet_state(),
            "utilisation": self.utilisation,
            "revenue_usd": self.revenue_this_week,
            "shortage_ratio": self.model.market.shortage[self.region],
        }
