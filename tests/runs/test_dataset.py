"""A batch's tables read in one call: pandas, pyarrow.dataset, DuckDB and polars, over the
hive layout <table>/scenario=NAME/<run_id>.parquet, with the same keys and types."""

import json
import shutil

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from abm.engine.statelog import AGENT_STATE
from abm.runs.batch import BatchSpec, run_batch
from abm.runs.dataset import DATASET_TABLES, write_datasets
from abm.runs.outputs import STATE_COLUMNS

KEYS = [["baseline", 1], ["baseline", 2], ["no_controls", 1], ["no_controls", 2]]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "b"
    run_batch(BatchSpec(scenarios=["baseline", "no_controls"], seeds=2, weeks=5), out)
    return out


def _runs(out, table):
    return [pq.read_table(p) for p in sorted((out / "runs").glob(f"run_id=*/{table}.parquet"))]


def _files(out, table):
    return sorted(p.relative_to(out / table).as_posix() for p in (out / table).rglob("*"))


@pytest.mark.parametrize("table", DATASET_TABLES)
def test_the_layout_is_hive_partitioned_by_scenario(batch, table):
    assert _files(batch, table) == [
        "scenario=baseline",
        "scenario=baseline/baseline-s1.parquet",
        "scenario=baseline/baseline-s2.parquet",
        "scenario=no_controls",
        "scenario=no_controls/no_controls-s1.parquet",
        "scenario=no_controls/no_controls-s2.parquet",
    ]  # data only: no manifest, no other file
    schema = pq.read_schema(batch / table / "scenario=baseline" / "baseline-s1.parquet")
    assert schema.names[:2] == ["run_id", "seed"]
    assert "scenario" not in schema.names  # the partition key is the folder, not a column
    assert schema.field("seed").type == pa.int64()
    assert schema.metadata[b"abm.partitioning"] == b"scenario"


def _keys(rows):
    return sorted([list(k) for k in {(r[0], r[1]) for r in rows}])


@pytest.mark.parametrize("table", DATASET_TABLES)
def test_each_table_reads_in_one_call_in_every_reader(batch, table):
    folder = batch / table
    rows = sum(t.num_rows for t in _runs(batch, table))
    assert rows > 0

    df = pd.read_parquet(folder)
    assert len(df) == rows
    assert list(df.columns[:2]) == ["run_id", "seed"] and df.columns[-1] == "scenario"
    assert df["seed"].dtype == "int64" and df["run_id"].dtype == "str"
    assert df["scenario"].astype(str).isin(["baseline", "no_controls"]).all()
    assert _keys(df[["scenario", "seed"]].astype({"scenario": str}).values.tolist()) == KEYS

    arrow = ds.dataset(folder, partitioning="hive").to_table()
    assert arrow.num_rows == rows
    assert arrow.schema.field("scenario").type == pa.string()
    assert arrow.schema.field("seed").type == pa.int64()
    assert _keys(zip(arrow["scenario"].to_pylist(), arrow["seed"].to_pylist(), strict=True)) == KEYS

    rel = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning=true)")
    types = dict(zip(rel.columns, map(str, rel.types), strict=True))
    assert (types["run_id"], types["scenario"], types["seed"]) == ("VARCHAR", "VARCHAR", "BIGINT")
    assert _keys(duckdb.sql("SELECT DISTINCT scenario, seed FROM rel").fetchall()) == KEYS
    assert rel.aggregate("count(*)").fetchall() == [(rows,)]

    for frame in (pl.read_parquet(folder), pl.scan_parquet(folder).collect()):
        assert frame.height == rows
        assert frame.schema["run_id"] == pl.String and frame.schema["scenario"] == pl.String
        assert frame.schema["seed"] == pl.Int64
        assert _keys(frame.select("scenario", "seed").unique().rows()) == KEYS


def test_every_reader_agrees_on_the_values(batch):
    folder = batch / "metrics"
    cols = ["run_id", "seed", "scenario", "step", "name", "scope", "value"]
    order = ["run_id", "step", "name", "scope"]
    pandas = pd.read_parquet(folder)[cols].astype({"scenario": str}).sort_values(order)
    polars = pl.read_parquet(folder).select(cols).sort(order).to_pandas()
    duck = duckdb.sql(
        f"SELECT {', '.join(cols)} FROM read_parquet('{folder}/**/*.parquet', "
        "hive_partitioning=true)"
    ).df()
    duck = duck.sort_values(order)
    for other in (polars, duck):
        assert (
            pandas.reset_index(drop=True)
            .astype(object)
            .equals(other.reset_index(drop=True).astype(object))
        )


def test_events_carry_the_seed_and_keep_their_rows(batch):
    events = ds.dataset(batch / "events", partitioning="hive").to_table()
    per_run = _runs(batch, "events")
    assert "scenario" not in per_run[0].column_names  # the run's own file has run_id only
    assert (
        events.drop_columns(["scenario", "seed"]).sort_by("run_id").to_pylist()[:50]
        == (
            pd.concat([t.to_pandas() for t in per_run]).sort_values("run_id", kind="stable")
        ).to_dict("records")[:50]
    )
    seeds = {r["run_id"]: r["seed"] for r in events.select(["run_id", "seed"]).to_pylist()}
    assert all(rid.endswith(f"-s{s}") for rid, s in seeds.items())


def test_columns_carry_meaning_and_unit(batch):
    schema = ds.dataset(batch / "metrics", partitioning="hive").schema
    assert schema.field("step").metadata[b"unit"] == b"week"
    assert b"meaning" in schema.field("value").metadata
    one = "scenario=baseline/baseline-s1.parquet"
    catalogue = json.loads(pq.read_schema(batch / "metrics" / one).metadata[b"abm.metrics"])
    assert catalogue["compute_stock_h100e"]["unit"] == "H100e"
    types = json.loads(pq.read_schema(batch / "events" / one).metadata[b"abm.event_types"])
    assert "denial" in types


def test_agent_state_columns_carry_meaning_and_unit(batch):
    assert tuple(c.name for c in AGENT_STATE) == STATE_COLUMNS  # one declaration
    schema = pq.read_schema(batch / "agents" / "scenario=baseline" / "baseline-s1.parquet")
    declared = json.loads(schema.metadata[b"abm.agent_state"])
    assert list(declared) == list(STATE_COLUMNS)
    for column in AGENT_STATE:
        meta = schema.field(column.name).metadata
        assert meta[b"unit"].decode() == column.unit and column.unit
        assert meta[b"meaning"].decode() == column.meaning and column.meaning
        assert declared[column.name] == {"unit": column.unit, "meaning": column.meaning}
    assert schema.field("cash_usd").metadata[b"unit"] == b"USD"


def test_datasets_follow_the_completed_runs(batch, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(batch, out)
    write_datasets(out, ["baseline-s1"])  # the others failed or were removed
    for table in DATASET_TABLES:
        assert _files(out, table) == ["scenario=baseline", "scenario=baseline/baseline-s1.parquet"]


def test_a_batch_of_the_flat_layout_is_rewritten_partitioned(batch, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(batch, out)
    for table in DATASET_TABLES:  # the layout before the partitions: <table>/<run_id>.parquet
        for path in list((out / table).rglob("*.parquet")):
            path.rename(out / table / path.name)
        for part in (out / table).glob("scenario=*"):
            part.rmdir()
    write_datasets(out, ["baseline-s1", "no_controls-s2"])
    for table in DATASET_TABLES:
        assert _files(out, table) == [
            "scenario=baseline",
            "scenario=baseline/baseline-s1.parquet",
            "scenario=no_controls",
            "scenario=no_controls/no_controls-s2.parquet",
        ]
        assert len(pd.read_parquet(out / table)["run_id"].unique()) == 2
