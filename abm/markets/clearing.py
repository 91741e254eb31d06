"""Pure market functions: allocation of scarce output and rental-price clearing.

Nothing here knows about Mesa, agents or dates. Every function takes plain
numbers or numpy arrays and returns plain numbers or numpy arrays, so each can
be tested against hand-worked cases (``tests/markets/test_clearing.py``).

Conventions:
    * Quantities of GPUs are integers (units); an allocation never exceeds the
      request of any claimant and never exceeds what is available.
    * Rounding follows the largest-remainder (Hamilton) method; ties go to the
      claimant with the lower index, so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RentalClearing",
    "allocate",
    "allocate_fifo",
    "allocate_priority",
    "allocate_pro_rata",
    "allocate_shares",
    "clear_rental_market",
]


def _as_int_array(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if (arr < 0).any():
        raise ValueError(f"{name} must be non-negative")
    return arr


def allocate_pro_rata(
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
    req = _as_int_array(requests, "requests")
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
    return _water_fill(int(available), req, claim)


def _water_fill(
    available: int,
    req: np.ndarray,
    claim: np.ndarray,
    carry: np.ndarray | None = None,
    ideal: np.ndarray | None = None,
) -> np.ndarray:
    """Share ``available`` in proportion to ``claim``, capped at ``req``, integer.

    Shares above a request are capped and the rest redistributed over the
    others (water-filling); the final units go by largest remainder (plus
    ``carry``, a claimant's entitlement left over from earlier rounds), ties
    to the lower index. ``ideal``, when given, receives the exact (fractional)
    allocation.
    """
    out = np.zeros(len(req), dtype=np.int64)
    if ideal is not None:
        ideal[:] = 0.0
    remaining = available
    active = req > 0
    while remaining > 0 and active.any():
        c = np.where(active, claim, 0.0)
        if c.sum() <= 0:
            break
        exact = remaining * c / c.sum()
        room = req - out
        capped = active & (exact >= room)
        if capped.any():
            out[capped] = req[capped]
            if ideal is not None:
                ideal[capped] = req[capped]
            remaining = int(available - out.sum())
            active &= ~capped
            continue
        if ideal is not None:
            ideal[active] = out[active] + exact[active]
        base = np.floor(exact).astype(np.int64)
        out += base
        left = remaining - int(base.sum())
        if left > 0:
            frac = exact - base
            if carry is not None:
                frac = frac + carry
            # largest remainder; stable sort keeps lower index first on ties
            order = np.argsort(-frac, kind="stable")
            order = order[active[order] & (out[order] < req[order])]
            out[order[:left]] += 1
        remaining = 0
    return out


def allocate_shares(
    available: int,
    requests: Sequence[int] | np.ndarray,
    shares: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Share ``available`` units in proportion to each claimant's standing share.

    This is how a vendor allocates scarce output over its customers: each
    gets a share fixed by the relationship (order history, contract class),
    not by how much it asks for this week, so inflating an order does not win
    more units and no customer with a standing order is starved while others
    are served. A share above a claimant's request goes to the others.

    Args:
        available: Units to hand out (>= 0).
        requests: Units each claimant asks for (>= 0).
        shares: Non-negative standing share of each claimant (any scale).
            Claimants whose shares are all zero fall back to pro-rata on
            their requests.

    Returns:
        Integer units per claimant: nobody gets more than it asked for, and
        the total is ``min(available, sum(requests))``.
    """
    req = _as_int_array(requests, "requests")
    return allocate_shares_carried(available, req, shares, np.zeros(len(req)))[0]


def allocate_shares_carried(
    available: int,
    requests: Sequence[int] | np.ndarray,
    shares: Sequence[float] | np.ndarray,
    carry: Sequence[float] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`allocate_shares` over repeated rounds: fractions owed are carried forward.

    When output is too small for whole units to follow the shares (3 units
    for 4 customers), the same customers would win the rounding every week.
    A vendor keeps track of what each customer is owed against its share: the
    fraction a claimant was entitled to but did not get is added to its
    remainder in the next round, so small allocations rotate.

    Args:
        available: Units to hand out (>= 0).
        requests: Units each claimant asks for (>= 0).
        shares: Non-negative standing share of each claimant.
        carry: Each claimant's entitlement carried from earlier rounds (units,
            any sign; 0 for a new claimant).

    Returns:
        Integer units per claimant (as :func:`allocate_shares`, but with the
        last units ranked by remainder plus carry), and the new carry: the old
        carry plus the exact share minus the units given (0 where everything
        asked for fitted).
    """
    req = _as_int_array(requests, "requests")
    c = np.asarray(carry, dtype=float)
    if c.shape != req.shape or not np.isfinite(c).all():
        raise ValueError("carry must be finite, one entry per request")
    if available < 0:
        raise ValueError("available must be non-negative")
    if int(req.sum()) <= available:
        return req.copy(), np.zeros(len(req))
    w = np.asarray(shares, dtype=float)
    if w.shape != req.shape:
        raise ValueError("shares must have one entry per request")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("shares must be finite and non-negative")
    claim = np.where(req > 0, w, 0.0)
    if claim.sum() <= 0:
        claim = req.astype(float)
    ideal = np.zeros(len(req))
    out = _water_fill(int(available), req, claim, carry=c, ideal=ideal)
    left = int(available) - int(out.sum())
    if left > 0:  # what the claimants with a share could not take goes to the rest
        out += _water_fill(left, req - out, (req - out).astype(float))
    return out, np.where(req > 0, c + ideal - out, 0.0)


def allocate_priority(
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
    req = _as_int_array(requests, "requests")
    if int(req.sum()) <= available:  # every class fits: everyone gets its request
        return req.copy()
    pri = np.asarray(priorities)
    out = np.zeros(len(req), dtype=np.int64)
    remaining = int(available)
    for level in sorted(set(pri.tolist()), reverse=True):
        idx = np.flatnonzero(pri == level)
        got = allocate_pro_rata(remaining, req[idx])
        out[idx] = got
        remaining -= int(got.sum())
        if remaining <= 0:
            break
    return out


def allocate_fifo(available: int, requests: Sequence[int] | np.ndarray) -> np.ndarray:
    """Serve claimants in the order given (oldest order first).

    Args:
        available: Units to hand out.
        requests: Units each claimant asks for, oldest first.

    Returns:
        Integer units per claimant.
    """
    req = _as_int_array(requests, "requests")
    cum = np.cumsum(req)
    before = cum - req
    return np.clip(int(available) - before, 0, req).astype(np.int64)


def allocate(
    method: str,
    available: int,
    requests: Sequence[int] | np.ndarray,
    priorities: Sequence[int] | np.ndarray | None = None,
    shares: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Dispatch to an allocation rule by name (``shares``, ``pro_rata``, ``priority``, ``fifo``)."""
    if method == "shares":
        if shares is None:
            raise ValueError("share allocation needs shares")
        return allocate_shares(available, requests, shares)
    if method == "pro_rata":
        return allocate_pro_rata(available, requests)
    if method == "priority":
        if priorities is None:
            raise ValueError("priority allocation needs priorities")
        return allocate_priority(available, requests, priorities)
    if method == "fifo":
        return allocate_fifo(available, requests)
    raise ValueError(
        f"unknown allocation method {method!r}; expected shares, pro_rata, priority or fifo"
    )


@dataclass(frozen=True)
class RentalClearing:
    """Result of clearing one regional rental market for one week.

    Attributes:
        price: Clearing price, USD per H100e-hour.
        served: Compute each buyer gets, H100e.
        wanted: Compute each buyer wants at the floor price, H100e (its need).
        utilisation: Served supply over offered supply (0 when no supply).
        rationed: True when demand at the ceiling price exceeds supply.
    """

    price: float
    served: np.ndarray
    wanted: np.ndarray
    utilisation: float
    rationed: bool


def rental_demand(price: float, need: np.ndarray, ref: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Each renter's demand at ``price``: constant elasticity above its reference price.

    Args:
        price: Rental price, USD per H100e-hour.
        need: Each renter's compute need, H100e.
        ref: Price up to which each renter wants all of its need.
        eps: Each renter's price elasticity above its reference price.

    Returns:
        ``need * min(1, (price / ref) ** -eps)`` per renter: below its reference
        price a renter wants no more than its need.
    """
    return need * np.minimum(1.0, (price / ref) ** (-eps))


_demand = rental_demand


def _bisect(
    lo: float,
    hi: float,
    offer: Callable[[float], float],
    need: np.ndarray,
    ref: np.ndarray,
    eps: np.ndarray,
    tol: float,
) -> float:
    """The lowest price in [lo, hi] (to ``tol``) at which demand no longer exceeds the offer."""
    while hi - lo > tol * hi:
        mid = 0.5 * (lo + hi)
        if _demand(mid, need, ref, eps).sum() > offer(mid):
            lo = mid
        else:
            hi = mid
    return hi


def clear_rental_market(
    supply_h100e: float,
    need_h100e: Sequence[float] | np.ndarray,
    reference_price: Sequence[float] | np.ndarray,
    elasticity: Sequence[float] | np.ndarray,
    floor_price: float,
    ceiling_price: float,
    tol: float = 1e-9,
    idle_exponent: float = 0.0,
) -> RentalClearing:
    """Clear a rental market: find the price at which demand meets supply.

    Each buyer i wants ``need_i * min(1, (p / ref_i) ** -eps_i)`` H100e at price
    p. Demand falls with price, so the clearing price is unique:

    * if demand at ``floor_price`` fits in supply, capacity idles: with
      ``idle_exponent`` 0 the price is the floor and every buyer gets what it
      wants; with ``idle_exponent`` k > 0 sellers undercut each other to fill
      idle capacity, offering ``supply * (p / floor_price) ** (1 / k)`` at
      price p, and the price is where demand meets that offer (with demand
      flat below the buyers' reference prices, ``floor_price * utilisation ** k``);
    * if demand at ``ceiling_price`` still exceeds supply, the price is the
      ceiling and supply is rationed pro-rata to demand at the ceiling;
    * otherwise bisection finds p with demand(p) = supply.

    Args:
        supply_h100e: Rentable capacity, H100e.
        need_h100e: Each buyer's compute need, H100e.
        reference_price: Price (USD per H100e-hour) up to which a buyer wants
            all of its need.
        elasticity: Price elasticity of each buyer's demand above its
            reference price (>= 0).
        floor_price: Price at which sellers offer all their capacity (full
            cost recovery); the lowest price they accept when ``idle_exponent``
            is 0.
        ceiling_price: Highest price the market reaches (on-demand list).
        tol: Relative tolerance of the bisection.
        idle_exponent: How hard sellers cut prices when capacity idles (0: not
            below the floor).

    Returns:
        The clearing price and what each buyer is served.
    """
    need = np.asarray(need_h100e, dtype=float)
    ref = np.asarray(reference_price, dtype=float)
    eps = np.asarray(elasticity, dtype=float)
    if supply_h100e < 0 or (need < 0).any():
        raise ValueError("supply and needs must be non-negative")
    if floor_price <= 0 or ceiling_price < floor_price:
        raise ValueError("need 0 < floor_price <= ceiling_price")
    wanted = need.copy()
    if need.sum() <= 0:
        return RentalClearing(floor_price, np.zeros_like(need), wanted, 0.0, False)
    d_floor = _demand(floor_price, need, ref, eps)
    if d_floor.sum() <= supply_h100e:
        if idle_exponent <= 0 or d_floor.sum() >= supply_h100e:
            util = d_floor.sum() / supply_h100e if supply_h100e > 0 else 0.0
            return RentalClearing(floor_price, d_floor, wanted, float(util), False)
        # idle capacity: the offer curve supply * (p / floor) ** (1 / k) meets demand;
        # where every buyer still wants its whole need, that is floor * utilisation ** k
        price = floor_price * (need.sum() / supply_h100e) ** idle_exponent
        if price <= ref[need > 0].min():
            util = need.sum() / supply_h100e
            return RentalClearing(float(price), need.copy(), wanted, float(util), False)
        hi = _bisect(
            0.0,
            floor_price,
            lambda p: supply_h100e * (p / floor_price) ** (1.0 / idle_exponent),
            need,
            ref,
            eps,
            tol,
        )
        served = _demand(hi, need, ref, eps)
        return RentalClearing(hi, served, wanted, float(served.sum() / supply_h100e), False)
    d_ceiling = _demand(ceiling_price, need, ref, eps)
    if d_ceiling.sum() >= supply_h100e:
        share = supply_h100e / d_ceiling.sum() if d_ceiling.sum() > 0 else 0.0
        served = d_ceiling * share
        util = 1.0 if supply_h100e > 0 else 0.0
        return RentalClearing(ceiling_price, served, wanted, util, True)
    hi = _bisect(floor_price, ceiling_price, lambda p: supply_h100e, need, ref, eps, tol)
    served = _demand(hi, need, ref, eps)
    return RentalClearing(hi, served, wanted, float(served.sum() / supply_h100e), False)


HOURS_PER_YEAR = 8760.0


def capacity_cost(
    capex_per_h100e: float,
    kw_per_h100e: float,
    system_cost_multiple: float,
    recovery_years: float,
    opex_usd_per_kw_hour: float,
) -> float:
    """What one H100e-hour of new rental capacity costs, USD (the cost-based rental floor).

    The GPUs' price per H100e, scaled to the whole system (servers, network,
    data-centre fit-out) by ``system_cost_multiple``, recovered over
    ``recovery_years`` of hours, plus running costs per kW of the GPUs' power.

    Args:
        capex_per_h100e: GPU price per H100e of the capacity bought, USD.
        kw_per_h100e: GPU power per H100e, kW.
        system_cost_multiple: System capex per USD of GPU.
        recovery_years: Years of hours over which the capex is recovered
            (depreciation life shortened for utilisation and the cost of capital).
        opex_usd_per_kw_hour: Power, cooling and hosting per kW of GPU power, USD/h.

    Returns:
        USD per H100e-hour.
    """
    if capex_per_h100e < 0 or kw_per_h100e < 0 or recovery_years <= 0:
        raise ValueError("need capex, power >= 0 and recovery_years > 0")
    hours = recovery_years * HOURS_PER_YEAR
    return opex_usd_per_kw_hour * kw_per_h100e + capex_per_h100e * system_cost_multiple / hours
