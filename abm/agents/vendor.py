"""GPU vendors: book inputs upstream, assemble, allocate scarce output, price it.

Each week a vendor (Nvidia, AMD, Huawei, Cambricon...):

1. plans an output rate per product from its order inflow and backlog, and
   orders logic wafers and HBM stacks with the stock-and-supply-line rule,
   covering the suppliers' quoted lead times (this is how a shortage
   upstream turns into more ordering, and how bullwhip reaches fabs); a
   product whose wafer starts a foundry rule refuses is withdrawn from sale,
   and while a rule that will cut its HBM supply is expected or announced the
   vendor stockpiles HBM (``stockpile_cover_weeks`` of planned use on top of
   its normal cover, as far as the memory makers can supply);
2. sends dies and HBM to its packager; output per product is limited by the
   scarcest input (dies, HBM, packaging capacity), which is recorded as the
   product's binding constraint;
3. allocates finished units over the outstanding orders (a pure allocation
   rule), passing every shipment through the shipment check;
4. quotes a lead time from its backlog and shipment rate, and moves prices
   toward a target that rises with the lead time.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from abm.agents.base import Firm
from abm.agents.ordering import supply_line_order
from abm.agents.products import Product
from abm.agents.records import Order, Shipment
from abm.agents.variants import design_variants
from abm.controls.rules import Decision, item_of
from abm.markets.clearing import allocate, allocate_shares_carried
from abm.scenario import VendorSpec

if TYPE_CHECKING:
    from abm.agents.supplier import Supplier
    from abm.engine.model import SupplyChainModel

SMOOTHING = 0.25
"""Weight of the current week in a vendor's averages of orders and shipments."""

INPUT_ADJUST_WEEKS = 4.0
"""Weeks over which a vendor closes gaps in its input stocks and supply lines."""

PRICE_MOVE_LOGGED = 0.10
"""A price move of at least this share since the last logged price is an event."""

QUOTE_SMOOTHING = 0.25
"""Weight of this week's backlog-based quote in the lead time a vendor quotes."""

_OUTSTANDING = attrgetter("outstanding")
_BUYER = attrgetter("buyer")
_PRIORITY = attrgetter("priority")
_DUE = attrgetter("due")
_ORDER_ID = attrgetter("order_id")


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> list[int]:
    """Integer sums of ``values`` per group ``index`` (0..n-1), exactly."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, index, values)
    return out.tolist()


class GPUVendor(Firm):
    """A GPU vendor agent.

    Attributes:
        products: The vendor's catalogue (name -> Product).
        orders: Outstanding orders per product, oldest first.
        finished: Finished units in inventory per product.
        dies: Good logic dies in inventory per die (a product's ``die_bank``:
            products built from the same die share it).
        unmade: Products withdrawn from sale because a foundry rule refuses their wafers.
        hbm: HBM stacks in inventory.
        price: Current price per product, USD.
        binding: The constraint that limited each product's output last week:
            ``wafer``, ``hbm``, ``packaging`` (that supplier was full),
            ``licence`` (a rule cut the input), ``planning`` (the vendor's
            own ordering lag: no supplier was full) or ``demand``.
        binding_firm: The supplier (or rule) behind each product's binding.
        produced: Cumulative units produced per product.
    """

    family = "vendor"

    def __init__(self, model: SupplyChainModel, spec: VendorSpec, products: list[Product]) -> None:
        super().__init__(model, spec.name, spec.country, spec.region)
        self.spec = spec
        self.products: dict[str, Product] = {}
        self.orders: dict[str, list[Order]] = {}
        self._backlog: dict[str, int] = {}  # outstanding units per product, kept current
        # per product, outstanding units of cleared orders already due after this week's
        # shipments (the queue a new order joins: the lead time is quoted from it)
        self.due_backlog: dict[str, int] = {}
        self.finished: dict[str, int] = {}
        self.dies: dict[str, float] = {}
        self.price: dict[str, float] = {}
        self.binding: dict[str, str] = {}
        self.binding_firm: dict[str, str] = {}  # the supplier (or rule) behind ``binding``
        self.produced: dict[str, int] = {}
        self.inflow: dict[str, float] = {}  # smoothed units ordered per week
        self.backlog_now: dict[str, int] = {}  # per product, at planning time
        for p in products:
            self.add_product(p)
        self.hbm = 0.0
        self.unmade: set[str] = set()
        self.logged_price: dict[str, float] = {}
        self.kit_capped: set[str] = set()  # products whose inputs packaging capped this week
        self.variant_designs: dict[tuple[str, str, frozenset[str]], str | None] = {}
        self.cn_history: deque[tuple[int, int, int]] = deque()  # (week, variant, all) to CN
        self.revenue_by_region: dict[str, float] = defaultdict(float)
        self.ordered_this_week: dict[str, int] = defaultdict(int)
        # standing shares for the ``shares`` allocation: smoothed H100e ordered per week
        self.order_history: dict[str, float] = {}
        # per product, what each buyer is owed against its share (fractions of a unit)
        self.share_carry: dict[str, dict[str, float]] = defaultdict(dict)
        self._ordered_h100e: dict[str, float] = defaultdict(float)
        self.shipped_this_week: dict[tuple[str, str], int] = defaultdict(int)  # (region, product)
        self.shipped_value_this_week: dict[tuple[str, str], float] = defaultdict(float)  # USD
        self.produced_this_week = 0
        self.produced_h100e_this_week = 0.0
        self.output_h100e = 0.0  # smoothed H100e packaged per week (caps commitments)
        self.ship_rate = 0.0
        self.production_rate = 0.0
        self.revenue_this_week = 0.0
        self.lead_time = model.spec.parameters.vendors.normal_lead_time_weeks

    def add_product(self, p: Product) -> None:
        """Add a product to the catalogue (at start, or a variant designed in the run)."""
        self.products[p.name] = p
        self.orders[p.name] = []
        self._backlog[p.name] = 0
        self.finished[p.name] = 0
        self.dies.setdefault(p.die_bank, 0.0)
        self.price[p.name] = p.list_price_usd
        self.binding[p.name] = "demand"
        self.binding_firm[p.name] = ""
        self.produced[p.name] = 0
        self.inflow[p.name] = 0.0
        self.backlog_now[p.name] = 0

    def variant_share(self, country: str) -> float:
        """Share of units shipped to ``country`` over the last 13 weeks that were variants."""
        total = sum(a for _, _, a in self.cn_history)
        return sum(v for _, v, _ in self.cn_history) / total if total else 0.0

    # ------------------------------------------------------------ inputs

    def receive_order(self, order: Order) -> None:
        """Book a buyer's order into the backlog of its product."""
        self.orders[order.product].append(order)
        self.ordered_this_week[order.product] += order.quantity
        self._ordered_h100e[order.buyer] += order.quantity * self.products[order.product].h100e
        self._backlog[order.product] += order.outstanding

    def receive_dies(self, product: str, dies: float) -> None:
        """Good dies arrive from the foundry (or a front), into the product's die bank."""
        self.dies[self.products[product].die_bank] += dies

    def receive_hbm(self, stacks: float) -> None:
        """HBM stacks arrive from a memory maker."""
        self.hbm += stacks

    def take_back_kits(self, product: str, units: float) -> None:
        """Dies and HBM of ``units`` packages the packager could not queue come back to stock."""
        p = self.products[product]
        self.dies[p.die_bank] += units * p.logic_dies
        self.hbm += units * p.hbm_stacks

    def receive_packages(self, product: str, units: int, packager: str) -> None:
        """Packaged GPUs arrive: they are produced units from now on."""
        self.finished[product] += units
        self.produced[product] += units
        self.produced_this_week += units
        self.produced_h100e_this_week += units * self.products[product].h100e
        self.model.counters["produced"] += units
        self.model.flow_meter.add(packager, self.name, "packaging", units)
        self.log("production", counterparty=packager, product=product, quantity=units)

    def prime(self) -> None:
        """Start the run in a steady state at ``initial_weekly_units``.

        Work in process at the foundry, memory makers and packager, input
        stocks, one week of finished goods and a backlog of
        ``target_backlog_weeks`` of orders (spread over the buyers that buy
        from this vendor, by installed compute) are set as if the vendor had
        been producing at that rate.
        """
        m = self.model
        stacks = 0.0
        total = 0
        for name, rate in self.spec.initial_weekly_units.items():
            p = self.products[name]
            foundry = m.cast.foundry[p.foundry]
            packager = m.cast.packager[p.packager]
            wafers = rate * p.logic_dies / foundry.good_dies_per_wafer(name)
            foundry.in_process += [(k, self.name, name, wafers) for k in range(foundry.cycle_weeks)]
            packs = rate / p.packages_per_wafer
            packager.in_process += [
                (k, self.name, name, packs) for k in range(packager.cycle_weeks)
            ]
            self.dies[p.die_bank] += rate * p.logic_dies * self.spec.input_cover_weeks
            self.inflow[name] = float(rate)
            self.finished[name] = rate
            m.counters["produced"] += rate
            self.produced[name] += rate
            stacks += rate * p.hbm_stacks
            total += rate
            self.output_h100e += rate * p.h100e
            self._initial_orders(name, int(rate * self.spec.target_backlog_weeks))
        self.hbm = stacks * self.spec.input_cover_weeks
        for maker, share in self.spec.hbm_suppliers.items():
            mk = m.cast.memory_maker[maker]
            mk.in_process += [(k, self.name, "", stacks * share) for k in range(mk.cycle_weeks)]
        self.ship_rate = self.production_rate = float(total)
        self.due_backlog = dict(self._backlog)  # the primed orders are all due
        if total:
            self._update_lead_time_and_prices()

    def _initial_orders(self, product: str, units: int) -> None:
        m = self.model
        buyers = [b for b in m.buyers if self.name in b.spec.vendor_shares]
        weights = [b.installed_h100e() * b.spec.vendor_shares[self.name] for b in buyers]
        total = sum(weights)
        if total <= 0 or units <= 0:
            return
        weekly = units / self.spec.target_backlog_weeks * self.products[product].h100e
        for b, w in zip(buyers, weights, strict=True):
            n = int(units * w / total)
            if n > 0:
                b.open_orders.append(m.orders.new_order(b, self, product, n))
            # the relationship before the run: a standing share by installed base
            self.order_history[b.name] = self.order_history.get(b.name, 0.0) + weekly * w / total
        self.ordered_this_week.clear()
        self._ordered_h100e.clear()

    # ---------------------------------------------------------- planning

    def backlog_units(self, product: str | None = None) -> int:
        """Units ordered and not yet shipped (one product, or all).

        Kept current per product as orders arrive, ship or are cancelled (the
        only ways ``outstanding`` changes), so the many lookups of a week are
        cheap; :meth:`backlog_recount` recounts it from the orders.
        """
        if product is not None:
            return self._backlog.get(product, 0)
        return sum(self._backlog.values())

    def backlog_recount(self) -> dict[str, int]:
        """Outstanding units per product counted from the orders (checks the kept totals)."""
        return {n: sum(o.outstanding for o in orders) for n, orders in self.orders.items()}

    def active_products(self) -> list[Product]:
        """Products on sale, launching within their build time, or with orders still to serve."""
        today = self.model.date
        return [
            p
            for p in self.products.values()
            if p.on_sale(today) or self.orders[p.name] or self.prelaunch(p)
        ]

    def build_weeks(self, p: Product) -> int:
        """Weeks from wafer start to packaged unit (fab cycle plus packaging cycle)."""
        m = self.model
        return m.cast.foundry[p.foundry].cycle_weeks + m.cast.packager[p.packager].cycle_weeks

    def prelaunch(self, p: Product) -> bool:
        """True in the build time before ``p``'s launch: wafers start so units exist at launch."""
        weeks_to_launch = (p.launch - self.model.date).days / 7
        return 0 < weeks_to_launch <= self.build_weeks(p)

    def _carry_inflow_to_successors(self) -> None:
        """Before a launch, expect the order inflow of older products to move to the new one.

        Buyers move to a vendor's newest product, so at launch much of the
        inflow of the products on sale moves to it; the vendor plans for that
        (in H100e, so a faster part needs fewer units) instead of starting from
        zero. Compliant variants are planned from the orders they get.
        """
        today = self.model.date
        for p in self.products.values():
            if p.variant_of or not self.prelaunch(p):
                continue
            older = [
                q
                for q in self.products.values()
                if q.on_sale(today) and q.launch < p.launch and not q.variant_of
            ]
            self.inflow[p.name] = sum(self.inflow[q.name] * q.h100e for q in older) / p.h100e

    def _update_order_history(self) -> None:
        """Fold this week's orders (H100e) into each buyer's smoothed order history."""
        weight = 1.0 / self.model.spec.parameters.vendors.allocation_history_weeks
        hist = self.order_history
        for buyer in hist.keys() - self._ordered_h100e.keys():
            hist[buyer] *= 1 - weight
        for buyer, h100e in self._ordered_h100e.items():
            old = hist.get(buyer, 0.0)
            hist[buyer] = old + weight * (h100e - old)
        self._ordered_h100e.clear()

    def standing_shares(self, buyers: list[str]) -> np.ndarray:
        """Each buyer's standing share of scarce output (``shares`` allocation).

        The share is the buyer's smoothed order history with this vendor (H100e
        per week over ``allocation_history_weeks``), times ``1 + w * priority``
        for its contract class, and at least ``allocation_floor_share`` of the
        mean, so a new customer with an order is served from its first weeks.
        """
        vp = self.model.spec.parameters.vendors
        customer = self.model.cast.customer
        hist = np.array([self.order_history.get(b, 0.0) for b in buyers])
        floor = vp.allocation_floor_share * (hist.mean() if len(hist) else 0.0)
        tier = np.array(
            [1.0 + vp.allocation_priority_weight * customer[b].spec.priority for b in buyers]
        )
        return np.maximum(hist, floor) * tier

    def sells(self, p: Product) -> bool:
        """Whether ``p`` is on sale today (and its foundry has not refused its wafers)."""
        return p.on_sale(self.model.date) and p.name not in self.unmade

    def planned_rate(self, p: Product) -> float:
        """Units per week the vendor wants to produce of ``p``."""
        net_backlog = max(0, self.backlog_now[p.name] - self.finished[p.name])
        rate = max(self.inflow[p.name], net_backlog / self.spec.target_backlog_weeks)
        if p.name not in self.unmade and (p.on_sale(self.model.date) or self.prelaunch(p)):
            return rate
        return net_backlog / self.spec.target_backlog_weeks

    def _attainable(self, plan: dict[str, float]) -> dict[str, float]:
        """Scale the plan to what packaging will let the vendor build (kit balancing).

        Each packager shares its usable capacity among vendors in proportion to
        what they booked last week; a vendor orders dies and HBM for at most
        ``max_ramp`` times its share, not for a backlog that includes buyers'
        phantom orders. The whole plan is still booked with every supplier, so
        suppliers see the demand and expand toward it.
        """
        m = self.model
        out = dict(plan)
        self.kit_capped = set()
        by_packager: dict[str, list[str]] = defaultdict(list)
        for name in plan:
            by_packager[self.products[name].packager].append(name)
        for packager_name, names in by_packager.items():
            packager = m.cast.packager[packager_name]
            wafers = sum(plan[n] / self.products[n].packages_per_wafer for n in names)
            foundry = m.cast.foundry[self.products[names[0]].foundry]
            allot = self.spec.max_ramp * packager.allotment(self.name, foundry.cycle_weeks)
            floor = self.spec.min_plan_units_per_week / 30.0  # a few dozen wafers at launch
            limit = max(allot, floor)
            if wafers > limit > 0:
                for n in names:
                    out[n] = plan[n] * limit / wafers
                self.kit_capped.update(names)
        return out

    def order_inputs(self) -> None:
        """Order wafers and HBM, and send what can be packaged to the packager."""
        m = self.model
        self.output_h100e += SMOOTHING * (self.produced_h100e_this_week - self.output_h100e)
        self.produced_this_week = 0
        self.produced_h100e_this_week = 0.0
        for name, qty in self.ordered_this_week.items():
            self.inflow[name] += SMOOTHING * (qty - self.inflow[name])
        for name in self.products:
            if name not in self.ordered_this_week:
                self.inflow[name] *= 1 - SMOOTHING
        self.ordered_this_week.clear()
        self._update_order_history()
        design_variants(self)
        self.backlog_now = {n: self.backlog_units(n) for n in self.products}
        self._carry_inflow_to_successors()

        self._review_unmade()
        plan = {p.name: self.planned_rate(p) for p in self.active_products()}
        rates = self._attainable(plan)
        plan_h100e = sum(r * self.products[n].h100e for n, r in plan.items())
        commit: dict[str, float] = {}  # share of the plan committed, per supplier
        # logic wafers, per product
        for name, rate in rates.items():
            p = self.products[name]
            foundry = m.cast.foundry[p.foundry]
            per_wafer = foundry.good_dies_per_wafer(name)
            packager = m.cast.packager[p.packager]
            # capacity is committed for the plan, within what the vendor dares prepay
            # (suppliers expand toward commitments) ...
            if name not in self.unmade:
                f_commit = plan[name] * self._commit_share(plan_h100e, foundry, commit)
                foundry.book(self.name, name, f_commit * p.logic_dies / per_wafer)
            p_commit = plan[name] * self._commit_share(plan_h100e, packager, commit)
            packager.book(self.name, name, p_commit / p.packages_per_wafer)
            # ... but inputs are ordered only for what the line can attain soon
            use = rate * p.logic_dies
            line = (
                foundry.backlog_of(self.name, name) + foundry.in_process_of(self.name, name)
            ) * per_wafer
            dies_wanted = supply_line_order(
                expected_use=use,
                desired_stock=use * self.spec.input_cover_weeks,
                stock=self.dies[p.die_bank],
                desired_supply_line=use * foundry.cycle_weeks,
                supply_line=line,
                adjust_weeks=INPUT_ADJUST_WEEKS,
            )
            if dies_wanted > 0 and not foundry.request(self.name, name, dies_wanted / per_wafer):
                self.unmade.add(name)  # the foundry will not make it: off sale
        # HBM, shared by products, split over suppliers by share
        use = sum(rate * self.products[n].hbm_stacks for n, rate in rates.items())
        planned_use = sum(r * self.products[n].hbm_stacks for n, r in plan.items())
        makers = [(m.cast.memory_maker[s], share) for s, share in self.spec.hbm_suppliers.items()]
        line = sum(
            mk.backlog_of(self.name, "") + mk.in_process_of(self.name, "") for mk, _ in makers
        )
        lead = max(mk.cycle_weeks for mk, _ in makers)
        # front-running an HBM rule: stock up on planned use while supply lasts
        cut = self.spec.stockpile_cover_weeks > 0 and any(
            m.controls.hbm_expected_cut(mk.country, self.country, self.name) for mk, _ in makers
        )
        stockpile = self.spec.stockpile_cover_weeks * planned_use if cut else 0.0
        stacks = supply_line_order(
            expected_use=use,
            desired_stock=use * self.spec.input_cover_weeks + stockpile,
            stock=self.hbm,
            desired_supply_line=use * lead,
            supply_line=line,
            adjust_weeks=INPUT_ADJUST_WEEKS,
        )
        # dual sourcing: split by contract share weighted by each maker's usable capacity,
        # so a small second source is not asked for more than it can make
        weights = [
            share
            * mk.lines["hbm"].usable
            * m.controls.hbm_allowed(mk.country, self.country, self.name)
            for mk, share in makers
        ]
        total_w = sum(weights)
        for (mk, share), w in zip(makers, weights, strict=True):
            mk.request(self.name, "", stacks * (w / total_w if total_w > 0 else share))
            if m.controls.hbm_allowed(mk.country, self.country, self.name):
                mk.book(
                    self.name, "", planned_use * share * self._commit_share(plan_h100e, mk, commit)
                )
        self._send_to_packaging(rates)

    def _bind(self, product: str, input_: str, supplier: str, share: float) -> None:
        """Name the input that limited ``product`` and the supplier behind it.

        The supplier binds only if it could not start all the work it was
        asked for last week (``share`` below 1); otherwise the input ran short
        because the vendor ordered it too late or too little: ``planning``.
        """
        if share < 0.999:
            self.binding[product], self.binding_firm[product] = input_, supplier
        else:
            self.binding[product], self.binding_firm[product] = "planning", self.name

    def _bind_hbm(self, product: str) -> None:
        """HBM ran short: the memory maker that could not keep up, a rule, or planning."""
        m = self.model
        makers = [m.cast.memory_maker[s] for s in self.spec.hbm_suppliers]
        allowed = [
            mk for mk in makers if m.controls.hbm_allowed(mk.country, self.country, self.name)
        ]
        if allowed:
            tight = min(allowed, key=lambda mk: mk.last_share["hbm"])
            if tight.last_share["hbm"] < 0.999:
                self.binding[product], self.binding_firm[product] = "hbm", tight.name
                return
        if len(allowed) < len(makers):
            self.binding[product], self.binding_firm[product] = "licence", "HBM control"
            return
        self.binding[product], self.binding_firm[product] = "planning", self.name

    def _commit_share(self, plan_h100e: float, supplier: Supplier, seen: dict[str, float]) -> float:
        """Share of the plan the vendor commits to ``supplier``'s future capacity.

        A commitment is prepaid and binding, so a vendor commits at most
        ``(1 + commitment_growth_per_year) ** (lag / 52)`` times its current
        output (smoothed H100e per week; at least ``min_plan_units_per_week``
        H100 at launch) for capacity that comes online ``lag`` weeks ahead.
        """
        if supplier.name in seen:  # one value per supplier and week (``seen`` caches it)
            return seen[supplier.name]
        share = 1.0
        if plan_h100e > 0:
            lag = max(line.growth.expansion_lag_weeks for line in supplier.lines.values())
            base = max(self.output_h100e, self.spec.min_plan_units_per_week)
            cap = base * (1 + self.spec.commitment_growth_per_year) ** (lag / 52)
            share = min(1.0, cap / plan_h100e)
        seen[supplier.name] = share
        return share

    def _review_unmade(self) -> None:
        """Review withdrawn products against the foundry rules in force.

        One no rule refuses any more goes back on sale; one still refused with
        nothing left to build it from (dies, finished units, packaging queue,
        wafers in process) has its orders cancelled (``denial`` events).
        """
        m = self.model
        for name in sorted(self.unmade):
            p = self.products[name]
            foundry = m.cast.foundry[p.foundry]
            d = m.controls.wafer_clearance(
                p, foundry.node_nm[foundry.line_of(name)], foundry.country, self.country, self.name
            )
            if d.verdict == "allow":
                self.unmade.discard(name)
                continue
            left = (
                self.dies[p.die_bank] / p.logic_dies
                + self.finished[name]
                + m.cast.packager[p.packager].units_queued(self.name, name)
                + foundry.in_process_of(self.name, name) * foundry.good_dies_per_wafer(name)
            )
            if left >= 1:
                continue
            by_buyer: dict[str, int] = defaultdict(int)
            for o in self.orders[name]:
                by_buyer[o.buyer] += self.cancel(o, o.outstanding)
            for buyer, units in by_buyer.items():
                if units:
                    m.controls.record_denial(d.rule, units)
                    self.log(
                        "denial",
                        buyer,
                        name,
                        units,
                        rule=d.rule,
                        detail=f"wafer starts at {foundry.name} refused under {d.rule}: "
                        "nothing left to build; orders cancelled",
                    )

    def _send_to_packaging(self, rates: dict[str, float]) -> None:
        """Send kits (dies and HBM) for what the backlog needs, within the packaging queue.

        A vendor queues at most ``supplier_max_queue_weeks`` of the packaging it
        can count on (its allotment, shared over its products there by planned
        wafers): kits beyond that would only crowd other vendors out of the
        queue, and stay in the vendor's stock instead.
        """
        m = self.model
        queue_weeks = m.spec.parameters.supplier_max_queue_weeks
        wafers_at: dict[str, float] = defaultdict(float)
        for name, rate in rates.items():
            p = self.products[name]
            wafers_at[p.packager] += rate / p.packages_per_wafer
        want: dict[str, int] = {}
        for name, rate in rates.items():
            p = self.products[name]
            packager = m.cast.packager[p.packager]
            queued = packager.units_queued(self.name, name)
            target = self.backlog_now[name] + rate * 2  # backlog plus two weeks' cover
            share = rate / p.packages_per_wafer / wafers_at[p.packager] if rate > 0 else 0.0
            room = queue_weeks * packager.allotment(self.name) * share * p.packages_per_wafer
            want[name] = max(0, int(min(target, queued + room) - self.finished[name] - queued))
        need_hbm = sum(w * self.products[n].hbm_stacks for n, w in want.items())
        hbm_share = min(1.0, self.hbm / need_hbm) if need_hbm > 0 else 1.0
        for name, w in want.items():
            if w <= 0:
                self.binding[name] = "demand"
                self.binding_firm[name] = ""
                continue
            p = self.products[name]
            by_dies = int(self.dies[p.die_bank] / p.logic_dies)
            by_hbm = int(w * hbm_share) if p.hbm_stacks else w
            units = min(w, by_dies, by_hbm)
            packager = m.cast.packager[p.packager]
            if units < w:
                # the scarcer input first; a supplier with room means the vendor's own lag
                if p.hbm_stacks and by_hbm < by_dies:
                    self._bind_hbm(name)
                elif name in self.unmade:  # a foundry rule refused its wafers
                    self.binding[name], self.binding_firm[name] = "licence", "foundry rule"
                else:
                    foundry = m.cast.foundry[p.foundry]
                    share = foundry.last_share[foundry.line_of(name)]
                    self._bind(name, "wafer", foundry.name, share)
                if self.binding[name] == "planning" and name in self.kit_capped:
                    # inputs were ordered only for what packaging allots
                    self._bind(name, "packaging", packager.name, packager.share_served)
            else:
                short = packager.share_served < 0.999
                self.binding[name] = "packaging" if short else "demand"
                self.binding_firm[name] = packager.name if short else ""
            if units <= 0:
                continue
            self.dies[p.die_bank] -= units * p.logic_dies
            self.hbm -= units * p.hbm_stacks
            m.cast.packager[p.packager].request_units(self.name, name, units)

    # --------------------------------------------------- allocation, ship

    def allocate_and_ship(self) -> None:
        """Clear each buyer with the controls, share finished units over cleared orders, ship.

        Per product: drop served orders, get each buyer's control verdict
        (cancelling denied buyers' orders), share the finished units over the
        cleared orders' outstanding units with the vendor's allocation rule,
        log what each buyer asked for and got, and ship one consignment per
        buyer. The per-order work is done on numpy arrays (one pass over the
        orders to read them, one over the orders that got units to update
        them); ``tests/reference/vendor_allocation.py`` keeps the plain loop
        version this must match exactly.
        """
        m = self.model
        self.shipped_this_week.clear()
        self.shipped_value_this_week.clear()
        self.revenue_by_region.clear()
        self.revenue_this_week = 0.0
        shipped_total = 0
        to_cn = variant_to_cn = 0
        for name, orders in self.orders.items():
            live = [o for o in orders if o.outstanding > 0]
            if not live:
                orders[:] = live
                self.due_backlog[name] = 0
                continue
            p = self.products[name]
            decisions = self._clear_buyers(p, live)
            allowed = [b for b, d in decisions.items() if d.verdict == "allow"]
            if len(allowed) < len(decisions):  # cancellations or pending licences
                live = [o for o in live if o.outstanding > 0]
                ok = set(allowed)
                cleared = [o for o in live if o.buyer in ok]
            else:
                cleared = live
            orders[:] = live
            if not cleared or self.finished[name] <= 0:
                self.due_backlog[name] = sum(o.outstanding for o in cleared if o.due <= m.week)
                self._log_allocations(name, cleared, allowed, None)
                continue
            n = len(cleared)
            index = {b: i for i, b in enumerate(allowed)}
            requests = np.fromiter(map(_OUTSTANDING, cleared), np.int64, n)
            buyer_ix = np.fromiter(map(index.__getitem__, map(_BUYER, cleared)), np.int64, n)
            due = np.fromiter(map(_DUE, cleared), np.int64, n) <= m.week
            now = np.where(due, requests, 0)
            given = self._allocate(self.finished[name], now, buyer_ix, allowed, cleared, name)
            left = self.finished[name] - int(given.sum())
            later = requests - now
            if left > 0 and not due.all():  # stock left: ship scheduled orders early
                # by shares too, with their own carry, so early units rotate over buyers
                early = f"{name} early"
                given += self._allocate(left, later, buyer_ix, allowed, cleared, early)
            self.due_backlog[name] = int(np.clip(now - given, 0, None).sum())
            self._log_allocations(name, cleared, allowed, (buyer_ix, now, given, later))
            got = np.flatnonzero(given > 0)
            if not len(got):
                continue
            for i, g in zip(got.tolist(), given[got].tolist(), strict=True):
                cleared[i].outstanding -= g
            self._backlog[name] -= int(given.sum())
            # one consignment per buyer, in the order of each buyer's first served order
            got_buyer = buyer_ix[got]
            units_by = np.bincount(got_buyer, weights=given[got], minlength=len(allowed))
            uniq, first_pos = np.unique(got_buyer, return_index=True)
            first = np.argsort(first_pos, kind="stable")
            # orders are kept in the order they were placed (steps never decrease), so a
            # buyer's first served order is its oldest: the shipment's order step
            for b, pos in zip(uniq[first].tolist(), got[first_pos[first]].tolist(), strict=True):
                buyer_name = allowed[b]
                units = int(units_by[b])
                order_step = cleared[pos].step
                buyer = m.cast.customer[buyer_name]
                m.orders.reduced(buyer_name, units)
                price = self.price[name]
                d = decisions[buyer_name]
                self.finished[name] -= units
                shipped_total += units
                self.shipped_this_week[(buyer.region, name)] += units
                value = units * price
                self.shipped_value_this_week[(buyer.region, name)] += value
                m.controls.record_shipment(d, buyer_name, units, value)
                net = value * (1 - d.levy_share)
                self.revenue_this_week += net
                self.revenue_by_region[buyer.region] += net
                if buyer.country == "CN":
                    to_cn += units
                    variant_to_cn += units if p.variant_of else 0
                m.orders.dispatch(
                    Shipment(
                        vendor=self.name,
                        buyer=buyer_name,
                        product=name,
                        units=units,
                        shipped_step=m.week,
                        arrival_step=m.week + m.spec.parameters.vendors.transit_weeks,
                        order_step=order_step,
                        price_usd=price,
                    )
                )
                m.flow_meter.add(self.name, buyer_name, "gpus", units)
                levy = f"; levy {100 * d.levy_share:.0f}% ({', '.join(d.levy_rules)})"
                self.log(
                    "shipment",
                    buyer_name,
                    name,
                    units,
                    price,
                    rule=d.rule,
                    detail=levy if d.levy_share else "",
                )
        self.cn_history.append((m.week, variant_to_cn, to_cn))
        while self.cn_history and self.cn_history[0][0] <= m.week - 13:
            self.cn_history.popleft()
        self.ship_rate += SMOOTHING * (shipped_total - self.ship_rate)
        self._update_lead_time_and_prices()

    def _allocate(
        self,
        available: int,
        requests: np.ndarray,
        buyer_ix: np.ndarray,
        buyers: list[str],
        orders: list[Order],
        carried: str | None = None,
    ) -> np.ndarray:
        """Units per order under the vendor's allocation rule (``orders`` align with requests).

        With ``carried`` (a product name) the ``shares`` rule carries what each
        buyer is owed against its share from week to week for that product.
        """
        if self.spec.allocation == "shares":
            return self._allocate_by_shares(available, requests, buyer_ix, buyers, carried)
        priorities = (
            np.fromiter(map(_PRIORITY, orders), np.int64, len(orders))
            if self.spec.allocation == "priority"
            else None
        )
        return allocate(self.spec.allocation, available, requests, priorities)

    def _allocate_by_shares(
        self,
        available: int,
        requests: np.ndarray,
        buyer_ix: np.ndarray,
        buyers: list[str],
        carried: str | None = None,
    ) -> np.ndarray:
        """Units per order: buyers get their standing share, each buyer's oldest orders first."""
        asked = np.bincount(buyer_ix, weights=requests, minlength=len(buyers)).astype(np.int64)
        if int(requests.sum()) <= available:  # everything fits: no shares needed
            if carried is not None:
                self.share_carry.pop(carried, None)
            return requests.copy()
        got = self.share_out(available, asked, buyers, carried)
        # within a buyer, oldest order first: units before an order are its buyer's earlier asks
        order = np.argsort(buyer_ix, kind="stable")
        req = requests[order]
        cum = np.cumsum(req)
        start = np.concatenate(([0], np.flatnonzero(np.diff(buyer_ix[order])) + 1))
        sizes = np.diff(np.concatenate((start, [len(order)])))
        group_base = np.repeat(cum[start] - req[start], sizes)
        before = np.empty_like(requests)
        before[order] = cum - req - group_base
        return np.clip(got[buyer_ix] - before, 0, requests).astype(np.int64)

    def share_out(
        self, available: int, asked: np.ndarray, buyers: list[str], carried: str | None
    ) -> np.ndarray:
        """Units per buyer by standing shares; with ``carried`` (a product), fractions owed carry.

        Small outputs then rotate over the buyers instead of always leaving out
        the one with the smallest share (:func:`allocate_shares_carried`).
        """
        shares = self.standing_shares(buyers)
        if carried is None:
            return allocate("shares", available, asked, shares=shares)
        owed = self.share_carry[carried]
        carry = np.array([owed.get(b, 0.0) for b in buyers])
        got, carry = allocate_shares_carried(available, asked, shares, carry)
        self.share_carry[carried] = {
            b: c for b, c, a in zip(buyers, carry.tolist(), asked.tolist(), strict=True) if a > 0
        }
        return got

    def _clear_buyers(self, p: Product, orders: list[Order]) -> dict[str, Decision]:
        """This week's control verdict for each buyer with orders of ``p``.

        Buyers are checked in the order of their oldest order. A denied
        buyer's outstanding orders of ``p`` are cancelled (a ``denial`` event
        naming the rule); buyers awaiting a licence wait.
        """
        m = self.model
        item = item_of(p)
        decisions: dict[str, Decision] = {
            b: m.controls.clearance(item, self.country, m.cast.customer[b].country, b)
            for b in dict.fromkeys(map(_BUYER, orders))
        }
        for buyer, d in decisions.items():
            if d.verdict != "deny":
                continue
            units = 0
            for o in orders:
                if o.buyer == buyer:
                    units += self.cancel(o, o.outstanding)
            if units:
                m.controls.record_denial(d.rule, units)
                self.log(
                    "denial",
                    buyer,
                    p.name,
                    units,
                    rule=d.rule,
                    detail=f"export/import refused under {d.rule}; orders cancelled",
                )
        return decisions

    def _log_allocations(
        self,
        product: str,
        orders: list[Order],
        buyers: list[str],
        allocated: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> None:
        """One ``allocation`` event per cleared buyer (``buyers``, in order of first order).

        ``allocated`` is ``(buyer index, due, given, scheduled)`` per cleared order;
        with it None nothing was handed out: each buyer got 0. The event says what
        was due (asked), what was given (early shipments included) and what was
        outstanding on orders scheduled for later.
        """
        if not orders:
            return
        if allocated is None:
            asked = dict.fromkeys(buyers, 0)
            later = dict.fromkeys(buyers, 0)
            week = self.model.week
            for o in orders:
                if o.due <= week:
                    asked[o.buyer] += o.outstanding
                else:
                    later[o.buyer] += o.outstanding
            got = dict.fromkeys(buyers, 0)
        else:
            buyer_ix, req, given, sched = allocated
            n = len(buyers)
            asked = dict(zip(buyers, _sum_by(buyer_ix, req, n), strict=True))
            got = dict(zip(buyers, _sum_by(buyer_ix, given, n), strict=True))
            later = dict(zip(buyers, _sum_by(buyer_ix, sched, n), strict=True))
        short = self.binding[product].replace("demand", "inventory")
        if self.binding_firm.get(product):
            short = f"{short} ({self.binding_firm[product]})"
        for buyer, a in asked.items():
            # "demand" means no input ran short: the finished stock was shared out
            binding = "none" if got[buyer] >= a else short
            self.log(
                "allocation",
                buyer,
                product,
                got[buyer],
                detail=f"asked {a}, given {got[buyer]}; scheduled {later[buyer]}; "
                f"binding: {binding}",
            )

    def _update_lead_time_and_prices(self) -> None:
        vp = self.model.spec.parameters.vendors
        # the queue a new order joins: orders due now (scheduled ones wait for their date)
        backlog = sum(self.due_backlog.values())
        self.production_rate += SMOOTHING * (self.produced_this_week - self.production_rate)
        rate = max(self.ship_rate, self.production_rate, 1.0)
        quote = min(104.0, backlog / rate) + vp.transit_weeks
        self.lead_time += QUOTE_SMOOTHING * (quote - self.lead_time)
        pressure = self.lead_time / vp.normal_lead_time_weeks - 1.0
        multiple = float(
            np.clip(
                1.0 + self.spec.price_response * pressure,
                vp.min_price_multiple,
                vp.max_price_multiple,
            )
        )
        for name, p in self.products.items():
            target = p.list_price_usd * multiple
            self.price[name] += vp.price_adjust_rate * (target - self.price[name])
            logged = self.logged_price.setdefault(name, p.list_price_usd)
            if abs(self.price[name] / logged - 1) >= PRICE_MOVE_LOGGED and p.on_sale(
                self.model.date
            ):
                self.log(
                    "price_move",
                    product=name,
                    price_usd=self.price[name],
                    detail=f"{100 * (self.price[name] / logged - 1):+.0f}% since last logged",
                )
                self.logged_price[name] = self.price[name]

    # -------------------------------------------------------------- misc

    def convert(self, order: Order, product: str) -> int:
        """Move an order's outstanding units to ``product`` (same compute, H100e); new units.

        The order keeps its number, date and due date (its place in the
        buyer's queue); its quantity becomes what has shipped plus the new
        outstanding units. Returns the outstanding units of ``product``.
        """
        old, new = self.products[order.product], self.products[product]
        units = int(round(order.outstanding * old.h100e / new.h100e))
        self.orders[order.product].remove(order)
        self._backlog[order.product] -= order.outstanding
        self.model.orders.reduced(order.buyer, order.outstanding - units)
        order.quantity += units - order.outstanding
        order.outstanding = units
        order.product = product
        queue = self.orders[product]
        at = bisect.bisect(queue, order.order_id, key=_ORDER_ID)  # kept in placement order
        queue.insert(at, order)
        self._backlog[product] += units
        return units

    def cancel(self, order: Order, units: int) -> int:
        """Cancel up to ``units`` of an order's outstanding quantity; returns units cancelled."""
        n = min(units, order.outstanding)
        order.outstanding -= n
        self._backlog[order.product] -= n
        self.model.orders.reduced(order.buyer, n)
        return n

    def newest_product(self) -> Product | None:
        """The most recently launched product on sale today."""
        today = self.model.date
        on_sale = [
            p for p in self.products.values() if p.on_sale(today) and p.name not in self.unmade
        ]
        return max(on_sale, key=lambda p: p.launch) if on_sale else None

    def inventory_units(self) -> int:
        """Finished units held."""
        return sum(self.finished.values())

    def state(self) -> dict[str, float]:
        """Backlog, inventory, lead time and production."""
        return {
            "backlog": float(self.backlog_units()),
            "inventory_units": float(self.inventory_units()),
            "lead_time_weeks": self.lead_time,
            "shortage_ratio": max(
                0.0,
                1.0 - self.model.spec.parameters.vendors.normal_lead_time_weeks / self.lead_time,
            )
            if self.lead_time > 0
            else 0.0,
            "production_units": float(self.produced_this_week),
            "revenue_usd": self.revenue_this_week,
        }
