"""Member prices: lower prices on part of the range for members who present the card."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.scenario.models import Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm


class MemberPricing(Mechanic):
    """Money off the member-priced share of each card-presenting member's basket."""

    name = "member_pricing"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.member_pricing is not None

    def till(self, today: Today, off: np.ndarray) -> None:
        card = today.trips.card
        off += member_prices(self.arm, card.idx, card.value)


def member_prices(arm: Arm, idx: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Money off member prices give card-presenting members ``idx`` (zero without member pricing)."""
    off = np.zeros(idx.size)
    mp = arm.rules.scheme.member_pricing
    if mp is not None:
        saving = value * mp.share_of_range * mp.discount
        arm.ledger.add("member_discount", idx, saving)
        arm.ledger.add("member_savings", idx, saving)
        arm.net_value[idx] += saving
        off += saving
    return off
