"""Compare the baseline with the historical targets of shared/data/README.md (not a fit).

Run: .venv/bin/python scripts/baseline_vs_history.py [--seeds 5]
Prints, for each target, what history says and the model's median over seeds 1..N.
The calibration issue replaces this with `abm validate`; until then this is how
the README's "how close the baseline is" table is produced.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import date, timedelta

from abm.model import SupplyChainModel


def _mean(values, days, a, b):
    sel = [v for v, d in zip(values, days, strict=True) if a <= d < b]
    return sum(sel) / len(sel) if sel else float("nan")


def measure(seed: int) -> dict[str, float | str]:
    m = SupplyChainModel.from_scenario("baseline", seed=seed).run()
    days = [m.spec.start_date + timedelta(weeks=i) for i in range(m.steps)]
    lt = m.metrics.series("lead_time_weeks", "Nvidia")
    rent = m.metrics.series("rental_price_usd_per_gpu_hour", "US")
    prod = m.metrics.series("production_units", "Nvidia")
    paused = m.metrics.series("signups_paused", "OpenAI")
    cowos = m.metrics.series("supplier_capacity", "TSMC CoWoS")
    world = m.metrics.series("compute_stock_h100e", "world")
    d = date
    out: dict[str, float | str] = {
        "lead 2022 max": max(v for v, x in zip(lt, days, strict=True) if x.year == 2022),
        "lead 2023-Q4": _mean(lt, days, d(2023, 10, 1), d(2024, 1, 1)),
        "lead 2024-Q2": _mean(lt, days, d(2024, 4, 1), d(2024, 7, 1)),
        "rent 2023": _mean(rent, days, d(2023, 1, 1), d(2024, 1, 1)),
        "rent 2024-Q4": _mean(rent, days, d(2024, 10, 1), d(2025, 1, 1)),
        "rent 2025-Q4": _mean(rent, days, d(2025, 10, 1), d(2026, 1, 1)),
        "rent 2026-H2": _mean(rent, days, d(2026, 7, 1), d(2027, 1, 1)),
    }
    for y in (2022, 2023, 2024):
        out[f"Nvidia units {y}"] = sum(v for v, x in zip(prod, days, strict=True) if x.year == y)
    out["Nvidia units 2024-Q4..2025-Q3"] = _mean(prod, days, d(2024, 10, 1), d(2025, 10, 1)) * 52
    after = [(x, v) for v, x in zip(paused, days, strict=True) if x >= d(2023, 11, 6)]
    first = next((x for x, v in after if v > 0.5), None)
    out["DevDay: weeks to pause"] = (first - d(2023, 11, 6)).days / 7 if first else float("nan")
    if first:
        resume = next((x for x, v in after if x > first and v < 0.5), None)
        out["DevDay: weeks paused"] = (resume - first).days / 7 if resume else float("nan")
    for y in (2023, 2024, 2025):
        i = max(i for i, x in enumerate(days) if x.year == y)
        out[f"CoWoS end-{y} (k wafers/month)"] = cowos[i] * 52 / 12 / 1000
    out["world compute end-2024 (M H100e)"] = world[min(len(world) - 1, 156)] / 1e6
    shortage = [m.metrics.series("shortage_ratio", r) for r in ("US", "CN")]
    out["US/CN shortage 2025 (mean)"] = "{:.2f} / {:.2f}".format(
        *[_mean(s, days, d(2025, 1, 1), d(2026, 1, 1)) for s in shortage]
    )
    out["exits"] = sum(1 for e in m.events.columns["event"] if e == "exit")
    return out


HISTORY = {
    "lead 2022 max": "~24-27 wk, all chips (F148)",
    "lead 2023-Q4": ">= 36 wk (F083)",
    "lead 2024-Q2": "<= 12 wk (F084)",
    "rent 2023": "~8 USD/h (F132)",
    "rent 2024-Q4": "< 2 (F133)",
    "rent 2025-Q4": "~1.70 (F134)",
    "rent 2026-H2": "rebound, ~2.35 in Mar-26 (F134)",
    "Nvidia units 2022": "2.64M all DC GPUs (F059)",
    "Nvidia units 2023": "3.76M all DC GPUs (F060)",
    "Nvidia units 2024": "~4M+ Hopper (F063)",
    "Nvidia units 2024-Q4..2025-Q3": "~6M Blackwell (F065)",
    "DevDay: weeks to pause": "~1 (F096)",
    "DevDay: weeks paused": "~4 (F096, recalled)",
    "CoWoS end-2023 (k wafers/month)": "~15 (F071)",
    "CoWoS end-2024 (k wafers/month)": "32-40 (F072)",
    "CoWoS end-2025 (k wafers/month)": "65-80 (F073)",
    "world compute end-2024 (M H100e)": "~4 Nvidia, early 2025 (F112)",
    "US/CN shortage 2025 (mean)": "both rationing (F106, F124, F125)",
    "exits": "no major lab exited",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    runs = [measure(s) for s in range(1, args.seeds + 1)]
    print(f"| measure | history | model, median of seeds 1-{args.seeds} |")
    print("|---|---|---|")
    for key, hist in HISTORY.items():
        vals = [r[key] for r in runs if key in r]
        if not vals:
            value = "n/a"
        elif isinstance(vals[0], str):
            value = sorted(vals)[len(vals) // 2]
        else:
            med = statistics.median(vals)
            value = f"{med / 1e6:.2f}M" if "units" in key else f"{med:.2f}".rstrip("0").rstrip(".")
        print(f"| {key} | {hist} | {value} |")


if __name__ == "__main__":
    main()
