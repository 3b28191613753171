"""What a replicate records as it runs, and the frames it is read out as: ``daily`` (metrics by arm, day
and segment), ``customers`` (each customer's final state) and the optional transaction log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loyaltysim.engine import behaviour, insight
from loyaltysim.engine.metrics import INDEX, INSIGHT_NAMES, RAW_NAMES
from loyaltysim.scenario.models import CATEGORIES


class Recorder:
    """Every arm's ledger at the end of every day: (arms, days, segments, metrics)."""

    def __init__(self, arm_names: tuple[str, ...], days: int, segment_names: list[str]) -> None:
        self.arm_names, self.segment_names = arm_names, segment_names
        self.history = np.zeros((len(arm_names), days, len(segment_names), len(RAW_NAMES)))

    def record(self, arm, day: int) -> None:
        self.history[self.arm_names.index(arm.name), day] = arm.ledger.values.T

    def daily(self) -> pd.DataFrame:
        """Raw daily metrics: one row per arm, day and segment (segments by name), plus segment 'all'."""
        frames = []
        for a, arm in enumerate(self.arm_names):
            h = self.history[a]                               # (days, S, M)
            allseg = h.sum(axis=1, keepdims=True)
            # Insight scores do not add across segments: 'all' is the customer-weighted mean.
            cust = h[:, :, INDEX["customers"]]
            total = cust.sum(axis=1, keepdims=True)
            w = np.divide(cust, total, out=np.zeros_like(cust), where=total > 0)
            for name in INSIGHT_NAMES:
                allseg[:, 0, INDEX[name]] = (h[:, :, INDEX[name]] * w).sum(axis=1)
            full = np.concatenate([allseg, h], axis=1)
            days, S1, M = full.shape
            df = pd.DataFrame(full.reshape(days * S1, M), columns=list(RAW_NAMES))
            df.insert(0, "segment", np.tile(["all"] + self.segment_names, days))
            df.insert(0, "day", np.repeat(np.arange(days), S1))
            df.insert(0, "arm", arm)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)


@dataclass
class TransactionLog:
    """Purchases of the scheme arm, one row each (kept only when asked for)."""

    customer_id: list
    day: list
    amount: list
    member: list
    linked: list
    reward_progress: list
    baskets: list

    @classmethod
    def empty(cls) -> "TransactionLog":
        return cls([], [], [], [], [], [], [])

    def add(self, arm, day: int, t: behaviour.Trips) -> None:
        """Today's trips of the scheme arm, as the till has settled them."""
        self.customer_id.append(t.idx.astype(np.int64))
        self.day.append(np.full(t.idx.size, day, np.int32))
        self.amount.append((t.value - t.discount).astype(np.float64))
        self.member.append(t.member.copy())
        self.linked.append(t.linked.copy())
        self.reward_progress.append(behaviour.progress(arm.mem, arm.rules, t.idx))
        self.baskets.append(t.baskets.astype(np.int16) if t.baskets is not None else np.ones(t.idx.size, np.int16))

    def frame(self) -> pd.DataFrame:
        cols = {k: np.concatenate(v) if v else np.array([]) for k, v in vars(self).items()}
        return pd.DataFrame(cols)


def customers_frame(model) -> pd.DataFrame:
    """Final per-customer state: true attributes, the business's estimates, membership, both arms."""
    pop = model.population
    sch, cf = model.arms
    mem = sch.mem
    day, lapse_days = model.day, model.spec.behaviour.lapse_days
    idx = np.arange(pop.n)
    est = insight.Estimator(model.spec, pop, sch, idx, max(day - 1, 0))
    mix = est.mix(model.priors.mix)
    df = pd.DataFrame({
        "customer_id": idx,
        "segment": np.asarray(pop.segment_names)[pop.segment],
        "household_size": pop.household, "children": pop.children,
        "income_band": pop.income, "time_poor": pop.time_poor, "retired": pop.retired,
        "need_rate_per_year": pop.need_rate * 365.0,
        "basket_log_mu": pop.basket_mu, "basket_log_sd": pop.basket_sd,
        "mean_basket": pop.mean_basket, "own_label_share": pop.own_label,
        "outcome": pop.outcome, "experience": pop.experience, "belonging": pop.belonging,
        "reward_seeking": pop.reward_seeking, "privacy_concern": pop.privacy,
        "preference": pop.preference, "last_life_event_day": pop.last_event_day,
        "member": mem.member, "ever_member": mem.ever_joined, "join_day": np.where(mem.member, mem.join_day, -1),
        "consent": mem.consent, "points": mem.points, "tier": mem.tier, "stamps": mem.stamps,
        "satisfaction": mem.satisfaction, "dormant": mem.dormant, "aware": mem.aware,
        "reference_share": mem.reference, "felt_value": mem.recent,
        "est_own_label_share": est.own_label(model.priors.own),
        "est_basket_log_mu": est.log_basket(model.priors.log_basket),
        "insight_accuracy": mem.acc_mean, "life_event_detected_day": mem.detected_day,
        "tenure_days": np.where(mem.member, day - mem.join_day, 0),
        "visits_scheme": sch.shop.visits, "spend_scheme": sch.shop.spend,
        "visits_counterfactual": cf.shop.visits, "spend_counterfactual": cf.shop.spend,
        # Share of wallet, as the share of shopping trips brought here.
        "trip_share_scheme": _share(sch.shop.visits, sch.shop.needs),
        "trip_share_counterfactual": _share(cf.shop.visits, cf.shop.needs),
        "lapsed_scheme": day - sch.shop.last_visit >= lapse_days,
        "lapsed_counterfactual": day - cf.shop.last_visit >= lapse_days,
        "defection_day_scheme": sch.shop.defect_day, "defection_day_counterfactual": cf.shop.defect_day,
    })
    for k, cat in enumerate(CATEGORIES):
        df[f"share_{cat}"] = pop.categories[:, k]
        df[f"est_share_{cat}"] = mix[:, k]
    return df


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.divide(part, whole, out=np.zeros(part.shape), where=whole > 0)
