"""A short, human-readable summary of a finished run (printed by ``abm run``)."""

from __future__ import annotations

from datetime import date, timedelta
from statistics import mean

from abm.engine.model import SupplyChainModel


def _window(model: SupplyChainModel, values: list[float], start: date, end: date) -> list[float]:
    s0 = model.spec.start_date
    return [v for i, v in enumerate(values) if start <= s0 + timedelta(weeks=i) <= end]


def _mean(values: list[float]) -> float | None:
    return mean(values) if values else None


def run_summary(model: SupplyChainModel) -> list[tuple[str, str]]:
    """Key figures of a run as (label, formatted value) rows."""
    ml = model.metrics
    rows: list[tuple[str, str]] = []
    rows.append(("period", f"{model.spec.start_date} to {model.date} ({model.steps} weeks)"))
    for r in ("US", "CN", "ROW"):
        stock = ml.series("compute_stock_h100e", r)
        if stock:
            rows.append((f"compute stock {r} at end", f"{stock[-1]:,.0f} H100e"))
    lead_vendor = "Nvidia" if "Nvidia" in model.cast.vendor else model.vendors[0].name
    lead = ml.series("lead_time_weeks", lead_vendor)
    if lead:
        peak = max(range(len(lead)), key=lambda i: lead[i])
        when = model.spec.start_date + timedelta(weeks=peak)
        rows.append((f"{lead_vendor} lead time peak", f"{lead[peak]:.0f} weeks on {when}"))
        for label, a, b in (
            ("2023-Q4", date(2023, 10, 1), date(2023, 12, 31)),
            ("2024-Q2", date(2024, 4, 1), date(2024, 6, 30)),
        ):
            v = _mean(_window(model, lead, a, b))
            if v is not None:
                rows.append((f"{lead_vendor} lead time {label} (mean)", f"{v:.1f} weeks"))
    price = ml.series("rental_price_usd_per_gpu_hour", "US")
    for label, a, b in (
        ("2023", date(2023, 1, 1), date(2023, 12, 31)),
        ("2024-Q4", date(2024, 10, 1), date(2024, 12, 31)),
        ("2025-Q4", date(2025, 10, 1), date(2025, 12, 31)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
    ):
        v = _mean(_window(model, price, a, b))
        if v is not None:
            rows.append((f"US rental price {label} (mean)", f"{v:.2f} USD/H100e-hour"))
    for lab in model.labs:
        paused = ml.series("signups_paused", lab.name)
        weeks = int(sum(paused))
        if weeks:
            lost = sum(ml.series("lost_revenue_usd", lab.name))
            rows.append(
                (f"{lab.name} sign-ups paused", f"{weeks} weeks; lost revenue ${lost / 1e9:.2f} bn")
            )
    for v in model.vendors:
        made = sum(ml.series("production_units", v.name))
        rows.append((f"{v.name} units produced", f"{made:,.0f}"))
    exits = [
        r
        for r, e in zip(model.events.columns["agent"], model.events.columns["event"], strict=True)
        if e == "exit"
    ]
    rows.append(("exits", ", ".join(exits) if exits else "none"))
    rows.append(("events logged", f"{len(model.events):,}"))
    return rows
