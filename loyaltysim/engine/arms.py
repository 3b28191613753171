"""The two arms of a run and their day: the no-scheme counterfactual, and the scheme arm with its mechanics.

Both arms see the same population and the same draws; each phase of the day is a method, so the
schedule (:meth:`loyaltysim.engine.model.LoyaltyModel.step`) reads as the day and neither arm carries
fields it does not use. The scheme arm runs its mechanics' hooks (:mod:`loyaltysim.engine.mechanics`)
in registry order.
"""

from __future__ import annotations

import numpy as np

from loyaltysim.engine import behaviour, insight, kernels
from loyaltysim.engine.behaviour import Trips
from loyaltysim.engine.ledger import DayLedger
from loyaltysim.engine.mechanics import enrolment, mechanics_for
from loyaltysim.engine.mechanics.base import Today
from loyaltysim.engine.metrics import INSIGHT_NAMES
from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.engine.rules import Rules, compile_rules
from loyaltysim.engine.state import CONSENT_BIT, MemberState, ShopperState, TripBuffers, nbytes
from loyaltysim.scenario.models import CATEGORIES, INSIGHT_DIMENSIONS, Scenario

MARGIN_BY_CATEGORY = [f"gross_margin_{c}" for c in CATEGORIES]
TRIP_SUMS = ["visits", "sales", "revenue", "gross_margin", *MARGIN_BY_CATEGORY]
"""Ledger rows booked by kernels.settle_trips, in its order."""
STOCKS = ("customers", "active_customers", "members", "consenting_members", "points_outstanding")
"""Ledger rows counted by kernels.stock_counts, in its order."""


class CounterfactualArm:
    """The arm without a scheme: customers need, choose, shop at list prices and may leave for good."""

    name = "counterfactual"

    def __init__(self, pop: Population, n_segments: int) -> None:
        self.pop = pop
        self.shop = ShopperState.new(pop.n, pop.preference)
        self.ledger = DayLedger(pop.segment, n_segments)
        self.trip_buffers = TripBuffers(pop.n, pop.categories.shape[1])

    def state_bytes(self) -> int:
        return nbytes(self.shop)

    # ------------------------------------------------------------------ the day's phases

    def go_shopping(self, sc: Scenario, draws: DailyDraws, day: int, weekday: int, habit_alpha: np.ndarray,
                    drawn: Trips | None) -> Trips:
        """Needs, store choice and baskets (``drawn``: the other arm's trips today, whose baskets are copied)."""
        return behaviour.shop(sc, self.pop, self.shop, None, None, draws, day, weekday, habit_alpha,
                              self.trip_buffers, drawn)

    def till(self, today: Today) -> None:
        """Customers pay list prices: nothing to do."""

    def settle(self, today: Today) -> None:
        """The till's takings: visits, sales, revenue and margin by segment."""
        t, led = today.trips, self.ledger
        sums = np.zeros((len(TRIP_SUMS), led.n_segments))
        kernels.settle_trips(today.day, t.idx, t.value, t.split, t.discount, self.pop.segment,
                             np.asarray(today.spec.business.margin, np.float32), self.shop.visits, self.shop.spend,
                             self.shop.last_visit, self._spend_since_update(), sums)
        for name, row in zip(TRIP_SUMS, sums):
            led.add_by_segment(name, row)
        if t.baskets is not None and t.baskets.size and t.baskets.max() > 1:
            led.add("baskets", t.idx, t.baskets.astype(np.float64))
        else:
            led.add_by_segment("baskets", sums[0])  # one basket a trip

    def _spend_since_update(self) -> np.ndarray:
        return np.zeros(0, np.float32)  # no satisfaction to update

    def learn(self, today: Today, priors: insight.Priors, events: np.ndarray) -> None:
        """Nobody learns anything without a scheme."""

    def update_customers(self, today: Today) -> None:
        """Defection: leaving the retailer for good."""
        self._defect(today, np.zeros(0, bool), np.zeros(0, np.float32))

    def _defect(self, today: Today, member: np.ndarray, recent: np.ndarray) -> np.ndarray:
        """Customers leave for good, less likely members the scheme has served well; returns who left."""
        shop, pop = self.shop, self.pop
        gone = np.empty(pop.n, np.intp)
        k = kernels.defect(today.day, today.spec.behaviour.defection_value_weight, today.draws.defect.bits,
                           shop.alive, pop.defect_rate, shop.defect_day, member, recent, gone)
        gone = gone[:k].copy()
        self.ledger.add("defections", gone, 1.0)
        return gone

    def count_stocks(self, day: int, lapse_days: int, bounds: np.ndarray) -> None:
        """End-of-day levels into the ledger: customers and active customers."""
        self._count(day, lapse_days, bounds, np.zeros(0, bool), np.zeros(0, np.uint8), np.zeros(0, np.int32))

    def _count(self, day, lapse_days, bounds, member, consent, points) -> np.ndarray:
        """kernels.stock_counts by segment (rows in STOCKS order); books the two every arm has."""
        stocks = np.zeros((len(STOCKS), self.ledger.n_segments))
        kernels.stock_counts(day, lapse_days, bounds, self.shop.alive, self.shop.last_visit, member, consent,
                             np.uint8(CONSENT_BIT["transactions"]), points, stocks)
        self.ledger.set_by_segment("customers", stocks[0])
        self.ledger.set_by_segment("active_customers", stocks[1])
        return stocks


class SchemeArm(CounterfactualArm):
    """The arm with the scheme: members, their cards, the scheme's mechanics and the business's insight."""

    name = "scheme"

    def __init__(self, pop: Population, n_segments: int, spec: Scenario) -> None:
        super().__init__(pop, n_segments)
        self.rules: Rules = compile_rules(spec)
        self.mem = MemberState.new(pop.n, self.rules.n_buckets)
        self.net_value = np.zeros(pop.n, np.float32)   # perceived net value since the last satisfaction update
        self.spend_week = np.zeros(pop.n, np.float32)  # spend here since the last satisfaction update
        self.insight = np.zeros((len(INSIGHT_DIMENSIONS), n_segments))  # latest insight scores by segment
        self.referrals = 0.0                          # referrals made yesterday (drive today's joins)
        self.members = np.zeros(0, np.intp)           # today's members, ascending
        self.mechanics = mechanics_for(self, pop, self.rules.scheme)
        self.utility_stale = False                    # a mechanic's store-choice term has changed

    def state_bytes(self) -> int:
        return nbytes(self.shop, self.mem)

    def change(self, spec: Scenario, day: int) -> None:
        """A scheduled change lands: recompile the scheme, keep the mechanics it still has, tell them all."""
        old, self.rules = self.rules, compile_rules(spec)
        before = self.mechanics
        self.mechanics = mechanics_for(self, self.pop, self.rules.scheme, before)
        for m in self.mechanics + [m for m in before if m not in self.mechanics]:
            m.changed(spec, old, day)
        self.utility_stale = True

    # ------------------------------------------------------------------ the day's phases

    def go_shopping(self, sc: Scenario, draws: DailyDraws, day: int, weekday: int, habit_alpha: np.ndarray,
                    drawn: Trips | None) -> Trips:
        if self.utility_stale:
            self._sum_utility_terms()
        surplus = np.zeros(self.ledger.n_segments)
        trips = behaviour.shop(sc, self.pop, self.shop, self.mem, self.rules, draws, day, weekday, habit_alpha,
                               self.trip_buffers, drawn, surplus)
        self.ledger.add_by_segment("choice_surplus", surplus)
        return trips

    def _sum_utility_terms(self) -> None:
        terms = [m.utility for m in self.mechanics if m.utility is not None]
        self.mem.extra_utility = (terms[0] if len(terms) == 1 else np.sum(terms, axis=0)) if terms else np.zeros(0)
        self.utility_stale = False

    def till(self, today: Today) -> None:
        """Members present the card (or not); the mechanics give money off to presented cards."""
        t = today.trips
        t.link(behaviour.present_card(self.pop, self.mem, self.rules, today.draws, t.idx))
        off = np.zeros(t.card.idx.size)
        for m in self.mechanics:
            m.till(today, off)
        t.discount[t.linked] = off

    def settle(self, today: Today) -> None:
        """The till's takings, then every mechanic's settling of today's card trips and members."""
        super().settle(today)
        t, mem = today.trips, self.mem
        # Membership changes only in update_customers, at the day's end: today's members serve until then.
        today.members = self.members = np.flatnonzero(mem.member)
        self.ledger.add("linked_sales", t.card.idx, t.card.value)
        mem.vouchers[t.idx[t.member]] = 0  # vouchers are spent on the next trip
        for m in self.mechanics:
            m.settle(today)

    def _spend_since_update(self) -> np.ndarray:
        return self.spend_week

    def learn(self, today: Today, priors: insight.Priors, events: np.ndarray) -> None:
        """The business learns from the linked data it may see; then mechanics act on what it believes."""
        sc, pop, day, card = today.spec, self.pop, today.day, today.trips.card
        insight.on_life_events(self, events)
        insight.learn(sc, pop, self, card.idx, card.value, card.split, card.own, card.band, today.weekday, day)
        if day % sc.business.insight.update_every_days == 0:
            insight.snapshot(sc, pop, self, priors, day)
        insight.value(sc, pop, self, self.members)
        insight.cost_savings(sc, self, card.idx, card.value)
        today.believed_top_category = insight.believed_top_category(sc, pop, self, priors)
        for m in self.mechanics:
            m.after_learning(today)

    def update_customers(self, today: Today) -> None:
        """Satisfaction; members leave, withdraw consent, refer; shoppers join; customers defect."""
        sc, pop = today.spec, self.pop
        enrolment.update_satisfaction(sc, self, today.draws, today.day)
        # Today's members decide (today's joiners from tomorrow); joins run on yesterday's referrals.
        referrals = enrolment.leave_withdraw_and_refer(pop, self, today.draws, self.members)
        enrolment.join(sc, pop, self, today.draws, today.trips.idx, today.day)
        self.referrals = float(referrals)
        gone = self._defect(today, self.mem.member, self.mem.recent)
        enrolment.leave(self, gone)

    def count_stocks(self, day: int, lapse_days: int, bounds: np.ndarray) -> None:
        """End-of-day levels: customers, members, consent, points and their liability, insight scores."""
        mem, led = self.mem, self.ledger
        stocks = self._count(day, lapse_days, bounds, mem.member, mem.consent, mem.points)
        led.set_by_segment("members", stocks[2])
        led.set_by_segment("consenting_members", stocks[3])
        led.set_by_segment("dormant_members", np.bincount(self.pop.segment[mem.dormant], minlength=led.n_segments)
                           if mem.dormant.any() else np.zeros(led.n_segments))
        led.set_by_segment("points_outstanding", stocks[4])
        led.set_by_segment("points_liability", stocks[4] * self.rules.cost_per_point)
        for name, row in zip(INSIGHT_NAMES, self.insight):
            led.set_by_segment(name, row)
