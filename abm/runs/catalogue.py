"""What every output column means: the KPIs declared once, and the page ``docs/metrics.md``.

:data:`KPIS` declares the columns of ``summary.parquet`` that
:func:`abm.runs.batch.kpis` computes (name, unit, meaning; the test
``tests/runs/test_kpi_docs.py`` fails when the two differ). :func:`metrics_page`
assembles ``docs/metrics.md`` from the declarations: the metrics
(:data:`abm.engine.metrics.METRICS`), the KPIs, the event types
(:data:`abm.engine.events.EVENTS`), the agent-state columns
(:data:`abm.engine.statelog.AGENT_STATE`) and the key columns of the tables
(:data:`abm.runs.dataset.COLUMN_DOCS`). ``scripts/metrics_page.py`` writes it;
``tests/test_metrics_page.py`` fails when the page is stale.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KPI", "KPIS", "kpi_markdown", "metrics_page"]


@dataclass(frozen=True)
class KPI:
    """One column of ``summary.parquet``: name, unit and meaning."""

    name: str
    unit: str
    meaning: str


KPIS: tuple[KPI, ...] = (
    KPI(
        "cn_compute_h100e_end",
        "H100e",
        "China's installed compute stock (`compute_stock_h100e`, CN) in the last week",
    ),
    KPI("us_compute_h100e_end", "H100e", "the same for the US"),
    KPI("row_compute_h100e_end", "H100e", "the same for the rest of the world"),
    KPI(
        "peak_lead_time_weeks",
        "weeks",
        "the largest lead time Nvidia quoted during the run (the first vendor if the world "
        "has no Nvidia)",
    ),
    KPI(
        "weeks_signups_paused",
        "lab-weeks",
        "weeks with paid sign-ups paused, summed over labs (two labs paused in one week count 2)",
    ),
    KPI(
        "lost_revenue_usd",
        "USD",
        "revenue lost to rationing (blocked sign-ups, rate-limited API calls), summed over "
        "labs and weeks",
    ),
    KPI(
        "diverted_units",
        "units",
        "units brokers diverted into China past detection, summed over weeks",
    ),
    KPI(
        "seized_units", "units", "diverted units seized on their way into China, summed over weeks"
    ),
    KPI(
        "denied_units",
        "units",
        "units whose orders a rule (or a refused licence) cancelled, summed over rules and weeks",
    ),
    KPI(
        "cn_domestic_share_end",
        "share",
        "share of the units delivered to China over the last 52 weeks made by Chinese "
        "vendors, in the last week",
    ),
    KPI(
        "us_rental_price_mean",
        "USD per H100e-hour",
        "the US rental price index, averaged over the weeks",
    ),
    KPI(
        "cn_shortage_mean",
        "share",
        "China's shortage ratio (unmet over wanted compute), averaged over the weeks",
    ),
    KPI("us_shortage_mean", "share", "the same for the US"),
)
"""The KPI columns of ``summary.parquet``, in column order (after the keys and the
design point's values)."""


def kpi_markdown() -> str:
    """The KPI table (``docs/metrics.md`` and ``docs/batch.md``)."""
    lines = ["| column | unit | meaning |", "|---|---|---|"]
    lines += [f"| `{k.name}` | {k.unit} | {k.meaning} |" for k in KPIS]
    return "\n".join(lines) + "\n"


def _keys_markdown() -> str:
    from abm.runs.dataset import COLUMN_DOCS

    lines = ["| column | unit | meaning |", "|---|---|---|"]
    lines += [f"| `{c}` | {u or '-'} | {m} |" for c, (u, m) in COLUMN_DOCS.items()]
    return "\n".join(lines) + "\n"


PAGE = """\
# Metrics, KPIs, events and agent state

What every output table holds, with meanings and units. This page is generated from the
declarations in the code by `scripts/metrics_page.py` (`.venv/bin/python
scripts/metrics_page.py`); `tests/test_metrics_page.py` fails when it is out of date.
The same meanings and units are in the batch datasets' Parquet metadata (see
[batch.md](batch.md), "Results").

## Metrics

Every metric the model writes to `metrics.parquet` (long form: `run_id, scenario, seed,
step, date, name, scope, value`), one value per week and scope. Declared once in
`abm/engine/metrics.py` (`METRICS`); `abm metrics` prints the same table.

{metrics}
## KPIs of `summary.parquet`

One row per completed run of a batch: `run_id, scenario, seed`, the design point's values,
then these columns, computed from each run's metrics by `abm.runs.batch.kpis` and declared
in `abm/runs/catalogue.py` (`KPIS`; `tests/runs/test_kpi_docs.py` fails when they differ).

{kpis}
## Events

`events.parquet` has one row per event: `run_id, step, date, agent, family, region, event,
counterparty, product, quantity, price_usd, rule, detail`. Every event type is declared once,
in the registry `EVENTS` of `abm/engine/events.py` (meaning, severity, wording); the log
refuses any other type. Severity is how the UI's feed treats a type: `routine` types are not
listed in it; `info`, `good`, `bad` and `rule` (a control decision) are, coloured by it.

{events}
## Agent state

`agents.parquet` has one row per agent per step: `run_id, scenario, seed, step, date, agent,
family, region`, then these state columns (declared in `abm/engine/statelog.py`,
`AGENT_STATE`), empty where a family has no such state.

{agents}
## Key and event columns

The columns the tables share (the keys) and the event columns, with their units where they
have one (`abm/runs/dataset.py`, `COLUMN_DOCS`). In a batch's datasets `scenario` is the
partition folder (`scenario=NAME/`), added as a column by the readers.

{keys}"""


def metrics_page() -> str:
    """The whole of ``docs/metrics.md``, from the declarations."""
    from abm.engine import events, metrics, statelog

    return PAGE.format(
        metrics=metrics.catalogue_markdown(),
        kpis=kpi_markdown(),
        events=events.catalogue_markdown(),
        agents=statelog.catalogue_markdown(),
        keys=_keys_markdown(),
    )
