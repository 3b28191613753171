"""``loyaltysim run`` and ``loyaltysim compare``: simulate, write a results folder, print the figures."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from loyaltysim.cli.common import (
    CUSTOMERS_OPT, DAYS_OPT, EXECUTOR_OPT, FORMAT_OPT, OVERWRITE_OPT, QUIET_OPT, REPLICATIONS_OPT, SCENARIO_ARG,
    SCHEDULER_OPT, SEED_OPT, SET_OPT, TRANSACTIONS_OPT, WORKERS_OPT, console, err_console, examples, print_paths,
    say, user_errors,
)
from loyaltysim.engine.kernel_cache import kernels_compiled, mark_kernels_compiled
from loyaltysim.errors import RunError
from loyaltysim.present.folders import write_comparison, write_run
from loyaltysim.present.formatting import format_estimate
from loyaltysim.present.report import HEADLINE
from loyaltysim.results.store import Destination, claim_folder, write_or_rescue
from loyaltysim.results.verdict import describe
from loyaltysim.runs.compare import compare as compare_scenarios
from loyaltysim.runs.executors import SerialExecutor, make_executor
from loyaltysim.runs.simulate import check_resources, simulate
from loyaltysim.scenario.loading import load_scenario
from loyaltysim.scenario.shipped import resolve

FORMATS = ("parquet", "csv")
ARMS = ("scheme", "counterfactual", "difference")

RUN_EXAMPLES = examples(
    "loyaltysim run supermarket_points",
    "loyaltysim run supermarket_points --customers 5000 --set scheme.points.earn_per_unit=0.5 --out results/half",
    "loyaltysim run my_scheme.yaml --out results/mine --overwrite",
)
COMPARE_EXAMPLES = examples("loyaltysim compare supermarket_points member_pricing --customers 5000")


def _load(arg: str, overrides: list[str]):
    """Load a scenario (a path or a shipped name) with overrides."""
    return load_scenario(resolve(arg), overrides)


def _executor(kind: str | None, workers: int | None, scheduler: str | None, replications: int):
    """The executor for replicates: serial for one replicate unless asked otherwise (starting worker
    processes costs more than it saves), else as ``sweep`` chooses."""
    if kind is None and scheduler is None and workers is None and replications == 1:
        kind = "serial"
    return make_executor(kind, workers=workers, scheduler=scheduler)


def _check_memory(scenarios, customers: int | None, days: int | None, replications: int | None) -> None:
    """Refuse a run too big for memory before its results folder is created (simulate checks again)."""
    sizes = {k: v for k, v in (("customers", customers), ("days", days), ("replications", replications)) if v}
    for sc in scenarios:
        check_resources(sc.model_copy(update=sizes))


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise RunError(f"--format: '{fmt}' is not a format (allowed: {', '.join(FORMATS)})")


def _default_out(*parts: str) -> Path:
    """A new folder under results/ named by the time (a suffix if two runs start in the same second)."""
    base = Path("results", *parts, time.strftime("%Y%m%d-%H%M%S"))
    out, k = base, 2
    while out.exists():
        out, k = base.with_name(f"{base.name}-{k}"), k + 1
    return out


def _echo_setup(sc, customers, days, replications, seed, overrides: list[str]) -> None:
    """Say what is about to run, overrides included, so the output stands on its own."""
    say(f"{sc.name}: {customers or sc.customers:,} customers, {days or sc.days} days, "
        f"{replications or sc.replications} replications, seed {sc.seed if seed is None else seed}")
    if overrides:
        say("overrides: " + ", ".join(overrides))


def _note_compiling() -> bool:
    """Say that the kernels compile when this build has not been compiled on this machine yet."""
    if kernels_compiled():
        return False
    say("compiling kernels (first run only, about 30 s)", err=True)
    return True


@user_errors
def run(
    scenario: str = SCENARIO_ARG,
    customers: Optional[int] = CUSTOMERS_OPT,
    days: Optional[int] = DAYS_OPT,
    replications: Optional[int] = REPLICATIONS_OPT,
    seed: Optional[int] = SEED_OPT,
    set_: List[str] = SET_OPT,
    out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER", help="Results folder, new or empty "
                                       "(default results/<name>/<timestamp>/)."),
    overwrite: bool = OVERWRITE_OPT,
    fmt: str = FORMAT_OPT,
    transactions: bool = TRANSACTIONS_OPT,
    quiet: bool = QUIET_OPT,
    workers: Optional[int] = WORKERS_OPT,
    executor: Optional[str] = EXECUTOR_OPT,
    scheduler: Optional[str] = SCHEDULER_OPT,
) -> None:
    """Simulate a scenario against its no-scheme counterfactual and write a results folder."""
    _check_format(fmt)
    sc = _load(scenario, set_)
    _check_memory([sc], customers, days, replications)
    dest = claim_folder(out or _default_out(sc.name), overwrite=overwrite)
    _echo_setup(sc, customers, days, replications, seed, set_)
    plan = [(sc.name, replications or sc.replications, days or sc.days)]

    def work(ex, progress):
        return simulate(sc, seed=seed, replications=replications, customers=customers, days=days,
                        transactions=transactions, progress=progress, executor=ex)

    result, folder = _simulate_and_write(work, plan, dest, write_run, sc.name, fmt, set_, quiet,
                                         (executor, workers, scheduler))
    print_summary(result)
    print_paths(folder)


@user_errors
def compare(
    scenarios: List[str] = typer.Argument(..., metavar="SCENARIO...", show_default=False,
                                          help="Two or more scenario files or shipped scenario names."),
    customers: Optional[int] = CUSTOMERS_OPT,
    days: Optional[int] = DAYS_OPT,
    replications: Optional[int] = REPLICATIONS_OPT,
    seed: Optional[int] = typer.Option(None, "--seed", min=0, metavar="N",
                                       help="Root seed for every scenario (default: the first's)."),
    set_: List[str] = SET_OPT,
    out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER", help="Results folder, new or empty "
                                       "(default results/compare/<timestamp>/)."),
    overwrite: bool = OVERWRITE_OPT,
    fmt: str = FORMAT_OPT,
    transactions: bool = TRANSACTIONS_OPT,
    quiet: bool = QUIET_OPT,
    workers: Optional[int] = WORKERS_OPT,
    executor: Optional[str] = EXECUTOR_OPT,
    scheduler: Optional[str] = SCHEDULER_OPT,
) -> None:
    """Simulate scenarios side by side on the same seeds; write comparison.csv, plots and a report."""
    _check_format(fmt)
    if len(scenarios) < 2:
        raise RunError(f"compare needs at least two scenarios (got {len(scenarios)}: {', '.join(scenarios)})")
    loaded = [_load(s, set_) for s in scenarios]
    _check_memory(loaded, customers, days, replications)
    dest = claim_folder(out or _default_out("compare"), overwrite=overwrite)
    if days is None and len({sc.days for sc in loaded}) > 1:
        say("note: the scenarios run for different numbers of days; use --days to compare like with like", err=True)
    first_seed = loaded[0].seed if seed is None else seed
    for sc in loaded:
        _echo_setup(sc, customers, days, replications, first_seed, [])
    if set_:
        say("overrides: " + ", ".join(set_))
    plan = [(sc.name, replications or sc.replications, days or sc.days) for sc in loaded]

    def work(ex, progress):
        return compare_scenarios(loaded, seed=seed, replications=replications, customers=customers, days=days,
                                 transactions=transactions, progress=progress, executor=ex)

    result, folder = _simulate_and_write(work, plan, dest, write_comparison, "compare", fmt, set_, quiet,
                                         (executor, workers, scheduler))
    print_comparison(result)
    print_paths(folder)


def _simulate_and_write(work, plan, dest: Destination, write, name: str, fmt: str, overrides: list[str],
                        quiet: bool, where: tuple):
    """Run ``work(executor, progress)`` with a progress bar, write its result into ``dest`` and put the
    folder in place; return (result, folder). Whatever stops it, a staged folder is removed and the
    results that were at ``--out`` stay as they were."""
    kind, workers, scheduler = where
    try:
        start = time.perf_counter()
        compiling = _note_compiling()
        with _executor(kind, workers, scheduler, sum(reps for _, reps, _ in plan)) as ex, \
                RunProgress(plan, quiet, ex) as bar:
            result = work(ex, bar.advance)
        if compiling:
            mark_kernels_compiled()
        write_or_rescue(write, dest.path, result, name, fmt=fmt, overrides=overrides,
                        wall_seconds=time.perf_counter() - start)
        return result, dest.commit()
    finally:
        dest.discard()


# ---------------------------------------------------------------- progress

class RunProgress:
    """A progress bar counted in replications, for one scenario or several in a row.

    ``advance(days)`` is the library's progress callback: called per day when replicates run serially
    (the bar then says which replication and which day of the scenario), per finished replicate when
    they run in worker processes (the bar then says how many replications are done).
    """

    def __init__(self, plan: list[tuple[str, int, int]], quiet: bool, executor) -> None:
        self.plan = plan  # (scenario name, replications, days) in the order they run
        self.serial = isinstance(executor, SerialExecutor)
        self.days_done = 0
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                            console=err_console, disable=quiet or not sys.stderr.isatty())
        self.task = self.bar.add_task(self._describe(), total=sum(reps for _, reps, _ in plan))

    def __enter__(self) -> "RunProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def _where(self) -> tuple[int, float, int]:
        """(scenario index, replications done in it, day within the current replication)."""
        left = self.days_done
        for i, (_, reps, days) in enumerate(self.plan):
            if left < reps * days or i == len(self.plan) - 1:
                return i, left / days, left % days
            left -= reps * days
        return 0, 0.0, 0  # pragma: no cover - the loop always returns

    def _describe(self) -> str:
        i, reps_done, day = self._where()
        name, reps, days = self.plan[i]
        if self.serial and reps_done < reps:
            return f"{name}: replication {int(reps_done) + 1}/{reps}, day {day}/{days}"
        return f"{name}: {int(reps_done)}/{reps} replications done"

    def advance(self, days: int) -> None:
        self.days_done += days
        i, reps_done, _ = self._where()
        completed = sum(reps for _, reps, _ in self.plan[:i]) + reps_done
        self.bar.update(self.task, completed=completed, description=self._describe())


# ---------------------------------------------------------------- tables

def _table(title: str) -> Table:
    """A results table: the metric column is never wrapped or cut; figures wrap at ``±`` when the
    terminal is narrow."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric", no_wrap=True, min_width=max(len(m) for m in HEADLINE))
    return table


def _header(name: str) -> str:
    """A column header that wraps between words, never inside one (``member_`` / ``pricing``)."""
    return "counter-\nfactual" if name == "counterfactual" else name.replace("_", "_\n")


def print_summary(result) -> None:
    """The run's headline figures per arm (mean ± 95% half-width), then the verdict in words."""
    s = result.summary
    s = s[s["segment"] == "all"].set_index(["metric", "arm"])
    table = _table(f"{result.scenario.name}: run totals, mean ± 95% CI over "
                   f"{result.scenario.replications} replications")
    table.add_column("unit", no_wrap=True)
    for arm in ARMS:
        table.add_column(_header(arm), justify="right", overflow="fold")
    for m in HEADLINE:
        cells = [format_estimate(*s.loc[(m, arm), ["mean", "ci_low", "ci_high"]]) for arm in ARMS]
        table.add_row(m, str(s.loc[(m, "scheme"), "unit"]), *cells)
    console.print(table)
    say(describe(result.verdict))


def print_comparison(comparison) -> None:
    """Each scenario's scheme-minus-counterfactual headline figures side by side, then the verdicts."""
    d = comparison.table[comparison.table["arm"] == "difference"].set_index(["metric", "scenario"])
    labels = list(comparison.results)
    table = _table(f"scheme minus counterfactual, run totals, mean ± 95% CI (seed {comparison.seed})")
    table.add_column("unit", no_wrap=True)
    for label in labels:
        table.add_column(_header(label), justify="right", overflow="fold")
    for m in HEADLINE:
        unit = str(d.loc[(m, labels[0]), "unit"])
        table.add_row(m, unit, *[format_estimate(*d.loc[(m, lbl), ["mean", "ci_low", "ci_high"]]) for lbl in labels])
    console.print(table)
    for label, result in comparison.results.items():
        say(f"{label}: {describe(result.verdict)}")
