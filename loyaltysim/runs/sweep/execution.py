"""Running a sweep: every unit of work not already complete in its folder, on any executor; then the
index, the per-point summary, the plots and the report, and the manifest last."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loyaltysim.results.manifest import MANIFEST
from loyaltysim.results.store import REPORT, Folder, now, prepare_folder, versions
from loyaltysim.results.summary import run_totals, summarise, with_difference
from loyaltysim.results.verdict import verdict as judge
from loyaltysim.runs.executors import Executor, SerialExecutor
from loyaltysim.runs.simulate import check_parallel_memory, run_replicate
from loyaltysim.runs.sweep.design import SweepPlan
from loyaltysim.runs.sweep.folder import check_folder, clear_leftovers, completed_run, locked, write_run_folder
from loyaltysim.runs.sweep.statistics import KPIS, build_index, column_value, summarise_points
from loyaltysim.scenario.models import Scenario

if TYPE_CHECKING:
    from loyaltysim.present.sweep_report import SweepView

__all__ = ["Progress", "SweepResult", "run_sweep", "sweep_unit"]


def sweep_unit(scenario: Scenario, replicate: int) -> dict:
    """One (point, replicate), both arms: the daily frame with the difference arm, its summary,
    verdict and headline KPIs. Pure: touches no file (the caller writes the run folder)."""
    start = time.perf_counter()
    daily = with_difference(run_replicate(scenario, replicate)["daily"])
    summary = summarise(daily, scenario.business.currency)
    verdict = judge(daily[daily["arm"] == "difference"], scenario.verdict.period_days, scenario.verdict.roi_threshold,
                    scenario.verdict.reference_tolerance)
    totals = run_totals(daily)
    row = totals[(totals["arm"] == "difference") & (totals["segment"] == "all")].iloc[0]
    kpis = {m: float(row[m]) for m in KPIS}
    return {"daily": daily, "summary": summary, "verdict": verdict, "kpis": kpis,
            "seconds": time.perf_counter() - start}


@dataclass
class SweepResult:
    """What a sweep returns: its folder, plan, index and per-point summary, and what ran."""

    folder: Path
    plan: SweepPlan
    index: pd.DataFrame        # point, replicate, key, seed, parameters..., KPIs
    summary: pd.DataFrame      # point, parameters..., metric, unit, mean, ci_low, ci_high, n
    computed: int
    reused: int
    discarded: int = 0         # run folders found incomplete or corrupt and computed again
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    def view(self) -> SweepView:
        """What the sweep's plots and report are drawn from."""
        # Imported here, as in run_sweep: it loads matplotlib.
        from loyaltysim.present.sweep_report import SweepView

        plan = self.plan
        return SweepView(
            name=plan.base.name, summary=self.summary, factors=plan.factors,
            reference={f: column_value(v) for f, v in plan.reference.items()},
            points={p.index: p.parameters for p in plan.points}, design=plan.design.record(),
            kind=plan.design.resolved_kind, replications=plan.replications, seed=plan.base.seed,
            roi_threshold=plan.base.verdict.roi_threshold, runs=len(self.index), computed=self.computed,
            reused=self.reused,
        )


Progress = Callable[[int, int, int], Any]
"""``progress(computed, reused, total)``: called once before any unit runs, then after each computed run."""


def run_sweep(plan: SweepPlan, out: str | Path, *, executor: Executor | None = None, resume: bool = False,
              progress: Progress | None = None, plots: bool = True, report: bool = True) -> SweepResult:
    """Run every unit of a plan not already complete in ``out``; write the index, summary, plots and report.

    Without ``resume`` the folder must be new or empty; with it, the sweep recorded there must have
    the same design (else a RunError names the first field that differs).
    """
    start = time.perf_counter()
    out = prepare_folder(Path(out))
    executor = executor or SerialExecutor()
    record = plan.record()
    with locked(out):
        check_folder(out, record, resume)
        (out / MANIFEST).unlink(missing_ok=True)  # the folder is complete again only when the manifest is back
        folder = Folder(out)
        folder.text("sweep.json", json.dumps(record, indent=2))
        runs = out / "runs"
        runs.mkdir(exist_ok=True)
        clear_leftovers(runs)
        points = {p.index: p for p in plan.points}
        units = plan.units
        done: dict[str, dict] = {}
        todo, discarded = [], 0
        for point, replicate, key in units:
            run = runs / key
            manifest = completed_run(run, key, points[point].scenario_hash, replicate) if run.exists() else None
            if manifest is not None:
                done[key] = manifest
            else:
                discarded += run.exists()
                todo.append((point, replicate, key))
        reused = len(done)
        check_parallel_memory([points[p].scenario for p in sorted({p for p, _, _ in todo})], executor, len(todo))
        if progress is not None:
            progress(0, reused, len(units))
        computed = 0
        work = [(points[p].scenario, r) for p, r, _ in todo]
        with contextlib.closing(executor.as_completed(sweep_unit, work)) as results:
            for i, output in results:
                point, replicate, key = todo[i]
                done[key] = write_run_folder(runs, key, points[point], replicate, output)
                computed += 1
                if progress is not None:
                    progress(computed, reused, len(units))
        index = build_index(units, plan.factors, {p.index: p.parameters for p in plan.points}, plan.base.seed,
                            {key: manifest["kpis"] for key, manifest in done.items()})
        summary = summarise_points(index, plan.factors, plan.base.business.currency)
        folder.frame("index.parquet", index)
        folder.frame("summary.csv", summary)
        result = SweepResult(out, plan, index, summary, computed, reused, discarded)
        if plots or report:
            # Imported here: workers import this module for sweep_unit and never draw, so they never load matplotlib.
            from loyaltysim.present.sweep_report import sweep_figures, sweep_report_html

            view = result.view()
            images = sweep_figures(view)
            if plots:
                folder.images(images)
            if report:
                folder.text(REPORT, sweep_report_html(view, images))
        result.seconds = time.perf_counter() - start
        folder.seal({
            "kind": "sweep", "status": "complete", "created": now(), "versions": versions(),
            "scenario": plan.base.name, "seed": plan.base.seed, "replications": plan.replications,
            "points": len(plan.points), "runs": len(index), "computed": computed, "reused": reused,
            "wall_seconds": round(result.seconds, 3),
        })
        result.files = [*folder.files, MANIFEST]
    return result
