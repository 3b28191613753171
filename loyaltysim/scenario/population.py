"""The customer base: segments of customers, their motivations, shopping habits and life events."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, field_validator, model_validator

from loyaltysim.scenario.base import (
    CATEGORIES, CJ, HOUR_BANDS, INCOME_BANDS, MAX_DAYS, WEEKDAYS, BetaDist, GammaDist, NormalDist, Strict, _shares,
)


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


class NeedDrift(Strict):
    """Habits that drift: each customer's log need rate wanders around their own level (a mean-reverting,
    Ornstein-Uhlenbeck process, stepped weekly), so heavy and light buyers regress toward the middle
    from quarter to quarter, as panels show, while the population's mean rate stays where it was."""

    time_scale_days: float = Field(gt=0, le=100 * MAX_DAYS, description="E-folding time of a deviation from the customer's own level, in days. Calibration target: the quarter-to-quarter correlation of households' trips (The Complete Journey: Q1 vs Q4 0.715).")
    sd: float = Field(ge=0, le=3, description="Long-run standard deviation of the log need rate around the customer's own level. Calibration target: as time_scale_days.")


class Lapses(Strict):
    """Spells away: a customer stops shopping for a while (a long holiday, a spell of shopping elsewhere,
    a temporary move) and comes back, unlike leaving for good (``defection_per_year``)."""

    per_year: float = Field(ge=0, le=52, description="Spells that start per customer-year while shopping. Calibration target: households present in the first and last quarter of a panel's year but absent through a whole quarter between. Assumption until fitted.")
    mean_days: float = Field(gt=0, le=10 * MAX_DAYS, description="Mean length of a spell, in days (exponential, stepped weekly). Calibration target: as per_year.")


class SameDayBaskets(Strict):
    """Several baskets a day: a trip (a customer's shopping here on one day) may hold top-up visits."""

    share: float = Field(ge=0, lt=1, description="Share of trips with two or more baskets. The Complete Journey: about 17% of household-days hold 2+ baskets.")
    more: float = Field(0.0, ge=0, lt=1, description="Chance of a further basket given one more already (a geometric count beyond the second). Calibration target: as share.")


class SmallBaskets(Strict):
    """A basket-value mixture: some trips are small top-up shops, whose log value sits below the
    customer's usual, so the trip-value distribution has the long lower tail panels show (a single
    lognormal fitted to the mean puts the median too low and the tail too thin)."""

    share: float = Field(ge=0, lt=1, description="Share of a customer's trips that are small shops. Calibration target: trip-value quantiles.")
    log_ratio: float = Field(le=0, ge=-10, description="Log of a small shop's typical value relative to the customer's usual basket (0 or less). Calibration target: as share.")


class Segment(Strict):
    """One group of customers, each attribute a distribution across its members."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", description="Segment name used in outputs (not 'all').")
    share: float = Field(gt=0, le=1, description="Share of the customer base in this segment.")
    household_size: list[float] = Field(
        [0.32, 0.40, 0.135, 0.065, 0.08],
        description=f"Shares of households of 1, 2, 3, 4 and 5+ people. {CJ}, demographics of 801 households.")
    children_share: float = Field(0.53, ge=0, le=1, description=f"Share of households of 2+ people with children. {CJ}: 36% of all households have children, 53% of those of 2+ people.")
    income: list[float] = Field([0.35, 0.45, 0.20], description="Shares in the low, middle, high income bands. Assumption.")
    income_basket: list[PositiveFloat] = Field([0.8, 1.0, 1.3], min_length=3, max_length=3, description="Basket multiplier by income band (low, middle, high), each above 0. Assumption.")
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
    basket_log_sd_within: float = Field(1.03, gt=0, description=f"Sd of log basket value across one customer's trips (with small_baskets: within each kind of shop, usual or small). {CJ}.")
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
    need_drift: NeedDrift | None = Field(None, description="Habits that drift over time (none: each customer's need rate stays at its level apart from life events).")
    lapses: Lapses | None = Field(None, description="Spells away from which customers return (none: customers shop throughout unless they leave for good).")
    same_day_baskets: SameDayBaskets | None = Field(None, description="Top-up visits on a trip's day (none: one basket a trip).")
    small_baskets: SmallBaskets | None = Field(None, description="A share of small top-up shops in the basket-value distribution (none: one lognormal per customer).")

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

    base: str | None = Field(None, description="A population file (as loyaltysim calibrate writes) whose segments are the defaults of these, relative to the scenario file: one base segment is the template of every segment, several are matched by name; fields a segment sets win. Resolved when the scenario is read.")
    segments: list[Segment] = Field(min_length=1, description="Customer segments; their shares sum to 1.")
    arrivals_per_year: float = Field(0.0, ge=0, le=10, description="New customers arriving per year (moving house, a store opening nearby), as a share of the starting customer base, on days spread at random through the run and in both arms alike; they are drawn from the same segments. Calibration target: households first seen after a panel's first weeks (The Complete Journey: 7.5% absent from the first 13 weeks). Assumption until fitted.")

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
