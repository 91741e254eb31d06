"""Supply-side mechanisms of the historical world (issue 15), each with its counterfactual.

Every test runs the model with the mechanism and again with it removed, and
asserts that the behaviour the issue names appears only with it:

* vendors share scarce output by standing shares: no buyer with a standing
  order is starved for months while others are served (strict priority
  starves them, and then controls *raise* China's compute);
* binding constraints name the input and the firm that really binds;
* idle inference headroom is not booked as unmet training.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from abm.analysis.logs import connect
from abm.engine.model import SupplyChainModel
from abm.scenario import load_scenario
from bench.check_identical import write_model
from bench.realism import QUERIES, run_into
from tests.conftest import variant

YEARS = (2022, 2023, 2024, 2025, 2026)


def _allocation(rule: str):
    def edit(d):
        for v in d["world"]["vendors"]:
            v["allocation"] = rule

    return edit


def _tables(scenario, seed: int, tmp: Path, name: str) -> duckdb.DuckDBPyConnection:
    """Run ``scenario`` for ``seed`` into ``tmp/name`` and open its logs."""
    m = SupplyChainModel(scenario, seed=seed)
    m.run()
    return _write(m, tmp / name)


def _longest_starvation(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(QUERIES["starved"]).fetchone()
    return 0 if row is None else int(row[3])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, duckdb.DuckDBPyConnection]:
    """Baseline and no_controls, seed 1, with the library's allocation rule."""
    tmp = tmp_path_factory.mktemp("realism")
    return {name: connect(run_into(name, 1, tmp)) for name in ("baseline", "no_controls")}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["baseline", "no_controls"])
def test_no_buyer_with_a_standing_order_is_starved(runs, name):
    assert _longest_starvation(runs[name]) <= 4


@pytest.mark.slow
def test_strict_priority_starves_buyers_for_months(tmp_path):
    """The counterfactual: with strict priority the lower classes get nothing for months."""
    noc = load_scenario("no_controls")
    con = _tables(variant(noc, _allocation("priority")), 1, tmp_path, "priority")
    assert _longest_starvation(con) > 12


def _cn_by_year(con, key: str) -> dict[int, float]:
    if key == "compute":
        rows = con.execute(
            f"select y, h100e from ({QUERIES['compute']}) where region = 'CN'"
        ).fetchall()
    else:
        rows = con.execute(QUERIES[key]).fetchall()
    return {int(y): float(v) for y, v in rows}


@pytest.mark.slow
def test_controls_never_raise_chinas_compute_or_ease_its_labs(runs):
    base, noc = runs["baseline"], runs["no_controls"]
    cb, cn = _cn_by_year(base, "compute"), _cn_by_year(noc, "compute")
    sb, sn = _cn_by_year(base, "cn_lab_shortage"), _cn_by_year(noc, "cn_lab_shortage")
    for y in YEARS:
        assert cn[y] >= cb[y] * 0.999, f"{y}: no_controls {cn[y]:.0f} < baseline {cb[y]:.0f}"
        assert sn[y] <= sb[y] + 0.005, f"{y}: CN labs more short without controls"
    assert cn[2026] > 1.5 * cb[2026]  # the controls bite by the end


@pytest.mark.slow
def test_with_strict_priority_controls_raise_chinas_compute(tmp_path):
    """Removing the mechanism brings back the reversal the issue found: in some year
    China has more compute with controls than without (2022 in seed 1 since buyers
    schedule their orders; 2023 before)."""
    base = variant(load_scenario("baseline"), _allocation("priority"))
    noc = variant(load_scenario("no_controls"), _allocation("priority"))
    cb = _cn_by_year(_tables(base, 1, tmp_path, "b"), "compute")
    cn = _cn_by_year(_tables(noc, 1, tmp_path, "n"), "compute")
    assert any(cn[y] < cb[y] for y in YEARS), {y: (cb[y], cn[y]) for y in YEARS}


def _hbm_cut(d):
    d.setdefault("shocks", [])
    for maker in ("SK Hynix", "Samsung", "Micron"):
        d["shocks"].append(
            {
                "kind": "capacity_shock",
                "target": maker,
                "start": "2024-03-04",
                "factor": 0.1,
                "weeks": 26,
            }
        )


def test_a_scripted_hbm_cut_is_labelled_hbm_and_traced_to_the_maker(tmp_path, baseline):
    from abm.analysis.logs import trace

    sc = variant(baseline, _hbm_cut)
    m = SupplyChainModel(sc, seed=1)
    m.run(weeks=125)
    con = _write(m, tmp_path / "cut")
    labels = con.execute(
        "select regexp_extract(detail, 'binding: (.*)', 1) as b, count(*) from events "
        "where event = 'allocation' and agent = 'Nvidia' and detail not like '%binding: none' "
        "and date between '2024-05-01' and '2024-09-01' group by b order by 2 desc"
    ).fetchall()
    assert labels, "Nvidia rationed nobody during the HBM cut"
    top = labels[0][0]
    assert top.startswith("hbm (") and top[5:-1] in {"SK Hynix", "Samsung", "Micron"}, labels
    # the trace of a rationed Nvidia customer reaches the memory maker, not packaging
    buyer = con.execute(
        "select counterparty from events where event = 'allocation' and agent = 'Nvidia' "
        "and detail like '%binding: hbm%' and date between '2024-05-01' and '2024-09-01' "
        "limit 1"
    ).fetchone()[0]
    from datetime import date

    links = trace(con, buyer, date(2024, 8, 5))
    agents = [link.agent for link in links]
    assert any(a in {"SK Hynix", "Samsung", "Micron"} for a in agents), agents
    assert "TSMC CoWoS" not in agents


def _write(m: SupplyChainModel, out: Path) -> duckdb.DuckDBPyConnection:
    """Write a model's run files into ``out`` and open its logs."""
    write_model(m, out)
    return connect(out)


def test_a_vendor_short_of_its_own_orders_is_not_labelled_wafer(baseline):
    """A planning lag (dies ordered too late, foundry with room) says ``planning``."""
    m = SupplyChainModel(baseline, seed=1)
    for _ in range(30):
        m.step()
    nvidia = m.cast.vendor["Nvidia"]
    tsmc = m.cast.foundry["TSMC"]
    product = next(p.name for p in nvidia.active_products() if not p.variant_of)
    line = tsmc.line_of(product)
    tsmc.last_share[line] = 1.0  # TSMC started all the work it was asked for
    nvidia.dies[nvidia.products[product].die_bank] = 0.0  # it ordered too few dies
    nvidia.kit_capped = set()  # and packaging did not cap its plan
    nvidia.backlog_now = {n: nvidia.backlog_units(n) for n in nvidia.products}
    nvidia._send_to_packaging({product: float(max(1, nvidia.backlog_now[product]))})
    assert nvidia.binding[product] == "planning"
    assert nvidia.binding_firm[product] == "Nvidia"
    # and when TSMC could not start all the work it was asked for, it is the wafer
    tsmc.last_share[line] = 0.5
    nvidia._send_to_packaging({product: float(max(1, nvidia.backlog_now[product]))})
    assert (nvidia.binding[product], nvidia.binding_firm[product]) == ("wafer", "TSMC")


def test_inference_headroom_is_not_unmet_training(baseline):
    """A lab served in full by its fleet and rentals shows no shortage."""
    m = SupplyChainModel(baseline, seed=1)
    for _ in range(120):
        m.step()
    lab = m.cast.lab["OpenAI"]
    lab.pool_ready = False  # start in balance, as at the first week
    lab.serve(lab.need * 1.5, rental_price=2.0)  # far more than it needs
    assert lab.inference_served_share == pytest.approx(1.0)
    assert lab.shortage == pytest.approx(0.0, abs=1e-12)
    # with just its need, the 5 % headroom is idle capacity, not unmet training
    lab.pool_ready = False
    lab.serve(max(0.0, lab.need - lab.installed_h100e()), rental_price=2.0)
    assert lab.shortage == pytest.approx(0.0, abs=1e-9)


def _utilisation(con, agent: str) -> dict[int, float]:
    rows = con.execute(
        f"select y, u from ({QUERIES['utilisation']}) where agent = ?", [agent]
    ).fetchall()
    return {int(y): float(u) for y, u in rows}


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="CoWoS utilisation averages 0.72 in 2025 (seed 1; 0.745 median of 20 seeds), not "
    ">= 0.85, though Nvidia's units grow every year (1.89, 5.15, 5.70M in 2023-25, seed 1): "
    "capacity commitments (A61) keep TSMC expanding faster than 2025 orders; a search "
    "ranked with this check (cal24) reached 0.89 but held US rents at 9-12 USD from 2022 "
    "(issue 15)",
)
def test_cowos_is_sold_out_in_2025_and_nvidia_grows_every_year(runs):
    """F072-F073: CoWoS sold out through 2025; Nvidia's output grew each year (F060-F065)."""
    con = runs["baseline"]
    units = {
        int(y): float(u) for v, y, u in con.execute(QUERIES["units"]).fetchall() if v == "Nvidia"
    }
    assert units[2023] < units[2024] < units[2025]
    assert _utilisation(con, "TSMC CoWoS")[2025] >= 0.85


@pytest.mark.slow
def test_without_commitments_suppliers_overbuild_after_the_2023_backlog(runs, tmp_path):
    """Vendors committing their whole plan (backlog and phantom orders) idle CoWoS in 2025."""

    def commit_everything(d):
        for v in d["world"]["vendors"]:
            v["commitment_growth_per_year"] = 1000.0

    base = load_scenario("baseline")
    con = _tables(variant(base, commit_everything), 1, tmp_path, "all")
    assert (
        _utilisation(con, "TSMC CoWoS")[2025]
        < _utilisation(runs["baseline"], "TSMC CoWoS")[2025] - 0.1
    )
