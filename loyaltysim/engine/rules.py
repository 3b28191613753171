"""A scheme compiled into arrays the daily phases can use directly (rebuilt when a change lands)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loyaltysim.scenario.models import CATEGORIES, DATA_SOURCES, Scenario, Scheme

CONSENT_BIT = {name: np.uint8(1 << i) for i, name in enumerate(DATA_SOURCES)}
"""The bit of each data source in a member's consent mask."""

KIND_CODE = {"voucher": 0, "free_product": 1, "experience": 2}
EXPIRY_BUCKETS = 12
"""Age-expiry resolution: points are kept in this many earning periods (the ring holds one more)."""


@dataclass(frozen=True)
class Rules:
    """The scheme's parameters as arrays and scalars."""

    scheme: Scheme
    cat_mult: np.ndarray           # (7,) earn multipliers by category
    reward_points: np.ndarray      # (R,) points needed
    reward_face: np.ndarray
    reward_cost: np.ndarray        # cost per reward (face * cost_ratio)
    reward_perceived: np.ndarray   # perceived value per reward
    reward_kind: np.ndarray
    tier_thresholds: np.ndarray
    tier_mult: np.ndarray
    tier_status: np.ndarray
    tier_perk_cost: np.ndarray
    tier_status_share: np.ndarray  # status level 0..1 for choice utility
    bucket_days: int               # days per expiry bucket (0 without age expiry)
    n_buckets: int
    requested_mask: np.uint8
    required_mask: np.uint8
    privacy_per_day: np.ndarray    # (4,) per data source, for a fully concerned customer
    cost_per_point: float          # liability per outstanding point
    margin: np.ndarray             # (7,) gross margin rates

    @property
    def has_category_multipliers(self) -> bool:
        return bool((self.cat_mult != 1).any())

    def category_dot(self, mix: np.ndarray) -> np.ndarray:
        """Each row of a category mix (n, 7) times the category multipliers, summed in category order.

        Not ``mix @ cat_mult``: a matrix product's summation order (and fused multiply-adds) is the
        BLAS library's and the CPU's choice, so its last bits vary between installations. Summed in a
        fixed order, in float32, the result is the same everywhere and equals the compiled kernels'.
        """
        total = mix[:, 0] * self.cat_mult[0]
        for j in range(1, self.cat_mult.size):
            total = total + mix[:, j] * self.cat_mult[j]
        return total

    @property
    def has_points(self) -> bool:
        return self.scheme.points is not None

    def earn_multiplier(self, day: int) -> float:
        """Promotional multiplier on a day (product of overlapping windows)."""
        m = 1.0
        if self.scheme.points is not None:
            for p in self.scheme.points.promotions:
                if p.start_day <= day <= p.end_day:
                    m *= p.multiplier
        return m


def compile_rules(scenario: Scenario) -> Rules:
    """Compile the scenario's scheme into arrays."""
    s = scenario.scheme
    pts = s.points
    cat_mult = np.ones(len(CATEGORIES), np.float32)
    rewards = pts.rewards if pts else []
    if pts:
        for cat, m in pts.category_multipliers.items():
            cat_mult[CATEGORIES.index(cat)] = m
    r_points = np.array([r.points for r in rewards], np.float64)
    r_face = np.array([r.face_value for r in rewards], np.float64)
    r_cost = r_face * np.array([r.cost_ratio for r in rewards])
    r_perc = r_face * np.array([r.perceived_ratio for r in rewards])
    tiers = s.tiers.levels if s.tiers else []
    t_status = np.array([t.status_value_per_day for t in tiers], np.float64)
    n_t = max(len(tiers) - 1, 1)
    if s.expiry and s.expiry.age_days:
        n_buckets = EXPIRY_BUCKETS + 1
        bucket_days = max(1, int(np.ceil(s.expiry.age_days / EXPIRY_BUCKETS)))
    else:
        n_buckets, bucket_days = 0, 0
    requested = np.uint8(sum(int(CONSENT_BIT[k]) for k in s.data.requested))
    required = np.uint8(sum(int(CONSENT_BIT[k]) for k in s.data.required))
    privacy = np.array([s.data.privacy_cost_per_year.get(k, 0.0) for k in CONSENT_BIT], np.float64) / 365.0
    cheapest = int(np.argmin(r_points)) if rewards else 0
    cost_per_point = float(r_cost[cheapest] / r_points[cheapest]) if rewards else 0.0
    return Rules(
        scheme=s, cat_mult=cat_mult, reward_points=r_points, reward_face=r_face, reward_cost=r_cost,
        reward_perceived=r_perc, reward_kind=np.array([KIND_CODE[r.kind] for r in rewards], np.int8),
        tier_thresholds=np.array([t.threshold for t in tiers], np.float64),
        tier_mult=np.array([t.earn_multiplier for t in tiers] or [1.0], np.float64),
        tier_status=t_status if tiers else np.zeros(1),
        tier_perk_cost=np.array([t.perk_cost_per_day for t in tiers] or [0.0], np.float64),
        tier_status_share=np.arange(len(tiers) or 1) / n_t,
        bucket_days=bucket_days, n_buckets=n_buckets, requested_mask=requested, required_mask=required,
        privacy_per_day=privacy, cost_per_point=cost_per_point,
        margin=np.asarray(scenario.business.margin, np.float32),
    )
