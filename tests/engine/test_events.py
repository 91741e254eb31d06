"""The registry of event types: one declaration per type, shared by the log, the page and docs."""

from pathlib import Path

import pytest

from abm.engine.events import (
    EVENT_COLUMNS,
    EVENT_NAMES,
    EVENT_TYPES,
    EVENTS,
    NOTABLE_EVENTS,
    SEVERITIES,
    SUPPLY_EVENTS,
    EventLog,
    EventRow,
    UnknownEventError,
    catalogue_markdown,
    describe,
)
from abm.engine.model import SupplyChainModel


@pytest.fixture(scope="module")
def emitted() -> set[str]:
    """Event types three library scenarios write in their first 60 weeks."""
    seen: set[str] = set()
    for name in ("baseline", "taiwan_disruption", "strict_controls"):
        model = SupplyChainModel.from_scenario(name, seed=1, weeks=60)
        model.run()
        seen |= set(model.events.columns["event"])
    return seen


def test_every_emitted_event_type_is_registered(emitted):
    assert emitted <= EVENT_NAMES, sorted(emitted - EVENT_NAMES)
    # the runs reach the decisions the feed is for, not only routine flows
    assert {"order", "shipment", "allocation", "policy_activation", "denial"} <= emitted


def test_an_unknown_event_type_is_refused():
    log = EventLog()
    with pytest.raises(UnknownEventError, match="'shipmnet'.*declare it in EVENTS"):
        log.append("Nvidia", "vendor", "US", "shipmnet", "OpenAI", "H100", 1, 0.0, "", "")
    assert len(log) == 0
    with pytest.raises(UnknownEventError):  # refused even when rows are not kept
        EventLog(enabled=False).append("A", "lab", "US", "nonsense", "", "", 0, 0.0, "", "")
    log.append("Nvidia", "vendor", "US", "shipment", "OpenAI", "H100", 1, 0.0, "", "")
    assert len(log) == 1


def test_an_agent_cannot_log_an_unknown_event_type():
    model = SupplyChainModel.from_scenario("baseline", seed=1, weeks=1)
    with pytest.raises(ValueError, match="unknown event type 'made_up'"):
        model.firm("Nvidia").log("made_up")


def test_every_entry_is_complete():
    assert len(EVENTS) == len(EVENT_NAMES) == len(EVENT_TYPES)
    for name, t in EVENTS.items():
        assert t.name == name and t.meaning and t.severity in SEVERITIES, name
        assert EVENT_TYPES[name] == t.meaning
    assert {n for n, t in EVENTS.items() if t.severity != "routine"} == NOTABLE_EVENTS
    supply = {"allocation", "denial", "diversion", "seizure", "licence_decision"}
    supply |= {"wafer_denial", "front_delivery"}
    assert supply == SUPPLY_EVENTS
    assert set(SEVERITIES) == {t.severity for t in EVENTS.values()}


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_entry_words_a_sample_row(name):
    full = EventRow("Nvidia", "Baidu AI Cloud", "H100", 1250.0, 25000.0, "R-1", "some detail")
    bare = EventRow("Nvidia", "", "", 0.0, 0.0, "", "")
    for row in (full, bare):
        text = EVENTS[name].describe(row)
        assert text and "{" not in text and "}" not in text and "_" not in text, (name, text)
        assert text.startswith(("Nvidia", "Rule", "Customs")), (name, text)
    # describe() of a log row is the registry's wording of its fields
    log_row = {c: "" for c in EVENT_COLUMNS} | dict(full._asdict(), event=name, step=3)
    assert describe(log_row) == EVENTS[name].describe(full)


def test_numbers_and_optional_parts_are_worded():
    row = EventRow("SEA reseller", "Alibaba Cloud", "H100", 1250.0, 31000.4, "", "")
    assert EVENTS["diversion"].describe(row) == (
        "SEA reseller diverts 1,250 H100 to Alibaba Cloud at $31,000 each"
    )
    assert EVENTS["diversion"].describe(row._replace(price_usd=0.0)) == (
        "SEA reseller diverts 1,250 H100 to Alibaba Cloud"
    )
    assert EVENTS["price_move"].describe(row) == "SEA reseller moves the price of H100 to $31,000"
    assert describe({"event": "not_a_type", "agent": "X", "detail": "d"}) == "X not a type d"


def test_docs_event_table_is_current():
    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    assert catalogue_markdown() in doc, "regenerate: abm.engine.events.catalogue_markdown()"
