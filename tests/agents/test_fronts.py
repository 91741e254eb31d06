"""Foundry controls and front companies in whole runs of the baseline (A44, A48, A49, F086)."""

from __future__ import annotations

from datetime import date

from abm.engine.model import SupplyChainModel
from tests.conftest import variant

END_2024 = date(2024, 12, 30)


def _run_to(sc, day: date, seed: int = 1) -> tuple[SupplyChainModel, dict[str, float]]:
    """Run to ``day``; return the model and wafers TSMC started per customer."""
    m = SupplyChainModel(sc, seed=seed)
    tsmc = m.cast.foundry["TSMC"]
    started: dict[str, float] = {}
    while m.date < day:
        before = {(due, v, p, a) for due, v, p, a in tsmc.in_process}
        m.step()
        for due, v, _p, a in tsmc.in_process:
            if due == m.week + tsmc.cycle_weeks and (due, v, _p, a) not in before:
                started[v] = started.get(v, 0.0) + a
    return m, started


def _events(m: SupplyChainModel, kind: str) -> list[dict]:
    cols = m.events.columns
    n = len(cols["event"])
    return [{k: v[i] for k, v in cols.items()} for i in range(n) if cols["event"][i] == kind]


def _front(**fields):
    def edit(d):
        d["world"]["fronts"][0].update(fields)

    return edit


def _drop_rules(*ids):
    def edit(d):
        d["policies"] = [r for r in d["policies"] if r["id"] not in ids]

    return edit


def _tsmc_910b(d):
    for p in d["world"]["products"]:
        if p["name"] == "Ascend 910B":
            p.update(foundry="TSMC", node="N7")


def test_listed_designer_gets_tsmc_wafers_only_through_the_front(baseline):
    m, started = _run_to(baseline, END_2024)
    assert started.get("Huawei", 0.0) == 0.0
    assert started.get("Sophgo", 0.0) > 10_000  # ~340 wafers a week from 2023
    front = m.cast.front["Sophgo"]
    # F086: on the order of 2M dies over 2023-24 (> 1M here whatever the detection week)
    assert front.dies_passed > 1_000_000 or front.detected
    assert front.dies_passed > 0


def test_front_detected_at_once_or_without_capacity_passes_no_dies(baseline):
    for edit in (_front(detection_per_week=1.0), _front(max_wafers_per_week=0)):
        m, started = _run_to(variant(baseline, edit), END_2024)
        assert m.cast.front["Sophgo"].dies_passed == 0.0
        assert started.get("Sophgo", 0.0) == 0.0 and started.get("Huawei", 0.0) == 0.0
    m, _ = _run_to(variant(baseline, _front(detection_per_week=1.0)), date(2023, 2, 1))
    rows = _events(m, "front_detected")
    assert len(rows) == 1 and rows[0]["counterparty"] == "Huawei"


def test_rule_refuses_the_designer_at_tsmc_and_removing_it_lets_wafers_through(baseline):
    # the 910B made at TSMC, and no front filling Huawei's die bank
    tsmc_made = variant(variant(baseline, _tsmc_910b), _front(max_wafers_per_week=0))
    m, started = _run_to(tsmc_made, date(2024, 1, 1))
    assert started.get("Huawei", 0.0) == 0.0
    denials = _events(m, "wafer_denial")
    assert any(
        r["counterparty"] == "Huawei" and r["rule"] == "US-2020-05-HUAWEI-FDPR" for r in denials
    )
    assert m.controls.wafers_denied["US-2020-05-HUAWEI-FDPR"] > 0
    free = variant(tsmc_made, _drop_rules("US-2020-05-HUAWEI-FDPR"))
    _, started = _run_to(free, date(2024, 1, 1))
    assert started.get("Huawei", 0.0) > 1000


def test_cambricon_listing_stops_its_tsmc_wafers_and_the_mlu370(baseline):
    m, started_listed = _run_to(baseline, date(2023, 12, 25))
    _, started_free = _run_to(
        variant(baseline, _drop_rules("US-2022-12-EL-CAMBRICON")), date(2023, 12, 25)
    )
    assert started_free["Cambricon"] > started_listed.get("Cambricon", 0.0) + 1000
    cambricon = m.cast.vendor["Cambricon"]
    assert "MLU370-X8" in cambricon.unmade
    assert not cambricon.sells(cambricon.products["MLU370-X8"])
