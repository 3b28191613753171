"""Customers over time in a panel, and what a population is given to match them: habits that drift
(``need_drift``), spells away (``lapses``), arrivals and leaving, several baskets a day
(``same_day_baskets``) and a calendar of weekly seasons.

- :func:`panel_dynamics` measures, from a :func:`~loyaltysim.data.calibrate.panel.trips_table` (or
  simulated trips), how households' trips move from quarter to quarter (persistence, light buyers'
  growth, absences at both ends, lapse and return) and how weekly trip totals swing around their trend;
  :func:`same_day` measures baskets per trip and :func:`fit_same_day` turns them into ``same_day_baskets``;
- :func:`with_dynamics` gives a fit customers over time and sets its need rate again for them;
  :func:`fit_dynamics` fits them all together by simulation (the method of simulated moments on common
  random numbers);
- :func:`with_drift` gives every segment a drift and adjusts its need-rate shape so yearly trip counts
  keep their fitted spread; :func:`fit_drift` chooses a drift alone by simulation: a grid of (time
  scale, sd) simulated with common random numbers, each statistic interpolated over the grid, the loss
  minimised on the interpolation;
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

from loyaltysim.data.calibrate.fitting import Fit, _round, _store_choice
from loyaltysim.data.calibrate.panel import CalibrationError
from loyaltysim.data.calibrate.simulation import load_calendar, simulate_trips  # noqa: F401  (load_calendar re-exported)
from loyaltysim.results.store import write_text
from loyaltysim.scenario.models import Calendar

QUARTER_DAYS = 91
"""A quarter is 13 weeks: the first and the last 13 weeks of the window are compared."""
FULL_YEAR_DAYS = 4 * QUARTER_DAYS
"""From 364 days a window holds four quarters that do not overlap (adjacent quarters, lapse and return)."""
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
TARGETS = ("correlation", "adjacent_correlation", "light_growth")
"""The statistics the drift fit matches (squared relative errors, summed; those the log is too short for
are left out)."""


# ---------------------------------------------------------------- statistics

STATISTICS = {
    "correlation": "Q1-Q4 trip correlation",
    "adjacent_correlation": "adjacent quarters' trip correlation",
    "light_growth": "light Q1 fifth: Q4/Q1 trips",
    "total_growth": "all trips: Q4/Q1",
    "absent_first": "share absent in first 13 weeks",
    "absent_last": "share absent in last 13 weeks",
    "lapse_return": "share in Q1 and Q4, absent all Q2 or Q3",
}
"""The over-time statistics of :class:`PanelDynamics`, as the check and the fit print them."""


@dataclass(frozen=True)
class PanelDynamics:
    """How a panel's trips move over time. Quarters are 13 weeks (91 days): Q1 the window's first, Q4
    its last, and, in a window of 364 days or more, Q2 the one after Q1 and Q3 the one before Q4.

    ``correlation``: Pearson correlation of customers' trips in Q1 and Q4;
    ``adjacent_correlation``: the mean of the Q1-Q2, Q2-Q3 and Q3-Q4 correlations (with ``correlation``
    it separates short drift time scales, which lower both, from long ones, which lower Q1-Q4 most);
    ``light_growth``: Q4 over Q1 trips of the lightest fifth of Q1's buyers among those shopping in the
    first SETTLED_DAYS (customers tied at the cut-off count in part, so the group is exactly a fifth);
    ``total_growth``: all trips, Q4 over Q1; ``absent_first`` / ``absent_last``: share of customers with
    no trip in Q1 / Q4; ``lapse_return``: share of customers with trips in Q1 and in Q4 but none in the
    whole of Q2 or of Q3 (away for a while, then back); ``weekly_factors``: weekly trip totals over their
    linear trend, mean 1, folded to 52 weeks of the year (None when the window is under 364 days).
    ``adjacent_correlation`` and ``lapse_return`` are nan under 364 days (the quarters would overlap).
    """

    correlation: float
    light_growth: float
    total_growth: float
    absent_first: float
    absent_last: float
    weekly_factors: np.ndarray | None
    customers: int
    adjacent_correlation: float = float("nan")
    lapse_return: float = float("nan")

    @property
    def seasonality_sd(self) -> float:
        """Sd of the weekly factors (nan without them)."""
        return float(np.std(self.weekly_factors, ddof=1)) if self.weekly_factors is not None else float("nan")

    def rows(self) -> list[tuple[str, str, float]]:
        """(section, statistic, value) rows, as the check prints them."""
        f = self.weekly_factors
        out = [("dynamics", label, getattr(self, name)) for name, label in STATISTICS.items()]
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


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")


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


@dataclass(frozen=True)
class CustomerQuarters:
    """Each customer's trips by quarter (``quarters``, n x 4: Q1, Q2, Q3, Q4 as :class:`PanelDynamics`
    defines them), whether they shopped in the first SETTLED_DAYS (``settled``) and their trips in the
    whole window (``total``): all the over-time statistics need, so a bootstrap resamples these rows."""

    quarters: np.ndarray
    settled: np.ndarray
    total: np.ndarray
    four: bool  # the window holds four quarters that do not overlap

    def take(self, rows: np.ndarray) -> CustomerQuarters:
        """The customers ``rows`` (with repeats, for a bootstrap)."""
        return CustomerQuarters(self.quarters[rows], self.settled[rows], self.total[rows], self.four)

    def statistics(self) -> dict[str, float]:
        """The statistics of :class:`PanelDynamics` (but the weekly factors), and the mean and variance
        of trips per customer (``trips_mean``, ``trips_variance``), by name."""
        q1, q2, q3, q4 = self.quarters.T
        nan = float("nan")
        adjacent = float(np.mean([_corr(q1, q2), _corr(q2, q3), _corr(q3, q4)])) if self.four else nan
        away = (q1 > 0) & (q4 > 0) & ((q2 == 0) | (q3 == 0))
        return {"correlation": _corr(q1, q4), "adjacent_correlation": adjacent,
                "light_growth": _light_growth(q1[self.settled], q4[self.settled]),
                "total_growth": float(q4.sum() / max(q1.sum(), 1)), "absent_first": float((q1 == 0).mean()),
                "absent_last": float((q4 == 0).mean()), "lapse_return": float(away.mean()) if self.four else nan,
                "trips_mean": float(self.total.mean()), "trips_variance": float(self.total.var(ddof=1))}


def customer_quarters(trips: pd.DataFrame, *, days: int | None = None,
                      n_customers: int | None = None) -> CustomerQuarters:
    """:class:`CustomerQuarters` from trips (one row per trip with ``customer_id`` and ``date``: dates, or
    day numbers from 0 for a simulation); ``days`` is the window's length (default: first to last date).
    Customers are those with a trip unless ``n_customers`` (the base including customers with none) is
    given."""
    day = _day_index(trips)
    days = int(day.max()) + 1 if days is None else days
    if days < 2 * QUARTER_DAYS:
        raise CalibrationError(f"dynamics: the log covers {days} days; at least {2 * QUARTER_DAYS} "
                               "(two 13-week quarters) are needed")
    codes = pd.factorize(trips["customer_id"])[0]
    n = max(codes.max() + 1, n_customers or 0)
    bounds = ((0, QUARTER_DAYS), (QUARTER_DAYS, 2 * QUARTER_DAYS), (days - 2 * QUARTER_DAYS, days - QUARTER_DAYS),
              (days - QUARTER_DAYS, days))
    quarters = np.stack([np.bincount(codes[(day >= a) & (day < b)], minlength=n) for a, b in bounds], axis=1)
    return CustomerQuarters(quarters=quarters, settled=np.bincount(codes[day < SETTLED_DAYS], minlength=n) > 0,
                            total=np.bincount(codes, minlength=n), four=days >= FULL_YEAR_DAYS)


def panel_dynamics(trips: pd.DataFrame, *, days: int | None = None, n_customers: int | None = None) -> PanelDynamics:
    """The statistics of :class:`PanelDynamics` from trips (one row per trip with ``customer_id`` and
    ``date``: dates, or day numbers from 0 for a simulation). ``days`` is the window's length (default:
    first to last date). Customers are those with a trip unless ``n_customers`` (the base including
    customers with none) is given."""
    day = _day_index(trips)
    days = int(day.max()) + 1 if days is None else days
    cq = customer_quarters(trips, days=days, n_customers=n_customers)
    st = cq.statistics()
    return PanelDynamics(**{k: st[k] for k in STATISTICS}, weekly_factors=weekly_factors(day, days),
                         customers=int(cq.total.size))


@dataclass(frozen=True)
class SameDay:
    """Baskets per trip: ``multi_share``, the share of trips (customer-days) holding 2 or more baskets,
    and ``three_plus_share``, the share of those holding 3 or more; ``trips`` counted."""

    multi_share: float
    three_plus_share: float
    trips: int

    def rows(self) -> list[tuple[str, str, float]]:
        """(section, statistic, value) rows, as the check prints them."""
        return [("same-day baskets", "share of trips with 2+ baskets", self.multi_share),
                ("same-day baskets", "share of those with 3+", self.three_plus_share)]


def same_day(trips: pd.DataFrame) -> SameDay | None:
    """:class:`SameDay` from trips with a ``baskets`` column (a log with basket ids merged by day, or a
    simulation); None without one."""
    if "baskets" not in trips or len(trips) == 0:
        return None
    b = trips["baskets"].to_numpy()
    multi = int((b >= 2).sum())
    return SameDay(multi_share=multi / b.size, three_plus_share=float((b >= 3).sum() / multi) if multi else 0.0,
                   trips=int(b.size))


def fit_same_day(trips: pd.DataFrame) -> dict | None:
    """A segment's ``same_day_baskets`` from the basket counts of a log's trips (customer-days): ``share``
    is the share of trips with 2+ baskets and ``more`` the share of those with 3+. The simulator's count
    beyond two is geometric (``more`` the chance of each further basket), so ``more`` fitted this way is
    the maximum-likelihood estimate from counts read as 1, 2 or 3+ and reproduces both printed shares;
    a log whose counts thin out more slowly than geometric beyond three keeps that excess. None when the
    trips carry no basket counts or no trip holds two baskets."""
    sd = same_day(trips)
    if sd is None or sd.multi_share == 0:
        return None
    return {"share": _round(min(sd.multi_share, 0.99)), "more": _round(min(sd.three_plus_share, 0.99))}


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
        got = ", ".join(f"{k} {self.simulated[k]:.3g} (data {self.target[k]:.3g})" for k in self.target)
        edge = "; at the edge of the drifts searched" if self.at_edge else ""
        return (f"habits drift (fitted by simulation): time scale {self.time_scale_days:.3g} days "
                f"(x/ {math.exp(self.log_time_scale_se):.2f}), sd {self.sd:.3g} (+- {self.sd_se:.2g}); {got}{edge}")


def _loss(sim: Mapping[str, np.ndarray], target: Mapping[str, float]) -> np.ndarray:
    return sum(((sim[k] - target[k]) / target[k]) ** 2 for k in target)


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
    the panel's sampling error and the simulations' (cost: grid points x seeds simulations). Simulated
    statistics are over customers with a trip in the window, as a panel's are (``target`` should be
    measured so: :func:`panel_dynamics` without ``n_customers``)."""

    if len(time_scales) < 2 or len(sds) < 2 or not seeds:
        raise CalibrationError("drift fit: give at least two time scales, two sds and one seed")
    goal = {k: getattr(target, k) for k in TARGETS if k != "adjacent_correlation" or np.isfinite(target.adjacent_correlation)}
    if not all(np.isfinite(v) and v > 0 for v in goal.values()):
        raise CalibrationError(f"drift fit: the data's statistics cannot be matched ({goal})")
    rows = []
    for tau in time_scales:
        for sd in sds:
            pop = with_drift(fit, tau, sd).population
            for seed in seeds:
                sim = simulate_trips(pop, customers=customers, days=fit.window_days, start_weekday=start_weekday,
                                     seed=seed, calendar=calendar)
                st = panel_dynamics(sim, days=fit.window_days)
                rows.append((tau, sd, seed, *(getattr(st, k) for k in goal)))
    grid = pd.DataFrame(rows, columns=["time_scale_days", "sd", "seed", *goal])
    x, y = np.log(np.asarray(time_scales, float)), np.asarray(sds, float)
    kx, ky = min(3, x.size - 1), min(3, y.size - 1)

    def surfaces(g: pd.DataFrame) -> dict:
        m = g.groupby(["time_scale_days", "sd"])[list(goal)].mean()
        return {k: RectBivariateSpline(x, y, m[k].to_numpy().reshape(x.size, y.size), kx=kx, ky=ky) for k in goal}

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


# ---------------------------------------------------------------- customers over time, jointly

@dataclass(frozen=True)
class DynamicsParams:
    """Customers over time as a population file holds them: habits that drift (``time_scale_days``,
    ``sd``; sd 0 is none), spells away (``lapses_per_year``, ``lapse_mean_days``; 0 a year is none),
    customers arriving (``arrivals_per_year``, a share of the starting base) and leaving for good
    (``defection_per_year``); and a factor on the mean need rate :func:`with_dynamics` otherwise sets from
    the fit (``need_mean_factor``), which :func:`fit_dynamics` fits so trips per customer keep the data's
    mean."""

    time_scale_days: float = 180.0
    sd: float = 0.0
    lapses_per_year: float = 0.0
    lapse_mean_days: float = 60.0
    arrivals_per_year: float = 0.0
    defection_per_year: float = 0.10
    need_mean_factor: float = 1.0

    @classmethod
    def of_population(cls, population: Mapping) -> DynamicsParams:
        """The dynamics a population mapping (as a population file holds it) gives its first segment
        (``need_mean_factor`` 1: a fitted one is folded into the need rate the file holds)."""
        pop = population.get("population", population)
        seg = pop["segments"][0]
        drift, lapses = seg.get("need_drift") or {}, seg.get("lapses") or {}
        return cls(time_scale_days=drift.get("time_scale_days", 180.0), sd=drift.get("sd", 0.0),
                   lapses_per_year=lapses.get("per_year", 0.0), lapse_mean_days=lapses.get("mean_days", 60.0),
                   arrivals_per_year=pop.get("arrivals_per_year", 0.0),
                   defection_per_year=seg.get("defection_per_year", 0.10))


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(40)
_NODES, _WEIGHTS = (_NODES + 1) / 2, _WEIGHTS / 2  # on (0, 1)


def _alive(hazard: float, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean square of the share of ``years`` a customer stays (exponential leaving, ``hazard`` a year)."""
    x = hazard * np.asarray(years, float)
    if hazard <= 0:
        return np.ones_like(x), np.ones_like(x)
    return -np.expm1(-x) / x, 2 * (1 - np.exp(-x) * (1 + x)) / x ** 2


def _present(away: float, rate: float, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean square of the share of ``days`` a customer is not away, for a two-state process in its
    long run (``away`` the share away, ``rate`` the sum of the leaving and returning rates a day): the
    indicator's autocorrelation is exp(-rate t), so its average's variance is away (1 - away) 2 (x - 1 +
    exp(-x)) / x^2 at x = rate days."""
    x = rate * np.asarray(days, float)
    if away <= 0:
        return np.ones_like(x), np.ones_like(x)
    g = 2 * (x - 1 + np.exp(-x)) / x ** 2
    return np.full_like(x, 1 - away), (1 - away) ** 2 + away * (1 - away) * g


def exposure_moments(params: DynamicsParams, days: int) -> tuple[float, float]:
    """Mean share of a window of ``days`` that a customer shops at all, and its squared coefficient of
    variation across customers: starting customers leave for good at ``defection_per_year`` and spend
    spells away (started in the long run, as the engine starts them); arrivals (``arrivals_per_year`` of
    the starting base, on days spread evenly) shop from their day on, with the same leaving and spells.
    Leaving and spells are taken as independent (a close approximation: both are rare in a year)."""
    years = days / 365.0
    hazard = -math.log1p(-min(params.defection_per_year, 1 - 1e-9))
    per_day = params.lapses_per_year / 365.0
    away = per_day * params.lapse_mean_days / (1 + per_day * params.lapse_mean_days)
    rate = per_day + 1 / params.lapse_mean_days
    a1, a2 = _alive(hazard, np.array([years]))
    p1, p2 = _present(away, rate, np.array([float(days)]))
    m1, m2 = float(a1[0] * p1[0]), float(a2[0] * p2[0])
    arrive = params.arrivals_per_year * years
    if arrive > 0:
        v = _NODES  # the share of the window left when a customer arrives, evenly spread
        b1, b2 = _alive(hazard, v * years)
        q1, q2 = _present(away, rate, v * days)
        share = arrive / (1 + arrive)
        m1 = (1 - share) * m1 + share * float(_WEIGHTS @ (v * b1 * q1))
        m2 = (1 - share) * m2 + share * float(_WEIGHTS @ (v * v * b2 * q2))
    return m1, m2 / (m1 * m1) - 1.0


def with_dynamics(fit: Fit, params: DynamicsParams, *, same_day: Mapping | None = None,
                  shapes: Mapping[str, float] | None = None, note: str | None = None) -> Fit:
    """A copy of ``fit`` with customers over time: every segment's ``need_drift`` (when sd > 0), ``lapses``
    (when any a year), ``defection_per_year`` and ``same_day_baskets`` (when given), and the population's
    ``arrivals_per_year`` (when above 0). The need rate is set again from the fitted trips here (NBD mean
    and shape) and the assumed store choice, as :func:`fit_population` sets it, now for these dynamics:
    its mean divided by the share of the window customers shop at all (:func:`exposure_moments`) and its
    gamma shape adjusted for the spread that exposure, store choice and drift add, each a factor (1 + cv^2)
    on the counts' (1 + 1 / shape), unless ``shapes`` gives it by segment (as :func:`fit_dynamics` fits
    it); then ``need_mean_factor`` applies."""
    a = fit.assumptions
    if not fit.window_days:
        raise CalibrationError("dynamics: the fit has no window (fit a log first)")
    _, share, cv2_choice = _store_choice(a["store_share"], a["preference_sd"], a["habit_weight"])
    expo, cv2_expo = exposure_moments(params, fit.window_days)
    cv2_drift = drift_cv2(params.time_scale_days, params.sd, fit.window_days) if params.sd > 0 else 0.0
    est = fit.estimates.set_index(["segment", "parameter"])["value"]
    segs, notes = [], list(fit.notes)
    for seg in fit.population["segments"]:
        name = seg["name"]
        mean_here, shape_here = est[(name, "trips_here_per_year.mean")], est[(name, "trips_here_per_year.shape")]
        inv = (1 + 1 / shape_here) / ((1 + cv2_choice) * (1 + cv2_expo) * (1 + cv2_drift)) - 1
        if shapes is not None:
            inv = 1 / shapes[name]
        if inv <= 1e-3 and note is not None:
            notes.append(f"{name}: drift, spells away and store choice alone explain the spread of yearly trips; "
                         "need-rate shape capped at 1000")
        new = dict(seg)
        new["trips_per_year"] = {**seg["trips_per_year"], "mean": _round(mean_here / (share * expo) * params.need_mean_factor),
                                 "shape": _round(1 / inv if inv > 1e-3 else 1000.0)}
        new["defection_per_year"] = _round(params.defection_per_year)
        for key in ("need_drift", "lapses"):
            new.pop(key, None)
        if params.sd > 0:
            new["need_drift"] = {"time_scale_days": _round(params.time_scale_days), "sd": _round(params.sd)}
        if params.lapses_per_year > 0:
            new["lapses"] = {"per_year": _round(params.lapses_per_year), "mean_days": _round(params.lapse_mean_days)}
        if same_day is not None:
            new["same_day_baskets"] = dict(same_day)
        segs.append(new)
    population = {k: v for k, v in fit.population.items() if k != "arrivals_per_year"}
    population["segments"] = segs
    if params.arrivals_per_year > 0:
        population["arrivals_per_year"] = _round(params.arrivals_per_year)
    if note:
        notes.append(note)
    return dataclasses.replace(fit, population=population, notes=notes)


JOINT_TARGETS = (*STATISTICS, "trips_mean", "trips_variance")
"""What :func:`fit_dynamics` matches: every over-time statistic, and the mean and variance of trips per
customer (which the need rate's mean factor and gamma shape keep)."""
TARGET_LABELS = {**STATISTICS, "trips_mean": "trips per customer: mean", "trips_variance": "trips per customer: variance"}
FREE = {  # name: (fitted on a log scale, lowest, highest, finite-difference step on the fitted scale)
    # Up to a year: within one year's data a slower drift is hard to tell from fixed differences between
    # customers (the need rate's spread), so longer time scales only slide along a ridge of equal fits.
    "time_scale_days": (True, 7.0, 365.0, 0.2),
    "sd": (False, 0.0, 1.5, 0.04),
    "lapses_per_year": (False, 0.0, 6.0, 0.05),
    "lapse_mean_days": (True, 7.0, 730.0, 0.2),
    "arrivals_per_year": (False, 0.0, 0.5, 0.015),
    "defection_per_year": (False, 0.0, 0.6, 0.015),
    "need_mean_factor": (True, 0.5, 2.0, 0.02),
}
"""The parameters :func:`fit_dynamics` searches, their ranges and the steps of its finite differences
(wide enough that common random numbers, not noise, carry each difference). The need rate's gamma shape
is fitted beside them, see :func:`fit_dynamics`."""
MAX_SHAPE = 1000.0  # a need-rate shape this high is no spread at all (the fit's cap)
START = DynamicsParams(time_scale_days=180.0, sd=0.3, lapses_per_year=0.5, lapse_mean_days=60.0,
                       arrivals_per_year=0.05, defection_per_year=0.05)
"""Where :func:`fit_dynamics` starts: slow drift, a spell away every other year, as many arriving as
leaving (an assumption, near The Complete Journey's fit, so its search is short)."""
MAX_STEPS = 4.0
"""A search step first moves no parameter by more than this many finite-difference steps (a trust region:
the statistics bend, and a long step on a straight-line guess lands far off); the region doubles after a
cut-short step that lowered the loss and halves after one that did not."""
BOOTSTRAP_SEED = 8451  # the data's sampling covariance: a fixed stream, so a refit gives the same weights


@dataclass(frozen=True)
class DynamicsFit:
    """Customers over time fitted by :func:`fit_dynamics`: the ``params`` and the need rate's gamma
    ``shapes`` by segment (for :func:`with_dynamics`); standard errors ``se`` of the
    free ones (of the log for those fitted on a log scale, so x/ exp(se)); the data's statistics
    (``target``), the simulated ones at the fit (``simulated``) and their difference in standard errors
    of data and simulation together (``z``); the loss (sum of z^2); which parameters were ``free`` and
    which ``fixed``; the simulations run (``evaluations``), whether the search ``converged``, the
    ``customers`` and ``seeds`` of its runs, the ``final_customers`` of the run reported, and the free
    parameters that ended at an end of their range (``at_edge``)."""

    params: DynamicsParams
    shapes: dict
    se: dict
    target: dict
    simulated: dict
    z: dict
    loss: float
    free: tuple[str, ...]
    fixed: dict
    evaluations: int
    converged: bool
    customers: int
    seeds: tuple[int, ...]
    final_customers: int = 0
    at_edge: tuple[str, ...] = ()

    def note(self) -> str:
        """One line saying what was fitted."""
        p, parts = self.params, []

        def est(name: str, text: str) -> str:
            if name not in self.se or not np.isfinite(self.se[name]):
                return text + ("" if name in self.free else " (fixed)")
            return text + (f" (x/ {math.exp(self.se[name]):.2f})" if FREE[name][0] else f" (+- {self.se[name]:.2g})")

        if p.sd > 0:
            parts.append(est("time_scale_days", f"drift time scale {p.time_scale_days:.3g} days") + ", "
                         + est("sd", f"sd {p.sd:.3g}"))
        else:
            parts.append("no drift")
        if p.lapses_per_year > 0:
            parts.append(est("lapses_per_year", f"{p.lapses_per_year:.3g} spells away a year") + " "
                         + est("lapse_mean_days", f"of {p.lapse_mean_days:.3g} days"))
        parts.append(est("arrivals_per_year", f"arrivals {p.arrivals_per_year:.3g} a year"))
        parts.append(est("defection_per_year", f"defection {p.defection_per_year:.3g} a year"))
        missed = [TARGET_LABELS[k] for k, v in self.z.items() if abs(v) > 2]
        miss = f"; beyond 2 standard errors: {', '.join(missed)}" if missed else "; every target within 2 standard errors"
        stopped = "" if self.converged else "; the search stopped at its last iteration before settling"
        edge = f"; at the end of the range searched: {', '.join(self.at_edge)}" if self.at_edge else ""
        return (f"customers over time (fitted by simulation, {self.evaluations} runs of {self.customers:,} customers "
                f"x {len(self.seeds)} seeds): " + "; ".join(parts) + miss + edge + stopped)

    def table(self) -> pd.DataFrame:
        """Each target: data, simulated at the fit, and z."""
        return pd.DataFrame([(TARGET_LABELS[k], self.target[k], self.simulated[k], self.z[k]) for k in self.target],
                            columns=["statistic", "data", "simulated", "z"])


THINNING_STREAM = 2531  # which simulated arrivals a search keeps: a fixed stream, the same at every point


def _simulated_statistics(fit: Fit, params: DynamicsParams, *, customers: int, seeds: Sequence[int],
                          calendar: Mapping | None, start_weekday: str, arrivals_simulated: float | None = None,
                          shapes: Mapping[str, float] | None = None) -> dict[str, float]:
    """The targets' mean over seeds, simulating ``fit`` with ``params`` (customers with a trip only).

    With ``arrivals_simulated`` the run holds that rate of arrivals and keeps each arrival with chance
    ``params.arrivals_per_year / arrivals_simulated`` (a uniform per customer from a fixed stream): the
    same customers at every rate, so a change of rate keeps or drops a few arrivals instead of drawing
    the whole base again, as the engine's own arrivals do (they change its size). Customers shop
    independently of one another with no scheme, so dropping some leaves the others' trips as they were.
    ``shapes`` (by segment) hold the need rate's gamma shape where given: the engine draws need rates by
    rejection, so a new shape draws every customer's rate again, and a search's neighbouring points must
    share one to differ by their parameters' effect rather than by noise."""
    pop = with_dynamics(fit, params).population
    if shapes is not None:
        pop = {**pop, "segments": [{**seg, "trips_per_year": {**seg["trips_per_year"], "shape": shapes[seg["name"]]}}
                                   for seg in pop["segments"]]}
    if arrivals_simulated is not None:
        pop = {**pop, "arrivals_per_year": arrivals_simulated}
    runs = []
    for seed in seeds:
        sim = simulate_trips(pop, customers=customers, days=fit.window_days, start_weekday=start_weekday,
                             seed=seed, calendar=calendar)
        if arrivals_simulated is not None:
            arrival = sim.attrs["arrival_day"] >= 0
            u = np.random.default_rng(np.random.SeedSequence([THINNING_STREAM, seed])).random(arrival.size)
            kept = ~arrival | (u * arrivals_simulated < params.arrivals_per_year)
            sim = sim[kept[sim["customer_id"].to_numpy()]]
        runs.append(customer_quarters(sim, days=fit.window_days).statistics())
    return {k: float(np.mean([r[k] for r in runs])) for k in JOINT_TARGETS}


def _overdispersion(mean: float, variance: float) -> float:
    """1 + 1 / k of counts with this mean and variance, k the NBD shape: (variance - mean) / mean^2 + 1."""
    return 1.0 + (variance - mean) / (mean * mean)


def fit_dynamics(fit: Fit, trips: pd.DataFrame, *, customers: int = 5000, seeds: Sequence[int] = (1, 2),
                 calendar: Mapping | None = None, start_weekday: str = "mon", fixed: Mapping[str, float] | None = None,
                 start: DynamicsParams = START, iterations: int = 8, bootstrap: int = 300,
                 final_customers: int = 20_000) -> DynamicsFit:
    """Fit customers over time by simulation, every parameter of :data:`FREE` not ``fixed`` at once, to
    the data's statistics over time and the mean and variance of trips per customer (:data:`JOINT_TARGETS`,
    from ``trips``, a log's trips of 364 days or more, over customers with a trip, as the simulations' are).

    The method of simulated moments: the loss is the sum of squared differences, simulated minus data,
    each in standard errors (the data's, from ``bootstrap`` resamples of customers, and the simulations');
    it is minimised by Levenberg-Marquardt, each step's Jacobian from finite differences with the same
    ``seeds`` at every point (common random numbers, so a difference is the parameter's effect, not noise;
    arrivals are thinned from a fixed larger set, see :func:`_simulated_statistics`). The need rate's gamma
    shape cannot take part in them (the engine draws need rates by rejection, so a new shape draws every
    customer's rate again): it is held through each iteration and moved between iterations so that the
    simulated counts' overdispersion, (variance - mean) / mean^2, is the data's, a fixed point (the
    shape acts on it almost alone; it starts where :func:`with_dynamics` puts it). Standard errors: the
    sandwich (J'J)^-1 J' C J (J'J)^-1, C the correlation of the targets' errors from the bootstrap; they
    are local, and a valley of nearly equal fits (spells away against arrivals and leaving, which the
    absences alone do not tell apart) can be wider than they say. Drift moves the correlations and light
    buyers' growth most; spells away, arrivals and leaving the absences, the lapse-and-return share and
    Q4/Q1 trips; they interact, so they are fitted together.

    Last, with ``final_customers`` (0: not), the need rate's mean factor is scaled so a larger run's trips
    per customer have the data's mean (its effect on the rest is small, and the search's runs leave about
    1% of noise in it), and the statistics reported (``simulated``, ``z``) are that run's, with the
    engine's own arrivals. Cost: about (free parameters + 3) x ``iterations`` simulations of ``customers``
    (and up to half as many arrivals) x seeds, and two of ``final_customers`` x seeds."""
    days = fit.window_days
    if days < FULL_YEAR_DAYS:
        raise CalibrationError(f"dynamics fit: the log covers {days} days; at least {FULL_YEAR_DAYS} (four quarters) "
                               "are needed")
    if customers < 100 or not seeds:
        raise CalibrationError("dynamics fit: give at least 100 customers and one seed")
    fixed = dict(fixed or {})
    unknown = [k for k in fixed if k not in FREE and k != "need_spread_factor"]
    if unknown:
        raise CalibrationError(f"dynamics fit: '{unknown[0]}' is not a dynamics parameter (allowed: "
                               f"{', '.join([*FREE, 'need_spread_factor'])})")
    free = tuple(k for k in FREE if k not in fixed)
    if fixed.get("sd") == 0:
        free = tuple(k for k in free if k != "time_scale_days")
    if fixed.get("lapses_per_year") == 0:
        free = tuple(k for k in free if k != "lapse_mean_days")
    start = dataclasses.replace(start, **fixed)
    sim = {"customers": customers, "seeds": tuple(seeds), "calendar": calendar, "start_weekday": start_weekday,
           "arrivals_simulated": FREE["arrivals_per_year"][2] if "arrivals_per_year" in free else None}

    data = customer_quarters(trips, days=days)
    target = data.statistics()
    n = data.total.size
    rng = np.random.default_rng(np.random.SeedSequence(BOOTSTRAP_SEED))
    boot = np.array([[st[k] for k in JOINT_TARGETS] for st in
                     (data.take(rng.integers(0, n, n)).statistics() for _ in range(bootstrap))])
    # Errors of data and simulation: a simulation's statistics vary as the data's do, scaled by customers.
    cov_data = np.cov(boot, rowvar=False)
    cov = cov_data * (1 + n / (customers * len(seeds)))
    sigma = np.sqrt(np.diag(cov))
    goal = np.array([target[k] for k in JOINT_TARGETS])
    if not np.all(np.isfinite(goal)) or not np.all(sigma > 0):
        raise CalibrationError("dynamics fit: the log's statistics over time cannot be measured (too few customers "
                               "or trips)")
    spread_goal = _overdispersion(target["trips_mean"], target["trips_variance"])

    lo = np.array([math.log(FREE[k][1]) if FREE[k][0] else FREE[k][1] for k in free])
    hi = np.array([math.log(FREE[k][2]) if FREE[k][0] else FREE[k][2] for k in free])
    step = np.array([FREE[k][3] for k in free])

    def decode(z: np.ndarray) -> DynamicsParams:
        return dataclasses.replace(start, **{k: float(math.exp(v) if FREE[k][0] else v) for k, v in zip(free, z)})

    evaluations = 0

    def residual(z: np.ndarray, shapes: Mapping[str, float]) -> tuple[np.ndarray, dict]:
        nonlocal evaluations
        evaluations += 1
        st = _simulated_statistics(fit, decode(z), shapes=shapes, **sim)
        return (np.array([st[k] for k in JOINT_TARGETS]) - goal) / sigma, st

    z = np.clip(np.array([math.log(getattr(start, k)) if FREE[k][0] else getattr(start, k) for k in free]), lo, hi)
    # 1 + 1 / shape by segment, moved as one between iterations
    inv = {seg["name"]: 1 + 1 / seg["trips_per_year"]["shape"] for seg in with_dynamics(fit, start).population["segments"]}

    def shapes_of(inv: Mapping[str, float]) -> dict[str, float]:
        return {k: _round(1 / (v - 1)) if v - 1 > 1 / MAX_SHAPE else MAX_SHAPE for k, v in inv.items()}

    shapes = shapes_of(inv)
    r, st = residual(z, shapes)
    lam, radius, converged, jac, settled = 0.1, MAX_STEPS, False, None, False
    for it in range(iterations):
        if it:
            # The shape that brings the simulated counts' overdispersion to the data's; the centre is
            # simulated again with it (the next steps compare with it).
            ratio = spread_goal / _overdispersion(st["trips_mean"], st["trips_variance"])
            inv = {k: max(v * ratio, 1 + 1 / MAX_SHAPE) for k, v in inv.items()}
            settled = abs(math.log(ratio)) < 0.005
            shapes = shapes_of(inv)
            r, st = residual(z, shapes)
        if not free:
            converged = settled
            if settled:
                break
            continue
        jac = np.empty((r.size, len(free)))
        for j in range(len(free)):
            h = step[j] if z[j] + step[j] <= hi[j] else -step[j]
            zj = z.copy()
            zj[j] += h
            jac[:, j] = (residual(zj, shapes)[0] - r) / h
        a, g = jac.T @ jac, jac.T @ r
        scale = np.maximum(np.diag(a), 1e-6 * max(np.diag(a).max(), 1e-12))
        moved = None
        for _attempt in range(3):
            delta = np.linalg.solve(a + lam * np.diag(scale), -g)
            cut = float(np.max(np.abs(delta) / (radius * step)))
            delta /= max(1.0, cut)
            z_new = np.clip(z + delta, lo, hi)
            r_new, st_new = residual(z_new, shapes)
            if r_new @ r_new < r @ r:
                moved = np.abs(z_new - z)
                z, r, st, lam = z_new, r_new, st_new, max(lam / 3, 1e-4)
                if cut > 1:  # a step the region cut short that still helped: the straight line holds further
                    radius = min(2 * radius, 16 * MAX_STEPS)
                break
            lam, radius = lam * 5, max(radius / 2, 1.0)
        # Settled: no step lowers the loss (a minimum, as far as the simulations can tell) or the last was
        # small, and the shape had stopped moving.
        if (moved is None or np.all(moved < step / 2)) and settled:
            converged = True
            break
    se = {}
    if jac is not None:
        corr = cov / np.outer(sigma, sigma)
        bread = np.linalg.pinv(jac.T @ jac)
        cov_z = bread @ jac.T @ corr @ jac @ bread
        se = {k: float(math.sqrt(max(cov_z[j, j], 0.0))) for j, k in enumerate(free)}
    params = decode(z)
    sim["shapes"] = shapes
    if final_customers:
        larger = {**sim, "customers": final_customers, "arrivals_simulated": None}  # the engine's own arrivals
        if "need_mean_factor" in free:
            st = _simulated_statistics(fit, params, **larger)
            params = dataclasses.replace(params, need_mean_factor=params.need_mean_factor * target["trips_mean"]
                                         / st["trips_mean"])
            evaluations += 1
        st = _simulated_statistics(fit, params, **larger)
        evaluations += 1
        sigma = np.sqrt(np.diag(cov_data) * (1 + n / (final_customers * len(seeds))))
        r = (np.array([st[k] for k in JOINT_TARGETS]) - goal) / sigma
    return DynamicsFit(params=params, shapes=shapes, se=se, target=dict(zip(JOINT_TARGETS, goal.tolist())),
                       simulated={k: st[k] for k in JOINT_TARGETS}, z=dict(zip(JOINT_TARGETS, r.tolist())),
                       loss=float(r @ r), free=free, fixed=fixed, evaluations=evaluations, converged=converged,
                       customers=customers, seeds=tuple(seeds), final_customers=final_customers,
                       at_edge=tuple(k for k, v, a, b in zip(free, z, lo, hi) if v <= a + 1e-9 or v >= b - 1e-9))


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
