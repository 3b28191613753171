"""Member prices and personalised offers at the till; offers chosen from what the business believes."""

from __future__ import annotations

import numpy as np

from loyaltysim.engine import kernels
from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY, Arm


def till_discounts(arm: Arm, pop: Population, draws: DailyDraws, idx: np.ndarray, value: np.ndarray,
                   day: int) -> np.ndarray:
    """Money off for card-presenting members ``idx``: member prices, then a live offer if used."""
    s = arm.rules.scheme
    mem, led = arm.mem, arm.ledger
    off = member_prices(arm, idx, value)
    if s.offers is not None:
        o = s.offers
        saving_sums, used_sums = np.zeros(led.n_segments), np.zeros(led.n_segments)
        kernels.redeem_offers(day, idx, value, off, draws.offer.bits, mem.offer_until, mem.acc_what, mem.offer_cat,
                              pop.categories, led.segment, o.base_redemption, o.max_redemption - o.base_redemption,
                              o.discount, NO_DAY, arm.net_value, saving_sums, used_sums)
        led.add_by_segment("offer_discount", saving_sums)
        led.add_by_segment("offer_savings", saving_sums)
        led.add_by_segment("offers_redeemed", used_sums)
    return off


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


def send_offers(arm: Arm, day: int, believed_top_category) -> None:
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
