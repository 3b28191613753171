"""The scenario schema: pydantic models that reject unknown fields and impossible values, by area
(:mod:`.base`, :mod:`.population`, :mod:`.scheme`, :mod:`.market`, :mod:`.sweep_design`), and the whole
scenario that holds them. Every model and name is importable from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from loyaltysim.scenario.base import (  # noqa: F401  (re-exported)
    CATEGORIES, CJ, DATA_SOURCES, HOUR_BANDS, HOUR_BAND_HOURS, INCOME_BANDS, INSIGHT_DIMENSIONS, LIFE_EVENTS,
    MAX_DAYS, WEEKDAYS, BetaDist, GammaDist, NormalDist, Strict,
)
from loyaltysim.scenario.market import (  # noqa: F401  (re-exported)
    Behaviour, Business, Calendar, Change, Competition, Insight, Verdict,
)
from loyaltysim.scenario.population import (  # noqa: F401  (re-exported)
    Lapses, LifeEventRates, Motivations, NeedDrift, Population, SameDayBaskets, Segment, SmallBaskets,
)
from loyaltysim.scenario.scheme import (  # noqa: F401  (re-exported)
    Challenges, Costs, DataCollection, Enrolment, Expiry, GoalGradient, MemberPricing, Membership, Offers, Points,
    Promotion, Redemption, Reward, Scheme, Stamps, Tier, Tiers,
)
from loyaltysim.scenario.sweep_design import (  # noqa: F401  (re-exported)
    MAX_SWEEP_POINTS, NOT_SWEPT, SweepDesign,
)

MAX_CUSTOMERS = 100_000_000
"""The most customers a run may hold, arrivals included (state is a few hundred bytes a customer)."""


class Scenario(Strict):
    """A whole scenario: who the customers are, what scheme they meet, and how long to run."""

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema reference for editors.")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", max_length=100, description="Scenario name, used in results folder names.")
    description: str = Field("", description="What the scenario represents.")
    customers: int = Field(10_000, ge=1, le=MAX_CUSTOMERS, description="Number of customers at the start.")
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
    calendar: Calendar | None = Field(None, description="Seasons and holiday weeks (none: every week alike).")
    verdict: Verdict = Field(Verdict(), description="Verdict settings.")
    sweep: SweepDesign | None = Field(
        None, exclude=True, description="A parameter sweep over this scenario, run by `loyaltysim sweep` "
        "(other commands run the scenario itself and ignore it).")

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, populate_by_name=True,
                              allow_inf_nan=False)

    @property
    def arrivals(self) -> int:
        """Customers who arrive during the run (population.arrivals_per_year of the starting base)."""
        return round(self.customers * self.population.arrivals_per_year * self.days / 365)

    @model_validator(mode="after")
    def _check_size(self) -> "Scenario":
        if self.customers + self.arrivals > MAX_CUSTOMERS:
            raise ValueError(f"population.arrivals_per_year: customers plus arrivals ({self.customers + self.arrivals:,}) "
                             f"exceed {MAX_CUSTOMERS:,}; lower the rate, the customers or the days")
        return self

    @field_validator("changes")
    @classmethod
    def _changes(cls, v):
        days = [c.day for c in v]
        if days != sorted(days):
            raise ValueError(f"changes must be in day order (got days {days})")
        return v
