"""The self-contained HTML report of a run or a comparison, and the figures it embeds.

Everything here returns bytes or text; the results folder (``loyaltysim.results.store``) writes them.
A report is one file that needs nothing else: its images are PNGs embedded as ``data:`` URIs, its
style is inline, it has no script, and a Content-Security-Policy forbids fetching anything, so it
opens the same offline, attached to an e-mail or years later. The verdict in words comes first,
then the key figures, the plots, the resolved scenario and the manifest.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from typing import Callable, Mapping

import pandas as pd
import yaml
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from loyaltysim.engine.metrics import REGISTRY
from loyaltysim.present.formatting import format_estimate
from loyaltysim.present.plots import (
    plot_comparison, plot_difference, plot_insight, plot_points, plot_timeseries, plot_value_balance,
)
from loyaltysim.results.verdict import describe

__all__ = [
    "COMPARISON_FIGURES", "CSP", "HEADLINE", "RUN_FIGURES", "RunView", "comparison_figures",
    "comparison_report_html", "format_estimate", "render_png", "run_figures", "run_report_html",
]

HEADLINE: tuple[str, ...] = (
    "revenue", "gross_margin", "programme_cost", "insight_value", "business_net_value", "business_roi",
    "customer_value", "customer_cost", "customer_net_value", "members", "enrolment_rate",
    "points_liability", "breakage_rate", "churn_rate", "insight_index",
)
"""The key figures of the report's table and the CLI's summary, in this order."""

ARMS = ("scheme", "counterfactual", "difference")

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The report's Content-Security-Policy: nothing may be fetched; images only from data: URIs."""

DPI = 110


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

def render_png(draw: Callable[[Axes], object], size: tuple[float, float] = (8.0, 4.2)) -> bytes:
    """Draw on a fresh Agg figure and return it as PNG bytes (no display, no file, no pyplot)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.subplots())
    buf = io.BytesIO()
    # No "Software" stamp: the same data gives the same bytes whatever the matplotlib version.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


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

_STYLE = """
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


def _page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        *body,
        "</body>",
        "</html>",
        "",
    ])


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _state(state: str | None) -> str:
    return f'<span class="state-{_e(state)}">{_e(state)}</span>' if state else "-"


def _number(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or x != x else f"{x:,.{digits}f}"


def _verdict_table(verdict: dict) -> str:
    rows = ["<table>", "<tr><th>segment</th><th>state</th><th>business ROI</th>"
            "<th>customer net value</th><th>tips on day</th></tr>"]
    for name, seg in verdict.get("segments", {}).items():
        tip = seg.get("tipping_day")
        rows.append(f"<tr><td>{_e(name)}</td><td>{_state(seg.get('state'))}</td>"
                    f"<td>{_number(seg.get('business_roi'))}</td><td>{_number(seg.get('customer_net_value'), 0)}</td>"
                    f"<td>{'never' if tip is None else _e(tip)}</td></tr>")
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
            cells.append("-" if r is None else _e(format_estimate(r["mean"], r["ci_low"], r["ci_high"])))
        unit = s.loc[(m, "difference"), "unit"]
        rows.append(f'<tr><td title="{_e(REGISTRY[m].description)}">{_e(m)}</td><td>{_e(unit)}</td>'
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _figure(name: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}" data-file="plots/{_e(name)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _pre(text: str) -> str:
    return f"<pre>{_e(text)}</pre>"


def _manifest_text(manifest: Mapping) -> str:
    return json.dumps(manifest, indent=2, default=str)


def run_report_html(run: RunView, images: Mapping[str, bytes], manifest: Mapping | None = None) -> str:
    """The report of one run as one self-contained HTML page."""
    captions = {f"{stem}.png": caption for stem, caption, _ in RUN_FIGURES}
    reps = int(run.summary["n"].max()) if len(run.summary) else 0
    body = [
        f"<h1>{_e(run.name)}</h1>",
        f'<p class="lede">{_e(run.description)}</p>' if run.description else "",
        "<h2>Verdict</h2>",
        f'<p class="verdict">{_e(describe(run.verdict))}</p>',
        _verdict_table(run.verdict),
        f'<p class="note">Judged on the difference arm (scheme minus counterfactual) in periods of '
        f"{_e(run.verdict.get('period_days', ''))} days; the business side is balanced at ROI of at least "
        f"{_e(run.verdict.get('roi_threshold', ''))}, the customer side when net value is at least 0.</p>",
        "<h2>Key figures</h2>",
        f'<p class="note">Run totals (flows summed, stocks at the end, ratios of totals): mean and 95% '
        f"interval over {reps} replications; currency {_e(run.currency)}.</p>",
        _kpi_table(run.summary),
        "<h2>Plots</h2>",
        *[_figure(name, png, captions.get(name, name)) for name, png in images.items()],
        "<h2>Scenario</h2>",
        '<p class="note">After defaults and overrides (scenario.resolved.yaml).</p>',
        _pre(yaml.safe_dump(run.scenario, sort_keys=False)),
        "<h2>Manifest</h2>",
        '<p class="note">As written with this report; manifest.json in the results folder also lists the report.</p>',
        _pre(_manifest_text(manifest if manifest is not None else run.manifest)),
    ]
    return _page(f"loyaltysim: {run.name}", [b for b in body if b])


def comparison_report_html(table: pd.DataFrame, runs: Mapping[str, RunView], images: Mapping[str, bytes],
                           manifest: Mapping | None = None) -> str:
    """The report of a comparison as one self-contained HTML page."""
    labels = list(runs)
    body = [
        f"<h1>Comparison: {_e(', '.join(labels))}</h1>",
        "<h2>Verdicts</h2>",
    ]
    for label, run in runs.items():
        body.append(f"<h3>{_e(label)}</h3>")
        if run.description:
            body.append(f'<p class="lede">{_e(run.description)}</p>')
        body.append(f'<p class="verdict">{_e(describe(run.verdict))}</p>')
    d = table[table["arm"] == "difference"].set_index(["metric", "scenario"])
    body += [
        "<h2>Key figures</h2>",
        '<p class="note">Scheme minus counterfactual, run totals: mean and 95% interval over replications, '
        "every scenario on the same seeds.</p>",
        "<table>",
        "<tr><th>metric</th><th>unit</th>" + "".join(f"<th>{_e(lbl)}</th>" for lbl in labels) + "</tr>",
    ]
    for m in HEADLINE:
        if not any((m, lbl) in d.index for lbl in labels):
            continue
        unit = next(d.loc[(m, lbl), "unit"] for lbl in labels if (m, lbl) in d.index)
        cells = [_e(format_estimate(*d.loc[(m, lbl), ["mean", "ci_low", "ci_high"]])) if (m, lbl) in d.index
                 else "-" for lbl in labels]
        body.append(f'<tr><td title="{_e(REGISTRY[m].description)}">{_e(m)}</td><td>{_e(unit)}</td>'
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    body.append("</table>")
    body.append("<h2>Plots</h2>")
    for name, png in images.items():
        metric = name.removeprefix("compare_").removesuffix(".png")
        caption = f"{metric}: scheme minus counterfactual by scenario (95% intervals)."
        body.append(_figure(name, png, caption))
    body.append("<h2>Scenarios</h2>")
    for label, run in runs.items():
        body.append(f"<details><summary>{_e(label)}</summary>{_pre(yaml.safe_dump(run.scenario, sort_keys=False))}</details>")
    body += ["<h2>Manifest</h2>", _pre(_manifest_text(manifest or {}))]
    return _page("loyaltysim: comparison", body)
