"""The order book and goods in transit on their own, and the domestic-share window."""

import pytest

from abm.agents.records import Shipment
from abm.engine.model import SupplyChainModel
from abm.engine.orderbook import DomesticShare


@pytest.fixture
def model():
    return SupplyChainModel.from_scenario("baseline", seed=1, weeks=4)


def test_orders_are_booked_at_the_vendor_and_counted_per_buyer(model):
    book = model.orders
    azure, nvidia = model.firm("Microsoft Azure"), model.cast.vendor["Nvidia"]
    before = book.outstanding(azure.name)
    product = next(iter(nvidia.products))
    first = book.place(azure, nvidia, product, 100)
    second = book.place(azure, nvidia, product, 50)
    assert second.order_id == first.order_id + 1  # one model-wide sequence
    assert first in azure.open_orders and second in azure.open_orders
    assert book.outstanding(azure.name) == before + 150
    book.reduced(azure.name, 30)
    assert book.outstanding(azure.name) == before + 120
    assert book.outstanding("nobody") == 0


def test_shipments_wait_in_transit_until_their_week(model):
    book = model.orders
    already = list(book.in_transit)
    h100e = model.products["H100"].h100e
    a = Shipment("Nvidia", "Meta", "H100", 10, 0, 3, 0, 30000.0)
    b = Shipment("Nvidia", "Meta", "H100", 5, 0, 5, 0, 30000.0)
    c = Shipment("Nvidia", "Tencent", "H100", 7, 0, 3, 0, 30000.0)
    for s in (a, b, c):
        book.dispatch(s)
    assert book.in_transit_to("Meta")[-2:] == [a, b]
    assert book.in_transit_h100e("Tencent") == pytest.approx(
        7 * h100e
        + sum(s.units * model.products[s.product].h100e for s in already if s.buyer == "Tencent")
    )
    due = [s for s in book.arrivals(3) if s in (a, b, c)]
    assert due == [a, c]  # dispatch order
    assert b in book.in_transit_to("Meta") and a not in book.in_transit_to("Meta")
    assert book.units_in_transit() == sum(s.units for s in book.in_transit)
    assert b in book.arrivals(5)
    assert book.in_transit_to("Meta") == [
        s for s in already if s.buyer == "Meta" and s.arrival_step > 5
    ]


def test_domestic_share_counts_one_year_of_deliveries():
    share = DomesticShare("CN", window_weeks=52)
    share.delivered(0, 30, "CN")
    share.delivered(0, 70, "US")
    share.update(0)
    assert share.share == pytest.approx(0.3)
    share.delivered(10, 100, "CN")
    share.update(10)
    assert share.share == pytest.approx(130 / 200)
    share.update(52)  # week 0 falls out of the window
    assert share.share == pytest.approx(1.0)
