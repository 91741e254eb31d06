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

    It sees ``market_share`` of its region's rental demand at its break-even price
    (the floor), forecasts it and
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
        """Its share of last week's regional rental demand at a price that covers its costs.

        A cloud buys GPUs for the renters who would pay at least its break-even
        price (the market's floor), not for need that only rents below cost:
        renters whose reference price is under the floor count for the share
        of their need they would rent at the floor.
        """
        return self.model.market.wanted_at_cost[self.region] * self.spec.market_share

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
