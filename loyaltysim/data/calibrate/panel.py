"""Panel data: a transaction log (and household demographics, and segments) read into standard
columns with every row checked, its trips, and the statistics the fit and the check both report.

The *standard columns* (one row per purchase line or per basket):

    customer_id  any id
    timestamp    datetime64 (naive local time; a date-only log has every time at midnight)
    amount       float, >= 0: money paid
    category     optional, one of CATEGORIES
    basket_id    optional: rows with the same id are one basket
    own_label    optional bool: the line is the retailer's own label
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loyaltysim.errors import LoyaltysimError
from loyaltysim.scenario.models import CATEGORIES, HOUR_BAND_HOURS, HOUR_BANDS, INCOME_BANDS

STANDARD_COLUMNS: tuple[str, ...] = ("customer_id", "timestamp", "amount", "category", "basket_id", "own_label")
"""Columns of a standardised transaction log (the last three optional)."""
REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "timestamp", "amount")
TIME_ALIASES: tuple[str, ...] = ("timestamp", "date", "datetime", "time")
"""Column names tried, in order, for the time of a purchase when no mapping is given."""
DEMOGRAPHIC_COLUMNS: tuple[str, ...] = ("customer_id", "household_size", "children", "income")
DAYS_PER_YEAR = 365.0
PERCENTILES: tuple[int, ...] = (10, 25, 50, 75, 90)
"""Percentiles of trips per customer and of basket value that the fit and the check report."""


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


def _blank(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
    return values.isna().to_numpy()


class _Source:
    """Where rows came from, to name a bad row: CSV rows are also given as file lines."""

    def __init__(self, name: str, csv: bool) -> None:
        self.name, self.csv = name, csv

    def require(self, values: pd.Series, column: str, what: str) -> None:
        """Refuse a column with an empty value: every row needs ``what``."""
        blank = _blank(values)
        if blank.any():
            raise self.fail(f"is empty (every row needs {what})", column, np.flatnonzero(blank))

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
    except Exception as err:  # noqa: BLE001 - parser, encoding and (pyarrow's own) corrupt-file errors alike
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


def _known(columns: Mapping[str, str] | None, allowed: tuple[str, ...], kind: str, source: _Source) -> dict[str, str]:
    """A column mapping (standard name to the file's), refusing a standard name not in ``allowed``."""
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in allowed]
    if unknown:
        raise DataError(f"'{unknown[0]}' is not a {kind} column (allowed: {', '.join(allowed)})", source=source.name)
    return columns


def _not_in_file(frame: pd.DataFrame, source: _Source, standard: str, column: str) -> DataError:
    return DataError(f"not in the file (columns: {', '.join(frame.columns)}; name yours with {standard}=NAME)",
                     source=source.name, column=column)


def _resolve_columns(frame: pd.DataFrame, columns: Mapping[str, str] | None, source: _Source) -> dict[str, str]:
    columns = _known(columns, STANDARD_COLUMNS, "standard", source)
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
            raise _not_in_file(frame, source, std, std)
    return found


def _parse_times(values: pd.Series, column: str, source: _Source, date_format: str | None,
                 utc_to: str | None) -> pd.Series:
    source.require(values, column, "a date or time")
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
    source.require(values, column, "an amount")
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
    source.require(values, column, "an id")
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype(str).str.strip()
        # Whole numbers without leading zeros become integers ("007" stays text: it is not 7).
        if text.str.fullmatch(r"-?(0|[1-9][0-9]{0,17})").all():
            return text.astype(np.int64)
        return text
    return values


def _parse_categories(values: pd.Series, column: str, source: _Source,
                      category_map: Mapping[str, str] | None) -> pd.Categorical:
    source.require(values, column, "a category when a category column is given")
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
    frame, source = _read_table(path, "customer")
    name = {c: dict(columns or {}).get(c, c) for c in ("customer_id", "segment")}
    for c, col in name.items():
        if col not in frame.columns:
            raise _not_in_file(frame, source, c, col)
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
    columns = _known(columns, DEMOGRAPHIC_COLUMNS, "demographics", source)
    name = {c: columns.get(c, c) for c in DEMOGRAPHIC_COLUMNS}
    for c in ("customer_id", "household_size"):
        if name[c] not in frame.columns:
            raise _not_in_file(frame, source, c, name[c])
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


# ---------------------------------------------------------------- trips

def _hour_band(hours: np.ndarray) -> np.ndarray:
    starts = np.array([a for a, _ in HOUR_BAND_HOURS])
    band = np.searchsorted(starts, hours, side="right") - 1
    return np.where(band < 0, len(HOUR_BANDS) - 1, band).astype(np.int8)


def trips_table(transactions: pd.DataFrame, trip: str = "day") -> pd.DataFrame:
    """One row per trip: ``customer_id``, ``timestamp`` (of its first line), ``date``, ``weekday``
    (0 = Monday), ``band`` (hour band, -1 for a date-only log), ``amount`` and, when the log has
    them, ``cat_<category>`` spend, ``own_label_amount`` and ``baskets`` (the distinct ``basket_id``
    values the trip holds: always 1 for ``trip="basket"``).

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
    if "basket_id" in tx:
        # Distinct baskets in each trip: a basket's lines share its id, so count (trip, id) pairs once.
        pairs = pd.DataFrame({"g": gid, "b": tx["basket_id"].to_numpy()}).drop_duplicates()
        out["baskets"] = np.bincount(pairs["g"].to_numpy(), minlength=n).astype(np.int32)
    return out.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)



# ---------------------------------------------------------------- statistics of trips

def observed_window(trips: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp, int, float]:
    """First and last date of a :func:`trips_table`, and the days and years from one to the other
    (both ends counted)."""
    start, end = trips["date"].min(), trips["date"].max()
    days = int((end - start).days) + 1
    return start, end, days, days / DAYS_PER_YEAR


def trip_counts(trips: pd.DataFrame, n_customers: int | None = None) -> np.ndarray:
    """Trips per customer, in customer order; with ``n_customers`` (the base including non-buyers)
    a zero for each customer with no trip."""
    counts = trips.groupby("customer_id").size().to_numpy()
    if n_customers is not None:
        counts = np.concatenate([counts, np.zeros(max(n_customers - counts.size, 0), np.int64)])
    return counts


def top_spend_share(trips: pd.DataFrame, fraction: float = 0.2) -> float:
    """Share of spend by the ``fraction`` of customers who spend most (at least one customer)."""
    spend = np.sort(trips.groupby("customer_id")["amount"].sum().to_numpy())[::-1]
    return spend[: max(round(fraction * spend.size), 1)].sum() / spend.sum()
