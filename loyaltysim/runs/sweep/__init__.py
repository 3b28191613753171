"""Parameter sweeps: many scenario points, each with replications, on any executor, resumable.

A sweep varies scenario fields (``key.path`` as in ``--set``) over a design: a ``grid`` (every
combination), ``one_at_a_time`` (the base scenario, then each field alone through its values), or an
explicit ``list`` of points. One unit of work is one (point, replicate): both arms of one replicate.
Replicate r's random numbers come from the scenario's seed and r only, so replicate r meets the same
customers and the same draws at every point and in both arms, and a unit's result never depends on
which executor ran it, on how many workers there were, or on the order units finished.

Each unit has a run key: a hash of its resolved scenario (without ``replications``, which does not
change a replicate), its replicate and its seed. Its results go in ``runs/<key>/``, written in a
hidden staging folder beside it and renamed into place once complete, its manifest last with the
checksum of every file. A run folder is reused only if its manifest is complete and every checksum
matches, so an interrupted sweep (Ctrl-C, a killed worker, a killed process) loses no finished run
and leaves nothing half-written under a run's name. ``resume=True`` continues a sweep in the same
folder and refuses one whose design changed, naming the field.

The sweep folder::

    sweep.json        the design: base scenario, design, replications, every point and its runs
    index.parquet     one row per point and replicate: point, replicate, key, seed, parameters, KPIs
    summary.csv       one row per point and KPI: parameters, metric, unit, mean, ci_low, ci_high, n
    runs/<key>/       manifest.json, scenario.resolved.yaml, daily.parquet, summary.csv, verdict.json
    plots/*.png       heatmaps with the break-even contour, one-factor response lines with bands
    report.html       self-contained report (images embedded)
    manifest.json     written last: versions, counts, every top-level file and its checksum

KPIs are run totals of the difference arm (scheme minus counterfactual), all segments together.

The modules: :mod:`.design` (the design and the plan of points and run keys), :mod:`.execution`
(running the units and writing the folder), :mod:`.folder` (run folders, the lock, resuming) and
:mod:`.statistics` (the index and the per-point summary). The plots and the report are drawn by
:mod:`loyaltysim.present.sweep_plots` and :mod:`loyaltysim.present.sweep_report`.
"""

from loyaltysim.runs.sweep.design import (
    SweepDesign, SweepPlan, SweepPoint, design_from, load_sweep, parse_vary, plan_sweep, point_hash, run_key,
)
from loyaltysim.runs.sweep.execution import SweepResult, run_sweep, sweep_unit
from loyaltysim.runs.sweep.folder import completed_run
from loyaltysim.runs.sweep.statistics import KPIS

__all__ = [
    "KPIS", "SweepDesign", "SweepPlan", "SweepPoint", "SweepResult", "completed_run", "design_from", "load_sweep",
    "parse_vary", "plan_sweep", "point_hash", "run_key", "run_sweep", "sweep_unit",
]
