"""The simulation core: conservation, determinism, common random numbers, validation, insight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import SCENARIOS, base_data, scenario

from loyaltysim import ScenarioError, simulate
from loyaltysim.engine.insight import snapshot
from loyaltysim.engine.metrics import RAW_NAMES
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.rng import Streams
from loyaltysim.runs.simulate import run_replicate


@pytest.fixture(scope="module")
def rich():
    """Every mechanic at once, 2 replicates."""
    return simulate(scenario())


def test_points_are_conserved_every_day(rich):
    d = rich.daily[(rich.daily.arm == "scheme")].sort_values(["replicate", "segment", "day"])
    g = d.groupby(["replicate", "segment"])
    issued = g["points_issued"].cumsum()
    settled = g["points_redeemed"].cumsum() + g["points_expired"].cumsum() + d["points_outstanding"]
    assert issued.iloc[-1] > 0 and d["points_expired"].sum() > 0 and d["points_redeemed"].sum() > 0
    np.testing.assert_array_equal(issued.to_numpy(), settled.to_numpy())


def test_money_flows_add_up_and_nothing_is_nan_or_negative(rich):
    d = rich.daily
    raw = d[list(RAW_NAMES)]
    assert np.isfinite(raw.to_numpy()).all()
    arms = d[d.arm != "difference"]
    assert (arms[list(RAW_NAMES)].to_numpy() >= -1e-9).all()
    np.testing.assert_allclose(d["revenue"], d["sales"] - d["discount_cost"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(d["programme_cost"], d["reward_cost"] + d["member_discount"]
                               + d["offer_discount"] + d["operating_cost"], atol=1e-6)
    np.testing.assert_allclose(d["customer_net_value"], d["customer_value"] - d["customer_cost"], atol=1e-6)
    # 'all' is the sum of the segments for every flow.
    s = d[d.arm == "scheme"]
    by_seg = s[s.segment != "all"].groupby(["replicate", "day"])["revenue"].sum()
    whole = s[s.segment == "all"].set_index(["replicate", "day"])["revenue"]
    np.testing.assert_allclose(by_seg.sort_index(), whole.sort_index(), rtol=1e-9)
    # Fees paid by customers equal fees received; every mechanic produced flows.
    np.testing.assert_allclose(s["fees_paid"].sum(), s["fee_revenue"].sum())
    for m in ("member_discount", "offer_discount", "partner_revenue", "status_value", "convenience_value",
              "data_revenue", "privacy_cost", "effort_cost", "life_events_detected"):
        assert s[m].sum() > 0, m


def test_the_customer_state_has_no_negative_balance(rich):
    c = rich.customers
    assert (c["points"] >= 0).all() and (c["stamps"] >= 0).all()
    assert c["points"][~c["member"]].eq(0).all()
    assert c.notna().all().all()


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    sc = scenario(customers=500, days=40, replications=1)
    a, b = simulate(sc), simulate(sc)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    c = simulate(sc, seed=8)
    assert not a.daily["revenue"].equals(c.daily["revenue"])


def test_a_scheme_nobody_joins_makes_exactly_zero_difference():
    sc = scenario(overrides={"scheme.enrolment.join_rate_per_visit": 0.0, "scheme.costs.fixed_per_year": 0.0,
                             "days": 60, "customers": 800, "replications": 1})
    d = simulate(sc).daily
    diff = d[d.arm == "difference"][list(RAW_NAMES)]
    assert (diff.drop(columns=["life_events"]).to_numpy() == 0).all()
    assert d[d.arm == "scheme"]["visits"].sum() > 0


def test_counterfactual_does_not_depend_on_the_scheme():
    sc1 = scenario(customers=800, days=60, replications=1)
    sc2 = scenario(overrides={"scheme.points.earn_per_unit": 3.0, "scheme.member_pricing.discount": 0.3},
                   customers=800, days=60, replications=1)
    d1, d2 = simulate(sc1).daily, simulate(sc2).daily
    cf1 = d1[d1.arm == "counterfactual"].reset_index(drop=True)
    cf2 = d2[d2.arm == "counterfactual"].reset_index(drop=True)
    pd.testing.assert_frame_equal(cf1, cf2)
    assert not d1[d1.arm == "scheme"]["revenue"].equals(d2[d2.arm == "scheme"]["revenue"].reset_index(drop=True))


def test_a_never_member_behaves_identically_under_any_scheme():
    kw = dict(customers=1500, days=90, replications=1)
    r1 = simulate(scenario(**kw))
    r2 = simulate(scenario(overrides={"scheme.points.earn_per_unit": 4.0, "scheme.enrolment.join_rate_per_visit": 0.05}, **kw))
    c1, c2 = r1.customers, r2.customers
    never = ~c1["ever_member"] & ~c2["ever_member"]
    assert never.sum() > 100
    for col in ("visits_scheme", "spend_scheme"):
        np.testing.assert_array_equal(c1.loc[never, col], c2.loc[never, col])
    # ... and exactly as without any scheme, unless the scheme changed their satisfaction (it cannot).
    np.testing.assert_array_equal(c1.loc[never, "visits_scheme"], c1.loc[never, "visits_counterfactual"])


def test_streams_draw_for_everyone_every_day_independently_of_use():
    a, b = Streams(5, 0, 100), Streams(5, 0, 100)
    a.day()
    second_a = a.day()
    b.day()
    second_b = b.day()
    np.testing.assert_array_equal(second_a.need, second_b.need)
    assert not np.array_equal(Streams(5, 1, 100).day().need, Streams(5, 0, 100).day().need)


def test_replicates_do_not_depend_on_each_other():
    sc = scenario(customers=400, days=30, replications=2)
    both = simulate(sc).daily
    alone = run_replicate(sc, 1)["daily"]
    cols = ["day", "segment", *RAW_NAMES]
    got = both[(both.replicate == 1) & (both.arm == "scheme")][cols].sort_values(["day", "segment"]).reset_index(drop=True)
    want = alone[alone.arm == "scheme"][cols].sort_values(["day", "segment"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_summary_has_a_confidence_interval_for_every_arm_and_segment(rich):
    s = rich.summary
    assert set(s.arm) == {"scheme", "counterfactual", "difference"}
    assert set(s.segment) == {"all", "a", "b"}
    rev = s[(s.metric == "revenue") & (s.arm == "scheme") & (s.segment == "all")].iloc[0]
    assert rev["n"] == 2 and rev["ci_low"] < rev["mean"] < rev["ci_high"]
    roi = s[(s.metric == "business_roi") & (s.segment == "all")].set_index("arm")["mean"]
    assert np.isnan(roi["scheme"]) and np.isfinite(roi["difference"])
    v = rich.verdict
    assert v["state"] in ("balanced", "business-extractive", "customer-subsidised", "lose-lose")
    assert set(v["segments"]) == {"all", "a", "b"}


@pytest.mark.parametrize("override, field", [
    ({"population.segments.0.trips_per_year": {"mean": -3, "shape": 1}}, "population.segments.0.trips_per_year.mean"),
    ({"population.segments.0.share": 0.7}, "population"),
    ({"population.segments.0.categories": [0.5, 0.5, 0.5, 0, 0, 0, 0]}, "population.segments.0.categories"),
    ({"scheme.points.rewards.0.points": 0}, "scheme.points.rewards.0.points"),
    ({"scheme.stamps": {"required": 0, "reward": {"name": "x", "kind": "free_product", "points": 1, "face_value": 1}}},
     "scheme.stamps.required"),
    ({"scheme.expiry.age_days": -5}, "scheme.expiry.age_days"),
    ({"scheme.tiers.levels.1.threshold": 0}, "scheme.tiers.levels"),
    ({"customers": 0}, "customers"),
    ({"scheme.enrolment.card_presentation": 1.5}, "scheme.enrolment.card_presentation"),
])
def test_impossible_parameters_are_refused_naming_the_field(override, field):
    with pytest.raises(ScenarioError) as err:
        scenario(overrides=override)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_an_unknown_field_suggests_the_right_one():
    data = base_data()
    data["scheme"]["pionts"] = data["scheme"].pop("points")
    with pytest.raises(ScenarioError, match="did you mean 'points'"):
        scenario(data)


def test_a_bad_change_is_refused_before_the_run():
    with pytest.raises(ScenarioError, match="change on day 10"):
        scenario(changes=[{"day": 10, "set": {"scheme.points.earn_per_unit": -1}}])


def test_a_change_takes_effect_on_its_day():
    sc = scenario(customers=1000, days=80, replications=1,
                  changes=[{"day": 40, "set": {"scheme.points.earn_per_unit": 5.0}}])
    d = simulate(sc).daily
    s = d[(d.arm == "scheme") & (d.segment == "all")]
    per_sale_before = s[(s.day < 40) & (s.day >= 31)]["points_issued"].sum() / s[(s.day < 40) & (s.day >= 31)]["linked_sales"].sum()
    per_sale_after = s[s.day >= 40]["points_issued"].sum() / s[s.day >= 40]["linked_sales"].sum()
    assert per_sale_after > 3.5 * per_sale_before


# ---------------------------------------------------------------- insight

def _model(days: int, **over) -> LoyaltyModel:
    sc = scenario(overrides={"scheme.enrolment.initial_members": 0.8, **over}, customers=3000, days=days, replications=1)
    m = LoyaltyModel(sc)
    for _ in range(days):
        m.step()
    return m


def test_insight_rises_with_linked_observations():
    m = _model(150)
    d = m.daily()
    s = d[(d.arm == "scheme") & (d.segment == "all")].set_index("day")
    for dim in ("insight_what", "insight_when", "insight_times", "insight_capacity", "insight_brands"):
        early, late = s.loc[14, dim], s.loc[140, dim]
        assert 0 < early < late <= 1, dim
    # More linked trips per member, better estimates: accuracy correlates with observations.
    mem = m.arms[0].mem
    known = mem.acc_mean > 0
    rho = np.corrcoef(mem.obs_trips[known], mem.acc_mean[known])[0, 1]
    assert rho > 0.2


def test_insight_falls_when_consent_is_withdrawn_and_decays_when_data_stops():
    m = _model(120)
    arm = m.arms[0]
    snapshot(m.spec, m.population, arm, m.priors, m.day)
    before = arm.insight.copy()
    members = np.flatnonzero(arm.mem.member)
    half = members[: members.size // 2]
    arm.mem.consent[half] = 0
    arm.mem.forget(half)
    snapshot(m.spec, m.population, arm, m.priors, m.day)
    after = arm.insight.copy()
    assert (after[:7, 0] < 0.75 * before[:7, 0]).all()
    # No new data for two half-lives: confidence in what is known fades.
    snapshot(m.spec, m.population, arm, m.priors, m.day + 360)
    assert (arm.insight[:4, 0] < after[:4, 0]).all()


def test_a_change_to_the_population_is_refused_and_one_after_the_end_never_happens():
    with pytest.raises(ScenarioError, match="cannot change during a run"):
        scenario(changes=[{"day": 10, "set": {"population.segments.0.share": 0.5}}])
    late = scenario(days=30, customers=300, replications=1,
                    changes=[{"day": 60, "set": {"scheme.points.earn_per_unit": 5}}])
    plain = scenario(days=30, customers=300, replications=1)
    pd.testing.assert_frame_equal(simulate(late).daily, simulate(plain).daily)


def test_an_override_error_names_the_override_not_the_file_line(tmp_path):
    from loyaltysim import load_scenario
    path = tmp_path / "s.yaml"
    import yaml
    path.write_text(yaml.safe_dump(base_data()))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, ["scheme.points.earn_per_unit=-1"])
    assert str(err.value).startswith("--set scheme.points.earn_per_unit=-1: scheme.points.earn_per_unit: ")
    with pytest.raises(ScenarioError) as err:
        simulate(path, days=0)
    assert str(err.value).startswith("--set days: days: ")


def test_a_wrong_length_share_list_is_reported_at_its_own_field():
    with pytest.raises(ScenarioError) as err:
        scenario(overrides={"population.segments.1.household_size": [0.5, 0.5]})
    assert err.value.field == "population.segments.1.household_size"
    assert "needs 5 shares (1, 2, 3, 4, 5+) (got 2)" in str(err.value)


def _daily(states):
    """A difference-arm daily frame whose 10-day periods have the given (roi, customer net) pairs."""
    rows = []
    for p, (roi, net) in enumerate(states):
        for d in range(10):
            rows.append({"arm": "difference", "segment": "all", "day": p * 10 + d,
                         "business_return": roi, "programme_cost": 1.0, "customer_net_value": net})
    return pd.DataFrame(rows)


def test_the_verdict_names_each_state_and_the_day_it_tips():
    from loyaltysim.results.verdict import describe, verdict
    v = verdict(_daily([(0.5, 1), (1.5, 1), (1.2, 2), (1.5, -1), (0.5, -1)]), period_days=10)
    assert [p["state"] for p in v["segments"]["all"]["periods"]] == [
        "customer-subsidised", "balanced", "balanced", "business-extractive", "lose-lose"]
    assert v["balanced_from_day"] == 10 and v["tipping_day"] == 30
    assert v["segments"]["all"]["tips_to"] == "business-extractive"
    assert "tips out of balance on day 30" in describe(v)
    never = verdict(_daily([(0.5, 1), (1.5, 1)]), period_days=10)
    assert never["tipping_day"] is None and "does not tip" in describe(never)


def test_final_customer_state_is_consistent(rich):
    c = rich.customers
    assert ((c["trip_share_scheme"] >= 0) & (c["trip_share_scheme"] <= 1)).all()
    assert (c.loc[c.member, "tenure_days"] >= 0).all() and (c.loc[~c.member, "tenure_days"] == 0).all()
    # A customer who visited recently is not lapsed; visits never exceed needs.
    assert (c["visits_scheme"] > 0).any() and (c.loc[c.visits_scheme == 0, "lapsed_scheme"]).all()


def test_gross_margin_by_category_adds_up(rich):
    d = rich.daily
    parts = d[[c for c in d.columns if c.startswith("gross_margin_")]].sum(axis=1)
    np.testing.assert_allclose(parts, d["gross_margin"], rtol=1e-5, atol=1e-3)  # float32 baskets
    s = d[d.arm == "scheme"]
    assert s["gross_margin_fuel"].sum() < s["gross_margin_grocery"].sum()


def test_a_run_too_big_for_memory_is_refused_before_it_starts(monkeypatch):
    import loyaltysim.runs.simulate as ex
    from loyaltysim import RunError
    monkeypatch.setattr(ex, "memory_available", lambda: 2 * 2**30)
    with pytest.raises(RunError, match=r"customers: 5,000,000 customers need about [\d.]+ GiB but 2.0 GiB"):
        simulate(scenario(customers=5_000_000, days=10, replications=1))
    # A run that fits goes ahead.
    assert simulate(scenario(customers=200, days=5, replications=1)).daily.shape[0] > 0


def test_an_executor_gives_the_same_result_as_running_serially():
    from loyaltysim.runs.executors import SerialExecutor

    class Reversed(SerialExecutor):
        """Runs units in reverse order, returning them in input order."""
        def map(self, fn, args, on_done=None):
            out = {i: fn(*args[i]) for i in reversed(range(len(args)))}
            return [out[i] for i in range(len(args))]

    sc = scenario(customers=300, days=20, replications=3)
    pd.testing.assert_frame_equal(simulate(sc).daily, simulate(sc, executor=Reversed()).daily)


def test_a_scheme_that_costs_all_but_nothing_has_no_roi_rather_than_an_astronomical_one():
    # Costs of 1e-300 are valid input; dividing by them gave ROIs near 1e300, whose replicate spread
    # overflowed. A denominator below metrics.NEGLIGIBLE now makes the ratio undefined.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s = simulate(SCENARIOS / "supermarket_points.yaml", customers=2000, days=40, replications=3, overrides=[
            "scheme.costs.per_member_per_year=1e-300", "scheme.costs.fixed_per_year=0",
            "scheme.points.earn_per_unit=1e-300", "scheme.offers.discount=1e-300",
            "scheme.offers.cost_per_offer=0"]).summary
    diff = s[s.arm == "difference"].set_index(["metric", "segment"])
    assert 0 < diff.loc[("programme_cost", "all"), "mean"] < 1e-290
    roi = diff.loc["business_roi"]
    assert roi["mean"].isna().all() and (roi["n"] == 0).all()
    assert diff.loc[("business_return", "all"), "mean"] != 0  # the return itself is still reported
