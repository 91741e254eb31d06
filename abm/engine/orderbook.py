"""The order book and the goods in transit.

Orders are booked here (one model-wide sequence, so FIFO allocation has a
total order) and at the vendor that fills them; the book keeps each buyer's
outstanding units over all vendors. Shipments wait here between dispatch and
arrival. :class:`DomesticShare` follows which share of the units delivered to
one country came from its own vendors.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from abm.agents.products import Product
from abm.agents.records import Order, Shipment

if TYPE_CHECKING:
    from abm.agents.broker import Broker
    from abm.agents.buyer import Buyer
    from abm.agents.vendor import GPUVendor


class OrderBook:
    """Every open order's outstanding units per buyer, and every shipment on its way.

    Args:
        products: The product catalogue (shared with the model; variants join it).
        clock: Returns the current week (orders are stamped with it).
    """

    def __init__(self, products: dict[str, Product], clock: Callable[[], int]) -> None:
        self.products = products
        self._clock = clock
        self._seq = 0
        self._outstanding: dict[str, int] = defaultdict(int)  # per buyer, all vendors
        self.in_transit: list[Shipment] = []
        self._transit_by_buyer: dict[str, list[Shipment]] = defaultdict(list)

    # ----------------------------------------------------------- orders

    def place(
        self,
        buyer: Buyer | Broker,
        vendor: GPUVendor,
        product: str,
        units: int,
        due: int | None = None,
    ) -> Order:
        """A buyer orders ``units`` of ``product``: booked at the vendor, kept and logged.

        ``due`` is the step by which the buyer wants the units shipped (this
        week when None: as soon as possible).
        """
        order = self.new_order(buyer, vendor, product, units, due)
        buyer.open_orders.append(order)
        buyer.ordered_units_this_week += units
        buyer.log("order", vendor.name, product, units, vendor.price[product])
        return order

    def new_order(
        self,
        buyer: Buyer | Broker,
        vendor: GPUVendor,
        product: str,
        units: int,
        due: int | None = None,
    ) -> Order:
        """Create an order and book it at the vendor (the buyer keeps it itself)."""
        self._seq += 1
        now = self._clock()
        order = Order(
            self._seq,
            buyer.name,
            vendor.name,
            product,
            units,
            units,
            now,
            buyer.spec.priority,
            now if due is None else max(now, due),
        )
        vendor.receive_order(order)
        self._outstanding[buyer.name] += units
        return order

    def outstanding(self, buyer: str) -> int:
        """Units ``buyer`` has on order and not yet shipped or cancelled, all vendors."""
        return self._outstanding.get(buyer, 0)

    def reduced(self, buyer: str, units: int) -> None:
        """Book ``units`` of ``buyer``'s outstanding orders as shipped or cancelled."""
        self._outstanding[buyer] -= units

    # ---------------------------------------------------------- transit

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

    def units_in_transit(self) -> int:
        """GPU units in transit to anyone."""
        return sum(s.units for s in self.in_transit)

    def arrivals(self, week: int) -> list[Shipment]:
        """Take the shipments due by ``week`` out of transit, in dispatch order."""
        arrived = [s for s in self.in_transit if s.arrival_step <= week]
        if not arrived:
            return arrived
        self.in_transit = [s for s in self.in_transit if s.arrival_step > week]
        for name in {s.buyer for s in arrived}:
            still = [s for s in self._transit_by_buyer[name] if s.arrival_step > week]
            if still:
                self._transit_by_buyer[name] = still
            else:
                del self._transit_by_buyer[name]
        return arrived


class DomesticShare:
    """The share of units delivered to one country over a year that its own vendors made.

    Args:
        country: The receiving country.
        window_weeks: How many weeks of deliveries count.

    Attributes:
        share: The latest share (0 until the first delivery).
    """

    def __init__(self, country: str, window_weeks: int = 52) -> None:
        self.country = country
        self.window = window_weeks
        self.share = 0.0
        self._deliveries: deque[tuple[int, int, int]] = deque()  # (week, domestic, all)

    def delivered(self, week: int, units: int, vendor_country: str) -> None:
        """Count a delivery to the country."""
        domestic = units if vendor_country == self.country else 0
        self._deliveries.append((week, domestic, units))

    def update(self, week: int) -> None:
        """Drop deliveries older than the window and recompute the share."""
        while self._deliveries and self._deliveries[0][0] <= week - self.window:
            self._deliveries.popleft()
        total = sum(d[2] for d in self._deliveries)
        if total:
            self.share = sum(d[1] for d in self._deliveries) / total
