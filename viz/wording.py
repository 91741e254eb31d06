"""Events of the model's log in plain words, for the event feed and the inspector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOTABLE: frozenset[str] = frozenset(
    {
        "policy_announced",
        "policy_activation",
        "policy_end",
        "policy_reaction",
        "rationing_start",
        "rationing_stop",
        "training_delay_start",
        "variant_designed",
        "variant_launched",
        "variant_infeasible",
        "seizure",
        "diversion",
        "exit",
        "capacity_shock",
        "denial",
        "licence_decision",
    }
)
"""Event types shown in the feed (orders, shipments and the like are too many)."""

SEVERITY: dict[str, str] = {
    "policy_activation": "rule",
    "policy_announced": "rule",
    "policy_end": "rule",
    "policy_reaction": "rule",
    "denial": "rule",
    "licence_decision": "rule",
    "rationing_start": "bad",
    "training_delay_start": "bad",
    "exit": "bad",
    "capacity_shock": "bad",
    "seizure": "bad",
    "rationing_stop": "good",
    "variant_launched": "info",
    "variant_designed": "info",
    "variant_infeasible": "info",
    "diversion": "info",
}
"""Feed styling class per notable type."""


def _n(x: float) -> str:
    return f"{x:,.0f}"


def describe(row: Mapping[str, Any]) -> str:
    """One event row (keys of :data:`abm.engine.events.EVENT_COLUMNS`) as a plain sentence."""
    ev = row.get("event", "")
    a = row.get("agent", "")
    cp = row.get("counterparty", "")
    prod = row.get("product", "")
    q = float(row.get("quantity", 0.0) or 0.0)
    price = float(row.get("price_usd", 0.0) or 0.0)
    rule = row.get("rule", "")
    detail = row.get("detail", "")
    if ev == "policy_announced":
        return f"{a} announces rule {rule} ({detail})"
    if ev == "policy_activation":
        return f"Rule {rule} takes effect: {detail}"
    if ev == "policy_end":
        return f"Rule {rule} ends"
    if ev == "policy_reaction":
        return f"{a} reacts with a new rule {rule}: {detail}"
    if ev == "rationing_start":
        return f"{a} pauses paid sign-ups and rate-limits its API ({detail})"
    if ev == "rationing_stop":
        return f"{a} resumes paid sign-ups ({detail})"
    if ev == "training_delay_start":
        return f"{a} delays training: {detail}"
    if ev == "training_delay_stop":
        return f"{a}'s training is back on plan: {detail}"
    if ev == "variant_designed":
        return f"{a} designs {prod}, a compliant variant" + (f" ({detail})" if detail else "")
    if ev == "variant_launched":
        return f"{a} launches the compliant variant {prod}" + (f" at ${_n(price)}" if price else "")
    if ev == "variant_infeasible":
        return f"{a}: {detail}" if detail else f"{a} cannot design a compliant {prod}"
    if ev == "seizure":
        return f"Customs seize {_n(q)} {prod} that {a} was diverting to {cp}"
    if ev == "diversion":
        return f"{a} diverts {_n(q)} {prod} to {cp}" + (f" at ${_n(price)} each" if price else "")
    if ev == "exit":
        return f"{a} exits the market ({detail})"
    if ev == "capacity_shock":
        return f"{a} is hit by a capacity shock: {detail}"
    if ev == "denial":
        return f"{a} cancels {_n(q)} {prod} ordered by {cp}: denied by rule {rule}"
    if ev == "licence_decision":
        verdict = "grants" if "grant" in detail else "refuses"
        return f"{a} {verdict} a licence for {prod} to {cp} under {rule}"
    if ev == "licence_application":
        return f"{a} receives a licence application for {prod} to {cp} under {rule}"
    if ev == "order":
        return f"{a} orders {_n(q)} {prod} from {cp}"
    if ev == "cancellation":
        return f"{a} cancels {_n(q)} {prod} ordered from {cp}"
    if ev == "production":
        return f"{a} receives {_n(q)} packaged {prod} from {cp}"
    if ev == "allocation":
        return f"{a} allocates {prod} to {cp}: {detail}" if detail else f"{a} allocates {prod}"
    if ev == "shipment":
        return f"{a} ships {_n(q)} {prod} to {cp}"
    if ev == "delivery":
        return f"{a} receives {_n(q)} {prod} from {cp}"
    if ev == "retirement":
        return f"{a} retires {_n(q)} {prod}" + (f" ({detail})" if detail else "")
    if ev == "capacity_commissioned":
        return f"{a} commissions {_n(q)}/week of capacity ({detail})"
    if ev == "capacity_online":
        return f"{a} brings {_n(q)}/week of capacity online ({detail})"
    if ev == "price_move":
        return f"{a} moves the price of {prod} to ${_n(price)}"
    text = " ".join(str(x) for x in (a, ev.replace("_", " "), cp, prod, detail) if x)
    return text
