"""The balance verdict: each period's state from business ROI and customer net value, overall and per
segment, the day the exchange first balances and the day it tips, and the verdict in words."""

from __future__ import annotations

import numpy as np
import pandas as pd

STATES = ("balanced", "business-extractive", "customer-subsidised", "lose-lose")


def balance_state(roi: float, customer_net: float, roi_threshold: float = 1.0) -> str:
    """The balance state of one period from business ROI and customer net value."""
    business_ok = bool(np.nan_to_num(roi, nan=0.0) >= roi_threshold)
    customer_ok = bool(customer_net >= 0)
    if business_ok and customer_ok:
        return "balanced"
    if business_ok:
        return "business-extractive"
    if customer_ok:
        return "customer-subsidised"
    return "lose-lose"


MIN_COST = 1e-9
"""A programme cost below this (in currency units) is no investment: its ROI is undefined, not huge."""


def _roi(business_return: float, programme_cost: float) -> float:
    return business_return / programme_cost if programme_cost > MIN_COST else np.nan


def customer_side(customer_net: float, against_reference: float, customer_value: float = 0.0,
                  tolerance: float = 0.0) -> str:
    """How customers fare: "net negative" when what they give up outweighs what they get, else "worse
    off than the reference" when members got less than they had come to expect by more than
    ``tolerance`` of what the scheme gave them (``customer_value``), else "better off"."""
    if customer_net < 0:
        return "net negative"
    if against_reference < -tolerance * max(customer_value, 0.0):
        return "worse off than the reference"
    return "better off"


def _customer(row, tolerance: float) -> dict:
    """A period's (or the run's) customer side: the transfer view, the welfare view, the reference."""
    against = float(row["value_above_reference"] - row["value_below_reference"])
    return {"customer_net_value": float(row["customer_net_value"]),
            "customer_welfare": float(row["customer_welfare"]),
            "value_against_reference": against,
            "customer_side": customer_side(row["customer_net_value"], against, row["customer_value"], tolerance)}


def verdict(daily: pd.DataFrame, period_days: int, roi_threshold: float = 1.0, reference_tolerance: float = 0.05) -> dict:
    """Judge the exchange from the difference arm of a daily frame (mean over replicates).

    Returns, overall and per segment: the state of the whole run, the state of each period, and the
    first day on which the state changes (the day it tips), or None when it never does. The state's
    customer side is the transfer view (customer net value); beside it each period and the run give
    the welfare view (customer welfare: choice surplus) and members' value against their reference,
    and the customer side in words (:func:`customer_side`), with the first day members are worse off
    than their reference.
    """
    diff = daily[daily["arm"] == "difference"]
    flows = ["business_return", "programme_cost", "customer_net_value", "customer_value", "customer_welfare",
             "value_above_reference", "value_below_reference"]
    diff = diff.reindex(columns=[*diff.columns, *[f for f in flows if f not in diff.columns]], fill_value=0.0)
    mean = diff.groupby(["segment", "day"], sort=False)[flows].mean().reset_index()
    out = {"period_days": period_days, "roi_threshold": roi_threshold, "reference_tolerance": reference_tolerance,
           "segments": {}}
    for segment, g in mean.groupby("segment", sort=False):
        g = g.sort_values("day")
        period = (g["day"] // period_days).to_numpy()
        sums = g.groupby(period)[flows].sum()
        periods = []
        for p, row in sums.iterrows():
            roi = _roi(row["business_return"], row["programme_cost"])
            periods.append({
                "start_day": int(p * period_days), "business_roi": _num(roi), **_customer(row, reference_tolerance),
                "state": balance_state(roi, row["customer_net_value"], roi_threshold),
            })
        tot = sums.sum()
        roi = _roi(tot["business_return"], tot["programme_cost"])
        states = [q["state"] for q in periods]
        balanced_from = next((q["start_day"] for q in periods if q["state"] == "balanced"), None)
        # It tips when a period falls out of balance after an earlier period was balanced.
        tips = next((q["start_day"] for i, q in enumerate(periods)
                     if q["state"] != "balanced" and "balanced" in states[:i]), None)
        out["segments"][segment] = {
            "state": balance_state(roi, tot["customer_net_value"], roi_threshold),
            "business_roi": _num(roi), **_customer(tot, reference_tolerance),
            "below_reference_from_day": next((q["start_day"] for q in periods
                                              if q["customer_side"] == "worse off than the reference"), None),
            "balanced_from_day": balanced_from, "tipping_day": tips,
            "tips_to": next((q["state"] for q in periods if q["start_day"] == tips), None),
            "periods": periods,
        }
    overall = out["segments"].get("all", {})
    out["state"] = overall.get("state")
    out["tipping_day"] = overall.get("tipping_day")
    out["balanced_from_day"] = overall.get("balanced_from_day")
    return out


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def describe(v: dict) -> str:
    """The verdict in words."""
    seg = v["segments"]["all"]
    roi = "n/a" if seg["business_roi"] is None else f"{seg['business_roi']:.2f}"
    words = (f"Overall the exchange is {v['state']}: business ROI {roi}, "
             f"customer net value {seg['customer_net_value']:,.0f}.")
    if "customer_side" in seg:
        words += (f" Customers are {seg['customer_side']} (welfare, counting what switching stores to collect "
                  f"costs them: {seg['customer_welfare']:,.0f}).")
        if seg["below_reference_from_day"] is not None:
            words += (f" Members get less than they have come to expect from the period starting day "
                      f"{seg['below_reference_from_day']}.")
    if seg["balanced_from_day"] is None:
        words += f" No {v['period_days']}-day period is balanced."
    elif seg["balanced_from_day"] > 0:
        words += f" It is first balanced in the period from day {seg['balanced_from_day']}."
    if v["tipping_day"] is not None:
        words += f" It tips out of balance on day {v['tipping_day']} ({seg['tips_to']})."
    elif seg["balanced_from_day"] is not None:
        words += " Once balanced, it does not tip during the run."
    others = [f"{name}: {s['state']}" for name, s in v["segments"].items() if name != "all"]
    if others:
        words += " By segment: " + "; ".join(others) + "."
    return words
