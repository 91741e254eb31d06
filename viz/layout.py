"""A stable, seeded layout of the supply graph: columns by family, bands by region.

Firms flow left to right in the order goods move (foundries and memory
makers, packagers, GPU vendors, brokers, clouds, labs, enterprises); each
column is split into bands for the US (top), the rest of the world and
China (bottom). Within a band firms are spread evenly in name order, with a
small seeded sideways offset so that parallel edges do not overlap. The
same graph and seed always give the same positions.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import networkx as nx
import numpy as np

FAMILY_COLUMNS: tuple[str, ...] = (
    "government",
    "foundry",
    "memory",
    "packager",
    "vendor",
    "broker",
    "cloud",
    "lab",
    "enterprise",
)
"""Families in column order, upstream to downstream."""

REGION_BANDS: tuple[str, ...] = ("US", "ROW", "CN")
"""Regions in band order, top to bottom."""


def supply_layout(
    graph: nx.DiGraph, seed: int = 7, jitter: float = 0.18
) -> dict[Any, tuple[float, float]]:
    """Positions in the unit square for every node of the supply graph.

    Args:
        graph: Graph whose nodes carry ``name``, ``family`` and ``region``.
        seed: Seed of the sideways offsets.
        jitter: Largest sideways offset, as a share of a column's width.

    Returns:
        ``{node: (x, y)}`` with x and y in [0, 1] (y grows downwards).
    """
    cells: dict[tuple[int, int], list[Any]] = defaultdict(list)
    extra = len(FAMILY_COLUMNS)
    for node, data in graph.nodes(data=True):
        fam = data.get("family", "")
        col = FAMILY_COLUMNS.index(fam) if fam in FAMILY_COLUMNS else extra
        reg = data.get("region", "")
        band = REGION_BANDS.index(reg) if reg in REGION_BANDS else len(REGION_BANDS)
        cells[(col, band)].append(node)
    cols = sorted({c for c, _ in cells})
    col_x = {c: (i + 0.5) / len(cols) for i, c in enumerate(cols)}
    bands = sorted({b for _, b in cells})
    # band height proportional to its fullest cell
    depth = {b: max(len(v) for (c, bb), v in cells.items() if bb == b) for b in bands}
    total = sum(depth.values())
    top, band_top = 0.0, {}
    for b in bands:
        band_top[b] = top
        top += depth[b] / total
    rng = np.random.default_rng(seed)
    width = 1.0 / len(cols)
    pos: dict[Any, tuple[float, float]] = {}
    for key in sorted(cells):
        col, band = key
        nodes = sorted(cells[key], key=lambda n: str(graph.nodes[n].get("name", n)))
        h = depth[band] / total
        for i, node in enumerate(nodes):
            y = band_top[band] + h * (i + 0.5) / len(nodes)
            dx = (rng.random() * 2 - 1) * jitter * width if len(nodes) > 1 else 0.0
            pos[node] = (float(col_x[col] + dx), float(y))
    return pos


def band_extents(graph: nx.DiGraph) -> list[tuple[str, float, float]]:
    """``(region, top, bottom)`` of each region band in the unit square (for labels)."""
    count: dict[tuple[str, str], int] = defaultdict(int)
    for _, data in graph.nodes(data=True):
        count[(data.get("family", ""), data.get("region", ""))] += 1
    regions = [r for r in REGION_BANDS if any(k[1] == r for k in count)]
    regions += sorted({k[1] for k in count} - set(REGION_BANDS))
    depth = {r: max(v for k, v in count.items() if k[1] == r) for r in regions}
    total = sum(depth.values())
    out, top = [], 0.0
    for r in regions:
        out.append((r, top, top + depth[r] / total))
        top += depth[r] / total
    return out


def column_families(graph: nx.DiGraph) -> list[tuple[str, float]]:
    """``(family, x)`` of each occupied column (for headers)."""
    fams = {d.get("family", "") for _, d in graph.nodes(data=True)}
    cols = sorted(
        {FAMILY_COLUMNS.index(f) if f in FAMILY_COLUMNS else len(FAMILY_COLUMNS) for f in fams}
    )
    names = [FAMILY_COLUMNS[c] if c < len(FAMILY_COLUMNS) else "other" for c in cols]
    return [(n, (i + 0.5) / len(cols)) for i, n in enumerate(names)]


def shortage_colour(share: float | None) -> str:
    """Hex colour of a shortage share: green (0) through yellow (0.5) to red (1); grey if None."""
    if share is None or share != share:
        return "#bdbdbd"
    x = min(1.0, max(0.0, float(share)))
    stops = ((0.0, (26, 152, 80)), (0.5, (254, 224, 139)), (1.0, (215, 48, 39)))
    for (x0, c0), (x1, c1) in zip(stops, stops[1:], strict=False):
        if x <= x1:
            t = (x - x0) / (x1 - x0)
            rgb = [round(a + (b - a) * t) for a, b in zip(c0, c1, strict=True)]
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#d73027"
