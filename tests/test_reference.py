"""The vectorised model against the per-agent Mesa reference (loyaltysim.reference.model).

Both models start from the same customers (the same synthesised population) and the same day-0
members, and apply the same rules, each with its own random numbers for every decision, so they must
agree in distribution. Every comparison is a z-test whose standard error comes from the sample itself
(n customers), at a per-check two-sided significance ALPHA; the runs are seeded, so each check is
deterministic: it fails when a rule differs enough to show at this sample size, not by chance on a rerun.

Size: 10,000 customers for 120 days, both arms of the reference, plus a stress scenario and an
expiry scenario at 10,000 customers for 80-90 days, scheme arm (about 55 s in all on one core).
Most checks pair each customer's figure in the two models (same customer, independent draws), which
removes the between-customer heterogeneity from the standard error and makes them sensitive; flows the
vectorised model books by segment only (going dormant, value above and below the reference, choice
surplus) are compared as totals, with the reference's per-customer standard error for both.

Breaking one rule of the reference at a time fails these tests for: earn rounding, weekday weights,
goal-gradient pull and acceleration, basket spread, members' effort and privacy cost, the privacy cost
in the value of joining, its value scale, the join rate per visit, joining without awareness,
marketing's awareness, the lasting taste (dropped, or drawn afresh each visit), referral joins of
customers for whom joining is not worth it, referrals, a new member's averages and reference (and the
card presentation in it), points valued at redemption rather than when earned, expired points not felt
as a loss, loss aversion, the reference's scale, a reference that does not adapt (or not as a running
mean at first, or as one from day 0 rather than from joining), the rival's pull on it, satisfaction's
logit (twice the felt value), felt value in store choice and in defection (a dormant member's kept), the
choice surplus (its terms), dormancy (its rate and its dependence on satisfaction), a dormant member
presenting the card, and leaving the scheme. Too small to show at this size: the time-poor skipping the
card, habit memory, a voucher's pull on the next trip alone (rewarded behaviour), a dormant member
choosing as a member, coming back from dormancy, consent withdrawal ending membership, the join
threshold off by half a logit, the privacy cost counted as presented in a new member's reference, the
floor of the utility of money, a leaver's forfeited points felt (they matter only to one who rejoins
within the week), several rewards redeemed at once (it needs one basket worth two rewards) and expiry
one period (1/13 of the age) early or late.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import mesa
import numpy as np
import pytest
from helpers import base_data, shipped
from scipy import stats

from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.reference.model import ReferenceModel, check_supported, reference_scenario
from loyaltysim.scenario.loading import validate
from loyaltysim.scenario.models import LIFE_EVENTS

N = 10_000
DAYS = 120
ALPHA = 1e-4
"""Per-check two-sided significance (about 40 checks: a family-wise rate near 4e-3)."""
Z = stats.norm.isf(ALPHA / 2)
KS_ALPHA = 1e-3
"""Significance of the two-sample Kolmogorov-Smirnov test of visits per customer."""

NO_LIFE_EVENTS = {e: 0.0 for e in LIFE_EVENTS}

# A points card that makes every implemented rule matter within a few months: a reward worth a
# third of a basket (so the goal gradient pulls), a fifth of customers members on day 0, awareness
# growing in store and by marketing (a third of customers still unaware at the end), a join threshold
# that some aware customers do not clear, a rival's rewards raising references, dormancy and coming
# back, leaving, consent withdrawal (which ends membership), referrals and defection switched on.
SCENARIO = {
    "name": "reference",
    "customers": N,
    "days": DAYS,
    "replications": 1,
    "seed": 2024,
    "start_weekday": "thu",
    "population": {"segments": [
        {"name": "a", "share": 0.6, "life_events": NO_LIFE_EVENTS},
        {"name": "b", "share": 0.4, "time_poor_share": 0.7, "basket_log_mu": 2.5,
         "defection_per_year": 0.3, "life_events": NO_LIFE_EVENTS,
         "motivations": {"reward_seeking": {"mean": 0.8}, "belonging": {"mean": 0.7}}},
    ]},
    "scheme": {
        "points": {"earn_per_unit": 1.0, "rewards": [
            {"name": "voucher_300", "kind": "voucher", "points": 300, "face_value": 6.0,
             "perceived_ratio": 1.5}]},
        "enrolment": {"initial_members": 0.2, "join_rate_per_visit": 0.05, "leave_rate_per_year": 0.5,
                      "referral_rate_per_year": 2.0, "friction_per_visit": 0.3, "awareness_per_visit": 0.05,
                      "awareness_per_year": 0.5, "join_threshold": 1.0, "dormancy_per_year": 0.5},
        "data": {"privacy_cost_per_year": {"transactions": 20.0}},
    },
    "competition": {"reward_rate": 0.01},
}


def make(data: dict, **top):
    data = copy.deepcopy(data)
    data.update(top)
    return validate(data, "<test>")


def paired_z(a, b) -> float:
    """z of the mean per-customer difference a - b (customers independent, each seen in both models)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    return float(d.mean() / (d.std(ddof=1) / np.sqrt(d.size)))


def ratio_and_se(num, den) -> tuple[float, float]:
    """Ratio of totals and its delta-method standard error over independent customers."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    r = num.sum() / den.sum()
    return r, float(np.sqrt(((num - r * den) ** 2).sum()) / den.sum())


def scheme_totals(model: LoyaltyModel):
    d = model.daily()
    return d[(d.arm == "scheme") & (d.segment == "all")]


def total_z(per_customer_ref, total_vec) -> float:
    """z of the reference's total of a per-customer figure against the vectorised total, whose standard
    error is taken to be the reference's (same design and size): sqrt(2) times it."""
    x = np.asarray(per_customer_ref, float)
    return float((x.sum() - total_vec) / (np.sqrt(2) * x.std(ddof=1) * np.sqrt(x.size)))


def run_vectorised(sc):
    """LoyaltyModel run, with each customer's linked sales in the scheme arm (which its customers frame
    does not hold), counted from the day's trips."""
    model = LoyaltyModel(sc)
    linked = np.zeros(sc.customers)

    def count(arm, day, weekday, trips):
        if arm == "scheme":
            np.add.at(linked, trips.idx[trips.linked], trips.value[trips.linked])

    model.trip_observers.append(count)
    return model.run(), linked


def final_state(customers):
    """Each customer's end of the run in either model: still here, aware of the scheme (among those still
    here: the vectorised model's marketing reaches those who have left too, to no effect), dormant, and
    the reference of members."""
    alive = customers.alive if "alive" in customers else customers.defection_day_scheme < 0
    reference = customers.reference if "reference" in customers else customers.reference_share
    return SimpleNamespace(alive=alive, aware=customers.aware & alive, dormant=customers.dormant,
                           reference=reference.where(customers.member, 0.0))


@pytest.fixture(scope="module")
def runs():
    sc = make(SCENARIO)
    vec, linked = run_vectorised(sc)
    ref = ReferenceModel(sc).run()
    ref_cf = ReferenceModel(sc, with_scheme=False).run()
    return SimpleNamespace(sc=sc, vec=vec.customers(), vec_daily=scheme_totals(vec), vec_linked=linked,
                           taste=vec.population.join_taste.astype(float), ref=ref.customers(),
                           ref_daily=ref.daily(), ref_cf=ref_cf.customers(), ref_model=ref)


def test_mean_daily_visits_per_customer_agree(runs):
    z = paired_z(runs.ref.visits / DAYS, runs.vec.visits_scheme / DAYS)
    assert abs(z) < Z, f"scheme arm visits/day: reference {runs.ref.visits.mean() / DAYS:.4f}, " \
                       f"vectorised {runs.vec.visits_scheme.mean() / DAYS:.4f} (z={z:.2f})"


def test_mean_daily_sales_per_customer_agree(runs):
    z = paired_z(runs.ref.spend / DAYS, runs.vec.spend_scheme / DAYS)
    assert abs(z) < Z, f"scheme arm sales/day: reference {runs.ref.spend.mean() / DAYS:.3f}, " \
                       f"vectorised {runs.vec.spend_scheme.mean() / DAYS:.3f} (z={z:.2f})"


def test_counterfactual_visits_and_the_schemes_effect_agree(runs):
    z_cf = paired_z(runs.ref_cf.visits, runs.vec.visits_counterfactual)
    assert abs(z_cf) < Z, f"counterfactual visits: z={z_cf:.2f}"
    # The scheme's effect on each customer's visits (scheme arm minus counterfactual).
    effect_ref = runs.ref.visits - runs.ref_cf.visits
    effect_vec = runs.vec.visits_scheme - runs.vec.visits_counterfactual
    z = paired_z(effect_ref, effect_vec)
    assert abs(z) < Z, f"visits effect per customer: reference {effect_ref.mean():.3f}, " \
                       f"vectorised {effect_vec.mean():.3f} (z={z:.2f})"


def test_members_at_the_end_agree(runs):
    ref, vec = runs.ref.member, runs.vec.member
    assert 0.3 < vec.mean() < 0.95  # joining, leaving and defection all moved membership
    z = paired_z(ref, vec)
    assert abs(z) < Z, f"members at the end: reference {ref.sum()}, vectorised {vec.sum()} (z={z:.2f})"
    assert runs.ref_daily.members.iloc[-1] == ref.sum()


def test_who_joins_agrees(runs):
    """Customers who were ever members, and the same weighted by their lasting taste for schemes (the
    day-0 members are the same in both models: the difference is who joined, and the taste shows whether
    the right customers did)."""
    taste = runs.taste
    for name, a, b in (("ever members", runs.ref.ever_member, runs.vec.ever_member),
                       ("ever members x taste", runs.ref.ever_member * taste, runs.vec.ever_member * taste)):
        z = paired_z(a, b)
        assert abs(z) < Z, f"{name}: reference {np.mean(a):.4f}, vectorised {np.mean(b):.4f} (z={z:.2f})"


def test_awareness_dormancy_and_references_at_the_end_agree(runs):
    """Who has heard of the scheme, who has stopped presenting the card, and the value share of spend
    members have come to expect."""
    ref, vec = final_state(runs.ref), final_state(runs.vec)
    assert 0.3 < vec.aware.sum() / vec.alive.sum() < 0.9 and vec.dormant.sum() > 200
    for name in ("aware", "dormant", "reference"):
        a, b = getattr(ref, name), getattr(vec, name)
        z = paired_z(a, b)
        assert abs(z) < Z, f"{name} at the end: reference {np.mean(a):.5f}, vectorised {np.mean(b):.5f} (z={z:.2f})"
    c = runs.ref
    assert runs.ref_daily.dormant_members.iloc[-1] == c.dormant.sum()
    assert not (c.dormant & ~c.member).any() and c.aware[c.member].all()


FLOWS = ("went_dormant", "value_above_reference", "value_below_reference", "choice_surplus")
"""Flows the reference totals per customer (the vectorised model books them by segment only)."""


def test_dormancy_value_against_the_reference_and_choice_surplus_agree(runs):
    """Members going dormant over the run, their weekly value above and below their reference, and what
    the scheme's terms in store choice were worth to them (choice surplus)."""
    v = runs.vec_daily
    for name in FLOWS:
        assert v[name].sum() > 0
        z = total_z(runs.ref[name], v[name].sum())
        assert abs(z) < Z, f"{name}: reference {runs.ref[name].sum():.1f}, vectorised {v[name].sum():.1f} (z={z:.2f})"
        assert np.isclose(runs.ref_daily[name].sum(), runs.ref[name].sum())


def test_linked_sales_per_customer_agree(runs):
    # Card presentation, by members using the card (a dormant member never presents it).
    z = paired_z(runs.ref.linked_sales, runs.vec_linked)
    assert abs(z) < Z, f"linked sales: reference {runs.ref.linked_sales.mean():.3f}, " \
                       f"vectorised {runs.vec_linked.mean():.3f} (z={z:.2f})"
    assert np.isclose(runs.vec_linked.sum(), runs.vec_daily.linked_sales.sum())


def test_satisfaction_at_the_end_agrees(runs):
    # Members' satisfaction follows the value they perceive net of effort and privacy; others are neutral.
    ref, vec = runs.ref.satisfaction, runs.vec.satisfaction
    z = paired_z(ref, vec)
    assert abs(z) < Z, f"satisfaction: reference {ref.mean():.4f}, vectorised {vec.mean():.4f} (z={z:.2f})"


def test_points_issued_per_unit_of_linked_sales_agree(runs):
    r_ref, se = ratio_and_se(runs.ref.points_issued, runs.ref.linked_sales)
    v = runs.vec_daily
    r_vec = v.points_issued.sum() / v.linked_sales.sum()
    # The vectorised ratio has the same design and size, so about the same standard error.
    z = (r_ref - r_vec) / (np.sqrt(2) * se)
    assert abs(z) < Z, f"points per unit linked: reference {r_ref:.5f}, vectorised {r_vec:.5f} (z={z:.2f})"
    # Linked sales as a share of sales: card presentation.
    s_ref, se = ratio_and_se(runs.ref.linked_sales, runs.ref.spend)
    s_vec = v.linked_sales.sum() / v.sales.sum()
    z = (s_ref - s_vec) / (np.sqrt(2) * se)
    assert abs(z) < Z, f"linked share of sales: reference {s_ref:.4f}, vectorised {s_vec:.4f} (z={z:.2f})"


def test_points_redeemed_per_point_issued_agree(runs):
    r_ref, se = ratio_and_se(runs.ref.points_redeemed, runs.ref.points_issued)
    v = runs.vec_daily
    r_vec = v.points_redeemed.sum() / v.points_issued.sum()
    assert r_vec > 0.3
    z = (r_ref - r_vec) / (np.sqrt(2) * se)
    assert abs(z) < Z, f"redeemed per issued: reference {r_ref:.4f}, vectorised {r_vec:.4f} (z={z:.2f})"


def test_the_distribution_of_visits_per_customer_agrees(runs):
    a, b = runs.ref.visits.to_numpy(float), runs.vec.visits_scheme.to_numpy(float)
    # Variance: paired test on squared deviations from each model's mean.
    z = paired_z((a - a.mean()) ** 2, (b - b.mean()) ** 2)
    assert abs(z) < Z, f"variance of visits: reference {a.var():.2f}, vectorised {b.var():.2f} (z={z:.2f})"
    # Whole distribution: the pairing makes the samples positively correlated, so this is conservative.
    ks = stats.ks_2samp(a, b)
    assert ks.pvalue > KS_ALPHA, f"visits per customer differ in distribution: KS D={ks.statistic:.4f}, p={ks.pvalue:.2g}"


def test_visits_by_weekday_agree(runs):
    # Visits of all customers by day of the week: a 2 x 7 contingency table, chi-square test.
    table = [d.groupby(d.day.to_numpy() % 7).visits.sum().to_numpy() for d in (runs.ref_daily, runs.vec_daily)]
    chi = stats.chi2_contingency(np.array(table))
    assert chi.pvalue > ALPHA, f"visits by weekday differ: reference {table[0]}, vectorised {table[1]} (p={chi.pvalue:.2g})"


# Rules whose effect is small in SCENARIO, made large: a reward worth most of a small basket (goal
# gradient and the pull of a voucher in hand), strong acceleration, a high privacy cost and consent often
# withdrawn (which ends membership), strong loss aversion, a reference that adapts within weeks, toward
# a rival's generous rewards, felt value weighing heavily on store choice and defection, members often
# going dormant and coming back, many referrals, and joining open to anyone aware whose taste and
# expected value are above zero.
STRESS = copy.deepcopy(SCENARIO)
STRESS["days"] = 90
STRESS["behaviour"] = {"reference_weight": 1.5, "defection_value_weight": 3.0, "loss_aversion": 3.0,
                       "rewarded_weight": 2.0, "reference_memory_days": 30}
STRESS["competition"] = {"reward_rate": 0.03}
STRESS["population"]["segments"][0].update(
    basket_log_mu=2.3, defection_per_year=0.3,
    motivations={"privacy_concern": {"mean": 0.6}, "outcome": {"mean": 0.9, "precision": 8}})
STRESS["population"]["segments"][1]["basket_log_mu"] = 2.3
STRESS["scheme"]["points"]["rewards"][0].update(points=150, face_value=12.0, perceived_ratio=1.0)
STRESS["scheme"]["goal_gradient"] = {"acceleration": 3.0, "strength": 3.0}
STRESS["scheme"]["enrolment"].update(referral_rate_per_year=20.0, join_rate_per_visit=0.05, initial_members=0.3,
                                     join_threshold=0.0, awareness_per_year=0.8, dormancy_per_year=0.9,
                                     reactivation_per_year=0.9)
STRESS["scheme"]["data"].update(privacy_cost_per_year={"transactions": 100.0}, consent_withdrawal_per_year=1.0)


def test_the_rules_agree_under_stress():
    sc = make(STRESS)
    ref = ReferenceModel(sc).run().customers()
    model, linked = run_vectorised(sc)
    vec, v, taste = model.customers(), scheme_totals(model), model.population.join_taste.astype(float)
    ref_end, vec_end = final_state(ref), final_state(vec)
    assert vec.dormant.sum() > 300 and v.went_dormant.sum() > 1000
    for name, a, b in (("visits", ref.visits, vec.visits_scheme), ("sales", ref.spend, vec.spend_scheme),
                       ("linked sales", ref.linked_sales, linked),
                       ("members at the end", ref.member, vec.member),
                       ("ever members", ref.ever_member, vec.ever_member),
                       ("ever members x taste", ref.ever_member * taste, vec.ever_member * taste),
                       ("dormant at the end", ref.dormant, vec.dormant),
                       ("aware at the end", ref_end.aware, vec_end.aware),
                       ("here at the end", ref_end.alive, vec_end.alive),
                       ("satisfaction at the end", ref.satisfaction, vec.satisfaction)):
        z = paired_z(a, b)
        assert abs(z) < Z, f"{name} per customer: reference {np.mean(a):.4f}, vectorised {np.mean(b):.4f} (z={z:.2f})"
    for name in FLOWS:
        z = total_z(ref[name], v[name].sum())
        assert abs(z) < Z, f"{name}: reference {ref[name].sum():.1f}, vectorised {v[name].sum():.1f} (z={z:.2f})"
    r_ref, se = ratio_and_se(ref.points_redeemed, ref.points_issued)
    r_vec = v.points_redeemed.sum() / v.points_issued.sum()
    z = (r_ref - r_vec) / (np.sqrt(2) * se)
    assert abs(z) < Z, f"redeemed per issued: reference {r_ref:.4f}, vectorised {r_vec:.4f} (z={z:.2f})"


EXPIRY = copy.deepcopy(SCENARIO)
EXPIRY["scheme"]["expiry"] = {"age_days": 24}
EXPIRY["scheme"]["enrolment"]["initial_members"] = 0.6


def test_age_expiry_agrees():
    """With 24-day expiry (a 2-day period ring), the shares of points expired and redeemed agree, and so
    do members' satisfaction and their value below their reference (expired points are a loss of what
    they were worth).

    This caught points earned on a period-boundary day expiring the same day."""
    sc = make(EXPIRY, customers=N, days=80)
    ref = ReferenceModel(sc).run().customers()
    model = LoyaltyModel(sc).run()
    vec, v = model.customers(), scheme_totals(model)
    for name in ("points_expired", "points_redeemed"):
        r_ref, se = ratio_and_se(ref[name], ref.points_issued)
        r_vec = v[name].sum() / v.points_issued.sum()
        z = (r_ref - r_vec) / (np.sqrt(2) * se)
        assert abs(z) < Z, f"{name} per issued: reference {r_ref:.4f}, vectorised {r_vec:.4f} (z={z:.2f})"
    z = paired_z(ref.satisfaction, vec.satisfaction)
    assert abs(z) < Z, f"satisfaction: reference {ref.satisfaction.mean():.4f}, vectorised {vec.satisfaction.mean():.4f} (z={z:.2f})"
    for name in ("value_above_reference", "value_below_reference"):
        z = total_z(ref[name], v[name].sum())
        assert abs(z) < Z, f"{name}: reference {ref[name].sum():.1f}, vectorised {v[name].sum():.1f} (z={z:.2f})"


# ---------------------------------------------------------------- the reference itself

def test_the_reference_is_one_mesa_agent_per_customer_and_conserves_points(runs):
    m = runs.ref_model
    assert isinstance(m, mesa.Model) and len(m.agents) == N
    assert all(isinstance(a, mesa.Agent) for a in m.agents)
    c = runs.ref
    issued = c.points_issued.sum()
    assert issued > 0 and c.points_expired.sum() > 0
    assert issued == c.points_redeemed.sum() + c.points_expired.sum() + c.points.sum()
    d = runs.ref_daily
    assert d.points_issued.sum() == issued and d.visits.sum() == c.visits.sum()
    assert (c.points[~c.member] == 0).all()


def test_the_reference_is_deterministic_for_a_seed():
    sc = make(SCENARIO, customers=300, days=20)
    a, b = ReferenceModel(sc).run().daily(), ReferenceModel(sc).run().daily()
    assert a.equals(b)
    c = ReferenceModel(sc, seed=99).run().daily()
    assert not a.equals(c)


def test_reference_scenario_reduces_a_rich_scenario_to_what_the_reference_implements():
    sc = reference_scenario(shipped("supermarket_points"))
    check_supported(sc)
    assert sc.scheme.offers is None and list(sc.scheme.data.requested) == ["transactions"]
    assert sc.scheme.expiry.age_days == 730 and sc.customers == 20000
    rich = validate(base_data(), "<test>")
    with pytest.raises(ValueError, match="tiers is not implemented"):
        check_supported(rich)
    reduced = reference_scenario(rich)
    assert reduced.scheme.tiers is None and len(reduced.scheme.points.rewards) == 1
    ReferenceModel(make(SCENARIO, customers=50, days=3)).run()
