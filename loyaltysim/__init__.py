"""loyaltysim: does a loyalty scheme's value exchange stay balanced?

The public API (what the CLI does, a function does):

    >>> import loyaltysim
    >>> result = loyaltysim.simulate("scenarios/supermarket_points.yaml", replications=3)
    >>> result.summary      # metric, unit, arm, segment, mean, ci_low, ci_high, n
    >>> result.daily        # replicate, arm, day, segment, metrics
    >>> result.verdict      # balance state overall and per segment, and the day it tips
    >>> loyaltysim.plot_difference(result.daily, verdict=result.verdict)
    >>> both = loyaltysim.compare(["supermarket_points.yaml", "member_pricing.yaml"])
    >>> both.table          # scenario, metric, unit, arm, mean, ci_low, ci_high, n
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {
    "ComparisonResult": "comparison", "compare": "comparison",
    "LoyaltysimError": "errors", "RunError": "errors", "ScenarioError": "errors",
    "SimulationResult": "experiment", "simulate": "experiment",
    "LoyaltyModel": "model",
    "plot_comparison": "plotting", "plot_difference": "plotting", "plot_insight": "plotting",
    "plot_points": "plotting", "plot_timeseries": "plotting", "plot_value_balance": "plotting",
    "load_results": "results.store", "rebuild": "results.store", "write_comparison": "results.store",
    "write_run": "results.store",
    "load_scenario": "scenario.loading", "Scenario": "scenario.models", "scenario_schema": "scenario.schema",
}
"""The module each public name lives in. They are imported on first use, so ``python -m loyaltysim``
starts (and answers Ctrl-C) before numpy, pandas and matplotlib are loaded."""

if TYPE_CHECKING:  # for editors and type checkers
    from loyaltysim.comparison import ComparisonResult, compare
    from loyaltysim.errors import LoyaltysimError, RunError, ScenarioError
    from loyaltysim.experiment import SimulationResult, simulate
    from loyaltysim.model import LoyaltyModel
    from loyaltysim.plotting import (
        plot_comparison, plot_difference, plot_insight, plot_points, plot_timeseries, plot_value_balance,
    )
    from loyaltysim.results.store import load_results, rebuild, write_comparison, write_run
    from loyaltysim.scenario.loading import load_scenario
    from loyaltysim.scenario.models import Scenario
    from loyaltysim.scenario.schema import scenario_schema


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'loyaltysim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"loyaltysim.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "ComparisonResult", "LoyaltyModel", "LoyaltysimError", "RunError", "Scenario", "ScenarioError",
    "SimulationResult", "compare", "load_results", "load_scenario", "plot_comparison", "plot_difference",
    "plot_insight", "plot_points", "plot_timeseries", "plot_value_balance", "rebuild", "scenario_schema",
    "simulate", "write_comparison", "write_run",
]
__version__ = "0.1.0"
