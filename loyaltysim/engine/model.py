"""LoyaltyModel: the clock, the random streams, the population, both arms, and the day's schedule."""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd

from loyaltysim.engine import behaviour, insight, kernels
from loyaltysim.engine.behaviour import Trips
from loyaltysim.engine.ledger import DayLedger
from loyaltysim.engine.mechanics import enrolment, pricing, tiers
from loyaltysim.engine.mechanics import points as points_mod
from loyaltysim.engine.metrics import INDEX, INSIGHT_NAMES, RAW_NAMES
from loyaltysim.engine.population import Population, apply_life_events, synthesise
from loyaltysim.engine.rng import DailyDraws, Streams, population_rng
from loyaltysim.engine.rules import compile_rules
from loyaltysim.engine.state import CONSENT_BIT, Arm, MemberState, ShopperState, TripBuffers, nbytes
from loyaltysim.scenario.loading import apply_change
from loyaltysim.scenario.models import CATEGORIES, INSIGHT_DIMENSIONS, WEEKDAYS, Scenario

ARMS = ("scheme", "counterfactual")
MARGIN_BY_CATEGORY = [f"gross_margin_{c}" for c in CATEGORIES]
TRIP_SUMS = ["visits", "sales", "revenue", "gross_margin", *MARGIN_BY_CATEGORY]
"""Ledger rows booked by kernels.settle_trips, in its order."""


@dataclass
class TransactionLog:
    """Purchases of the scheme arm, one row each (kept only when asked for)."""

    customer_id: list
    day: list
    amount: list
    member: list
    linked: list
    reward_progress: list

    def frame(self) -> pd.DataFrame:
        cols = {k: np.concatenate(v) if v else np.array([]) for k, v in vars(self).items()}
        return pd.DataFrame(cols)


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
        self.day = 0
        self.population: Population = synthesise(scenario, replicate)
        pop = self.population
        self.streams = Streams(scenario.seed, replicate, pop.n)
        self.n_segments = len(pop.segment_names)
        self.segment_bounds = pop.segment_bounds
        self.priors = insight.Priors(pop)
        self.habit_alpha = behaviour.habit_alpha(scenario, pop)
        self.arms = [self._new_arm(name) for name in ARMS]
        self.history = np.zeros((len(ARMS), scenario.days, self.n_segments, len(RAW_NAMES)))
        self.transactions = TransactionLog([], [], [], [], [], []) if record_transactions else None
        self.trip_observers: list = []
        """Callables ``f(arm_name, day, weekday, trips)`` told of every day's trips in each arm, after
        the till and the scheme have settled them (for logs, calibration checks and exports)."""
        self._changes = {c.day: c for c in scenario.changes}
        self._start_weekday = WEEKDAYS.index(scenario.start_weekday)
        self._initial_members()

    # ------------------------------------------------------------------ set-up

    def _new_arm(self, name: str) -> Arm:
        pop = self.population
        arm = Arm(name=name, shop=ShopperState.new(pop.n, pop.preference),
                  ledger=DayLedger(pop.segment, self.n_segments),
                  trip_buffers=TripBuffers(pop.n, pop.categories.shape[1]))
        if name == "scheme":
            arm.rules = compile_rules(self.spec)
            arm.mem = MemberState.new(pop.n, arm.rules.n_buckets)
            arm.net_value = np.zeros(pop.n, np.float32)
            arm.spend_week = np.zeros(pop.n, np.float32)
            arm.insight = np.zeros((len(INSIGHT_DIMENSIONS), self.n_segments))
        return arm

    def _initial_members(self) -> None:
        arm = self.arms[0]
        share = self.spec.scheme.enrolment.initial_members
        if share > 0:
            u = population_rng(self.spec.seed, self.replicate, "membership_start").random(self.population.n)
            enrolment.enrol(self.population, arm, np.flatnonzero(u < share), 0)
            arm.ledger.reset()  # day-0 members are a starting stock, not day-0 joins or fees

    def state_bytes(self) -> int:
        """Bytes of customer state held (population and both arms)."""
        states = [s for arm in self.arms for s in (arm.shop, arm.mem) if s is not None]
        return self.population.nbytes() + self.habit_alpha.nbytes + nbytes(*states)

    # ------------------------------------------------------------------ the day

    def step(self) -> None:
        """Simulate one day for both arms on the same draws, in this order:

        1. life events happen (to the shared population: they are exogenous to the scheme);
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
        day = self.day
        self._apply_change(day)
        draws = self.streams.day()
        events = apply_life_events(self.population, day)                 # 1
        self.priors.refresh(self.population, events)
        drawn = None  # the first arm's trips: the second copies their baskets (same customers, same draws)
        for arm in self.arms:
            arm.ledger.reset()
            arm.ledger.add("life_events", events, 1.0)
            trips = self._shop(arm, draws, drawn)                         # 2-4
            drawn = trips
            self._till(arm, draws, trips)                                 # 5
            self._settle(arm, draws, trips)                               # 6
            for observe in self.trip_observers:
                observe(arm.name, self.day, self.weekday, trips)
            self._learn(arm, trips, events)                               # 7
            self._update_customers(arm, draws, trips)                     # 8
            self._record(arm)                                             # 9
        self.day += 1

    @property
    def weekday(self) -> int:
        return (self._start_weekday + self.day) % 7

    def _apply_change(self, day: int) -> None:
        change = self._changes.get(day)
        if change is None:
            return
        self.spec = apply_change(self.spec, change.set)
        self.habit_alpha = behaviour.habit_alpha(self.spec, self.population)
        arm = self.arms[0]
        old = arm.rules
        arm.rules = rules = compile_rules(self.spec)
        mem = arm.mem
        if rules.n_buckets != old.n_buckets:
            # Expiry switched on or re-timed: current balances start ageing today.
            mem.buckets = np.zeros((self.population.n, rules.n_buckets), np.int32)
            if rules.n_buckets:
                mem.buckets[:, (day // rules.bucket_days) % rules.n_buckets] = mem.points
        members = np.flatnonzero(mem.member)
        if rules.scheme.points is not None:
            mem.goal[members] = points_mod.choose_goals(self.population, rules, members)
        mem.tier[:] = np.minimum(mem.tier, max(rules.tier_thresholds.size - 1, 0))
        kernels.refresh_recent_values(self.spec.behaviour.expected_value_share, members, mem.value_ema, mem.spend_ema,
                                      mem.recent)

    def _shop(self, arm: Arm, draws: DailyDraws, drawn: Trips | None = None) -> Trips:
        return behaviour.shop(self.spec, self.population, arm.shop, arm.mem, arm.rules, draws, self.day,
                              self.weekday, self.habit_alpha, arm.trip_buffers, drawn)

    def _till(self, arm: Arm, draws: DailyDraws, t: Trips) -> None:
        if not arm.has_scheme:
            return
        pop = self.population
        t.link(behaviour.present_card(pop, arm.mem, arm.rules, draws, t.idx))
        card = t.card
        t.discount[t.linked] = pricing.till_discounts(arm, pop, draws, card.idx, card.value, self.day)
        enrolment.card_effort(pop, arm, card.idx)
        if self.transactions is not None:
            self._log_transactions(arm, t)

    def _settle(self, arm: Arm, draws: DailyDraws, t: Trips) -> None:
        pop, led, day = self.population, arm.ledger, self.day
        shop = arm.shop
        sums = np.zeros((len(TRIP_SUMS), led.n_segments))
        kernels.settle_trips(day, t.idx, t.value, t.split, t.discount, pop.segment, arm_margin(self),
                             shop.visits, shop.spend, shop.last_visit,
                             arm.spend_week if arm.has_scheme else np.zeros(0, np.float32), sums)
        for name, row in zip(TRIP_SUMS, sums):
            led.add_by_segment(name, row)
        if not arm.has_scheme:
            return
        s, mem = arm.rules.scheme, arm.mem
        # Membership changes only in _update_customers, at the day's end: today's members serve until then.
        members = arm.members = np.flatnonzero(mem.member)
        li, lv, ls = t.card.idx, t.card.value, t.card.split
        led.add("linked_sales", li, lv)
        mem.vouchers[t.idx[t.member]] = 0  # vouchers are spent on the next trip
        if s.points is not None:
            # Expire first: the age ring's oldest slot is cleared before today's points go into it.
            points_mod.expire(arm, day)
            points_mod.earn(arm, pop, li, lv, ls, day)
            points_mod.partner_earn(arm, day)
            points_mod.redeem(arm, pop, draws, li if s.points.redemption.mode == "manual" else None, day,
                              at_till=s.points.redemption.mode == "manual")
        if s.stamps is not None:
            points_mod.stamp(arm, li, lv)
        if s.tiers is not None:
            tiers.qualify(arm, li, lv)
            tiers.review(arm, day)
            tiers.perks(arm, pop, members)
        enrolment.daily_member_flows(self.spec, pop, arm, members, day)

    def _learn(self, arm: Arm, t: Trips, events: np.ndarray) -> None:
        if not arm.has_scheme:
            return
        sc, pop, day = self.spec, self.population, self.day
        insight.on_life_events(arm, events)
        card = t.card
        insight.learn(sc, pop, arm, card.idx, card.value, card.split, card.own, card.band, self.weekday, day)
        if day % sc.business.insight.update_every_days == 0:
            insight.snapshot(sc, pop, arm, self.priors, day)
        insight.value(sc, pop, arm, arm.members)
        insight.cost_savings(sc, arm, card.idx, card.value)
        if arm.rules.scheme.offers is not None:
            pricing.send_offers(arm, day, insight.believed_top_category(sc, pop, arm, self.priors))

    def _update_customers(self, arm: Arm, draws: DailyDraws, t: Trips) -> None:
        sc, pop, day = self.spec, self.population, self.day
        shop = arm.shop
        if arm.has_scheme:
            enrolment.update_satisfaction(sc, arm, day)
            # Today's members decide (today's joiners from tomorrow); joins run on yesterday's referrals.
            referrals = enrolment.leave_withdraw_and_refer(pop, arm, draws, arm.members)
            enrolment.join(sc, pop, arm, draws, t.idx, day)
            arm.referrals = float(referrals)
        # Defection: leaving the retailer for good, less likely for members the scheme has served well.
        b = self.spec.behaviour
        mem = arm.mem
        gone = np.empty(pop.n, np.intp)
        no = np.zeros(0, np.float32)
        k = kernels.defect(day, b.defection_value_weight, draws.defect.bits, shop.alive, pop.defect_rate,
                           shop.defect_day, mem.member if mem is not None else np.zeros(0, bool),
                           mem.recent if mem is not None else no, gone)
        gone = gone[:k].copy()
        arm.ledger.add("defections", gone, 1.0)
        if arm.has_scheme:
            enrolment.leave(arm, gone)

    def _record(self, arm: Arm) -> None:
        led, shop, day = arm.ledger, arm.shop, self.day
        mem = arm.mem
        stocks = np.zeros((5, self.n_segments))
        if mem is None:  # the counterfactual has no members: empty columns
            member, consent, points = np.zeros(0, bool), np.zeros(0, np.uint8), np.zeros(0, np.int32)
        else:
            member, consent, points = mem.member, mem.consent, mem.points
        kernels.stock_counts(day, self.spec.behaviour.lapse_days, self.segment_bounds, shop.alive, shop.last_visit,
                             member, consent, np.uint8(CONSENT_BIT["transactions"]), points, stocks)
        led.set_by_segment("customers", stocks[0])
        led.set_by_segment("active_customers", stocks[1])
        if arm.has_scheme:
            led.set_by_segment("members", stocks[2])
            led.set_by_segment("consenting_members", stocks[3])
            led.set_by_segment("points_outstanding", stocks[4])
            led.set_by_segment("points_liability", stocks[4] * arm.rules.cost_per_point)
            for name, row in zip(INSIGHT_NAMES, arm.insight):
                led.set_by_segment(name, row)
        self.history[ARMS.index(arm.name), day] = led.values.T

    def _log_transactions(self, arm: Arm, t: Trips) -> None:
        log = self.transactions
        log.customer_id.append(t.idx.astype(np.int64))
        log.day.append(np.full(t.idx.size, self.day, np.int32))
        log.amount.append((t.value - t.discount).astype(np.float64))
        log.member.append(t.member.copy())
        log.linked.append(t.linked.copy())
        log.reward_progress.append(behaviour.progress(arm.mem, arm.rules, t.idx))

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
        names = self.population.segment_names
        frames = []
        for a, arm in enumerate(ARMS):
            h = self.history[a]                               # (days, S, M)
            allseg = h.sum(axis=1, keepdims=True)
            # Insight scores do not add across segments: 'all' is the customer-weighted mean.
            cust = h[:, :, INDEX["customers"]]
            w = np.divide(cust, cust.sum(axis=1, keepdims=True), out=np.zeros_like(cust), where=cust.sum(axis=1, keepdims=True) > 0)
            for name in INSIGHT_NAMES:
                allseg[:, 0, INDEX[name]] = (h[:, :, INDEX[name]] * w).sum(axis=1)
            full = np.concatenate([allseg, h], axis=1)
            days, S1, M = full.shape
            df = pd.DataFrame(full.reshape(days * S1, M), columns=list(RAW_NAMES))
            df.insert(0, "segment", np.tile(["all"] + names, days))
            df.insert(0, "day", np.repeat(np.arange(days), S1))
            df.insert(0, "arm", arm)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def customers(self) -> pd.DataFrame:
        """Final per-customer state: true attributes, the business's estimates, membership, both arms."""
        pop = self.population
        sch, cf = self.arms
        mem = sch.mem
        idx = np.arange(pop.n)
        est = insight.Estimator(self.spec, pop, sch, idx, max(self.day - 1, 0))
        mix = est.mix(self.priors.mix)
        df = pd.DataFrame({
            "customer_id": idx,
            "segment": np.asarray(pop.segment_names)[pop.segment],
            "household_size": pop.household, "children": pop.children,
            "income_band": pop.income, "time_poor": pop.time_poor, "retired": pop.retired,
            "need_rate_per_year": pop.need_rate * 365.0,
            "basket_log_mu": pop.basket_mu, "basket_log_sd": pop.basket_sd,
            "mean_basket": pop.mean_basket, "own_label_share": pop.own_label,
            "outcome": pop.outcome, "experience": pop.experience, "belonging": pop.belonging,
            "reward_seeking": pop.reward_seeking, "privacy_concern": pop.privacy,
            "preference": pop.preference, "last_life_event_day": pop.last_event_day,
            "member": mem.member, "ever_member": mem.ever_joined, "join_day": np.where(mem.member, mem.join_day, -1),
            "consent": mem.consent, "points": mem.points, "tier": mem.tier, "stamps": mem.stamps,
            "satisfaction": mem.satisfaction,
            "est_own_label_share": est.own_label(self.priors.own),
            "est_basket_log_mu": est.log_basket(self.priors.log_basket),
            "insight_accuracy": mem.acc_mean, "life_event_detected_day": mem.detected_day,
            "tenure_days": np.where(mem.member, self.day - mem.join_day, 0),
            "visits_scheme": sch.shop.visits, "spend_scheme": sch.shop.spend,
            "visits_counterfactual": cf.shop.visits, "spend_counterfactual": cf.shop.spend,
            # Share of wallet, as the share of shopping trips brought here.
            "trip_share_scheme": _share(sch.shop.visits, sch.shop.needs),
            "trip_share_counterfactual": _share(cf.shop.visits, cf.shop.needs),
            "lapsed_scheme": self.day - sch.shop.last_visit >= self.spec.behaviour.lapse_days,
            "lapsed_counterfactual": self.day - cf.shop.last_visit >= self.spec.behaviour.lapse_days,
            "defection_day_scheme": sch.shop.defect_day, "defection_day_counterfactual": cf.shop.defect_day,
        })
        for k, cat in enumerate(CATEGORIES):
            df[f"share_{cat}"] = pop.categories[:, k]
            df[f"est_share_{cat}"] = mix[:, k]
        return df


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.divide(part, whole, out=np.zeros(part.shape), where=whole > 0)


def arm_margin(model: LoyaltyModel) -> np.ndarray:
    """Gross margin rates by category, as the scenario has them today."""
    return np.asarray(model.spec.business.margin, np.float32)
