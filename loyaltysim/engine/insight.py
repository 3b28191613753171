"""What the business learns about members, how good that knowledge is, and what it is worth.

The business keeps, per member, sums of what it has observed in linked, consented transactions. Its
estimate of each hidden attribute shrinks those observations toward the population average with
``prior_strength`` pseudo-trips; confidence in old observations halves every
``staleness_half_life_days`` without new data; withdrawing consent deletes the profile.

Insight per dimension (population or segment) = 1 - sum of estimate errors / sum of the errors of
knowing only the population average, over every customer still shopping: a customer the business has
no data on contributes the average's error, so coverage is built in. Life-change insight is the share
of recent life events detected, discounted by how long detection took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loyaltysim.engine import kernels
from loyaltysim.engine.population import INDULGENCE, Population
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY
from loyaltysim.scenario.models import INSIGHT_DIMENSIONS, MAX_DAYS, Scenario

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm as Arm

LIFE_EVENT_WINDOW_DAYS = 180
"""Life events this recent count toward life-change insight."""
DETECTION_TIME_SCALE_DAYS = 60.0
"""A detection this many days late is worth 1/e of an immediate one. Assumption."""


def learn(sc: Scenario, pop: Population, arm: Arm, idx: np.ndarray, value: np.ndarray, split: np.ndarray,
          own: np.ndarray, band: np.ndarray, weekday: int, day: int) -> None:
    """Record linked trips of consenting members ``idx``; app users reveal their routines twice as well."""
    mem = arm.mem
    found = np.empty(idx.size, np.intp)
    k = kernels.learn_trips(day, weekday, sc.business.insight.life_event_detection_trips, CONSENT_BIT["transactions"],
                            CONSENT_BIT["app"], CONSENT_BIT["demographics"], idx, value, split, own, band,
                            np.log(np.maximum(value, 1e-3)), mem.consent, mem.obs_trips, mem.obs_last, mem.obs_cat,
                            mem.obs_dow, mem.obs_hour, mem.obs_own, mem.obs_logb, pop.last_event_day,
                            mem.detected_day, mem.event_seen, mem.family_told, pop.household, found)
    arm.ledger.add("life_events_detected", found[:k], 1.0)


def on_life_events(arm: Arm, idx: np.ndarray) -> None:
    """A new life event restarts the count of trips seen since it."""
    arm.mem.event_seen[idx] = 0


_HALVINGS: dict[float, np.ndarray] = {}
"""``0.5 ** (age / half_life)`` as float32 for every whole age in days from 0, by half-life."""


def freshness(half_life: float, last_seen: np.ndarray, day: int) -> np.ndarray:
    """Weight (float32) of observations last made on days ``last_seen`` (NO_DAY: never): halved every
    ``half_life`` days of age. Ages are whole days, so the weights are looked up in a table made by the
    same numpy expression, once, rather than raised to a power per customer."""
    seen = last_seen != NO_DAY
    age = np.where(seen, np.maximum(day - last_seen, 0), 0)
    table = _HALVINGS.get(half_life)
    if table is None or table.size <= age.max(initial=0):
        table = (0.5 ** (np.arange(max(MAX_DAYS, day) + 1) / half_life)).astype(np.float32)
        _HALVINGS[half_life] = table
    fresh = table[age]
    fresh[~seen] = 0
    return fresh


class Estimator:
    """The business's estimates for some customers on some day (shrunk, staleness-weighted)."""

    def __init__(self, sc: Scenario, pop: Population, arm: Arm, idx: np.ndarray, day: int) -> None:
        ins = sc.business.insight
        mem = arm.mem
        self.k = ins.prior_strength
        self.fresh = freshness(ins.staleness_half_life_days, mem.obs_last[idx], day)
        self.n = mem.obs_trips[idx] * self.fresh
        self.mem, self.idx, self.pop = mem, idx, pop

    def _blend(self, prior, observed, weight):
        k = self.k
        if np.ndim(observed) == 2:
            return (k * prior + weight[:, None] * observed) / (k + weight)[:, None]
        return (k * prior + weight * observed) / (k + weight)

    @staticmethod
    def _norm(rows):
        tot = rows.sum(axis=1, keepdims=True)
        return np.divide(rows, tot, out=np.zeros_like(rows), where=tot > 0)

    def mix(self, prior):
        return self._blend(prior, self._norm(self.mem.obs_cat[self.idx]), self.n)

    def weekday(self, prior):
        counts = self.mem.obs_dow[self.idx].astype(np.float32)
        return self._blend(prior, self._norm(counts), counts.sum(axis=1) * self.fresh)

    def hours(self, prior):
        counts = self.mem.obs_hour[self.idx].astype(np.float32)
        return self._blend(prior, self._norm(counts), counts.sum(axis=1) * self.fresh)

    def own_label(self, prior):
        spend = self.mem.obs_cat[self.idx].sum(axis=1)
        obs = np.divide(self.mem.obs_own[self.idx], spend, out=np.zeros_like(spend), where=spend > 0)
        return self._blend(prior, obs, self.n)

    def log_basket(self, prior):
        trips = self.mem.obs_trips[self.idx]
        obs = np.divide(self.mem.obs_logb[self.idx], trips, out=np.zeros_like(trips), where=trips > 0)
        return self._blend(prior, obs, self.n)


class Priors:
    """Population averages: what the business assumes of a customer it knows nothing about.

    Also caches each customer's error under that assumption (``base_err``, 7 x n), refreshed for the
    customers whose true attributes a life event changed.
    """

    def __init__(self, pop: Population) -> None:
        self.mix = pop.categories.mean(axis=0)
        self.weekday = (pop.weekday.mean(axis=0) / 7.0).astype(np.float32)
        self.hours = pop.hours.mean(axis=0)
        self.own = float(pop.own_label.mean())
        self.log_basket = float(pop.mean_log_basket().mean())
        self.family = float(pop.household.mean())
        self.base_err = prior_errors(pop, self, np.arange(pop.n)).astype(np.float32)

    def refresh(self, pop: Population, idx: np.ndarray) -> None:
        if idx.size:
            self.base_err[:, idx] = prior_errors(pop, self, idx)


def _tv(a, b) -> np.ndarray:
    return 0.5 * np.abs(a - b).sum(axis=1)


def errors(sc: Scenario, pop: Population, arm: Arm, priors: Priors, idx: np.ndarray, day: int) -> np.ndarray:
    """(7, len(idx)) estimate errors of the non-life dimensions for customers ``idx``."""
    est = Estimator(sc, pop, arm, idx, day)
    mix = est.mix(priors.mix)
    logb = est.log_basket(priors.log_basket)
    told = arm.mem.family_told[idx]
    elasticity = np.maximum(pop.segment_elasticity[pop.segment[idx]], 0.05)
    inferred = np.clip(2.0 * np.exp((logb - pop.segment_mean_log_base()[pop.segment[idx]]) / elasticity), 1, 5)
    family = np.where(told > 0, told, est._blend(priors.family, inferred, est.n))
    return np.stack([
        _tv(mix, pop.categories[idx]),
        _tv(est.weekday(priors.weekday), pop.weekday[idx] / 7.0),
        _tv(est.hours(priors.hours), pop.hours[idx]),
        np.abs(est.own_label(priors.own) - pop.own_label[idx]),
        np.abs(logb - pop.mean_log_basket()[idx]),
        np.abs(mix[:, INDULGENCE] - pop.categories[idx, INDULGENCE]),
        np.abs(family - pop.household[idx]),
    ])


def errors_compiled(sc: Scenario, pop: Population, arm: Arm, priors: Priors, idx: np.ndarray, day: int) -> np.ndarray:
    """:func:`errors` (as float32) by compiled kernels: one pass over the customers instead of a few dozen
    array operations on their gathered rows."""
    ins, mem = sc.business.insight, arm.mem
    k = ins.prior_strength
    fresh = freshness(ins.staleness_half_life_days, mem.obs_last[idx], day)
    err = np.empty((len(INSIGHT_DIMENSIONS) - 1, idx.size), np.float32)
    log_size = np.empty(idx.size, np.float32)
    kernels.estimate_errors(idx, fresh, k, k * priors.own, k * priors.log_basket, priors.mix, priors.weekday,
                            priors.hours, INDULGENCE, mem.obs_trips, mem.obs_cat, mem.obs_dow, mem.obs_hour,
                            mem.obs_own, mem.obs_logb, pop.categories, pop.weekday, pop.hours, pop.own_label,
                            pop.mean_log_basket(), pop.segment, pop.segment_mean_log_base(), pop.segment_elasticity,
                            err, log_size)
    inferred = np.clip(2.0 * np.exp(log_size), 1, 5)  # numpy's exp, as errors
    kernels.family_errors(idx, fresh, k, k * priors.family, mem.obs_trips, inferred, mem.family_told, pop.household,
                          err)
    return err


def prior_errors(pop: Population, priors: Priors, idx: np.ndarray) -> np.ndarray:
    """(7, len(idx)) errors of knowing only the population average."""
    return np.stack([
        _tv(priors.mix[None, :], pop.categories[idx]),
        _tv(priors.weekday[None, :], pop.weekday[idx] / 7.0),
        _tv(priors.hours[None, :], pop.hours[idx]),
        np.abs(priors.own - pop.own_label[idx]),
        np.abs(priors.log_basket - pop.mean_log_basket()[idx]),
        np.abs(priors.mix[INDULGENCE] - pop.categories[idx, INDULGENCE]),
        np.abs(priors.family - pop.household[idx]),
    ])


def snapshot(sc: Scenario, pop: Population, arm: Arm, priors: Priors, day: int) -> None:
    """Recompute insight scores by segment, and each member's accuracy (which drives offers and data revenue)."""
    mem = arm.mem
    S = arm.ledger.n_segments
    alive_mask = arm.shop.alive
    known = alive_mask & mem.member & ((mem.consent & CONSENT_BIT["transactions"]) > 0)
    kidx = np.flatnonzero(known)
    kerr = errors_compiled(sc, pop, arm, priors, kidx, day)
    D = priors.base_err.shape[0]
    e, b, base_sum = np.zeros((D, S)), np.zeros((D, S)), np.zeros(D, np.float32)
    n_alive = kernels.insight_sums(alive_mask, known, kerr, priors.base_err, pop.segment, e, b, base_sum)
    scores = np.zeros((len(INSIGHT_DIMENSIONS), S))
    for d in range(D):
        scores[d] = np.clip(1.0 - np.divide(e[d], b[d], out=np.ones(S), where=b[d] > 0), 0.0, 1.0)
    scores[-1] = _life_change_scores(pop, arm, alive_mask, day, S)
    arm.insight = scores
    # Per-member accuracy, with the error normalised by at least half the average prior error.
    if kidx.size == 0:
        mem.acc_what[:] = 0
        mem.acc_mean[:] = 0
        return
    half_mean = 0.5 * (base_sum / n_alive)
    mem.acc_what[:] = 0
    mem.acc_mean[:] = 0
    kernels.member_accuracy(kidx, kerr, priors.base_err, half_mean, mem.acc_what, mem.acc_mean)


def _life_change_scores(pop: Population, arm: Arm, alive: np.ndarray, day: int, S: int) -> np.ndarray:
    """By segment, how soon the business detected living customers' (``alive``: a mask) recent life
    events: exp(-delay / scale) averaged over events at most LIFE_EVENT_WINDOW_DAYS old (0 for one not yet
    detected)."""
    idx, delay, found = kernels.recent_life_events(day, LIFE_EVENT_WINDOW_DAYS, alive, pop.last_event_day,
                                                   arm.mem.detected_day)
    score = np.where(found, np.exp(-delay / DETECTION_TIME_SCALE_DAYS), 0.0)
    seg = pop.segment[idx]
    num = np.bincount(seg, score, minlength=S)
    den = np.bincount(seg, minlength=S)
    return np.divide(num, den, out=np.zeros(S), where=den > 0)


def believed_top_category(sc: Scenario, pop: Population, arm: Arm, priors: Priors):
    """A function giving the category the business believes members buy most (for choosing offers): the
    largest share of :meth:`Estimator.mix`, by a compiled pass rather than the whole mix in numpy."""
    def top(idx: np.ndarray, day: int) -> np.ndarray:
        est = Estimator(sc, pop, arm, idx, day)
        out = np.empty(idx.size, np.int8)
        kernels.top_categories(idx, est.n, est.k, priors.mix, arm.mem.obs_cat, out)
        return out
    return top


def value(sc: Scenario, pop: Population, arm: Arm, members: np.ndarray) -> None:
    """A day's supplier data revenue from profiled members (more for third-party consent)."""
    ins = sc.business.insight
    mem = arm.mem
    revenue = np.zeros(arm.ledger.n_segments)
    kernels.data_revenue(members, pop.segment, mem.consent, CONSENT_BIT["third_party"], ins.third_party_multiplier,
                         ins.data_revenue_per_member_per_year / 365, mem.acc_mean, revenue)
    arm.ledger.add_by_segment("data_revenue", revenue)


def cost_savings(sc: Scenario, arm: Arm, idx: np.ndarray, value_: np.ndarray) -> None:
    """Forecasting and waste savings on linked member sales, in proportion to what is known of them."""
    share = sc.business.insight.cost_saving_share_of_sales
    arm.ledger.add("cost_savings", idx, share * value_ * arm.mem.acc_mean[idx])
