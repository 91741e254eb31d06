"""The flows the model publishes each week per supply edge (``model.flows``)."""

from typing import Any

import pytest

from abm.engine.events import EVENT_COLUMNS
from abm.engine.flows import FLOW_KINDS, POOLED_KINDS, Pool, WeekFlows
from abm.engine.model import SupplyChainModel
from abm.scenario import REGIONS
from viz.recorder import Recorder


def old_recorder_flows(rec: Recorder, rows: list[dict[str, Any]]) -> list[float]:
    """The recorder's flows as it computed them before the model published them.

    A copy of the old ``Recorder._flows``: the week's shipment, production and
    diversion events, the suppliers' work in process due a cycle from now, and
    the rental and API markets' results, split as the markets clear.
    """
    m = rec.model
    ids = {a.name: a.unique_id for a in m.agents}
    flow = [0.0] * len(rec.edges)

    def add(src: str, dst: str, amount: float) -> None:
        i = rec.edge_index.get((ids.get(src), ids.get(dst)))
        if i is not None:
            flow[i] += amount

    for r in rows:
        ev = r["event"]
        if ev == "shipment":
            add(r["agent"], r["counterparty"], r["quantity"])
        elif ev == "production":
            add(r["counterparty"], r["agent"], r["quantity"])
        elif ev == "diversion":
            add(r["agent"], r["counterparty"], r["quantity"])
    week = m.week
    for s in m.suppliers:
        if s.family == "packager":
            continue
        due = week + s.cycle_weeks
        for entry in s.in_process:
            if entry[0] == due:
                add(s.name, entry[1], float(entry[3]))
    for region in REGIONS:
        clouds = [c for c in m.clouds if c.region == region and c.active]
        supply = [max(0.0, c.rentable_h100e()) for c in clouds]
        total = sum(supply)
        if total <= 0:
            continue
        renters = [(x.name, x.rented) for x in m.labs if x.region == region]
        renters += [(e.name, e.direct_served_h100e) for e in m.enterprises if e.region == region]
        for c, sup in zip(clouds, supply, strict=True):
            for name, amount in renters:
                if amount > 0:
                    add(c.name, name, amount * sup / total)
    for e in m.enterprises:
        for lab, share in m.market.api_shares.get(e.region, {}).items():
            add(lab, e.name, e.api_served_h100e * share)
    return flow


def rows_since(model: SupplyChainModel, start: int) -> tuple[list[dict[str, Any]], int]:
    cols = model.events.columns
    end = len(cols["step"])
    return [{c: cols[c][i] for c in EVENT_COLUMNS} for i in range(start, end)], end


@pytest.mark.parametrize(("scenario", "weeks"), [("baseline", 52), ("smuggling_crackdown", 52)])
def test_published_flows_are_what_the_recorder_computed_before(scenario, weeks):
    # the declared values: seed 1's draws delay the first diversion past week 52
    model = SupplyChainModel.from_scenario(scenario, seed=1, weeks=weeks, uncertainty=False)
    rec = Recorder(model)
    rows, pos = rows_since(model, 0)
    expected = [old_recorder_flows(rec, rows)]
    for _ in range(weeks):
        model.step()
        rec.record()
        rows, pos = rows_since(model, pos)
        expected.append(old_recorder_flows(rec, rows))
    got = [f.flow for f in rec.frames]
    assert got == expected  # exactly: the same floats, summed in the same order
    last = got[-1]
    kinds = {kind for (_, _, kind), f in zip(rec.edges, last, strict=True) if f > 0}
    assert {"wafers", "hbm", "packaging", "gpus", "rental", "api"} <= kinds, kinds
    if scenario == "smuggling_crackdown":
        assert any(
            f > 0
            for frame in got
            for (_, _, k), f in zip(rec.edges, frame, strict=True)
            if k == "diversion"
        )


def test_flows_are_published_every_step_along_the_graph():
    model = SupplyChainModel.from_scenario("baseline", seed=1, weeks=12)
    assert isinstance(model.flows, WeekFlows) and model.flows.steps == 0
    names = {n: d["name"] for n, d in model.graph.nodes(data=True)}
    edges = {(names[u], names[v], d["kind"]) for u, v, d in model.graph.edges(data=True)}
    assert {k for _, _, k in edges} == set(FLOW_KINDS)
    for week in range(12):
        before = model.flows
        model.step()
        flows = model.flows
        assert flows is not before and flows.steps == model.steps == week + 1
        # every flow runs along an edge of its kind, but for orders that a blocked
        # vendor's share moved to a substitute (the graph draws the buyers' own vendors)
        for src, dst, kind in set(flows) - edges:
            subs = model.spec.substitution.substitutes.get(model.firm(dst).region, [])
            assert kind == "gpus" and src in subs, (src, dst, kind)
        assert all(flows[k] == flows.amount(*k) >= 0 for k in flows)
        shipped = sum(
            q
            for s, e, q in zip(
                model.events.columns["step"],
                model.events.columns["event"],
                model.events.columns["quantity"],
                strict=True,
            )
            if s == model.week and e == "shipment"
        )
        assert flows.total("gpus") == shipped
        assert flows.total("packaging") == sum(v.produced_this_week for v in model.vendors)
        assert flows.total("wafers") == pytest.approx(sum(f.started_last for f in model.foundries))


def test_week_flows_is_a_read_only_mapping_with_pools():
    pool = Pool(
        "rental",
        {"C1": 0, "C2": 1, "Idle": 2},
        [3.0, 1.0, 0.0],
        4.0,
        {"Lab": 0, "Ent": 1, "Unserved": 2},
        [8.0, 2.0, 0.0],
    )
    flows = WeekFlows(5, {("TSMC", "Nvidia", "wafers"): 100.0}, (pool,))
    assert flows.steps == 5 and len(flows) == 5 == len(list(flows))
    assert flows.amount("C1", "Lab", "rental") == 6.0 and flows["C2", "Ent", "rental"] == 0.5
    assert flows.amount("TSMC", "Nvidia", "wafers") == 100.0
    assert flows.amount("TSMC", "Lab", "wafers") == 0.0 == flows.amount("C3", "Lab", "rental")
    assert flows.amount("Idle", "Lab", "rental") == 0.0 == flows.amount("C1", "Unserved", "rental")
    assert ("C1", "Lab", "rental") in flows and ("C1", "Unserved", "rental") not in flows
    assert ("Idle", "Lab", "rental") not in flows and ("C1", "Lab", "api") not in flows
    with pytest.raises(KeyError):
        flows["TSMC", "AMD", "wafers"]
    assert flows.total("rental") == 10.0 == sum(flows[k] for k in flows if k[2] == "rental")
    assert dict(flows)[("TSMC", "Nvidia", "wafers")] == 100.0
    assert set(FLOW_KINDS) > POOLED_KINDS
    with pytest.raises(ValueError, match="metered"):
        WeekFlows(0, {}, (Pool("gpus", {"A": 0}, [1.0], 1.0, {"B": 0}, [1.0]),))
    with pytest.raises(ValueError, match="two rental pools"):
        WeekFlows(0, {}, (pool, pool)).amount("C1", "Lab", "rental")


def test_the_recorder_refuses_flows_the_model_did_not_publish():
    model = SupplyChainModel.from_scenario("baseline", seed=1, weeks=3)
    rec = Recorder(model)
    stale = model.flows
    model.step()
    model.flows = stale
    with pytest.raises(RuntimeError, match="did not publish its flows"):
        rec.record()
