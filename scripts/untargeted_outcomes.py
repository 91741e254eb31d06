"""What the calibrated baseline does that it was not fitted to: figures against facts.

Run: .venv/bin/python scripts/untargeted_outcomes.py OUT
where OUT is a folder written by `abm validate` (or any batch of baseline runs).
Prints, for each outcome, the fact it is compared with and the model's median and
5-95 % range over the runs. None of these enter scenarios/targets.yaml.
"""

from __future__ import annotations

import argparse

import numpy as np

from abm.analysis.logs import connect

# (label, fact, SQL giving one value per run_id)
OUTCOMES = [
    (
        "Nvidia units shipped to China in 2024",
        "~1M H20 sold to China in 2024 (F090)",
        "select run_id, sum(value) v from metrics where name = 'shipments_units' "
        "and scope = 'Nvidia:CN' and year(date) = 2024 group by run_id",
    ),
    (
        "China's share of Nvidia's revenue, Feb 2024 - Jan 2025",
        "~13 % (China incl. Hong Kong in Nvidia's FY2025 10-K; recalled, not in facts.csv)",
        "select run_id, sum(value) filter (where scope = 'Nvidia:CN') / sum(value) v "
        "from metrics where name = 'vendor_revenue_usd' and scope like 'Nvidia:%' "
        "and date >= '2024-01-29' and date < '2025-01-27' group by run_id",
    ),
    (
        "Nvidia data-centre GPU revenue, Feb 2024 - Jan 2025 (USD bn)",
        "115.2 data-centre revenue incl. networking (F068)",
        "select run_id, sum(value) / 1e9 v from metrics where name = 'vendor_revenue_usd' "
        "and scope like 'Nvidia:%' and date >= '2024-01-29' and date < '2025-01-27' "
        "group by run_id",
    ),
    (
        "Nvidia data-centre GPU revenue, Feb 2025 - Jan 2026 (USD bn)",
        "193.7 data-centre revenue incl. networking (F069)",
        "select run_id, sum(value) / 1e9 v from metrics where name = 'vendor_revenue_usd' "
        "and scope like 'Nvidia:%' and date >= '2025-01-27' and date < '2026-01-26' "
        "group by run_id",
    ),
    (
        "TSMC CoWoS utilisation in 2025",
        "sold out through 2025 (F072-F073, F080)",
        "select run_id, avg(utilisation) v from agents where agent = 'TSMC CoWoS' "
        "and year(date) = 2025 group by run_id",
    ),
    (
        "TSMC-made dies reaching Huawei through fronts, 2022-2026",
        "> 2,000,000 dies (F086)",
        "select r.run_id, coalesce(sum(e.quantity), 0) v from runs r left join events e "
        "on e.run_id = r.run_id and e.event = 'front_delivery' group by r.run_id",
    ),
    (
        "Hopper-class units delivered to Microsoft in 2024",
        "485k (F107)",
        "select run_id, sum(quantity) v from events where event = 'shipment' "
        "and agent = 'Nvidia' and counterparty = 'Microsoft Azure' and year(date) = 2024 "
        "and product in ('H100', 'H200', 'H800', 'H20') group by run_id",
    ),
    (
        "Installed compute, world, Feb 2025 (M H100e)",
        "~4M H100e of Nvidia compute (F112)",
        "select run_id, avg(value) / 1e6 v from metrics where name = 'compute_stock_h100e' "
        "and scope = 'world' and date >= '2025-02-01' and date < '2025-03-01' group by run_id",
    ),
    (
        "Huawei packaged Ascend units in 2025",
        "~300k 910C (F087); ~1.0M Ascend dies (F088)",
        "select run_id, sum(value) v from metrics where name = 'production_units' "
        "and scope = 'Huawei' and year(date) = 2025 group by run_id",
    ),
    (
        "TSMC CoWoS capacity end-2024 (k wafers/month)",
        "32-40k (F072)",
        "select run_id, last(value order by step) * 52 / 12 / 1000 v from metrics "
        "where name = 'supplier_capacity' and scope = 'TSMC CoWoS' and year(date) = 2024 "
        "group by run_id",
    ),
    (
        "TSMC CoWoS capacity end-2025 (k wafers/month)",
        "65-80k (F073)",
        "select run_id, last(value order by step) * 52 / 12 / 1000 v from metrics "
        "where name = 'supplier_capacity' and scope = 'TSMC CoWoS' and year(date) = 2025 "
        "group by run_id",
    ),
    (
        "China's domestic share of accelerator units bought in 2025",
        "2 of 22 notable PRC models trained on Chinese chips by mid-2025 (F139)",
        "select run_id, avg(value) v from metrics where name = 'cn_domestic_share_units' "
        "and year(date) = 2025 group by run_id",
    ),
    (
        "Units diverted to China by brokers, 2022-2026",
        "no count published; >2M TSMC dies reached Huawei through shell firms (F086)",
        "select run_id, sum(value) v from metrics where name = 'diverted_units' "
        "and scope = 'CN' group by run_id",
    ),
    (
        "Major labs that exit",
        "none (2022-2026)",
        "select r.run_id, count(e.event) v from runs r left join events e "
        "on e.run_id = r.run_id and e.event = 'exit' group by r.run_id",
    ),
]


def _fmt(x: float) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.0f}k"
    if abs(x) < 1:
        return f"{x:.3f}"
    return f"{x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="a folder of baseline runs (e.g. written by abm validate)")
    args = ap.parse_args()
    con = connect(args.out)
    n = con.execute("select count(*) from runs").fetchall()[0][0]
    print(f"| outcome (not fitted) | fact | model median [5-95 %], {n} runs |")
    print("|---|---|---|")
    for label, fact, sql in OUTCOMES:
        values = np.array([r[1] for r in con.execute(sql).fetchall()], dtype=float)
        lo, med, hi = np.quantile(values, [0.05, 0.5, 0.95])
        print(f"| {label} | {fact} | {_fmt(med)} [{_fmt(lo)} - {_fmt(hi)}] |")


if __name__ == "__main__":
    main()
