"""Runs and replications: each replicate is one paired (scheme, counterfactual) simulation.

Replicate r's random numbers depend only on the scenario's seed and r (SeedSequence spawn keys),
never on the scheme or on which other replicates ran, so results are the same however they run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.errors import RunError
from loyaltysim.results.summary import summarise, with_difference
from loyaltysim.results.verdict import verdict as judge
from loyaltysim.runs.executors import Executor, LocalExecutor, SerialExecutor
from loyaltysim.scenario.loading import apply_overrides, load_scenario, scenario_data, validate
from loyaltysim.scenario.models import Scenario
from loyaltysim.scenario.shipped import resolve


@dataclass
class SimulationResult:
    """What a simulation returns: pandas frames and the verdict."""

    scenario: Scenario
    daily: pd.DataFrame          # replicate, arm, day, segment and every metric column
    summary: pd.DataFrame        # metric, unit, arm, segment, mean, ci_low, ci_high, n
    verdict: dict
    customers: pd.DataFrame      # final per-customer state of replicate 0
    transactions: pd.DataFrame | None = None
    seeds: list[int] = field(default_factory=list)
    state_bytes: int = 0


BYTES_PER_CUSTOMER = 1400
"""Peak bytes per customer of one replicate: state (~430 B), the day's draws (14 x 4 B) and the
temporaries of the daily phases and insight snapshots. Measured with the benchmark's peak memory."""
BYTES_PER_ROW = 8 * 90
"""Bytes per recorded (arm, day, segment) row of daily metrics, including the frame built at the end."""


def memory_needed(scenario: Scenario) -> int:
    """Estimated peak memory of simulating one replicate of ``scenario``, in bytes."""
    segments = len(scenario.population.segments) + 1
    rows = 3 * scenario.days * segments * scenario.replications
    return (scenario.customers + scenario.arrivals) * BYTES_PER_CUSTOMER + rows * BYTES_PER_ROW


def memory_available() -> int | None:
    """Memory available to this process now, in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_resources(scenario: Scenario) -> None:
    """Refuse a run that cannot fit in memory, before allocating anything."""
    need, have = memory_needed(scenario), memory_available()
    if have is not None and need > have:
        held = scenario.customers + scenario.arrivals  # arrivals are held from the start
        fit = max(1, int((have - (need - held * BYTES_PER_CUSTOMER)) // BYTES_PER_CUSTOMER))
        with_arrivals = f" and {scenario.arrivals:,} arrivals" if scenario.arrivals else ""
        raise RunError(f"customers: {scenario.customers:,} customers{with_arrivals} need about {need / 2**30:.1f} GiB "
                       f"but {have / 2**30:.1f} GiB is available (use at most about {fit:,} customers in all, or "
                       f"fewer days)")


def check_parallel_memory(scenarios: list[Scenario], executor: Executor | None, units: int) -> None:
    """Refuse work whose largest unit (one replicate) cannot fit in memory, alone or once per local worker.

    Dask workers run elsewhere and check their own memory; serial work holds one unit at a time.
    """
    one = [sc.model_copy(update={"replications": 1}) for sc in scenarios]
    for sc in one:
        check_resources(sc)
    if one and isinstance(executor, LocalExecutor):
        parallel = min(executor.workers, units)
        each = max(memory_needed(sc) for sc in one)
        have = memory_available()
        if have is not None and parallel > 1 and each * parallel > have:
            raise RunError(f"--workers: {parallel} workers need about {each * parallel / 2**30:.1f} GiB together but "
                           f"{have / 2**30:.1f} GiB is available (use --workers {max(1, have // each)})")


def run_replicate(scenario: Scenario, replicate: int, *, transactions: bool = False,
                  progress: Callable[[int], Any] | None = None) -> dict:
    """Simulate one replicate (both arms); return its raw daily frame and, if asked, its extras."""
    model = LoyaltyModel(scenario, replicate, record_transactions=transactions).run(progress)
    out = {"daily": model.daily(), "state_bytes": model.state_bytes()}
    out["daily"].insert(0, "replicate", replicate)
    if replicate == 0:
        out["customers"] = model.customers()
        if transactions:
            out["transactions"] = model.transactions.frame()
    return out


def simulate(scenario: Scenario | str | Path, *, seed: int | None = None, replications: int | None = None,
             customers: int | None = None, days: int | None = None, overrides: list[str] | None = None,
             transactions: bool = False, progress: Callable[[int], Any] | None = None,
             executor: Executor | None = None) -> SimulationResult:
    """Simulate a scenario (a Scenario or a YAML path): every replicate with its counterfactual.

    Keyword arguments override the scenario's own values. ``progress(n)`` is called as days complete
    (serially) or as replicates complete (with another ``executor``, n = days per replicate).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(resolve(str(scenario)), overrides)
    elif overrides:
        scenario = validate(apply_overrides(scenario_data(scenario), overrides), "<scenario>")
    sizes = {k: v for k, v in (("seed", seed), ("replications", replications),
                               ("customers", customers), ("days", days)) if v is not None}
    if sizes:
        scenario = validate(apply_overrides(scenario_data(scenario), sizes), "<scenario>", overridden=list(sizes))
    check_resources(scenario)
    check_parallel_memory([scenario], executor, scenario.replications)
    units = [(scenario, r, transactions) for r in range(scenario.replications)]
    if executor is None or isinstance(executor, SerialExecutor):
        parts = [run_replicate(sc, r, transactions=tx, progress=progress) for sc, r, tx in units]
    else:
        done = (lambda i: progress(scenario.days)) if progress is not None else None
        parts = executor.map(_replicate_unit, units, on_done=done)
    return assemble(scenario, parts)


def _replicate_unit(scenario: Scenario, replicate: int, transactions: bool) -> dict:
    """One unit of work for an executor: a replicate, both arms."""
    return run_replicate(scenario, replicate, transactions=transactions)


def assemble(scenario: Scenario, parts: list[dict]) -> SimulationResult:
    """Combine replicate outputs into a SimulationResult."""
    raw = pd.concat([p["daily"] for p in parts], ignore_index=True)
    daily = with_difference(raw)
    summary = summarise(daily, scenario.business.currency)
    mean_daily = daily[daily["arm"] == "difference"]
    v = judge(mean_daily, scenario.verdict.period_days, scenario.verdict.roi_threshold,
              scenario.verdict.reference_tolerance)
    first = parts[0]
    return SimulationResult(
        scenario=scenario, daily=daily, summary=summary, verdict=v, customers=first["customers"],
        transactions=first.get("transactions"), seeds=[scenario.seed] * len(parts),
        state_bytes=first["state_bytes"],
    )
