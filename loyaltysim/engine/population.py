"""Customers as columns: the population's hidden true attributes, synthesised from its segments.

Each attribute has its own random stream, so changing one attribute's distribution leaves every other
attribute of every customer unchanged. Life events are drawn up front (they are exogenous: the same in
both arms) and applied on their day by :func:`apply_life_events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loyaltysim.engine.rng import population_rng
from loyaltysim.scenario.models import CATEGORIES, INCOME_BANDS, LIFE_EVENTS, Scenario

INDULGENCE = CATEGORIES.index("indulgence")
DRUG_GM = CATEGORIES.index("drug_gm")


def _beta(rng: np.random.Generator, mean: np.ndarray, precision: np.ndarray, n: int) -> np.ndarray:
    a = mean * precision
    return rng.beta(a, precision - a, size=n).astype(np.float32)


def _dirichlet(rng: np.random.Generator, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Per-customer Dirichlet rows; ``mean`` is (n, k), ``precision`` is (n,)."""
    g = rng.gamma(np.maximum(mean * precision[:, None], 1e-6))
    g /= g.sum(axis=1, keepdims=True)
    return g.astype(np.float32)


@dataclass
class LifeEventSchedule:
    """Life events sorted by day: ``day[i]`` customer ``customer[i]`` has event ``kind[i]``."""

    day: np.ndarray
    customer: np.ndarray
    kind: np.ndarray
    factor: np.ndarray  # income change factor or new retailer preference, per event
    starts: np.ndarray = field(default=None)  # index of the first event of each day

    def on(self, day: int) -> slice:
        """The events of one day, as a slice of the sorted arrays."""
        return slice(self.starts[day], self.starts[day + 1])


@dataclass
class Population:
    """Hidden true attributes of every customer (arrays of length n), shared by both arms."""

    n: int
    segment_names: list[str]
    segment: np.ndarray          # int16 segment index
    household: np.ndarray        # int8 people, 1..5 (5 means 5+)
    children: np.ndarray         # int8 children in the household
    income: np.ndarray           # int8 income band index
    retired: np.ndarray          # bool
    need_rate: np.ndarray        # float32 shopping needs per day (all stores)
    weekday: np.ndarray          # float32 (n, 7) weekday weights, mean 1 over a week
    hours: np.ndarray            # float32 (n, 6) hour-band shares
    basket_mu: np.ndarray        # float32 mean log basket value (includes household and income)
    basket_sd: np.ndarray        # float32 sd of log basket value within the customer
    categories: np.ndarray       # float32 (n, 7) spend shares
    own_label: np.ndarray        # float32 own-label share of spend
    outcome: np.ndarray          # float32 motivations, each 0-1
    experience: np.ndarray
    belonging: np.ndarray
    reward_seeking: np.ndarray
    privacy: np.ndarray
    time_poor: np.ndarray        # bool
    preference: np.ndarray       # float32 base utility of this retailer (logit)
    defect_rate: np.ndarray      # float32 daily chance of leaving the retailer at neutral satisfaction
    consent_draw: np.ndarray     # float32 uniform deciding which data sources a member consents to
    join_taste: np.ndarray       # float32 standard logistic: the customer's lasting taste for joining schemes
    last_event_day: np.ndarray   # int32 day of the latest life event (-1 if none)
    events: LifeEventSchedule
    segment_base_mu: np.ndarray  # float32 per segment, for re-deriving basket_mu after events
    segment_elasticity: np.ndarray
    same_day_share: np.ndarray = field(default=None)  # float64 per segment: share of trips with 2+ baskets
    same_day_more: np.ndarray = field(default=None)   # float64 per segment: chance of each basket past the 2nd
    # Small top-up shops (Segment.small_baskets): each trip is one with chance small_share, its log value
    # shifted by small_shift (0 or less). Zeros: one lognormal per customer. Per customer, as the kernel
    # reads them beside basket_mu and basket_sd.
    small_share: np.ndarray = field(default=None)  # float32
    small_shift: np.ndarray = field(default=None)  # float32

    mean_basket: np.ndarray = field(default=None)  # float32 true mean basket per trip (spending capacity)
    # float32 (7, n) chance of a shopping need on each weekday (need_rate x weekday weight), one row per
    # weekday so that a day reads one contiguous row rather than a column of the (n, 7) weights.
    need_by_weekday: np.ndarray = field(default=None)
    season: float = 1.0  # the calendar's factor on needs this week (engine.dynamics)
    away: np.ndarray | None = None  # bool: on a spell away this week, no needs (engine.dynamics; None: nobody)

    def __post_init__(self) -> None:
        if self.small_share is None:
            self.small_share = np.zeros(self.n, np.float32)
        if self.small_shift is None:
            self.small_shift = np.zeros(self.n, np.float32)
        self.refresh_mean_basket(slice(None))
        self.need_by_weekday = np.ascontiguousarray((self.need_rate * self.weekday.T))

    def refresh_mean_basket(self, idx) -> None:
        """Recompute the mean basket of customers ``idx`` after their basket_mu changed: the lognormal's mean
        exp(mu + sd^2 / 2), times 1 - w + w e^d for a share w of small shops at e^d of the usual basket."""
        if self.mean_basket is None:
            self.mean_basket = np.empty(self.n, np.float32)
        w = self.small_share[idx]
        # Without small shops the factor is exactly 1 (float32), so the mean is the lognormal's to the bit.
        mixture = np.float32(1.0) - w + w * np.exp(self.small_shift[idx])
        self.mean_basket[idx] = np.exp(self.basket_mu[idx] + 0.5 * self.basket_sd[idx] ** 2) * mixture

    def mean_log_basket(self) -> np.ndarray:
        """Each customer's mean log trip value, what their observed baskets average to: ``basket_mu``
        itself, plus ``w d`` where a share w of trips are small shops shifted by d."""
        if not self.small_share.any():
            return self.basket_mu
        return self.basket_mu + self.small_share * self.small_shift

    def segment_mean_log_base(self) -> np.ndarray:
        """Each segment's base log basket, as :meth:`mean_log_basket` (what family size is inferred against)."""
        if not self.small_share.any():
            return self.segment_base_mu
        first = self.segment_bounds[:-1].clip(max=self.n - 1)
        return self.segment_base_mu + self.small_share[first] * self.small_shift[first]

    @property
    def segment_bounds(self) -> np.ndarray:
        """Start of each segment's block of customer ids, and n at the end."""
        return np.searchsorted(self.segment, np.arange(len(self.segment_names) + 1))

    def nbytes(self) -> int:
        """Bytes held by the population's arrays."""
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        arrays += [v for v in vars(self.events).values() if isinstance(v, np.ndarray)]
        return int(sum(a.nbytes for a in arrays))


def synthesise(scenario: Scenario, replicate: int, n: int | None = None, days: int | None = None) -> Population:
    """Draw the population of one replicate from the scenario's segments."""
    n = scenario.customers if n is None else n
    days = scenario.days if days is None else days
    segs = scenario.population.segments
    seed = scenario.seed

    def rng(name: str) -> np.random.Generator:
        return population_rng(seed, replicate, name)

    def per_seg(values) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)[segment]

    # Segments are contiguous blocks of customer ids with exact sizes (largest remainder), so per-segment
    # sums of whole columns are slice sums rather than scatter-adds.
    sizes = segment_sizes([s.share for s in segs], n)
    segment = np.repeat(np.arange(len(segs), dtype=np.int16), sizes)

    hh_cum = np.cumsum([s.household_size for s in segs], axis=1)
    household = (np.sum(rng("household").random(n)[:, None] >= hh_cum[segment], axis=1) + 1).clip(1, 5).astype(np.int8)
    has_children = (rng("children").random(n) < per_seg([s.children_share for s in segs])) & (household >= 2)
    adults = np.where(household >= 3, 2, 1)
    children = np.where(has_children, household - adults, 0).astype(np.int8)
    inc_cum = np.cumsum([s.income for s in segs], axis=1)
    income = np.sum(rng("income").random(n)[:, None] >= inc_cum[segment], axis=1).clip(0, len(INCOME_BANDS) - 1).astype(np.int8)

    g = rng("need_rate")
    shape = per_seg([s.trips_per_year.shape for s in segs])
    mean = per_seg([s.trips_per_year.mean for s in segs])
    need_rate = (g.gamma(shape) * mean / shape / 365.0).astype(np.float32)

    weekday = _dirichlet(rng("weekday"), np.asarray([s.weekday for s in segs])[segment],
                         per_seg([s.weekday_precision for s in segs])) * 7.0
    hours = _dirichlet(rng("hours"), np.asarray([s.hour_bands for s in segs])[segment],
                       per_seg([s.hour_precision for s in segs]))

    base_mu = np.asarray([s.basket_log_mu for s in segs], dtype=np.float32)
    elasticity = np.asarray([s.basket_size_elasticity for s in segs], dtype=np.float32)
    mu_between = (rng("basket_mu").standard_normal(n) * per_seg([s.basket_log_sd_between for s in segs])).astype(np.float32)
    basket_sd = per_seg([s.basket_log_sd_within for s in segs]).astype(np.float32)
    # Household and income terms average close to zero, so the segment mean log basket stays near basket_log_mu.
    basket_mu = (base_mu[segment] + mu_between
                 + elasticity[segment] * np.log(household / 2.0).astype(np.float32)
                 + np.log(np.asarray([s.income_basket for s in segs], np.float32)[segment, income])).astype(np.float32)

    categories = _dirichlet(rng("categories"), np.asarray([s.categories for s in segs])[segment],
                            per_seg([s.category_precision for s in segs]))
    own_label = _beta(rng("own_label"), per_seg([s.own_label.mean for s in segs]),
                      per_seg([s.own_label.precision for s in segs]), n)

    m = rng("motivations")
    motiv = {}
    for name in ("outcome", "experience", "belonging", "reward_seeking", "privacy_concern"):
        dists = [getattr(s.motivations, name) for s in segs]
        motiv[name] = _beta(m, per_seg([d.mean for d in dists]), per_seg([d.precision for d in dists]), n)

    time_poor = rng("time_poor").random(n) < per_seg([s.time_poor_share for s in segs])
    pref = (per_seg([s.retailer_preference.mean for s in segs])
            + rng("retailer_preference").standard_normal(n) * per_seg([s.retailer_preference.sd for s in segs])).astype(np.float32)
    defect_rate = (1.0 - (1.0 - per_seg([s.defection_per_year for s in segs])) ** (1 / 365)).astype(np.float32)

    events = _draw_life_events(scenario, segment, replicate, n, days, rng)
    return Population(
        n=n, segment_names=[s.name for s in segs], segment=segment, household=household,
        children=children, income=income, retired=np.zeros(n, bool), need_rate=need_rate,
        weekday=weekday, hours=hours, basket_mu=basket_mu, basket_sd=basket_sd,
        categories=categories, own_label=own_label, outcome=motiv["outcome"],
        experience=motiv["experience"], belonging=motiv["belonging"],
        reward_seeking=motiv["reward_seeking"], privacy=motiv["privacy_concern"],
        time_poor=time_poor, preference=pref, defect_rate=defect_rate,
        consent_draw=rng("consent").random(n).astype(np.float32),
        join_taste=rng("join_taste").logistic(size=n).astype(np.float32),
        last_event_day=np.full(n, -1, np.int32), events=events,
        segment_base_mu=base_mu, segment_elasticity=elasticity,
        same_day_share=np.array([s.same_day_baskets.share if s.same_day_baskets else 0.0 for s in segs]),
        same_day_more=np.array([s.same_day_baskets.more if s.same_day_baskets else 0.0 for s in segs]),
        small_share=per_seg([s.small_baskets.share if s.small_baskets else 0.0 for s in segs]).astype(np.float32),
        small_shift=per_seg([s.small_baskets.log_ratio if s.small_baskets else 0.0 for s in segs]).astype(np.float32),
    )


def segment_sizes(shares: list[float], n: int) -> np.ndarray:
    """Customers per segment: shares of n rounded by largest remainder (sizes sum to n)."""
    exact = np.asarray(shares, float) / sum(shares) * n
    sizes = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[: n - sizes.sum()]] += 1
    return sizes


def _draw_life_events(scenario, segment, replicate, n, days, rng) -> LifeEventSchedule:
    """First occurrence of each event kind per customer within the run (rates are small)."""
    segs = scenario.population.segments
    g = rng("life_events")
    eff = rng("life_event_effects")
    day_l, cust_l, kind_l, fac_l = [], [], [], []
    for k, name in enumerate(LIFE_EVENTS):
        yearly = np.asarray([getattr(s.life_events, name) for s in segs])[segment]
        daily = 1.0 - (1.0 - yearly) ** (1 / 365)
        u = g.random(n)
        # Geometric waiting time by inversion, one uniform per customer and kind.
        with np.errstate(divide="ignore"):
            wait = np.floor(np.log1p(-u) / np.log1p(-np.minimum(daily, 1 - 1e-12)))
        wait = np.where(daily > 0, wait, np.inf)
        hit = np.flatnonzero(wait < days)
        v = eff.random(n)
        if name == "income_change":
            factor = np.where(v < 0.5, 0.8, 1.25)  # income falls or rises by about 20%
        elif name == "move":
            # A move redraws the base preference: a new nearest store.
            mean = np.asarray([s.retailer_preference.mean for s in segs])[segment]
            sd = np.asarray([s.retailer_preference.sd for s in segs])[segment]
            from scipy.special import ndtri
            factor = mean + sd * ndtri(np.clip(v, 1e-9, 1 - 1e-9))
        else:
            factor = np.ones(n)
        day_l.append(wait[hit].astype(np.int32))
        cust_l.append(hit.astype(np.int64))
        kind_l.append(np.full(hit.size, k, np.int8))
        fac_l.append(factor[hit].astype(np.float32))
    day = np.concatenate(day_l)
    order = np.lexsort((np.concatenate(cust_l), day))
    day = day[order]
    starts = np.searchsorted(day, np.arange(days + 1))
    return LifeEventSchedule(day=day, customer=np.concatenate(cust_l)[order],
                             kind=np.concatenate(kind_l)[order], factor=np.concatenate(fac_l)[order],
                             starts=starts)


def apply_life_events(pop: Population, day: int) -> np.ndarray:
    """Apply the day's life events to the true attributes; return the customers whose event took effect.

    Effects (assumptions): a new baby adds a person and a child, shifts spend toward drug/GM (nappies,
    baby care) and moves trips toward daytime; a child leaving removes one; a move redraws the base
    preference for this retailer (a different nearest store); an income change scales the basket by
    0.8 or 1.25; retirement ends time poverty and moves trips to weekday mornings.
    """
    s = pop.events.on(day)
    cust, kind, factor = pop.events.customer[s], pop.events.kind[s], pop.events.factor[s]
    if cust.size == 0:  # most days of a small population
        return cust
    took = np.zeros(cust.size, bool)
    for k, name in enumerate(LIFE_EVENTS):
        sel = kind == k
        c = cust[sel]
        if c.size == 0:
            continue
        if name == "new_baby":
            ok = (~pop.retired[c]) & (pop.household[c] < 5)
            c = c[ok]
            pop.household[c] += 1
            pop.children[c] += 1
            mix = pop.categories[c]
            mix[:, DRUG_GM] += 0.15
            pop.categories[c] = mix / mix.sum(axis=1, keepdims=True)
            hrs = pop.hours[c]
            hrs[:, 1:3] += 0.2
            pop.hours[c] = hrs / hrs.sum(axis=1, keepdims=True)
        elif name == "child_leaves":
            ok = pop.children[c] > 0
            c = c[ok]
            pop.household[c] -= 1
            pop.children[c] -= 1
        elif name == "move":
            ok = np.ones(c.size, bool)
            pop.preference[c] = factor[sel]
        elif name == "income_change":
            ok = np.ones(c.size, bool)
            pop.basket_mu[c] += np.log(factor[sel])
        else:  # retirement
            ok = ~pop.retired[c]
            c = c[ok]
            pop.retired[c] = True
            pop.time_poor[c] = False
            wk = pop.weekday[c]
            wk[:, :5] *= 1.3
            pop.weekday[c] = wk / wk.sum(axis=1, keepdims=True) * 7.0
            pop.need_by_weekday[:, c] = (pop.need_rate[c] * np.float32(pop.season)) * pop.weekday[c].T
            if pop.away is not None:
                pop.need_by_weekday[:, c[pop.away[c]]] = 0.0  # away this week: still no needs
            hrs = pop.hours[c]
            hrs[:, 1] += 0.3
            pop.hours[c] = hrs / hrs.sum(axis=1, keepdims=True)
        if name in ("new_baby", "child_leaves"):
            # Household size moves the basket through the segment's size elasticity.
            step = 1 if name == "new_baby" else -1
            before = (pop.household[c] - step).astype(np.float32)
            pop.basket_mu[c] += pop.segment_elasticity[pop.segment[c]] * np.log(pop.household[c] / before)
        took[np.flatnonzero(sel)[ok]] = True
    hit = cust[took]
    pop.last_event_day[hit] = day
    pop.refresh_mean_basket(hit)
    return hit
