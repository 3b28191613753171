"""Exports for customer-lifetime-value tools: transactions, an RFM table and each customer's truth.

From a run folder written with ``--transactions`` (the scheme arm of replicate 0), :func:`export_run`
writes:

- ``transactions.csv``: ``customer_id, date, amount``, one row per trip (amount paid, to the cent);
- ``rfm.csv``: ``customer_id, frequency, recency, T, monetary_value`` in the conventions of lifetimes'
  ``summary_data_from_transaction_data`` and PyMC-Marketing's ``clv.rfm_summary`` with time unit
  days: purchases on one date are one period (their amounts summed); ``frequency`` = periods with a
  purchase minus 1 (repeat purchases); ``recency`` = days from the first to the last purchase;
  ``T`` = days from the first purchase to the end of the observation period (the run's last day);
  ``monetary_value`` = mean amount of the repeat periods, 0 when there are none. Customers who
  never bought are left out, as those functions leave them out;
- ``truth.csv``: each customer's hidden truth (true need rate at all stores, basket parameters,
  segment, household, preference, whether and on which day the customer left the retailer for good);
- ``export.json``: the calendar, the observation period and where the data came from.

Dates: the simulator counts days from 0. Day ``d`` is exported as ``start + d`` where ``start`` is the
first date on or after :data:`BASE_DATE` (2025-01-01) that falls on the scenario's ``start_weekday``,
so weekday patterns survive the export (a scenario starting on a Monday starts on 2025-01-06).
To reproduce ``rfm.csv`` with lifetimes or PyMC-Marketing, pass ``observation_period_end`` from
``export.json`` (their default, the last purchase date, differs when nobody bought on the last day).

Churn days are not stored in a run folder; they are found by replaying replicate 0 of the resolved
scenario (same seed, same random numbers), checked against the stored transactions.

The export is written as a whole through the results store (:func:`loyaltysim.results.store.staged_folder`):
in a staging folder beside ``out``, which takes its place only when every file is written, so a failed
export leaves nothing half-written. ``out`` must be new, empty, or an earlier export (then replaced).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from loyaltysim.errors import LoyaltysimError, RunError
from loyaltysim.results.manifest import MANIFEST, checked_file
from loyaltysim.results.store import read_manifest, staged_folder
from loyaltysim.scenario.models import INCOME_BANDS, WEEKDAYS

__all__ = [
    "BASE_DATE", "ExportError", "export_run", "rfm_table", "start_date", "transactions_table",
    "truth_table",
]

BASE_DATE = date(2025, 1, 1)
"""Exported calendars start on the first date on or after this one with the scenario's start weekday."""
RFM_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")
INFO = "export.json"
TRANSACTION_COLUMNS = ("customer_id", "date", "amount")


class ExportError(LoyaltysimError):
    """A results folder that cannot be exported, as one line naming the file."""


def start_date(start_weekday: str = "mon", base: date = BASE_DATE) -> date:
    """The calendar date of day 0: the first date on or after ``base`` on ``start_weekday``."""
    return base + timedelta(days=(WEEKDAYS.index(start_weekday) - base.weekday()) % 7)


def transactions_table(transactions: pd.DataFrame, start: date) -> pd.DataFrame:
    """``customer_id, date, amount`` from a simulated log (``customer_id, day, amount``), amounts
    rounded to the cent, ordered by date then customer."""
    dates = pd.Timestamp(start) + pd.to_timedelta(transactions["day"].to_numpy(np.int64), unit="D")
    out = pd.DataFrame({
        "customer_id": transactions["customer_id"].to_numpy(np.int64),
        "date": dates,
        "amount": np.round(transactions["amount"].to_numpy(float), 2),
    })
    return out.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)


def rfm_table(transactions: pd.DataFrame, observation_period_end) -> pd.DataFrame:
    """The RFM summary of ``customer_id, date, amount`` rows in days (see the module docstring).

    Dates may carry times; only the date counts. ``observation_period_end`` is a date; purchases
    after it are ignored.
    """
    end = pd.Timestamp(observation_period_end).normalize()
    tx = transactions.assign(date=pd.to_datetime(transactions["date"], format="ISO8601").dt.normalize())
    tx = tx[tx["date"] <= end]
    per_day = tx.groupby(["customer_id", "date"], sort=True)["amount"].sum().reset_index()
    g = per_day.groupby("customer_id", sort=True)
    first, last = g["date"].min(), g["date"].max()
    periods = g.size()
    first_amount = g["amount"].first()  # per_day is sorted by date within customer
    total = g["amount"].sum()
    frequency = periods - 1
    repeat_mean = (total - first_amount) / frequency.where(frequency > 0)
    out = pd.DataFrame({
        "customer_id": periods.index,
        "frequency": frequency.to_numpy(float),
        "recency": ((last - first).dt.days).to_numpy(float),
        "T": ((end - first).dt.days).to_numpy(float),
        "monetary_value": repeat_mean.fillna(0.0).to_numpy(float),
    })
    return out.reset_index(drop=True)


def truth_table(customers: pd.DataFrame, start: date) -> pd.DataFrame:
    """Each customer's hidden truth from a run's ``customers`` table (final state of the run: life
    events may have moved basket parameters and household during it).

    ``need_rate_per_year`` is needs at all stores (trips here are the share of needs that choose
    this retailer); ``basket_log_mu``/``basket_log_sd`` are the lognormal parameters of the
    customer's trip value and ``mean_basket`` its mean; ``churn_day`` is the day the customer left the
    retailer for good in the scheme arm (empty if never) and ``churn_date`` its calendar date.
    """
    c = customers
    out = pd.DataFrame({
        "customer_id": c["customer_id"].to_numpy(np.int64),
        "segment": c["segment"].to_numpy(),
        "need_rate_per_year": c["need_rate_per_year"].to_numpy(float),
        "basket_log_mu": c["basket_log_mu"].to_numpy(float),
        "basket_log_sd": c["basket_log_sd"].to_numpy(float),
        "mean_basket": c["mean_basket"].to_numpy(float),
        "household_size": c["household_size"].to_numpy(int),
        "children": c["children"].to_numpy(int),
        "income_band": np.asarray(INCOME_BANDS)[c["income_band"].to_numpy(int)],
        "preference": c["preference"].to_numpy(float),
    })
    churn_day = c["defection_day_scheme"].to_numpy()
    out["churned"] = churn_day >= 0
    out["churn_day"] = pd.array(np.where(churn_day >= 0, churn_day, 0), dtype="Int64")
    out.loc[churn_day < 0, "churn_day"] = pd.NA
    dates = pd.Timestamp(start) + pd.to_timedelta(out["churn_day"].astype("float"), unit="D")
    out["churn_date"] = dates.dt.strftime("%Y-%m-%d").fillna("")
    return out


def _read(folder: Path) -> dict:
    """Read what an export needs from a run folder, with one-line errors naming the file."""
    try:
        manifest = read_manifest(folder)
    except RunError as err:
        raise ExportError(str(err)) from None
    if manifest.get("kind") == "comparison":
        raise ExportError(f"{folder / MANIFEST}: a comparison folder; export one of its runs (runs/<label>)")
    out: dict = {"manifest": manifest}
    for key, name, hint in (
        ("transactions", "transactions.parquet", "the run was made without --transactions; run it again with --transactions"),
        ("customers", "customers.parquet", "the run folder is incomplete"),
        ("scenario", "scenario.resolved.yaml", "the run folder is incomplete"),
    ):
        path = folder / name
        if not path.exists() or name not in manifest["files"]:
            raise ExportError(f"{path}: not found ({hint})")
        try:
            checked_file(folder, manifest, name)
        except RunError as err:
            raise ExportError(str(err)) from None
        try:
            if name.endswith(".parquet"):
                out[key] = pd.read_parquet(path)
            else:
                out[key] = yaml.safe_load(path.read_text(encoding="utf-8"))
        except Exception as err:  # corrupt Parquet raises pyarrow's own errors
            raise ExportError(f"{path}: cannot be read ({' '.join(str(err).split())[:80]})") from None
    missing = [c for c in ("customer_id", "day", "amount") if c not in out["transactions"].columns]
    if missing:
        raise ExportError(f"{folder / 'transactions.parquet'}: column '{missing[0]}' is missing")
    return out


def export_run(folder: str | Path, out: str | Path | None = None, *, start: date | None = None) -> dict[str, Path]:
    """Write ``transactions.csv``, ``rfm.csv``, ``truth.csv`` and ``export.json`` for a run folder
    made with ``--transactions`` into ``out`` (default ``<folder>/export``); return their paths.

    ``start`` overrides the calendar date of day 0.
    """
    from loyaltysim.scenario.loading import validate

    folder = Path(folder)
    data = _read(folder)
    try:
        scenario = validate(data["scenario"], str(folder / "scenario.resolved.yaml"))
    except LoyaltysimError as err:
        raise ExportError(" ".join(str(err).split())) from None
    start = start or start_date(scenario.start_weekday)
    end = start + timedelta(days=scenario.days - 1)
    tx = transactions_table(data["transactions"], start)
    rfm = rfm_table(tx, end)
    truth = truth_table(data["customers"], start)
    info = {
        "source": {"scenario": scenario.name, "scenario_hash": data["manifest"].get("scenario_hash"),
                   "seed": scenario.seed, "replicate": 0, "arm": "scheme"},
        "start_date": start.isoformat(),
        "start_weekday": scenario.start_weekday,
        "observation_period_end": end.isoformat(),
        "time_unit": "D",
        "customers": int(len(truth)),
        "customers_with_purchases": int(len(rfm)),
        "transactions": int(len(tx)),
        "amount": "money paid per trip, after member prices and offers, rounded to the cent",
        "rfm": "lifetimes / PyMC-Marketing conventions in days; pass observation_period_end to reproduce",
    }
    frames = {
        "transactions.csv": tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")),
        "rfm.csv": rfm,
        "truth.csv": truth,
    }
    return _write_all(Path(out) if out is not None else folder / "export", frames, json.dumps(info, indent=2))


def _write_all(out: Path, frames: dict[str, pd.DataFrame], info: str) -> dict[str, Path]:
    """Write every file into a staging folder beside ``out``, which takes its place once all are written."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: is a file, not a folder (give a folder for --out)")
    if out.is_dir() and not _replaceable(out, {*frames, INFO}):
        raise ExportError(f"{out}: the folder holds other files (an export goes in a new or empty folder, or "
                          "replaces an earlier export; choose another --out)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with staged_folder(out) as folder:
            for name, frame in frames.items():
                folder.frame(name, frame)
            folder.text(INFO, info + "\n")
    except OSError as err:
        raise ExportError(f"{out}: cannot be written ({err.strerror or err})") from None
    return {name: out / name for name in folder.files}


def _replaceable(folder: Path, files: set[str]) -> bool:
    """Whether an export may replace ``folder`` as a whole: it is empty, or holds an earlier export
    (its ``export.json`` and nothing but the export's ``files``)."""
    names = {p.name for p in folder.iterdir()}
    return not names or INFO in names and names <= files
