"""Synthetic worlds: thousands of buyers derived from a scenario's real firms.

A scenario with ``world.synthetic`` (see :class:`abm.scenario.schema.SyntheticWorld`)
is expanded when the model is built:

* **clouds**: each real cloud is split into several clouds of its region
  (``AWS``, ``AWS #2``, ...). Its market share and its installed fleet are
  shared out by random weights (Dirichlet, whole units kept whole), so the
  region's capacity and rental demand are unchanged.
* **enterprises**: each real enterprise segment is split the same way; the
  demand paths are scaled by the weights, so aggregate enterprise demand is
  the segment's (each firm draws its own noise).
* **labs**: small labs (renting, consumer apps, no API business) are carved
  out of the real labs that rent and have no fleet: the template keeps
  ``1 - small_lab_share`` of its users, training plan, cash, funding and
  opex, its small labs share the rest. Aggregate consumer and training
  demand stay the template's.

The first piece of a split firm keeps the real name, so shocks and rules
naming it still apply; rules naming a split cloud or segment in their end
users also list every piece. Suppliers, vendors, governments and brokers
are the scenario's own. The split depends on ``synthetic.seed`` only, not on
the run's seed: every seed of a synthetic scenario runs the same world.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from abm.scenario import Scenario, SyntheticWorld

__all__ = ["expand_synthetic", "synthetic_counts"]

SHARES = {"enterprises": 0.80, "labs": 0.16, "clouds": 0.04}
"""How :func:`synthetic_counts` divides an agent total among the families."""


def synthetic_counts(total_agents: int, seed: int = 0) -> SyntheticWorld:
    """About ``total_agents`` synthetic firms: 80% enterprises, 16% small labs, 4% clouds.

    Args:
        total_agents: Agents wanted in all (the real suppliers, vendors,
            governments, brokers and labs come on top, ~30 in the baseline).
        seed: Seed of the split.
    """
    n = max(0, int(total_agents))
    return SyntheticWorld(
        enterprises=round(n * SHARES["enterprises"]),
        labs=round(n * SHARES["labs"]),
        clouds=round(n * SHARES["clouds"]),
        seed=seed,
    )


def _pieces(n_items: int, n_total: int) -> list[int]:
    """How many pieces each of ``n_items`` firms is split into (round-robin, at least one)."""
    if n_items == 0:
        return []
    n_total = max(n_total, n_items)
    base, extra = divmod(n_total, n_items)
    return [base + (1 if i < extra else 0) for i in range(n_items)]


def _weights(rng: np.random.Generator, k: int) -> np.ndarray:
    return np.ones(1) if k == 1 else rng.dirichlet(np.full(k, 2.0))


def _split_units(units: int, w: np.ndarray) -> list[int]:
    """Whole units shared by weights (largest remainder; the total is kept)."""
    exact = units * w
    out = np.floor(exact).astype(np.int64)
    left = units - int(out.sum())
    if left > 0:
        out[np.argsort(-(exact - out), kind="stable")[:left]] += 1
    return out.tolist()


def _name(name: str, j: int, small: bool = False) -> str:
    if small:
        return f"{name} small #{j + 1}"
    return name if j == 0 else f"{name} #{j + 1}"


def _scaled_path(points: list[tuple[date, float]], factor: float) -> list[tuple[date, float]]:
    return [(d, float(v) * factor) for d, v in points]


def expand_synthetic(sc: Scenario) -> Scenario:
    """The scenario with its synthetic firms built in (and ``world.synthetic`` removed).

    Returns ``sc`` itself when it has no ``world.synthetic``.
    """
    syn = sc.world.synthetic
    if syn is None:
        return sc
    rng = np.random.default_rng(syn.seed)
    raw = sc.model_dump()
    world = raw["world"]
    world["synthetic"] = None
    pieces_of: dict[str, list[str]] = {}

    clouds = []
    for c, k in zip(world["clouds"], _pieces(len(world["clouds"]), syn.clouds), strict=True):
        w = _weights(rng, k)
        fleets = [_split_units(f["units"], w) for f in c["initial_fleet"]]
        for j in range(k):
            piece = {
                **c,
                "name": _name(c["name"], j),
                "market_share": float(c["market_share"] * w[j]),
                "initial_fleet": [
                    {**f, "units": fleets[i][j]} for i, f in enumerate(c["initial_fleet"])
                ],
            }
            clouds.append(piece)
        pieces_of[c["name"]] = [_name(c["name"], j) for j in range(k)]
    world["clouds"] = clouds

    ents = []
    for e, k in zip(
        world["enterprises"], _pieces(len(world["enterprises"]), syn.enterprises), strict=True
    ):
        w = _weights(rng, k)
        for j in range(k):
            ents.append(
                {
                    **e,
                    "name": _name(e["name"], j),
                    "demand_path_h100e": _scaled_path(e["demand_path_h100e"], float(w[j])),
                }
            )
        pieces_of[e["name"]] = [_name(e["name"], j) for j in range(k)]
    world["enterprises"] = ents

    templates = [x for x in world["labs"] if x["rents"] and not x["own_fleet"]]
    small = []
    share = syn.small_lab_share
    counts = _pieces(len(templates), syn.labs) if syn.labs else [0] * len(templates)
    for t, k in zip(templates, counts, strict=True):
        if k == 0:
            continue
        w = _weights(rng, k)
        for j in range(k):
            f = share * float(w[j])
            small.append(
                {
                    **t,
                    "name": _name(t["name"], j, small=True),
                    "users_path_million": _scaled_path(t["users_path_million"], f),
                    "training_h100e": _scaled_path(t["training_h100e"], f),
                    "cash_usd": t["cash_usd"] * f,
                    "funding_usd_per_week": t["funding_usd_per_week"] * f,
                    "opex_usd_per_week": t["opex_usd_per_week"] * f,
                    "api_share": 0.0,
                    "initial_fleet": [],
                    "vendor_shares": {},
                    "sources": {},
                }
            )
        for key in ("cash_usd", "funding_usd_per_week", "opex_usd_per_week"):
            t[key] = t[key] * (1 - share)
        t["users_path_million"] = _scaled_path(t["users_path_million"], 1 - share)
        t["training_h100e"] = _scaled_path(t["training_h100e"], 1 - share)
    world["labs"] = [*world["labs"], *small]

    for rule in raw["policies"]:
        if any(u in pieces_of for u in rule["end_users"]):
            rule["end_users"] = [p for u in rule["end_users"] for p in pieces_of.get(u, [u])]
    return Scenario.model_validate(raw)
