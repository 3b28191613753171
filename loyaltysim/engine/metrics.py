"""The one registry of recorded metrics: name, unit, kind, how a run aggregates it, and what it means.

Kinds:
- ``flow``: an amount per day; a run's figure is the total over its days.
- ``stock``: a level at the end of a day; a run's figure is the last day's level.
- ``ratio``: ``numerator / denominator`` of two other metrics, each aggregated by its own kind.
Recorder, summaries, plots and the report all read this registry; column names equal metric names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loyaltysim.scenario.models import CATEGORIES, INSIGHT_DIMENSIONS


@dataclass(frozen=True)
class Metric:
    """A recorded quantity."""

    name: str
    unit: str          # "money" is the scenario's currency
    kind: Literal["flow", "stock", "ratio"]
    description: str
    numerator: str | None = None
    denominator: str | None = None
    scheme_only: bool = False  # zero by construction in the counterfactual arm
    signed: bool = False       # may be below zero in an arm (every other raw metric is a count or amount)


_M = Metric
RAW: tuple[Metric, ...] = (
    # Shopping and money, both arms.
    _M("visits", "trips", "flow", "Trips to this retailer (a customer's shopping here on one day)."),
    _M("baskets", "baskets", "flow", "Baskets (separate visits) at this retailer: a trip may hold top-up visits."),
    _M("sales", "money", "flow", "Basket value at list prices."),
    _M("revenue", "money", "flow", "What customers paid: sales less member-price and offer discounts."),
    _M("gross_margin", "money", "flow", "Gross margin at list prices, by category margin rates."),
) + tuple(
    _M(f"gross_margin_{c}", "money", "flow", f"Gross margin on {c.replace('_', ' ')} at list prices.")
    for c in CATEGORIES
) + (
    _M("customers", "customers", "stock", "Customers who have not left the retailer for good."),
    _M("active_customers", "customers", "stock", "Customers with a trip here within the lapse window."),
    _M("defections", "customers", "flow", "Customers who left the retailer for good."),
    # Scheme money flows.
    _M("member_discount", "money", "flow", "Member-price savings given at the till.", scheme_only=True),
    _M("offer_discount", "money", "flow", "Personalised-offer savings given at the till.", scheme_only=True),
    _M("reward_cost", "money", "flow", "Rewards redeemed, at cost price.", scheme_only=True),
    _M("operating_cost", "money", "flow", "Per-member and fixed operating costs, tier and membership perks, offer sending.", scheme_only=True),
    _M("fee_revenue", "money", "flow", "Membership fees received.", scheme_only=True),
    _M("partner_revenue", "money", "flow", "Partners' payments for points they issue (coalition).", scheme_only=True),
    _M("data_revenue", "money", "flow", "Supplier data and media revenue from profiled members.", scheme_only=True),
    _M("cost_savings", "money", "flow", "Forecasting and waste savings from insight.", scheme_only=True),
    # Customer side.
    _M("reward_value", "money", "flow", "Rewards as customers perceive them (experiential above face).", scheme_only=True),
    _M("member_savings", "money", "flow", "Member-price savings to customers.", scheme_only=True),
    _M("offer_savings", "money", "flow", "Offer savings to customers.", scheme_only=True),
    _M("status_value", "money", "flow", "Value of tier status to belonging-motivated members.", scheme_only=True),
    _M("convenience_value", "money", "flow", "Value of membership perks and convenience.", scheme_only=True),
    _M("fees_paid", "money", "flow", "Membership fees paid.", scheme_only=True),
    _M("effort_cost", "money", "flow", "Time and effort: presenting the card, manual redemption, joining.", scheme_only=True),
    _M("privacy_cost", "money", "flow", "Privacy cost of data shared, felt by privacy concern.", scheme_only=True),
    _M("choice_surplus", "money", "flow", "What the scheme's terms in store choice are worth to members, in money: the logit log-sum with them less without them, on each shopping need (it counts shopping somewhere liked less to collect as a cost; below zero where the scheme's friction outweighs what it offers).", scheme_only=True, signed=True),
    # Membership and points.
    _M("members", "customers", "stock", "Scheme members.", scheme_only=True),
    _M("joins", "customers", "flow", "Customers joining the scheme.", scheme_only=True),
    _M("leaves", "customers", "flow", "Members leaving the scheme.", scheme_only=True),
    _M("dormant_members", "customers", "stock", "Members who keep the card but no longer present it.", scheme_only=True),
    _M("went_dormant", "customers", "flow", "Members who stopped presenting the card.", scheme_only=True),
    _M("value_above_reference", "money", "flow", "How much more members' recent value from the scheme is than the value they have come to expect (their reference), counted weekly over members above it.", scheme_only=True),
    _M("value_below_reference", "money", "flow", "How much less members' recent value from the scheme is than the value they have come to expect (their reference), counted weekly over members below it.", scheme_only=True),
    _M("consenting_members", "customers", "stock", "Members consenting to profiling of their transactions.", scheme_only=True),
    _M("linked_sales", "money", "flow", "Sales linked to a card (the business sees them).", scheme_only=True),
    _M("points_issued", "points", "flow", "Points issued (store and partner).", scheme_only=True),
    _M("points_redeemed", "points", "flow", "Points redeemed for rewards.", scheme_only=True),
    _M("points_expired", "points", "flow", "Points expired or forfeited on leaving.", scheme_only=True),
    _M("points_outstanding", "points", "stock", "Points held by members.", scheme_only=True),
    _M("points_liability", "money", "stock", "Outstanding points at the cost of the rewards they buy.", scheme_only=True),
    _M("rewards_redeemed", "rewards", "flow", "Rewards taken (points catalogue and stamp cards).", scheme_only=True),
    _M("offers_sent", "offers", "flow", "Personalised offers sent.", scheme_only=True),
    _M("offers_redeemed", "offers", "flow", "Personalised offers used.", scheme_only=True),
    _M("life_events", "events", "flow", "Life events that happened to customers.", scheme_only=False),
    _M("life_events_detected", "events", "flow", "Life events the business detected.", scheme_only=True),
) + tuple(
    _M(f"insight_{d}", "index", "stock",
       f"Insight into {d.replace('_', ' ')}: accuracy of the business's estimates (1 - normalised error) times coverage.",
       scheme_only=True)
    for d in INSIGHT_DIMENSIONS
)

DERIVED: tuple[Metric, ...] = (
    _M("discount_cost", "money", "flow", "Member-price and offer discounts."),
    _M("programme_cost", "money", "flow", "What the scheme costs: rewards at cost, discounts, operations."),
    _M("insight_value", "money", "flow", "Money value of insight: supplier data revenue and cost savings."),
    _M("business_return", "money", "flow", "Gross margin plus insight value, fees and partner payments (incremental in the difference arm)."),
    _M("business_net_value", "money", "flow", "Business return less programme cost."),
    _M("customer_value", "money", "flow", "What customers perceive they get."),
    _M("customer_cost", "money", "flow", "What customers give up: fees, effort, privacy."),
    _M("customer_net_value", "money", "flow", "Customer value less customer cost."),
    _M("customer_welfare", "money", "flow", "Customers' gain in welfare (the choice-surplus view): choice surplus plus membership convenience, less fees and privacy cost (card friction is inside the choice surplus)."),
    _M("insight_index", "index", "stock", "Mean of the eight insight dimensions."),
    _M("business_roi", "ratio", "ratio", "Incremental business return per unit of programme cost (difference arm).",
       numerator="business_return", denominator="programme_cost"),
    _M("enrolment_rate", "share", "ratio", "Members per customer.", numerator="members", denominator="customers"),
    _M("breakage_rate", "share", "ratio", "Points expired per point issued.", numerator="points_expired", denominator="points_issued"),
    _M("redemption_rate", "share", "ratio", "Points redeemed per point issued.", numerator="points_redeemed", denominator="points_issued"),
    _M("churn_rate", "share", "ratio", "Defections per customer.", numerator="defections", denominator="customers"),
    _M("offer_redemption_rate", "share", "ratio", "Offers used per offer sent.", numerator="offers_redeemed", denominator="offers_sent"),
)

REGISTRY: dict[str, Metric] = {m.name: m for m in RAW + DERIVED}
RAW_NAMES: tuple[str, ...] = tuple(m.name for m in RAW)
UNSIGNED_NAMES: tuple[str, ...] = tuple(m.name for m in RAW if not m.signed)
"""Raw metrics that are never below zero in an arm."""
INDEX: dict[str, int] = {name: i for i, name in enumerate(RAW_NAMES)}
INSIGHT_NAMES: tuple[str, ...] = tuple(f"insight_{d}" for d in INSIGHT_DIMENSIONS)

NEGLIGIBLE = 1e-9
"""A ratio's denominator no larger than this in size (a billionth of a currency unit, a point or a
customer) counts as zero: the ratio is then undefined, not astronomically large (a scheme whose costs
are all but nothing has no meaningful return per unit of cost)."""


def ratio(num, den):
    """``num / den`` of two pandas Series, undefined (NaN) where the denominator is negligible."""
    return num / den.where(den.abs() > NEGLIGIBLE)


def add_derived(frame) -> None:
    """Add the derived metric columns to a frame of raw metrics, in place (works per row)."""
    f = frame
    f["discount_cost"] = f["member_discount"] + f["offer_discount"]
    f["programme_cost"] = f["reward_cost"] + f["discount_cost"] + f["operating_cost"]
    f["insight_value"] = f["data_revenue"] + f["cost_savings"]
    f["business_return"] = f["gross_margin"] + f["insight_value"] + f["fee_revenue"] + f["partner_revenue"]
    f["business_net_value"] = f["business_return"] - f["programme_cost"]
    f["customer_value"] = (f["reward_value"] + f["member_savings"] + f["offer_savings"]
                           + f["status_value"] + f["convenience_value"])
    f["customer_cost"] = f["fees_paid"] + f["effort_cost"] + f["privacy_cost"]
    f["customer_net_value"] = f["customer_value"] - f["customer_cost"]
    f["customer_welfare"] = f["choice_surplus"] + f["convenience_value"] - f["fees_paid"] - f["privacy_cost"]
    f["insight_index"] = sum(f[c] for c in INSIGHT_NAMES) / len(INSIGHT_NAMES)
    for m in DERIVED:
        if m.kind == "ratio":
            num, den = f[m.numerator], f[m.denominator]
            f[m.name] = ratio(num, den)
