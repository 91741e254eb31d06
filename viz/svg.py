"""SVG drawings of the page: the supply network and the line charts.

Plain strings, built in Python and shipped as HTML: no JavaScript library,
nothing fetched from the internet, and cheap enough to redraw every step.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from html import escape

from viz.layout import band_extents, column_families, shortage_colour, supply_layout
from viz.recorder import Chart, Recorder

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#ad494a",
)
REGION_COLOURS = {"US": "#1f77b4", "CN": "#d62728", "ROW": "#2ca02c"}
EDGE_COLOURS = {
    "wafers": "#6b7b8c",
    "hbm": "#8c7b6b",
    "packaging": "#5f6f9f",
    "gpus": "#2b5fa8",
    "diversion": "#e66101",
    "rental": "#1b9e77",
    "api": "#7570b3",
}
CUT_COLOUR = "#d7191c"
RISE = 0.05
"""A node's outline turns dark red when its shortage rose this much since the week before."""


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.2f}" if a < 10 else f"{v:.0f}"


class NetworkView:
    """Draws one recorded frame of the supply graph as SVG.

    Args:
        recorder: The run's recorder (graph, frames, running maxima).
        width: Drawing width in px.
        height: Drawing height in px.
        seed: Seed of the layout's sideways offsets.
    """

    def __init__(self, recorder: Recorder, width: int = 940, height: int = 540, seed: int = 7):
        self.rec = recorder
        self.w, self.h = width, height
        self.left, self.right, self.top, self.bottom = 38, 64, 24, 40
        pos = supply_layout(recorder.model.graph, seed=seed)
        self.xy = {n: self._px(*pos[n]) for n in recorder.nodes}
        g = recorder.model.graph
        self.bands = band_extents(g)
        self.columns = column_families(g)
        self.static = self._static()

    def _px(self, x: float, y: float) -> tuple[float, float]:
        iw = self.w - self.left - self.right
        ih = self.h - self.top - self.bottom
        return (round(self.left + x * iw, 1), round(self.top + y * ih, 1))

    def _static(self) -> str:
        ih = self.h - self.top - self.bottom
        parts = []
        for i, (region, t, b) in enumerate(self.bands):
            y0, y1 = self.top + t * ih, self.top + b * ih
            fill = "#f4f6f9" if i % 2 == 0 else "#fbfbfd"
            parts.append(
                f'<rect x="0" y="{y0:.1f}" width="{self.w}" height="{y1 - y0:.1f}" fill="{fill}"/>'
                f'<text x="6" y="{(y0 + y1) / 2:.1f}" font-size="12" font-weight="bold" '
                f'fill="{REGION_COLOURS.get(region, "#555")}">{escape(region)}</text>'
            )
        iw = self.w - self.left - self.right
        for fam, x in self.columns:
            parts.append(
                f'<text x="{self.left + x * iw:.1f}" y="14" font-size="11" text-anchor="middle" '
                f'fill="#444">{escape(fam)}</text>'
            )
        return "".join(parts)

    def svg(self, index: int = -1) -> str:
        """The SVG of frame ``index`` (default: the latest)."""
        rec = self.rec
        f = rec.frames[index]
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.w} {self.h}" '
            f'width="100%" class="abm-network-svg" data-steps="{f.steps}" role="img" '
            f'aria-label="supply network, {escape(f.date)}">',
            self.static,
        ]
        # edges: quiet ones first, cut and diverted on top
        order = sorted(range(len(rec.edges)), key=lambda i: (f.cut[i], f.flow[i] > 0))
        for i in order:
            u, v, kind = rec.edges[i]
            (x1, y1), (x2, y2) = self.xy[u], self.xy[v]
            peak = rec.max_flow.get(kind, 0.0)
            share = math.sqrt(f.flow[i] / peak) if peak > 0 and f.flow[i] > 0 else 0.0
            width = 0.4 + 4.6 * share
            colour = EDGE_COLOURS.get(kind, "#999")
            dash, opacity = "", 0.18 + 0.6 * share
            cls = f"abm-edge abm-edge-{kind}"
            if f.cut[i] == 2:
                colour, dash, width, opacity = CUT_COLOUR, ' stroke-dasharray="6 4"', 1.6, 0.9
                cls += " abm-edge-cut"
            elif f.cut[i] == 1:
                colour, dash, opacity = "#f28e2b", ' stroke-dasharray="2 3"', max(opacity, 0.7)
                width = max(width, 1.2)
                cls += " abm-edge-partial"
            elif kind == "diversion" and f.flow[i] > 0:
                width, opacity = max(width, 2.0), 0.95
                cls += " abm-edge-diverted"
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.08 * abs(x2 - x1)
            title = (
                f"{rec.names[rec.node_index[u]]} → {rec.names[rec.node_index[v]]} ({kind}): "
                f"{_fmt(f.flow[i])} this week"
                + (" — cut by a control" if f.cut[i] == 2 else "")
                + (" — partly denied" if f.cut[i] == 1 else "")
            )
            out.append(
                f'<path class="{cls}" d="M{x1} {y1} Q{cx:.1f} {cy:.1f} {x2} {y2}" fill="none" '
                f'stroke="{colour}" stroke-width="{width:.2f}" stroke-opacity="{opacity:.2f}"'
                f"{dash}><title>{escape(title)}</title></path>"
            )
        pos = index if index >= 0 else len(rec.frames) + index
        prev = rec.frames[pos - 1] if pos > 0 else None
        for i, node in enumerate(rec.nodes):
            x, y = self.xy[node]
            fam, name = rec.families[i], rec.names[i]
            peak = rec.max_size.get(fam, 0.0)
            r = 4.0 + 11.0 * math.sqrt(f.size[i] / peak) if peak > 0 and f.size[i] > 0 else 4.0
            s = f.shortage[i]
            fill = shortage_colour(s) if f.active[i] else "#ffffff"
            stroke, stroke_w = ("#333", 0.8) if f.active[i] else ("#999", 0.8)
            before = prev.shortage[i] if prev is not None else None
            rising = s is not None and before is not None and s - before >= RISE
            if rising:
                stroke, stroke_w = "#b2182b", 2.4
            tip = f"{name} ({fam}, {rec.regions[i]}): " + (
                f"shortage {100 * s:.0f}%" if s is not None else "no shortage measure"
            )
            tip += f", size {_fmt(f.size[i])}" + ("" if f.active[i] else ", exited")
            tip += " — shortage rising" if rising else ""
            cls = "abm-node abm-node-rising" if rising else "abm-node"
            shown = "" if s is None else f"{s:.3f}"
            out.append(
                f'<g class="{cls}" data-name="{escape(name)}" data-shortage="{shown}">'
                f'<circle cx="{x}" cy="{y}" r="{r:.1f}" fill="{fill}" stroke="{stroke}" '
                f'stroke-width="{stroke_w}"><title>{escape(tip)}</title></circle>'
                f"{self._label(x, y, r, name)}</g>"
            )
        out.append(self._legend())
        out.append("</svg>")
        return "".join(out)

    def _label(self, x: float, y: float, r: float, name: str) -> str:
        """A node's name, right of it (the drawing keeps a margin for the last column)."""
        return (
            f'<text x="{x + r + 2:.1f}" y="{y + 3:.1f}" font-size="9" fill="#222">'
            f"{escape(name)}</text>"
        )

    def _legend(self) -> str:
        y = self.h - 24
        parts = ['<g class="abm-legend" font-size="10" fill="#333">']
        x: float = self.left
        parts.append(f'<text x="{x}" y="{y + 3}">shortage</text>')
        x += 50
        for k in range(11):
            parts.append(
                f'<rect x="{x + 8 * k}" y="{y - 5}" width="8" height="9" '
                f'fill="{shortage_colour(k / 10)}"/>'
            )
        parts.append(f'<text x="{x + 92}" y="{y + 3}">0 → 100 %</text>')
        x += 150
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="5" fill="#fee08b" stroke="#b2182b" stroke-width="2.4"/>'
            f'<text x="{x + 9}" y="{y + 3}">rising</text>'
        )
        x += 52
        items = [
            ("gpus", "GPUs shipped", "", EDGE_COLOURS["gpus"]),
            ("rental", "rentals / API", "", EDGE_COLOURS["rental"]),
            ("diversion", "diverted", "", EDGE_COLOURS["diversion"]),
            ("cut", "cut by a control", ' stroke-dasharray="6 4"', CUT_COLOUR),
            ("partial", "partly denied", ' stroke-dasharray="2 3"', "#f28e2b"),
        ]
        for _key, label, dash, colour in items:
            parts.append(
                f'<line x1="{x:.0f}" y1="{y}" x2="{x + 22:.0f}" y2="{y}" stroke="{colour}" '
                f'stroke-width="2.2"{dash}/><text x="{x + 26:.0f}" y="{y + 3}">{label}</text>'
            )
            x += 30 + 5.2 * len(label)
        parts.append(
            f'<text x="{self.left}" y="{y + 18}">node size = capacity (suppliers), output '
            "(vendors) or compute (buyers); edge width = volume moved this week; hover for "
            "numbers</text></g>"
        )
        return "".join(parts)


def _nice_max(v: float) -> float:
    if v <= 0 or not math.isfinite(v):
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def chart_svg(
    chart: Chart,
    series: dict[str, list[float]],
    upto: int,
    total_steps: int,
    start: date,
    baseline: dict[str, list[float]] | None = None,
    width: int = 310,
    height: int = 180,
) -> str:
    """One line chart as SVG.

    Args:
        chart: What to draw (title, unit).
        series: Line label -> one value per recorded frame (NaN: no value).
        upto: Last frame index drawn (the replay position).
        total_steps: Frames of a whole run (the x axis spans the horizon).
        start: Date of frame 0.
        baseline: Optional same lines of the baseline run, drawn dashed.
        width: Width in px.
        height: Height in px.
    """
    left, right, top, bottom = 40, 8, 34, 20
    iw, ih = width - left - right, height - top - bottom
    lines = {k: v[: upto + 1] for k, v in series.items()}
    base = {k: v[: upto + 1] for k, v in (baseline or {}).items()}
    finite = [x for v in (*lines.values(), *base.values()) for x in v if math.isfinite(x)]
    lo = min(0.0, min(finite)) if finite else 0.0
    hi = _nice_max(max(finite) if finite else 1.0)
    span = max(1, total_steps)

    def px(i: int, v: float) -> str:
        return f"{left + iw * i / span:.1f},{top + ih * (1 - (v - lo) / (hi - lo)):.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'class="abm-chart-svg" data-chart="{chart.key}" data-points="{upto + 1}" role="img" '
        f'aria-label="{escape(chart.title)}">',
        f'<text x="4" y="12" font-size="12" font-weight="bold" fill="#222">'
        f"{escape(chart.title)}</text>"
        f'<text x="{width - 4}" y="12" font-size="9" text-anchor="end" fill="#666">'
        f"{escape(chart.unit)}</text>",
    ]
    # axes and grid
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = top + ih * (1 - k / 4)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + iw}" y2="{y:.1f}" stroke="#e6e6e6"/>'
            f'<text x="{left - 3}" y="{y + 3:.1f}" font-size="8" text-anchor="end" fill="#555">'
            f"{_fmt(v)}</text>"
        )
    year = start.year + 1
    while year <= date.max.year:  # a run near 9999-12-31 has no next new year
        i = (date(year, 1, 1) - start).days / 7
        if i > span:
            break
        x = left + iw * i / span
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ih}" stroke="#eeeeee"/>'
            f'<text x="{x:.1f}" y="{height - 6}" font-size="8" text-anchor="middle" '
            f'fill="#555">{year}</text>'
        )
        year += 1
    # legend
    lx: float = 4
    ly = 25
    colours = {}
    for n, label in enumerate(lines):
        colour = REGION_COLOURS.get(label) or PALETTE[n % len(PALETTE)]
        colours[label] = colour
        w = 14 + 5.2 * len(label)
        if lx + w > width:
            lx, ly = 4, ly + 10
        out.append(
            f'<rect x="{lx}" y="{ly - 6}" width="8" height="3" fill="{colour}"/>'
            f'<text x="{lx + 10}" y="{ly - 2}" font-size="8" fill="#333">{escape(label)}</text>'
        )
        lx += w
    if base:
        out.append(
            f'<text x="{width - 4}" y="25" font-size="8" text-anchor="end" fill="#666">'
            "dashed: baseline, same seed</text>"
        )

    def polylines(values: list[float], colour: str, extra: str) -> None:
        seg: list[str] = []
        for i, v in enumerate(values):
            if math.isfinite(v):
                seg.append(px(i, v))
            elif seg:
                out.append(_poly(seg, colour, extra))
                seg = []
        if seg:
            out.append(_poly(seg, colour, extra))

    for label, values in base.items():
        polylines(values, colours.get(label, "#999"), ' stroke-dasharray="4 3" opacity="0.6"')
    for label, values in lines.items():
        polylines(values, colours[label], "")
    x = left + iw * upto / span
    out.append(
        f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ih}" stroke="#999" '
        f'stroke-dasharray="2 2"/>'
    )
    out.append("</svg>")
    return "".join(out)


def _poly(points: list[str], colour: str, extra: str) -> str:
    if len(points) == 1:
        x, y = points[0].split(",")
        return f'<circle cx="{x}" cy="{y}" r="1.5" fill="{colour}"/>'
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
        f'stroke-width="1.6"{extra}/>'
    )


def week_date(start: date, steps: int) -> date:
    """Date of the week recorded after ``steps`` steps (the start date before any)."""
    return start + timedelta(weeks=max(0, steps - 1))
