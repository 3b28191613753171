"""The simulation core: conservation, determinism, common random numbers, validation, insight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import SCENARIOS, base_data, scenario
from scipy import stats

from loyaltysim import ScenarioError, simulate
from loyaltysim.engine import mechanics
from loyaltysim.engine.mechanics.base import Mechanic
from loyaltysim.engine.metrics import RAW_NAMES, UNSIGNED_NAMES
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.engine.rng import DAILY_STREAMS, Streams
from loyaltysim.engine.state import CONSENT_BIT, NO_DAY
from loyaltysim.runs.simulate import run_replicate


@pytest.fixture(scope="module")
def rich():
    """Every mechanic at once, 2 replicates."""
    return simulate(scenario())


def test_points_are_conserved_every_day(rich):
    d = rich.daily[(rich.daily.arm == "scheme")].sort_values(["replicate", "segment", "day"])
    g = d.groupby(["replicate", "segment"])
    issued = g["points_issued"].cumsum()
    settled = g["points_redeemed"].cumsum() + g["points_expired"].cumsum() + d["points_outstanding"]
    assert issued.iloc[-1] > 0 and d["points_expired"].sum() > 0 and d["points_redeemed"].sum() > 0
    np.testing.assert_array_equal(issued.to_numpy(), settled.to_numpy())


def test_money_flows_add_up_and_nothing_is_nan_or_negative(rich):
    d = rich.daily
    raw = d[list(RAW_NAMES)]
    assert np.isfinite(raw.to_numpy()).all()
    arms = d[d.arm != "difference"]
    assert (arms[list(UNSIGNED_NAMES)].to_numpy() >= -1e-9).all()
    # The till's takings (booked as trips settle) against the discounts the mechanics booked at the till.
    np.testing.assert_allclose(d["revenue"], d["sales"] - d["member_discount"] - d["offer_discount"],
                               rtol=1e-9, atol=1e-6)
    s = d[d.arm == "scheme"]
    for m in ("member_discount", "offer_discount", "partner_revenue", "status_value", "convenience_value",
              "data_revenue", "privacy_cost", "effort_cost", "life_events_detected", "fees_paid"):
        assert s[m].sum() > 0, m


def test_daily_totals_match_each_customers_final_state(rich):
    """The daily frame's segment rows, and the 'all' rows, against sums over replicate 0's customers: trips
    and spend each customer accumulated, and the stocks their final state implies."""
    d = rich.daily[rich.daily.replicate == 0]
    c = rich.customers
    last = d.day.max()
    consenting = c.member & ((c.consent.to_numpy() & CONSENT_BIT["transactions"]) > 0)
    for arm in ("scheme", "counterfactual"):
        a = d[d.arm == arm]
        flows = a.groupby("segment")[["visits", "revenue"]].sum()
        stocks = a[a.day == last].set_index("segment")
        groups = [("all", np.ones(len(c), bool))] + [(g, (c.segment == g).to_numpy()) for g in ("a", "b")]
        for seg, who in groups:
            assert flows.loc[seg, "visits"] == c.loc[who, f"visits_{arm}"].sum(), (arm, seg)
            np.testing.assert_allclose(flows.loc[seg, "revenue"], c.loc[who, f"spend_{arm}"].sum(), rtol=1e-9)
            alive = c.loc[who, f"defection_day_{arm}"] == -1
            assert stocks.loc[seg, "customers"] == alive.sum(), (arm, seg)
            if arm == "scheme":
                assert stocks.loc[seg, "members"] == c.loc[who, "member"].sum(), seg
                assert stocks.loc[seg, "consenting_members"] == consenting[who].sum(), seg
                assert stocks.loc[seg, "points_outstanding"] == c.loc[who, "points"].sum(), seg
    assert c.member.sum() > 0 and c.points.sum() > 0 and (c.defection_day_scheme >= 0).any()


def test_fees_are_the_fee_times_the_joins_and_renewals_the_join_days_imply():
    """Nobody leaves the scheme or the retailer, so each member joined once, on their join day, and paid
    the fee then and every period after, within the run."""
    fee, period, days = 2.0, 30, 100
    data = base_data(customers=1500, days=days, replications=1)
    data["scheme"]["enrolment"] = {"join_rate_per_visit": 0.2, "leave_rate_per_year": 0.0}
    data["scheme"]["membership"] = {"fee": fee, "period_days": period}
    data["scheme"].setdefault("data", {})["consent_withdrawal_per_year"] = 0.0  # withdrawing would end membership
    for seg in data["population"]["segments"]:
        seg["defection_per_year"] = 0.0
    r = simulate(scenario(data))
    c, d = r.customers, r.daily
    assert (c.member == c.ever_member).all()  # nobody left
    joined = c[c.member]
    charges = 1 + (days - 1 - joined.join_day) // period  # the join, then each renewal day before the end
    assert (charges > 1).any() and (joined.join_day > 0).any()
    s = d[d.arm == "scheme"]
    for seg in ("all", "a", "b"):
        want = fee * (charges if seg == "all" else charges[joined.segment == seg]).sum()
        got = s[s.segment == seg][["fees_paid", "fee_revenue"]].sum()
        np.testing.assert_allclose(got.to_numpy(), [want, want], rtol=1e-12)
    assert s[s.segment == "all"]["joins"].sum() == len(joined)


def test_the_customer_state_has_no_negative_balance(rich):
    c = rich.customers
    assert (c["points"] >= 0).all() and (c["stamps"] >= 0).all()
    assert c["points"][~c["member"]].eq(0).all()
    assert c.notna().all().all()


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    sc = scenario(customers=500, days=40, replications=1)
    a, b = simulate(sc), simulate(sc)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    c = simulate(sc, seed=8)
    assert not a.daily["revenue"].equals(c.daily["revenue"])


def test_a_scheme_nobody_joins_makes_exactly_zero_difference():
    sc = scenario(overrides={"scheme.enrolment.join_rate_per_visit": 0.0, "scheme.costs.fixed_per_year": 0.0,
                             "days": 60, "customers": 800, "replications": 1})
    d = simulate(sc).daily
    diff = d[d.arm == "difference"][list(RAW_NAMES)]
    assert (diff.drop(columns=["life_events"]).to_numpy() == 0).all()
    assert d[d.arm == "scheme"]["visits"].sum() > 0


def test_counterfactual_does_not_depend_on_the_scheme():
    sc1 = scenario(customers=800, days=60, replications=1)
    sc2 = scenario(overrides={"scheme.points.earn_per_unit": 3.0, "scheme.member_pricing.discount": 0.3},
                   customers=800, days=60, replications=1)
    d1, d2 = simulate(sc1).daily, simulate(sc2).daily
    cf1 = d1[d1.arm == "counterfactual"].reset_index(drop=True)
    cf2 = d2[d2.arm == "counterfactual"].reset_index(drop=True)
    pd.testing.assert_frame_equal(cf1, cf2)
    assert not d1[d1.arm == "scheme"]["revenue"].equals(d2[d2.arm == "scheme"]["revenue"].reset_index(drop=True))


def test_a_never_member_behaves_identically_under_any_scheme():
    kw = dict(customers=1500, days=90, replications=1)
    r1 = simulate(scenario(**kw))
    r2 = simulate(scenario(overrides={"scheme.points.earn_per_unit": 4.0, "scheme.enrolment.join_rate_per_visit": 0.05}, **kw))
    c1, c2 = r1.customers, r2.customers
    never = ~c1["ever_member"] & ~c2["ever_member"]
    assert never.sum() > 100
    for col in ("visits_scheme", "spend_scheme"):
        np.testing.assert_array_equal(c1.loc[never, col], c2.loc[never, col])
    # ... and exactly as without any scheme, unless the scheme changed their satisfaction (it cannot).
    np.testing.assert_array_equal(c1.loc[never, "visits_scheme"], c1.loc[never, "visits_counterfactual"])


def test_streams_draw_for_everyone_every_day_independently_of_use():
    """Each stream is numpy's generator for its (seed, replicate, stream) drawn n float32s a day, whichever
    draws were read: one copy reads every stream in full, another a few customers of some, a third none."""
    n = 101  # odd: a day ends inside a 64-bit output, which the next day continues
    full, some, none = Streams(5, 0, n), Streams(5, 0, n), Streams(5, 0, n)
    want = [np.random.Generator(np.random.PCG64DXSM(np.random.SeedSequence(5, spawn_key=(0, 1, k))))
            for k in range(len(DAILY_STREAMS))]
    for day in range(4):
        got_full, got_some, _ = full.day(), some.day(), none.day()
        if day % 2 == 0:
            for name in DAILY_STREAMS[::3]:
                getattr(got_some, name)[np.array([3, 50, 99])]
        for k, name in enumerate(DAILY_STREAMS):
            expected = want[k].random(n, dtype=np.float32)
            np.testing.assert_array_equal(np.asarray(getattr(got_full, name)), expected, err_msg=f"{name} day {day}")
    last = none.day(), some.day(), full.day()
    for name in DAILY_STREAMS:
        np.testing.assert_array_equal(np.asarray(getattr(last[0], name)), np.asarray(getattr(last[1], name)))
        np.testing.assert_array_equal(np.asarray(getattr(last[0], name)), np.asarray(getattr(last[2], name)))
    assert not np.array_equal(Streams(5, 1, 100).day().need, Streams(5, 0, 100).day().need)


class _Consumer(Mechanic):
    """A mechanic that reads draws and does nothing with them: the redeem and offer streams for today's
    shoppers, and every stream of every customer in full."""

    name = "consumer"
    read = 0

    @staticmethod
    def applies(scheme) -> bool:
        return True

    def settle(self, today) -> None:
        idx = today.trips.idx
        _Consumer.read += today.draws.redeem[idx].size + today.draws.offer[idx].size
        for name in DAILY_STREAMS:
            _Consumer.read += np.asarray(getattr(today.draws, name)).size


def test_a_mechanic_that_reads_more_draws_changes_no_other_decision(monkeypatch):
    """Manual redemption reads the redeem stream only for members at their goal; a scheme whose extra
    mechanic reads every stream for everyone makes exactly the same decisions."""
    sc = scenario(customers=600, days=45, replications=1)
    plain = LoyaltyModel(sc).run()
    monkeypatch.setattr(mechanics, "REGISTRY", (*mechanics.REGISTRY, _Consumer))
    _Consumer.read = 0
    reading = LoyaltyModel(sc).run()
    assert any(isinstance(m, _Consumer) for m in reading.arms[0].mechanics)
    assert _Consumer.read >= 45 * len(DAILY_STREAMS) * 600
    pd.testing.assert_frame_equal(plain.daily(), reading.daily())
    pd.testing.assert_frame_equal(plain.customers(), reading.customers())
    assert plain.daily().query("arm == 'scheme'")["rewards_redeemed"].sum() > 0  # the redeem stream was used


def test_replicates_do_not_depend_on_each_other():
    sc = scenario(customers=400, days=30, replications=2)
    both = simulate(sc).daily
    alone = run_replicate(sc, 1)["daily"]
    cols = ["day", "segment", *RAW_NAMES]
    got = both[(both.replicate == 1) & (both.arm == "scheme")][cols].sort_values(["day", "segment"]).reset_index(drop=True)
    want = alone[alone.arm == "scheme"][cols].sort_values(["day", "segment"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_summary_has_a_confidence_interval_for_every_arm_and_segment(rich):
    s = rich.summary
    assert set(s.arm) == {"scheme", "counterfactual", "difference"}
    assert set(s.segment) == {"all", "a", "b"}
    # Each metric's interval against scipy's t-interval (n - 1 degrees of freedom) of the replicates' run
    # totals, computed here from the daily frame: a flow summed, a stock on the last day, a ratio of totals.
    d = rich.daily
    for arm, seg in (("scheme", "all"), ("difference", "all"), ("scheme", "b"), ("counterfactual", "a")):
        for metric, x in _replicate_totals(d, arm, seg).items():
            row = s[(s.metric == metric) & (s.arm == arm) & (s.segment == seg)].iloc[0]
            assert row["n"] == x.size == 2
            assert row["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-12), (metric, arm, seg)
            if np.ptp(x) == 0:  # no spread (nobody is a member of the counterfactual): the interval is the mean
                assert row["ci_low"] == row["ci_high"] == pytest.approx(x.mean()), (metric, arm, seg)
                continue
            low, high = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9), (metric, arm, seg)
    roi = s[(s.metric == "business_roi") & (s.segment == "all")].set_index("arm")["mean"]
    assert np.isnan(roi["scheme"]) and np.isfinite(roi["difference"])
    v = rich.verdict
    assert v["state"] in ("balanced", "business-extractive", "customer-subsidised", "lose-lose")
    assert set(v["segments"]) == {"all", "a", "b"}


def _replicate_totals(d: pd.DataFrame, arm: str, seg: str) -> dict[str, np.ndarray]:
    """Per replicate: revenue over the run, members at its end, and churn (defections per customer at the start)."""
    def one(a):
        x = d[(d.arm == a) & (d.segment == seg)].sort_values("day").groupby("replicate")
        end = x.last()
        return {"revenue": x["revenue"].sum().to_numpy(), "members": end["members"].to_numpy(),
                "churn_rate": (x["defections"].sum() / (end["customers"] + x["defections"].sum())).to_numpy()}
    if arm != "difference":
        return one(arm)
    sch, cf = one("scheme"), one("counterfactual")
    return {k: sch[k] - cf[k] for k in sch}


@pytest.mark.parametrize("override, field", [
    ({"population.segments.0.trips_per_year": {"mean": -3, "shape": 1}}, "population.segments.0.trips_per_year.mean"),
    ({"population.segments.0.share": 0.7}, "population"),
    ({"population.segments.0.categories": [0.5, 0.5, 0.5, 0, 0, 0, 0]}, "population.segments.0.categories"),
    ({"scheme.points.rewards.0.points": 0}, "scheme.points.rewards.0.points"),
    ({"scheme.stamps": {"required": 0, "reward": {"name": "x", "kind": "free_product", "points": 1, "face_value": 1}}},
     "scheme.stamps.required"),
    ({"scheme.expiry.age_days": -5}, "scheme.expiry.age_days"),
    ({"scheme.tiers.levels.1.threshold": 0}, "scheme.tiers.levels"),
    ({"customers": 0}, "customers"),
    ({"scheme.enrolment.card_presentation": 1.5}, "scheme.enrolment.card_presentation"),
])
def test_impossible_parameters_are_refused_naming_the_field(override, field):
    with pytest.raises(ScenarioError) as err:
        scenario(overrides=override)
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_an_unknown_field_suggests_the_right_one():
    data = base_data()
    data["scheme"]["pionts"] = data["scheme"].pop("points")
    with pytest.raises(ScenarioError, match="did you mean 'points'"):
        scenario(data)


def test_a_bad_change_is_refused_before_the_run():
    with pytest.raises(ScenarioError, match="change on day 10"):
        scenario(changes=[{"day": 10, "set": {"scheme.points.earn_per_unit": -1}}])


def test_a_change_takes_effect_on_its_day():
    """Points only, no multipliers or partner points: each linked basket earns its value times the day's
    earn rate, rounded down, so a day's points lie within [rate x linked sales - trips, rate x linked sales]."""
    data = base_data(customers=1000, days=80, replications=1,
                     changes=[{"day": 40, "set": {"scheme.points.earn_per_unit": 5.0}}])
    data["scheme"] = {"name": "plain_points", "enrolment": {"join_rate_per_visit": 0.2},
                      "points": {"earn_per_unit": 1.0, "rewards": [{"name": "v", "kind": "voucher", "points": 10**6,
                                                                     "face_value": 1.0}]}}
    d = simulate(scenario(data)).daily
    s = d[(d.arm == "scheme") & (d.segment == "all")].set_index("day")
    rate = np.where(s.index >= 40, 5.0, 1.0)
    pts, linked, trips = s["points_issued"], s["linked_sales"], s["visits"]
    assert (pts <= rate * linked + 1e-3).all() and (pts >= rate * linked - trips - 1e-3).all()
    # The bounds tell the two rates apart on the days either side of the change.
    for day in (39, 40):
        assert 5.0 * linked[day] - trips[day] > linked[day] > 0, day


# ---------------------------------------------------------------- insight

def _model(days: int, **over) -> LoyaltyModel:
    sc = scenario(overrides={"scheme.enrolment.initial_members": 0.8, **over}, customers=3000, days=days, replications=1)
    m = LoyaltyModel(sc)
    for _ in range(days):
        m.step()
    return m


def test_insight_rises_with_linked_observations():
    m = _model(150)
    d = m.daily()
    s = d[(d.arm == "scheme") & (d.segment == "all")].set_index("day")
    for dim in ("insight_what", "insight_when", "insight_times", "insight_capacity", "insight_brands"):
        early, late = s.loc[14, dim], s.loc[140, dim]
        assert 0 < early < late <= 1, dim
    # More linked trips per member, better estimates: accuracy correlates with observations, by more than
    # four standard errors of a correlation of zero (Fisher's z, 1 / sqrt(n - 3)).
    mem = m.arms[0].mem
    known = mem.acc_mean > 0
    rho = np.corrcoef(mem.obs_trips[known], mem.acc_mean[known])[0, 1]
    assert np.arctanh(rho) > 4 / np.sqrt(known.sum() - 3)


PROFILE = ("obs_trips", "obs_cat", "obs_dow", "obs_hour", "obs_own", "obs_logb", "family_told", "event_seen",
           "acc_what", "acc_mean")


def test_members_who_withdraw_consent_lose_their_profile_and_the_business_stops_learning():
    """Withdrawal through the model's own path: privacy-concerned members, dissatisfied by a costly fee,
    withdraw at the highest rate allowed. Those who do keep shopping with the card, but the business's
    observations of them are deleted that day and stay empty; members who consent keep being learnt."""
    days = 90

    def costly(withdrawal: float):
        return scenario(overrides={
            "scheme.enrolment.initial_members": 0.8, "scheme.data.consent_withdrawal_per_year": withdrawal,
            "scheme.data.required": [],  # optional consent: withdrawing it keeps the membership
            "scheme.membership.fee": 40.0, "scheme.enrolment.leave_rate_per_year": 0.0,
            "population.segments.0.motivations": {"privacy_concern": {"mean": 0.9, "precision": 20}},
            "population.segments.1.motivations": {"privacy_concern": {"mean": 0.9, "precision": 20}}},
            customers=3000, days=days, replications=1)

    m = LoyaltyModel(costly(1.0))
    arm = m.arms[0]
    mem = arm.mem
    linked = np.zeros(m.population.n, np.int64)
    m.trip_observers.append(
        lambda name, day, weekday, t: np.add.at(linked, t.idx[t.linked], 1) if name == "scheme" else None)
    withdrew_on = np.full(m.population.n, -1)
    linked_at = np.zeros(m.population.n, np.int64)
    for _ in range(days):
        consenting = mem.member & ((mem.consent & CONSENT_BIT["transactions"]) > 0)
        m.step()
        gone = np.flatnonzero(consenting & mem.member & (mem.consent == 0))
        withdrew_on[gone] = m.day - 1
        linked_at[gone] = linked[gone]
        # The profile is deleted the day consent goes, and nothing is learnt after.
        w = np.flatnonzero(withdrew_on >= 0)
        w = w[mem.member[w]]
        for name in PROFILE:
            assert not getattr(mem, name)[w].any(), name
        assert (mem.obs_last[w] == NO_DAY).all() and (mem.detected_day[w] == NO_DAY).all()
    w = np.flatnonzero((withdrew_on >= 0) & mem.member)
    early = w[withdrew_on[w] < days - 30]
    # Counts clearly above none: more than four Poisson standard deviations (k > 4 sqrt(k)).
    assert early.size > 4 * np.sqrt(early.size)
    went_on = np.count_nonzero(linked[early] > linked_at[early])  # linked trips after withdrawing: not learnt
    assert went_on > 4 * np.sqrt(went_on)
    still = mem.member & ((mem.consent & CONSENT_BIT["transactions"]) > 0) & (linked > 0)
    assert still.sum() > 4 * np.sqrt(still.sum()) and (mem.obs_trips[still] > 0).all()
    # The business's insight is lower than in the same run on the same seed without withdrawals.
    keep = LoyaltyModel(costly(0.0)).run()
    a, b = (x.daily().query("arm == 'scheme' and segment == 'all'").set_index("day") for x in (m, keep))
    # Insight is mostly coverage: it loses at least half the share of consenting members lost.
    lost = 1 - a.loc[days - 1, "consenting_members"] / b.loc[days - 1, "consenting_members"]
    assert lost > 0
    for dim in ("insight_what", "insight_when", "insight_capacity"):
        assert a.loc[days - 1, dim] < (1 - lost / 2) * b.loc[days - 1, dim], dim
    for dim in ("insight_what", "insight_when", "insight_capacity"):
        assert a.loc[days - 1, dim] < b.loc[days - 1, dim], dim


def test_insight_decays_when_data_stops():
    m = _model(120)
    arm = m.arms[0]
    insight_snapshot(m, m.day)
    before = arm.insight.copy()
    # No new data for two half-lives: confidence in what is known fades.
    insight_snapshot(m, m.day + 360)
    assert (arm.insight[:4, 0] < before[:4, 0]).all()


def insight_snapshot(m: LoyaltyModel, day: int) -> None:
    from loyaltysim.engine.insight import snapshot
    snapshot(m.spec, m.population, m.arms[0], m.priors, day)


def test_a_change_to_the_population_is_refused_and_one_after_the_end_never_happens():
    with pytest.raises(ScenarioError, match="cannot change during a run"):
        scenario(changes=[{"day": 10, "set": {"population.segments.0.share": 0.5}}])
    late = scenario(days=30, customers=300, replications=1,
                    changes=[{"day": 60, "set": {"scheme.points.earn_per_unit": 5}}])
    plain = scenario(days=30, customers=300, replications=1)
    pd.testing.assert_frame_equal(simulate(late).daily, simulate(plain).daily)


def test_an_override_error_names_the_override_not_the_file_line(tmp_path):
    from loyaltysim import load_scenario
    path = tmp_path / "s.yaml"
    import yaml
    path.write_text(yaml.safe_dump(base_data()))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, ["scheme.points.earn_per_unit=-1"])
    assert str(err.value).startswith("--set scheme.points.earn_per_unit=-1: scheme.points.earn_per_unit: ")
    with pytest.raises(ScenarioError) as err:
        simulate(path, days=0)
    assert str(err.value).startswith("--set days: days: ")


def test_a_wrong_length_share_list_is_reported_at_its_own_field():
    with pytest.raises(ScenarioError) as err:
        scenario(overrides={"population.segments.1.household_size": [0.5, 0.5]})
    assert err.value.field == "population.segments.1.household_size"
    assert "needs 5 shares (1, 2, 3, 4, 5+) (got 2)" in str(err.value)


def _daily(states):
    """A difference-arm daily frame whose 10-day periods have the given (roi, customer net) pairs."""
    rows = []
    for p, (roi, net) in enumerate(states):
        for d in range(10):
            rows.append({"arm": "difference", "segment": "all", "day": p * 10 + d,
                         "business_return": roi, "programme_cost": 1.0, "customer_net_value": net})
    return pd.DataFrame(rows)


def test_the_verdict_names_each_state_and_the_day_it_tips():
    from loyaltysim.results.verdict import describe, verdict
    v = verdict(_daily([(0.5, 1), (1.5, 1), (1.2, 2), (1.5, -1), (0.5, -1)]), period_days=10)
    assert [p["state"] for p in v["segments"]["all"]["periods"]] == [
        "customer-subsidised", "balanced", "balanced", "business-extractive", "lose-lose"]
    assert v["balanced_from_day"] == 10 and v["tipping_day"] == 30
    assert v["segments"]["all"]["tips_to"] == "business-extractive"
    assert "tips out of balance on day 30" in describe(v)
    never = verdict(_daily([(0.5, 1), (1.5, 1)]), period_days=10)
    assert never["tipping_day"] is None and "does not tip" in describe(never)


def test_final_customer_state_is_consistent(rich):
    c = rich.customers
    assert ((c["trip_share_scheme"] >= 0) & (c["trip_share_scheme"] <= 1)).all()
    assert (c.loc[c.member, "tenure_days"] >= 0).all() and (c.loc[~c.member, "tenure_days"] == 0).all()
    # A customer who visited recently is not lapsed; visits never exceed needs.
    assert (c["visits_scheme"] > 0).any() and (c.loc[c.visits_scheme == 0, "lapsed_scheme"]).all()


def test_gross_margin_by_category_is_each_basket_s_category_sales_times_its_margin():
    """Recomputed from the trips as each arm settles them (seen by an observer, not the ledger)."""
    sc = scenario(customers=800, days=30, replications=1)
    m = LoyaltyModel(sc)
    margin = np.asarray(sc.business.margin)
    want = {"scheme": np.zeros(margin.size), "counterfactual": np.zeros(margin.size)}
    m.trip_observers.append(lambda name, day, weekday, t: want[name].__iadd__(
        (t.value.astype(float)[:, None] * t.split * margin).sum(axis=0)))
    d = m.run().daily()
    cats = [c for c in d.columns if c.startswith("gross_margin_")]
    for arm in want:
        got = d[(d.arm == arm) & (d.segment == "all")][cats].sum().to_numpy()
        np.testing.assert_allclose(got, want[arm], rtol=1e-5)  # float32 baskets
        total = d[(d.arm == arm) & (d.segment == "all")]["gross_margin"].sum()
        np.testing.assert_allclose(total, want[arm].sum(), rtol=1e-5)
        assert want[arm][cats.index("gross_margin_fuel")] < want[arm][cats.index("gross_margin_grocery")]
    assert not np.array_equal(want["scheme"], want["counterfactual"])


def test_a_run_too_big_for_memory_is_refused_before_it_starts(monkeypatch):
    import loyaltysim.runs.simulate as ex
    from loyaltysim import RunError
    monkeypatch.setattr(ex, "memory_available", lambda: 2 * 2**30)
    with pytest.raises(RunError, match=r"customers: 5,000,000 customers need about [\d.]+ GiB but 2.0 GiB"):
        simulate(scenario(customers=5_000_000, days=10, replications=1))
    # A run that fits goes ahead.
    assert simulate(scenario(customers=200, days=5, replications=1)).daily.shape[0] > 0


def test_an_executor_gives_the_same_result_as_running_serially():
    from loyaltysim.runs.executors import SerialExecutor

    class Reversed(SerialExecutor):
        """Runs units in reverse order, returning them in input order."""
        def map(self, fn, args, on_done=None):
            out = {i: fn(*args[i]) for i in reversed(range(len(args)))}
            return [out[i] for i in range(len(args))]

    sc = scenario(customers=300, days=20, replications=3)
    pd.testing.assert_frame_equal(simulate(sc).daily, simulate(sc, executor=Reversed()).daily)


def test_a_scheme_that_costs_all_but_nothing_has_no_roi_rather_than_an_astronomical_one():
    # Costs of 1e-300 are valid input; dividing by them gave ROIs near 1e300, whose replicate spread
    # overflowed. A denominator below metrics.NEGLIGIBLE now makes the ratio undefined.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s = simulate(SCENARIOS / "supermarket_points.yaml", customers=2000, days=40, replications=3, overrides=[
            "scheme.costs.per_member_per_year=1e-300", "scheme.costs.fixed_per_year=0",
            "scheme.points.earn_per_unit=1e-300", "scheme.offers.discount=1e-300",
            "scheme.offers.cost_per_offer=0"]).summary
    diff = s[s.arm == "difference"].set_index(["metric", "segment"])
    assert 0 < diff.loc[("programme_cost", "all"), "mean"] < 1e-290
    roi = diff.loc["business_roi"]
    assert roi["mean"].isna().all() and (roi["n"] == 0).all()
    assert diff.loc[("business_return", "all"), "mean"] != 0  # the return itself is still reported
