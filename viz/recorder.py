"""What the page shows, recorded step by step from a running model (the view model).

After every step the recorder takes one :class:`Frame`: each firm's shortage
(node colour), size value (compute or capacity), each supply edge's flow (read
from the flows the model publishes, ``model.flows``) and whether a control cuts
it, every firm's state, and the values of the charted metrics, evaluated
through the declared metrics of :mod:`abm.engine.metrics` (the one list that
also feeds the files). Frames are kept for the whole run, so the replay slider
can show any past step. Notable events (by the registry of event types,
:data:`abm.engine.events.EVENTS`) are turned into feed lines with their dates.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from abm.controls.rules import item_of
from abm.engine.events import EVENT_COLUMNS, NOTABLE_EVENTS, SUPPLY_EVENTS, describe
from abm.engine.flows import FlowKind
from abm.engine.metrics import METRICS
from abm.scenario import REGIONS


@dataclass(frozen=True)
class ChartLine:
    """One line of a chart: the sum of a metric over some scopes, times a scale."""

    label: str
    metric: str
    scopes: tuple[str, ...]
    scale: float = 1.0


@dataclass(frozen=True)
class Chart:
    """A chart of the page: title, unit and lines (``per_scope`` draws one line per scope)."""

    key: str
    title: str
    unit: str
    lines: tuple[ChartLine, ...] = ()
    per_scope: str = ""
    per_scope_scale: float = 1.0


def default_charts(vendors: list[str]) -> tuple[Chart, ...]:
    """The page's charts for a world with these vendors."""
    return (
        Chart(
            "lead_time",
            "Quoted lead time",
            "weeks",
            tuple(ChartLine(v, "lead_time_weeks", (v,)) for v in vendors),
        ),
        Chart(
            "gpu_price",
            "GPU prices",
            "k USD / unit",
            per_scope="gpu_price_usd",
            per_scope_scale=1e-3,
        ),
        Chart(
            "rental_price",
            "Rental price",
            "USD / H100e-hour",
            tuple(ChartLine(r, "rental_price_usd_per_gpu_hour", (r,)) for r in REGIONS),
        ),
        Chart(
            "shortage",
            "Shortage by region",
            "share of wanted compute unmet",
            tuple(ChartLine(r, "shortage_ratio", (r,)) for r in REGIONS),
        ),
        Chart(
            "compute",
            "Compute stock",
            "M H100e",
            tuple(ChartLine(r, "compute_stock_h100e", (r,), 1e-6) for r in ("US", "CN")),
        ),
        Chart(
            "cn_share",
            "China's domestic share",
            "share of units delivered (52 wk)",
            (ChartLine("CN domestic", "cn_domestic_share_units", ("CN",)),),
        ),
        Chart(
            "demand",
            "Consumer vs enterprise demand",
            "M H100e",
            (
                ChartLine("consumer", "consumer_demand_h100e", REGIONS, 1e-6),
                ChartLine("enterprise", "enterprise_demand_h100e", REGIONS, 1e-6),
            ),
        ),
    )


@dataclass
class Frame:
    """The view of one recorded step.

    Attributes:
        steps: Steps taken when recorded (0: the initial state).
        date: The model's date (ISO).
        shortage: Per node (recorder order): shortage share, None where not defined.
        size: Per node: compute (H100e) or capacity, the size value.
        active: Per node: False once the firm exited.
        flow: Per edge (recorder order): volume moved this week.
        cut: Per edge: 0 open, 1 partly denied by a control, 2 cut by a control.
        states: Each firm's state (``Firm.state()``) by name.
    """

    steps: int
    date: str
    shortage: list[float | None]
    size: list[float]
    active: list[bool]
    flow: list[float]
    cut: list[int]
    states: dict[str, dict[str, Any]] = field(default_factory=dict)


UNSERVED_AT_START = frozenset({"enterprise"})
"""Families whose shortage is undefined in the initial frame (served from the first week)."""

_SIZE_KEY = {
    "foundry": "capacity",
    "packager": "capacity",
    "memory": "capacity",
    "vendor": "production_units",
    "cloud": "compute_h100e",
    "enterprise": "demand_h100e",
    "broker": "inventory_units",
}


def size_value(family: str, state: dict[str, Any]) -> float:
    """The number a node's size shows: capacity (suppliers), output (vendors), compute."""
    if family == "lab":
        return float(state.get("compute_h100e", 0.0)) + float(state.get("rented_h100e", 0.0))
    key = _SIZE_KEY.get(family)
    return float(state.get(key, 0.0)) if key else 0.0


class Recorder:
    """Frames, chart series, the event feed and each firm's event rows of one run.

    Args:
        model: A freshly built :class:`abm.engine.model.SupplyChainModel`; the
            initial state is recorded at once.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        g = model.graph
        self.nodes: list[Any] = sorted(g.nodes)
        self.node_index = {n: i for i, n in enumerate(self.nodes)}
        self.names: list[str] = [g.nodes[n]["name"] for n in self.nodes]
        self.families: list[str] = [g.nodes[n]["family"] for n in self.nodes]
        self.regions: list[str] = [g.nodes[n]["region"] for n in self.nodes]
        self.edges: list[tuple[Any, Any, FlowKind]] = [
            (u, v, d["kind"]) for u, v, d in sorted(g.edges(data=True))
        ]
        self.edge_index = {(u, v): i for i, (u, v, _) in enumerate(self.edges)}
        names = dict(zip(self.nodes, self.names, strict=True))
        self._edge_keys = [(names[u], names[v], kind) for u, v, kind in self.edges]
        self.charts = default_charts([v.name for v in model.vendors])
        self._metrics = {
            m.name: m
            for m in METRICS
            if m.name
            in {
                "shortage_ratio",
                "lead_time_weeks",
                "gpu_price_usd",
                "rental_price_usd_per_gpu_hour",
                "compute_stock_h100e",
                "cn_domestic_share_units",
                "consumer_demand_h100e",
                "enterprise_demand_h100e",
            }
        }
        self.frames: list[Frame] = []
        self.series: dict[str, dict[str, list[float]]] = {c.key: {} for c in self.charts}
        self.feed: list[tuple[int, str, str, str, str]] = []  # (steps, date, type, text, agent)
        self.agent_rows: dict[str, list[int]] = defaultdict(list)
        self.supply_rows: dict[str, list[int]] = defaultdict(list)
        self.max_size: dict[str, float] = defaultdict(float)
        self.max_flow: dict[str, float] = defaultdict(float)
        self._event_pos = 0
        self.record()

    # ------------------------------------------------------------ record

    def record(self) -> Frame:
        """Take the frame of the model's current step."""
        m = self.model
        values = {name: dict(mt.collect(m)) for name, mt in self._metrics.items()}
        states = {a.name: a.state() for a in m.agents}
        agents = m.cast.firm
        shortage_by = values.get("shortage_ratio", {})
        shortage: list[float | None] = []
        size: list[float] = []
        active: list[bool] = []
        steps = int(m.steps)
        for name, fam in zip(self.names, self.families, strict=True):
            s = shortage_by.get(name)
            if steps == 0 and fam in UNSERVED_AT_START:
                s = None  # nothing has been served before the first week
            shortage.append(None if s is None or math.isnan(s) else float(s))
            v = size_value(fam, states.get(name, {}))
            size.append(v)
            self.max_size[fam] = max(self.max_size[fam], v)
            active.append(agents[name].active)
        self._new_events(steps)
        flow = self._flows()
        cut = self._cuts()
        frame = Frame(steps, m.date.isoformat(), shortage, size, active, flow, cut, states)
        self.frames.append(frame)
        self._append_series(values)
        return frame

    def _append_series(self, values: dict[str, dict[str, float]]) -> None:
        n = len(self.frames)
        for chart in self.charts:
            store = self.series[chart.key]
            if chart.per_scope:
                for scope, v in values.get(chart.per_scope, {}).items():
                    line = store.setdefault(scope, [math.nan] * (n - 1))
                    line.append(float(v) * chart.per_scope_scale)
            for line_spec in chart.lines:
                got = values.get(line_spec.metric, {})
                present = [got[s] for s in line_spec.scopes if s in got]
                v = sum(present) * line_spec.scale if present else math.nan
                store.setdefault(line_spec.label, [math.nan] * (n - 1)).append(v)
            for line in store.values():
                if len(line) < n:
                    line.append(math.nan)

    def _new_events(self, steps: int) -> None:
        cols = self.model.events.columns
        end = len(cols["step"])
        date = self.model.date.isoformat()
        for i in range(self._event_pos, end):
            row = {c: cols[c][i] for c in EVENT_COLUMNS}
            self.agent_rows[row["agent"]].append(i)
            if row["event"] in SUPPLY_EVENTS and row["counterparty"]:
                self.supply_rows[row["counterparty"]].append(i)
            if row["event"] in NOTABLE_EVENTS:
                self.feed.append((steps, date, row["event"], describe(row), row["agent"]))
        self._event_pos = end

    def _flows(self) -> list[float]:
        """Each edge's flow this week, from the flows the model published."""
        flows = self.model.flows
        if flows.steps != self.model.steps:
            raise RuntimeError(
                f"model.flows are of step {flows.steps}, the model is at step "
                f"{self.model.steps}: the model did not publish its flows this step"
            )
        flow = [flows.amount(src, dst, kind) for src, dst, kind in self._edge_keys]
        for (_u, _v, kind), f in zip(self.edges, flow, strict=True):
            self.max_flow[kind] = max(self.max_flow[kind], f)
        return flow

    def _cuts(self) -> list[int]:
        m = self.model
        by_id = {a.unique_id: a for a in m.agents}
        cut = [0] * len(self.edges)
        today = m.date
        for i, (u, v, kind) in enumerate(self.edges):
            src, dst = by_id[u], by_id[v]
            if kind == "gpus":
                products = [
                    p for p in src.products.values() if p.on_sale(today) and p.sold_in(dst.country)
                ]
                if not products:
                    continue
                denied = sum(
                    m.controls.check(item_of(p), src.country, dst.country, dst.name).verdict
                    == "deny"
                    for p in products
                )
                cut[i] = 2 if denied == len(products) else (1 if denied else 0)
            elif kind == "hbm" and not m.controls.hbm_allowed(src.country, dst.country, dst.name):
                cut[i] = 2
        return cut

    # ------------------------------------------------------------ read

    def events_of(self, name: str, upto_steps: int, limit: int = 12) -> list[tuple[str, str]]:
        """The latest ``(date, sentence)`` events of one firm up to a recorded step."""
        return self._rows(self.agent_rows.get(name, []), upto_steps, limit)

    def supply_of(self, name: str, upto_steps: int, limit: int = 8) -> list[tuple[str, str]]:
        """The latest allocations, denials and diversions *to* a firm: why it got what it got."""
        return self._rows(self.supply_rows.get(name, []), upto_steps, limit)

    def _rows(self, indices: list[int], upto_steps: int, limit: int) -> list[tuple[str, str]]:
        cols = self.model.events.columns
        start = self.model.spec.start_date
        out = []
        for i in reversed(indices):
            if cols["step"][i] + 1 > upto_steps:
                continue
            row = {c: cols[c][i] for c in EVENT_COLUMNS}
            day = (start + timedelta(weeks=int(row["step"]))).isoformat()
            out.append((day, describe(row)))
            if len(out) >= limit:
                break
        return out

    def feed_upto(self, upto_steps: int, limit: int = 40) -> list[tuple[int, str, str, str, str]]:
        """The latest notable events up to a recorded step, newest first."""
        out = []
        for item in reversed(self.feed):
            if item[0] <= upto_steps:
                out.append(item)
                if len(out) >= limit:
                    break
        return out
