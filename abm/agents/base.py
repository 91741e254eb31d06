"""The base of every agent: a named firm on a node of the supply graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesa.discrete_space import CellAgent

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel


class Firm(CellAgent):
    """A Mesa agent with a name, a family, a jurisdiction and a region.

    Attributes:
        name: Unique agent name (e.g. ``TSMC CoWoS``).
        family: Agent family (``foundry``, ``packager``, ``memory``,
            ``vendor``, ``cloud``, ``lab``, ``enterprise``).
        country: Jurisdiction (ISO code), used by the shipment check.
        region: ``US``, ``CN`` or ``ROW``; compute and demand are summed by it.
        active: False once the firm has exited.
    """

    family: str = "firm"
    model: SupplyChainModel

    def __init__(self, model: SupplyChainModel, name: str, country: str, region: str) -> None:
        super().__init__(model)
        self.name = name
        self.country = country
        self.region = region
        self.active = True

    def log(
        self,
        event: str,
        counterparty: str = "",
        product: str = "",
        quantity: float = 0.0,
        price_usd: float = 0.0,
        rule: str = "",
        detail: str = "",
    ) -> None:
        """Append one row to the model's event log."""
        self.model.events.append(
            self.name,
            self.family,
            self.region,
            event,
            counterparty,
            product,
            quantity,
            price_usd,
            rule,
            detail,
        )

    def state(self) -> dict[str, float]:
        """Per-step state recorded in ``agents.parquet`` (columns not given are empty)."""
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
