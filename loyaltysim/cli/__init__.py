"""The loyaltysim command line: thin commands over the library, one module per command group.

``app`` is the typer application; each command lives in the module of its group and is registered
here, with its examples as the help's epilog.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # the CLI only ever renders to files

from typing import Optional  # noqa: E402

import typer  # noqa: E402

from loyaltysim.cli import data, evidence, folders, scenarios, simulate, sweep  # noqa: E402
from loyaltysim.cli.common import OneLineErrors, PlainHelpCommand, say  # noqa: E402

__all__ = ["app"]

app = typer.Typer(cls=OneLineErrors, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_show_locals=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Simulate loyalty schemes and test whether their value exchange stays balanced.\n\n"
                       "Start with 'loyaltysim scenarios', then 'loyaltysim run supermarket_points'.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            say(f"loyaltysim {version('loyaltysim')}")
        except PackageNotFoundError:  # run from a source tree that is not installed
            from loyaltysim import __version__

            say(f"loyaltysim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                                  help="Print the version and exit.")) -> None:
    """Options that apply before any command (--version)."""


for group, name in (
    (simulate, "run"), (simulate, "compare"), (sweep, "sweep"), (folders, "report"), (folders, "plot"),
    (data, "export"), (data, "calibrate"), (scenarios, "validate"), (scenarios, "schema"),
    (scenarios, "scenarios"), (evidence, "evidence"),
):
    app.command(name=name, cls=PlainHelpCommand, epilog=getattr(group, f"{name.upper()}_EXAMPLES"))(getattr(group, name))

if __name__ == "__main__":
    app()
