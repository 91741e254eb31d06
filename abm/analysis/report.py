"""A self-contained HTML report of a run or a batch of runs.

:func:`write_report` reads a results folder through :func:`abm.analysis.logs.connect`
and writes ``index.html`` with six sections — the runs, a shortage heat map,
flows by region, denials by rule, rationing episodes and the agents most
short with the trace of why — plus the charts as PNG files next to it. The
charts are also embedded in the page as base64 data URIs, so ``index.html``
alone is enough to share the report.

For a batch, quantities are means over its runs (per agent and week for the
heat map, per week for flows, per run for denials); rationing episodes are
listed per run, and each traced agent is traced in the run where it was
most short. Charts are drawn with Matplotlib's Agg canvas directly (no
``pyplot``), so the process-wide backend is left alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import matplotlib.dates as mdates
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from abm.analysis.htmlpage import CSS, data_uri, escape, png_bytes
from abm.analysis.logs import Link, connect, format_trace, trace
from abm.runs.outputs import atomic_write_bytes

REGION_ORDER = ("US", "CN", "ROW")
REGION_COLOURS = {"US": "#1f77b4", "CN": "#d62728", "ROW": "#2ca02c"}
FAMILY_ORDER = ("foundry", "memory", "packager", "vendor", "cloud", "lab", "enterprise", "broker")
"""Heat-map row groups, upstream to downstream; other families follow alphabetically."""
CHARTS = ("shortage_heatmap.png", "flows.png", "denials.png", "rationing.png")
"""PNG files the report may write next to ``index.html`` (stale ones are removed)."""


@dataclass
class _Report:
    """What the section builders share: the connection, the run count, the charts."""

    con: duckdb.DuckDBPyConnection
    n_runs: int
    charts: dict[str, bytes] = field(default_factory=dict)
    scenarios: list[str] = field(default_factory=list)

    @property
    def batch(self) -> bool:
        return self.n_runs > 1


# ------------------------------------------------------------------ helpers


def _value(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row of a query that always returns a row."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise ValueError(f"query returned no row: {sql}")
    return row[0]


def _num(x: float | None, digits: int = 0) -> str:
    return "" if x is None else f"{x:,.{digits}f}"


def _usd(x: float | None) -> str:
    if x is None:
        return ""
    for scale, suffix in ((1e9, " bn"), (1e6, " m")):
        if abs(x) >= scale:
            return f"${x / scale:,.2f}{suffix}"
    return f"${x:,.0f}"


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] = ()
) -> str:
    """An HTML table; cells are escaped, ``numeric`` columns are right-aligned."""
    align = list(numeric) + [False] * (len(headers) - len(numeric))
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{escape(c)}</td>' if align[i] else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(rep: _Report, name: str, fig: Figure, alt: str) -> str:
    """Keep the chart for writing and return an ``<img>`` embedding it."""
    data = png_bytes(fig)
    rep.charts[name] = data
    caption = escape(alt)
    return (
        f'<figure><img src="{data_uri(data)}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _year_axis(ax: Any) -> None:
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.xaxis.set_minor_locator(mdates.MonthLocator(bymonth=(4, 7, 10)))


def _regions(found: Iterable[str]) -> list[str]:
    found = set(found)
    return [r for r in REGION_ORDER if r in found] + sorted(found - set(REGION_ORDER))


def _pooled(rep: _Report) -> str:
    """What a batch's means are taken over, naming pooled scenarios."""
    if len(rep.scenarios) > 1:
        return (
            f"{rep.n_runs} runs of {len(rep.scenarios)} scenarios pooled "
            f"({', '.join(rep.scenarios)})"
        )
    return f"{rep.n_runs} runs"


def _mean_note(rep: _Report) -> str:
    return f" Means over the batch's {_pooled(rep)}." if rep.batch else ""


def _pool_warning(rep: _Report) -> str:
    if len(rep.scenarios) < 2:
        return ""
    return (
        f"<p class='error'>These figures pool {_pooled(rep)}: a mean mixes different "
        "policies. Report one scenario with <code>abm logs OUT report --scenario NAME</code>."
        "</p>"
    )


# ------------------------------------------------------------------ sections


def _runs_section(rep: _Report) -> str:
    rows = rep.con.execute(
        "SELECT run_id, scenario, seed, status, weeks_run, start_date, end_date FROM runs "
        "ORDER BY run_id"
    ).fetchall()
    table = _table(
        ("run_id", "scenario", "seed", "status", "weeks", "from", "to"),
        rows,
        (False, False, True, False, True),
    )
    return f"<p>{len(rows)} run{'s' if len(rows) != 1 else ''}.</p>{table}"


def _group_key(family: str, region: str) -> tuple[int, str, int, str]:
    f = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
    r = REGION_ORDER.index(region) if region in REGION_ORDER else len(REGION_ORDER)
    return (f, family, r, region)


def _heatmap_section(rep: _Report) -> str:
    con = rep.con
    cells = con.execute(
        "SELECT agent, step, avg(shortage_ratio) FROM agents "
        "WHERE shortage_ratio IS NOT NULL GROUP BY agent, step"
    ).fetchall()
    if not cells:
        return "<p>No agent has a shortage ratio in these runs.</p>"
    who = con.execute(
        "SELECT agent, any_value(family), any_value(region) FROM agents "
        "WHERE shortage_ratio IS NOT NULL GROUP BY agent"
    ).fetchall()
    who.sort(key=lambda r: (*_group_key(r[1], r[2]), r[0]))
    steps = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT step FROM agents WHERE shortage_ratio IS NOT NULL ORDER BY step"
        ).fetchall()
    ]
    dates = dict(con.execute("SELECT step, min(date) FROM agents GROUP BY step").fetchall())
    row_of = {a: i for i, (a, _, _) in enumerate(who)}
    col_of = {s: j for j, s in enumerate(steps)}
    grid = np.full((len(who), len(steps)), np.nan)
    for agent, step, value in cells:
        grid[row_of[agent], col_of[step]] = value

    height = 1.6 + 0.17 * len(who)
    fig = Figure(figsize=(12, height), layout="constrained")
    ax = fig.add_subplot()
    cmap: Colormap = colormaps["RdYlGn_r"].with_extremes(bad="#dddddd")
    im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_yticks(range(len(who)), [a for a, _, _ in who], fontsize=7)
    ticks = [j for j, s in enumerate(steps) if j == 0 or dates[s].year != dates[steps[j - 1]].year]
    ax.set_xticks(ticks, [str(dates[steps[j]].year) for j in ticks], fontsize=8)
    groups: list[tuple[str, int, int]] = []
    for i, (_, family, region) in enumerate(who):
        label = f"{family} · {region}"
        if groups and groups[-1][0] == label:
            groups[-1] = (label, groups[-1][1], i)
        else:
            groups.append((label, i, i))
    for _, first, _ in groups[1:]:
        ax.axhline(first - 0.5, color="black", linewidth=0.8)
    right = ax.secondary_yaxis("right")
    right.set_yticks(
        [(first + last) / 2 for _, first, last in groups], [g[0] for g in groups], fontsize=8
    )
    right.tick_params(length=0)
    fig.colorbar(
        im, ax=ax, location="bottom", shrink=0.4, aspect=40, pad=0.01, label="shortage ratio"
    )
    scope = f"mean over {_pooled(rep)} for the same agent and week" if rep.batch else "one run"
    alt = (
        f"Shortage ratio by agent and week ({scope}); rows grouped by family and region; "
        "green 0 (no shortage) to red 1; grey: no value."
    )
    return _img(rep, "shortage_heatmap.png", fig, alt)


def _flows_section(rep: _Report) -> str:
    con = rep.con
    ship = con.execute(
        "WITH per AS (SELECT run_id, step, split_part(scope, ':', 2) AS region, "
        "sum(value) AS v FROM metrics WHERE name = 'shipments_units' GROUP BY ALL) "
        "SELECT step, region, avg(v) FROM per GROUP BY ALL ORDER BY step"
    ).fetchall()
    stock = con.execute(
        "SELECT step, scope, avg(value) FROM metrics WHERE name = 'compute_stock_h100e' "
        "AND scope IN ('US', 'CN', 'ROW') GROUP BY ALL ORDER BY step"
    ).fetchall()
    if not ship and not stock:
        return "<p>No shipment or compute-stock metrics in these runs.</p>"
    dates = dict(con.execute("SELECT step, min(date) FROM metrics GROUP BY step").fetchall())

    fig = Figure(figsize=(12, 7), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for ax, rows, ylabel, title in (
        (ax1, ship, "units/week", "GPU shipments by destination region"),
        (ax2, stock, "H100e", "Installed compute stock (clouds and labs)"),
    ):
        series: dict[str, list[tuple[date, float]]] = defaultdict(list)
        for step, region, value in rows:
            series[region].append((dates[step], value))
        for region in _regions(series):
            xs, ys = zip(*series[region], strict=True)
            ax.plot(xs, ys, label=region, color=REGION_COLOURS.get(region), linewidth=1.3)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(loc="upper left")
    _year_axis(ax2)

    totals = con.execute(
        "WITH per AS (SELECT run_id, split_part(scope, ':', 1) AS vendor, "
        "split_part(scope, ':', 2) AS region, sum(value) AS v FROM metrics "
        "WHERE name = 'shipments_units' GROUP BY ALL) "
        "SELECT vendor, region, sum(v) / ? FROM per GROUP BY ALL",
        [rep.n_runs],
    ).fetchall()
    vendors = sorted({v for v, _, _ in totals})
    regions = _regions(r for _, r, _ in totals)
    cell = {(v, r): x for v, r, x in totals}
    table_rows = [
        [
            v,
            *(_num(cell.get((v, r), 0.0)) for r in regions),
            _num(sum(cell.get((v, r), 0.0) for r in regions)),
        ]
        for v in vendors
    ]
    table = _table(
        ("vendor", *(f"to {r}" for r in regions), "total"),
        table_rows,
        (False, *([True] * (len(regions) + 1))),
    )
    alt = "Weekly shipments summed over vendors by buyer region, and compute stock by region."
    return (
        _img(rep, "flows.png", fig, alt + _mean_note(rep))
        + f"<h3>Units shipped over the run{' (mean per run)' if rep.batch else ''}</h3>"
        + table
    )


def _denials_section(rep: _Report) -> str:
    rows = rep.con.execute(
        "SELECT coalesce(nullif(rule, ''), '(no rule)') AS rule, year(date) AS y, "
        "sum(quantity) / ? FROM events WHERE event = 'denial' GROUP BY ALL",
        [rep.n_runs],
    ).fetchall()
    if not rows:
        return "<p>No units were denied in these runs.</p>"
    by_rule: dict[str, float] = defaultdict(float)
    cell: dict[tuple[str, int], float] = {}
    for rule, year, units in rows:
        by_rule[rule] += units
        cell[(rule, year)] = units
    rules = sorted(by_rule, key=lambda r: (-by_rule[r], r))
    years = sorted({y for _, y, _ in rows})

    fig = Figure(figsize=(10, 1.2 + 0.4 * len(rules)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(range(len(rules)), [by_rule[r] for r in rules], color="#8c564b")
    ax.set_yticks(range(len(rules)), rules, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("units denied" + (" (mean per run)" if rep.batch else ""))
    ax.grid(axis="x", alpha=0.3)
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    for i, r in enumerate(rules):
        ax.annotate(
            _num(by_rule[r]),
            (by_rule[r], i),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.margins(x=0.12)

    table = _table(
        ("rule", *map(str, years), "total"),
        (
            [r, *(_num(cell[(r, y)]) if (r, y) in cell else "" for y in years), _num(by_rule[r])]
            for r in rules
        ),
        (False, *([True] * (len(years) + 1))),
    )
    alt = "Units whose orders a rule (or a refused licence) cancelled, by rule."
    unit = " (mean per run)" if rep.batch else ""
    return (
        _img(rep, "denials.png", fig, alt + _mean_note(rep))
        + f"<h3>Units denied by rule and year{unit}</h3>"
        + table
    )


@dataclass(frozen=True)
class Episode:
    """One spell of rationing by a lab.

    Attributes:
        run_id: The run.
        lab: The lab that paused paid sign-ups.
        start: First week paused.
        stop: Week sign-ups resumed, or ``None`` if still paused when the run ended.
        weeks: Weeks paused (to the run's last week, inclusive, if ongoing).
        lost_revenue_usd: ``lost_revenue_usd`` summed over the weeks paused.
    """

    run_id: str
    lab: str
    start: date
    stop: date | None
    weeks: int
    lost_revenue_usd: float


def rationing_episodes(con: duckdb.DuckDBPyConnection) -> list[Episode]:
    """Pair each lab's ``rationing_start`` with its next ``rationing_stop``, per run.

    Returns:
        The episodes, by run, lab and start date.
    """
    events = con.execute(
        "SELECT run_id, agent, date, event FROM events "
        "WHERE event IN ('rationing_start', 'rationing_stop') "
        "ORDER BY run_id, agent, step, event"
    ).fetchall()
    if not events:
        return []
    ends = dict(con.execute("SELECT run_id, max(date) FROM metrics GROUP BY run_id").fetchall())
    lost: dict[tuple[str, str], list[tuple[date, float]]] = defaultdict(list)
    for run_id, lab, when, value in con.execute(
        "SELECT run_id, scope, date, value FROM metrics WHERE name = 'lost_revenue_usd' "
        "AND value <> 0 AND scope IN (SELECT DISTINCT agent FROM events "
        "WHERE event = 'rationing_start')"
    ).fetchall():
        lost[(run_id, lab)].append((when, value))

    def episode(run_id: str, lab: str, start: date, stop: date | None) -> Episode:
        end = ends.get(run_id) or start
        weeks = (stop - start).days // 7 if stop else (end - start).days // 7 + 1
        usd = sum(v for d, v in lost[(run_id, lab)] if start <= d and (stop is None or d < stop))
        return Episode(run_id, lab, start, stop, weeks, usd)

    out: list[Episode] = []
    open_: dict[tuple[str, str], date] = {}
    for run_id, lab, when, event in events:
        key = (run_id, lab)
        if event == "rationing_start":
            open_.setdefault(key, when)
        elif key in open_:
            out.append(episode(run_id, lab, open_.pop(key), when))
    out += [episode(run_id, lab, start, None) for (run_id, lab), start in open_.items()]
    out.sort(key=lambda e: (e.run_id, e.lab, e.start))
    return out


def _rationing_section(rep: _Report) -> str:
    episodes = rationing_episodes(rep.con)
    if not episodes:
        return "<p>No lab paused paid sign-ups in these runs.</p>"
    labs = sorted({e.lab for e in episodes})
    last = _value(rep.con, "SELECT max(date) FROM metrics")
    first = _value(rep.con, "SELECT min(date) FROM metrics")

    fig = Figure(figsize=(12, 1.4 + 0.35 * len(labs)), layout="constrained")
    ax = fig.add_subplot()
    alpha = 0.8 if not rep.batch else max(0.08, min(0.8, 1.5 / rep.n_runs))
    for e in episodes:
        x0 = mdates.date2num(e.start)
        x1 = mdates.date2num(e.stop) if e.stop else mdates.date2num(last) + 7
        colour = "#ff7f0e" if e.stop else "#d62728"
        ax.broken_barh([(x0, x1 - x0)], (labs.index(e.lab) - 0.35, 0.7), color=colour, alpha=alpha)
    ax.set_yticks(range(len(labs)), labs, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(mdates.date2num(first), mdates.date2num(last) + 7)
    _year_axis(ax)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Paid sign-ups paused (red: still paused at the end of the run)", fontsize=11)

    headers = ["lab", "start", "stop", "weeks", "lost revenue"]
    numeric = [False, False, False, True, True]
    if rep.batch:
        headers.insert(0, "run")
        numeric.insert(0, False)
    rows = []
    for e in episodes:
        row = [
            e.lab,
            e.start.isoformat(),
            e.stop.isoformat() if e.stop else "ongoing",
            e.weeks,
            _usd(e.lost_revenue_usd),
        ]
        rows.append([e.run_id, *row] if rep.batch else row)
    alt = "Rationing episodes: weeks each lab paused paid sign-ups and rate-limited its API."
    if rep.batch:
        alt += f" Episodes of {rep.n_runs} runs overlaid: darker means in more runs."
    total = sum(e.lost_revenue_usd for e in episodes)
    return (
        _img(rep, "rationing.png", fig, alt)
        + f"<p>{len(episodes)} episode{'s' if len(episodes) != 1 else ''}; "
        f"lost revenue {escape(_usd(total))} in all.</p>" + _table(headers, rows, numeric)
    )


def _trace_html(links: Sequence[Link]) -> str:
    items = []
    for link in links:
        q = abs(link.quantity)
        qty = f"{link.quantity:,.2f}" if q < 10 else f"{link.quantity:,.0f}"
        detail = f' <span class="detail">{escape(link.detail)}</span>' if link.detail else ""
        items.append(
            f'<li style="margin-left:{1.5 * link.depth:g}em">'
            f'<span class="date">{escape(link.date)}</span> <b>{escape(link.agent)}</b>: '
            f'{escape(link.what)} <span class="qty">[{escape(qty)}]</span>{detail}</li>'
        )
    return f'<ul class="trace">{"".join(items)}</ul>'


def _top_section(rep: _Report, top: int) -> str:
    con = rep.con
    rows = con.execute(
        "SELECT agent, any_value(family), any_value(region), avg(shortage_ratio), "
        "max(shortage_ratio) FROM agents WHERE shortage_ratio IS NOT NULL "
        "GROUP BY agent ORDER BY 4 DESC, agent LIMIT ?",
        [max(0, top)],
    ).fetchall()
    if not rows:
        return "<p>No agent has a shortage ratio in these runs.</p>"
    summary = _table(
        ("#", "agent", "family", "region", "mean shortage", "peak shortage"),
        ([i + 1, a, f, r, _num(m, 3), _num(p, 3)] for i, (a, f, r, m, p) in enumerate(rows)),
        (True, False, False, False, True, True),
    )
    parts = [
        f"<p>The {len(rows)} agent{'s' if len(rows) != 1 else ''} with the highest mean "
        f"shortage ratio{' over all runs' if rep.batch else ''}, each traced from the week "
        "it was most short up its supply chain.</p>",
        summary,
    ]
    for agent, family, region, mean, _ in rows:
        run_id = _value(
            con,
            "SELECT run_id FROM agents WHERE agent = ? AND shortage_ratio IS NOT NULL "
            "GROUP BY run_id ORDER BY avg(shortage_ratio) DESC, run_id LIMIT 1",
            [agent],
        )
        where = f" (traced in {run_id})" if rep.batch else ""
        parts.append(
            f"<h3>{escape(agent)} <small>{escape(family)} · {escape(region)} · mean "
            f"{escape(_num(mean, 3))}{escape(where)}</small></h3>"
        )
        try:
            links = trace(con, agent, run_id=run_id)
        except (duckdb.Error, ValueError, TypeError) as exc:
            parts.append(f'<p class="error">No trace: {escape(exc)}</p>')
            continue
        parts.append(_trace_html(links))
        parts.append(
            f"<details><summary>as text</summary><pre>{escape(format_trace(links))}</pre></details>"
        )
    return "".join(parts)


# ------------------------------------------------------------------ page


SECTIONS = (
    ("runs", "Runs"),
    ("shortage-heatmap", "Shortage heat map"),
    ("flows", "Flows by region"),
    ("denials", "Denied units by rule"),
    ("rationing", "Rationing episodes"),
    ("top-shortages", "Agents most short, and why"),
)
"""Section ids (stable anchors) and titles, in page order."""


def write_report(
    out: str | Path,
    dest: str | Path | None = None,
    top: int = 5,
    scenarios: Sequence[str] | None = None,
    runs: Sequence[str] | None = None,
) -> Path:
    """Write an HTML report of the run or batch in ``out``.

    A batch's figures are means over its runs; runs of several scenarios are
    pooled only with a warning at the top of the page and in every mean's
    note (select one with ``scenarios``).

    Args:
        out: A run folder or a batch folder holding runs below it.
        dest: Folder for ``index.html`` and the charts (default ``<out>/report``).
        top: How many of the agents most short to list and trace.
        scenarios: Report only the runs of these scenarios.
        runs: Report only these run ids.

    Returns:
        The path of ``index.html``.

    Raises:
        ResultsError: when ``out`` is missing or holds no readable run.
    """
    out = Path(out)
    con = connect(out, scenarios=scenarios, runs=runs)
    try:
        n_runs = _value(con, "SELECT count(*) FROM runs")
        names = [
            str(r[0])
            for r in con.execute("SELECT DISTINCT scenario FROM runs ORDER BY 1").fetchall()
        ]
        rep = _Report(con, n_runs, scenarios=names)
        bodies = {
            "runs": _runs_section(rep),
            "shortage-heatmap": _heatmap_section(rep),
            "flows": _flows_section(rep),
            "denials": _denials_section(rep),
            "rationing": _rationing_section(rep),
            "top-shortages": _top_section(rep, top),
        }
        scenarios = [
            r[0] for r in con.execute("SELECT DISTINCT scenario FROM runs ORDER BY 1").fetchall()
        ]
    finally:
        con.close()

    title = f"GPU supply chain report: {', '.join(str(s) for s in scenarios)}"
    nav = "".join(f'<a href="#{sid}">{escape(name)}</a>' for sid, name in SECTIONS)
    sections = "".join(
        f'<section><h2 id="{sid}">{escape(name)}</h2>{bodies[sid]}</section>'
        for sid, name in SECTIONS
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>Results in <code>{escape(out)}</code>: {n_runs} "
        f"run{'s' if n_runs != 1 else ''}.</p>{_pool_warning(rep)}<nav>{nav}</nav>{sections}"
        "</body></html>\n"
    )

    dest = Path(dest) if dest is not None else out / "report"
    dest.mkdir(parents=True, exist_ok=True)
    for name in CHARTS:
        if name not in rep.charts:
            (dest / name).unlink(missing_ok=True)
    for name, data in rep.charts.items():
        atomic_write_bytes(dest / name, data)
    index = dest / "index.html"
    atomic_write_bytes(index, page.encode("utf-8"))
    return index
