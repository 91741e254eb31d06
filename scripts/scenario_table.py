"""End-of-horizon figures of every library scenario (the README's scenario table).

Run: .venv/bin/python scripts/scenario_table.py [--seed 1]
For each scenario: China's and the US's compute stock (H100e) at the end, China's
domestic share of accelerator deliveries (trailing 52 weeks), units diverted into China
and seized (totals), units denied by controls (total), and Nvidia's quoted lead time at
the end and at its peak.
"""

from __future__ import annotations

import argparse

from abm.engine.model import SupplyChainModel
from abm.scenario import library_names


def row(name: str, seed: int) -> list[str]:
    m = SupplyChainModel.from_scenario(name, seed=seed).run()
    ml = m.metrics

    def total(metric: str, scope: str) -> float:
        return sum(ml.series(metric, scope))

    denied = sum(v for n, v in zip(ml.name, ml.value, strict=True) if n == "denied_units")
    lead = ml.series("lead_time_weeks", "Nvidia")
    return [
        name,
        f"{ml.series('compute_stock_h100e', 'CN')[-1] / 1e6:.2f}",
        f"{ml.series('compute_stock_h100e', 'US')[-1] / 1e6:.2f}",
        f"{ml.series('cn_domestic_share_units', 'CN')[-1]:.2f}",
        f"{total('diverted_units', 'CN'):,.0f}",
        f"{total('seized_units', 'CN'):,.0f}",
        f"{denied:,.0f}",
        f"{lead[-1]:.1f} / {max(lead):.1f}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    head = [
        "scenario",
        "CN compute (M H100e)",
        "US compute (M H100e)",
        "CN domestic share",
        "diverted to CN",
        "seized",
        "denied units",
        "Nvidia lead time end / peak (wk)",
    ]
    print(f"End of 2026, seed {args.seed}:\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in library_names():
        print("| " + " | ".join(row(name, args.seed)) + " |")


if __name__ == "__main__":
    main()
