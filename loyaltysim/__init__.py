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
    "ComparisonResult": "runs.compare", "compare": "runs.compare",
    "LoyaltysimError": "errors", "RunError": "errors", "ScenarioError": "errors",
    "SimulationResult": "runs.simulate", "simulate": "runs.simulate",
    "LoyaltyModel": "engine.model", "run_evidence": "evidence.run",
    "plot_comparison": "present.plots", "plot_difference": "present.plots", "plot_insight": "present.plots",
    "plot_points": "present.plots", "plot_timeseries": "present.plots", "plot_value_balance": "present.plots",
    "load_results": "results.store", "rebuild": "present.folders", "write_comparison": "present.folders",
    "write_run": "present.folders",
    "load_scenario": "scenario.loading", "Scenario": "scenario.models", "scenario_schema": "scenario.schema",
}
"""The module each public name lives in. They are imported on first use, so ``python -m loyaltysim``
starts (and answers Ctrl-C) before numpy, pandas and matplotlib are loaded."""

if TYPE_CHECKING:  # for editors and type checkers
    from loyaltysim.engine.model import LoyaltyModel
    from loyaltysim.evidence.run import run_evidence
    from loyaltysim.errors import LoyaltysimError, RunError, ScenarioError
    from loyaltysim.present.folders import rebuild, write_comparison, write_run
    from loyaltysim.present.plots import (
        plot_comparison, plot_difference, plot_insight, plot_points, plot_timeseries, plot_value_balance,
    )
    from loyaltysim.results.store import load_results
    from loyaltysim.runs.compare import ComparisonResult, compare
    from loyaltysim.runs.simulate import SimulationResult, simulate
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
    "plot_insight", "plot_points", "plot_timeseries", "plot_value_balance", "rebuild", "run_evidence", "scenario_schema",
    "simulate", "write_comparison", "write_run",
]
__version__ = "0.1.0"
