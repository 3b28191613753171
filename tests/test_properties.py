"""Invariants under random valid scenarios (hypothesis): every mechanic, extreme but legal values,
tiny and empty segments, one-day and one-customer runs.

CI runs the "ci" profile (tests/conftest.py): 200 scenarios for the invariants and 40 for
determinism; ``pytest --hypothesis-profile=thorough tests/test_properties.py`` tries 2,000 and 400.
Add ``--hypothesis-show-statistics`` to see how many were tried.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltysim import compare, simulate
from loyaltysim.engine.metrics import INSIGHT_NAMES, RAW_NAMES, UNSIGNED_NAMES
from loyaltysim.scenario.loading import validate

share = st.floats(0.0, 1.0)
small = st.floats(0.0, 0.5)


@st.composite
def shares(draw, k: int):
    raw = draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k))
    raw = [r + 1e-3 for r in raw]
    total = sum(raw)
    out = [r / total for r in raw]
    out[-1] = 1.0 - sum(out[:-1])
    return [max(o, 0.0) for o in out]


@st.composite
def segment(draw, name: str, share_: float):
    beta = lambda: {"mean": draw(st.floats(0.01, 0.99)), "precision": draw(st.floats(0.5, 50))}  # noqa: E731
    return {
        "name": name, "share": share_,
        "household_size": draw(shares(5)), "income": draw(shares(3)),
        "children_share": draw(share),
        "trips_per_year": {"mean": draw(st.floats(1, 700)), "shape": draw(st.floats(0.05, 20))},
        "weekday": draw(shares(7)), "hour_bands": draw(shares(6)), "categories": draw(shares(7)),
        "weekday_precision": draw(st.floats(0.1, 100)), "category_precision": draw(st.floats(0.1, 100)),
        "basket_log_mu": draw(st.floats(-1, 6)), "basket_log_sd_between": draw(st.floats(0, 2)),
        "basket_log_sd_within": draw(st.floats(0.01, 2)),
        "own_label": beta(), "time_poor_share": draw(share),
        "motivations": {m: beta() for m in ("outcome", "experience", "belonging", "reward_seeking", "privacy_concern")},
        "retailer_preference": {"mean": draw(st.floats(-6, 6)), "sd": draw(st.floats(0, 3))},
        "defection_per_year": draw(share),
        "life_events": {e: draw(share) for e in ("new_baby", "child_leaves", "move", "income_change", "retirement")},
    }


def reward(draw, name):
    return {"name": name, "kind": draw(st.sampled_from(["voucher", "free_product", "experience"])),
            "points": draw(st.floats(1, 5000)), "face_value": draw(st.floats(0.01, 200)),
            "cost_ratio": draw(st.floats(0.01, 2)), "perceived_ratio": draw(st.floats(0.01, 5))}


@st.composite
def scheme(draw):
    s: dict = {"enrolment": {"join_rate_per_visit": draw(share), "initial_members": draw(share),
                             "card_presentation": draw(share), "friction_per_visit": draw(st.floats(0, 5)),
                             "leave_rate_per_year": draw(share), "referral_rate_per_year": draw(st.floats(0, 20))}}
    sources = ["transactions", "demographics", "app", "third_party"]
    requested = ["transactions"] + [x for x in sources[1:] if draw(st.booleans())]
    required = ["transactions"] + [x for x in requested[1:] if draw(st.booleans())]
    s["data"] = {"requested": requested, "required": required}
    has_points = draw(st.booleans())
    if has_points:
        s["points"] = {
            "earn_per_unit": draw(st.floats(0.01, 50)),
            "category_multipliers": {"fuel": draw(st.floats(0, 5))},
            "promotions": [{"start_day": 0, "end_day": draw(st.integers(0, 40)), "multiplier": draw(st.floats(0.1, 10))}],
            "partner_points_per_year": draw(st.floats(0, 5000)),
            "partner_pays_per_point": draw(st.floats(0, 0.05)),
            "rewards": [reward(draw, f"r{i}") for i in range(draw(st.integers(1, 3)))],
            "redemption": {"mode": draw(st.sampled_from(["auto", "manual"])), "manual_rate_per_visit": draw(share)},
        }
        if draw(st.booleans()):
            s["expiry"] = {"age_days": draw(st.none() | st.integers(1, 400)),
                           "inactivity_days": draw(st.none() | st.integers(1, 400))}
        if draw(st.booleans()):
            top = draw(st.floats(1, 5000))
            s["tiers"] = {"window_days": draw(st.integers(7, 120)),
                          "downgrade": draw(st.sampled_from(["to_qualified", "one_level", "never"])),
                          "levels": [{"name": "base", "threshold": 0},
                                     {"name": "mid", "threshold": top / 2, "earn_multiplier": draw(st.floats(0.1, 5)),
                                      "status_value_per_day": draw(small), "perk_cost_per_day": draw(small)},
                                     {"name": "top", "threshold": top, "status_value_per_day": draw(small)}]}
    if draw(st.booleans()):
        required_stamps = draw(st.integers(1, 20))
        s["stamps"] = {"required": required_stamps, "prefilled": draw(st.integers(0, required_stamps - 1)),
                       "min_spend": draw(st.floats(0, 50)), "reward": reward(draw, "stamp")}
    if draw(st.booleans()):
        s["member_pricing"] = {"share_of_range": draw(st.floats(0.01, 1)), "discount": draw(st.floats(0.01, 0.9))}
    if draw(st.booleans()):
        s["offers"] = {"every_days": draw(st.integers(1, 60)), "discount": draw(st.floats(0.01, 0.9)),
                       "validity_days": draw(st.integers(1, 60))}
    if draw(st.booleans()):
        s["membership"] = {"fee": draw(st.floats(0.01, 200)), "period_days": draw(st.integers(1, 365)),
                           "convenience_value_per_day": draw(small)}
    s["costs"] = {"per_member_per_year": draw(st.floats(0, 50)), "fixed_per_year": draw(st.floats(0, 1e5))}
    return s


@st.composite
def scenarios(draw):
    k = draw(st.integers(1, 3))
    raw = draw(st.lists(st.floats(0.0005, 1.0), min_size=k, max_size=k))
    total = sum(raw)
    seg_shares = [r / total for r in raw]
    seg_shares[-1] = 1.0 - sum(seg_shares[:-1])
    days = draw(st.integers(1, 45))
    data = {
        "name": "prop", "customers": draw(st.integers(1, 300)), "days": days,
        "replications": draw(st.integers(1, 2)), "seed": draw(st.integers(0, 2**31)),
        "population": {"segments": [draw(segment(f"s{i}", sh)) for i, sh in enumerate(seg_shares)]},
        "scheme": draw(scheme()),
        "competition": {"reward_rate": draw(st.floats(0, 0.5)), "price_advantage": draw(st.floats(-0.5, 0.5))},
    }
    if days > 2 and "points" in data["scheme"] and draw(st.booleans()):
        data["changes"] = [{"day": draw(st.integers(1, days - 1)),
                            "set": {"scheme.points.earn_per_unit": draw(st.floats(0.01, 10))}}]
    return validate(data, "<hypothesis>")


def _check(result) -> None:
    d = result.daily
    raw = d[list(RAW_NAMES)].to_numpy()
    assert np.isfinite(raw).all()
    arms = d[d.arm != "difference"]
    assert (arms[list(UNSIGNED_NAMES)].to_numpy() >= -1e-6).all()
    s = d[d.arm == "scheme"].sort_values(["replicate", "segment", "day"])
    g = s.groupby(["replicate", "segment"])
    np.testing.assert_array_equal(
        g["points_issued"].cumsum().to_numpy(),
        (g["points_redeemed"].cumsum() + g["points_expired"].cumsum() + s["points_outstanding"]).to_numpy())
    np.testing.assert_allclose(d["revenue"], d["sales"] - d["discount_cost"], atol=1e-6 * (1 + d["sales"].abs().max()))
    x = d.loc[d.arm == "scheme", "enrolment_rate"].dropna()
    assert ((x >= 0) & (x <= 1)).all()
    # Over a run (not a day: points redeemed today were issued earlier) the shares stay within 0-1.
    totals = result.summary[result.summary.arm == "scheme"].set_index(["metric", "segment"])["mean"]
    for col in ("breakage_rate", "redemption_rate", "offer_redemption_rate", "churn_rate"):
        x = totals.loc[col].dropna()
        assert ((x >= -1e-9) & (x <= 1 + 1e-9)).all(), col
    used = totals.loc["breakage_rate"].fillna(0) + totals.loc["redemption_rate"].fillna(0)
    assert (used <= 1 + 1e-9).all()
    insight = d[[*INSIGHT_NAMES, "insight_index"]].to_numpy()
    assert ((insight >= 0) & (insight <= 1 + 1e-9)).all()
    c = result.customers
    assert (c["points"] >= 0).all() and (c["stamps"] >= 0).all()


@given(scenarios())
def test_invariants_hold_for_any_valid_scenario(sc):
    result = simulate(sc)
    _check(result)


# Each example simulates four times: a fifth of the profile's examples.
@settings(max_examples=max(15, settings.default.max_examples // 5))
@given(scenarios())
def test_a_seed_gives_the_same_numbers_and_the_counterfactual_ignores_the_scheme(sc):
    a = simulate(sc)
    b = simulate(sc)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    # The scheme compared with itself, on the same seeds: the two sides are identical.
    same = compare([sc, sc]).table
    first, second = (same[same.scenario == label].drop(columns="scenario").reset_index(drop=True)
                     for label in same.scenario.unique())
    pd.testing.assert_frame_equal(first, second)
    # The same customers with nobody able to join: the difference is exactly zero.
    data = sc.model_dump(by_alias=True, exclude_none=True)
    data["scheme"]["enrolment"]["join_rate_per_visit"] = 0.0
    data["scheme"]["enrolment"]["initial_members"] = 0.0
    data["scheme"]["enrolment"]["referral_rate_per_year"] = 0.0
    data["scheme"]["costs"]["fixed_per_year"] = 0.0
    data["changes"] = []
    idle = simulate(validate(data, "<hypothesis>"))
    diff = idle.daily[idle.daily.arm == "difference"][list(RAW_NAMES)].drop(columns=["life_events"])
    assert (diff.to_numpy() == 0).all()
