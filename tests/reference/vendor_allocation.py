"""The straightforward version of a vendor's weekly allocation, kept as the reference.

``GPUVendor.allocate_and_ship`` in :mod:`abm.agents.vendor` does the same per-order
work on numpy arrays; ``tests/engine/test_performance.py`` runs whole scenarios with
this version swapped in and requires identical outputs. Only the backlog
bookkeeping differs (the vendor keeps its outstanding units current).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from abm.agents.products import Product
from abm.agents.records import Order, Shipment
from abm.agents.vendor import SMOOTHING, GPUVendor
from abm.controls.rules import item_of
from abm.markets.clearing import allocate


def allocate_pro_rata_loop(
    available: int,
    requests: Sequence[int] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Share ``available`` units in proportion to ``requests`` (times ``weights``).

    Args:
        available: Units to hand out (>= 0).
        requests: Units each claimant asks for (>= 0).
        weights: Optional non-negative weight per claimant (e.g. contract
            priority); the share is proportional to ``request * weight``.

    Returns:
        Integer units per claimant. If everything requested fits, every
        claimant gets its request. Otherwise the total handed out equals
        ``available`` and nobody gets more than it asked for.
    """
    req = np.asarray(requests, dtype=np.int64)
    if available < 0:
        raise ValueError("available must be non-negative")
    total = int(req.sum())
    if total <= available:
        return req.copy()
    w = np.ones(len(req)) if weights is None else np.asarray(weights, dtype=float)
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    claim = req * w
    if claim.sum() <= 0:  # all weights zero: fall back to plain requests
        claim = req.astype(float)
    out = np.zeros(len(req), dtype=np.int64)
    remaining = int(available)
    active = req > 0
    # Water-filling: shares above a request are capped and redistributed.
    while remaining > 0 and active.any():
        c = np.where(active, claim, 0.0)
        if c.sum() <= 0:
            break
        exact = remaining * c / c.sum()
        room = req - out
        capped = active & (exact >= room)
        if capped.any():
            out[capped] = req[capped]
            remaining = int(available - out.sum())
            active &= ~capped
            continue
        base = np.floor(exact).astype(np.int64)
        out += base
        left = remaining - int(base.sum())
        if left > 0:
            frac = exact - base
            # largest remainder; stable sort keeps lower index first on ties
            order = np.argsort(-frac, kind="stable")
            order = [i for i in order if active[i] and out[i] < req[i]]
            for i in order[:left]:
                out[i] += 1
        remaining = 0
    return out


def allocate_priority_loop(
    available: int,
    requests: Sequence[int] | np.ndarray,
    priorities: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """Serve higher priority classes first, pro-rata within a class.

    Args:
        available: Units to hand out.
        requests: Units each claimant asks for.
        priorities: Integer class per claimant; larger is served first.

    Returns:
        Integer units per claimant.
    """
    req = np.asarray(requests, dtype=np.int64)
    pri = np.asarray(priorities)
    out = np.zeros(len(req), dtype=np.int64)
    remaining = int(available)
    for level in sorted(set(pri.tolist()), reverse=True):
        idx = np.flatnonzero(pri == level)
        got = allocate_pro_rata_loop(remaining, req[idx])
        out[idx] = got
        remaining -= int(got.sum())
        if remaining <= 0:
            break
    return out


def allocate_and_ship(self: GPUVendor) -> None:
    """Clear each buyer with the controls, share finished units over cleared orders, ship."""
    m = self.model
    self.shipped_this_week.clear()
    self.shipped_value_this_week.clear()
    self.revenue_by_region.clear()
    self.revenue_this_week = 0.0
    shipped_total = 0
    to_cn = variant_to_cn = 0
    for name, orders in self.orders.items():
        orders[:] = [o for o in orders if o.outstanding > 0]
        if not orders:
            self.due_backlog[name] = 0
            continue
        p = self.products[name]
        decisions = _clear_buyers(self, p, orders)
        orders[:] = [o for o in orders if o.outstanding > 0]
        cleared = [o for o in orders if decisions[o.buyer].verdict == "allow"]
        week = m.week
        if not cleared or self.finished[name] <= 0:
            self.due_backlog[name] = sum(o.outstanding for o in cleared if o.due <= week)
            _log_allocations(self, name, cleared, np.zeros(len(cleared), dtype=np.int64))
            continue
        # orders due by this week first; stock left over ships scheduled orders early
        now = [o.outstanding if o.due <= week else 0 for o in cleared]
        given = _by_rule(self, self.finished[name], cleared, now, carried=name)
        left = self.finished[name] - int(given.sum())
        if left > 0 and any(o.due > week for o in cleared):
            later = [o.outstanding - n for o, n in zip(cleared, now, strict=True)]
            given = given + _by_rule(self, left, cleared, later, carried=f"{name} early")
        self.due_backlog[name] = sum(max(0, n - int(g)) for n, g in zip(now, given, strict=True))
        _log_allocations(self, name, cleared, given)
        per_buyer: dict[str, list[int]] = {}
        for order, g in zip(cleared, given, strict=True):
            if g <= 0:
                continue
            order.outstanding -= int(g)
            self._backlog[name] -= int(g)
            m.orders.reduced(order.buyer, int(g))
            slot = per_buyer.setdefault(order.buyer, [0, order.step])
            slot[0] += int(g)
            slot[1] = min(slot[1], order.step)
        for buyer_name, (units, order_step) in per_buyer.items():
            buyer = m.cast.customer[buyer_name]
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


def _by_rule(
    self: GPUVendor,
    available: int,
    orders: list[Order],
    wants: list[int],
    carried: str | None = None,
) -> np.ndarray:
    """Units per order under the vendor's rule, each order asking for ``wants`` (plain loops)."""
    if self.spec.allocation == "shares":
        return _by_shares(self, available, orders, wants, carried)
    priorities = np.fromiter((o.priority for o in orders), np.int64, len(orders))
    return allocate(self.spec.allocation, available, np.array(wants, dtype=np.int64), priorities)


def _by_shares(
    self: GPUVendor,
    available: int,
    orders: list[Order],
    wants: list[int],
    carried: str | None = None,
) -> np.ndarray:
    """Standing shares per buyer, then each buyer's orders oldest first (plain loops)."""
    buyers = list(dict.fromkeys(o.buyer for o in orders))
    asked = [sum(w for o, w in zip(orders, wants, strict=True) if o.buyer == b) for b in buyers]
    if sum(asked) <= available:
        if carried is not None:
            self.share_carry.pop(carried, None)
        return np.array(wants, dtype=np.int64)
    shared = self.share_out(available, np.array(asked, dtype=np.int64), buyers, carried)
    got = dict(zip(buyers, shared.tolist(), strict=True))
    given = []
    for o, w in zip(orders, wants, strict=True):
        g = min(w, got[o.buyer])
        got[o.buyer] -= g
        given.append(g)
    return np.array(given, dtype=np.int64)


def _clear_buyers(self: GPUVendor, p: Product, orders: list[Order]) -> dict[str, Any]:
    """This week's control verdict for each buyer with orders of ``p``.

    A denied buyer's outstanding orders of ``p`` are cancelled (a
    ``denial`` event naming the rule); buyers awaiting a licence wait.
    """
    m = self.model
    item = item_of(p)
    decisions: dict[str, Any] = {}
    for o in orders:
        if o.buyer not in decisions:
            decisions[o.buyer] = m.controls.clearance(
                item, self.country, m.cast.customer[o.buyer].country, o.buyer
            )
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


def _log_allocations(self: GPUVendor, product: str, orders: list[Order], given: np.ndarray) -> None:
    asked: dict[str, int] = defaultdict(int)
    got: dict[str, int] = defaultdict(int)
    later: dict[str, int] = defaultdict(int)
    week = self.model.week
    for o, g in zip(orders, given, strict=True):
        asked[o.buyer] += o.outstanding if o.due <= week else 0  # asked: what is due
        later[o.buyer] += o.outstanding if o.due > week else 0
        got[o.buyer] += int(g)
    for buyer, a in asked.items():
        if got[buyer] >= a:
            binding = "none"
        else:  # "demand" means no input ran short: the finished stock was shared out
            binding = self.binding[product].replace("demand", "inventory")
            if self.binding_firm.get(product):
                binding = f"{binding} ({self.binding_firm[product]})"
        self.log(
            "allocation",
            buyer,
            product,
            got[buyer],
            detail=f"asked {a}, given {got[buyer]}; scheduled {later[buyer]}; binding: {binding}",
        )
