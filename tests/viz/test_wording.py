from abm.engine.events import EVENT_COLUMNS, EVENT_TYPES
from viz.wording import NOTABLE, SEVERITY, describe


def row(**kw):
    base = dict.fromkeys(EVENT_COLUMNS, "")
    base.update(step=0, quantity=0.0, price_usd=0.0)
    base.update(kw)
    return base


def test_notable_events_read_as_sentences():
    assert (
        describe(
            row(
                event="policy_activation",
                agent="US government",
                rule="US-2023-10-3A090",
                detail="Oct-2023 rule",
            )
        )
        == "Rule US-2023-10-3A090 takes effect: Oct-2023 rule"
    )
    assert describe(row(event="rationing_start", agent="OpenAI", detail="inference 6% short")) == (
        "OpenAI pauses paid sign-ups and rate-limits its API (inference 6% short)"
    )
    assert describe(
        row(event="variant_launched", agent="Nvidia", product="H20", price_usd=12000)
    ) == ("Nvidia launches the compliant variant H20 at $12,000")
    assert (
        describe(
            row(
                event="seizure",
                agent="SEA reseller",
                counterparty="Alibaba Cloud",
                product="H100",
                quantity=1250,
            )
        )
        == "Customs seize 1,250 H100 that SEA reseller was diverting to Alibaba Cloud"
    )
    assert describe(row(event="exit", agent="Zhipu", detail="cannot pay for compute")) == (
        "Zhipu exits the market (cannot pay for compute)"
    )
    assert (
        describe(
            row(
                event="denial",
                agent="Nvidia",
                counterparty="Baidu AI Cloud",
                product="A100",
                quantity=3000,
                rule="US-2022-10-3A090",
            )
        )
        == "Nvidia cancels 3,000 A100 ordered by Baidu AI Cloud: denied by rule US-2022-10-3A090"
    )
    assert "grants" in describe(row(event="licence_decision", detail="granted"))
    assert "refuses" in describe(row(event="licence_decision", detail="refused"))


def test_every_event_type_has_its_own_wording():
    for kind in EVENT_TYPES:
        text = describe(row(event=kind, agent="X", counterparty="Y", product="P", quantity=1))
        assert "_" not in text, (kind, text)
        assert text.startswith(("X", "Rule", "Customs")), (kind, text)


def test_feed_shows_decisions_not_routine_flows():
    assert {
        "policy_activation",
        "rationing_start",
        "variant_launched",
        "seizure",
        "exit",
    } <= NOTABLE
    assert NOTABLE.isdisjoint({"order", "shipment", "delivery", "allocation", "production"})
    assert NOTABLE.issubset(EVENT_TYPES)
    assert set(SEVERITY) == NOTABLE
