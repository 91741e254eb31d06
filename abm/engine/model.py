"""The supply-chain model: agents on a supply graph, stepped week by week.

Build and run it in two lines::

    model = SupplyChainModel.from_scenario("baseline", seed=1)
    model.run()

The model conducts: it builds the world (:mod:`abm.engine.world`), holds the
mediators (the order book, the controls gate, the compute market) and runs the
stages of a week, declared once in :data:`STAGES`. Agents decide; the
mediators keep what is between them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mesa import Model
from mesa.discrete_space import Network

from abm.agents.base import Firm
from abm.agents.products import Product
from abm.controls.gate import ControlsGate
from abm.controls.rules import ControlRule
from abm.engine.events import EventLog
from abm.engine.flows import FlowMeter, WeekFlows
from abm.engine.mesa_bridge import MetricsDataCollector
from abm.engine.metrics import MetricLog
from abm.engine.orderbook import DomesticShare, OrderBook
from abm.engine.shocks import REGISTRY as SHOCKS
from abm.engine.statelog import AgentStateLog
from abm.engine.synthetic import expand_synthetic
from abm.engine.uncertainty import derive_stream, sample_scenario
from abm.engine.world import build_cast, build_graph
from abm.markets.rental import ComputeMarket
from abm.scenario import REGIONS, Scenario, ScenarioError, load_scenario
from abm.scenario.schema import MAX_WEEKS

if TYPE_CHECKING:
    from abm.agents.government import Government


class SupplyChainModel(Model):
    """The AI-compute supply chain under export controls, one step per week.

    One step runs the :data:`STAGES` in order:

    1. Calendar: the week's date; shocks set their multipliers; suppliers
       bring commissioned capacity online and review expansion; governments
       enact, end and react with rules.
    2. Demand: enterprises update their token demand; labs update users,
       compute need (inference + training) and rental need.
    3. Orders flow upstream: clouds and labs with fleets order GPUs from
       vendors (or cancel); brokers order; vendors order wafers (through the
       foundry controls) and HBM and send what they can assemble to their
       packagers; front companies order wafers for listed designers.
    4. Supply: foundries, memory makers and packagers start work within
       capacity and hand over what completes (dies, stacks, packaged GPUs).
    5. Allocation and shipment: vendors allocate finished units over their
       backlogs; every shipment passes the controls gate; vendors quote
       lead times and move prices.
    6. Deliveries arrive and are installed; brokers divert; old units retire;
       each region's rental and API markets clear; labs serve users, ration
       when short and book revenue and costs; labs that cannot pay exit.
    7. Record: metrics and per-agent state.

    Attributes:
        spec: The validated scenario this seed runs (its uncertainties drawn).
        declared_spec: The scenario as given, before the draws.
        draws: What the seed drew (:class:`abm.engine.uncertainty.Draws`).
        seed: The run's seed; every random stream derives from it.
        cast: Every agent, listed by family and indexed by name with its type.
        graph: Supply graph (networkx DiGraph, supplier -> buyer), integer
            node ids with ``name``, ``family`` and ``region`` attributes.
        products: Product catalogue by name (variants join it during the run).
        orders: The order book and the goods in transit.
        controls: The controls gate: rules, what they counted, the day's answers.
        market: The regional rental and API markets (prices, shortage, service).
        cn_share: Share of the units delivered to China over a year made by Chinese vendors.
        events: The event log.
        flows: What moved along each supply edge in the latest week (:mod:`abm.engine.flows`).
        metrics: Long-form metric rows (``model.metrics.frame()``: a tidy DataFrame).
        datacollector: Mesa's ``DataCollector`` interface over ``metrics``
            (:class:`abm.engine.mesa_bridge.MetricsDataCollector`), so Mesa's plot
            components and ``get_model_vars_dataframe()`` work. The project's scenario is
            ``spec``; ``scenario`` is Mesa's own (empty) ``Scenario`` object.
        stages: The stages ``step`` runs (:data:`STAGES`; the benchmark times them).
    """

    def __init__(
        self,
        spec: Scenario,
        seed: int = 0,
        run_id: str | None = None,
        log_events: bool = True,
        uncertainty: bool = True,
    ) -> None:
        super().__init__(rng=seed)
        self.declared_spec = spec
        # draw the declared uncertainties and disruptions of this seed (abm.engine.uncertainty)
        spec, self.draws = sample_scenario(spec, int(seed), enabled=uncertainty)
        if spec.world.synthetic is not None:  # build the synthetic firms (abm.engine.synthetic)
            spec = expand_synthetic(spec)
        self.spec = spec
        self.seed = int(seed)
        self.run_id = run_id or f"{spec.name}-s{seed}"
        self.week = 0
        self.date = spec.start_date
        self.stages: tuple[Stage, ...] = STAGES
        self.events = EventLog(enabled=log_events)
        self._log_draws()
        self.metrics = MetricLog()
        self.datacollector = MetricsDataCollector(self)
        self.agent_states = AgentStateLog()
        self.counters: dict[str, int] = defaultdict(int)
        self.enterprise_multiplier = dict.fromkeys(REGIONS, 1.0)
        self.products: dict[str, Product] = {
            p.name: Product(
                **{
                    **p.model_dump(exclude={"sources"}),
                    "markets": tuple(p.markets) if p.markets is not None else None,
                }
            )
            for p in spec.world.products
        }
        self.controls = ControlsGate(
            [ControlRule(r, spec.country_groups) for r in spec.policies],
            authority=self._government,
            today=self.date,
        )
        self.orders = OrderBook(self.products, clock=self._week)
        self.cn_share = DomesticShare("CN")
        self.cast = cast = build_cast(self, self.products)
        self.governments, self.foundries = cast.governments, cast.foundries
        self.packagers, self.memory_makers = cast.packagers, cast.memory_makers
        self.suppliers, self.vendors = cast.suppliers, cast.vendors
        self.clouds, self.labs, self.enterprises = cast.clouds, cast.labs, cast.enterprises
        self.brokers, self.buyers = cast.brokers, cast.buyers
        self.market = ComputeMarket(
            spec.parameters.rental, self.labs, self.enterprises, self.clouds
        )
        self.graph = build_graph(cast, self.products, self.market.api_shares_all)
        self.space = Network(self.graph, random=self.random, layout=None)
        for a in self.agents:
            a.cell = self.space[a.unique_id]
        self._open()
        self.flow_meter = FlowMeter()  # agents meter goods as they move
        self.flows: WeekFlows = self.flow_meter.close_week(self)  # the initial state's

    @classmethod
    def from_scenario(
        cls,
        scenario: str | Path | Scenario,
        seed: int = 0,
        weeks: int | None = None,
        overrides: dict[str, Any] | None = None,
        uncertainty: bool = True,
    ) -> SupplyChainModel:
        """Build a model from a library name, a YAML path or a :class:`Scenario`.

        Args:
            scenario: ``"baseline"``, a path to a YAML file, or a loaded scenario.
            seed: Seed of every random stream.
            weeks: Override the scenario's horizon.
            overrides: Nested mapping merged over the scenario file.
            uncertainty: False to run the declared values of the scenario's
                ``uncertainties`` and no ``disruptions`` (deterministic debugging).
        """
        spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
        if weeks is not None:
            if not 1 <= int(weeks) <= MAX_WEEKS:  # the scenario schema's bound, here too
                raise ScenarioError(f"weeks: expected a whole number from 1 to {MAX_WEEKS:,}")
            spec = spec.model_copy(update={"weeks": int(weeks)})
        return cls(spec, seed=seed, uncertainty=uncertainty)

    def _log_draws(self) -> None:
        """One ``uncertainty_draw`` event per field a draw set and per disruption occurrence."""
        for d in self.draws.values:
            how = f"x{d.draw:.4g} on the scenario's value" if d.factor else f"{d.draw:.4g}"
            for where, value in d.fields.items():
                self.events.append(
                    "Uncertainty",
                    "scenario",
                    "",
                    "uncertainty_draw",
                    "",
                    "",
                    value,
                    0.0,
                    "",
                    f"{where} = {value:.6g} ({d.distribution} draw {how}, q={d.q:.4f})",
                )
        for o in self.draws.occurrences:
            for target in o.targets:
                self.events.append(
                    "Uncertainty",
                    "scenario",
                    "",
                    "uncertainty_draw",
                    target,
                    "",
                    o.factor,
                    0.0,
                    "",
                    f"disruption {o.name}: {o.kind} x{o.factor:.3f} on {target} "
                    f"for {o.weeks} weeks from {o.start.isoformat()}",
                )

    def stream(self, kind: str, name: str) -> np.random.Generator:
        """An independent random stream for one decision kind of one agent.

        Derived from (seed, kind, name) only, so a policy scenario and its
        baseline draw the same numbers for the same agent and decision
        (common random numbers), whatever else differs.
        """
        return derive_stream(self.seed, kind, name)

    def step_of(self, day: date) -> int:
        """Week index of a date (negative before the start)."""
        return (day - self.spec.start_date).days // 7

    def firm(self, name: str) -> Firm:
        """The agent called ``name``."""
        return self.cast.firm[name]

    def _week(self) -> int:
        return self.week

    def _government(self, name: str) -> Government:
        return self.cast.government[name]

    def _open(self) -> None:
        """Week 0 in balance: demand, rental prices and forecasts, the vendors' steady state.

        Enterprise API demand depends on the rental price and the price on
        demand: iterate to the fixed point so that week 0 starts in balance
        (starting from the labs' reference price made API demand jump ~3x at
        the first step and paused sign-ups at step 0).
        """
        market = self.market
        market.open_costs(self._offers_by_region())
        market.update_api_shares()
        _demand(self)
        for _ in range(50):
            before = dict(market.price)
            market.start_in_balance()
            market.opening_prices()
            for e in self.enterprises:  # the price-dependent part of demand (no random draws)
                e.reprice()
            api = market.api_demand()
            for lab in self.labs:
                if lab.active:
                    lab.update_needs(api[lab.name])
            if all(abs(market.price[r] - before[r]) < 1e-6 for r in REGIONS):
                break
        market.start_in_balance()
        for b in self.buyers:
            b.forecast.level = b.demand_signal_h100e() or b.installed_h100e()
        for v in self.vendors:
            v.prime()

    def _offers_by_region(self) -> dict[str, list[tuple[float, float, float]]]:
        """Per region, ``(price USD, H100e, power W)`` of each product its clouds can buy now."""
        offers: dict[str, list[tuple[float, float, float]]] = {r: [] for r in REGIONS}
        for c in self.clouds:
            for v in self.vendors:
                for p in c.offers(v):
                    offers[c.region].append((v.price[p.name], p.h100e, p.power_w))
        return offers

    # ------------------------------------------------------------- step

    def step(self) -> None:
        """Advance one week: each of :attr:`stages` in order."""
        self.week = self.steps - 1
        self.date = self.spec.start_date + timedelta(weeks=self.week)
        self.events.step = self.week
        for stage in self.stages:
            stage.run(self)
        if self.week + 1 >= self.spec.weeks:
            self.running = False

    def run(
        self, weeks: int | None = None, progress: Callable[[SupplyChainModel], object] | None = None
    ) -> SupplyChainModel:
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

    def add_product(self, product: Product) -> None:
        """Add a product designed during the run (a compliant variant)."""
        self.products[product.name] = product
        self.cast.vendor[product.vendor].add_product(product)

    # ------------------------------------------------------- accounting

    @property
    def agent_rows(self) -> list[tuple[int, str, str, str, dict[str, float]]]:
        """Recorded agent state as ``(step, agent, family, region, state)`` rows."""
        return list(self.agent_states.rows())

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
            "in_transit": self.orders.units_in_transit(),
            "installed": sum(b.installed_units() for b in self.buyers),
            "retired": self.counters["retired"],
            "seized": self.counters["seized"],
        }


# ------------------------------------------------------------------ stages


def _calendar(m: SupplyChainModel) -> None:
    """Stage 1: multipliers reset and shocks set; capacity reviewed; governments act."""
    m.controls.new_week(m.date)  # first: every answer of the week is for this date
    for lab in m.labs:
        lab.user_multiplier = 1.0
    for r in REGIONS:
        m.enterprise_multiplier[r] = 1.0
    for s in m.suppliers:
        for line in s.lines.values():
            line.multiplier = 1.0
    for shock in m.spec.shocks:
        SHOCKS[shock.kind](m, shock, m.week)
    for s in m.suppliers:
        s.review_capacity()
    for g in m.governments:
        g.revenue_this_week = 0.0
        g.enact()
        g.react()


def _demand(m: SupplyChainModel) -> None:
    """Stage 2: enterprises' token demand, then labs' users, need and rental need."""
    for e in m.enterprises:
        e.update_demand()
    m.market.update_api_shares()
    api = m.market.api_demand()
    for lab in m.labs:
        lab.update_demand(api[lab.name] if lab.active else 0.0)


def _orders(m: SupplyChainModel) -> None:
    """Stage 3: buyers and brokers order GPUs; vendors order wafers and HBM; fronts order wafers."""
    for b in m.buyers:
        if b.active:
            b.place_orders()
    for br in m.brokers:
        br.place_orders()
    for v in m.vendors:
        v.order_inputs()
    for fr in m.cast.fronts:
        fr.place_wafers()


def _supply(m: SupplyChainModel) -> None:
    """Stage 4: suppliers start work within capacity, then hand over what completes."""
    for s in m.suppliers:
        s.start_work()
    for s in m.suppliers:
        s.deliver()


def _allocate_and_ship(m: SupplyChainModel) -> None:
    """Stage 5: vendors allocate finished units and ship through the controls gate."""
    for v in m.vendors:
        v.allocate_and_ship()
    bought: dict[str, list[float]] = {}
    for v in m.vendors:
        for (region, name), units in v.shipped_this_week.items():
            p = v.products[name]
            row = bought.setdefault(region, [0.0, 0.0, 0.0])
            row[0] += v.shipped_value_this_week[(region, name)]
            row[1] += units * p.h100e
            row[2] += units * p.power_w / 1000
    m.market.note_purchases({r: (a, b, c) for r, (a, b, c) in bought.items()})


def _deliver_and_serve(m: SupplyChainModel) -> None:
    """Stage 6: arrivals installed, diversion, retirement, the markets clear and labs serve."""
    for s in m.orders.arrivals(m.week):
        buyer = m.cast.customer[s.buyer]
        if buyer.country == "CN":
            m.cn_share.delivered(m.week, s.units, m.cast.firm[s.vendor].country)
        if buyer.active:
            buyer.receive(s)
        else:  # the buyer exited while the units were on their way
            m.counters["retired"] += s.units
            buyer.log("retirement", s.vendor, s.product, s.units, detail="owner exited")
    m.cn_share.update(m.week)
    for br in m.brokers:
        br.divert()
    for b in m.buyers:
        b.retire()
    m.market.clear()


def _record(m: SupplyChainModel) -> None:
    """Stage 7: metrics and per-agent state."""
    m.metrics.collect(m)
    m.agent_states.collect(m.week, list(m.agents))
    m.flows = m.flow_meter.close_week(m)


@dataclass(frozen=True)
class Stage:
    """One stage of a week: a label and what it runs on the model."""

    label: str
    run: Callable[[SupplyChainModel], None]


STAGES: tuple[Stage, ...] = (
    Stage("1 calendar", _calendar),
    Stage("2 demand", _demand),
    Stage("3 orders", _orders),
    Stage("4 supply", _supply),
    Stage("5 allocation and shipment", _allocate_and_ship),
    Stage("6 deliveries and service", _deliver_and_serve),
    Stage("7 record", _record),
)
"""The stages of a week, in order: :meth:`SupplyChainModel.step` runs them, ``abm bench``
times them."""
