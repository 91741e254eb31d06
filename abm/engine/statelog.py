"""Per-step agent state, kept compactly until the run's files are written.

Each step every agent reports ``state()`` (a dict of floats, the same keys
every week for a given agent). Keeping millions of those dicts costs ~0.6 kB
a row (about 1.5 GiB for 10,000 agents over five years); this log keeps each
step as one float64 array of the values plus the step's key layout, shared
between steps while it does not change (~8 bytes a value).

:data:`AGENT_STATE` declares the state columns (name, unit, meaning) once: the
columns of ``agents.parquet``, the units and meanings in the batch datasets' schema
metadata and the agent-state table of ``docs/metrics.md`` come from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from abm.agents.base import Firm

__all__ = ["AGENT_STATE", "AgentStateLog", "StateColumn", "catalogue_markdown"]


@dataclass(frozen=True)
class StateColumn:
    """One agent-state column: its name, unit and meaning (what each family reports)."""

    name: str
    unit: str
    meaning: str


AGENT_STATE: tuple[StateColumn, ...] = (
    StateColumn(
        "capacity",
        "wafers/week or stacks/week",
        "Installed weekly capacity of a foundry (all nodes), packager (wafers) or memory "
        "maker (HBM stacks).",
    ),
    StateColumn(
        "backlog",
        "units (suppliers: wafers or stacks)",
        "Ordered and not yet served: a supplier's work not started, a vendor's units not "
        "shipped, a buyer's units outstanding on order.",
    ),
    StateColumn(
        "utilisation",
        "share",
        "A supplier's work started last week over its usable capacity; a cloud's share of "
        "rentable capacity rented.",
    ),
    StateColumn(
        "lead_time_weeks",
        "weeks",
        "Quoted lead time: a vendor's (backlog due over the shipment rate, plus transit), a "
        "supplier's (backlog over usable capacity, plus its cycle).",
    ),
    StateColumn(
        "inventory_units",
        "units",
        "Finished units in stock: a vendor's, or a broker's (a front company holds none).",
    ),
    StateColumn("production_units", "units/week", "Units a vendor received from packaging."),
    StateColumn("installed_units", "units", "Accelerators a cloud or lab has installed."),
    StateColumn(
        "compute_h100e",
        "H100e",
        "Installed compute of a cloud or lab; for an enterprise, the compute it was served.",
    ),
    StateColumn(
        "orders_units",
        "units/week (fronts: wafers/week)",
        "Units a buyer or broker ordered this week (wafers a front company requested).",
    ),
    StateColumn(
        "demand_h100e", "H100e", "Compute wanted by a lab or enterprise (need at normal prices)."
    ),
    StateColumn("rented_h100e", "H100e", "Compute a lab rents from clouds."),
    StateColumn(
        "shortage_ratio",
        "share",
        "Unmet over wanted: a lab's or enterprise's compute; a cloud's region's rental "
        "shortage; a vendor's 1 - normal lead time / quoted lead time; a supplier's wanted "
        "work that usable capacity cannot start.",
    ),
    StateColumn("users", "weekly active users", "Consumer users of a lab's products."),
    StateColumn("paid_subscribers", "subscribers", "A lab's paying consumer subscribers."),
    StateColumn("signups_paused", "0/1", "1 while a lab has paused paid sign-ups."),
    StateColumn(
        "revenue_usd",
        "USD/week",
        "Revenue this week: a lab's subscriptions and API, a cloud's rentals, a vendor's or "
        "broker's sales, a government's levies.",
    ),
    StateColumn(
        "lost_revenue_usd",
        "USD/week",
        "Revenue a lab lost this week to rationing (blocked sign-ups, rate-limited API calls).",
    ),
    StateColumn("cash_usd", "USD", "A lab's cash on hand."),
)
"""The state columns of ``agents.parquet``, in file order; empty where a family has none."""


def catalogue_markdown() -> str:
    """The agent-state columns as a Markdown table (``docs/metrics.md``)."""
    lines = ["| column | unit | meaning |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.unit} | {c.meaning} |" for c in AGENT_STATE]
    return "\n".join(lines) + "\n"


Ids = tuple[tuple[str, str, str], ...]
"""A step's agents as ``(name, family, region)``."""
Layout = tuple[tuple[str, ...], ...]
"""A step's state keys, per agent."""


class AgentStateLog:
    """Agents' per-step state: keys (step, agent, family, region) and a dict of values."""

    def __init__(self) -> None:
        # per step: (step, agents' (name, family, region), layout: keys per agent, values)
        self.steps: list[tuple[int, Ids, Layout, np.ndarray]] = []
        self._agents: Ids = ()
        self._agent_objs: list[Firm] = []
        self._layout: Layout = ()
        self._n = 0

    def collect(self, step: int, agents: Sequence[Firm]) -> None:
        """Record every agent's ``state()`` at ``step``."""
        if agents == self._agent_objs:  # the same agents as last step: share their keys
            ids = self._agents
        else:
            ids = tuple((a.name, a.family, a.region) for a in agents)
            self._agent_objs = list(agents)
        states = [a.state() for a in agents]
        layout = tuple(tuple(s) for s in states)
        if layout == self._layout:
            layout = self._layout
        values = np.fromiter(
            chain.from_iterable(s.values() for s in states), np.float64, sum(map(len, layout))
        )
        self.steps.append((step, ids, layout, values))
        self._agents, self._layout = ids, layout
        self._n += len(ids)

    def __len__(self) -> int:
        return self._n

    def rows(self) -> Iterator[tuple[int, str, str, str, dict[str, float]]]:
        """Each row as ``(step, agent, family, region, state)``."""
        for step, ids, layout, values in self.steps:
            k = 0
            for (name, family, region), keys in zip(ids, layout, strict=True):
                vals = values[k : k + len(keys)].tolist()
                k += len(keys)
                yield step, name, family, region, dict(zip(keys, vals, strict=True))

    def to_arrow(self, columns: Sequence[str]) -> pa.Table:
        """``step, agent, family, region`` and one float column per name in ``columns``.

        A column an agent does not report is null in its rows.
        """
        n = self._n
        col_ix = {c: i for i, c in enumerate(columns)}
        data = np.zeros((len(columns), n))
        present = np.zeros((len(columns), n), dtype=bool)
        plans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, Layout]] = {}
        steps: list[np.ndarray] = []
        names: list[str] = []
        families: list[str] = []
        regions: list[str] = []
        row = 0
        for step, ids, layout, values in self.steps:
            plan = plans.get(id(layout))
            if plan is None or plan[3] is not layout:
                cols, rows, offs = [], [], []
                k = 0
                for j, keys in enumerate(layout):
                    for key in keys:
                        if key in col_ix:
                            cols.append(col_ix[key])
                            rows.append(j)
                            offs.append(k)
                        k += 1
                plan = plans[id(layout)] = (
                    np.array(cols, np.int64),
                    np.array(rows, np.int64),
                    np.array(offs, np.int64),
                    layout,
                )
            cols_a, rows_a, offs_a, _ = plan
            data[cols_a, row + rows_a] = values[offs_a]
            present[cols_a, row + rows_a] = True
            steps.append(np.full(len(ids), step, np.int32))
            names.extend(i[0] for i in ids)
            families.extend(i[1] for i in ids)
            regions.extend(i[2] for i in ids)
            row += len(ids)
        out = {
            "step": pa.array(np.concatenate(steps) if steps else np.zeros(0, np.int32)),
            "agent": pa.array(names, pa.string()),
            "family": pa.array(families, pa.string()),
            "region": pa.array(regions, pa.string()),
        }
        for c, i in col_ix.items():
            out[c] = pa.array(data[i], pa.float64(), mask=~present[i])
        return pa.table(out)
