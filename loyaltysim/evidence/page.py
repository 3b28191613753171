"""The evidence page (``evidence.html``): each finding's model figure beside the published one, on the
project's page shell, with a dot-and-band chart per finding; and the figures' formats, shared with the
terminal table."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.axes import Axes

from loyaltysim.present.formatting import format_estimate, format_number
from loyaltysim.present.page import escape, figure, page, render_png

if TYPE_CHECKING:
    from loyaltysim.evidence.run import Evidence

__all__ = ["band_text", "estimate_text", "evidence_page", "figure_text", "in_band_text", "plot_finding", "short_text"]

SCALE = {"share": (100.0, "%"), "ratio": (1.0, ""), "days": (1.0, " days")}
"""How a unit is shown: multiplied by, and followed by."""


def figure_text(value: float, unit: str) -> str:
    """A figure in its unit (shares as percentages), three significant digits; '-' if undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    k, suffix = SCALE[unit]
    if math.isinf(value):
        return ("" if value > 0 else "-") + "inf"
    return f"{format_number(value * k)}{suffix}"


def estimate_text(mean: float, lo: float, hi: float, unit: str) -> str:
    """A model figure with its 95% interval: mean (low to high), rounded as ``format_estimate`` rounds."""
    if not math.isfinite(mean):
        return "undefined"
    k, suffix = SCALE[unit]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{format_number(mean * k)}{suffix}"
    return f"{format_estimate(mean * k, lo * k, hi * k)}{suffix}"


def short_text(value: float, unit: str) -> str:
    """A published figure or band end as given: up to three significant digits, no trailing zeros."""
    if value is None or math.isnan(value):
        return "-"
    k, suffix = SCALE[unit]
    return f"{value * k:,.3g}{suffix}"


def band_text(low: float, high: float, unit: str) -> str:
    """A band: ``low to high``, or one-sided (``>= low``)."""
    if math.isinf(high):
        return f">= {short_text(low, unit)}"
    if math.isinf(low):
        return f"<= {short_text(high, unit)}"
    return f"{low * SCALE[unit][0]:,.3g} to {short_text(high, unit)}"


def in_band_text(inside) -> str:
    return "n/a" if pd.isna(inside) else ("inside" if inside else "OUTSIDE")


def plot_finding(row: pd.Series, ax: Axes | None = None) -> Axes:
    """One finding on its own scale: the band shaded, the published figure a diamond, the model's figure a
    dot with its 95% interval."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7.0, 1.3)).subplots()
    k, suffix = SCALE[row["unit"]]
    points = [row["model"], row["ci_low"], row["ci_high"], row["published"], row["band_low"], row["band_high"]]
    finite = [p * k for p in points if isinstance(p, (int, float)) and math.isfinite(p)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = (hi - lo) * 0.15 or max(abs(hi), 1.0) * 0.15
    left, right = lo - pad, hi + pad
    band_lo = row["band_low"] * k if math.isfinite(row["band_low"]) else left
    band_hi = row["band_high"] * k if math.isfinite(row["band_high"]) else right
    ax.axvspan(band_lo, band_hi, color="#cfe8d4", label="band")
    if math.isfinite(row["published"]):
        ax.plot([row["published"] * k], [0], marker="D", color="#555555", linestyle="none", label="published")
    if math.isfinite(row["model"]):
        m = row["model"] * k
        err = None
        if math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
            err = [[m - row["ci_low"] * k], [row["ci_high"] * k - m]]
        colour = "#1e8449" if not pd.isna(row["in_band"]) and bool(row["in_band"]) else "#c0392b"
        ax.errorbar([m], [0], xerr=err, fmt="o", color=colour, capsize=4, label="model (95% CI)")
    ax.set_xlim(left, right)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.set_xlabel(f"{row['id']}{' (' + suffix.strip() + ')' if suffix.strip() else ''}")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    return ax


def _summary_table(table: pd.DataFrame) -> list[str]:
    out = ["<table>", "<tr><th>finding</th><th>model (95% CI)</th><th>published</th><th>band</th><th>in band</th>"
                      "<th>source</th></tr>"]
    for _, r in table.iterrows():
        out.append(f'<tr><td><a href="#{escape(r["id"])}">{escape(r["id"])}</a></td>'
                   f'<td>{escape(estimate_text(r["model"], r["ci_low"], r["ci_high"], r["unit"]))}</td>'
                   f'<td>{escape(r["published_text"])}</td>'
                   f'<td>{escape(band_text(r["band_low"], r["band_high"], r["unit"]))}'
                   f'{" (proposed)" if r["band_proposed"] else ""}</td>'
                   f'<td>{escape(in_band_text(r["in_band"]))}</td><td>{escape(r["source"])}</td></tr>')
    out.append("</table>")
    return out


def _finding_section(r: pd.Series) -> list[str]:
    cells = [
        ("finding", r["finding"]),
        ("statistic", r["statistic"]),
        ("model figure", figure_text(r["model"], r["unit"])),
        ("95% interval", f"{figure_text(r['ci_low'], r['unit'])} to {figure_text(r['ci_high'], r['unit'])} "
                         f"(t-interval over {r['replications']} replications)"),
        ("published figure", f"{r['published_text']}"
                             + (f" ({short_text(r['published'], r['unit'])})" if math.isfinite(r["published"]) else "")),
        ("band", band_text(r["band_low"], r["band_high"], r["unit"])),
        ("band's basis", r["band_basis"]),
        ("model inside the band", in_band_text(r["in_band"])),
        ("source", r["source"]),
        ("evidence scenarios", r["scenarios"]),
    ]
    png = render_png(lambda ax: plot_finding(r, ax), size=(8.0, 1.4))
    return [f'<h2 id="{escape(r["id"])}">{escape(r["id"])}</h2>', "<table>",
            *[f"<tr><th>{escape(k)}</th><td style=\"text-align:left\">{escape(v)}</td></tr>" for k, v in cells],
            "</table>",
            figure(f"{r['id']}.png", png, f"{r['id']}: band (shaded), published figure (diamond), model figure "
                                          "with its 95% interval (dot; green inside the band, red outside)")]


def evidence_page(evidence: Evidence) -> str:
    """The whole validation page of an evidence run."""
    table, plan = evidence.table, evidence.plan
    inside = int(table["in_band"].fillna(False).sum())
    sizes = ", ".join(f"{name}: {sc.customers:,} customers x {sc.days} days (seed {sc.seed})"
                      for name, sc in plan.scenarios.items())
    body = [
        "<h1>loyaltysim evidence: the model against published findings</h1>",
        f'<p class="lede">{inside} of {len(table)} model figures inside their bands. '
        f"{plan.replications} replications of each scenario{' (quick smoke-run sizes)' if plan.quick else ''}; "
        f"written {escape(evidence.created)}.</p>",
        '<p class="verdict">Each model figure is the mean over replications of a statistic computed from '
        "simulated runs, with its 95% t-interval over replications. Causal figures compare the scheme arm "
        "with its counterfactual: the same customers on the same random numbers, without the scheme. A band "
        "marked proposed is a tolerance chosen for this check, not a published interval. Figures outside "
        "their bands are shown as they are: the behaviour model is to be calibrated to them, not this "
        "page.</p>",
        _summary_table(table),
        f'<p class="note">Scenarios: {escape(sizes)}.</p>',
    ]
    flat = [line for part in body for line in (part if isinstance(part, list) else [part])]
    for _, r in table.iterrows():
        flat += _finding_section(r)
    return page("loyaltysim evidence", flat)
