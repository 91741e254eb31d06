"""Buyers of GPUs: an installed fleet, forecasting, ordering, installing, retiring.

Clouds and AI labs that own hardware share this behaviour. A buyer forecasts
the compute it will be asked for (Holt smoothing), looks as far ahead as the
vendors' quoted lead times, and orders the gap between the capacity it wants
and what it has installed and on order (stock-and-supply-line rule). Longer
quoted lead times make it order further ahead — the bullwhip of 2023. When
its pipeline overshoots by more than ``cancel_excess_share`` of the target
it cancels its newest outstanding orders. Long lead times also make it
order more than it needs (double and phantom orders, F149), which it
cancels when lead times fall.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abm.agents.base import Firm
from abm.agents.ordering import HoltForecast
from abm.agents.products import Product
from abm.agents.records import Order, Shipment
from abm.scenario import BuyerSpec

if TYPE_CHECKING:
    from abm.agents.vendor import GPUVendor
    from abm.engine.model import SupplyChainModel

Cohort = tuple[str, int, int]
"""Installed units of one delivery: ``(product, units, install_step)``."""


class Buyer(Firm):
    """A firm that owns a fleet of GPUs.

    Attributes:
        cohorts: Installed units as ``(product, units, install_step)``, oldest first.
        open_orders: This buyer's outstanding orders (shared with vendors).
        forecast: Holt forecast of the compute it will need, H100e.
    """

    def __init__(self, model: SupplyChainModel, spec: BuyerSpec) -> None:
        super().__init__(model, spec.name, spec.country, spec.region)
        self.spec = spec
        bp = model.spec.parameters.buyers
        self.cohorts: list[Cohort] = []
        for c in spec.initial_fleet:
            parts = 8 if c.spread_weeks else 1
            for k in range(parts):
                units = c.units * (k + 1) // parts - c.units * k // parts
                offset = (k + 0.5) / parts - 0.5 if parts > 1 else 0.0
                age = round(c.age_weeks + offset * c.spread_weeks)
                if units > 0:
                    self.cohorts.append((c.product, units, -age))
            model.counters["initial"] += c.units
        self.cohorts.sort(key=lambda c: c[2])  # oldest first: retirement pops from the front
        self._units = sum(c[1] for c in self.cohorts)
        self._h100e = sum(model.products[c[0]].h100e * c[1] for c in self.cohorts)
        self._train_h100e = sum(_train(model.products[c[0]]) * c[1] for c in self.cohorts)
        self.open_orders: list[Order] = []
        self.forecast = HoltForecast(
            level=self.installed_h100e(), alpha=bp.forecast_alpha, beta=bp.forecast_beta
        )
        self.ordered_units_this_week = 0
        self.capex_this_week = 0.0
        self._offers_memo: dict[str, list[Product]] | None = None

    # ------------------------------------------------------------ fleet

    def installed_units(self) -> int:
        """Units installed now."""
        return self._units

    def installed_h100e(self) -> float:
        """Installed compute, H100e (a running sum; float residue clamped at zero)."""
        return self._h100e if self._h100e > 1e-6 else 0.0

    def training_efficiency(self) -> float:
        """Share of the installed compute usable for training.

        1 for a fleet of GPUs built for it; lower with domestic chips, which
        serve inference better than training.
        """
        return self._train_h100e / self._h100e if self._h100e > 1e-6 else 1.0

    def pipeline_h100e(self) -> float:
        """Compute ordered and not yet installed (outstanding orders + in transit), H100e."""
        products = self.model.products
        ordered = sum([products[o.product].h100e * o.outstanding for o in self.open_orders])
        return ordered + self.model.orders.in_transit_h100e(self.name)

    def receive(self, shipment: Shipment) -> None:
        """A shipment arrives and is installed; it is paid for on arrival."""
        self.cohorts.append((shipment.product, shipment.units, self.model.week))
        self._units += shipment.units
        self._h100e += self.model.products[shipment.product].h100e * shipment.units
        self._train_h100e += _train(self.model.products[shipment.product]) * shipment.units
        self.capex_this_week += shipment.units * shipment.price_usd
        wait = self.model.week - shipment.order_step
        self.log(
            "delivery",
            shipment.vendor,
            shipment.product,
            shipment.units,
            shipment.price_usd,
            detail=f"ordered {wait} weeks ago",
        )

    def retire(self) -> None:
        """Retire cohorts that reached the end of their service life."""
        life = self.model.spec.parameters.buyers.service_life_weeks
        now = self.model.week
        done = 0
        while done < len(self.cohorts) and now - self.cohorts[done][2] >= life:
            self._retire_cohort(self.cohorts[done], "service life reached")
            done += 1
        if done:
            del self.cohorts[:done]
            if not self.cohorts:
                self._h100e = self._train_h100e = 0.0

    def _retire_cohort(self, cohort: Cohort, why: str) -> None:
        self._units -= cohort[1]
        self._h100e -= self.model.products[cohort[0]].h100e * cohort[1]
        self._train_h100e -= _train(self.model.products[cohort[0]]) * cohort[1]
        self.model.counters["retired"] += cohort[1]
        self.log("retirement", product=cohort[0], quantity=cohort[1], detail=why)

    def retire_all(self, why: str) -> None:
        """Retire the whole fleet and cancel every open order (used at exit)."""
        for c in self.cohorts:
            self._retire_cohort(c, why)
        self.cohorts = []
        self._h100e = self._train_h100e = 0.0  # clear rounding residue
        for o in self.open_orders:
            self.model.cast.vendor[o.vendor].cancel(o, o.outstanding)
        self.open_orders = []

    # ---------------------------------------------------------- ordering

    def demand_signal_h100e(self) -> float:
        """The compute this buyer expects to be asked for; set by subclasses."""
        return 0.0

    def expected_lead_time(self) -> float:
        """Vendors' quoted lead times, weighted by this buyer's vendor shares."""
        m = self.model
        return sum(m.cast.vendor[v].lead_time * s for v, s in self.spec.vendor_shares.items())

    def place_orders(self) -> None:
        """Forecast, then order (or cancel) toward the target fleet."""
        # nothing a buyer does while ordering changes what it may buy: look each vendor up once
        self._offers_memo = {}
        try:
            self._place_orders()
        finally:
            self._offers_memo = None

    def _place_orders(self) -> None:
        m = self.model
        bp = m.spec.parameters.buyers
        self.ordered_units_this_week = 0
        self.forecast.update(self.demand_signal_h100e())
        if not self.spec.vendor_shares:
            return
        self.open_orders = [o for o in self.open_orders if o.outstanding > 0]
        self._move_discontinued_orders()
        lead = self.expected_lead_time()
        horizon = min(bp.max_forecast_horizon_weeks, max(lead, bp.min_forecast_horizon_weeks))
        cover = 1 + bp.safety_stock + self.double_order_share(lead)
        target = self.forecast.ahead(horizon) * cover
        have = self.installed_h100e() + self.pipeline_h100e()
        gap = target - have
        if gap < -bp.cancel_excess_share * target:
            self._cancel_newest(-gap - bp.cancel_excess_share * target)
            return
        if gap <= 0:
            return
        order_h100e = min(gap / bp.supply_line_adjust_weeks, self.order_budget_h100e())
        # what it lacks today is wanted at once; the rest when the forecast needs it
        asap = min(order_h100e, max(0.0, self.forecast.level * cover - have))
        later = order_h100e - asap
        parts = [(asap, m.week)] if asap > 0 else []
        if later > 0:
            when = self.weeks_until_needed(have + asap + later / 2, cover, horizon)
            parts.append((later, m.week + when))
        for vendor_name, share in self.vendor_split().items():
            vendor = m.cast.vendor[vendor_name]
            for product, weight in self.choose_products(vendor):
                for h100e, due in parts:
                    units = int(round(h100e * share * weight / product.h100e))
                    if units > 0:
                        m.orders.place(self, vendor, product.name, units, due)

    def _move_discontinued_orders(self) -> None:
        """Move open orders of products past their end of sale to the vendor's best buy.

        A vendor stops taking orders for a product at its end of sale (F-dated
        in the catalogue) and its customers move what is still unshipped to
        the product that gives them most compute per dollar among those they
        can buy from it (the same compute, H100e). The order keeps its place in
        the buyer's queue. Orders with nothing to move to stay as they are.
        """
        m = self.model
        today = m.date
        products = m.products
        for order in self.open_orders:
            p = products[order.product]
            if p.end_of_sale is None or today <= p.end_of_sale:
                continue
            vendor = m.cast.vendor[order.vendor]
            offers = [q for q in self.offers(vendor) if q.name != order.product]
            if not offers:
                continue
            best = max(offers, key=lambda q: q.h100e / vendor.price[q.name])
            before = order.outstanding
            after = vendor.convert(order, best.name)
            self.log(
                "order_moved",
                vendor.name,
                best.name,
                after,
                detail=f"{before} {p.name} past end of sale moved to {after} {best.name}",
            )

    def weeks_until_needed(self, position: float, cover: float, horizon: float) -> int:
        """Weeks from now by which units that bring the fleet to ``position`` must ship.

        The buyer's forecast need (Holt: level + trend x weeks, times ``cover``)
        reaches ``position`` (H100e installed and on order, counting the new
        units) some weeks ahead, at most ``horizon``; the units are wanted
        installed then, so shipped a transit time before (0: as soon as
        possible). A buyer planning months ahead (``min_forecast_horizon_weeks``)
        schedules what it needs later for later, so a vendor's queue holds only
        what buyers need now.
        """
        f = self.forecast
        if position <= f.level * cover or f.trend <= 0:
            return 0
        weeks = min(horizon, (position / cover - f.level) / f.trend)
        transit = self.model.spec.parameters.vendors.transit_weeks
        return max(0, int(weeks) - transit)

    def order_budget_h100e(self) -> float:
        """Most compute this buyer can pay for in this week's orders, H100e (no limit here)."""
        return float("inf")

    def double_order_share(self, lead_time: float) -> float:
        """Share of the target fleet ordered on top in case orders are only partly filled.

        Buyers facing lead times above normal place double and phantom orders
        (F149): ``double_order_per_week`` per week above the normal lead time,
        at most ``double_order_cap``. It vanishes as lead times fall, and the
        pipeline it leaves behind is then cancelled.
        """
        bp = self.model.spec.parameters.buyers
        if bp.double_order_per_week <= 0:
            return 0.0
        normal = self.model.spec.parameters.vendors.normal_lead_time_weeks
        return min(bp.double_order_cap, bp.double_order_per_week * max(0.0, lead_time - normal))

    def offers(self, vendor: GPUVendor) -> list[Product]:
        """The vendor's products this buyer can buy today.

        On sale, sold in the buyer's country, and not refused by a control
        (buyers know the rules in force and their own refused licences).
        """
        memo = self._offers_memo
        if memo is not None and vendor.name in memo:
            return memo[vendor.name]
        m = self.model
        today = m.date
        found = [
            p
            for p in vendor.products.values()
            if p.on_sale(today)
            and p.name not in vendor.unmade
            and p.sold_in(self.country)
            and not m.controls.would_deny(p, vendor.country, self.country, self.name)
        ]
        if memo is not None:
            memo[vendor.name] = found
        return found

    def choose_products(self, vendor: GPUVendor) -> list[tuple[Product, float]]:
        """How this buyer splits an order over the vendor's products it can buy.

        Shares are proportional to compute per dollar (H100e / current price)
        raised to ``product_choice_sharpness``: a better-value product takes
        most orders, but an older one still sells while the new one ramps.
        A product a rule will soon cover (announced, not yet in force) is
        ordered ``front_run_boost`` times more: buyers pull orders forward.
        """
        m = self.model
        k = m.spec.parameters.buyers.product_choice_sharpness
        offers = self.offers(vendor)
        if not offers:
            return []
        value = [(p.h100e / vendor.price[p.name]) ** k for p in offers]
        total = sum(value)
        boost = m.spec.substitution.front_run_boost
        return [
            (
                p,
                v
                / total
                * (
                    1 + boost
                    if m.controls.announced_covers(p, vendor.country, self.country, self.name)
                    else 1
                ),
            )
            for p, v in zip(offers, value, strict=True)
        ]

    def vendor_split(self) -> dict[str, float]:
        """This week's share of the order per vendor, after substitution.

        A vendor with nothing this buyer can buy loses its share to the
        scenario's substitutes for the buyer's region (e.g. Huawei and
        Cambricon for Chinese buyers) that have something to sell, or else to
        the buyer's other vendors.
        """
        m = self.model
        shares = dict(self.spec.vendor_shares)
        blocked = [v for v in shares if not self.offers(m.cast.vendor[v])]
        if not blocked:
            return shares
        lost = sum(shares.pop(v) for v in blocked)
        subs = m.spec.substitution.substitutes.get(self.region, [])
        takers = [v for v in subs if v not in blocked and self.offers(m.cast.vendor[v])]
        if not takers:
            takers = list(shares)
        if not takers:
            return {}
        for v in takers:
            shares[v] = shares.get(v, 0.0) + lost / len(takers)
        return shares

    def _cancel_newest(self, excess_h100e: float) -> None:
        products = self.model.products
        for order in sorted(self.open_orders, key=lambda o: -o.order_id):
            if excess_h100e <= 0:
                break
            per_unit = products[order.product].h100e
            units = min(order.outstanding, int(excess_h100e / per_unit) + 1)
            n = self.model.cast.vendor[order.vendor].cancel(order, units)
            if n > 0:
                excess_h100e -= n * per_unit
                self.log("cancellation", order.vendor, order.product, n)

    def fleet_state(self) -> dict[str, float]:
        """Fleet columns of the per-step agent state."""
        return {
            "installed_units": float(self.installed_units()),
            "compute_h100e": self.installed_h100e(),
            "orders_units": float(self.ordered_units_this_week),
            "backlog": float(self.model.orders.outstanding(self.name)),
        }


def _train(product: Product) -> float:
    """Training compute of one unit, H100e."""
    return product.h100e * product.training_efficiency
