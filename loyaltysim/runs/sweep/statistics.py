"""A sweep's numbers: the headline KPIs of every run (the index) and their mean and 95% interval per
point (the summary), as ``index.parquet`` and ``summary.csv`` hold them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loyaltysim.engine.metrics import REGISTRY
from loyaltysim.results.summary import mean_interval
from loyaltysim.scenario.loading import canonical_json

__all__ = ["COLUMNS", "KPIS", "build_index", "column_value", "parameter_column", "summarise_points"]

KPIS: tuple[str, ...] = (
    "business_roi", "customer_net_value", "business_net_value", "members", "revenue", "insight_index",
    "breakage_rate",
)
"""The headline KPIs of every run in ``index.parquet`` (difference arm, all segments, run totals)."""
COLUMNS = ("point", "replicate", "key", "seed", "metric", "unit", "mean", "ci_low", "ci_high", "n") + KPIS
"""The index's and summary's own columns: no swept parameter may take one of these names."""


def parameter_column(values: list) -> pd.Series:
    """A parameter's values as one parquet-friendly column: numbers, strings, or JSON text."""
    numbers = [v for v in values if v is not None]
    if numbers and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        if len(numbers) == len(values) and all(isinstance(v, int) for v in values):
            return pd.Series(values, dtype="int64")
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")  # None: absent
    if all(isinstance(v, bool) for v in values):
        return pd.Series(values, dtype="bool")
    if all(isinstance(v, str) for v in values):
        return pd.Series(values, dtype="object")
    return pd.Series([v if isinstance(v, str) else canonical_json(v) for v in values], dtype="object")


def column_value(value: Any) -> Any:
    """One parameter value as its column holds it (``None`` stays ``None``)."""
    return None if value is None else parameter_column([value]).iloc[0]


def build_index(units: list[tuple[int, int, str]], factors: list[str], parameters: dict[int, dict], seed: int,
                kpis: dict[str, dict[str, float | None]]) -> pd.DataFrame:
    """One row per unit (point, replicate, run key), in that order: identifiers, the point's parameters
    (``parameters`` by point), and the run's KPIs (``kpis`` by run key)."""
    index = pd.DataFrame([(point, replicate, key, seed) for point, replicate, key in units],
                         columns=["point", "replicate", "key", "seed"])
    index = index.astype({"point": "int64", "replicate": "int64", "seed": "int64"})
    for f in factors:
        index[f] = parameter_column([parameters[p][f] for p, _, _ in units])
    for m in KPIS:
        index[m] = np.array([np.nan if kpis[k][m] is None else kpis[k][m] for _, _, k in units], dtype="float64")
    return index


def summarise_points(index: pd.DataFrame, factors: list[str], currency: str) -> pd.DataFrame:
    """Per point and KPI: mean and 95% t-interval over replicates (as a run's summary.csv)."""
    rows = []
    for point, g in index.groupby("point", sort=True):
        params = g.iloc[0][factors].tolist()
        for m in KPIS:
            mean, lo, hi, n = mean_interval(g[m].to_numpy(dtype=float))
            unit = currency if REGISTRY[m].unit == "money" else REGISTRY[m].unit
            rows.append([point, *params, m, unit, mean, lo, hi, n])
    out = pd.DataFrame(rows, columns=["point", *factors, "metric", "unit", "mean", "ci_low", "ci_high", "n"])
    for f in factors:  # keep each parameter's type as in the index
        out[f] = out[f].astype(index[f].dtype)
    return out
