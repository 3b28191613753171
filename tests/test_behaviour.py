"""Published behaviour the model must reproduce (DESIGN section 6), each with tolerances from sample size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import base_data, scenario, shipped
from scipy import stats

from loyaltysim import simulate
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.population import apply_life_events, synthesise


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return x.mean(), x.std(ddof=1) / np.sqrt(x.size)


def _clustered_ratio_se(num: pd.DataFrame, den: pd.DataFrame, col: str) -> tuple[float, float]:
    """mean(num[col]) / mean(den[col]) and its standard error clustered by customer (``customer_id``):
    the delta method over customers' totals, so a customer's many observations, and the pairing of both
    means on the same customers, count as they should (a customer is the independent unit)."""
    ids = np.unique(np.concatenate([num.customer_id.to_numpy(), den.customer_id.to_numpy()]))
    n = ids.size

    def totals(x):
        k = np.searchsorted(ids, x.customer_id.to_numpy())
        return np.bincount(k, x[col].to_numpy(float), n), np.bincount(k, minlength=n).astype(float)

    (s_num, c_num), (s_den, c_den) = totals(num), totals(den)
    m_num, m_den = s_num.sum() / c_num.sum(), s_den.sum() / c_den.sum()
    # Each customer's influence on log(ratio).
    u = (s_num - m_num * c_num) / (m_num * c_num.sum()) - (s_den - m_den * c_den) / (m_den * c_den.sum())
    r = m_num / m_den
    return r, r * np.sqrt(n / (n - 1) * (u ** 2).sum())


def _paired_by_customer(x: pd.Series, after: pd.Series, before: pd.Series) -> tuple[float, float]:
    """Mean over customers of each one's mean ``after`` minus mean ``before`` (both observed), and its
    standard error: one paired difference per customer."""
    diff = (after.groupby(x).mean() - before.groupby(x).mean()).dropna()
    return _mean_se(diff)


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
    """Kivetz, Urminsky and Zheng (2006): ~20% shorter gaps from the first to the last stamp. The standard
    error is clustered by customer (each customer completes many cards, and the first and last gaps of a
    card are the same customer's): about 0.005 here; tolerances are a few of them."""
    # The study handed its control card to every participant; a card worth nothing is otherwise joined by few.
    control = {} if expect_gradient else {"scheme.enrolment.initial_members": 1.0,
                                          "scheme.enrolment.join_rate_per_visit": 0.0}
    sc = shipped("coffee_stamps", {"customers": 12000, "replications": 1,
                                   "scheme.stamps.reward.face_value": reward_worth, **control})
    gaps = _stamp_gaps(simulate(sc, transactions=True).transactions)
    first, last = gaps[gaps.stamp == 1], gaps[gaps.stamp == 9]
    ratio, se = _clustered_ratio_se(last, first, "gap")
    assert 8 * se < 0.2  # the sample tells a 20% gradient from none by at least eight standard errors
    if expect_gradient:
        assert abs(ratio - 0.80) < 4 * se
        assert ratio + 8 * se < 1.0
    else:
        assert abs(ratio - 1.0) < 4 * se


def test_trip_counts_are_nbd_and_heavy_buyers_carry_the_spend():
    """Gamma-distributed need rates give negative-binomial yearly trips (Ehrenberg); the top 20% of customers
    carry most of the spend (about 60% here), far more than customers alike in all but chance would."""
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
    assert abs(r - shape) < 4 * se
    spend = c["spend_counterfactual"].to_numpy()
    top, se_top = _top_share(spend), np.std([_top_share(x) for x in _bootstrap(spend, 200)], ddof=1)
    # Customers alike (the same trip rate and basket), differing by chance alone: Poisson trips, each
    # basket drawn from everyone's baskets pooled (drawn here, with a fixed seed).
    rng = np.random.default_rng(1957)
    trips = rng.poisson(visits.mean(), visits.size)
    baskets = spend.sum() / visits.sum() * np.exp(rng.normal(0, 0.5, trips.sum()) - 0.125)
    alike = np.bincount(np.repeat(np.arange(trips.size), trips), baskets, trips.size)
    assert top > _top_share(alike) + 4 * se_top
    assert top > 0.5 + 4 * se_top  # "most": more than half, beyond four standard errors


def _top_share(spend: np.ndarray) -> float:
    """Share of spend carried by the top 20% of customers."""
    x = np.sort(spend)[::-1]
    return x[: x.size // 5].sum() / x.sum()


def _bootstrap(x: np.ndarray, times: int):
    """Resamples of customers, with replacement, from a fixed seed."""
    rng = np.random.default_rng(2006)
    for _ in range(times):
        yield x[rng.integers(0, x.size, x.size)]


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


def _points_breakage(expiry: dict | None, redemption: str) -> np.ndarray:
    """Breakage (points expired per point issued) of each of 3 replicates; every call uses the same seeds."""
    data = base_data(customers=800, days=180, replications=3)
    s = data["scheme"]
    for k in ("tiers", "membership", "member_pricing", "offers"):
        s.pop(k)
    s["points"]["partner_points_per_year"] = 0
    s["points"]["redemption"] = {"mode": redemption, "manual_rate_per_visit": 0.05}
    s["enrolment"] = {"join_rate_per_visit": 0.2, "leave_rate_per_year": 0.0, "awareness_per_visit": 1.0,
                      "join_threshold": 0.0}  # members enough in a small population
    s.setdefault("data", {})["consent_withdrawal_per_year"] = 0.0  # nobody leaves, so no points are forfeited
    if expiry is None:
        s.pop("expiry")
    else:
        s["expiry"] = expiry
    for seg in data["population"]["segments"]:
        seg["defection_per_year"] = 0.0
    d = simulate(scenario(data)).daily
    g = d[(d.arm == "scheme") & (d.segment == "all")].groupby("replicate")[["points_expired", "points_issued"]].sum()
    return (g["points_expired"] / g["points_issued"]).to_numpy()


def test_breakage_needs_expiry_and_grows_with_friction():
    """Tolerances from the replicates: t standard errors (n - 1 degrees of freedom) of the replicates'
    breakage, and of their paired differences (the same seeds under both redemption modes)."""
    assert (_points_breakage(None, "manual") == 0.0).all()
    auto = _points_breakage({"age_days": 60, "inactivity_days": 30}, "auto")
    manual = _points_breakage({"age_days": 60, "inactivity_days": 30}, "manual")
    t = stats.t.ppf(0.999, auto.size - 1)  # a one-sided 0.1% test
    assert auto.mean() > t * stats.sem(auto)
    gap = manual - auto
    assert gap.mean() > t * stats.sem(gap)


def _privacy_run(required: list[str]):
    data = base_data(customers=8000, days=120, replications=1)
    data["population"]["segments"] = [
        {"name": "relaxed", "share": 0.5, "motivations": {"privacy_concern": {"mean": 0.1, "precision": 20}}},
        {"name": "concerned", "share": 0.5, "motivations": {"privacy_concern": {"mean": 0.9, "precision": 20}}},
    ]
    data["scheme"]["data"] = {"requested": ["transactions", "demographics", "app", "third_party"], "required": required}
    return simulate(scenario(data))


def test_demanding_more_data_loses_the_consent_of_privacy_concerned_customers():
    """Paired by customer: the same customers (same seed) under both demands."""
    light = _privacy_run(["transactions"])
    heavy = _privacy_run(["transactions", "demographics", "app", "third_party"])

    def consenting(r):
        c = r.customers
        return pd.Series(c.member & ((c.consent.to_numpy() & 1) > 0), index=c.index)

    def summary(r, seg):
        s = r.summary
        return s[(s.metric == "consenting_members") & (s.arm == "scheme") & (s.segment == seg)]["mean"].iloc[0]

    seg = light.customers.segment
    drop = consenting(light).astype(float) - consenting(heavy).astype(float)  # per customer: 1, 0 or -1
    for r in (light, heavy):
        for name in ("concerned", "relaxed"):
            assert summary(r, name) == consenting(r)[seg == name].sum()
    (m_c, se_c), (m_r, se_r) = _mean_se(drop[seg == "concerned"]), _mean_se(drop[seg == "relaxed"])
    assert m_c > 4 * se_c
    assert m_c > m_r + 4 * np.hypot(se_c, se_r)
    # With optional sources, the concerned consent to fewer of them (t standard errors of two means).
    c = light.customers[light.customers.member]
    consent = c["consent"].to_numpy()
    optional = pd.Series((consent >> 1 & 1) + (consent >> 2 & 1) + (consent >> 3 & 1), index=c.index)
    (m_con, s_con), (m_rel, s_rel) = (_mean_se(optional[c.segment == name]) for name in ("concerned", "relaxed"))
    assert m_con < m_rel - 4 * np.hypot(s_con, s_rel)


def _uplift_per_customer(r, seg: str) -> np.ndarray:
    c = r.customers[r.customers.segment == seg]
    return (c["visits_scheme"] - c["visits_counterfactual"]).to_numpy(float)


def _segments_run(scheme_over: dict, seg_a: dict, seg_b: dict, customers=8000, transactions=False):
    data = base_data(customers=customers, days=240, replications=1)
    data["population"]["segments"] = [{"name": "a", "share": 0.5, **seg_a}, {"name": "b", "share": 0.5, **seg_b}]
    return simulate(scenario(data, overrides=scheme_over), transactions=transactions)


def test_tiers_move_belonging_motivated_customers():
    seg = lambda b: {"motivations": {"belonging": {"mean": b, "precision": 20}}}  # noqa: E731
    with_tiers = _segments_run({}, seg(0.9), seg(0.1))
    no_tiers = _segments_run({"scheme.tiers": None}, seg(0.9), seg(0.1))
    effect = {s: _uplift_per_customer(with_tiers, s) - _uplift_per_customer(no_tiers, s) for s in ("a", "b")}
    (ma, sa), (mb, sb) = _mean_se(effect["a"]), _mean_se(effect["b"])
    assert ma > mb + 4 * np.hypot(sa, sb)
    assert ma > 4 * sa


def test_friction_deters_time_poor_customers():
    seg = lambda tp: {"time_poor_share": tp}  # noqa: E731
    smooth = _segments_run({"scheme.enrolment.friction_per_visit": 0.0}, seg(1.0), seg(0.0))
    rough = _segments_run({"scheme.enrolment.friction_per_visit": 0.5}, seg(1.0), seg(0.0), transactions=True)
    loss = {s: _uplift_per_customer(smooth, s) - _uplift_per_customer(rough, s) for s in ("a", "b")}
    (ma, sa), (mb, sb) = _mean_se(loss["a"]), _mean_se(loss["b"])
    assert ma > mb + 4 * np.hypot(sa, sb)
    # Time-poor members also link less of their spend: shares of members' spend, clustered by customer.
    t = rough.transactions[rough.transactions.member].copy()
    t["segment"] = rough.customers.segment.to_numpy()[t.customer_id.to_numpy()]
    t["linked_amount"] = np.where(t.linked, t.amount, 0.0)
    (la, se_a), (lb, se_b) = (_share_se(t[t.segment == name]) for name in ("a", "b"))
    assert la < lb - 4 * np.hypot(se_a, se_b)


def _share_se(t: pd.DataFrame) -> tuple[float, float]:
    """Linked share of spend, sum(linked_amount) / sum(amount), with its standard error clustered by customer."""
    g = t.groupby("customer_id")[["linked_amount", "amount"]].sum()
    r = g.linked_amount.sum() / g.amount.sum()
    u = (g.linked_amount - r * g.amount) / g.amount.sum()
    return r, float(np.sqrt(len(g) / (len(g) - 1) * (u ** 2).sum()))


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
    assert grew.sum() > 4 * np.sqrt(grew.sum())  # clearly more than none: four Poisson standard deviations
    assert (pop.basket_mu[babies][grew] > before_mu[grew]).all()
    assert (pop.categories[babies, 4][grew] > before_gm[grew]).all()
    assert had[grew].all()

    model = LoyaltyModel(sc, 0, record_transactions=True).run()
    t = model.transactions.frame()
    c = model.customers()
    ev = c.set_index("customer_id")["last_life_event_day"]
    t["event_day"] = ev.reindex(t.customer_id).to_numpy()
    hit = t[t.event_day >= 30]
    # Each customer's mean log basket after the event minus before: paired by customer.
    after, before = hit[hit.day > hit.event_day], hit[hit.day < hit.event_day]
    diff, se = _paired_by_customer(pd.concat([after.customer_id, before.customer_id]),
                                   pd.concat([np.log(after.amount), pd.Series(np.nan, index=before.index)]),
                                   pd.concat([pd.Series(np.nan, index=after.index), np.log(before.amount)]))
    assert diff > 4 * se
    # Detection follows the rule: a member who consented throughout (joined before the event, consenting
    # at the end: consent once withdrawn never returns) and presented the card on at least
    # life_event_detection_trips trips after the event has been detected.
    trips_needed = sc.business.insight.life_event_detection_trips
    linked_after = t[t.linked & (t.day > t.event_day)].groupby("customer_id").size()
    c["linked_after"] = linked_after.reindex(c.customer_id, fill_value=0).to_numpy()
    watched = c[c.member & ((c.consent & 1) > 0) & (c.join_day < c.last_life_event_day)
                & (c.last_life_event_day >= 0) & (c.defection_day_scheme < 0)]
    due = watched[watched.linked_after >= trips_needed]
    assert len(due) > 4 * np.sqrt(len(due))
    assert (due.life_event_detected_day >= due.last_life_event_day).all()
    seen = t[t.linked & (t.day >= t.event_day)].groupby("customer_id").size()
    never_seen = c[(c.last_life_event_day >= 0) & ~c.customer_id.isin(seen.index)]
    assert len(never_seen) > 0
    assert (never_seen.life_event_detected_day < never_seen.last_life_event_day).all()  # nothing seen, nothing known
    d = model.daily()
    s = d[(d.arm == "scheme") & (d.segment == "all")]
    detected, events = s["life_events_detected"].sum(), s["life_events"].sum()
    assert detected > 4 * np.sqrt(detected) and detected <= events
    # Life-change insight: a mean of detection scores (0-1) over recent events, above zero by four times
    # the largest standard error such a mean can have.
    recent = s[s.day >= s.day.max() - 180]["life_events"].sum()
    assert s["insight_life_changes"].iloc[-1] > 4 * np.sqrt(0.25 / recent)


def test_a_devaluation_cuts_reward_value_satisfaction_and_membership():
    """The shipped devaluation (the voucher goes from 150 to 225 points on day 182) against the same
    scenario without the change, on the same seed: the runs are identical until the change, so each
    customer is compared with themselves."""
    kw = {"customers": 6000, "days": 300, "replications": 1,
          "population.arrivals_per_year": 0.0}  # the same customers in runs of different lengths
    devalued = simulate(shipped("devaluation", kw))
    kept = simulate(shipped("devaluation", {**kw, "changes": []}))
    at_change = simulate(shipped("devaluation", {**kw, "days": 182})).customers  # members on the change day
    (change,) = shipped("devaluation").changes
    face, before_pts = 1.5, 150  # the voucher's face value and points (scenarios/devaluation.yaml)
    after_pts = change.set["scheme.points.rewards.0.points"]
    # Reward value per point redeemed falls on the day, to face value over the new threshold.
    for r, per_point_after in ((devalued, face / after_pts), (kept, face / before_pts)):
        d = r.daily
        s = d[(d.arm == "scheme") & (d.segment == "all")]
        for days, want in ((s.day < change.day, face / before_pts), (s.day >= change.day, per_point_after)):
            x = s[days]
            assert x.points_redeemed.sum() > 0
            assert x.reward_value.sum() / x.points_redeemed.sum() == pytest.approx(want, rel=1e-9)
    pd.testing.assert_frame_equal(devalued.daily[devalued.daily.day < change.day].reset_index(drop=True),
                                  kept.daily[kept.daily.day < change.day].reset_index(drop=True))
    # Members' satisfaction falls: paired differences over members of both runs at the end.
    cd, ck = devalued.customers, kept.customers
    both = (cd.member & ck.member).to_numpy()
    fall, se = _mean_se((ck.satisfaction - cd.satisfaction)[both])
    assert fall > 4 * se
    # More of the members on the change day have gone by the end: of the customers whose fate differs
    # between the runs (discordant pairs), more went under the devaluation, beyond four binomial
    # standard deviations (McNemar).
    was = at_change.member.to_numpy()
    gone_devalued, gone_kept = was & ~cd.member.to_numpy(), was & ~ck.member.to_numpy()
    only_devalued = np.count_nonzero(gone_devalued & ~gone_kept)
    only_kept = np.count_nonzero(gone_kept & ~gone_devalued)
    assert only_devalued - only_kept > 4 * np.sqrt(only_devalued + only_kept)
