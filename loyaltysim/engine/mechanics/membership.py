"""Paid membership: a fee on joining and each period after, perks that cost the business and are worth
convenience to experience-motivated members, and (in the shopping kernel and points) an earn multiplier."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.scenario.models import Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm


class Membership(Mechanic):
    """Fees when members join and renew; a day of perks for every member."""

    name = "membership"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.membership is not None

    def enrol(self, idx: np.ndarray, day: int) -> None:
        charge(self.arm, idx, self.arm.rules.scheme.membership.fee)

    def settle(self, today: Today) -> None:
        arm, members, day = self.arm, today.members, today.day
        m, mem = arm.rules.scheme.membership, arm.mem
        renew = members[((day - mem.join_day[members]) % m.period_days == 0) & (mem.join_day[members] < day)]
        charge(arm, renew, m.fee)
        conv = m.convenience_value_per_day * self.pop.experience[members]
        arm.ledger.add("convenience_value", members, conv)
        arm.ledger.add("operating_cost", members, m.perk_cost_per_day)
        # Members weigh the fee by the day it covers, not on the day it is paid.
        arm.net_value[members] += conv - m.fee / m.period_days


def charge(arm: Arm, idx: np.ndarray, fee: float) -> None:
    """Members ``idx`` pay the fee."""
    arm.ledger.add("fee_revenue", idx, fee)
    arm.ledger.add("fees_paid", idx, fee)
