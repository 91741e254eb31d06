"""The controls gate: what every shipment, licence and front-running question goes through.

The rules are data (:class:`~abm.controls.rules.ControlRule`) and the check is a
pure function (:func:`~abm.controls.rules.check_shipment`); the gate holds the
state around them for one run:

* the rules (those of the scenario and those governments issue during the run);
* what caps and licences have counted (units shipped per rule, buyer and year;
  units denied and licensed this week);
* the day's caches, refreshed when the date or the set of rules changes: the
  rules in force (whether any caps quantities, the end users they name), the
  rules announced and not yet in force, shipment decisions, front-running
  answers and the buyers' "would this be refused?" answers.

The caches only avoid recomputation: every answer equals the one the pure
check gives for the same day, rules and counts (``tests/controls/test_gate.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from abm.controls.rules import (
    HBM_ITEM,
    ControlRule,
    Decision,
    Item,
    check_shipment,
    check_wafer,
    item_of,
    wafer_item,
)

if TYPE_CHECKING:
    from abm.agents.government import Government
    from abm.agents.products import Product


class _CapView:
    """Units shipped this year per (rule, buyer), as the check function reads them."""

    def __init__(self, counts: dict[tuple[int, str, str], int], year: int) -> None:
        self.counts = counts
        self.year = year

    def get(self, key: tuple[str, str], default: int = 0) -> int:
        """Units shipped under ``key = (rule, buyer)`` this year."""
        return self.counts.get((self.year, *key), default)


class ControlsGate:
    """The rules of one run, what they have counted, and the day's cached answers.

    Args:
        rules: The scenario's rules, in scenario order.
        authority: Looks a rule's government up by name (licences and levies go to it).
        today: The first day of the run.

    Attributes:
        rules: Every rule, in the order it was added (in force or not).
        date: The day the answers are for (the model sets it each week).
        capped_shipped: Units shipped per (year, rule, buyer) under quantity caps.
        denied_this_week: Units refused per rule this week.
        wafers_denied: Wafer starts refused per rule over the run.
        licensed_this_week: Units shipped under a case-by-case licence per rule this week.
    """

    def __init__(
        self,
        rules: list[ControlRule],
        authority: Callable[[str], Government],
        today: date,
    ) -> None:
        self.rules = list(rules)
        self.date = today
        self._authority = authority
        self._rule_by_id = {r.rule_id: r for r in self.rules}
        self.capped_shipped: dict[tuple[int, str, str], int] = defaultdict(int)
        self.denied_this_week: dict[str, int] = defaultdict(int)
        self.licensed_this_week: dict[str, int] = defaultdict(int)
        self.wafers_denied: dict[str, float] = defaultdict(float)
        self._wafer_items: dict[tuple[int, float | None], tuple[Product, Item]] = {}
        self._day: tuple[date, int, list[ControlRule]] | None = None
        self._caps_today = False
        self._announced_today: list[ControlRule] = []
        self._end_users_today: frozenset[str] = frozenset()
        self._checks_today: dict[tuple[int, str, str, str], tuple[Item, Decision]] = {}
        self._front_run_today: dict[tuple[str, str, str, str], bool] = {}
        self._deny_today: dict[tuple[str, str, str], bool] = {}

    def new_week(self, today: date) -> None:
        """Start a week: the date the answers are for; the weekly counts start at zero."""
        self.date = today
        self.denied_this_week.clear()
        self.licensed_this_week.clear()

    def add_rule(self, rule: ControlRule) -> None:
        """Add a rule issued during the run (a government reaction)."""
        self.rules.append(rule)
        self._rule_by_id[rule.rule_id] = rule

    def rule(self, rule_id: str) -> ControlRule:
        """The rule with this id."""
        return self._rule_by_id[rule_id]

    def in_force(self) -> list[ControlRule]:
        """The rules in force today, in the order they were added."""
        return self._refresh()[2]

    def _refresh(self) -> tuple[date, int, list[ControlRule]]:
        """Refresh what depends on today's rules when the date or the rules change."""
        key = self._day
        if key is None or key[0] != self.date or key[1] != len(self.rules):
            today = [r for r in self.rules if r.in_force(self.date)]
            if key is None or key[0] != self.date:
                self._deny_today = {}
            self._day = key = (self.date, len(self.rules), today)
            self._caps_today = any(
                r.spec.quantity_cap_units_per_buyer_year is not None for r in today
            )
            self._end_users_today = frozenset(u for r in today for u in r.end_users)
            self._checks_today = {}
            self._announced_today = [r for r in self.rules if r.announced_only(self.date)]
            self._front_run_today = {}
        return key

    def check(self, item: Item, origin: str, destination: str, buyer: str) -> Decision:
        """The pure shipment check under today's rules and this year's capped counts."""
        rules = self.in_force()
        shipped = _CapView(self.capped_shipped, self.date.year)
        if self._caps_today:  # caps count each buyer's shipments as they go: no reuse
            return check_shipment(rules, item, origin, destination, buyer, self.date, shipped)
        # Without caps the buyer matters only through end-user lists: a buyer no rule
        # in force names gets the same decision as any other, so decisions are reused
        # for the day (the many buyers of a synthetic world share a handful). Items are
        # immutable and kept per product (item_of), so their identity is a safe key.
        who = buyer if buyer in self._end_users_today else ""
        key = (id(item), origin, destination, who)
        hit = self._checks_today.get(key)
        if hit is not None and hit[0] is item:
            return hit[1]
        d = check_shipment(rules, item, origin, destination, who, self.date, shipped)
        self._checks_today[key] = (item, d)
        return d

    def clearance(self, item: Item, origin: str, country: str, buyer: str) -> Decision:
        """This week's verdict for a shipment, licences included.

        A ``licence_pending`` decision goes to the rule's government, which
        files or decides the application (see :meth:`Government.licence_verdict`).
        """
        d = self.check(item, origin, country, buyer)
        if d.verdict == "licence_pending":
            gov = self._authority(self.rule(d.rule).spec.authority)
            d = gov.licence_verdict(d, buyer, item.name)
        return d

    def would_deny(self, product: Product, origin: str, country: str, buyer: str) -> bool:
        """Whether a buyer can tell a product will be refused, without applying.

        True when a rule in force denies it, or its licence was refused. The
        first answer of the day is kept for the day (buyers ask about the same
        product often; a licence decided later that day counts from the next).
        """
        self._refresh()
        key = (product.name, origin, buyer)
        hit = self._deny_today.get(key)
        if hit is None:
            hit = self._deny_today[key] = self._would_deny(product, origin, country, buyer)
        return hit

    def _would_deny(self, product: Product, origin: str, country: str, buyer: str) -> bool:
        d = self.check(item_of(product), origin, country, buyer)
        if d.verdict == "deny":
            return True
        if d.verdict == "licence_pending":
            gov = self._authority(self.rule(d.rule).spec.authority)
            lic = gov.licences.get((d.rule, buyer, product.name))
            return bool(lic and lic.decided and not lic.granted)
        return False

    def announced_covers(self, product: Product, origin: str, country: str, buyer: str) -> bool:
        """Whether a rule announced but not yet in force will cover this purchase."""
        self._refresh()
        if not self._announced_today:  # most days no rule is announced and not yet in force
            return False
        ask = (product.name, origin, country, buyer)
        hit = self._front_run_today.get(ask)
        if hit is None:
            item = item_of(product)
            hit = self._front_run_today[ask] = any(
                r.covers(item, origin, country, buyer) for r in self._announced_today
            )
        return hit

    def record_shipment(self, d: Decision, buyer: str, units: int, value_usd: float) -> None:
        """Book the caps, licensed units and levies of an allowed shipment."""
        year = self.date.year
        for rule in d.capped_rules:
            self.capped_shipped[(year, rule, buyer)] += units
        if d.rule and self.rule(d.rule).spec.licence.policy == "case_by_case":
            self.licensed_this_week[d.rule] += units
        for rule_id in d.levy_rules:
            spec = self.rule(rule_id).spec
            self._authority(spec.authority).collect(spec.levy_share * value_usd)

    def record_denial(self, rule_id: str, units: int) -> None:
        """Book units refused under a rule this week."""
        self.denied_this_week[rule_id] += units

    def hbm_allowed(self, maker_country: str, vendor_country: str, vendor: str) -> bool:
        """Whether HBM may go from a maker to a vendor (no HBM rule denies it)."""
        return self.check(HBM_ITEM, maker_country, vendor_country, vendor).verdict != "deny"

    def hbm_expected_cut(self, maker_country: str, vendor_country: str, vendor: str) -> bool:
        """Whether a rule expected or announced, not yet in force, will deny this HBM supply.

        A vendor that sees it coming stockpiles HBM (``stockpile_cover_weeks``).
        """
        return any(
            r.expected_only(self.date)
            and r.spec.licence.policy == "deny"
            and r.covers(HBM_ITEM, maker_country, vendor_country, vendor)
            for r in self.rules
        )

    def wafer_clearance(
        self,
        product: Product,
        node_nm: float | None,
        foundry_country: str,
        designer_country: str,
        designer: str,
    ) -> Decision:
        """Today's verdict on wafer starts for ``product`` at a foundry (the pure wafer check)."""
        key = (id(product), node_nm)
        hit = self._wafer_items.get(key)
        if hit is None or hit[0] is not product:  # products are immutable: items kept
            hit = self._wafer_items[key] = (product, wafer_item(product, node_nm))
        item = hit[1]
        return check_wafer(
            self.in_force(), item, foundry_country, designer_country, designer, self.date
        )

    def record_wafer_denial(self, rule_id: str, wafers: float) -> None:
        """Book wafer starts refused under a rule."""
        self.wafers_denied[rule_id] += wafers
