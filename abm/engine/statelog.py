"""Per-step agent state, kept compactly until the run's files are written.

Each step every agent reports ``state()`` (a dict of floats, the same keys
every week for a given agent). Keeping millions of those dicts costs ~0.6 kB
a row (about 1.5 GiB for 10,000 agents over five years); this log keeps each
step as one float64 array of the values plus the step's key layout, shared
between steps while it does not change (~8 bytes a value).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from abm.agents.base import Firm

__all__ = ["AgentStateLog"]

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
