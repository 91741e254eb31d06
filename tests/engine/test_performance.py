"""Optimised stages give exactly what their straightforward versions give.

The vendor's allocation runs over numpy arrays; ``tests/reference`` keeps the
plain per-order loops. Whole runs with either must write identical events,
metrics and agent states (same random draws in the same order).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abm.agents.vendor import GPUVendor
from abm.engine.model import SupplyChainModel
from abm.markets.clearing import allocate_priority, allocate_pro_rata
from abm.scenario import load_scenario
from tests.reference import vendor_allocation as ref


def _outputs(model: SupplyChainModel) -> tuple:
    return (
        model.events.to_arrow(),
        model.metrics.to_arrow(),
        [(w, n, f, r, sorted(s.items())) for w, n, f, r, s in model.agent_rows],
    )


def _run(name: str, weeks: int, allocation: str | None, reference: bool, monkeypatch) -> tuple:
    spec = load_scenario(name)
    if allocation is not None:
        vendors = [v.model_copy(update={"allocation": allocation}) for v in spec.world.vendors]
        world = spec.world.model_copy(update={"vendors": vendors})
        spec = spec.model_copy(update={"world": world})
    spec = spec.model_copy(update={"weeks": weeks})
    with monkeypatch.context() as mp:
        if reference:
            mp.setattr(GPUVendor, "allocate_and_ship", ref.allocate_and_ship)
        model = SupplyChainModel(spec, seed=3)

        def backlog_kept(m: SupplyChainModel) -> None:
            for v in m.vendors:
                assert v._backlog == v.backlog_recount()
            for b in [*m.buyers, *m.brokers]:
                counted = sum(o.outstanding for o in b.open_orders)
                assert m.orders.outstanding(b.name) == counted, b.name

        model.run(progress=backlog_kept)
    return _outputs(model)


@pytest.mark.parametrize(
    ("name", "allocation"),
    [
        ("baseline", None),
        ("strict_controls", None),
        ("china_retaliation", None),
        ("taiwan_disruption", "pro_rata"),
        ("baseline", "fifo"),
        ("no_controls", "priority"),
    ],
)
@pytest.mark.slow
def test_vendor_allocation_matches_reference(name, allocation, monkeypatch):
    weeks = 130
    fast = _run(name, weeks, allocation, reference=False, monkeypatch=monkeypatch)
    slow = _run(name, weeks, allocation, reference=True, monkeypatch=monkeypatch)
    assert fast[0].equals(slow[0]), "events differ"
    assert fast[1].equals(slow[1]), "metrics differ"
    assert fast[2] == slow[2], "agent states differ"


@settings(max_examples=300, deadline=None)
@given(
    requests=st.lists(st.integers(0, 5000), min_size=0, max_size=40),
    available=st.integers(0, 60000),
    weighted=st.booleans(),
    data=st.data(),
)
def test_pro_rata_matches_loop_version(requests, available, weighted, data):
    weights = None
    if weighted:
        weights = data.draw(
            st.lists(st.floats(0, 10), min_size=len(requests), max_size=len(requests))
        )
    got = allocate_pro_rata(available, requests, weights)
    want = ref.allocate_pro_rata_loop(available, requests, weights)
    assert got.tolist() == want.tolist()
    assert got.sum() <= max(available, 0) or got.sum() == sum(requests)
    assert (np.asarray(got) <= np.asarray(requests, dtype=np.int64)).all()


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 3)), max_size=30),
    available=st.integers(0, 40000),
)
def test_priority_matches_loop_version(pairs, available):
    requests = [r for r, _ in pairs]
    priorities = [p for _, p in pairs]
    got = allocate_priority(available, requests, priorities)
    want = ref.allocate_priority_loop(available, requests, priorities)
    assert got.tolist() == want.tolist()
