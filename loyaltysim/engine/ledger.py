"""The two-sided value ledger: one arm's metrics for one day, summed by segment as phases report them
(the verdict over periods is :mod:`loyaltysim.results.verdict`)."""

from __future__ import annotations

import numpy as np

from loyaltysim.engine import kernels
from loyaltysim.engine.metrics import INDEX, RAW_NAMES


class DayLedger:
    """One arm's metrics for one day, summed by segment as phases report them."""

    def __init__(self, segment: np.ndarray, n_segments: int) -> None:
        self.segment = segment
        self.n_segments = n_segments
        self.values = np.zeros((len(RAW_NAMES), n_segments))

    def reset(self) -> None:
        self.values[:] = 0.0

    def add(self, name: str, idx: np.ndarray, amounts: np.ndarray | float) -> None:
        """Add per-customer amounts (or one amount for all) for customers ``idx``."""
        sums = np.zeros(self.n_segments)
        if isinstance(amounts, (int, float, np.integer, np.floating)):
            kernels.segment_sums_of_one(self.segment, idx, float(amounts), sums)
        else:
            kernels.segment_sums(self.segment, idx, amounts, sums)
        self.values[INDEX[name]] += sums

    def add_columns(self, names: list[str], idx: np.ndarray, amounts: np.ndarray) -> None:
        """Add a (len(idx), len(names)) matrix of per-customer amounts, one metric per column."""
        seg = self.segment[idx]
        for j, name in enumerate(names):
            self.values[INDEX[name]] += np.bincount(seg, amounts[:, j], minlength=self.n_segments)

    def add_by_segment(self, name: str, per_segment: np.ndarray) -> None:
        self.values[INDEX[name]] += per_segment

    def set_by_segment(self, name: str, per_segment: np.ndarray) -> None:
        self.values[INDEX[name]] = per_segment
