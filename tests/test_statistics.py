"""Summary statistics, the balance verdict and the metric registry, on small frames built by hand so
every expected figure can be worked out on paper (the values used in the comments)."""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import pandas as pd
import pytest

from loyaltysim.engine.metrics import (
    DERIVED,
    INSIGHT_NAMES,
    NEGLIGIBLE,
    RAW_NAMES,
    REGISTRY,
    add_derived,
    ratio,
)
from loyaltysim.results.summary import (
    mean_interval,
    run_totals,
    summarise,
    with_difference,
)
from loyaltysim.results.verdict import (
    MIN_COST,
    STATES,
    balance_state,
    describe,
    verdict,
)

# Student t quantiles t(0.975, df) from printed tables: df 1, 2 and 9.
T_TABLE = {2: 12.7062, 3: 4.3027, 10: 2.2622}


def raw_frame(rows: list[dict]) -> pd.DataFrame:
    """A raw daily frame (both arms, every raw metric 0 unless a row sets it)."""
    base = {name: 0.0 for name in RAW_NAMES}
    out = [{"replicate": 0, "segment": "all", **base, **r} for r in rows]
    return pd.DataFrame(out)[["replicate", "arm", "day", "segment", *RAW_NAMES]]


def days(arm: str, replicate: int = 0, segment: str = "all", **series) -> list[dict]:
    """One row per day; each keyword is a metric's list of daily values."""
    n = len(next(iter(series.values())))
    return [{"arm": arm, "replicate": replicate, "segment": segment, "day": d,
             **{k: float(v[d]) for k, v in series.items()}} for d in range(n)]


# ---------------------------------------------------------------- the t-interval

@pytest.mark.parametrize("n", [2, 3, 10])
def test_the_interval_half_width_uses_t_with_n_minus_1_degrees_of_freedom(n):
    x = np.random.default_rng(n).normal(5.0, 2.0, n)
    mean, lo, hi, count = mean_interval(x)
    half = T_TABLE[n] * statistics.stdev(x.tolist()) / math.sqrt(n)
    assert count == n and mean == pytest.approx(statistics.fmean(x.tolist()))
    assert hi - mean == pytest.approx(half, rel=1e-4) and mean - lo == pytest.approx(half, rel=1e-4)
    # A normal quantile would give an interval 6.5x (n=2), 2.2x (n=3) or 1.15x (n=10) too narrow.
    assert (hi - lo) / 2 > 1.1 * 1.96 * statistics.stdev(x.tolist()) / math.sqrt(n)


def test_the_interval_of_two_values_is_known_in_closed_form():
    # x = (1, 3): mean 2, sd sqrt(2), half-width 12.7062 * sqrt(2) / sqrt(2) = 12.7062.
    assert mean_interval(np.array([1.0, 3.0])) == pytest.approx((2.0, 2.0 - 12.7062, 2.0 + 12.7062, 2), rel=1e-5)


def test_only_finite_values_count_and_fewer_than_two_leave_the_interval_undefined():
    mean, lo, hi, n = mean_interval(np.array([1.0, np.nan, 3.0, np.inf, -np.inf]))
    assert (mean, n) == (2.0, 2) and hi == pytest.approx(2 + 12.7062, rel=1e-5)
    mean, lo, hi, n = mean_interval(np.array([4.0, np.nan]))
    assert mean == 4.0 and n == 1 and np.isnan(lo) and np.isnan(hi)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" warning: nothing to average is not a problem
        mean, lo, hi, n = mean_interval(np.array([np.nan]))
    assert n == 0 and np.isnan(mean) and np.isnan(lo) and np.isnan(hi)


def test_identical_replicates_have_a_zero_width_interval():
    assert mean_interval(np.array([7.0, 7.0, 7.0])) == (7.0, 7.0, 7.0, 3)


# ---------------------------------------------------------------- the difference arm

def test_the_difference_arm_is_scheme_minus_counterfactual_day_by_day_in_arm_order():
    raw = raw_frame(days("counterfactual", visits=[1, 1], customers=[10, 9])
                    + days("scheme", visits=[3, 5], customers=[10, 10], reward_cost=[0.5, 0.5]))
    out = with_difference(raw)
    assert list(out["arm"]) == ["scheme", "scheme", "counterfactual", "counterfactual", "difference", "difference"]
    assert list(out["day"]) == [0, 1, 0, 1, 0, 1]
    diff = out[out.arm == "difference"]
    assert list(diff["visits"]) == [2.0, 4.0] and list(diff["customers"]) == [0.0, 1.0]
    assert list(diff["programme_cost"]) == [0.5, 0.5]
    assert len(raw) == 4  # the input is left alone
    assert list(out.columns) == list(raw.columns) + [m.name for m in DERIVED] and list(out.index) == list(range(6))


def test_the_frame_is_sorted_by_replicate_then_arm_then_day_then_segment():
    rows = []
    for rep in (1, 0):
        for seg in ("b", "a"):
            rows += days("counterfactual", rep, seg, visits=[1, 1]) + days("scheme", rep, seg, visits=[2, 2])
    out = with_difference(raw_frame(rows))
    keys = list(zip(out.replicate, out.arm.map({"scheme": 0, "counterfactual": 1, "difference": 2}), out.day,
                    out.segment))
    assert keys == sorted(keys) and len(keys) == 24


# ---------------------------------------------------------------- run totals

@pytest.fixture  # per test, so that mutation testing sees which tests reach the aggregation code
def one_run():
    """Three days of one replicate. Scheme: visits 1+2+4, customers 100 -> 80, members 10 -> 40, points
    issued 100+0+300 of which 50+0+30 expire and 0+0+100 are redeemed, defections 1+2+3, gross margin 10 a
    day, rewards costing 1+2+3. Counterfactual: 1 visit and 1 defection a day, customers 100 -> 90,
    gross margin 5 a day."""
    daily = with_difference(raw_frame(
        days("scheme", visits=[1, 2, 4], customers=[100, 90, 80], members=[10, 20, 40],
             points_issued=[100, 0, 300], points_expired=[50, 0, 30], points_redeemed=[0, 0, 100],
             defections=[1, 2, 3], gross_margin=[10, 10, 10], reward_cost=[1, 2, 3],
             offers_sent=[0, 0, 0])
        + days("counterfactual", visits=[1, 1, 1], customers=[100, 95, 90], defections=[1, 1, 1],
               gross_margin=[5, 5, 5])))
    return run_totals(daily).set_index("arm")


def test_flows_are_summed_over_the_days(one_run):
    assert one_run.loc["scheme", "visits"] == 7 and one_run.loc["counterfactual", "visits"] == 3
    assert one_run.loc["difference", "visits"] == 4 and one_run.loc["scheme", "points_issued"] == 400
    assert one_run.loc["difference", "programme_cost"] == 6


def test_stocks_are_taken_at_the_last_day(one_run):
    assert one_run.loc["scheme", "customers"] == 80 and one_run.loc["scheme", "members"] == 40
    assert one_run.loc["counterfactual", "customers"] == 90 and one_run.loc["difference", "customers"] == -10


def test_ratios_are_ratios_of_the_run_totals_not_means_of_daily_ratios(one_run):
    s = one_run.loc["scheme"]
    assert s["breakage_rate"] == pytest.approx(80 / 400)      # daily ratios 0.5, -, 0.1 average 0.3
    assert s["redemption_rate"] == pytest.approx(100 / 400)   # daily 0, -, 1/3
    assert s["enrolment_rate"] == pytest.approx(40 / 80)      # last day's members per last day's customers
    assert s["churn_rate"] == pytest.approx(6 / (80 + 6))     # per customer at the start of the run
    assert one_run.loc["counterfactual", "churn_rate"] == pytest.approx(3 / 93)


def test_a_negligible_denominator_leaves_the_ratio_undefined(one_run):
    assert np.isnan(one_run.loc["scheme", "offer_redemption_rate"])   # no offers sent
    assert np.isnan(one_run.loc["counterfactual", "breakage_rate"])   # no points issued


def test_business_roi_is_incremental_return_over_programme_cost_in_the_difference_arm_only(one_run):
    # Return 30 - 15 = 15 over cost 1 + 2 + 3 = 6; the daily ROIs 5, 2.5, 1.67 average 3.06.
    assert one_run.loc["difference", "business_roi"] == pytest.approx(2.5)
    assert np.isnan(one_run.loc["scheme", "business_roi"]) and np.isnan(one_run.loc["counterfactual", "business_roi"])


def test_a_ratio_in_the_difference_arm_is_the_difference_of_the_arms_ratios(one_run):
    d = one_run.loc["difference"]
    assert d["churn_rate"] == pytest.approx(6 / 86 - 3 / 93)
    assert d["enrolment_rate"] == pytest.approx(0.5)   # the counterfactual has no members: 0.5 - 0
    assert d["breakage_rate"] == pytest.approx(0.2)    # undefined in the counterfactual: counts as 0
    assert np.isnan(d["offer_redemption_rate"])        # undefined in the scheme arm stays undefined


def test_run_totals_keep_replicates_and_segments_apart():
    rows = []
    for rep, seg, v in ((0, "a", 1), (0, "b", 10), (1, "a", 100), (1, "b", 1000)):
        rows += days("scheme", rep, seg, visits=[v, v]) + days("counterfactual", rep, seg, visits=[0, 0])
    t = run_totals(with_difference(raw_frame(rows)))
    got = t[t.arm == "scheme"].set_index(["replicate", "segment"])["visits"].to_dict()
    assert got == {(0, "a"): 2, (0, "b"): 20, (1, "a"): 200, (1, "b"): 2000}


def test_cost_below_the_negligible_threshold_gives_no_roi():
    t = run_totals(with_difference(raw_frame(
        days("scheme", gross_margin=[3, 3], reward_cost=[NEGLIGIBLE / 4, NEGLIGIBLE / 4])
        + days("counterfactual", gross_margin=[1, 1])))).set_index("arm")
    assert np.isnan(t.loc["difference", "business_roi"]) and t.loc["difference", "business_return"] == 4


# ---------------------------------------------------------------- the summary table

def test_the_summary_gives_mean_t_interval_count_and_unit_per_metric_arm_and_segment():
    rows = []
    for rep, v in enumerate([7, 9, 14]):  # scheme visit totals; mean 10
        rows += days("scheme", rep, visits=[v], revenue=[2 * v], members=[rep]) + days("counterfactual", rep, visits=[1])
    s = summarise(with_difference(raw_frame(rows)), currency="EUR").set_index(["metric", "arm", "segment"])
    assert list(s.columns) == ["unit", "mean", "ci_low", "ci_high", "n"]
    assert len(s) == 3 * len(REGISTRY)
    v = s.loc[("visits", "scheme", "all")]
    half = T_TABLE[3] * statistics.stdev([7, 9, 14]) / math.sqrt(3)
    assert (v["unit"], v["n"], v["mean"]) == ("trips", 3, 10.0)
    assert v["ci_low"] == pytest.approx(10 - half, rel=1e-4) and v["ci_high"] == pytest.approx(10 + half, rel=1e-4)
    assert s.loc[("visits", "difference", "all"), "mean"] == 9.0
    assert s.loc[("revenue", "scheme", "all"), "unit"] == "EUR" and s.loc[("revenue", "scheme", "all"), "mean"] == 20
    assert s.loc[("business_roi", "scheme", "all"), "unit"] == "ratio"
    assert s.loc[("enrolment_rate", "scheme", "all"), "unit"] == "share"
    assert s.loc[("enrolment_rate", "scheme", "all"), "n"] == 0  # no customers at all: undefined everywhere
    assert s.loc[("business_roi", "scheme", "all"), "n"] == 0


def test_the_summary_counts_only_replicates_where_a_ratio_is_defined():
    rows = []
    for rep, (issued, expired) in enumerate([(0, 0), (100, 10), (200, 60)]):
        rows += days("scheme", rep, points_issued=[issued], points_expired=[expired]) + days("counterfactual", rep, visits=[0])
    s = summarise(with_difference(raw_frame(rows)))
    assert list(dict.fromkeys(s["arm"])) == ["scheme", "counterfactual", "difference"]
    assert set(s.loc[s.metric == "revenue", "unit"]) == {"GBP"}
    s = s.set_index(["metric", "arm"])
    row = s.loc[("breakage_rate", "scheme")]
    assert row["n"] == 2 and row["mean"] == pytest.approx((0.1 + 0.3) / 2)


# ---------------------------------------------------------------- the metric registry and derived metrics

MONEY_EFFECTS = {
    # raw metric: (programme cost, business return, customer value, customer cost) per unit
    "reward_cost": (1, 0, 0, 0), "member_discount": (1, 0, 0, 0), "offer_discount": (1, 0, 0, 0),
    "operating_cost": (1, 0, 0, 0), "gross_margin": (0, 1, 0, 0), "data_revenue": (0, 1, 0, 0),
    "cost_savings": (0, 1, 0, 0), "fee_revenue": (0, 1, 0, 0), "partner_revenue": (0, 1, 0, 0),
    "reward_value": (0, 0, 1, 0), "member_savings": (0, 0, 1, 0), "offer_savings": (0, 0, 1, 0),
    "status_value": (0, 0, 1, 0), "convenience_value": (0, 0, 1, 0), "fees_paid": (0, 0, 0, 1),
    "effort_cost": (0, 0, 0, 1), "privacy_cost": (0, 0, 0, 1), "sales": (0, 0, 0, 0), "revenue": (0, 0, 0, 0),
}


def _derived_from(values: dict) -> pd.Series:
    frame = pd.DataFrame([{name: 0.0 for name in RAW_NAMES} | values])
    add_derived(frame)
    return frame.iloc[0]


@pytest.mark.parametrize("name", sorted(MONEY_EFFECTS))
def test_each_money_flow_lands_on_its_side_of_the_exchange(name):
    cost, ret, value, ccost = MONEY_EFFECTS[name]
    d = _derived_from({name: 3.0})
    assert (d["programme_cost"], d["business_return"], d["customer_value"], d["customer_cost"]) == (
        3 * cost, 3 * ret, 3 * value, 3 * ccost)
    assert d["business_net_value"] == 3 * (ret - cost) and d["customer_net_value"] == 3 * (value - ccost)
    assert d["discount_cost"] == (3.0 if name in ("member_discount", "offer_discount") else 0.0)
    assert d["insight_value"] == (3.0 if name in ("data_revenue", "cost_savings") else 0.0)


def test_the_insight_index_is_the_mean_of_the_eight_dimensions():
    assert len(INSIGHT_NAMES) == 8
    d = _derived_from({name: float(i) for i, name in enumerate(INSIGHT_NAMES)})  # 0..7
    assert d["insight_index"] == pytest.approx(3.5)


def test_derived_ratios_work_row_by_row():
    d = _derived_from({"points_issued": 8.0, "points_expired": 2.0, "points_redeemed": 4.0, "members": 3.0,
                       "customers": 12.0, "defections": 6.0, "offers_sent": 5.0, "offers_redeemed": 1.0,
                       "gross_margin": 9.0, "operating_cost": 3.0})
    assert (d["breakage_rate"], d["redemption_rate"], d["enrolment_rate"]) == (0.25, 0.5, 0.25)
    assert (d["churn_rate"], d["offer_redemption_rate"], d["business_roi"]) == (0.5, 0.2, 3.0)


@pytest.mark.parametrize("den, defined", [(0.0, False), (NEGLIGIBLE, False), (-NEGLIGIBLE, False),
                                          (3 * NEGLIGIBLE, True), (-2.0, True), (1e-300, False)])
def test_a_ratio_is_undefined_exactly_when_its_denominator_is_negligible(den, defined):
    got = ratio(pd.Series([6.0]), pd.Series([den])).iloc[0]
    assert (not np.isnan(got)) == defined
    if defined:
        assert got == pytest.approx(6.0 / den)


def test_every_ratio_names_two_registered_metrics_and_each_metric_has_a_kind_and_unit():
    assert len(set(RAW_NAMES)) == len(RAW_NAMES) and set(RAW_NAMES).isdisjoint(m.name for m in DERIVED)
    for m in REGISTRY.values():
        assert m.kind in ("flow", "stock", "ratio") and m.unit and m.description
        if m.kind == "ratio":
            assert m.numerator in REGISTRY and m.denominator in REGISTRY
        else:
            assert m.numerator is None and m.denominator is None
    assert {m.name for m in REGISTRY.values() if m.kind == "stock"} >= {"customers", "members", "points_outstanding"}


# ---------------------------------------------------------------- the verdict

@pytest.mark.parametrize("roi, net, threshold, state", [
    (1.0, 0.0, 1.0, "balanced"),                 # both boundaries count as balanced
    (2.0, 5.0, 1.0, "balanced"),
    (0.999, 5.0, 1.0, "customer-subsidised"),
    (1.5, -0.01, 1.0, "business-extractive"),
    (0.5, -1.0, 1.0, "lose-lose"),
    (1.5, 1.0, 2.0, "customer-subsidised"),      # the threshold is the scenario's
    (2.0, 1.0, 2.0, "balanced"),
    (float("nan"), 1.0, 1.0, "customer-subsidised"),  # no ROI (no programme cost): business side not met
    (float("nan"), -1.0, 1.0, "lose-lose"),
])
def test_each_state_is_defined_by_roi_against_the_threshold_and_the_sign_of_customer_net_value(
        roi, net, threshold, state):
    assert balance_state(roi, net, threshold) == state
    assert state in STATES
    if threshold == 1.0:
        assert balance_state(roi, net) == state  # 1.0 is the default threshold


def period_frame(values: list[tuple[float, float, float]], segment: str = "all", replicate: int = 0) -> list[dict]:
    """Difference-arm rows, one per day: (business return, programme cost, customer net value)."""
    return [{"replicate": replicate, "arm": "difference", "segment": segment, "day": d, "business_return": r,
             "programme_cost": c, "customer_net_value": n} for d, (r, c, n) in enumerate(values)]


def test_a_period_is_judged_on_its_summed_flows_not_on_its_days():
    # Day 0 has ROI 2, day 1 ROI 0.5 (mean of daily ROIs 1.25); the period's is 1.2 / 2.1 = 0.57.
    v = verdict(pd.DataFrame(period_frame([(0.2, 0.1, 1.0), (1.0, 2.0, -0.5)])), period_days=2)
    (p,) = v["segments"]["all"]["periods"]
    assert p["business_roi"] == pytest.approx(1.2 / 2.1) and p["customer_net_value"] == pytest.approx(0.5)
    assert p["state"] == "customer-subsidised" and p["start_day"] == 0


def test_periods_start_every_period_days_and_the_last_may_be_short():
    v = verdict(pd.DataFrame(period_frame([(2, 1, 1)] * 7)), period_days=3)
    periods = v["segments"]["all"]["periods"]
    assert [p["start_day"] for p in periods] == [0, 3, 6]
    assert [p["customer_net_value"] for p in periods] == [3.0, 3.0, 1.0]
    assert v["period_days"] == 3 and v["roi_threshold"] == 1.0


def test_the_first_balanced_period_and_the_tipping_point():
    # Periods of 2 days: lose-lose, balanced, balanced, business-extractive, balanced.
    states = [(0, 1, -1), (3, 1, 1), (3, 1, 1), (3, 1, -1), (3, 1, 1)]
    v = verdict(pd.DataFrame(period_frame([s for s in states for _ in range(2)])), period_days=2)
    seg = v["segments"]["all"]
    assert [p["state"] for p in seg["periods"]] == ["lose-lose", "balanced", "balanced", "business-extractive",
                                                    "balanced"]
    assert seg["balanced_from_day"] == 2 and v["balanced_from_day"] == 2
    assert seg["tipping_day"] == 6 and v["tipping_day"] == 6 and seg["tips_to"] == "business-extractive"


def test_an_exchange_that_starts_out_of_balance_has_not_tipped():
    v = verdict(pd.DataFrame(period_frame([(0, 1, 1), (0, 1, -1), (2, 1, 1), (2, 1, 1)])), period_days=1)
    assert v["tipping_day"] is None and v["balanced_from_day"] == 2
    assert v["segments"]["all"]["tips_to"] is None
    never = verdict(pd.DataFrame(period_frame([(0, 1, 1)] * 3)), period_days=1)
    assert never["balanced_from_day"] is None and never["tipping_day"] is None


def test_the_overall_state_comes_from_the_run_totals():
    # Three balanced periods of ROI 1.1 and one lose-lose period that outweighs them.
    v = verdict(pd.DataFrame(period_frame([(1.1, 1, 1)] * 3 + [(0, 10, -10)])), period_days=1)
    assert [p["state"] for p in v["segments"]["all"]["periods"]].count("balanced") == 3
    assert v["state"] == "lose-lose" and v["segments"]["all"]["state"] == "lose-lose"
    assert v["segments"]["all"]["business_roi"] == pytest.approx(3.3 / 13)
    assert v["segments"]["all"]["customer_net_value"] == pytest.approx(-7.0)


def test_the_verdict_averages_replicates_and_reads_only_the_difference_arm():
    rows = period_frame([(0.0, 1.0, -1.0)] * 2, replicate=0) + period_frame([(4.0, 1.0, 3.0)] * 2, replicate=1)
    noise = [{**r, "arm": arm, "business_return": -1e6} for r in rows for arm in ("scheme", "counterfactual")]
    v = verdict(pd.DataFrame(rows + noise), period_days=2)
    (p,) = v["segments"]["all"]["periods"]
    assert p["business_roi"] == pytest.approx(2.0) and p["customer_net_value"] == pytest.approx(2.0)
    assert v["state"] == "balanced"


def test_segments_are_judged_separately_and_the_top_level_is_the_whole_population():
    rows = (period_frame([(3, 1, 1)] * 2, "all") + period_frame([(3, 1, -1)] * 2, "young")
            + period_frame([(0.5, 1, 1)] * 2, "old") + period_frame([(1.5, 1, 1)] * 2, "mid"))
    v = verdict(pd.DataFrame(rows), period_days=1, roi_threshold=2.0)
    assert {k: s["state"] for k, s in v["segments"].items()} == {
        "all": "balanced", "young": "business-extractive", "old": "customer-subsidised", "mid": "customer-subsidised"}
    assert [p["state"] for p in v["segments"]["mid"]["periods"]] == ["customer-subsidised"] * 2
    assert v["state"] == "balanced" and v["roi_threshold"] == 2.0


def test_a_cost_below_min_cost_gives_no_roi_and_no_business_balance():
    v = verdict(pd.DataFrame(period_frame([(5.0, MIN_COST / 2, 1.0)])), period_days=1)
    seg = v["segments"]["all"]
    assert seg["business_roi"] is None and seg["periods"][0]["business_roi"] is None
    assert v["state"] == "customer-subsidised"
    assert verdict(pd.DataFrame(period_frame([(5.0, MIN_COST, 1.0)])), period_days=1)["state"] == "customer-subsidised"
    v = verdict(pd.DataFrame(period_frame([(5.0, 2 * MIN_COST, 1.0)])), period_days=1)
    assert v["segments"]["all"]["business_roi"] == pytest.approx(2.5e9) and v["state"] == "balanced"


def test_a_verdict_without_the_whole_population_has_no_overall_state():
    v = verdict(pd.DataFrame(period_frame([(3, 1, 1)], "young")), period_days=1)
    assert v["state"] is None and v["tipping_day"] is None and v["balanced_from_day"] is None


def test_the_customer_side_says_worse_off_than_the_reference_and_from_when():
    rows = period_frame([(3, 1, 1)] * 4)
    # Members above their reference in the first two days, below it (by more) in the last two.
    for row, (above, below, welfare) in zip(rows, [(2, 0, 5), (1, 0, 5), (0, 3, -1), (0, 4, -2)]):
        row.update(value_above_reference=above, value_below_reference=below, customer_welfare=welfare)
    v = verdict(pd.DataFrame(rows), period_days=2)
    seg = v["segments"]["all"]
    assert [p["customer_side"] for p in seg["periods"]] == ["better off", "worse off than the reference"]
    assert seg["customer_side"] == "worse off than the reference" and seg["below_reference_from_day"] == 2
    assert seg["customer_welfare"] == 7 and seg["value_against_reference"] == -4
    assert v["state"] == "balanced"  # the transfer view still decides the state
    assert "Members get less than they have come to expect from the period starting day 2." in describe(v)
    assert verdict(pd.DataFrame(period_frame([(3, 1, -1)] * 2)), 2)["segments"]["all"]["customer_side"] == "net negative"


def test_the_verdict_in_words():
    tipping = verdict(pd.DataFrame(
        period_frame([(0.5, 1, 1), (3, 1, 1), (3, 1, -4)]) + period_frame([(3, 1, 1)] * 3, "young")
        + period_frame([(0, 1, -1)] * 3, "old")), period_days=1)
    assert describe(tipping) == (
        "Overall the exchange is business-extractive: business ROI 2.17, customer net value -2. "
        "Customers are net negative (welfare, counting what switching stores to collect costs them: 0). "
        "It is first balanced in the period from day 1. It tips out of balance on day 2 (business-extractive). "
        "By segment: young: balanced; old: lose-lose.")
    steady = verdict(pd.DataFrame(period_frame([(3, 1, 1500)] * 2)), period_days=7)
    assert describe(steady) == ("Overall the exchange is balanced: business ROI 3.00, customer net value 3,000. "
                                "Customers are better off (welfare, counting what switching stores to collect "
                                "costs them: 0). Once balanced, it does not tip during the run.")
    never = verdict(pd.DataFrame(period_frame([(1, 0, -1)] * 2)), period_days=14)
    assert describe(never) == ("Overall the exchange is lose-lose: business ROI n/a, customer net value -2. "
                               "Customers are net negative (welfare, counting what switching stores to collect "
                               "costs them: 0). No 14-day period is balanced.")
