"""Customers over time in a panel, and the two things a population is given to match them: habits that
drift (``need_drift``) and a calendar of weekly seasons.

- :func:`panel_dynamics` measures, from a :func:`~loyaltysim.data.calibrate.panel.trips_table` (or
  simulated trips), how households' trips move between the first and the last 13 weeks of the window
  and how weekly trip totals swing around their trend;
- :func:`with_drift` gives every segment a drift and adjusts its need-rate shape so yearly trip counts
  keep their fitted spread;
- :func:`fit_drift` chooses the drift by simulation: a grid of (time scale, sd) simulated with common
  random numbers, each statistic interpolated over the grid, the loss minimised on the interpolation;
- :func:`fit_calendar` turns the weekly swings into 52 factors; :func:`write_calendar` and
  :func:`load_calendar` write and read them as a file a scenario can copy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.interpolate import RectBivariateSpline

from loyaltysim.data.calibrate.fitting import Fit, _round
from loyaltysim.data.calibrate.panel import CalibrationError
from loyaltysim.data.calibrate.simulation import load_calendar, simulate_trips  # noqa: F401  (load_calendar re-exported)
from loyaltysim.results.store import write_text
from loyaltysim.scenario.models import Calendar

QUARTER_DAYS = 91
"""A quarter is 13 weeks: the first and the last 13 weeks of the window are compared."""
LIGHT_SHARE = 0.2
"""The light buyers whose recovery is measured: the lightest fifth of the first quarter's buyers."""
SETTLED_DAYS = 28
"""Light buyers are counted among customers with a trip in the first 28 days, so a customer who only
starts shopping late in the first quarter (new to the panel or the store, as some of The Complete Journey's
households seem to be: 7.5% absent from its first 13 weeks, 5.8% from its last) is not read as a habit
that drifted."""
WEEKS_PER_YEAR = 52
DRIFT_WEEK_DAYS = 7  # the engine steps drift weekly (engine/dynamics.py); the shape adjustment follows it
TIME_SCALES = (14.0, 35.0, 90.0, 220.0, 550.0)
"""Drift time scales (days) the fit simulates: two weeks (nearly fresh each week) to past a year."""
DRIFT_SDS = (0.15, 0.3, 0.45, 0.6, 0.75)
"""Drift sds the fit simulates (a need-rate shape near 2.7, as The Complete Journey's, leaves room for
sds up to about 0.6 at long time scales before drift alone exceeds the spread of yearly trips)."""
TARGETS = ("correlation", "light_growth")
"""The statistics the drift fit matches (squared relative errors, summed)."""


# ---------------------------------------------------------------- statistics

@dataclass(frozen=True)
class PanelDynamics:
    """How a panel's trips move over time.

    ``correlation``: Pearson correlation of customers' trips in the first and last 13 weeks;
    ``light_growth``: last over first 13 weeks' trips of the lightest fifth of the first 13 weeks'
    buyers among those shopping in the first SETTLED_DAYS (customers tied at the cut-off count in part,
    so the group is exactly a fifth);
    ``total_growth``: all trips, last over first 13 weeks; ``absent_first`` / ``absent_last``: share of
    customers with no trip in the first / last 13 weeks; ``weekly_factors``: weekly trip totals over
    their linear trend, mean 1, folded to 52 weeks of the year (None when the window is under 364 days).
    """

    correlation: float
    light_growth: float
    total_growth: float
    absent_first: float
    absent_last: float
    weekly_factors: np.ndarray | None
    customers: int

    @property
    def seasonality_sd(self) -> float:
        """Sd of the weekly factors (nan without them)."""
        return float(np.std(self.weekly_factors, ddof=1)) if self.weekly_factors is not None else float("nan")

    def rows(self) -> list[tuple[str, str, float]]:
        """(section, statistic, value) rows, as the check prints them."""
        f = self.weekly_factors
        out = [("dynamics", "Q1-Q4 trip correlation", self.correlation),
               ("dynamics", "light Q1 fifth: Q4/Q1 trips", self.light_growth),
               ("dynamics", "all trips: Q4/Q1", self.total_growth),
               ("dynamics", "share absent in first 13 weeks", self.absent_first),
               ("dynamics", "share absent in last 13 weeks", self.absent_last)]
        if f is not None:
            out += [("seasons", "weekly factor sd", self.seasonality_sd),
                    ("seasons", "weekly factor min", float(f.min())), ("seasons", "weekly factor max", float(f.max()))]
        return out


def _day_index(trips: pd.DataFrame) -> np.ndarray:
    """Days from the window's start: dates of a panel, day numbers of a simulation as they are."""
    d = trips["date"]
    if pd.api.types.is_datetime64_any_dtype(d):
        return (d - d.min()).dt.days.to_numpy()
    return d.to_numpy(np.int64)


def _light_growth(q1: np.ndarray, q4: np.ndarray, share: float = LIGHT_SHARE) -> float:
    buyers = q1 > 0
    x, y = q1[buyers], q4[buyers]
    if x.size == 0:
        return float("nan")
    k = share * x.size
    cut = np.sort(x)[max(math.ceil(k) - 1, 0)]
    below, at = x < cut, x == cut
    w = below + at * (k - below.sum()) / at.sum()  # ties at the cut-off share the rest of the fifth
    return float((w * y).sum() / (w * x).sum())


def weekly_factors(day: np.ndarray, days: int) -> np.ndarray | None:
    """Trips per 7-day week from the window's start over their least-squares linear trend, averaged
    by week of the year (week 53 of a long log folds onto week 1) and scaled to mean 1; None when the
    window holds fewer than 52 whole weeks."""
    weeks = days // 7
    if weeks < WEEKS_PER_YEAR:
        return None
    totals = np.bincount(day[day < weeks * 7] // 7, minlength=weeks).astype(float)
    w = np.arange(weeks)
    trend = np.polyval(np.polyfit(w, totals, 1), w)
    ratio = totals / trend
    f = np.bincount(w % WEEKS_PER_YEAR, ratio) / np.bincount(w % WEEKS_PER_YEAR)
    return f / f.mean()


def panel_dynamics(trips: pd.DataFrame, *, days: int | None = None, n_customers: int | None = None) -> PanelDynamics:
    """The statistics of :class:`PanelDynamics` from trips (one row per trip with ``customer_id`` and
    ``date``: dates, or day numbers from 0 for a simulation). ``days`` is the window's length (default:
    first to last date). Customers are those with a trip unless ``n_customers`` (the base including
    customers with none) is given."""
    day = _day_index(trips)
    days = int(day.max()) + 1 if days is None else days
    if days < 2 * QUARTER_DAYS:
        raise CalibrationError(f"dynamics: the log covers {days} days; at least {2 * QUARTER_DAYS} "
                               "(two 13-week quarters) are needed")
    codes = pd.factorize(trips["customer_id"])[0]
    n = max(codes.max() + 1, n_customers or 0)
    q1 = np.bincount(codes[day < QUARTER_DAYS], minlength=n)
    q4 = np.bincount(codes[day >= days - QUARTER_DAYS], minlength=n)
    corr = float(np.corrcoef(q1, q4)[0, 1]) if q1.std() > 0 and q4.std() > 0 else float("nan")
    settled = np.bincount(codes[day < SETTLED_DAYS], minlength=n) > 0
    return PanelDynamics(correlation=corr, light_growth=_light_growth(q1[settled], q4[settled]),
                         total_growth=float(q4.sum() / max(q1.sum(), 1)), absent_first=float((q1 == 0).mean()),
                         absent_last=float((q4 == 0).mean()), weekly_factors=weekly_factors(day, days), customers=n)


# ---------------------------------------------------------------- drift

def drift_cv2(time_scale_days: float, sd: float, days: int) -> float:
    """Squared coefficient of variation, across customers, of the drift's multiplier averaged over a
    window of ``days``: the engine's weekly steps, with correlation exp(sd^2 a^|i-j|) - 1 between weeks
    i and j (lognormal, a = exp(-7 / time scale)) weighted by the days of each week."""
    weeks = math.ceil(days / DRIFT_WEEK_DAYS)
    wt = np.full(weeks, float(DRIFT_WEEK_DAYS))
    wt[-1] = days - DRIFT_WEEK_DAYS * (weeks - 1)
    lag = np.abs(np.subtract.outer(np.arange(weeks), np.arange(weeks)))
    cov = np.expm1(sd * sd * np.exp(-DRIFT_WEEK_DAYS * lag / time_scale_days))
    return float(wt @ cov @ wt / wt.sum() ** 2)


def with_drift(fit: Fit, time_scale_days: float, sd: float, note: str | None = None) -> Fit:
    """A copy of ``fit`` whose every segment drifts (``need_drift``), its need-rate gamma shape adjusted
    so that yearly trips keep the fitted spread: drift adds its own spread of yearly rates, a factor
    (1 + cv^2) on the counts' (1 + 1 / shape), as store choice and defection do in the fit."""
    if not time_scale_days > 0 or not 0 <= sd <= 3:
        raise CalibrationError(f"drift: time_scale_days must be above 0 and sd in [0, 3] (got {time_scale_days:g}, {sd:g})")
    cv2 = drift_cv2(time_scale_days, sd, fit.window_days)
    shapes = fit.estimates[fit.estimates["parameter"] == "trips_per_year.shape"].set_index("segment")["value"]
    segs, notes = [], list(fit.notes)
    for seg in fit.population["segments"]:
        inv = (1 + 1 / float(shapes[seg["name"]])) / (1 + cv2) - 1
        if inv <= 1e-3:
            notes.append(f"{seg['name']}: drift alone explains the spread of yearly trips; need-rate shape capped at 1000")
        shape = 1 / inv if inv > 1e-3 else 1000.0
        tpy = {**seg["trips_per_year"], "shape": _round(shape)}
        segs.append({**seg, "trips_per_year": tpy, "need_drift": {"time_scale_days": _round(time_scale_days, 3),
                                                                 "sd": _round(sd, 3)}})
    if note:
        notes.append(note)
    return dataclasses.replace(fit, population={**fit.population, "segments": segs}, notes=notes)


@dataclass(frozen=True)
class DriftFit:
    """A drift fitted by :func:`fit_drift`: the chosen ``time_scale_days`` and ``sd``, standard errors
    (of the log time scale, and of the sd) from the per-seed fits' spread, the target and simulated
    statistics at the choice, the loss, and every simulation (``grid``)."""

    time_scale_days: float
    sd: float
    log_time_scale_se: float
    sd_se: float
    target: dict
    simulated: dict
    loss: float
    at_edge: bool
    grid: pd.DataFrame
    per_seed: np.ndarray

    def note(self) -> str:
        """One line saying what was fitted and how well."""
        got = ", ".join(f"{k} {self.simulated[k]:.3g} (data {self.target[k]:.3g})" for k in TARGETS)
        edge = "; at the edge of the drifts searched" if self.at_edge else ""
        return (f"habits drift (fitted by simulation): time scale {self.time_scale_days:.3g} days "
                f"(x/ {math.exp(self.log_time_scale_se):.2f}), sd {self.sd:.3g} (+- {self.sd_se:.2g}); {got}{edge}")


def _loss(sim: Mapping[str, np.ndarray], target: Mapping[str, float]) -> np.ndarray:
    return sum(((sim[k] - target[k]) / target[k]) ** 2 for k in TARGETS)


def _argmin(surfaces: Mapping[str, RectBivariateSpline], target: Mapping[str, float], x: np.ndarray,
            y: np.ndarray, feasible: np.ndarray) -> tuple[int, int, dict, float]:
    sim = {k: s(x, y) for k, s in surfaces.items()}
    loss = np.where(feasible, _loss(sim, target), np.inf)
    i, j = np.unravel_index(np.nanargmin(loss), loss.shape)
    return i, j, {k: float(v[i, j]) for k, v in sim.items()}, float(loss[i, j])


def fit_drift(fit: Fit, target: PanelDynamics, *, customers: int = 2000, seeds: Sequence[int] = (1, 2, 3),
              time_scales: Sequence[float] = TIME_SCALES, sds: Sequence[float] = DRIFT_SDS,
              calendar: Mapping | None = None, start_weekday: str = "mon") -> DriftFit:
    """Fit the drift by simulation: every (time scale, sd) of the grid is simulated with no scheme
    (:func:`with_drift`, then :func:`~loyaltysim.data.calibrate.simulation.simulate_trips`, with the calendar
    if given) for each seed, the same seeds at every point (common random numbers, so differences across
    the grid are not noise). Each of TARGETS, averaged over seeds, is interpolated by a spline over (log
    time scale, sd), and the pair minimising the summed squared relative errors against ``target`` on a
    fine grid is chosen among the drifts that leave every segment's need-rate shape uncapped. Standard errors: each seed's own minimum; their variance, scaled by
    (customers / panel customers + 1 / seeds) since an estimate's noise goes as one over customers, covers
    the panel's sampling error and the simulations' (cost: grid points x seeds simulations)."""

    if len(time_scales) < 2 or len(sds) < 2 or not seeds:
        raise CalibrationError("drift fit: give at least two time scales, two sds and one seed")
    known_base = fit.assumptions.get("n_customers") is not None
    goal = {k: getattr(target, k) for k in TARGETS}
    if not all(np.isfinite(v) and v > 0 for v in goal.values()):
        raise CalibrationError(f"drift fit: the data's statistics cannot be matched ({goal})")
    rows = []
    for tau in time_scales:
        for sd in sds:
            pop = with_drift(fit, tau, sd).population
            for seed in seeds:
                sim = simulate_trips(pop, customers=customers, days=fit.window_days, start_weekday=start_weekday,
                                     seed=seed, calendar=calendar)
                st = panel_dynamics(sim, days=fit.window_days, n_customers=customers if known_base else None)
                rows.append((tau, sd, seed, st.correlation, st.light_growth))
    grid = pd.DataFrame(rows, columns=["time_scale_days", "sd", "seed", *TARGETS])
    x, y = np.log(np.asarray(time_scales, float)), np.asarray(sds, float)
    kx, ky = min(3, x.size - 1), min(3, y.size - 1)

    def surfaces(g: pd.DataFrame) -> dict:
        m = g.groupby(["time_scale_days", "sd"])[list(TARGETS)].mean()
        return {k: RectBivariateSpline(x, y, m[k].to_numpy().reshape(x.size, y.size), kx=kx, ky=ky) for k in TARGETS}

    fx, fy = np.linspace(x[0], x[-1], 161), np.linspace(y[0], y[-1], 161)
    # Only drifts that leave the need-rate shape uncapped keep yearly trips' spread as fitted.
    shape = fit.estimates.loc[fit.estimates["parameter"] == "trips_per_year.shape", "value"].min()
    room = np.log1p(1 / shape)
    feasible = np.array([[math.log1p(drift_cv2(math.exp(a), b, fit.window_days)) < room - 1e-3 for b in fy] for a in fx])
    if not feasible.any():
        raise CalibrationError("drift fit: every drift searched spreads yearly trips more than the data do")
    i, j, sim, loss = _argmin(surfaces(grid), goal, fx, fy, feasible)
    per_seed = np.array([[fx[a], fy[b]] for a, b, *_ in
                         (_argmin(surfaces(grid[grid["seed"] == s]), goal, fx, fy, feasible) for s in seeds)])
    scale = math.sqrt(customers / target.customers + 1 / len(seeds))
    se = per_seed.std(axis=0, ddof=1) * scale if len(seeds) > 1 else np.full(2, np.nan)
    edge = i in (0, fx.size - 1) or j in (0, fy.size - 1) or not feasible[min(i + 1, fx.size - 1), min(j + 1, fy.size - 1)]
    return DriftFit(time_scale_days=float(math.exp(fx[i])), sd=float(fy[j]), log_time_scale_se=float(se[0]),
                    sd_se=float(se[1]), target=goal, simulated=sim, loss=loss, at_edge=edge, grid=grid,
                    per_seed=per_seed)


# ---------------------------------------------------------------- calendar

def fit_calendar(dynamics: PanelDynamics) -> dict:
    """A calendar (``{weekly_factors, first_week: 1}``) from a panel's weekly factors: week 1 starts on
    the window's first day. Not smoothed: holidays move single weeks (the week before Christmas up,
    Christmas week down) and smoothing would spread them; each factor keeps the panel's week-to-week
    sampling noise (about 1 / sqrt(trips a week))."""
    if dynamics.weekly_factors is None:
        raise CalibrationError("calendar: the log covers fewer than 52 whole weeks (364 days)")
    return {"weekly_factors": [round(float(f), 4) for f in dynamics.weekly_factors], "first_week": 1}


def write_calendar(path: str | Path, calendar: Mapping, header: str | None = None) -> Path:
    """Write a calendar file (the mapping a scenario's ``calendar:`` takes), atomically."""
    Calendar.model_validate(dict(calendar))
    body = yaml.safe_dump(dict(calendar), sort_keys=False, default_flow_style=None, width=100)
    lines = [] if header is None else [("# " + line).rstrip() for line in header.strip("\n").splitlines()]
    path = Path(path)
    if path.is_dir():
        raise CalibrationError(f"{path}: is a folder (give a file name such as calendar.yaml)")
    try:
        write_text(path, "\n".join(lines + [body.rstrip("\n")]) + "\n")
    except OSError as err:
        raise CalibrationError(f"{path}: cannot be written ({err.strerror or err})") from None
    return path


def calendar_header(fit: Fit, dynamics: PanelDynamics, source: str) -> str:
    """The comment header of a fitted calendar: source, method, and what the factors show."""
    f = dynamics.weekly_factors
    lo, hi = int(np.argmin(f)), int(np.argmax(f))
    return "\n".join([
        f"Calendar of weekly seasons fitted by loyaltysim calibrate from {source}.",
        f"Method: trips per 7-day week from {fit.start} (week 1) over the window's least-squares linear trend,",
        "scaled to mean 1; not smoothed, so each factor keeps about 1 / sqrt(trips that week) of sampling noise.",
        f"Sd of the factors {dynamics.seasonality_sd:.3f}; lowest week {lo + 1} ({f[lo]:.3f}), highest week {hi + 1} ({f[hi]:.3f}).",
        "Use: copy under a scenario's calendar: key; set first_week to the week of the year day 0 falls in.",
    ])
