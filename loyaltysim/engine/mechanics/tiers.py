"""Status tiers: qualification on linked spend, immediate upgrades, reviews with downgrades, perks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.population import Population
from loyaltysim.engine.rules import Rules
from loyaltysim.scenario.models import Scenario, Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm


class Tiers(Mechanic):
    """Members qualify for tiers on linked spend; tiers earn more points and give status and perks."""

    name = "tiers"

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        return scheme.tiers is not None

    def enrol(self, idx: np.ndarray, day: int) -> None:
        self.arm.mem.tier[idx] = 0

    def leave(self, idx: np.ndarray) -> None:
        self.arm.mem.tier[idx] = 0

    def settle(self, today: Today) -> None:
        card = today.trips.card
        qualify(self.arm, card.idx, card.value)
        review(self.arm, today.day)
        perks(self.arm, self.pop, today.members)

    def changed(self, spec: Scenario, old: Rules, day: int) -> None:
        mem = self.arm.mem
        mem.tier[:] = np.minimum(mem.tier, max(self.arm.rules.tier_thresholds.size - 1, 0))


def qualify(arm: Arm, idx: np.ndarray, value: np.ndarray) -> None:
    """Add linked spend to the window's qualifying spend; upgrade as soon as a threshold is passed."""
    mem, rules = arm.mem, arm.rules
    mem.qualifying[idx] += value
    reached = np.searchsorted(rules.tier_thresholds, mem.qualifying[idx], side="right") - 1
    mem.tier[idx] = np.maximum(mem.tier[idx], reached).astype(np.int8)


def review(arm: Arm, day: int) -> None:
    """At the end of each window, set tiers from qualifying spend by the downgrade rule, then reset."""
    tiers = arm.rules.scheme.tiers
    if day == 0 or day % tiers.window_days != 0:
        return
    mem = arm.mem
    idx = np.flatnonzero(mem.member)
    qualified = np.searchsorted(arm.rules.tier_thresholds, mem.qualifying[idx], side="right") - 1
    current = mem.tier[idx]
    if tiers.downgrade == "to_qualified":
        new = qualified
    elif tiers.downgrade == "one_level":
        new = np.maximum(qualified, current - 1)
    else:
        new = np.maximum(qualified, current)
    mem.tier[idx] = new.astype(np.int8)
    mem.qualifying[:] = 0


def perks(arm: Arm, pop: Population, members: np.ndarray) -> None:
    """A day of tier status value (to belonging-motivated members) and perk cost."""
    rules = arm.rules
    tier = arm.mem.tier[members]
    up = tier > 0
    idx, tier = members[up], tier[up]
    value = rules.tier_status[tier] * pop.belonging[idx]
    arm.ledger.add("status_value", idx, value)
    arm.ledger.add("operating_cost", idx, rules.tier_perk_cost[tier])
    arm.net_value[idx] += value
