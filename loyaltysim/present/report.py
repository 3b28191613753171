"""The report of a run or a comparison, one self-contained page (:mod:`loyaltysim.present.page`),
and the figures it embeds.

Everything here returns bytes or text; the results folder (``loyaltysim.results.store``) writes them.
The verdict in words comes first, then the key figures, the plots, the resolved scenario and the
manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Mapping

import pandas as pd
import yaml
from matplotlib.axes import Axes

from loyaltysim.engine.metrics import REGISTRY
from loyaltysim.present.formatting import format_estimate
from loyaltysim.present.page import escape, figure, page, pre, render_png, state_label
from loyaltysim.present.plots import (
    plot_comparison, plot_difference, plot_insight, plot_points, plot_timeseries, plot_value_balance,
)
from loyaltysim.results.verdict import describe

__all__ = [
    "COMPARISON_FIGURES", "HEADLINE", "RUN_FIGURES", "RunView", "comparison_figures", "comparison_report_html",
    "run_figures", "run_report_html",
]

HEADLINE: tuple[str, ...] = (
    "revenue", "gross_margin", "programme_cost", "insight_value", "business_net_value", "business_roi",
    "customer_value", "customer_cost", "customer_net_value", "members", "enrolment_rate",
    "points_liability", "breakage_rate", "churn_rate", "insight_index",
)
"""The key figures of the report's table and the CLI's summary, in this order."""

ARMS = ("scheme", "counterfactual", "difference")


@dataclass
class RunView:
    """What a run's report and plots are made from, whether fresh from a simulation or loaded."""

    name: str
    daily: pd.DataFrame
    summary: pd.DataFrame
    verdict: dict
    scenario: dict                 # the resolved scenario as plain data
    manifest: dict = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return str(self.scenario.get("business", {}).get("currency", "GBP"))

    @property
    def description(self) -> str:
        return str(self.scenario.get("description", ""))

    @classmethod
    def from_result(cls, result, manifest: dict | None = None) -> "RunView":
        """From a SimulationResult."""
        from loyaltysim.scenario.loading import scenario_data

        return cls(result.scenario.name, result.daily, result.summary, result.verdict,
                   scenario_data(result.scenario), dict(manifest or {}))

    @classmethod
    def from_loaded(cls, loaded: Mapping) -> "RunView":
        """From ``load_results(folder)`` of a run folder."""
        scenario = loaded.get("scenario") or {}
        manifest = loaded.get("manifest") or {}
        return cls(str(scenario.get("name") or manifest.get("scenario", "run")), loaded["daily"],
                   loaded["summary"], loaded["verdict"], scenario, dict(manifest))


Draw = Callable[[RunView, Axes], Axes]

RUN_FIGURES: tuple[tuple[str, str, Draw], ...] = (
    ("difference", "Scheme minus counterfactual, cumulative, with the day the balance tips (if it does).",
     lambda r, ax: plot_difference(r.daily, ax, verdict=r.verdict, currency=r.currency)),
    ("value_balance", "Both sides of the exchange over the run, overall and by segment (95% intervals).",
     lambda r, ax: plot_value_balance(r.summary, ax, currency=r.currency)),
    ("revenue", "Revenue per day in each arm (7-day mean; bands span the replications).",
     lambda r, ax: plot_timeseries(r.daily, ax, metric="revenue", currency=r.currency)),
    ("members", "Scheme members over time.",
     lambda r, ax: plot_timeseries(r.daily, ax, metric="members", currency=r.currency)),
    ("points", "Points issued, redeemed and expired, points outstanding, and the liability they carry.",
     lambda r, ax: plot_points(r.daily, ax, currency=r.currency)),
    ("insight", "How much the business knows about its members, by dimension (0 = nothing, 1 = everything).",
     lambda r, ax: plot_insight(r.daily, ax)),
)
"""The plots of a run: (file stem, caption, how to draw it)."""

COMPARISON_FIGURES: tuple[str, ...] = (
    "business_net_value", "business_roi", "customer_net_value", "programme_cost", "members", "insight_index",
)
"""The metrics a comparison plots, one bar chart each (difference arm, 95% intervals)."""


# ---------------------------------------------------------------- figures

def run_figures(run: RunView) -> dict[str, bytes]:
    """Every plot of a run as PNG bytes, keyed by file name (``difference.png``, ...)."""
    return {f"{stem}.png": render_png(lambda ax, d=draw: d(run, ax)) for stem, _, draw in RUN_FIGURES}


def comparison_figures(table: pd.DataFrame) -> dict[str, bytes]:
    """The comparison's bar charts as PNG bytes, keyed by file name (``compare_<metric>.png``)."""
    out = {}
    for metric in COMPARISON_FIGURES:
        if (table["metric"] == metric).any():
            size = (max(6.0, 1.3 * table["scenario"].nunique() + 2.5), 4.0)
            out[f"compare_{metric}.png"] = render_png(
                lambda ax, m=metric: plot_comparison(table, ax, metric=m), size)
    return out


# ---------------------------------------------------------------- HTML

def _number(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or x != x else f"{x:,.{digits}f}"


def _verdict_table(verdict: dict) -> str:
    rows = ["<table>", "<tr><th>segment</th><th>state</th><th>business ROI</th>"
            "<th>customer net value</th><th>tips on day</th></tr>"]
    for name, seg in verdict.get("segments", {}).items():
        tip = seg.get("tipping_day")
        rows.append(f"<tr><td>{escape(name)}</td><td>{state_label(seg.get('state'))}</td>"
                    f"<td>{_number(seg.get('business_roi'))}</td><td>{_number(seg.get('customer_net_value'), 0)}</td>"
                    f"<td>{'never' if tip is None else escape(tip)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _kpi_table(summary: pd.DataFrame) -> str:
    s = summary[summary["segment"] == "all"] if "segment" in summary.columns else summary
    s = s.set_index(["metric", "arm"])
    rows = ["<table>", "<tr><th>metric</th><th>unit</th>" + "".join(f"<th>{a}</th>" for a in ARMS) + "</tr>"]
    for m in HEADLINE:
        if (m, "difference") not in s.index:
            continue
        cells = []
        for arm in ARMS:
            r = s.loc[(m, arm)] if (m, arm) in s.index else None
            cells.append("-" if r is None else escape(format_estimate(r["mean"], r["ci_low"], r["ci_high"])))
        unit = s.loc[(m, "difference"), "unit"]
        rows.append(f'<tr><td title="{escape(REGISTRY[m].description)}">{escape(m)}</td><td>{escape(unit)}</td>'
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _manifest_text(manifest: Mapping) -> str:
    return json.dumps(manifest, indent=2, default=str)


def run_report_html(run: RunView, images: Mapping[str, bytes], manifest: Mapping | None = None) -> str:
    """The report of one run as one self-contained HTML page."""
    captions = {f"{stem}.png": caption for stem, caption, _ in RUN_FIGURES}
    reps = int(run.summary["n"].max()) if len(run.summary) else 0
    body = [
        f"<h1>{escape(run.name)}</h1>",
        f'<p class="lede">{escape(run.description)}</p>' if run.description else "",
        "<h2>Verdict</h2>",
        f'<p class="verdict">{escape(describe(run.verdict))}</p>',
        _verdict_table(run.verdict),
        f'<p class="note">Judged on the difference arm (scheme minus counterfactual) in periods of '
        f"{escape(run.verdict.get('period_days', ''))} days; the business side is balanced at ROI of at least "
        f"{escape(run.verdict.get('roi_threshold', ''))}, the customer side when net value is at least 0.</p>",
        "<h2>Key figures</h2>",
        f'<p class="note">Run totals (flows summed, stocks at the end, ratios of totals): mean and 95% '
        f"interval over {reps} replications; currency {escape(run.currency)}.</p>",
        _kpi_table(run.summary),
        "<h2>Plots</h2>",
        *[figure(name, png, captions.get(name, name)) for name, png in images.items()],
        "<h2>Scenario</h2>",
        '<p class="note">After defaults and overrides (scenario.resolved.yaml).</p>',
        pre(yaml.safe_dump(run.scenario, sort_keys=False)),
        "<h2>Manifest</h2>",
        '<p class="note">As written with this report; manifest.json in the results folder also lists the report.</p>',
        pre(_manifest_text(manifest if manifest is not None else run.manifest)),
    ]
    return page(f"loyaltysim: {run.name}", [b for b in body if b])


def comparison_report_html(table: pd.DataFrame, runs: Mapping[str, RunView], images: Mapping[str, bytes],
                           manifest: Mapping | None = None) -> str:
    """The report of a comparison as one self-contained HTML page."""
    labels = list(runs)
    body = [
        f"<h1>Comparison: {escape(', '.join(labels))}</h1>",
        "<h2>Verdicts</h2>",
    ]
    for label, run in runs.items():
        body.append(f"<h3>{escape(label)}</h3>")
        if run.description:
            body.append(f'<p class="lede">{escape(run.description)}</p>')
        body.append(f'<p class="verdict">{escape(describe(run.verdict))}</p>')
    d = table[table["arm"] == "difference"].set_index(["metric", "scenario"])
    body += [
        "<h2>Key figures</h2>",
        '<p class="note">Scheme minus counterfactual, run totals: mean and 95% interval over replications, '
        "every scenario on the same seeds.</p>",
        "<table>",
        "<tr><th>metric</th><th>unit</th>" + "".join(f"<th>{escape(lbl)}</th>" for lbl in labels) + "</tr>",
    ]
    for m in HEADLINE:
        if not any((m, lbl) in d.index for lbl in labels):
            continue
        unit = next(d.loc[(m, lbl), "unit"] for lbl in labels if (m, lbl) in d.index)
        cells = [escape(format_estimate(*d.loc[(m, lbl), ["mean", "ci_low", "ci_high"]])) if (m, lbl) in d.index
                 else "-" for lbl in labels]
        body.append(f'<tr><td title="{escape(REGISTRY[m].description)}">{escape(m)}</td><td>{escape(unit)}</td>'
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    body.append("</table>")
    body.append("<h2>Plots</h2>")
    for name, png in images.items():
        metric = name.removeprefix("compare_").removesuffix(".png")
        caption = f"{metric}: scheme minus counterfactual by scenario (95% intervals)."
        body.append(figure(name, png, caption))
    body.append("<h2>Scenarios</h2>")
    for label, run in runs.items():
        body.append(f"<details><summary>{escape(label)}</summary>{pre(yaml.safe_dump(run.scenario, sort_keys=False))}</details>")
    body += ["<h2>Manifest</h2>", pre(_manifest_text(manifest or {}))]
    return page("loyaltysim: comparison", body)
