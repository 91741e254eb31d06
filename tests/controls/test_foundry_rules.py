"""The wafer check (foundry rules) against hand-made products and rules (pure functions)."""

from datetime import date

import pytest

from abm.agents.products import Product
from abm.controls.rules import ControlRule, check_shipment, check_wafer, item_of, wafer_item
from abm.scenario import RuleSpec

D = date(2024, 6, 3)
GROUPS = {"D5_ARMS": ["CN", "MO"]}


def chip(name="Ascend 910B", vendor="Huawei", node="N7", foundry="TSMC") -> Product:
    return Product(
        name=name,
        vendor=vendor,
        launch=date(2023, 6, 1),
        end_of_sale=None,
        bf16_tflops=320,
        tpp=5120,
        die_area_mm2=665.6,
        memory_bandwidth_gbs=1600,
        interconnect_gbs=392,
        hbm_stacks=4,
        packages_per_wafer=30,
        logic_dies=1,
        dies_per_wafer=80,
        foundry=foundry,
        node=node,
        packager="SJSemi",
        list_price_usd=17000,
        power_w=400,
    )


def foundry_rule(rid="EL", controlled=None, **kw) -> ControlRule:
    spec = {
        "id": rid,
        "authority": "US government",
        "gate": "foundry",
        "announced": date(2020, 5, 15),
        "effective": date(2020, 9, 15),
        "origins": ["TW", "KR", "US"],
        "destinations": ["*"],
        "controlled": controlled or [{"kind": "wafer"}],
        "licence": {"policy": "deny"},
        **kw,
    }
    return ControlRule(RuleSpec.model_validate(spec), GROUPS)


LISTING = foundry_rule(end_users=["Huawei", "Cambricon"])
DUE_DILIGENCE = foundry_rule(
    "DD",
    [{"kind": "wafer", "node_nm": {"le": 16}}],
    announced=date(2025, 1, 15),
    effective=date(2025, 1, 16),
    destinations=["D5_ARMS", "HK"],
)


def test_listed_designer_is_refused_at_a_taiwanese_foundry():
    d = check_wafer([LISTING], wafer_item(chip(), 7), "TW", "CN", "Huawei", D)
    assert (d.verdict, d.rule) == ("deny", "EL")


def test_unlisted_designer_is_allowed_at_the_same_foundry():
    d = check_wafer([LISTING], wafer_item(chip(), 7), "TW", "CN", "Sophgo", D)
    assert d.verdict == "allow" and d.rule == ""


def test_domestic_foundry_outside_the_rules_reach_makes_the_listed_designers_wafers():
    d = check_wafer([LISTING], wafer_item(chip(node="N+2"), 7), "CN", "CN", "Huawei", D)
    assert d.verdict == "allow"


def test_listing_not_in_force_before_its_effective_date():
    d = check_wafer([LISTING], wafer_item(chip(), 7), "TW", "CN", "Huawei", date(2020, 6, 1))
    assert d.verdict == "allow"


@pytest.mark.parametrize(
    ("node_nm", "country", "day", "verdict"),
    [
        (7, "CN", date(2025, 2, 3), "deny"),  # advanced node, Chinese designer, in force
        (16, "CN", date(2025, 2, 3), "deny"),  # 16/14 nm is the bound, included
        (28, "CN", date(2025, 2, 3), "allow"),  # mature node
        (7, "US", date(2025, 2, 3), "allow"),  # designer outside the destinations
        (7, "CN", date(2024, 12, 2), "allow"),  # before the rule
        (None, "CN", date(2025, 2, 3), "allow"),  # a node of unknown size is not tested
    ],
)
def test_node_rule_refuses_advanced_wafers_for_chinese_designers(node_nm, country, day, verdict):
    d = check_wafer([DUE_DILIGENCE], wafer_item(chip(), node_nm), "TW", country, "Sophgo", day)
    assert d.verdict == verdict
    if verdict == "deny":
        assert d.rule == "DD"


def test_wafer_check_ignores_shipment_rules_and_shipments_ignore_foundry_rules():
    export = ControlRule(
        RuleSpec.model_validate(
            {
                "id": "X",
                "authority": "US government",
                "gate": "export",
                "announced": date(2022, 1, 1),
                "effective": date(2022, 1, 1),
                "destinations": ["*"],
                "controlled": [{"kind": "gpu"}],
                "licence": {"policy": "deny"},
            }
        )
    )
    assert check_wafer([export], wafer_item(chip(), 7), "TW", "CN", "Huawei", D).verdict == "allow"
    gpu = item_of(chip())
    assert check_shipment([LISTING], gpu, "TW", "CN", "Huawei", D).verdict == "allow"


def test_wafer_item_carries_the_products_attributes_for_rules_on_chips():
    by_tpp = foundry_rule("TPP", [{"kind": "wafer", "tpp": {"ge": 4800}}])
    assert check_wafer([by_tpp], wafer_item(chip(), 7), "TW", "CN", "X", D).verdict == "deny"
    weak = wafer_item(chip(), 7)
    assert weak.attributes["node_nm"] == 7.0 and weak.kind == "wafer"


def test_expected_date_starts_front_running_before_the_announcement():
    spec = {
        "id": "HBM",
        "authority": "US government",
        "gate": "export",
        "expected": date(2024, 6, 11),
        "announced": date(2024, 12, 2),
        "effective": date(2024, 12, 31),
        "destinations": ["CN"],
        "controlled": [{"kind": "hbm"}],
        "licence": {"policy": "deny"},
    }
    seen = ControlRule(RuleSpec.model_validate(spec))
    unseen = ControlRule(RuleSpec.model_validate({**spec, "expected": None}))
    day = date(2024, 7, 1)
    assert seen.expected_only(day) and seen.announced_only(day)
    assert not unseen.expected_only(day) and unseen.expected_only(date(2024, 12, 9))
    assert not seen.expected_only(date(2024, 12, 31))  # in force: nothing left to front-run
