"""loyaltysim: does a loyalty scheme's value exchange stay balanced?

The public API (what the CLI does, a function does):

    >>> import loyaltysim
    >>> result = loyaltysim.simulate("scenarios/supermarket_points.yaml", replications=3)
    >>> result.summary      # metric, unit, arm, segment, mean, ci_low, ci_high, n
    >>> result.daily        # replicate, arm, day, segment, metrics
    >>> result.verdict      # balance state overall and per segment, and the day it tips
"""

from loyaltysim.errors import LoyaltysimError, RunError, ScenarioError
from loyaltysim.experiment import SimulationResult, simulate
from loyaltysim.model import LoyaltyModel
from loyaltysim.results.store import load_results, write_run
from loyaltysim.scenario.loading import load_scenario
from loyaltysim.scenario.models import Scenario

__all__ = [
    "LoyaltyModel", "LoyaltysimError", "RunError", "Scenario", "ScenarioError", "SimulationResult",
    "load_results", "load_scenario", "simulate", "write_run",
]
__version__ = "0.1.0"
