"""Published behaviour the model must reproduce (DESIGN section 6), each with tolerances from sample size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import base_data, scenario, shipped

from loyaltysim import simulate
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.population import apply_life_events, synthesise


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return x.mean(), x.std(ddof=1) / np.sqrt(x.size)


def _ratio_se(a, b) -> tuple[float, float]:
    """Ratio of two independent sample means and its delta-method standard error."""
    (ma, sa), (mb, sb) = _mean_se(a), _mean_se(b)
    r = ma / mb
    return r, r * np.sqrt((sa / ma) ** 2 + (sb / mb) ** 2)


def _stamp_gaps(transactions: pd.DataFrame) -> pd.DataFrame:
    """Inter-purchase gaps within completed 10-stamp cards, by stamps on the card before the purchase."""
    t = transactions[transactions.linked].sort_values(["customer_id", "day"], kind="stable").copy()
    t["stamp"] = np.round(t.reward_progress * 10).astype(int)
    t["card"] = (t.stamp == 0).groupby(t.customer_id).cumsum()
    t["gap"] = t.groupby(["customer_id", "card"])["day"].diff()
    complete = t.groupby(["customer_id", "card"])["stamp"].transform("max") == 9
    return t[complete].dropna(subset=["gap"])


@pytest.mark.parametrize("reward_worth, expect_gradient", [(3.5, True), (0.01, False)])
def test_goal_gradient_with_a_reward_and_none_without(reward_worth, expect_gradient):
    """Kivetz, Urminsky and Zheng (2006): ~20% shorter gaps from the first to the last stamp."""
    sc = shipped("coffee_stamps", {"customers": 12000, "replications": 1,
                                   "scheme.stamps.reward.face_value": reward_worth})
    gaps = _stamp_gaps(simulate(sc, transactions=True).transactions)
    first, last = gaps[gaps.stamp == 1]["gap"], gaps[gaps.stamp == 9]["gap"]
    ratio, se = _ratio_se(last, first)
    assert first.size > 5000
    if expect_gradient:
        assert abs(ratio - 0.80) < 0.05 + 3 * se
        assert ratio + 4 * se < 1.0
    else:
        assert abs(ratio - 1.0) < 4 * se + 0.01


def test_trip_counts_are_nbd_and_heavy_buyers_carry_the_spend():
    """Gamma-distributed need rates give negative-binomial yearly trips (Ehrenberg); top 20% carry ~55%."""
    # A modest mean, so that the one-trip-a-day limit barely thins the heaviest buyers.
    shape = 1.13
    data = base_data(customers=20000, days=365, replications=1, scheme={})
    data["population"] = {"segments": [{"name": "all_customers", "share": 1.0,
                                        "trips_per_year": {"mean": 40, "shape": shape},
                                        "retailer_preference": {"mean": 0.0, "sd": 0.0},
                                        "defection_per_year": 0.0,
                                        "life_events": {"new_baby": 0, "child_leaves": 0, "move": 0,
                                                        "income_change": 0, "retirement": 0}}]}
    data["behaviour"] = {"habit_weight": 0.0}
    c = simulate(scenario(data)).customers
    visits = c["visits_counterfactual"].to_numpy(float)
    # Method-of-moments NBD shape r = m^2 / (v - m), with its spread over 20 batches of customers.
    batches = np.array_split(visits, 20)
    r_hat = [b.mean() ** 2 / (b.var(ddof=1) - b.mean()) for b in batches]
    r, se = _mean_se(r_hat)
    assert abs(r - shape) < 3 * se + 0.1
    spend = np.sort(c["spend_counterfactual"].to_numpy())[::-1]
    top = spend[: spend.size // 5].sum() / spend.sum()
    assert 0.45 < top < 0.70


def test_heavy_buyers_self_select_so_the_naive_comparison_overstates_the_effect():
    sc = shipped("supermarket_points", {"customers": 20000, "replications": 1})
    c = simulate(sc).customers
    members = c["member"]
    naive = c.loc[members, "spend_scheme"].mean() - c.loc[~members, "spend_scheme"].mean()
    uplift = c.loc[members, "spend_scheme"] - c.loc[members, "spend_counterfactual"]
    true, se_true = _mean_se(uplift)
    # Members were heavier buyers before any scheme effect: their counterfactual spend is higher.
    gap = c.loc[members, "spend_counterfactual"].mean() - c.loc[~members, "spend_counterfactual"].mean()
    se_gap = np.sqrt(c.loc[members, "spend_counterfactual"].var() / members.sum()
                     + c.loc[~members, "spend_counterfactual"].var() / (~members).sum())
    assert gap > 4 * se_gap
    assert naive > true + 4 * se_true and true > 0


def _points_breakage(expiry: dict | None, redemption: str) -> float:
    data = base_data(customers=3000, days=240, replications=1)
    s = data["scheme"]
    for k in ("tiers", "membership", "member_pricing", "offers"):
        s.pop(k)
    s["points"]["partner_points_per_year"] = 0
    s["points"]["redemption"] = {"mode": redemption, "manual_rate_per_visit": 0.05}
    s["enrolment"] = {"join_rate_per_visit": 0.2, "leave_rate_per_year": 0.0}
    if expiry is None:
        s.pop("expiry")
    else:
        s["expiry"] = expiry
    for seg in data["population"]["segments"]:
        seg["defection_per_year"] = 0.0
    r = simulate(scenario(data))
    row = r.summary.query("metric == 'breakage_rate' and arm == 'scheme' and segment == 'all'").iloc[0]
    return row["mean"]


def test_breakage_needs_expiry_and_grows_with_friction():
    assert _points_breakage(None, "manual") == 0.0
    auto = _points_breakage({"age_days": 60, "inactivity_days": 30}, "auto")
    manual = _points_breakage({"age_days": 60, "inactivity_days": 30}, "manual")
    assert 0 < auto < manual
    assert manual > 0.05


def _privacy_run(required: list[str]):
    data = base_data(customers=8000, days=120, replications=1)
    data["population"]["segments"] = [
        {"name": "relaxed", "share": 0.5, "motivations": {"privacy_concern": {"mean": 0.1, "precision": 20}}},
        {"name": "concerned", "share": 0.5, "motivations": {"privacy_concern": {"mean": 0.9, "precision": 20}}},
    ]
    data["scheme"]["data"] = {"requested": ["transactions", "demographics", "app", "third_party"], "required": required}
    return simulate(scenario(data))


def test_demanding_more_data_loses_the_consent_of_privacy_concerned_customers():
    light = _privacy_run(["transactions"])
    heavy = _privacy_run(["transactions", "demographics", "app", "third_party"])

    def consenting(r, seg):
        s = r.summary
        return s[(s.metric == "consenting_members") & (s.arm == "scheme") & (s.segment == seg)]["mean"].iloc[0]

    n = 4000  # customers per segment
    se = np.sqrt(0.25 / n)  # binomial standard error of a share, at its largest
    drop_concerned = (consenting(light, "concerned") - consenting(heavy, "concerned")) / n
    drop_relaxed = (consenting(light, "relaxed") - consenting(heavy, "relaxed")) / n
    assert drop_concerned > 0.1
    assert drop_concerned > drop_relaxed + 4 * se
    # With optional sources, the concerned consent to fewer of them.
    c = light.customers[light.customers.member]
    optional = (c["consent"].to_numpy() >> 1 & 1) + (c["consent"].to_numpy() >> 2 & 1) + (c["consent"].to_numpy() >> 3 & 1)
    by_seg = pd.Series(optional).groupby(c["segment"].to_numpy()).mean()
    assert by_seg["concerned"] < by_seg["relaxed"] - 0.5


def _uplift_per_customer(r, seg: str) -> np.ndarray:
    c = r.customers[r.customers.segment == seg]
    return (c["visits_scheme"] - c["visits_counterfactual"]).to_numpy(float)


def _segments_run(scheme_over: dict, seg_a: dict, seg_b: dict, customers=8000):
    data = base_data(customers=customers, days=240, replications=1)
    data["population"]["segments"] = [{"name": "a", "share": 0.5, **seg_a}, {"name": "b", "share": 0.5, **seg_b}]
    return simulate(scenario(data, overrides=scheme_over))


def test_tiers_move_belonging_motivated_customers():
    seg = lambda b: {"motivations": {"belonging": {"mean": b, "precision": 20}}}  # noqa: E731
    with_tiers = _segments_run({}, seg(0.9), seg(0.1))
    no_tiers = _segments_run({"scheme.tiers": None}, seg(0.9), seg(0.1))
    effect = {s: _uplift_per_customer(with_tiers, s) - _uplift_per_customer(no_tiers, s) for s in ("a", "b")}
    (ma, sa), (mb, sb) = _mean_se(effect["a"]), _mean_se(effect["b"])
    assert ma > mb + 4 * np.hypot(sa, sb)
    assert ma > 0


def test_friction_deters_time_poor_customers():
    seg = lambda tp: {"time_poor_share": tp}  # noqa: E731
    smooth = _segments_run({"scheme.enrolment.friction_per_visit": 0.0}, seg(1.0), seg(0.0))
    rough = _segments_run({"scheme.enrolment.friction_per_visit": 0.5}, seg(1.0), seg(0.0))
    loss = {s: _uplift_per_customer(smooth, s) - _uplift_per_customer(rough, s) for s in ("a", "b")}
    (ma, sa), (mb, sb) = _mean_se(loss["a"]), _mean_se(loss["b"])
    assert ma > mb + 4 * np.hypot(sa, sb)
    # Time-poor members also link less of their spend.
    d = rough.daily
    s = d[(d.arm == "scheme") & (d.segment.isin(["a", "b"]))].groupby("segment")[["linked_sales", "sales"]].sum()
    linked = s["linked_sales"] / s["sales"]
    assert linked["a"] < linked["b"] - 0.05


def test_a_life_event_shifts_baskets_and_the_business_detects_it():
    only_babies = {"new_baby": 0.6, "child_leaves": 0.0, "move": 0.0, "income_change": 0.0, "retirement": 0.0}
    sc = scenario(overrides={"population.segments.0.life_events": only_babies,
                             "population.segments.1.life_events": only_babies,
                             "scheme.enrolment.initial_members": 0.9},
                  customers=3000, days=200, replications=1)
    pop = synthesise(sc, 0)
    events = pop.events
    babies = events.customer[(events.kind == 0)]
    before_size, before_mu = pop.household[babies].copy(), pop.basket_mu[babies].copy()
    before_gm = pop.categories[babies, 4].copy()
    for day in range(sc.days):
        apply_life_events(pop, day)
    had = pop.last_event_day[babies] >= 0
    grew = pop.household[babies] > before_size
    assert grew.sum() > 200
    assert (pop.basket_mu[babies][grew] > before_mu[grew]).all()
    assert (pop.categories[babies, 4][grew] > before_gm[grew]).all()
    assert had[grew].all()

    model = LoyaltyModel(sc, 0, record_transactions=True).run()
    t = model.transactions.frame()
    c = model.customers()
    ev = c.set_index("customer_id")["last_life_event_day"]
    t["event_day"] = ev.reindex(t.customer_id).to_numpy()
    hit = t[t.event_day >= 30]
    after = np.log(hit[hit.day > hit.event_day]["amount"])
    before = np.log(hit[hit.day < hit.event_day]["amount"])
    diff = after.mean() - before.mean()
    se = np.hypot(after.std() / np.sqrt(after.size), before.std() / np.sqrt(before.size))
    assert diff > 3 * se
    d = model.daily()
    s = d[(d.arm == "scheme") & (d.segment == "all")]
    assert s["life_events_detected"].sum() > 0.3 * s["life_events"].sum()
    assert s["insight_life_changes"].iloc[-1] > 0.2
