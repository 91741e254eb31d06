"""``abm run`` writes the four files with the documented columns."""

import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from abm.cli import app
from abm.engine.events import EVENT_TYPES
from abm.engine.metrics import METRICS

runner = CliRunner()


def test_run_writes_four_files(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["run", "baseline", "--seed", "1", "--weeks", "60", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "compute stock US at end" in res.output
    metrics = pq.read_table(out / "metrics.parquet")
    assert metrics.column_names == [
        "run_id",
        "scenario",
        "seed",
        "step",
        "date",
        "name",
        "scope",
        "value",
    ]
    events = pq.read_table(out / "events.parquet")
    assert events.column_names == [
        "run_id",
        "step",
        "date",
        "agent",
        "family",
        "region",
        "event",
        "counterparty",
        "product",
        "quantity",
        "price_usd",
        "rule",
        "detail",
    ]
    agents = pq.read_table(out / "agents.parquet")
    assert agents.column_names[:7] == [
        "run_id",
        "scenario",
        "seed",
        "step",
        "date",
        "agent",
        "family",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["seed"] == 1 and manifest["scenario"] == "baseline"
    assert len(manifest["scenario_hash"]) == 64
    assert manifest["versions"]["mesa"].startswith("3.5")
    assert manifest["weeks_run"] == 60
    # every declared metric is collected; nothing undeclared is
    names = set(metrics.column("name").to_pylist())
    assert names == {m.name for m in METRICS}
    # every event type is documented
    assert set(events.column("event").to_pylist()) <= set(EVENT_TYPES)
    dates = metrics.column("date").to_pylist()
    assert str(min(dates)) == "2022-01-03" and metrics.column("step").to_pylist()[0] == 0


def test_required_metric_scopes(tmp_path):
    from abm.engine.model import SupplyChainModel

    m = SupplyChainModel.from_scenario("baseline", seed=1, weeks=30).run()
    ml = m.metrics
    for name, scope in [
        ("lead_time_weeks", "Nvidia"),
        ("gpu_price_usd", "A100"),
        ("rental_price_usd_per_gpu_hour", "US"),
        ("shipments_units", "Nvidia:CN"),
        ("orders_units", "AWS"),
        ("compute_stock_h100e", "CN"),
        ("compute_stock_h100e", "Meta"),
        ("shortage_ratio", "OpenAI"),
        ("shortage_ratio", "ROW"),
        ("signups_paused", "OpenAI"),
        ("users", "OpenAI"),
        ("paid_subscribers", "OpenAI"),
        ("revenue_usd", "OpenAI"),
        ("lost_revenue_usd", "OpenAI"),
        ("consumer_demand_h100e", "US"),
        ("enterprise_demand_h100e", "CN"),
    ]:
        assert len(ml.series(name, scope)) == 30, (name, scope)


def test_two_line_python_api():
    from abm.engine.model import SupplyChainModel

    model = SupplyChainModel.from_scenario("baseline", seed=1, weeks=5)
    model.run()
    assert model.steps == 5 and str(model.date) == "2022-01-31"
    assert not model.running


def test_docs_metric_table_is_current():
    from pathlib import Path

    from abm.engine.metrics import catalogue_markdown

    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    assert catalogue_markdown() in doc, "regenerate: abm metrics --markdown"


def test_supply_graph_is_mesa_network():
    from abm.engine.model import SupplyChainModel

    m = SupplyChainModel.from_scenario("baseline", seed=1, weeks=1)
    assert all(isinstance(n, int) for n in m.graph.nodes)
    nv = m.firm("Nvidia")
    assert nv.cell is not None and nv.cell.coordinate == nv.unique_id
    kinds = {d["kind"] for _, _, d in m.graph.edges(data=True)}
    assert kinds == {"wafers", "packaging", "hbm", "gpus", "rental", "api", "diversion"}
    assert m.graph.has_edge(m.firm("TSMC CoWoS").unique_id, nv.unique_id)


def test_run_into_a_read_only_folder_is_a_one_line_error(tmp_path):
    """A read-only bind mount (root ignores chmod); skipped where mounting is not permitted."""
    from tests.runs.mounts import read_only

    with read_only(tmp_path / "src", tmp_path / "ro") as ro:
        res = runner.invoke(app, ["run", "baseline", "--weeks", "2", "--out", str(ro / "o")])
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and "read-only file system" in res.output, res.output


def test_run_onto_a_full_disk_keeps_the_previous_run(tmp_path):
    """A 64 KiB tmpfs: a 2-week run fits, a 30-week run does not (skipped without mount)."""
    from abm.runs.outputs import verify_run
    from tests.runs.mounts import tiny_tmpfs

    with tiny_tmpfs(tmp_path / "tiny") as tiny:
        out = tiny / "o"
        args = ["run", "baseline", "--quiet", "--out", str(out)]
        assert runner.invoke(app, [*args, "--weeks", "2"]).exit_code == 0
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        res = runner.invoke(app, [*args, "--weeks", "30", "--seed", "2", "--overwrite"])
        after = {p.name: p.read_bytes() for p in out.iterdir()}
        intact = verify_run(out)
    assert res.exit_code == 1, res.output
    assert res.output.count("\n") == 1 and "disk full" in res.output, res.output
    assert "Traceback" not in res.output and "not saved" in res.output
    assert after == before and intact == []
