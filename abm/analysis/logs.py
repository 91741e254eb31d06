"""Agent logs: open a run or a batch folder with DuckDB, summarise, query, trace.

A results folder is either one run (``manifest.json`` with ``metrics.parquet``,
``events.parquet``, ``agents.parquet``) or any folder holding such runs below
it (a batch). :func:`connect` opens an in-memory DuckDB database with four
read-only views over the Parquet files: ``events``, ``metrics``, ``agents`` and
``runs`` (one row per manifest). :func:`query` accepts only statements that
read (``SELECT``, ``WITH``, ``DESCRIBE``…); anything that writes is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

TABLES = ("metrics.parquet", "events.parquet", "agents.parquet")
READ_ONLY = {"SELECT", "EXPLAIN"}
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("scenario", pa.string()),
        ("seed", pa.int64()),
        ("status", pa.string()),
        ("weeks_run", pa.int64()),
        ("start_date", pa.string()),
        ("end_date", pa.string()),
        ("scenario_hash", pa.string()),
        ("git_commit", pa.string()),
        ("path", pa.string()),
    ]
)
EDGES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("supplier", pa.string()),
        ("buyer", pa.string()),
        ("kind", pa.string()),
    ]
)


class ResultsError(ValueError):
    """A results folder that cannot be read; the message says which file and why."""


def find_runs(out: str | Path) -> list[Path]:
    """Run folders under ``out`` (``out`` itself if it is one), sorted.

    Raises:
        ResultsError: when the folder is missing, holds no run, or a run
            misses a file or has a manifest that is not valid JSON.
    """
    out = Path(out)
    if not out.exists():
        raise ResultsError(f"{out}: no such results folder")
    if not out.is_dir():
        raise ResultsError(f"{out}: not a folder (expected a run or batch output folder)")
    runs = sorted(
        m.parent
        for m in out.rglob("manifest.json")
        if not _is_batch_manifest(m)
        and not any(p.startswith(".") for p in m.parent.relative_to(out).parts)
    )
    if not runs:
        raise ResultsError(
            f"{out}: no run found (expected manifest.json with {', '.join(TABLES)}; "
            "run `abm run SCENARIO --out DIR` first)"
        )
    for run in runs:
        for name in TABLES:
            if not (run / name).is_file():
                raise ResultsError(f"{run / name}: missing (the run folder is incomplete)")
        try:
            json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultsError(f"{run / 'manifest.json'}: not valid JSON ({exc})") from None
    return runs


def _is_batch_manifest(path: Path) -> bool:
    """True for the manifest of a batch folder (it lists runs; it is not a run)."""
    if (path.parent / "events.parquet").exists():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return False
    return isinstance(data, dict) and "spec_hash" in data and "runs" in data


def _runs_table(runs: Sequence[Path]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        rows.append(
            {
                "run_id": m.get("run_id"),
                "scenario": m.get("scenario"),
                "seed": m.get("seed"),
                "status": m.get("status"),
                "weeks_run": m.get("weeks_run"),
                "start_date": m.get("start_date"),
                "end_date": m.get("end_date"),
                "scenario_hash": m.get("scenario_hash"),
                "git_commit": m.get("git_commit"),
                "path": str(run),
            }
        )
    return rows


def connect(out: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views ``events``, ``metrics``, ``agents``, ``runs``."""
    runs = find_runs(out)
    con = duckdb.connect(":memory:")
    for name in TABLES:
        files = [str(r / name) for r in runs]
        view = name.removesuffix(".parquet")
        try:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            con.execute(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{listed}], "
                "union_by_name = true)"
            ).fetchall()
            con.execute(f"SELECT * FROM {view} LIMIT 0").fetchall()
        except duckdb.Error as exc:
            raise ResultsError(f"{out}: cannot read {name} ({exc})") from None
    rows = _runs_table(runs)
    runs_table = pa.Table.from_pylist(rows, schema=RUNS_SCHEMA)
    edges = []
    for run, row in zip(runs, rows, strict=True):
        m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        edges += [
            {"run_id": row["run_id"], "supplier": a, "buyer": b, "kind": k}
            for a, b, k in m.get("supply_edges", [])
        ]
    edges_table = pa.Table.from_pylist(edges, schema=EDGES_SCHEMA)
    con.register("runs_arrow", runs_table)
    con.register("edges_arrow", edges_table)
    con.execute("CREATE TABLE runs AS SELECT * FROM runs_arrow").fetchall()
    con.execute("CREATE TABLE edges AS SELECT * FROM edges_arrow").fetchall()
    con.unregister("runs_arrow")
    con.unregister("edges_arrow")
    return con


class QueryRefused(ValueError):
    """A statement that would write, or more than one statement."""


def query(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    """Run one read-only statement over the views.

    Raises:
        QueryRefused: for anything but a single SELECT/WITH/DESCRIBE/EXPLAIN.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"cannot parse the query: {exc}") from None
    if len(statements) != 1:
        raise QueryRefused(f"expected one statement, got {len(statements)}")
    kind = str(statements[0].type).removeprefix("StatementType.")
    if kind not in READ_ONLY:
        raise QueryRefused(f"{kind} statements are refused: queries over logs are read-only")
    return con.sql(sql)


def summary(con: duckdb.DuckDBPyConnection, by: str = "family") -> duckdb.DuckDBPyRelation:
    """Counts and volumes by event type, per ``agent``, ``family`` or ``region``.

    Volumes are summed ``quantity`` (units for orders, shipments, deliveries,
    denials; H100e or USD where the event says so — see ``EVENT_TYPES``).
    """
    if by not in ("agent", "family", "region"):
        raise ValueError("by must be agent, family or region")
    return con.sql(
        f"SELECT {by}, event, count(*) AS events, sum(quantity) AS quantity, "
        f"count(DISTINCT run_id) AS runs FROM events GROUP BY {by}, event "
        f"ORDER BY {by}, events DESC"
    )


# ------------------------------------------------------------------ trace


@dataclass(frozen=True)
class Link:
    """One hop of a shortage explanation.

    Attributes:
        date: When it happened (or the week looked at).
        agent: Who it is about.
        what: What happened, in a few words.
        quantity: The quantity involved (units, H100e or share; see ``what``).
        detail: Further detail (asked/given, binding constraint, rule id...).
        depth: Hops from the agent being traced.
    """

    date: date
    agent: str
    what: str
    quantity: float
    detail: str
    depth: int


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> Any:
    rows = con.execute(sql, params).fetchall()  # fetch all: no unfinished result left behind
    return rows[0] if rows else None


def trace(
    con: duckdb.DuckDBPyConnection,
    agent: str,
    at: date | None = None,
    run_id: str | None = None,
    window_weeks: int = 26,
) -> list[Link]:
    """Explain why ``agent`` was short, hop by hop up the supply chain.

    From the agent's shortage at ``at`` (default: the week it was most
    short) the walk follows where its compute should have come from: a
    renting lab or an enterprise to its region's rental market and the
    clouds in it; a buyer of GPUs to the orders it placed in the preceding
    ``window_weeks``, what each vendor allocated or refused and why (the
    binding constraint or the control rule); a vendor to the supplier of its
    binding constraint (packaging, HBM or wafers) and that supplier's
    capacity, shocks and backlog.

    Returns:
        The chain of links, the traced agent first.

    Raises:
        ResultsError: when the agent or run is unknown.
    """
    run_id = run_id or _one(con, "SELECT min(run_id) FROM runs", [])[0]
    who = _one(
        con,
        "SELECT family, region FROM agents WHERE run_id = ? AND agent = ? LIMIT 1",
        [run_id, agent],
    )
    if who is None:
        raise ResultsError(f"no agent named {agent!r} in run {run_id!r}")
    family, region = who
    if at is None:
        row = _one(
            con,
            "SELECT date FROM agents WHERE run_id = ? AND agent = ? "
            "ORDER BY shortage_ratio DESC NULLS LAST, step LIMIT 1",
            [run_id, agent],
        )
        at = row[0]
    else:
        row = _one(
            con,
            "SELECT max(date) FROM agents WHERE run_id = ? AND agent = ? AND date <= ?",
            [run_id, agent, at],
        )
        at = row[0] or at
    links: list[Link] = []
    state = _one(
        con,
        "SELECT shortage_ratio, demand_h100e, compute_h100e, rented_h100e FROM agents "
        "WHERE run_id = ? AND agent = ? AND date = ?",
        [run_id, agent, at],
    )
    shortage, demand, compute, rented = state or (None, None, None, None)
    links.append(
        Link(
            at,
            agent,
            f"{family} in {region} short",
            shortage or 0.0,
            _describe_need(demand, compute, rented),
            0,
        )
    )
    since = at - timedelta(weeks=window_weeks)
    if family in ("lab", "enterprise"):
        _trace_rental(con, run_id, region, at, since, links)
    if family in ("cloud", "lab", "broker"):
        _trace_orders(con, run_id, agent, at, since, links, depth=1)
    if family == "vendor":
        _trace_vendor(con, run_id, agent, at, since, links, depth=1)
    if family in ("foundry", "packager", "memory"):
        _trace_supplier(con, run_id, agent, at, since, links, depth=1)
    return links


def _describe_need(demand: Any, compute: Any, rented: Any) -> str:
    parts = []
    if demand is not None:
        parts.append(f"wanted {demand:,.0f} H100e")
    if compute is not None:
        parts.append(f"owns/served {compute:,.0f} H100e")
    if rented:
        parts.append(f"rented {rented:,.0f} H100e")
    return "; ".join(parts)


def _trace_rental(con, run_id, region, at, since, links) -> None:
    row = _one(
        con,
        "SELECT value FROM metrics WHERE run_id = ? AND name = 'rental_utilisation' "
        "AND scope = ? AND date = ?",
        [run_id, region, at],
    )
    price = _one(
        con,
        "SELECT value FROM metrics WHERE run_id = ? AND name = 'rental_price_usd_per_gpu_hour' "
        "AND scope = ? AND date = ?",
        [run_id, region, at],
    )
    links.append(
        Link(
            at,
            f"{region} rental market",
            "cloud capacity rented out",
            row[0] if row else 0.0,
            f"price {price[0]:.2f} USD/H100e-hour" if price else "",
            1,
        )
    )
    clouds = con.execute(
        "SELECT agent, compute_h100e, shortage_ratio FROM agents WHERE run_id = ? "
        "AND family = 'cloud' AND region = ? AND date = ? ORDER BY compute_h100e DESC",
        [run_id, region, at],
    ).fetchall()
    for cloud, compute, _ in clouds[:3]:
        links.append(Link(at, cloud, "cloud fleet", compute or 0.0, "H100e installed", 2))
        _trace_orders(con, run_id, cloud, at, since, links, depth=3, limit=2)


def _trace_orders(con, run_id, buyer, at, since, links, depth, limit=3) -> None:
    rows = con.execute(
        "SELECT counterparty, sum(quantity) FROM events WHERE run_id = ? AND agent = ? "
        "AND event = 'order' AND date BETWEEN ? AND ? GROUP BY counterparty "
        "ORDER BY 2 DESC",
        [run_id, buyer, since, at],
    ).fetchall()
    for vendor, ordered in rows[:limit]:
        got = _one(
            con,
            "SELECT coalesce(sum(quantity), 0) FROM events WHERE run_id = ? AND agent = ? "
            "AND event = 'shipment' AND counterparty = ? AND date BETWEEN ? AND ?",
            [run_id, vendor, buyer, since, at],
        )[0]
        links.append(
            Link(
                at,
                buyer,
                f"ordered from {vendor}",
                ordered,
                f"shipped {got:,.0f} units in the same {((at - since).days // 7)} weeks",
                depth,
            )
        )
        denials = con.execute(
            "SELECT rule, sum(quantity), min(date) FROM events WHERE run_id = ? AND agent = ? "
            "AND event = 'denial' AND counterparty = ? AND date BETWEEN ? AND ? GROUP BY rule",
            [run_id, vendor, buyer, since, at],
        ).fetchall()
        for rule, units, first in denials:
            links.append(Link(first, vendor, "denied by control rule", units, rule, depth + 1))
        short = _one(
            con,
            "SELECT detail, date FROM events WHERE run_id = ? AND agent = ? "
            "AND event = 'allocation' AND detail NOT LIKE '%binding: none' AND counterparty = ? "
            "AND date BETWEEN ? AND ? "
            "ORDER BY date DESC LIMIT 1",
            [run_id, vendor, buyer, since, at],
        )
        if short:
            links.append(
                Link(short[1], vendor, "allocated less than asked", 0.0, short[0], depth + 1)
            )
            _trace_vendor(con, run_id, vendor, at, since, links, depth + 2, binding=short[0])


BINDING_EDGE = {"packaging": "packaging", "hbm": "hbm", "wafer": "wafers"}
"""Supply-graph edge kind that feeds each binding constraint."""


def _trace_vendor(con, run_id, vendor, at, since, links, depth, binding: str | None = None):
    if binding is None:
        row = _one(
            con,
            "SELECT detail FROM events WHERE run_id = ? AND agent = ? AND "
            "event = 'allocation' AND detail NOT LIKE '%binding: none' AND date BETWEEN ? AND ? "
            "ORDER BY date DESC LIMIT 1",
            [run_id, vendor, since, at],
        )
        binding = row[0] if row else ""
    lead = _one(
        con,
        "SELECT value FROM metrics WHERE run_id = ? AND name = 'lead_time_weeks' "
        "AND scope = ? AND date = ?",
        [run_id, vendor, at],
    )
    constraint = binding.rsplit("binding: ", 1)[-1] if "binding: " in binding else "demand"
    links.append(
        Link(
            at,
            vendor,
            f"binding constraint: {constraint}",
            lead[0] if lead else 0.0,
            "quoted lead time, weeks",
            depth,
        )
    )
    kind = BINDING_EDGE.get(constraint)
    if kind is None:
        return
    names = [
        r[0]
        for r in con.execute(
            "SELECT supplier FROM edges WHERE run_id = ? AND buyer = ? AND kind = ? "
            "ORDER BY supplier",
            [run_id, vendor, kind],
        ).fetchall()
    ]
    for name in names:
        _trace_supplier(con, run_id, name, at, since, links, depth + 1)


def _trace_supplier(con, run_id, supplier, at, since, links, depth) -> None:
    row = _one(
        con,
        "SELECT capacity, backlog, shortage_ratio FROM agents WHERE run_id = ? AND agent = ? "
        "AND date = ?",
        [run_id, supplier, at],
    )
    if row is None:
        return
    capacity, backlog, shortage = row
    links.append(
        Link(
            at,
            supplier,
            "supplier short of capacity",
            shortage or 0.0,
            f"capacity {capacity:,.0f}/week, backlog {backlog:,.0f}",
            depth,
        )
    )
    shocks = con.execute(
        "SELECT date, quantity, detail FROM events WHERE run_id = ? AND agent = ? AND "
        "event = 'capacity_shock' AND date <= ? ORDER BY date DESC LIMIT 1",
        [run_id, supplier, at],
    ).fetchall()
    for when, factor, detail in shocks:
        links.append(Link(when, supplier, "capacity shock", factor, detail, depth + 1))


def format_trace(links: Sequence[Link]) -> str:
    """The chain as indented lines of text."""
    out = []
    for link in links:
        pad = "  " * link.depth
        q = f"{link.quantity:,.2f}" if abs(link.quantity) < 10 else f"{link.quantity:,.0f}"
        out.append(f"{pad}{link.date}  {link.agent}: {link.what} [{q}]  {link.detail}".rstrip())
    return "\n".join(out)
