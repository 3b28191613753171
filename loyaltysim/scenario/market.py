"""The business, the competition, changes over time, verdict settings and customers' choice behaviour."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, field_validator, model_validator

from loyaltysim.scenario.base import CATEGORIES, MAX_DAYS, Strict, retired
from loyaltysim.scenario.fitted import FITTED


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
    reference_tolerance: float = Field(0.05, ge=0, le=1, description="Members count as worse off than their reference when what the scheme gave them fell short of what they had come to expect by more than this share of what it gave them (customer value) in a period; a smaller shortfall is within the week-to-week noise of the comparison. Assumption.")


class Behaviour(Strict):
    """Weights of the store-choice utility and state dynamics (logit scale unless said).

    A member's store choice sees the scheme's anticipated value once (reward_weight on the reward rate,
    price_weight on member prices and expected offers, status_weight on tier status, less friction),
    plus separately sourced psychological effects: the goal gradient (scheme.goal_gradient), rewarded
    behaviour (rewarded_weight) and the reaction to value against an adapting reference
    (reference_weight, loss_aversion)."""

    retired_fields = retired({
        "value_weight": "members now react to the scheme's value against a reference that adapts; see behaviour.reference_weight, reference_memory_days and loss_aversion",
        "expected_value_share": "what members expect is now their own reference, adapting to what the scheme gives them; see behaviour.reference_memory_days",
    })

    price_weight: float = Field(6.0, ge=0, description="Utility per unit of relative price saved, for a fully outcome-motivated customer. Assumption.")
    reward_weight: float = Field(FITTED["behaviour.reward_weight"], ge=0, description="Utility per unit of anticipated reward value as a share of spend, for a fully reward-seeking member. Fitted by python -m loyaltysim.evidence.fit to the incremental sales of the 1% supermarket card: 1.74% of sales incentive driven in a modest cash-type programme (Nastasoiu, Bendle, Bagga, Vandenbosch and Navarro 2021; band 0.5-3%).")
    status_weight: float = Field(0.8, ge=0, description="Utility of the top tier for a fully belonging-motivated member. Assumption.")
    friction_weight: float = Field(8.0, ge=0, description="Utility lost per unit of friction cost as a share of basket, fully time-poor. Assumption.")
    habit_weight: float = Field(1.0, ge=0, description="Utility of a full habit. Assumption.")
    habit_memory_days: float = Field(30.0, gt=0, description="Time constant of habit. Assumption.")
    reference_weight: float = Field(0.3, ge=0, description="Utility of how a member feels about the scheme's recent value against their reference (tanh scale, -1 to 1; a shortfall weighs loss_aversion times an equal gain), beside the anticipated value already in store choice: zero while the scheme gives what members have come to expect. Assumption.")
    rewarded_weight: float = Field(0.5, ge=0, description="Utility of a reward in hand (a voucher held, as a share of a basket, at most 1) for a fully reward-seeking member: rewarded behaviour, the rise in shopping after a reward (Taylor and Neslin, 2005; Nastasoiu et al., 2021 find incentive effects mostly of this kind). Assumption, checked by loyaltysim evidence (incremental_sales).")
    defection_value_weight: float = Field(0.7, ge=0, description="How much a member's felt value against their reference (the same -1 to 1 measure) lowers the chance of leaving the retailer for good (raises it when negative). Assumption.")
    satisfaction_memory_days: float = Field(60.0, gt=0, description="Time constant of members' recent value and spend (what they compare with their reference). Assumption.")
    reference_memory_days: float = Field(180.0, gt=0, description="Time constant of a member's reference: the value they have come to expect from the scheme adapts to what it has given them, this slowly. Assumption (reference prices adapt over months: Kalyanaram and Winer, 1995).")
    loss_aversion: float = Field(1.955, ge=1, description="How much more a shortfall below the reference weighs than an equal gain above it. Source: Brown, Imai, Vieider and Camerer (2024), meta-analysis of 607 estimates, 1.955 [1.820, 2.102].")
    reference_scale: float = Field(0.02, gt=0, description="Gap between recent value and the reference, as a share of spend, that moves felt value by tanh(1) (and the satisfaction logit by 2): about twice a 1% grocery card's whole value, so that a card that gives what members expected, give or take the rounding of points and the visits a card stays in the pocket, leaves them near neutral, and losing a third of its value is felt. Assumption.")
    welfare_outcome_floor: float = Field(0.1, gt=0, le=1, description="Least outcome motivation counted in a customer's utility of money when choice surplus is turned into money (customer welfare): without it, a customer who cares nothing for price would value any utility as unlimited money. Assumption.")
    rival_reference_weight: float = Field(0.5, ge=0, le=1, description="Weight of what the competition gives (competition.reward_rate) in the value a member's reference adapts toward. Assumption.")
    lapse_days: int = Field(60, ge=1, le=MAX_DAYS, description="A customer with no visit for this long is lapsed.")


class Calendar(Strict):
    """Seasons and holiday weeks: a factor on every customer's chance of a shopping need in each week
    of the year (1 = an ordinary week), applied in both arms alike."""

    base: str | None = Field(None, description="A calendar file (as loyaltysim calibrate --calendar writes) whose fields are the defaults of these, relative to the scenario file or among the shipped scenarios (calendars/grocery_completejourney.yaml). Resolved when the scenario is read.")
    weekly_factors: list[NonNegativeFloat] = Field(min_length=52, max_length=53, description="Factor for each week of the year, 52 or 53 of them, each 0 or more.")
    first_week: int = Field(1, ge=1, le=53, description="Week of the year that day 0 falls in (1 = the first).")

    @model_validator(mode="after")
    def _check(self) -> "Calendar":
        if self.first_week > len(self.weekly_factors):
            raise ValueError(f"first_week {self.first_week} is past the {len(self.weekly_factors)} weekly_factors")
        return self

    def factor(self, day: int) -> float:
        """The factor of the week ``day`` falls in."""
        return self.weekly_factors[(self.first_week - 1 + day // 7) % len(self.weekly_factors)]

