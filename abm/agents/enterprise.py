"""Enterprise (B-end) demand: continuous, price-elastic token demand by region and sector.

An enterprise agent wants compute following its demand path (H100e), times
shocks and noise. A share of it is bought as API tokens from the labs of its
region; the rest is rented from clouds directly. Both respond to price with
constant elasticity above the reference price (facts.csv F128: Volcano
Engine's "when price falls 10x, volume can rise 10x" suggests an elasticity
near 1).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from abm.agents.base import Firm
from abm.agents.ordering import interpolate_log, scale_path
from abm.scenario import EnterpriseSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

NOISE_BLOCK = 64
"""Demand-noise draws fetched at a time (the stream gives the same numbers either way)."""

_PRICE_FACTORS: dict[tuple[float, float, float], float] = {}


class EnterpriseDemand(Firm):
    """Aggregate enterprise demand of one sector in one region."""

    family = "enterprise"

    def __init__(self, model: SupplyChainModel, spec: EnterpriseSpec) -> None:
        super().__init__(model, spec.name, spec.region, spec.region)
        self.spec = spec
        dp = model.spec.parameters.demand
        path = [(model.step_of(d), v) for d, v in spec.demand_path_h100e]
        first, last = path[0][0], path[-1][0]
        scale = [(first, dp.enterprise_scale_start), (last, dp.enterprise_scale_end)]
        self.path = scale_path(path, sorted(scale))
        self.draws = model.stream("enterprise_demand", spec.name)
        self._noise_block: list[float] = []  # draws taken ahead, in stream order
        self.noise = 0.0
        self.need_h100e = 0.0
        self.api_need_h100e = 0.0
        self.direct_need_h100e = 0.0
        self.api_served_h100e = 0.0
        self.direct_served_h100e = 0.0

    def update_demand(self) -> None:
        """Demand this week: path x shocks x noise, split into API and direct rental."""
        m = self.model
        if not self._noise_block:  # same numbers as one draw a week, fetched 64 at a time
            self._noise_block = self.draws.normal(0.0, self.spec.noise_sd, NOISE_BLOCK).tolist()
            self._noise_block.reverse()
        self.noise = 0.7 * self.noise + self._noise_block.pop()
        base = interpolate_log(self.path, m.week) * m.enterprise_multiplier[self.region]
        self.need_h100e = base * math.exp(self.noise)
        self.reprice()

    def reprice(self) -> None:
        """Split this week's need into direct rental and API demand at today's rental price."""
        m = self.model
        spec = self.spec
        self.direct_need_h100e = self.need_h100e * (1 - spec.via_labs_share)
        ref = m.spec.parameters.rental.enterprise_reference_usd_per_h100e_hour
        key = (m.market.price[self.region], ref, spec.elasticity)
        price_factor = _PRICE_FACTORS.get(key)  # one power per price, not per firm
        if price_factor is None:
            if len(_PRICE_FACTORS) > 4096:
                _PRICE_FACTORS.clear()
            price = key[0]
            price_factor = _PRICE_FACTORS[key] = min(1.0, (price / ref) ** (-spec.elasticity))
        self.api_need_h100e = self.need_h100e * spec.via_labs_share * price_factor

    def receive_direct(self, h100e: float) -> None:
        """Compute the rental market served this week, H100e."""
        self.direct_served_h100e = h100e

    def receive_api(self, h100e: float) -> None:
        """Compute the region's labs served through their APIs this week, H100e."""
        self.api_served_h100e = h100e

    @property
    def served_h100e(self) -> float:
        """Compute served this week (API + direct), H100e."""
        return self.api_served_h100e + self.direct_served_h100e

    @property
    def shortage_ratio(self) -> float:
        """Unmet over wanted compute (wanted at normal prices)."""
        need = self.need_h100e
        if need <= 0:
            return 0.0
        return max(0.0, 1.0 - (self.api_served_h100e + self.direct_served_h100e) / need)

    def state(self) -> dict[str, float]:
        """Demand, service and shortage."""
        return {
            "demand_h100e": self.need_h100e,
            "compute_h100e": self.served_h100e,
            "shortage_ratio": self.shortage_ratio,
        }
