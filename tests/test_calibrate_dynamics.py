"""Customers over time in calibration: the statistics (adjacent quarters, lapse and return, baskets per
trip), the fits by simulation (drift, spells away, arrivals, leaving) and directly (same-day baskets), and
their command-line options."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from loyaltysim.cli import app
from loyaltysim.data import calibrate as cal
from loyaltysim.data.calibrate import dynamics as dyn
from loyaltysim.engine.behaviour import SAME_DAY_LEVELS
from loyaltysim.scenario.models import Population

Z = 4.0  # standard errors allowed: a correct fit fails about once in 15,000 checks
BASE = {"name": "gen", "share": 1.0, "retailer_preference": {"mean": 8.0, "sd": 0.0},
        "trips_per_year": {"mean": 60.0, "shape": 1.5}}
"""A segment whose every need is a trip here (store choice certain), so trips are needs; life events at
their defaults, as a fitted population has them."""


def _trips(days_by_customer: dict, baskets: dict | None = None) -> pd.DataFrame:
    rows = [(c, d) for c, days in days_by_customer.items() for d in days]
    out = pd.DataFrame(rows, columns=["customer_id", "date"])
    if baskets is not None:
        out["baskets"] = [b for c in days_by_customer for b in baskets[c]]
    return out


def _panel(population: dict, customers: int, seed: int, days: int = 364) -> pd.DataFrame:
    """A log made by the simulator: transactions in the standard columns, one line per trip, dated from a
    Monday, with a basket id per basket so a trip of several baskets reads as the panel's do."""
    sim = cal.simulate_trips(population, customers=customers, days=days, seed=seed)
    rep = np.repeat(np.arange(len(sim)), sim["baskets"].to_numpy())
    lines = sim.iloc[rep]
    return pd.DataFrame({"customer_id": lines["customer_id"].to_numpy(),
                         "timestamp": pd.Timestamp("2025-01-06") + pd.to_timedelta(lines["date"].to_numpy(), "D"),
                         "amount": lines["amount"].to_numpy() / np.repeat(sim["baskets"].to_numpy(), sim["baskets"]),
                         "basket_id": np.arange(rep.size)})


# ---------------------------------------------------------------- statistics

def test_adjacent_correlation_and_lapse_return_of_a_hand_built_panel():
    # 364 days: Q1 days 0-90, Q2 91-181, Q3 182-272, Q4 273-363.
    trips = _trips({"A": [0, 10, 100, 200, 300, 310],   # 2 1 1 2
                    "B": [5, 300],                      # 1 0 0 1: in Q1 and Q4, away through Q2 and Q3
                    "C": [1, 2, 3, 150, 250, 251, 350],  # 3 1 2 1
                    "D": [20, 120, 300],                 # 1 1 0 1: away through Q3
                    "E": [95, 96, 97, 190]})             # 0 3 1 0: absent from Q1 and Q4, not a lapse and return
    q = np.array([[2, 1, 1, 2], [1, 0, 0, 1], [3, 1, 2, 1], [1, 1, 0, 1], [0, 3, 1, 0]])
    d = cal.panel_dynamics(trips, days=364)
    expected = np.mean([statistics.correlation(q[:, i], q[:, i + 1]) for i in range(3)])
    assert d.adjacent_correlation == pytest.approx(expected)
    assert d.correlation == pytest.approx(statistics.correlation(q[:, 0], q[:, 3]))
    assert d.lapse_return == pytest.approx(2 / 5)
    assert d.absent_first == pytest.approx(1 / 5) and d.absent_last == pytest.approx(1 / 5)
    # Under 364 days the middle quarters would overlap the outer ones: not measured.
    short = cal.panel_dynamics(trips[trips["date"] < 300], days=300)
    assert math.isnan(short.adjacent_correlation) and math.isnan(short.lapse_return)
    assert not math.isnan(short.correlation)


def test_customer_quarters_give_the_trip_moments_the_dynamics_fit_matches():
    trips = _trips({"A": [0, 10, 100, 182, 200], "B": [5], "C": [300, 301, 302]})
    st = dyn.customer_quarters(trips, days=364).statistics()
    assert st["trips_mean"] == pytest.approx(3.0)           # 5, 1, 3 trips (day 182 is in no quarter but counts)
    assert st["trips_variance"] == pytest.approx(4.0)


def test_same_day_shares_count_trips_by_their_baskets():
    trips = _trips({"A": [0, 1, 2, 3], "B": [0, 5, 6, 7, 8, 9]}, baskets={"A": [1, 2, 3, 1], "B": [1, 1, 2, 4, 1, 1]})
    sd = cal.same_day(trips)
    assert sd.multi_share == pytest.approx(4 / 10)                # 2, 3, 2 and 4 baskets
    assert sd.three_plus_share == pytest.approx(2 / 4)            # 3 and 4 of those
    assert cal.fit_same_day(trips) == {"share": 0.4, "more": 0.5}
    assert cal.same_day(trips.drop(columns="baskets")) is None
    assert cal.fit_same_day(trips.assign(baskets=1)) is None      # no trip of two baskets: none to fit


def test_trips_by_day_count_distinct_baskets():
    lines = pd.DataFrame({"customer_id": [1, 1, 1, 1, 2], "basket_id": [10, 11, 11, 12, 13],
                          "timestamp": pd.to_datetime(["2025-01-06 08:00", "2025-01-06 19:00", "2025-01-06 19:00",
                                                       "2025-01-07 09:00", "2025-01-06 12:30"]),
                          "amount": [5.0, 2.0, 3.0, 4.0, 7.0]})
    by_day = cal.trips_table(lines, "day")
    assert by_day[["customer_id", "baskets"]].to_dict("list") == {"customer_id": [1, 1, 2], "baskets": [2, 1, 1]}
    assert (cal.trips_table(lines, "basket")["baskets"] == 1).all()
    assert "baskets" not in cal.trips_table(lines.drop(columns="basket_id"), "day")


def test_simulated_trips_carry_their_baskets():
    share, more = 0.3, 0.5
    seg = {**BASE, "defection_per_year": 0.0, "same_day_baskets": {"share": share, "more": more}}
    sim = cal.simulate_trips({"segments": [seg]}, customers=2000, days=120, seed=5)
    sd = cal.same_day(sim)
    # The engine draws top-ups from 256 levels: the share it can give is the levels below it.
    levels = math.ceil(share * SAME_DAY_LEVELS - 0.5)
    assert abs(sd.multi_share - levels / SAME_DAY_LEVELS) < Z * math.sqrt(share * (1 - share) / sd.trips)
    multi = round(sd.multi_share * sd.trips)
    assert abs(sd.three_plus_share - more) < Z * math.sqrt(more * (1 - more) / multi) + 1 / levels
    assert sim.attrs["customers"] == 2000


def test_exposure_moments_match_a_direct_simulation_of_leaving_spells_and_arrivals():
    p = cal.DynamicsParams(lapses_per_year=2.0, lapse_mean_days=40.0, arrivals_per_year=0.5, defection_per_year=0.3)
    days, n = 364, 100_000
    rng = np.random.default_rng(11)
    start = np.where(rng.random(n) < 0.5 * 364 / 365 / (1 + 0.5 * 364 / 365), rng.uniform(0, days, n), 0.0)
    leave = start + rng.exponential(365 / -math.log(1 - 0.3), n)
    per_day, back = 2.0 / 365, 1 / 40.0
    away = rng.random(n) < per_day * 40 / (1 + per_day * 40)        # the long-run share away at day 0
    present = np.zeros(n)
    for day in range(days):                                          # daily steps of the two-state process
        here = (day >= start) & (day < leave) & ~away
        present += here
        u = rng.random(n)
        away = np.where(away, u >= back, u < per_day)
    share = present / days
    m, cv2 = dyn.exposure_moments(p, days)
    assert m == pytest.approx(share.mean(), rel=0.02)
    assert cv2 == pytest.approx(share.var() / share.mean() ** 2, rel=0.05)


# ---------------------------------------------------------------- fits

@pytest.fixture(scope="module")
def panel_fit():
    """A log simulated with no dynamics, and its fit (store choice certain, no leaving assumed)."""
    seg = {**BASE, "defection_per_year": 0.0}
    tx = _panel({"segments": [seg]}, customers=2000, seed=3)
    return cal.fit_population(tx, store_share=1.0, defection_per_year=0.0)


def test_with_dynamics_and_no_dynamics_gives_back_the_fitted_need_rate(panel_fit):
    same = {"share": 0.2, "more": 0.1}
    out = cal.with_dynamics(panel_fit, cal.DynamicsParams(defection_per_year=0.0), same_day=same)
    seg, seg0 = out.population["segments"][0], panel_fit.population["segments"][0]
    assert seg["trips_per_year"] == seg0["trips_per_year"]
    assert seg["same_day_baskets"] == same and "need_drift" not in seg and "lapses" not in seg
    assert "arrivals_per_year" not in out.population
    # Spells away half the time halve the share of the year customers shop, so the need rate doubles.
    away = cal.DynamicsParams(defection_per_year=0.0, lapses_per_year=365 / 60, lapse_mean_days=60.0)
    seg = cal.with_dynamics(panel_fit, away).population["segments"][0]
    assert seg["trips_per_year"]["mean"] == pytest.approx(2 * seg0["trips_per_year"]["mean"], rel=1e-3)
    assert seg["lapses"] == {"per_year": round(365 / 60, 3), "mean_days": 60.0}
    both = cal.with_dynamics(panel_fit, cal.DynamicsParams(sd=0.3, time_scale_days=90.0, arrivals_per_year=0.2,
                                                           defection_per_year=0.1))
    Population.model_validate(both.population)
    assert both.population["arrivals_per_year"] == 0.2 and both.population["segments"][0]["defection_per_year"] == 0.1
    assert cal.DynamicsParams.of_population(both.population) == cal.DynamicsParams(
        sd=0.3, time_scale_days=90.0, arrivals_per_year=0.2, defection_per_year=0.1)


def test_same_day_baskets_are_recovered_from_a_simulated_panel(tmp_path):
    share, more = 0.17, 0.25
    seg = {**BASE, "defection_per_year": 0.0, "same_day_baskets": {"share": share, "more": more}}
    tx = _panel({"segments": [seg]}, customers=1500, seed=9, days=120)
    fit, _ = cal.calibrate(_write(tx, tmp_path), dynamics="none", store_share=1.0)
    got = fit.population["segments"][0]["same_day_baskets"]
    trips = len(cal.trips_table(tx))
    levels = math.ceil(share * SAME_DAY_LEVELS - 0.5)  # the engine resolves the share in 1/256 steps
    assert abs(got["share"] - levels / SAME_DAY_LEVELS) < Z * math.sqrt(share * (1 - share) / trips)
    assert abs(got["more"] - more) < Z * math.sqrt(more * (1 - more) / (share * trips)) + 1 / levels
    rows = fit.table.set_index(["section", "statistic"])
    assert rows.loc[("same-day baskets", "share of trips with 2+ baskets"), "fitted"] == got["share"]


def _write(tx: pd.DataFrame, folder) -> object:
    path = folder / "log.parquet"
    tx.to_parquet(path)
    return path


TRUE_TURNOVER = {"lapses_per_year": 1.0, "lapse_mean_days": 60.0, "arrivals_per_year": 0.25,
                 "defection_per_year": 0.15}


def _known_panel(drift: dict | None, turnover: dict, customers: int, seed: int) -> tuple[cal.Fit, pd.DataFrame]:
    seg = {**BASE, "defection_per_year": turnover["defection_per_year"],
           "lapses": {"per_year": turnover["lapses_per_year"], "mean_days": turnover["lapse_mean_days"]}}
    if drift is not None:
        seg["need_drift"] = drift
    tx = _panel({"segments": [seg], "arrivals_per_year": turnover["arrivals_per_year"]}, customers=customers, seed=seed)
    return cal.fit_population(tx, store_share=1.0, defection_per_year=0.1), cal.trips_table(tx)


def _recovered(got: cal.DynamicsFit, truth: dict, bounds: dict) -> None:
    """Each free parameter of ``truth`` within Z of the fit's own standard errors (the sandwich over the data's
    bootstrap and the simulations; of the log for those fitted on a log scale), each standard error first
    shown below ``bounds`` so that a wrong answer would fall outside."""
    for name, value in truth.items():
        se = got.se[name]
        assert 0 < se < bounds[name], (name, se)
        err = math.log(getattr(got.params, name) / value) if dyn.FREE[name][0] else getattr(got.params, name) - value
        assert abs(err) < Z * se, (name, got.params, got.se)


def test_the_dynamics_fit_recovers_known_arrivals_and_leaving():
    fit, trips = _known_panel(None, TRUE_TURNOVER, customers=3000, seed=21)
    spells = {k: TRUE_TURNOVER[k] for k in ("lapses_per_year", "lapse_mean_days")}
    got = cal.fit_dynamics(fit, trips, customers=2500, seeds=(31, 32), fixed={"sd": 0.0, **spells}, iterations=6,
                           final_customers=0)
    assert set(got.free) == {"arrivals_per_year", "defection_per_year", "need_mean_factor"}
    _recovered(got, {k: TRUE_TURNOVER[k] for k in ("arrivals_per_year", "defection_per_year")},
               {"arrivals_per_year": 0.06, "defection_per_year": 0.06})
    assert got.loss < 3 * len(got.target)     # every target matched, about one standard error each


def test_the_dynamics_fit_recovers_known_spells_away():
    fit, trips = _known_panel(None, TRUE_TURNOVER, customers=3000, seed=22)
    turnover = {k: TRUE_TURNOVER[k] for k in ("arrivals_per_year", "defection_per_year")}
    got = cal.fit_dynamics(fit, trips, customers=2500, seeds=(33, 34), fixed={"sd": 0.0, **turnover}, iterations=6,
                           final_customers=0)
    _recovered(got, {k: TRUE_TURNOVER[k] for k in ("lapses_per_year", "lapse_mean_days")},
               {"lapses_per_year": 0.5, "lapse_mean_days": 0.5})


def test_the_dynamics_fit_recovers_a_known_drift():
    drift = {"time_scale_days": 120.0, "sd": 0.5}
    turnover = {**TRUE_TURNOVER, "lapses_per_year": 0.3}
    fit, trips = _known_panel(drift, turnover, customers=3000, seed=23)
    got = cal.fit_dynamics(fit, trips, customers=2500, seeds=(41, 42), fixed=turnover, iterations=6, final_customers=0)
    assert set(got.free) == {"time_scale_days", "sd", "need_mean_factor"}
    _recovered(got, drift, {"sd": 0.15, "time_scale_days": 0.8})


def test_a_dynamics_fit_is_refused_in_one_line_when_the_log_is_short_or_a_parameter_unknown(panel_fit, tmp_path):
    tx = _panel({"segments": [{**BASE, "defection_per_year": 0.0}]}, customers=200, seed=1, days=300)
    with pytest.raises(cal.CalibrationError, match=r"^--dynamics fit: the log covers 300 days; at least 364 are needed"):
        cal.calibrate(_write(tx, tmp_path), dynamics="fit", store_share=1.0)
    short = cal.fit_population(tx, store_share=1.0)
    with pytest.raises(cal.CalibrationError, match=r"^dynamics fit: the log covers 300 days; at least 364"):
        cal.fit_dynamics(short, cal.trips_table(tx))
    with pytest.raises(cal.CalibrationError, match=r"^dynamics fit: 'drift' is not a dynamics parameter"):
        cal.fit_dynamics(panel_fit, cal.trips_table(tx), fixed={"drift": 1.0})
    with pytest.raises(cal.CalibrationError, match=r"^dynamics: 'often' is not allowed \(give fit or none\)"):
        cal.calibrate(_write(tx, tmp_path), dynamics="often")


# ---------------------------------------------------------------- the pipeline, the check and the command line

def test_calibrate_writes_the_fitted_dynamics_into_the_population_file(tmp_path):
    seg = {**BASE, "defection_per_year": 0.1, "same_day_baskets": {"share": 0.2, "more": 0.2}}
    tx = _panel({"segments": [seg], "arrivals_per_year": 0.1}, customers=800, seed=4)
    out = tmp_path / "pop.yaml"
    fit, _ = cal.calibrate(_write(tx, tmp_path), dynamics="fit", out=out, store_share=1.0, drift=(100.0, 0.3),
                           dynamics_options={"customers": 800, "seeds": (1,), "iterations": 1, "final_customers": 0})
    assert isinstance(fit.drift, cal.DynamicsFit) and fit.drift.fixed["time_scale_days"] == 100.0
    data = yaml.safe_load(out.read_text())["population"]
    pop = Population.model_validate(data)
    s = pop.segments[0]
    assert s.need_drift.time_scale_days == 100.0 and s.need_drift.sd == 0.3
    assert s.lapses is not None and s.same_day_baskets is not None
    assert data["arrivals_per_year"] == pytest.approx(fit.drift.params.arrivals_per_year, rel=1e-3)
    assert s.defection_per_year == pytest.approx(fit.drift.params.defection_per_year, rel=1e-3)
    header = out.read_text().split("population:")[0]
    assert "customers over time (fitted by simulation" in header and "time scale 100 days (fixed)" in header


def test_the_completejourney_header_says_what_was_fitted_to_what(panel_fit):
    import dataclasses

    params = cal.DynamicsParams(time_scale_days=365.0, sd=0.47, lapses_per_year=0.19, lapse_mean_days=66.0,
                                arrivals_per_year=0.037, defection_per_year=0.015)
    names = dyn.JOINT_TARGETS
    z = dict.fromkeys(names, 0.5) | {"light_growth": -2.4}
    result = cal.DynamicsFit(params=params, shapes={"shoppers": 3.3}, se={k: 0.1 for k in dyn.FREE},
                             target=dict.fromkeys(names, 1.0), simulated=dict.fromkeys(names, 1.0), z=z, loss=9.0,
                             free=tuple(dyn.FREE), fixed={}, evaluations=51, converged=True, customers=5000, seeds=(1, 2),
                             final_customers=20000, at_edge=("time_scale_days",))
    fit = dataclasses.replace(panel_fit, drift=result, assumptions={**panel_fit.assumptions, "basket_fit": "log"})
    header = cal.completejourney_header(fit)
    for text in ("need_drift", "time scale 365 (x/ 1.11) days, sd 0.47 (+- 0.1)", "spells away (lapses): 0.19",
                 "arrivals_per_year 0.037", "defection_per_year 0.015", "leaving for good is fitted",
                 "Not matched within 2 standard errors: light Q1 fifth: Q4/Q1 trips",
                 "ended at the end of the range searched (365 days)", "light Q1 fifth: Q4/Q1 trips: 1 against 1 (z -2.4)"):
        assert text in header, text
    assert "--dynamics none" not in header
    no_dynamics = cal.completejourney_header(dataclasses.replace(fit, drift=None))
    assert "--dynamics none" in no_dynamics and "0% of customers leave for good a year" in no_dynamics  # as assumed


def test_check_prints_every_statistic_with_intervals_from_many_customers():
    seg = {**BASE, "defection_per_year": 0.1, "same_day_baskets": {"share": 0.2, "more": 0.2},
           "lapses": {"per_year": 0.5, "mean_days": 50.0}, "need_drift": {"time_scale_days": 150.0, "sd": 0.3}}
    pop = {"segments": [seg], "arrivals_per_year": 0.1}
    tx = _panel(pop, customers=600, seed=8)
    table = cal.check(pop, tx, seeds=2, customers=3000, seed=1)
    t = table.set_index(["section", "statistic"])
    for name in ("Q1-Q4 trip correlation", "adjacent quarters' trip correlation", "light Q1 fifth: Q4/Q1 trips",
                 "all trips: Q4/Q1", "share absent in first 13 weeks", "share absent in last 13 weeks",
                 "share in Q1 and Q4, absent all Q2 or Q3"):
        assert ("dynamics", name) in t.index
    for row in (("same-day baskets", "share of trips with 2+ baskets"), ("same-day baskets", "share of those with 3+"),
                ("seasons", "weekly factor sd"), ("basket value", "q90"), ("trips per customer", "mean")):
        r = t.loc[row]
        assert r["low"] <= r["simulated"] <= r["high"]
    # The population the log came from: its statistics agree within the log's sampling error.
    r = t.loc[("dynamics", "share in Q1 and Q4, absent all Q2 or Q3")]
    assert abs(r["simulated"] - r["data"]) < Z * math.sqrt(r["data"] * (1 - r["data"]) / 550)
    with pytest.raises(cal.CalibrationError, match="^customers must be at least 1"):
        cal.check(pop, tx, customers=0)


def test_a_simulation_past_the_memory_guard_is_one_line():
    pop = {"segments": [{**BASE}], "arrivals_per_year": 1.0}
    with pytest.raises(cal.CalibrationError) as err:
        cal.simulate_trips(pop, customers=90_000_000, days=364)
    assert "\n" not in str(err.value) and "arrivals" in str(err.value)


def _one_line(res, fragment: str) -> None:
    assert res.exit_code == 2, res.output
    lines = (res.stderr if hasattr(res, "stderr") else res.output).strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines


@pytest.mark.parametrize(("args", "fragment"), [
    (["--check", "--check-customers", "0"], "--check-customers 0: give at least 1 customer"),
    (["--check", "--check-seeds", "0"], "--check-seeds 0: give at least 1 simulation"),
    (["--dynamics", "often"], "--dynamics often: expected fit or none"),
    (["--defection", "1.5"], "--defection 1.5: a yearly share, from 0 to 1"),
    (["--check-calendar", "missing.yaml"], "missing.yaml"),
    (["--dynamics", "fit"], "--dynamics fit: the log covers 64 days; at least 364 are needed"),
])
def test_bad_calibrate_options_are_one_line(tmp_path, args, fragment):
    log = tmp_path / "log.csv"  # 40 customers, 3 trips each over 61 days: fits, but too short for dynamics
    log.write_text("customer_id,date,amount\n" + "".join(f"{c},2025-0{m}-0{1 + c % 5},{5 + c % 7}\n"
                                                          for c in range(40) for m in (1, 2, 3)))
    res = CliRunner().invoke(app, ["calibrate", str(log), "--out", str(tmp_path / "p.yaml"), *args])
    _one_line(res, fragment)
    assert not (tmp_path / "p.yaml").exists()
