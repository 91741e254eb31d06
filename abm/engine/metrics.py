"""The metrics, declared once: name, unit, scope, meaning and how to collect them.

Collection (``MetricLog``), the ``metrics.parquet`` file and the metric table
in ``docs/metrics.md`` (``abm metrics --markdown``) are all built from
:data:`METRICS`. Scopes are agent names, region codes (``US``, ``CN``,
``ROW``), ``VENDOR:REGION`` pairs, product names, or ``world``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from abm.scenario import REGIONS

if TYPE_CHECKING:
    import pandas as pd

    from abm.agents.base import Firm
    from abm.engine.model import SupplyChainModel

Rows = Iterable[tuple[str, float]]
MetricFn = Callable[["SupplyChainModel"], Rows]


@dataclass(frozen=True)
class Metric:
    """A declared output series.

    Attributes:
        name: Column value in ``metrics.parquet``'s ``name``.
        unit: Unit of ``value``.
        scope: What ``scope`` holds for this metric.
        description: What it means.
        collect: Function of the model yielding ``(scope, value)`` pairs.
    """

    name: str
    unit: str
    scope: str
    description: str
    collect: MetricFn


METRICS: list[Metric] = []


def metric(name: str, unit: str, scope: str, description: str) -> Callable[[MetricFn], MetricFn]:
    """Declare a metric; the decorated function collects it."""

    def deco(fn: MetricFn) -> MetricFn:
        METRICS.append(Metric(name, unit, scope, description, fn))
        return fn

    return deco


def _sum_by_region(agents: Iterable[Firm], attr: str) -> Rows:
    per = dict.fromkeys(REGIONS, 0.0)
    for a in agents:
        per[a.region] += getattr(a, attr)
    return per.items()


@metric(
    "lead_time_weeks",
    "weeks",
    "vendor",
    "Quoted lead time: backlog due now (scheduled orders excluded) over the smoothed "
    "weekly shipment rate, plus transit.",
)
def _lead_time(m: SupplyChainModel) -> Rows:
    return ((v.name, v.lead_time) for v in m.vendors)


@metric("backlog_units", "units", "vendor", "Units ordered and not yet shipped.")
def _backlog(m: SupplyChainModel) -> Rows:
    return ((v.name, float(v.backlog_units())) for v in m.vendors)


@metric("production_units", "units/week", "vendor", "Units packaged this week.")
def _production(m: SupplyChainModel) -> Rows:
    return ((v.name, float(v.produced_this_week)) for v in m.vendors)


@metric(
    "hbm_stock_stacks",
    "stacks",
    "vendor",
    "HBM stacks a vendor holds (its normal cover, plus any stockpile against an HBM rule).",
)
def _hbm_stock(m: SupplyChainModel) -> Rows:
    return ((v.name, v.hbm) for v in m.vendors)


@metric(
    "die_stock",
    "dies",
    "vendor",
    "Good logic dies a vendor holds over all its die banks (incl. dies from front companies).",
)
def _die_stock(m: SupplyChainModel) -> Rows:
    return ((v.name, float(sum(v.dies.values()))) for v in m.vendors)


@metric(
    "gpu_price_usd",
    "USD/unit",
    "product",
    "Vendor price of a product on sale (list price moved by backlog pressure).",
)
def _gpu_price(m: SupplyChainModel) -> Rows:
    today = m.date
    for v in m.vendors:
        for name, p in v.products.items():
            if p.on_sale(today):
                yield name, v.price[name]


@metric(
    "rental_price_usd_per_gpu_hour",
    "USD per H100e-hour",
    "region",
    "Rental price index of the region's cloud market per H100-equivalent "
    "(smoothed clearing price; contracts reprice gradually).",
)
def _rental_price(m: SupplyChainModel) -> Rows:
    return ((r, m.market.price[r]) for r in REGIONS)


@metric(
    "rental_floor_usd_per_h100e_hour",
    "USD per H100e-hour",
    "region",
    "Floor of the region's rental market: the price at which clouds offer all their "
    "capacity; with a capacity cost (A68), what new capacity costs there per H100e-hour.",
)
def _rental_floor(m: SupplyChainModel) -> Rows:
    return ((r, m.market.floor[r]) for r in REGIONS)


@metric("rental_utilisation", "share", "region", "Share of rentable cloud capacity rented.")
def _rental_util(m: SupplyChainModel) -> Rows:
    return ((r, m.market.utilisation[r]) for r in REGIONS)


@metric(
    "shipments_units",
    "units/week",
    "VENDOR:REGION",
    "Units shipped by a vendor to buyers in a region this week.",
)
def _shipments(m: SupplyChainModel) -> Rows:
    for v in m.vendors:
        per_region = dict.fromkeys(REGIONS, 0)
        for (region, _product), n in v.shipped_this_week.items():
            per_region[region] += n
        for r, n in per_region.items():
            yield f"{v.name}:{r}", float(n)


@metric("orders_units", "units/week", "agent", "Units a buyer ordered this week.")
def _orders(m: SupplyChainModel) -> Rows:
    return ((b.name, float(b.ordered_units_this_week)) for b in m.buyers)


@metric(
    "compute_stock_h100e",
    "H100e",
    "region, agent or world",
    "Installed accelerator compute owned by clouds and labs.",
)
def _compute(m: SupplyChainModel) -> Rows:
    per_region = dict.fromkeys(REGIONS, 0.0)
    for b in m.buyers:
        c = b.installed_h100e()
        per_region[b.region] += c
        yield b.name, c
    yield from per_region.items()
    yield "world", sum(per_region.values())


@metric(
    "shortage_ratio",
    "share",
    "agent or region",
    "Unmet over wanted compute (wanted = need at normal prices); for clouds, "
    "their region's rental shortage; for vendors, 1 - normal lead time / quoted lead time.",
)
def _shortage(m: SupplyChainModel) -> Rows:
    for lab in m.labs:
        yield lab.name, lab.shortage
    for e in m.enterprises:
        yield e.name, e.shortage_ratio
    for c in m.clouds:
        yield c.name, m.market.shortage[c.region]
    normal = m.spec.parameters.vendors.normal_lead_time_weeks
    for v in m.vendors:
        yield v.name, max(0.0, 1.0 - normal / v.lead_time) if v.lead_time > 0 else 0.0
    for s in m.suppliers:
        yield s.name, s.shortage_ratio()
    yield from m.market.region_shortage.items()


@metric("signups_paused", "0/1", "lab", "1 while the lab has paused paid sign-ups.")
def _paused(m: SupplyChainModel) -> Rows:
    return ((lab.name, float(lab.signups_paused)) for lab in m.labs)


@metric("users", "weekly active users", "lab", "Consumer users of the lab's products.")
def _users(m: SupplyChainModel) -> Rows:
    return ((lab.name, lab.users) for lab in m.labs)


@metric("paid_subscribers", "subscribers", "lab", "Paying consumer subscribers.")
def _paid(m: SupplyChainModel) -> Rows:
    return ((lab.name, lab.paid) for lab in m.labs)


@metric("revenue_usd", "USD/week", "lab", "Subscription plus API revenue this week.")
def _revenue(m: SupplyChainModel) -> Rows:
    return ((lab.name, lab.revenue) for lab in m.labs)


@metric(
    "lost_revenue_usd",
    "USD/week",
    "lab",
    "Revenue lost this week to rationing: blocked sign-ups and rate-limited API calls.",
)
def _lost(m: SupplyChainModel) -> Rows:
    return ((lab.name, lab.lost_revenue) for lab in m.labs)


@metric("cash_usd", "USD", "lab", "Cash on hand.")
def _cash(m: SupplyChainModel) -> Rows:
    return ((lab.name, lab.cash) for lab in m.labs)


@metric(
    "consumer_demand_h100e",
    "H100e",
    "region",
    "Compute wanted for consumer (C-end) inference by the region's labs.",
)
def _consumer(m: SupplyChainModel) -> Rows:
    return _sum_by_region(m.labs, "consumer_need")


@metric(
    "enterprise_demand_h100e",
    "H100e",
    "region",
    "Compute wanted by enterprises (B-end), through lab APIs and direct rental.",
)
def _enterprise(m: SupplyChainModel) -> Rows:
    return _sum_by_region(m.enterprises, "need_h100e")


@metric(
    "supplier_capacity",
    "wafers/week or stacks/week",
    "agent",
    "Installed capacity of a foundry (all nodes), packager or memory maker.",
)
def _capacity(m: SupplyChainModel) -> Rows:
    return ((s.name, s.capacity) for s in m.suppliers)


@metric(
    "supplier_utilisation",
    "share",
    "agent",
    "Share of a foundry's, packager's or memory maker's usable capacity started this week.",
)
def _utilisation(m: SupplyChainModel) -> Rows:
    return ((s.name, s.utilisation()) for s in m.suppliers)


@metric(
    "denied_units",
    "units/week",
    "rule id",
    "Units whose orders were cancelled because a rule (or a refused licence) denied them.",
)
def _denied(m: SupplyChainModel) -> Rows:
    return (
        (r.rule_id, float(m.controls.denied_this_week.get(r.rule_id, 0))) for r in m.controls.rules
    )


@metric(
    "licensed_units",
    "units/week",
    "rule id",
    "Units shipped this week under a licence granted under a rule.",
)
def _licensed(m: SupplyChainModel) -> Rows:
    return (
        (r.rule_id, float(m.controls.licensed_this_week.get(r.rule_id, 0)))
        for r in m.controls.rules
        if r.spec.licence.policy == "case_by_case"
    )


@metric(
    "diverted_units",
    "units/week",
    "region",
    "Units brokers diverted into a region this week (past detection).",
)
def _diverted(m: SupplyChainModel) -> Rows:
    per = dict.fromkeys(REGIONS, 0.0)
    for b in m.brokers:
        for t in b.spec.targets:
            region = "CN" if t == "CN" else "ROW"
            per[region] += b.diverted_this_week / len(b.spec.targets)
    return per.items()


@metric(
    "seized_units",
    "units/week",
    "region",
    "Diverted units seized on their way into a region this week.",
)
def _seized(m: SupplyChainModel) -> Rows:
    per = dict.fromkeys(REGIONS, 0.0)
    for b in m.brokers:
        for t in b.spec.targets:
            region = "CN" if t == "CN" else "ROW"
            per[region] += b.seized_this_week / len(b.spec.targets)
    return per.items()


@metric(
    "vendor_revenue_usd",
    "USD/week",
    "VENDOR:REGION",
    "A vendor's sales to a region this week, net of government levies.",
)
def _vendor_revenue(m: SupplyChainModel) -> Rows:
    for v in m.vendors:
        for r in REGIONS:
            yield f"{v.name}:{r}", v.revenue_by_region.get(r, 0.0)


@metric(
    "government_revenue_usd",
    "USD/week",
    "government",
    "Revenue shares and tariffs a government collected this week.",
)
def _gov_revenue(m: SupplyChainModel) -> Rows:
    return ((g.name, g.revenue_this_week) for g in m.governments)


@metric(
    "cn_domestic_share_units",
    "share",
    "CN",
    "Share of accelerator units delivered to Chinese buyers over the trailing 52 weeks "
    "that came from Chinese vendors.",
)
def _cn_domestic(m: SupplyChainModel) -> Rows:
    yield "CN", m.cn_share.share


def catalogue_markdown() -> str:
    """The metric table for the docs."""
    lines = ["| name | unit | scope | meaning |", "|---|---|---|---|"]
    for mt in METRICS:
        lines.append(f"| `{mt.name}` | {mt.unit} | {mt.scope} | {mt.description} |")
    return "\n".join(lines) + "\n"


class MetricLog:
    """Long-form metric rows of one run: (step, name, scope, value)."""

    def __init__(self) -> None:
        self.step: list[int] = []
        self.name: list[str] = []
        self.scope: list[str] = []
        self.value: list[float] = []
        self._rows_of: dict[tuple[str, str], list[int]] = {}  # (name, scope) -> row numbers
        self._indexed = 0

    def collect(self, model: SupplyChainModel) -> None:
        """Evaluate every declared metric at the model's current step."""
        step = model.week
        for mt in METRICS:
            rows = list(mt.collect(model))
            if not rows:
                continue
            self.step.extend([step] * len(rows))
            self.name.extend([mt.name] * len(rows))
            self.scope.extend([r[0] for r in rows])
            self.value.extend([float(r[1]) for r in rows])

    def to_arrow(self) -> pa.Table:
        """All rows as an Arrow table (without run keys)."""
        return pa.table(
            {
                "step": pa.array(self.step, pa.int32()),
                "name": pa.array(self.name, pa.string()),
                "scope": pa.array(self.scope, pa.string()),
                "value": pa.array(self.value, pa.float64()),
            }
        )

    def frame(self) -> pd.DataFrame:
        """All rows as a tidy pandas DataFrame: ``step, name, scope, value``.

        The same rows as :meth:`to_arrow` (``metrics.parquet`` adds run keys and dates);
        see ``abm metrics`` for each name's unit and meaning.
        """
        return self.to_arrow().to_pandas()

    def series(self, name: str, scope: str) -> list[float]:
        """One metric's values over steps (for tests, run summaries and quick looks).

        Rows are indexed by (name, scope) as they are first asked for, so many
        look-ups cost one pass over the rows.
        """
        n = len(self.value)
        if self._indexed < n:
            rows_of = self._rows_of
            for i in range(self._indexed, n):
                key = (self.name[i], self.scope[i])
                got = rows_of.get(key)
                if got is None:
                    rows_of[key] = [i]
                else:
                    got.append(i)
            self._indexed = n
        value = self.value
        return [value[i] for i in self._rows_of.get((name, scope), ())]
