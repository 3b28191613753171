"""Population files: a fitted population written as a ``population:`` mapping to paste into any
scenario, read back, and the forms a population may be given in."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from loyaltysim.data.calibrate.fitting import Fit
from loyaltysim.data.calibrate.panel import CalibrationError
from loyaltysim.results.store import versions, write_text
from loyaltysim.scenario.loading import read_scenario, validate
from loyaltysim.scenario.models import Population


def write_population(path: str | Path, fit: Fit | Mapping | Population, *, header: str | None = None) -> Path:
    """Write a population YAML (a ``population:`` mapping to paste into any scenario), atomically:
    a temporary file beside ``path`` renamed into place, so a failed write leaves nothing behind."""
    if isinstance(fit, Fit):
        text = fit.yaml(header)
    else:
        pop = fit.model_dump(mode="json") if isinstance(fit, Population) else dict(fit)
        Population.model_validate(pop)
        text = Fit(population=pop, table=pd.DataFrame(), estimates=pd.DataFrame()).yaml(header)
    path = Path(path)
    if path.is_dir():
        raise CalibrationError(f"{path}: is a folder (give a file name such as population.yaml)")
    try:
        write_text(path, text)
    except OSError as err:
        raise CalibrationError(f"{path}: cannot be written ({err.strerror or err})") from None
    return path


def default_header(fit: Fit, source: str) -> str:
    """A comment header saying where a fitted population came from."""
    lines = [f"Population fitted by loyaltysim {versions()['loyaltysim']} calibrate from {source}.",
             *fit.notes,
             "Paste the population: mapping into a scenario; check it with loyaltysim calibrate --check."]
    return "\n".join(lines)


def load_population(path: str | Path) -> Population:
    """Read a population file written by :func:`write_population` (or any ``population:`` mapping)."""
    data, lines = read_scenario(path)
    if "population" not in data:
        data = {"population": data}
    return validate({"name": "population", **data}, str(path), lines).population


def as_population(population: Fit | Mapping | Population | str | Path) -> Population:
    """A validated population from a fit, a mapping (with or without a ``population:`` key), a
    Population or a population file."""
    if isinstance(population, Population):
        return population
    if isinstance(population, Fit):
        return population.validated()
    if isinstance(population, (str, Path)):
        return load_population(population)
    data = dict(population)
    return Population.model_validate(data.get("population", data))
