"""Customers over time: habits that drift (regression to the mean between quarters, the mean rate kept)
and a calendar of seasons, both acting alike on both arms."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import shipped

from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.errors import ScenarioError

N = 6000


def with_drift(tau: float = 120.0, sd: float = 0.6, **overrides) -> dict:
    segs = shipped("supermarket_points").population.segments
    drift = {"time_scale_days": tau, "sd": sd}
    return {"population.segments": [{**s.model_dump(), "need_drift": drift} for s in segs], **overrides}


def quarter_trips(overrides: dict, arm: str = "counterfactual") -> tuple[np.ndarray, LoyaltyModel]:
    """Trips per customer in each of four 91-day quarters of one arm."""
    model = LoyaltyModel(shipped("supermarket_points", {"customers": N, "days": 364, **overrides}))
    q = np.zeros((4, model.population.n))
    model.trip_observers.append(lambda name, day, wd, t: np.add.at(q[day // 91], t.idx, 1) if name == arm else None)
    model.run()
    return q, model


def corr_se(r: float, n: int) -> float:
    """Large-sample standard error of a Pearson correlation."""
    return (1 - r ** 2) / np.sqrt(n - 1)


def test_drifting_habits_make_first_and_last_quarters_less_alike_and_off_restores_them():
    still, _ = quarter_trips({})
    drifting, model = quarter_trips(with_drift())
    r_still, r_drift = np.corrcoef(still[0], still[3])[0, 1], np.corrcoef(drifting[0], drifting[3])[0, 1]
    # Same customers and draws: the correlations differ by far more than either's sampling error.
    assert r_still - r_drift > 6 * (corr_se(r_still, N) + corr_se(r_drift, N))
    # Light buyers of the first quarter come back up (regression to the mean) more with drift.
    def light_growth(q):
        light = q[0] <= np.quantile(q[0], 0.2)
        return q[3][light].mean() / q[0][light].mean()
    assert light_growth(drifting) > 1.2 * light_growth(still)
    # The level each customer drifts around is the one the population drew.
    level = model.dynamics.level
    rate = model.population.need_rate
    se = rate.std() / np.sqrt(N)
    assert abs(rate.mean() - level.mean()) < 4 * se


def test_drift_seasons_and_arrivals_are_shared_by_both_arms_so_a_scheme_nobody_joins_changes_nothing():
    calendar = {"weekly_factors": [1.0 + 0.3 * np.sin(w / 8) for w in range(52)]}
    nobody = {"scheme.enrolment.join_rate_per_visit": 0.0, "scheme.enrolment.initial_members": 0.0,
              "scheme.enrolment.referral_rate_per_year": 0.0, "customers": 3000, "days": 120, "calendar": calendar,
              "population.arrivals_per_year": 0.5}
    model = LoyaltyModel(shipped("supermarket_points", with_drift(**nobody)))
    model.run()
    daily = model.daily()
    sch, cf = (daily[daily.arm == a].drop(columns="arm").reset_index(drop=True) for a in ("scheme", "counterfactual"))
    for col in ("visits", "sales", "defections", "customers"):
        np.testing.assert_array_equal(sch[col].to_numpy(), cf[col].to_numpy())
    assert model.dynamics.active and daily.visits.sum() > 0 and model.dynamics.later.size == round(3000 * 0.5 * 120 / 365)


def test_arrivals_join_the_customer_base_on_their_day_in_both_arms_and_not_before():
    sc = shipped("supermarket_points", {"customers": 3000, "days": 90, "population.arrivals_per_year": 0.8,
                                        "scheme.enrolment.initial_members": 0.5})
    model = LoyaltyModel(sc)
    first = {name: np.full(model.population.n, 10 ** 6) for name in ("scheme", "counterfactual")}
    model.trip_observers.append(lambda name, day, wd, t: np.minimum.at(first[name], t.idx, day))
    dyn = model.dynamics
    assert not model.arms[0].mem.member[dyn.later].any()  # nobody is a member before arriving
    model.run()
    arrival = dyn.arrival_day
    late = dyn.later
    assert late.size == sc.arrivals == round(3000 * 0.8 * 90 / 365)
    for name in first:  # no trip before the day they arrive; most of them shop here afterwards
        assert (first[name][late] >= arrival[late]).all()
        assert (first[name][late] < 10 ** 6).mean() > 0.5
    # The customer base grows by each day's arrivals less its defections, in each arm.
    daily = model.daily()
    arrivals_by_day = np.bincount(arrival[late], minlength=90)
    for arm in ("scheme", "counterfactual"):
        d = daily[(daily.arm == arm) & (daily.segment == "all")]
        customers, defections = d.customers.to_numpy(), d.defections.to_numpy()
        np.testing.assert_array_equal(np.diff(customers), arrivals_by_day[1:] - defections[1:])
        assert customers[0] == 3000 - defections[0]


def test_a_week_the_calendar_closes_has_no_trips_and_a_doubled_week_about_twice_the_needs():
    factors = [1.0] * 52
    factors[2], factors[4] = 0.0, 2.0  # week 3 shut, week 5 doubled
    model = LoyaltyModel(shipped("supermarket_points", {"customers": N, "days": 42,
                                                        "calendar": {"weekly_factors": factors}}))
    needs = np.zeros(6)
    arm = model.arms[1]
    for day in range(42):
        before = arm.shop.needs.sum()
        model.step()
        needs[day // 7] += arm.shop.needs.sum() - before
    assert needs[2] == 0
    # A need arises with chance min(1, factor x rate x weekday weight), independently each day: the
    # doubled week's expected needs against the ordinary weeks either side, from the customers' rates.
    pop = model.population
    def expected(factor: float) -> float:
        return sum(np.minimum(1.0, factor * pop.need_rate * pop.weekday[:, (model.clock.start_weekday + d) % 7]).sum()
                   for d in range(7))
    want = expected(2.0) / expected(1.0)
    ordinary = (needs[3] + needs[5]) / 2
    ratio = needs[4] / ordinary
    assert abs(ratio - want) < 4 * ratio * np.sqrt(1 / needs[4] + 1 / (2 * ordinary))


@pytest.mark.parametrize(("overrides", "field"), [
    ({"calendar": {"weekly_factors": [1.0] * 51}}, "calendar.weekly_factors"),
    ({"calendar": {"weekly_factors": [1.0] * 51 + [-0.5]}}, "calendar.weekly_factors.51"),
    (with_drift(tau=0.0), "need_drift.time_scale_days"),
    ({"customers": 90_000_000, "population.arrivals_per_year": 1.0}, "population.arrivals_per_year"),
])
def test_an_impossible_calendar_or_drift_is_refused_in_one_line_naming_the_field(overrides, field):
    with pytest.raises(ScenarioError) as err:
        shipped("supermarket_points", overrides)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_arrivals_count_in_the_memory_check_before_a_run_starts(monkeypatch):
    import loyaltysim.runs.simulate as runs
    from loyaltysim import RunError, simulate
    monkeypatch.setattr(runs, "memory_available", lambda: 2 * 2**30)
    # 1 million customers fit in 2 GiB; with 2 million arriving during the year they do not.
    fits = shipped("supermarket_points", {"customers": 1_000_000, "days": 365, "replications": 1})
    runs.check_resources(fits)
    with pytest.raises(RunError, match=r"1,000,000 customers and 2,000,000 arrivals need about [\d.]+ GiB"):
        simulate(shipped("supermarket_points", {"customers": 1_000_000, "days": 365, "replications": 1,
                                                "population.arrivals_per_year": 2.0}))
