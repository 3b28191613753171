"""The check by simulation: the fitted population simulated with no scheme over the log's window,
its statistics set beside the panel's, and drawn as simulated / data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from loyaltysim.data.calibrate.dynamics import QUARTER_DAYS, panel_dynamics
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


def _stats(trips: pd.DataFrame, years: float, n_customers: int | None) -> list[tuple[str, str, float]]:
    """The statistics the check compares, as (section, statistic, value)."""
    counts = trip_counts(trips, n_customers)
    out = [("trips per customer", "mean", counts.mean()), ("trips per customer", "variance", counts.var(ddof=1))]
    out += [("trips per customer", f"q{q}", float(np.quantile(counts, q / 100))) for q in PERCENTILES]
    nbd = fit_nbd(counts, years, truncated=n_customers is None)
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


def check(population: Fit | Mapping | Population | str | Path, transactions: pd.DataFrame, *,
          n_customers: int | None = None, trip: str = "day", seed: int = 1, seeds: int = 1,
          calendar: Mapping | Calendar | str | Path | None = None) -> pd.DataFrame:
    """Simulate ``population`` with no scheme over the log's window, ``seeds`` times (seeds ``seed``,
    ``seed + 1``, ...), with ``calendar`` if given, and set it beside the data.

    Returns a table (section, statistic, data, simulated, low, high, ratio): trips per customer (mean,
    variance, quantiles, NBD shape), basket-value quantiles, the top 20% of customers' share of spend,
    weekday and hour-band shares (hours only when the log has times), category shares (when it has
    categories) and, for a log of 26 weeks or more, the dynamics of
    :class:`~loyaltysim.data.calibrate.dynamics.PanelDynamics` (seasons from 52 weeks). ``simulated``
    is the mean over seeds, ``low``-``high`` its 95% t-interval (nan for one seed). Trip statistics are
    over customers with at least one trip unless ``n_customers`` (the base including non-buyers) is
    given; the simulated base is sized to give as many buyers.
    """
    if seeds < 1:
        raise CalibrationError(f"seeds must be at least 1 (got {seeds})")
    data = trips_table(transactions, trip)
    start, _, days, years = observed_window(data)
    if n_customers is None:
        buyers = trip_counts(data)
        zero_share = fit_nbd(buyers, years, truncated=True).zero_share
        sim_n = math.ceil(buyers.size / max(1.0 - zero_share, 1e-3))
    else:
        sim_n = n_customers
    over_time = days >= 2 * QUARTER_DAYS

    def stats(trips: pd.DataFrame, n: int | None, window: int | None) -> list[tuple[str, str, float]]:
        out = _stats(trips, years, n)
        return out + panel_dynamics(trips, days=window, n_customers=n).rows() if over_time else out

    d = stats(data, n_customers, None)
    runs = []
    for s in range(seed, seed + seeds):
        sim = simulate_trips(population, customers=sim_n, days=days, start_weekday=WEEKDAYS[start.day_of_week],
                             seed=s, calendar=calendar)
        if not (data["band"] >= 0).all():  # a date-only log: no hour bands to compare
            sim["band"] = np.int8(-1)
        if not any(c.startswith("cat_") for c in data.columns):
            sim = sim.drop(columns=[c for c in sim.columns if c.startswith("cat_")])
        runs.append({(a, b): v for a, b, v in stats(sim, n_customers, days)})
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

