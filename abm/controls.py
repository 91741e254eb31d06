"""The shipment check: every shipment passes here before it leaves a vendor.

This is the one place where export and import controls gate trade. The
rule engine (rules as data, governments, licences) plugs in through
:class:`ShipmentCheck`; a world with no rules allows every shipment, which
is what the core model runs with until the scenario carries a rule timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from abm.products import Product

Verdict = Literal["allow", "licence_pending", "deny"]


@dataclass(frozen=True)
class Decision:
    """The outcome of checking one shipment.

    Attributes:
        verdict: ``allow``, ``licence_pending`` or ``deny``.
        rule: Id of the deciding rule (empty when no rule applies).
        delay_weeks: Extra weeks before the shipment may leave (licences).
        levy_share: Share of the sale taken by a government (revenue share
            or tariff), 0 when none.
    """

    verdict: Verdict
    rule: str = ""
    delay_weeks: int = 0
    levy_share: float = 0.0


ALLOW = Decision("allow")


class Rule(Protocol):
    """A control rule: returns a decision when it applies, else None."""

    rule_id: str

    def decide(
        self, product: Product, origin: str, destination: str, buyer: str, day: date
    ) -> Decision | None:
        """Decide on one shipment, or return None when the rule does not apply."""
        ...


def check_shipment(
    rules: list[Rule], product: Product, origin: str, destination: str, buyer: str, day: date
) -> Decision:
    """Check a shipment against every rule in force; the strictest verdict wins.

    Args:
        rules: Rules in force (any order).
        product: What is shipped.
        origin: Country code of the vendor's jurisdiction.
        destination: Country code of the buyer.
        buyer: Buyer's name (for entity lists).
        day: Shipment date.

    Returns:
        ``deny`` beats ``licence_pending`` beats ``allow``; with no applicable
        rule the shipment is allowed.
    """
    rank = {"allow": 0, "licence_pending": 1, "deny": 2}
    best = ALLOW
    for rule in rules:
        d = rule.decide(product, origin, destination, buyer, day)
        if d is not None and rank[d.verdict] > rank[best.verdict]:
            best = d
    return best
