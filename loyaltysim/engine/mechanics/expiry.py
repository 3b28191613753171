"""Points expiry (breakage): by age, in a ring of earning periods, and after inactivity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.mechanics.points import bucket_of, forfeit, worth
from loyaltysim.engine.rules import Rules
from loyaltysim.scenario.models import Scenario, Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm


class Expiry(Mechanic):
    """Points past their age, or all points of a member who has not earned for a while, expire."""

    name = "expiry"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.expiry is not None  # the scenario allows expiry only with points

    def settle(self, today: Today) -> None:
        # First: the age ring's oldest slot is cleared before today's points go into it.
        expire(self.arm, today.day)

    def changed(self, spec: Scenario, old: Rules, day: int) -> None:
        rules, mem = self.arm.rules, self.arm.mem
        if rules.n_buckets != old.n_buckets:
            # Age expiry switched on, off or re-timed: current balances start ageing today.
            mem.buckets = np.zeros((mem.points.size, rules.n_buckets), np.int32)
            if rules.n_buckets:
                mem.buckets[:, bucket_of(rules, day)] = mem.points


def expire(arm: Arm, day: int) -> None:
    """Age expiry (the oldest earning period) and inactivity expiry (everything)."""
    rules, mem = arm.rules, arm.mem
    exp = rules.scheme.expiry
    if rules.n_buckets and day > 0 and day % rules.bucket_days == 0:
        # The period about to be reused holds points earned n_buckets periods ago: past their age.
        j = bucket_of(rules, day)
        old = mem.buckets[:, j]
        idx = np.flatnonzero(old)
        amount = old[idx].copy()
        mem.points[idx] -= amount
        mem.buckets[idx, j] = 0
        arm.ledger.add("points_expired", idx, amount.astype(np.float64))
        arm.net_value[idx] -= worth(arm, idx, amount)  # points that expire are a loss of what they were worth
    if exp.inactivity_days:
        idx = np.flatnonzero((mem.points > 0) & (day - mem.last_earn >= exp.inactivity_days))
        forfeit(arm, idx)
