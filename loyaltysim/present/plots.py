"""Plots of a run or a comparison: each ``plot_*(data, ax=None, ...) -> Axes``, with no file I/O.

``data`` is a frame in one of the results-folder layouts (``daily``, ``summary`` or ``comparison``);
labels and units come from the metrics registry. With ``ax=None`` a new figure is made with pyplot
(convenient in a notebook); the report and the CLI pass their own axes on figures they render with
matplotlib's Agg backend, so nothing here touches the display or the disk.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from loyaltysim.engine.metrics import INSIGHT_NAMES, REGISTRY

__all__ = [
    "ARM_COLOURS", "axes_or_new", "label", "plot_comparison", "plot_difference", "plot_insight", "plot_points",
    "plot_timeseries", "plot_value_balance",
]

ARM_COLOURS = {"scheme": "#1f6fb4", "counterfactual": "#8a8a8a", "difference": "#c0392b"}
"""One colour per arm, used by every plot."""

BALANCE = (
    # (metric, label, colour): the two sides of the exchange, gains then what is given for them.
    ("customer_value", "customer gains", "#2e86c1"),
    ("customer_cost", "customer costs", "#aed6f1"),
    ("business_return", "business return", "#d35400"),
    ("programme_cost", "business investment", "#f5cba7"),
)

_DAILY = ("replicate", "arm", "day", "segment")
_SUMMARY = ("metric", "arm", "mean", "ci_low", "ci_high")


def label(metric: str, currency: str | None = None) -> str:
    """Axis label for a metric from the registry: its name in words and its unit."""
    m = REGISTRY[metric]
    unit = (currency or "money") if m.unit == "money" else m.unit
    return f"{metric.replace('_', ' ')} ({unit})"


def _require(data: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"{what} needs columns {', '.join(missing)} (a frame in the {what} layout)")


def axes_or_new(ax: Axes | None, size: tuple[float, float] = (8.0, 4.2)) -> Axes:
    """``ax``, or the axes of a new figure of ``size`` inches when the caller gave none."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only when the caller gave no axes (e.g. in a notebook)

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _currency(data: pd.DataFrame, currency: str | None) -> str | None:
    if currency is None and "unit" in data.columns and "metric" in data.columns:
        money = data.loc[data["metric"].map(lambda m: REGISTRY.get(m) is not None and REGISTRY[m].unit == "money"), "unit"]
        if len(money):
            return str(money.iloc[0])
    return currency


def _per_replicate(daily: pd.DataFrame, arm: str, segment: str, metrics: Sequence[str]) -> dict[str, pd.DataFrame]:
    """For each metric, a (day x replicate) frame of one arm and segment."""
    _require(daily, _DAILY, "daily")
    d = daily[(daily["arm"] == arm) & (daily["segment"] == segment)]
    if d.empty:
        raise ValueError(f"no daily rows for arm '{arm}' and segment '{segment}'")
    return {m: d.pivot_table(index="day", columns="replicate", values=m, aggfunc="sum", dropna=False)
            for m in metrics}


def _band(ax: Axes, wide: pd.DataFrame, colour: str, name: str, lw: float = 1.6) -> None:
    """Mean over replicates as a line, the replicates' range as a band."""
    x = wide.index.to_numpy()
    ax.plot(x, wide.mean(axis=1).to_numpy(), color=colour, lw=lw, label=name)
    if wide.shape[1] > 1:
        ax.fill_between(x, wide.min(axis=1).to_numpy(), wide.max(axis=1).to_numpy(),
                        color=colour, alpha=0.2, lw=0)


def plot_timeseries(daily: pd.DataFrame, ax: Axes | None = None, *, metric: str = "revenue",
                    segment: str = "all", arms: Sequence[str] | None = None, smooth: int | None = 7,
                    currency: str | None = None) -> Axes:
    """A metric day by day per arm: the mean over replicates and a band spanning the replicates.

    Flows are smoothed with a trailing ``smooth``-day mean (weekly shopping rhythms otherwise hide
    the trend); stocks and ratios are drawn as recorded. Scheme-only metrics show the scheme arm alone.
    """
    ax = axes_or_new(ax)
    m = REGISTRY[metric]
    if arms is None:
        arms = ("scheme",) if m.scheme_only else ("scheme", "counterfactual")
    window = smooth if (smooth and smooth > 1 and m.kind == "flow") else None
    for arm in arms:
        wide = _per_replicate(daily, arm, segment, [metric])[metric]
        if window:
            wide = wide.rolling(window, min_periods=1).mean()
        _band(ax, wide, ARM_COLOURS.get(arm, "black"), arm)
    ax.set_xlabel("day")
    ax.set_ylabel(label(metric, currency) + (f", {window}-day mean" if window else ""))
    where = "" if segment == "all" else f" ({segment})"
    ax.set_title(metric.replace("_", " ").capitalize() + (" by arm" if len(arms) > 1 else "") + where)
    ax.legend(loc="best", frameon=False)
    ax.grid(alpha=0.3)
    return ax


def plot_difference(daily: pd.DataFrame, ax: Axes | None = None, *,
                    metrics: Sequence[str] = ("business_net_value", "customer_net_value"),
                    verdict: dict | None = None, segment: str = "all", cumulative: bool = True,
                    currency: str | None = None) -> Axes:
    """Scheme minus counterfactual over time, with a zero line and the tipping day marked.

    Each metric is the difference arm, summed from day 0 when ``cumulative``; the band spans the
    replicates. With a ``verdict`` (as from a run), the day the balance state tips is a vertical line.
    """
    ax = axes_or_new(ax)
    colours = ("#d35400", "#2e86c1", "#27ae60", "#8e44ad")
    wide = _per_replicate(daily, "difference", segment, metrics)
    for i, metric in enumerate(metrics):
        w = wide[metric].cumsum() if cumulative else wide[metric]
        _band(ax, w, colours[i % len(colours)], metric.replace("_", " "))
    ax.axhline(0.0, color="black", lw=0.9)
    if verdict is not None:
        seg = verdict.get("segments", {}).get(segment, {})
        day = seg.get("tipping_day")
        if day is not None:
            to = next((p["state"] for p in seg.get("periods", []) if p["start_day"] == day), "")
            ax.axvline(day, color="black", ls="--", lw=1.2, label=f"tips on day {day}" + (f" (to {to})" if to else ""))
    units = {REGISTRY[m].unit for m in metrics}
    unit = (currency or "money") if units == {"money"} else ", ".join(sorted(units))
    ax.set_xlabel("day")
    ax.set_ylabel(("cumulative " if cumulative else "") + f"scheme minus counterfactual ({unit})")
    where = "" if segment == "all" else f" ({segment})"
    ax.set_title(f"What the scheme changes{where}")
    ax.legend(loc="best", frameon=False)
    ax.grid(alpha=0.3)
    return ax


def plot_value_balance(summary: pd.DataFrame, ax: Axes | None = None, *,
                       segments: Sequence[str] | None = None, currency: str | None = None) -> Axes:
    """Both sides of the exchange, overall and by segment: run totals of the difference arm.

    For each segment, customer gains beside customer costs and the business's incremental return
    beside its investment (programme cost), with 95% confidence whiskers over replications.
    """
    _require(summary, _SUMMARY + ("segment",), "summary")
    ax = axes_or_new(ax, (9.0, 4.4))
    currency = _currency(summary, currency)
    s = summary[summary["arm"] == "difference"]
    if segments is None:
        names = list(dict.fromkeys(s["segment"]))
        segments = ["all"] + [n for n in names if n != "all"]
    x = np.arange(len(segments))
    width = 0.8 / len(BALANCE)
    for i, (metric, name, colour) in enumerate(BALANCE):
        rows = s[s["metric"] == metric].set_index("segment").reindex(segments)
        mean = rows["mean"].to_numpy(dtype=float)
        err = _whiskers(rows)
        ax.bar(x + (i - (len(BALANCE) - 1) / 2) * width, np.nan_to_num(mean), width, color=colour,
               label=name, yerr=err, capsize=3, error_kw={"elinewidth": 1.0, "ecolor": "#333333"})
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xticks(x, [seg if seg != "all" else "all customers" for seg in segments])
    ax.set_ylabel(f"run total, scheme minus counterfactual ({currency or 'money'})")
    ax.set_title("Value balance: what each side gets and gives")
    ax.legend(loc="best", frameon=False, ncols=2)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_points(daily: pd.DataFrame, ax: Axes | None = None, *, segment: str = "all",
                currency: str | None = None) -> Axes:
    """Points flows (cumulative issued, redeemed, expired), points outstanding, and the liability.

    Points are on the left axis; the liability (outstanding points at the cost of the rewards they
    buy) is on a second axis on the right. Means over replicates of the scheme arm.
    """
    ax = axes_or_new(ax)
    names = ("points_issued", "points_redeemed", "points_expired", "points_outstanding", "points_liability")
    wide = _per_replicate(daily, "scheme", segment, names)
    colours = {"points_issued": "#1f6fb4", "points_redeemed": "#27ae60", "points_expired": "#c0392b",
               "points_outstanding": "#7d3c98"}
    for name, colour in colours.items():
        w = wide[name].cumsum() if REGISTRY[name].kind == "flow" else wide[name]
        word = name.replace("points_", "")
        _band(ax, w, colour, f"{word} (cumulative)" if REGISTRY[name].kind == "flow" else word)
    ax.set_xlabel("day")
    ax.set_ylabel(f"points ({REGISTRY['points_issued'].unit})")
    liability = wide["points_liability"]
    right = ax.twinx()
    right.plot(liability.index, liability.mean(axis=1), color="black", ls="--", lw=1.4, label="liability")
    right.set_ylabel(label("points_liability", currency))
    right.set_ylim(bottom=0)
    if not float(np.nanmax(np.abs(wide["points_issued"].to_numpy()), initial=0.0)):
        ax.text(0.5, 0.5, "this scheme issues no points", transform=ax.transAxes, ha="center", va="center",
                color="#555555")
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = right.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="upper left", frameon=False)
    where = "" if segment == "all" else f" ({segment})"
    ax.set_title(f"Points flows and liability{where}")
    ax.grid(alpha=0.3)
    return ax


def plot_insight(daily: pd.DataFrame, ax: Axes | None = None, *, segment: str = "all") -> Axes:
    """How the business's insight accumulates: the eight insight dimensions and their mean (0 to 1)."""
    ax = axes_or_new(ax)
    wide = _per_replicate(daily, "scheme", segment, list(INSIGHT_NAMES) + ["insight_index"])
    cmap = matplotlib.colormaps["tab10"]
    for i, name in enumerate(INSIGHT_NAMES):
        w = wide[name]
        ax.plot(w.index, w.mean(axis=1), color=cmap(i), lw=1.1, label=name.replace("insight_", "").replace("_", " "))
    _band(ax, wide["insight_index"], "black", "insight index (mean)", lw=2.4)
    ax.set_ylim(0, 1)
    ax.set_xlabel("day")
    ax.set_ylabel(label("insight_index"))
    where = "" if segment == "all" else f" ({segment})"
    ax.set_title(f"What the business learns{where}")
    ax.legend(loc="upper left", frameon=False, ncols=3, fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def plot_comparison(data: pd.DataFrame, ax: Axes | None = None, *, metric: str = "business_net_value",
                    arm: str = "difference", by: str | None = None, segment: str = "all",
                    currency: str | None = None) -> Axes:
    """One metric's run total as bars with 95% confidence whiskers, one bar per scenario.

    ``data`` is a comparison frame (``scenario`` column) or a summary; ``by`` names the column that
    makes the bars (default: ``scenario`` when present, else ``arm``, comparing the arms of one run).
    """
    _require(data, _SUMMARY, "comparison")
    ax = axes_or_new(ax, (7.0, 4.0))
    currency = _currency(data, currency)
    by = by or ("scenario" if "scenario" in data.columns else "arm")
    d = data[data["metric"] == metric]
    if by != "arm":
        d = d[d["arm"] == arm]
    if by != "segment" and "segment" in d.columns:
        d = d[d["segment"] == segment]
    if d.empty:
        raise ValueError(f"no rows for metric '{metric}' (arm '{arm}')")
    keys = list(dict.fromkeys(d[by].astype(str)))
    rows = d.assign(_key=d[by].astype(str)).drop_duplicates("_key").set_index("_key").reindex(keys)
    mean = rows["mean"].to_numpy(dtype=float)
    if by == "arm":
        colours = [ARM_COLOURS.get(k, "#1f6fb4") for k in keys]
    else:  # a scheme that loses on this metric stands out
        colours = ["#c0392b" if m < 0 else "#1f6fb4" for m in mean]
    ax.bar(np.arange(len(keys)), np.nan_to_num(mean), 0.6, color=colours, yerr=_whiskers(rows), capsize=4,
           error_kw={"elinewidth": 1.0, "ecolor": "#333333"})
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(keys)), keys, rotation=20 if len(keys) > 3 else 0,
                  ha="right" if len(keys) > 3 else "center")
    ax.set_ylabel(label(metric, currency))
    if by == "arm":
        what = "by arm"
    else:
        what = "scheme minus counterfactual" if arm == "difference" else arm
    ax.set_title(f"{metric.replace('_', ' ').capitalize().replace(' roi', ' ROI')}: {what}")
    ax.grid(axis="y", alpha=0.3)
    return ax


def _whiskers(rows: pd.DataFrame) -> np.ndarray:
    """Asymmetric error bars from ci_low/ci_high (zero where there is no interval)."""
    mean = rows["mean"].to_numpy(dtype=float)
    lo = np.nan_to_num(mean - rows["ci_low"].to_numpy(dtype=float))
    hi = np.nan_to_num(rows["ci_high"].to_numpy(dtype=float) - mean)
    return np.vstack([np.clip(lo, 0, None), np.clip(hi, 0, None)])
