"""What every command shares: consoles, one-line errors, Ctrl-C, the shared options and output helpers.

A user's mistake ends as one line on stderr and exit code 2, never a traceback; Ctrl-C as one line and
exit code 130.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Sequence

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from loyaltysim.errors import LoyaltysimError

try:  # recent typer vendors click; older typer depends on it
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException as _ClickException

console = Console()
err_console = Console(stderr=True)


def say(text: str, *, err: bool = False) -> None:
    """Print one plain line (no markup, no highlighting, never cut)."""
    (err_console if err else console).print(text, markup=False, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    say(f"error: {message}", err=True)


INTERRUPTED = "interrupted: nothing partial was written as a result"
"""What Ctrl-C prints (exit code 130): a results folder is complete or has no complete manifest."""
_STATE = {"interrupt_shown": False}


def say_interrupted(message: str = INTERRUPTED) -> None:
    """Print the one line Ctrl-C gets (a command then exits with code 130)."""
    _STATE["interrupt_shown"] = True
    say(message, err=True)


def _interrupted() -> None:
    if not _STATE["interrupt_shown"]:
        say_interrupted()
    sys.exit(130)


class PlainHelpCommand(TyperCommand):
    """A command whose help names plain value types (``N``, ``KEY=VALUE``, ``FOLDER``), not typer's
    ``<int range>`` or ``<list[str]>`` labels, whatever typer version is installed: each argument's
    metavar says what to give."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name != "argument" or param.metavar is None:
                continue
            if hasattr(param, "display_type_rich"):  # typer >= 0.20 adds "<str>" after the name
                param.display_type_rich = lambda ctx: None
            if hasattr(param, "_usage_display_name"):  # and writes a required one as "{NAME}"
                param._usage_display_name = lambda p=param: p.metavar


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
            if type(err).__name__ == "NoArgsIsHelpError":  # no arguments: the help, to stdout
                typer.echo(err.format_message())
                sys.exit(0)
            message = " ".join(err.format_message().split())
            ctx = getattr(err, "ctx", None)
            if ctx is not None:  # a usage error: say where the usage is explained
                message += f" (see '{ctx.command_path} --help')"
            error(message)
            sys.exit(2)
        except typer.Abort as err:
            if isinstance(err.__cause__, KeyboardInterrupt):  # Ctrl-C outside a command's own handling
                _interrupted()
            error("aborted")
            sys.exit(1)
        except KeyboardInterrupt:
            _interrupted()
        sys.exit(code if isinstance(code, int) else 0)


def user_errors(fn):
    """Turn a user's mistake into one line on stderr and exit code 2 (never a traceback)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LoyaltysimError as err:
            error(" ".join(str(err).split()))
            raise typer.Exit(2) from None
        except OSError as err:  # a file or folder the user named that cannot be written or read
            where = f"{err.filename}: " if err.filename else ""
            error(f"{where}{err.strerror or err}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            say_interrupted()
            raise typer.Exit(130) from None
    return wrapper


# ---------------------------------------------------------------- shared options

SCENARIO_ARG = typer.Argument(..., metavar="SCENARIO", help="Scenario YAML file, or the name of a shipped scenario "
                              "(see 'loyaltysim scenarios').", show_default=False)
FOLDER_ARG = typer.Argument(..., metavar="FOLDER", help="A results folder (from run or compare).", show_default=False)
CUSTOMERS_OPT = typer.Option(None, "--customers", min=1, metavar="N", help="Override the number of customers.")
DAYS_OPT = typer.Option(None, "--days", min=1, metavar="N", help="Override the number of days.")
REPLICATIONS_OPT = typer.Option(None, "--replications", min=1, metavar="N", help="Override replications.")
SEED_OPT = typer.Option(None, "--seed", min=0, metavar="N", help="Override the root seed.")
SET_OPT = typer.Option([], "--set", metavar="KEY=VALUE", show_default=False,
                       help="Override a field, e.g. scheme.points.earn_per_unit=0.5 (repeatable).")
FORMAT_OPT = typer.Option("parquet", "--format", metavar="parquet|csv", help="Daily metrics format.")
TRANSACTIONS_OPT = typer.Option(False, "--transactions", help="Also write transactions.parquet (replicate 0).",
                                show_default=False)
QUIET_OPT = typer.Option(False, "--quiet", help="No progress bar.", show_default=False)
OVERWRITE_OPT = typer.Option(False, "--overwrite", show_default=False,
                             help="Replace --out if it is an earlier results folder (the whole folder, once "
                                  "the new run is complete).")
WORKERS_OPT = typer.Option(None, "--workers", min=1, metavar="N",
                           help="Worker processes for replications (default: every core).")
EXECUTOR_OPT = typer.Option(None, "--executor", metavar="serial|local|dask",
                            help="Where replications run (default: local processes for several, serial for one).")
SCHEDULER_OPT = typer.Option(None, "--scheduler", metavar="ADDRESS",
                             help="Address of a running Dask scheduler (tcp://host:port).")


def examples(*lines: str) -> str:
    """A command's epilog: its examples, one per line (click keeps \\b blocks as they are)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def print_paths(folder: Path, report: bool = True) -> None:
    """The last lines of a command that wrote results: the report, then the folder."""
    if report and (folder / "report.html").exists():
        say(f"report: {folder / 'report.html'}")
    say(f"results: {folder}")
