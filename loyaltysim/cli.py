"""The loyaltysim command line: thin commands over the library; user mistakes become one line, exit 2."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # the CLI only ever renders to files

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from loyaltysim.comparison import compare as compare_scenarios  # noqa: E402
from loyaltysim.errors import LoyaltysimError, RunError  # noqa: E402
from loyaltysim.executors import make_executor  # noqa: E402
from loyaltysim.experiment import check_resources, simulate  # noqa: E402
from loyaltysim.ledger import describe  # noqa: E402
from loyaltysim.report import HEADLINE, format_estimate  # noqa: E402
from loyaltysim.results.store import (  # noqa: E402
    prepare_folder, rebuild, write_comparison, write_or_rescue, write_run,
)
from loyaltysim.scenario.loading import load_scenario  # noqa: E402
from loyaltysim.scenario.schema import schema_text  # noqa: E402
from loyaltysim.scenario.shipped import describe_shipped, resolve  # noqa: E402

try:  # recent typer vendors click; older typer depends on it
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException as _ClickException

FORMATS = ("parquet", "csv")


class OneLineErrors(TyperGroup):
    """A command group whose usage errors (bad option, missing argument) print as one line, exit 2."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            if code == 130 and not _STATE["interrupt_shown"]:  # typer turns Ctrl-C while parsing into 130
                _interrupted()
        except _ClickException as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # the help was shown already
                sys.exit(0)
            _error(" ".join(err.format_message().split()))
            sys.exit(2)
        except typer.Abort as err:
            if isinstance(err.__cause__, KeyboardInterrupt):  # Ctrl-C outside a command's own handling
                _interrupted()
            _error("aborted")
            sys.exit(1)
        except KeyboardInterrupt:
            _interrupted()
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_show_locals=False,
                  help="Simulate loyalty schemes and test whether their value exchange stays balanced.")
console = Console()
err_console = Console(stderr=True)


def _error(message: str) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


INTERRUPTED = "interrupted: nothing partial was written as a result"
"""What Ctrl-C prints (exit code 130): a results folder is complete or has no complete manifest."""
_STATE = {"interrupt_shown": False}


def say_interrupted(message: str = INTERRUPTED) -> None:
    """Print the one line Ctrl-C gets (a command then exits with code 130)."""
    _STATE["interrupt_shown"] = True
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def _interrupted() -> None:
    if not _STATE["interrupt_shown"]:
        say_interrupted()
    sys.exit(130)


def user_errors(fn):
    """Turn a user's mistake into one line on stderr and exit code 2 (never a traceback)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LoyaltysimError as err:
            _error(" ".join(str(err).split()))
            raise typer.Exit(2) from None
        except OSError as err:  # a file or folder the user named that cannot be written or read
            where = f"{err.filename}: " if err.filename else ""
            _error(f"{where}{err.strerror or err}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            say_interrupted()
            raise typer.Exit(130) from None
    return wrapper


# ---------------------------------------------------------------- shared options

CUSTOMERS_OPT = typer.Option(None, "--customers", min=1, help="Override the number of customers.")
DAYS_OPT = typer.Option(None, "--days", min=1, help="Override the number of days.")
REPLICATIONS_OPT = typer.Option(None, "--replications", min=1, help="Override replications.")
SEED_OPT = typer.Option(None, "--seed", min=0, help="Override the root seed.")
SET_OPT = typer.Option([], "--set", help="Override a field: key.path=value (repeatable).")
FORMAT_OPT = typer.Option("parquet", "--format", help="Daily metrics format: parquet or csv.")
TRANSACTIONS_OPT = typer.Option(False, "--transactions", help="Also write transactions.parquet (replicate 0).")
QUIET_OPT = typer.Option(False, "--quiet", help="No progress bar.")
WORKERS_OPT = typer.Option(None, "--workers", min=1, help="Worker processes for replications (default: every core).")
EXECUTOR_OPT = typer.Option(None, "--executor", help="serial, local (processes; the default for several "
                            "replications) or dask.")
SCHEDULER_OPT = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler (tcp://host:port).")


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


@app.command()
@user_errors
def run(
    scenario: str = typer.Argument(..., help="Scenario YAML file, or the name of a shipped scenario."),
    customers: Optional[int] = CUSTOMERS_OPT,
    days: Optional[int] = DAYS_OPT,
    replications: Optional[int] = REPLICATIONS_OPT,
    seed: Optional[int] = SEED_OPT,
    set_: List[str] = SET_OPT,
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default results/<name>/<timestamp>/)."),
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
    out = out or Path("results") / sc.name / time.strftime("%Y%m%d-%H%M%S")
    prepare_folder(out)
    start = time.perf_counter()
    reps = replications or sc.replications
    with _executor(executor, workers, scheduler, reps) as ex, _progress(quiet) as bar:
        task = bar.add_task(sc.name, total=(days or sc.days) * reps)
        result = simulate(sc, seed=seed, replications=replications, customers=customers, days=days,
                          transactions=transactions, progress=lambda n: bar.advance(task, n), executor=ex)
    write_or_rescue(write_run, out, result, sc.name, fmt=fmt, overrides=set_,
                    wall_seconds=time.perf_counter() - start)
    _print_summary(result)
    console.print(f"results: {out}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def compare(
    scenarios: List[str] = typer.Argument(..., help="Two or more scenario files or shipped scenario names."),
    customers: Optional[int] = CUSTOMERS_OPT,
    days: Optional[int] = DAYS_OPT,
    replications: Optional[int] = REPLICATIONS_OPT,
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Root seed for every scenario (default: the first's)."),
    set_: List[str] = SET_OPT,
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default results/compare/<timestamp>/)."),
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
    out = out or Path("results") / "compare" / time.strftime("%Y%m%d-%H%M%S")
    prepare_folder(out)
    total = sum((days or sc.days) * (replications or sc.replications) for sc in loaded)
    if days is None and len({sc.days for sc in loaded}) > 1:
        err_console.print("note: the scenarios run for different numbers of days; use --days to compare "
                          "like with like", markup=False, highlight=False, soft_wrap=True)
    start = time.perf_counter()
    units = sum(replications or sc.replications for sc in loaded)
    with _executor(executor, workers, scheduler, units) as ex, _progress(quiet) as bar:
        task = bar.add_task("compare", total=total)
        result = compare_scenarios(loaded, seed=seed, replications=replications, customers=customers, days=days,
                                   transactions=transactions, progress=lambda n: bar.advance(task, n),
                                   executor=ex)
    write_or_rescue(write_comparison, out, result, "compare", fmt=fmt, overrides=set_,
                    wall_seconds=time.perf_counter() - start)
    _print_comparison(result)
    console.print(f"results: {out}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def report(folder: Path = typer.Argument(..., help="A results folder (from run or compare).")) -> None:
    """Rebuild report.html of a results folder from its data."""
    rebuild(folder, report=True)
    console.print(f"report: {folder / 'report.html'}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def plot(folder: Path = typer.Argument(..., help="A results folder (from run or compare).")) -> None:
    """Redraw the plots (plots/*.png) of a results folder from its data."""
    written = rebuild(folder, plots=True)
    for name in written:
        console.print(f"{folder / name}", highlight=False, soft_wrap=True)


@app.command()
@user_errors
def validate(files: List[str] = typer.Argument(..., help="Scenario files (or shipped names) to check.")) -> None:
    """Check scenario files: 'ok' per file, or one line per problem."""
    bad = 0
    for f in files:
        try:
            load_scenario(resolve(f))
            console.print(f"{f}: ok", highlight=False, soft_wrap=True)
        except LoyaltysimError as err:
            _error(" ".join(str(err).split()))
            bad += 1
    if bad:
        raise typer.Exit(2)


@app.command()
@user_errors
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors and validators)."""
    typer.echo(schema_text(), nl=False)


@app.command(name="scenarios")
@user_errors
def list_scenarios() -> None:
    """List the shipped scenarios, one line each; run one with 'loyaltysim run NAME'."""
    ships = describe_shipped()
    if not ships:
        raise RunError("this installation has no shipped scenarios")
    width = max(len(name) for name, _ in ships)
    for name, text in ships:
        typer.echo(f"{name:<{width}}  {text}")


# ---------------------------------------------------------------- output

def _progress(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} days"),
                    TimeRemainingColumn(), console=err_console,
                    disable=quiet or not sys.stderr.isatty())


def _print_summary(result) -> None:
    s = result.summary
    s = s[s["segment"] == "all"].set_index(["metric", "arm"])
    table = Table(title=f"{result.scenario.name}: run totals (mean, 95% CI over {result.scenario.replications} replications)")
    table.add_column("metric")
    table.add_column("unit")
    for arm in ("scheme", "counterfactual", "difference"):
        table.add_column(arm, justify="right")
    for m in HEADLINE:
        cells = []
        for arm in ("scheme", "counterfactual", "difference"):
            row = s.loc[(m, arm)]
            cells.append(_compact(row["mean"], row["ci_low"], row["ci_high"]))
        table.add_row(m, str(s.loc[(m, "scheme"), "unit"]), *cells)
    console.print(table)
    console.print(describe(result.verdict), highlight=False)


def _short(x: float) -> str:
    """A number in at most about six characters: 3 significant digits, k/M/G for large ones."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _compact(mean: float, lo: float, hi: float) -> str:
    """Mean and 95% interval half-width for a narrow terminal: ``1.82 ±0.03``."""
    if mean != mean:
        return "-"
    if lo == lo and hi == hi and hi > lo:
        half = (hi - lo) / 2
        return f"{_short(mean)} ±{half:.2g}" if abs(half) < 1e3 else f"{_short(mean)} ±{_short(half)}"
    return _short(mean)


def _print_comparison(comparison) -> None:
    d = comparison.table[comparison.table["arm"] == "difference"].set_index(["metric", "scenario"])
    labels = list(comparison.results)
    table = Table(title=f"scheme minus counterfactual, run totals (mean, 95% CI; seed {comparison.seed})")
    table.add_column("metric")
    for label in labels:
        table.add_column(label, justify="right")
    for m in HEADLINE:
        table.add_row(m, *[format_estimate(*d.loc[(m, lbl), ["mean", "ci_low", "ci_high"]]) for lbl in labels])
    console.print(table)
    for label, result in comparison.results.items():
        console.print(f"{label}: {describe(result.verdict)}", highlight=False)


# Commands kept in their own modules, registered here so `loyaltysim --help` lists them all.
from loyaltysim.cli_data import calibrate, export  # noqa: E402
from loyaltysim.cli_sweep import sweep  # noqa: E402

app.command()(calibrate)
app.command()(export)
app.command()(sweep)

if __name__ == "__main__":
    app()
