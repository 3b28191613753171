"""A per-agent reference model: the core daily rules written in idiomatic Mesa, one agent per customer.

It exists twice over: as a statistical oracle for the vectorised
:class:`~loyaltysim.engine.model.LoyaltyModel` (same customers and day-0 members, same rules, its own
random numbers for every decision, so the two agree in distribution, not draw for draw) and as the
speed baseline of the benchmark. It is not part of the product: runs use LoyaltyModel.

It implements a simple points scheme only: points per unit of linked spend, one voucher reward,
automatic redemption at the threshold, optional age expiry; awareness (in store and by marketing),
joining by expected value against a lasting taste and a threshold, card presentation, felt value
against an adapting reference (loss aversion, rivals' rewards), satisfaction, dormancy and coming back,
leaving, consent withdrawal (of the consent joining requires: it ends membership), referrals and
defection. Life events, tiers, stamps, member prices, offers, paid membership, promotions, partner
points, category multipliers, extra data sources, mid-run changes and customers over time (drift,
seasons, lapses, arrivals, top-up visits, small baskets) are not implemented; :func:`reference_scenario`
strips them from a scenario and :func:`check_supported` refuses a scenario that still has them.

Each customer's day follows the order of ``LoyaltyModel.step()``: a need arises (more often close to a
reward, for a member using the card), the customer chooses this retailer or the competition (binary
logit; an active member's anticipated reward, felt value and vouchers in hand pull, and what they are
worth to the member is counted as choice surplus; habit updates); points past their age expire (a loss
of their worth); the customer draws a lognormal basket, an active member presents the card (or not),
earns (counting the points' worth as value as they are earned), redeems, pays privacy; then, weekly, an
active member's recent value and spend move, their felt value (the value share of spend against their
reference) sets satisfaction and the reference adapts (a new member's to the mean of what they have had
so far), and any member may go dormant (stop presenting the card; they shop as a non-member) or come
back; a member may leave the scheme, withdraw consent or refer; a customer may become aware of the
scheme and, if aware and joining is worth it, join; any customer may defect (less often a member who
feels the scheme served them well).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd

from loyaltysim.engine.mechanics.enrolment import SATISFACTION_EVERY_DAYS
from loyaltysim.engine.population import Population, synthesise
from loyaltysim.engine.rng import population_rng
from loyaltysim.engine.rules import EXPIRY_BUCKETS
from loyaltysim.scenario.models import LIFE_EVENTS, WEEKDAYS, Scenario

__all__ = ["Customer", "ReferenceModel", "check_supported", "reference_scenario"]

DAILY_COLUMNS = ("visits", "sales", "linked_sales", "points_issued", "points_redeemed", "points_expired",
                 "joins", "members", "dormant_members", "went_dormant", "value_above_reference",
                 "value_below_reference", "choice_surplus")
"""Per-day totals the reference records (same names and units as the metric registry)."""


def _sigmoid(x: float) -> float:
    # Same clip as behaviour.sigmoid.
    return 1.0 / (1.0 + math.exp(-min(max(x, -60.0), 60.0)))


def _log_sum(u: float) -> float:
    """log(1 + exp(u)): the expected best utility of here (u) against elsewhere (0), without overflow."""
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


# ---------------------------------------------------------------- what the reference implements

def check_supported(scenario: Scenario) -> None:
    """Raise ValueError (one line) if the scenario uses a mechanic the reference does not implement."""
    s = scenario.scheme
    problems = []
    if s.points is None:
        problems.append("scheme.points is required")
    else:
        p = s.points
        if len(p.rewards) != 1 or p.rewards[0].kind != "voucher":
            problems.append("scheme.points.rewards must be exactly one voucher")
        if p.redemption.mode != "auto":
            problems.append("scheme.points.redemption.mode must be 'auto'")
        if any(m != 1.0 for m in p.category_multipliers.values()):
            problems.append("scheme.points.category_multipliers are not implemented")
        if p.promotions:
            problems.append("scheme.points.promotions are not implemented")
        if p.partner_points_per_year > 0:
            problems.append("scheme.points.partner_points_per_year is not implemented")
    for name in ("stamps", "tiers", "member_pricing", "offers", "membership", "challenges"):
        if getattr(s, name) is not None:
            problems.append(f"scheme.{name} is not implemented")
    if s.expiry is not None and s.expiry.inactivity_days is not None:
        problems.append("scheme.expiry.inactivity_days is not implemented")
    if list(s.data.requested) != ["transactions"]:
        problems.append("scheme.data.requested must be ['transactions']")
    if list(s.data.required) != ["transactions"]:
        problems.append("scheme.data.required must be ['transactions'] (consent to it is then part of joining)")
    if any(getattr(seg.life_events, e) > 0 for seg in scenario.population.segments for e in LIFE_EVENTS):
        problems.append("life events are not implemented (set every segment's life_events to 0)")
    for field in ("need_drift", "lapses", "same_day_baskets", "small_baskets"):
        if any(getattr(seg, field) is not None for seg in scenario.population.segments):
            problems.append(f"population segments' {field} is not implemented")
    if scenario.population.arrivals_per_year > 0:
        problems.append("population.arrivals_per_year is not implemented")
    if scenario.calendar is not None:
        problems.append("calendar is not implemented")
    if scenario.changes:
        problems.append("changes are not implemented")
    if problems:
        raise ValueError("the reference model cannot run this scenario: " + "; ".join(problems))


def reference_scenario(scenario: Scenario) -> Scenario:
    """The scenario reduced to what the reference implements (the same customers and core rules).

    Keeps the population (without life events, drift, lapses, arrivals, top-up visits or small baskets, and
    without the calendar's seasons), behaviour, competition, enrolment, goal gradient,
    earn rate, the first voucher reward and age expiry; drops every other mechanic.
    """
    data = scenario.model_dump(by_alias=True, exclude={"schema_"})
    sch = data["scheme"]
    pts = sch["points"]
    if pts is None:
        raise ValueError("the reference model needs a points scheme (scheme.points)")
    vouchers = [r for r in pts["rewards"] if r["kind"] == "voucher"]
    if not vouchers:
        raise ValueError("the reference model needs a voucher reward in scheme.points.rewards")
    pts.update(rewards=vouchers[:1], category_multipliers={}, promotions=[], partner_points_per_year=0.0,
               redemption={**pts["redemption"], "mode": "auto"})
    for name in ("stamps", "tiers", "member_pricing", "offers", "membership", "challenges"):
        sch[name] = None
    if sch["expiry"] is not None:
        sch["expiry"]["inactivity_days"] = None
        if sch["expiry"]["age_days"] is None:
            sch["expiry"] = None
    sch["data"].update(requested=["transactions"], required=["transactions"])
    for seg in data["population"]["segments"]:
        seg["life_events"] = {e: 0.0 for e in LIFE_EVENTS}
        seg.update(need_drift=None, lapses=None, same_day_baskets=None, small_baskets=None)
    data["population"]["arrivals_per_year"] = 0.0
    data["changes"], data["calendar"] = [], None
    out = Scenario.model_validate(data)
    check_supported(out)
    return out


@dataclass(frozen=True)
class Params:
    """The scenario's constants as plain floats, read by every agent every day."""

    habit_weight: float
    reference_weight: float     # utility of felt value against the reference (-1 to 1)
    rewarded_weight: float      # utility of a voucher in hand (share of a basket, at most 1), fully reward-seeking
    welfare_outcome_floor: float  # least outcome motivation in the utility of money (choice surplus)
    defection_value_weight: float
    price_weight: float
    reward_weight: float
    friction_weight: float
    habit_memory_days: float
    comp_price_advantage: float
    comp_reward_rate: float
    earn_per_unit: float
    reward_points: float
    reward_face: float
    reward_perceived: float
    value_per_point: float      # perceived value of one point
    gg_strength: float
    gg_curvature: float
    gg_acceleration: float
    card_presentation: float
    friction_per_visit: float
    join_rate: float            # chance per visit that an aware shopper for whom joining is worth it joins
    join_threshold: float       # logit units joining must beat not joining by (value + taste)
    value_sensitivity: float
    aware_daily: float          # daily chance marketing makes anyone aware
    aware_visit: float          # chance a visit makes a shopper aware (marketing's daily chance included)
    card_skip_friction_share: float  # friction share at which the time-poor skip the card half as often
    value_scale: float          # expected deal (value over spend) that moves the join logit by value_sensitivity
    referral_conversion: float  # share of referrals that bring in a member
    withdrawal_daily: float     # daily consent withdrawal of a fully concerned, fully dissatisfied member
    privacy_per_year: float     # yearly privacy cost of sharing transactions, fully concerned
    leave_daily: float          # daily leaving chance of a fully dissatisfied member
    referral_daily: float       # daily referrals of a fully satisfied, fully belonging-motivated member
    dormancy_weekly: float      # weekly chance an active member at neutral satisfaction goes dormant
    reactivation_weekly: float  # weekly chance a dormant member at neutral satisfaction comes back
    satisfaction_alpha: float   # weekly smoothing of value and spend
    reference_alpha: float      # weekly adaptation of the reference
    loss_aversion: float        # weight of a shortfall below the reference against an equal gain
    reference_scale: float      # gap (share of spend) that moves felt value by tanh(1)
    rival_reference_weight: float  # pull of the competition's reward rate on the reference
    bucket_days: int            # days per expiry period (0: no expiry)

    @classmethod
    def of(cls, sc: Scenario) -> "Params":
        b, s = sc.behaviour, sc.scheme
        en, gg = s.enrolment, s.goal_gradient
        reward = s.points.rewards[0]
        perceived = reward.face_value * reward.perceived_ratio
        if s.expiry is not None and s.expiry.age_days:
            bucket_days = max(1, math.ceil(s.expiry.age_days / EXPIRY_BUCKETS))
        else:
            bucket_days = 0
        week = SATISFACTION_EVERY_DAYS / 365
        aware_daily = 1.0 - (1.0 - en.awareness_per_year) ** (1 / 365)
        return cls(
            habit_weight=b.habit_weight, reference_weight=b.reference_weight, rewarded_weight=b.rewarded_weight,
            welfare_outcome_floor=b.welfare_outcome_floor,
            defection_value_weight=b.defection_value_weight,
            price_weight=b.price_weight, reward_weight=b.reward_weight, friction_weight=b.friction_weight,
            habit_memory_days=b.habit_memory_days, comp_price_advantage=sc.competition.price_advantage,
            comp_reward_rate=sc.competition.reward_rate, earn_per_unit=s.points.earn_per_unit,
            reward_points=reward.points, reward_face=reward.face_value, reward_perceived=perceived,
            value_per_point=perceived / reward.points, gg_strength=gg.strength, gg_curvature=gg.curvature,
            gg_acceleration=gg.acceleration, card_presentation=en.card_presentation,
            friction_per_visit=en.friction_per_visit,
            join_rate=en.join_rate_per_visit, join_threshold=en.join_threshold,
            value_sensitivity=en.value_sensitivity, value_scale=en.value_scale,
            aware_daily=aware_daily, aware_visit=1.0 - (1.0 - en.awareness_per_visit) * (1.0 - aware_daily),
            card_skip_friction_share=en.card_skip_friction_share,
            referral_conversion=en.referral_conversion, withdrawal_daily=s.data.consent_withdrawal_per_year / 365,
            privacy_per_year=s.data.privacy_cost_per_year.get("transactions", 0.0),
            leave_daily=1.0 - (1.0 - en.leave_rate_per_year) ** (1 / 365),
            referral_daily=en.referral_rate_per_year / 365,
            dormancy_weekly=1.0 - (1.0 - en.dormancy_per_year) ** week,
            reactivation_weekly=1.0 - (1.0 - en.reactivation_per_year) ** week,
            satisfaction_alpha=1.0 - math.exp(-SATISFACTION_EVERY_DAYS / b.satisfaction_memory_days),
            reference_alpha=1.0 - math.exp(-SATISFACTION_EVERY_DAYS / b.reference_memory_days),
            loss_aversion=b.loss_aversion, reference_scale=b.reference_scale,
            rival_reference_weight=b.rival_reference_weight, bucket_days=bucket_days,
        )


# ---------------------------------------------------------------- the agent

class Customer(mesa.Agent):
    """One customer: hidden attributes (from the shared population) and their state in one arm."""

    def __init__(self, model: "ReferenceModel", customer_id: int, attrs: dict) -> None:
        super().__init__(model)
        self.customer_id = customer_id
        # Hidden true attributes (plain floats).
        self.need_rate: float = attrs["need_rate"]
        self.weekday_weight: list[float] = attrs["weekday"]
        self.basket_mu: float = attrs["basket_mu"]
        self.basket_sd: float = attrs["basket_sd"]
        self.mean_basket = math.exp(self.basket_mu + 0.5 * self.basket_sd ** 2)
        self.preference: float = attrs["preference"]
        self.outcome: float = attrs["outcome"]
        self.reward_seeking: float = attrs["reward_seeking"]
        self.belonging: float = attrs["belonging"]
        self.privacy: float = attrs["privacy"]
        self.time_poor: bool = attrs["time_poor"]
        self.defect_rate: float = attrs["defect_rate"]
        self.join_taste: float = attrs["join_taste"]  # lasting taste for joining schemes (standard logistic)
        p = model.params
        # Derived constants of this customer.
        self.habit_alpha = 1.0 - math.exp(-1.0 / max(p.habit_memory_days * self.need_rate, 1.0))
        # Time-poor customers feel friction fully, others a fifth; more if experience-driven.
        friction_weight = (1.0 if self.time_poor else 0.2) * (0.5 + attrs["experience"])
        self.effort = p.friction_per_visit * friction_weight          # money per linked trip
        self.friction_share = self.effort / self.mean_basket
        self.reward_rate = p.earn_per_unit * p.value_per_point        # perceived value per unit spent
        self.reward_scale = min(p.reward_perceived / self.mean_basket, 1.0)
        self.utility_base = (self.preference - p.price_weight * self.outcome * p.comp_price_advantage
                             - p.reward_weight * self.reward_seeking * p.comp_reward_rate)
        self.member_utility = (p.reward_weight * self.reward_seeking * self.reward_rate
                               - p.friction_weight * self.friction_share)
        self.present_p = p.card_presentation * (1.0 - 0.5 * min(self.friction_share / p.card_skip_friction_share, 1.0) * self.time_poor)
        # Money per unit of utility (choice surplus): a basket per price_weight x outcome, at least the floor.
        utility_per_money = p.price_weight * max(self.outcome, p.welfare_outcome_floor) / self.mean_basket
        self.money_per_utility = 1.0 / utility_per_money if utility_per_money > 0 else 0.0
        # State, as LoyaltyModel starts it.
        self.alive = True
        self.habit = 1.0 / (1.0 + math.exp(-self.preference))  # steady state of the no-scheme choice
        self.satisfaction = 0.5
        self.visits = 0
        self.spend = 0.0
        self.spend_week = 0.0
        self.aware = False     # has heard of the scheme (joining is considered only then)
        self.member = False
        self.dormant = False   # a member who keeps the card but no longer presents it
        self.active = False    # a member using the card: member and not dormant
        self.ever_member = False
        self.join_day = 0
        self.consent = False
        self.points = 0
        self.lots: dict[int, int] = {}   # expiry period -> points earned in it (oldest first)
        self.vouchers = 0.0
        self.net_value = 0.0
        self.value_ema = 0.0
        self.spend_ema = 0.0
        self.reference = 0.0   # value share of spend the member has come to expect
        self.recent = 0.0      # felt value against the reference, -1 to 1 (refreshed weekly)
        self.points_issued = 0
        self.points_redeemed = 0
        self.points_expired = 0
        self.linked_sales = 0.0
        self.went_dormant = 0
        self.choice_surplus = 0.0
        self.value_above_reference = 0.0
        self.value_below_reference = 0.0

    # ------------------------------------------------------------ the day

    def step(self) -> None:
        """One day of this customer, in LoyaltyModel's order (see the module docstring)."""
        if not self.alive:
            return
        m = self.model
        rng = m.rng
        p = m.params
        scheme = m.with_scheme
        # 2. A need arises, more often for members using the card close to a reward (goal-gradient acceleration).
        p_need = self.need_rate * self.weekday_weight[m.weekday]
        if self.active and p.gg_acceleration > 0:
            p_need *= 1.0 + p.gg_acceleration * self.reward_seeking * self.pull()
        shopped = False
        if rng.random() < p_need:
            shopped = self.choose(p, rng)
        # 6 starts before the till: points past their age expire before today's points are earned.
        if scheme and self.member and m.expire_through is not None and self.lots:
            self.expire()
        if shopped:
            self.shop(p, rng)
        if scheme and self.member:
            self.settle(p)
        if scheme:
            self.update(p, rng, shopped)
        # Defection: leaving the retailer for good, less likely for members who feel the scheme served them well.
        if rng.random() < self.defect_rate * math.exp(-p.defection_value_weight * self.recent_value()):
            self.alive = False
            if self.member:
                self.leave()

    def recent_value(self) -> float:
        """Felt value against the reference on a -1 to 1 scale, as of the last weekly update (0 for
        non-members; a dormant member's stays as it was when they stopped using the card)."""
        return self.recent if self.member else 0.0

    def progress(self) -> float:
        """Progress (0-1) toward the reward (0 for non-members and dormant members)."""
        if not self.active:
            return 0.0
        return min(self.points / self.model.params.reward_points, 1.0)

    def pull(self) -> float:
        """Goal-gradient pull: progress ** curvature, scaled by the reward's worth against a basket."""
        return self.progress() ** self.model.params.gg_curvature * self.reward_scale

    def choose(self, p: Params, rng: np.random.Generator) -> bool:
        """3. This retailer or the competition (binary logit); habit remembers the answer.

        A member using the card adds the anticipated reward less friction, their felt value, the goal
        gradient and a voucher in hand (rewarded behaviour); a dormant member chooses as a non-member."""
        u = self.utility_base + p.habit_weight * self.habit
        if self.active:
            add = (self.member_utility + p.reference_weight * self.recent
                   + p.gg_strength * self.reward_seeking * self.pull()
                   + p.rewarded_weight * self.reward_seeking * min(self.vouchers / self.mean_basket, 1.0))
            # Choice surplus: what the scheme's terms are worth on this need, in money (logit log-sums).
            surplus = (_log_sum(u + add) - _log_sum(u)) * self.money_per_utility
            self.choice_surplus += surplus
            self.model.tally["choice_surplus"] += surplus
            u += add
        here = rng.random() < _sigmoid(u)
        self.habit += self.habit_alpha * (here - self.habit)
        return here

    def shop(self, p: Params, rng: np.random.Generator) -> None:
        """4-6. Basket, card, points: a trip here."""
        m = self.model
        value = math.exp(self.basket_mu + self.basket_sd * rng.standard_normal())
        self.visits += 1
        self.spend += value
        m.tally["visits"] += 1
        m.tally["sales"] += value
        if not m.with_scheme:
            return
        self.spend_week += value
        if not self.member:
            return
        self.vouchers = 0.0  # vouchers are spent on the next trip (a dormant member's too)
        if self.dormant or rng.random() >= self.present_p:
            return  # a dormant member never presents the card
        self.net_value -= self.effort
        pts = math.floor(value * p.earn_per_unit + 1e-6)
        self.points += pts
        self.net_value += pts * p.value_per_point  # points count as value when earned
        if p.bucket_days and pts:
            period = m.day // p.bucket_days
            self.lots[period] = self.lots.get(period, 0) + pts
        self.points_issued += pts
        self.linked_sales += value
        m.tally["linked_sales"] += value
        m.tally["points_issued"] += pts

    def expire(self) -> None:
        """Age expiry: points earned in periods up to the model's ``expire_through`` expire, a loss of their worth."""
        m = self.model
        for period in [k for k in self.lots if k <= m.expire_through]:
            old = self.lots.pop(period)
            self.points -= old
            self.net_value -= old * m.params.value_per_point
            self.points_expired += old
            m.tally["points_expired"] += old

    def settle(self, p: Params) -> None:
        """6. Automatic redemption at the threshold (the points' worth was counted when earned), the day's
        privacy cost."""
        m = self.model
        if self.points >= p.reward_points:
            count = math.floor(self.points / p.reward_points)
            spent = int(count * p.reward_points)
            self.take(spent)
            self.vouchers += count * p.reward_face
            self.points_redeemed += spent
            m.tally["points_redeemed"] += spent
        if self.consent:
            self.net_value -= self.privacy * p.privacy_per_year / 365

    def take(self, amount: int) -> None:
        """Remove points, oldest earning period first."""
        self.points -= amount
        for period in list(self.lots):
            if amount <= 0:
                break
            used = min(amount, self.lots[period])
            amount -= used
            if used == self.lots[period]:
                del self.lots[period]
            else:
                self.lots[period] -= used

    def update(self, p: Params, rng: np.random.Generator, shopped: bool) -> None:
        """8. Weekly felt value, satisfaction, reference and dormancy; leave, withdraw consent, refer;
        become aware; join."""
        m = self.model
        if m.satisfaction_day:
            if self.active:
                self.feel(p)
            self.net_value = 0.0
            self.spend_week = 0.0
            if self.member:
                self.go_dormant_or_return(p, rng)
        if self.member:
            if rng.random() < p.leave_daily * (1.0 - self.satisfaction):
                self.leave()
            else:
                withdraw = self.consent and rng.random() < (p.withdrawal_daily * self.privacy
                                                            * (1.0 - self.satisfaction))
                if rng.random() < p.referral_daily * self.satisfaction * self.belonging:
                    m.referrals_today += 1
                if withdraw:  # membership ends with the consent it requires
                    self.leave()
        if self.member:
            return
        # Hearing of the scheme: on a visit (in-store prompts) or from marketing, one draw.
        if not self.aware and (shopped or p.aware_daily > 0):
            self.aware = rng.random() < (p.aware_visit if shopped else p.aware_daily)
        chance = max(p.join_rate if shopped and self.aware else 0.0, m.referral_p)
        if chance > 0 and rng.random() < chance and self.worth_joining(p):
            self.enrol()

    def feel(self, p: Params) -> None:
        """The weekly update of a member using the card: recent value and spend per day move toward the
        week's; the value share of spend against the reference (a shortfall weighing loss_aversion times
        a gain) is the felt value and sets satisfaction; then the reference adapts toward the share (and
        toward what the competition gives, where it gives more), at first as the mean of the weeks so far."""
        m = self.model
        a = p.satisfaction_alpha
        self.value_ema += a * (self.net_value / SATISFACTION_EVERY_DAYS - self.value_ema)
        self.spend_ema += a * (self.spend_week / SATISFACTION_EVERY_DAYS - self.spend_ema)
        share = self.value_ema / max(self.spend_ema, 0.05)
        gap = share - self.reference
        # The week's value against the reference, in money (without loss aversion), above or below it.
        money = gap * self.spend_ema * SATISFACTION_EVERY_DAYS
        self.value_above_reference += max(money, 0.0)
        self.value_below_reference += max(-money, 0.0)
        m.tally["value_above_reference"] += max(money, 0.0)
        m.tally["value_below_reference"] += max(-money, 0.0)
        felt = (gap * p.loss_aversion if gap < 0 else gap) / p.reference_scale
        self.recent = math.tanh(felt)
        self.satisfaction = _sigmoid(2.0 * felt)
        target = share + p.rival_reference_weight * max(p.comp_reward_rate - share, 0.0)
        # A new member's reference is the mean of what they have had so far (week k of membership: 1/(k+1)
        # of the way), until that moves less than the reference's own memory.
        weeks = max((m.day - self.join_day) // SATISFACTION_EVERY_DAYS, 0)
        self.reference += max(p.reference_alpha, 1.0 / (weeks + 1)) * (target - self.reference)

    def go_dormant_or_return(self, p: Params, rng: np.random.Generator) -> None:
        """Weekly: an active member stops presenting the card more often the less satisfied; a dormant one
        comes back more often the more satisfied (their satisfaction as it was when they stopped)."""
        m = self.model
        u = rng.random()
        if self.dormant:
            if u < p.reactivation_weekly * 2.0 * self.satisfaction:
                self.dormant, self.active = False, True
                m.dormant_members -= 1
        elif u < p.dormancy_weekly * 2.0 * (1.0 - self.satisfaction):
            self.dormant, self.active = True, False
            self.went_dormant += 1
            m.dormant_members += 1
            m.tally["went_dormant"] += 1

    def expected_value(self, p: Params) -> float:
        """Expected yearly net value of joining, in money: rewards on expected spend less effort and privacy."""
        trips = self.need_rate * 365 * self.habit
        gain = trips * self.mean_basket * self.reward_rate
        cost = trips * self.effort + self.privacy * p.privacy_per_year
        return gain - cost

    def worth_joining(self, p: Params) -> bool:
        """Joining beats not joining: the expected deal (yearly net value over yearly spend here, in logit
        units) plus lasting taste above the threshold."""
        spend = 365.0 * self.need_rate * self.mean_basket * self.habit
        deal = self.expected_value(p) / max(spend, 1e-9)
        return p.value_sensitivity * deal / p.value_scale + self.join_taste > p.join_threshold

    def enrol(self) -> None:
        """Join the scheme, consenting to what it requires (transactions). The reference starts at the
        value share of spend expected on joining (what comes with the card on the visits it would be
        presented; the privacy cost whatever), and recent value and spend start there: the scheme is as
        expected until it shows otherwise."""
        p = self.model.params
        spend_day = self.need_rate * self.mean_basket * self.habit
        privacy = self.privacy * p.privacy_per_year
        expected = (self.expected_value(p) + privacy) * p.card_presentation - privacy
        share = expected / max(365.0 * spend_day, 1e-9)
        self.member = self.active = self.aware = True
        self.dormant = False
        self.ever_member = True
        self.join_day = self.model.day
        self.consent = True
        self.spend_ema = spend_day
        self.value_ema = spend_day * share
        self.reference = share
        self.recent = 0.0
        self.model.members += 1
        self.model.tally["joins"] += 1

    def leave(self) -> None:
        """Leave the scheme: points forfeited (a loss of their worth), vouchers lost, satisfaction back to neutral."""
        m = self.model
        self.points_expired += self.points
        m.tally["points_expired"] += self.points
        self.net_value -= self.points * m.params.value_per_point
        self.points = 0
        self.lots.clear()
        if self.dormant:
            m.dormant_members -= 1
        self.member = self.active = self.dormant = False
        self.consent = False
        self.vouchers = 0.0
        self.satisfaction = 0.5
        m.members -= 1


# ---------------------------------------------------------------- the model

class ReferenceModel(mesa.Model):
    """One arm of a scenario with one :class:`Customer` agent per customer.

    ``with_scheme=False`` runs the no-scheme counterfactual. The population is the vectorised model's
    (``synthesise(scenario, replicate)``), and so are the day-0 members (``initial_members``, drawn from
    the same population stream); every decision draws from the model's own numpy Generator.
    """

    def __init__(self, scenario: Scenario, replicate: int = 0, *, with_scheme: bool = True,
                 seed: int | None = None, population: Population | None = None) -> None:
        check_supported(scenario)
        if seed is None:
            # Independent of LoyaltyModel's streams: a spawn key those never use.
            seq = np.random.SeedSequence(entropy=scenario.seed, spawn_key=(replicate, 1000, int(with_scheme)))
            seed = int(seq.generate_state(1)[0])
        super().__init__(rng=seed)
        self.spec = scenario  # not `scenario`: Mesa >= 3.4 owns that attribute
        self.replicate = replicate
        self.with_scheme = with_scheme
        self.params = Params.of(scenario)
        self.day = 0
        self.members = 0
        self.dormant_members = 0
        self.referrals_today = 0
        self.referral_p = 0.0
        self.satisfaction_day = False
        self.expire_through: int | None = None
        self.tally = dict.fromkeys(DAILY_COLUMNS, 0.0)
        self._start_weekday = WEEKDAYS.index(scenario.start_weekday)
        pop = synthesise(scenario, replicate) if population is None else population
        self.n = pop.n
        columns = {
            "need_rate": pop.need_rate, "weekday": pop.weekday, "basket_mu": pop.basket_mu,
            "basket_sd": pop.basket_sd, "preference": pop.preference, "outcome": pop.outcome,
            "experience": pop.experience, "reward_seeking": pop.reward_seeking, "belonging": pop.belonging,
            "privacy": pop.privacy, "time_poor": pop.time_poor, "defect_rate": pop.defect_rate,
            "join_taste": pop.join_taste,
        }
        lists = {k: np.asarray(v).tolist() for k, v in columns.items()}
        self.customers_by_id = [Customer(self, i, {k: v[i] for k, v in lists.items()}) for i in range(pop.n)]
        share = scenario.scheme.enrolment.initial_members
        if with_scheme and share > 0:
            # Day-0 members are a starting stock, like the population: the vectorised model's, from its stream.
            u = population_rng(scenario.seed, replicate, "membership_start").random(pop.n)
            for c, draw in zip(self.customers_by_id, u.tolist()):
                if draw < share:
                    c.enrol()
            self.tally["joins"] = 0.0  # a starting stock, not joins
        self.datacollector = mesa.DataCollector(
            model_reporters={name: (lambda m, k=name: m.tally[k]) for name in DAILY_COLUMNS})

    @property
    def weekday(self) -> int:
        """Weekday index (0 = Monday) of the current day."""
        return (self._start_weekday + self.day) % 7

    def step(self) -> None:
        """One day: set the day's shared facts, let every customer live it, record the totals."""
        p, day = self.params, self.day
        for k in self.tally:
            self.tally[k] = 0.0
        # Referrals made yesterday bring in members today, spread over the non-members.
        nonmembers = sum(1 for c in self.customers_by_id if c.alive and not c.member) if self.referrals_today else 0
        self.referral_p = min(1.0, p.referral_conversion * self.referrals_today / max(nonmembers, 1)) \
            if self.referrals_today else 0.0
        self.referrals_today = 0
        self.satisfaction_day = day % SATISFACTION_EVERY_DAYS == SATISFACTION_EVERY_DAYS - 1
        # At each expiry-period boundary, points earned more than EXPIRY_BUCKETS periods ago expire.
        if p.bucket_days and day > 0 and day % p.bucket_days == 0:
            self.expire_through = day // p.bucket_days - EXPIRY_BUCKETS - 1
        else:
            self.expire_through = None
        self.agents.shuffle_do("step")
        self.tally["members"] = self.members
        self.tally["dormant_members"] = self.dormant_members
        self.datacollector.collect(self)
        self.day += 1

    def run(self) -> "ReferenceModel":
        """Run every day of the scenario."""
        while self.day < self.spec.days:
            self.step()
        return self

    def daily(self) -> pd.DataFrame:
        """Per-day totals: day and the :data:`DAILY_COLUMNS`."""
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        df.insert(0, "day", np.arange(len(df)))
        return df

    def customers(self) -> pd.DataFrame:
        """Per-customer totals over the run, in customer order."""
        cs = self.customers_by_id
        return pd.DataFrame({
            "customer_id": [c.customer_id for c in cs],
            "visits": [c.visits for c in cs],
            "spend": [c.spend for c in cs],
            "member": [c.member for c in cs],
            "dormant": [c.dormant for c in cs],
            "aware": [c.aware for c in cs],
            "satisfaction": [c.satisfaction for c in cs],
            "reference": [c.reference for c in cs],
            "ever_member": [c.ever_member for c in cs],
            "points": [c.points for c in cs],
            "points_issued": [c.points_issued for c in cs],
            "points_redeemed": [c.points_redeemed for c in cs],
            "points_expired": [c.points_expired for c in cs],
            "linked_sales": [c.linked_sales for c in cs],
            "went_dormant": [c.went_dormant for c in cs],
            "choice_surplus": [c.choice_surplus for c in cs],
            "value_above_reference": [c.value_above_reference for c in cs],
            "value_below_reference": [c.value_below_reference for c in cs],
            "alive": [c.alive for c in cs],
        })
