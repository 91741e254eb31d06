"""Controls inside the model: licences, denials, variants, substitution, front-running,
reactions and brokers, each on a small edit of the baseline."""

from datetime import date, timedelta

import pytest

from abm.engine.model import SupplyChainModel
from abm.scenario import load_scenario
from tests.conftest import variant

BASE = load_scenario("baseline")
NO_RULES = variant(BASE, lambda d: d.update(policies=[]))


def _rule(rid, effective, controlled, licence, announced=None, **kw):
    return {
        "id": rid,
        "authority": "US government",
        "gate": "export",
        "announced": (announced or effective).isoformat(),
        "effective": effective.isoformat(),
        "origins": ["US"],
        "destinations": ["CN"],
        "controlled": controlled,
        "licence": licence,
        **kw,
    }


def _run(edit, weeks, seed=1):
    return SupplyChainModel(variant(BASE, edit), seed=seed).run(weeks)


def _events(m, kind):
    c = m.events.columns
    return [{k: c[k][i] for k in c} for i in range(len(m.events)) if c["event"][i] == kind]


def _day(m, step):
    return m.spec.start_date + timedelta(weeks=step)


def test_licence_filed_decided_after_delay_then_shipments_carry_levy():
    eff = date(2023, 1, 2)

    def edit(d):
        d["policies"] = [
            _rule(
                "LIC",
                eff,
                [{"kind": "gpu"}],
                {"policy": "case_by_case", "approval_probability": 1.0, "delay_weeks": 4},
                levy_share=0.2,
            )
        ]

    m = _run(edit, 75)
    apps = [e for e in _events(m, "licence_application") if e["rule"] == "LIC"]
    decisions = [e for e in _events(m, "licence_decision") if e["rule"] == "LIC"]
    assert apps and decisions
    first = min(e["step"] for e in apps)
    assert _day(m, first) >= eff
    assert min(e["step"] for e in decisions) == first + 4
    assert all(e["detail"] == "granted" for e in decisions)
    assert sum(m.metrics.series("licensed_units", "LIC")) > 0
    assert sum(m.metrics.series("government_revenue_usd", "US government")) > 0
    levied = [e for e in _events(m, "shipment") if e["rule"] == "LIC"]
    assert levied and all("levy 20%" in e["detail"] for e in levied)


def test_denial_cancels_orders_and_stops_shipments_to_china():
    eff = date(2023, 1, 2)

    def edit(d):
        d["policies"] = [_rule("BAN", eff, [{"kind": "gpu"}], {"policy": "deny"})]
        d["world"]["brokers"] = []

    m = _run(edit, 80)
    s_eff = m.step_of(eff)
    denials = _events(m, "denial")
    assert denials and all(e["rule"] == "BAN" for e in denials)
    assert sum(m.metrics.series("denied_units", "BAN")) == sum(e["quantity"] for e in denials)
    after = m.metrics.series("shipments_units", "Nvidia:CN")[s_eff:]
    assert sum(after) == 0
    assert sum(m.metrics.series("shipments_units", "Nvidia:CN")[:s_eff]) > 0


@pytest.mark.slow
def test_variants_follow_the_real_timeline_in_the_baseline():
    m = SupplyChainModel(BASE, seed=1).run(120)
    launched = {e["product"]: _day(m, e["step"]) for e in _events(m, "variant_launched")}
    h800 = [p for p in launched if p.startswith("H100-CN")]
    assert h800, launched
    first = m.products[min(h800, key=lambda p: launched[p])]
    assert first.interconnect_gbs < 600 and first.bf16_tflops == 989  # cut I/O, kept compute
    assert date(2022, 11, 1) <= launched[first.name] <= date(2023, 6, 30)
    h20 = [m.products[p] for p in launched if m.products[p].tpp < 4800]
    assert h20 and all(p.performance_density < 5.92 for p in h20)  # Oct-2023 answer
    assert all(m.products[p].markets == ("CN",) for p in launched)


@pytest.mark.slow
def test_blocked_chinese_buyers_substitute_domestic_vendors():
    eff = date(2023, 1, 2)

    def ban(d):
        d["policies"] = [_rule("BAN", eff, [{"kind": "gpu"}], {"policy": "deny"})]

    banned = _run(ban, 90)
    free = SupplyChainModel(NO_RULES, seed=1).run(90)

    def domestic_orders(m):
        c = m.events.columns
        return sum(
            c["quantity"][i]
            for i in range(len(m.events))
            if c["event"][i] == "order"
            and c["counterparty"][i] in ("Huawei", "Cambricon")
            and c["step"][i] >= m.step_of(eff)
        )

    assert domestic_orders(banned) > 1.5 * domestic_orders(free)


@pytest.mark.xfail(
    strict=True,
    reason="Chinese orders to Nvidia between announcement and effect are 1.24x those "
    "without the rule (54.8k vs 44.1k units, seed 1), against 1.3x: front-running "
    "reweights each order toward the covered products but leaves the buyer's target fleet "
    "as it is, so the pull-forward fills the same gap sooner; with the capacity-cost floor "
    "(A68) Chinese clouds' gap is smaller. Raising the target ahead of a ban is the fix",
)
def test_buyers_pull_orders_forward_before_a_rule_takes_effect():
    ann, eff = date(2023, 3, 6), date(2023, 6, 5)

    def announced(d):
        d["policies"] = [_rule("LATER", eff, [{"kind": "gpu"}], {"policy": "deny"}, announced=ann)]

    ahead = _run(announced, 70)
    free = SupplyChainModel(NO_RULES, seed=1).run(70)

    def cn_orders(m):
        c = m.events.columns
        lo, hi = m.step_of(ann), m.step_of(eff)
        return sum(
            c["quantity"][i]
            for i in range(len(m.events))
            if c["event"][i] == "order"
            and c["region"][i] == "CN"
            and c["counterparty"][i] == "Nvidia"
            and lo <= c["step"][i] < hi
        )

    assert cn_orders(ahead) > 1.3 * cn_orders(free)
    assert _events(ahead, "policy_announced")


def test_us_closes_the_loophole_when_variants_sell():
    def edit(d):
        for g in d["world"]["governments"]:
            if g["name"] == "US government":
                g["reactions"]["close_loophole"] = {
                    "enabled": True,
                    "share_threshold": 0.2,
                    "weeks_over": 4,
                    "lag_weeks": 8,
                }

    m = _run(edit, 130)
    reactions = _events(m, "policy_reaction")
    assert reactions and reactions[0]["agent"] == "US government"
    rid = reactions[0]["rule"]
    took_effect = [e for e in _events(m, "policy_activation") if e["rule"] == rid]
    assert took_effect and took_effect[0]["step"] == reactions[0]["step"] + 8


@pytest.mark.slow
def test_china_mandate_raises_domestic_share():
    def edit(d):
        for g in d["world"]["governments"]:
            if g["name"] == "China government":
                g["reactions"]["domestic_mandate"] = {
                    "enabled": True,
                    "target_share": 0.9,
                    "step_share_of_buyers": 0.5,
                    "review_weeks": 13,
                    "start": "2023-01-02",
                }

    mandated = _run(edit, 200)
    base = SupplyChainModel(BASE, seed=1).run(200)
    assert _events(mandated, "policy_reaction")
    share = mandated.metrics.series("cn_domestic_share_units", "CN")[-1]
    assert share > base.metrics.series("cn_domestic_share_units", "CN")[-1] + 0.05


@pytest.mark.parametrize("seed", [1, 2])
def test_enforcement_raises_the_seized_share(seed):
    def with_enforcement(level):
        def edit(d):
            d["enforcement"] = level
            d["policies"] = [_rule("BAN", date(2022, 6, 6), [{"kind": "gpu"}], {"policy": "deny"})]

        m = _run(edit, 80, seed)
        diverted = sum(m.metrics.series("diverted_units", "CN"))
        seized = sum(m.metrics.series("seized_units", "CN"))
        return diverted, seized

    d_lo, s_lo = with_enforcement(0.0)
    d_hi, s_hi = with_enforcement(1.0)
    assert d_lo > 0 and s_hi > 0
    assert s_hi / (s_hi + d_hi) > 3 * s_lo / (s_lo + d_lo + 1e-9) or s_lo == 0
    assert d_hi < d_lo


def test_hbm_control_cuts_korean_hbm_to_chinese_vendors():
    m = SupplyChainModel(BASE, seed=1)
    samsung, huawei = m.firm("Samsung"), m.firm("Huawei")
    m.run(150)  # before Dec 2024
    assert m.controls.hbm_allowed(samsung.country, huawei.country, huawei.name)
    m.run(10)  # into Jan 2025
    assert not m.controls.hbm_allowed(samsung.country, huawei.country, huawei.name)
    assert m.controls.hbm_allowed(m.firm("CXMT").country, huawei.country, huawei.name)
    assert m.controls.hbm_allowed(samsung.country, m.firm("Nvidia").country, m.firm("Nvidia").name)


def test_domestic_chips_train_less_than_they_infer():
    def edit(d):
        for lab in d["world"]["labs"]:
            if lab["name"] == "Meta":
                lab["initial_fleet"] = [
                    {"product": "Ascend 910B", "units": 50000, "age_weeks": 10},
                    {"product": "A100", "units": 50000, "age_weeks": 10},
                ]

    m = SupplyChainModel(variant(BASE, edit), seed=1)
    meta = m.firm("Meta")
    ascend, a100 = m.products["Ascend 910B"], m.products["A100"]
    mix = (ascend.h100e * 0.6 + a100.h100e) / (ascend.h100e + a100.h100e)
    assert meta.training_efficiency() == pytest.approx(mix)
    assert m.firm("AWS").training_efficiency() == 1.0
