"""Stamp cards: a stamp per qualifying linked basket, a reward for a full card (endowed progress if prefilled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.scenario.models import Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm


class Stamps(Mechanic):
    """A card per member, stamped on qualifying linked baskets; a full card gives its reward and starts again."""

    name = "stamps"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.stamps is not None

    def enrol(self, idx: np.ndarray, day: int) -> None:
        self.arm.mem.stamps[idx] = self.arm.rules.scheme.stamps.prefilled

    def leave(self, idx: np.ndarray) -> None:
        self.arm.mem.stamps[idx] = 0

    def settle(self, today: Today) -> None:
        card = today.trips.card
        stamp(self.arm, card.idx, card.value, card.baskets)


def stamp(arm: Arm, idx: np.ndarray, value: np.ndarray, baskets: np.ndarray | None = None) -> None:
    """A stamp per qualifying linked basket (a trip's value split evenly over its baskets, a top-up visit
    a basket of its own); a full card gives its reward and starts again, stamps past it carried over."""
    st = arm.rules.scheme.stamps
    mem = arm.mem
    if baskets is None:
        baskets = np.ones(idx.size, np.int32)
    ok = value / baskets >= st.min_spend
    idx, add = idx[ok], baskets[ok]
    mem.stamps[idx] += add.astype(mem.stamps.dtype)
    # Members count each stamp as its share of the reward as they collect it, not the reward when it comes.
    arm.net_value[idx] += add * (st.reward.face_value * st.reward.perceived_ratio / (st.required - st.prefilled))
    full = idx[mem.stamps[idx] >= st.required]
    mem.stamps[full] = st.prefilled + np.minimum(mem.stamps[full] - st.required, st.required - 1 - st.prefilled)
    r = st.reward
    led = arm.ledger
    led.add("rewards_redeemed", full, 1.0)
    led.add("reward_cost", full, r.face_value * r.cost_ratio)
    led.add("reward_value", full, r.face_value * r.perceived_ratio)
