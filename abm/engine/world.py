"""Building the world: the agents of a scenario, their directory, and the supply graph.

:func:`build_cast` makes every agent of the scenario's world, in world order,
and a :class:`Cast` that lists them by family and indexes them by name with
their types (``cast.vendor["Nvidia"]`` is a :class:`GPUVendor`), so agents
look each other up through typed maps rather than a dictionary of anything.
:func:`build_graph` draws the supply graph over them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import networkx as nx

from abm.agents.base import Firm
from abm.agents.broker import Broker
from abm.agents.buyer import Buyer
from abm.agents.cloud import CloudProvider
from abm.agents.enterprise import EnterpriseDemand
from abm.agents.foundry import Foundry
from abm.agents.front import FrontCompany
from abm.agents.government import Government
from abm.agents.lab import AILab
from abm.agents.memory_maker import MemoryMaker
from abm.agents.packager import Packager
from abm.agents.products import Product
from abm.agents.supplier import Supplier
from abm.agents.vendor import GPUVendor
from abm.scenario import REGIONS

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

MARKET_EDGE_LIMIT = 20_000
"""Most rental (cloud -> renter) or API (lab -> enterprise) edges drawn per region.

Those markets clear region-wide (every cloud serves every renter of its
region), so the edges only describe the graph; above this count (synthetic
worlds of thousands of firms) a region's market edges are left out and
counted in ``graph.graph["omitted_market_edges"]``.
"""


@dataclass
class Cast:
    """Every agent of a run: lists by family (world order) and typed name indexes."""

    governments: list[Government]
    foundries: list[Foundry]
    packagers: list[Packager]
    memory_makers: list[MemoryMaker]
    vendors: list[GPUVendor]
    clouds: list[CloudProvider]
    labs: list[AILab]
    enterprises: list[EnterpriseDemand]
    brokers: list[Broker]
    fronts: list[FrontCompany] = field(default_factory=list)
    firm: dict[str, Firm] = field(default_factory=dict)
    vendor: dict[str, GPUVendor] = field(default_factory=dict)
    foundry: dict[str, Foundry] = field(default_factory=dict)
    packager: dict[str, Packager] = field(default_factory=dict)
    memory_maker: dict[str, MemoryMaker] = field(default_factory=dict)
    supplier: dict[str, Supplier] = field(default_factory=dict)
    government: dict[str, Government] = field(default_factory=dict)
    lab: dict[str, AILab] = field(default_factory=dict)
    customer: dict[str, Buyer | Broker] = field(default_factory=dict)
    """Whoever buys GPUs from vendors: clouds, labs and brokers."""
    front: dict[str, FrontCompany] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vendor = {v.name: v for v in self.vendors}
        self.foundry = {f.name: f for f in self.foundries}
        self.packager = {p.name: p for p in self.packagers}
        self.memory_maker = {m.name: m for m in self.memory_makers}
        self.supplier = {s.name: s for s in self.suppliers}
        self.government = {g.name: g for g in self.governments}
        self.lab = {x.name: x for x in self.labs}
        self.customer = {b.name: b for b in [*self.buyers, *self.brokers]}
        self.front = {f.name: f for f in self.fronts}

    @property
    def suppliers(self) -> list[Supplier]:
        """Foundries, memory makers and packagers, in that order."""
        return [*self.foundries, *self.memory_makers, *self.packagers]

    @property
    def buyers(self) -> list[Buyer]:
        """Clouds and labs: the buyers with fleets."""
        return [*self.clouds, *self.labs]


def build_cast(model: SupplyChainModel, products: dict[str, Product]) -> Cast:
    """Create every agent of the model's scenario, in world order (agent ids follow it)."""
    w = model.spec.world
    cast = Cast(  # agents are created (and numbered) in this order
        governments=[Government(model, g) for g in w.governments],
        foundries=[Foundry(model, s) for s in w.foundries],
        packagers=[Packager(model, s) for s in w.packagers],
        memory_makers=[MemoryMaker(model, s) for s in w.memory_makers],
        vendors=[
            GPUVendor(model, s, [p for p in products.values() if p.vendor == s.name])
            for s in w.vendors
        ],
        clouds=[CloudProvider(model, s) for s in w.clouds],
        labs=[AILab(model, s) for s in w.labs],
        enterprises=[EnterpriseDemand(model, s) for s in w.enterprises],
        brokers=[Broker(model, s) for s in w.brokers],
        fronts=[FrontCompany(model, s) for s in w.fronts],
    )
    cast.firm = {a.name: a for a in model.agents}
    for fr in cast.fronts:  # the foundry makes the front's die on the front's node
        foundry = cast.foundry[fr.spec.foundry]
        if products[fr.spec.product].node not in foundry.lines:
            foundry.routes[fr.spec.product] = fr.spec.node
    return cast


def build_graph(
    cast: Cast, products: dict[str, Product], api_shares: dict[str, dict[str, float]]
) -> nx.DiGraph:
    """The supply graph: integer node ids (the agents' ids), supplier -> buyer edges.

    Nodes carry ``name``, ``family`` and ``region``; edges carry ``kind``:
    ``wafers``, ``packaging``, ``hbm``, ``gpus``, ``diversion``, ``rental`` and ``api``.
    """
    g = nx.DiGraph()
    for a in cast.firm.values():
        g.add_node(a.unique_id, name=a.name, family=a.family, region=a.region)
    ids = {a.name: a.unique_id for a in cast.firm.values()}
    for p in products.values():
        v = ids[p.vendor]
        g.add_edge(ids[p.foundry], v, kind="wafers")
        g.add_edge(ids[p.packager], v, kind="packaging")
    for vendor in cast.vendors:
        for m in vendor.spec.hbm_suppliers:
            g.add_edge(ids[m], vendor.unique_id, kind="hbm")
    for b in [*cast.buyers, *cast.brokers]:
        for vname in b.spec.vendor_shares:
            g.add_edge(ids[vname], b.unique_id, kind="gpus")
    for fr in cast.fronts:
        g.add_edge(ids[fr.spec.foundry], fr.unique_id, kind="wafers")
        g.add_edge(fr.unique_id, ids[fr.spec.designer], kind="wafers")
    for br in cast.brokers:
        for c in cast.clouds:
            if c.country in br.spec.targets:
                g.add_edge(br.unique_id, c.unique_id, kind="diversion")
    omitted: dict[str, int] = defaultdict(int)

    def market(kind: str, sellers: list[Firm], buyers: list[Firm]) -> None:
        # every seller-buyer pair of a regional market, unless there are too many
        if len(sellers) * len(buyers) > MARKET_EDGE_LIMIT:
            omitted[kind] += len(sellers) * len(buyers)
            return
        g.add_edges_from(((s.unique_id, b.unique_id) for s in sellers for b in buyers), kind=kind)

    for r in REGIONS:
        enterprises: list[Firm] = [e for e in cast.enterprises if e.region == r]
        renters: list[Firm] = [x for x in cast.labs if x.region == r and x.spec.rents]
        market("rental", [c for c in cast.clouds if c.region == r], renters + enterprises)
        market("api", [x for x in cast.labs if x.name in api_shares[r]], enterprises)
    g.graph["omitted_market_edges"] = dict(omitted)
    return g
