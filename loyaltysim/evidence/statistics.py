"""The statistics the model is checked with: each a function of one replicate (both arms) returning a
number, undefined (nan) when the replicate holds nothing to compute it from.

"Causal" means scheme arm minus counterfactual arm for the same customers on the same random numbers;
"naive" means what a retailer sees in its own data: members against non-members in the scheme arm, among
customers who shopped here at least once. Sales are at list prices; spend is what customers paid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from loyaltysim.evidence.observe import Replicate

__all__ = ["MEASURES", "Measure", "ratio"]

Measure = Callable[[Replicate], float]

MONTH = 30
"""Days in a 'month since joining'."""
EARLY_MONTHS, LATE_MONTHS = (0, 1, 2), (6, 7, 8)
"""Months since joining compared by :func:`joining_effect_fades`: the first three, and the seventh to
ninth (Meyer-Waarden and Benavent 2009: the change erodes 6-9 months after joining)."""
EARLY_JOINERS_DAYS = 90
"""Joiners within this many days of the start are followed; a year's run then sees nine months of each."""


def ratio(num: float, den: float) -> float:
    """``num / den``, undefined (nan) when the denominator is zero or undefined."""
    return float(num) / float(den) if den != 0 and np.isfinite(den) else np.nan


MATURE_DAYS = 91
"""Published figures of a running programme (members' share of sales, its cost, its incremental sales)
are compared with the last quarter of the run: a scheme launched on day 0 is still recruiting before."""


def arm_totals(rep: Replicate, arm: str, mature: bool = False) -> pd.Series:
    """An arm's daily metrics summed over the run, or over its last quarter (``mature``)."""
    d = rep.daily
    d = d[(d["arm"] == arm) & (d["segment"] == "all")]
    if mature:
        d = d[d["day"] > d["day"].max() - MATURE_DAYS]
    return d.sum(numeric_only=True)


def _scheme_totals(rep: Replicate, mature: bool = False) -> pd.Series:
    return arm_totals(rep, "scheme", mature)


def _shoppers(rep: Replicate) -> pd.DataFrame:
    """Customers who shopped here at least once in the scheme arm: those a retailer's own data shows."""
    c = rep.customers
    return c[c["visits_scheme"] > 0]


# ---------------------------------------------------------------- sales and self-selection

def incremental_sales(rep: Replicate) -> float:
    """(Scheme-arm sales - counterfactual sales) / counterfactual sales, over the run's last quarter."""
    cf = arm_totals(rep, "counterfactual", mature=True)["sales"]
    return ratio(arm_totals(rep, "scheme", mature=True)["sales"] - cf, cf)


def scheme_sales(rep: Replicate) -> float:
    """Scheme-arm sales over the run's last quarter (compared across evidence scenarios on the same draws)."""
    return float(_scheme_totals(rep, mature=True)["sales"])


def self_selection(rep: Replicate) -> float:
    """Naive gap over causal effect, in share of wallet as the study measured it: (members' mean share of
    wallet - non-members', scheme arm, among shoppers) / members' mean of (share of wallet in the scheme
    arm - in the counterfactual). Share of wallet is the share of a customer's shopping trips brought
    here; members are those who are members at the end of the run."""
    c = _shoppers(rep)
    m = c["member"].to_numpy(bool)
    if not m.any() or m.all():
        return np.nan
    sow = c["trip_share_scheme"].to_numpy()
    naive = sow[m].mean() - sow[~m].mean()
    causal = (sow[m] - c["trip_share_counterfactual"].to_numpy()[m]).mean()
    return ratio(naive, causal)


def member_sales_share(rep: Replicate) -> float:
    """Card-presented (linked) sales / all sales, scheme arm, over the run's last quarter."""
    t = _scheme_totals(rep, mature=True)
    return ratio(t["linked_sales"], t["sales"])


def programme_cost_share(rep: Replicate) -> float:
    """(Rewards at cost + operating cost) / sales, scheme arm (discounts from offers and member prices are
    left out: the published figure is what a points currency costs), over the run's last quarter."""
    t = _scheme_totals(rep, mature=True)
    return ratio(t["reward_cost"] + t["operating_cost"], t["sales"])


def _tercile_uplift(rep: Replicate) -> tuple[float, float]:
    """Causal sales uplift of members (at the end of the run) in the top tercile of spend without the
    scheme (their counterfactual spend), and of the bottom two terciles pooled."""
    c = rep.customers
    c = c[c["member"] & (c["visits_counterfactual"] + c["visits_scheme"] > 0)]
    if len(c) < 3:
        return np.nan, np.nan
    cf = c["spend_counterfactual"].to_numpy()
    diff = c["spend_scheme"].to_numpy() - cf
    heavy = cf >= np.quantile(cf, 2 / 3)
    return ratio(diff[heavy].sum(), cf[heavy].sum()), ratio(diff[~heavy].sum(), cf[~heavy].sum())


def heavy_buyer_uplift(rep: Replicate) -> float:
    """Causal spend uplift of the top tercile of members by spend without the scheme."""
    return _tercile_uplift(rep)[0]


def light_minus_heavy_uplift(rep: Replicate) -> float:
    """Causal spend uplift of the light and moderate terciles of members minus that of the heavy tercile."""
    heavy, light = _tercile_uplift(rep)
    return light - heavy


def joining_effect_fades(rep: Replicate) -> float:
    """Joiners' causal sales uplift in months 7-9 after joining over that in months 1-3 (an event study of
    the customers who joined in the first 90 days; a week counts in the month its middle falls in)."""
    join = rep.first_join_day
    who = np.flatnonzero((join >= 0) & (join < EARLY_JOINERS_DAYS))
    if who.size == 0:
        return np.nan
    sch, cf = rep.weekly_sales["scheme"][who], rep.weekly_sales["counterfactual"][who]
    middle = np.arange(sch.shape[1]) * 7 + 3
    since = middle[None, :] - join[who, None]
    month = np.where(since >= 0, since // MONTH, -1)

    def uplift(months) -> float:
        sel = np.isin(month, months)
        return ratio((sch - cf)[sel].sum(), cf[sel].sum())

    return ratio(uplift(LATE_MONTHS), uplift(EARLY_MONTHS))


# ---------------------------------------------------------------- rewards and membership

def never_redeemed(rep: Replicate) -> float:
    """Share of members who joined in the first 90 days and are still members at the end (nine months or
    more of membership) to whom no voucher reward came during the run."""
    c = rep.customers
    join = rep.first_join_day
    held = c["member"].to_numpy(bool) & (join >= 0) & (join < EARLY_JOINERS_DAYS)
    if not held.any():
        return np.nan
    return float((rep.reward_days[held] == 0).mean())


def joined_share(rep: Replicate) -> float:
    """Share of the retailer's customers (at least one trip in the scheme arm) who joined during the run."""
    c = _shoppers(rep)
    return float(c["ever_member"].mean()) if len(c) else np.nan


def annual_renewal(rep: Replicate) -> float:
    """Members' yearly renewal at the run's constant-hazard rate: exp(-leaves per member-year)."""
    t = _scheme_totals(rep)
    member_years = t["members"] / 365.0
    return float(np.exp(-ratio(t["leaves"], member_years)))


def naive_spend_ratio(rep: Replicate) -> float:
    """Members' mean spend / non-members' mean spend in the scheme arm, among shoppers."""
    c = _shoppers(rep)
    m = c["member"].to_numpy(bool)
    if not m.any() or m.all():
        return np.nan
    spend = c["spend_scheme"].to_numpy()
    return ratio(spend[m].mean(), spend[~m].mean())


def card_completion_share(rep: Replicate) -> float:
    """Share of day-0 card holders who completed at least one stamp card during the run."""
    holders = rep.first_join_day == 0
    return float((rep.cards_completed[holders] > 0).mean()) if holders.any() else np.nan


# ---------------------------------------------------------------- goal gradient (stamp cards)

def stamp_gaps(transactions: pd.DataFrame, required: int) -> pd.DataFrame:
    """Days between card-presented purchases within completed stamp cards: one row per purchase after a
    card's first, with ``stamp`` the stamps on the card before it (1: the card's first gap; required - 1:
    the gap before the reward)."""
    t = transactions[transactions["linked"]].sort_values(["customer_id", "day"], kind="stable").copy()
    t["stamp"] = np.round(t["reward_progress"] * required).astype(int)
    t["card"] = (t["stamp"] == 0).groupby(t["customer_id"]).cumsum()
    t["gap"] = t.groupby(["customer_id", "card"])["day"].diff()
    complete = t.groupby(["customer_id", "card"])["stamp"].transform("max") == required - 1
    return t[complete & (t["card"] > 0)].dropna(subset=["gap"])


def _gaps(rep: Replicate) -> tuple[pd.DataFrame, int]:
    required = rep.scenario.scheme.stamps.required
    return stamp_gaps(rep.transactions, required), required


def goal_gradient(rep: Replicate) -> float:
    """Mean gap before the reward's stamp over the mean first gap of a card, over completed cards."""
    g, required = _gaps(rep)
    return ratio(g.loc[g["stamp"] == required - 1, "gap"].mean(), g.loc[g["stamp"] == 1, "gap"].mean())


def goal_gradient_days(rep: Replicate) -> float:
    """Mean first gap of a card minus mean gap before the reward's stamp, in days, over completed cards."""
    g, required = _gaps(rep)
    return float(g.loc[g["stamp"] == 1, "gap"].mean() - g.loc[g["stamp"] == required - 1, "gap"].mean())


def card_completion_speed(rep: Replicate) -> float:
    """Mean days from a completed card's first purchase to its last, over the days it would take at the
    card's first-gap pace ((required - 1) x the mean first gap)."""
    g, required = _gaps(rep)
    per_card = g.groupby(["customer_id", "card"])["gap"].sum()
    return ratio(per_card.mean(), (required - 1) * g.loc[g["stamp"] == 1, "gap"].mean())


MEASURES: dict[str, Measure] = {f.__name__: f for f in (
    incremental_sales, scheme_sales, self_selection, member_sales_share, programme_cost_share, heavy_buyer_uplift,
    light_minus_heavy_uplift, joining_effect_fades, never_redeemed, joined_share, annual_renewal,
    naive_spend_ratio, card_completion_share, goal_gradient, goal_gradient_days, card_completion_speed,
)}
"""Every statistic by name (the name a unit of work carries to a worker process)."""
