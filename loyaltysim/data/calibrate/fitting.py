"""Fitting a population spec to a transaction log, one segment at a time, to the parameters of
:class:`~loyaltysim.scenario.models.Segment`:

- **trips**: the simulator makes at most one trip per customer per day, so by default a customer's
  baskets on one date are merged into one trip (``trip="day"``). Trip counts per customer over the
  observed window are fitted by maximum likelihood to the negative binomial (see
  :mod:`~loyaltysim.data.calibrate.nbd`), zero-truncated unless the number of customers with no trip
  is known;
- **baskets**: log trip values split into a between-customer and a within-customer sd, net of the
  simulator's household-size and income terms;
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
    values are not quite lognormal when spend totals matter more than the median.
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
        notes.append("a customer's purchases on one date are one trip (the simulator makes at most one a day)")
    if basket_fit == "mean":
        notes.append("basket centre set so the mean trip value matches the data (basket_fit=mean)")
    if not (trips["band"] >= 0).all():
        notes.append("hour bands: the log has dates but no times; default hour bands kept")
    choice_mu, realised_share, cv2_choice = _store_choice(store_share, preference_sd, habit_weight)
    exposure, cv2_exposure = _exposure(defection_per_year, years)
    sd_used = preference_sd if store_share < CERTAIN_SHARE else 0.0
    notes.append(
        f"store choice (assumed): this retailer gets {realised_share:.1%} of needs (preference mean "
        f"{choice_mu:.3g}, sd {sd_used:g}) and {defection_per_year:.1%} of customers leave for good a year; "
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
    total_sd = math.sqrt(max(var_between, 0.0) + sd_within ** 2)
    amounts = trips["amount"].to_numpy()
    if basket_fit == "mean":
        # Keep the sd split; move the centre so the lognormal's mean equals the mean trip value.
        mu_trips = math.log(amounts.mean()) - total_sd ** 2 / 2
    base_mu = mu_trips - off_mean
    sd_between = math.sqrt(max(var_between - off_var, 0.0))
    seg["basket_log_mu"] = _round(base_mu)
    seg["basket_log_sd_between"] = _round(sd_between)
    seg["basket_log_sd_within"] = _round(sd_within)
    nb = multi.sum()
    se_vb = math.sqrt(2.0 / (nb - 1)) * (var_between + np.mean(sd_within ** 2 / n_i[multi]))
    est += [("basket_log_mu", base_mu, _mu_se(n_i, max(var_between, 0.0), sd_within), int(n_i.sum())),
            ("basket_log_sd_between", sd_between, se_vb / (2 * max(sd_between, 1e-9)), int(nb)),
            ("basket_log_sd_within", sd_within, sd_within / math.sqrt(2.0 * (keep.sum() - nb)), int(keep.sum()))]
    rows.append(("basket value", "mean", float(amounts.mean()), math.exp(mu_trips + total_sd ** 2 / 2)))
    for q in PERCENTILES:
        rows.append(("basket value", f"q{q}", float(np.quantile(amounts, q / 100)),
                     math.exp(mu_trips + total_sd * norm.ppf(q / 100))))
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

