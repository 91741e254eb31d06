"""Brokers: third-country intermediaries that divert controlled chips to blocked buyers.

A broker buys from vendors what it may legally buy in its own country,
holding up to a few weeks of stock, sized by the shortage of its target
market (China by default). Each week it diverts stock to the target
market's clouds at a premium over the vendor price that rises with their
shortage. Each diverted shipment is caught with probability
``detection_base + 0.6 x enforcement²``; seized units leave the market and
are counted (``seized`` in the conservation identity).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abm.agents.base import Firm
from abm.agents.records import Order, Shipment
from abm.controls.rules import item_of
from abm.scenario import BrokerSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

STOCK_WEEKS = 4
"""Weeks of diversion a broker keeps in stock or on order."""


def detection_probability(detection_base: float, enforcement: float) -> float:
    """Chance a diverted shipment is seized, rising with enforcement (0..1)."""
    return min(0.95, detection_base + 0.6 * enforcement**2)


class Broker(Firm):
    """A diversion broker (e.g. a Singapore or Malaysia trading company)."""

    family = "broker"

    def __init__(self, model: SupplyChainModel, spec: BrokerSpec) -> None:
        super().__init__(model, spec.name, spec.country, spec.region)
        self.spec = spec
        self.draws = model.stream("detection", spec.name)
        self.stock: dict[str, int] = {}
        self.cost: dict[str, float] = {}
        self.open_orders: list[Order] = []
        self.diverted_this_week = 0
        self.seized_this_week = 0
        self.revenue_this_week = 0.0
        self.ordered_units_this_week = 0

    def stock_units(self) -> int:
        """Units held for diversion."""
        return sum(self.stock.values())

    def blocked_targets(self) -> list[str]:
        """Target markets where controls now deny what the broker can buy.

        With no rule in the way, buyers there buy directly and there is
        nothing to divert.
        """
        m = self.model
        blocked = []
        for t in self.spec.targets:
            for vendor_name in self.spec.vendor_shares:
                vendor = m.cast.vendor[vendor_name]
                flagship = vendor.newest_product()
                if flagship is None:
                    continue
                verdict = m.controls.check(item_of(flagship), vendor.country, t, "").verdict
                if verdict != "allow":
                    blocked.append(t)
                    break
        return blocked

    def wanted_units(self) -> int:
        """Units the broker would divert per week now (capped): the blocked markets' shortage."""
        m = self.model
        need = sum(
            m.market.shortage.get(t, 0.0) * m.market.wanted.get(t, 0.0)
            for t in self.blocked_targets()
        )
        return min(self.spec.max_units_per_week, int(need))

    def place_orders(self) -> None:
        """Order toward a few weeks of diversion, from what it may legally buy."""
        m = self.model
        self.ordered_units_this_week = 0
        self.open_orders = [o for o in self.open_orders if o.outstanding > 0]
        target = self.wanted_units() * STOCK_WEEKS
        pipeline = sum(o.outstanding for o in self.open_orders) + self.stock_units()
        pipeline += sum(s.units for s in m.orders.in_transit_to(self.name))
        gap = target - pipeline
        if gap <= 0:
            return
        for vendor_name, share in self.spec.vendor_shares.items():
            vendor = m.cast.vendor[vendor_name]
            offers = [
                p
                for p in vendor.products.values()
                if vendor.sells(p)
                and p.sold_in(self.country)
                and p.variant_of is None
                and not m.controls.would_deny(p, vendor.country, self.country, self.name)
            ]
            if not offers:
                continue
            product = max(offers, key=lambda p: p.h100e)  # brokers want the best chips
            units = int(gap * share)
            if units > 0:
                m.orders.place(self, vendor, product.name, units)

    def receive(self, shipment: Shipment) -> None:
        """Units bought from a vendor arrive into the broker's stock."""
        self.stock[shipment.product] = self.stock.get(shipment.product, 0) + shipment.units
        self.cost[shipment.product] = shipment.price_usd
        self.log("delivery", shipment.vendor, shipment.product, shipment.units, shipment.price_usd)

    def divert(self) -> None:
        """Ship stock to short buyers of the target markets; some is seized."""
        m = self.model
        self.diverted_this_week = self.seized_this_week = 0
        self.revenue_this_week = 0.0
        blocked = self.blocked_targets()
        targets = [c for c in m.clouds if c.country in blocked and c.active]
        if not targets or not self.stock:
            return
        shortage = max(m.market.shortage.get(t, 0.0) for t in blocked)
        premium = self.spec.premium_base + self.spec.premium_per_shortage * shortage
        p_detect = detection_probability(self.spec.detection_base, m.spec.enforcement)
        budget = self.wanted_units()
        for name in sorted(self.stock):
            units = min(self.stock[name], budget)
            if units <= 0:
                continue
            list_price = m.products[name].list_price_usd
            budget -= units
            self.stock[name] -= units
            buyer = max(targets, key=lambda c: (c.spec.market_share, c.name))
            seized = int(self.draws.binomial(units, p_detect))
            passed = units - seized
            price = self.cost.get(name, list_price) * (1 + premium)
            if seized:
                self.seized_this_week += seized
                m.counters["seized"] += seized
                self.log(
                    "seizure",
                    buyer.name,
                    name,
                    seized,
                    price,
                    detail=f"caught in transit (detection probability {p_detect:.2f})",
                )
            if passed:
                self.diverted_this_week += passed
                self.revenue_this_week += passed * price
                m.orders.dispatch(
                    Shipment(self.name, buyer.name, name, passed, m.week, m.week + 2, m.week, price)
                )
                m.flow_meter.add(self.name, buyer.name, "diversion", passed)
                self.log(
                    "diversion",
                    buyer.name,
                    name,
                    passed,
                    price,
                    detail=f"premium {100 * premium:.0f}% over vendor price",
                )
        self.stock = {k: v for k, v in self.stock.items() if v > 0}

    def state(self) -> dict[str, float]:
        """Stock and flows."""
        return {
            "inventory_units": float(self.stock_units()),
            "orders_units": float(self.ordered_units_this_week),
            "revenue_usd": self.revenue_this_week,
        }
