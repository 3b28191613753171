"""Small scenarios built in code for the core tests."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

from loyaltysim.scenario.loading import apply_overrides, read_yaml, validate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

RICH_SCHEME = {
    "name": "everything",
    "points": {
        "earn_per_unit": 1.0,
        "category_multipliers": {"produce": 2.0, "fuel": 0.5},
        "promotions": [{"start_day": 20, "end_day": 30, "multiplier": 3.0}],
        "partner_points_per_year": 120,
        "partner_pays_per_point": 0.005,
        "rewards": [
            {"name": "voucher", "kind": "voucher", "points": 150, "face_value": 1.5, "cost_ratio": 1.0},
            {"name": "day_out", "kind": "experience", "points": 600, "face_value": 5, "cost_ratio": 0.6,
             "perceived_ratio": 1.8},
        ],
        "redemption": {"mode": "manual", "manual_rate_per_visit": 0.3},
    },
    "expiry": {"age_days": 60, "inactivity_days": 45},
    "tiers": {"window_days": 56, "downgrade": "one_level", "levels": [
        {"name": "blue", "threshold": 0},
        {"name": "silver", "threshold": 300, "earn_multiplier": 1.5, "status_value_per_day": 0.02,
         "perk_cost_per_day": 0.01},
        {"name": "gold", "threshold": 900, "earn_multiplier": 2.0, "status_value_per_day": 0.05,
         "perk_cost_per_day": 0.03},
    ]},
    "member_pricing": {"share_of_range": 0.2, "discount": 0.1},
    "offers": {"every_days": 14},
    "membership": {"fee": 2.0, "period_days": 30, "earn_multiplier": 1.2, "convenience_value_per_day": 0.01},
    "data": {"requested": ["transactions", "demographics", "app", "third_party"], "required": ["transactions"]},
    "costs": {"per_member_per_year": 1.0, "fixed_per_year": 500},
    "enrolment": {"join_rate_per_visit": 0.2},
}


def base_data(**top) -> dict:
    """A small two-segment scenario as plain data."""
    data = {
        "name": "test",
        "customers": 2000,
        "days": 120,
        "replications": 2,
        "seed": 7,
        "population": {"segments": [
            {"name": "a", "share": 0.6},
            {"name": "b", "share": 0.4, "motivations": {"belonging": {"mean": 0.7}}},
        ]},
        "scheme": copy.deepcopy(RICH_SCHEME),
    }
    data.update(top)
    return data


def scenario(data: dict | None = None, overrides: dict | None = None, **top):
    data = base_data(**top) if data is None else data
    if overrides:
        data = apply_overrides(data, overrides)
    return validate(data, "<test>")


def shipped(name: str, overrides: dict | None = None):
    path = SCENARIOS / f"{name}.yaml"
    data, lines = read_yaml(path.read_text(), str(path))
    if overrides:
        data = apply_overrides(data, overrides)
    return validate(data, str(path), lines)


def wait_for_group_to_end(pgid: int, seconds: float, what: str) -> None:
    """Wait until no process of a killed command's process group is left (its workers included)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"worker processes outlived {what}"
        time.sleep(0.05)


STILL_SEGMENT = {"need_drift": None, "lapses": None, "same_day_baskets": None, "small_baskets": None}
"""A segment's customers-over-time fields, all off."""


def without_dynamics(name: str, **overrides) -> dict:
    """Overrides that switch off a shipped scenario's customers over time (drift, spells away, top-up
    visits, small baskets, arrivals and seasons), for tests that need customers who stay as they are."""
    segs = shipped(name).population.segments
    return {"population.segments": [{**s.model_dump(), **STILL_SEGMENT} for s in segs],
            "population.arrivals_per_year": 0.0, "calendar": None, **overrides}
