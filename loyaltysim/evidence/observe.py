"""What one replicate of an evidence scenario records beyond its daily metrics, while it runs.

The statistics need a few per-customer records the daily frame sums away: when each customer first
joined, their sales week by week in each arm, on how many days a voucher reward reached them (and the
vouchers' face value, which must add up to the ledger's), and how many stamp cards they completed.
:class:`Recorder` gathers them through the model's ``trip_observers`` (each arm's trips, after the till
and the scheme have settled them) and a look at the scheme arm's state at the start and end of each day;
it never changes the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.scenario.models import Scenario

__all__ = ["Recorder", "Replicate", "simulate_replicate"]

WEEK = 7
VOUCHER_TOLERANCE = 1e-4
"""Vouchers are float32 money: a rise smaller than this is rounding, not a reward."""


@dataclass
class Replicate:
    """One replicate of an evidence scenario, both arms: what every statistic reads."""

    scenario: Scenario
    daily: pd.DataFrame               # raw daily metrics: arm, day, segment and every metric
    customers: pd.DataFrame           # final per-customer state, both arms (LoyaltyModel.customers)
    first_join_day: np.ndarray        # int: day each customer first joined the scheme (-1: never)
    weekly_sales: dict[str, np.ndarray]  # arm -> (customers, weeks) sales at list prices
    reward_days: np.ndarray           # int: days on which a voucher reward reached the customer
    vouchers_received: np.ndarray     # money: face value of the voucher rewards that reached the customer
    cards_completed: np.ndarray       # int: stamp cards completed
    transactions: pd.DataFrame | None = None  # the scheme arm's trips, when the scenario asks for them


class Recorder:
    """Per-customer records of one model's run (attach before the first day, call ``start_day`` before
    and ``end_day`` after every ``model.step()``)."""

    def __init__(self, model: LoyaltyModel) -> None:
        self.model = model
        n, days = model.population.n, model.spec.days
        weeks = -(-days // WEEK)
        self.first_join = np.full(n, -1, np.int64)
        self.weekly = {arm.name: np.zeros((n, weeks)) for arm in model.arms}
        self.reward_days = np.zeros(n, np.int64)
        self.vouchers_received = np.zeros(n)
        self.cards = np.zeros(n, np.int64)
        self._vouchers = np.zeros(n, np.float32)
        self._stamps = np.zeros(n, np.int16)
        model.trip_observers.append(self._observe)

    def start_day(self) -> None:
        mem = self.model.arms[0].mem
        self._vouchers = mem.vouchers.copy()
        self._stamps = mem.stamps.copy()

    def end_day(self) -> None:
        mem = self.model.arms[0].mem
        new = np.flatnonzero(mem.ever_joined & (self.first_join < 0))
        # A member who joined and left on the same day has no join day any more: that day is today.
        self.first_join[new] = np.where(mem.join_day[new] >= 0, mem.join_day[new], self.model.day - 1)

    def _observe(self, arm: str, day: int, weekday: int, trips) -> None:
        self.weekly[arm][trips.idx, day // WEEK] += trips.value  # one trip per customer a day: no repeats
        if arm != self.model.arms[0].name:
            return
        mem = self.model.arms[0].mem
        # A member's vouchers are spent on their next trip (at the till, before the scheme settles), and
        # only a reward adds to them: more than was left means a reward today.
        left = self._vouchers.copy()
        left[trips.idx[trips.member]] = 0.0
        gained = mem.vouchers.astype(np.float64) - left
        self.reward_days += gained > VOUCHER_TOLERANCE
        self.vouchers_received += np.maximum(gained, 0.0)
        stamps = self.model.spec.scheme.stamps
        card = trips.card
        if stamps is not None and card is not None and card.idx.size:
            baskets = card.baskets if card.baskets is not None else np.ones(card.idx.size, np.int64)
            earns = card.value / baskets >= stamps.min_spend
            # A stamp card only grows on a qualifying basket, unless it was completed and started again.
            done = earns & (mem.stamps[card.idx] < self._stamps[card.idx] + baskets)
            self.cards[card.idx[done]] += 1

    def replicate(self, transactions: bool) -> Replicate:
        m = self.model
        return Replicate(scenario=m.spec, daily=m.daily(), customers=m.customers(), first_join_day=self.first_join,
                         weekly_sales=self.weekly, reward_days=self.reward_days,
                         vouchers_received=self.vouchers_received, cards_completed=self.cards,
                         transactions=m.transactions.frame() if transactions else None)


def simulate_replicate(scenario: Scenario, replicate: int, *, transactions: bool = False) -> Replicate:
    """Run replicate ``replicate`` of ``scenario`` (both arms, on the random numbers ``loyaltysim run``
    gives that replicate) and return what it recorded."""
    model = LoyaltyModel(scenario, replicate, record_transactions=transactions)
    rec = Recorder(model)
    while model.day < scenario.days:
        rec.start_day()
        model.step()
        rec.end_day()
    return rec.replicate(transactions)
