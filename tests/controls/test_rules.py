"""The shipment check against hand-made products and rules (pure functions)."""

from datetime import date

import pytest

from abm.agents.products import Product
from abm.controls.rules import (
    HBM_ITEM,
    ControlRule,
    Item,
    check_shipment,
    clause_matches,
    design_variant,
)
from abm.scenario import ItemClause, RuleSpec

D = date(2024, 6, 3)


def gpu(name="X", tpp=15832.0, io=900.0, bw=3350.0, area=814.0, tflops=989.0, variant=False):
    return Item(
        "gpu",
        name,
        {
            "bf16_tflops": tflops,
            "tpp": tpp,
            "performance_density": tpp / area,
            "memory_bandwidth_gbs": bw,
            "interconnect_gbs": io,
            "hbm_stacks": 5.0,
        },
        variant,
    )


def rule(rid="R", controlled=None, licence=None, **kw):
    spec = {
        "id": rid,
        "authority": "US government",
        "gate": "export",
        "announced": date(2022, 10, 7),
        "effective": date(2022, 10, 21),
        "origins": ["US"],
        "destinations": ["CN"],
        "controlled": controlled or [{"tpp": {"ge": 4800}, "interconnect_gbs": {"ge": 600}}],
        "licence": licence or {"policy": "deny"},
        **kw,
    }
    return ControlRule(RuleSpec.model_validate(spec), {"CN_MO": ["CN", "MO"]})


OCT22 = [{"tpp": {"ge": 4800}, "interconnect_gbs": {"ge": 600}}]
OCT23 = [{"tpp": {"ge": 4800}}, {"tpp": {"ge": 1600}, "performance_density": {"ge": 5.92}}]


def verdict(rules, item, origin="US", dest="CN", buyer="Alibaba Cloud", day=D, shipped=None):
    return check_shipment(rules, item, origin, dest, buyer, day, shipped)


def test_oct_2022_and_condition_and_edges():
    r = [rule(controlled=OCT22)]
    assert verdict(r, gpu()).verdict == "deny"  # H100
    assert verdict(r, gpu(tpp=4992, io=600)).verdict == "deny"  # A100: both at/above
    assert verdict(r, gpu(tpp=4992, io=400)).verdict == "allow"  # A800: I/O cut
    assert verdict(r, gpu(tpp=15832, io=400)).verdict == "allow"  # H800
    assert verdict(r, gpu(tpp=4799.9, io=900)).verdict == "allow"  # just under TPP
    assert verdict(r, gpu(tpp=4800, io=600)).verdict == "deny"  # thresholds are >=


def test_oct_2023_performance_density_or():
    r = [rule(controlled=OCT23, effective=date(2023, 11, 17), announced=date(2023, 10, 17))]
    assert verdict(r, gpu(tpp=15832, io=400)).verdict == "deny"  # H800 now caught
    assert verdict(r, gpu(tpp=2368, area=814)).verdict == "allow"  # H20: PD 2.9
    assert verdict(r, gpu(tpp=4000, area=600)).verdict == "deny"  # PD 6.67 >= 5.92
    assert verdict(r, gpu(tpp=1599, area=100)).verdict == "allow"  # TPP under 1600


def test_dates_destinations_origins_and_end_users():
    r = [rule(controlled=OCT22)]
    assert verdict(r, gpu(), day=date(2022, 10, 20)).verdict == "allow"  # before effective
    assert verdict(r, gpu(), dest="JP").verdict == "allow"
    assert verdict(r, gpu(), origin="CN").verdict == "allow"
    grouped = [rule(controlled=OCT22, destinations=["CN_MO"])]
    assert verdict(grouped, gpu(), dest="MO").verdict == "deny"
    ended = [rule(controlled=OCT22, ends=date(2024, 1, 1))]
    assert verdict(ended, gpu()).verdict == "allow"
    listed = [rule(controlled=[{}], end_users=["Baidu AI Cloud"])]
    assert verdict(listed, gpu(), buyer="Baidu AI Cloud").verdict == "deny"
    assert verdict(listed, gpu(), buyer="Tencent Cloud").verdict == "allow"


def test_memory_bandwidth_and_hbm_and_product_clauses():
    h20 = gpu(name="H20", tpp=2368, bw=4000)
    r = [rule(controlled=[{"memory_bandwidth_gbs": {"ge": 1400}}])]
    assert verdict(r, h20).verdict == "deny"
    assert verdict(r, gpu(tpp=2368, bw=1398)).verdict == "allow"
    hbm = [rule(controlled=[{"kind": "hbm"}])]
    assert verdict(hbm, HBM_ITEM, origin="KR").verdict == "allow"  # origins: US only
    hbm_any = [rule(controlled=[{"kind": "hbm"}], origins=["*"])]
    assert verdict(hbm_any, HBM_ITEM, origin="KR").verdict == "deny"
    assert verdict(hbm_any, gpu()).verdict == "allow"  # an HBM rule does not touch GPUs
    named = [
        rule(
            controlled=[{"products": ["H200"]}],
            gate="import",
            origins=["*"],
            origins_exclude=["CN"],
            authority="China government",
        )
    ]
    assert verdict(named, gpu(name="H200")).verdict == "deny"
    assert verdict(named, gpu(name="H200"), origin="CN").verdict == "allow"
    assert verdict(named, gpu(name="H100")).verdict == "allow"
    variants = [rule(controlled=[{"variant": True}])]
    assert verdict(variants, gpu(variant=True)).verdict == "deny"
    assert verdict(variants, gpu()).verdict == "allow"


def test_licence_levy_cap_and_composition():
    lic = rule(
        "LIC",
        controlled=[{"tpp": {"ge": 1000}}],
        levy_share=0.15,
        licence={"policy": "case_by_case", "approval_probability": 0.8, "delay_weeks": 6},
    )
    d = verdict([lic], gpu())
    assert (d.verdict, d.rule, d.delay_weeks, d.approval_probability) == (
        "licence_pending",
        "LIC",
        6,
        0.8,
    )
    assert d.levy_share == 0.15 and d.levy_rules == ("LIC",)
    tariff = rule(
        "TAR", controlled=[{"tpp": {"ge": 1000}}], levy_share=0.25, licence={"policy": "allow"}
    )
    both = verdict([lic, tariff], gpu())
    assert both.verdict == "licence_pending" and both.levy_share == pytest.approx(0.40)
    deny = rule("DENY", controlled=OCT22)
    strict = verdict([tariff, lic, deny], gpu())
    assert (strict.verdict, strict.rule) == ("deny", "DENY")
    capped = rule(
        "CAP",
        controlled=[{"tpp": {"ge": 1000}}],
        licence={"policy": "allow"},
        quantity_cap_units_per_buyer_year=75000,
    )
    assert verdict([capped], gpu(), shipped={("CAP", "Alibaba Cloud"): 74999}).verdict == "allow"
    over = verdict([capped], gpu(), shipped={("CAP", "Alibaba Cloud"): 75000})
    assert (over.verdict, over.rule) == ("deny", "CAP")
    assert verdict([capped], gpu()).capped_rules == ("CAP",)


def test_no_rule_allows():
    d = verdict([], gpu())
    assert (d.verdict, d.rule, d.levy_share) == ("allow", "", 0.0)


def test_clause_needs_every_condition():
    c = ItemClause.model_validate({"tpp": {"ge": 4800}, "interconnect_gbs": {"ge": 600}})
    assert clause_matches(c, gpu())
    assert not clause_matches(c, gpu(io=599))
    assert not clause_matches(ItemClause(kind="hbm"), gpu())


def _h100():
    return Product(
        name="H100",
        vendor="Nvidia",
        launch=date(2022, 10, 1),
        end_of_sale=None,
        bf16_tflops=989,
        tpp=15832,
        die_area_mm2=814,
        memory_bandwidth_gbs=3350,
        interconnect_gbs=900,
        hbm_stacks=5,
        packages_per_wafer=29,
        logic_dies=1,
        dies_per_wafer=60,
        foundry="TSMC",
        node="N5",
        packager="TSMC CoWoS",
        list_price_usd=30000,
        power_w=700,
    )


def test_variant_design_cuts_io_first_then_compute():
    h100 = _h100()
    a = design_variant(h100, [rule(controlled=OCT22)], "US", "CN")
    assert a["interconnect_gbs"] < 600 and a["tpp"] == 15832  # the H800 answer
    b = design_variant(h100, [rule(controlled=OCT22), rule("R23", controlled=OCT23)], "US", "CN")
    assert b["tpp"] < 4800 and b["performance_density"] < 5.92  # the H20 answer
    assert b["bf16_tflops"] == pytest.approx(989 * b["tpp"] / 15832)
    for r in (rule(controlled=OCT22), rule("R23", controlled=OCT23)):
        assert r.decide(gpu(tpp=b["tpp"], io=b["interconnect_gbs"]), "US", "CN", "x", D) is None
    assert design_variant(h100, [rule(controlled=[{"variant": True}])], "US", "CN") is None
    assert design_variant(h100, [rule(controlled=OCT22)], "US", "JP") is not None
