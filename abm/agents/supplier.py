"""Shared machinery of upstream suppliers: capacity, its growth, and work in process.

Foundries, packagers and memory makers differ in what a unit of capacity is
(logic wafers, packaging wafers, HBM stacks) and what comes out; they share
how capacity grows (a quarterly review that commissions new capacity which
arrives after a lag, bounded by a maximum growth rate) and a pipeline of
work that completes after a cycle time.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import TYPE_CHECKING

from abm.agents.base import Firm
from abm.scenario import CapacityGrowth

if TYPE_CHECKING:
    from abm.engine.flows import FlowKind
    from abm.engine.model import SupplyChainModel


class CapacityLine:
    """One pool of capacity (a process node, a packaging line, an HBM line).

    Attributes:
        capacity: Installed capacity per week (wafers or stacks).
        reserved_share: Share of capacity taken by customers outside the model
            (e.g. Broadcom's TPU work on CoWoS).
        multiplier: Shock multiplier on usable capacity (1 = normal).
        pending: Commissioned capacity not yet online: (arrival step, amount).
        wanted: Smoothed weekly demand for this capacity (for expansion).
    """

    def __init__(
        self, capacity: float, growth: CapacityGrowth, reserved_share: float = 0.0
    ) -> None:
        self.capacity = float(capacity)
        self.growth = growth
        self.reserved_share = reserved_share
        self.multiplier = 1.0
        self.pending: deque[tuple[int, float]] = deque()
        self.wanted = float(capacity) * (1 - reserved_share) * growth.target_utilisation

    @property
    def usable(self) -> float:
        """Capacity usable by the modelled vendors this week, after shocks and reservations."""
        return self.capacity * self.multiplier * (1 - self.reserved_share)

    def observe(self, wanted_this_week: float, weight: float = 0.25) -> None:
        """Fold this week's wanted capacity into the smoothed demand signal."""
        self.wanted += weight * (wanted_this_week - self.wanted)

    def commission(self, step: int, review_weeks: int) -> float:
        """Quarterly review: commission capacity toward the smoothed demand.

        Returns:
            Capacity commissioned now (arrives ``expansion_lag_weeks`` later).
        """
        g = self.growth
        desired = self.wanted / g.target_utilisation / (1 - self.reserved_share)
        planned = self.capacity + sum(a for _, a in self.pending)
        # growth compounds on what is already planned, at most max_growth_per_year
        cap = planned * ((1 + g.max_growth_per_year) ** (review_weeks / 52) - 1)
        add = min(max(0.0, desired - planned), cap)
        if add > 0:
            self.pending.append((step + g.expansion_lag_weeks, add))
        return add

    def bring_online(self, step: int) -> float:
        """Add commissioned capacity whose time has come; returns the amount."""
        added = 0.0
        while self.pending and self.pending[0][0] <= step:
            added += self.pending.popleft()[1]
        self.capacity += added
        return added


class Supplier(Firm):
    """A firm that turns requests from vendors into output after a cycle time.

    Requests are kept as a backlog per (vendor, product) in capacity units;
    each week the usable capacity of a line is shared pro-rata over the
    backlogs drawing on it, and started work completes ``cycle_weeks`` later.

    Attributes:
        flow_kind: The kind of the supply edges to the vendors (``wafers``,
            ``hbm``) along which started work is metered; None for packagers,
            whose flow is the packaged units a vendor receives.
    """

    flow_kind: FlowKind | None = None

    def __init__(
        self,
        model: SupplyChainModel,
        name: str,
        country: str,
        region: str,
        lines: dict[str, CapacityLine],
        cycle_weeks: int,
    ) -> None:
        super().__init__(model, name, country, region)
        self.lines = lines
        self.cycle_weeks = cycle_weeks
        self.backlog: dict[tuple[str, str], float] = defaultdict(float)
        self.requests: dict[tuple[str, str], float] = defaultdict(float)
        self.booked: dict[str, float] = defaultdict(float)
        self.booked_by: dict[str, float] = defaultdict(float)
        self.last_booked_by: dict[str, float] = {}
        self.in_process: list[tuple[int, str, str, float]] = []
        self.started_last = 0.0
        self.last_share: dict[str, float] = {name: 1.0 for name in lines}

    def line_of(self, product: str) -> str:
        """Capacity line a product's work draws on."""
        return next(iter(self.lines))

    def request(self, vendor: str, product: str, amount: float) -> bool:
        """A vendor asks for ``amount`` capacity units of work on ``product``.

        Requests are gathered during the week and accepted into the backlog at
        :meth:`start_work`, up to ``supplier_max_queue_weeks`` of usable
        capacity per line; what is refused only tells the supplier that more
        capacity is wanted.

        Returns:
            True (a foundry may refuse under its controls, see ``Foundry.request``).
        """
        if amount > 0:
            self.requests[(vendor, product)] += amount
        return True

    def stop_work_for(self, customer: str) -> float:
        """Drop a customer's backlog and work in process; returns the capacity units dropped.

        For a detected front, or a vendor an HBM rule now denies.
        """
        dropped = sum(a for (v, _), a in self.backlog.items() if v == customer)
        for key in [k for k in self.backlog if k[0] == customer]:
            del self.backlog[key]
        dropped += sum(a for _, v, _, a in self.in_process if v == customer)
        self.in_process = [w for w in self.in_process if w[1] != customer]
        return dropped

    def backlog_of(self, vendor: str, product: str) -> float:
        """Requested work not yet started."""
        return self.backlog.get((vendor, product), 0.0)

    def in_process_of(self, vendor: str, product: str) -> float:
        """Started work not yet completed, in capacity units."""
        return sum(a for _, v, p, a in self.in_process if v == vendor and p == product)

    def book(self, vendor: str, product: str, amount_per_week: float) -> None:
        """A vendor signals the capacity it plans to use per week (drives expansion)."""
        self.booked[self.line_of(product)] += amount_per_week
        self.booked_by[vendor] += amount_per_week

    def allotment(self, vendor: str, within_weeks: int = 0) -> float:
        """Capacity per week ``vendor`` can count on: its share of last week's bookings.

        Args:
            vendor: The vendor asking.
            within_weeks: Also count commissioned capacity coming online within
                this many weeks (suppliers tell customers their expansion plans).
        """
        horizon = self.model.week + within_weeks
        usable = 0.0
        for line in self.lines.values():
            coming = sum(a for due, a in line.pending if due <= horizon)
            usable += (line.capacity + coming) * line.multiplier * (1 - line.reserved_share)
        total = sum(self.last_booked_by.values())
        if total <= 0:
            return usable
        return usable * self.last_booked_by.get(vendor, 0.0) / total

    def _accept_requests(self) -> dict[str, float]:
        """Move this week's requests into the backlog within each line's queue limit."""
        max_weeks = self.model.spec.parameters.supplier_max_queue_weeks
        asked: dict[str, float] = defaultdict(float)
        queued: dict[str, float] = defaultdict(float)
        for key, amount in self.requests.items():
            asked[self.line_of(key[1])] += amount
        for key, amount in self.backlog.items():
            queued[self.line_of(key[1])] += amount
        for key, amount in self.requests.items():
            name = self.line_of(key[1])
            room = max(0.0, max_weeks * self.lines[name].usable - queued[name])
            share = min(1.0, room / asked[name]) if asked[name] > 0 else 0.0
            self.backlog[key] += amount * share
            if share < 1.0:
                self.refuse(key[0], key[1], amount * (1.0 - share))
        self.requests.clear()
        return asked

    def refuse(self, vendor: str, product: str, amount: float) -> None:
        """A request the queue has no room for: nothing to hand back here (packagers do)."""

    def start_work(self) -> None:
        """Share each line's usable capacity over its backlogs and start that work."""
        step = self.model.week
        self._accept_requests()
        by_line: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, amount in self.backlog.items():
            if amount > 1e-9:
                by_line[self.line_of(key[1])].append(key)
        self.started_last = 0.0
        kind = self.flow_kind
        for name, line in self.lines.items():
            keys = by_line.get(name, [])
            total = sum(self.backlog[k] for k in keys)
            # wanted this week: what vendors committed to use (prepaid capacity); a
            # backlog or requests beyond the commitments do not build capacity
            line.observe(self.booked.get(name, 0.0))
            if total <= 0:
                self.last_share[name] = 1.0
                continue
            share = min(1.0, line.usable / total)
            self.last_share[name] = share
            for key in keys:
                amount = self.backlog[key] * share
                self.backlog[key] -= amount
                self.in_process.append((step + self.cycle_weeks, key[0], key[1], amount))
                self.started_last += amount
                if kind is not None:
                    self.model.flow_meter.add(self.name, key[0], kind, amount)
        self.booked.clear()
        self.last_booked_by = dict(self.booked_by)
        self.booked_by.clear()

    def complete_work(self) -> list[tuple[str, str, float]]:
        """Work whose cycle ends this week: (vendor, product, capacity units)."""
        step = self.model.week
        done = [(v, p, a) for due, v, p, a in self.in_process if due <= step]
        if done:
            self.in_process = [w for w in self.in_process if w[0] > step]
        return done

    def review_capacity(self) -> None:
        """Bring commissioned capacity online; commission more at each review."""
        step = self.model.week
        for name, line in self.lines.items():
            added = line.bring_online(step)
            if added > 0:
                self.log("capacity_online", quantity=added, detail=f"line {name}")
            if step % self.model.spec.parameters.expansion_review_weeks == 0:
                add = line.commission(step, self.model.spec.parameters.expansion_review_weeks)
                if add > 0:
                    self.log(
                        "capacity_commissioned",
                        quantity=add,
                        detail=f"line {name}; online in {line.growth.expansion_lag_weeks} weeks",
                    )

    @property
    def capacity(self) -> float:
        """Total installed capacity over lines."""
        return sum(line.capacity for line in self.lines.values())

    def lead_time_weeks(self) -> float:
        """Quoted lead time: weeks to work off the backlog at usable capacity, plus cycle."""
        usable = sum(line.usable for line in self.lines.values())
        total = sum(self.backlog.values())
        return min(104.0, total / usable if usable > 0 else 104.0) + self.cycle_weeks

    def shortage_ratio(self) -> float:
        """Share of the wanted weekly work (smoothed) that usable capacity cannot start."""
        usable = sum(line.usable for line in self.lines.values())
        wanted = sum(line.wanted for line in self.lines.values())
        return max(0.0, 1.0 - usable / wanted) if wanted > 0 else 0.0

    def utilisation(self) -> float:
        """Share of usable capacity started last week."""
        usable = sum(line.usable for line in self.lines.values())
        return self.started_last / usable if usable > 0 else 0.0

    def state(self) -> dict[str, float]:
        """Capacity, backlog and utilisation."""
        return {
            "capacity": self.capacity,
            "backlog": sum(self.backlog.values()),
            "utilisation": self.utilisation(),
            "lead_time_weeks": self.lead_time_weeks(),
            "shortage_ratio": self.shortage_ratio(),
        }
