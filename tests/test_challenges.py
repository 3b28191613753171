"""Personalised challenges, a mechanic added through the mechanic interface alone: aimed from what the
business believes, paid once on reaching the target, pulling members while open, closed on leaving."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import scenario, shipped

from loyaltysim.engine import insight
from loyaltysim.engine.mechanics import enrolment
from loyaltysim.engine.mechanics.challenges import MIN_OBSERVED_DAYS, Challenges
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY
from loyaltysim.errors import ScenarioError

# Points rewards out of reach: every reward cost and reward taken in these runs is a challenge's voucher.
UNREACHABLE = {"scheme.points.rewards": [{"name": "far", "kind": "voucher", "points": 1e9, "face_value": 5}]}
VOUCHER = 1.5


def challenge_model(days: int = 60, data: dict | None = None, **settings) -> LoyaltyModel:
    """The supermarket card with challenges and members from day 0 (``data``: more overrides)."""
    overrides = {**UNREACHABLE, "scheme.enrolment.initial_members": 0.6, "customers": 3000, "days": days,
                 **(data or {}),
                 **{f"scheme.challenges.{k}": v for k, v in {"voucher": VOUCHER, **settings}.items()}}
    return LoyaltyModel(shipped("supermarket_points", overrides))


def mechanic(model: LoyaltyModel) -> Challenges:
    return next(m for m in model.arms[0].mechanics if isinstance(m, Challenges))


def test_a_scheme_without_challenges_runs_no_challenge_and_adds_no_utility():
    model = LoyaltyModel(shipped("supermarket_points", {"customers": 500, "days": 5}))
    model.run()
    arm = model.arms[0]
    assert not any(isinstance(m, Challenges) for m in arm.mechanics)
    assert arm.mem.extra_utility.size == 0


def test_challenges_are_aimed_from_what_the_business_believes_not_from_the_truth():
    # Sharing transactions is optional and costs privacy, so some members decline; nobody withdraws.
    optional = {"scheme.data.required": [], "scheme.data.requested": ["transactions"],
                "scheme.data.privacy_cost_per_year": {"transactions": 5.0},
                "scheme.data.consent_withdrawal_per_year": 0.0}
    model = challenge_model(data=optional, every_days=28, stretch=2.0, min_target=3.0)
    for _ in range(29):  # day 28 sets challenges from four weeks of observed data
        model.step()
    arm, mech, day = model.arms[0], mechanic(model), 28
    mem = arm.mem
    consenting = mem.member & ((mem.consent & CONSENT_BIT["transactions"]) > 0)
    open_ = mech.until >= day
    assert open_[mem.member & ~consenting].sum() == 0 and (mem.member & ~consenting).sum() > 100
    # Those paid or closed today have until = NO_DAY; every other consenting member holds one from today.
    held = np.flatnonzero(consenting & open_)
    assert held.size > 0.5 * consenting.sum()
    top = insight.believed_top_category(model.spec, model.population, arm, model.priors)(held, day)
    np.testing.assert_array_equal(mech.category[held], top)
    per_day = mem.obs_cat[held, top] / np.maximum(day - mem.join_day[held], MIN_OBSERVED_DAYS)
    np.testing.assert_allclose(mech.target[held], np.maximum(3.0, 2.0 * per_day * 14), rtol=1e-6)
    # The true favourite category differs from the believed one for some members: the aim is the belief.
    assert (model.population.categories[held].argmax(axis=1) != top).any()


def test_reaching_the_target_pays_the_voucher_once_and_books_it_as_a_reward():
    model = challenge_model(days=70, every_days=28)
    mech = mechanic(model)
    paid = []  # (day, members paid)
    pay = mech._pay
    mech._pay = lambda idx, day: (paid.append((day, idx.copy())), pay(idx, day))[1]
    model.run()
    per_day = np.zeros(model.spec.days)
    for day, idx in paid:
        per_day[day] += idx.size
    assert per_day.sum() > 100
    daily = model.daily()
    scheme = daily[(daily.arm == "scheme") & (daily.segment == "all")]
    np.testing.assert_allclose(scheme.rewards_redeemed.to_numpy(), per_day)
    np.testing.assert_allclose(scheme.reward_cost.to_numpy(), VOUCHER * per_day)
    for period in range(3):  # one payment per member per challenge
        members = np.concatenate([idx for day, idx in paid if day // 28 == period] or [np.zeros(0, int)])
        assert members.size == np.unique(members).size


@pytest.mark.parametrize("replicate", [0, 1])
def test_an_open_challenge_pulls_members_to_shop_here(replicate):
    visits = {}
    for pull in (0.0, 1.0):
        model = LoyaltyModel(challenge_model(days=56, pull=pull).spec, replicate)
        model.run()
        visits[pull] = model.arms[0].shop.visits.sum()
    # Same draws: without the pull the two runs differ only through the pull's store choices.
    assert visits[1.0] > visits[0.0]


def test_leaving_the_scheme_closes_the_challenge_and_its_pull():
    model = challenge_model()
    model.step()
    mech = mechanic(model)
    held = np.flatnonzero(mech.until >= 0)
    assert held.size and (mech.utility[held] > 0).any()
    enrolment.leave(model.arms[0], held[:50])
    assert (mech.until[held[:50]] == NO_DAY).all() and (mech.utility[held[:50]] == 0).all()


def test_bonus_points_without_points_are_refused_in_one_line():
    with pytest.raises(ScenarioError, match="challenges.bonus_points needs points"):
        scenario(overrides={"scheme.points": None, "scheme.expiry": None, "scheme.tiers": None,
                            "scheme.membership": None, "scheme.challenges.bonus_points": 100})
    with pytest.raises(ScenarioError, match="needs a bonus"):
        scenario(overrides={"scheme.challenges.pull": 0.5})
