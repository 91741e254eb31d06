"""Agent logs: summary counts, read-only queries, traces, and bad folders."""

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from abm.analysis.logs import QueryRefused, ResultsError, connect, query, summary, trace
from abm.cli import app
from abm.engine.model import SupplyChainModel
from abm.runs.outputs import prepare_out_dir, write_run
from abm.scenario import load_scenario
from tests.conftest import variant

runner = CliRunner()


def _write(model, out: Path) -> Path:
    prepare_out_dir(out)
    write_run(model, out, datetime.now(UTC))
    return out


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    m = SupplyChainModel.from_scenario("baseline", seed=2, weeks=60).run()
    return _write(m, tmp_path_factory.mktemp("logs") / "run")


@pytest.fixture(scope="module")
def cowos_cut(tmp_path_factory):
    def edit(d):
        d["shocks"] = [
            {
                "kind": "capacity_shock",
                "target": "TSMC CoWoS",
                "start": "2024-03-04",
                "factor": 0.1,
                "weeks": 26,
            }
        ]
        d["weeks"] = 130

    m = SupplyChainModel(variant(load_scenario("baseline"), edit), seed=1).run()
    return _write(m, tmp_path_factory.mktemp("logs") / "cowos")


def test_summary_counts_equal_hand_counts(small_run):
    events = pq.read_table(small_run / "events.parquet").to_pylist()
    by_hand: dict[tuple[str, str], list[float]] = {}
    for e in events:
        slot = by_hand.setdefault((e["family"], e["event"]), [0, 0.0])
        slot[0] += 1
        slot[1] += e["quantity"]
    rows = summary(connect(small_run), "family").fetchall()
    assert len(rows) == len(by_hand)
    for family, event, n, qty, runs in rows:
        assert n == by_hand[(family, event)][0]
        assert qty == pytest.approx(by_hand[(family, event)][1])
        assert runs == 1


def test_batch_folder_unions_runs(small_run, tmp_path):
    m = SupplyChainModel.from_scenario("baseline", seed=3, weeks=20).run()
    batch = tmp_path / "batch"
    _write(m, batch / "seed3")
    shutil.copytree(small_run, batch / "seed2")
    con = connect(batch)
    assert con.execute("SELECT count(*) FROM runs").fetchall()[0][0] == 2
    per_run = dict(con.execute("SELECT run_id, count(*) FROM events GROUP BY 1").fetchall())
    assert set(per_run) == {"baseline-s2", "baseline-s3"}


def test_a_folder_written_by_the_batch_runner_is_read_whole(tmp_path):
    from abm.runs.batch import BatchSpec, run_batch

    out = tmp_path / "batch"
    run_batch(BatchSpec(scenarios=["baseline"], seeds=2, weeks=6), out)
    (out / "runs" / ".run_id=x.tmp-1").mkdir()  # a run being written is not read
    con = connect(out)
    ids = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
    assert ids == {"baseline-s1", "baseline-s2"}


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM runs",
        "CREATE TABLE x AS SELECT 1",
        "DROP VIEW events",
        "COPY (SELECT 1) TO '/tmp/abm-copy.csv'",
        "INSERT INTO runs SELECT * FROM runs",
        "SELECT 1; DROP VIEW events",
        "ATTACH '/tmp/abm-other.db'",
    ],
)
def test_writing_statements_are_refused(small_run, sql):
    con = connect(small_run)
    with pytest.raises(QueryRefused):
        query(con, sql)
    assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] > 0
    res = runner.invoke(app, ["logs", str(small_run), "query", sql])
    assert res.exit_code == 2
    assert "read-only" in res.output or "one statement" in res.output


def test_query_answers_and_exports(small_run, tmp_path):
    con = connect(small_run)
    n = query(con, "SELECT count(*) FROM events WHERE event = 'order'").fetchall()[0][0]
    assert n > 0
    out = tmp_path / "orders.parquet"
    res = runner.invoke(
        app,
        [
            "logs",
            str(small_run),
            "query",
            "SELECT agent, sum(quantity) AS units FROM events WHERE event = 'order' GROUP BY agent",
            "--parquet",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert pq.read_table(out).num_rows > 0
    res = runner.invoke(app, ["logs", str(small_run), "query", "SELECT 1 AS one", "--csv"])
    assert res.output.splitlines() == ["one", "1"]


def test_trace_names_the_cut_supplier_and_its_constraint(cowos_cut):
    links = trace(connect(cowos_cut), "Microsoft Azure", date(2024, 6, 3))
    text = [(link.agent, link.what) for link in links]
    assert links[0].agent == "Microsoft Azure" and "short" in links[0].what
    assert ("Nvidia", "binding constraint: packaging (TSMC CoWoS)") in text
    assert any(a == "TSMC CoWoS" and w == "supplier short of capacity" for a, w in text)
    assert any(a == "TSMC CoWoS" and w == "capacity shock" for a, w in text)
    res = runner.invoke(
        app, ["logs", str(cowos_cut), "trace", "Microsoft Azure", "--at", "2024-06-03"]
    )
    assert res.exit_code == 0 and "TSMC CoWoS" in res.output


def test_trace_of_a_denied_buyer_names_the_rule(tmp_path):
    def edit(d):
        d["policies"] = [
            {
                "id": "BAN-2023",
                "authority": "US government",
                "gate": "export",
                "announced": "2023-01-02",
                "effective": "2023-01-02",
                "origins": ["US"],
                "destinations": ["CN"],
                "controlled": [{"kind": "gpu"}],
                "licence": {"policy": "deny"},
            }
        ]
        d["weeks"] = 70

    m = SupplyChainModel(variant(load_scenario("baseline"), edit), seed=1).run()
    out = _write(m, tmp_path / "ban")
    links = trace(connect(out), "Alibaba Cloud", date(2023, 3, 6))
    assert any(
        link.what == "denied by control rule" and link.detail == "BAN-2023" for link in links
    )


def test_bad_folders_give_clear_errors(small_run, tmp_path):
    with pytest.raises(ResultsError, match="no such results folder"):
        connect(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ResultsError, match="no run found"):
        connect(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in small_run.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(ResultsError, match="manifest.json: not valid JSON"):
        connect(broken)
    (broken / "manifest.json").write_text((small_run / "manifest.json").read_text())
    (broken / "events.parquet").write_bytes(b"PAR1 garbage")
    # caught by the manifest's recorded size before the Parquet reader sees it
    with pytest.raises(ResultsError, match=r"broken/events\.parquet has 12 bytes, the manifest"):
        connect(broken)
    (broken / "events.parquet").unlink()
    with pytest.raises(ResultsError, match="events.parquet: missing"):
        connect(broken)
    res = runner.invoke(app, ["logs", str(tmp_path / "missing"), "summary"])
    assert res.exit_code == 2 and "no such results folder" in res.output
    res = runner.invoke(app, ["logs", str(small_run), "trace", "Nobody"])
    assert res.exit_code == 2 and "no agent named 'Nobody'" in res.output
