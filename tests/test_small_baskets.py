"""Small top-up shops (``Segment.small_baskets``): the trip-value mixture the engine draws, the mean basket it
implies, the same draws as before without small shops, and the calibration's fit of the mixture.

Statistical tolerances are Z standard errors worked out here from the generating parameters and the sample's
size (the theoretical quantiles by root finding of the mixture's CDF, not by the code under test).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from helpers import scenario
from scipy import optimize, special
from scipy.special import ndtri

from loyaltysim.data import calibrate as cal
from loyaltysim.engine import behaviour
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.scenario.loading import validate
from loyaltysim.scenario.models import Segment

F32 = np.float32
Z = 4.0  # standard errors allowed: with about 25 checks, a correct engine fails about once in 600 seeds
NO_LIFE_EVENTS = {"new_baby": 0, "child_leaves": 0, "move": 0, "income_change": 0, "retirement": 0}
SMALL = {"share": 0.25, "log_ratio": -1.5}
MU, SD = 3.2, 0.7  # usual shops' log centre and within-customer log sd
PROBS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def _segment(**fields) -> dict:
    """One segment shopping only here, never leaving, with no life events."""
    return {"name": "s", "share": 1.0, "retailer_preference": {"mean": 8.0, "sd": 0.0}, "defection_per_year": 0.0,
            "life_events": NO_LIFE_EVENTS, "trips_per_year": {"mean": 150.0, "shape": 2.0}, **fields}


def _identical_customers(small: dict | None) -> dict:
    """Every customer's log trip value has the same distribution: no spread between customers, no
    household or income terms, the usual shops at MU with sd SD (and small shops if ``small``)."""
    return _segment(basket_log_mu=MU, basket_log_sd_between=0.0, basket_log_sd_within=SD,
                    basket_size_elasticity=0.0, income_basket=[1.0, 1.0, 1.0], small_baskets=small)


def _sc(seg: dict, customers: int, days: int, seed: int = 11):
    return validate({"name": "small", "customers": customers, "days": days, "replications": 1, "seed": seed,
                     "population": {"segments": [seg]}}, "<test>")


def _trips(sc) -> dict[str, np.ndarray]:
    """Every trip of the run (the arm without a scheme): customer, value, log value and the customer's mean
    basket on the day."""
    m = LoyaltyModel(sc, 0)
    kept = []

    def keep(arm, day, weekday, t):
        if arm == "counterfactual":
            kept.append((t.idx.copy(), t.value.copy(), t.log_value.copy(), m.population.mean_basket[t.idx]))

    m.trip_observers.append(keep)
    m.run()
    return {k: np.concatenate([t[j] for t in kept]) for j, k in enumerate(("idx", "value", "log_value", "mean_basket"))}


def _mixture_cdf(x: float, mu: float, sd: float, w: float, d: float) -> float:
    return (1 - w) * special.ndtr((x - mu) / sd) + w * special.ndtr((x - mu - d) / sd)


def _mixture_quantile(p: float, mu: float, sd: float, w: float, d: float) -> float:
    """Quantile of a log value from the two-normal mixture, by root finding on its CDF."""
    return optimize.brentq(lambda x: _mixture_cdf(x, mu, sd, w, d) - p, mu + d - 10 * sd, mu + 10 * sd, xtol=1e-12)


def _moments(mu: float, sd: float, w: float, d: float) -> tuple[float, float]:
    """Mean and sd of exp(log value) for the mixture."""
    m1 = math.exp(mu + sd ** 2 / 2) * (1 - w + w * math.exp(d))
    m2 = math.exp(2 * mu + 2 * sd ** 2) * (1 - w + w * math.exp(2 * d))
    return m1, math.sqrt(m2 - m1 ** 2)


# ---------------------------------------------------------------- the engine

@pytest.fixture(scope="module")
def mixture_trips():
    """Trips of identical customers with small shops: each trip value an independent draw of the mixture
    (a customer's days use different uniforms, and the basket draw does not decide who shops)."""
    return _trips(_sc(_identical_customers(SMALL), 6000, 90))


def test_trip_values_have_the_mixtures_quantiles(mixture_trips):
    """The share of trips below each theoretical quantile q_p is p, within Z binomial standard errors."""
    values = mixture_trips["value"].astype(float)
    n = values.size
    assert n > 100_000
    for p in PROBS:
        q = math.exp(_mixture_quantile(p, MU, SD, SMALL["share"], SMALL["log_ratio"]))
        below = np.mean(values < q)
        assert abs(below - p) < Z * math.sqrt(p * (1 - p) / n), (p, below)


def test_trip_values_have_the_mixtures_mean(mixture_trips):
    values = mixture_trips["value"].astype(float)
    mean, sd = _moments(MU, SD, SMALL["share"], SMALL["log_ratio"])
    assert abs(values.mean() - mean) < Z * sd / math.sqrt(values.size)


def test_the_mean_basket_is_the_mixtures_mean():
    """A customer's mean basket is exp(mu + sd^2 / 2) (1 - w + w e^d); and it is what they spend on
    average: over trips of customers who differ (between-customer spread, household and income terms,
    income changes that move basket_mu), value / mean basket has mean 1 and the same variance for every
    customer, so its average is within Z of its standard error of 1."""
    seg = _segment(basket_log_mu=3.0, basket_log_sd_within=SD, small_baskets=SMALL,
                   life_events={**NO_LIFE_EVENTS, "income_change": 0.9})
    sc = _sc(seg, 6000, 90, seed=5)
    trips = _trips(sc)
    pop = LoyaltyModel(sc, 0).population
    w, d = SMALL["share"], SMALL["log_ratio"]
    expected = np.exp(pop.basket_mu.astype(float) + pop.basket_sd.astype(float) ** 2 / 2) * (1 - w + w * math.exp(d))
    np.testing.assert_allclose(pop.mean_basket, expected, rtol=1e-6)
    moved = LoyaltyModel(sc, 0)
    for _ in range(60):
        moved.step()
    assert not np.allclose(moved.population.mean_basket, pop.mean_basket)  # income changes refreshed some
    ratio = trips["value"].astype(float) / trips["mean_basket"].astype(float)
    m1 = 1 - w + w * math.exp(d)
    var = math.exp(SD ** 2) * (1 - w + w * math.exp(2 * d)) / m1 ** 2 - 1
    assert abs(ratio.mean() - 1) < Z * math.sqrt(var / ratio.size)


def test_without_small_shops_the_draws_are_the_lognormals_to_the_bit():
    """A share of 0 (whatever the log ratio) and no small_baskets give the same trips, and every basket
    is basket_mu + basket_sd * ndtri(clipped uniform), the lognormal draw as it was, in the compiled pass
    and in its numpy statement; the mean basket is exp(mu + sd^2 / 2) as it was."""
    none = _trips(_sc(_identical_customers(None) | {"basket_log_sd_between": 0.5}, 2000, 20))
    zero = _trips(_sc(_identical_customers({"share": 0.0, "log_ratio": -3.0}) | {"basket_log_sd_between": 0.5},
                      2000, 20))
    assert none["idx"].size > 1000
    for key in ("idx", "value", "log_value", "mean_basket"):
        np.testing.assert_array_equal(none[key], zero[key])

    m = LoyaltyModel(_sc(_identical_customers({"share": 0.0, "log_ratio": -3.0}) | {"basket_log_sd_between": 0.5},
                         2000, 20), 0)
    pop = m.population
    np.testing.assert_array_equal(pop.mean_basket, np.exp(pop.basket_mu + 0.5 * pop.basket_sd ** 2))
    for _ in range(3):
        m.step()
    draws = m.streams.day()
    arm = m.arms[1]  # the arm without a scheme
    args = (m.spec, pop, copy.deepcopy(arm.shop), None, None, draws, m.day, m.weekday, m.habit_alpha)
    compiled = behaviour.shop(*args)
    idx = compiled.idx
    u = np.clip(draws.basket_value[idx], F32(1e-7), F32(1 - 1e-7))
    before = pop.basket_mu[idx] + pop.basket_sd[idx] * ndtri(u)
    assert before.dtype == np.float32 and idx.size > 100
    np.testing.assert_array_equal(compiled.log_value, before)
    np.testing.assert_array_equal(behaviour.draw_baskets(pop, draws, idx)[0], before)


def test_the_compiled_pass_draws_small_shops_as_its_numpy_statement():
    """With small shops in a scheme's population, behaviour.shop (the kernel) and behaviour.shop_numpy give
    the same trips, draw for draw, in both arms (the other twins are held in tests/test_kernels.py)."""
    sc = scenario(customers=3000, days=40, overrides={
        "population.segments": [{"name": "a", "share": 0.6, "small_baskets": {"share": 0.3, "log_ratio": -2.0}},
                                {"name": "b", "share": 0.4}]})
    m = LoyaltyModel(sc)
    for _ in range(20):
        m.step()
    draws = m.streams.day()
    for arm in m.arms:
        args = (m.spec, m.population, arm.shop, getattr(arm, "mem", None), getattr(arm, "rules", None), draws, m.day,
                m.weekday, m.habit_alpha)
        compiled = behaviour.shop(*copy.deepcopy(args))
        stated = behaviour.shop_numpy(*copy.deepcopy(args))
        np.testing.assert_array_equal(compiled.idx, stated.idx)
        np.testing.assert_array_equal(compiled.log_value, stated.log_value)
        np.testing.assert_array_equal(compiled.value, stated.value)
        small = m.population.small_share[compiled.idx] > 0
        assert small.sum() > 100 and (~small).sum() > 100
        # Segment a's baskets are smaller by about w (1 - e^d) of its usual mean.
        u = draws.basket_value[compiled.idx]
        shop_small = small & (u < 0.3)
        shift = compiled.log_value - m.population.basket_mu[compiled.idx]
        assert shift[shop_small].mean() < shift[small & (u >= 0.3)].mean() - 1.0


# ---------------------------------------------------------------- the fit

def _log(seed: int, small: dict | None, customers: int = 4000) -> pd.DataFrame:
    """A transaction log of ``customers`` whose trips are drawn from the fitted model's shape: centres
    normal across customers (sd 0.5), log values normal within (sd SD) around them, shifted by
    ``small["log_ratio"]`` on a share ``small["share"]`` of trips; trip counts negative binomial, on
    distinct days of a year."""
    g = np.random.default_rng(seed)
    counts = np.minimum(2 + g.poisson(g.gamma(2.0, 20.0, customers)), 365)
    cust = np.repeat(np.arange(customers), counts)
    centre = MU + 0.5 * g.standard_normal(customers)
    log_value = centre[cust] + SD * g.standard_normal(cust.size)
    if small is not None:
        log_value += small["log_ratio"] * (g.random(cust.size) < small["share"])
    days = np.concatenate([np.sort(g.choice(365, c, replace=False)) for c in counts])
    frame = pd.DataFrame({"customer_id": cust, "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, "D"),
                          "amount": np.round(np.exp(log_value), 2)})
    return cal.standardise_transactions(frame)


def _fit(log: pd.DataFrame) -> cal.Fit:
    return cal.fit_population(log, basket_fit="mean", store_share=1.0, defection_per_year=0.0)


@pytest.fixture(scope="module")
def mixture_fit():
    log = _log(3, SMALL)
    return log, _fit(log)


def test_the_fit_recovers_the_share_and_ratio_of_small_shops(mixture_fit):
    """From a log drawn from the mixture (about 170,000 trips of 4,000 customers), the fit finds the share,
    the log ratio and the usual shops' sd within about four times the spread of the fitted values over 20
    such logs (sd 0.016, 0.018 and 0.008 about means of 0.250, -1.501 and 0.700: no bias to speak of), a
    spread that comes from the sampling error of the quantiles, the mean and the within variance."""
    _, fit = mixture_fit
    seg = fit.population["segments"][0]
    assert abs(seg["small_baskets"]["share"] - SMALL["share"]) < 0.065
    assert abs(seg["small_baskets"]["log_ratio"] - SMALL["log_ratio"]) < 0.075
    # The usual shops' sd is what the shift leaves of the within-customer variance.
    assert abs(seg["basket_log_sd_within"] - SD) < 0.035
    est = fit.estimates.set_index("parameter")["value"]
    assert est["small_baskets.share"] == seg["small_baskets"]["share"]


def test_the_mixture_fit_keeps_the_data_mean_and_within_variance(mixture_fit):
    """The mean trip value of the fitted population (its rounded parameters, household and income terms
    as the fit assumes them) is the data's, to the rounding of the parameters; the table's fitted mean
    is the data's exactly; the mixture's within-customer variance is the measured one."""
    log, fit = mixture_fit
    seg = fit.population["segments"][0]
    defaults = Segment.model_fields
    hh = np.asarray(defaults["household_size"].default)
    inc = np.asarray(defaults["income"].default)
    sizes = np.log(np.arange(1, 6) / 2.0)
    budget = np.log(np.asarray(defaults["income_basket"].default, np.float32).astype(float))
    el = defaults["basket_size_elasticity"].default
    off_mean = el * hh @ sizes + inc @ budget
    off_var = el ** 2 * (hh @ sizes ** 2 - (hh @ sizes) ** 2) + inc @ budget ** 2 - (inc @ budget) ** 2
    w, d = seg["small_baskets"]["share"], seg["small_baskets"]["log_ratio"]
    mu, sb, sw = seg["basket_log_mu"], seg["basket_log_sd_between"], seg["basket_log_sd_within"]
    log_mean = mu + off_mean + (sb ** 2 + off_var + sw ** 2) / 2 + math.log(1 - w + w * math.exp(d))
    amounts = log["amount"].groupby([log["customer_id"], log["timestamp"].dt.normalize()]).sum().to_numpy()
    # Parameters are rounded to 4 significant digits: half a unit of the 4th of each, times its effect.
    def half(x: float) -> float:
        return 0.5 * 10.0 ** (math.floor(math.log10(abs(x))) - 3)

    rounding = half(mu) + sb * half(sb) + sw * half(sw)
    assert abs(log_mean - math.log(amounts.mean())) < rounding
    t = fit.table.set_index(["section", "statistic"])
    assert t.loc[("basket value", "mean"), "fitted"] == pytest.approx(amounts.mean(), rel=1e-9)
    within = t.loc[("basket value", "log sd within customer"), "data"]
    assert sw ** 2 + w * (1 - w) * d ** 2 == pytest.approx(within ** 2, abs=2 * sw * half(sw))


def test_the_fit_table_shows_the_mixtures_quantiles(mixture_fit):
    """The table's fitted quantiles are the fitted mixture's (by root finding here) and close to the data's."""
    _, fit = mixture_fit
    seg = fit.population["segments"][0]
    w, d = seg["small_baskets"]["share"], seg["small_baskets"]["log_ratio"]
    t = fit.table.set_index(["section", "statistic"])
    mean = t.loc[("basket value", "mean"), "fitted"]
    between = t.loc[("basket value", "log sd between customers"), "fitted"]
    sd = math.sqrt(between ** 2 + seg["basket_log_sd_within"] ** 2)
    mu = math.log(mean) - sd ** 2 / 2 - math.log(1 - w + w * math.exp(d))
    for q in (10, 25, 50, 75, 90):
        row = t.loc[("basket value", f"q{q}")]
        assert row["fitted"] == pytest.approx(math.exp(_mixture_quantile(q / 100, mu, sd, w, d)), rel=1e-3)
        assert abs(math.log(row["fitted"] / row["data"])) < 0.03


def test_a_lognormal_log_is_fitted_without_small_shops():
    """From a log with no small shops the mixture cannot lower the quantiles' error by SMALL_BASKET_MIN_GAIN:
    the fit keeps one lognormal, says so, and writes no small_baskets."""
    fit = _fit(_log(4, None))
    seg = fit.population["segments"][0]
    assert "small_baskets" not in seg
    assert any("basket: one lognormal" in n for n in fit.notes)
    assert abs(seg["basket_log_sd_within"] - SD) < 0.02


def test_a_fitted_mixture_is_written_to_the_population_file(mixture_fit, tmp_path):
    _, fit = mixture_fit
    path = cal.write_population(tmp_path / "pop.yaml", fit)
    seg = cal.load_population(path).segments[0]
    want = fit.population["segments"][0]["small_baskets"]
    assert seg.small_baskets is not None
    assert (seg.small_baskets.share, seg.small_baskets.log_ratio) == (want["share"], want["log_ratio"])


def test_the_business_learns_the_mean_of_the_mixture_not_the_usual_shops_centre():
    # Members who share their data: their estimated log basket converges on the mean of what they buy,
    # usual and small shops together (basket_mu + w d), not on the usual shops' centre alone.
    segs = [{**s, "small_baskets": SMALL} for s in scenario().model_dump()["population"]["segments"]]
    model = LoyaltyModel(scenario(overrides={"population.segments": segs}, customers=3000, days=150, replications=1))
    model.run()
    df = model.customers()
    known = df[df.member & (df.visits_scheme >= 40)]
    truth = known.basket_log_mu + SMALL["share"] * SMALL["log_ratio"]
    gap = (known.est_basket_log_mu - truth).to_numpy()
    assert known.shape[0] > 200
    # The estimate is shrunk toward the population prior a little; the bias left is far below w d = -0.375.
    assert abs(gap.mean()) < 0.1 and abs(gap.mean()) < abs(SMALL["share"] * SMALL["log_ratio"]) / 3
    usual_gap = (known.est_basket_log_mu - known.basket_log_mu).to_numpy()
    assert usual_gap.mean() < -0.25  # against the usual shops' centre the estimate sits about w d below
    # The insight the business is credited with measures its error against that mean, in both statements.
    from loyaltysim.engine import insight
    arm, idx = model.arms[0], known.customer_id.to_numpy()
    against_usual = np.abs(usual_gap).mean()  # the error were the usual shops' centre the truth
    for errors in (insight.errors, insight.errors_compiled):
        err = errors(model.spec, model.population, arm, model.priors, idx, model.day - 1)[4]
        assert err.mean() < 0.7 * against_usual
