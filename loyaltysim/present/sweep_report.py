"""The report of a sweep, one self-contained page (:mod:`loyaltysim.present.page`), and the figures it
embeds: heatmaps with the break-even contour over the first two swept parameters, and one-factor
response lines with their bands. Everything here returns bytes or text; the sweep writes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.axes import Axes

from loyaltysim.present.formatting import format_estimate, format_parameters, format_value
from loyaltysim.present.page import escape, figure, page, pre, render_png, state_label
from loyaltysim.present.sweep_plots import metric_words, plot_sweep_heatmap, plot_sweep_response
from loyaltysim.results.verdict import balance_state

__all__ = [
    "BREAK_EVEN", "HEATMAP_KPIS", "RESPONSE_KPIS", "SweepView", "figure_specs", "point_results", "sweep_figures",
    "sweep_report_html",
]

RESPONSE_KPIS = ("business_roi", "customer_net_value", "business_net_value")
"""The KPIs of the points table and of each one-factor response plot."""
HEATMAP_KPIS = ("business_roi", "customer_net_value")
BREAK_EVEN = {"customer_net_value": 0.0, "business_net_value": 0.0}
"""Where each KPI breaks even (business ROI breaks even at the scenario's ROI threshold, 1 by default)."""


@dataclass
class SweepView:
    """What a sweep's report and plots are made from."""

    name: str                       # the base scenario's
    summary: pd.DataFrame           # point, parameters..., metric, unit, mean, ci_low, ci_high, n
    factors: list[str]
    reference: dict[str, Any]       # each factor's value in the base scenario, as the summary holds it
    points: dict[int, dict]         # each point's parameters, by point
    design: dict                    # the design as recorded in sweep.json
    kind: str
    replications: int
    seed: int
    roi_threshold: float
    runs: int
    computed: int
    reused: int


def _break_even(metric: str, roi_threshold: float) -> float | None:
    return roi_threshold if metric == "business_roi" else BREAK_EVEN.get(metric)


def point_results(summary: pd.DataFrame, roi_threshold: float) -> dict[int, tuple[list[str], str]]:
    """Per point: each response KPI as ``mean ± half-width``, and the balance state judged on the means."""
    wide = summary.set_index(["point", "metric"])
    out = {}
    for point in dict.fromkeys(summary["point"]):
        cells = [format_estimate(*wide.loc[(point, m), ["mean", "ci_low", "ci_high"]]) for m in RESPONSE_KPIS]
        state = balance_state(wide.loc[(point, "business_roi"), "mean"],
                              wide.loc[(point, "customer_net_value"), "mean"], roi_threshold)
        out[point] = (cells, state)
    return out


# ---------------------------------------------------------------- figures

def _selection(view: SweepView, free: tuple[str, ...]) -> tuple[dict, pd.DataFrame]:
    """The other factors held at their reference value (or at their first value if no point has it),
    and the summary rows of one KPI at that selection."""
    summary = view.summary
    where = {}
    for f in view.factors:
        if f not in free:
            ref = view.reference[f]
            where[f] = ref if ref is not None and (summary[f] == ref).any() else summary[f].iloc[0]
    s = summary[summary["metric"] == RESPONSE_KPIS[0]]
    for k, v in where.items():
        s = s[s[k] == v]
    return where, s


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in key)


def figure_specs(view: SweepView) -> list[tuple[str, str, Callable[[Axes], Axes], tuple[float, float]]]:
    """The sweep's plots as (file name, caption, draw(ax), size): heatmaps over the first two
    parameters when the points cover every combination of them, and response lines for each
    parameter that takes two or more values with the others held."""
    summary, roi, factors = view.summary, view.roi_threshold, view.factors
    specs = []
    if len(factors) >= 2:
        x, y = factors[0], factors[1]
        where, s = _selection(view, (x, y))
        nx, ny = s[x].nunique(), s[y].nunique()
        if nx >= 2 and ny >= 2 and len(s[[x, y]].drop_duplicates()) == nx * ny:
            held = f", with {format_parameters(where)}" if where else ""
            for m in HEATMAP_KPIS:
                level = _break_even(m, roi)
                specs.append((f"heatmap_{m}.png",
                              (f"{metric_words(m, True)} (mean over replications) over {x} and {y}{held}; "
                               f"the black line is break-even ({metric_words(m)} = {level:g})."),
                              lambda ax, m=m, w=where, lv=level: plot_sweep_heatmap(
                                  summary, ax, x=x, y=y, metric=m, where=w, level=lv), (7.5, 5.5)))
    for f in factors:
        where, s = _selection(view, (f,))
        if s[f].nunique() < 2:
            continue
        held = f", with {format_parameters(where)}" if where else ""
        for m in RESPONSE_KPIS:
            level = _break_even(m, roi)
            specs.append((f"response_{_slug(f)}_{m}.png",
                          (f"{metric_words(m, True)} against {f}{held}: mean over replications, band = "
                           "95% interval, dashed = break-even."),
                          lambda ax, m=m, f=f, w=where, lv=level: plot_sweep_response(
                              summary, ax, factor=f, metric=m, where=w, level=lv), (7.0, 4.2)))
    return specs


def sweep_figures(view: SweepView) -> dict[str, bytes]:
    """Every plot of a sweep as PNG bytes, keyed by file name."""
    return {name: render_png(draw, size) for name, _, draw, size in figure_specs(view)}


# ---------------------------------------------------------------- HTML

def sweep_report_html(view: SweepView, images: dict[str, bytes]) -> str:
    """The sweep's report as one self-contained HTML page."""
    results = point_results(view.summary, view.roi_threshold)
    rows = []
    for point, parameters in view.points.items():
        cells, state = results[point]
        rows.append(f"<tr><td>{point}</td>" + "".join(f"<td>{escape(format_value(parameters[f], 24))}</td>"
                                                      for f in view.factors)
                    + "".join(f"<td>{escape(c)}</td>" for c in cells) + f"<td>{state_label(state)}</td></tr>")
    captions = {name: caption for name, caption, _, _ in figure_specs(view)}
    body = [
        f"<h1>Sweep: {escape(view.name)}</h1>",
        (f"<p>{len(view.points)} points ({escape(view.kind.replace('_', ' '))}) &times; {view.replications} "
         f"replications = {view.runs} runs, each with its counterfactual; {view.computed} computed, "
         f"{view.reused} reused. Seed {view.seed}: replicate r uses the same random numbers at every point.</p>"),
        "<h2>Points</h2>",
        ('<p class="note">Scheme minus counterfactual, run totals: mean and 95% interval over replications. '
         f"The state is judged on the means (business side balanced at ROI of at least {view.roi_threshold:g}, "
         "customer side at net value of at least 0).</p>"),
        "<table><tr><th>point</th>" + "".join(f"<th>{escape(f)}</th>" for f in view.factors)
        + "".join(f"<th>{escape(m)}</th>" for m in RESPONSE_KPIS) + "<th>state</th></tr>", *rows, "</table>",
        "<h2>Plots</h2>", *[figure(name, png, captions.get(name, name)) for name, png in images.items()],
        "<h2>Design</h2>", pre(json.dumps(view.design, indent=2)),
    ]
    return page(f"loyaltysim sweep: {view.name}", body)
