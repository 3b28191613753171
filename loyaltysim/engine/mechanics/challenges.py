"""Personalised challenges: spend a target in one category within a few days for bonus points or a voucher.

Every ``every_days`` each member who consents to transaction profiling gets a challenge on the category
the business believes they buy most, with a target a stretch on what it believes they spend there (its
observed spend in that category per day since joining, times the window): both from the business's
data, never the member's true habits, so a badly known member gets a badly aimed challenge. An open
challenge pulls the member to shop here (more for reward seekers and for bonuses worth more against
their usual basket); card-presented spend in the category counts toward it, and the bonus is paid the day
the target is reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine.mechanics import points
from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.population import Population
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY
from loyaltysim.scenario.models import Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm

MIN_OBSERVED_DAYS = 7
"""Observed spend is spread over at least this many days, so a member who joined yesterday is not
believed to spend a whole basket in the category every day."""


class Challenges(Mechanic):
    """Each member's open challenge: its category, last day, target and progress (own columns)."""

    name = "challenges"

    def __init__(self, arm: "SchemeArm", pop: Population) -> None:
        super().__init__(arm, pop)
        n = pop.n
        self.category = np.zeros(n, np.int8)
        self.until = np.full(n, NO_DAY, np.int32)  # last day of the open challenge (NO_DAY: none open)
        self.target = np.zeros(n, np.float32)
        self.progress = np.zeros(n, np.float32)
        self.utility = np.zeros(n)
        self.utility_changed()

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.challenges is not None

    def after_learning(self, today: Today) -> None:
        """Set new challenges, from what the business believes, every ``every_days``."""
        c, day, mem = self.arm.rules.scheme.challenges, today.day, self.arm.mem
        if day % c.every_days != 0:
            return
        idx = np.flatnonzero(mem.member & ((mem.consent & CONSENT_BIT["transactions"]) > 0))
        cat = today.believed_top_category(idx, day)
        per_day = mem.obs_cat[idx, cat] / np.maximum(day - mem.join_day[idx], MIN_OBSERVED_DAYS)
        self.category[idx] = cat
        self.target[idx] = np.maximum(c.min_target, c.stretch * per_day * c.window_days)
        self.progress[idx] = 0
        self.until[idx] = day + c.window_days - 1
        self.arm.ledger.add("operating_cost", idx, c.cost_per_challenge)
        self.utility[idx] = c.pull * self.pop.reward_seeking[idx] * np.minimum(
            self.bonus_worth(idx) / self.pop.mean_basket[idx], 1.0)
        self.utility_changed()

    def settle(self, today: Today) -> None:
        """Count today's card-presented spend in the category; pay the bonus on reaching the target; close
        challenges past their last day."""
        day, card = today.day, today.trips.card
        open_ = self.until[card.idx] >= day
        idx = card.idx[open_]
        if idx.size:
            self.progress[idx] += card.value[open_] * card.split[open_, self.category[idx]]
            self._pay(idx[self.progress[idx] >= self.target[idx]], day)
        ended = np.flatnonzero(self.until == day)  # today was the last day: closed either way
        self._close(ended)

    def leave(self, idx: np.ndarray) -> None:
        self._close(idx)

    def bonus_worth(self, idx: np.ndarray) -> np.ndarray:
        """What completing a challenge is worth to members ``idx``, as they perceive it."""
        c, rules = self.arm.rules.scheme.challenges, self.arm.rules
        worth = np.full(idx.size, c.voucher)
        if c.bonus_points and rules.reward_points.size:
            goal = self.arm.mem.goal[idx]
            worth += c.bonus_points * rules.reward_perceived[goal] / rules.reward_points[goal]
        return worth

    def _pay(self, idx: np.ndarray, day: int) -> None:
        c, arm = self.arm.rules.scheme.challenges, self.arm
        if idx.size == 0:
            return
        if c.bonus_points:
            points.credit(arm, idx, np.full(idx.size, c.bonus_points, np.int32), day)
        if c.voucher:
            arm.mem.vouchers[idx] += c.voucher
            arm.ledger.add("rewards_redeemed", idx, 1.0)
            arm.ledger.add("reward_cost", idx, c.voucher)
            arm.ledger.add("reward_value", idx, c.voucher)
            arm.net_value[idx] += c.voucher
        self._close(idx)

    def _close(self, idx: np.ndarray) -> None:
        if idx.size == 0:
            return
        self.until[idx] = NO_DAY
        self.utility[idx] = 0
        self.utility_changed()
