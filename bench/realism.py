"""Realism figures of the baseline and its counterfactuals, from run files by SQL.

Runs the baseline and ``no_controls`` for the given seeds (in-process, into a
temporary folder unless ``--out`` is given) and prints, per seed and year, the
figures the realism issues are judged on. Every figure is one DuckDB query
over the run's Parquet files; ``--show-sql`` prints the queries, which work
unchanged with ``abm logs RUN query``.

    .venv/bin/python bench/realism.py --seeds 1 2 3
    .venv/bin/python bench/realism.py --seeds 1 --out /tmp/realism --show-sql
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from abm.analysis.logs import connect
from abm.engine.model import SupplyChainModel
from abm.runs.outputs import write_run

YEARS = (2022, 2023, 2024, 2025, 2026)


def _starvation(window: str, starved: str) -> str:
    """The longest run of weeks a buyer was starved of a product, by ``starved``.

    ``window`` completes the per-week sums over each vendor's product (``shipped``
    and any more); ``starved`` is the condition on one buyer's week.
    """
    return f"""
        with a as (
          select agent as vendor, counterparty as buyer, product, step,
                 cast(regexp_extract(detail, 'asked (\\d+)', 1) as bigint) as asked,
                 cast(regexp_extract(detail, 'given (\\d+)', 1) as bigint) as given,
                 cast(regexp_extract(detail, 'scheduled (\\d+)', 1) as bigint) as later
          from events where event = 'allocation'),
        w as (select *, sum(given) over (partition by vendor, product, step) as {window}),
        z as (select *, {starved} as starved from w),
        g as (select *, step - row_number() over (partition by vendor, product, buyer
                                                 order by step) as grp
              from z where starved)
        select vendor, buyer, product, count(*) as weeks, min(step) as first_step
        from g group by vendor, buyer, product, grp order by weeks desc limit 1"""


QUERIES: dict[str, str] = {
    # units packaged per year, per vendor
    "units": """
        select scope as vendor, year(date) as y, sum(value) as units
        from metrics where name = 'production_units' group by all""",
    # vendor revenue per year, total and China
    "revenue": """
        select split_part(scope, ':', 1) as vendor, year(date) as y,
               sum(value) as usd, sum(value) filter (where scope like '%:CN') as cn_usd
        from metrics where name = 'vendor_revenue_usd' group by all""",
    # China's domestic share of units delivered (mean of the weekly metric over the year)
    "cn_domestic_share": """
        select year(date) as y, avg(value) as share
        from metrics where name = 'cn_domestic_share_units' group by all""",
    # utilisation of packaging and HBM capacity, mean per year
    "utilisation": """
        select agent, year(date) as y, avg(utilisation) as u
        from agents where agent in ('TSMC CoWoS', 'SK Hynix', 'Samsung', 'TSMC', 'SMIC',
                                    'SJSemi', 'CXMT')
        group by all""",
    # installed compute per region at the last week of each year
    "compute": """
        select scope as region, year(date) as y, arg_max(value, date) as h100e
        from metrics where name = 'compute_stock_h100e' and scope in ('CN', 'US', 'ROW')
        group by all""",
    # mean shortage of the Chinese labs per year
    "cn_lab_shortage": """
        select year(date) as y, avg(shortage_ratio) as short
        from agents where family = 'lab' and region = 'CN' group by all""",
    # Nvidia's H100 queue by quarter, in weeks of the 13-week H100 shipment rate: what is
    # due (the quote's basis) and every open order, due or scheduled
    "h100_queue": """
        with a as (
          select step, date,
                 sum(cast(regexp_extract(detail, 'asked (\\d+)', 1) as bigint) - quantity)
                   as due_left,
                 sum(cast(regexp_extract(detail, 'scheduled (\\d+)', 1) as bigint)) as later,
                 sum(quantity) as shipped
          from events where event = 'allocation' and agent = 'Nvidia' and product = 'H100'
          group by all),
        b as (select *, avg(shipped) over (order by step rows between 12 preceding
                                           and current row) as rate from a)
        select year(date) || 'Q' || quarter(date) as q,
               avg(due_left / nullif(rate, 0)) as due_weeks,
               avg((due_left + later) / nullif(rate, 0)) as all_weeks
        from b group by all order by q""",
    # longest run of weeks a buyer with open orders of a product got none while others got some
    "starved_any": _starvation(
        "shipped from a",
        "asked + later > 0 and given = 0 and shipped > given",
    ),
    # a buyer gets none of a product while the vendor ships orders of the same standing to
    # others: due orders while others' due orders ship, or orders scheduled for later while
    # others' scheduled orders ship early
    "starved": _starvation(
        """shipped,
                        sum(greatest(given - asked, 0))
                          over (partition by vendor, product, step) as early
              from a""",
        "given = 0 and ((asked > 0 and shipped > 0) or (later > 0 and early > 0))",
    ),
}


def run_into(name: str, seed: int, out: Path) -> Path:
    """Run a library scenario for ``seed`` into ``out/name-sSEED`` (reused if already there)."""
    folder = out / f"{name}-s{seed}"
    if not (folder / "manifest.json").exists():
        model = SupplyChainModel.from_scenario(name, seed=seed).run()
        folder.mkdir(parents=True, exist_ok=True)
        write_run(model, folder, datetime(2000, 1, 1, tzinfo=UTC))
    return folder


def by_year(con: duckdb.DuckDBPyConnection, key: str, where: str = "") -> dict:
    """Rows of a query as {(group..., year): value}."""
    rows = con.execute(f"select * from ({QUERIES[key]}) {where}").fetchall()
    return {tuple(r[:-1]): r[-1] for r in rows}


def fmt(values: list[float | None], scale: float = 1.0, digits: int = 2) -> str:
    """Values of the years, scaled, joined."""
    return " ".join("    -" if v is None else f"{v / scale:5.{digits}f}" for v in values)


def report(base: Path, noc: Path) -> list[str]:
    """Lines of figures for one seed's baseline and no-controls runs."""
    b, n = connect(base), connect(noc)
    lines = [f"{'':34}" + " ".join(f"{y:>5}" for y in YEARS)]
    units = by_year(b, "units")
    for v in ("Nvidia", "AMD", "Huawei", "Cambricon"):
        lines.append(f"{v + ' units (M)':34}" + fmt([units.get((v, y)) for y in YEARS], 1e6))
    rev = b.execute(f"select vendor, y, usd, cn_usd from ({QUERIES['revenue']})").fetchall()
    rv = {(r[0], r[1]): (r[2], r[3]) for r in rev}
    nv = [rv.get(("Nvidia", y), (None, None)) for y in YEARS]
    lines.append(f"{'Nvidia revenue ($B)':34}" + fmt([t for t, _ in nv], 1e9, 1))
    lines.append(f"{'Nvidia revenue China ($B)':34}" + fmt([c for _, c in nv], 1e9, 1))
    share = by_year(b, "cn_domestic_share")
    lines.append(f"{'CN domestic share of units':34}" + fmt([share.get((y,)) for y in YEARS]))
    util = by_year(b, "utilisation")
    for a in ("TSMC CoWoS", "SK Hynix", "Samsung", "TSMC", "SMIC", "SJSemi", "CXMT"):
        lines.append(f"{a + ' utilisation':34}" + fmt([util.get((a, y)) for y in YEARS]))
    cb, cn = by_year(b, "compute"), by_year(n, "compute")
    lines.append(
        f"{'CN compute, baseline (M H100e)':34}" + fmt([cb.get(("CN", y)) for y in YEARS], 1e6)
    )
    lines.append(
        f"{'CN compute, no_controls (M)':34}" + fmt([cn.get(("CN", y)) for y in YEARS], 1e6)
    )
    ratio = [cn[("CN", y)] / cb[("CN", y)] if cb.get(("CN", y)) else None for y in YEARS]
    lines.append(f"{'CN compute no_controls/baseline':34}" + fmt(ratio))
    lines.append(
        f"{'US compute, baseline (M H100e)':34}" + fmt([cb.get(("US", y)) for y in YEARS], 1e6)
    )
    sb, sn = by_year(b, "cn_lab_shortage"), by_year(n, "cn_lab_shortage")
    lines.append(f"{'CN lab shortage, baseline':34}" + fmt([sb.get((y,)) for y in YEARS]))
    lines.append(f"{'CN lab shortage, no_controls':34}" + fmt([sn.get((y,)) for y in YEARS]))
    queue = {q: (d, a) for q, d, a in b.execute(QUERIES["h100_queue"]).fetchall()}
    for q in ("2023Q4", "2024Q2"):
        d, a = queue.get(q, (None, None))
        if d is not None:
            lines.append(
                f"H100 queue {q}: {d:.1f} weeks due, {a:.1f} weeks counting scheduled orders"
            )
    for label, con in (("baseline", b), ("no_controls", n)):
        for key, what in (("starved", "orders of equal standing"), ("starved_any", "any order")):
            row = con.execute(QUERIES[key]).fetchone()
            text = (
                "none"
                if row is None
                else f"{row[1]} on {row[0]} {row[2]}: {row[3]} weeks from step {row[4]}"
            )
            lines.append(f"longest starvation ({what}), {label}: {text}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--out", type=Path, help="keep the run folders here (reused if present)")
    ap.add_argument("--show-sql", action="store_true")
    args = ap.parse_args()
    if args.show_sql:
        for k, q in QUERIES.items():
            print(f"-- {k}\n{q.strip()};\n")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for seed in args.seeds:
            base = run_into("baseline", seed, out)
            noc = run_into("no_controls", seed, out)
            print(f"== seed {seed}")
            print("\n".join(report(base, noc)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
