"""Fitting a population spec to a transaction log, one segment at a time, to the parameters of
:class:`~loyaltysim.scenario.models.Segment`:

- **trips**: the simulator makes at most one trip per customer per day, so by default a customer's
  baskets on one date are merged into one trip (``trip="day"``). Trip counts per customer over the
  observed window are fitted by maximum likelihood to the negative binomial (see
  :mod:`~loyaltysim.data.calibrate.nbd`), zero-truncated unless the number of customers with no trip
  is known;
- **baskets**: log trip values split into a between-customer and a within-customer sd, net of the
  simulator's household-size and income terms; with ``basket_fit="mean"``, a share of small top-up shops
  (``small_baskets``) where it fits the trip-value quantiles better than one lognormal;
- **timing**: weekday and hour-band shares, with the Dirichlet precision of customers' own profiles
  fitted by Dirichlet-multinomial maximum likelihood;
- **mix**: category spend shares with a method-of-moments Dirichlet precision, and the own-label
  share when the log says which lines are own label;
- **households**: size, children and income shares when demographics are given.

A log holds only this retailer's trips, while the simulator draws needs at all stores and lets each
customer choose this retailer or the competition. The fitter therefore takes the share of needs this
retailer gets (``store_share``, not identifiable from one retailer's log: an assumption), the spread of
customers' preference for it and the yearly defection rate, and sets the need rate, its gamma shape
and the preference so that the simulated trips here reproduce the fitted ones (mean and variance).

Segments: one segment is fitted by default; give ``segments`` (a customer-to-segment mapping, for
instance from a CRM segmentation) to fit each group on its own. The fitter does not invent segments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError
from scipy import optimize, special
from scipy.stats import norm

from loyaltysim.data.calibrate.nbd import fit_nbd
from loyaltysim.data.calibrate.panel import (
    PERCENTILES, CalibrationError, observed_window, top_spend_share, trip_counts, trips_table,
)
from loyaltysim.scenario.models import CATEGORIES, HOUR_BANDS, INCOME_BANDS, WEEKDAYS, Behaviour, Population, Segment

INCOME_BASKET = np.asarray(Segment.model_fields["income_basket"].default, np.float32).astype(float)
"""Basket multipliers by income band the fit assumes: the segment default, which fitted files keep (float32, as
the simulator holds them)."""

MIN_TRIPS_FOR_MIX = 20
"""Customers need this many trips for their category or own-label shares to enter a precision fit
(as in the Complete Journey fit of the default population)."""
MIN_CUSTOMERS = 30
"""Fewest customers a segment (or a demographic regression) is fitted from."""
CERTAIN_SHARE = 0.999
"""A store share at or above this is treated as certain: preference mean 8, sd 0."""
SMALL_BASKET_MIN_GAIN = 0.02
"""How much a mixture with small shops must lower the root-mean-square error of the fitted log trip-value
quantiles (q10 to q90) to be kept: 0.02, about 2% on the values, well above what sampling error alone
gives a lognormal log (0.001-0.006 rms for 4,000 customers' 170,000 trips, tests/test_small_baskets.py);
below it the basket stays one lognormal."""
SMALL_BASKET_MAX_SHARE = 0.9
"""Largest share of small shops the basket fit considers."""
MIN_SD_WITHIN = 0.1
"""Smallest log sd of a customer's usual (or small) shops the basket fit leaves, when the shift between
the two takes up most of the within-customer variance."""


# ---------------------------------------------------------------- store choice and defection

def _choice_prob(pref: np.ndarray, habit_weight: float) -> np.ndarray:
    """Long-run probability of choosing this retailer with habit feedback: p = sigmoid(pref + w p)."""
    p = 1.0 / (1.0 + np.exp(-pref))
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-(pref + habit_weight * p)))
    return p


def _store_choice(share: float, sd: float, habit_weight: float) -> tuple[float, float, float]:
    """Preference mean giving a mean choice probability ``share`` for preference sd ``sd``; returns
    (mean, realised share, squared coefficient of variation of the choice probability)."""
    if share >= CERTAIN_SHARE:
        p = float(_choice_prob(np.array([8.0]), habit_weight)[0])
        return 8.0, p, 0.0
    z, wts = np.polynomial.hermite_e.hermegauss(80)
    wts = wts / wts.sum()

    def moments(mu: float) -> tuple[float, float]:
        p = _choice_prob(mu + sd * z, habit_weight)
        return float(wts @ p), float(wts @ p ** 2)

    mu = optimize.brentq(lambda x: moments(x)[0] - share, -30.0, 30.0, xtol=1e-10)
    m1, m2 = moments(mu)
    return float(mu), m1, m2 / (m1 * m1) - 1.0


def _exposure(defection_per_year: float, years: float) -> tuple[float, float]:
    """Mean share of a window of ``years`` a customer is still shopping (exponential defection), and
    the squared coefficient of variation of that share."""
    if defection_per_year <= 0:
        return 1.0, 0.0
    h = -math.log1p(-min(defection_per_year, 1 - 1e-9))  # hazard per year
    t = years
    e1 = (1 - math.exp(-h * t)) / (h * t)
    e2 = 2 * (1 - math.exp(-h * t) * (1 + h * t)) / (h * t) ** 2
    return e1, e2 / (e1 * e1) - 1.0


# ---------------------------------------------------------------- trip values

@dataclass(frozen=True)
class BasketShape:
    """Pooled log trip values as the simulator draws them: a customer's usual log value is normal around
    ``mu`` with sd ``total_sd`` across customers and trips (between customers, with the household and
    income terms, and ``sd_within`` within), and a share ``share`` of trips are small shops, shifted by
    ``log_ratio`` (0 or less): a mixture of two normals with the same sd."""

    mu: float
    total_sd: float
    sd_within: float
    share: float = 0.0
    log_ratio: float = 0.0

    def mean(self) -> float:
        """Mean trip value: the lognormal's, times 1 - w + w e^d."""
        return math.exp(self.mu + self.total_sd ** 2 / 2) * (1 - self.share + self.share * math.exp(self.log_ratio))

    def log_quantiles(self, p: np.ndarray) -> np.ndarray:
        """Quantiles of the log trip value at probabilities ``p``: the normal's without small shops, else
        the mixture's, its CDF inverted by bisection."""
        p = np.asarray(p, float)
        m, s, w, d = self.mu, self.total_sd, self.share, self.log_ratio
        if w == 0:
            return m + s * norm.ppf(p)
        lo, hi = np.full(p.size, m + d - 12 * s), np.full(p.size, m + 12 * s)
        for _ in range(64):  # the bracket (24 sd and the shift) shrinks to below 1e-15 of a sd
            mid = 0.5 * (lo + hi)
            below = (1 - w) * special.ndtr((mid - m) / s) + w * special.ndtr((mid - m - d) / s) < p
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi)


def _basket_shape(log_mean: float, var_between: float, var_within: float, share: float = 0.0,
                  log_ratio: float = 0.0) -> BasketShape | None:
    """The basket shape with small shops (``share``, ``log_ratio``) whose mean trip value is exp(``log_mean``)
    and whose log values vary as measured: ``var_between`` across customers' centres and ``var_within``
    within a customer, the mixture's own variance w(1-w)d^2 included. None if the shift leaves the
    usual shops a log sd under MIN_SD_WITHIN."""
    var_usual = var_within - share * (1 - share) * log_ratio ** 2
    if share > 0 and var_usual < MIN_SD_WITHIN ** 2:
        return None
    total_sd = math.sqrt(var_between + var_usual)
    mu = log_mean - total_sd ** 2 / 2 - math.log(1 - share + share * math.exp(log_ratio))
    return BasketShape(mu, total_sd, math.sqrt(var_usual), share, log_ratio)


def _rms(shape: BasketShape, p: np.ndarray, log_q: np.ndarray) -> float:
    """Root-mean-square error of a shape's log quantiles at ``p`` against ``log_q``."""
    return float(np.sqrt(np.mean((shape.log_quantiles(p) - log_q) ** 2)))


def _fit_basket_shape(log_mean: float, var_between: float, var_within: float, p: np.ndarray,
                     log_q: np.ndarray) -> tuple[BasketShape, BasketShape | None]:
    """Trip values as one lognormal and as a mixture with small shops, both keeping the data's mean trip
    value (exp(``log_mean``)) and log variances between and within customers; the mixture's share and
    log ratio minimise the squared errors of its log quantiles at ``p`` against the data's ``log_q``.
    Returns (lognormal, mixture); the mixture is None when no share improves on the lognormal. Share and
    log ratio are rounded to 3 significant digits, the rest worked out from the rounded values (so the
    mean and variances hold exactly)."""
    single = _basket_shape(log_mean, var_between, var_within)

    def shift_bound(w: float) -> float:
        """The largest shift (as a positive number) that leaves the usual shops MIN_SD_WITHIN, at most 10."""
        return min(10.0, math.sqrt(max(var_within - MIN_SD_WITHIN ** 2, 0.0) / (w * (1 - w))))

    # Search over the share and the shift as a fraction t of its bound (a rectangle, every point valid):
    # a grid, then the best point polished.
    def loss(theta) -> float:
        w, t = float(theta[0]), float(theta[1])
        shape = _basket_shape(log_mean, var_between, var_within, w, -t * shift_bound(w) * (1 - 1e-9))
        return _rms(shape, p, log_q) ** 2 if shape is not None else math.inf

    grid = [(w, t) for w in np.linspace(0.02, SMALL_BASKET_MAX_SHARE, 23) for t in np.linspace(0.05, 1.0, 20)]
    start = min(grid, key=loss)
    res = optimize.minimize(loss, start, method="Nelder-Mead", bounds=[(1e-4, SMALL_BASKET_MAX_SHARE), (0.0, 1.0)],
                            options={"xatol": 1e-6, "fatol": 1e-12})
    w, t = (res.x if res.fun <= loss(start) else start)
    w, d = _round(float(w), 3), -float(t) * shift_bound(float(w))
    mixture = None
    for digits in (_round(d, 3), _round_toward_zero(d, 3)):  # rounding may take the shift past its bound
        if mixture is None and w > 0 and digits < 0:
            mixture = _basket_shape(log_mean, var_between, var_within, w, digits)
    if mixture is None or _rms(mixture, p, log_q) >= _rms(single, p, log_q):
        return single, None
    return single, mixture


# ---------------------------------------------------------------- the fit

@dataclass
class Fit:
    """The result of :func:`fit_population`.

    ``population``: a Population-shaped dict (``{"segments": [...]}``) ready for a scenario;
    ``table``: data against the fitted model (segment, section, statistic, data, fitted);
    ``estimates``: fitted parameters with standard errors where known (segment, parameter, value, se, n);
    ``notes``: what was assumed or kept at its default, one line each;
    ``dynamics``, ``calendar``, ``drift``: the log's statistics over time, its calendar of weekly seasons
    and the fitted drift, when :func:`~loyaltysim.data.calibrate.pipeline.calibrate` adds them.
    """

    population: dict
    table: pd.DataFrame
    estimates: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    window_days: int = 0
    start: date | None = None
    assumptions: dict = field(default_factory=dict)
    dynamics: Any = None
    calendar: dict | None = None
    drift: Any = None

    def validated(self) -> Population:
        """The population as a validated :class:`Population`."""
        return Population.model_validate(self.population)

    def yaml(self, header: str | None = None) -> str:
        """The population as YAML (under a ``population:`` key), with an optional comment header."""
        body = yaml.safe_dump({"population": self.population}, sort_keys=False, default_flow_style=None, width=100)
        lines = [] if header is None else [("# " + line).rstrip() for line in header.strip("\n").splitlines()]
        return "\n".join(lines + [body.rstrip("\n")]) + "\n"


def _round(x: float, digits: int = 4) -> float:
    if x == 0 or not np.isfinite(x):
        return float(x)
    return float(round(x, digits - 1 - math.floor(math.log10(abs(x)))))


def _round_toward_zero(x: float, digits: int) -> float:
    """``x`` cut (not rounded) to ``digits`` significant digits."""
    if x == 0 or not np.isfinite(x):
        return float(x)
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(abs(x))))
    return float(math.trunc(x * scale) / scale)


def _shares(values: np.ndarray) -> list[float]:
    """Shares rounded to 4 decimals that still sum to exactly 1."""
    v = np.asarray(values, float)
    v = v / v.sum()
    r = np.round(v, 4)
    r[np.argmax(r)] += round(1.0 - r.sum(), 4)
    return [float(round(x, 4)) for x in r]


def _dm_precision(counts: np.ndarray, mean: np.ndarray) -> tuple[float, int]:
    """Dirichlet-multinomial ML precision of customers' count profiles around a fixed mean."""
    counts = counts[counts.sum(axis=1) >= 2]
    if counts.shape[0] < MIN_CUSTOMERS:
        return float("nan"), counts.shape[0]
    n = counts.sum(axis=1)
    mean = np.clip(mean, 1e-9, None)

    def nll(log_a: float) -> float:
        a = math.exp(log_a)
        am = a * mean
        ll = (special.gammaln(a) - special.gammaln(n + a)).sum()
        ll += (special.gammaln(counts + am) - special.gammaln(am)).sum()
        return -ll

    res = optimize.minimize_scalar(nll, bounds=(math.log(0.05), math.log(1e4)), method="bounded",
                                   options={"xatol": 1e-6})
    return float(math.exp(res.x)), counts.shape[0]


def _mom_precision(shares: np.ndarray) -> float:
    """Method-of-moments Dirichlet precision of share vectors: sum m(1-m) / sum var - 1."""
    m, v = shares.mean(axis=0), shares.var(axis=0, ddof=1)
    if v.sum() <= 0:
        return float("nan")
    return float((m * (1 - m)).sum() / v.sum() - 1.0)


def _segment_defaults() -> dict[str, Any]:
    return {name: f.default for name, f in Segment.model_fields.items()}


def _offsets(household: np.ndarray, income: np.ndarray, elasticity: float) -> tuple[float, float]:
    """Mean and variance of the simulator's household-size and income terms in a customer's log basket."""
    sizes = np.log(np.arange(1, 6) / 2.0)
    inc = np.log(INCOME_BASKET)
    hm, hv = household @ sizes, household @ sizes ** 2 - (household @ sizes) ** 2
    im, iv = income @ inc, income @ inc ** 2 - (income @ inc) ** 2
    return elasticity * hm + im, elasticity ** 2 * hv + iv


def fit_population(transactions: pd.DataFrame, demographics: pd.DataFrame | None = None, *,
                   n_customers: int | None = None, trip: str = "day", store_share: float = 0.5,
                   preference_sd: float = 1.0, defection_per_year: float = 0.10,
                   basket_fit: str = "log", segments: Mapping[Any, str] | pd.Series | None = None,
                   name: str = "shoppers", habit_weight: float | None = None) -> Fit:
    """Fit a population spec to a standardised transaction log (see :func:`read_transactions`).

    ``n_customers``: customers in the base including those with no trip in the log (a panel); if not
    given, the trip-count fit is zero-truncated. ``trip``: "day" (default; the simulator's unit) or
    "basket". ``store_share``, ``preference_sd`` and ``defection_per_year`` describe what the log
    cannot show (assumptions, defaulting to the scenario defaults): the share of customers' needs
    that this retailer gets, the spread of their preference for it, and how many leave for good a
    year. The need rate is scaled and its gamma shape adjusted so the simulated trips here have the
    fitted mean and variance. ``segments`` maps customer ids to segment names (each fitted on its
    own; with ``n_customers``, non-buyers are spread over segments in proportion to buyers);
    without it one segment called ``name`` is fitted. ``habit_weight`` defaults to the
    scenario default, which the store-choice adjustment assumes. ``basket_fit``: "log" (default)
    fits the lognormal by maximum likelihood (the mean of log trip values); "mean" keeps the
    fitted sds and sets the centre so the mean trip value matches the data, for logs whose
    values are not quite lognormal when spend totals matter more than the median; it also fits a
    share of small top-up shops (``small_baskets``: their share and log value relative to the usual
    basket) to the trip-value quantiles q10-q90, keeping the mean and the within-customer variance,
    where that lowers the quantiles' log error by SMALL_BASKET_MIN_GAIN or more.
    """
    if basket_fit not in ("log", "mean"):
        raise CalibrationError(f"basket_fit: '{basket_fit}' is not a basket fit (allowed: log, mean)")
    if not 0 < store_share <= 1:
        raise CalibrationError(f"store_share must be in (0, 1] (got {store_share})")
    if preference_sd < 0:
        raise CalibrationError(f"preference_sd must be at least 0 (got {preference_sd})")
    if not 0 <= defection_per_year < 1:
        raise CalibrationError(f"defection_per_year must be in [0, 1) (got {defection_per_year})")
    habit_weight = Behaviour().habit_weight if habit_weight is None else habit_weight
    if len(transactions) == 0:
        raise CalibrationError("no transactions to fit")
    trips = trips_table(transactions, trip)
    start, end, window, years = observed_window(trips)
    customers = pd.Index(trips["customer_id"].unique())
    if n_customers is not None and n_customers < customers.size:
        raise CalibrationError(f"n_customers ({n_customers}) is below the {customers.size} customers in the log")

    if segments is None:
        groups = {name: customers}
        seg_of = None
    else:
        seg_of = pd.Series(segments)
        missing = customers[~customers.isin(seg_of.index)]
        if missing.size:
            raise CalibrationError(f"segments: customer {missing[0]!r} is in the log but has no segment")
        seg_of = seg_of.reindex(customers)
        groups = {str(s): customers[(seg_of == s).to_numpy()] for s in pd.unique(seg_of)}
    notes = [(f"{len(trips):,} trips ({'customer-days' if trip == 'day' else 'baskets'}) by {customers.size:,} "
              f"customers over {window} days from {start.date()} to {end.date()}")]
    if trip == "day":
        notes.append("a customer's purchases on one date are one trip (its baskets are that trip's same-day visits)")
    if basket_fit == "mean":
        notes.append("basket centre set so the mean trip value matches the data (basket_fit=mean)")
    if not (trips["band"] >= 0).all():
        notes.append("hour bands: the log has dates but no times; default hour bands kept")
    choice_mu, realised_share, cv2_choice = _store_choice(store_share, preference_sd, habit_weight)
    exposure, cv2_exposure = _exposure(defection_per_year, years)
    sd_used = preference_sd if store_share < CERTAIN_SHARE else 0.0
    notes.append(
        f"store choice (assumed): this retailer gets {realised_share:.1%} of needs (preference mean "
        f"{choice_mu:.3g}, sd {sd_used:g}) and {defection_per_year:.1%} of customers leave for good a year (a "
        "starting value where customers over time are fitted); "
        f"need rates are trips here / {realised_share * exposure:.3g}, their gamma shape adjusted to match")

    segs, tables, estimates = [], [], []
    for seg_name, ids in groups.items():
        if ids.size < MIN_CUSTOMERS:
            raise CalibrationError(f"segment '{seg_name}' has {ids.size} customers; at least {MIN_CUSTOMERS} are needed")
        share = ids.size / customers.size
        seg_total = None
        if n_customers is not None:
            seg_total = round(n_customers * share) if seg_of is not None else n_customers
        seg, table, est = _fit_segment(
            trips[trips["customer_id"].isin(ids)], demographics, seg_name, years=years, n_total=seg_total,
            choice=(choice_mu, realised_share, cv2_choice), exposure=(exposure, cv2_exposure),
            preference_sd=sd_used, defection_per_year=defection_per_year, basket_fit=basket_fit, notes=notes)
        seg["share"] = share
        segs.append(seg)
        tables.append(table)
        estimates.append(est)
    shares = _shares([s["share"] for s in segs])
    for s, sh in zip(segs, shares):
        s["share"] = sh
    segs = [{"name": s["name"], "share": s["share"], **{k: v for k, v in s.items() if k not in ("name", "share")}}
            for s in segs]
    population = {"segments": segs}
    try:
        Population.model_validate(population)
    except ValidationError as err:  # e.g. a segment name a scenario cannot use
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CalibrationError(f"the fitted population is not valid: {where}: {first['msg']}") from None
    assumptions = {"trip": trip, "basket_fit": basket_fit, "store_share": store_share,
                   "realised_store_share": realised_share, "preference_sd": preference_sd,
                   "defection_per_year": defection_per_year, "habit_weight": habit_weight,
                   "n_customers": n_customers}
    return Fit(population=population, table=pd.concat(tables, ignore_index=True),
               estimates=pd.concat(estimates, ignore_index=True), notes=notes, window_days=window,
               start=start.date(), assumptions=assumptions)


def _fit_segment(trips: pd.DataFrame, demographics: pd.DataFrame | None, seg_name: str, *, years: float,
                 n_total: int | None, choice: tuple[float, float, float], exposure: tuple[float, float],
                 preference_sd: float, defection_per_year: float, basket_fit: str, notes: list[str]):
    defaults = _segment_defaults()
    rows: list[tuple] = []      # (section, statistic, data, fitted)
    est: list[tuple] = []       # (parameter, value, se, n)
    seg: dict[str, Any] = {"name": seg_name}
    by_cust = trips.groupby("customer_id", sort=True)
    counts = by_cust.size()
    ids = counts.index

    # -- trips: NBD on counts over the window
    obs = trip_counts(trips, n_total)
    nbd = fit_nbd(obs, years, truncated=n_total is None)
    mu_c, share_real, cv2_choice = choice
    expo, cv2_expo = exposure
    inv_shape = (1 + 1 / nbd.shape) / ((1 + cv2_choice) * (1 + cv2_expo)) - 1
    if inv_shape <= 1e-3:
        notes.append(f"{seg_name}: the preference spread and defection alone explain the spread of trip rates; "
                     f"need-rate shape capped at 1000")
    need_shape = 1 / inv_shape if inv_shape > 1e-3 else 1000.0
    # Delta method: d(need shape) / d(shape here) = need_shape^2 / (C shape^2), C the two CV factors.
    need_shape_se = (need_shape ** 2 / ((1 + cv2_choice) * (1 + cv2_expo) * nbd.shape ** 2) * nbd.shape_se
                     if inv_shape > 1e-3 else float("nan"))
    need_mean = nbd.mean / (share_real * expo)
    seg["trips_per_year"] = {"mean": _round(need_mean), "shape": _round(need_shape)}
    seg["retailer_preference"] = {"mean": _round(mu_c), "sd": _round(preference_sd)}
    seg["defection_per_year"] = _round(defection_per_year)
    est += [("trips_here_per_year.mean", nbd.mean, nbd.mean_se, nbd.customers),
            ("trips_here_per_year.shape", nbd.shape, nbd.shape_se, nbd.customers),
            ("trips_per_year.mean", need_mean, nbd.mean_se / (share_real * expo), nbd.customers),
            ("trips_per_year.shape", need_shape, need_shape_se, nbd.customers)]
    fm, fv = nbd.window_mean_var()
    kk = np.arange(0, int(obs.max()) * 3 + 50)
    cdf = np.cumsum(nbd.pmf(kk))
    rows += [("trips per customer", "mean", obs.mean(), fm), ("trips per customer", "variance", obs.var(ddof=1), fv)]
    for q in PERCENTILES:
        rows.append(("trips per customer", f"q{q}", float(np.quantile(obs, q / 100)),
                     float(kk[np.searchsorted(cdf, q / 100)])))
    rows.append(("trips per customer", "share with 1 trip", float((obs == 1).mean()), float(nbd.pmf(np.array([1]))[0])))

    # -- baskets: lognormal, between/within split (positive trips only)
    pos = trips[trips["amount"] > 0]
    x = np.log(pos["amount"].to_numpy())
    cid = pos["customer_id"].to_numpy()
    codes, uniq = pd.factorize(cid)
    n_i = np.bincount(codes)
    mean_i = np.bincount(codes, x) / n_i
    multi = n_i >= 2
    if multi.sum() < MIN_CUSTOMERS:
        raise CalibrationError(f"segment '{seg_name}': {int(multi.sum())} customers have two or more trips; "
                               f"at least {MIN_CUSTOMERS} are needed to split basket variation")
    resid = x - mean_i[codes]
    keep = multi[codes]
    sd_within = math.sqrt((resid[keep] ** 2).sum() / (keep.sum() - multi.sum()))
    mi = mean_i[multi]
    var_between = mi.var(ddof=1) - np.mean(sd_within ** 2 / n_i[multi])
    mu_trips = float(x.mean())

    # -- households (demographics), then the basket terms they imply
    hh_shares = np.asarray(defaults["household_size"], float)
    inc_shares = np.asarray(defaults["income"], float)
    elasticity = float(defaults["basket_size_elasticity"])
    demo = None
    if demographics is not None:
        demo = demographics[demographics["customer_id"].isin(ids)]
        if len(demo) >= MIN_CUSTOMERS:
            hh_shares = np.bincount(demo["household_size"].to_numpy() - 1, minlength=5) / len(demo)
            seg["household_size"] = _shares(hh_shares)
            hh_shares = np.asarray(seg["household_size"])
            est.append(("household_size.n", float(len(demo)), float("nan"), len(demo)))
            if "children" in demo:
                two_plus = demo["household_size"] >= 2
                if two_plus.any():
                    seg["children_share"] = _round(float((demo.loc[two_plus, "children"] > 0).mean()))
            if "income" in demo and demo["income"].notna().sum() >= MIN_CUSTOMERS:
                inc = demo["income"].dropna()
                inc_shares = np.array([(inc == b).mean() for b in INCOME_BANDS])
                seg["income"] = _shares(inc_shares)
                inc_shares = np.asarray(seg["income"])
            # Elasticity: customers' mean log basket on log(household size / 2), net of income terms.
            cm = pd.Series(mean_i, index=uniq)
            d = demo.set_index("customer_id").join(cm.rename("m"), how="inner")
            if len(d) >= MIN_CUSTOMERS and d["household_size"].nunique() >= 2:
                y = d["m"].to_numpy()
                if "income" in d and d["income"].notna().all():
                    y = y - np.log(INCOME_BASKET)[d["income"].map(INCOME_BANDS.index).to_numpy()]
                xs = np.log(d["household_size"].to_numpy() / 2.0)
                slope, se = _ols_slope(xs, y)
                elasticity = max(slope, 0.0)
                seg["basket_size_elasticity"] = _round(elasticity)
                est.append(("basket_size_elasticity", elasticity, se, len(d)))
        else:
            notes.append(f"{seg_name}: demographics cover {len(demo)} customers (fewer than {MIN_CUSTOMERS}); "
                         f"household defaults kept")
    off_mean, off_var = _offsets(hh_shares, inc_shares, elasticity)
    amounts = trips["amount"].to_numpy()
    shape = BasketShape(mu_trips, math.sqrt(max(var_between, 0.0) + sd_within ** 2), sd_within)
    if basket_fit == "mean":
        shape = _mean_basket_shape(amounts, max(var_between, 0.0), sd_within, seg_name, notes)
    base_mu = shape.mu - off_mean
    sd_between = math.sqrt(max(var_between - off_var, 0.0))
    seg["basket_log_mu"] = _round(base_mu)
    seg["basket_log_sd_between"] = _round(sd_between)
    seg["basket_log_sd_within"] = _round(shape.sd_within)
    if shape.share > 0:
        seg["small_baskets"] = {"share": shape.share, "log_ratio": shape.log_ratio}
    nb = multi.sum()
    se_vb = math.sqrt(2.0 / (nb - 1)) * (var_between + np.mean(sd_within ** 2 / n_i[multi]))
    # With small shops the usual shops' sd is what the measured within-customer sd leaves: no standard
    # error of its own is worked out, nor for the share and the shift (fitted to quantiles).
    sdw_se = sd_within / math.sqrt(2.0 * (keep.sum() - nb)) if shape.share == 0 else float("nan")
    est += [("basket_log_mu", base_mu, _mu_se(n_i, max(var_between, 0.0), sd_within), int(n_i.sum())),
            ("basket_log_sd_between", sd_between, se_vb / (2 * max(sd_between, 1e-9)), int(nb)),
            ("basket_log_sd_within", shape.sd_within, sdw_se, int(keep.sum()))]
    if shape.share > 0:
        est += [("small_baskets.share", shape.share, float("nan"), amounts.size),
                ("small_baskets.log_ratio", shape.log_ratio, float("nan"), amounts.size)]
    rows.append(("basket value", "mean", float(amounts.mean()), shape.mean()))
    fitted_q = np.exp(shape.log_quantiles(np.asarray(PERCENTILES) / 100))
    for q, fitted in zip(PERCENTILES, fitted_q):
        rows.append(("basket value", f"q{q}", float(np.quantile(amounts, q / 100)), float(fitted)))
    rows.append(("basket value", "log sd between customers", math.sqrt(max(mi.var(ddof=1), 0)), math.sqrt(max(var_between, 0))))
    rows.append(("basket value", "log sd within customer", sd_within, sd_within))

    # -- timing: weekday and hour-band shares, and the precision of customers' own profiles
    timing = [("weekday", WEEKDAYS, "weekday share", "weekday", "weekday_precision")]
    if (trips["band"] >= 0).all():
        timing.append(("band", HOUR_BANDS, "hour-band share", "hour_bands", "hour_precision"))
    cust_codes = pd.factorize(trips["customer_id"])[0]
    for column, names, section, key, precision_key in timing:
        slot = trips[column].to_numpy()
        total = np.bincount(slot, minlength=len(names))
        seg[key] = _shares(total)
        rows += [(section, name, total[j] / total.sum(), seg[key][j]) for j, name in enumerate(names)]
        per_customer = np.zeros((cust_codes.max() + 1, len(names)))
        np.add.at(per_customer, (cust_codes, slot), 1)
        prec, n_used = _dm_precision(per_customer, total / total.sum())
        if np.isfinite(prec):
            seg[precision_key] = _round(prec, 3)
            est.append((precision_key, prec, float("nan"), n_used))

    # -- category mix and own label
    cat_cols = [f"cat_{c}" for c in CATEGORIES]
    heavy = counts.index[counts.to_numpy() >= MIN_TRIPS_FOR_MIX]
    if all(c in trips for c in cat_cols):
        spend = trips[cat_cols].to_numpy().sum(axis=0)
        if spend.sum() > 0:
            seg["categories"] = _shares(spend)
            for j, name in enumerate(CATEGORIES):
                rows.append(("category share", name, spend[j] / spend.sum(), seg["categories"][j]))
            per = by_cust[cat_cols].sum().loc[heavy]
            per = per[per.sum(axis=1) > 0]
            if len(per) >= MIN_CUSTOMERS:
                prec = _mom_precision(per.div(per.sum(axis=1), axis=0).to_numpy())
                if np.isfinite(prec) and prec > 0:
                    seg["category_precision"] = _round(prec, 3)
                    est.append(("category_precision", prec, float("nan"), len(per)))
    if "own_label_amount" in trips:
        own_total = trips["own_label_amount"].sum() / max(trips["amount"].sum(), 1e-12)
        per = by_cust[["own_label_amount", "amount"]].sum().loc[heavy]
        per = per[per["amount"] > 0]
        if len(per) >= MIN_CUSTOMERS and 0 < own_total < 1:
            s = (per["own_label_amount"] / per["amount"]).to_numpy()
            m, v = s.mean(), s.var(ddof=1)
            phi = m * (1 - m) / v - 1 if v > 0 else float("nan")
            if np.isfinite(phi) and phi > 0:
                seg["own_label"] = {"mean": _round(own_total), "precision": _round(phi, 3)}
                rows.append(("own label", "share of spend", own_total, seg["own_label"]["mean"]))
                est.append(("own_label.precision", phi, float("nan"), len(per)))

    # -- spend concentration (data vs the fitted model is left to check(), which simulates it)
    rows.append(("spend", "top 20% customers' share", top_spend_share(trips), float("nan")))

    table = pd.DataFrame(rows, columns=["section", "statistic", "data", "fitted"])
    table.insert(0, "segment", seg_name)
    estimates = pd.DataFrame(est, columns=["parameter", "value", "se", "n"])
    estimates.insert(0, "segment", seg_name)
    return seg, table, estimates


def _mean_basket_shape(amounts: np.ndarray, var_between: float, sd_within: float, seg_name: str,
                       notes: list[str]) -> BasketShape:
    """The basket of ``basket_fit="mean"``: the sd split as measured and the centre set so the mean trip
    value is the data's; and, where it fits the trip-value quantiles better by SMALL_BASKET_MIN_GAIN, a
    share of small shops (the within-customer variance kept: the usual shops' sd is what the shift leaves).
    A line in ``notes`` says which and why."""
    log_mean = math.log(amounts.mean())
    p = np.asarray(PERCENTILES) / 100
    data_q = np.quantile(amounts, p)
    if not (data_q > 0).all():
        notes.append(f"{seg_name}: basket: one lognormal (the trip-value quantiles are not all above 0)")
        return _basket_shape(log_mean, var_between, sd_within ** 2)
    single, mixture = _fit_basket_shape(log_mean, var_between, sd_within ** 2, p, np.log(data_q))
    before = _rms(single, p, np.log(data_q))
    after = _rms(mixture, p, np.log(data_q)) if mixture is not None else before
    if mixture is None or before - after < SMALL_BASKET_MIN_GAIN:
        notes.append(f"{seg_name}: basket: one lognormal (small shops would lower the log error of the "
                     f"trip-value quantiles only from {before:.3f} to {after:.3f} rms)")
        return single
    notes.append(f"{seg_name}: basket: {mixture.share:.1%} of trips are small shops at "
                 f"{math.exp(mixture.log_ratio):.3g} times the usual basket (log error of the trip-value "
                 f"quantiles {before:.3f} -> {after:.3f} rms)")
    return mixture


def _ols_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    xc = x - x.mean()
    sxx = (xc ** 2).sum()
    slope = float((xc * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * xc
    se = float(math.sqrt((resid ** 2).sum() / max(x.size - 2, 1) / sxx))
    return slope, se


def _mu_se(n_i: np.ndarray, var_between: float, sd_within: float) -> float:
    """Standard error of the trip-weighted mean log basket under the random-effects model."""
    N = n_i.sum()
    return float(math.sqrt((n_i ** 2).sum() * var_between + N * sd_within ** 2) / N)

