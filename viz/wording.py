"""Events of the model's log in plain words, for the event feed and the inspector.

The wording, the severity and the meaning of every event type are declared
once, in the registry :data:`abm.engine.events.EVENTS`; this module is the
page's view of it.
"""

from __future__ import annotations

from abm.engine.events import EVENTS, NOTABLE_EVENTS, describe

__all__ = ["NOTABLE", "SEVERITY", "describe"]

NOTABLE: frozenset[str] = NOTABLE_EVENTS
"""Event types shown in the feed (orders, shipments and the like are too many)."""

SEVERITY: dict[str, str] = {n: EVENTS[n].severity for n in EVENTS if n in NOTABLE}
"""Feed styling class per notable type (``abm-ev-<severity>``)."""
