# %% [markdown]
# # Tutorial: one run, a batch, a comparison, the agent logs
#
# A percent-format script (open it in Jupyter through jupytext, in VS Code or Spyder as
# cells, or run it whole: `.venv/bin/python docs/tutorial.py`). It writes into
# `out/tutorial/` of the current folder and keeps every run short (60 weeks, two
# seeds) so it finishes in seconds; `tests/test_tutorial.py` runs it.

# %%
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from abm import SupplyChainModel
from abm.analysis.compare import kpi_table
from abm.analysis.logs import connect, fetch, format_trace, summary_sql, trace
from abm.runs.batch import BatchSpec, run_batch
from abm.runs.outputs import write_run

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 10)
OUT = Path("out/tutorial")
WEEKS = 60  # to March 2023: past the first US controls (Oct 2022)

# %% [markdown]
# ## 1. One run
#
# `SupplyChainModel.from_scenario` takes a library name (`abm scenarios list`) or a YAML
# path. `model.spec` is the validated scenario, `model.metrics.frame()` the tidy metric
# table and `model.datacollector` Mesa's interface over it.

# %%
model = SupplyChainModel.from_scenario("baseline", seed=1, weeks=WEEKS).run()
print(model.spec.name, model.date, f"{model.spec.weeks} weeks")
frame = model.metrics.frame()
cn = frame[(frame.name == "compute_stock_h100e") & (frame.scope == "CN")]
print("China's compute stock, last weeks (H100e):", cn.value.tail(3).round(0).tolist())
wide = model.datacollector.get_model_vars_dataframe()
print("Mesa-style model vars:", wide.shape, "e.g.", wide.columns[0])
run_dir = OUT / "baseline-s1"
write_run(model, run_dir, datetime.now(UTC))  # what `abm run` writes: 3 tables + manifest
print(sorted(p.name for p in run_dir.iterdir()))

# %% [markdown]
# ## 2. A batch: two scenarios x two seeds
#
# The same as `abm batch baseline no_controls --seeds 2 --weeks 60 --out out/tutorial/batch`.
# Seed s draws the same random numbers in both scenarios, so differences are the
# scenario's effect (docs/batch.md).

# %%
batch_dir = OUT / "batch"
result = run_batch(
    BatchSpec(scenarios=["baseline", "no_controls"], seeds=2, weeks=WEEKS),
    batch_dir,
    resume=batch_dir.exists(),
)
print("failed runs:", result.failed)
print(result.summary()[["run_id", "cn_compute_h100e_end", "denied_units"]])

# %% [markdown]
# Each table of the batch is one Parquet dataset: one call reads every run.

# %%
metrics = pd.read_parquet(batch_dir / "metrics")
print(metrics.groupby(["scenario", "seed"]).size())

# %% [markdown]
# ## 3. Compare with the baseline
#
# Paired by seed; `abm compare out/tutorial/batch` prints the same table and draws fan
# charts.

# %%
table = kpi_table(batch_dir)
print(table[["scenario", "kpi", "scenario_median", "baseline_median", "paired_diff_median"]])

# %% [markdown]
# ## 4. The agent logs
#
# A sandboxed, read-only DuckDB connection over every run's events, metrics and agent
# states (`abm logs out/tutorial/batch query "..."` from the shell).

# %%
con = connect(batch_dir)
print(fetch(con, summary_sql("family")).to_pandas().head(8))
denied = fetch(
    con,
    "SELECT run_id, sum(quantity) AS denied FROM events WHERE event = 'denial' "
    "GROUP BY run_id ORDER BY run_id",
)
print(denied.to_pandas())
print(format_trace(trace(con, "Nvidia", run_id="baseline-s1"))[:800])
