"""The compiled kernels apply the same rules to the same draws as the numpy functions they replace."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import scenario, shipped

from loyaltysim.engine import behaviour
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.rng import DAILY_STREAMS, Streams, _generator

EVERY_KIND_OF_SCHEME = pytest.mark.parametrize(
    "make", [lambda: scenario(customers=3000, days=60),
             lambda: shipped("supermarket_points", {"customers": 3000, "days": 60}),
             lambda: shipped("coffee_stamps", {"customers": 3000, "days": 60})],
    ids=["every_mechanic", "supermarket", "stamps"])


@EVERY_KIND_OF_SCHEME
def test_a_compiled_day_of_shopping_matches_the_numpy_rules(make):
    m = LoyaltyModel(make())
    for _ in range(30):  # members with points, vouchers, offers, habits and defections by now
        m.step()
    draws = m.streams.day()
    first = None
    for arm in m.arms:
        slow = copy.deepcopy(arm.shop)
        need = behaviour.needs(m.population, slow, arm.mem, arm.rules, draws, m.weekday)
        idx = behaviour.choose_store(m.spec, m.population, slow, arm.mem, arm.rules, draws, need, m.day)
        value, split, own, band = behaviour.draw_baskets(m.population, draws, idx)
        assert idx.size > 100
        # Drawing every basket, and (second arm) copying those the first arm drew for the same customers.
        for drawn in (None, first) if first is not None else (None,):
            fast = copy.deepcopy(arm.shop)
            t = behaviour.shop(m.spec, m.population, fast, arm.mem, arm.rules, draws, m.day, m.weekday,
                               m.habit_alpha, drawn=drawn)
            if drawn is not None:
                assert np.intersect1d(t.idx, drawn.idx).size > 0.5 * t.idx.size
            np.testing.assert_array_equal(t.idx, idx)
            for got, want in ((t.value, value), (t.split, split), (t.own, own), (t.band, band),
                              (fast.habit, slow.habit), (fast.needs, slow.needs)):
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)
        first = t


@pytest.mark.parametrize("n", [1, 2, 7, 64, 1000, 1001, 4099])
def test_daily_draws_are_the_generators_float32_uniforms_day_after_day(n):
    streams = Streams(11, 0, n)
    gens = {name: _generator(11, 0, 1, i) for i, name in enumerate(DAILY_STREAMS)}
    for _ in range(3):  # an odd n leaves half a 64-bit output for the next day
        draws = streams.day()
        for name, gen in gens.items():
            want = gen.random(n, dtype=np.float32)
            np.testing.assert_array_equal(np.asarray(getattr(draws, name)), want)
            np.testing.assert_array_equal(getattr(draws, name)[::2], want[::2])


def test_compiled_insight_errors_match_the_numpy_estimator():
    from loyaltysim.engine import insight
    m = LoyaltyModel(scenario(customers=3000, days=60, overrides={"scheme.enrolment.initial_members": 0.8}))
    for _ in range(40):
        m.step()
    arm = m.arms[0]
    known = np.flatnonzero(arm.shop.alive & arm.mem.member & (arm.mem.obs_trips > 0))
    assert known.size > 500
    want = insight.errors(m.spec, m.population, arm, m.priors, known, m.day)
    got = insight.errors_compiled(m.spec, m.population, arm, m.priors, known, m.day)
    assert want.dtype == got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("known_share", [0.0, 0.6])
@pytest.mark.parametrize("in_blocks", [True, False], ids=["segment_blocks", "segments_mixed"])
def test_segment_sums_of_insight_errors_match_numpy(known_share, in_blocks):
    from loyaltysim.engine import kernels
    rng = np.random.default_rng(3)
    n, D = 5000, 7
    segment = rng.integers(0, 4, n)
    if in_blocks:
        segment = np.sort(segment)
    alive = rng.random(n) < 0.9
    known = alive & (rng.random(n) < known_share)
    base_err = rng.random((D, n), dtype=np.float32)
    known_err = rng.random((D, known.sum()), dtype=np.float32)
    e, b, base_sum = np.zeros((D, 4)), np.zeros((D, 4)), np.zeros(D, np.float32)
    count = kernels.insight_sums(alive, known, known_err, base_err, segment, e, b, base_sum)
    err = base_err.copy()
    err[:, known] = known_err
    assert count == alive.sum()
    for d in range(D):
        np.testing.assert_array_equal(b[d], np.bincount(segment[alive], base_err[d, alive], minlength=4))
        np.testing.assert_array_equal(e[d], np.bincount(segment[alive], err[d, alive], minlength=4))
    np.testing.assert_array_equal(base_sum, base_err[:, alive].sum(axis=1))


@pytest.mark.parametrize("in_blocks", [True, False], ids=["segment_blocks", "segments_mixed"])
def test_per_segment_sums_equal_one_running_sum_per_segment(in_blocks):
    """The kernels keep a segment's running sum in a register while customers stay in one segment; the
    sums must still be those of one running sum per segment, to the last bit, whatever order the segments
    come in."""
    from loyaltysim.engine import kernels
    rng = np.random.default_rng(11)
    n, S = 20_000, 5
    segment = rng.integers(0, S, n).astype(np.int8)
    if in_blocks:
        segment = np.sort(segment)
    idx = np.sort(rng.choice(n, 7_000, replace=False))
    amounts = (rng.lognormal(0, 3, idx.size)).astype(np.float32)  # wide range: rounding shows any reordering
    start = rng.random(S)
    sums = start.copy()
    kernels.segment_sums(segment, idx, amounts, sums)
    want = start.copy()
    for t, i in enumerate(idx):  # sequential, as ``sums[segment[i]] += amount`` would
        want[segment[i]] += np.float64(amounts[t])
    np.testing.assert_array_equal(sums, want)
    sums_one, counts = start.copy(), np.arange(S, dtype=np.int64)
    kernels.operating_costs(idx, segment, 0.1, sums_one, counts)
    want_one = start.copy()
    for i in idx:
        want_one[segment[i]] += 0.1
    np.testing.assert_array_equal(sums_one, want_one)
    np.testing.assert_array_equal(counts, np.arange(S) + np.bincount(segment[idx], minlength=S))


@EVERY_KIND_OF_SCHEME
def test_compiled_expected_value_of_joining_matches_the_numpy_rule(make):
    from loyaltysim.engine.mechanics import enrolment
    m = LoyaltyModel(make())
    for _ in range(20):  # habits and life events have moved customers apart by now
        m.step()
    arm = m.arms[0]
    nonmembers = np.flatnonzero(~arm.mem.member & arm.shop.alive)
    assert nonmembers.size > 100
    want = enrolment.expected_value(m.spec, m.population, arm, nonmembers)
    got = enrolment.expected_value_compiled(m.spec, m.population, arm, nonmembers)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_weekly_satisfaction_update_matches_the_numpy_formula():
    """enrolment.update_satisfaction runs in a kernel; the numpy statement of the same rule below must give
    the same moving averages, recent values and satisfaction, to the last bit."""
    from loyaltysim.engine import kernels
    from loyaltysim.engine.behaviour import sigmoid
    from loyaltysim.engine.mechanics import enrolment
    m = LoyaltyModel(scenario(customers=3000, days=40))
    for _ in range(20):
        m.step()
    arm, b = m.arms[0], m.spec.behaviour
    want = copy.deepcopy(arm.mem)
    idx = np.flatnonzero(want.member)
    assert idx.size > 100
    a = 1.0 - np.exp(-enrolment.SATISFACTION_EVERY_DAYS / b.satisfaction_memory_days)
    week = enrolment.SATISFACTION_EVERY_DAYS
    want.value_ema[idx] += a * (arm.net_value[idx] / week - want.value_ema[idx])
    want.spend_ema[idx] += a * (arm.spend_week[idx] / week - want.spend_ema[idx])
    kernels.refresh_recent_values(b.expected_value_share, idx, want.value_ema, want.spend_ema, want.recent)
    share = want.value_ema[idx] / np.maximum(want.spend_ema[idx], 0.05)
    expect = max(b.expected_value_share, 1e-4)
    want.satisfaction[idx] = sigmoid(2.0 * (share - expect) / expect).astype(np.float32)
    enrolment.update_satisfaction(m.spec, arm, enrolment.SATISFACTION_EVERY_DAYS - 1)
    for name in ("value_ema", "spend_ema", "recent", "satisfaction"):
        np.testing.assert_array_equal(getattr(arm.mem, name), getattr(want, name), err_msg=name)
    assert not arm.net_value.any() and not arm.spend_week.any()


@pytest.mark.parametrize("p_ref", [0.0, 3 / 2**24, 0.01, 0.37, 1.0])
def test_join_draws_match_the_rule_stated_in_numpy(p_ref):
    """Shoppers join at max(their till chance, the referral chance), everyone else alive and not a member at
    the referral chance; the kernel compares the uniform's bits with a threshold, which must be exact
    (3 / 2**24 is a chance that one uniform value equals)."""
    from loyaltysim.engine import kernels
    from loyaltysim.engine.rng import to_uniform
    rng = np.random.default_rng(5)
    n = 200_000
    alive, member = rng.random(n) < 0.97, rng.random(n) < 0.5
    bits = rng.integers(0, 2**32, n, dtype=np.uint32)
    bits[:4] = np.array([2, 3, 4, 0], np.uint32) << 8  # uniforms just below, at and above 3 / 2**24
    bits[4] = min(int(p_ref * 2**24), 2**24 - 1) << 8  # the largest uniform at or below the chance
    alive[:5], member[:5] = True, False
    shoppers = np.sort(rng.choice(np.arange(5, n), 30_000, replace=False))
    p_till = rng.random(shoppers.size) * 0.2
    out = np.empty(n, np.intp)
    k = kernels.join_draws(member, alive, shoppers, p_till, p_ref, bits, out)
    u = to_uniform(bits).astype(np.float64)
    chance = np.full(n, p_ref)
    chance[shoppers] = np.maximum(p_till, p_ref)
    want = np.flatnonzero(alive & ~member & (u < chance))
    np.testing.assert_array_equal(out[:k], want)
    if p_ref == 3 / 2**24:
        assert {0, 3} <= set(out[:k]) and not {1, 2} & set(out[:k])


@pytest.mark.parametrize("n", [1, 7, 8, 9, 100_003])
@pytest.mark.parametrize("scheme", [True, False])
def test_defection_is_the_rule_stated_in_numpy(n, scheme):
    """Alive customers leave when their uniform is below their rate, a member's scaled by
    exp(-weight * recent value); the kernel flags candidates eight at a time, so sizes that are not a
    whole number of eights and a leaver in the last place must come out as numpy selects them."""
    from loyaltysim.engine import kernels
    from loyaltysim.engine.rng import to_uniform
    rng = np.random.default_rng(11)
    alive, member = rng.random(n) < 0.95, rng.random(n) < 0.5
    recent = (2 * rng.random(n) - 1).astype(np.float32)
    rate = (0.05 * rng.random(n)).astype(np.float32)
    bits = rng.integers(0, 2**32, n, dtype=np.uint32)
    alive[-1], rate[-1], bits[-1] = True, np.float32(0.5), 0  # the last customer leaves
    weight = 0.8
    out, day_left, still = np.empty(n, np.intp), np.full(n, -1, np.int32), alive.copy()
    k = kernels.defect(7, weight, bits, still, rate, day_left, member if scheme else np.zeros(0, bool),
                       recent if scheme else np.zeros(0, np.float32), out)
    chance = rate.copy()
    if scheme:
        chance[member] = rate[member] * np.exp(-np.float32(weight) * recent[member])
    want = np.flatnonzero(alive & (to_uniform(bits) < chance))
    assert want.size >= 1 and want[-1] == n - 1
    np.testing.assert_array_equal(out[:k], want)
    np.testing.assert_array_equal(still, alive & ~np.isin(np.arange(n), want))
    np.testing.assert_array_equal(np.flatnonzero(day_left == 7), want)


@pytest.mark.parametrize("name, entries", [("supermarket_points", 151), ("coalition", 501 + 2001),
                                           ("coffee_stamps", 0)])
def test_progress_curve_holds_each_goals_power_of_progress_for_points_schemes_only(name, entries):
    from loyaltysim.engine.rules import compile_rules
    sc = shipped(name, {"customers": 100, "days": 5})
    rules = compile_rules(sc)
    curve, first = behaviour.progress_curve(rules, behaviour.kernel_constants(sc, rules))
    assert curve.size == first[-1] == entries
    curvature = np.float32(sc.scheme.goal_gradient.curvature)
    for g, need in enumerate(rules.reward_points if entries else []):
        points = np.arange(first[g + 1] - first[g])
        assert points[-1] == need  # every balance short of the goal, and the goal itself
        want = [np.float32(min(p / need, 1.0)) ** curvature for p in points]  # numpy's scalar float32 power
        np.testing.assert_array_equal(curve[first[g]:first[g + 1]], np.asarray(want, np.float32))


def _till_discounts_in_numpy(arm, pop, draws, idx, value, day):
    """The till's discounts as numpy states them (pricing.till_discounts before its offers became a kernel)."""
    from loyaltysim.engine.mechanics.pricing import member_prices
    from loyaltysim.engine.state import NO_DAY
    s, mem, led = arm.rules.scheme, arm.mem, arm.ledger
    off = member_prices(arm, idx, value)
    o = s.offers
    live = mem.offer_until[idx] >= day
    p = o.base_redemption + (o.max_redemption - o.base_redemption) * mem.acc_what[idx]
    used = live & (draws.offer[idx] < p)
    u = idx[used]
    share = pop.categories[u, mem.offer_cat[u]]
    saving = np.minimum(o.discount * value[used] * share, value[used] - off[used])
    mem.offer_until[u] = NO_DAY
    led.add("offer_discount", u, saving)
    led.add("offer_savings", u, saving)
    led.add("offers_redeemed", u, 1.0)
    arm.net_value[u] += saving
    off[used] += saving
    return off, used.sum()


@pytest.mark.parametrize("name", ["supermarket_points", "member_pricing"])
def test_compiled_offer_redemption_matches_the_numpy_rule(name):
    from loyaltysim.engine.mechanics import pricing
    m = LoyaltyModel(shipped(name, {"customers": 10000, "days": 40}))
    for _ in range(25):  # offers sent and accuracy learnt by now
        m.step()
    arm, pop = m.arms[0], m.population
    draws = m.streams.day()
    trips = behaviour.shop(m.spec, pop, copy.deepcopy(arm.shop), arm.mem, arm.rules, draws, m.day, m.weekday,
                           m.habit_alpha)
    card = trips.idx[arm.mem.member[trips.idx]]
    value = trips.value[arm.mem.member[trips.idx]]
    # Every other card holder's offer live today (the rest as they were), so that many are used.
    arm.mem.offer_until[card[::2]] = m.day
    slow = copy.deepcopy(arm)
    want, n_used = _till_discounts_in_numpy(slow, pop, draws, card, value, m.day)
    got = pricing.till_discounts(arm, pop, draws, card, value, m.day)
    assert value.dtype == np.float32 and 50 < n_used < card.size / 2
    assert (want > 0).sum() > n_used if m.spec.scheme.member_pricing is not None else (want > 0).sum() == n_used
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(arm.net_value, slow.net_value)
    np.testing.assert_array_equal(arm.mem.offer_until, slow.mem.offer_until)
    np.testing.assert_array_equal(arm.ledger.values, slow.ledger.values)


@pytest.mark.parametrize("name", ["supermarket_points", "hotel_tiers", "paid_membership", "coalition"])
def test_compiled_points_earned_match_the_numpy_rule(name):
    from loyaltysim.engine import kernels
    m = LoyaltyModel(shipped(name, {"customers": 3000, "days": 30}))
    for _ in range(20):
        m.step()
    arm, rules = m.arms[0], m.arms[0].rules
    gen = np.random.default_rng(5)
    idx = np.flatnonzero(arm.mem.member)
    value = gen.lognormal(3.0, 1.5, idx.size).astype(np.float32)  # small and large baskets
    split = gen.dirichlet(np.ones(rules.cat_mult.size), idx.size).astype(np.float32)
    arm.mem.tier[idx] = gen.integers(0, rules.tier_mult.size, idx.size)
    s = rules.scheme
    for promotion in (1.0, 1.7):
        mult = (split @ rules.cat_mult) * rules.tier_mult[arm.mem.tier[idx]] * promotion
        if s.membership is not None:
            mult = mult * s.membership.earn_multiplier
        # Every other basket worth a whole number of points, give or take rounding: the floor then
        # depends on each step's precision.
        value[::2] = (np.arange(idx.size)[::2] / (s.points.earn_per_unit * mult[::2])).astype(np.float32)
        want = np.floor(value * s.points.earn_per_unit * mult + 1e-6).astype(np.int32)
        got = np.empty(idx.size, np.int32)
        kernels.earned_points(idx, value, split @ rules.cat_mult, arm.mem.tier, rules.tier_mult, promotion,
                              s.membership.earn_multiplier if s.membership is not None else 1.0,
                              s.points.earn_per_unit, got)
        assert idx.size > 300 and np.unique(want).size > 50
        np.testing.assert_array_equal(got, want)


def test_compiled_top_category_is_the_largest_share_of_the_numpy_estimate():
    from loyaltysim.engine import insight
    m = LoyaltyModel(shipped("supermarket_points", {"customers": 4000, "days": 60}))
    for _ in range(40):
        m.step()
    arm = m.arms[0]
    idx = np.flatnonzero(arm.mem.member)
    never_seen = arm.mem.obs_trips[idx] == 0
    assert never_seen.sum() > 50 and (~never_seen).sum() > 500
    top = insight.believed_top_category(m.spec, m.population, arm, m.priors)
    for spends in ("as simulated", "spread over every category"):
        if spends != "as simulated":
            seen = idx[~never_seen]
            arm.mem.obs_cat[seen] = np.random.default_rng(3).gamma(0.5, 20.0, (seen.size, 7)).astype(np.float32)
        est = insight.Estimator(m.spec, m.population, arm, idx, m.day + 30)  # some estimates stale
        want = np.argmax(est.mix(m.priors.mix), axis=1).astype(np.int8)
        np.testing.assert_array_equal(top(idx, m.day + 30), want)
    assert np.unique(want).size == 7


@pytest.mark.parametrize("half_life", [30.0, 7.5, 365.0])
def test_freshness_from_its_table_is_the_power_numpy_computes(half_life):
    from loyaltysim.engine.insight import freshness
    from loyaltysim.engine.state import NO_DAY
    from loyaltysim.scenario.models import MAX_DAYS
    day = MAX_DAYS
    gen = np.random.default_rng(8)
    last_seen = np.concatenate([np.arange(day + 1), gen.integers(0, day + 1, 5000), [NO_DAY] * 50,
                                [day + 3]]).astype(np.int32)  # every age, shuffled ages, never seen, seen later
    gen.shuffle(last_seen)
    age = np.maximum(day - last_seen, 0)
    want = (0.5 ** (age / half_life)).astype(np.float32)
    want[last_seen == NO_DAY] = 0
    got = freshness(half_life, last_seen, day)
    assert got.dtype == np.float32 and (got == 0).sum() >= 50
    np.testing.assert_array_equal(got, want)


def test_recent_life_events_are_those_numpy_selects():
    from loyaltysim.engine import kernels
    m = LoyaltyModel(shipped("supermarket_points", {"customers": 20000, "days": 250}))
    for _ in range(240):
        m.step()
    pop, arm, day, window = m.population, m.arms[0], m.day, 180
    alive = np.flatnonzero(arm.shop.alive)
    ev = pop.last_event_day[alive]
    idx = alive[(ev >= 0) & (day - ev <= window)]
    found = arm.mem.detected_day[idx] >= pop.last_event_day[idx]
    delay = (arm.mem.detected_day[idx] - pop.last_event_day[idx]).clip(min=0)
    got = kernels.recent_life_events(day, window, arm.shop.alive, pop.last_event_day, arm.mem.detected_day)
    old = (pop.last_event_day >= 0) & (day - pop.last_event_day > window)
    assert found.sum() > 20 and (~found).sum() > 20 and (delay > 0).sum() > 20 and (old & arm.shop.alive).sum() > 20
    for g, w in zip(got, (idx, delay, found)):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
