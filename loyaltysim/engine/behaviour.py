"""Vectorised daily customer decisions: need, store choice, basket, card use.

Every function takes whole columns and the day's draws, and works on index subsets: no per-customer
Python loop. The utility of shopping here versus the competition is a binary logit, each term
weighted by the customer's own motivations.

The daily step runs :func:`shop` and :func:`present_card`, which call the compiled passes in
``loyaltysim.engine.kernels``. :func:`needs`, :func:`choose_store` and :func:`draw_baskets` state the same rules
in numpy, and :func:`shop_numpy` puts them together: it is the readable specification of :func:`shop`,
which tests/test_kernels.py holds to it draw for draw (pairs listed in ``loyaltysim.engine.twins``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from loyaltysim.engine import kernels
from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.engine.rules import Rules
from loyaltysim.engine.state import CONSENT_BIT, MemberState, ShopperState, TripBuffers
from loyaltysim.scenario.models import Scenario


@dataclass
class Trips:
    """Today's trips to this retailer (arrays aligned with ``idx``)."""

    idx: np.ndarray          # customers who shop here today
    value: np.ndarray        # basket value at list prices
    split: np.ndarray        # (k, 7) category shares of the basket
    own: np.ndarray          # own-label share of the basket
    band: np.ndarray         # hour band
    member: np.ndarray       # bool: shopper is a member
    linked: np.ndarray       # bool: card presented (spend linked to the member)
    discount: np.ndarray     # member-price and offer money off
    card: CardTrips | None = None  # the linked trips, once the till has decided them
    log_value: np.ndarray | None = None  # log of value, as drawn (what another arm copies)
    baskets: np.ndarray | None = None  # int32 baskets (visits) in each trip: 1, or more with top-up visits

    def link(self, linked: np.ndarray) -> None:
        """Set which trips present a card, and gather those trips once for every phase that reads them."""
        self.linked = linked
        pos = np.flatnonzero(linked)
        self.card = CardTrips(self.idx.take(pos), self.value.take(pos), self.split.take(pos, axis=0),
                              self.own.take(pos), self.band.take(pos),
                              None if self.baskets is None else self.baskets.take(pos))


@dataclass
class CardTrips:
    """Today's card-presented trips (arrays aligned with ``idx``): what the scheme and the business see."""

    idx: np.ndarray
    value: np.ndarray
    split: np.ndarray
    own: np.ndarray
    band: np.ndarray
    baskets: np.ndarray | None = None  # baskets (visits) in each trip

    def visits(self) -> np.ndarray:
        """Each trip's customer once per basket (the customer of a trip with top-up visits repeated)."""
        if self.baskets is None or self.baskets.size == 0 or self.baskets.max() == 1:
            return self.idx
        return np.repeat(self.idx, self.baskets)


def shop(sc: Scenario, pop: Population, shop_state: ShopperState, mem: MemberState | None, rules: Rules | None,
         draws: DailyDraws, day: int, weekday: int, habit_alpha: np.ndarray,
         buffers: TripBuffers | None = None, drawn: Trips | None = None, surplus: np.ndarray | None = None) -> Trips:
    """Today's needs, store choices and baskets for one arm: :func:`needs`, :func:`choose_store` and
    :func:`draw_baskets` in one compiled pass over the customers (same rules, same draws).

    ``habit_alpha`` is :func:`habit_alpha` of every customer. ``drawn`` may be today's trips of the other
    arm, made with the same draws: a customer's basket depends only on them and the draws, so those
    customers' baskets are copied from it rather than drawn again. The trips' ``member`` is filled in,
    and ``linked`` and ``discount`` start at none. The trips are views of ``buffers`` (new ones if not
    given), so they last until the same buffers shop again. ``surplus`` (per segment), if given, gets
    members' choice surplus from the scheme added (:func:`choice_surplus`).
    """
    buf = buffers if buffers is not None else TripBuffers(pop.n, pop.categories.shape[1])
    idx, value, split, own, band = buf.idx, buf.value, buf.split, buf.own, buf.band
    same = (drawn.idx, drawn.log_value, drawn.split, drawn.own, drawn.band) if drawn is not None else (
        idx[:0], value[:0], split[:0], own[:0], band[:0])  # none drawn yet today
    c = with_promotion(kernel_constants(sc, rules), rules, day)
    if mem is None:
        no_f4, no_i4 = np.zeros(0, np.float32), np.zeros(0, np.int32)
        m = (np.zeros(0, bool), np.zeros(0, np.int8), no_i4, np.zeros(0, np.int16), np.zeros(0, np.int8),
             no_f4, no_f4, no_i4, no_f4, np.zeros(0, np.uint8))
        r = (np.ones(1), np.ones(1), np.ones(1), np.zeros(1), np.ones(pop.categories.shape[1], np.float32),
             *_NO_CURVE, np.zeros(0))
    else:
        m = (mem.active, mem.goal, mem.points, mem.stamps, mem.tier, mem.recent, mem.vouchers,
             mem.offer_until, mem.acc_what, mem.consent)
        r = (nonempty(rules.reward_points, 1.0), nonempty(rules.reward_perceived, 0.0), rules.tier_mult,
             rules.tier_status_share.astype(np.float64), rules.cat_mult, *progress_curve(rules, c),
             mem.extra_utility)
    k = kernels.shop(day, c, draws.need.bits, draws.choice.bits, draws.basket_value.bits,
                     draws.basket_category.bits, draws.basket_brand.bits, draws.hour.bits,
                     shop_state.alive, shop_state.habit, habit_alpha, shop_state.needs,
                     pop.need_by_weekday[weekday], pop.preference, pop.outcome, pop.reward_seeking, pop.belonging,
                     pop.experience, pop.time_poor, pop.mean_basket, pop.basket_mu, pop.basket_sd,
                     pop.small_share, pop.small_shift, pop.categories, pop.own_label, pop.hours, *m, *r,
                     pop.segment, _NO_SURPLUS if surplus is None else surplus, *same, idx, value, split, own, band)
    trips = _trips(mem, idx[:k], value[:k], split[:k], own[:k], band[:k])  # value holds the log values
    trips.baskets = baskets_per_trip(pop, draws, trips.idx)
    return trips


def shop_numpy(sc: Scenario, pop: Population, shop_state: ShopperState, mem: MemberState | None, rules: Rules | None,
               draws: DailyDraws, day: int, weekday: int, habit_alpha: np.ndarray,
               buffers: TripBuffers | None = None, drawn: Trips | None = None, surplus: np.ndarray | None = None) -> Trips:
    """:func:`shop` in numpy: :func:`needs`, :func:`choose_store` and :func:`draw_baskets` in turn.
    ``habit_alpha``, ``buffers`` and ``drawn`` change how the compiled pass works, not what it gives: unread."""
    idx = choose_store(sc, pop, shop_state, mem, rules, draws, needs(pop, shop_state, mem, rules, draws, weekday), day,
                       surplus)
    trips = _trips(mem, idx, *draw_baskets(pop, draws, idx))
    trips.baskets = baskets_per_trip(pop, draws, idx)
    return trips


def _trips(mem: MemberState | None, idx: np.ndarray, log_value: np.ndarray, split: np.ndarray, own: np.ndarray,
           band: np.ndarray) -> Trips:
    """Trips of shoppers ``idx`` from their baskets' log values: ``member`` filled in, none linked yet."""
    member = mem.member[idx] if mem is not None else np.zeros(idx.size, bool)
    return Trips(idx=idx, value=np.exp(log_value), split=split, own=own, band=band, member=member,
                 linked=np.zeros(idx.size, bool), discount=np.zeros(idx.size), log_value=log_value)


SAME_DAY_LEVELS = 256
"""Top-up visits are drawn from the low 8 bits of each trip's basket-value draw (the basket value uses the
top 24), so the same-day share is resolved in steps of 1/256."""


def baskets_per_trip(pop: Population, draws: DailyDraws, idx: np.ndarray) -> np.ndarray:
    """Baskets in each of today's trips by customers ``idx``: one, plus top-up visits with chance
    ``share`` for a second and ``more`` for each further one (a geometric count), by the customer's
    segment (kernels.same_day_baskets). The draw is the otherwise unused low byte of the customer's
    basket-value draw, so both arms see the same visits for the same trip and no stream is added."""
    baskets = np.ones(idx.size, np.int32)
    if pop.same_day_share is None or not pop.same_day_share.any():
        return baskets
    kernels.same_day_baskets(idx, draws.basket_value.bits, pop.segment, pop.same_day_share, pop.same_day_more,
                             baskets)
    return baskets


_NO_CURVE = (np.zeros(0, np.float32), np.zeros(1, np.int64))
_NO_SURPLUS = np.zeros(0)
"""No choice surplus to add up (the arm without a scheme, or a caller that does not ask)."""
"""A :func:`progress_curve` with no entries, for the arm without a scheme (which never looks one up)."""

MAX_CURVE_ENTRIES = 1 << 20
"""Largest :func:`progress_curve` kept (4 MiB); goals needing more points are computed as they come."""

_CURVES: dict = {}
"""Recent :func:`progress_curve` tables, by the identity of their rules (see :func:`_by_identity`)."""


def progress_curve(rules: Rules, c: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(curve, first): each goal's progress ** curvature for every whole number of points up to the goal
    (kernels.progress_curve), so the shopping pass looks a member's up rather than computing a power.
    Empty for schemes with stamps, whose progress depends on stamps too, and where the goals need more
    than MAX_CURVE_ENTRIES points in all. ``c`` are the rules' :func:`kernel_constants`."""
    return _by_identity(_CURVES, (rules,), lambda: _progress_curve(rules, c))


def _progress_curve(rules: Rules, c: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    need = rules.reward_points
    counts = np.zeros(max(need.size, 1), np.int64)  # goal 0 is looked up even without rewards
    whole = np.floor(need).astype(np.int64) + 1
    if rules.scheme.stamps is None and rules.scheme.points is not None and whole.sum() <= MAX_CURVE_ENTRIES:
        counts[:need.size] = whole
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    curve = np.empty(first[-1], np.float32)
    kernels.progress_curve(c, need, first, curve)
    return curve, first


def _by_identity(cache: dict, owners: tuple, make):
    """``make()``, cached in ``cache`` by the identity of the objects it is made from (kept alive in the
    cache, so an identity cannot be reused while cached; scenarios and rules are not changed in place).
    A day asks for the same values several times, and a small model's day is short enough to notice."""
    key = tuple(id(o) for o in owners)
    hit = cache.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], owners)):
        return hit[1]
    value = make()
    if len(cache) >= 64:
        cache.clear()
    cache[key] = (owners, value)
    return value


def nonempty(a: np.ndarray, fill: float) -> np.ndarray:
    """``a``, or one ``fill`` if it is empty (kernels index reward tables by goal even without rewards)."""
    return a if a.size else np.full(1, fill)


def habit_alpha(sc: Scenario, pop: Population) -> np.ndarray:
    """Each customer's habit learning rate: an exponential memory with time constant habit_memory_days
    of needs (at least one day)."""
    return 1.0 - np.exp(-1.0 / np.maximum(sc.behaviour.habit_memory_days * pop.need_rate, 1.0))


_CONSTANTS: dict = {}
"""Recent :func:`kernel_constants`, by the identity of their scenario and rules (see :func:`_by_identity`)."""


def kernel_constants(sc: Scenario | None, rules: Rules | None) -> tuple[float, ...]:
    """The scenario's and scheme's constants as the tuple of floats the kernels read (without ``sc``, the
    scheme's only: enough for friction). A tuple, not an array: kernels pass it to helpers for free."""
    return _by_identity(_CONSTANTS, (sc, rules), lambda: tuple(float(x) for x in _constants(sc, rules)))


def with_promotion(c: tuple[float, ...], rules: Rules | None, day: int) -> tuple[float, ...]:
    """The constants with the day's bonus-points multiplier in the earn rate members anticipate: a
    promotion is advertised, so on its days the card is worth more to shop with (joining still weighs
    the usual rate)."""
    if rules is None or rules.scheme.points is None or not rules.scheme.points.promotions:
        return c
    bonus = rules.earn_multiplier(day)
    if bonus == 1.0:
        return c
    k = kernels.C_EARN_PER_UNIT
    return c[:k] + (c[k] * bonus,) + c[k + 1:]


def _constants(sc: Scenario | None, rules: Rules | None) -> np.ndarray:
    K = kernels
    c = np.zeros(K.N_CONSTANTS)
    if sc is not None:
        b = sc.behaviour
        c[K.C_HABIT_WEIGHT], c[K.C_PRICE_ADVANTAGE] = b.habit_weight, sc.competition.price_advantage
        c[K.C_COMP_REWARD_RATE], c[K.C_PRICE_WEIGHT] = sc.competition.reward_rate, b.price_weight
        c[K.C_REWARD_WEIGHT], c[K.C_REFERENCE_WEIGHT] = b.reward_weight, b.reference_weight
        c[K.C_REWARDED_WEIGHT] = b.rewarded_weight
        c[K.C_WELFARE_OUTCOME_FLOOR] = b.welfare_outcome_floor
        c[K.C_FRICTION_WEIGHT] = b.friction_weight
        c[K.C_STATUS_WEIGHT] = b.status_weight
    if rules is None:
        return c
    s = rules.scheme
    gg = s.goal_gradient
    c[K.C_GG_STRENGTH], c[K.C_GG_ACCELERATION], c[K.C_GG_CURVATURE] = gg.strength, gg.acceleration, gg.curvature
    c[K.C_FRICTION_PER_VISIT] = s.enrolment.friction_per_visit
    c[K.C_CARD_SKIP_SCALE] = 1.0 / s.enrolment.card_skip_friction_share
    c[K.C_APP_RELIEF], c[K.C_APP_BIT] = s.data.app_friction_relief, CONSENT_BIT["app"]
    if s.points is not None:
        c[K.C_HAS_POINTS], c[K.C_EARN_PER_UNIT] = 1, s.points.earn_per_unit
        c[K.C_HAS_CAT_MULT] = rules.has_category_multipliers
    if s.stamps is not None:
        st = s.stamps
        c[K.C_HAS_STAMPS], c[K.C_STAMP_REQUIRED] = 1, st.required
        c[K.C_STAMP_PERCEIVED] = st.reward.face_value * st.reward.perceived_ratio
        c[K.C_STAMP_WORTH] = c[K.C_STAMP_PERCEIVED]
        c[K.C_STAMP_LEFT], c[K.C_STAMP_MIN_SPEND] = st.required - st.prefilled, st.min_spend
    if s.membership is not None:
        c[K.C_HAS_MEMBERSHIP], c[K.C_MEMBERSHIP_MULT] = 1, s.membership.earn_multiplier
    if s.member_pricing is not None:
        mp = s.member_pricing
        c[K.C_HAS_MEMBER_PRICING], c[K.C_MP_SHARE], c[K.C_MP_DISCOUNT] = 1, mp.share_of_range, mp.discount
        c[K.C_MP_SKIP_KEPT] = mp.card_skips_kept
    if s.tiers is not None:
        c[K.C_HAS_TIERS] = 1
    if s.offers is not None:
        c[K.C_HAS_OFFERS], c[K.C_OFFER_SAVING] = 1, s.offers.discount * s.offers.expected_basket_share
        c[K.C_OFFER_BASKET_SHARE] = s.offers.expected_basket_share
        c[K.C_OFFER_BASE], c[K.C_OFFER_SLOPE] = s.offers.base_redemption, s.offers.max_redemption - s.offers.base_redemption
    return c


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def progress(mem: MemberState, rules: Rules, idx: np.ndarray) -> np.ndarray:
    """Progress (0-1) toward the next reward of customers ``idx`` (0 for non-members)."""
    p = np.zeros(idx.size, np.float32)
    if rules.scheme.points is not None:
        need = rules.reward_points[mem.goal[idx]]
        p = np.minimum(mem.points[idx] / need, 1.0).astype(np.float32)
    if rules.scheme.stamps is not None:
        st = rules.scheme.stamps
        p = np.maximum(p, mem.stamps[idx] / st.required).astype(np.float32)
    return np.where(mem.active[idx], p, 0.0).astype(np.float32)


def pull(pop: Population, mem: MemberState, rules: Rules, idx: np.ndarray) -> np.ndarray:
    """Goal-gradient pull (0-1) of members ``idx``: progress ** curvature, scaled by how much the
    reward is worth against a typical basket (a worthless reward pulls nobody)."""
    gg = rules.scheme.goal_gradient
    worth = np.zeros(idx.size)
    if rules.scheme.points is not None:
        worth = rules.reward_perceived[mem.goal[idx]]
    if rules.scheme.stamps is not None:
        st = rules.scheme.stamps.reward
        worth = np.maximum(worth, st.face_value * st.perceived_ratio)
    scale = np.minimum(worth / pop.mean_basket[idx], 1.0)
    return progress(mem, rules, idx) ** gg.curvature * scale


def reward_rate(pop: Population, mem: MemberState, rules: Rules, idx: np.ndarray,
                goal: np.ndarray | None = None, bonus: float = 1.0) -> np.ndarray:
    """Expected perceived reward value per unit of spend for customers ``idx`` if members (``bonus``: the
    day's bonus-points multiplier, where the rate is anticipated on a promotion's day)."""
    s = rules.scheme
    rate = np.zeros(idx.size)
    if s.points is not None:
        goal = mem.goal[idx] if goal is None else goal
        value_per_point = rules.reward_perceived[goal] / rules.reward_points[goal]
        mult = rules.tier_mult[mem.tier[idx]]
        if rules.has_category_multipliers:
            mult = mult * rules.category_dot(pop.categories[idx])
        if s.membership is not None:
            mult = mult * s.membership.earn_multiplier
        rate += (s.points.earn_per_unit * bonus) * mult * value_per_point
    if s.stamps is not None:
        st = s.stamps
        perceived = st.reward.face_value * st.reward.perceived_ratio
        rate += perceived / ((st.required - st.prefilled) * np.maximum(pop.mean_basket[idx], st.min_spend))
    return rate


def felt_value(sc: Scenario, mem: MemberState, idx: np.ndarray) -> np.ndarray:
    """How members ``idx`` feel about the scheme's recent value against their reference, -1 to 1 (the
    ``recent`` column holds it, refreshed weekly): tanh of the gap between the value share of spend the
    scheme has given them lately and the share they have come to expect, a shortfall weighing
    ``loss_aversion`` times an equal gain, in units of ``reference_scale``. Zero while the scheme gives
    what they expect, whatever that is: the anticipated value is in store choice already, this is the
    reaction to a change. Zero for non-members."""
    b = sc.behaviour
    felt = np.tanh(kernels.felt_value_numpy(b.loss_aversion, b.reference_scale, mem.value_ema[idx],
                                            mem.spend_ema[idx], mem.reference[idx]))
    return np.where(mem.member[idx], felt, 0.0)


def friction_share(pop: Population, mem: MemberState, rules: Rules, idx: np.ndarray) -> np.ndarray:
    """Cost of using the card per trip, as a share of the basket, as the customer feels it."""
    return kernels.friction_share_numpy(kernel_constants(None, rules), mem.consent[idx], pop.time_poor[idx],
                                        pop.experience[idx], pop.mean_basket[idx])


def needs(pop: Population, shop: ShopperState, mem: MemberState | None, rules: Rules | None,
          draws: DailyDraws, weekday: int) -> np.ndarray:
    """Customers with a shopping need today (goal-gradient acceleration for members near a reward): the
    chance is the customer's rate on this weekday in this week's season, none while away for a spell."""
    p = pop.need_by_weekday[weekday]
    if mem is not None and rules.scheme.goal_gradient.acceleration > 0:
        members = np.flatnonzero(mem.active)
        gg = rules.scheme.goal_gradient
        boost = 1.0 + gg.acceleration * pop.reward_seeking[members] * pull(pop, mem, rules, members)
        p = p.copy()
        p[members] *= boost
    return np.flatnonzero((draws.need[:] < p) & shop.alive)


def choose_store(sc: Scenario, pop: Population, shop: ShopperState, mem: MemberState | None,
                 rules: Rules | None, draws: DailyDraws, idx: np.ndarray, day: int,
                 surplus: np.ndarray | None = None) -> np.ndarray:
    """Of the customers with a need, those who shop here rather than at the competition; members' choice
    surplus from the scheme added to ``surplus`` by segment if given (:func:`choice_surplus`)."""
    b, comp = sc.behaviour, sc.competition
    u = (pop.preference[idx] + b.habit_weight * shop.habit[idx]
         - b.price_weight * pop.outcome[idx] * comp.price_advantage
         - b.reward_weight * pop.reward_seeking[idx] * comp.reward_rate)
    if mem is not None:
        m = mem.active[idx]  # members using the card: a dormant member shops as a non-member
        sub = idx[m]
        s = rules.scheme
        add = b.reward_weight * pop.reward_seeking[sub] * reward_rate(pop, mem, rules, sub, bonus=rules.earn_multiplier(day))
        add += b.reference_weight * mem.recent[sub]  # felt_value, as refreshed at the week's update
        gg = s.goal_gradient
        add += gg.strength * pop.reward_seeking[sub] * pull(pop, mem, rules, sub)
        if s.member_pricing is not None:
            add += b.price_weight * pop.outcome[sub] * s.member_pricing.share_of_range * s.member_pricing.discount
        if s.tiers is not None:
            add += b.status_weight * pop.belonging[sub] * rules.tier_status_share[mem.tier[sub]]
        if s.offers is not None:
            live = mem.offer_until[sub] >= day
            o = s.offers
            saving = o.discount * o.expected_basket_share  # the saving a live offer promises
            # ... times the chance it is used on this trip (it fits the basket as well as the business
            # knows the member): what the member can expect from the trip, no more.
            use = np.float32(o.base_redemption) + np.float32(o.max_redemption - o.base_redemption) * mem.acc_what[sub]
            add += np.where(live, b.price_weight * pop.outcome[sub] * saving * use, 0.0)
        # Rewarded behaviour: a reward in hand draws a reward-seeking member back (Taylor and Neslin, 2005).
        add += b.rewarded_weight * pop.reward_seeking[sub] * np.minimum(mem.vouchers[sub] / pop.mean_basket[sub], 1.0)
        add -= b.friction_weight * friction_share(pop, mem, rules, sub)
        if mem.extra_utility.size:
            add += mem.extra_utility[sub]
        if surplus is not None and surplus.size:
            np.add.at(surplus, pop.segment[sub], choice_surplus(sc, pop, sub, u[m], add))
        u[m] = (u[m].astype(np.float64) + add).astype(np.float32)
    here = draws.choice[idx] < sigmoid(u)
    shop.needs[idx] += 1
    # Habit: an exponential memory of where needs went, with time constant habit_memory_days.
    alpha = 1.0 - np.exp(-1.0 / np.maximum(b.habit_memory_days * pop.need_rate[idx], 1.0))
    shop.habit[idx] += (alpha * (here - shop.habit[idx])).astype(np.float32)
    return idx[here]


def choice_surplus(sc: Scenario, pop: Population, idx: np.ndarray, base: np.ndarray, add: np.ndarray) -> np.ndarray:
    """What the scheme's terms in store choice are worth to members ``idx`` on today's shopping need, in
    money: the logit log-sum (expected maximum utility of here against elsewhere) with the scheme's terms
    ``add`` on top of their utility ``base`` less the log-sum without them, over the member's utility of
    a unit of money (price_weight x outcome motivation, at least welfare_outcome_floor, per unit of their
    usual basket). Unlike the rewards paid, it counts what members give up when they shop at a store they
    like less in order to collect (Train, Discrete Choice Methods, 2009, ch. 3.5: consumer surplus in
    logit models)."""
    b = sc.behaviour
    base = base.astype(np.float32)
    full = (base.astype(np.float64) + add).astype(np.float32)
    # log(1 + e^full) - log(1 + e^base), as log(1 + p_base (e^(full - base) - 1)) in float32; far out
    # (where float32's exponentials would overflow) the log-sums in float64.
    d = full - base
    fast = (np.abs(d) <= kernels.SURPLUS_FAST_LIMIT) & (np.abs(base) <= kernels.SURPLUS_FAST_LIMIT)
    with np.errstate(over="ignore", invalid="ignore"):
        p_base = np.float32(1.0) / (np.float32(1.0) + np.exp(-base))
        quick = np.log1p(p_base * np.expm1(d)).astype(np.float64)
    slow = np.logaddexp(0.0, full.astype(np.float64)) - np.logaddexp(0.0, base.astype(np.float64))
    gain = np.where(fast, quick, slow)
    per_money = b.price_weight * np.maximum(pop.outcome[idx], np.float32(b.welfare_outcome_floor)).astype(np.float64)
    return gain / (per_money / pop.mean_basket[idx].astype(np.float64))


def draw_baskets(pop: Population, draws: DailyDraws, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """The log of the basket value, category split, own-label share and hour band for shoppers ``idx``,
    float32.

    The log value is normal around the customer's ``basket_mu`` (the value lognormal), except that with
    chance ``small_share`` the trip is a small top-up shop, its log value shifted by ``small_shift``: a
    mixture of two normals with the same sd. The component and the normal come from one uniform: below
    the share a small shop, and the uniform rescaled within its part.

    The split is half the customer's mix and half one category drawn from it, so each trip is noisy
    but its expectation is the true mix; likewise the own-label share.
    """
    log_value = basket_log_values(pop, draws.basket_value[idx], idx)
    mix = pop.categories[idx]
    cat = _inverse_cdf(mix, draws.basket_category[idx])
    split = 0.5 * mix
    split[np.arange(idx.size), cat] += 0.5
    pref = pop.own_label[idx]
    own = 0.5 * pref + 0.5 * (draws.basket_brand[idx] < pref)
    band = _inverse_cdf(pop.hours[idx], draws.hour[idx])
    return log_value, split, own.astype(np.float32), band


def basket_log_values(pop: Population, u: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Log basket values of customers ``idx`` from their float32 uniforms ``u`` (:func:`draw_baskets`)."""
    uv = np.clip(u, kernels.U_LO, kernels.U_HI)
    w = pop.small_share[idx]
    small = uv < w
    # u / w in the small part, (u - w) / (1 - w) above it; with w = 0 that is u / 1, exactly u.
    rescaled = np.clip(np.where(small, uv, uv - w) / np.where(small, w, np.float32(1.0) - w),
                       kernels.U_LO, kernels.U_HI)
    log_value = pop.basket_mu[idx] + pop.basket_sd[idx] * ndtri(rescaled)
    return np.where(small, log_value + pop.small_shift[idx], log_value)


def _inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    cum = np.cumsum(probs, axis=1)
    return np.minimum((u[:, None] * cum[:, -1:] >= cum).sum(axis=1), probs.shape[1] - 1)


def present_card(pop: Population, mem: MemberState, rules: Rules, draws: DailyDraws,
                 idx: np.ndarray) -> np.ndarray:
    """Whether each shopper presents a card (members only): unlinked spend earns and teaches nothing."""
    linked = np.empty(idx.size, bool)
    kernels.present_card(kernel_constants(None, rules), idx, draws.card.bits, rules.scheme.enrolment.card_presentation,
                         rules.scheme.member_pricing is not None, mem.active, mem.consent, pop.time_poor,
                         pop.experience, pop.mean_basket, linked)
    return linked
