"""What the HTML pages (log report, batch comparison) share: style, escaping, embedded PNGs."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
"""Resolution of every chart."""

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 small { font-weight: normal; color: #666; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
div.table-wrap { overflow-x: auto; max-width: 100%; }
div.table-wrap table { font-size: 0.8em; }
div.table-wrap th { position: sticky; top: 0; white-space: nowrap; }
div.table-wrap td:first-child, div.table-wrap th:first-child { position: sticky; left: 0;
       background: #fff; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; }
figcaption, p.note { color: #555; font-size: 0.9em; }
ul.trace { list-style: none; padding-left: 0; font-size: 0.9em; }
ul.trace li { margin: 0.15em 0; }
ul.trace li::before { content: "↳ "; color: #999; }
ul.trace li:first-child::before { content: ""; }
.date, .qty { font-family: ui-monospace, monospace; color: #555; }
.detail { color: #666; }
.error { color: #b00; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
"""


def escape(value: Any) -> str:
    """``value`` as escaped HTML text (None as empty)."""
    return html.escape("" if value is None else str(value))


def png_bytes(fig: Figure) -> bytes:
    """A Matplotlib figure as PNG bytes, drawn on the Agg canvas (no global backend change)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:`` URI embedding PNG bytes in a page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
