"""Points: earning (with tier, category, promotion and membership multipliers), partner earn, goals and
redemption from the catalogue, and forfeiture when a member leaves (expiry is :mod:`.expiry`).

Points are whole numbers, so conservation is exact: issued = redeemed + expired + outstanding.
With age expiry, balances are kept in a ring of earning periods and redeemed oldest first.
"""

from __future__ import annotations

import numpy as np

from typing import TYPE_CHECKING

from loyaltysim.engine import kernels
from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.engine.rules import Rules
from loyaltysim.scenario.models import Scenario, Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm



PARTNER_EVERY_DAYS = 30
"""Partner (coalition) points are credited monthly."""
REDEMPTION_SUMS = ("points_redeemed", "rewards_redeemed", "reward_cost", "reward_value")
"""Ledger rows booked by kernels.redeem_rewards, in its order."""


def choose_goals(pop: Population, rules: Rules, idx: np.ndarray) -> np.ndarray:
    """The reward each customer works toward: best perceived value per point for their motivations.

    Experiences appeal to belonging and experience motivations, vouchers to outcome (assumption).
    """
    if rules.reward_points.size <= 1:  # one reward (or none): nothing to choose between
        return np.zeros(idx.size, np.int8)
    appeal = np.where(rules.reward_kind[None, :] == 2,
                      0.5 + 0.5 * (pop.belonging[idx] + pop.experience[idx])[:, None],
                      np.where(rules.reward_kind[None, :] == 0, 0.5 + pop.outcome[idx][:, None], 1.0))
    score = appeal * rules.reward_perceived / rules.reward_points
    return np.argmax(score, axis=1).astype(np.int8)


def bucket_of(rules: Rules, day: int) -> int:
    """The slot of the age ring that points earned on ``day`` go into."""
    return (day // rules.bucket_days) % rules.n_buckets


def worth(arm: Arm, idx: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """What ``pts`` points are worth to members ``idx`` as they see them: at the perceived value per point
    of the reward each works toward."""
    rules = arm.rules
    goal = arm.mem.goal[idx]
    return pts * (rules.reward_perceived[goal] / rules.reward_points[goal])


def credit(arm: Arm, idx: np.ndarray, pts: np.ndarray, day: int) -> None:
    """Add whole points to members ``idx`` (unique) and book them as issued. Members count points as
    value as they collect them (Stourm, Bradlow and Fader, 2015: points are a currency of their own), so
    their worth is added to what the scheme has given each member lately when earned, not when redeemed."""
    if arm.rules.reward_points.size:
        arm.net_value[idx] += worth(arm, idx, pts)
    mem, rules, led = arm.mem, arm.rules, arm.ledger
    issued = np.zeros(led.n_segments)
    kernels.credit_points(day, bucket_of(rules, day) if rules.n_buckets else -1, idx, pts.astype(np.int32, copy=False),
                          mem.points, mem.buckets, mem.last_earn, led.segment, issued)
    led.add_by_segment("points_issued", issued)


def earn(arm: Arm, pop: Population, idx: np.ndarray, value: np.ndarray, split: np.ndarray, day: int) -> None:
    """Points for linked baskets of members ``idx``."""
    rules, mem = arm.rules, arm.mem
    s = rules.scheme
    pts = np.empty(idx.size, np.int32)
    kernels.earned_points(idx, value, rules.category_dot(split), mem.tier, rules.tier_mult, rules.earn_multiplier(day),
                          s.membership.earn_multiplier if s.membership is not None else 1.0,  # times 1: exact
                          s.points.earn_per_unit, pts)
    credit(arm, idx, pts, day)


def partner_earn(arm: Arm, day: int) -> None:
    """Monthly partner points for every member (coalition schemes); partners pay per point."""
    p = arm.rules.scheme.points
    if p.partner_points_per_year <= 0 or day % PARTNER_EVERY_DAYS != 0 or day == 0:
        return
    idx = np.flatnonzero(arm.mem.member)
    pts = np.full(idx.size, int(round(p.partner_points_per_year * PARTNER_EVERY_DAYS / 365)), np.int32)
    credit(arm, idx, pts, day)
    arm.ledger.add("partner_revenue", idx, pts * p.partner_pays_per_point)


def redeem(arm: Arm, pop: Population, draws: DailyDraws, candidates: np.ndarray | None, day: int,
           at_till: bool) -> None:
    """Turn points into rewards for members among ``candidates`` (None: every member) who reach their goal.

    Auto redemption converts at the threshold wherever points were credited; manual redemption happens
    only at the till, with a chance per visit that friction lowers for the time-poor, and costs effort.
    """
    rules, mem = arm.rules, arm.mem
    red = rules.scheme.points.redemption
    if red.mode == "manual" and not at_till:
        return
    if candidates is None:
        # Every member is a candidate: one pass finds the few whose balance reached their goal.
        out = np.empty(mem.member.size, np.intp)
        idx = out[:kernels.redeemable(mem.member, mem.points, mem.goal, rules.reward_points, out)]
    else:
        need = rules.reward_points[mem.goal[candidates]]
        ok = mem.member[candidates] & (mem.points[candidates] >= need)
        if red.mode == "manual":
            feel = np.where(pop.time_poor[candidates], 1.0, 0.3)
            ok &= draws.redeem[candidates] < red.manual_rate_per_visit * (1.0 - 0.5 * feel * pop.experience[candidates])
        idx = candidates[ok]
    if idx.size == 0:
        return
    led = arm.ledger
    sums = np.zeros((len(REDEMPTION_SUMS), led.n_segments))
    kernels.redeem_rewards(bucket_of(rules, day) if rules.n_buckets else -1, idx, mem.goal, mem.points, mem.buckets,
                           mem.vouchers, led.segment, rules.reward_points, rules.reward_face,
                           rules.reward_cost, rules.reward_perceived, rules.reward_kind, sums)
    for name, row in zip(REDEMPTION_SUMS, sums):
        led.add_by_segment(name, row)
    if red.mode == "manual":
        effort = red.effort_cost * np.where(pop.time_poor[idx], 1.0, 0.3)
        led.add("effort_cost", idx, effort)
        arm.net_value[idx] -= effort


def forfeit(arm: Arm, idx: np.ndarray) -> None:
    """All points of ``idx`` expire (inactivity, leaving the scheme): a loss of what they were worth."""
    mem = arm.mem
    amount = mem.points[idx].copy()
    if arm.rules.reward_points.size:
        arm.net_value[idx] -= worth(arm, idx, amount)
    arm.ledger.add("points_expired", idx, amount.astype(np.float64))
    mem.points[idx] = 0
    if mem.buckets.shape[1]:
        mem.buckets[idx] = 0


class Points(Mechanic):
    """Points on linked spend, monthly partner points, and rewards when a member's goal is reached."""

    name = "points"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.points is not None

    def enrol(self, idx: np.ndarray, day: int) -> None:
        self.arm.mem.goal[idx] = choose_goals(self.pop, self.arm.rules, idx)

    def leave(self, idx: np.ndarray) -> None:
        forfeit(self.arm, idx)

    def settle(self, today: Today) -> None:
        arm, card, day = self.arm, today.trips.card, today.day
        manual = arm.rules.scheme.points.redemption.mode == "manual"
        earn(arm, self.pop, card.idx, card.value, card.split, day)
        partner_earn(arm, day)
        redeem(arm, self.pop, today.draws, card.idx if manual else None, day, at_till=manual)

    def changed(self, spec: Scenario, old: Rules, day: int) -> None:
        members = np.flatnonzero(self.arm.mem.member)
        self.arm.mem.goal[members] = choose_goals(self.pop, self.arm.rules, members)
