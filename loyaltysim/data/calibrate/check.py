"""The check by simulation: the fitted population simulated with no scheme over the log's window,
its statistics set beside the panel's, and drawn as simulated / data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from loyaltysim.data.calibrate.dynamics import QUARTER_DAYS, panel_dynamics, same_day
from loyaltysim.data.calibrate.simulation import simulate_trips
from loyaltysim.data.calibrate.fitting import Fit
from loyaltysim.data.calibrate.nbd import fit_nbd
from loyaltysim.data.calibrate.panel import (
    PERCENTILES, CalibrationError, observed_window, top_spend_share, trip_counts, trips_table,
)
from loyaltysim.results.summary import mean_interval
from loyaltysim.scenario.models import CATEGORIES, HOUR_BANDS, WEEKDAYS, Calendar, Population

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _stats(trips: pd.DataFrame, years: float, counts: np.ndarray, truncated: bool) -> list[tuple[str, str, float]]:
    """The statistics the check compares, as (section, statistic, value); ``counts`` are trips per customer."""
    out = [("trips per customer", "mean", counts.mean()), ("trips per customer", "variance", counts.var(ddof=1))]
    out += [("trips per customer", f"q{q}", float(np.quantile(counts, q / 100))) for q in PERCENTILES]
    nbd = fit_nbd(counts, years, truncated=truncated)
    out.append(("trips per customer", "NBD shape", nbd.shape))
    amounts = trips["amount"].to_numpy()
    out.append(("basket value", "mean", amounts.mean()))
    out += [("basket value", f"q{q}", float(np.quantile(amounts, q / 100))) for q in PERCENTILES]
    out.append(("spend", "top 20% customers' share", top_spend_share(trips)))
    wk = np.bincount(trips["weekday"], minlength=7) / len(trips)
    out += [("weekday share", name, wk[d]) for d, name in enumerate(WEEKDAYS)]
    if (trips["band"] >= 0).all():
        hb = np.bincount(trips["band"], minlength=len(HOUR_BANDS)) / len(trips)
        out += [("hour-band share", name, hb[b]) for b, name in enumerate(HOUR_BANDS)]
    cat_cols = [f"cat_{c}" for c in CATEGORIES]
    if all(c in trips for c in cat_cols):
        s = trips[cat_cols].to_numpy().sum(axis=0)
        out += [("category share", name, s[j] / s.sum()) for j, name in enumerate(CATEGORIES)]
    return out


CHECK_CUSTOMERS = 20_000
"""Customers a check simulates by default: enough that its intervals are narrow beside a panel's own
sampling error (The Complete Journey has 2,469 households)."""


def check(population: Fit | Mapping | Population | str | Path, transactions: pd.DataFrame, *,
          n_customers: int | None = None, trip: str = "day", seed: int = 1, seeds: int = 5,
          customers: int = CHECK_CUSTOMERS, calendar: Mapping | Calendar | str | Path | None = None) -> pd.DataFrame:
    """Simulate ``population`` with no scheme over the log's window, ``customers`` starting customers (and
    the population's arrivals) ``seeds`` times (seeds ``seed``, ``seed + 1``, ...), with ``calendar`` if
    given, and set it beside the data.

    Returns a table (section, statistic, data, simulated, low, high, ratio): trips per customer (mean,
    variance, quantiles, NBD shape), basket-value quantiles, the top 20% of customers' share of spend,
    weekday and hour-band shares (hours only when the log has times), category shares (when it has
    categories), same-day baskets (when its trips carry basket counts: a log with basket ids by day)
    and, for a log of 26 weeks or more, the statistics over time of
    :class:`~loyaltysim.data.calibrate.dynamics.PanelDynamics` (four quarters and seasons from 52 weeks).
    ``simulated`` is the mean over seeds, ``low``-``high`` its 95% t-interval (nan for one seed).

    Like is compared with like: a panel holds only customers with a trip in its window, so statistics
    are over simulated customers with a trip too, unless ``n_customers`` (the base including customers
    with no trip) exceeds the log's customers: then per-customer trip counts include the zeros on both
    sides (the simulation's base is every customer it held). Statistics over time are over customers
    with a trip, on both sides, always.
    """
    if seeds < 1:
        raise CalibrationError(f"seeds must be at least 1 (got {seeds})")
    if customers < 1:
        raise CalibrationError(f"customers must be at least 1 (got {customers})")
    data = trips_table(transactions, trip)
    start, _, days, years = observed_window(data)
    buyers = int(data["customer_id"].nunique())
    with_zeros = n_customers is not None and n_customers > buyers
    truncated = n_customers is None
    over_time = days >= 2 * QUARTER_DAYS
    has_baskets = "baskets" in data and trip == "day"

    def stats(trips: pd.DataFrame, base: int | None, window: int | None) -> list[tuple[str, str, float]]:
        out = _stats(trips, years, trip_counts(trips, base if with_zeros else None), truncated)
        if has_baskets:
            out += same_day(trips).rows()
        return out + panel_dynamics(trips, days=window).rows() if over_time else out

    d = stats(data, n_customers, None)
    runs = []
    for s in range(seed, seed + seeds):
        sim = simulate_trips(population, customers=customers, days=days, start_weekday=WEEKDAYS[start.day_of_week],
                             seed=s, calendar=calendar)
        if not (data["band"] >= 0).all():  # a date-only log: no hour bands to compare
            sim["band"] = np.int8(-1)
        if not any(c.startswith("cat_") for c in data.columns):
            sim = sim.drop(columns=[c for c in sim.columns if c.startswith("cat_")])
        runs.append({(a, b): v for a, b, v in stats(sim, sim.attrs["customers"], days)})
    rows = []
    for section, stat, value in d:
        mean, lo, hi, _ = mean_interval(np.array([r.get((section, stat), np.nan) for r in runs], float))
        rows.append((section, stat, float(value), mean, lo, hi, float(mean / value) if value else float("nan")))
    return pd.DataFrame(rows, columns=["section", "statistic", "data", "simulated", "low", "high", "ratio"])


def plot_check(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Each statistic of a :func:`check` table as simulated / data (1 is a perfect match), with a
    band of +-10%. Returns the Axes."""
    import matplotlib.pyplot as plt

    t = table[np.isfinite(table["ratio"])].reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, max(3.0, 0.22 * len(t) + 1)))
    y = np.arange(len(t))[::-1]
    sections = list(dict.fromkeys(t["section"]))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax.axvspan(0.9, 1.1, color="0.92", zorder=0)
    ax.axvline(1.0, color="0.5", lw=0.8, zorder=1)
    for i, sec in enumerate(sections):
        m = (t["section"] == sec).to_numpy()
        ax.scatter(t.loc[m, "ratio"], y[m], s=18, color=colours[i % len(colours)], label=sec, zorder=2)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{a}: {b}" for a, b in zip(t["section"], t["statistic"])], fontsize=7)
    ax.set_xlabel("simulated / data")
    ax.set_title("Calibration check: fitted population simulated with no scheme")
    ax.legend(fontsize=7, loc="best", frameon=False)
    return ax

