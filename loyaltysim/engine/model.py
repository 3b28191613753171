"""LoyaltyModel: the clock, the random streams, the population, both arms, and the day's schedule."""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd

from loyaltysim.engine import behaviour, insight
from loyaltysim.engine.arms import CounterfactualArm, SchemeArm
from loyaltysim.engine.dynamics import Dynamics
from loyaltysim.engine.mechanics import enrolment
from loyaltysim.engine.mechanics.base import Today
from loyaltysim.engine.population import Population, apply_life_events, synthesise
from loyaltysim.engine.recorder import Recorder, TransactionLog, customers_frame
from loyaltysim.engine.rng import Streams, population_rng
from loyaltysim.scenario.loading import apply_change
from loyaltysim.scenario.models import WEEKDAYS, Scenario

ARMS = ("scheme", "counterfactual")


@dataclass
class Clock:
    """The model's one clock: the day (0 = the first) and the weekday it falls on (0 = Monday)."""

    day: int
    start_weekday: int

    @property
    def weekday(self) -> int:
        return (self.start_weekday + self.day) % 7


class LoyaltyModel(mesa.Model):
    """One replicate of a scenario: the scheme arm and its no-scheme counterfactual, in lockstep.

    Both arms see the same population and the same daily random draws (common random numbers), so
    every difference between them is caused by the scheme. Customers are numpy columns, not agents.
    """

    def __init__(self, scenario: Scenario, replicate: int = 0, *, record_transactions: bool = False) -> None:
        super().__init__(rng=scenario.seed)  # mesa's own generator; the model draws from self.streams
        # The scenario in force today (a scheduled change replaces it). Not named "scenario":
        # mesa.Model (3.5) owns that name for its own scenario objects.
        self.spec: Scenario = scenario
        self.replicate = replicate
        self.clock = Clock(0, WEEKDAYS.index(scenario.start_weekday))
        self.population: Population = synthesise(scenario, replicate, n=scenario.customers + scenario.arrivals)
        pop = self.population
        self.dynamics = Dynamics(scenario, pop, replicate)
        self.streams = Streams(scenario.seed, replicate, pop.n)
        self.n_segments = len(pop.segment_names)
        self.segment_bounds = pop.segment_bounds
        self.priors = insight.Priors(pop)
        self.habit_alpha = behaviour.habit_alpha(scenario, pop)
        self.arms = [SchemeArm(pop, self.n_segments, scenario), CounterfactualArm(pop, self.n_segments)]
        for arm in self.arms:  # customers who arrive later are nobody's customers yet
            arm.shop.alive[self.dynamics.later] = False
        self.recorder = Recorder(ARMS, scenario.days, pop.segment_names)
        self.transactions = TransactionLog.empty() if record_transactions else None
        self.trip_observers: list = []
        """Callables ``f(arm_name, day, weekday, trips)`` told of every day's trips in each arm, after
        the till and the scheme have settled them (for logs, calibration checks and exports)."""
        self._changes = {c.day: c for c in scenario.changes}
        self._initial_members()

    @property
    def day(self) -> int:
        return self.clock.day

    @property
    def weekday(self) -> int:
        return self.clock.weekday

    def _initial_members(self) -> None:
        arm = self.arms[0]
        share = self.spec.scheme.enrolment.initial_members
        if share > 0:
            u = population_rng(self.spec.seed, self.replicate, "membership_start").random(self.population.n)
            enrolment.enrol(self.spec, self.population, arm, np.flatnonzero((u < share) & arm.shop.alive), 0)
            arm.ledger.reset()  # day-0 members are a starting stock, not day-0 joins or fees

    def state_bytes(self) -> int:
        """Bytes of customer state held (population and both arms)."""
        return self.population.nbytes() + self.habit_alpha.nbytes + sum(arm.state_bytes() for arm in self.arms)

    # ------------------------------------------------------------------ the day

    def step(self) -> None:
        """Simulate one day for both arms on the same draws, in this order:

        1. life events happen, habits drift and seasons turn (to the shared population: they are
           exogenous to the scheme);
        2. a need arises (or not), more often for members close to a reward;
        3. the customer chooses this retailer or the competition (binary logit);
        4. the basket is drawn: value, category split, brands, hour
           (2-4 touch only the customer's own state and draws, so they run as one pass);
        5. members present the card (or not); member prices and offers apply to presented cards;
        6. the scheme awards, redeems, expires, reviews tiers, charges fees;
        7. the business learns from the linked data it is allowed to see;
        8. customers update satisfaction, join, leave, withdraw consent, defect or refer;
        9. everything is recorded.
        Scheduled scenario changes take effect at the start of their day.
        """
        day, weekday = self.day, self.weekday
        self._apply_change(day)
        draws = self.streams.day()
        events = apply_life_events(self.population, day)                 # 1
        if self.dynamics.step(self.population, day):                      # habits drift, seasons turn
            self.habit_alpha = behaviour.habit_alpha(self.spec, self.population)  # memory in needs, as rates move
        arrived = self.dynamics.arriving(day)                             # new customers arrive
        self.priors.refresh(self.population, events)
        drawn = None  # the first arm's trips: the second copies their baskets (same customers, same draws)
        for arm in self.arms:
            arm.ledger.reset()
            arm.ledger.add("life_events", events, 1.0)
            arm.shop.alive[arrived] = True
            arm.shop.last_visit[arrived] = day  # new, not lapsed
            trips = drawn = arm.go_shopping(self.spec, draws, day, weekday, self.habit_alpha, drawn)  # 2-4
            today = Today(self.spec, day, weekday, draws, trips)
            arm.till(today)                                               # 5
            if self.transactions is not None and isinstance(arm, SchemeArm):
                self.transactions.add(arm, day, trips)
            arm.settle(today)                                             # 6
            for observe in self.trip_observers:
                observe(arm.name, day, weekday, trips)
            arm.learn(today, self.priors, events)                         # 7
            arm.update_customers(today)                                   # 8
            arm.count_stocks(day, self.spec.behaviour.lapse_days, self.segment_bounds)  # 9
            self.recorder.record(arm, day)
        self.clock.day += 1

    def _apply_change(self, day: int) -> None:
        change = self._changes.get(day)
        if change is None:
            return
        self.spec = apply_change(self.spec, change.set)
        self.habit_alpha = behaviour.habit_alpha(self.spec, self.population)
        self.arms[0].change(self.spec, day)

    # ------------------------------------------------------------------ running and outputs

    def run(self, progress=None) -> "LoyaltyModel":
        """Run every day of the scenario; ``progress(days_done)`` is called after each day."""
        while self.day < self.spec.days:
            self.step()
            if progress is not None:
                progress(1)
        return self

    def daily(self) -> pd.DataFrame:
        """Raw daily metrics: one row per arm, day and segment (segments by name), plus segment 'all'."""
        return self.recorder.daily()

    def customers(self) -> pd.DataFrame:
        """Final per-customer state: true attributes, the business's estimates, membership, both arms."""
        return customers_frame(self)
