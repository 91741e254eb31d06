"""A batch's tables read in one call: pandas, pyarrow.dataset and DuckDB."""

import json

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from abm.runs.batch import BatchSpec, run_batch
from abm.runs.dataset import DATASET_TABLES, write_datasets


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "b"
    run_batch(BatchSpec(scenarios=["baseline", "no_controls"], seeds=2, weeks=5), out)
    return out


def _runs(out, table):
    return [pq.read_table(p) for p in sorted((out / "runs").glob(f"run_id=*/{table}.parquet"))]


def test_each_table_reads_in_one_call(batch):
    for table in DATASET_TABLES:
        files = sorted((batch / table).iterdir())
        assert [f.suffix for f in files] == [".parquet"] * 4  # data only, no manifest
        rows = sum(t.num_rows for t in _runs(batch, table))
        df = pd.read_parquet(batch / table)
        assert len(df) == rows > 0
        assert list(df.columns[:3]) == ["run_id", "scenario", "seed"]
        keys = df.drop_duplicates(["scenario", "seed"])[["scenario", "seed"]].values.tolist()
        assert sorted(keys) == [
            ["baseline", 1],
            ["baseline", 2],
            ["no_controls", 1],
            ["no_controls", 2],
        ]
        assert ds.dataset(batch / table).count_rows() == rows
        n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{batch / table}/*.parquet')")
        assert n.fetchall() == [(rows,)]


def test_events_carry_scenario_and_seed_and_keep_their_rows(batch):
    events = ds.dataset(batch / "events").to_table()
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
    schema = ds.dataset(batch / "metrics").schema
    assert schema.field("step").metadata[b"unit"] == b"week"
    assert b"meaning" in schema.field("value").metadata
    catalogue = json.loads(
        pq.read_schema(next((batch / "metrics").iterdir())).metadata[b"abm.metrics"]
    )
    assert catalogue["compute_stock_h100e"]["unit"] == "H100e"
    types = json.loads(
        pq.read_schema(next((batch / "events").iterdir())).metadata[b"abm.event_types"]
    )
    assert "denial" in types


def test_datasets_follow_the_completed_runs(batch, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(batch, out)
    write_datasets(out, ["baseline-s1"])  # the others failed or were removed
    for table in DATASET_TABLES:
        assert [p.name for p in (out / table).iterdir()] == ["baseline-s1.parquet"]
