"""``loyaltysim validate``, ``schema`` and ``scenarios``: scenario files, checked, described and listed."""

from __future__ import annotations

from typing import List

import typer

from loyaltysim.cli.common import error, examples, say, user_errors
from loyaltysim.errors import LoyaltysimError, RunError
from loyaltysim.scenario.loading import load_scenario
from loyaltysim.scenario.schema import schema_text
from loyaltysim.scenario.shipped import describe_shipped, resolve

VALIDATE_EXAMPLES = examples("loyaltysim validate my_scheme.yaml", "loyaltysim validate scenarios/*.yaml")
SCHEMA_EXAMPLES = examples("loyaltysim schema > scenario.schema.json")
SCENARIOS_EXAMPLES = examples("loyaltysim scenarios", "loyaltysim run coffee_stamps")


@user_errors
def validate(files: List[str] = typer.Argument(..., metavar="SCENARIO...", show_default=False,
                                               help="Scenario files (or shipped names) to check.")) -> None:
    """Check scenario files: 'ok' per file, or one line per problem."""
    bad = 0
    for f in files:
        try:
            load_scenario(resolve(f))
            say(f"{f}: ok")
        except LoyaltysimError as err:
            error(" ".join(str(err).split()))
            bad += 1
    if bad:
        raise typer.Exit(2)


@user_errors
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors and validators)."""
    typer.echo(schema_text(), nl=False)


@user_errors
def scenarios() -> None:
    """List the shipped scenarios, one line each; run one with 'loyaltysim run NAME'."""
    ships = describe_shipped()
    if not ships:
        raise RunError("this installation has no shipped scenarios")
    width = max(len(name) for name, _ in ships)
    for name, text in ships:
        typer.echo(f"{name:<{width}}  {text}")
