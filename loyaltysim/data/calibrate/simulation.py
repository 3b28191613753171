"""Simulating a fitted population with no scheme (for the check and the fits by simulation), and reading
the calendar files such a simulation may use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from loyaltysim.data.calibrate.fitting import Fit
from loyaltysim.data.calibrate.panel import CalibrationError
from loyaltysim.data.calibrate.population_file import as_population
from loyaltysim.scenario.loading import read_scenario, validate
from loyaltysim.scenario.models import CATEGORIES, Calendar, Population, Scenario


def simulate_trips(population: Fit | Mapping | Population | str | Path, *, customers: int, days: int,
                   start_weekday: str = "mon", seed: int = 1,
                   calendar: Mapping | Calendar | str | Path | None = None) -> pd.DataFrame:
    """Simulate a population with no scheme (and, if given, a calendar of seasons: a mapping or a
    calendar file) and return its trips in :func:`trips_table` columns (``date`` is the day index;
    ``band`` the hour band; ``cat_*`` spend by category; ``baskets`` the visits in each trip). The frame's
    ``attrs["customers"]`` is the customers simulated, arrivals included, with a trip or not, and
    ``attrs["arrival_day"]`` each one's day of arrival (-1 for the starting customers; customer ids index it)."""
    # Imported here: the model (and what it compiles) loads only when a check runs.
    from loyaltysim.engine.model import LoyaltyModel

    pop = as_population(population)
    if isinstance(calendar, (str, Path)):
        calendar = load_calendar(calendar)
    if isinstance(calendar, Calendar):
        calendar = calendar.model_dump(mode="json")
    try:
        sc = Scenario.model_validate({"name": "calibration_check", "customers": customers, "days": days,
                                      "replications": 1, "seed": seed, "start_weekday": start_weekday,
                                      "population": pop.model_dump(mode="json"), "calendar": calendar})
    except ValidationError as err:  # e.g. customers plus arrivals past the memory guard
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CalibrationError(f"simulation: {where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}") from None

    kept: list[tuple] = []

    def keep(arm: str, day: int, weekday: int, t) -> None:
        if arm == "counterfactual":  # the no-scheme arm
            baskets = np.ones(t.idx.size, np.int32) if t.baskets is None else np.asarray(t.baskets, np.int32)
            kept.append((t.idx.copy(), day, weekday, t.value.astype(float),
                         np.asarray(t.band, np.int8), t.split * t.value[:, None], baskets))

    model = LoyaltyModel(sc, 0)
    model.trip_observers.append(keep)
    model.run()
    if not kept or sum(k[0].size for k in kept) == 0:
        out = pd.DataFrame(columns=["customer_id", "date", "weekday", "band", "amount", "baskets"])
        out.attrs["customers"] = sc.customers + sc.arrivals
        out.attrs["arrival_day"] = model.dynamics.arrival_day.copy()
        return out
    idx = np.concatenate([k[0] for k in kept])
    out = pd.DataFrame({
        "customer_id": idx,
        "date": np.concatenate([np.full(k[0].size, k[1]) for k in kept]),
        "weekday": np.concatenate([np.full(k[0].size, k[2], np.int8) for k in kept]),
        "band": np.concatenate([k[4] for k in kept]),
        "amount": np.concatenate([k[3] for k in kept]),
        "baskets": np.concatenate([k[6] for k in kept]),
    })
    spend = np.concatenate([k[5] for k in kept])
    for j, cat in enumerate(CATEGORIES):
        out[f"cat_{cat}"] = spend[:, j]
    out.attrs["customers"] = sc.customers + sc.arrivals  # the base, arrivals included, with or without trips
    out.attrs["arrival_day"] = model.dynamics.arrival_day.copy()  # by customer: -1 for those there from day 0
    return out


def load_calendar(path: str | Path) -> Calendar:
    """Read a calendar file (a ``calendar:`` mapping, or its contents); problems are one line naming
    the file, line and field."""
    data, lines = read_scenario(path)
    if "calendar" not in data:
        data, lines = {"calendar": data}, {("calendar", *k): v for k, v in lines.items()}
    # Validated as a scenario's calendar (for its line-numbered errors), beside a placeholder population.
    placeholder = {"segments": [{"name": "any", "share": 1.0}]}
    return validate({"name": "calendar", "population": placeholder, **data}, str(path), lines).calendar
