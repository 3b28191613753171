"""Summaries of a run's daily frame: the difference arm (scheme minus counterfactual), each metric's run
total per replicate, and the mean and 95% t-interval over replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from loyaltysim.engine.metrics import DERIVED, RAW_NAMES, REGISTRY, add_derived, ratio

KEYS = ["replicate", "arm", "day", "segment"]
"""The daily frame's key columns, in sort order."""


def with_difference(raw: pd.DataFrame) -> pd.DataFrame:
    """Add the difference arm (scheme minus counterfactual) and the derived metric columns."""
    idx = ["replicate", "day", "segment"]
    sch = raw[raw["arm"] == "scheme"].set_index(idx)[list(RAW_NAMES)]
    cf = raw[raw["arm"] == "counterfactual"].set_index(idx)[list(RAW_NAMES)]
    diff = (sch - cf).reset_index()
    diff.insert(1, "arm", "difference")
    out = pd.concat([raw, diff[raw.columns]], ignore_index=True)
    add_derived(out)
    _difference_ratios(out, idx)
    return out.sort_values(KEYS, kind="stable", key=_arm_order).reset_index(drop=True)


RATIOS = [m.name for m in DERIVED if m.kind == "ratio" and m.name != "business_roi"]


def _difference_ratios(frame: pd.DataFrame, keys: list[str]) -> None:
    """In the difference arm a ratio is the scheme's ratio minus the counterfactual's (a ratio absent
    in the counterfactual, such as breakage, counts as 0 there); business ROI is defined only there,
    as incremental return over programme cost."""
    arm = frame["arm"]
    sch = frame.loc[arm == "scheme"].set_index(keys)[RATIOS]
    cf = frame.loc[arm == "counterfactual"].set_index(keys)[RATIOS].fillna(0.0)
    diff_rows = arm == "difference"
    aligned = (sch - cf).reindex(pd.MultiIndex.from_frame(frame.loc[diff_rows, keys]))
    frame.loc[diff_rows, RATIOS] = aligned.to_numpy()
    frame.loc[~diff_rows, "business_roi"] = np.nan


def _arm_order(col: pd.Series) -> pd.Series:
    if col.name == "arm":
        return col.map({"scheme": 0, "counterfactual": 1, "difference": 2})
    return col


def run_totals(daily: pd.DataFrame) -> pd.DataFrame:
    """One row per replicate, arm and segment: each metric aggregated over the run by its kind."""
    # Stocks are the last day's levels: in day order whatever order the frame came in (stable, so
    # each group's rows, and so its sums, keep their order).
    g = daily.sort_values("day", kind="stable").groupby(["replicate", "arm", "segment"], sort=False)
    flows = [m.name for m in REGISTRY.values() if m.kind == "flow"]
    stocks = [m.name for m in REGISTRY.values() if m.kind == "stock"]
    out = g[flows].sum().join(g[stocks].last())
    for m in DERIVED:
        if m.kind == "ratio":
            den = out[m.denominator]
            if m.name == "churn_rate":  # per customer at the start of the run
                den = out["customers"] + out["defections"]
            out[m.name] = ratio(out[m.numerator], den)
    out = out.reset_index()
    _difference_ratios(out, ["replicate", "segment"])
    return out


def mean_interval(x: np.ndarray) -> tuple[float, float, float, int]:
    """Mean, 95% t-interval (low, high) and count of the finite values of ``x``, one per replicate
    (the interval is undefined, nan, with fewer than two)."""
    x = x[np.isfinite(x)]
    n = x.size
    mean = float(x.mean()) if n else np.nan
    if n < 2:
        return mean, np.nan, np.nan, n
    half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half, n


def summarise(daily: pd.DataFrame, currency: str = "GBP") -> pd.DataFrame:
    """Mean and 95% t-interval across replicates of each metric's run total, per arm and segment."""
    totals = run_totals(daily)
    rows = []
    for (arm, segment), g in totals.groupby(["arm", "segment"], sort=False):
        for name, m in REGISTRY.items():
            mean, lo, hi, n = mean_interval(g[name].to_numpy(dtype=float))
            unit = currency if m.unit == "money" else m.unit
            rows.append((name, unit, arm, segment, mean, lo, hi, n))
    return pd.DataFrame(rows, columns=["metric", "unit", "arm", "segment", "mean", "ci_low", "ci_high", "n"])
