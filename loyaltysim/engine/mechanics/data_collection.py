"""Data collection and consent: what members agree to share on joining (required sources always,
optional ones by their privacy concern), and the privacy cost they feel each day for what they share."""

from __future__ import annotations

import numpy as np

from loyaltysim.engine import kernels
from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.rules import Rules
from loyaltysim.engine.state import CONSENT_BIT
from loyaltysim.scenario.models import Scheme


class DataCollection(Mechanic):
    """Consent on joining; a day's privacy cost for every member."""

    name = "data_collection"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return True  # every scheme asks for something, if only the transactions its card links

    def enrol(self, idx: np.ndarray, day: int) -> None:
        arm, pop = self.arm, self.pop
        rules, mem = arm.rules, arm.mem
        data = rules.scheme.data
        consent = np.full(idx.size, rules.required_mask, np.uint8)
        yearly = rules.privacy_per_day * 365
        for k, (name, bit) in enumerate(CONSENT_BIT.items()):
            if (rules.requested_mask & bit) and not (rules.required_mask & bit):
                agree = pop.consent_draw[idx] < np.exp(-pop.privacy[idx] * yearly[k] / data.privacy_scale)
                consent[agree] |= bit
        mem.consent[idx] = consent
        told = (consent & CONSENT_BIT["demographics"]) > 0
        mem.family_told[idx[told]] = pop.household[idx[told]]

    def settle(self, today: Today) -> None:
        arm, pop = self.arm, self.pop
        privacy = np.zeros(arm.ledger.n_segments)
        kernels.privacy_costs(today.members, pop.segment, arm.mem.consent, pop.privacy, privacy_by_mask(arm.rules),
                              arm.net_value, privacy)
        arm.ledger.add_by_segment("privacy_cost", privacy)


def privacy_by_mask(rules: Rules) -> np.ndarray:
    """Daily privacy cost of a fully concerned member for each consent bitmask (0-15)."""
    return bits(np.arange(16, dtype=np.uint8)) @ rules.privacy_per_day


def bits(mask) -> np.ndarray:
    """The four data-source bits of consent masks, as 0/1 floats (last axis in DATA_SOURCES order)."""
    return ((np.asarray(mask, np.uint8)[..., None] >> np.arange(4, dtype=np.uint8)) & 1).astype(np.float64)
