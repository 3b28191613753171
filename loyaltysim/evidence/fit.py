"""Fitting the behavioural weights of the default grocery population to published causal targets.

``python -m loyaltysim.evidence.fit`` runs the shipped 1% supermarket card (``supermarket_points``: the
Complete Journey population, whose data the package describes as simulated from real patterns) on common
random numbers, and solves for the weights that bring three of its figures to their published targets:

- ``scheme.enrolment.value_sensitivity`` to members' share of sales (``member_sales_share``: at least
  80% of sales on the card in a good grocery programme, Woolf 2002; target the middle of 80-90%);
- ``scheme.enrolment.join_rate_per_visit`` to the naive gap against the causal effect
  (``self_selection``: seven times, Leenheer et al. 2007, in share of wallet): every visit is a chance to
  join, so the slower shoppers act on a decision, the more the members are the frequent shoppers;
- ``behaviour.reward_weight`` to the share of sales the points' incentives drive (``incentive_sales``:
  1.74% of sales, Nastasoiu et al. 2021), measured on the same draws with the incentive channels off.

Each target's tolerance is its band in ``loyaltysim evidence`` (findings.py). The three figures are
measured exactly as ``loyaltysim evidence`` measures them (evidence.statistics), averaged over
replications with the same seeds at every trial (so a trial differs from another only by the weights),
and solved by bounded least squares in transformed coordinates (logit for a chance, log for a weight).
With ``--write``, and only if every target ends inside its band, the fitted values are written to
``loyaltysim/scenario/fitted.py``, where the schema's defaults read them; otherwise the command says
which target was missed and by how much, and writes nothing. The goal gradient (Kivetz et al. 2006) is
calibrated on the coffee card (``goal_gradient`` in scheme.py) and checked by ``loyaltysim evidence``;
programme cost as a share of sales follows from the fitted weights and is checked there too.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.optimize import least_squares

from loyaltysim.evidence import statistics as S
from loyaltysim.evidence.findings import FINDINGS
from loyaltysim.evidence.findings import SCENARIOS as EV_SCENARIOS
from loyaltysim.evidence.run import combine
from loyaltysim.evidence.observe import simulate_replicate
from loyaltysim.scenario.loading import load_scenario
from loyaltysim.scenario.shipped import resolve

SCENARIO = "supermarket_points"
FITTED_FILE = Path(__file__).resolve().parents[1] / "scenario" / "fitted.py"
STEP = 0.15
"""Finite-difference step in the solver's coordinates (about 15% of a weight): a finer step would measure
the noise of a few customers changing their minds, not the slope."""


@dataclass(frozen=True)
class Parameter:
    path: str                       # scenario field
    low: float
    high: float
    to_x: Callable[[float], float]  # the value in the solver's coordinates
    from_x: Callable[[float], float]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


PARAMETERS = (
    Parameter("scheme.enrolment.value_sensitivity", 0.2, 60.0, math.log, math.exp),
    Parameter("scheme.enrolment.join_rate_per_visit", 0.01, 0.99, _logit, _expit),
    Parameter("behaviour.reward_weight", 0.2, 60.0, math.log, math.exp),
)
TARGETS = ("member_sales_share", "self_selection", "incentive_sales")
"""The findings fitted, one per parameter in order (their figure and band come from findings.py)."""


def target_of(finding_id: str) -> tuple[float, float, float]:
    """(target, band low, band high) of a finding: the published figure, or the band's middle where the
    published figure is a bound (members' share of sales: at least 80%)."""
    f = FINDINGS[finding_id]
    low, high = f.band
    target = f.published if f.published is not None and low < f.published < high else (low + high) / 2
    return target, low, high


def _measure(args: tuple[dict, int, int]) -> list[float]:
    """The targets' figures of one replicate at ``overrides``, exactly as ``loyaltysim evidence`` measures
    them (the incentive share from the same replicate with the incentive channels off)."""
    overrides, customers, replicate = args
    runs = {}
    for name in dict.fromkeys(s for t in TARGETS for s, _ in FINDINGS[t].measures):
        ev = EV_SCENARIOS[name]
        # The trial's weights first: an evidence scenario's own overrides (channels off) win.
        sc = load_scenario(resolve(ev.base), {**overrides, **ev.overrides, "customers": customers})
        runs[name] = simulate_replicate(sc, replicate)
    out = []
    for t in TARGETS:
        f = FINDINGS[t]
        out.append(combine(f, [float(getattr(S, m)(runs[s])) for s, m in f.measures]))
    return out


@dataclass
class Trial:
    values: dict[str, float]
    figures: np.ndarray
    replicates: np.ndarray


class Fitter:
    def __init__(self, customers: int, replications: int, workers: int, log: Callable[[str], None] = print) -> None:
        self.customers, self.replications, self.log = customers, replications, log
        self.pool = ProcessPoolExecutor(workers) if workers > 1 else None
        self.trials: list[Trial] = []
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def figures(self, values: dict[str, float]) -> Trial:
        jobs = [(values, self.customers, r) for r in range(self.replications)]
        rows = list(self.pool.map(_measure, jobs) if self.pool else map(_measure, jobs))
        reps = np.array(rows)
        trial = Trial(values, reps.mean(axis=0), reps)
        self.trials.append(trial)
        self.log("  " + ", ".join(f"{p.rsplit('.', 1)[-1]} {v:.4g}" for p, v in values.items()) + "  ->  "
                 + ", ".join(f"{t} {x:.4g}" for t, x in zip(TARGETS, trial.figures)))
        return trial

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r = self._residuals(x)
        self._last = (x.copy(), r)
        return r

    def _residuals(self, x: np.ndarray) -> np.ndarray:
        values = {p.path: p.from_x(xi) for p, xi in zip(PARAMETERS, x)}
        trial = self.figures(values)
        out = []
        for name, fig in zip(TARGETS, trial.figures):
            target, low, high = target_of(name)
            out.append((fig - target) / ((high - low) / 2))
        return np.nan_to_num(np.array(out), nan=10.0)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Forward differences with a step of STEP in the solver's coordinates (the residuals at ``x``
        are the last ones computed: the solver asks for them first)."""
        at = self._last if self._last is not None and np.array_equal(self._last[0], x) else (x, self.residuals(x))
        cols = []
        for j in range(x.size):
            step = x.copy()
            step[j] += STEP
            cols.append((self.residuals(step) - at[1]) / STEP)
        return np.column_stack(cols)

    def close(self) -> None:
        if self.pool:
            self.pool.shutdown()


def start() -> dict[str, float]:
    """Where the search starts: the current defaults."""
    sc = load_scenario(resolve(SCENARIO))
    out = {}
    for p in PARAMETERS:
        obj = sc
        for part in p.path.split("."):
            obj = getattr(obj, part)
        out[p.path] = float(obj)
    return out


def fit(customers: int = 20_000, replications: int = 2, workers: int = 2,
        log: Callable[[str], None] = print) -> tuple[dict[str, float], Trial]:
    """The fitted weights and the trial at them."""
    fitter = Fitter(customers, replications, workers, log)
    try:
        x0 = np.array([p.to_x(v) for p, v in zip(PARAMETERS, start().values())])
        lo = np.array([p.to_x(p.low) for p in PARAMETERS])
        hi = np.array([p.to_x(p.high) for p in PARAMETERS])
        x0 = np.clip(x0, lo + 1e-6, hi - 1e-6)
        res = least_squares(fitter.residuals, x0, jac=fitter.jacobian, bounds=(lo, hi), x_scale=1.0,
                            xtol=1e-3, ftol=1e-3, max_nfev=20)
        values = {p.path: p.from_x(xi) for p, xi in zip(PARAMETERS, res.x)}
        trial = next((t for t in reversed(fitter.trials) if t.values == values), None) or fitter.figures(values)
        return values, trial
    finally:
        fitter.close()


def misses(trial: Trial) -> list[str]:
    """Each target outside its band, said with by how much."""
    out = []
    for name, fig in zip(TARGETS, trial.figures):
        target, low, high = target_of(name)
        if not low <= fig <= high:
            side = f"{low - fig:.4g} below" if fig < low else f"{fig - high:.4g} above"
            out.append(f"{name}: {fig:.4g} is {side} its band {low:g} to {high:g} (target {target:g})")
    return out


def fitted_source(values: dict[str, float], trial: Trial, customers: int, replications: int) -> str:
    lines = ['"""Behavioural weights fitted to published causal targets by ``python -m loyaltysim.evidence.fit``',
             f"({customers:,} customers x {replications} replications of {SCENARIO}, common random numbers).",
             "Written by that command; do not edit by hand (run it again). The schema's defaults read these."]
    lines.append("")
    for name, fig in zip(TARGETS, trial.figures):
        target, low, high = target_of(name)
        lines.append(f"{name}: {fig:.4g} (target {target:g}, band {low:g} to {high:g})")
    lines += ['"""', "", "FITTED: dict[str, float] = {"]
    for path, v in values.items():
        lines.append(f"    {path!r}: {float(f'{v:.4g}')!r},")
    lines += ["}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loyaltysim.evidence.fit", description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write", action="store_true", help=f"write the fitted defaults to {FITTED_FILE.name} "
                                                          "if every target is inside its band")
    a = ap.parse_args(argv)
    if a.customers < 2000 or a.replications < 1 or a.workers < 1:
        print("error: --customers must be at least 2000, --replications and --workers at least 1", file=sys.stderr)
        return 2
    t = time.time()
    print(f"fitting {', '.join(p.path for p in PARAMETERS)} to {', '.join(TARGETS)} "
          f"({a.customers:,} customers x {a.replications} replications of {SCENARIO})")
    values, trial = fit(a.customers, a.replications, a.workers)
    print(f"done in {time.time() - t:.0f} s")
    for p, v in values.items():
        print(f"  {p} = {v:.4g}")
    missed = misses(trial)
    for name, fig in zip(TARGETS, trial.figures):
        target, low, high = target_of(name)
        print(f"  {name}: {fig:.4g} (target {target:g}, band {low:g} to {high:g})")
    if missed:
        print("not written: a target is out of reach: " + "; ".join(missed), file=sys.stderr)
        return 1
    if a.write:
        FITTED_FILE.write_text(fitted_source(values, trial, a.customers, a.replications), encoding="utf-8")
        print(f"written: {FITTED_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
