"""The supply-chain model: agents on a supply graph, stepped week by week.

Build and run it in two lines::

    model = SupplyChainModel.from_scenario("baseline", seed=1)
    model.run()
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict, deque
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from mesa import Model
from mesa.discrete_space import Network

from abm.agents.base import Firm
from abm.agents.broker import Broker
from abm.agents.cloud import CloudProvider
from abm.agents.enterprise import EnterpriseDemand
from abm.agents.foundry import Foundry
from abm.agents.government import Government
from abm.agents.lab import AILab
from abm.agents.memory_maker import MemoryMaker
from abm.agents.packager import Packager
from abm.agents.vendor import GPUVendor
from abm.controls.rules import HBM_ITEM, ControlRule, Decision, Item, check_shipment, item_of
from abm.engine.events import EventLog
from abm.engine.flows import FlowMeter, WeekFlows
from abm.engine.metrics import REGIONS, MetricLog
from abm.engine.products import Product
from abm.engine.records import Order, Shipment
from abm.engine.shocks import REGISTRY as SHOCKS
from abm.engine.statelog import AgentStateLog
from abm.engine.synthetic import expand_synthetic
from abm.markets.clearing import clear_rental_market
from abm.scenario.schema import Scenario, load_scenario

log = logging.getLogger(__name__)

MARKET_EDGE_LIMIT = 20_000
"""Most rental (cloud -> renter) or API (lab -> enterprise) edges drawn per region.

Those markets clear region-wide (every cloud serves every renter of its
region), so the edges only describe the graph; above this count (synthetic
worlds of thousands of firms) a region's market edges are left out and
counted in ``graph.graph["omitted_market_edges"]``.
"""


class SupplyChainModel(Model):
    """The AI-compute supply chain under export controls, one step per week.

    One step:

    1. Calendar: the week's date; shocks set their multipliers; suppliers
       bring commissioned capacity online and review expansion.
    2. Demand: enterprises update their token demand; labs update users,
       compute need (inference + training) and rental need.
    3. Orders flow upstream: clouds and labs with fleets order GPUs from
       vendors (or cancel); vendors order wafers and HBM and send what they
       can assemble to their packagers.
    4. Supply: foundries, memory makers and packagers start work within
       capacity and hand over what completes (dies, stacks, packaged GPUs).
    5. Allocation and shipment: vendors allocate finished units over their
       backlogs; every shipment passes the shipment check; vendors quote
       lead times and move prices.
    6. Deliveries arrive and are installed; old units retire; each region's
       rental market clears; labs serve users, ration when short and book
       revenue and costs; labs that cannot pay exit.
    7. Record: metrics and per-agent state.

    Attributes:
        spec: The validated scenario.
        seed: The run's seed; every random stream derives from it.
        graph: Supply graph (networkx DiGraph, supplier -> buyer), integer
            node ids with ``name``, ``family`` and ``region`` attributes.
        products: Product catalogue by name.
        events: The event log.
        flows: What moved along each supply edge in the latest week (:mod:`abm.engine.flows`).
        metrics: Long-form metric rows.
        rules: Control rules in force (empty until the rule engine adds some).
    """

    def __init__(
        self, spec: Scenario, seed: int = 0, run_id: str | None = None, log_events: bool = True
    ) -> None:
        super().__init__(rng=seed)
        if spec.world.synthetic is not None:  # build the synthetic firms (abm.engine.synthetic)
            spec = expand_synthetic(spec)
        self.spec = spec
        self.seed = int(seed)
        self.run_id = run_id or f"{spec.name}-s{seed}"
        self.week = 0
        self.date = spec.start_date
        self.events = EventLog(enabled=log_events)
        self.metrics = MetricLog()
        self.agent_states = AgentStateLog()
        self.counters: dict[str, int] = defaultdict(int)
        self.rules: list[ControlRule] = [ControlRule(r, spec.country_groups) for r in spec.policies]
        self.capped_shipped: dict[tuple[int, str, str], int] = defaultdict(int)
        self.denied_this_week: dict[str, int] = defaultdict(int)
        self.licensed_this_week: dict[str, int] = defaultdict(int)
        self.cn_deliveries: deque[tuple[int, int, int]] = deque()  # (week, domestic, all)
        self.cn_domestic_share = 0.0
        self._deny_cache: dict[tuple[int, str, str, str], bool] = {}
        self.in_transit: list[Shipment] = []
        self._transit_by_buyer: dict[str, list[Shipment]] = defaultdict(list)
        self._rules_today: tuple[date, int, list[ControlRule]] | None = None
        self._caps_today = False
        self._announced_today: list[ControlRule] = []
        self._front_run_today: dict[tuple[str, str, str, str], bool] = {}
        self._end_users_today: frozenset[str] = frozenset()
        self._checks_today: dict[tuple[int, str, str, str], tuple[Item, Decision]] = {}
        self._order_seq = 0
        self._outstanding: dict[str, int] = defaultdict(int)  # per buyer, all vendors
        self.products: dict[str, Product] = {
            p.name: Product(
                **{
                    **p.model_dump(exclude={"sources"}),
                    "markets": tuple(p.markets) if p.markets is not None else None,
                }
            )
            for p in spec.world.products
        }
        rp = spec.parameters.rental
        self.rental_price = dict.fromkeys(REGIONS, rp.lab_reference_usd_per_h100e_hour)
        self.rental_wanted = dict.fromkeys(REGIONS, 0.0)
        self.rental_shortage = dict.fromkeys(REGIONS, 0.0)
        self.rental_utilisation = dict.fromkeys(REGIONS, 0.0)
        self.region_shortage = dict.fromkeys(REGIONS, 0.0)
        self.enterprise_multiplier = dict.fromkeys(REGIONS, 1.0)
        self._rule_by_id = {r.rule_id: r for r in self.rules}
        self._build_agents()
        self._build_graph()
        self._initial_rental_demand()
        self.flow_meter = FlowMeter()  # agents meter goods as they move
        self.flows: WeekFlows = self.flow_meter.close_week(self)  # the initial state's

    # ------------------------------------------------------------ build

    @classmethod
    def from_scenario(
        cls,
        scenario: str | Path | Scenario,
        seed: int = 0,
        weeks: int | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> SupplyChainModel:
        """Build a model from a library name, a YAML path or a :class:`Scenario`.

        Args:
            scenario: ``"baseline"``, a path to a YAML file, or a loaded scenario.
            seed: Seed of every random stream.
            weeks: Override the scenario's horizon.
            overrides: Nested mapping merged over the scenario file.
        """
        spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
        if weeks is not None:
            spec = spec.model_copy(update={"weeks": int(weeks)})
        return cls(spec, seed=seed)

    def stream(self, kind: str, name: str) -> np.random.Generator:
        """An independent random stream for one decision kind of one agent.

        Derived from (seed, kind, name) only, so a policy scenario and its
        baseline draw the same numbers for the same agent and decision
        (common random numbers), whatever else differs.
        """
        key = [self.seed, zlib.crc32(kind.encode()), zlib.crc32(name.encode())]
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))

    def step_of(self, day: date) -> int:
        """Week index of a date (negative before the start)."""
        return (day - self.spec.start_date).days // 7

    def _build_agents(self) -> None:
        w = self.spec.world
        self.governments = [Government(self, g) for g in w.governments]
        self.foundries = [Foundry(self, s) for s in w.foundries]
        self.packagers = [Packager(self, s) for s in w.packagers]
        self.memory_makers = [MemoryMaker(self, s) for s in w.memory_makers]
        self.suppliers = [*self.foundries, *self.memory_makers, *self.packagers]
        self.vendors = [
            GPUVendor(self, s, [p for p in self.products.values() if p.vendor == s.name])
            for s in w.vendors
        ]
        self.clouds = [CloudProvider(self, s) for s in w.clouds]
        self.labs = [AILab(self, s) for s in w.labs]
        self.enterprises = [EnterpriseDemand(self, s) for s in w.enterprises]
        self.brokers = [Broker(self, s) for s in w.brokers]
        self.buyers = [*self.clouds, *self.labs]
        self.compute_users = [*self.labs, *self.enterprises]
        # agents never change region: the regional markets' members, in world order
        self.labs_in = {r: [x for x in self.labs if x.region == r] for r in REGIONS}
        self.enterprises_in = {r: [e for e in self.enterprises if e.region == r] for r in REGIONS}
        self.clouds_in = {r: [c for c in self.clouds if c.region == r] for r in REGIONS}
        self.agent_by_name: dict[str, Any] = {a.name: a for a in self.agents}
        self.api_shares = self._api_shares()
        self._api_labs = {
            r: [(self.agent_by_name[n], share) for n, share in self.api_shares[r].items()]
            for r in REGIONS
        }

    def _api_shares(self) -> dict[str, dict[str, float]]:
        shares: dict[str, dict[str, float]] = {r: {} for r in REGIONS}
        for lab in self.labs:
            if lab.spec.api_share > 0:
                shares[lab.region][lab.name] = lab.spec.api_share
        for r, d in shares.items():
            total = sum(d.values())
            shares[r] = {k: v / total for k, v in d.items()} if total > 0 else {}
        return shares

    def _build_graph(self) -> None:
        g = nx.DiGraph()
        for a in self.agents:
            g.add_node(a.unique_id, name=a.name, family=a.family, region=a.region)
        ids = {a.name: a.unique_id for a in self.agents}
        for p in self.products.values():
            v = ids[p.vendor]
            g.add_edge(ids[p.foundry], v, kind="wafers")
            g.add_edge(ids[p.packager], v, kind="packaging")
        for v in self.vendors:
            for m in v.spec.hbm_suppliers:
                g.add_edge(ids[m], v.unique_id, kind="hbm")
        for b in [*self.buyers, *self.brokers]:
            for vname in b.spec.vendor_shares:
                g.add_edge(ids[vname], b.unique_id, kind="gpus")
        for br in self.brokers:
            for c in self.clouds:
                if c.country in br.spec.targets:
                    g.add_edge(br.unique_id, c.unique_id, kind="diversion")
        omitted: dict[str, int] = defaultdict(int)

        def market(kind: str, sellers: list[Any], buyers: list[Any]) -> None:
            # every seller-buyer pair of a regional market, unless there are too many
            if len(sellers) * len(buyers) > MARKET_EDGE_LIMIT:
                omitted[kind] += len(sellers) * len(buyers)
                return
            g.add_edges_from(
                ((s.unique_id, b.unique_id) for s in sellers for b in buyers), kind=kind
            )

        for r in REGIONS:
            enterprises = [e for e in self.enterprises if e.region == r]
            renters = [x for x in self.labs if x.region == r and x.spec.rents]
            market("rental", [c for c in self.clouds if c.region == r], renters + enterprises)
            market("api", [x for x in self.labs if x.name in self.api_shares[r]], enterprises)
        g.graph["omitted_market_edges"] = dict(omitted)
        self.graph = g
        self.space = Network(g, random=self.random, layout=None)
        for a in self.agents:
            a.cell = self.space[a.unique_id]

    def _initial_rental_demand(self) -> None:
        """Week-0 demand, rental prices and forecasts, and the vendors' steady state."""
        self._update_demand()
        # Enterprise API demand depends on the rental price and the price on
        # demand: iterate to the fixed point so that week 0 starts in balance
        # (starting from the labs' reference price made API demand jump ~3x
        # at the first step and paused sign-ups at step 0).
        for _ in range(50):
            before = dict(self.rental_price)
            self._balance_rentals()
            for r in REGIONS:
                who, need, ref, eps = self._rental_participants(r)
                supply = sum(c.rentable_h100e() for c in self.clouds if c.region == r)
                self.rental_wanted[r] = float(need.sum())
                if len(who):
                    self.rental_price[r] = self._clear(supply, need, ref, eps).price
            self._reprice_demand()
            if all(abs(self.rental_price[r] - before[r]) < 1e-6 for r in REGIONS):
                break
        self._balance_rentals()
        for b in self.buyers:
            b.forecast.level = b.demand_signal_h100e() or b.installed_h100e()
        for v in self.vendors:
            v.prime()

    # ------------------------------------------------------------- step

    def step(self) -> None:
        """Advance one week (stages 1-7 of the class docstring)."""
        self.week = self.steps - 1
        self.date = self.spec.start_date + timedelta(weeks=self.week)
        self.events.step = self.week
        self._calendar()
        self._update_demand()
        self._place_orders()
        self._supply()
        self._allocate_and_ship()
        self._deliver_and_serve()
        self._record()
        if self.week + 1 >= self.spec.weeks:
            self.running = False

    def run(self, weeks: int | None = None, progress: Any = None) -> SupplyChainModel:
        """Run to the end of the horizon (or ``weeks`` more steps).

        Args:
            weeks: Steps to run; default: to the scenario's horizon.
            progress: Optional callable called after each step with the model.
        """
        n = self.spec.weeks - self.steps if weeks is None else weeks
        for _ in range(max(0, n)):
            if not self.running:
                break
            self.step()
            if progress is not None:
                progress(self)
        return self

    # stage 1
    def _calendar(self) -> None:
        for lab in self.labs:
            lab.user_multiplier = 1.0
        for r in REGIONS:
            self.enterprise_multiplier[r] = 1.0
        for s in self.suppliers:
            for line in s.lines.values():
                line.multiplier = 1.0
        for shock in self.spec.shocks:
            SHOCKS[shock.kind](self, shock, self.week)
        for s in self.suppliers:
            s.review_capacity()
        self.denied_this_week.clear()
        self.licensed_this_week.clear()
        for g in self.governments:
            g.revenue_this_week = 0.0
            g.enact()
            g.react()

    # stage 2
    def _update_demand(self) -> None:
        api: dict[str, float] = defaultdict(float)
        for e in self.enterprises:
            e.update_demand()
            for lab_name, share in self.api_shares[e.region].items():
                api[lab_name] += e.api_need_h100e * share
        for lab in self.labs:
            lab.update_demand(api[lab.name] if lab.active else 0.0)

    def _balance_rentals(self) -> None:
        for lab in self.labs:  # rentals start in balance with need
            if lab.spec.rents:
                lab.rented = lab.rental_need = max(0.0, lab.need - lab.installed_h100e())

    def _reprice_demand(self) -> None:
        """Recompute the price-dependent part of this week's demand (no random draws)."""
        api: dict[str, float] = defaultdict(float)
        for e in self.enterprises:
            e.reprice()
            for lab_name, share in self.api_shares[e.region].items():
                api[lab_name] += e.api_need_h100e * share
        for lab in self.labs:
            if lab.active:
                lab.update_needs(api[lab.name])

    # stage 3
    def _place_orders(self) -> None:
        for b in self.buyers:
            if b.active:
                b.place_orders()
        for br in self.brokers:
            br.place_orders()
        for v in self.vendors:
            v.order_inputs()

    def place_order(self, buyer: Any, vendor: GPUVendor, product: str, units: int) -> Order:
        """A buyer orders ``units`` of ``product``: booked at the vendor, kept and logged."""
        order = self.new_order(buyer, vendor, product, units)
        buyer.open_orders.append(order)
        buyer.ordered_units_this_week += units
        buyer.log("order", vendor.name, product, units, vendor.price[product])
        return order

    def new_order(self, buyer: Any, vendor: GPUVendor, product: str, units: int) -> Order:
        """Create an order and book it at the vendor."""
        self._order_seq += 1
        order = Order(
            self._order_seq,
            buyer.name,
            vendor.name,
            product,
            units,
            units,
            self.week,
            buyer.spec.priority,
        )
        vendor.receive_order(order)
        self._outstanding[buyer.name] += units
        return order

    def outstanding_units(self, buyer: str) -> int:
        """Units ``buyer`` has on order and not yet shipped or cancelled, all vendors."""
        return self._outstanding.get(buyer, 0)

    def order_reduced(self, buyer: str, units: int) -> None:
        """Book ``units`` of ``buyer``'s outstanding orders as shipped or cancelled."""
        self._outstanding[buyer] -= units

    # stage 4
    def _supply(self) -> None:
        for s in self.suppliers:
            s.start_work()
        for s in self.suppliers:
            s.deliver()

    # stage 5
    def _allocate_and_ship(self) -> None:
        for v in self.vendors:
            v.allocate_and_ship()

    def check(self, item: Item, origin: str, destination: str, buyer: str) -> Decision:
        """The pure shipment check under today's rules (see :mod:`abm.controls.rules`)."""
        rules = self.rules_in_force()
        shipped = _CapView(self.capped_shipped, self.date.year)
        if self._caps_today:  # caps count each buyer's shipments as they go: no reuse
            return check_shipment(rules, item, origin, destination, buyer, self.date, shipped)
        # Without caps the buyer matters only through end-user lists: a buyer no rule
        # in force names gets the same decision as any other, so decisions are reused
        # for the day (the many buyers of a synthetic world share a handful).
        who = buyer if buyer in self._end_users_today else ""
        key = (id(item), origin, destination, who)
        hit = self._checks_today.get(key)
        if hit is not None and hit[0] is item:
            return hit[1]
        d = check_shipment(rules, item, origin, destination, who, self.date, shipped)
        self._checks_today[key] = (item, d)
        return d

    def rules_in_force(self) -> list[ControlRule]:
        """The rules in force today, in scenario order (kept until the date or the rules change)."""
        return self._rules_of_day()[2]

    def _rules_of_day(self) -> tuple[date, int, list[ControlRule]]:
        """Refresh what depends on today's rules when the date or the rules change.

        The rules in force (with whether any caps quantities and the end users
        they name), the rules announced and not yet in force, and the day's
        cached shipment checks and front-running answers.
        """
        key = self._rules_today
        if key is None or key[0] != self.date or key[1] != len(self.rules):
            today = [r for r in self.rules if r.in_force(self.date)]
            self._rules_today = key = (self.date, len(self.rules), today)
            self._caps_today = any(
                r.spec.quantity_cap_units_per_buyer_year is not None for r in today
            )
            self._end_users_today = frozenset(u for r in today for u in r.end_users)
            self._checks_today = {}
            self._announced_today = [r for r in self.rules if r.announced_only(self.date)]
            self._front_run_today = {}
        return key

    def clearance(self, item: Item, origin: str, buyer: Any) -> Decision:
        """This week's verdict for a shipment, licences included.

        A ``licence_pending`` decision goes to the rule's government, which
        files or decides the application (see :meth:`Government.licence_verdict`).
        """
        d = self.check(item, origin, buyer.country, buyer.name)
        if d.verdict == "licence_pending":
            gov = self.agent_by_name[self._rule_by_id[d.rule].spec.authority]
            d = gov.licence_verdict(d, buyer.name, item.name)
        return d

    def would_deny(self, product: Product, origin: str, buyer: Any) -> bool:
        """Whether a buyer can tell a product will be refused, without applying.

        True when a rule in force denies it, or its licence was refused.
        Answers are kept for the week (buyers look the same product up often).
        """
        key = (self.week, product.name, origin, buyer.name)
        cached = self._deny_cache.get(key)
        if cached is None:
            if len(self._deny_cache) > 50_000:
                self._deny_cache.clear()
            cached = self._deny_cache[key] = self._would_deny(product, origin, buyer)
        return cached

    def _would_deny(self, product: Product, origin: str, buyer: Any) -> bool:
        d = self.check(item_of(product), origin, buyer.country, buyer.name)
        if d.verdict == "deny":
            return True
        if d.verdict == "licence_pending":
            gov = self.agent_by_name[self._rule_by_id[d.rule].spec.authority]
            lic = gov.licences.get((d.rule, buyer.name, product.name))
            return bool(lic and lic.decided and not lic.granted)
        return False

    def announced_rule_covers(self, product: Product, origin: str, buyer: Any) -> bool:
        """Whether a rule announced but not yet in force will cover this purchase."""
        self._rules_of_day()
        if not self._announced_today:  # most days no rule is announced and not yet in force
            return False
        ask = (product.name, origin, buyer.country, buyer.name)
        hit = self._front_run_today.get(ask)
        if hit is None:
            item = item_of(product)
            hit = self._front_run_today[ask] = any(
                r.covers(item, origin, buyer.country, buyer.name) for r in self._announced_today
            )
        return hit

    def record_shipment_controls(
        self, d: Decision, buyer: str, units: int, value_usd: float
    ) -> None:
        """Book caps, licensed units and levies of an allowed shipment."""
        year = self.date.year
        for rule in d.capped_rules:
            self.capped_shipped[(year, rule, buyer)] += units
        if d.rule and self._rule_by_id[d.rule].spec.licence.policy == "case_by_case":
            self.licensed_this_week[d.rule] += units
        for rule_id in d.levy_rules:
            spec = self._rule_by_id[rule_id].spec
            self.agent_by_name[spec.authority].collect(spec.levy_share * value_usd)

    def hbm_allowed(self, maker: Any, vendor: Any) -> bool:
        """Whether HBM may go from ``maker`` to ``vendor`` (no HBM rule denies it)."""
        return self.check(HBM_ITEM, maker.country, vendor.country, vendor.name).verdict != "deny"

    def add_rule(self, rule: ControlRule) -> None:
        """Add a rule issued during the run (a government reaction)."""
        self.rules.append(rule)
        self._rule_by_id[rule.rule_id] = rule

    def add_product(self, product: Product) -> None:
        """Add a product designed during the run (a compliant variant)."""
        self.products[product.name] = product
        self.agent_by_name[product.vendor].add_product(product)

    def variant_share_cn(self, vendor: str) -> float:
        """Share of a vendor's units shipped to China over 13 weeks that were variants."""
        return self.agent_by_name[vendor].variant_share("CN")

    def _record_cn_delivery(self, shipment: Shipment) -> None:
        vendor = self.agent_by_name[shipment.vendor]
        domestic = shipment.units if vendor.country == "CN" else 0
        self.cn_deliveries.append((self.week, domestic, shipment.units))

    def _update_cn_share(self) -> None:
        while self.cn_deliveries and self.cn_deliveries[0][0] <= self.week - 52:
            self.cn_deliveries.popleft()
        total = sum(d[2] for d in self.cn_deliveries)
        if total:
            self.cn_domestic_share = sum(d[1] for d in self.cn_deliveries) / total

    def dispatch(self, shipment: Shipment) -> None:
        """Put a shipment in transit."""
        self.in_transit.append(shipment)
        self._transit_by_buyer[shipment.buyer].append(shipment)

    def in_transit_to(self, buyer: str) -> list[Shipment]:
        """Shipments on their way to ``buyer``, in dispatch order."""
        return self._transit_by_buyer.get(buyer, [])

    def in_transit_h100e(self, buyer: str) -> float:
        """Compute in transit to ``buyer``, H100e."""
        products = self.products
        return sum(s.units * products[s.product].h100e for s in self.in_transit_to(buyer))

    # stage 6
    def _deliver_and_serve(self) -> None:
        arrived = [s for s in self.in_transit if s.arrival_step <= self.week]
        self.in_transit = [s for s in self.in_transit if s.arrival_step > self.week]
        if arrived:
            for name in {s.buyer for s in arrived}:
                still = [s for s in self._transit_by_buyer[name] if s.arrival_step > self.week]
                if still:
                    self._transit_by_buyer[name] = still
                else:
                    del self._transit_by_buyer[name]
        for s in arrived:
            buyer = self.agent_by_name[s.buyer]
            if buyer.country == "CN":
                self._record_cn_delivery(s)
            if buyer.active:
                buyer.receive(s)
            else:  # the buyer exited while the units were on their way
                self.counters["retired"] += s.units
                buyer.log("retirement", s.vendor, s.product, s.units, detail="owner exited")
        self._update_cn_share()
        for br in self.brokers:
            br.divert()
        for b in self.buyers:
            b.retire()
        for r in REGIONS:
            self._clear_rentals(r)
        self._region_shortage()

    def _rental_participants(
        self, region: str
    ) -> tuple[list[Any], np.ndarray, np.ndarray, np.ndarray]:
        rp = self.spec.parameters.rental
        labs = [x for x in self.labs_in[region] if x.active and x.spec.rents]
        ents = self.enterprises_in[region]
        who = [*labs, *ents]
        need = np.array([x.rental_need for x in labs] + [e.direct_need_h100e for e in ents])
        ref = np.array(
            [rp.lab_reference_usd_per_h100e_hour] * len(labs)
            + [rp.enterprise_reference_usd_per_h100e_hour] * len(ents)
        )
        eps = np.array([rp.lab_elasticity] * len(labs) + [e.spec.elasticity for e in ents])
        return who, need, ref, eps

    def _clear(self, supply: float, need: np.ndarray, ref: np.ndarray, eps: np.ndarray) -> Any:
        """One rental-market clearing with the scenario's floor, ceiling and idle pricing."""
        rp = self.spec.parameters.rental
        return clear_rental_market(
            supply,
            need,
            ref,
            eps,
            rp.floor_usd_per_h100e_hour,
            rp.ceiling_usd_per_h100e_hour,
            idle_exponent=rp.idle_price_exponent,
        )

    def _clear_rentals(self, region: str) -> None:
        rp = self.spec.parameters.rental
        who, need, ref, eps = self._rental_participants(region)
        clouds = [c for c in self.clouds_in[region] if c.active]
        supply = sum(c.rentable_h100e() for c in clouds)
        if len(who) == 0:
            self.rental_wanted[region] = 0.0
            self.rental_shortage[region] = 0.0
            return
        res = self._clear(supply, need, ref, eps)
        prev = self.rental_price[region]
        self.rental_price[region] = prev + rp.price_smoothing * (res.price - prev)
        self.rental_wanted[region] = float(need.sum())
        self.rental_shortage[region] = (
            float(1 - res.served.sum() / need.sum()) if need.sum() > 0 else 0.0
        )
        self.rental_utilisation[region] = res.utilisation
        for c in clouds:
            c.book_rentals(res.utilisation, self.rental_price[region])
        price = self.rental_price[region]
        fleet = sum(c.installed_h100e() for c in clouds)
        train_eff = (
            sum(c.installed_h100e() * c.training_efficiency() for c in clouds) / fleet
            if fleet > 0
            else 1.0
        )
        for x, served in zip(who, res.served.tolist(), strict=True):
            if isinstance(x, AILab):
                x.rented_training_eff = train_eff
                x.serve(float(served), price)
            else:
                x.direct_served_h100e = float(served)
        for lab in self.labs_in[region]:  # labs that do not rent serve from their own fleet
            if lab.active and not lab.spec.rents:
                lab.serve(0.0, price)
        api_labs = [(share, lab.inference_served_share) for lab, share in self._api_labs[region]]
        for e in self.enterprises_in[region]:
            need = e.api_need_h100e
            e.api_served_h100e = sum([need * share * served for share, served in api_labs])

    def _region_shortage(self) -> None:
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

    # stage 7
    def _record(self) -> None:
        self.metrics.collect(self)
        self.agent_states.collect(self.week, list(self.agents))
        self.flows = self.flow_meter.close_week(self)

    @property
    def agent_rows(self) -> list[tuple[int, str, str, str, dict[str, float]]]:
        """Recorded agent state as ``(step, agent, family, region, state)`` rows."""
        return list(self.agent_states.rows())

    # ------------------------------------------------------- accounting

    def conservation(self) -> dict[str, int]:
        """GPU unit accounting: produced + initial must equal the rest.

        Returns:
            Counts of produced, initial, in inventory (vendors' and brokers'),
            in transit, installed, retired and seized units.
        """
        return {
            "produced": self.counters["produced"],
            "initial": self.counters["initial"],
            "inventory": sum(v.inventory_units() for v in self.vendors)
            + sum(b.stock_units() for b in self.brokers),
            "in_transit": sum(s.units for s in self.in_transit),
            "installed": sum(b.installed_units() for b in self.buyers),
            "retired": self.counters["retired"],
            "seized": self.counters["seized"],
        }

    def firm(self, name: str) -> Firm:
        """The agent called ``name``."""
        return self.agent_by_name[name]


class _CapView:
    """Units shipped this year per (rule, buyer), as the check function reads them."""

    def __init__(self, counts: dict[tuple[int, str, str], int], year: int) -> None:
        self.counts = counts
        self.year = year

    def get(self, key: tuple[str, str], default: int = 0) -> int:
        """Units shipped under ``key = (rule, buyer)`` this year."""
        return self.counts.get((self.year, *key), default)
