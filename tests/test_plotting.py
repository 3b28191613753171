"""plot_* functions: data and an ax in, the same ax out, labelled from the registry, no files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from tiny_runs import tiny_result  # noqa: E402

from loyaltysim.engine.metrics import INSIGHT_NAMES  # noqa: E402
from loyaltysim.present import plots as plotting  # noqa: E402


def new_ax() -> Axes:
    return Figure(figsize=(6, 4)).subplots()


@pytest.fixture(scope="module")
def result():
    return tiny_result()


def all_plots(result):
    d, s, v = result.daily, result.summary, result.verdict
    return {
        "timeseries": lambda ax: plotting.plot_timeseries(d, ax, metric="revenue", currency="GBP"),
        "difference": lambda ax: plotting.plot_difference(d, ax, verdict=v, currency="GBP"),
        "value_balance": lambda ax: plotting.plot_value_balance(s, ax),
        "points": lambda ax: plotting.plot_points(d, ax, currency="GBP"),
        "insight": lambda ax: plotting.plot_insight(d, ax),
        "comparison": lambda ax: plotting.plot_comparison(s, ax, metric="revenue"),
    }


@pytest.mark.parametrize("name", ["timeseries", "difference", "value_balance", "points", "insight", "comparison"])
def test_each_plot_draws_on_the_given_ax_and_writes_no_file(result, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ax = new_ax()
    out = all_plots(result)[name](ax)
    assert out is ax
    assert ax.get_title()
    assert ax.get_ylabel()
    assert list(tmp_path.iterdir()) == []


def test_without_an_ax_a_new_figure_is_made(result):
    ax = plotting.plot_timeseries(result.daily)
    assert isinstance(ax, Axes)
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_labels_carry_the_registry_unit():
    assert plotting.label("revenue", "GBP") == "revenue (GBP)"
    assert plotting.label("revenue") == "revenue (money)"
    assert plotting.label("members") == "members (customers)"
    assert plotting.label("breakage_rate") == "breakage rate (share)"


def test_timeseries_draws_one_line_and_one_band_per_arm(result):
    ax = plotting.plot_timeseries(result.daily, new_ax(), metric="revenue", currency="EUR")
    assert [line.get_label() for line in ax.get_lines()] == ["scheme", "counterfactual"]
    assert len(ax.collections) == 2  # replicate bands
    assert "EUR" in ax.get_ylabel() and "7-day mean" in ax.get_ylabel()


def test_timeseries_band_spans_the_replicates():
    days = np.arange(5)
    frame = pd.DataFrame({
        "replicate": np.repeat([0, 1], 5), "arm": "scheme", "day": np.tile(days, 2), "segment": "all",
        "members": np.r_[days * 1.0, days * 3.0],
    })
    ax = plotting.plot_timeseries(frame, new_ax(), metric="members")
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), days * 2.0)  # mean of the two replicates
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(12.0) and band[:, 1].min() == pytest.approx(0.0)


def test_scheme_only_metrics_show_the_scheme_arm_alone(result):
    ax = plotting.plot_timeseries(result.daily, new_ax(), metric="members")
    assert [line.get_label() for line in ax.get_lines()] == ["scheme"]
    assert ax.get_ylabel() == "members (customers)"  # a stock is not smoothed


def test_difference_has_a_zero_line_and_marks_the_tipping_day(result):
    verdict = {"segments": {"all": {"tipping_day": 28, "periods": [
        {"start_day": 0, "state": "balanced"}, {"start_day": 28, "state": "lose-lose"}]}}}
    ax = plotting.plot_difference(result.daily, new_ax(), verdict=verdict, currency="GBP")
    flat = [ln for ln in ax.get_lines() if np.all(np.asarray(ln.get_ydata()) == 0)]
    assert flat, "no zero line"
    vertical = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [28, 28]]
    assert vertical and vertical[0].get_label() == "tips on day 28 (to lose-lose)"
    assert "GBP" in ax.get_ylabel()


def test_difference_without_a_tip_draws_no_marker(result):
    verdict = {"segments": {"all": {"tipping_day": None, "periods": []}}}
    ax = plotting.plot_difference(result.daily, new_ax(), verdict=verdict)
    assert not [ln for ln in ax.get_lines() if str(ln.get_label()).startswith("tips")]


def test_difference_is_cumulative_by_default():
    frame = pd.DataFrame({"replicate": 0, "arm": "difference", "day": [0, 1, 2], "segment": "all",
                          "business_net_value": [1.0, 2.0, 3.0], "customer_net_value": [0.0, 0.0, -1.0]})
    ax = plotting.plot_difference(frame, new_ax())
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 3.0, 6.0])
    ax = plotting.plot_difference(frame, new_ax(), cumulative=False)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 2.0, 3.0])


def test_value_balance_has_four_bars_per_segment_with_whiskers(result):
    ax = plotting.plot_value_balance(result.summary, new_ax())
    segments = result.summary["segment"].nunique()
    assert len(ax.patches) == 4 * segments
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "all customers"
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 4 and all(c.errorbar is not None for c in bars)
    assert "GBP" in ax.get_ylabel()  # currency read from the summary's unit column


def test_points_plot_has_the_liability_on_a_second_axis(result):
    ax = plotting.plot_points(result.daily, new_ax(), currency="GBP")
    twins = [a for a in ax.figure.axes if a is not ax]
    assert len(twins) == 1 and twins[0].get_ylabel() == "points liability (GBP)"
    assert {"issued (cumulative)", "redeemed (cumulative)", "expired (cumulative)", "outstanding"} <= {
        ln.get_label() for ln in ax.get_lines()}


def test_insight_plot_has_every_dimension_and_the_index(result):
    ax = plotting.plot_insight(result.daily, new_ax())
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert len(labels) == len(INSIGHT_NAMES) + 1
    assert "insight index (mean)" in labels
    assert ax.get_ylim() == (0.0, 1.0)


def test_comparison_bars_and_whiskers_match_the_intervals():
    table = pd.DataFrame({
        "scenario": ["a", "b", "a", "b"], "metric": ["business_net_value"] * 2 + ["members"] * 2,
        "unit": ["GBP", "GBP", "customers", "customers"], "arm": "difference",
        "mean": [10.0, -5.0, 1.0, 2.0], "ci_low": [8.0, -9.0, np.nan, 1.0], "ci_high": [13.0, -1.0, np.nan, 3.0],
        "n": 3,
    })
    ax = plotting.plot_comparison(table, new_ax(), metric="business_net_value")
    assert [p.get_height() for p in ax.patches] == [10.0, -5.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    whiskers = bars.errorbar.lines[2][0].get_segments()
    assert [tuple(seg[:, 1]) for seg in whiskers] == [(8.0, 13.0), (-9.0, -1.0)]
    assert ax.get_ylabel() == "business net value (GBP)"


def test_comparison_of_arms_within_one_run(result):
    ax = plotting.plot_comparison(result.summary, new_ax(), metric="revenue")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["scheme", "counterfactual", "difference"]


def test_a_frame_of_the_wrong_layout_is_refused():
    with pytest.raises(ValueError, match="needs columns"):
        plotting.plot_value_balance(pd.DataFrame({"metric": []}), new_ax())
    with pytest.raises(ValueError, match="no rows"):
        plotting.plot_comparison(pd.DataFrame({c: [] for c in ["metric", "arm", "mean", "ci_low", "ci_high"]}),
                                 new_ax())
