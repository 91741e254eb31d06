"""Typed records that move between agents: orders and shipments.

Sign conventions: quantities are non-negative integer GPU units (or input
units: wafers, HBM stacks, packages); ``outstanding`` only ever decreases.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Order:
    """A buyer's order for units of one product at one vendor.

    Attributes:
        order_id: Model-wide sequence number (FIFO order).
        buyer: Name of the ordering agent.
        vendor: Name of the vendor.
        product: Product name.
        quantity: Units ordered.
        outstanding: Units not yet shipped (or cancelled).
        step: Step at which it was placed.
        priority: Contract priority of the buyer (higher is served first).
        due: Step by which the buyer wants it shipped. Buyers plan their fleets
            months ahead and schedule the units they need later for later
            delivery; the vendor serves orders that are due first and quotes its
            lead time from them (an order placed for a later date does not make a
            new order wait).
    """

    order_id: int
    buyer: str
    vendor: str
    product: str
    quantity: int
    outstanding: int
    step: int
    priority: int
    due: int


@dataclass(slots=True)
class Shipment:
    """Units on their way from a vendor to a buyer.

    Attributes:
        vendor: Shipping vendor.
        buyer: Receiving agent.
        product: Product name.
        units: Units shipped.
        shipped_step: Step the shipment left the vendor.
        arrival_step: Step it is delivered and installed.
        order_step: Step the (oldest) order it serves was placed.
        price_usd: Unit price charged.
    """

    vendor: str
    buyer: str
    product: str
    units: int
    shipped_step: int
    arrival_step: int
    order_step: int
    price_usd: float
