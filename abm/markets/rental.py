"""The regional compute markets: GPU rental and API inference.

Clouds rent compute to labs and enterprises; labs sell API inference to
enterprises. Each region's rental market clears once a week through the pure
:func:`~abm.markets.clearing.clear_rental_market`: every active cloud of the
region offers its rentable compute, every renting lab and every enterprise
segment bids its need at a reference price with an elasticity. The market
object keeps the regional prices (smoothed), wanted compute, shortage and
utilisation, books each cloud's rentals, and hands each renter what it was
served. Enterprises buy the rest of their compute as API service from the
region's labs in fixed shares; they are served the share of inference each
lab could serve.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from abm.markets.clearing import RentalClearing, capacity_cost, clear_rental_market, rental_demand
from abm.scenario import REGIONS, RentalParams

if TYPE_CHECKING:
    from abm.agents.cloud import CloudProvider
    from abm.agents.enterprise import EnterpriseDemand
    from abm.agents.lab import AILab


class ComputeMarket:
    """The rental and API markets of every region, with their prices and service.

    Args:
        params: The scenario's rental parameters (floor, ceiling, smoothing, ...).
        labs: Every lab, in world order.
        enterprises: Every enterprise segment, in world order.
        clouds: Every cloud provider, in world order.

    Attributes:
        price: Rental price per region, USD per H100e-hour (smoothed week to week).
        wanted: Rental compute wanted per region this week, H100e.
        wanted_at_cost: Rental compute renters would take per region this week at
            the price that covers a cloud's costs (the floor), H100e: the demand
            clouds build their fleets for. Renters whose reference price is below
            the floor want less than their need there.
        floor: The floor price per region, USD per H100e-hour: the scenario's fixed
            floor, or what new capacity costs there (``capacity_cost``, A68).
        capex_per_h100e: Per region, the GPU price per H100e of the capacity
            bought lately (smoothed), USD; with a fixed floor, unused.
        kw_per_h100e: Per region, the GPU power per H100e of that capacity, kW.
        shortage: Share of the wanted rental compute not served, per region.
        utilisation: Share of the rentable compute rented, per region.
        region_shortage: Unmet over wanted compute of a region's labs and
            enterprises (rental, API and own fleets together).
        api_shares: Per region, each launched, active API lab's share of the
            region's enterprise API demand this week (shares sum to 1 where a region
            has API labs; :meth:`update_api_shares`).
        api_shares_all: Per region, every API lab's declared share, normalised (the
            supply graph's API edges).
    """

    def __init__(
        self,
        params: RentalParams,
        labs: list[AILab],
        enterprises: list[EnterpriseDemand],
        clouds: list[CloudProvider],
    ) -> None:
        self.params = params
        self.labs = labs
        self.enterprises = enterprises
        self.clouds = clouds
        # agents never change region: the regional markets' members, in world order
        self.labs_in = {r: [x for x in labs if x.region == r] for r in REGIONS}
        self.enterprises_in = {r: [e for e in enterprises if e.region == r] for r in REGIONS}
        self.clouds_in = {r: [c for c in clouds if c.region == r] for r in REGIONS}
        self.price = dict.fromkeys(REGIONS, params.lab_reference_usd_per_h100e_hour)
        self.wanted = dict.fromkeys(REGIONS, 0.0)
        self.wanted_at_cost = dict.fromkeys(REGIONS, 0.0)
        self.floor = dict.fromkeys(REGIONS, params.floor_usd_per_h100e_hour)
        self.capex_per_h100e = dict.fromkeys(REGIONS, 0.0)
        self.kw_per_h100e = dict.fromkeys(REGIONS, 0.0)
        self.shortage = dict.fromkeys(REGIONS, 0.0)
        self.utilisation = dict.fromkeys(REGIONS, 0.0)
        self.region_shortage = dict.fromkeys(REGIONS, 0.0)
        self.api_shares_all = _api_shares(labs)
        self.api_shares = dict(self.api_shares_all)
        self._by_name = {x.name: x for x in labs}
        self._api_labs = {
            r: [(self._by_name[n], share) for n, share in self.api_shares[r].items()]
            for r in REGIONS
        }
        self._api_members: dict[str, tuple[str, ...] | None] = dict.fromkeys(REGIONS)

    # ----------------------------------------------------------- demand

    def update_api_shares(self) -> None:
        """Share each region's API demand over its API labs that are launched and active.

        A lab's API share counts from its ``launch`` until it exits; the region's
        other API labs take the rest in proportion. Before any of a region's API
        labs has launched, all of them keep their shares (the region's AI services
        before LLM APIs). The dict in ``api_shares`` is replaced when its members
        change, never edited in place.
        """
        for r in REGIONS:
            labs = [x for x in self.labs_in[r] if x.spec.api_share > 0]
            live = [x for x in labs if x.active and x.launched]
            members = tuple(x.name for x in live)
            if members == self._api_members[r]:
                continue
            self._api_members[r] = members
            pool = live or [x for x in labs if x.active]
            total = sum(x.spec.api_share for x in pool)
            self.api_shares[r] = (
                {x.name: x.spec.api_share / total for x in pool} if total > 0 else {}
            )
            self._api_labs[r] = [(self._by_name[n], w) for n, w in self.api_shares[r].items()]

    def api_demand(self) -> dict[str, float]:
        """Each lab's API demand from the enterprises of its region, H100e."""
        api: dict[str, float] = defaultdict(float)
        for e in self.enterprises:
            for lab_name, share in self.api_shares[e.region].items():
                api[lab_name] += e.api_need_h100e * share
        return api

    def start_in_balance(self) -> None:
        """Week 0: renting labs rent what their own fleets lack (rentals start in balance)."""
        for lab in self.labs:
            if lab.spec.rents:
                lab.rented = lab.rental_need = max(0.0, lab.need - lab.installed_h100e())

    def opening_prices(self) -> None:
        """Set each region's price to where this week's demand meets supply (unsmoothed)."""
        for r in REGIONS:
            labs, ents, need, ref, eps = self._participants(r)
            supply = sum(c.rentable_h100e() for c in self.clouds_in[r])
            self.wanted[r] = float(need.sum())
            self.wanted_at_cost[r] = self._at_cost(r, need, ref, eps)
            if labs or ents:
                self.price[r] = self._clear(r, supply, need, ref, eps).price

    # ------------------------------------------------------ the floor

    def open_costs(self, offers: dict[str, list[tuple[float, float, float]]]) -> None:
        """Week 0: each region's capacity cost from the cheapest compute its clouds can buy.

        Args:
            offers: Per region, ``(price USD, H100e, power W)`` of each product the
                region's clouds are offered. A region with none keeps the fixed floor.
        """
        if self.params.capacity_cost is None:
            return
        for r, items in offers.items():
            if not items:
                continue
            price, h100e, watts = min(items, key=lambda x: x[0] / x[1])
            self.capex_per_h100e[r] = price / h100e
            self.kw_per_h100e[r] = watts / 1000 / h100e
            self._set_floor(r)

    def note_purchases(self, bought: dict[str, tuple[float, float, float]]) -> None:
        """This week's GPU purchases move each region's capacity cost (and floor).

        Args:
            bought: Per region, ``(USD, H100e, kW)`` shipped to its buyers this
                week; a region that bought nothing keeps its cost.
        """
        cost = self.params.capacity_cost
        if cost is None:
            return
        rate = 1.0 / cost.smoothing_weeks
        for r, (usd, h100e, kw) in bought.items():
            if h100e <= 0:
                continue
            self.capex_per_h100e[r] += rate * (usd / h100e - self.capex_per_h100e[r])
            self.kw_per_h100e[r] += rate * (kw / h100e - self.kw_per_h100e[r])
            self._set_floor(r)

    def _set_floor(self, region: str) -> None:
        cost = self.params.capacity_cost
        assert cost is not None
        price = capacity_cost(
            self.capex_per_h100e[region],
            self.kw_per_h100e[region],
            cost.system_cost_multiple,
            cost.recovery_years,
            cost.opex_usd_per_kw_hour,
        )
        ceiling = self.params.ceiling_usd_per_h100e_hour
        self.floor[region] = min(max(price, 0.01), ceiling)

    # ---------------------------------------------------------- clearing

    def _participants(
        self, region: str
    ) -> tuple[list[AILab], list[EnterpriseDemand], np.ndarray, np.ndarray, np.ndarray]:
        """A region's renters (renting labs, then enterprises) and their need, price, elasticity."""
        rp = self.params
        labs = [x for x in self.labs_in[region] if x.active and x.spec.rents]
        ents = self.enterprises_in[region]
        need = np.array([x.rental_need for x in labs] + [e.direct_need_h100e for e in ents])
        ref = np.array(
            [rp.lab_reference_usd_per_h100e_hour] * len(labs)
            + [rp.enterprise_reference_usd_per_h100e_hour] * len(ents)
        )
        eps = np.array([rp.lab_elasticity] * len(labs) + [e.spec.elasticity for e in ents])
        return labs, ents, need, ref, eps

    def _clear(
        self, region: str, supply: float, need: np.ndarray, ref: np.ndarray, eps: np.ndarray
    ) -> RentalClearing:
        """One rental-market clearing with the region's floor, the ceiling and idle pricing."""
        rp = self.params
        return clear_rental_market(
            supply,
            need,
            ref,
            eps,
            self.floor[region],
            rp.ceiling_usd_per_h100e_hour,
            idle_exponent=rp.idle_price_exponent,
        )

    def _at_cost(self, region: str, need: np.ndarray, ref: np.ndarray, eps: np.ndarray) -> float:
        """Compute renters would take at the clouds' break-even price (the floor), H100e."""
        if not len(need):
            return 0.0
        return float(rental_demand(self.floor[region], need, ref, eps).sum())

    def clear(self) -> None:
        """Clear every region's markets, serve the renters, then each region's shortage."""
        for r in REGIONS:
            self._clear_region(r)
        self._region_shortages()

    def _clear_region(self, region: str) -> None:
        labs, ents, need, ref, eps = self._participants(region)
        clouds = [c for c in self.clouds_in[region] if c.active]
        supply = sum(c.rentable_h100e() for c in clouds)
        if not labs and not ents:
            self.wanted[region] = 0.0
            self.wanted_at_cost[region] = 0.0
            self.shortage[region] = 0.0
            return
        res = self._clear(region, supply, need, ref, eps)
        prev = self.price[region]
        self.price[region] = prev + self.params.price_smoothing * (res.price - prev)
        self.wanted[region] = float(need.sum())
        self.wanted_at_cost[region] = self._at_cost(region, need, ref, eps)
        self.shortage[region] = float(1 - res.served.sum() / need.sum()) if need.sum() > 0 else 0.0
        self.utilisation[region] = res.utilisation
        price = self.price[region]
        for c in clouds:
            c.book_rentals(res.utilisation, price)
        fleet = sum(c.installed_h100e() for c in clouds)
        train_eff = (
            sum(c.installed_h100e() * c.training_efficiency() for c in clouds) / fleet
            if fleet > 0
            else 1.0
        )
        served = res.served.tolist()
        for lab, got in zip(labs, served[: len(labs)], strict=True):
            lab.serve(float(got), price, rented_training_eff=train_eff)
        for e, got in zip(ents, served[len(labs) :], strict=True):
            e.receive_direct(float(got))
        for lab in self.labs_in[region]:  # labs that do not rent serve from their own fleet
            if lab.active and not lab.spec.rents:
                lab.serve(0.0, price)
        api_labs = [(share, lab.inference_served_share) for lab, share in self._api_labs[region]]
        for e in self.enterprises_in[region]:
            need_e = e.api_need_h100e
            e.receive_api(sum([need_e * share * served for share, served in api_labs]))

    def _region_shortages(self) -> None:
        for r in REGIONS:
            need = unmet = 0.0
            for lab in self.labs_in[r]:
                if lab.active:
                    need += lab.need
                    unmet += lab.shortage * lab.need
            for e in self.enterprises_in[r]:
                need += e.need_h100e
                unmet += e.shortage_ratio * e.need_h100e
            self.region_shortage[r] = unmet / need if need > 0 else 0.0


def _api_shares(labs: list[AILab]) -> dict[str, dict[str, float]]:
    """Per region, each API lab's normalised share of the region's API demand."""
    shares: dict[str, dict[str, float]] = {r: {} for r in REGIONS}
    for lab in labs:
        if lab.spec.api_share > 0:
            shares[lab.region][lab.name] = lab.spec.api_share
    for r, d in shares.items():
        total = sum(d.values())
        shares[r] = {k: v / total for k, v in d.items()} if total > 0 else {}
    return shares
