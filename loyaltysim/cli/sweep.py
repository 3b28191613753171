"""The ``loyaltysim sweep`` command: a thin layer over ``loyaltysim.runs.sweep``.

Registered on the CLI's app by ``loyaltysim.cli``. A sweep folder is resumable, so ``--out`` may name
an earlier sweep's folder (with ``--resume``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from loyaltysim.cli.common import console, err_console, examples, say_interrupted, user_errors

__all__ = ["sweep"]

SWEEP_EXAMPLES = examples(
    "loyaltysim sweep supermarket_points --vary scheme.points.earn_per_unit=0.5,1,2 --customers 5000",
    "loyaltysim sweep supermarket_points --vary scheme.points.earn_per_unit=0.5,1,2 --out results/s --resume",
)

SHOWN_POINTS = 20
"""Points listed in the table printed at the end (all of them are in summary.csv and the report)."""


def sweep(
    scenario: str = typer.Argument(..., metavar="SCENARIO", show_default=False, help="Scenario YAML file (its sweep: section is the design), or a shipped name."),
    vary: List[str] = typer.Option([], "--vary", metavar="KEY=V1,V2,...", show_default=False, help="A field and its values: key.path=v1,v2,... (repeatable; replaces the file's sweep: section)."),
    design: Optional[str] = typer.Option(None, "--design", metavar="grid|one_at_a_time|list", help="grid (every combination, the default), one_at_a_time, or list."),
    replications: Optional[int] = typer.Option(None, "--replications", min=1, metavar="N", help="Replications per point."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, metavar="N", help="Worker processes (default: every core)."),
    executor: Optional[str] = typer.Option(None, "--executor", metavar="serial|local|dask", help="serial, local (processes, the default) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS", help="Address of a running Dask scheduler (tcp://host:port)."),
    resume: bool = typer.Option(False, "--resume", show_default=False, help="Continue the sweep in --out, reusing its completed runs."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER", help="Sweep folder (default results/<name>/sweep-<timestamp>/)."),
    customers: Optional[int] = typer.Option(None, "--customers", min=1, metavar="N", help="Override the number of customers."),
    days: Optional[int] = typer.Option(None, "--days", min=1, metavar="N", help="Override the number of days."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, metavar="N", help="Override the root seed."),
    set_: List[str] = typer.Option([], "--set", metavar="KEY=VALUE", show_default=False, help="Override a field of the base scenario: key.path=value (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", show_default=False, help="No progress bar."),
) -> None:
    """Run a scenario over a grid of parameter values, each point with replications and its
    counterfactual; write sweep.json, index.parquet, summary.csv, plots and a report."""
    user_errors(_sweep)(scenario, vary, design, replications, workers, executor, scheduler, resume, out,
                        customers, days, seed, set_, quiet)


def _sweep(scenario, vary, design, replications, workers, executor, scheduler, resume, out, customers, days, seed,
           set_, quiet) -> None:
    from loyaltysim.errors import RunError
    from loyaltysim.runs.executors import make_executor
    from loyaltysim.runs.sweep import load_sweep, run_sweep
    from loyaltysim.scenario.shipped import resolve

    if design is not None:
        design = design.replace("-", "_")
    if resume and out is None:
        raise RunError("--resume needs --out (the folder of the sweep to continue)")
    plan = load_sweep(resolve(scenario), set_, vary=vary or None, kind=design, replications=replications,
                      seed=seed, customers=customers, days=days)
    out = out or Path("results") / plan.base.name / time.strftime("sweep-%Y%m%d-%H%M%S")
    runs = len(plan.points) * plan.replications
    console.print(f"sweep: {len(plan.points)} points x {plan.replications} replications = {runs} runs",
                  highlight=False, soft_wrap=True)
    bar = _progress(quiet, err_console)
    task = None

    def progress(computed: int, reused: int, total: int) -> None:
        nonlocal task
        if task is None:  # reused runs count as done from the start, so the ETA reflects computed runs only
            task = bar.add_task(plan.base.name, total=total, completed=reused, reused=reused)
        else:
            bar.advance(task, 1)

    try:
        with make_executor(executor, workers=workers, scheduler=scheduler) as ex, bar:
            result = run_sweep(plan, out, executor=ex, resume=resume, progress=progress)
    except KeyboardInterrupt:
        say_interrupted(f"interrupted: every finished run is kept in {out / 'runs'}; continue with the same "
                        f"command and --resume --out {out}")
        raise typer.Exit(130) from None
    _print_points(result, console)
    note = f", {result.discarded} incomplete run folders replaced" if result.discarded else ""
    console.print(f"runs: {result.computed} computed, {result.reused} reused{note} ({result.seconds:.1f} s)",
                  highlight=False, soft_wrap=True)
    console.print(f"results: {result.folder}", highlight=False, soft_wrap=True)


def _progress(quiet: bool, console):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} runs"),
                    TextColumn("reused {task.fields[reused]}"), TimeRemainingColumn(), console=console,
                    speed_estimate_period=3600.0, disable=quiet or not sys.stderr.isatty())


def _print_points(result, console) -> None:
    from rich.table import Table

    from loyaltysim.present.sweep_report import RESPONSE_KPIS, point_results

    plan = result.plan
    table = Table(title=f"{plan.base.name}: scheme minus counterfactual, run totals (mean, 95% CI over "
                        f"{plan.replications} replications)")
    table.add_column("point", justify="right")
    for f in plan.factors:
        table.add_column(f, justify="right")
    for m in RESPONSE_KPIS:
        table.add_column(m, justify="right")
    table.add_column("state")
    results = point_results(result.summary, plan.base.verdict.roi_threshold)
    for p in plan.points[:SHOWN_POINTS]:
        cells, state = results[p.index]
        table.add_row(str(p.index), *[str(p.parameters[f]) for f in plan.factors], *cells, state)
    console.print(table)
    if len(plan.points) > SHOWN_POINTS:
        console.print(f"... and {len(plan.points) - SHOWN_POINTS} more points in summary.csv and report.html",
                      highlight=False)
