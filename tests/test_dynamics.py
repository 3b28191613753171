"""Customers over time: habits that drift (regression to the mean between quarters, the mean rate kept),
a calendar of seasons, spells away, arrivals and top-up visits, all acting alike on both arms."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import shipped, without_dynamics

from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.errors import ScenarioError

N = 6000


def still(**overrides) -> dict:
    """The supermarket card's customers with every customers-over-time process off."""
    return without_dynamics("supermarket_points", **overrides)


def with_segment(**fields) -> dict:
    """Overrides giving every segment of the still population ``fields``."""
    base = still()
    return {**base, "population.segments": [{**s, **fields} for s in base["population.segments"]]}


def with_drift(tau: float = 120.0, sd: float = 0.6, **overrides) -> dict:
    return {**with_segment(need_drift={"time_scale_days": tau, "sd": sd}), **overrides}


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
    still_q, _ = quarter_trips(still())
    drifting, model = quarter_trips(with_drift())
    r_still, r_drift = np.corrcoef(still_q[0], still_q[3])[0, 1], np.corrcoef(drifting[0], drifting[3])[0, 1]
    # Same customers and draws: the correlations differ by far more than either's sampling error.
    assert r_still - r_drift > 6 * (corr_se(r_still, N) + corr_se(r_drift, N))
    # Light buyers of the first quarter come back up (regression to the mean) more with drift.
    def light_growth(q):
        light = q[0] <= np.quantile(q[0], 0.2)
        return q[3][light].mean() / q[0][light].mean()
    assert light_growth(drifting) > 1.2 * light_growth(still_q)
    # The level each customer drifts around is the one the population drew.
    level = model.dynamics.level
    rate = model.population.need_rate
    se = rate.std() / np.sqrt(N)
    assert abs(rate.mean() - level.mean()) < 4 * se


EVERYTHING_ON = {
    "need_drift": {"time_scale_days": 120.0, "sd": 0.6}, "lapses": {"per_year": 1.5, "mean_days": 40.0},
    "same_day_baskets": {"share": 0.3, "more": 0.3}, "small_baskets": {"share": 0.3, "log_ratio": -1.2},
}
"""Every customers-over-time process of a segment, on."""


def test_every_process_over_time_is_shared_by_both_arms_so_a_scheme_nobody_joins_changes_nothing():
    calendar = {"weekly_factors": [1.0 + 0.3 * np.sin(w / 8) for w in range(52)]}
    nobody = {"scheme.enrolment.join_rate_per_visit": 0.0, "scheme.enrolment.initial_members": 0.0,
              "scheme.enrolment.referral_rate_per_year": 0.0, "customers": 3000, "days": 120, "calendar": calendar,
              "population.arrivals_per_year": 0.5}
    model = LoyaltyModel(shipped("supermarket_points", {**with_segment(**EVERYTHING_ON), **nobody}))
    model.run()
    daily = model.daily()
    sch, cf = (daily[daily.arm == a].drop(columns="arm").reset_index(drop=True) for a in ("scheme", "counterfactual"))
    assert (sch.baskets > sch.visits).any() and model.dynamics.lapses
    for col in ("visits", "baskets", "sales", "defections", "customers"):
        np.testing.assert_array_equal(sch[col].to_numpy(), cf[col].to_numpy())
    assert model.dynamics.active and daily.visits.sum() > 0 and model.dynamics.later.size == round(3000 * 0.5 * 120 / 365)


def test_arrivals_join_the_customer_base_on_their_day_in_both_arms_and_not_before():
    sc = shipped("supermarket_points", still(**{"customers": 3000, "days": 90, "population.arrivals_per_year": 0.8,
                                                "scheme.enrolment.initial_members": 0.5}))
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
    model = LoyaltyModel(shipped("supermarket_points", still(customers=N, days=42,
                                                              calendar={"weekly_factors": factors})))
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


def test_spells_away_stop_needs_at_the_long_run_rate_and_customers_come_back():
    per_year, mean_days = 2.0, 35.0
    model = LoyaltyModel(shipped("supermarket_points", {**with_segment(lapses={"per_year": per_year,
                                                                                "mean_days": mean_days}),
                                                        "customers": N, "days": 364}))
    dyn, pop = model.dynamics, model.population
    away_weeks, starts, ends, shops_while_away = [], 0, 0, 0
    cf_needs = model.arms[1].shop.needs
    for day in range(364):
        before = dyn.away.copy()
        needs_before = cf_needs.copy()
        model.step()
        if day % 7 == 0:
            away_weeks.append(dyn.away.mean())
            starts += (~before & dyn.away).sum() if day else 0
            ends += (before & ~dyn.away).sum() if day else 0
        shops_while_away += (cf_needs - needs_before)[dyn.away].sum()
    assert shops_while_away == 0 and pop.away is dyn.away  # away: no needs here or anywhere
    # The share away each week is the process's long run from the first day on (weeks are correlated:
    # the tolerance uses the sd of the weekly shares themselves, not a binomial one).
    h, m = per_year / 365.0, mean_days
    p_start, p_back = 1 - np.exp(-7 * h), 1 - np.exp(-7 / m)
    long_run = p_start / (p_start + p_back)  # the weekly chain's long run (close to h m / (1 + h m))
    share = np.asarray(away_weeks)
    assert abs(share.mean() - long_run) < 4 * share.std() / np.sqrt(52 / (2 * m / 7)) + 1e-3
    assert abs(share[0] - h * m / (1 + h * m)) < 4 * np.sqrt(long_run / N)
    # Spells start at the stated rate among those not away, and end as often as they start.
    here_weeks = 51 * N * (1 - long_run)
    assert abs(starts / here_weeks - p_start) < 4 * np.sqrt(p_start / here_weeks)
    assert abs(ends - starts) < 4 * np.sqrt(starts + ends)


def test_top_up_visits_add_baskets_at_the_stated_rate_alike_in_both_arms_and_leave_trips_as_they_were():
    share, more = 0.2, 0.25
    base = {"customers": N, "days": 60}
    baskets = {"scheme": {}, "counterfactual": {}}
    seen = []

    def keep(name, day, wd, t):
        baskets[name].update({(day, int(i)): int(b) for i, b in zip(t.idx, t.baskets)})
        if name == "counterfactual":
            seen.append(t.baskets.copy())

    off = LoyaltyModel(shipped("supermarket_points", {**still(), **base}))
    on = LoyaltyModel(shipped("supermarket_points", {**with_segment(same_day_baskets={"share": share, "more": more}),
                                                     **base}))
    on.trip_observers.append(keep)
    off.run(), on.run()
    b = np.concatenate(seen)
    n = b.size
    # Drawn on a grid of 1/256: the rate is the stated one to within a grid step and sampling error.
    assert abs((b >= 2).mean() - share) < 1 / 256 + 4 * np.sqrt(share * (1 - share) / n)
    two = (b >= 2).sum()
    assert abs((b >= 3).sum() / two - more) < 1 / 256 / share + 4 * np.sqrt(more * (1 - more) / two)
    # The same customer's trip on the same day has the same visits in both arms.
    both = baskets["scheme"].keys() & baskets["counterfactual"].keys()
    assert len(both) > 1000 and all(baskets["scheme"][k] == baskets["counterfactual"][k] for k in both)
    # Visits are extra baskets within a trip: without a scheme (whose card effort is per visit), trips and
    # sales are exactly as without them.
    d_on, d_off = (d[d.arm == "counterfactual"] for d in (on.daily(), off.daily()))
    for col in ("visits", "sales"):
        np.testing.assert_array_equal(d_on[col].to_numpy(), d_off[col].to_numpy())
    np.testing.assert_array_equal(d_off.baskets.to_numpy(), d_off.visits.to_numpy())
    assert d_on[d_on.segment == "all"].baskets.sum() == n + (b - 1).sum()


@pytest.mark.parametrize(("overrides", "field"), [
    ({"calendar": {"weekly_factors": [1.0] * 51}}, "calendar.weekly_factors"),
    ({"calendar": {"weekly_factors": [1.0] * 51 + [-0.5]}}, "calendar.weekly_factors.51"),
    (with_drift(tau=0.0), "need_drift.time_scale_days"),
    (with_segment(lapses={"per_year": 1.0, "mean_days": 0.0}), "lapses.mean_days"),
    (with_segment(lapses={"per_year": -1.0, "mean_days": 10.0}), "lapses.per_year"),
    (with_segment(same_day_baskets={"share": 1.0}), "same_day_baskets.share"),
    (with_segment(small_baskets={"share": 0.2, "log_ratio": 0.5}), "small_baskets.log_ratio"),
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
