"""Scenarios side by side: each simulated on the same seeds, their summaries in one table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from loyaltysim.errors import RunError
from loyaltysim.runs.executors import Executor
from loyaltysim.runs.simulate import SimulationResult, simulate
from loyaltysim.scenario.loading import apply_overrides, load_scenario, scenario_data, validate
from loyaltysim.scenario.models import Scenario
from loyaltysim.scenario.shipped import resolve

COLUMNS = ["scenario", "metric", "unit", "arm", "mean", "ci_low", "ci_high", "n"]
"""The columns of ``comparison.csv`` (the whole population; segments are in each run's summary)."""


@dataclass
class ComparisonResult:
    """What ``compare`` returns: each scenario's result under a unique label, and the joint table."""

    results: dict[str, SimulationResult]
    table: pd.DataFrame  # COLUMNS
    seed: int


def compare(scenarios: Sequence[Scenario | str | Path], *, seed: int | None = None,
            replications: int | None = None, customers: int | None = None, days: int | None = None,
            overrides: list[str] | None = None, transactions: bool = False,
            progress: Callable[[int], Any] | None = None, executor: Executor | None = None) -> ComparisonResult:
    """Simulate each scenario (Scenario objects, YAML paths or shipped names) on the same seeds; tabulate them.

    Every scenario runs with ``seed`` (default: the first scenario's seed), so replicate r of each
    draws the same customers and the same daily random numbers: differences between scenarios are
    caused by their designs, not by chance. Keyword arguments override every scenario alike;
    ``executor`` runs each scenario's replicates (see ``simulate``).
    """
    if len(scenarios) < 2:
        raise RunError(f"compare needs at least two scenarios (got {len(scenarios)})")
    loaded = [_load(s, overrides) for s in scenarios]
    seed = loaded[0].seed if seed is None else seed
    results: dict[str, SimulationResult] = {}
    for sc in loaded:
        label = _unique(sc.name, results)
        results[label] = simulate(sc, seed=seed, replications=replications, customers=customers, days=days,
                                  transactions=transactions, progress=progress, executor=executor)
    return ComparisonResult(results, comparison_table(results), seed)


def comparison_table(results: dict[str, SimulationResult]) -> pd.DataFrame:
    """One row per scenario, metric and arm: the whole population's summary of each result."""
    frames = []
    for label, result in results.items():
        s = result.summary[result.summary["segment"] == "all"].drop(columns="segment")
        frames.append(s.assign(scenario=label)[COLUMNS])
    return pd.concat(frames, ignore_index=True)


def _load(scenario: Scenario | str | Path, overrides: list[str] | None) -> Scenario:
    if not isinstance(scenario, Scenario):
        return load_scenario(resolve(scenario), overrides)
    if overrides:
        return validate(apply_overrides(scenario_data(scenario), overrides), source="--set")
    return scenario


def _unique(name: str, taken: dict) -> str:
    label, k = name, 2
    while label in taken:
        label, k = f"{name}-{k}", k + 1
    return label
