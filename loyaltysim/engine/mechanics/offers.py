"""Personalised offers: sent every few days on the category the business believes a member buys most,
used at the till with a chance that grows with how well the business knows the member."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine import kernels
from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY
from loyaltysim.scenario.models import Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm


class Offers(Mechanic):
    """Offers chosen from what the business believes; their pull on store choice is in the shopping kernel."""

    name = "offers"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.offers is not None

    def leave(self, idx: np.ndarray) -> None:
        self.arm.mem.offer_until[idx] = NO_DAY

    def till(self, today: Today, off: np.ndarray) -> None:
        card = today.trips.card
        redeem(self.arm, self.pop, today.draws, card.idx, card.value, today.day, off)

    def after_learning(self, today: Today) -> None:
        send(self.arm, today.day, today.believed_top_category)


def redeem(arm: Arm, pop: Population, draws: DailyDraws, idx: np.ndarray, value: np.ndarray, day: int,
           off: np.ndarray) -> None:
    """Card-presenting members ``idx`` use a live offer (or not): its money off is added to ``off``."""
    o, mem, led = arm.rules.scheme.offers, arm.mem, arm.ledger
    saving_sums, used_sums = np.zeros(led.n_segments), np.zeros(led.n_segments)
    kernels.redeem_offers(day, idx, value, off, draws.offer.bits, mem.offer_until, mem.acc_what, mem.offer_cat,
                          pop.categories, led.segment, o.base_redemption, o.max_redemption - o.base_redemption,
                          o.discount, NO_DAY, arm.net_value, saving_sums, used_sums)
    led.add_by_segment("offer_discount", saving_sums)
    led.add_by_segment("offer_savings", saving_sums)
    led.add_by_segment("offers_redeemed", used_sums)


def send(arm: Arm, day: int, believed_top_category) -> None:
    """Every few days, send each consenting member an offer on the category the business believes they buy most."""
    o = arm.rules.scheme.offers
    if day % o.every_days != 0:
        return
    mem = arm.mem
    idx = np.flatnonzero(mem.member & ((mem.consent & CONSENT_BIT["transactions"]) > 0))
    mem.offer_cat[idx] = believed_top_category(idx, day)
    mem.offer_until[idx] = day + o.validity_days - 1
    arm.ledger.add("offers_sent", idx, 1.0)
    arm.ledger.add("operating_cost", idx, o.cost_per_offer)
