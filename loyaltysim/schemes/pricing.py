"""Member prices and personalised offers at the till; offers chosen from what the business believes."""

from __future__ import annotations

import numpy as np

from loyaltysim.population import Population
from loyaltysim.rng import DailyDraws
from loyaltysim.state import Arm, CONSENT_BIT, NO_DAY


def till_discounts(arm: Arm, pop: Population, draws: DailyDraws, idx: np.ndarray, value: np.ndarray,
                   day: int) -> np.ndarray:
    """Money off for card-presenting members ``idx``: member prices, then a live offer if used."""
    s = arm.rules.scheme
    mem, led = arm.mem, arm.ledger
    off = np.zeros(idx.size)
    if s.member_pricing is not None:
        saving = value * s.member_pricing.share_of_range * s.member_pricing.discount
        led.add("member_discount", idx, saving)
        led.add("member_savings", idx, saving)
        arm.net_value[idx] += saving
        off += saving
    if s.offers is not None:
        o = s.offers
        live = mem.offer_until[idx] >= day
        p = o.base_redemption + (o.max_redemption - o.base_redemption) * mem.acc_what[idx]
        used = live & (draws.offer[idx] < p)
        u = idx[used]
        share = pop.categories[u, mem.offer_cat[u]]
        # Never below a free basket: member prices and a deep offer on a big category could overlap.
        saving = np.minimum(o.discount * value[used] * share, value[used] - off[used])
        mem.offer_until[u] = NO_DAY
        led.add("offer_discount", u, saving)
        led.add("offer_savings", u, saving)
        led.add("offers_redeemed", u, 1.0)
        arm.net_value[u] += saving
        off[used] += saving
    return off


def send_offers(arm: Arm, day: int, believed_mix) -> None:
    """Every few days, send each consenting member an offer on the category the business believes they buy most."""
    o = arm.rules.scheme.offers
    if day % o.every_days != 0:
        return
    mem = arm.mem
    idx = np.flatnonzero(mem.member & ((mem.consent & CONSENT_BIT["transactions"]) > 0))
    mem.offer_cat[idx] = np.argmax(believed_mix(idx, day), axis=1).astype(np.int8)
    mem.offer_until[idx] = day + o.validity_days - 1
    arm.ledger.add("offers_sent", idx, 1.0)
    arm.ledger.add("operating_cost", idx, o.cost_per_offer)
