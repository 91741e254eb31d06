"""The event log: one row per order, shipment, allocation, rationing decision, exit...

Every event type is declared once, in :data:`EVENTS`: what it means, how much
it matters to a reader (its :data:`Severity`, which the page's feed filters
and colours by) and its wording, the plain sentence the feed and the inspector
show. The log refuses a type the registry does not declare.

Rows are buffered as tuples (cheap to append in the step loop), moved into
column lists in batches, and turned into an Arrow table once, when the run's
files are written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

import pyarrow as pa

EVENT_COLUMNS = (
    "step",
    "agent",
    "family",
    "region",
    "event",
    "counterparty",
    "product",
    "quantity",
    "price_usd",
    "rule",
    "detail",
)
"""Columns buffered per event; ``run_id`` and ``date`` are added when written."""

Severity = Literal["routine", "info", "good", "bad", "rule"]
"""How much an event matters to a reader; the page's feed filters and colours by it.

``routine``: too many to list one by one (orders, shipments, allocations...), shown
in the inspector only; the others are *notable*, listed in the feed: ``info``
(neither good nor bad news: a variant, a diversion), ``good`` (a shortage eases),
``bad`` (a firm is harmed: rationing, a delay, an exit, a shock, a seizure) and
``rule`` (a control decision: a rule, a denial, a licence).
"""

SEVERITIES: tuple[Severity, ...] = get_args(Severity)
"""Every severity, routine first."""


class EventRow(NamedTuple):
    """The fields of an event row that its wording reads."""

    agent: str
    counterparty: str
    product: str
    quantity: float
    price_usd: float
    rule: str
    detail: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> EventRow:
        """The fields of a row keyed by :data:`EVENT_COLUMNS` (missing: empty or 0)."""
        return cls(
            row.get("agent", ""),
            row.get("counterparty", ""),
            row.get("product", ""),
            float(row.get("quantity", 0.0) or 0.0),
            float(row.get("price_usd", 0.0) or 0.0),
            row.get("rule", ""),
            row.get("detail", ""),
        )


Wording = str | Callable[[EventRow], str]
"""A :meth:`str.format` template over :class:`EventRow`'s fields, or a function of the row."""


@dataclass(frozen=True, slots=True)
class EventType:
    """One type of event: what it means, how much it matters and how it reads.

    Attributes:
        name: The value of the ``event`` column.
        meaning: What a row of this type records and what its fields hold.
        severity: How much it matters to a reader (see :data:`Severity`).
        wording: The plain sentence of a row: a template over the fields of
            :class:`EventRow` (numbers formatted in the template, e.g.
            ``{quantity:,.0f}``) or a function of the row, for sentences with
            optional parts.
        supply: True when the row tells what its counterparty was given or
            refused (the inspector lists it among that firm's supply).
    """

    name: str
    meaning: str
    severity: Severity
    wording: Wording
    supply: bool = False

    @property
    def notable(self) -> bool:
        """Whether the page's feed lists it (every severity but ``routine``)."""
        return self.severity != "routine"

    def describe(self, row: EventRow) -> str:
        """The row as a plain sentence."""
        if isinstance(self.wording, str):
            return self.wording.format_map(row._asdict())
        return self.wording(row)


def _allocation(r: EventRow) -> str:
    if r.detail:
        return f"{r.agent} allocates {r.product} to {r.counterparty}: {r.detail}"
    return f"{r.agent} allocates {r.product}"


def _retirement(r: EventRow) -> str:
    return f"{r.agent} retires {r.quantity:,.0f} {r.product}" + (
        f" ({r.detail})" if r.detail else ""
    )


def _licence_decision(r: EventRow) -> str:
    verdict = "grants" if "grant" in r.detail else "refuses"
    return f"{r.agent} {verdict} a licence for {r.product} to {r.counterparty} under {r.rule}"


def _variant_designed(r: EventRow) -> str:
    return f"{r.agent} designs {r.product}, a compliant variant" + (
        f" ({r.detail})" if r.detail else ""
    )


def _variant_launched(r: EventRow) -> str:
    return f"{r.agent} launches the compliant variant {r.product}" + (
        f" at ${r.price_usd:,.0f}" if r.price_usd else ""
    )


def _variant_infeasible(r: EventRow) -> str:
    if r.detail:
        return f"{r.agent}: {r.detail}"
    return f"{r.agent} cannot design a compliant {r.product}"


def _diversion(r: EventRow) -> str:
    return f"{r.agent} diverts {r.quantity:,.0f} {r.product} to {r.counterparty}" + (
        f" at ${r.price_usd:,.0f} each" if r.price_usd else ""
    )


def _registry(*types: EventType) -> Mapping[str, EventType]:
    out: dict[str, EventType] = {}
    for t in types:
        if t.name in out:
            raise ValueError(f"event type {t.name!r} is declared twice")
        out[t.name] = t
    return MappingProxyType(out)


EVENTS: Mapping[str, EventType] = _registry(
    EventType(
        "order",
        "a buyer orders units from a vendor (quantity: units; price: quoted unit price)",
        "routine",
        "{agent} orders {quantity:,.0f} {product} from {counterparty}",
    ),
    EventType(
        "cancellation",
        "a buyer cancels outstanding units of an order",
        "routine",
        "{agent} cancels {quantity:,.0f} {product} ordered from {counterparty}",
    ),
    EventType(
        "order_moved",
        "a buyer moves an unshipped order of a product past its end of sale to the "
        "vendor's best buy for it (quantity: new units; detail: the units moved)",
        "routine",
        "{agent} moves an order to {quantity:,.0f} {product} at {counterparty}",
    ),
    EventType(
        "production",
        "a vendor receives packaged GPUs (quantity: units; counterparty: packager)",
        "routine",
        "{agent} receives {quantity:,.0f} packaged {product} from {counterparty}",
    ),
    EventType(
        "allocation",
        "a vendor shares out finished units: what a buyer asked for (outstanding and "
        "due), was given (scheduled orders may ship early from stock left over, by "
        "shares) and has on order for later dates, and the binding constraint when "
        "short with the firm behind it, e.g. "
        "'hbm (SK Hynix)': wafer, packaging, hbm (that supplier was full), licence (a rule "
        "cut the input), planning (no supplier was full), inventory; 'none' when served in "
        "full; control denials are 'denial' events",
        "routine",
        _allocation,
        supply=True,
    ),
    EventType(
        "shipment",
        "a vendor ships units to a buyer (price: unit price)",
        "routine",
        "{agent} ships {quantity:,.0f} {product} to {counterparty}",
    ),
    EventType(
        "delivery",
        "units arrive at the buyer and are installed",
        "routine",
        "{agent} receives {quantity:,.0f} {product} from {counterparty}",
    ),
    EventType(
        "retirement",
        "installed units reach the end of their service life (or the owner exits)",
        "routine",
        _retirement,
    ),
    EventType(
        "rationing_start",
        "a lab pauses paid sign-ups and rate-limits its API",
        "bad",
        "{agent} pauses paid sign-ups and rate-limits its API ({detail})",
    ),
    EventType(
        "rationing_stop",
        "a lab resumes sign-ups",
        "good",
        "{agent} resumes paid sign-ups ({detail})",
    ),
    EventType(
        "training_delay_start",
        "a lab's training gets under 90% of its plan",
        "bad",
        "{agent} delays training: {detail}",
    ),
    EventType(
        "training_delay_stop",
        "a lab's training is back above 90% of its plan",
        "routine",
        "{agent}'s training is back on plan: {detail}",
    ),
    EventType(
        "capacity_commissioned",
        "a supplier commissions capacity (quantity: per week)",
        "routine",
        "{agent} commissions {quantity:,.0f}/week of capacity ({detail})",
    ),
    EventType(
        "capacity_online",
        "commissioned capacity comes online",
        "routine",
        "{agent} brings {quantity:,.0f}/week of capacity online ({detail})",
    ),
    EventType(
        "uncertainty_draw",
        "at step 0, what this seed drew for a declared uncertainty (detail: the field and "
        "the draw; quantity: the value) or a disruption's occurrence (counterparty: the "
        "target; quantity: the capacity multiplier)",
        "info",
        "{agent} draws {detail}",
    ),
    EventType(
        "capacity_shock",
        "a shock changes a supplier's usable capacity (quantity: multiplier)",
        "bad",
        "{agent} is hit by a capacity shock: {detail}",
    ),
    EventType(
        "exit",
        "a firm exits (quantity: cash, USD)",
        "bad",
        "{agent} exits the market ({detail})",
    ),
    EventType(
        "denial",
        "a vendor cancels a buyer's orders because a rule (or a refused licence) denies "
        "them (rule: the rule id; quantity: units)",
        "rule",
        "{agent} cancels {quantity:,.0f} {product} ordered by {counterparty}: "
        "denied by rule {rule}",
        supply=True,
    ),
    EventType(
        "wafer_denial",
        "a foundry refuses a customer's wafer starts because a foundry rule denies them "
        "(agent: the foundry; counterparty: the designer or front; quantity: wafers; "
        "rule: the rule id)",
        "rule",
        "{agent} refuses {quantity:,.0f} wafers of {product} for {counterparty}: "
        "denied by rule {rule}",
        supply=True,
    ),
    EventType(
        "front_delivery",
        "a front company hands dies made for it at a controlled foundry to the listed "
        "designer (quantity: good dies)",
        "info",
        "{agent} passes {quantity:,.0f} {product} dies made at a controlled foundry to "
        "{counterparty}",
        supply=True,
    ),
    EventType(
        "front_detected",
        "a front company is found out: the foundry stops its work and it shuts down "
        "(quantity: wafers dropped; detail: dies passed on over its life)",
        "bad",
        "{agent}, a front for {counterparty}, is detected and shut down ({detail})",
    ),
    EventType(
        "licence_application",
        "a government receives a licence application (rule, buyer, product)",
        "routine",
        "{agent} receives a licence application for {product} to {counterparty} under {rule}",
    ),
    EventType(
        "licence_decision",
        "a government grants or refuses a licence (detail: granted/refused)",
        "rule",
        _licence_decision,
        supply=True,
    ),
    EventType(
        "policy_announced",
        "a government announces a rule that takes effect later",
        "rule",
        "{agent} announces rule {rule} ({detail})",
    ),
    EventType(
        "policy_activation",
        "a rule takes effect",
        "rule",
        "Rule {rule} takes effect: {detail}",
    ),
    EventType(
        "policy_end",
        "a rule ends (rescinded or expired)",
        "rule",
        "Rule {rule} ends",
    ),
    EventType(
        "policy_reaction",
        "a government issues a new rule in reaction to the market",
        "rule",
        "{agent} reacts with a new rule {rule}: {detail}",
    ),
    EventType(
        "variant_designed",
        "a vendor designs a compliant variant for a restricted market",
        "info",
        _variant_designed,
    ),
    EventType(
        "variant_launched",
        "a compliant variant goes on sale",
        "info",
        _variant_launched,
    ),
    EventType(
        "variant_infeasible",
        "no variant of the vendor's flagship escapes the rules for a market",
        "info",
        _variant_infeasible,
    ),
    EventType(
        "diversion",
        "a broker ships controlled units to a blocked buyer (price: with premium)",
        "info",
        _diversion,
        supply=True,
    ),
    EventType(
        "seizure",
        "diverted units are caught and seized",
        "bad",
        "Customs seize {quantity:,.0f} {product} that {agent} was diverting to {counterparty}",
        supply=True,
    ),
    EventType(
        "price_move",
        "a vendor's price moved 10% or more since its last logged price (price: new)",
        "routine",
        "{agent} moves the price of {product} to ${price_usd:,.0f}",
    ),
)
"""Every event type the model writes, by name: the one registry of the log, the page and docs."""

EVENT_NAMES: frozenset[str] = frozenset(EVENTS)
"""The names :meth:`EventLog.append` accepts."""

NOTABLE_EVENTS: frozenset[str] = frozenset(n for n, t in EVENTS.items() if t.notable)
"""Event types the page's feed lists (orders, shipments and the like are too many)."""

SUPPLY_EVENTS: frozenset[str] = frozenset(n for n, t in EVENTS.items() if t.supply)
"""Event types that tell what the counterparty was given or refused."""

EVENT_TYPES: Mapping[str, str] = MappingProxyType({n: t.meaning for n, t in EVENTS.items()})
"""Every event type's meaning, by name (a view of :data:`EVENTS`)."""


class UnknownEventError(ValueError):
    """An event type that :data:`EVENTS` does not declare."""

    def __init__(self, event: str) -> None:
        super().__init__(
            f"unknown event type {event!r}: declare it in EVENTS (abm/engine/events.py) "
            f"with its meaning, severity and wording; known types: {', '.join(sorted(EVENTS))}"
        )
        self.event = event


def describe(row: Mapping[str, Any]) -> str:
    """One event row (keys of :data:`EVENT_COLUMNS`) as a plain sentence.

    A type the registry does not know (a row from elsewhere) reads as its fields
    joined by spaces.
    """
    ev = row.get("event", "")
    t = EVENTS.get(ev)
    r = EventRow.of(row)
    if t is not None:
        return t.describe(r)
    parts = (r.agent, str(ev).replace("_", " "), r.counterparty, r.product, r.detail)
    return " ".join(str(x) for x in parts if x)


def catalogue_markdown() -> str:
    """The table of event types for the docs (name, severity, meaning)."""
    lines = ["| event | severity | meaning |", "|---|---|---|"]
    for t in EVENTS.values():
        lines.append(f"| `{t.name}` | {t.severity} | {t.meaning} |")
    return "\n".join(lines) + "\n"


class EventLog:
    """Event rows of one run, appended as tuples and moved into column lists in batches.

    Appending one tuple per event is the cheapest thing to do in the step loop;
    :attr:`columns` moves the rows appended since the last look into the column
    lists (so a reader that looks every step pays only for the new rows).

    Args:
        enabled: With False, rows are not kept (to measure what logging costs).
    """

    def __init__(self, enabled: bool = True) -> None:
        self._columns: dict[str, list] = {c: [] for c in EVENT_COLUMNS}
        self._pending: list[tuple] = []
        self.step = 0
        self.enabled = enabled

    def append(
        self,
        agent: str,
        family: str,
        region: str,
        event: str,
        counterparty: str,
        product: str,
        quantity: float,
        price_usd: float,
        rule: str,
        detail: str,
    ) -> None:
        """Add one row at the current step.

        Raises:
            UnknownEventError: When :data:`EVENTS` does not declare ``event``
                (checked whether or not rows are kept).
        """
        if event not in EVENT_NAMES:
            raise UnknownEventError(event)
        if not self.enabled:
            return
        self._pending.append(
            (
                self.step,
                agent,
                family,
                region,
                event,
                counterparty,
                product,
                float(quantity),
                float(price_usd),
                rule,
                detail,
            )
        )

    @property
    def columns(self) -> dict[str, list]:
        """The rows as one list per column of :data:`EVENT_COLUMNS`."""
        if self._pending:
            by_column = zip(*self._pending, strict=True)
            for col, values in zip(self._columns.values(), by_column, strict=True):
                col.extend(values)
            self._pending.clear()
        return self._columns

    def __len__(self) -> int:
        return len(self._columns["step"]) + len(self._pending)

    def to_arrow(self) -> pa.Table:
        """All rows as an Arrow table."""
        c = self.columns
        return pa.table(
            {
                "step": pa.array(c["step"], pa.int32()),
                **{k: pa.array(c[k], pa.string()) for k in EVENT_COLUMNS[1:7]},
                "quantity": pa.array(c["quantity"], pa.float64()),
                "price_usd": pa.array(c["price_usd"], pa.float64()),
                "rule": pa.array(c["rule"], pa.string()),
                "detail": pa.array(c["detail"], pa.string()),
            }
        )
