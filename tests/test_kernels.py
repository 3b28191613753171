"""Each compiled kernel gives what the numpy statement of its rule gives on the same inputs (the pairs are
listed in loyaltysim.engine.twins), and every compiled function is paired or says why it is not.

A case below builds the inputs of one twin, from a small scenario run for some days or from seeded random
arrays; one test runs both sides of every twin on every case and compares everything they return and
every array they were given, exactly (dtype included) unless the twin says otherwise.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import pydantic
import pytest
from helpers import scenario, shipped

from loyaltysim.engine import behaviour, kernels
from loyaltysim.engine.mechanics import enrolment
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.rng import DAILY_STREAMS, Streams, _generator
from loyaltysim.engine.rules import compile_rules
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY
from loyaltysim.engine.twins import TWINS, WITHOUT_TWIN, Twin, compiled_functions

F32 = np.float32
SCHEMES = ("every_mechanic", "supermarket_points", "coffee_stamps")


class Case(NamedTuple):
    """The arguments both sides of a twin are called with (each side gets a copy of its own), and what the
    inputs are built to reach, asserted of the numpy side's result and arguments (by parameter name)."""

    args: tuple
    check: Callable[[object, dict], None] | None = None


CASES: dict[str, tuple[Callable[..., Iterator[Case]], tuple]] = {}
"""The cases of each twin, by its first kernel's name: the function making them, and its parameters."""


def cases(name: str, *params):
    """Register ``make(param)``, for each of ``params``, as a maker of the cases of twin ``name``."""
    def register(make):
        CASES[name] = (make, params or (None,))
        return make
    return register


EAGER_JOINING = {"scheme.enrolment.awareness_per_visit": 1.0, "scheme.enrolment.join_threshold": 0.0,
                 "scheme.enrolment.value_sensitivity": 0.0, "scheme.enrolment.join_rate_per_visit": 1.0}


def _model(kind: str, steps: int, customers: int = 3000, days: int = 60, overrides: dict | None = None):
    """A model of the test scheme with every mechanic (``kind`` "every_mechanic") or a shipped scenario,
    after ``steps`` days. Every customer hears of the scheme on a first visit and half of them (by taste alone)
    join soon after, so that a few days give the kernels many members to work on."""
    overrides = {**EAGER_JOINING, **(overrides or {})}
    if kind == "every_mechanic":
        sc = scenario(customers=customers, days=days, overrides=overrides)
    else:
        sc = shipped(kind, {"customers": customers, "days": days, **(overrides or {})})
    m = LoyaltyModel(sc)
    for _ in range(steps):
        m.step()
    return m


def _sorted_subset(gen, n: int, k: int) -> np.ndarray:
    return np.sort(gen.choice(n, k, replace=False))


def _segments(gen, n: int, s: int, in_blocks: bool = True) -> np.ndarray:
    """Customers' segments, in blocks as a population's are, or mixed (the kernels must not depend on it)."""
    segment = gen.integers(0, s, n).astype(np.int8)
    return np.sort(segment) if in_blocks else segment


# ---------------------------------------------------------------- the cases

def _enough_shoppers(trips, _):
    assert trips.idx.size > 100


def _copies_most_baskets(trips, args):
    assert np.intersect1d(trips.idx, args["drawn"].idx).size > 0.5 * trips.idx.size


@cases("shop", *SCHEMES)
def _shop(kind):
    """Both arms' day after a month (members with points, vouchers, offers, habits and defections by now),
    drawing every basket and (second arm) copying those the first arm drew for the same customers."""
    m = _model(kind, 30)
    draws = m.streams.day()
    first = None
    for arm in m.arms:
        args = (m.spec, m.population, arm.shop, getattr(arm, "mem", None), getattr(arm, "rules", None), draws, m.day,
                m.weekday, m.habit_alpha, None)
        yield Case((*args, None), _enough_shoppers)
        if first is not None:
            yield Case((*args, first), _copies_most_baskets)
        else:  # the scheme arm: with the members' choice surplus added up by segment
            yield Case((*args, None, np.zeros(m.population.segment.max() + 1)), _some_surplus)
        first = behaviour.shop(*copy.deepcopy(args))


def _some_surplus(_, args):
    assert (args["surplus"] != 0).all()


@cases("same_day_baskets")
def _same_day_baskets(_):
    """Three segments: top-ups with further visits, top-ups only, none; shoppers in random order."""
    gen, n = np.random.default_rng(5), 20_000
    bits = gen.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    segment = np.repeat(np.arange(3, dtype=np.int16), [n // 2, n // 4, n - n // 2 - n // 4])
    share, more = np.array([0.3, 0.17, 0.0]), np.array([0.4, 0.0, 0.5])
    idx = _sorted_subset(gen, n, n // 3)

    def spread(_, args):
        b, seg = args["out"], segment[args["idx"]]
        assert (b[seg == 0] >= 3).sum() > 100 and b[seg == 1].max() == 2 and (b[seg == 2] == 1).all()
    yield Case((idx, bits, segment, share, more, np.empty(idx.size, np.int32)), spread)


@cases("progress_curve", "supermarket_points", "coalition")
def _progress_curve(name):
    sc = shipped(name, {"customers": 100, "days": 5})
    rules = compile_rules(sc)
    c = behaviour.kernel_constants(sc, rules)
    _, first = behaviour.progress_curve(rules, c)
    yield Case((c, rules.reward_points, first, np.empty(first[-1], F32)))


@cases("refresh_recent_values", (1.0, 0.005), (1.955, 0.005), (2.25, 0.05))
def _refresh_recent_values(weights):
    """(loss aversion, scale): values above and below each member's reference, some spend under the floor."""
    gen, n = np.random.default_rng(4), 5000
    value_ema = (gen.standard_normal(n) * 0.05).astype(F32)
    spend_ema = (gen.lognormal(-1, 2, n) * (gen.random(n) < 0.9)).astype(F32)  # some below the floor, some none
    reference = (gen.random(n) * 0.03).astype(F32)
    yield Case((*weights, _sorted_subset(gen, n, 3000), value_ema, spend_ema, reference, gen.random(n).astype(F32)))


@cases("update_value_averages")
def _update_value_averages(_):
    m = _model("every_mechanic", 20, days=40)
    arm, b = m.arms[0], m.spec.behaviour
    idx = np.flatnonzero(arm.mem.active)  # members using the card (a dormant member's stays as it was)
    assert idx.size > 100
    week = enrolment.SATISFACTION_EVERY_DAYS
    before = arm.mem.satisfaction.copy()

    def is_what_the_weekly_update_stores(_, want):
        """enrolment.update_satisfaction runs the kernel: its averages, the recent values
        refresh_recent_values gives for them, satisfaction the sigmoid of z; and the next week starts."""
        reference = arm.mem.reference.copy()
        enrolment.update_satisfaction(m.spec, arm, m.streams.day(), today)
        recent = want["recent"].copy()  # felt against the reference before it moved
        kernels.refresh_recent_values(b.loss_aversion, b.reference_scale, idx, want["value_ema"], want["spend_ema"],
                                      reference, recent)
        satisfaction = before.copy()
        satisfaction[idx] = behaviour.sigmoid(want["z"]).astype(F32)
        for got, expected in ((arm.mem.value_ema, want["value_ema"]), (arm.mem.spend_ema, want["spend_ema"]),
                              (arm.mem.recent, recent), (arm.mem.satisfaction, satisfaction),
                              (arm.mem.reference, want["reference"])):
            np.testing.assert_array_equal(got, expected)
        assert not arm.net_value.any() and not arm.spend_week.any()

    a = float(1.0 - np.exp(-week / b.satisfaction_memory_days))
    r = float(1.0 - np.exp(-week / b.reference_memory_days))
    today = m.day + (week - 1 - m.day % week) % week  # a day the weekly update runs, after every join so far
    assert (arm.mem.join_day[idx] <= today).all() and np.unique((today - arm.mem.join_day[idx]) // week).size > 1
    for rival in (0.0, 0.02):  # a rival giving more raises the reference toward it
        yield Case((a, r, week, b.loss_aversion, b.reference_scale, rival, b.rival_reference_weight,
                    today, arm.mem.join_day, idx, arm.net_value, arm.spend_week, arm.mem.value_ema, arm.mem.spend_ema, arm.mem.reference,
                    arm.mem.recent, np.empty(idx.size, F32)), is_what_the_weekly_update_stores if rival == 0 else None)


def _float64(values, _):
    assert values.dtype == np.float64


@cases("expected_values", *SCHEMES)
def _expected_values(kind):
    m = _model(kind, 20)  # habits and life events have moved customers apart by now
    arm = m.arms[0]
    nonmembers = np.flatnonzero(~arm.mem.member & arm.shop.alive)
    assert nonmembers.size > 100
    yield Case((m.spec, m.population, arm, nonmembers), _float64)


@cases("settle_trips", "scheme", "counterfactual")
def _settle_trips(arm):
    gen, n, S, K = np.random.default_rng(6), 5000, 4, 7
    idx = _sorted_subset(gen, n, 2000)
    value = gen.lognormal(3, 1, idx.size).astype(F32)
    discount = np.where(gen.random(idx.size) < 0.3, value * gen.random(idx.size) * 0.2, 0.0)
    spend_week = (gen.random(n) * 100).astype(F32) if arm == "scheme" else np.zeros(0, F32)
    yield Case((31, idx, value, gen.dirichlet(np.ones(K), idx.size).astype(F32), discount, _segments(gen, n, S),
                gen.uniform(0.1, 0.4, K).astype(F32), gen.integers(0, 50, n).astype(np.int32), gen.random(n) * 500,
                gen.integers(0, 30, n).astype(np.int32), spend_week, gen.random((4 + K, S)) * 100))


def _last_customer_leaves(k, args):
    assert k >= 1 and args["out_gone"][k - 1] == args["alive"].size - 1


@cases("defect", *[(n, scheme) for n in (1, 7, 8, 9, 100_003) for scheme in ("scheme", "counterfactual")])
def _defect(param):
    """The kernel flags candidates eight at a time: sizes that are not a whole number of eights and a leaver
    in the last place must come out as numpy selects them."""
    n, arm = param
    gen = np.random.default_rng(11)
    alive, member = gen.random(n) < 0.95, gen.random(n) < 0.5
    recent = (2 * gen.random(n) - 1).astype(F32)
    rate = (0.05 * gen.random(n)).astype(F32)
    bits = gen.integers(0, 2**32, n, dtype=np.uint32)
    alive[-1], rate[-1], bits[-1] = True, F32(0.5), 0  # the last customer leaves
    if arm == "counterfactual":
        member, recent = np.zeros(0, bool), np.zeros(0, F32)
    yield Case((7, 0.8, bits, alive, rate, np.full(n, -1, np.int32), member, recent, np.empty(n, np.intp)),
               _last_customer_leaves)


@cases("join_draws", 0.0, 3 / 2**24, 0.01, 0.37, 1.0)
def _join_draws(p_ref):
    """The kernel compares the uniform's bits with a threshold, which must be exact (3 / 2**24 is a chance
    that one uniform value equals)."""
    gen, n = np.random.default_rng(5), 200_000
    alive, member = gen.random(n) < 0.97, gen.random(n) < 0.5
    bits = gen.integers(0, 2**32, n, dtype=np.uint32)
    bits[:4] = np.array([2, 3, 4, 0], np.uint32) << 8  # uniforms just below, at and above 3 / 2**24
    bits[4] = min(int(p_ref * 2**24), 2**24 - 1) << 8  # the largest uniform at or below the chance
    alive[:5], member[:5] = True, False
    shoppers = np.sort(gen.choice(np.arange(5, n), 30_000, replace=False))

    def threshold_is_exact(k, args):
        joined = set(args["out"][:k])
        assert p_ref != 3 / 2**24 or ({0, 3} <= joined and not {1, 2} & joined)

    yield Case((member, alive, shoppers, gen.random(shoppers.size) * 0.2, p_ref, bits, np.empty(n, np.intp)),
               threshold_is_exact)


def _goal_reached_not_missed(k, args):
    found = args["out"][:k]
    assert 1000 < k < args["member"].sum() and 0 in found and 1 not in found


@cases("redeemable")
def _redeemable(_):
    gen, n = np.random.default_rng(9), 20_000
    member = gen.random(n) < 0.5
    goal = np.where(member, gen.integers(0, 2, n), gen.integers(0, 5, n)).astype(np.int8)  # a non-member's may be stale
    points = gen.integers(0, 900, n).astype(np.int32)
    member[:2], goal[:2], points[:2] = True, 0, (150, 149)  # at the goal, one short of it
    yield Case((member, points, goal, np.array([150.0, 600.0]), np.empty(n, np.intp)), _goal_reached_not_missed)


@cases("stock_counts", "scheme", "counterfactual")
def _stock_counts(arm):
    gen, n = np.random.default_rng(10), 10_000
    member = gen.random(n) < 0.4
    columns = (member, gen.integers(0, 16, n).astype(np.uint8),
               gen.integers(0, 2**24, n).astype(np.int32) * member)  # points beyond what int32 sums hold
    if arm == "counterfactual":
        columns = (np.zeros(0, bool), np.zeros(0, np.uint8), np.zeros(0, np.int32))
    last_visit = np.where(gen.random(n) < 0.1, 0, gen.integers(40, 101, n)).astype(np.int32)
    yield Case((100, 28, np.array([0, 2500, 6000, 8000, n]), gen.random(n) < 0.9, last_visit, *columns[:2],
                np.uint8(CONSENT_BIT["transactions"]), columns[2], gen.random((5, 4))))


@cases("insight_sums", *[(share, blocks) for share in (0.0, 0.6) for blocks in ("segment_blocks", "segments_mixed")])
def _insight_sums(param):
    known_share, blocks = param
    gen, n, D = np.random.default_rng(3), 5000, 7
    segment = _segments(gen, n, 4, blocks == "segment_blocks")
    alive = gen.random(n) < 0.9
    known = alive & (gen.random(n) < known_share)
    base_err = gen.random((D, n), dtype=F32)
    known_err = gen.random((D, known.sum()), dtype=F32)
    yield Case((alive, known, known_err, base_err, segment, np.zeros((D, 4)), np.zeros((D, 4)), np.zeros(D, F32)))


@cases("recent_life_events")
def _recent_life_events(_):
    m = _model("supermarket_points", 240, customers=20_000, days=250)
    pop, arm, day, window = m.population, m.arms[0], m.day, 180
    old = (pop.last_event_day >= 0) & (day - pop.last_event_day > window)
    assert (old & arm.shop.alive).sum() > 20

    def events_found_late_and_not_yet(returned, _):
        _, delay, found = returned
        assert found.sum() > 20 and (~found).sum() > 20 and (delay > 0).sum() > 20

    yield Case((day, window, arm.shop.alive, pop.last_event_day, arm.mem.detected_day), events_found_late_and_not_yet)


def _clipped_and_not(_, args):
    accuracy = args["acc_what"][args["idx"]]
    assert (accuracy == 0).sum() > 10 and (accuracy > 0).sum() > 100


@cases("member_accuracy")
def _member_accuracy(_):
    gen, n, D = np.random.default_rng(7), 5000, 7
    base_err = (gen.random((D, n)) * 0.4).astype(F32)
    base_err[:, ::50] = 0  # floored at half the mean
    idx = _sorted_subset(gen, n, 1500)
    err = (gen.random((D, idx.size)) * 0.5).astype(F32)  # some worse than the prior's: accuracy 0
    yield Case((idx, err, base_err, (0.5 * base_err.mean(axis=1)).astype(F32), gen.random(n).astype(F32),
                gen.random(n).astype(F32)), _clipped_and_not)


def _today(m):
    """The scheme arm's shoppers today, by the compiled pass (on a copy: the model's state is left as it was)."""
    arm = m.arms[0]
    draws = m.streams.day()
    trips = behaviour.shop(m.spec, m.population, copy.deepcopy(arm.shop), arm.mem, arm.rules, draws, m.day,
                           m.weekday, m.habit_alpha)
    return arm, draws, trips


def _some_present(_, args):
    assert args["member"][args["idx"]].sum() > 50 and args["linked"].any()


@cases("present_card", *SCHEMES)
def _present_card(kind):
    m = _model(kind, 20)
    arm, draws, trips = _today(m)
    pop, rules = m.population, arm.rules
    yield Case((behaviour.kernel_constants(None, rules), trips.idx, draws.card.bits,
                rules.scheme.enrolment.card_presentation, rules.scheme.member_pricing is not None, arm.mem.member,
                arm.mem.consent, pop.time_poor, pop.experience, pop.mean_basket, np.empty(trips.idx.size, bool)),
               _some_present)


@cases("redeem_offers", "supermarket_points", "member_pricing")
def _redeem_offers(name):
    m = _model(name, 25, customers=20_000, days=40)  # offers sent and accuracy learnt by now
    arm, draws, trips = _today(m)
    mem, o, S = arm.mem, arm.rules.scheme.offers, arm.ledger.n_segments
    card = trips.idx[mem.member[trips.idx]]
    value = trips.value[mem.member[trips.idx]]
    assert value.dtype == F32
    mem.offer_until[card[::2]] = m.day  # every other card holder's offer live today (the rest as they were)
    gen = np.random.default_rng(2)
    # Money already off (member prices): an offer never takes off more than is left of the basket.
    overlapping = np.where(gen.random(card.size) < 0.5, value * gen.uniform(0.9, 1.0, card.size), 0.0)
    for off in (np.zeros(card.size), overlapping):
        yield Case((m.day, card, value, off, draws.offer.bits, mem.offer_until, mem.acc_what, mem.offer_cat,
                    m.population.categories, arm.ledger.segment, o.base_redemption,
                    o.max_redemption - o.base_redemption, o.discount, NO_DAY, arm.net_value, np.zeros(S), np.zeros(S)),
                   _many_used(off.any()))


def _many_used(capped: bool):
    def check(_, args):
        assert 50 < args["used_sums"].sum() < args["idx"].size / 2
        assert not capped or np.isclose(args["off"], args["value"]).sum() > 10  # all the rest of the basket
    return check


@cases("card_effort", "every_mechanic", "supermarket_points")
def _card_effort(kind):
    sc = scenario() if kind == "every_mechanic" else shipped(kind)
    gen, n = np.random.default_rng(8), 5000
    yield Case((behaviour.kernel_constants(None, compile_rules(sc)), _sorted_subset(gen, n, 2000),
                gen.integers(0, 16, n).astype(np.uint8), gen.random(n) < 0.3, gen.random(n).astype(F32),
                gen.lognormal(3, 0.5, n).astype(F32), _segments(gen, n, 4), gen.standard_normal(n).astype(F32),
                gen.random(4)))


def _events_detected_and_families_told(found, args):
    assert found > 20 and args["family_told"].any()


@cases("learn_trips", 6.0, 1.0)
def _learn_trips(detection_trips):
    gen, n, K, B, day = np.random.default_rng(12), 5000, 7, 6, 50
    idx = _sorted_subset(gen, n, 3000)
    value = gen.lognormal(3, 1, idx.size).astype(F32)
    trips = (idx, value, gen.dirichlet(np.ones(K), idx.size).astype(F32), gen.random(idx.size).astype(F32),
             gen.integers(0, B, idx.size).astype(np.intp), np.log(np.maximum(value, 1e-3)))
    observed = (gen.integers(0, 30, n).astype(F32), gen.integers(0, day, n).astype(np.int32),
                (gen.random((n, K)) * 100).astype(F32), gen.integers(0, 20, (n, 7)).astype(np.uint16),
                gen.integers(0, 20, (n, B)).astype(np.uint16), (gen.random(n) * 50).astype(F32),
                (gen.random(n) * 90).astype(F32))
    events = (np.where(gen.random(n) < 0.5, gen.integers(0, day, n), -1).astype(np.int32),
              np.where(gen.random(n) < 0.3, gen.integers(0, day, n), NO_DAY).astype(np.int32),
              gen.integers(0, 6, n).astype(np.int16), np.zeros(n, np.int8), gen.integers(1, 6, n).astype(np.int8))
    yield Case((day, 3, detection_trips, CONSENT_BIT["transactions"], CONSENT_BIT["app"], CONSENT_BIT["demographics"],
                *trips, gen.integers(0, 16, n).astype(np.uint8), *observed, *events, np.empty(idx.size, np.intp)),
               _events_detected_and_families_told)


def _segment_inputs(blocks: str):
    """Sums from a start, amounts over a wide range (rounding shows any reordering), segments in blocks or not:
    the kernels keep a segment's running sum in a register while customers stay in it, and must still give
    one running sum per segment to the last bit."""
    gen, n, S = np.random.default_rng(11), 20_000, 5
    segment = _segments(gen, n, S, blocks == "segment_blocks")
    idx = _sorted_subset(gen, n, 7_000)
    return segment, idx, gen.lognormal(0, 3, idx.size).astype(F32), gen.random(S)


@cases("segment_sums", "segment_blocks", "segments_mixed")
def _segment_sums(blocks):
    yield Case(_segment_inputs(blocks))


@cases("segment_sums_of_one", "segment_blocks", "segments_mixed")
def _segment_sums_of_one(blocks):
    segment, idx, _, start = _segment_inputs(blocks)
    yield Case((segment, idx, 0.1, start))


@cases("operating_costs", "segment_blocks", "segments_mixed")
def _operating_costs(blocks):
    segment, idx, _, start = _segment_inputs(blocks)
    yield Case((idx, segment, 0.1, start, np.arange(start.size, dtype=np.int64)))


@cases("privacy_costs")
def _privacy_costs(_):
    gen, n = np.random.default_rng(13), 5000
    yield Case((_sorted_subset(gen, n, 2500), _segments(gen, n, 4), gen.integers(0, 16, n).astype(np.uint8),
                gen.random(n).astype(F32), gen.random(16) * 0.01, gen.standard_normal(n).astype(F32), gen.random(4)))


def _every_decision_taken(counts, _):
    assert min(counts) > 50


@cases("member_decisions")
def _member_decisions(_):
    gen, n = np.random.default_rng(14), 20_000
    members = _sorted_subset(gen, n, 8000)
    bits = [gen.integers(0, 2**32, n, dtype=np.uint32) for _ in range(3)]
    yield Case((members, gen.random(n).astype(F32), gen.integers(0, 16, n).astype(np.uint8),
                CONSENT_BIT["transactions"], gen.random(n).astype(F32), gen.random(n).astype(F32), *bits, 0.05, 0.1,
                0.2, np.empty(members.size, np.intp), np.empty(members.size, np.intp)), _every_decision_taken)


@cases("data_revenue")
def _data_revenue(_):
    gen, n = np.random.default_rng(15), 5000
    yield Case((_sorted_subset(gen, n, 2500), _segments(gen, n, 4), gen.integers(0, 16, n).astype(np.uint8),
                CONSENT_BIT["third_party"], 1.5, 0.02, gen.random(n).astype(F32), gen.random(4)))


def _float32(err, _):
    assert err.dtype == np.float32


@cases("estimate_errors")
def _estimate_errors(_):
    m = _model("every_mechanic", 40, overrides={"scheme.enrolment.initial_members": 0.8})
    arm = m.arms[0]
    known = np.flatnonzero(arm.shop.alive & arm.mem.member & (arm.mem.obs_trips > 0))
    assert known.size > 500
    yield Case((m.spec, m.population, arm, m.priors, known, m.day), _float32)


def _every_category_on_top(top, _):
    assert np.unique(top).size == 7


@cases("top_categories", "as simulated", "spread over every category")
def _top_categories(spends):
    m = _model("supermarket_points", 40, customers=4000)
    arm = m.arms[0]
    idx = np.flatnonzero(arm.mem.member)
    never_seen = arm.mem.obs_trips[idx] == 0
    assert never_seen.sum() > 50 and (~never_seen).sum() > 500
    if spends != "as simulated":
        seen = idx[~never_seen]
        arm.mem.obs_cat[seen] = np.random.default_rng(3).gamma(0.5, 20.0, (seen.size, 7)).astype(F32)
    check = _every_category_on_top if spends != "as simulated" else None
    yield Case((m.spec, m.population, arm, m.priors, idx, m.day + 30), check)  # some estimates stale


def _many_amounts(_, args):
    assert args["idx"].size > 300 and np.unique(args["out"]).size > 50


@cases("earned_points", "supermarket_points", "hotel_tiers", "paid_membership", "coalition")
def _earned_points(name):
    m = _model(name, 20, days=30)
    arm, rules = m.arms[0], m.arms[0].rules
    gen = np.random.default_rng(5)
    idx = np.flatnonzero(arm.mem.member)
    value = gen.lognormal(3.0, 1.5, idx.size).astype(F32)  # small and large baskets
    cat_dot = gen.dirichlet(np.ones(rules.cat_mult.size), idx.size).astype(F32) @ rules.cat_mult
    arm.mem.tier[idx] = gen.integers(0, rules.tier_mult.size, idx.size)
    s = rules.scheme
    membership = s.membership.earn_multiplier if s.membership is not None else 1.0
    for promotion in (1.0, 1.7):
        # Every other basket worth a whole number of points, give or take rounding: the floor then depends
        # on each step's precision.
        mult = cat_dot * rules.tier_mult[arm.mem.tier[idx]] * promotion * membership
        value[::2] = (np.arange(idx.size)[::2] / (s.points.earn_per_unit * mult[::2])).astype(F32)
        yield Case((idx, value.copy(), cat_dot, arm.mem.tier, rules.tier_mult, promotion, membership,
                    s.points.earn_per_unit, np.empty(idx.size, np.int32)), _many_amounts)


@cases("credit_points", "age_expiry", "no_age_expiry")
def _credit_points(expiry):
    gen, n = np.random.default_rng(16), 5000
    idx = _sorted_subset(gen, n, 2000)
    buckets = gen.integers(0, 300, (n, 4) if expiry == "age_expiry" else (n, 0)).astype(np.int32)
    yield Case((31, 2 if expiry == "age_expiry" else -1, idx, gen.integers(0, 200, idx.size).astype(np.int32),
                gen.integers(0, 1000, n).astype(np.int32), buckets, gen.integers(0, 30, n).astype(np.int32),
                _segments(gen, n, 4), gen.random(4)))


def _short_of_the_goal_after(_, args):
    idx = args["idx"]
    assert (args["points"][idx] < args["reward_points"][args["goal"][idx]]).all()


@cases("redeem_rewards", -1, 0, 2, 3)
def _redeem_rewards(current):
    """``current`` is this period of the ring of earning periods (-1: no age expiry); points go oldest first."""
    gen, n = np.random.default_rng(17), 5000
    reward_points = np.array([150.0, 600.0])
    goal = gen.integers(0, 2, n).astype(np.int8)
    buckets = gen.integers(0, 400, (n, 4 if current >= 0 else 0)).astype(np.int32)
    points = buckets.sum(axis=1, dtype=np.int32) if current >= 0 else gen.integers(0, 1600, n).astype(np.int32)
    idx = np.flatnonzero(points >= reward_points[goal])
    assert idx.size > 500 and (points[idx] >= 2 * reward_points[goal[idx]]).sum() > 50  # several rewards at once
    yield Case((current, idx, goal, points, buckets, (gen.random(n) * 3).astype(F32), _segments(gen, n, 4), reward_points, np.array([1.5, 5.0]),
                np.array([1.5, 3.0]), np.array([1.5, 9.0]), np.array([0, 2], np.int8), gen.random((4, 4))),
               _short_of_the_goal_after)


# ---------------------------------------------------------------- every twin, on every case

def _state(x, path: str, out: dict, seen: set) -> None:
    """The arrays and numbers reachable from ``x`` (through sequences, dicts and the engine's objects), by path."""
    if isinstance(x, (np.ndarray, int, float, np.generic)):
        out[path] = x
    elif isinstance(x, (tuple, list)):
        for i, v in enumerate(x):
            _state(v, f"{path}[{i}]", out, seen)
    elif isinstance(x, dict):
        for k, v in x.items():
            _state(v, f"{path}[{k!r}]", out, seen)
    elif type(x).__module__.startswith("loyaltysim") and not isinstance(x, pydantic.BaseModel) and id(x) not in seen:
        seen.add(id(x))
        for name in [*getattr(x, "__dict__", {}), *getattr(type(x), "__slots__", ())]:
            _state(getattr(x, name), f"{path}.{name}", out, seen)


def _run(twin: Twin, case: Case) -> None:
    signature = inspect.signature(twin.numpy)
    states, results = [], []
    for f in (twin.compiled, twin.numpy):
        args = copy.deepcopy(case.args)
        returned = f(*args)
        named = dict(signature.bind(*args).arguments)
        state, seen = {}, set()
        for name, value in {"returned": returned, **named}.items():
            _state(value, name, state, seen)
        for name, i in twin.counted.items():
            state[name] = state[name][:returned if i is None else returned[i]]
        states.append(state)
        results.append((returned, named))
    got, want = states
    assert got.keys() == want.keys()
    for path, w in want.items():
        g = got[path]
        if not isinstance(w, np.ndarray):
            assert g == w, path
        elif path in twin.close:
            assert g.dtype == w.dtype, path
            np.testing.assert_allclose(g, w, rtol=twin.close[path], atol=0, err_msg=path)
        else:
            assert g.dtype == w.dtype, path
            np.testing.assert_array_equal(g, w, err_msg=path)
    if case.check is not None:
        case.check(*results[1])


@pytest.mark.parametrize("name, param", [pytest.param(name, p, id=name if p is None else f"{name}-{p}")
                                         for name in sorted(CASES) for p in CASES[name][1]])
def test_each_kernel_gives_what_the_numpy_statement_of_its_rule_gives(name, param):
    make, _ = CASES[name]
    n = 0
    for n, case in enumerate(make(param), 1):
        _run(TWINS[name], case)
    assert n > 0


def test_every_compiled_function_has_a_numpy_twin_or_says_why_not():
    assert not set(TWINS) & set(WITHOUT_TWIN)
    assert set(TWINS) | set(WITHOUT_TWIN) == compiled_functions()
    assert all(len(why) > 30 for why in WITHOUT_TWIN.values())
    assert {twin.kernels[0] for twin in TWINS.values()} == set(CASES)  # every twin is run on cases here


def test_a_numpy_twin_in_kernels_is_named_after_its_kernel_and_takes_its_parameters():
    twins = [name for name in vars(kernels) if name.endswith("_numpy")]
    assert len(twins) > 20
    for name in twins:
        kernel = getattr(kernels, name.removesuffix("_numpy"))
        parameters = list(inspect.signature(kernel.py_func).parameters)
        assert list(inspect.signature(getattr(kernels, name)).parameters) == parameters, name
    for name, twin in TWINS.items():
        assert twin.compiled is not getattr(kernels, name) or twin.numpy is getattr(kernels, f"{name}_numpy")


# ---------------------------------------------------------------- beyond the twins

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


@pytest.mark.parametrize("name, entries", [("supermarket_points", 151), ("coalition", 501 + 2001),
                                           ("coffee_stamps", 0)])
def test_progress_curve_holds_every_balance_up_to_each_goal_for_points_schemes_only(name, entries):
    sc = shipped(name, {"customers": 100, "days": 5})
    rules = compile_rules(sc)
    curve, first = behaviour.progress_curve(rules, behaviour.kernel_constants(sc, rules))
    assert curve.size == first[-1] == entries
    for g, need in enumerate(rules.reward_points if entries else []):
        assert first[g + 1] - first[g] == need + 1  # every balance short of the goal, and the goal itself


@pytest.mark.parametrize("half_life", [30.0, 7.5, 365.0])
def test_freshness_from_its_table_is_the_power_numpy_computes(half_life):
    from loyaltysim.engine.insight import freshness
    from loyaltysim.scenario.models import MAX_DAYS
    day = MAX_DAYS
    gen = np.random.default_rng(8)
    last_seen = np.concatenate([np.arange(day + 1), gen.integers(0, day + 1, 5000), [NO_DAY] * 50,
                                [day + 3]]).astype(np.int32)  # every age, shuffled ages, never seen, seen later
    gen.shuffle(last_seen)
    age = np.maximum(day - last_seen, 0)
    want = (0.5 ** (age / half_life)).astype(F32)
    want[last_seen == NO_DAY] = 0
    got = freshness(half_life, last_seen, day)
    assert got.dtype == np.float32 and (got == 0).sum() >= 50
    np.testing.assert_array_equal(got, want)
