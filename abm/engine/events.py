"""The event log: one row per order, shipment, allocation, rationing decision, exit...

Rows are buffered as tuples (cheap to append in the step loop), moved into
column lists in batches, and turned into an Arrow table once, when the run's
files are written.
"""

from __future__ import annotations

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

EVENT_TYPES = {
    "order": "a buyer orders units from a vendor (quantity: units; price: quoted unit price)",
    "cancellation": "a buyer cancels outstanding units of an order",
    "production": "a vendor receives packaged GPUs (quantity: units; counterparty: packager)",
    "allocation": "a vendor shares out finished units: what a buyer asked for (outstanding) and "
    "was given, and the binding constraint when short (wafer, packaging, hbm, inventory; "
    "'none' when served in full; control denials are 'denial' events)",
    "shipment": "a vendor ships units to a buyer (price: unit price)",
    "delivery": "units arrive at the buyer and are installed",
    "retirement": "installed units reach the end of their service life (or the owner exits)",
    "rationing_start": "a lab pauses paid sign-ups and rate-limits its API",
    "rationing_stop": "a lab resumes sign-ups",
    "training_delay_start": "a lab's training gets under 90% of its plan",
    "training_delay_stop": "a lab's training is back above 90% of its plan",
    "capacity_commissioned": "a supplier commissions capacity (quantity: per week)",
    "capacity_online": "commissioned capacity comes online",
    "capacity_shock": "a shock changes a supplier's usable capacity (quantity: multiplier)",
    "exit": "a firm exits (quantity: cash, USD)",
    "denial": "a vendor cancels a buyer's orders because a rule (or a refused licence) denies "
    "them (rule: the rule id; quantity: units)",
    "licence_application": "a government receives a licence application (rule, buyer, product)",
    "licence_decision": "a government grants or refuses a licence (detail: granted/refused)",
    "policy_announced": "a government announces a rule that takes effect later",
    "policy_activation": "a rule takes effect",
    "policy_end": "a rule ends (rescinded or expired)",
    "policy_reaction": "a government issues a new rule in reaction to the market",
    "variant_designed": "a vendor designs a compliant variant for a restricted market",
    "variant_launched": "a compliant variant goes on sale",
    "variant_infeasible": "no variant of the vendor's flagship escapes the rules for a market",
    "diversion": "a broker ships controlled units to a blocked buyer (price: with premium)",
    "seizure": "diverted units are caught and seized",
    "price_move": "a vendor's price moved 10% or more since its last logged price (price: new)",
}
"""Every event type the model writes, with its meaning."""


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
        """Add one row at the current step."""
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
