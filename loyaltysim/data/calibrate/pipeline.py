"""Read (or load a dataset), fit and write in one call: :func:`calibrate`, what ``loyaltysim
calibrate`` runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from loyaltysim.data.calibrate.completejourney import completejourney_header, fit_completejourney
from loyaltysim.data.calibrate.fitting import Fit, fit_population
from loyaltysim.data.calibrate.panel import CalibrationError, read_demographics, read_segments, read_transactions
from loyaltysim.data.calibrate.population_file import default_header, write_population


def calibrate(transactions: str | Path | None = None, *, dataset: str | None = None,
              demographics: str | Path | None = None, columns: Mapping[str, str] | None = None,
              demographic_columns: Mapping[str, str] | None = None, date_format: str | None = None,
              category_map: Mapping[str, str] | None = None, out: str | Path | None = None,
              header: str | None = None, **options) -> tuple[Fit, pd.DataFrame]:
    """Read (or load ``dataset="completejourney"``, data its package's README calls simulated from
    real patterns), fit and, if ``out`` is given, write the population file. Returns the fit and the
    standardised transactions. Nothing is written unless the whole fit succeeds."""
    if transactions is None and dataset is None:
        raise CalibrationError("give a transaction file, or --dataset completejourney")
    if transactions is not None and dataset is not None:
        raise CalibrationError("give a transaction file or a dataset, not both")
    if dataset is not None:
        if dataset != "completejourney":
            raise CalibrationError(f"--dataset: '{dataset}' is not a dataset (allowed: completejourney)")
        fit, tx = fit_completejourney(**options)
        header = header or completejourney_header(fit)  # it carries the data's caveat
    else:
        tx = read_transactions(transactions, columns, date_format=date_format, category_map=category_map)
        demo = read_demographics(demographics, demographic_columns) if demographics is not None else None
        if isinstance(options.get("segments"), (str, Path)):
            options["segments"] = read_segments(options["segments"])
        fit = fit_population(tx, demo, **options)
        header = header or default_header(fit, Path(transactions).name)
    if out is not None:
        write_population(out, fit, header=header)
    return fit, tx
