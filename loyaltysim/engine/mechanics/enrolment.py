"""Enrolment: who hears of the scheme and who joins (by the value they expect, against a lasting taste
and the inertia of signing up), presenting the card, the scheme's running costs, how members feel about
its value against their reference (satisfaction), going dormant and coming back, leaving, consent
withdrawal and referrals. Joining and leaving call every mechanic's own enrol and leave steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine import kernels
from loyaltysim.engine.behaviour import friction_share, kernel_constants, nonempty, reward_rate, sigmoid
from loyaltysim.engine.mechanics import points as points_mod
from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.mechanics.data_collection import bits
from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.engine.rules import Rules
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY
from loyaltysim.scenario.models import Scenario, Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm

SATISFACTION_EVERY_DAYS = 7
"""Members take stock of what the scheme has given them once a week."""


class Enrolment(Mechanic):
    """Every scheme's: the effort of presenting the card, and the scheme's running costs."""

    name = "enrolment"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return True

    def till(self, today: Today, off: np.ndarray) -> None:
        card_effort(self.pop, self.arm, today.trips.card.visits())  # presenting the card costs effort each visit

    def settle(self, today: Today) -> None:
        running_costs(self.pop, self.arm, today.members)

    def changed(self, spec: Scenario, old: Rules, day: int) -> None:
        # How members weigh a shortfall may have changed with the scenario: their felt value is re-measured.
        mem, b = self.arm.mem, spec.behaviour
        kernels.refresh_recent_values(b.loss_aversion, b.reference_scale, np.flatnonzero(mem.member), mem.value_ema,
                                      mem.spend_ema, mem.reference, mem.recent)


def expected_value(sc: Scenario, pop: Population, arm: Arm, idx: np.ndarray, required_only: bool = True) -> np.ndarray:
    """A non-member's expected yearly net value of joining, in money (what joining decisions weigh).

    Value scales with the customer's expected spend here, so heavy buyers expect more: the
    self-selection a naive member vs non-member comparison mistakes for the scheme's effect. This is the
    rule's readable statement; the day runs :func:`expected_value_compiled`, which a test holds to it.
    """
    rules = arm.rules
    s = rules.scheme
    spend = pop.need_rate[idx] * 365 * pop.mean_basket[idx] * arm.shop.habit[idx]
    trips = pop.need_rate[idx] * 365 * arm.shop.habit[idx]
    goal = points_mod.choose_goals(pop, rules, idx) if s.points is not None else None
    gain = spend * reward_rate(pop, arm.mem, rules, idx, goal=goal)
    if s.member_pricing is not None:
        gain += spend * s.member_pricing.share_of_range * s.member_pricing.discount
    if s.offers is not None:
        gain += (365 / s.offers.every_days * s.offers.base_redemption * s.offers.discount * pop.mean_basket[idx]
                 * s.offers.expected_basket_share)
    cost = trips * friction_share(pop, arm.mem, rules, idx) * pop.mean_basket[idx]
    privacy = pop.privacy[idx] * (bits(rules.required_mask) @ rules.privacy_per_day) * 365
    cost += privacy
    if s.membership is not None:
        m = s.membership
        gain += m.convenience_value_per_day * 365 * pop.experience[idx]
        cost += m.fee * 365 / m.period_days
    return gain - cost


def expected_value_compiled(sc: Scenario, pop: Population, arm: Arm, idx: np.ndarray) -> np.ndarray:
    """:func:`expected_value` by a compiled kernel: one pass over the customers instead of a few dozen
    array operations on their gathered columns (same numbers)."""
    rules = arm.rules
    s = rules.scheme
    goal = points_mod.choose_goals(pop, rules, idx) if s.points is not None else np.zeros(idx.size, np.int8)
    offers_gain = 365 / s.offers.every_days * s.offers.base_redemption * s.offers.discount if s.offers else 0.0
    m = s.membership
    membership_gain = m.convenience_value_per_day * 365 if m is not None else 0.0
    membership_cost = m.fee * 365 / m.period_days if m is not None else 0.0
    out = np.empty(idx.size)
    kernels.expected_values(kernel_constants(sc, rules), offers_gain, membership_gain, membership_cost,
                            float(bits(rules.required_mask) @ rules.privacy_per_day), idx, goal, pop.need_rate,
                            pop.mean_basket, arm.shop.habit, arm.mem.tier, arm.mem.consent, pop.time_poor,
                            pop.experience, pop.privacy, pop.categories, rules.cat_mult,
                            nonempty(rules.reward_points, 1.0), nonempty(rules.reward_perceived, 0.0),
                            rules.tier_mult, out)
    return out


def join(sc: Scenario, pop: Population, arm: Arm, draws: DailyDraws, shoppers: np.ndarray, day: int) -> None:
    """Customers hear of the scheme (:func:`become_aware`); aware shoppers for whom joining is worth it
    (:func:`worth_joining`) sign up with chance ``join_rate_per_visit`` a visit; yesterday's referrals
    bring in non-members for whom it is worth it too."""
    mem, s = arm.mem, arm.rules.scheme
    en = s.enrolment
    become_aware(arm, draws, shoppers)
    p_till = np.zeros(shoppers.size)
    if en.join_rate_per_visit > 0:
        at_till = np.flatnonzero(~mem.member[shoppers] & mem.aware[shoppers])
        p_till[at_till] = np.where(worth_joining(sc, pop, arm, shoppers[at_till]), en.join_rate_per_visit, 0.0)
    p_ref = 0.0
    if arm.referrals > 0:
        # Every member is alive: leaving the retailer ends membership.
        nonmembers = np.count_nonzero(arm.shop.alive) - np.count_nonzero(mem.member)
        p_ref = min(1.0, en.referral_conversion * arm.referrals / max(nonmembers, 1))
    out = np.empty(pop.n, np.intp)
    k = kernels.join_draws(mem.member, arm.shop.alive, shoppers, p_till, p_ref, draws.join.bits, out)
    joined = out[:k].copy()
    if p_ref > 0 and joined.size:  # a referral makes a customer aware; they join only if it is worth it
        joined = joined[worth_joining(sc, pop, arm, joined)]
    enrol(sc, pop, arm, joined, day)


def worth_joining(sc: Scenario, pop: Population, arm: Arm, idx: np.ndarray) -> np.ndarray:
    """Whether joining beats not joining for customers ``idx``: the deal they expect, as a share of what
    they spend here (expected yearly net value over expected yearly spend: "1% back", less effort,
    privacy and any fee, which weigh more on a light buyer), in logit units of value_sensitivity per
    value_scale, plus the customer's lasting taste for schemes (a standard logistic draw, the same all
    run), above the join threshold (the effort of signing up and of carrying a card). A scheme worth
    nothing is joined by the few whose taste alone clears the threshold.

    The deal is judged as a share of spend, as members later judge what they get against their reference
    (:func:`enrol`): heavy buyers are not drawn by a bigger sum for the same rate, they meet the offer
    more often (every visit is a chance to join), which is how they come to enrol earlier (Meyer-Waarden
    and Benavent 2009) without the naive gap outgrowing the causal effect more than the seven times
    Leenheer et al. (2007) measured."""
    en = arm.rules.scheme.enrolment
    z = en.value_sensitivity * expected_share(sc, pop, arm, idx) / en.value_scale + pop.join_taste[idx]
    return z > en.join_threshold


def expected_share(sc: Scenario, pop: Population, arm: Arm, idx: np.ndarray) -> np.ndarray:
    """Customers ``idx``'s expected yearly net value of joining over their expected yearly spend here."""
    spend = 365.0 * pop.need_rate[idx].astype(np.float64) * pop.mean_basket[idx] * arm.shop.habit[idx]
    return expected_value_compiled(sc, pop, arm, idx) / np.maximum(spend, 1e-9)


def become_aware(arm: Arm, draws: DailyDraws, shoppers: np.ndarray) -> None:
    """Customers hear of the scheme: each shopper not yet aware with chance ``awareness_per_visit`` (and
    marketing's daily share on top), everyone else with marketing's daily share alone, from one draw."""
    mem, en = arm.mem, arm.rules.scheme.enrolment
    daily = 1.0 - (1.0 - en.awareness_per_year) ** (1 / 365)
    if daily > 0:
        mem.aware |= np.asarray(draws.aware) < daily
    unaware = shoppers[~mem.aware[shoppers]]
    p_visit = 1.0 - (1.0 - en.awareness_per_visit) * (1.0 - daily)
    mem.aware[unaware[draws.aware[unaware] < p_visit]] = True


def enrol(sc: Scenario, pop: Population, arm: Arm, idx: np.ndarray, day: int) -> None:
    """Make ``idx`` members: the shared columns here, then each mechanic's own (consent, goal, fee...).

    A new member's reference is the value share of spend they expected on joining (the expected yearly
    net value over expected spend, what comes with the card on the visits they would present it), and
    their recent value and spend start there: the scheme then disappoints or pleases them only by what
    it actually gives."""
    if idx.size == 0:  # most days of a small population
        return
    mem, s = arm.mem, arm.rules.scheme
    spend_day = pop.need_rate[idx] * pop.mean_basket[idx] * arm.shop.habit[idx]
    # What comes with presenting the card is expected on the visits it is presented; fees and the
    # privacy of required data come whatever.
    fixed = pop.privacy[idx] * (bits(arm.rules.required_mask) @ arm.rules.privacy_per_day) * 365
    if s.membership is not None:
        fixed = fixed + s.membership.fee * 365 / s.membership.period_days
    expected = (expected_value_compiled(sc, pop, arm, idx) + fixed) * s.enrolment.card_presentation - fixed
    share = expected / np.maximum(365.0 * spend_day, 1e-9)
    mem.member[idx] = True
    mem.active[idx] = True
    mem.dormant[idx] = False
    mem.aware[idx] = True
    mem.ever_joined[idx] = True
    mem.join_day[idx] = day
    mem.last_earn[idx] = day
    mem.last_update[idx] = day
    mem.spend_ema[idx] = spend_day
    mem.value_ema[idx] = spend_day * share
    mem.reference[idx] = share
    mem.recent[idx] = 0  # the scheme is as expected until it shows otherwise
    for m in arm.mechanics:
        m.enrol(idx, day)
    arm.ledger.add("joins", idx, 1.0)


def running_costs(pop: Population, arm: Arm, members: np.ndarray) -> None:
    """A day's operating costs: per member, and the fixed cost shared over members by segment."""
    costs, led = arm.rules.scheme.costs, arm.ledger
    S = led.n_segments
    operating, seg_members = np.zeros(S), np.zeros(S, np.int64)
    kernels.operating_costs(members, pop.segment, costs.per_member_per_year / 365, operating, seg_members)
    led.add_by_segment("operating_cost", operating)
    if costs.fixed_per_year > 0:
        seg_members = seg_members.astype(float)
        if seg_members.sum() == 0:  # before anyone joins, the fixed cost falls on the customer base
            seg_members = np.bincount(pop.segment, minlength=S).astype(float)
        led.add_by_segment("operating_cost", costs.fixed_per_year / 365 * seg_members / seg_members.sum())


def card_effort(pop: Population, arm: Arm, idx: np.ndarray) -> None:
    """Effort of presenting the card, booked as a customer cost for linked trips."""
    effort = np.zeros(arm.ledger.n_segments)
    kernels.card_effort(kernel_constants(None, arm.rules), idx, arm.mem.consent, pop.time_poor, pop.experience,
                        pop.mean_basket, pop.segment, arm.net_value, effort)
    arm.ledger.add_by_segment("effort_cost", effort)


def update_satisfaction(sc: Scenario, arm: Arm, draws: DailyDraws, day: int) -> None:
    """Weekly: members using the card weigh the scheme's recent value share of spend against their
    reference (a shortfall weighing loss_aversion times a gain); satisfaction follows that felt value,
    and the reference adapts toward what they got (and what rivals give). A dormant member's stays as
    it was when they stopped using the card, and an away member's as it was when they went away."""
    if day % SATISFACTION_EVERY_DAYS != SATISFACTION_EVERY_DAYS - 1:
        return
    mem, b = arm.mem, sc.behaviour
    # A member away this week (engine.dynamics) shopped nowhere: there is nothing to judge the scheme by.
    away = arm.pop.away
    idx = np.flatnonzero(mem.active if away is None else mem.active & ~away)
    a = 1.0 - np.exp(-SATISFACTION_EVERY_DAYS / b.satisfaction_memory_days)
    r = 1.0 - np.exp(-SATISFACTION_EVERY_DAYS / b.reference_memory_days)
    z = np.empty(idx.size, np.float32)
    kernels.update_value_averages(float(a), float(r), SATISFACTION_EVERY_DAYS, b.loss_aversion, b.reference_scale,
                                  sc.competition.reward_rate, b.rival_reference_weight, day, mem.join_day, idx, arm.net_value,
                                  arm.spend_week, mem.value_ema, mem.spend_ema, mem.reference, mem.recent, z)
    mem.satisfaction[idx] = sigmoid(z).astype(np.float32)  # numpy's exp, as before
    # The week's value against the reference, in money: the felt gap (z = 2 x felt) without loss aversion.
    gap = z.astype(np.float64) / 2 * b.reference_scale
    gap = np.where(gap < 0, gap / b.loss_aversion, gap) * mem.spend_ema[idx] * SATISFACTION_EVERY_DAYS
    arm.ledger.add("value_above_reference", idx, np.maximum(gap, 0.0))
    arm.ledger.add("value_below_reference", idx, np.maximum(-gap, 0.0))
    arm.net_value[:] = 0
    arm.spend_week[:] = 0
    go_dormant_or_return(arm, draws)


def go_dormant_or_return(arm: Arm, draws: DailyDraws) -> None:
    """Weekly: members using the card stop presenting it (go dormant) with a chance that rises as
    satisfaction falls; dormant members come back with a chance that rises with it."""
    mem, en = arm.mem, arm.rules.scheme.enrolment
    if en.dormancy_per_year <= 0 and not mem.dormant.any():
        return
    week = SATISFACTION_EVERY_DAYS / 365
    members = np.flatnonzero(mem.member)
    sat = mem.satisfaction[members]
    u = draws.dormancy[members]
    dormant = mem.dormant[members]
    stop = ~dormant & (u < (1.0 - (1.0 - en.dormancy_per_year) ** week) * 2 * (1 - sat))
    back = dormant & (u < (1.0 - (1.0 - en.reactivation_per_year) ** week) * 2 * sat)
    flip = members[stop | back]
    mem.dormant[flip] = ~mem.dormant[flip]
    mem.active[flip] = ~mem.dormant[flip]
    arm.ledger.add("went_dormant", members[stop], 1.0)


def leave_withdraw_and_refer(pop: Population, arm: Arm, draws: DailyDraws, members: np.ndarray) -> int:
    """Dissatisfied members leave (forfeiting points); privacy-concerned, dissatisfied ones withdraw consent
    (which ends membership when the scheme requires a consent); satisfied, belonging-motivated ones refer others. Returns today's referrals (tomorrow's joins feel them)."""
    mem, en = arm.mem, arm.rules.scheme.enrolment
    daily = 1.0 - (1.0 - en.leave_rate_per_year) ** (1 / 365)
    leavers, withdrawers = np.empty(members.size, np.intp), np.empty(members.size, np.intp)
    n_leave, n_withdraw, n_refer = kernels.member_decisions(
        members, mem.satisfaction, mem.consent, CONSENT_BIT["transactions"], pop.privacy, pop.belonging,
        draws.leave.bits, draws.consent_change.bits, draws.refer.bits, daily, arm.rules.scheme.data.consent_withdrawal_per_year / 365,
        en.referral_rate_per_year / 365, leavers, withdrawers)
    leave(arm, leavers[:n_leave])
    if n_withdraw:
        withdraw = withdrawers[:n_withdraw]
        if arm.rules.required_mask:  # membership needs the consent withdrawn: it ends with it
            leave(arm, withdraw)
        else:
            mem.consent[withdraw] = 0
            mem.forget(withdraw)
    return n_refer


def leave(arm: Arm, idx: np.ndarray) -> None:
    """Members ``idx`` leave the scheme: each mechanic closes its state (points are forfeited), then the
    profile is deleted and the shared columns reset."""
    idx = idx[arm.mem.member[idx]]
    if idx.size == 0:
        return
    for m in arm.mechanics:
        m.leave(idx)
    mem = arm.mem
    mem.member[idx] = False
    mem.active[idx] = False
    mem.dormant[idx] = False
    mem.consent[idx] = 0
    mem.vouchers[idx] = 0
    mem.join_day[idx] = NO_DAY
    mem.forget(idx)
    arm.mem.satisfaction[idx] = 0.5
    arm.ledger.add("leaves", idx, 1.0)
