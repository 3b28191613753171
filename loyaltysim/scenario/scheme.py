"""The scheme: one model per mechanic (points, stamps, expiry, tiers, member pricing, offers, challenges,
membership, data collection), its costs, enrolment and goal-gradient behaviour."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from loyaltysim.scenario.base import CATEGORIES, DATA_SOURCES, MAX_DAYS, Strict, retired
from loyaltysim.scenario.fitted import FITTED


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
    card_skips_kept: float = Field(0.3, ge=0, le=1, description="Share of the visits on which a member would skip the card that they still skip when member prices need it. Assumption.")


class Offers(Strict):
    """Personalised offers chosen from what the business believes about each member."""

    every_days: int = Field(14, ge=1, le=MAX_DAYS, description="An offer is sent to each consenting member this often.")
    discount: float = Field(0.2, gt=0, lt=1, description="Money off the targeted category on the next trip.")
    validity_days: int = Field(14, ge=1, le=MAX_DAYS, description="Days an offer stays valid.")
    base_redemption: float = Field(0.02, ge=0, le=1, description="Redemption of an offer chosen blind (mass coupons 1-3%, Kroger reports).")
    max_redemption: float = Field(0.5, ge=0, le=1, description="Redemption when the business knows the member perfectly (targeted coupons up to ~50%, Kroger reports).")
    cost_per_offer: float = Field(0.02, ge=0, description="Cost of making and sending one offer. Assumption.")
    expected_basket_share: float = Field(0.5, gt=0, le=1, description="Share of a typical basket an offer covers, as members anticipate it: a live offer's pull on store choice is the saving it promises (discount x this share, weighed as a price) times the chance it is used on the trip (base_redemption up to max_redemption with the business's accuracy). Default: an offer is on the category the business believes a member buys most, about half a grocery basket (mean top-category share 0.47 in the Complete Journey population).")

    retired_fields = retired({"pull": "a live offer now pulls by the saving it promises (discount x expected_basket_share, weighed by behaviour.price_weight)"})


class Challenges(Strict):
    """Personalised challenges, as retailers' apps run them: spend a target in one category within a few
    days for a bonus. The category is the one the business believes the member buys most, the target a
    stretch on what it believes they spend there, so only members who consent to transaction profiling
    get them, and a challenge is only as well aimed as the business's insight."""

    every_days: int = Field(28, ge=1, le=MAX_DAYS, description="A new challenge goes to each consenting member this often (replacing one still open).")
    window_days: int = Field(14, ge=1, le=MAX_DAYS, description="Days a member has to complete a challenge.")
    stretch: float = Field(1.5, gt=0, description="Target as a multiple of what the business believes the member spends in the category over the window. Assumption.")
    min_target: float = Field(5.0, ge=0, description="Smallest target, in money (a member the business knows little about gets this).")
    bonus_points: int = Field(0, ge=0, description="Points credited when a challenge is completed (needs scheme.points).")
    voucher: float = Field(0.0, ge=0, description="Money off the next trip when a challenge is completed; costs its face value.")
    cost_per_challenge: float = Field(0.01, ge=0, description="Cost of setting and sending one challenge. Assumption.")
    pull: float = Field(0.3, ge=0, description="Utility pull of an open challenge on store choice, for a fully reward-seeking member and a bonus worth a typical basket (smaller bonuses pull less). Assumption.")

    @model_validator(mode="after")
    def _check(self) -> "Challenges":
        if self.bonus_points == 0 and self.voucher == 0:
            raise ValueError("a challenge needs a bonus: bonus_points or voucher above 0")
        return self


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
    privacy_scale: float = Field(5.0, gt=0, description="Yearly privacy cost (money) of an optional data source at which a fully concerned customer's odds of consenting to it fall by a factor e. Assumption.")
    consent_withdrawal_per_year: float = Field(0.2, ge=0, le=1, description="Yearly chance a fully privacy-concerned, fully dissatisfied member withdraws consent. Assumption.")

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

    awareness_per_visit: float = Field(0.5, ge=0, le=1, description="Chance a visit makes a shopper who has not heard of the scheme aware of it (till prompts, signs: a grocery till asks for the card on most visits). Joining is considered only once aware. Assumption.")
    awareness_per_year: float = Field(0.0, ge=0, le=1, description="Share of customers not yet aware whom marketing outside the store makes aware over a year, whether or not they shop (0: in-store only). Assumption.")
    join_rate_per_visit: float = Field(FITTED["scheme.enrolment.join_rate_per_visit"], ge=0, le=1, description="Chance per visit that an aware shopper for whom joining is worth it signs up (inertia: how long it takes to act on a decision made). Every visit is a chance, so frequent shoppers join sooner, the self-selection of heavy buyers (Meyer-Waarden and Benavent 2009). Fitted by python -m loyaltysim.evidence.fit to the naive member vs non-member gap in share of wallet being seven times the causal effect (Leenheer, van Heerde, Bijmolt and Smidts 2007; band 4-12).")
    join_threshold: float = Field(3.0, ge=0, description="Logit units by which joining must beat not joining: the effort of signing up and of carrying a card, against each customer's lasting taste for schemes (a standard logistic draw). A customer joins when value_sensitivity x (expected yearly net value / expected yearly spend here) / value_scale + taste exceeds this, so a scheme worth nothing recruits at most sigmoid(-join_threshold) of those aware (4.7% at 3). Assumption, checked by loyaltysim evidence (no_value_recruits).")
    initial_members: float = Field(0.0, ge=0, le=1, description="Share of customers who are members (and aware) on day 0, whatever the scheme is worth to them.")
    value_sensitivity: float = Field(FITTED["scheme.enrolment.value_sensitivity"], ge=0, description="Logit units of joining per value_scale of the expected deal (expected yearly net value as a share of expected yearly spend here). Fitted by python -m loyaltysim.evidence.fit to members' share of sales of the 1% supermarket card: at least 80% of sales on the card in a good grocery programme (Woolf 2002; target 85%, band 80-90%).")
    card_presentation: float = Field(0.95, ge=0, le=1, description="Chance a member using the card presents it on a visit with no friction (forgotten about one visit in twenty). Assumption, checked by loyaltysim evidence (member_sales_share).")
    friction_per_visit: float = Field(0.05, ge=0, description="Time cost of presenting the card per visit to a fully time-poor member, in money. Assumption.")
    card_skip_friction_share: float = Field(0.05, gt=0, description="Card friction, as a share of the basket, at which a time-poor member skips the card on half the visits they would otherwise present it (less friction, proportionally fewer). Assumption.")
    leave_rate_per_year: float = Field(0.3, ge=0, le=1, description="Yearly chance a dissatisfied (satisfaction 0) member leaves the scheme; at neutral satisfaction (the scheme gives what they expect) half of it. Assumption.")
    dormancy_per_year: float = Field(0.1, ge=0, le=1, description="Yearly chance a member at neutral satisfaction stops presenting the card while keeping it (dormant: earns nothing, the scheme leaves their store choice); twice that fully dissatisfied, none fully satisfied. Assumption (COLLOQUY 2015: 42% of memberships active across all programmes; a grocery card in weekly use is used more).")
    reactivation_per_year: float = Field(0.5, ge=0, le=1, description="Yearly chance a dormant member at neutral satisfaction starts presenting the card again; twice that fully satisfied. A dormant member's satisfaction stays as it was when they stopped. Assumption.")
    referral_rate_per_year: float = Field(0.2, ge=0, description="Referrals per year by a fully satisfied, fully belonging-motivated member. Assumption.")
    referral_conversion: float = Field(0.3, ge=0, le=1, description="Share of referrals that bring in a member. Assumption.")
    value_scale: float = Field(0.01, gt=0, description="Expected deal (yearly net value as a share of yearly spend here) that moves the join logit by value_sensitivity: 0.01 is a card giving 1% back. Assumption (a unit, not a behaviour: value_sensitivity is fitted per this unit).")


class GoalGradient(Strict):
    """Pull of a reward that is close (Kivetz, Urminsky and Zheng, 2006)."""

    strength: float = Field(1.2, ge=0, description="Utility pull at full progress for a fully reward-seeking customer, scaled by the reward's worth against a basket. Calibrated with acceleration to 20% shorter gaps from the first to the last stamp of a 10-stamp card (Kivetz, Urminsky and Zheng, 2006).")
    curvature: float = Field(2.0, gt=0, description="Pull = strength * progress ** curvature: the pull grows as the reward gets close.")
    acceleration: float = Field(0.35, ge=0, description="Extra need rate at full progress (purchase acceleration). Calibrated with strength on the coffee card (coffee_stamps, 12,000 customers) to 20% shorter gaps from the first to the last stamp of a 10-stamp card (Kivetz, Urminsky and Zheng, 2006: ratio 0.80; 0.800 at 0.35).")


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
    challenges: Challenges | None = None
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
        if self.challenges is not None and self.challenges.bonus_points and self.points is None:
            raise ValueError("challenges.bonus_points needs points (or give a voucher instead)")
        return self
