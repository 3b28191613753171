"""Membership over time: joining (with consent), fees, daily member costs and perks, satisfaction,
leaving, consent withdrawal and referrals."""

from __future__ import annotations

import numpy as np

from loyaltysim.engine import kernels
from loyaltysim.engine.behaviour import friction_share, kernel_constants, nonempty, reward_rate, sigmoid
from loyaltysim.engine.mechanics import points as points_mod
from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY, Arm
from loyaltysim.scenario.models import Scenario

VALUE_SCALE = 10.0
"""Expected yearly net value (money) that moves the join logit by value_sensitivity. Assumption."""
PRIVACY_SCALE = 5.0
"""Yearly privacy cost (money) at which a fully concerned customer's consent odds fall by e. Assumption."""
REFERRAL_CONVERSION = 0.3
"""Share of referrals that bring in a member. Assumption."""
CONSENT_WITHDRAWAL_PER_YEAR = 0.2
"""Yearly chance a fully concerned, fully dissatisfied member withdraws consent. Assumption."""
SATISFACTION_EVERY_DAYS = 7


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
        gain += 365 / s.offers.every_days * s.offers.base_redemption * s.offers.discount * pop.mean_basket[idx] * 0.5
    cost = trips * friction_share(pop, arm.mem, rules, idx) * pop.mean_basket[idx]
    privacy = pop.privacy[idx] * (_bits(rules.required_mask) @ rules.privacy_per_day) * 365
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
                            float(_bits(rules.required_mask) @ rules.privacy_per_day), idx, goal, pop.need_rate,
                            pop.mean_basket, arm.shop.habit, arm.mem.tier, arm.mem.consent, pop.time_poor,
                            pop.experience, pop.privacy, pop.categories, rules.cat_mult,
                            nonempty(rules.reward_points, 1.0), nonempty(rules.reward_perceived, 0.0),
                            rules.tier_mult, out)
    return out


def _bits(mask) -> np.ndarray:
    return ((np.asarray(mask, np.uint8)[..., None] >> np.arange(4, dtype=np.uint8)) & 1).astype(np.float64)


def join(sc: Scenario, pop: Population, arm: Arm, draws: DailyDraws, shoppers: np.ndarray, day: int) -> None:
    """Non-members join: shoppers at the till by expected value, and anyone on yesterday's referrals."""
    mem, s = arm.mem, arm.rules.scheme
    en = s.enrolment
    p_till = np.zeros(shoppers.size)
    if en.join_rate_per_visit > 0:
        at_till = np.flatnonzero(~mem.member[shoppers])
        c = shoppers[at_till]
        base = np.log(en.join_rate_per_visit / max(1 - en.join_rate_per_visit, 1e-12))
        z = base + en.value_sensitivity * expected_value_compiled(sc, pop, arm, c) / VALUE_SCALE
        p_till[at_till] = sigmoid(z)
    p_ref = 0.0
    if arm.referrals > 0:
        # Every member is alive: leaving the retailer ends membership.
        nonmembers = np.count_nonzero(arm.shop.alive) - np.count_nonzero(mem.member)
        p_ref = min(1.0, REFERRAL_CONVERSION * arm.referrals / max(nonmembers, 1))
    out = np.empty(pop.n, np.intp)
    k = kernels.join_draws(mem.member, arm.shop.alive, shoppers, p_till, p_ref, draws.join.bits, out)
    enrol(pop, arm, out[:k].copy(), day)


def enrol(pop: Population, arm: Arm, idx: np.ndarray, day: int) -> None:
    """Make ``idx`` members: consent (required sources always, optional ones by privacy), goal, fee."""
    if idx.size == 0:  # most days of a small population
        return
    mem, rules = arm.mem, arm.rules
    s = rules.scheme
    mem.member[idx] = True
    mem.ever_joined[idx] = True
    mem.join_day[idx] = day
    consent = np.full(idx.size, rules.required_mask, np.uint8)
    yearly = rules.privacy_per_day * 365
    for k, (name, bit) in enumerate(CONSENT_BIT.items()):
        if (rules.requested_mask & bit) and not (rules.required_mask & bit):
            agree = pop.consent_draw[idx] < np.exp(-pop.privacy[idx] * yearly[k] / PRIVACY_SCALE)
            consent[agree] |= bit
    mem.consent[idx] = consent
    if s.points is not None:
        mem.goal[idx] = points_mod.choose_goals(pop, rules, idx)
    if s.stamps is not None:
        mem.stamps[idx] = s.stamps.prefilled
    mem.tier[idx] = 0
    mem.last_earn[idx] = day
    mem.last_update[idx] = day
    mem.value_ema[idx] = 0
    mem.spend_ema[idx] = 0
    mem.recent[idx] = 0  # the recent value of no value
    told = (consent & CONSENT_BIT["demographics"]) > 0
    mem.family_told[idx[told]] = pop.household[idx[told]]
    arm.ledger.add("joins", idx, 1.0)
    if s.membership is not None:
        _charge(arm, idx, s.membership.fee)


def _charge(arm: Arm, idx: np.ndarray, fee: float) -> None:
    arm.ledger.add("fee_revenue", idx, fee)
    arm.ledger.add("fees_paid", idx, fee)
    arm.net_value[idx] -= fee


def daily_member_flows(sc: Scenario, pop: Population, arm: Arm, members: np.ndarray, day: int) -> None:
    """Per-member daily costs and values: operations, renewal fees, perks, privacy."""
    rules, mem, led = arm.rules, arm.mem, arm.ledger
    s = rules.scheme
    S = led.n_segments
    operating, seg_members = np.zeros(S), np.zeros(S, np.int64)
    kernels.operating_costs(members, pop.segment, s.costs.per_member_per_year / 365, operating, seg_members)
    led.add_by_segment("operating_cost", operating)
    if s.costs.fixed_per_year > 0:
        seg_members = seg_members.astype(float)
        if seg_members.sum() == 0:  # before anyone joins, the fixed cost falls on the customer base
            seg_members = np.bincount(pop.segment, minlength=S).astype(float)
        led.add_by_segment("operating_cost", s.costs.fixed_per_year / 365 * seg_members / seg_members.sum())
    if s.membership is not None:
        m = s.membership
        renew = members[((day - mem.join_day[members]) % m.period_days == 0) & (mem.join_day[members] < day)]
        _charge(arm, renew, m.fee)
        conv = m.convenience_value_per_day * pop.experience[members]
        led.add("convenience_value", members, conv)
        led.add("operating_cost", members, m.perk_cost_per_day)
        arm.net_value[members] += conv
    privacy = np.zeros(S)
    kernels.privacy_costs(members, pop.segment, mem.consent, pop.privacy, privacy_by_mask(rules), arm.net_value,
                          privacy)
    led.add_by_segment("privacy_cost", privacy)


def privacy_by_mask(rules) -> np.ndarray:
    """Daily privacy cost of a fully concerned member for each consent bitmask (0-15)."""
    return _bits(np.arange(16, dtype=np.uint8)) @ rules.privacy_per_day


def card_effort(pop: Population, arm: Arm, idx: np.ndarray) -> None:
    """Effort of presenting the card, booked as a customer cost for linked trips."""
    effort = np.zeros(arm.ledger.n_segments)
    kernels.card_effort(kernel_constants(None, arm.rules), idx, arm.mem.consent, pop.time_poor, pop.experience,
                        pop.mean_basket, pop.segment, arm.net_value, effort)
    arm.ledger.add_by_segment("effort_cost", effort)


def update_satisfaction(sc: Scenario, arm: Arm, day: int) -> None:
    """Weekly: satisfaction follows recent net value per unit of spend against what members expect."""
    if day % SATISFACTION_EVERY_DAYS != SATISFACTION_EVERY_DAYS - 1:
        return
    mem, b = arm.mem, sc.behaviour
    idx = np.flatnonzero(mem.member)
    a = 1.0 - np.exp(-SATISFACTION_EVERY_DAYS / b.satisfaction_memory_days)
    z = np.empty(idx.size, np.float32)
    kernels.update_value_averages(float(a), SATISFACTION_EVERY_DAYS, b.expected_value_share, idx, arm.net_value,
                                  arm.spend_week, mem.value_ema, mem.spend_ema, mem.recent, z)
    # Satisfaction follows the share of spend the scheme gave back against the expected share.
    mem.satisfaction[idx] = sigmoid(z).astype(np.float32)  # numpy's exp, as before
    arm.net_value[:] = 0
    arm.spend_week[:] = 0


def leave_withdraw_and_refer(pop: Population, arm: Arm, draws: DailyDraws, members: np.ndarray) -> int:
    """Dissatisfied members leave (forfeiting points); privacy-concerned, dissatisfied ones withdraw consent;
    satisfied, belonging-motivated ones refer others. Returns today's referrals (tomorrow's joins feel them)."""
    mem, en = arm.mem, arm.rules.scheme.enrolment
    daily = 1.0 - (1.0 - en.leave_rate_per_year) ** (1 / 365)
    leavers, withdrawers = np.empty(members.size, np.intp), np.empty(members.size, np.intp)
    n_leave, n_withdraw, n_refer = kernels.member_decisions(
        members, mem.satisfaction, mem.consent, CONSENT_BIT["transactions"], pop.privacy, pop.belonging,
        draws.leave.bits, draws.consent_change.bits, draws.refer.bits, daily, CONSENT_WITHDRAWAL_PER_YEAR / 365,
        en.referral_rate_per_year / 365, leavers, withdrawers)
    leave(arm, leavers[:n_leave])
    if n_withdraw:
        withdraw = withdrawers[:n_withdraw]
        mem.consent[withdraw] = 0
        mem.forget(withdraw)
    return n_refer


def leave(arm: Arm, idx: np.ndarray) -> None:
    """Members ``idx`` leave the scheme: points forfeited, profile deleted, state reset."""
    idx = idx[arm.mem.member[idx]]
    if idx.size == 0:
        return
    mem = arm.mem
    if arm.rules.scheme.points is not None:
        points_mod.forfeit(arm, idx)
    mem.member[idx] = False
    mem.consent[idx] = 0
    mem.tier[idx] = 0
    mem.stamps[idx] = 0
    mem.vouchers[idx] = 0
    mem.offer_until[idx] = NO_DAY
    mem.join_day[idx] = NO_DAY
    mem.forget(idx)
    arm.mem.satisfaction[idx] = 0.5
    arm.ledger.add("leaves", idx, 1.0)
