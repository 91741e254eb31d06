"""Export, import and foundry controls: rules as data, and the one check.

Every shipment (a GPU from a vendor to a buyer, or HBM stacks from a memory
maker to a vendor) and every wafer start a foundry accepts for a designer
(:func:`check_wafer`, the same check on a ``wafer`` item under the rules of
``gate: foundry``) passes :func:`check_shipment`, a pure function of the
rules in force, the item, where it comes from and goes to, who buys it and
the date. It returns ``allow`` (possibly with a government levy),
``licence_pending`` (a licence must be decided first) or ``deny``, with the
id of the deciding rule. Rules compose: the strictest verdict wins; levies
of the rules that let a shipment through add up to at most 100 %.

A rule (:class:`ControlRule`, built from :class:`abm.scenario.schema.RuleSpec`)
covers a shipment when it is in force on the date, the vendor's country is
among its ``origins`` (and not ``origins_exclude``), the buyer's country is
among its ``destinations``, the buyer is on its ``end_users`` list (if it
has one), and the item matches any of its ``controlled`` clauses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal, Protocol

from abm.scenario import ItemClause, RuleSpec, Threshold

if TYPE_CHECKING:
    from abm.agents.products import Product

Verdict = Literal["allow", "licence_pending", "deny"]
RANK = {"allow": 0, "licence_pending": 1, "deny": 2}


class ShippedCounts(Protocol):
    """Units shipped this year per ``(rule id, buyer)``, as the check reads them.

    A plain mapping will do; the controls gate passes a view of its yearly counts.
    """

    def get(self, key: tuple[str, str], default: int, /) -> int:
        """Units shipped under ``key``, or ``default``."""
        ...


ITEM_ATTRIBUTES = (
    "bf16_tflops",
    "tpp",
    "performance_density",
    "memory_bandwidth_gbs",
    "interconnect_gbs",
    "hbm_stacks",
)
"""Product attributes a controlled-item clause may test."""

WAFER_ATTRIBUTES = ("node_nm",)
"""Attributes only a wafer item carries (its node's size class, nm)."""


@dataclass(frozen=True)
class Item:
    """What a shipment carries, as the rules see it.

    Attributes:
        kind: ``gpu``, ``hbm`` or ``wafer``.
        name: Product name (``HBM`` for stacks; for a wafer, the product its dies are for).
        attributes: Values of :data:`ITEM_ATTRIBUTES` (GPUs and wafers) and
            :data:`WAFER_ATTRIBUTES` (wafers, when the node's size is known).
        variant: True for a compliant variant designed for a restricted market.
    """

    kind: str
    name: str
    attributes: Mapping[str, float] = field(default_factory=dict)
    variant: bool = False


HBM_ITEM = Item("hbm", "HBM")


_ITEMS: dict[int, tuple[Product, Item]] = {}


def item_of(product: Product) -> Item:
    """The rule-facing view of a catalogue product (products are immutable: kept)."""
    hit = _ITEMS.get(id(product))
    if hit is not None and hit[0] is product:
        return hit[1]
    item = _make_item(product)
    if len(_ITEMS) > 10_000:
        _ITEMS.clear()
    _ITEMS[id(product)] = (product, item)
    return item


def wafer_item(product: Product, node_nm: float | None) -> Item:
    """The rule-facing view of wafer starts for ``product``'s dies on a node of ``node_nm``.

    The wafer carries the product's attributes (a rule may control wafers of
    chips above a TPP) and the node's size (a rule may control nodes at or below
    16 nm); a node of unknown size matches no ``node_nm`` test.
    """
    attrs = {a: float(getattr(product, a)) for a in ITEM_ATTRIBUTES}
    if node_nm is not None:
        attrs["node_nm"] = float(node_nm)
    return Item("wafer", product.name, attrs, product.variant_of is not None)


def _make_item(product: Product) -> Item:
    return Item(
        "gpu",
        product.name,
        {a: float(getattr(product, a)) for a in ITEM_ATTRIBUTES},
        product.variant_of is not None,
    )


@dataclass(frozen=True)
class Decision:
    """The outcome of checking one shipment.

    Attributes:
        verdict: ``allow``, ``licence_pending`` or ``deny``.
        rule: Id of the deciding rule (empty when no rule applies).
        delay_weeks: Weeks until a pending licence is decided.
        approval_probability: Chance a pending licence is granted.
        valid_weeks: How long a granted licence lasts.
        levy_share: Share of the sale taken by governments (revenue share or
            tariff), 0 when none.
        levy_rules: Rules whose levies apply (their governments collect).
        capped_rules: Rules with quantity caps this shipment counts against.
    """

    verdict: Verdict
    rule: str = ""
    delay_weeks: int = 0
    approval_probability: float = 1.0
    valid_weeks: int = 52
    levy_share: float = 0.0
    levy_rules: tuple[str, ...] = ()
    capped_rules: tuple[str, ...] = ()


ALLOW = Decision("allow")


def _holds(value: float, t: Threshold) -> bool:
    return (
        (t.ge is None or value >= t.ge)
        and (t.gt is None or value > t.gt)
        and (t.le is None or value <= t.le)
        and (t.lt is None or value < t.lt)
    )


def clause_matches(clause: ItemClause, item: Item) -> bool:
    """Whether ``item`` meets every condition of ``clause``."""
    if clause.kind != item.kind:
        return False
    if clause.products is not None and item.name not in clause.products:
        return False
    if clause.variant is not None and clause.variant != item.variant:
        return False
    for attr in (*ITEM_ATTRIBUTES, *WAFER_ATTRIBUTES):
        t = getattr(clause, attr)
        if t is not None and (attr not in item.attributes or not _holds(item.attributes[attr], t)):
            return False
    return True


def expand(places: Iterable[str], groups: Mapping[str, list[str]]) -> frozenset[str]:
    """Country codes of a list of codes and group names (``*`` stays as is)."""
    out: set[str] = set()
    for p in places:
        out.update(groups.get(p, [p]))
    return frozenset(out)


class ControlRule:
    """A rule in executable form (built from a validated :class:`RuleSpec`)."""

    def __init__(self, spec: RuleSpec, groups: Mapping[str, list[str]] | None = None) -> None:
        groups = groups or {}
        self.spec = spec
        self.rule_id = spec.id
        self.origins = expand(spec.origins, groups)
        self.origins_exclude = expand(spec.origins_exclude, groups)
        self.destinations = expand(spec.destinations, groups)
        self.end_users = frozenset(spec.end_users)
        self._covers: dict[tuple[int, str, str, str], tuple[Item, bool]] = {}

    def in_force(self, day: date) -> bool:
        """Effective on ``day`` (and not ended)."""
        s = self.spec
        return s.effective <= day and (s.ends is None or day < s.ends)

    def announced_only(self, day: date) -> bool:
        """Expected or announced but not yet effective on ``day`` (buyers front-run).

        From ``expected`` when the rule has one, else from the announcement.
        """
        return self.spec.expected_from <= day < self.spec.effective

    def expected_only(self, day: date) -> bool:
        """Expected (or announced) but not yet effective on ``day``: inputs are stockpiled."""
        return self.announced_only(day)

    def covers_place(self, origin: str, destination: str, buyer: str = "") -> bool:
        """Whether the rule's origins, destinations and end users include this trade.

        With ``buyer`` empty, end-user lists are ignored (any listed user counts).
        """
        if "*" not in self.origins and origin not in self.origins:
            return False
        if origin in self.origins_exclude:
            return False
        if "*" not in self.destinations and destination not in self.destinations:
            return False
        return not (buyer and self.end_users and buyer not in self.end_users)

    def covers(self, item: Item, origin: str, destination: str, buyer: str) -> bool:
        """Whether the rule applies to this shipment, whatever the date.

        Rules and items do not change, so answers are kept (per item object).
        """
        key = (id(item), origin, destination, buyer)
        hit = self._covers.get(key)
        if hit is not None and hit[0] is item:
            return hit[1]
        if len(self._covers) > 100_000:
            self._covers.clear()
        found = self._covers_now(item, origin, destination, buyer)
        self._covers[key] = (item, found)
        return found

    def _covers_now(self, item: Item, origin: str, destination: str, buyer: str) -> bool:
        if self.end_users and buyer not in self.end_users:
            return False
        if not self.covers_place(origin, destination, buyer):
            return False
        return any(clause_matches(c, item) for c in self.spec.controlled)

    def decide(
        self,
        item: Item,
        origin: str,
        destination: str,
        buyer: str,
        day: date,
        shipped_units: int = 0,
    ) -> Decision | None:
        """This rule's decision on one shipment, or None when it does not apply.

        Args:
            item: What is shipped.
            origin: Country of the seller.
            destination: Country of the buyer.
            buyer: Buyer's name.
            day: Shipment date.
            shipped_units: Units already shipped to this buyer under this rule
                this calendar year (for quantity caps).
        """
        if not self.in_force(day) or not self.covers(item, origin, destination, buyer):
            return None
        s = self.spec
        cap = s.quantity_cap_units_per_buyer_year
        if cap is not None and shipped_units >= cap:
            return Decision("deny", self.rule_id)
        capped = (self.rule_id,) if cap is not None else ()
        levy = (self.rule_id,) if s.levy_share > 0 else ()
        lic = s.licence
        if lic.policy == "deny":
            return Decision("deny", self.rule_id)
        if lic.policy == "allow":
            return Decision(
                "allow",
                self.rule_id,
                levy_share=s.levy_share,
                levy_rules=levy,
                capped_rules=capped,
            )
        return Decision(
            "licence_pending",
            self.rule_id,
            delay_weeks=lic.delay_weeks,
            approval_probability=lic.approval_probability,
            valid_weeks=lic.valid_weeks,
            levy_share=s.levy_share,
            levy_rules=levy,
            capped_rules=capped,
        )


def check_shipment(
    rules: Iterable[ControlRule],
    item: Item,
    origin: str,
    destination: str,
    buyer: str,
    day: date,
    shipped: ShippedCounts | None = None,
) -> Decision:
    """Check a shipment against every rule; the strictest verdict wins.

    Args:
        rules: All rules of the scenario (those not in force are skipped).
        item: What is shipped (see :func:`item_of` and :data:`HBM_ITEM`).
        origin: Country code of the seller.
        destination: Country code of the buyer.
        buyer: Buyer's name (for end-user lists and caps).
        day: Shipment date.
        shipped: Units shipped this year per (rule id, buyer), for caps.

    Returns:
        ``deny`` beats ``licence_pending`` beats ``allow``; among rules with
        the same verdict the first one listed decides. Levies and caps of
        every rule that does not deny are carried on the decision. With no
        applicable rule the shipment is allowed with no levy.
    """
    shipped = shipped or {}
    decisions = []
    for r in rules:
        if not r.in_force(day):
            continue
        capped = r.spec.quantity_cap_units_per_buyer_year is not None
        count = shipped.get((r.rule_id, buyer), 0) if capped else 0
        d = r.decide(item, origin, destination, buyer, day, count)
        if d is not None:
            decisions.append(d)
    if not decisions:
        return ALLOW
    worst = max(decisions, key=lambda d: RANK[d.verdict])  # first of the strictest
    if worst.verdict == "deny":
        return worst
    levy_rules = tuple(r for d in decisions for r in d.levy_rules)
    levy = min(1.0, sum(d.levy_share for d in decisions))
    capped_rules = tuple(r for d in decisions for r in d.capped_rules)
    return Decision(
        worst.verdict,
        worst.rule,
        delay_weeks=max(d.delay_weeks for d in decisions),
        approval_probability=worst.approval_probability,
        valid_weeks=worst.valid_weeks,
        levy_share=levy,
        levy_rules=levy_rules,
        capped_rules=capped_rules,
    )


def check_wafer(
    rules: Iterable[ControlRule],
    item: Item,
    foundry_country: str,
    designer_country: str,
    designer: str,
    day: date,
) -> Decision:
    """Check wafer starts for a designer at a foundry against the foundry rules.

    The same matching as :func:`check_shipment` over the rules of ``gate:
    foundry`` only: their origins are foundries' countries (the jurisdiction
    whose law binds the foundry, e.g. TW under the US foreign direct product
    rule), destinations the designers' countries and end users designers.

    Args:
        rules: All rules of the scenario (only foundry rules in force count).
        item: The wafer item (:func:`wafer_item`).
        foundry_country: Country code of the foundry.
        designer_country: Country code of the customer placing the wafer starts.
        designer: The customer's name (a vendor, or a front in its own name).
        day: The date of the request.

    Returns:
        ``deny`` (with the rule) when a rule in force refuses the wafers,
        ``licence_pending`` for a case-by-case rule, else ``allow``.
    """
    foundry_rules = [r for r in rules if r.spec.gate == "foundry"]
    return check_shipment(foundry_rules, item, foundry_country, designer_country, designer, day)


BREAK_ORDER = (
    "interconnect_gbs",
    "memory_bandwidth_gbs",
    "performance_density",
    "tpp",
    "bf16_tflops",
    "hbm_stacks",
)
"""Attributes a vendor cuts to escape a clause, cheapest first: I/O and memory
bandwidth cost no compute; TPP, performance density and TFLOPS do."""

COMPUTE_ATTRIBUTES = ("tpp", "performance_density", "bf16_tflops")


def design_variant(
    product: Product,
    rules: Iterable[ControlRule],
    origin: str,
    destination: str,
    margin: float = 0.97,
    max_rounds: int = 12,
) -> dict[str, float] | None:
    """Attributes of a compliant variant of ``product`` for one destination.

    Repeatedly finds a clause of a rule covering (origin, destination) that
    the variant still matches, and cuts the cheapest attribute that clause
    bounds from below to ``margin`` times its threshold (compute attributes
    scale together: TPP, performance density and TFLOPS). A clause that only
    names products the variant is not, or that catches every variant, cannot
    be escaped.

    Args:
        product: The product to cut down.
        rules: Rules in force or announced.
        origin: The vendor's country.
        destination: The restricted market.
        margin: How far under a threshold to land.
        max_rounds: Give up after this many cuts.

    Returns:
        The variant's attributes (:data:`ITEM_ATTRIBUTES`), or None when no
        variant escapes every rule.
    """
    attrs = {a: float(getattr(product, a)) for a in ITEM_ATTRIBUTES}
    rules = [r for r in rules if not r.end_users and r.covers_place(origin, destination)]
    for _ in range(max_rounds):
        item = Item("gpu", f"{product.name}-variant", attrs, variant=True)
        hit = next((c for r in rules for c in r.spec.controlled if clause_matches(c, item)), None)
        if hit is None:
            return attrs
        for attr in BREAK_ORDER:
            t = getattr(hit, attr)
            bound = None if t is None else (t.ge if t.ge is not None else t.gt)
            if bound is None or bound <= 0:
                continue
            new = bound * margin
            if attr in COMPUTE_ATTRIBUTES:
                ratio = new / attrs[attr]
                for a in COMPUTE_ATTRIBUTES:
                    attrs[a] *= ratio
            else:
                attrs[attr] = new
            break
        else:
            return None
    return None
