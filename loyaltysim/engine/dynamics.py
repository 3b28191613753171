"""Customers over time: habits that drift, the seasons of the year, spells away, and customers who arrive
during the run. All act on the shared population, so both arms see them alike (common random numbers hold), and
none does anything unless the scenario asks for it.

Arrivals: the population is drawn with room for them (``Scenario.arrivals`` more customers, from the
same segments); which of them arrive, and on which day after the first, is drawn once per replicate.
Until their day they are not customers of either arm.

Drift: each customer's log need rate is their own level plus a deviation that follows a mean-reverting
(Ornstein-Uhlenbeck) process with time scale ``tau`` and long-run sd ``sigma``, stepped weekly and exactly:
``dev' = a dev + sigma sqrt(1 - a^2) z`` with ``a = exp(-7 / tau)``. Deviations start in the long run's
distribution, and the rate is ``level * exp(dev - sigma^2 / 2)``, so the population's mean rate is the
level's: drift moves who shops how often, not how much shopping there is.

Lapses: a customer who is not away starts a spell away with weekly chance ``1 - exp(-7 r / 365)`` (``r``
spells a year) and one who is away comes back with weekly chance ``1 - exp(-7 / m)`` (mean spell ``m``
days); while away they have no needs, at this retailer or any other, and keep everything else (points,
membership, habit). The run starts in the process's long-run state (a share ``r m / (365 + r m)`` away),
as a panel observed mid-history is.
"""

from __future__ import annotations

import numpy as np

from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import population_rng
from loyaltysim.scenario.models import Scenario

DRIFT_EVERY_DAYS = 7
"""Need rates drift in weekly steps (a week is the finest grain panel persistence is measured at)."""


class Dynamics:
    """Drift of need rates and the calendar's seasons for one replicate's population."""

    def __init__(self, scenario: Scenario, pop: Population, replicate: int) -> None:
        self.calendar = scenario.calendar
        segs = scenario.population.segments
        drift = [s.need_drift for s in segs]
        self.drifts = any(d is not None and d.sd > 0 for d in drift)
        if self.drifts:
            per_seg = lambda values: np.asarray(values, np.float64)[pop.segment]  # noqa: E731
            self.sigma = per_seg([d.sd if d else 0.0 for d in drift])
            self.a = per_seg([np.exp(-DRIFT_EVERY_DAYS / d.time_scale_days) if d else 1.0 for d in drift])
            self.level = pop.need_rate.astype(np.float64)
            self.rng = population_rng(scenario.seed, replicate, "need_drift")
            self.dev = self.sigma * self.rng.standard_normal(pop.n)
            self.shock = self.sigma * np.sqrt(1.0 - self.a ** 2)  # a week's innovation sd
            self.half_var = 0.5 * self.sigma ** 2
        lapses = [s.lapses for s in segs]
        self.lapses = any(lp is not None and lp.per_year > 0 for lp in lapses)
        if self.lapses:
            per_seg = lambda values: np.asarray(values, np.float64)[pop.segment]  # noqa: E731
            rate = per_seg([lp.per_year / 365.0 if lp else 0.0 for lp in lapses])
            mean = per_seg([lp.mean_days if lp else 1.0 for lp in lapses])
            self.p_lapse = -np.expm1(-DRIFT_EVERY_DAYS * rate)
            self.p_return = -np.expm1(-DRIFT_EVERY_DAYS / mean)
            self.lapse_rng = population_rng(scenario.seed, replicate, "lapses")
            self.away = pop.away = self.lapse_rng.random(pop.n) < rate * mean / (1.0 + rate * mean)
        if self.active:
            self._refresh(pop, 0)
        self.arrival_day = np.full(pop.n, -1, np.int32)  # -1: a customer from the start
        self.later = np.zeros(0, np.intp)                 # customers who arrive after day 0, by arrival day
        if scenario.arrivals:
            g = population_rng(scenario.seed, replicate, "arrivals")
            who = g.choice(pop.n, scenario.arrivals, replace=False)
            day = g.integers(1, max(scenario.days, 2), scenario.arrivals)
            order = np.argsort(day, kind="stable")
            self.later, self.arrival_day[who] = who[order], day
            self._first = np.searchsorted(day[order], np.arange(scenario.days + 1))

    def arriving(self, day: int) -> np.ndarray:
        """Customers who arrive on ``day`` (none on day 0: the starting customers are there)."""
        if self.later.size == 0 or day == 0:
            return self.later[:0]
        return self.later[self._first[day]:self._first[day + 1]]

    @property
    def active(self) -> bool:
        return self.drifts or self.lapses or self.calendar is not None

    def step(self, pop: Population, day: int) -> bool:
        """At the start of ``day``: a week's drift, spells away and the week's season, every seventh day.
        Returns whether need rates moved (what depends on them, such as habit memory, follows)."""
        if not self.active or day == 0 or day % DRIFT_EVERY_DAYS:
            return False
        if self.drifts:
            z = self.rng.standard_normal(pop.n)
            np.multiply(self.a, self.dev, out=self.dev)  # in place: a million customers, every week
            z *= self.shock
            self.dev += z
        if self.lapses:
            u = self.lapse_rng.random(pop.n)
            self.away = pop.away = np.where(self.away, u >= self.p_return, u < self.p_lapse)
        self._refresh(pop, day)
        return self.drifts

    def _refresh(self, pop: Population, day: int) -> None:
        if self.drifts:
            rate = self.dev - self.half_var
            np.exp(rate, out=rate)
            rate *= self.level
            pop.need_rate[:] = rate
        pop.season = self.calendar.factor(day) if self.calendar is not None else 1.0
        today = pop.need_rate * np.float32(pop.season)
        if self.lapses:
            today[self.away] = 0.0  # away this week: no needs
        np.multiply(today, pop.weekday.T, out=pop.need_by_weekday)
