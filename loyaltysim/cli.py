"""The loyaltysim command line: thin commands over the library; user mistakes become one line, exit 2."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from loyaltysim.errors import LoyaltysimError
from loyaltysim.experiment import simulate
from loyaltysim.ledger import describe
from loyaltysim.results.store import prepare_folder, write_run
from loyaltysim.scenario.loading import load_scenario

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Simulate loyalty schemes and test whether their value exchange stays balanced.")
console = Console()
err_console = Console(stderr=True)

HEADLINE = ("revenue", "gross_margin", "programme_cost", "insight_value", "business_roi",
            "customer_value", "customer_cost", "customer_net_value", "members", "breakage_rate",
            "insight_index")


def user_errors(fn):
    """Turn a user's mistake into one line on stderr and exit code 2 (never a traceback)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LoyaltysimError as err:
            err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: nothing partial was written as a result", markup=False)
            raise typer.Exit(130) from None
    return wrapper


@app.command()
@user_errors
def run(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    customers: Optional[int] = typer.Option(None, "--customers", min=1, help="Override the number of customers."),
    days: Optional[int] = typer.Option(None, "--days", min=1, help="Override the number of days."),
    replications: Optional[int] = typer.Option(None, "--replications", min=1, help="Override replications."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Override the root seed."),
    set_: List[str] = typer.Option([], "--set", help="Override a field: key.path=value (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default results/<name>/<timestamp>/)."),
    fmt: str = typer.Option("parquet", "--format", help="Daily metrics format: parquet or csv."),
    transactions: bool = typer.Option(False, "--transactions", help="Also write transactions.parquet (replicate 0)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Simulate a scenario against its no-scheme counterfactual and write a results folder."""
    if fmt not in ("parquet", "csv"):
        raise LoyaltysimError(f"--format: '{fmt}' is not a format (allowed: parquet, csv)")
    sc = load_scenario(scenario, set_)
    out = out or Path("results") / sc.name / time.strftime("%Y%m%d-%H%M%S")
    prepare_folder(out)
    total_days = (days or sc.days) * (replications or sc.replications)
    start = time.perf_counter()
    with _progress(quiet) as bar:
        task = bar.add_task(sc.name, total=total_days)
        result = simulate(sc, seed=seed, replications=replications, customers=customers, days=days,
                          transactions=transactions, progress=lambda n: bar.advance(task, n))
    write_run(out, result, fmt=fmt, overrides=set_, wall_seconds=time.perf_counter() - start)
    _print_summary(result)
    console.print(f"results: {out}", highlight=False)


@app.command()
@user_errors
def validate(files: List[Path] = typer.Argument(..., help="Scenario files to check.")) -> None:
    """Check scenario files: 'ok' per file, or one line per problem."""
    bad = 0
    for f in files:
        try:
            load_scenario(f)
            console.print(f"{f}: ok", highlight=False)
        except LoyaltysimError as err:
            err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
            bad += 1
    if bad:
        raise typer.Exit(2)


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
            cells.append(_fmt(row["mean"], row["ci_low"], row["ci_high"]))
        table.add_row(m, str(s.loc[(m, "scheme"), "unit"]), *cells)
    console.print(table)
    console.print(describe(result.verdict), highlight=False)


def _fmt(mean, lo, hi) -> str:
    if mean != mean:
        return "-"
    digits = 2 if abs(mean) < 100 else 0
    text = f"{mean:,.{digits}f}"
    if lo == lo:
        text += f" ({lo:,.{digits}f} to {hi:,.{digits}f})"
    return text


if __name__ == "__main__":
    app()
