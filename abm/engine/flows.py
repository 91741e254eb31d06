"""What moved along the supply graph in a week, per edge: the model's published flows.

Goods that move from one firm to another are metered as they move: agents
call :meth:`FlowMeter.add` when a foundry starts wafers or a memory maker
HBM stacks for a vendor, when a packager hands a vendor packaged GPUs, when a
vendor ships GPUs and when a broker diverts them. The regional rental and API
markets clear as pools (every cloud of a region serves every renter, every
API lab every enterprise), so their flows are kept as :class:`Pool` s and
split per pair when asked: a synthetic world of thousands of firms would
otherwise publish millions of pairs a week. At its record stage the model
closes the week (:meth:`FlowMeter.close_week`) and publishes the result as
``model.flows``, a :class:`WeekFlows`.

Units by kind: ``wafers`` logic wafers started, ``hbm`` stacks started,
``packaging`` packaged GPUs handed over, ``gpus`` and ``diversion`` units
shipped, ``rental`` and ``api`` H100e served.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

from abm.scenario import REGIONS

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

FlowKind = Literal["wafers", "hbm", "packaging", "gpus", "diversion", "rental", "api"]
"""The kinds of the supply graph's edges (the ``kind`` edge attribute)."""

FLOW_KINDS: tuple[FlowKind, ...] = get_args(FlowKind)
"""Every flow kind, upstream to downstream."""

POOLED_KINDS: frozenset[FlowKind] = frozenset({"rental", "api"})
"""Kinds of the markets that clear as regional pools; the other kinds are metered."""

FlowKey = tuple[str, str, FlowKind]
"""(source firm name, destination firm name, kind)."""


def _index(names: Sequence[str]) -> dict[str, int]:
    return {n: i for i, n in enumerate(names)}


class Pool(NamedTuple):
    """One region's market that clears as a pool: each seller serves each buyer pro rata.

    The flow from seller ``s`` to buyer ``b`` is ``served[b] * weight[s] / total``
    when both are above 0, else 0.

    Attributes:
        kind: ``rental`` (weights: the active clouds' rentable H100e, ``total``
            their sum) or ``api`` (weights: the labs' API shares, ``total`` 1).
        sellers: Position of each seller in ``weight``.
        weight: Each seller's weight.
        total: What the weights are shares of (above 0).
        buyers: Position of each buyer in ``served``.
        served: What each buyer was served this week, H100e.
    """

    kind: FlowKind
    sellers: Mapping[str, int]
    weight: Sequence[float]
    total: float
    buyers: Mapping[str, int]
    served: Sequence[float]

    def amount(self, seller: str, buyer: str) -> float:
        """The flow from ``seller`` to ``buyer`` (0 when either is not in the pool)."""
        i = self.sellers.get(seller)
        j = self.buyers.get(buyer)
        if i is None or j is None:
            return 0.0
        w, b = self.weight[i], self.served[j]
        return b * w / self.total if w > 0 and b > 0 else 0.0

    def pairs(self) -> Iterator[tuple[str, str]]:
        """The (seller, buyer) pairs with a flow above 0."""
        buyers = [b for b, j in self.buyers.items() if self.served[j] > 0]
        for s, i in self.sellers.items():
            if self.weight[i] > 0:
                for b in buyers:
                    yield s, b

    def served_total(self) -> float:
        """Everything the pool's buyers were served."""
        return sum(b for b in self.served if b > 0)


class WeekFlows(Mapping[FlowKey, float]):
    """A week's flows: ``(source, destination, kind) -> amount``, read-only.

    Keys are the pairs that moved something; :meth:`amount` answers 0 for any
    other pair.

    Args:
        steps: Steps the model had taken when the week was closed (0: the
            initial state).
        moved: Metered flows between pairs of firms (kinds not in
            :data:`POOLED_KINDS`).
        pools: Pooled markets, at most one per (seller, kind).
    """

    __slots__ = ("_by_seller", "_moved", "pools", "steps")

    def __init__(
        self, steps: int, moved: dict[FlowKey, float], pools: tuple[Pool, ...] = ()
    ) -> None:
        self.steps = steps
        self.pools = pools
        self._moved = moved
        self._by_seller: dict[tuple[str, FlowKind], Pool] | None = None  # built when first read
        for pool in pools:
            if pool.kind not in POOLED_KINDS:
                raise ValueError(f"{pool.kind} flows are metered, not pooled")

    def _pool_of(self, seller: str, kind: FlowKind) -> Pool | None:
        if self._by_seller is None:
            by_seller: dict[tuple[str, FlowKind], Pool] = {}
            for pool in self.pools:
                for s in pool.sellers:
                    if (s, pool.kind) in by_seller:
                        raise ValueError(f"{s} is in two {pool.kind} pools")
                    by_seller[(s, pool.kind)] = pool
            self._by_seller = by_seller
        return self._by_seller.get((seller, kind))

    def amount(self, source: str, destination: str, kind: FlowKind) -> float:
        """What moved from ``source`` to ``destination`` as ``kind`` (0 if nothing)."""
        if kind in POOLED_KINDS:
            pool = self._pool_of(source, kind)
            return 0.0 if pool is None else pool.amount(source, destination)
        return self._moved.get((source, destination, kind), 0.0)

    def __getitem__(self, key: FlowKey) -> float:
        if key not in self:
            raise KeyError(key)
        return self.amount(*key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 3:
            return False
        source, destination, kind = key
        if kind in POOLED_KINDS:
            return self.amount(source, destination, kind) > 0
        return key in self._moved

    def __iter__(self) -> Iterator[FlowKey]:
        yield from self._moved
        for pool in self.pools:
            for seller, buyer in pool.pairs():
                yield seller, buyer, pool.kind

    def __len__(self) -> int:
        n = len(self._moved)
        for p in self.pools:
            n += sum(w > 0 for w in p.weight) * sum(b > 0 for b in p.served)
        return n

    def total(self, kind: FlowKind) -> float:
        """Everything that moved as ``kind`` this week."""
        if kind in POOLED_KINDS:
            return sum(p.served_total() for p in self.pools if p.kind == kind)
        return sum(v for (_, _, k), v in self._moved.items() if k == kind)

    def __repr__(self) -> str:
        n, pools = len(self._moved), len(self.pools)
        return f"<WeekFlows after {self.steps} steps: {n} metered flows, {pools} pools>"


@dataclass(frozen=True, slots=True)
class _Market:
    """A region's market members (fixed for a run: firms never change region) and their index."""

    clouds: list[Any]
    labs: list[Any]
    enterprises: list[Any]
    shares: dict[str, float]
    cloud_at: dict[str, int]
    renter_at: dict[str, int]  # labs, then enterprises
    enterprise_at: dict[str, int]
    api_lab_at: dict[str, int]
    api_share: list[float]

    @classmethod
    def of(cls, model: SupplyChainModel, region: str) -> _Market:
        clouds = model.market.clouds_in[region]
        labs = model.market.labs_in[region]
        ents = model.market.enterprises_in[region]
        shares = model.market.api_shares[region]
        names = [x.name for x in ents]
        return cls(
            clouds,
            labs,
            ents,
            shares,
            _index([c.name for c in clouds]),
            _index([x.name for x in labs] + names),
            _index(names),
            _index(list(shares)),
            list(shares.values()),
        )

    def is_of(self, model: SupplyChainModel, region: str) -> bool:
        return (
            self.clouds is model.market.clouds_in[region]
            and self.labs is model.market.labs_in[region]
            and self.enterprises is model.market.enterprises_in[region]
            and self.shares is model.market.api_shares[region]
        )


class FlowMeter:
    """The current week's flows as goods move; closed once a week into :class:`WeekFlows`."""

    def __init__(self) -> None:
        self._moved: dict[FlowKey, float] = {}
        self._markets: dict[str, _Market] = {}

    def add(self, source: str, destination: str, kind: FlowKind, amount: float) -> None:
        """Meter ``amount`` moving from ``source`` to ``destination`` this week.

        ``kind`` is one of the metered kinds (not in :data:`POOLED_KINDS`).
        """
        key = (source, destination, kind)
        self._moved[key] = self._moved.get(key, 0.0) + amount

    def close_week(self, model: SupplyChainModel) -> WeekFlows:
        """The week's flows: what was metered plus the rental and API markets' pools.

        Read at the record stage (or at build, for the initial state) from the
        markets' results: each lab's ``rented`` and each enterprise's
        ``direct_served_h100e``, split over the region's active clouds by their
        rentable compute, and each enterprise's ``api_served_h100e``, split
        over the region's API labs by ``model.market.api_shares``. The meter starts
        the next week empty.
        """
        rental: list[Pool] = []
        api: list[Pool] = []
        for region in REGIONS:
            mk = self._markets.get(region)
            if mk is None or not mk.is_of(model, region):
                mk = self._markets[region] = _Market.of(model, region)
            # only the week's values are read (thousands of enterprises in large worlds)
            supply = [max(0.0, c.rentable_h100e()) if c.active else 0.0 for c in mk.clouds]
            total = sum(supply)
            if total > 0:
                served = [x.rented for x in mk.labs]
                served += [e.direct_served_h100e for e in mk.enterprises]
                rental.append(Pool("rental", mk.cloud_at, supply, total, mk.renter_at, served))
            if mk.shares and mk.enterprises:
                served = [e.api_served_h100e for e in mk.enterprises]
                api.append(Pool("api", mk.api_lab_at, mk.api_share, 1.0, mk.enterprise_at, served))
        moved, self._moved = self._moved, {}
        return WeekFlows(int(model.steps), moved, (*rental, *api))
