"""Each mechanism of DESIGN.md shows in behaviour, and stops showing when it is switched off.

Every test compares runs on the same seed (one with the mechanism, a control without it, or two groups
of customers within one run) and derives its tolerance from the sample: a paired standard error over
customers, a binomial or Poisson standard error, or a Fisher-z interval. ``python tests/mutants.py``
switches each mechanism off in a copy of the code and checks that a test here (or elsewhere) fails.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from helpers import scenario

from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.population import synthesise
from loyaltysim.engine.state import CONSENT_BIT
from loyaltysim.scenario.models import CATEGORIES, LIFE_EVENTS

Z = 4.0
"""Standard errors an effect must clear: a run's noise passes this about once in 16,000 tries."""

LEAN = {"scheme.tiers": None, "scheme.membership": None, "scheme.member_pricing": None, "scheme.offers": None,
        "scheme.expiry": None, "scheme.points.partner_points_per_year": 0, "scheme.points.promotions": [],
        "scheme.points.category_multipliers": {}, "scheme.costs.fixed_per_year": 0,
        "scheme.data.requested": ["transactions"]}
"""The rich test scheme cut down to points with manual redemption: tests add the mechanism they examine."""
NO_FEEDBACK = {"behaviour.reference_weight": 0.0, "behaviour.defection_value_weight": 0.0,
               "scheme.enrolment.dormancy_per_year": 0.0,
               "scheme.enrolment.leave_rate_per_year": 0.0, "scheme.enrolment.referral_rate_per_year": 0.0,
               "scheme.data.consent_withdrawal_per_year": 0.0}
"""What the scheme gave members does not feed back into their choices, using the card, staying or referring."""
NO_GOAL_GRADIENT = {"scheme.goal_gradient.strength": 0.0, "scheme.goal_gradient.acceleration": 0.0}
ALL_MEMBERS = {"scheme.enrolment.initial_members": 1.0, "scheme.enrolment.join_rate_per_visit": 0.0}
UNREACHABLE = {"scheme.points.rewards": [{"name": "far", "kind": "voucher", "points": 1e9, "face_value": 5}]}
"""Nobody redeems: a member's balance is every point they were given."""
FREE_PRODUCT = {"scheme.points.rewards": [{"name": "gift", "kind": "free_product", "points": 100, "face_value": 2}],
                "scheme.points.redemption": {"mode": "auto"}}
"""A reachable reward that leaves no voucher behind (a voucher in hand pulls reward-seeking members by itself)."""
NO_EVENTS = {name: 0.0 for name in LIFE_EVENTS}


def two_segments(a: dict, b: dict) -> dict:
    """Overrides for a population of two equal segments ``a`` and ``b`` (their own fields)."""
    return {"population.segments": [{"name": "a", "share": 0.5, **a}, {"name": "b", "share": 0.5, **b}]}


def motive(**means) -> dict:
    """Segment fields: motivations with these means, customers alike within the segment."""
    return {"motivations": {k: {"mean": v, "precision": 20} for k, v in means.items()}}


class Tally:
    """Per-customer totals, counts and days of what the scheme arm books customer by customer."""

    def __init__(self, model: LoyaltyModel) -> None:
        n = model.population.n
        self.total = defaultdict(lambda: np.zeros(n))
        self.count = defaultdict(lambda: np.zeros(n, np.int64))
        self.days = defaultdict(list)  # metric -> [(day, customers)]
        ledger = model.arms[0].ledger
        book = ledger.add

        def add(name, idx, amounts):
            np.add.at(self.total[name], idx, np.broadcast_to(np.asarray(amounts, float), idx.shape))
            np.add.at(self.count[name], idx, 1)
            self.days[name].append((model.day, idx.copy()))
            book(name, idx, amounts)

        ledger.add = add


class Trips:
    """Per-customer counts of each arm's trips: all, by members, card-linked, on weekdays."""

    def __init__(self, model: LoyaltyModel) -> None:
        n = model.population.n
        self.visits = {a.name: np.zeros(n) for a in model.arms}
        self.member_visits, self.linked = np.zeros(n), np.zeros(n)
        model.trip_observers.append(self)

    def __call__(self, arm, day, weekday, trips):
        self.visits[arm][trips.idx] += 1
        if arm == "scheme":
            self.member_visits[trips.idx[trips.member]] += 1
            self.linked[trips.idx[trips.linked]] += 1


def make(overrides: dict | None = None, *, customers: int = 3000, days: int = 120, lean: bool = True,
         transactions: bool = False) -> tuple[LoyaltyModel, Tally, Trips]:
    """A model of the test scenario (cut down to ``LEAN`` unless ``lean`` is false), not yet run."""
    over = {**(LEAN if lean else {}), **(overrides or {})}
    model = LoyaltyModel(scenario(overrides=over, customers=customers, days=days, replications=1), 0,
                         record_transactions=transactions)
    return model, Tally(model), Trips(model)


def run(overrides: dict | None = None, **kw) -> tuple[LoyaltyModel, Tally, Trips]:
    model, tally, trips = make(overrides, **kw)
    model.run()
    return model, tally, trips


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def assert_positive(x, what: str) -> None:
    """The mean of per-customer (paired) differences ``x`` is above Z standard errors."""
    m, se = mean_se(x)
    assert x.size >= 10 and m > Z * se and m > 0, f"{what}: mean {m:.4g}, se {se:.3g}, n {x.size}"


def assert_greater(a, b, what: str) -> None:
    """Mean of ``a`` exceeds mean of ``b`` (independent groups) by Z standard errors."""
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    assert a.size >= 10 and b.size >= 10 and ma - mb > Z * np.hypot(sa, sb), \
        f"{what}: {ma:.4g} (se {sa:.3g}, n {a.size}) vs {mb:.4g} (se {sb:.3g}, n {b.size})"


def scheme_total(model: LoyaltyModel, metric: str, days=slice(None)) -> float:
    d = model.daily()
    s = d[(d.arm == "scheme") & (d.segment == "all")].set_index("day")[metric]
    return float(s.loc[days].sum())


# ---------------------------------------------------------------- points

def test_points_follow_linked_spend_and_the_earn_rate():
    over = {**UNREACHABLE, **NO_FEEDBACK}
    base, tally, _ = run(over)
    double, _, _ = run({**over, "scheme.points.earn_per_unit": 2.0})
    member = base.arms[0].mem.member & (tally.total["linked_sales"] > 20)
    linked = tally.total["linked_sales"][member]
    per_unit = base.arms[0].mem.points[member] / linked
    # Whole points per basket: a member earns the rate on linked spend less under one point per trip.
    assert_positive(per_unit - 0.9, "points per linked unit at earn rate 1")
    ratio = double.arms[0].mem.points[member] / np.maximum(base.arms[0].mem.points[member], 1)
    assert_positive(ratio - 1.8, "doubling the earn rate doubles the points")


def test_a_category_multiplier_gives_its_buyers_more_points_per_unit():
    over = {**UNREACHABLE, **NO_FEEDBACK}
    plain, tally, _ = run(over)
    boosted, _, _ = run({**over, "scheme.points.category_multipliers": {"produce": 4.0}})
    member = plain.arms[0].mem.member & (tally.total["linked_sales"] > 20)
    linked = tally.total["linked_sales"][member]
    gain = (boosted.arms[0].mem.points[member] - plain.arms[0].mem.points[member]) / linked
    produce = plain.population.categories[member, CATEGORIES.index("produce")]
    heavy = produce > np.median(produce)
    assert_positive(gain, "extra points per unit with a produce multiplier")
    assert_greater(gain[heavy], gain[~heavy], "produce buyers gain more")


def test_a_promotion_multiplies_points_inside_its_window_only():
    window = [{"start_day": 40, "end_day": 59, "multiplier": 3.0}]
    model, _, _ = run({**NO_FEEDBACK, "scheme.points.promotions": window})
    d = model.daily()
    s = d[(d.arm == "scheme") & (d.segment == "all") & (d.day >= 20)].set_index("day")
    rate = (s.points_issued / s.linked_sales).to_numpy()
    inside = (s.index >= 40) & (s.index <= 59)
    assert_greater(rate[inside] / 3.0 * 2.0, rate[~inside], "points per linked unit in the window vs outside")


def test_an_advertised_promotion_draws_members_to_shop_here_inside_its_window_only():
    window = [{"start_day": 20, "end_day": 34, "multiplier": 5.0}]
    over = {**NO_FEEDBACK, **ALL_MEMBERS, **NO_GOAL_GRADIENT}
    counts = {}
    for name, promos in (("plain", []), ("promoted", window)):
        model, _, _ = make({**over, "scheme.points.promotions": promos}, days=35)
        by_period = np.zeros((2, model.population.n))
        model.trip_observers.append(
            lambda arm, day, wd, t, q=by_period: np.add.at(q[int(day >= 20)], t.idx, 1) if arm == "scheme" else None)
        model.run()
        counts[name] = by_period
    # Same customers and draws: identical before the window (a promotion is not anticipated before it
    # starts), more trips here during it.
    np.testing.assert_array_equal(counts["plain"][0], counts["promoted"][0])
    assert_positive(counts["promoted"][1] - counts["plain"][1], "member trips in the promotion's window")


def test_partner_points_come_without_spend_and_partners_pay_for_them():
    over = {**UNREACHABLE, **NO_FEEDBACK}
    alone, _, _ = run(over)
    coalition, _, _ = run({**over, "scheme.points.partner_points_per_year": 120,
                           "scheme.points.partner_pays_per_point": 0.005})
    member = alone.arms[0].mem.member & coalition.arms[0].mem.member
    extra = coalition.arms[0].mem.points[member] - alone.arms[0].mem.points[member]
    assert_positive(extra, "extra points from partners")
    assert scheme_total(coalition, "partner_revenue") > 0 == scheme_total(alone, "partner_revenue")


def test_auto_redemption_converts_every_balance_at_its_goal_and_manual_leaves_some():
    for mode, rate in (("auto", 0.25), ("manual", 0.05)):
        model, _, _ = make({**NO_FEEDBACK, "scheme.points.redemption": {"mode": mode, "manual_rate_per_visit": rate}})
        arm = model.arms[0]
        held = 0
        for _ in range(model.spec.days):
            model.step()
            mem = arm.mem
            held += np.count_nonzero(mem.member & (mem.points >= arm.rules.reward_points[mem.goal]))
        redeemed = scheme_total(model, "rewards_redeemed")
        assert redeemed > 100, mode
        if mode == "auto":
            assert held == 0
        else:  # by hand, at the till, by chance: balances wait above the goal
            assert held > 4 * np.sqrt(redeemed)


def test_redemption_friction_holds_back_time_poor_experience_minded_members():
    over = {**NO_FEEDBACK, **ALL_MEMBERS, "scheme.enrolment.friction_per_visit": 0.0,
            "scheme.points.rewards": [{"name": "v", "kind": "voucher", "points": 60, "face_value": 0.6}],
            "scheme.points.redemption": {"mode": "manual", "manual_rate_per_visit": 0.5}}
    seg = lambda tp: {"time_poor_share": tp, **motive(experience=0.9)}  # noqa: E731
    relaxed, tr, _ = run({**over, **two_segments(seg(0.0), seg(0.0))}, days=180)
    rushed, tp, _ = run({**over, **two_segments(seg(1.0), seg(1.0))}, days=180)
    # Same customers, same draws; only how they feel the effort of redeeming differs.
    assert_positive(tr.count["effort_cost"] - tp.count["effort_cost"], "redemptions lost to friction")


def test_members_work_toward_the_reward_their_motivations_favour():
    rewards = [{"name": "voucher", "kind": "voucher", "points": 150, "face_value": 1.5},
               {"name": "day_out", "kind": "experience", "points": 600, "face_value": 5, "perceived_ratio": 1.8}]
    over = {**ALL_MEMBERS, "scheme.points.rewards": rewards,
            **two_segments(motive(belonging=0.9, experience=0.9, outcome=0.1),
                           motive(belonging=0.1, experience=0.1, outcome=0.9))}
    model, _, _ = make(over, days=1)
    model.step()
    seg, goal = model.population.segment, model.arms[0].mem.goal
    assert_greater((goal[seg == 0] == 1).astype(float), (goal[seg == 1] == 1).astype(float),
                   "experience chosen by belonging/experience-minded vs outcome-minded")


# ---------------------------------------------------------------- expiry

def test_age_expiry_takes_old_points():
    over = {**UNREACHABLE, **NO_FEEDBACK}
    keep, _, _ = run(over)
    expire, _, _ = run({**over, "scheme.expiry": {"age_days": 36}})
    member = keep.arms[0].mem.member & expire.arms[0].mem.member
    assert_positive(keep.arms[0].mem.points[member] - expire.arms[0].mem.points[member], "points lost to age")
    assert scheme_total(expire, "points_expired") > 0


def test_inactivity_expiry_empties_idle_balances():
    model, _, _ = make({**UNREACHABLE, **NO_FEEDBACK, "scheme.expiry": {"inactivity_days": 20}})
    mem, idle = model.arms[0].mem, 0
    for _ in range(model.spec.days):
        model.step()
        idle += np.count_nonzero((mem.points > 0) & (model.day - 1 - mem.last_earn >= 20))
    assert idle == 0
    assert scheme_total(model, "points_expired") > 0


# ---------------------------------------------------------------- stamps

STAMPS = {"scheme": {"stamps": {"required": 12, "prefilled": 2, "reward": {
    "name": "coffee", "kind": "free_product", "points": 12, "face_value": 3}},
    "enrolment": {"join_rate_per_visit": 0.3, "leave_rate_per_year": 0.0}}}


def test_a_stamp_card_rewards_every_card_filled_and_prefilled_stamps_shorten_the_first():
    model, tally, _ = run(STAMPS, lean=False, transactions=True, days=150)
    t = model.transactions.frame()
    t = t[t.linked].sort_values(["customer_id", "day"], kind="stable")
    rewards = tally.count["rewards_redeemed"]
    linked = t.groupby("customer_id").size().reindex(np.arange(model.population.n), fill_value=0).to_numpy()
    assert rewards.sum() > 200
    # A card starts with 2 stamps: every 10 linked purchases fill it.
    assert abs(rewards.sum() / (linked // 10).sum() - 1) < 0.05
    # The first linked purchase finds the card already 2/12 full.
    first = t.groupby("customer_id").reward_progress.first()
    assert np.allclose(first, 2 / 12)


def test_a_top_up_visit_earns_its_own_stamp_and_costs_its_own_card_effort():
    top_ups = {"population.segments": [{**seg, "same_day_baskets": {"share": 0.4, "more": 0.3}}
                                       for seg in scenario().model_dump()["population"]["segments"]]}
    model, tally, _ = run({**STAMPS, **top_ups}, lean=False, transactions=True, days=150)
    t = model.transactions.frame()
    t = t[t.linked]
    assert (t.baskets >= 2).mean() > 0.3
    # Every card fills after 10 linked baskets (each trip's value split over its baskets, all above the
    # card's minimum here): a trip with a top-up visit counts twice.
    assert (t.amount / t.baskets).min() >= STAMPS["scheme"]["stamps"].get("min_spend", 0.0)
    baskets = t.groupby("customer_id").baskets.sum().reindex(np.arange(model.population.n), fill_value=0).to_numpy()
    rewards = tally.count["rewards_redeemed"]
    assert abs(rewards.sum() / (baskets // 10).sum() - 1) < 0.05
    trips_only = (t.groupby("customer_id").size().reindex(np.arange(model.population.n), fill_value=0) // 10).sum()
    assert rewards.sum() > 1.2 * trips_only
    # Card effort is per visit. Over the first six days (before satisfaction first feeds back) the same
    # cards are presented with and without top-ups, so effort grows by the linked trips' mean baskets
    # (a trip's visits are drawn apart from what its effort depends on).
    days6 = {"days": 6, "lean": False, "transactions": True}
    on, _, _ = run({**STAMPS, **top_ups}, **days6)
    off, _, _ = run(STAMPS, **days6)
    t6 = on.transactions.frame()
    linked = t6[t6.linked]
    ratio = scheme_total(on, "effort_cost") / scheme_total(off, "effort_cost")
    b = linked.baskets.to_numpy(float)
    assert abs(ratio - b.mean()) < Z * b.std() / np.sqrt(b.size) + 0.01


# ---------------------------------------------------------------- tiers

TIERS = {"window_days": 30, "levels": [
    {"name": "blue", "threshold": 0},
    {"name": "silver", "threshold": 60, "earn_multiplier": 1.5, "status_value_per_day": 0.02},
    {"name": "gold", "threshold": 180, "earn_multiplier": 2.0, "status_value_per_day": 0.05}]}


def test_members_qualify_for_tiers_on_linked_spend():
    model, tally, _ = run({**NO_FEEDBACK, **ALL_MEMBERS, "scheme.tiers": TIERS}, days=30)
    mem = model.arms[0].mem
    spend = tally.total["linked_sales"]
    up = mem.member & (mem.tier > 0)
    assert up.sum() > 100
    assert_greater(spend[up], spend[mem.member & (mem.tier == 0)], "linked spend of upgraded vs base tier")


@pytest.mark.parametrize("mode", ["to_qualified", "one_level", "never"])
def test_a_review_downgrades_members_who_stopped_qualifying_by_the_rule(mode):
    # Cards stop being presented on day 20: the window ending on day 30 still holds qualifying spend,
    # the one ending on day 60 none.
    over = {**NO_FEEDBACK, **ALL_MEMBERS, "scheme.tiers": {**TIERS, "downgrade": mode},
            "changes": [{"day": 20, "set": {"scheme.enrolment.card_presentation": 0.0}}]}
    model, _, _ = make(over, days=61)
    mem = model.arms[0].mem
    for _ in range(60):
        model.step()
    before, member = mem.tier.copy(), mem.member.copy()
    assert (before[member] > 0).sum() > 100  # the day-30 review kept them
    model.step()  # day 60: the review
    stay = member & mem.member
    expect = {"to_qualified": np.zeros_like(before), "one_level": np.maximum(before - 1, 0), "never": before}[mode]
    np.testing.assert_array_equal(mem.tier[stay], expect[stay])


def test_status_pulls_belonging_motivated_members():
    over = {**NO_FEEDBACK, **NO_GOAL_GRADIENT, **ALL_MEMBERS, "scheme.tiers": TIERS,
            **two_segments(motive(belonging=0.9), motive(belonging=0.1))}
    flat, _, _ = run({**over, "behaviour.status_weight": 0.0})
    status, _, _ = run({**over, "behaviour.status_weight": 2.0})
    gain = status.arms[0].shop.visits - flat.arms[0].shop.visits
    seg = flat.population.segment
    assert_greater(gain[seg == 0], gain[seg == 1], "visits gained from status, belonging-minded vs not")
    assert_positive(gain[seg == 0], "visits gained from status by the belonging-minded")


def test_tier_perks_cost_the_business_and_nothing_else():
    over = {**NO_FEEDBACK, **ALL_MEMBERS}
    costly = {**TIERS, "levels": [dict(t, perk_cost_per_day=0.1 * k) for k, t in enumerate(TIERS["levels"])]}
    free, _, _ = run({**over, "scheme.tiers": TIERS})
    perks, _, _ = run({**over, "scheme.tiers": costly})
    np.testing.assert_array_equal(free.arms[0].shop.visits, perks.arms[0].shop.visits)
    assert scheme_total(perks, "operating_cost") > scheme_total(free, "operating_cost") + 1.0


# ---------------------------------------------------------------- member pricing

MEMBER_PRICES = {"scheme.member_pricing": {"share_of_range": 0.3, "discount": 0.2}}


def test_member_prices_take_money_off_linked_baskets():
    model, tally, _ = run({**MEMBER_PRICES, **ALL_MEMBERS})
    linked = tally.total["linked_sales"] > 0
    assert_positive(tally.total["member_savings"][linked] / tally.total["linked_sales"][linked],
                    "member savings per linked unit")
    assert scheme_total(model, "revenue") < scheme_total(model, "sales")


def test_member_prices_pull_outcome_minded_members_and_bring_out_the_card():
    # A free product, not vouchers: vouchers held pull outcome-minded members by themselves.
    over = {**NO_FEEDBACK, **NO_GOAL_GRADIENT, **ALL_MEMBERS, **FREE_PRODUCT, "scheme.enrolment.card_presentation": 0.6,
            **two_segments(motive(outcome=0.9), motive(outcome=0.1))}
    plain, _, pt = run(over)
    priced, _, mt = run({**over, **MEMBER_PRICES})
    gain = priced.arms[0].shop.visits - plain.arms[0].shop.visits
    seg = plain.population.segment
    assert_greater(gain[seg == 0], gain[seg == 1], "visits gained from member prices, outcome-minded vs not")
    shopped = (pt.member_visits > 5) & (mt.member_visits > 5)
    assert_positive(mt.linked[shopped] / mt.member_visits[shopped] - pt.linked[shopped] / pt.member_visits[shopped],
                    "share of member trips with the card shown")


# ---------------------------------------------------------------- offers

EVEN_MIX = {"categories": [0.15, 0.15, 0.14, 0.14, 0.14, 0.14, 0.14], "category_precision": 3.0}
OFFERS = {"scheme.offers": {"every_days": 14, "discount": 0.2, "base_redemption": 0.02, "max_redemption": 0.6}}


def test_offers_target_what_the_business_believes_each_member_buys():
    model, _, _ = run({**NO_FEEDBACK, **ALL_MEMBERS, **OFFERS, **two_segments(EVEN_MIX, EVEN_MIX)}, days=113)
    mem, pop = model.arms[0].mem, model.population
    sent = np.flatnonzero(mem.member & (mem.offer_until >= model.day - 1))
    top = pop.categories[sent].argmax(axis=1)
    hit = (mem.offer_cat[sent] == top).astype(float)
    # Against aiming every offer at the most common favourite category.
    common = (top == np.bincount(top).argmax()).astype(float)
    assert_greater(hit, common, "offers on the member's favourite category vs one category for all")


def test_offer_redemption_grows_as_the_business_learns():
    model, _, _ = run({**NO_FEEDBACK, **ALL_MEMBERS, **OFFERS}, days=126)
    d = model.daily()
    s = d[(d.arm == "scheme") & (d.segment == "all")].set_index("day")
    rates = []
    for first, last in ((0, 13), (112, 125)):
        used, sent = s.loc[first:last, "offers_redeemed"].sum(), s.loc[first, "offers_sent"]
        rates.append((used / sent, np.sqrt(used) / sent))
    (early, se_early), (late, se_late) = rates
    assert late - early > Z * np.hypot(se_early, se_late), (early, late)


def test_a_live_offer_pulls_members_to_shop_by_the_saving_it_promises():
    # The saving a member anticipates from a live offer: the same offers, told to cover a sliver of a
    # basket or all of it (what they take off at the till is the same either way).
    over = {**NO_FEEDBACK, **NO_GOAL_GRADIENT, **ALL_MEMBERS, **OFFERS}
    none, _, _ = run({**over, "scheme.offers.expected_basket_share": 0.001})
    pulled, _, _ = run({**over, "scheme.offers.expected_basket_share": 1.0})
    assert_positive(pulled.arms[0].shop.visits - none.arms[0].shop.visits, "visits gained from offers' promised saving")


def test_an_offer_that_will_never_be_used_does_not_pull():
    # A member anticipates a live offer's saving times the chance it is used on the trip: offers nobody
    # redeems (redemption 0 however well they fit) leave every trip as it is without offers.
    over = {**NO_FEEDBACK, **NO_GOAL_GRADIENT, **ALL_MEMBERS}
    plain, _, _ = run(over)
    unused, _, _ = run({**over, "scheme.offers": {"every_days": 14, "discount": 0.2, "base_redemption": 0.0,
                                                  "max_redemption": 0.0, "expected_basket_share": 1.0}})
    assert np.array_equal(unused.arms[0].shop.visits, plain.arms[0].shop.visits)
    # The same offers, used when they fit: members come more often.
    used, _, _ = run({**over, **OFFERS, "scheme.offers.expected_basket_share": 1.0})
    assert_positive(used.arms[0].shop.visits - plain.arms[0].shop.visits, "visits gained from usable offers")


# ---------------------------------------------------------------- paid membership

def test_members_pay_the_fee_on_joining_and_at_each_renewal():
    model, tally, _ = run({**NO_FEEDBACK, "scheme.membership": {"fee": 2.0, "period_days": 30}}, days=100)
    mem, last = model.arms[0].mem, model.day - 1
    paid = defaultdict(list)
    for day, idx in tally.days["fees_paid"]:
        for i in idx:
            paid[i].append(day)
    members = np.flatnonzero(mem.member)
    assert members.size > 100
    for i in members:
        j = mem.join_day[i]
        assert paid[i] == list(range(j, last + 1, 30)), (i, j, paid[i])


def test_membership_perks_are_worth_more_to_experience_minded_members():
    over = {**ALL_MEMBERS, "scheme.membership": {"fee": 1.0, "convenience_value_per_day": 0.05},
            **two_segments(motive(experience=0.9), motive(experience=0.1))}
    model, tally, _ = run(over, days=30)
    per_day = tally.total["convenience_value"] / np.maximum(tally.count["convenience_value"], 1)
    seg, got = model.population.segment, tally.count["convenience_value"] > 0
    assert_greater(per_day[got & (seg == 0)], per_day[got & (seg == 1)], "convenience value per member-day")


# ---------------------------------------------------------------- data collection

def test_members_consent_to_required_data_and_the_privacy_minded_to_less_optional_data():
    over = {**ALL_MEMBERS, "scheme.data": {"requested": ["transactions", "demographics", "app", "third_party"],
                                           "required": ["transactions"]},
            **two_segments(motive(privacy_concern=0.9), motive(privacy_concern=0.1))}
    model, _, _ = make(over, days=1)
    model.step()
    mem, seg = model.arms[0].mem, model.population.segment
    consent, seg = mem.consent[mem.member], seg[mem.member]
    assert consent.size > 2000 and (consent & CONSENT_BIT["transactions"]).all()
    for source in ("demographics", "app", "third_party"):
        agree = (consent & CONSENT_BIT[source]) > 0
        assert_greater(agree[seg == 1].astype(float), agree[seg == 0].astype(float), f"consent to {source}")


def test_shared_data_costs_the_privacy_minded_more():
    every = ["transactions", "demographics", "app", "third_party"]
    over = {**ALL_MEMBERS, "scheme.data": {"requested": every, "required": every},
            **two_segments(motive(privacy_concern=0.9), motive(privacy_concern=0.1))}
    model, _, _ = run(over, days=30)
    d = model.daily()
    s = d[d.arm == "scheme"].groupby("segment")[["privacy_cost", "members"]].sum()
    concerned, relaxed = (s.privacy_cost / s.members)[["a", "b"]]
    # Everyone shares the same data; concern differs ninefold between the segments.
    assert relaxed > 0 and concerned > 4 * relaxed


# ---------------------------------------------------------------- motivations and choice

def test_richer_rewards_draw_reward_seekers_to_shop_more():
    over = {**NO_FEEDBACK, **NO_GOAL_GRADIENT, **ALL_MEMBERS, **FREE_PRODUCT,
            **two_segments(motive(reward_seeking=0.9), motive(reward_seeking=0.1))}
    lean, _, _ = run(over)
    rich, _, _ = run({**over, "scheme.points.earn_per_unit": 4.0})
    gain = rich.arms[0].shop.visits - lean.arms[0].shop.visits
    seg = lean.population.segment
    assert_positive(gain[seg == 0], "visits gained from a richer earn rate by reward seekers")
    assert_greater(gain[seg == 0], gain[seg == 1], "visits gained, reward seekers vs not")


def test_a_reward_close_at_hand_pulls_members_to_shop_here():
    over = {**NO_FEEDBACK, **ALL_MEMBERS, **FREE_PRODUCT, "scheme.goal_gradient.acceleration": 0.0}
    none, _, _ = run({**over, "scheme.goal_gradient.strength": 0.0})
    pull, _, _ = run({**over, "scheme.goal_gradient.strength": 2.0})
    assert_positive(pull.arms[0].shop.visits - none.arms[0].shop.visits, "visits gained from goal-gradient pull")


def test_a_reward_close_at_hand_makes_members_shop_sooner():
    over = {**NO_FEEDBACK, **ALL_MEMBERS, **FREE_PRODUCT, "scheme.goal_gradient.strength": 0.0}
    none, _, _ = run({**over, "scheme.goal_gradient.acceleration": 0.0})
    fast, _, _ = run({**over, "scheme.goal_gradient.acceleration": 1.0})
    assert_positive(fast.arms[0].shop.needs - none.arms[0].shop.needs, "needs added by acceleration")


def test_a_worthless_scheme_recruits_fewer_than_a_valuable_one():
    over = {**NO_FEEDBACK, **FREE_PRODUCT}
    poor, _, _ = run({**over, "scheme.points.earn_per_unit": 0.001})
    rich, _, _ = run({**over, "scheme.points.earn_per_unit": 5.0})
    # Non-members behave alike in both runs, so the same customers meet the same join draws.
    assert_positive(rich.arms[0].mem.ever_joined.astype(float) - poor.arms[0].mem.ever_joined,
                    "joins gained from a valuable scheme")


def _join_rate_per_visit(fee: float):
    """Joins per non-member visit of the heaviest and the lightest third of buyers, with Poisson errors,
    for a scheme charging ``fee`` a month."""
    # Everyone aware at once; the deal moves joining gently (a fee of 5 a month is a large share of a light
    # buyer's spend and a small one of a heavy buyer's), so both groups keep joiners to count.
    membership = {"fee": fee, "period_days": 30} if fee else None
    model, _, trips = run({**NO_FEEDBACK, "scheme.membership": membership,
                           "scheme.enrolment.value_sensitivity": 0.3,
                           "scheme.enrolment.join_rate_per_visit": 0.1, "scheme.enrolment.join_threshold": 0.0,
                           "scheme.enrolment.awareness_per_visit": 1.0}, customers=6000, days=90)
    rate = model.population.need_rate
    joined = model.arms[0].mem.ever_joined
    visits = trips.visits["scheme"] - trips.member_visits  # visits as a non-member (the joining visit included)
    out = []
    for group in (rate >= np.quantile(rate, 2 / 3), rate <= np.quantile(rate, 1 / 3)):
        j, v = joined[group].sum(), visits[group].sum()
        out.append((j / v, np.sqrt(j) / v))
    return out


def test_a_fee_deters_light_buyers_more_because_the_deal_is_judged_against_spend():
    (heavy, se_h), (light, se_l) = _join_rate_per_visit(5.0)
    (heavy0, se_h0), (light0, se_l0) = _join_rate_per_visit(0.0)
    # Without a fee the deal is the same share of spend for all, and a visit is a visit; a fixed fee is a
    # bigger share of a light buyer's spend, so heavy buyers' visits recruit more.
    ratio, ratio0 = heavy / light, heavy0 / light0
    se = ratio * np.hypot(se_h / heavy, se_l / light)
    se0 = ratio0 * np.hypot(se_h0 / heavy0, se_l0 / light0)
    assert ratio - ratio0 > Z * np.hypot(se, se0), (ratio, se, ratio0, se0)


def test_frequent_shoppers_join_sooner_because_every_visit_is_a_chance():
    # Joining is worth it to everyone (no threshold, a generous card); only visits differ.
    model, _, _ = run({**NO_FEEDBACK, "scheme.enrolment.join_rate_per_visit": 0.05,
                       "scheme.enrolment.join_threshold": 0.0, "scheme.enrolment.awareness_per_visit": 1.0,
                       "scheme.points.earn_per_unit": 5.0}, customers=6000, days=60)
    rate = model.population.need_rate
    joined = model.arms[0].mem.ever_joined
    heavy, light = rate >= np.quantile(rate, 2 / 3), rate <= np.quantile(rate, 1 / 3)
    ph, pl = joined[heavy].mean(), joined[light].mean()
    se = np.hypot(np.sqrt(ph * (1 - ph) / heavy.sum()), np.sqrt(pl * (1 - pl) / light.sum()))
    assert ph - pl > Z * se, (ph, pl, se)


def test_satisfaction_follows_value_and_the_dissatisfied_leave():
    # Nobody leaves the retailer, so every member who goes has left the scheme itself.
    over = {**ALL_MEMBERS, **FREE_PRODUCT, "scheme.enrolment.leave_rate_per_year": 0.9,
            "scheme.enrolment.referral_rate_per_year": 0.0,
            **two_segments({"defection_per_year": 0.0}, {"defection_per_year": 0.0})}
    generous, gt, _ = run({**over, "scheme.points.earn_per_unit": 5.0}, days=90)
    costly, ct, _ = run({**over, "scheme.membership": {"fee": 3.0, "period_days": 30}}, days=90)
    stay = generous.arms[0].mem.member & costly.arms[0].mem.member
    assert_positive(generous.arms[0].mem.satisfaction[stay] - costly.arms[0].mem.satisfaction[stay],
                    "satisfaction, generous vs costly scheme")
    assert_positive(ct.count["leaves"] - gt.count["leaves"], "members leaving, costly vs generous scheme")


def test_satisfied_members_refer_others_who_join():
    over = {"scheme.enrolment.initial_members": 0.5, "scheme.enrolment.join_rate_per_visit": 0.0,
            "scheme.enrolment.referral_conversion": 0.5}
    model, tally, _ = run({**over, "scheme.enrolment.referral_rate_per_year": 5.0})
    quiet, quiet_tally, _ = run({**over, "scheme.enrolment.referral_rate_per_year": 0.0})
    joins = tally.count["joins"].sum()
    assert quiet_tally.count["joins"].sum() == 0 and joins > Z ** 2  # a Poisson count above 4 of its se


def test_members_the_scheme_serves_better_than_they_expect_defect_less_and_worse_more():
    over = {**ALL_MEMBERS, **FREE_PRODUCT, "scheme.enrolment.leave_rate_per_year": 0.0,
            "scheme.enrolment.dormancy_per_year": 0.0,
            **two_segments({"defection_per_year": 0.6}, {"defection_per_year": 0.6})}
    same, _, _ = run(over, days=180)
    # From day 30 the scheme gives five times as much, or a fifth: above and below what members expect.
    richer, _, _ = run({**over, "changes": [{"day": 30, "set": {"scheme.points.earn_per_unit": 5.0}}]}, days=180)
    poorer, _, _ = run({**over, "changes": [{"day": 30, "set": {"scheme.points.earn_per_unit": 0.2}}]}, days=180)
    gone = lambda m: (~m.arms[0].shop.alive).astype(float)  # noqa: E731  (the same draws: defection alone differs)
    assert_positive(gone(same) - gone(richer), "defections avoided by a scheme better than expected")
    assert_positive(gone(poorer) - gone(same), "defections added by a scheme worse than expected")


def test_habit_keeps_customers_here():
    weak, _, _ = run({"behaviour.habit_weight": 0.0})
    strong, _, _ = run({"behaviour.habit_weight": 2.0})
    share = lambda m: m.arms[1].shop.visits / np.maximum(m.arms[1].shop.needs, 1)  # noqa: E731
    assert_positive(share(strong) - share(weak), "share of needs brought here with habit")


def test_habit_follows_where_needs_go():
    model, _, _ = run({**ALL_MEMBERS, **FREE_PRODUCT, "scheme.points.earn_per_unit": 5.0})
    scheme, counterfactual = model.arms
    assert_positive(scheme.shop.habit - counterfactual.shop.habit, "habit built by the scheme's extra trips")


# ---------------------------------------------------------------- joining, reference points, dormancy

WORTHLESS = {**NO_FEEDBACK, **FREE_PRODUCT, "scheme.points.earn_per_unit": 1e-6,
             "scheme.enrolment.awareness_per_visit": 1.0}
"""A scheme whose points buy nothing worth having, which every shopper hears of on a first visit."""


def test_a_scheme_worth_nothing_recruits_almost_nobody():
    model, _, trips = run(WORTHLESS, customers=6000)
    shoppers = trips.visits["scheme"] > 0
    joined = model.arms[0].mem.ever_joined[shoppers]
    en = model.spec.scheme.enrolment
    # Only a taste for schemes that clears the threshold by itself joins (the expected value is below zero):
    # at most sigmoid(-threshold) of those aware, give or take the sample's binomial error.
    bound = 1.0 / (1.0 + np.exp(en.join_threshold))
    share, n = joined.mean(), joined.size
    assert share < bound + Z * np.sqrt(bound * (1 - bound) / n), (share, bound, n)
    assert model.arms[0].mem.aware[shoppers].all()


def test_nobody_joins_a_scheme_they_have_not_heard_of():
    unheard = {**NO_FEEDBACK, "scheme.enrolment.awareness_per_visit": 0.0, "scheme.enrolment.awareness_per_year": 0.0}
    model, tally, _ = run(unheard)
    assert not model.arms[0].mem.ever_joined.any() and not model.arms[0].mem.aware.any()
    # Marketing alone makes customers aware, shoppers or not, at its yearly rate.
    model, _, trips = run({**unheard, "scheme.enrolment.awareness_per_year": 0.5}, days=120)
    aware = model.arms[0].mem.aware
    expected = 1 - 0.5 ** (120 / 365)
    assert abs(aware.mean() - expected) < Z * np.sqrt(expected * (1 - expected) / aware.size), (aware.mean(), expected)
    assert model.arms[0].mem.ever_joined.any()


def _felt(overrides: dict, change: dict | None, days: int = 120, customers: int = 3000):
    """Every customer a member from day 0; ``change`` from day 60. Returns the model."""
    over = {**ALL_MEMBERS, **FREE_PRODUCT, **overrides}
    if change is not None:
        over["changes"] = [{"day": 60, "set": change}]
    model, _, _ = run(over, days=days, customers=customers)
    return model


def test_a_shortfall_below_the_reference_weighs_more_than_an_equal_gain():
    # The same cut and the same rise, felt by members weighing a shortfall once or three times: only the
    # cut is felt differently (a member already below the reference feels a rise a little differently).
    over = {**NO_FEEDBACK, "behaviour.reference_scale": 0.05}
    felt = {}
    for aversion in (1.0, 3.0):
        for name, earn in (("cut", 0.5), ("rise", 1.5)):
            model = _felt({**over, "behaviour.loss_aversion": aversion}, {"scheme.points.earn_per_unit": earn})
            felt[name, aversion] = model.arms[0].mem
    cut = (felt["cut", 1.0].recent - felt["cut", 3.0].recent).astype(float)
    rise = (felt["rise", 1.0].recent - felt["rise", 3.0].recent).astype(float)
    both = felt["cut", 1.0].active & felt["cut", 3.0].active & felt["rise", 1.0].active & felt["rise", 3.0].active
    assert_positive(cut[both], "a cut felt more with loss aversion")
    assert_positive(cut[both] - rise[both], "a cut's extra weight against a rise's")


def test_the_reference_adapts_to_what_the_scheme_gives():
    raised = {"scheme.points.earn_per_unit": 3.0}
    same = _felt(NO_FEEDBACK, None, days=240)
    later = _felt(NO_FEEDBACK, raised, days=240)
    keep = later.arms[0].mem.active & same.arms[0].mem.active
    assert_positive((later.arms[0].mem.reference - same.arms[0].mem.reference)[keep], "reference raised")
    # Four weeks after a raise, members whose reference adapts in a fortnight have taken most of it for
    # granted; members whose reference hardly moves still feel it.
    fast = _felt({**NO_FEEDBACK, "behaviour.reference_memory_days": 14}, raised, days=88)
    slow = _felt({**NO_FEEDBACK, "behaviour.reference_memory_days": 1e6}, raised, days=88)
    keep = fast.arms[0].mem.active & slow.arms[0].mem.active
    assert_positive((slow.arms[0].mem.recent - fast.arms[0].mem.recent)[keep], "a raise felt less once expected")


def test_a_devaluation_lowers_satisfaction_and_raises_dormancy_and_leaving():
    over = {"scheme.enrolment.leave_rate_per_year": 0.9, "scheme.enrolment.dormancy_per_year": 0.9,
            "scheme.enrolment.referral_rate_per_year": 0.0,
            **two_segments({"defection_per_year": 0.0}, {"defection_per_year": 0.0})}
    same = _felt(over, None, days=150, customers=4000)
    cut = _felt(over, {"scheme.points.earn_per_unit": 1 / 3}, days=150, customers=4000)
    a, b = same.arms[0], cut.arms[0]
    both = a.mem.member & b.mem.member
    assert_positive((a.mem.satisfaction - b.mem.satisfaction)[both], "satisfaction lost to the devaluation")
    left = lambda m: (m.arms[0].mem.ever_joined & ~m.arms[0].mem.member).astype(float)  # noqa: E731
    assert_positive(left(cut) - left(same), "members lost to the devaluation")
    dormant = lambda m: m.arms[0].mem.dormant.astype(float)  # noqa: E731
    assert_positive(dormant(cut) - dormant(same), "members gone dormant after the devaluation")
    d = lambda m: m.daily().query("arm == 'scheme' and segment == 'all' and day >= 60")  # noqa: E731
    assert d(cut)["value_below_reference"].sum() > 2 * d(same)["value_below_reference"].sum() > 0


def test_a_scheme_worse_than_expected_drives_members_away_beyond_its_lower_value():
    over = {**NO_FEEDBACK, "scheme.enrolment.leave_rate_per_year": 0.0}
    cut = {"scheme.points.earn_per_unit": 1 / 3}
    felt = _felt({**over, "behaviour.reference_weight": 2.0}, cut)
    unfelt = _felt({**over, "behaviour.reference_weight": 0.0}, cut)
    assert_positive(unfelt.arms[0].shop.visits - felt.arms[0].shop.visits, "visits lost to disappointment")


def test_dormant_members_stop_presenting_the_card_and_come_back():
    over = {**ALL_MEMBERS, **UNREACHABLE, "scheme.enrolment.dormancy_per_year": 0.5,
            "scheme.enrolment.reactivation_per_year": 0.0, "scheme.enrolment.leave_rate_per_year": 0.0,
            "scheme.data.consent_withdrawal_per_year": 0.0}
    model, tally, _ = make(over, days=150)
    for _ in range(100):
        model.step()
    mem = model.arms[0].mem
    dormant, points = mem.dormant.copy(), mem.points.copy()
    assert dormant.sum() > 100 and (mem.active == (mem.member & ~mem.dormant)).all()
    for _ in range(50):
        model.step()
    # No reward is reachable, so a balance grows only by presenting the card: dormant ones never do (a
    # customer who left the retailer forfeited theirs).
    still = dormant & mem.member
    assert still.sum() > 100 and (mem.points[still] == points[still]).all()
    assert mem.active.sum() > 100 and (mem.points[mem.active] > points[mem.active]).mean() > 0.5
    back = _felt({"scheme.enrolment.dormancy_per_year": 1.0, "scheme.enrolment.reactivation_per_year": 1.0,
                  "scheme.enrolment.leave_rate_per_year": 0.0}, None, days=200)
    gone = _felt({"scheme.enrolment.dormancy_per_year": 1.0, "scheme.enrolment.reactivation_per_year": 0.0,
                  "scheme.enrolment.leave_rate_per_year": 0.0}, None, days=200)
    assert_positive(gone.arms[0].mem.dormant.astype(float) - back.arms[0].mem.dormant, "dormant members back")


def test_a_reward_in_hand_draws_reward_seekers_back():
    over = {**NO_FEEDBACK, **NO_GOAL_GRADIENT, **ALL_MEMBERS,
            "scheme.points.rewards": [{"name": "v", "kind": "voucher", "points": 30, "face_value": 10}],
            "scheme.points.redemption": {"mode": "auto"}}
    none, _, _ = run({**over, "behaviour.rewarded_weight": 0.0})
    drawn, _, _ = run({**over, "behaviour.rewarded_weight": 3.0})
    assert_positive(drawn.arms[0].shop.visits - none.arms[0].shop.visits, "visits drawn by vouchers in hand")


def test_points_count_as_value_when_earned_not_when_redeemed():
    # A reward no member reaches, at the usual worth per point: members still feel the points' worth as
    # they collect them, so the scheme meets what they expected on joining (felt value near zero), not a
    # steady shortfall.
    far = {"scheme.points.rewards": [{"name": "far", "kind": "voucher", "points": 1e7, "face_value": 1e5}]}
    model = _felt({**NO_FEEDBACK, **far}, None, days=90)
    mem = model.arms[0].mem
    recent = mem.recent[mem.active].astype(float)
    assert recent.size > 1000 and abs(recent.mean()) < 0.25, recent.mean()


def test_choice_surplus_counts_what_the_scheme_is_worth_in_store_choice_and_its_friction():
    # Welfare, not transfers: the logit log-sum gain from the scheme's terms, in money.
    def surplus(over):
        model, _, _ = run({**NO_FEEDBACK, **ALL_MEMBERS, **over}, days=60)
        return scheme_total(model, "choice_surplus")
    friction = {**FREE_PRODUCT, "scheme.points.earn_per_unit": 1e-6, "scheme.enrolment.friction_per_visit": 2.0}
    assert surplus(friction) < 0 < surplus({**FREE_PRODUCT, "scheme.points.earn_per_unit": 5.0})
    # Members who like the store less gain less from the same terms: for most of their needs the scheme
    # would take them somewhere they like less (the log-sum's slope is the chance of shopping here).
    liked, _, _ = run({**NO_FEEDBACK, **ALL_MEMBERS, **FREE_PRODUCT,
                       **two_segments({"retailer_preference": {"mean": 2.0, "sd": 0.0}},
                                      {"retailer_preference": {"mean": -2.0, "sd": 0.0}})}, days=60)
    d = liked.daily().query("arm == 'scheme'").groupby("segment")["choice_surplus"].sum()
    assert d["a"] > 2 * d["b"] > 0


# ---------------------------------------------------------------- life events

def _life_event_run(kind: str, rate: float = 0.9, **segment):
    events = {**NO_EVENTS, kind: rate}
    seg = {"life_events": events, **segment}
    over = {**two_segments(seg, seg), "scheme.enrolment.join_rate_per_visit": 0.0}
    model, _, _ = make(over, days=240)
    before = synthesise(model.spec, 0)
    per_trip = []  # (day, customers, log value, drug/gm share, weekday) of counterfactual trips

    def observe(arm, day, weekday, trips):
        if arm == "counterfactual":
            per_trip.append((day, trips.idx.copy(), np.log(trips.value), trips.split[:, 4].copy(),
                             np.full(trips.idx.size, weekday)))

    model.trip_observers.append(observe)
    model.run()
    day, idx, logv, gm, wd = (np.concatenate(x) for x in zip(*[(np.full(i.size, d), i, v, g, w)
                                                                for d, i, v, g, w in per_trip]))
    event = model.population.last_event_day
    hit = (event >= 60) & (event <= 180)
    return model, before, hit, event, (day, idx, logv, gm, wd)


def _before_after(hit, event, trips, value):
    """Per customer with an event: mean of ``value`` over trips after it minus before it."""
    day, idx = trips[0], trips[1]
    n = event.size
    after = day > event[idx]
    sums = [np.bincount(idx[m], value[m], n) for m in (after, ~after)]
    counts = [np.bincount(idx[m], minlength=n) for m in (after, ~after)]
    ok = hit & (counts[0] >= 3) & (counts[1] >= 3)
    return sums[0][ok] / counts[0][ok] - sums[1][ok] / counts[1][ok], ok


def test_a_new_baby_moves_spend_toward_drug_and_general_merchandise():
    _, _, hit, event, trips = _life_event_run("new_baby")
    shift, _ = _before_after(hit, event, trips, trips[3])
    assert_positive(shift, "drug/GM share of the basket after a new baby")


def test_a_child_leaving_shrinks_baskets():
    _, _, hit, event, trips = _life_event_run("child_leaves", children_share=1.0,
                                              household_size=[0.0, 0.0, 0.4, 0.4, 0.2])
    shift, _ = _before_after(hit, event, trips, trips[2])
    assert_positive(-shift, "fall in log basket value after a child leaves")


def test_an_income_change_moves_baskets_its_way():
    model, _, hit, event, trips = _life_event_run("income_change")
    shift, ok = _before_after(hit, event, trips, trips[2])
    ev = model.population.events
    factor = np.ones(model.population.n)
    kind = ev.kind == LIFE_EVENTS.index("income_change")
    factor[ev.customer[kind]] = ev.factor[kind]
    up = factor[ok] > 1
    assert_greater(shift[up], shift[~up], "log basket change, income up vs down")


def test_a_move_changes_how_much_a_customer_shops_here():
    seg = {"retailer_preference": {"mean": 0.0, "sd": 1.5}}
    model, before, hit, event, trips = _life_event_run("move", **seg)
    day, idx = trips[0], trips[1]
    n = model.population.n
    after = day > event[idx]
    span_after = np.maximum(model.spec.days - 1 - event, 1)
    rate_after = np.bincount(idx[after], minlength=n) / span_after
    rate_before = np.bincount(idx[~after], minlength=n) / np.maximum(event + 1, 1)
    moved = hit
    change = (rate_after - rate_before)[moved]
    nearer = (model.population.preference - before.preference)[moved]  # the new store's pull, less the old's
    r = np.corrcoef(change, nearer)[0, 1] if nearer.std() > 0 else 0.0
    # Fisher z: the correlation's standard error is about 1 / sqrt(n - 3).
    assert moved.sum() > 100 and np.arctanh(r) > Z / np.sqrt(moved.sum() - 3), r


def test_retirement_moves_trips_to_weekdays():
    _, _, hit, event, trips = _life_event_run("retirement", rate=0.9)
    shift, _ = _before_after(hit, event, trips, (trips[4] < 5).astype(float))
    assert_positive(shift, "weekday share of trips after retiring")


# ---------------------------------------------------------------- insight

def _detection_trips():
    data = {"requested": ["transactions", "demographics", "app", "third_party"], "required": ["transactions"]}
    seg = {"life_events": {**NO_EVENTS, "move": 0.9}, **motive(privacy_concern=0.5)}
    model, _, _ = make({**ALL_MEMBERS, "scheme.data": data, **two_segments(seg, seg)}, days=200, transactions=True)
    model.run()
    mem, pop = model.arms[0].mem, model.population
    t = model.transactions.frame()
    t = t[t.linked]
    event, found = pop.last_event_day, mem.detected_day
    done = (event >= 0) & (found >= event) & mem.member
    cid = t.customer_id.to_numpy()
    inside = done[cid] & (t.day.to_numpy() >= event[cid]) & (t.day.to_numpy() <= found[cid])
    trips = np.bincount(cid[inside], minlength=pop.n).astype(float)
    app = (mem.consent & CONSENT_BIT["app"]) > 0
    demo = (mem.consent & CONSENT_BIT["demographics"]) > 0
    return trips, done, app, demo


def test_app_and_demographic_data_detect_life_events_in_fewer_trips():
    trips, done, app, demo = _detection_trips()
    # One draw decides consent and the app costs more privacy than demographics: app users gave both.
    plain, told, both = trips[done & ~app & ~demo], trips[done & demo & ~app], trips[done & demo & app]
    assert_greater(plain, told, "linked trips to detect a life event, card vs demographics")
    assert_greater(told, both, "linked trips to detect a life event, demographics vs demographics and app")


def test_the_business_learns_from_linked_data():
    model, _, _ = run({**ALL_MEMBERS})
    c = model.customers()
    member = c.member.to_numpy()
    truth = c[[f"share_{k}" for k in CATEGORIES]].to_numpy()[member]
    est = c[[f"est_share_{k}" for k in CATEGORIES]].to_numpy()[member]
    prior = model.priors.mix
    gain = np.abs(truth - prior).sum(axis=1) - np.abs(truth - est).sum(axis=1)
    assert_positive(gain, "category-mix error saved by learning")


def _prior_estimates(model: LoyaltyModel, who: np.ndarray) -> bool:
    c = model.customers()
    return bool(np.allclose(c.est_basket_log_mu.to_numpy()[who], model.priors.log_basket))


def test_withdrawing_consent_or_leaving_deletes_the_profile_and_a_required_consent_ends_membership():
    concerned = motive(privacy_concern=0.9)
    over = {"scheme.membership": {"fee": 3.0, "period_days": 30}, **two_segments(concerned, concerned),
            **ALL_MEMBERS}
    optional = {"scheme.data.required": [], "scheme.data.consent_withdrawal_per_year": 1.0,
                "scheme.enrolment.leave_rate_per_year": 0.0}
    model, _, _ = run({**over, **optional})
    mem = model.arms[0].mem
    withdrawn = mem.member & (mem.consent == 0)
    assert withdrawn.sum() > 30 and _prior_estimates(model, withdrawn)
    assert not _prior_estimates(model, mem.member & (mem.consent > 0))
    # The same withdrawals where the scheme requires the consent: every one ends a membership.
    model, tally, _ = run({**over, **optional, "scheme.data.required": ["transactions"]})
    mem = model.arms[0].mem
    assert not (mem.member & (mem.consent == 0)).any()
    left = mem.ever_joined & ~mem.member & model.arms[0].shop.alive
    assert left.sum() > 30 and tally.count["leaves"][left].min() >= 1
    model, _, _ = run({**over, "scheme.enrolment.leave_rate_per_year": 1.0})
    mem = model.arms[0].mem
    left = mem.ever_joined & ~mem.member & model.arms[0].shop.alive
    assert left.sum() > 30 and _prior_estimates(model, left)


def test_the_business_learns_nothing_from_members_who_did_not_consent():
    optional = {"scheme.data": {"requested": ["transactions"], "required": [],
                                "privacy_cost_per_year": {"transactions": 5.0}, "consent_withdrawal_per_year": 0.0}}
    model, tally, _ = run({**ALL_MEMBERS, **optional})
    mem = model.arms[0].mem
    declined = mem.member & (mem.consent == 0) & (tally.total["linked_sales"] > 0)
    assert declined.sum() > 100 and (mem.obs_trips[declined] == 0).all()
    assert _prior_estimates(model, declined)


# ---------------------------------------------------------------- the counterfactual

def test_the_counterfactual_is_the_same_customers_with_no_scheme():
    rich, _, rich_trips = run(lean=False)
    nobody, _, nobody_trips = run({"scheme.enrolment.join_rate_per_visit": 0.0, "scheme.costs.fixed_per_year": 0.0},
                                  lean=False)
    # A scheme nobody joins changes nothing: its arm is the no-scheme world, customer by customer...
    np.testing.assert_array_equal(nobody.arms[0].shop.visits, nobody.arms[1].shop.visits)
    np.testing.assert_array_equal(nobody.arms[0].shop.spend, nobody.arms[1].shop.spend)
    # ... and every scheme's counterfactual is that world too, whatever the scheme did.
    for arm in (0, 1):
        np.testing.assert_array_equal(rich.arms[1].shop.visits, nobody.arms[arm].shop.visits)
    d = rich.daily()
    cf = d[(d.arm == "counterfactual") & (d.segment == "all")]
    assert cf.visits.sum() == rich_trips.visits["counterfactual"].sum() == rich.arms[1].shop.visits.sum()
    assert not np.array_equal(rich.arms[0].shop.visits, rich.arms[1].shop.visits)
