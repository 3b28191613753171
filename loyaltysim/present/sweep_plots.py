"""Plots of a sweep: ``plot_sweep_*(summary, ax=None, ...) -> Axes``, with no file I/O.

``summary`` is a sweep's summary frame (``point``, one column per swept parameter, ``metric``, ``unit``,
``mean``, ``ci_low``, ``ci_high``, ``n``); ``where`` fixes the swept parameters a plot does not show.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

from loyaltysim.engine.metrics import REGISTRY
from loyaltysim.present.plots import axes_or_new

__all__ = ["metric_words", "plot_sweep_heatmap", "plot_sweep_response"]

SIZE = (7.0, 5.0)
"""Inches of a figure made when the caller gives no axes."""


def metric_words(metric: str, capital: bool = False) -> str:
    """A metric's name in words (``business_roi`` -> ``business ROI``)."""
    text = " ".join("ROI" if w == "roi" else w for w in metric.split("_"))
    return text[0].upper() + text[1:] if capital else text


def _metric_label(metric: str, unit: str | None = None) -> str:
    return f"{metric_words(metric)} ({unit or REGISTRY[metric].unit})"


def _numeric(values: list) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def _order(values: pd.Series) -> list:
    """A parameter's values in plotting order: numbers sorted, anything else as first met."""
    uniq = list(dict.fromkeys(values.tolist()))
    return sorted(uniq) if _numeric(uniq) else uniq


def _tick(value: Any, width: int = 18) -> str:
    """A parameter value as a short tick label (a list as its items, wrapped)."""
    if isinstance(value, str) and value[:1] in "[{":  # a list or mapping stored as JSON text
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, (float, np.floating)):
        text = f"{value:g}"
    else:
        text = str(value)
    return "\n".join(textwrap.wrap(text, width, max_lines=3, placeholder="...")) or text


def _rows(summary: pd.DataFrame, metric: str, where: dict | None) -> pd.DataFrame:
    s = summary[summary["metric"] == metric]
    for k, v in (where or {}).items():
        s = s[s[k] == v]
    return s


def plot_sweep_heatmap(summary: pd.DataFrame, ax: Axes | None = None, *, x: str, y: str,
                       metric: str = "business_roi", level: float | None = None, where: dict | None = None) -> Axes:
    """A KPI's mean over two swept parameters, with the contour where it breaks even (``level``).

    Cells are the grid's points in order (parameters need not be evenly spaced); the contour is
    interpolated between cell centres. Returns the axes.
    """
    ax = axes_or_new(ax, SIZE)
    s = _rows(summary, metric, where)
    xs, ys = _order(s[x]), _order(s[y])
    grid = s.pivot_table(index=y, columns=x, values="mean", aggfunc="first").reindex(index=ys, columns=xs)
    z = grid.to_numpy(dtype=float)
    finite = z[np.isfinite(z)]
    norm = None
    if level is not None and finite.size:  # white at break-even: blue above it, red below
        half = float(np.abs(finite - level).max()) or 1.0
        norm = Normalize(level - half, level + half)
    image = ax.imshow(np.ma.masked_invalid(z), origin="lower", aspect="auto", cmap="RdBu", norm=norm,
                      interpolation="nearest")
    unit = str(s["unit"].iloc[0]) if len(s) else None
    ax.figure.colorbar(image, ax=ax, label=_metric_label(metric, unit))
    for (i, j), v in np.ndenumerate(z):
        if np.isfinite(v):
            dark = norm is not None and abs(norm(v) - 0.5) > 0.3
            ax.text(j, i, f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    if level is not None and z.shape[0] >= 2 and z.shape[1] >= 2 and finite.size and finite.min() < level < finite.max():
        ax.contour(np.arange(z.shape[1]), np.arange(z.shape[0]), np.ma.masked_invalid(z), levels=[level],
                   colors="black", linewidths=2.0)
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    title = f"{metric_words(metric, True)} (mean over replications)"
    if level is not None:
        title += f"; break-even {metric_words(metric)} = {level:g} in black"
    ax.set_title(title, fontsize=10)
    return ax


def plot_sweep_response(summary: pd.DataFrame, ax: Axes | None = None, *, factor: str, metric: str = "business_roi",
                        where: dict | None = None, level: float | None = None) -> Axes:
    """A KPI's mean against one swept parameter, with its 95% interval as a band and the break-even
    line at ``level``. Returns the axes."""
    ax = axes_or_new(ax, SIZE)
    s = _rows(summary, metric, where)
    order = _order(s[factor])
    s = s.set_index(factor).loc[order]
    numeric = _numeric(order)
    xs = np.asarray(order, dtype=float) if numeric else np.arange(len(order))
    ax.plot(xs, s["mean"].to_numpy(dtype=float), marker="o", color="#1f6fb4", label="mean")
    lo, hi = s["ci_low"].to_numpy(dtype=float), s["ci_high"].to_numpy(dtype=float)
    if np.isfinite(lo).any():
        ax.fill_between(xs, lo, hi, color="#1f6fb4", alpha=0.2, lw=0, label="95% interval")
    if level is not None:
        ax.axhline(level, color="black", lw=1, ls="--", label=f"break-even ({level:g})")
    if not numeric:
        ax.set_xticks(xs, [_tick(v) for v in order])
        ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set_xlabel(factor)
    unit = str(s["unit"].iloc[0]) if len(s) else None
    ax.set_ylabel(_metric_label(metric, unit))
    ax.set_title(f"{metric_words(metric, True)} against {factor}", fontsize=10)
    ax.legend(loc="best", frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return ax
