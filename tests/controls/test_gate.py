"""The controls gate on its own: cached answers equal the pure check, caches refresh when
they must, weekly counts reset, caps, licences and levies are booked."""

from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest

from abm.controls.gate import ControlsGate, _CapView
from abm.controls.rules import HBM_ITEM, Decision, check_shipment, item_of
from abm.engine.model import SupplyChainModel
from tests.controls.test_rules import OCT22, _h100, gpu, rule

D = date(2024, 6, 3)
H100 = gpu("H100")
H20 = gpu("H20", tpp=2368.0, io=900.0, area=814.0)


@dataclass
class Authority:
    """A government as the gate sees it: licence verdicts, licences and levies."""

    verdicts: list[tuple[str, str, str]] = field(default_factory=list)
    collected: float = 0.0
    licences: dict = field(default_factory=dict)

    def licence_verdict(self, d: Decision, buyer: str, product: str) -> Decision:
        self.verdicts.append((d.rule, buyer, product))
        return Decision("deny", d.rule)

    def collect(self, amount: float) -> None:
        self.collected += amount


def gate_with(*rules, authority=None):
    auth = authority or Authority()
    return ControlsGate(list(rules), authority=lambda name: auth, today=D), auth


def product():
    return _h100()


def test_answers_equal_the_pure_check_on_every_day_and_pair():
    rules = [rule("OCT22", controlled=OCT22), rule("CAP", quantity_cap_units_per_buyer_year=10)]
    gate, _ = gate_with(*rules)
    for week in range(0, 60, 7):
        gate.new_week(D + timedelta(weeks=week))
        for item in (H100, H20, HBM_ITEM):
            for origin, dest in (("US", "CN"), ("US", "DE"), ("TW", "CN")):
                for buyer in ("Alibaba Cloud", "Tencent"):
                    shipped = _CapView(gate.capped_shipped, gate.date.year)
                    pure = check_shipment(rules, item, origin, dest, buyer, gate.date, shipped)
                    assert gate.check(item, origin, dest, buyer) == pure
                    assert gate.check(item, origin, dest, buyer) == pure  # cached


def test_a_rule_added_during_the_day_applies_at_once():
    gate, _ = gate_with()
    assert gate.check(H100, "US", "CN", "Alibaba Cloud").verdict == "allow"
    gate.add_rule(rule("NEW", controlled=OCT22, announced=D, effective=D))
    assert gate.check(H100, "US", "CN", "Alibaba Cloud").verdict == "deny"
    assert [r.rule_id for r in gate.in_force()] == ["NEW"]


def test_rules_come_into_force_on_their_date():
    later = D + timedelta(weeks=4)
    gate, _ = gate_with(rule("LATER", controlled=OCT22, announced=D, effective=later))
    p = product()
    assert gate.check(H100, "US", "CN", "X").verdict == "allow"
    assert gate.announced_covers(p, "US", "CN", "X")  # front-running window
    gate.new_week(later)
    assert gate.check(H100, "US", "CN", "X").verdict == "deny"
    assert not gate.announced_covers(p, "US", "CN", "X")


def test_caps_count_each_buyers_shipments_as_they_go():
    gate, _ = gate_with(
        rule(
            "CAP",
            controlled=OCT22,
            licence={"policy": "allow"},
            quantity_cap_units_per_buyer_year=10,
        )
    )
    d = gate.check(H100, "US", "CN", "A")
    assert d.verdict == "allow" and d.capped_rules == ("CAP",)
    gate.record_shipment(d, "A", 10, 1e6)
    assert gate.capped_shipped[(D.year, "CAP", "A")] == 10
    assert gate.check(H100, "US", "CN", "A").verdict == "deny"  # cap reached, no stale cache
    assert gate.check(H100, "US", "CN", "B").verdict == "allow"  # caps are per buyer


def test_levies_go_to_the_rules_government_and_weekly_counts_reset():
    auth = Authority()
    levy = rule("LEVY", controlled=OCT22, licence={"policy": "allow"}, levy_share=0.15)
    gate, _ = gate_with(levy, authority=auth)
    d = gate.check(H100, "US", "CN", "A")
    gate.record_shipment(d, "A", 4, 1000.0)
    assert auth.collected == pytest.approx(150.0)
    gate.record_denial("LEVY", 7)
    assert gate.denied_this_week["LEVY"] == 7
    gate.new_week(D + timedelta(weeks=1))
    assert not gate.denied_this_week and not gate.licensed_this_week


def test_pending_licences_go_to_the_government_and_would_deny_keeps_the_days_answer():
    auth = Authority()
    case = rule("CASE", controlled=OCT22, licence={"policy": "case_by_case"})
    gate, _ = gate_with(case, authority=auth)
    p = product()
    assert gate.check(item_of(p), "US", "CN", "A").verdict == "licence_pending"
    assert gate.clearance(item_of(p), "US", "CN", "A").verdict == "deny"
    assert auth.verdicts == [("CASE", "A", "H100")]
    assert not gate.would_deny(p, "US", "CN", "A")  # nothing refused yet

    @dataclass
    class Refused:
        decided: bool = True
        granted: bool = False

    auth.licences[("CASE", "A", "H100")] = Refused()
    assert not gate.would_deny(p, "US", "CN", "A")  # the day's first answer holds
    gate.new_week(D + timedelta(weeks=1))
    assert gate.would_deny(p, "US", "CN", "A")  # the refusal counts from the next day


def test_the_models_gate_agrees_with_the_pure_check_over_a_run():
    m = SupplyChainModel.from_scenario("strict_controls", seed=1, weeks=120)
    m.run()
    rules = m.controls.rules
    shipped = _CapView(m.controls.capped_shipped, m.date.year)
    for p in m.products.values():
        for buyer in ("Alibaba Cloud", "Microsoft Azure"):
            dest = m.firm(buyer).country
            pure = check_shipment(rules, item_of(p), "US", dest, buyer, m.date, shipped)
            assert m.controls.check(item_of(p), "US", dest, buyer) == pure
    assert any(r.in_force(m.date) for r in rules)
