"""The page every report is written on: one self-contained HTML file and the figures it embeds.

A page needs nothing else: its images are PNGs embedded as ``data:`` URIs, its style is inline, it has
no script, and a Content-Security-Policy forbids fetching anything, so it opens the same offline,
attached to an e-mail or years later. The run, comparison and sweep reports fill its body.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["CSP", "escape", "figure", "page", "pre", "render_png", "state_label"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page's Content-Security-Policy: nothing may be fetched; images only from data: URIs."""

DPI = 110

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; margin: 0 auto;
       max-width: 1000px; padding: 1.5em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.lede { color: #555; margin-top: 0; }
.verdict { font-size: 1.1em; padding: 0.8em 1em; border-left: 5px solid #1f6fb4; background: #f3f7fb; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e3e3e3; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
th { background: #fafafa; }
.state-balanced { color: #1e8449; } .state-business-extractive { color: #b9770e; }
.state-customer-subsidised { color: #2471a3; } .state-lose-lose { color: #c0392b; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.82em; line-height: 1.3; }
.note { color: #666; font-size: 0.9em; }
"""


def page(title: str, body: list[str]) -> str:
    """A whole HTML page: ``body`` (HTML fragments, one a line) under the shared head and style."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        *body,
        "</body>",
        "</html>",
        "",
    ])


def escape(x: object) -> str:
    """Any value as HTML text (quotes too, so it is safe in an attribute)."""
    return html.escape(str(x), quote=True)


def figure(name: str, png: bytes, caption: str) -> str:
    """A plot embedded in the page with its caption; ``name`` is its file under ``plots/``."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}" '
            f'data-file="plots/{escape(name)}"><figcaption>{escape(caption)}</figcaption></figure>')


def state_label(state: str | None) -> str:
    """A balance state in its colour (``-`` when there is none)."""
    return f'<span class="state-{escape(state)}">{escape(state)}</span>' if state else "-"


def pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def render_png(draw: Callable[[Axes], object], size: tuple[float, float] = (8.0, 4.2)) -> bytes:
    """Draw on a fresh Agg figure and return it as PNG bytes (no display, no file, no pyplot)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.subplots())
    buf = io.BytesIO()
    # No "Software" stamp: the same data gives the same bytes whatever the matplotlib version.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
